"""What meta/runtime.yml's requires_ansible promises: a real playbook of every module runs on each
ansible-core the collection claims for this Python (2.17 and 2.18 from their own virtualenvs under
.build/venvs/, built by tools/venv.sh; 2.19 is the main .venv). Sanity and unit tests on those versions
run in `make compat` (tools/compat.sh)."""

import os
import re
import subprocess
import sys

import helpers
import pytest

with open(os.path.join(helpers.REPO, "meta", "runtime.yml")) as _handle:
    REQUIRES_ANSIBLE = re.search(r'^requires_ansible:\s*"?>=\s*([0-9.]+)"?', _handle.read(), re.M).group(1)
VENV_VERSIONS = sorted(name[len("ansible-core-"):-len(".txt")]
                       for name in os.listdir(os.path.join(helpers.REPO, "tools", "venvs"))
                       if name.startswith("ansible-core-") and name.endswith(".txt"))


def _core_version(python):
    return subprocess.run([python, "-c", "from ansible.release import __version__; print(__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_every_claimed_version_is_tested():
    """From the requires_ansible floor up to the main virtualenv's ansible-core, each minor release has a
    virtualenv of its own (or is the main one)."""
    floor = tuple(int(part) for part in REQUIRES_ANSIBLE.split(".")[:2])
    main = tuple(int(part) for part in _core_version(sys.executable).split(".")[:2])
    assert floor == (2, 17)
    claimed = ["%d.%d" % (2, minor) for minor in range(floor[1], main[1])]
    assert VENV_VERSIONS == claimed, (VENV_VERSIONS, claimed)


@pytest.mark.slow
@pytest.mark.parametrize("version", VENV_VERSIONS + ["main"])
def test_every_module_in_a_real_playbook(version, tmp_path):
    python = sys.executable if version == "main" else helpers.extra_venv("ansible-core-" + version)
    if version != "main":
        assert _core_version(python).startswith(version + "."), _core_version(python)
    bin_dir = os.path.dirname(python)
    store = str(tmp_path / "store")
    work = tmp_path / "out"
    work.mkdir()
    tasks = helpers.every_module_tasks(store, str(work))
    # Both ways a module runs, on every version: as a module (as on a remote system) first, then in the
    # controller's worker (a local store, the default) for the check-mode re-run.
    run = helpers.run_tasks(tasks, tmp_path, interpreter=python, ansible_bin=bin_dir, diff=True,
                            env=helpers.path_env("module"))
    assert len(run.results) == len(helpers.EVERY_MODULE)
    for module, result in zip(helpers.EVERY_MODULE, run.results):
        assert not result.get("failed"), (version, module, result)
    # trusted_certificate asks for the internal root CA, which a new store already trusts: no change.
    assert [r["changed"] for r in run.results[:4]] == [True, False, True, True], run.results[:4]
    assert run.results[5]["passed"] is True
    # The same desired state again, in check mode: nothing to change, nothing written.
    before = helpers.tree_digest(store)
    again = helpers.run_tasks(tasks[:5], tmp_path, interpreter=python, ansible_bin=bin_dir, check=True, diff=True,
                              env=helpers.path_env("inprocess"))
    assert [r.get("changed") for r in again.results] == [False] * 5, again.results
    assert helpers.tree_digest(store) == before
