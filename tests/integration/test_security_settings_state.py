"""security_settings' state (merged, overridden, gathered, rendered) through real ansible-playbook runs, the
ipoffice.security.gather playbook and the baseline role fed with what it writes; Debian's real scepserver for
a SCEP-enrolled identity."""

import json
import os
import re
import subprocess

import pytest
import yaml

import helpers
import scep_servers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _settings
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

SCEP_PASSWORD = "Sc3p-Gathered-Secret-74"
P12_PASSWORD = "P12-Gathered-Pass-36"
SYSTEM = {"system_name": "ipo1.example.com", "system_addresses": ["192.0.2.10"]}
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
AREAS = _settings.AREAS
GATHERED = ("trusted", "identity", "telephony_identity", "scep", "checks", "lines")  # what gathered gives back


def write(path, data):
    path.write_bytes(data)
    return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("pki")
    root_key = _certs.generate_private_key()
    root = _certs.build_certificate("CN=Provider Root CA", root_key, 3650, ca=True)
    peer = _certs.build_certificate("CN=sip.example.test", _certs.generate_private_key(), 365,
                                    subject_alt_names=["DNS:sip.example.test"], issuer_cert=root, issuer_key=root_key)
    other = _certs.build_certificate("CN=Partner Root CA", _certs.generate_private_key(), 3650, ca=True)
    ent_key = _certs.generate_private_key("sha256_ecdsa_p256")
    enterprise = _certs.build_certificate("CN=Enterprise Root", ent_key, 3650, "sha256_ecdsa_p256", ca=True)
    leaf_key = _certs.generate_private_key("sha256_ecdsa_p256")
    leaf = _certs.build_certificate("CN=ipo1.example.com", leaf_key, 700, "sha256_ecdsa_p256",
                                    subject_alt_names=["DNS:ipo1.example.com"], issuer_cert=enterprise,
                                    issuer_key=ent_key)
    return {"root": write(base / "root.pem", _certs.cert_pem(root)),
            "peer": write(base / "peer.pem", _certs.cert_pem(peer)),
            "other": write(base / "other.pem", _certs.cert_pem(other)),
            "p12": write(base / "ipo1.p12", _certs.export_pkcs12("ipo1", leaf_key, leaf, [enterprise], P12_PASSWORD)),
            "other_fp": _certs.fingerprint(other), "enterprise_fp": _certs.fingerprint(enterprise)}


@pytest.fixture(scope="module")
def scep_server(tmp_path_factory):
    depot = scep_servers.init_depot(str(tmp_path_factory.mktemp("scep") / "depot"))
    with scep_servers.scepserver(depot) as running:
        yield running


def every_area(pki, source, scep_port=None):
    """Every area set, the system identity from ``source`` (generate, ca, import or scep)."""
    identity = {"generate": {"source": "generate", "subject_name": "ipo1.example.com", "valid_days": 500,
                             "subject_alt_names": ["DNS:ipo1.example.com", "IP:192.0.2.10"],
                             "signature": "sha256_rsa3072", "offer_id_certificate_chain": False},
                "ca": {"source": "ca", "subject_name": "ipo1.example.com",
                       "subject_alt_names": ["DNS:ipo1.example.com", "IP:192.0.2.10"]},
                "import": {"source": "import", "certificate_path": pki["p12"], "password": P12_PASSWORD},
                "scep": {"automatic_phone_provisioning": False}}[source]
    scep = {"server": "scep.example.com", "port": 8080, "request_interval": 300, "password": SCEP_PASSWORD}
    if source == "scep":
        scep = {"active": True, "server": "127.0.0.1", "port": scep_port, "uri": "/scep", "enroll": True,
                "retries": 0, "password": scep_servers.CHALLENGE, "install_ca_certificate": True}
    return dict(
        trusted={"certificates": [{"path": pki["root"]}, {"path": pki["peer"]}, {"path": pki["other"]}]},
        identity=identity,
        telephony_identity={"source": "ca", "subject_name": "sip.ipo1.example.com",
                            "subject_alt_names": ["URI:sip:example.test"]},
        scep=scep,
        checks={"certificate_expiry_warning_days": 90, "sip_telephony_certificate": "sip_trunks",
                "management_interfaces": "medium", "telephony_endpoints": "high", "sip_security_level": "medium",
                "preflight_mode": "skip"},
        lines=[{"name": "branch-1", "check_level": "medium"}, {"name": "branch-2", "check_level": "high"}],
    )


def task(store, state=None, check_mode=False, **areas):
    args = dict(SYSTEM, store_path=str(store), **areas)
    if state:
        args["state"] = state
    result = {"ipoffice.security.security_settings": args}
    if check_mode:
        result["check_mode"] = True
    return result


def from_gathered(register, password=None):
    """security_settings' areas taken from a registered gathered result (templated by Ansible)."""
    areas = dict((area, "{{ %s.gathered.%s | default(omit) }}" % (register, area)) for area in AREAS)
    if password:
        areas["scep"] = "{{ %s.gathered.scep | combine({'password': %r}) }}" % (register, password)
    return areas


def secrets_of(store, extra=()):
    """The passwords given and each line of every private key's PEM the store holds."""
    state = DirectoryStore(str(store)).read()
    found = [SCEP_PASSWORD, P12_PASSWORD, scep_servers.CHALLENGE] + list(extra)
    for credential in (state.identity, state.telephony, state.ca):
        if credential is not None:
            found.extend(line for line in _certs.key_pem(credential.key).decode().splitlines()[1:-1] if line)
    return found


def leaks(tmp_path, store, *texts):
    """Where a secret of ``store`` appears in ``texts`` (playbook output, results), via the store secret scan."""
    out = tmp_path / "scanned"
    out.mkdir(exist_ok=True)
    for index, text in enumerate(texts):
        (out / ("%d.txt" % index)).write_text(text)
    return helpers.store_secret_leaks(str(out), secrets_of(store))


@pytest.mark.parametrize("source", ["generate", "ca", "import", "scep"])
def test_gathered_fed_back_changes_nothing(pki, tmp_path, source, request):
    port = request.getfixturevalue("scep_server").port if source == "scep" else None
    store = tmp_path / "store"
    setup = helpers.run_tasks([task(store, **every_area(pki, source, port))], tmp_path)
    assert setup.results[0]["changed"] is True, repr(setup)
    if source == "scep":
        assert setup.results[0]["scep"]["status"] == "issued"
    digest = helpers.tree_digest(str(store))
    password = scep_servers.CHALLENGE if source == "scep" else SCEP_PASSWORD  # the one the store holds

    run = helpers.run_tasks([
        task(store, state="gathered"),
        task(store, **from_gathered("r0")),
        task(store, check_mode=True, **from_gathered("r0")),
        task(store, state="overridden", **from_gathered("r0", password)),
        task(store, state="overridden", check_mode=True, **from_gathered("r0")),
    ], tmp_path, diff=True, env={"ANSIBLE_VERBOSITY": "3"})
    gathered, merged, merged_check, overridden, overridden_check = run.results
    assert gathered["changed"] is False and gathered["generation"] == 1, repr(run)
    assert sorted(gathered["gathered"]) == sorted(GATHERED)
    for result in (merged, merged_check, overridden):
        assert result.get("failed") is not True, result.get("msg")
        assert result["changed"] is False, [s for s in result["steps"] if s["changed"]]
        assert result["generation"] == 1
    # Without the write-only password, overridden would remove it: check mode says so, and writes nothing.
    assert overridden_check["changed"] is True
    assert [s["step"] for s in overridden_check["steps"] if s["changed"]] == ["scep"]
    assert overridden_check["diff"]["after"]["scep"]["settings"]["password_set"] is False
    assert helpers.tree_digest(str(store)) == digest
    if source in ("import", "scep"):
        assert "source" not in gathered["gathered"]["identity"]
        assert any(note.startswith("identity: ") for note in gathered["notes"])
    else:
        assert gathered["gathered"]["identity"]["source"] == source
    assert leaks(tmp_path, store, run.stdout + run.stderr, json.dumps(run.results)) == []


def test_gathered_of_a_missing_store_fails_and_creates_nothing(tmp_path):
    store = tmp_path / "store"
    run = helpers.run_tasks([task(store, state="gathered"), task(store, state="gathered", check_mode=True)],
                            tmp_path)
    for result in run.results:
        assert result["failed"] is True and result["error"] == "store_not_initialised"
        assert result["option"] == "store_path"
    assert helpers.tree_digest(str(store)) == "absent"


def test_rendered_creates_nothing_and_leaves_a_store_byte_identical(pki, tmp_path):
    missing = tmp_path / "missing"
    store = tmp_path / "store"
    helpers.run_tasks([task(store, lines=[{"name": "branch-1"}])], tmp_path)
    digest = helpers.tree_digest(str(store))
    areas = every_area(pki, "ca")
    run = helpers.run_tasks([task(missing, state="rendered", **areas), task(store, state="rendered", **areas),
                             task(store, state="rendered", check_mode=True, **areas)], tmp_path, diff=True)
    new, existing, checked = run.results
    assert helpers.tree_digest(str(missing)) == "absent"
    assert helpers.tree_digest(str(store)) == digest
    assert new["changed"] is False and new["initialised"] is False
    assert existing["changed"] is False and existing["initialised"] is True and existing["generation"] == 1
    assert checked["rendered"]["lines"] == existing["rendered"]["lines"] == [
        {"name": "branch-1", "transport": "websocket_client", "check_level": "medium"},
        {"name": "branch-2", "transport": "websocket_client", "check_level": "high"}]
    assert existing["rendered"]["identity"]["action"] == "created"
    assert existing["rendered"]["identity"]["certificate"]["generated"] is True
    assert existing["rendered"]["scep"]["password_set"] is True
    assert SCEP_PASSWORD not in run.stdout + json.dumps(run.results)


def test_overridden_removes_unlisted_entries_and_lines_and_refuses_one_in_use(pki, tmp_path):
    store = tmp_path / "store"
    helpers.run_tasks([task(store, trusted={"certificates": [{"path": pki["root"]}, {"path": pki["other"]}]},
                            identity={"source": "import", "certificate_path": pki["p12"], "password": P12_PASSWORD},
                            lines=[{"name": "branch-1"}, {"name": "branch-2"}])], tmp_path)
    digest = helpers.tree_digest(str(store))
    keep = {"certificates": [{"path": pki["root"]}]}
    in_use = dict(trusted=keep, lines=[{"name": "branch-1"}])
    run = helpers.run_tasks([task(store, state="overridden", check_mode=True, **in_use),
                             task(store, state="overridden", **in_use)], tmp_path)
    for result in run.results:
        assert result["failed"] is True and result["error"] == "trusted_entry_in_use", result.get("msg")
        assert result["option"] == "trusted.allow_in_use" and result["area"] == "trusted"
        assert [item["sha256"] for item in result["in_use"]] == [pki["enterprise_fp"]]
    assert helpers.tree_digest(str(store)) == digest

    # The identity's own root listed: the unlisted partner root and line go; check mode predicted it exactly.
    wanted = dict(trusted={"certificates": [{"path": pki["root"]}, {"content": _enterprise_pem(store)}]},
                  lines=[{"name": "branch-1"}])
    run = helpers.run_tasks([task(store, state="overridden", check_mode=True, **wanted),
                             task(store, state="overridden", **wanted), task(store, state="overridden", **wanted),
                             task(store, state="overridden", check_mode=True, **wanted)], tmp_path, diff=True)
    check, real, again, check_again = run.results
    assert check["changed"] is True and real["changed"] is True and real["generation"] == 2, repr(run)
    for result in (check, real):
        assert [(item["sha256"], item["by"]) for item in result["trusted"]["removed"]] == [(pki["other_fp"],
                                                                                           "exclusive")]
        assert result["checks"]["after"]["ip_office_lines"] == [{"name": "branch-1", "transport": "websocket_client",
                                                                 "check_level": "none"}]
    assert json.dumps(check["diff"]["after"], sort_keys=True) == json.dumps(real["diff"]["after"], sort_keys=True)
    assert again["changed"] is False and check_again["changed"] is False
    state = DirectoryStore(str(store)).read()
    assert pki["other_fp"] not in state.trusted and state.ca.fingerprint in state.trusted


def _enterprise_pem(store):
    state = DirectoryStore(str(store)).read()
    return _certs.certs_pem(state.chain_for(state.identity)).decode()


# -------------------------------------------------------------------------- the gather playbook and the role


def playbook(name, inventory_path, *args):
    argv = [os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", inventory_path,
            os.path.join(helpers.REPO, "playbooks", name)] + list(args)
    run = subprocess.run(argv, capture_output=True, text=True, env=helpers.ansible_env(), timeout=600, check=False)
    run.recap = dict((m.group(1), {"changed": int(m.group(3)), "failed": int(m.group(5))})
                     for m in RECAP.finditer(run.stdout))
    return run


def test_the_gather_playbook_bootstraps_the_baseline_variable(pki, tmp_path):
    inv = tmp_path / "inventory"
    (inv / "host_vars").mkdir(parents=True)
    stores = {"ipo1": tmp_path / "ipo1", "ipo2": tmp_path / "ipo2"}
    for host, source in (("ipo1", "ca"), ("ipo2", "import")):
        areas = every_area(pki, source)
        _settings.run(DirectoryStore(str(stores[host]), **SYSTEM), dict(
            SYSTEM, store_path=str(stores[host]), platform=None, lock_timeout=60, state=None,
            **dict((area, areas.get(area)) for area in AREAS)))
    digests = dict((host, helpers.tree_digest(str(path))) for host, path in stores.items())
    inventory = inv / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"ipoffice": {
        "hosts": dict((host, {"ipoffice_security": {"store": {"path": str(path)}}}) for host, path in stores.items()),
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}}))

    gather = playbook("gather.yml", str(inventory), "-e", "gather_dir=%s" % (inv / "host_vars"))
    assert gather.returncode == 0, gather.stdout + gather.stderr
    assert gather.recap["ipo1"]["changed"] == 1 and gather.recap["ipo2"]["changed"] == 1  # the files written
    written = dict((host, (inv / "host_vars" / (host + ".yml")).read_text()) for host in stores)
    for host, text in written.items():
        variable = yaml.safe_load(text)["ipoffice_security"]
        assert variable["store"] == {"path": str(stores[host]), "platform": "server",
                                     "system_name": "ipo1.example.com", "keep_generations": 10}
        assert sorted(variable) == sorted(("store",) + GATHERED)
        assert "# - scep: a SCEP password is stored" in text  # the notes, as comments
        assert leaks(tmp_path, stores[host], text) == []
    assert "imported; it cannot be given back" in written["ipo2"] and "source" not in yaml.safe_load(written["ipo2"])[
        "ipoffice_security"]["identity"]

    # The role, fed with the files as host_vars: nothing changes (check mode first).
    for args in (("--check", "--diff"), ()):
        site = playbook("site.yml", str(inventory), *args)
        assert site.returncode == 0, site.stdout[-4000:] + site.stderr
        assert site.recap["ipo1"]["changed"] == 0 and site.recap["ipo2"]["changed"] == 0, site.stdout[-4000:]
    # overridden: the write-only SCEP password added back from the "vault", the rest as gathered.
    for host in stores:
        data = yaml.safe_load(written[host])
        data["ipoffice_security"]["scep"]["password"] = SCEP_PASSWORD
        (inv / "host_vars" / (host + ".yml")).write_text(yaml.safe_dump(data))
    site = playbook("site.yml", str(inventory), "-e", "baseline_state=overridden")
    assert site.returncode == 0, site.stdout[-4000:] + site.stderr
    assert site.recap["ipo1"]["changed"] == 0 and site.recap["ipo2"]["changed"] == 0, site.stdout[-4000:]
    for host, path in stores.items():
        assert helpers.tree_digest(str(path)) == digests[host]

    # A second gather leaves the edited files alone unless told to overwrite them.
    again = playbook("gather.yml", str(inventory), "-e", "gather_dir=%s" % (inv / "host_vars"))
    assert again.returncode == 0 and again.recap["ipo1"]["changed"] == 0
    assert SCEP_PASSWORD in (inv / "host_vars" / "ipo1.yml").read_text()
