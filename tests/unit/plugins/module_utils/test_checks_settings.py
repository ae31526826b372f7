"""Unit tests of the certificate checks settings decisions (no network: see test_checks_settings_preflight)."""

import itertools

import pytest

from ansible_collections.ipoffice.security.plugins.module_utils import _checks_settings as cs
from ansible_collections.ipoffice.security.plugins.module_utils._model import CHECK_LEVELS, SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import initial_state

BASIC = ("none", "low", "medium", "high")


@pytest.fixture(scope="module")
def base_state():
    return initial_state("server", "ipo1.example.com", ["192.0.2.10"])


@pytest.fixture()
def state(base_state):
    return base_state.copy()


def current(state):
    return state.settings["checks"]


# ------------------------------------------------------------------------------------- levels / raising


def test_every_level_has_a_check_set_and_each_basic_level_includes_the_one_before():
    assert set(cs.LEVEL_CHECKS) == set(CHECK_LEVELS)
    for weaker, stronger in zip(BASIC, BASIC[1:]):
        assert cs.checks_of(weaker) < cs.checks_of(stronger)
    assert cs.checks_of("medium") < cs.checks_of("medium_remote")
    assert cs.checks_of("high") < cs.checks_of("high_remote")
    assert cs.checks_of("medium_remote") < cs.checks_of("high_remote")
    assert cs.checks_of("none") == {"validity"}


@pytest.mark.parametrize("old,new", list(itertools.combinations(BASIC, 2)))
def test_raising_along_the_basic_order_and_lowering_back(old, new):
    assert cs.raises(old, new) is True
    lower, higher = old, new
    assert cs.raises(higher, lower) is False
    assert cs.added_checks(higher, lower) == []


@pytest.mark.parametrize("level", CHECK_LEVELS)
def test_same_level_never_raises(level):
    assert cs.raises(level, level) is False


@pytest.mark.parametrize("old", [lv for lv in CHECK_LEVELS if lv != "high_remote"])
def test_high_remote_raises_over_every_other_level(old):
    assert cs.raises(old, "high_remote") is True
    assert cs.raises("high_remote", old) is False


@pytest.mark.parametrize("old", ["none", "low", "medium"])
def test_medium_remote_is_at_least_medium(old):
    assert cs.raises(old, "medium_remote") is True
    assert cs.raises("medium_remote", old) is False


def test_high_and_medium_remote_each_add_checks_the_other_lacks():
    assert cs.added_checks("high", "medium_remote") == ["peer_name", "sip_domain"]
    assert cs.added_checks("medium_remote", "high") == ["key_size_2048_bits", "pinned", "reflected", "self_signed"]
    assert cs.raises("high", "medium_remote") and cs.raises("medium_remote", "high")


def test_added_checks_names_what_high_adds_over_medium():
    assert cs.added_checks("medium", "high") == ["key_size_2048_bits", "pinned", "reflected", "self_signed"]
    assert cs.added_checks("none", "low") == ["key_size_1024_bits"]


# ------------------------------------------------------------------------------------- desired settings


def test_left_out_options_are_left_as_they_are(state):
    before = dict(current(state), certificate_expiry_warning_days=90, management_interfaces="medium")
    after = cs.desired_checks(before, {"telephony_endpoints": "high"})
    assert after == dict(before, telephony_endpoints="high")
    assert before["telephony_endpoints"] == "none"  # input not modified


@pytest.mark.parametrize("days", [30, 31, 179, 180])
def test_expiry_warning_days_range_accepts_boundaries(state, days):
    assert cs.desired_checks(current(state), {"certificate_expiry_warning_days": days})[
        "certificate_expiry_warning_days"] == days


@pytest.mark.parametrize("days", [29, 181, 0, -1])
def test_expiry_warning_days_out_of_range_is_refused(state, days):
    with pytest.raises(SecurityError) as info:
        cs.desired_checks(current(state), {"certificate_expiry_warning_days": days})
    assert info.value.code == "out_of_range"
    assert info.value.option == "certificate_expiry_warning_days"
    assert "30 to 180" in info.value.message and "certificate_expiry_warning_days" in info.value.message


@pytest.mark.parametrize("option,value", [
    ("sip_telephony_certificate", "sip_everything"),
    ("management_interfaces", "highest"),
    ("telephony_endpoints", "High_Remote"),
    ("h323_security_level", "none"),
    ("sip_security_level", "medium_remote"),
])
def test_invalid_choices_are_refused_naming_the_option(state, option, value):
    with pytest.raises(SecurityError) as info:
        cs.desired_checks(current(state), {option: value})
    assert info.value.code == "invalid_choice" and info.value.option == option
    assert option in info.value.message and value in info.value.message


def test_lines_are_the_whole_desired_set_with_defaults_and_order_insensitive(state):
    before = dict(current(state), ip_office_lines=[
        {"name": "old", "transport": "websocket_server", "check_level": "high"}])
    after = cs.desired_checks(before, {"ip_office_lines": [
        {"name": "b", "check_level": "medium", "transport": None}, {"name": "a"}]})
    assert after["ip_office_lines"] == [
        {"name": "a", "transport": "websocket_client", "check_level": "none"},
        {"name": "b", "transport": "websocket_client", "check_level": "medium"}]
    again = cs.desired_checks(after, {"ip_office_lines": [{"name": "a"}, {"name": "b", "check_level": "medium"}]})
    assert cs.setting_changes(after, again) == []
    assert cs.desired_checks(after, {"ip_office_lines": []})["ip_office_lines"] == []


@pytest.mark.parametrize("level", ["medium_remote", "high_remote", "low"])
def test_remote_and_low_levels_are_refused_on_lines(state, level):
    with pytest.raises(SecurityError) as info:
        cs.desired_checks(current(state), {"ip_office_lines": [{"name": "l1", "check_level": level}]})
    assert info.value.code == "invalid_choice" and info.value.option == "lines"
    assert "l1" in info.value.message and level in info.value.message and "not available" in info.value.message


@pytest.mark.parametrize("lines,code", [
    ([{"name": "x", "transport": "tcp"}], "invalid_choice"),
    ([{"name": "x"}, {"name": "x"}], "invalid_setting"),
    ([{"check_level": "high"}], "invalid_setting"),
    ([{"name": "x", "colour": "red"}], "unknown_setting"),
    (["x"], "invalid_setting"),
])
def test_invalid_lines_are_refused(state, lines, code):
    with pytest.raises(SecurityError) as info:
        cs.desired_checks(current(state), {"ip_office_lines": lines})
    assert info.value.code == code and info.value.option == "lines"


def test_level_changes_for_settings_and_lines():
    before = {"management_interfaces": "high", "telephony_endpoints": "none",
              "ip_office_lines": [{"name": "gone", "transport": "websocket_client", "check_level": "high"},
                                  {"name": "kept", "transport": "websocket_client", "check_level": "high"}]}
    after = {"management_interfaces": "medium", "telephony_endpoints": "high_remote",
             "ip_office_lines": [{"name": "kept", "transport": "websocket_server", "check_level": "medium"},
                                 {"name": "new", "transport": "websocket_client", "check_level": "medium"}]}
    changes = dict((c["setting"], c) for c in cs.level_changes(before, after))
    assert set(changes) == {"management", "telephony", "line:gone", "line:kept", "line:new"}
    assert changes["management"]["raises"] is False
    assert changes["telephony"]["raises"] is True and "peer_name" in changes["telephony"]["added_checks"]
    assert changes["line:gone"] == {"setting": "line:gone", "before": "high", "after": None, "raises": False,
                                    "added_checks": []}
    assert changes["line:kept"]["raises"] is False
    assert changes["line:new"]["before"] is None and changes["line:new"]["raises"] is True


def test_transport_only_change_is_no_level_change():
    before = {"management_interfaces": "none", "telephony_endpoints": "none",
              "ip_office_lines": [{"name": "l", "transport": "websocket_client", "check_level": "high"}]}
    after = dict(before, ip_office_lines=[{"name": "l", "transport": "websocket_server", "check_level": "high"}])
    assert cs.level_changes(before, after) == []
    assert [c["setting"] for c in cs.setting_changes(before, after)] == ["ip_office_lines"]


def test_telephony_certificate_without_telephony_identity_warns(state):
    after = dict(current(state), sip_telephony_certificate="sip_trunks")
    warning = cs.telephony_identity_warning(state, after)
    assert "sip_trunks" in warning and "no telephony identity" in warning
    assert cs.telephony_identity_warning(state, current(state)) is None
    state.telephony = state.identity.copy()
    assert cs.telephony_identity_warning(state, after) is None


# ---------------------------------------------------------------------------------- preflight option


def test_endpoints_get_defaults_by_setting(state):
    after = dict(current(state), ip_office_lines=[{"name": "l1", "transport": "websocket_client",
                                                   "check_level": "high"}])
    result = cs.validate_endpoints([
        {"host": "wsm.example.com", "setting": "management"},
        {"host": "sip.example.com", "setting": "telephony", "sip_domain": "example.com", "port": None},
        {"host": "192.0.2.7", "setting": "line:l1", "server_name": "branch.example.com"},
    ], after)
    assert [(e["port"], e["purpose"]) for e in result] == [(443, "server"), (5061, "sip_server"), (443, "server")]
    assert result[1]["sip_domain"] == "example.com" and result[2]["server_name"] == "branch.example.com"
    assert cs.endpoint_label(result[0]) == "wsm.example.com:443 (management)"
    assert cs.endpoint_label(dict(result[0], host="::1")) == "[::1]:443 (management)"


@pytest.mark.parametrize("entry,code,option,words", [
    ({"host": "h", "setting": "line:nope"}, "unknown_line", "setting", "nope"),
    ({"host": "h", "setting": "sip"}, "invalid_choice", "setting", "'sip'"),
    ({"host": "h", "setting": "line:"}, "invalid_choice", "setting", "line:<name"),
    ({"host": "h", "setting": "management", "port": 0}, "out_of_range", "port", "1 to 65535"),
    ({"host": "h", "setting": "management", "port": 65536}, "out_of_range", "port", "65536"),
    ({"host": "h", "setting": "management", "purpose": "web"}, "invalid_choice", "purpose", "'web'"),
    ({"host": "", "setting": "management"}, "missing_option", "host", "must name the host"),
    ({"host": "a b", "setting": "management"}, "invalid_setting", "host", "'a b'"),
    ({"host": "h", "setting": "management", "timeout": 0}, "out_of_range", "timeout", "at most 300"),
    ({"host": "h", "setting": "management", "colour": 1}, "unknown_setting", None, "colour"),
])
def test_invalid_endpoints_are_refused_naming_the_entry(state, entry, code, option, words):
    """The entry's path and field are named (the one endpoint item's validation, _endpoints.resolve)."""
    with pytest.raises(SecurityError) as info:
        cs.validate_endpoints([{"host": "ok", "setting": "telephony"}, entry], current(state))
    path = "preflight[1]" + ("." + option if option else "")
    assert info.value.code == code and info.value.option == path
    assert info.value.message.startswith(path) and words in info.value.message
    assert "'%s' option" % path in info.value.message


def test_endpoints_of_settings_not_raised_are_not_contacted(state):
    # Nothing listens on port 9 of 192.0.2.1 (TEST-NET-1): contacting it would show as a failure.
    endpoints = [{"host": "192.0.2.1", "port": 9, "setting": "management"},
                 {"host": "192.0.2.1", "port": 9, "setting": "telephony"}]
    before = dict(current(state), management_interfaces="high_remote", telephony_endpoints="medium")
    state.settings["checks"] = before
    planned = cs.plan(state, {"management_interfaces": "medium", "telephony_endpoints": "medium"}, endpoints,
                      timeout=0.5)
    assert [r["evaluated"] for r in planned.preflight] == [False, False]
    assert [r["passed"] for r in planned.preflight] == [None, None]
    assert planned.preflight[0]["level"] == "medium"
    assert "not raised" in planned.preflight[1]["reason"]
    assert planned.warnings == []
    assert planned.levels == [{"setting": "management", "before": "high_remote", "after": "medium",
                               "raises": False, "added_checks": []}]


# -------------------------------------------------------------------------------------------- verdict


def _result(label, passed, codes=()):
    return {"endpoint": label, "level": "high_remote", "evaluated": True, "passed": passed,
            "findings": [{"code": c, "message": "%s failed" % c} for c in codes], "codes": list(codes)}


def test_enforce_refuses_naming_each_failing_endpoint_and_code():
    results = [_result("a:5061 (telephony)", False, ["not_pinned", "name_mismatch"]),
               _result("b:5061 (telephony)", True),
               _result("c:5061 (telephony)", False, ["endpoint_refused"])]
    with pytest.raises(SecurityError) as info:
        cs.preflight_verdict(results, "enforce")
    error = info.value
    assert error.code == "preflight_failed" and error.option == "preflight"
    assert "a:5061 (telephony)" in error.message and "not_pinned" in error.message
    assert "name_mismatch" in error.message and "c:5061 (telephony)" in error.message
    assert "b:5061" not in error.message and "preflight_mode: warn" in error.message
    assert error.details["failed_endpoints"] == ["a:5061 (telephony)", "c:5061 (telephony)"]
    assert error.as_result()["preflight"] == results


def test_warn_returns_one_warning_per_failing_endpoint():
    results = [_result("a:443 (management)", False, ["expired"]), _result("b:443 (management)", True)]
    warnings = cs.preflight_verdict(results, "warn")
    assert len(warnings) == 1 and "a:443 (management)" in warnings[0] and "expired" in warnings[0]
    assert cs.preflight_verdict([_result("b", True)], "enforce") == []


def test_invalid_preflight_mode_and_timeout(state):
    with pytest.raises(SecurityError) as info:
        cs.plan(state, {}, [], mode="ignore")
    assert info.value.code == "invalid_choice" and info.value.option == "preflight_mode"
    for timeout in (0, -1, 301):
        with pytest.raises(SecurityError) as info:
            cs.plan(state, {}, [], timeout=timeout)
        assert info.value.code == "out_of_range" and info.value.option == "preflight_timeout"


def test_plan_apply_and_still_valid(state):
    planned = cs.plan(state, {"certificate_expiry_warning_days": 120, "sip_telephony_certificate": "sip_phones"})
    assert planned.changes == [
        {"setting": "certificate_expiry_warning_days", "before": 60, "after": 120},
        {"setting": "sip_telephony_certificate", "before": "none", "after": "sip_phones"}]
    assert any("no telephony identity" in w for w in planned.warnings)
    assert cs.still_valid(planned, state)
    other = state.copy()
    cs.apply(other, planned)
    assert other.settings["checks"]["certificate_expiry_warning_days"] == 120
    assert state.settings["checks"]["certificate_expiry_warning_days"] == 60
    assert not cs.still_valid(planned, other)  # settings moved on
    moved = state.copy()
    moved.trusted = {}
    assert not cs.still_valid(planned, moved)  # the trusted store the preflight saw is gone


# ------------------------------------------------------------------------- raising without a preflight


def test_raising_a_level_without_an_endpoint_for_it_warns_naming_the_setting(state):
    state.settings["checks"]["ip_office_lines"] = [{"name": "branch", "transport": "websocket_client",
                                                    "check_level": "none"}]
    endpoints = [{"host": "192.0.2.1", "port": 9, "setting": "telephony"}]  # not raised: never contacted
    planned = cs.plan(state, {"management_interfaces": "medium",
                              "ip_office_lines": [{"name": "branch", "check_level": "high"}]}, endpoints, timeout=0.5)
    assert [r["evaluated"] for r in planned.preflight] == [False]
    assert len(planned.warnings) == 2
    management, line = planned.warnings
    assert management.startswith("management_interfaces is raised from 'none' to 'medium' with no preflight endpoint")
    assert "setting: management" in management and "'preflight_mode: skip'" in management
    assert "(it adds the checks %s)" % ", ".join(cs.added_checks("none", "medium")) in management
    assert line.startswith("IP Office line 'branch' is raised from 'none' to 'high'")
    assert "setting: line:branch" in line
    # Lowering never warns; neither does a raise that has its endpoint.
    assert cs.unverified_raises([{"setting": "management", "before": "medium", "after": "none", "raises": False,
                                  "added_checks": []}], [], "enforce") == []
    assert cs.unverified_raises(planned.levels, [{"setting": "management"}, {"setting": "line:branch"}],
                                "warn") == []


def test_preflight_mode_skip_states_the_intent_contacts_nothing_and_does_not_warn(state):
    # Nothing listens on port 9 of 192.0.2.1 (TEST-NET-1): contacting it would show as a failure.
    endpoints = [{"host": "192.0.2.1", "port": 9, "setting": "management"}]
    planned = cs.plan(state, {"management_interfaces": "high", "telephony_endpoints": "medium"}, endpoints,
                      mode="skip", timeout=0.5)
    assert planned.warnings == []
    assert planned.after["management_interfaces"] == "high"
    assert [(r["evaluated"], r["passed"], r["reason"], r["level"]) for r in planned.preflight] == \
        [(False, None, "preflight_mode is skip", "high")]


def test_check_mode_says_state_dependent_warnings_were_judged_on_todays_state(tmp_path):
    from ansible_collections.ipoffice.security.plugins.module_utils._results import CHECK_MODE_NOTE
    from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

    store = DirectoryStore(str(tmp_path / "store"), system_name="ipo1.example.com", system_addresses=[])
    store.update(lambda state: None)
    params = dict((name, None) for name in cs.OPTION_NAMES)
    params.update(sip_telephony_certificate="sip_trunks", management_interfaces="medium", preflight=[],
                  preflight_mode="enforce", preflight_timeout=None)
    checked = cs.run(store, params, check_mode=True)["warnings"]
    real = cs.run(store, params)["warnings"]
    telephony = [w for w in checked if "no telephony identity" in w]
    # The telephony warning depends on the identities an earlier task may create: check mode says so.
    assert len(telephony) == 1 and telephony[0].endswith(CHECK_MODE_NOTE)
    # The missing-preflight warning depends on the options only: no note.
    assert [w for w in checked if "no preflight endpoint" in w and CHECK_MODE_NOTE not in w]
    assert not [w for w in real if CHECK_MODE_NOTE in w]
    assert sorted(w.replace(" " + CHECK_MODE_NOTE, "") for w in checked) == sorted(real)
