"""The check engine remembers per-certificate facts: results must not depend on that memory."""

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from test_checks import NOW, Pki  # noqa: F401 - shared PKI builder

from ansible_collections.ipoffice.security.plugins.module_utils import _checks
from ansible_collections.ipoffice.security.plugins.module_utils._checks import LEVELS, evaluate


def _reload(cert):
    return x509.load_der_x509_certificate(cert.public_bytes(serialization.Encoding.DER))


def _report(pki, leaf, level, chain, trusted):
    report = evaluate(leaf, level=level, purpose="sip_server", chain=chain, trusted=trusted, at=NOW,
                      peer_name="sip.example.com", sip_domain="example.com")
    return report.passed, sorted(report.codes), list(report.findings)


def test_reloaded_equal_certificates_give_identical_reports():
    pki = Pki()
    good = pki.leaf()
    expired = pki.leaf(days=(-400, -1))
    for leaf in (good, expired):
        for level in LEVELS:
            first = _report(pki, leaf, level, [pki.inter], [pki.root, leaf])
            again = _report(pki, _reload(leaf), level, [_reload(pki.inter)], [_reload(pki.root), _reload(leaf)])
            assert first == again, level
    assert _report(pki, expired, "none", [pki.inter], [pki.root])[1] == ["expired"]


def test_a_remembered_certificate_does_not_leak_into_another():
    pki = Pki()
    a = pki.leaf(cn="a.example.com", sans=("DNS:a.example.com",))
    b = pki.leaf(cn="b.example.com", sans=("DNS:b.example.com",))
    for _index in range(3):
        assert evaluate(a, level="medium_remote", purpose="server", chain=[pki.inter], trusted=[pki.root], at=NOW,
                        peer_name="a.example.com").passed
        report = evaluate(b, level="medium_remote", purpose="server", chain=[pki.inter], trusted=[pki.root],
                          at=NOW, peer_name="a.example.com")
        assert "name_mismatch" in report.codes


def test_memory_is_bounded():
    pki = Pki()
    for index in range(_checks._FACTS_LIMIT + 50):
        evaluate(_reload(pki.root), level="none", purpose="server", at=NOW)
        if index % 200 == 0:
            assert len(_checks._FACTS) <= _checks._FACTS_LIMIT
    assert len(_checks._FACTS) <= _checks._FACTS_LIMIT
