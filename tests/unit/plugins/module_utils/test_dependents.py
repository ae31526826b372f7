"""What depends on each trusted store entry, and the refusal to remove one in use (_dependents.py).

Real cryptography, a real DirectoryStore on disk, a real `openssl s_server` for preflight records.
"""

import os

import pytest

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import (
    _certs,
    _checks_settings,
    _dependents,
    _info,
    _issued,
    _trusted,
)
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

EC = "sha256_ecdsa_p256"
NAME = "ipo1.example.com"


class Pki(object):
    """An old root with an issuing CA and an SBC leaf (the pinned peer), and a new root."""

    def __init__(self):
        self.old_key = _certs.generate_private_key(EC)
        self.old_root = _certs.build_certificate("CN=Corp Root 2015,O=Example", self.old_key, 3650, EC, ca=True)
        self.inter_key = _certs.generate_private_key(EC)
        self.inter = _certs.build_certificate("CN=Corp Issuing CA,O=Example", self.inter_key, 1825, EC, ca=True,
                                              issuer_cert=self.old_root, issuer_key=self.old_key)
        self.sbc_key = _certs.generate_private_key(EC)
        self.sbc = _certs.build_certificate("sbc.example.com", self.sbc_key, 365, EC,
                                            subject_alt_names=["DNS:sbc.example.com", "IP:127.0.0.1"],
                                            issuer_cert=self.inter, issuer_key=self.inter_key)
        self.new_key = _certs.generate_private_key(EC)
        self.new_root = _certs.build_certificate("CN=Corp Root 2025,O=Example", self.new_key, 3650, EC, ca=True)


@pytest.fixture(scope="module")
def pki():
    return Pki()


def pem(*certs):
    return _certs.certs_pem(certs).decode()


def fp(cert):
    return _certs.fingerprint(cert)


@pytest.fixture
def store(tmp_path):
    return DirectoryStore(str(tmp_path / "store"), system_name=NAME, system_addresses=["192.0.2.10"])


def set_level(store, option, level):
    def mutate(state):
        state.settings["checks"][option] = level
    store.update(mutate)


def pinned_setup(store, pki):
    """The walkthrough: old root + issuing CA + the SBC's leaf pinned, telephony checks at high_remote."""
    _trusted.converge(store, [{"content": pem(pki.old_root, pki.inter, pki.sbc)}])
    set_level(store, "telephony_endpoints", "high_remote")


def kinds(found, cert):
    return sorted(d["kind"] for d in found[fp(cert)])


# ------------------------------------------------------------------------------------- the walkthrough


def test_removing_the_old_root_a_pinned_peer_chains_to_fails_and_writes_nothing(store, pki):
    pinned_setup(store, pki)
    digest = helpers.tree_digest(store.path)
    for check_mode in (True, False):
        with pytest.raises(SecurityError) as info:
            _trusted.converge(store, [{"content": pem(pki.old_root)}], desired="absent", check_mode=check_mode)
        error = info.value
        assert error.code == "trusted_entry_in_use" and error.option == "allow_in_use"
        assert "sbc.example.com" in error.message and fp(pki.sbc) in error.message
        assert "telephony_endpoints (high_remote)" in error.message and "allow_in_use: true" in error.message
        assert error.message.startswith(NAME + ": ")
        [entry] = error.details["in_use"]
        assert entry["sha256"] == fp(pki.old_root)
        assert [(d["kind"], d["sha256"]) for d in entry["dependents"]] == [("pinned_peer", fp(pki.sbc))]
        assert helpers.tree_digest(store.path) == digest


def test_allow_in_use_removes_the_old_root_and_warns_naming_the_peer(store, pki):
    pinned_setup(store, pki)
    result = _trusted.converge(store, [{"content": pem(pki.old_root)}], desired="absent", allow_in_use=True)
    assert result["changed"] and fp(pki.old_root) not in store.read().trusted
    [warning] = result["warnings"]
    assert warning.startswith("removed trusted certificate CN=Corp Root 2015")
    assert "sbc.example.com" in warning and fp(pki.sbc) in warning and "allow_in_use: true" in warning
    [removed] = result["removed"]
    assert [d["kind"] for d in removed["dependents"]] == ["pinned_peer"]


def test_exclusive_to_the_new_root_fails_naming_every_dependent(store, pki):
    pinned_setup(store, pki)
    state = store.read()
    digest = helpers.tree_digest(store.path)
    with pytest.raises(SecurityError) as info:
        _trusted.converge(store, [{"content": pem(pki.new_root, pki.sbc)}], exclusive=True)
    in_use = dict((item["sha256"], [d["kind"] for d in item["dependents"]]) for item in info.value.details["in_use"])
    # the system CA (the identity's chain), the old root and the issuing CA (the pinned peer's chain)
    assert in_use == {fp(state.ca.cert): ["identity_chain"], fp(pki.old_root): ["pinned_peer"],
                      fp(pki.inter): ["pinned_peer"]}
    assert helpers.tree_digest(store.path) == digest


def test_a_leaf_in_the_store_is_no_pinned_peer_while_no_level_pins(store, pki):
    _trusted.converge(store, [{"content": pem(pki.old_root, pki.inter, pki.sbc)}])
    found = _dependents.dependents(store.read())
    assert found[fp(pki.old_root)] == [] and found[fp(pki.sbc)] == []
    result = _trusted.converge(store, [{"content": pem(pki.old_root)}], desired="absent")
    assert result["changed"] and result["warnings"] == []


def test_a_line_at_high_pins_too(store, pki):
    _trusted.converge(store, [{"content": pem(pki.old_root, pki.inter, pki.sbc)}])
    set_level(store, "ip_office_lines", [{"name": "hq", "transport": "websocket_client", "check_level": "high"}])
    found = _dependents.dependents(store.read())
    # a pin is never its own dependent; the CA entries it chains to are held by it
    assert kinds(found, pki.sbc) == [] and kinds(found, pki.inter) == ["pinned_peer"]
    assert found[fp(pki.inter)][0]["settings"] == ["lines[hq] (high)"]


def test_security_info_returns_dependents_per_entry(store, pki):
    pinned_setup(store, pki)
    state = store.read()
    snapshot = _info.snapshot(store, state)
    by_fp = dict((entry["sha256"], entry["dependents"]) for entry in snapshot["trusted"])
    assert [d["kind"] for d in by_fp[fp(state.ca.cert)]] == ["identity_chain"]
    assert by_fp[fp(state.ca.cert)][0]["purpose"] == "system"
    assert [d["subject"] for d in by_fp[fp(pki.old_root)]] == ["CN=sbc.example.com"]
    assert by_fp[fp(pki.sbc)] == []


def test_telephony_identity_chain_is_a_dependent(store, pki):
    def mutate(state):
        from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential
        key = _certs.generate_private_key(EC)
        cert = _certs.build_certificate("sip.example.com", key, 365, EC, subject_alt_names=["DNS:sip.example.com"],
                                        issuer_cert=pki.new_root, issuer_key=pki.new_key)
        state.telephony = Credential(cert, key, {"source": "import"})
        state.add_trusted([pki.new_root])
    store.update(mutate)
    found = _dependents.dependents(store.read())
    assert [(d["kind"], d["purpose"]) for d in found[fp(pki.new_root)]] == [("identity_chain", "telephony")]


# ----------------------------------------------------------------------------------- preflight records


def test_a_passed_preflight_records_what_the_endpoint_presented(store, pki, tmp_path):
    helpers.need_tool("openssl")
    _trusted.converge(store, [{"content": pem(pki.old_root)}])
    cert_file, key_file, chain_file = (str(tmp_path / n) for n in ("sbc.pem", "sbc.key", "chain.pem"))
    with open(cert_file, "wb") as handle:
        handle.write(_certs.cert_pem(pki.sbc))
    with open(key_file, "wb") as handle:
        handle.write(_certs.key_pem(pki.sbc_key))
    with open(chain_file, "wb") as handle:
        handle.write(_certs.cert_pem(pki.inter))
    with helpers.openssl_server(cert_file, key_file, chain_file) as port:
        params = dict((name, None) for name in _checks_settings.OPTION_NAMES)
        params.update({"management_interfaces": "medium", "preflight_mode": "enforce",
                       "preflight": [{"host": "127.0.0.1", "port": port, "setting": "management",
                                      "peer_name": "sbc.example.com"}]})
        result = _checks_settings.run(store, params)
    assert result["changed"] and result["preflight"][0]["passed"], result["preflight"]
    state = store.read()
    [record] = state.verified_endpoints
    assert record["endpoint"] == "127.0.0.1:%d (management)" % port and record["setting"] == "management"
    assert record["subject"] == "CN=sbc.example.com" and record["sha256"] == fp(pki.sbc)
    assert record["trust_path"] == [fp(pki.sbc), fp(pki.inter), fp(pki.old_root)]
    assert record["chain"] == [fp(pki.inter)] and record["verified"].endswith("Z")
    found = _dependents.dependents(state)
    assert [(d["kind"], d["endpoint"]) for d in found[fp(pki.old_root)]] == [("preflight_endpoint",
                                                                              record["endpoint"])]
    digest = helpers.tree_digest(store.path)
    with pytest.raises(SecurityError) as info:
        _trusted.converge(store, [{"sha256": fp(pki.old_root)}], desired="absent")
    assert info.value.code == "trusted_entry_in_use" and record["endpoint"] in info.value.message
    assert helpers.tree_digest(store.path) == digest
    # lowering the level below medium: the endpoint no longer relies on a chain through the store
    set_level(store, "management_interfaces", "low")
    assert _dependents.dependents(store.read())[fp(pki.old_root)] == []


# --------------------------------------------------------------------------------- issued certificates


def test_issued_certificates_are_recorded_and_hold_the_system_ca(store, tmp_path):
    out = str(tmp_path / "other.p12")
    params = {"subject_name": "CN=other.example.com", "subject_alt_names": ["DNS:other.example.com"],
              "valid_days": 365, "format": "pkcs12", "path": out, "private_key_path": None, "chain_path": None,
              "password": "pw", "signature": None, "renew_before_days": None}
    result = _issued.run(store, params)
    assert result["changed"] and os.path.exists(out)
    state = store.read()
    [record] = state.issued_certificates
    assert record["subject"] == "CN=other.example.com" and record["path"] == out
    assert record["sha256"] == result["certificate"]["sha256"]
    found = _dependents.dependents(state)
    assert sorted(d["kind"] for d in found[fp(state.ca.cert)]) == ["identity_chain", "issued_certificate"]
    again = _issued.run(store, params)
    assert not again["changed"] and store.read().generation == state.generation
