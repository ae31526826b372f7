#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: scep
short_description: SCEP settings of an IP Office system, and identity enrollment over SCEP (RFC 8894)
version_added: 0.1.0
description:
  - Manages the SCEP settings (Active, Request Interval, SCEP Server IP Address/Name, port, scheme,
    SCEP URI and the write-only SCEP Password).
  - With O(enroll=true) obtains or renews the identity certificate from the SCEP server when the identity
    is missing, not SCEP-issued, no longer matches the request (O(subject_name), O(subject_alt_names),
    O(signature)), or is inside the renewal window (O(renew_before_days)). A new key is generated; the old
    certificate and key stay in place until the new pair is installed, atomically.
  - "The conversation: GetCACaps, GetCACert (CA, or CA and RA certificates; O(ca_fingerprint) pins the CA),
    then PKCSReq (a renewal is signed with the current SCEP certificate). POST, SHA-256 and AES are preferred
    when offered, 3DES is the fallback; DES and MD5 are never sent. The reply's signature, transaction ID
    and nonces are verified; DES, 3DES and AES replies are decrypted."
  - A PENDING reply saves the transaction in the store (the new key as a 0600 secret) and polls
    (CertPoll) every O(request_interval) seconds for up to O(wait_timeout) seconds; if still pending the
    result has RV(status=pending) and the next run resumes the same transaction.
  - A FAILURE reply fails the task with the SCEP failInfo and leaves the store unchanged (a rejected
    pending transaction is discarded). Connection errors and HTTP 5xx are retried with bounded
    backoff (O(retries)); FAILURE replies, and replies over the time or size limits (O(timeout)), never are.
  - In check mode no certificate request is sent; C(changed) predicts whether an enrollment would
    happen. When O(ca_fingerprint) is set, check mode reads GetCACert to refuse a wrong CA early.
author:
  - ipoffice.security maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ipoffice.security.store
  - ipoffice.security.attributes
  - ipoffice.security.areas.scep
attributes:
  check_mode:
    support: full
    details:
      - No certificate request is sent; O(ca_fingerprint) is checked against GetCACert when set.
  diff_mode:
    support: full
    details:
      - Shows the SCEP settings (password only as C(password_set)), the identity's parsed fields and the pending
        transaction ID. Never keys or the password.
  idempotent:
    support: full
    details:
      - A pending request is polled again until it is issued or refused; an issued identity is renewed only inside
        O(renew_before_days).
notes:
  - EJBCA in CA mode needs the end entity to exist with status NEW, its username equal to the requested
    common name and the SCEP password as its enrollment code. See docs/scep.md.
"""

EXAMPLES = r"""
- name: Configure SCEP against EJBCA (default URI) and enroll the identity
  ipoffice.security.scep:
    active: true
    server: ca.example.com
    password: "{{ vault_scep_password }}"
    update_password: on_create
    enroll: true
    subject_name: ipo1.example.com
    subject_alt_names: [DNS:ipo1.example.com, IP:192.0.2.10]
    ca_fingerprint: "3a:5f:...:9c"
    install_ca_certificate: true

- name: HTTPS SCEP server on a custom port and path, wait up to 10 minutes for approval
  ipoffice.security.scep:
    active: true
    server: scep.example.com
    scheme: https
    port: 8443
    uri: /scep
    request_interval: 60
    enroll: true
    wait_timeout: 600
  register: scep

- name: Turn SCEP off (the identity stays)
  ipoffice.security.scep:
    active: false
"""

RETURN = r"""
status:
  description:
    - V(not_requested) (O(enroll) is off), V(current) (no enrollment needed), V(issued) (a certificate was
      installed), V(pending) (the CA has not decided yet; the transaction is saved), or
      V(enrollment_needed) (check mode).
  returned: always
  type: str
reason:
  description: Why an enrollment happened or is needed; V(not_scep_issued), V(request_changed),
    V(renewal_window), V(pending) (a saved transaction was resumed), or null.
  returned: always
  type: str
settings:
  description: The SCEP settings after the run; the password only as C(password_set); C(effective_port).
  returned: always
  type: dict
server_url:
  description: The SCEP URL the settings describe.
  returned: always
  type: str
transaction_id:
  description: The SCEP transaction ID of the request (issued or pending).
  returned: when a request was sent
  type: str
ca:
  description: The SCEP CA certificate as parsed fields.
  returned: when the server was contacted
  type: dict
identity:
  description: The identity certificate after the run as parsed fields (like security_info's identity).
  returned: when O(enroll=true)
  type: dict
"""

from ansible_collections.ipoffice.security.plugins.module_utils._module import SecurityModule, run_module
from ansible_collections.ipoffice.security.plugins.module_utils._scep_settings import library_features, run
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = SecurityModule(**module_kwargs("scep"))
    run_module(module, run, features=library_features)


if __name__ == "__main__":
    main()
