"""The module reference (docs/modules/*.md) is generated from the modules' documentation as ansible-doc
merges it (doc fragments included), and is current."""

import ast
import os
import shutil
import subprocess
import sys

import yaml

import helpers

REPO = helpers.REPO
TOOL = os.path.join(REPO, "tools", "gen_module_docs.py")
sys.path.insert(0, os.path.join(REPO, "tools"))

import gen_module_docs  # noqa: E402


def run_tool(*args):
    return subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True, timeout=120,
                          check=False)


def test_committed_module_reference_is_current():
    run = run_tool("--check")
    assert run.returncode == 0, "docs/modules is stale; run `make docs`:\n" + run.stdout + run.stderr


def test_every_module_has_a_page_listed_in_the_index():
    modules = gen_module_docs.module_names(REPO)
    assert "security_info" in modules
    with open(os.path.join(REPO, "docs", "modules", "README.md")) as handle:
        index = handle.read()
    for name in modules:
        assert os.path.isfile(os.path.join(REPO, "docs", "modules", name + ".md")), name
        assert "(%s.md)" % name in index


def test_page_carries_every_option_and_return_value():
    """Options come from the module and its doc fragment; every RETURN key is listed."""
    files = gen_module_docs.generate(REPO)
    page = files[os.path.join("docs", "modules", "security_info.md")]
    found = _constants(os.path.join(REPO, "plugins", "modules", "security_info.py"))
    own = yaml.safe_load(found["DOCUMENTATION"])["options"]
    # security_info only reads: the store fragment's read-only variant (no writer options).
    fragment = yaml.safe_load(_constants(os.path.join(REPO, "plugins", "doc_fragments", "store.py"))["READ_ONLY"])
    for name in list(own) + list(fragment["options"]):
        assert "| `%s` |" % name in page, name
    assert "| `lock_timeout` |" not in page  # (keep_generations is also a return value: not checked here)
    for name in yaml.safe_load(found["RETURN"]):
        assert "| `%s` |" % name in page, name
    assert "| `expiring.days_left` |" in page  # nested 'contains'
    assert "| `store_path` | path **required** |  |  |" in page  # from the fragment: required, no default
    assert found["EXAMPLES"].strip() in page
    # Attributes come from the ipoffice.security.attributes fragment (and its info_module variant) merged with
    # the module's own details.
    assert "Member of: `ipoffice.security.all`" in page
    assert "| diff_mode | N/A | Returns what changed" in page
    own_details = yaml.safe_load(found["DOCUMENTATION"])["attributes"]["check_mode"]["details"]
    assert gen_module_docs.markup(own_details[0]) in page
    # Ansible markup becomes Markdown.
    assert "O(" not in page and "RV(" not in page and "V(" not in page.replace("RV(", "")


def _constants(path):
    """The top-level (and class-level) string constants of a Python file, read without importing it."""
    with open(path) as handle:
        tree = ast.parse(handle.read())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def test_every_module_uses_the_shared_fragments():
    """The store options and the shared attributes (check mode, diff mode, action group) come from the doc
    fragments, never from a copy in a module."""
    for name in gen_module_docs.module_names(REPO):
        doc = yaml.safe_load(_constants(os.path.join(REPO, "plugins", "modules", name + ".py"))["DOCUMENTATION"])
        fragments = doc.get("extends_documentation_fragment") or []
        store = "ipoffice.security.store.read_only" if name in ("security_info", "certificate_verify", "export") \
            else "ipoffice.security.store"
        assert store in fragments and "ipoffice.security.attributes" in fragments, name
        assert "action_group" not in (doc.get("attributes") or {}), name
        for attribute in (doc.get("attributes") or {}).values():
            assert "description" not in attribute, name  # the fragment's; a module adds support and details


def test_check_names_a_stale_page_and_regenerating_fixes_it(tmp_path):
    """A copy of the collection whose module doc changed: --check fails naming the page; writing fixes it."""
    copy = tmp_path / "repo"
    for part in ("plugins/modules", "plugins/doc_fragments", "docs/modules"):
        shutil.copytree(os.path.join(REPO, part), str(copy / part))
    module = copy / "plugins" / "modules" / "security_info.py"
    text = module.read_text()
    assert "Read an IP Office system's certificate security settings" in text
    module.write_text(text.replace("Read an IP Office system's certificate security settings",
                                   "Read everything about certificate security"))
    (copy / "docs" / "modules" / "retired_module.md").write_text("# gone\n")
    run = run_tool("--check", "--repo", str(copy))
    assert run.returncode == 1
    assert "docs/modules/security_info.md: not current" in run.stdout
    assert "docs/modules/README.md: not current" in run.stdout
    assert "docs/modules/retired_module.md: no such module any more" in run.stdout
    assert "make docs" in run.stdout
    assert run_tool("--repo", str(copy)).returncode == 0
    assert not (copy / "docs" / "modules" / "retired_module.md").exists()
    assert "Read everything about certificate security" in (copy / "docs" / "modules" / "security_info.md").read_text()
    again = run_tool("--check", "--repo", str(copy))
    assert again.returncode == 0, again.stdout


def test_broken_module_documentation_is_named(tmp_path):
    copy = tmp_path / "repo"
    for part in ("plugins/modules", "plugins/doc_fragments"):
        shutil.copytree(os.path.join(REPO, part), str(copy / part))
    module = copy / "plugins" / "modules" / "security_info.py"
    module.write_text(module.read_text().replace("short_description:", "short_description: [", 1))
    run = run_tool("--check", "--repo", str(copy))
    assert run.returncode != 0
    assert "plugins/modules/security_info.py: ansible-doc cannot read its documentation" in run.stderr


def test_no_changelog_fragment_announces_a_new_module_or_plugin():
    """antsibull-changelog lists new modules and plugins itself (from version_added); a fragment for one is
    against its rules."""
    directory = os.path.join(REPO, "changelogs", "fragments")
    modules = gen_module_docs.module_names(REPO)
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name)) as handle:
            fragment = yaml.safe_load(handle) or {}
        for entries in fragment.values():
            for entry in entries if isinstance(entries, list) else [entries]:
                text = " ".join(str(entry).split())
                assert " - new module" not in text and "new filter" not in text, (name, text[:120])
                assert not any(text.startswith(module + " - new module") for module in modules), (name, text[:120])
