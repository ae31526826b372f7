"""certificate_checks preflight through ansible-playbook against a real `openssl s_server` on 127.0.0.1."""

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore


def _peer(tmp_path):
    root_key = _certs.generate_private_key()
    root = _certs.build_certificate("CN=Provider Root CA", root_key, 3650, ca=True)
    key = _certs.generate_private_key()
    leaf = _certs.build_certificate("CN=sip.example.test", key, 365,
                                    subject_alt_names=["DNS:sip.example.test", "IP:127.0.0.1", "URI:sip:example.test"],
                                    issuer_cert=root, issuer_key=root_key)
    (tmp_path / "leaf.pem").write_bytes(_certs.cert_pem(leaf))
    (tmp_path / "leaf.key").write_bytes(_certs.key_pem(key))
    (tmp_path / "root.pem").write_bytes(_certs.cert_pem(root))
    return root, leaf


def _checks(store, **options):
    return {"ipoffice.security.certificate_checks": dict({"store_path": store}, **options)}


def test_raising_telephony_to_high_remote_with_preflight(tmp_path):
    root, leaf = _peer(tmp_path)
    store = str(tmp_path / "store")
    warn_store = str(tmp_path / "warn-store")
    for path in (store, warn_store):
        DirectoryStore(path, system_name="ipo1.example.com", system_addresses=[]).update(lambda state: None)
    with helpers.openssl_server(str(tmp_path / "leaf.pem"), str(tmp_path / "leaf.key"),
                                str(tmp_path / "root.pem")) as port:
        label = "127.0.0.1:%d (telephony)" % port
        raise_it = dict(telephony_endpoints="high_remote", preflight=[
            {"host": "127.0.0.1", "port": port, "setting": "telephony", "sip_domain": "example.test"}])
        digest = helpers.tree_digest(store)

        # 1. The provider's root is not trusted and its leaf not pinned: refused, in check mode too.
        run = helpers.run_tasks([
            _checks(store, **raise_it),
            dict(_checks(store, **raise_it), check_mode=True),
            _checks(warn_store, preflight_mode="warn", **raise_it),
            _checks(warn_store, preflight_mode="warn", **raise_it),
        ], tmp_path)
        refused, refused_check, warned, warned_again = run.results
        for result in (refused, refused_check):
            assert result["failed"] is True and result["error"] == "preflight_failed"
            assert label in result["msg"] and "untrusted_chain" in result["msg"] and "not_pinned" in result["msg"]
            assert result["failed_endpoints"] == [label]
            assert set(result["preflight"][0]["codes"]) == {"untrusted_chain", "not_pinned"}
        assert helpers.tree_digest(store) == digest
        # warn mode changes the setting and reports the endpoint.
        assert warned["changed"] is True and warned["after"]["telephony_endpoints"] == "high_remote"
        assert warned["preflight"][0]["passed"] is False
        assert any(label in w and "not_pinned" in w for w in warned["warnings"])
        assert "[WARNING]" in run.stdout + run.stderr
        assert warned_again["changed"] is False and warned_again["preflight"][0]["evaluated"] is False

        # 2. Trust the root and pin the leaf (store API): the same change is allowed.
        DirectoryStore(store).update(lambda state: state.add_trusted([root, leaf]))
        refused_port = helpers.free_port()
        lower = dict(telephony_endpoints="medium", preflight=[
            {"host": "127.0.0.1", "port": refused_port, "setting": "telephony"}])
        results = helpers.run_tasks([
            dict(_checks(store, **raise_it), check_mode=True),
            dict(_checks(store, **raise_it), diff=True),
            _checks(store, **raise_it),
            _checks(store, **lower),
        ], tmp_path).results
    predicted, allowed, again, lowered = results
    assert predicted["changed"] is True and predicted["preflight"][0]["passed"] is True
    assert allowed["changed"] is True and allowed["preflight"][0]["passed"] is True
    assert allowed["preflight"][0]["certificate"]["sha256"] == _certs.fingerprint(leaf)
    assert allowed["diff"]["before"]["telephony_endpoints"] == "none"
    assert allowed["diff"]["after"]["telephony_endpoints"] == "high_remote"
    assert again["changed"] is False and again["preflight"][0]["evaluated"] is False
    # Lowering never needs a preflight: the endpoint nobody listens on is not contacted.
    assert lowered["changed"] is True and lowered["preflight"][0]["evaluated"] is False
    assert lowered["level_changes"][0]["raises"] is False
    assert DirectoryStore(store).read().settings["checks"]["telephony_endpoints"] == "medium"
