"""The fleet audit's findings (plugin_utils/_audit_findings.py): policy, checks, verdict.

The fleet (tests/audit_fleet.py) is real security_info snapshots of real stores.
"""

import datetime
import json

import pytest

from audit_fleet import NOW, endpoint_results, fleet_report
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.plugin_utils import _audit_findings as _audit


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
    # security_info's own findings reach the audit under their registered checks: the initial identity of a
    # server system is valid about 7 years (Apple refuses over 825 days), and peers at high must pin it.
    assert codes(system["findings"]) == ["level_below_minimum", "level_below_minimum", "lifetime_over_825_days",
                                         "not_pinned"]
    assert [(f["check"], f["severity"]) for f in checks["lifetime"]] == [("lifetime", "warning")]
    assert [(f["check"], f["severity"]) for f in checks["identity"]] == [("identity", "info")]
    # The certificates it stores: identity, ca, and the ca again as trusted entry, with days left.
    assert sorted(c["where"] for c in system["certificates"]) == ["ca", "identity", "trusted"]
    identity = [c for c in system["certificates"] if c["where"] == "identity"][0]
    assert identity["sha256"] == fleet["fresh"]["identity"]["sha256"]
    # Days left as of the report's time (NOW), not as of the moment security_info ran.
    assert identity["days_left"] == _audit.days_between(_audit.parse_time(NOW),
                                                        _audit.parse_time(identity["not_after"]))
    assert abs(identity["days_left"] - fleet["fresh"]["identity"]["days_left"]) <= 1


def test_hardened_system_passes_the_default_policy(fleet):
    system = _audit.audit_system("hardened", fleet["hardened"], generated=NOW)
    # No error: only the initial identity's lifetime (a warning) and the note that peers at high pin it.
    assert sorted((f["code"], f["severity"]) for f in system["findings"]) == [
        ("lifetime_over_825_days", "warning"), ("not_pinned", "info")]
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
    assert codes(checks["expiry"]) == ["certificate_expiring"]


@pytest.mark.parametrize("setting,actual,minimum,ok", [
    ("management_interfaces", "high_remote", "medium_remote", True),
    ("management_interfaces", "high", "medium_remote", False),
    ("management_interfaces", "medium_remote", "high", False),
    ("management_interfaces", "medium", "low", True),
    ("management_interfaces", "none", "none", True),
    ("management_interfaces", "low", "medium", False),
    ("sip_security_level", "medium", "high", False),
    ("h323_security_level", "high", "medium", True),
    ("ip_office_lines", "medium", "medium", True),
    ("ip_office_lines", "none", "medium", False),
    ("telephony_endpoints", None, "low", False),
])
def test_level_ordering(setting, actual, minimum, ok):
    assert _audit.level_satisfies(setting, actual, minimum) is ok


def test_level_tables_come_from_the_settings_model_and_the_check_engine():
    from ansible_collections.ipoffice.security.plugins.module_utils import _checks_settings, _model

    assert _audit.LEVEL_SETTINGS["management_interfaces"].choices == _model.CHECK_LEVELS
    assert _audit.LEVEL_SETTINGS["ip_office_lines"].choices == _model.LINE_CHECK_LEVELS
    assert _audit.LEVEL_SETTINGS["sip_security_level"].choices == _model.SECURITY_LEVELS
    assert _audit.TRUSTED_STORE_LIMIT == _model.TRUSTED_STORE_LIMIT
    # "At least" for check levels is exactly "runs every check of" in the engine's level definitions.
    for actual in _model.CHECK_LEVELS:
        for minimum in _model.CHECK_LEVELS:
            runs_all = _checks_settings.checks_of(minimum) <= _checks_settings.checks_of(actual)
            assert _audit.level_satisfies("management_interfaces", actual, minimum) is runs_all


def test_weak_signature_names():
    weak = ["md5", "sha1"]
    assert _audit.is_weak_signature("sha1WithRSAEncryption", weak)
    assert _audit.is_weak_signature("ecdsa-with-SHA1", weak)
    assert _audit.is_weak_signature("md5WithRSAEncryption", weak)
    assert not _audit.is_weak_signature("sha256WithRSAEncryption", weak)
    assert not _audit.is_weak_signature("ecdsa-with-SHA384", weak)
    assert not _audit.is_weak_signature("ed25519", weak)


# ---------------------------------------------------------------------------------------- endpoints


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


def test_report_summary_and_fail_on(fleet):
    report = fleet_report(fleet)
    assert [s["name"] for s in report["systems"]] == ["down <&>", "fresh", "hardened", "small", "trouble"]
    total = sum(len(s["findings"]) for s in report["systems"])
    assert report["summary"]["findings"] == total == len(_audit.report_findings(report))
    assert report["summary"]["by_code"]["weak_key"] == 2
    failing = fleet_report(fleet, fail_on=["certificate_expired", "endpoint"])
    assert failing["summary"]["passed"] is False and failing["summary"]["verdict"] == "failed"
    found = _audit.report_findings(failing, ["certificate_expired", "endpoint"])
    assert sorted(f["code"] for f in found) == ["certificate_expired", "endpoint_rejected", "endpoint_unreachable",
                                                "endpoint_unreachable"]
    assert _audit.report_failures(failing) == found
    assert len(_audit.report_findings(report, "warning")) == report["summary"]["by_severity"]["warning"]
    assert len(_audit.report_findings(report, ["any"])) == total
    message = _audit.failure_message(found)
    assert message.startswith("The audit failed: 4 finding(s)") and "trouble [expiry/certificate_expired]" in message


def test_error_findings_fail_the_audit_by_default(fleet):
    report = fleet_report(fleet)
    summary = report["summary"]
    errors = summary["by_severity"]["error"]
    assert errors > 0
    assert summary["fail_on"] == ["error"] and summary["enforced"] is True
    assert summary["verdict"] == "failed" and summary["passed"] is False
    assert summary["failures"] == errors == len(_audit.report_failures(report))
    assert all(f["enforced"] is (f["severity"] == "error") for f in _audit.report_findings(report))
    assert _audit.verdict_text(summary).startswith("FAILED")


def test_an_empty_fail_on_is_not_enforced_never_passed(fleet):
    report = fleet_report(fleet, fail_on=[])
    summary = report["summary"]
    assert summary["verdict"] == "not_enforced" and summary["passed"] is None
    assert summary["failures"] == summary["failed_checks"] == 0
    assert summary["not_enforced"] == summary["by_severity"]["error"] > 0
    assert _audit.verdict_text(summary).startswith("NOT ENFORCED: audit_fail_on is empty")
    # Even a fleet without any error finding is not "passed" when nothing was enforced.
    clean = _audit.build_report({"hardened": {"info": fleet["hardened"]}}, generated=NOW, fail_on=[])
    assert clean["summary"]["by_severity"]["error"] == 0 and clean["summary"]["verdict"] == "not_enforced"


def test_a_narrowed_fail_on_says_which_errors_are_not_enforced(fleet):
    report = fleet_report(fleet, fail_on=["certificate_expired"])
    assert report["summary"]["verdict"] == "failed"
    report = fleet_report(fleet, fail_on=["trusted_store_size"])
    summary = report["summary"]
    assert summary["verdict"] == "not_enforced" and summary["passed"] is None and summary["failures"] == 0
    assert "does not select" in _audit.verdict_text(summary)
    # Only a fleet without error findings, with fail_on enforced, passes.
    clean = _audit.build_report({"hardened": {"info": fleet["hardened"]}}, generated=NOW)
    assert clean["summary"]["verdict"] == "passed" and clean["summary"]["passed"] is True


def test_a_missing_store_is_an_error_finding():
    info = {"changed": False, "initialised": False, "store_path": "/nowhere/ipo-x", "system_name": None}
    system = _audit.audit_system("ipo-x", info, generated=NOW)
    assert codes(system["findings"]) == ["store_not_initialised"]
    assert system["findings"][0]["severity"] == "error" and "/nowhere/ipo-x" in system["findings"][0]["message"]
    assert system["initialised"] is False


def test_every_security_info_finding_reaches_the_audit_with_its_severity(fleet):
    """Whatever security_info reports about a system is in the audit, under its registered check and severity;
    a code the registry does not know is an error under 'security_info' (never passed over); live read-back's
    findings in the list are judged per live endpoint, not twice."""
    info = dict(fleet["hardened"], findings=list(fleet["hardened"]["findings"]) + [
        {"code": "untrusted_chain", "message": "no path", "where": "identity", "sha256": "ab"},
        {"code": "self_signed", "message": "self-signed", "where": "identity"},
        {"code": "brand_new_code", "message": "something new"},
        {"code": "live_unreachable", "message": "judged per endpoint", "where": "live"}])
    system = _audit.audit_system("hardened", info, generated=NOW)
    checks = by_check(system)
    found = dict((f["code"], (f["check"], f["severity"])) for f in system["findings"])
    assert found["untrusted_chain"] == ("identity", "error") and found["self_signed"] == ("identity", "warning")
    assert found["brand_new_code"] == ("security_info", "error")
    assert "live_unreachable" not in found
    assert [f["where"] for f in checks["identity"] if f["code"] == "untrusted_chain"] == ["identity"]
    report = _audit.build_report({"hardened": {"info": info}}, generated=NOW)
    assert report["summary"]["verdict"] == "failed"
    assert report["summary"]["failing_systems"] == {"hardened": ["brand_new_code", "untrusted_chain"]}


def test_audit_policy_severities_lower_or_raise_any_code(fleet):
    info = dict(fleet["hardened"], findings=list(fleet["hardened"]["findings"]) + [
        {"code": "untrusted_chain", "message": "no path", "where": "identity"}])
    policy = {"severities": {"untrusted_chain": "warning", "lifetime_over_825_days": "error", "not_pinned": "info"}}
    report = _audit.build_report({"hardened": {"info": info}}, generated=NOW, policy=policy)
    found = dict((f["code"], f["severity"]) for f in report["systems"][0]["findings"])
    assert found == {"untrusted_chain": "warning", "lifetime_over_825_days": "error", "not_pinned": "info"}
    assert report["summary"]["failing_systems"] == {"hardened": ["lifetime_over_825_days"]}
    assert report["policy"]["severities"] == policy["severities"]
    with pytest.raises(_audit.AuditError,
                       match="unknown finding code 'untrusted_chian'.*did you mean 'untrusted_chain'"):
        _audit.policy_with_defaults({"severities": {"untrusted_chian": "info"}})
    with pytest.raises(_audit.AuditError, match="severities.untrusted_chain must be one of error, warning, info"):
        _audit.policy_with_defaults({"severities": {"untrusted_chain": "fatal"}})


def test_small_platform_default_levels_are_below_policy(fleet):
    small = _audit.audit_system("small", fleet["small"], generated=NOW)
    settings = sorted(f["setting"] for f in small["findings"] if f["code"] == "level_below_minimum")
    assert settings == ["h323_security_level", "management_interfaces", "sip_security_level", "telephony_endpoints"]
    # Its self-signed identity (825 days: not over the limit) as a peer at high_remote judges it: peers must
    # trust that very certificate (untrusted_chain, an error), and high levels want a CA-issued one.
    identity = sorted((f["code"], f["severity"]) for f in by_check(small)["identity"])
    assert identity == [("not_pinned", "info"), ("self_signed", "warning"), ("untrusted_chain", "error")]
    assert by_check(small)["lifetime"] == []


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
    with pytest.raises(_audit.AuditError,
                       match="unknown value 'certificate_expird' .did you mean 'certificate_expired'.*audit_fail_on"):
        _audit.normalize_fail_on(["certificate_expird"])
    # Every registered finding code is a selector (the engine's too).
    assert _audit.normalize_fail_on(["expired", "identity", "info"]) == ["expired", "identity", "info"]
    assert _audit.normalize_fail_on("error, weak_key") == ["error", "weak_key"]
    assert _audit.normalize_fail_on("endpoint:web") == ["endpoint:web"]


def test_live_read_back_becomes_one_check_per_endpoint(tmp_path):
    """security_info's live results (real s_server, a closed port) as audit checks; one host:port serving two
    things gets two checks, each saying what it serves; fail_on 'live' selects them."""
    import helpers
    from ansible_collections.ipoffice.security.plugins.module_utils import _info
    from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

    store = DirectoryStore(path=str(tmp_path / "store"), system_name="ipo1.example.com",
                           system_addresses=["127.0.0.1"])

    def with_line(state):
        state.settings["checks"]["ip_office_lines"] = [{"name": "HQ", "transport": "websocket_client",
                                                        "check_level": "medium"}]

    store.update(with_line)
    identity = tmp_path / "store" / "current" / "identity"
    closed = helpers.free_port()
    with helpers.openssl_server(str(identity / "cert.pem"), str(identity / "key.pem")) as port:
        info = _info.run(store, {"live_endpoints": [
            {"host": "127.0.0.1", "port": port, "serves": "management"},
            {"host": "127.0.0.1", "port": port, "serves": "line:HQ"},
            {"host": "127.0.0.1", "port": closed, "serves": "telephony"}], "live_timeout": 5})
    system = _audit.audit_system("ipo1", info, generated=NOW)
    checks = by_check(system)
    both = ["live:127.0.0.1:%d (management)" % port, "live:127.0.0.1:%d (line:HQ)" % port]
    for name in both:  # the leaf without the chain the store offers
        assert "live_chain_mismatch" in codes(checks[name])
    assert codes(checks["live:127.0.0.1:%d" % closed]) == ["live_unreachable"]
    assert [e["status"] for e in system["live"]] == ["mismatch", "mismatch", "unreachable"]
    report = _audit.build_report({"ipo1": {"info": info}}, generated=NOW, fail_on=["live"])
    enforced = [f for f in report["systems"][0]["findings"] if f.get("enforced")]
    assert enforced and all(f["check"].startswith("live:") for f in enforced)
    with pytest.raises(_audit.AuditError):
        _audit.normalize_fail_on(["lives"])
