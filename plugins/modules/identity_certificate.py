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
options:
  purpose:
    description:
      - V(system) is the identity the system presents on every TLS service.
      - V(telephony) is the separate identity used on SIP links when C(sip_telephony_certificate)
        (module M(ipoffice.security.certificate_checks)) is not V(none).
    type: str
    choices: [system, telephony]
    default: system
  source:
    description:
      - V(generate) (Regenerate) creates a new key and a self-signed certificate.
      - V(ca) creates a new key and a certificate issued by the system's internal CA. The V(ip500v2)
        platform has no internal CA; asking for it fails with C(error=no_internal_ca).
      - V(import) (Set) loads a certificate and its private key from O(certificate_path) or
        O(certificate_content) (PKCS#12 with O(password), or PEM/DER with O(private_key_path) or
        O(private_key_content)). CA certificates that come with it (inside the PKCS#12, in the PEM,
        or in O(chain_path)/O(chain_content)) are added to the trusted certificate store; the
        25-entry limit is checked before anything is written (C(error=trusted_store_full)).
      - An imported certificate must be an end-entity certificate (C(error=ca_certificate_as_identity))
        that has not expired (C(error=certificate_expired)); its key must match
        (C(error=key_mismatch)). A certificate that is not valid yet, or has a weak key or signature, is
        imported with a warning.
      - V(issued_by) creates a new key and a certificate issued by the internal CA of the store at
        O(issuer_store), with the naming options as for V(ca).
      - When not set, the identity certificate is not changed.
    type: str
    choices: [generate, ca, import, issued_by]
  subject_name:
    description:
      - Subject of a generated or CA-issued identity, as a common name (V(ipo1.example.com)) or an
        RFC 4514 distinguished name (V(CN=ipo1.example.com,O=Example)).
      - Defaults to the system name (the store's FQDN/host name); it is never empty.
    type: str
  subject_alt_names:
    description:
      - Subject alternative names as V(DNS:name), V(IP:address), V(URI:sip:domain) or V(email:address).
        Compared as a set (order does not matter).
      - Defaults to the common name as a DNS name (or IP address).
    type: list
    elements: str
  signature:
    description:
      - Key and signature of a generated or CA-issued identity.
      - V(sha256_rsa2048) is the vendor default; V(sha1_rsa1024) is the legacy choice and produces a
        warning, because peers at medium check levels and above reject SHA-1 and high levels reject
        1024-bit keys. The other choices are stronger RSA and ECDSA (P-256, P-384) options.
      - Defaults to V(sha256_rsa2048).
    type: str
    choices: [sha256_rsa2048, sha1_rsa1024, sha256_rsa3072, sha256_rsa4096, sha384_rsa3072, sha256_ecdsa_p256,
              sha384_ecdsa_p384]
  valid_days:
    description:
      - Validity of a generated or CA-issued identity in days, from 1 to 3652. Defaults to 825.
      - A CA-issued identity must not outlive the internal CA (C(error=validity_exceeds_ca)).
    type: int
  regenerate:
    description:
      - When an existing identity is replaced. An identity I(exists) when the current one came from the
        requested O(source); the identity a new system starts with never counts, so the first request of
        a source always replaces it.
      - V(never) keeps an existing identity whatever it looks like (a warning says what differs).
      - V(fail) keeps a matching identity and fails with C(error=regeneration_refused) when
        V(full_idempotence) would replace it.
      - V(partial_idempotence) replaces it when the key type/size, the subject or the set of subject
        alternative names differ from the request, or when it is inside the renewal window.
      - V(full_idempotence) also replaces it when the signature hash, the validity length
        (O(valid_days)) or the issuer (self-signed for V(generate), the current internal CA for V(ca),
        the current CA of O(issuer_store) for V(issued_by)) differ.
      - An identity of V(ca) or V(issued_by) follows its issuer under V(partial_idempotence) too, so one no
        longer issued by its issuer's current CA is reissued (check mode says so).
      - V(always) replaces it on every run.
      - For O(source=import) an identity matches when it is the very certificate given; V(always) then
        behaves like V(full_idempotence).
    type: str
    choices: [never, fail, partial_idempotence, full_idempotence, always]
    default: full_idempotence
  renew_before_days:
    description:
      - A generated or CA-issued identity with fewer days left than this (or expired) is renewed (a new
        key and certificate with the same request) by V(partial_idempotence) and V(full_idempotence), and
        refused by V(fail). Outside this window the passing of time never changes anything.
      - Defaults to the store's Certificate Expiry Warning Days (60 unless changed). V(0) renews only
        an expired identity. Must be smaller than O(valid_days).
    type: int
  certificate_path:
    description:
      - Path on the managed node of the identity to import (O(source=import)), a PKCS#12 (.p12/.pfx,
        modern AES or legacy 3DES/RC2 encryption), PEM (certificate, optionally followed by its key and
        chain) or DER file.
      - Files over 1 MiB or that are not regular files are refused.
    type: path
  certificate_content:
    description:
      - The identity to import as content instead of O(certificate_path), as PEM text or the base64 of a
        PKCS#12 or DER file (the C(content) that M(ansible.builtin.slurp) returns is already base64).
    type: str
  password:
    description:
      - Password of the PKCS#12 in O(certificate_path)/O(certificate_content) (also used for an encrypted
        key inside a PEM O(certificate_path) when O(private_key_password) is not set).
    type: str
  private_key_path:
    description:
      - Path of the identity's private key (PEM or DER, PKCS#8 or traditional, optionally encrypted) when
        the certificate input does not contain it.
    type: path
  private_key_content:
    description:
      - The private key as content instead of O(private_key_path).
    type: str
  private_key_password:
    description:
      - Password of an encrypted private key.
    type: str
  chain_path:
    description:
      - Path of the identity's issuer certificates (PEM bundle, DER, PKCS#7). CA certificates among them
        are added to the trusted certificate store.
    type: path
  chain_content:
    description:
      - The chain as content instead of O(chain_path).
    type: str
  issuer_store:
    description:
      - O(source=issued_by) only, and required there. The store (its C(store_path)) of the system whose
        internal CA issues this identity, for example a Server Edition primary's store for a secondary or
        expansion. It is read without a lock and never written.
      - An IP500 V2 store has no internal CA (C(error=issuer_without_ca)); a path that holds no store is
        C(error=issuer_store_missing); this system's own store is refused (use O(source=ca)).
      - The validity (O(valid_days)) is capped at what is left of the issuer CA's life (with a warning).
        The issuer's CA certificate is added to this system's trusted store, so the offered chain reaches
        it. The issuer's CA certificate and fingerprint are recorded with the identity;
        M(ipoffice.security.security_info) reports C(issuer_changed) once the issuer's CA is another one,
        and the next run reissues the identity.
    type: path
  offer_id_certificate_chain:
    description:
      - Offer ID Certificate Chain. When on, TLS peers receive the identity followed by its issuers from
        the trusted certificate store up to the root (the store's C(fullchain.pem)); when off, only the
        identity. New systems start with it on.
    type: bool
  automatic_certificate_management:
    description:
      - Automatic Certificate Management (subscription systems). While it is on, an external service
        supplies the identity and manual Set/Regenerate is refused with
        C(error=automatic_management_on); turn it off in the same task to replace the identity.
    type: bool
  san_details_origin:
    description:
      - SAN Details Origin, extra location-specific SAN values used by automatic certificate management
        (warns when set while it is off).
    type: str
  automatic_phone_provisioning:
    description:
      - Automatic Phone Provisioning, used by automatic certificate management (warns when changed while it
        is off).
    type: bool
attributes:
  check_mode:
    support: full
    details:
      - Runs the same comparison and predicts C(changed) exactly; nothing is written.
  diff_mode:
    support: full
    details:
      - Shows the parsed certificate, the identity settings and the trusted store fingerprints.
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ipoffice.security.plugins.module_utils._identity import run
from ansible_collections.ipoffice.security.plugins.module_utils._module import run_module
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = AnsibleModule(**module_kwargs("identity_certificate"))
    run_module(module, run)


if __name__ == "__main__":
    main()
