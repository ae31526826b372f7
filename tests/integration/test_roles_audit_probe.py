"""The audit role's enforcement probe (audit_live_endpoints with probe: true, audit_live_probe_ca).

Two systems behind real `openssl s_server` processes serving their stores' identities: ipo-enforcing
requires a client certificate from the probe CA, as its store's management_interfaces medium says;
ipo-lax ignores client certificates although its store says medium, and accepts every cipher suite on
its SIP port although its store's SIP security level is high. The JSON, JUnit and HTML reports must show
the probe's verdicts and findings, and agree; the probe CA's key password is never printed.
"""

import html.parser
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import yaml

import helpers
import probe_peers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore  # noqa: E402

AUDIT = os.path.join(helpers.REPO, "playbooks", "audit.yml")
PASSWORD = "probe-ca-vault-secret"


class ProbeCells(html.parser.HTMLParser):
    """(system, endpoint) -> the data-probe-enforced value of each live row's probe cell."""

    def __init__(self):
        super().__init__()
        self.system, self.endpoint, self.cells = None, None, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.system = attrs.get("data-system")
        if tag == "tr" and attrs.get("data-endpoint"):
            self.endpoint = attrs["data-endpoint"]
        if tag == "span" and "data-probe-enforced" in attrs:
            self.cells[(self.system, self.endpoint)] = attrs["data-probe-enforced"]


def test_audit_reports_what_each_system_enforces(tmp_path):
    helpers.need_tool("openssl")
    probe_ca = probe_peers.make_probe_ca(tmp_path, password=PASSWORD)
    stores = tmp_path / "stores"
    first = str(stores / "ipo-enforcing")

    def medium(state):
        state.settings["checks"].update(management_interfaces="medium", telephony_endpoints="none",
                                        sip_security_level="high")
        with open(probe_ca[0], "rb") as handle:
            state.add_trusted([_certs.load_certificate(handle.read())])

    DirectoryStore(path=first, system_name="ipo-enforcing.example.com",
                   system_addresses=["127.0.0.1"]).update(medium)
    shutil.copytree(first, str(stores / "ipo-lax"), symlinks=True)  # the same identity: read-back matches
    identity = stores / "ipo-enforcing" / "current" / "identity"
    fullchain = _certs.load_certificates((identity / "fullchain.pem").read_bytes())
    rest = str(tmp_path / "rest.pem")
    with open(rest, "wb") as handle:
        handle.write(_certs.certs_pem(fullchain[1:]))
    cert, key = str(identity / "cert.pem"), str(identity / "key.pem")
    reports = tmp_path / "reports"
    with probe_peers.s_server(cert, key, rest, probe_peers.require(probe_ca[0])) as enforcing, \
            probe_peers.s_server(cert, key, rest) as lax, \
            probe_peers.s_server(cert, key, rest, ("-cipher", "ALL:@SECLEVEL=0")) as lax_sip:
        host_vars = {
            "ipo-enforcing": {"audit_live_endpoints": [
                {"host": "127.0.0.1", "port": enforcing, "serves": "management", "probe": True}]},
            "ipo-lax": {"audit_live_endpoints": [
                {"host": "127.0.0.1", "port": lax, "serves": "management", "probe": True},
                {"host": "127.0.0.1", "port": lax_sip, "serves": "telephony", "probe": True}]},
        }
        inventory = {"all": {"children": {"ipoffice": {
            "hosts": host_vars,
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                     "ipoffice_security": {"store": {"path": str(stores) + "/{{ inventory_hostname }}"}},
                     "audit_live_timeout": 5,
                     "audit_live_probe_ca": {"certificate_path": probe_ca[0], "private_key_path": probe_ca[1],
                                             "private_key_password": PASSWORD}}}}}}
        (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
        digest = helpers.tree_digest(str(stores))
        run = subprocess.run([os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
                              AUDIT, "-e", "audit_report_dir=%s" % reports, "-v"],
                             capture_output=True, text=True, env=helpers.ansible_env(), timeout=600, check=False)
    assert helpers.tree_digest(str(stores)) == digest  # the audit reads only
    assert PASSWORD not in run.stdout + run.stderr
    # ipo-lax's probe findings are errors: the audit fails (default audit_fail_on).
    assert run.returncode != 0, run.stdout + run.stderr
    assert "ipo-lax [live:127.0.0.1:%d/live_level_mismatch]" % lax in run.stdout
    assert "ipo-lax [live:127.0.0.1:%d/live_cipher_level_mismatch]" % lax_sip in run.stdout

    report = json.loads((reports / "ipoffice-security-audit.json").read_text())
    systems = dict((s["name"], s) for s in report["systems"])
    probe_codes = dict((name, sorted((f["check"], f["code"], f["severity"]) for f in s["findings"]
                                     if f["code"].startswith(("live_level", "live_cipher", "live_probe"))))
                       for name, s in systems.items())
    assert probe_codes["ipo-enforcing"] == []
    assert probe_codes["ipo-lax"] == sorted([
        ("live:127.0.0.1:%d" % lax, "live_level_mismatch", "error"),
        ("live:127.0.0.1:%d" % lax_sip, "live_cipher_level_mismatch", "error")])
    level = [f for f in systems["ipo-lax"]["findings"] if f["code"] == "live_level_mismatch"][0]
    assert (level["setting"], level["configured"], level["enforced_levels"]) == ("management_interfaces", "medium",
                                                                                 ["none"])
    ciphers = [f for f in systems["ipo-lax"]["findings"] if f["code"] == "live_cipher_level_mismatch"][0]
    assert ciphers["setting"] == "sip_security_level" and ciphers["configured"] == "high"
    assert "no_aead_or_forward_secrecy" in [a["class"] for a in ciphers["accepted"]]
    enforcing_live = systems["ipo-enforcing"]["live"][0]
    assert enforcing_live["status"] == "matches"
    assert enforcing_live["probe"]["enforced"] == ["medium"]
    assert enforcing_live["probe"]["configured"] == "medium"
    assert [e["status"] for e in systems["ipo-lax"]["live"]] == ["mismatch", "mismatch"]
    assert systems["ipo-lax"]["live"][1]["probe"]["ciphers_accepted"] == [a["class"] for a in ciphers["accepted"]]
    assert systems["ipo-lax"]["live"][1]["probe"]["enforced"] == ["none"]  # telephony_endpoints none: consistent
    assert report["summary"]["verdict"] == "failed"

    junit = ET.fromstring((reports / "ipoffice-security-audit.junit.xml").read_text())
    cases = dict(((s.get("name"), c.get("name")), c) for s in junit.findall("testsuite") for c in s.findall("testcase"))
    assert cases[("ipo-enforcing", "live:127.0.0.1:%d" % enforcing)].find("failure") is None
    for port, code in ((lax, "live_level_mismatch"), (lax_sip, "live_cipher_level_mismatch")):
        failure = cases[("ipo-lax", "live:127.0.0.1:%d" % port)].find("failure")
        assert failure is not None and code in (failure.get("message", "") + (failure.text or ""))

    page = (reports / "ipoffice-security-audit.html").read_text()
    cells = ProbeCells()
    cells.feed(page)
    assert cells.cells[("ipo-enforcing", "127.0.0.1:%d" % enforcing)] == "medium"
    assert cells.cells[("ipo-lax", "127.0.0.1:%d" % lax)] == "none"
    for finding in systems["ipo-lax"]["findings"]:
        assert 'data-code="%s"' % finding["code"] in page
