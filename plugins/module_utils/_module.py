# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wiring shared by every module: store options, error reporting, diffs.  No decisions live here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.ipoffice.security.plugins.module_utils._model import PLATFORMS, SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_STORE_PATH,
    DirectoryStore,
)

try:
    import cryptography  # noqa: F401  # pylint: disable=unused-import
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_ERROR = None
except ImportError:  # pragma: no cover - depends on the managed node
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_ERROR = traceback.format_exc()

# The options of the 'ipoffice.security.store' doc fragment.
STORE_ARGSPEC = dict(
    store_path=dict(type="path", default=DEFAULT_STORE_PATH),
    platform=dict(type="str", choices=list(PLATFORMS)),
    system_name=dict(type="str"),
    system_addresses=dict(type="list", elements="str"),
    lock_timeout=dict(type="int", default=DEFAULT_LOCK_TIMEOUT),
    keep_generations=dict(type="int"),
)


def argument_spec(**options):
    """A module's argument_spec: its own options plus the shared store options."""
    spec = dict(STORE_ARGSPEC)
    spec.update(options)
    return spec


def store_from_params(params):
    return DirectoryStore(path=params["store_path"], platform=params.get("platform"),
                          system_name=params.get("system_name"), system_addresses=params.get("system_addresses"),
                          lock_timeout=params.get("lock_timeout", DEFAULT_LOCK_TIMEOUT),
                          keep=params.get("keep_generations"))


def require_libraries(module):
    if not HAS_CRYPTOGRAPHY:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib("cryptography"), error="missing_library",
                         exception=CRYPTOGRAPHY_ERROR)


def run_module(module, run):
    """Every module's main(): one call run(store, params, check_mode, want_diff) -> result dict, then exit.

    ``run`` is the function of the module_utils file that owns the module; a SecurityError it raises
    becomes a failure with its stable code, and the result's "warnings" become Ansible warnings.
    """
    require_libraries(module)
    try:
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
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


def diff(before, after, header=None):
    """An Ansible diff of two parsed (secret-free) dicts."""
    result = {"before": before, "after": after}
    if header:
        result["before_header"] = header
        result["after_header"] = header
    return result
