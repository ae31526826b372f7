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


UNPRIVILEGED = 65534  # nobody / nogroup


def unprivileged_ready(path, chown_tree):
    """Hand a tree to the unprivileged user as_unprivileged() runs as (nothing to do when not root)."""
    if os.geteuid() == 0:
        chown_tree(path, UNPRIVILEGED, UNPRIVILEGED)


def as_unprivileged(call):
    """call() as an unprivileged user (a forked child that drops root; root ignores file permissions).

    Returns ("ok", value) or ("raised", "<ExceptionClass>: <code or text>"); values must be JSON-able.
    When the tests do not run as root, call() runs in this process as the current (unprivileged) user.
    """
    if os.geteuid() != 0:
        try:
            return ("ok", call())
        except Exception as exc:  # pylint: disable=broad-except
            return ("raised", "%s: %s" % (exc.__class__.__name__, getattr(exc, "code", None) or exc))
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        try:
            os.setgroups([])
            os.setgid(UNPRIVILEGED)
            os.setuid(UNPRIVILEGED)
            try:
                outcome = ["ok", call()]
            except Exception as exc:  # pylint: disable=broad-except
                outcome = ["raised", "%s: %s" % (exc.__class__.__name__, getattr(exc, "code", None) or exc)]
            os.write(write_fd, json.dumps(outcome).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks = []
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    outcome = json.loads(b"".join(chunks).decode() or '["raised", "child died"]')
    return (outcome[0], outcome[1] if not isinstance(outcome[1], list) else tuple(outcome[1]))


def store_secret_leaks(path, secrets):
    """Where any of ``secrets`` (str or bytes) appears in a store directory, all generations included.

    Files under a generation's ``secrets/`` (0600 by design, where the store keeps secrets on purpose)
    are skipped; every other file and symlink target is searched, as text and base64 (PEM/JSON
    embeddings).  Returns a list of "relative/path: secret" strings: assert it is empty.
    """
    import base64
    needles = []
    for secret in secrets:
        raw = secret.encode() if isinstance(secret, str) else secret
        if not raw:
            continue
        needles.append((raw, raw))
        for shift in range(3):  # base64 of the secret at any alignment inside a larger encoded blob
            encoded = base64.b64encode(b"\0" * shift + raw)[4 * ((shift + 2) // 3) if shift else 0:]
            needles.append((raw, encoded[:-4] if len(encoded) > 8 else encoded))
    found = []
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, path)
            if os.path.islink(full):
                data = os.readlink(full).encode()
            elif os.path.isfile(full) and "secrets" not in rel.split(os.sep)[:-1]:
                with open(full, "rb") as handle:
                    data = handle.read()
            else:
                continue
            for raw, needle in needles:
                if needle and needle in data:
                    found.append("%s: %r" % (rel, raw))
    return sorted(set(found))


class HostileServer(object):
    """A TCP server on 127.0.0.1 that misbehaves on purpose, one thread per connection.

    Behaviours: ``endless_plain`` (HTTP 200, no length, body never ends), ``endless_chunked`` (chunks
    forever), ``huge_length`` (announces a 1 GB body), ``trickle_body`` (a byte of body every
    ``interval``), ``trickle_headers`` (a byte of header every ``interval``), ``trickle_tls`` (after the
    client speaks, a byte every ``interval``: a TLS handshake that never completes).  Use as a context
    manager; ``url`` / ``port``; ``connections`` counts accepted connections.
    """

    def __init__(self, behaviour, interval=0.2):
        import threading
        self.behaviour = behaviour
        self.interval = interval
        self.stop = threading.Event()
        self.connections = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d/scep" % self.port
        self.threads = [threading.Thread(target=self._accept, daemon=True)]

    def __enter__(self):
        self.threads[0].start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        for thread in list(self.threads):
            thread.join(5)
        self.sock.close()
        return False

    def _accept(self):
        import threading
        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _send(self, conn, data):
        conn.sendall(data)

    def _serve(self, conn):
        conn.settimeout(1.0)
        try:
            try:
                conn.recv(65536)  # the request (or the ClientHello)
            except socket.timeout:
                pass
            b = self.behaviour
            if b == "trickle_headers":
                line = b"HTTP/1.1 200 OK\r\nX-Slow: "
                while not self.stop.is_set():
                    self._send(conn, line[:1] if line else b"a")
                    line = line[1:]
                    self.stop.wait(self.interval)
                return
            if b == "trickle_tls":
                self._send(conn, b"\x16\x03\x03\x40\x00")  # a handshake record of 16 KiB, sent a byte at a time
                while not self.stop.is_set():
                    self._send(conn, b"\x02")
                    self.stop.wait(self.interval)
                return
            head = {"endless_plain": b"HTTP/1.1 200 OK\r\nContent-Type: application/x-x509-ca-cert\r\n"
                                     b"Connection: close\r\n\r\n",
                    "endless_chunked": b"HTTP/1.1 200 OK\r\nContent-Type: application/x-x509-ca-cert\r\n"
                                       b"Transfer-Encoding: chunked\r\n\r\n",
                    "huge_length": b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n",
                    "trickle_body": b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"}[b]
            self._send(conn, head)
            block = b"A" * 65536
            while not self.stop.is_set():
                if b == "endless_plain" or b == "huge_length":
                    self._send(conn, block)
                elif b == "endless_chunked":
                    self._send(conn, b"%x\r\n%s\r\n" % (len(block), block))
                else:
                    self._send(conn, b"A")
                    self.stop.wait(self.interval)
        except OSError:
            pass  # the client gave up: what a bounded client does
        finally:
            conn.close()


def bounded_call(call, seconds):
    """(outcome, elapsed): call() in a thread, given ``seconds`` to return; outcome ("ok"|"raised"|"stuck", value)."""
    import threading
    box = {}

    def target():
        try:
            box["ok"] = call()
        except BaseException as exc:  # pylint: disable=broad-except
            box["raised"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    elapsed = time.monotonic() - started
    if thread.is_alive():
        return ("stuck", None), elapsed
    kind = "ok" if "ok" in box else "raised"
    return (kind, box[kind]), elapsed


# Which way the collection's modules run in the playbooks these helpers start: None (the default: in the
# controller's worker when the store is local), "inprocess" or "module" (IPOFFICE_SECURITY_INPROCESS).  Set
# per test by the ipoffice_path fixture (tests/conftest.py); a test module marked ``both_paths`` runs twice.
MODULE_PATH = None
PATHS = ("inprocess", "module")


def path_env(path):
    """The environment that makes ansible-playbook run the collection's modules the ``path`` way."""
    return {"IPOFFICE_SECURITY_INPROCESS": "true" if path == "inprocess" else "false"}


def ansible_env(extra=None):
    env = dict(os.environ)
    env.pop("IPOFFICE_SECURITY_INPROCESS", None)
    if MODULE_PATH:
        env.update(path_env(MODULE_PATH))
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
