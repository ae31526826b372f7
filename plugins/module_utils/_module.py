# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wiring shared by every module: the store from its options, error reporting.  No decisions live here.

Each module is ``SecurityModule(**_specs.module_kwargs(name))`` and ``run_module(module, run)``.  The
action plugins (plugins/action/, through plugins/plugin_utils/_inprocess.py) call the same ``outcome()``
in the controller's worker when the store is local, so a result is shaped by one function on both paths:
the library check first, then the store, ``run()``, error results from SecurityError and from unexpected
exceptions, and warnings prefixed with their system.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ipoffice.security.plugins.module_utils import _cryptography_dep, _specs
from ansible_collections.ipoffice.security.plugins.module_utils._model import DEFAULT_LOCK_TIMEOUT, SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

# Two error codes are set here (registered in _errors): ``invalid_option`` when Ansible's argument-spec
# validator rejects a task's arguments (on both paths), ``unexpected_error`` for an exception the collection
# did not expect (a bug; its traceback only when Ansible asks for tracebacks).


class SecurityModule(AnsibleModule):
    """AnsibleModule whose argument-spec failures carry the stable code ``error: invalid_option``.

    AnsibleModule validates the arguments in its constructor and reports a rejection through fail_json;
    that call, and only that one, gets the code (the action plugins give the same code on the controller).
    """

    def __init__(self, *args, **kwargs):
        super(SecurityModule, self).__init__(*args, **kwargs)
        self._ipoffice_ready = True

    def _load_params(self):
        super(SecurityModule, self)._load_params()
        # the arguments as the task gave them, before the validator converts them (_specs.check_paths)
        self.ipoffice_raw_params = copy.deepcopy(self.params)

    def fail_json(self, msg, **kwargs):  # pylint: disable=arguments-differ
        validation = getattr(self, "validation_result", None)
        if not getattr(self, "_ipoffice_ready", False) and validation is not None and validation.errors:
            kwargs = dict({"error": "invalid_option"}, **kwargs)
        super(SecurityModule, self).fail_json(msg, **kwargs)


def store_from_params(params):
    return DirectoryStore(path=params["store_path"], platform=params.get("platform"),
                          system_name=params.get("system_name"), system_addresses=params.get("system_addresses"),
                          lock_timeout=params.get("lock_timeout", DEFAULT_LOCK_TIMEOUT),
                          keep=params.get("keep_generations"),
                          dependents_max_age=params.get("dependents_max_age_days"))


def library_problems(params, features=_cryptography_dep.DEFAULT_FEATURES):
    """The failure result (fail_json arguments) when this Python lacks what the call needs, else None.

    ``features``: the library features beyond the default that the module uses (_cryptography_dep.FEATURES),
    or a function of the module's params returning them."""
    found = _cryptography_dep.problems(features(params) if callable(features) else features)
    return _cryptography_dep.failure(found) if found else None


def require_libraries(module, features=_cryptography_dep.DEFAULT_FEATURES):
    """Fail with the standard missing-library message unless this Python has the libraries (and versions,
    and ``features``) the collection needs.  Runs before anything touches the store."""
    failure = library_problems(module.params, features)
    if failure:
        module.fail_json(**failure)


def system_label(store, result):
    """How a warning names its system: the system name (the option, else the one the result reports, else
    the store's own), else the store path."""
    name = store.system_name or result.get("system_name")
    if not name:
        try:
            name = store.read().system_name
        except Exception:  # pylint: disable=broad-except  # a label only: the path names the system too
            name = None
    return name or store.path


def traceback_wanted(debug=False, verbosity=0):
    """Whether a failure should carry its traceback, as AnsibleModule.fail_json decides: from ansible-core
    2.19 when tracebacks are enabled for errors (ANSIBLE_DISPLAY_TRACEBACK), before it in debug or at -vvv."""
    try:
        from ansible.module_utils._internal import _traceback
    except ImportError:
        return bool(debug or verbosity >= 3)
    return _traceback.is_traceback_enabled(_traceback.TracebackEvent.ERROR)


def unexpected(module_name, exc):
    """The failure result for an exception the collection did not expect (a bug): the exception's type and
    text (no_log values are removed from it like from any result), the stable code, and the traceback
    under ``exception`` for the caller to keep or drop (traceback_wanted)."""
    text = "%s" % (exc,)
    return {"msg": "Unexpected error in %s: %s%s. This is a bug in ipoffice.security: please report it with the "
                   "traceback (-vvv; from ansible-core 2.19 ANSIBLE_DISPLAY_TRACEBACK=error)."
                   % (module_name or "the module", exc.__class__.__name__, (": " + text) if text else ""),
            "error": "unexpected_error",
            "exception": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))}


def outcome(run, params, check_mode, want_diff, made_by, features=_cryptography_dep.DEFAULT_FEATURES,
            argument_spec=None, raw=None):
    """One call of a module's decisions, for the module process and the in-process action path alike.

    Returns ``(failed, result, warnings)``: ``result`` is the module result (or the fail_json arguments when
    ``failed``), ``warnings`` the warnings to report, each prefixed with the system it is about (Ansible
    merges identical warning lines from different hosts).  The library floor is checked first, before
    the store is opened; a SecurityError becomes a failure with its stable code, any other exception the
    ``unexpected_error`` failure.  ``made_by`` is recorded in the generation a change writes.  The path options
    of ``argument_spec`` (the module's) are checked first (``_specs.check_paths``, against ``raw``: the
    arguments as the task gave them).
    """
    failure = library_problems(params, features)
    if failure:
        return True, failure, []
    try:
        _specs.check_paths(argument_spec or {}, params, raw=raw)
        store = store_from_params(params)
        store.made_by = made_by
        result = run(store, params, check_mode, want_diff)
        warnings = result.pop("warnings", None) or []
        if warnings:
            label = system_label(store, result)
            warnings = ["%s: %s" % (label, warning) for warning in warnings]
    except SecurityError as exc:
        return True, exc.as_result(), []
    except Exception as exc:  # pylint: disable=broad-except  # reported as a failure, never a traceback dump
        return True, unexpected(made_by.get("module"), exc), []
    return False, result, warnings


def generation_record(module_name, target_log_info):
    """What a generation records about the task that wrote it.  Ansible passes a module its name and the
    ansible_target_log_info variable (2.17+), never the task's name: that variable is the way to name the
    task (see docs/store-format.md)."""
    return {"module": module_name, "note": target_log_info or None}


def run_module(module, run, features=_cryptography_dep.DEFAULT_FEATURES):
    """Every module's main(): one call run(store, params, check_mode, want_diff) -> result dict, then exit.

    ``run`` is the function of the module_utils file that owns the module; ``features`` as for
    library_problems.  See outcome() for what becomes of the result.
    """
    failed, result, warnings = outcome(run, module.params, module.check_mode, module._diff,
                                       generation_record(getattr(module, "_name", None),
                                                         getattr(module, "_target_log_info", None)),
                                       features, getattr(module, "argument_spec", None),
                                       getattr(module, "ipoffice_raw_params", None))
    for warning in warnings:
        module.warn(warning)
    if failed:
        if "exception" in result and not traceback_wanted(module._debug, module._verbosity):
            del result["exception"]
        module.fail_json(**result)
    module.exit_json(**result)
