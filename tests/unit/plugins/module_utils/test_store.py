"""DirectoryStore: initialisation, TLS-service files, generations, crash safety, locking, corruption, symlinks.

Real files, real processes (fork + SIGKILL, concurrent writers), real `openssl verify` on the CApath.
"""

import datetime
import fcntl
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils import _store
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, DirectoryStore

NAME = "ipo1.example.com"
ADDRESSES = ["192.0.2.10", "2001:db8::10"]


def make_store(path, **kwargs):
    kwargs.setdefault("system_name", NAME)
    kwargs.setdefault("system_addresses", ADDRESSES)
    return DirectoryStore(str(path), **kwargs)


def noop(state):
    return None


def increment(state):
    state.data["counter"] = state.data.get("counter", 0) + 1
    return state.data["counter"]


def mode(path):
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


def read(path):
    with open(str(path), "rb") as handle:
        return handle.read()


def openssl(*args, check=True):
    helpers.need_tool("openssl")
    process = subprocess.run(["openssl"] + [str(a) for a in args], capture_output=True, check=False, timeout=60)
    if check:
        assert process.returncode == 0, process.stdout.decode() + process.stderr.decode()
    return process


@pytest.fixture(scope="module")
def server_template(tmp_path_factory):
    """One initialised server-platform store, copied by tests that need a fresh one (saves key generation)."""
    path = tmp_path_factory.mktemp("template") / "store"
    result = make_store(path).update(noop)
    assert result.changed and result.written
    return path


@pytest.fixture
def store(server_template, tmp_path):
    path = tmp_path / "store"
    shutil.copytree(str(server_template), str(path), symlinks=True)
    return make_store(path)


def current(store):
    return os.path.join(store.path, os.readlink(store.current_link))


# ------------------------------------------------------------------------------------------ fresh init


def test_fresh_server_store(tmp_path):
    path = tmp_path / "store"
    result = make_store(path).update(noop)
    assert result.changed is True and result.written is True
    assert result.before.initialised is False and result.after.generation == 1
    assert os.readlink(str(path / "current")) == "generations/000001"
    gen = path / "generations" / "000001"
    assert sorted(os.listdir(str(gen))) == ["ca", "identity", "settings.json", "tcs"]
    assert sorted(os.listdir(str(gen / "identity"))) == ["cert.pem", "chain.pem", "fullchain.pem", "key.pem"]
    assert sorted(os.listdir(str(gen / "ca"))) == ["cert.pem", "key.pem"]

    ca = _certs.load_certificate(read(gen / "ca" / "cert.pem"))
    ca_key = _certs.load_private_key(read(gen / "ca" / "key.pem"))
    ident = _certs.load_certificate(read(gen / "identity" / "cert.pem"))
    key = _certs.load_private_key(read(gen / "identity" / "key.pem"))
    assert _certs.key_matches(ca, ca_key) and _certs.key_matches(ident, key)

    # internal root CA: RSA-2048, SHA-256, ~10 years, self-signed CA
    ca_info = _certs.cert_info(ca)
    assert (ca_info["key_type"], ca_info["key_bits"]) == ("RSA", 2048)
    assert ca.signature_hash_algorithm.name == "sha256"
    assert ca_info["is_ca"] and ca_info["self_signed"]
    ca_days = (ca.not_valid_after_utc - ca.not_valid_before_utc).days
    assert 3650 <= ca_days <= 3653

    # identity: signed by the CA, ~7 years, RSA-2048/SHA-256, EKU serverAuth+clientAuth, SAN name + addresses
    info = _certs.cert_info(ident)
    assert _certs.is_issued_by(ident, ca) and not info["self_signed"] and not info["is_ca"]
    assert (info["key_type"], info["key_bits"]) == ("RSA", 2048)
    assert ident.signature_hash_algorithm.name == "sha256"
    assert 2555 <= (ident.not_valid_after_utc - ident.not_valid_before_utc).days <= 2558
    eku = ident.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert info["subject_alt_names"] == ["DNS:" + NAME, "IP:192.0.2.10", "IP:2001:db8::10"]
    assert info["common_name"] == NAME

    # the CA is in the TCS; the chain reaches the root
    document = json.loads(read(gen / "settings.json"))
    assert document["trusted"] == [_certs.fingerprint(ca)]
    assert document["schema_version"] == 1 and document["platform"] == "server" and document["generation"] == 1
    assert document["settings"]["checks"]["h323_security_level"] == "high"
    assert document["settings"]["checks"]["sip_security_level"] == "high"
    assert document["credentials"]["identity"]["sha256"] == _certs.fingerprint(ident)
    assert read(gen / "identity" / "chain.pem") == _certs.cert_pem(ca)
    assert read(gen / "identity" / "fullchain.pem") == _certs.cert_pem(ident) + _certs.cert_pem(ca)
    assert b"PRIVATE" not in read(gen / "settings.json")

    # reading back gives the same state
    again = make_store(path).read()
    assert again.snapshot() == result.after.snapshot()
    assert again.generation == 1 and again.initialised


def test_fresh_store_permissions(tmp_path):
    path = tmp_path / "store"
    make_store(path).update(lambda s: s.secrets.__setitem__("scep_password", b"s3cret"))
    assert mode(path) == 0o700
    assert mode(path / ".lock") == 0o600
    keys = secrets = 0
    for root, dirs, files in os.walk(str(path)):
        for name in dirs:
            if not os.path.islink(os.path.join(root, name)):  # 'current' is a link to a generation
                assert mode(os.path.join(root, name)) == 0o700, os.path.join(root, name)
        for name in files:
            full = os.path.join(root, name)
            if os.path.islink(full):
                continue
            assert mode(full) & 0o022 == 0, full  # nothing group/other-writable
            if name == "key.pem" or os.path.basename(root) == "secrets":
                assert mode(full) == 0o600, full
                keys += name == "key.pem"
                secrets += os.path.basename(root) == "secrets"
    assert keys == 2 and secrets == 1
    assert read(path / "current" / "secrets" / "scep_password") == b"s3cret"
    assert b"s3cret" not in read(path / "current" / "settings.json")


def test_store_root_mode_is_tightened(tmp_path):
    path = tmp_path / "store"
    os.mkdir(str(path), 0o755)
    os.chmod(str(path), 0o755)
    make_store(path).update(noop)
    assert mode(path) == 0o700


def test_fresh_ip500v2_store(tmp_path):
    path = tmp_path / "store"
    result = make_store(path, platform="ip500v2").update(noop)
    gen = path / "current"
    assert sorted(os.listdir(str(gen))) == ["identity", "settings.json", "tcs"]  # no internal CA
    ident = _certs.load_certificate(read(gen / "identity" / "cert.pem"))
    info = _certs.cert_info(ident)
    assert info["self_signed"] is True
    assert (ident.not_valid_after_utc - ident.not_valid_before_utc).days == 825
    assert (info["key_type"], info["key_bits"]) == ("RSA", 2048)
    assert info["subject_alt_names"] == ["DNS:" + NAME, "IP:192.0.2.10", "IP:2001:db8::10"]
    eku = ident.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert result.after.ca is None and result.after.trusted == {}
    settings = json.loads(read(gen / "settings.json"))
    assert settings["platform"] == "ip500v2"
    assert settings["settings"]["checks"]["h323_security_level"] == "medium"
    assert settings["settings"]["checks"]["sip_security_level"] == "medium"
    assert read(gen / "identity" / "fullchain.pem") == _certs.cert_pem(ident)
    assert read(gen / "identity" / "chain.pem") == b""
    assert os.listdir(str(gen / "tcs")) == ["bundle.pem"] and read(gen / "tcs" / "bundle.pem") == b""


def test_platform_only_applies_to_new_stores(store):
    with pytest.raises(SecurityError) as err:
        make_store(store.path, platform="ip500v2").read()
    assert err.value.code == "platform_mismatch" and err.value.option == "platform"
    assert "'server'" in err.value.message and "'ip500v2'" in err.value.message


def test_store_path_that_is_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    for call in (lambda s: s.read(), lambda s: s.update(noop)):
        with pytest.raises(SecurityError) as err:
            call(make_store(path))
        assert err.value.code == "corrupt_store" and "not a directory" in err.value.message
    assert path.read_text() == "x"


# ------------------------------------------------------------------------------------- TLS-service files


def test_openssl_verifies_identity_with_the_tcs_capath(store):
    gen = current(store)
    for purpose in ("sslserver", "sslclient"):
        out = openssl("verify", "-purpose", purpose, "-CApath", os.path.join(gen, "tcs"),
                      os.path.join(gen, "identity", "cert.pem"))
        assert out.stdout.strip().endswith(b"OK")
    # and without the CApath it is not trusted: the CApath is what makes it verify
    out = openssl("verify", "-no-CApath", "-no-CAfile", "-no-CAstore", os.path.join(gen, "identity", "cert.pem"),
                  check=False)
    assert out.returncode != 0


def test_tcs_capath_links_and_bundle(store):
    other_key = _certs.generate_private_key("sha256_ecdsa_p256")
    extra = [_certs.build_certificate("CN=Partner Root %d" % i, other_key, 60, ca=True) for i in range(2)]
    # same subject as an existing entry: the hash links must get .0 and .1
    twin = _certs.build_certificate(extra[0].subject, _certs.generate_private_key("sha256_ecdsa_p256"), 60, ca=True)
    store.update(lambda s: s.add_trusted(extra + [twin]))
    state = store.read()
    tcs = os.path.join(current(store), "tcs")
    entries = state.trusted_certificates()
    assert len(entries) == 4
    # bundle.pem is exactly the entries, in the store's (fingerprint) order
    assert read(os.path.join(tcs, "bundle.pem")) == b"".join(_certs.cert_pem(c) for c in entries)
    assert [_certs.fingerprint(c) for c in _certs.load_certificates(read(os.path.join(tcs, "bundle.pem")))] == \
        sorted(state.trusted)
    links = {}
    for name in os.listdir(tcs):
        full = os.path.join(tcs, name)
        if os.path.islink(full):
            target = os.readlink(full)
            assert "/" not in target  # relative, inside tcs/
            links[name] = target
        elif name != "bundle.pem":
            cert = _certs.load_certificate(read(full))
            assert name == _certs.fingerprint(cert).replace(":", "") + ".pem"
            assert mode(full) == 0o644
    assert len(links) == 4
    for name, target in links.items():
        theirs = openssl("x509", "-noout", "-hash", "-in", os.path.join(tcs, target)).stdout.decode().strip()
        assert name.rsplit(".", 1)[0] == theirs
    twin_hash = _certs.subject_hash(twin)
    assert {"%s.0" % twin_hash, "%s.1" % twin_hash} <= set(links)


def test_fullchain_honours_offer_id_certificate_chain(store):
    def chain_off(state):
        state.settings["identity"]["offer_id_certificate_chain"] = False
    store.update(chain_off)
    gen = current(store)
    cert = read(os.path.join(gen, "identity", "cert.pem"))
    ca = read(os.path.join(gen, "ca", "cert.pem"))
    assert read(os.path.join(gen, "identity", "fullchain.pem")) == cert
    assert read(os.path.join(gen, "identity", "chain.pem")) == ca  # chain.pem is always the issuers

    def chain_on(state):
        state.settings["identity"]["offer_id_certificate_chain"] = True
    store.update(chain_on)
    assert read(os.path.join(current(store), "identity", "fullchain.pem")) == cert + ca


def test_fullchain_climbs_intermediates_in_the_tcs(store):
    root_key = _certs.generate_private_key("sha256_ecdsa_p256")
    root = _certs.build_certificate("CN=Corp Root", root_key, 365, ca=True)
    inter_key = _certs.generate_private_key("sha256_ecdsa_p256")
    inter = _certs.build_certificate("CN=Corp Issuing", inter_key, 365, ca=True, issuer_cert=root,
                                     issuer_key=root_key)
    key = _certs.generate_private_key("sha256_ecdsa_p256")
    ident = _certs.build_certificate(NAME, key, 90, subject_alt_names=["DNS:" + NAME], issuer_cert=inter,
                                     issuer_key=inter_key)
    tel_key = _certs.generate_private_key("sha256_ecdsa_p256")
    tel = _certs.build_certificate("sip." + NAME, tel_key, 90, subject_alt_names=["DNS:sip." + NAME],
                                   issuer_cert=inter, issuer_key=inter_key)

    def install(state):
        state.add_trusted([root, inter])
        state.identity = Credential(ident, key, {"source": "import"})
        state.telephony = Credential(tel, tel_key, {"source": "import"})
    store.update(install)
    gen = current(store)
    pem = _certs.cert_pem
    assert read(os.path.join(gen, "identity", "fullchain.pem")) == pem(ident) + pem(inter) + pem(root)
    assert read(os.path.join(gen, "identity", "chain.pem")) == pem(inter) + pem(root)
    assert read(os.path.join(gen, "telephony", "fullchain.pem")) == pem(tel) + pem(inter) + pem(root)
    assert mode(os.path.join(gen, "telephony", "key.pem")) == 0o600
    for slot in ("identity", "telephony"):
        openssl("verify", "-CApath", os.path.join(gen, "tcs"), os.path.join(gen, slot, "cert.pem"))
    # and the files work for a real TLS server: s_server presents the full chain, s_client verifies it
    with helpers.openssl_server(os.path.join(gen, "identity", "cert.pem"), os.path.join(gen, "identity", "key.pem"),
                                os.path.join(gen, "identity", "chain.pem")) as port:
        client = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CApath",
                                 os.path.join(gen, "tcs"), "-verify_return_error", "-verify_hostname", NAME,
                                 "-showcerts"], input=b"", capture_output=True, check=False, timeout=30)
    assert b"Verify return code: 0 (ok)" in client.stdout, client.stdout.decode()
    assert client.stdout.count(b"BEGIN CERTIFICATE") == 3


# ---------------------------------------------------------------------------------- generations, reads


def test_keeps_the_last_ten_generations_by_default(store):
    for _index in range(12):
        store.update(increment)
    generations = store.generations()
    assert [g["generation"] for g in generations] == list(range(13, 3, -1))
    assert [g["current"] for g in generations] == [True] + [False] * 9
    assert sorted(os.listdir(store.generations_dir)) == ["%06d" % n for n in range(4, 14)]
    assert all(g["written"] for g in generations)
    # every kept generation is a whole, loadable state
    for g in generations:
        state = store._load(g["path"])
        assert state.data["counter"] == g["generation"] - 1


def test_unchanged_update_writes_nothing(store):
    before = helpers.tree_digest(store.path)
    result = store.update(noop)
    assert result.changed is False and result.written is False
    assert helpers.tree_digest(store.path) == before


def test_failed_mutation_writes_nothing(store):
    before = helpers.tree_digest(store.path)

    def fail(state):
        state.data["counter"] = 99
        raise SecurityError("invalid_choice", "no")
    with pytest.raises(SecurityError):
        store.update(fail)
    assert helpers.tree_digest(store.path) == before


def test_trusted_store_limit_is_checked_before_writing(store):
    key = _certs.generate_private_key("sha256_ecdsa_p256")
    certs = [_certs.build_certificate("CN=r%d" % i, key, 30, ca=True) for i in range(25)]
    before = helpers.tree_digest(store.path)
    with pytest.raises(SecurityError) as err:
        store.update(lambda s: s.add_trusted(certs))  # the CA is already there: 26
    assert err.value.code == "trusted_store_full" and "25" in err.value.message
    assert helpers.tree_digest(store.path) == before
    store.update(lambda s: s.set_trusted(certs))
    assert len(store.read().trusted) == 25


def test_check_mode_never_writes(tmp_path, store):
    fresh = tmp_path / "never"
    result = make_store(fresh).update(increment, check_mode=True)
    assert result.changed is True and result.written is False
    assert not os.path.lexists(str(fresh))  # not even the directory

    before = helpers.tree_digest(store.path)
    assert store.update(increment, check_mode=True).changed is True
    assert store.update(noop, check_mode=True).changed is False
    assert helpers.tree_digest(store.path) == before


# ------------------------------------------------------------------------------------------ crash safety


def _one_writer(store, report_fd):
    """Child process body: one update (a short-lived writer), reporting the committed value."""
    try:
        value = store.update(increment).value
        os.write(report_fd, b"%d\n" % value)
    finally:
        os._exit(3)


def _writer_duration(store):
    """Seconds from fork to exit of one short-lived writer (the median of five)."""
    times = []
    for _index in range(5):
        read_fd, write_fd = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os.close(read_fd)
            _one_writer(store, write_fd)
        os.close(write_fd)
        os.waitpid(pid, 0)
        times.append(time.monotonic() - started)
        _drain(read_fd)
        os.close(read_fd)
    return sorted(times)[2]


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_old_or_new_generation(store):
    """1,000 SIGKILLs inside writes: each writer process makes one update and is killed at a random
    point of it; after every kill the store holds the old or the new generation, whole.

    About a minute on two cores.  STORE_KILLS overrides the number (more for a soak); STORE_KILL_SEED
    replays a run.
    """
    seed = os.environ.get("STORE_KILL_SEED", str(time.time()))
    random.seed(seed)
    kills = int(os.environ.get("STORE_KILLS", "1000"))
    window = _writer_duration(store)
    base = store.read()
    expected_files = {}
    gen = current(store)
    for rel in ("identity/cert.pem", "identity/fullchain.pem", "identity/chain.pem", "ca/cert.pem",
                "tcs/bundle.pem"):
        expected_files[rel] = read(os.path.join(gen, rel))

    def expected_snapshot(counter):
        state = base.copy()
        state.data["counter"] = counter
        return state.snapshot()

    seen = {"killed": 0, "finished_first": 0, "tmp_left": 0, "link_left": 0, "uncommitted_generation": 0,
            "unpruned": 0, "advanced": 0}
    last = base.data["counter"]
    attempts = 0
    while seen["killed"] < kills:
        attempts += 1
        assert attempts <= 4 * kills, ("the writers kept finishing before the kill", seed, seen)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os.close(read_fd)
            _one_writer(store, write_fd)
        os.close(write_fd)
        time.sleep(random.uniform(0.0, window))
        os.kill(pid, signal.SIGKILL)
        _pid, status = os.waitpid(pid, 0)
        reported = [int(x) for x in _drain(read_fd).split()]
        os.close(read_fd)
        if os.WIFSIGNALED(status):
            assert os.WTERMSIG(status) == signal.SIGKILL, status
            seen["killed"] += 1
        else:
            assert os.WIFEXITED(status) and reported, "writer failed on its own: %r" % status
            seen["finished_first"] += 1
            window *= 0.97  # keep the kills inside the write however fast the machine is today
        committed = reported[-1] if reported else last

        # what a kill can leave behind (recorded to prove the kills hit the write window)
        entries = os.listdir(store.generations_dir)
        now_current = int(os.readlink(store.current_link).split("/")[1])
        numbers = [int(e) for e in entries if e.isdigit()]
        seen["tmp_left"] += any(e.startswith(".tmp-") for e in entries)
        seen["link_left"] += os.path.lexists(os.path.join(store.path, ".current.new"))
        seen["uncommitted_generation"] += any(n > now_current for n in numbers)
        seen["unpruned"] += len([n for n in numbers if n <= now_current]) > store.keep

        state = make_store(store.path).read()  # loadable, whole
        counter = state.data["counter"]
        assert committed <= counter <= committed + 1, (seed, last, committed, counter)
        assert counter in (last, last + 1), (seed, last, counter)
        assert state.snapshot() == expected_snapshot(counter)
        gen = current(store)
        for rel, content in expected_files.items():
            assert read(os.path.join(gen, rel)) == content, rel
        seen["advanced"] += counter > last
        last = counter
    print("SIGKILL seed %s, %d attempts: %r" % (seed, attempts, seen))
    # the kills really landed inside writes, not only before or after them
    assert seen["tmp_left"] > kills // 10, (seed, seen)
    assert seen["advanced"] > 0 and seen["advanced"] < attempts, (seed, seen)
    # the next writer cleans up and carries on
    result = store.update(increment)
    assert result.after.data["counter"] == last + 1
    assert not [e for e in os.listdir(store.generations_dir) if e.startswith(".tmp-")]
    assert not os.path.lexists(os.path.join(store.path, ".current.new"))
    assert len(store.generations()) <= store.keep + seen["uncommitted_generation"]


def _drain(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _in_children(bodies):
    """Run each callable in its own forked process, all at once; every one must exit cleanly."""
    pids = []
    for body in bodies:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                body()
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        _pid, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _increments(store, each):
    def body():
        for _index in range(each):
            store.update(increment)
    return body


def test_concurrent_writers_lose_no_update(store):
    writers, each = 4, 8
    start = store.read()
    _in_children([_increments(store, each) for _index in range(writers)])
    state = store.read()
    assert state.data.get("counter", 0) == start.data.get("counter", 0) + writers * each
    assert state.generation == start.generation + writers * each


def test_concurrent_writers_include_security_settings(store):
    """Store-API writers and security_settings runs (its own transaction: plan outside the lock, re-plan
    under it) at the same time: no update lost on either side, one generation per change."""
    from ansible_collections.ipoffice.security.plugins.module_utils import _settings
    writers, each, settings_runs = 3, 6, 6
    start = store.read()
    days = [30 + (i % 2) for i in range(settings_runs)]  # alternating: every run is a change

    def settings_writer():
        for value in days:
            params = {"store_path": store.path, "checks": {"certificate_expiry_warning_days": value}}
            assert _settings.run(make_store(store.path), params)["changed"] is True

    _in_children([_increments(store, each) for _index in range(writers)] + [settings_writer])
    state = store.read()
    assert state.data.get("counter", 0) == start.data.get("counter", 0) + writers * each
    assert state.settings["checks"]["certificate_expiry_warning_days"] == days[-1]
    assert state.generation == start.generation + writers * each + settings_runs


def test_lock_timeout(store):
    before = helpers.tree_digest(store.path)
    fd = os.open(os.path.join(store.path, ".lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(SecurityError) as err:
            make_store(store.path, lock_timeout=1).update(increment)
        waited = time.monotonic() - started
        # readers and check mode never wait for the writer
        assert make_store(store.path).read().data == store.read().data
        assert make_store(store.path, lock_timeout=1).update(increment, check_mode=True).changed
    finally:
        os.close(fd)
    assert err.value.code == "store_locked"
    assert err.value.option == "lock_timeout"
    assert "lock_timeout" in err.value.message and "1 seconds" in err.value.message
    assert "nothing was changed" in err.value.message
    assert 0.9 <= waited < 5
    assert helpers.tree_digest(store.path) == before
    assert make_store(store.path, lock_timeout=1).update(increment).written  # free again


# ------------------------------------------------------------------------------------ corrupt stores


def _write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)


def _settings(store):
    return os.path.join(current(store), "settings.json")


def _edit_settings(change):
    def apply(store):
        document = json.loads(read(_settings(store)))
        change(document)
        _write(_settings(store), json.dumps(document).encode())
    return apply


def _other_cert_pem():
    key = _certs.generate_private_key("sha256_ecdsa_p256")
    return _certs.cert_pem(_certs.build_certificate("CN=Someone Else", key, 30, ca=True))


def _replace_current(target):
    def apply(store):
        os.unlink(store.current_link)
        os.symlink(target, store.current_link)
    return apply


def _current_as_directory(store):
    gen = current(store)
    os.unlink(store.current_link)
    shutil.copytree(gen, store.current_link, symlinks=True)


def _foreign_current(store):
    outside = os.path.join(os.path.dirname(store.path), "outside-generation")
    shutil.copytree(current(store), outside, symlinks=True)
    _replace_current(outside)(store)


def _generations_symlink(store):
    outside = os.path.join(os.path.dirname(store.path), "outside-generations")
    shutil.move(store.generations_dir, outside)
    os.symlink(outside, store.generations_dir)


CORRUPTIONS = [
    ("garbage_settings", lambda s: _write(_settings(s), b"{not json"), "corrupt_store", "settings.json"),
    ("binary_settings", lambda s: _write(_settings(s), b"\xff\xfe\x00"), "corrupt_store", "settings.json"),
    ("settings_not_object", lambda s: _write(_settings(s), b"[]"), "corrupt_store", "not an object"),
    ("empty_settings", lambda s: _write(_settings(s), b""), "corrupt_store", "settings.json"),
    ("missing_settings", lambda s: os.unlink(_settings(s)), "corrupt_store", "settings.json"),
    ("missing_identity_key", lambda s: os.unlink(os.path.join(current(s), "identity", "key.pem")),
     "corrupt_store", "key.pem"),
    ("key_not_matching", lambda s: shutil.copyfile(os.path.join(current(s), "ca", "key.pem"),
                                                   os.path.join(current(s), "identity", "key.pem")),
     "corrupt_store", "does not match"),
    ("garbage_key", lambda s: _write(os.path.join(current(s), "identity", "key.pem"), b"garbage"),
     "corrupt_store", "key.pem"),
    ("identity_cert_swapped", lambda s: shutil.copyfile(os.path.join(current(s), "ca", "cert.pem"),
                                                        os.path.join(current(s), "identity", "cert.pem")),
     "corrupt_store", "identity"),
    ("tampered_tcs_file", lambda s: _write(os.path.join(current(s), "tcs", sorted(
        n for n in os.listdir(os.path.join(current(s), "tcs")) if len(n) == 68)[0]), _other_cert_pem()),
     "corrupt_store", "tcs/"),
    ("missing_tcs_file", lambda s: [os.unlink(os.path.join(current(s), "tcs", n))
                                    for n in os.listdir(os.path.join(current(s), "tcs")) if len(n) == 68],
     "corrupt_store", "tcs/"),
    ("dangling_current", _replace_current("generations/999999"), "corrupt_store", "999999"),
    ("foreign_current", _foreign_current, "corrupt_store", "outside"),
    ("relative_escape_current", _replace_current("../store/generations/000001"), "corrupt_store", "outside"),
    ("current_is_directory", _current_as_directory, "corrupt_store", "not a symlink"),
    ("generations_symlink", _generations_symlink, "corrupt_store", "symlink"),
    ("bad_setting_value", _edit_settings(lambda d: d["settings"]["checks"].__setitem__(
        "certificate_expiry_warning_days", 999)), "corrupt_store", "Certificate Expiry Warning Days"),
    ("missing_setting", _edit_settings(lambda d: d["settings"]["scep"].pop("uri")), "corrupt_store", "scep"),
    ("unknown_platform", _edit_settings(lambda d: d.__setitem__("platform", "ip400")), "corrupt_store", "ip400"),
    ("missing_secret", _edit_settings(lambda d: d.__setitem__("secrets", ["scep_password"])), "corrupt_store",
     "scep_password"),
    ("bad_secret_name", _edit_settings(lambda d: d.__setitem__("secrets", ["../../etc/passwd"])), "corrupt_store",
     "secret"),
    ("no_identity", _edit_settings(lambda d: d["credentials"].__setitem__("identity", None)), "corrupt_store",
     "identity"),
    ("schema_version_2", _edit_settings(lambda d: d.__setitem__("schema_version", 2)), "unsupported_store_version",
     "schema version 2"),
    ("schema_version_text", _edit_settings(lambda d: d.__setitem__("schema_version", "1")),
     "unsupported_store_version", "'1'"),
    ("schema_version_missing", _edit_settings(lambda d: d.pop("schema_version")), "unsupported_store_version",
     "None"),
]


@pytest.mark.parametrize("label,corrupt,code,words", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_corrupt_store_fails_clearly_and_is_left_untouched(store, label, corrupt, code, words):
    corrupt(store)
    before = helpers.tree_digest(os.path.dirname(store.path))  # the store and anything next to it
    for attempt in (lambda s: s.read(), lambda s: s.update(increment), lambda s: s.update(increment, True),
                    lambda s: s.generations() and s.read()):
        with pytest.raises(SecurityError) as err:
            attempt(make_store(store.path))
        assert err.value.code == code, (label, err.value.message)
        assert err.value.option == "store_path"
        assert store.path in err.value.message
        assert words in err.value.message, err.value.message
        if code == "corrupt_store":
            assert "left" in err.value.message  # says it was not touched
        else:
            assert "Upgrade the ipoffice.security collection" in err.value.message
            assert "reads version 1" in err.value.message
    assert helpers.tree_digest(os.path.dirname(store.path)) == before


# ------------------------------------------------------------------------------------- planted symlinks


@pytest.fixture
def outside(tmp_path):
    """A directory outside the store a planted symlink points at; its digest must never change."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "victim").write_bytes(b"do not touch\n")
    os.chmod(str(path / "victim"), 0o644)
    return path


def _next_generation(store):
    return "%06d" % (int(os.readlink(store.current_link).split("/")[1]) + 1)


def test_symlink_at_next_generation_is_not_followed(store, outside):
    planted = os.path.join(store.generations_dir, _next_generation(store))
    os.symlink(str(outside), planted)
    before = helpers.tree_digest(str(outside))
    result = store.update(increment)
    assert helpers.tree_digest(str(outside)) == before
    assert os.path.basename(current(store)) == "%06d" % result.after.generation
    assert not os.path.islink(current(store)) and os.path.isdir(current(store))
    assert not os.path.islink(planted)
    assert make_store(store.path).read().data["counter"] == 1


def test_symlink_at_current_new_is_not_followed(store, outside):
    os.symlink(str(outside / "victim"), os.path.join(store.path, ".current.new"))
    before = helpers.tree_digest(str(outside))
    store.update(increment)
    assert helpers.tree_digest(str(outside)) == before
    assert os.path.islink(store.current_link) and os.readlink(store.current_link).startswith("generations/")
    assert not os.path.lexists(os.path.join(store.path, ".current.new"))


def test_symlink_at_predictable_tmp_name_is_not_followed(store, outside):
    # the writer's temporary directory is generations/.tmp-<next>-<pid>: plant it for this process
    planted = os.path.join(store.generations_dir, ".tmp-%s-%d" % (_next_generation(store), os.getpid()))
    os.symlink(str(outside), planted)
    # and a directory of an earlier writer holding a symlink out: removed without following
    stale = os.path.join(store.generations_dir, ".tmp-000099-1")
    os.mkdir(stale)
    os.symlink(str(outside / "victim"), os.path.join(stale, "key.pem"))
    before = helpers.tree_digest(str(outside))
    store.update(increment)
    assert helpers.tree_digest(str(outside)) == before
    assert not [e for e in os.listdir(store.generations_dir) if e.startswith(".tmp-")]


def test_symlink_inside_a_generation_is_not_read(store, outside):
    key = os.path.join(current(store), "identity", "key.pem")
    shutil.copyfile(key, str(outside / "key.pem"))
    os.unlink(key)
    os.symlink(str(outside / "key.pem"), key)
    before = helpers.tree_digest(str(outside))
    with pytest.raises(SecurityError) as err:
        store.update(increment)
    assert err.value.code == "corrupt_store"
    assert helpers.tree_digest(str(outside)) == before


def test_symlink_at_lock_file_is_not_followed(store, outside):
    os.unlink(os.path.join(store.path, ".lock"))
    os.symlink(str(outside / "victim"), os.path.join(store.path, ".lock"))
    before = helpers.tree_digest(str(outside))
    with pytest.raises(SecurityError) as err:
        store.update(increment)
    assert err.value.code == "store_unwritable" and ".lock" in err.value.message
    assert helpers.tree_digest(str(outside)) == before


def test_symlink_at_generations_of_a_new_store_is_not_followed(tmp_path, outside):
    path = tmp_path / "store"
    path.mkdir(mode=0o700)
    os.symlink(str(outside), str(path / "generations"))
    before = helpers.tree_digest(str(outside))
    make_store(path).update(noop)
    assert helpers.tree_digest(str(outside)) == before
    assert not os.path.islink(str(path / "generations"))
    assert make_store(path).read().initialised


# ------------------------------------------------------------------------------------------- State API


def test_state_trusted_set_semantics(store):
    key = _certs.generate_private_key("sha256_ecdsa_p256")
    a, b = [_certs.build_certificate("CN=set %d" % i, key, 30, ca=True) for i in range(2)]
    state = store.read()
    ca_fp = _certs.fingerprint(state.ca.cert)
    assert state.add_trusted([a, a, b]) == [a, b]
    assert state.add_trusted([b]) == []
    added, removed = state.set_trusted([b])
    assert added == [] and [_certs.fingerprint(c) for c in removed] == sorted([ca_fp, _certs.fingerprint(a)])
    assert state.remove_trusted([_certs.fingerprint(b), "00"]) == [b]
    assert state.trusted == {}


def test_expiry_data_round_trip(store):
    """A certificate added through the API is stored and read back with its own validity."""
    key = _certs.generate_private_key("sha256_ecdsa_p256")
    soon = _certs.build_certificate("CN=Expiring Partner", key, 10, ca=True)
    store.update(lambda s: s.add_trusted([soon]))
    state = make_store(store.path).read()
    stored = state.trusted[_certs.fingerprint(soon)]
    assert stored.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc) < datetime.timedelta(days=10)


def test_unwritable_parent(tmp_path):
    parent = tmp_path / "plain-file"
    parent.write_text("x")
    with pytest.raises(SecurityError) as err:
        make_store(parent / "store").update(noop)
    assert err.value.code == "store_unwritable" and err.value.option == "store_path"
    assert "store_path" in err.value.message and str(parent / "store") in err.value.message
    assert parent.read_text() == "x"


def test_helpers_module_constants():
    assert (_store.KEEP_GENERATIONS, _store.MIN_KEEP_GENERATIONS) == (10, 2)
    assert (_store.INITIAL_CA_DAYS, _store.INITIAL_IDENTITY_DAYS, _store.IP500V2_IDENTITY_DAYS) == (3652, 2557, 825)


def test_a_change_that_fails_on_a_new_store_leaves_no_trace(tmp_path):
    """The first run on a new store: a change that fails late creates nothing (no directory, no lock)."""
    path = tmp_path / "store"

    def fail_late(state):
        increment(state)  # the change had started ...
        raise SecurityError("out_of_range", "... and then failed", option="late")

    with pytest.raises(SecurityError) as failed:
        make_store(str(path)).update(fail_late)
    assert failed.value.code == "out_of_range"
    assert not os.path.lexists(str(path)), os.listdir(str(tmp_path))
    # The same store then initialises once, with the change made on the initial state.
    result = make_store(str(path)).update(increment)
    assert result.written and result.after.generation == 1
    assert sorted(os.listdir(str(path))) == [".lock", "current", "generations"]


def test_a_waiter_that_gets_the_lock_of_a_removed_lock_file_takes_the_one_at_the_path(tmp_path):
    """A first write that fails removes its lock file while holding it; a writer that was waiting on that
    file must not count it as the store's lock (a third writer would take a new file at the same time)."""
    import threading

    path = str(tmp_path / ".lock")
    first = _store._Lock(path, 5).__enter__()
    taken = {}

    def waiter():
        lock = _store._Lock(path, 5).__enter__()
        taken["stat"] = os.fstat(lock.fd)
        taken["lock"] = lock

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.1)  # the waiter has opened the old file and polls it
    os.unlink(path)
    first.__exit__(None, None, None)
    thread.join(10)
    lock = taken["lock"]
    try:
        assert os.path.samestat(taken["stat"], os.stat(path))  # the file at the path, made anew
        with pytest.raises(SecurityError) as err:  # and it is the store's lock: nobody else gets it
            _store._Lock(path, 0).__enter__()
        assert err.value.code == "store_locked"
    finally:
        lock.__exit__(None, None, None)
