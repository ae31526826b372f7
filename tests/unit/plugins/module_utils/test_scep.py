"""Unit tests of the SCEP message layer (_scep.py) and the enrollment decisions (_scep_settings.py)."""

import datetime
import http.server
import os
import threading

import pytest
from asn1crypto import cms, core, parser
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import helpers  # noqa: F401  (puts the collection on sys.path)

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _scep, _scep_settings
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, initial_state


@pytest.fixture(scope="module")
def ca():
    key = _certs.generate_private_key()
    return _certs.build_certificate("CN=Unit SCEP CA", key, 30, ca=True), key


@pytest.fixture(scope="module")
def requester():
    key = _certs.generate_private_key()
    return _scep.self_signed_signer(key, _scep.subject_of("ipo1")), key


# ------------------------------------------------------------------------------ algorithm choice


@pytest.mark.parametrize("caps,expected", [
    (["SHA-1", "SHA-256", "AES", "DES3", "POSTPKIOperation"], ("sha256", "aes128_cbc")),
    (["SCEPStandard"], ("sha256", "aes128_cbc")),
    (["SHA-512", "DES3"], ("sha512", "tripledes_3key")),
    (["sha-1", "des3"], ("sha1", "tripledes_3key")),
])
def test_choose_algorithms_prefers_sha256_and_aes(caps, expected):
    assert _scep.choose_algorithms(caps) == expected


@pytest.mark.parametrize("caps", [[], ["DES3"], ["SHA-256"], ["SHA-256", "DES"]])
def test_choose_algorithms_never_falls_back_to_md5_or_des(caps):
    with pytest.raises(SecurityError) as caught:
        _scep.choose_algorithms(caps)
    assert caught.value.code == "scep_unsupported_algorithm" and caught.value.option == "server"


def test_transaction_id_is_stable_printable_hex(requester):
    _cert, key = requester
    tid = _scep.transaction_id_for(key)
    assert tid == _scep.transaction_id_for(key) and len(tid) == 64 and core.PrintableString(tid).native == tid


# ------------------------------------------------------------------------------ envelopes


@pytest.mark.parametrize("cipher", ["aes128_cbc", "aes256_cbc", "tripledes_3key", "des"])
def test_envelope_round_trip_with_every_cipher(cipher, requester):
    cert, key = requester
    data = os.urandom(100)
    enveloped = _scep.envelope(data, cert, cipher)
    info = cms.ContentInfo.load(enveloped)
    assert info["content"]["encrypted_content_info"]["content_encryption_algorithm"]["algorithm"].native == cipher
    assert _scep.open_envelope(enveloped, key, cert) == data


def test_ber_constructed_encrypted_content_is_decrypted(requester):
    """micromdm sends encryptedContent as a constructed [0] of OCTET STRING chunks (BER)."""
    cert, key = requester
    data = b"certificate bytes " * 20
    der = _scep.envelope(data, cert, "des")
    info = cms.ContentInfo.load(der)
    eci = info["content"]["encrypted_content_info"]
    body = eci["encrypted_content"].native
    chunks = b"".join(b"\x04\x10" + body[i:i + 16] for i in range(0, len(body), 16))
    constructed = b"\xa0\x80" + chunks + b"\x00\x00"  # [0] constructed, indefinite length
    raw_eci = (eci["content_type"].dump() + eci["content_encryption_algorithm"].dump() + constructed)
    raw_eci = parser.emit(0, 1, 16, raw_eci)  # SEQUENCE
    enveloped = info["content"]
    rest = enveloped["version"].dump() + enveloped["recipient_infos"].dump() + raw_eci
    new_enveloped = parser.emit(0, 1, 16, rest)
    content_info = parser.emit(0, 1, 16, info["content_type"].dump() + parser.emit(2, 1, 0, new_enveloped))  # [0]
    assert _scep.open_envelope(content_info, key, cert) == data


def test_envelope_for_someone_else_is_a_clear_error(requester, ca):
    cert, _key = requester
    _ca_cert, ca_key = ca
    with pytest.raises(SecurityError) as caught:
        _scep.open_envelope(_scep.envelope(b"x" * 32, cert), ca_key)
    assert caught.value.code == "scep_decrypt_failed"


# ------------------------------------------------------------------------------ signed messages


def reply(ca, request_nonce, status, content=None, fail_info=None, tid="T1", digest="sha1"):
    ca_cert, ca_key = ca
    return _scep.sign_message(content, ca_cert, ca_key, _scep.CERT_REP, tid, os.urandom(16), digest=digest,
                              recipient_nonce=request_nonce, pki_status=status, fail_info=fail_info)


def test_signed_message_round_trip_carries_every_scep_attribute(requester):
    cert, key = requester
    nonce = os.urandom(16)
    der = _scep.sign_message(b"payload", cert, key, _scep.PKCS_REQ, "ABC123", nonce, "sha256")
    message = _scep.parse_message(der)
    assert (message.message_type, message.transaction_id, message.sender_nonce) == (_scep.PKCS_REQ, "ABC123", nonce)
    assert message.content == b"payload" and message.digest_algorithm == "sha256"
    assert message.signer_cert == cert
    assert _scep.verify_message(message, [cert]) == cert
    # transactionID and messageType are PrintableString (EJBCA reads them strictly).
    signed_attrs = cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signed_attrs"]
    tags = dict((a["type"].dotted, a["values"][0].parse().__class__) for a in signed_attrs
                if a["type"].dotted.startswith("2.16.840.1.113733"))
    assert tags[_scep.OID_TRANSACTION_ID] is core.PrintableString
    assert tags[_scep.OID_MESSAGE_TYPE] is core.PrintableString


def test_tampered_content_or_foreign_signer_is_refused(requester, ca):
    cert, key = requester
    ca_cert, _ca_key = ca
    der = _scep.sign_message(b"payload", cert, key, _scep.PKCS_REQ, "ABC", os.urandom(16), "sha256")
    with pytest.raises(SecurityError) as caught:
        _scep.verify_message(_scep.parse_message(der), [ca_cert])
    assert caught.value.code == "scep_untrusted_reply"
    tampered = der.replace(b"payload", b"paylOad")
    with pytest.raises(SecurityError) as caught:
        _scep.verify_message(_scep.parse_message(tampered), [cert])
    assert caught.value.code == "scep_untrusted_reply" and "messageDigest" in caught.value.message


def test_garbage_reply_is_a_clear_error():
    with pytest.raises(SecurityError) as caught:
        _scep.parse_message(b"<html>404</html>")
    assert caught.value.code == "scep_bad_reply" and caught.value.option == "uri"


@pytest.mark.parametrize("code,name", [("0", "badAlg"), ("1", "badMessageCheck"), ("2", "badRequest"),
                                       ("3", "badTime"), ("4", "badCertID")])
def test_fail_info_names_every_rfc_8894_code(code, name):
    result = _scep.Reply(_scep.FAILURE, "T", fail_info=code)
    got_name, text = _scep.fail_info_message(result)
    assert got_name == name and name in text
    if name == "badTime":
        assert "clock skew" in text
    error = _scep_settings.failure_error(result)
    assert error.code == "scep_failure" and error.details["fail_info"] == name


# ------------------------------------------------------------------------------ client against a local CA


class _Ca(object):
    """A minimal in-process CA served over real HTTP, to exercise Client checks on replies."""

    def __init__(self, ca, mode):
        self.ca_cert, self.ca_key = ca
        self.mode = mode
        self.requests = 0

    def answer(self, der):
        self.requests += 1
        request = _scep.parse_message(der)
        signer = request.signer_cert
        if self.mode == "wrong_nonce":
            return reply((self.ca_cert, self.ca_key), os.urandom(16), _scep.PENDING, tid=request.transaction_id)
        if self.mode == "wrong_tid":
            return reply((self.ca_cert, self.ca_key), request.sender_nonce, _scep.PENDING, tid="OTHER")
        if self.mode == "failure":
            return reply((self.ca_cert, self.ca_key), request.sender_nonce, _scep.FAILURE, fail_info="3",
                         tid=request.transaction_id)
        csr = x509.load_der_x509_csr(_scep.open_envelope(request.content, self.ca_key, self.ca_cert))
        cert = _certs.build_certificate(csr.subject, _PublicOnly(csr.public_key()), 30, issuer_cert=self.ca_cert,
                                        issuer_key=self.ca_key)
        content = _scep.envelope(_scep.certs_only([cert]), signer, "aes128_cbc")
        return reply((self.ca_cert, self.ca_key), request.sender_nonce, _scep.SUCCESS, content=content,
                     tid=request.transaction_id, digest="sha256")


class _PublicOnly(object):
    def __init__(self, public):
        self._public = public

    def public_key(self):
        return self._public


def serve(handler_answer, statuses=None):
    statuses = list(statuses or [])

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if statuses:
                self.send_response(statuses.pop(0))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = handler_answer(self.path, None)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            data = self.rfile.read(int(self.headers["Content-Length"]))
            body = handler_answer(self.path, data)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_client(ca, mode, requester_key=None):
    fake = _Ca(ca, mode)

    def answer(path, data):
        if "GetCACaps" in path:
            return b"SHA-256\nAES\nPOSTPKIOperation\n"
        if "GetCACert" in path:
            return fake.ca_cert.public_bytes(serialization.Encoding.DER)
        return fake.answer(data)

    server = serve(answer)
    try:
        key = requester_key or _certs.generate_private_key()
        subject = _scep.subject_of("ipo1")
        client = _scep.Client("http://127.0.0.1:%d/scep" % server.server_address[1], retries=0)
        csr = _scep.build_csr(key, subject, [], "pw")
        return client.enroll(csr, _scep.self_signed_signer(key, subject), key, _scep.transaction_id_for(key)), key
    finally:
        server.shutdown()
        server.server_close()


def test_client_success_with_aes_reply(ca):
    result, key = run_client(ca, "success")
    assert result.status == _scep.SUCCESS and _certs.key_matches(result.certificates[0], key)


@pytest.mark.parametrize("mode,fragment", [("wrong_nonce", "recipientNonce"), ("wrong_tid", "transaction")])
def test_client_refuses_replies_that_do_not_answer_our_request(ca, mode, fragment):
    with pytest.raises(SecurityError) as caught:
        run_client(ca, mode)
    assert caught.value.code == "scep_untrusted_reply" and fragment in caught.value.message


def test_client_reports_failure_without_retrying(ca):
    result, _key = run_client(ca, "failure")
    assert result.status == _scep.FAILURE and result.fail_info == "3"


def test_transport_retries_5xx_with_bounded_backoff_then_succeeds():
    server = serve(lambda path, data: b"SHA-256\nAES\n", statuses=[503, 502])
    slept = []
    try:
        transport = _scep.Transport("http://127.0.0.1:%d/scep" % server.server_address[1], retries=3,
                                    backoff=0.5, sleep=slept.append)
        assert transport.request("GetCACaps")[1] == b"SHA-256\nAES\n"
        assert slept == [0.5, 1.0]
        failing = _scep.Transport("http://127.0.0.1:%d/scep" % server.server_address[1], retries=1, sleep=slept.append)
        server_statuses_exhausted = failing.request("GetCACaps")
        assert server_statuses_exhausted[1] == b"SHA-256\nAES\n"
    finally:
        server.shutdown()
        server.server_close()


def test_transport_gives_up_on_5xx_after_retries_and_does_not_retry_4xx():
    server = serve(lambda path, data: b"", statuses=[500, 500, 404])
    slept = []
    try:
        url = "http://127.0.0.1:%d/scep" % server.server_address[1]
        with pytest.raises(SecurityError) as caught:
            _scep.Transport(url, retries=1, sleep=slept.append).request("GetCACaps")
        assert caught.value.code == "scep_unreachable" and "HTTP 500" in caught.value.message
        with pytest.raises(SecurityError) as caught:
            _scep.Transport(url, retries=3, sleep=slept.append).request("GetCACaps")
        assert caught.value.code == "scep_http_error" and caught.value.details["http_status"] == 404
        assert slept == [0.5]
    finally:
        server.shutdown()
        server.server_close()


def test_backoff_is_bounded():
    slept = []
    transport = _scep.Transport("http://127.0.0.1:%d/scep" % helpers.free_port(), retries=6, backoff=1.0,
                                sleep=slept.append, timeout=1)
    with pytest.raises(SecurityError):
        transport.request("GetCACaps")
    assert slept == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize("content_type,make", [
    ("application/x-x509-ca-cert", lambda certs: certs[0].public_bytes(serialization.Encoding.DER)),
    ("application/x-x509-ca-ra-cert", _scep.certs_only),
])
def test_get_ca_cert_accepts_der_and_degenerate_pkcs7_with_an_ra(ca, content_type, make):
    ca_cert, ca_key = ca
    ra_key = _certs.generate_private_key()
    ra_cert = _certs.build_certificate("CN=Unit RA", ra_key, 30, issuer_cert=ca_cert, issuer_key=ca_key)
    certs = [ca_cert, ra_cert] if "ra" in content_type else [ca_cert]
    info = _scep.CaInfo(_scep.parse_ca_certs(content_type, make(certs)), content_type)
    assert info.ca == ca_cert
    if "ra" in content_type:
        assert info.recipient == ra_cert and ra_cert in info.signers
    else:
        assert info.recipient == ca_cert
    assert _scep_settings.check_pin(info, _certs.fingerprint(ca_cert).replace(":", "").upper()) is None


# ------------------------------------------------------------------------------ decisions


def state():
    return initial_state("server", "ipo1.example.com", ["192.0.2.10"])


def test_apply_settings_validates_and_stores_the_password_write_only():
    current = state()
    settings = _scep_settings.apply_settings(current, {"server": "ca.example.com", "scheme": "https",
                                                       "password": "pw", "active": True})
    assert settings["server"] == "ca.example.com" and current.secrets["scep_password"] == b"pw"
    assert _scep_settings.server_url(settings) == "https://ca.example.com:443/ejbca/publicweb/apply/scep/pkiclient.exe"
    _scep_settings.apply_settings(current, {"password": "other", "update_password": "on_create"})
    assert current.secrets["scep_password"] == b"pw"
    _scep_settings.apply_settings(current, {"password": ""})
    assert "scep_password" not in current.secrets
    view = _scep_settings.settings_view(current)
    assert view["password_set"] is False and "password" not in view


@pytest.mark.parametrize("params,code,option", [
    ({"active": True}, "missing_server", "server"),
    ({"server": "http://ca.example.com/scep"}, "invalid_setting", "server"),
    ({"uri": "scep"}, "invalid_setting", "uri"),
    ({"request_interval": 3601}, "out_of_range", "request_interval"),
    ({"port": 70000}, "out_of_range", "port"),
    ({"scheme": "ftp"}, "invalid_choice", "scheme"),
])
def test_bad_settings_name_the_option(params, code, option):
    with pytest.raises(SecurityError) as caught:
        _scep_settings.apply_settings(state(), params)
    assert caught.value.code == code and caught.value.option == option
    assert "'%s'" % option in caught.value.message


def test_ipv6_server_url():
    settings = {"server": "2001:db8::1", "scheme": "http", "port": None, "uri": "/scep"}
    assert _scep_settings.server_url(settings) == "http://[2001:db8::1]:80/scep"


def scep_identity(current, days, **meta_overrides):
    key = _certs.generate_private_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = _certs.build_certificate("ipo1.example.com", key, days, subject_alt_names=["DNS:ipo1.example.com"],
                                    not_before=now - datetime.timedelta(days=1))
    request = _scep_settings.resolve_request(current, {"subject_alt_names": ["DNS:ipo1.example.com"]})
    meta = request.meta("T", cert.issuer)
    meta.update(meta_overrides)
    current.identity = Credential(cert, key, meta)
    return request


def test_enrollment_reasons():
    current = state()
    request = _scep_settings.resolve_request(current, {})
    assert request.subject_name == "ipo1.example.com"
    assert request.subject_alt_names == ["DNS:ipo1.example.com", "IP:192.0.2.10"]
    assert _scep_settings.enrollment_reason(current, request) == "not_scep_issued"
    request = scep_identity(current, 100)
    assert _scep_settings.enrollment_reason(current, request) is None
    request.renew_before_days = 200
    assert _scep_settings.enrollment_reason(current, request) == "renewal_window"
    other = _scep_settings.resolve_request(current, {"subject_alt_names": ["DNS:other.example.com"]})
    assert _scep_settings.enrollment_reason(current, other) == "request_changed"
    current.data["scep_pending"] = {"transaction_id": "T", "subject": other.subject.rfc4514_string(),
                                    "subject_alt_names": ["DNS:other.example.com"], "signature": "sha256_rsa2048"}
    assert _scep_settings.enrollment_reason(current, other) == "pending"


def test_ecdsa_keys_are_refused_for_scep():
    with pytest.raises(SecurityError) as caught:
        _scep_settings.resolve_request(state(), {"signature": "sha256_ecdsa_p256"})
    assert caught.value.code == "scep_unsupported_key" and caught.value.option == "signature"


@pytest.mark.parametrize("name,value", [("wait_timeout", -1), ("timeout", 0), ("retries", 11),
                                        ("renew_before_days", -1)])
def test_enrollment_option_ranges(name, value):
    with pytest.raises(SecurityError) as caught:
        _scep_settings.validate_options({name: value})
    assert caught.value.code == "out_of_range" and caught.value.option == name


def test_certpoll_issuer_and_subject_is_one_sequence_of_the_two_names(requester, ca):
    cert, _key = requester
    ca_cert, _ca_key = ca
    der = _scep.issuer_and_subject(ca_cert.subject, cert.subject)
    class_, method, tag, _header, contents, trailer = parser.parse(der)
    assert (class_, method, tag, trailer) == (0, 1, 16, b"")
    assert contents == ca_cert.subject.public_bytes() + cert.subject.public_bytes()
