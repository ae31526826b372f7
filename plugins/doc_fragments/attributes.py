# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The attributes every module shares (community.crypto's ``_attributes`` shape).

    ``ipoffice.security.attributes``: what check mode, diff mode, idempotence, the action plugin and the action
    group mean here (idempotent as ansible-core and the community collections define it); a module adds its
    own ``support`` and ``details`` for check_mode, diff_mode and idempotent.
    ``ipoffice.security.attributes.info_module``: for modules that only read (check mode full, no diff).
    """

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and predict C(changed) without modifying the store or any file.
  diff_mode:
    description: Returns what changed (or would change in check mode) as parsed, secret-free data, when in diff
      mode.
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on
      the controller.
    support: full
    details:
      - When the task runs on the controller (connection C(local), or delegated to localhost) and without
        C(become), C(async) or task C(environment), the action plugin validates the arguments with the module's
        own argument spec and runs the module's decisions in Ansible's worker process, with the same result,
        instead of starting a module process.
      - Otherwise, or with C(ipoffice_security_inprocess=false) (a variable) or C(IPOFFICE_SECURITY_INPROCESS=false)
        (in the environment of ansible-playbook), the module runs as a module. At C(-vvv) each task says which
        way it ran and why.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no
        change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
  action_group:
    description: Use C(group/ipoffice.security.all) in C(module_defaults) to set the store options once (and
      C(group/ipoffice.security.writers), the modules that can write a store, for the writer options
      C(lock_timeout) and C(keep_generations)).
    support: full
    membership:
      - ipoffice.security.all
"""

    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This module only reads, so it behaves the same in check mode.
  diff_mode:
    support: N/A
    details:
      - This module only reads; there is nothing to show a difference of.
  idempotent:
    support: full
    details:
      - This action does not modify state.
"""
