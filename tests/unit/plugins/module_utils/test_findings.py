"""The findings registry (module_utils/_findings.py) against what the plugins really report, both ways.

Every place in plugins/ that reports a finding does it through one of a few calls: the check engine's
``ctx.fail(code, ...)``, ``_findings.finding(code, ...)`` (and live read-back's local ``finding(code, ...)``),
and the audit's ``_finding(system, code, ...)``.  The code is a literal, a module-level table of literals, or
a variable named ``code`` that forwards what another reporter chose (security_info forwarding the engine's
codes, the audit forwarding security_info's).  The codes are collected from the source (AST), so a new code
reported anywhere without a registry entry fails here, and so does an entry nothing reports.
"""

import ast
import os
import subprocess
import sys

import pytest

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _findings

PLUGINS = os.path.join(helpers.REPO, "plugins")
TOOL = os.path.join(helpers.REPO, "tools", "gen_findings_doc.py")
# call name -> index of the code argument
EMITTERS = {"fail": 0, "finding": 0, "_finding": 1}


def _dicts(tree):
    """Module-level NAME = {...: "code"} literals (a code chosen from a table, e.g. _live.LEVEL_FINDINGS)."""
    tables = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    tables[target.id] = [v.value for v in node.value.values
                                         if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return tables


def reported_codes():
    """{code: [file:line]} of every finding code reported in plugins/, and the sites whose code is not a literal."""
    found, dynamic = {}, []
    for root, _dirs, files in os.walk(PLUGINS):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            with open(path) as handle:
                tree = ast.parse(handle.read(), path)
            tables = _dicts(tree)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if called not in EMITTERS:
                    continue
                engine = isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "ctx"
                if called == "fail" and not engine:
                    continue  # module.fail_json & co. are not findings
                index = EMITTERS[called]
                if len(node.args) <= index:
                    continue
                arg = node.args[index]
                where = "%s:%d" % (os.path.relpath(path, helpers.REPO), node.lineno)
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.setdefault(arg.value, []).append(where)
                elif isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name) and arg.value.id in tables:
                    for code in tables[arg.value.id]:
                        found.setdefault(code, []).append(where)
                elif isinstance(arg, ast.Name) and arg.id == "code":
                    continue  # forwarding a code another reporter chose (the engine's, a module's), counted there
                else:
                    dynamic.append(where)
    return found, dynamic


def test_every_reported_code_is_registered_and_every_registered_code_is_reported():
    found, dynamic = reported_codes()
    assert dynamic == [], "finding codes must be literals (or a module-level table of literals): %s" % dynamic
    unregistered = dict((code, sites) for code, sites in found.items() if code not in _findings.REGISTRY)
    assert unregistered == {}, "reported but not in module_utils/_findings.py: %s" % unregistered
    unreported = sorted(set(_findings.REGISTRY) - set(found))
    assert unreported == [], "registered but reported nowhere in plugins/: %s" % unreported


def test_each_source_reports_what_the_registry_says():
    found, _dynamic = reported_codes()

    def files(code):
        return set(os.path.basename(site.split(":")[0]) for site in found[code])

    for code in _findings.codes_from("engine"):
        assert "_checks.py" in files(code), code
    for code in _findings.codes_from("live"):
        assert files(code) & {"_live.py", "_probe.py"}, code  # read-back, and its enforcement probe
    for code in _findings.codes_from("audit"):
        assert "_audit_findings.py" in files(code), code
    for code in _findings.codes_from("preflight"):
        assert "_checks_settings.py" in files(code), code
    for code in _findings.codes_from("trusted_store"):
        assert "_trusted.py" in files(code), code
    for code in set(_findings.codes_from("security_info")) - set(_findings.codes_from("engine")):
        assert files(code) & {"_info.py", "_issuer.py"}, code


def test_entries_are_complete():
    for entry in _findings.REGISTRY.values():
        assert entry.severity in _findings.SEVERITIES and entry.check in _findings.CHECKS, entry
        assert entry.meaning.endswith(".") and entry.remedy.endswith(".") and len(entry.meaning) > 30, entry
        assert entry.sources and all(s in _findings.SOURCES for s in entry.sources), entry
    # The engine's codes are exactly its checks' codes, in the engine's order.
    from ansible_collections.ipoffice.security.plugins.module_utils import _checks
    assert _checks.CODES == _findings.codes_from("engine")


def test_a_finding_carries_its_registered_severity_and_an_unknown_code_is_refused():
    item = _findings.finding("self_signed", "text", where="identity")
    assert item == {"code": "self_signed", "severity": "warning", "message": "text", "where": "identity"}
    with pytest.raises(KeyError):
        _findings.finding("no_such_code", "text")


def test_findings_md_is_current():
    """docs/findings.md is generated from the registry (make docs); a stale page fails here."""
    run = subprocess.run([sys.executable, TOOL, "--check"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    with open(os.path.join(helpers.REPO, "docs", "findings.md")) as handle:
        page = handle.read()
    for code, entry in _findings.REGISTRY.items():
        assert "| `%s` | `%s` | %s |" % (code, entry.check, entry.severity) in page


def test_a_changed_registry_makes_the_page_stale(tmp_path):
    copy = tmp_path / "repo"
    (copy / "plugins" / "module_utils").mkdir(parents=True)
    (copy / "docs").mkdir()
    with open(os.path.join(helpers.REPO, "plugins", "module_utils", "_findings.py")) as handle:
        source = handle.read()
    (copy / "plugins" / "module_utils" / "_findings.py").write_text(
        source.replace('"Renew it before it expires."', '"Renew it well before it expires."'))
    with open(os.path.join(helpers.REPO, "docs", "findings.md")) as handle:
        (copy / "docs" / "findings.md").write_text(handle.read())
    stale = subprocess.run([sys.executable, TOOL, "--check", "--repo", str(copy)], capture_output=True, text=True,
                           check=False)
    assert stale.returncode == 1 and "docs/findings.md is not current" in stale.stderr
    subprocess.run([sys.executable, TOOL, "--repo", str(copy)], check=True, capture_output=True)
    assert "Renew it well before it expires." in (copy / "docs" / "findings.md").read_text()
