"""DirectoryStore reading as carefully as it writes; readers take no lock; every failure has a code.

Hostile stores are built with real files: FIFOs, symlinks to /dev/zero and to edited copies outside the
store, oversized and deeply nested files, read-only directories (entered as an unprivileged user when
the tests run as root, since root ignores permissions).
"""

import fcntl
import json
import os
import shutil
import stat
import tempfile
import threading

import pytest

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _info
from ansible_collections.ipoffice.security.plugins.module_utils import _store
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

NAME = "ipo1.example.com"
BOUND = 30  # seconds: far above a normal read (well under one), far below "forever"


def make_store(path, **kwargs):
    kwargs.setdefault("system_name", NAME)
    kwargs.setdefault("system_addresses", ["192.0.2.10"])
    return DirectoryStore(str(path), **kwargs)


def increment(state):
    state.data["counter"] = state.data.get("counter", 0) + 1
    return state.data["counter"]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("reads-template") / "store"
    make_store(path).update(increment)
    return path


@pytest.fixture
def store(template, tmp_path):
    path = tmp_path / "store"
    shutil.copytree(str(template), str(path), symlinks=True)
    return make_store(path)


def current(store):
    return os.path.join(store.path, os.readlink(store.current_link))


def bounded(call, release=None):
    """call() in a thread; fails the test if it has not returned within BOUND seconds.

    Returns what call returned or raised (as ("ok", value) / ("raised", exc)).  ``release`` unblocks a
    stuck call afterwards so that the test process can end.
    """
    outcome = {}

    def target():
        try:
            outcome["ok"] = call()
        except BaseException as exc:  # pylint: disable=broad-except
            outcome["raised"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(BOUND)
    stuck = thread.is_alive()
    if stuck and release is not None:
        release()
        thread.join(5)
    assert not stuck, "the read did not finish within %d seconds" % BOUND
    return outcome


def fails_corrupt(store, words=()):
    """Every way of reading (read, update, check mode, security_info) fails with corrupt_store, in bounded time."""
    before = helpers.tree_digest(os.path.dirname(store.path))
    for attempt in (lambda: make_store(store.path).read(),
                    lambda: make_store(store.path, lock_timeout=2).update(increment),
                    lambda: make_store(store.path).update(increment, check_mode=True),
                    lambda: _info.run(make_store(store.path), {}, check_mode=False)):
        outcome = bounded(attempt)
        exc = outcome.get("raised")
        assert isinstance(exc, SecurityError), outcome
        assert exc.code == "corrupt_store", exc.message
        assert exc.option == "store_path" and store.path in exc.message
        for word in words:
            assert word in exc.message, exc.message
    assert helpers.tree_digest(os.path.dirname(store.path)) == before


# ------------------------------------------------------------------- what a generation may hold


def _replace(path, make):
    os.unlink(path)
    make(path)


def test_fifo_settings_json_is_corrupt_not_a_hang(store):
    settings = os.path.join(current(store), "settings.json")
    _replace(settings, os.mkfifo)
    fails_corrupt(store, ["settings.json", "not a regular file"])


def test_settings_json_symlink_to_dev_zero_is_corrupt(store):
    settings = os.path.join(current(store), "settings.json")
    _replace(settings, lambda p: os.symlink("/dev/zero", p))
    fails_corrupt(store, ["settings.json", "symlink"])


def test_settings_json_symlink_to_an_edited_copy_outside_is_never_read_or_copied(store, tmp_path):
    settings = os.path.join(current(store), "settings.json")
    document = json.loads(open(settings).read())
    document["settings"]["checks"]["management_interfaces"] = "none"
    document["data"]["counter"] = 1000
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    _replace(settings, lambda p: os.symlink(str(edited), p))
    fails_corrupt(store, ["settings.json", "symlink"])
    assert not any(b"1000" in open(os.path.join(root, f), "rb").read()
                   for root, _dirs, files in os.walk(store.generations_dir) for f in files
                   if not os.path.islink(os.path.join(root, f)))


def test_huge_settings_json_is_corrupt(store):
    settings = os.path.join(current(store), "settings.json")
    with open(settings, "r+b") as handle:
        handle.truncate(_store.MAX_FILE_BYTES + 1)  # sparse: big without using the disk
    fails_corrupt(store, ["settings.json", "limit of %d" % _store.MAX_FILE_BYTES])


def test_huge_key_file_is_corrupt(store):
    key = os.path.join(current(store), "identity", "key.pem")
    with open(key, "ab") as handle:
        handle.truncate(4 * 1024 * 1024)
    fails_corrupt(store, ["identity/key.pem", "limit"])


def test_fifo_key_file_is_corrupt(store):
    key = os.path.join(current(store), "identity", "key.pem")
    _replace(key, os.mkfifo)
    fails_corrupt(store, ["identity/key.pem", "not a regular file"])


@pytest.mark.parametrize("directory", ["identity", "tcs", "ca"])
def test_generation_directory_symlinked_outside_is_corrupt(store, tmp_path, directory):
    inside = os.path.join(current(store), directory)
    outside = tmp_path / ("outside-" + directory)
    shutil.copytree(inside, str(outside), symlinks=True)
    shutil.rmtree(inside)
    os.symlink(str(outside), inside)
    fails_corrupt(store, [directory, "symlink"])


def test_generation_itself_a_directory_symlink_is_corrupt(store, tmp_path):
    gen = current(store)
    outside = tmp_path / "outside-generation"
    shutil.move(gen, str(outside))
    os.symlink(str(outside), gen)
    fails_corrupt(store)


def test_directory_where_a_file_belongs_is_corrupt(store):
    settings = os.path.join(current(store), "settings.json")
    _replace(settings, os.mkdir)
    fails_corrupt(store, ["settings.json", "not a regular file"])


@pytest.mark.parametrize("depth", [40, 200000])
def test_deeply_nested_json_is_corrupt_not_a_recursion_error(store, depth):
    settings = os.path.join(current(store), "settings.json")
    document = json.loads(open(settings).read())
    text = json.dumps(document)
    nested = "[" * depth + "]" * depth
    text = text.replace('"data": {', '"data": {"deep": %s, ' % nested, 1)
    assert nested in text
    with open(settings, "w") as handle:
        handle.write(text)
    fails_corrupt(store, ["settings.json"])


def test_fifo_in_an_older_generation_does_not_block_the_listing(store):
    store.update(increment)
    older = sorted(os.listdir(store.generations_dir))[0]
    settings = os.path.join(store.generations_dir, older, "settings.json")
    _replace(settings, os.mkfifo)
    outcome = bounded(lambda: _info.run(make_store(store.path), {}))
    result = outcome["ok"]
    listed = dict((g["generation"], g["written"]) for g in result["generations"])
    assert listed[int(older)] is None and all(listed[n] for n in listed if n != int(older))


# ------------------------------------------------------------------------- readers take no lock


def test_security_info_never_waits_for_the_writer_lock(store):
    fd = os.open(os.path.join(store.path, ".lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        before = helpers.tree_digest(store.path)
        result = bounded(lambda: _info.run(make_store(store.path, lock_timeout=1), {}, check_mode=False))["ok"]
        assert result["initialised"] is True and result["changed"] is False
        assert result["generation"] == store.read().generation
        assert helpers.tree_digest(store.path) == before
    finally:
        os.close(fd)


def test_security_info_on_a_missing_store_creates_nothing(tmp_path):
    path = tmp_path / "nothing-here" / "store"
    for check_mode in (False, True):
        result = _info.run(make_store(path), {"query": "initialised"}, check_mode=check_mode)
        assert result["initialised"] is False and result["changed"] is False
        assert result["query_result"] is False
        assert result["identity"] is None and result["settings"] is None and result["trusted"] == []
        assert result["generations"] == [] and result["generation"] == 0
        assert result["store_path"] == str(path)
    assert not os.path.lexists(str(tmp_path / "nothing-here"))


def test_security_info_on_an_empty_directory_leaves_it_alone(tmp_path):
    path = tmp_path / "empty"
    path.mkdir(mode=0o755)
    result = _info.run(make_store(path), {})
    assert result["initialised"] is False
    assert os.listdir(str(path)) == [] and stat.S_IMODE(os.stat(str(path)).st_mode) == 0o755


def test_check_mode_of_a_writer_on_a_new_store_predicts_the_initialisation(tmp_path):
    path = tmp_path / "new"
    result = make_store(path).update(increment, check_mode=True)
    assert result.changed and not result.written
    assert not os.path.lexists(str(path))


# ----------------------------------------------------- permissions (as an unprivileged user when root)


@pytest.fixture
def shared_dir():
    """A directory an unprivileged user can enter (pytest's tmp_path is 0700 root)."""
    path = tempfile.mkdtemp(prefix="ipo-reads-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _chown_tree(path, uid, gid):
    os.lchown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


def test_read_only_store_is_readable(template, shared_dir):
    path = os.path.join(shared_dir, "store")
    shutil.copytree(str(template), path, symlinks=True)
    helpers.unprivileged_ready(path, _chown_tree)
    # read-only for its owner: every directory r-x, the lock file r--
    os.chmod(os.path.join(path, ".lock"), 0o400)
    for root, dirs, _files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o500)
    os.chmod(path, 0o500)
    before = helpers.tree_digest(path)
    result = helpers.as_unprivileged(lambda: _info.run(make_store(path), {})["generation"])
    assert result == ("ok", make_store(path).read().generation)
    check = helpers.as_unprivileged(lambda: make_store(path).update(increment, check_mode=True).changed)
    assert check == ("ok", True)
    assert helpers.tree_digest(path) == before


def test_read_only_generations_is_store_unwritable(template, shared_dir):
    path = os.path.join(shared_dir, "store")
    shutil.copytree(str(template), path, symlinks=True)
    helpers.unprivileged_ready(path, _chown_tree)
    os.chmod(os.path.join(path, "generations"), 0o500)
    before = helpers.tree_digest(path)

    def write():
        try:
            make_store(path).update(increment)
        except SecurityError as exc:
            return exc.code, exc.option, exc.message
        return None

    outcome = helpers.as_unprivileged(write)
    assert outcome[0] == "ok", outcome
    code, option, message = outcome[1]
    assert code == "store_unwritable" and option == "store_path"
    assert path in message and "write access" in message
    assert helpers.tree_digest(path) == before


# ------------------------------------------------------------------------------- what store_path is


def test_foreign_non_empty_directory_is_not_a_store(tmp_path):
    path = tmp_path / "home"
    path.mkdir(mode=0o755)
    (path / "notes.txt").write_text("mine\n")
    before = helpers.tree_digest(str(path))
    for attempt in (lambda: make_store(path).update(increment), lambda: make_store(path).read(),
                    lambda: make_store(path).update(increment, check_mode=True),
                    lambda: _info.run(make_store(path), {})):
        with pytest.raises(SecurityError) as err:
            attempt()
        assert err.value.code == "not_a_store" and err.value.option == "store_path"
        assert str(path) in err.value.message and "'notes.txt'" in err.value.message
    assert helpers.tree_digest(str(path)) == before
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o755


def test_store_path_symlink_to_a_store_is_fine(store, tmp_path):
    link = tmp_path / "link-to-store"
    os.symlink(store.path, str(link))
    linked = make_store(link)
    assert linked.read().data == store.read().data
    result = linked.update(increment)
    assert result.written
    assert store.read().data["counter"] == result.after.data["counter"]
    assert os.path.islink(str(link))
    assert _info.run(linked, {})["generation"] == result.after.generation


# ----------------------------------------------------------------- the secret scanner tests rely on


def test_secret_scanner_finds_raw_and_base64_secrets_but_not_the_secret_files(store):
    import base64
    secret = "Sc4nner-Secret-71c2"
    store.update(lambda state: state.secrets.__setitem__("scep_password", secret.encode()))
    assert helpers.store_secret_leaks(store.path, [secret]) == []  # only in secrets/, 0600, by design
    for prefix in (b"", b"x", b"xy"):  # base64 at every alignment, as inside a DER blob
        blob = base64.b64encode(prefix + b"\x0c\x13" + secret.encode() + b"\x00").decode()
        store.update(lambda state, blob=blob: state.data.__setitem__("planted", blob))
        found = helpers.store_secret_leaks(store.path, [secret])
        assert found and all("settings.json" in f for f in found), found
    store.update(lambda state: state.data.__setitem__("planted", "raw " + secret))
    assert helpers.store_secret_leaks(os.path.join(store.path, "current"), [secret])
