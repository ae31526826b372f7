"""Local SCEP servers for the tests: Debian's real ``scepserver``, a path-rewriting HTTP(S) proxy in front of
it (the EJBCA default URI), and a small PENDING responder of our own for the poll path.

Everything listens on 127.0.0.1 (scepserver 2.1.0 binds all interfaces; tests only talk to loopback).
"""

import contextlib
import datetime
import http.client
import http.server
import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.parse

import helpers

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _scep

CHALLENGE = "s3cret-challenge"


class ScepServer(object):
    def __init__(self, depot, port, process):
        self.depot = depot
        self.port = port
        self.process = process
        with open(os.path.join(depot, "ca.pem"), "rb") as handle:
            self.ca_cert = x509.load_pem_x509_certificate(handle.read())

    @property
    def url(self):
        return "http://127.0.0.1:%d/scep" % self.port

    @property
    def ca_fingerprint(self):
        return _certs.fingerprint(self.ca_cert)


def init_depot(depot):
    """A fresh scepserver CA in depot (~0.2 s)."""
    tool = helpers.need_tool("scepserver", "apt-get install scep")
    subprocess.run([tool, "ca", "-init", "-depot", depot, "-keySize", "2048", "-years", "1",
                    "-organization", "IP Office Test SCEP CA"], check=True, capture_output=True, timeout=60)
    return depot


def wait_for_scep(port, process=None, timeout=10.0, path="/scep"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError("scepserver exited with %s: %s" % (process.returncode, process.stderr.read()))
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", path + "?operation=GetCACaps")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.03)
    raise RuntimeError("no SCEP service on 127.0.0.1:%d after %ss" % (port, timeout))


@contextlib.contextmanager
def scepserver(depot, challenge=CHALLENGE, crtvalid=365):
    """The real scepserver serving depot on a random port; stopped (SIGTERM) afterwards."""
    tool = helpers.need_tool("scepserver", "apt-get install scep")
    port = helpers.free_port()
    process = subprocess.Popen([tool, "-depot", depot, "-port", str(port), "-challenge", challenge,
                                "-allowrenew", "0", "-crtvalid", str(crtvalid)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_scep(port, process)
        yield ScepServer(depot, port, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def copy_depot(source, target):
    shutil.copytree(source, target)
    return target


# ------------------------------------------------------------------------------ path-rewriting proxy


class _Threaded(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _serve(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


class TlsFiles(object):
    """A test CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.ca_key = _certs.generate_private_key()
        self.ca_cert = _certs.build_certificate("CN=SCEP Proxy Test CA", self.ca_key, 30, ca=True)
        key = _certs.generate_private_key()
        cert = _certs.build_certificate("CN=127.0.0.1", key, 30, subject_alt_names=["IP:127.0.0.1", "DNS:localhost"],
                                        issuer_cert=self.ca_cert, issuer_key=self.ca_key)
        self.ca_file = os.path.join(directory, "proxy-ca.pem")
        self.cert_file = os.path.join(directory, "proxy-cert.pem")
        self.key_file = os.path.join(directory, "proxy-key.pem")
        with open(self.ca_file, "wb") as handle:
            handle.write(_certs.cert_pem(self.ca_cert))
        with open(self.cert_file, "wb") as handle:
            handle.write(_certs.cert_pem(cert))
        with open(self.key_file, "wb") as handle:
            handle.write(_certs.key_pem(key))


@contextlib.contextmanager
def rewriting_proxy(target_port, public_path=None, target_path="/scep", tls=None):
    """Forward GET/POST on public_path (default: the EJBCA URI) to 127.0.0.1:target_port target_path.

    Any other path answers 404, like a real server.  With tls (a TlsFiles) the proxy speaks HTTPS.
    Yields the port; the proxy records the paths it saw in .seen.
    """
    from ansible_collections.ipoffice.security.plugins.module_utils._model import DEFAULT_SCEP_URI
    public_path = public_path or DEFAULT_SCEP_URI
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _forward(self, method):
            parts = urllib.parse.urlsplit(self.path)
            seen.append((method, parts.path))
            body = None
            if method == "POST":
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if parts.path != public_path:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            upstream = http.client.HTTPConnection("127.0.0.1", target_port, timeout=30)
            target = target_path + ("?" + parts.query if parts.query else "")
            headers = {"Content-Type": self.headers.get("Content-Type", "application/octet-stream")} if body else {}
            upstream.request(method, target, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            self.send_response(response.status)
            self.send_header("Content-Type", response.getheader("Content-Type") or "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            upstream.close()

        def do_GET(self):
            self._forward("GET")

        def do_POST(self):
            self._forward("POST")

    server = _Threaded(("127.0.0.1", 0), Handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert_file, tls.key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.seen = seen
    thread = _serve(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ------------------------------------------------------------------------------ PENDING responder


class PendingResponder(object):
    """A SCEP CA of our own that answers PKCSReq with PENDING and issues after ``polls_before_issue``
    CertPolls (or answers FAILURE badCertID to polls when ``fail_polls``).  Replies imitate micromdm's
    wire format: SHA-1 signed, single-DES envelope.  GetCACaps/GetCACert like scepserver.
    """

    def __init__(self, polls_before_issue=1, fail_polls=False, caps=("SHA-256", "AES", "DES3", "POSTPKIOperation"),
                 reply_cipher="des"):
        self.ca_key = _certs.generate_private_key()
        self.ca_cert = _certs.build_certificate("CN=Pending Test CA,O=IP Office Tests", self.ca_key, 30, ca=True)
        self.polls_before_issue = polls_before_issue
        self.fail_polls = fail_polls
        self.caps = caps
        self.reply_cipher = reply_cipher
        self.transactions = {}
        self.messages = []  # (message type name, transaction id)
        self.methods = []  # HTTP method of each PKIOperation
        self.algorithms = []  # (digest, request envelope cipher) of each PKIOperation
        self.server = None

    @property
    def ca_fingerprint(self):
        return _certs.fingerprint(self.ca_cert)

    def handle(self, der):
        request = _scep.parse_message(der)
        self.messages.append((_scep.MESSAGE_TYPES.get(request.message_type), request.transaction_id))
        signer = _scep.verify_message(request, [request.signer_cert])
        inner = _scep.open_envelope(request.content, self.ca_key, self.ca_cert)
        self.algorithms.append((request.digest_algorithm, _envelope_cipher(request.content)))
        tid = request.transaction_id
        if request.message_type in (_scep.PKCS_REQ, _scep.RENEWAL_REQ):
            csr = x509.load_der_x509_csr(inner)
            assert csr.is_signature_valid
            self.transactions[tid] = {"csr": csr, "polls": 0}
            return self._reply(request, signer, _scep.PENDING)
        if request.message_type == _scep.CERT_POLL:
            entry = self.transactions.get(tid)
            if entry is None or self.fail_polls:
                return self._reply(request, signer, _scep.FAILURE, fail_info="4")
            entry["polls"] += 1
            if entry["polls"] < self.polls_before_issue:
                return self._reply(request, signer, _scep.PENDING)
            cert = self._issue(entry["csr"])
            content = _scep.envelope(_scep.certs_only([cert, self.ca_cert]), signer, self.reply_cipher)
            return self._reply(request, signer, _scep.SUCCESS, content=content)
        return self._reply(request, signer, _scep.FAILURE, fail_info="2")

    def _issue(self, csr):
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.ca_cert.subject)
                   .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=365))
                   .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
                   .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), False))
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            builder = builder.add_extension(san.value, False)
        except x509.ExtensionNotFound:
            pass
        return builder.sign(self.ca_key, hashes.SHA256())

    def _reply(self, request, signer, status, content=None, fail_info=None):
        return _scep.sign_message(content, self.ca_cert, self.ca_key, _scep.CERT_REP, request.transaction_id,
                                  os.urandom(16), digest="sha1", recipient_nonce=request.sender_nonce,
                                  pki_status=status, fail_info=fail_info)

    @contextlib.contextmanager
    def serve(self, path="/scep"):
        responder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status, content_type, data):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _operation(self, body):
                parts = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parts.query)
                operation = query.get("operation", [""])[0]
                if parts.path != path:
                    return self._answer(404, "text/plain", b"not found")
                if operation == "GetCACaps":
                    return self._answer(200, "text/plain", "\n".join(responder.caps).encode())
                if operation == "GetCACert":
                    return self._answer(200, "application/x-x509-ca-cert",
                                        responder.ca_cert.public_bytes(serialization.Encoding.DER))
                if operation == "PKIOperation":
                    responder.methods.append(self.command)
                    if body is None:
                        import base64
                        body = base64.b64decode(query["message"][0])
                    return self._answer(200, "application/x-pki-message", responder.handle(body))
                return self._answer(400, "text/plain", b"unknown operation")

            def do_GET(self):
                self._operation(None)

            def do_POST(self):
                self._operation(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

        server = _Threaded(("127.0.0.1", 0), Handler)
        self.server = server
        thread = _serve(server)
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


def _envelope_cipher(der):
    from asn1crypto import cms
    return cms.ContentInfo.load(der)["content"]["encrypted_content_info"]["content_encryption_algorithm"][
        "algorithm"].native


# ------------------------------------------------------------------------------------------ tinyproxy


class Tinyproxy(object):
    def __init__(self, port, log):
        self.port = port
        self.log = log

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def requests(self):
        """The request lines tinyproxy logged ("CONNECT 127.0.0.1:443 HTTP/1.1", "GET http://... HTTP/1.1")."""
        with open(self.log) as handle:
            return [line.split("): ", 1)[1].strip() for line in handle if "Request (file descriptor" in line]


@contextlib.contextmanager
def tinyproxy(directory, basic_auth=None):
    """Debian's tinyproxy on 127.0.0.1 (a random port), configured here, every request logged; stopped after.

    ``basic_auth`` (user, password): the proxy then wants Basic Proxy-Authorization (407 otherwise).
    No ConnectPort line: CONNECT is allowed to any port (the test servers' random ones).
    """
    tool = helpers.need_tool("tinyproxy", "apt-get install tinyproxy-bin")
    os.makedirs(directory, exist_ok=True)
    port = helpers.free_port()
    config = os.path.join(directory, "tinyproxy.conf")
    log = os.path.join(directory, "tinyproxy.log")
    lines = ["Port %d" % port, "Listen 127.0.0.1", "Timeout 30", "LogLevel Info", "MaxClients 20",
             "Allow 127.0.0.1", "DisableViaHeader Yes"]
    if basic_auth:
        lines.append("BasicAuth %s %s" % basic_auth)
    with open(config, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    with open(log, "w") as output:
        # -d: in the foreground, logging to stderr (here the log file).
        process = subprocess.Popen([tool, "-d", "-c", config], stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=output)
    try:
        helpers.wait_for_port(port, process=process)
        yield Tinyproxy(port, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
