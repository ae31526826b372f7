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
options:
  certificate_expiry_warning_days:
    description:
      - Certificate Expiry Warning Days. Warn about any stored certificate that expires within this many days.
      - An integer from 30 to 180. A new system starts with 60.
    type: int
  sip_telephony_certificate:
    description:
      - Use different certificate for SIP telephony. A new system starts with V(none).
      - Choosing anything but V(none) while the system has no telephony identity certificate is allowed
        with a warning; the system presents its system identity on those links until one is set
        (M(ipoffice.security.identity_certificate)).
    type: str
    choices: [none, sip_trunks, sip_and_sm_trunks, sip_phones]
  management_interfaces:
    description:
      - Received certificate checks (Management interfaces). A new system starts with V(none).
      - Raising it runs the preflight of the O(preflight) endpoints whose C(setting) is C(management).
    type: str
    choices: [none, low, medium, high, medium_remote, high_remote]
  telephony_endpoints:
    description:
      - Received certificate checks (Telephony endpoints), applied on SIP and SM lines. A new system starts
        with V(none).
      - Raising it runs the preflight of the O(preflight) endpoints whose C(setting) is C(telephony).
    type: str
    choices: [none, low, medium, high, medium_remote, high_remote]
  h323_security_level:
    description:
      - H.323 Security Level, the minimum cipher strength on TLS for H.323. A new system starts with V(high)
        (V(medium) on IP500 V2).
    type: str
    choices: [low, medium, high]
  sip_security_level:
    description:
      - SIP Security Level, the minimum cipher strength on TLS for SIP. A new system starts with V(high)
        (V(medium) on IP500 V2).
    type: str
    choices: [low, medium, high]
  ip_office_lines:
    description:
      - The IP Office lines with WebSocket transport (port 443) and their own received-certificate check level.
      - The list is the B(complete) desired set of lines. Lines not listed are removed; a listed line's
        left-out fields take their defaults. An empty list removes every line. Order does not matter.
      - Raising a line's level (a new line counts as coming from V(none)) runs the preflight of the
        O(preflight) endpoints whose C(setting) is C(line:<name>).
    type: list
    elements: dict
    suboptions:
      name:
        description: The line's name; unique among the lines.
        type: str
        required: true
      transport:
        description: V(websocket_client) (default) or V(websocket_server).
        type: str
      check_level:
        description:
          - V(none) (default), V(medium) or V(high). The remote levels (V(medium_remote), V(high_remote))
            and V(low) are not available on IP Office lines and are refused.
        type: str
  release:
    description:
      - The IP Office release the system runs, for example V(11.1.3.0) (two to five numbers separated by dots,
        optionally followed by C( build <number>)); empty when not stated. A new system starts with it empty.
      - It says what the medium level means. From R11.1.3 medium also checks key usage, extended key usage and
        unknown critical extensions; on a system upgraded to R11.1.3 they start only once the level is set again.
        With a release of 11.1.3 or later and O(medium_reapplied=false), security_info reports the finding
        C(medium_checks_latent) and certificate_verify judges peers at medium both ways (docs/check-levels.md).
    type: str
  medium_reapplied:
    description:
      - Whether a medium level was set (again) on the system while it ran R11.1.3 or later, so that it runs the
        medium checks R11.1.3 added. Set it V(true) once you have re-applied the level on the system (for example
        medium, high, medium), or when the system was installed at R11.1.3 or later. A new system starts with
        V(false).
      - Setting it V(true) while the release is 11.1.3 or later and a level is medium counts as raising that level
        (it adds the checks R11.1.3 brought), so the O(preflight) endpoints of those settings are verified first.
    type: bool
  preflight:
    description:
      - Endpoints to verify before a level is raised. Only the endpoints of a setting whose level is raised
        by this run are contacted; the others are listed as not evaluated.
      - An endpoint that cannot be reached (refused, timed out, not TLS) counts as failing, with the finding
        C(endpoint_unreachable) whose C(reason) is the precise code.
      - Each entry is the endpoint item of certificate_verify's C(endpoint), security_info's C(live_endpoints) and
        the audit role's C(audit_endpoints), with the same defaults and meaning (docs/check-levels.md), plus
        C(setting).
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: Host name or IP address of the endpoint.
        type: str
        required: true
      port:
        description: TLS port. Defaults to 443 for C(management) and lines, 5061 for C(telephony).
        type: int
      server_name:
        description: SNI server name to send; defaults to the host unless it is an IP address.
        type: str
      purpose:
        description:
          - What the endpoint's certificate is used for. Defaults to V(server) for C(management) and lines,
            V(sip_server) for C(telephony).
        type: str
        choices: [server, client, sip_server, sip_client]
      peer_name:
        description:
          - The name the certificate must match at the remote levels. Defaults to O(preflight[].server_name),
            then O(preflight[].host), unless O(preflight[].sip_domain) is given (then only the SIP domain is
            checked).
        type: str
      sip_domain:
        description: The SIP domain the certificate must be authoritative for at the remote levels (RFC 5922).
        type: str
      timeout:
        description: Seconds for the whole exchange with this endpoint (default O(preflight_timeout)).
        type: float
      setting:
        description:
          - The setting the endpoint belongs to, C(management), C(telephony), or C(line:<name>) naming one of
            the O(ip_office_lines) (after this run).
        type: str
        required: true
  preflight_mode:
    description:
      - V(enforce) fails, changing nothing, when any endpoint of a raised setting would fail the new level.
      - V(warn) makes the change and reports each failing endpoint as a warning and in RV(preflight).
      - V(skip) contacts no endpoint (each is listed in RV(preflight) as not evaluated) and states that no
        preflight is intended, so a raised setting without endpoints is not warned about.
    type: str
    choices: [enforce, warn, skip]
    default: enforce
  preflight_timeout:
    description: Seconds allowed for the whole exchange with each preflight endpoint (connect and handshake, not
      each read), more than 0 and at most 300.
    type: float
    default: 10.0
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
    ip_office_lines:
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ipoffice.security.plugins.module_utils._checks_settings import run
from ansible_collections.ipoffice.security.plugins.module_utils._module import run_module
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = AnsibleModule(**module_kwargs("certificate_checks"))
    run_module(module, run)


if __name__ == "__main__":
    main()
