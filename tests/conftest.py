import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import helpers  # noqa: E402

helpers.ensure_collection_path()


def _registered_error_codes_only():
    """Under the tests SecurityError refuses a code that plugins/module_utils/_errors.py does not register, so a
    test reaching a raise with a new, unregistered code fails there (modules themselves never check)."""
    from ansible_collections.ipoffice.security.plugins.module_utils._errors import CODES
    from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError

    original = SecurityError.__init__

    def __init__(self, code, message, option=None, **details):
        assert code in CODES, "error code %r is not registered in plugins/module_utils/_errors.py" % (code,)
        original(self, code, message, option, **details)

    SecurityError.__init__ = __init__


_registered_error_codes_only()


@pytest.fixture(autouse=True)
def ipoffice_path(request):
    """The way the collection's modules run in this test's playbooks (helpers.MODULE_PATH): a test module
    marked ``both_paths`` runs each test twice, in the controller's worker and as a module."""
    previous = helpers.MODULE_PATH
    helpers.MODULE_PATH = getattr(request, "param", None)
    yield helpers.MODULE_PATH
    helpers.MODULE_PATH = previous


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("both_paths") and "ipoffice_path" in metafunc.fixturenames:
        metafunc.parametrize("ipoffice_path", helpers.PATHS, indirect=True)


# Helper processes that outlive the interpreter by design and are not servers a test started.
_EXPECTED_CHILDREN = ("multiprocessing", "resource_tracker", "forkserver")


def _live_descendants(root_pid):
    """(pid, command line) of every live (not zombie) descendant of root_pid, read from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                stat = handle.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if fields and fields[0] != "Z":
            parents[int(entry)] = int(fields[1])
    found, frontier = [], [root_pid]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent:
                frontier.append(pid)
                try:
                    with open("/proc/%d/cmdline" % pid, "rb") as handle:
                        cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
                except OSError:
                    continue
                found.append((pid, cmdline))
    return [(pid, cmd) for pid, cmd in found if not any(word in cmd for word in _EXPECTED_CHILDREN)]


@pytest.fixture(scope="session", autouse=True)
def no_process_left_running():
    """Tests must stop every server and tool they start: anything still running at the end is killed and
    reported as an error (on each pytest-xdist worker, for the processes that worker started)."""
    yield
    if not os.path.isdir("/proc"):
        return
    left = _live_descendants(os.getpid())
    for pid, _cmdline in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if left:
        pytest.fail("processes left running by the tests (now killed): %s"
                    % "; ".join("%d %s" % (pid, cmd[:120]) for pid, cmd in left), pytrace=False)
