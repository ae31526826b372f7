"""ipoffice.security.security_settings through real ansible-playbook runs, with real `openssl s_server`
preflight endpoints on 127.0.0.1: one call, one transaction, an exact plan."""

import json
import os
import subprocess

import pytest

import helpers
import scep_servers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _identity, _settings
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

# Module results: each test runs twice, in the controller's worker and as a module (tests/conftest.py).
pytestmark = pytest.mark.both_paths

SCEP_PASSWORD = "Sc3p-Integration-Secret-93"
P12_PASSWORD = "P12-Integration-Pass-55"
WRONG_PASSWORD = "Not-The-P12-Pass-08"
SYSTEM = {"system_name": "ipo1.example.com", "system_addresses": ["192.0.2.10"]}


def write(path, data):
    path.write_bytes(data)
    return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("pki")
    root_key = _certs.generate_private_key()
    root = _certs.build_certificate("CN=Provider Root CA", root_key, 3650, ca=True)
    peer_key = _certs.generate_private_key()
    peer = _certs.build_certificate("CN=sip.example.test", peer_key, 365,
                                    subject_alt_names=["DNS:sip.example.test", "IP:127.0.0.1", "URI:sip:example.test"],
                                    issuer_cert=root, issuer_key=root_key)
    files = {"root": write(base / "root.pem", _certs.cert_pem(root)),
             "peer": write(base / "peer.pem", _certs.cert_pem(peer)),
             "peer_key": write(base / "peer.key", _certs.key_pem(peer_key)),
             "root_fp": _certs.fingerprint(root), "peer_fp": _certs.fingerprint(peer)}
    for name in ("old", "new"):
        key = _certs.generate_private_key("sha256_ecdsa_p256")
        ca = _certs.build_certificate("CN=Enterprise Root %s" % name.title(), key, 3650, "sha256_ecdsa_p256", ca=True)
        leaf_key = _certs.generate_private_key("sha256_ecdsa_p256")
        leaf = _certs.build_certificate("CN=ipo1.example.com", leaf_key, 700, "sha256_ecdsa_p256",
                                        subject_alt_names=["DNS:ipo1.example.com"], issuer_cert=ca, issuer_key=key)
        files[name + "_root"] = write(base / ("%s-root.pem" % name), _certs.cert_pem(ca))
        files[name + "_root_fp"] = _certs.fingerprint(ca)
        files[name + "_p12"] = write(base / ("%s.p12" % name),
                                     _certs.export_pkcs12("ipo1", leaf_key, leaf, [ca], P12_PASSWORD))
    with helpers.openssl_server(files["peer"], files["peer_key"], files["root"]) as port:
        files["port"] = port
        files["label"] = "127.0.0.1:%d (telephony)" % port
        yield files


def task(store, check_mode=False, **areas):
    args = dict(SYSTEM, store_path=str(store), **areas)
    result = {"ipoffice.security.security_settings": args}
    if check_mode:
        result["check_mode"] = True
    return result


def whole_state(pki, pin=True):
    return dict(
        trusted={"certificates": [{"path": pki["root"]}] + ([{"path": pki["peer"]}] if pin else [])},
        identity={"source": "ca", "subject_name": "ipo1.example.com",
                  "subject_alt_names": ["DNS:ipo1.example.com", "IP:192.0.2.10"]},
        scep={"server": "scep.example.com", "request_interval": 300, "password": SCEP_PASSWORD},
        checks={"telephony_endpoints": "high_remote", "sip_telephony_certificate": "none",
                "preflight": [{"host": "127.0.0.1", "port": pki["port"], "setting": "telephony",
                               "sip_domain": "example.test"}]},
        lines=[{"name": "branch", "check_level": "medium"}],
    )


def generations(store):
    return [g["generation"] for g in DirectoryStore(str(store)).generations()]


def test_one_call_sets_the_whole_state_in_one_generation(pki, tmp_path):
    store = tmp_path / "store"
    areas = whole_state(pki)
    check = helpers.run_tasks([task(store, check_mode=True, **areas)], tmp_path, diff=True,
                              env={"ANSIBLE_VERBOSITY": "3"})
    (predicted,) = check.results
    assert predicted.get("failed") is not True, repr(check)
    assert predicted["changed"] is True
    assert predicted["checks"]["preflight"][0]["passed"] is True  # against the root and pin of this same call
    assert helpers.tree_digest(str(store)) == "absent"

    run = helpers.run_tasks([task(store, **areas), task(store, **areas), task(store, check_mode=True, **areas)],
                            tmp_path, diff=True, env={"ANSIBLE_VERBOSITY": "3"})
    first, again, check_again = run.results
    assert first["changed"] is True and first["generation"] == 1, repr(run)
    assert generations(store) == [1]
    assert [s["step"] for s in first["steps"]] == ["trusted", "identity", "scep", "checks"]
    assert first["checks"]["after"]["telephony_endpoints"] == "high_remote"
    assert first["checks"]["after"]["ip_office_lines"] == [{"name": "branch", "transport": "websocket_client",
                                                            "check_level": "medium"}]
    assert {pki["root_fp"], pki["peer_fp"]} <= set(e["sha256"] for e in first["trusted"]["entries"])
    assert first["scep"]["settings"]["password_set"] is True
    assert again["changed"] is False and check_again["changed"] is False
    assert generations(store) == [1]
    for output in (check.stdout + check.stderr, run.stdout + run.stderr):
        assert SCEP_PASSWORD not in output and "PRIVATE KEY" not in output
    assert "security settings" in run.stdout  # the diff header


def test_a_failing_preflight_names_the_endpoint_and_writes_nothing(pki, tmp_path):
    store = tmp_path / "store"
    areas = whole_state(pki, pin=False)  # not pinned: high_remote refuses the peer
    run = helpers.run_tasks([task(store, check_mode=True, **areas), task(store, **areas)], tmp_path)
    for result in run.results:
        assert result["failed"] is True and result["error"] == "preflight_failed"
        assert result["option"] == "checks.preflight" and result["area"] == "checks"
        assert pki["label"] in result["msg"] and "not_pinned" in result["msg"]
        assert result["failed_endpoints"] == [pki["label"]]
    assert helpers.tree_digest(str(store)) == "absent"


def test_a_late_area_failure_leaves_the_store_byte_identical(pki, tmp_path):
    store = tmp_path / "store"
    helpers.run_tasks([task(store, scep={"server": "old.example.com"})], tmp_path)
    digest = helpers.tree_digest(str(store))
    out_of_range = whole_state(pki)
    out_of_range["checks"]["certificate_expiry_warning_days"] = 365
    wrong_password = whole_state(pki)
    wrong_password["identity"] = {"source": "import", "certificate_path": pki["new_p12"], "password": WRONG_PASSWORD}
    new_store = tmp_path / "new-store"
    run = helpers.run_tasks([task(store, **out_of_range), task(store, **wrong_password),
                             task(new_store, **out_of_range)], tmp_path, env={"ANSIBLE_VERBOSITY": "3"})
    days, password, days_new = run.results
    for result in (days, days_new):
        assert result["failed"] is True and result["error"] == "out_of_range"
        assert result["option"] == "checks.certificate_expiry_warning_days"
        assert "'checks.certificate_expiry_warning_days'" in result["msg"]
    assert password["failed"] is True and password["error"] == "wrong_password"
    assert password["option"] == "identity.password" and password["area"] == "identity"
    assert WRONG_PASSWORD not in run.stdout + run.stderr and SCEP_PASSWORD not in run.stdout + run.stderr
    assert helpers.tree_digest(str(store)) == digest
    assert helpers.tree_digest(str(new_store)) == "absent"


def test_a_root_rotation_in_one_call(pki, tmp_path):
    store = tmp_path / "store"
    start = task(store, trusted={"certificates": [{"path": pki["old_root"]}]},
                 identity={"source": "import", "certificate_path": pki["old_p12"], "password": P12_PASSWORD})
    rotation = dict(trusted={"certificates": [{"path": pki["new_root"]}], "absent": [{"sha256": pki["old_root_fp"]}]},
                    identity={"source": "import", "certificate_path": pki["new_p12"], "password": P12_PASSWORD})
    helpers.run_tasks([start], tmp_path)
    digest = helpers.tree_digest(str(store))
    check = helpers.run_tasks([task(store, check_mode=True, **rotation)], tmp_path)
    (predicted,) = check.results
    assert predicted["changed"] is True and predicted.get("warnings", []) == []
    assert "[WARNING]" not in check.stdout + check.stderr, repr(check)
    assert helpers.tree_digest(str(store)) == digest
    run = helpers.run_tasks([task(store, **rotation), task(store, **rotation)], tmp_path)
    done, again = run.results
    assert done["changed"] is True and "[WARNING]" not in run.stdout + run.stderr, repr(run)
    assert (done["trusted"]["removed"][0]["sha256"], done["trusted"]["removed"][0]["needed_by"]) == \
        (pki["old_root_fp"], [])
    assert again["changed"] is False
    assert generations(store) == [2, 1]
    state = DirectoryStore(str(store)).read()
    assert pki["old_root_fp"] not in state.trusted and pki["new_root_fp"] in state.trusted
    assert [_certs.fingerprint(c) for c in state.chain_for(state.identity)] == [pki["new_root_fp"]]


def test_ansible_doc_documents_every_option():
    command = [os.path.join(helpers.VENV_BIN, "ansible-doc"), "--json", "ipoffice.security.security_settings"]
    out = subprocess.run(command, capture_output=True, text=True, env=helpers.ansible_env(), check=True, timeout=120)
    doc = json.loads(out.stdout)["ipoffice.security.security_settings"]["doc"]
    from ansible_collections.ipoffice.security.plugins.module_utils import _specs

    def compare(documented, spec, where):
        assert sorted(documented) == sorted(spec), where
        for name, entry in spec.items():
            assert documented[name].get("description"), "%s.%s has no description" % (where, name)
            if "options" in entry:
                compare(documented[name]["suboptions"], entry["options"], "%s.%s" % (where, name))

    compare(doc["options"], _specs.security_settings_spec(), "security_settings")


# ------------------------------------------------------------------ SCEP enrollment in the same transaction


@pytest.fixture(scope="module")
def scep_server(tmp_path_factory):
    depot = scep_servers.init_depot(str(tmp_path_factory.mktemp("scep") / "depot"))
    with scep_servers.scepserver(depot) as running:
        yield running


def settings_params(store, **areas):
    params = dict(SYSTEM, store_path=str(store), platform=None, lock_timeout=60)
    for area in _settings.AREAS:
        params[area] = areas.get(area)
    return params


def scep_area(port, **extra):
    area = dict(active=True, server="127.0.0.1", port=port, uri="/scep", password=scep_servers.CHALLENGE,
                enroll=True, retries=0)
    area.update(extra)
    return area


class RacingStore(DirectoryStore):
    """Another writer changes the store between this run's plan (read outside the lock) and its update."""

    def __init__(self, path, other):
        super().__init__(path, **SYSTEM)
        self.other = other

    def update(self, mutate, check_mode=False, start=None):
        other, self.other = self.other, None
        if other is not None:
            other(DirectoryStore(self.path))
        return super().update(mutate, check_mode=check_mode, start=start)


def test_scep_enrollment_and_the_rest_in_one_generation(scep_server, tmp_path):
    store = tmp_path / "store"
    areas = dict(scep=scep_area(scep_server.port, install_ca_certificate=True),
                 checks={"certificate_expiry_warning_days": 90})
    check = _settings.run(DirectoryStore(str(store), **SYSTEM), settings_params(store, **areas), check_mode=True)
    assert check["changed"] is True and check["scep"]["status"] == "enrollment_needed"
    assert helpers.tree_digest(str(store)) == "absent"
    done = _settings.run(DirectoryStore(str(store), **SYSTEM), settings_params(store, **areas))
    assert done["changed"] is True and done["scep"]["status"] == "issued" and done["generation"] == 1
    assert generations(store) == [1]
    state = DirectoryStore(str(store)).read()
    assert state.identity.meta["source"] == "scep" and scep_server.ca_fingerprint in state.trusted
    assert state.settings["checks"]["certificate_expiry_warning_days"] == 90
    again = _settings.run(DirectoryStore(str(store), **SYSTEM), settings_params(store, **areas))
    assert again["changed"] is False and again["scep"]["status"] == "current" and generations(store) == [1]


def test_a_certificate_for_an_identity_replaced_meanwhile_is_not_installed(scep_server, tmp_path):
    store = tmp_path / "store"
    _settings.run(DirectoryStore(str(store), **SYSTEM), settings_params(store, scep={"server": "127.0.0.1"}))
    replaced = {}

    def other_writer(other):  # replaces the identity while this run talks to the SCEP server
        update = other.update(lambda state: _identity.apply_identity(
            state, _identity.identity_request({"purpose": "system", "source": "generate"})))
        replaced["digest"] = helpers.tree_digest(str(store))
        replaced["identity"] = update.after.identity.fingerprint

    areas = dict(scep=scep_area(scep_server.port), checks={"management_interfaces": "low"})
    with pytest.raises(SecurityError) as info:
        _settings.run(RacingStore(str(store), other_writer), settings_params(store, **areas))
    assert info.value.code == "concurrent_change" and info.value.option == "store_path"
    assert info.value.details["area"] == "scep"
    # Only the other writer's generation: nothing of this run was written.
    assert helpers.tree_digest(str(store)) == replaced["digest"] and generations(store) == [2, 1]
    assert DirectoryStore(str(store)).read().identity.fingerprint == replaced["identity"]


def test_a_rejected_pending_transaction_fails_the_run_and_writes_nothing(tmp_path):
    responder = scep_servers.PendingResponder(fail_polls=True)
    store = tmp_path / "store"
    with responder.serve() as port:
        areas = dict(scep=scep_area(port, password="pw"))
        pending = _settings.run(DirectoryStore(str(store), **SYSTEM), settings_params(store, **areas))
        assert pending["scep"]["status"] == "pending" and pending["changed"] is True
        digest = helpers.tree_digest(str(store))
        with pytest.raises(SecurityError) as info:
            _settings.run(DirectoryStore(str(store), **SYSTEM),
                          settings_params(store, checks={"certificate_expiry_warning_days": 120}, **areas))
    assert info.value.code == "scep_failure" and info.value.details["fail_info"] == "badCertID"
    assert "Nothing was changed" in info.value.message and "discarded" not in info.value.message
    assert helpers.tree_digest(str(store)) == digest
