# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where export writes: a directory it owns, replaced whole or not at all.

``path`` is taken only when it is absent (its parent is a directory), an empty directory, or a previous
export: a directory holding the marker file ``.ipoffice-export`` (or, written by an earlier release without
the marker, this module's ``manifest.json``).  A symlink, anything that is not a directory, and a non-empty
directory that is not a previous export are refused before anything is written (``export_path_symlink``,
``export_path_not_directory``, ``export_path_not_empty``).  Files, symlinks and directories someone else put
into a previous export are carried into the new one as they are (hard links, the same link targets, never
followed); one that stands where the export writes, or anything else (a FIFO, a device), is refused.

Writing never touches the previous export.  Every file goes into a new directory beside it
(``.<name>.export-<random>``, mode 0700, the marker first), each file and directory is fsynced, and the new
directory takes the place of the old one in one step: ``renameat2(RENAME_EXCHANGE)`` on Linux; where that is
missing, two renames (the old tree moved aside to ``.<name>.export-old-<random>`` first; a run killed between
the two puts it back on the next export).  The old tree is removed after.  A failure removes the new
directory (a full disk is ``export_disk_full``) and leaves the previous export as it was; a kill leaves the
new directory behind (0700), and the next export removes it.  A writer holds an flock on its directory while
it works, so that clean-up never removes the directory of an export still running.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import errno
import os
import re
import stat

from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import (
    _NotRegular,
    _fsync_dir,
    _read_file,
    _remove,
    _write_file,
)

MARKER = ".ipoffice-export"
MARKER_TEXT = (b"This directory is written by ipoffice.security.export and belongs to it: each export replaces it "
               b"whole.\nFiles added here are carried into each new export as they are; do not add any where the\n"
               b"export writes its own.\n")
MANIFEST = "manifest.json"
DIR_MODE = 0o700
# A previous export is small (two identities, at most 25 trusted entries and what tcs/delete remembers):
# beyond these it is not one of ours, and reading it stops there.
MAX_ENTRIES = 2000
MAX_DEPTH = 8
MAX_FILE_BYTES = 4 * 1024 * 1024
# The temporary directories beside path: ".<name>.export-<12 hex>" (new) and ".<name>.export-old-<12 hex>".
NAME_LIMIT = 64
# Left inside a previous export by the file-by-file writer of earlier releases (".<file>.tmp-<pid>").
OLD_WRITER_TMP = re.compile(r"^\..+\.tmp-[0-9]+$")

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class Destination(object):
    """What is at path now, and how to read the previous export there."""

    def __init__(self, path):
        self.path = path
        self.parent, self.name = os.path.split(path)
        self.prefix = ".%s.export-" % self.name[:NAME_LIMIT]
        self.kind = "absent"      # absent, empty or export
        self.root = None          # where the previous export is read from (path, or an old tree to restore)
        self.restore = None       # an old tree moved aside by a two-rename swap that was killed
        self.marker = False       # the marker file is there (not only a legacy manifest)
        self.files = {}           # relative path -> mode of every regular file of the previous export
        self.dirs = set()         # relative directories
        self.links = {}           # relative path -> target of every symlink (never followed)
        self.others = []          # relative paths of anything else (FIFOs, devices, sockets, beyond the bounds)
        self.leftovers = []       # dead temporary directories of earlier exports, beside path
        self.manifest = None      # bytes of the previous manifest.json (None when absent or unreadable)

    @property
    def exists(self):
        return self.kind != "absent"

    def read(self, rel):
        """Bytes of a regular file of the previous export (never through a symlink); None when absent or
        not readable as a regular file (it is then written anew)."""
        if self.root is None or rel not in self.files:
            return None
        try:
            return _read_file(self.root, *rel.split("/"), limit=MAX_FILE_BYTES)
        except (OSError, IOError, _NotRegular):
            return None

    def mode(self, rel):
        return self.files.get(rel)


def _error(code, message):
    return SecurityError(code, message, option="path")


def os_error(exc, path):
    """The coded error of an OSError met while writing the export at path."""
    reason = exc.strerror or str(exc)
    where = getattr(exc, "filename", None) or path
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return _error("export_disk_full", "No space left for the export at %s (%s: %s). Nothing was changed: the "
                      "previous export there, if any, is whole and no temporary file is left. Free space on that "
                      "file system (an export takes about 100 KB) or change the 'path' option."
                      % (path, where, reason))
    if exc.errno in (errno.EBUSY, errno.EXDEV):
        return _error("export_unwritable", "Cannot replace %s (%s: %s): it is a mount point or on another file "
                      "system than its parent. Nothing was changed. Set the 'path' option to a directory below it."
                      % (path, where, reason))
    return _error("export_unwritable", "Cannot write the export at %s (%s: %s). Nothing was changed. Give the user "
                  "running the task write access to %s, or change the 'path' option."
                  % (path, where, reason, os.path.dirname(path) or path))


# -------------------------------------------------------------------------------------------- inspect

def inspect(path):
    """What is at path (absolute, free of NUL): refuses what export must not write to; reads only."""
    dest = Destination(path)
    if not dest.name or dest.name in (".", ".."):
        raise _error("export_path_not_empty", "%s is not a directory export may own. Set the 'path' option to a "
                     "new or empty directory, one per system." % path)
    try:
        info = os.lstat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            info = None
        elif exc.errno == errno.ENOTDIR:
            raise _parent_missing(dest)
        else:
            raise os_error(exc, path)
    if info is None:
        if not os.path.isdir(dest.parent):
            raise _parent_missing(dest)
    elif stat.S_ISLNK(info.st_mode):
        raise _error("export_path_symlink", "%s is a symlink (to %s); export never writes through one, so nothing "
                     "was written. Set the 'path' option to the real directory, or remove the symlink."
                     % (path, _link_target(path)))
    elif not stat.S_ISDIR(info.st_mode):
        raise _error("export_path_not_directory", "%s exists and is not a directory; nothing was written. Change the "
                     "'path' option to a directory (it is created when missing)." % path)
    else:
        _scan(dest, path)
    dest.leftovers, old = _leftovers(dest)
    if dest.kind == "absent" and old:
        # A two-rename swap killed between its renames: the previous export is the newest old tree.
        dest.restore = old[-1]
        _scan(dest, dest.restore)
        dest.kind = "absent"  # still nothing at path until the restore
        dest.leftovers = [p for p in dest.leftovers if p != dest.restore]
    return dest


def _parent_missing(dest):
    return _error("export_path_parent_missing", "The parent directory %s of %s does not exist or is not a "
                  "directory; nothing was written. Create it first or change the 'path' option."
                  % (dest.parent, dest.path))


def _link_target(path):
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _open_dir(path, dir_fd=None):
    return os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, dir_fd=dir_fd)


def _scan(dest, root):
    """Fill dest from the directory root: empty, a previous export, or refused."""
    try:
        fd = _open_dir(root)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _error("export_path_symlink", "%s changed into a symlink or non-directory while it was read; "
                         "nothing was written. Check the 'path' option." % root)
        raise os_error(exc, dest.path)
    try:
        names = sorted(os.listdir(fd))
    except OSError as exc:
        os.close(fd)
        raise os_error(exc, dest.path)
    if not names:
        os.close(fd)
        dest.kind = "empty" if root == dest.path else "absent"
        dest.root = None
        return
    try:
        manifest = _read_manifest(fd)
        marker = _is_regular(fd, MARKER)
        if not marker and not _legacy_manifest(manifest):
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            raise _error("export_path_not_empty", "%s is a directory holding %d entries (%s) and is not an earlier "
                         "export (no %s marker): export replaces its directory whole, so it writes only into a "
                         "new or empty directory or its own earlier export. Nothing was written. Change the 'path' "
                         "option (one directory per system)." % (dest.path, len(names), shown, MARKER))
        dest.kind, dest.root, dest.marker, dest.manifest = "export", root, marker, manifest
        dest.files, dest.dirs, dest.links, dest.others = {}, set(), {}, []
        _walk(dest, fd)
    finally:
        os.close(fd)


def _is_regular(fd, name):
    try:
        return stat.S_ISREG(os.lstat(name, dir_fd=fd).st_mode)
    except OSError:
        return False


def _read_manifest(fd):
    try:
        return _read_file(fd, MANIFEST, limit=MAX_FILE_BYTES)
    except (OSError, IOError, _NotRegular):
        return None


def _legacy_manifest(data):
    """Whether data is the manifest.json an earlier release of this module wrote (format 1, its keys)."""
    import json
    try:
        document = json.loads(data.decode("utf-8")) if data else None
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(document, dict) and document.get("format") == 1 and isinstance(document.get("files"), dict) \
        and "routes" in document and "system_name" in document


def _walk(dest, root_fd):
    """Every entry of the previous export, without following a symlink (bounded)."""
    pending = [(os.dup(root_fd), "", 0)]
    count = 0
    try:
        while pending:
            fd, rel, depth = pending.pop()
            try:
                for name in sorted(os.listdir(fd)):
                    count += 1
                    child = rel + "/" + name if rel else name
                    if count > MAX_ENTRIES or depth >= MAX_DEPTH:
                        dest.others.append(child)
                        continue
                    mode = os.lstat(name, dir_fd=fd).st_mode
                    if stat.S_ISREG(mode):
                        dest.files[child] = stat.S_IMODE(mode)
                    elif stat.S_ISDIR(mode):
                        dest.dirs.add(child)
                        pending.append((_open_dir(name, dir_fd=fd), child, depth + 1))
                    elif stat.S_ISLNK(mode):
                        dest.links[child] = os.readlink(name, dir_fd=fd)
                    else:
                        dest.others.append(child)
            finally:
                os.close(fd)
    except OSError as exc:
        for fd, _rel, _depth in pending:
            os.close(fd)
        raise os_error(exc, dest.path)


def _leftovers(dest):
    """(every dead temporary directory beside path, the old trees among them oldest first)."""
    pattern = re.compile("^" + re.escape(dest.prefix) + "(old-)?[0-9a-f]{12}$")
    try:
        names = os.listdir(dest.parent)
    except OSError:
        return [], []
    found, old = [], []
    for name in sorted(names):
        match = pattern.match(name)
        if not match:
            continue
        full = os.path.join(dest.parent, name)
        try:
            info = os.lstat(full)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or not _dead(full):
            continue
        found.append(full)
        if match.group(1):
            old.append((info.st_mtime, full))
    return found, [full for _mtime, full in sorted(old)]


def _dead(path):
    """A temporary directory no export is writing (its flock is free) that export made (marker or empty)."""
    import fcntl
    try:
        fd = _open_dir(path)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (OSError, IOError):
            return False  # a running export holds it
        return _is_regular(fd, MARKER) or not os.listdir(fd)
    finally:
        os.close(fd)  # releases the flock


def remove_tree(path):
    """Remove a directory export made, its marker last: a kill midway leaves it recognisably export's (the
    marker still inside, or empty) for the next export to finish.  Never follows a symlink."""
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
        return
    for name in os.listdir(path):
        if name != MARKER:
            _remove(os.path.join(path, name))
    if os.path.lexists(os.path.join(path, MARKER)):
        os.unlink(os.path.join(path, MARKER))
    os.rmdir(path)


def tidy(dest):
    """Real runs only, before planning: put back an old tree a killed swap left aside, remove dead temporary
    directories.  Returns the paths removed."""
    if dest.restore:
        try:
            os.rename(dest.restore, dest.path)
        except OSError as exc:
            raise os_error(exc, dest.path)
        _fsync_dir(dest.parent)
        dest.restore = None
        _scan(dest, dest.path)
    removed = []
    for path in dest.leftovers:
        try:
            remove_tree(path)
            removed.append(path)
        except OSError:
            pass  # tried again by the next export
    dest.leftovers = []
    return removed


# ---------------------------------------------------------------------------------------------- write

def _make_parents(dirs, rel):
    """(parent directory path, file name) of ``rel`` under the new export, its parent directories made first
    (``dirs``: relative directory -> path, updated)."""
    parts = rel.split("/")
    current = ""
    for part in parts[:-1]:
        child = current + "/" + part if current else part
        if child not in dirs:
            dirs[child] = os.path.join(dirs[current], part)
            os.mkdir(dirs[child], DIR_MODE)
        current = child
    return dirs[current], parts[-1]


def write(dest, files, carry=()):
    """Write files ({relative path: (bytes, mode)}) and the marker as the new export at dest.path, with the
    entries ``carry`` names (relative paths of the previous export that are not export's: hard-linked, symlinks
    made anew, directories made), replacing what is there in one step.  Returns warnings (an old tree that
    could not be removed)."""
    import fcntl
    token = binascii.hexlify(os.urandom(6)).decode("ascii")
    tmp = os.path.join(dest.parent, dest.prefix + token)
    try:
        os.mkdir(tmp, DIR_MODE)
    except OSError as exc:
        raise os_error(exc, dest.path)
    fd = None
    try:
        fd = _open_dir(tmp)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _write_file(tmp, MARKER, MARKER_TEXT, 0o644)  # first: a killed writer's directory is recognisably ours
        dirs = {"": tmp}
        for rel in sorted(files):
            data, mode = files[rel]
            parent, name = _make_parents(dirs, rel)
            _write_file(parent, name, data, mode)
        for rel in sorted(carry):
            parent, name = _make_parents(dirs, rel)
            target = os.path.join(parent, name)
            if rel in dest.links:
                os.symlink(dest.links[rel], target)
            elif rel in dest.dirs:
                if rel not in dirs:
                    os.mkdir(target, DIR_MODE)
                    dirs[rel] = target
            else:
                os.link(os.path.join(dest.root, rel), target, follow_symlinks=False)
        for rel in sorted(dirs, key=lambda r: -r.count("/") - (1 if r else 0)):
            _fsync_dir(dirs[rel])
        old = _swap(tmp, dest, token)
        _fsync_dir(dest.parent)
    except BaseException as exc:
        _discard(tmp)
        if isinstance(exc, OSError):
            raise os_error(exc, dest.path)
        raise
    finally:
        if fd is not None:
            os.close(fd)
    warnings = []
    if old is not None:
        try:
            if os.path.isdir(old) and not os.path.islink(old):
                remove_tree(old)
            else:
                warnings.append("%s was replaced while export ran; what stood there is kept at %s." % (dest.path, old))
        except OSError as exc:
            warnings.append("The previous export, moved to %s, could not be removed (%s); the next export removes "
                            "it." % (old, exc.strerror or exc))
    return warnings


def _discard(path):
    try:
        if os.path.lexists(path):
            remove_tree(path)
    except OSError:
        pass  # a later export removes it


_RENAMEAT2 = []


def _renameat2():
    """libc's renameat2, or None where there is none (not Linux, an older C library)."""
    if not _RENAMEAT2:
        function = None
        try:
            import ctypes
            function = ctypes.CDLL(None, use_errno=True).renameat2
            function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            function.restype = ctypes.c_int
        except (ImportError, OSError, AttributeError, TypeError):
            function = None
        _RENAMEAT2.append(function)
    return _RENAMEAT2[0]


def _rename2(src, dst, flags):
    """renameat2(src, dst, flags); False when the system (or the file system) does not have it."""
    function = _renameat2()
    if function is None:
        return False
    import ctypes
    if function(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, getattr(errno, "ENOTSUP", errno.EINVAL),
                getattr(errno, "EOPNOTSUPP", errno.EINVAL)):
        return False
    raise OSError(code, os.strerror(code), dst)


def _swap(tmp, dest, token):
    """Put the directory tmp at dest.path; return where what stood there went (None: nothing stood there)."""
    if not os.path.lexists(dest.path):
        if not _rename2(tmp, dest.path, _RENAME_NOREPLACE):
            os.rename(tmp, dest.path)
        return None
    if _rename2(tmp, dest.path, _RENAME_EXCHANGE):
        return tmp
    old = os.path.join(dest.parent, dest.prefix + "old-" + token)
    os.rename(dest.path, old)
    os.rename(tmp, dest.path)
    return old
