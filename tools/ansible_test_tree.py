"""Mirror the collection into .build/ansible-test/ansible_collections/ipoffice/security for ansible-test.

ansible-test needs the collection at a path ending in ``ansible_collections/<namespace>/<name>``. The
mirror holds exactly the files git would ship: tracked files plus untracked files that are not ignored
(``git ls-files -co --exclude-standard``), so work in progress is tested too and .venv/.build are not.
The mirror is an empty git repository of its own, for ansible-test's file listing.
Files are copied only when changed, files no longer listed are removed, and ``tests/output`` (where
ansible-test keeps its results) is left alone, so repeated runs are quick.

Prints the mirror's path.
"""

import filecmp
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEST = os.path.join(REPO, ".build", "ansible-test", "ansible_collections", "ipoffice", "security")
# ansible-test's results, and the mirror's own (empty) git repository: with it, ansible-test lists the
# mirror's files with git (untracked, not ignored) instead of walking up to this repository's .git,
# where .build/ is ignored and every target would be skipped.
KEEP = ("tests/output", ".git")


def listed_files():
    output = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode()
    # A deleted-but-still-tracked file is listed too: only mirror what exists.
    return sorted(path for path in output.split("\0") if path and os.path.lexists(os.path.join(REPO, path)))


def kept(relative):
    return any(relative == keep or relative.startswith(keep + "/") for keep in KEEP)


def main():
    files = listed_files()
    wanted = set(files)
    os.makedirs(DEST, exist_ok=True)
    if not os.path.isdir(os.path.join(DEST, ".git")):
        subprocess.run(["git", "init", "-q", DEST], check=True)
    copied = 0
    for relative in files:
        source = os.path.join(REPO, relative)
        target = os.path.join(DEST, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(source):
            link = os.readlink(source)
            if not (os.path.islink(target) and os.readlink(target) == link):
                if os.path.lexists(target):
                    os.remove(target)
                os.symlink(link, target)
                copied += 1
            continue
        if os.path.islink(target):
            os.remove(target)
        elif os.path.isdir(target):
            shutil.rmtree(target)
        if not (os.path.isfile(target) and filecmp.cmp(source, target, shallow=False)):
            shutil.copy2(source, target)
            copied += 1
        else:
            shutil.copymode(source, target)
    removed = 0
    for root, dirs, names in os.walk(DEST, topdown=True):
        rel_root = os.path.relpath(root, DEST)
        rel_root = "" if rel_root == "." else rel_root + "/"
        dirs[:] = [d for d in dirs if not kept(rel_root + d)]
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            relative = rel_root + name
            if relative not in wanted and not kept(relative):
                os.remove(os.path.join(root, name))
                removed += 1
    for root, dirs, _names in os.walk(DEST, topdown=False):
        for name in dirs:
            path = os.path.join(root, name)
            if not os.path.islink(path) and not os.listdir(path) and not kept(os.path.relpath(path, DEST)):
                os.rmdir(path)
    sys.stderr.write("ansible-test tree: %d files, %d updated, %d removed\n" % (len(files), copied, removed))
    print(DEST)


if __name__ == "__main__":
    main()
