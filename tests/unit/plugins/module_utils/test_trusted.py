"""Unit tests of the trusted certificate store decisions (plugins/module_utils/_trusted.py).

Real cryptography everywhere: certificates are issued by real keys, PKCS#12 files come from the real
`openssl pkcs12 -export`, and store-level tests run against a real DirectoryStore on disk.
"""

import base64
import datetime
import os
import subprocess

import pytest

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _trusted
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore, initial_state

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

EC = "sha256_ecdsa_p256"  # fast keys: the decisions do not depend on the key type


class Pki(object):
    """A small real PKI: two roots, an intermediate, leaves; certificates issued by real keys."""

    def __init__(self):
        self.root_key = _certs.generate_private_key(EC)
        self.root = _certs.build_certificate("CN=Unit Root A,O=Example", self.root_key, 3650, EC, ca=True)
        self.inter_key = _certs.generate_private_key(EC)
        self.inter = _certs.build_certificate("CN=Unit Issuing CA,O=Example", self.inter_key, 1825, EC, ca=True,
                                              issuer_cert=self.root, issuer_key=self.root_key)
        self.other_key = _certs.generate_private_key(EC)
        self.other = _certs.build_certificate("CN=Unit Root B,O=Other", self.other_key, 3650, EC, ca=True)
        self.leaf_key = _certs.generate_private_key(EC)
        self.leaf = _certs.build_certificate("sbc.example.com", self.leaf_key, 365, EC,
                                             subject_alt_names=["DNS:sbc.example.com"],
                                             issuer_cert=self.inter, issuer_key=self.inter_key)

    def roots(self, count):
        """count distinct self-signed CA certificates (one key: only the certificates must differ)."""
        return [_certs.build_certificate("CN=Filler Root %02d" % i, self.other_key, 3650, EC, ca=True)
                for i in range(count)]


@pytest.fixture(scope="module")
def pki():
    return Pki()


@pytest.fixture(scope="module")
def base_state():
    return initial_state("server", "ipo1.example.com", ["192.0.2.10"])


@pytest.fixture
def state(base_state):
    return base_state.copy()


def pem(*certs):
    return _certs.certs_pem(certs).decode()


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def fps(certs):
    return set(_certs.fingerprint(c) for c in certs)


def openssl_pkcs12(tmp_path, certs, key=None, password="secret", name="store"):
    """A PKCS#12 made by the real `openssl pkcs12 -export` (certificate-only with -nokeys when key is None)."""
    helpers.need_tool("openssl")
    cert_file = tmp_path / ("%s-certs.pem" % name)
    cert_file.write_text(pem(*certs))
    out = tmp_path / ("%s.p12" % name)
    args = ["openssl", "pkcs12", "-export", "-in", str(cert_file), "-out", str(out), "-passout", "pass:" + password]
    if key is None:
        args.append("-nokeys")
    else:
        key_file = tmp_path / ("%s-key.pem" % name)
        key_file.write_bytes(_certs.key_pem(key))
        args += ["-inkey", str(key_file)]
    subprocess.run(args, check=True, capture_output=True)
    return out


def request(items, desired="present"):
    return _trusted.load_request(items, desired)


# ------------------------------------------------------------------------------------------ parsing


def test_pem_bundle_counts_every_certificate(pki):
    req = request([{"content": pem(pki.root, pki.inter, pki.leaf)}])
    assert req.fingerprints == [_certs.fingerprint(c) for c in (pki.root, pki.inter, pki.leaf)]
    assert req.sources[0].format == "pem"


def test_der_base64_der_and_pkcs7_are_the_same_certificate(pki, tmp_path):
    der_file = tmp_path / "root.der"
    der_file.write_bytes(der(pki.root))
    p7 = pkcs7.serialize_certificates([pki.root, pki.inter], serialization.Encoding.DER)
    req = request([{"path": str(der_file)}, {"content": base64.b64encode(der(pki.root)).decode()},
                   {"content": pem(pki.root)}, {"content": base64.b64encode(p7).decode()}])
    assert [s.format for s in req.sources] == ["der", "der", "pem", "pkcs7"]
    # duplicates across forms collapse to one entry each
    assert req.fingerprints == [_certs.fingerprint(pki.root), _certs.fingerprint(pki.inter)]


def test_openssl_pkcs12_with_key_gives_certificates_and_warns_key_not_stored(pki, state, tmp_path):
    p12 = openssl_pkcs12(tmp_path, [pki.leaf, pki.inter, pki.root], key=pki.leaf_key)
    req = request([{"path": str(p12), "password": "secret"}])
    assert req.sources[0].format == "pkcs12" and req.sources[0].had_key
    assert set(req.fingerprints) == fps([pki.leaf, pki.inter, pki.root])
    outcome = _trusted.apply_request(state, req)
    assert fps(outcome.added) == fps([pki.leaf, pki.inter, pki.root])
    assert any("private key" in w and "certificates[0]" in w for w in outcome.warnings)
    assert set(state.trusted) == fps([state.ca.cert, pki.leaf, pki.inter, pki.root])


def test_openssl_certificate_only_pkcs12_truststore_is_a_stable_set(pki, state, tmp_path):
    # community.crypto #538: a certificates-only PKCS#12 must not report changed on every run.
    p12 = openssl_pkcs12(tmp_path, [pki.root, pki.other], key=None)
    items = [{"path": str(p12), "password": "secret"}]
    first = _trusted.apply_request(state, request(items))
    assert fps(first.added) == fps([pki.root, pki.other]) and not first.warnings
    snapshot = state.snapshot()
    # a freshly exported truststore (new salt, new bytes) with the same certificates in another order
    p12_again = openssl_pkcs12(tmp_path, [pki.other, pki.root], key=None, name="again")
    assert p12_again.read_bytes() != p12.read_bytes()
    second = _trusted.apply_request(state, request([{"path": str(p12_again), "password": "secret"}]))
    assert second.added == [] and second.removed == [] and state.snapshot() == snapshot


def test_sha256_items_accept_common_spellings(pki):
    fp = _certs.fingerprint(pki.root)
    spellings = [fp, fp.upper(), fp.replace(":", ""), "sha256:" + fp, fp.replace(":", " ")]
    req = request([{"sha256": s} for s in spellings], "absent")
    assert req.fingerprints == [fp]


# ------------------------------------------------------------------------------------------ present


def test_add_then_again_is_idempotent_whatever_the_order_and_form(pki, state):
    before = set(state.trusted)
    outcome = _trusted.apply_request(state, request([{"content": pem(pki.inter, pki.root)}]))
    assert fps(outcome.added) == fps([pki.root, pki.inter]) and outcome.removed == []
    assert set(state.trusted) == before | fps([pki.root, pki.inter])
    snapshot = state.snapshot()
    again = _trusted.apply_request(state, request([
        {"content": base64.b64encode(der(pki.root)).decode()}, {"content": pem(pki.inter)},
        {"content": pem(pki.root, pki.root)}]))
    assert again.added == [] and again.removed == [] and again.warnings == []
    assert state.snapshot() == snapshot


def test_leaf_certificates_are_allowed(pki, state):
    outcome = _trusted.apply_request(state, request([{"content": pem(pki.leaf)}]))
    assert fps(outcome.added) == fps([pki.leaf]) and not _certs.is_ca(pki.leaf)
    assert outcome.warnings == []


def test_expired_and_not_yet_valid_are_added_with_a_warning(pki, state):
    now = _certs.utcnow()
    expired = _certs.build_certificate("CN=Old Root", pki.other_key, 30, EC, ca=True,
                                       not_before=now - datetime.timedelta(days=400))
    future = _certs.build_certificate("CN=Future Root", pki.other_key, 30, EC, ca=True,
                                      not_before=now + datetime.timedelta(days=10))
    outcome = _trusted.apply_request(state, request([{"content": pem(expired, future)}]))
    assert fps(outcome.added) == fps([expired, future])
    text = " ".join(outcome.warnings)
    assert "CN=Old Root" in text and "expired" in text
    assert "CN=Future Root" in text and "not valid before" in text
    # existing entries do not warn again on the next run (no churn, no noise)
    assert _trusted.apply_request(state, request([{"content": pem(expired)}])).warnings == []


def test_limit_is_checked_on_the_final_set_before_anything_changes(pki, state):
    assert len(state.trusted) == 1  # the internal root CA
    fillers = pki.roots(25)
    ok = _trusted.apply_request(state, request([{"content": pem(*fillers[:24])}]))
    assert len(ok.added) == 24 and len(state.trusted) == 25
    snapshot = state.snapshot()
    with pytest.raises(SecurityError) as info:
        _trusted.apply_request(state, request([{"content": pem(fillers[24])}]))
    assert info.value.code == "trusted_store_full"
    assert info.value.details == {"count": 26, "limit": 25}
    assert "26" in info.value.message and "25" in info.value.message
    assert state.snapshot() == snapshot
    # re-adding entries already present does not count twice
    assert _trusted.apply_request(state, request([{"content": pem(*fillers[:24])}])).added == []


def test_exclusive_counts_only_the_final_set(pki, state):
    fillers = pki.roots(50)
    _trusted.apply_request(state, request([{"content": pem(*fillers[:24])}]))
    assert len(state.trusted) == 25
    outcome = _trusted.apply_request(state, request([{"content": pem(*fillers[25:50])}]), exclusive=True,
                                     allow_in_use=True)  # the internal root CA goes too
    assert len(outcome.added) == 25 and len(outcome.removed) == 25
    assert set(state.trusted) == fps(fillers[25:50])
    snapshot = state.snapshot()
    with pytest.raises(SecurityError) as info:
        _trusted.apply_request(state, request([{"content": pem(*fillers[:26])}]), exclusive=True)
    assert info.value.code == "trusted_store_full" and info.value.details["count"] == 26
    assert state.snapshot() == snapshot


# -------------------------------------------------------------------------------- exclusive / absent


def test_exclusive_removing_the_identity_root_is_refused(pki, state):
    root_fp = _certs.fingerprint(state.ca.cert)
    snapshot = state.snapshot()
    with pytest.raises(SecurityError) as info:
        _trusted.apply_request(state, request([{"content": pem(pki.root)}]), exclusive=True)
    assert info.value.code == "trusted_entry_in_use" and info.value.option == "allow_in_use"
    assert root_fp in info.value.message and "system identity CN=ipo1.example.com" in info.value.message
    assert [item["sha256"] for item in info.value.details["in_use"]] == [root_fp]
    assert state.snapshot() == snapshot


def test_exclusive_removing_the_identity_root_with_allow_in_use_warns_naming_it(pki, state):
    root_fp = _certs.fingerprint(state.ca.cert)
    outcome = _trusted.apply_request(state, request([{"content": pem(pki.root)}]), exclusive=True,
                                     allow_in_use=True)
    assert set(state.trusted) == fps([pki.root])
    removed = outcome.removed_info()
    assert [(r["sha256"], r["needed_by"], [d["kind"] for d in r["dependents"]]) for r in removed] == \
        [(root_fp, ["identity"], ["identity_chain"])]
    assert len(outcome.warnings) == 1
    assert root_fp in outcome.warnings[0] and "IP Office Root CA" in outcome.warnings[0]
    assert outcome.warnings[0].startswith("removed trusted certificate ") and "allow_in_use" in outcome.warnings[0]
    assert "system identity CN=ipo1.example.com" in outcome.warnings[0]
    assert state.offered_chain(state.identity) == [state.identity.cert]


def test_removing_the_identity_root_is_refused_even_when_the_chain_is_not_offered(state):
    state.settings["identity"]["offer_id_certificate_chain"] = False
    with pytest.raises(SecurityError) as info:
        _trusted.apply_request(state, request([{"content": pem(state.ca.cert)}], "absent"), "absent")
    assert info.value.code == "trusted_entry_in_use"
    outcome = _trusted.apply_request(state, request([{"content": pem(state.ca.cert)}], "absent"), "absent",
                                     allow_in_use=True)
    assert outcome.removed_info()[0]["needed_by"] == ["identity"] and len(outcome.warnings) == 1


def test_removing_an_unrelated_entry_does_not_warn(pki, state):
    _trusted.apply_request(state, request([{"content": pem(pki.other)}]))
    outcome = _trusted.apply_request(state, request([{"content": pem(pki.other)}], "absent"), "absent")
    assert fps(outcome.removed) == fps([pki.other]) and outcome.warnings == []
    assert outcome.removed_info()[0]["needed_by"] == []


def test_exclusive_with_the_same_set_is_no_change(pki, state):
    items = [{"content": pem(state.ca.cert, pki.root)}]
    _trusted.apply_request(state, request(items), exclusive=True)
    snapshot = state.snapshot()
    again = _trusted.apply_request(state, request([{"content": pem(pki.root)}, {"content": pem(state.ca.cert)}]),
                                   exclusive=True)
    assert again.added == [] and again.removed == [] and state.snapshot() == snapshot


def test_exclusive_with_an_empty_list_empties_the_store(state):
    outcome = _trusted.apply_request(state, request([]), exclusive=True, allow_in_use=True)
    assert state.trusted == {} and len(outcome.removed) == 1


def test_absent_by_certificate_and_by_fingerprint_ignores_unknown(pki, state):
    _trusted.apply_request(state, request([{"content": pem(pki.root, pki.inter, pki.other)}]))
    outcome = _trusted.apply_request(state, request([
        {"content": base64.b64encode(der(pki.root)).decode()},
        {"sha256": _certs.fingerprint(pki.inter).upper()},
        {"content": pem(pki.leaf)},  # not in the store: ignored
    ], "absent"), "absent")
    assert fps(outcome.removed) == fps([pki.root, pki.inter])
    assert set(state.trusted) == fps([state.ca.cert, pki.other])
    snapshot = state.snapshot()
    again = _trusted.apply_request(state, request([{"sha256": _certs.fingerprint(pki.root)}], "absent"), "absent")
    assert again.removed == [] and state.snapshot() == snapshot


# ------------------------------------------------------------------------------------------ errors


def error_of(items, desired="present", exclusive=False):
    with pytest.raises(SecurityError) as info:
        _trusted.validate_options(desired, exclusive)
        _trusted.load_request(items, desired)
    return info.value


def test_private_key_block_in_a_bundle_is_refused(pki):
    err = error_of([{"content": pem(pki.root)}, {"content": pem(pki.inter) + _certs.key_pem(pki.inter_key).decode()}])
    assert err.code == "private_key_in_bundle" and err.option == "certificates[1].content"
    assert "private key" in err.message and "certificates[1].content" in err.message
    assert "BEGIN" not in err.message  # never echoes key material


def test_garbage_and_truncated_inputs(pki):
    assert error_of([{"content": "this is not a certificate"}]).code == "invalid_certificate"
    truncated = base64.b64encode(der(pki.root)[:-40]).decode()
    err = error_of([{"content": truncated}])
    assert err.code == "invalid_certificate" and "truncated" in err.message
    assert err.option == "certificates[0].content"
    cut_pem = pem(pki.root)[:-30]
    assert error_of([{"content": cut_pem}]).code == "invalid_certificate"
    assert error_of([{"content": "   "}]).code == "empty_input"


def test_pkcs12_password_errors_name_the_items_password(pki, tmp_path):
    p12 = openssl_pkcs12(tmp_path, [pki.root], password="right")
    err = error_of([{"content": pem(pki.inter)}, {"path": str(p12), "password": "hunter2-wrong"}])
    assert err.code == "wrong_password" and err.option == "certificates[1].password"
    assert "'certificates[1].password' option" in err.message and "hunter2" not in err.message
    missing = error_of([{"path": str(p12)}])
    assert missing.code == "password_required" and missing.option == "certificates[0].password"


def test_unreadable_and_special_files(tmp_path):
    err = error_of([{"path": str(tmp_path / "missing.pem")}])
    assert err.code == "unreadable_file" and err.option == "certificates[0].path"
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    assert error_of([{"path": str(fifo)}]).code == "unreadable_file"


def test_item_shape_errors(pki):
    both = error_of([{"path": "/x", "content": pem(pki.root)}])
    assert both.code == "conflicting_options" and "exactly one" in both.message
    assert error_of([{"password": "x"}]).code == "missing_option"
    present_fp = error_of([{"sha256": _certs.fingerprint(pki.root)}])
    assert present_fp.code == "option_not_applicable" and "state: absent" in present_fp.message
    bad_fp = error_of([{"sha256": "abc"}], "absent")
    assert bad_fp.code == "invalid_fingerprint" and bad_fp.option == "certificates[0].sha256"
    with_password = error_of([{"sha256": _certs.fingerprint(pki.root), "password": "x"}], "absent")
    assert with_password.code == "option_not_applicable"
    excl = error_of([], "absent", exclusive=True)
    assert excl.code == "option_not_applicable" and excl.option == "exclusive"


# ---------------------------------------------------------------------------- against a real store


@pytest.fixture
def store(tmp_path):
    st = DirectoryStore(str(tmp_path / "store"), system_name="ipo1.example.com", system_addresses=["192.0.2.10"])
    st.update(lambda state: None)  # initialise
    return st


def test_run_check_mode_predicts_and_writes_nothing_then_real_run_matches(pki, store):
    items = [{"content": pem(pki.root, pki.inter)}]
    digest = helpers.tree_digest(store.path)
    check = _trusted.converge(store, items, check_mode=True, want_diff=True)
    assert check["changed"] is True and helpers.tree_digest(store.path) == digest
    real = _trusted.converge(store, items, want_diff=True)
    assert real["changed"] is True and helpers.tree_digest(store.path) != digest
    for key in ("entries", "added", "removed", "diff", "trusted_count"):
        assert check[key] == real[key], key
    assert real["trusted_count"] == 3 and real["limit"] == 25
    assert [e["sha256"] for e in real["diff"]["after"]["trusted_certificates"]] == sorted(
        fps([store.read().ca.cert, pki.root, pki.inter]))
    assert len(real["diff"]["before"]["trusted_certificates"]) == 1
    assert "PRIVATE" not in repr(real) and "BEGIN" not in repr(real)
    digest = helpers.tree_digest(store.path)
    again = _trusted.converge(store, list(reversed(items)), want_diff=True)
    assert again["changed"] is False and again["added"] == [] and helpers.tree_digest(store.path) == digest
    assert again["diff"]["before"] == again["diff"]["after"]
    assert _trusted.converge(store, items, check_mode=True)["changed"] is False


@pytest.mark.parametrize("case", ["key_in_bundle", "garbage", "truncated_der", "wrong_password", "26th"])
def test_bad_inputs_leave_the_store_byte_identical(pki, store, tmp_path, case):
    fillers = pki.roots(24)
    _trusted.converge(store, [{"content": pem(*fillers)}])
    assert len(store.read().trusted) == 25
    p12 = openssl_pkcs12(tmp_path, [pki.root], password="right")
    bad = {
        "key_in_bundle": ({"content": pem(pki.root) + _certs.key_pem(pki.root_key).decode()}, "private_key_in_bundle"),
        "garbage": ({"content": "-- not a certificate --"}, "invalid_certificate"),
        "truncated_der": ({"content": base64.b64encode(der(pki.root)[:200]).decode()}, "invalid_certificate"),
        "wrong_password": ({"path": str(p12), "password": "wrong"}, "wrong_password"),
        "26th": ({"content": pem(pki.other)}, "trusted_store_full"),
    }[case]
    digest = helpers.tree_digest(store.path)
    with pytest.raises(SecurityError) as info:
        # a good item first: nothing of it may be written either
        _trusted.converge(store, [{"content": pem(fillers[0])}, bad[0]])
    assert info.value.code == bad[1]
    assert helpers.tree_digest(store.path) == digest


def test_store_files_match_entries_and_carry_no_key(pki, store, tmp_path):
    p12 = openssl_pkcs12(tmp_path, [pki.leaf, pki.inter, pki.root], key=pki.leaf_key)
    result = _trusted.converge(store, [{"path": str(p12), "password": "secret"}])
    assert any("private key" in w for w in result["warnings"])
    tcs = os.path.join(store.path, "current", "tcs")
    with open(os.path.join(tcs, "bundle.pem"), "rb") as handle:
        bundle = handle.read()
    assert fps(_certs.load_certificates(bundle)) == set(e["sha256"] for e in result["entries"])
    leaf_pem = _certs.key_pem(pki.leaf_key)
    for name in os.listdir(tcs):
        with open(os.path.join(tcs, name), "rb") as handle:
            data = handle.read()
        assert b"PRIVATE KEY" not in data and leaf_pem not in data


def test_pkcs12_from_cryptography_truststore_also_loads(pki):
    # The Java-truststore flavour (certificate bags with a trust attribute) made by cryptography itself.
    data = pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(pki.root, b"root"), pkcs12.PKCS12Certificate(pki.other, b"other")],
        serialization.BestAvailableEncryption(b"changeit"))
    req = request([{"content": base64.b64encode(data).decode(), "password": "changeit"}])
    assert set(req.fingerprints) == fps([pki.root, pki.other]) and not req.sources[0].had_key


def test_truncated_pkcs12_is_reported_as_such(pki, tmp_path):
    p12 = openssl_pkcs12(tmp_path, [pki.root, pki.other], password="secret")
    cut = tmp_path / "cut.p12"
    cut.write_bytes(p12.read_bytes()[:-64])
    err = error_of([{"path": str(cut), "password": "secret"}])
    assert err.code == "invalid_pkcs12" and err.option == "certificates[0].path" and "truncated" in err.message
