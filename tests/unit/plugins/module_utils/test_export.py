"""The export core: handoff files read by real `openssl pkcs12`, idempotent, secret-free, refusing bad input."""

import json
import os
import stat
import subprocess

import pytest

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _export, _trusted
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

PASSWORD = "S3cret-handoff-pw"
NAME = "ipo1.example.com"


def _store(tmp_path):
    return DirectoryStore(path=str(tmp_path / "store"), system_name=NAME, system_addresses=["192.0.2.10"])


def _params(tmp_path, **extra):
    params = {"path": str(tmp_path / "out"), "password": PASSWORD, "encryption": "modern"}
    params.update(extra)
    return params


def _pkcs12_info(path, legacy=False):
    args = ["openssl", "pkcs12", "-info", "-in", path, "-passin", "pass:" + PASSWORD, "-nokeys"]
    if legacy:
        args.append("-legacy")
    out = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    return out


def _trust(store, tmp_path, *names):
    certs = []
    for name in names:
        key = _certs.generate_private_key()
        certs.append(_certs.build_certificate("CN=%s" % name, key, 3650, ca=True))
    items = [{"content": _certs.cert_pem(c).decode()} for c in certs]
    _trusted.converge(store, items)
    return certs


@pytest.mark.parametrize("encryption", ["modern", "compatible"])
def test_export_files_read_by_openssl_and_idempotent(tmp_path, encryption):
    helpers.need_tool("openssl")
    store = _store(tmp_path)
    extra = _trust(store, tmp_path, "Partner Root")[0]
    first = _export.run(store, _params(tmp_path, encryption=encryption))
    assert first["changed"] is True
    out = str(tmp_path / "out")
    state = store.read()
    manager = os.path.join(out, "identity", "manager-set.p12")
    web = os.path.join(out, "identity", "web-manager.p12")
    for path in (manager, web):
        modern = _pkcs12_info(path)
        legacy = _pkcs12_info(path, legacy=True)
        assert legacy.returncode == 0, legacy.stderr  # -legacy reads both choices
        assert modern.returncode == 0, modern.stderr  # 3DES and AES are both in OpenSSL 3's default provider
        text = modern.stderr + modern.stdout
        if encryption == "modern":
            assert "AES-256-CBC" in text and "sha256" in text.lower()
        else:
            assert "pbeWithSHA1And3-KeyTripleDES-CBC" in text and "MAC: sha1" in text
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # Manager's Set takes key + identity only: exactly one certificate.
    assert _pkcs12_info(manager).stdout.count("BEGIN CERTIFICATE") == 1
    # Web Manager's with the chain: identity + internal root CA.
    assert _pkcs12_info(web).stdout.count("BEGIN CERTIFICATE") == 2
    loaded = _certs.load_bundle(open(web, "rb").read(), password=PASSWORD)
    assert _certs.fingerprint(loaded.key_certificate) == state.identity.fingerprint
    assert _certs.key_matches(state.identity.cert, loaded.key)
    assert stat.S_IMODE(os.stat(os.path.join(out, "identity", "key.pem")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(out, "identity", "cert.pem")).st_mode) == 0o644

    # Every trusted entry, PEM and DER, named by subject and fingerprint, and in tcs/add.
    stem = "Partner_Root_%s" % _certs.fingerprint(extra).replace(":", "").lower()[:16]
    assert _certs.fingerprint(_certs.load_certificate(open(os.path.join(out, "trusted", "der", stem + ".cer"), "rb")
                                                      .read())) == _certs.fingerprint(extra)
    assert open(os.path.join(out, "trusted", "pem", stem + ".cer"), "rb").read() == _certs.cert_pem(extra)
    add_dir = os.path.join(out, _export.TCS_ADD)
    assert sorted(os.listdir(add_dir)) == sorted(_export.file_stem(c) + ".cer" for c in state.trusted_certificates())
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    assert manifest["identities"]["identity"]["sha256"] == state.identity.fingerprint
    assert manifest["files"]["identity/manager-set.p12"]["route"] == "manager_set"
    assert manifest["encryption"] == encryption
    assert NAME in open(os.path.join(out, "README.txt")).read()

    before = helpers.tree_digest(out)
    again = _export.run(store, _params(tmp_path, encryption=encryption))
    assert again["changed"] is False and again["written"] == [] and again["removed"] == []
    assert helpers.tree_digest(out) == before
    check = _export.run(store, _params(tmp_path, encryption=encryption), check_mode=True, want_diff=True)
    assert check["changed"] is False and check["diff"]["before"] == check["diff"]["after"]


def test_password_and_keys_never_in_results(tmp_path):
    store = _store(tmp_path)
    store.update(lambda state: None)
    result = _export.run(store, _params(tmp_path), want_diff=True)
    text = json.dumps(result)
    assert PASSWORD not in text
    assert "PRIVATE KEY" not in text
    key_pem = _certs.key_pem(store.read().identity.key).decode()
    assert key_pem.splitlines()[1] not in text
    for item in result["files"]:
        if item["mode"] == "0600":
            assert "sha256" not in item  # not even a hash of a key-bearing file
    assert PASSWORD.encode() not in open(os.path.join(str(tmp_path / "out"), "manifest.json"), "rb").read()


def test_changes_rewrite_only_what_changed_and_fill_tcs_delete(tmp_path):
    helpers.need_tool("openssl")
    store = _store(tmp_path)
    one, two = _trust(store, tmp_path, "Partner A", "Partner B")
    out = str(tmp_path / "out")
    _export.run(store, _params(tmp_path))
    manager = os.path.join(out, "identity", "manager-set.p12")
    p12_before = open(manager, "rb").read()

    # Remove one entry from the store: check mode predicts it exactly, then tcs/delete gets it.
    _trusted.converge(store, [{"content": _certs.cert_pem(two).decode()}], desired="absent")
    digest = helpers.tree_digest(out)
    predicted = _export.run(store, _params(tmp_path), check_mode=True, want_diff=True)
    assert predicted["changed"] is True and helpers.tree_digest(out) == digest
    result = _export.run(store, _params(tmp_path))
    assert sorted(result["written"]) == sorted(predicted["written"])
    assert sorted(result["removed"]) == sorted(predicted["removed"])
    stem_two = _export.file_stem(two)
    delete = os.path.join(out, _export.TCS_DELETE, stem_two + ".cer")
    assert open(delete, "rb").read() == _certs.cert_pem(two)
    assert not os.path.exists(os.path.join(out, _export.TCS_ADD, stem_two + ".cer"))
    assert not os.path.exists(os.path.join(out, "trusted", "pem", stem_two + ".cer"))
    assert os.path.exists(os.path.join(out, _export.TCS_ADD, _export.file_stem(one) + ".cer"))
    assert open(manager, "rb").read() == p12_before  # the identity did not change: the PKCS#12 is kept
    # The delete file stays on later runs (idempotent) until the entry is trusted again.
    assert _export.run(store, _params(tmp_path))["changed"] is False
    assert os.path.exists(delete)
    _trusted.converge(store, [{"content": _certs.cert_pem(two).decode()}])
    _export.run(store, _params(tmp_path))
    assert not os.path.exists(delete)
    assert os.path.exists(os.path.join(out, _export.TCS_ADD, stem_two + ".cer"))

    # Another password or encryption rewrites the PKCS#12 files (the old password no longer opens them).
    changed = _export.run(store, dict(_params(tmp_path), password="another-pw"))
    assert manager in changed["written"]
    changed = _export.run(store, dict(_params(tmp_path), password="another-pw", encryption="compatible"))
    assert manager in changed["written"]
    assert _export.run(store, dict(_params(tmp_path), password="another-pw",
                                   encryption="compatible"))["changed"] is False
    # A mode loosened by hand is put back.
    os.chmod(manager, 0o644)
    fixed = _export.run(store, dict(_params(tmp_path), password="another-pw", encryption="compatible"))
    assert fixed["changed"] is True and stat.S_IMODE(os.stat(manager).st_mode) == 0o600


def _error(store, params):
    with pytest.raises(SecurityError) as info:
        _export.run(store, params)
    return info.value


def test_bad_input_has_codes_and_writes_nothing(tmp_path):
    store = _store(tmp_path)
    absent = _error(store, _params(tmp_path))
    assert absent.code == "store_not_initialised" and absent.option == "store_path"
    assert not os.path.exists(store.path) and not os.path.exists(str(tmp_path / "out"))
    store.update(lambda state: None)
    digest = helpers.tree_digest(store.path)
    missing = _error(store, _params(tmp_path, password=None))
    assert missing.code == "password_required" and missing.option == "password"
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    not_dir = _error(store, _params(tmp_path, path=str(a_file)))
    assert not_dir.code == "export_path_not_directory" and "not a directory" in not_dir.message
    no_parent = _error(store, _params(tmp_path, path=str(tmp_path / "nowhere" / "out")))
    assert no_parent.code == "export_path_parent_missing"
    bad_choice = _error(store, _params(tmp_path, encryption="rc2"))
    assert bad_choice.code == "invalid_choice" and bad_choice.option == "encryption"
    # A directory that is not an earlier export (here: only a symlink where a folder of the export goes):
    # refused before anything is written, the symlink never followed.
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(str(tmp_path / "elsewhere"), str(out / "identity"))
    link = _error(store, _params(tmp_path))
    assert link.code == "export_path_not_empty" and "identity" in link.message
    assert sorted(os.listdir(str(out))) == ["identity"] and os.listdir(str(tmp_path / "elsewhere")) == []
    assert helpers.tree_digest(store.path) == digest


def test_telephony_identity_is_exported_and_removed_with_it(tmp_path):
    from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential

    store = _store(tmp_path)

    def add_telephony(state):
        key = _certs.generate_private_key()
        cert = _certs.build_certificate("sip." + NAME, key, 700, issuer_cert=state.ca.cert, issuer_key=state.ca.key)
        state.telephony = Credential(cert, key, {"source": "ca"})

    store.update(add_telephony)
    out = str(tmp_path / "out")
    result = _export.run(store, _params(tmp_path))
    telephony = store.read().telephony
    manager = os.path.join(out, "telephony", "manager-set.p12")
    loaded = _certs.load_bundle(open(manager, "rb").read(), password=PASSWORD)
    assert _certs.fingerprint(loaded.key_certificate) == telephony.fingerprint
    assert _certs.key_matches(telephony.cert, loaded.key) and len(loaded.certificates) == 1
    assert result["manifest"]["identities"]["telephony"]["sha256"] == telephony.fingerprint

    def drop_telephony(state):
        state.telephony = None

    store.update(drop_telephony)
    result = _export.run(store, _params(tmp_path))
    assert manager in result["removed"] and not os.path.exists(manager)
    assert not os.path.exists(os.path.join(out, "telephony", "key.pem"))
    assert "telephony" not in result["manifest"]["identities"]
    assert os.path.exists(os.path.join(out, "identity", "manager-set.p12"))
