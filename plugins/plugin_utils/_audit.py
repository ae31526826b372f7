# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet audit: findings from what systems report, and the report as JSON, JUnit XML and HTML.

Runs on the controller (the ``ipoffice.security.audit_*`` filters and the ``audit`` role call it).
Inputs are the results modules already return: ``security_info`` for each system and, optionally,
``certificate_verify`` results for the endpoints listed for it.  A policy says what is acceptable.

Every finding is a dict ``{system, check, code, severity, message, subject?, sha256?, endpoint?}`` with a
stable ``code``; a report is a plain JSON-able dict, so it can be written, read back and rendered again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import html
import json
import xml.etree.ElementTree as ET

# Received-certificate check levels and what each includes (REFERENCE section 2): the remote levels are
# not "above" high in a line, so "at least" means "runs every check of".
LEVEL_INCLUDES = {
    "none": ("none",),
    "low": ("none", "low"),
    "medium": ("none", "low", "medium"),
    "high": ("none", "low", "medium", "high"),
    "medium_remote": ("none", "low", "medium", "medium_remote"),
    "high_remote": ("none", "low", "medium", "high", "medium_remote", "high_remote"),
}
SECURITY_LEVEL_ORDER = ("low", "medium", "high")
LINE_LEVELS = ("none", "medium", "high")

# The settings a minimum level can be asked for, and how their values compare.
LEVEL_SETTINGS = {
    "management_interfaces": "check_level",
    "telephony_endpoints": "check_level",
    "h323_security_level": "security_level",
    "sip_security_level": "security_level",
    "ip_office_lines": "line_level",
}

# The checks of an audit, in report order.  Endpoint checks are added per endpoint as 'endpoint:<name>'.
CHECKS = ("security_info", "minimum_levels", "expiry", "signatures", "keys", "trusted_store")

SEVERITIES = ("error", "warning")

# Finding codes, each with its check and severity.  Stable: audit_fail_on and CI systems use them.
CODES = {
    "info_unavailable": ("security_info", "error"),
    "level_below_minimum": ("minimum_levels", "error"),
    "certificate_expired": ("expiry", "error"),
    "certificate_expiring": ("expiry", "warning"),
    "weak_signature": ("signatures", "error"),
    "weak_key": ("keys", "error"),
    "trusted_store_size": ("trusted_store", "warning"),
    "endpoint_rejected": ("endpoint", "error"),
    "endpoint_unreachable": ("endpoint", "error"),
}

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
    # Warn when the trusted store holds more entries than this (the store's hard limit is 25).
    "max_trusted_certificates": 20,
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
            result[key] = _int(key, value, 0, 25)
        elif key == "weak_signature_hashes":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise AuditError("audit_policy.weak_signature_hashes must be a list of hash names such as "
                                 "[md5, sha1]. Change 'audit_policy'.")
            result[key] = [v.lower() for v in value]
        elif key == "check_trust_anchor_signatures":
            if not isinstance(value, bool):
                raise AuditError("audit_policy.check_trust_anchor_signatures must be true or false. "
                                 "Change 'audit_policy'.")
            result[key] = value
    return result


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
        kind = LEVEL_SETTINGS.get(name)
        if kind is None:
            raise AuditError("audit_policy.minimum_levels: unknown setting '%s'; use %s. Change 'audit_policy'."
                             % (name, ", ".join(sorted(LEVEL_SETTINGS))))
        if level is None:
            continue
        allowed = {"check_level": tuple(LEVEL_INCLUDES), "security_level": SECURITY_LEVEL_ORDER,
                   "line_level": LINE_LEVELS}[kind]
        if level not in allowed:
            raise AuditError("audit_policy.minimum_levels.%s must be one of %s, got %r. Change 'audit_policy'."
                             % (name, ", ".join(allowed), level))
        result[name] = level
    return result


def level_satisfies(kind, actual, minimum):
    """Whether a configured level is at least the minimum (a check level must run every check of it)."""
    if kind == "check_level":
        return minimum in LEVEL_INCLUDES.get(actual, ())
    order = SECURITY_LEVEL_ORDER if kind == "security_level" else LINE_LEVELS
    if actual not in order:
        return False
    return order.index(actual) >= order.index(minimum)


def normalize_fail_on(fail_on):
    """audit_fail_on as a list of selectors: finding codes, check names, severities or 'any'."""
    if fail_on in (None, "", []):
        return []
    if isinstance(fail_on, str):
        fail_on = [part.strip() for part in fail_on.split(",") if part.strip()]
    if not isinstance(fail_on, (list, tuple)):
        raise AuditError("audit_fail_on must be a list of finding codes, checks or severities. "
                         "Change 'audit_fail_on'.")
    known = set(CODES) | set(CHECKS) | set(SEVERITIES) | {"any", "endpoint"}
    result = []
    for item in fail_on:
        if not isinstance(item, str) or (item not in known and not item.startswith("endpoint:")):
            raise AuditError("audit_fail_on: unknown value %r; use 'any', a severity (%s), a check (%s) or a "
                             "finding code (%s). Change 'audit_fail_on'."
                             % (item, ", ".join(SEVERITIES), ", ".join(CHECKS + ("endpoint",)),
                                ", ".join(sorted(CODES))))
        result.append(item)
    return result


def finding_matches(finding, selectors):
    for selector in selectors:
        if selector == "any" or selector in (finding["code"], finding["severity"], finding["check"]):
            return True
        if selector == "endpoint" and finding["check"].startswith("endpoint:"):
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
    default_check, severity = CODES[code]
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
        kind = LEVEL_SETTINGS[name]
        if kind == "line_level":
            for line in checks.get("ip_office_lines") or []:
                actual = line.get("check_level", "none")
                if not level_satisfies(kind, actual, minimum):
                    findings.append(_finding(
                        system, "level_below_minimum",
                        "IP Office line '%s' checks received certificates at '%s'; the policy asks for at least "
                        "'%s'." % (line.get("name"), actual, minimum),
                        setting="ip_office_lines", line=line.get("name"), actual=actual, minimum=minimum))
            continue
        actual = checks.get(name)
        if not level_satisfies(kind, actual, minimum):
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
        else:  # Ed25519/Ed448 are strong enough (REFERENCE section 2)
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
                         "policy allows %d (the store's limit is 25)." % (count, limit), count=count, limit=limit)]
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
    summary["status"] = "rejected"
    detail = "; ".join("%s: %s" % (code, message) for code, message in codes) or "no findings given"
    return summary, [_finding(system, "endpoint_rejected", "Endpoint %s fails the '%s' checks: %s"
                              % (name, summary["level"] or "configured", detail), check=check, endpoint=name,
                              codes=summary["codes"])]


# ------------------------------------------------------------------------------------------ report


def audit_system(name, info, verify=None, policy=None, generated=None):
    """One system's audit entry: what it has, the checks run and their findings."""
    policy = policy_with_defaults(policy)
    generated = parse_time(generated) if generated else datetime.datetime.now(datetime.timezone.utc)
    system = {"name": str(name), "checks": [], "findings": [], "endpoints": [], "certificates": []}
    info = info or {}
    if not info or info.get("failed") or info.get("skipped") or "settings" not in info:
        reason = info.get("msg") or ("the system was skipped" if info.get("skipped") else "no security_info result")
        finding = _finding(name, "info_unavailable", "security_info gave no snapshot of the system: %s" % reason,
                           error=info.get("error"))
        system["checks"].append({"name": "security_info", "findings": [finding]})
        system["findings"].append(finding)
        return system
    settings = info.get("settings") or {}
    checks_settings = settings.get("checks") or {}
    certificates = system_certificates(info, generated)
    expiry_days = policy["expiry_days"]
    if expiry_days is None:
        expiry_days = checks_settings.get("certificate_expiry_warning_days", 60)
    system.update({
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
    })
    per_check = [
        ("security_info", []),
        ("minimum_levels", check_levels(name, settings, policy)),
        ("expiry", check_expiry(name, certificates, expiry_days)),
        ("signatures", check_signatures(name, certificates, policy)),
        ("keys", check_keys(name, certificates, policy)),
        ("trusted_store", check_trusted_store(name, info, policy)),
    ]
    results = verify or []
    if isinstance(results, dict):
        results = results.get("results", [results])
    for result in results:
        summary, findings = check_endpoint(name, result or {})
        system["endpoints"].append(summary)
        per_check.append(("endpoint:" + summary["name"], findings))
    for check, findings in per_check:
        system["checks"].append({"name": check, "findings": findings})
        system["findings"].extend(findings)
    return system


def build_report(systems, policy=None, generated=None, fail_on=None):
    """The fleet report from {system: {'info': security_info result, 'verify': [certificate_verify results]}}.

    ``systems`` may also be a list of {'name', 'info', 'verify'} dicts.
    """
    effective = policy_with_defaults(policy)
    selectors = normalize_fail_on(fail_on)
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
    findings = [f for entry in entries for f in entry["findings"]]
    failures = [f for f in findings if finding_matches(f, selectors)]
    summary = {
        "systems": len(entries),
        "checks": sum(len(e["checks"]) for e in entries),
        "findings": len(findings),
        "by_severity": dict((s, sum(1 for f in findings if f["severity"] == s)) for s in SEVERITIES),
        "by_code": dict((c, n) for c, n in sorted(_count(f["code"] for f in findings).items())),
        "fail_on": selectors,
        "failures": len(failures),
        "passed": not failures,
    }
    return {"format": 1, "generated": iso(moment), "policy": effective, "summary": summary, "systems": entries}


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


def failure_message(failures, limit=20):
    lines = ["The audit found %d finding(s) that audit_fail_on names:" % len(failures)]
    for f in failures[:limit]:
        lines.append("- %s [%s/%s]: %s" % (f["system"], f["check"], f["code"], f["message"]))
    if len(failures) > limit:
        lines.append("- ... and %d more (see the JSON report)" % (len(failures) - limit))
    return "\n".join(lines)


def to_json(report):
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


# ------------------------------------------------------------------------------------------- JUnit


def to_junit(report, fail_on=None):
    """JUnit XML: a test suite per system, a test case per system and check.

    A test case fails when it has a finding that ``fail_on`` names (default: any error-severity finding);
    other findings are listed in its system-out so CI systems still show them.
    """
    selectors = normalize_fail_on(fail_on) if fail_on not in (None, "", []) else ["error"]
    root = ET.Element("testsuites", name="ipoffice.security audit")
    total_tests = total_failures = 0
    for system in report.get("systems", []):
        suite = ET.SubElement(root, "testsuite", name=system["name"], timestamp=report.get("generated", ""))
        tests = failures = 0
        for check in system.get("checks", []):
            tests += 1
            case = ET.SubElement(suite, "testcase", classname="ipoffice.security.audit.%s" % system["name"],
                                 name=check["name"])
            case.set("time", "0")
            failing = [f for f in check["findings"] if finding_matches(f, selectors)]
            if failing:
                failures += 1
                failure = ET.SubElement(case, "failure", message="; ".join(f["message"] for f in failing),
                                        type=",".join(sorted(set(f["code"] for f in failing))))
                failure.text = "\n".join("[%s] %s: %s" % (f["severity"], f["code"], f["message"]) for f in failing)
            others = [f for f in check["findings"] if f not in failing]
            if others:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join("[%s] %s: %s" % (f["severity"], f["code"], f["message"]) for f in others)
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        total_tests += tests
        total_failures += failures
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# -------------------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5rem;color:#1d2430;background:#fafbfc}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:2rem 0 .4rem}h3{font-size:1rem;margin:1rem 0 .3rem}
p.meta{color:#5b6472;margin:.2rem 0 1rem}
table{border-collapse:collapse;margin:.3rem 0 1rem;background:#fff;font-size:.86rem}
th,td{border:1px solid #d6dae0;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f5}
.ok{color:#1a7f37}.warning{color:#9a6700}.error{color:#cf222e}
tr.error td{background:#ffebe9}tr.warning td{background:#fff8c5}
.badge{display:inline-block;border-radius:.6rem;padding:0 .5rem;font-size:.78rem;font-weight:600;color:#fff}
.badge.ok{background:#1a7f37}.badge.warning{background:#9a6700}.badge.error{background:#cf222e}
.summary td{font-weight:600}
code{font-size:.8rem;word-break:break-all}
section.system{border-top:2px solid #d6dae0;margin-top:1.5rem}
svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#1d2430}
"""


def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def _status(findings):
    severities = set(f["severity"] for f in findings)
    if "error" in severities:
        return "error"
    if "warning" in severities:
        return "warning"
    return "ok"


def _cert_status(cert, expiry_days):
    left = cert.get("days_left")
    if left is None:
        return "ok"
    if left < 0:
        return "error"
    if left < expiry_days:
        return "warning"
    return "ok"


def _timeline_svg(report):
    """An inline SVG: one row per system, a marker per certificate at its expiry, today as a line."""
    generated = parse_time(report["generated"])
    rows = []
    for system in report.get("systems", []):
        marks = []
        for cert in system.get("certificates", []):
            try:
                marks.append((parse_time(cert["not_after"]), cert))
            except (KeyError, TypeError, ValueError):
                continue
        rows.append((system, marks))
    moments = [moment for _system, marks in rows for moment, _cert in marks]
    start = min(moments + [generated]) - datetime.timedelta(days=30)
    end = max(moments + [generated + datetime.timedelta(days=365)]) + datetime.timedelta(days=30)
    span = (end - start).total_seconds() or 1.0
    label_w, plot_w, row_h, top = 190, 760, 26, 34
    height = top + row_h * max(len(rows), 1) + 30
    width = label_w + plot_w + 20

    def x(moment):
        return label_w + plot_w * (moment - start).total_seconds() / span

    parts = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" class="timeline" width="%d" height="%d" '
             'viewBox="0 0 %d %d">' % (width, height, width, height),
             '<title>Certificate expiry across the fleet</title>',
             '<rect x="%d" y="%d" width="%d" height="%d" fill="#fff" stroke="#d6dae0"/>'
             % (label_w, top - 8, plot_w, row_h * max(len(rows), 1) + 8)]
    # Year ticks.
    year = start.year + 1
    while True:
        tick = datetime.datetime(year, 1, 1, tzinfo=datetime.timezone.utc)
        if tick > end:
            break
        tx = x(tick)
        parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eef1f5"/>'
                     % (tx, top - 8, tx, top + row_h * max(len(rows), 1)))
        parts.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>'
                     % (tx, top + row_h * max(len(rows), 1) + 16, year))
        year += 1
    today = x(generated)
    parts.append('<line class="today" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#0969da" stroke-dasharray="4 3"/>'
                 % (today, top - 14, today, top + row_h * max(len(rows), 1)))
    parts.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#0969da">today</text>' % (today, top - 18))
    colors = {"ok": "#1a7f37", "warning": "#bf8700", "error": "#cf222e"}
    shapes = {"identity": "circle", "telephony": "circle", "ca": "diamond", "trusted": "square"}
    for index, (system, marks) in enumerate(rows):
        y = top + row_h * index + row_h / 2.0 - 4
        parts.append('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>'
                     % (label_w - 8, y, _e(system["name"])))
        parts.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eef1f5"/>'
                     % (label_w, y, label_w + plot_w, y))
        for moment, cert in sorted(marks, key=lambda m: m[0]):
            status = _cert_status(cert, system.get("expiry_days", 60))
            cx = x(moment)
            tip = "%s: %s %s, expires %s (%s days)" % (system["name"], cert["where"], cert.get("subject"),
                                                       cert.get("not_after"), cert.get("days_left"))
            shape = shapes.get(cert["where"], "circle")
            attrs = 'class="cert %s" data-system="%s" data-sha256="%s" fill="%s" fill-opacity="0.8"' % (
                status, _e(system["name"]), _e(cert.get("sha256")), colors[status])
            if shape == "circle":
                body = '<circle cx="%.1f" cy="%.1f" r="5" %s>' % (cx, y, attrs)
                close = "</circle>"
            elif shape == "square":
                body = '<rect x="%.1f" y="%.1f" width="9" height="9" %s>' % (cx - 4.5, y - 4.5, attrs)
                close = "</rect>"
            else:
                body = '<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" %s>' % (
                    cx, y - 6, cx + 6, y, cx, y + 6, cx - 6, y, attrs)
                close = "</polygon>"
            parts.append(body + "<title>%s</title>" % _e(tip) + close)
    parts.append("</svg>")
    return "".join(parts)


def _table(headers, rows, row_classes=None):
    out = ["<table><thead><tr>%s</tr></thead><tbody>" % "".join("<th>%s</th>" % _e(h) for h in headers)]
    for index, row in enumerate(rows):
        cls = (row_classes or [None] * len(rows))[index]
        out.append("<tr%s>%s</tr>" % (' class="%s"' % cls if cls else "",
                                      "".join("<td>%s</td>" % cell for cell in row)))
    out.append("</tbody></table>")
    return "".join(out)


def to_html(report):
    """One self-contained page: summary, expiry timeline, a section with tables per system."""
    summary = report.get("summary", {})
    systems = report.get("systems", [])
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>IP Office certificate security audit</title>", "<style>%s</style></head><body>" % _CSS,
           "<h1>IP Office certificate security audit</h1>",
           '<p class="meta">Generated %s &middot; %d systems &middot; %d findings (%d errors, %d warnings) &middot; '
           '%s</p>' % (_e(report.get("generated")), summary.get("systems", len(systems)), summary.get("findings", 0),
                       summary.get("by_severity", {}).get("error", 0),
                       summary.get("by_severity", {}).get("warning", 0),
                       '<span class="badge %s">%s</span>' % (("ok", "passed") if summary.get("passed", True)
                                                             else ("error", "failed"))
                       )]
    # Fleet overview.
    rows, classes = [], []
    for system in systems:
        status = _status(system["findings"])
        levels = system.get("levels") or {}
        rows.append(['<a href="#system-%s">%s</a>' % (_e(_anchor(system["name"])), _e(system["name"])),
                     '<span class="badge %s">%s</span>' % (status, status),
                     _e(system.get("issued_to")), _e(levels.get("management_interfaces")),
                     _e(levels.get("telephony_endpoints")), _e(system.get("trusted_count")),
                     _e(len(system["findings"]))])
        classes.append(None)
    out.append('<h2>Fleet</h2>')
    out.append(_table(["System", "Status", "Issued to", "Management checks", "Telephony checks", "Trusted",
                       "Findings"], rows, classes))
    out.append('<h2>Certificate expiry timeline</h2>')
    out.append('<p class="meta">Each mark is a stored certificate at its expiry date: circle identity, diamond '
               'internal CA, square trusted store; red expired, amber within the warning days.</p>')
    out.append(_timeline_svg(report))
    for system in systems:
        out.append('<section class="system" id="system-%s" data-system="%s">'
                   % (_e(_anchor(system["name"])), _e(system["name"])))
        status = _status(system["findings"])
        out.append('<h2>%s <span class="badge %s">%s</span></h2>' % (_e(system["name"]), status, status))
        if "store_path" in system:
            levels = system.get("levels") or {}
            settings_rows = [[_e(k), _e(v)] for k, v in [
                ("platform", system.get("platform")), ("store_path", system.get("store_path")),
                ("generation", system.get("generation")), ("issued_to", system.get("issued_to")),
                ("management_interfaces", levels.get("management_interfaces")),
                ("telephony_endpoints", levels.get("telephony_endpoints")),
                ("h323_security_level", levels.get("h323_security_level")),
                ("sip_security_level", levels.get("sip_security_level")),
                ("ip_office_lines", ", ".join("%s=%s" % (line.get("name"), line.get("check_level"))
                                              for line in system.get("ip_office_lines") or []) or "none"),
                ("scep", "active, %s" % (system.get("scep") or {}).get("server") if (system.get("scep") or {}).get(
                    "active") else "inactive"),
                ("trusted_count", system.get("trusted_count")), ("expiry_days", system.get("expiry_days"))]]
            out.append("<h3>Settings</h3>")
            out.append(_table(["Setting", "Value"], settings_rows))
            cert_rows, cert_classes = [], []
            for cert in system.get("certificates", []):
                status = _cert_status(cert, system.get("expiry_days", 60))
                cert_rows.append([_e(cert["where"]), _e(cert.get("subject")), _e(cert.get("not_after")),
                                  '<span class="%s">%s</span>' % (status, _e(cert.get("days_left"))),
                                  _e("%s %s" % (cert.get("key_type"), cert.get("key_bits"))),
                                  _e(cert.get("signature_algorithm")), "<code>%s</code>" % _e(cert.get("sha256"))])
                cert_classes.append(status if status != "ok" else None)
            out.append("<h3>Certificates</h3>")
            out.append(_table(["Where", "Subject", "Expires", "Days left", "Key", "Signature", "SHA-256"],
                              cert_rows, cert_classes))
        if system.get("endpoints"):
            out.append("<h3>Endpoints</h3>")
            out.append(_table(["Endpoint", "Host", "Port", "Level", "Status", "Codes"], [
                [_e(ep["name"]), _e(ep.get("host")), _e(ep.get("port")), _e(ep.get("level")),
                 '<span class="%s">%s</span>' % ("ok" if ep.get("status") == "passed" else "error",
                                                 _e(ep.get("status"))),
                 _e(", ".join(ep.get("codes") or []))] for ep in system["endpoints"]]))
        out.append("<h3>Checks</h3>")
        check_rows, check_classes = [], []
        for check in system.get("checks", []):
            status = _status(check["findings"])
            check_rows.append([_e(check["name"]), '<span class="%s">%s</span>' % (status, status),
                               "<br>".join('<span class="finding" data-code="%s">%s: %s</span>'
                                           % (_e(f["code"]), _e(f["code"]), _e(f["message"]))
                                           for f in check["findings"]) or "&mdash;"])
            check_classes.append(status if status != "ok" else None)
        out.append(_table(["Check", "Result", "Findings"], check_rows, check_classes))
        out.append("</section>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _anchor(name):
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in str(name))


def expiry_timeline(report):
    """The certificates of the fleet ordered by expiry (what the HTML timeline draws), as data."""
    items = []
    for system in report.get("systems", []):
        for cert in system.get("certificates", []):
            items.append({"system": system["name"], "where": cert["where"], "subject": cert.get("subject"),
                          "not_after": cert.get("not_after"), "days_left": cert.get("days_left"),
                          "sha256": cert.get("sha256")})
    return sorted(items, key=lambda i: (i["not_after"] or "", i["system"], i["where"]))
