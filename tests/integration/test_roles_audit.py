"""roles/audit through real ansible-playbook runs (playbooks/audit.yml) on several local systems.

Real stores, real openssl s_server endpoints, one unreadable system; the reports written on the
controller are parsed back (JSON, JUnit XML, HTML) and must show every system and every finding.
"""

import datetime
import html.parser
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest
import yaml

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

AUDIT = os.path.join(helpers.REPO, "playbooks", "audit.yml")
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def write(path, data):
    with open(str(path), "wb") as handle:
        handle.write(data)
    return str(path)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("audit")
    now = _certs.utcnow()
    root_key = _certs.generate_private_key("sha256_rsa2048")
    root = _certs.build_certificate("CN=Audit Root", root_key, 3650, ca=True)
    web_key = _certs.generate_private_key("sha256_rsa2048")
    web = _certs.build_certificate("CN=web.example.com", web_key, 365, subject_alt_names=["IP:127.0.0.1"],
                                   issuer_cert=root, issuer_key=root_key)
    rogue_key = _certs.generate_private_key("sha256_rsa2048")
    rogue = _certs.build_certificate("CN=rogue.example.com", rogue_key, 365, subject_alt_names=["IP:127.0.0.1"])
    expired = _certs.build_certificate("CN=old-partner.example.com", _certs.generate_private_key(), 30,
                                       issuer_cert=root, issuer_key=root_key,
                                       not_before=now - datetime.timedelta(days=90))
    weak = _certs.build_certificate("CN=legacy.example.com", _certs.generate_private_key("sha1_rsa1024"), 400,
                                    signature="sha1_rsa1024", issuer_cert=root, issuer_key=root_key)
    stores = base / "stores"

    def make(host, mutate):
        store = DirectoryStore(path=str(stores / host), system_name=host + ".example.com", system_addresses=[])
        store.update(mutate)

    def good(state):
        state.settings["checks"].update(management_interfaces="high_remote", telephony_endpoints="medium")
        state.add_trusted([root])

    def bad(state):
        state.add_trusted([root, expired, weak])

    make("ipo-a", good)
    make("ipo-b", bad)
    make("ipo-c", good)
    (stores / "ipo-d").parent.mkdir(parents=True, exist_ok=True)
    (stores / "ipo-d").write_text("not a store\n")  # a path that is a file: security_info fails
    files = {"web": write(base / "web.pem", _certs.cert_pem(web)),
             "web_key": write(base / "web.key", _certs.key_pem(web_key)),
             "rogue": write(base / "rogue.pem", _certs.cert_pem(rogue)),
             "rogue_key": write(base / "rogue.key", _certs.key_pem(rogue_key))}
    with helpers.openssl_server(files["web"], files["web_key"]) as web_port, \
            helpers.openssl_server(files["rogue"], files["rogue_key"]) as rogue_port:
        closed = helpers.free_port()
        host_vars = {
            "ipo-a": {"audit_endpoints": [{"name": "web", "host": "127.0.0.1", "port": web_port,
                                           "level": "medium_remote", "purpose": "server"}]},
            "ipo-b": {"audit_endpoints": [{"name": "rogue", "host": "127.0.0.1", "port": rogue_port,
                                           "level": "medium", "purpose": "server"}]},
            "ipo-c": {"audit_endpoints": [{"name": "down", "host": "127.0.0.1", "port": closed, "level": "low",
                                           "timeout": 3}]},
            "ipo-d": {},
            "ipo-e": {},  # its store was never set up: the audit reports it and creates nothing
        }
        inventory = {"all": {"children": {"ipoffice": {
            "hosts": host_vars,
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                     "ipoffice_security": {"store": {"path": str(stores) + "/{{ inventory_hostname }}"}}}}}}}
        path = base / "inventory.yml"
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
        yield {"base": base, "inventory": str(path), "stores": stores,
               "expired": _certs.fingerprint(expired), "weak": _certs.fingerprint(weak)}


def audit(fleet, reports, *extra):
    args = [os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", fleet["inventory"], AUDIT,
            "-e", "audit_report_dir=%s" % reports] + list(extra)
    run = subprocess.run(args, capture_output=True, text=True, env=helpers.ansible_env(), timeout=600, check=False)
    run.recap = dict((m.group(1), {"changed": int(m.group(3)), "failed": int(m.group(5))})
                     for m in RECAP.finditer(run.stdout))
    return run


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.current, self.findings, self.external, self.marks = {}, None, [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "link", "img", "iframe") or any(
                attrs.get(a) and not attrs[a].startswith("#") for a in ("src", "href")):
            self.external.append((tag, attrs))
        if tag == "section":
            self.current = attrs.get("data-system")
            self.sections[self.current] = ""
        if tag == "span" and attrs.get("class") == "finding":
            self.findings.append((self.current, attrs.get("data-code")))
        if "cert" in (attrs.get("class") or "").split():
            self.marks.append(attrs.get("data-system"))

    def handle_endtag(self, tag):
        if tag == "section":
            self.current = None

    def handle_data(self, data):
        if self.current is not None:
            self.sections[self.current] += data


def test_audit_writes_reports_that_show_every_system_and_finding(fleet, tmp_path):
    reports = tmp_path / "reports"
    run = audit(fleet, reports, "-e", json.dumps({"audit_fail_on": ["certificate_expired", "endpoint_unreachable"]}))
    # The play fails on the findings audit_fail_on names, after writing the reports: each broken system on its
    # own host, the others not at all.
    assert run.returncode != 0, run.stdout
    assert dict((host, r["failed"]) for host, r in run.recap.items()) == {
        "ipo-a": 0, "ipo-b": 1, "ipo-c": 1, "ipo-d": 0, "ipo-e": 0}, run.stdout
    assert ("FAILED: 2 finding(s) that audit_fail_on selects (certificate_expired, endpoint_unreachable) on 2 "
            "system(s): ipo-b (certificate_expired), ipo-c (endpoint_unreachable).") in run.stdout
    fatal = dict(re.findall(r"^fatal: \[([^\]]+)\]: FAILED! => (.*)$", run.stdout, re.M))
    assert sorted(fatal) == ["ipo-b", "ipo-c"], run.stdout
    assert "ipo-b [expiry/certificate_expired]" in fatal["ipo-b"] and "ipo-c" not in fatal["ipo-b"]
    assert "ipo-c [endpoint:down/endpoint_unreachable]" in fatal["ipo-c"] and "ipo-b" not in fatal["ipo-c"]
    assert "HTML report: %s/ipoffice-security-audit.html" % reports in run.stdout

    report = json.loads((reports / "ipoffice-security-audit.json").read_text())
    systems = dict((s["name"], s) for s in report["systems"])
    assert sorted(systems) == ["ipo-a", "ipo-b", "ipo-c", "ipo-d", "ipo-e"]
    codes = dict((name, sorted(f["code"] for f in s["findings"] if f["severity"] == "error"))
                 for name, s in systems.items())
    assert codes["ipo-a"] == []
    assert codes["ipo-b"] == ["certificate_expired", "endpoint_rejected", "level_below_minimum",
                              "level_below_minimum", "weak_key", "weak_signature"]
    assert codes["ipo-c"] == ["endpoint_unreachable"]
    assert codes["ipo-d"] == ["info_unavailable"]
    assert codes["ipo-e"] == ["store_not_initialised"]
    # security_info's own findings about the initial identities (valid about 7 years; peers at high pin it).
    for name in ("ipo-a", "ipo-b", "ipo-c"):
        others = sorted((f["code"], f["severity"]) for f in systems[name]["findings"] if f["severity"] != "error")
        assert others == [("lifetime_over_825_days", "warning"), ("not_pinned", "info")], (name, others)
    assert report["summary"]["failing_systems"] == {"ipo-b": ["certificate_expired"],
                                                    "ipo-c": ["endpoint_unreachable"]}
    assert not os.path.lexists(str(fleet["stores"] / "ipo-e"))
    assert [f["sha256"] for f in systems["ipo-b"]["findings"] if f["code"] == "certificate_expired"] == \
        [fleet["expired"]]
    assert [f["sha256"] for f in systems["ipo-b"]["findings"] if f["code"] == "weak_key"] == [fleet["weak"]]
    rejected = [f for f in systems["ipo-b"]["findings"] if f["code"] == "endpoint_rejected"][0]
    assert "untrusted_chain" in rejected["codes"]
    assert systems["ipo-a"]["endpoints"][0]["status"] == "passed"
    assert report["summary"]["passed"] is False and report["summary"]["failures"] == 2
    assert report["summary"]["verdict"] == "failed"

    junit = ET.fromstring((reports / "ipoffice-security-audit.junit.xml").read_text())
    cases = dict(((s.get("name"), c.get("name")), c) for s in junit.findall("testsuite") for c in s.findall("testcase"))
    for name, system in systems.items():
        for check in system["checks"]:
            assert (name, check["name"]) in cases
    failing = sorted(key for key, case in cases.items() if case.find("failure") is not None)
    assert failing == [("ipo-b", "expiry"), ("ipo-c", "endpoint:down")]
    assert junit.get("tests") == str(len(cases))
    assert junit.get("failures") == str(report["summary"]["failed_checks"]) == "2"
    # The other error findings are not shown as passing: their test cases are skipped, "not enforced".
    assert cases[("ipo-b", "keys")].find("skipped").get("message").startswith("not enforced")

    page = Page()
    page.feed((reports / "ipoffice-security-audit.html").read_text())
    assert page.external == []
    assert sorted(page.sections) == sorted(systems)
    for name, system in systems.items():
        for finding in system["findings"]:
            assert finding["message"] in page.sections[name]
            assert (name, finding["code"]) in page.findings
    assert sorted(set(page.marks)) == ["ipo-a", "ipo-b", "ipo-c"]  # ipo-d and ipo-e have no certificates to draw


def test_audit_passes_reads_only_and_is_repeatable(fleet, tmp_path):
    reports = tmp_path / "reports"
    digest = helpers.tree_digest(str(fleet["stores"]))
    run = audit(fleet, reports, "--limit", "ipo-a")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.recap["ipo-a"]["changed"] == 0
    report = json.loads((reports / "ipoffice-security-audit.json").read_text())
    assert [s["name"] for s in report["systems"]] == ["ipo-a"] and report["summary"]["by_severity"]["error"] == 0
    assert report["summary"]["verdict"] == "passed" and run.recap["ipo-a"]["failed"] == 0
    # Check mode still writes the reports (they describe the systems, never change them).
    (reports / "ipoffice-security-audit.json").unlink()
    (reports / "ipoffice-security-audit.prom").unlink()
    check = audit(fleet, reports, "--limit", "ipo-a", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.recap["ipo-a"]["changed"] == 0
    assert (reports / "ipoffice-security-audit.json").exists()
    # The metrics too, renamed into place (the rename runs in check mode as well).
    assert (reports / "ipoffice-security-audit.prom").exists()
    assert not (reports / "ipoffice-security-audit.prom.tmp").exists()
    assert helpers.tree_digest(str(fleet["stores"])) == digest


def test_bad_policy_and_fail_on_are_clear_errors(fleet, tmp_path):
    run = audit(fleet, tmp_path / "r", "--limit", "ipo-a", "-e",
                json.dumps({"audit_policy": {"minimum_levels": {"management_interface": "high"}}}))
    assert run.returncode != 0
    assert "audit_policy.minimum_levels.management_interface" in run.stdout
    run = audit(fleet, tmp_path / "r", "--limit", "ipo-a", "-e", json.dumps({"audit_fail_on": ["expird"]}))
    assert run.returncode != 0
    assert "audit_fail_on: unknown value 'expird' (did you mean 'expired'?)" in run.stdout


def verdicts(reports):
    """What each of the three reports says: JSON summary, JUnit failures/skipped, the HTML verdict."""
    report = json.loads((reports / "ipoffice-security-audit.json").read_text())
    junit = ET.fromstring((reports / "ipoffice-security-audit.junit.xml").read_text())
    page = (reports / "ipoffice-security-audit.html").read_text()
    verdict = re.search(r'<p class="verdict [^"]*" data-verdict="([a-z_]+)">([^<]*)</p>', page)
    badge = re.search(r'<span class="verdict-badge"><span class="badge [^"]*">([^<]*)</span>', page)
    return report["summary"], junit, verdict.group(1), verdict.group(2), badge.group(1)


def test_an_error_finding_fails_the_audit_by_default_and_every_report_says_so(fleet, tmp_path):
    reports = tmp_path / "reports"
    run = audit(fleet, reports, "--limit", "ipo-b")  # default audit_fail_on: every error finding
    assert run.returncode != 0 and run.recap["ipo-b"]["failed"] == 1, run.stdout
    assert "The audit failed:" in run.stdout and "FAILED:" in run.stdout and "on 1 system(s): ipo-b (" in run.stdout
    summary, junit, html_verdict, html_text, badge = verdicts(reports)
    assert summary["by_severity"]["error"] > 0
    assert summary["verdict"] == "failed" and summary["passed"] is False
    assert summary["failures"] == summary["by_severity"]["error"]
    assert int(junit.get("failures")) == summary["failed_checks"] > 0
    assert junit.find("properties/property[@name='verdict']").get("value") == "failed"
    assert html_verdict == "failed" and html_text.startswith("FAILED") and badge == "failed"


def test_an_empty_fail_on_says_not_enforced_and_the_play_succeeds(fleet, tmp_path):
    reports = tmp_path / "reports"
    run = audit(fleet, reports, "--limit", "ipo-b", "-e", json.dumps({"audit_fail_on": []}))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "NOT ENFORCED: audit_fail_on is empty" in run.stdout
    summary, junit, html_verdict, html_text, badge = verdicts(reports)
    assert summary["verdict"] == "not_enforced" and summary["passed"] is None and summary["failures"] == 0
    assert summary["not_enforced"] == summary["by_severity"]["error"] > 0
    assert junit.get("failures") == "0" and int(junit.get("skipped")) > 0
    assert html_verdict == "not_enforced" and html_text.startswith("NOT ENFORCED") and badge == "not enforced"
    page = (reports / "ipoffice-security-audit.html").read_text()
    assert re.search(r'<h2>ipo-b <span class="badge not-enforced">not enforced</span></h2>', page)


def test_a_missing_store_is_reported_and_left_absent(fleet, tmp_path):
    reports = tmp_path / "reports"
    missing = fleet["stores"] / "ipo-e"
    check = audit(fleet, reports, "--limit", "ipo-e", "--check")
    assert check.returncode != 0 and not os.path.lexists(str(missing))
    run = audit(fleet, reports, "--limit", "ipo-e")
    assert run.returncode != 0  # an error finding, enforced by default
    assert "ipo-e [security_info/store_not_initialised]" in run.stdout
    assert not os.path.lexists(str(missing))
    summary, _junit, html_verdict, _text, _badge = verdicts(reports)
    assert summary["by_code"] == {"store_not_initialised": 1} and html_verdict == "failed"


def test_a_host_without_the_store_variable_fails_naming_it(fleet, tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"ipoffice": {"hosts": {"ipo-x": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}}}))
    args = [os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", str(inventory), AUDIT,
            "-e", "audit_report_dir=%s" % (tmp_path / "reports")]
    run = subprocess.run(args, capture_output=True, text=True, env=helpers.ansible_env(), timeout=600, check=False)
    assert run.returncode != 0
    assert "ipoffice_security.store.path is not set for ipo-x" in run.stdout
    # It stopped before reading anything: no security_info task ran.
    assert "Read the security settings" not in run.stdout


def test_audit_html_template_replaces_the_page(fleet, tmp_path):
    """A template of your own, given relative to the playbook's directory, renders the HTML report."""
    playbook_dir = tmp_path / "play"
    (playbook_dir / "templates").mkdir(parents=True)
    (playbook_dir / "templates" / "acme.html.j2").write_text(
        '{% extends "ipoffice.security/audit_report.html.j2" %}{% block title %}ACME fleet{% endblock %}')
    playbook = playbook_dir / "audit.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "ipoffice", "gather_facts": False,
                                         "roles": [{"role": "ipoffice.security.audit"}]}]))
    reports = tmp_path / "reports"
    args = [os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", fleet["inventory"], str(playbook),
            "--limit", "ipo-a", "-e", "audit_report_dir=%s" % reports, "-e",
            "audit_html_template=templates/acme.html.j2"]
    run = subprocess.run(args, capture_output=True, text=True, env=helpers.ansible_env(), timeout=600, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    page = (reports / "ipoffice-security-audit.html").read_text()
    assert "<title>ACME fleet</title>" in page and 'data-system="ipo-a"' in page
