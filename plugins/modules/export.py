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
  - For the trusted certificate store, every entry as its own C(.cer) file named by its common name and
    fingerprint, in C(trusted/pem/) and C(trusted/der/), and in the File Manager folder
    C(system/primary/certificates/tcs/add/) (PEM). Entries removed from the store since an earlier export
    into the same directory go to C(system/primary/certificates/tcs/delete/); they stay there until they
    are trusted again. Upload the two folders' contents to the same folders in the system's File Manager.
  - C(manifest.json) (what to upload where, fingerprints, expiry, the files' SHA-256) and a short
    C(README.txt) for the system.
  - Idempotent. PKCS#12 output is randomised (salt and IV), so a PKCS#12 is kept while it is the file the
    last export wrote (its SHA-256 and encryption are in the manifest) and, opened with O(password), holds
    exactly the key, certificate and chain wanted. Every other file is compared by content. Files of an
    earlier export that are no longer wanted are removed; other files in the directory are left alone.
  - Files are written atomically (a new file, C(fchmod), C(fsync), rename; never through a symlink).
    Files that hold a private key (the PKCS#12 files, C(key.pem)) get mode C(0600), others C(0644); new
    directories C(0700).
  - The store is only read, without waiting for a writer. A store that does not exist fails with
    C(error=store_not_initialised) (exporting a new system's freshly generated keys is never what was meant).
author:
  - ipoffice.security maintainers (@ipoffice)
extends_documentation_fragment:
  - ipoffice.security.store
  - ipoffice.security.attributes
options:
  path:
    description:
      - The directory to write into; created (mode C(0700)) when missing, its parent must exist.
      - Use one directory per system.
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
attributes:
  check_mode:
    support: full
    details:
      - Plans the same files and predicts C(changed) exactly; nothing is written.
  diff_mode:
    support: full
    details:
      - Shows each file by a secret-free description (SHA-256 of public files, fingerprints inside a PKCS#12).
  idempotent:
    support: full
    details:
      - A PKCS#12 (randomised on every write) is kept while it is the file the last export wrote and holds what is
        wanted.
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
      description: C(pkcs12), C(certificate), C(chain), C(private_key), C(readme) or C(manifest).
      type: str
    route:
      description: >-
        Where it goes: C(manager_set), C(web_manager), C(pem), C(trusted), C(tcs_add), C(tcs_delete),
        C(readme), C(manifest).
      type: str
    mode:
      description: File mode (C(0600) for files holding a private key).
      type: str
    sha256:
      description: SHA-256 of the content (public files only).
      type: str
written:
  description: Paths written (or, in check mode, that would be).
  returned: success
  type: list
  elements: str
removed:
  description: Paths of an earlier export removed as no longer wanted.
  returned: success
  type: list
  elements: str
manifest:
  description:
    - What manifest.json says - C(system_name), C(platform), C(encryption), C(identities) (per C(identity)
      / C(telephony) - subject, sha256, not_after, chain and files), C(trusted) and C(tcs_delete) (subject,
      sha256, not_after, files), C(tcs_add) (paths).
  returned: success
  type: dict
error:
  description: Stable code of a failure, for example C(password_required), C(invalid_output_path),
    C(store_not_initialised).
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ipoffice.security.plugins.module_utils._export import run
from ansible_collections.ipoffice.security.plugins.module_utils._module import run_module
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = AnsibleModule(**module_kwargs("export"))
    run_module(module, run)


if __name__ == "__main__":
    main()
