"""The CSR route: issued_certificate signs a CSR made by `openssl req` (as a Linux-based IP Office makes one
for import_certid); the key never leaves where it was made, bad CSRs fail with clear codes."""

import os
import subprocess

import pytest

import helpers
from test_identity_fixtures import ADDRESSES, NAME

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils import _identity as identity
from ansible_collections.ipoffice.security.plugins.module_utils import _issued as issued
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore, initial_state


@pytest.fixture(scope="module")
def state():
    return initial_state("server", NAME, ADDRESSES)


def make_csr(tmp_path, name="ipo-linux1", key="rsa:2048", subject="/CN=ipo-linux1.example.com",
             sans="DNS:ipo-linux1.example.com,IP:192.0.2.31"):
    helpers.need_tool("openssl")
    csr = str(tmp_path / (name + ".csr"))
    key_file = str(tmp_path / (name + ".key"))
    args = ["openssl", "req", "-new", "-newkey", key, "-nodes", "-keyout", key_file, "-out", csr, "-subj", subject]
    if key.startswith("ec"):
        args[3:5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:" + key.split(":")[1]]
    if sans:
        args += ["-addext", "subjectAltName=" + sans]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return csr, key_file


def csr_params(tmp_path, csr, **extra):
    params = {"csr_path": csr, "path": str(tmp_path / "signed.crt"), "chain_path": str(tmp_path / "ca-chain.pem")}
    params.update(extra)
    return params


def issue(state, params, write=True):
    plan = issued.plan_issued(state, issued.issued_request(params))
    if write:
        issued.write_issued(plan)
    return plan


def test_a_csr_is_signed_with_its_names_and_key_and_verifies_with_openssl(tmp_path, state):
    csr, key_file = make_csr(tmp_path)
    params = csr_params(tmp_path, csr)
    plan = issue(state, params)
    assert plan.changed
    cert = _certs.load_certificate(open(params["path"], "rb").read())
    # Subject and SANs from the CSR; its key certified; EKU serverAuth + clientAuth; the 825-day default.
    assert cert.subject.rfc4514_string() == "CN=ipo-linux1.example.com"
    assert _certs.subject_alt_names(cert) == ["DNS:ipo-linux1.example.com", "IP:192.0.2.31"]
    csr_obj = _certs.load_csr(open(csr, "rb").read())
    assert _certs.public_key_der(cert) == _certs.public_key_der(csr_obj)
    assert identity.validity_days(cert) == 825
    assert _certs.is_issued_by(cert, state.ca.cert)
    assert sorted(os.listdir(str(tmp_path))) == sorted(["ipo-linux1.csr", "ipo-linux1.key", "signed.crt",
                                                        "ca-chain.pem"])  # no private key written
    text = open(params["path"]).read()
    assert "PRIVATE KEY" not in text and text.count("BEGIN CERTIFICATE") == 1
    verify = subprocess.run(["openssl", "verify", "-CAfile", params["chain_path"], "-purpose", "sslserver",
                             params["path"]], capture_output=True, text=True, check=False, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    verify = subprocess.run(["openssl", "verify", "-CAfile", params["chain_path"], "-purpose", "sslclient",
                             params["path"]], capture_output=True, text=True, check=False, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # The certificate matches the key that stayed with the CSR.
    pub_cert = subprocess.run(["openssl", "x509", "-in", params["path"], "-noout", "-pubkey"], capture_output=True,
                              text=True, check=True, timeout=60).stdout
    pub_key = subprocess.run(["openssl", "pkey", "-in", key_file, "-pubout"], capture_output=True, text=True,
                             check=True, timeout=60).stdout
    assert pub_cert == pub_key

    # Kept on the next run; another CSR (another key) is signed anew.
    again = issue(state, params, write=False)
    assert not again.changed and again.reasons == []
    other, _key = make_csr(tmp_path, name="ipo-linux1-new")
    renewed = issue(state, dict(params, csr_path=other), write=False)
    assert renewed.changed and "it certifies another key than the CSR's" in renewed.reasons


def test_given_names_override_the_csr_and_ec_keys_are_accepted(tmp_path, state):
    csr, _key = make_csr(tmp_path, key="ec:prime256v1", subject="/CN=whatever", sans=None)
    params = csr_params(tmp_path, csr, subject_name="sip.example.com",
                        subject_alt_names=["DNS:sip.example.com", "URI:sip:example.com"], valid_days=365)
    plan = issue(state, params)
    assert plan.cert.subject.rfc4514_string() == "CN=sip.example.com"
    assert _certs.subject_alt_names(plan.cert) == ["DNS:sip.example.com", "URI:sip:example.com"]
    assert identity.validity_days(plan.cert) == 365
    with open(csr) as handle:
        content = handle.read()
    by_content = issue(state, dict(params, csr_path=None, csr_content=content), write=False)
    assert not by_content.changed


def test_bad_csrs_have_codes(tmp_path, state):
    garbage = tmp_path / "garbage.csr"
    garbage.write_bytes(b"this is not a certificate signing request\n")
    with pytest.raises(SecurityError) as info:
        issued.issued_request(csr_params(tmp_path, str(garbage)))
    assert info.value.code == "invalid_csr" and info.value.option == "csr_path"

    csr, _key = make_csr(tmp_path)
    der = _certs.load_csr(open(csr, "rb").read()).public_bytes(_certs.serialization.Encoding.DER)
    tampered = bytearray(der)
    tampered[-5] ^= 0xFF  # inside the signature value
    bad_signature = tmp_path / "tampered.der"
    bad_signature.write_bytes(bytes(tampered))
    with pytest.raises(SecurityError) as info:
        issued.issued_request(csr_params(tmp_path, str(bad_signature)))
    assert info.value.code == "csr_signature_invalid" and "csr_path" in info.value.message

    weak, _key = make_csr(tmp_path, name="weak", key="rsa:1024")
    with pytest.raises(SecurityError) as info:
        issued.issued_request(csr_params(tmp_path, weak))
    assert info.value.code == "csr_weak_key" and "1024" in info.value.message

    refused = (({"format": "pkcs12"}, "format"), ({"private_key_path": str(tmp_path / "k")}, "private_key_path"),
               ({"password": "x"}, "password"), ({"signature": "sha256_rsa2048"}, "signature"))
    for extra, option in refused:
        with pytest.raises(SecurityError) as info:
            issued.issued_request(csr_params(tmp_path, csr, **extra))
        assert info.value.code == "option_not_applicable" and info.value.option == option
    with pytest.raises(SecurityError) as info:
        issued.issued_request(csr_params(tmp_path, csr, csr_content=open(csr).read()))
    assert info.value.code == "conflicting_options"
    with pytest.raises(SecurityError) as info:
        issued.issued_request(csr_params(tmp_path, csr, valid_days=826))
    assert info.value.code == "out_of_range" and "825" in info.value.message


def test_run_with_a_csr_reports_it_and_records_it_once(tmp_path):
    csr, _key = make_csr(tmp_path)
    store = DirectoryStore(path=str(tmp_path / "store"), system_name=NAME, system_addresses=ADDRESSES)
    store.update(lambda s: None)
    digest = helpers.tree_digest(store.path)
    params = csr_params(tmp_path, csr)
    predicted = issued.run(store, params, check_mode=True, want_diff=True)
    assert predicted["changed"] and not os.path.exists(params["path"])
    assert helpers.tree_digest(store.path) == digest  # check mode wrote nothing
    result = issued.run(store, params)
    assert result["changed"] and result["csr"]["subject"] == "CN=ipo-linux1.example.com"
    assert result["csr"]["key_type"] == "RSA" and result["csr"]["key_bits"] == 2048
    assert result["files"]["private_key_path"] is None
    # The store records what its CA issued (one new generation); a rerun neither issues nor records again.
    recorded = helpers.tree_digest(store.path)
    assert recorded != digest
    assert [i["sha256"] for i in store.read().issued_certificates] == [result["certificate"]["sha256"]]
    assert issued.run(store, params)["changed"] is False
    assert helpers.tree_digest(store.path) == recorded
