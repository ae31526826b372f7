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
  - Takes a system's whole desired state in one call, as the areas O(trusted), O(identity),
    O(telephony_identity), O(scep), O(checks) and O(lines) (the keys of the C(ipoffice_security) variable of
    the C(ipoffice.security.baseline) role, which applies it through this module). Every area is optional; an
    area left out is left exactly as it is, and so is a key left out of an area.
  - 'The areas are applied in the safe order, each on the state the previous ones planned: 1. the trusted
    store gains O(trusted.certificates); 2. the system identity (O(identity)), then the telephony identity
    (O(telephony_identity)); 3. the SCEP settings and enrollment (O(scep)); 4. the trusted store loses
    O(trusted.absent) and, with O(trusted.exclusive), everything not listed; 5. the check levels and lines
    (O(checks), O(lines)), with the preflight.'
  - B(One transaction.) Everything is decided first, then written as B(one) new store generation. If any area
    fails, nothing is written at all (a new store is not even created), and the failure names the area and
    the option (for example C(option=checks.certificate_expiry_warning_days)) with a stable RV(error) code.
  - "B(An exact plan.) Cross-area decisions are made against the planned state of the same call: the preflight
    of a raised check level evaluates each endpoint against the trusted store and identities this call sets
    (so pinning a peer and raising telephony to V(high_remote) in one call passes), and removing a trusted
    certificate warns that an identity's chain still needs it only when the planned identity does (a root
    rotation in one call gives no false warning). Check mode therefore predicts C(changed), the diff and the
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
  - Results and diffs describe certificates by parsed fields and settings only, never keys or passwords.
author:
  - ipoffice.security maintainers (@ipoffice)
extends_documentation_fragment:
  - ipoffice.security.store
  - ipoffice.security.attributes
  - ipoffice.security.areas.settings
attributes:
  check_mode:
    support: full
    details:
      - Plans every area against the state the call would produce, runs the preflight, and predicts C(changed)
        exactly; nothing is written and no certificate request is sent.
  diff_mode:
    support: full
    details:
      - Shows each given area before and after as parsed fields and settings; never keys or passwords.
  idempotent:
    support: partial
    details:
      - Except O(identity.regenerate=always) (and the same for O(telephony_identity)), which replaces that identity on
        every run.
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
"""

RETURN = r"""
generation:
  description: The store generation after the run (the new one when something changed); null in check mode on a
    new store.
  returned: always
  type: int
areas:
  description: The areas given, in the order of the options.
  returned: always
  type: list
  elements: str
steps:
  description: The steps of the safe order that ran, each with whether it changed the state (C(trusted),
    C(identity), C(telephony_identity), C(scep), C(trusted_removals), C(checks)).
  returned: always
  type: list
  elements: dict
trusted:
  description:
    - The trusted store after the run (C(entries), C(trusted_count), C(limit)), what was C(added) and
      C(removed) (each removal with C(by) V(absent) or V(exclusive) and C(needed_by), the identities whose chain
      used it), and C(steps) with each trusted step's own C(changed) (C(present), C(absent), C(exclusive)).
  returned: when O(trusted) is given
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ipoffice.security.plugins.module_utils._module import run_module
from ansible_collections.ipoffice.security.plugins.module_utils._settings import library_features, run
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = AnsibleModule(**module_kwargs("security_settings"))
    run_module(module, run, features=library_features)


if __name__ == "__main__":
    main()
