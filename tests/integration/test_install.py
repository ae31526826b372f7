"""Usable outside the checkout: `make install`'s script builds the collection artifact with
ansible-galaxy and installs it into a collections path; a playbook in a directory outside the checkout,
with only that path configured (collections_path in its ansible.cfg), runs the installed modules."""

import json
import os
import subprocess
import tarfile

import helpers
import pytest


@pytest.mark.slow
def test_build_install_and_run_from_outside_the_checkout(tmp_path):
    collections = tmp_path / "collections"
    env = dict(os.environ, COLLECTIONS_PATH=str(collections), PATH=helpers.VENV_BIN + os.pathsep + os.environ["PATH"])
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    build = subprocess.run(["bash", os.path.join(helpers.REPO, "tools", "install.sh")], capture_output=True,
                           text=True, env=env, check=False, timeout=600)
    assert build.returncode == 0, build.stderr
    artifact = os.path.join(helpers.REPO, build.stdout.strip().splitlines()[-1])

    # The artifact ships the collection, not the checkout's working files.
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names and "plugins/modules/security_info.py" in names
    assert "plugins/module_utils/_cryptography_dep.py" in names
    shipped_junk = [n for n in names if n.split("/")[0] in (".venv", ".build", ".demo", ".cache", ".git", ".ansible")
                    or n.startswith(("tests/output", "benchmarks/output")) or "__pycache__" in n]
    assert shipped_junk == []
    # Development tooling stays in the source repository (galaxy.yml build_ignore) ...
    dev_only = [n for n in names if n.split("/")[0] in ("tools", "benchmarks", ".ci", "requirements-dev.in.d")
                or n in ("Makefile", "pyproject.toml", "pytest.ini", "requirements-dev.txt", ".ansible-lint",
                         ".gitignore")]
    assert dev_only == []
    # ... while the tests ship, as community collections ship them, with their data and its licence.
    for name in ("tests/unit/plugins/module_utils/test_conformance.py", "tests/unit/data/x509-limbo/limbo.json.gz",
                 "tests/unit/data/x509-limbo/LICENSE", "tests/unit/data/x509-limbo/README.md",
                 "extensions/molecule/baseline/molecule.yml", "plugins/doc_fragments/areas.py", "docs/errors.md",
                 "roles/baseline/meta/argument_specs.yml", "meta/runtime.yml", "requirements.txt", "bindep.txt",
                 "README.md", "CHANGELOG.md", "COPYING"):
        assert name in names, name

    installed = collections / "ansible_collections" / "ipoffice" / "security"
    assert (installed / "MANIFEST.json").is_file() and not os.path.islink(str(installed))

    # A playbook directory outside the checkout, configured the way docs/getting-started.md says.
    project = tmp_path / "project"
    project.mkdir()
    (project / "ansible.cfg").write_text("[defaults]\ncollections_path = %s\n" % collections)
    (project / "site.yml").write_text("""
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  module_defaults:
    group/ipoffice.security.all:
      store_path: "%s"
  tasks:
    - ipoffice.security.certificate_checks:
        certificate_expiry_warning_days: 40
    - ipoffice.security.security_info:
      register: info
    - ansible.builtin.assert:
        that:
          - info.settings.checks.certificate_expiry_warning_days == 40
""" % (tmp_path / "store"))
    run_env = dict(os.environ, PATH=env["PATH"], ANSIBLE_NOCOLOR="1")
    for name in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "ANSIBLE_CONFIG"):
        run_env.pop(name, None)
    run = subprocess.run([os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                          "site.yml", "-v"], cwd=str(project), capture_output=True, text=True, env=run_env,
                         check=False, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "changed=1" in run.stdout
    # The modules ran from the installed copy, not from the checkout.
    listing = subprocess.run([os.path.join(helpers.VENV_BIN, "ansible-galaxy"), "collection", "list",
                              "ipoffice.security", "--format", "json"], cwd=str(project), capture_output=True,
                             text=True, env=run_env, check=True).stdout
    assert str(collections) in listing and helpers.REPO not in listing
    # The installed copy documents itself: the areas doc fragment ships with it.
    doc = subprocess.run([os.path.join(helpers.VENV_BIN, "ansible-doc"), "--json", "-t", "module",
                          "ipoffice.security.security_settings"], cwd=str(project), capture_output=True, text=True,
                         env=run_env, check=True, timeout=120).stdout
    options = json.loads(doc)["ipoffice.security.security_settings"]["doc"]["options"]
    assert "use_proxy" in options["scep"]["suboptions"] and "source" in options["identity"]["suboptions"]
