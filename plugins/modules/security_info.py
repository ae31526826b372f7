#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: security_info
short_description: Read an IP Office system's certificate security settings
version_added: 0.1.0
description:
  - Returns a read-only snapshot of the system's security settings store, the settings of all four
    areas, the identity certificate (and the telephony identity when one is set), the internal CA,
    the trusted certificate store, the certificates that expire within the Certificate Expiry Warning
    Days, and the kept generations of the store.
  - Certificates are described by their parsed fields; private keys and the SCEP password are never returned.
  - Reads only, never writes and never waits for a writer; it takes no lock, so a read-only store is readable.
    A store that does not exist (or an empty directory) is reported as RV(initialised=false) with everything
    else empty, and is left absent; the first writing module initialises it. Always C(changed=false).
author:
  - ipoffice.security maintainers (@ipoffice)
extends_documentation_fragment:
  - ipoffice.security.store
  - ipoffice.security.attributes
  - ipoffice.security.attributes.info_module
options:
  query:
    description:
      - A JMESPath expression applied to the result; its value is returned as RV(query_result).
      - Requires the C(jmespath) Python library on the managed node.
    type: str
  live_endpoints:
    description:
      - Live read-back. IP Office publishes no API for its security settings, so the store is the desired
        state and system of record; what a live system serves over TLS is the one thing that can be read
        back from it. For each endpoint listed, the module connects, fetches the certificates presented
        (verifying nothing during the handshake) and compares them with the store, see RV(live).
      - The served identity must be the store's identity (C(live_identity_mismatch), naming both
        certificates). Endpoints that serve C(telephony) are compared with the telephony identity when the
        store has one and C(sip_telephony_certificate) is not C(none).
      - The served chain must be what Offer ID Certificate Chain says the system sends (C(live_chain_mismatch)).
      - An endpoint that refuses, times out or does not speak TLS is C(live_unreachable).
      - The served identity is judged by the check engine as the system's peers would, at C(medium) and at
        C(high_remote) with O(live_endpoints[].server_name) (default the store's system name) as the name,
        trusting the store's trusted certificate store. A level that fails is a finding,
        C(live_fails_medium) or C(live_fails_high_remote), with the engine's C(codes).
      - Connecting happens from the managed node. Nothing on the live system is changed.
      - A store that does not exist has nothing to compare with; its endpoints are not read and RV(live) is empty.
    type: list
    elements: dict
    suboptions:
      host:
        description: Host name or address to connect to.
        type: str
        required: true
      port:
        description: TCP port (443 and the other management ports, 5061 for SIP TLS, 443 for WebSocket lines).
        type: int
        required: true
      server_name:
        description:
          - Name sent as SNI and used as the peer name for C(high_remote).
          - Default the host (SNI, unless it is an address) and the store's system name (C(high_remote)).
        type: str
      serves:
        description:
          - What the endpoint serves, which decides the identity it must present and the purpose it is judged for.
          - C(management) (server), C(telephony) (SIP server), or C(line:<name>) naming one of the store's
            C(ip_office_lines) (server).
        type: str
        required: true
  live_timeout:
    description:
      - Seconds allowed for the whole exchange with one live endpoint (connect, handshake, close); an endpoint
        that takes longer is C(live_unreachable). Endpoints are read one after the other.
    type: float
    default: 10
attributes:
  check_mode:
    support: full
    details:
      - Reads only; check mode returns exactly what a normal run returns.
      - Live endpoints are read in check mode too (reading them changes nothing).
"""

EXAMPLES = r"""
- name: Read everything
  ipoffice.security.security_info:
    store_path: /var/lib/ipoffice-security
  register: security

- name: Show who the identity is issued to and when it expires
  ansible.builtin.debug:
    msg: "{{ security.issued_to }} until {{ security.identity.not_after }}"

- name: List certificates that need attention
  ipoffice.security.security_info:
    query: "expiring[].{where: where, subject: subject, days_left: days_left}"
  register: expiring

- name: Same store options for every module of the collection
  module_defaults:
    group/ipoffice.security.all:
      store_path: /srv/ipo1/security
  block:
    - name: Read the store
      ipoffice.security.security_info:
"""

RETURN = r"""
initialised:
  description:
    - Whether the store exists. When false, RV(platform), RV(system_name), RV(settings), RV(identity),
      RV(telephony_identity), RV(ca), RV(issued_to), RV(offer_certificate) and RV(files) are null, the lists
      are empty and RV(generation) is 0.
  returned: always
  type: bool
  sample: true
store_path:
  description: Absolute path of the store.
  returned: always
  type: str
platform:
  description: The platform the store was initialised for.
  returned: always
  type: str
  sample: server
system_name:
  description: The system name used at initialisation.
  returned: always
  type: str
generation:
  description: Number of the current generation (0 when the store does not exist yet).
  returned: always
  type: int
offer_certificate:
  description: Offer Certificate, always on (informational).
  returned: always
  type: bool
issued_to:
  description: The common name of the identity certificate (Issued To).
  returned: always
  type: str
settings:
  description: Every setting by area (C(identity), C(checks), C(scep)); the SCEP password only as C(password_set).
  returned: always
  type: dict
identity:
  description:
    - The identity certificate as parsed fields (subject, common_name, issuer, serial_number, not_before,
      not_after, days_left, expired, subject_alt_names, key_type, key_bits, signature_algorithm, is_ca,
      self_signed, sha256), plus C(source), C(request), C(chain) (parsed issuers from the trusted store)
      and C(offered_chain) (fingerprints the system sends in TLS).
  returned: always
  type: dict
telephony_identity:
  description: The separate SIP telephony identity, like RV(identity), or null when none is set.
  returned: always
  type: dict
ca:
  description: The internal CA certificate as parsed fields, with C(request) (how it was made; C(previous), the
    earlier internal CAs it replaced), or null (IP500 V2).
  returned: always
  type: dict
trusted:
  description: Every trusted certificate store entry as parsed fields, ordered by fingerprint.
  returned: always
  type: list
  elements: dict
  contains:
    dependents:
      description:
        - What depends on the entry; ipoffice.security.trusted_certificate refuses to remove an entry that has
          any (C(error=trusted_entry_in_use)) unless O(ipoffice.security.trusted_certificate#module:allow_in_use=true).
        - Each has C(kind) (C(identity_chain), C(pinned_peer), C(preflight_endpoint), C(issued_certificate)),
          C(description), C(subject), C(sha256) and fields of its kind (see docs/trusted-store.md); a
          C(preflight_endpoint) also C(verified) and C(age_days).
        - A pinned certificate is never its own dependent, and a preflight record older than
          RV(dependents_max_age_days) is none (RV(preflight_records) still lists it, C(stale)).
      type: list
      elements: dict
trusted_count:
  description: Number of entries in the trusted certificate store (at most 25).
  returned: always
  type: int
expiring:
  description: Stored certificates that expire within the Certificate Expiry Warning Days, or have expired.
  returned: always
  type: list
  elements: dict
  contains:
    where:
      description: C(identity), C(telephony), C(ca) or C(trusted).
      type: str
    subject:
      description: Subject DN.
      type: str
    sha256:
      description: SHA-256 fingerprint.
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
generations:
  description: The kept generations of the store, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    made_by:
      description:
        - What made it (null before records existed), as ipoffice.security.generation returns it with
          C(generation), C(written), C(current) and C(path).
          C(module), C(summary), C(time), C(note) (the C(ansible_target_log_info) variable).
      type: dict
keep_generations:
  description: How many generations the store keeps (a store setting).
  returned: always
  type: int
dependents_max_age_days:
  description: How many days a preflight record keeps holding trusted entries (a store setting).
  returned: always
  type: int
preflight_records:
  description: What each preflight endpoint presented when it was last verified through the trusted store.
  returned: always
  type: list
  elements: dict
  contains:
    endpoint:
      description: host:port (setting).
      type: str
    subject:
      description: Subject of the certificate it presented.
      type: str
    trust_path:
      description: Fingerprints of the path it took through the trusted store, leaf first.
      type: list
      elements: str
    verified:
      description: When the record was made or last renewed (UTC, ISO 8601).
      type: str
    age_days:
      description: Whole days since then.
      type: int
    stale:
      description: Older than RV(dependents_max_age_days), so it no longer holds the entries of its path.
      type: bool
    holds:
      description: Whether it holds the entries of its path now (not stale, and its setting still checks chains).
      type: bool
files:
  description: Paths of the files TLS services on the host can use (through the C(current) link).
  returned: always
  type: dict
findings:
  description:
    - How a peer would judge the identity (and the telephony identity) at C(high_remote), trusting this
      system's trusted certificate store and connecting to the identity's common name; one entry per failing check.
    - For example C(not_pinned) while the identity itself is not in the trusted certificate store.
    - C(issuer_changed) (C(where) C(identity) or C(telephony)) when an identity issued by a CA (source C(ca) or
      C(issued_by) of ipoffice.security.identity_certificate) is no longer issued by that CA's current
      certificate, for example after the Server Edition primary's CA was regenerated (with C(issuer_store),
      C(issued_by) and C(issuer_now)); the next run that declares the identity reissues it.
      C(issuer_unavailable) when the issuer's store cannot be read.
    - With O(live_endpoints), also the live findings (C(where) is C(live)), each with C(endpoint) (host:port),
      C(serves), C(code) (C(live_identity_mismatch), C(live_chain_mismatch), C(live_unreachable),
      C(live_fails_medium), C(live_fails_high_remote) with C(level) and the engine's C(codes)) and C(message).
  returned: always
  type: list
  elements: dict
  contains:
    where:
      description: C(identity), C(telephony) or C(live).
      type: str
    code:
      description: The check engine's stable failure code.
      type: str
    message:
      description: What failed and what to do about it.
      type: str
live:
  description:
    - One entry per O(live_endpoints) item, in order (empty without them).
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The host connected to.
      type: str
    port:
      description: The port connected to.
      type: int
    server_name:
      description: The SNI name given, or null.
      type: str
    serves:
      description: What the endpoint serves (C(management), C(telephony) or C(line:<name>)).
      type: str
    live:
      description:
        - What the endpoint presented and how it compares. C(reachable); C(error) (C(code), C(message)) when
          not; C(expected) (C(identity) or C(telephony)); C(expected_identity) (parsed); C(expected_chain)
          and C(presented_chain) (fingerprints, leaf first); C(presented) (parsed certificates);
          C(identity_matches); C(chain_matches); C(checks) (per level C(medium) and C(high_remote), with
          C(passed), C(codes), C(findings), C(peer_name)).
      type: dict
    findings:
      description: This endpoint's findings (also in RV(findings)).
      type: list
      elements: dict
query_result:
  description: The value of the O(query) expression.
  returned: when O(query) is set
  type: raw
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ipoffice.security.plugins.module_utils._info import run
from ansible_collections.ipoffice.security.plugins.module_utils._module import run_module
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = AnsibleModule(**module_kwargs("security_info"))
    run_module(module, run)


if __name__ == "__main__":
    main()
