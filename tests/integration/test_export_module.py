"""ipoffice.security.export through real ansible-playbook runs: files written, second run unchanged, check
mode and diff exact, the password nowhere in the output (also at -vvv), bad input with a code."""

import os
import subprocess

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

PASSWORD = "Handoff-Pw-7731"


def test_export_module_end_to_end(tmp_path):
    helpers.need_tool("openssl")
    store = str(tmp_path / "store")
    out = str(tmp_path / "handoff")
    args = {"store_path": store, "system_name": "ipo1.example.com", "system_addresses": ["192.0.2.10"],
            "path": out, "password": PASSWORD}
    module = "ipoffice.security.export"
    # export reads a store that exists (store_not_initialised otherwise).
    DirectoryStore(path=store, system_name="ipo1.example.com", system_addresses=["192.0.2.10"]).update(
        lambda state: None)
    run = helpers.run_tasks([
        {module: args, "check_mode": True},
        {module: args},
        {module: args},
        {module: args, "check_mode": True},
        {module: dict(args, password=None)},
        {module: dict(args, path=os.path.join(out, "manifest.json"))},
    ], tmp_path, diff=True, env={"ANSIBLE_VERBOSITY": "3"})
    predicted, first, second, check_again, no_password, file_path = run.results
    assert predicted["changed"] is True and first["changed"] is True
    assert sorted(predicted["written"]) == sorted(first["written"])
    assert second["changed"] is False and second["written"] == []
    assert check_again["changed"] is False
    assert no_password["failed"] and no_password["error"] == "password_required"
    assert file_path["failed"] and file_path["error"] == "export_path_not_directory"
    assert PASSWORD not in run.stdout and PASSWORD not in run.stderr
    manager = os.path.join(out, "identity", "manager-set.p12")
    info = subprocess.run(["openssl", "pkcs12", "-info", "-in", manager, "-passin", "pass:" + PASSWORD, "-nokeys"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert info.returncode == 0, info.stderr
    assert info.stdout.count("BEGIN CERTIFICATE") == 1
    routes = dict((item["path"], item["route"]) for item in first["files"])
    assert routes[manager] == "manager_set"
    assert any(r == "tcs_add" for r in routes.values())
