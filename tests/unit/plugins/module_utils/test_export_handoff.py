"""What export hands off: the internal CA only when something depends on it (and where every CA's key
lives), the settings to enter by hand keyed as the store keys them, and the J100 phones' trust files
(TRUSTCERTS naming root files that are in the export, checked with the real `openssl verify`; TLSSRVRID from
the name check)."""

import datetime
import json
import os
import subprocess

import pytest

import helpers
from test_identity_fixtures import make_ca, make_leaf

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _dependents, _export
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, DirectoryStore

PASSWORD = "S3cret-handoff-pw"
NAME = "ipo1.example.com"
ADDRESS = "192.0.2.10"


def _store(tmp_path):
    store = DirectoryStore(path=str(tmp_path / "store"), system_name=NAME, system_addresses=[ADDRESS])
    store.update(lambda state: None)
    return store


def _params(tmp_path, **extra):
    params = {"path": str(tmp_path / "out"), "password": PASSWORD, "system_addresses": [ADDRESS]}
    params.update(extra)
    return params


def _outside_identity(store, alt_names=("DNS:" + NAME, "IP:" + ADDRESS), purpose="identity", root_name="Corp Root"):
    """The identity (or telephony identity) issued by an outside CA, its root trusted: what an import leaves."""
    root = make_ca("CN=%s" % root_name)
    leaf, key = make_leaf(root, name=NAME, alt_names=list(alt_names))

    def mutate(state):
        setattr(state, purpose, Credential(leaf, key, {"source": "import"}))
        state.add_trusted([root[0]])

    store.update(mutate)
    return root, leaf


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def _manifest(tmp_path):
    return json.loads(_read(str(tmp_path / "out" / "manifest.json")))


def _readme(tmp_path):
    return _read(str(tmp_path / "out" / "README.txt")).decode()


def _tcs_add(tmp_path):
    folder = str(tmp_path / "out" / _export.TCS_ADD)
    return sorted(_certs.fingerprint(_certs.load_certificate(_read(os.path.join(folder, name))))
                  for name in os.listdir(folder))


def _openssl_verify(*args):
    helpers.need_tool("openssl")
    return subprocess.run(["openssl", "verify"] + list(args), capture_output=True, text=True, check=False, timeout=60)


# --------------------------------------------------------------------------------------- the internal CA

def test_outside_ca_identity_withholds_the_internal_ca_and_deletes_it_where_it_was_handed_off(tmp_path):
    store = _store(tmp_path)
    ca = store.read().ca
    ca_fp = ca.fingerprint
    first = _export.run(store, _params(tmp_path))  # identity signed by the internal CA: it is handed off
    assert ca_fp in _tcs_add(tmp_path) and first["manifest"]["withheld"] == []

    root, _leaf = _outside_identity(store)
    state = store.read()
    assert ca_fp in state.trusted  # the store still trusts it: only the handoff leaves it out
    result = _export.run(store, _params(tmp_path))
    assert _tcs_add(tmp_path) == [_certs.fingerprint(root[0])]
    trusted_files = os.listdir(str(tmp_path / "out" / "trusted" / "pem"))
    assert trusted_files == [_export.file_stem(root[0]) + ".cer"]
    manifest = _manifest(tmp_path)
    assert [e["sha256"] for e in manifest["withheld"]] == [ca_fp]
    key_path = os.path.join(store.path, "current", "ca", "key.pem")
    assert manifest["withheld"][0]["private_key"]["path"] == key_path
    assert [e["sha256"] for e in manifest["trusted"]] == [_certs.fingerprint(root[0])]
    assert manifest["trusted"][0]["private_key"] == {"held_by": None, "path": None,
                                                     "description": "not held by this collection"}
    # Handed off before, withheld now: the real system is told to delete it.
    delete = str(tmp_path / "out" / _export.TCS_DELETE / (_export.file_stem(ca.cert) + ".cer"))
    assert _read(delete) == _certs.cert_pem(ca.cert)
    assert [e["sha256"] for e in manifest["tcs_delete"]] == [ca_fp]
    readme = _readme(tmp_path)
    assert "NOT handed off: CN=IP Office Root CA %s" % NAME in readme
    assert "CA private key: not held by this collection" in readme
    assert result["manifest"]["withheld"][0]["sha256"] == ca_fp
    # The Web Manager PKCS#12 carries the outside chain only.
    web = _certs.load_bundle(_read(str(tmp_path / "out" / "identity" / "web-manager.p12")), password=PASSWORD)
    assert ca_fp not in [_certs.fingerprint(c) for c in web.certificates]
    assert _export.run(store, _params(tmp_path))["changed"] is False


def test_ca_issued_identity_hands_off_the_internal_ca_and_says_where_its_key_lives(tmp_path):
    store = _store(tmp_path)
    state = store.read()
    _export.run(store, _params(tmp_path))
    assert _tcs_add(tmp_path) == [state.ca.fingerprint]
    entry = _manifest(tmp_path)["trusted"][0]
    key_path = os.path.join(store.path, "current", "ca", "key.pem")
    assert entry["private_key"]["held_by"] == "store" and entry["private_key"]["path"] == key_path
    # The path is true: the key there is the CA's.
    assert _certs.key_matches(state.ca.cert, _certs.load_private_key(_read(key_path)))
    assert [d for d in entry["needed_by"] if "the system identity CN=%s" % NAME in d]
    readme = _readme(tmp_path)
    assert "CA private key: %s on the host that holds the store" % key_path in readme
    assert "NOT handed off" not in readme


def test_certificates_issued_by_the_internal_ca_keep_it_handed_off(tmp_path):
    store = _store(tmp_path)
    _outside_identity(store)
    state = store.read()
    other, _key = make_leaf((state.ca.cert, state.ca.key), name="sbc.example.com")
    store.update(lambda s: _dependents.record_issued(s, other, [s.ca.cert], "/srv/sbc.crt"))
    _export.run(store, _params(tmp_path))
    assert state.ca.fingerprint in _tcs_add(tmp_path)
    entry = [e for e in _manifest(tmp_path)["trusted"] if e["sha256"] == state.ca.fingerprint][0]
    assert any("CN=sbc.example.com" in d and "issued by the system CA" in d for d in entry["needed_by"])
    assert "handed off because the system relies on it: the certificate CN=sbc.example.com" in _readme(tmp_path)


# ---------------------------------------------------------------------------------------------- settings

def test_manifest_settings_equal_the_store_and_readme_names_the_manager_fields(tmp_path):
    store = _store(tmp_path)

    def configure(state):
        state.settings["checks"].update({"management_interfaces": "medium_remote", "telephony_endpoints": "high",
                                         "h323_security_level": "medium", "sip_security_level": "low",
                                         "certificate_expiry_warning_days": 45,
                                         "sip_telephony_certificate": "sip_and_sm_trunks",
                                         "ip_office_lines": [{"name": "HQ", "transport": "websocket_client",
                                                              "check_level": "medium"}]})
        state.settings["identity"]["offer_id_certificate_chain"] = False
        state.settings["scep"].update({"active": True, "server": "scep.example.com", "scheme": "https", "port": 8443,
                                       "request_interval": 300})
        state.secrets["scep_password"] = b"Scep-Secret-991"

    store.update(configure)
    result = _export.run(store, _params(tmp_path))
    state = store.read()
    assert _manifest(tmp_path)["settings"] == state.settings
    assert result["manifest"]["settings"] == state.settings
    readme = _readme(tmp_path)
    for line in ('Received certificate checks (Management interfaces): Medium + Remote Checks   '
                 '[checks.management_interfaces = "medium_remote"]',
                 'Received certificate checks (Telephony endpoints): High   [checks.telephony_endpoints = "high"]',
                 'H.323 Security Level: Medium   [checks.h323_security_level = "medium"]',
                 'SIP Security Level: Low   [checks.sip_security_level = "low"]',
                 'Certificate Expiry Warning Days: 45   [checks.certificate_expiry_warning_days = 45]',
                 'Use different certificate for SIP telephony: SIP & SM Trunks   '
                 '[checks.sip_telephony_certificate = "sip_and_sm_trunks"]',
                 'Offer ID Certificate Chain: Off   [identity.offer_id_certificate_chain = false]',
                 'SCEP Server IP Address/Name: scep.example.com   [scep.server = "scep.example.com"]',
                 'SCEP Server Port: 8443   [scep.port = 8443]',
                 'Request Interval (sec): 300   [scep.request_interval = 300]',
                 'HQ: Transport Type WebSocket Client, Received certificate checks (IP Office line): Medium   '
                 '[checks.ip_office_lines[HQ]]',
                 'SCEP Password: set in the store, never exported'):
        assert line in readme, line
    for root, _dirs, files in os.walk(str(tmp_path / "out")):
        for name in files:
            assert b"Scep-Secret-991" not in _read(os.path.join(root, name)), name
    assert "Scep-Secret-991" not in json.dumps(result)


# ------------------------------------------------------------------------------------------------ phones

def _phone_lines(tmp_path):
    text = _read(str(tmp_path / "out" / _export.PHONE_SETTINGS)).decode()
    return text, [line for line in text.splitlines() if line.startswith("SET ")]


def _trustcerts(lines):
    values = [line.split(" ", 2)[2] for line in lines if line.startswith("SET TRUSTCERTS ")]
    assert len(values) == 1, lines
    return values[0].split(",")


def test_trustcerts_names_the_roots_in_the_export_and_openssl_verifies_the_identity_with_them(tmp_path):
    store = _store(tmp_path)
    state = store.read()
    result = _export.run(store, _params(tmp_path))
    text, lines = _phone_lines(tmp_path)
    files = _trustcerts(lines)
    phones = str(tmp_path / "out" / "phones")
    assert sorted(os.listdir(phones)) == sorted(files + ["46xxspecials.txt"])
    assert [os.path.join(phones, f) for f in files] == [os.path.join(str(tmp_path / "out"), r["file"])
                                                        for r in result["manifest"]["phones"]["roots"]]
    for name in files:
        root = os.path.join(phones, name)
        # Each file is a root (self-signed, verifies against itself) ...
        assert _openssl_verify("-CAfile", root, root).returncode == 0
    # ... and together they are what the identity chains to.
    bundle = str(tmp_path / "phone-roots.pem")
    with open(bundle, "wb") as handle:
        handle.write(b"".join(_read(os.path.join(phones, f)) for f in files))
    out = str(tmp_path / "out")
    verified = _openssl_verify("-CAfile", bundle, "-untrusted", os.path.join(out, "identity", "chain.pem"),
                               os.path.join(out, "identity", "cert.pem"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert files == [_export.phone_file(state.ca.cert)]
    # The identity names the system name and its address: the phones may check the server name.
    assert "SET TLSSRVRID 1" in lines and "SET TLSSRVRID 0" not in lines
    assert result["manifest"]["phones"]["tlssrvrid"] == 1
    assert result["manifest"]["phones"]["names_checked"] == [NAME, ADDRESS]
    assert "folder system/primary" in text


def test_tlssrvrid_0_with_the_reason_when_an_address_is_not_in_the_san(tmp_path):
    store = _store(tmp_path)
    _export.run(store, _params(tmp_path, system_addresses=[ADDRESS, "198.51.100.7"]))
    text, lines = _phone_lines(tmp_path)
    assert "SET TLSSRVRID 0" in lines and "SET TLSSRVRID 1" not in lines
    assert "the system identity CN=%s does not name 198.51.100.7 in its subjectAltName (RFC 2818)" % NAME in text
    manifest = _manifest(tmp_path)
    assert manifest["phones"]["tlssrvrid"] == 0 and "198.51.100.7" in manifest["phones"]["reason"]
    # A name only in the common name does not count (RFC 2818 with a SAN present, RFC 9525).
    _outside_identity(store, alt_names=("IP:" + ADDRESS,))
    _export.run(store, _params(tmp_path))
    text, lines = _phone_lines(tmp_path)
    assert "SET TLSSRVRID 0" in lines and "does not name %s in its subjectAltName" % NAME in text


def test_phones_get_the_telephony_root_only_when_they_are_served_the_telephony_identity(tmp_path):
    store = _store(tmp_path)
    system_root, _leaf = _outside_identity(store)
    sip_root, _sip_leaf = _outside_identity(store, purpose="telephony", root_name="SIP Root")

    def sip_phones(state):
        state.settings["checks"]["sip_telephony_certificate"] = "sip_phones"

    _export.run(store, _params(tmp_path))
    _text, lines = _phone_lines(tmp_path)
    assert _trustcerts(lines) == [_export.phone_file(system_root[0])]  # trunks only: phones see the identity
    store.update(sip_phones)
    result = _export.run(store, _params(tmp_path))
    _text, lines = _phone_lines(tmp_path)
    files = _trustcerts(lines)
    assert sorted(files) == sorted([_export.phone_file(system_root[0]), _export.phone_file(sip_root[0])])
    assert sorted(os.listdir(str(tmp_path / "out" / "phones"))) == sorted(files + ["46xxspecials.txt"])
    assert result["manifest"]["phones"]["served"] == ["identity", "telephony"]
    out = str(tmp_path / "out")
    verified = _openssl_verify("-CAfile", os.path.join(out, "phones", _export.phone_file(sip_root[0])),
                               os.path.join(out, "telephony", "cert.pem"))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_certificate_subject_cannot_add_lines_to_the_phone_settings(tmp_path):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    store = _store(tmp_path)
    key = _certs.generate_private_key()
    hostile = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u"Evil\nSET TLSSRVRID 0\nSET TRUSTCERTS x.pem")])
    root = _certs.build_certificate(hostile, key, 3650, ca=True)
    leaf, leaf_key = make_leaf((root, key), name=NAME, alt_names=["DNS:" + NAME, "IP:" + ADDRESS])

    def mutate(state):
        state.identity = Credential(leaf, leaf_key, {"source": "import"})
        state.add_trusted([root])

    store.update(mutate)
    _export.run(store, _params(tmp_path))
    _text, lines = _phone_lines(tmp_path)
    assert lines == ["SET TRUSTCERTS %s" % _export.phone_file(root), "SET TLSSRVRID 1"]
    assert not [line for line in _readme(tmp_path).splitlines() if line.startswith("SET ")]


def test_a_root_missing_from_the_trusted_store_leaves_trustcerts_out_with_a_warning(tmp_path):
    store = _store(tmp_path)
    root = make_ca("CN=Corp Root")
    leaf, key = make_leaf(root, name=NAME, alt_names=["DNS:" + NAME, "IP:" + ADDRESS])
    store.update(lambda state: setattr(state, "identity", Credential(leaf, key, {"source": "import"})))
    result = _export.run(store, _params(tmp_path))
    text, lines = _phone_lines(tmp_path)
    assert not [line for line in lines if line.startswith("SET TRUSTCERTS")]
    assert "SET TRUSTCERTS is left out" in text and "CN=Corp Root" in text
    assert any(w.startswith("Phones: the system identity CN=%s chains to" % NAME) for w in result["warnings"])
    assert os.listdir(str(tmp_path / "out" / "phones")) == ["46xxspecials.txt"]


# ----------------------------------------------------------------------------------------------- expiry

def test_an_expired_identity_is_refused_unless_allow_expired_which_warns(tmp_path):
    store = _store(tmp_path)
    identity = store.read().identity
    later = identity.cert.not_valid_after_utc + datetime.timedelta(days=1)
    digest = helpers.tree_digest(str(tmp_path))
    with pytest.raises(SecurityError) as info:
        _export.run(store, _params(tmp_path), now=later)
    assert info.value.code == "certificate_expired" and info.value.option == "allow_expired"
    assert identity.fingerprint in info.value.message
    assert helpers.tree_digest(str(tmp_path)) == digest  # nothing written anywhere
    result = _export.run(store, _params(tmp_path, allow_expired=True), now=later)
    assert result["changed"] is True
    assert [w for w in result["warnings"] if "expired on" in w and "allow_expired: true" in w]
    assert os.path.exists(str(tmp_path / "out" / "identity" / "manager-set.p12"))
