"""Every module option that can carry a key or a secret, even by mistake, is no_log.

The argument spec each module really passes to AnsibleModule is captured (main() runs up to it), then
walked: options that take certificate/key material inline (``*content``) or a secret (``*password``)
must be no_log, so a private key pasted into the wrong option never reaches -vvv output.
"""

import glob
import importlib
import os

import pytest

import helpers

MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(helpers.REPO, "plugins", "modules", "*.py"))
                 if not os.path.basename(p).startswith("_"))
# Options that name a policy, not a secret (no_log=False on purpose).
NOT_SECRET = {"update_password"}


class _Captured(Exception):
    pass


def captured_spec(name, monkeypatch):
    """The spec main() passes to AnsibleModule (captured as ansible-test's validate-modules captures it: its
    constructor replaced, whatever subclass the module instantiates)."""
    from ansible.module_utils import basic

    module = importlib.import_module("ansible_collections.ipoffice.security.plugins.modules." + name)
    box = {}

    def fake(self, *args, **kwargs):
        box["spec"] = kwargs.get("argument_spec") or args[0]
        raise _Captured()

    monkeypatch.setattr(basic.AnsibleModule, "__init__", fake)
    with pytest.raises(_Captured):
        module.main()
    return box["spec"]


def walk(spec, prefix=""):
    for option, entry in spec.items():
        yield prefix + option, option, entry
        if entry.get("options"):
            yield from walk(entry["options"], prefix + option + ".")


def test_every_module_is_audited():
    assert {"certificate_verify", "identity_certificate", "trusted_certificate", "scep", "issued_certificate"} <= \
        set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_options_that_can_carry_a_key_or_secret_are_no_log(name, monkeypatch):
    spec = captured_spec(name, monkeypatch)
    carrying = [(path, entry) for path, option, entry in walk(spec)
                if option not in NOT_SECRET and ("content" in option or "password" in option)]
    for path, entry in carrying:
        assert entry.get("no_log") is True, ("%s: option %s can carry a key or secret but is not no_log"
                                             % (name, path))
    if name == "certificate_verify":
        assert {p for p, _e in carrying} == {"certificate.content", "chain.content", "trusted.content"}
    if name == "identity_certificate":
        assert "chain_content" in {p for p, _e in carrying}
