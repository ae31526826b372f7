"""The certificate toolkit against real OpenSSL: every input format, fingerprints, hashes, generation."""

import base64
import datetime
import os
import signal
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._model import SIGNATURES, SecurityError


def openssl(*args, data=None, check=True):
    helpers.need_tool("openssl")
    process = subprocess.run(["openssl"] + [str(a) for a in args], input=data, capture_output=True, check=False,
                             timeout=60)
    if check:
        assert process.returncode == 0, process.stderr.decode(errors="replace")
    return process


def read(path):
    with open(str(path), "rb") as handle:
        return handle.read()


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A small PKI made by the openssl command line: root CA, intermediate, leaf with key."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "root.key", "-out", d / "root.pem",
            "-days", "30", "-subj", "/CN=Test Root CA/O=Example", "-addext", "basicConstraints=critical,CA:true",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "inter.key", "-out", d / "inter.csr",
            "-subj", "/CN=Test Intermediate CA/O=Example")
    (d / "ca.ext").write_text("basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n")
    openssl("x509", "-req", "-in", d / "inter.csr", "-CA", d / "root.pem", "-CAkey", d / "root.key",
            "-CAcreateserial", "-days", "30", "-extfile", d / "ca.ext", "-out", d / "inter.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "leaf.key", "-out", d / "leaf.csr",
            "-subj", "/CN=ipo1.example.com")
    (d / "leaf.ext").write_text("subjectAltName=DNS:ipo1.example.com,IP:192.0.2.10,URI:sip:example.com\n"
                                "extendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\n")
    openssl("x509", "-req", "-in", d / "leaf.csr", "-CA", d / "inter.pem", "-CAkey", d / "inter.key",
            "-CAcreateserial", "-days", "20", "-extfile", d / "leaf.ext", "-out", d / "leaf.pem")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", d / "ec.key")
    openssl("req", "-x509", "-key", d / "ec.key", "-out", d / "ec.pem", "-days", "5", "-subj", "/CN=ec.example")
    return d


# ------------------------------------------------------------------------------------------ loading


def test_pem_single(pki):
    cert = _certs.load_certificate(read(pki / "leaf.pem"))
    assert cert.subject.rfc4514_string() == "CN=ipo1.example.com"
    assert _certs.load_bundle(read(pki / "leaf.pem")).format == "pem"


def test_pem_as_text(pki):
    assert _certs.load_certificate(read(pki / "leaf.pem").decode()) == _certs.load_certificate(read(pki / "leaf.pem"))


def test_der_and_base64_der(pki):
    expected = _certs.load_certificate(read(pki / "leaf.pem"))
    openssl("x509", "-in", pki / "leaf.pem", "-outform", "DER", "-out", pki / "leaf.der")
    raw = read(pki / "leaf.der")
    assert _certs.load_bundle(raw).format == "der"
    assert _certs.load_certificate(raw) == expected
    assert _certs.load_certificate(base64.b64encode(raw)) == expected              # one line
    assert _certs.load_certificate(base64.encodebytes(raw)) == expected            # wrapped at 76
    assert _certs.load_certificate(base64.encodebytes(raw).decode() + "\n\n") == expected


def test_pem_bundle_keeps_order_and_ignores_text(pki):
    text = openssl("x509", "-in", pki / "leaf.pem", "-text").stdout  # human text before the PEM block
    bundle = text + read(pki / "inter.pem") + b"\n" + read(pki / "root.pem")
    certs = _certs.load_certificates(bundle)
    assert [c.subject.rfc4514_string() for c in certs] == [
        "CN=ipo1.example.com", "O=Example,CN=Test Intermediate CA", "O=Example,CN=Test Root CA"]


def test_trusted_certificate_pem(pki):
    openssl("x509", "-in", pki / "root.pem", "-addtrust", "serverAuth", "-out", pki / "trusted.pem")
    assert b"BEGIN TRUSTED CERTIFICATE" in read(pki / "trusted.pem")
    assert _certs.load_certificate(read(pki / "trusted.pem")) == _certs.load_certificate(read(pki / "root.pem"))


@pytest.mark.parametrize("form", ["PEM", "DER"])
def test_pkcs7(pki, form):
    out = pki / ("chain.p7." + form)
    openssl("crl2pkcs7", "-nocrl", "-certfile", pki / "inter.pem", "-certfile", pki / "root.pem",
            "-outform", form, "-out", out)
    bundle = _certs.load_bundle(read(out))
    assert bundle.format == ("pem" if form == "PEM" else "pkcs7")
    assert set(_certs.fingerprint(c) for c in bundle.certificates) == {
        _certs.fingerprint(_certs.load_certificate(read(pki / n))) for n in ("inter.pem", "root.pem")}


@pytest.mark.parametrize("legacy", [False, True], ids=["modern", "legacy"])
def test_pkcs12_from_openssl(pki, legacy):
    out = pki / ("leaf-%s.p12" % legacy)
    args = ["pkcs12", "-export", "-in", pki / "leaf.pem", "-inkey", pki / "leaf.key", "-certfile", pki / "inter.pem",
            "-name", "ipo1", "-out", out, "-passout", "pass:s3cret"]
    if legacy:
        args.insert(2, "-legacy")
        process = openssl(*args, check=False)
        helpers.need(process.returncode == 0, "openssl -legacy (legacy provider) is unavailable")
    else:
        openssl(*args)
    data = read(out)
    if legacy:  # really the legacy algorithms (RC2/3DES), not the modern default
        info = openssl("pkcs12", "-in", out, "-info", "-noout", "-passin", "pass:s3cret", "-legacy").stderr
        assert b"pbeWithSHA1And" in info
    bundle = _certs.load_bundle(data, password="s3cret")
    assert bundle.format == "pkcs12"
    leaf = _certs.load_certificate(read(pki / "leaf.pem"))
    assert bundle.key_certificate == leaf
    assert bundle.certificates[0] == leaf
    assert _certs.load_certificate(read(pki / "inter.pem")) in bundle.certificates
    assert _certs.key_matches(leaf, bundle.key)
    # password as bytes works too
    assert _certs.load_bundle(data, password=b"s3cret").key_certificate == leaf
    # and the certificates-only loader returns the certificates
    assert len(_certs.load_certificates(data, password="s3cret")) == 2


def test_pkcs12_wrong_and_missing_password(pki):
    out = pki / "pw.p12"
    openssl("pkcs12", "-export", "-in", pki / "leaf.pem", "-inkey", pki / "leaf.key", "-out", out,
            "-passout", "pass:right")
    for password, code in ((None, "password_required"), ("", "password_required"), ("wrong", "wrong_password")):
        with pytest.raises(SecurityError) as err:
            _certs.load_bundle(read(out), password=password)
        assert err.value.code == code
        assert err.value.option == "password"
        assert "'password' option" in err.value.message


def test_pkcs12_empty_password_and_certificates_only(pki):
    openssl("pkcs12", "-export", "-in", pki / "leaf.pem", "-inkey", pki / "leaf.key", "-out", pki / "empty.p12",
            "-passout", "pass:")
    assert _certs.load_bundle(read(pki / "empty.p12")).key is not None
    openssl("pkcs12", "-export", "-nokeys", "-in", pki / "root.pem", "-out", pki / "nokeys.p12", "-passout", "pass:pw")
    bundle = _certs.load_bundle(read(pki / "nokeys.p12"), password="pw")
    assert bundle.key is None
    assert bundle.certificates == [_certs.load_certificate(read(pki / "root.pem"))]


def test_export_pkcs12_read_by_openssl(pki):
    key = _certs.load_private_key(read(pki / "leaf.key"))
    leaf = _certs.load_certificate(read(pki / "leaf.pem"))
    inter = _certs.load_certificate(read(pki / "inter.pem"))
    data = _certs.export_pkcs12("ipo1", key, leaf, [inter], password="pw")
    (pki / "ours.p12").write_bytes(data)
    out = openssl("pkcs12", "-in", pki / "ours.p12", "-passin", "pass:pw", "-nodes").stdout
    assert out.count(b"BEGIN CERTIFICATE") == 2 and b"BEGIN PRIVATE KEY" in out
    info = openssl("pkcs12", "-in", pki / "ours.p12", "-passin", "pass:pw", "-info", "-noout").stderr
    assert b"AES-256" in info  # modern encryption
    assert _certs.load_bundle(data, password="pw").key_certificate == leaf
    with pytest.raises(SecurityError) as err:
        _certs.load_bundle(data, password="nope")
    assert err.value.code == "wrong_password"


# ------------------------------------------------------------------------------------------- keys


def _encrypted_keys(pki):
    """(label, bytes) of the leaf key encrypted with password 'kp' in the forms openssl writes."""
    openssl("pkey", "-in", pki / "leaf.key", "-aes256", "-passout", "pass:kp", "-out", pki / "k8.pem")
    openssl("rsa", "-in", pki / "leaf.key", "-aes128", "-traditional", "-passout", "pass:kp", "-out",
            pki / "ktrad.pem")
    openssl("pkcs8", "-topk8", "-in", pki / "leaf.key", "-v2", "aes256", "-outform", "DER", "-passout", "pass:kp",
            "-out", pki / "k8.der")
    return [("pkcs8_pem", read(pki / "k8.pem")), ("traditional_pem", read(pki / "ktrad.pem")),
            ("pkcs8_der", read(pki / "k8.der"))]


def test_encrypted_keys(pki):
    leaf = _certs.load_certificate(read(pki / "leaf.pem"))
    forms = _encrypted_keys(pki)
    assert b"Proc-Type: 4,ENCRYPTED" in forms[1][1]
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in forms[0][1]
    for label, data in forms:
        assert _certs.key_matches(leaf, _certs.load_private_key(data, password="kp")), label
        with pytest.raises(SecurityError) as err:
            _certs.load_private_key(data, password="bad")
        assert err.value.code == "wrong_password", label
        assert err.value.option == "private_key_password"
        with pytest.raises(SecurityError) as err:
            _certs.load_private_key(data)
        assert err.value.code == "password_required", label
        assert "private_key_password" in err.value.message


def test_plain_keys_in_every_form(pki):
    leaf = _certs.load_certificate(read(pki / "leaf.pem"))
    openssl("pkey", "-in", pki / "leaf.key", "-outform", "DER", "-out", pki / "leaf.key.der")
    openssl("rsa", "-in", pki / "leaf.key", "-traditional", "-out", pki / "leaf.trad.pem")
    raw = read(pki / "leaf.key.der")
    for data in (read(pki / "leaf.key"), read(pki / "leaf.trad.pem"), raw, base64.encodebytes(raw)):
        assert _certs.key_matches(leaf, _certs.load_private_key(data))
    # a password given for a plain key is harmless
    assert _certs.key_matches(leaf, _certs.load_private_key(read(pki / "leaf.key"), password="unneeded"))
    ec_key = _certs.load_private_key(read(pki / "ec.key"))  # "EC PRIVATE KEY" from openssl ecparam
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey)


def test_pem_with_key_and_certificate(pki):
    bundle = _certs.load_bundle(read(pki / "leaf.pem") + read(pki / "leaf.key"), allow_key=True)
    assert _certs.key_matches(bundle.certificates[0], bundle.key)
    with pytest.raises(SecurityError) as err:
        _certs.load_bundle(read(pki / "leaf.key") * 2, allow_key=True)
    assert err.value.code == "invalid_key" and "more than one" in err.value.message


def test_key_match(pki):
    leaf = _certs.load_certificate(read(pki / "leaf.pem"))
    assert _certs.key_matches(leaf, _certs.load_private_key(read(pki / "leaf.key")))
    assert not _certs.key_matches(leaf, _certs.load_private_key(read(pki / "root.key")))
    assert not _certs.key_matches(leaf, _certs.load_private_key(read(pki / "ec.key")))
    ec_cert = _certs.load_certificate(read(pki / "ec.pem"))
    assert _certs.key_matches(ec_cert, _certs.load_private_key(read(pki / "ec.key")))


# ------------------------------------------------------------------------------------- fingerprints


@pytest.mark.parametrize("name", ["leaf.pem", "inter.pem", "root.pem", "ec.pem"])
def test_fingerprint_matches_openssl(pki, name):
    out = openssl("x509", "-in", pki / name, "-noout", "-fingerprint", "-sha256").stdout.decode().strip()
    theirs = out.split("=", 1)[1].lower()
    cert = _certs.load_certificate(read(pki / name))
    assert _certs.fingerprint(cert) == theirs
    assert _certs.normalize_fingerprint(out.split("=", 1)[1]) == theirs
    assert _certs.normalize_fingerprint("sha256:" + theirs.replace(":", "").upper()) == theirs
    assert _certs.normalize_fingerprint(theirs.replace(":", " ")) == theirs


@pytest.mark.parametrize("bad", ["", "ab:cd", "zz" * 32, "a" * 63])
def test_bad_fingerprint(bad):
    with pytest.raises(SecurityError) as err:
        _certs.normalize_fingerprint(bad, option="fingerprints")
    assert err.value.code == "invalid_fingerprint" and err.value.option == "fingerprints"


# ------------------------------------------------------------------------------------- subject hash


def _attr(oid, value, kind=None):
    return x509.NameAttribute(oid, value, _type=kind) if kind else x509.NameAttribute(oid, value)


SUBJECTS = {
    "simple": [[_attr(NameOID.COMMON_NAME, "ipo1.example.com")]],
    "mixed_case": [[_attr(NameOID.COMMON_NAME, "IPO1.Example.COM")], [_attr(NameOID.ORGANIZATION_NAME, "ExAmPle")]],
    "extra_whitespace": [[_attr(NameOID.COMMON_NAME, "  IP   Office \t Server  ")],
                         [_attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "\x0bVoice\x0c  Team\r")]],
    "utf8": [[_attr(NameOID.COMMON_NAME, "Z\u00fcrich B\u00fcro \u6771\u4eac")],
             [_attr(NameOID.LOCALITY_NAME, "\u00c4RHUS")]],  # non-ASCII capitals are not lowered
    "printable_vs_utf8": [[_attr(NameOID.COUNTRY_NAME, "GB")],
                          [_attr(NameOID.ORGANIZATION_NAME, "Example Ltd", _ASN1Type.PrintableString)],
                          [_attr(NameOID.COMMON_NAME, "Example Ltd", _ASN1Type.UTF8String)]],
    "bmp_universal_ia5": [[_attr(NameOID.COMMON_NAME, "B\u00fcro", _ASN1Type.BMPString)],
                          [_attr(NameOID.ORGANIZATION_NAME, "Uni X", _ASN1Type.UniversalString)],
                          [_attr(NameOID.EMAIL_ADDRESS, "PKI@Example.com")]],
    "t61_latin1": [[_attr(NameOID.COMMON_NAME, "Caf\u00e9 Soci\u00e9t\u00e9", _ASN1Type.T61String)]],
    "multi_valued_rdn": [[_attr(NameOID.COMMON_NAME, "Voice"), _attr(NameOID.ORGANIZATION_NAME, "Example")],
                         [_attr(NameOID.COUNTRY_NAME, "US")]],
    # canonicalisation shortens the CN so the RDN's DER order flips: OpenSSL re-sorts after canonicalising
    "multi_valued_rdn_reordered": [[_attr(NameOID.COMMON_NAME, "  a  "), _attr(NameOID.ORGANIZATION_NAME, "abc")]],
    "many_attributes": [[_attr(NameOID.COUNTRY_NAME, "DE")], [_attr(NameOID.STATE_OR_PROVINCE_NAME, "Bayern")],
                        [_attr(NameOID.LOCALITY_NAME, "M\u00fcnchen")], [_attr(NameOID.ORGANIZATION_NAME, "Ex AG")],
                        [_attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "IT")], [_attr(NameOID.COMMON_NAME, "ca")],
                        [_attr(NameOID.SERIAL_NUMBER, "0042")], [_attr(NameOID.DOMAIN_COMPONENT, "Example")]],
    "empty": [],
}


def test_subject_hash_matches_openssl(tmp_path):
    key = _certs.generate_private_key("sha256_ecdsa_p256")
    mismatches = []
    for label, rdns in SUBJECTS.items():
        name = x509.Name([x509.RelativeDistinguishedName(rdn) for rdn in rdns])
        cert = _certs.build_certificate(name, key, 10, subject_alt_names=["DNS:x.example"])
        theirs = openssl("x509", "-noout", "-hash", data=_certs.cert_pem(cert)).stdout.decode().strip()
        if _certs.subject_hash(cert) != theirs:
            mismatches.append((label, _certs.subject_hash(cert), theirs))
    assert mismatches == []


def test_subject_hash_of_openssl_made_subjects(pki, tmp_path):
    subjects = ["/CN=  Mixed   CASE  /O=Example", "/C=US/O=A+OU=b  B/CN=x", "/CN=\u00e9t\u00e9 \u00c9T\u00c9/O=X"]
    for index, subject in enumerate(subjects):
        out = tmp_path / ("s%d.pem" % index)
        openssl("req", "-x509", "-key", pki / "ec.key", "-out", out, "-days", "1", "-utf8", "-multivalue-rdn",
                "-subj", subject)
        theirs = openssl("x509", "-in", out, "-noout", "-hash").stdout.decode().strip()
        assert _certs.subject_hash(_certs.load_certificate(read(out))) == theirs, subject


def test_subject_hash_survives_unusual_string_types():
    # A VisibleString CN is outside DirectoryString (OpenSSL refuses to parse it); naming the file must not crash.
    key = _certs.generate_private_key("sha256_ecdsa_p256")
    name = x509.Name([_attr(NameOID.COMMON_NAME, "Odd", _ASN1Type.VisibleString)])
    cert = _certs.build_certificate(name, key, 10, subject_alt_names=["DNS:x.example"])
    assert len(_certs.subject_hash(cert)) == 8


# ---------------------------------------------------------------------------------------- generation


@pytest.mark.parametrize("signature", sorted(SIGNATURES))
def test_generate_every_signature(signature, tmp_path):
    hash_name, key_type, size = SIGNATURES[signature]
    key = _certs.generate_private_key(signature)
    cert = _certs.build_certificate("CN=gen.example.com,O=Example", key, 30, signature=signature,
                                    subject_alt_names=["DNS:gen.example.com", "IP:192.0.2.1"])
    info = _certs.cert_info(cert)
    if key_type == "rsa":
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == size
        assert info["key_type"] == "RSA" and info["key_bits"] == size
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == size
        assert info["key_type"] == "EC" and info["key_curve"] == size
    assert cert.signature_hash_algorithm.name == hash_name
    assert _certs.certificate_signature_choice(cert) == signature
    assert info["self_signed"] is True and info["is_ca"] is False
    text = openssl("x509", "-noout", "-text", data=_certs.cert_pem(cert)).stdout.decode()
    if key_type == "rsa":
        expected_alg = "%sWithRSAEncryption" % hash_name
    else:
        expected_alg = "ecdsa-with-%s" % hash_name.upper()
    assert info["signature_algorithm"] == expected_alg
    assert text.count("Signature Algorithm: " + expected_alg) == 2, text  # the TBS and the outer signature
    path = tmp_path / "gen.pem"
    path.write_bytes(_certs.cert_pem(cert))
    # OpenSSL itself accepts the signature (auth level 0 so that the legacy SHA-1 choice is judged too)
    openssl("verify", "-auth_level", "0", "-CAfile", path, "-partial_chain", path)


def test_legacy_sha1_rsa1024_is_really_sha1(tmp_path):
    key = _certs.generate_private_key("sha1_rsa1024")
    cert = _certs.build_certificate("legacy.example.com", key, 30, signature="sha1_rsa1024")
    assert cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA1
    assert _certs.signature_verifies(cert, key.public_key())
    assert not _certs.signature_verifies(cert, _certs.generate_private_key("sha1_rsa1024").public_key())
    # both signature algorithm fields agree (a mismatch would be rejected by OpenSSL)
    text = openssl("x509", "-noout", "-text", data=_certs.cert_pem(cert)).stdout.decode()
    assert text.count("sha1WithRSAEncryption") == 2
    assert "Public-Key: (1024 bit)" in text


@pytest.mark.parametrize("signature", ["sha256_rsa2048", "sha1_rsa1024", "sha384_ecdsa_p384"])
def test_ca_signed_issuance_verifies_with_openssl(signature, tmp_path):
    ca_key = _certs.generate_private_key("sha256_rsa2048")
    ca = _certs.build_certificate("CN=Unit CA", ca_key, 365, ca=True)
    key = _certs.generate_private_key(signature)
    leaf = _certs.build_certificate("leaf.example.com", key, 90, signature=signature, issuer_cert=ca,
                                    issuer_key=ca_key,
                                    subject_alt_names=["DNS:leaf.example.com", "URI:sip:example.com"])
    (tmp_path / "ca.pem").write_bytes(_certs.cert_pem(ca))
    (tmp_path / "leaf.pem").write_bytes(_certs.cert_pem(leaf))
    for purpose in ("sslserver", "sslclient"):
        openssl("verify", "-auth_level", "0", "-purpose", purpose, "-CAfile", tmp_path / "ca.pem",
                tmp_path / "leaf.pem")
    assert _certs.is_issued_by(leaf, ca) and not _certs.is_self_signed(leaf)
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ski
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    assert ku.value.key_encipherment is isinstance(key, rsa.RSAPrivateKey)
    basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    ca_info = _certs.cert_info(ca)
    assert ca_info["is_ca"] and ca_info["self_signed"]


def test_build_chain_follows_signatures_not_names():
    root_key = _certs.generate_private_key("sha256_ecdsa_p256")
    root = _certs.build_certificate("CN=Chain Root", root_key, 30, ca=True)
    inter_key = _certs.generate_private_key("sha256_ecdsa_p256")
    inter = _certs.build_certificate("CN=Chain Inter", inter_key, 30, ca=True, issuer_cert=root, issuer_key=root_key)
    leaf = _certs.build_certificate("leaf", _certs.generate_private_key("sha256_ecdsa_p256"), 30,
                                    issuer_cert=inter, issuer_key=inter_key)
    impostor_key = _certs.generate_private_key("sha256_ecdsa_p256")
    impostor = _certs.build_certificate("CN=Chain Inter", impostor_key, 30, ca=True)  # same name, other key
    assert _certs.build_chain(leaf, [impostor, root, inter]) == [inter, root]
    assert _certs.build_chain(leaf, [impostor, root]) == []
    assert _certs.build_chain(root, [root, inter]) == []


def test_generation_input_errors():
    key = _certs.generate_private_key("sha256_ecdsa_p256")
    cases = [
        (lambda: _certs.generate_private_key("md5_rsa512"), "invalid_choice", "signature"),
        (lambda: _certs.parse_subject(""), "invalid_name", "subject_name"),
        (lambda: _certs.parse_subject("x" * 65), "invalid_name", "subject_name"),
        (lambda: _certs.parse_subject("CN=a,FOO=b"), "invalid_name", "subject_name"),
        (lambda: _certs.parse_subject_alt_names(["ipo1.example.com"]), "invalid_san", "subject_alt_names"),
        (lambda: _certs.parse_subject_alt_names(["IP:999.1.1.1"]), "invalid_san", "subject_alt_names"),
        (lambda: _certs.parse_subject_alt_names(["DNS:bad name"]), "invalid_san", "subject_alt_names"),
        (lambda: _certs.parse_subject_alt_names(["URI:nocolon"]), "invalid_san", "subject_alt_names"),
        (lambda: _certs.parse_subject_alt_names(["X400:foo"]), "invalid_san", "subject_alt_names"),
        (lambda: _certs.parse_subject_alt_names(["DNS:"]), "invalid_san", "subject_alt_names"),
        (lambda: _certs.build_certificate("x", key, 1, signature="sha1_rsa1024"), "invalid_choice", "signature"),
    ]
    for call, code, option in cases:
        with pytest.raises(SecurityError) as err:
            call()
        assert (err.value.code, err.value.option) == (code, option)
        assert "'%s' option" % option in err.value.message


def test_subject_alt_names_round_trip():
    names = _certs.parse_subject_alt_names(["DNS:IPO1.Example.com.", "IP:2001:db8::1", "URI:sip:example.com",
                                            "email:pki@example.com", "dns:ipo1.example.com"])
    expected = ["DNS:ipo1.example.com", "IP:2001:db8::1", "URI:sip:example.com", "email:pki@example.com"]
    assert _certs.format_general_names(names) == expected


# ------------------------------------------------------------------------------------------ cert_info


def test_cert_info_fields_match_openssl(pki):
    cert = _certs.load_certificate(read(pki / "leaf.pem"))
    now = cert.not_valid_before_utc + datetime.timedelta(days=5, hours=1)
    info = _certs.cert_info(cert, now=now)
    assert set(info) == {"subject", "common_name", "issuer", "serial_number", "not_before", "not_after", "days_left",
                         "expired", "subject_alt_names", "key_type", "key_bits", "signature_algorithm", "is_ca",
                         "self_signed", "sha256"}
    assert info["subject"] == "CN=ipo1.example.com"
    assert info["common_name"] == "ipo1.example.com"
    assert info["issuer"] == "O=Example,CN=Test Intermediate CA"
    serial = openssl("x509", "-in", pki / "leaf.pem", "-noout", "-serial").stdout.decode().strip().split("=")[1]
    assert int(info["serial_number"], 16) == int(serial, 16)
    dates = openssl("x509", "-in", pki / "leaf.pem", "-noout", "-startdate", "-enddate").stdout.decode()
    start = datetime.datetime.strptime(dates.split("notBefore=")[1].split("\n")[0], "%b %d %H:%M:%S %Y %Z")
    assert info["not_before"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["days_left"] == 14  # valid 20 days, 5 days and an hour gone: 14 whole days left
    assert info["expired"] is False
    assert info["subject_alt_names"] == ["DNS:ipo1.example.com", "IP:192.0.2.10", "URI:sip:example.com"]
    assert (info["key_type"], info["key_bits"]) == ("RSA", 2048)
    assert info["signature_algorithm"] == "sha256WithRSAEncryption"
    assert info["is_ca"] is False and info["self_signed"] is False
    assert info["sha256"] == _certs.fingerprint(cert)
    later = _certs.cert_info(cert, now=cert.not_valid_after_utc + datetime.timedelta(hours=1))
    assert later["expired"] is True and later["days_left"] == -1


def test_cert_info_ca_and_ec(pki):
    root = _certs.cert_info(_certs.load_certificate(read(pki / "root.pem")))
    assert root["is_ca"] is True and root["self_signed"] is True and root["subject_alt_names"] == []
    ec_info = _certs.cert_info(_certs.load_certificate(read(pki / "ec.pem")))
    assert (ec_info["key_type"], ec_info["key_bits"], ec_info["key_curve"]) == ("EC", 256, "secp256r1")
    assert ec_info["signature_algorithm"] == "ecdsa-with-SHA256"


def test_cert_info_never_holds_key_material(pki):
    bundle = _certs.load_bundle(read(pki / "leaf.pem") + read(pki / "leaf.key"), allow_key=True)
    text = repr(_certs.cert_info(bundle.certificates[0]))
    private_numbers = bundle.key.private_numbers()
    assert "PRIVATE" not in text and format(private_numbers.d, "x")[:16] not in text


# ---------------------------------------------------------------------------------------- bad inputs


def _truncated_pkcs12(pki):
    openssl("pkcs12", "-export", "-in", pki / "leaf.pem", "-inkey", pki / "leaf.key", "-out", pki / "t.p12",
            "-passout", "pass:pw")
    return read(pki / "t.p12")


BAD_CONTENT = [
    ("empty", lambda pki: b"", "empty_input"),
    ("whitespace", lambda pki: b" \n\t\n", "empty_input"),
    ("garbage_text", lambda pki: b"hello, this is not a certificate", "invalid_certificate"),
    ("garbage_binary", lambda pki: os.urandom(64).replace(b"0", b"1").replace(b"-", b"+"), "invalid_certificate"),
    ("pem_without_end", lambda pki: read(pki / "leaf.pem")[:-30], "invalid_certificate"),
    ("pem_body_cut", lambda pki: read(pki / "leaf.pem")[:400] + b"\n-----END CERTIFICATE-----\n",
     "invalid_certificate"),
    ("der_truncated", lambda pki: _der_of(pki)[:-25], "invalid_certificate"),
    ("der_half", lambda pki: _der_of(pki)[: len(_der_of(pki)) // 2], "invalid_certificate"),
    ("pkcs12_truncated", lambda pki: _truncated_pkcs12(pki)[:-40], "invalid_pkcs12"),
    ("pkcs12_half", lambda pki: _truncated_pkcs12(pki)[:600], "invalid_pkcs12"),
    ("private_key_in_bundle", lambda pki: read(pki / "root.pem") + read(pki / "leaf.key"), "private_key_in_bundle"),
    ("only_a_key", lambda pki: read(pki / "leaf.key"), "private_key_in_bundle"),
    ("csr_only", lambda pki: read(pki / "leaf.csr"), "invalid_certificate"),
]


def _der_of(pki):
    return der(_certs.load_certificate(read(pki / "leaf.pem")))


@pytest.mark.parametrize("label,make,code", BAD_CONTENT, ids=[c[0] for c in BAD_CONTENT])
def test_bad_certificate_input(pki, label, make, code):
    data = make(pki)
    with pytest.raises(SecurityError) as err:
        _certs.load_certificates(data, password="pw", option="certificates")
    assert err.value.code == code, err.value.message
    assert "certificates" in err.value.message  # names the option to change


@pytest.mark.parametrize("label,data", [("empty", b""), ("garbage", b"garbage!"), ("cert", None)])
def test_bad_key_input(pki, label, data):
    data = read(pki / "leaf.pem") if data is None else data
    with pytest.raises(SecurityError) as err:
        _certs.load_private_key(data)
    assert err.value.code == ("empty_input" if label == "empty" else "invalid_key")
    assert "private_key" in err.value.message


def test_truncated_key(pki):
    for data in (read(pki / "leaf.key")[:300], read(pki / "leaf.key")[:-40]):
        with pytest.raises(SecurityError) as err:
            _certs.load_private_key(data)
        assert err.value.code == "invalid_key" and "truncated" in err.value.message


def test_exactly_one_certificate(pki):
    with pytest.raises(SecurityError) as err:
        _certs.load_certificate(read(pki / "leaf.pem") + read(pki / "root.pem"), option="certificate")
    assert err.value.code == "invalid_certificate" and "exactly one" in err.value.message


# -------------------------------------------------------------------------------------------- files


class _Alarm(object):
    """Fail instead of hanging if a read ever blocks (a FIFO without writer, a device)."""

    def __enter__(self):
        signal.signal(signal.SIGALRM, self._fire)
        signal.alarm(5)

    def __exit__(self, *exc):
        signal.alarm(0)

    @staticmethod
    def _fire(*_args):
        raise AssertionError("read_input blocked")


def test_read_input_regular_file(pki):
    with _Alarm():
        assert _certs.read_input(path=str(pki / "leaf.pem")) == read(pki / "leaf.pem")
    assert _certs.read_input(content="abc") == b"abc"


def test_read_input_hostile_files(tmp_path):
    big = tmp_path / "big.pem"
    with open(str(big), "wb") as handle:
        handle.truncate(20 * 1024 * 1024)  # 20 MB (sparse: instant)
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    cases = [
        (str(big), "input_too_large"),
        ("/dev/zero", "unreadable_file"),
        (str(fifo), "unreadable_file"),
        (str(tmp_path), "unreadable_file"),
        (str(tmp_path / "missing.pem"), "unreadable_file"),
    ]
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    cases.append((str(empty), "empty_input"))
    for path, code in cases:
        with _Alarm():
            with pytest.raises(SecurityError) as err:
                _certs.read_input(path=path, option="certificate_path")
        assert err.value.code == code, path
        assert err.value.option == "certificate_path" and "certificate_path" in err.value.message, path


def test_read_input_argument_errors():
    with pytest.raises(SecurityError) as err:
        _certs.read_input(path="/etc/hostname", content="x", option="certificate")
    assert err.value.code == "conflicting_options"
    with pytest.raises(SecurityError) as err:
        _certs.read_input(option="certificate")
    assert err.value.code == "missing_option"
    with pytest.raises(SecurityError) as err:
        _certs.read_input(content=b"x" * (_certs.MAX_INPUT_BYTES + 1), option="certificate")
    assert err.value.code == "input_too_large"


def test_utcnow_is_aware():
    assert _certs.utcnow().tzinfo is not None
    assert abs((_certs.utcnow() - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 5
    assert hashes.SHA256.name == "sha256"
