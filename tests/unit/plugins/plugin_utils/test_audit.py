"""The fleet audit core (plugin_utils/_audit.py): findings, policy, JSON, JUnit XML and HTML.

Inputs are real security_info snapshots of real stores (real certificates, keys and signatures), so a
change to what security_info returns that breaks the audit fails here.
"""

import datetime
import html.parser
import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._info import snapshot
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore
from ansible_collections.ipoffice.security.plugins.plugin_utils import _audit

NOW = _certs.utcnow()


def make_info(path, name, mutate=None, platform="server"):
    store = DirectoryStore(path=str(path), platform=platform, system_name=name, system_addresses=[])
    update = store.update(mutate or (lambda state: None))
    return snapshot(store, update.after)


def issued(ca_cert, ca_key, name, days, signature="sha256_rsa2048", not_before=None):
    key = _certs.generate_private_key(signature)
    return _certs.build_certificate("CN=" + name, key, days, signature=signature, subject_alt_names=["DNS:" + name],
                                    issuer_cert=ca_cert, issuer_key=ca_key, not_before=not_before)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Four real systems: a fresh one, a hardened one, one with problems, an IP500 V2."""
    base = tmp_path_factory.mktemp("fleet")
    root_key = _certs.generate_private_key("sha256_rsa2048")
    root = _certs.build_certificate("CN=Audit Test Root", root_key, 3650, ca=True)
    sha1_root_key = _certs.generate_private_key("sha1_rsa1024")
    sha1_root = _certs.build_certificate("CN=Legacy SHA1 Root", sha1_root_key, 3650, signature="sha1_rsa1024",
                                         ca=True)
    weak_leaf = issued(root, root_key, "weak.example.com", 400, signature="sha1_rsa1024")
    soon = issued(root, root_key, "soon.example.com", 10)
    expired = issued(root, root_key, "gone.example.com", 30, not_before=NOW - datetime.timedelta(days=100))

    def harden(state):
        state.settings["checks"].update(management_interfaces="high_remote", telephony_endpoints="high",
                                        ip_office_lines=[{"name": "branch", "transport": "websocket_client",
                                                          "check_level": "high"}])
        state.add_trusted([root])

    def trouble(state):
        state.settings["checks"].update(management_interfaces="medium_remote", telephony_endpoints="low",
                                        sip_security_level="medium",
                                        ip_office_lines=[{"name": "hq", "transport": "websocket_server",
                                                          "check_level": "none"}])
        state.add_trusted([root, sha1_root, weak_leaf, soon, expired])

    return {
        "fresh": make_info(base / "fresh", "fresh.example.com"),
        "hardened": make_info(base / "hardened", "hardened.example.com", harden),
        "trouble": make_info(base / "trouble", "trouble.example.com", trouble),
        "small": make_info(base / "small", "small.example.com", platform="ip500v2"),
        "certs": {"weak": weak_leaf, "soon": soon, "expired": expired, "sha1_root": sha1_root},
    }


def codes(findings):
    return sorted(f["code"] for f in findings)


def by_check(system):
    return dict((c["name"], c["findings"]) for c in system["checks"])


# ---------------------------------------------------------------------------------------- findings


def test_fresh_system_is_told_to_raise_its_check_levels(fleet):
    system = _audit.audit_system("fresh", fleet["fresh"], generated=NOW)
    checks = by_check(system)
    assert [c["name"] for c in system["checks"]] == list(_audit.CHECKS)
    assert sorted(f["setting"] for f in checks["minimum_levels"]) == ["management_interfaces", "telephony_endpoints"]
    assert all(f["actual"] == "none" and f["minimum"] == "medium" for f in checks["minimum_levels"])
    assert codes(system["findings"]) == ["level_below_minimum", "level_below_minimum"]
    # The certificates it stores: identity, ca, and the ca again as trusted entry, with days left.
    assert sorted(c["where"] for c in system["certificates"]) == ["ca", "identity", "trusted"]
    identity = [c for c in system["certificates"] if c["where"] == "identity"][0]
    assert identity["sha256"] == fleet["fresh"]["identity"]["sha256"]
    assert identity["days_left"] == fleet["fresh"]["identity"]["days_left"]


def test_hardened_system_passes_the_default_policy(fleet):
    system = _audit.audit_system("hardened", fleet["hardened"], generated=NOW)
    assert system["findings"] == []
    assert system["levels"]["management_interfaces"] == "high_remote"
    assert system["trusted_count"] == 2


def test_problems_are_each_found_with_their_code(fleet):
    system = _audit.audit_system("trouble", fleet["trouble"], generated=NOW)
    checks = by_check(system)
    certs = fleet["certs"]
    # medium_remote includes medium; low does not; sip_security_level medium < high; the line is at none.
    levels = dict((f.get("line") or f["setting"], f["actual"]) for f in checks["minimum_levels"])
    assert levels == {"telephony_endpoints": "low", "sip_security_level": "medium", "hq": "none"}
    expiry = dict((f["sha256"], f["code"]) for f in checks["expiry"])
    assert expiry == {_certs.fingerprint(certs["soon"]): "certificate_expiring",
                      _certs.fingerprint(certs["expired"]): "certificate_expired"}
    assert [f["severity"] for f in checks["expiry"] if f["code"] == "certificate_expired"] == ["error"]
    # The SHA-1 leaf is weak; the self-signed SHA-1 root is a trust anchor whose signature is not judged.
    assert [f["sha256"] for f in checks["signatures"]] == [_certs.fingerprint(certs["weak"])]
    assert "sha1" in checks["signatures"][0]["message"].lower()
    assert sorted(f["sha256"] for f in checks["keys"]) == sorted(
        [_certs.fingerprint(certs["weak"]), _certs.fingerprint(certs["sha1_root"])])
    assert all(f["key_bits"] == 1024 for f in checks["keys"])
    assert checks["trusted_store"] == []


def test_trust_anchor_signatures_are_judged_when_asked(fleet):
    system = _audit.audit_system("trouble", fleet["trouble"], generated=NOW,
                                 policy={"check_trust_anchor_signatures": True})
    assert len(by_check(system)["signatures"]) == 2


def test_policy_thresholds(fleet):
    policy = {"expiry_days": 3, "minimum_rsa_bits": 1024, "max_trusted_certificates": 3,
              "minimum_levels": {"management_interfaces": "high", "sip_security_level": None}}
    checks = by_check(_audit.audit_system("trouble", fleet["trouble"], generated=NOW, policy=policy))
    assert codes(checks["expiry"]) == ["certificate_expired"]  # 10 days left is outside 3
    assert checks["keys"] == []
    assert [f["count"] for f in checks["trusted_store"]] == [6]
    assert "holds 6 certificates; the policy allows 3" in checks["trusted_store"][0]["message"]
    # medium_remote does not include high's checks.
    assert [f["setting"] for f in checks["minimum_levels"]] == ["management_interfaces"]


def test_expiry_uses_each_systems_warning_days_by_default(fleet):
    info = json.loads(json.dumps(fleet["trouble"]))
    info["settings"]["checks"]["certificate_expiry_warning_days"] = 5
    checks = by_check(_audit.audit_system("trouble", info, generated=NOW))
    assert codes(checks["expiry"]) == ["certificate_expired"]
    assert _audit.audit_system("trouble", info, generated=NOW)["expiry_days"] == 5


def test_time_passing_moves_certificates_into_the_warning_window(fleet):
    later = NOW + datetime.timedelta(days=400)
    checks = by_check(_audit.audit_system("hardened", fleet["hardened"], generated=later))
    assert checks["expiry"] == []
    much_later = NOW + datetime.timedelta(days=7 * 365)
    checks = by_check(_audit.audit_system("hardened", fleet["hardened"], generated=much_later))
    assert "certificate_expiring" in codes(checks["expiry"]) or "certificate_expired" in codes(checks["expiry"])


@pytest.mark.parametrize("kind,actual,minimum,ok", [
    ("check_level", "high_remote", "medium_remote", True),
    ("check_level", "high", "medium_remote", False),
    ("check_level", "medium_remote", "high", False),
    ("check_level", "medium", "low", True),
    ("check_level", "none", "none", True),
    ("check_level", "low", "medium", False),
    ("security_level", "medium", "high", False),
    ("security_level", "high", "medium", True),
    ("line_level", "medium", "medium", True),
    ("line_level", "none", "medium", False),
    ("check_level", None, "low", False),
])
def test_level_ordering(kind, actual, minimum, ok):
    assert _audit.level_satisfies(kind, actual, minimum) is ok


def test_weak_signature_names():
    weak = ["md5", "sha1"]
    assert _audit.is_weak_signature("sha1WithRSAEncryption", weak)
    assert _audit.is_weak_signature("ecdsa-with-SHA1", weak)
    assert _audit.is_weak_signature("md5WithRSAEncryption", weak)
    assert not _audit.is_weak_signature("sha256WithRSAEncryption", weak)
    assert not _audit.is_weak_signature("ecdsa-with-SHA384", weak)
    assert not _audit.is_weak_signature("ed25519", weak)


# ---------------------------------------------------------------------------------------- endpoints


def endpoint_results():
    return [
        {"item": {"name": "sip-trunk", "host": "127.0.0.1", "port": 5061, "level": "high"}, "passed": True,
         "findings": [], "certificate": {"subject": "CN=ok", "not_after": "2030-01-01T00:00:00Z", "sha256": "aa"}},
        {"item": {"name": "web", "host": "127.0.0.1", "port": 8443, "level": "medium"}, "passed": False,
         "findings": [{"code": "untrusted_chain", "message": "no path to a trusted root"},
                      {"code": "expired", "message": "expired on 2020-01-01"}]},
        {"item": {"host": "db.example.com", "port": 443}, "failed": True, "error": "connection_refused",
         "msg": "Connection refused by db.example.com:443"},
        # The role registers with failed_when: false, so a failure arrives with failed=false and no verdict.
        {"item": {"name": "pbx", "host": "10.0.0.9", "port": 5061}, "failed": False, "changed": False,
         "error": "timeout", "msg": "No answer from 10.0.0.9:5061 within 10 s"},
    ]


def test_endpoint_results_become_checks(fleet):
    system = _audit.audit_system("hardened", fleet["hardened"], verify=endpoint_results(), generated=NOW)
    checks = by_check(system)
    assert checks["endpoint:sip-trunk"] == []
    assert codes(checks["endpoint:web"]) == ["endpoint_rejected"]
    assert checks["endpoint:web"][0]["codes"] == ["expired", "untrusted_chain"]
    assert "untrusted_chain: no path to a trusted root" in checks["endpoint:web"][0]["message"]
    assert codes(checks["endpoint:db.example.com:443"]) == ["endpoint_unreachable"]
    assert "Connection refused" in checks["endpoint:db.example.com:443"][0]["message"]
    assert codes(checks["endpoint:pbx"]) == ["endpoint_unreachable"]
    assert checks["endpoint:pbx"][0]["error"] == "timeout"
    assert [e["status"] for e in system["endpoints"]] == ["passed", "rejected", "unreachable", "unreachable"]


def test_unreachable_system_is_one_finding(fleet):
    report = _audit.build_report({"down": {"info": {"failed": True, "msg": "Permission denied"}},
                                  "fresh": {"info": fleet["fresh"]}}, generated=NOW)
    down = [s for s in report["systems"] if s["name"] == "down"][0]
    assert codes(down["findings"]) == ["info_unavailable"]
    assert "Permission denied" in down["findings"][0]["message"]
    assert _audit.build_report({"gone": {}}, generated=NOW)["systems"][0]["findings"][0]["code"] == "info_unavailable"


# ------------------------------------------------------------------------------ report and fail_on


def fleet_report(fleet, fail_on=None, policy=None):
    systems = {"fresh": {"info": fleet["fresh"]}, "hardened": {"info": fleet["hardened"],
                                                               "verify": endpoint_results()},
               "trouble": {"info": fleet["trouble"]}, "small": {"info": fleet["small"]},
               "down <&>": {"info": {"failed": True, "msg": "unreachable <script>"}}}
    return _audit.build_report(systems, policy=policy, generated=NOW, fail_on=fail_on)


def test_report_summary_and_fail_on(fleet):
    report = fleet_report(fleet)
    assert [s["name"] for s in report["systems"]] == ["down <&>", "fresh", "hardened", "small", "trouble"]
    total = sum(len(s["findings"]) for s in report["systems"])
    assert report["summary"]["findings"] == total == len(_audit.report_findings(report))
    assert report["summary"]["by_code"]["weak_key"] == 2
    assert report["summary"]["passed"] is True and report["summary"]["failures"] == 0  # nothing asked to fail
    failing = fleet_report(fleet, fail_on=["certificate_expired", "endpoint"])
    assert failing["summary"]["passed"] is False
    found = _audit.report_findings(failing, ["certificate_expired", "endpoint"])
    assert sorted(f["code"] for f in found) == ["certificate_expired", "endpoint_rejected", "endpoint_unreachable",
                                                "endpoint_unreachable"]
    assert len(_audit.report_findings(report, "warning")) == report["summary"]["by_severity"]["warning"]
    assert len(_audit.report_findings(report, ["any"])) == total
    message = _audit.failure_message(found)
    assert message.startswith("The audit found 4 finding(s)") and "trouble [expiry/certificate_expired]" in message


def test_small_platform_default_levels_are_below_policy(fleet):
    small = _audit.audit_system("small", fleet["small"], generated=NOW)
    settings = sorted(f["setting"] for f in small["findings"])
    assert settings == ["h323_security_level", "management_interfaces", "sip_security_level", "telephony_endpoints"]


@pytest.mark.parametrize("policy,fragment", [
    ({"minimum_level": {}}, "Unknown audit policy key(s): minimum_level"),
    ({"minimum_levels": {"management": "high"}}, "unknown setting 'management'"),
    ({"minimum_levels": {"ip_office_lines": "high_remote"}}, "ip_office_lines must be one of none, medium, high"),
    ({"expiry_days": "soon"}, "expiry_days must be an integer"),
    ({"max_trusted_certificates": 30}, "must be from 0 to 25"),
    ({"weak_signature_hashes": "sha1"}, "weak_signature_hashes must be a list"),
    ("strict", "must be a dictionary"),
])
def test_bad_policy_is_a_clear_error(policy, fragment):
    with pytest.raises(_audit.AuditError) as info:
        _audit.policy_with_defaults(policy)
    assert fragment in str(info.value)
    assert "audit_policy" in str(info.value)


def test_bad_fail_on_is_a_clear_error():
    with pytest.raises(_audit.AuditError, match="unknown value 'expired'.*audit_fail_on"):
        _audit.normalize_fail_on(["expired"])
    assert _audit.normalize_fail_on("error, weak_key") == ["error", "weak_key"]
    assert _audit.normalize_fail_on("endpoint:web") == ["endpoint:web"]


def test_json_round_trip_renders_the_same(fleet):
    report = fleet_report(fleet)
    text = _audit.to_json(report)
    again = json.loads(text)
    assert again == json.loads(json.dumps(report))
    assert _audit.to_html(again) == _audit.to_html(report)
    assert _audit.to_junit(again) == _audit.to_junit(report)
    # No secret reaches the report: the SCEP password is only a flag.
    assert "password_set" in text and '"password":' not in text


# ------------------------------------------------------------------------------------------- JUnit


def test_junit_has_a_case_per_system_and_check(fleet):
    report = fleet_report(fleet)
    root = ET.fromstring(_audit.to_junit(report))
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
    assert int(root.get("failures")) == sum(1 for s in report["systems"] for c in s["checks"]
                                            if any(f["severity"] == "error" for f in c["findings"]))


def test_junit_fail_on_selects_failures(fleet):
    root = ET.fromstring(_audit.to_junit(fleet_report(fleet), fail_on=["weak_key"]))
    failing = [(s.get("name"), c.get("name")) for s in root.findall("testsuite") for c in s.findall("testcase")
               if c.find("failure") is not None]
    assert failing == [("trouble", "keys")]


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
    page = _audit.to_html(report)
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
    items = _audit.expiry_timeline(fleet_report(fleet))
    assert [i["not_after"] for i in items] == sorted(i["not_after"] for i in items)
    assert items[0]["sha256"] == _certs.fingerprint(fleet["certs"]["expired"])


def test_filter_plugin_wraps_the_core(fleet):
    from ansible.errors import AnsibleFilterError
    from ansible_collections.ipoffice.security.plugins.filter.audit import FilterModule

    filters = FilterModule().filters()
    assert {"audit_report", "audit_findings", "audit_failures", "audit_junit", "audit_html", "audit_json",
            "audit_failure_message", "audit_timeline"} <= set(filters)
    report = filters["audit_report"]({"fresh": {"info": fleet["fresh"]}}, generated=_audit.iso(NOW))
    assert [f["code"] for f in filters["audit_findings"](report)] == ["level_below_minimum"] * 2
    assert filters["audit_failures"](report, []) == []
    assert len(filters["audit_failures"](report, ["level_below_minimum"])) == 2
    with pytest.raises(AnsibleFilterError, match="audit_policy"):
        filters["audit_report"]({}, policy={"typo": 1})
