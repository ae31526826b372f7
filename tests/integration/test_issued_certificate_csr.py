"""issued_certificate's CSR route through ansible-playbook: an `openssl req` CSR signed by the system CA,
written as PEM for import_certid, kept on the next run; a garbage CSR fails with its code."""

import subprocess

import pytest

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

# Module results: each test runs twice, in the controller's worker and as a module (tests/conftest.py).
pytestmark = pytest.mark.both_paths


def test_csr_route_end_to_end(tmp_path):
    helpers.need_tool("openssl")
    csr = str(tmp_path / "linux1.csr")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "linux1.key"),
                    "-out", csr, "-subj", "/CN=linux1.example.com", "-addext", "subjectAltName=DNS:linux1.example.com"],
                   check=True, capture_output=True, timeout=60)
    args = {"store_path": str(tmp_path / "store"), "system_name": "ipo1.example.com",
            "system_addresses": ["192.0.2.10"], "csr_path": csr, "path": str(tmp_path / "linux1.crt")}
    module = "ipoffice.security.issued_certificate"
    DirectoryStore(path=args["store_path"], system_name="ipo1.example.com", system_addresses=["192.0.2.10"]).update(
        lambda state: None)
    run = helpers.run_tasks([
        {module: args, "check_mode": True},
        {module: args},
        {module: args},
        {module: dict(args, csr_path=None, csr_content="not a csr")},
    ], tmp_path)
    predicted, first, second, garbage = run.results
    assert predicted["changed"] and first["changed"] and not second["changed"]
    assert first["certificate"]["subject_alt_names"] == ["DNS:linux1.example.com"]
    assert first["csr"]["subject"] == "CN=linux1.example.com"
    assert garbage["failed"] and garbage["error"] == "invalid_csr" and garbage["option"] == "csr_content"
    with open(args["path"]) as handle:
        assert "PRIVATE KEY" not in handle.read()
