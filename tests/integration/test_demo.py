"""`make demo` from the checkout: it runs, and it writes nothing into the user's home directory (the
virtualenv, the collection link, Ansible's temporary files and the demo stores all stay in the checkout)."""

import os
import shutil
import subprocess

import helpers
import pytest


@pytest.mark.slow
def test_make_demo_writes_nothing_into_home(tmp_path):
    helpers.need_tool("make")
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    for name in list(env):
        if name.startswith("ANSIBLE_") or name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
            env.pop(name)
    run = subprocess.run([shutil.which("make"), "-s", "demo"], cwd=helpers.REPO, capture_output=True, text=True,
                         env=env, check=False, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "failed=0" in run.stdout and "ipo-shop" in run.stdout
    written = sorted(os.path.relpath(os.path.join(root, name), str(home))
                     for root, dirs, files in os.walk(str(home)) for name in dirs + files)
    assert written == []
