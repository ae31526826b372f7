"""x509-limbo path-validation conformance of the check engine (the data: tests/unit/data/x509-limbo/README.md).

SERVER cases run as purpose 'server' at medium_remote when they name a peer (medium otherwise), CLIENT
cases as purpose 'client' at medium.  Cases whose features the engine does not implement are skipped.
Where the project's levels are deliberately stricter or looser than the suite, the case is listed in
DEVIATIONS with the reason; any other disagreement fails the test.
"""

import datetime
import gzip
import json
import os

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils._checks import evaluate
from cryptography import x509

LIMBO = os.path.join(helpers.REPO, "tests", "unit", "data", "x509-limbo", "limbo.json.gz")

# Features the engine does not implement (README): revocation, policy constraints, directory-name
# constraints, pedantic profiles, and a case that contradicts webpki.
SKIPPED_FEATURES = {"has-crl", "has-policy-constraints", "name-constraint-dn", "pedantic-webpki-eku",
                    "pedantic-webpki-subscriber-key", "pedantic-serial-number", "pedantic-public-suffix-wildcard",
                    "pedantic-rfc5280", "rfc5280-incompatible-with-webpki"}

# Deliberate deviations: case id -> why our verdict differs from the suite's expectation.
_CABF_CN = ("CA/Browser Forum BR 7.1.4.3 subject profile (the CN must repeat a SAN entry); RFC 9525 ignores the CN "
            "and the levels do not apply the Web PKI subject profile (cryptography's verifier agrees)")
_ROOT_ONLY = ("decided (docs/check-levels.md): a trust chain must end at a SELF-SIGNED root in the TCS; an "
              "intermediate in the TCS is not an anchor on its own")
_CA_AS_LEAF = ("a CA certificate (basicConstraints cA) is not accepted as the end entity (webpki EE profile, as "
               "cryptography's verifier)")
_CA_KEY_IDS = ("RFC 5280 structural MUSTs on CA key identifiers; neither the path validator nor the levels require "
               "AKI/SKI on CAs")
_CABF_ROOT = "CA/Browser Forum root-certificate profile rule; not a check of any level (cryptography's verifier agrees)"
DEVIATIONS = {
    "rfc5280::no-keyusage": "medium requires a keyUsage extension (docs/check-levels.md): the expectation changes to "
                            "FAILURE",
    "rfc5280::aki::leaf-missing-aki": "decided (docs/check-levels.md): medium does not require an authority key "
                                      "identifier",
    "rfc5280::aki::intermediate-missing-aki": _CA_KEY_IDS,
    "rfc5280::ski::root-missing-ski": _CA_KEY_IDS,
    "rfc5280::ski::intermediate-missing-ski": _CA_KEY_IDS,
    "cve::cve-2024-0567": _ROOT_ONLY,
    "rfc5280::root-and-intermediate-swapped": _ROOT_ONLY,
    "rfc5280::ca-as-leaf": _CA_AS_LEAF,
    "pathlen::validation-ignores-pathlen-in-leaf": _CA_AS_LEAF,
    "pathlen::self-issued-certs-pathlen": ("cryptography's path builder does not follow self-issued (non-self-signed) "
                                           "CA certificates whose subject equals their issuer; it rejects this chain"),
    "webpki::aki::root-with-aki-all-fields": _CABF_ROOT,
    "webpki::aki::root-with-aki-ski-mismatch": _CABF_ROOT,
    "webpki::forbidden-rsa-not-divisible-by-8-in-root": _CABF_ROOT,
    "webpki::cn::ipv4-hex-mismatch": _CABF_CN,
    "webpki::cn::ipv4-leading-zeros-mismatch": _CABF_CN,
    "webpki::cn::ipv6-uppercase-mismatch": _CABF_CN,
    "webpki::cn::ipv6-uncompressed-mismatch": _CABF_CN,
    "webpki::cn::ipv6-non-rfc5952-mismatch": _CABF_CN,
    "webpki::cn::punycode-not-in-san": _CABF_CN,
    "webpki::cn::utf8-vs-punycode-mismatch": _CABF_CN,
    "webpki::cn::not-in-san": _CABF_CN,
    "webpki::cn::case-mismatch": _CABF_CN,
}


def _load():
    assert os.path.exists(LIMBO), "conformance data %s is missing (tests/unit/data/x509-limbo/README.md)" % LIMBO
    with gzip.open(LIMBO, "rt") as handle:
        data = json.load(handle)
    assert data["version"] == 1
    return data["testcases"]


def _pems(items):
    if isinstance(items, str):
        items = [items]
    certs = []
    for item in items or []:
        certs.extend(x509.load_pem_x509_certificates(item.encode()))
    return certs


def _run(case):
    """Our verdict for a case: True (passes), False (fails), or a reason to skip it."""
    if set(case.get("features") or []) & SKIPPED_FEATURES:
        return "feature"
    if case.get("max_chain_depth") is not None:
        return "max_chain_depth (the levels do not limit depth below the validator's default)"
    try:
        peer = x509.load_pem_x509_certificate(case["peer_certificate"].encode())
        trusted = _pems(case["trusted_certs"])
        chain = _pems(case["untrusted_intermediates"])
    except ValueError as exc:
        # An unparseable certificate can never pass.
        return False, "unparseable: %s" % exc
    at = case.get("validation_time")
    at = datetime.datetime.fromisoformat(at) if at else None
    purpose = "server" if case["validation_kind"] == "SERVER" else "client"
    ekus = case.get("extended_key_usage") or []
    if purpose == "client" and ekus and "clientAuth" not in ekus:
        purpose = "server"
    peer_name = (case.get("expected_peer_name") or {}).get("value")
    level = "medium_remote" if peer_name else "medium"
    report = evaluate(peer, level=level, purpose=purpose, chain=chain, trusted=trusted, peer_name=peer_name, at=at)
    return report.passed, sorted(report.codes)


def test_limbo_conformance():
    cases = _load()
    matched, deviating, skipped, unexpected = [], [], [], []
    for case in cases:
        outcome = _run(case)
        if isinstance(outcome, str):
            skipped.append((case["id"], outcome))
            continue
        passed, codes = outcome
        expected = case["expected_result"] == "SUCCESS"
        if passed == expected:
            if case["id"] in DEVIATIONS:
                unexpected.append("%s: listed as a deviation but now matches; remove it from DEVIATIONS" % case["id"])
            matched.append(case["id"])
        elif case["id"] in DEVIATIONS:
            deviating.append(case["id"])
        else:
            unexpected.append("%s: expected %s, engine %s %s" % (case["id"], case["expected_result"],
                                                                 "passed" if passed else "failed", codes))
    print("\nlimbo conformance: %d cases: %d matched, %d deviating (allow-listed), %d skipped"
          % (len(cases), len(matched), len(deviating), len(skipped)))
    assert len(matched) > 120
    assert not unexpected, "\n".join(unexpected)
