#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: identity_certificate
short_description: Manage an IP Office system's identity certificate (Set, Regenerate) and its settings
version_added: 0.1.0
description:
  - Manages the X.509 identity certificate and private key the system presents in TLS, or the separate
    SIP telephony identity (O(purpose=telephony)), and the identity settings (Offer ID Certificate Chain,
    Automatic Certificate Management, SAN Details Origin, Automatic Phone Provisioning).
  - O(source=generate) is Regenerate (a new self-signed identity), O(source=ca) an identity issued by the
    system's internal CA, O(source=import) is Set (a PKCS#12, or a PEM/DER certificate with its key),
    O(source=issued_by) an identity issued by the internal CA of another system's store (O(issuer_store), a
    Server Edition secondary's identity "generated from the primary").
    Without O(source) the certificate is left as it is and only the given settings are managed.
  - O(regenerate) decides when an existing identity is replaced, with the meaning it has in
    community.crypto adapted to an identity a system always has; see O(regenerate).
  - Results and diffs describe certificates by parsed fields only; the private key is never returned.
  - Every failure leaves the store exactly as it was and reports a stable RV(error) code.
author:
  - ipoffice.security maintainers (@ipoffice)
extends_documentation_fragment:
  - ipoffice.security.store
  - ipoffice.security.attributes
  - ipoffice.security.areas.identity
options:
  purpose:
    description:
      - V(system) is the identity the system presents on every TLS service.
      - V(telephony) is the separate identity used on SIP links when C(sip_telephony_certificate)
        (module M(ipoffice.security.certificate_checks)) is not V(none).
    type: str
    choices: [system, telephony]
    default: system
attributes:
  check_mode:
    support: full
    details:
      - Runs the same comparison and predicts C(changed) exactly; nothing is written.
  diff_mode:
    support: full
    details:
      - Shows the parsed certificate, the identity settings and the trusted store fingerprints.
  idempotent:
    support: partial
    details:
      - Except O(regenerate=always), which replaces the identity on every run. Passing time changes nothing outside
        the renewal window (O(renew_before_days)).
seealso:
  - module: ipoffice.security.issued_certificate
  - module: ipoffice.security.security_info
notes:
  - The store's C(current/identity/fullchain.pem) and C(current/identity/key.pem) (RV(files)) can be used
    directly by TLS services on the host.
"""

EXAMPLES = r"""
- name: Regenerate a self-signed identity with the system's names
  ipoffice.security.identity_certificate:
    source: generate
    subject_name: ipo1.example.com
    subject_alt_names:
      - DNS:ipo1.example.com
      - IP:192.0.2.10
      - URI:sip:example.com

- name: Identity issued by the internal CA, ECDSA P-256, renewed 30 days before expiry
  ipoffice.security.identity_certificate:
    source: ca
    signature: sha256_ecdsa_p256
    valid_days: 397
    renew_before_days: 30

- name: Set the identity from a PKCS#12 (its CA certificates go to the trusted store)
  ipoffice.security.identity_certificate:
    source: import
    certificate_path: /etc/pki/ipo1.p12
    password: "{{ vault_ipo1_p12_password }}"

- name: Set the identity from PEM files
  ipoffice.security.identity_certificate:
    source: import
    certificate_path: /etc/pki/ipo1.crt
    private_key_path: /etc/pki/ipo1.key
    private_key_password: "{{ vault_ipo1_key_password }}"
    chain_path: /etc/pki/issuing-ca.pem

- name: Separate SIP telephony identity
  ipoffice.security.identity_certificate:
    purpose: telephony
    source: generate
    subject_name: sip.example.com
    subject_alt_names: ["DNS:sip.example.com", "URI:sip:example.com"]

- name: Offer only the identity, not its chain
  ipoffice.security.identity_certificate:
    offer_id_certificate_chain: false
"""

RETURN = r"""
certificate:
  description:
    - The identity certificate as parsed fields (subject, common_name, issuer, serial_number, not_before,
      not_after, days_left, expired, subject_alt_names, key_type, key_bits, signature_algorithm, is_ca,
      self_signed, sha256), plus C(source), C(request) (the naming it was generated with),
      C(chain) and C(offered_chain) (fingerprints the system sends in TLS).
    - Null for O(purpose=telephony) when no telephony identity is set.
  returned: always
  type: dict
chain:
  description: The identity's issuers found in the trusted certificate store, nearest first, as parsed fields.
  returned: always
  type: list
  elements: dict
added_to_trusted_store:
  description: CA certificates of an import that were added to the trusted certificate store, as parsed fields.
  returned: always
  type: list
  elements: dict
settings:
  description: The identity settings after the task.
  returned: always
  type: dict
  sample:
    offer_id_certificate_chain: true
    automatic_certificate_management: false
    san_details_origin: ""
    automatic_phone_provisioning: true
action:
  description:
    - What happened to the certificate, C(kept), C(created), C(imported), C(renewed) or C(regenerated);
      null without O(source).
  returned: always
  type: str
reasons:
  description: Why the certificate was replaced (or, with O(regenerate=never), what differs).
  returned: always
  type: list
  elements: str
files:
  description: Paths of the identity's C(cert), C(key), C(chain) and C(fullchain) PEM files in the store.
  returned: always
  type: dict
error:
  description: Stable code of a failure, for example C(key_mismatch), C(wrong_password), C(no_internal_ca).
  returned: failure
  type: str
"""

from ansible_collections.ipoffice.security.plugins.module_utils._identity import run
from ansible_collections.ipoffice.security.plugins.module_utils._module import SecurityModule, run_module
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = SecurityModule(**module_kwargs("identity_certificate"))
    run_module(module, run)


if __name__ == "__main__":
    main()
