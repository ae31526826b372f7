"""Equal by construction: every module gives the same result in the controller's worker and as a module.

The same cases (every module: changes in check mode and for real with diff, no-ops, warnings, the errors
of the modules' own decisions and the argument-spec rejections of Ansible's validator) run in one real
ansible-playbook per path, from the same starting store at the same paths. The registered results are
compared field by field; the only values normalised are times and, in the results of the few cases that
make new keys or PKCS#12 files, the random material (serial numbers, fingerprints, digests).
"""

import json
import os
import re
import shutil

import pytest

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _specs
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

SYSTEM = {"system_name": "ipo1.example.com", "system_addresses": ["192.0.2.10"]}
KEY_PASSWORD = "Key-Pass-Equal-5521"
P12_PASSWORD = "P12-Pass-Equal-7710"
EXPORT_PASSWORD = "Export-Pass-Equal-3390"
NOTE = "change 4711 (equal paths)"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")
RANDOM = [re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){19,}"), re.compile(r"\b[0-9a-f]{20,}\b")]


def write(path, data):
    with open(path, "wb") as handle:
        handle.write(data if isinstance(data, bytes) else data.encode())
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Certificates and keys the cases import, and the starting store (an identity, the internal CA, a SCEP
    password), all in one directory."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    base = tmp_path_factory.mktemp("equal-inputs")
    root_key = _certs.generate_private_key("sha256_ecdsa_p256")
    root = _certs.build_certificate("CN=Equal Partner Root", root_key, 3650, ca=True)
    key = _certs.generate_private_key("sha256_rsa2048")
    leaf = _certs.build_certificate("ipo1.example.com", key, 365, subject_alt_names=["DNS:ipo1.example.com"],
                                    issuer_cert=root, issuer_key=root_key)
    other_key = _certs.generate_private_key("sha256_ecdsa_p256")
    other = _certs.build_certificate("CN=Equal Other Root", other_key, 3650, ca=True)
    found = {
        "dir": str(base),
        "root_pem": _certs.cert_pem(root).decode(),
        "root": write(str(base / "root.pem"), _certs.cert_pem(root)),
        "other": write(str(base / "other.pem"), _certs.cert_pem(other)),
        "leaf_pem": _certs.cert_pem(leaf).decode(),
        "key_pem": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.BestAvailableEncryption(KEY_PASSWORD.encode())).decode(),
        "p12": write(str(base / "other.p12"), pkcs12.serialize_key_and_certificates(
            b"other", None, other, None, serialization.BestAvailableEncryption(P12_PASSWORD.encode()))),
        "garbage": write(str(base / "garbage.pem"), b"-----BEGIN CERTIFICATE-----\nnot base64\n"),
    }
    template = str(base / "template")
    store = DirectoryStore(path=template, **SYSTEM)
    store.update(lambda state: state.secrets.update(scep_password=b"Stored-Scep-Pass"))
    found["template"] = template
    return found


GROUPS = ("areas", "whole")


def cases(inputs, store, work, group):
    """([(task, random)], {name: index}): the cases of one group (``areas``: the per-area modules and the
    readers; ``whole``: security_settings, generation and the cases that make new keys or files), in an order
    that builds on the store's state as it goes; ``random``: the result holds new keys or PKCS#12 files; a
    few cases are named for the test.  The two groups run in parallel."""
    s = dict(store_path=store, **SYSTEM)
    identity = os.path.join(store, "current", "identity", "cert.pem")
    m = "ipoffice.security."
    out, named = [], {}

    def add(module, args, random=False, name=None, **task):
        task.update({m + module: args})
        if name:
            named[name] = len(out)
        out.append((task, random))

    # trusted_certificate
    add("trusted_certificate", dict(s, certificates=[{"path": inputs["root"]}]), check_mode=True)
    add("trusted_certificate", dict(s, certificates=[{"content": inputs["root_pem"]}]))
    add("trusted_certificate", dict(s, certificates=[{"path": inputs["p12"], "password": P12_PASSWORD}]))
    add("trusted_certificate", dict(s, certificates=[{"path": inputs["root"]}]))
    add("trusted_certificate", dict(s, certificates=[{"path": inputs["garbage"]}]))
    add("trusted_certificate", dict(s, certificates=[{"path": inputs["p12"], "password": "Wrong-Pass-0"}]))
    add("trusted_certificate", dict(s, certificates=[{"path": os.path.join(store, "current", "ca", "cert.pem")}],
                                    state="absent"))
    add("trusted_certificate", dict(s, certificates=[{"path": inputs["root"]}], state="maybe"))
    add("trusted_certificate", dict(s, certificates=[{"path": inputs["root"]}], bogus=1), name="unsupported")
    add("trusted_certificate", dict(s), name="missing")
    add("trusted_certificate", dict(s, certificates=[{"path": 5}]), name="number_path")
    add("security_info", dict(s, store_path={"a": 1}), name="dict_store_path")
    # certificate_checks: warnings in check mode and for real
    add("certificate_checks", dict(s, management_interfaces="medium"), check_mode=True)
    add("certificate_checks", dict(s, management_interfaces="medium", certificate_expiry_warning_days=45))
    add("certificate_checks", dict(s, management_interfaces="medium", certificate_expiry_warning_days=45))
    add("certificate_checks", dict(s, lines=[{"name": "a", "transport": "carrier_pigeon"}]))
    add("certificate_checks", dict(s, certificate_expiry_warning_days="many"))
    add("certificate_checks", dict(s, preflight=[{"host": "127.0.0.1"}]))
    # scep: a password that also occurs in other values is removed from them on both paths
    add("scep", dict(s, server="scep.example.com", password="example", update_password="always"),
        check_mode=True)
    add("scep", dict(s, server="scep.example.com", password="example", update_password="always"), name="masked")
    add("scep", dict(s, server="scep.example.com", request_interval=300))
    add("scep", dict(s, enroll=True))
    add("scep", dict(s, timeout="soon"))
    # identity_certificate: import with a key password (check mode, real, again), spec rejections
    imported = dict(s, source="import", certificate_content=inputs["leaf_pem"], private_key_content=inputs["key_pem"],
                    private_key_password=KEY_PASSWORD, chain_content=inputs["root_pem"])
    add("identity_certificate", imported, check_mode=True)
    add("identity_certificate", imported)
    add("identity_certificate", imported)
    add("identity_certificate", dict(imported, private_key_password="Wrong-Key-Pass"))
    add("identity_certificate", dict(imported, certificate_path=inputs["root"]))
    add("identity_certificate", dict(s, source="import"))
    # security_info
    add("security_info", dict(s))
    add("security_info", dict(s, query="trusted[].subject"))
    add("security_info", dict(s, live_endpoints=[{"host": "127.0.0.1"}]))
    # certificate_verify
    add("certificate_verify", dict(s, level="medium", peer_name="ipo1.example.com", certificate={"path": identity}))
    add("certificate_verify", dict(s, level="high_remote", certificate={"content": inputs["leaf_pem"]},
                                   chain=[{"path": inputs["root"]}], fail_on_reject=True))
    add("certificate_verify", dict(s, level="medium", certificate={"content": inputs["leaf_pem"] + inputs["key_pem"]}))
    add("certificate_verify", dict(s, level="medium"))
    add("certificate_verify", dict(s, level="medium", certificate={"path": identity},
                                   endpoint={"host": "127.0.0.1", "port": 1}))
    add("certificate_verify", dict(s, certificate={"path": identity}))
    if group == "areas":
        return out, named
    out, named = [], {}
    # security_settings: several areas in one transaction, check mode, real, again; a failing area; the spec
    settings = dict(s, trusted={"certificates": [{"path": inputs["other"]}]},
                    checks={"telephony_endpoints": "medium", "certificate_expiry_warning_days": 30},
                    scep={"request_interval": 600}, lines=[{"name": "branch", "transport": "websocket_client"}])
    add("security_settings", settings, check_mode=True)
    add("security_settings", settings)
    add("security_settings", settings)
    add("security_settings", dict(settings, trusted={"certificates": [{"path": inputs["garbage"]}]}))
    add("security_settings", dict(s, checks={"bogus": 1}))
    add("security_settings", dict(s, identity={"certificate_path": inputs["root"],
                                               "certificate_content": inputs["root_pem"]}))
    # generation: the records of every generation written above (module, summary, note), then restores
    add("generation", dict(s), name="generations")
    add("generation", dict(s, restore="previous"), check_mode=True)
    add("generation", dict(s, restore="999"))
    add("generation", dict(s, restore="previous"))
    add("generation", dict(s, keep=3))
    # the cases that make new keys or PKCS#12 files come last: what follows them would differ too
    # issued_certificate (new keys: random material normalised)
    issued = dict(s, subject_name="sbc.example.com", format="pem", path=os.path.join(work, "sbc.crt"),
                  private_key_path=os.path.join(work, "sbc.key"))
    add("issued_certificate", issued, random=True, check_mode=True)
    add("issued_certificate", issued, random=True)
    add("issued_certificate", issued, random=True)
    add("issued_certificate", dict(issued, format="pkcs12", path=os.path.join(work, "sbc.p12")))
    add("issued_certificate", dict(s, subject_name="sbc.example.com"))
    # export (PKCS#12 files: random material normalised)
    export = dict(s, path=os.path.join(work, "handoff"), password=EXPORT_PASSWORD)
    add("export", export, random=True, check_mode=True)
    add("export", export, random=True)
    add("export", export, random=True)
    add("export", dict(export, password=None))
    add("export", dict(export, encryption="rot13"))
    add("identity_certificate", dict(s, purpose="telephony", source="ca", subject_name="sip.example.com"),
        random=True)
    return out, named


def run_path(path, inputs, tmp_path, tasks, group):
    """Run ``tasks`` on the ``path`` way from the starting store, at the same store and work paths every time."""
    store, work = (os.path.join(inputs["dir"], name + "-" + group) for name in ("store", "work"))
    for directory in (store, work):
        shutil.rmtree(directory, ignore_errors=True)
    shutil.copytree(inputs["template"], store, symlinks=True)
    os.makedirs(work)
    run = helpers.run_tasks(tasks, tmp_path, diff=True,
                            env=dict(helpers.path_env(path), ANSIBLE_TARGET_LOG_INFO=NOTE, ANSIBLE_VERBOSITY="3"))
    marker = "runs in the controller's worker" if path == "inprocess" else "AnsiballZ_"
    assert run.stdout.count(marker) >= len(tasks), "the %s path did not run every task" % path
    return run.results


def normalised(value, random):
    text = TIME.sub("<time>", json.dumps(value, sort_keys=True))
    if random:
        for pattern in RANDOM:
            text = pattern.sub("<random>", text)
    return json.loads(text)


def differences(a, b, where=""):
    """Every path at which ``a`` and ``b`` differ (field by field)."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = ["%s.%s: only on one path" % (where, key) for key in sorted(set(a) ^ set(b))]
        for key in sorted(set(a) & set(b)):
            found += differences(a[key], b[key], "%s.%s" % (where, key))
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for index, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, "%s[%d]" % (where, index))]
    return [] if a == b else ["%s: %r != %r" % (where, a, b)]


def test_the_cases_cover_every_module(inputs):
    covered = set()
    for group in GROUPS:
        listed, _named = cases(inputs, "/store", "/work", group)
        covered |= set(key for task, _random in listed for key in task if key.startswith("ipoffice.security."))
    assert covered == set("ipoffice.security." + name for name in helpers.EVERY_MODULE)


@pytest.mark.parametrize("group", GROUPS)
def test_every_module_gives_the_same_result_on_both_paths(inputs, tmp_path, group):
    store, work = (os.path.join(inputs["dir"], name + "-" + group) for name in ("store", "work"))
    listed, named = cases(inputs, store, work, group)
    tasks = [task for task, _random in listed]
    results = dict((path, run_path(path, inputs, tmp_path, tasks, group)) for path in helpers.PATHS)
    assert len(results["inprocess"]) == len(results["module"]) == len(tasks)
    kinds = set()
    for index, (task, random) in enumerate(listed):
        module = next(key for key in task if key.startswith("ipoffice.security."))
        a, b = (normalised(results[path][index], random) for path in helpers.PATHS)
        found = differences(a, b)
        assert not found, "case %d (%s %s): %s" % (index, module, task[module], found[:10])
        kinds.add("check_mode" if task.get("check_mode") else "run")
        kinds.update(key for key in ("diff", "warnings") if a.get(key))
        if a.get("failed"):
            kinds.add("failed:" + ("invalid_option" if a.get("error") == "invalid_option" else "decision"))
            assert a.get("error"), "case %d (%s): a failure without a stable code: %s" % (index, module, a)
        if a.get("changed"):
            kinds.add("changed")
    # what the cases cover: each kind of result
    assert kinds >= {"check_mode", "run", "diff", "warnings", "changed", "failed:invalid_option", "failed:decision"}
    inprocess = results["inprocess"]
    if group == "areas":
        # the argument-spec rejections carry AnsibleModule's own messages
        options = ", ".join(sorted(_specs.module_kwargs("trusted_certificate")["argument_spec"]))
        assert inprocess[named["unsupported"]]["msg"] == (
            "Unsupported parameters for (ipoffice.security.trusted_certificate) module: bogus. Supported "
            "parameters include: %s." % options)
        assert inprocess[named["missing"]]["msg"] == "missing required arguments: certificates"
        # a path given as anything but text is refused (Ansible would pass on its printed form as the path)
        assert inprocess[named["number_path"]]["error"] == "invalid_setting"
        assert inprocess[named["number_path"]]["option"] == "certificates[0].path"
        assert inprocess[named["dict_store_path"]]["error"] == "invalid_setting"
        assert inprocess[named["dict_store_path"]]["option"] == "store_path"
        assert not [entry for entry in os.listdir(os.getcwd()) if entry.startswith("{")]
        # a no_log value is removed from every value it occurs in, as AnsibleModule removes it
        masked = inprocess[named["masked"]]
        assert masked["settings"]["server"] == "scep.********.com", masked
    else:
        # the generations record the module and the note (ansible_target_log_info) on both paths
        records = [g["made_by"] for g in inprocess[named["generations"]]["generations"]
                   if (g.get("made_by") or {}).get("module")]
        assert records and all(r["note"] == NOTE for r in records), records
        assert {r["module"] for r in records} == {"ipoffice.security.security_settings"}
