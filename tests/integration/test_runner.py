"""The baseline through ansible-runner's Python API, the engine AWX / Ansible Automation Platform use.

A private data directory as AWX lays it out (project/, inventory/, env/), the collection's own playbook
imported by its FQCN from a project playbook, and the result read from runner's stats and job events.
"""

import json
import os

import yaml

import helpers

SECRET = "Runner-Scep-Secret-93"


def private_data_dir(base, stores):
    for part in ("project", "inventory", "env"):
        (base / part).mkdir(parents=True, exist_ok=True)
    (base / "project" / "baseline.yml").write_text(yaml.safe_dump([
        {"name": "Apply the baseline shipped with the collection", "ansible.builtin.import_playbook":
            "ipoffice.security.site"}], sort_keys=False))
    inventory = {"all": {"children": {"ipoffice": {
        "hosts": {"ipo-r1": {}, "ipo-r2": {"ipoffice_security": {
            "store": {"path": str(stores / "ipo-r2"), "platform": "ip500v2", "system_addresses": []},
            "identity": {"source": "generate", "subject_name": "ipo-r2.example.com", "valid_days": 825},
            "checks": {"management_interfaces": "medium", "sip_security_level": "high"}}}},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                 "ipoffice_security": {
                     "store": {"path": str(stores / "ipo-r1"), "system_name": "ipo-r1.example.com",
                               "system_addresses": []},
                     "identity": {"source": "ca", "subject_name": "ipo-r1.example.com",
                                  "subject_alt_names": ["DNS:ipo-r1.example.com"]},
                     "scep": {"server": "ca.example.com", "password": SECRET},
                     "checks": {"telephony_endpoints": "medium"}}}}}}}
    (base / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    return str(base)


def run_baseline(pdd, ident, **kwargs):
    import ansible_runner

    env = helpers.ansible_env()
    envvars = dict((k, env[k]) for k in env if k.startswith("ANSIBLE_"))
    return ansible_runner.run(private_data_dir=pdd, playbook="baseline.yml", ident=ident, envvars=envvars,
                              quiet=True, timeout=600, **kwargs)


def ok_events(runner):
    return [e["event_data"] for e in runner.events if e.get("event") == "runner_on_ok"]


def test_baseline_through_ansible_runner(tmp_path, monkeypatch):
    try:
        import ansible_runner  # noqa: F401
    except ImportError:
        ansible_runner = None
    helpers.need(ansible_runner is not None, "ansible-runner is not installed (pip install ansible-runner==2.4.3)")
    # runner starts the ansible-playbook found on PATH: the virtualenv's.
    monkeypatch.setenv("PATH", helpers.VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    stores = tmp_path / "stores"
    pdd = private_data_dir(tmp_path / "runner", stores)

    first = run_baseline(pdd, "first")
    stdout = first.stdout.read()
    assert (first.status, first.rc) == ("successful", 0), stdout
    # One security_settings task per system (the baseline role's single transaction).
    assert first.stats["changed"] == {"ipo-r1": 1, "ipo-r2": 1}, first.stats
    assert first.stats["failures"] == {} and first.stats["dark"] == {}
    results = dict((e["host"], e["res"]) for e in ok_events(first)
                   if e["task"].endswith("Apply the certificate security baseline"))
    changed_steps = dict((host, [s["step"] for s in res["steps"] if s["changed"]]) for host, res in results.items())
    assert "scep" in changed_steps["ipo-r1"], changed_steps
    assert "identity" in changed_steps["ipo-r2"], changed_steps
    identity = results["ipo-r2"]["identity"]
    assert identity["certificate"]["self_signed"] is True
    assert identity["certificate"]["common_name"] == "ipo-r2.example.com"

    with open(os.path.join(str(stores), "ipo-r1", "current", "settings.json")) as handle:
        settings = json.load(handle)["settings"]
    assert settings["checks"]["telephony_endpoints"] == "medium"
    assert settings["scep"]["server"] == "ca.example.com"

    second = run_baseline(pdd, "second")
    assert (second.status, second.rc) == ("successful", 0), second.stdout.read()
    assert second.stats["changed"] == {}, second.stats
    assert sorted(second.stats["ok"]) == ["ipo-r1", "ipo-r2"]

    check = run_baseline(pdd, "check", cmdline="--check --diff")
    assert (check.status, check.rc) == ("successful", 0), check.stdout.read()
    assert check.stats["changed"] == {}

    # What AWX stores of a job (stdout and every event) never carries the SCEP password.
    artifacts = tmp_path / "runner" / "artifacts"
    for root, _dirs, files in os.walk(str(artifacts)):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                assert SECRET.encode() not in handle.read(), os.path.join(root, name)
