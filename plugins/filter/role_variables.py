# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that check a role's variables against its argument specification (plugin_utils._role_variables).

Each filter's documentation is the YAML file of its name next to this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.ipoffice.security.plugins.plugin_utils import _role_variables


def role_variable_names(role):
    """The variables a role of this collection takes (its specification's top-level options)."""
    try:
        return _role_variables.names(role)
    except _role_variables.RoleVariablesError as exc:
        raise AnsibleFilterError(str(exc))


def role_variable_problems(role, values):
    """One short line per problem of {variable: value} against the role's specification ([] when none)."""
    try:
        return _role_variables.problems(role, values)
    except _role_variables.RoleVariablesError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    """ipoffice.security role variable filters."""

    def filters(self):
        return {"role_variable_names": role_variable_names, "role_variable_problems": role_variable_problems}
