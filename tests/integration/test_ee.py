"""Execution environment: ansible-builder reads the collection's requirements and renders a build context.

No container engine is needed: `ansible-builder introspect` is what the image build runs to collect every
collection's Python and system requirements, and `ansible-builder create` renders the Containerfile and
the build context (the step before `podman build`).
"""

import glob
import os
import subprocess

import yaml

import helpers

REPO = helpers.REPO


def requirement_lines(path):
    with open(path) as handle:
        return [line.split("#")[0].strip() for line in handle if line.split("#")[0].strip()]


def builder(*args, cwd):
    tool = helpers.need_tool("ansible-builder", "pip install ansible-builder==3.2.0")
    return subprocess.run([tool] + list(args), cwd=str(cwd), capture_output=True, text=True, timeout=180,
                          env=helpers.ansible_env(), check=False)


def test_collection_declares_its_requirements():
    with open(os.path.join(REPO, "meta", "execution-environment.yml")) as handle:
        meta = yaml.safe_load(handle)
    assert meta["version"] == 1
    for key in ("python", "system"):
        path = os.path.join(REPO, meta["dependencies"][key])
        assert os.path.isfile(path), "meta/execution-environment.yml names %s, which must exist" % path
    python = [line.split(">")[0].split("=")[0].split("<")[0].strip().lower()
              for line in requirement_lines(os.path.join(REPO, "requirements.txt"))]
    # What the modules import on the managed node (docs/getting-started.md, requirements).
    assert {"cryptography", "asn1crypto", "jmespath"} <= set(python)


def test_introspect_collects_python_and_system_requirements(tmp_path):
    helpers.ensure_collection_path()
    run = builder("introspect", helpers.COLLECTIONS, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    data = yaml.safe_load(run.stdout)
    python = [line.split("#")[0].strip() for line in data["python"] if "ipoffice.security" in line]
    assert python == requirement_lines(os.path.join(REPO, "requirements.txt"))
    system = [line.split("#")[0].strip() for line in (data.get("system") or []) if "ipoffice.security" in line]
    assert system == requirement_lines(os.path.join(REPO, "bindep.txt"))


def test_create_renders_a_build_context_with_the_collection(tmp_path):
    galaxy = helpers.need_tool("ansible-galaxy")
    dist = tmp_path / "dist"
    build = subprocess.run([galaxy, "collection", "build", "--output-path", str(dist), REPO], capture_output=True,
                           text=True, timeout=180, env=helpers.ansible_env(), cwd=str(tmp_path),
                           check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = glob.glob(str(dist / "ipoffice-security-*.tar.gz"))
    assert len(tarball) == 1
    # The definition a user writes for an image with this collection (docs/scaling.md shows the Galaxy form;
    # here the freshly built artifact is copied into the context and installed from there).
    definition = {
        "version": 3,
        "images": {"base_image": {"name": "quay.io/fedora/python-311:latest"}},
        "dependencies": {
            "ansible_core": {"package_pip": "ansible-core>=2.17,<2.20"},
            "ansible_runner": {"package_pip": "ansible-runner==2.4.3"},
            "galaxy": {"collections": [{"name": "/build/collections/" + os.path.basename(tarball[0]),
                                        "type": "file"}]},
        },
        # A glob relative to the definition file: the builder copies what matches into _build/collections.
        "additional_build_files": [{"src": "dist/ipoffice-security-*.tar.gz", "dest": "collections"}],
        "additional_build_steps": {"prepend_galaxy": ["COPY _build/collections/ /build/collections/"]},
        "options": {"package_manager_path": "/usr/bin/dnf"},
    }
    ee_file = tmp_path / "execution-environment.yml"
    ee_file.write_text(yaml.safe_dump(definition, sort_keys=False))
    context = tmp_path / "context"
    run = builder("create", "-f", str(ee_file), "-c", str(context), "--output-filename", "Containerfile",
                  cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Complete!" in run.stdout
    assert "No matches" not in run.stdout + run.stderr and "does not exist" not in run.stdout + run.stderr
    containerfile = (context / "Containerfile").read_text()
    # The galaxy stage installs the collection; the builder stage introspects it for its requirements.
    assert "ansible-galaxy collection install" in containerfile
    assert "COPY _build/collections/ /build/collections/" in containerfile
    assert "introspect" in containerfile
    copied = context / "_build" / "collections" / os.path.basename(tarball[0])
    assert copied.is_file() and copied.stat().st_size == os.path.getsize(tarball[0])
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"][0]["name"].endswith(os.path.basename(tarball[0]))
    # The artifact carries the collection's EE metadata and requirement files the image build reads.
    listing = subprocess.run(["tar", "-tzf", tarball[0]], capture_output=True, text=True, check=True).stdout.split()
    for name in ("meta/execution-environment.yml", "requirements.txt", "bindep.txt", "meta/runtime.yml"):
        assert name in listing, name
    assert not any(name.startswith((".venv/", ".build/", "tests/output/")) for name in listing)
