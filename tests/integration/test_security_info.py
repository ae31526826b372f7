"""security_info through real `ansible-playbook` runs against local DirectoryStores."""

import json
import os

import pytest

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, DirectoryStore

# Module results: each test runs twice, in the controller's worker and as a module (tests/conftest.py).
pytestmark = pytest.mark.both_paths

NAME = "ipo1.example.com"
SCEP_PASSWORD = "Sc3p-Challenge-7f1e9a"


def base_args(path, **extra):
    args = {"store_path": str(path), "system_name": NAME, "system_addresses": ["192.0.2.10"]}
    args.update(extra)
    return args


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


@pytest.fixture(scope="module")
def play(tmp_path_factory):
    """One real ansible-playbook run with every scenario (each ansible-playbook start costs seconds).

    Stores prepared beforehand through the store API: one with an expiring TCS entry, a telephony identity
    and a SCEP password (default and 180 warning days), one with an unknown schema version.
    """
    tmp = tmp_path_factory.mktemp("security_info")
    paths = dict((name, tmp / name) for name in ("fresh", "unwritten", "ip500", "populated", "long", "future"))
    soon, later, tel, keys = _populate(paths["populated"], 60)
    _populate(paths["long"], 180)
    keys += [open(os.path.join(str(p), "current", slot, "key.pem")).read()
             for p in (paths["populated"], paths["long"]) for slot in ("identity", "ca", "telephony")]
    DirectoryStore(str(paths["future"]), system_name=NAME, system_addresses=[]).update(lambda state: None)
    # security_info never initialises a store: the writing modules do (here, the store API)
    DirectoryStore(str(paths["fresh"]), system_name=NAME, system_addresses=["192.0.2.10"]).update(lambda state: None)
    DirectoryStore(str(paths["ip500"]), platform="ip500v2", system_name=NAME,
                   system_addresses=["192.0.2.10"]).update(lambda state: None)
    settings = paths["future"] / "current" / "settings.json"
    document = json.loads(settings.read_text())
    document["schema_version"] = 99
    settings.write_text(json.dumps(document))
    digests = {"future": helpers.tree_digest(str(paths["future"])),
               "populated": helpers.tree_digest(str(paths["populated"]))}

    fresh = base_args(paths["fresh"])
    tasks = [
        # a store that does not exist: reported, never created (check mode or not)
        ("check_new", {"ipoffice.security.security_info": base_args(paths["unwritten"]), "check_mode": True}),
        ("missing", {"ipoffice.security.security_info": base_args(paths["unwritten"])}),
        ("first", {"ipoffice.security.security_info": fresh}),
        ("second", {"ipoffice.security.security_info": fresh}),
        ("check_existing", {"ipoffice.security.security_info": fresh, "check_mode": True}),
        ("sans", {"ipoffice.security.security_info": dict(fresh, query="identity.subject_alt_names")}),
        ("ca_query", {"ipoffice.security.security_info": dict(fresh, query="trusted[?is_ca].sha256 | [0]")}),
        ("bad_query", {"ipoffice.security.security_info": dict(fresh, query="identity[?")}),
        ("ip500", {"ipoffice.security.security_info": base_args(paths["ip500"], platform="ip500v2")}),
        # the action group lets a play set the store once
        ("grouped", {"ipoffice.security.security_info": {"query": "generation"},
                     "module_defaults": {"group/ipoffice.security.all": fresh}}),
        ("future", {"ipoffice.security.security_info": base_args(paths["future"])}),
        ("populated", {"ipoffice.security.security_info": base_args(paths["populated"])}),
        ("long", {"ipoffice.security.security_info": base_args(paths["long"])}),
        ("populated_query", {"ipoffice.security.security_info": base_args(paths["populated"],
                                                                          query="expiring[].where")}),
    ]
    run = helpers.run_tasks([task for _name, task in tasks], tmp, env={"ANSIBLE_VERBOSITY": "3"}, diff=True)
    results = dict((name, result) for (name, _task), result in zip(tasks, run.results))
    return {"run": run, "results": results, "paths": paths, "digests": digests, "soon": soon, "later": later,
            "tel": tel, "keys": keys}


def test_a_missing_store_is_reported_and_left_absent(play):
    for name in ("check_new", "missing"):
        result = play["results"][name]
        assert result["changed"] is False and result["initialised"] is False and result["generation"] == 0
        assert result["identity"] is None and result["issued_to"] is None and result["settings"] is None
        assert result["trusted"] == [] and result["generations"] == [] and result["findings"] == []
    assert not os.path.lexists(str(play["paths"]["unwritten"]))


def test_reads_the_server_system_as_initialised(play):
    first = play["results"]["first"]
    assert first["changed"] is False and first["initialised"] is True and first["generation"] == 1
    assert first["platform"] == "server" and first["system_name"] == NAME
    assert first["offer_certificate"] is True
    assert first["issued_to"] == NAME and first["identity"]["common_name"] == NAME
    assert first["identity"]["source"] == "initial"
    assert first["identity"]["subject_alt_names"] == ["DNS:" + NAME, "IP:192.0.2.10"]
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
    store = str(play["paths"]["fresh"])
    assert first["files"]["identity_fullchain"] == os.path.join(store, "current", "identity", "fullchain.pem")
    assert os.path.isfile(first["files"]["identity_fullchain"])


def test_idempotent_and_check_mode_on_an_existing_store(play):
    first, second, check = [play["results"][n] for n in ("first", "second", "check_existing")]
    for result in (second, check):
        assert result["changed"] is False and result["generation"] == 1
        assert result["identity"]["sha256"] == first["identity"]["sha256"]
        assert [g["generation"] for g in result["generations"]] == [1]
    assert os.listdir(str(play["paths"]["fresh"] / "generations")) == ["000001"]


def test_query(play):
    results = play["results"]
    assert results["sans"]["changed"] is False
    assert results["sans"]["query_result"] == ["DNS:" + NAME, "IP:192.0.2.10"]
    assert results["ca_query"]["query_result"] == results["first"]["ca"]["sha256"]
    assert results["grouped"]["changed"] is False and results["grouped"]["query_result"] == 1
    bad = results["bad_query"]
    assert bad["failed"] is True and bad["error"] == "invalid_query" and bad["option"] == "query"
    assert "identity[?" in bad["msg"] and "'query' option" in bad["msg"]


def test_ip500v2_system(play):
    ip500 = play["results"]["ip500"]
    assert ip500["changed"] is False and ip500["platform"] == "ip500v2" and ip500["ca"] is None
    assert ip500["identity"]["self_signed"] is True and ip500["trusted_count"] == 0
    assert ip500["settings"]["checks"]["h323_security_level"] == "medium"
    assert ip500["settings"]["checks"]["sip_security_level"] == "medium"


def test_unknown_store_version_fails_and_is_untouched(play):
    future = play["results"]["future"]
    assert future["failed"] is True and future["error"] == "unsupported_store_version"
    assert "99" in future["msg"] and future["option"] == "store_path"
    assert helpers.tree_digest(str(play["paths"]["future"])) == play["digests"]["future"]


def test_expiring_certificates(play):
    populated, longer, query = [play["results"][n] for n in ("populated", "long", "populated_query")]
    assert populated["changed"] is False
    expiring = populated["expiring"]
    assert [e["sha256"] for e in expiring] == [_certs.fingerprint(play["soon"])]
    assert expiring[0]["where"] == "trusted" and expiring[0]["subject"] == "CN=Partner Root Expiring"
    assert expiring[0]["days_left"] in (9, 10) and expiring[0]["expired"] is False
    assert query["query_result"] == ["trusted"]
    # with 180 warning days the 100-day certificate is reported as well, soonest first
    assert [e["subject"] for e in longer["expiring"]] == ["CN=Partner Root Expiring", "CN=Partner Root Later"]
    assert helpers.tree_digest(str(play["paths"]["populated"])) == play["digests"]["populated"]


def test_telephony_identity_shown(play):
    populated = play["results"]["populated"]
    telephony = populated["telephony_identity"]
    assert telephony["sha256"] == _certs.fingerprint(play["tel"])
    assert telephony["common_name"] == "sip." + NAME and telephony["source"] == "ca"
    assert telephony["subject_alt_names"] == ["DNS:sip." + NAME]
    assert telephony["offered_chain"] == [telephony["sha256"], populated["ca"]["sha256"]]
    assert populated["settings"]["checks"]["sip_telephony_certificate"] == "sip_trunks"
    assert populated["settings"]["scep"]["password_set"] is True
    assert populated["settings"]["scep"]["server"] == "ca.example.com"
    assert "password" not in populated["settings"]["scep"]


def test_no_private_key_or_password_anywhere(play):
    run = play["run"]
    everything = run.stdout + run.stderr + json.dumps(run.results)
    assert "ok: [localhost]" in run.stdout and '"issued_to"' in run.stdout  # verbose output really shows results
    assert "PRIVATE KEY" not in everything
    assert SCEP_PASSWORD not in everything
    for key in play["keys"]:
        body = [line for line in key.splitlines() if line and not line.startswith("-----")]
        assert body and not any(line in everything for line in body)
