"""The module reference (docs/modules/*.md) is generated from the modules' documentation as ansible-doc
merges it (doc fragments included), and is current; what the collection ships is self-contained."""

import ast
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
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
    # (Imported, as Ansible's fragment loader does: the fragments assemble their text from shared parts.)
    from ansible_collections.ipoffice.security.plugins.doc_fragments import store
    fragment = yaml.safe_load(store.ModuleDocFragment.READ_ONLY)
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


def test_every_module_says_how_idempotent_it_is():
    """The idempotent attribute, as ansible-core and the community collections define it, on every module."""
    docs = gen_module_docs.module_docs(REPO, gen_module_docs.module_names(REPO))
    for name, (doc, _examples, _returns) in docs.items():
        idempotent = doc["attributes"]["idempotent"]
        assert idempotent["description"][0].startswith("When run twice in a row outside check mode"), name
        assert idempotent["support"] in ("full", "partial"), name
        if idempotent["support"] == "partial":
            assert idempotent.get("details"), name + ": say when it is not"
    assert docs["generation"][0]["attributes"]["idempotent"]["support"] == "partial"
    assert docs["security_info"][0]["attributes"]["idempotent"]["details"] == ["This action does not modify state."]


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


# ------------------------------------------------------------------------------------ self-contained

# The team's working documents (the behaviour reference, the design notes, the shared folder) never ship, so
# nothing that ships may cite them: what users need of them is said in docs/ in the collection's own words.
UNSHIPPED_CITATION = re.compile(r"REFERENCE\.md|DESIGN\.md|\bREFERENCE\s+(?:section|§|\d)|\bDESIGN\s+section|"
                                r"\.\./shared\b|/work/share[d]|\bshared/(?:notes|conformance|seeds)/")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
DOCS_PATH = re.compile(r"(?<![\w./-])((?:docs|plugins|roles|playbooks|tests)/[\w./-]*\w"
                       r"\.(?:md|py|yml|yaml|json|gz))")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """{path: text or None (binary)} of every file the collection artifact ships, built as a user builds it."""
    out = tmp_path_factory.mktemp("artifact")
    subprocess.run([os.path.join(helpers.VENV_BIN, "ansible-galaxy"), "collection", "build", "--output-path",
                    str(out), REPO], capture_output=True, text=True, check=True, timeout=300)
    [artifact] = os.listdir(str(out))
    files = {}
    with tarfile.open(os.path.join(str(out), artifact)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name not in ("MANIFEST.json", "FILES.json"):
                data = tar.extractfile(member).read()
                try:
                    files[member.name] = data.decode("utf-8")
                except UnicodeDecodeError:
                    files[member.name] = None
    return files


def test_no_shipped_file_cites_the_teams_unshipped_documents(shipped):
    assert "docs/check-levels.md" in shipped and "plugins/module_utils/_checks.py" in shipped
    citing = ["%s:%d: %s" % (name, text[:match.start()].count("\n") + 1, match.group(0))
              for name, text in sorted(shipped.items()) if text
              for match in UNSHIPPED_CITATION.finditer(text)]
    assert citing == [], "shipped files citing documents that do not ship:\n" + "\n".join(citing)


def test_every_link_and_path_in_the_shipped_docs_resolves_to_a_shipped_file(shipped):
    """A Markdown link or a docs/..., plugins/..., tests/... path named in a shipped file is a file that ships."""
    broken = []
    for name, text in sorted(shipped.items()):
        if not text or not name.endswith((".md", ".py", ".yml", ".j2")):
            continue
        targets = []
        if name.endswith(".md"):
            for target in MARKDOWN_LINK.findall(text):
                target = target.split("#")[0]
                if target and not re.match(r"^[a-z]+:", target):
                    targets.append(os.path.normpath(os.path.join(os.path.dirname(name), target)))
        if not name.startswith("tests/"):  # (tests name made-up paths on purpose)
            targets += [path for path in DOCS_PATH.findall(text) if "*" not in path and "<" not in path]
        broken += ["%s -> %s" % (name, target) for target in targets
                   if target not in shipped and not any(other.startswith(target.rstrip("/") + "/")
                                                        for other in shipped)]
    assert broken == [], "links to files that do not ship:\n" + "\n".join(sorted(set(broken)))
