#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: certificate_checks
short_description: Manage the received-certificate check levels of an IP Office system, with a safe preflight
version_added: 0.1.0
description:
  - Manages the certificate checks settings of an IP Office system's security settings store
    (Certificate Expiry Warning Days, Use different certificate for SIP telephony, Received certificate
    checks for management interfaces and telephony endpoints, H.323 and SIP Security Levels, and the
    check levels of IP Office lines with WebSocket transport).
  - Options left out are left as they are. The result shows the settings before and after.
  - "Levels: V(none) < V(low) < V(medium) < V(high); V(medium_remote) adds hostname / SIP domain checks to
    V(medium), V(high_remote) adds them to V(high). A change B(raises) a level when the new level runs any
    check the old one did not (so V(high) -> V(medium_remote) raises too: it adds the remote checks)."
  - B(Preflight). Before a change that raises a level is written, every O(preflight) endpoint of that
    setting is contacted, and what it presents is evaluated at the new level with the store's trusted
    certificate store and identity. With O(preflight_mode=enforce) any failing endpoint makes the module
    fail with each endpoint's findings and change nothing; with O(preflight_mode=warn) the change is made
    and each failure is reported as a warning. Lowering a level never needs a preflight. Check mode runs
    the preflight too.
  - A raised setting that no O(preflight) endpoint belongs to is a risky change; it is made, with a warning
    that names the setting and how to add endpoints for it. O(preflight_mode=skip) states that no
    preflight is intended (no endpoint is contacted and that warning is not given).
  - In check mode, warnings judged on the store's trusted certificates and identities (preflight failures,
    the missing telephony identity) say so, because changes earlier tasks of the same run would make are
    not seen.
author:
  - ipoffice.security maintainers (@ipoffice)
extends_documentation_fragment:
  - ipoffice.security.store
  - ipoffice.security.attributes
  - ipoffice.security.areas.checks
attributes:
  check_mode:
    support: full
    details:
      - Predicts C(changed) exactly and runs the preflight too; with O(preflight_mode=enforce) it fails just as
        the real run would.
  diff_mode:
    support: full
    details:
      - Shows the certificate checks settings before and after.
  idempotent:
    support: full
    details:
      - A level raised again finds nothing to raise, so the preflight does not run again.
seealso:
  - module: ipoffice.security.certificate_verify
  - module: ipoffice.security.security_info
"""

EXAMPLES = r"""
- name: Warn 90 days ahead and use the telephony certificate on SIP trunks
  ipoffice.security.certificate_checks:
    certificate_expiry_warning_days: 90
    sip_telephony_certificate: sip_trunks

- name: Require high with remote checks on telephony, only if the SIP provider would pass
  ipoffice.security.certificate_checks:
    telephony_endpoints: high_remote
    preflight:
      - host: sip.provider.example.com
        port: 5061
        setting: telephony
        sip_domain: provider.example.com

- name: The complete set of IP Office lines
  ipoffice.security.certificate_checks:
    lines:
      - name: branch1
        check_level: high
      - name: branch2
        transport: websocket_server
        check_level: medium
    preflight:
      - host: branch1.example.com
        setting: "line:branch1"

- name: Raise management checks and only warn about what would fail
  ipoffice.security.certificate_checks:
    management_interfaces: medium
    preflight_mode: warn
    preflight:
      - host: wsm.example.com
        setting: management
  register: checks

- name: Show the endpoints that failed
  ansible.builtin.debug:
    msg: "{{ checks.preflight | selectattr('passed', 'false') | map(attribute='endpoint') | list }}"
"""

RETURN = r"""
before:
  description: The certificate checks settings before the run.
  returned: always
  type: dict
  sample:
    certificate_expiry_warning_days: 60
    sip_telephony_certificate: none
    management_interfaces: none
    telephony_endpoints: none
    h323_security_level: high
    sip_security_level: high
    ip_office_lines: []
after:
  description: The certificate checks settings after the run (what would be set, in check mode).
  returned: always
  type: dict
changes:
  description: Each setting whose value changes.
  returned: always
  type: list
  elements: dict
  contains:
    setting:
      description: Setting name.
      type: str
    before:
      description: Value before.
      type: raw
    after:
      description: Value after.
      type: raw
level_changes:
  description: Each check-level change, by preflight setting name, and whether it raises the level.
  returned: always
  type: list
  elements: dict
  contains:
    setting:
      description: C(management), C(telephony) or C(line:<name>).
      type: str
    before:
      description: Level before (null for a new line).
      type: str
    after:
      description: Level after (null for a removed line).
      type: str
    raises:
      description: Whether the new level runs a check the old one did not (a preflight is needed).
      type: bool
    added_checks:
      description: The checks the new level adds.
      type: list
      elements: str
    reapplied:
      description: True when the level stays the same but a latent medium level is re-applied (O(medium_reapplied)).
      type: bool
      returned: when the level is re-applied
preflight:
  description: One entry per O(preflight) endpoint. Also returned with the failure when the preflight refuses.
  returned: always
  type: list
  elements: dict
  contains:
    endpoint:
      description: The endpoint as C(host:port (setting)).
      type: str
    level:
      description: The level it was evaluated at (the new level), or the current level when not evaluated.
      type: str
    evaluated:
      description: Whether it was contacted (only the endpoints of raised settings are).
      type: bool
    passed:
      description: Whether it passed the new level (null when not evaluated).
      type: bool
    reachable:
      description: Whether a TLS handshake got a certificate.
      type: bool
      returned: when evaluated
    findings:
      description:
        - Each failing check, as C(code) and C(message) (the codes of docs/findings.md); an unreachable endpoint
          has the one finding C(endpoint_unreachable) with its C(reason) (C(endpoint_refused), C(endpoint_timeout),
          C(endpoint_not_tls), C(endpoint_unreachable)).
      type: list
      elements: dict
    codes:
      description: The failure codes.
      type: list
      elements: str
    certificate:
      description: The presented certificate as parsed fields (subject, issuer, validity, SANs, key, sha256, ...).
      type: dict
      returned: when reachable
failed_endpoints:
  description: The endpoints that would fail.
  returned: when the preflight refuses the change
  type: list
  elements: str
error:
  description: Stable error code on failure (for example C(preflight_failed), C(out_of_range), C(invalid_choice)).
  returned: failure
  type: str
"""

from ansible_collections.ipoffice.security.plugins.module_utils._checks_settings import run
from ansible_collections.ipoffice.security.plugins.module_utils._module import SecurityModule, run_module
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = SecurityModule(**module_kwargs("certificate_checks"))
    run_module(module, run)


if __name__ == "__main__":
    main()
