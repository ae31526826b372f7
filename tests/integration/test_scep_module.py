"""The ipoffice.security.scep module through real ansible-playbook runs against the real scepserver."""

import pytest

import helpers
import scep_servers

# Module results: each test runs twice, in the controller's worker and as a module (tests/conftest.py).
pytestmark = pytest.mark.both_paths


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    helpers.need_tool("scepserver", "apt-get install scep")
    depot = scep_servers.init_depot(str(tmp_path_factory.mktemp("scep-module") / "depot"))
    with scep_servers.scepserver(depot) as running:
        yield running


def base_args(tmp_path, server, **extra):
    args = {"store_path": str(tmp_path / "store"), "system_name": "ipo1.example.com",
            "system_addresses": ["192.0.2.10"], "active": True, "server": "127.0.0.1", "port": server.port,
            "uri": "/scep", "password": scep_servers.CHALLENGE, "enroll": True, "retries": 0,
            "ca_fingerprint": server.ca_fingerprint, "install_ca_certificate": True}
    args.update(extra)
    return args


def test_enroll_check_mode_idempotence_and_diff_without_secrets(tmp_path, server):
    args = base_args(tmp_path, server)
    run = helpers.run_tasks([
        {"name": "predict", "ipoffice.security.scep": args, "check_mode": True},
        {"name": "enroll", "ipoffice.security.scep": args},
        {"name": "again", "ipoffice.security.scep": args},
        {"name": "again in check mode", "ipoffice.security.scep": args, "check_mode": True},
        {"name": "read back", "ipoffice.security.security_info": {"store_path": args["store_path"]}},
    ], tmp_path, diff=True)
    predict, enroll, again, again_check, info = run.results
    assert predict["changed"] is True and predict["status"] == "enrollment_needed", predict
    assert enroll["changed"] is True and enroll["status"] == "issued", enroll
    assert enroll["identity"]["source"] == "scep" and enroll["identity"]["issuer"] == \
        server.ca_cert.subject.rfc4514_string()
    assert enroll["ca"]["sha256"] == server.ca_fingerprint
    assert enroll["diff"]["before"]["identity"]["source"] == "initial"
    assert enroll["diff"]["after"]["identity"]["sha256"] == enroll["identity"]["sha256"]
    assert again["changed"] is False and again["status"] == "current", again
    assert again_check["changed"] is False
    assert info["identity"]["source"] == "scep" and info["settings"]["scep"]["password_set"] is True
    assert server.ca_fingerprint in [t["sha256"] for t in info["trusted"]]
    # The SCEP CA was installed: peers can build the new identity's chain, nothing to warn about.
    assert not [w for w in enroll.get("warnings", []) if "build its chain" in w]
    # The password never appears: not in results, diffs, or the playbook's output.
    assert scep_servers.CHALLENGE not in run.stdout + run.stderr
    assert all(scep_servers.CHALLENGE not in repr(r) for r in run.results[:4])
    # nor anywhere in the store but its 0600 secret file, in any kept generation
    assert helpers.store_secret_leaks(args["store_path"], [scep_servers.CHALLENGE]) == []


def test_enrolling_without_the_ca_in_the_trusted_store_warns_that_peers_cannot_build_the_chain(tmp_path, server):
    args = base_args(tmp_path, server, install_ca_certificate=False)
    enroll = helpers.run_tasks([{"name": "enroll", "ipoffice.security.scep": args}], tmp_path).results[0]
    assert enroll["status"] == "issued", enroll
    warnings = [w for w in enroll["warnings"] if "cannot build its chain" in w]
    assert len(warnings) == 1, enroll["warnings"]
    # Named for its system (run_module), naming the identity, its issuer and what to change.
    assert warnings[0].startswith("ipo1.example.com: The system identity enrolled over SCEP 'CN=ipo1.example.com'")
    assert "issued by '%s'" % server.ca_cert.subject.rfc4514_string() in warnings[0]
    assert "'install_ca_certificate: true'" in warnings[0]


def test_failures_report_a_stable_error_and_change_nothing(tmp_path, server):
    args = base_args(tmp_path, server)
    helpers.run_tasks([{"ipoffice.security.scep": args}], tmp_path)
    digest = helpers.tree_digest(args["store_path"])
    run = helpers.run_tasks([
        {"name": "wrong challenge", "ipoffice.security.scep": dict(args, password="nope", renew_before_days=400)},
        {"name": "wrong pin", "ipoffice.security.scep": dict(args, renew_before_days=400, ca_fingerprint="00" * 32)},
        {"name": "active without server", "ipoffice.security.scep": {
            "store_path": args["store_path"], "active": True, "server": ""}},
        {"name": "interval out of range", "ipoffice.security.scep": {
            "store_path": args["store_path"], "request_interval": 4}},
        {"name": "enroll while inactive", "ipoffice.security.scep": {
            "store_path": args["store_path"], "active": False, "enroll": True}},
    ], tmp_path)
    wrong, pin, no_server, interval, inactive = run.results
    assert wrong["failed"] and wrong["error"] == "scep_failure" and wrong["fail_info"] == "badRequest", wrong
    assert pin["failed"] and pin["error"] == "ca_fingerprint_mismatch", pin
    assert no_server["failed"] and no_server["error"] == "missing_server" and "'server'" in no_server["msg"]
    assert interval["failed"] and interval["error"] == "out_of_range" and "5 to 3600" in interval["msg"]
    assert inactive["failed"] and inactive["error"] == "scep_inactive" and "'active'" in inactive["msg"]
    assert helpers.tree_digest(args["store_path"]) == digest


def test_settings_only_and_update_password(tmp_path):
    store = str(tmp_path / "store")
    common = {"store_path": store, "system_name": "ipo1.example.com", "system_addresses": []}
    run = helpers.run_tasks([
        {"ipoffice.security.scep": dict(common, server="ca.example.com", scheme="https", password="first")},
        {"ipoffice.security.scep": dict(common, server="ca.example.com", scheme="https", password="second",
                                        update_password="on_create")},
        {"ipoffice.security.scep": dict(common, password="second")},
        {"ipoffice.security.scep": dict(common, request_interval=300, active=True)},
    ], tmp_path, diff=True)
    first, on_create, always, activate = run.results
    assert first["changed"] is True and first["settings"]["effective_port"] == 443
    assert first["settings"]["uri"] == "/ejbca/publicweb/apply/scep/pkiclient.exe"
    assert first["status"] == "not_requested"
    assert on_create["changed"] is False  # a password is stored already
    assert always["changed"] is True  # the secret changed; the diff shows only password_set
    assert always["diff"]["before"]["settings"]["password_set"] is True
    assert "second" not in repr(always) and "first" not in repr(first)
    assert activate["changed"] is True and activate["settings"]["active"] is True
    assert activate["settings"]["request_interval"] == 300
    with open(tmp_path / "store" / "current" / "secrets" / "scep_password", "rb") as handle:
        assert handle.read() == b"second"
