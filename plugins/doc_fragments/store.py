# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The store options, documented once: what every module shares is written once below and each variant (the
# writers', the read-only modules') adds only its own lines.

_STORE_PATH = r"""
options:
  store_path:
    description:
      - Directory of the system's security settings store on the managed node. Required, with no default;
        each system has its own store, and in a fleet whose stores live on the controller a shared default
        would put every system into one store.
"""

_STORE_PATH_USE = r"""      - "Set it once per host for all modules of this collection with C(module_defaults) and the
        C(group/ipoffice.security.all) action group, for example
        C(store_path: /srv/ipoffice/{{ inventory_hostname }})."
      - A NUL character fails with C(error=invalid_characters).
    type: path
    required: true
"""

_REQUIREMENTS = r"""requirements:
  - cryptography >= 45.0 (C(cryptography.x509.verification) extension policies, the PKCS#7 envelope builder);
    the module fails with C(error=missing_library) before touching the store when it is older or absent
  - asn1crypto >= 1.5.0
"""


# A writer's: the store is initialised on first use; the writer options; how changes are written.
_WRITER_STORE_PATH = r"""      - The store is initialised on first use as a new system starts (see O(platform)).
"""

_WRITER_OPTIONS = r"""  platform:
    description:
      - The system platform. Only used when the store is initialised; naming a different platform
        than an existing store's is an error.
      - V(server) creates an internal root CA and an identity signed by it; V(ip500v2) one self-signed
        identity valid 825 days and medium H.323/SIP security levels.
      - When not set, a new store is initialised as V(server).
    type: str
    choices: [server, ip500v2]
  system_name:
    description:
      - The system's host name (FQDN) used for the initial identity's common name and SAN when the store
        is initialised. Defaults to the managed node's FQDN.
    type: str
  system_addresses:
    description:
      - IP addresses placed in the initial identity's SAN when the store is initialised. Defaults to the
        non-loopback addresses the host name resolves to.
    type: list
    elements: str
  lock_timeout:
    description:
      - Seconds to wait for another writer to release the store lock before failing with
        C(error=store_locked); from V(0) (do not wait) to V(3600), otherwise C(error=out_of_range).
      - A writer option, taken only by modules that can write a store (the C(group/ipoffice.security.writers)
        action group); read-only modules never take the lock.
    type: int
    default: 60
  keep_generations:
    description:
      - How many generations the store keeps (the current one included), a setting of the store itself
        (default V(10) on a new store, from V(2) to V(100), otherwise C(error=out_of_range)). Older generations
        are removed after each change.
      - When set and different from the store's setting, the store's setting changes (a change, written
        as a new generation); when not set, the store's own setting applies. Lowering it removes the
        generations it drops before the new generation is written, which frees space on a full file system
        (C(error=store_full)).
      - ipoffice.security.generation lists the kept generations and restores one.
      - A writer option, taken only by modules that can write a store (the C(group/ipoffice.security.writers)
        action group).
    type: int
  dependents_max_age_days:
    description:
      - How many days a preflight record (what an endpoint presented when it was last verified through the
        trusted store) keeps holding the trusted entries it was verified through, a setting of the store
        itself (default V(90) on a new store, V(1) to V(3650)).
      - An older record no longer blocks removing or retiring an entry; the run names it in a warning.
        Verifying the endpoint again (a preflight) renews it.
      - When set and different from the store's setting, the store's setting changes (a change, written as a
        new generation); when not set, the store's own setting applies.
    type: int
"""

_WRITER_NOTES = r"""notes:
  - Changes are written as a new whole generation of the store and switched atomically; the last
    O(keep_generations) generations are kept, each with a record of what made it (module, summary, time,
    and the C(ansible_target_log_info) variable when set); ipoffice.security.generation restores one.
"""

# A read-only module's: it never initialises a store, and takes no writer option.
_READ_ONLY_STORE_PATH = r"""
      - This module only reads the store; it never creates, initialises or changes it, and takes no lock.
"""

_READ_ONLY_OPTIONS = r"""  platform:
    description:
      - The system platform. When set, the store must have been initialised for it, otherwise
        C(error=platform_mismatch).
    type: str
    choices: [server, ip500v2]
  system_name:
    description:
      - The system's host name (FQDN), which warnings name the system by (default the store's own system name).
        With O(system_addresses) and O(platform) it says which system the store is, so that one set of
        C(module_defaults) for C(group/ipoffice.security.all) serves every module.
    type: str
  system_addresses:
    description:
      - IP addresses a writing module places in the initial identity's SAN when it initialises the store.
        This module never initialises a store, so it does not use them.
    type: list
    elements: str
"""

_READ_ONLY_NOTES = r"""notes:
  - The writer options C(lock_timeout), C(keep_generations) and C(dependents_max_age_days) belong to the modules
    that can write a store; set them with C(module_defaults) for C(group/ipoffice.security.writers), not for
    C(group/ipoffice.security.all).
"""


class ModuleDocFragment(object):
    """The store options: DOCUMENTATION for the modules that write a store, READ_ONLY for those that never do."""


# Composed from the pieces above, so set on the class after it: ansible-test's yamllint sanity test reads a
# fragment class's own assignments as string literals only (Ansible reads the fragments as attributes of the
# class, and validate-modules checks every module that uses them).
ModuleDocFragment.DOCUMENTATION = (_STORE_PATH + _WRITER_STORE_PATH + _STORE_PATH_USE + _WRITER_OPTIONS
                                   + _REQUIREMENTS + _WRITER_NOTES)

# Read-only modules (security_info, certificate_verify, export): they never take the writer lock and never
# write the store, so they take neither lock_timeout, keep_generations nor dependents_max_age_days (set
# those for the writers with group/ipoffice.security.writers).
ModuleDocFragment.READ_ONLY = (_STORE_PATH + _READ_ONLY_STORE_PATH[1:] + _STORE_PATH_USE + _READ_ONLY_OPTIONS
                               + _REQUIREMENTS + _READ_ONLY_NOTES)
