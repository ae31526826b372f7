# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet audit's findings: what systems report, judged against a policy, as one JSON-able report.

Runs on the controller (the ``ipoffice.security.audit_*`` filters and the ``audit`` role call it).
Inputs are the results modules already return: ``security_info`` for each system and, optionally,
``certificate_verify`` results for the endpoints listed for it.  A policy says what is acceptable.
Rendering the report (JSON, JUnit XML, HTML) is ``_audit_render``.

Every finding is a dict ``{system, check, code, severity, message, subject?, sha256?, endpoint?}`` with a
stable ``code``; a report is a plain JSON-able dict, so it can be written, read back and rendered again.

The verdict is decided here, once (``summary.verdict``): ``failed`` when a finding that ``fail_on``
selects exists (default: every error finding), ``not_enforced`` when error findings exist that
``fail_on`` does not select, ``passed`` otherwise.  Every rendering and the role read it from the report.

Level tables (check levels, security levels, line levels) and the trusted store limit come from the
settings model (``module_utils._model``) and the check engine's level definitions
(``module_utils._checks_settings``); nothing about levels is defined here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import difflib

from ansible_collections.ipoffice.security.plugins.module_utils import _checks_settings, _findings, _model
from ansible_collections.ipoffice.security.plugins.plugin_utils import _audit_roots

TRUSTED_STORE_LIMIT = _model.TRUSTED_STORE_LIMIT

# The settings a minimum level can be asked for, with the model's definition of their values.
# ip_office_lines is judged per line, against the line's check_level.
LEVEL_SETTINGS = {
    "management_interfaces": _model.setting("checks", "management_interfaces"),
    "telephony_endpoints": _model.setting("checks", "telephony_endpoints"),
    "h323_security_level": _model.setting("checks", "h323_security_level"),
    "sip_security_level": _model.setting("checks", "sip_security_level"),
    "ip_office_lines": _model.LINE_FIELDS["check_level"],
}
# Received-certificate check levels are compared by the checks they run (the remote levels are not
# "above" high in a line); the TLS security levels and the line levels by their order in the model.
CHECK_LEVEL_SETTINGS = ("management_interfaces", "telephony_endpoints")

# The checks of an audit, in report order (the findings registry's).  Endpoint checks are added per endpoint
# as 'endpoint:<name>' and live read-back per endpoint as 'live:<host:port>'.
CHECKS = _findings.SYSTEM_CHECKS

SEVERITIES = _findings.SEVERITIES

# Finding codes, each with its check and default severity: the findings registry (module_utils/_findings.py,
# docs/findings.md).  Stable: audit_fail_on, audit_policy.severities and CI systems use them.  Every finding
# security_info reports reaches the audit under its registered check, with its severity.
CODES = dict((code, (entry.check, entry.severity)) for code, entry in _findings.REGISTRY.items())


def finding_codes():
    """Every finding code an audit can produce, with its (check, default severity)."""
    return dict(CODES)


DEFAULT_POLICY = {
    # Minimum received-certificate check levels and TLS security levels; a setting left out is not checked.
    "minimum_levels": {
        "management_interfaces": "medium",
        "telephony_endpoints": "medium",
        "h323_security_level": "high",
        "sip_security_level": "high",
        "ip_office_lines": "medium",
    },
    # Warn about certificates expiring within this many days; null: each system's own
    # Certificate Expiry Warning Days.
    "expiry_days": None,
    # Signature hashes that count as weak (matched in the signature algorithm's name).
    "weak_signature_hashes": ["md5", "sha1"],
    # Self-signed roots in the trusted store are trust anchors: their own signature is never checked by
    # a peer, so by default it is not judged either.
    "check_trust_anchor_signatures": False,
    "minimum_rsa_bits": 2048,
    "minimum_ec_bits": 256,
    # Warn when the trusted store holds more entries than this (the store's hard limit, TRUSTED_STORE_LIMIT).
    "max_trusted_certificates": 20,
    # Severity per finding code over the registry's defaults (error, warning or info), e.g. {self_signed: error}.
    "severities": {},
}


class AuditError(ValueError):
    """Bad audit input (policy key, fail_on value): the message names what to change."""


# ------------------------------------------------------------------------------------------ policy


def policy_with_defaults(policy=None):
    """The effective policy: DEFAULT_POLICY updated with the given keys (unknown keys are an error)."""
    result = copy.deepcopy(DEFAULT_POLICY)
    policy = policy or {}
    if not isinstance(policy, dict):
        raise AuditError("The audit policy must be a dictionary, got %s. Change 'audit_policy'."
                         % type(policy).__name__)
    unknown = sorted(set(policy) - set(DEFAULT_POLICY))
    if unknown:
        raise AuditError("Unknown audit policy key(s): %s; known keys: %s. Change 'audit_policy'."
                         % (", ".join(unknown), ", ".join(sorted(DEFAULT_POLICY))))
    for key, value in policy.items():
        if key == "minimum_levels":
            result[key] = _minimum_levels(value)
        elif key == "expiry_days":
            result[key] = None if value is None else _int(key, value, 0)
        elif key in ("minimum_rsa_bits", "minimum_ec_bits"):
            result[key] = _int(key, value, 0)
        elif key == "max_trusted_certificates":
            result[key] = _int(key, value, 0, TRUSTED_STORE_LIMIT)
        elif key == "weak_signature_hashes":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise AuditError("audit_policy.weak_signature_hashes must be a list of hash names such as "
                                 "[md5, sha1]. Change 'audit_policy'.")
            result[key] = [v.lower() for v in value]
        elif key == "severities":
            result[key] = _severities(value)
        elif key == "check_trust_anchor_signatures":
            if not isinstance(value, bool):
                raise AuditError("audit_policy.check_trust_anchor_signatures must be true or false. "
                                 "Change 'audit_policy'.")
            result[key] = value
    return result


def _severities(value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AuditError("audit_policy.severities must be a dictionary of finding code: severity (%s). Change "
                         "'audit_policy'." % ", ".join(SEVERITIES))
    result = {}
    for code, severity in value.items():
        if code not in CODES:
            raise AuditError("audit_policy.severities: unknown finding code %r%s; the codes are in docs/findings.md. "
                             "Change 'audit_policy'." % (code, _did_you_mean(code, CODES)))
        if severity not in SEVERITIES:
            raise AuditError("audit_policy.severities.%s must be one of %s, got %r. Change 'audit_policy'."
                             % (code, ", ".join(SEVERITIES), severity))
        result[code] = severity
    return result


def _did_you_mean(value, known):
    close = difflib.get_close_matches(str(value), sorted(known), n=1)
    return " (did you mean '%s'?)" % close[0] if close else ""


def _int(key, value, minimum, maximum=None):
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            raise AuditError("audit_policy.%s must be an integer, got %r. Change 'audit_policy'." % (key, value))
    if value < minimum or (maximum is not None and value > maximum):
        raise AuditError("audit_policy.%s must be %s, got %d. Change 'audit_policy'."
                         % (key, ("from %d to %d" % (minimum, maximum)) if maximum is not None
                            else "at least %d" % minimum, value))
    return value


def _minimum_levels(value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AuditError("audit_policy.minimum_levels must be a dictionary of setting: level. Change 'audit_policy'.")
    result = {}
    for name, level in value.items():
        definition = LEVEL_SETTINGS.get(name)
        if definition is None:
            raise AuditError("audit_policy.minimum_levels: unknown setting '%s'; use %s. Change 'audit_policy'."
                             % (name, ", ".join(sorted(LEVEL_SETTINGS))))
        if level is None:
            continue
        if level not in definition.choices:
            raise AuditError("audit_policy.minimum_levels.%s must be one of %s, got %r. Change 'audit_policy'."
                             % (name, ", ".join(definition.choices), level))
        result[name] = level
    return result


def level_satisfies(name, actual, minimum):
    """Whether setting ``name``'s configured level is at least the minimum.

    A received-certificate check level must run every check of the minimum (the check engine's level
    definitions); the other levels compare by their order in the settings model.
    """
    choices = LEVEL_SETTINGS[name].choices
    if actual not in choices:
        return False
    if name in CHECK_LEVEL_SETTINGS:
        return _checks_settings.checks_of(minimum) <= _checks_settings.checks_of(actual)
    return choices.index(actual) >= choices.index(minimum)


def normalize_fail_on(fail_on):
    """audit_fail_on as a list of selectors: finding codes, check names, severities or 'any'."""
    if fail_on in (None, "", []):
        return []
    if isinstance(fail_on, str):
        fail_on = [part.strip() for part in fail_on.split(",") if part.strip()]
    if not isinstance(fail_on, (list, tuple)):
        raise AuditError("audit_fail_on must be a list of finding codes, checks or severities. "
                         "Change 'audit_fail_on'.")
    codes = finding_codes()
    checks = CHECKS + ("endpoint", "live")
    known = set(codes) | set(checks) | set(SEVERITIES) | {"any"}
    result = []
    for item in fail_on:
        if not isinstance(item, str) or (item not in known and not item.startswith(("endpoint:", "live:"))):
            raise AuditError("audit_fail_on: unknown value %r%s; use 'any', a severity (%s), a check (%s) or a "
                             "finding code (docs/findings.md). Change 'audit_fail_on'."
                             % (item, _did_you_mean(item, known), ", ".join(SEVERITIES), ", ".join(checks)))
        result.append(item)
    return result


def finding_matches(finding, selectors):
    for selector in selectors:
        if selector == "any" or selector in (finding["code"], finding["severity"], finding["check"]):
            return True
        if selector in ("endpoint", "live") and finding["check"].startswith(selector + ":"):
            return True
    return False


# ----------------------------------------------------------------------------------------- helpers


def parse_time(value):
    """An ISO 8601 UTC time as returned by the modules ('2030-01-02T03:04:05Z') -> aware datetime."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def days_between(now, then):
    """Whole days from now until then, negative when past (the modules' days_left rule)."""
    return int((then - now).total_seconds() // 86400)


def _finding(system, code, message, check=None, **extra):
    default_check, severity = finding_codes()[code]
    item = {"system": system, "check": check or default_check, "code": code, "severity": severity,
            "message": message}
    item.update(dict((k, v) for k, v in extra.items() if v is not None))
    return item


# What the report keeps of each certificate (security_info's parsed fields).
CERTIFICATE_FIELDS = ("subject", "common_name", "issuer", "not_before", "not_after", "key_type", "key_bits",
                      "key_curve", "signature_algorithm", "self_signed", "is_ca", "sha256")


def system_certificates(info, generated):
    """Every certificate a system stores, once per place: identity, telephony, ca, trusted."""
    result = []
    seen = set()

    def add(where, cert):
        if not cert:
            return
        key = (where, cert.get("sha256"))
        if key in seen:
            return
        seen.add(key)
        entry = dict((k, cert.get(k)) for k in CERTIFICATE_FIELDS)
        entry["where"] = where
        try:
            entry["days_left"] = days_between(generated, parse_time(cert["not_after"]))
        except (KeyError, TypeError, ValueError):
            entry["days_left"] = cert.get("days_left")
        result.append(entry)

    add("identity", info.get("identity"))
    add("telephony", info.get("telephony_identity"))
    add("ca", info.get("ca"))
    for cert in info.get("trusted") or []:
        add("trusted", cert)
    return result


def _label(cert):
    return "%s certificate %s" % (cert["where"], cert.get("subject") or cert.get("sha256"))


# ------------------------------------------------------------------------------------------ checks


def check_levels(system, settings, policy):
    findings = []
    checks = settings.get("checks") or {}
    for name, minimum in sorted(policy["minimum_levels"].items()):
        if name == "ip_office_lines":
            for line in checks.get("ip_office_lines") or []:
                actual = line.get("check_level", "none")
                if not level_satisfies(name, actual, minimum):
                    findings.append(_finding(
                        system, "level_below_minimum",
                        "IP Office line '%s' checks received certificates at '%s'; the policy asks for at least "
                        "'%s'." % (line.get("name"), actual, minimum),
                        setting="ip_office_lines", line=line.get("name"), actual=actual, minimum=minimum))
            continue
        actual = checks.get(name)
        if not level_satisfies(name, actual, minimum):
            findings.append(_finding(
                system, "level_below_minimum",
                "%s is '%s'; the policy asks for at least '%s'." % (name, actual, minimum),
                setting=name, actual=actual, minimum=minimum))
    return findings


def check_expiry(system, certificates, days):
    findings = []
    for cert in certificates:
        left = cert.get("days_left")
        if left is None:
            continue
        if left < 0:
            findings.append(_finding(system, "certificate_expired", "The %s expired on %s (%d days ago)."
                                     % (_label(cert), cert.get("not_after"), -left),
                                     subject=cert.get("subject"), sha256=cert.get("sha256"), where=cert["where"],
                                     days_left=left))
        elif left < days:
            findings.append(_finding(system, "certificate_expiring", "The %s expires on %s, in %d days (within %d)."
                                     % (_label(cert), cert.get("not_after"), left, days),
                                     subject=cert.get("subject"), sha256=cert.get("sha256"), where=cert["where"],
                                     days_left=left))
    return findings


def is_weak_signature(algorithm, weak_hashes):
    name = (algorithm or "").lower().replace("-", "").replace("_", "")
    for weak in weak_hashes:
        weak = weak.lower().replace("-", "")
        # 'sha1' must not match inside 'sha128' style names: require it not to be followed by a digit.
        index = name.find(weak)
        while index >= 0:
            after = name[index + len(weak):index + len(weak) + 1]
            if not after.isdigit():
                return True
            index = name.find(weak, index + 1)
    return False


def check_signatures(system, certificates, policy):
    findings = []
    for cert in certificates:
        if cert["where"] == "trusted" and cert.get("self_signed") and not policy["check_trust_anchor_signatures"]:
            continue
        if is_weak_signature(cert.get("signature_algorithm"), policy["weak_signature_hashes"]):
            findings.append(_finding(system, "weak_signature", "The %s is signed with %s, a weak signature."
                                     % (_label(cert), cert.get("signature_algorithm")),
                                     subject=cert.get("subject"), sha256=cert.get("sha256"), where=cert["where"],
                                     signature_algorithm=cert.get("signature_algorithm")))
    return findings


def check_keys(system, certificates, policy):
    findings = []
    for cert in certificates:
        key_type, bits = cert.get("key_type"), cert.get("key_bits")
        if bits is None:
            continue
        if key_type in ("RSA", "DSA"):
            minimum = policy["minimum_rsa_bits"]
        elif key_type == "EC":
            minimum = policy["minimum_ec_bits"]
        else:  # Ed25519/Ed448 are strong enough (docs/check-levels.md)
            continue
        if bits < minimum:
            findings.append(_finding(system, "weak_key", "The %s has a %d-bit %s key; the policy asks for at least %d."
                                     % (_label(cert), bits, key_type, minimum),
                                     subject=cert.get("subject"), sha256=cert.get("sha256"), where=cert["where"],
                                     key_type=key_type, key_bits=bits))
    return findings


def check_trusted_store(system, info, policy):
    count = info.get("trusted_count")
    if count is None:
        count = len(info.get("trusted") or [])
    limit = policy["max_trusted_certificates"]
    if count > limit:
        return [_finding(system, "trusted_store_size", "The trusted certificate store holds %d certificates; the "
                         "policy allows %d (the store's limit is %d)." % (count, limit, TRUSTED_STORE_LIMIT),
                         count=count, limit=limit)]
    return []


def _endpoint_definition(result):
    item = result.get("item")
    if isinstance(item, dict):
        return item
    return result.get("endpoint") if isinstance(result.get("endpoint"), dict) else {}


def endpoint_name(result):
    definition = _endpoint_definition(result)
    if definition.get("name"):
        return str(definition["name"])
    host, port = definition.get("host"), definition.get("port")
    if host:
        return "%s:%s" % (host, port) if port else str(host)
    if isinstance(result.get("endpoint"), str) and result["endpoint"]:
        return result["endpoint"]  # certificate_verify's own "host:port"
    return "endpoint"


def _finding_codes(findings):
    codes = []
    for item in findings or []:
        if isinstance(item, dict):
            codes.append((item.get("code"), item.get("message")))
        elif isinstance(item, (list, tuple)) and item:
            codes.append((item[0], item[1] if len(item) > 1 else ""))
    return codes


def check_endpoint(system, result):
    """certificate_verify's result for one endpoint -> (endpoint summary, findings)."""
    name = endpoint_name(result)
    definition = _endpoint_definition(result)
    check = "endpoint:" + name
    summary = {"name": name, "host": definition.get("host"), "port": definition.get("port"),
               "level": result.get("level") or definition.get("level"),
               "purpose": result.get("purpose") or definition.get("purpose")}
    cert = result.get("certificate") if isinstance(result.get("certificate"), dict) else None
    if cert:
        summary["certificate"] = dict((k, cert.get(k)) for k in ("subject", "not_after", "sha256"))
    if result.get("skipped"):
        summary["status"] = "skipped"
        return summary, []
    # No verdict: the module failed (refused, timed out, not TLS); under failed_when: false 'failed' is false.
    if "passed" not in result:
        summary["status"] = "unreachable"
        summary["error"] = result.get("error")
        return summary, [_finding(system, "endpoint_unreachable", "Endpoint %s could not be checked: %s"
                                  % (name, result.get("msg") or result.get("error") or "unknown error"),
                                  check=check, endpoint=name, error=result.get("error"))]
    codes = _finding_codes(result.get("findings"))
    summary["codes"] = sorted(set(code for code, _message in codes if code))
    if result.get("passed"):
        summary["status"] = "passed"
        return summary, []
    latent = result.get("latent_medium") if isinstance(result.get("latent_medium"), dict) else None
    if latent is not None and latent.get("passed"):
        # The system judges at the older medium today (R11.1.3, not re-applied): it accepts the peer now and
        # rejects it once medium is re-applied.
        summary["status"] = "passes_latent_medium"
        added = latent.get("added_codes") or summary["codes"]
        return summary, [_finding(system, "peer_fails_reapplied_medium", "Endpoint %s passes the '%s' checks this "
                                  "system runs today (its medium level is latent: release %s, not re-applied since "
                                  "R11.1.3), but fails them once medium is re-applied: %s"
                                  % (name, summary["level"], latent.get("release"),
                                     "; ".join("%s: %s" % (c, m) for c, m in codes if c in added) or ", ".join(added)),
                                  check=check, endpoint=name, codes=added)]
    summary["status"] = "rejected"
    detail = "; ".join("%s: %s" % (code, message) for code, message in codes) or "no findings given"
    return summary, [_finding(system, "endpoint_rejected", "Endpoint %s fails the '%s' checks: %s"
                              % (name, summary["level"] or "configured", detail), check=check, endpoint=name,
                              codes=summary["codes"])]


def live_name(entry):
    host, port = entry.get("host"), entry.get("port")
    return "%s:%s" % ("[%s]" % host if host and ":" in str(host) else host, port)


def check_live(system, entry, name=None):
    """security_info's read-back of one live endpoint (an item of its ``live``) -> (summary, findings).

    ``name`` (default host:port) names the check 'live:<name>'.
    """
    live = entry.get("live") if isinstance(entry.get("live"), dict) else {}
    host, port = entry.get("host"), entry.get("port")
    name = name or live_name(entry)
    check = "live:" + name
    presented = live.get("presented") or []
    expected = live.get("expected_identity") or {}
    summary = {"name": name, "host": host, "port": port, "serves": entry.get("serves"),
               "server_name": entry.get("server_name"), "reachable": bool(live.get("reachable")),
               "expected": live.get("expected"), "identity_matches": live.get("identity_matches"),
               "chain_matches": live.get("chain_matches"),
               "expected_certificate": dict((k, expected.get(k)) for k in ("subject", "not_after", "sha256")),
               "presented_certificate": dict((k, presented[0].get(k)) for k in ("subject", "not_after", "sha256"))
               if presented else None,
               "levels": dict((level, bool(result.get("passed"))) for level, result in
                              sorted((live.get("checks") or {}).items()))}
    probe = live.get("probe") if isinstance(live.get("probe"), dict) else None
    summary["probe"] = None
    if probe is not None:
        options = probe.get("sip_options") or {}
        ciphers = probe.get("ciphers") or {}
        summary["probe"] = {"setting": probe.get("setting"), "configured": probe.get("configured"),
                            "enforced": probe.get("enforced"), "sip_options_status": options.get("status_line"),
                            "cipher_setting": ciphers.get("setting"), "cipher_configured": ciphers.get("configured"),
                            "ciphers_accepted": [c.get("class") for c in ciphers.get("classes") or []
                                                 if c.get("outcome") == "accepted"]}
    findings = []
    for item in entry.get("findings") or []:
        code = item.get("code") if isinstance(item, dict) else None
        if code not in CODES:
            continue  # every code live read-back reports is registered (module_utils/_findings.py)
        extra = dict((k, v) for k, v in item.items()
                     if k not in ("code", "message", "severity", "check", "system", "where", "endpoint"))
        findings.append(_finding(system, code, item.get("message") or code, check=check, endpoint=name, **extra))
    codes = set(f["code"] for f in findings)
    if not summary["reachable"]:
        summary["status"] = "unreachable"
    elif codes & {"live_identity_mismatch", "live_chain_mismatch", "live_level_mismatch",
                  "live_cipher_level_mismatch"}:
        summary["status"] = "mismatch"
    elif "live_fails_medium" in codes:
        summary["status"] = "rejected"
    else:
        summary["status"] = "matches"
    return summary, findings


# ------------------------------------------------------------------------------------------ report


def _unavailable(system, info):
    """The finding of a system security_info gave no usable snapshot of (None when it did)."""
    if info and info.get("initialised") is False:
        return _finding(system["name"], "store_not_initialised",
                        "The store %s does not exist: this system has never been set up (the audit reads only "
                        "and created nothing). Apply its baseline (ipoffice.security.baseline) or fix "
                        "ipoffice_security.store.path for this host." % (info.get("store_path") or "of this system"),
                        store_path=info.get("store_path"))
    if not info or info.get("failed") or info.get("skipped") or "settings" not in info:
        reason = info.get("msg") or ("the system was skipped" if info.get("skipped") else "no security_info result")
        return _finding(system["name"], "info_unavailable", "security_info gave no snapshot of the system: %s"
                        % reason, error=info.get("error"))
    return None


def check_info_findings(system, info, known=()):
    """security_info's own findings about the system, by audit check (its registered check).

    Live read-back findings (``where: live``) are judged per endpoint (check_live).  ``known`` are
    (code, sha256) pairs the audit's own checks already reported: the same finding about the same certificate
    is shown once.  A code the registry does not know is shown under 'security_info' as an error (what the audit
    cannot judge is never passed over).
    """
    by_check = {}
    for item in info.get("findings") or []:
        if not isinstance(item, dict) or not item.get("code") or item.get("where") == "live":
            continue
        code = item["code"]
        if (code, item.get("sha256")) in known:
            continue
        extra = dict((k, v) for k, v in item.items() if k not in ("code", "message", "severity", "check", "system"))
        if code in CODES:
            by_check.setdefault(CODES[code][0], []).append(_finding(system, code, item.get("message") or code,
                                                                    **extra))
        else:
            finding = {"system": system, "check": "security_info", "code": code, "severity": "error",
                       "message": "%s (a finding this audit does not know)" % (item.get("message") or code)}
            finding.update(extra)
            by_check.setdefault("security_info", []).append(finding)
    return by_check


def audit_system(name, info, verify=None, policy=None, generated=None):
    """One system's audit entry: what it has, the checks run and their findings."""
    policy = policy_with_defaults(policy)
    generated = parse_time(generated) if generated else datetime.datetime.now(datetime.timezone.utc)
    system = {"name": str(name), "checks": [], "findings": [], "endpoints": [], "live": [], "certificates": []}
    info = info or {}
    unavailable = _unavailable(system, info)
    if unavailable is not None:
        if info.get("initialised") is False:
            system.update({"store_path": info.get("store_path"), "initialised": False})
        system["checks"].append({"name": "security_info", "findings": [unavailable]})
        system["findings"].append(unavailable)
        apply_severities(system, policy)
        return system
    settings = info.get("settings") or {}
    checks_settings = settings.get("checks") or {}
    certificates = system_certificates(info, generated)
    expiry_days = policy["expiry_days"]
    if expiry_days is None:
        expiry_days = checks_settings.get("certificate_expiry_warning_days", 60)
    system.update({
        "initialised": True,
        "store_path": info.get("store_path"),
        "platform": info.get("platform"),
        "system_name": info.get("system_name"),
        "generation": info.get("generation"),
        "issued_to": info.get("issued_to"),
        "trusted_count": info.get("trusted_count", len(info.get("trusted") or [])),
        "expiry_days": expiry_days,
        "levels": dict((k, checks_settings.get(k)) for k in ("management_interfaces", "telephony_endpoints",
                                                             "h323_security_level", "sip_security_level")),
        "ip_office_lines": checks_settings.get("ip_office_lines") or [],
        "scep": dict((k, v) for k, v in (settings.get("scep") or {}).items()),
        "certificates": certificates,
        "trusted": trusted_entries(info),
    })
    own = {
        "security_info": [],
        "minimum_levels": check_levels(name, settings, policy),
        "expiry": check_expiry(name, certificates, expiry_days),
        "signatures": check_signatures(name, certificates, policy),
        "keys": check_keys(name, certificates, policy),
        "trusted_store": check_trusted_store(name, info, policy),
    }
    known = set((f["code"], f.get("sha256")) for findings in own.values() for f in findings)
    reported = check_info_findings(name, info, known)
    per_check = [(check, own.get(check, []) + reported.pop(check, [])) for check in CHECKS]
    per_check.extend(sorted(reported.items()))  # a check the registry does not list (none today)
    results = verify or []
    if isinstance(results, dict):
        results = results.get("results", [results])
    for result in results:
        summary, findings = check_endpoint(name, result or {})
        system["endpoints"].append(summary)
        per_check.append(("endpoint:" + summary["name"], findings))
    entries = [entry if isinstance(entry, dict) else {} for entry in info.get("live") or []]
    names = [live_name(entry) for entry in entries]
    for entry, label in zip(entries, names):
        # One host:port may serve several things (management and a WebSocket line on 443): say which.
        if names.count(label) > 1:
            label = "%s (%s)" % (label, entry.get("serves"))
        summary, findings = check_live(name, entry, label)
        system["live"].append(summary)
        per_check.append(("live:" + summary["name"], findings))
    for check, findings in per_check:
        system["checks"].append({"name": check, "findings": findings})
        system["findings"].extend(findings)
    apply_severities(system, policy)
    return system


def apply_severities(system, policy):
    """audit_policy.severities: each finding of a listed code takes that severity."""
    severities = policy.get("severities") or {}
    for finding in system["findings"]:
        if finding["code"] in severities:
            finding["severity"] = severities[finding["code"]]


# The default of audit_fail_on: every error finding fails the audit.
DEFAULT_FAIL_ON = ("error",)
VERDICTS = ("passed", "failed", "not_enforced")


def _judge(entries, selectors):
    """Mark every finding and check enforced or not; the report's verdict.

    A finding is enforced when fail_on selects it.  A check (a JUnit test case) is 'failed' when it has an
    enforced finding, 'not_enforced' when it has an error finding fail_on does not select, 'warning' when
    it has other findings, 'passed' otherwise.
    """
    for entry in entries:
        for check in entry["checks"]:
            for finding in check["findings"]:
                finding["enforced"] = finding_matches(finding, selectors)
            check["status"] = _check_status(check["findings"])
        entry["status"] = _check_status(entry["findings"])
    findings = [f for entry in entries for f in entry["findings"]]
    failures = [f for f in findings if f["enforced"]]
    unenforced_errors = [f for f in findings if f["severity"] == "error" and not f["enforced"]]
    if failures:
        verdict = "failed"
    elif unenforced_errors or not selectors:
        verdict = "not_enforced"
    else:
        verdict = "passed"
    return verdict, findings, failures, unenforced_errors


def _check_status(findings):
    """failed (an enforced finding), not_enforced (an error finding not enforced), warning (a warning), else
    passed: info findings are notes that never make a check fail or warn."""
    if any(f["enforced"] for f in findings):
        return "failed"
    if any(f["severity"] == "error" for f in findings):
        return "not_enforced"
    if any(f["severity"] == "warning" for f in findings):
        return "warning"
    return "passed"


def trusted_entries(info):
    """A system's trusted store entries with what depends on each (security_info's ``trusted[].dependents``)."""
    return [{"sha256": entry.get("sha256"), "subject": entry.get("subject"), "not_after": entry.get("not_after"),
             "root": bool(entry.get("is_ca") and entry.get("self_signed")),
             "dependents": [{"kind": d.get("kind"), "description": d.get("description")}
                            for d in entry.get("dependents") or []]}
            for entry in info.get("trusted") or []]


def trusted_roots(entries):
    """Per trusted root (a self-signed CA in any system's trusted store): the systems that trust it and,
    per system, what still relies on it there (removing it there is refused while anything does)."""
    roots = {}
    for entry in entries:
        for item in entry.get("trusted") or []:
            if not item["root"]:
                continue
            root = roots.setdefault(item["sha256"], {"sha256": item["sha256"], "subject": item["subject"],
                                                     "not_after": item["not_after"], "systems": []})
            root["systems"].append({"system": entry["name"], "dependents": item["dependents"]})
    result = sorted(roots.values(), key=lambda r: (r["subject"] or "", r["sha256"]))
    for root in result:
        root["relied_on_by"] = [s["system"] for s in root["systems"] if s["dependents"]]
    return result


def build_report(systems, policy=None, generated=None, fail_on=None):
    """The fleet report from {system: {'info': security_info result, 'verify': [certificate_verify results]}}.

    ``systems`` may also be a list of {'name', 'info', 'verify'} dicts.  ``fail_on`` selects the findings
    that fail the audit: None means the default (every error finding), an empty list enforces nothing.
    """
    effective = policy_with_defaults(policy)
    selectors = normalize_fail_on(list(DEFAULT_FAIL_ON) if fail_on is None else fail_on)
    moment = parse_time(generated) if generated else datetime.datetime.now(datetime.timezone.utc)
    if isinstance(systems, dict):
        items = [dict(value or {}, name=key) for key, value in systems.items()]
    elif isinstance(systems, list):
        items = systems
    else:
        raise AuditError("The systems to audit must be a dictionary of system name to results or a list.")
    entries = []
    for item in sorted(items, key=lambda i: str(i.get("name"))):
        entries.append(audit_system(item.get("name"), item.get("info"), item.get("verify"), effective, moment))
    verdict, findings, failures, unenforced = _judge(entries, selectors)
    failing = {}
    for finding in failures:
        failing.setdefault(finding["system"], set()).add(finding["code"])
    summary = {
        "systems": len(entries),
        "checks": sum(len(e["checks"]) for e in entries),
        "findings": len(findings),
        "by_severity": dict((s, sum(1 for f in findings if f["severity"] == s)) for s in SEVERITIES),
        # The systems with a finding audit_fail_on selects, each with those findings' codes: each fails on its
        # own host in the play.
        "failing_systems": dict((name, sorted(codes)) for name, codes in sorted(failing.items())),
        "by_code": dict((c, n) for c, n in sorted(_count(f["code"] for f in findings).items())),
        "fail_on": selectors,
        "enforced": bool(selectors),
        "failures": len(failures),
        "failed_checks": sum(1 for e in entries for c in e["checks"] if c["status"] == "failed"),
        "not_enforced": len(unenforced),
        "verdict": verdict,
        # true only when the audit enforced its selection and nothing failed; null when not enforced.
        "passed": {"passed": True, "failed": False}.get(verdict),
    }
    summary["verdict_text"] = verdict_text(summary)
    return {"format": 2, "generated": iso(moment), "policy": effective, "summary": summary, "systems": entries,
            "trusted_roots": trusted_roots(entries),
            # Per root, every system that trusts it, chains to it, pins under it or was issued by it.
            "fleet_roots": _audit_roots.fleet_roots(items)}


def failing_systems_text(failing):
    """'ipo-b (certificate_expired, weak_key), ipo-c (endpoint_unreachable)'."""
    return ", ".join("%s (%s)" % (name, ", ".join(codes)) for name, codes in sorted((failing or {}).items()))


def verdict_text(summary):
    """One line that says what the verdict means (reports and the role's output use it)."""
    verdict = summary.get("verdict")
    if verdict == "failed":
        failing = summary.get("failing_systems") or {}
        return ("FAILED: %d finding(s) that audit_fail_on selects (%s) on %d system(s): %s."
                % (summary.get("failures", 0), ", ".join(summary.get("fail_on") or []), len(failing),
                   failing_systems_text(failing)))
    if verdict == "not_enforced":
        if not summary.get("fail_on"):
            return ("NOT ENFORCED: audit_fail_on is empty, so no finding fails the audit (%d error finding(s))."
                    % summary.get("by_severity", {}).get("error", 0))
        return ("NOT ENFORCED: %d error finding(s) that audit_fail_on (%s) does not select."
                % (summary.get("not_enforced", 0), ", ".join(summary["fail_on"])))
    return "PASSED: no finding that audit_fail_on (%s) selects, and no error finding." % ", ".join(
        summary.get("fail_on") or [])


def _count(values):
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def report_findings(report, selectors=None):
    """Every finding of a report (those matching the selectors when given)."""
    findings = [f for system in report.get("systems", []) for f in system.get("findings", [])]
    if selectors is None:
        return findings
    selectors = normalize_fail_on(selectors)
    return [f for f in findings if finding_matches(f, selectors)]


def report_failures(report, system=None):
    """The findings that fail the audit (those its fail_on selected when it was built), of one system when
    ``system`` is given."""
    return [f for f in report_findings(report) if f.get("enforced") and (system is None or f["system"] == system)]


def failing_systems(report):
    """{system: [codes]} of the systems with a finding that fails the audit (each fails on its own host)."""
    failing = {}
    for finding in report_failures(report):
        failing.setdefault(finding["system"], set()).add(finding["code"])
    return dict((name, sorted(codes)) for name, codes in failing.items())


def failure_message(failures, limit=20):
    """The failing findings, grouped by system: the systems and their codes first, then each finding."""
    failing = {}
    for f in failures:
        failing.setdefault(f["system"], set()).add(f["code"])
    lines = ["The audit failed: %d finding(s) that audit_fail_on selects on %d system(s): %s"
             % (len(failures), len(failing), failing_systems_text(dict((k, sorted(v)) for k, v in failing.items())))]
    for f in failures[:limit]:
        lines.append("- %s [%s/%s]: %s" % (f["system"], f["check"], f["code"], f["message"]))
    if len(failures) > limit:
        lines.append("- ... and %d more (see the JSON report)" % (len(failures) - limit))
    return "\n".join(lines)
