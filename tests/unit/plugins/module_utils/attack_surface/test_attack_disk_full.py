"""A full file system: store_full with the advice that helps, the store whole, and a way out through the
modules (lowering keep_generations removes generations before the new one is written).

Real full file systems: a small tmpfs mounted for each test (root only; skipped elsewhere, required under
CI=true), filled to the last byte with a file beside the store, unmounted afterwards.
"""

import errno
import os
import shutil
import subprocess

import pytest

import helpers
from conftest import NAME, refused, run

from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs (a store generation takes ~40 KiB on it: a page per file)."""
    helpers.need(os.geteuid() == 0, "mounting a tmpfs needs root")
    mount = tmp_path / "fs"
    mount.mkdir()
    process = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mount)],
                             capture_output=True, text=True, check=False)
    helpers.need(process.returncode == 0, "cannot mount a tmpfs here: %s" % process.stderr.strip())
    try:
        yield str(mount)
    finally:
        subprocess.run(["umount", str(mount)], check=False, capture_output=True)
        if os.path.ismount(str(mount)):  # pragma: no cover - still busy: detach it
            subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def fill(directory):
    """Fill the file system of ``directory`` to the last byte (a file beside the store)."""
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    finally:
        os.close(fd)
    return path


def store_with_generations(template_store, mount, count, keep=None):
    path = os.path.join(mount, "store")
    shutil.copytree(template_store, path, symlinks=True)
    for days in range(31, 31 + count - 1):
        run("certificate_checks", store_path=path, certificate_expiry_warning_days=days, keep_generations=keep)
    assert len(DirectoryStore(path).generations()) == count
    return path


def test_a_write_on_a_full_file_system_is_store_full_and_leaves_the_store_whole(template_store, small_fs):
    path = store_with_generations(template_store, small_fs, 3)
    fill(small_fs)
    err = refused(path, lambda: run("certificate_checks", store_path=path, certificate_expiry_warning_days=120),
                  "store_full", "keep_generations")
    assert "is full" in err.message and "keep_generations 10" in err.message and "Free space" in err.message
    assert "write access" not in err.message
    assert not [e for e in os.listdir(os.path.join(path, "generations")) if e.startswith(".tmp-")]
    # check mode writes nothing, so a full disk does not stop it from predicting the change
    assert run("certificate_checks", check_mode=True, store_path=path, certificate_expiry_warning_days=120)["changed"]


def test_lowering_keep_generations_recovers_a_full_store_through_the_modules(template_store, small_fs):
    path = store_with_generations(template_store, small_fs, 4)
    fill(small_fs)
    refused(path, lambda: run("certificate_checks", store_path=path, certificate_expiry_warning_days=120),
            "store_full", "keep_generations")
    result = run("certificate_checks", store_path=path, certificate_expiry_warning_days=120, keep_generations=2)
    assert result["changed"] is True
    state = DirectoryStore(path).read()
    assert state.keep_generations == 2 and state.settings["checks"]["certificate_expiry_warning_days"] == 120
    assert [g["generation"] for g in DirectoryStore(path).generations()] == [5, 4]
    assert sorted(os.listdir(os.path.join(path, "generations"))) == ["000004", "000005"]


def test_the_generation_module_recovers_a_full_store_too(template_store, small_fs):
    path = store_with_generations(template_store, small_fs, 4)
    fill(small_fs)
    result = run("generation", store_path=path, keep_generations=2)
    assert result["changed"] is True and result["keep_generations"] == 2
    assert [g["generation"] for g in result["generations"]] == [5, 4]


def test_a_full_store_at_its_keep_generations_makes_room_from_what_the_write_prunes_anyway(template_store,
                                                                                           small_fs):
    path = store_with_generations(template_store, small_fs, 3, keep=3)
    fill(small_fs)
    result = run("certificate_checks", store_path=path, certificate_expiry_warning_days=120)
    assert result["changed"] is True
    assert [g["generation"] for g in DirectoryStore(path).generations()] == [4, 3, 2]


def test_a_new_store_on_a_full_file_system_is_store_full(small_fs):
    fill(small_fs)
    path = os.path.join(small_fs, "new")
    with pytest.raises(Exception) as err:
        run("certificate_checks", store_path=path, system_name=NAME, certificate_expiry_warning_days=120)
    assert getattr(err.value, "code", None) == "store_full", err.value
    # What the writer made before the file system refused the first generation (the directory, its lock and
    # generations directory) is removed again: the path is as it was.
    assert not os.path.lexists(path)
    assert sorted(os.listdir(small_fs)) == ["filler"]


def test_a_new_store_below_new_directories_on_a_full_file_system_leaves_none_of_them(small_fs):
    fill(small_fs)
    path = os.path.join(small_fs, "fleet", "site-a", "ipo1")
    with pytest.raises(Exception) as err:
        run("certificate_checks", store_path=path, system_name=NAME, certificate_expiry_warning_days=120)
    assert getattr(err.value, "code", None) == "store_full", err.value
    assert sorted(os.listdir(small_fs)) == ["filler"]


def test_a_new_store_in_an_empty_directory_on_a_full_file_system_leaves_it_empty(small_fs):
    path = os.path.join(small_fs, "given")
    os.mkdir(path)
    fill(small_fs)
    with pytest.raises(Exception) as err:
        run("certificate_checks", store_path=path, system_name=NAME, certificate_expiry_warning_days=120)
    assert getattr(err.value, "code", None) == "store_full", err.value
    assert os.listdir(path) == []
