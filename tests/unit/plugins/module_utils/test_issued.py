"""'For Different Machine': issued certificates written as PKCS#12 or PEM, idempotent on the files."""

import datetime
import os
import stat
import subprocess

import pytest

import helpers
from test_identity_fixtures import ADDRESSES, NAME, make_ca, now

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils import _identity as identity
from ansible_collections.ipoffice.security.plugins.module_utils import _issued as issued
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, initial_state


@pytest.fixture(scope="module")
def state():
    return initial_state("server", NAME, ADDRESSES)


def p12_params(tmp_path, **extra):
    params = {"subject_name": "sbc1.example.com", "subject_alt_names": ["DNS:sbc1.example.com", "IP:192.0.2.20"],
              "path": str(tmp_path / "sbc1.p12"), "password": "p12-secret"}
    params.update(extra)
    return params


def pem_params(tmp_path, **extra):
    params = {"subject_name": "web.example.com", "format": "pem", "path": str(tmp_path / "web.crt"),
              "private_key_path": str(tmp_path / "web.key"), "chain_path": str(tmp_path / "web-chain.pem")}
    params.update(extra)
    return params


def issue(state, params, at=None, write=True):
    plan = issued.plan_issued(state, issued.issued_request(params), at)
    if write:
        issued.write_issued(plan)
    return plan


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_pkcs12_is_written_0600_readable_by_openssl_and_then_kept(tmp_path, state):
    params = p12_params(tmp_path)
    first = issue(state, params)
    assert first.changed and first.reasons == ["the output files do not all exist yet"]
    path = params["path"]
    assert mode(path) == 0o600
    cert = first.cert
    assert _certs.is_issued_by(cert, state.ca.cert) and not _certs.is_ca(cert)
    assert _certs.subject_alt_names(cert) == ["DNS:sbc1.example.com", "IP:192.0.2.20"]
    assert identity.validity_days(cert) == 825  # the default and the maximum
    helpers.need_tool("openssl")
    out = subprocess.run(["openssl", "pkcs12", "-in", path, "-passin", "pass:p12-secret", "-nokeys"],
                         capture_output=True, text=True, check=True).stdout
    assert out.count("BEGIN CERTIFICATE") == 2 and "sbc1.example.com" in out
    with open(path, "rb") as handle:
        before = handle.read()
    second = issue(state, params)
    assert not second.changed and second.reasons == [] and second.cert == cert
    with open(path, "rb") as handle:
        assert handle.read() == before
    # the names compare as a set
    assert not issue(state, p12_params(tmp_path, subject_alt_names=["IP:192.0.2.20", "DNS:SBC1.example.com"])).changed


def test_pem_files_verify_with_openssl(tmp_path, state):
    params = pem_params(tmp_path, password="key-secret", signature="sha256_ecdsa_p256", valid_days=365)
    plan = issue(state, params)
    assert plan.changed
    for name in ("path", "private_key_path", "chain_path"):
        assert mode(params[name]) == 0o600
    with open(params["private_key_path"], "rb") as handle:
        assert b"ENCRYPTED PRIVATE KEY" in handle.read()
    helpers.need_tool("openssl")
    verify = subprocess.run(["openssl", "verify", "-CAfile", params["chain_path"], params["path"]],
                            capture_output=True, check=False, text=True)
    assert verify.returncode == 0 and "OK" in verify.stdout
    key = subprocess.run(["openssl", "pkey", "-in", params["private_key_path"], "-passin", "pass:key-secret",
                          "-pubout"], capture_output=True, text=True, check=True).stdout
    cert_key = subprocess.run(["openssl", "x509", "-in", params["path"], "-noout", "-pubkey"],
                              capture_output=True, text=True, check=True).stdout
    assert key == cert_key
    assert not issue(state, params).changed


@pytest.mark.parametrize("change,reason", [
    ({"subject_name": "sbc2.example.com"}, "subject"),
    ({"subject_alt_names": ["DNS:sbc1.example.com"]}, "subject alternative names"),
    ({"signature": "sha256_rsa3072"}, "key is RSA 2048"),
    ({"signature": "sha384_rsa3072"}, "key is RSA 2048"),
    ({"valid_days": 400}, "validity is 825 days"),
    ({"password": "another"}, "cannot be used"),
])
def test_a_changed_request_replaces_the_files(tmp_path, state, change, reason):
    issue(state, p12_params(tmp_path))
    plan = issue(state, p12_params(tmp_path, **change), write=False)
    assert plan.changed and any(reason in r for r in plan.reasons), plan.reasons
    issued.write_issued(plan)
    assert not issue(state, p12_params(tmp_path, **change)).changed


def test_renewal_window_and_time_outside_it(tmp_path, state):
    params = p12_params(tmp_path, valid_days=100)
    issue(state, params)
    assert not issue(state, params, at=now() + datetime.timedelta(days=30)).changed
    plan = issue(state, params, at=now() + datetime.timedelta(days=50), write=False)  # 50 days left < 60
    assert plan.changed and any("renew_before_days" in r for r in plan.reasons)
    assert not issue(state, dict(params, renew_before_days=30), at=now() + datetime.timedelta(days=50)).changed


def test_a_new_internal_ca_reissues(tmp_path):
    state = initial_state("server", NAME, ADDRESSES)
    params = pem_params(tmp_path)
    issue(state, params)
    ca_cert, ca_key = make_ca("CN=New Root")
    state.ca = Credential(ca_cert, ca_key, {"source": "initial"})
    plan = issue(state, params, write=False)
    assert any("internal CA" in r for r in plan.reasons) and any("chain" in r for r in plan.reasons)


def test_tampered_outputs_are_replaced_and_modes_corrected(tmp_path, state):
    params = pem_params(tmp_path)
    issue(state, params)
    other = _certs.generate_private_key()
    with open(params["private_key_path"], "wb") as handle:
        handle.write(_certs.key_pem(other))
    plan = issue(state, params)
    assert any("does not match" in r for r in plan.reasons)
    os.chmod(params["chain_path"], 0o644)
    plan = issue(state, params, write=False)
    assert plan.changed and plan.files == {} and plan.modes == [params["chain_path"]]
    issued.write_issued(plan)
    assert mode(params["chain_path"]) == 0o600 and not issue(state, params).changed
    os.unlink(params["chain_path"])
    assert issue(state, params).reasons == ["the output files do not all exist yet"]


@pytest.mark.parametrize("params,code,option", [
    ({"valid_days": 826}, "out_of_range", "valid_days"),
    ({"valid_days": 0}, "out_of_range", "valid_days"),
    ({"password": None}, "password_required", "password"),
    ({"private_key_path": "/tmp/x.key"}, "option_not_applicable", "private_key_path"),
    ({"format": "jks"}, "invalid_choice", "format"),
    ({"subject_name": ""}, "invalid_name", "subject_name"),
    ({"subject_alt_names": ["DNS:*.example.com"]}, "invalid_san", "subject_alt_names"),
    ({"signature": "sha512_rsa8192"}, "invalid_choice", "signature"),
    ({"renew_before_days": -5}, "out_of_range", "renew_before_days"),
])
def test_bad_requests(tmp_path, params, code, option):
    with pytest.raises(SecurityError) as info:
        issued.issued_request(p12_params(tmp_path, **params))
    assert info.value.code == code and info.value.option == option
    assert not os.path.exists(str(tmp_path / "sbc1.p12"))


def test_more_than_825_days_names_the_limit(tmp_path):
    with pytest.raises(SecurityError) as info:
        issued.issued_request(p12_params(tmp_path, valid_days=1000))
    assert "825" in info.value.message and "'valid_days'" in info.value.message


def test_pem_needs_a_key_path_and_distinct_files(tmp_path):
    with pytest.raises(SecurityError) as info:
        issued.issued_request(pem_params(tmp_path, private_key_path=None))
    assert info.value.code == "missing_option" and info.value.option == "private_key_path"
    with pytest.raises(SecurityError) as info:
        issued.issued_request(pem_params(tmp_path, chain_path=str(tmp_path / "web.crt")))
    assert info.value.code == "conflicting_options"


def test_ip500v2_has_no_ca_to_issue_with(tmp_path):
    ip500 = initial_state("ip500v2", NAME, ADDRESSES)
    with pytest.raises(SecurityError) as info:
        issue(ip500, p12_params(tmp_path))
    assert info.value.code == "no_internal_ca" and "ip500v2" in info.value.message
    assert os.listdir(str(tmp_path)) == []


def test_outputs_that_are_not_regular_files_are_never_replaced(tmp_path, state):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"precious")
    os.symlink(str(target), str(tmp_path / "sbc1.p12"))
    with pytest.raises(SecurityError) as info:
        issue(state, p12_params(tmp_path))
    assert info.value.code == "invalid_output_path" and info.value.option == "path"
    assert target.read_bytes() == b"precious"
    with pytest.raises(SecurityError) as info:
        issue(state, p12_params(tmp_path, path=str(tmp_path / "missing-dir" / "x.p12")))
    assert info.value.code == "invalid_output_path"


def test_validity_must_fit_in_the_ca(tmp_path):
    state = initial_state("server", NAME, ADDRESSES)
    ca_cert, ca_key = make_ca(days=300)
    state.ca = Credential(ca_cert, ca_key, {"source": "initial"})
    with pytest.raises(SecurityError) as info:
        issue(state, p12_params(tmp_path, valid_days=400))
    assert info.value.code == "validity_exceeds_ca"
    assert not os.path.exists(str(tmp_path / "sbc1.p12"))


def test_plan_without_write_touches_nothing(tmp_path, state):
    plan = issue(state, pem_params(tmp_path), write=False)
    assert plan.changed and sorted(os.listdir(str(tmp_path))) == []
    view = issued.issued_view(plan.cert, plan.chain)
    assert view["common_name"] == "web.example.com" and view["chain"][0]["is_ca"]
    assert "PRIVATE KEY" not in repr(view)


@pytest.mark.parametrize("swap", ["symlink", "fifo"])
def test_mode_fix_never_follows_a_link_swapped_in_after_planning(tmp_path, state, swap):
    params = pem_params(tmp_path)
    issue(state, params)
    os.chmod(params["chain_path"], 0o644)
    plan = issue(state, params, write=False)
    assert plan.modes == [params["chain_path"]]
    victim = tmp_path / "victim"
    victim.write_text("someone else's file\n")
    os.chmod(str(victim), 0o644)
    # the race, made deterministic: the planned file is replaced before the mode is fixed
    os.unlink(params["chain_path"])
    if swap == "symlink":
        os.symlink(str(victim), params["chain_path"])
    else:
        os.mkfifo(params["chain_path"], 0o644)
    with pytest.raises(SecurityError) as err:
        issued.write_issued(plan)
    assert err.value.code == "invalid_output_path" and err.value.option == "chain_path"
    assert params["chain_path"] in err.value.message and "'chain_path'" in err.value.message
    assert stat.S_IMODE(os.lstat(str(victim)).st_mode) == 0o644
    assert stat.S_IMODE(os.lstat(params["chain_path"]).st_mode) in (0o644, 0o777)
