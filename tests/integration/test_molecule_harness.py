"""The molecule harness itself (extensions/molecule/): shared inventory, test sequence, check-mode step.

`make molecule` runs the scenarios; these tests prove that the harness can catch what it claims to catch:
the `check` step fails when check mode would predict a change, and every scenario keeps the sequence
converge -> idempotence -> check -> verify.
"""

import os
import re
import subprocess

import yaml

import helpers

MOLECULE = os.path.join(helpers.REPO, "extensions", "molecule")
INVENTORY = os.path.join(MOLECULE, "inventory.yml")
HOSTS = ("ipo-a", "ipo-b", "ipo-c")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def scenarios():
    return sorted(name for name in os.listdir(MOLECULE) if os.path.isfile(os.path.join(MOLECULE, name, "molecule.yml")))


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def playbook(path, ephemeral, check=False):
    """ansible-playbook as molecule runs it: the shared inventory, stores under the ephemeral directory."""
    args = [os.path.join(helpers.VENV_BIN, "ansible-playbook"), "--inventory=%s" % INVENTORY, path]
    if check:
        args.append("--check")
    env = helpers.ansible_env({"MOLECULE_EPHEMERAL_DIRECTORY": str(ephemeral)})
    process = subprocess.run(args, capture_output=True, text=True, env=env, cwd=str(ephemeral), timeout=300,
                             check=False)
    recap = dict((host, int(changed)) for host, changed, _unreachable, _failed in RECAP.findall(process.stdout))
    return process, recap


def test_check_step_fails_when_check_mode_predicts_a_change_and_passes_once_converged(tmp_path):
    converge = os.path.join(MOLECULE, "security_info", "converge.yml")
    stores = tmp_path / "stores"

    # New systems: check mode predicts the initialisation (a change), so the check step must fail,
    # and check mode must not have written any store.
    fresh, recap = playbook(converge, tmp_path, check=True)
    assert fresh.returncode != 0, fresh.stdout
    assert "check mode predicted a change" in fresh.stdout
    assert set(recap) == set(HOSTS)
    assert not stores.exists()

    # The converge initialises each system in its own store ...
    real, recap = playbook(converge, tmp_path)
    assert real.returncode == 0, real.stdout + real.stderr
    assert recap == dict((host, 1) for host in HOSTS)
    for host in HOSTS:
        assert os.path.isdir(str(stores / host / "current"))
    digests = dict((host, helpers.tree_digest(str(stores / host))) for host in HOSTS)

    # ... after which the check step passes, reports no change, and leaves the stores byte-identical.
    again, recap = playbook(converge, tmp_path, check=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert recap == dict((host, 0) for host in HOSTS)
    assert dict((host, helpers.tree_digest(str(stores / host))) for host in HOSTS) == digests


def test_every_scenario_keeps_the_shared_sequence_and_a_check_mode_assertion():
    names = scenarios()
    assert "security_info" in names
    shared = load(os.path.join(MOLECULE, "config.yml"))
    for name in names:
        own = load(os.path.join(MOLECULE, name, "molecule.yml")) or {}
        sequence = (own.get("scenario") or {}).get("test_sequence") or shared["scenario"]["test_sequence"]
        steps = [step for step in sequence if step in ("converge", "idempotence", "check", "verify")]
        assert steps == ["converge", "idempotence", "check", "verify"], (name, sequence)
        plays = load(os.path.join(MOLECULE, name, "converge.yml"))
        guarded = [task for play in plays for task in play.get("tasks", []) + play.get("post_tasks", [])
                   if "ansible.builtin.assert" in task and "ansible_check_mode" in str(task.get("when", ""))]
        assert guarded, "%s/converge.yml has no assertion guarded by `when: ansible_check_mode`" % name
        assert os.path.isfile(os.path.join(MOLECULE, name, "verify.yml")), name


def test_inventory_gives_every_system_its_own_store_and_the_playbook_python():
    inventory = load(INVENTORY)["all"]["children"]["ipoffice"]
    assert set(inventory["hosts"]) == set(HOSTS)
    common = inventory["vars"]
    assert common["ansible_connection"] == "local"
    assert common["ansible_python_interpreter"] == "{{ ansible_playbook_python }}"
    assert "MOLECULE_EPHEMERAL_DIRECTORY" in common["store_root"]
    assert common["store_path"].endswith("/{{ inventory_hostname }}")
    names = [host.get("system_name") for host in inventory["hosts"].values()]
    assert len(set(names)) == len(HOSTS) and all(names)
