"""Inputs are checked before they are stored or sent: control characters, default SANs, ports, timeouts.

One validator (_model.check_text) refuses NUL, CR, LF and the other C0 characters (and DEL) in subject
names, SANs, the SCEP server and URI, IP Office line names and endpoint hosts, naming the option.  Each
bad input is tried through the module's own run function on an initialised store, in check mode and
for real; the store must stay byte-identical.
"""

import pytest

import helpers
from test_identity_fixtures import initialised, make_leaf, pem, key_pem, run_identity, write

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils import _checks_settings, _identity, _issued
from ansible_collections.ipoffice.security.plugins.module_utils import _scep_settings, _verify
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError, check_text

CONTROLS = ["\x00", "\r", "\n", "\t", "\x1b", "\x7f", "\r\nX-Injected: 1"]


def checks_params(**extra):
    params = dict.fromkeys(_checks_settings.OPTION_NAMES)
    params.update(extra)
    return params


def identity_run(store, params, check_mode):
    return run_identity(store, params, check_mode=check_mode)


def issued_run(store, params, check_mode, tmp_path):
    base = {"path": str(tmp_path / "out.p12"), "password": "issued-pw"}
    base.update(params)
    return _issued.run(store, base, check_mode=check_mode)


# (label, runner, params with {} where the bad text goes, option)
CASES = [
    ("identity subject_name", "identity", {"source": "generate", "subject_name": "ipo1.example.com{}"},
     "subject_name"),
    ("identity DN", "identity", {"source": "generate", "subject_name": "CN=ipo1{},O=Example"}, "subject_name"),
    ("identity SAN", "identity", {"source": "generate", "subject_name": "ipo1.example.com",
                                  "subject_alt_names": ["DNS:ipo1.example.com{}"]}, "subject_alt_names"),
    ("issued subject_name", "issued", {"subject_name": "sbc1.example.com{}"}, "subject_name"),
    ("issued SAN", "issued", {"subject_name": "sbc1.example.com", "subject_alt_names": ["IP:192.0.2.20{}"]},
     "subject_alt_names"),
    ("scep server", "scep", {"active": True, "server": "ca.example.com{}"}, "server"),
    ("scep uri", "scep", {"active": True, "server": "ca.example.com", "uri": "/scep{}"}, "uri"),
    ("scep subject", "scep", {"active": True, "server": "127.0.0.1", "port": 9, "enroll": True,
                              "subject_name": "ipo1{}"}, "subject_name"),
    ("line name", "checks", {"lines": [{"name": "line{}1", "transport": "websocket_client",
                                        "check_level": "medium"}]}, "lines"),
    ("preflight host", "checks", {"management_interfaces": "low",
                                  "preflight": [{"host": "127.0.0.1{}", "setting": "management"}]},
     "preflight[0].host"),
    ("verify host", "verify", {"endpoint": {"host": "127.0.0.1{}", "port": 443, "timeout": 1}, "level": "low"},
     "endpoint.host"),
    ("verify server_name", "verify", {"endpoint": {"host": "127.0.0.1", "port": 443, "timeout": 1,
                                                   "server_name": "ipo1{}"}, "level": "low"}, "endpoint.server_name"),
]


def _fill(value, bad):
    if isinstance(value, str):
        return value.replace("{}", bad)
    if isinstance(value, list):
        return [_fill(v, bad) for v in value]
    if isinstance(value, dict):
        return dict((k, _fill(v, bad)) for k, v in value.items())
    return value


def _run(kind, store, params, check_mode, tmp_path):
    if kind == "identity":
        return identity_run(store, params, check_mode)
    if kind == "issued":
        return issued_run(store, params, check_mode, tmp_path)
    if kind == "scep":
        return _scep_settings.run(store, dict(params, retries=0, timeout=1), check_mode=check_mode)
    if kind == "checks":
        return _checks_settings.run(store, checks_params(**params), check_mode=check_mode)
    return _verify.run(store, params, check_mode=check_mode)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return initialised(tmp_path_factory.mktemp("inputs") / "store")


@pytest.mark.parametrize("label,kind,params,option", CASES, ids=[c[0] for c in CASES])
def test_control_characters_are_refused_naming_the_option(template, tmp_path, label, kind, params, option):
    digest = helpers.tree_digest(template.path)
    for bad in CONTROLS:
        for check_mode in (True, False):
            with pytest.raises(SecurityError) as err:
                _run(kind, template, _fill(params, bad), check_mode, tmp_path)
            assert err.value.code == "invalid_characters", (label, repr(bad), err.value.message)
            assert err.value.option == option, (label, err.value.option)
            assert "'%s'" % option in err.value.message and repr(bad[0]) in err.value.message
            assert helpers.tree_digest(template.path) == digest, label
    assert not (tmp_path / "out.p12").exists()


def test_trailing_newline_is_not_stripped_into_acceptance():
    # str.strip() would turn "ipo1\n" into a valid name; the check runs before any stripping.
    with pytest.raises(SecurityError) as err:
        _certs.parse_subject("ipo1.example.com\n")
    assert err.value.code == "invalid_characters" and err.value.option == "subject_name"
    assert check_text("ipo1.example.com", "subject_name") == "ipo1.example.com"
    assert check_text(None, "x") is None


def test_a_common_name_that_is_no_dns_name_is_refused_for_the_default_san(template):
    digest = helpers.tree_digest(template.path)
    for check_mode in (True, False):
        with pytest.raises(SecurityError) as err:
            run_identity(template, {"source": "generate", "subject_name": "IP Office Main"}, check_mode=check_mode)
        assert err.value.code == "invalid_san" and err.value.option == "subject_name"
        assert "'IP Office Main'" in err.value.message and "'subject_alt_names'" in err.value.message
    assert helpers.tree_digest(template.path) == digest
    # with the SANs given explicitly it is fine (here: none)
    result = run_identity(template, {"source": "generate", "subject_name": "IP Office Main",
                                     "subject_alt_names": []}, check_mode=True)
    assert result.changed and _certs.subject_alt_names(result.after.identity.cert) == []


def test_issued_certificate_default_san_is_refused_too(template, tmp_path):
    with pytest.raises(SecurityError) as err:
        issued_run(template, {"subject_name": "SBC number 1"}, True, tmp_path)
    assert err.value.code == "invalid_san" and err.value.option == "subject_name"


@pytest.mark.parametrize("endpoint,option", [
    ({"host": "127.0.0.1", "port": 0}, "endpoint.port"),
    ({"host": "127.0.0.1", "port": 443, "timeout": 0}, "endpoint.timeout"),
    ({"host": "127.0.0.1", "port": 443, "timeout": -1}, "endpoint.timeout"),
    ({"host": "127.0.0.1", "port": 443, "timeout": 0.0}, "endpoint.timeout"),
])
def test_certificate_verify_refuses_port_0_and_non_positive_timeouts(template, endpoint, option):
    with pytest.raises(SecurityError) as err:
        _verify.run(template, {"endpoint": endpoint, "level": "low"})
    assert err.value.code == "out_of_range" and err.value.option == option, err.value.message
    assert "'%s'" % option in err.value.message


def test_non_matching_key_in_a_certificate_path_bundle_is_reported_against_certificate_path(template, tmp_path):
    leaf, _key = make_leaf(name="ipo1.example.com")
    other = _certs.generate_private_key()
    bundle = write(tmp_path / "bundle.pem", pem(leaf) + key_pem(other))
    digest = helpers.tree_digest(template.path)
    with pytest.raises(SecurityError) as err:
        run_identity(template, {"source": "import", "certificate_path": bundle})
    assert err.value.code == "key_mismatch" and err.value.option == "certificate_path", err.value.message
    assert "'certificate_path'" in err.value.message
    assert helpers.tree_digest(template.path) == digest
    # a separate key option is still named when it is the one that does not match
    with pytest.raises(SecurityError) as err:
        run_identity(template, {"source": "import", "certificate_path": write(tmp_path / "leaf.pem", pem(leaf)),
                                "private_key_content": key_pem(other).decode()})
    assert err.value.code == "key_mismatch" and err.value.option == "private_key_content"


def test_identity_request_alone_refuses_before_any_store_is_read():
    with pytest.raises(SecurityError) as err:
        _identity.identity_request({"source": "generate", "subject_alt_names": ["DNS:a.example.com\x00"]})
    assert err.value.code == "invalid_characters" and err.value.option == "subject_alt_names"
