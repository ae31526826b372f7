"""roles/baseline through real ansible-playbook runs on several local systems (playbooks/site.yml).

One variable per system applies the whole state with one security_settings task (one transaction, in the
safe order); a second run and a check-mode run change nothing; check mode on new systems predicts the
change exactly (the preflight sees the trust the same run adds) and writes nothing; a typo'd key and a
refused preflight are clear errors that leave the stores as they were.
"""

import json
import os
import re
import subprocess

import pytest
import yaml

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs

SITE = os.path.join(helpers.REPO, "playbooks", "site.yml")
HOSTS = ("ipo-a", "ipo-b")
SCEP_PASSWORD = "Sc3p-Challenge-71"
ORDER = ["Apply the certificate security baseline"]
# The steps of the safe order security_settings reports (trusted.absent and exclusive are not given here).
STEPS = ["trusted", "identity", "telephony_identity", "scep", "checks"]
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def write_pem(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
    return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A root CA and a SIP trunk endpoint certificate it issued, served by a real openssl s_server."""
    base = tmp_path_factory.mktemp("pki")
    root_key = _certs.generate_private_key("sha256_rsa2048")
    root = _certs.build_certificate("CN=Baseline Test Root", root_key, 3650, ca=True)
    trunk_key = _certs.generate_private_key("sha256_rsa2048")
    trunk = _certs.build_certificate("CN=trunk.example.com", trunk_key, 365,
                                     subject_alt_names=["DNS:trunk.example.com", "IP:127.0.0.1"],
                                     issuer_cert=root, issuer_key=root_key)
    files = {"root": write_pem(base / "root.pem", _certs.cert_pem(root)),
             "trunk": write_pem(base / "trunk.pem", _certs.cert_pem(trunk)),
             "trunk_key": write_pem(base / "trunk.key", _certs.key_pem(trunk_key))}
    with helpers.openssl_server(files["trunk"], files["trunk_key"]) as port:
        yield dict(files, port=port, root_fp=_certs.fingerprint(root), trunk_fp=_certs.fingerprint(trunk),
                   root_subject=root.subject.rfc4514_string())


def desired(pki, stores, trust_trunk=True, **override):
    state = {
        "store": {"path": str(stores) + "/{{ inventory_hostname }}",
                  "system_name": "{{ inventory_hostname }}.example.com", "system_addresses": []},
        "trusted": {"certificates": [{"path": pki["root"]}] + ([{"path": pki["trunk"]}] if trust_trunk else [])},
        "identity": {"source": "ca", "subject_name": "{{ inventory_hostname }}.example.com",
                     "subject_alt_names": ["DNS:{{ inventory_hostname }}.example.com", "IP:127.0.0.1"],
                     "offer_id_certificate_chain": True},
        "telephony_identity": {"source": "generate", "subject_name": "sip-{{ inventory_hostname }}.example.com",
                               "subject_alt_names": ["URI:sip:example.com"]},
        "scep": {"server": "scep.example.com", "request_interval": 300, "password": SCEP_PASSWORD,
                 "update_password": "on_create"},
        "checks": {"certificate_expiry_warning_days": 90, "management_interfaces": "medium",
                   "telephony_endpoints": "high", "sip_telephony_certificate": "sip_trunks",
                   "preflight": [{"host": "127.0.0.1", "port": pki["port"], "setting": "telephony",
                                  "purpose": "sip_server"}]},
        "lines": [{"name": "branch", "transport": "websocket_client", "check_level": "medium"}],
    }
    state.update(override)
    return state


def inventory(tmp_path, state, name="inventory.yml"):
    data = {"all": {"children": {"ipoffice": {
        "hosts": dict((h, {}) for h in HOSTS),
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                 "ipoffice_security": state}}}}}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def playbook(playbook_path, inventory_path, *args):
    args = [os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", inventory_path, playbook_path] + list(args)
    run = subprocess.run(args, capture_output=True, text=True, env=helpers.ansible_env(), timeout=600, check=False)
    run.recap = dict((m.group(1), {"ok": int(m.group(2)), "changed": int(m.group(3)),
                                   "unreachable": int(m.group(4)), "failed": int(m.group(5))})
                     for m in RECAP.finditer(run.stdout))
    names = re.findall(r"^TASK \[ipoffice\.security\.baseline : (.+?)\] \**$", run.stdout, re.M)
    # The role's variables are checked first by its dependency ipoffice.security.validate (one line per problem).
    run.validated = "TASK [ipoffice.security.validate : Check the variables of the role baseline]" in run.stdout
    run.tasks = [n for n in names if not n.startswith("Validating arguments against arg spec")]
    return run


def read_back(tmp_path, inventory_path):
    """security_info of every system, through ansible-playbook, as {host: result}."""
    out = tmp_path / "info"
    out.mkdir(exist_ok=True)
    play = [{"name": "Read back", "hosts": "ipoffice", "gather_facts": False, "tasks": [
        {"name": "Read", "ipoffice.security.security_info": {"store_path": "{{ ipoffice_security.store.path }}"},
         "register": "info"},
        {"name": "Save", "ansible.builtin.copy": {
            "content": "{{ info | to_json }}", "dest": str(out) + "/{{ inventory_hostname }}.json", "mode": "0600"}}]}]
    path = tmp_path / "read_back.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    run = playbook(str(path), inventory_path)
    assert run.returncode == 0, run.stdout + run.stderr
    return dict((h, json.loads((out / (h + ".json")).read_text())) for h in HOSTS)


def step_results(tmp_path, inventory_path, *args):
    """Run the role through a play that saves its registered results (baseline_settings and the per-step
    variables); the run, and {host: {name: result}}."""
    out = tmp_path / "results"
    out.mkdir(exist_ok=True)
    names = ["settings", "trusted", "untrusted", "identity", "telephony_identity", "scep", "trusted_exclusive",
             "checks"]
    content = "{{ {%s} | to_json }}" % ", ".join("'%s': baseline_%s" % (n, n) for n in names)
    play = [{"name": "Results", "hosts": "ipoffice", "gather_facts": False,
             "roles": [{"role": "ipoffice.security.baseline"}],
             "post_tasks": [{"name": "Save", "ansible.builtin.copy": {
                 "content": content, "dest": str(out) + "/{{ inventory_hostname }}.json", "mode": "0600"},
                 "check_mode": False, "changed_when": False}]}]
    path = tmp_path / "results.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    run = playbook(str(path), inventory_path, *args)
    assert run.returncode == 0, run.stdout + run.stderr
    return run, dict((h, json.loads((out / (h + ".json")).read_text())) for h in HOSTS)


def test_baseline_applies_everything_idempotently(pki, tmp_path):
    stores = tmp_path / "stores"
    inv = inventory(tmp_path, desired(pki, stores))
    first, results = step_results(tmp_path, inv)
    assert first.validated and first.tasks == ORDER, "one module task applies the whole state"
    for host in HOSTS:
        assert first.recap[host]["changed"] == 1, first.stdout
    assert SCEP_PASSWORD not in first.stdout + first.stderr
    for host in HOSTS:
        settings = results[host]["settings"]
        assert [s["step"] for s in settings["steps"]] == STEPS, "the steps must run in the safe order"
        assert all(s["changed"] for s in settings["steps"])
        assert settings["generation"] == 1, "one transaction writes one generation"
        # The role's result variables: one per step, the steps not given reported as skipped.
        for name in ("trusted", "identity", "telephony_identity", "scep", "checks"):
            assert results[host][name]["changed"] is True, name
        for name in ("untrusted", "trusted_exclusive"):
            assert results[host][name] == {"changed": False, "skipped": True}
        assert results[host]["checks"]["preflight"][0]["passed"] is True
        assert [a["sha256"] for a in results[host]["trusted"]["added"]] == sorted(
            [pki["root_fp"], pki["trunk_fp"]])

    info = read_back(tmp_path, inv)
    for host in HOSTS:
        system = info[host]
        trusted = [c["sha256"] for c in system["trusted"]]
        assert pki["root_fp"] in trusted and pki["trunk_fp"] in trusted
        assert system["identity"]["common_name"] == host + ".example.com"
        assert system["identity"]["issuer"] == system["ca"]["subject"]
        assert "IP:127.0.0.1" in system["identity"]["subject_alt_names"]
        assert system["telephony_identity"]["common_name"] == "sip-%s.example.com" % host
        assert system["telephony_identity"]["subject_alt_names"] == ["URI:sip:example.com"]
        checks = system["settings"]["checks"]
        assert (checks["management_interfaces"], checks["telephony_endpoints"]) == ("medium", "high")
        assert checks["certificate_expiry_warning_days"] == 90
        assert checks["sip_telephony_certificate"] == "sip_trunks"
        assert checks["ip_office_lines"] == [{"name": "branch", "transport": "websocket_client",
                                              "check_level": "medium"}]
        scep = system["settings"]["scep"]
        assert (scep["server"], scep["request_interval"], scep["password_set"]) == ("scep.example.com", 300, True)
    assert info["ipo-a"]["identity"]["sha256"] != info["ipo-b"]["identity"]["sha256"]

    again = playbook(SITE, inv)
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(again.recap[h]["changed"] == 0 for h in HOSTS), again.stdout

    # Drift: one system's level lowered behind Ansible's back; check mode reports it and writes nothing.
    drift = tmp_path / "drift.yml"
    drift.write_text(yaml.safe_dump([{"name": "Drift", "hosts": "ipo-b", "gather_facts": False, "tasks": [
        {"name": "Lower the management level", "ipoffice.security.certificate_checks": {
            "store_path": "{{ ipoffice_security.store.path }}", "management_interfaces": "none"}}]}]))
    assert playbook(str(drift), inv).returncode == 0
    digest = helpers.tree_digest(str(stores))
    check = playbook(SITE, inv, "--check", "--diff")
    assert check.returncode == 0, check.stdout + check.stderr
    assert (check.recap["ipo-a"]["changed"], check.recap["ipo-b"]["changed"]) == (0, 1), check.stdout
    # The diff of ipo-b's checks area: the drifted level before, the baseline's after (lines of Ansible's diff).
    assert re.search(r'^-\s+"management_interfaces": "none",?$', check.stdout, re.MULTILINE), check.stdout
    assert re.search(r'^\+\s+"management_interfaces": "medium",?$', check.stdout, re.MULTILINE), check.stdout
    assert helpers.tree_digest(str(stores)) == digest


def test_check_mode_on_new_systems_predicts_and_writes_nothing(pki, tmp_path):
    stores = tmp_path / "stores"
    inv = inventory(tmp_path, desired(pki, stores))
    run = playbook(SITE, inv, "--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert all(run.recap[h]["changed"] == 1 for h in HOSTS), run.stdout
    # The plan is exact: the preflight sees the trust this same run adds, so it passes without a warning.
    assert "would fail the new level" not in run.stdout + run.stderr
    # Only the warnings about raised levels without a preflight endpoint of their own remain.
    warnings = [line for line in (run.stdout + run.stderr).splitlines() if "[WARNING]" in line]
    assert warnings and all("with no preflight endpoint for it" in line for line in warnings), warnings
    _run, results = step_results(tmp_path, inv, "--check")
    for host in HOSTS:
        assert [s["step"] for s in results[host]["settings"]["steps"]] == STEPS
        assert all(s["changed"] for s in results[host]["settings"]["steps"])
        assert results[host]["checks"]["preflight"][0]["passed"] is True
    assert helpers.tree_digest(str(stores)) == "absent"


def test_typo_in_a_key_is_a_clear_error_before_anything_runs(pki, tmp_path):
    stores = tmp_path / "stores"
    state = desired(pki, stores)
    state["checks"]["managment_interfaces"] = "high"
    state["identiy"] = {"source": "generate"}
    run = playbook(SITE, inventory(tmp_path, state))
    assert run.returncode != 0
    output = run.stdout + run.stderr
    # One short line per problem, naming the key path and the key meant; never the whole specification.
    assert "ipoffice_security.checks.managment_interfaces: unknown key (did you mean 'management_interfaces'?)" \
        in output
    assert "ipoffice_security.identiy: unknown key (did you mean 'identity'?)" in output
    assert "argument_spec_data" not in output and len(output) < 4000, (len(output), output)
    assert SCEP_PASSWORD not in output
    assert run.tasks == [], "nothing may run after a failed validation"
    assert helpers.tree_digest(str(stores)) == "absent"


def test_wrong_choice_names_the_key(pki, tmp_path):
    stores = tmp_path / "stores"
    state = desired(pki, stores)
    state["lines"] = [{"name": "branch", "check_level": "high_remote"}]
    run = playbook(SITE, inventory(tmp_path, state))
    assert run.returncode != 0
    assert "check_level" in run.stdout and "high_remote" in run.stdout
    assert helpers.tree_digest(str(stores)) == "absent"


def test_preflight_refuses_raising_a_level_the_endpoint_would_fail(pki, tmp_path):
    """One transaction: the refused level raise fails the whole state, and nothing at all is written."""
    stores = tmp_path / "stores"
    inv = inventory(tmp_path, desired(pki, stores, trust_trunk=False))
    run = playbook(SITE, inv)
    assert run.returncode != 0
    assert run.tasks == ORDER
    assert "preflight_failed" in run.stdout and "not_pinned" in run.stdout, run.stdout
    assert "checks.preflight" in run.stdout and "127.0.0.1:%d (telephony)" % pki["port"] in run.stdout
    assert all(run.recap[h]["failed"] == 1 for h in HOSTS)
    assert helpers.tree_digest(str(stores)) == "absent"
    # On converged systems too: the state they had is kept byte for byte.
    converged = inventory(tmp_path, desired(pki, stores), name="converged.yml")
    assert playbook(SITE, converged).returncode == 0
    digest = helpers.tree_digest(str(stores))
    stricter = desired(pki, stores, trust_trunk=False)
    stricter["checks"] = dict(stricter["checks"], telephony_endpoints="high_remote", sip_telephony_certificate="none")
    # allow_in_use lets the prune through, so that the preflight is what refuses the whole state.
    stricter["trusted"] = dict(stricter["trusted"], exclusive=True, allow_in_use=True)
    run = playbook(SITE, inventory(tmp_path, stricter, name="stricter.yml"))
    assert run.returncode != 0 and "preflight_failed" in run.stdout, run.stdout
    assert helpers.tree_digest(str(stores)) == digest


@pytest.mark.parametrize("state,missing", [
    (None, "- ipoffice_security: required, but not set"),
    ({"checks": {"management_interfaces": "medium"}}, "- ipoffice_security.store: required, but not set"),
    ({"store": {"system_name": "ipo.example.com"}}, "- ipoffice_security.store.path: required, but not set"),
])
def test_a_host_without_its_store_path_fails_naming_the_variable(tmp_path, state, missing):
    """No silent default: the site playbook never acts on a default store path for a whole fleet."""
    data = {"all": {"children": {"ipoffice": {"hosts": dict((h, {}) for h in HOSTS), "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}}
    if state is not None:
        data["all"]["children"]["ipoffice"]["vars"]["ipoffice_security"] = state
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    run = playbook(SITE, str(path))
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert missing in output, output
    assert run.validated and run.tasks == [], "nothing may run without the store path"
    assert all(run.recap[h]["failed"] == 1 for h in HOSTS)
