# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wiring shared by every module: the store from its options, error reporting.  No decisions live here.

Each module is AnsibleModule(**_specs.module_kwargs(name)) and run_module(module, run).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipoffice.security.plugins.module_utils import _cryptography_dep, _specs
from ansible_collections.ipoffice.security.plugins.module_utils._model import DEFAULT_LOCK_TIMEOUT, SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore


def store_from_params(params):
    return DirectoryStore(path=params["store_path"], platform=params.get("platform"),
                          system_name=params.get("system_name"), system_addresses=params.get("system_addresses"),
                          lock_timeout=params.get("lock_timeout", DEFAULT_LOCK_TIMEOUT),
                          keep=params.get("keep_generations"),
                          dependents_max_age=params.get("dependents_max_age_days"))


def require_libraries(module, features=_cryptography_dep.DEFAULT_FEATURES):
    """Fail with the standard missing-library message unless this Python has the libraries (and versions,
    and ``features``) the collection needs.  Runs before anything touches the store."""
    found = _cryptography_dep.problems(features)
    if found:
        module.fail_json(**_cryptography_dep.failure(found))


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


def run_module(module, run, features=_cryptography_dep.DEFAULT_FEATURES):
    """Every module's main(): one call run(store, params, check_mode, want_diff) -> result dict, then exit.

    ``run`` is the function of the module_utils file that owns the module; a SecurityError it raises
    becomes a failure with its stable code, and the result's "warnings" become Ansible warnings, each
    prefixed with the system it is about (Ansible merges identical warning lines from different hosts).
    ``features``: the library features beyond the default that the module uses (_cryptography_dep.FEATURES),
    or a function of the module's params returning them; checked with the library versions before the
    store is opened.
    """
    require_libraries(module, features(module.params) if callable(features) else features)
    try:
        _specs.check_paths(getattr(module, "argument_spec", None) or {}, module.params)
        store = store_from_params(module.params)
        # Recorded in the generation a change writes.  Ansible passes a module its name and the
        # ansible_target_log_info variable (2.17+), never the task's name: that variable is the way to
        # name the task (see docs/store-format.md).
        store.made_by = {"module": getattr(module, "_name", None),
                         "note": getattr(module, "_target_log_info", None) or None}
        result = run(store, module.params, module.check_mode, module._diff)
    except SecurityError as exc:
        module.fail_json(**exc.as_result())
    warnings = result.pop("warnings", None) or []
    label = system_label(store, result)
    for warning in warnings:
        module.warn("%s: %s" % (label, warning))
    module.exit_json(**result)
