# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""security_settings' ``state`` beyond ``merged``: what overridden fills in, what gathered reads back, what
rendered shows.  ``_settings`` runs the states; the decisions particular to each live here.

The states follow the network resource modules (ansible.netcommon):

``merged`` (default)
    What is given is applied; an area or key left out is left as it is (``_settings`` alone).
``overridden``
    The whole configuration is exactly what is given: ``resolve_overridden`` fills every area in on the
    state being planned, so the planning itself is merged's.  Lists are exactly what is given (the trusted
    store is pruned as with ``trusted.exclusive``, the lines replaced); a setting left out takes the default a
    new system of the store's platform has; the SCEP password is removed unless given.  Credentials are never
    made or removed by leaving them out: an identity given is converged as merged does it, the system and
    telephony identities left out are left as they are, and the store's own internal root CA entry is kept
    unless ``trusted.absent`` names it.  Removals stay subject to the in-use refusal (``trusted_entry_in_use``
    unless ``trusted.allow_in_use``).
``gathered``
    ``gather`` reads the store (never writing, never initialising it) and returns it in the module's own
    input shape, so that feeding it back as ``merged`` (or ``overridden`` with the secrets added back)
    changes nothing.  Secrets and keys are never included: an identity that cannot be given back without its
    key (imported, SCEP-enrolled, the initial one) is gathered as its settings alone, with a note.
``rendered``
    ``_settings.render`` plans the options on the store as it is (or on a new system's initial state, in
    memory) without writing and without network work (``offline_request``: no SCEP request, no preflight);
    ``rendered_result`` describes the planned state as parsed, secret-free fields.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _checks_settings, _identity
from ansible_collections.ipoffice.security.plugins.module_utils import _scep_settings, _trusted
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    DEFAULT_REGENERATE,
    DEFAULT_SETTINGS_STATE,
    SETTINGS_STATES,
    SecurityError,
    check_choice,
    default_settings,
)

# Identity sources whose request the store records whole, so gathered can give it back.
REPRODUCIBLE_SOURCES = ("generate", "ca", "issued_by")
NAMING_META = ("subject_name", "subject_alt_names", "signature", "valid_days")
CHECK_SETTINGS = tuple(name for name in _checks_settings.OPTION_NAMES if name != "ip_office_lines")
# What rendered cannot know of a certificate a real run generates when it writes (a new key each time).
MADE_WHEN_WRITTEN = ("serial_number", "not_before", "not_after", "days_left", "expired", "sha256")


def check_state(value):
    """The ``state`` option, validated (None: the default, merged)."""
    return check_choice(value or DEFAULT_SETTINGS_STATE, SETTINGS_STATES, "state")


def check_no_areas(state, given):
    """gathered reads the store only: an area given with it is a mistake worth naming, not something to ignore."""
    if state == "gathered" and given:
        one = len(given) == 1
        raise SecurityError("option_not_applicable", "state gathered only reads the store and takes no area "
                            "options, but %s %s given. Remove %s, or use state merged, overridden or rendered to "
                            "apply or plan them." % (", ".join(given), "is" if one else "are", "it" if one else "them"),
                            option="state")


# -------------------------------------------------------------------------------------------- overridden


def resolve_overridden(request, state, areas):
    """``request`` (a ``_settings.Request``) as overridden means it on ``state``: a copy with every one of
    ``areas`` given.

    What is left out takes the default of a new system of the state's platform: the identity settings, the
    SCEP settings (the password removed), the checks settings, no lines, and a trusted store of exactly the
    listed certificates (``keep_own_ca``: the store's internal root CA entry is kept, see ``with_own_ca``).
    Identities are converged as given; left out, they are left as they are.
    """
    resolved = copy.copy(request)
    defaults = default_settings(state.platform)
    resolved.given = list(areas)
    resolved.exclusive = True
    resolved.keep_own_ca = True
    if resolved.present is None:
        resolved.present = _trusted.Request([])
    if request.identity is not None:
        identity = copy.copy(request.identity)
    else:
        identity = _identity.IdentityRequest("system", None, DEFAULT_REGENERATE, None, {})
    identity.settings = dict(defaults["identity"], **identity.settings)
    resolved.identity = identity
    if request.telephony is not None:
        resolved.telephony = copy.copy(request.telephony)  # planned_checks is set on it per plan
    scep = dict(request.scep or {})
    resolved.scep_reset = {}
    for name in _scep_settings.SETTING_NAMES:
        if scep.get(name) is None:
            scep[name] = defaults["scep"][name]
            if scep[name] is None:  # None means "leave as it is" to the scep area: reset it first instead
                resolved.scep_reset[name] = None
    if scep.get("password") is None:
        scep["password"] = ""  # the default: no password (update_password always removes a stored one)
        scep["update_password"] = "always"
    resolved.scep = scep
    checks = dict(request.checks or {})
    for name in CHECK_SETTINGS:
        if checks.get(name) is None:
            checks[name] = defaults["checks"][name]
    if checks.get("lines") is None:
        checks["lines"] = []  # the option (stored as the setting ip_office_lines)
    resolved.checks = checks
    return resolved


def with_own_ca(request, state):
    """The certificates the overridden prune keeps: ``request``'s, and the store's own internal root CA entry.

    The internal root CA is the system's own root, which a new system trusts from the start: leaving it out
    keeps it (it is never added back once removed); ``trusted.absent`` removes it, subject to the in-use check.
    """
    ca = state.ca
    if ca is None or ca.fingerprint not in state.trusted or ca.fingerprint in request.fingerprint_set():
        return request
    return _trusted.Request(list(request.sources) + [_trusted.Source(len(request.sources), "store", [ca.cert])])


# ---------------------------------------------------------------------------------------------- gathered


def _label(area, credential):
    return "the %s '%s' (sha256 %s)" % ("telephony identity" if area == "telephony_identity" else "system identity",
                                        credential.cert.subject.rfc4514_string(), credential.fingerprint)


def credential_request(state, credential, area, notes):
    """The options that give ``credential`` back as it is: source and naming for a generated or CA-issued
    identity, nothing (left as it is) for one whose request cannot be repeated without its key."""
    meta = credential.meta
    source = meta.get("source")
    label = _label(area, credential)
    if source in REPRODUCIBLE_SOURCES and all(meta.get(name) is not None for name in NAMING_META):
        request = {"source": source}
        for name in NAMING_META:
            request[name] = copy.deepcopy(meta[name])
        if source == "issued_by":  # the issuer's store (a Server Edition primary's), as it was given
            request["issuer_store"] = meta.get("issuer_store")
        if meta.get("renew_before_days") is not None:
            request["renew_before_days"] = meta["renew_before_days"]
            return request
        if state.settings["checks"]["certificate_expiry_warning_days"] < meta["valid_days"]:
            return request
        notes.append("%s: %s was made with a renew_before_days the store did not record, and the default (the "
                     "Certificate Expiry Warning Days) would not fit its validity; 'source' is left out, so it is "
                     "left as it is. Add source: %s with its naming options and renew_before_days to manage it."
                     % (area, label, source))
        return {}
    if source == "import":
        why = ("was imported; it cannot be given back without its private key, which gathered never returns. Add "
               "source: import with certificate_path (or certificate_content) and its password from your vault to "
               "manage it")
    elif source == "scep":
        why = ("was enrolled over SCEP. To keep it enrolled, add scep.enroll: true (with scep.ca_fingerprint and "
               "the request options it was enrolled with: subject_name %r, subject_alt_names %s, signature %s)"
               % (meta.get("subject_name"), meta.get("subject_alt_names"), meta.get("signature")))
    elif source == "initial":
        why = ("is the one the system started with, not made from a request. Add source: generate or ca with its "
               "naming options to manage it")
    elif source in REPRODUCIBLE_SOURCES:
        why = "was made before the store recorded its whole request. Add source: %s with its naming options" % source
    else:
        why = "came from source '%s', which gathered cannot give back" % source
    notes.append("%s: %s %s; 'source' is left out, so merged and overridden leave it as it is." % (area, label, why))
    return {}


def gather(state):
    """(gathered, notes): ``state`` in security_settings' input shape, and what it could not include.

    Never a key, a password or the SCEP password: certificates as PEM ``content`` (public), settings as
    stored.  The store's own internal root CA entry is left out of ``trusted.certificates`` (every state
    keeps it, and a baseline shared by several systems must not carry one system's root).
    """
    notes = []
    gathered = {}
    own = state.ca.fingerprint if state.ca is not None else None
    gathered["trusted"] = {"certificates": [{"content": _certs.cert_pem(cert).decode("ascii")}
                                            for cert in state.trusted_certificates()
                                            if _certs.fingerprint(cert) != own]}
    if own is not None and own in state.trusted:
        notes.append("trusted: the system's own internal root CA '%s' (sha256 %s) is left out of "
                     "trusted.certificates: merged and overridden keep it; trusted.absent removes it."
                     % (state.ca.cert.subject.rfc4514_string(), own))
    identity = dict(state.settings["identity"])
    identity.update(credential_request(state, state.identity, "identity", notes))
    gathered["identity"] = identity
    if state.telephony is not None:
        gathered["telephony_identity"] = credential_request(state, state.telephony, "telephony_identity", notes)
    scep = state.settings["scep"]
    gathered["scep"] = dict((name, scep[name]) for name in _scep_settings.SETTING_NAMES if scep[name] is not None)
    if state.secrets.get(_scep_settings.PASSWORD_SECRET):
        notes.append("scep: a SCEP password is stored; it is write-only and never gathered. Add scep.password (from "
                     "your vault, with update_password: on_create to leave the stored one) before using this with "
                     "state overridden, which removes a password it is not given.")
    gathered["checks"] = dict((name, state.settings["checks"][name]) for name in CHECK_SETTINGS)
    gathered["lines"] = copy.deepcopy(state.settings["checks"]["ip_office_lines"])
    return gathered, notes


def gathered_result(store):
    """state gathered: the store read (no lock, nothing written); a store that does not exist is an error."""
    state = store.read(initial=False)
    if state is None:
        raise SecurityError("store_not_initialised", "There is no store at %s to gather, and gathered never creates "
                            "one (nothing was written). Check the 'store_path' option; to start a new system there, "
                            "run with state merged." % store.path, option="store_path")
    gathered, notes = gather(state)
    return {"changed": False, "gathered": gathered, "notes": notes, "generation": state.generation,
            "store": {"path": store.path, "platform": state.platform, "system_name": state.system_name,
                      "keep_generations": state.keep_generations}}


# ---------------------------------------------------------------------------------------------- rendered


def offline_request(request):
    """A copy of ``request`` that plans with no network work: the SCEP enrollment decided as check mode decides
    it without a pinned CA to fetch (no request is sent, nothing is fetched), the preflight not run."""
    offline = copy.copy(request)
    if request.scep is not None:
        offline.scep = dict(request.scep, ca_fingerprint=None)
    if request.checks is not None:
        offline.checks = dict(request.checks, preflight_mode="skip")
    return offline


def _generated(first, planned):
    """Fingerprints of the planned certificates a real run would generate anew (a new key when it writes)."""
    have = set()
    if first.initialised:
        have = set(first.trusted) | set(c.fingerprint for c in (first.identity, first.telephony, first.ca)
                                        if c is not None)
    return set(c.fingerprint for c in (planned.identity, planned.telephony, planned.ca)
               if c is not None and c.fingerprint not in have and c.meta.get("source") not in ("import", "scep"))


def _cert_view(cert, generated, now):
    info = _certs.cert_info(cert, now)
    info["generated"] = _certs.fingerprint(cert) in generated
    if info["generated"]:
        for name in MADE_WHEN_WRITTEN:
            info.pop(name, None)
        info["valid_days"] = _identity.validity_days(cert)
    return info


def _identity_view(state, credential, generated, now, outcome):
    if credential is None:
        return None
    decision = outcome.decision if outcome is not None else None
    return {"source": credential.meta.get("source"), "action": decision.action if decision else "kept",
            "certificate": _cert_view(credential.cert, generated, now),
            "chain": [_cert_view(c, generated, now) for c in state.chain_for(credential)]}


def rendered_view(first, planned, plan, now):
    """The planned state as parsed, secret-free fields: every area, whether given or not."""
    generated = _generated(first, planned)
    identity = _identity_view(planned, planned.identity, generated, now, plan.identity.get("identity"))
    identity["settings"] = dict(planned.settings["identity"])
    checks = planned.settings["checks"]
    return {
        "platform": planned.platform,
        "system_name": planned.system_name,
        "trusted": [_cert_view(c, generated, now) for c in planned.trusted_certificates()],
        "identity": identity,
        "telephony_identity": _identity_view(planned, planned.telephony, generated, now,
                                             plan.identity.get("telephony_identity")),
        "internal_ca": _cert_view(planned.ca.cert, generated, now) if planned.ca is not None else None,
        "scep": _scep_settings.settings_view(planned),
        "checks": dict((name, checks[name]) for name in CHECK_SETTINGS),
        "lines": copy.deepcopy(checks["ip_office_lines"]),
    }


def rendered_notes(first, request, plan):
    """What rendered did not do, and on what it planned: said, never implied."""
    if first.initialised:
        notes = ["Planned in memory on the store as it is (generation %d); nothing was written." % first.generation]
    else:
        notes = ["Planned in memory on the initial state of a new system: the store does not exist and was not "
                 "created."]
    if any(step in plan.identity and plan.identity[step].decision and plan.identity[step].decision.replace
           for step in ("identity", "telephony_identity")) or not first.initialised:
        notes.append("Certificates marked generated: true are made when a run writes them: their keys, serial "
                     "numbers, validity dates and fingerprints are made then, so they are not shown.")
    if request.scep is not None and request.scep.get("enroll") and plan.scep is not None:
        outcome = plan.scep[0]
        if outcome.status == "enrollment_needed":
            verdict = "a real run would request a certificate (%s)" % outcome.reason
        else:
            verdict = "a real run would request nothing (the SCEP identity is current)"
        notes.append("scep: no SCEP request was sent and the server was not contacted; %s. The identity shown is the "
                     "one before any enrollment." % verdict)
    if request.checks is not None and request.checks.get("preflight"):
        raised = [change["setting"] for change in plan.checks.levels if change["raises"]] if plan.checks else []
        notes.append("checks: no preflight endpoint was contacted; %s." % (
            "a real run first verifies the endpoints of the raised %s" % ", ".join(raised) if raised
            else "no level is raised, so a real run would not contact them either"))
    return notes
