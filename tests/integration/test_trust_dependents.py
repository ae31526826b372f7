"""Trust dependents and generations through real ansible-playbook runs.

The walkthrough of issue 12: a system checks telephony endpoints at high_remote with the SBC's
certificate pinned; that certificate chains to the old root; removing the old root must fail with
trusted_entry_in_use naming the peer (store byte-identical), and pass with allow_in_use, warning.
Then the change is undone with ipoffice.security.generation (check mode, real, undo of the undo).
"""


import pytest

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs

STORE_ARGS = {"system_name": "ipo1.example.com", "system_addresses": ["192.0.2.10"]}
EC = "sha256_ecdsa_p256"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    old_key = _certs.generate_private_key(EC)
    old_root = _certs.build_certificate("CN=Corp Root 2015,O=Example", old_key, 3650, EC, ca=True)
    sbc_key = _certs.generate_private_key(EC)
    sbc = _certs.build_certificate("sbc.example.com", sbc_key, 365, EC, subject_alt_names=["DNS:sbc.example.com"],
                                   issuer_cert=old_root, issuer_key=old_key)
    paths = {}
    for name, cert in (("old_root", old_root), ("sbc", sbc)):
        paths[name] = str(root / (name + ".pem"))
        with open(paths[name], "wb") as handle:
            handle.write(_certs.cert_pem(cert))
        paths[name + "_sha256"] = _certs.fingerprint(cert)
    return paths


def test_pinned_peer_blocks_the_old_root_removal_until_allowed_then_restore(pki, tmp_path):
    store = str(tmp_path / "store")
    base = dict(STORE_ARGS, store_path=store)
    setup = helpers.run_tasks([
        {"ipoffice.security.trusted_certificate": dict(
            base, certificates=[{"path": pki["old_root"]}, {"path": pki["sbc"]}])},
        {"ipoffice.security.certificate_checks": dict(base, telephony_endpoints="high_remote")},
        {"ipoffice.security.security_info": base},
    ], tmp_path)
    assert [r.get("failed", False) for r in setup.results] == [False, False, False], setup
    info = setup.results[2]
    by_fp = dict((entry["sha256"], entry["dependents"]) for entry in info["trusted"])
    assert [(d["kind"], d["sha256"]) for d in by_fp[pki["old_root_sha256"]]] == [("pinned_peer", pki["sbc_sha256"])]
    assert by_fp[pki["old_root_sha256"]][0]["settings"] == ["telephony_endpoints (high_remote)"]
    assert by_fp[pki["sbc_sha256"]] == []  # a pinned certificate is never its own dependent

    digest = helpers.tree_digest(store)
    remove = {"ipoffice.security.trusted_certificate": dict(
        base, state="absent", certificates=[{"path": pki["old_root"]}])}
    refused = helpers.run_tasks([dict(remove, check_mode=True), remove], tmp_path)
    for result in refused.results:
        assert result["failed"] is True and result["error"] == "trusted_entry_in_use", result
        assert "sbc.example.com" in result["msg"] and pki["sbc_sha256"] in result["msg"]
        assert "allow_in_use: true" in result["msg"] and result["option"] == "allow_in_use"
        assert result["in_use"][0]["dependents"][0]["kind"] == "pinned_peer"
    assert helpers.tree_digest(store) == digest

    allowed = dict(remove)
    allowed["ipoffice.security.trusted_certificate"] = dict(remove["ipoffice.security.trusted_certificate"],
                                                            allow_in_use=True)
    allowed["vars"] = {"ansible_target_log_info": "rotate: drop the 2015 root"}
    passed = helpers.run_tasks([dict(allowed, check_mode=True), allowed], tmp_path)
    check, real = passed.results
    assert check["changed"] is True and real["changed"] is True and not real.get("failed")
    [warning] = real["warnings"]
    assert warning.startswith("ipo1.example.com: removed trusted certificate CN=Corp Root 2015")
    assert "sbc.example.com" in warning and "allow_in_use: true" in warning
    shown = passed.stdout + passed.stderr
    assert "[WARNING]: ipo1.example.com: removed trusted certificate CN=Corp Root 2015" in " ".join(shown.split())

    # undo it: restore previous in check mode (exact diff, nothing written), for real, then undo the undo
    digest = helpers.tree_digest(store)
    gen = {"ipoffice.security.generation": dict(base, restore="previous")}
    undo = helpers.run_tasks([dict(gen, check_mode=True, diff=True)], tmp_path, diff=True)
    [predicted] = undo.results
    assert predicted["changed"] is True and predicted["restored"]["generation"] == 2
    before_fps = [t["sha256"] for t in predicted["diff"]["before"]["trusted"]]
    after_fps = [t["sha256"] for t in predicted["diff"]["after"]["trusted"]]
    assert sorted(set(after_fps) - set(before_fps)) == [pki["old_root_sha256"]]
    assert set(before_fps) <= set(after_fps)
    assert helpers.tree_digest(store) == digest
    real_runs = helpers.run_tasks([
        {"ipoffice.security.generation": dict(base, restore="previous"), "diff": True},
        {"ipoffice.security.generation": base},
        {"ipoffice.security.generation": dict(base, restore="previous")},
        {"ipoffice.security.security_info": base},
    ], tmp_path)
    restored, listed, undone, info = real_runs.results
    assert restored["changed"] and restored["current"] == 4 and restored["restored"]["written_as"] == 4
    assert restored["diff"] == predicted["diff"]
    assert listed["changed"] is False and listed["current"] == 4
    records = dict((g["generation"], g["made_by"]) for g in listed["generations"])
    assert records[1]["summary"].startswith("initialised the store") and records[1]["note"] is None
    assert records[2]["summary"] == "checks.telephony_endpoints none -> high_remote"
    assert records[3]["module"] == "ipoffice.security.trusted_certificate"
    assert records[3]["note"] == "rotate: drop the 2015 root"
    assert records[3]["summary"] == "trusted -Corp Root 2015"
    assert records[4]["module"] == "ipoffice.security.generation"
    assert records[4]["summary"] == "restored generation 2; trusted +Corp Root 2015"
    assert undone["changed"] and undone["restored"]["generation"] == 3 and undone["current"] == 5
    assert pki["old_root_sha256"] not in [t["sha256"] for t in info["trusted"]]
    assert [g["made_by"]["summary"] for g in info["generations"]][:2] == [
        "restored generation 3; trusted -Corp Root 2015", "restored generation 2; trusted +Corp Root 2015"]


def test_generation_module_bad_target_and_keep_generations(tmp_path):
    store = str(tmp_path / "store")
    base = dict(STORE_ARGS, store_path=store)
    run = helpers.run_tasks([
        {"ipoffice.security.generation": dict(base, restore="previous")},        # no store yet: refused
        {"ipoffice.security.generation": dict(base, restore="4")},               # nor any number
        {"ipoffice.security.generation": base},                                  # lists nothing, creates nothing
        {"ipoffice.security.generation": dict(base, keep_generations=3), "check_mode": True},
        {"ipoffice.security.generation": dict(base, keep_generations=3)},        # initialises (generation 1)
        {"ipoffice.security.generation": dict(base, restore="previous")},        # nothing before generation 1
        {"ipoffice.security.generation": dict(base, restore="9")},
        {"ipoffice.security.generation": dict(base, keep_generations=1)},
        {"ipoffice.security.generation": dict(base, keep_generations=3)},
    ], tmp_path)
    (empty, empty_number, listed, keep_check, keep, nothing_before, unknown, too_few, keep_again) = run.results
    assert empty["failed"] and empty["error"] == "no_previous_generation" and empty["option"] == "restore"
    assert empty_number["error"] == "unknown_generation" and "are none" in empty_number["msg"]
    assert listed["changed"] is False and listed["initialised"] is False and listed["generations"] == []
    assert keep_check["changed"] is True and keep_check["current"] is None and keep_check["keep_generations"] == 3
    assert keep["changed"] is True and keep["current"] == 1 and keep["keep_generations"] == 3
    assert nothing_before["error"] == "no_previous_generation"
    assert unknown["error"] == "unknown_generation" and "kept generations are 1" in unknown["msg"]
    assert too_few["error"] == "out_of_range" and too_few["option"] == "keep_generations"
    assert keep_again["changed"] is False
