"""The roles' argument_specs match the modules they feed: every key exists there, with the same type,
choices and elements, and every secret is no_log. A module option renamed or retyped fails here."""

import importlib
import subprocess
import sys
import os

import pytest
import yaml

import helpers

ROLES = os.path.join(helpers.REPO, "roles")


class Captured(Exception):
    def __init__(self, kwargs):
        super().__init__("captured")
        self.kwargs = kwargs


def module_spec(name, monkeypatch):
    """The argument_spec a module builds in main(), captured without running it."""
    module = importlib.import_module("ansible_collections.ipoffice.security.plugins.modules." + name)

    def fake(**kwargs):
        raise Captured(kwargs)

    monkeypatch.setattr(module, "AnsibleModule", fake)
    with pytest.raises(Captured) as info:
        module.main()
    return info.value.kwargs["argument_spec"]


def role_options(role):
    with open(os.path.join(ROLES, role, "meta", "argument_specs.yml")) as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


def baseline():
    return role_options("baseline")["ipoffice_security"]["options"]


# role section -> (module, options the role sets itself or maps to another name)
SECTIONS = {
    "identity": ("identity_certificate", {}),
    "telephony_identity": ("identity_certificate", {}),
    "scep": ("scep", {}),
    "checks": ("certificate_checks", {}),
}


def same_kind(role_entry, module_entry, where):
    assert role_entry.get("type", "str") == module_entry.get("type", "str"), where
    if "choices" in role_entry or "choices" in module_entry:
        assert sorted(role_entry.get("choices") or []) == sorted(module_entry.get("choices") or []), where
    if role_entry.get("type") == "list":
        assert role_entry.get("elements") == module_entry.get("elements"), where
    if module_entry.get("no_log"):
        assert role_entry.get("no_log") is True, where + " is a secret: it must be no_log in the role too"
    if "default" in role_entry and "default" in module_entry:
        assert role_entry["default"] == module_entry["default"], where


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_baseline_sections_match_their_module(section, monkeypatch):
    module = SECTIONS[section][0]
    spec = module_spec(module, monkeypatch)
    options = baseline()[section]["options"]
    for key, entry in options.items():
        where = "ipoffice_security.%s.%s (module %s)" % (section, key, module)
        assert key in spec, where + " is not an option of the module"
        same_kind(entry, spec[key], where)
        for sub, sub_entry in (entry.get("options") or {}).items():
            assert sub in spec[key]["options"], "%s.%s" % (where, sub)
            same_kind(sub_entry, spec[key]["options"][sub], "%s.%s" % (where, sub))
    # Everything the module offers (but the store options, set through 'store', and purpose/ip_office_lines,
    # set by the role) can be given through the variable.
    handled = {"store_path", "platform", "system_name", "system_addresses", "lock_timeout", "keep_generations",
               "dependents_max_age_days", "purpose", "ip_office_lines"}
    if section == "telephony_identity":
        handled |= {"offer_id_certificate_chain", "automatic_certificate_management", "san_details_origin",
                    "automatic_phone_provisioning"}  # system-wide identity settings: under 'identity'
    missing = sorted(set(spec) - set(options) - handled)
    assert missing == [], "module %s options missing from ipoffice_security.%s: %s" % (module, section, missing)


def test_baseline_store_trusted_and_lines_match(monkeypatch):
    trusted = module_spec("trusted_certificate", monkeypatch)
    for key, entry in baseline()["store"]["options"].items():
        name = "store_path" if key == "path" else key
        same_kind(entry, trusted[name], "ipoffice_security.store." + key)
    items = baseline()["trusted"]["options"]
    for key, entry in items["certificates"]["options"].items():
        same_kind(entry, trusted["certificates"]["options"][key], "ipoffice_security.trusted.certificates." + key)
    for key, entry in items["absent"]["options"].items():
        same_kind(entry, trusted["certificates"]["options"][key], "ipoffice_security.trusted.absent." + key)
    checks = module_spec("certificate_checks", monkeypatch)
    same_kind(baseline()["lines"], checks["ip_office_lines"], "ipoffice_security.lines")
    for key in baseline()["lines"]["options"]:
        assert key in checks["ip_office_lines"]["options"], "ipoffice_security.lines." + key


def test_audit_endpoints_match_certificate_verify(monkeypatch):
    spec = module_spec("certificate_verify", monkeypatch)
    endpoints = role_options("audit")["audit_endpoints"]["options"]
    for key, entry in endpoints.items():
        if key == "name":
            continue  # the report's label
        if key in spec["endpoint"]["options"]:
            same_kind(dict(entry, required=None), spec["endpoint"]["options"][key], "audit_endpoints." + key)
        else:
            assert key in spec, "audit_endpoints.%s is not an option of certificate_verify" % key
            same_kind(entry, spec[key], "audit_endpoints." + key)


def test_audit_live_endpoints_match_security_info(monkeypatch):
    spec = module_spec("security_info", monkeypatch)
    role = role_options("audit")
    live = spec["live_endpoints"]["options"]
    assert sorted(role["audit_live_endpoints"]["options"]) == sorted(live)
    for key, entry in role["audit_live_endpoints"]["options"].items():
        same_kind(entry, live[key], "audit_live_endpoints." + key)
        assert bool(entry.get("required")) == bool(live[key].get("required")), "audit_live_endpoints." + key
    same_kind(role["audit_live_timeout"], spec["live_timeout"], "audit_live_timeout")


def test_audit_policy_keys_are_the_cores():
    from ansible_collections.ipoffice.security.plugins.plugin_utils import _audit_findings as _audit

    policy = role_options("audit")["audit_policy"]["options"]
    assert sorted(policy) == sorted(_audit.DEFAULT_POLICY)
    assert sorted(policy["minimum_levels"]["options"]) == sorted(_audit.LEVEL_SETTINGS)
    # The role documents the model's levels for each minimum.
    for name, entry in policy["minimum_levels"]["options"].items():
        assert tuple(entry["choices"]) == _audit.LEVEL_SETTINGS[name].choices, name


def same_schema(role_entry, module_entry, where):
    """Type, choices, elements, default, required and secrecy equal, suboptions recursively, both ways."""
    assert role_entry.get("type", "str") == module_entry.get("type", "str"), where
    assert sorted(role_entry.get("choices") or []) == sorted(module_entry.get("choices") or []), where
    assert role_entry.get("elements") == module_entry.get("elements"), where
    assert role_entry.get("default") == module_entry.get("default"), where
    assert bool(role_entry.get("required")) == bool(module_entry.get("required")), where
    assert bool(role_entry.get("no_log")) == bool(module_entry.get("no_log")), where
    role_sub, module_sub = role_entry.get("options") or {}, module_entry.get("options") or {}
    assert sorted(role_sub) == sorted(module_sub), where
    for name in role_sub:
        same_schema(role_sub[name], module_sub[name], "%s.%s" % (where, name))


def test_baseline_variable_is_the_security_settings_schema(monkeypatch):
    """ipoffice_security's areas are exactly security_settings' options: same keys, types, defaults, secrets."""
    spec = module_spec("security_settings", monkeypatch)
    variable = baseline()
    assert sorted(variable) == sorted(("store",) + _settings_areas())
    for area in _settings_areas():
        same_schema(variable[area], spec[area], "ipoffice_security." + area)
    for key, entry in variable["store"]["options"].items():
        if key == "path":
            # Required in both, with no default: a default would put a fleet's systems into one store.
            assert entry.get("required") is True and "default" not in entry, entry
            assert spec["store_path"].get("required") is True and "default" not in spec["store_path"]
        same_schema(entry, spec["store_path" if key == "path" else key], "ipoffice_security.store." + key)
    assert sorted(variable["store"]["options"]) == ["dependents_max_age_days", "keep_generations", "lock_timeout",
                                                    "path", "platform", "system_addresses", "system_name"]


def _settings_areas():
    from ansible_collections.ipoffice.security.plugins.module_utils import _settings
    return _settings.AREAS


def test_baseline_argument_specs_are_generated_from_the_module():
    """roles/baseline/meta/argument_specs.yml is what tools/gen_role_specs.py writes (make docs)."""
    run = subprocess.run([sys.executable, os.path.join(helpers.REPO, "tools", "gen_role_specs.py"), "--check"],
                         capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    with open(os.path.join(ROLES, "baseline", "meta", "argument_specs.yml")) as handle:
        long_lines = [n for n, line in enumerate(handle, 1) if len(line.rstrip("\n")) > 160]
    assert long_lines == [], "ansible-lint's yaml[line-length]: shorten these descriptions in the module"
