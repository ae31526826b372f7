"""certificate_verify through real ansible-playbook runs, against real `openssl s_server` endpoints."""

import contextlib
import datetime
import os
import socket
import threading

import helpers
import pytest
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from cryptography.hazmat.primitives import serialization

# Module results: each test runs twice, in the controller's worker and as a module (tests/conftest.py).
pytestmark = pytest.mark.both_paths


def _write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
    return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Root -> issuing CA -> leaves for 127.0.0.1 / localhost; PEM files for the servers."""
    d = tmp_path_factory.mktemp("pki")
    root_key = _certs.generate_private_key()
    root = _certs.build_certificate("CN=Verify Test Root", root_key, 3650, ca=True)
    inter_key = _certs.generate_private_key()
    inter = _certs.build_certificate("CN=Verify Test Issuing CA", inter_key, 3650, ca=True, issuer_cert=root,
                                     issuer_key=root_key)
    key = _certs.generate_private_key()
    files = {"key": _write(d / "leaf.key", _certs.key_pem(key)), "root": _write(d / "root.pem", _certs.cert_pem(root)),
             "inter": _write(d / "inter.pem", _certs.cert_pem(inter))}

    def leaf(name, sans, **kwargs):
        cert = _certs.build_certificate(sans[0].split(":", 1)[1], key, kwargs.pop("days", 365), subject_alt_names=sans,
                                        issuer_cert=kwargs.pop("issuer", inter),
                                        issuer_key=kwargs.pop("issuer_key", inter_key), **kwargs)
        files[name] = _write(d / ("%s.pem" % name), _certs.cert_pem(cert))
        return cert

    leaf("good", ["DNS:localhost", "IP:127.0.0.1"])
    leaf("wrong_name", ["DNS:elsewhere.example.com"])
    leaf("expired", ["DNS:localhost", "IP:127.0.0.1"], days=1,
         not_before=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30))
    self_signed = _certs.build_certificate("localhost", key, 365, subject_alt_names=["DNS:localhost", "IP:127.0.0.1"])
    files["self_signed"] = _write(d / "self_signed.pem", _certs.cert_pem(self_signed))
    return files


@contextlib.contextmanager
def plain_server(reply):
    """A TCP server that is not TLS: it answers `reply` (or nothing, and holds the connection)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    port = sock.getsockname()[1]
    held = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _peer = sock.accept()
            except OSError:
                return
            if reply:
                try:
                    conn.recv(4096)
                    conn.sendall(reply)
                finally:
                    conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        sock.close()
        for conn in held:
            conn.close()


def _task(**args):
    return {"ipoffice.security.certificate_verify": args}


def test_live_endpoints_verdicts_and_codes(pki, tmp_path):
    store = str(tmp_path / "unused-store")
    trusted = [{"path": pki["root"]}]
    with contextlib.ExitStack() as stack:
        good = stack.enter_context(helpers.openssl_server(pki["good"], pki["key"], chain_file=pki["inter"]))
        missing = stack.enter_context(helpers.openssl_server(pki["good"], pki["key"]))
        wrong = stack.enter_context(helpers.openssl_server(pki["wrong_name"], pki["key"], chain_file=pki["inter"]))
        selfs = stack.enter_context(helpers.openssl_server(pki["self_signed"], pki["key"]))
        expired = stack.enter_context(helpers.openssl_server(pki["expired"], pki["key"], chain_file=pki["inter"]))

        def endpoint(port, level="medium_remote", sni=None, **extra):
            target = {"host": "127.0.0.1", "port": port}
            if sni:
                target["server_name"] = sni
            return _task(endpoint=target, level=level, trusted=trusted, store_path=store, **extra)

        run = helpers.run_tasks([
            endpoint(good),
            endpoint(good, sni="localhost", peer_name="localhost"),
            endpoint(missing),
            endpoint(wrong),
            endpoint(selfs, level="high_remote"),
            endpoint(expired),
            endpoint(missing, fail_on_reject=True),
            endpoint(good, level="high_remote"),
        ], tmp_path)
    assert all("passed" in r for r in run.results), run.results
    good_r, sni_r, missing_r, wrong_r, self_r, expired_r, reject_r, pin_r = run.results

    assert good_r["passed"] is True and good_r["codes"] == [] and good_r["changed"] is False
    assert good_r["endpoint"] == "127.0.0.1:%d" % good and good_r["peer_name"] == "127.0.0.1"
    assert good_r["certificate"]["subject_alt_names"] == ["DNS:localhost", "IP:127.0.0.1"]
    assert [c["subject"] for c in good_r["chain"]] == ["CN=Verify Test Issuing CA"]
    assert len(good_r["validated_chain"]) == 3 and good_r["trust_source"] == "trusted"
    assert sni_r["passed"] is True and sni_r["peer_name"] == "localhost"

    assert missing_r["passed"] is False and missing_r["codes"] == ["untrusted_chain"]
    assert missing_r["chain"] == []
    assert "intermediate" in missing_r["findings"][0]["message"]

    assert wrong_r["codes"] == ["name_mismatch"]
    wrong_message = wrong_r["findings"][0]["message"]
    assert "127.0.0.1" in wrong_message and "elsewhere.example.com" in wrong_message

    assert self_r["codes"] == ["not_pinned", "self_signed", "untrusted_chain"]

    assert expired_r["codes"] == ["expired"]

    assert reject_r["failed"] is True and reject_r["error"] == "certificate_rejected"
    assert reject_r["codes"] == ["untrusted_chain"] and "fail_on_reject" in reject_r["msg"]

    assert pin_r["codes"] == ["not_pinned"]
    assert not os.path.exists(store)  # with 'trusted' and no store, nothing is read or written


def test_endpoint_errors(tmp_path):
    closed = helpers.free_port()
    store = str(tmp_path / "unused-store")  # store_path is required; with 'trusted' it is never read
    with plain_server(b"HTTP/1.0 200 OK\r\n\r\nnot tls\n") as http, plain_server(None) as silent:
        run = helpers.run_tasks([
            _task(store_path=store, endpoint={"host": "127.0.0.1", "port": closed}, level="medium", trusted=[]),
            _task(store_path=store, endpoint={"host": "127.0.0.1", "port": silent, "timeout": 1}, level="medium",
                  trusted=[]),
            _task(store_path=store, endpoint={"host": "127.0.0.1", "port": http}, level="medium", trusted=[]),
            _task(store_path=store, endpoint={"host": "no-such-host.invalid", "port": 443, "timeout": 2},
                  level="medium", trusted=[]),
        ], tmp_path)
    refused, timeout, not_tls, unreachable = run.results
    assert refused["failed"] and refused["error"] == "endpoint_refused"
    assert "127.0.0.1:%d" % closed in refused["msg"] and "endpoint.port" in refused["msg"]
    assert timeout["failed"] and timeout["error"] == "endpoint_timeout" and "endpoint.timeout" in timeout["msg"]
    assert not_tls["failed"] and not_tls["error"] == "endpoint_not_tls" and "127.0.0.1:%d" % http in not_tls["msg"]
    assert unreachable["failed"] and unreachable["error"] == "endpoint_unreachable"
    assert "endpoint.host" in unreachable["msg"]


def test_store_trust_read_only_and_check_mode(pki, tmp_path):
    """Trust comes from the store's TCS; the store is never written, in check mode or not."""
    store = tmp_path / "store"
    from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore
    DirectoryStore(str(store), system_name="ipo1.example.com", system_addresses=["192.0.2.10"]).update(lambda s: None)
    before = helpers.tree_digest(str(store))
    current = store / "current"
    # A server certificate issued by the store's own CA, and the store's identity itself.
    ca_cert = _certs.load_certificate((current / "ca" / "cert.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((current / "ca" / "key.pem").read_bytes(), None)
    key = _certs.generate_private_key()
    peer = _certs.build_certificate("sm1.example.com", key, 365, subject_alt_names=["DNS:sm1.example.com"],
                                    issuer_cert=ca_cert, issuer_key=ca_key)
    peer_pem = _certs.cert_pem(peer).decode()
    identity = str(current / "identity" / "cert.pem")
    tasks = [
        _task(store_path=str(store), certificate={"content": peer_pem}, level="medium_remote",
              peer_name="sm1.example.com"),
        _task(store_path=str(store), certificate={"content": peer_pem}, level="high_remote",
              peer_name="sm1.example.com"),
        _task(store_path=str(store), certificate={"path": identity}, level="high", purpose="client"),
        _task(store_path=str(store), certificate={"path": pki["good"]}, chain=[{"path": pki["inter"]}],
              level="medium"),
        _task(store_path=str(store), certificate={"path": pki["good"]}, chain=[{"path": pki["inter"]}],
              level="medium", trusted=[{"path": pki["root"]}]),
    ]
    run = helpers.run_tasks(tasks, tmp_path)
    ok, pinned, reflected, foreign, given = run.results
    assert ok["passed"] is True and ok["trust_source"] == "store" and ok["trusted_count"] == 1
    assert ok["validated_chain"][-1] == _certs.fingerprint(ca_cert)
    assert pinned["codes"] == ["not_pinned"]
    assert reflected["codes"] == ["not_pinned", "reflected"]
    assert foreign["codes"] == ["untrusted_chain"] and "Verify Test Root" in foreign["findings"][0]["message"]
    assert given["passed"] is True and given["trust_source"] == "trusted"
    assert all(r["changed"] is False for r in run.results)
    assert helpers.tree_digest(str(store)) == before
    # check mode: the same verdicts, nothing written
    check = helpers.run_tasks(tasks[1:3], tmp_path, check=True)
    assert [r["codes"] for r in check.results] == [pinned["codes"], reflected["codes"]]
    assert helpers.tree_digest(str(store)) == before


def test_bad_inputs(pki, tmp_path):
    store = str(tmp_path / "store")
    run = helpers.run_tasks([
        _task(store_path=store, certificate={"content": "garbage"}, level="none"),
        _task(store_path=store, certificate={"path": str(tmp_path / "missing.pem")}, level="none"),
        _task(store_path=store, certificate={"content": "-----BEGIN CERTIFICATE-----\nMIIB\n"}, level="none"),
        _task(store_path=store, certificate={"content": "x"}, level="paranoid"),
        _task(store_path=store, certificate={"path": pki["good"]}, level="medium_remote", trusted=[]),
    ], tmp_path)
    garbage, missing, truncated, bad_level, nameless = run.results
    assert garbage["failed"] and garbage["error"] == "invalid_certificate" and "certificate.content" in garbage["msg"]
    assert missing["failed"] and missing["error"] == "unreadable_file" and "certificate.path" in missing["msg"]
    assert truncated["failed"] and truncated["error"] == "invalid_certificate"
    assert bad_level["failed"] and "level" in bad_level["msg"]
    # a remote level needs a name to validate
    assert nameless["failed"] and nameless["error"] == "missing_peer_name"
    assert "peer_name" in nameless["msg"] and "sip_domain" in nameless["msg"]
    assert not os.path.exists(store)
