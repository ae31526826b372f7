"""The managed-node Python versions the README states are real: every module runs on the oldest one
(Python 3.8, the oldest ansible-core 2.18 and 2.19 run modules on) with the floor releases of
requirements.txt, as ansible_python_interpreter of a real ansible-playbook run."""

import glob
import os
import shutil
import subprocess

import pytest

import helpers

OLDEST = "3.8"


def _python(version):
    """A working python<version>: on PATH, or one pyenv installed (its shim fails unless selected)."""
    candidates = [shutil.which("python" + version)]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/%s.*/bin/python%s" % (version, version))))
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "import ssl, venv"], capture_output=True,
                                        check=False).returncode == 0:
            return candidate
    return None


def _venv(version):
    python = _python(version)
    helpers.need(python is not None, "python%s is not installed (the oldest managed-node Python)" % version)
    process = subprocess.run(["bash", os.path.join(helpers.REPO, "tools", "venv.sh"), "managed-python-" + version],
                             capture_output=True, text=True, check=False, timeout=1200,
                             env=dict(os.environ, PYTHON=python))
    helpers.need(process.returncode == 0, "cannot build the managed-node virtualenv (needs PyPI): %s"
                 % process.stderr[-800:])
    return os.path.join(process.stdout.strip().splitlines()[-1], "bin", "python")


def test_the_readme_states_the_python_versions_tested_here():
    with open(os.path.join(helpers.REPO, "README.md")) as handle:
        readme = handle.read()
    assert "Python %s or newer on the managed nodes" % OLDEST in readme


@pytest.mark.slow
def test_every_module_works_on_the_oldest_managed_node_python(tmp_path):
    python = _venv(OLDEST)
    version = subprocess.run([python, "-c", "import sys, cryptography; print('%d.%d' % sys.version_info[:2], "
                              "cryptography.__version__)"], capture_output=True, text=True, check=True).stdout.split()
    assert version == [OLDEST, "45.0.1"], version
    store = str(tmp_path / "store")
    work = tmp_path / "out"
    work.mkdir()
    run = helpers.run_tasks(helpers.every_module_tasks(store, str(work)), tmp_path, interpreter=python)
    assert len(run.results) == len(helpers.EVERY_MODULE)
    for module, result in zip(helpers.EVERY_MODULE, run.results):
        assert not result.get("failed"), (module, result)
    identity, _trusted, _checks, _scep, info, verify, issued, settings, generations, export = run.results
    assert identity["changed"] is True and info["identity"]["subject"]
    assert verify["passed"] is True, verify
    assert issued["changed"] is True and settings["changed"] is True and generations["current"] == 5
    assert export["changed"] is True and os.listdir(str(work / "handoff"))
