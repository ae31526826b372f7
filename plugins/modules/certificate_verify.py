#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: certificate_verify
short_description: Check a certificate or a live TLS endpoint against an IP Office check level
version_added: 0.1.0
description:
  - Runs the received-certificate checks of an IP Office system on a certificate (with its chain) or on
    what a live TLS endpoint presents, exactly as the system would at the given level, and returns every
    failing check with a stable code and a message that says what to do.
  - Levels are cumulative. V(none) checks the dates; V(low) adds a public key of at least 1024 bits;
    V(medium) adds a trust chain to a self-signed root in the trusted certificate store, a key usage
    extension, an extended key usage that fits O(purpose), no unknown critical extension and no SHA-1/MD5
    signature; V(high) adds a key of at least 2048 bits (EC P-256 and Ed25519 count as strong enough),
    not self-signed, not this system's own identity (reflected) and an exact copy in the trusted store
    (pinning). V(medium_remote) and V(high_remote) add host name validation (RFC 9525) against
    O(peer_name) and SIP domain authority (RFC 5922) for O(sip_domain).
  - Failure codes are C(expired), C(not_yet_valid), C(key_too_small), C(untrusted_chain),
    C(no_key_usage), C(purpose_mismatch), C(unknown_critical_extension), C(weak_signature),
    C(self_signed), C(reflected), C(not_pinned), C(name_mismatch) and C(sip_domain_mismatch).
  - Trust is the store's trusted certificate store (and its identity certificates for the reflected
    check) unless O(trusted) is given. The store is only read, never written; a store that does not exist
    yet is read as a new system would start.
author:
  - ipoffice.security maintainers (@ipoffice)
extends_documentation_fragment:
  - ipoffice.security.store.read_only
  - ipoffice.security.attributes
  - ipoffice.security.attributes.info_module
options:
  certificate:
    description:
      - The certificate to check, PEM or DER (binary forms base64 encoded in O(certificate.content)).
      - Exactly one of O(certificate) and O(endpoint) is required.
    type: dict
    suboptions:
      path:
        description: Path of a file on the managed node holding the certificate.
        type: path
      content:
        description: The certificate itself.
        type: str
  chain:
    description:
      - Intermediate certificates that came with O(certificate) (each item may be a bundle). Only with O(certificate).
    type: list
    elements: dict
    suboptions: &certificate_files
      path:
        description: Path of a file on the managed node.
        type: path
      content:
        description: The certificate(s) as text.
        type: str
  endpoint:
    description:
      - A live TLS endpoint whose presented certificate and chain are checked. The handshake itself verifies
        nothing, so that a certificate the level refuses is still fetched and explained.
      - The same endpoint item, with the same defaults and meaning, as the certificate_checks preflight entries,
        security_info's C(live_endpoints) and the audit role's C(audit_endpoints); the same item gives the same
        verdict in each (docs/check-levels.md).
      - O(purpose), O(peer_name) and O(sip_domain) may be given here or at the top level (not differently in both).
    type: dict
    suboptions:
      host:
        description: Host name or IP address to connect to.
        type: str
        required: true
      port:
        description: TCP port (default 443).
        type: int
      server_name:
        description: The name sent as SNI. Defaults to O(endpoint.host) unless that is an IP address.
        type: str
      peer_name:
        description: The name validated at the remote levels (RFC 9525), as O(peer_name).
        type: str
      sip_domain:
        description: The SIP domain validated at the remote levels (RFC 5922), as O(sip_domain).
        type: str
      purpose:
        description: What the endpoint is, as O(purpose) (default V(server)).
        type: str
        choices: [server, client, sip_server, sip_client]
      timeout:
        description:
          - Seconds allowed for the whole exchange (connecting and the TLS handshake), not for each read
            (default 10, at most 300).
          - Must be positive; V(0) is refused. What a handshake may carry is capped by OpenSSL (a certificate
            list of at most 100 KiB).
        type: float
  level:
    description: The received-certificate check level to apply.
    type: str
    required: true
    choices: [none, low, medium, high, medium_remote, high_remote]
  purpose:
    description:
      - What the peer is. V(server) needs extended key usage serverAuth, V(client) clientAuth; on SIP links
        (V(sip_server), V(sip_client)) id-kp-sipDomain is accepted as well. anyExtendedKeyUsage, or no
        extended key usage extension at all, fits every purpose.
      - Default V(server).
    type: str
    choices: [server, client, sip_server, sip_client]
  peer_name:
    description:
      - The host name or IP address the connection is made to, validated at the remote levels (RFC 9525,
        subjectAltName only, no common name fallback).
      - With O(endpoint) and neither O(peer_name) nor O(sip_domain), the name validated is O(endpoint.server_name),
        else O(endpoint.host). With only O(sip_domain), only the SIP domain is validated (RFC 5922, on a SIP link
        the domain is the identity).
    type: str
  sip_domain:
    description: The SIP domain the peer must be authoritative for at the remote levels (RFC 5922).
    type: str
  trusted:
    description:
      - Trust these certificates instead of the store's trusted certificate store (each item may be a bundle).
    type: list
    elements: dict
    suboptions: *certificate_files
  fail_on_reject:
    description: Fail the task (C(error=certificate_rejected)) when the certificate does not pass the level.
    type: bool
    default: false
seealso:
  - module: ipoffice.security.certificate_checks
  - module: ipoffice.security.trusted_certificate
"""

EXAMPLES = r"""
- name: Would the SIP trunk provider pass high_remote?
  ipoffice.security.certificate_verify:
    endpoint:
      host: sbc.provider.example
      port: 5061
    level: high_remote
    purpose: sip_server
    sip_domain: provider.example
  register: trunk

- name: Show what is wrong
  ansible.builtin.debug:
    msg: "{{ trunk.findings | map(attribute='message') | list }}"
  when: not trunk.passed

- name: Refuse to go on unless the file server certificate passes medium
  ipoffice.security.certificate_verify:
    certificate:
      path: /etc/pki/fileserver.pem
    chain:
      - path: /etc/pki/issuing-ca.pem
    level: medium
    fail_on_reject: true

- name: Check against a given root instead of the store
  ipoffice.security.certificate_verify:
    endpoint:
      host: 192.0.2.20
      server_name: sm1.example.com
    peer_name: sm1.example.com
    level: medium_remote
    trusted:
      - path: /etc/pki/enterprise-root.pem
"""

RETURN = r"""
passed:
  description: Whether the certificate passes every check of the level.
  returned: always
  type: bool
findings:
  description: Every failing check, in check order.
  returned: always
  type: list
  elements: dict
  contains:
    code:
      description: The stable failure code.
      type: str
      sample: untrusted_chain
    message:
      description: What is wrong and what to do about it.
      type: str
codes:
  description: The failure codes, sorted.
  returned: always
  type: list
  elements: str
level:
  description: The level applied.
  returned: always
  type: str
purpose:
  description: The purpose applied.
  returned: always
  type: str
peer_name:
  description:
    - The peer name validated at the remote levels (docs/check-levels.md says which), or null at the other levels.
  returned: always
  type: str
sip_domain:
  description: The SIP domain validated at the remote levels, or null at the other levels.
  returned: always
  type: str
latent_medium:
  description:
    - When the store's medium level is latent (checks.release 11.1.3 or later, checks.medium_reapplied false) and
      O(level) is V(medium) or V(medium_remote) - how the system judges the certificate today, at the older medium
      without the checks R11.1.3 added. RV(passed) is the verdict once medium is re-applied.
    - C(passed), C(codes) (what still fails today), C(added_codes) (what fails only once re-applied), C(release).
  returned: when the store's medium level is latent and the level is a medium one
  type: dict
trust_source:
  description: C(store) when the store's trusted certificate store was used, C(trusted) when O(trusted) was.
  returned: always
  type: str
trusted_count:
  description: Number of trusted certificates the chain was built against.
  returned: always
  type: int
certificate:
  description:
    - The checked certificate as parsed fields (subject, common_name, issuer, serial_number, not_before,
      not_after, days_left, expired, subject_alt_names, key_type, key_bits, signature_algorithm, is_ca,
      self_signed, sha256).
  returned: always
  type: dict
chain:
  description: The certificates presented after the leaf (from O(chain) or the endpoint), as parsed fields.
  returned: always
  type: list
  elements: dict
validated_chain:
  description: SHA-256 fingerprints of the validated path, leaf first, ending at the trusted root; empty when
    no path was validated (levels below medium, or no trusted path).
  returned: always
  type: list
  elements: str
endpoint:
  description: The endpoint checked, as host:port.
  returned: when O(endpoint) is given
  type: str
endpoint_item:
  description:
    - The endpoint item with its defaults applied (host, port, server_name, peer_name, sip_domain, purpose,
      timeout).
  returned: when O(endpoint) is given
  type: dict
"""

from ansible_collections.ipoffice.security.plugins.module_utils._module import SecurityModule, run_module
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs
from ansible_collections.ipoffice.security.plugins.module_utils._verify import run


def main():
    module = SecurityModule(**module_kwargs("certificate_verify"))
    run_module(module, run)


if __name__ == "__main__":
    main()
