"""The internal CA regenerated (security_settings' ``ca`` area, _ca.py) and identities issued by another
system's store (``source: issued_by``, _issuer.py): Server Edition secondaries follow their primary.

Real cryptography, real DirectoryStores on disk, `openssl verify` for the chains.
"""

import datetime
import os
import subprocess

import pytest

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import (
    _certs,
    _identity,
    _info,
    _issued,
    _settings,
)
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, DirectoryStore

IDENTITY_KEYS = ("source", "subject_name", "subject_alt_names", "signature", "valid_days", "renew_before_days",
                 "certificate_path", "certificate_content", "password", "private_key_path", "private_key_content",
                 "private_key_password", "chain_path", "chain_content", "issuer_store", "offer_id_certificate_chain",
                 "automatic_certificate_management", "san_details_origin", "automatic_phone_provisioning")


def store_at(base, name, platform=None):
    return DirectoryStore(str(base / name), system_name=name + ".example.com", system_addresses=["192.0.2.10"],
                          platform=platform)


def params(store, **areas):
    result = {"store_path": store.path, "platform": None, "system_name": store.system_name,
              "system_addresses": ["192.0.2.10"], "lock_timeout": 60, "keep_generations": None,
              "dependents_max_age_days": None}
    for area in _settings.AREAS:
        result[area] = areas.get(area)
    return result


def identity(**options):
    area = dict((key, None) for key in IDENTITY_KEYS)
    area["regenerate"] = "full_idempotence"
    area.update(options)
    return area


def ca(**options):
    area = {"subject_name": None, "signature": None, "valid_days": None, "regenerate": "full_idempotence",
            "renew_before_days": None, "retire_previous": True, "allow_in_use": False}
    area.update(options)
    return area


def openssl_verify(root_file, cert_file, untrusted=None):
    helpers.need_tool("openssl")
    args = ["openssl", "verify", "-no-CAfile", "-no-CApath", "-CAfile", root_file]
    if untrusted:
        args += ["-untrusted", untrusted]
    run = subprocess.run(args + [cert_file], capture_output=True, text=True, timeout=30, check=False)
    return run.returncode, run.stdout + run.stderr


def secondary_identity(primary, name="sec1", **options):
    return identity(source="issued_by", issuer_store=primary.path, subject_name=name + ".example.com",
                    subject_alt_names=["DNS:%s.example.com" % name, "IP:192.0.2.21"], **options)


# --------------------------------------------------------------------------------------------- the CA


def test_a_new_internal_ca_reissues_what_it_issued_and_retires_the_previous_one(tmp_path):
    store = store_at(tmp_path, "ipo1")
    _settings.run(store, params(store, identity=identity(source="ca", subject_name="ipo1.example.com")))
    before = store.read()
    old_ca = before.ca.cert
    rotate = params(store, ca=ca(subject_name="CN=IP Office Root CA ipo1 2025"))
    digest = helpers.tree_digest(store.path)
    check = _settings.run(store, rotate, check_mode=True)
    assert helpers.tree_digest(store.path) == digest
    real = _settings.run(store, rotate)
    for result in (check, real):
        assert result["changed"] is True
        assert result["ca"]["action"] == "regenerated" and result["ca"]["reissued"] == ["system"]
        assert result["ca"]["reasons"] == ["subject is 'CN=IP Office Root CA ipo1.example.com', requested "
                                           "'CN=IP Office Root CA ipo1 2025'"]
        assert result["ca"]["certificate"]["subject"] == "CN=IP Office Root CA ipo1 2025"
        assert [(r["sha256"], r["retired_by"]) for r in result["retired"]] == [(_certs.fingerprint(old_ca),
                                                                                "ca.retire_previous")]
        assert result["retiring"] == []
        assert [s["step"] for s in result["steps"]] == ["ca", "retire"]
    state = store.read()
    assert state.ca.cert.subject.rfc4514_string() == "CN=IP Office Root CA ipo1 2025"
    assert _certs.fingerprint(old_ca) not in state.trusted and state.ca.fingerprint in state.trusted
    assert state.identity.meta["source"] == "ca" and state.identity.meta["issued_by"] == state.ca.fingerprint
    assert state.identity.cert.subject == before.identity.cert.subject
    code, output = openssl_verify(os.path.join(store.path, "current", "ca", "cert.pem"),
                                  os.path.join(store.path, "current", "identity", "cert.pem"))
    assert code == 0, output
    assert _info.snapshot(store, state)["ca"]["request"]["previous"] == [_certs.fingerprint(old_ca)]
    digest = helpers.tree_digest(store.path)
    assert _settings.run(store, rotate)["changed"] is False
    assert _settings.run(store, rotate, check_mode=True)["changed"] is False
    assert helpers.tree_digest(store.path) == digest


def test_the_initial_identity_is_reissued_by_a_new_ca_too(tmp_path):
    store = store_at(tmp_path, "ipo2")
    result = _settings.run(store, params(store, ca=ca(signature="sha256_ecdsa_p256")))
    state = store.read()
    assert result["ca"]["reasons"] == ["key is RSA 2048, requested EC secp256r1"]
    assert result["ca"]["reissued"] == ["system"] and state.identity.meta["source"] == "initial"
    assert _certs.is_issued_by(state.identity.cert, state.ca.cert)
    assert _settings.run(store, params(store, ca=ca(signature="sha256_ecdsa_p256")))["changed"] is False


def test_a_new_ca_is_refused_while_certificates_it_issued_remain_unless_allowed(tmp_path):
    store = store_at(tmp_path, "ipo1")
    out = str(tmp_path / "sbc.p12")
    _issued.run(store, {"subject_name": "sbc.example.com", "subject_alt_names": ["DNS:sbc.example.com"],
                        "valid_days": 365, "format": "pkcs12", "path": out, "private_key_path": None,
                        "chain_path": None, "password": "pw-12345", "signature": None, "renew_before_days": None})
    old_fp = store.read().ca.fingerprint
    rotate = params(store, ca=ca(subject_name="CN=IP Office Root CA ipo1 2025"))
    digest = helpers.tree_digest(store.path)
    for check_mode in (True, False):
        with pytest.raises(SecurityError) as info:
            _settings.run(store, rotate, check_mode=check_mode)
        error = info.value
        assert error.code == "ca_in_use" and error.option == "ca.allow_in_use" and error.details["area"] == "ca"
        assert "CN=sbc.example.com" in error.message and out in error.message
        assert [d["kind"] for d in error.details["in_use"]] == ["issued_certificate"]
        assert helpers.tree_digest(store.path) == digest
    allowed = params(store, ca=ca(subject_name="CN=IP Office Root CA ipo1 2025", allow_in_use=True))
    result = _settings.run(store, allowed)
    assert result["changed"] and result["ca"]["action"] == "regenerated"
    assert [d["kind"] for d in result["ca"]["in_use"]] == ["issued_certificate"]
    assert any(w.startswith("ca: regenerated the internal CA although") for w in result["warnings"])
    # the previous CA stays in the trusted store while the certificate it issued is valid: it is retiring
    [item] = result["retiring"]
    assert item["sha256"] == old_fp and item["retired_by"] == "ca.retire_previous"
    assert [d["kind"] for d in item["blocked_by"]] == ["issued_certificate"]
    assert _settings.run(store, allowed)["changed"] is False


@pytest.mark.parametrize("policy,code", [("fail", "regeneration_refused"), ("never", None)])
def test_the_ca_regenerate_policy(tmp_path, policy, code):
    store = store_at(tmp_path, "ipo1")
    store.update(lambda state: None)
    digest = helpers.tree_digest(store.path)
    args = params(store, ca=ca(subject_name="CN=Another CA", regenerate=policy))
    if code:
        with pytest.raises(SecurityError) as info:
            _settings.run(store, args)
        assert info.value.code == code and info.value.option == "ca.regenerate"
    else:
        result = _settings.run(store, args)
        assert result["changed"] is False and result["ca"]["action"] == "kept"
        assert result["warnings"][0].startswith("ca: The internal CA was kept because regenerate is 'never'")
    assert helpers.tree_digest(store.path) == digest


def test_an_ip500v2_system_has_no_ca_to_regenerate(tmp_path):
    store = store_at(tmp_path, "ipo3", platform="ip500v2")
    with pytest.raises(SecurityError) as info:
        _settings.run(store, params(store, ca=ca(subject_name="CN=x")))
    assert info.value.code == "no_internal_ca" and info.value.option == "ca"
    assert helpers.tree_digest(store.path) == "absent"


# ---------------------------------------------------------------------------------------- issued_by


def test_a_secondary_issued_by_the_primarys_store(tmp_path):
    primary, secondary = store_at(tmp_path, "primary"), store_at(tmp_path, "sec1")
    _settings.run(primary, params(primary, identity=identity(source="ca")))
    primary_digest = helpers.tree_digest(primary.path)
    args = params(secondary, identity=secondary_identity(primary))
    check = _settings.run(secondary, args, check_mode=True)
    assert helpers.tree_digest(secondary.path) == "absent"
    real = _settings.run(secondary, args)
    primary_ca = primary.read().ca
    for result in (check, real):
        assert result["changed"] is True and result["identity"]["action"] == "created"
        assert [c["sha256"] for c in result["identity"]["added_to_trusted_store"]] == [primary_ca.fingerprint]
    state = secondary.read()
    meta = state.identity.meta
    assert meta["source"] == "issued_by" and meta["issued_by"] == primary_ca.fingerprint
    assert meta["issuer_store"] == primary.path and meta["issuer_subject"] == primary_ca.cert.subject.rfc4514_string()
    assert meta["issuer_certificate"] == _certs.cert_pem(primary_ca.cert).decode()
    assert [c.subject for c in state.chain_for(state.identity)] == [primary_ca.cert.subject]
    code, output = openssl_verify(os.path.join(primary.path, "current", "ca", "cert.pem"),
                                  os.path.join(secondary.path, "current", "identity", "cert.pem"))
    assert code == 0, output
    assert helpers.tree_digest(primary.path) == primary_digest  # read, never written
    digest = helpers.tree_digest(secondary.path)
    assert _settings.run(secondary, args)["changed"] is False
    assert helpers.tree_digest(secondary.path) == digest
    # the identity_certificate module takes the same source
    module_params = dict(secondary_identity(primary), purpose="system", store_path=secondary.path)
    assert _identity.run(secondary, module_params)["changed"] is False
    codes = [f["code"] for f in _info.run(secondary, {"store_path": secondary.path})["findings"]]
    assert "issuer_changed" not in codes and "issuer_unavailable" not in codes


def test_the_primarys_new_ca_shows_as_issuer_changed_and_the_next_run_reissues(tmp_path):
    primary, secondary = store_at(tmp_path, "primary"), store_at(tmp_path, "sec1")
    _settings.run(primary, params(primary, identity=identity(source="ca")))
    args = params(secondary, identity=secondary_identity(primary))
    _settings.run(secondary, args)
    old_fp = primary.read().ca.fingerprint
    _settings.run(primary, params(primary, ca=ca(subject_name="CN=Primary Root CA 2025")))
    new_fp = primary.read().ca.fingerprint
    findings = [f for f in _info.run(secondary, {"store_path": secondary.path})["findings"]
                if f["code"] == "issuer_changed"]
    assert [(f["where"], f["issued_by"], f["issuer_now"], f["issuer_store"]) for f in findings] == [
        ("identity", old_fp, new_fp, primary.path)]
    assert "the next run that declares it (source: issued_by) reissues it" in findings[0]["message"]
    primary_digest = helpers.tree_digest(primary.path)
    check = _settings.run(secondary, args, check_mode=True)
    real = _settings.run(secondary, args)
    for result in (check, real):
        assert result["changed"] is True and result["identity"]["action"] == "regenerated"
        assert result["identity"]["reasons"] == [
            "it is not issued by the current CA 'CN=Primary Root CA 2025' of the store at %s (primary.example.com)"
            % primary.path]
        # the previous primary root goes in the same run: nothing depends on it any more
        assert [(r["sha256"], r["retired_by"]) for r in result["retired"]] == [(old_fp, "identity.previous_issuer")]
    state = secondary.read()
    assert new_fp in state.trusted and old_fp not in state.trusted
    assert state.identity.meta["issued_by"] == new_fp and state.identity.meta["previous_issuers"] == [old_fp]
    assert [f for f in _info.run(secondary, {"store_path": secondary.path})["findings"]
            if f["code"].startswith("issuer")] == []
    assert helpers.tree_digest(primary.path) == primary_digest
    assert _settings.run(secondary, args)["changed"] is False


def test_validity_is_capped_at_the_issuer_cas_remaining_life(tmp_path):
    primary, secondary = store_at(tmp_path, "primary"), store_at(tmp_path, "sec1")
    _settings.run(primary, params(primary, ca=ca(valid_days=400)))
    args = params(secondary, identity=secondary_identity(primary, valid_days=825))
    result = _settings.run(secondary, args)
    ca_cert = primary.read().ca.cert
    cert = secondary.read().identity.cert
    assert cert.not_valid_after_utc <= ca_cert.not_valid_after_utc
    assert 397 <= _identity.validity_days(cert) <= 400
    [warning] = result["warnings"]
    assert "is valid %d days, not the 825 asked for" % _identity.validity_days(cert) in warning
    assert _settings.run(secondary, args)["changed"] is False  # the capped length matches


def test_an_issuer_ca_within_the_renewal_window_is_a_clear_error(tmp_path):
    primary, secondary = store_at(tmp_path, "primary"), store_at(tmp_path, "sec1")

    def short_ca(state):
        key = _certs.generate_private_key()
        cert = _certs.build_certificate("CN=Short CA", key, 40, ca=True)
        state.ca = Credential(cert, key, {"source": "initial"})
    primary.update(short_ca)
    with pytest.raises(SecurityError) as info:
        _settings.run(secondary, params(secondary, identity=secondary_identity(primary)))
    assert info.value.code == "issuer_ca_expiring" and info.value.option == "identity.issuer_store"
    assert "within the renewal window (60 days)" in info.value.message
    assert helpers.tree_digest(secondary.path) == "absent"


@pytest.mark.parametrize("case", ["ip500v2", "missing", "own", "not_issued_by"])
def test_bad_issuer_stores_are_clear_errors(tmp_path, case):
    secondary = store_at(tmp_path, "sec1")
    secondary.update(lambda state: None)
    digest = helpers.tree_digest(secondary.path)
    area = secondary_identity(store_at(tmp_path, "primary"))
    expected = {"ip500v2": ("issuer_without_ca", "identity.issuer_store"),
                "missing": ("issuer_store_missing", "identity.issuer_store"),
                "own": ("conflicting_options", "identity.issuer_store"),
                "not_issued_by": ("option_not_applicable", "identity.issuer_store")}[case]
    if case == "ip500v2":
        ip500 = store_at(tmp_path, "ipo500", platform="ip500v2")
        ip500.update(lambda state: None)
        area["issuer_store"] = ip500.path
    elif case == "own":
        area["issuer_store"] = secondary.path
    elif case == "not_issued_by":
        area = identity(source="ca", issuer_store=str(tmp_path / "primary"))
    with pytest.raises(SecurityError) as info:
        _settings.run(secondary, params(secondary, identity=area))
    assert (info.value.code, info.value.option) == expected, info.value.message
    assert helpers.tree_digest(secondary.path) == digest
    assert not os.path.exists(str(tmp_path / "primary"))  # a missing issuer store is never created
    if case == "ip500v2":
        assert "ip500v2" in info.value.message and "no internal CA" in info.value.message


def test_an_identity_of_source_ca_follows_a_new_ca_on_its_next_run(tmp_path):
    """A CA replaced behind the identity's back (restored generation, per-area module): issuer_changed, then the
    next run that declares it reissues it, in check mode exactly."""
    store = store_at(tmp_path, "ipo1")
    declared = params(store, identity=identity(source="ca", regenerate="partial_idempotence"))
    _settings.run(store, declared)

    def new_ca(state):
        key = _certs.generate_private_key()
        cert = _certs.build_certificate("CN=Replacement CA", key, 3650, ca=True)
        state.ca = Credential(cert, key, {"source": "initial"})
        state.add_trusted([cert])
    store.update(new_ca)
    findings = [f["code"] for f in _info.run(store, {"store_path": store.path})["findings"]]
    assert "issuer_changed" in findings
    digest = helpers.tree_digest(store.path)
    assert _settings.run(store, declared, check_mode=True)["changed"] is True
    assert helpers.tree_digest(store.path) == digest
    result = _settings.run(store, declared)
    assert result["identity"]["action"] == "regenerated"
    assert _certs.is_issued_by(store.read().identity.cert, store.read().ca.cert)
    assert _settings.run(store, declared)["changed"] is False


def test_time_passing_alone_never_reissues_a_capped_identity(tmp_path):
    primary, secondary = store_at(tmp_path, "primary"), store_at(tmp_path, "sec1")
    _settings.run(primary, params(primary, ca=ca(valid_days=500)))
    request = _identity.identity_request(dict(secondary_identity(primary), purpose="system"))
    state = secondary.read()
    _identity.apply_identity(state, request)
    later = _certs.utcnow() + datetime.timedelta(days=30)
    outcome = _identity.apply_identity(state, request, now=later)
    assert outcome.decision.action == "kept" and outcome.decision.reasons == []


def test_a_secondary_is_gathered_with_its_issuer_and_fed_back_unchanged(tmp_path):
    primary, secondary = store_at(tmp_path, "primary"), store_at(tmp_path, "sec1")
    _settings.run(primary, params(primary, identity=identity(source="ca")))
    _settings.run(secondary, params(secondary, identity=secondary_identity(primary)))
    gathered = _settings.run(secondary, dict(params(secondary), state="gathered"))["gathered"]
    assert gathered["identity"]["source"] == "issued_by" and gathered["identity"]["issuer_store"] == primary.path
    areas = dict((area, gathered.get(area)) for area in _settings.AREAS)
    areas["identity"] = identity(**gathered["identity"])
    digest = helpers.tree_digest(secondary.path)
    assert _settings.run(secondary, params(secondary, **areas))["changed"] is False
    assert helpers.tree_digest(secondary.path) == digest


def test_a_telephony_identity_can_be_issued_by_the_primary_too(tmp_path):
    primary, secondary = store_at(tmp_path, "primary"), store_at(tmp_path, "sec1")
    _settings.run(primary, params(primary, identity=identity(source="ca")))
    telephony = identity(source="issued_by", issuer_store=primary.path, subject_name="sip.sec1.example.com",
                         subject_alt_names=["DNS:sip.sec1.example.com", "URI:sip:example.com"])
    for key in ("offer_id_certificate_chain", "automatic_certificate_management", "san_details_origin",
                "automatic_phone_provisioning"):
        del telephony[key]
    args = params(secondary, telephony_identity=telephony)
    result = _settings.run(secondary, args)
    assert result["telephony_identity"]["action"] == "created"
    state = secondary.read()
    assert _certs.is_issued_by(state.telephony.cert, primary.read().ca.cert)
    assert state.telephony.meta["issuer_store"] == primary.path
    old_fp = primary.read().ca.fingerprint
    _settings.run(primary, params(primary, ca=ca(subject_name="CN=Primary Root 2025")))
    moved = _settings.run(secondary, args)
    assert moved["telephony_identity"]["action"] == "regenerated"
    assert [(r["sha256"], r["retired_by"]) for r in moved["retired"]] == [(old_fp,
                                                                           "telephony_identity.previous_issuer")]
    assert _settings.run(secondary, args)["changed"] is False
