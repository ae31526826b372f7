"""Damaged and extreme stores: generation numbers past 999999, what a writer could make too large for its
readers (refused before writing), stores written before a limit existed (still read and written).

The hostile stores of test_store_reads.py (FIFOs, symlinks out of the store, oversized and deeply nested
files, read-only directories) and the corruption cases of test_store.py are the rest of this group; see
README.md.
"""

import json
import os
import shutil

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from conftest import refused, run

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _generation, _info, _store
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore


def current_name(path):
    return os.readlink(os.path.join(path, "current")).split("/")[1]


def copy_generation(path, number, switch):
    """The current generation copied to ``number`` (its settings.json saying so); ``switch``: current -> it."""
    source = os.path.join(path, "current")
    target = os.path.join(path, "generations", _store.generation_name(number))
    shutil.copytree(os.path.realpath(source), target, symlinks=True)
    settings = os.path.join(target, "settings.json")
    with open(settings) as handle:
        document = json.load(handle)
    document["generation"] = number
    os.chmod(settings, 0o644)
    os.unlink(settings)
    with open(settings, "w") as handle:
        json.dump(document, handle, indent=2, sort_keys=True)
    if switch:
        os.symlink("generations/" + _store.generation_name(number), os.path.join(path, ".current.new"))
        os.replace(os.path.join(path, ".current.new"), os.path.join(path, "current"))


@pytest.mark.parametrize("switch", [True, False], ids=["current-is-999999", "999999-left-beside-current"])
def test_a_store_at_generation_999999_takes_the_next_write(victim, switch):
    copy_generation(victim, 999999, switch)
    result = run("certificate_checks", store_path=victim, certificate_expiry_warning_days=90)
    assert result["changed"] is True
    assert current_name(victim) == "1000000"
    state = DirectoryStore(victim).read()
    assert state.generation == 1000000 and state.settings["checks"]["certificate_expiry_warning_days"] == 90
    listed = [g["generation"] for g in DirectoryStore(victim).generations()]
    assert listed[:2] == [1000000, 999999]  # a complete generation beside current is kept as history
    # and on: restore, listing, security_info all work past the old width
    restored = _generation.run(DirectoryStore(victim), {"restore": "previous"})
    assert restored["restored"]["written_as"] == 1000001 and current_name(victim) == "1000001"
    info = _info.run(DirectoryStore(victim), {})
    assert info["generation"] == 1000001 and info["generations"][0]["generation"] == 1000001


def test_generation_names_the_store_never_writes_are_not_generations(victim):
    # Only canonical names count: 6 digits, or more without a leading zero.
    for name in ("0000007", "12345", "0001000000"):
        os.mkdir(os.path.join(victim, "generations", name))
    assert [g["generation"] for g in DirectoryStore(victim).generations()] == [1]
    assert _store.generation_number("1000000") == 1000000 and _store.generation_number("000042") == 42
    assert _store.generation_number("0000042") is None and _store.generation_number("42") is None


def test_current_pointing_at_a_non_canonical_name_is_corrupt(victim):
    os.rename(os.path.join(victim, "generations", "000001"), os.path.join(victim, "generations", "0000001"))
    os.symlink("generations/0000001", os.path.join(victim, ".current.new"))
    os.replace(os.path.join(victim, ".current.new"), os.path.join(victim, "current"))
    refused(victim, lambda: DirectoryStore(victim).read(), "corrupt_store", "store_path", named=False)


def test_settings_json_too_large_for_its_readers_is_refused_naming_the_largest_part(victim):
    # Preflight records accumulate (one per endpoint ever verified): 5,000 of them exceed 1 MiB.
    record = {"endpoint": "h%d.example.com:443 (management)", "setting": "management", "host": "h.example.com",
              "port": 443, "level": "high", "subject": "CN=" + "s" * 60, "sha256": "ab:" * 31 + "ab",
              "chain": ["cd:" * 31 + "cd"], "trust_path": ["ef:" * 31 + "ef"], "verified": "2026-01-01T00:00:00Z"}

    def flood(state):
        state.verified_endpoints = [dict(record, endpoint=record["endpoint"] % i) for i in range(5000)]

    for check_mode in (True, False):
        err = refused(victim, lambda mode=check_mode: DirectoryStore(victim).update(flood, check_mode=mode),
                      "value_too_large", "preflight")
        assert "verified_endpoints" in err.message and "1 MiB" in err.message


def test_a_certificate_whose_stored_pem_would_exceed_1_mib_is_refused(victim, tmp_path):
    # A DER certificate of ~900 KB is within the 1 MiB input limit; its PEM (what the store keeps) is not.
    key = _certs.generate_private_key()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Huge Root")])
    now = _certs.utcnow()
    import datetime
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\0" * 900000),
                           critical=False)
            .sign(key, hashes.SHA256()))
    der = tmp_path / "work" / "huge.der"
    from cryptography.hazmat.primitives import serialization
    der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    err = refused(victim, lambda: run("trusted_certificate", store_path=victim, certificates=[{"path": str(der)}]),
                  "value_too_large", "certificates")
    assert "tcs/" in err.message and "bytes" in err.message


def test_a_store_written_before_the_value_limits_still_reads_and_takes_writes(victim):
    # An older collection accepted a san_details_origin of any length: the store must stay usable.
    generation = os.path.realpath(os.path.join(victim, "current"))
    settings = os.path.join(generation, "settings.json")
    with open(settings) as handle:
        document = json.load(handle)
    document["settings"]["identity"]["san_details_origin"] = "o" * 5000
    os.unlink(settings)
    with open(settings, "w") as handle:
        json.dump(document, handle)
    assert DirectoryStore(victim).read().settings["identity"]["san_details_origin"] == "o" * 5000
    result = run("certificate_checks", store_path=victim, certificate_expiry_warning_days=90)
    assert result["changed"] is True
    state = DirectoryStore(victim).read()
    assert state.settings["identity"]["san_details_origin"] == "o" * 5000
    assert state.settings["checks"]["certificate_expiry_warning_days"] == 90
