"""Shared test helpers: the collection on sys.path, tool requirements, playbook runs, local servers.

Import as ``import helpers`` (tests/ is on sys.path through tests/conftest.py).
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
VENV_BIN = os.path.dirname(sys.executable)
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def ensure_collection_path():
    """ansible_collections/ipoffice/security -> the repo, so the collection imports in tests."""
    link = os.path.join(COLLECTIONS, "ansible_collections", "ipoffice", "security")
    if not os.path.lexists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(REPO, link)
        except FileExistsError:
            pass
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)


def need(condition, reason):
    """Skip with a reason locally; fail under CI=true, so nothing silently stops being tested."""
    if condition:
        return
    if IN_CI:
        pytest.fail("required under CI: " + reason)
    pytest.skip(reason)


def need_tool(name, hint=None):
    path = shutil.which(name) or (os.path.join(VENV_BIN, name) if os.path.exists(os.path.join(VENV_BIN, name))
                                  else None)
    need(path is not None, "%s is not installed%s" % (name, (" (" + hint + ")") if hint else ""))
    return path


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=10.0, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError("server exited with %s before listening on %d" % (process.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on 127.0.0.1:%d after %ss" % (port, timeout))


@contextlib.contextmanager
def openssl_server(cert_file, key_file, chain_file=None, extra_args=(), port=None):
    """A real `openssl s_server` on 127.0.0.1 presenting cert (+ chain). Yields the port; stops it after.

    ``port``: listen there (e.g. to replace a server by another on the same port); a free one by default.
    """
    need_tool("openssl")
    port = port or free_port()
    args = ["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert", cert_file, "-key", key_file,
            "-www", "-quiet"]
    if chain_file:
        args += ["-cert_chain", chain_file]
    args += list(extra_args)
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, process=process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tree_digest(path):
    """Every entry under path (files, links, modes, contents): equal digests mean byte-identical trees."""
    import hashlib
    digest = hashlib.sha256()
    if not os.path.lexists(path):
        return "absent"
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(root, name)
            st = os.lstat(full)
            digest.update(("%s %o\n" % (os.path.relpath(full, path), st.st_mode)).encode())
            if os.path.islink(full):
                digest.update(os.readlink(full).encode())
            elif os.path.isfile(full):
                with open(full, "rb") as handle:
                    digest.update(handle.read())
    return digest.hexdigest()


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_LOCAL_TEMP": os.path.join(tempfile.gettempdir(), "ipoffice-ansible-local"),
        "ANSIBLE_REMOTE_TEMP": os.path.join(tempfile.gettempdir(), "ipoffice-ansible-remote"),
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
    })
    env.update(extra or {})
    return env


class PlaybookRun(object):
    def __init__(self, process, results):
        self.rc = process.returncode
        self.stdout = process.stdout
        self.stderr = process.stderr
        self.results = results  # one registered result per task, in order

    def __repr__(self):
        return "PlaybookRun(rc=%s)\nSTDOUT:\n%s\nSTDERR:\n%s" % (self.rc, self.stdout[-6000:], self.stderr[-3000:])


def run_tasks(tasks, tmp_path, check=False, diff=False, extra_vars=None, env=None, timeout=300, interpreter=None,
              ansible_bin=None):
    """Run tasks in a real `ansible-playbook` on localhost; return every task's registered result.

    ``interpreter``: the managed node's Python (default: this virtualenv's); ``ansible_bin``: the
    directory of the ansible-playbook to run (default: this virtualenv's bin/).

    Each task is registered and made ignore_errors so that failures can be asserted; the results are
    written out by a final task that always runs (also in check mode).
    """
    tmp_path = str(tmp_path)
    results_file = os.path.join(tmp_path, "results-%d.json" % int(time.time() * 1e6))
    play_tasks = []
    names = []
    for index, task in enumerate(tasks):
        task = dict(task)
        name = "r%d" % index
        task["register"] = name
        task.setdefault("ignore_errors", True)
        names.append(name)
        play_tasks.append(task)
    dump = "{{ [%s] | to_json }}" % ", ".join("%s | default({})" % n for n in names)
    dump_task = {"content": dump, "dest": results_file, "mode": "0600"}
    play_tasks.append({"name": "dump results", "ansible.builtin.copy": dump_task, "check_mode": False, "diff": False})
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": play_tasks,
             "vars": {"ansible_python_interpreter": interpreter or sys.executable}}]
    playbook = os.path.join(tmp_path, "play-%d.yml" % int(time.time() * 1e6))
    with open(playbook, "w") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    args = [os.path.join(ansible_bin or VENV_BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", playbook]
    if check:
        args.append("--check")
    if diff:
        args.append("--diff")
    if extra_vars:
        args += ["-e", json.dumps(extra_vars)]
    process = subprocess.run(args, capture_output=True, text=True, env=ansible_env(env), timeout=timeout,
                             cwd=tmp_path, check=False)
    results = []
    if os.path.exists(results_file):
        with open(results_file) as handle:
            results = json.load(handle)
    run = PlaybookRun(process, results)
    assert process.returncode == 0 and results, repr(run)
    return run


def extra_venv(name):
    """The Python of the extra virtualenv .build/venvs/<name> (tools/venv.sh builds it from
    tools/venvs/<name>.txt on first use, from PyPI; cached after)."""
    process = subprocess.run(["bash", os.path.join(REPO, "tools", "venv.sh"), name], capture_output=True, text=True,
                             check=False, timeout=1200)
    need(process.returncode == 0, "cannot build the virtualenv %s (needs PyPI): %s" % (name, process.stderr[-800:]))
    return os.path.join(process.stdout.strip().splitlines()[-1], "bin", "python")


# Every module of the collection, in the order of every_module_tasks().
EVERY_MODULE = ("identity_certificate", "trusted_certificate", "certificate_checks", "scep", "security_info",
                "certificate_verify", "issued_certificate", "security_settings", "generation", "export")


def every_module_tasks(store, work):
    """One task per module (EVERY_MODULE order) against a new store, each with valid arguments: the first
    four set the store's state (the second asks for the internal root CA, which a new store already trusts),
    security_info reads it, certificate_verify judges the store's identity at medium,
    issued_certificate writes sbc.crt and sbc.key into ``work``, security_settings gives two areas in one
    transaction (the checks as certificate_checks left them, a new SCEP interval), generation lists the
    generations, export writes the handoff files to work/handoff."""
    root = os.path.join(store, "current", "ca", "cert.pem")
    return [
        {"ipoffice.security.identity_certificate": {"store_path": store, "source": "ca", "subject_name": "ipo.test",
                                                    "subject_alt_names": ["DNS:ipo.test"]}},
        {"ipoffice.security.trusted_certificate": {"store_path": store, "certificates": [{"path": root}]}},
        {"ipoffice.security.certificate_checks": {"store_path": store, "certificate_expiry_warning_days": 45,
                                                  "management_interfaces": "medium"}},
        {"ipoffice.security.scep": {"store_path": store, "active": True, "server": "scep.test",
                                    "password": "not-a-secret-here", "update_password": "on_create"}},
        {"ipoffice.security.security_info": {"store_path": store}},
        {"ipoffice.security.certificate_verify": {"store_path": store, "level": "medium", "purpose": "server",
                                                  "certificate": {"path": os.path.join(store, "current", "identity",
                                                                                       "cert.pem")}}},
        {"ipoffice.security.issued_certificate": {"store_path": store, "subject_name": "sbc.test", "format": "pem",
                                                  "path": os.path.join(work, "sbc.crt"),
                                                  "private_key_path": os.path.join(work, "sbc.key")}},
        {"ipoffice.security.security_settings": {"store_path": store, "checks": {"certificate_expiry_warning_days": 45},
                                                 "scep": {"request_interval": 300}}},
        {"ipoffice.security.generation": {"store_path": store}},
        {"ipoffice.security.export": {"store_path": store, "path": os.path.join(work, "handoff"),
                                      "password": "not-a-secret-here"}},
    ]


def run_module(module, args, tmp_path, check=False, diff=False):
    """One task of ipoffice.security.<module> through ansible-playbook; its registered result."""
    run = run_tasks([{"ipoffice.security.%s" % module: args}], tmp_path, check=check, diff=diff)
    return run.results[0]
