"""The fleet audit's renderings (plugin_utils/_audit_render.py): JSON, JUnit XML, the HTML template.

The fleet (tests/audit_fleet.py) is real security_info snapshots of real stores.
"""

import html.parser
import json
import xml.etree.ElementTree as ET

import pytest

from audit_fleet import NOW, fleet_report
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.plugin_utils import _audit_findings, _audit_render


def test_json_round_trip_renders_the_same(fleet):
    report = fleet_report(fleet)
    text = _audit_render.to_json(report)
    again = json.loads(text)
    assert again == json.loads(json.dumps(report))
    assert _audit_render.to_html(again) == _audit_render.to_html(report)
    assert _audit_render.to_junit(again) == _audit_render.to_junit(report)
    # No secret reaches the report: the SCEP password is only a flag.
    assert "password_set" in text and '"password":' not in text


# ------------------------------------------------------------------------------------------- JUnit


def test_junit_has_a_case_per_system_and_check(fleet):
    report = fleet_report(fleet)
    root = ET.fromstring(_audit_render.to_junit(report))
    assert root.tag == "testsuites"
    suites = dict((s.get("name"), s) for s in root.findall("testsuite"))
    assert sorted(suites) == sorted(s["name"] for s in report["systems"])
    total = 0
    for system in report["systems"]:
        cases = suites[system["name"]].findall("testcase")
        assert [c.get("name") for c in cases] == [c["name"] for c in system["checks"]]
        assert int(suites[system["name"]].get("tests")) == len(cases)
        for case, check in zip(cases, system["checks"]):
            errors = [f for f in check["findings"] if f["severity"] == "error"]
            failure = case.find("failure")
            assert (failure is not None) == bool(errors), (system["name"], check["name"])
            if errors:
                for f in errors:
                    assert f["message"] in failure.text
                assert failure.get("type") == ",".join(sorted(set(f["code"] for f in errors)))
            for f in check["findings"]:
                if f["severity"] == "warning":
                    assert f["message"] in case.find("system-out").text
            total += 1
    assert int(root.get("tests")) == total
    # The failure count is the report's: every check with an enforced (by default: error) finding.
    failing_checks = sum(1 for s in report["systems"] for c in s["checks"]
                         if any(f["severity"] == "error" for f in c["findings"]))
    assert int(root.get("failures")) == report["summary"]["failed_checks"] == failing_checks > 0
    assert report["summary"]["verdict"] == "failed" and report["summary"]["passed"] is False
    assert root.find("properties/property[@name='verdict']").get("value") == "failed"


def test_junit_counts_what_the_report_enforces_and_skips_what_it_does_not(fleet):
    report = fleet_report(fleet, fail_on=["weak_key"])
    root = ET.fromstring(_audit_render.to_junit(report))
    cases = dict(((s.get("name"), c.get("name")), c) for s in root.findall("testsuite") for c in s.findall("testcase"))
    failing = [key for key, case in cases.items() if case.find("failure") is not None]
    assert failing == [("trouble", "keys")]
    assert int(root.get("failures")) == report["summary"]["failed_checks"] == 1
    # Error findings fail_on does not select are not shown as passing: the case is skipped, "not enforced".
    skipped = cases[("trouble", "expiry")].find("skipped")
    assert skipped is not None and skipped.get("message").startswith("not enforced")
    assert int(root.get("skipped")) == sum(1 for s in report["systems"] for c in s["checks"]
                                           if c["status"] == "not_enforced") > 0


# -------------------------------------------------------------------------------------------- HTML


class PageParser(html.parser.HTMLParser):
    """Collects what a person sees and what the page would load."""

    def __init__(self):
        super().__init__()
        self.sections = {}
        self.current = None
        self.text = []
        self.loads = []
        self.marks = []
        self.findings = []
        self.tags = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        for name in ("src", "href", "xlink:href"):
            value = attrs.get(name)
            if value is not None and not value.startswith("#"):
                self.loads.append((tag, value))
        if tag == "link" or (tag == "script"):
            self.loads.append((tag, attrs))
        if tag == "section":
            self.current = attrs.get("data-system")
            self.sections[self.current] = []
        if "cert" in (attrs.get("class") or "").split():
            self.marks.append((attrs.get("data-system"), attrs.get("data-sha256"), attrs.get("class").split()[1]))
        if tag == "span" and attrs.get("class") == "finding":
            self.findings.append((self.current, attrs.get("data-code")))

    def handle_endtag(self, tag):
        if tag == "section":
            self.current = None

    def handle_data(self, data):
        self.text.append(data)
        if self.current is not None:
            self.sections[self.current].append(data)


def test_html_page_shows_every_system_and_finding(fleet):
    report = fleet_report(fleet)
    page = _audit_render.to_html(report)
    parser = PageParser()
    parser.feed(page)
    parser.close()
    assert page.startswith("<!DOCTYPE html>")
    assert parser.loads == [], "the page must be self-contained"
    assert "svg" in parser.tags and "style" in parser.tags
    assert sorted(parser.sections) == sorted(s["name"] for s in report["systems"])
    for system in report["systems"]:
        text = " ".join(parser.sections[system["name"]])
        for finding in system["findings"]:
            assert finding["message"] in text, finding
            assert (system["name"], finding["code"]) in parser.findings
        for cert in system["certificates"]:
            assert cert["sha256"] in text
    # Escaped, not interpreted.
    assert "<script>" not in page and "unreachable &lt;script&gt;" in page
    # The timeline has a mark per stored certificate, coloured by expiry.
    expected = sorted((s["name"], c["sha256"]) for s in report["systems"] for c in s["certificates"])
    assert sorted((m[0], m[1]) for m in parser.marks) == expected
    status = dict(((m[0], m[1]), m[2]) for m in parser.marks)
    certs = fleet["certs"]
    assert status[("trouble", _certs.fingerprint(certs["expired"]))] == "error"
    assert status[("trouble", _certs.fingerprint(certs["soon"]))] == "warning"
    assert status[("hardened", fleet["hardened"]["identity"]["sha256"])] == "ok"


def test_timeline_orders_the_fleet_by_expiry(fleet):
    items = _audit_render.expiry_timeline(fleet_report(fleet))
    assert [i["not_after"] for i in items] == sorted(i["not_after"] for i in items)
    assert items[0]["sha256"] == _certs.fingerprint(fleet["certs"]["expired"])


def test_filter_plugin_wraps_the_core(fleet):
    from ansible.errors import AnsibleFilterError
    from ansible_collections.ipoffice.security.plugins.filter.audit import FilterModule

    filters = FilterModule().filters()
    assert {"audit_report", "audit_findings", "audit_failures", "audit_junit", "audit_html", "audit_json",
            "audit_failure_message", "audit_timeline"} <= set(filters)
    report = filters["audit_report"]({"fresh": {"info": fleet["fresh"]}}, generated=_audit_findings.iso(NOW))
    assert [f["code"] for f in filters["audit_findings"](report, ["error"])] == ["level_below_minimum"] * 2
    assert len(filters["audit_failures"](report)) == 2  # the default fail_on: every error finding
    relaxed = filters["audit_report"]({"fresh": {"info": fleet["fresh"]}}, generated=_audit_findings.iso(NOW),
                                      fail_on=[])
    assert filters["audit_failures"](relaxed) == []
    with pytest.raises(AnsibleFilterError, match="audit_policy"):
        filters["audit_report"]({}, policy={"typo": 1})


def test_the_page_lists_every_finding_at_the_top_and_marks_flagged_certificates(fleet):
    report = fleet_report(fleet)
    page = _audit_render.to_html(report)
    top = page.split('<h2>Certificate expiry timeline</h2>')[0]
    for finding in _audit_findings.report_findings(report):
        assert finding["message"] in html.unescape(top)
    context = _audit_render.html_context(report)
    trouble = [s for s in context["systems"] if s["name"] == "trouble"][0]
    weak = fleet["certs"]["weak"]
    rows = [c for c in trouble["certificates"] if c["sha256"] == _certs.fingerprint(weak)]
    assert rows and all(c["status"] == "error" for c in rows)  # weak key: flagged although far from expiry
    assert trouble["errors"] == sum(1 for f in trouble["findings"] if f["severity"] == "error")


def test_a_template_of_your_own_can_replace_one_block_of_the_page(fleet, tmp_path):
    own = tmp_path / "mine.html.j2"
    own.write_text('{% extends "ipoffice.security/audit_report.html.j2" %}'
                   '{% block title %}ACME audit{% endblock %}'
                   '{% block timeline %}<p id="acme">{{ verdict }} {{ findings | length }} {{ "<b>" }}</p>'
                   '{% endblock %}')
    report = fleet_report(fleet)
    page = _audit_render.to_html(report, template=str(own))
    assert "<title>ACME audit</title>" in page
    assert '<p id="acme">failed %d &lt;b&gt;</p>' % report["summary"]["findings"] in page  # autoescaped
    assert "Certificate expiry timeline" not in page and 'data-verdict="failed"' in page
    # The same through the filter the role uses.
    from ansible_collections.ipoffice.security.plugins.filter.audit import FilterModule
    assert FilterModule().filters()["audit_render"](report, "html", template=str(own)) == page


def test_a_missing_or_broken_template_is_a_clear_error(fleet, tmp_path):
    report = fleet_report(fleet)
    with pytest.raises(_audit_findings.AuditError, match="does not exist. Change 'audit_html_template'"):
        _audit_render.to_html(report, template=str(tmp_path / "nope.j2"))
    broken = tmp_path / "broken.j2"
    broken.write_text("{{ summary.no_such_key.deeper }}")
    with pytest.raises(_audit_findings.AuditError, match="cannot be rendered: UndefinedError"):
        _audit_render.to_html(report, template=str(broken))
