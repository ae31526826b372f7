"""_names: RFC 9525 host names and IP addresses, RFC 5922 SIP domains."""

import datetime

import pytest
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._names import (
    matches_peer_name,
    matches_sip_domain,
    sip_identities,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KEY = ec.generate_private_key(ec.SECP256R1())
NOW = datetime.datetime.now(datetime.timezone.utc)


def named(cn="sip.example.com", sans=()):
    """A self-signed certificate with that common name and those subjectAltNames ("DNS:..." strings, or
    GeneralName objects for names the string parser refuses)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(KEY.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(NOW)
               .not_valid_after(NOW + datetime.timedelta(days=1)))
    if sans:
        names = [n if isinstance(n, x509.GeneralName) else _certs.parse_subject_alt_names([n])[0] for n in sans]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(KEY, hashes.SHA256())


# ----------------------------------------------------------------------------------- RFC 9525 names

@pytest.mark.parametrize("sans,peer,expected", [
    (["DNS:sip.example.com"], "sip.example.com", True),
    (["DNS:SIP.Example.COM"], "sip.example.com", True),
    (["DNS:sip.example.com"], "SIP.EXAMPLE.COM.", True),           # case and trailing dot ignored
    (["DNS:*.example.com"], "sip.example.com", True),               # wildcard: one whole left-most label
    (["DNS:*.example.com"], "a.sip.example.com", False),            # ... exactly one label
    (["DNS:*.example.com"], "example.com", False),
    ([x509.DNSName("s*.example.com")], "sip.example.com", False),   # partial-label wildcards never match
    ([x509.DNSName("sip.*.com")], "sip.example.com", False),        # not left-most
    ([x509.DNSName("sip_1.example.com")], "sip_1.example.com", False),  # not a host name
    (["DNS:*.com"], "example.com", False),                          # too broad
    (["DNS:other.example.com"], "sip.example.com", False),
    (["IP:192.0.2.10"], "192.0.2.10", True),                        # IP literal against iPAddress SAN
    (["IP:2001:db8::1"], "2001:DB8:0::1", True),
    (["IP:2001:db8::1"], "[2001:db8::1]", True),
    (["DNS:192.0.2.10"], "192.0.2.10", False),                      # an IP never matches a dNSName
    (["IP:192.0.2.10"], "192.0.2.11", False),
    (["DNS:*.example.com"], "*.example.com", False),                # a wildcard is not a reference identity
    (["URI:sip:sip.example.com"], "sip.example.com", False),
], ids=str)
def test_rfc9525_host_names(sans, peer, expected):
    assert matches_peer_name(named(sans=sans), peer) is expected


def test_rfc9525_no_common_name_fallback():
    with_san = named(cn="sip.example.com", sans=("DNS:other.example.com",))
    assert matches_peer_name(with_san, "sip.example.com") is False
    without_san = named(cn="sip.example.com", sans=())
    assert matches_peer_name(without_san, "sip.example.com") is False


def test_rfc9525_idn():
    cert = named(sans=("DNS:xn--bcher-kva.example",))
    assert matches_peer_name(cert, u"b\u00fccher.example") is True


# -------------------------------------------------------------------------------- RFC 5922 domains

@pytest.mark.parametrize("cn,sans,domain,expected", [
    ("x", ["URI:sip:example.com"], "example.com", True),
    ("x", ["URI:sip:EXAMPLE.com"], "example.COM", True),
    ("x", ["URI:sip:example.com;transport=tls"], "example.com", True),
    ("x", ["URI:sip:example.com:5061"], "example.com", True),
    ("x", ["URI:sip:alice@example.com"], "example.com", False),      # a user part is not a domain identity
    ("x", ["URI:sips:example.com"], "example.com", False),           # only the sip scheme
    ("x", ["URI:sip:example.com", "DNS:other.example"], "other.example", False),  # DNS ignored with a sip URI
    ("x", ["URI:sip:alice@example.com", "DNS:example.com"], "example.com", True),  # ... no sip identity: DNS counts
    ("x", ["DNS:example.com"], "example.com", True),
    ("x", ["DNS:*.example.com"], "sip.example.com", False),          # no wildcards
    ("x", ["URI:sip:*.example.com"], "sip.example.com", False),
    ("example.com", ["DNS:other.example"], "example.com", False),    # CN only without any SAN
    ("example.com", [], "example.com", True),
    ("Example.COM", [], "example.com", True),
], ids=str)
def test_rfc5922_sip_domains(cn, sans, domain, expected):
    cert = named(cn=cn, sans=sans)
    assert matches_sip_domain(cert, domain) is expected


def test_sip_identities_are_reported():
    cert = named(sans=("URI:sip:example.com", "URI:sip:bob@example.com", "DNS:sip.example.com"))
    assert sip_identities(cert) == ["example.com"]
