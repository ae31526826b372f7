"""The audit tells the whole truth (issue 19), through real ansible-playbook and ansible-runner runs.

Two real systems: ``ipo-clean`` (check levels raised, its initial identity) and ``ipo-leaf``, whose identity
was imported without its intermediate certificate (peers cannot build its chain; security_info reports
``untrusted_chain``).  The audit must fail, carry ``untrusted_chain`` in the JSON, JUnit and HTML reports,
fail exactly ``ipo-leaf`` on its own host (play recap and runner events), and write a metrics file that
Prometheus' own parser reads, with every system and the certificates' real expiry.  A misspelt or wrong-typed
key in the audit role's variables fails with a few short lines.
"""

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest
import yaml

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, DirectoryStore
from ansible_collections.ipoffice.security.plugins.plugin_utils._audit_findings import parse_time

AUDIT = os.path.join(helpers.REPO, "playbooks", "audit.yml")
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
HOSTS = ("ipo-clean", "ipo-leaf")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("truth")
    stores = base / "stores"
    root_key = _certs.generate_private_key("sha256_rsa2048")
    root = _certs.build_certificate("CN=Enterprise Root", root_key, 3650, ca=True)
    inter_key = _certs.generate_private_key("sha256_rsa2048")
    inter = _certs.build_certificate("CN=Enterprise Issuing CA", inter_key, 1825, ca=True, issuer_cert=root,
                                     issuer_key=root_key)
    leaf_key = _certs.generate_private_key("sha256_rsa2048")
    leaf = _certs.build_certificate("CN=ipo-leaf.example.com", leaf_key, 365,
                                    subject_alt_names=["DNS:ipo-leaf.example.com"], issuer_cert=inter,
                                    issuer_key=inter_key)

    def raised(state):
        state.settings["checks"].update(management_interfaces="medium", telephony_endpoints="medium")
        state.add_trusted([root])

    def leaf_only(state):
        raised(state)
        # Imported without its intermediate: the root is trusted, the issuing CA is nowhere.
        state.identity = Credential(leaf, leaf_key, {"source": "import"})

    for host, mutate in (("ipo-clean", raised), ("ipo-leaf", leaf_only)):
        DirectoryStore(path=str(stores / host), system_name=host + ".example.com", system_addresses=[]).update(mutate)
    inventory = {"all": {"children": {"ipoffice": {
        "hosts": dict((host, {}) for host in HOSTS),
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                 "ipoffice_security": {"store": {"path": str(stores) + "/{{ inventory_hostname }}"}}}}}}}
    path = base / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    reports = base / "reports"
    run = audit(str(path), reports)
    return {"base": base, "inventory": str(path), "stores": stores, "reports": reports, "run": run,
            "leaf": _certs.fingerprint(leaf)}


def audit(inventory, reports, *extra):
    args = [os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", inventory, AUDIT,
            "-e", "audit_report_dir=%s" % reports] + list(extra)
    run = subprocess.run(args, capture_output=True, text=True, env=helpers.ansible_env(), timeout=600, check=False)
    run.recap = dict((m.group(1), int(m.group(5))) for m in RECAP.finditer(run.stdout))
    return run


def test_a_leaf_only_import_fails_the_audit_and_every_report_says_untrusted_chain(fleet):
    run, reports = fleet["run"], fleet["reports"]
    assert run.returncode != 0, run.stdout
    report = json.loads((reports / "ipoffice-security-audit.json").read_text())
    assert report["summary"]["verdict"] == "failed"
    leaf = [s for s in report["systems"] if s["name"] == "ipo-leaf"][0]
    (finding,) = [f for f in leaf["findings"] if f["code"] == "untrusted_chain"]
    assert (finding["check"], finding["severity"], finding["enforced"]) == ("identity", "error", True)
    assert finding["sha256"] == fleet["leaf"] and finding["where"] == "identity"
    assert "Enterprise Issuing CA" in finding["message"]
    junit = ET.fromstring((reports / "ipoffice-security-audit.junit.xml").read_text())
    failures = dict(((suite.get("name"), case.get("name")), case.find("failure"))
                    for suite in junit.findall("testsuite") for case in suite.findall("testcase")
                    if case.find("failure") is not None)
    assert list(failures) == [("ipo-leaf", "identity")]
    assert failures[("ipo-leaf", "identity")].get("type") == "untrusted_chain"
    page = (reports / "ipoffice-security-audit.html").read_text()
    assert 'data-code="untrusted_chain" data-severity="error" data-enforced="true"' in page


def test_only_the_broken_system_fails_and_on_its_own_host(fleet):
    run = fleet["run"]
    assert run.recap == {"ipo-clean": 0, "ipo-leaf": 1}, run.stdout
    assert "on 1 system(s): ipo-leaf (untrusted_chain)." in run.stdout
    fatal = re.findall(r"^fatal: \[([^\]]+)\]", run.stdout, re.M)
    assert fatal == ["ipo-leaf"], run.stdout


def test_ansible_runner_events_name_exactly_the_broken_system(fleet, tmp_path, monkeypatch):
    try:
        import ansible_runner
    except ImportError:
        ansible_runner = None
    helpers.need(ansible_runner is not None, "ansible-runner is not installed (pip install ansible-runner==2.4.3)")
    monkeypatch.setenv("PATH", helpers.VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    pdd = tmp_path / "runner"
    for part in ("project", "inventory"):
        (pdd / part).mkdir(parents=True)
    (pdd / "project" / "audit.yml").write_text(yaml.safe_dump([
        {"name": "The collection's audit", "ansible.builtin.import_playbook": "ipoffice.security.audit"}]))
    (pdd / "inventory" / "hosts.yml").write_text(open(fleet["inventory"]).read())
    env = helpers.ansible_env()
    result = ansible_runner.run(private_data_dir=str(pdd), playbook="audit.yml", quiet=True, timeout=600,
                                envvars=dict((k, env[k]) for k in env if k.startswith("ANSIBLE_")),
                                extravars={"audit_report_dir": str(tmp_path / "reports")})
    assert result.status == "failed" and result.rc != 0
    assert result.stats["failures"] == {"ipo-leaf": 1}, result.stats
    failed = [e["event_data"] for e in result.events if e.get("event") == "runner_on_failed"]
    assert [(e["host"], e["task"]) for e in failed] == [
        ("ipo-leaf", "Fail this system on the findings audit_fail_on selects (by default every error finding)")]
    assert "ipo-leaf [identity/untrusted_chain]" in failed[0]["res"]["msg"]


def test_the_metrics_file_parses_and_carries_every_system_with_real_expiry(fleet):
    from prometheus_client.parser import text_string_to_metric_families

    reports = fleet["reports"]
    text = (reports / "ipoffice-security-audit.prom").read_text()
    assert not (reports / "ipoffice-security-audit.prom.tmp").exists()  # renamed into place
    families = dict((family.name, family) for family in text_string_to_metric_families(text))
    report = json.loads((reports / "ipoffice-security-audit.json").read_text())
    generated = parse_time(report["generated"])

    expiry = families["ipoffice_security_certificate_expiry_seconds"]
    assert expiry.type == "gauge"
    samples = dict(((s.labels["system"], s.labels["role"], s.labels["sha256"]), s.value) for s in expiry.samples)
    for host in HOSTS:
        # Every certificate the system stores, read from the store's own files, with its real expiry.
        current = fleet["stores"] / host / "current"
        stored = [("identity", current / "identity" / "cert.pem"), ("ca", current / "ca" / "cert.pem")]
        stored += [("trusted", path) for path in sorted((current / "tcs").glob("*.pem")) if path.name != "bundle.pem"]
        for role, path in stored:
            cert = _certs.load_certificate(path.read_bytes())
            expected = int((cert.not_valid_after_utc - generated).total_seconds())
            assert samples[(host, role, _certs.fingerprint(cert))] == expected, (host, role)
        assert len([key for key in samples if key[0] == host]) == len(stored)

    findings = dict(((s.labels["system"], s.labels["severity"]), s.value)
                    for s in families["ipoffice_security_findings"].samples)
    for system in report["systems"]:
        for severity in ("error", "warning", "info"):
            assert findings[(system["name"], severity)] == sum(1 for f in system["findings"]
                                                               if f["severity"] == severity)
    assert findings[("ipo-leaf", "error")] == 1 and findings[("ipo-clean", "error")] == 0
    status = dict(((s.labels["system"], s.labels["status"]), s.value)
                  for s in families["ipoffice_security_system_status"].samples)
    assert status[("ipo-leaf", "failed")] == 1 and status[("ipo-clean", "failed")] == 0
    assert status[("ipo-clean", "warning")] == 1  # its identity's lifetime: a warning, not a failure
    verdict = dict((s.labels["verdict"], s.value) for s in families["ipoffice_security_audit_verdict"].samples)
    assert verdict == {"passed": 0, "not_enforced": 0, "failed": 1}
    (stamp,) = families["ipoffice_security_audit_timestamp_seconds"].samples
    assert stamp.value == int(generated.timestamp())


@pytest.mark.parametrize("extra,expected", [
    ({"audit_policy": {"minimum_levels": {"managment_interfaces": "high"}}},
     "audit_policy.minimum_levels.managment_interfaces: unknown key (did you mean 'management_interfaces'?)"),
    ({"audit_live_timeout": "soon"}, "audit_live_timeout: must be a float, got 'soon'"),
    ({"audit_endpoints": [{"host": "127.0.0.1", "levle": "medium"}]},
     "audit_endpoints[0].levle: unknown key (did you mean 'level'?)"),
])
def test_a_misspelt_or_wrong_typed_audit_variable_is_a_few_short_lines(fleet, tmp_path, extra, expected):
    run = audit(fleet["inventory"], tmp_path / "reports", "-e", json.dumps(extra))
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert expected in output, output
    assert len(output) < 4000 and "argument_spec_data" not in output, (len(output), output)
    assert "Read the security settings" not in output  # nothing ran
