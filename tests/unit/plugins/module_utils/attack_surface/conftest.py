"""What every attack-surface test shares: a template store, the module runs without Ansible, and the one
assertion each case makes (the exact code and option; the store byte-identical and still readable; nothing
written beside it).  See README.md in this directory for the map of the attack surface."""

import importlib
import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the module_utils tests' shared builders (test_identity_fixtures)
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "integration"))  # scep_servers

import helpers  # noqa: E402

from ansible_collections.ipoffice.security.plugins.module_utils import _specs  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore  # noqa: E402

NAME = "ipo1.example.com"


@pytest.fixture(scope="session")
def template_store(tmp_path_factory):
    """One initialised server-platform store, copied by every test that needs one."""
    path = str(tmp_path_factory.mktemp("attack-template") / "store")
    DirectoryStore(path, system_name=NAME, system_addresses=["192.0.2.10"]).update(lambda state: None)
    return path


@pytest.fixture
def victim(template_store, tmp_path):
    """A fresh copy of the template store at <tmp>/work/store; <tmp>/work is what must stay as it was."""
    work = tmp_path / "work"
    work.mkdir()
    path = str(work / "store")
    shutil.copytree(template_store, path, symlinks=True)
    return path


def params_for(name, **given):
    """A module's params as Ansible passes them: every option, its default when not given."""
    spec = _specs.module_kwargs(name)["argument_spec"]
    params = dict((option, entry.get("default")) for option, entry in spec.items())
    params.update(given)
    return params


def run(name, check_mode=False, **given):
    """Module ``name`` the way run_module runs it (paths checked, the store from the params, run()), without
    Ansible."""
    params = params_for(name, **given)
    _specs.check_paths(_specs.module_kwargs(name)["argument_spec"], params)
    store = DirectoryStore(params["store_path"], platform=params.get("platform"),
                           system_name=params.get("system_name") or NAME,
                           system_addresses=params.get("system_addresses") or [],
                           lock_timeout=params.get("lock_timeout", 60), keep=params.get("keep_generations"),
                           dependents_max_age=params.get("dependents_max_age_days"))
    owner = importlib.import_module("ansible_collections.ipoffice.security.plugins.module_utils." + _specs.owner(name))
    return owner.run(store, params, check_mode=check_mode)


def refused(store_path, call, code, option=None, named=True):
    """call() fails with SecurityError ``code`` (naming ``option``, in its message too unless not ``named``);
    the store's directory and everything beside it is byte-identical afterwards, and the store still reads
    (when it read before).  Returns the error."""
    around = os.path.dirname(store_path)
    before = helpers.tree_digest(around)
    with pytest.raises(SecurityError) as err:
        call()
    assert err.value.code == code, (code, err.value.code, err.value.message[:400])
    if option is not None:
        assert err.value.option == option, (option, err.value.option, err.value.message[:400])
        if named:
            assert "'%s'" % option in err.value.message, err.value.message[:400]
    assert helpers.tree_digest(around) == before, "the store or its surroundings changed"
    if code != "corrupt_store" and os.path.lexists(os.path.join(store_path, "current")):
        DirectoryStore(store_path).read()
    return err.value


def both_modes(store_path, name, code, option=None, **given):
    """refused() for a check-mode run and for a real run of module ``name``."""
    for check_mode in (True, False):
        refused(store_path, lambda mode=check_mode: run(name, check_mode=mode, store_path=store_path, **given), code,
                option)
