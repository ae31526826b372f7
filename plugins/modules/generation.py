#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: generation
short_description: List and restore the kept generations of an IP Office system's security settings store
version_added: 0.1.0
description:
  - Every change of the store is written as a whole new generation; the store keeps the last
    O(keep_generations) of them (a store setting, default 10, at least 2). This module lists them, each with
    the record of what made it (module, a short summary of what changed, time, and the note Ansible passed),
    and restores one.
  - A restore writes a B(new) generation whose content equals the chosen one, under the store lock; the
    generation that was current stays kept, so a restore can itself be undone (O(restore=previous) again).
    The store setting O(keep_generations) is not restored.
  - Without O(restore) the module only reads (and does not initialise a missing store), unless
    O(keep_generations) is given and differs from the store's setting, which changes that setting.
  - Ansible does not pass a module the name of its task. To record one, set the C(ansible_target_log_info)
    variable (for example in the task's C(vars)); Ansible passes it to every module, and each generation
    records it as C(note).
  - A restore target that is not kept fails with C(error=unknown_generation) (naming the kept ones), a store
    with nothing before its current generation with C(error=no_previous_generation); nothing is written.
  - A generation whose identity or telephony identity has expired since is not restored
    (C(error=certificate_expired), naming each expired certificate) unless O(allow_expired=true).
author:
  - ipoffice.security maintainers (@ipoffice)
extends_documentation_fragment:
  - ipoffice.security.store
  - ipoffice.security.attributes
options:
  restore:
    description:
      - V(previous) restores the newest kept generation before the current one; a number restores that
        generation (see RV(generations)).
      - Restoring the current generation changes nothing.
      - Not idempotent by nature, V(previous) run twice undoes the first restore.
    type: str
  allow_expired:
    description:
      - Restore the chosen generation even when its identity or telephony identity has expired, with a
        warning naming each expired certificate. Without it such a restore fails with
        C(error=certificate_expired) and nothing is written (the system would present a certificate every
        peer rejects).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - A restore in check mode reports C(changed) and the diff exactly and writes nothing.
  diff_mode:
    support: full
    details:
      - Settings, identities, CA and trusted entries as parsed fields, before and after the restore.
  idempotent:
    support: partial
    details:
      - O(restore=previous) run twice undoes the first restore; a restore of a generation number changes nothing the
        second time.
seealso:
  - module: ipoffice.security.security_info
"""

EXAMPLES = r"""
- name: List the kept generations and what made each
  ipoffice.security.generation:
  register: history

- name: Undo the last change
  ipoffice.security.generation:
    restore: previous
  check_mode: true
  diff: true

- name: Go back to generation 12 (written as a new generation)
  ipoffice.security.generation:
    restore: "12"

- name: Keep 20 generations from now on
  ipoffice.security.generation:
    keep_generations: 20

- name: Record the task in the generation it writes
  ipoffice.security.trusted_certificate:
    certificates:
      - path: /etc/pki/new-root.pem
  vars:
    ansible_target_log_info: "rotate trust: add the new root"
"""

RETURN = r"""
generations:
  description: The kept generations after the run, newest first.
  returned: success
  type: list
  elements: dict
  contains:
    generation:
      description: Generation number.
      type: int
    written:
      description: When it was written (UTC).
      type: str
    current:
      description: Whether it is the current generation.
      type: bool
    path:
      description: Its directory.
      type: str
    made_by:
      description:
        - What made it (null for generations written before records existed). C(module), C(summary) (what
          changed against the generation before), C(time), C(note) (the C(ansible_target_log_info) variable).
      type: dict
current:
  description: The current generation number after the run (null when the store is not initialised).
  returned: success
  type: int
initialised:
  description: Whether the store exists.
  returned: success
  type: bool
keep_generations:
  description: The store setting keep_generations after the run.
  returned: success
  type: int
restored:
  description: With O(restore), the generation restored, its record, and the number of the new generation that
    holds it (C(written_as); null in check mode or when nothing changed).
  returned: success
  type: dict
error:
  description: Stable code of a failure (C(unknown_generation), C(no_previous_generation), C(invalid_setting),
    C(store_locked), C(corrupt_store), ...).
  returned: failure
  type: str
"""

from ansible_collections.ipoffice.security.plugins.module_utils._generation import run
from ansible_collections.ipoffice.security.plugins.module_utils._module import SecurityModule, run_module
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = SecurityModule(**module_kwargs("generation"))
    run_module(module, run)


if __name__ == "__main__":
    main()
