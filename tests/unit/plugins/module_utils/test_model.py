"""The settings model against the vendor's settings, table by table.

The tables below are written from the vendor's documentation as docs/certificate-checks.md, docs/scep.md,
docs/identity.md and docs/store-format.md state it (not copied from _model.py): if the model drifts from
them, these fail.
"""

import pytest

# helpers puts the collection on sys.path
import helpers  # noqa: F401  # pylint: disable=unused-import
from ansible_collections.ipoffice.security.plugins.module_utils import _model
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError

SIX_LEVELS = ("none", "low", "medium", "high", "medium_remote", "high_remote")
LINE_LEVELS = ("none", "medium", "high")
SECURITY_LEVELS = ("low", "medium", "high")
EJBCA_URI = "/ejbca/publicweb/apply/scep/pkiclient.exe"

# The identity, checks and SCEP settings: (area, setting, default on a server, default on an IP500 V2).
DEFAULTS = [
    ("identity", "offer_id_certificate_chain", True, True),
    ("identity", "automatic_certificate_management", False, False),
    ("identity", "san_details_origin", "", ""),
    ("identity", "automatic_phone_provisioning", True, True),
    ("checks", "certificate_expiry_warning_days", 60, 60),
    ("checks", "sip_telephony_certificate", "none", "none"),
    ("checks", "management_interfaces", "none", "none"),
    ("checks", "telephony_endpoints", "none", "none"),
    ("checks", "h323_security_level", "high", "medium"),
    ("checks", "sip_security_level", "high", "medium"),
    ("checks", "ip_office_lines", [], []),
    # Not settings of the system but facts about it the checks depend on (R11.1.3 medium, docs/check-levels.md).
    ("checks", "release", "", ""),
    ("checks", "medium_reapplied", False, False),
    ("scep", "active", False, False),
    ("scep", "request_interval", 120, 120),
    ("scep", "server", "", ""),
    ("scep", "scheme", "http", "http"),
    ("scep", "port", None, None),  # None = the scheme's port (80 / 443), see test_scep_port_follows_scheme
    ("scep", "uri", EJBCA_URI, EJBCA_URI),
]

# Ranges: (area, setting, lowest, highest).  Both sides of each boundary are tested.
RANGES = [
    ("checks", "certificate_expiry_warning_days", 30, 180),
    ("scep", "request_interval", 5, 3600),
    ("scep", "port", 1, 65535),
]

# Choices: (area, setting, every allowed value).
CHOICES = [
    ("checks", "sip_telephony_certificate", ("none", "sip_trunks", "sip_and_sm_trunks", "sip_phones")),
    ("checks", "management_interfaces", SIX_LEVELS),
    ("checks", "telephony_endpoints", SIX_LEVELS),
    ("checks", "h323_security_level", SECURITY_LEVELS),
    ("checks", "sip_security_level", SECURITY_LEVELS),
    ("scep", "scheme", ("http", "https")),
]

BOOLEANS = [
    ("identity", "offer_id_certificate_chain"),
    ("identity", "automatic_certificate_management"),
    ("identity", "automatic_phone_provisioning"),
    ("scep", "active"),
]

LABELS = {
    "offer_id_certificate_chain": "Offer ID Certificate Chain",
    "certificate_expiry_warning_days": "Certificate Expiry Warning Days",
    "automatic_certificate_management": "Automatic Certificate Management",
    "san_details_origin": "SAN Details Origin",
    "automatic_phone_provisioning": "Automatic Phone Provisioning",
    "sip_telephony_certificate": "Use different certificate for SIP telephony",
    "management_interfaces": "Received certificate checks (Management interfaces)",
    "telephony_endpoints": "Received certificate checks (Telephony endpoints)",
    "h323_security_level": "H.323 Security Level",
    "sip_security_level": "SIP Security Level",
    "active": "Active",
    "request_interval": "Request Interval (sec)",
    "server": "SCEP Server IP Address/Name",
    "scheme": "SCEP Server Scheme",  # [decided]: the reference only says "80 for HTTP, 443 for HTTPS"
    "port": "SCEP Server Port",
    "uri": "SCEP URI",
    "password": "SCEP Password",
}


def _ids(table):
    return ["%s.%s" % (row[0], row[1]) for row in table]


# ------------------------------------------------------------------------------------------ coverage


def test_model_has_exactly_the_reference_settings():
    """No setting missing, none invented: the model's settings are the reference's."""
    expected = set((area, name) for area, name, _s, _v in DEFAULTS) | {("scep", "password")}
    actual = set((s.area, s.name) for s in _model.SETTINGS)
    assert actual == expected


@pytest.mark.parametrize("name,label", sorted(LABELS.items()))
def test_labels_are_the_vendor_labels(name, label):
    matches = [s for s in _model.SETTINGS if s.name == name]
    assert len(matches) == 1
    assert matches[0].label == label


# ------------------------------------------------------------------------------------------ defaults


@pytest.mark.parametrize("area,name,server,ip500v2", DEFAULTS, ids=_ids(DEFAULTS))
def test_default_per_platform(area, name, server, ip500v2):
    assert _model.default_settings("server")[area][name] == server
    assert _model.default_settings("ip500v2")[area][name] == ip500v2
    assert _model.setting(area, name).default_for("server") == server
    assert _model.setting(area, name).default_for("ip500v2") == ip500v2


def test_default_platform_is_server():
    assert _model.DEFAULT_PLATFORM == "server"
    assert _model.default_settings() == _model.default_settings("server")
    assert set(_model.PLATFORMS) == {"server", "ip500v2"}


def test_default_settings_are_fresh_copies():
    first = _model.default_settings()
    first["checks"]["ip_office_lines"].append({"name": "x"})
    assert _model.default_settings()["checks"]["ip_office_lines"] == []


def test_default_settings_hold_no_secret():
    settings = _model.default_settings()
    assert "password" not in settings["scep"]
    assert _model.setting("scep", "password").secret is True
    assert _model.setting("scep", "password").default == ""


def test_default_settings_validate_as_stored():
    for platform in ("server", "ip500v2"):
        settings = _model.default_settings(platform)
        assert _model.validate_settings(settings) == settings


def test_unknown_platform():
    with pytest.raises(SecurityError) as err:
        _model.default_settings("ip400")
    assert err.value.code == "invalid_choice"
    assert err.value.option == "platform"
    assert "server, ip500v2" in err.value.message and "'ip400'" in err.value.message


@pytest.mark.parametrize("scheme,port", [("http", 80), ("https", 443)])
def test_scep_port_follows_scheme(scheme, port):
    assert _model.scep_port(scheme, None) == port
    assert _model.scep_port(scheme, 8080) == 8080


def test_reference_constants():
    assert _model.TRUSTED_STORE_LIMIT == 25
    assert _model.ISSUED_CERTIFICATE_MAX_DAYS == 825
    assert _model.WEBSOCKET_LINE_PORT == 443
    assert _model.DEFAULT_SCEP_URI == EJBCA_URI
    assert tuple(_model.CHECK_LEVELS) == SIX_LEVELS
    assert tuple(_model.LINE_CHECK_LEVELS) == LINE_LEVELS


def test_signatures_include_the_vendor_choices():
    assert _model.DEFAULT_SIGNATURE == "sha256_rsa2048"
    assert _model.SIGNATURES["sha256_rsa2048"] == ("sha256", "rsa", 2048)
    assert _model.SIGNATURES["sha1_rsa1024"] == ("sha1", "rsa", 1024)
    assert "sha1_rsa1024" in _model.WEAK_SIGNATURES
    for name, (hash_name, key_type, size) in _model.SIGNATURES.items():
        if name not in _model.WEAK_SIGNATURES:  # every other choice is at least as strong as the default
            assert hash_name in ("sha256", "sha384", "sha512")
            assert key_type in ("rsa", "ec"), name
            if key_type == "rsa":
                assert size >= 2048, name
            else:
                assert size in ("secp256r1", "secp384r1"), name


# ------------------------------------------------------------------------------------------- ranges


def _range_cases():
    for area, name, low, high in RANGES:
        yield area, name, low - 1, False
        yield area, name, low, True
        yield area, name, high, True
        yield area, name, high + 1, False


RANGE_CASES = list(_range_cases())


@pytest.mark.parametrize("area,name,value,ok", RANGE_CASES,
                         ids=["%s.%s=%s" % (a, n, v) for a, n, v, _ok in RANGE_CASES])
def test_range_boundaries(area, name, value, ok):
    low, high = [(lo, hi) for a, n, lo, hi in RANGES if (a, n) == (area, name)][0]
    if ok:
        assert _model.validate_value(area, name, value) == value
        return
    with pytest.raises(SecurityError) as err:
        _model.validate_value(area, name, value)
    assert err.value.code == "out_of_range"
    assert err.value.option == name
    message = err.value.message
    assert LABELS[name] in message
    assert "from %d to %d" % (low, high) in message
    assert str(value) in message
    assert "'%s'" % name in message


@pytest.mark.parametrize("area,name,low,high", RANGES, ids=_ids(RANGES))
def test_range_metadata(area, name, low, high):
    item = _model.setting(area, name)
    assert (item.minimum, item.maximum) == (low, high)
    assert item.allowed() == "an integer from %d to %d" % (low, high)


@pytest.mark.parametrize("value", ["60", " 60 "])
def test_integer_text_is_accepted(value):
    assert _model.validate_value("checks", "certificate_expiry_warning_days", value) == 60


@pytest.mark.parametrize("value", ["sixty", "60.5", 60.5, True, [60], {}])
def test_integer_rejects_non_integers(value):
    with pytest.raises(SecurityError) as err:
        _model.validate_value("checks", "certificate_expiry_warning_days", value)
    assert err.value.code == "invalid_setting"
    assert "Certificate Expiry Warning Days" in err.value.message
    assert "an integer from 30 to 180" in err.value.message


def test_scep_port_unset_means_scheme_default():
    assert _model.validate_value("scep", "port", None) is None


# ------------------------------------------------------------------------------------------ choices


def _choice_cases():
    for area, name, values in CHOICES:
        for value in values:
            yield area, name, value


CHOICE_CASES = list(_choice_cases())


@pytest.mark.parametrize("area,name,values", CHOICES, ids=_ids(CHOICES))
def test_choices_are_the_reference_choices(area, name, values):
    assert tuple(_model.setting(area, name).choices) == tuple(values)


@pytest.mark.parametrize("area,name,value", CHOICE_CASES, ids=["%s.%s=%s" % c for c in CHOICE_CASES])
def test_every_choice_is_accepted(area, name, value):
    assert _model.validate_value(area, name, value) == value


@pytest.mark.parametrize("area,name,values", CHOICES, ids=_ids(CHOICES))
@pytest.mark.parametrize("bad", ["maximum", "HIGH", ""])
def test_invalid_choice_names_setting_and_values(area, name, values, bad):
    with pytest.raises(SecurityError) as err:
        _model.validate_value(area, name, bad)
    assert err.value.code == "invalid_choice"
    assert err.value.option == name
    message = err.value.message
    assert LABELS[name] in message
    assert "one of " + ", ".join(values) in message
    assert "'%s'" % bad in message
    assert "'%s' option" % name in message


@pytest.mark.parametrize("area,name", BOOLEANS, ids=["%s.%s" % b for b in BOOLEANS])
@pytest.mark.parametrize("value", [True, False])
def test_booleans_accept_booleans(area, name, value):
    assert _model.validate_value(area, name, value) is value


@pytest.mark.parametrize("area,name", BOOLEANS, ids=["%s.%s" % b for b in BOOLEANS])
@pytest.mark.parametrize("value", ["yes", 1, None])
def test_booleans_refuse_other_values(area, name, value):
    with pytest.raises(SecurityError) as err:
        _model.validate_value(area, name, value)
    assert err.value.code == "invalid_setting"
    assert LABELS[name] in err.value.message and "true or false" in err.value.message


def test_unknown_setting():
    with pytest.raises(SecurityError) as err:
        _model.validate_value("checks", "tls_version", "1.3")
    assert err.value.code == "unknown_setting"
    assert "tls_version" in err.value.message and err.value.option == "tls_version"


# ---------------------------------------------------------------------------- IP Office (WebSocket) lines


@pytest.mark.parametrize("level", LINE_LEVELS)
@pytest.mark.parametrize("transport", ["websocket_client", "websocket_server"])
def test_line_levels_allowed(level, transport):
    line = {"name": "branch1", "transport": transport, "check_level": level}
    assert _model.validate_value("checks", "ip_office_lines", [line]) == [line]


@pytest.mark.parametrize("level", ["medium_remote", "high_remote", "low"])
def test_line_refuses_levels_not_offered_on_websocket_lines(level):
    lines = [{"name": "branch1", "check_level": level}]
    with pytest.raises(SecurityError) as err:
        _model.validate_value("checks", "ip_office_lines", lines)
    assert err.value.code == "invalid_choice"
    assert err.value.option == "lines"
    message = err.value.message
    assert "'branch1'" in message and "'%s'" % level in message
    assert "none, medium, high" in message
    assert "check_level" in message and "'lines'" in message


def test_line_defaults():
    assert _model.validate_lines([{"name": "b"}]) == [{"name": "b", "transport": "websocket_client",
                                                       "check_level": "none"}]


def test_line_port_is_443_only():
    assert _model.validate_line({"name": "b", "port": 443})["name"] == "b"
    with pytest.raises(SecurityError) as err:
        _model.validate_line({"name": "b", "port": 8443})
    assert err.value.code == "out_of_range" and "443" in err.value.message and "8443" in err.value.message


@pytest.mark.parametrize("line,code,words", [
    ({"name": "b", "transport": "tcp"}, "invalid_choice", ["websocket_client, websocket_server", "'tcp'"]),
    ({"name": "b", "check_level": "strict"}, "invalid_choice", ["none, medium, high", "'strict'"]),
    ({"name": ""}, "invalid_setting", ["non-empty name"]),
    ({"check_level": "none"}, "invalid_setting", ["non-empty name"]),
    ({"name": "b", "level": "high"}, "unknown_setting", ["level"]),
    ("b", "invalid_setting", ["dictionary"]),
])
def test_line_errors(line, code, words):
    with pytest.raises(SecurityError) as err:
        _model.validate_value("checks", "ip_office_lines", [line])
    assert err.value.code == code and err.value.option == "lines"
    for word in words:
        assert word in err.value.message
    assert "'lines'" in err.value.message


def test_lines_unique_and_sorted():
    lines = [{"name": "b2"}, {"name": "b1", "check_level": "high"}]
    assert [line["name"] for line in _model.validate_lines(lines)] == ["b1", "b2"]
    with pytest.raises(SecurityError) as err:
        _model.validate_lines([{"name": "b1"}, {"name": "b1"}])
    assert err.value.code == "invalid_setting" and "b1" in err.value.message


# ----------------------------------------------------------------------------------- stored settings


def test_validate_settings_missing_and_extra_keys():
    settings = _model.default_settings()
    del settings["checks"]["sip_security_level"]
    with pytest.raises(SecurityError) as err:
        _model.validate_settings(settings)
    assert err.value.code == "corrupt_store" and "checks" in err.value.message
    settings = _model.default_settings()
    settings["scep"]["password"] = "secret"  # secrets never live in settings
    with pytest.raises(SecurityError) as err:
        _model.validate_settings(settings)
    assert err.value.code == "corrupt_store"
    with pytest.raises(SecurityError) as err:
        _model.validate_settings([])
    assert err.value.code == "corrupt_store"


def test_validate_settings_checks_values():
    settings = _model.default_settings()
    settings["checks"]["certificate_expiry_warning_days"] = 181
    with pytest.raises(SecurityError) as err:
        _model.validate_settings(settings)
    assert err.value.code == "out_of_range"


def test_active_scep_needs_a_server():
    settings = _model.default_settings()
    settings["scep"]["active"] = True
    with pytest.raises(SecurityError) as err:
        _model.validate_settings(settings)
    assert err.value.code == "missing_server" and err.value.option == "server"
    settings["scep"]["server"] = "ca.example.com"
    assert _model.validate_settings(settings)["scep"]["active"] is True


# ------------------------------------------------------------------------------------------ argspec


@pytest.mark.parametrize("area", ["identity", "checks", "scep"])
def test_argspec_matches_model(area):
    spec = _model.argspec_for(area)
    for name, entry in spec.items():
        item = _model.setting(area, name)
        assert "default" not in entry  # left out = leave as it is
        assert entry["type"] == item.type
        if item.choices:
            assert tuple(entry["choices"]) == item.choices
        assert entry.get("no_log", False) is item.secret
    assert set(spec) == set(n for n, s in _model.SETTINGS_BY_AREA[area].items())


def test_argspec_password_is_no_log():
    assert _model.argspec_for("scep")["password"]["no_log"] is True


def test_argspec_defaults_on_request():
    spec = _model.argspec_for("checks", names=["certificate_expiry_warning_days"], defaults=True)
    assert spec == {"certificate_expiry_warning_days": {"type": "int", "default": 60}}


def test_error_result_shape():
    err = SecurityError("out_of_range", "msg text", option="port", limit=3)
    assert err.as_result() == {"msg": "msg text", "error": "out_of_range", "option": "port", "limit": 3}
    assert str(err) == "msg text"
