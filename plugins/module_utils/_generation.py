# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generations of a store: what made each one, and restoring one (the ``generation`` module).

Every write of a store is a whole new generation (``_store``); the last ``keep_generations`` are kept.
Each generation's settings.json carries a record of what made it (``_record.make_record``, which the store
calls, so it lives below the store): the module, a short summary of what changed against the generation
before (``summarize``), the time, and the note Ansible passed (the ``ansible_target_log_info`` variable;
Ansible never passes a module its task name).

A restore never switches ``current`` back to an old directory: it writes a *new* generation whose
content equals the chosen one, under the store lock, so the generation that was current stays kept
and a restore can itself be undone (``restore: previous`` again).  The store setting
``keep_generations`` is not part of what is restored: it is how the store keeps history, not content.

A generation whose identity or telephony identity has expired since is not restored unless
``allow_expired`` (then with a warning): the system would present a certificate every peer rejects.

Stable error codes: ``unknown_generation`` (a number that is not kept), ``no_previous_generation``
(nothing before the current generation), ``invalid_setting`` (a restore value that is neither
``previous`` nor a number), ``certificate_expired`` (the chosen generation's identity or telephony
identity has expired), and the store's own (``store_locked``, ``corrupt_store``, ...).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._record import CREDENTIAL_NAMES, certificate_name
from ansible_collections.ipoffice.security.plugins.module_utils._results import diff
from ansible_collections.ipoffice.security.plugins.module_utils._store import KEEP_GENERATIONS

# What a restore copies from the chosen generation (everything but the store setting keep_generations).
RESTORED_FIELDS = ("platform", "system_name", "settings", "identity", "telephony", "ca", "secrets", "data",
                   "verified_endpoints", "issued_certificates")


# ----------------------------------------------------------------------------------------- listing


def listing(store):
    """The kept generations, newest first: number, written time, whether current, what made it."""
    return [{"generation": g["generation"], "written": g["written"], "current": g["current"], "path": g["path"],
             "made_by": g.get("made_by")} for g in store.generations()]


# ------------------------------------------------------------------------------------------- restore


def _cert_view(cert):
    return {"subject": cert.subject.rfc4514_string(), "sha256": _certs.fingerprint(cert),
            "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")}


def state_view(state):
    """What a restore diff shows: settings, identities, CA and trusted entries as parsed fields; no secrets."""
    settings = copy.deepcopy(state.settings)
    settings.setdefault("scep", {})["password_set"] = bool(state.secrets.get("scep_password"))
    view = {"settings": settings,
            "trusted": [_cert_view(c) for c in state.trusted_certificates()]}
    for slot in ("identity", "telephony", "ca"):
        cred = getattr(state, slot)
        view[slot] = _cert_view(cred.cert) if cred is not None else None
    return view


def target_number(store, state, restore):
    """The generation number 'restore' names: 'previous' (the newest kept one before current) or a number."""
    if isinstance(restore, bool):
        restore = None
    text = ("%s" % restore).strip().lower() if restore is not None else ""
    if text == "previous":
        kept = [g["generation"] for g in store.generations()]
        earlier = [n for n in kept if n < state.generation]
        if not state.initialised or not earlier:
            raise SecurityError("no_previous_generation", "The store at %s has no generation before the current one "
                                "(%s) to restore; kept: %s. Nothing was changed." % (
                                    store.path, state.generation if state.initialised else "none, not initialised",
                                    ", ".join(str(n) for n in kept) or "none"), option="restore")
        return max(earlier)
    if text.isdigit():
        return int(text)
    raise SecurityError("invalid_setting", "restore must be 'previous' or a generation number (see the "
                        "'generations' result), got %r. Change the 'restore' option." % (restore,), option="restore")


def expired_identities(state, now=None):
    """[(label, certificate)] of the identities of ``state`` that have expired (identity, telephony identity)."""
    now = now or _certs.utcnow()
    return [(label, cred.cert) for slot, label in CREDENTIAL_NAMES[:2]
            for cred in [getattr(state, slot)] if cred is not None and cred.cert.not_valid_after_utc < now]


def _expired_text(expired):
    return "; ".join("the %s '%s' expired on %s" % (label, certificate_name(cert),
                                                    cert.not_valid_after_utc.strftime("%Y-%m-%d"))
                     for label, cert in expired)


def check_expired(chosen, number, allow_expired, now=None):
    """Refuse (certificate_expired) to restore a generation whose identities have expired, unless allowed;
    the warnings to give when allowed."""
    expired = expired_identities(chosen, now)
    if not expired:
        return []
    if not allow_expired:
        raise SecurityError("certificate_expired", "Generation %d cannot be restored: %s, and the system would present "
                            "a certificate every peer rejects. Nothing was changed. Choose another generation (the "
                            "'restore' option), or set the 'allow_expired' option to true to restore it anyway."
                            % (number, _expired_text(expired)),
                            option="allow_expired", generation=number)
    return ["Restored generation %d although %s (allow_expired: true): peers reject an expired identity; renew it."
            % (number, _expired_text(expired))]


def restore_into(state, chosen, number):
    """Make state's content equal to the chosen generation's (keep_generations stays the store's)."""
    for field in RESTORED_FIELDS:
        value = getattr(chosen, field)
        setattr(state, field, value.copy() if hasattr(value, "copy") and not isinstance(value, (dict, list))
                else copy.deepcopy(value))
    state.trusted = dict(chosen.trusted)
    state.change_note = "restored generation %d" % number


def run(store, params, check_mode=False, want_diff=False):
    """The generation module: list the kept generations; restore one as a new generation."""
    restore = params.get("restore")
    if restore is None:
        if not store.has_store_settings() and not store.exists():  # nothing to list; no initial keys are made
            return {"changed": False, "current": None, "initialised": False, "keep_generations": KEEP_GENERATIONS,
                    "generations": [], "restored": None}
        if not store.has_store_settings():
            state = store.read()
            return {"changed": False, "current": state.generation if state.initialised else None,
                    "initialised": state.initialised, "keep_generations": state.keep_generations,
                    "generations": listing(store), "restored": None}
        update = store.update(lambda state: None, check_mode=check_mode)
        box = {"number": None}
    else:
        if not store.exists():  # refused before the store is touched: nothing is created
            store.load_generation(target_number(store, store.read(), restore))
        box = {}

        def mutate(state):
            number = target_number(store, state, restore)
            chosen = store.load_generation(number)
            box["number"] = number
            box["made_by"] = chosen.made_by
            box["warnings"] = []
            if number != state.generation:
                box["warnings"] = check_expired(chosen, number, params.get("allow_expired"))
                restore_into(state, chosen, number)

        update = store.update(mutate, check_mode=check_mode)
    result = {"changed": update.changed,
              "current": update.after.generation if update.written else (
                  update.before.generation if update.before.initialised else None),
              "initialised": update.before.initialised or update.written,
              "keep_generations": update.after.keep_generations,
              "generations": listing(store),
              "restored": None}
    if box.get("number") is not None:
        result["restored"] = {"generation": box["number"], "made_by": box.get("made_by"),
                              "written_as": update.after.generation if update.written else None}
    if box.get("warnings"):
        result["warnings"] = list(box["warnings"])
    if want_diff:
        result["diff"] = diff(state_view(update.before), state_view(update.after), header="store generation")
    return result
