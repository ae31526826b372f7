"""A role's variables against its own meta/argument_specs.yml (plugin_utils/_role_variables.py): one short line per
problem, naming the key path and the key meant, never a secret's value, never the whole specification."""

import pytest

from ansible_collections.ipoffice.security.plugins.plugin_utils import _role_variables as rv


def test_a_valid_variable_has_no_problem():
    checks = {"management_interfaces": "medium", "certificate_expiry_warning_days": "90"}
    values = {"ipoffice_security": {"store": {"path": "/srv/ipo1"}, "checks": checks}}
    assert rv.problems("baseline", values) == []
    assert rv.problems("audit", {"audit_policy": {"minimum_levels": {"sip_security_level": "medium"}},
                                 "audit_fail_on": ["error"], "audit_live_timeout": 5}) == []


def test_each_problem_is_one_line_naming_the_key_path():
    values = {"ipoffice_security": {
        "store": {"path": "/srv/ipo1", "platfrom": "server"},
        "checks": {"managment_interfaces": "high", "certificate_expiry_warning_days": "soon",
                   "telephony_endpoints": "highest"},
        "lines": [{"name": "hq", "check_level": "medium"}, {"check_level": "high"}, "hq"],
        "identiy": {}}}
    assert rv.problems("baseline", values) == [
        "ipoffice_security.identiy: unknown key (did you mean 'identity'?)",
        "ipoffice_security.checks.managment_interfaces: unknown key (did you mean 'management_interfaces'?)",
        "ipoffice_security.checks.certificate_expiry_warning_days: must be an int, got 'soon'",
        "ipoffice_security.checks.telephony_endpoints: must be one of none, low, medium, high, medium_remote, "
        "high_remote, got 'highest'",
        "ipoffice_security.lines[1].name: required, but not set",
        "ipoffice_security.lines[2]: must be a dict, got 'hq'",
        "ipoffice_security.store.platfrom: unknown key (did you mean 'platform'?)",
    ]


def test_a_secret_is_never_shown_and_the_list_is_bounded():
    found = []
    rv._check("ipoffice_security.scep.password", ["Very-Secret-Scep-Password"], {"type": "dict", "no_log": True}, found)
    assert found == ["ipoffice_security.scep.password: must be a dict, got a value of type list (not shown: it is a "
                     "secret)"]
    many = dict(("key%d" % i, 1) for i in range(30))
    lines = rv.problems("baseline", {"ipoffice_security": dict(many, store={"path": "/x"})})
    assert len(lines) == rv.MAX_PROBLEMS + 1 and lines[-1] == "... and 10 more problem(s)"
    assert sum(len(line) for line in lines) < 2000


def test_variables_not_set_are_left_out_and_required_ones_are_named():
    assert rv.problems("baseline", {"ipoffice_security": rv.NOT_SET}) == ["ipoffice_security: required, but not set"]
    assert rv.problems("baseline", {"ipoffice_security": {}}) == ["ipoffice_security.store: required, but not set"]
    assert "ipoffice_security" in rv.names("baseline") and "audit_policy" in rv.names("audit")


def test_only_the_collection_s_roles():
    with pytest.raises(rv.RoleVariablesError, match="no role '../../etc'"):
        rv.spec("../../etc")
