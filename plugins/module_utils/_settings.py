# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A system's whole desired state in one store transaction: every decision of ``security_settings``.

The areas are the keys of the baseline role's ``ipoffice_security`` variable: ``trusted``, ``ca``,
``identity``, ``telephony_identity``, ``scep``, ``checks`` and ``lines``.  Each is applied by the same
function its per-area module uses (``_trusted.apply_request``, ``_identity.apply_identity``,
``_scep_settings.apply_scep``, ``_checks_settings.apply_checks``; ``_ca.apply_ca`` has no module of its
own), in the safe order, on ONE state:

1. trusted: the listed certificates are added;
2. ca: the internal CA regenerated when it should be, the identities it issued reissued by the new one;
3. identity, then telephony_identity;
4. scep: settings, password and enrollment;
5. trusted: the ``absent`` certificates are removed, then with ``exclusive`` the store is pruned to
   the listed certificates (and the retired ones still present);
6. checks and lines, with the preflight; when the run changes the trusted store or retires entries, the
   listed endpoints of levels that check chains are verified again against the planned state;
7. the removals of step 5 are judged on the planned state (``trusted_entry_in_use`` unless allowed);
8. retire: each retired entry (``trusted.retire``, the previous internal CA, an identity's previous
   issuer) is removed when nothing in the planned state depends on it any more; the others stay and are
   reported in ``retiring``.

Every later area sees what the earlier ones planned: the preflight evaluates endpoints against the
planned trusted store and identities, and a removal is "still needed by" an identity only if the
planned identity needs it.  So check mode predicts ``changed``, the diff and the preflight verdict for
the whole state at once.

The run: ``load_request`` validates and reads every area's input (no store, no network); ``plan``
applies every area to a copy of the store read outside the lock, doing the network work there (SCEP
enrollment, preflight handshakes); ``Store.update`` then takes the lock and, when the store was not
written since that read, makes the planned state the new generation as it is.  When another writer
changed the store in between, the areas are planned again on what the store now holds, reusing the
network results that still hold: a SCEP certificate is installed only over the identity it was
requested for (else ``concurrent_change``), and a preflight is repeated (bounded by
``preflight_timeout`` per endpoint) only when the trusted store or the identities it saw changed.
Any failure raises before anything is written: one generation for a change, nothing otherwise.

``state`` (``_settings_state``): ``merged`` is all of the above; ``overridden`` is the same run with every
area filled in per planned state (``Request.for_state``: defaults for what is left out, the trusted prune
keeping the store's own internal root CA); ``gathered`` only reads the store; ``rendered`` plans on a copy
of what ``read`` returns with no network work and never calls ``Store.update``.

Errors name the area and option: ``SecurityError.option`` is prefixed with the area
(``checks.certificate_expiry_warning_days``, ``identity.password``, ``trusted.absent[0].sha256``), and the
details carry ``area``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import time

from ansible_collections.ipoffice.security.plugins.module_utils import _ca, _certs, _cryptography_dep, _dependents
from ansible_collections.ipoffice.security.plugins.module_utils import _checks_settings
from ansible_collections.ipoffice.security.plugins.module_utils import _identity
from ansible_collections.ipoffice.security.plugins.module_utils import _scep_settings
from ansible_collections.ipoffice.security.plugins.module_utils import _settings_state
from ansible_collections.ipoffice.security.plugins.module_utils import _trusted
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError

AREAS = ("trusted", "ca", "identity", "telephony_identity", "scep", "checks", "lines")
STORE_OPTIONS = ("store_path", "platform", "system_name", "system_addresses", "lock_timeout", "keep_generations",
                 "dependents_max_age_days")
# The steps of the safe order, as results and diffs name them.
STEPS = ("trusted", "ca", "identity", "telephony_identity", "scep", "trusted_removals", "checks", "retire")


# ------------------------------------------------------------------------------------------------ errors


def area_option(area, option):
    """The full option name of an area's option, as the user wrote it in security_settings."""
    if option is None:
        return area
    if option in STORE_OPTIONS:
        return option
    if option == "lines":
        return "lines"
    if area == "lines":
        area = "checks"  # an option of the checks module reached through the lines
    if area == "telephony_identity" and option in _identity.IDENTITY_SETTINGS:
        area = "identity"  # the system-wide identity settings live under 'identity'
    return "%s.%s" % (area, option)


def area_error(exc, area):
    """``exc`` naming its area: the option prefixed with the area, the message saying which option to change."""
    option = area_option(area, exc.option)
    message = exc.message
    if exc.option and option != exc.option:
        message = message.replace("'%s'" % exc.option, "'%s'" % option)
    if not message.startswith(option + ":"):
        message = "%s: %s" % (option, message)
    details = dict(exc.details)
    details["area"] = "lines" if option == "lines" else area
    return SecurityError(exc.code, message, option=option, **details)


@contextlib.contextmanager
def in_area(area):
    """Errors raised inside name the area (see area_error)."""
    try:
        yield
    except SecurityError as exc:
        if "area" in exc.details:
            raise
        raise area_error(exc, area)


# ----------------------------------------------------------------------------------------------- request


class Request(object):
    """Every given area, validated and read (files, PKCS#12) before the store is touched."""

    def __init__(self, params):
        self.params = params
        self.given = [area for area in AREAS if params.get(area) is not None]
        # merged, overridden, gathered or rendered (_settings_state): overridden's additions are made per planned
        # state by for_state (the store's platform decides the defaults, its internal CA what the prune keeps).
        self.state = _settings_state.check_state(params.get("state"))
        _settings_state.check_no_areas(self.state, self.given)
        self.keep_own_ca = False
        self.scep_reset = {}
        self.present = self.absent = None
        self.exclusive = self.allow_in_use = False
        self.identity = self.telephony = None
        self.scep = self.checks = None
        self.retire = None
        self.ca = None
        trusted = params.get("trusted")
        if trusted is not None:
            with in_area("trusted"):
                if trusted.get("certificates"):
                    self.present = _trusted.load_request(trusted["certificates"], "present")
                if trusted.get("absent"):
                    self.absent = _trusted.load_request(trusted["absent"], "absent", option="absent")
                if trusted.get("retire"):
                    self.retire = load_retire(trusted["retire"], self.present)
                self.exclusive = bool(trusted.get("exclusive"))
                self.allow_in_use = bool(trusted.get("allow_in_use"))
                if self.exclusive and self.present is None:
                    self.present = _trusted.Request([])
        if params.get("ca") is not None:
            with in_area("ca"):
                self.ca = _ca.ca_request(params["ca"])
        for area, purpose in (("identity", "system"), ("telephony_identity", "telephony")):
            if params.get(area) is not None:
                with in_area(area):
                    request = _identity.identity_request(dict(params[area], purpose=purpose),
                                                         store_path=params.get("store_path"))
                setattr(self, "identity" if purpose == "system" else "telephony", request)
        if params.get("scep") is not None:
            self.scep = dict(params["scep"])
            with in_area("scep"):
                _scep_settings.validate_options(self.scep)
        if params.get("checks") is not None or params.get("lines") is not None:
            self.checks = dict(params.get("checks") or {})
            self.checks["lines"] = params.get("lines")

    def for_state(self, state):
        """This request as planned on ``state``: with state overridden, every area filled in for that state."""
        if self.state == "overridden":
            return _settings_state.resolve_overridden(self, state, AREAS)
        return self

    def prune_request(self, state):
        """The certificates the exclusive prune keeps (overridden: the store's own internal root CA too)."""
        if self.keep_own_ca:
            return _settings_state.with_own_ca(self.present, state)
        return self.present


def load_request(params):
    return Request(params)


def load_retire(items, present):
    """trusted.retire (items as trusted.absent takes them); an entry both listed and retired is refused."""
    retire = _trusted.load_request(items, "absent", option="retire")
    listed = present.fingerprint_set() if present is not None else set()
    for source in retire.sources:
        for fp in [source.fingerprint] if source.fingerprint else [_certs.fingerprint(c) for c in source.certificates]:
            if fp in listed:
                raise SecurityError("conflicting_options", "retire[%d] names %s, which 'certificates' also lists: an "
                                    "entry is either kept or retired. Remove it from one of the two."
                                    % (source.index, fp), option="retire[%d]" % source.index)
    return retire


# ------------------------------------------------------------------------------------------------- plan


class Plan(object):
    """What one run does to a state, area by area, and the network results it rests on."""

    def __init__(self):
        self.changed = {}        # step -> whether it changed the state
        self.trusted = {}        # present / absent / exclusive -> _trusted.Outcome
        self.identity = {}       # identity / telephony_identity -> _identity.IdentityOutcome
        self.scep = None         # (_scep_settings.Outcome, the state the enrollment was planned on)
        self.checks = None       # _checks_settings.Plan
        self.ca = None           # _ca.CaOutcome
        self.retired = {}        # fingerprint -> why it is retired (trusted.retire, ca.retire_previous, ...)
        self.retiring = []       # the retired entries that stay: {sha256, subject, blocked_by, retired_by}
        self.warnings = []       # (area, text)
        self.request = None      # the Request as planned (Request.for_state)


def _step(plan, step, state, apply):
    before = state.snapshot()
    with in_area("trusted" if step in ("trusted_removals", "retire") else step):
        value = apply()
    plan.changed[step] = plan.changed.get(step, False) or state.snapshot() != before
    return value


def plan_state(state, request, check_mode=False, now=None, sleep=time.sleep, network=None):
    """Apply every given area to ``state`` in the safe order; return the Plan.

    ``network`` is the Plan of an earlier run of this function on an earlier read of the store: its
    SCEP outcome is reused (the server is not contacted again) and its preflight reused while it holds.
    Without it, the SCEP server and the preflight endpoints are contacted here.
    """
    now = now or _certs.utcnow()
    plan = Plan()
    request = plan.request = request.for_state(state)
    trusted_at_start = set(state.trusted)

    def trust(name, req, desired, exclusive=False):
        # Removals are judged on the state this run produces (judge_removals, after the checks).
        deferred = desired == "absent" or exclusive
        keep = retained_by_exclusive(state, request, plan) if exclusive else ()
        outcome = _trusted.apply_request(state, req, desired, exclusive, now, allow_in_use=request.allow_in_use,
                                         check_in_use=not deferred, keep=keep)
        plan.trusted[name] = outcome
        if not deferred:
            plan.warnings.extend(("trusted", text) for text in outcome.warnings)

    if request.present is not None and request.present.certificates:
        _step(plan, "trusted", state, lambda: trust("present", request.present, "present"))
    if request.ca is not None:
        _step(plan, "ca", state, lambda: _ca_step(plan, state, request, now))
    if request.checks is not None:
        # The identities are decided with the checks settings this run sets (the renewal window defaults
        # to Certificate Expiry Warning Days; a telephony identity is used per sip_telephony_certificate).
        with in_area("checks"):
            options = dict((name, request.checks.get(name)) for name in _checks_settings.OPTION_NAMES)
            planned_checks = _checks_settings.desired_checks(state.settings["checks"], options)
        for identity_request in (request.identity, request.telephony):
            if identity_request is not None:
                identity_request.planned_checks = planned_checks
    for step, identity_request in (("identity", request.identity), ("telephony_identity", request.telephony)):
        if identity_request is not None:
            outcome = _step(plan, step, state, lambda r=identity_request: _identity.apply_identity(state, r, now))
            plan.identity[step] = outcome
            plan.warnings.extend((step, text) for text in outcome.warnings)
    if request.scep is not None:
        _step(plan, "scep", state, lambda: _scep_step(plan, state, request.scep, check_mode, now, sleep, network,
                                                      request.scep_reset))
    if request.absent is not None:
        _step(plan, "trusted_removals", state, lambda: trust("absent", request.absent, "absent"))
    if request.exclusive:
        _step(plan, "trusted_removals", state,
              lambda: trust("exclusive", request.prune_request(state), "present", True))
    plan.retired = retired_entries(state, request)
    if request.checks is not None:
        early = network.checks if network is not None else None
        reverify = set(state.trusted) != trusted_at_start or any(fp in state.trusted for fp in plan.retired)
        plan.checks = _step(plan, "checks", state,
                            lambda: _checks_settings.apply_checks(state, request.checks, early, reverify))
        plan.warnings.extend(("checks", text) for text in plan.checks.warnings)
    judge_removals(plan, state, request, now)
    if plan.retired:
        _step(plan, "retire", state, lambda: _retire_step(plan, state, now))
    return plan


def _ca_step(plan, state, request, now):
    declared = [purpose for purpose, req in (("system", request.identity), ("telephony", request.telephony))
                if req is not None and req.source is not None]
    plan.ca = _ca.apply_ca(state, request.ca, now, declared)
    plan.warnings.extend(("ca", text) for text in plan.ca.warnings)


def retired_entries(state, request):
    """fingerprint -> why, for every entry this run retires: trusted.retire, the earlier internal CAs (ca area,
    retire_previous) and an issued_by identity's earlier issuers (its area given).  An entry listed in
    trusted.certificates is never retired."""
    retired = {}
    if request.retire is not None:
        for fp in request.retire.fingerprints:
            retired.setdefault(fp, "trusted.retire")
    if request.ca is not None and request.ca.retire_previous:
        for fp in _ca.previous_cas(state):
            retired.setdefault(fp, "ca.retire_previous")
    for area, req in (("identity", request.identity), ("telephony_identity", request.telephony)):
        credential = state.credential("telephony" if area == "telephony_identity" else "system")
        if req is not None and credential is not None and credential.meta.get("source") == "issued_by":
            for fp in credential.meta.get("previous_issuers") or []:
                retired.setdefault(fp, "%s.previous_issuer" % area)
    listed = request.present.fingerprint_set() if request.present is not None else set()
    return dict((fp, why) for fp, why in retired.items() if fp not in listed)


def retained_by_exclusive(state, request, plan):
    """What trusted.exclusive keeps besides the listed certificates: the retired entries (they go by
    retirement) and, with the ca area, the internal CA (a new one cannot be listed in advance)."""
    keep = [state.trusted[fp] for fp in sorted(retired_entries(state, request)) if fp in state.trusted]
    if request.ca is not None and state.ca is not None:
        keep.append(state.ca.cert)
    return keep


def judge_removals(plan, state, request, now):
    """The in-use check of trusted.absent and trusted.exclusive, on the planned state."""
    for name in ("absent", "exclusive"):
        outcome = plan.trusted.get(name)
        if outcome is None:
            continue
        with in_area("trusted"):
            _trusted.judge_removals(state, outcome, request.allow_in_use, now=now)
        plan.warnings.extend(("trusted", text) for text in outcome.warnings)


def _retire_step(plan, state, now):
    removed, retiring, warnings = _dependents.retire(state, sorted(plan.retired), now)
    for item in retiring:
        item["retired_by"] = plan.retired[item["sha256"]]
    plan.retiring = retiring
    plan.trusted["retire"] = _trusted.Outcome([], removed, [], {})
    plan.warnings.extend(("trusted", text) for text in warnings)


def _scep_step(plan, state, params, check_mode, now, sleep, network, reset=None):
    for name, value in (reset or {}).items():  # overridden: a setting whose default means "unset"
        state.settings["scep"][name] = value
    if network is None:
        basis = state.copy()
        _scep_settings.apply_settings(basis, params)
        outcome = _scep_settings.plan_enrollment(basis, params, check_mode, sleep, now)
        if outcome.status == "failed":
            raise rejected_transaction(outcome.pending)
    else:
        outcome, basis = network.scep
        if outcome.status == "current":
            preview = state.copy()
            _scep_settings.apply_settings(preview, params)
            if _scep_settings.enrollment_reason(preview, outcome.request, now) is not None:
                raise SecurityError("concurrent_change", "The identity changed while this run was planned, so "
                                    "it now needs a SCEP enrollment; nothing was changed. Run the task again.",
                                    option="store_path")
    plan.scep = (outcome, basis)
    plan.warnings.extend(("scep", text) for text in _scep_settings.apply_scep(state, params, outcome, basis))


def rejected_transaction(error):
    """A FAILURE reply to the saved pending transaction: the whole run fails and writes nothing."""
    message = error.message.split(" The pending transaction was discarded")[0]
    details = dict(error.details)
    return SecurityError(error.code, "%s Nothing was changed, and the rejected transaction is still saved: run "
                         "ipoffice.security.scep with enroll: true once to discard it, then run this again."
                         % message, option=error.option, **details)


# ----------------------------------------------------------------------------------------------- results


def trusted_result(plan, after, now):
    added, removed, steps, findings = [], [], {}, []
    for name, outcome in sorted(plan.trusted.items()):
        added.extend(outcome.added_info())
        findings.extend(outcome.findings)
        removed.extend(dict(item, by=name) for item in outcome.removed_info())
    for name in ("present", "absent", "exclusive", "retire"):
        outcome = plan.trusted.get(name)
        if outcome is not None:
            steps[name] = {"changed": bool(outcome.added or outcome.removed), "added": outcome.added_info(),
                           "removed": outcome.removed_info()}
    return {
        "changed": plan.changed.get("trusted", False) or plan.changed.get("trusted_removals", False) or
        plan.changed.get("retire", False),
        "added": added,
        "removed": removed,
        "findings": findings,
        "steps": steps,
        "entries": _trusted.entries(after, now),
        "trusted_count": len(after.trusted),
        "limit": _trusted.TRUSTED_STORE_LIMIT,
    }


def views(state, request, now, scep_outcome=None, check_mode=False):
    """The diff side of a state: each given area as parsed, secret-free fields."""
    view = {}
    if "trusted" in request.given:
        view["trusted"] = _trusted.diff_view(state, now)["trusted_certificates"]
    if "ca" in request.given:
        view["ca"] = _certs.cert_info(state.ca.cert, now) if state.ca is not None else None
    if "identity" in request.given:
        view["identity"] = _identity.identity_view(state, "system", now)
    if "telephony_identity" in request.given:
        view["telephony_identity"] = _identity.identity_view(state, "telephony", now)
    if "scep" in request.given:
        view["scep"] = _scep_settings.diff_view(state)
    if request.checks is not None:
        view["checks"] = dict(state.settings["checks"])
    return view


def result(store, request, plan, update, check_mode, want_diff, now):
    request = plan.request or request
    after = update.after
    enrollment_needed = check_mode and plan.scep is not None and plan.scep[0].status == "enrollment_needed"
    data = {
        "changed": update.changed or enrollment_needed,
        "generation": after.generation if after.initialised else None,
        "areas": list(request.given),
        "steps": [{"step": step, "changed": plan.changed[step]} for step in STEPS if step in plan.changed],
        # run_module prefixes each warning with the system's name
        "warnings": ["%s: %s" % (area, text) for area, text in plan.warnings],
    }
    if "trusted" in request.given:
        data["trusted"] = trusted_result(plan, after, now)
    # The retired entries that stay, with what still depends on each (empty when nothing is retiring).
    data["retiring"] = list(plan.retiring)
    # The retired entries this run removed (nothing depended on them any more).
    retired = plan.trusted.get("retire")
    data["retired"] = [dict(item, retired_by=plan.retired.get(item["sha256"])) for item in
                       (retired.removed_info() if retired is not None else [])]
    if plan.ca is not None:
        data["ca"] = dict(plan.ca.as_result(after, now), changed=plan.changed["ca"])
    for step, purpose in (("identity", "system"), ("telephony_identity", "telephony")):
        if step in plan.identity:
            item = _identity.identity_result(_identity.identity_files(store.path, purpose), after, purpose,
                                             plan.identity[step], now)
            item["changed"] = plan.changed[step]
            data[step] = item
    if plan.scep is not None:
        item = _scep_settings.area_result(update.before, after, plan.scep[0], request.scep, plan.changed["scep"],
                                          check_mode)
        item.pop("diff")
        item.pop("warnings")  # already in plan.warnings
        data["scep"] = item
    if plan.checks is not None:
        item = plan.checks.as_result()
        item["changed"] = plan.changed["checks"]
        data["checks"] = item
    if want_diff:
        before_view = views(update.before, request, now)
        after_view = views(after, request, now)
        if enrollment_needed:
            after_view["scep"]["identity"] = "(enrolled over SCEP: %s)" % plan.scep[0].reason
        data["diff"] = {"before": before_view, "after": after_view, "before_header": "security settings",
                        "after_header": "security settings"}
    return data


# ------------------------------------------------------------------------------------------------ the run


def run(store, params, check_mode=False, want_diff=False, now=None, sleep=time.sleep):
    """The security_settings module: every given area in the safe order, one store transaction."""
    now = now or _certs.utcnow()
    request = load_request(params)
    if request.state == "gathered":
        return _settings_state.gathered_result(store)
    if request.state == "rendered":
        return render(store, request, now)
    # Planned (network included) on a read outside the lock; a failure here raises before the store is
    # touched, so a new store is not even created.
    first = store.read()
    planned_state = first.copy()
    # The store settings given (dependents_max_age_days) hold for the plan too.
    store.apply_store_settings(planned_state)
    planned = plan_state(planned_state, request, check_mode, now, sleep)

    def mutate(state):
        if state.initialised == first.initialised and state.generation == first.generation:
            # Not written since the read: the plan holds as it is.  The store settings the store applied
            # to this state (keep_generations, dependents_max_age_days) are its own, not an area's: they stay.
            keep, max_age = state.keep_generations, state.dependents_max_age_days
            state.assign(planned_state)
            state.keep_generations, state.dependents_max_age_days = keep, max_age
            return planned
        return plan_state(state, request, check_mode, now, sleep, network=planned)

    update = store.update(mutate, check_mode=check_mode, start=first)
    return result(store, request, update.value, update, check_mode, want_diff, now)


def render(store, request, now=None):
    """state rendered: the options planned as merged plans them, on the store as it is (on a new system's
    initial state, in memory, when there is none), with no network work; nothing is written or created."""
    now = now or _certs.utcnow()
    first = store.read()
    planned_state = first.copy()
    plan = plan_state(planned_state, _settings_state.offline_request(request), check_mode=True, now=now,
                      sleep=_no_sleep)
    return {
        "changed": False,
        "rendered": _settings_state.rendered_view(first, planned_state, plan, now),
        "notes": _settings_state.rendered_notes(first, request, plan),
        "initialised": first.initialised,
        "generation": first.generation if first.initialised else None,
        "areas": list(request.given),
        "steps": [{"step": step, "changed": plan.changed[step]} for step in STEPS if step in plan.changed],
        "warnings": ["%s: %s" % (area, text) for area, text in plan.warnings],
    }


def _no_sleep(seconds):
    raise AssertionError("rendered never waits for a SCEP server")  # pragma: no cover - nothing polls offline


def library_features(params):
    """The library features a call needs: the PKCS#7 envelope builder only when it may enroll over SCEP
    (checking it imports pkcs7 and the email package, a large share of a no-op run's cost)."""
    if (params.get("scep") or {}).get("enroll"):
        return _cryptography_dep.SCEP_FEATURES
    return _cryptography_dep.DEFAULT_FEATURES
