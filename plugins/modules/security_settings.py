#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: security_settings
short_description: Apply an IP Office system's whole certificate security state in one transaction
version_added: 0.2.0
description:
  - Takes a system's whole desired state in one call, as the areas O(trusted), O(ca), O(identity),
    O(telephony_identity), O(scep), O(checks) and O(lines) (the keys of the C(ipoffice_security) variable of
    the C(ipoffice.security.baseline) role, which applies it through this module). Every area is optional; an
    area left out is left exactly as it is, and so is a key left out of an area.
  - 'The areas are applied in the safe order, each on the state the previous ones planned: 1. the trusted
    store gains O(trusted.certificates); 2. the internal CA (O(ca)); 3. the system identity (O(identity)), then
    the telephony identity (O(telephony_identity)); 4. the SCEP settings and enrollment (O(scep)); 5. the trusted
    store loses O(trusted.absent) and, with O(trusted.exclusive), everything not listed; 6. the check levels and
    lines (O(checks), O(lines)), with the preflight; 7. the removals of step 5 are judged on the planned state;
    8. the retired entries (O(trusted.retire)) that nothing depends on any more are removed.'
  - B(One transaction.) Everything is decided first, then written as B(one) new store generation. If any area
    fails, nothing is written at all (a new store is not even created), and the failure names the area and
    the option (for example C(option=checks.certificate_expiry_warning_days)) with a stable RV(error) code.
  - "B(An exact plan.) Cross-area decisions are made against the planned state of the same call: the preflight
    of a raised check level evaluates each endpoint against the trusted store and identities this call sets
    (so pinning a peer and raising telephony to V(high_remote) in one call passes), and removing a trusted
    certificate warns that an identity's chain still needs it only when the planned identity does (a root
    rotation in one call gives no false warning). When the call changes the trusted store or retires entries,
    the O(checks.preflight) endpoints of levels that check chains are verified again against the planned state,
    so their records follow what they present now. Check mode therefore predicts C(changed), the diff and the
    preflight verdict for the whole state at once."
  - "B(Network work and the store lock.) The SCEP server (enrollment) and the preflight endpoints are
    contacted while planning, before the store lock is taken, each bounded in time (O(scep.timeout) with
    O(scep.retries), O(scep.wait_timeout), O(checks.preflight_timeout) per endpoint). Under the lock, when no
    other writer changed the store since it was read, the planned state is written as it is, with no network
    work. When another writer did, the areas are planned again on what the store now holds: the SCEP server is
    never contacted under the lock (a certificate obtained for an identity that changed meanwhile fails with
    C(error=concurrent_change), writing nothing), and the preflight is repeated only when the trusted store or
    the identities it saw changed, then holding the lock for at most O(checks.preflight_timeout) seconds per
    endpoint. Another writer waiting for the lock meanwhile waits up to its own O(lock_timeout) and then fails
    with C(error=store_locked), changing nothing."
  - "B(States), as network resource modules name them (O(state)): V(merged) (the default) applies what is given
    and leaves the rest as it is; V(overridden) makes the whole configuration exactly what is given; V(gathered)
    returns the store in this module's own input shape (RV(gathered)); V(rendered) returns the state the options
    would produce (RV(rendered)), planned in memory with no network work. V(gathered) and V(rendered) never
    write, never create a store and report C(changed=false)."
  - Results and diffs describe certificates by parsed fields and settings only, never keys or passwords.
author:
  - ipoffice.security maintainers (@ipoffice)
extends_documentation_fragment:
  - ipoffice.security.store
  - ipoffice.security.attributes
  - ipoffice.security.areas.settings
options:
  ca:
    description:
      - The system's internal CA (server platform), declared like an identity. Left out, the CA is left as it is.
      - When it no longer matches (under O(ca.regenerate)), a new key and a new self-signed CA certificate replace
        it and join the trusted store; the identities the previous CA issued (C(source=ca) and the initial
        identity) are reissued by the new one in the same run; the previous CA is retired (see
        O(ca.retire_previous)). Server Edition secondaries issued by this store report C(issuer_changed) in
        M(ipoffice.security.security_info) and are reissued by their next run.
      - Before anything is written, what the previous CA issued and cannot be reissued with it (certificates For
        Different Machine that have not expired, pinned peers that chain to it) refuses the change with
        C(ca_in_use) unless O(ca.allow_in_use).
      - On an IP500 V2 system (no internal CA) the area fails with C(no_internal_ca).
    type: dict
    suboptions:
      subject_name:
        description: Common name or RFC 4514 DN of the CA; default the current CA's subject. A new name is the
          usual way to declare a new CA (for example a year in the name).
        type: str
      signature:
        description: Key and signature of the CA; default V(sha256_rsa2048), what a new system starts with.
        type: str
        choices: [sha256_rsa2048, sha1_rsa1024, sha256_rsa3072, sha256_rsa4096, sha384_rsa3072, sha256_ecdsa_p256,
                  sha384_ecdsa_p384]
      valid_days:
        description: Validity of the CA in days, 365 to 7305; default 3652 (what a new system starts with).
        type: int
      regenerate:
        description:
          - When to replace the CA, as for identities. V(partial_idempotence) compares key type and size and the
            subject; V(full_idempotence) also the signature hash and the validity length; V(never) keeps it
            (warning when it differs); V(fail) refuses to replace it (C(regeneration_refused)); V(always)
            replaces it on every run (not for a variable applied repeatedly).
        type: str
        choices: [never, fail, partial_idempotence, full_idempotence, always]
        default: full_idempotence
      renew_before_days:
        description: Replace the CA when it has fewer days left than this; default none (a CA is never
          replaced by time alone).
        type: int
      retire_previous:
        description: Retire the previous internal CAs still in the trusted store (as O(trusted.retire) does).
        type: bool
        default: true
      allow_in_use:
        description: Replace the CA although certificates it issued that cannot be reissued with it, or pinned
          peers that chain to it, remain (C(ca_in_use) otherwise); warns, naming them.
        type: bool
        default: false
  state:
    description:
      - V(merged) applies what is given; an area or a key left out is left as it is. Lists follow their own
        options (O(trusted.exclusive), O(trusted.absent); O(lines) is the complete set of lines).
      - 'V(overridden) makes the whole configuration exactly what is given; what is left out takes the default a
        new system of the store''s platform has. The trusted store holds exactly O(trusted.certificates) (as with
        O(trusted.exclusive)=true), except the store''s own internal root CA entry, which is kept unless
        O(trusted.absent) names it; the lines are exactly O(lines) (none when left out); every identity, SCEP
        and checks setting left out takes its default, and a SCEP password not given is removed. Identities are
        never made or removed by leaving them out: an identity left out (or given without O(identity.source)) is
        left as it is. Removing a trusted certificate something depends on still fails with
        C(error=trusted_entry_in_use) unless O(trusted.allow_in_use=true); list the CAs an imported or enrolled
        identity chains to.'
      - V(gathered) reads the store and returns it as RV(gathered) in this module's input shape, so that feeding
        it back as V(merged) changes nothing. Keys and passwords are never included; an identity that cannot be
        given back without its key (imported, enrolled over SCEP, the one the system started with) is gathered as
        its settings alone, and RV(notes) says what to add back. Takes no area option. A store that does not
        exist fails with C(error=store_not_initialised) and is not created.
      - V(rendered) plans the given areas as V(merged) would, on the store as it is (on a new system's initial
        state, in memory, when there is none), and returns the planned state as RV(rendered). Nothing is written
        or created, no SCEP request is sent and no preflight endpoint is contacted (RV(notes) says what a real
        run would do there).
    type: str
    choices: [merged, overridden, gathered, rendered]
    default: merged
attributes:
  check_mode:
    support: full
    details:
      - Plans every area against the state the call would produce, runs the preflight, and predicts C(changed)
        exactly; nothing is written and no certificate request is sent. The same with O(state=overridden).
      - O(state=gathered) and O(state=rendered) never write; they return the same in check mode.
  diff_mode:
    support: full
    details:
      - Shows each given area (with O(state=overridden), every area) before and after as parsed fields and
        settings; never keys or passwords. O(state=gathered) and O(state=rendered) return no diff.
  idempotent:
    support: partial
    details:
      - Except O(identity.regenerate=always) (and the same for O(telephony_identity) and O(ca)), which replaces it
        on every run.
seealso:
  - module: ipoffice.security.trusted_certificate
  - module: ipoffice.security.identity_certificate
  - module: ipoffice.security.scep
  - module: ipoffice.security.certificate_checks
notes:
  - The per-area modules remain for granular tasks; they run the same core functions one area at a time.
"""

EXAMPLES = r"""
- name: A system's whole certificate security state, in one transaction
  ipoffice.security.security_settings:
    store_path: /var/lib/ipoffice-security
    trusted:
      certificates:
        - path: /etc/pki/corp/root-ca.pem
        - path: /etc/pki/partners/sip-provider.pem   # pinned for the high levels
    identity:
      source: ca
      subject_name: ipo1.example.com
      subject_alt_names: [DNS:ipo1.example.com, IP:192.0.2.10]
      offer_id_certificate_chain: true
    scep:
      server: ca.example.com
      password: "{{ vault_scep_password }}"
      update_password: on_create
    checks:
      certificate_expiry_warning_days: 90
      telephony_endpoints: high_remote
      preflight:
        - host: sip.provider.example
          port: 5061
          setting: telephony
          sip_domain: provider.example
    lines:
      - name: branch-1
        check_level: medium

- name: A root rotation as declared state (converges over runs; trusted.retire never fails)
  ipoffice.security.security_settings:
    trusted:
      certificates:
        - path: /etc/pki/corp/root-2027.pem
        - path: /etc/pki/partners/sbc-2027.pem       # the SBC's new certificate, pinned
      retire:
        - sha256: "3a:5f:...:9c"                      # the old root: goes once nothing depends on it
        - path: /etc/pki/partners/sbc-2015.pem       # the SBC's old certificate
    identity:
      source: ca
    ca:
      subject_name: CN=IP Office Root CA ipo1 2027   # the store's own CA moves too
    checks:
      preflight:                                     # verified again while anything is retiring
        - {host: sbc.example.com, port: 5061, setting: telephony, sip_domain: example.com}
  register: rotation

- name: A Server Edition secondary, its identity issued by the primary's CA
  ipoffice.security.security_settings:
    store_path: /var/lib/ipoffice-security/secondary-1
    identity:
      source: issued_by
      issuer_store: /var/lib/ipoffice-security/primary
      subject_name: sec1.example.com
      subject_alt_names: [DNS:sec1.example.com, IP:192.0.2.21]

- name: Rotate the enterprise root in one call (no intermediate state is ever written)
  ipoffice.security.security_settings:
    trusted:
      certificates:
        - path: /etc/pki/corp/root-2027.pem
      absent:
        - sha256: "3a:5f:...:9c"   # the old root
    identity:
      source: import
      certificate_path: /etc/pki/ipo1-2027.p12
      password: "{{ vault_p12_password }}"

- name: Read the system's state in this module's own input shape (writes nothing)
  ipoffice.security.security_settings:
    store_path: /var/lib/ipoffice-security
    state: gathered
  register: current

- name: Fed back, it changes nothing (merged; overridden once the SCEP password is added back)
  ipoffice.security.security_settings:
    store_path: /var/lib/ipoffice-security
    trusted: "{{ current.gathered.trusted }}"
    identity: "{{ current.gathered.identity }}"
    scep: "{{ current.gathered.scep | combine({'password': vault_scep_password}) }}"
    checks: "{{ current.gathered.checks }}"
    lines: "{{ current.gathered.lines }}"
    state: overridden

- name: What these options would make of the system, planned offline (no store written or created)
  ipoffice.security.security_settings:
    store_path: /var/lib/ipoffice-security
    identity:
      source: ca
      subject_name: ipo1.example.com
    lines:
      - name: branch-1
        check_level: high
    state: rendered
  register: plan

- name: The trusted store and lines are exactly these; every other setting returns to its default
  ipoffice.security.security_settings:
    store_path: /var/lib/ipoffice-security
    state: overridden
    trusted:
      certificates:
        - path: /etc/pki/corp/root-ca.pem
    checks:
      management_interfaces: medium
    lines:
      - name: branch-1
        check_level: medium
"""

RETURN = r"""
generation:
  description: The store generation after the run (the new one when something changed); null in check mode on a
    new store. With O(state=gathered) or O(state=rendered), the generation read (null when there is no store).
  returned: always
  type: int
areas:
  description: The areas given, in the order of the options (with O(state=overridden), every area).
  returned: unless O(state=gathered)
  type: list
  elements: str
steps:
  description: The steps of the safe order that ran, each with whether it changed the state (C(trusted), C(ca),
    C(identity), C(telephony_identity), C(scep), C(trusted_removals), C(checks), C(retire)).
  returned: unless O(state=gathered)
  type: list
  elements: dict
trusted:
  description:
    - The trusted store after the run (C(entries), C(trusted_count), C(limit)), what was C(added) and
      C(removed) (each removal with C(by) V(absent), V(exclusive) or V(retire) and C(needed_by), the identities
      whose chain used it), C(findings) about what was added (C(weak_key) for a key under 2048 bits, also a
      warning), and C(steps) with each trusted step's own C(changed) (C(present), C(absent), C(exclusive),
      C(retire)).
  returned: when O(trusted) is given
  type: dict
retiring:
  description:
    - One item per retired entry still present after the run (O(trusted.retire), a previous internal CA, an
      identity's previous issuer), with what still depends on it; empty when nothing is retiring.
  returned: unless O(state=gathered)
  type: list
  elements: dict
  contains:
    sha256:
      description: Fingerprint of the entry.
      type: str
    subject:
      description: Subject of the entry.
      type: str
    blocked_by:
      description: The dependents that keep it, as C(trusted_entry_in_use) names them (C(kind), C(description),
        ...).
      type: list
      elements: dict
    retired_by:
      description: Why it is retired (C(trusted.retire), C(ca.retire_previous), C(identity.previous_issuer),
        C(telephony_identity.previous_issuer)).
      type: str
retired:
  description: The retired entries this run removed (C(sha256), C(subject), C(retired_by)).
  returned: unless O(state=gathered)
  type: list
  elements: dict
ca:
  description: The internal CA after the run (C(certificate)), C(action) (V(kept) or V(regenerated)), C(reasons),
    the identities it C(reissued), the C(previous) CAs still trusted, what the previous CA left C(in_use), and
    C(changed) for this area.
  returned: when O(ca) is given
  type: dict
identity:
  description: As M(ipoffice.security.identity_certificate) returns it (C(certificate), C(chain), C(settings),
    C(action), C(reasons), C(added_to_trusted_store), C(files)), with C(changed) for this area.
  returned: when O(identity) is given
  type: dict
telephony_identity:
  description: The same for the telephony identity.
  returned: when O(telephony_identity) is given
  type: dict
scep:
  description: As M(ipoffice.security.scep) returns it (C(status), C(reason), C(settings), C(server_url), ...),
    with C(changed) for this area.
  returned: when O(scep) is given
  type: dict
checks:
  description: As M(ipoffice.security.certificate_checks) returns it (C(before), C(after), C(changes),
    C(level_changes), C(preflight)), with C(changed) for this area (the lines included).
  returned: when O(checks) or O(lines) is given
  type: dict
gathered:
  description:
    - With O(state=gathered), the store in this module's own input shape (the areas O(trusted), O(identity),
      O(telephony_identity) when the system has one, O(scep), O(checks), O(lines)), to feed back to this module
      or to the baseline role's variable. Certificates are PEM C(content) (public); the store's own internal
      root CA entry is left out (every state keeps it). Never a key or a password.
  returned: when O(state=gathered)
  type: dict
  sample:
    trusted:
      certificates:
        - content: "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"
    identity:
      source: ca
      subject_name: ipo1.example.com
      subject_alt_names: ["DNS:ipo1.example.com"]
      signature: sha256_rsa2048
      valid_days: 825
      offer_id_certificate_chain: true
      automatic_certificate_management: false
      san_details_origin: ""
      automatic_phone_provisioning: true
    scep:
      active: false
      request_interval: 120
      server: ""
      scheme: http
      uri: /ejbca/publicweb/apply/scep/pkiclient.exe
    checks: {certificate_expiry_warning_days: 60, management_interfaces: medium}
    lines: [{name: branch-1, transport: websocket_client, check_level: medium}]
store:
  description: With O(state=gathered), the store options to go with RV(gathered) (C(path), C(platform), C(system_name),
    C(keep_generations)), as the C(store) key of the baseline role's variable takes them.
  returned: when O(state=gathered)
  type: dict
rendered:
  description:
    - With O(state=rendered), the state the options would produce, every area as parsed, secret-free fields
      (C(platform), C(system_name), C(trusted), C(identity) with C(source), C(action), C(certificate), C(chain) and
      C(settings), C(telephony_identity), C(internal_ca), C(scep) with C(password_set), C(checks), C(lines)).
    - A certificate a real run would generate (C(generated=true)) is shown without its fingerprint, serial number
      and validity dates, which are made when a run writes it; C(valid_days) gives its validity.
  returned: when O(state=rendered)
  type: dict
notes:
  description: With O(state=gathered), what could not be gathered and what to add back (a SCEP password, an
    imported identity, ...); with O(state=rendered), what the planning was based on and what it did not do (no
    SCEP request, no preflight).
  returned: when O(state=gathered) or O(state=rendered)
  type: list
  elements: str
initialised:
  description: With O(state=rendered), whether the store existed (else the options were planned on a new system's
    initial state, in memory).
  returned: when O(state=rendered)
  type: bool
error:
  description: Stable error code on failure (for example C(preflight_failed), C(out_of_range), C(wrong_password)).
  returned: failure
  type: str
option:
  description: The option to change, named with its area (for example C(checks.telephony_endpoints),
    C(identity.certificate_path), C(trusted.absent[0].sha256)).
  returned: failure
  type: str
area:
  description: The area that failed.
  returned: failure, when an area failed
  type: str
"""

from ansible_collections.ipoffice.security.plugins.module_utils._module import SecurityModule, run_module
from ansible_collections.ipoffice.security.plugins.module_utils._settings import library_features, run
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = SecurityModule(**module_kwargs("security_settings"))
    run_module(module, run, features=library_features)


if __name__ == "__main__":
    main()
