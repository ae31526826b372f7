"""One schema per area, generated, never copied: the per-area modules and security_settings build an area's
options with one builder (_specs) and document them with one text (the ipoffice.security.areas doc fragment),
and the baseline role's variable is generated from security_settings (tools/gen_role_specs.py). The audit
role's hand-written specs are compared with the modules they feed."""

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
    """The argument_spec a module builds in main(), captured without running it (AnsibleModule's constructor
    replaced, as ansible-test's validate-modules captures it, whatever subclass the module instantiates)."""
    from ansible.module_utils import basic

    module = importlib.import_module("ansible_collections.ipoffice.security.plugins.modules." + name)

    def fake(self, **kwargs):
        raise Captured(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "__init__", fake)
    with pytest.raises(Captured) as info:
        module.main()
    return info.value.kwargs["argument_spec"]


def role_options(role):
    with open(os.path.join(ROLES, role, "meta", "argument_specs.yml")) as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


def baseline():
    return role_options("baseline")["ipoffice_security"]["options"]


def _store_options():
    from ansible_collections.ipoffice.security.plugins.module_utils import _specs
    return tuple(_specs.store_spec())


STORE_OPTIONS = _store_options()
# security_settings' area -> (the per-area module, what that module takes besides the area's options)
AREA_MODULES = {
    "identity": ("identity_certificate", ("purpose",)),
    "scep": ("scep", ()),
    "checks": ("certificate_checks", ("lines",)),
}


def _specs():
    from ansible_collections.ipoffice.security.plugins.module_utils import _specs
    return _specs


def _own(name, besides=()):
    """A module's argument spec without the store options and ``besides``."""
    spec = _specs().module_kwargs(name)["argument_spec"]
    return dict((key, value) for key, value in spec.items() if key not in STORE_OPTIONS + tuple(besides))


@pytest.mark.parametrize("area", sorted(AREA_MODULES))
def test_each_area_is_one_spec_in_its_module_and_in_security_settings(area):
    """The per-area module and security_settings take an area's options from one builder (_specs): the same keys,
    types, choices, defaults and secrecy, the defaults included."""
    module, besides = AREA_MODULES[area]
    settings = _specs().security_settings_spec()
    assert settings[area]["options"] == _own(module, besides), area
    if area == "identity":
        # The telephony identity: the same options but the system-wide identity settings (under 'identity').
        from ansible_collections.ipoffice.security.plugins.module_utils._model import SETTINGS_BY_AREA
        identity = _own(module, besides + tuple(SETTINGS_BY_AREA["identity"]))
        assert settings["telephony_identity"]["options"] == identity


def test_lines_and_trusted_items_are_one_spec():
    settings = _specs().security_settings_spec()
    lines = dict(_own("certificate_checks")["lines"])
    # certificate_checks alone still accepts the former name, deprecated.
    assert lines.pop("aliases") == ["ip_office_lines"]
    assert lines.pop("deprecated_aliases") == [{"name": "ip_office_lines", "version": "2.0.0",
                                                "collection_name": "ipoffice.security"}]
    assert settings["lines"] == lines
    items = _own("trusted_certificate")["certificates"]["options"]
    assert settings["trusted"]["options"]["absent"]["options"] == items
    assert settings["trusted"]["options"]["retire"]["options"] == items
    assert settings["trusted"]["options"]["certificates"]["options"] == dict(
        (key, value) for key, value in items.items() if key != "sha256")


def _documented():
    """Every module's options as Ansible merges its documentation (ansible-doc --json)."""
    sys.path.insert(0, os.path.join(helpers.REPO, "tools"))
    try:
        import gen_module_docs
    finally:
        sys.path.pop(0)
    names = ["security_settings", "identity_certificate", "trusted_certificate", "scep", "certificate_checks"]
    return dict((name, doc["options"]) for name, (doc, _examples, _returns)
                in gen_module_docs.module_docs(helpers.REPO, names).items())


def _as_module_names(value, prefix):
    """A documentation value with security_settings' option references O(<prefix>x) as the module's O(x)."""
    if isinstance(value, dict):
        return dict((key, _as_module_names(item, prefix)) for key, item in value.items())
    if isinstance(value, list):
        return [_as_module_names(item, prefix) for item in value]
    return value.replace("O(%s" % prefix, "O(") if isinstance(value, str) else value


def test_each_area_is_documented_once_for_its_module_and_security_settings():
    """The nested documentation of security_settings is the per-area modules' text (the areas doc fragment), not
    a copy: equal, option for option, but for how an option reference is written."""
    docs = _documented()
    settings = docs["security_settings"]
    for area, (module, besides) in AREA_MODULES.items():
        expected = dict((key, value) for key, value in docs[module].items()
                        if key not in STORE_OPTIONS + besides)
        nested = _as_module_names(settings[area]["suboptions"], area + ".")
        if area == "checks":
            # security_settings' preflight adds one paragraph of its own: it re-verifies when trust changes.
            own = nested["preflight"]["description"].pop()
            assert own.startswith("When the call changes the trusted store or retires entries"), own
        assert nested == expected, area
    telephony = _as_module_names(settings["telephony_identity"]["suboptions"], "telephony_identity.")
    assert set(telephony) < set(settings["identity"]["suboptions"])
    for key, value in telephony.items():
        assert value == docs["identity_certificate"][key], key
    lines = dict(docs["certificate_checks"]["lines"])
    assert lines.pop("aliases") == ["ip_office_lines"]
    assert _as_module_names(settings["lines"], "checks.")["suboptions"] == lines["suboptions"]
    items = docs["trusted_certificate"]["certificates"]["suboptions"]
    for name in ("certificates", "absent", "retire"):
        nested = _as_module_names(settings["trusted"]["suboptions"][name]["suboptions"], "trusted.%s[]." % name)
        assert nested == dict((key, value) for key, value in _as_module_names(items, "certificates[].").items()
                              if name != "certificates" or key != "sha256"), name


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
