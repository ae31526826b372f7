# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What depends on each trusted store (TCS) entry, and the refusal to remove one that is in use.

A TCS entry is *in use* when removing it would break something the system relies on:

- ``identity_chain``: the system or telephony identity's chain to its root goes through it (the chain
  the system offers in TLS, and the one peers build).
- ``pinned_peer``: a leaf (non-CA) entry is a peer certificate pinned for the check levels that pin
  (``high``, ``high_remote``, a line at ``high``); every CA entry it chains to is needed while such a
  level is set.  A pinned certificate is never its own dependent: whether the peer still presents it is
  what a preflight record says.
- ``preflight_endpoint``: a preflight endpoint last verified through this store (what it presented,
  recorded when its preflight passed) chains through it, and its setting still checks chains
  (medium and above).  A record is replaced whenever its endpoint and setting are verified again, and
  one older than the store setting ``dependents_max_age_days`` no longer holds anything (a removal it
  would have blocked names it in a warning).
- ``issued_certificate``: a certificate the system CA issued (issued_certificate records them) chains
  to it and has not expired.

``dependents(state)`` maps each entry's fingerprint to those dependents; security_info returns them
per entry, the audit renders them per root, and ``check_removal`` (called by ``_trusted.apply_request``,
the one function that removes TCS entries) refuses a removal of an entry in use with
``trusted_entry_in_use`` unless ``allow_in_use`` is set, which lets it through with a warning naming them.
``planned_removal`` is the same check on a planned state (security_settings: what the run produces), and
``retire`` removes the retired entries nothing depends on any more, reporting the others with their
dependents.  ``ca_dependents`` is what a new internal CA would leave behind (security_settings' ``ca``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    DEFAULT_DEPENDENTS_MAX_AGE_DAYS,
    SecurityError,
)

PINNING_LEVELS = ("high", "high_remote")
CHAIN_LEVELS = ("medium", "high", "medium_remote", "high_remote")
LEVEL_OPTIONS = (("management", "management_interfaces"), ("telephony", "telephony_endpoints"))
KINDS = ("identity_chain", "pinned_peer", "preflight_endpoint", "issued_certificate")
MAX_RECORDS = 100


def _stamp(now=None):
    return (now or _certs.utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")


def _made(record):
    """When a preflight record was made (None when it carries no readable time)."""
    try:
        return datetime.datetime.strptime(record.get("verified") or "", "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def record_age_days(record, now=None):
    """A preflight record's age in whole days (None when it carries no readable time)."""
    made = _made(record)
    if made is None:
        return None
    return max(0, int(((now or _certs.utcnow()) - made).total_seconds() // 86400))


def max_age_of(state):
    return getattr(state, "dependents_max_age_days", None) or DEFAULT_DEPENDENTS_MAX_AGE_DAYS


def is_stale(record, max_age_days, now=None):
    """Older than max_age_days: the record no longer holds the entries it was verified through.

    A record whose time cannot be read is never stale (it keeps holding: the safe side)."""
    made = _made(record)
    return made is not None and (now or _certs.utcnow()) - made > datetime.timedelta(days=max_age_days)


def _levels(state):
    """setting name (as preflight names them) -> (option label, level) for every level setting."""
    checks = state.settings["checks"]
    result = {}
    for name, option in LEVEL_OPTIONS:
        result[name] = (option, checks[option])
    for line in checks.get("ip_office_lines") or []:
        result["line:" + line["name"]] = ("lines[%s]" % line["name"], line["check_level"])
    return result


def pinning_settings(state):
    """The level settings that pin peer certificates now, as 'option (level)' labels."""
    return ["%s (%s)" % (option, level) for _name, (option, level) in sorted(_levels(state).items())
            if level in PINNING_LEVELS]


def pinned_leaves(state):
    """The TCS entries that are peer certificates pinned at a high level (non-CA, not our own identity)."""
    if not pinning_settings(state):
        return []
    own = set(c.fingerprint for c in (state.identity, state.telephony) if c is not None)
    return [c for c in state.trusted_certificates() if not _certs.is_ca(c) and _certs.fingerprint(c) not in own]


def leaf_purpose(cert):
    """The purpose a pinned leaf is for, from its EKU (what re-verifying it against a new root uses)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "server"
    if ExtendedKeyUsageOID.SERVER_AUTH in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages:
        return "server"
    if ExtendedKeyUsageOID.CLIENT_AUTH in usages:
        return "client"
    return "sip_server"


def _add(result, fp, dependent):
    if fp in result and dependent not in result[fp]:
        result[fp].append(dependent)


def dependents(state, now=None, exclude=()):
    """fingerprint -> [dependent] for every TCS entry (an empty list when nothing depends on it).

    ``exclude``: fingerprints of entries that go in the same change; a pinned leaf among them is no
    dependent of the CA entries it chains to.  Preflight records older than the store's
    dependents_max_age_days are not dependents (``stale_holders`` names them).
    """
    now = now or _certs.utcnow()
    max_age = max_age_of(state)
    trusted = state.trusted_certificates()
    result = dict((fp, []) for fp in sorted(state.trusted))
    for purpose, credential in (("system", state.identity), ("telephony", state.telephony)):
        if credential is None:
            continue
        dependent = {"kind": "identity_chain", "purpose": purpose, "subject": credential.cert.subject.rfc4514_string(),
                     "sha256": credential.fingerprint}
        dependent["description"] = "the %s identity %s (its chain to the root, offered in TLS and built by " \
            "peers)" % (purpose, dependent["subject"])
        for cert in state.chain_for(credential):
            _add(result, _certs.fingerprint(cert), dependent)
    settings = pinning_settings(state)
    for leaf in pinned_leaves(state):
        if _certs.fingerprint(leaf) in exclude:
            continue
        dependent = {"kind": "pinned_peer", "subject": leaf.subject.rfc4514_string(),
                     "sha256": _certs.fingerprint(leaf), "settings": settings, "purpose": leaf_purpose(leaf)}
        dependent["description"] = "the pinned peer certificate %s (sha256 %s) checked at %s" % (
            dependent["subject"], dependent["sha256"], ", ".join(settings))
        # Not the leaf itself: a pin is needed while its peer presents it, which only a preflight record shows.
        for cert in _certs.build_chain(leaf, trusted):
            _add(result, _certs.fingerprint(cert), dependent)
    levels = _levels(state)
    for record in state.verified_endpoints:
        option_level = levels.get(record.get("setting"))
        if option_level is None or option_level[1] not in CHAIN_LEVELS:
            continue  # the setting no longer checks chains (or the line is gone): nothing relies on the entry
        if is_stale(record, max_age, now):
            continue  # too old to say what the endpoint presents now (stale_holders names it)
        dependent = {"kind": "preflight_endpoint", "endpoint": record.get("endpoint"),
                     "setting": record.get("setting"), "level": option_level[1], "subject": record.get("subject"),
                     "sha256": record.get("sha256"), "verified": record.get("verified"),
                     "age_days": record_age_days(record, now),
                     "host": record.get("host"), "port": record.get("port"),
                     "server_name": record.get("server_name"), "purpose": record.get("purpose") or "server",
                     "peer_name": record.get("peer_name"), "sip_domain": record.get("sip_domain")}
        dependent["description"] = "the preflight endpoint %s presenting %s, verified through this store on %s" % (
            dependent["endpoint"], dependent["subject"], dependent["verified"])
        for fp in record.get("trust_path") or []:
            _add(result, fp, dependent)
    for record in state.issued_certificates:
        if (record.get("not_after") or "") < _stamp(now):
            continue
        dependent = {"kind": "issued_certificate", "subject": record.get("subject"), "sha256": record.get("sha256"),
                     "not_after": record.get("not_after"), "path": record.get("path")}
        dependent["description"] = "the certificate %s issued by the system CA (For Different Machine, %s), " \
            "valid until %s" % (dependent["subject"], dependent["path"], dependent["not_after"])
        for fp in record.get("issuer_chain") or []:
            _add(result, fp, dependent)
    return result


def stale_holders(state, fingerprints, now=None):
    """fingerprint -> [record] for the preflight records older than dependents_max_age_days that would
    otherwise hold these entries (their setting still checks chains)."""
    now = now or _certs.utcnow()
    max_age = max_age_of(state)
    levels = _levels(state)
    wanted = set(fingerprints)
    result = {}
    for record in state.verified_endpoints:
        option_level = levels.get(record.get("setting"))
        if option_level is None or option_level[1] not in CHAIN_LEVELS or not is_stale(record, max_age, now):
            continue
        for fp in record.get("trust_path") or []:
            if fp in wanted and record not in result.setdefault(fp, []):
                result[fp].append(record)
    return result


def stale_warnings(state, certs, now=None):
    """One warning per stale preflight record that no longer held an entry being removed (naming it)."""
    now = now or _certs.utcnow()
    found = stale_holders(state, [_certs.fingerprint(c) for c in certs], now)
    warnings = []
    for cert in sorted(certs, key=_certs.fingerprint):
        for record in found.get(_certs.fingerprint(cert), []):
            warnings.append(
                "the preflight record of %s (presenting %s, verified %s, %s days ago) is older than "
                "dependents_max_age_days (%d), so it no longer holds the trusted certificate %s (sha256 %s), which "
                "goes; list the endpoint in checks.preflight to verify it again if it still relies on it."
                % (record.get("endpoint"), record.get("subject"), record.get("verified"),
                   record_age_days(record, now), max_age_of(state), cert.subject.rfc4514_string(),
                   _certs.fingerprint(cert)))
    return warnings


def records_view(state, now=None):
    """Every preflight record with its age and whether it still holds entries (security_info)."""
    now = now or _certs.utcnow()
    max_age = max_age_of(state)
    levels = _levels(state)
    result = []
    for record in state.verified_endpoints:
        option_level = levels.get(record.get("setting"))
        stale = is_stale(record, max_age, now)
        result.append({"endpoint": record.get("endpoint"), "setting": record.get("setting"),
                       "level": record.get("level"), "subject": record.get("subject"), "sha256": record.get("sha256"),
                       "trust_path": list(record.get("trust_path") or []), "verified": record.get("verified"),
                       "age_days": record_age_days(record, now), "stale": stale,
                       "holds": not stale and option_level is not None and option_level[1] in CHAIN_LEVELS})
    return result


def with_dependents(info, found):
    """An entry's info dict with its dependents (what security_info returns per trusted entry)."""
    info["dependents"] = list(found.get(info["sha256"], []))
    return info


# ---------------------------------------------------------------------------------------- recording


def _same_record(old, new):
    return dict((k, v) for k, v in old.items() if k != "verified") == \
        dict((k, v) for k, v in new.items() if k != "verified")


def record_preflight(state, results, now=None):
    """Remember what each endpoint that passed its preflight presented (replacing its earlier record).

    A verification that finds what the record already says keeps the record as it is (so a rerun changes
    nothing), unless the record is older than dependents_max_age_days: then its time is renewed.
    """
    now = now or _certs.utcnow()
    stamp = _stamp(now)
    max_age = max_age_of(state)
    records = list(state.verified_endpoints)
    for item in results:
        if not item.get("evaluated") or not item.get("passed") or not item.get("trust_path"):
            continue
        record = {"endpoint": item["endpoint"], "setting": item["setting"], "host": item["host"],
                  "port": item["port"], "server_name": item.get("server_name"), "purpose": item.get("purpose"),
                  "peer_name": item.get("peer_name"), "sip_domain": item.get("sip_domain"),
                  "level": item["level"], "subject": item["certificate"]["subject"],
                  "sha256": item["certificate"]["sha256"], "chain": list(item.get("chain") or []),
                  "trust_path": list(item["trust_path"]), "verified": stamp}
        old = [r for r in records if r.get("endpoint") == record["endpoint"]]
        if len(old) == 1 and _same_record(old[0], record) and not is_stale(old[0], max_age, now):
            continue
        records = [r for r in records if r.get("endpoint") != record["endpoint"]] + [record]
    state.verified_endpoints = records[-MAX_RECORDS:]


def record_issued(state, cert, chain, path, now=None):
    """Remember a certificate the system CA issued (one record per output path; expired ones dropped)."""
    stamp = _stamp(now)
    record = {"subject": cert.subject.rfc4514_string(), "sha256": _certs.fingerprint(cert),
              "not_after": _stamp(cert.not_valid_after_utc), "path": path,
              "issuer_chain": [_certs.fingerprint(c) for c in chain], "issued": stamp}
    kept = [r for r in state.issued_certificates if r.get("path") != path and (r.get("not_after") or "") >= stamp]
    state.issued_certificates = (kept + [record])[-MAX_RECORDS:]


def trust_path(presented, trusted):
    """Fingerprints of the path a presented chain takes through the TCS: leaf, its chain, up to the root."""
    if not presented:
        return []
    path = [presented[0]] + _certs.build_chain(presented[0], list(presented[1:]) + list(trusted))
    return [_certs.fingerprint(c) for c in path]


# ------------------------------------------------------------------------------------------ removal


def _entry_text(cert, found):
    return "%s (sha256 %s) is used by %s" % (cert.subject.rfc4514_string(), _certs.fingerprint(cert),
                                             "; ".join(d["description"] for d in found))


def check_removal(state, removing, allow_in_use=False, option="certificates", now=None):
    """Refuse (or, with allow_in_use, warn about) removing TCS entries that something depends on.

    ``removing`` is the certificates about to be removed from ``state`` (not yet removed); a pinned leaf
    among them is no dependent of the others.  Returns (in_use, warnings): in_use is
    [{sha256, subject, dependents}] for the entries in use; the warnings also name the stale preflight
    records that no longer held them.
    """
    if not removing:
        return [], []
    now = now or _certs.utcnow()
    found = dependents(state, now, exclude=set(_certs.fingerprint(c) for c in removing))
    stale = stale_warnings(state, removing, now)
    in_use = []
    for cert in sorted(removing, key=_certs.fingerprint):
        fp = _certs.fingerprint(cert)
        if found.get(fp):
            in_use.append((cert, found[fp]))
    if not in_use:
        return [], stale
    details = [{"sha256": _certs.fingerprint(c), "subject": c.subject.rfc4514_string(), "dependents": deps}
               for c, deps in in_use]
    if not allow_in_use:
        raise SecurityError(
            "trusted_entry_in_use",
            "%s: removing %d trusted certificate(s) would break what depends on them, so nothing was changed: %s. "
            "Move each dependent off the entry first (reissue or re-import the identity under the new root, pin "
            "the peer's new certificate, verify the preflight endpoints against the new root), keep the entry in "
            "'%s', or set 'allow_in_use: true' to remove it anyway."
            % (state.system_name, len(in_use), " | ".join(_entry_text(c, deps) for c, deps in in_use), option),
            option="allow_in_use", in_use=details)
    # run_module names the system in front of every warning.
    warnings = ["removed trusted certificate %s (sha256 %s) although it is in use (allow_in_use: true); "
                "these lose it: %s." % (c.subject.rfc4514_string(), _certs.fingerprint(c),
                                        "; ".join(d["description"] for d in deps))
                for c, deps in in_use]
    return details, warnings + stale


def planned_removal(state, removed, allow_in_use=False, option="certificates", now=None):
    """check_removal for entries already removed from a planned state: judged on that state with them put
    back, so what the plan moved off them (a reissued identity, a re-verified endpoint) no longer counts."""
    if not removed:
        return [], []
    judged = state.copy()
    for cert in removed:
        judged.trusted[_certs.fingerprint(cert)] = cert
    return check_removal(judged, removed, allow_in_use, option, now)


# ---------------------------------------------------------------------------------------- retirement


def retire(state, fingerprints, now=None):
    """Remove the retired entries nothing depends on any more; report the others.

    Entries retired together do not hold each other (a retired pin does not hold its retired root), unless
    one of them stays.  Returns (removed certificates, retiring, warnings): retiring is one item per retired
    entry that stays, {sha256, subject, blocked_by: [dependent]} (the dependents as trusted_entry_in_use names
    them).
    """
    now = now or _certs.utcnow()
    candidates = []
    for fp in fingerprints:
        if fp in state.trusted and fp not in candidates:
            candidates.append(fp)
    removable = set(candidates)
    while True:
        found = dependents(state, now, exclude=removable)
        blocked = set(fp for fp in removable if found.get(fp))
        if not blocked:
            break
        removable -= blocked
    retiring = []
    warnings = []
    for fp in sorted(candidates):
        if fp in removable:
            continue
        cert = state.trusted[fp]
        item = {"sha256": fp, "subject": cert.subject.rfc4514_string(), "blocked_by": list(found[fp])}
        retiring.append(item)
        warnings.append("the retired trusted certificate %s (sha256 %s) stays while it is in use: %s."
                        % (item["subject"], fp, "; ".join(d["description"] for d in item["blocked_by"])))
    going = [state.trusted[fp] for fp in sorted(removable)]
    warnings.extend(stale_warnings(state, going, now))
    removed = state.remove_trusted([_certs.fingerprint(c) for c in going])
    return removed, retiring, warnings


# ------------------------------------------------------------------------------------- the system CA


def ca_dependents(state, ca_cert, now=None):
    """What a new internal CA leaves behind: the certificates the current one issued that are not
    reissued with it (issued_certificate outputs) and the pinned peers that chain to it."""
    judged = state.copy()
    fp = _certs.fingerprint(ca_cert)
    judged.trusted[fp] = ca_cert
    found = dependents(judged, now)
    return [d for d in found.get(fp, []) if d["kind"] in ("issued_certificate", "pinned_peer")]
