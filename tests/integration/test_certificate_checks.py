"""certificate_checks through real ansible-playbook runs: every option, check mode, diff, errors."""

import pytest

import helpers

# Module results: each test runs twice, in the controller's worker and as a module (tests/conftest.py).
pytestmark = pytest.mark.both_paths

# A new value for every option (a new system starts with the defaults of docs/certificate-checks.md).
CHANGES = [
    ("certificate_expiry_warning_days", 30),
    ("sip_telephony_certificate", "sip_and_sm_trunks"),
    ("management_interfaces", "low"),
    ("telephony_endpoints", "medium"),
    ("h323_security_level", "low"),
    ("sip_security_level", "medium"),
    ("ip_office_lines", [{"name": "branch2", "check_level": "medium", "transport": "websocket_server"},
                         {"name": "branch1"}]),
]
CANONICAL_LINES = [{"name": "branch1", "transport": "websocket_client", "check_level": "none"},
                   {"name": "branch2", "transport": "websocket_server", "check_level": "medium"}]
# The option that sets a setting: the lines are the option 'lines', kept as the setting 'ip_office_lines'.
OPTION = {"ip_office_lines": "lines"}


def _store_args(tmp_path, **extra):
    args = {"store_path": str(tmp_path / "store"), "system_name": "ipo1.example.com", "system_addresses": []}
    args.update(extra)
    return args


def _task(args, check=False, diff=False):
    task = {"ipoffice.security.certificate_checks": args}
    if check:
        task["check_mode"] = True
    if diff:
        task["diff"] = True
    return task


def test_every_option_check_mode_diff_and_idempotence(tmp_path):
    base = _store_args(tmp_path)
    tasks = [{"ipoffice.security.certificate_checks": base}, {"ipoffice.security.security_info": base}]
    for option, value in CHANGES:
        args = dict(base, **{OPTION.get(option, option): value})
        tasks += [_task(args, check=True, diff=True), _task(args, diff=True), _task(args)]
    everything = dict(base, **dict((OPTION.get(option, option), value) for option, value in CHANGES))
    tasks += [_task(everything, check=True, diff=True), {"ipoffice.security.security_info": base}]
    results = helpers.run_tasks(tasks, tmp_path).results
    assert results[0]["changed"] is True  # security_info never initialises: a writer does
    results = results[1:]
    assert results[0]["changed"] is False and results[0]["generation"] == 1
    for index, (option, value) in enumerate(CHANGES):
        predicted, real, again = results[1 + 3 * index: 4 + 3 * index]
        expected = CANONICAL_LINES if option == "ip_office_lines" else value
        for result in (predicted, real, again):
            assert not result.get("failed"), result
        assert predicted["changed"] is True, option
        assert predicted["after"][option] == expected and predicted["before"][option] != expected
        assert predicted["diff"]["before"][option] == predicted["before"][option]
        assert predicted["diff"]["after"][option] == expected
        assert predicted["changes"] == [{"setting": option, "before": predicted["before"][option],
                                         "after": expected}]
        assert real["changed"] is True and real["after"] == predicted["after"]
        assert real["diff"]["after"] == real["after"]
        assert again["changed"] is False and again["changes"] == [] and again["before"] == again["after"]
    # Check mode also predicts "no change" exactly, with an empty diff.
    assert results[-2]["changed"] is False and results[-2]["diff"]["before"] == results[-2]["diff"]["after"]
    final = results[-1]
    # One generation written per option: the check-mode runs wrote nothing.
    assert final["generation"] == 1 + len(CHANGES)
    # security_info judges the system's own identity as a peer at high_remote would (not pinned yet, a note), and
    # its lifetime (the initial identity is valid about 7 years, more than Apple's 825 days).
    assert [(f["where"], f["code"], f["severity"]) for f in final["findings"]] == [
        ("identity", "not_pinned", "info"), ("identity", "lifetime_over_825_days", "warning")]
    checks = final["settings"]["checks"]
    for option, value in CHANGES:
        assert checks[option] == (CANONICAL_LINES if option == "ip_office_lines" else value)
    # sip_telephony_certificate without a telephony identity: a warning, not a refusal.
    assert any("no telephony identity" in w for w in results[4]["warnings"])
    # Raising management_interfaces with no preflight endpoint: made, with a warning naming the setting, in
    # check mode and for real; the repeat raises nothing and says nothing.
    management = CHANGES.index(("management_interfaces", "low"))
    predicted, real, again = results[1 + 3 * management: 4 + 3 * management]
    for result in (predicted, real):
        assert [w for w in result["warnings"] if "no preflight endpoint" in w] == [
            "%s: management_interfaces is raised from 'none' to 'low' with no preflight endpoint for it, so nothing "
            "showed that the peers it checks pass the new level (it adds the checks %s). Add their endpoints to "
            "'preflight' (host, port and setting: management), or set 'preflight_mode: skip' to state that no "
            "preflight is intended." % (base["system_name"], ", ".join(real["level_changes"][0]["added_checks"]))]
    assert not [w for w in again.get("warnings", []) if "no preflight endpoint" in w]


def test_lines_are_the_full_set_and_left_out_options_stay(tmp_path):
    base = _store_args(tmp_path)
    two = [{"name": "a", "check_level": "high"}, {"name": "b"}]
    tasks = [
        _task(dict(base, lines=two, certificate_expiry_warning_days=45)),
        _task(dict(base, lines=list(reversed(two)))),              # order does not matter
        _task(dict(base, lines=[{"name": "b"}])),                  # a removed
        _task(dict(base, management_interfaces="medium")),                   # lines left as they are
        _task(dict(base, lines=[])),                               # all removed
        _task(dict(base, lines=[]), check=True),
        # The security levels' defaults depend on the platform.
        _task(_store_args(tmp_path, platform="ip500v2", store_path=str(tmp_path / "v2"))),
    ]
    results = helpers.run_tasks(tasks, tmp_path).results
    for option in ("h323_security_level", "sip_security_level"):
        assert results[0]["before"][option] == "high" and results[6]["before"][option] == "medium"
    assert results[0]["before"]["certificate_expiry_warning_days"] == 60
    assert results[0]["changed"] is True
    assert results[1]["changed"] is False
    assert results[2]["changed"] is True
    assert results[2]["after"]["ip_office_lines"] == [{"name": "b", "transport": "websocket_client",
                                                      "check_level": "none"}]
    assert results[2]["level_changes"] == [{"setting": "line:a", "before": "high", "after": None,
                                            "raises": False, "added_checks": []}]
    assert results[3]["after"]["ip_office_lines"] == results[2]["after"]["ip_office_lines"]
    assert results[3]["after"]["certificate_expiry_warning_days"] == 45
    assert results[4]["changed"] is True and results[4]["after"]["ip_office_lines"] == []
    assert results[5]["changed"] is False


def test_bad_input_is_refused_clearly_and_leaves_the_store_byte_identical(tmp_path):
    base = _store_args(tmp_path)
    helpers.run_module("certificate_checks", dict(base, lines=[{"name": "l1"}]), tmp_path)
    digest = helpers.tree_digest(str(tmp_path / "store"))
    cases = [
        (dict(base, certificate_expiry_warning_days=29), "out_of_range", "certificate_expiry_warning_days"),
        (dict(base, certificate_expiry_warning_days=181), "out_of_range", "certificate_expiry_warning_days"),
        (dict(base, management_interfaces="high", certificate_expiry_warning_days=500),
         "out_of_range", "certificate_expiry_warning_days"),
        (dict(base, lines=[{"name": "l1", "check_level": "high_remote"}]), "invalid_choice",
         "lines"),
        (dict(base, lines=[{"name": "l1", "check_level": "medium_remote"}]), "invalid_choice",
         "lines"),
        (dict(base, lines=[{"name": "l1", "transport": "sip"}]), "invalid_choice", "lines"),
        (dict(base, lines=[{"name": "l1"}, {"name": "l1"}]), "invalid_setting", "lines"),
        (dict(base, lines=[{"name": "l1", "check_level": "high"}],
              preflight=[{"host": "127.0.0.1", "setting": "line:l2"}]), "unknown_line", "preflight[0].setting"),
        (dict(base, management_interfaces="high", preflight=[{"host": "127.0.0.1", "setting": "web"}]),
         "invalid_choice", "preflight[0].setting"),
        (dict(base, management_interfaces="high", preflight=[{"host": "127.0.0.1", "port": 70000,
                                                             "setting": "management"}]),
         "out_of_range", "preflight[0].port"),
        (dict(base, management_interfaces="high", preflight_timeout=0), "out_of_range", "preflight_timeout"),
    ]
    choice_cases = [
        (dict(base, management_interfaces="highest"), "management_interfaces"),
        (dict(base, telephony_endpoints="remote"), "telephony_endpoints"),
        (dict(base, sip_telephony_certificate="all"), "sip_telephony_certificate"),
        (dict(base, h323_security_level="none"), "h323_security_level"),
        (dict(base, sip_security_level="maximum"), "sip_security_level"),
        (dict(base, preflight_mode="ignore"), "preflight_mode"),
    ]
    tasks = [_task(args) for args, _code, _message in cases] + [_task(args) for args, _choice in choice_cases]
    checked_cases = [cases[0], cases[3], cases[7]]  # check mode refuses the same way
    tasks += [_task(args, check=True) for args, _code, _message in checked_cases]
    results = helpers.run_tasks(tasks, tmp_path).results
    outcomes = list(zip(cases, results)) + list(zip(checked_cases, results[len(cases) + len(choice_cases):]))
    for (args, code, option), outcome in outcomes:
        assert outcome["failed"] is True, (args, outcome)
        assert outcome["error"] == code, outcome
        assert outcome["option"] == option and ("'%s'" % option) in outcome["msg"], outcome
    for (_args, option), result in zip(choice_cases, results[len(cases):]):
        assert result["failed"] is True and option in result["msg"] and "must be one of" in result["msg"]
    assert helpers.tree_digest(str(tmp_path / "store")) == digest


def test_lines_is_the_option_and_ip_office_lines_a_deprecated_alias(tmp_path):
    """certificate_checks takes 'lines' (the name security_settings and the baseline role use); the former name
    still works, with a deprecation warning, and sets the same lines."""
    base = _store_args(tmp_path)
    lines = [{"name": "branch1", "check_level": "medium"}]
    run = helpers.run_tasks([_task(dict(base, lines=lines)), _task(dict(base, ip_office_lines=lines)),
                             _task(dict(base, ip_office_lines=[]))], tmp_path)
    new, old, emptied = run.results
    assert new["changed"] is True and new["after"]["ip_office_lines"] == [
        {"name": "branch1", "transport": "websocket_client", "check_level": "medium"}]
    assert not new.get("deprecations")
    assert old["changed"] is False and old["after"] == new["after"]
    assert [d["msg"] for d in old["deprecations"]] == ["Alias 'ip_office_lines' is deprecated. See the module docs "
                                                       "for more information"]
    assert [d.get("version") for d in old["deprecations"]] == ["2.0.0"]
    assert emptied["changed"] is True and emptied["after"]["ip_office_lines"] == []
