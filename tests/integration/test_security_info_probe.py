"""The enforcement probe against peers we did not write: `openssl s_server` configurations and kamailio.

Each test runs security_info through a real ansible-playbook run against stores whose check levels and
security levels are set, and judges the probe's verdict against the configuration of the real peer:
s_server requiring a client certificate from the probe CA (TLS 1.3 and TLS 1.2), asking for one but
accepting anything, ignoring client certificates, restricted and weak cipher lists; kamailio requiring
client certificates and answering SIP OPTIONS over TLS.
"""

import os
import shutil
import stat

import helpers
import probe_peers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _probe  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore  # noqa: E402

NAME = "ipo1.example.com"


def _store(path, probe_ca=None, like=None, **checks):
    """A server-platform store with these checks settings, trusting the probe CA when given.

    ``like``: start from a copy of that store (same identity, CA and TCS: the peers serve its files).
    """

    def mutate(state):
        state.settings["checks"].update(checks)
        if probe_ca:
            with open(probe_ca, "rb") as handle:
                state.add_trusted([_certs.load_certificate(handle.read())])

    if like:
        shutil.copytree(like, str(path), symlinks=True)
    DirectoryStore(path=str(path), system_name=NAME, system_addresses=["127.0.0.1"]).update(mutate)
    return str(path)


def _served(store, tmp_path):
    """(cert, key, rest of the chain) files the peers serve: the store's own identity and chain."""
    identity = os.path.join(store, "current", "identity")
    with open(os.path.join(identity, "fullchain.pem"), "rb") as handle:
        fullchain = _certs.load_certificates(handle.read())
    rest = str(tmp_path / "rest.pem")
    with open(rest, "wb") as handle:
        handle.write(_certs.certs_pem(fullchain[1:]))
    return os.path.join(identity, "cert.pem"), os.path.join(identity, "key.pem"), rest


def _info(store, endpoints, probe_ca, timeout=5, **extra):
    args = {"store_path": store, "system_name": NAME, "system_addresses": ["127.0.0.1"],
            "live_endpoints": endpoints, "live_timeout": timeout}
    if probe_ca:
        args["live_probe_ca"] = {"certificate_path": probe_ca[0], "private_key_path": probe_ca[1]}
        args["live_probe_ca"].update(extra)
    return {"ipoffice.security.security_info": args}


def _codes(entry, code):
    return [f for f in entry["findings"] if f["code"] == code]


def _outcomes(entry):
    return dict((case["case"], case["outcome"]) for case in entry["live"]["probe"]["cases"])


def test_check_levels_judged_against_s_server(tmp_path):
    """management_interfaces none vs a server requiring a probe-CA certificate: live_level_mismatch; the same
    server against a store at medium: consistent, no mismatch; a server ignoring client certificates (or
    asking for one and accepting anything): none only."""
    helpers.need_tool("openssl")
    probe_ca = probe_peers.make_probe_ca(tmp_path)
    store_none = _store(tmp_path / "none", probe_ca[0], management_interfaces="none")
    # The store at medium has the same identity: both compare clean with the same servers.
    store_medium = _store(tmp_path / "medium", like=store_none, management_interfaces="medium")
    cert, key, rest = _served(store_none, tmp_path)
    key_before = _file_state(probe_ca[1])
    digests = [helpers.tree_digest(store_none), helpers.tree_digest(store_medium)]
    with probe_peers.s_server(cert, key, rest, probe_peers.require(probe_ca[0])) as require13, \
            probe_peers.s_server(cert, key, rest, probe_peers.require(probe_ca[0]) + ("-tls1_2",)) as require12, \
            probe_peers.s_server(cert, key, rest, probe_peers.IGNORE) as ignore, \
            probe_peers.s_server(cert, key, rest, probe_peers.request(probe_ca[0])) as request:
        run = helpers.run_tasks([
            _info(store_none, [{"host": "127.0.0.1", "port": require13, "serves": "management", "probe": True},
                               {"host": "127.0.0.1", "port": ignore, "serves": "management", "probe": True}],
                  probe_ca),
            _info(store_medium, [{"host": "127.0.0.1", "port": port, "serves": "management", "probe": True}
                                 for port in (require13, require12, ignore, request)], probe_ca),
        ], tmp_path)
    assert [helpers.tree_digest(store_none), helpers.tree_digest(store_medium)] == digests
    assert _file_state(probe_ca[1]) == key_before
    none_run, medium_run = run.results
    for result in run.results:
        assert not result.get("failed"), result
        assert result["changed"] is False
        # The peers serve the store's own identity and chain: the read-back itself finds nothing.
        assert not [f for f in result["findings"] if f["code"] in ("live_identity_mismatch", "live_chain_mismatch",
                                                                   "live_unreachable")], result["findings"]

    # management_interfaces none, but the server requires a certificate from the probe CA.
    required, ignored = none_run["live"]
    assert required["enforced"] == ["medium"]
    (mismatch,) = _codes(required, "live_level_mismatch")
    assert (mismatch["setting"], mismatch["configured"], mismatch["enforced_levels"]) == (
        "management_interfaces", "none", ["medium"])
    assert "management_interfaces" in mismatch["message"] and "consistent only with medium" in mismatch["message"]
    assert mismatch in none_run["findings"]
    assert ignored["enforced"] == ["none"] and not _codes(ignored, "live_level_mismatch")

    # The same server against a store at medium: consistent, nothing to report.
    tls13, tls12, ignored, requested = medium_run["live"]
    for entry, protocol in ((tls13, "TLSv1.3"), (tls12, "TLSv1.2")):
        probe = entry["live"]["probe"]
        assert entry["enforced"] == ["medium"] and probe["enforced"] == ["medium"]
        assert (probe["setting"], probe["configured"]) == ("management_interfaces", "medium")
        assert probe["probe_ca"]["trusted_by_store"] is True
        assert not [f for f in entry["findings"] if f["code"].startswith("live_") and f["code"] not in (
            "live_fails_high_remote",)], entry["findings"]
        outcomes = _outcomes(entry)
        assert outcomes == {"no_certificate": "refused", "valid": "accepted", "expired": "refused",
                            # OpenSSL does not require key usage; medium allows either (see docs/check-levels.md)
                            "no_key_usage": "accepted", "wrong_eku": "refused",
                            "unknown_critical_extension": "refused",
                            # Debian's OpenSSL refuses RSA-1024 at its default security level
                            "key_1024": "refused", "self_signed": "refused", "not_pinned": "accepted",
                            "wrong_name": "accepted"}, outcomes
        assert set(case["protocol"] for case in probe["cases"] if case["outcome"] == "accepted") == {protocol}
        assert all(case["certificate_requested"] for case in probe["cases"])
        assert probe["ciphers"] is None and probe["sip_options"] is None  # management: no cipher level, no SIP
        assert probe["connections"] == 9  # not_pinned is the valid certificate's handshake
    # TLS 1.3: refusals arrive after the client's handshake; TLS 1.2: during it.
    assert "after the handshake" in _case(tls13, "expired")["reason"]
    assert "CERTIFICATE_EXPIRED" in _case(tls13, "expired")["reason"]
    assert "during the handshake" in _case(tls12, "expired")["reason"]
    # Ignoring client certificates while the store says medium: the system does not enforce its level.
    assert ignored["enforced"] == ["none"]
    assert not any(case["certificate_requested"] for case in ignored["live"]["probe"]["cases"])
    (mismatch,) = _codes(ignored, "live_level_mismatch")
    assert (mismatch["configured"], mismatch["enforced_levels"]) == ("medium", ["none"])
    # Asking for a certificate but accepting anything (even an expired one, or none) is no level but none.
    assert requested["enforced"] == ["none"]
    assert all(case["certificate_requested"] for case in requested["live"]["probe"]["cases"])
    assert set(_outcomes(requested).values()) == {"accepted"}
    # The probe's certificates: one per case, each with its own fingerprint (not_pinned is valid's).
    cases = tls13["live"]["probe"]["cases"]
    prints = [case["sha256"] for case in cases if case["case"] not in ("no_certificate", "not_pinned")]
    assert len(set(prints)) == 8
    assert _case(tls13, "not_pinned")["sha256"] == _case(tls13, "valid")["sha256"]


def _case(entry, name):
    return next(case for case in entry["live"]["probe"]["cases"] if case["case"] == name)


def _file_state(path):
    info = os.stat(path)
    with open(path, "rb") as handle:
        return (info.st_ino, info.st_mtime_ns, stat.S_IMODE(info.st_mode), handle.read())


def test_telephony_probe_against_kamailio_and_cipher_levels(tmp_path):
    """kamailio requiring client certificates: enforcement and the OPTIONS status; cipher-restricted and weak
    servers against the configured SIP security level."""
    helpers.need_tool("openssl")
    probe_ca = probe_peers.make_probe_ca(tmp_path)
    high = _store(tmp_path / "high", probe_ca[0], telephony_endpoints="medium", sip_security_level="high")
    cert, key, rest = _served(high, tmp_path)
    low = _store(tmp_path / "low", like=high, telephony_endpoints="none", sip_security_level="low")
    medium = _store(tmp_path / "medium", like=high, telephony_endpoints="none", sip_security_level="medium")
    fullchain = os.path.join(high, "current", "identity", "fullchain.pem")
    with probe_peers.kamailio(fullchain, key, probe_ca[0], tmp_path / "kamailio",
                              cipher_list="ECDHE+AESGCM:ECDHE+CHACHA20") as sip_strict, \
            probe_peers.kamailio(fullchain, key, probe_ca[0], tmp_path / "kamailio-default") as sip_default, \
            probe_peers.s_server(cert, key, rest, ("-cipher", "ECDHE+AESGCM:ECDHE+CHACHA20",
                                                   "-no_tls1", "-no_tls1_1")) as restricted, \
            probe_peers.s_server(cert, key, rest, ("-cipher", "ALL:eNULL:@SECLEVEL=0")) as weak, \
            probe_peers.s_server(cert, key, rest, ("-cipher", "HIGH:!aNULL:!eNULL:@SECLEVEL=0")) as cbc:
        def endpoint(port):
            return {"host": "127.0.0.1", "port": port, "serves": "telephony", "probe": True}

        run = helpers.run_tasks([
            _info(high, [endpoint(sip_strict), endpoint(sip_default), endpoint(restricted), endpoint(weak)],
                  probe_ca),
            _info(low, [endpoint(weak), endpoint(restricted)], probe_ca),
            _info(medium, [endpoint(cbc), endpoint(weak)], probe_ca),
        ], tmp_path, timeout=600)
    high_run, low_run, medium_run = run.results
    for result in run.results:
        assert not result.get("failed"), result

    # kamailio requiring client certificates from the probe CA: medium enforced, OPTIONS answered 200.
    strict, default, restricted_entry, weak_entry = high_run["live"]
    for entry in (strict, default):
        probe = entry["live"]["probe"]
        assert entry["enforced"] == ["medium"]
        assert (probe["setting"], probe["configured"], probe["purpose"]) == ("telephony_endpoints", "medium",
                                                                             "sip_client")
        assert not _codes(entry, "live_level_mismatch")
        assert probe["sip_options"]["status_line"] == "SIP/2.0 200 OK"
        assert probe["sip_options"]["status_code"] == 200 and probe["sip_options"]["matches_request"] is True
        assert probe["sip_options"]["over"] == "valid"
        assert _outcomes(entry)["no_certificate"] == "refused" and _outcomes(entry)["valid"] == "accepted"
    # kamailio with only ECDHE AEAD suites meets SIP security level high; its default list does not.
    assert not _codes(strict, "live_cipher_level_mismatch")
    assert [c["outcome"] for c in strict["live"]["probe"]["ciphers"]["classes"]] == _expected(
        "high", {"no_encryption_or_anonymous": "refused", "weak_cipher": "refused", "tls_before_1_2": "refused",
                 "no_aead_or_forward_secrecy": "refused"})
    (found,) = _codes(default, "live_cipher_level_mismatch")
    assert found["setting"] == "sip_security_level" and found["configured"] == "high"
    assert [a["class"] for a in found["accepted"]] == ["no_aead_or_forward_secrecy"]

    # The same restricted list on s_server; a server taking every suite, NULL and anonymous included.
    assert not _codes(restricted_entry, "live_cipher_level_mismatch")
    (found,) = _codes(weak_entry, "live_cipher_level_mismatch")
    assert [a["class"] for a in found["accepted"]] == ["no_encryption_or_anonymous", "tls_before_1_2",
                                                       "no_aead_or_forward_secrecy"]
    assert all(a["negotiated"] for a in found["accepted"])
    assert "sip_security_level" in found["message"] and "high" in found["message"]
    # s_server in -rev mode is no SIP server: OPTIONS is sent, the answer is not SIP.
    assert weak_entry["live"]["probe"]["sip_options"]["status_code"] is None

    # SIP security level low: only suites below low count (NULL, anonymous).
    weak_low, restricted_low = low_run["live"]
    (found,) = _codes(weak_low, "live_cipher_level_mismatch")
    assert [a["class"] for a in found["accepted"]] == ["no_encryption_or_anonymous"]
    assert [c["class"] for c in weak_low["live"]["probe"]["ciphers"]["classes"]] == ["no_encryption_or_anonymous"]
    assert not _codes(restricted_low, "live_cipher_level_mismatch")

    # SIP security level medium: CBC suites are allowed, NULL and anonymous are not.
    cbc_medium, weak_medium = medium_run["live"]
    assert not _codes(cbc_medium, "live_cipher_level_mismatch")
    assert [c["class"] for c in cbc_medium["live"]["probe"]["ciphers"]["classes"]] == [
        "no_encryption_or_anonymous", "weak_cipher"]
    (found,) = _codes(weak_medium, "live_cipher_level_mismatch")
    assert [a["class"] for a in found["accepted"]] == ["no_encryption_or_anonymous"]


def _expected(level, outcomes):
    """The cipher class outcomes expected below ``level``: a class this node's OpenSSL cannot offer at all
    (3DES, RC4, DES are compiled out of OpenSSL 3 builds like Debian's) is reported not_testable."""
    offered = dict((name, bool(suites)) for name, _below, suites in _probe.cipher_classes(level))
    return [outcomes[name] if offered[name] else "not_testable" for name in offered]


_OPENED = []  # (path, writing) of every open while a probe runs in this process (the audit hook below)
_RECORDING = []


def _audit(event, args):
    if not _RECORDING or event != "open":
        return
    path, mode, flags = args
    writing = bool(mode and any(c in mode for c in "wax+")) or bool(
        flags and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC))
    _OPENED.append((str(path), writing))


def _files_since(roots, since):
    """Every regular file under roots modified at or after ``since`` (seconds since the epoch)."""
    found = []
    for root in roots:
        for directory, _dirs, files in os.walk(str(root)):
            for name in files:
                path = os.path.join(directory, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode) and info.st_mtime >= since:
                    found.append(path)
    return found


def _carries(path, fingerprints):
    """Whether the file holds a private key or a certificate with one of these fingerprints (PEM or DER)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(4 * 1024 * 1024)
    except OSError:
        return False
    if _probe.PROBE_ORGANIZATION.encode() in data:  # the probe's subject, as DER carries it
        return True
    if b"-----BEGIN" in data:
        try:
            certs = _certs.load_certificates(data)
        except Exception:
            certs = []
        if set(_certs.fingerprint(c) for c in certs) & fingerprints:
            return True
    return False


def test_probe_certificates_never_touch_the_disk(tmp_path):
    """No probe certificate or key appears in any file (temp dirs, the store, Ansible's temp dirs), no file
    is opened for writing while the probe runs, and the probe CA's key is read once and left as it was."""
    import sys
    import tempfile
    import time

    from ansible_collections.ipoffice.security.plugins.module_utils import _info as info_core

    helpers.need_tool("openssl")
    probe_ca = probe_peers.make_probe_ca(tmp_path, password="probe-ca-pass")
    store = _store(tmp_path / "store", probe_ca[0], management_interfaces="medium", telephony_endpoints="medium",
                   sip_security_level="high")
    cert, key, rest = _served(store, tmp_path)
    key_before = _file_state(probe_ca[1])
    digest = helpers.tree_digest(store)
    roots = [tempfile.gettempdir(), "/dev/shm", os.path.expanduser("~/.ansible"), str(tmp_path)]
    roots = [root for root in roots if os.path.isdir(root)]
    since = time.time() - 1
    sys.addaudithook(_audit)
    with probe_peers.s_server(cert, key, rest, probe_peers.require(probe_ca[0])) as port:
        endpoints = [{"host": "127.0.0.1", "port": port, "serves": "management", "probe": True},
                     {"host": "127.0.0.1", "port": port, "serves": "telephony", "probe": True}]
        # Through Ansible, as a user runs it ...
        run = helpers.run_tasks([_info(store, endpoints, probe_ca, private_key_password="probe-ca-pass")], tmp_path)
        # ... and in this process, where every open() is seen.
        del _OPENED[:]
        _RECORDING.append(True)
        try:
            result = info_core.run(DirectoryStore(path=store), {
                "live_endpoints": endpoints, "live_timeout": 5,
                "live_probe_ca": {"certificate_path": probe_ca[0], "private_key_path": probe_ca[1],
                                  "private_key_password": "probe-ca-pass"}})
        finally:
            del _RECORDING[:]
    (played,) = run.results
    assert not played.get("failed"), played
    for outcome in (played, result):
        assert [e["enforced"] for e in outcome["live"]] == [["medium"], ["medium"]]
    fingerprints = set(case["sha256"] for outcome in (played, result) for entry in outcome["live"]
                       for case in entry["live"]["probe"]["cases"] if case["sha256"])
    assert len(fingerprints) == 2 * 2 * 8  # two runs, two endpoints, eight certificates each, all made afresh
    # Nothing written anywhere: no file since the start holds a probe certificate or the probe's subject.
    carriers = [path for path in _files_since(roots, since) if _carries(path, fingerprints)]
    assert carriers == []
    assert helpers.tree_digest(store) == digest
    assert _file_state(probe_ca[1]) == key_before
    # In-process: nothing opened for writing; the probe CA's key file opened once, to read.
    assert [path for path, writing in _OPENED if writing] == []
    assert [path for path, _writing in _OPENED if os.path.realpath(path) == os.path.realpath(probe_ca[1])] == [
        probe_ca[1]]
    # The password and the key are nowhere in what Ansible printed or returned.
    with open(probe_ca[1], "rb") as handle:
        key_text = handle.read().decode()
    body = key_text.split("-----")[2].strip().splitlines()[1]
    for text in (run.stdout, run.stderr, repr(played)):
        assert "probe-ca-pass" not in text and body not in text


def test_probe_bad_input_is_refused_and_changes_nothing(tmp_path):
    probe_ca = probe_peers.make_probe_ca(tmp_path, password="right-password")
    leaf_cert = str(tmp_path / "leaf.pem")
    leaf_key = str(tmp_path / "leaf.key")
    import subprocess
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-noenc", "-days", "2", "-subj", "/CN=leaf",
                    "-addext", "basicConstraints=critical,CA:FALSE", "-keyout", leaf_key, "-out", leaf_cert],
                   check=True, capture_output=True, timeout=120)
    store = _store(tmp_path / "store", probe_ca[0])
    digest = helpers.tree_digest(store)
    endpoint = {"host": "127.0.0.1", "port": helpers.free_port(), "serves": "management", "probe": True}
    run = helpers.run_tasks([
        _info(store, [endpoint], None),
        _info(store, [endpoint], probe_ca),
        _info(store, [endpoint], probe_ca, private_key_password="wrong-password"),
        _info(store, [endpoint], (leaf_cert, leaf_key)),
        _info(store, [endpoint], (probe_ca[0], leaf_key), private_key_password="right-password"),
        _info(store, [dict(endpoint, probe="sometimes")], probe_ca, private_key_password="right-password"),
    ], tmp_path)
    assert [(r.get("failed"), r.get("error"), r.get("option")) for r in run.results] == [
        (True, "probe_ca_required", "live_probe_ca"),
        (True, "password_required", "live_probe_ca.private_key_password"),
        (True, "wrong_password", "live_probe_ca.private_key_password"),
        (True, "invalid_probe_ca", "live_probe_ca.certificate_path"),
        (True, "probe_ca_key_mismatch", "live_probe_ca.private_key_path"),
        (True, "invalid_option", None),  # Ansible's own type check of probe (a bool)
    ]
    assert "probe" in run.results[-1]["msg"]
    assert helpers.tree_digest(store) == digest
    for text in (run.stdout, run.stderr, repr(run.results)):
        assert "right-password" not in text and "wrong-password" not in text
