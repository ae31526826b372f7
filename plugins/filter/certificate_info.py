# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError

DOCUMENTATION = r"""
name: certificate_info
short_description: Describe a certificate as parsed fields
version_added: 0.1.0
author:
  - ipoffice.security maintainers (@ipoffice)
description:
  - Parses a certificate and returns the same parsed fields the modules of this collection return and show
    in diffs (subject, issuer, serial, validity, days left, SANs, key type and size, signature algorithm,
    CA flag, self-signed, SHA-256 fingerprint).
  - Accepts PEM text, DER bytes, base64 DER, PKCS#7, a certificate-only PKCS#12 without a password, and the
    base64 C(content) that M(ansible.builtin.slurp) returns for a PEM or DER file.
  - Runs on the controller. A private key block in the input is refused; key material is never returned.
positional: _input
options:
  _input:
    description: The certificate (or, with O(all=true), several certificates).
    type: raw
    required: true
  all:
    description:
      - V(false) expects exactly one certificate and returns its fields.
      - V(true) returns a list with the fields of every certificate in the input, in input order (a bundle,
        a chain, a PKCS#7).
    type: bool
    default: false
seealso:
  - module: ipoffice.security.trusted_certificate
  - module: ipoffice.security.security_info
"""

EXAMPLES = r"""
- name: Describe a PEM certificate file
  ansible.builtin.debug:
    msg: "{{ lookup('ansible.builtin.file', 'files/sbc.pem') | ipoffice.security.certificate_info }}"

- name: When does the identity certificate of a system expire?
  ansible.builtin.slurp:
    src: /var/lib/ipoffice-security/current/identity/cert.pem
  register: identity_pem

- name: Warn when it has less than 60 days left
  ansible.builtin.debug:
    msg: "{{ info.subject }} expires {{ info.not_after }} ({{ info.days_left }} days)"
  vars:
    info: "{{ identity_pem.content | ipoffice.security.certificate_info }}"
  when: info.days_left < 60

- name: Fingerprints of every certificate in a bundle
  ansible.builtin.set_fact:
    bundle_fingerprints: "{{ bundle_pem | ipoffice.security.certificate_info(all=true) | map(attribute='sha256') }}"
"""

RETURN = r"""
_value:
  description:
    - The parsed fields of the certificate; with O(all=true), a list of them.
  type: dict
  contains:
    subject:
      description: Subject DN (RFC 4514).
      type: str
    common_name:
      description: Subject common name, or null.
      type: str
    issuer:
      description: Issuer DN (RFC 4514).
      type: str
    serial_number:
      description: Serial number in lowercase hexadecimal.
      type: str
    not_before:
      description: Start of validity (UTC, ISO 8601).
      type: str
    not_after:
      description: End of validity (UTC, ISO 8601).
      type: str
    days_left:
      description: Whole days until expiry, at the time the filter runs (negative when expired).
      type: int
    expired:
      description: Whether it has expired.
      type: bool
    subject_alt_names:
      description: SAN entries as C(DNS:x), C(IP:x), C(URI:x), C(email:x).
      type: list
      elements: str
    key_type:
      description: C(RSA), C(EC), C(Ed25519), C(Ed448) or C(DSA).
      type: str
    key_bits:
      description: Key size in bits.
      type: int
    key_curve:
      description: The curve name of an EC key (only for EC keys).
      type: str
    signature_algorithm:
      description: Signature algorithm name, for example C(sha256WithRSAEncryption).
      type: str
    is_ca:
      description: Whether basicConstraints says CA.
      type: bool
    self_signed:
      description: Whether it is self-signed.
      type: bool
    sha256:
      description: SHA-256 fingerprint of the DER certificate, lowercase hex pairs joined by colons.
      type: str
"""

OPTION = "certificate_info input"


def _unwrap_slurp(data):
    """slurp returns base64 of the file: for a PEM file that is base64 of PEM text, which we unwrap."""
    text = data.strip()
    if not text or b"-----BEGIN" in text:
        return data
    try:
        decoded = base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return data
    return decoded if _certs.PEM_BEGIN.search(decoded) else data


def certificate_info(data, all=False):  # pylint: disable=redefined-builtin  # the documented option name
    """Parsed fields of the certificate in data (a list of them for every certificate with all=True)."""
    if data is None or isinstance(data, (dict, list, int, float, bool)):
        raise AnsibleFilterError("certificate_info expects certificate text or bytes (PEM, DER, base64 DER), "
                                 "not %s." % type(data).__name__)
    raw = to_bytes(data, errors="surrogate_or_strict")
    try:
        certs = _certs.load_certificates(_unwrap_slurp(raw), option=OPTION)
    except SecurityError as exc:
        raise AnsibleFilterError("certificate_info: %s [error: %s]" % (exc.message, exc.code))
    if all:
        return [_certs.cert_info(cert) for cert in certs]
    if len(certs) != 1:
        raise AnsibleFilterError("certificate_info: the input holds %d certificates; use certificate_info(all=true) "
                                 "for a bundle or chain [error: invalid_certificate]." % len(certs))
    return _certs.cert_info(certs[0])


class FilterModule(object):
    """ipoffice.security certificate filters."""

    def filters(self):
        return {"certificate_info": certificate_info}
