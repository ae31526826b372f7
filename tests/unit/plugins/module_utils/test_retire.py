"""Dependents as facts with an age, and trusted.retire (issue 18: _dependents.retire, security_settings).

Real cryptography, a real DirectoryStore on disk, real `openssl s_server` endpoints on 127.0.0.1 for the
preflight records (what an endpoint presented when it was verified).
"""

import datetime
import os

import pytest

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import (
    _certs,
    _dependents,
    _info,
    _settings,
    _trusted,
)
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

EC = "sha256_ecdsa_p256"
NAME = "ipo1.example.com"


class Pki(object):
    """Old and new roots, and the SBC's certificate under each (what it presents before and after it moves)."""

    def __init__(self, base):
        self.base = base
        self.old_key = _certs.generate_private_key(EC)
        self.old_root = _certs.build_certificate("CN=Corp Root 2015,O=Example", self.old_key, 3650, EC, ca=True)
        self.new_key = _certs.generate_private_key(EC)
        self.new_root = _certs.build_certificate("CN=Corp Root 2025,O=Example", self.new_key, 3650, EC, ca=True)
        self.sbc_old, self.sbc_old_files = self._leaf("sbc-2015", self.old_root, self.old_key)
        self.sbc_new, self.sbc_new_files = self._leaf("sbc-2025", self.new_root, self.new_key)

    def _leaf(self, name, issuer, issuer_key):
        key = _certs.generate_private_key(EC)
        cert = _certs.build_certificate("sbc.example.com", key, 365, EC,
                                        subject_alt_names=["DNS:sbc.example.com", "IP:127.0.0.1"],
                                        issuer_cert=issuer, issuer_key=issuer_key)
        cert_file, key_file = str(self.base / (name + ".pem")), str(self.base / (name + ".key"))
        with open(cert_file, "wb") as handle:
            handle.write(_certs.cert_pem(cert))
        with open(key_file, "wb") as handle:
            handle.write(_certs.key_pem(key))
        return cert, (cert_file, key_file)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


def fp(cert):
    return _certs.fingerprint(cert)


def pem(cert):
    return _certs.cert_pem(cert).decode()


def store_at(path, **kwargs):
    return DirectoryStore(str(path), system_name=NAME, system_addresses=["192.0.2.10"], **kwargs)


def params(store, **areas):
    result = {"store_path": store.path, "platform": None, "system_name": NAME, "system_addresses": ["192.0.2.10"],
              "lock_timeout": 60, "keep_generations": None, "dependents_max_age_days": None}
    for area in _settings.AREAS:
        result[area] = areas.get(area)
    return result


def trusted(**options):
    area = {"certificates": [], "exclusive": False, "absent": [], "retire": [], "allow_in_use": False}
    area.update(options)
    return area


def checks(port=None, **options):
    area = dict((name, None) for name in ("certificate_expiry_warning_days", "sip_telephony_certificate",
                                          "management_interfaces", "telephony_endpoints", "h323_security_level",
                                          "sip_security_level"))
    area.update({"preflight": [], "preflight_mode": "enforce", "preflight_timeout": 5.0})
    if port is not None:
        area["preflight"] = [{"host": "127.0.0.1", "port": port, "setting": "telephony", "purpose": "server",
                              "server_name": None, "peer_name": "sbc.example.com", "sip_domain": None}]
    area.update(options)
    return area


def pinned_sbc(store, pki, port=None):
    """The old root and the SBC's 2015 certificate pinned, telephony at high_remote (with its preflight when
    port is given: the record of what the SBC presented)."""
    result = _settings.run(store, params(store, trusted=trusted(certificates=[{"content": pem(pki.old_root)},
                                                                              {"content": pem(pki.sbc_old)}]),
                                         checks=checks(port, telephony_endpoints="high_remote")))
    assert result["changed"]
    return result


def backdate_records(store, days):
    """Make every preflight record `days` old (as if verified then)."""
    stamp = (_certs.utcnow() - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def mutate(state):
        for record in state.verified_endpoints:
            record["verified"] = stamp
    store.update(mutate)
    return stamp


# ---------------------------------------------------------------------------------- a pin is no dependent


def test_a_pinned_certificate_is_never_its_own_dependent(tmp_path, pki):
    store = store_at(tmp_path / "store")
    pinned_sbc(store, pki)
    found = _dependents.dependents(store.read())
    assert found[fp(pki.sbc_old)] == []
    assert [(d["kind"], d["sha256"]) for d in found[fp(pki.old_root)]] == [("pinned_peer", fp(pki.sbc_old))]
    # removing the old pin (the peer no longer presents it) is not blocked by the pin itself
    result = _trusted.converge(store, [{"content": pem(pki.sbc_new)}])
    result = _trusted.converge(store, [{"sha256": fp(pki.sbc_old)}], desired="absent")
    assert result["changed"] and result["warnings"] == [] and result["removed"][0]["dependents"] == []
    # and the old root with its pin in one removal: the pin going does not hold the root
    pinned_sbc(store, pki)
    result = _trusted.converge(store, [{"sha256": fp(pki.sbc_old)}, {"sha256": fp(pki.old_root)}], desired="absent")
    assert result["changed"] and sorted(r["sha256"] for r in result["removed"]) == sorted(
        [fp(pki.sbc_old), fp(pki.old_root)])


# ------------------------------------------------------------------------------------------ retirement


def test_retire_keeps_a_root_a_pinned_peer_needs_then_removes_it_once_the_pin_moved(tmp_path, pki):
    store = store_at(tmp_path / "store")
    pinned_sbc(store, pki)
    retire = params(store, trusted=trusted(certificates=[{"content": pem(pki.new_root)}],
                                           retire=[{"sha256": fp(pki.old_root)}]))
    check = _settings.run(store, retire, check_mode=True)
    real = _settings.run(store, retire)
    for result in (check, real):
        assert result["changed"] is True  # the new root is added
        [item] = result["retiring"]
        assert item["sha256"] == fp(pki.old_root) and item["subject"] == "CN=Corp Root 2015,O=Example"
        assert item["retired_by"] == "trusted.retire"
        assert [(d["kind"], d["sha256"]) for d in item["blocked_by"]] == [("pinned_peer", fp(pki.sbc_old))]
        assert "sbc.example.com" in item["blocked_by"][0]["description"]
        assert result["retired"] == []
        assert any(w.startswith("trusted: the retired trusted certificate CN=Corp Root 2015") for w in
                   result["warnings"])
    assert fp(pki.old_root) in store.read().trusted
    digest = helpers.tree_digest(store.path)
    again = _settings.run(store, retire)
    assert again["changed"] is False and again["retiring"] == real["retiring"]
    assert _settings.run(store, retire, check_mode=True)["changed"] is False
    assert helpers.tree_digest(store.path) == digest
    # the peer moves: its new certificate is pinned, the old one removed; the same retire call then removes the root
    _trusted.converge(store, [{"content": pem(pki.sbc_new)}])
    _trusted.converge(store, [{"sha256": fp(pki.sbc_old)}], desired="absent")
    predicted = _settings.run(store, retire, check_mode=True)
    done = _settings.run(store, retire)
    for result in (predicted, done):
        assert result["changed"] is True and result["retiring"] == []
        assert [(r["sha256"], r["retired_by"]) for r in result["retired"]] == [(fp(pki.old_root), "trusted.retire")]
        assert [(r["sha256"], r["by"]) for r in result["trusted"]["removed"]] == [(fp(pki.old_root), "retire")]
    assert fp(pki.old_root) not in store.read().trusted
    assert _settings.run(store, retire)["changed"] is False


def test_retiring_a_pin_and_its_root_together_waits_for_the_endpoint_to_move(tmp_path, pki):
    """The declared end state from day one: the new root and pin listed, the old ones retired, the endpoint in
    the preflight. While the SBC presents its old certificate, both old entries stay (the endpoint's record,
    verified again on each run, holds them); once it presents the new one, both go in the same run."""
    helpers.need_tool("openssl")
    store = store_at(tmp_path / "store")
    port = helpers.free_port()
    end_state = params(store, trusted=trusted(certificates=[{"content": pem(pki.new_root)},
                                                            {"content": pem(pki.sbc_new)}],
                                              retire=[{"content": pem(pki.old_root)}, {"content": pem(pki.sbc_old)}]),
                       checks=checks(port))
    with helpers.openssl_server(*pki.sbc_old_files, port=port):
        pinned_sbc(store, pki, port)
        first = _settings.run(store, end_state)
        assert first["changed"] is True
        [reverified] = first["checks"]["preflight"]
        assert reverified["evaluated"] is True and reverified["reverified"] is True and reverified["passed"]
        blocked = dict((item["sha256"], [d["kind"] for d in item["blocked_by"]]) for item in first["retiring"])
        assert blocked == {fp(pki.old_root): ["pinned_peer", "preflight_endpoint"],
                           fp(pki.sbc_old): ["preflight_endpoint"]}
        digest = helpers.tree_digest(store.path)
        again = _settings.run(store, end_state)
        assert again["changed"] is False and again["checks"]["preflight"][0]["reverified"] is True
        assert helpers.tree_digest(store.path) == digest
    with helpers.openssl_server(*pki.sbc_new_files, port=port):
        check = _settings.run(store, end_state, check_mode=True)
        assert helpers.tree_digest(store.path) == digest
        done = _settings.run(store, end_state)
    for result in (check, done):
        assert result["changed"] is True and result["retiring"] == []
        assert sorted(r["sha256"] for r in result["retired"]) == sorted([fp(pki.old_root), fp(pki.sbc_old)])
    state = store.read()
    [record] = state.verified_endpoints
    assert record["trust_path"] == [fp(pki.sbc_new), fp(pki.new_root)]
    assert fp(pki.old_root) not in state.trusted and fp(pki.sbc_old) not in state.trusted
    with helpers.openssl_server(*pki.sbc_new_files, port=port):
        assert _settings.run(store, end_state)["changed"] is False


def test_retire_of_an_entry_that_is_also_listed_is_refused(tmp_path, pki):
    store = store_at(tmp_path / "store")
    with pytest.raises(SecurityError) as info:
        _settings.run(store, params(store, trusted=trusted(certificates=[{"content": pem(pki.new_root)}],
                                                           retire=[{"sha256": fp(pki.new_root)}])))
    assert info.value.code == "conflicting_options" and info.value.option == "trusted.retire[0]"
    assert helpers.tree_digest(store.path) == "absent"


def test_exclusive_keeps_the_retired_entries_for_retirement(tmp_path, pki):
    store = store_at(tmp_path / "store")
    pinned_sbc(store, pki)
    own_ca = store.read().ca.cert
    result = _settings.run(store, params(store, trusted=trusted(
        certificates=[{"content": pem(pki.new_root)}, {"content": pem(pki.sbc_old)}, {"content": pem(own_ca)}],
        exclusive=True, retire=[{"sha256": fp(pki.old_root)}])))
    assert result["changed"] and fp(pki.old_root) in store.read().trusted
    assert [item["sha256"] for item in result["retiring"]] == [fp(pki.old_root)]
    assert result["trusted"]["removed"] == []


# -------------------------------------------------------------------------------- preflight records


def test_verifying_an_endpoint_again_in_the_same_call_frees_the_old_pin(tmp_path, pki):
    """The SBC moved to a certificate from the new root on the same address: one call pins the new one,
    removes the old pin (trusted.absent) and lists the endpoint; its record is replaced against the planned
    state, so the old pin is no longer in use (no allow_in_use)."""
    helpers.need_tool("openssl")
    store = store_at(tmp_path / "store")
    port = helpers.free_port()
    with helpers.openssl_server(*pki.sbc_old_files, port=port):
        pinned_sbc(store, pki, port)
    before = store.read()
    assert [d["kind"] for d in _dependents.dependents(before)[fp(pki.sbc_old)]] == ["preflight_endpoint"]
    move = params(store, trusted=trusted(certificates=[{"content": pem(pki.new_root)}, {"content": pem(pki.sbc_new)}],
                                         absent=[{"content": pem(pki.sbc_old)}]), checks=checks(port))
    with helpers.openssl_server(*pki.sbc_old_files, port=port):  # not moved yet: refused, nothing written
        digest = helpers.tree_digest(store.path)
        with pytest.raises(SecurityError) as info:
            _settings.run(store, move)
        assert info.value.code == "preflight_failed" and "verified again" in info.value.message
        assert helpers.tree_digest(store.path) == digest
    with helpers.openssl_server(*pki.sbc_new_files, port=port):
        check = _settings.run(store, move, check_mode=True)
        assert helpers.tree_digest(store.path) == digest
        real = _settings.run(store, move)
    for result in (check, real):
        assert result["changed"] is True and result["warnings"] == []
        assert [(r["sha256"], r["by"], r["dependents"]) for r in result["trusted"]["removed"]] == [
            (fp(pki.sbc_old), "absent", [])]
    [record] = store.read().verified_endpoints
    assert record["trust_path"] == [fp(pki.sbc_new), fp(pki.new_root)]


def test_a_record_verified_again_with_the_same_result_is_kept_until_it_is_stale():
    state = DirectoryStore("/nonexistent-c18", system_name=NAME, system_addresses=[]).read()
    item = {"evaluated": True, "passed": True, "endpoint": "h:1 (management)", "setting": "management", "host": "h",
            "port": 1, "purpose": "server", "level": "medium", "certificate": {"subject": "CN=h", "sha256": "aa"},
            "chain": [], "trust_path": ["aa", "bb"]}
    then = _certs.utcnow() - datetime.timedelta(days=10)
    _dependents.record_preflight(state, [item], now=then)
    [first] = state.verified_endpoints
    _dependents.record_preflight(state, [item])
    assert state.verified_endpoints == [first]  # the same finding: the record as it was (a rerun changes nothing)
    _dependents.record_preflight(state, [dict(item, trust_path=["aa", "cc"])])
    [moved] = state.verified_endpoints
    assert moved["trust_path"] == ["aa", "cc"] and moved["verified"] != first["verified"]
    state.dependents_max_age_days = 5
    _dependents.record_preflight(state, [dict(item, trust_path=["aa", "cc"])], now=then + datetime.timedelta(days=20))
    [renewed] = state.verified_endpoints
    assert renewed["verified"] > moved["verified"]  # a stale record verified again is renewed


def test_stale_preflight_records_warn_instead_of_blocking(tmp_path, pki):
    helpers.need_tool("openssl")
    store = store_at(tmp_path / "store")
    port = helpers.free_port()
    with helpers.openssl_server(*pki.sbc_old_files, port=port):
        _settings.run(store, params(store, trusted=trusted(certificates=[{"content": pem(pki.old_root)}]),
                                    checks=checks(port, telephony_endpoints="medium_remote")))
    stamp = backdate_records(store, 30)
    remove = params(store, trusted=trusted(absent=[{"sha256": fp(pki.old_root)}]))
    digest = helpers.tree_digest(store.path)
    with pytest.raises(SecurityError) as info:  # 30 days old, the default 90 days: it holds
        _settings.run(store, remove)
    assert info.value.code == "trusted_entry_in_use" and "127.0.0.1:%d (telephony)" % port in info.value.message
    assert helpers.tree_digest(store.path) == digest
    # security_info shows the record's age
    snapshot = _info.snapshot(store, store.read())
    [record] = snapshot["preflight_records"]
    assert (record["age_days"], record["stale"], record["holds"], record["verified"]) == (30, False, True, stamp)
    by_fp = dict((e["sha256"], e["dependents"]) for e in snapshot["trusted"])
    assert [(d["kind"], d["age_days"]) for d in by_fp[fp(pki.old_root)]] == [("preflight_endpoint", 30)]
    assert snapshot["dependents_max_age_days"] == 90
    # older than the store's dependents_max_age_days (set to 20 here): no longer blocks, named in a warning
    young = store_at(store.path, dependents_max_age=20)
    for check_mode in (True, False):
        result = _settings.run(young, dict(remove, dependents_max_age_days=20), check_mode=check_mode)
        assert result["changed"] is True
        [warning] = result["warnings"]
        assert warning.startswith("trusted: the preflight record of 127.0.0.1:%d (telephony)" % port)
        assert "30 days ago" in warning and "dependents_max_age_days (20)" in warning
        assert fp(pki.old_root) in warning
    state = store.read()
    assert fp(pki.old_root) not in state.trusted and state.dependents_max_age_days == 20
    snapshot = _info.snapshot(store, state)
    assert [(r["stale"], r["holds"]) for r in snapshot["preflight_records"]] == [(True, False)]


@pytest.mark.parametrize("value", [0, 3651, -1, True])
def test_dependents_max_age_days_is_validated_before_the_store_is_touched(tmp_path, value):
    with pytest.raises(SecurityError) as info:
        store_at(tmp_path / "store", dependents_max_age=value)
    assert info.value.code == "out_of_range" and info.value.option == "dependents_max_age_days"
    assert "1 to 3650" in info.value.message
    assert not os.path.exists(str(tmp_path / "store"))


def test_dependents_max_age_days_is_a_store_setting_kept_like_keep_generations(tmp_path):
    store = store_at(tmp_path / "store", dependents_max_age=30)
    update = store.update(lambda state: None)
    assert update.changed and store.read().dependents_max_age_days == 30
    # not given: the store's own setting applies and nothing changes
    assert store_at(tmp_path / "store").update(lambda state: None).changed is False
    assert store_at(tmp_path / "store").read().dependents_max_age_days == 30
    changed = store_at(tmp_path / "store", dependents_max_age=45).update(lambda state: None)
    assert changed.changed and changed.after.made_by["summary"] == "dependents_max_age_days 30 -> 45"


def test_overridden_keeps_a_retired_entry_until_nothing_depends_on_it(tmp_path, pki):
    """state overridden prunes the trusted store to what is listed, but a retired entry goes by retirement."""
    store = store_at(tmp_path / "store")
    pinned_sbc(store, pki)
    args = dict(params(store, trusted=trusted(certificates=[{"content": pem(pki.new_root)},
                                                            {"content": pem(pki.sbc_old)}],
                                              retire=[{"sha256": fp(pki.old_root)}]),
                       checks=checks(telephony_endpoints="high_remote", preflight_mode="skip")),
                state="overridden")
    result = _settings.run(store, args)
    assert [item["sha256"] for item in result["retiring"]] == [fp(pki.old_root)]
    assert fp(pki.old_root) in store.read().trusted
    assert _settings.run(store, args)["changed"] is False
