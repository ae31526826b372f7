"""Kills: a writer that lowers keep_generations removes generations before it writes; SIGKILL at any point
of that leaves the store readable at the old or the new generation, and every generation it lists whole.

The 1,000 SIGKILLs inside ordinary writes and the concurrent writers are in test_store.py (see README.md).
"""

import os
import random
import shutil
import signal
import time

from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

KILLS = int(os.environ.get("PRUNE_KILLS", "60"))


def lower_keep(path, report_fd):
    """Child: one write that lowers keep_generations to 2 (so it prunes first), then reports."""
    try:
        store = DirectoryStore(path, keep=2)
        store.update(lambda state: state.data.__setitem__("lowered", True))
        os.write(report_fd, b"done\n")
    finally:
        os._exit(3)


def one(path, delay):
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        lower_keep(path, write_fd)
    os.close(write_fd)
    if delay is not None:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
    _pid, status = os.waitpid(pid, 0)
    elapsed = time.monotonic() - started
    while os.read(read_fd, 4096):
        pass
    os.close(read_fd)
    return status, elapsed


def test_sigkill_while_pruning_before_a_write_leaves_a_whole_store(template_store, tmp_path):
    seed = os.environ.get("PRUNE_KILL_SEED", str(time.time()))
    random.seed(seed)
    # A store with 8 generations, keep_generations 10.
    history = str(tmp_path / "history")
    shutil.copytree(template_store, history, symlinks=True)
    for index in range(7):
        DirectoryStore(history).update(lambda state, i=index: state.data.__setitem__("n", i))
    assert len(DirectoryStore(history).generations()) == 8
    before = DirectoryStore(history).read()

    windows = []
    for index in range(3):
        path = str(tmp_path / ("timing-%d" % index))
        shutil.copytree(history, path, symlinks=True)
        windows.append(one(path, None)[1])
    window = sorted(windows)[1]

    # Until KILLS writers were killed (a writer that finished first narrows the window: a loaded machine
    # makes the timing runs above unrepresentative), at most four times as many attempts.
    seen = {"killed": 0, "finished_first": 0, "old": 0, "new": 0, "pruned_partly": 0}
    index = 0
    while seen["killed"] < KILLS and index < 4 * KILLS:
        index += 1
        path = str(tmp_path / ("kill-%d" % index))
        shutil.copytree(history, path, symlinks=True)
        status, _elapsed = one(path, random.uniform(0.0, window))
        if os.WIFSIGNALED(status):
            seen["killed"] += 1
        else:
            seen["finished_first"] += 1
            window *= 0.8
        state = DirectoryStore(path).read()  # readable, whole
        if state.generation == before.generation:
            assert "lowered" not in state.data and state.keep_generations == 10, (seed, index)
            seen["old"] += 1
        else:
            assert state.generation == before.generation + 1 and state.data["lowered"] is True, (seed, index)
            assert state.keep_generations == 2
            seen["new"] += 1
        listed = DirectoryStore(path).generations()
        seen["pruned_partly"] += 2 < len(listed) < 8
        for generation in listed:  # every generation under a generation's name is whole
            DirectoryStore(path).load_generation(generation["generation"])
        # the next writer cleans up what the kill left and carries on
        DirectoryStore(path).update(lambda state: state.data.__setitem__("after", True))
        assert not [e for e in os.listdir(os.path.join(path, "generations")) if e.startswith(".tmp-")]
        shutil.rmtree(path)
    print("prune kills, seed %s: %r" % (seed, seen))
    assert seen["killed"] == KILLS, (seed, seen)
