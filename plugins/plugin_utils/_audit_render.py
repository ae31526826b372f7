# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet audit report (``_audit_findings.build_report``) as JSON, JUnit XML and HTML.

Nothing is judged here: every verdict (the report's, each system's and each check's status, which
findings are enforced) was decided when the report was built and is read from it, so the three
renderings and the play always agree.

The HTML page is a Jinja2 template, ``roles/audit/templates/audit_report.html.j2`` by default; a user's
own template (the audit role's ``audit_html_template``) gets the same context (``html_context``) and may
``{% extends "ipoffice.security/audit_report.html.j2" %}`` to replace single blocks of the default page.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import xml.etree.ElementTree as ET

from ansible_collections.ipoffice.security.plugins.plugin_utils._audit_findings import (
    AuditError,
    parse_time,
    verdict_text,
)

# The default template, inside the collection (the audit role's templates directory).
TEMPLATE_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                             "roles", "audit", "templates"))
DEFAULT_TEMPLATE = "audit_report.html.j2"
# Prefix under which a user's template finds the collection's own templates.
TEMPLATE_PREFIX = "ipoffice.security"


def to_json(report):
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def _finding_line(finding):
    return "[%s] %s: %s" % (finding["severity"], finding["code"], finding["message"])


# ------------------------------------------------------------------------------------------- JUnit


def to_junit(report):
    """JUnit XML: a test suite per system, a test case per system and check.

    A test case fails when it holds a finding the audit enforces (the report's ``fail_on``, by default
    every error finding); one whose error findings are not enforced is skipped with "not enforced";
    other findings are in its system-out.  The root's ``failures`` is the report's ``failed_checks``.
    """
    summary = report.get("summary", {})
    root = ET.Element("testsuites", name="ipoffice.security audit")
    properties = ET.SubElement(root, "properties")
    for name, value in (("verdict", summary.get("verdict")), ("fail_on", ",".join(summary.get("fail_on") or []))):
        ET.SubElement(properties, "property", name=name, value=str(value or ""))
    total_tests = total_failures = total_skipped = 0
    for system in report.get("systems", []):
        suite = ET.SubElement(root, "testsuite", name=system["name"], timestamp=report.get("generated", ""))
        tests = failures = skipped = 0
        for check in system.get("checks", []):
            tests += 1
            case = ET.SubElement(suite, "testcase", classname="ipoffice.security.audit.%s" % system["name"],
                                 name=check["name"])
            case.set("time", "0")
            enforced = [f for f in check["findings"] if f.get("enforced")]
            if enforced:
                failures += 1
                failure = ET.SubElement(case, "failure", message="; ".join(f["message"] for f in enforced),
                                        type=",".join(sorted(set(f["code"] for f in enforced))))
                failure.text = "\n".join(_finding_line(f) for f in enforced)
            elif check.get("status") == "not_enforced":
                skipped += 1
                errors = [f for f in check["findings"] if f["severity"] == "error"]
                ET.SubElement(case, "skipped", message="not enforced (audit_fail_on does not select it): "
                              + "; ".join(f["message"] for f in errors))
            others = [f for f in check["findings"] if not f.get("enforced")]
            if others:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(_finding_line(f) for f in others)
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
        total_tests += tests
        total_failures += failures
        total_skipped += skipped
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    root.set("skipped", str(total_skipped))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# -------------------------------------------------------------------------------------------- HTML

# What each status looks like: (CSS class, words).  Statuses come from the report.
STATUS_LOOK = {
    "passed": ("ok", "passed"),
    "failed": ("error", "failed"),
    "not_enforced": ("not-enforced", "not enforced"),
    "warning": ("warning", "warning"),
}


def cert_status(cert, expiry_days):
    """How a certificate's expiry looks: ok, warning (within the warning days) or error (expired)."""
    left = cert.get("days_left")
    if left is None:
        return "ok"
    if left < 0:
        return "error"
    if left < expiry_days:
        return "warning"
    return "ok"


def anchor(name):
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in str(name))


def timeline(report):
    """The expiry timeline's geometry: one row per system, a mark per certificate at its expiry, today."""
    generated = parse_time(report["generated"])
    rows = []
    for system in report.get("systems", []):
        marks = []
        for cert in system.get("certificates", []):
            try:
                marks.append((parse_time(cert["not_after"]), cert))
            except (KeyError, TypeError, ValueError):
                continue
        rows.append((system, sorted(marks, key=lambda m: m[0])))
    moments = [moment for _system, marks in rows for moment, _cert in marks]
    start = min(moments + [generated]) - datetime.timedelta(days=30)
    end = max(moments + [generated + datetime.timedelta(days=365)]) + datetime.timedelta(days=30)
    span = (end - start).total_seconds() or 1.0
    label_w, plot_w, row_h, top = 190, 760, 26, 34
    count = max(len(rows), 1)

    def x(moment):
        return round(label_w + plot_w * (moment - start).total_seconds() / span, 1)

    years = []
    year = start.year + 1
    while datetime.datetime(year, 1, 1, tzinfo=datetime.timezone.utc) <= end:
        years.append({"year": year, "x": x(datetime.datetime(year, 1, 1, tzinfo=datetime.timezone.utc))})
        year += 1
    shapes = {"identity": "circle", "telephony": "circle", "ca": "diamond", "trusted": "square"}
    result_rows = []
    for index, (system, marks) in enumerate(rows):
        y = top + row_h * index + row_h / 2.0 - 4
        result_marks = []
        for moment, cert in marks:
            result_marks.append({
                "x": x(moment), "y": y, "shape": shapes.get(cert["where"], "circle"),
                "status": cert_status(cert, system.get("expiry_days", 60)), "sha256": cert.get("sha256"),
                "tip": "%s: %s %s, expires %s (%s days)" % (system["name"], cert["where"], cert.get("subject"),
                                                            cert.get("not_after"), cert.get("days_left"))})
        result_rows.append({"system": system["name"], "y": y, "marks": result_marks})
    return {"width": label_w + plot_w + 20, "height": top + row_h * count + 30, "label_w": label_w,
            "plot_w": plot_w, "top": top, "plot_bottom": top + row_h * count, "today": x(generated),
            "years": years, "rows": result_rows,
            "colors": {"ok": "#1a7f37", "warning": "#bf8700", "error": "#cf222e"}}


def _settings_rows(system):
    levels = system.get("levels") or {}
    scep = system.get("scep") or {}
    return [
        ("platform", system.get("platform")), ("store_path", system.get("store_path")),
        ("generation", system.get("generation")), ("issued_to", system.get("issued_to")),
        ("management_interfaces", levels.get("management_interfaces")),
        ("telephony_endpoints", levels.get("telephony_endpoints")),
        ("h323_security_level", levels.get("h323_security_level")),
        ("sip_security_level", levels.get("sip_security_level")),
        ("ip_office_lines", ", ".join("%s=%s" % (line.get("name"), line.get("check_level"))
                                      for line in system.get("ip_office_lines") or []) or "none"),
        ("scep", "active, %s" % scep.get("server") if scep.get("active") else "inactive"),
        ("trusted_count", system.get("trusted_count")), ("expiry_days", system.get("expiry_days")),
    ]


# Info findings are notes: they never colour a certificate or a check.
SEVERITY_ORDER = ("ok", "info", "warning", "error")


def _worst(*statuses):
    return max(statuses, key=SEVERITY_ORDER.index)


def _certificate_rows(system):
    """The system's certificates, each with the worst of its expiry status and its findings' severities."""
    expiry_days = system.get("expiry_days", 60)
    flagged = {}
    for finding in system.get("findings", []):
        if finding.get("sha256"):
            key = (finding.get("where"), finding["sha256"])
            severity = finding["severity"] if finding["severity"] != "info" else "ok"
            flagged[key] = _worst(flagged.get(key, "ok"), severity)
    rows = []
    for cert in system.get("certificates", []):
        status = _worst(cert_status(cert, expiry_days), flagged.get((cert["where"], cert.get("sha256")), "ok"))
        rows.append(dict(cert, status=status))
    return rows


def html_context(report):
    """What the HTML template gets: the report itself and, per system, what its tables show."""
    summary = report.get("summary", {})
    systems = []
    for system in report.get("systems", []):
        findings = system.get("findings", [])
        systems.append({
            "report": system,
            "name": system["name"],
            "anchor": anchor(system["name"]),
            "status": system.get("status", "passed"),
            "initialised": system.get("initialised", True),
            "has_settings": "levels" in system,
            "settings": _settings_rows(system),
            "certificates": _certificate_rows(system),
            "endpoints": system.get("endpoints", []),
            "live": system.get("live", []),
            "checks": system.get("checks", []),
            "findings": findings,
            "errors": sum(1 for f in findings if f["severity"] == "error"),
            "warnings": sum(1 for f in findings if f["severity"] == "warning"),
            "notes": sum(1 for f in findings if f["severity"] == "info"),
        })
    return {
        "report": report,
        "summary": summary,
        "verdict": summary.get("verdict", "passed"),
        "verdict_text": verdict_text(summary),
        "systems": systems,
        # Every finding of the fleet, errors first, for the overview at the top of the page.
        "findings": sorted((dict(f, anchor=anchor(f["system"])) for system in report.get("systems", [])
                            for f in system.get("findings", [])),
                           key=lambda f: (-SEVERITY_ORDER.index(f["severity"]), f["system"], f["check"])),
        "timeline": timeline(report),
        "trusted_roots": report.get("trusted_roots", []),
        "fleet_roots": report.get("fleet_roots", []),
        "status_look": STATUS_LOOK,
        "title": "IP Office certificate security audit",
    }


def _environment(template):
    try:
        import jinja2
    except ImportError:  # pragma: no cover - Ansible itself needs Jinja2
        raise AuditError("Rendering the HTML report needs the Python library Jinja2 on the controller.")
    builtin = jinja2.FileSystemLoader(TEMPLATE_DIR)
    loaders = [jinja2.PrefixLoader({TEMPLATE_PREFIX: builtin}, delimiter="/")]
    if template:
        path = os.path.abspath(os.path.expanduser(template))
        if not os.path.isfile(path):
            raise AuditError("The HTML template %s does not exist. Change 'audit_html_template' (a path on the "
                             "controller; empty for the built-in page)." % template)
        loaders.insert(0, jinja2.FileSystemLoader(os.path.dirname(path)))
        name = os.path.basename(path)
    else:
        loaders.append(builtin)
        name = DEFAULT_TEMPLATE
    environment = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     trim_blocks=True, lstrip_blocks=True)
    return environment, name


def to_html(report, template=None):
    """One self-contained page from the Jinja2 template (the built-in one, or ``template``, a file path)."""
    environment, name = _environment(template)
    try:
        import jinja2
        return environment.get_template(name).render(**html_context(report))
    except jinja2.TemplateError as exc:
        raise AuditError("The HTML template %s cannot be rendered: %s: %s. Change 'audit_html_template'."
                         % (template or DEFAULT_TEMPLATE, type(exc).__name__, exc))


# ----------------------------------------------------------------------------------------- metrics

METRIC_PREFIX = "ipoffice_security_"
# The certificate role label of each place a system stores a certificate.
CERTIFICATE_ROLES = {"identity": "identity", "telephony": "telephony_identity", "trusted": "trusted", "ca": "ca"}
SYSTEM_STATUSES = ("passed", "warning", "not_enforced", "failed")


def _label_value(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name, labels, value):
    text = ",".join('%s="%s"' % (key, _label_value(val)) for key, val in labels)
    return "%s%s%s %s" % (METRIC_PREFIX, name, "{%s}" % text if text else "", value)


def to_prometheus(report):
    """The report as Prometheus text exposition format (for node_exporter's textfile collector).

    Per system and certificate the seconds until it expires (as of the audit; negative once expired), per system
    the findings by severity and its status, the fleet's verdict and the time of the audit.  Labels: ``system``
    (the inventory name), ``role`` (identity, telephony_identity, trusted, ca), ``sha256``, ``subject``.
    """
    generated = parse_time(report["generated"])
    systems = report.get("systems", [])
    families = []

    expiry = []
    for system in systems:
        for cert in system.get("certificates", []):
            try:
                seconds = int((parse_time(cert["not_after"]) - generated).total_seconds())
            except (KeyError, TypeError, ValueError):
                continue
            expiry.append(_sample("certificate_expiry_seconds", (
                ("system", system["name"]), ("role", CERTIFICATE_ROLES.get(cert["where"], cert["where"])),
                ("sha256", cert.get("sha256") or ""), ("subject", cert.get("subject") or "")), seconds))
    families.append(("certificate_expiry_seconds", "gauge",
                     "Seconds from the audit until the certificate expires (negative: expired).", expiry))

    findings = []
    for system in systems:
        for severity in ("error", "warning", "info"):
            count = sum(1 for f in system.get("findings", []) if f["severity"] == severity)
            findings.append(_sample("findings", (("system", system["name"]), ("severity", severity)), count))
    families.append(("findings", "gauge", "Findings of the system by severity.", findings))

    enforced = []
    for system in systems:
        count = sum(1 for f in system.get("findings", []) if f.get("enforced"))
        enforced.append(_sample("failing_findings", (("system", system["name"]),), count))
    families.append(("failing_findings", "gauge",
                     "Findings of the system that fail the audit (audit_fail_on selects them).", enforced))

    statuses = []
    for system in systems:
        status = system.get("status", "passed")
        for value in SYSTEM_STATUSES:
            statuses.append(_sample("system_status", (("system", system["name"]), ("status", value)),
                                    1 if status == value else 0))
    families.append(("system_status", "gauge",
                     "The system's audit status (1 for the one that holds): passed, warning, not_enforced, failed.",
                     statuses))

    verdict = report.get("summary", {}).get("verdict", "passed")
    families.append(("audit_verdict", "gauge", "The audit's verdict (1 for the one that holds).",
                     [_sample("audit_verdict", (("verdict", value),), 1 if verdict == value else 0)
                      for value in ("passed", "not_enforced", "failed")]))
    families.append(("audit_timestamp_seconds", "gauge", "When the audit was made (Unix time).",
                     [_sample("audit_timestamp_seconds", (), int(generated.timestamp()))]))
    families.append(("audit_systems", "gauge", "Systems in the audit.",
                     [_sample("audit_systems", (), len(systems))]))

    lines = []
    for name, kind, text, samples in families:
        lines.append("# HELP %s%s %s" % (METRIC_PREFIX, name, text))
        lines.append("# TYPE %s%s %s" % (METRIC_PREFIX, name, kind))
        lines.extend(samples)
    return "\n".join(lines) + "\n"


def expiry_timeline(report):
    """The certificates of the fleet ordered by expiry (what the HTML timeline draws), as data."""
    items = []
    for system in report.get("systems", []):
        for cert in system.get("certificates", []):
            items.append({"system": system["name"], "where": cert["where"], "subject": cert.get("subject"),
                          "not_after": cert.get("not_after"), "days_left": cert.get("days_left"),
                          "sha256": cert.get("sha256")})
    return sorted(items, key=lambda i: (i["not_after"] or "", i["system"], i["where"]))
