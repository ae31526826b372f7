# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The export module: handoff files for the vendor's documented import routes.

IP Office publishes no API for its security settings.  What a real system does take are files: a
PKCS#12 for the identity certificate's Set action (Manager: key and identity only; Web Manager: with
the chain), and ``.cer`` files dropped into the File Manager folders
``system/primary/certificates/tcs/add`` and ``.../tcs/delete``.  This module writes those files for
one system, with a ``manifest.json`` (what to upload where) and a ``README.txt``, into one directory.

Idempotence: PKCS#12 output is randomised (salt, IV), so bytes cannot be compared.  A PKCS#12 is kept
when it is the file this module last wrote (its SHA-256 is in the manifest, with the encryption it was
written with) and, opened with the password, it holds exactly the key, certificate and chain wanted.
Every other file is deterministic and compared by content.  The previous manifest also remembers the
trusted entries of the last export, so entries removed from the store since then go to ``tcs/delete``;
they stay there until they are trusted again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import hashlib
import json
import os
import re
import stat

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._model import EXPORT_ENCRYPTIONS, SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._results import diff
from ansible_collections.ipoffice.security.plugins.module_utils._store import replace_file

try:
    from cryptography.hazmat.primitives import hashes, serialization
except ImportError:  # pragma: no cover - reported by the modules
    pass

ENCRYPTIONS = EXPORT_ENCRYPTIONS
MANIFEST = "manifest.json"
README = "README.txt"
MANIFEST_FORMAT = 1
KEY_MODE = 0o600
FILE_MODE = 0o644
DIR_MODE = 0o700
KDF_ROUNDS = 20000
TCS_ADD = "system/primary/certificates/tcs/add"
TCS_DELETE = "system/primary/certificates/tcs/delete"
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)

ROUTES = {
    "manager_set": "IP Office Manager: Security Settings > System > Certificates > Identity Certificate > Set "
                   "(PKCS#12 with the key and the identity only; enter the export password)",
    "web_manager": "Web Manager: Security > Certificates > Identity Certificate > Set (PKCS#12 with the chain; "
                   "its CA certificates go into the trusted certificate store; enter the export password)",
    "pem": "PEM files for hosts that take a certificate, key and chain separately (key file mode 0600)",
    "tcs_add": "File Manager (Web Manager > Applications > File Manager, or Embedded File Management): upload "
               "into " + TCS_ADD + "; the system adds each certificate to its trusted certificate store",
    "tcs_delete": "File Manager: upload into " + TCS_DELETE + "; the system removes each certificate from its "
                  "trusted certificate store",
    "trusted": "Each trusted certificate store entry, PEM and DER, for Manager's trusted store Add or other tools",
}


def encryption_for(choice, password):
    """The PKCS#12 encryption: modern (PBES2, PBKDF2, AES-256-CBC, HMAC-SHA-256) or compatible (the older
    PBE with SHA-1 and 3DES, HMAC-SHA-1) for readers that know nothing newer."""
    from cryptography.hazmat.primitives.serialization import pkcs12  # lazily: module start-up cost
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(KDF_ROUNDS)
    if choice == "compatible":
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    return builder.build(password.encode("utf-8"))


def pkcs12_bytes(name, credential, chain, choice, password):
    from cryptography.hazmat.primitives.serialization import pkcs12
    return pkcs12.serialize_key_and_certificates(name.encode("utf-8"), credential.key, credential.cert,
                                                 list(chain) or None, encryption_for(choice, password))


class Request(object):
    def __init__(self, path, password, encryption):
        self.path = path
        self.password = password
        self.encryption = encryption


def export_request(params):
    """Validate the export options (nothing read or written)."""
    path = params.get("path")
    if not path:
        raise SecurityError("missing_option", "Set the 'path' option: the directory to write the files into.",
                            option="path")
    encryption = params.get("encryption") or "modern"
    if encryption not in ENCRYPTIONS:
        raise SecurityError("invalid_choice", "encryption must be one of %s, got '%s'. Change the 'encryption' "
                            "option." % (", ".join(ENCRYPTIONS), encryption), option="encryption")
    password = params.get("password")
    if not password:
        raise SecurityError("password_required", "The identity PKCS#12 files hold the private key: set the "
                            "'password' option to protect them (it is what Manager and Web Manager ask for on Set).",
                            option="password")
    path = os.path.abspath(path)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise SecurityError("invalid_output_path", "%s exists and is not a directory. Change the 'path' option to "
                            "a directory (it is created when missing)." % path, option="path")
    if not os.path.exists(path) and not os.path.isdir(os.path.dirname(path)):
        raise SecurityError("invalid_output_path", "The parent directory of %s does not exist. Create it first or "
                            "change the 'path' option." % path, option="path")
    return Request(path, password, encryption)


# ------------------------------------------------------------------------------------------- naming

def file_stem(cert):
    """A file name for a certificate: its common name (or subject) and the start of its fingerprint."""
    name = _certs.common_name(cert) or cert.subject.rfc4514_string() or "certificate"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:60] or "certificate"
    return "%s_%s" % (name, _certs.fingerprint(cert).replace(":", "").lower()[:16])


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _entry(cert, now):
    info = _certs.cert_info(cert, now)
    return {"subject": info["subject"], "sha256": info["sha256"], "not_after": info["not_after"]}


# ------------------------------------------------------------------------------------ the previous export

def _read_regular(path, option="path"):
    """Bytes of a regular file (never through a symlink), None when absent."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    if not stat.S_ISREG(st.st_mode):
        raise SecurityError("invalid_output_path", "%s exists and is not a regular file; it is never replaced. "
                            "Remove it or change the '%s' option." % (path, option), option=option)
    fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def previous_manifest(request):
    """The manifest of the last export into the directory ({} when none or unreadable)."""
    data = _read_regular(os.path.join(request.path, MANIFEST))
    if not data:
        return {}
    try:
        manifest = json.loads(data.decode("utf-8"))
    except ValueError:
        return {}
    return manifest if isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT else {}


def _certificate_of(item):
    """The certificate a manifest entry remembers (None when it cannot be read or does not match)."""
    try:
        cert = _certs.load_certificate(base64.b64decode(item["der"]), option=MANIFEST)
    except (KeyError, TypeError, ValueError, SecurityError):
        return None
    return cert if _certs.fingerprint(cert) == item.get("sha256") else None


def _pkcs12_unchanged(path, data, previous, request, name, credential, chain):
    """Whether the PKCS#12 at path is the one wanted: last written by us with this encryption, and
    holding exactly this name, key, certificate and chain when opened with the password."""
    record = (previous.get("files") or {}).get(os.path.relpath(path, request.path)) or {}
    if data is None or record.get("sha256") != _sha256(data) or record.get("encryption") != request.encryption:
        return False
    from cryptography.hazmat.primitives.serialization import pkcs12
    try:
        loaded = pkcs12.load_pkcs12(data, request.password.encode("utf-8"))
    except (ValueError, TypeError):
        return False  # another password, or damaged
    if loaded.key is None or loaded.cert is None:
        return False
    return (_certs.key_pem(loaded.key) == _certs.key_pem(credential.key)
            and _certs.fingerprint(loaded.cert.certificate) == credential.fingerprint
            and (loaded.cert.friendly_name or b"").decode("utf-8", "replace") == name
            and [_certs.fingerprint(c.certificate) for c in loaded.additional_certs]
            == [_certs.fingerprint(c) for c in chain])


# ------------------------------------------------------------------------------------------- planning

class Plan(object):
    def __init__(self, request):
        self.request = request
        self.files = {}      # relative path -> (bytes, mode, kind, route)
        self.write = []      # relative paths whose content or mode changes
        self.remove = []     # relative paths of the previous export no longer wanted
        self.before = {}     # relative path -> description (diff)
        self.after = {}
        self.manifest = None

    @property
    def changed(self):
        return bool(self.write or self.remove)


def _describe_pkcs12(credential, chain, encryption):
    return "PKCS#12 (%s): key + %s%s" % (encryption, credential.fingerprint,
                                         "".join(" + " + _certs.fingerprint(c) for c in chain))


def plan_export(state, request, now=None):
    """Every file of the export, what changes, and the new manifest; reads only."""
    now = now or _certs.utcnow()
    previous = previous_manifest(request)
    plan = Plan(request)
    records = {}
    manifest = {
        "format": MANIFEST_FORMAT,
        "system_name": state.system_name,
        "platform": state.platform,
        "encryption": request.encryption,
        "identities": {},
        "trusted": [],
        "tcs_add": [],
        "tcs_delete": [],
        "files": records,
        "routes": ROUTES,
    }

    def add(rel, data, mode, kind, route, describe=None, keep=None):
        """Plan one file; keep: the existing bytes when they are to be kept (PKCS#12)."""
        full = os.path.join(request.path, rel)
        existing = _read_regular(full)
        if keep is not None:
            data = keep
        plan.files[rel] = (data, mode, kind, route)
        records[rel] = {"kind": kind, "route": route, "sha256": _sha256(data), "mode": "%04o" % mode}
        if kind == "pkcs12":
            records[rel]["encryption"] = request.encryption
        plan.after[rel] = describe or "sha256 %s" % _sha256(data)
        if existing is None:
            plan.write.append(rel)
            return
        same = existing == data
        plan.before[rel] = (describe if same or keep is not None else None) or \
            ("PKCS#12 (previous content)" if kind == "pkcs12" else "sha256 %s" % _sha256(existing))
        if not same or stat.S_IMODE(os.lstat(full).st_mode) != mode:
            plan.write.append(rel)

    for purpose, credential in (("identity", state.identity), ("telephony", state.telephony)):
        if credential is None:
            continue
        chain = state.chain_for(credential)
        name = _certs.common_name(credential.cert) or state.system_name
        described = {}
        for rel, kind_chain, route in (("%s/manager-set.p12" % purpose, [], "manager_set"),
                                       ("%s/web-manager.p12" % purpose, chain, "web_manager")):
            full = os.path.join(request.path, rel)
            existing = _read_regular(full)
            describe = _describe_pkcs12(credential, kind_chain, request.encryption)
            if _pkcs12_unchanged(full, existing, previous, request, name, credential, kind_chain):
                add(rel, None, KEY_MODE, "pkcs12", route, describe, keep=existing)
            else:
                add(rel, pkcs12_bytes(name, credential, kind_chain, request.encryption, request.password), KEY_MODE,
                    "pkcs12", route, describe)
            described[route] = rel
        add("%s/cert.pem" % purpose, _certs.cert_pem(credential.cert), FILE_MODE, "certificate", "pem")
        add("%s/chain.pem" % purpose, _certs.certs_pem(chain), FILE_MODE, "chain", "pem")
        add("%s/key.pem" % purpose, _certs.key_pem(credential.key), KEY_MODE, "private_key", "pem",
            "private key matching %s" % credential.fingerprint)
        entry = _entry(credential.cert, now)
        entry.update({"chain": [_entry(c, now) for c in chain],
                      "files": {"manager_set": described["manager_set"], "web_manager": described["web_manager"],
                                "certificate": "%s/cert.pem" % purpose, "chain": "%s/chain.pem" % purpose,
                                "private_key": "%s/key.pem" % purpose}})
        manifest["identities"][purpose] = entry

    current = dict((_certs.fingerprint(c), c) for c in state.trusted_certificates())
    for fp in sorted(current):
        cert = current[fp]
        stem = file_stem(cert)
        pem, der = _certs.cert_pem(cert), cert.public_bytes(serialization.Encoding.DER)
        add("trusted/pem/%s.cer" % stem, pem, FILE_MODE, "certificate", "trusted")
        add("trusted/der/%s.cer" % stem, der, FILE_MODE, "certificate", "trusted")
        add("%s/%s.cer" % (TCS_ADD, stem), pem, FILE_MODE, "certificate", "tcs_add")
        entry = _entry(cert, now)
        entry.update({"der": base64.b64encode(der).decode("ascii"),
                      "files": {"pem": "trusted/pem/%s.cer" % stem, "der": "trusted/der/%s.cer" % stem,
                                "tcs_add": "%s/%s.cer" % (TCS_ADD, stem)}})
        manifest["trusted"].append(entry)
        manifest["tcs_add"].append("%s/%s.cer" % (TCS_ADD, stem))

    # Removed since an earlier export into this directory: what the last export trusted or was already
    # deleting, that the store does not trust now.
    removed = {}
    for item in list(previous.get("trusted") or []) + list(previous.get("tcs_delete") or []):
        if not isinstance(item, dict) or item.get("sha256") in current or item.get("sha256") in removed:
            continue
        cert = _certificate_of(item)
        if cert is not None:
            removed[item["sha256"]] = cert
    for fp in sorted(removed):
        cert = removed[fp]
        rel = "%s/%s.cer" % (TCS_DELETE, file_stem(cert))
        add(rel, _certs.cert_pem(cert), FILE_MODE, "certificate", "tcs_delete")
        entry = _entry(cert, now)
        entry.update({"der": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii"),
                      "file": rel})
        manifest["tcs_delete"].append(entry)

    add(README, readme_text(state, manifest).encode("utf-8"), FILE_MODE, "readme", "readme")
    # The manifest goes last and describes every other file (not itself).
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    plan.manifest = manifest
    add(MANIFEST, manifest_bytes, FILE_MODE, "manifest", "manifest")
    del records[MANIFEST]

    for rel in sorted((previous.get("files") or {})):
        if rel in plan.files or not _safe_relative(rel, request.path):
            continue
        full = os.path.join(request.path, rel)
        if _read_regular(full) is not None:
            plan.remove.append(rel)
            plan.before[rel] = "present (no longer exported)"
    return plan


def _safe_relative(rel, root):
    """A path the previous manifest names may be removed only inside root, through real directories."""
    if not isinstance(rel, str) or os.path.isabs(rel) or rel in ("", ".") or ".." in rel.split("/"):
        return False
    current = root
    for part in rel.split("/")[:-1]:
        current = os.path.join(current, part)
        if os.path.islink(current) or not os.path.isdir(current):
            return False
    return True


def readme_text(state, manifest):
    lines = ["IP Office security handoff files for %s (platform %s)" % (state.system_name, state.platform),
             "Written by ipoffice.security.export from the system's store, the desired state and system of record.",
             "IP Office has no API for these settings: upload the files below through the documented routes.",
             ""]
    for purpose, entry in sorted(manifest["identities"].items()):
        label = "Identity certificate" if purpose == "identity" else "SIP telephony identity certificate"
        lines += ["%s: %s (SHA-256 %s, expires %s)" % (label, entry["subject"], entry["sha256"], entry["not_after"]),
                  "  %s -> %s" % (entry["files"]["manager_set"], ROUTES["manager_set"]),
                  "  %s -> %s" % (entry["files"]["web_manager"], ROUTES["web_manager"]),
                  "  %s, %s, %s -> %s" % (entry["files"]["certificate"], entry["files"]["chain"],
                                          entry["files"]["private_key"], ROUTES["pem"]),
                  ""]
    lines += ["Trusted certificate store: %d entries." % len(manifest["trusted"]),
              "  %s/*.cer -> %s" % (TCS_ADD, ROUTES["tcs_add"]),
              "  %s/*.cer (%d) -> %s" % (TCS_DELETE, len(manifest["tcs_delete"]), ROUTES["tcs_delete"]),
              "  trusted/pem/*.cer, trusted/der/*.cer -> %s" % ROUTES["trusted"],
              "",
              "Check levels and SCEP settings are entered in Manager by hand, from the store",
              "(ipoffice.security.security_info: settings.checks, settings.scep).",
              "Verify what the system then serves with ipoffice.security.security_info live_endpoints.",
              "The PKCS#12 files and key.pem hold private keys: keep this directory private."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- writing

def _open_dir(path, create):
    """A file descriptor of directory path, created (0700) when missing; never through a symlink."""
    try:
        return os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT and create:
            os.mkdir(path, DIR_MODE)
            return os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise SecurityError("invalid_output_path", "%s is not a directory (or is a symlink); nothing is written "
                                "through it. Remove it or change the 'path' option." % path, option="path")
        raise


def _check_dirs(plan):
    """Refuse before writing anything: every directory on the way must be a real directory or absent."""
    for rel in sorted(plan.files):
        parts = rel.split("/")[:-1]
        current = plan.request.path
        for part in parts:
            current = os.path.join(current, part)
            if os.path.lexists(current) and (os.path.islink(current) or not os.path.isdir(current)):
                raise SecurityError("invalid_output_path", "%s is not a directory (or is a symlink); nothing was "
                                    "written. Remove it or change the 'path' option." % current, option="path")


def write_export(plan):
    _check_dirs(plan)
    root = plan.request.path
    if not os.path.isdir(root):
        os.mkdir(root, DIR_MODE)
    # The manifest last: an interrupted run leaves the previous manifest, so the next run redoes the rest.
    for rel in sorted(plan.write, key=lambda r: (r == MANIFEST, r)):
        data, mode, _kind, _route = plan.files[rel]
        parts = rel.split("/")
        directory = root
        for part in parts[:-1]:
            directory = os.path.join(directory, part)
            os.close(_open_dir(directory, create=True))
        replace_file(os.path.join(directory, parts[-1]), data, mode)
    for rel in plan.remove:
        os.unlink(os.path.join(root, rel))


def file_list(plan):
    """Secret-free description of every file: path, kind, where it goes, mode (sha256 for public files)."""
    result = []
    for rel in sorted(plan.files):
        data, mode, kind, route = plan.files[rel]
        item = {"path": os.path.join(plan.request.path, rel), "kind": kind, "route": route, "mode": "%04o" % mode}
        if mode != KEY_MODE:
            item["sha256"] = _sha256(data)
        result.append(item)
    return result


def run(store, params, check_mode=False, want_diff=False, now=None):
    """The export module: read the store (never writing it), write the files."""
    request = export_request(params)
    state = store.read(initial=False)
    if state is None:
        # Exporting a new system's freshly generated keys would hand a real system something nobody asked
        # for: most likely store_path is wrong.
        raise SecurityError("store_not_initialised", "The store at %s does not exist, so there is nothing to "
                            "export. Check the 'store_path' option, or set the system up first (the baseline role "
                            "or ipoffice.security.security_settings)." % store.path, option="store_path")
    plan = plan_export(state, request, now)
    _check_dirs(plan)
    if plan.changed and not check_mode:
        write_export(plan)
    manifest = dict((k, v) for k, v in plan.manifest.items() if k not in ("files", "routes"))
    for item in manifest["trusted"] + manifest["tcs_delete"]:
        item.pop("der", None)
    result = {
        "changed": plan.changed,
        "path": request.path,
        "encryption": request.encryption,
        "files": file_list(plan),
        "written": [os.path.join(request.path, rel) for rel in sorted(plan.write)],
        "removed": [os.path.join(request.path, rel) for rel in plan.remove],
        "manifest": manifest,
    }
    if want_diff:
        result["diff"] = diff(plan.before, plan.after, header=request.path)
    return result
