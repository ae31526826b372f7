"""Unit tests of the whole-state transaction (plugins/module_utils/_settings.py).

Real parts: a real DirectoryStore on disk, real certificates and keys, real `openssl s_server`
endpoints on 127.0.0.1 for the preflight (as in test_checks_settings_preflight.py).
"""

import json
import os

import pytest

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _settings, _trusted
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

SCEP_PASSWORD = "Sc3p-unit-Secret-42"
P12_PASSWORD = "p12-Unit-Pass-17"
WRONG_PASSWORD = "Wr0ng-Pass-Zeta"
PEER_NAMES = ["DNS:sip.example.test", "IP:127.0.0.1", "URI:sip:example.test"]


def write(path, data):
    path.write_bytes(data)
    return str(path)


class Pki(object):
    """A provider root, a SIP peer it issued (served by s_server), and an enterprise root rotation."""

    def __init__(self, base):
        self.root_key = _certs.generate_private_key()
        self.root = _certs.build_certificate("CN=Provider Root CA", self.root_key, 3650, ca=True)
        peer_key = _certs.generate_private_key()
        self.peer = _certs.build_certificate("CN=sip.example.test", peer_key, 365, subject_alt_names=PEER_NAMES,
                                             issuer_cert=self.root, issuer_key=self.root_key)
        self.files = {
            "root": write(base / "root.pem", _certs.cert_pem(self.root)),
            "peer": write(base / "peer.pem", _certs.cert_pem(self.peer)),
            "peer_key": write(base / "peer.key", _certs.key_pem(peer_key)),
        }
        # Enterprise roots: the identity is issued by the old one, then reissued by the new one.
        for name in ("old", "new"):
            key = _certs.generate_private_key("sha256_ecdsa_p256")
            root = _certs.build_certificate("CN=Enterprise Root %s" % name.title(), key, 3650, "sha256_ecdsa_p256",
                                            ca=True)
            leaf_key = _certs.generate_private_key("sha256_ecdsa_p256")
            leaf = _certs.build_certificate("CN=ipo1.example.com", leaf_key, 700, "sha256_ecdsa_p256",
                                            subject_alt_names=["DNS:ipo1.example.com"], issuer_cert=root,
                                            issuer_key=key)
            setattr(self, name + "_root", root)
            self.files[name + "_root"] = write(base / ("%s-root.pem" % name), _certs.cert_pem(root))
            self.files[name + "_p12"] = write(base / ("%s.p12" % name),
                                              _certs.export_pkcs12("ipo1", leaf_key, leaf, [root], P12_PASSWORD))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def endpoint(pki):
    with helpers.openssl_server(pki.files["peer"], pki.files["peer_key"], pki.files["root"]) as port:
        yield port


def store_at(path):
    return DirectoryStore(str(path), system_name="ipo1.example.com", system_addresses=["192.0.2.10"])


def params(store_path, **areas):
    """Module params as Ansible passes them: every area present (None when not given)."""
    result = {"store_path": str(store_path), "platform": None, "system_name": "ipo1.example.com",
              "system_addresses": ["192.0.2.10"], "lock_timeout": 60}
    for area in _settings.AREAS:
        result[area] = areas.get(area)
    return result


def whole_state(pki, port, pin=True):
    """Trust (the provider root and, pinned, its peer), a CA-issued identity, SCEP settings, and
    telephony checks raised to high_remote with a preflight of the peer."""
    certificates = [{"path": pki.files["root"]}] + ([{"path": pki.files["peer"]}] if pin else [])
    return dict(
        trusted={"certificates": certificates, "exclusive": False, "absent": []},
        identity={"source": "ca", "subject_name": "ipo1.example.com",
                  "subject_alt_names": ["DNS:ipo1.example.com", "IP:192.0.2.10"], "offer_id_certificate_chain": True},
        scep={"server": "scep.example.com", "request_interval": 300, "password": SCEP_PASSWORD,
              "update_password": "always"},
        checks={"telephony_endpoints": "high_remote", "certificate_expiry_warning_days": 90,
                "preflight": [{"host": "127.0.0.1", "port": port, "setting": "telephony", "purpose": "sip_server",
                               "sip_domain": "example.test"}],
                "preflight_mode": "enforce"},
    )


def generation_numbers(path):
    return [g["generation"] for g in store_at(path).generations()]


def test_one_call_on_a_new_store_plans_exactly_and_writes_one_generation(pki, endpoint, tmp_path):
    path = tmp_path / "store"
    args = params(path, **whole_state(pki, endpoint))

    # Check mode: the preflight sees the root and the pin this same call adds, so it passes.
    check = _settings.run(store_at(path), args, check_mode=True, want_diff=True)
    assert check["changed"] is True
    assert helpers.tree_digest(str(path)) == "absent"
    (preflight,) = check["checks"]["preflight"]
    assert preflight["evaluated"] is True and preflight["passed"] is True and preflight["level"] == "high_remote"
    assert [s["step"] for s in check["steps"]] == ["trusted", "identity", "scep", "checks"]
    assert all(s["changed"] for s in check["steps"])
    assert check["diff"]["after"]["checks"]["telephony_endpoints"] == "high_remote"
    assert check["diff"]["before"]["checks"]["telephony_endpoints"] == "none"

    real = _settings.run(store_at(path), args, want_diff=True)
    assert real["changed"] is True and real["generation"] == 1
    assert generation_numbers(path) == [1]
    assert real["checks"]["preflight"][0]["passed"] is True
    assert real["identity"]["certificate"]["issuer"] == real["identity"]["certificate"]["chain"][0]["subject"]
    assert real["scep"]["settings"]["password_set"] is True
    # The plan of the check run is what the real run did.
    assert json.dumps(check["diff"]["after"]["checks"]) == json.dumps(real["diff"]["after"]["checks"])
    partner = sorted([_certs.fingerprint(pki.root), _certs.fingerprint(pki.peer)])
    for run in (check, real):  # (a new store's internal root CA is made anew by each run)
        trusted = run["diff"]["after"]["trusted"]
        assert sorted(e["sha256"] for e in trusted if "IP Office" not in e["subject"]) == partner
    # No secret in the result or the diff.
    text = json.dumps(real) + json.dumps(check)
    assert SCEP_PASSWORD not in text and "PRIVATE KEY" not in text
    assert helpers.store_secret_leaks(str(path), [SCEP_PASSWORD, P12_PASSWORD]) == []

    state = store_at(path).read()
    assert state.settings["checks"]["telephony_endpoints"] == "high_remote"
    assert state.settings["scep"]["server"] == "scep.example.com"
    assert state.identity.meta["source"] == "ca"

    digest = helpers.tree_digest(str(path))
    again = _settings.run(store_at(path), args, want_diff=True)
    assert again["changed"] is False and again["generation"] == 1
    assert not any(s["changed"] for s in again["steps"])
    assert again["checks"]["preflight"][0]["evaluated"] is False  # nothing raised any more
    assert _settings.run(store_at(path), args, check_mode=True)["changed"] is False
    assert helpers.tree_digest(str(path)) == digest


def test_a_failing_preflight_fails_naming_the_endpoint_and_writes_nothing(pki, endpoint, tmp_path):
    path = tmp_path / "store"
    args = params(path, **whole_state(pki, endpoint, pin=False))  # the peer is not pinned: high fails
    for check_mode in (True, False):
        with pytest.raises(SecurityError) as info:
            _settings.run(store_at(path), args, check_mode=check_mode)
        error = info.value
        assert error.code == "preflight_failed" and error.option == "checks.preflight"
        assert error.details["area"] == "checks"
        assert "127.0.0.1:%d (telephony)" % endpoint in error.message and "not_pinned" in error.message
        assert error.details["failed_endpoints"] == ["127.0.0.1:%d (telephony)" % endpoint]
        assert helpers.tree_digest(str(path)) == "absent"  # a new store is not even created
    # On an existing store: byte-identical.
    _settings.run(store_at(path), params(path, scep={"server": "scep.example.com"}))
    digest = helpers.tree_digest(str(path))
    with pytest.raises(SecurityError):
        _settings.run(store_at(path), args)
    assert helpers.tree_digest(str(path)) == digest


@pytest.mark.parametrize("case", ["expiry_days", "import_password", "telephony_subject", "absent_fingerprint",
                                  "scep_uri", "line_level"])
def test_a_late_area_failure_writes_nothing_and_names_the_area_option(pki, endpoint, tmp_path, case):
    areas = whole_state(pki, endpoint)
    if case == "expiry_days":
        areas["checks"]["certificate_expiry_warning_days"] = 10
        expected = ("out_of_range", "checks.certificate_expiry_warning_days")
    elif case == "import_password":
        areas["identity"] = {"source": "import", "certificate_path": pki.files["new_p12"], "password": WRONG_PASSWORD}
        expected = ("wrong_password", "identity.password")
    elif case == "telephony_subject":
        areas["telephony_identity"] = {"source": "generate", "subject_name": "CN=a,,=b"}
        expected = ("invalid_name", "telephony_identity.subject_name")
    elif case == "absent_fingerprint":
        areas["trusted"]["absent"] = [{"sha256": "12:34"}]
        expected = ("invalid_fingerprint", "trusted.absent[0].sha256")
    elif case == "scep_uri":
        areas["scep"]["uri"] = "scep"
        expected = ("invalid_setting", "scep.uri")
    else:
        areas["lines"] = [{"name": "branch", "transport": "websocket_client", "check_level": "high_remote"}]
        expected = ("invalid_choice", "lines")
    for existing in (False, True):
        path = tmp_path / ("existing" if existing else "new")
        if existing:
            _settings.run(store_at(path), params(path, scep={"server": "old.example.com"}))
        digest = helpers.tree_digest(str(path))
        with pytest.raises(SecurityError) as info:
            _settings.run(store_at(path), params(path, **areas))
        code, option = expected
        assert info.value.option == option, info.value.message
        assert info.value.code == code, info.value.message
        assert info.value.message.startswith(option + ":")
        assert info.value.details["area"] == option.split(".", maxsplit=1)[0]
        assert helpers.tree_digest(str(path)) == digest
        if not existing:
            assert digest == "absent"
        assert WRONG_PASSWORD not in info.value.message


def test_a_root_rotation_in_one_call_has_no_false_warning_and_one_generation(pki, tmp_path):
    path = tmp_path / "store"
    old = params(path, trusted={"certificates": [{"path": pki.files["old_root"]}]},
                 identity={"source": "import", "certificate_path": pki.files["old_p12"], "password": P12_PASSWORD,
                           "offer_id_certificate_chain": True})
    assert _settings.run(store_at(path), old)["changed"] is True
    old_fp, new_fp = _certs.fingerprint(pki.old_root), _certs.fingerprint(pki.new_root)
    assert store_at(path).read().chain_for(store_at(path).read().identity)[0] == pki.old_root

    # Per area, the removal is judged against today's identity, which still chains to the old root: refused.
    with pytest.raises(SecurityError) as refused:
        _trusted.converge(store_at(path), [{"sha256": old_fp}], desired="absent", check_mode=True)
    assert refused.value.code == "trusted_entry_in_use"

    rotation = params(path, trusted={"certificates": [{"path": pki.files["new_root"]}],
                                     "absent": [{"sha256": old_fp}]},
                      identity={"source": "import", "certificate_path": pki.files["new_p12"],
                                "password": P12_PASSWORD})
    digest = helpers.tree_digest(str(path))
    check = _settings.run(store_at(path), rotation, check_mode=True, want_diff=True)
    assert check["changed"] is True and check["warnings"] == []
    assert helpers.tree_digest(str(path)) == digest
    assert [s["step"] for s in check["steps"]] == ["trusted", "identity", "trusted_removals"]
    assert all(s["changed"] for s in check["steps"])
    (removed,) = check["trusted"]["removed"]
    assert removed["sha256"] == old_fp and removed["needed_by"] == [] and removed["by"] == "absent"

    real = _settings.run(store_at(path), rotation)
    assert real["changed"] is True and real["warnings"] == []
    assert generation_numbers(path) == [2, 1] and real["generation"] == 2
    state = store_at(path).read()
    assert old_fp not in state.trusted and new_fp in state.trusted
    assert state.chain_for(state.identity) == [pki.new_root]
    again = _settings.run(store_at(path), rotation)
    assert again["changed"] is False and generation_numbers(path) == [2, 1]

    # Removing the root the planned identity does need is refused (nothing written), or with allow_in_use
    # done with a warning naming the system and the entry.
    keep = params(path, trusted={"absent": [{"sha256": new_fp}], "allow_in_use": False})
    digest = helpers.tree_digest(str(path))
    with pytest.raises(SecurityError) as info:
        _settings.run(store_at(path), keep, check_mode=True)
    assert info.value.code == "trusted_entry_in_use" and info.value.option == "trusted.allow_in_use"
    assert info.value.details["area"] == "trusted" and info.value.details["in_use"][0]["sha256"] == new_fp
    assert helpers.tree_digest(str(path)) == digest
    allowed = params(path, trusted={"absent": [{"sha256": new_fp}], "allow_in_use": True})
    warned = _settings.run(store_at(path), allowed, check_mode=True)
    (warning,) = warned["warnings"]
    assert warning.startswith("trusted: removed trusted certificate CN=Enterprise Root New")
    assert warned["trusted"]["removed"][0]["needed_by"] == ["identity"]


def test_cross_area_decisions_use_the_planned_checks(tmp_path):
    path = tmp_path / "store"
    areas = {"telephony_identity": {"source": "generate", "subject_name": "sip.ipo1.example.com",
                                    "subject_alt_names": ["URI:sip:example.com"], "valid_days": 120},
             "checks": {"sip_telephony_certificate": "sip_trunks", "certificate_expiry_warning_days": 100}}
    result = _settings.run(store_at(path), params(path, **areas))
    # Neither "the telephony identity is only used when sip_telephony_certificate..." nor "no telephony
    # identity" (certificate_checks' warning): both are judged on the planned state.
    assert result["warnings"] == []
    # The renewal window is the planned Certificate Expiry Warning Days (100 < 120 days): not renewed now.
    assert _settings.run(store_at(path), params(path, **areas))["changed"] is False
    # Raised to 130 in the same call, the 120-day identity is within the window: refused as every run would renew.
    areas["checks"]["certificate_expiry_warning_days"] = 130
    with pytest.raises(SecurityError) as info:
        _settings.run(store_at(path), params(path, **areas))
    assert info.value.code == "renewal_window_too_large"
    assert info.value.option == "telephony_identity.renew_before_days"


def test_absent_areas_are_left_as_they_are_and_lines_alone_apply(tmp_path):
    path = tmp_path / "store"
    _settings.run(store_at(path), params(path, checks={"management_interfaces": "low"}))
    before = store_at(path).read()
    result = _settings.run(store_at(path), params(path, lines=[{"name": "branch", "check_level": "medium"}]))
    assert result["changed"] is True and result["areas"] == ["lines"]
    after = store_at(path).read()
    assert after.settings["checks"]["management_interfaces"] == "low"
    assert after.settings["checks"]["ip_office_lines"] == [{"name": "branch", "transport": "websocket_client",
                                                            "check_level": "medium"}]
    assert after.identity.fingerprint == before.identity.fingerprint and after.trusted == before.trusted
    assert result["checks"]["level_changes"][0]["setting"] == "line:branch"
    nothing = _settings.run(store_at(path), params(path))
    assert nothing["changed"] is False and nothing["areas"] == [] and nothing["steps"] == []


class RacingStore(DirectoryStore):
    """A store another writer changes between this run's read and its update (under the lock)."""

    def __init__(self, path, other):
        super().__init__(path, system_name="ipo1.example.com", system_addresses=["192.0.2.10"])
        self.other = other

    def update(self, mutate, check_mode=False, start=None):
        if self.other is not None:
            other, self.other = self.other, None
            other(DirectoryStore(self.path))
        return super().update(mutate, check_mode=check_mode, start=start)


def test_a_concurrent_write_is_planned_again_under_the_lock(pki, endpoint, tmp_path):
    path = tmp_path / "store"
    _settings.run(store_at(path), params(path, scep={"server": "scep.example.com"}))
    areas = whole_state(pki, endpoint)

    def other_writer(store):
        store.update(lambda state: state.settings["scep"].update(request_interval=30))

    result = _settings.run(RacingStore(str(path), other_writer), params(path, **areas))
    assert result["changed"] is True and generation_numbers(path) == [3, 2, 1]
    state = store_at(path).read()
    # Both writers' changes are there: ours planned again on top of theirs (ours wins where both set).
    assert state.settings["scep"]["request_interval"] == 300
    assert state.settings["checks"]["telephony_endpoints"] == "high_remote"
    assert _certs.fingerprint(pki.peer) in state.trusted

    def trust_change(store):  # the TCS changes: the preflight is run again, against what is now there
        store.update(lambda state: state.remove_trusted([_certs.fingerprint(pki.peer)]))

    areas["checks"]["telephony_endpoints"] = "medium_remote"
    areas["trusted"]["certificates"] = [{"path": pki.files["root"]}]
    lowered = _settings.run(RacingStore(str(path), trust_change), params(path, **areas))
    assert lowered["changed"] is True
    assert store_at(path).read().settings["checks"]["telephony_endpoints"] == "medium_remote"


def test_exclusive_prunes_after_the_identity_and_refuses_what_it_needs(pki, tmp_path):
    path = tmp_path / "store"
    areas = dict(trusted={"certificates": [{"path": pki.files["root"]}], "exclusive": True, "absent": []},
                 identity={"source": "ca", "subject_name": "ipo1.example.com"})
    # The CA-issued identity chains to the internal root CA, which the prune would remove: refused.
    with pytest.raises(SecurityError) as info:
        _settings.run(store_at(path), params(path, **areas))
    assert info.value.code == "trusted_entry_in_use" and info.value.option == "trusted.allow_in_use"
    assert helpers.tree_digest(str(path)) == "absent"
    areas["trusted"]["allow_in_use"] = True
    result = _settings.run(store_at(path), params(path, **areas))
    state = store_at(path).read()
    assert sorted(state.trusted) == [_certs.fingerprint(pki.root)]
    (removed,) = result["trusted"]["removed"]
    assert removed["by"] == "exclusive" and removed["needed_by"] == ["identity"]
    assert removed["sha256"] == _certs.fingerprint(state.ca.cert)
    assert any("IP Office Root CA" in w and "allow_in_use: true" in w for w in result["warnings"])
    assert result["trusted"]["steps"]["exclusive"]["changed"] is True
    assert os.path.islink(str(path / "current"))


def test_the_store_setting_keep_generations_is_applied_with_the_areas(tmp_path):
    path = tmp_path / "store"
    _settings.run(store_at(path), params(path, checks={"management_interfaces": "low"}))
    store = DirectoryStore(str(path), keep=3)
    result = _settings.run(store, dict(params(path, checks={"management_interfaces": "medium"}), keep_generations=3))
    assert result["changed"] is True and store_at(path).read().keep_generations == 3
    again = _settings.run(DirectoryStore(str(path), keep=3), dict(params(path), keep_generations=3))
    assert again["changed"] is False


def test_the_pkcs7_envelope_builder_is_required_only_when_enrolling():
    assert "pkcs7_envelope" in _settings.library_features({"scep": {"enroll": True}})
    assert "pkcs7_envelope" not in _settings.library_features({"scep": {"active": True, "enroll": False}})
    assert "pkcs7_envelope" not in _settings.library_features({"scep": None, "checks": {}})
    assert "path_validation" in _settings.library_features({})
