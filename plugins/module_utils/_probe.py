# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The enforcement probe: what a live system accepts from a TLS client, judged against its store.

Read-back (``_live``) proves what a system serves.  The check levels and the H.323/SIP security levels
are entered in Manager by hand, and IP Office has no API to read them back, but both are observable from
outside: with a received-certificate check level other than none the system asks a connecting TLS client
for its certificate and judges it at that level, and it refuses cipher suites below its security level.

Client certificates.  The probe connects once per graded certificate, each issued on the spot by the
operator's *probe CA* (a CA added to the system's trusted store for this purpose): ``valid``, ``expired``,
``no_key_usage``, ``wrong_eku``, ``unknown_critical_extension``, ``key_1024``, ``self_signed``,
``wrong_name``, and once with no certificate at all (``CASES``).  It records which handshakes the endpoint
accepted; with TLS 1.3 the server's verdict on a client certificate arrives *after* the client's handshake
is complete, so each connection reads (and, on SIP endpoints, sends an OPTIONS request) for a bounded time
to see the alert.  For every level the check engine predicts how a system at that level, trusting what the
store's TCS holds, would treat each certificate (``predict``); ``enforced`` is every level whose predictions
agree with what was observed (``consistent_levels``): one level, or a range where the evidence cannot
separate two levels (high and high_remote refuse every certificate the probe can make: it cannot present a
pinned one, whose key it does not have).  A configured level outside that range is ``live_level_mismatch``.

Ciphers.  On telephony (SIP) and H.323 endpoints the probe offers only cipher suites below the configured
security level (``cipher_level`` defines low / medium / high as minimum cipher strength), one class per
connection; a server that picks one is ``live_cipher_level_mismatch``.

Bounds.  Every connection is limited by the endpoint's timeout for the whole exchange (``_tls.Deadline``),
an endpoint gets at most ``MAX_CONNECTIONS`` connections, reads stop at ``MAX_READ_BYTES``.  The graded
certificates are valid for minutes, built in memory, and handed to OpenSSL through anonymous in-memory
files (``memfd_create``, or a pipe): never written to the store or to disk.  The probe CA's private key is
read from its file into memory and never copied anywhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import contextlib
import datetime
import ipaddress
import os
import re
import socket
import ssl
import time

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _tls
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    CHECK_LEVELS,
    LINE_CHECK_LEVELS,
    SECURITY_LEVELS,
    SecurityError,
)

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # pragma: no cover - reported by the modules
    pass

OPTION = "live_probe_ca"
FINDING_CODES = ("live_level_mismatch", "live_cipher_level_mismatch", "live_probe_ca_untrusted",
                 "live_probe_inconclusive")

# The graded client certificates, in the order they are presented (no_certificate first: its connection
# also tells which address the system sees the probe coming from, the name the other certificates carry).
CASES = ("no_certificate", "valid", "expired", "no_key_usage", "wrong_eku", "unknown_critical_extension",
         "key_1024", "self_signed", "not_pinned", "wrong_name")
CASE_TEXT = {
    "no_certificate": "no client certificate",
    "valid": "a valid certificate from the probe CA",
    "expired": "an expired certificate",
    "no_key_usage": "a certificate without key usage",
    "wrong_eku": "a certificate whose extended key usage is codeSigning only",
    "unknown_critical_extension": "a certificate with an unknown critical extension",
    "key_1024": "a certificate with a 1024-bit RSA key",
    "self_signed": "a self-signed certificate",
    "not_pinned": "a valid certificate that is not in the trusted store (not pinned)",
    "wrong_name": "a certificate for another name",
}
# The probe cannot present a pinned certificate (an exact copy in the TCS: it does not have the key of
# any), so its valid certificate is the not-pinned one too: the same handshake is reported under both.
SAME_HANDSHAKE = {"not_pinned": "valid"}
# An OID of our own for the unknown critical extension (an X.667 UUID OID: 2.25.<UUID as integer>).
UNKNOWN_EXTENSION_OID = "2.25.216510178296213419473305328707313911251"
WRONG_NAME = "probe-wrong-name.invalid"  # RFC 2606: never a real name
PROBE_ORGANIZATION = "ipoffice.security probe"
VALIDITY = datetime.timedelta(minutes=10)
BACKDATE = datetime.timedelta(minutes=5)

# Codes a system at medium may or may not act on: from R11.1.3 medium checks key usage, EKU and critical
# extensions, but a system upgraded to R11.1.3 only starts to once the setting is changed again (and TLS
# libraries check EKU and critical extensions whenever they build a chain): either outcome fits medium.
MEDIUM_OPTIONAL_CODES = frozenset(["no_key_usage", "purpose_mismatch", "unknown_critical_extension"])
# TLS libraries refuse an RSA-1024 key at their own security level whatever the system's check level,
# so a refused key_1024 never counts against low or medium (an accepted one still counts against high).
LIBRARY_FLOOR_CASES = frozenset(["key_1024"])

MAX_CONNECTIONS = 16
MAX_READ_BYTES = 16384        # a SIP response, session tickets: far below
ALERT_WAIT = 2.0              # seconds to wait for a TLS 1.3 server's verdict after the handshake
_POLL = 0.05

# What each level setting is called in Manager (Security Settings > System > Certificates).
SETTING_LABELS = {
    "management_interfaces": "Received Certificate Checks (Management Interfaces)",
    "telephony_endpoints": "Received Certificate Checks (Telephony endpoints)",
    "sip_security_level": "SIP Security Level",
    "h323_security_level": "H.323 Security Level",
}

# ----------------------------------------------------------------------------------------- probe CA


class ProbeCA(object):
    """The operator's probe CA: certificate and private key, in memory only."""

    def __init__(self, cert, key, path):
        self.cert = cert
        self.key = key
        self.path = path
        self.sha256 = _certs.fingerprint(cert)

    def info(self, state=None, now=None):
        info = dict((k, v) for k, v in _certs.cert_info(self.cert, now).items()
                    if k in ("subject", "issuer", "not_before", "not_after", "days_left", "sha256"))
        info["certificate_path"] = self.path
        if state is not None:
            info["trusted_by_store"] = trusted_by(state, self)
        return info


def load_probe_ca(spec, now=None, option=OPTION):
    """The ProbeCA of the ``live_probe_ca`` option ({certificate_path, private_key_path, private_key_password}).

    Both files are read once into memory (regular files only, bounded in size); the key is never copied.
    """
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise SecurityError("invalid_setting", "%s must be a dictionary with certificate_path and private_key_path. "
                            "Change the '%s' option." % (option, option), option=option)
    unknown = sorted(set(spec) - {"certificate_path", "private_key_path", "private_key_password"})
    if unknown:
        raise SecurityError("unknown_setting", "%s takes certificate_path, private_key_path and "
                            "private_key_password; unknown key(s): %s. Change the '%s' option."
                            % (option, ", ".join(unknown), option), option=option)
    for field in ("certificate_path", "private_key_path"):
        if not spec.get(field) or not isinstance(spec.get(field), str):
            raise SecurityError("missing_option", "%s.%s must name a file on the node that runs the probe. Set it "
                                "in the '%s' option." % (option, field, option), option="%s.%s" % (option, field))
    cert_option = option + ".certificate_path"
    key_option = option + ".private_key_path"
    certs = _certs.load_certificates(_certs.read_input(path=spec["certificate_path"], option=cert_option),
                                     option=cert_option)
    cert = certs[0]
    now = now or _certs.utcnow()
    if not _certs.is_ca(cert):
        raise SecurityError("invalid_probe_ca", "%s ('%s') is not a CA certificate (basicConstraints CA:TRUE), so "
                            "the certificates the probe issues with it cannot chain to it. Give the probe CA's "
                            "certificate in the '%s' option." % (spec["certificate_path"],
                                                                 cert.subject.rfc4514_string(), cert_option),
                            option=cert_option)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SecurityError("invalid_probe_ca", "The probe CA '%s' is not valid now (valid %s to %s): certificates it "
                            "issues would be refused for that alone. Renew it (and add the new one to the systems' "
                            "trusted stores), then change the '%s' option."
                            % (cert.subject.rfc4514_string(), cert.not_valid_before_utc.isoformat(),
                               cert.not_valid_after_utc.isoformat(), cert_option), option=cert_option)
    try:
        key = _certs.load_private_key(_certs.read_input(path=spec["private_key_path"], option=key_option),
                                      password=spec.get("private_key_password"), option=key_option)
    except SecurityError as exc:
        if exc.option == "private_key_password":
            exc.option = option + ".private_key_password"
            exc.message = exc.message.replace("'private_key_password' option", "'%s.private_key_password' option"
                                              % option)
            exc.args = (exc.message,)
        raise
    if not _certs.key_matches(cert, key):
        raise SecurityError("probe_ca_key_mismatch", "The private key in %s does not belong to the probe CA "
                            "certificate %s ('%s'). Change the '%s' option."
                            % (spec["private_key_path"], spec["certificate_path"], cert.subject.rfc4514_string(),
                               key_option), option=key_option)
    return ProbeCA(cert, key, spec["certificate_path"])


def trusted_by(state, probe_ca):
    return probe_ca.sha256 in set(_certs.fingerprint(c) for c in state.trusted_certificates())


# ----------------------------------------------------------------------------- graded certificates


class GradedCertificates(object):
    """The graded client certificates of one probe run, built in memory on first use.

    ``address``: the probe's own address as the system sees it (the name the certificates carry; the
    remote levels check it).  Keys are made once per run: RSA-2048 for every case but key_1024.
    """

    def __init__(self, probe_ca, address, now=None):
        self.ca = probe_ca
        self.address = address
        self.now = (now or _certs.utcnow()).replace(microsecond=0)
        self._key = None
        self._small_key = None
        self._built = {}

    def key(self, case):
        if case == "key_1024":
            if self._small_key is None:
                self._small_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
            return self._small_key
        if self._key is None:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._key

    def names(self):
        try:
            # An IPv6 link-local address carries its interface (%eth0), which no certificate can.
            return [x509.IPAddress(ipaddress.ip_address(self.address.split("%", 1)[0]))]
        except ValueError:
            return [x509.DNSName(self.address)]

    def get(self, case):
        """(certificate, private key) presented for a case; None for no_certificate."""
        case = SAME_HANDSHAKE.get(case, case)
        if case == "no_certificate":
            return None
        if case not in self._built:
            self._built[case] = self._build(case)
        return self._built[case]

    def _build(self, case):
        key = self.key(case)
        public_key = key.public_key()
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, PROBE_ORGANIZATION),
                             x509.NameAttribute(NameOID.COMMON_NAME, "ipoffice.security probe %s" % case)])
        start = self.now - BACKDATE
        end = self.now + VALIDITY
        if case == "expired":
            start, end = self.now - datetime.timedelta(days=1) - VALIDITY, self.now - datetime.timedelta(days=1)
        self_signed = case == "self_signed"
        builder = (x509.CertificateBuilder()
                   .subject_name(subject)
                   .issuer_name(subject if self_signed else self.ca.cert.subject)
                   .public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(start)
                   .not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        if case != "no_key_usage":
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False,
                decipher_only=False), critical=True)
        usage = ExtendedKeyUsageOID.CODE_SIGNING if case == "wrong_eku" else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        names = [x509.DNSName(WRONG_NAME)] if case == "wrong_name" else self.names()
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
        builder = builder.add_extension(ski, critical=False)
        if self_signed:
            aki = x509.AuthorityKeyIdentifier(key_identifier=ski.digest, authority_cert_issuer=None,
                                              authority_cert_serial_number=None)
        else:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca.cert.public_key())
        builder = builder.add_extension(aki, critical=False)
        if case == "unknown_critical_extension":
            builder = builder.add_extension(x509.UnrecognizedExtension(
                x509.ObjectIdentifier(UNKNOWN_EXTENSION_OID), b"\x05\x00"), critical=True)
        cert = builder.sign(key if self_signed else self.ca.key, hashes.SHA256())
        return cert, key

    def chain_pem(self, case):
        """(certificate chain PEM, key PEM) for OpenSSL: the leaf then (when CA-issued) the probe CA."""
        cert, key = self.get(case)
        chain = [cert] if SAME_HANDSHAKE.get(case, case) == "self_signed" else [cert, self.ca.cert]
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return _certs.certs_pem(chain), key_pem


@contextlib.contextmanager
def memory_file(data):
    """A path OpenSSL can open that names ``data`` in memory only: an anonymous memfd, else a pipe.

    Never a file on any file system: nothing survives the process (or this context).
    """
    fd = None
    if hasattr(os, "memfd_create"):
        try:
            fd = os.memfd_create("ipoffice-probe", getattr(os, "MFD_CLOEXEC", 0))
        except OSError:
            fd = None
    if fd is not None:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            yield _fd_path(fd)
        finally:
            os.close(fd)
        return
    # A pipe holds up to 64 KiB on every platform we run on; a PEM chain and key are a few KiB.
    read_end, write_end = os.pipe()
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(write_end, view)
                view = view[written:]
        finally:
            os.close(write_end)
        yield _fd_path(read_end)
    finally:
        os.close(read_end)


def _fd_path(fd):
    for base in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(base):
            return "%s/%d" % (base, fd)
    raise SecurityError("probe_unsupported", "This node has neither /proc/self/fd nor /dev/fd, so the probe cannot "
                        "hand its in-memory certificates to OpenSSL without writing them to disk (which it never "
                        "does). Run the probe on a Linux or BSD node (the controller), or leave 'probe' off.",
                        option="live_endpoints")


# --------------------------------------------------------------------------------------- predictions


def candidate_levels(serves):
    """The levels the setting of an endpoint can take (lines: none, medium and high only)."""
    return LINE_CHECK_LEVELS if serves.startswith("line:") else CHECK_LEVELS


def predict(state, graded, purpose, levels, now=None):
    """{level: {case: 'accepted' | 'refused' | 'either'}}: how a system at each level would treat each case.

    A system at a level other than none asks for a certificate and refuses a client without one; at none it
    asks for none and accepts every handshake.  Certificates are judged by the check engine, as the system
    judges what it receives: trusting the store's TCS, with the store's identities for 'reflected', and at
    the remote levels the probe's address as the name.
    """
    from ansible_collections.ipoffice.security.plugins.module_utils import _checks

    trusted = tuple(state.trusted_certificates())
    identities = [cred.cert for cred in (state.identity, state.telephony) if cred is not None]
    result = {}
    for level in levels:
        row = {}
        for case in CASES:
            if case == "no_certificate":
                row[case] = "accepted" if level == "none" else "refused"
                continue
            if level == "none":
                row[case] = "accepted"
                continue
            cert, _key = graded.get(case)
            chain = () if SAME_HANDSHAKE.get(case, case) == "self_signed" else (graded.ca.cert,)
            name = graded.address.split("%", 1)[0] if level in _checks.REMOTE_LEVELS else None
            report = _checks.evaluate(cert, level=level, purpose=purpose, chain=chain, trusted=trusted,
                                      identity=identities, at=now or graded.now, peer_name=name)
            codes = set(report.codes)
            if not codes:
                row[case] = "either" if case in LIBRARY_FLOOR_CASES else "accepted"
            elif level.startswith("medium") and codes <= MEDIUM_OPTIONAL_CODES:
                row[case] = "either"
            else:
                row[case] = "refused"
        result[level] = row
    return result


def consistent_levels(predictions, observed):
    """The levels whose every prediction agrees with what was observed (cases without an outcome are skipped)."""
    result = []
    for level, row in predictions.items():
        agrees = True
        for case, outcome in observed.items():
            if outcome not in ("accepted", "refused"):
                continue
            if row[case] not in (outcome, "either"):
                agrees = False
                break
        if agrees:
            result.append(level)
    return result


# -------------------------------------------------------------------------------------- cipher levels


def cipher_level(cipher):
    """The security level a cipher suite (an ``SSLContext.get_ciphers()`` entry) meets, or 'below_low'.

    low: encrypts and authenticates the server (no NULL encryption, no anonymous key exchange, no export
    grade).  medium: also at least 128-bit, no RC4, single or triple DES, IDEA, MD5.  high: also TLS 1.2 or
    later, an AEAD cipher (AES-GCM, AES-CCM with a full tag, ChaCha20-Poly1305) and forward secrecy
    (ECDHE or DHE; every TLS 1.3 suite).
    """
    name = cipher.get("name") or ""
    symmetric = (cipher.get("symmetric") or "").lower()
    bits = cipher.get("strength_bits") or 0
    if symmetric in ("", "null") or bits == 0 or cipher.get("auth") == "auth-null" or "EXP" in name.split("-"):
        return "below_low"
    if bits < 128 or any(weak in symmetric for weak in ("rc4", "des", "idea", "rc2")) or \
            (cipher.get("digest") or "").lower() == "md5":
        return "low"
    tls13 = cipher.get("protocol") == "TLSv1.3"
    forward_secret = cipher.get("kea") in ("kx-ecdhe", "kx-dhe", "kx-any")
    if cipher.get("aead") and (tls13 or forward_secret) and "CCM8" not in name and "CCM_8" not in name:
        return "high"
    return "medium"


_UNUSABLE_KX = ("kx-psk", "kx-rsa-psk", "kx-dhe-psk", "kx-ecdhe-psk", "kx-srp", "kx-gost", "kx-gost18")
_UNUSABLE_AUTH = ("auth-psk", "auth-srp", "auth-gost01", "auth-gost12")
# The cipher classes the probe offers, weakest first: (name, the level a suite of it is below, the suites'
# level, TLS versions).  A class is offered when the configured level is above its suites' level.
CIPHER_CLASSES = (
    ("no_encryption_or_anonymous", "low", "below_low", ("TLSv1", "TLSv1_2")),
    ("weak_cipher", "medium", "low", ("TLSv1", "TLSv1_2")),
    ("tls_before_1_2", "high", "medium", ("TLSv1", "TLSv1_1")),
    ("no_aead_or_forward_secrecy", "high", "medium", ("TLSv1_2", "TLSv1_2")),
)
CIPHER_CLASS_TEXT = {
    "no_encryption_or_anonymous": "suites without encryption (NULL) or without server authentication (anonymous)",
    "weak_cipher": "suites with RC4, DES, 3DES, IDEA, an export-grade or below-128-bit cipher, or an MD5 MAC",
    "tls_before_1_2": "TLS 1.0 and 1.1 (no AEAD suites exist there)",
    "no_aead_or_forward_secrecy": "TLS 1.2 suites without an AEAD cipher or without forward secrecy (CBC, static "
                                  "RSA key exchange, AES-CCM-8)",
}
_LEVEL_RANK = {"below_low": 0, "low": 1, "medium": 2, "high": 3}


def _all_suites():
    """Every TLS 1.2-and-older suite this node's OpenSSL can offer, as get_ciphers() entries."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    except ssl.SSLError:  # pragma: no cover - LibreSSL has no security levels
        context.set_ciphers("ALL:COMPLEMENTOFALL")
    return [c for c in context.get_ciphers() if c.get("protocol") != "TLSv1.3"
            and c.get("kea") not in _UNUSABLE_KX and c.get("auth") not in _UNUSABLE_AUTH]


def cipher_classes(configured):
    """The classes to offer below a configured security level: [(class, suites names)] (names may be [])."""
    suites = _all_suites()
    result = []
    for name, below, suites_level, _versions in CIPHER_CLASSES:
        if _LEVEL_RANK[below] > _LEVEL_RANK[configured]:
            continue
        if name == "tls_before_1_2":
            # Any suite but those below low (their own class): the protocol version is what is below high.
            names = [c["name"] for c in suites if _LEVEL_RANK[cipher_level(c)] >= _LEVEL_RANK["low"]]
        elif name == "no_aead_or_forward_secrecy":
            names = [c["name"] for c in suites if cipher_level(c) == "medium"]
        else:
            names = [c["name"] for c in suites if cipher_level(c) == suites_level]
        result.append((name, below, names))
    return result


def suite_names_by_id():
    return dict((c["id"] & 0xFFFF, c["name"]) for c in _all_suites())


# ----------------------------------------------------------------------------------------- handshakes


class _Watcher(object):
    """What OpenSSL's message callback saw: the server's hello, certificate request, session tickets."""

    def __init__(self):
        self.server_hello = None
        self.certificate_request = False
        self.tickets = 0
        self.alert = None

    def __call__(self, conn, direction, version, content_type, msg_type, data):
        if direction != "read":
            return
        try:
            content_type, msg_type = int(content_type), int(msg_type)
        except (TypeError, ValueError):
            return
        if content_type == 22:  # handshake
            if msg_type == 2 and self.server_hello is None:
                self.server_hello = bytes(data)
            elif msg_type == 13:
                self.certificate_request = True
            elif msg_type == 4:
                self.tickets += 1
        elif content_type == 21 and len(data) >= 2:  # alert
            self.alert = data[1]


def _server_hello_suite(message):
    """The cipher suite id a ServerHello message (handshake header included) names, or None."""
    try:
        offset = 4 + 2 + 32  # header, legacy_version, random
        session_id_length = message[offset]
        offset += 1 + session_id_length
        return (message[offset] << 8) | message[offset + 1]
    except (IndexError, TypeError):
        return None


def _context(ciphers="DEFAULT", versions=None, watcher=None):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    low, high = versions or ("TLSv1", None)
    try:
        context.minimum_version = getattr(ssl.TLSVersion, low)
        if high:
            context.maximum_version = getattr(ssl.TLSVersion, high)
    except (AttributeError, ValueError):  # pragma: no cover - depends on the OpenSSL build
        pass
    try:
        # Security level 0: this client must be able to offer what it probes for (old protocols, weak
        # suites) and to present an RSA-1024 certificate.
        context.set_ciphers(ciphers + ":@SECLEVEL=0")
    except ssl.SSLError:
        context.set_ciphers(ciphers)
    if watcher is not None and hasattr(context, "_msg_callback"):
        # The only way Python's ssl shows which handshake messages arrived (a ServerHello before a refusal).
        context._msg_callback = watcher
    return context


def _reason(exc):
    return (getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc) or
            exc.__class__.__name__)[:200]


class Endpoint(object):
    """Where and how to connect: host, port, SNI, the per-connection limit, the connection budget."""

    def __init__(self, host, port, server_name, timeout, sip=False):
        self.host = host
        self.port = port
        self.sni = server_name if server_name else (None if _tls._is_ip(host) else host)
        self.timeout = timeout
        self.sip = sip
        self.connections = 0
        self.local_address = None
        self.sip_target = server_name or host

    def connection(self, context, after):
        """One bounded connection: {outcome, protocol, cipher, reason, ...}.

        ``after(endpoint, tls, watcher, deadline)`` runs once the handshake completed and says
        (refused, reason, extra fields).
        """
        if self.connections >= MAX_CONNECTIONS:
            return {"outcome": "not_tried", "reason": "the probe's limit of %d connections per endpoint was reached"
                    % MAX_CONNECTIONS}
        self.connections += 1
        started = time.monotonic()
        try:
            raw = socket.create_connection((self.host.strip("[]"), int(self.port)), timeout=self.timeout)
        except (OSError, ValueError) as exc:
            return {"outcome": "error", "reason": "cannot connect: %s" % _reason(exc)}
        try:
            if self.local_address is None:
                self.local_address = raw.getsockname()[0]
            watcher = getattr(context, "_msg_callback", None)
            tls = context.wrap_socket(raw, server_hostname=self.sni, do_handshake_on_connect=False)
            holder = [tls]
            with _tls.Deadline(max(0.0, self.timeout - (time.monotonic() - started)), lambda: holder) as deadline:
                return self._exchange(tls, watcher, deadline, after)
        finally:
            raw.close()

    def _exchange(self, tls, watcher, deadline, after):
        result = {"outcome": None, "protocol": None, "cipher": None, "reason": None}
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            if deadline.expired:
                result.update(outcome="error", reason="no TLS handshake within %s seconds" % deadline.seconds)
            else:
                result.update(outcome="refused", reason="refused during the handshake: %s" % _reason(exc))
            self._seen(result, watcher)
            return result
        result["protocol"] = tls.version()
        result["cipher"] = (tls.cipher() or (None,))[0]
        self._seen(result, watcher)
        try:
            refused, reason, extra = after(self, tls, watcher, deadline)
        except (ssl.SSLError, OSError) as exc:
            if deadline.expired:
                refused, reason, extra = False, "no verdict within the time limit; taken as accepted", {}
            else:
                refused, reason, extra = True, "refused after the handshake: %s" % _reason(exc), {}
        result.update(extra)
        result["outcome"] = "refused" if refused else "accepted"
        result["reason"] = reason
        try:
            tls.close()
        except OSError:  # pragma: no cover
            pass
        return result

    def _seen(self, result, watcher):
        if isinstance(watcher, _Watcher):
            result["certificate_requested"] = watcher.certificate_request
            result["server_hello"] = watcher.server_hello is not None
            if watcher.server_hello is not None and not result.get("cipher"):
                result["suite_id"] = _server_hello_suite(watcher.server_hello)

    def wait_seconds(self, deadline):
        return min(ALERT_WAIT, deadline.remaining())


def _wait_for_verdict(endpoint, tls, watcher, deadline, case=None):
    """After a completed handshake: (refused, reason, extra).

    TLS 1.2 servers judge the client's certificate before their Finished: a completed handshake is an
    accepted one.  TLS 1.3 servers judge it after the client has finished, so read for a bounded time: an
    alert (or the connection closed) is a refusal; data or a session ticket (sent once the server has
    accepted the client's Finished), or silence until the wait ends, is an acceptance.
    """
    tls13 = tls.version() == "TLSv1.3"
    # On SIP endpoints an OPTIONS request is the "little" to write: its answer ends the wait at once.  Over
    # TLS 1.2 the verdict is already known, so it is sent only with the valid certificate, for its status.
    if endpoint.sip and (tls13 or case == "valid"):
        return _send_options(endpoint, tls, watcher, deadline)
    if not tls13:
        return False, "accepted (TLS handshake completed)", {}
    wait_until = time.monotonic() + endpoint.wait_seconds(deadline)
    while time.monotonic() < wait_until:
        if isinstance(watcher, _Watcher) and watcher.tickets:
            return False, "accepted (the server sent a session ticket after the handshake)", {}
        tls.settimeout(_POLL)
        try:
            data = tls.recv(MAX_READ_BYTES)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        if not data:
            if deadline.expired:
                break
            return True, "the server closed the connection right after the handshake", {}
        return False, "accepted (the server sent data)", {}
    return False, "accepted (no alert within %.1f seconds after the handshake)" % ALERT_WAIT, {}


# ---------------------------------------------------------------------------------------- SIP OPTIONS

_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6][0-9][0-9]) ?([^\r\n]*)$")


def _token():
    return binascii.hexlify(os.urandom(8)).decode("ascii")


def _sip_host(host):
    return "[%s]" % host.strip("[]") if ":" in host else host


def options_request(target, port, local_address, local_port, call_id=None, branch=None, tag=None):
    """An RFC 3261 OPTIONS request (bytes) and its Call-ID."""
    local = _sip_host(local_address)
    call_id = call_id or "%s@%s" % (_token(), local_address.strip("[]"))
    lines = [
        "OPTIONS sip:%s:%d;transport=tls SIP/2.0" % (_sip_host(target), port),
        "Via: SIP/2.0/TLS %s:%d;branch=z9hG4bK%s;rport" % (local, local_port, branch or _token()),
        "Max-Forwards: 70",
        "To: <sip:%s:%d>" % (_sip_host(target), port),
        "From: <sip:ipoffice-security-probe@%s>;tag=%s" % (local, tag or _token()),
        "Call-ID: %s" % call_id,
        "CSeq: 1 OPTIONS",
        "Contact: <sip:ipoffice-security-probe@%s:%d;transport=tls>" % (local, local_port),
        "Accept: application/sdp",
        "User-Agent: ipoffice.security probe",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii"), call_id


def _header(head, name):
    for line in head.split("\r\n")[1:]:
        key, _sep, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def parse_responses(data, call_id):
    """(final response dict or None, complete: whether data holds a final response) from SIP bytes."""
    text = data.decode("utf-8", "replace")
    while True:
        first, newline, _rest = text.partition("\n")
        if not newline:
            return None, False
        first = first.rstrip("\r")
        match = _STATUS_LINE.match(first)
        if not match:
            return {"status_line": first[:200], "status_code": None, "reason_phrase": None,
                    "error": "the reply is not a SIP response"}, True
        head, sep, rest = text.partition("\r\n\r\n")
        if not sep:
            return None, False
        try:
            length = int(_header(head, "Content-Length") or _header(head, "l") or 0)
        except ValueError:
            length = 0
        if len(rest) < length:
            return None, False
        code = int(match.group(1))
        if code < 200:
            text = rest[length:]
            continue
        return {"status_line": first[:200], "status_code": code, "reason_phrase": match.group(2)[:200],
                "matches_request": _header(head, "Call-ID") == call_id and
                (_header(head, "CSeq") or "").split()[-1:] == ["OPTIONS"]}, True


def _send_options(endpoint, tls, watcher, deadline):
    """Send OPTIONS on an established connection and read the final response (bounded in time and size)."""
    local = tls.getsockname()
    request, call_id = options_request(endpoint.sip_target, endpoint.port, local[0], local[1])
    extra = {"sip_options": {"sent": True, "status_line": None, "status_code": None, "reason_phrase": None}}
    wait_until = time.monotonic() + endpoint.wait_seconds(deadline)
    tls.settimeout(max(0.05, wait_until - time.monotonic()))
    tls.sendall(request)
    received = b""
    while time.monotonic() < wait_until and len(received) < MAX_READ_BYTES:
        tls.settimeout(_POLL)
        try:
            data = tls.recv(MAX_READ_BYTES - len(received))
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        if not data:
            extra["sip_options"]["error"] = "the server closed the connection without a final response"
            refused = not received and tls.version() == "TLSv1.3"
            return refused, ("the server closed the connection after the handshake" if refused else
                             "accepted (TLS handshake completed)"), extra
        received += data
        response, complete = parse_responses(received, call_id)
        if complete:
            extra["sip_options"].update(response)
            if response["status_code"] is None:
                return False, "accepted (the server answered OPTIONS, but not in SIP)", extra
            return False, "accepted (the server answered OPTIONS: %s)" % response["status_line"], extra
    extra["sip_options"]["error"] = ("no final response within %.1f seconds" % ALERT_WAIT
                                     if len(received) < MAX_READ_BYTES else
                                     "more than %d bytes without a final response" % MAX_READ_BYTES)
    return False, "accepted (no alert after the handshake)", extra


# ------------------------------------------------------------------------------------------- the probe


def level_setting(state, serves):
    """(setting name, configured level) of an endpoint's received-certificate checks, or (None, None)."""
    checks = state.settings["checks"]
    if serves == "management":
        return "management_interfaces", checks["management_interfaces"]
    if serves == "telephony":
        return "telephony_endpoints", checks["telephony_endpoints"]
    if serves.startswith("line:"):
        name = serves[len("line:"):]
        for line in checks.get("ip_office_lines") or []:
            if line["name"] == name:
                return serves, line["check_level"]
    return None, None


def security_setting(state, serves):
    """(setting name, configured level) of the minimum cipher strength of an endpoint, or (None, None)."""
    checks = state.settings["checks"]
    if serves == "telephony":
        return "sip_security_level", checks["sip_security_level"]
    if serves == "h323":
        return "h323_security_level", checks["h323_security_level"]
    return None, None


def _setting_text(setting):
    if setting.startswith("line:"):
        return "the check level of IP Office line '%s' (ip_office_lines)" % setting[len("line:"):]
    return "%s (%s)" % (setting, SETTING_LABELS[setting])


# What the system judges the probe's certificate for: a client of the endpoint (SIP trunks: sip_client).
CLIENT_PURPOSE = {"management": "client", "telephony": "sip_client", "h323": "client", "line": "client"}


def probe(state, endpoint, probe_ca, timeout, where, finding, now=None):
    """Probe one endpoint; returns the probe report (``live.probe``) and reports findings through ``finding``."""
    now = now or _certs.utcnow()
    started = time.monotonic()
    serves = endpoint["serves"]
    kind = "line" if serves.startswith("line:") else serves
    sip = serves == "telephony"
    target = Endpoint(endpoint["host"], endpoint["port"], endpoint.get("server_name"), timeout, sip=sip)
    setting, configured = level_setting(state, serves)
    report = {"probe_ca": probe_ca.info(state, now), "setting": setting, "configured": configured,
              "purpose": CLIENT_PURPOSE[kind], "enforced": None, "incomplete": [], "cases": [],
              "predictions": None, "sip_options": None, "ciphers": None, "connections": 0,
              "elapsed_seconds": None}
    observed = {}
    graded = None
    for case in CASES:
        if case in SAME_HANDSHAKE:
            first = next((item for item in report["cases"] if item["case"] == SAME_HANDSHAKE[case]), None)
            if first is None:
                continue
            item = dict(first, case=case, presented=CASE_TEXT[case], same_handshake_as=SAME_HANDSHAKE[case])
            report["cases"].append(item)
            observed[case] = item["outcome"]
            continue
        if case != "no_certificate" and graded is None:
            graded = GradedCertificates(probe_ca, target.local_address, now)
        item = _present(target, graded, case)
        report["cases"].append(item)
        observed[case] = item["outcome"]
        if target.local_address is None:
            break  # not even a TCP connection: nothing else can be learnt
    report["incomplete"] = [item["case"] for item in report["cases"] if item["outcome"] not in ("accepted", "refused")
                            and not item.get("same_handshake_as")]
    if sip:
        report["sip_options"] = _options_report(report["cases"])
    trusted = report["probe_ca"]["trusted_by_store"]
    informative = [case for case, outcome in observed.items() if outcome in ("accepted", "refused")]
    if not trusted:
        finding("live_probe_ca_untrusted", "%s (serves %s of %s): the store does not trust the probe CA '%s' (SHA-256 "
                "%s), so the probe cannot tell which check level the system enforces (from medium up a system "
                "refuses the probe's certificates whenever it does not trust that CA). Add the probe CA to the "
                "store (trusted_certificate) and to the system's trusted store (export: tcs/add), then probe again."
                % (where, serves, state.system_name, report["probe_ca"]["subject"], probe_ca.sha256),
                setting=setting, probe_ca_sha256=probe_ca.sha256)
    elif graded is not None and informative:
        predictions = predict(state, graded, CLIENT_PURPOSE[kind], candidate_levels(serves), now)
        report["predictions"] = predictions
        report["enforced"] = consistent_levels(predictions, observed)
        _level_findings(state, endpoint, where, report, finding)
    cipher_setting, cipher_configured = security_setting(state, serves)
    if cipher_setting and target.local_address is not None:
        report["ciphers"] = _probe_ciphers(target, graded, cipher_setting, cipher_configured)
        _cipher_findings(state, endpoint, where, report["ciphers"], finding)
        report["incomplete"].extend("cipher:" + entry["class"] for entry in report["ciphers"]["classes"]
                                    if entry["outcome"] in ("error", "not_tried"))
    if report["incomplete"]:
        failed = ["%s: %s" % (item["case"], item.get("reason")) for item in report["cases"]
                  if item["case"] in report["incomplete"]]
        failed += ["cipher:%s: %s" % (entry["class"], entry["reason"]) for entry in
                   (report["ciphers"] or {}).get("classes", []) if "cipher:" + entry["class"] in report["incomplete"]]
        finding("live_probe_inconclusive", "%s (serves %s of %s): %d of the probe's connections gave no verdict (%s), "
                "so %s. Check the endpoint and 'live_timeout', then probe again."
                % (where, serves, state.system_name, len(failed), "; ".join(failed[:4]),
                   "what it enforces is judged from the others only" if report["enforced"] is not None
                   else "no check level could be judged"), setting=setting, cases=list(report["incomplete"]))
    report["connections"] = target.connections
    report["elapsed_seconds"] = round(time.monotonic() - started, 3)
    return report


def _present(target, graded, case):
    watcher = _Watcher()
    item = {"case": case, "presented": CASE_TEXT[case], "sha256": None}
    if case == "no_certificate":
        context = _context(watcher=watcher)
        item.update(target.connection(context, after=lambda *args: _wait_for_verdict(*args, case=case)))
    else:
        cert, _key = graded.get(case)
        item["sha256"] = _certs.fingerprint(cert)
        chain_pem, key_pem = graded.chain_pem(case)
        context = _context(watcher=watcher)
        with memory_file(chain_pem) as chain_path, memory_file(key_pem) as key_path:
            context.load_cert_chain(chain_path, key_path)
        del key_pem
        item.update(target.connection(context, after=lambda *args: _wait_for_verdict(*args, case=case)))
    item.pop("server_hello", None)
    item.pop("suite_id", None)
    return item


def _options_report(cases):
    """The OPTIONS exchange to report: over the valid certificate's connection, else the first that got one."""
    ordered = sorted(cases, key=lambda item: item["case"] != "valid")
    for item in ordered:
        if item.get("sip_options") and item.get("same_handshake_as") is None:
            return dict(item["sip_options"], over=item["case"])
    return {"sent": False, "status_line": None, "status_code": None, "reason_phrase": None, "over": None,
            "error": "no connection was accepted, so no OPTIONS request could be sent"}


def _evidence(report):
    accepted = [item["case"] for item in report["cases"] if item["outcome"] == "accepted"
                and not item.get("same_handshake_as")]
    refused = ["%s (%s)" % (item["case"], item.get("reason")) for item in report["cases"]
               if item["outcome"] == "refused" and not item.get("same_handshake_as")]
    return "accepted: %s; refused: %s" % (", ".join(accepted) or "none", "; ".join(refused) or "none")


def _level_findings(state, endpoint, where, report, finding):
    setting, configured, enforced = report["setting"], report["configured"], report["enforced"]
    if setting is None or configured in enforced:
        return
    what = ("only with %s" % " or ".join(enforced)) if enforced else "with no check level at all"
    finding("live_level_mismatch", "%s (serves %s of %s): the store sets %s to %s, but what the endpoint accepted "
            "and refused from the probe is consistent %s (%s). Enter the store's level on the system (Manager: "
            "Security Settings > System > Certificates), or set %s in the store to what the system should enforce."
            % (where, endpoint["serves"], state.system_name, _setting_text(setting), configured, what,
               _evidence(report), setting if not setting.startswith("line:") else "that line's check_level"),
            setting=setting, configured=configured, enforced_levels=list(enforced))


def _probe_ciphers(target, graded, setting, configured):
    names_by_id = suite_names_by_id()
    report = {"setting": setting, "configured": configured, "classes": []}
    for name, below, suites in cipher_classes(configured):
        versions = dict((c[0], c[3]) for c in CIPHER_CLASSES)[name]
        entry = {"class": name, "below": below, "description": CIPHER_CLASS_TEXT[name], "offered": len(suites),
                 "outcome": None, "negotiated": None, "protocol": None, "reason": None}
        if not suites:
            entry.update(outcome="not_testable", reason="this node's OpenSSL cannot offer any suite of this class")
            report["classes"].append(entry)
            continue
        watcher = _Watcher()
        context = _context(ciphers=":".join(suites), versions=versions, watcher=watcher)
        if graded is not None:
            chain_pem, key_pem = graded.chain_pem("valid")
            with memory_file(chain_pem) as chain_path, memory_file(key_pem) as key_path:
                context.load_cert_chain(chain_path, key_path)
            del key_pem
        seen = target.connection(context, after=lambda *args: (False, "handshake completed", {}))
        entry["protocol"] = seen.get("protocol")
        if seen["outcome"] == "accepted" or seen.get("server_hello"):
            # A ServerHello answering an offer of only these suites is the server choosing one of them, even
            # when the handshake then fails for another reason (a client certificate it refuses).
            entry["outcome"] = "accepted"
            entry["negotiated"] = seen.get("cipher") or names_by_id.get(seen.get("suite_id"))
            entry["reason"] = "the server chose %s" % (entry["negotiated"] or "one of them")
        elif seen["outcome"] == "refused":
            entry["outcome"] = "refused"
            entry["reason"] = seen.get("reason")
        else:
            entry["outcome"] = seen["outcome"]
            entry["reason"] = seen.get("reason")
        report["classes"].append(entry)
    return report


def _cipher_findings(state, endpoint, where, ciphers, finding):
    accepted = [entry for entry in ciphers["classes"] if entry["outcome"] == "accepted"]
    if not accepted:
        return
    setting = ciphers["setting"]
    finding("live_cipher_level_mismatch", "%s (serves %s of %s): the store sets %s to %s, but the endpoint accepted "
            "%s. Enter the store's level on the system (Manager: Security Settings > System > Certificates), or "
            "lower %s in the store if that is what the system should allow."
            % (where, endpoint["serves"], state.system_name, _setting_text(setting), ciphers["configured"],
               "; ".join("%s below %s (%s; negotiated %s)" % (e["class"], e["below"], e["description"],
                                                              e["negotiated"] or "unknown") for e in accepted),
               setting),
            setting=setting, configured=ciphers["configured"], accepted=[
                {"class": e["class"], "below": e["below"], "negotiated": e["negotiated"], "protocol": e["protocol"]}
                for e in accepted])


__all__ = ["CASES", "CIPHER_CLASSES", "FINDING_CODES", "ProbeCA", "GradedCertificates", "cipher_level",
           "consistent_levels", "load_probe_ca", "memory_file", "predict", "probe", "SECURITY_LEVELS"]
