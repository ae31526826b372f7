#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: export
short_description: Write the files a real IP Office imports through its documented routes
version_added: 0.2.0
description:
  - IP Office publishes no API for its security settings; the store is the desired state and system of
    record of one system. This module writes, into the directory O(path), the files the vendor's
    documented import routes take, so that the store's state can be put onto the real system.
  - For the identity certificate (and the SIP telephony identity when the store has one, under
    C(telephony/)) in C(identity/) - C(manager-set.p12), a PKCS#12 holding only the private key and the
    identity certificate for Manager's Identity Certificate Set (Manager refuses a PKCS#12 with CA
    certificates); C(web-manager.p12), the same with the chain for Web Manager's Set; and C(cert.pem),
    C(chain.pem), C(key.pem).
  - For the trusted certificate store, every certificate handed off as its own C(.cer) file named by its
    common name and fingerprint, in C(trusted/pem/) and C(trusted/der/), and in the File Manager folder
    C(system/primary/certificates/tcs/add/) (PEM). Entries no longer handed off since an earlier export
    into the same directory go to C(system/primary/certificates/tcs/delete/); they stay there until they
    are handed off again. Upload the two folders' contents to the same folders in the system's File Manager.
  - Only what the real system should trust is handed off. The store's internal CA (C(IP Office Root CA
    <system>), whose private key the store keeps unencrypted on the host that holds it) goes into
    C(tcs/add) only while something depends on it - the identity or telephony identity chains to it, a
    certificate it issued (ipoffice.security.issued_certificate) is in use, a pinned peer or a verified
    preflight endpoint chains to it. Otherwise it is listed under C(withheld) in the manifest, and when an
    earlier export handed it off it goes to C(tcs/delete). For every CA handed off the manifest and
    C(README.txt) say where its private key lives (the store's path for the internal CA, C(not held by this
    collection) for outside CAs).
  - C(manifest.json) (what to upload where, fingerprints, expiry, the files' SHA-256, and under C(settings)
    the values to enter by hand in Manager, keyed as the store keys them - C(identity), C(checks) with the
    IP Office lines, C(scep) without the password) and a C(README.txt) naming each Manager field beside its
    value.
  - For Avaya J100-series SIP phones, which trust the system only through C(TRUSTCERTS) in their settings
    file, C(phones/) holds the root certificates the phones need (those the system identity chains to,
    and the telephony identity's when C(sip_telephony_certificate) is C(sip_phones)) as PEM files, and
    C(phones/46xxspecials.txt) with C(SET TRUSTCERTS) naming exactly those files and C(SET TLSSRVRID 1)
    only when every identity the phones are served names the system name and each of O(system_addresses)
    in its subjectAltName (RFC 2818 server identity; otherwise C(SET TLSSRVRID 0) with a comment naming what
    is missing).
  - Idempotent. PKCS#12 output is randomised (salt and IV), so a PKCS#12 is kept while it is the file the
    last export wrote (its SHA-256 and encryption are in the manifest) and, opened with O(password), holds
    exactly the key, certificate and chain wanted. Every other file is compared by content.
  - The directory belongs to the export. O(path) must be absent (its parent must exist), an empty
    directory, or an earlier export (marked by the file C(.ipoffice-export); an export of an earlier
    release, without the marker, is recognised by its C(manifest.json)). A symlink
    (C(error=export_path_symlink)), anything but a directory (C(export_path_not_directory)), a missing
    parent (C(export_path_parent_missing)) and a non-empty directory that is not an earlier export
    (C(export_path_not_empty)) are refused before anything is written. Files, directories and symlinks
    someone else put into an earlier export are carried into the new one as they are (hard links, the same
    link targets, never followed); a FIFO or device there, or a foreign entry standing where the export
    writes one of its own files, is refused (C(export_path_not_empty), its C(foreign) lists them).
  - A change writes every file into a new directory beside O(path) (C(.<name>.export-<random>), mode
    C(0700)), fsyncs it and puts it in place of the old one in one step (C(renameat2) with
    C(RENAME_EXCHANGE) on Linux, two renames elsewhere); files are never written through a symlink. A
    failure leaves the previous export whole and removes the new directory; a full disk is
    C(error=export_disk_full), other write errors C(export_unwritable). What a killed export leaves beside
    O(path) is removed by the next export (see RV(leftovers)). Files that hold a private key (the PKCS#12
    files, C(key.pem)) get mode C(0600), others C(0644); directories C(0700).
  - The store is only read, without waiting for a writer. A store that does not exist fails with
    C(error=store_not_initialised) (exporting a new system's freshly generated keys is never what was meant).
    An expired identity or telephony identity fails with C(error=certificate_expired) unless
    O(allow_expired=true).
author:
  - ipoffice.security maintainers (@ipoffice)
extends_documentation_fragment:
  - ipoffice.security.store.read_only
  - ipoffice.security.attributes
options:
  path:
    description:
      - The directory to write into, one per system; created (mode C(0700)) when missing, its parent must
        exist. It must not be a symlink, and when it exists it must be empty or an earlier export.
      - A path holding a control character (a NUL, a newline) fails with C(error=invalid_characters).
    type: path
    required: true
  password:
    description:
      - Password of the PKCS#12 files; Manager and Web Manager ask for it on Set. Required (a missing one
        fails with C(error=password_required)).
      - Never returned or logged.
    type: str
  encryption:
    description:
      - V(modern) - PBES2 with PBKDF2 and AES-256-CBC, HMAC-SHA-256 (current IP Office releases, OpenSSL 3).
      - V(compatible) - the older PBE with SHA-1 and 3-key 3DES for key and certificates, HMAC-SHA-1, for
        readers that know nothing newer (older Manager releases, old Java and Windows).
      - Changing it rewrites the PKCS#12 files.
    type: str
    choices: [modern, compatible]
    default: modern
  allow_expired:
    description:
      - Export an identity (or telephony identity) that has expired, with a warning. Without it an expired
        identity fails with C(error=certificate_expired) and nothing is written.
    type: bool
    default: false
notes:
  - For the phones' name check, O(system_addresses) are the addresses the phones use to reach the system
    (with the store's system name); when not given only the system name is checked.
attributes:
  check_mode:
    support: full
    details:
      - Plans the same files and predicts C(changed) exactly; nothing is written or removed.
  diff_mode:
    support: full
    details:
      - Shows each file by a secret-free description (SHA-256 of public files, fingerprints inside a PKCS#12).
  idempotent:
    support: full
    details:
      - A PKCS#12 (randomised on every write) is kept while it is the file the last export wrote and holds what
        is wanted.
seealso:
  - module: ipoffice.security.security_info
    description: Compare what the live system serves with the store (its live_endpoints option).
  - module: ipoffice.security.issued_certificate
    description: Sign a CSR made on a Linux-based system for C(import_certid).
"""

EXAMPLES = r"""
- name: Handoff files for ipo1
  ipoffice.security.export:
    store_path: /srv/ipoffice/ipo1
    path: /srv/handoff/ipo1
    password: "{{ vault_ipo1_p12_password }}"
    system_addresses: [192.0.2.10]   # what the phones connect to, for TLSSRVRID

- name: For an older Manager that reads only the SHA-1/3DES PKCS#12
  ipoffice.security.export:
    store_path: /srv/ipoffice/ipo1
    path: /srv/handoff/ipo1
    password: "{{ vault_ipo1_p12_password }}"
    encryption: compatible
"""

RETURN = r"""
path:
  description: The directory written into.
  returned: success
  type: str
encryption:
  description: The PKCS#12 encryption used.
  returned: success
  type: str
files:
  description: Every file of the export.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: Absolute path.
      type: str
    kind:
      description: >-
        C(pkcs12), C(certificate), C(chain), C(private_key), C(phone_settings), C(readme), C(marker) or
        C(manifest).
      type: str
    route:
      description: >-
        Where it goes: C(manager_set), C(web_manager), C(pem), C(trusted), C(tcs_add), C(tcs_delete),
        C(phones), C(phone_settings), C(readme), C(marker), C(manifest).
      type: str
    mode:
      description: File mode (C(0600) for files holding a private key).
      type: str
    sha256:
      description: SHA-256 of the content (public files only).
      type: str
written:
  description: Paths whose content or mode changes (or, in check mode, would).
  returned: success
  type: list
  elements: str
removed:
  description: >-
    Paths of the earlier export that the new one no longer holds (files no longer wanted, temporary copies
    an interrupted export of an earlier release left inside it).
  returned: success
  type: list
  elements: str
leftovers:
  description: >-
    Temporary directories of killed earlier exports beside O(path), removed by this run (in check mode:
    that a run would remove). Their removal is not a change.
  returned: success
  type: list
  elements: str
manifest:
  description:
    - What manifest.json says - C(system_name), C(platform), C(encryption), C(identities) (per C(identity)
      / C(telephony) - subject, sha256, not_after, chain and files), C(trusted) (subject, sha256, not_after,
      is_ca, files, C(private_key) - C(held_by), C(path), C(description) - and, for the internal CA,
      C(needed_by)), C(withheld) (subject, sha256, not_after, reason, private_key), C(tcs_delete) (subject,
      sha256, not_after, file), C(tcs_add) (paths), C(settings) (the store's settings by area), C(phones)
      (settings_file, served, roots, trustcerts, names_checked, tlssrvrid, reason, problems).
  returned: success
  type: dict
error:
  description: >-
    Stable code of a failure, for example C(password_required), C(export_path_symlink),
    C(export_path_not_directory), C(export_path_not_empty), C(export_path_parent_missing),
    C(export_disk_full), C(export_unwritable), C(invalid_characters), C(certificate_expired),
    C(store_not_initialised).
  returned: failure
  type: str
"""

from ansible_collections.ipoffice.security.plugins.module_utils._export import run
from ansible_collections.ipoffice.security.plugins.module_utils._module import SecurityModule, run_module
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = SecurityModule(**module_kwargs("export"))
    run_module(module, run)


if __name__ == "__main__":
    main()
