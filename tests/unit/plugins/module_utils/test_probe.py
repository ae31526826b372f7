"""_probe: the graded certificates, the level predictions, cipher levels, SIP OPTIONS, the probe CA input,
in-memory files, and the bounds of every exchange (against real sockets on 127.0.0.1)."""

import datetime
import os
import socket
import ssl
import stat
import threading

import pytest

import helpers
from test_identity_fixtures import ADDRESSES, NAME, key_pem, make_ca, make_leaf, pem, write

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _checks, _info, _probe
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore, initial_state

ADDRESS = "127.0.0.1"


@pytest.fixture(scope="module")
def probe_ca():
    cert, key = make_ca("CN=Example probe CA")
    return _probe.ProbeCA(cert, key, "/nowhere/probe-ca.pem")


@pytest.fixture(scope="module")
def graded(probe_ca):
    return _probe.GradedCertificates(probe_ca, ADDRESS)


def _state(probe_ca=None, **checks):
    state = initial_state("server", NAME, ADDRESSES)
    state.settings["checks"].update(checks)
    if probe_ca is not None:
        state.add_trusted([probe_ca.cert])
    return state


# ------------------------------------------------------------------------------ graded certificates

# What the check engine says about each graded certificate (purpose client, the probe CA trusted).
ENGINE = {
    "valid": {"medium": set(), "medium_remote": set(), "high": {"not_pinned"}},
    "expired": {"medium": {"expired"}},
    "no_key_usage": {"medium": {"no_key_usage"}},
    "wrong_eku": {"medium": {"purpose_mismatch"}},
    "unknown_critical_extension": {"medium": {"unknown_critical_extension"}},
    "key_1024": {"low": set(), "medium": set(), "high": {"key_too_small", "not_pinned"}},
    "self_signed": {"low": set(), "medium": {"untrusted_chain"}},
    "wrong_name": {"medium": set(), "medium_remote": {"name_mismatch"}},
}


@pytest.mark.parametrize("case", sorted(ENGINE))
def test_each_graded_certificate_fails_exactly_its_check(graded, probe_ca, case):
    cert, key = graded.get(case)
    assert _certs.key_matches(cert, key)
    for level, codes in ENGINE[case].items():
        chain = () if case == "self_signed" else (probe_ca.cert,)
        report = _checks.evaluate(cert, level=level, purpose="client", chain=chain, trusted=(probe_ca.cert,),
                                  peer_name=ADDRESS if level.endswith("_remote") else None)
        assert report.codes == codes, (case, level, report.findings)


def test_graded_certificates_live_for_minutes(graded, probe_ca):
    for case in _probe.CASES:
        presented = graded.get(case)
        if case == "no_certificate":
            assert presented is None
            continue
        cert = presented[0]
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert lifetime <= _probe.VALIDITY + _probe.BACKDATE
        assert _probe.PROBE_ORGANIZATION in cert.subject.rfc4514_string()
        if case == "expired":
            assert cert.not_valid_after_utc < graded.now
        else:
            assert cert.not_valid_before_utc <= graded.now <= cert.not_valid_after_utc
        if case != "self_signed":
            assert cert.issuer == probe_ca.cert.subject and _certs.is_issued_by(cert, probe_ca.cert)
    assert graded.get("not_pinned") is graded.get("valid")  # the probe cannot make a pinned one
    assert graded.get("key_1024")[1].key_size == 1024 and graded.get("valid")[1].key_size == 2048
    assert _certs.is_self_signed(graded.get("self_signed")[0])
    assert _certs.subject_alt_names(graded.get("valid")[0]) == ["IP:127.0.0.1"]


# ------------------------------------------------------------------------------------- predictions

A, R, E = "accepted", "refused", "either"


def test_predictions_per_level(graded, probe_ca):
    predictions = _probe.predict(_state(probe_ca), graded, "client", _probe.CHECK_LEVELS)
    cases = ("no_certificate", "valid", "expired", "no_key_usage", "wrong_eku", "unknown_critical_extension",
             "key_1024", "self_signed", "not_pinned", "wrong_name")
    table = dict((level, tuple(predictions[level][case] for case in cases)) for level in predictions)
    assert table == {
        "none": (A, A, A, A, A, A, A, A, A, A),
        "low": (R, A, R, A, A, A, E, A, A, A),
        "medium": (R, A, R, E, E, E, E, R, A, A),
        "medium_remote": (R, A, R, E, E, E, E, R, A, R),
        "high": (R, R, R, R, R, R, R, R, R, R),
        "high_remote": (R, R, R, R, R, R, R, R, R, R),
    }


def test_predictions_without_the_probe_ca_trusted(graded):
    predictions = _probe.predict(_state(), graded, "client", ("low", "medium"))
    assert predictions["medium"]["valid"] == R and predictions["low"]["valid"] == A


def _observed(**outcomes):
    result = dict((case, A) for case in _probe.CASES)
    result.update(outcomes)
    return result


@pytest.mark.parametrize("observed, levels", [
    (_observed(), ["none"]),
    (_observed(no_certificate=R, expired=R), ["low"]),
    # openssl s_server -Verify with the probe CA: key usage is not required, RSA-1024 refused by the library.
    (_observed(no_certificate=R, expired=R, wrong_eku=R, unknown_critical_extension=R, key_1024=R,
               self_signed=R), ["medium"]),
    # an R11.1.3 medium: key usage, EKU and critical extensions checked too.
    (_observed(no_certificate=R, expired=R, no_key_usage=R, wrong_eku=R, unknown_critical_extension=R,
               self_signed=R), ["medium"]),
    (_observed(no_certificate=R, expired=R, self_signed=R, wrong_name=R), ["medium_remote"]),
    # every certificate refused: high and high_remote cannot be told apart without a pinned certificate.
    (dict((case, R) for case in _probe.CASES), ["high", "high_remote"]),
    # an expired certificate accepted while a self-signed one is refused: no level behaves so.
    (_observed(no_certificate=R, self_signed=R), []),
    # cases without an outcome are left out of the judgement.
    (_observed(no_certificate=R, expired=R, self_signed=R, wrong_name="error"), ["medium", "medium_remote"]),
])
def test_consistent_levels(graded, probe_ca, observed, levels):
    predictions = _probe.predict(_state(probe_ca), graded, "client", _probe.CHECK_LEVELS)
    assert _probe.consistent_levels(predictions, observed) == levels


def test_lines_are_judged_among_their_own_levels(graded, probe_ca):
    levels = _probe.candidate_levels("line:HQ")
    assert levels == ("none", "medium", "high")
    predictions = _probe.predict(_state(probe_ca), graded, "client", levels)
    assert _probe.consistent_levels(predictions, _observed(no_certificate=R, expired=R)) == []
    assert _probe.consistent_levels(predictions, _observed(no_certificate=R, expired=R, self_signed=R)) == ["medium"]


# ------------------------------------------------------------------------------------------ ciphers


def _suite(name):
    return next(c for c in _probe._all_suites() if c["name"] == name)


@pytest.mark.parametrize("name, level", [
    ("ECDHE-RSA-AES128-GCM-SHA256", "high"),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", "high"),
    ("DHE-RSA-AES256-GCM-SHA384", "high"),
    ("AES128-GCM-SHA256", "medium"),          # AEAD, but static RSA key exchange: no forward secrecy
    ("ECDHE-RSA-AES128-SHA", "medium"),       # CBC
    ("ECDHE-RSA-AES256-SHA384", "medium"),    # CBC
    ("DHE-RSA-AES256-CCM8", "medium"),        # an 8-byte tag
    ("NULL-SHA256", "below_low"),
    ("ECDHE-RSA-NULL-SHA", "below_low"),
    ("ADH-AES128-GCM-SHA256", "below_low"),   # anonymous: nobody authenticated
])
def test_cipher_level_of_real_suites(name, level):
    assert _probe.cipher_level(_suite(name)) == level


@pytest.mark.parametrize("entry, level", [
    ({"name": "DES-CBC3-SHA", "symmetric": "des-ede3-cbc", "strength_bits": 112, "kea": "kx-rsa",
      "auth": "auth-rsa", "aead": False, "digest": "sha1", "protocol": "SSLv3"}, "low"),
    ({"name": "RC4-SHA", "symmetric": "rc4", "strength_bits": 128, "kea": "kx-rsa", "auth": "auth-rsa",
      "aead": False, "digest": "sha1", "protocol": "SSLv3"}, "low"),
    ({"name": "RC4-MD5", "symmetric": "rc4", "strength_bits": 128, "kea": "kx-rsa", "auth": "auth-rsa",
      "aead": False, "digest": "md5", "protocol": "SSLv3"}, "low"),
    ({"name": "EXP-RC4-MD5", "symmetric": "rc4", "strength_bits": 40, "kea": "kx-rsa", "auth": "auth-rsa",
      "aead": False, "digest": "md5", "protocol": "SSLv3"}, "below_low"),
    ({"name": "TLS_AES_128_GCM_SHA256", "symmetric": "aes-128-gcm", "strength_bits": 128, "kea": "kx-any",
      "auth": "auth-any", "aead": True, "digest": None, "protocol": "TLSv1.3"}, "high"),
])
def test_cipher_level_of_suites_openssl_3_no_longer_offers(entry, level):
    assert _probe.cipher_level(entry) == level


def test_cipher_classes_below_each_level():
    names = dict((level, [name for name, _below, _suites in _probe.cipher_classes(level)])
                 for level in ("low", "medium", "high"))
    assert names == {"low": ["no_encryption_or_anonymous"],
                     "medium": ["no_encryption_or_anonymous", "weak_cipher"],
                     "high": ["no_encryption_or_anonymous", "weak_cipher", "tls_before_1_2",
                              "no_aead_or_forward_secrecy"]}
    by_name = dict((c["name"], c) for c in _probe._all_suites())
    for name, _below, suites in _probe.cipher_classes("high"):
        levels = set(_probe.cipher_level(by_name[suite]) for suite in suites)
        assert levels <= {"below_low": {"below_low"}, "weak_cipher": {"low"}, "tls_before_1_2": {"low", "medium",
                          "high"}, "no_aead_or_forward_secrecy": {"medium"}}.get(name, {"below_low"}), name
        assert "PSK" not in ":".join(suites) and "SRP" not in ":".join(suites)  # never negotiable without setup


# -------------------------------------------------------------------------------------- SIP OPTIONS


def test_options_request_follows_rfc_3261():
    request, call_id = _probe.options_request("ipo1.example.com", 5061, "192.0.2.7", 40000)
    text = request.decode("ascii")
    head, _sep, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0] == "OPTIONS sip:ipo1.example.com:5061;transport=tls SIP/2.0"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Via"].startswith("SIP/2.0/TLS 192.0.2.7:40000;branch=z9hG4bK")
    assert headers["Max-Forwards"] == "70"
    assert headers["To"] == "<sip:ipo1.example.com:5061>"
    assert ";tag=" in headers["From"] and headers["Call-ID"] == call_id and call_id.endswith("@192.0.2.7")
    assert headers["CSeq"] == "1 OPTIONS" and headers["Content-Length"] == "0"
    assert headers["Contact"] == "<sip:ipoffice-security-probe@192.0.2.7:40000;transport=tls>"
    assert body == ""
    # Every request is new: branch, tag and Call-ID differ.
    again, other_id = _probe.options_request("ipo1.example.com", 5061, "192.0.2.7", 40000)
    assert other_id != call_id and again != request
    v6, _call_id = _probe.options_request("2001:db8::1", 5061, "2001:db8::7", 40000)
    assert v6.startswith(b"OPTIONS sip:[2001:db8::1]:5061;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS [2001:db8::7]")


def test_sip_responses_are_parsed_past_provisional_ones():
    trying = b"SIP/2.0 100 Trying\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ok = b"SIP/2.0 200 OK\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nbody"
    assert _probe.parse_responses(trying, "c1") == (None, False)
    assert _probe.parse_responses(trying + ok[:30], "c1") == (None, False)
    assert _probe.parse_responses(trying + ok[:-2], "c1") == (None, False)  # the body is not all there
    response, complete = _probe.parse_responses(trying + ok, "c1")
    assert complete and response == {"status_line": "SIP/2.0 200 OK", "status_code": 200, "reason_phrase": "OK",
                                     "matches_request": True}
    response, _rest = _probe.parse_responses(
        b"SIP/2.0 403 Forbidden\r\nCall-ID: other\r\nCSeq: 1 OPTIONS\r\n\r\n", "c1")
    assert response["status_code"] == 403 and response["matches_request"] is False
    response, complete = _probe.parse_responses(b"HTTP/1.1 400 Bad Request\r\n", "c1")
    assert complete and response["status_code"] is None and "not a SIP response" in response["error"]


def test_server_hello_names_its_suite():
    hello = bytes([2, 0, 0, 70, 3, 3]) + b"\x11" * 32 + bytes([32]) + b"\x22" * 32 + b"\xc0\x2f\x00"
    assert _probe._server_hello_suite(hello) == 0xC02F
    assert _probe.suite_names_by_id()[0xC02F] == "ECDHE-RSA-AES128-GCM-SHA256"
    assert _probe._server_hello_suite(b"\x02\x00") is None


# -------------------------------------------------------------------------------------- memory files


def test_memory_files_name_memory_only(graded):
    chain_pem, key_bytes = graded.chain_pem("valid")
    with _probe.memory_file(key_bytes) as path:
        assert path.startswith(("/proc/self/fd/", "/dev/fd/"))
        target = os.readlink(path)
        assert target.startswith("/memfd:") and target.endswith("(deleted)")
        with open(path, "rb") as handle:
            assert handle.read() == key_bytes
        fd = int(path.rsplit("/", 1)[1])
    with pytest.raises(OSError):
        os.fstat(fd)  # closed: nothing is left


def test_memory_files_fall_back_to_a_pipe(graded, monkeypatch):
    chain_pem, key_bytes = graded.chain_pem("key_1024")
    monkeypatch.delattr(os, "memfd_create")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with _probe.memory_file(chain_pem) as chain_path, _probe.memory_file(key_bytes) as key_path:
        assert stat.S_ISFIFO(os.stat(chain_path).st_mode) and stat.S_ISFIFO(os.stat(key_path).st_mode)
        context.load_cert_chain(chain_path, key_path)  # what the probe does with them


# ------------------------------------------------------------------------------------------ probe CA


def _probe_ca_files(tmp_path, password=None, ca=True, expired=False):
    if ca:
        start = _certs.utcnow() - datetime.timedelta(days=10) if expired else None
        cert, key = make_ca("CN=Example probe CA", days=1 if expired else 30, not_before=start)
    else:
        cert, key = make_leaf(name="not-a-ca.example.com")
    return (write(tmp_path / "probe-ca.pem", pem(cert)), write(tmp_path / "probe-ca.key", key_pem(key, password)),
            cert)


def test_probe_ca_is_read_from_its_files(tmp_path):
    cert_path, key_path, cert = _probe_ca_files(tmp_path, password="s3cret")
    loaded = _probe.load_probe_ca({"certificate_path": cert_path, "private_key_path": key_path,
                                   "private_key_password": "s3cret"})
    assert loaded.sha256 == _certs.fingerprint(cert) and _certs.key_matches(loaded.cert, loaded.key)
    assert loaded.info()["certificate_path"] == cert_path and "key" not in str(loaded.info()).lower()


@pytest.mark.parametrize("change, code, option", [
    ({"private_key_password": None}, "password_required", "live_probe_ca.private_key_password"),
    ({"private_key_password": "wrong"}, "wrong_password", "live_probe_ca.private_key_password"),
    ({"certificate_path": "missing.pem"}, "unreadable_file", "live_probe_ca.certificate_path"),
    ({"private_key_path": "other.key"}, "probe_ca_key_mismatch", "live_probe_ca.private_key_path"),
    ({"leaf": True}, "invalid_probe_ca", "live_probe_ca.certificate_path"),
    ({"expired": True}, "invalid_probe_ca", "live_probe_ca.certificate_path"),
    ({"extra": "x"}, "unknown_setting", "live_probe_ca"),
])
def test_bad_probe_ca(tmp_path, change, code, option):
    change = dict(change)
    cert_path, key_path, _cert = _probe_ca_files(tmp_path, password="s3cret", ca=not change.pop("leaf", False),
                                                 expired=change.pop("expired", False))
    write(tmp_path / "other.key", key_pem(make_ca()[1]))
    spec = {"certificate_path": cert_path, "private_key_path": key_path, "private_key_password": "s3cret"}
    for key, value in change.items():
        spec[key] = str(tmp_path / value) if key.endswith("_path") else value
    with pytest.raises(SecurityError) as raised:
        _probe.load_probe_ca(spec)
    assert (raised.value.code, raised.value.option) == (code, option)
    assert option in raised.value.message and "s3cret" not in raised.value.message


def test_probe_without_a_probe_ca_fails_before_anything_is_contacted(tmp_path):
    store = DirectoryStore(path=str(tmp_path / "store"), system_name=NAME, system_addresses=ADDRESSES)
    store.update(lambda state: None)
    digest = helpers.tree_digest(store.path)
    with _Listener() as listener:
        endpoint = {"host": "127.0.0.1", "port": listener.port, "serves": "management", "probe": True}
        with pytest.raises(SecurityError) as raised:
            _info.run(store, {"live_endpoints": [endpoint]})
        assert (raised.value.code, raised.value.option) == ("probe_ca_required", "live_probe_ca")
        cert_path, _key_path, _cert = _probe_ca_files(tmp_path)
        with pytest.raises(SecurityError) as raised:
            _info.run(store, {"live_endpoints": [endpoint], "live_probe_ca": {
                "certificate_path": cert_path, "private_key_path": str(tmp_path / "missing.key")}})
        assert raised.value.code == "unreadable_file"
        assert listener.connections == 0
    assert helpers.tree_digest(store.path) == digest


class _Listener(object):
    """A TCP listener on 127.0.0.1 that counts connections."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.is_set():
            try:
                conn, _address = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


# ------------------------------------------------------------------------------------------ bounds


class _TLSServer(object):
    """A TLS 1.3 server on 127.0.0.1 that, once a client has finished its handshake, sends ``behaviour``:
    'endless' (64 KiB blocks, forever) or 'trickle' (one byte of a SIP status line every 0.1 s)."""

    def __init__(self, tmp_path, behaviour):
        cert, key = make_leaf(name="sip.example.com")
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(write(tmp_path / "srv.pem", pem(cert)), write(tmp_path / "srv.key",
                                                                                   key_pem(key)))
        self.behaviour = behaviour
        self.connections = 0
        self.stop = threading.Event()

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()
        return self

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _address = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn):
        try:
            conn.settimeout(5)
            tls = self.context.wrap_socket(conn, server_side=True)
            data = b"SIP/2.0 200 " + b"O" * 100000
            while not self.stop.is_set():
                if self.behaviour == "endless":
                    tls.sendall(b"X" * 65536)
                else:
                    tls.sendall(data[:1])
                    data = data[1:]
                    self.stop.wait(0.1)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def __exit__(self, *exc):
        self.stop.set()
        for thread in list(self.threads):
            thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("behaviour", ["endless", "trickle"])
def test_every_exchange_is_bounded(tmp_path, probe_ca, behaviour, monkeypatch):
    monkeypatch.setattr(_probe, "ALERT_WAIT", 0.5)  # the wait for a verdict after each handshake
    state = _state(probe_ca, telephony_endpoints="medium", sip_security_level="high")
    findings = []
    with _TLSServer(tmp_path, behaviour) as server:
        endpoint = {"host": "127.0.0.1", "port": server.port, "serves": "telephony", "server_name": None}

        def call():
            return _probe.probe(state, endpoint, probe_ca, 2.0, "here",
                                lambda code, message, **extra: findings.append(code))

        (kind, report), _elapsed = helpers.bounded_call(call, _probe.MAX_CONNECTIONS * 2.0 + 5)
    assert kind == "ok", report
    assert report["connections"] == server.connections <= _probe.MAX_CONNECTIONS
    options = report["sip_options"]
    assert options["sent"] is True and options["status_code"] is None
    if behaviour == "endless":
        assert options["error"] == "more than %d bytes without a final response" % _probe.MAX_READ_BYTES
    else:
        assert options["error"] == "no final response within 0.5 seconds"
    # A server that accepts everything (it asks for no certificate): level none.
    assert report["enforced"] == ["none"] and "live_level_mismatch" in findings
