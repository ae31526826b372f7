# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What made a store generation: the record each generation's settings.json carries.

``make_record`` is called by the store (``_store``) when it writes a generation, so it lives below it: this
file reads ``State`` objects it is given and imports nothing of the store.  The ``generation`` module
(``_generation``) lists the records.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._model import MAX_NOTE_CHARS

SUMMARY_LIMIT = 400
CREDENTIAL_NAMES = (("identity", "identity"), ("telephony", "telephony identity"), ("ca", "system CA"))


def certificate_name(cert):
    """How a record names a certificate: its common name, else its subject."""
    return _certs.common_name(cert) or cert.subject.rfc4514_string()


def _value(value):
    if isinstance(value, (list, dict)):
        return "(%d item%s)" % (len(value), "" if len(value) == 1 else "s")
    return "%s" % ("''" if value == "" else value)


def summarize(before, after):
    """A short human summary of what differs from before to after (what a generation record says)."""
    parts = []
    if after.change_note:
        parts.append(after.change_note)
    if not before.initialised:
        parts.append("initialised the store (%s platform)" % after.platform)
    for area in sorted(after.settings):
        old_area, new_area = before.settings.get(area, {}), after.settings[area]
        for name in sorted(new_area):
            if old_area.get(name) != new_area[name]:
                parts.append("%s.%s %s -> %s" % (area, name, _value(old_area.get(name)), _value(new_area[name])))
    for slot, label in CREDENTIAL_NAMES:
        old, new = getattr(before, slot), getattr(after, slot)
        if old is None and new is not None:
            parts.append("%s set: %s" % (label, certificate_name(new.cert)))
        elif old is not None and new is None:
            parts.append("%s removed" % label)
        elif old is not None and (old.fingerprint != new.fingerprint or old.meta != new.meta):
            parts.append("%s replaced: %s" % (label, certificate_name(new.cert)))
    added = [after.trusted[fp] for fp in sorted(set(after.trusted) - set(before.trusted))]
    removed = [before.trusted[fp] for fp in sorted(set(before.trusted) - set(after.trusted))]
    if added:
        parts.append("trusted +%s" % ", +".join(certificate_name(c) for c in added))
    if removed:
        parts.append("trusted -%s" % ", -".join(certificate_name(c) for c in removed))
    for name in sorted(set(before.secrets) | set(after.secrets)):
        if before.secrets.get(name) != after.secrets.get(name):
            parts.append("secret %s %s" % (name, "removed" if name not in after.secrets else "set"))
    if before.keep_generations != after.keep_generations:
        parts.append("keep_generations %s -> %s" % (before.keep_generations, after.keep_generations))
    if before.dependents_max_age_days != after.dependents_max_age_days:
        parts.append("dependents_max_age_days %s -> %s" % (before.dependents_max_age_days,
                                                           after.dependents_max_age_days))
    if before.verified_endpoints != after.verified_endpoints:
        parts.append("preflight record: %s" % ", ".join(sorted(
            set(e.get("endpoint", "?") for e in after.verified_endpoints)
            ^ set(e.get("endpoint", "?") for e in before.verified_endpoints)) or ["updated"]))
    if before.issued_certificates != after.issued_certificates:
        parts.append("issued certificates recorded: %d" % len(after.issued_certificates))
    changed_data = sorted(k for k in set(before.data) | set(after.data) if before.data.get(k) != after.data.get(k))
    if changed_data:
        parts.append("data %s" % ", ".join(changed_data))
    text = "; ".join(parts) or "no visible change"
    if len(text) > SUMMARY_LIMIT:
        text = text[:SUMMARY_LIMIT - 3] + "..."
    return text


def _cut(text, limit):
    if isinstance(text, str) and len(text) > limit:
        return text[:limit - 3] + "..."
    return text


def make_record(before, after, made_by=None, now=None):
    """The record a new generation carries: module, summary, time, note (ansible_target_log_info).

    The note is any text a play sets: it is cut at MAX_NOTE_CHARS, so no note can make settings.json larger
    than its readers accept.
    """
    made_by = made_by or {}
    return {"module": _cut(made_by.get("module"), MAX_NOTE_CHARS), "summary": summarize(before, after),
            "time": (now or _certs.utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "note": _cut(made_by.get("note"), MAX_NOTE_CHARS)}
