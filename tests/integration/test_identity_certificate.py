"""identity_certificate through real ansible-playbook runs: the module contract for every source and option.

Each scenario is one playbook: initialise the store, then check mode (with diff), the real run (with
diff), check mode again and the real run again, with the store's `current` link read between them to
prove check mode writes nothing.
"""

import json
import os
import sys

import pytest

import helpers

sys.path.insert(0, os.path.join(helpers.REPO, "tests", "unit", "plugins", "module_utils"))
from test_identity_fixtures import key_pem, make_ca, make_leaf, openssl_pkcs12, pem, write  # noqa: E402

# Module results: each test runs twice, in the controller's worker and as a module (tests/conftest.py).
pytestmark = pytest.mark.both_paths

MODULE = "ipoffice.security.identity_certificate"
CERT_FIELDS = {"subject", "common_name", "issuer", "serial_number", "not_before", "not_after", "days_left",
               "expired", "subject_alt_names", "key_type", "key_bits", "signature_algorithm", "is_ca",
               "self_signed", "sha256", "source", "request", "chain", "offered_chain", "key_curve"}


def store_args(tmp_path, platform="server"):
    return {"store_path": str(tmp_path / "store"), "platform": platform, "system_name": "ipo1.example.com",
            "system_addresses": ["192.0.2.10"]}


def contract(tmp_path, args, platform="server", repeat_changes=False):
    """Run the scenario; assert the contract; return (first check, first real, second check, second real)."""
    base = store_args(tmp_path, platform)
    link = {"ansible.builtin.stat": {"path": base["store_path"] + "/current"}}
    task_args = dict(base, **args)
    tasks = [{"ipoffice.security.certificate_checks": base}, link,  # initialise the store
             {MODULE: task_args, "check_mode": True, "diff": True}, link,
             {MODULE: task_args, "diff": True}, link,
             {MODULE: task_args, "check_mode": True, "diff": True},
             {MODULE: task_args}, link]
    run = helpers.run_tasks(tasks, tmp_path)
    r = run.results
    for result in r[2:5:2] + r[6:8]:
        assert not result.get("failed"), result
    generation = [r[i]["stat"]["lnk_target"] for i in (1, 3, 5, 8)]
    check1, real1, check2, real2 = r[2], r[4], r[6], r[7]
    assert check1["changed"] is True and real1["changed"] is True
    assert generation[0] == generation[1], "check mode wrote a generation"
    assert generation[2] != generation[1], "the real run wrote nothing"
    if repeat_changes:
        assert check2["changed"] is True and real2["changed"] is True and generation[3] != generation[2]
    else:
        assert check2["changed"] is False and real2["changed"] is False and generation[3] == generation[2]
        assert check2["diff"]["before"] == check2["diff"]["after"]
    # Diffs and results carry parsed fields only, never a key.
    text = json.dumps(r) + run.stdout + run.stderr
    assert "PRIVATE KEY" not in text and "BEGIN" not in text
    for result in (check1, real1):
        for side in ("before", "after"):
            certificate = result["diff"][side]["certificate"]
            if side == "before" and args.get("purpose") == "telephony":
                assert certificate is None  # the first telephony identity: there was none before
            else:
                assert set(certificate) <= CERT_FIELDS and certificate["sha256"], certificate
            assert set(result["diff"][side]) == {"certificate", "settings", "trusted_store"}
    return check1, real1, check2, real2


def test_generate_with_names_and_the_legacy_signature_warns(tmp_path):
    args = {"source": "generate", "subject_name": "ipo1.example.com", "signature": "sha1_rsa1024",
            "subject_alt_names": ["DNS:ipo1.example.com", "IP:192.0.2.10", "URI:sip:example.com"],
            "valid_days": 365}
    check1, real1, _check2, real2 = contract(tmp_path, args)
    certificate = real1["certificate"]
    assert certificate["self_signed"] and certificate["key_bits"] == 1024
    assert certificate["signature_algorithm"] == "sha1WithRSAEncryption"
    assert certificate["subject_alt_names"] == ["DNS:ipo1.example.com", "IP:192.0.2.10", "URI:sip:example.com"]
    assert real1["action"] == "created" and real2["action"] == "kept"
    assert any("sha1_rsa1024" in w for w in real1["warnings"])
    assert check1["diff"]["before"]["certificate"]["source"] == "initial"
    assert check1["diff"]["after"]["certificate"]["source"] == "generate"
    assert real2["certificate"]["sha256"] == certificate["sha256"]


def test_ca_issued_ecdsa_with_a_renewal_window(tmp_path):
    args = {"source": "ca", "signature": "sha256_ecdsa_p256", "valid_days": 397, "renew_before_days": 30}
    _c1, real1, _c2, real2 = contract(tmp_path, args)
    certificate = real1["certificate"]
    assert certificate["key_type"] == "EC" and certificate["issuer"].startswith("CN=IP Office Root CA")
    assert [c["is_ca"] for c in real1["chain"]] == [True]
    assert len(certificate["offered_chain"]) == 2
    assert real1["files"]["fullchain"].endswith("/current/identity/fullchain.pem")


def test_import_of_an_openssl_pkcs12_adds_its_cas(tmp_path):
    root = make_ca("CN=Import Root CA")
    leaf, key = make_leaf(root, name="ipo1.example.com")
    p12 = openssl_pkcs12(tmp_path, leaf, key, chain=[root[0]], password="Pkcs12-Secret-9", legacy=True)
    args = {"source": "import", "certificate_path": p12, "password": "Pkcs12-Secret-9"}
    check1, real1, _c2, real2 = contract(tmp_path, args)
    assert real1["action"] == "imported" and real1["certificate"]["common_name"] == "ipo1.example.com"
    assert [c["subject"] for c in real1["added_to_trusted_store"]] == ["CN=Import Root CA"]
    assert [c["subject"] for c in check1["added_to_trusted_store"]] == ["CN=Import Root CA"]
    assert real2["added_to_trusted_store"] == []
    assert len(real1["diff"]["after"]["trusted_store"]) == len(real1["diff"]["before"]["trusted_store"]) + 1
    assert "Pkcs12-Secret-9" not in json.dumps([check1, real1, real2])
    assert helpers.store_secret_leaks(store_args(tmp_path)["store_path"], ["Pkcs12-Secret-9"]) == []


def test_import_of_pem_certificate_and_encrypted_key(tmp_path):
    leaf, key = make_leaf(name="ipo1.example.com")
    args = {"source": "import", "certificate_path": write(tmp_path / "c.pem", pem(leaf)),
            "private_key_content": key_pem(key, "k").decode(), "private_key_password": "k"}
    _c1, real1, _c2, _r2 = contract(tmp_path, args)
    assert real1["certificate"]["self_signed"] and real1["certificate"]["source"] == "import"


def test_telephony_identity(tmp_path):
    args = {"purpose": "telephony", "source": "generate", "subject_name": "sip.example.com",
            "subject_alt_names": ["DNS:sip.example.com", "URI:sip:example.com"]}
    check1, real1, _c2, _r2 = contract(tmp_path, args)
    assert check1["diff"]["before"]["certificate"] is None
    assert real1["certificate"]["common_name"] == "sip.example.com"
    assert real1["files"]["cert"].endswith("/current/telephony/cert.pem")
    assert os.path.exists(real1["files"]["fullchain"])
    assert any("sip_telephony_certificate" in w for w in real1["warnings"])


def test_offer_id_certificate_chain_off(tmp_path):
    _c1, real1, _c2, _r2 = contract(tmp_path, {"offer_id_certificate_chain": False})
    assert real1["settings"]["offer_id_certificate_chain"] is False
    assert real1["action"] is None and len(real1["certificate"]["offered_chain"]) == 1
    with open(real1["files"]["fullchain"]) as handle:
        assert handle.read().count("BEGIN CERTIFICATE") == 1


def test_automatic_management_settings(tmp_path):
    args = {"automatic_certificate_management": True, "san_details_origin": "DNS:branch.example.com",
            "automatic_phone_provisioning": False}
    check1, real1, _c2, _r2 = contract(tmp_path, args)
    assert check1["diff"]["after"]["settings"] == {"offer_id_certificate_chain": True,
                                                   "automatic_certificate_management": True,
                                                   "san_details_origin": "DNS:branch.example.com",
                                                   "automatic_phone_provisioning": False}
    assert not real1.get("warnings")


def test_regenerate_always_changes_every_run(tmp_path):
    contract(tmp_path, {"source": "generate", "regenerate": "always"}, repeat_changes=True)


def test_generate_on_ip500v2(tmp_path):
    _c1, real1, _c2, _r2 = contract(tmp_path, {"source": "generate", "regenerate": "partial_idempotence"},
                                    platform="ip500v2")
    assert real1["certificate"]["self_signed"] and real1["chain"] == []


FAILURES = [
    ("ip500v2", {"source": "ca"}, "no_internal_ca", "source"),
    ("server", {"source": "import", "certificate_content": "garbage!"}, "invalid_certificate", "certificate_content"),
    ("server", {"source": "generate", "valid_days": 30}, "renewal_window_too_large", "renew_before_days"),
    ("server", {"source": "generate", "subject_name": "new.example.com"}, "automatic_management_on",
     "automatic_certificate_management"),
]


def test_failures_report_a_code_and_leave_the_store_as_it_was(tmp_path):
    server = store_args(tmp_path)
    ip500 = dict(store_args(tmp_path, "ip500v2"), store_path=str(tmp_path / "ip500"))
    stores = {"server": server, "ip500v2": ip500}
    helpers.run_tasks([{"ipoffice.security.certificate_checks": ip500},
                       {MODULE: dict(server, automatic_certificate_management=True)}], tmp_path)
    digests = dict((name, helpers.tree_digest(args["store_path"])) for name, args in stores.items())
    tasks = [{MODULE: dict(stores[platform], **args)} for platform, args, _code, _option in FAILURES]
    run = helpers.run_tasks(tasks, tmp_path)
    for result, (_platform, _args, code, option) in zip(run.results, FAILURES):
        assert result["failed"] and result["error"] == code and result["option"] == option, result
        assert option in result["msg"]
    assert dict((name, helpers.tree_digest(args["store_path"])) for name, args in stores.items()) == digests
