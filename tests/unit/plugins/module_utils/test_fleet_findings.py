"""Findings that matter to IP Office fleets, each with a certificate that triggers it and one that does not.

Real certificates and real stores; security_info's findings are what _info.run returns.  Covered: identity
lifetimes (lifetime_over_825_days, lifetime_over_398_days, public_ca_lifetime), vendor default identities
(ip500v2_default_identity, ignition_identity), the latent R11.1.3 medium level (medium_checks_latent, the
preflight when medium is re-applied, certificate_verify's verdict both ways and the audit's
peer_fails_reapplied_medium), and weak_key when a weak certificate is added to the trusted store.
"""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import (
    _certs,
    _checks_settings,
    _findings,
    _info,
    _trusted,
    _verify,
)
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, DirectoryStore
from ansible_collections.ipoffice.security.plugins.plugin_utils import _audit_findings

NOW = _certs.utcnow()
BR_DV_POLICY = "2.23.140.1.2.1"  # CA/Browser Forum domain-validated


def make(subject, days, issuer=None, issuer_key=None, sans=("DNS:ipo1.example.com",), key_usage=True, eku=True,
         policies=(), key=None, ca=False):
    """A certificate shaped by hand (what build_certificate always adds can be left out)."""
    key = key or _certs.generate_private_key("sha256_rsa2048")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    start = NOW - datetime.timedelta(minutes=5)
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer.subject if issuer is not None else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),
                                        critical=False)
    if key_usage:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=not ca, data_encipherment=False,
            key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False),
            critical=True)
    if eku and not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(_certs.parse_subject_alt_names(list(sans))),
                                        critical=False)
    if policies:
        builder = builder.add_extension(x509.CertificatePolicies(
            [x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in policies]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256()), key


@pytest.fixture(scope="module")
def public_ca():
    root, root_key = make("Example Public Root", 3650, sans=(), ca=True)
    return root, root_key


def findings_of(tmp_path, cert, key, extra_trusted=(), settings=None, name="store"):
    store = DirectoryStore(path=str(tmp_path / name), system_name="ipo1.example.com", system_addresses=[])

    def mutate(state):
        state.identity = Credential(cert, key, {"source": "import"})
        if extra_trusted:
            state.add_trusted(list(extra_trusted))
        state.settings["checks"].update(settings or {})

    store.update(mutate)
    result = _info.run(store, {})
    for finding in result["findings"]:  # every finding carries its registered severity
        assert finding["severity"] == _findings.severity(finding["code"]), finding
    return result["findings"]


def by_code(findings, code):
    return [f for f in findings if f["code"] == code]


# ---------------------------------------------------------------------------------------------- lifetime


def test_an_identity_valid_more_than_825_days_is_reported(tmp_path, public_ca):
    long_cert, long_key = make("ipo1.example.com", 826, *public_ca)
    (finding,) = by_code(findings_of(tmp_path, long_cert, long_key, [public_ca[0]], name="long"),
                         "lifetime_over_825_days")
    assert finding["severity"] == "warning" and finding["applies_from"] == "2019-07-01"
    assert finding["max_days"] == 825 and finding["lifetime_days"] == 826 and finding["where"] == "identity"
    assert "Apple" in finding["message"] and "IP500 V2" in finding["message"]
    ok_cert, ok_key = make("ipo1.example.com", 825, *public_ca)
    assert by_code(findings_of(tmp_path, ok_cert, ok_key, [public_ca[0]], name="ok"), "lifetime_over_825_days") == []


def test_a_public_ca_identity_over_398_days_is_reported_and_a_private_one_is_not(tmp_path, public_ca):
    public, public_key = make("ipo1.example.com", 399, *public_ca, policies=(BR_DV_POLICY,))
    found = findings_of(tmp_path, public, public_key, [public_ca[0]], name="public")
    (finding,) = by_code(found, "lifetime_over_398_days")
    assert finding["applies_from"] == "2020-09-01" and finding["max_days"] == 398
    # The same lifetime from a private CA (no Baseline Requirements policy, no SCTs): browsers accept it.
    private, private_key = make("ipo1.example.com", 399, *public_ca)
    assert by_code(findings_of(tmp_path, private, private_key, [public_ca[0]], name="private"),
                   "lifetime_over_398_days") == []
    assert _info.from_public_ca is not None


@pytest.mark.parametrize("days,applies_from,max_days", [
    (300, "2026-03-15", 200),   # already over the 200 days public CAs may issue since 2026-03-15
    (150, "2027-03-15", 100),
    (90, "2029-03-15", 47),
])
def test_the_sc081_schedule_is_reported_with_the_date_it_applies_from(tmp_path, public_ca, days, applies_from,
                                                                      max_days):
    cert, key = make("ipo1.example.com", days, *public_ca, policies=(BR_DV_POLICY,))
    (finding,) = by_code(findings_of(tmp_path, cert, key, [public_ca[0]]), "public_ca_lifetime")
    assert (finding["applies_from"], finding["max_days"], finding["severity"]) == (applies_from, max_days, "warning")
    assert applies_from in finding["message"] and "SC-081" in finding["message"]


def test_short_lived_or_private_identities_are_not_held_to_the_public_schedule(tmp_path, public_ca):
    short, short_key = make("ipo1.example.com", 40, *public_ca, policies=(BR_DV_POLICY,))
    assert by_code(findings_of(tmp_path, short, short_key, [public_ca[0]], name="short"), "public_ca_lifetime") == []
    # Issued by the system's own CA: never "public", whatever it asserts.
    store = DirectoryStore(path=str(tmp_path / "own"), system_name="ipo1.example.com", system_addresses=[])
    state = store.update(lambda state: None).after
    own, own_key = make("ipo1.example.com", 300, state.ca.cert, state.ca.key, policies=(BR_DV_POLICY,))
    assert not _info.from_public_ca(state, own)
    assert by_code(findings_of(tmp_path, own, own_key, name="own"), "public_ca_lifetime") == []
    # Self-signed: never public.
    selfsigned, selfsigned_key = make("ipo1.example.com", 300, policies=(BR_DV_POLICY,))
    assert not _info.from_public_ca(state, selfsigned)


# -------------------------------------------------------------------------------------- vendor defaults


def test_the_ip500v2_factory_identity_is_reported(tmp_path):
    default, default_key = make("ipoffice-00E007A1B2C3.avaya.com", 825, sans=())
    (finding,) = by_code(findings_of(tmp_path, default, default_key, name="default"), "ip500v2_default_identity")
    assert finding["severity"] == "warning" and "ipoffice-00E007A1B2C3.avaya.com" in finding["message"]
    # A self-signed identity named for the system is not the factory default.
    named, named_key = make("ipo1.example.com", 825)
    assert by_code(findings_of(tmp_path, named, named_key, name="named"), "ip500v2_default_identity") == []
    # Nor is a CA-issued one that happens to carry such a name.
    root, root_key = make("Root", 3650, sans=(), ca=True)
    issued, issued_key = make("ipoffice-00E007A1B2C3.avaya.com", 365, root, root_key)
    assert by_code(findings_of(tmp_path, issued, issued_key, [root], name="issued"), "ip500v2_default_identity") == []


def test_a_server_edition_ignition_identity_is_reported(tmp_path):
    ignition, ignition_key = make("ipo-sec1", 730, sans=(), key_usage=False, eku=False)
    (finding,) = by_code(findings_of(tmp_path, ignition, ignition_key, name="ignition"), "ignition_identity")
    assert finding["severity"] == "warning" and "730 days" in finding["message"]
    # With a SAN and key usage it is an identity someone made on purpose.
    made, made_key = make("ipo-sec1.example.com", 730, sans=("DNS:ipo-sec1.example.com",))
    assert by_code(findings_of(tmp_path, made, made_key, name="made"), "ignition_identity") == []
    # About two years only: a ten-year self-signed certificate without extensions is something else.
    old, old_key = make("ipo-sec1", 3650, sans=(), key_usage=False, eku=False)
    assert by_code(findings_of(tmp_path, old, old_key, name="old"), "ignition_identity") == []


# ------------------------------------------------------------------------------------ R11.1.3 medium


@pytest.mark.parametrize("settings,latent", [
    ({"release": "11.1.3.0", "medium_reapplied": False, "management_interfaces": "medium"}, True),
    ({"release": "12.0", "medium_reapplied": False, "telephony_endpoints": "medium_remote"}, True),
    ({"release": "11.1.3.0", "medium_reapplied": True, "management_interfaces": "medium"}, False),
    ({"release": "11.1.2.4.0 build 18", "medium_reapplied": False, "management_interfaces": "medium"}, False),
    ({"release": "", "medium_reapplied": False, "management_interfaces": "medium"}, False),
    ({"release": "11.1.3.0", "medium_reapplied": False, "management_interfaces": "high"}, False),
])
def test_a_latent_r1113_medium_level_is_reported(tmp_path, settings, latent):
    store = DirectoryStore(path=str(tmp_path / "store"), system_name="ipo1.example.com", system_addresses=[])
    store.update(lambda state: state.settings["checks"].update(settings))
    found = by_code(_info.run(store, {})["findings"], "medium_checks_latent")
    assert bool(found) is latent
    if latent:
        assert found[0]["release"] == settings["release"] and found[0]["severity"] == "warning"
        assert "key usage" in found[0]["message"] and "medium_reapplied" in found[0]["message"]


def test_release_must_be_a_release_and_old_stores_load_without_it(tmp_path):
    store = DirectoryStore(path=str(tmp_path / "store"), system_name="ipo1.example.com", system_addresses=[])
    with pytest.raises(SecurityError) as info:
        store.update(lambda state: state.settings["checks"].update(
            _checks_settings.desired_checks(state.settings["checks"], {"release": "eleven"})))
    assert info.value.code == "invalid_setting" and info.value.option == "release"
    assert "11.1.3.0" in info.value.message
    # A store written before the setting existed loads, with the defaults.
    store.update(lambda state: None)
    import json
    import os
    settings_file = os.path.join(str(tmp_path / "store"), "current", "settings.json")
    with open(settings_file) as handle:
        document = json.load(handle)
    for key in ("release", "medium_reapplied"):
        document["settings"]["checks"].pop(key)
    os.chmod(settings_file, 0o644)
    with open(settings_file, "w") as handle:
        json.dump(document, handle)
    checks = store.read().settings["checks"]
    assert checks["release"] == "" and checks["medium_reapplied"] is False


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    """A root in the system's store, and two peers it issued: one without key usage (the older medium accepts
    it; R11.1.3's rejects it), one well-formed.  Each served by a real openssl s_server."""
    base = tmp_path_factory.mktemp("peers")
    root, root_key = make("Peer Root", 3650, sans=(), ca=True)
    bare, bare_key = make("sbc.example.com", 365, root, root_key, sans=("DNS:sbc.example.com",), key_usage=False)
    good, good_key = make("sbc.example.com", 365, root, root_key, sans=("DNS:sbc.example.com",))
    files = {}
    for label, cert, key in (("bare", bare, bare_key), ("good", good, good_key)):
        (base / (label + ".pem")).write_bytes(_certs.cert_pem(cert))
        (base / (label + ".key")).write_bytes(_certs.key_pem(key))
        files[label] = (str(base / (label + ".pem")), str(base / (label + ".key")))
    with helpers.openssl_server(*files["bare"]) as bare_port, helpers.openssl_server(*files["good"]) as good_port:
        yield {"root": root, "bare": bare_port, "good": good_port}


def latent_store(path, root):
    store = DirectoryStore(path=str(path), system_name="ipo1.example.com", system_addresses=[])

    def mutate(state):
        state.add_trusted([root])
        state.settings["checks"].update(release="11.1.3.0", medium_reapplied=False, management_interfaces="medium")

    store.update(mutate)
    return store


def test_certificate_verify_judges_a_latent_system_s_peers_both_ways(tmp_path, peers):
    store = latent_store(tmp_path / "store", peers["root"])
    endpoint = {"host": "127.0.0.1", "port": peers["bare"], "server_name": "sbc.example.com"}
    result = _verify.verify({"endpoint": endpoint, "level": "medium"}, store)
    # The verdict is medium's as R11.1.3 defines it; today the system judges at the older medium and accepts it.
    assert result["passed"] is False and result["codes"] == ["no_key_usage"]
    assert result["latent_medium"] == {"passed": True, "codes": [], "added_codes": ["no_key_usage"],
                                       "release": "11.1.3.0"}
    (warning,) = result["warnings"]
    assert "11.1.3.0" in warning and "accepts it" in warning and "no_key_usage" in warning
    # The audit reports it as the warning it is, not as a rejected endpoint.
    summary, findings = _audit_findings.check_endpoint("ipo1", dict(result, item={"name": "sbc", "level": "medium"}))
    assert summary["status"] == "passes_latent_medium"
    assert [(f["code"], f["severity"], f["codes"]) for f in findings] == [
        ("peer_fails_reapplied_medium", "warning", ["no_key_usage"])]
    # A well-formed peer passes both ways; at high (not a medium level) nothing latent is said.
    good = _verify.verify({"endpoint": dict(endpoint, port=peers["good"]), "level": "medium"}, store)
    assert good["passed"] is True and good["latent_medium"]["passed"] is True and "warnings" not in good
    high = _verify.verify({"endpoint": endpoint, "level": "high"}, store)
    assert "latent_medium" not in high
    # Re-applied: no latent verdict any more.
    store.update(lambda state: state.settings["checks"].update(medium_reapplied=True))
    again = _verify.verify({"endpoint": endpoint, "level": "medium"}, store)
    assert again["passed"] is False and "latent_medium" not in again


def test_re_applying_a_latent_medium_level_runs_the_preflight(tmp_path, peers):
    store = latent_store(tmp_path / "store", peers["root"])
    state = store.read()
    bare = [{"host": "127.0.0.1", "port": peers["bare"], "setting": "management", "server_name": "sbc.example.com"}]
    with pytest.raises(SecurityError) as info:
        _checks_settings.plan(state, {"medium_reapplied": True}, bare, timeout=5)
    assert info.value.code == "preflight_failed" and "no_key_usage" in info.value.message
    (result,) = info.value.details["preflight"]
    assert result["evaluated"] and result["level"] == "medium" and result["codes"] == ["no_key_usage"]
    good = [dict(bare[0], port=peers["good"])]
    planned = _checks_settings.plan(state, {"medium_reapplied": True}, good, timeout=5)
    (change,) = planned.levels
    assert change == {"setting": "management", "before": "medium", "after": "medium", "raises": True,
                      "added_checks": ["critical_extensions", "key_usage", "purpose"], "reapplied": True}
    assert planned.preflight[0]["passed"] is True and planned.warnings == []
    # Without an endpoint, the re-application is a raise nothing verified: it says so.
    unverified = _checks_settings.plan(state, {"medium_reapplied": True}, [], timeout=5)
    assert any("stays 'medium' but is re-applied" in w for w in unverified.warnings)
    # Stating a release that makes medium latent lowers what it checks: no preflight.
    fresh = DirectoryStore(path=str(tmp_path / "fresh"), system_name="x", system_addresses=[])
    fresh.update(lambda s: s.settings["checks"].update(management_interfaces="medium"))
    assert _checks_settings.plan(fresh.read(), {"release": "11.1.3.0"}, bare, timeout=5).levels == []


# ------------------------------------------------------------------------------------- the trusted store


def test_adding_a_weak_trusted_certificate_warns_and_a_strong_one_does_not(tmp_path):
    weak_key = _certs.generate_private_key("sha1_rsa1024")
    weak = _certs.build_certificate("CN=Legacy Partner Root", weak_key, 3650, ca=True)
    strong = _certs.build_certificate("CN=Partner Root", _certs.generate_private_key("sha256_rsa2048"), 3650, ca=True)
    store = DirectoryStore(path=str(tmp_path / "store"), system_name="ipo1.example.com", system_addresses=[])
    result = _trusted.converge(store, [{"content": _certs.cert_pem(weak).decode()},
                                       {"content": _certs.cert_pem(strong).decode()}])
    (finding,) = result["findings"]
    assert finding["code"] == "weak_key" and finding["sha256"] == _certs.fingerprint(weak)
    assert finding["key_bits"] == 1024 and "root" in finding["message"]
    assert [w for w in result["warnings"] if w.startswith("weak_key:")] == ["weak_key: " + finding["message"]]
    # Added again: nothing is added, nothing to warn about.
    again = _trusted.converge(store, [{"content": _certs.cert_pem(weak).decode()}])
    assert again["findings"] == [] and again["warnings"] == []
    # A pinned peer certificate with a weak key warns too.
    leaf = _certs.build_certificate("CN=phone.example.com", _certs.generate_private_key("sha1_rsa1024"), 365,
                                    subject_alt_names=["DNS:phone.example.com"])
    pinned = _trusted.converge(store, [{"content": _certs.cert_pem(leaf).decode()}])
    assert [f["code"] for f in pinned["findings"]] == ["weak_key"] and "pinned" in pinned["findings"][0]["message"]
