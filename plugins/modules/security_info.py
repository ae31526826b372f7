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
  - ipoffice.security.store.read_only
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
        C(high_remote), trusting the store's trusted certificate store. A level that fails is a finding,
        C(live_fails_medium) or C(live_fails_high_remote), with the engine's C(codes).
      - Each item is the endpoint item of certificate_verify's C(endpoint), the certificate_checks preflight and
        the audit role's C(audit_endpoints), with the same defaults and meaning (docs/check-levels.md), plus
        C(serves). The name peers check at C(high_remote) is C(peer_name), else only C(sip_domain) when given,
        else C(server_name), else C(host).
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
        description: TCP port (default 5061 for C(telephony), 443 for C(management) and lines; required for C(h323)).
        type: int
      server_name:
        description: Name sent as SNI (default the host, unless it is an address).
        type: str
      peer_name:
        description: Name peers check at C(high_remote) (RFC 9525).
        type: str
      sip_domain:
        description: SIP domain peers check at C(high_remote) (RFC 5922).
        type: str
      purpose:
        description: What peers check the certificate for (default V(sip_server) for C(telephony), else V(server)).
        type: str
        choices: [server, client, sip_server, sip_client]
      timeout:
        description: Seconds for the whole exchange with this endpoint (default O(live_timeout)).
        type: float
      serves:
        description:
          - What the endpoint serves, which decides the identity it must present and the purpose it is judged for.
          - C(management) (server), C(telephony) (SIP server), C(h323) (H.323 over TLS, server), or
            C(line:<name>) naming one of the store's C(ip_office_lines) (server).
          - With O(live_endpoints[].probe=true) it also decides the settings the probe judges - C(management)
            the C(management_interfaces) check level; C(telephony) the C(telephony_endpoints) check level and the
            C(sip_security_level); C(h323) the C(h323_security_level); C(line:<name>) that line's C(check_level).
        type: str
        required: true
      probe:
        description:
          - Also probe what the endpoint B(enforces) (needs O(live_probe_ca)), see RV(live[].enforced) and
            docs/real-systems.md.
          - Client certificates - the probe connects once per graded client certificate, each issued on the
            spot by the probe CA (valid; expired; no key usage; wrong extended key usage; an unknown critical
            extension; a 1024-bit key; self-signed; for another name) and once with no certificate, and sees
            which handshakes the endpoint accepts (with TLS 1.3 it waits a bounded time after the handshake for
            the server's verdict). The levels whose expected behaviour matches are RV(live[].enforced); a
            configured level outside them is the finding C(live_level_mismatch), naming the setting.
          - Ciphers - on C(telephony) and C(h323) endpoints the probe offers only cipher suites below the
            configured SIP or H.323 security level (one class per connection); one accepted is
            C(live_cipher_level_mismatch).
          - On C(telephony) endpoints it also sends a SIP OPTIONS request over TLS and reports the answer.
          - Bounded - each connection by O(live_timeout), at most 16 connections per endpoint. The probe's
            certificates are valid for minutes and made in memory; they are never written to the store or
            to disk.
        type: bool
        default: false
  live_timeout:
    description:
      - Seconds allowed for the whole exchange with one live endpoint (connect, handshake, close); an endpoint
        that takes longer is C(live_unreachable). Endpoints are read one after the other.
      - With O(live_endpoints[].probe=true) the limit of each of the probe's connections.
    type: float
    default: 10
  live_probe_ca:
    description:
      - The probe CA, for the endpoints with O(live_endpoints[].probe=true) - a CA created for this purpose
        and added to the systems' trusted certificate stores (and to their stores, so that the store says what
        the system trusts). The probe issues its graded client certificates with it.
      - Its files are read on the node that runs the module (the controller in the usual fleet shape); the
        private key is read into memory and never copied. Keep it apart from any CA that issues real
        certificates; see docs/real-systems.md for why and how.
      - Without it an endpoint with O(live_endpoints[].probe=true) fails the run (C(probe_ca_required)).
    type: dict
    suboptions:
      certificate_path:
        description: The probe CA certificate (PEM or DER); it must be a CA (basicConstraints CA:TRUE) valid now.
        type: path
        required: true
      private_key_path:
        description: Its private key (PEM or DER, encrypted or not).
        type: path
        required: true
      private_key_password:
        description: The password of an encrypted private key.
        type: str
attributes:
  check_mode:
    support: full
    details:
      - Reads only; check mode returns exactly what a normal run returns.
      - Live endpoints are read in check mode too (reading them changes nothing); so is the probe, which
        only connects, presents certificates, offers cipher suites and, on SIP endpoints, asks OPTIONS.
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

- name: Probe what ipo1 enforces (the probe CA is in ipo1's trusted store)
  ipoffice.security.security_info:
    store_path: /srv/ipoffice/ipo1
    live_endpoints:
      - {host: 192.0.2.10, port: 443, serves: management, probe: true}
      - {host: 192.0.2.10, port: 5061, serves: telephony, probe: true}
    live_probe_ca:
      certificate_path: /srv/ipoffice/probe-ca/cert.pem
      private_key_path: /srv/ipoffice/probe-ca/key.pem
      private_key_password: "{{ vault_probe_ca_password }}"
  register: ipo1

- name: Show the levels each endpoint enforces
  ansible.builtin.debug:
    msg: "{{ ipo1.live | map(attribute='enforced') | list }}"

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
    - Everything judged about the system, one entry per finding, each with its stable C(code) and its C(severity)
      in the audit (docs/findings.md lists every code with its meaning and remedy).
    - How a peer would judge the identity (and the telephony identity) at C(high_remote), trusting this
      system's trusted certificate store and connecting to the identity's common name; one entry per failing check
      (the check engine's codes, for example C(untrusted_chain), and C(not_pinned), an C(info) note, while the
      identity itself is not in the trusted certificate store).
    - Lifetimes (C(lifetime_over_825_days) for any identity; C(lifetime_over_398_days) and C(public_ca_lifetime)
      for identities from a public CA, with C(applies_from) and C(max_days)), vendor default identities still in
      use (C(ip500v2_default_identity), C(ignition_identity)) and a latent R11.1.3 medium level
      (C(medium_checks_latent), from the checks settings C(release) and C(medium_reapplied)).
    - C(issuer_changed) (C(where) C(identity) or C(telephony)) when an identity issued by a CA (source C(ca) or
      C(issued_by) of ipoffice.security.identity_certificate) is no longer issued by that CA's current
      certificate, for example after the Server Edition primary's CA was regenerated (with C(issuer_store),
      C(issued_by) and C(issuer_now)); the next run that declares the identity reissues it.
      C(issuer_unavailable) when the issuer's store cannot be read.
    - With O(live_endpoints), also the live findings (C(where) is C(live)), each with C(endpoint) (host:port),
      C(serves), C(code) (C(live_identity_mismatch), C(live_chain_mismatch), C(live_unreachable),
      C(live_fails_medium), C(live_fails_high_remote) with C(level) and the engine's C(codes)) and C(message).
    - With O(live_endpoints[].probe=true), also C(live_level_mismatch) (with C(setting), C(configured),
      C(enforced_levels)), C(live_cipher_level_mismatch) (with C(setting), C(configured) and C(accepted), the cipher
      classes accepted), C(live_probe_ca_untrusted) (the store does not trust the probe CA, so no level is
      judged) and C(live_probe_inconclusive) (some of the probe's connections gave no verdict; C(cases)).
  returned: always
  type: list
  elements: dict
  contains:
    where:
      description: C(identity), C(telephony) or C(live); absent for findings about the system's settings.
      type: str
    sha256:
      description: The fingerprint of the identity the finding is about.
      type: str
    code:
      description: The stable finding code (docs/findings.md).
      type: str
    severity:
      description: Its default severity in the audit, C(error), C(warning) or C(info).
      type: str
    message:
      description: What is wrong and what to do about it.
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
      description: What the endpoint serves (C(management), C(telephony), C(h323) or C(line:<name>)).
      type: str
    probe:
      description: Whether the endpoint was to be probed (O(live_endpoints[].probe)).
      type: bool
    enforced:
      description:
        - The received-certificate check levels consistent with what the probe saw, weakest first - one
          level, or several where the evidence cannot separate them (C(high) and C(high_remote) refuse every
          certificate the probe can make, since it cannot present a pinned one). Empty when no level
          behaves as the endpoint did. Lines are judged among C(none), C(medium) and C(high).
        - Null when the endpoint was not probed or could not be judged (unreachable, C(live_probe_ca_untrusted)).
      returned: when O(live_endpoints[].probe=true)
      type: list
      elements: str
      sample: [medium]
    live:
      description:
        - What the endpoint presented and how it compares. C(reachable); C(error) (C(code), C(message)) when
          not; C(expected) (C(identity) or C(telephony)); C(expected_identity) (parsed); C(expected_chain)
          and C(presented_chain) (fingerprints, leaf first); C(presented) (parsed certificates);
          C(identity_matches); C(chain_matches); C(checks) (per level C(medium) and C(high_remote), with
          C(passed), C(codes), C(findings), C(peer_name)).
        - With O(live_endpoints[].probe=true), C(probe) - C(probe_ca) (parsed, with C(trusted_by_store));
          C(setting) and C(configured) (the check level setting and its value in the store); C(purpose) the
          certificates are judged for; C(enforced); C(cases) (one per graded certificate - C(case),
          C(presented), C(sha256) of the certificate, C(outcome) C(accepted), C(refused), C(error) or
          C(not_tried), C(protocol), C(cipher), C(reason) (the alert), C(certificate_requested), and
          C(same_handshake_as) for C(not_pinned)); C(predictions) (per level and case C(accepted), C(refused)
          or C(either)); C(incomplete); C(sip_options) (telephony - C(sent), C(status_line), C(status_code),
          C(reason_phrase), C(matches_request), C(over), C(error)); C(ciphers) (C(setting), C(configured),
          C(classes) - C(class), C(below), C(description), C(offered), C(outcome) C(accepted), C(refused),
          C(not_testable) or C(error), C(negotiated), C(protocol), C(reason)); C(connections); C(elapsed_seconds).
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

from ansible_collections.ipoffice.security.plugins.module_utils._info import run
from ansible_collections.ipoffice.security.plugins.module_utils._module import SecurityModule, run_module
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = SecurityModule(**module_kwargs("security_info"))
    run_module(module, run)


if __name__ == "__main__":
    main()
