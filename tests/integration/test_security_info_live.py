"""Live read-back: security_info compares what real `openssl s_server` processes serve with the store.

One playbook run reads four endpoints: the store's own identity and chain (match), another certificate
(live_identity_mismatch), the leaf without its chain (live_chain_mismatch) and a closed port
(live_unreachable).
"""

import os
import sys

import helpers

sys.path.insert(0, os.path.join(helpers.REPO, "tests", "unit", "plugins", "module_utils"))
from test_identity_fixtures import make_ca, make_leaf  # noqa: E402

from ansible_collections.ipoffice.security.plugins.module_utils import _certs  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore  # noqa: E402

NAME = "ipo1.example.com"


def _write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
    return str(path)


def _by_code(findings, code):
    return [f for f in findings if f["code"] == code]


def test_live_endpoints_against_the_store(tmp_path):
    helpers.need_tool("openssl")
    store = str(tmp_path / "store")
    base = {"store_path": store, "system_name": NAME, "system_addresses": ["127.0.0.1"]}
    # A new server-platform system: a CA-signed identity, its chain offered (security_info never writes).
    DirectoryStore(path=store, system_name=NAME, system_addresses=["127.0.0.1"]).update(lambda state: None)
    identity_dir = os.path.join(store, "current", "identity")
    with open(os.path.join(identity_dir, "fullchain.pem"), "rb") as handle:
        fullchain = _certs.load_certificates(handle.read())
    assert len(fullchain) == 2  # the identity and the internal root CA
    rest = _write(tmp_path / "rest.pem", _certs.certs_pem(fullchain[1:]))
    other_ca = make_ca("CN=Somebody Else CA")
    other, other_key = make_leaf(other_ca, name=NAME)
    other_cert = _write(tmp_path / "other.pem", _certs.cert_pem(other))
    other_key_file = _write(tmp_path / "other.key", _certs.key_pem(other_key))
    closed = helpers.free_port()

    cert = os.path.join(identity_dir, "cert.pem")
    key = os.path.join(identity_dir, "key.pem")
    with helpers.openssl_server(cert, key, chain_file=rest) as match, \
            helpers.openssl_server(other_cert, other_key_file) as mismatch, \
            helpers.openssl_server(cert, key) as leaf_only:
        endpoints = [
            {"host": "127.0.0.1", "port": match, "serves": "management"},
            {"host": "127.0.0.1", "port": mismatch, "serves": "management", "server_name": NAME},
            {"host": "127.0.0.1", "port": leaf_only, "serves": "telephony"},
            {"host": "127.0.0.1", "port": closed, "serves": "management"},
        ]
        before = helpers.tree_digest(store)
        result = helpers.run_module("security_info", dict(base, live_endpoints=endpoints, live_timeout=5), tmp_path)
    assert helpers.tree_digest(store) == before
    assert not result.get("failed"), result
    assert result["changed"] is False
    live = result["live"]
    assert [(e["port"], e["serves"]) for e in live] == [(e["port"], e["serves"]) for e in endpoints]
    identity_fp = result["identity"]["sha256"]

    # The store's own files: same identity, same chain, a chain to the root in the store's TCS (medium).
    ok = live[0]
    assert ok["live"]["reachable"] and ok["live"]["identity_matches"] and ok["live"]["chain_matches"]
    assert ok["live"]["presented_chain"] == result["identity"]["offered_chain"]
    assert ok["live"]["checks"]["medium"]["passed"] is True
    # The name peers check is the endpoint item's (the one endpoint rule): the host, here its address (the identity
    # holds IP:127.0.0.1); with server_name, that name.
    assert ok["live"]["checks"]["high_remote"]["peer_name"] == "127.0.0.1"
    assert live[1]["live"]["checks"]["high_remote"]["peer_name"] == NAME
    # high_remote: the identity is not itself in the TCS, so a pinning peer would refuse it; nothing else.
    assert ok["live"]["checks"]["high_remote"]["codes"] == ["not_pinned"]
    assert [(f["code"], f["level"], f["codes"]) for f in ok["findings"]] == [
        ("live_fails_high_remote", "high_remote", ["not_pinned"])]

    # Another certificate: live_identity_mismatch naming both, and the engine says why peers refuse it.
    wrong = live[1]
    assert wrong["live"]["identity_matches"] is False
    (finding,) = _by_code(wrong["findings"], "live_identity_mismatch")
    assert finding["expected_sha256"] == identity_fp and finding["presented_sha256"] == _certs.fingerprint(other)
    assert "CN=%s" % NAME in finding["message"] and identity_fp in finding["message"]
    assert _certs.fingerprint(other) in finding["message"]
    assert not _by_code(wrong["findings"], "live_chain_mismatch")  # implied by the identity mismatch
    assert "untrusted_chain" in wrong["live"]["checks"]["medium"]["codes"]
    (medium,) = _by_code(wrong["findings"], "live_fails_medium")
    assert "untrusted_chain" in medium["codes"] and "untrusted_chain:" in medium["message"]

    # The leaf without its chain while Offer ID Certificate Chain is on (telephony: no separate identity).
    short = live[2]
    assert short["live"]["identity_matches"] is True and short["live"]["expected"] == "identity"
    (finding,) = _by_code(short["findings"], "live_chain_mismatch")
    assert finding["presented_chain"] == [identity_fp]
    assert finding["expected_chain"] == result["identity"]["offered_chain"]
    # The root is in the peer's TCS, so the engine still builds the path: the store's chain is not needed.
    assert short["live"]["checks"]["medium"]["passed"] is True

    # Nothing listens: live_unreachable, no comparison claimed.
    down = live[3]
    assert down["live"]["reachable"] is False
    assert down["live"]["identity_matches"] is None and down["live"]["chain_matches"] is None
    assert [f["code"] for f in down["findings"]] == ["live_unreachable"]
    assert down["findings"][0]["reason"] == "endpoint_refused"
    assert NAME in down["findings"][0]["message"]

    # Every live finding is also in the result's findings, marked where: live.
    live_findings = [f for f in result["findings"] if f["where"] == "live"]
    assert live_findings == [f for e in live for f in e["findings"]]


def test_live_endpoints_bad_input_changes_nothing(tmp_path):
    store = str(tmp_path / "store")
    base = {"store_path": store, "system_name": NAME, "system_addresses": ["127.0.0.1"]}
    DirectoryStore(path=store, system_name=NAME, system_addresses=["127.0.0.1"]).update(lambda state: None)
    digest = helpers.tree_digest(store)
    run = helpers.run_tasks([
        {"ipoffice.security.security_info": dict(base, live_endpoints=[
            {"host": "127.0.0.1", "port": 443, "serves": "voicemail"}])},
        {"ipoffice.security.security_info": dict(base, live_endpoints=[
            {"host": "127.0.0.1", "port": 443, "serves": "line:nosuchline"}])},
        {"ipoffice.security.security_info": dict(base, live_endpoints=[
            {"host": "127.0.0.1", "port": 70000, "serves": "management"}])},
        {"ipoffice.security.security_info": dict(base, live_timeout=0, live_endpoints=[
            {"host": "127.0.0.1", "port": 443, "serves": "management"}])},
    ], tmp_path)
    bad_serves, bad_line, bad_port, bad_timeout = run.results
    assert bad_serves["failed"] and bad_serves["error"] == "invalid_choice"
    assert bad_serves["option"] == "live_endpoints[0].serves" and "voicemail" in bad_serves["msg"]
    assert bad_line["failed"] and bad_line["error"] == "unknown_line" and "nosuchline" in bad_line["msg"]
    assert bad_port["failed"] and bad_port["error"] == "out_of_range" and "70000" in bad_port["msg"]
    assert bad_timeout["failed"] and bad_timeout["error"] == "out_of_range"
    assert "live_timeout" in bad_timeout["msg"]
    for result in run.results:
        assert "Traceback" not in result["msg"] and "Traceback" not in result.get("exception", "")
    assert helpers.tree_digest(store) == digest
