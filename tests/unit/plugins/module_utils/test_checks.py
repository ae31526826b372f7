"""The received-certificate check engine: every code at the level where it first applies, cumulative
levels, purposes, chain building rules, RFC 9525 host names and RFC 5922 SIP domains."""

import datetime
import subprocess

import helpers
import pytest
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._checks import (
    CODES,
    LEVELS,
    PURPOSES,
    evaluate,
    report_as_dict,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime(2030, 6, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
SIP_DOMAIN = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.20")
ANY = x509.ObjectIdentifier("2.5.29.37.0")
SERVER = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH

# Which levels include which: a code that first applies at a level applies at every level above it.
ABOVE = {
    "none": set(LEVELS),
    "low": set(LEVELS) - {"none"},
    "medium": {"medium", "high", "medium_remote", "high_remote"},
    "high": {"high", "high_remote"},
    "medium_remote": {"medium_remote", "high_remote"},
}


class Pki(object):
    """A root CA, an intermediate and a way to issue leaves with any shape the tests need."""

    def __init__(self):
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = _certs.build_certificate("CN=Test Root", self.root_key, 3650, ca=True,
                                             not_before=NOW - 400 * DAY)
        self.inter_key = ec.generate_private_key(ec.SECP256R1())
        self.inter = _certs.build_certificate("CN=Test Issuing CA", self.inter_key, 3650, ca=True,
                                              issuer_cert=self.root, issuer_key=self.root_key,
                                              not_before=NOW - 400 * DAY)
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())

    def leaf(self, cn="sip.example.com", sans=("DNS:sip.example.com", "URI:sip:example.com"), key=None,
             key_usage=True, eku=(SERVER, CLIENT), extra=(), issuer=None, issuer_key=None, days=(-10, 365),
             hash_algorithm=None, self_signed=False, ca=False):
        key = key or self.leaf_key
        issuer = issuer or self.inter
        issuer_key = issuer_key or self.inter_key
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]) if cn else x509.Name([])
        if self_signed:
            issuer, issuer_key = None, key
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer.subject if issuer is not None else subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(NOW + days[0] * DAY).not_valid_after(NOW + days[1] * DAY)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        if key_usage:
            builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, ca, ca, False, False),
                                            critical=True)
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        if sans:
            names = [n if isinstance(n, x509.GeneralName) else _certs.parse_subject_alt_names([n])[0] for n in sans]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        for ext, critical in extra:
            builder = builder.add_extension(ext, critical=critical)
        if hash_algorithm is None and isinstance(issuer_key, ed25519.Ed25519PrivateKey):
            return builder.sign(issuer_key, None)
        return builder.sign(issuer_key, hash_algorithm or hashes.SHA256())

    def run(self, cert, level, purpose="sip_server", chain=None, trusted=None, **kwargs):
        kwargs.setdefault("peer_name", "sip.example.com")
        kwargs.setdefault("sip_domain", "example.com")
        return evaluate(cert, level=level, purpose=purpose, chain=[self.inter] if chain is None else chain,
                        trusted=[self.root] if trusted is None else trusted, at=NOW, **kwargs)


@pytest.fixture(scope="module")
def pki():
    return Pki()


@pytest.fixture(scope="module")
def weak_key():
    """A 768-bit RSA key (cryptography refuses to generate one): below even level low's minimum."""
    openssl = helpers.need_tool("openssl")
    pem = subprocess.run([openssl, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:768"],
                         check=True, capture_output=True).stdout
    return serialization.load_pem_private_key(pem, None)


def test_a_good_chain_passes_every_level_when_pinned(pki):
    leaf = pki.leaf()
    for level in LEVELS:
        report = pki.run(leaf, level, trusted=[pki.root, leaf])
        assert report.passed and report.codes == set() and report.findings == [], (level, report.findings)
    full = pki.run(leaf, "high_remote", trusted=[pki.root, leaf])
    assert full.chain == [leaf, pki.inter, pki.root]
    assert pki.run(leaf, "high_remote").codes == {"not_pinned"}


# (code, level where it first applies, how to make a certificate that fails only that check)
CODE_CASES = [
    ("expired", "none", lambda p, k: dict(cert=p.leaf(days=(-400, -1)))),
    ("not_yet_valid", "none", lambda p, k: dict(cert=p.leaf(days=(2, 400)))),
    ("key_too_small", "low", lambda p, k: dict(cert=p.leaf(key=k))),
    ("untrusted_chain", "medium", lambda p, k: dict(cert=p.leaf(), trusted=[p.inter])),
    ("no_key_usage", "medium", lambda p, k: dict(cert=p.leaf(key_usage=False))),
    ("purpose_mismatch", "medium", lambda p, k: dict(cert=p.leaf(eku=[ExtendedKeyUsageOID.CODE_SIGNING]))),
    ("unknown_critical_extension", "medium", lambda p, k: dict(cert=p.leaf(extra=[(x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"), True)]))),
    ("weak_signature", "medium", lambda p, k: dict(cert=None)),  # made by _sha1_leaf
    ("self_signed", "high", lambda p, k: dict(cert=p.leaf(self_signed=True))),
    ("reflected", "high", lambda p, k: dict(cert=p.leaf(), identity="self")),
    ("not_pinned", "high", lambda p, k: dict(cert=p.leaf(), pin=False)),
    ("name_mismatch", "medium_remote",
     lambda p, k: dict(cert=p.leaf(sans=("DNS:other.example.com", "URI:sip:example.com")))),
    ("sip_domain_mismatch", "medium_remote",
     lambda p, k: dict(cert=p.leaf(sans=("DNS:sip.example.com", "URI:sip:other.example.net")))),
]


def _sha1_leaf(pki):
    # cryptography refuses SHA-1 in CertificateBuilder.sign; the collection's legacy path makes one.
    key = _certs.generate_private_key("sha1_rsa1024")  # the legacy Regenerate choice: RSA-1024 + SHA-1
    inter_key = _certs.generate_private_key("sha256_rsa2048")
    inter = _certs.build_certificate("CN=Legacy CA", inter_key, 3650, ca=True, issuer_cert=pki.root,
                                     issuer_key=pki.root_key, not_before=NOW - 10 * DAY)
    leaf = _certs.build_certificate("CN=sip.example.com", key, 365, signature="sha1_rsa1024", issuer_cert=inter,
                                    issuer_key=inter_key, subject_alt_names=["DNS:sip.example.com",
                                                                             "URI:sip:example.com"],
                                    not_before=NOW - 10 * DAY)
    return leaf, inter


def test_codes_cover_the_contract():
    assert set(c[0] for c in CODE_CASES) == set(CODES)
    assert LEVELS == ("none", "low", "medium", "high", "medium_remote", "high_remote")
    assert PURPOSES == ("server", "client", "sip_server", "sip_client")


@pytest.mark.parametrize("code,first_level,make", CODE_CASES, ids=[c[0] for c in CODE_CASES])
def test_each_code_first_applies_at_its_level(pki, weak_key, code, first_level, make):
    case = make(pki, weak_key)
    cert = case["cert"]
    chain = [pki.inter]
    if code == "weak_signature":
        cert, inter = _sha1_leaf(pki)
        chain = [inter]
    trusted = list(case.get("trusted", [pki.root]))
    if case.get("pin", True):
        trusted.append(cert)
    identity = cert if case.get("identity") == "self" else pki.leaf(cn="ipo.example.com", sans=("DNS:ipo",),
                                                                    key=ec.generate_private_key(ec.SECP256R1()))
    for level in LEVELS:
        report = pki.run(cert, level, chain=chain, trusted=trusted, identity=identity)
        expected = {code} if level in ABOVE[first_level] else set()
        if code == "weak_signature" and level in ABOVE["high"]:
            expected.add("key_too_small")  # the legacy choice is RSA-1024
        if code == "self_signed" and level in ABOVE["high"]:
            pass  # pinned, so it is trusted as its own root: only self_signed
        assert report.codes == expected, (level, report.findings)
        assert report.passed is (not expected)
        for finding_code, message in report.findings:
            assert finding_code in CODES and len(message) > 40


def test_key_size_thresholds(pki):
    rsa1024 = _certs.generate_private_key("sha1_rsa1024")
    cert = pki.leaf(key=rsa1024)
    trusted = [pki.root, cert]
    assert pki.run(cert, "low", trusted=trusted).passed
    assert pki.run(cert, "medium_remote", trusted=trusted).passed
    report = pki.run(cert, "high", trusted=trusted)
    assert report.codes == {"key_too_small"}
    assert "1024-bit RSA" in report.findings[0].message and "2048" in report.findings[0].message
    # EC P-256 and Ed25519 count as strong enough for every level.
    for key in (ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()):
        leaf = pki.leaf(key=key)
        assert pki.run(leaf, "high_remote", trusted=[pki.root, leaf]).passed


def test_levels_are_cumulative(pki, weak_key):
    # A self-signed, expired, weak-keyed certificate without key usage, for another name.
    cert = pki.leaf(key=weak_key, self_signed=True, days=(-400, -2), key_usage=False,
                    sans=("DNS:elsewhere.example.org",))
    expected = {
        "none": {"expired"},
        "low": {"expired", "key_too_small"},
        "medium": {"expired", "key_too_small", "no_key_usage", "untrusted_chain"},
        "high": {"expired", "key_too_small", "no_key_usage", "untrusted_chain", "self_signed", "not_pinned"},
        "medium_remote": {"expired", "key_too_small", "no_key_usage", "untrusted_chain", "name_mismatch",
                          "sip_domain_mismatch"},
        "high_remote": {"expired", "key_too_small", "no_key_usage", "untrusted_chain", "self_signed", "not_pinned",
                        "name_mismatch", "sip_domain_mismatch"},
    }
    previous = set()
    for level in ("none", "low", "medium", "high", "high_remote"):
        codes = pki.run(cert, level, chain=[]).codes
        assert codes == expected[level], level
        assert previous <= codes
        previous = codes
    assert pki.run(cert, "medium_remote", chain=[]).codes == expected["medium_remote"]
    # findings come in check order, one per failing check
    order = [f.code for f in pki.run(cert, "high_remote", chain=[]).findings]
    assert order == ["expired", "key_too_small", "no_key_usage", "untrusted_chain", "self_signed", "not_pinned",
                     "name_mismatch", "sip_domain_mismatch"]


@pytest.mark.parametrize("eku,passes", [
    ((SERVER,), {"server", "sip_server"}),
    ((CLIENT,), {"client", "sip_client"}),
    ((SIP_DOMAIN,), {"sip_server", "sip_client"}),
    ((ANY,), set(PURPOSES)),
    ((), set(PURPOSES)),  # no EKU extension: any purpose
    ((ExtendedKeyUsageOID.CODE_SIGNING,), set()),
    ((SERVER, CLIENT), set(PURPOSES)),
], ids=["serverAuth", "clientAuth", "sipDomain", "anyEKU", "none", "codeSigning", "both"])
def test_purposes(pki, eku, passes):
    cert = pki.leaf(eku=eku)
    for purpose in PURPOSES:
        report = pki.run(cert, "medium", purpose=purpose)
        assert report.passed is (purpose in passes), (purpose, report.findings)
        if purpose not in passes:
            assert report.codes == {"purpose_mismatch"}
            assert purpose in report.findings[0].message


def test_ca_restricting_eku_is_a_purpose_mismatch(pki):
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = pki.leaf(cn="Client-only CA", sans=(), key=inter_key, issuer=pki.root, issuer_key=pki.root_key, ca=True,
                     eku=(CLIENT,), days=(-10, 3000))
    leaf = pki.leaf(issuer=inter, issuer_key=inter_key)
    assert pki.run(leaf, "medium", purpose="client", chain=[inter]).passed
    report = pki.run(leaf, "medium", purpose="server", chain=[inter])
    assert report.codes == {"purpose_mismatch"}
    assert "Client-only CA" in report.findings[0].message


def test_end_entity_with_key_cert_sign_is_a_purpose_mismatch(pki):
    usage = x509.KeyUsage(True, False, False, False, False, True, False, False, False)
    cert = pki.leaf(key_usage=False, extra=[(usage, True)])
    report = pki.run(cert, "medium")
    assert report.codes == {"purpose_mismatch"}
    assert "keyCertSign" in report.findings[0].message


class TestTrustChain(object):
    def test_intermediate_from_the_tcs(self, pki):
        assert pki.run(pki.leaf(), "medium", chain=[], trusted=[pki.root, pki.inter]).passed

    def test_missing_intermediate(self, pki):
        report = pki.run(pki.leaf(), "medium", chain=[])
        assert report.codes == {"untrusted_chain"}
        message = report.findings[0].message
        assert "Test Issuing CA" in message and "intermediate" in message

    def test_root_not_in_the_tcs(self, pki):
        other_key = ec.generate_private_key(ec.SECP256R1())
        other = _certs.build_certificate("CN=Other Root", other_key, 3650, ca=True, not_before=NOW - DAY)
        report = pki.run(pki.leaf(), "medium", chain=[pki.inter, pki.root], trusted=[other])
        assert report.codes == {"untrusted_chain"}
        assert "Test Root" in report.findings[0].message and "not in the trusted" in report.findings[0].message

    def test_empty_tcs(self, pki):
        report = pki.run(pki.leaf(), "medium", trusted=[])
        assert report.codes == {"untrusted_chain"} and "empty" in report.findings[0].message

    def test_intermediate_alone_in_the_tcs_is_not_a_root(self, pki):
        report = pki.run(pki.leaf(), "medium", chain=[], trusted=[pki.inter])
        assert report.codes == {"untrusted_chain"}
        assert "stops at 'CN=Test Issuing CA'" in report.findings[0].message
        assert "'CN=Test Root'" in report.findings[0].message

    def test_path_reaches_the_root_past_a_tcs_intermediate(self, pki):
        report = pki.run(pki.leaf(), "medium", chain=[], trusted=[pki.inter, pki.root])
        assert report.passed and report.chain[-1] == pki.root

    def test_pinned_leaf_must_still_chain_to_a_root(self, pki):
        leaf = pki.leaf()
        report = pki.run(leaf, "high", chain=[], trusted=[leaf])
        assert report.codes == {"untrusted_chain"}
        assert pki.run(leaf, "high", trusted=[leaf, pki.root]).passed

    def test_self_signed_leaf_in_the_tcs_is_its_own_root(self, pki):
        leaf = pki.leaf(self_signed=True)
        assert pki.run(leaf, "medium", chain=[], trusted=[leaf]).passed
        assert pki.run(leaf, "high", chain=[], trusted=[leaf]).codes == {"self_signed"}
        report = pki.run(leaf, "medium", chain=[], trusted=[pki.root])
        assert report.codes == {"untrusted_chain"} and "self-signed" in report.findings[0].message

    def test_expired_intermediate(self, pki):
        inter_key = ec.generate_private_key(ec.SECP256R1())
        inter = pki.leaf(cn="Old CA", sans=(), key=inter_key, issuer=pki.root, issuer_key=pki.root_key, ca=True,
                         eku=(), days=(-400, -1))
        report = pki.run(pki.leaf(issuer=inter, issuer_key=inter_key), "medium", chain=[inter])
        assert report.codes == {"untrusted_chain"}
        assert "expired" in report.findings[0].message

    def test_expired_leaf_on_a_good_chain_is_only_expired(self, pki):
        leaf = pki.leaf(days=(-400, -1))
        assert pki.run(leaf, "medium").codes == {"expired"}
        # ... and the chain is still judged: without the intermediate it is untrusted too
        assert pki.run(leaf, "medium", chain=[]).codes == {"expired", "untrusted_chain"}

    def test_impostor_issuer_with_the_right_name(self, pki):
        impostor = Pki()  # same names, other keys
        report = pki.run(pki.leaf(days=(-400, -1)), "medium", chain=[impostor.inter])
        assert report.codes == {"expired", "untrusted_chain"}
        assert "signed it" in report.findings[1].message

    def test_ca_certificate_as_leaf_is_untrusted(self, pki):
        leaf = pki.leaf(ca=True, key_usage=False)
        report = pki.run(leaf, "medium")
        assert "untrusted_chain" in report.codes
        assert "basicConstraints" in report.findings[-1].message


def test_reflected_by_key(pki):
    leaf = pki.leaf()
    same_key = pki.leaf(cn="other", sans=("DNS:sip.example.com", "URI:sip:example.com"))
    report = pki.run(leaf, "high", trusted=[pki.root, leaf], identity=[None, same_key])
    assert report.codes == {"reflected"} and "key" in report.findings[0].message
    assert pki.run(leaf, "medium", identity=leaf).passed


def test_remote_levels_need_a_name(pki):
    with pytest.raises(ValueError, match="peer_name .* or sip_domain"):
        evaluate(pki.leaf(), level="medium_remote", purpose="server", trusted=[pki.root])
    with pytest.raises(ValueError, match="Unknown check level"):
        evaluate(pki.leaf(), level="paranoid")
    with pytest.raises(ValueError, match="Unknown purpose"):
        evaluate(pki.leaf(), level="none", purpose="web")
    # either name is enough, and only the given one is checked
    assert pki.run(pki.leaf(), "medium_remote", sip_domain=None).passed
    assert pki.run(pki.leaf(), "medium_remote", peer_name=None).passed
    # non-remote levels ignore names
    assert pki.run(pki.leaf(), "medium", peer_name="nothing.invalid", sip_domain="nothing.invalid").passed


def test_default_time_is_now(pki):
    cert = _certs.build_certificate("CN=now", pki.leaf_key, 1, issuer_cert=pki.inter, issuer_key=pki.inter_key)
    assert evaluate(cert, level="none").passed
    assert evaluate(cert, level="none", at=datetime.datetime(2000, 1, 1)).codes == {"not_yet_valid"}


def test_report_as_dict(pki, weak_key):
    report = pki.run(pki.leaf(key=weak_key, days=(-400, -1)), "low")
    data = report_as_dict(report)
    assert data["passed"] is False and data["codes"] == ["expired", "key_too_small"]
    assert [f["code"] for f in data["findings"]] == ["expired", "key_too_small"]
    assert all(set(f) == {"code", "message"} for f in data["findings"])
    assert report_as_dict(pki.run(pki.leaf(), "medium")) == {"passed": True, "findings": [], "codes": []}


# ------------------------------------------------------ names (the matching itself: test_names.py)

def test_no_san_is_a_name_mismatch_not_an_untrusted_chain(pki):
    without_san = pki.leaf(cn="sip.example.com", sans=())
    report = pki.run(without_san, "medium_remote", sip_domain=None)
    assert report.codes == {"name_mismatch"}  # and not untrusted_chain: the missing SAN is the name's problem
    assert "no subjectAltName" in report.findings[0].message


def test_sip_domain_mismatch_names_the_identities(pki):
    cert = pki.leaf(sans=("URI:sip:example.com", "URI:sip:bob@example.com", "DNS:sip.example.com"))
    report = pki.run(cert, "medium_remote", peer_name=None, sip_domain="example.net")
    assert report.codes == {"sip_domain_mismatch"}
    assert "example.net" in report.findings[0].message and "example.com" in report.findings[0].message


def test_malformed_extension_is_rejected_not_crashed(pki):
    # Two SAN extensions: cryptography refuses to parse the extensions of such a certificate.
    san = x509.SubjectAlternativeName([x509.DNSName("sip.example.com")])
    base = pki.leaf(sans=(), extra=[(san, False)])
    from asn1crypto import x509 as asn1_x509
    parsed = asn1_x509.Certificate.load(base.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    extensions = list(tbs["extensions"]) + [tbs["extensions"][-1]]
    tbs["extensions"] = asn1_x509.Extensions(extensions)
    parsed["tbs_certificate"] = tbs
    broken = x509.load_der_x509_certificate(parsed.dump(force=True))
    assert pki.run(broken, "none").passed
    report = pki.run(broken, "medium")
    assert "unknown_critical_extension" in report.codes
    assert "cannot be parsed" in report.findings[-1].message
