"""Set (source: import): real openssl-made PKCS#12 (modern and -legacy), DER, encrypted PEM keys, and every
bad input with its stable code and a byte-identical store."""

import base64
import datetime
import subprocess

import pytest

import helpers
from test_identity_fixtures import (
    initialised,
    key_der,
    key_pem,
    make_ca,
    make_leaf,
    now,
    openssl_pkcs12,
    pem,
    der,
    run_identity,
    write,
)

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError


@pytest.fixture(scope="module")
def pki():
    """A root CA, an intermediate CA and a server certificate issued by the intermediate."""
    root = make_ca("CN=Example Root CA")
    intermediate_key = _certs.generate_private_key()
    intermediate = _certs.build_certificate("CN=Example Issuing CA", intermediate_key, 1800, ca=True,
                                            issuer_cert=root[0], issuer_key=root[1])
    leaf, key = make_leaf((intermediate, intermediate_key), name="ipo1.example.com", days=397,
                          alt_names=["DNS:ipo1.example.com", "IP:192.0.2.10", "URI:sip:example.com"])
    return {"root": root, "intermediate": (intermediate, intermediate_key), "leaf": leaf, "key": key}


def imported_fingerprints(update):
    return update.after.identity.fingerprint, sorted(_certs.fingerprint(c) for c in update.value.added)


@pytest.mark.parametrize("legacy", [False, True], ids=["modern", "legacy"])
def test_pkcs12_made_by_openssl_imports_with_its_cas(tmp_path, pki, legacy):
    p12 = openssl_pkcs12(tmp_path, pki["leaf"], pki["key"], chain=[pki["intermediate"][0], pki["root"][0]],
                         password="s3cret", legacy=legacy)
    if legacy:
        info = subprocess.run(["openssl", "pkcs12", "-in", p12, "-info", "-noout", "-passin", "pass:s3cret",
                               "-legacy"], capture_output=True, check=False, text=True)
        # openssl -legacy encrypts the certificates with RC2 and the key with 3DES: both ciphers are exercised.
        assert "pbeWithSHA1And40BitRC2-CBC" in info.stderr + info.stdout
        assert "pbeWithSHA1And3-KeyTripleDES-CBC" in info.stderr + info.stdout
    store = initialised(tmp_path / "store")
    params = {"source": "import", "certificate_path": p12, "password": "s3cret"}
    check = run_identity(store, params, check_mode=True)
    assert check.changed and not check.written
    update = run_identity(store, params)
    assert update.changed and update.value.decision.action == "imported"
    leaf_fp, added = imported_fingerprints(update)
    assert leaf_fp == _certs.fingerprint(pki["leaf"])
    assert helpers.store_secret_leaks(store.path, ["s3cret"]) == []
    assert added == sorted([_certs.fingerprint(pki["intermediate"][0]), _certs.fingerprint(pki["root"][0])])
    state = store.read()
    assert [c.subject.rfc4514_string() for c in state.chain_for(state.identity)] == \
        ["CN=Example Issuing CA", "CN=Example Root CA"]
    assert state.identity.meta == {"source": "import"}
    again = run_identity(store, params)
    assert not again.changed and again.value.added == [] and again.value.decision.action == "kept"
    assert not run_identity(store, params, check_mode=True).changed


def test_pkcs12_as_base64_content(tmp_path, pki):
    p12 = openssl_pkcs12(tmp_path, pki["leaf"], pki["key"], password="pw")
    with open(p12, "rb") as handle:
        content = base64.b64encode(handle.read()).decode()
    store = initialised(tmp_path / "store")
    update = run_identity(store, {"source": "import", "certificate_content": content, "password": "pw"})
    assert update.changed and update.after.identity.fingerprint == _certs.fingerprint(pki["leaf"])
    assert update.value.added == []


def test_der_certificate_and_der_key(tmp_path, pki):
    store = initialised(tmp_path / "store")
    params = {"source": "import", "certificate_path": write(tmp_path / "c.der", der(pki["leaf"])),
              "private_key_path": write(tmp_path / "k.der", key_der(pki["key"])),
              "chain_path": write(tmp_path / "chain.der", der(pki["intermediate"][0]))}
    update = run_identity(store, params)
    assert update.after.identity.fingerprint == _certs.fingerprint(pki["leaf"])
    assert [_certs.fingerprint(c) for c in update.value.added] == [_certs.fingerprint(pki["intermediate"][0])]
    assert not run_identity(store, params).changed


@pytest.mark.parametrize("form", ["pkcs8", "traditional"])
def test_encrypted_pem_key_made_by_openssl(tmp_path, pki, form):
    helpers.need_tool("openssl")
    plain = write(tmp_path / "plain.pem", key_pem(pki["key"]))
    encrypted = str(tmp_path / "enc.pem")
    args = ["openssl", "pkey", "-in", plain, "-aes256", "-passout", "pass:k3y", "-out", encrypted] \
        if form == "pkcs8" else \
        ["openssl", "rsa", "-in", plain, "-aes256", "-traditional", "-passout", "pass:k3y", "-out", encrypted]
    subprocess.run(args, check=True, capture_output=True)
    with open(encrypted, "rb") as handle:
        text = handle.read()
    assert (b"ENCRYPTED PRIVATE KEY" in text) if form == "pkcs8" else (b"Proc-Type: 4,ENCRYPTED" in text)
    store = initialised(tmp_path / "store")
    params = {"source": "import", "certificate_content": pem(pki["leaf"]).decode(),
              "private_key_path": encrypted, "private_key_password": "k3y"}
    update = run_identity(store, params)
    assert update.after.identity.fingerprint == _certs.fingerprint(pki["leaf"])
    assert _certs.key_matches(update.after.identity.cert, update.after.identity.key)


def test_pem_bundle_with_key_and_chain_in_one_file(tmp_path, pki):
    bundle = pem(pki["root"][0]) + key_pem(pki["key"]) + pem(pki["leaf"]) + pem(pki["intermediate"][0])
    store = initialised(tmp_path / "store")
    update = run_identity(store, {"source": "import", "certificate_path": write(tmp_path / "all.pem", bundle)})
    assert update.after.identity.fingerprint == _certs.fingerprint(pki["leaf"])  # the leaf is the key's
    assert len(update.value.added) == 2


def test_non_ca_chain_certificates_are_not_trusted(tmp_path, pki):
    other, _other_key = make_leaf(pki["root"], name="other.example.com")
    store = initialised(tmp_path / "store")
    update = run_identity(store, {"source": "import", "certificate_content": pem(pki["leaf"]).decode(),
                                  "private_key_content": key_pem(pki["key"]).decode(),
                                  "chain_content": pem(other).decode()})
    assert update.value.added == []
    assert any("other.example.com" in w and "not added" in w for w in update.value.warnings)


def test_not_yet_valid_certificate_imports_with_a_warning(tmp_path, pki):
    future, key = make_leaf(pki["root"], name="ipo1.example.com", not_before=now() + datetime.timedelta(days=2))
    store = initialised(tmp_path / "store")
    update = run_identity(store, {"source": "import", "certificate_content": pem(future).decode(),
                                  "private_key_content": key_pem(key).decode()})
    assert update.changed and any("not valid before" in w for w in update.value.warnings)


def test_import_regenerate_never_keeps_an_imported_identity(tmp_path, pki):
    store = initialised(tmp_path / "store")
    first = {"source": "import", "certificate_content": pem(pki["leaf"]).decode(),
             "private_key_content": key_pem(pki["key"]).decode()}
    run_identity(store, first)
    other, other_key = make_leaf(pki["root"], name="ipo1.example.com")
    second = {"source": "import", "certificate_content": pem(other).decode(),
              "private_key_content": key_pem(other_key).decode()}
    kept = run_identity(store, dict(second, regenerate="never"))
    assert not kept.changed and kept.value.decision.action == "kept"
    assert any("regenerate is 'never'" in w for w in kept.value.warnings)
    with pytest.raises(SecurityError) as info:
        run_identity(store, dict(second, regenerate="fail"))
    assert info.value.code == "regeneration_refused"
    replaced = run_identity(store, dict(second, regenerate="always"))
    assert replaced.changed and replaced.after.identity.fingerprint == _certs.fingerprint(other)
    assert not run_identity(store, dict(second, regenerate="always")).changed


# ------------------------------------------------------------------------------------------ bad inputs


def _bad_inputs(tmp_path, pki):
    """(id, params, code) for every bad input the issue lists, plus a few more."""
    p12 = openssl_pkcs12(tmp_path, pki["leaf"], pki["key"], chain=[pki["root"][0]], password="right")
    with open(p12, "rb") as handle:
        p12_bytes = handle.read()
    ca_cert, ca_key = pki["intermediate"]
    expired, expired_key = make_leaf(pki["root"], name="ipo1.example.com", days=10,
                                     not_before=now() - datetime.timedelta(days=30))
    other_key = _certs.generate_private_key()
    big = str(tmp_path / "big.p12")
    with open(big, "wb") as handle:
        handle.truncate(20 * 1024 * 1024)
    leaf_pem = pem(pki["leaf"]).decode()
    return [
        ("wrong password", {"certificate_path": p12, "password": "wrong"}, "wrong_password"),
        ("no password", {"certificate_path": p12}, "password_required"),
        ("truncated pkcs12", {"certificate_path": write(tmp_path / "t.p12", p12_bytes[:len(p12_bytes) // 2]),
                              "password": "right"}, "invalid_pkcs12"),
        ("key mismatch", {"certificate_content": leaf_pem, "private_key_content": key_pem(other_key).decode()},
         "key_mismatch"),
        ("ca as identity", {"certificate_content": pem(ca_cert).decode(),
                            "private_key_content": key_pem(ca_key).decode()}, "ca_certificate_as_identity"),
        ("expired", {"certificate_content": pem(expired).decode(),
                     "private_key_content": key_pem(expired_key).decode()}, "certificate_expired"),
        ("garbage", {"certificate_path": write(tmp_path / "g.bin", b"\x01\x02 this is not a certificate")},
         "invalid_certificate"),
        ("garbage der", {"certificate_path": write(tmp_path / "g.der", b"\x30\x82\x01\x00" + b"\xff" * 64)},
         "invalid_certificate"),
        ("empty", {"certificate_path": write(tmp_path / "empty.pem", b"")}, "empty_input"),
        ("20 MB", {"certificate_path": big, "password": "right"}, "input_too_large"),
        ("not a regular file", {"certificate_path": str(tmp_path)}, "unreadable_file"),
        ("missing key", {"certificate_content": leaf_pem}, "missing_private_key"),
        ("encrypted key without password", {"certificate_content": leaf_pem,
                                            "private_key_content": key_pem(pki["key"], "pw").decode()},
         "password_required"),
        ("encrypted key wrong password", {"certificate_content": leaf_pem,
                                          "private_key_content": key_pem(pki["key"], "pw").decode(),
                                          "private_key_password": "nope"}, "wrong_password"),
        ("garbage key", {"certificate_content": leaf_pem, "private_key_content": "-----BEGIN PRIVATE KEY-----\n"
                         "AAAA\n-----END PRIVATE KEY-----\n"}, "invalid_key"),
    ]


def test_every_bad_input_fails_clearly_and_leaves_the_store_byte_identical(tmp_path, pki):
    store = initialised(tmp_path / "store")
    digest = helpers.tree_digest(str(tmp_path / "store"))
    seen = []
    for name, params, code in _bad_inputs(tmp_path, pki):
        for check_mode in (True, False):
            with pytest.raises(SecurityError) as info:
                run_identity(store, dict(params, source="import"), check_mode=check_mode)
            assert info.value.code == code, (name, info.value.code, info.value.message)
            assert info.value.option, name
            assert "'%s'" % info.value.option in info.value.message, (name, info.value.message)
            assert helpers.tree_digest(str(tmp_path / "store")) == digest, name
        seen.append(name)
    assert len(seen) == 15


def test_full_trusted_store_refuses_the_import_before_writing(tmp_path, pki):
    store = initialised(tmp_path / "store")

    def fill(state):
        count = 25 - len(state.trusted)
        fillers = [make_ca("CN=Filler %d" % i, signature="sha256_ecdsa_p256")[0] for i in range(count)]
        state.add_trusted(fillers)
    store.update(fill)
    assert len(store.read().trusted) == 25
    digest = helpers.tree_digest(str(tmp_path / "store"))
    p12 = openssl_pkcs12(tmp_path, pki["leaf"], pki["key"], chain=[pki["intermediate"][0], pki["root"][0]],
                         password="pw")
    with pytest.raises(SecurityError) as info:
        run_identity(store, {"source": "import", "certificate_path": p12, "password": "pw"})
    assert info.value.code == "trusted_store_full" and "25" in info.value.message
    assert helpers.tree_digest(str(tmp_path / "store")) == digest
    # the identity itself was not replaced either
    assert store.read().identity.meta["source"] == "initial"


def test_import_refused_while_automatic_management_is_on(tmp_path, pki):
    store = initialised(tmp_path / "store")
    run_identity(store, {"automatic_certificate_management": True})
    digest = helpers.tree_digest(str(tmp_path / "store"))
    with pytest.raises(SecurityError) as info:
        run_identity(store, {"source": "import", "certificate_content": pem(pki["leaf"]).decode(),
                             "private_key_content": key_pem(pki["key"]).decode()})
    assert info.value.code == "automatic_management_on" and "set manually" in info.value.message
    assert helpers.tree_digest(str(tmp_path / "store")) == digest


def _leaf(pki, **extra):
    return dict({"source": "import", "certificate_content": pem(pki["leaf"]).decode(),
                 "private_key_content": key_pem(pki["key"]).decode()}, **extra)


def _chain_warnings(update):
    return [w for w in update.value.warnings if "cannot build its chain" in w or "can build its chain only" in w]


def test_import_without_its_issuer_warns_that_peers_cannot_build_the_chain(tmp_path, pki):
    store = initialised(tmp_path / "store")
    params = _leaf(pki)
    check = run_identity(store, params, check_mode=True)
    warnings = _chain_warnings(check)
    assert len(warnings) == 1
    assert "'CN=ipo1.example.com' is issued by 'CN=Example Issuing CA'" in warnings[0]
    assert "medium and above cannot build its chain" in warnings[0] and "'chain_path'" in warnings[0]
    assert _chain_warnings(run_identity(store, params)) == warnings


def test_import_with_a_partial_chain_names_the_missing_issuer(tmp_path, pki):
    store = initialised(tmp_path / "store")
    params = _leaf(pki, chain_content=pem(pki["intermediate"][0]).decode())
    warnings = _chain_warnings(run_identity(store, params))
    assert len(warnings) == 1
    assert "ends at 'CN=Example Issuing CA', whose issuer 'CN=Example Root CA'" in warnings[0]


def test_import_whose_chain_is_given_or_trusted_does_not_warn(tmp_path, pki):
    given = initialised(tmp_path / "given")
    params = _leaf(pki, chain_content=(pem(pki["intermediate"][0]) + pem(pki["root"][0])).decode())
    assert _chain_warnings(run_identity(given, params)) == []
    trusted = initialised(tmp_path / "trusted")
    trusted.update(lambda state: state.add_trusted([pki["intermediate"][0], pki["root"][0]]))
    params = _leaf(pki)
    assert _chain_warnings(run_identity(trusted, params)) == []
