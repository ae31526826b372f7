"""A lint over tests/: no assertion that passes when either of two things holds.

`assert a or b` cannot tell which held; when a implies b (`"'opt'" in msg or "opt" in msg`) it is only b,
and `assert code is None or result == code` skips the check it seems to make. Ruff has no rule for this
(PT018 is about `and`), so this test is the rule: split by case (`if ...: assert a else: assert b`) or
assert each part. A line may opt out with `# exact-assertions: <why>` when a disjunction really is the
claim.
"""

import ast
import os

import helpers

TESTS = os.path.join(helpers.REPO, "tests")
OPT_OUT = "# exact-assertions:"


def _disjunctions(test):
    """The `or` expressions an assert's test is made of: itself, or an operand of its top-level `and`."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        return [test]
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return [value for value in test.values if isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or)]
    return []


def loose_assertions(source, name="<source>"):
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assert):
            continue
        if any(OPT_OUT in lines[number - 1] for number in range(node.lineno, node.end_lineno + 1)):
            continue
        for disjunction in _disjunctions(node.test):
            found.append("%s:%d: assert ... %s" % (name, node.lineno, ast.unparse(disjunction)[:100]))
    return found


def test_no_test_asserts_one_thing_or_another():
    found = []
    for root, _dirs, files in os.walk(TESTS):
        for file_name in sorted(files):
            if file_name.endswith(".py"):
                path = os.path.join(root, file_name)
                with open(path) as handle:
                    found += loose_assertions(handle.read(), os.path.relpath(path, helpers.REPO))
    assert found == [], "assertions that pass when either side holds (assert the case that applies):\n" + \
        "\n".join(found)


def test_the_lint_catches_the_patterns_and_leaves_the_rest():
    caught = loose_assertions(
        "assert \"'x'\" in m or \"x\" in m\n"
        "assert code is None or err.code == code\n"
        "assert err.code == 'a' and (m.startswith('x') or 'y' in m)\n"
        "assert (\n    a or\n    b\n)\n")
    assert [line.split(":")[1] for line in caught] == ["1", "2", "3", "4"]
    assert loose_assertions(
        "assert a and b\n"
        "assert (doc.get('x') or {}) == {}\n"           # a default value, not a disjunction of claims
        "assert any(x or y for x, y in pairs)\n"
        "assert x == (a or b)\n"
        "assert a or b  # exact-assertions: either server may answer first\n") == []
