"""No secret in any output, in the controller's worker as well as in the module, at -vvv.

Every no_log option of every module (walked from plugins/module_utils/_specs.py, so a new one must be
added here) gets a secret of its own; the tasks run through both paths at -vvv with tracebacks on, for
real with diff (and in check mode in the worker): successes, the modules' own failures, an argument-spec
rejection, and an exception the collection did not expect (a copy of the collection whose export raises
with the password in its message). Nothing of any secret may reach stdout, stderr or the results.
"""

import json
import os
import shutil

import pytest

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _specs

PW = dict((name, "%s-Secret-%s-91" % (name.capitalize(), "x7Q" + name[:3])) for name in (
    "key", "identity", "trusted", "export", "issued", "scep", "wrong", "telephony", "settings", "crash", "absent",
    "retire", "probe"))
GARBAGE = dict((name, "garbage-%s-Secret-33c1" % name)
               for name in ("csr", "chain", "absent", "verify", "cert", "retire"))
SYSTEM = {"system_name": "ipo1.example.com", "system_addresses": ["192.0.2.10"]}
TRACEBACKS = {"ANSIBLE_VERBOSITY": "3", "ANSIBLE_DISPLAY_TRACEBACK": "always"}


def no_log_options(spec, prefix=""):
    """The paths of every no_log option of an argument spec (list items as ``name[]``)."""
    for name, entry in spec.items():
        path = prefix + name
        if entry.get("no_log"):
            yield path
        if entry.get("options"):
            yield from no_log_options(entry["options"], path + ("[]." if entry.get("type") == "list" else "."))


def given_no_log(spec, args, prefix=""):
    """The no_log option paths that ``args`` sets."""
    found = set()
    for name, value in (args or {}).items():
        entry = spec.get(name)
        if entry is None or value is None:
            continue
        path = prefix + name
        if entry.get("no_log"):
            found.add(path)
        if entry.get("options"):
            items = value if entry.get("type") == "list" else [value]
            for item in items:
                found |= given_no_log(entry["options"], item,
                                      path + ("[]." if entry.get("type") == "list" else "."))
    return found


def needles(secret):
    """What must not appear of a secret: the value, or each body line of a PEM value."""
    if "\n" not in secret:
        return [secret]
    return [line for line in secret.splitlines() if len(line) >= 16 and not line.startswith("-----")]


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    base = tmp_path_factory.mktemp("no-log-material")

    def write(name, data):
        path = str(base / name)
        with open(path, "wb") as handle:
            handle.write(data)
        return path

    def encrypted(key, password):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.BestAvailableEncryption(password.encode())).decode()

    root_key = _certs.generate_private_key("sha256_ecdsa_p256")
    root = _certs.build_certificate("CN=No Log Root", root_key, 3650, ca=True)
    found = {"root": _certs.cert_pem(root).decode(), "dir": str(base)}
    for name in ("identity", "telephony", "p12identity", "p12telephony"):
        key = _certs.generate_private_key("sha256_rsa2048")
        cert = _certs.build_certificate("%s.example.com" % name, key, 365,
                                        subject_alt_names=["DNS:%s.example.com" % name],
                                        issuer_cert=root, issuer_key=root_key)
        found[name] = {"cert": _certs.cert_pem(cert).decode(), "key": encrypted(key, PW["key"]),
                       "plain_key": _certs.key_pem(key).decode()}
        found[name]["p12"] = write(name + ".p12", pkcs12.serialize_key_and_certificates(
            name.encode(), key, cert, [root], serialization.BestAvailableEncryption(PW[
                "identity" if name.endswith("identity") else "telephony"].encode())))
    other_key = _certs.generate_private_key("sha256_ecdsa_p256")
    other = _certs.build_certificate("CN=No Log Other Root", other_key, 3650, ca=True)
    found["trusted_p12"] = write("trusted.p12", pkcs12.serialize_key_and_certificates(
        b"trusted", None, other, None, serialization.BestAvailableEncryption(PW["trusted"].encode())))
    found["other"] = _certs.cert_pem(other).decode()
    probe_key = _certs.generate_private_key("sha256_ecdsa_p256")
    probe = _certs.build_certificate("CN=No Log Probe CA", probe_key, 30, ca=True)
    found["probe_ca"] = write("probe-ca.pem", _certs.cert_pem(probe))
    found["probe_key"] = write("probe-ca.key", encrypted(probe_key, PW["key"]).encode())
    return found


def secret_tasks(material, store, work):
    """One list of tasks that sets every no_log option of every module at least once."""
    s = dict(store_path=store, **SYSTEM)
    m = material
    identity = dict(source="import", certificate_content=m["identity"]["cert"],
                    private_key_content=m["identity"]["key"], private_key_password=PW["key"], chain_content=m["root"],
                    password=PW["settings"])
    telephony = dict(source="import", certificate_path=m["p12telephony"]["p12"], password=PW["telephony"])
    p12 = dict(source="import", certificate_path=m["p12identity"]["p12"], password=PW["identity"])
    tasks = [
        ("identity_certificate", dict(s, **identity)),
        ("identity_certificate", dict(s, **p12)),
        ("identity_certificate", dict(s, purpose="telephony", source="import",
                                      certificate_content=m["telephony"]["cert"],
                                      private_key_content=m["telephony"]["key"], private_key_password=PW["wrong"],
                                      chain_content=GARBAGE["chain"])),
        ("identity_certificate", dict(s, bogus=True, **identity)),
        ("trusted_certificate", dict(s, certificates=[{"content": m["other"]},
                                                      {"path": m["trusted_p12"], "password": PW["trusted"]}])),
        ("trusted_certificate", dict(s, certificates=[{"content": GARBAGE["cert"], "password": PW["absent"]}])),
        ("certificate_verify", dict(s, level="medium", peer_name="identity.example.com",
                                    certificate={"content": m["identity"]["cert"]}, chain=[{"content": m["root"]}],
                                    trusted=[{"content": m["root"]}])),
        ("certificate_verify", dict(s, level="medium", certificate={"content": m["identity"]["cert"] +
                                                                    m["identity"]["plain_key"]},
                                    chain=[{"content": GARBAGE["verify"]}])),
        ("scep", dict(s, server="scep.example.com", password=PW["scep"], update_password="always")),
        ("scep", dict(s, enroll=True, active=False, password=PW["scep"], update_password="always")),
        ("issued_certificate", dict(s, csr_content=GARBAGE["csr"], path=os.path.join(work, "csr.crt"))),
        ("issued_certificate", dict(s, subject_name="sbc.example.com", format="pkcs12", password=PW["issued"],
                                    path=os.path.join(work, "sbc.p12"))),
        ("export", dict(s, path=os.path.join(work, "handoff"), password=PW["export"])),
        ("security_settings", dict(
            s, identity=identity, telephony_identity=telephony,
            trusted={"certificates": [{"content": m["root"]}, {"path": m["trusted_p12"], "password": PW["trusted"]}],
                     "absent": [{"content": GARBAGE["absent"], "password": PW["absent"]}]},
            scep={"server": "scep.example.com", "password": PW["scep"], "update_password": "always"})),
        ("security_settings", dict(
            s, identity=p12,
            telephony_identity=dict(identity, certificate_content=m["telephony"]["cert"],
                                    private_key_content=m["telephony"]["key"]))),
        ("security_settings", dict(
            s, trusted={"retire": [{"content": GARBAGE["retire"], "password": PW["retire"]}]})),
        ("security_info", dict(s)),
        # the probe CA's key password is wrong: refused before any connection (the port is never contacted)
        ("security_info", dict(s, live_endpoints=[{"host": "127.0.0.1", "port": 9, "serves": "management",
                                                   "probe": True}],
                               live_probe_ca={"certificate_path": m["probe_ca"], "private_key_path": m["probe_key"],
                                              "private_key_password": PW["probe"]})),
    ]
    return [({"ipoffice.security." + module: args}, module, args) for module, args in tasks]


def every_secret(material, tasks):
    specs = dict((name, _specs.module_kwargs(name)["argument_spec"]) for name in _specs.MODULES)
    values = set(PW.values()) | set(GARBAGE.values())
    for name in ("identity", "telephony", "p12identity", "p12telephony"):
        values |= {material[name]["key"], material[name]["plain_key"]}
    for _task, module, args in tasks:
        for path in given_no_log(specs[module], args):
            for value in _values_at(args, path.split(".")):
                values.add(value)
    return sorted(values)


def _values_at(args, parts):
    name, rest = parts[0], parts[1:]
    items = args.get(name.rstrip("[]")) if isinstance(args, dict) else None
    if items is None:
        return []
    if name.endswith("[]"):
        return [v for item in items for v in _values_at(item, rest)]
    return _values_at(items, rest) if rest else [items]


def leaks(text, secrets):
    return sorted(set(needle for secret in secrets for needle in needles(secret) if needle in text))


def test_every_no_log_option_is_fed_a_secret(material, tmp_path):
    """The tasks below really set every no_log option of every module (new ones must be added)."""
    specs = dict((name, _specs.module_kwargs(name)["argument_spec"]) for name in _specs.MODULES)
    wanted = set((name, path) for name, spec in specs.items() for path in no_log_options(spec))
    given = set()
    for _task, module, args in secret_tasks(material, str(tmp_path / "store"), str(tmp_path)):
        given |= set((module, path) for path in given_no_log(specs[module], args))
    assert wanted and wanted - given == set(), sorted(wanted - given)


@pytest.mark.parametrize("path", helpers.PATHS)
def test_no_secret_in_any_output_at_vvv(material, tmp_path, path):
    store, work = str(tmp_path / "store"), str(tmp_path / "work")
    os.makedirs(work)
    listed = secret_tasks(material, store, work)
    tasks = [task for task, _module, _args in listed]
    secrets = every_secret(material, listed)
    env = dict(helpers.path_env(path), **TRACEBACKS)
    # check mode on the new path only: the module path is AnsibleModule's own, and costs a process per task
    checked = [helpers.run_tasks(tasks, tmp_path, check=True, diff=True, env=env)] if path == "inprocess" else []
    run = helpers.run_tasks(tasks, tmp_path, diff=True, env=env)
    marker = "runs in the controller's worker" if path == "inprocess" else "AnsiballZ_"
    assert run.stdout.count(marker) >= len(tasks), run
    outcomes = [(r.get("failed", False), r.get("error")) for r in run.results]
    # successes and failures of each kind were really produced
    assert (False, None) in outcomes and (True, "invalid_option") in outcomes, outcomes
    assert any(failed and error not in (None, "invalid_option") for failed, error in outcomes), outcomes
    assert run.results[3]["error"] == "invalid_option" and "bogus" in run.results[3]["msg"]
    for output in checked + [run]:
        everything = output.stdout + output.stderr + json.dumps(output.results)
        assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in everything  # -vvv printed the masked invocations
        found = leaks(everything, secrets)
        assert not found, "%s path: secrets in the output, e.g. after: %r" % (
            path, everything[max(0, everything.index(found[0]) - 300):everything.index(found[0])])


def crashing_collection(tmp_path):
    """A copy of the collection whose export raises an exception it does not expect, with the password in it."""
    root = tmp_path / "collections"
    copy = root / "ansible_collections" / "ipoffice" / "security"
    for name in ("plugins", "meta"):
        shutil.copytree(os.path.join(helpers.REPO, name), str(copy / name),
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(helpers.REPO, "galaxy.yml"), str(copy / "galaxy.yml"))
    with open(str(copy / "plugins" / "module_utils" / "_export.py"), "a") as handle:
        handle.write('\n\ndef run(store, params, check_mode, want_diff):  # test copy: a bug that leaks\n'
                     '    raise RuntimeError("export broke while using %s" % params["password"])\n')
    return str(root)


@pytest.mark.parametrize("path", helpers.PATHS)
def test_an_unexpected_exception_is_a_failure_without_the_secret(tmp_path, path):
    collections = crashing_collection(tmp_path)
    store = str(tmp_path / "store")
    task = {"ipoffice.security.export": dict(store_path=store, path=str(tmp_path / "handoff"), password=PW["crash"],
                                             **SYSTEM)}
    env = dict(helpers.path_env(path), ANSIBLE_COLLECTIONS_PATH=collections, **TRACEBACKS)
    run = helpers.run_tasks([task], tmp_path, diff=True, env=env)
    result = run.results[0]
    assert result["failed"] is True and result["error"] == "unexpected_error", result
    assert result["msg"].startswith("Unexpected error in ipoffice.security.export: RuntimeError: export broke "
                                    "while using ********. This is a bug in ipoffice.security"), result["msg"]
    everything = run.stdout + run.stderr + json.dumps(run.results)
    assert "Traceback" in everything and "_export.py" in everything  # the traceback was shown (masked)
    assert PW["crash"] not in everything
    assert not os.path.exists(store)
