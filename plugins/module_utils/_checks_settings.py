# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate checks settings (docs/certificate-checks.md) and safe level changes (preflight).

Every decision of the ``certificate_checks`` module lives here:

- ``desired_checks``: which settings change (options left out stay as they are; ``ip_office_lines``
  is the whole desired set of lines).
- ``level_changes`` / ``raises``: which level changes make the system stricter.  A change *raises* a
  level when the new level runs any check the old one did not (``LEVEL_CHECKS``); only those need a
  preflight.  ``high`` -> ``medium_remote`` raises (hostname checks are new) although it drops pinning.
- ``run_preflight``: fetch what each endpoint of a raised setting presents and evaluate it at the new
  level with the store's trusted certificate store (TCS) and identity, before anything is written.
- ``preflight_verdict``: ``enforce`` refuses the whole change when any endpoint would fail; ``warn``
  lets it through with one warning per failing endpoint.
- ``reverify`` (security_settings, when the run changes the trusted store or retires entries): the
  endpoints of settings that are not raised but check chains (medium and above) are verified again at
  their level against the planned state, so their records follow what they present now.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.ipoffice.security.plugins.module_utils import (
    _certs,
    _checks,
    _dependents,
    _endpoints,
    _findings,
)
from ansible_collections.ipoffice.security.plugins.module_utils._results import diff, judged_today
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    CHECK_LEVELS,
    DEFAULT_PREFLIGHT_TIMEOUT,
    MAX_NETWORK_TIMEOUT,
    MAX_PREFLIGHT_ENDPOINTS,
    PREFLIGHT_MODES,
    SETTINGS_BY_AREA,
    SecurityError,
    check_choice,
    check_count,
    check_seconds,
    medium_latent,
    validate_value,
)

AREA = "checks"
OPTION_NAMES = tuple(SETTINGS_BY_AREA[AREA])


def _level_checks(level):
    """The engine's checks of a level, with the key size check split by its threshold.

    The engine runs one 'key_size' check whose minimum grows with the level (1024 bits from low,
    2048 from high): for "does the new level check more" the thresholds count as separate checks.
    """
    checks = set(_checks.LEVEL_CHECKS[level]) - {"key_size"}
    if "key_size" in _checks.LEVEL_CHECKS[level]:
        for bits in sorted(set(_checks.MINIMUM_KEY_BITS.values())):
            if 0 < bits <= _checks.MINIMUM_KEY_BITS[level]:
                checks.add("key_size_%d_bits" % bits)
    return frozenset(checks)


# The checks each level runs (docs/check-levels.md, as the check engine defines them).
LEVEL_CHECKS = dict((level, _level_checks(level)) for level in CHECK_LEVELS)

# The level settings a preflight endpoint can belong to.
LEVEL_SETTINGS = {"management": "management_interfaces", "telephony": "telephony_endpoints"}
LINE_PREFIX = "line:"


def checks_of(level):
    """The set of checks a level runs (a ValueError for an unknown level is a programming error)."""
    return LEVEL_CHECKS[level]


def added_checks(old, new):
    """Checks the new level runs that the old one did not, in a stable order."""
    return sorted(checks_of(new) - checks_of(old))


def raises(old, new):
    """True when moving from level ``old`` to ``new`` makes any check run that did not run before.

    That is the case for every step up the order none < low < medium < high, for medium_remote over
    none/low/medium/high, and for high_remote over every other level.  high <-> medium_remote raises in
    both directions (each runs checks the other does not).  Lowering (new checks a subset) never raises.
    """
    return bool(added_checks(old, new))


# ------------------------------------------------------------------------------------ desired settings


def _line_options(entry):
    """An ip_office_lines entry as given, without the fields Ansible filled with None (left out)."""
    if isinstance(entry, dict):
        return dict((k, v) for k, v in entry.items() if v is not None)
    return entry


def desired_checks(current, options):
    """The checks settings after applying options (None = leave as it is); validated and canonical.

    ``current`` is the stored checks area; ``options`` maps setting names to wanted values.
    ``ip_office_lines`` is the complete desired set of lines: lines not listed are removed, a listed
    line's left-out fields take their defaults (transport websocket_client, check_level none).
    """
    result = copy.deepcopy(current)
    for name in OPTION_NAMES:
        value = options.get(name)
        if value is None:
            continue
        if name == "ip_office_lines":
            if not isinstance(value, list):
                raise SecurityError("invalid_setting", "lines must be a list of lines. Change the 'lines' option.",
                                    option="lines")
            value = [_line_options(entry) for entry in value]
        result[name] = validate_value(AREA, name, value)
    return result


def setting_changes(before, after):
    """[{setting, before, after}] for every checks setting whose value differs."""
    return [{"setting": name, "before": before[name], "after": after[name]}
            for name in OPTION_NAMES if before.get(name) != after.get(name)]


def _line_levels(checks):
    return dict((line["name"], line["check_level"]) for line in checks.get("ip_office_lines") or [])


def effective_checks(checks, level, changed=False):
    """The checks a level setting runs on a system: a latent medium (R11.1.3 or later, set before the upgrade
    and not re-applied: _model.medium_latent) runs the older medium, without the checks R11.1.3 added.

    ``changed``: the setting is being set now, which makes it run the full level.
    """
    result = checks_of(level)
    if not changed and level in _checks.LATENT_MEDIUM_LEVELS and medium_latent(checks):
        result = result - frozenset(_checks.LATENT_MEDIUM_CHECKS)
    return result


def level_changes(before, after):
    """Every check-level change, by preflight setting name, with whether it raises the level.

    A line that did not exist before counts as level none before (nothing was checked on it); a line
    that is removed counts as lowered (nothing will be checked on it).  A latent medium level
    (_model.medium_latent) that is re-applied (medium_reapplied set) raises it: it adds the checks R11.1.3
    brought, so its endpoints are verified like any other raise.
    """
    result = []
    for setting_name, option in sorted(LEVEL_SETTINGS.items()):
        old, new = before[option], after[option]
        change = _level_change(before, after, setting_name, old, new, old)
        if change is not None:
            result.append(change)
    old_lines, new_lines = _line_levels(before), _line_levels(after)
    for name in sorted(set(old_lines) | set(new_lines)):
        old = old_lines.get(name)
        new = new_lines.get(name)
        change = _level_change(before, after, LINE_PREFIX + name, old, new, old or "none")
        if change is not None:
            result.append(change)
    return result


def _level_change(before_area, after_area, setting_name, old, new, compared_from):
    if new is None:  # a removed line
        if old is None:
            return None
        return {"setting": setting_name, "before": old, "after": None, "raises": False, "added_checks": []}
    was = effective_checks(before_area, compared_from)
    will = effective_checks(after_area, new, changed=old != new)
    if old == new and was == will:
        return None
    added = sorted(will - was)
    if old == new and not added:
        return None  # the level became latent (a release was stated): it checks less, nothing to verify
    change = {"setting": setting_name, "before": old, "after": new, "raises": bool(added), "added_checks": added}
    if old == new:
        change["reapplied"] = True
    return change


def level_of(checks, setting_name):
    """The level a preflight setting has in a checks area (None for a line that does not exist)."""
    if setting_name in LEVEL_SETTINGS:
        return checks[LEVEL_SETTINGS[setting_name]]
    return _line_levels(checks).get(setting_name[len(LINE_PREFIX):])


def telephony_identity_warning(state, after):
    """Warn when a separate SIP telephony certificate is chosen while none exists.

    Decided: a warning, not a refusal.  The system then presents its system identity on those links
    (the vendor's fallback), which still works; and the telephony identity is often created later in
    the same play by identity_certificate, so refusing would force an order on playbooks.
    """
    choice = after["sip_telephony_certificate"]
    if choice != "none" and state.telephony is None:
        return ("sip_telephony_certificate is '%s' but the system has no telephony identity certificate: until "
                "one is set (ipoffice.security.identity_certificate with purpose telephony) the system presents "
                "its system identity on those links." % choice)
    return None


# ------------------------------------------------------------------------------------------- preflight


def validate_endpoints(endpoints, after, timeout=DEFAULT_PREFLIGHT_TIMEOUT):
    """The preflight option in canonical form: the endpoint item (_endpoints.resolve) plus ``setting``.

    ``after`` is the desired checks area: a ``line:<name>`` setting must name a line it has.  ``timeout`` is
    preflight_timeout, the default of each entry's own ``timeout``.
    """
    result = []
    lines = _line_levels(after)
    check_count(endpoints, MAX_PREFLIGHT_ENDPOINTS, "preflight", "The preflight list")
    for index, raw in enumerate(endpoints or []):
        path = "preflight[%d]" % index
        setting_name = raw.get("setting") if isinstance(raw, dict) else None
        if isinstance(raw, dict) and not (isinstance(setting_name, str) and (
                setting_name in LEVEL_SETTINGS or
                (setting_name.startswith(LINE_PREFIX) and len(setting_name) > len(LINE_PREFIX)))):
            raise SecurityError("invalid_choice", "%s.setting must be management, telephony or line:<name of an IP "
                                "Office line>, got %r. Change the '%s.setting' option." % (path, setting_name, path),
                                option=path + ".setting")
        kind = "line" if setting_name and setting_name.startswith(LINE_PREFIX) else setting_name
        canonical = _endpoints.resolve(raw, path, "preflight", kind=kind, timeout=timeout, extras=("setting",))
        if kind == "line" and setting_name[len(LINE_PREFIX):] not in lines:
            raise SecurityError("unknown_line", "%s.setting names the IP Office line '%s', which is not among the "
                                "lines (%s). Change the '%s.setting' option."
                                % (path, setting_name[len(LINE_PREFIX):], ", ".join(sorted(lines)) or "none", path),
                                option=path + ".setting")
        result.append(canonical)
    return result


def endpoint_label(endpoint):
    """How findings name an endpoint: host:port (setting)."""
    return _endpoints.label(endpoint, endpoint["setting"])


def own_identities(state):
    """This system's identity certificates (system and telephony): what 'not reflected' compares with."""
    return [cred.cert for cred in (state.identity, state.telephony) if cred is not None]


def evaluate_endpoint(state, endpoint, level, at=None, latent=False):
    """Fetch what one endpoint presents and evaluate it at ``level``; a secret-free result dict.

    Decided: an endpoint that cannot be reached (refused, timed out, not TLS, unreachable) fails with
    the finding endpoint_unreachable (its ``reason`` the precise code): the new level cannot be shown to
    be safe for it.  The names checked at the remote levels follow the one endpoint rule (_endpoints.names).
    With ``latent`` (a latent R11.1.3 medium level, judged as the system runs it today) the verdict leaves out
    what only the checks R11.1.3 added find (``latent_medium`` keeps the full verdict's codes).
    """
    result = dict(endpoint)
    result.update({"endpoint": endpoint_label(endpoint), "level": level, "evaluated": True})
    try:
        presented = _endpoints.fetch(endpoint)
    except SecurityError as exc:
        result.update({"passed": False, "reachable": False, "certificate": None,
                       "findings": [_findings.finding("endpoint_unreachable", _unreachable_message(exc, endpoint),
                                                      reason=exc.code)],
                       "codes": ["endpoint_unreachable"]})
        return result
    _report, verdict = _endpoints.evaluate(presented, endpoint, level, trusted=state.trusted_certificates(),
                                           identities=own_identities(state), at=at, latent_medium=latent)
    if "latent_medium" in verdict:
        kept = verdict["latent_medium"]
        result["latent_medium"] = kept
        verdict = dict(verdict, passed=kept["passed"], codes=kept["codes"],
                       findings=[f for f in verdict["findings"] if f["code"] in kept["codes"]])
    result.update({"passed": bool(verdict["passed"]), "reachable": True,
                   "certificate": _certs.cert_info(presented[0]),
                   "chain": [_certs.fingerprint(c) for c in presented[1:]],
                   "trust_path": _dependents.trust_path(presented, state.trusted_certificates()),
                   "findings": verdict["findings"], "codes": sorted(verdict["codes"]),
                   "peer_name": verdict["peer_name"], "sip_domain": verdict["sip_domain"]})
    return result


def _unreachable_message(exc, endpoint):
    # fetch_chain's advice names certificate_verify's options; here the fix is in the preflight entry.
    what = exc.message.split(" Check the ")[0]
    return ("%s The new level cannot be shown to be safe for an endpoint that does not answer: check 'host' and "
            "'port' of this 'preflight' entry, or remove the entry." % what)


def run_preflight(state, after, changes, endpoints, at=None, skip=False, reverify=False):
    """Evaluate every endpoint of a raised setting at its new level; others are listed as not evaluated.

    With ``skip`` (preflight_mode: skip) no endpoint is contacted; each is listed as not evaluated.
    With ``reverify``, an endpoint whose setting is not raised but checks chains is evaluated again at its
    level (``reverified: true``): the run changes what it is judged against.  A latent medium level
    (_model.medium_latent) is judged as the system runs it today, without the checks R11.1.3 added.
    """
    raised = dict((change["setting"], change["after"]) for change in changes if change["raises"])
    results = []
    for endpoint in endpoints:
        level = raised.get(endpoint["setting"])
        if level is None and reverify and not skip:
            current = level_of(after, endpoint["setting"])
            if current in _dependents.CHAIN_LEVELS:
                latent = current in _checks.LATENT_MEDIUM_LEVELS and medium_latent(after)
                result = evaluate_endpoint(state, endpoint, current, at=at, latent=latent)
                result["reverified"] = True
                results.append(result)
                continue
        if level is None or skip:
            current = level_of(after, endpoint["setting"])
            entry = dict(endpoint)
            entry.update({"endpoint": endpoint_label(endpoint), "level": level or current, "evaluated": False,
                          "passed": None, "findings": [], "codes": [],
                          "reason": "preflight_mode is skip" if level is not None
                          else "the level of %s is not raised" % endpoint["setting"]})
            results.append(entry)
            continue
        results.append(evaluate_endpoint(state, endpoint, level, at=at))
    return results


def _describe_failure(result):
    findings = "; ".join("%s: %s" % (f["code"], f["message"]) for f in result["findings"])
    again = " (verified again: the run changes the trusted store it is judged against)" \
        if result.get("reverified") else ""
    return "%s at %s%s: %s" % (result["endpoint"], result["level"], again, findings or "failed")


def preflight_verdict(results, mode):
    """Warnings for warn mode; in enforce mode a SecurityError when any evaluated endpoint failed."""
    check_choice(mode, PREFLIGHT_MODES, "preflight_mode")
    failed = [r for r in results if r["evaluated"] and not r["passed"]]
    if not failed or mode == "skip":
        return []
    if mode == "enforce":
        raise SecurityError(
            "preflight_failed",
            "Preflight: %d endpoint(s) would fail the check level they were verified at, so nothing was changed. "
            "%s. Fix what "
            "those endpoints present (or add their certificates to the trusted certificate store), keep the "
            "lower level, or set 'preflight_mode: warn' to change it anyway."
            % (len(failed), " | ".join(_describe_failure(r) for r in failed)),
            option="preflight", preflight=results,
            failed_endpoints=[r["endpoint"] for r in failed])
    return ["Preflight: %s would fail the new level; the level is changed anyway (preflight_mode: warn)."
            % _describe_failure(r) for r in failed]


def setting_label(setting_name):
    """How a preflight setting is named to a user: the option it is (an IP Office line by its name)."""
    if setting_name in LEVEL_SETTINGS:
        return LEVEL_SETTINGS[setting_name]
    return "IP Office line '%s'" % setting_name[len(LINE_PREFIX):]


def unverified_raises(changes, endpoints, mode):
    """A warning per raised setting that no preflight endpoint belongs to (none with preflight_mode skip).

    Nothing then showed that the peers that setting checks pass the new level: the change is risky and
    the run says so, naming the setting and how to add endpoints for it.
    """
    if mode == "skip":
        return []
    covered = set(endpoint["setting"] for endpoint in endpoints)
    warnings = []
    for change in changes:
        if not change["raises"] or change["setting"] in covered:
            continue
        if change.get("reapplied"):
            what = ("%s stays '%s' but is re-applied on R11.1.3 or later (medium_reapplied)"
                    % (setting_label(change["setting"]), change["after"]))
        else:
            what = "%s is raised from '%s' to '%s'" % (
                setting_label(change["setting"]), change["before"] or "none", change["after"])
        warnings.append(
            "%s with no preflight endpoint for it, so nothing showed that the peers it checks pass the new level "
            "(it adds the checks %s). Add their endpoints to 'preflight' (host, port and setting: %s), or set "
            "'preflight_mode: skip' to state that no preflight is intended."
            % (what, ", ".join(change["added_checks"]), change["setting"]))
    return warnings


# -------------------------------------------------------------------------------------------- the plan


def preflight_basis(state):
    """What a preflight result depends on besides the endpoints: the TCS and the identities."""
    return (tuple(sorted(state.trusted)),
            state.identity.fingerprint if state.identity else None,
            state.telephony.fingerprint if state.telephony else None)


class Plan(object):
    """What a certificate_checks run would do to one state, and the preflight behind it."""

    def __init__(self, before, after, changes, levels, preflight, warnings, basis, state_warnings=None):
        self.before = before
        self.after = after
        self.changes = changes
        self.levels = levels
        self.preflight = preflight
        self.warnings = warnings
        self.basis = basis
        # The warnings judged on the store's trusted certificates and identities (preflight, telephony).
        self.state_warnings = list(state_warnings or [])

    def as_result(self):
        return {"before": self.before, "after": self.after, "changes": self.changes,
                "level_changes": self.levels, "preflight": self.preflight}


def plan(state, options, endpoints=None, mode="enforce", timeout=DEFAULT_PREFLIGHT_TIMEOUT, at=None,
         reverify=False):
    """Decide everything for one state: new settings, level changes, preflight, verdict, warnings.

    Raises SecurityError (nothing is written) on invalid options or, in enforce mode, a failing preflight.
    """
    preflight_verdict([], mode)  # validates the mode before any endpoint is contacted
    if timeout is not None:
        timeout = check_seconds(timeout, "preflight_timeout", MAX_NETWORK_TIMEOUT)
    before = copy.deepcopy(state.settings[AREA])
    after = desired_checks(before, options)
    canonical = validate_endpoints(endpoints, after, DEFAULT_PREFLIGHT_TIMEOUT if timeout is None else timeout)
    levels = level_changes(before, after)
    results = run_preflight(state, after, levels, canonical, at=at, skip=mode == "skip", reverify=reverify)
    state_warnings = preflight_verdict(results, mode)
    notice = telephony_identity_warning(state, after)
    if notice:
        state_warnings.append(notice)
    warnings = state_warnings + unverified_raises(levels, canonical, mode)
    planned = Plan(before, after, setting_changes(before, after), levels, results, warnings, preflight_basis(state),
                   state_warnings)
    planned.reverify = reverify
    return planned


def apply(state, planned):
    """Write a plan's settings into a state (the mutation of Store.update).

    Endpoints that passed their preflight are recorded: what they presented now depends on the TCS.
    """
    state.settings[AREA] = copy.deepcopy(planned.after)
    _dependents.record_preflight(state, planned.preflight)


def still_valid(planned, state, reverify=False):
    """Whether a plan made on an earlier read still holds for this state (read again under the lock).

    It does when the checks settings, the TCS and the identities are the ones the plan (and its
    preflight) saw, and it verified again what this run asks to verify again; otherwise the caller plans
    again, preflight included.
    """
    return state.settings[AREA] == planned.before and preflight_basis(state) == planned.basis and \
        getattr(planned, "reverify", False) == reverify


def plan_for(state, params, reverify=False):
    """plan() with the module's options (certificate_checks params, or the checks and lines of security_settings).

    The lines are the option ``lines`` (the stored setting keeps its name, ``ip_office_lines``).
    """
    options = dict((name, params.get("lines" if name == "ip_office_lines" else name)) for name in OPTION_NAMES)
    timeout = params.get("preflight_timeout")
    return plan(state, options, params.get("preflight"), params.get("preflight_mode") or "enforce",
                DEFAULT_PREFLIGHT_TIMEOUT if timeout is None else timeout, reverify=reverify)


def apply_checks(state, params, early=None, reverify=False):
    """The checks area on a state: plan it (preflight included), apply it, return the plan.

    ``early`` is a plan made on an earlier read of the store (outside the lock): it is reused when it
    still holds for ``state`` (still_valid), so the preflight is not run again.
    """
    planned = early if early is not None and still_valid(early, state, reverify) \
        else plan_for(state, params, reverify)
    apply(state, planned)
    return planned


def run(store, params, check_mode=False, want_diff=False):
    """The certificate_checks module: plan against the store, preflight, apply in one store update."""
    # The preflight runs before the store lock is taken; under the lock it is redone only if the
    # settings, the trusted store or the identities changed in between.
    first = store.read()
    early = plan_for(first, params)
    update = store.update(lambda state: apply_checks(state, params, early), check_mode=check_mode, start=first)
    planned = update.value
    result = planned.as_result()
    result["changed"] = update.changed
    result["warnings"] = judged_today(planned.warnings, check_mode, planned.state_warnings)
    if want_diff:
        result["diff"] = diff(planned.before, planned.after, header="certificate checks")
    return result
