"""The library floor is real: every module refuses a managed-node Python whose cryptography is below it
(with the standard missing-library message, and writing nothing, not even a new store), and every module
works on a Python with exactly the floor releases of requirements.txt.

The managed-node Pythons are real virtualenvs (tools/venv.sh, cached under .build/venvs/) used as
``ansible_python_interpreter`` of real ansible-playbook runs, with the modules run as modules (on the
controller they would run in Ansible's worker, on the controller's Python: tests/integration/
test_inprocess_paths.py covers a controller below the floor).
"""

import os
import re

import helpers
import pytest
from ansible_collections.ipoffice.security.plugins.module_utils import _cryptography_dep


def _floor(requirement):
    """The version a requirements.txt line allows at least ('cryptography>=45.0' -> '45.0')."""
    with open(os.path.join(helpers.REPO, "requirements.txt")) as handle:
        for line in handle:
            match = re.match(r"^%s\s*>=\s*([0-9.]+)" % re.escape(requirement), line.strip())
            if match:
                return match.group(1)
    raise AssertionError("requirements.txt has no '%s>=' line" % requirement)


def test_the_declared_floors_are_the_checked_ones():
    assert _floor("cryptography") == _cryptography_dep.MINIMUM_CRYPTOGRAPHY_VERSION
    assert _floor("asn1crypto") == _cryptography_dep.MINIMUM_ASN1CRYPTO_VERSION
    with open(os.path.join(helpers.REPO, "plugins", "doc_fragments", "store.py")) as handle:
        fragment = handle.read()
    assert "cryptography >= %s" % _cryptography_dep.MINIMUM_CRYPTOGRAPHY_VERSION in fragment
    assert "asn1crypto >= %s" % _cryptography_dep.MINIMUM_ASN1CRYPTO_VERSION in fragment


@pytest.mark.slow
def test_cryptography_below_the_floor_fails_cleanly_and_writes_nothing(tmp_path):
    python = helpers.extra_venv("cryptography-44")
    store = str(tmp_path / "store")
    work = tmp_path / "out"
    work.mkdir()
    run = helpers.run_tasks(helpers.every_module_tasks(store, str(work)), tmp_path, interpreter=python,
                            env=helpers.path_env("module"))
    assert len(run.results) == len(helpers.EVERY_MODULE)
    for module, result in zip(helpers.EVERY_MODULE, run.results):
        assert result.get("failed") is True, (module, result)
        assert result["error"] == "missing_library", (module, result)
        message = result["msg"]
        assert "Failed to import the required Python library (cryptography >= 45.0)" in message, (module, message)
        assert "this Python has cryptography 44.0" in message, (module, message)
        assert python in message and "ansible_python_interpreter" in message, (module, message)
        assert "Traceback" not in message and "AttributeError" not in message
    # Nothing was written: no store (not even an initialised one), no issued files.
    assert helpers.tree_digest(store) == "absent"
    assert os.listdir(str(work)) == []


@pytest.mark.slow
def test_every_module_works_on_the_floor_releases(tmp_path):
    python = helpers.extra_venv("cryptography-floor")
    versions = helpers.subprocess.run(
        [python, "-c", "import cryptography, asn1crypto; print(cryptography.__version__, asn1crypto.__version__)"],
        capture_output=True, text=True, check=True).stdout.split()
    assert versions[0].startswith(_floor("cryptography") + ".") and versions[1] == _floor("asn1crypto"), versions
    store = str(tmp_path / "store")
    work = tmp_path / "out"
    work.mkdir()
    run = helpers.run_tasks(helpers.every_module_tasks(store, str(work)), tmp_path, interpreter=python,
                            env=helpers.path_env("module"))
    for module, result in zip(helpers.EVERY_MODULE, run.results):
        assert not result.get("failed"), (module, result)
    assert len(run.results) == len(helpers.EVERY_MODULE)
    identity, _trusted, _checks, _scep, info, verify, issued, settings, generations, export = run.results
    assert identity["changed"] is True
    assert info["identity"]["subject"]
    # The engine ran on cryptography's path validator: the store's CA-issued identity passes medium.
    assert verify["passed"] is True, verify
    assert issued["changed"] is True and os.path.isfile(str(work / "sbc.crt"))
    assert settings["changed"] is True
    # identity (with the initialisation), checks, scep, the issued certificate's record, security_settings:
    # one generation each, newest first (trusted, info, verify and export write nothing)
    makers = [(g.get("made_by") or {}).get("module") or g.get("module") for g in generations["generations"]]
    assert makers == ["ipoffice.security.%s" % name for name in (
        "security_settings", "issued_certificate", "scep", "certificate_checks", "identity_certificate")], makers
    assert generations["current"] == 5
    assert export["changed"] is True and os.listdir(str(work / "handoff"))
