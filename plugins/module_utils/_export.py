# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The export module: handoff files for the vendor's documented import routes.

IP Office publishes no API for its security settings.  What a real system does take are files: a
PKCS#12 for the identity certificate's Set action (Manager: key and identity only; Web Manager: with
the chain), and ``.cer`` files dropped into the File Manager folders
``system/primary/certificates/tcs/add`` and ``.../tcs/delete``.  This module writes those files for
one system, with a ``manifest.json`` (what to upload where, the settings to enter by hand) and a
``README.txt``, into one directory; and, for J100-series SIP phones, the roots they must trust and a
``46xxspecials.txt`` fragment naming them (``TRUSTCERTS``, ``TLSSRVRID``).

Only what the real system should trust is handed off: the store's internal CA ("IP Office Root CA
<system>", whose key sits unencrypted in the store) goes into ``tcs/add`` only while something depends on it
(``_dependents``: an identity chains to it, a certificate it issued is in use, ...).  The manifest and README
say for every CA handed off where its private key lives.

Idempotence: PKCS#12 output is randomised (salt, IV), so bytes cannot be compared.  A PKCS#12 is kept
when it is the file this module last wrote (its SHA-256 is in the manifest, with the encryption it was
written with) and, opened with the password, it holds exactly the key, certificate and chain wanted.
Every other file is deterministic and compared by content.  The previous manifest also remembers the
trusted entries of the last export, so entries no longer handed off go to ``tcs/delete``; they stay
there until they are handed off again.

Where and how the files are written (a directory export owns, replaced whole): ``_export_dest``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import hashlib
import json
import os
import re

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _dependents, _export_dest, _names
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    EXPORT_ENCRYPTIONS,
    LINE_FIELDS,
    SETTINGS_BY_AREA,
    SecurityError,
    check_text,
)
from ansible_collections.ipoffice.security.plugins.module_utils._results import diff

try:
    from cryptography.hazmat.primitives import hashes, serialization
except ImportError:  # pragma: no cover - reported by the modules
    pass

ENCRYPTIONS = EXPORT_ENCRYPTIONS
MANIFEST = _export_dest.MANIFEST
MARKER = _export_dest.MARKER
README = "README.txt"
MANIFEST_FORMAT = 1
KEY_MODE = 0o600
FILE_MODE = 0o644
KDF_ROUNDS = 20000
TCS_ADD = "system/primary/certificates/tcs/add"
TCS_DELETE = "system/primary/certificates/tcs/delete"
PHONES = "phones"
PHONE_SETTINGS = PHONES + "/46xxspecials.txt"
NOT_HELD = "not held by this collection"
IDENTITY_LABELS = {"identity": "system identity", "telephony": "SIP telephony identity"}

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
    "trusted": "Each certificate handed off to the trusted certificate store, PEM and DER, for Manager's trusted "
               "store Add or other tools",
    "phones": "J100-series SIP phones: put on the phones' file server, in the folder that holds 46xxsettings.txt "
              "(the system's own: File Manager, folder system/primary); 46xxspecials.txt names them in TRUSTCERTS",
    "phone_settings": "J100-series SIP phones: 46xxspecials.txt beside 46xxsettings.txt on the phones' file server "
                      "(46xxsettings.txt reads it with GET 46xxspecials.txt), or its SET lines copied into "
                      "46xxsettings.txt",
    "marker": "marks the directory as export's own: each export replaces it whole",
}

# The Manager pages and field labels (the vendor's, from _model) of the settings entered by hand.
MANAGER_PAGE = "Manager: Security Settings > System > Certificates"
MANAGER_SECTIONS = (
    ("identity", "Identity Certificate", ("offer_id_certificate_chain", "automatic_certificate_management",
                                          "san_details_origin", "automatic_phone_provisioning")),
    ("checks", "Certificate Checks", ("certificate_expiry_warning_days", "sip_telephony_certificate",
                                      "management_interfaces", "telephony_endpoints", "h323_security_level",
                                      "sip_security_level")),
    ("scep", "SCEP Settings", ("active", "request_interval", "server", "scheme", "port", "uri")),
)
# How Manager shows each stored choice.
MANAGER_VALUES = {
    "none": "None", "low": "Low", "medium": "Medium", "high": "High",
    "medium_remote": "Medium + Remote Checks", "high_remote": "High + Remote Checks",
    "sip_trunks": "SIP Trunks", "sip_and_sm_trunks": "SIP & SM Trunks", "sip_phones": "SIP Phones",
    "websocket_client": "WebSocket Client", "websocket_server": "WebSocket Server",
    "http": "HTTP", "https": "HTTPS",
}
_CONTROL = re.compile(u"[\x00-\x1f\x7f]")


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
    def __init__(self, path, password, encryption, allow_expired=False, addresses=()):
        self.path = path
        self.password = password
        self.encryption = encryption
        self.allow_expired = allow_expired
        self.addresses = list(addresses)


def export_request(params):
    """Validate the export options (nothing read or written)."""
    path = params.get("path")
    if not path:
        raise SecurityError("missing_option", "Set the 'path' option: the directory to write the files into.",
                            option="path")
    check_text(path, "path", "The export path")  # a NUL (or another control character): invalid_characters
    encryption = params.get("encryption") or "modern"
    if encryption not in ENCRYPTIONS:
        raise SecurityError("invalid_choice", "encryption must be one of %s, got '%s'. Change the 'encryption' "
                            "option." % (", ".join(ENCRYPTIONS), encryption), option="encryption")
    password = params.get("password")
    if not password:
        raise SecurityError("password_required", "The identity PKCS#12 files hold the private key: set the "
                            "'password' option to protect them (it is what Manager and Web Manager ask for on Set).",
                            option="password")
    addresses = []
    for address in params.get("system_addresses") or []:
        check_text(address, "system_addresses", "The system address")
        if address and address not in addresses:
            addresses.append(address)
    return Request(os.path.abspath(path), password, encryption, bool(params.get("allow_expired")), addresses)


# ------------------------------------------------------------------------------------------- naming

def _safe_name(cert, limit):
    name = _certs.common_name(cert) or cert.subject.rfc4514_string() or "certificate"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:limit] or "certificate"


def file_stem(cert):
    """A file name for a certificate: its common name (or subject) and the start of its fingerprint."""
    return "%s_%s" % (_safe_name(cert, 60), _certs.fingerprint(cert).replace(":", "").lower()[:16])


def phone_file(cert):
    """The file name a phone's TRUSTCERTS names (short, letters, digits, '._-' only)."""
    return "%s_%s.pem" % (_safe_name(cert, 40), _certs.fingerprint(cert).replace(":", "").lower()[:16])


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _entry(cert, now):
    info = _certs.cert_info(cert, now)
    return {"subject": info["subject"], "sha256": info["sha256"], "not_after": info["not_after"]}


def _clean(text):
    """Text for a line of README.txt or 46xxspecials.txt: a certificate's subject never starts a new line."""
    return _CONTROL.sub("?", text)


# ------------------------------------------------------------------------------------ the previous export

def previous_manifest(dest):
    """The manifest of the previous export at the destination ({} when none or unreadable)."""
    if not dest.manifest:
        return {}
    try:
        manifest = json.loads(dest.manifest.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    return manifest if isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT else {}


def check_destination(dest, previous):
    """What else the previous export holds: (stale, carry).  ``stale``: the temporary copies the file-by-file
    writer of earlier releases could leave (dropped with the old tree); ``carry``: entries someone else put
    there (files, symlinks, directories), carried into the new export as they are.  Anything else (a FIFO, a
    device) is refused; so is a foreign entry standing where the export writes (checked in plan_export)."""
    if dest.kind != "export":
        return [], []
    files = previous.get("files") if isinstance(previous.get("files"), dict) else {}
    known = set(rel for rel in files if isinstance(rel, str)) | {MANIFEST, MARKER}
    stale, carry = [], []
    for rel in sorted(dest.files):
        if rel in known:
            continue
        (stale if _export_dest.OLD_WRITER_TMP.match(rel.split("/")[-1]) else carry).append(rel)
    carry += sorted(dest.links)
    ancestors = set()
    for rel in known:
        parts = rel.split("/")
        ancestors.update("/".join(parts[:index]) for index in range(1, len(parts)))
    carry += [rel for rel in sorted(dest.dirs) if rel not in ancestors]
    if dest.others:
        _not_ours(dest, dest.others, "that are neither files, directories nor symlinks (or lie beyond %d entries)"
                  % _export_dest.MAX_ENTRIES)
    return stale, sorted(carry)


def _not_ours(dest, entries, what):
    shown = ", ".join(sorted(entries)[:8]) + (", ..." if len(entries) > 8 else "")
    raise SecurityError(
        "export_path_not_empty",
        "%s is an earlier export but holds %d entries %s: %s. Each export replaces the directory whole and cannot "
        "carry them over, so nothing was written. Move them elsewhere (or remove the directory to export afresh), "
        "or change the 'path' option." % (dest.path, len(entries), what, shown),
        option="path", foreign=sorted(entries)[:50])


def _certificate_of(item):
    """The certificate a manifest entry remembers (None when it cannot be read or does not match)."""
    try:
        cert = _certs.load_certificate(base64.b64decode(item["der"]), option=MANIFEST)
    except (KeyError, TypeError, ValueError, SecurityError):
        return None
    return cert if _certs.fingerprint(cert) == item.get("sha256") else None


def _pkcs12_unchanged(rel, data, previous, request, name, credential, chain):
    """Whether the PKCS#12 data (at rel) is the one wanted: last written by us with this encryption, and
    holding exactly this name, key, certificate and chain when opened with the password."""
    record = (previous.get("files") or {}).get(rel) or {}
    if data is None or not isinstance(record, dict) or record.get("sha256") != _sha256(data) \
            or record.get("encryption") != request.encryption:
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


# ------------------------------------------------------------------------------------ what is handed off

def key_location(state, store_path, cert):
    """Where the private key of a certificate handed off lives: {held_by, path, description}."""
    fp = _certs.fingerprint(cert)
    current = os.path.join(store_path, "current")
    if state.ca is not None and fp == state.ca.fingerprint:
        path = os.path.join(current, "ca", "key.pem")
        return {"held_by": "store", "path": path,
                "description": "%s on the host that holds the store (the store's internal CA: unencrypted PEM, "
                               "mode 0600)" % path}
    for slot, credential in (("identity", state.identity), ("telephony", state.telephony)):
        if credential is not None and fp == credential.fingerprint:
            path = os.path.join(current, slot, "key.pem")
            return {"held_by": "store", "path": path,
                    "description": "%s on the host that holds the store, and %s/key.pem of this export (the %s "
                                   "identity's own key)" % (path, slot, slot)}
    return {"held_by": None, "path": None, "description": NOT_HELD}


def handoff_trust(state, now):
    """(handed off: [cert], withheld: [(cert, reason)], why: {fp: [dependent description]}).

    Every TCS entry is handed off but the store's internal CA, which goes only while something depends on it
    (its key is on the controller: a real system trusting it for nothing would trust that key)."""
    found = _dependents.dependents(state, now)
    ca_fp = state.ca.fingerprint if state.ca is not None else None
    handed, withheld, why = [], [], {}
    for cert in state.trusted_certificates():
        fp = _certs.fingerprint(cert)
        if fp == ca_fp:
            if not found.get(fp):
                withheld.append((cert, "nothing exported depends on it: no identity chains to it and no certificate "
                                       "it issued is in use, so the real system should not trust a CA whose "
                                       "private key sits on the controller"))
                continue
            why[fp] = [d["description"] for d in found[fp]]
        handed.append(cert)
    return handed, withheld, why


def phone_trust(state, names):
    """What J100-series SIP phones need: the roots of the identities they are served, and whether every
    identity they are served names each of the system's names and addresses (RFC 2818 server identity)."""
    served = [("identity", state.identity)]
    if state.settings["checks"]["sip_telephony_certificate"] == "sip_phones" and state.telephony is not None:
        served.append(("telephony", state.telephony))
    roots, problems, mismatches = {}, [], []
    for purpose, credential in served:
        if credential is None:
            continue
        chain = state.chain_for(credential)
        top = chain[-1] if chain else credential.cert
        if _certs.is_self_signed(top):
            roots.setdefault(_certs.fingerprint(top), (top, []))[1].append(purpose)
        else:
            problems.append("the %s %s chains to %s, whose issuer %s is not in the trusted store: no root "
                            "to give the phones; add the root to the trusted store" % (
                                IDENTITY_LABELS[purpose], credential.cert.subject.rfc4514_string(),
                                top.subject.rfc4514_string(), top.issuer.rfc4514_string()))
        for name in names:
            if not _names.matches_peer_name(credential.cert, name):
                mismatches.append((purpose, credential, name))
    return served, roots, problems, mismatches


def phone_settings_text(state, phones, roots, problems, mismatches):
    served = ", ".join("the %s %s" % (IDENTITY_LABELS[p], _clean(c.cert.subject.rfc4514_string()))
                       for p, c in phones["served"])
    lines = ["## 46xxspecials.txt for %s: trust settings for Avaya J100-series SIP phones," % _clean(state.system_name),
             "## written by ipoffice.security.export from the system's store.",
             "## Put this file and the certificate files TRUSTCERTS names on the phones' file server, in the folder",
             "## that holds 46xxsettings.txt (the system's own file server: File Manager, folder system/primary).",
             "## The phones are served: %s." % served]
    if roots:
        lines.append("## TRUSTCERTS: the roots those identities chain to.")
        for item in phones["roots"]:
            lines.append("##   %s = %s (SHA-256 %s)" % (item["file"].split("/")[-1], _clean(item["subject"]),
                                                        item["sha256"]))
        lines.append("SET TRUSTCERTS %s" % ",".join(phones["trustcerts"]))
    for problem in problems:
        lines.append("## Not in TRUSTCERTS: %s." % _clean(problem))
    if not roots:
        lines.append("## SET TRUSTCERTS is left out: there is no root to trust.")
    names = ", ".join(_clean(n) for n in phones["names_checked"])
    if phones["tlssrvrid"]:
        lines += ["## TLSSRVRID 1: every identity the phones are served names each of the system's names and",
                  "## addresses in its subjectAltName (RFC 2818): %s." % names,
                  "SET TLSSRVRID 1"]
    else:
        lines.append("## TLSSRVRID 0: phones checking the server name would refuse the system:")
        for purpose, credential, name in mismatches:
            lines.append("##   the %s %s does not name %s in its subjectAltName (RFC 2818)"
                         % (IDENTITY_LABELS[purpose], _clean(credential.cert.subject.rfc4514_string()), _clean(name)))
        lines += ["## Reissue the identity with those names (or set system_addresses on the export task to the",
                  "## addresses the phones really use), then export again.",
                  "SET TLSSRVRID 0"]
    return "\n".join(lines) + "\n"


def manager_value(name, value):
    """A stored value as Manager shows it."""
    if isinstance(value, bool):
        return "On" if value else "Off"
    if value is None:
        return "empty (80 for HTTP, 443 for HTTPS)" if name == "port" else "empty"
    if value == "":
        return "empty"
    return MANAGER_VALUES.get(value, str(value)) if isinstance(value, str) else str(value)


def settings_lines(state):
    """README.txt's settings to enter by hand: the Manager field, its value, the store's key."""
    lines = ["Settings to enter by hand (IP Office has no API for them), as the store holds them",
             "(manifest.json 'settings', keyed as the store keys them). %s:" % MANAGER_PAGE]
    for area, section, names in MANAGER_SECTIONS:
        lines.append("  %s" % section)
        for name in names:
            value = state.settings[area][name]
            lines.append("    %s: %s   [%s.%s = %s]" % (SETTINGS_BY_AREA[area][name].label,
                                                        _clean(manager_value(name, value)), area, name,
                                                        _clean(json.dumps(value))))
        if area == "scep":
            stored = bool(state.secrets.get("scep_password"))
            lines.append("    %s: %s   [scep.password]" % (SETTINGS_BY_AREA["scep"]["password"].label,
                                                           "set in the store, never exported: enter it from your "
                                                           "vault" if stored else "not set in the store"))
    lines.append("  IP Office lines with WebSocket transport (Manager: Line > IP Office Line), each line's own check:")
    for line in state.settings["checks"]["ip_office_lines"]:
        lines.append("    %s: Transport Type %s, %s: %s   [checks.ip_office_lines[%s]]" % (
            _clean(line["name"]), manager_value("transport", line["transport"]), LINE_FIELDS["check_level"].label,
            manager_value("check_level", line["check_level"]), _clean(line["name"])))
    if not state.settings["checks"]["ip_office_lines"]:
        lines.append("    (none in the store)")
    return lines


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
        self.warnings = []
        self.carry = []      # relative paths of entries of the previous export that are not export's

    @property
    def changed(self):
        return bool(self.write or self.remove)


def _describe_pkcs12(credential, chain, encryption):
    return "PKCS#12 (%s): key + %s%s" % (encryption, credential.fingerprint,
                                         "".join(" + " + _certs.fingerprint(c) for c in chain))


def plan_export(state, request, dest, store_path, now=None):
    """Every file of the export, what changes, and the new manifest; reads only."""
    now = now or _certs.utcnow()
    previous = previous_manifest(dest)
    stale, carry = check_destination(dest, previous)
    plan = Plan(request)
    plan.carry = carry
    records = {}
    manifest = {
        "format": MANIFEST_FORMAT,
        "system_name": state.system_name,
        "platform": state.platform,
        "encryption": request.encryption,
        "identities": {},
        "trusted": [],
        "withheld": [],
        "tcs_add": [],
        "tcs_delete": [],
        "settings": copy.deepcopy(state.settings),
        "phones": {},
        "files": records,
        "routes": ROUTES,
    }

    def add(rel, data, mode, kind, route, describe=None, keep=None):
        """Plan one file; keep: the existing bytes when they are to be kept (PKCS#12)."""
        existing = dest.read(rel)
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
        if not same or dest.mode(rel) != mode:
            plan.write.append(rel)

    for purpose, credential in (("identity", state.identity), ("telephony", state.telephony)):
        if credential is None:
            continue
        chain = state.chain_for(credential)
        name = _certs.common_name(credential.cert) or state.system_name
        described = {}
        for rel, kind_chain, route in (("%s/manager-set.p12" % purpose, [], "manager_set"),
                                       ("%s/web-manager.p12" % purpose, chain, "web_manager")):
            existing = dest.read(rel)
            describe = _describe_pkcs12(credential, kind_chain, request.encryption)
            if _pkcs12_unchanged(rel, existing, previous, request, name, credential, kind_chain):
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

    handed, withheld, why = handoff_trust(state, now)
    current = dict((_certs.fingerprint(c), c) for c in handed)
    for fp in sorted(current):
        cert = current[fp]
        stem = file_stem(cert)
        pem, der = _certs.cert_pem(cert), cert.public_bytes(serialization.Encoding.DER)
        add("trusted/pem/%s.cer" % stem, pem, FILE_MODE, "certificate", "trusted")
        add("trusted/der/%s.cer" % stem, der, FILE_MODE, "certificate", "trusted")
        add("%s/%s.cer" % (TCS_ADD, stem), pem, FILE_MODE, "certificate", "tcs_add")
        entry = _entry(cert, now)
        entry.update({"der": base64.b64encode(der).decode("ascii"), "is_ca": _certs.is_ca(cert),
                      "private_key": key_location(state, store_path, cert),
                      "files": {"pem": "trusted/pem/%s.cer" % stem, "der": "trusted/der/%s.cer" % stem,
                                "tcs_add": "%s/%s.cer" % (TCS_ADD, stem)}})
        if fp in why:
            entry["needed_by"] = why[fp]
        manifest["trusted"].append(entry)
        manifest["tcs_add"].append("%s/%s.cer" % (TCS_ADD, stem))
    for cert, reason in withheld:
        entry = _entry(cert, now)
        entry.update({"reason": reason, "private_key": key_location(state, store_path, cert)})
        manifest["withheld"].append(entry)

    # No longer handed off since an earlier export into this directory: what the last export trusted or was
    # already deleting, that is not handed off now (an internal CA handed off before and withheld now too).
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

    _plan_phones(state, request, manifest, add, plan, now)

    add(README, readme_text(state, manifest).encode("utf-8"), FILE_MODE, "readme", "readme")
    add(MARKER, _export_dest.MARKER_TEXT, FILE_MODE, "marker", "marker")
    del records[MARKER]
    # The manifest goes last and describes every other file (not itself, not the marker).
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    plan.manifest = manifest
    add(MANIFEST, manifest_bytes, FILE_MODE, "manifest", "manifest")
    del records[MANIFEST]

    # Someone else's entry where the export writes a file, or a folder on the way to one: never replaced.
    wanted = set(plan.files)
    for rel in plan.files:
        parts = rel.split("/")
        wanted.update("/".join(parts[:index]) for index in range(1, len(parts)))
    clashing = [rel for rel in carry if rel in wanted and not (rel in dest.dirs and rel not in plan.files)]
    if clashing:
        _not_ours(dest, clashing, "that export did not write, standing where it writes its own files%s" % (
            "" if previous else " (its manifest.json is missing or damaged, so its own files cannot be told from "
            "others)"))
    for rel in sorted(dest.files):
        if rel not in plan.files and rel not in carry:
            plan.remove.append(rel)
            plan.before[rel] = "present (no longer exported)" if rel not in stale else \
                "temporary file of an interrupted earlier export"
    return plan


def _plan_phones(state, request, manifest, add, plan, now):
    names = [state.system_name] + [a for a in request.addresses if a != state.system_name]
    served, roots, problems, mismatches = phone_trust(state, names)
    phones = {"settings_file": PHONE_SETTINGS, "served": [p for p, _c in served], "roots": [], "trustcerts": [],
              "names_checked": names, "tlssrvrid": 0 if mismatches else 1, "problems": problems}
    for fp in sorted(roots):
        cert, purposes = roots[fp]
        rel = "%s/%s" % (PHONES, phone_file(cert))
        add(rel, _certs.cert_pem(cert), FILE_MODE, "certificate", "phones")
        entry = _entry(cert, now)
        entry.update({"file": rel, "for": purposes})
        phones["roots"].append(entry)
        phones["trustcerts"].append(rel.split("/")[-1])
    if mismatches:
        phones["reason"] = "; ".join("the %s %s does not name %s in its subjectAltName" % (
            IDENTITY_LABELS[purpose], credential.cert.subject.rfc4514_string(), name)
            for purpose, credential, name in mismatches)
    else:
        phones["reason"] = "every identity the phones are served names %s in its subjectAltName" % ", ".join(names)
    text = phone_settings_text(state, dict(phones, served=served), roots, problems, mismatches)
    add(PHONE_SETTINGS, text.encode("utf-8"), FILE_MODE, "phone_settings", "phone_settings")
    plan.warnings += ["Phones: %s." % problem for problem in problems]
    manifest["phones"] = phones


def readme_text(state, manifest):
    lines = ["IP Office security handoff files for %s (platform %s)" % (_clean(state.system_name), state.platform),
             "Written by ipoffice.security.export from the system's store, the desired state and system of record.",
             "IP Office has no API for these settings: upload the files below through the documented routes.",
             ""]
    for purpose, entry in sorted(manifest["identities"].items()):
        label = "Identity certificate" if purpose == "identity" else "SIP telephony identity certificate"
        lines += ["%s: %s (SHA-256 %s, expires %s)" % (label, _clean(entry["subject"]), entry["sha256"],
                                                       entry["not_after"]),
                  "  %s -> %s" % (entry["files"]["manager_set"], ROUTES["manager_set"]),
                  "  %s -> %s" % (entry["files"]["web_manager"], ROUTES["web_manager"]),
                  "  %s, %s, %s -> %s" % (entry["files"]["certificate"], entry["files"]["chain"],
                                          entry["files"]["private_key"], ROUTES["pem"]),
                  ""]
    lines += ["Trusted certificate store: %d certificate(s) handed off." % len(manifest["trusted"]),
              "  %s/*.cer -> %s" % (TCS_ADD, ROUTES["tcs_add"]),
              "  %s/*.cer (%d) -> %s" % (TCS_DELETE, len(manifest["tcs_delete"]), ROUTES["tcs_delete"]),
              "  trusted/pem/*.cer, trusted/der/*.cer -> %s" % ROUTES["trusted"]]
    for entry in manifest["trusted"]:
        lines.append("  %s: %s (SHA-256 %s)" % (entry["files"]["tcs_add"].split("/")[-1], _clean(entry["subject"]),
                                                entry["sha256"]))
        if entry["is_ca"] or entry["private_key"]["held_by"]:
            lines.append("    CA private key: %s" % entry["private_key"]["description"] if entry["is_ca"]
                         else "    private key: %s" % entry["private_key"]["description"])
        for need in entry.get("needed_by") or []:
            lines.append("    handed off because the system relies on it: %s" % _clean(need))
    for entry in manifest["withheld"]:
        lines += ["  NOT handed off: %s (SHA-256 %s)" % (_clean(entry["subject"]), entry["sha256"]),
                  "    %s." % entry["reason"],
                  "    CA private key: %s" % entry["private_key"]["description"]]
    phones = manifest["phones"]
    lines += ["",
              "J100-series SIP phones (they trust the system only through TRUSTCERTS in their settings file):",
              "  %s and %s -> %s" % (PHONE_SETTINGS, ", ".join("%s/%s" % (PHONES, f) for f in phones["trustcerts"])
                                     or "(no root files)", ROUTES["phones"]),
              "  SET TRUSTCERTS %s" % (",".join(phones["trustcerts"]) or "(left out: no root to trust)"),
              "  SET TLSSRVRID %d: %s" % (phones["tlssrvrid"], _clean(phones["reason"])),
              ""]
    lines += settings_lines(state)
    lines += ["",
              "Verify what the system then serves with ipoffice.security.security_info live_endpoints.",
              "The PKCS#12 files and key.pem hold private keys: keep this directory private."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- running

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


def check_expiry(state, request, now):
    """Refuse an expired identity (or telephony identity) unless allow_expired; then warn."""
    warnings = []
    for label, credential in (("identity", state.identity), ("SIP telephony identity", state.telephony)):
        if credential is None or credential.cert.not_valid_after_utc >= now:
            continue
        text = "The %s %s (SHA-256 %s) expired on %s" % (
            label, credential.cert.subject.rfc4514_string(), credential.fingerprint,
            credential.cert.not_valid_after_utc.strftime("%Y-%m-%d"))
        if not request.allow_expired:
            raise SecurityError("certificate_expired", "%s: a real system given it would present an identity every "
                                "peer rejects, so nothing was written. Renew it first (ipoffice.security."
                                "identity_certificate or scep), or set 'allow_expired: true' to export it anyway."
                                % text, option="allow_expired")
        warnings.append("%s; exported anyway (allow_expired: true)." % text)
    return warnings


def run(store, params, check_mode=False, want_diff=False, now=None):
    """The export module: read the store (never writing it), write the files."""
    request = export_request(params)
    dest = _export_dest.inspect(request.path)
    state = store.read(initial=False)
    if state is None:
        # Exporting a new system's freshly generated keys would hand a real system something nobody asked
        # for: most likely store_path is wrong.
        raise SecurityError("store_not_initialised", "The store at %s does not exist, so there is nothing to "
                            "export. Check the 'store_path' option, or set the system up first (the baseline role "
                            "or ipoffice.security.security_settings)." % store.path, option="store_path")
    now = now or _certs.utcnow()
    warnings = check_expiry(state, request, now)
    leftovers = list(dest.leftovers) if check_mode else _export_dest.tidy(dest)
    plan = plan_export(state, request, dest, store.path, now)
    warnings += plan.warnings
    if plan.changed and not check_mode:
        warnings += _export_dest.write(dest, dict((rel, (data, mode)) for rel, (data, mode, _kind, _route)
                                                  in plan.files.items() if rel != MARKER), plan.carry)
    manifest = dict((k, v) for k, v in plan.manifest.items() if k not in ("files", "routes"))
    manifest["trusted"] = [dict((k, v) for k, v in item.items() if k != "der") for item in manifest["trusted"]]
    manifest["tcs_delete"] = [dict((k, v) for k, v in item.items() if k != "der") for item in manifest["tcs_delete"]]
    result = {
        "changed": plan.changed,
        "path": request.path,
        "encryption": request.encryption,
        "files": file_list(plan),
        "written": [os.path.join(request.path, rel) for rel in sorted(plan.write)],
        "removed": [os.path.join(request.path, rel) for rel in plan.remove],
        "leftovers": leftovers,
        "manifest": manifest,
    }
    if warnings:
        result["warnings"] = warnings
    if want_diff:
        result["diff"] = diff(plan.before, plan.after, header=request.path)
    return result
