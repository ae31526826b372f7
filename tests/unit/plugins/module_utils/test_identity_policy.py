"""The identity decisions of _identity.py: regenerate policy, renewal window, sources, settings."""

import datetime

import pytest

import helpers  # noqa: F401  # pylint: disable=unused-import
from test_identity_fixtures import ADDRESSES, NAME, make_ca, now

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils import _identity as identity
from ansible_collections.ipoffice.security.plugins.module_utils._model import SIGNATURES, SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, initial_state


def server_state():
    return initial_state("server", NAME, ADDRESSES)


def apply(state, at=None, **params):
    return identity.apply_identity(state, identity.identity_request(params), at)


# ------------------------------------------------------------------------------------ the pure policy


class FakeCredential(object):
    def __init__(self, source):
        self.meta = {"source": source}


# (current source, regenerate, partial mismatch, full mismatch, renew) -> action or error code
POLICY = [
    (None, "never", False, False, False, "created"),
    ("initial", "never", True, True, False, "created"),
    ("initial", "fail", True, True, True, "created"),
    ("generate", "never", True, True, True, "kept"),
    ("generate", "fail", False, False, False, "kept"),
    ("generate", "fail", False, True, False, "regeneration_refused"),
    ("generate", "fail", False, False, True, "regeneration_refused"),
    ("generate", "partial_idempotence", False, True, False, "kept"),
    ("generate", "partial_idempotence", True, True, False, "regenerated"),
    ("generate", "partial_idempotence", False, False, True, "renewed"),
    ("generate", "full_idempotence", False, False, False, "kept"),
    ("generate", "full_idempotence", False, True, False, "regenerated"),
    ("generate", "full_idempotence", False, False, True, "renewed"),
    ("generate", "full_idempotence", True, True, True, "regenerated"),
    ("generate", "always", False, False, False, "regenerated"),
    ("ca", "full_idempotence", False, False, False, "created"),
]


@pytest.mark.parametrize("source,regenerate,partial,full,renew,expected", POLICY)
def test_regenerate_policy_table(source, regenerate, partial, full, renew, expected):
    current = FakeCredential(source) if source else None
    args = (current, "generate", regenerate, ["names differ"] if partial else [],
            ["validity differs"] if full else [], renew, "system identity")
    if expected == "regeneration_refused":
        with pytest.raises(SecurityError) as info:
            identity.decide(*args)
        assert info.value.code == expected and info.value.option == "regenerate"
        assert "full_idempotence" in info.value.message  # names the value that would allow it
    else:
        assert identity.decide(*args).action == expected


# ------------------------------------------------------------------------------- generate and compare


def test_generate_replaces_the_initial_identity_once_then_keeps_it():
    state = server_state()
    initial = state.identity.fingerprint
    outcome = apply(state, source="generate")
    assert outcome.decision.action == "created" and state.identity.fingerprint != initial
    cert = state.identity.cert
    assert _certs.common_name(cert) == NAME  # default subject: the system name, never empty
    assert _certs.subject_alt_names(cert) == ["DNS:" + NAME]
    assert _certs.is_self_signed(cert) and identity.validity_days(cert) == identity.DEFAULT_VALID_DAYS
    assert state.identity.meta["source"] == "generate" and state.identity.meta["signature"] == "sha256_rsa2048"
    fp = state.identity.fingerprint
    for regenerate in ("never", "fail", "partial_idempotence", "full_idempotence"):
        assert apply(state, source="generate", regenerate=regenerate).decision.action == "kept"
        assert state.identity.fingerprint == fp
    assert apply(state, source="generate", regenerate="always").decision.action == "regenerated"
    assert state.identity.fingerprint != fp


def test_alt_names_compare_as_a_set():
    state = server_state()
    apply(state, source="generate", subject_alt_names=["DNS:a.example.com", "IP:192.0.2.1", "URI:sip:example.com"])
    fp = state.identity.fingerprint
    outcome = apply(state, source="generate",
                    subject_alt_names=["URI:sip:example.com", "IP:192.0.2.1", "dns:A.example.com."])
    assert outcome.decision.action == "kept" and state.identity.fingerprint == fp


@pytest.mark.parametrize("change,partial_action", [
    ({"valid_days": 400}, "kept"),                      # validity length: full only
    ({"signature": "sha384_rsa3072"}, "kept"),          # same key type and size, other hash: full only
    ({"signature": "sha256_rsa4096"}, "regenerated"),   # key size
    ({"signature": "sha256_ecdsa_p256"}, "regenerated"),  # key type
    ({"subject_name": "CN=ipo1.example.com,O=Example"}, "regenerated"),
    ({"subject_alt_names": ["DNS:other.example.com"]}, "regenerated"),
])
def test_partial_versus_full_idempotence(change, partial_action):
    base = {"source": "generate", "signature": "sha256_rsa3072", "valid_days": 500}
    state = server_state()
    apply(state, **base)
    fp = state.identity.fingerprint
    request = dict(base, **change)
    partial = apply(state, regenerate="partial_idempotence", **request)
    assert partial.decision.action == partial_action
    assert (state.identity.fingerprint == fp) == (partial_action == "kept")
    state2 = server_state()
    apply(state2, **base)
    full = apply(state2, regenerate="full_idempotence", **request)
    assert full.decision.action == "regenerated" and full.decision.reasons
    with pytest.raises(SecurityError) as info:
        apply(state2, regenerate="fail", **base)
    assert info.value.code == "regeneration_refused"
    never = apply(state2, regenerate="never", **base)
    assert never.decision.action == "kept" and any("regenerate is 'never'" in w for w in never.warnings)


@pytest.mark.parametrize("signature", sorted(SIGNATURES))
def test_every_signature_choice_generates_its_shape(signature):
    state = server_state()
    outcome = apply(state, source="generate", signature=signature, valid_days=90, renew_before_days=30)
    cert = state.identity.cert
    assert _certs.certificate_signature_choice(cert) == signature
    assert _certs.key_matches(cert, state.identity.key)
    assert (identity.SHA1_WARNING in outcome.warnings) == (signature == "sha1_rsa1024")
    assert apply(state, source="generate", signature=signature, valid_days=90,
                 renew_before_days=30).decision.action == "kept"


# ---------------------------------------------------------------------------------------- renewal


def test_time_alone_changes_nothing_outside_the_renewal_window():
    state = server_state()
    apply(state, source="generate", valid_days=825)
    fp = state.identity.fingerprint
    later = now() + datetime.timedelta(days=700)   # 125 days left, window 60: kept
    assert apply(state, at=later, source="generate", valid_days=825).decision.action == "kept"
    assert state.identity.fingerprint == fp
    inside = now() + datetime.timedelta(days=770)  # 55 days left
    outcome = apply(state, at=inside, source="generate", valid_days=825)
    assert outcome.decision.action == "renewed" and state.identity.fingerprint != fp
    # the renewal keeps the request: same names, a new key
    assert state.identity.meta["subject_alt_names"] == ["DNS:" + NAME]


def test_renew_before_days_defaults_to_the_expiry_warning_days():
    state = server_state()
    state.settings["checks"]["certificate_expiry_warning_days"] = 120
    apply(state, source="generate", valid_days=825)
    at = now() + datetime.timedelta(days=710)      # 115 days left: inside 120, outside 60
    assert apply(state, at=at, source="generate", valid_days=825).decision.action == "renewed"
    state.settings["checks"]["certificate_expiry_warning_days"] = 60
    assert apply(state, at=at, source="generate", valid_days=825).decision.action == "kept"


def test_renewal_inside_window_with_fail_and_never():
    state = server_state()
    apply(state, source="generate", valid_days=825)
    at = now() + datetime.timedelta(days=800)
    with pytest.raises(SecurityError) as info:
        apply(state, at=at, source="generate", valid_days=825, regenerate="fail")
    assert info.value.code == "regeneration_refused" and "renew_before_days" in info.value.message
    outcome = apply(state, at=at, source="generate", valid_days=825, regenerate="never")
    assert outcome.decision.action == "kept" and outcome.warnings


def test_renew_zero_renews_only_expired():
    state = server_state()
    apply(state, source="generate", valid_days=30, renew_before_days=0)
    fp = state.identity.fingerprint
    assert apply(state, at=now() + datetime.timedelta(days=29), source="generate", valid_days=30,
                 renew_before_days=0).decision.action == "kept"
    assert apply(state, at=now() + datetime.timedelta(days=31), source="generate", valid_days=30,
                 renew_before_days=0).decision.action == "renewed"
    assert state.identity.fingerprint != fp


@pytest.mark.parametrize("params,explicit", [({"valid_days": 60}, False),
                                             ({"valid_days": 100, "renew_before_days": 100}, True)])
def test_renewal_window_must_be_shorter_than_the_validity(params, explicit):
    state = server_state()
    with pytest.raises(SecurityError) as info:
        apply(state, source="generate", **params)
    assert info.value.code == "renewal_window_too_large" and info.value.option == "renew_before_days"
    assert ("Certificate Expiry Warning Days" in info.value.message) != explicit


# ------------------------------------------------------------------------------------- source: ca


def test_ca_source_is_issued_by_the_internal_ca_and_follows_a_new_ca():
    state = server_state()
    outcome = apply(state, source="ca", subject_alt_names=["DNS:" + NAME, "IP:192.0.2.10"])
    assert outcome.decision.action == "created"
    assert _certs.is_issued_by(state.identity.cert, state.ca.cert)
    assert state.identity.meta["issued_by"] == state.ca.fingerprint
    assert [c.subject for c in state.chain_for(state.identity)] == [state.ca.cert.subject]
    fp = state.identity.fingerprint
    # a new internal CA: the identity follows its issuer, under partial_idempotence too (names and key
    # still match); only 'never' keeps it, warning
    ca_cert, ca_key = make_ca("CN=IP Office Root CA 2")
    state.ca = Credential(ca_cert, ca_key, {"source": "initial"})
    kept = apply(state, source="ca", subject_alt_names=["DNS:" + NAME, "IP:192.0.2.10"], regenerate="never")
    assert kept.decision.action == "kept" and state.identity.fingerprint == fp
    assert "not issued by the current internal CA 'CN=IP Office Root CA 2'" in kept.warnings[0]
    partial = apply(state, source="ca", subject_alt_names=["DNS:" + NAME, "IP:192.0.2.10"],
                    regenerate="partial_idempotence")
    assert partial.decision.action == "regenerated"
    assert partial.decision.reasons == ["it is not issued by the current internal CA 'CN=IP Office Root CA 2'"]
    assert _certs.is_issued_by(state.identity.cert, ca_cert)
    ca_cert, ca_key = make_ca("CN=IP Office Root CA 3")
    state.ca = Credential(ca_cert, ca_key, {"source": "initial"})
    full = apply(state, source="ca", subject_alt_names=["DNS:" + NAME, "IP:192.0.2.10"])
    assert full.decision.action == "regenerated" and "internal CA" in full.decision.reasons[0]
    assert _certs.is_issued_by(state.identity.cert, ca_cert)


def test_ca_source_on_ip500v2_is_a_clear_error():
    state = initial_state("ip500v2", NAME, ADDRESSES)
    before = state.snapshot()
    with pytest.raises(SecurityError) as info:
        apply(state, source="ca")
    assert info.value.code == "no_internal_ca" and info.value.option == "source"
    assert "ip500v2" in info.value.message and "source: generate" in info.value.message
    assert state.snapshot() == before


def test_ca_issued_identity_cannot_outlive_the_ca():
    state = server_state()
    ca_cert, ca_key = make_ca(days=100)
    state.ca = Credential(ca_cert, ca_key, {"source": "initial"})
    with pytest.raises(SecurityError) as info:
        apply(state, source="ca", valid_days=200)
    assert info.value.code == "validity_exceeds_ca" and info.value.option == "valid_days"


# ----------------------------------------------------------------------------- settings and purposes


def test_automatic_certificate_management_refuses_manual_changes():
    state = server_state()
    apply(state, source="generate")
    fp = state.identity.fingerprint
    apply(state, automatic_certificate_management=True)
    with pytest.raises(SecurityError) as info:
        apply(state, source="generate", subject_name="other.example.com")
    assert info.value.code == "automatic_management_on"
    assert info.value.option == "automatic_certificate_management"
    assert "automatic_certificate_management: false" in info.value.message
    # a request the identity already satisfies is not a Regenerate: nothing to refuse
    assert apply(state, source="generate").decision.action == "kept"
    # switching it off in the same task allows the change
    outcome = apply(state, source="generate", subject_name="other.example.com",
                    automatic_certificate_management=False)
    assert outcome.decision.action == "regenerated" and state.identity.fingerprint != fp
    # switching it on in the same task as a change refuses the whole task
    with pytest.raises(SecurityError):
        apply(state, source="generate", regenerate="always", automatic_certificate_management=True)


def test_automatic_management_options_warn_while_it_is_off():
    state = server_state()
    outcome = apply(state, san_details_origin="DNS:branch1.example.com", automatic_phone_provisioning=False)
    assert state.settings["identity"]["san_details_origin"] == "DNS:branch1.example.com"
    assert state.settings["identity"]["automatic_phone_provisioning"] is False
    assert len(outcome.warnings) == 2 and all("automatic_certificate_management" in w for w in outcome.warnings)
    assert apply(state, automatic_certificate_management=True, san_details_origin="x").warnings == []


def test_offer_id_certificate_chain_decides_the_offered_chain():
    state = server_state()
    assert len(state.offered_chain(state.identity)) == 2
    apply(state, offer_id_certificate_chain=False)
    assert state.offered_chain(state.identity) == [state.identity.cert]


def test_telephony_identity_is_separate_and_warns_when_unused():
    state = server_state()
    system = state.identity.fingerprint
    outcome = apply(state, purpose="telephony", source="generate", subject_name="sip.example.com",
                    subject_alt_names=["DNS:sip.example.com", "URI:sip:example.com"])
    assert outcome.decision.action == "created" and state.telephony is not None
    assert state.identity.fingerprint == system
    assert any("sip_telephony_certificate" in w for w in outcome.warnings)
    state.settings["checks"]["sip_telephony_certificate"] = "sip_trunks"
    again = apply(state, purpose="telephony", source="generate", subject_name="sip.example.com",
                  subject_alt_names=["DNS:sip.example.com", "URI:sip:example.com"])
    assert again.decision.action == "kept" and again.warnings == []


def test_no_source_leaves_the_certificate_alone():
    state = server_state()
    before = state.snapshot()
    outcome = apply(state)
    assert outcome.decision is None and state.snapshot() == before


# -------------------------------------------------------------------------------- option validation


@pytest.mark.parametrize("params,code,option", [
    ({"source": "generate", "certificate_path": "/x"}, "option_not_applicable", "certificate_path"),
    ({"source": "import", "certificate_content": "x", "subject_name": "a"}, "option_not_applicable", "subject_name"),
    ({"subject_name": "a"}, "option_not_applicable", "subject_name"),
    ({"source": "generate", "valid_days": 0}, "out_of_range", "valid_days"),
    ({"source": "generate", "valid_days": 3653}, "out_of_range", "valid_days"),
    ({"source": "generate", "renew_before_days": -1}, "out_of_range", "renew_before_days"),
    ({"source": "generate", "signature": "md5_rsa512"}, "invalid_choice", "signature"),
    ({"source": "generate", "subject_name": "  "}, "invalid_name", "subject_name"),
    ({"source": "generate", "subject_alt_names": ["ipo1.example.com"]}, "invalid_san", "subject_alt_names"),
    ({"source": "generate", "subject_alt_names": ["IP:300.1.1.1"]}, "invalid_san", "subject_alt_names"),
    ({"source": "ca", "subject_alt_names": ["DNS:*.example.com"]}, "invalid_san", "subject_alt_names"),
    ({"source": "import"}, "missing_certificate", "certificate_path"),
    ({"source": "copy"}, "invalid_choice", "source"),
    ({"purpose": "sip"}, "invalid_choice", "purpose"),
    ({"regenerate": "sometimes"}, "invalid_choice", "regenerate"),
    ({"offer_id_certificate_chain": "yes"}, "invalid_setting", "offer_id_certificate_chain"),
])
def test_bad_options_are_refused_before_the_store_is_touched(params, code, option):
    with pytest.raises(SecurityError) as info:
        identity.identity_request(params)
    assert info.value.code == code and info.value.option == option
    assert "'%s'" % option in info.value.message, info.value.message


def test_views_never_carry_key_material():
    state = server_state()
    apply(state, source="generate")
    view = identity.identity_view(state, "system")
    text = repr(view)
    assert "PRIVATE KEY" not in text and view["certificate"]["sha256"] == state.identity.fingerprint
    assert view["settings"]["offer_id_certificate_chain"] is True
