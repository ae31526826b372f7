"""_module.run_module: the library check comes first, before the store is opened or anything written."""

import pytest
from ansible_collections.ipoffice.security.plugins.module_utils import _cryptography_dep, _module


class Failed(Exception):
    pass


class FakeModule(object):
    """What run_module uses of an AnsibleModule; fail_json/exit_json end the run like the real ones."""

    def __init__(self, params):
        self.params = params
        self.check_mode = False
        self._diff = False
        self._name = "ipoffice.security.security_info"

    def fail_json(self, **result):
        raise Failed(result)

    def exit_json(self, **result):
        raise SystemExit(result)

    def warn(self, text):
        pass


def _params(path):
    return dict(store_path=str(path), platform=None, system_name=None, system_addresses=None, lock_timeout=60,
                keep_generations=None)


def test_an_old_cryptography_fails_before_the_store_is_touched(tmp_path, monkeypatch):
    real = _cryptography_dep.problems
    monkeypatch.setattr(_cryptography_dep, "problems",
                        lambda features: real(features, cryptography_version="44.0.3"))
    called = []
    store = tmp_path / "store"
    with pytest.raises(Failed) as failed:
        _module.run_module(FakeModule(_params(store)), lambda *args: called.append(args) or {"changed": False})
    result = failed.value.args[0]
    assert result["error"] == "missing_library" and "cryptography >= 45.0" in result["msg"]
    assert called == [] and not store.exists()


def test_the_scep_features_are_checked_when_asked(monkeypatch):
    asked = []
    monkeypatch.setattr(_cryptography_dep, "problems", lambda features: asked.append(features) or [])
    _module.require_libraries(FakeModule({}), _cryptography_dep.SCEP_FEATURES)
    _module.require_libraries(FakeModule({}))
    assert asked == [_cryptography_dep.SCEP_FEATURES, _cryptography_dep.DEFAULT_FEATURES]
    assert "pkcs7_envelope" in _cryptography_dep.SCEP_FEATURES and "pkcs7_envelope" not in asked[1]
