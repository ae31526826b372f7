# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A role's variables against the role's own argument specification, one short line per problem.

Ansible validates a role's variables against ``meta/argument_specs.yml`` before the role runs, and on a
failure prints the whole specification with the errors (about 18,000 characters per host for the
baseline).  The collection's roles run ``ipoffice.security.validate`` first (a dependency in their
``meta/main.yml``), which checks the same variables against the same file with this module and fails
with one line per problem, naming the key path and, when a key is misspelt, the key meant::

    ipoffice_security.checks.managment_interfaces: unknown key (did you mean 'management_interfaces'?)
    ipoffice_security.checks.certificate_expiry_warning_days: must be an int, got 'soon'

The checks are Ansible's own for every type (``ansible.module_utils.common.parameters``'s type
validators), choices, required keys, list elements and sub-options; a value that is ``no_log`` in the
specification is never shown.  When this passes, Ansible's own validation passes too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import os

import yaml

ROLES_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles"))
MAX_PROBLEMS = 20
# What the validate role passes for a variable that is not set (the vars lookup's default).
NOT_SET = "__ipoffice_security_not_set__"
MAX_VALUE = 60


class RoleVariablesError(ValueError):
    """The role named has no specification here."""


def roles():
    """The collection's roles that have an argument specification."""
    return sorted(name for name in os.listdir(ROLES_DIR)
                  if os.path.isfile(os.path.join(ROLES_DIR, name, "meta", "argument_specs.yml")))


def spec(role, entry_point="main"):
    """The options of a role's entry point, from its meta/argument_specs.yml."""
    if role not in roles():
        raise RoleVariablesError("There is no role '%s' with an argument specification in ipoffice.security (roles: "
                                 "%s)." % (role, ", ".join(roles())))
    with open(os.path.join(ROLES_DIR, role, "meta", "argument_specs.yml")) as handle:
        document = yaml.safe_load(handle)
    return ((document.get("argument_specs") or {}).get(entry_point) or {}).get("options") or {}


def names(role):
    """The variables the role's specification names (its top-level options)."""
    return sorted(spec(role))


def _type_validators():
    from ansible.module_utils.common.parameters import DEFAULT_TYPE_VALIDATORS
    return DEFAULT_TYPE_VALIDATORS


def _shown(value, entry):
    if entry.get("no_log"):
        return "a value of type %s (not shown: it is a secret)" % type(value).__name__
    text = repr(value)
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE - 3] + "..."
    return text


def _suggest(key, known):
    close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
    return " (did you mean '%s'?)" % close[0] if close else ""


def _check(path, value, entry, problems):
    """Check one value against its spec entry; append problems; return the value as Ansible converts it."""
    kind = entry.get("type", "str")
    validator = _type_validators().get(kind)
    if validator is not None and value is not None:
        try:
            value = validator(value)
        except (TypeError, ValueError):
            article = "an" if kind[0] in "aeiou" else "a"
            problems.append("%s: must be %s %s, got %s" % (path, article, kind, _shown(value, entry)))
            return None
    if entry.get("choices") is not None and value is not None:
        values = value if kind == "list" else [value]
        bad = [v for v in values if v not in entry["choices"]]
        if bad:
            allowed = ", ".join(str(c) for c in entry["choices"])
            problems.append("%s: must be one of %s, got %s" % (path, allowed, _shown(bad[0], entry)))
    options = entry.get("options")
    if kind == "dict" and isinstance(value, dict) and options is not None:
        _check_options(path, value, options, problems)
    if kind == "list" and isinstance(value, list):
        elements = entry.get("elements")
        for index, item in enumerate(value):
            where = "%s[%d]" % (path, index)
            if elements:
                item = _check(where, item, dict(entry, type=elements, choices=None, elements=None, options=None),
                              problems)
            if elements == "dict" and isinstance(item, dict) and options is not None:
                _check_options(where, item, options, problems)
    return value


def _join(path, key):
    return "%s.%s" % (path, key) if path else str(key)


def _check_options(path, values, options, problems):
    for key in sorted(values, key=str):
        if key not in options:
            problems.append("%s: unknown key%s" % (_join(path, key), _suggest(key, options)))
    for key, entry in sorted(options.items()):
        where = _join(path, key)
        value = values.get(key)
        if value is None:
            if entry.get("required"):
                problems.append("%s: required, but not set" % where)
            continue
        _check(where, value, entry, problems)


def problems(role, values, entry_point="main"):
    """One line per problem of ``values`` ({variable: value}; one not set is left out, or NOT_SET) against the
    role's specification, at most MAX_PROBLEMS (then a line saying how many more)."""
    found = []
    given = dict((k, v) for k, v in (values or {}).items() if k in spec(role, entry_point) and v != NOT_SET)
    _check_options("", given, spec(role, entry_point), found)
    if len(found) > MAX_PROBLEMS:
        found = found[:MAX_PROBLEMS] + ["... and %d more problem(s)" % (len(found) - MAX_PROBLEMS)]
    return found
