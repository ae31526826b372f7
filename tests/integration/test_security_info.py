"""security_info through real `ansible-playbook` runs against local DirectoryStores."""

import json
import os

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, DirectoryStore

NAME = "ipo1.example.com"
SCEP_PASSWORD = "Sc3p-Challenge-7f1e9a"


def base_args(path, **extra):
    args = {"store_path": str(path), "system_name": NAME, "system_addresses": ["192.0.2.10"]}
    args.update(extra)
    return args


def test_fresh_store_check_mode_idempotence_and_query(tmp_path):
    store = tmp_path / "store"
    small = tmp_path / "ip500"

    # check mode on a new system: predicts the initialisation, writes nothing
    check = helpers.run_module("security_info", base_args(store), tmp_path, check=True)
    assert check["changed"] is True and check["generation"] == 0
    assert check["issued_to"] == NAME
    assert not os.path.lexists(str(store))

    run = helpers.run_tasks([
        {"ipoffice.security.security_info": base_args(store)},
        {"ipoffice.security.security_info": base_args(store)},
        {"ipoffice.security.security_info": base_args(store, query="identity.subject_alt_names")},
        {"ipoffice.security.security_info": base_args(store, query="trusted[?is_ca].sha256 | [0]")},
        {"ipoffice.security.security_info": base_args(store, query="identity[?")},
        {"ipoffice.security.security_info": base_args(small, platform="ip500v2")},
        # the action group lets a play set the store once
        {"ipoffice.security.security_info": {"query": "generation"},
         "module_defaults": {"group/ipoffice.security.all": base_args(store)}},
    ], tmp_path)
    first, second, sans, ca_query, bad, ip500, grouped = run.results

    assert first["changed"] is True and first["generation"] == 1
    assert first["platform"] == "server" and first["system_name"] == NAME
    assert first["offer_certificate"] is True
    assert first["issued_to"] == NAME and first["identity"]["common_name"] == NAME
    assert first["identity"]["source"] == "initial"
    assert first["identity"]["issuer"] == first["ca"]["subject"]
    assert first["identity"]["offered_chain"] == [first["identity"]["sha256"], first["ca"]["sha256"]]
    assert [c["sha256"] for c in first["identity"]["chain"]] == [first["ca"]["sha256"]]
    assert first["trusted_count"] == 1 and first["trusted"][0]["sha256"] == first["ca"]["sha256"]
    assert first["telephony_identity"] is None
    assert first["expiring"] == []
    assert first["settings"]["checks"]["certificate_expiry_warning_days"] == 60
    assert first["settings"]["checks"]["h323_security_level"] == "high"
    assert first["settings"]["scep"]["password_set"] is False and "password" not in first["settings"]["scep"]
    assert [g["generation"] for g in first["generations"]] == [1] and first["generations"][0]["current"]
    assert first["files"]["identity_fullchain"] == os.path.join(str(store), "current", "identity", "fullchain.pem")
    assert os.path.isfile(first["files"]["identity_fullchain"])

    assert second["changed"] is False and second["generation"] == 1
    assert second["identity"]["sha256"] == first["identity"]["sha256"]
    assert sans["changed"] is False and sans["query_result"] == ["DNS:" + NAME, "IP:192.0.2.10"]
    assert ca_query["query_result"] == first["ca"]["sha256"]

    assert bad["failed"] is True and bad["error"] == "invalid_query" and bad["option"] == "query"
    assert "identity[?" in bad["msg"] and "'query' option" in bad["msg"]

    assert ip500["changed"] is True and ip500["platform"] == "ip500v2" and ip500["ca"] is None
    assert ip500["identity"]["self_signed"] is True and ip500["trusted_count"] == 0
    assert ip500["settings"]["checks"]["h323_security_level"] == "medium"
    assert ip500["settings"]["checks"]["sip_security_level"] == "medium"

    assert grouped["changed"] is False and grouped["query_result"] == 1

    # check mode on an existing store: nothing changes, nothing is written
    before = helpers.tree_digest(str(store))
    again = helpers.run_module("security_info", base_args(store), tmp_path, check=True)
    assert again["changed"] is False and again["generation"] == 1
    assert helpers.tree_digest(str(store)) == before


def test_corrupt_store_error_through_ansible(tmp_path):
    store = tmp_path / "store"
    DirectoryStore(str(store), system_name=NAME, system_addresses=[]).update(lambda state: None)
    settings = store / "current" / "settings.json"
    document = json.loads(settings.read_text())
    document["schema_version"] = 99
    settings.write_text(json.dumps(document))
    before = helpers.tree_digest(str(store))
    result = helpers.run_module("security_info", base_args(store), tmp_path)
    assert result["failed"] is True and result["error"] == "unsupported_store_version"
    assert "99" in result["msg"] and result["option"] == "store_path"
    assert helpers.tree_digest(str(store)) == before


def _populate(path, warning_days):
    """A store with a TCS entry expiring in 10 days, one in 100 days, a telephony identity and a SCEP password."""
    ca_key = _certs.generate_private_key("sha256_ecdsa_p256")
    soon = _certs.build_certificate("CN=Partner Root Expiring", ca_key, 10, ca=True)
    later = _certs.build_certificate("CN=Partner Root Later", _certs.generate_private_key("sha256_ecdsa_p256"), 100,
                                     ca=True)
    tel_key = _certs.generate_private_key("sha256_rsa2048")

    def mutate(state):
        state.add_trusted([soon, later])
        tel = _certs.build_certificate("sip." + NAME, tel_key, 365, subject_alt_names=["DNS:sip." + NAME],
                                       issuer_cert=state.ca.cert, issuer_key=state.ca.key)
        state.telephony = Credential(tel, tel_key, {"source": "ca", "subject_name": "sip." + NAME})
        state.settings["checks"]["sip_telephony_certificate"] = "sip_trunks"
        state.settings["checks"]["certificate_expiry_warning_days"] = warning_days
        state.settings["scep"].update({"active": True, "server": "ca.example.com"})
        state.secrets["scep_password"] = SCEP_PASSWORD.encode()
        return tel

    tel = DirectoryStore(str(path), system_name=NAME, system_addresses=["192.0.2.10"]).update(mutate).value
    keys = [_certs.key_pem(k).decode() for k in (ca_key, tel_key)]
    return soon, later, tel, keys


def test_expiring_telephony_and_no_secrets(tmp_path):
    default_days = tmp_path / "default"
    long_days = tmp_path / "long"
    soon, later, tel, keys = _populate(default_days, 60)
    _populate(long_days, 180)
    keys += [open(os.path.join(str(p), "current", slot, "key.pem")).read()
             for p in (default_days, long_days) for slot in ("identity", "ca", "telephony")]
    run = helpers.run_tasks([
        {"ipoffice.security.security_info": base_args(default_days)},
        {"ipoffice.security.security_info": base_args(long_days)},
        {"ipoffice.security.security_info": base_args(default_days, query="expiring[].where")},
    ], tmp_path, env={"ANSIBLE_VERBOSITY": "3"}, diff=True)
    default, longer, query = run.results

    assert default["changed"] is False
    expiring = default["expiring"]
    assert [e["sha256"] for e in expiring] == [_certs.fingerprint(soon)]
    assert expiring[0]["where"] == "trusted" and expiring[0]["subject"] == "CN=Partner Root Expiring"
    assert expiring[0]["days_left"] in (9, 10) and expiring[0]["expired"] is False
    assert query["query_result"] == ["trusted"]
    # with 180 warning days the 100-day certificate is reported as well, soonest first
    assert [e["subject"] for e in longer["expiring"]] == ["CN=Partner Root Expiring", "CN=Partner Root Later"]

    telephony = default["telephony_identity"]
    assert telephony["sha256"] == _certs.fingerprint(tel)
    assert telephony["common_name"] == "sip." + NAME and telephony["source"] == "ca"
    assert telephony["subject_alt_names"] == ["DNS:sip." + NAME]
    assert telephony["offered_chain"] == [telephony["sha256"], default["ca"]["sha256"]]
    assert default["settings"]["checks"]["sip_telephony_certificate"] == "sip_trunks"
    assert default["settings"]["scep"]["password_set"] is True
    assert default["settings"]["scep"]["server"] == "ca.example.com"
    assert "password" not in default["settings"]["scep"]

    # nothing secret anywhere: not in the registered results, not in the verbose output
    everything = run.stdout + run.stderr + json.dumps(run.results)
    assert "ok: [localhost]" in run.stdout and '"issued_to"' in run.stdout  # verbose output really shows results
    assert "PRIVATE KEY" not in everything
    assert SCEP_PASSWORD not in everything
    for key in keys:
        body = [line for line in key.splitlines() if line and not line.startswith("-----")]
        assert body and not any(line in everything for line in body)
