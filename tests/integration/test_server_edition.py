"""Server Edition: one primary and two secondaries whose identities its internal CA issues (source: issued_by),
exactly as docs/identity.md shows them (inventory, group variables, playbook), through real ansible-playbook
runs with the baseline role.

The chains verify with `openssl verify` against the primary's CA; the primary's store stays byte-identical
while the secondaries are issued; a rerun changes nothing; after the primary moves to a new CA (the docs' `ca`
area), security_info on each secondary reports issuer_changed, check mode predicts the reissue, and the next
run reissues them (and retires the primary's previous root on them).
"""

import os
import re
import shutil
import subprocess

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

SECONDARIES = ("se-secondary-1", "se-secondary-2")


def doc_blocks(section, until):
    with open(os.path.join(helpers.REPO, "docs", "identity.md")) as handle:
        text = handle.read()
    body = text[text.index(section):text.index(until)]
    return dict((block.splitlines()[0], block) for block in re.findall(r"```yaml\n(.*?)```", body, re.S))


def _write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "w") as handle:
        handle.write(text)


def _play(tmp_path, *extra):
    return subprocess.run(
        [os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
         str(tmp_path / "server-edition.yml"), "-e", "store_root=%s" % (tmp_path / "stores")] + list(extra),
        capture_output=True, text=True, env=helpers.ansible_env(), cwd=str(tmp_path), timeout=600, check=False)


def _changed(run):
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    recaps = run.stdout.split("PLAY RECAP")[-1]
    return dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^(\S+)\s+:.*?changed=(\d+)", recaps, re.M))


def _verify(tmp_path, secondary):
    ca = str(tmp_path / "stores" / "se-primary" / "current" / "ca" / "cert.pem")
    current = str(tmp_path / "stores" / secondary / "current" / "identity")
    results = []
    for leaf in ("cert.pem", "fullchain.pem"):
        run = subprocess.run(["openssl", "verify", "-no-CAfile", "-no-CApath", "-CAfile", ca,
                              os.path.join(current, leaf)], capture_output=True, text=True, timeout=30, check=False)
        results.append((run.returncode, run.stdout.strip().endswith(": OK")))
    return results


def test_the_documented_server_edition_runs_as_written(tmp_path):
    helpers.need_tool("openssl")
    blocks = doc_blocks("### Server Edition: identities issued by the primary", "### A new internal CA")
    for name in ("# inventory.yml", "# group_vars/se_primary.yml", "# group_vars/se_secondaries.yml",
                 "# server-edition.yml"):
        _write(tmp_path / name[2:], blocks[name])
    stores = dict((name, DirectoryStore(str(tmp_path / "stores" / name))) for name in ("se-primary",) + SECONDARIES)

    assert _changed(_play(tmp_path)) == {"se-primary": 1, "se-secondary-1": 1, "se-secondary-2": 1}
    primary = stores["se-primary"].read()
    for name in SECONDARIES:
        assert _verify(tmp_path, name) == [(0, True), (0, True)]
        state = stores[name].read()
        assert state.identity.meta["source"] == "issued_by"
        assert state.identity.meta["issued_by"] == primary.ca.fingerprint
        assert state.identity.meta["issuer_store"] == stores["se-primary"].path
        assert primary.ca.fingerprint in state.trusted
        assert state.identity.cert.subject.rfc4514_string() == "CN=%s.example.com" % name
    assert _changed(_play(tmp_path)) == {"se-primary": 0, "se-secondary-1": 0, "se-secondary-2": 0}

    # the primary's store is read, never written: byte-identical while the secondaries are issued anew
    for name in SECONDARIES:
        shutil.rmtree(stores[name].path)
    digest = helpers.tree_digest(stores["se-primary"].path)
    assert _changed(_play(tmp_path, "--limit", "se_secondaries")) == {"se-secondary-1": 1, "se-secondary-2": 1}
    assert helpers.tree_digest(stores["se-primary"].path) == digest
    assert [_verify(tmp_path, name) for name in SECONDARIES] == [[(0, True), (0, True)]] * 2

    # the primary moves to a new CA (the docs' ca area): its secondaries report issuer_changed
    new_ca = doc_blocks("### A new internal CA", "## issued_certificate (For Different Machine)")
    _write(tmp_path / "group_vars" / "se_primary.yml",
           new_ca["# group_vars/se_primary.yml: the primary moves to a new CA"])
    assert _changed(_play(tmp_path, "--limit", "se_primary")) == {"se-primary": 1}
    old_fp, moved = primary.ca.fingerprint, stores["se-primary"].read()
    assert moved.ca.cert.subject.rfc4514_string() == "CN=SE Primary Root CA 2025"
    assert old_fp not in moved.trusted  # retired: the primary's own identity moved with it
    info = helpers.run_tasks([{"ipoffice.security.security_info": {"store_path": stores[name].path}}
                              for name in SECONDARIES], tmp_path)
    for result in info.results:
        [finding] = [f for f in result["findings"] if f["code"].startswith("issuer_")]
        assert finding["code"] == "issuer_changed" and finding["where"] == "identity"
        assert (finding["issued_by"], finding["issuer_now"]) == (old_fp, moved.ca.fingerprint)
    digests = [helpers.tree_digest(stores[name].path) for name in SECONDARIES]
    assert _changed(_play(tmp_path, "--limit", "se_secondaries", "--check")) == {"se-secondary-1": 1,
                                                                                 "se-secondary-2": 1}
    assert [helpers.tree_digest(stores[name].path) for name in SECONDARIES] == digests
    assert _changed(_play(tmp_path)) == {"se-primary": 0, "se-secondary-1": 1, "se-secondary-2": 1}
    for name in SECONDARIES:
        assert _verify(tmp_path, name) == [(0, True), (0, True)]
        state = stores[name].read()
        assert state.identity.meta["issued_by"] == moved.ca.fingerprint
        assert old_fp not in state.trusted and moved.ca.fingerprint in state.trusted
        assert _certs.is_issued_by(state.identity.cert, moved.ca.cert)
    info = helpers.run_tasks([{"ipoffice.security.security_info": {"store_path": stores[name].path}}
                              for name in SECONDARIES], tmp_path)
    assert [[f for f in r["findings"] if f["code"].startswith("issuer_")] for r in info.results] == [[], []]
    assert _changed(_play(tmp_path)) == {"se-primary": 0, "se-secondary-1": 0, "se-secondary-2": 0}
