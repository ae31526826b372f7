#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: issued_certificate
short_description: Issue a certificate and key for another server, signed by the IP Office system's CA
version_added: 0.1.0
description:
  - The identity certificate action "For Different Machine". Creates a new key and a certificate with
    another server's names, signed by the system's internal CA, and writes them on the managed node as a
    PKCS#12 file (O(format=pkcs12), protected by O(password)) or as PEM files (O(format=pem), the
    certificate, the private key and, optionally, the CA chain). Every file is written atomically with mode
    C(0600).
  - Idempotent. The existing output is read back and kept while it holds a key and a certificate issued
    by the current internal CA with the requested subject, subject alternative names (as a set),
    signature and validity length, outside the renewal window (O(renew_before_days)). Otherwise a new
    key and certificate replace the files. A file mode other than C(0600) is corrected.
  - When a new certificate is issued, the store records it (subject, fingerprint, validity, output path) in a
    new generation. While it is valid, the system CA's trusted store entry counts as in use
    (ipoffice.security.trusted_certificate refuses to remove it, C(error=trusted_entry_in_use)). Otherwise
    the store is not changed (except that a new store is initialised on first use, as every module of the
    collection does).
  - The V(ip500v2) platform has no internal CA; this module then fails with C(error=no_internal_ca).
  - B(The CSR route.) The Linux-based IP Office servers generate a key and a certificate signing request
    on the system and import the signed certificate with C(import_certid); the key never leaves the
    system. With O(csr_path) or O(csr_content) this module signs that CSR with the system CA instead of
    making a key. The CSR's signature is verified (C(error=csr_signature_invalid)), its key must be RSA of
    at least 2048 bits or EC of at least 256 bits (C(error=csr_weak_key)), and unreadable input fails with
    C(error=invalid_csr). The subject and subject alternative names come from the CSR unless
    O(subject_name) / O(subject_alt_names) are given; other requested extensions are ignored (the
    certificate carries keyUsage, EKU serverAuth + clientAuth, SKI and AKI, signed with SHA-256). Only
    the certificate (O(path), PEM) and optionally the CA chain (O(chain_path)) are written; there is no
    private key output, so O(private_key_path), O(password), O(signature) and O(format=pkcs12) are refused.
    The output is kept while it certifies the CSR's key with the requested names, validity and CA.
author:
  - ipoffice.security maintainers (@ipoffice)
extends_documentation_fragment:
  - ipoffice.security.store
  - ipoffice.security.attributes
options:
  subject_name:
    description:
      - The other server's subject, as a common name (V(sbc1.example.com)) or an RFC 4514 distinguished
        name.
      - Required unless a CSR is given (then the CSR's subject is the default).
    type: str
  csr_path:
    description:
      - Path of a PKCS#10 certificate signing request (PEM or DER) to sign, for example one made on a
        Linux-based IP Office server for C(import_certid). Mutually exclusive with O(csr_content).
    type: path
  csr_content:
    description:
      - The certificate signing request itself (PEM). Mutually exclusive with O(csr_path).
    type: str
  subject_alt_names:
    description:
      - Subject alternative names, V(DNS:name), V(IP:address), V(URI:sip:domain) or V(email:address).
        Compared as a set.
      - Defaults to the CSR's subject alternative names with a CSR, else to the common name as a DNS name
        (or IP address).
    type: list
    elements: str
  signature:
    description:
      - Key and signature; see O(ipoffice.security.identity_certificate#module:signature). Defaults to
        V(sha256_rsa2048). V(sha1_rsa1024) produces a warning.
    type: str
    choices: [sha256_rsa2048, sha1_rsa1024, sha256_rsa3072, sha256_rsa4096, sha384_rsa3072, sha256_ecdsa_p256,
              sha384_ecdsa_p384]
  valid_days:
    description:
      - Validity in days, from 1 to 825 (the vendor's maximum for this action; more fails with
        C(error=out_of_range)). Defaults to 825.
      - The certificate must not outlive the internal CA (C(error=validity_exceeds_ca)).
    type: int
  renew_before_days:
    description:
      - Replace the files when the existing certificate has fewer days left than this (or has expired).
        Outside this window time alone never changes anything.
      - Defaults to the store's Certificate Expiry Warning Days (60 unless changed). Must be smaller than
        O(valid_days).
    type: int
  format:
    description:
      - V(pkcs12) writes one PKCS#12 file at O(path) holding the key, the certificate and the CA chain,
        encrypted with AES-256 under O(password).
      - V(pem) writes the certificate at O(path), the key at O(private_key_path) (PKCS#8, encrypted when
        O(password) is set) and, when O(chain_path) is set, the CA chain there.
      - Defaults to V(pkcs12), and to V(pem) (the only choice) with a CSR.
    type: str
    choices: [pkcs12, pem]
  path:
    description:
      - The PKCS#12 file, or the PEM certificate file, on the managed node. Its directory must exist; an
        existing path that is not a regular file (a symlink, a directory) is refused.
    type: path
    required: true
  private_key_path:
    description:
      - The PEM private key file (O(format=pem) only, required there unless a CSR is given; refused with one).
    type: path
  chain_path:
    description:
      - The PEM CA chain file (O(format=pem) only).
    type: path
  password:
    description:
      - Password of the PKCS#12 (required with O(format=pkcs12)), or of the PEM private key (optional).
    type: str
attributes:
  check_mode:
    support: full
    details:
      - Reads the existing files and predicts C(changed) exactly; nothing is written.
  diff_mode:
    support: full
    details:
      - Shows the parsed existing and new certificate.
  idempotent:
    support: full
    details:
      - Passing time changes nothing outside the renewal window (O(renew_before_days)).
seealso:
  - module: ipoffice.security.identity_certificate
"""

EXAMPLES = r"""
- name: Certificate for an SBC as PKCS#12
  ipoffice.security.issued_certificate:
    subject_name: sbc1.example.com
    subject_alt_names:
      - DNS:sbc1.example.com
      - IP:192.0.2.20
    path: /etc/pki/sbc1.p12
    password: "{{ vault_sbc1_p12_password }}"

- name: Sign a CSR made on a Linux-based IP Office server (import the result with import_certid)
  ipoffice.security.issued_certificate:
    csr_path: /srv/csr/ipo-linux1.csr
    path: /srv/csr/ipo-linux1.crt
    chain_path: /srv/csr/ipo-linux1-ca.pem

- name: Certificate for a web server as PEM files, one year
  ipoffice.security.issued_certificate:
    subject_name: web.example.com
    format: pem
    valid_days: 365
    path: /etc/pki/web.crt
    private_key_path: /etc/pki/web.key
    chain_path: /etc/pki/web-chain.pem
"""

RETURN = r"""
certificate:
  description:
    - The certificate in the output as parsed fields (subject, common_name, issuer, serial_number,
      not_before, not_after, days_left, expired, subject_alt_names, key_type, key_bits,
      signature_algorithm, is_ca, self_signed, sha256) with its C(chain) (the internal CA).
    - In check mode with a change, the certificate that would have been written.
  returned: success
  type: dict
reasons:
  description: Why the files were (or would be) written; empty when the existing output was kept.
  returned: success
  type: list
  elements: str
files:
  description: The paths written or kept (C(path), C(private_key_path), C(chain_path)).
  returned: success
  type: dict
csr:
  description: The CSR signed - C(subject), C(subject_alt_names), C(key_type), C(key_bits), C(key_curve).
  returned: with O(csr_path) or O(csr_content)
  type: dict
error:
  description:
    - Stable code of a failure, for example C(out_of_range), C(no_internal_ca), C(invalid_output_path),
      C(invalid_csr), C(csr_signature_invalid), C(csr_weak_key).
  returned: failure
  type: str
"""

from ansible_collections.ipoffice.security.plugins.module_utils._issued import run
from ansible_collections.ipoffice.security.plugins.module_utils._module import SecurityModule, run_module
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = SecurityModule(**module_kwargs("issued_certificate"))
    run_module(module, run)


if __name__ == "__main__":
    main()
