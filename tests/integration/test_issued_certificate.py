"""issued_certificate through real ansible-playbook runs: files, idempotence, check mode, diff, failures."""

import json
import os
import stat

import pytest

import helpers

# Module results: each test runs twice, in the controller's worker and as a module (tests/conftest.py).
pytestmark = pytest.mark.both_paths

MODULE = "ipoffice.security.issued_certificate"


def base(tmp_path, platform="server", name="store"):
    return {"store_path": str(tmp_path / name), "platform": platform, "system_name": "ipo1.example.com",
            "system_addresses": ["192.0.2.10"]}


def test_pkcs12_and_pem_outputs_follow_the_contract(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    p12 = dict(base(tmp_path), subject_name="sbc1.example.com", path=str(out / "sbc1.p12"),
               password="Issued-P12-Secret", subject_alt_names=["DNS:sbc1.example.com", "IP:192.0.2.20"])
    pem = dict(base(tmp_path), subject_name="web.example.com", format="pem", valid_days=365,
               path=str(out / "web.crt"), private_key_path=str(out / "web.key"), chain_path=str(out / "chain.pem"))
    listing = {"ansible.builtin.find": {"paths": str(out), "hidden": True}}
    tasks = [{"ipoffice.security.certificate_checks": base(tmp_path)}]  # initialise the store
    for args in (p12, pem):
        tasks += [{MODULE: args, "check_mode": True, "diff": True}, listing,
                  {MODULE: args, "diff": True},
                  {MODULE: args, "check_mode": True, "diff": True}, {MODULE: args}]
    tasks.append(listing)
    run = helpers.run_tasks(tasks, tmp_path)
    r = run.results
    for offset, files_before in ((1, 0), (6, 1)):
        check1, listed, real1, check2, real2 = r[offset:offset + 5]
        assert check1["changed"] and real1["changed"], (check1, real1)
        assert listed["matched"] == files_before, "check mode wrote a file"
        assert not check2["changed"] and not real2["changed"]
        assert check1["diff"]["before"] == {} and check1["diff"]["after"]["is_ca"] is False
        assert real1["diff"]["after"]["sha256"] == real2["certificate"]["sha256"] == check2["certificate"]["sha256"]
        assert real1["certificate"]["chain"][0]["is_ca"]
    assert r[3]["certificate"]["subject_alt_names"] == ["DNS:sbc1.example.com", "IP:192.0.2.20"]
    assert r[8]["certificate"]["days_left"] in (364, 365)
    assert sorted(os.path.basename(f["path"]) for f in r[-1]["files"]) == ["chain.pem", "sbc1.p12", "web.crt",
                                                                           "web.key"]
    for name in ("sbc1.p12", "web.crt", "web.key", "chain.pem"):
        assert stat.S_IMODE(os.stat(str(out / name)).st_mode) == 0o600
    text = json.dumps(r) + run.stdout
    assert "PRIVATE KEY" not in text and "Issued-P12-Secret" not in text
    assert helpers.store_secret_leaks(base(tmp_path)["store_path"], ["Issued-P12-Secret"]) == []


def test_failures_report_a_code_and_write_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    ip500 = base(tmp_path, "ip500v2", "ip500")
    helpers.run_module("certificate_checks", ip500, tmp_path)
    digest = helpers.tree_digest(ip500["store_path"])
    cases = [
        (dict(base(tmp_path), subject_name="a.example.com", path=str(out / "a.p12"), password="x", valid_days=900),
         "out_of_range", "valid_days"),
        (dict(ip500, subject_name="a.example.com", path=str(out / "a.p12"), password="x"), "no_internal_ca",
         "platform"),
        (dict(base(tmp_path), subject_name="a.example.com", path=str(out / "a.p12")), "password_required",
         "password"),
    ]
    run = helpers.run_tasks([{MODULE: args} for args, _code, _option in cases], tmp_path)
    for result, (_args, code, option) in zip(run.results, cases):
        assert result["failed"] and result["error"] == code and result["option"] == option, result
    assert os.listdir(str(out)) == []
    assert helpers.tree_digest(ip500["store_path"]) == digest
    assert "825" in run.results[0]["msg"]
