"""Every network exchange is bounded as a whole: an overall deadline and a size cap.

Hostile servers on 127.0.0.1 (tests/helpers.HostileServer): endless plain and chunked bodies, a 1 GB
announced length, bytes trickled into the body, the headers or a TLS handshake.  Each exchange must fail
with its stable code, naming the server, the limit and the option, long before the test's bound (the
servers never stop on their own: without the limits the call would run until the bound).
"""

import pytest

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _scep, _tls, _verify
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError

BOUND = 40  # seconds the test waits before calling a call stuck (limits below are 2 s)


@pytest.mark.parametrize("behaviour,limit_words,option", [
    ("endless_plain", "1048576 bytes", "server"),
    ("endless_chunked", "1048576 bytes", "server"),
    ("huge_length", "1048576 bytes", "server"),
    ("trickle_body", "within 2 seconds", "timeout"),
    ("trickle_headers", "within 2 seconds", "timeout"),
])
def test_scep_reply_is_bounded_in_time_and_size(behaviour, limit_words, option):
    with helpers.HostileServer(behaviour) as server:
        transport = _scep.Transport(server.url, timeout=2, retries=2, sleep=lambda _s: None)
        (kind, exc), elapsed = helpers.bounded_call(lambda: transport.request("GetCACert"), BOUND)
        transport.close()
    assert kind == "raised", (kind, exc, elapsed)
    assert isinstance(exc, SecurityError), repr(exc)
    assert exc.code == "scep_unreachable" and exc.option == option, exc.message
    assert server.url in exc.message and limit_words in exc.message and "'%s'" % option in exc.message
    assert server.connections == 1  # a broken limit is final: not retried
    assert _scep.MAX_REPLY_BYTES == 1024 * 1024


def test_scep_client_over_an_endless_server_fails_with_the_code():
    with helpers.HostileServer("endless_chunked") as server:
        client = _scep.Client(server.url, timeout=2, retries=0)
        (kind, exc), _elapsed = helpers.bounded_call(client.get_ca_cert, BOUND)
        client.close()
    assert kind == "raised" and isinstance(exc, SecurityError) and exc.code == "scep_unreachable", (kind, exc)


def test_tls_handshake_trickle_is_cut_at_the_deadline():
    with helpers.HostileServer("trickle_tls", interval=0.2) as server:
        (kind, exc), _elapsed = helpers.bounded_call(
            lambda: _tls.fetch_chain("127.0.0.1", server.port, timeout=2), BOUND)
    assert kind == "raised", (kind, exc)
    assert isinstance(exc, SecurityError) and exc.code == "endpoint_timeout", repr(exc)
    assert "127.0.0.1:%d" % server.port in exc.message and "2 seconds" in exc.message
    assert exc.option == "endpoint.timeout" and "'endpoint.timeout'" in exc.message


def test_certificate_verify_endpoint_trickle_is_bounded(tmp_path):
    from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore
    store = DirectoryStore(str(tmp_path / "store"), system_name="ipo1.example.com", system_addresses=[])
    with helpers.HostileServer("trickle_tls", interval=0.2) as server:
        params = {"endpoint": {"host": "127.0.0.1", "port": server.port, "timeout": 2}, "level": "low",
                  "trusted": []}
        (kind, exc), _elapsed = helpers.bounded_call(lambda: _verify.verify(params, store), BOUND)
    assert kind == "raised" and isinstance(exc, SecurityError) and exc.code == "endpoint_timeout", (kind, exc)


def test_preflight_and_live_read_back_over_a_trickling_endpoint_are_bounded():
    from ansible_collections.ipoffice.security.plugins.module_utils import _checks_settings, _live
    from ansible_collections.ipoffice.security.plugins.module_utils._store import initial_state
    state = initial_state("server", "ipo1.example.com", [])
    with helpers.HostileServer("trickle_tls", interval=0.2) as server:
        endpoint = {"host": "127.0.0.1", "port": server.port, "setting": "management", "purpose": "server",
                    "server_name": None, "peer_name": None, "sip_domain": None, "timeout": 2}
        (kind, preflight), _elapsed = helpers.bounded_call(
            lambda: _checks_settings.evaluate_endpoint(state, endpoint, "low"), BOUND)
        assert kind == "ok", (kind, preflight)
        assert preflight["passed"] is False and preflight["codes"] == ["endpoint_unreachable"], preflight
        assert preflight["findings"][0]["reason"] == "endpoint_timeout", preflight
        live_endpoint = _live.validate_endpoints([{"host": "127.0.0.1", "port": server.port,
                                                   "serves": "management"}])[0]
        (kind, live), _elapsed = helpers.bounded_call(lambda: _live.read_back(state, live_endpoint, timeout=2), BOUND)
    assert kind == "ok", (kind, live)
    assert [f["code"] for f in live["findings"]] == ["live_unreachable"], live
