"""Preflight of certificate check level changes against real `openssl s_server` endpoints on 127.0.0.1.

The core is called directly (plan / run_preflight) with the real check engine and real TLS fetches.
"""

import pytest

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils import _checks_settings as cs
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import initial_state

PEER_NAMES = ["DNS:sip.example.test", "IP:127.0.0.1", "URI:sip:example.test"]


def _write(path, data):
    path.write_bytes(data)
    return str(path)


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    """A provider PKI: root CA -> leaf for sip.example.test / 127.0.0.1, written for s_server."""
    tmp = tmp_path_factory.mktemp("peer")
    root_key = _certs.generate_private_key()
    root = _certs.build_certificate("CN=Provider Root CA", root_key, 3650, ca=True)
    key = _certs.generate_private_key()
    leaf = _certs.build_certificate("CN=sip.example.test", key, 365, subject_alt_names=PEER_NAMES,
                                    issuer_cert=root, issuer_key=root_key)
    small_key = _certs.generate_private_key("sha1_rsa1024")
    weak = _certs.build_certificate("CN=old.example.test", small_key, 365, signature="sha1_rsa1024",
                                    subject_alt_names=["IP:127.0.0.1"])
    return {
        "root": root, "leaf": leaf, "weak": weak,
        "cert": _write(tmp / "leaf.pem", _certs.cert_pem(leaf)),
        "key": _write(tmp / "leaf.key", _certs.key_pem(key)),
        "chain": _write(tmp / "chain.pem", _certs.cert_pem(root)),
        "weak_cert": _write(tmp / "weak.pem", _certs.cert_pem(weak)),
        "weak_key": _write(tmp / "weak.key", _certs.key_pem(small_key)),
    }


@pytest.fixture(scope="module")
def base_state():
    return initial_state("server", "ipo1.example.com", ["192.0.2.10"])


@pytest.fixture()
def state(base_state):
    return base_state.copy()


@pytest.fixture(scope="module")
def endpoint(peer):
    with helpers.openssl_server(peer["cert"], peer["key"], peer["chain"]) as port:
        yield port


def test_raising_telephony_to_high_remote_is_refused_while_the_endpoint_would_fail(state, endpoint):
    endpoints = [{"host": "127.0.0.1", "port": endpoint, "setting": "telephony"}]
    before = state.snapshot()
    with pytest.raises(SecurityError) as info:
        cs.plan(state, {"telephony_endpoints": "high_remote"}, endpoints)
    error = info.value
    label = "127.0.0.1:%d (telephony)" % endpoint
    assert error.code == "preflight_failed" and error.option == "preflight"
    assert label in error.message
    # The provider root is not in the TCS, and the leaf is not pinned.
    assert "untrusted_chain" in error.message and "not_pinned" in error.message
    assert error.details["failed_endpoints"] == [label]
    (result,) = error.details["preflight"]
    assert result["evaluated"] is True and result["passed"] is False and result["reachable"] is True
    assert result["level"] == "high_remote" and result["peer_name"] == "127.0.0.1"
    assert set(result["codes"]) == {"untrusted_chain", "not_pinned"}
    assert result["certificate"]["common_name"] == "sip.example.test"
    assert state.snapshot() == before  # planning never changes the state


def test_raising_is_allowed_once_the_endpoint_passes(state, endpoint, peer):
    state.add_trusted([peer["root"], peer["leaf"]])  # trust the provider's root and pin its leaf
    endpoints = [{"host": "127.0.0.1", "port": endpoint, "setting": "telephony", "sip_domain": "example.test"}]
    planned = cs.plan(state, {"telephony_endpoints": "high_remote"}, endpoints)
    (result,) = planned.preflight
    assert result["passed"] is True and result["findings"] == [] and result["codes"] == []
    assert result["peer_name"] is None and result["sip_domain"] == "example.test"
    assert planned.after["telephony_endpoints"] == "high_remote" and planned.warnings == []
    # The wrong SIP domain is a finding of its own.
    wrong = [dict(endpoints[0], sip_domain="other.test")]
    with pytest.raises(SecurityError) as info:
        cs.plan(state, {"telephony_endpoints": "high_remote"}, wrong)
    assert info.value.details["preflight"][0]["codes"] == ["sip_domain_mismatch"]


def test_medium_needs_the_root_but_no_pin(state, endpoint, peer):
    endpoints = [{"host": "127.0.0.1", "port": endpoint, "setting": "management"}]
    with pytest.raises(SecurityError) as info:
        cs.plan(state, {"management_interfaces": "medium"}, endpoints)
    assert info.value.details["preflight"][0]["codes"] == ["untrusted_chain"]
    state.add_trusted([peer["root"]])
    assert cs.plan(state, {"management_interfaces": "medium"}, endpoints).preflight[0]["passed"] is True
    with pytest.raises(SecurityError) as info:  # high adds pinning
        cs.plan(state, {"management_interfaces": "high"}, endpoints)
    assert info.value.details["preflight"][0]["codes"] == ["not_pinned"]


def test_warn_mode_changes_and_reports(state, endpoint):
    endpoints = [{"host": "127.0.0.1", "port": endpoint, "setting": "telephony", "peer_name": "wrong.example.test"}]
    planned = cs.plan(state, {"telephony_endpoints": "medium_remote"}, endpoints, mode="warn")
    (result,) = planned.preflight
    assert result["passed"] is False and set(result["codes"]) == {"untrusted_chain", "name_mismatch"}
    assert planned.after["telephony_endpoints"] == "medium_remote"
    assert len(planned.warnings) == 1
    assert "127.0.0.1:%d (telephony)" % endpoint in planned.warnings[0] and "name_mismatch" in planned.warnings[0]


def test_unreachable_endpoint_fails_the_preflight(state):
    port = helpers.free_port()  # nothing listens there
    endpoints = [{"host": "127.0.0.1", "port": port, "setting": "management"}]
    with pytest.raises(SecurityError) as info:
        cs.plan(state, {"management_interfaces": "low"}, endpoints, timeout=2)
    (result,) = info.value.details["preflight"]
    assert result["reachable"] is False and result["codes"] == ["endpoint_unreachable"]
    assert result["findings"][0]["reason"] == "endpoint_refused"
    assert "'preflight' entry" in result["findings"][0]["message"]
    assert "endpoint.host" not in result["findings"][0]["message"]
    # Lowering never needs a preflight: the same unreachable endpoint is not contacted.
    state.settings["checks"]["management_interfaces"] = "high"
    planned = cs.plan(state, {"management_interfaces": "low"}, endpoints, timeout=2)
    assert planned.preflight[0]["evaluated"] is False and planned.after["management_interfaces"] == "low"


def test_new_line_at_high_is_preflighted_and_weak_certificates_are_named(state, peer):
    # OpenSSL's default security level refuses to serve an RSA-1024 key.
    with helpers.openssl_server(peer["weak_cert"], peer["weak_key"],
                                extra_args=["-cipher", "DEFAULT:@SECLEVEL=0"]) as port:
        endpoints = [{"host": "127.0.0.1", "port": port, "setting": "line:branch1"}]
        with pytest.raises(SecurityError) as info:
            cs.plan(state, {"ip_office_lines": [{"name": "branch1", "check_level": "high"}]}, endpoints)
        (result,) = info.value.details["preflight"]
        assert result["level"] == "high" and result["endpoint"] == "127.0.0.1:%d (line:branch1)" % port
        assert {"key_too_small", "weak_signature", "self_signed", "not_pinned"} <= set(result["codes"])
        # The same line at none raises nothing: no preflight.
        planned = cs.plan(state, {"ip_office_lines": [{"name": "branch1"}]}, endpoints)
        assert planned.preflight[0]["evaluated"] is False


def test_reflected_own_identity_fails_high(state, tmp_path):
    cert = _write(tmp_path / "own.pem", _certs.cert_pem(state.identity.cert) + _certs.cert_pem(state.ca.cert))
    key = _write(tmp_path / "own.key", _certs.key_pem(state.identity.key))
    state.add_trusted([state.identity.cert])
    with helpers.openssl_server(cert, key) as port:
        endpoints = [{"host": "127.0.0.1", "port": port, "setting": "management", "server_name": "ipo1.example.com"}]
        with pytest.raises(SecurityError) as info:
            cs.plan(state, {"management_interfaces": "high_remote"}, endpoints)
    (result,) = info.value.details["preflight"]
    assert result["codes"] == ["reflected"] and result["peer_name"] == "ipo1.example.com"
