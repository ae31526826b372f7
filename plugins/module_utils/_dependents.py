# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What depends on each trusted store (TCS) entry, and the refusal to remove one that is in use.

A TCS entry is *in use* when removing it would break something the system relies on:

- ``identity_chain``: the system or telephony identity's chain to its root goes through it (the chain
  the system offers in TLS, and the one peers build).
- ``pinned_peer``: a leaf (non-CA) entry is a peer certificate pinned for the check levels that pin
  (``high``, ``high_remote``, a line at ``high``); the pinned leaf itself and every CA entry it chains to
  are needed while such a level is set.
- ``preflight_endpoint``: a preflight endpoint last verified through this store (what it presented,
  recorded when its preflight passed) chains through it, and its setting still checks chains
  (medium and above).
- ``issued_certificate``: a certificate the system CA issued (issued_certificate records them) chains
  to it and has not expired.

``dependents(state)`` maps each entry's fingerprint to those dependents; security_info returns them
per entry, the audit renders them per root, and ``check_removal`` (called by ``_trusted.apply_request``,
the one function that removes TCS entries) refuses a removal of an entry in use with
``trusted_entry_in_use`` unless ``allow_in_use`` is set, which lets it through with a warning naming them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError

PINNING_LEVELS = ("high", "high_remote")
CHAIN_LEVELS = ("medium", "high", "medium_remote", "high_remote")
LEVEL_OPTIONS = (("management", "management_interfaces"), ("telephony", "telephony_endpoints"))
KINDS = ("identity_chain", "pinned_peer", "preflight_endpoint", "issued_certificate")
MAX_RECORDS = 100


def _stamp(now=None):
    return (now or _certs.utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def dependents(state, now=None):
    """fingerprint -> [dependent] for every TCS entry (an empty list when nothing depends on it)."""
    now = now or _certs.utcnow()
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
        dependent = {"kind": "pinned_peer", "subject": leaf.subject.rfc4514_string(),
                     "sha256": _certs.fingerprint(leaf), "settings": settings, "purpose": leaf_purpose(leaf)}
        dependent["description"] = "the pinned peer certificate %s (sha256 %s) checked at %s" % (
            dependent["subject"], dependent["sha256"], ", ".join(settings))
        for cert in [leaf] + _certs.build_chain(leaf, trusted):
            _add(result, _certs.fingerprint(cert), dependent)
    levels = _levels(state)
    for record in state.verified_endpoints:
        option_level = levels.get(record.get("setting"))
        if option_level is None or option_level[1] not in CHAIN_LEVELS:
            continue  # the setting no longer checks chains (or the line is gone): nothing relies on the entry
        dependent = {"kind": "preflight_endpoint", "endpoint": record.get("endpoint"),
                     "setting": record.get("setting"), "level": option_level[1], "subject": record.get("subject"),
                     "sha256": record.get("sha256"), "verified": record.get("verified"),
                     "host": record.get("host"), "port": record.get("port"),
                     "server_name": record.get("server_name"), "purpose": record.get("purpose") or "server"}
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


def with_dependents(info, found):
    """An entry's info dict with its dependents (what security_info returns per trusted entry)."""
    info["dependents"] = list(found.get(info["sha256"], []))
    return info


# ---------------------------------------------------------------------------------------- recording


def record_preflight(state, results, now=None):
    """Remember what each endpoint that passed its preflight presented (replacing its earlier record)."""
    stamp = _stamp(now)
    records = list(state.verified_endpoints)
    for item in results:
        if not item.get("evaluated") or not item.get("passed") or not item.get("trust_path"):
            continue
        record = {"endpoint": item["endpoint"], "setting": item["setting"], "host": item["host"],
                  "port": item["port"], "server_name": item.get("server_name"), "purpose": item.get("purpose"),
                  "level": item["level"], "subject": item["certificate"]["subject"],
                  "sha256": item["certificate"]["sha256"], "chain": list(item.get("chain") or []),
                  "trust_path": list(item["trust_path"]), "verified": stamp}
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


def check_removal(state, removing, allow_in_use=False, option="certificates"):
    """Refuse (or, with allow_in_use, warn about) removing TCS entries that something depends on.

    ``removing`` is the certificates about to be removed from ``state`` (not yet removed).  Returns
    (in_use, warnings): in_use is [{sha256, subject, dependents}] for the entries in use.
    """
    if not removing:
        return [], []
    found = dependents(state)
    in_use = []
    for cert in sorted(removing, key=_certs.fingerprint):
        fp = _certs.fingerprint(cert)
        if found.get(fp):
            in_use.append((cert, found[fp]))
    if not in_use:
        return [], []
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
    return details, warnings
