"""One endpoint item, one verdict: certificate_verify, the certificate_checks preflight and the audit role judge
the same item the same way (docs/check-levels.md), against a real openssl s_server.

The item names only a SIP domain, the case that used to split: the preflight checked the SIP domain alone while
certificate_verify also checked the host (127.0.0.1) as a peer name and failed with name_mismatch.  A peer
authoritative for the domain passes everywhere; one for another domain fails everywhere, with the same codes.
"""

import json
import os
import subprocess

import pytest
import yaml

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

AUDIT = os.path.join(helpers.REPO, "playbooks", "audit.yml")
LEVEL = "medium_remote"


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    base = tmp_path_factory.mktemp("verdicts")
    root_key = _certs.generate_private_key("sha256_rsa2048")
    root = _certs.build_certificate("CN=Carrier Root", root_key, 3650, ca=True)
    files = {}
    for label, domain in (("right", "example.com"), ("wrong", "other.example")):
        key = _certs.generate_private_key("sha256_rsa2048")
        cert = _certs.build_certificate("CN=sbc.%s" % domain, key, 365, issuer_cert=root, issuer_key=root_key,
                                        subject_alt_names=["URI:sip:%s" % domain, "DNS:sbc.%s" % domain])
        (base / (label + ".pem")).write_bytes(_certs.cert_pem(cert))
        (base / (label + ".key")).write_bytes(_certs.key_pem(key))
        files[label] = (str(base / (label + ".pem")), str(base / (label + ".key")))
    stores = base / "stores"
    DirectoryStore(path=str(stores / "ipo1"), system_name="ipo1.example.com",
                   system_addresses=[]).update(lambda state: state.add_trusted([root]))
    with helpers.openssl_server(*files["right"]) as right, helpers.openssl_server(*files["wrong"]) as wrong:
        yield {"base": base, "stores": stores, "ports": {"right": right, "wrong": wrong}}


def item(port):
    """The endpoint item: the same dictionary everywhere (the preflight adds setting, the audit name and level)."""
    return {"host": "127.0.0.1", "port": port, "sip_domain": "example.com", "purpose": "sip_server", "timeout": 5}


def module_verdicts(peers, tmp_path, port):
    store = str(peers["stores"] / "ipo1")
    tasks = [
        {"ipoffice.security.certificate_verify": {"store_path": store, "endpoint": item(port), "level": LEVEL}},
        # The preflight, in check mode: raising telephony_endpoints verifies the endpoint and writes nothing.
        {"ipoffice.security.certificate_checks": {"store_path": store, "telephony_endpoints": LEVEL,
                                                  "preflight": [dict(item(port), setting="telephony")]},
         "check_mode": True},
    ]
    verify, checks = helpers.run_tasks(tasks, tmp_path).results
    assert not verify.get("failed"), verify
    if checks.get("failed"):
        assert checks["error"] == "preflight_failed", checks
    (preflight,) = checks["preflight"]
    return verify, checks, preflight


def audit_verdict(peers, tmp_path, port):
    inventory = {"all": {"children": {"ipoffice": {"hosts": {"ipo1": {"audit_endpoints": [
        dict(item(port), name="carrier", level=LEVEL)]}}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "ipoffice_security": {"store": {"path": str(peers["stores"] / "ipo1")}},
        # Only the endpoint is judged here: the levels and the identity are not this test's business.
        "audit_fail_on": ["endpoint"]}}}}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    reports = tmp_path / "reports"
    run = subprocess.run([os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", str(path), AUDIT,
                          "-e", "audit_report_dir=%s" % reports], capture_output=True, text=True,
                         env=helpers.ansible_env(), timeout=600, check=False)
    report = json.loads((reports / "ipoffice-security-audit.json").read_text())
    (endpoint,) = report["systems"][0]["endpoints"]
    findings = [f for f in report["systems"][0]["findings"] if f["check"] == "endpoint:carrier"]
    return run, endpoint, findings


def test_a_peer_authoritative_for_the_sip_domain_passes_everywhere(peers, tmp_path):
    digest = helpers.tree_digest(str(peers["stores"]))
    verify, checks, preflight = module_verdicts(peers, tmp_path, peers["ports"]["right"])
    assert verify["passed"] is True and verify["codes"] == []
    # The SIP domain alone is checked (not 127.0.0.1 as a host name), in both modules.
    assert (verify["peer_name"], verify["sip_domain"]) == (None, "example.com")
    assert not checks.get("failed") and checks["changed"] is True
    assert preflight["evaluated"] and preflight["passed"] is True and preflight["codes"] == []
    assert (preflight["peer_name"], preflight["sip_domain"]) == (None, "example.com")
    run, endpoint, findings = audit_verdict(peers, tmp_path, peers["ports"]["right"])
    assert run.returncode == 0, run.stdout
    assert endpoint["status"] == "passed" and findings == []
    assert helpers.tree_digest(str(peers["stores"])) == digest


def test_a_peer_for_another_domain_fails_everywhere_with_the_same_codes(peers, tmp_path):
    verify, checks, preflight = module_verdicts(peers, tmp_path, peers["ports"]["wrong"])
    assert verify["passed"] is False and verify["codes"] == ["sip_domain_mismatch"]
    assert checks["failed"] and checks["error"] == "preflight_failed"
    assert preflight["passed"] is False and preflight["codes"] == verify["codes"]
    run, endpoint, findings = audit_verdict(peers, tmp_path, peers["ports"]["wrong"])
    assert run.returncode != 0
    assert endpoint["status"] == "rejected" and endpoint["codes"] == verify["codes"]
    assert [f["code"] for f in findings] == ["endpoint_rejected"] and findings[0]["codes"] == verify["codes"]
