"""The front door through real ansible-playbook runs: a fleet play that forgets store_path, and hostile
option values as a playbook gives them (YAML .nan, .inf, a NUL in a path).

The map of the whole attack surface: tests/unit/plugins/module_utils/attack_surface/README.md.
"""

import json
import os
import re
import subprocess
import sys

import yaml

import helpers

HOSTS = ("ipo-a", "ipo-b", "ipo-c")
DEFAULT_PATH = "/var/lib/ipoffice-security"  # what store_path defaulted to before it was required


def fleet_play(tmp_path, module_defaults, tasks, name="fleet"):
    """ansible-playbook over three local systems: (process, {host: failed result}, {host: recap counts})."""
    inventory = {"all": {"children": {"ipoffice": {"hosts": dict((host, {}) for host in HOSTS)}},
                         "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    play = [{"name": name, "hosts": "ipoffice", "gather_facts": False, "module_defaults": module_defaults,
             "tasks": tasks}]
    (tmp_path / (name + ".yml")).write_text(yaml.safe_dump(play, sort_keys=False))
    process = subprocess.run([os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", "inventory.yml", name + ".yml"],
                             capture_output=True, text=True, cwd=str(tmp_path), timeout=600, check=False,
                             env=helpers.ansible_env())
    failed = dict((host, json.loads(result)) for host, result in
                  re.findall(r"^fatal: \[([^\]]+)\]: FAILED! => (\{.*\})$", process.stdout, re.M))
    recap = dict((host, dict(zip(("ok", "changed", "unreachable", "failed"), map(int, counts)))) for host, *counts in
                 re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                            process.stdout, re.M))
    return process, failed, recap


def test_a_fleet_play_without_store_path_fails_on_every_host_naming_store_path_and_creates_nothing(tmp_path):
    default_existed = os.path.lexists(DEFAULT_PATH)
    work = tmp_path / "work"
    work.mkdir()
    before = helpers.tree_digest(str(work))
    defaults = {"group/ipoffice.security.all": {"system_name": "{{ inventory_hostname }}.example.com",
                                                "system_addresses": []}}
    tasks = [{"name": "The whole desired state", "ipoffice.security.security_settings": {
        "checks": {"certificate_expiry_warning_days": 90}}}]
    process, failed, recap = fleet_play(work, defaults, tasks)
    assert process.returncode != 0
    assert sorted(failed) == sorted(HOSTS), process.stdout[-3000:]
    for host in HOSTS:
        assert failed[host]["msg"] == "missing required arguments: store_path", failed[host]
        assert recap[host] == {"ok": 0, "changed": 0, "unreachable": 0, "failed": 1}, recap
    assert os.path.lexists(DEFAULT_PATH) == default_existed  # no store appeared at the old default
    # only the playbook and inventory written by this test are new in the run's directory
    assert sorted(os.listdir(str(work))) == ["fleet.yml", "inventory.yml"]
    os.unlink(str(work / "fleet.yml"))
    os.unlink(str(work / "inventory.yml"))
    assert helpers.tree_digest(str(work)) == before

    # The migration: store_path set once for every module through the action group, one store per system.
    stores = tmp_path / "stores"
    defaults["group/ipoffice.security.all"]["store_path"] = str(stores) + "/{{ inventory_hostname }}"
    tasks.append({"name": "Read it back", "ipoffice.security.security_info": {}, "register": "read"})
    tasks.append({"name": "Keep what was read", "ansible.builtin.copy": {
        "content": "{{ read | to_json }}", "dest": str(tmp_path) + "/read-{{ inventory_hostname }}.json",
        "mode": "0600"}, "delegate_to": "localhost", "changed_when": False})
    for attempt in ("first", "again"):
        process, failed, recap = fleet_play(work, defaults, tasks, name=attempt)
        assert process.returncode == 0 and failed == {}, process.stdout[-3000:]
        for host in HOSTS:
            assert recap[host]["changed"] == (1 if attempt == "first" else 0), (attempt, recap)
            with open(str(tmp_path / ("read-%s.json" % host))) as handle:
                info = json.load(handle)
            assert info["system_name"] == host + ".example.com" and info["store_path"] == str(stores / host)
    assert sorted(os.listdir(str(stores))) == sorted(HOSTS)


def test_hostile_values_from_a_playbook_fail_with_their_codes_and_no_traceback(tmp_path):
    store = str(tmp_path / "store")
    helpers.run_tasks([{"ipoffice.security.certificate_checks": {"store_path": store}}], tmp_path)
    digest = helpers.tree_digest(str(tmp_path / "store"))
    endpoint = {"host": "127.0.0.1", "port": 9}
    cases = [
        ({"ipoffice.security.security_info": {"store_path": store + "\x00x"}}, "invalid_characters", "store_path"),
        ({"ipoffice.security.certificate_verify": {"store_path": store, "level": "low",
                                                   "endpoint": dict(endpoint, timeout=float("nan"))}},
         "out_of_range", "endpoint.timeout"),
        ({"ipoffice.security.certificate_verify": {"store_path": store, "level": "low",
                                                   "endpoint": dict(endpoint, timeout=1e308)}},
         "out_of_range", "endpoint.timeout"),
        ({"ipoffice.security.security_info": {"store_path": store, "live_timeout": float("inf"),
                                              "live_endpoints": [dict(endpoint, serves="management")]}},
         "out_of_range", "live_timeout"),
        ({"ipoffice.security.certificate_checks": {"store_path": store, "management_interfaces": "low",
                                                   "preflight_timeout": float("-inf"),
                                                   "preflight": [dict(endpoint, setting="management")]}},
         "out_of_range", "preflight_timeout"),
        ({"ipoffice.security.certificate_checks": {"store_path": store, "lock_timeout": -1,
                                                   "certificate_expiry_warning_days": 90}},
         "out_of_range", "lock_timeout"),
        ({"ipoffice.security.generation": {"store_path": store, "keep_generations": 1000000}},
         "out_of_range", "keep_generations"),
        ({"ipoffice.security.certificate_checks": {"store_path": store, "lines": [
            {"name": "line-%d" % i} for i in range(1001)]}}, "value_too_large", "lines"),
    ]
    run = helpers.run_tasks([case for case, _code, _option in cases], tmp_path)
    for (task, code, option), result in zip(cases, run.results):
        assert result.get("failed") is True and result.get("error") == code, (task.keys(), result)
        assert result.get("option") == option, result
        assert "Traceback" not in json.dumps(result) and "MODULE FAILURE" not in json.dumps(result)
    assert helpers.tree_digest(str(tmp_path / "store")) == digest


def test_read_only_modules_refuse_writer_options_and_the_writers_group_carries_them(tmp_path):
    store = str(tmp_path / "store")
    defaults = {"group/ipoffice.security.all": {"store_path": store},
                "group/ipoffice.security.writers": {"keep_generations": 20, "lock_timeout": 5}}
    run = helpers.run_tasks([
        {"ipoffice.security.security_info": {"store_path": store, "keep_generations": 20}},
        {"ipoffice.security.certificate_checks": {"certificate_expiry_warning_days": 90},
         "module_defaults": defaults},
        {"ipoffice.security.security_info": {}, "module_defaults": defaults},
    ], tmp_path)
    refused, written, read = run.results
    assert refused["failed"] is True and "Unsupported parameters" in refused["msg"]
    assert "keep_generations" in refused["msg"]
    assert written["changed"] is True and written.get("failed") is not True, written
    assert read.get("failed") is not True, read
    assert read["keep_generations"] == 20 and read["settings"]["checks"]["certificate_expiry_warning_days"] == 90
