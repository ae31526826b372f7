"""Every certificate shape the identity modules generate lints clean under pkilint's RFC 5280 validator."""

import pytest

import helpers
from test_identity_fixtures import ADDRESSES, NAME, der

from ansible_collections.ipoffice.security.plugins.module_utils import _identity as identity
from ansible_collections.ipoffice.security.plugins.module_utils import _issued as issued
from ansible_collections.ipoffice.security.plugins.module_utils._model import SIGNATURES
from ansible_collections.ipoffice.security.plugins.module_utils._store import initial_state

SANS = ["DNS:ipo1.example.com", "DNS:ipo1.branch.example.com", "IP:192.0.2.10", "IP:2001:db8::10",
        "URI:sip:example.com", "email:pbx@example.com"]


def _validator():
    try:
        from pkilint import loader
        from pkilint.pkix import certificate, extension, name
    except ImportError:
        helpers.need(False, "pkilint is not installed (pip install pkilint==0.13.3)")
    # The same validator set as pkilint's own `lint_pkix_cert` command.
    validator = certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS),
        [certificate.create_issuer_validator_container([]),
         certificate.create_validity_validator_container(),
         certificate.create_subject_validator_container([]),
         certificate.create_extensions_validator_container([]),
         certificate.create_spki_validator_container([])])
    return loader, validator


def findings(cert):
    """pkilint findings of severity ERROR or FATAL, minus the one known false positive."""
    loader, validator = _validator()
    document = loader.RFC5280CertificateDocumentLoader().load_der_document(der(cert), "certificate")
    result = []
    for validation in validator.validate(document.root):
        for description in validation.finding_descriptions:
            severity = str(description.finding.severity)
            if severity not in ("ERROR", "FATAL"):
                continue
            # Known false positive: pkilint validates URIs as 'scheme://authority...', but an RFC 5922 SIP
            # domain identity is 'sip:example.com' (RFC 3261 syntax, no '//'). Allowed only for sip: URIs.
            if description.finding.code == "pkix.invalid_uri_syntax" and \
                    str(validation.node.pdu).startswith("sip:"):
                continue
            result.append((severity, description.finding.code, validation.node.path, description.message))
    return result


def generated(source, signature, subject="ipo1.example.com", alt_names=None, purpose="system"):
    alt_names = SANS if alt_names is None else alt_names
    state = initial_state("server", NAME, ADDRESSES)
    params = {"source": source, "signature": signature, "subject_name": subject, "subject_alt_names": alt_names,
              "valid_days": 397, "purpose": purpose}
    identity.apply_identity(state, identity.identity_request(params))
    return state.credential(purpose).cert


@pytest.mark.parametrize("source", ["generate", "ca"])
@pytest.mark.parametrize("signature", sorted(SIGNATURES))
def test_generated_identity_lints_clean(source, signature):
    assert findings(generated(source, signature)) == []


@pytest.mark.parametrize("subject,alt_names", [
    ("CN=ipo1.example.com,O=Example Ltd,C=GB", SANS),
    ("ipo1.example.com", None),                 # default SAN: the common name
    ("192.0.2.10", None),                       # an IP literal as CN gives an IP SAN
    ("sip.example.com", ["URI:sip:example.com"]),
])
def test_naming_shapes_lint_clean(subject, alt_names):
    assert findings(generated("generate", "sha256_rsa2048", subject, alt_names, purpose="telephony")) == []


def test_the_sip_allowance_is_narrow():
    """The allow-list hides only sip: URIs: another invalid URI is still reported."""
    # Our SAN parser refuses such a URI, so the certificate is built directly.
    from ansible_collections.ipoffice.security.plugins.module_utils import _certs
    from cryptography import x509
    key = _certs.generate_private_key()
    cert = _certs.build_certificate("a.example.com", key, 30,
                                    subject_alt_names=[x509.UniformResourceIdentifier("urn-without-scheme")])
    codes = [f[1] for f in findings(cert)]
    assert "pkix.invalid_uri_syntax" in codes


def test_issued_certificates_lint_clean(tmp_path):
    state = initial_state("server", NAME, ADDRESSES)
    for signature in ("sha256_rsa2048", "sha256_ecdsa_p256", "sha1_rsa1024"):
        request = issued.issued_request({"subject_name": "sbc.example.com", "format": "pem",
                                         "subject_alt_names": ["DNS:sbc.example.com", "IP:192.0.2.20"],
                                         "signature": signature, "path": str(tmp_path / "c.pem"),
                                         "private_key_path": str(tmp_path / "k.pem")})
        plan = issued.plan_issued(state, request)
        assert findings(plan.cert) == [], signature


@pytest.mark.parametrize("platform", ["server", "ip500v2"])
def test_initial_identities_lint_clean(platform):
    state = initial_state(platform, NAME, ADDRESSES)
    for cert in [state.identity.cert] + ([state.ca.cert] if state.ca else []):
        assert findings(cert) == []
