"""playbooks/rotate_trust.yml with preflight endpoints: real `openssl s_server`s, real ansible-playbook runs.

Two systems raised management_interfaces to medium with a preflight endpoint that then chained to the old
root (recorded, so the old root is in use). Before the rotation, ipo-x's endpoint moved to a certificate
from the new root; ipo-y's still presents the old one. The rotation (one security_settings transaction per
system, trusted.retire) verifies both again against the state it plans: ipo-x's passes through the new root,
so its old root goes in the same run; ipo-y's still goes through the old root, so it stays blocked. The
playbook then exits non-zero naming ipo-y, and with rotate_trust_allow_blocked: true exits 0, reporting it.
"""

import json
import os
import subprocess
import sys

import yaml

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _checks_settings, _trusted
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

EC = "sha256_ecdsa_p256"


def _write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def _server_files(tmp_path, name, issuer, issuer_key):
    key = _certs.generate_private_key(EC)
    cert = _certs.build_certificate("localhost", key, 365, EC, subject_alt_names=["DNS:localhost", "IP:127.0.0.1"],
                                    issuer_cert=issuer, issuer_key=issuer_key)
    return (_write(str(tmp_path / (name + ".pem")), _certs.cert_pem(cert)),
            _write(str(tmp_path / (name + ".key")), _certs.key_pem(key)))


def _raise_with_preflight(store, port):
    params = dict((name, None) for name in _checks_settings.OPTION_NAMES)
    params.update({"management_interfaces": "medium", "preflight_mode": "enforce",
                   "preflight": [{"host": "127.0.0.1", "port": port, "setting": "management"}]})
    result = _checks_settings.run(store, params)
    assert result["changed"] and result["preflight"][0]["passed"], result


def test_rotation_clears_verified_preflight_endpoints_and_reports_the_others(tmp_path):
    helpers.need_tool("openssl")
    old_key, new_key = _certs.generate_private_key(EC), _certs.generate_private_key(EC)
    old_root = _certs.build_certificate("CN=Corp Root 2015,O=Example", old_key, 3650, EC, ca=True)
    new_root = _certs.build_certificate("CN=Corp Root 2025,O=Example", new_key, 3650, EC, ca=True)
    old_server = _server_files(tmp_path, "server-2015", old_root, old_key)
    new_server = _server_files(tmp_path, "server-2025", new_root, new_key)
    stores = {}
    for host in ("ipo-x", "ipo-y"):
        stores[host] = DirectoryStore(str(tmp_path / host), system_name=host + ".example.com",
                                      system_addresses=["192.0.2.20"])
        _trusted.converge(stores[host], [{"content": _certs.cert_pem(old_root).decode()}])
    port_x, port_y = helpers.free_port(), helpers.free_port()
    with helpers.openssl_server(*old_server, port=port_x):
        _raise_with_preflight(stores["ipo-x"], port_x)
    report_path = str(tmp_path / "report.json")
    hosts = dict((host, {"ipoffice_security": {"store": {"path": stores[host].path,
                                                         "system_name": stores[host].system_name}}})
                 for host in stores)
    inventory = {"all": {"children": {"ipoffice": {"hosts": hosts}}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "rotate_trust_new_root": _certs.cert_pem(new_root).decode(),
        "rotate_trust_old_root_sha256": _certs.fingerprint(old_root).replace(":", "").upper(),
        "rotate_trust_report_path": report_path}}}
    with open(str(tmp_path / "inventory.yml"), "w") as handle:
        yaml.safe_dump(inventory, handle)
    playbook = os.path.join(helpers.REPO, "playbooks", "rotate_trust.yml")

    def rotate(*extra):
        return subprocess.run(
            [os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"), playbook]
            + list(extra), capture_output=True, text=True, env=helpers.ansible_env(), cwd=str(tmp_path), timeout=600,
            check=False)

    with helpers.openssl_server(*old_server, port=port_y):
        _raise_with_preflight(stores["ipo-y"], port_y)
        # ipo-x's endpoint now presents a certificate from the new root (a new server on the same port)
        with helpers.openssl_server(*new_server, port=port_x):
            blocked = rotate()
            with open(report_path) as handle:
                report = dict((item["host"], item) for item in json.load(handle))
            allowed = rotate("-e", "rotate_trust_allow_blocked=true")
    old_fp = _certs.fingerprint(old_root)
    # one system stays blocked: the play fails (non-zero exit), naming it and what holds the old root there
    assert blocked.returncode == 2, blocked.stdout[-6000:] + blocked.stderr[-3000:]
    shown = " ".join(blocked.stdout.split())
    assert "fatal: [ipo-y]: FAILED!" in shown and "fatal: [ipo-x]" not in shown
    assert "ipo-y.example.com: the rotation is blocked, still in use: CN=Corp Root 2015,O=Example (sha256 %s) by " \
        "the preflight endpoint 127.0.0.1:%d (management)" % (old_fp, port_y) in shown
    x, y = report["ipo-x"], report["ipo-y"]
    assert x["old_root_was_present"] is True and x["old_root_removed"] is True and x["blocked"] is False
    assert x["new_root_added"] is True and x["blocked_by"] == [] and x["retiring"] == []
    assert [(v["endpoint"], v["passed"], v["reverified"]) for v in x["verified"]] == [
        ("127.0.0.1:%d (management)" % port_x, True, True)]
    assert old_fp not in stores["ipo-x"].read().trusted
    assert _certs.fingerprint(new_root) in stores["ipo-x"].read().trusted
    [record] = stores["ipo-x"].read().verified_endpoints
    assert record["trust_path"][-1] == _certs.fingerprint(new_root)
    assert "ipo-x.example.com: trusted the new root; removed CN=Corp Root 2015,O=Example; the old root is removed" \
        in shown
    assert y["old_root_was_present"] is True and y["old_root_removed"] is False and y["blocked"] is True
    assert len(y["blocked_by"]) == 1 and "127.0.0.1:%d (management)" % port_y in y["blocked_by"][0]
    assert [(v["passed"], v["certificate"]["issuer"]) for v in y["verified"]] == [
        (True, "CN=Corp Root 2015,O=Example")]  # it still presents a certificate from the old root
    assert old_fp in stores["ipo-y"].read().trusted
    assert "ipo-y.example.com: trusted the new root; the old root stays, still in use: the preflight endpoint " \
        "127.0.0.1:%d (management)" % port_y in shown
    # accepted for now: exit 0, the report still names the blocked system; nothing changes on a rerun
    assert allowed.returncode == 0, allowed.stdout[-6000:] + allowed.stderr[-3000:]
    with open(report_path) as handle:
        report = dict((item["host"], item) for item in json.load(handle))
    assert report["ipo-y"]["blocked"] is True and report["ipo-y"]["changed"] is False
    assert report["ipo-x"]["blocked"] is False and report["ipo-x"]["changed"] is False
    assert "ipo-y.example.com: nothing to change; the old root stays, still in use: the preflight endpoint" in \
        " ".join(allowed.stdout.split())
    recap = allowed.stdout.split("PLAY RECAP")[-1]
    assert recap.count("changed=0") == 2 and "failed=0" in recap and "failed=1" not in recap
