"""export as a user runs it (real ansible-playbook): an identity imported from an outside CA hands off no
internal CA; a certificate issued by the system CA brings it back, with its key's location in the README;
the settings entered by hand are the store's; the phones' TRUSTCERTS names root files of the export;
refused destinations fail with their codes and write nothing anywhere."""

import json
import os
import subprocess

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _export
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

from cryptography.hazmat.primitives import serialization

PASSWORD = "Handoff-Pw-5521"
NAME = "ipo1.example.com"
ADDRESS = "192.0.2.10"


def _write(path, data):
    with open(str(path), "wb") as handle:
        handle.write(data)
    return str(path)


def _read(path):
    with open(str(path), "rb") as handle:
        return handle.read()


def _tcs_add(out):
    folder = os.path.join(out, _export.TCS_ADD)
    return sorted(_certs.fingerprint(_certs.load_certificate(_read(os.path.join(folder, name))))
                  for name in os.listdir(folder))


def test_outside_identity_then_issued_certificate_then_phones_and_settings(tmp_path):
    helpers.need_tool("openssl")
    store = str(tmp_path / "store")
    out = str(tmp_path / "handoff")
    DirectoryStore(path=store, system_name=NAME, system_addresses=[ADDRESS]).update(lambda state: None)
    root_key = _certs.generate_private_key()
    root = _certs.build_certificate("CN=Corp Root CA", root_key, 3650, ca=True)
    leaf_key = _certs.generate_private_key()
    leaf = _certs.build_certificate(NAME, leaf_key, 397, subject_alt_names=["DNS:" + NAME, "IP:" + ADDRESS],
                                    issuer_cert=root, issuer_key=root_key)
    files = {"certificate_path": _write(tmp_path / "leaf.pem", _certs.cert_pem(leaf)),
             "private_key_path": _write(tmp_path / "leaf.key", leaf_key.private_bytes(
                 serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
             "chain_path": _write(tmp_path / "root.pem", _certs.cert_pem(root))}
    base = {"store_path": store}
    export = dict(base, path=out, password=PASSWORD, system_addresses=[ADDRESS])
    run = helpers.run_tasks([
        {"ipoffice.security.identity_certificate": dict(base, source="import", **files)},
        {"ipoffice.security.certificate_checks": dict(base, management_interfaces="medium", sip_security_level="medium",
                                                      certificate_expiry_warning_days=90)},
        {"ipoffice.security.export": export, "check_mode": True},
        {"ipoffice.security.export": export},
        {"ipoffice.security.export": export},
        {"ipoffice.security.security_info": base},
    ], tmp_path, diff=True)
    imported, checks, predicted, first, again, info = run.results
    assert not imported.get("failed") and not checks.get("failed"), (imported, checks)
    assert predicted["changed"] is True and sorted(predicted["written"]) == sorted(first["written"])
    assert again["changed"] is False and again["written"] == []
    state = DirectoryStore(path=store).read()
    ca_fp = state.ca.fingerprint
    assert ca_fp in state.trusted  # the store trusts its internal CA ...
    assert _tcs_add(out) == [_certs.fingerprint(root)]  # ... the handoff leaves it out
    manifest = json.loads(_read(os.path.join(out, "manifest.json")))
    assert [e["sha256"] for e in manifest["withheld"]] == [ca_fp]
    readme = _read(os.path.join(out, "README.txt")).decode()
    assert "NOT handed off: CN=IP Office Root CA" in readme
    # The settings to enter by hand are the store's, keyed as the store keys them.
    settings = dict((area, dict(values)) for area, values in info["settings"].items())
    settings["scep"].pop("password_set")
    assert manifest["settings"] == settings
    assert manifest["settings"]["checks"]["management_interfaces"] == "medium"
    assert "Received certificate checks (Management interfaces): Medium" in readme
    assert "Certificate Expiry Warning Days: 90" in readme
    # Phones: TRUSTCERTS names the outside root, a file of the export that verifies the identity.
    specials = _read(os.path.join(out, "phones", "46xxspecials.txt")).decode().splitlines()
    trustcerts = [line for line in specials if line.startswith("SET TRUSTCERTS ")]
    assert trustcerts == ["SET TRUSTCERTS " + _export.phone_file(root)]
    assert "SET TLSSRVRID 1" in specials
    phone_root = os.path.join(out, "phones", _export.phone_file(root))
    verified = subprocess.run(["openssl", "verify", "-CAfile", phone_root, os.path.join(out, "identity", "cert.pem")],
                              capture_output=True, text=True, check=False, timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # A certificate the system CA issues is in use: the internal CA is handed off again, with its key's place.
    run = helpers.run_tasks([
        {"ipoffice.security.issued_certificate": dict(base, subject_name="sbc.example.com", format="pem",
                                                      path=str(tmp_path / "sbc.crt"),
                                                      private_key_path=str(tmp_path / "sbc.key"))},
        {"ipoffice.security.export": export},
    ], tmp_path)
    issued, exported = run.results
    assert issued["changed"] is True and exported["changed"] is True
    assert ca_fp in _tcs_add(out)
    readme = _read(os.path.join(out, "README.txt")).decode()
    key_path = os.path.join(store, "current", "ca", "key.pem")
    assert "CA private key: %s on the host that holds the store" % key_path in readme
    assert "CN=sbc.example.com" in readme and "NOT handed off" not in readme
    assert PASSWORD not in run.stdout + run.stderr


def test_refused_destinations_through_ansible_write_nothing(tmp_path):
    store = str(tmp_path / "store")
    DirectoryStore(path=store, system_name=NAME, system_addresses=[ADDRESS]).update(lambda state: None)
    target = tmp_path / "etc-like"
    target.mkdir()
    (target / "shadow").write_text("root:*:1::::::\n")
    os.symlink(str(target), str(tmp_path / "link"))
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    (tmp_path / "a-file").write_text("x")
    paths = [(str(tmp_path / "link"), "export_path_symlink"), ("/proc/self", "export_path_symlink"),
             (str(tmp_path / "a-file"), "export_path_not_directory"), (str(foreign), "export_path_not_empty"),
             (str(tmp_path / "out") + "\x00evil", "invalid_characters")]
    work = tmp_path / "work"
    work.mkdir()
    digest = helpers.tree_digest(str(tmp_path))
    run = helpers.run_tasks([{"ipoffice.security.export": {"store_path": store, "path": path, "password": PASSWORD,
                                                           "allow_expired": True}} for path, _code in paths], work)
    for (path, code), result in zip(paths, run.results):
        assert result.get("failed") and result["error"] == code, (path, result)
        assert result["option"] == "path" and "module_stderr" not in result, result
    # Only the playbook's own files appeared (in work/): nothing through the symlink, nothing anywhere else.
    for name in os.listdir(str(work)):
        os.unlink(os.path.join(str(work), name))
    assert helpers.tree_digest(str(tmp_path)) == digest
    assert os.listdir(str(target)) == ["shadow"] and os.listdir(str(foreign)) == ["notes.txt"]
