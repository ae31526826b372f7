"""The trusted_certificate module contract through real ansible-playbook runs.

Certificates are made by the real `openssl` CLI (req/x509/pkcs12), the store is a real DirectoryStore on
disk, and the store's tcs/ directory is checked as an OpenSSL CApath with `openssl verify`.
"""

import json
import os
import subprocess

import pytest

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _trusted
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

# Module results: each test runs twice, in the controller's worker and as a module (tests/conftest.py).
pytestmark = pytest.mark.both_paths

MODULE = "ipoffice.security.trusted_certificate"
STORE_ARGS = {"system_name": "ipo1.example.com", "system_addresses": ["192.0.2.10"]}


def openssl(*args, cwd=None):
    return subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=cwd)


class Files(object):
    """Real files made with the openssl CLI: two roots, an intermediate, leaves, DER, bundles, PKCS#12."""

    def __init__(self, root):
        self.root = root

    def path(self, name):
        return os.path.join(self.root, name)

    def read(self, name):
        with open(self.path(name), "rb") as handle:
            return handle.read()

    def text(self, name):
        return self.read(name).decode()

    def fingerprint(self, name):
        return _certs.fingerprint(_certs.load_certificate(self.read(name)))


def _make_ca(files, name, subject, issuer=None):
    key, cert = files.path(name + ".key"), files.path(name + ".pem")
    ext = files.path(name + ".ext")
    with open(ext, "w") as handle:
        handle.write("basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n"
                     "subjectKeyIdentifier=hash\n")
    if issuer is None:
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                "-out", cert, "-days", "3650", "-subj", subject, "-extensions", "v3_ca",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    else:
        _issue(files, name, subject, issuer, ext)


def _issue(files, name, subject, issuer, ext=None):
    key, csr, cert = files.path(name + ".key"), files.path(name + ".csr"), files.path(name + ".pem")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", csr, "-subj", subject)
    if ext is None:
        ext = files.path(name + ".ext")
        with open(ext, "w") as handle:
            handle.write("basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\n"
                         "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n" % subject.split("=")[-1])
    openssl("x509", "-req", "-in", csr, "-CA", files.path(issuer + ".pem"), "-CAkey", files.path(issuer + ".key"),
            "-CAcreateserial", "-out", cert, "-days", "365", "-extfile", ext)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    helpers.need_tool("openssl")
    files = Files(str(tmp_path_factory.mktemp("trusted-files")))
    _make_ca(files, "root_a", "/O=Example/CN=Example Root A")
    _make_ca(files, "inter_a", "/O=Example/CN=Example Issuing CA", issuer="root_a")
    _make_ca(files, "root_b", "/O=Other/CN=Untrusted Root B")
    _issue(files, "leaf_a", "/CN=sbc.example.com", "root_a")
    _issue(files, "leaf_via_inter", "/CN=sm.example.com", "inter_a")
    _issue(files, "leaf_b", "/CN=rogue.example.com", "root_b")
    openssl("x509", "-in", files.path("root_a.pem"), "-outform", "DER", "-out", files.path("root_a.der"))
    with open(files.path("bundle.pem"), "wb") as handle:
        handle.write(files.read("inter_a.pem") + b"\n# comment lines between blocks are fine\n"
                     + files.read("root_b.pem"))
    openssl("pkcs12", "-export", "-in", files.path("leaf_a.pem"), "-inkey", files.path("leaf_a.key"),
            "-certfile", files.path("root_a.pem"), "-out", files.path("leaf_a.p12"), "-passout", "pass:p12secret")
    with open(files.path("roots.pem"), "wb") as handle:
        handle.write(files.read("root_a.pem") + files.read("root_b.pem"))
    openssl("pkcs12", "-export", "-nokeys", "-in", files.path("roots.pem"), "-out", files.path("truststore.p12"),
            "-passout", "pass:changeit")
    return files


def task(args, **extra):
    item = {MODULE: args}
    item.update(extra)
    return item


def info_task(store):
    return {"ipoffice.security.security_info": dict(STORE_ARGS, store_path=store)}


def init_task(store):
    """security_info never initialises a store; an empty certificate_checks run does (generation 1)."""
    return {"ipoffice.security.certificate_checks": dict(STORE_ARGS, store_path=store)}


def test_add_check_mode_diff_idempotence_mixed_pem_der(files, tmp_path):
    store = str(tmp_path / "store")
    base = dict(STORE_ARGS, store_path=store)
    add = dict(base, certificates=[{"path": files.path("root_a.der")}, {"path": files.path("bundle.pem")}])
    # the same set: other order, PEM instead of DER, inline content, a duplicate
    same = dict(base, certificates=[{"content": files.text("root_b.pem")}, {"path": files.path("root_a.pem")},
                                    {"content": files.text("inter_a.pem") + files.text("root_a.pem")}])
    run = helpers.run_tasks([
        init_task(store),
        info_task(store),                                   # 0 initialised: generation 1
        task(add, check_mode=True, diff=True),              # 1 predicts, writes nothing
        info_task(store),                                   # 2 still generation 1
        task(add, diff=True),                               # 3 writes generation 2
        task(same, diff=True),                              # 4 no change
        task(same, check_mode=True),                        # 5 check mode predicts no change
        info_task(store),                                   # 6 still generation 2
    ], tmp_path)
    init, check, after_check, real, again, again_check, final = run.results[1:]
    wanted = set(files.fingerprint(n) for n in ("root_a.pem", "inter_a.pem", "root_b.pem"))
    ca_fp = init["ca"]["sha256"]
    assert init["generation"] == 1 and init["trusted_count"] == 1
    assert check["changed"] is True and after_check["generation"] == 1
    assert set(a["sha256"] for a in check["added"]) == wanted and check["removed"] == []
    assert real["changed"] is True
    for key in ("added", "removed", "entries", "diff", "trusted_count"):
        assert check[key] == real[key], key
    assert set(e["sha256"] for e in real["entries"]) == wanted | {ca_fp} and real["trusted_count"] == 4
    assert [e["sha256"] for e in real["diff"]["before"]["trusted_certificates"]] == [ca_fp]
    assert set(e["sha256"] for e in real["diff"]["after"]["trusted_certificates"]) == wanted | {ca_fp}
    subjects = set(a["subject"] for a in real["added"])
    assert subjects == {"CN=Example Root A,O=Example", "CN=Example Issuing CA,O=Example", "CN=Untrusted Root B,O=Other"}
    assert again["changed"] is False and again["added"] == [] and again["removed"] == []
    assert again["diff"]["before"] == again["diff"]["after"]
    assert again_check["changed"] is False and final["generation"] == 2
    assert "PRIVATE" not in run.stdout and "BEGIN CERTIFICATE" not in json.dumps(real["diff"])


def test_pkcs12_exclusive_and_remove_with_warnings(files, tmp_path):
    store = str(tmp_path / "store")
    base = dict(STORE_ARGS, store_path=store)
    p12 = dict(base, certificates=[{"path": files.path("leaf_a.p12"), "password": "p12secret"},
                                   {"path": files.path("truststore.p12"), "password": "changeit"}])
    exclusive = dict(base, exclusive=True, allow_in_use=True,  # the internal CA is the identity's chain
                     certificates=[{"path": files.path("truststore.p12"), "password": "changeit"}])
    run = helpers.run_tasks([
        init_task(store),
        info_task(store),                                                    # 0
        task(p12, diff=True),                                                # 1 add leaf + root A + root B
        task(p12),                                                           # 2 idempotent (#538)
        task(exclusive, check_mode=True, diff=True),                         # 3 predicts removals
        task(exclusive, diff=True),                                          # 4 removes leaf and internal CA
        task(exclusive),                                                     # 5 idempotent
        task(dict(base, state="absent",
                  certificates=[{"sha256": files.fingerprint("root_b.pem").replace(":", "").upper()}])),  # 6
        task(dict(base, state="absent", certificates=[{"sha256": files.fingerprint("root_b.pem")}])),     # 7
    ], tmp_path)
    init, add, add_again, excl_check, excl, excl_again, absent, absent_again = run.results[1:]
    assert helpers.store_secret_leaks(store, ["p12secret", "changeit"]) == []
    ca_fp = init["ca"]["sha256"]
    leaf, root_a, root_b = (files.fingerprint(n) for n in ("leaf_a.pem", "root_a.pem", "root_b.pem"))
    assert add["changed"] is True and set(a["sha256"] for a in add["added"]) == {leaf, root_a, root_b}
    assert any("private key" in w for w in add.get("warnings", []))
    assert add_again["changed"] is False
    assert excl_check["changed"] is True and excl_check["removed"] == excl["removed"]
    assert set(r["sha256"] for r in excl["removed"]) == {leaf, ca_fp}
    needed = [r for r in excl["removed"] if r["needed_by"]]
    assert [r["sha256"] for r in needed] == [ca_fp] and needed[0]["needed_by"] == ["identity"]
    warning = [w for w in excl["warnings"] if ca_fp in w]
    assert len(warning) == 1 and "IP Office Root CA" in warning[0] and "allow_in_use" in warning[0]
    assert [d["kind"] for d in needed[0]["dependents"]] == ["identity_chain"]
    assert set(e["sha256"] for e in excl["entries"]) == {root_a, root_b}
    assert excl_again["changed"] is False
    assert absent["changed"] is True and [r["sha256"] for r in absent["removed"]] == [root_b]
    assert absent["removed"][0]["needed_by"] == [] and not absent.get("warnings")
    assert absent_again["changed"] is False
    assert [e["sha256"] for e in absent_again["entries"]] == [root_a]
    assert "p12secret" not in run.stdout and "changeit" not in run.stdout


def test_tcs_is_an_openssl_capath_and_bundle_matches(files, tmp_path):
    store = str(tmp_path / "store")
    result = helpers.run_module("trusted_certificate", dict(STORE_ARGS, store_path=store, certificates=[
        {"path": files.path("root_a.pem")}, {"content": files.text("inter_a.pem")}]), tmp_path)
    assert result["changed"] is True
    tcs = os.path.join(store, "current", "tcs")

    def verify(name, *extra):
        return subprocess.run(["openssl", "verify", "-no-CAfile", "-no-CAstore", "-CApath", tcs] + list(extra)
                              + [files.path(name)], capture_output=True, text=True, check=False)

    assert verify("leaf_a.pem").returncode == 0
    assert verify("leaf_via_inter.pem").returncode == 0  # the intermediate is found in the CApath too
    rejected = verify("leaf_b.pem")
    assert rejected.returncode != 0 and "unable to get local issuer certificate" in rejected.stdout + rejected.stderr
    with open(os.path.join(tcs, "bundle.pem"), "rb") as handle:
        bundle = _certs.load_certificates(handle.read())
    assert sorted(_certs.fingerprint(c) for c in bundle) == [e["sha256"] for e in result["entries"]]
    # the same CApath once root A is removed (a new generation, links rebuilt): its leaf is refused
    removed = _trusted.converge(DirectoryStore(store, **STORE_ARGS), [{"path": files.path("root_a.der")}],
                                desired="absent")
    assert removed["changed"] is True
    assert verify("leaf_a.pem").returncode != 0 and verify("leaf_via_inter.pem").returncode != 0


def test_bad_inputs_fail_with_a_code_and_leave_the_store_byte_identical(files, tmp_path):
    store_path = str(tmp_path / "store")
    store = DirectoryStore(store_path, **STORE_ARGS)
    fillers = []
    for index in range(24):
        key = _certs.generate_private_key("sha256_ecdsa_p256")
        fillers.append(_certs.build_certificate("CN=Filler %02d" % index, key, 3650, "sha256_ecdsa_p256", ca=True))
    _trusted.converge(store, [{"content": _certs.certs_pem(fillers).decode()}])
    assert len(store.read().trusted) == 25
    digest = helpers.tree_digest(store_path)
    base = dict(STORE_ARGS, store_path=store_path)
    key_text = files.text("root_b.key")
    truncated_der = files.path("truncated.der")
    with open(truncated_der, "wb") as handle:
        handle.write(files.read("root_a.der")[:150])
    cases = [
        ({"content": files.text("root_b.pem") + key_text}, "private_key_in_bundle", "certificates[0].content"),
        ({"content": "garbage, not a certificate"}, "invalid_certificate", "certificates[0].content"),
        ({"path": truncated_der}, "invalid_certificate", "certificates[0].path"),
        ({"path": files.path("leaf_a.p12"), "password": "wrong-pass"}, "wrong_password", "certificates[0].password"),
        ({"path": files.path("root_b.pem")}, "trusted_store_full", "certificates"),
    ]
    run = helpers.run_tasks([task(dict(base, certificates=[case[0]])) for case in cases]
                            + [task(dict(base, state="absent", exclusive=True, certificates=[]))], tmp_path)
    for result, (_item, code, option) in zip(run.results, cases):
        assert result.get("failed") is True, result
        assert result["error"] == code and result["option"] == option, result
        assert option in result["msg"]
    full = run.results[4]
    assert full["count"] == 26 and full["limit"] == 25 and "26" in full["msg"] and "25" in full["msg"]
    assert run.results[5]["error"] == "option_not_applicable" and run.results[5]["option"] == "exclusive"
    assert helpers.tree_digest(store_path) == digest
    # content is no_log: a private key pasted by mistake never reaches the output or the result
    body = key_text.split("-----")[2].strip().splitlines()[0]
    assert body not in run.stdout and body not in json.dumps(run.results)
