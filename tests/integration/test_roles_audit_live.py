"""The audit role's live read-back (audit_live_endpoints) through a real ansible-playbook run.

Two systems whose live endpoints are real `openssl s_server` processes: ipo-live serves its store's own
identity and chain (matches), ipo-drift serves another certificate on one endpoint and nothing on the
other. The JSON, JUnit and HTML reports must show each system's live findings, and agree.
"""

import html.parser
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import yaml

import helpers

sys.path.insert(0, os.path.join(helpers.REPO, "tests", "unit", "plugins", "module_utils"))
from test_identity_fixtures import make_ca, make_leaf  # noqa: E402

from ansible_collections.ipoffice.security.plugins.module_utils import _certs  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore  # noqa: E402

AUDIT = os.path.join(helpers.REPO, "playbooks", "audit.yml")


def _write(path, data):
    with open(str(path), "wb") as handle:
        handle.write(data)
    return str(path)


class LiveTable(html.parser.HTMLParser):
    """(system, endpoint, status) of every row of the HTML page's live read-back tables."""

    def __init__(self):
        super().__init__()
        self.system, self.rows = None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.system = attrs.get("data-system")
        if tag == "tr" and attrs.get("data-endpoint"):
            self.rows.append((self.system, attrs["data-endpoint"], attrs.get("data-status")))


def test_audit_reports_live_findings_per_system(tmp_path):
    helpers.need_tool("openssl")
    stores = tmp_path / "stores"
    for host in ("ipo-live", "ipo-drift"):
        DirectoryStore(path=str(stores / host), system_name=host + ".example.com",
                       system_addresses=["127.0.0.1"]).update(lambda state: None)
    identity = stores / "ipo-live" / "current" / "identity"
    fullchain = _certs.load_certificates((identity / "fullchain.pem").read_bytes())
    rest = _write(tmp_path / "rest.pem", _certs.certs_pem(fullchain[1:]))
    other, other_key = make_leaf(make_ca("CN=Elsewhere CA"), name="ipo-drift.example.com")
    other_cert = _write(tmp_path / "other.pem", _certs.cert_pem(other))
    other_key_file = _write(tmp_path / "other.key", _certs.key_pem(other_key))
    closed = helpers.free_port()
    reports = tmp_path / "reports"
    with helpers.openssl_server(str(identity / "cert.pem"), str(identity / "key.pem"), chain_file=rest) as good, \
            helpers.openssl_server(other_cert, other_key_file) as wrong:
        host_vars = {
            "ipo-live": {"audit_live_endpoints": [{"host": "127.0.0.1", "port": good, "serves": "management"}]},
            "ipo-drift": {"audit_live_endpoints": [
                {"host": "127.0.0.1", "port": wrong, "serves": "management"},
                {"host": "127.0.0.1", "port": closed, "serves": "telephony"}],
                "audit_live_timeout": 3},
        }
        inventory = {"all": {"children": {"ipoffice": {
            "hosts": host_vars,
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                     "ipoffice_security": {"store": {"path": str(stores) + "/{{ inventory_hostname }}"}}}}}}}
        (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
        digest = helpers.tree_digest(str(stores))
        run = subprocess.run([os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
                              AUDIT, "-e", "audit_report_dir=%s" % reports],
                             capture_output=True, text=True, env=helpers.ansible_env(), timeout=600, check=False)
    assert helpers.tree_digest(str(stores)) == digest  # the audit reads only
    # ipo-drift's live errors fail the audit (the default audit_fail_on: every error).
    assert run.returncode != 0, run.stdout + run.stderr
    assert "ipo-drift [live:127.0.0.1:%d/live_identity_mismatch]" % wrong in run.stdout
    assert "ipo-drift [live:127.0.0.1:%d/live_unreachable]" % closed in run.stdout

    report = json.loads((reports / "ipoffice-security-audit.json").read_text())
    systems = dict((s["name"], s) for s in report["systems"])
    live_codes = dict((name, sorted((f["check"], f["code"]) for f in s["findings"] if f["check"].startswith("live:")))
                      for name, s in systems.items())
    # ipo-live: what it serves is its store's; a pinning peer at high_remote would still refuse it (a warning).
    assert live_codes["ipo-live"] == [("live:127.0.0.1:%d" % good, "live_fails_high_remote")]
    assert [f["severity"] for f in systems["ipo-live"]["findings"] if f["check"].startswith("live:")] == ["warning"]
    assert systems["ipo-live"]["live"][0]["status"] == "matches"
    assert systems["ipo-live"]["live"][0]["identity_matches"] is True
    assert systems["ipo-live"]["live"][0]["levels"] == {"high_remote": False, "medium": True}
    assert live_codes["ipo-drift"] == sorted([
        ("live:127.0.0.1:%d" % wrong, "live_identity_mismatch"),
        ("live:127.0.0.1:%d" % wrong, "live_fails_medium"),
        ("live:127.0.0.1:%d" % wrong, "live_fails_high_remote"),
        ("live:127.0.0.1:%d" % closed, "live_unreachable")])
    mismatch = [f for f in systems["ipo-drift"]["findings"] if f["code"] == "live_identity_mismatch"][0]
    assert mismatch["presented_sha256"] == _certs.fingerprint(other) and mismatch["severity"] == "error"
    assert [e["status"] for e in systems["ipo-drift"]["live"]] == ["mismatch", "unreachable"]
    assert report["summary"]["verdict"] == "failed"

    junit = ET.fromstring((reports / "ipoffice-security-audit.junit.xml").read_text())
    cases = dict(((s.get("name"), c.get("name")), c) for s in junit.findall("testsuite") for c in s.findall("testcase"))
    assert cases[("ipo-live", "live:127.0.0.1:%d" % good)].find("failure") is None
    for port in (wrong, closed):
        assert cases[("ipo-drift", "live:127.0.0.1:%d" % port)].find("failure") is not None

    page = (reports / "ipoffice-security-audit.html").read_text()
    table = LiveTable()
    table.feed(page)
    assert sorted(table.rows) == sorted([("ipo-live", "127.0.0.1:%d" % good, "matches"),
                                         ("ipo-drift", "127.0.0.1:%d" % wrong, "mismatch"),
                                         ("ipo-drift", "127.0.0.1:%d" % closed, "unreachable")])
    assert _certs.fingerprint(other) in page
    for finding in systems["ipo-drift"]["findings"]:
        assert 'data-code="%s"' % finding["code"] in page
