"""Unit tests of security_settings' states (plugins/module_utils/_settings_state.py, run by _settings.run).

Real parts: a real DirectoryStore on disk, real certificates, keys and PKCS#12 files, and a real TCP listener
on 127.0.0.1 that counts the connections rendered must never make.
"""

import json
import os

import pytest
import yaml

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _settings
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

SCEP_PASSWORD = "Sc3p-State-Secret-61"
P12_PASSWORD = "P12-State-Pass-29"
SYSTEM = {"system_name": "ipo1.example.com", "system_addresses": ["192.0.2.10"]}
# The areas gathered gives back (the configuration; an internal CA or identity is left as it is when left out).
GATHERED = ("trusted", "identity", "telephony_identity", "scep", "checks", "lines")


def write(path, data):
    path.write_bytes(data)
    return str(path)


class Pki(object):
    """A provider root and the SIP peer it issued; an enterprise root and an identity PKCS#12 under it."""

    def __init__(self, base):
        root_key = _certs.generate_private_key()
        self.root = _certs.build_certificate("CN=Provider Root CA", root_key, 3650, ca=True)
        peer_key = _certs.generate_private_key()
        self.peer = _certs.build_certificate("CN=sip.example.test", peer_key, 365,
                                             subject_alt_names=["DNS:sip.example.test", "URI:sip:example.test"],
                                             issuer_cert=self.root, issuer_key=root_key)
        other_key = _certs.generate_private_key("sha256_ecdsa_p256")
        self.other = _certs.build_certificate("CN=Partner Root CA", other_key, 3650, "sha256_ecdsa_p256", ca=True)
        ent_key = _certs.generate_private_key("sha256_ecdsa_p256")
        self.enterprise = _certs.build_certificate("CN=Enterprise Root", ent_key, 3650, "sha256_ecdsa_p256", ca=True)
        self.leaf_key = _certs.generate_private_key("sha256_ecdsa_p256")
        leaf = _certs.build_certificate("CN=ipo1.example.com", self.leaf_key, 700, "sha256_ecdsa_p256",
                                        subject_alt_names=["DNS:ipo1.example.com"], issuer_cert=self.enterprise,
                                        issuer_key=ent_key)
        self.files = {
            "root": write(base / "root.pem", _certs.cert_pem(self.root)),
            "peer": write(base / "peer.pem", _certs.cert_pem(self.peer)),
            "other": write(base / "other.pem", _certs.cert_pem(self.other)),
            "p12": write(base / "ipo1.p12", _certs.export_pkcs12("ipo1", self.leaf_key, leaf, [self.enterprise],
                                                                 P12_PASSWORD)),
        }


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


def store_at(path, platform=None):
    return DirectoryStore(str(path), platform=platform, **SYSTEM)


def params(store_path, state=None, **areas):
    """Module params as Ansible passes them: every area present (None when not given)."""
    result = dict(SYSTEM, store_path=str(store_path), platform=None, lock_timeout=60, state=state)
    for area in _settings.AREAS:
        result[area] = areas.get(area)
    return result


def run(path, state=None, check_mode=False, want_diff=False, **areas):
    return _settings.run(store_at(path), params(path, state, **areas), check_mode=check_mode, want_diff=want_diff)


IDENTITIES = {
    "generate": {"source": "generate", "subject_name": "ipo1.example.com", "signature": "sha256_ecdsa_p256",
                 "subject_alt_names": ["DNS:ipo1.example.com", "IP:192.0.2.10"], "valid_days": 700,
                 "renew_before_days": 45, "offer_id_certificate_chain": False},
    "ca": {"source": "ca", "subject_name": "CN=ipo1.example.com,O=Example",
           "subject_alt_names": ["DNS:ipo1.example.com"]},
    "import": {"source": "import", "password": P12_PASSWORD},  # certificate_path from the fixture
}


def every_area(pki, source):
    """Every area set: trust (a root and a pinned peer), an identity from ``source``, a telephony identity,
    SCEP settings with a password, checks away from their defaults, two lines."""
    identity = dict(IDENTITIES[source])
    if source == "import":
        identity["certificate_path"] = pki.files["p12"]
    return dict(
        trusted={"certificates": [{"path": pki.files["root"]}, {"path": pki.files["peer"]},
                                  {"path": pki.files["other"]}]},
        identity=identity,
        telephony_identity={"source": "generate", "subject_name": "sip.ipo1.example.com",
                            "subject_alt_names": ["URI:sip:example.test", "DNS:sip.ipo1.example.com"]},
        scep={"server": "scep.example.com", "port": 8080, "request_interval": 300, "password": SCEP_PASSWORD},
        checks={"certificate_expiry_warning_days": 90, "sip_telephony_certificate": "sip_trunks",
                "management_interfaces": "medium", "telephony_endpoints": "high", "h323_security_level": "medium",
                "preflight_mode": "skip"},
        lines=[{"name": "branch-1", "check_level": "medium"}, {"name": "branch-2", "transport": "websocket_server"}],
    )


def secrets_of(path):
    """Every secret the store holds or was given: passwords, and each line of every private key's PEM."""
    state = store_at(path).read()
    found = [SCEP_PASSWORD, P12_PASSWORD]
    for credential in (state.identity, state.telephony, state.ca):
        if credential is not None:
            found.extend(line for line in _certs.key_pem(credential.key).decode().splitlines()[1:-1] if line)
    return found


# ------------------------------------------------------------------------------------------------ gathered


@pytest.mark.parametrize("source", sorted(IDENTITIES))
def test_gathered_fed_back_as_merged_changes_nothing(pki, tmp_path, source):
    path = tmp_path / "store"
    first = run(path, **every_area(pki, source))
    assert first["changed"] is True and first["generation"] == 1
    digest = helpers.tree_digest(str(path))

    gathered = run(path, state="gathered")
    assert gathered["changed"] is False and gathered["generation"] == 1
    assert helpers.tree_digest(str(path)) == digest  # read only
    areas = gathered["gathered"]
    assert sorted(areas) == sorted(GATHERED)
    assert gathered["store"] == {"path": str(path), "platform": "server", "system_name": "ipo1.example.com",
                                 "keep_generations": 10}
    state = store_at(path).read()
    listed = [_certs.fingerprint(_certs.load_certificate(item["content"].encode())) for item in
              areas["trusted"]["certificates"]]
    # Every entry but the store's own internal root CA, which every state keeps.
    assert sorted(listed) == sorted(fp for fp in state.trusted if fp != state.ca.fingerprint)
    assert areas["lines"] == [{"name": "branch-1", "transport": "websocket_client", "check_level": "medium"},
                              {"name": "branch-2", "transport": "websocket_server", "check_level": "none"}]
    assert areas["checks"]["telephony_endpoints"] == "high" and areas["checks"]["h323_security_level"] == "medium"
    assert areas["scep"] == {"active": False, "request_interval": 300, "server": "scep.example.com",
                             "scheme": "http", "port": 8080, "uri": "/ejbca/publicweb/apply/scep/pkiclient.exe"}
    assert areas["telephony_identity"]["source"] == "generate"
    if source == "import":
        # No key to give it back with: the settings alone, and a note saying what to add.
        assert "source" not in areas["identity"]
        assert any(note.startswith("identity: ") and "was imported" in note for note in gathered["notes"])
    else:
        assert areas["identity"]["source"] == source
        assert areas["identity"]["subject_name"] == IDENTITIES[source]["subject_name"]
    if source == "generate":
        assert areas["identity"]["renew_before_days"] == 45 and areas["identity"]["valid_days"] == 700
        assert areas["identity"]["offer_id_certificate_chain"] is False
    assert any(note.startswith("scep: a SCEP password is stored") for note in gathered["notes"])

    # Fed back as merged: nothing changes, in check mode and for real.
    back = params(path, **areas)
    check = _settings.run(store_at(path), back, check_mode=True, want_diff=True)
    assert check["changed"] is False, [s for s in check["steps"] if s["changed"]]
    merged = _settings.run(store_at(path), back)
    assert merged["changed"] is False and merged["generation"] == 1
    assert not any(step["changed"] for step in merged["steps"])
    # As overridden, with the write-only password added back: nothing changes either.
    areas["scep"]["password"] = SCEP_PASSWORD
    overridden = _settings.run(store_at(path), params(path, state="overridden", **areas))
    assert overridden["changed"] is False, [s for s in overridden["steps"] if s["changed"]]
    assert helpers.tree_digest(str(path)) == digest


def test_gathered_of_a_new_ip500v2_fed_back_changes_nothing(tmp_path):
    path = tmp_path / "store"
    _settings.run(store_at(path, "ip500v2"), dict(params(path, scep={"server": "scep.example.com"}),
                                                  platform="ip500v2"))
    digest = helpers.tree_digest(str(path))
    gathered = run(path, state="gathered")
    areas = gathered["gathered"]
    assert gathered["store"]["platform"] == "ip500v2"
    assert areas["trusted"] == {"certificates": []}  # no internal CA on an IP500 V2
    assert "source" not in areas["identity"]  # the identity the system started with
    assert any("the one the system started with" in note for note in gathered["notes"])
    assert areas["checks"]["h323_security_level"] == "medium"  # the platform's own default
    for state in (None, "overridden"):
        assert run(path, state=state, **areas)["changed"] is False
    assert helpers.tree_digest(str(path)) == digest


def test_gathered_never_holds_a_secret(pki, tmp_path):
    path = tmp_path / "store"
    areas = every_area(pki, "import")
    areas["telephony_identity"] = {"source": "ca", "subject_name": "sip.ipo1.example.com"}
    run(path, **areas)
    gathered = run(path, state="gathered")
    text = json.dumps(gathered)
    out = tmp_path / "out"
    out.mkdir()
    (out / "gathered.json").write_text(text)
    (out / "gathered.yml").write_text(yaml.safe_dump(gathered))
    assert helpers.store_secret_leaks(str(out), secrets_of(path)) == []
    assert "PRIVATE KEY" not in text and "password" not in json.dumps(gathered["gathered"])


def test_gathered_reads_only_and_takes_no_areas(pki, tmp_path):
    path = tmp_path / "missing"
    for check_mode in (False, True):
        with pytest.raises(SecurityError) as info:
            run(path, state="gathered", check_mode=check_mode)
        assert info.value.code == "store_not_initialised" and info.value.option == "store_path"
        assert str(path) in info.value.message
        assert not os.path.lexists(str(path))  # never initialised
    existing = tmp_path / "store"
    run(existing, lines=[])
    digest = helpers.tree_digest(str(existing))
    with pytest.raises(SecurityError) as info:
        run(existing, state="gathered", checks={"management_interfaces": "high"}, lines=[])
    assert info.value.code == "option_not_applicable" and info.value.option == "state"
    assert "checks, lines are given" in info.value.message
    assert helpers.tree_digest(str(existing)) == digest


# ------------------------------------------------------------------------------------------------ rendered


def test_rendered_on_a_missing_store_creates_nothing(pki, tmp_path):
    path = tmp_path / "store"
    areas = every_area(pki, "ca")
    for check_mode in (False, True):
        rendered = run(path, state="rendered", check_mode=check_mode, want_diff=True, **areas)
        assert not os.path.lexists(str(path))
        assert rendered["changed"] is False and "diff" not in rendered
        assert rendered["initialised"] is False and rendered["generation"] is None
    view = rendered["rendered"]
    assert view["identity"]["source"] == "ca" and view["identity"]["action"] == "created"
    identity = view["identity"]["certificate"]
    assert identity["subject"] == "CN=ipo1.example.com,O=Example" and identity["generated"] is True
    assert identity["issuer"] == view["internal_ca"]["subject"]
    # A generated certificate's key, serial, dates and fingerprint are made when a run writes it: not shown.
    assert "sha256" not in identity and "serial_number" not in identity and identity["valid_days"] == 825
    given = {_certs.fingerprint(pki.root), _certs.fingerprint(pki.peer), _certs.fingerprint(pki.other)}
    assert given == set(e["sha256"] for e in view["trusted"] if not e["generated"])
    assert view["telephony_identity"]["certificate"]["subject_alt_names"] == ["URI:sip:example.test",
                                                                              "DNS:sip.ipo1.example.com"]
    assert view["scep"]["port"] == 8080 and view["scep"]["password_set"] is True
    assert view["checks"]["telephony_endpoints"] == "high" and len(view["lines"]) == 2
    assert rendered["notes"][0].startswith("Planned in memory on the initial state of a new system")
    assert SCEP_PASSWORD not in json.dumps(rendered) and "PRIVATE KEY" not in json.dumps(rendered)


def test_rendered_on_an_existing_store_leaves_it_byte_identical(pki, tmp_path):
    path = tmp_path / "store"
    run(path, **every_area(pki, "generate"))
    digest = helpers.tree_digest(str(path))
    before = store_at(path).read()
    rendered = run(path, state="rendered", identity={"source": "generate", "subject_name": "ipo2.example.com"},
                   lines=[{"name": "branch-3", "check_level": "high"}])
    assert helpers.tree_digest(str(path)) == digest
    assert rendered["changed"] is False and rendered["initialised"] is True and rendered["generation"] == 1
    assert [s["step"] for s in rendered["steps"] if s["changed"]] == ["identity", "checks"]
    view = rendered["rendered"]
    assert view["identity"]["action"] == "regenerated"
    assert view["identity"]["certificate"]["subject"] == "CN=ipo2.example.com"
    assert view["lines"] == [{"name": "branch-3", "transport": "websocket_client", "check_level": "high"}]
    # What the options leave alone is shown as the store has it, with its real fingerprint.
    telephony = view["telephony_identity"]["certificate"]
    assert telephony["generated"] is False and telephony["sha256"] == before.telephony.fingerprint
    assert view["internal_ca"]["sha256"] == before.ca.fingerprint
    assert rendered["notes"][0] == "Planned in memory on the store as it is (generation 1); nothing was written."


def test_rendered_contacts_no_scep_server_and_no_preflight_endpoint(tmp_path):
    path = tmp_path / "store"
    run(path, trusted={"certificates": []})
    digest = helpers.tree_digest(str(path))
    with helpers.HostileServer("endless_plain") as scep, helpers.HostileServer("trickle_tls") as endpoint:
        rendered = run(path, state="rendered",
                       scep={"active": True, "server": "127.0.0.1", "port": scep.port, "uri": "/scep", "enroll": True,
                             "ca_fingerprint": "00" * 32},
                       checks={"management_interfaces": "high",
                               "preflight": [{"host": "127.0.0.1", "port": endpoint.port, "setting": "management"}]})
        assert scep.connections == 0 and endpoint.connections == 0
    assert helpers.tree_digest(str(path)) == digest
    notes = " ".join(rendered["notes"])
    assert "no SCEP request was sent" in notes and "would request a certificate (not_scep_issued)" in notes
    assert "no preflight endpoint was contacted" in notes and "raised management" in notes
    assert rendered["rendered"]["checks"]["management_interfaces"] == "high"
    assert rendered["rendered"]["identity"]["source"] == "initial"  # before any enrollment


# ---------------------------------------------------------------------------------------------- overridden


def test_overridden_removes_an_unlisted_entry_and_line_and_check_mode_is_exact(pki, tmp_path):
    path = tmp_path / "store"
    run(path, trusted={"certificates": [{"path": pki.files["root"]}, {"path": pki.files["other"]}]},
        lines=[{"name": "branch-1"}, {"name": "branch-2"}], checks={"management_interfaces": "medium"})
    digest = helpers.tree_digest(str(path))
    ca = store_at(path).read().ca.fingerprint
    wanted = dict(trusted={"certificates": [{"path": pki.files["root"]}]}, lines=[{"name": "branch-1"}],
                  checks={"management_interfaces": "medium"})
    check = run(path, state="overridden", check_mode=True, want_diff=True, **wanted)
    assert check["changed"] is True
    assert helpers.tree_digest(str(path)) == digest
    real = run(path, state="overridden", want_diff=True, **wanted)
    assert real["changed"] is True and real["generation"] == 2
    for result in (check, real):
        assert [item["sha256"] for item in result["trusted"]["removed"]] == [_certs.fingerprint(pki.other)]
        assert result["trusted"]["removed"][0]["by"] == "exclusive"
        assert sorted(result["areas"]) == sorted(_settings.AREAS)
    assert json.dumps(check["diff"]["after"], sort_keys=True) == json.dumps(real["diff"]["after"], sort_keys=True)
    state = store_at(path).read()
    assert sorted(state.trusted) == sorted([_certs.fingerprint(pki.root), ca])  # the internal root CA is kept
    assert state.settings["checks"]["ip_office_lines"] == [{"name": "branch-1", "transport": "websocket_client",
                                                            "check_level": "none"}]
    assert run(path, state="overridden", check_mode=True, **wanted)["changed"] is False
    assert run(path, state="overridden", **wanted)["changed"] is False


def test_overridden_refuses_to_remove_an_entry_in_use(pki, tmp_path):
    path = tmp_path / "store"
    run(path, identity={"source": "import", "certificate_path": pki.files["p12"], "password": P12_PASSWORD},
        trusted={"certificates": [{"path": pki.files["root"]}]})
    digest = helpers.tree_digest(str(path))
    enterprise = _certs.fingerprint(pki.enterprise)
    for check_mode in (True, False):
        with pytest.raises(SecurityError) as info:
            run(path, state="overridden", check_mode=check_mode,
                trusted={"certificates": [{"path": pki.files["root"]}]})
        error = info.value
        assert error.code == "trusted_entry_in_use" and error.option == "trusted.allow_in_use"
        assert [item["sha256"] for item in error.details["in_use"]] == [enterprise]
        assert helpers.tree_digest(str(path)) == digest
    forced = run(path, state="overridden", trusted={"certificates": [{"path": pki.files["root"]}],
                                                    "allow_in_use": True})
    assert forced["changed"] is True and enterprise not in store_at(path).read().trusted
    assert any("although it is in use" in warning for warning in forced["warnings"])


def test_overridden_gives_left_out_settings_their_defaults(pki, tmp_path):
    path = tmp_path / "store"
    run(path, **every_area(pki, "generate"))
    before = store_at(path).read()
    result = run(path, state="overridden", want_diff=True, trusted={"certificates": [{"path": pki.files["root"]},
                                                                                     {"path": pki.files["peer"]}]},
                 checks={"telephony_endpoints": "high", "preflight_mode": "skip"})
    assert result["changed"] is True
    state = store_at(path).read()
    assert state.settings["scep"] == {"active": False, "request_interval": 120, "server": "", "scheme": "http",
                                      "port": None, "uri": "/ejbca/publicweb/apply/scep/pkiclient.exe"}
    assert "scep_password" not in state.secrets and result["diff"]["after"]["scep"]["settings"]["password_set"] is False
    assert state.settings["checks"] == {"certificate_expiry_warning_days": 60, "sip_telephony_certificate": "none",
                                        "management_interfaces": "none", "telephony_endpoints": "high",
                                        "h323_security_level": "high", "sip_security_level": "high",
                                        "ip_office_lines": [], "release": "", "medium_reapplied": False}
    assert state.settings["identity"]["offer_id_certificate_chain"] is True
    # Credentials are never made or removed by leaving them out.
    assert state.identity.fingerprint == before.identity.fingerprint
    assert state.telephony.fingerprint == before.telephony.fingerprint
    assert [s["step"] for s in result["steps"] if s["changed"]] == ["identity", "scep", "trusted_removals", "checks"]


def test_overridden_keeps_the_internal_root_ca_unless_absent_names_it(tmp_path):
    path = tmp_path / "store"
    run(path, identity={"source": "generate", "subject_name": "ipo1.example.com"})  # no longer chains to the CA
    ca = store_at(path).read().ca
    assert run(path, state="overridden", trusted={"certificates": []})["changed"] is False
    assert ca.fingerprint in store_at(path).read().trusted
    removed = run(path, state="overridden", trusted={"absent": [{"sha256": ca.fingerprint}]})
    assert removed["changed"] is True and [r["by"] for r in removed["trusted"]["removed"]] == ["absent"]
    assert store_at(path).read().trusted == {}
    # Once removed it stays removed: overridden never adds it back.
    assert run(path, state="overridden")["changed"] is False
