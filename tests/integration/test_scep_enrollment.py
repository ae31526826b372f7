"""SCEP enrollment through the core (_scep_settings.converge) against real local servers.

The real server is Debian's ``scepserver`` (micromdm/scep); the EJBCA default URI is proven through a
path-rewriting proxy (HTTP and HTTPS); the pending/poll path through a PENDING responder of our own.
"""

import base64
import os
import stat

import pytest

import helpers
import scep_servers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _scep, _scep_settings
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore


@pytest.fixture(scope="module")
def depot(tmp_path_factory):
    helpers.need_tool("scepserver", "apt-get install scep")
    return scep_servers.init_depot(str(tmp_path_factory.mktemp("scep") / "depot"))


@pytest.fixture(scope="module")
def server(depot):
    with scep_servers.scepserver(depot) as running:
        yield running


PENDING_PASSWORD = "Pending-Challenge-9f3e1c07"


def new_store(tmp_path, name="store"):
    return DirectoryStore(str(tmp_path / name), system_name="ipo1.example.com", system_addresses=["192.0.2.10"])


def params_for(server, **extra):
    params = dict(active=True, server="127.0.0.1", port=server.port, uri="/scep", password=scep_servers.CHALLENGE,
                  enroll=True, retries=0)
    params.update(extra)
    return params


def enrolled(tmp_path, server, **extra):
    store = new_store(tmp_path)
    result = _scep_settings.converge(store, params_for(server, **extra))
    assert result["status"] == "issued", result
    return store, result


def test_first_enrollment_installs_a_scep_identity_that_chains_to_the_ca(tmp_path, server):
    store, result = enrolled(tmp_path, server, ca_fingerprint=server.ca_fingerprint.upper().replace(":", ""),
                             install_ca_certificate=True)
    assert result["changed"] is True and result["reason"] == "not_scep_issued"
    state = store.read()
    identity = state.identity
    assert identity.meta["source"] == "scep"
    assert identity.cert.issuer == server.ca_cert.subject
    assert _certs.is_issued_by(identity.cert, server.ca_cert)
    assert _certs.key_matches(identity.cert, identity.key)
    assert _certs.subject_alt_names(identity.cert) == ["DNS:ipo1.example.com", "IP:192.0.2.10"]
    assert identity.meta["scep_transaction_id"] == _scep.transaction_id_for(identity.key)
    # install_ca_certificate put the SCEP CA in the TCS, so the identity's chain reaches it.
    assert server.ca_fingerprint in state.trusted
    assert state.chain_for(identity) == [server.ca_cert]
    # The key and the SCEP password are 0600 secrets; settings.json never holds the password.
    current = store.current_path()
    for path in ("identity/key.pem", "secrets/scep_password"):
        assert stat.S_IMODE(os.stat(os.path.join(current, path)).st_mode) == 0o600
    with open(os.path.join(current, "secrets", "scep_password"), "rb") as handle:
        assert handle.read() == scep_servers.CHALLENGE.encode()
    with open(os.path.join(current, "settings.json"), "rb") as handle:
        assert scep_servers.CHALLENGE.encode() not in handle.read()
    assert result["settings"]["password_set"] is True and "password" not in result["settings"]
    assert scep_servers.CHALLENGE not in repr(result)
    assert helpers.store_secret_leaks(store.path, [scep_servers.CHALLENGE]) == []


def test_enrolled_identity_passes_the_check_engine_at_medium_for_client(tmp_path, server):
    try:
        from ansible_collections.ipoffice.security.plugins.module_utils._checks import evaluate
    except ImportError:
        evaluate = None
    helpers.need(evaluate is not None, "the check engine (_checks.py) is not in this checkout yet")
    store, _result = enrolled(tmp_path, server)
    identity = store.read().identity
    report = evaluate(identity.cert, level="medium", purpose="client", chain=(), trusted=[server.ca_cert])
    assert report.passed, report.findings
    # The same certificate is refused without the SCEP CA as trust anchor: the chain check is real.
    assert not evaluate(identity.cert, level="medium", purpose="client", chain=(), trusted=[]).passed


def test_second_run_is_idempotent_and_writes_nothing(tmp_path, server):
    store, first = enrolled(tmp_path, server)
    digest = helpers.tree_digest(store.path)
    second = _scep_settings.converge(store, params_for(server))
    assert second["changed"] is False and second["status"] == "current" and second["reason"] is None
    assert second["identity"]["sha256"] == first["identity"]["sha256"]
    check = _scep_settings.converge(store, params_for(server), check_mode=True)
    assert check["changed"] is False
    assert helpers.tree_digest(store.path) == digest


@pytest.mark.parametrize("renewal_message", ["pkcsreq", "renewalreq"])
def test_renewal_inside_the_window_replaces_key_and_certificate(tmp_path, server, renewal_message):
    store, first = enrolled(tmp_path, server)
    old = store.read().identity
    # Check mode predicts the renewal and writes nothing.
    digest = helpers.tree_digest(store.path)
    check = _scep_settings.converge(store, params_for(server, renew_before_days=400), check_mode=True)
    assert check["changed"] is True and check["status"] == "enrollment_needed" and check["reason"] == "renewal_window"
    assert helpers.tree_digest(store.path) == digest
    renewed = _scep_settings.converge(store, params_for(server, renew_before_days=400,
                                                        renewal_message=renewal_message))
    assert renewed["changed"] is True and renewed["status"] == "issued" and renewed["reason"] == "renewal_window"
    new = store.read().identity
    assert new.fingerprint != old.fingerprint
    assert _certs.public_key_der(new.key) != _certs.public_key_der(old.key)
    assert new.meta["source"] == "scep" and _certs.is_issued_by(new.cert, server.ca_cert)
    # Outside the window again: nothing to do.
    assert _scep_settings.converge(store, params_for(server))["changed"] is False


def test_wrong_challenge_password_fails_clearly_and_leaves_the_store_byte_identical(tmp_path, server):
    store, _first = enrolled(tmp_path, server)
    digest = helpers.tree_digest(store.path)
    with pytest.raises(SecurityError) as caught:
        _scep_settings.converge(store, params_for(server, password="not-the-challenge", renew_before_days=400))
    error = caught.value
    assert error.code == "scep_failure" and error.details["fail_info"] == "badRequest"
    assert "badRequest" in error.message and "'password'" in error.message and error.option == "password"
    assert "not-the-challenge" not in error.message
    assert helpers.tree_digest(store.path) == digest


def test_wrong_challenge_on_a_new_store_creates_nothing(tmp_path, server):
    store = new_store(tmp_path)
    with pytest.raises(SecurityError) as caught:
        _scep_settings.converge(store, params_for(server, password="wrong"))
    assert caught.value.code == "scep_failure"
    assert helpers.tree_digest(store.path) == "absent"


def test_server_down_is_a_clear_error_and_changes_nothing(tmp_path, server):
    store, _first = enrolled(tmp_path, server)
    digest = helpers.tree_digest(store.path)
    port = helpers.free_port()  # nothing listens there
    with pytest.raises(SecurityError) as caught:
        _scep_settings.converge(store, params_for(server, port=port, renew_before_days=400, retries=1))
    error = caught.value
    assert error.code == "scep_unreachable" and error.option == "server"
    assert "127.0.0.1:%d" % port in error.message and "2 attempts" in error.message
    assert helpers.tree_digest(store.path) == digest


def test_ca_fingerprint_mismatch_is_refused_before_any_request(tmp_path, server):
    store, _first = enrolled(tmp_path, server)
    digest = helpers.tree_digest(store.path)
    wrong = "ab" * 32
    for check_mode in (True, False):
        with pytest.raises(SecurityError) as caught:
            _scep_settings.converge(store, params_for(server, renew_before_days=400, ca_fingerprint=wrong),
                                    check_mode=check_mode)
        assert caught.value.code == "ca_fingerprint_mismatch" and caught.value.option == "ca_fingerprint"
        assert server.ca_fingerprint in caught.value.message
    assert helpers.tree_digest(store.path) == digest


def test_default_ejbca_uri_works_through_a_path_rewriting_proxy(tmp_path, server):
    store = new_store(tmp_path)
    direct = params_for(server)
    del direct["uri"]  # the default: /ejbca/publicweb/apply/scep/pkiclient.exe
    with pytest.raises(SecurityError) as caught:  # scepserver itself only serves /scep
        _scep_settings.converge(store, direct)
    assert caught.value.code == "scep_http_error" and caught.value.details["http_status"] == 404
    assert helpers.tree_digest(store.path) == "absent"
    with scep_servers.rewriting_proxy(server.port) as proxy:
        result = _scep_settings.converge(store, dict(direct, port=proxy.server_address[1]))
    assert result["status"] == "issued"
    assert result["settings"]["uri"] == "/ejbca/publicweb/apply/scep/pkiclient.exe"
    assert ("POST", "/ejbca/publicweb/apply/scep/pkiclient.exe") in proxy.seen
    assert _certs.is_issued_by(store.read().identity.cert, server.ca_cert)


def test_https_verifies_the_server_against_ca_file_or_the_trusted_store(tmp_path, server):
    tls = scep_servers.TlsFiles(str(tmp_path / "tls"))
    store = new_store(tmp_path)
    with scep_servers.rewriting_proxy(server.port, tls=tls) as proxy:
        params = params_for(server, scheme="https", port=proxy.server_address[1])
        del params["uri"]
        # The store's TCS (the internal root CA) does not trust the proxy's CA: refused, nothing written.
        with pytest.raises(SecurityError) as caught:
            _scep_settings.converge(store, params)
        assert caught.value.code == "scep_tls_error" and caught.value.option == "ca_file"
        assert helpers.tree_digest(store.path) == "absent"
        result = _scep_settings.converge(store, dict(params, ca_file=tls.ca_file))
    assert result["status"] == "issued" and result["settings"]["effective_port"] == proxy.server_address[1]
    assert result["server_url"].startswith("https://127.0.0.1:")


def test_pending_is_saved_then_polled_to_success(tmp_path):
    responder = scep_servers.PendingResponder(polls_before_issue=2)
    store = new_store(tmp_path)
    with responder.serve() as port:
        params = dict(active=True, server="127.0.0.1", port=port, uri="/scep", password=PENDING_PASSWORD,
                      enroll=True, request_interval=5, retries=0)
        first = _scep_settings.converge(store, params)
        assert first["changed"] is True and first["status"] == "pending"
        # the pending request keeps what a poll needs, not the CSR with the challenge password in it
        assert helpers.store_secret_leaks(store.path, [PENDING_PASSWORD]) == []
        assert "request" not in store.read().data["scep_pending"]
        state = store.read()
        pending = state.data["scep_pending"]
        assert pending["transaction_id"] == first["transaction_id"]
        assert state.identity.meta["source"] == "initial"  # the old identity stays until issued
        key_file = os.path.join(store.current_path(), "secrets", "scep_pending_key")
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        assert _scep.transaction_id_for(_certs.load_private_key(state.secrets["scep_pending_key"])) == \
            first["transaction_id"]
        # Resuming with no wait: one poll, still pending, nothing to write.
        digest = helpers.tree_digest(store.path)
        again = _scep_settings.converge(store, params)
        assert again["changed"] is False and again["status"] == "pending" and again["reason"] == "pending"
        assert helpers.tree_digest(store.path) == digest
        # Waiting: polls every request_interval until issued (sleep recorded, not slept).
        slept = []
        done = _scep_settings.converge(store, dict(params, wait_timeout=60), sleep=slept.append)
    assert done["changed"] is True and done["status"] == "issued" and done["transaction_id"] == first["transaction_id"]
    assert slept == []  # the second poll of this run issued; no sleep was needed
    assert [m[0] for m in responder.messages] == ["PKCSReq", "CertPoll", "CertPoll"]
    assert set(m[1] for m in responder.messages) == {first["transaction_id"]}
    state = store.read()
    assert "scep_pending" not in state.data and "scep_pending_key" not in state.secrets
    assert state.identity.meta["source"] == "scep"
    assert _certs.is_issued_by(state.identity.cert, responder.ca_cert)
    # The installed key is the one generated (and saved) for the pending transaction.
    assert _scep.transaction_id_for(state.identity.key) == first["transaction_id"]
    assert helpers.store_secret_leaks(store.path, [PENDING_PASSWORD]) == []  # every kept generation


def test_pending_request_saved_by_an_earlier_version_loses_its_csr(tmp_path):
    responder = scep_servers.PendingResponder(polls_before_issue=5)
    store = new_store(tmp_path)
    with responder.serve() as port:
        params = dict(active=True, server="127.0.0.1", port=port, uri="/scep", password=PENDING_PASSWORD,
                      enroll=True, retries=0)
        assert _scep_settings.converge(store, params)["status"] == "pending"

        def plant(state):  # what earlier versions saved: the CSR, challenge inside, base64 in settings.json
            state.data["scep_pending"]["request"] = base64.b64encode(b"\x0c\x1a" + PENDING_PASSWORD.encode()).decode()
        store.update(plant)
        assert helpers.store_secret_leaks(store.path, [PENDING_PASSWORD])
        again = _scep_settings.converge(store, params)
    assert again["status"] == "pending" and again["changed"] is True
    assert "request" not in store.read().data["scep_pending"]
    assert helpers.store_secret_leaks(store.current_path(), [PENDING_PASSWORD]) == []


def test_pending_waits_request_interval_between_polls(tmp_path):
    responder = scep_servers.PendingResponder(polls_before_issue=3)
    store = new_store(tmp_path)
    slept = []

    with responder.serve() as port:
        params = dict(active=True, server="127.0.0.1", port=port, uri="/scep", password="pw", enroll=True,
                      request_interval=7, wait_timeout=30, retries=0)
        result = _scep_settings.converge(store, params, sleep=slept.append)
    assert result["status"] == "issued"
    assert slept == [7, 7, 7]  # 3 polls after the PKCSReq; a 4th sleep would exceed wait_timeout 30
    assert [m[0] for m in responder.messages] == ["PKCSReq", "CertPoll", "CertPoll", "CertPoll"]


def test_pending_then_failure_discards_the_transaction(tmp_path):
    responder = scep_servers.PendingResponder(fail_polls=True)
    store = new_store(tmp_path)
    with responder.serve() as port:
        params = dict(active=True, server="127.0.0.1", port=port, uri="/scep", password=PENDING_PASSWORD,
                      enroll=True, retries=0)
        assert _scep_settings.converge(store, params)["status"] == "pending"
        assert helpers.store_secret_leaks(store.path, [PENDING_PASSWORD]) == []
        with pytest.raises(SecurityError) as caught:
            _scep_settings.converge(store, params)
    assert caught.value.code == "scep_failure" and caught.value.details["fail_info"] == "badCertID"
    assert "discarded" in caught.value.message
    state = store.read()
    assert "scep_pending" not in state.data and "scep_pending_key" not in state.secrets
    assert state.identity.meta["source"] == "initial"


def test_check_mode_sends_no_request_and_writes_nothing(tmp_path):
    responder = scep_servers.PendingResponder()
    store = new_store(tmp_path)
    store.update(lambda state: None)
    digest = helpers.tree_digest(store.path)
    with responder.serve() as port:
        params = dict(active=True, server="127.0.0.1", port=port, uri="/scep", password="pw", enroll=True)
        result = _scep_settings.converge(store, params, check_mode=True)
        assert result["changed"] is True and result["status"] == "enrollment_needed"
        assert responder.messages == []
        pinned = _scep_settings.converge(store, dict(params, ca_fingerprint=responder.ca_fingerprint), check_mode=True)
        assert pinned["status"] == "enrollment_needed" and pinned["ca"]["sha256"] == responder.ca_fingerprint
        assert responder.messages == []
    assert helpers.tree_digest(store.path) == digest


def test_3des_only_server_and_get_requests(tmp_path):
    responder = scep_servers.PendingResponder(polls_before_issue=1, caps=("SHA-1", "DES3"),
                                              reply_cipher="tripledes_3key")
    store = new_store(tmp_path)
    with responder.serve() as port:
        params = dict(active=True, server="127.0.0.1", port=port, uri="/scep", password="pw", enroll=True,
                      retries=0, wait_timeout=5, request_interval=5)
        result = _scep_settings.converge(store, params, sleep=lambda s: None)
    assert result["status"] == "issued"
    # No POSTPKIOperation advertised: PKIOperation goes as GET; SHA-1/3DES is what the CA offers.
    assert responder.methods == ["GET", "GET"]
    assert responder.algorithms == [("sha1", "tripledes_3key")] * 2


def test_poll_gives_up_after_wait_timeout(tmp_path):
    responder = scep_servers.PendingResponder(polls_before_issue=10)
    store = new_store(tmp_path)
    slept = []
    with responder.serve() as port:
        params = dict(active=True, server="127.0.0.1", port=port, uri="/scep", password="pw", enroll=True,
                      request_interval=5, wait_timeout=12, retries=0)
        result = _scep_settings.converge(store, params, sleep=slept.append)
    assert result["status"] == "pending" and slept == [5, 5]


def test_identity_changed_by_another_writer_meanwhile_is_not_overwritten(tmp_path):
    """Network I/O runs outside the lock; the install re-checks that nobody changed the identity."""
    from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential

    responder = scep_servers.PendingResponder(polls_before_issue=1)
    store = new_store(tmp_path)
    store.update(lambda state: None)

    def other_writer(_seconds):  # runs while the module waits between polls
        def replace_identity(state):
            key = _certs.generate_private_key()
            cert = _certs.build_certificate("other.example.com", key, 30, issuer_cert=state.ca.cert,
                                            issuer_key=state.ca.key)
            state.identity = Credential(cert, key, {"source": "import"})
        store.update(replace_identity)

    with responder.serve() as port:
        params = dict(active=True, server="127.0.0.1", port=port, uri="/scep", password="pw", enroll=True,
                      request_interval=5, wait_timeout=5, retries=0)
        with pytest.raises(SecurityError) as caught:
            _scep_settings.converge(store, params, sleep=other_writer)
    assert caught.value.code == "concurrent_change"
    assert store.read().identity.meta["source"] == "import"
