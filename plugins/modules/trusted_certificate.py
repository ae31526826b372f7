#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: trusted_certificate
short_description: Manage the trusted certificate store (TCS) of an IP Office system
version_added: 0.1.0
description:
  - Adds certificates to, or removes them from, the system's trusted certificate store, or makes the store
    exactly a given set (O(exclusive=true)).
  - The store is used for chain building at the Medium check levels and above, for pinning at High, and to
    assemble the identity certificate's offered chain.
  - An entry is its certificate, identified by the SHA-256 fingerprint of its DER encoding. The order of
    O(certificates), file names, PEM or DER form, and duplicates never cause a change; a second run with the
    same arguments reports C(changed=false).
  - The store holds at most 25 certificates. The limit is checked against the final set before anything is
    written; exceeding it fails with C(error=trusted_store_full), the count and the limit, and the store is
    left exactly as it was.
  - Any bad input (unparsable data, a private key block in a PEM bundle, a wrong PKCS#12 password) fails with
    a stable C(error) code naming the item, and nothing is written.
  - Removing an entry that something depends on (O(state=absent) or O(exclusive=true)) fails with
    C(error=trusted_entry_in_use), naming every dependent, and nothing is written. Dependents are the
    system and telephony identity chains, peer certificates pinned for the High levels (the pinned leaf and
    the CA entries it chains to), preflight endpoints last verified through this store, and certificates
    the system CA issued (ipoffice.security.security_info returns them per entry as C(dependents)).
    O(allow_in_use=true) removes it anyway, with a warning naming them again.
  - Adding an expired or not yet valid certificate is allowed, with a warning. Leaf (non-CA) certificates
    are allowed; they are what pinning at the High levels needs.
  - On first use the store is initialised as a new system starts (its internal root CA is already in the
    trusted store); that is reported as C(changed).
author:
  - ipoffice.security maintainers (@ipoffice)
extends_documentation_fragment:
  - ipoffice.security.store
  - ipoffice.security.attributes
  - ipoffice.security.areas.trusted
options:
  state:
    description:
      - V(present) adds the certificates that are not yet in the store.
      - V(absent) removes the certificates that are in the store; those that are not are ignored.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With O(state=present), make the store exactly the given certificates, removing every other entry
        (including the internal root CA placed at initialisation, unless it is listed). Removing an entry in
        use fails unless O(allow_in_use=true).
      - An empty O(certificates) list with O(exclusive=true) empties the store.
      - Not allowed with O(state=absent).
    type: bool
    default: false
  allow_in_use:
    description:
      - Remove entries even when something depends on them (see C(trusted_entry_in_use) above). Each such
        removal is reported in a warning that names the system, the entry and every dependent that loses it,
        and in RV(removed[].dependents).
      - Leave it V(false) unless the dependents have been moved off the entry, or losing them is intended.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - Runs the same comparison as a real run and predicts C(changed) exactly; nothing is written.
  diff_mode:
    support: full
    details:
      - The diff is the list of entries as parsed certificate fields, before and after.
  idempotent:
    support: full
seealso:
  - module: ipoffice.security.security_info
"""

EXAMPLES = r"""
- name: Trust the enterprise root and intermediate (one PEM bundle)
  ipoffice.security.trusted_certificate:
    certificates:
      - path: /etc/pki/enterprise/ca-bundle.pem

- name: Trust the certificates of a PKCS#12 truststore and a DER certificate
  ipoffice.security.trusted_certificate:
    certificates:
      - path: /etc/pki/truststore.p12
        password: "{{ truststore_password }}"
      - path: /etc/pki/sbc-root.der

- name: Make the store exactly these certificates (everything else is removed)
  ipoffice.security.trusted_certificate:
    certificates:
      - path: /var/lib/ipoffice-security/current/ca/cert.pem
      - content: "{{ lookup('ansible.builtin.file', 'files/sm-root.pem') }}"
    exclusive: true

- name: Remove an old root even though a pinned peer still chains to it (warns, naming the peer)
  ipoffice.security.trusted_certificate:
    certificates:
      - path: /etc/pki/old-root.pem
    state: absent
    allow_in_use: true

- name: Remove an entry by its fingerprint
  ipoffice.security.trusted_certificate:
    certificates:
      - sha256: "4f:0a:...:9c"
    state: absent

- name: Show what a change would do without writing
  ipoffice.security.trusted_certificate:
    certificates:
      - path: /etc/pki/partner-root.pem
  check_mode: true
  diff: true
  register: preview
"""

RETURN = r"""
entries:
  description:
    - Every entry of the trusted store after the run (in check mode, as it would be), ordered by fingerprint,
      as parsed fields.
  returned: success
  type: list
  elements: dict
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
      description: Whole days until expiry (negative when expired).
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
      description: The curve name of an EC key.
      type: str
      returned: for EC keys
    signature_algorithm:
      description: Signature algorithm name.
      type: str
    is_ca:
      description: Whether basicConstraints says CA.
      type: bool
    self_signed:
      description: Whether it is self-signed (a root).
      type: bool
    sha256:
      description: SHA-256 fingerprint of the DER certificate, lowercase hex pairs joined by colons.
      type: str
  sample:
    - subject: CN=Example Root CA,O=Example
      common_name: Example Root CA
      issuer: CN=Example Root CA,O=Example
      serial_number: 3f2a
      not_before: "2025-01-01T00:00:00Z"
      not_after: "2035-01-01T00:00:00Z"
      days_left: 3200
      expired: false
      subject_alt_names: []
      key_type: RSA
      key_bits: 2048
      signature_algorithm: sha256WithRSAEncryption
      is_ca: true
      self_signed: true
      sha256: "4f:0a:...:9c"
trusted_count:
  description: Number of entries after the run.
  returned: success
  type: int
  sample: 3
limit:
  description: The most entries the store can hold.
  returned: success, and on failure with C(error=trusted_store_full)
  type: int
  sample: 25
added:
  description: Certificates this run added (or would add, in check mode).
  returned: success
  type: list
  elements: dict
  contains:
    sha256:
      description: SHA-256 fingerprint.
      type: str
    subject:
      description: Subject DN.
      type: str
findings:
  description:
    - Findings about the certificates this run added, each also a warning - C(weak_key) for a trusted root,
      intermediate CA or pinned certificate with an RSA or DSA key under 2048 bits or an EC key under 256 bits (the
      audit reports it as an error).
  returned: success
  type: list
  elements: dict
  contains:
    code:
      description: The finding code (docs/findings.md).
      type: str
    severity:
      description: Its severity in the audit.
      type: str
    sha256:
      description: The certificate's SHA-256 fingerprint.
      type: str
    message:
      description: What is wrong and what to do about it.
      type: str
removed:
  description: Certificates this run removed (or would remove, in check mode).
  returned: success
  type: list
  elements: dict
  contains:
    sha256:
      description: SHA-256 fingerprint.
      type: str
    subject:
      description: Subject DN.
      type: str
    needed_by:
      description:
        - C(identity) and/or C(telephony) when that identity certificate's chain used this entry (a warning
          says so); empty otherwise.
      type: list
      elements: str
    dependents:
      description:
        - With O(allow_in_use=true), what depended on this entry when it was removed (kind, subject,
          description, ...); empty otherwise.
      type: list
      elements: dict
error:
  description:
    - Stable code of a failure, for example C(trusted_store_full), C(private_key_in_bundle),
      C(invalid_certificate), C(wrong_password), C(password_required), C(unreadable_file), C(conflicting_options),
      C(invalid_fingerprint), C(trusted_entry_in_use).
  returned: failure
  type: str
  sample: trusted_store_full
option:
  description: The option (item) to change, for example C(certificates[2].content).
  returned: failure
  type: str
count:
  description: With C(error=trusted_store_full), how many entries the store would have held.
  returned: failure
  type: int
in_use:
  description:
    - With C(error=trusted_entry_in_use), each entry that is in use (sha256, subject) with its dependents
      (kind C(identity_chain), C(pinned_peer), C(preflight_endpoint) or C(issued_certificate), subject,
      description).
  returned: failure
  type: list
  elements: dict
"""

from ansible_collections.ipoffice.security.plugins.module_utils._module import SecurityModule, run_module
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs
from ansible_collections.ipoffice.security.plugins.module_utils._trusted import run


def main():
    module = SecurityModule(**module_kwargs("trusted_certificate"))
    run_module(module, run)


if __name__ == "__main__":
    main()
