"""Root rotation as declared state, through real ansible-playbook runs (issue 18).

- A pinned SBC (high_remote) behind a real `openssl s_server` moves to a certificate from a new root on the
  same address: ONE security_settings call trusts the new root and pin, removes the old pin (trusted.absent)
  and lists the endpoint in checks.preflight; it succeeds without allow_in_use, in check mode first (the
  exact prediction) and for real.
- trusted.retire of a root the pinned peer still needs: succeeds, the root stays, `retiring` names the peer,
  a rerun is unchanged; after the peer moves, the same call removes the root.
- A preflight record older than dependents_max_age_days warns (naming the system) instead of blocking.
- docs/trusted-store.md's rotation, three states of one group variable, runs as written with site.yml.
"""

import datetime
import os
import re
import subprocess

import yaml

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

EC = "sha256_ecdsa_p256"
NAME = "ipo1.example.com"
STORE_ARGS = {"system_name": NAME, "system_addresses": ["192.0.2.10"]}


def _write(path, data):
    with open(str(path), "wb") as handle:
        handle.write(data)
    return str(path)


class Pki(object):
    def __init__(self, base):
        self.base = base
        self.keys = {}
        self.roots = {}
        for year in ("2015", "2025"):
            key = _certs.generate_private_key(EC)
            self.roots[year] = _certs.build_certificate("CN=Corp Root %s,O=Example" % year, key, 3650, EC, ca=True)
            self.keys[year] = key
            _write(base / ("corp-root-%s.pem" % year), _certs.cert_pem(self.roots[year]))

    def leaf(self, name, cn, year):
        key = _certs.generate_private_key(EC)
        cert = _certs.build_certificate(cn, key, 365, EC, subject_alt_names=["DNS:" + cn, "IP:127.0.0.1"],
                                        issuer_cert=self.roots[year], issuer_key=self.keys[year])
        return cert, _write(self.base / (name + ".pem"), _certs.cert_pem(cert)), \
            _write(self.base / (name + ".key"), _certs.key_pem(key))

    def path(self, name):
        return str(self.base / name)


def _endpoint(port):
    return {"host": "127.0.0.1", "port": port, "setting": "telephony", "purpose": "server",
            "peer_name": "sbc.example.com"}


def _security_settings(store, **areas):
    return {"ipoffice.security.security_settings": dict(STORE_ARGS, store_path=store, **areas)}


# ---------------------------------------------------------------------------- the SBC moves in one call


def test_a_pinned_sbc_moves_to_a_new_root_in_one_call_without_allow_in_use(tmp_path):
    helpers.need_tool("openssl")
    pki = Pki(tmp_path)
    old_sbc, old_cert, old_key = pki.leaf("sbc-2015", "sbc.example.com", "2015")
    new_sbc, new_cert, new_key = pki.leaf("sbc-2025", "sbc.example.com", "2025")
    store = str(tmp_path / "store")
    port = helpers.free_port()
    with helpers.openssl_server(old_cert, old_key, port=port):
        setup = helpers.run_tasks([_security_settings(
            store, trusted={"certificates": [{"path": pki.path("corp-root-2015.pem")}, {"path": old_cert}]},
            checks={"telephony_endpoints": "high_remote", "preflight": [_endpoint(port)]})], tmp_path)
    assert setup.results[0]["changed"] is True and setup.results[0]["checks"]["preflight"][0]["passed"] is True
    before = DirectoryStore(store).read()
    [record] = before.verified_endpoints
    assert record["trust_path"] == [_certs.fingerprint(old_sbc), _certs.fingerprint(pki.roots["2015"])]
    digest = helpers.tree_digest(store)

    move = _security_settings(
        store, trusted={"certificates": [{"path": pki.path("corp-root-2025.pem")}, {"path": new_cert}],
                        "absent": [{"path": old_cert}]},
        checks={"preflight": [_endpoint(port)]})
    with helpers.openssl_server(new_cert, new_key, port=port):  # the SBC moved, on the same address
        run = helpers.run_tasks([dict(move, check_mode=True, diff=True), dict(move, diff=True), move], tmp_path,
                                diff=True)
    check, real, again = run.results
    for result in (check, real):
        assert result.get("failed") is not True, result
        assert result["changed"] is True and result.get("warnings", []) == []
        assert [(r["sha256"], r["by"], r["dependents"]) for r in result["trusted"]["removed"]] == [
            (_certs.fingerprint(old_sbc), "absent", [])]
        assert sorted(a["sha256"] for a in result["trusted"]["added"]) == sorted(
            [_certs.fingerprint(new_sbc), _certs.fingerprint(pki.roots["2025"])])
        [verified] = result["checks"]["preflight"]
        assert verified["reverified"] is True and verified["passed"] is True and verified["level"] == "high_remote"
        assert verified["certificate"]["sha256"] == _certs.fingerprint(new_sbc)
    # the check run's prediction is what the real run did
    assert check["diff"]["after"]["trusted"] == real["diff"]["after"]["trusted"]
    assert again["changed"] is False
    after = DirectoryStore(store).read()
    [record] = after.verified_endpoints
    assert record["trust_path"] == [_certs.fingerprint(new_sbc), _certs.fingerprint(pki.roots["2025"])]
    assert _certs.fingerprint(old_sbc) not in after.trusted
    assert after.generation == before.generation + 1 and digest != helpers.tree_digest(store)


# ------------------------------------------------------------------------------------------ retirement


def test_retire_keeps_the_root_a_pinned_peer_needs_until_it_moves(tmp_path):
    helpers.need_tool("openssl")
    pki = Pki(tmp_path)
    old_sbc, old_cert, old_key = pki.leaf("sbc-2015", "sbc.example.com", "2015")
    new_sbc, new_cert, new_key = pki.leaf("sbc-2025", "sbc.example.com", "2025")
    store = str(tmp_path / "store")
    port = helpers.free_port()
    end_state = _security_settings(
        store,
        trusted={"certificates": [{"path": pki.path("corp-root-2025.pem")}, {"path": new_cert}],
                 "retire": [{"path": pki.path("corp-root-2015.pem")}, {"path": old_cert}]},
        checks={"telephony_endpoints": "high_remote", "preflight": [_endpoint(port)]})
    old_fp = _certs.fingerprint(pki.roots["2015"])
    with helpers.openssl_server(old_cert, old_key, port=port):
        run = helpers.run_tasks([
            _security_settings(store, trusted={"certificates": [{"path": pki.path("corp-root-2015.pem")},
                                                                {"path": old_cert}]},
                               checks={"telephony_endpoints": "high_remote", "preflight": [_endpoint(port)]}),
            dict(end_state, check_mode=True), end_state, end_state,
        ], tmp_path)
    setup, check, first, rerun = run.results
    assert setup["changed"] is True
    for result in (check, first):
        assert result.get("failed") is not True, result
        assert result["changed"] is True and result["retired"] == []
        retiring = dict((item["sha256"], item) for item in result["retiring"])
        assert sorted(retiring) == sorted([old_fp, _certs.fingerprint(old_sbc)])
        blockers = [d["kind"] for d in retiring[old_fp]["blocked_by"]]
        assert blockers == ["pinned_peer", "preflight_endpoint"]
        assert "CN=sbc.example.com" in retiring[old_fp]["blocked_by"][0]["description"]
        assert "127.0.0.1:%d (telephony)" % port in retiring[_certs.fingerprint(old_sbc)]["blocked_by"][0][
            "description"]
    assert rerun["changed"] is False and rerun["retiring"] == first["retiring"]
    assert "[WARNING]: %s: trusted: the retired trusted certificate CN=Corp Root 2015" % NAME in \
        " ".join(run.stderr.split())
    assert old_fp in DirectoryStore(store).read().trusted
    # the SBC moves to its certificate from the new root: the same call removes the old root (and old pin)
    with helpers.openssl_server(new_cert, new_key, port=port):
        moved = helpers.run_tasks([dict(end_state, check_mode=True), end_state, end_state], tmp_path)
    predicted, done, settled = moved.results
    for result in (predicted, done):
        assert result["changed"] is True and result["retiring"] == []
        assert sorted(r["sha256"] for r in result["retired"]) == sorted([old_fp, _certs.fingerprint(old_sbc)])
    assert settled["changed"] is False
    state = DirectoryStore(store).read()
    assert old_fp not in state.trusted and _certs.fingerprint(new_sbc) in state.trusted


# --------------------------------------------------------------------------------------- stale records


def test_a_stale_preflight_record_warns_instead_of_blocking(tmp_path):
    helpers.need_tool("openssl")
    pki = Pki(tmp_path)
    _sbc, cert, key = pki.leaf("sbc-2015", "sbc.example.com", "2015")
    store = str(tmp_path / "store")
    with helpers.openssl_server(cert, key) as port:
        helpers.run_tasks([_security_settings(
            store, trusted={"certificates": [{"path": pki.path("corp-root-2015.pem")}]},
            checks={"management_interfaces": "medium",
                    "preflight": [{"host": "127.0.0.1", "port": port, "setting": "management"}]})], tmp_path)
    # the endpoint was last verified 40 days ago
    stamp = (_certs.utcnow() - datetime.timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def backdate(state):
        for record in state.verified_endpoints:
            record["verified"] = stamp
    DirectoryStore(store).update(backdate)
    remove = {"ipoffice.security.trusted_certificate": dict(STORE_ARGS, store_path=store, state="absent",
                                                            certificates=[{"path": pki.path("corp-root-2015.pem")}])}
    digest = helpers.tree_digest(store)
    info_task = {"ipoffice.security.security_info": dict(STORE_ARGS, store_path=store)}
    blocked = helpers.run_tasks([remove, info_task], tmp_path)
    refused, info = blocked.results
    assert refused["failed"] is True and refused["error"] == "trusted_entry_in_use"  # 40 < 90 days: it holds
    assert helpers.tree_digest(store) == digest
    [record] = info["preflight_records"]
    assert (record["age_days"], record["stale"], record["holds"]) == (40, False, True)
    young = dict(remove)
    young["ipoffice.security.trusted_certificate"] = dict(remove["ipoffice.security.trusted_certificate"],
                                                          dependents_max_age_days=30)
    run = helpers.run_tasks([dict(young, check_mode=True), young, info_task], tmp_path)
    check, real, info = run.results
    for result in (check, real):
        assert result["changed"] is True and result.get("failed") is not True
        [warning] = result["warnings"]
        assert warning.startswith("%s: the preflight record of 127.0.0.1:%d (management)" % (NAME, port))
        assert "40 days ago" in warning and "dependents_max_age_days (30)" in warning
    assert "[WARNING]: %s: the preflight record of 127.0.0.1:%d (management)" % (NAME, port) in \
        " ".join(run.stderr.split())
    assert info["dependents_max_age_days"] == 30
    assert [(r["stale"], r["holds"]) for r in info["preflight_records"]] == [(True, False)]
    assert _certs.fingerprint(pki.roots["2015"]) not in [t["sha256"] for t in info["trusted"]]


def test_dependents_max_age_days_out_of_range_names_the_option(tmp_path):
    store = str(tmp_path / "store")
    run = helpers.run_tasks([{"ipoffice.security.security_info": {"store_path": store}},
                             {"ipoffice.security.trusted_certificate": dict(
                                 STORE_ARGS, store_path=store, dependents_max_age_days=0,
                                 certificates=[{"sha256": "aa" * 32}], state="absent")}], tmp_path)
    failed = run.results[1]
    assert failed["failed"] is True and failed["error"] == "out_of_range"
    assert failed["option"] == "dependents_max_age_days" and "1 to 3650" in failed["msg"]
    assert "Traceback" not in run.stdout + run.stderr
    assert helpers.tree_digest(store) == "absent"


# ------------------------------------------------------------------------- the docs' three states


def doc_blocks(path, section):
    """The ```yaml blocks of a docs section (from its heading to the next heading of the same level)."""
    with open(os.path.join(helpers.REPO, path)) as handle:
        text = handle.read()
    start = text.index(section)
    level = section.split(" ")[0]
    rest = text[start + len(section):]
    end = re.search(r"^%s " % re.escape(level), rest, re.M)
    body = rest[:end.start()] if end else rest
    return re.findall(r"```yaml\n(.*?)```", body, re.S)


def _site(tmp_path, *extra):
    return subprocess.run(
        [os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
         os.path.join(helpers.REPO, "playbooks", "site.yml"), "-e", "store_root=%s" % (tmp_path / "stores"),
         "-e", "pki_dir=%s" % (tmp_path / "pki")] + list(extra),
        capture_output=True, text=True, env=helpers.ansible_env(), cwd=str(tmp_path), timeout=600, check=False)


def _recap_changed(run):
    recap = run.stdout.split("PLAY RECAP")[-1]
    return dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^(\S+)\s+:.*?changed=(\d+)", recap, re.M))


def test_the_documented_rotation_runs_as_written(tmp_path):
    blocks = doc_blocks("docs/trusted-store.md", "## Rotating a root: one variable in three states")
    inventory = [b for b in blocks if b.startswith("# inventory.yml")]
    states = [b for b in blocks if b.startswith("# group_vars/ipoffice.yml, state")]
    assert len(inventory) == 1 and len(states) == 3
    with open(str(tmp_path / "inventory.yml"), "w") as handle:
        handle.write(inventory[0])
    (tmp_path / "pki").mkdir()
    pki = Pki(tmp_path / "pki")
    hosts = sorted(yaml.safe_load(inventory[0])["all"]["children"]["ipoffice"]["hosts"])
    assert hosts == ["ipo-a", "ipo-b"]
    for host in hosts:
        for year in ("2015", "2025"):
            pki.leaf("%s-%s" % (host, year), "%s.example.com" % host, year)
    group_vars = tmp_path / "group_vars"
    group_vars.mkdir()
    # Before the rotation: the 2015 root trusted, the identities from it.
    before = yaml.safe_load(states[0])
    before["ipoffice_security"]["trusted"] = {"certificates": before["ipoffice_security"]["trusted"]["retire"]}
    with open(str(group_vars / "ipoffice.yml"), "w") as handle:
        yaml.safe_dump(before, handle)
    run = _site(tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    old_fp, new_fp = _certs.fingerprint(pki.roots["2015"]), _certs.fingerprint(pki.roots["2025"])
    stores = dict((host, DirectoryStore(str(tmp_path / "stores" / host))) for host in hosts)

    def state_run(index, check=False):
        with open(str(group_vars / "ipoffice.yml"), "w") as handle:
            handle.write(states[index])
        return _site(tmp_path, *(["--check", "--diff"] if check else []))

    # state 1: the new root is added; the old one stays (the identities chain to it), reported, not failing
    for check in (True, False):
        run = state_run(0, check)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        assert _recap_changed(run) == {"ipo-a": 1, "ipo-b": 1}
    for host in hosts:
        state = stores[host].read()
        assert new_fp in state.trusted and old_fp in state.trusted
    assert "[WARNING]: ipo-a.example.com: trusted: the retired trusted certificate CN=Corp Root 2015" in \
        " ".join(run.stderr.split())
    assert _recap_changed(state_run(0)) == {"ipo-a": 0, "ipo-b": 0}
    # state 2: the identities move, and the old root goes in the same run
    digests = dict((host, helpers.tree_digest(stores[host].path)) for host in hosts)
    run = state_run(1, check=True)
    assert run.returncode == 0 and _recap_changed(run) == {"ipo-a": 1, "ipo-b": 1}
    assert dict((host, helpers.tree_digest(stores[host].path)) for host in hosts) == digests
    run = state_run(1)
    assert run.returncode == 0 and _recap_changed(run) == {"ipo-a": 1, "ipo-b": 1}, run.stdout[-3000:]
    for host in hosts:
        state = stores[host].read()
        assert old_fp not in state.trusted and new_fp in state.trusted
        assert state.identity.cert.issuer == pki.roots["2025"].subject
        assert state.made_by["summary"].startswith("identity replaced")
        assert "trusted -Corp Root 2015" in state.made_by["summary"]
    # state 3: the final variable changes nothing
    for check in (True, False):
        run = state_run(2, check)
        assert run.returncode == 0 and _recap_changed(run) == {"ipo-a": 0, "ipo-b": 0}
