# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An RFC 8894 SCEP client: GetCACaps, GetCACert, PKCSReq/RenewalReq, CertPoll.

Built on ``cryptography`` (keys, CSRs, certificates, ciphers, the AES request envelope).  ``asn1crypto``
is used only for the CMS structures ``cryptography`` cannot build or read: SignedData with SCEP's
signed attributes, the 3DES request envelope, and the CertRep reply (its signature check and its
envelope, which servers encrypt with DES, 3DES or AES and often encode as BER).

The same message functions serve both roles (``sign_message`` / ``parse_message`` / ``envelope`` /
``open_envelope``), so a test responder can speak the exact format the client expects.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import hashlib
import ipaddress
import os
import socket
import ssl
import time
import warnings

from http import client as http_client
from urllib.parse import quote, unquote, urlsplit

from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._tls import Deadline

try:
    from asn1crypto import cms, core, parser
    HAS_ASN1CRYPTO = True
except ImportError:  # pragma: no cover - depends on the managed node
    HAS_ASN1CRYPTO = False

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import AttributeOID, NameOID
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:  # pragma: no cover - cryptography < 43
        TripleDES = algorithms.TripleDES
    _HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
except ImportError:  # pragma: no cover - reported by the modules (require_libraries)
    _HASHES = {}

# SCEP signed attributes (RFC 8894 section 3.2.1).
OID_MESSAGE_TYPE = "2.16.840.1.113733.1.9.2"
OID_PKI_STATUS = "2.16.840.1.113733.1.9.3"
OID_FAIL_INFO = "2.16.840.1.113733.1.9.4"
OID_SENDER_NONCE = "2.16.840.1.113733.1.9.5"
OID_RECIPIENT_NONCE = "2.16.840.1.113733.1.9.6"
OID_TRANSACTION_ID = "2.16.840.1.113733.1.9.7"
OID_FAIL_INFO_TEXT = "1.3.6.1.5.5.7.24.1"

CERT_REP = 3
RENEWAL_REQ = 17
UPDATE_REQ = 18
PKCS_REQ = 19
CERT_POLL = 20
MESSAGE_TYPES = {CERT_REP: "CertRep", RENEWAL_REQ: "RenewalReq", UPDATE_REQ: "UpdateReq", PKCS_REQ: "PKCSReq",
                 CERT_POLL: "CertPoll"}

SUCCESS = "success"
FAILURE = "failure"
PENDING = "pending"
PKI_STATUS = {"0": SUCCESS, "2": FAILURE, "3": PENDING}
PKI_STATUS_CODE = dict((v, k) for k, v in PKI_STATUS.items())

FAIL_INFO = {
    "0": ("badAlg", "the CA does not accept the algorithm used"),
    "1": ("badMessageCheck", "the CA could not verify the request's signature or integrity"),
    "2": ("badRequest", "the CA refused the request (wrong challenge password, unknown end entity, or a policy "
                        "that forbids it)"),
    "3": ("badTime", "the request's time is outside what the CA accepts (clock skew?)"),
    "4": ("badCertID", "the CA does not know the certificate the request names"),
}

# Preference order among what a CA offers (GetCACaps names).  MD5 is never sent.
_HASH_CAPS = (("SHA-256", "sha256"), ("SHA-512", "sha512"), ("SHA-1", "sha1"))

# Content encryption: asn1crypto's EncryptionAlgorithm names -> (cipher class, key bytes)
_CIPHERS = {
    "des": ("des", 8),
    "tripledes_3key": ("3des", 24),
    "aes128_cbc": ("aes", 16),
    "aes192_cbc": ("aes", 24),
    "aes256_cbc": ("aes", 32),
}

DEFAULT_TIMEOUT = 30             # seconds for one whole request (connect, send, the whole reply)
MAX_REPLY_BYTES = 1024 * 1024    # a SCEP reply (CA certificates, a CertRep) needs a few KiB
DEFAULT_RETRIES = 3
MAX_BACKOFF = 8.0


def _require_asn1crypto():
    if not HAS_ASN1CRYPTO:
        raise SecurityError("missing_library", "SCEP needs the Python library asn1crypto on the managed node "
                            "(pip install asn1crypto).")


# ------------------------------------------------------------------------------------------- values


class CaInfo(object):
    """What GetCACert returned: the CA, an optional RA, and which certificate does what."""

    def __init__(self, certificates, content_type=None):
        self.certificates = list(certificates)
        self.content_type = content_type
        cas = [c for c in self.certificates if _is_ca(c)]
        others = [c for c in self.certificates if not _is_ca(c)]
        # The issuing CA: the CA certificate that is not the issuer of another CA certificate in the list
        # (the one closest to the leaf); intermediates come with their roots in CA+RA replies.
        issuing = None
        for cert in cas:
            if not any(c is not cert and c.issuer == cert.subject for c in cas):
                issuing = cert
                break
        self.ca = issuing or (cas[0] if cas else self.certificates[0])
        self.ra = others
        # The RA decrypts requests and signs replies when there is one (RFC 8894 section 3.5.1); the request is
        # encrypted with RSA key transport, so an RA certificate with an RSA key is preferred.
        rsa_others = [c for c in others if _is_rsa(c)]
        self.recipient = (_pick(rsa_others, "key_encipherment") or (rsa_others[0] if rsa_others else None)
                          or _pick(others, "key_encipherment") or (others[0] if others else self.ca))
        self.signers = others + [self.ca] if others else [self.ca]

    @property
    def ca_certificates(self):
        return [c for c in self.certificates if _is_ca(c)] or [self.ca]


class Reply(object):
    """A verified CertRep."""

    def __init__(self, status, transaction_id, fail_info=None, fail_info_text=None, certificates=None,
                 signer=None):
        self.status = status
        self.transaction_id = transaction_id
        self.fail_info = fail_info
        self.fail_info_text = fail_info_text
        self.certificates = certificates or []
        self.signer = signer


class Message(object):
    """A parsed (not yet trusted) SCEP message."""

    def __init__(self, message_type, transaction_id, sender_nonce, recipient_nonce, pki_status, fail_info,
                 fail_info_text, content, signer_cert, certificates, digest_algorithm):
        self.message_type = message_type
        self.transaction_id = transaction_id
        self.sender_nonce = sender_nonce
        self.recipient_nonce = recipient_nonce
        self.pki_status = pki_status
        self.fail_info = fail_info
        self.fail_info_text = fail_info_text
        self.content = content
        self.signer_cert = signer_cert
        self.certificates = certificates
        self.digest_algorithm = digest_algorithm


def _is_ca(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return cert.subject == cert.issuer


def _is_rsa(cert):
    return isinstance(cert.public_key(), rsa.RSAPublicKey)


def check_recipient(ca):
    """Refuse a CA whose request recipient (its RA, else the CA itself) has no RSA key.

    SCEP encrypts every request to the recipient with RSA key transport (RFC 8894 section 3.1: the
    EnvelopedData's recipient must have an RSA key); an EC (or EdDSA) CA can take part only through an RA
    certificate with an RSA key, published with it in GetCACert.
    """
    if _is_rsa(ca.recipient):
        return
    from ansible_collections.ipoffice.security.plugins.module_utils import _certs
    kind, bits, curve = _certs.key_description(ca.recipient.public_key())
    raise SecurityError("scep_unsupported_ca_key", "The SCEP server's %s certificate '%s' has a key of type %s%s; SCEP "
                        "encrypts each request to that key with RSA (RFC 8894), so nothing can be enrolled with it. "
                        "Nothing was sent or changed. Use a CA with an RSA key, or one that publishes an RA "
                        "certificate with an RSA key in GetCACert; or change the 'server' option."
                        % ("RA" if ca.recipient in ca.ra else "CA", ca.recipient.subject.rfc4514_string(), kind,
                           (" (%s)" % curve) if curve else (" (%s bits)" % bits if bits else "")),
                        option="server", key_type=kind)


def _pick(certs, usage):
    for cert in certs:
        try:
            if getattr(cert.extensions.get_extension_for_class(x509.KeyUsage).value, usage):
                return cert
        except x509.ExtensionNotFound:
            continue
    return None


# --------------------------------------------------------------------------------- algorithm choice


def choose_algorithms(caps):
    """(hash name, cipher name) from GetCACaps: SHA-256 and AES preferred; 3DES fallback; never MD5/DES."""
    caps = set(c.strip().upper() for c in caps)
    standard = "SCEPSTANDARD" in caps
    digest = None
    for cap, name in _HASH_CAPS:
        if cap.upper() in caps or (standard and name == "sha256"):
            digest = name
            break
    if digest is None:
        raise SecurityError("scep_unsupported_algorithm", "The SCEP server offers neither SHA-256, SHA-512 nor SHA-1 "
                            "(GetCACaps: %s); MD5 is never sent. Upgrade or reconfigure the CA, or change the "
                            "'server' option." % (", ".join(sorted(caps)) or "empty"), option="server")
    if "AES" in caps or standard:
        cipher = "aes128_cbc"
    elif "DES3" in caps:
        cipher = "tripledes_3key"
    else:
        raise SecurityError("scep_unsupported_algorithm", "The SCEP server offers neither AES nor 3DES (GetCACaps: "
                            "%s); single DES is never sent. Upgrade or reconfigure the CA, or change the 'server' "
                            "option." % (", ".join(sorted(caps)) or "empty"), option="server")
    return digest, cipher


def transaction_id_for(key):
    """Hex SHA-256 of the public key (what sscep/certmonger send): stable across retries and polls."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest().upper()


# ------------------------------------------------------------------------------------ request parts


def build_csr(key, subject, subject_alt_names=(), challenge_password=None, digest="sha256"):
    """A PKCS#10 request: subject, SAN extension, challengePassword attribute."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if subject_alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(subject_alt_names)), critical=False)
    if challenge_password:
        builder = builder.add_attribute(AttributeOID.CHALLENGE_PASSWORD, challenge_password.encode("utf-8"))
    return builder.sign(key, _HASHES[digest]())


def self_signed_signer(key, subject, now=None):
    """The throw-away certificate that signs a first request (RFC 8894 section 2.3)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=10))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))


def envelope(content, recipient, cipher="aes128_cbc"):
    """EnvelopedData (a DER ContentInfo) of content for recipient's RSA key."""
    if cipher in ("aes128_cbc", "aes256_cbc"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return (pkcs7.PKCS7EnvelopeBuilder().set_data(content).add_recipient(recipient)
                    .set_content_encryption_algorithm(algorithms.AES128 if cipher == "aes128_cbc"
                                                      else algorithms.AES256)
                    .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))
    return _envelope_asn1(content, recipient, cipher)


def _envelope_asn1(content, recipient, cipher):
    # cryptography's envelope builder offers only AES: 3DES (older CAs) and single DES (the test
    # responder imitating micromdm's replies) are built here.
    _require_asn1crypto()
    kind, size = _CIPHERS[cipher]
    key = os.urandom(size)
    iv = os.urandom(16 if kind == "aes" else 8)
    encrypted = _symmetric(kind, key, iv).encryptor()
    padded = _pad(content, 16 if kind == "aes" else 8)
    body = encrypted.update(padded) + encrypted.finalize()
    encrypted_key = recipient.public_key().encrypt(key, padding.PKCS1v15())
    enveloped = cms.EnvelopedData({
        "version": "v0",
        "recipient_infos": [cms.RecipientInfo(name="ktri", value=cms.KeyTransRecipientInfo({
            "version": "v0",
            "rid": cms.RecipientIdentifier(name="issuer_and_serial_number", value=_issuer_and_serial(recipient)),
            "key_encryption_algorithm": {"algorithm": "rsaes_pkcs1v15"},
            "encrypted_key": encrypted_key,
        }))],
        "encrypted_content_info": {
            "content_type": "data",
            "content_encryption_algorithm": {"algorithm": cipher, "parameters": core.OctetString(iv)},
            "encrypted_content": body,
        },
    })
    return cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump()


def _symmetric(kind, key, iv):
    if kind == "aes":
        return Cipher(algorithms.AES(key), modes.CBC(iv))
    if kind == "des":
        key = key * 3  # single DES is 3DES with one key three times
    return Cipher(TripleDES(key), modes.CBC(iv))


def _pad(data, block):
    count = block - len(data) % block
    return data + bytes([count]) * count


def _unpad(data, block):
    if not data or len(data) % block:
        raise ValueError("bad padding")
    count = data[-1]
    if count < 1 or count > block or data[-count:] != bytes([count]) * count:
        raise ValueError("bad padding")
    return data[:-count]


def _issuer_and_serial(cert):
    from asn1crypto import x509 as asn1_x509
    return cms.IssuerAndSerialNumber({
        "issuer": asn1_x509.Name.load(cert.issuer.public_bytes()),
        "serial_number": cert.serial_number,
    })


def issuer_and_subject(issuer, subject):
    """CertPoll content: IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name }."""
    _require_asn1crypto()
    # universal class (0), constructed (1), tag 16: a SEQUENCE around the two DER-encoded Names
    return parser.emit(0, 1, 16, issuer.public_bytes() + subject.public_bytes())


def sign_message(content, signer_cert, signer_key, message_type, transaction_id, sender_nonce, digest="sha256",
                 recipient_nonce=None, pki_status=None, fail_info=None, certificates=None):
    """A SCEP pkiMessage: SignedData over content with the SCEP signed attributes (DER ContentInfo)."""
    _require_asn1crypto()
    hash_class = _HASHES[digest]
    message_digest = hashlib.new(digest, content or b"").digest()
    # SCEP's own attributes are unknown to asn1crypto: their values go in as typed ANY values.
    attributes = [
        ("content_type", cms.ContentType("data")),
        ("signing_time", cms.Time(name="utc_time", value=core.UTCTime(
            datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)))),
        ("message_digest", core.OctetString(message_digest)),
        (OID_MESSAGE_TYPE, core.PrintableString(str(message_type))),
        (OID_TRANSACTION_ID, core.PrintableString(transaction_id)),
    ]
    if sender_nonce is not None:
        attributes.append((OID_SENDER_NONCE, core.OctetString(sender_nonce)))
    if recipient_nonce is not None:
        attributes.append((OID_RECIPIENT_NONCE, core.OctetString(recipient_nonce)))
    if pki_status is not None:
        attributes.append((OID_PKI_STATUS, core.PrintableString(PKI_STATUS_CODE[pki_status])))
    if fail_info is not None:
        attributes.append((OID_FAIL_INFO, core.PrintableString(str(fail_info))))
    signed_attrs = cms.CMSAttributes([cms.CMSAttribute({"type": name, "values": [value]})
                                      for name, value in attributes])
    # The signature covers the DER of the attributes as a SET OF (RFC 5652 section 5.4).
    to_sign = b"\x31" + signed_attrs.dump()[1:]
    if isinstance(signer_key, rsa.RSAPrivateKey):
        signature = signer_key.sign(to_sign, padding.PKCS1v15(), hash_class())
        signature_algorithm = "rsassa_pkcs1v15"
    else:
        raise SecurityError("scep_unsupported_key", "SCEP needs an RSA key (the CA encrypts its reply to it). "
                            "Choose an RSA 'signature'.", option="signature")
    from asn1crypto import x509 as asn1_x509
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier(name="issuer_and_serial_number", value=_issuer_and_serial(signer_cert)),
        "digest_algorithm": {"algorithm": digest},
        "signed_attrs": signed_attrs,
        "signature_algorithm": {"algorithm": signature_algorithm},
        "signature": signature,
    })
    encap = {"content_type": "data"}
    if content is not None:
        encap["content"] = content
    certs = [signer_cert] + list(certificates or [])
    signed = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [{"algorithm": digest}],
        "encap_content_info": encap,
        "certificates": [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in certs],
        "signer_infos": [signer_info],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def certs_only(certificates):
    """A degenerate certs-only PKCS#7 (what a successful CertRep envelope holds)."""
    return pkcs7.serialize_certificates(list(certificates), serialization.Encoding.DER)


# ------------------------------------------------------------------------------------------ reading


def parse_message(der):
    """Parse a pkiMessage (any role); nothing is trusted yet: see verify_message()."""
    _require_asn1crypto()
    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            raise ValueError("not a SignedData but %s" % info["content_type"].native)
        signed = info["content"]
        signer_infos = signed["signer_infos"]
        if len(signer_infos) != 1:
            raise ValueError("%d signers, expected one" % len(signer_infos))
        signer_info = signer_infos[0]
        attrs = {}
        for attribute in signer_info["signed_attrs"]:
            attrs[attribute["type"].dotted] = attribute["values"][0]
        content = signed["encap_content_info"]["content"]
        content_bytes = None
        if content.native is not None:
            content_bytes = _octets(content)
        certificates = []
        for choice in signed["certificates"] or []:
            if choice.name == "certificate":
                certificates.append(x509.load_der_x509_certificate(choice.chosen.dump()))
        message_type = int(_text(attrs[OID_MESSAGE_TYPE]))
        sid = signer_info["sid"]
        signer_cert = find_signer(sid, certificates) if sid.name == "issuer_and_serial_number" else None
        message = Message(
            message_type=message_type,
            transaction_id=_text(attrs[OID_TRANSACTION_ID]),
            sender_nonce=_octets(attrs[OID_SENDER_NONCE]) if OID_SENDER_NONCE in attrs else None,
            recipient_nonce=_octets(attrs[OID_RECIPIENT_NONCE]) if OID_RECIPIENT_NONCE in attrs else None,
            pki_status=PKI_STATUS.get(_text(attrs[OID_PKI_STATUS])) if OID_PKI_STATUS in attrs else None,
            fail_info=_text(attrs[OID_FAIL_INFO]) if OID_FAIL_INFO in attrs else None,
            fail_info_text=_text(attrs[OID_FAIL_INFO_TEXT]) if OID_FAIL_INFO_TEXT in attrs else None,
            content=content_bytes, signer_cert=signer_cert, certificates=certificates,
            digest_algorithm=signer_info["digest_algorithm"]["algorithm"].native)
        message._signer_info = signer_info
        message._sid = sid
        return message
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise SecurityError("scep_bad_reply", "The SCEP server's reply is not a valid SCEP message (%s). Check the "
                            "'uri' option points at a SCEP service." % _short(exc), option="uri")


def _text(value):
    parsed = value.parse() if isinstance(value, core.Any) else value
    return parsed.native if not isinstance(parsed, bytes) else parsed.decode("ascii")


def _octets(value):
    """Bytes of an OCTET STRING that may be BER constructed (chunks) or wrapped in Any."""
    raw = value.dump() if not isinstance(value, bytes) else value
    return _octets_from_ber(raw)


def _octets_from_ber(raw):
    _cls, constructed, _tag, _header, contents, _trailer = parser.parse(raw, strict=False)
    if not constructed:
        return contents
    return _join_chunks(contents)


def _elements(data):
    """The consecutive TLVs of data (DER or BER, indefinite lengths included)."""
    while data and data[:2] != b"\x00\x00":
        _cls, _constructed, _tag, header, contents, trailer = parser.parse(data, strict=False)
        length = len(header) + len(contents) + len(trailer)
        yield data[:length]
        data = data[length:]


def _join_chunks(contents):
    return b"".join(_octets_from_ber(element) for element in _elements(contents))


def find_signer(sid, certificates):
    """The certificate a CMS SignerIdentifier names (issuer and serial, or subject key identifier), or None."""
    if sid.name == "issuer_and_serial_number":
        serial = sid.chosen["serial_number"].native
        issuer = sid.chosen["issuer"].dump()
        for cert in certificates:
            if cert.serial_number == serial and cert.issuer.public_bytes() == issuer:
                return cert
        return None
    ski = sid.chosen.native
    for cert in certificates:
        try:
            if cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == ski:
                return cert
        except x509.ExtensionNotFound:
            continue
    return None


def verify_message(message, trusted_signers, digest_allowed=("sha1", "sha256", "sha384", "sha512")):
    """Check the signature of a parsed message with one of trusted_signers; return the signer used."""
    signer_info = message._signer_info
    signer = find_signer(message._sid, trusted_signers)
    if signer is None:
        raise SecurityError("scep_untrusted_reply", "The SCEP reply is signed by a certificate that is not the CA or "
                            "RA certificate GetCACert returned; it was refused.", option="server")
    digest = message.digest_algorithm
    if digest not in digest_allowed:
        raise SecurityError("scep_untrusted_reply", "The SCEP reply uses the digest %s, which is not accepted."
                            % digest, option="server")
    signed_attrs = signer_info["signed_attrs"]
    attrs = dict((a["type"].dotted, a["values"][0]) for a in signed_attrs)
    expected_digest = hashlib.new(digest, message.content or b"").digest()
    if _octets(attrs.get("1.2.840.113549.1.9.4", core.OctetString(b""))) != expected_digest:
        raise SecurityError("scep_untrusted_reply", "The SCEP reply's messageDigest does not match its content; it was "
                            "refused.", option="server")
    to_verify = b"\x31" + signed_attrs.dump()[1:]
    algorithm = signer_info["signature_algorithm"]["algorithm"].native
    public = signer.public_key()
    try:
        if algorithm == "rsassa_pss":
            params = signer_info["signature_algorithm"]["parameters"]
            hash_name = params["hash_algorithm"]["algorithm"].native
            public.verify(signer_info["signature"].native, to_verify,
                          padding.PSS(mgf=padding.MGF1(_HASHES[hash_name]()), salt_length=params["salt_length"].native),
                          _HASHES[hash_name]())
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signer_info["signature"].native, to_verify, padding.PKCS1v15(), _HASHES[digest]())
        else:
            from cryptography.hazmat.primitives.asymmetric import ec
            public.verify(signer_info["signature"].native, to_verify, ec.ECDSA(_HASHES[digest]()))
    except Exception:
        raise SecurityError("scep_untrusted_reply", "The SCEP reply's signature does not verify with the CA/RA "
                            "certificate; it was refused.", option="server")
    return signer


def open_envelope(der, key, certificate=None):
    """Decrypt an EnvelopedData ContentInfo with our RSA key (DES, 3DES or AES-CBC; DER or BER)."""
    _require_asn1crypto()
    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "enveloped_data":
            raise ValueError("not an EnvelopedData")
        enveloped = info["content"]
        encrypted_key = None
        for recipient in enveloped["recipient_infos"]:
            if recipient.name != "ktri":
                continue
            rid = recipient.chosen["rid"]
            if certificate is not None and rid.name == "issuer_and_serial_number":
                if rid.chosen["serial_number"].native != certificate.serial_number:
                    continue
            encrypted_key = recipient.chosen["encrypted_key"].native
            break
        if encrypted_key is None:
            raise ValueError("no key-transport recipient for our certificate")
        eci = enveloped["encrypted_content_info"]
        algorithm = eci["content_encryption_algorithm"]
        name = algorithm["algorithm"].native
        if name not in _CIPHERS:
            raise ValueError("unsupported content encryption %s" % name)
        kind, size = _CIPHERS[name]
        iv = algorithm["parameters"].native
        if not isinstance(iv, bytes):
            iv = _octets(algorithm["parameters"])
        # encryptedContent is [0] IMPLICIT OCTET STRING; servers send it primitive or BER constructed,
        # which asn1crypto's typed parsing rejects: walk the raw TLV instead.
        body = _raw_encrypted_content(eci)
    except (ValueError, TypeError, KeyError) as exc:
        raise SecurityError("scep_bad_reply", "The SCEP reply's envelope cannot be read (%s)." % _short(exc),
                            option="server")
    try:
        content_key = key.decrypt(encrypted_key, padding.PKCS1v15())
        if len(content_key) != size:
            raise ValueError("content key of %d bytes for %s" % (len(content_key), name))
        decryptor = _symmetric(kind, content_key, iv).decryptor()
        plain = decryptor.update(body) + decryptor.finalize()
        return _unpad(plain, 16 if kind == "aes" else 8)
    except ValueError as exc:
        raise SecurityError("scep_decrypt_failed", "The SCEP reply cannot be decrypted with the request's key (%s)."
                            % _short(exc), option="server")


def _raw_encrypted_content(eci):
    _cls, _constructed, _tag, _header, contents, _trailer = parser.parse(eci.dump(), strict=False)
    for element in _elements(contents):
        cls, constructed, tag, _header, inner, _trailer = parser.parse(element, strict=False)
        if cls == 2 and tag == 0:  # [0] IMPLICIT encryptedContent
            return _join_chunks(inner) if constructed else inner
    raise ValueError("no encryptedContent")


def read_certs_only(der):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pkcs7.load_der_pkcs7_certificates(der)


def _short(exc):
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return text[:200]


# -------------------------------------------------------------------------------------------- proxy


class Proxy(object):
    """The HTTP proxy a request goes through: where it is, the credentials it wants, and how to name it."""

    def __init__(self, host, port, authorization=None, variable=None):
        self.host = host
        self.port = port
        self.headers = {"Proxy-Authorization": authorization} if authorization else {}
        self.variable = variable
        # What messages show: never the credentials.
        self.label = "http://%s:%d" % ("[%s]" % host if ":" in host else host, port)


def _environ_value(environ, name):
    """The value of a proxy variable: the lower-case name first, as curl and Python read them.  Under CGI
    (REQUEST_METHOD set) HTTP_PROXY is ignored: a client can set it as a request header ("httpoxy")."""
    for variable in (name, name.upper()):
        if variable == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
            continue
        value = (environ.get(variable) or "").strip()
        if value:
            return variable, value
    return None, None


def _bypassed(host, port, no_proxy):
    """Whether NO_PROXY names the host: '*', a host or domain (a leading '.' or '*.' optional; a domain
    covers its subdomains), an IP address or a CIDR network, each optionally with ':port'."""
    host = host.lower().strip("[]").rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy.replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, want_port = entry, None
        if entry.startswith("["):  # [IPv6] or [IPv6]:port
            name, _bracket, rest = entry[1:].partition("]")
            want_port = rest[1:] if rest.startswith(":") else None
        elif entry.count(":") == 1:
            name, want_port = entry.split(":")
        if want_port is not None and want_port != str(port):
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.lstrip("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def proxy_for(url, use_proxy=True, environ=None):
    """The proxy to reach ``url`` through (a Proxy), or None to connect directly.

    From the environment of the module, as curl and Python's urllib read it: ``http_proxy``/``HTTP_PROXY``
    for http URLs, ``https_proxy``/``HTTPS_PROXY`` for https ones (reached with CONNECT), ``no_proxy``/
    ``NO_PROXY`` for the hosts that bypass it.  ``use_proxy`` false ignores them.  Only http:// proxies are
    supported; credentials in the proxy URL are sent as Basic Proxy-Authorization and never shown.
    """
    if not use_proxy:
        return None
    environ = os.environ if environ is None else environ
    parts = urlsplit(url)
    variable, value = _environ_value(environ, "%s_proxy" % parts.scheme)
    if not value:
        return None
    _no_variable, no_proxy = _environ_value(environ, "no_proxy")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if no_proxy and _bypassed(parts.hostname or "", port, no_proxy):
        return None
    proxy = urlsplit(value if "://" in value else "http://" + value)
    try:
        proxy_port = proxy.port or 80
    except ValueError:
        proxy_port = None
    if proxy.scheme != "http" or not proxy.hostname or proxy_port is None:
        raise SecurityError("invalid_url", "The proxy variable %s is not an http:// proxy URL (host and optional "
                            "port; %s). Correct it in the task's environment, or set 'use_proxy: false' to connect "
                            "to the SCEP server directly." % (variable, "only http:// proxies are supported"
                                                              if proxy.scheme not in ("http", "") else "a bad host "
                                                              "or port"), option="use_proxy", variable=variable)
    authorization = None
    if proxy.username is not None:
        credentials = "%s:%s" % (unquote(proxy.username), unquote(proxy.password or ""))
        authorization = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    return Proxy(proxy.hostname, proxy_port, authorization, variable)


# ---------------------------------------------------------------------------------------- transport


class _ReplyLimit(Exception):
    """The reply broke a limit (size or time): final, never retried."""


class _HTTPSConnection(http_client.HTTPSConnection):
    """HTTPS whose handshake runs on a socket already visible as ``self.sock`` (so a Deadline can stop it).

    Through a proxy (``set_tunnel``) the socket first reaches the proxy and a CONNECT opens the tunnel; the
    TLS handshake then names, and verifies, the SCEP server.
    """

    def connect(self):
        http_client.HTTPConnection.connect(self)
        server = getattr(self, "_tunnel_host", None) or self.host
        self.sock = self._context.wrap_socket(self.sock, server_hostname=server, do_handshake_on_connect=False)
        self.sock.do_handshake()


class Transport(object):
    """HTTP(S) to one SCEP URL: a kept-alive connection, bounded retries on connection errors and 5xx.

    Each request is bounded as a whole: ``timeout`` seconds from connecting to the last byte of the reply
    (a Deadline, so a server that trickles bytes or never ends its body is cut off), and at most
    ``max_bytes`` of body.  Breaking either limit fails at once with ``scep_unreachable``.

    With a ``proxy`` (proxy_for) an http URL is requested from the proxy in absolute form, and an https URL
    through a CONNECT tunnel (TLS end to end with the SCEP server); the same bounds hold, the proxy's
    handshake included.
    """

    def __init__(self, url, timeout=DEFAULT_TIMEOUT, retries=DEFAULT_RETRIES, backoff=0.5, cadata=None,
                 cafile=None, sleep=time.sleep, max_bytes=MAX_REPLY_BYTES, proxy=None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SecurityError("invalid_url", "'%s' is not an http(s) SCEP URL. Check the 'server', 'scheme', "
                                "'port' and 'uri' options." % url, option="server")
        self.url = url
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path or "/"
        default_port = 443 if self.scheme == "https" else 80
        host = "[%s]" % self.host if ":" in self.host else self.host
        self.netloc = host if self.port == default_port else "%s:%d" % (host, self.port)
        self.proxy = proxy
        # How messages name the server (and the proxy on the way, never its credentials).
        self.where = url if proxy is None else "%s (through the proxy %s)" % (url, proxy.label)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.sleep = sleep
        self.context = None
        if self.scheme == "https":
            self.context = ssl.create_default_context(cafile=cafile, cadata=cadata)
            self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._connection = None
        self._answered = 0  # replies read on the kept-alive connection

    def _connect(self):
        if self._connection is None:
            host, port = (self.proxy.host, self.proxy.port) if self.proxy else (self.host, self.port)
            if self.scheme == "https":
                self._connection = _HTTPSConnection(host, port, timeout=self.timeout, context=self.context)
                if self.proxy:
                    self._connection.set_tunnel(self.host, self.port, headers=dict(self.proxy.headers))
            else:
                self._connection = http_client.HTTPConnection(host, port, timeout=self.timeout)
            self._answered = 0
        return self._connection

    def close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(self, operation, message=None, post=False):
        """One SCEP operation; returns (content type, body).  Retries connection errors and HTTP 5xx."""
        if post:
            target = "%s?operation=%s" % (self.path, operation)
            body = message
            headers = {"Content-Type": "application/x-pki-message"}
            method = "POST"
        else:
            target = "%s?operation=%s" % (self.path, operation)
            if message is not None:
                target += "&message=" + quote(message if isinstance(message, str) else
                                              base64.b64encode(message).decode("ascii"), safe="")
            body = None
            headers = {}
            method = "GET"
        if self.proxy and self.scheme == "http":
            # To an HTTP proxy, the absolute URI (its Host header follows from it) and its credentials.
            target = "http://%s%s" % (self.netloc, target)
            headers.update(self.proxy.headers)
        attempt = 0
        while True:
            failure = None
            reused = False
            try:
                connection = self._connect()
                reused = self._answered > 0
                with Deadline(self.timeout, lambda conn=connection: (conn.sock,)) as deadline:
                    late = _ReplyLimit("did not finish answering %s within %s seconds (the limit for one whole "
                                       "request). Raise the 'timeout' option if the server is merely slow"
                                       % (operation, self.timeout))
                    try:
                        connection.request(method, target, body=body, headers=headers)
                        response = connection.getresponse()
                        data = self._read_body(response, operation)
                    except (socket.timeout, OSError, http_client.HTTPException):
                        if deadline.expired:
                            raise late
                        raise
                    if deadline.expired:  # cut off mid-body: what was read is not the whole reply
                        raise late
                self._answered += 1
                status = response.status
                content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                if status < 500:
                    if status != 200:
                        if self.proxy and status == 407:  # the proxy's own refusal
                            raise self._proxy_refused("HTTP %d %s" % (status, response.reason), status)
                        raise SecurityError("scep_http_error", "The SCEP server answered %s to %s with HTTP %d %s. "
                                            "Check the 'uri' option (%s)." % (self.where, operation, status,
                                                                              response.reason, self.path),
                                            option="uri", http_status=status)
                    return content_type, data
                failure = "HTTP %d %s%s" % (status, response.reason,
                                            (": " + data[:200].decode("utf-8", "replace").strip()) if data else "")
            except _ReplyLimit as exc:
                self.close()
                raise SecurityError("scep_unreachable", "The SCEP server %s %s; nothing was changed. Check the "
                                    "'server', 'port', 'scheme' and 'uri' options." % (self.where, exc),
                                    option="timeout" if "'timeout'" in str(exc) else "server")
            except ssl.SSLError as exc:
                self.close()
                raise SecurityError("scep_tls_error", "TLS with the SCEP server %s:%d failed: %s. Check the 'ca_file' "
                                    "option or the trusted certificate store." % (self.host, self.port, _short(exc)),
                                    option="ca_file")
            except (socket.timeout, OSError, http_client.HTTPException) as exc:
                self.close()
                if reused and isinstance(exc, (http_client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    # The server (or a proxy: tinyproxy does) closed the kept-alive connection after its last
                    # reply: ask again on a new one at once.  Not an attempt; a new connection is never reused.
                    continue
                failure = _short(exc)
                refused = self._tunnel_refused(failure)
                if refused is not None:
                    raise refused
            if attempt >= self.retries:
                raise SecurityError("scep_unreachable", "The SCEP server %s did not answer %s: %s (after %d attempts). "
                                    "Check the 'server', 'port' and 'scheme' options%s and that the server is running."
                                    % (self.where, operation, failure, attempt + 1,
                                       ", the proxy (%s, or 'use_proxy')" % self.proxy.variable if self.proxy else ""),
                                    option="server")
            self.sleep(min(MAX_BACKOFF, self.backoff * (2 ** attempt)))
            attempt += 1

    def _tunnel_refused(self, failure):
        """The error for a proxy that answered CONNECT with a refusal (4xx: final), or None."""
        if not self.proxy or not failure.startswith("Tunnel connection failed: "):
            return None
        status = failure.split(": ", 1)[1]
        code = status.split()[0]
        if code.isdigit() and int(code) >= 500:
            return None  # the proxy could not reach the server: retried like any connection error
        return self._proxy_refused(status, int(code) if code.isdigit() else None)

    def _proxy_refused(self, status, code):
        return SecurityError("scep_http_error", "The proxy %s (from %s) refused the request to the SCEP server %s: %s. "
                             "Check the proxy's access rules and credentials, list the server in NO_PROXY, or set "
                             "'use_proxy: false'." % (self.proxy.label, self.proxy.variable, self.url, status),
                             option="use_proxy", http_status=code)

    def _read_body(self, response, operation):
        """The reply body, at most max_bytes (a longer one, announced or sent, raises _ReplyLimit)."""
        too_long = _ReplyLimit("sent a reply to %s longer than %d bytes (%d KiB, the limit for a SCEP reply: it "
                               "needs a few KiB); it is not a SCEP server, or it misbehaves"
                               % (operation, self.max_bytes, self.max_bytes // 1024))
        length = response.getheader("Content-Length")
        if length and length.strip().isdigit() and int(length) > self.max_bytes:
            raise too_long
        chunks = []
        size = 0
        while True:
            chunk = response.read(min(65536, self.max_bytes + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_bytes:
                raise too_long


# ------------------------------------------------------------------------------------------- client


class Client(object):
    """One SCEP conversation with a server (GetCACaps and GetCACert cached)."""

    def __init__(self, url, transport=None, ca_identifier=None, **transport_options):
        self.transport = transport or Transport(url, **transport_options)
        self.ca_identifier = ca_identifier
        self._caps = None
        self._ca = None

    def close(self):
        self.transport.close()

    def get_ca_caps(self):
        if self._caps is None:
            _type, body = self.transport.request("GetCACaps", self.ca_identifier)
            text = body.decode("utf-8", "replace")
            self._caps = [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]
        return self._caps

    def get_ca_cert(self):
        if self._ca is None:
            content_type, body = self.transport.request("GetCACert", self.ca_identifier)
            self._ca = CaInfo(parse_ca_certs(content_type, body), content_type)
        return self._ca

    def algorithms(self):
        return choose_algorithms(self.get_ca_caps())

    def post_allowed(self):
        return "POSTPKIOPERATION" in set(c.upper() for c in self.get_ca_caps()) or \
            "SCEPSTANDARD" in set(c.upper() for c in self.get_ca_caps())

    def enroll(self, csr, signer_cert, signer_key, transaction_id, message_type=PKCS_REQ):
        """Send PKCSReq (or RenewalReq) for csr, signed by signer; return the verified Reply."""
        ca = self.get_ca_cert()
        check_recipient(ca)
        digest, cipher = self.algorithms()
        content = envelope(csr.public_bytes(serialization.Encoding.DER), ca.recipient, cipher)
        return self._operation(content, signer_cert, signer_key, transaction_id, message_type, digest)

    def poll(self, subject, signer_cert, signer_key, transaction_id):
        """CertPoll (GetCertInitial) for a pending transaction."""
        ca = self.get_ca_cert()
        check_recipient(ca)
        digest, cipher = self.algorithms()
        content = envelope(issuer_and_subject(ca.ca.subject, subject), ca.recipient, cipher)
        return self._operation(content, signer_cert, signer_key, transaction_id, CERT_POLL, digest)

    def _operation(self, content, signer_cert, signer_key, transaction_id, message_type, digest):
        ca = self.get_ca_cert()
        nonce = os.urandom(16)
        message = sign_message(content, signer_cert, signer_key, message_type, transaction_id, nonce, digest)
        _type, body = self.transport.request("PKIOperation", message, post=self.post_allowed())
        reply = parse_message(body)
        signer = verify_message(reply, ca.signers + ca.ca_certificates)
        if reply.message_type != CERT_REP:
            raise SecurityError("scep_bad_reply", "The SCEP server answered with message type %s, not CertRep."
                                % reply.message_type, option="server")
        if reply.transaction_id != transaction_id:
            raise SecurityError("scep_untrusted_reply", "The SCEP reply names transaction %s, not ours (%s); it was "
                                "refused." % (reply.transaction_id, transaction_id), option="server")
        if reply.recipient_nonce != nonce:
            raise SecurityError("scep_untrusted_reply", "The SCEP reply's recipientNonce does not match the nonce we "
                                "sent (a replayed or foreign reply); it was refused.", option="server")
        if reply.pki_status is None:
            raise SecurityError("scep_bad_reply", "The SCEP reply has no pkiStatus.", option="server")
        result = Reply(reply.pki_status, reply.transaction_id, reply.fail_info, reply.fail_info_text, signer=signer)
        if reply.pki_status == SUCCESS:
            if not reply.content:
                raise SecurityError("scep_bad_reply", "The SCEP SUCCESS reply carries no certificate.", option="server")
            plain = open_envelope(reply.content, signer_key, signer_cert)
            try:
                result.certificates = list(read_certs_only(plain))
            except ValueError as exc:
                raise SecurityError("scep_bad_reply", "The SCEP reply's certificates cannot be read (%s)."
                                    % _short(exc), option="server")
        return result


def parse_ca_certs(content_type, body):
    """GetCACert body: a DER certificate, or a degenerate PKCS#7 (CA+RA), or PEM."""
    errors = []
    if body.lstrip().startswith(b"-----BEGIN"):
        try:
            return x509.load_pem_x509_certificates(body)
        except ValueError as exc:
            errors.append(_short(exc))
    if content_type != "application/x-x509-ca-ra-cert":
        try:
            return [x509.load_der_x509_certificate(body)]
        except ValueError as exc:
            errors.append(_short(exc))
    try:
        certs = list(read_certs_only(body))
        if certs:
            return certs
    except ValueError as exc:
        errors.append(_short(exc))
    raise SecurityError("scep_bad_reply", "GetCACert did not return a certificate or a PKCS#7 of certificates (%s). "
                        "Check the 'uri' option points at a SCEP service." % "; ".join(errors), option="uri")


def fail_info_message(reply):
    code = reply.fail_info
    name, meaning = FAIL_INFO.get(code, ("unknown (%s)" % code, "the CA gave no known reason"))
    text = "failInfo %s: %s" % (name, meaning)
    if reply.fail_info_text:
        text += " (%s)" % reply.fail_info_text
    return name, text


def subject_of(name_text):
    """Helper for tests and settings: CN text -> x509.Name."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name_text)])
