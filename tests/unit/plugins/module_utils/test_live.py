"""_live: endpoint validation, which identity an endpoint must serve, and read-back of the telephony
identity from a real `openssl s_server`."""

import pytest

import helpers
from test_identity_fixtures import ADDRESSES, NAME

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _live
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, initial_state


@pytest.fixture(scope="module")
def state():
    """A server-platform system with a separate telephony identity signed by its CA, used for SIP trunks."""
    state = initial_state("server", NAME, ADDRESSES)
    key = _certs.generate_private_key()
    cert = _certs.build_certificate("sip." + NAME, key, 700, subject_alt_names=["DNS:sip." + NAME],
                                    issuer_cert=state.ca.cert, issuer_key=state.ca.key)
    state.telephony = Credential(cert, key, {"source": "ca"})
    state.settings["checks"]["sip_telephony_certificate"] = "sip_trunks"
    state.settings["checks"]["ip_office_lines"] = [{"name": "HQ", "transport": "websocket_client",
                                                    "check_level": "medium"}]
    return state


@pytest.mark.parametrize("item, option, code", [
    ({"host": "", "port": 443, "serves": "management"}, "live_endpoints[0].host", "missing_option"),
    ({"host": "h", "port": 0, "serves": "management"}, "live_endpoints[0].port", "out_of_range"),
    ({"host": "h", "port": "x", "serves": "management"}, "live_endpoints[0].port", "invalid_setting"),
    ({"host": "h", "port": 443, "serves": "line:"}, "live_endpoints[0].serves", "invalid_choice"),
    ({"host": "h", "port": 443, "serves": "sip"}, "live_endpoints[0].serves", "invalid_choice"),
    ({"host": "h", "port": 443, "serves": "management", "level": "high"}, "live_endpoints[0]", "unknown_setting"),
    ("h:443", "live_endpoints[0]", "invalid_setting"),
])
def test_bad_endpoints_name_the_option(item, option, code):
    with pytest.raises(SecurityError) as info:
        _live.validate_endpoints([item])
    assert info.value.code == code and info.value.option == option


def test_endpoints_are_canonical():
    # The one endpoint item (_endpoints.resolve): a telephony endpoint defaults to port 5061 and sip_server.
    assert _live.validate_endpoints([{"host": " ipo1 ", "port": "5061", "serves": "telephony"}]) == [
        {"host": "ipo1", "port": 5061, "server_name": None, "peer_name": None, "sip_domain": None,
         "purpose": "sip_server", "timeout": 10.0, "serves": "telephony", "probe": False}]
    assert _live.validate_endpoints([{"host": "ipo1", "serves": "line:HQ", "timeout": 3}], timeout=5)[0] == {
        "host": "ipo1", "port": 443, "server_name": None, "peer_name": None, "sip_domain": None,
        "purpose": "server", "timeout": 3.0, "serves": "line:HQ", "probe": False}
    assert _live.validate_timeout(None) == _live._tls.DEFAULT_TIMEOUT
    with pytest.raises(SecurityError):
        _live.validate_timeout(-1)


def test_which_identity_an_endpoint_must_serve(state):
    assert _live.expected_credential(state, "management")[0] == "identity"
    assert _live.expected_credential(state, "line:HQ")[0] == "identity"
    assert _live.expected_credential(state, "telephony") == ("telephony", state.telephony)
    plain = state.copy()
    plain.settings["checks"]["sip_telephony_certificate"] = "none"  # the telephony identity is not in use
    assert _live.expected_credential(plain, "telephony") == ("identity", plain.identity)


def test_a_line_endpoint_must_name_a_line_of_the_store(state):
    _live.check_lines(state, _live.validate_endpoints([{"host": "h", "port": 443, "serves": "line:HQ"}]))
    with pytest.raises(SecurityError) as info:
        _live.check_lines(state, _live.validate_endpoints([{"host": "h", "port": 443, "serves": "line:Branch"}]))
    assert info.value.code == "unknown_line" and "HQ" in info.value.message


def test_telephony_endpoint_is_compared_with_the_telephony_identity(tmp_path, state):
    chain = state.offered_chain(state.telephony)
    cert = tmp_path / "sip.pem"
    cert.write_bytes(_certs.cert_pem(state.telephony.cert))
    key = tmp_path / "sip.key"
    key.write_bytes(_certs.key_pem(state.telephony.key))
    rest = tmp_path / "rest.pem"
    rest.write_bytes(_certs.certs_pem(chain[1:]))
    with helpers.openssl_server(str(cert), str(key), chain_file=str(rest)) as port:
        endpoints = _live.validate_endpoints([
            {"host": "127.0.0.1", "port": port, "serves": "telephony", "server_name": "sip." + NAME},
            {"host": "127.0.0.1", "port": port, "serves": "management"}])
        telephony, management = _live.read_back_all(state, endpoints, timeout=5)
    assert telephony["live"]["expected"] == "telephony"
    assert telephony["live"]["identity_matches"] and telephony["live"]["chain_matches"]
    assert telephony["live"]["checks"]["medium"]["passed"]  # sip_server: serverAuth fits
    assert telephony["live"]["checks"]["high_remote"]["peer_name"] == "sip." + NAME
    assert "name_mismatch" not in telephony["live"]["checks"]["high_remote"]["codes"]
    # The same server read as a management endpoint serves the wrong certificate there.
    (mismatch,) = [f for f in management["findings"] if f["code"] == "live_identity_mismatch"]
    assert mismatch["expected_sha256"] == state.identity.fingerprint
    assert mismatch["presented_sha256"] == state.telephony.fingerprint
    # high_remote as the system's name: the telephony certificate does not carry it.
    assert "name_mismatch" in management["live"]["checks"]["high_remote"]["codes"]


def test_silent_and_plain_text_endpoints_are_unreachable(state):
    """A port that accepts TCP but never answers (bounded by the timeout), and one that speaks plain text."""
    import socket
    import threading

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # the kernel completes the TCP handshake; nobody ever reads or writes
    plain = socket.socket()
    plain.bind(("127.0.0.1", 0))
    plain.listen(1)

    def answer():
        conn, _addr = plain.accept()
        conn.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        endpoints = _live.validate_endpoints([
            {"host": "127.0.0.1", "port": silent.getsockname()[1], "serves": "management"},
            {"host": "127.0.0.1", "port": plain.getsockname()[1], "serves": "management"}])
        quiet, text = _live.read_back_all(state, endpoints, timeout=1)
    finally:
        thread.join(10)
        silent.close()
        plain.close()
    for entry, reason in ((quiet, "endpoint_timeout"), (text, "endpoint_not_tls")):
        assert entry["live"]["reachable"] is False and entry["live"]["error"]["code"] == reason
        assert [(f["code"], f["reason"]) for f in entry["findings"]] == [("live_unreachable", reason)]
        assert entry["live"]["identity_matches"] is None and entry["live"]["checks"] == {}
