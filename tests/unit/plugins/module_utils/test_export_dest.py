"""Where export writes: refused destinations (symlink, file, foreign directory, /proc/self, NUL) with their
codes and nothing written anywhere; a previous export replaced whole (atomic directory swap); SIGKILLs at
random points of real export runs leave the old or the new export whole, and the next export removes what a
kill left; a full disk (a real small tmpfs) is export_disk_full and leaves the previous export whole."""

import contextlib
import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import time

import pytest

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _export, _export_dest
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

PASSWORD = "S3cret-handoff-pw"
NAME = "ipo1.example.com"
PREFIX = ".out.export-"


def _store(tmp_path):
    store = DirectoryStore(path=str(tmp_path / "store"), system_name=NAME, system_addresses=["192.0.2.10"])
    store.update(lambda state: None)
    return store


def _params(path, **extra):
    params = {"path": str(path), "password": PASSWORD}
    params.update(extra)
    return params


def _error(store, params, check_mode=False):
    with pytest.raises(SecurityError) as info:
        _export.run(store, params, check_mode=check_mode)
    return info.value


def _files(root):
    found = set()
    for base, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(base, d))]:
            found.add(os.path.relpath(os.path.join(base, name), root))
    return found


def _whole(out):
    """Assert out is one export, whole: exactly the files its manifest lists (with their SHA-256), the marker
    and the manifest.  Returns the manifest."""
    with open(os.path.join(out, "manifest.json"), "rb") as handle:
        manifest = json.loads(handle.read())
    assert _files(out) == set(manifest["files"]) | {"manifest.json", _export_dest.MARKER}
    for rel, record in manifest["files"].items():
        with open(os.path.join(out, rel), "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == record["sha256"], rel
    return manifest


def _leftovers(parent):
    return sorted(name for name in os.listdir(parent) if name.startswith(PREFIX))


# ------------------------------------------------------------------------------------------ refusals

def test_refused_destinations_have_codes_and_write_nothing_anywhere(tmp_path):
    store = _store(tmp_path)
    elsewhere = tmp_path / "etc-like"
    elsewhere.mkdir()
    (elsewhere / "passwd").write_text("root:x:0:0\n")
    os.symlink(str(elsewhere), str(tmp_path / "link-to-dir"))
    os.symlink(str(tmp_path / "nowhere"), str(tmp_path / "dangling"))
    (tmp_path / "a-file").write_text("x")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    cases = [
        (tmp_path / "link-to-dir", "export_path_symlink"),
        (tmp_path / "dangling", "export_path_symlink"),
        ("/proc/self", "export_path_symlink"),
        ("/proc/self/", "export_path_symlink"),
        (tmp_path / "a-file", "export_path_not_directory"),
        ("/dev/null", "export_path_not_directory"),
        (foreign, "export_path_not_empty"),
        ("/proc/1", "export_path_not_empty"),
        ("/", "export_path_not_empty"),
        (tmp_path / "missing" / "out", "export_path_parent_missing"),
        (tmp_path / "a-file" / "out", "export_path_parent_missing"),
        (str(tmp_path / "out") + "\x00x", "invalid_characters"),
        ("/proc/self/new-export", "export_unwritable"),
    ]
    digest = helpers.tree_digest(str(tmp_path))
    for path, code in cases:
        for check_mode in ((False, True) if code != "export_unwritable" else (False,)):
            error = _error(store, _params(path), check_mode=check_mode)
            assert (error.code, error.option) == (code, "path"), (path, error.code, error.message)
            assert "Traceback" not in error.message
        assert helpers.tree_digest(str(tmp_path)) == digest, path
    assert not [name for name in os.listdir(str(tmp_path)) if ".export-" in name]


def test_entries_someone_else_put_into_a_previous_export_are_carried_over_never_followed(tmp_path):
    store = _store(tmp_path)
    out = tmp_path / "out"
    _export.run(store, _params(out))
    target = tmp_path / "etc-like"
    target.mkdir()
    (target / "shadow").write_text("root:*:1::::::\n")
    (out / "notes.txt").write_text("mine")
    (out / "mine").mkdir()
    (out / "mine" / "todo.txt").write_text("upload")
    (out / "empty-folder").mkdir()
    os.symlink(str(target), str(out / "link-to-etc"))
    inode = os.stat(str(out / "notes.txt")).st_ino
    unchanged = _export.run(store, _params(out))
    assert unchanged["changed"] is False and unchanged["removed"] == []
    changed = _export.run(store, _params(out, password="another-pw"))
    assert changed["changed"] is True and changed["removed"] == []
    assert (out / "notes.txt").read_text() == "mine" and os.stat(str(out / "notes.txt")).st_ino == inode
    assert (out / "mine" / "todo.txt").read_text() == "upload" and os.listdir(str(out / "empty-folder")) == []
    assert os.readlink(str(out / "link-to-etc")) == str(target)
    assert os.listdir(str(target)) == ["shadow"]  # never written through
    assert _opens_with(str(out / "identity" / "manager-set.p12"), "another-pw")
    assert _export.run(store, _params(out, password="another-pw"))["changed"] is False


def test_foreign_entries_that_cannot_be_carried_or_stand_in_the_way_are_refused_and_kept(tmp_path):
    store = _store(tmp_path)
    out = tmp_path / "out"
    _export.run(store, _params(out))
    os.mkfifo(str(out / "a-fifo"))
    digest = helpers.tree_digest(str(tmp_path))
    error = _error(store, _params(out, password="another-pw"))
    assert error.code == "export_path_not_empty" and error.details["foreign"] == ["a-fifo"]
    assert helpers.tree_digest(str(tmp_path)) == digest
    os.unlink(str(out / "a-fifo"))
    # A symlink planted where a folder of the export goes is never followed, never replaced.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(str(out / "identity"))
    os.symlink(str(elsewhere), str(out / "identity"))
    digest = helpers.tree_digest(str(tmp_path))
    error = _error(store, _params(out))
    assert error.code == "export_path_not_empty" and error.details["foreign"] == ["identity"]
    assert helpers.tree_digest(str(tmp_path)) == digest and os.listdir(str(elsewhere)) == []
    # A file export did not write (its manifest does not list it) where export writes one: kept, refused.
    os.unlink(str(out / "identity"))
    shutil.rmtree(str(out))
    _export.run(store, _params(out))
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["files"][_export.PHONE_SETTINGS]
    (out / "manifest.json").write_text(json.dumps(manifest))
    digest = helpers.tree_digest(str(tmp_path))
    error = _error(store, _params(out, password="another-pw"))
    assert error.code == "export_path_not_empty" and error.details["foreign"] == [_export.PHONE_SETTINGS]
    assert helpers.tree_digest(str(tmp_path)) == digest


def test_an_empty_directory_and_an_export_of_an_earlier_release_are_taken(tmp_path):
    store = _store(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    first = _export.run(store, _params(out))
    assert first["changed"] is True and os.path.isfile(str(out / _export_dest.MARKER))
    _whole(str(out))
    # An export of an earlier release: no marker, its manifest.json; and the temporary copies of keys its
    # file-by-file writer could leave when killed.
    os.unlink(str(out / _export_dest.MARKER))
    (out / "identity" / ".key.pem.tmp-4242").write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    check = _export.run(store, _params(out), check_mode=True)
    assert check["changed"] is True
    again = _export.run(store, _params(out))
    assert again["written"] == [str(out / _export_dest.MARKER)]
    assert again["removed"] == [str(out / "identity" / ".key.pem.tmp-4242")]
    assert not os.path.exists(str(out / "identity" / ".key.pem.tmp-4242"))
    _whole(str(out))
    assert _export.run(store, _params(out))["changed"] is False


def test_rewrites_replace_the_directory_whole_and_idempotent_runs_touch_nothing(tmp_path):
    store = _store(tmp_path)
    out = tmp_path / "out"
    _export.run(store, _params(out))
    inode = os.stat(str(out)).st_ino
    digest = helpers.tree_digest(str(out))
    unchanged = _export.run(store, _params(out))
    assert unchanged["changed"] is False and os.stat(str(out)).st_ino == inode
    assert helpers.tree_digest(str(out)) == digest
    predicted = _export.run(store, _params(out, password="another-pw"), check_mode=True)
    assert predicted["changed"] is True and helpers.tree_digest(str(out)) == digest
    changed = _export.run(store, _params(out, password="another-pw"))
    assert sorted(changed["written"]) == sorted(predicted["written"])
    assert os.stat(str(out)).st_ino != inode  # a new directory took the old one's place
    assert stat_mode(out) == 0o700 and _leftovers(str(tmp_path)) == []
    _whole(str(out))


def stat_mode(path):
    return os.stat(str(path)).st_mode & 0o777


def test_leftovers_of_a_killed_export_are_reported_in_check_mode_and_removed_by_the_next_run(tmp_path):
    store = _store(tmp_path)
    out = tmp_path / "out"
    _export.run(store, _params(out))
    dead = tmp_path / (PREFIX + "0123456789ab")
    shutil.copytree(str(out), str(dead))  # what a kill between write and swap leaves (marker inside)
    empty = tmp_path / (PREFIX + "ba9876543210")
    empty.mkdir()  # a kill right after mkdir
    not_ours = tmp_path / (PREFIX + "notours")
    not_ours.mkdir()
    planted = tmp_path / (PREFIX + "aaaaaaaaaaaa")
    os.symlink(str(out), str(planted))
    check = _export.run(store, _params(out), check_mode=True)
    assert check["changed"] is False and sorted(check["leftovers"]) == sorted([str(dead), str(empty)])
    assert os.path.isdir(str(dead)) and os.path.isdir(str(empty))
    real = _export.run(store, _params(out))
    assert real["changed"] is False and sorted(real["leftovers"]) == sorted([str(dead), str(empty)])
    assert not os.path.lexists(str(dead)) and not os.path.lexists(str(empty))
    assert os.path.isdir(str(not_ours)) and os.path.islink(str(planted))  # not ours: left alone
    _whole(str(out))


def test_a_directory_another_export_is_writing_is_never_removed(tmp_path):
    import fcntl

    store = _store(tmp_path)
    out = tmp_path / "out"
    _export.run(store, _params(out))
    live = tmp_path / (PREFIX + "0123456789ab")
    live.mkdir()
    fd = os.open(str(live), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert _export.run(store, _params(out))["leftovers"] == []
        assert os.path.isdir(str(live))
    finally:
        os.close(fd)
    assert _export.run(store, _params(out))["leftovers"] == [str(live)]


@pytest.mark.skipif(os.geteuid() != 0, reason="root ignores permissions; the unprivileged user is made from root")
def test_an_unwritable_parent_is_coded_and_leaves_nothing(tmp_path):
    store = _store(tmp_path)
    helpers.unprivileged_ready(store.path, _chown_tree)
    os.chmod(str(tmp_path), 0o755)
    parent = tmp_path / "handoff"
    parent.mkdir(mode=0o755)  # root's: the unprivileged user cannot create anything in it
    digest = helpers.tree_digest(str(tmp_path))
    outcome = helpers.as_unprivileged(lambda: _export.run(DirectoryStore(path=store.path), _params(parent / "out")))
    assert outcome == ("raised", "SecurityError: export_unwritable")
    assert helpers.tree_digest(str(tmp_path)) == digest


def _chown_tree(path, uid, gid):
    for base, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(base, name), uid, gid)
    os.lchown(path, uid, gid)


# ----------------------------------------------------------------------------------------------- kills

def _child(store_path, params, write_fd):  # pragma: no cover - runs in a forked child
    code = 1
    try:
        _export.run(DirectoryStore(path=store_path), params)
        os.write(write_fd, b"done")
        code = 0
    finally:
        os._exit(code)


def _one_run(store, out, password):
    """Fork a child exporting with password; (pid, read fd)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        _child(store.path, _params(out, password=password), write_fd)
    os.close(write_fd)
    return pid, read_fd


def _finish(pid, read_fd):
    _pid, status = os.waitpid(pid, 0)
    with os.fdopen(read_fd, "rb") as handle:
        reported = handle.read()
    return status, reported


def _opens_with(path, password):
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        _certs.load_bundle(data, password=password)
        return True
    except SecurityError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("swap", ["exchange", "two_renames"])
def test_sigkill_at_random_points_leaves_the_old_or_the_new_export_whole(tmp_path, monkeypatch, swap):
    """Each export run (a new password each time, so every run rewrites) is a forked child killed at a random
    point; after each kill the export is the previous or the new one, whole; the next run removes what the
    kill left.  ``two_renames``: the swap where renameat2 is missing (a kill between its renames leaves no
    export at path until the next run puts the old one back).  EXPORT_KILLS sets the number of kills per
    swap, EXPORT_KILL_SEED replays a run."""
    if swap == "two_renames":
        monkeypatch.setattr(_export_dest, "_RENAMEAT2", [None])
    else:
        helpers.need(_export_dest._renameat2() is not None, "renameat2 is not available here")
    seed = os.environ.get("EXPORT_KILL_SEED", str(time.time()))
    random.seed(seed)
    kills = int(os.environ.get("EXPORT_KILLS", "100"))
    store = _store(tmp_path)
    out = str(tmp_path / "out")
    parent = str(tmp_path)
    _export.run(store, _params(out, password="pw-0"))
    committed = 0
    durations = []
    for index in range(1, 4):  # how long one run takes in a child, to aim the kills inside it
        started = time.monotonic()
        status, _reported = _finish(*_one_run(store, out, "pw-%d" % index))
        durations.append(time.monotonic() - started)
        assert status == 0
        committed = index
    window = sorted(durations)[1]
    seen = {"killed": 0, "finished": 0, "new": 0, "old": 0, "leftover": 0, "absent": 0}
    index = committed
    attempts = 0
    while seen["killed"] < kills:
        attempts += 1
        assert attempts < 4 * kills, (seed, seen)
        index += 1
        pid, read_fd = _one_run(store, out, "pw-%d" % index)
        time.sleep(random.uniform(0.0, window))
        os.kill(pid, signal.SIGKILL)
        status, reported = _finish(pid, read_fd)
        if os.WIFSIGNALED(status):
            seen["killed"] += 1
        else:
            assert os.WEXITSTATUS(status) == 0 and reported == b"done", (seed, status)
            seen["finished"] += 1
        left = _leftovers(parent)
        seen["leftover"] += bool(left)
        # Aim the kills at the writing and the swap however busy the machine is now: later when a kill
        # landed before anything was written, earlier when the run finished first.
        if not os.WIFSIGNALED(status):
            window = max(0.001, window * 0.95)
        elif not left:
            window = min(5.0, window * 1.05)
        if not os.path.exists(out):
            # Only between the two renames: the old export waits aside, whole, for the next run.
            assert swap == "two_renames", (seed, left)
            seen["absent"] += 1
            old = [name for name in left if name.startswith(PREFIX + "old-")]
            assert len(old) == 1, (seed, left)
            location = os.path.join(parent, old[0])
        else:
            location = out
        _whole(location)
        manager = os.path.join(location, "identity", "manager-set.p12")
        if _opens_with(manager, "pw-%d" % index):
            seen["new"] += 1
            committed = index
        else:
            assert _opens_with(manager, "pw-%d" % committed), (seed, index, committed)
            seen["old"] += 1
    print("export SIGKILL (%s) seed %s, %d attempts: %r" % (swap, seed, attempts, seen))
    assert seen["leftover"] > 0, (seed, seen)  # the kills landed inside writes
    assert seen["old"] > 0 and seen["new"] > 0, (seed, seen)
    final = _export.run(store, _params(out, password="pw-final"))
    assert final["changed"] is True
    assert _leftovers(parent) == [] and sorted(os.listdir(parent)) == ["out", "store"]
    _whole(out)
    assert _opens_with(os.path.join(out, "identity", "manager-set.p12"), "pw-final")


def test_a_two_rename_swap_killed_between_its_renames_is_put_back_by_the_next_run(tmp_path):
    """Where renameat2 is missing the swap is two renames; a kill between them leaves no export at path, the
    old one aside and the new one in its temporary directory: the next run reads (check mode) and puts back
    (real run) the old one, then carries on."""
    store = _store(tmp_path)
    out = str(tmp_path / "out")
    _export.run(store, _params(out))
    digest = helpers.tree_digest(out)
    new = str(tmp_path / (PREFIX + "0123456789ab"))
    shutil.copytree(out, new)
    os.rename(out, str(tmp_path / (PREFIX + "old-0123456789ab")))
    check = _export.run(store, _params(out), check_mode=True)
    assert check["changed"] is False and check["leftovers"] == [new]
    assert not os.path.exists(out)
    real = _export.run(store, _params(out))
    assert real["changed"] is False and real["leftovers"] == [new]
    assert helpers.tree_digest(out) == digest and _leftovers(str(tmp_path)) == []
    # The tcs/delete memory survives: it is the previous export's manifest that was read.
    assert _export.run(store, _params(out, password="another-pw"))["changed"] is True


# -------------------------------------------------------------------------------------------- full disk

@contextlib.contextmanager
def small_tmpfs(path, size):
    """A real tmpfs of ``size`` mounted at path (root only), unmounted after."""
    helpers.need(os.geteuid() == 0 and shutil.which("mount") is not None, "mounting a tmpfs needs root")
    os.makedirs(path)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", path],
                             capture_output=True, text=True, check=False, timeout=30)
    helpers.need(mounted.returncode == 0, "cannot mount a tmpfs here: %s" % mounted.stderr.strip())
    try:
        yield path
    finally:
        subprocess.run(["umount", path], capture_output=True, check=False, timeout=30)
        os.rmdir(path)


def _fill(path):
    """A file that takes every free byte of path's file system."""
    filler = os.path.join(path, "filler")
    with open(filler, "wb", buffering=0) as handle:
        for block in (65536, 4096, 1):
            while True:
                try:
                    handle.write(b"\0" * block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    return filler


def test_a_full_disk_is_export_disk_full_and_leaves_the_previous_export_whole(tmp_path):
    store = _store(tmp_path)
    with small_tmpfs(str(tmp_path / "disk"), "1m") as disk:
        out = os.path.join(disk, "out")
        filler = _fill(disk)
        # Nothing there yet: nothing left behind (no partial directory).
        error = _error(store, _params(out))
        assert error.code == "export_disk_full" and error.option == "path" and out in error.message
        assert os.listdir(disk) == ["filler"]
        os.unlink(filler)
        _export.run(store, _params(out))
        before = helpers.tree_digest(out)
        filler = _fill(disk)
        error = _error(store, _params(out, password="another-pw"))
        assert error.code == "export_disk_full"
        assert helpers.tree_digest(out) == before and sorted(os.listdir(disk)) == ["filler", "out"]
        _whole(out)
        # An unchanged export needs no space.
        assert _export.run(store, _params(out))["changed"] is False
        os.unlink(filler)
        result = _export.run(store, _params(out, password="another-pw"))
        assert result["changed"] is True and sorted(os.listdir(disk)) == ["out"]
        _whole(out)
