# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificate toolkit every part of the collection shares.

Load certificates and keys from whatever users have (PEM, DER, base64 DER, bundles, PKCS#7,
PKCS#12, encrypted keys), fingerprint them, match keys, generate keys and certificates, and describe
certificates as the parsed ``info`` dicts used in results and diffs (never keys).

Every failure is a ``SecurityError`` with a stable code:
``empty_input``, ``input_too_large``, ``unreadable_file``, ``invalid_certificate``, ``invalid_key``,
``invalid_pkcs12``, ``wrong_password``, ``password_required``, ``private_key_in_bundle``,
``key_mismatch``, ``invalid_name``, ``invalid_san``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import datetime
import hashlib
import ipaddress
import os
import re
import stat

from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    DEFAULT_SIGNATURE,
    MAX_SAN_CHARS,
    MAX_SUBJECT_ALT_NAMES,
    MAX_TEXT_CHARS,
    SIGNATURES,
    SecurityError,
    check_choice,
    check_count,
    check_length,
    check_path,
    check_text,
)

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    # serialization.pkcs7 / pkcs12 (pkcs7 pulls in the email package) are imported by the functions that
    # read or write those containers: every module process imports this file, few of them need those.
except ImportError:  # pragma: no cover - reported at module start (_cryptography_dep)
    pass

# Nothing a user legitimately feeds us comes close to this: a full 25-entry bundle is ~50 KB.
MAX_INPUT_BYTES = 1024 * 1024

PEM_BLOCK = re.compile(
    br"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)
PEM_BEGIN = re.compile(br"-----BEGIN ([A-Z0-9 ]+)-----")
CERT_PEM_TYPES = (b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE")
KEY_PEM_TYPES = (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"DSA PRIVATE KEY",
                 b"ENCRYPTED PRIVATE KEY")
PKCS7_PEM_TYPES = (b"PKCS7", b"CMS")

DEFAULT_BACKDATE = datetime.timedelta(minutes=5)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _as_bytes(data):
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)


def _password_bytes(password):
    if password is None or password == "":
        return None
    return _as_bytes(password)


# ---------------------------------------------------------------------------------------------- input


def read_input(path=None, content=None, option="path"):
    """Bytes of a user input given as a file path or as content (str/bytes).

    Refuses non-regular files (devices, FIFOs: a 'hostile file' could block or never end), files
    larger than MAX_INPUT_BYTES, and empty input, each with a clear message naming the option.
    """
    if path is not None and content is not None:
        raise SecurityError("conflicting_options", "Give either a path or content, not both (%s)." % option,
                            option=option)
    if path is None and content is None:
        raise SecurityError("missing_option", "Nothing was given: set a path or content (%s)." % option, option=option)
    if content is not None:
        data = _as_bytes(content)
        where = "the %s content" % option
    else:
        check_path(path, option)
        where = "file %s" % path
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        except OSError as exc:
            raise SecurityError("unreadable_file", "Cannot read %s: %s. Check the '%s' option."
                                % (path, exc.strerror, option), option=option)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SecurityError("unreadable_file", "%s is not a regular file. Check the '%s' option."
                                    % (path, option), option=option)
            if info.st_size > MAX_INPUT_BYTES:
                raise SecurityError("input_too_large", "%s is %d bytes; at most %d are accepted. Check the '%s' "
                                    "option." % (path, info.st_size, MAX_INPUT_BYTES, option), option=option)
            chunks = []
            remaining = MAX_INPUT_BYTES + 1
            while remaining > 0:
                chunk = os.read(fd, min(65536, remaining))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            data = b"".join(chunks)
        finally:
            os.close(fd)
    if len(data) > MAX_INPUT_BYTES:
        raise SecurityError("input_too_large", "%s is %d bytes; at most %d are accepted. Check the '%s' option."
                            % (where, len(data), MAX_INPUT_BYTES, option), option=option)
    if not data.strip():
        raise SecurityError("empty_input", "%s is empty. Check the '%s' option." % (where.capitalize(), option),
                            option=option)
    return data


def _maybe_base64(data):
    """Decoded bytes if data is (only) base64 text, else None."""
    text = data.strip()
    if not text or not re.match(br"^[A-Za-z0-9+/=\s]+$", text):
        return None
    try:
        return base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _looks_like_pkcs12(der):
    """True when der is structurally a PKCS#12 PFX (so a load failure means a wrong password)."""
    try:
        from asn1crypto import pkcs12 as asn1_pkcs12
        pfx = asn1_pkcs12.Pfx.load(der, strict=True)
        if pfx["version"].native != "v3":
            return False
        # Force parsing of the nested AuthenticatedSafe: a truncated file fails here.
        pfx.authenticated_safe.native  # noqa: B018
        return True
    except Exception:  # asn1crypto raises many types on garbage
        return False


def _has_pkcs12_header(data):
    """True when data opens like a PFX: SEQUENCE { INTEGER 3, ...} (a certificate opens with a SEQUENCE)."""
    if not _looks_like_der_sequence(data):
        return False
    first = data[1]
    start = 2 if first < 0x80 else 2 + (first & 0x7F)
    return data[start:start + 3] == b"\x02\x01\x03"


def _looks_like_der_sequence(data):
    return len(data) >= 2 and data[0:1] == b"\x30"


# --------------------------------------------------------------------------------------- certificates


class Bundle(object):
    """What one input held: certificates (in input order), and a private key if any (PKCS#12 / PEM)."""

    def __init__(self, certificates=None, key=None, source_format=None, key_certificate=None):
        self.certificates = list(certificates or [])
        self.key = key
        self.key_certificate = key_certificate
        self.format = source_format


def load_bundle(data, password=None, option="content", allow_key=False):
    """Parse any supported certificate container.

    Returns a Bundle.  Private keys in PEM input are refused unless ``allow_key`` (a trusted-store
    bundle must not carry keys).  PKCS#12 keys are returned when present (callers that only want
    certificates ignore them).
    """
    data = _as_bytes(data)
    if not data.strip():
        raise SecurityError("empty_input", "The %s is empty." % option, option=option)
    if PEM_BEGIN.search(data):
        return _load_pem_bundle(data, password, option, allow_key)
    decoded = _maybe_base64(data)
    if decoded is not None and _looks_like_der_sequence(decoded):
        data = decoded
    if not _looks_like_der_sequence(data):
        raise SecurityError("invalid_certificate", "The %s is not a certificate: expected PEM, DER, base64 DER or "
                            "PKCS#12. Check the '%s' option." % (option, option), option=option)
    try:
        return Bundle([x509.load_der_x509_certificate(data)], source_format="der")
    except ValueError:
        pass
    if _looks_like_pkcs12(data):
        return _load_pkcs12(data, password, option)
    if _has_pkcs12_header(data):
        raise SecurityError("invalid_pkcs12", "The %s starts like a PKCS#12 file but is malformed or truncated. Check "
                            "the '%s' option (export the .p12/.pfx again)." % (option, option), option=option)
    try:
        certs = _pkcs7_certificates(data)
        if certs:
            return Bundle(certs, source_format="pkcs7")
    except ValueError:
        pass
    raise SecurityError("invalid_certificate", "The %s could not be parsed as a DER certificate, PKCS#7 or PKCS#12; it "
                        "is malformed or truncated. Check the '%s' option." % (option, option), option=option)


def _load_pkcs12(der, password, option):
    from cryptography.hazmat.primitives.serialization import pkcs12  # lazily: see the imports above
    try:
        p12 = pkcs12.load_pkcs12(der, _password_bytes(password))
    except ValueError as exc:
        if password in (None, ""):
            # A password-less PKCS#12 is allowed; if it did not open, a password is needed.
            raise SecurityError("password_required", "The PKCS#12 in %s is protected by a password: set the "
                                "'password' option for it." % option, option="password")
        raise SecurityError("wrong_password", "The PKCS#12 in %s could not be opened with the given password (%s). "
                            "Check the 'password' option." % (option, _short(exc)), option="password")
    certs = []
    key_cert = None
    if p12.cert is not None:
        key_cert = p12.cert.certificate
        certs.append(key_cert)
    certs.extend(c.certificate for c in p12.additional_certs)
    if not certs:
        raise SecurityError("invalid_pkcs12", "The PKCS#12 in %s holds no certificate. Check the '%s' option."
                            % (option, option), option=option)
    return Bundle(certs, key=p12.key, source_format="pkcs12", key_certificate=key_cert)


def _load_pem_bundle(data, password, option, allow_key):
    certs = []
    key = None
    blocks = list(PEM_BLOCK.finditer(data))
    if len(blocks) != len(PEM_BEGIN.findall(data)):
        raise SecurityError("invalid_certificate", "The %s has a PEM block without its END line: it is truncated. "
                            "Check the '%s' option." % (option, option), option=option)
    for match in blocks:
        kind = match.group(1)
        block = match.group(0)
        if kind in CERT_PEM_TYPES:
            try:
                if kind == b"TRUSTED CERTIFICATE":
                    # OpenSSL's trusted form appends trust settings after the DER certificate.
                    der = base64.b64decode(b"".join(match.group(2).split()))
                    certs.append(x509.load_der_x509_certificate(_first_der_element(der)))
                else:
                    certs.append(x509.load_pem_x509_certificate(block))
            except (ValueError, binascii.Error) as exc:
                raise SecurityError("invalid_certificate", "Certificate %d in the %s is malformed or truncated (%s). "
                                    "Check the '%s' option." % (len(certs) + 1, option, _short(exc), option),
                                    option=option)
        elif kind in KEY_PEM_TYPES:
            if not allow_key:
                raise SecurityError("private_key_in_bundle", "The %s contains a private key (%s block); a trusted "
                                    "certificate must never carry one. Remove it from the '%s' option."
                                    % (option, kind.decode(), option), option=option)
            if key is not None:
                raise SecurityError("invalid_key", "The %s holds more than one private key. Check the '%s' option."
                                    % (option, option), option=option)
            key = load_private_key(block, password, option=option)
        elif kind in PKCS7_PEM_TYPES:
            try:
                certs.extend(_pkcs7_certificates(base64.b64decode(b"".join(match.group(2).split()))))
            except (ValueError, binascii.Error) as exc:
                raise SecurityError("invalid_certificate", "The PKCS#7 block in the %s is malformed (%s). Check the "
                                    "'%s' option." % (option, _short(exc), option), option=option)
        # other blocks (parameters, CSRs) are not certificates: ignore them
    if not certs and key is None:
        raise SecurityError("invalid_certificate", "The %s holds no certificate. Check the '%s' option."
                            % (option, option), option=option)
    return Bundle(certs, key=key, source_format="pem")


def _pkcs7_certificates(der):
    """The certificates of a DER PKCS#7 / CMS SignedData (a "certs-only" .p7b/.p7c).

    OpenSSL writes the certificate SET in input order, which is BER rather than DER; cryptography
    parses that with a warning today and plans to refuse it, so fall back to asn1crypto then.
    """
    import warnings

    from cryptography.hazmat.primitives.serialization import pkcs7
    error = None  # cryptography's own error, re-raised when the asn1crypto fallback fails too
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pkcs7.load_der_pkcs7_certificates(der)
    except ValueError as exc:
        error = exc
    try:
        from asn1crypto import cms
        content = cms.ContentInfo.load(der, strict=True)
        if content["content_type"].native != "signed_data":
            raise error
        return [x509.load_der_x509_certificate(choice.chosen.dump())
                for choice in content["content"]["certificates"] or []
                if choice.name == "certificate"]
    except (ValueError, TypeError, KeyError):
        raise error


def _first_der_element(der):
    # DER length decoding of the outer SEQUENCE, to cut off trailing trust data.
    if len(der) < 2:
        raise ValueError("too short")
    first = der[1]
    if first < 0x80:
        return der[:2 + first]
    count = first & 0x7F
    length = int.from_bytes(der[2:2 + count], "big")
    return der[:2 + count + length]


def load_certificates(data, password=None, option="content"):
    """All certificates of an input (PEM bundle, DER, base64, PKCS#7, PKCS#12); keys are refused in PEM."""
    bundle = load_bundle(data, password=password, option=option, allow_key=False)
    if not bundle.certificates:
        raise SecurityError("invalid_certificate", "The %s holds no certificate. Check the '%s' option."
                            % (option, option), option=option)
    return bundle.certificates


def load_certificate(data, option="certificate"):
    """Exactly one certificate."""
    certs = load_certificates(data, option=option)
    if len(certs) != 1:
        raise SecurityError("invalid_certificate", "The %s holds %d certificates; exactly one is expected. Put the "
                            "others in the chain option." % (option, len(certs)), option=option)
    return certs[0]


def load_csr(data, option="csr"):
    """A PKCS#10 certificate signing request from PEM or DER bytes (its signature is not checked here)."""
    data = _as_bytes(data)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except (ValueError, TypeError) as exc:
        raise SecurityError("invalid_csr", "The %s is not a PKCS#10 certificate signing request (PEM 'BEGIN "
                            "CERTIFICATE REQUEST' or DER): %s. Check the '%s' option." % (option, _short(exc), option),
                            option=option)


def load_private_key(data, password=None, option="private_key"):
    """A private key from PEM (plain or encrypted, PKCS#8 or traditional) or DER."""
    data = _as_bytes(data)
    if not data.strip():
        raise SecurityError("empty_input", "The %s is empty." % option, option=option)
    pwd = _password_bytes(password)
    loaders = []
    if PEM_BEGIN.search(data):
        loaders.append(serialization.load_pem_private_key)
    else:
        decoded = _maybe_base64(data)
        if decoded is not None and _looks_like_der_sequence(decoded):
            data = decoded
        loaders.append(serialization.load_der_private_key)
    for loader in loaders:
        try:
            return loader(data, password=pwd)
        except TypeError as exc:
            text = str(exc)
            if "encrypted" in text and pwd is None:
                raise SecurityError("password_required", "The %s is encrypted: set its password (the "
                                    "'private_key_password' option)." % option, option="private_key_password")
            if "not encrypted" in text:
                # A password was given for an unencrypted key: harmless, load it without.
                return loader(data, password=None)
            raise SecurityError("invalid_key", "The %s could not be loaded (%s). Check the '%s' option."
                                % (option, _short(exc), option), option=option)
        except ValueError as exc:
            text = str(exc).lower()
            if pwd is not None and ("password" in text or "decrypt" in text or "bad decrypt" in text):
                raise SecurityError("wrong_password", "The %s could not be decrypted with the given password. Check "
                                    "the 'private_key_password' option." % option, option="private_key_password")
            raise SecurityError("invalid_key", "The %s is not a valid private key; it is malformed or truncated (%s). "
                                "Check the '%s' option." % (option, _short(exc), option), option=option)
        except Exception as exc:  # unsupported algorithm and the like
            raise SecurityError("invalid_key", "The %s could not be loaded (%s). Check the '%s' option."
                                % (option, _short(exc), option), option=option)
    raise SecurityError("invalid_key", "The %s is not a private key. Check the '%s' option." % (option, option),
                        option=option)  # pragma: no cover


def _short(exc):
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return text[:200]


# ------------------------------------------------------------------------------------------- identity


def fingerprint(cert):
    """SHA-256 fingerprint of the DER certificate: lowercase hex pairs joined by colons."""
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def normalize_fingerprint(value, option="fingerprint"):
    """Accept any common spelling (colons, spaces, case, 'sha256:' prefix); return ours."""
    text = str(value).strip().lower()
    if text.startswith("sha256:") or text.startswith("sha256="):
        text = text[7:]
    hexdigits = re.sub(r"[\s:]", "", text)
    if not re.match(r"^[0-9a-f]{64}$", hexdigits):
        raise SecurityError("invalid_fingerprint", "'%s' is not a SHA-256 fingerprint (64 hex digits, colons "
                            "allowed). Check the '%s' option." % (value, option), option=option)
    return ":".join(hexdigits[i:i + 2] for i in range(0, 64, 2))


def public_key_der(key_or_cert):
    public = key_or_cert.public_key()
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(cert, key):
    """True when key is the private key of cert."""
    return public_key_der(cert) == public_key_der(key)


def is_ca(cert):
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def is_self_signed(cert):
    """Subject equals issuer and the certificate's own key verifies its signature."""
    return cert.subject == cert.issuer and signature_verifies(cert, cert.public_key())


def is_issued_by(cert, issuer):
    """issuer's name is cert's issuer name and issuer's key verifies cert's signature."""
    return cert.issuer == issuer.subject and signature_verifies(cert, issuer.public_key())


def signature_verifies(cert, public_key):
    """True when public_key verifies cert's signature.

    Done by hand rather than with verify_directly_issued_by, which refuses SHA-1: a legacy SHA-1
    certificate is still self-signed or issued by its CA; weakness is judged separately.
    """
    try:
        hash_algorithm = cert.signature_hash_algorithm
        if isinstance(public_key, rsa.RSAPublicKey):
            params = cert.signature_algorithm_parameters
            public_key.verify(cert.signature, cert.tbs_certificate_bytes,
                              params if params is not None else padding.PKCS1v15(), hash_algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hash_algorithm))
        elif isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes)
        elif isinstance(public_key, dsa.DSAPublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, hash_algorithm)
        else:
            return False
        return True
    except Exception:  # InvalidSignature, unsupported or mismatched algorithm: does not verify
        return False


def key_description(public_key):
    """(type, bits, curve) of a public key."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size, None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "EC", public_key.curve.key_size, public_key.curve.name
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, None
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448", 456, None
    if isinstance(public_key, dsa.DSAPublicKey):
        return "DSA", public_key.key_size, None
    return public_key.__class__.__name__, None, None


def common_name(cert):
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[0].value if values else None


def subject_alt_names(cert):
    """SAN entries as text (see format_general_names)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    except ValueError:
        return ["<malformed subjectAltName>"]
    return format_general_names(san)


def signature_algorithm_name(cert):
    oid = cert.signature_algorithm_oid
    return getattr(oid, "_name", None) or oid.dotted_string


def signature_hash_name(cert):
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # unsupported algorithm
        return None
    return algorithm.name if algorithm is not None else None


def days_left(cert, now=None):
    now = now or utcnow()
    return int((cert.not_valid_after_utc - now).total_seconds() // 86400)


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def cert_info(cert, now=None):
    """The parsed description of a certificate used in results and diffs.  Never key material."""
    now = now or utcnow()
    key_type, key_bits, curve = key_description(cert.public_key())
    info = {
        "subject": cert.subject.rfc4514_string(),
        "common_name": common_name(cert),
        "issuer": cert.issuer.rfc4514_string(),
        "serial_number": format(cert.serial_number, "x"),
        "not_before": _iso(cert.not_valid_before_utc),
        "not_after": _iso(cert.not_valid_after_utc),
        "days_left": days_left(cert, now),
        "expired": cert.not_valid_after_utc < now,
        "subject_alt_names": subject_alt_names(cert),
        "key_type": key_type,
        "key_bits": key_bits,
        "signature_algorithm": signature_algorithm_name(cert),
        "is_ca": is_ca(cert),
        "self_signed": is_self_signed(cert),
        "sha256": fingerprint(cert),
    }
    if curve:
        info["key_curve"] = curve
    return info


# ------------------------------------------------------------------------------------------------ PEM


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def certs_pem(certs):
    return b"".join(cert_pem(c) for c in certs)


def key_pem(key):
    """Unencrypted PKCS#8 PEM: the store protects keys by file mode (0600), as TLS services need them."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def subject_hash(cert):
    """OpenSSL's X509_NAME_hash of the subject: the CApath link name without its '.N' suffix.

    SHA-1 over OpenSSL's canonical subject encoding (x509_name_canon): string values re-encoded as
    UTF8String, ASCII-lowercased, ASCII whitespace trimmed and collapsed; each RDN SET re-sorted in
    DER order after canonicalisation (it can change the order of a multi-valued RDN); the RDN SETs
    concatenated without the outer SEQUENCE.  First four bytes of the digest read little-endian.
    The Name is walked as raw DER so that any string type (VisibleString CN, Latin-1 T61String...)
    hashes as OpenSSL does.  Used only to name files as OpenSSL expects, never for security.
    """
    # The subject as encoded in the certificate: TBSCertificate = [0] version, serial, signature,
    # issuer, validity, subject, ...
    _tag, fields, _rest = _der_next(cert.tbs_certificate_bytes)
    tag, _content, fields = _der_next(fields)
    if tag == 0xA0:
        _tag, _content, fields = _der_next(fields)  # that was the version; now the serial is skipped
    for _field in ("signature", "issuer", "validity"):
        _tag, _content, fields = _der_next(fields)
    _tag, name_content, _rest = _der_next(fields)
    parts = []
    rdns = name_content
    while rdns:
        _tag, rdn_content, rdns = _der_next(rdns)
        attrs = []
        while rdn_content:
            _tag, attr_content, rdn_content = _der_next(rdn_content)
            oid_tag, oid_content, value_der = _der_next(attr_content)
            value_tag, value_content, _rest = _der_next(value_der)
            encoded = value_der
            codec = _CANON_CODECS.get(value_tag)
            if codec is not None:
                try:
                    text = value_content.decode(codec)
                except UnicodeDecodeError:
                    text = None  # OpenSSL's conversion fails too; keep the value as it is encoded
                if text is not None:
                    encoded = _der_tlv(0x0C, _canon_text(text).encode("utf-8"))
            attrs.append(_der_tlv(0x30, _der_tlv(oid_tag, oid_content) + encoded))
        parts.append(_der_tlv(0x31, b"".join(sorted(attrs))))
    digest = hashlib.sha1(b"".join(parts)).digest()  # nosec - OpenSSL's file naming, not security
    return "%08x" % int.from_bytes(digest[:4], "little")


# The string types OpenSSL canonicalises (ASN1_MASK_CANON) and how ASN1_STRING_to_UTF8 reads them:
# UTF8String, PrintableString, T61String (one byte per character: Latin-1), IA5String,
# VisibleString, UniversalString (UCS-4), BMPString (UCS-2).
_CANON_CODECS = {0x0C: "utf-8", 0x13: "latin-1", 0x14: "latin-1", 0x16: "latin-1", 0x1A: "latin-1",
                 0x1C: "utf-32-be", 0x1E: "utf-16-be"}


def _der_next(data):
    """(tag byte, content, rest) of the first DER element of data (single-byte tags, definite lengths)."""
    if len(data) < 2:
        raise ValueError("truncated DER")
    tag = data[0]
    first = data[1]
    if first < 0x80:
        start, length = 2, first
    else:
        count = first & 0x7F
        if count == 0 or len(data) < 2 + count:
            raise ValueError("unsupported DER length")
        start, length = 2 + count, int.from_bytes(data[2:2 + count], "big")
    end = start + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, data[start:end], data[end:]


_ASCII_SPACE = " \t\n\r\v\f"
_ASCII_LOWER = dict((ord(c), ord(c) + 32) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _canon_text(text):
    words = [w for w in re.split("[%s]+" % re.escape(_ASCII_SPACE), text.strip(_ASCII_SPACE)) if w]
    return " ".join(words).translate(_ASCII_LOWER)


def _der_tlv(tag, content):
    length = len(content)
    if length < 0x80:
        header = bytes([length])
    else:
        octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
        header = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + header + content


# ----------------------------------------------------------------------------------------- generation


def parse_subject_alt_names(values, option="subject_alt_names"):
    """['DNS:x', 'IP:1.2.3.4', 'URI:sip:example.com', 'email:a@b'] -> list of GeneralName."""
    result = []
    check_count(values, MAX_SUBJECT_ALT_NAMES, option, "The list of subject alternative names")
    for value in values or []:
        check_length(str(value), MAX_SAN_CHARS, option, "A subject alternative name")
        text = check_text(str(value), option, "Subject alternative name").strip()
        if ":" not in text:
            raise SecurityError("invalid_san", "Subject alternative name '%s' needs a type prefix: DNS:, IP:, URI: or "
                                "email:. Change the '%s' option." % (value, option), option=option)
        kind, _sep, rest = text.partition(":")
        kind_lower = kind.lower()
        rest = rest.strip()
        if not rest:
            raise SecurityError("invalid_san", "Subject alternative name '%s' has an empty value. Change the '%s' "
                                "option." % (value, option), option=option)
        if kind_lower == "dns":
            if not re.match(r"^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*"
                            r"[A-Za-z0-9_])?)*\.?$", rest):
                raise SecurityError("invalid_san", "'%s' is not a valid DNS name. Change the '%s' option."
                                    % (rest, option), option=option)
            result.append(x509.DNSName(rest.lower().rstrip(".")))
        elif kind_lower in ("ip", "ip address"):
            try:
                result.append(x509.IPAddress(ipaddress.ip_address(rest)))
            except ValueError:
                raise SecurityError("invalid_san", "'%s' is not a valid IP address. Change the '%s' option."
                                    % (rest, option), option=option)
        elif kind_lower == "uri":
            if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", rest):
                raise SecurityError("invalid_san", "'%s' is not a valid URI (e.g. sip:example.com). Change the '%s' "
                                    "option." % (rest, option), option=option)
            result.append(x509.UniformResourceIdentifier(rest))
        elif kind_lower == "email":
            result.append(x509.RFC822Name(rest))
        else:
            raise SecurityError("invalid_san", "Subject alternative name type '%s' is not supported; use DNS:, IP:, "
                                "URI: or email:. Change the '%s' option." % (kind, option), option=option)
    seen = set()
    unique = []
    for name in result:
        if name not in seen:
            seen.add(name)
            unique.append(name)
    return unique


def format_general_names(names):
    """GeneralName objects as text: 'DNS:x', 'IP:x', 'URI:x', 'email:x', 'dirName:x', 'RID:x', 'othername:oid'."""
    result = []
    for name in names:
        if isinstance(name, x509.DNSName):
            result.append("DNS:" + name.value)
        elif isinstance(name, x509.IPAddress):
            result.append("IP:" + str(name.value))
        elif isinstance(name, x509.UniformResourceIdentifier):
            result.append("URI:" + name.value)
        elif isinstance(name, x509.RFC822Name):
            result.append("email:" + name.value)
        elif isinstance(name, x509.DirectoryName):
            result.append("dirName:" + name.value.rfc4514_string())
        elif isinstance(name, x509.RegisteredID):
            result.append("RID:" + name.value.dotted_string)
        else:
            result.append("othername:" + name.type_id.dotted_string)
    return result


def parse_subject(subject_name, option="subject_name"):
    """A CN ('ipo1.example.com') or an RFC 4514 DN ('CN=ipo1,O=Example') -> x509.Name."""
    check_length(subject_name, MAX_TEXT_CHARS, option, "The subject name")
    text = check_text(subject_name or "", option, "The subject name").strip()
    if not text:
        raise SecurityError("invalid_name", "The subject name must not be empty. Set the '%s' option." % option,
                            option=option)
    if re.match(r"^[A-Za-z][A-Za-z0-9.]*=", text):
        try:
            name = x509.Name.from_rfc4514_string(text)
        except ValueError as exc:
            raise SecurityError("invalid_name", "'%s' is not a valid distinguished name (%s). Change the '%s' option."
                                % (text, _short(exc), option), option=option)
        if not list(name):
            raise SecurityError("invalid_name", "The subject name must not be empty. Set the '%s' option." % option,
                                option=option)
        return name
    if len(text) > 64:
        raise SecurityError("invalid_name", "A common name is at most 64 characters; '%s' has %d. Change the '%s' "
                            "option." % (text, len(text), option), option=option)
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def signature_choice(signature, option="signature"):
    return SIGNATURES[check_choice(signature, SIGNATURES, option, label="signature")]


def generate_private_key(signature=DEFAULT_SIGNATURE):
    _hash, key_type, size = signature_choice(signature)
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    return ec.generate_private_key({"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1()}[size])


def signature_of_key(key, hash_name="sha256"):
    """The SIGNATURES choice that describes an existing key, or a certificate's key (anything with
    public_key()), for 'partial_idempotence' comparisons."""
    key_type, bits, curve = key_description(key.public_key())
    for name, (hname, ktype, size) in SIGNATURES.items():
        if hname != hash_name:
            continue
        if ktype == "rsa" and key_type == "RSA" and size == bits:
            return name
        if ktype == "ec" and key_type == "EC" and size == curve:
            return name
    return None


def certificate_signature_choice(cert):
    """The SIGNATURES choice a certificate matches (hash + key), or None."""
    return signature_of_key(cert, signature_hash_name(cert) or "")


def _hash_for(name):
    return {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}[name]()


def _key_usage(public_key, ca):
    if ca:
        return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                             encipher_only=False, decipher_only=False)
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=is_rsa,
                         data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                         encipher_only=False, decipher_only=False)


def build_certificate(subject, key, valid_days, signature=DEFAULT_SIGNATURE, subject_alt_names=None,
                      issuer_cert=None, issuer_key=None, ca=False, extended_key_usage=None, not_before=None,
                      path_length=None, serial_number=None):
    """Issue a certificate for ``key``'s public key.

    Self-signed when no issuer is given.  Leaves carry basicConstraints CA:false, keyUsage
    (digitalSignature, plus keyEncipherment for RSA), EKU serverAuth+clientAuth, SAN (non-critical),
    SKI and AKI: the shape that passes the strictest check level and lints clean under RFC 5280.

    ``subject`` is an x509.Name or text for parse_subject; ``subject_alt_names`` GeneralNames or text.
    """
    hash_name, _key_type, _size = signature_choice(signature)
    if not isinstance(subject, x509.Name):
        subject = parse_subject(subject)
    sans = subject_alt_names or []
    if sans and not isinstance(sans[0], x509.GeneralName):
        sans = parse_subject_alt_names(sans)
    if (issuer_cert is None) != (issuer_key is None):
        raise ValueError("issuer_cert and issuer_key go together")
    signing_key = issuer_key if issuer_key is not None else key
    issuer_name = issuer_cert.subject if issuer_cert is not None else subject
    start = not_before or (utcnow() - DEFAULT_BACKDATE)
    start = start.replace(microsecond=0)
    public_key = key.public_key()
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer_name)
               .public_key(public_key)
               .serial_number(serial_number or x509.random_serial_number())
               .not_valid_before(start)
               .not_valid_after(start + datetime.timedelta(days=int(valid_days)))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
               .add_extension(_key_usage(public_key, ca), critical=True))
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = builder.add_extension(ski, critical=False)
    if issuer_cert is not None:
        try:
            issuer_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski)
        except x509.ExtensionNotFound:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())
    else:
        aki = x509.AuthorityKeyIdentifier(key_identifier=ski.digest, authority_cert_issuer=None,
                                          authority_cert_serial_number=None)
    builder = builder.add_extension(aki, critical=False)
    if not ca:
        usages = extended_key_usage
        if usages is None:
            usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if sans:
        # Critical only when the subject is empty (RFC 5280 4.2.1.6).
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=not list(subject))
    if hash_name == "sha1":
        return _sign_legacy_sha1(builder, signing_key)
    return builder.sign(signing_key, _hash_for(hash_name))


def _sign_legacy_sha1(builder, signing_key):
    """SHA-1/RSA certificate for the legacy Regenerate choice.

    cryptography refuses SHA-1 in CertificateBuilder.sign, so sign with SHA-256 to get the structure,
    rewrite both signature algorithm fields to sha1WithRSAEncryption with asn1crypto, and sign the
    TBSCertificate with a raw PKCS#1 v1.5 SHA-1 signature.
    """
    from asn1crypto import x509 as asn1_x509
    if not isinstance(signing_key, rsa.RSAPrivateKey):
        raise SecurityError("invalid_choice", "The legacy sha1_rsa1024 signature needs an RSA key; this key is "
                            "not RSA. Change the 'signature' option.", option="signature")
    draft = builder.sign(signing_key, hashes.SHA256())
    parsed = asn1_x509.Certificate.load(draft.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    # RFC 3279 2.2.1: sha1WithRSAEncryption carries explicit NULL parameters (pkilint FATAL without them).
    from asn1crypto import core as asn1_core
    tbs["signature"] = asn1_x509.SignedDigestAlgorithm({"algorithm": "sha1_rsa", "parameters": asn1_core.Null()})
    tbs_der = tbs.dump(force=True)
    signature = signing_key.sign(tbs_der, padding.PKCS1v15(), hashes.SHA1())  # nosec - legacy choice, warned
    certificate = asn1_x509.Certificate({
        "tbs_certificate": asn1_x509.TbsCertificate.load(tbs_der),
        "signature_algorithm": asn1_x509.SignedDigestAlgorithm({"algorithm": "sha1_rsa",
                                                                "parameters": asn1_core.Null()}),
        "signature_value": signature,
    })
    return x509.load_der_x509_certificate(certificate.dump())


def export_pkcs12(name, key, cert, cas=(), password=None):
    """PKCS#12 with modern encryption (AES-256, PBKDF2, SHA-256 MAC) when a password is given."""
    from cryptography.hazmat.primitives.serialization import pkcs12  # lazily: see the imports above
    if password:
        encryption = serialization.BestAvailableEncryption(_as_bytes(password))
    else:
        encryption = serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(_as_bytes(name) if name else None, key, cert, list(cas) or None,
                                                 encryption)


def build_chain(cert, candidates, limit=10):
    """Issuers of cert found among candidates, nearest first, up to a self-signed root.

    Follows subject/issuer names and checks each signature, so a same-named impostor is skipped.
    """
    chain = []
    current = cert
    seen = set([fingerprint(cert)])
    for _attempt in range(limit):
        if is_self_signed(current):
            break
        issuer = None
        for candidate in candidates:
            if candidate.subject == current.issuer and fingerprint(candidate) not in seen \
                    and is_issued_by(current, candidate):
                issuer = candidate
                break
        if issuer is None:
            break
        chain.append(issuer)
        seen.add(fingerprint(issuer))
        current = issuer
    return chain
