"""The error registry (_errors.py) is the whole vocabulary: every code raised or reported anywhere in plugins/
is registered, every registered code is raised somewhere, every code the docs, roles and playbooks name
exists, and docs/errors.md is generated from it."""

import ast
import os
import re
import subprocess
import sys

import pytest

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _errors
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError

PLUGINS = os.path.join(helpers.REPO, "plugins")
TOOL = os.path.join(helpers.REPO, "tools", "gen_errors_doc.py")
CODE = re.compile(r"^[a-z][a-z0-9_]*$")
# A code embedded in a message string (the certificate_info filter: "... [error: invalid_certificate]").
EMBEDDED = re.compile(r"\[error: ([a-z0-9_]+)\]")


def _files(top, endings):
    for root, _dirs, names in os.walk(top):
        for name in sorted(names):
            if name.endswith(endings):
                yield os.path.join(root, name)


def _name(func):
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _literal(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _code_parameters(trees):
    """{function name: position of its ``code`` (or ``error``) parameter} of the helpers plugins/ defines that
    make a SecurityError (a finding's code, of the check engine or the audit, is not an error code)."""
    positions = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(call, ast.Call) and _name(call.func) == "SecurityError" for call in ast.walk(node)):
                names = [arg.arg for arg in node.args.args]
                if names and names[0] == "self":
                    names = names[1:]
                for index, name in enumerate(names):
                    if name in ("code", "error"):
                        positions[node.name] = index
    return positions


def raised_codes():
    """{code: [where]} of every error code plugins/ raises or reports, and [where] of any it computes.

    A code is set by SecurityError(code, ...), by a code=/error= keyword, by a helper's ``code`` parameter
    (given by position or as a default), by an "error" key of a result dict, or inside a message as
    "[error: code]".  SecurityError may pass on a code it did not choose only as another error's ``.code`` or a
    ``code`` parameter (whose callers are collected here too).
    """
    found, computed = {}, []
    sources = dict((path, open(path).read()) for path in _files(PLUGINS, (".py",)))
    trees = dict((path, ast.parse(source)) for path, source in sources.items())
    helpers_with_code = _code_parameters(trees.values())
    for path, source in sources.items():
        where = os.path.relpath(path, helpers.REPO)
        for match in EMBEDDED.finditer(source):
            found.setdefault(match.group(1), []).append(where)
        for node in ast.walk(trees[path]):
            here = "%s:%d" % (where, getattr(node, "lineno", 0))
            if isinstance(node, ast.Call):
                if _name(node.func) == "SecurityError":
                    first = node.args[0] if node.args else None
                    if _literal(first):
                        found.setdefault(first.value, []).append(here)
                    elif not (isinstance(first, ast.Attribute) and first.attr == "code"
                              or isinstance(first, ast.Name) and first.id == "code"):
                        computed.append(here)
                position = helpers_with_code.get(_name(node.func))
                if position is not None and len(node.args) > position and _literal(node.args[position]):
                    found.setdefault(node.args[position].value, []).append(here)
                for keyword in node.keywords:
                    if keyword.arg in ("code", "error") and _literal(keyword.value):
                        found.setdefault(keyword.value.value, []).append(here)
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values):
                    # (a code, not a colour: the audit report maps severities such as "error" to colours)
                    if key is not None and _literal(key) == "error" and CODE.match(_literal(value) or ""):
                        found.setdefault(value.value, []).append(here)
            elif isinstance(node, ast.FunctionDef):
                args = node.args.args[len(node.args.args) - len(node.args.defaults):]
                for arg, default in zip(args, node.args.defaults):
                    if arg.arg in ("code", "error") and _literal(default):
                        found.setdefault(default.value, []).append(here)
    return found, computed


# Where the documentation, the roles and the playbooks name an error code: C(error=x), `error: x`,
# error == 'x', error != 'x'.
NAMED = re.compile(r"""C\(error=([a-z0-9_]+)\)|`error: ([a-z0-9_]+)`|\berror\s*[!=]=\s*['"]([a-z0-9_]+)['"]""")


def named_codes():
    named = {}
    tops = [os.path.join(helpers.REPO, top) for top in ("plugins", "roles", "playbooks", "docs")]
    for top in tops + [os.path.join(helpers.REPO, "README.md")]:
        paths = [top] if os.path.isfile(top) else _files(top, (".py", ".yml", ".yaml", ".md", ".j2"))
        for path in paths:
            for match in NAMED.finditer(open(path).read()):
                code = next(group for group in match.groups() if group)
                named.setdefault(code, []).append(os.path.relpath(path, helpers.REPO))
    return named


def test_the_registry_is_well_formed():
    codes = [entry[0] for entry in _errors.ERRORS]
    assert len(codes) == len(set(codes)), "a code is registered twice"
    groups = set(key for key, _title in _errors.GROUPS)
    for code, group, meaning, remedy in _errors.ERRORS:
        assert CODE.match(code), code
        assert group in groups, (code, group)
        assert meaning.endswith(".") and remedy.endswith("."), code
        assert _errors.meaning(code) == meaning and _errors.remedy(code) == remedy
    assert _errors.CODES == set(codes)


def test_every_raised_code_is_registered_and_every_registered_code_is_raised():
    found, computed = raised_codes()
    assert computed == [], "SecurityError with a code that is not a literal: %s" % computed
    unregistered = dict((code, where) for code, where in found.items() if code not in _errors.CODES)
    assert unregistered == {}, "raised but not in plugins/module_utils/_errors.py: %s" % unregistered
    never = sorted(_errors.CODES - set(found))
    assert never == [], "registered but raised nowhere in plugins/ (remove them from _errors.py): %s" % never


def test_the_collector_sees_every_way_a_code_is_set():
    """The collector is what the registry test trusts: it must see the codes set each way plugins/ sets them."""
    found, _computed = raised_codes()
    assert any(w.startswith("plugins/module_utils/_store.py") for w in found["trusted_store_full"])  # multi-line
    assert any("_cryptography_dep.py" in w for w in found["missing_library"])  # error= of a result
    assert any("_checks_settings.py" in w for w in found["unknown_line"])  # code= keyword of a helper
    assert any("_checks_settings.py" in w for w in found["invalid_setting"])  # a helper's default code
    assert "plugins/filter/certificate_info.py" in found["invalid_certificate"]  # inside a message
    assert any("_export_dest.py" in w for w in found["export_disk_full"])  # a helper's code, by position


def test_every_code_the_docs_roles_and_playbooks_name_is_registered():
    named = named_codes()
    assert "trusted_entry_in_use" in named and "store_locked" in named  # the scan reads what it should
    unknown = dict((code, where) for code, where in named.items() if code not in _errors.CODES)
    assert unknown == {}, "named as an error code but not registered: %s" % unknown


def test_errors_md_is_current_and_lists_every_code():
    assert subprocess.call([sys.executable, TOOL, "--check"]) == 0, "docs/errors.md is stale: run make docs"
    page = open(os.path.join(helpers.REPO, "docs", "errors.md")).read()
    for code in _errors.CODES:
        assert "| `%s` |" % code in page, code


def test_an_unregistered_code_fails_where_it_is_raised_under_the_tests():
    """tests/conftest.py makes SecurityError refuse unregistered codes, so a test that reaches one fails."""
    with pytest.raises(AssertionError, match="not_a_registered_code"):
        raise SecurityError("not_a_registered_code", "message")
    assert SecurityError("store_locked", "message").code == "store_locked"
