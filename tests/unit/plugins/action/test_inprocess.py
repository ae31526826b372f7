"""The action plugins (plugins/action/, over plugins/plugin_utils/_inprocess.py) and the shared outcome().

Every module has an action plugin that runs the same run() with the same library features as the module's
main(); the result shaping matches AnsibleModule's (no_log values removed, booleans and None kept,
invocation, file details). The equality of the two paths end to end is tests/integration/
test_inprocess_equal.py; which path runs when, test_inprocess_paths.py.
"""

import glob
import importlib
import os

import pytest

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _cryptography_dep, _module, _specs
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.plugin_utils import _inprocess

PACKAGE = "ansible_collections.ipoffice.security.plugins."
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(helpers.REPO, "plugins", "modules", "*.py")))


class _Main(Exception):
    pass


def main_wiring(name, monkeypatch):
    """(run, features) as the module's main() passes them to run_module."""
    module = importlib.import_module(PACKAGE + "modules." + name)
    box = {}

    def fake_run_module(instance, run, features=_cryptography_dep.DEFAULT_FEATURES):
        box.update(run=run, features=features)
        raise _Main()

    monkeypatch.setattr(module, "SecurityModule", lambda **kwargs: object())
    monkeypatch.setattr(module, "run_module", fake_run_module)
    with pytest.raises(_Main):
        module.main()
    return box["run"], box["features"]


def test_every_module_has_its_action_plugin():
    actions = sorted(os.path.basename(p)[:-3]
                     for p in glob.glob(os.path.join(helpers.REPO, "plugins", "action", "*.py")))
    assert actions == MODULES == sorted(_specs.MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_the_action_runs_what_the_module_runs(name, monkeypatch):
    action = importlib.import_module(PACKAGE + "action." + name).ActionModule
    run, features = main_wiring(name, monkeypatch)
    assert issubclass(action, _inprocess.InProcessAction)
    assert action.MODULE == name
    assert action.RUN is run
    assert run.__module__ == PACKAGE + "module_utils." + _specs.owner(name)
    assert action.FEATURES == features


def test_an_alias_or_a_deprecated_option_sends_the_task_to_the_module_path():
    """AnsibleModule reports aliases and deprecated options as warnings through module_utils' global lists
    the in-process path does not collect: validate() says so, and the action runs the module instead."""
    base = {"store_path": "/x", "management_interfaces": "high"}
    lines = [{"name": "a", "transport": "websocket_client"}]
    params, _no_log, failure, notices = _inprocess.validate("certificate_checks",
                                                            "ipoffice.security.certificate_checks",
                                                            dict(base, ip_office_lines=lines))
    assert failure is None and notices is True and params["lines"] == [dict(lines[0], check_level=None)]
    _params, _no_log, failure, notices = _inprocess.validate("certificate_checks",
                                                             "ipoffice.security.certificate_checks",
                                                             dict(base, lines=lines))
    assert failure is None and notices is False


def test_the_scep_features_are_asked_only_when_enrolling():
    from ansible_collections.ipoffice.security.plugins.module_utils import _scep_settings

    assert "pkcs7_envelope" in _scep_settings.library_features({"enroll": True})
    assert "pkcs7_envelope" not in _scep_settings.library_features({"enroll": False, "server": "x"})


def _params(path, **extra):
    params = dict(store_path=str(path), platform=None, system_name="ipo1.example.com", system_addresses=None,
                  lock_timeout=5, keep_generations=None)
    params.update(extra)
    return params


def test_outcome_labels_warnings_and_reports_errors(tmp_path):
    record = _module.generation_record("ipoffice.security.x", None)

    def warns(store, params, check_mode, want_diff):
        return {"changed": False, "warnings": ["one", "two"], "check": check_mode, "diff": want_diff}

    def refuses(store, params, check_mode, want_diff):
        raise SecurityError("invalid_choice", "Pick another.", option="level")

    def breaks(store, params, check_mode, want_diff):
        raise KeyError("secret-ish")

    assert _module.outcome(warns, _params(tmp_path / "s"), True, False, record) == (
        False, {"changed": False, "check": True, "diff": False},
        ["ipo1.example.com: one", "ipo1.example.com: two"])
    assert _module.outcome(refuses, _params(tmp_path / "s"), False, False, record) == (
        True, {"msg": "Pick another.", "error": "invalid_choice", "option": "level"}, [])
    failed, result, warnings = _module.outcome(breaks, _params(tmp_path / "s"), False, False, record)
    assert failed and warnings == [] and result["error"] == "unexpected_error"
    assert result["msg"].startswith("Unexpected error in ipoffice.security.x: KeyError: 'secret-ish'. This is a bug")
    assert "Traceback" in result["exception"] and "breaks" in result["exception"]
    assert not (tmp_path / "s").exists()


def test_outcome_checks_the_libraries_before_anything(tmp_path, monkeypatch):
    real = _cryptography_dep.problems
    monkeypatch.setattr(_cryptography_dep, "problems", lambda features: real(features, cryptography_version="44.0"))
    called = []
    failed, result, _warnings = _module.outcome(lambda *args: called.append(args), _params(tmp_path / "s"), False,
                                                False, _module.generation_record(None, None))
    assert failed and result["error"] == "missing_library" and called == []


def test_format_result_removes_no_log_values_as_ansible_module_does(tmp_path):
    target = tmp_path / "out"
    target.write_text("x")
    params = {"password": "hunter2-secret", "path": str(target), "flag": True}
    result = _inprocess.format_result(
        False, {"changed": True, "path": str(target), "note": "made with hunter2-secret", "kept": None,
                "nested": {"list": ["a hunter2-secret b"]}},
        params, ["warned about hunter2-secret"], {"hunter2-secret"})
    assert result["note"] == "made with ********" and result["nested"] == {"list": ["a ******** b"]}
    assert result["warnings"] == ["warned about ********"]
    assert result["invocation"] == {"module_args": {"password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER",
                                                    "path": str(target), "flag": True}}
    assert result["changed"] is True and result["kept"] is None and result["_ansible_parsed"] is True
    # a result with a path gets the file's details, as AnsibleModule.exit_json adds them
    assert result["state"] == "file" and result["size"] == 1 and result["mode"] == "0%03o" % (
        os.stat(str(target)).st_mode & 0o777)


def test_format_result_of_a_failure(tmp_path):
    result = _inprocess.format_result(True, {"msg": "bad hunter2-secret", "error": "x"}, {}, [], {"hunter2-secret"})
    assert result["failed"] is True and result["error"] == "x"
    assert "hunter2-secret" not in str(result)


def test_validate_gives_ansible_module_s_messages_and_the_code():
    args = {"store_path": "/x", "path": "/y", "password": "pw-123456", "nope": 1}
    params, no_log, failure, notices = _inprocess.validate("export", "ipoffice.security.export", args)
    options = ", ".join(sorted(_specs.module_kwargs("export")["argument_spec"]))
    assert failure == {"msg": "Unsupported parameters for (ipoffice.security.export) module: nope. Supported "
                              "parameters include: %s." % options, "error": "invalid_option"}
    assert "pw-123456" in no_log
    params, no_log, failure, notices = _inprocess.validate("export", "ipoffice.security.export",
                                                           {"store_path": "/x", "path": "/y"})
    assert failure is None and params["encryption"] == "modern" and params["allow_expired"] is False
