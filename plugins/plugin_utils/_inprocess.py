# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module of the collection in the controller's worker when its store is local (see docs/performance.md).

Every module has an action plugin of the same name (plugins/action/<module>.py) over ``InProcessAction``.
When the task runs on the controller (its connection is ``local``: ``ansible_connection: local``, or
delegated to localhost), the action validates the arguments with the module's own argument spec
(``_specs.module_kwargs``) and ansible-core's validator, and calls the same ``_module.outcome()`` as the
module's ``run_module`` -- the library check, the store, the module's ``run()``, error results and warnings
-- in the worker, then shapes the result as ``AnsibleModule`` does: ``invocation``, the warnings, the no_log
values of the arguments removed everywhere (``remove_values``), file details for a result with a ``path``,
and the same JSON round trip a module result makes.  No AnsiballZ payload, no temporary directory, no
interpreter start.

Otherwise the module runs as a module (ansible.builtin.normal's way): on any other connection, with
``become`` (the module must run as the become user), ``async``, task ``environment`` (the module's process
gets it, the worker cannot), when the controller's Python lacks the libraries the call needs (the module's
interpreter may have them), or when forced by the switch:

* the task variable ``ipoffice_security_inprocess: false`` (inventory, play, block or task vars), else
* the environment variable ``IPOFFICE_SECURITY_INPROCESS=false`` of ansible-playbook.

At -vvv each task says which way it ran and why.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.plugins.action.normal import ActionModule as NormalAction
from ansible.utils.display import Display

from ansible_collections.ipoffice.security.plugins.module_utils import _cryptography_dep, _module, _specs
# Loaded with the action plugins, in ansible-playbook's own process, so that no worker compiles it: the store
# imports it only when it writes a generation (a module process that changes nothing does not pay for it).
from ansible_collections.ipoffice.security.plugins.module_utils import _generation  # noqa: F401  pylint: disable=unused-import

display = Display()

SWITCH_VARIABLE = "ipoffice_security_inprocess"
SWITCH_ENVIRONMENT = "IPOFFICE_SECURITY_INPROCESS"
COLLECTION = "ipoffice.security"


def _codec():
    """(to_module, to_controller): the JSON round trips a module's arguments and result make, so that the
    in-process path sees and returns exactly the values the module path does (plain types, no templating
    tags; tuples as lists)."""
    try:  # ansible-core 2.19+: serialization profiles
        from ansible.module_utils.common.json import Direction, get_module_decoder, get_module_encoder
    except ImportError:  # ansible-core 2.17, 2.18
        from ansible.module_utils.common.json import AnsibleJSONEncoder
        from ansible.module_utils.common.text.converters import jsonify

        def to_module(value):
            return json.loads(json.dumps(value, cls=AnsibleJSONEncoder, vault_to_text=True))

        def to_controller(value):
            return json.loads(jsonify(value))

        return to_module, to_controller

    def trip(direction):
        encoder, decoder = get_module_encoder("legacy", direction), get_module_decoder("legacy", direction)
        return lambda value: json.loads(json.dumps(value, cls=encoder), cls=decoder)

    return trip(Direction.CONTROLLER_TO_MODULE), trip(Direction.MODULE_TO_CONTROLLER)


TO_MODULE, TO_CONTROLLER = _codec()


def _normalize_failure(result):
    """ansible-core 2.19+ normalises a module result's failure (ActionBase._parse_returned_data); the same here."""
    try:
        from ansible._internal._errors import _captured
    except ImportError:
        return
    _captured.AnsibleModuleCapturedError.normalize_result_exception(result)


class _PathInfo(AnsibleModule):
    """AnsibleModule.add_path_info without a module: a result with ``path`` gets the file's details
    (uid, gid, owner, group, mode, state, size, SELinux context) as AnsibleModule.exit_json adds them."""

    def __init__(self):  # pylint: disable=super-init-not-called  # no arguments to load: add_path_info only
        self._selinux_enabled = None
        self._selinux_mls_enabled = None
        self._selinux_initial_context = None

    def fail_json(self, msg, **kwargs):  # pylint: disable=arguments-differ
        raise RuntimeError(msg)


def format_result(failed, result, params, warnings, no_log_values):
    """The result as AnsibleModule.exit_json / fail_json return it (AnsibleModule._return_formatted), then
    as the controller reads a module's result."""
    result = dict(result)
    if failed:
        result.update(failed=True, msg=str(result.get("msg")))
    _PathInfo().add_path_info(result)
    result.setdefault("invocation", {"module_args": params})
    if warnings:
        result["warnings"] = list(warnings)
    preserved = dict((key, value) for key, value in result.items() if value is None or isinstance(value, bool))
    result = remove_values(result, no_log_values)
    result.update(preserved)
    result = TO_CONTROLLER(result)
    _normalize_failure(result)
    result["_ansible_parsed"] = True
    return result


def validate(module, name, args):
    """(params, no_log_values, failure, notices): the arguments of the module ``module`` (its short name;
    ``name`` as the task calls it, for messages) validated with its own spec and ansible-core's validator, as
    AnsibleModule validates them; ``failure`` is the fail_json arguments when they are rejected
    (AnsibleModule's message, and the stable code invalid_option); ``notices`` is true when an alias or a
    deprecated option is used."""
    kwargs = _specs.module_kwargs(module)
    kwargs.pop("supports_check_mode", None)
    validator = ArgumentSpecValidator(**kwargs)
    validation = validator.validate(args)
    params = dict(args)
    params.update(validation.validated_parameters)
    no_log_values = set(validation._no_log_values)  # pylint: disable=protected-access  # as AnsibleModule reads it
    failure = None
    try:
        error = validation.errors[0]
    except IndexError:
        error = None
    if error is not None:
        msg = validation.errors.msg
        if isinstance(error, UnsupportedError):
            msg = "Unsupported parameters for ({name}) {kind}: {msg}".format(name=name, kind="module", msg=msg)
        failure = {"msg": msg, "error": "invalid_option"}
    # An alias or a deprecated option in use: AnsibleModule reports it as a warning or a deprecation through
    # module_utils' global lists, whose shape differs between ansible-core releases. Such a task runs as a
    # module, so that Ansible reports it exactly as it reports any module's deprecations.
    notices = bool(getattr(validation, "_warnings", None) or getattr(validation, "_deprecations", None))
    return params, no_log_values, failure, notices


class InProcessAction(NormalAction):
    """The action of one module: in the controller's worker when the store is local, else the module.

    Subclasses set ``MODULE`` (the module's short name), ``RUN`` (the ``run`` of the module_utils file that
    owns the module, ``_specs.owner``) and, when the module asks for more than the default library features,
    ``FEATURES``: what the module passes to ``run_module``.  Importing them in the action plugin's file loads
    them once, in ansible-playbook's own process (its strategy loads the action's class to read
    BYPASS_HOST_LOOP before it forks the workers); imported here, each worker would compile them again
    (Ansible's collection loader keeps no bytecode cache).
    """

    MODULE = None
    RUN = None
    FEATURES = _cryptography_dep.DEFAULT_FEATURES

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        reason = self._module_path_reason(task_vars)
        if reason is None:
            result = ActionBase.run(self, tmp, task_vars)  # pylint: disable=bad-super-call  # check mode, async
            outcome = self._run_in_process(task_vars)
            if outcome is not None:
                result.update(outcome)
                return result
            reason = getattr(self, "_module_reason", None) \
                or "the controller's Python lacks the libraries this call needs"
        display.vvv("%s.%s runs as a module: %s" % (COLLECTION, self.MODULE, reason), host=self._host_name(task_vars))
        return super(InProcessAction, self).run(tmp, task_vars)

    def _host_name(self, task_vars):
        return task_vars.get("inventory_hostname") or self._play_context.remote_addr

    def _switch(self, task_vars):
        """(on, where it was set): the task variable wins over the environment variable; default on."""
        if SWITCH_VARIABLE in task_vars:
            name, where = SWITCH_VARIABLE, "the variable %s" % SWITCH_VARIABLE
            value = self._templar.template(task_vars[SWITCH_VARIABLE])
        else:
            name, where = SWITCH_ENVIRONMENT, "the environment variable %s" % SWITCH_ENVIRONMENT
            value = os.environ.get(SWITCH_ENVIRONMENT, "true")
        try:
            return boolean(value, strict=True), where
        except TypeError:
            raise AnsibleActionFail("%s must be a boolean (true runs %s modules in the controller's worker when "
                                    "the store is local, false always runs the module), got %r."
                                    % (where[0].upper() + where[1:], COLLECTION, value),
                                    result={"error": "invalid_option", "option": name})

    def _module_path_reason(self, task_vars):
        """None when the task runs in-process; otherwise why it runs the module."""
        on, where = self._switch(task_vars)
        if not on:
            return "forced by %s" % where
        transport = getattr(self._connection, "transport", None)
        if transport != "local":
            return "the connection %r is not local" % (transport,)
        if self._play_context.become:
            return "become is set (the module runs as the become user)"
        if self._task.async_val:
            return "async task"
        if any(self._task.environment or []):
            return "the task sets environment variables (the module's process gets them)"
        return None

    def _run_in_process(self, task_vars):
        """The module's result, computed in this worker; None when the controller's Python cannot run it."""
        name = self._task.action
        params, no_log_values, validated = {}, set(), False
        try:
            raw = TO_MODULE(self._task.args)
            params, no_log_values, failure, notices = validate(self.MODULE, name, raw)
            validated = True
            if notices:
                self._module_reason = "an alias or a deprecated option is used (the module reports it)"
                return None
            if not failure and _module.library_problems(params, self.FEATURES):
                return None
            display.vvv("%s.%s runs in the controller's worker (the store is local)" % (COLLECTION, self.MODULE),
                        host=self._host_name(task_vars))
            if failure:
                return format_result(True, failure, params, [], no_log_values)
            failed, result, warnings = _module.outcome(
                self.RUN, params, bool(self._task.check_mode), bool(self._task.diff),
                _module.generation_record(name, self._target_log_info(task_vars)), self.FEATURES,
                _specs.module_kwargs(self.MODULE)["argument_spec"], raw)
        except Exception as exc:  # pylint: disable=broad-except  # a failure result, never a traceback dump
            failed, result, warnings = True, _module.unexpected(name, exc), []
            if not validated:  # the no_log values are not known: the exception's text may carry a secret
                result = {"msg": "Unexpected error in %s: %s. This is a bug in ipoffice.security: please report "
                                 "it." % (name, exc.__class__.__name__), "error": "unexpected_error"}
        if failed and "exception" in result and not _module.traceback_wanted(C.DEFAULT_DEBUG, display.verbosity):
            del result["exception"]
        try:
            return format_result(failed, result, params, warnings, no_log_values)
        except Exception as exc:  # pylint: disable=broad-except  # e.g. a result JSON cannot carry: a bug too
            message = "Unexpected error in %s: %s while returning its result. This is a bug in ipoffice.security: " \
                      "please report it." % (name, exc.__class__.__name__)
            return format_result(True, {"msg": message, "error": "unexpected_error"}, {}, [], no_log_values)

    def _target_log_info(self, task_vars):
        try:
            return C.config.get_config_value("TARGET_LOG_INFO", variables=task_vars)
        except Exception:  # pylint: disable=broad-except  # an ansible-core without the setting
            return None
