"""Silent or wrong outcomes: a restore that brings back an expired identity, options a read-only module
would take and ignore, what the read-only and writer modules take."""

import datetime
import os

import pytest
import yaml

from conftest import NAME, refused, run

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _specs
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, DirectoryStore

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "..")


def short_lived_identity(slot_days_ago):
    """An identity certificate that expired ``slot_days_ago`` days ago (valid for the 30 days before)."""
    key = _certs.generate_private_key()
    start = _certs.utcnow() - datetime.timedelta(days=30 + slot_days_ago)
    cert = _certs.build_certificate(NAME, key, 30, subject_alt_names=["DNS:" + NAME], not_before=start)
    return Credential(cert, key, {"source": "import", "subject_name": NAME})


@pytest.fixture
def with_expired_generation(victim):
    """Generation 2 holds an identity (or telephony identity) that has expired; generation 3 a valid one."""
    def make(slot):
        store = DirectoryStore(victim)
        store.update(lambda state: setattr(state, slot, short_lived_identity(3)))
        store.update(lambda state: setattr(state, slot, None if slot == "telephony" else
                                           Credential(*_fresh_identity())))
        return victim
    return make


def _fresh_identity():
    key = _certs.generate_private_key()
    return _certs.build_certificate(NAME, key, 365, subject_alt_names=["DNS:" + NAME]), key, {"source": "generate"}


@pytest.mark.parametrize("slot,label", [("identity", "identity"), ("telephony", "telephony identity")])
def test_restoring_a_generation_whose_identity_has_expired_is_refused(with_expired_generation, slot, label):
    path = with_expired_generation(slot)
    for check_mode in (True, False):
        err = refused(path, lambda mode=check_mode: run("generation", check_mode=mode, store_path=path, restore="2"),
                      "certificate_expired", "allow_expired")
        assert "the %s '%s' expired on" % (label, NAME) in err.message and err.details["generation"] == 2


def test_allow_expired_restores_it_with_a_warning(with_expired_generation):
    path = with_expired_generation("identity")
    result = run("generation", store_path=path, restore="2", allow_expired=True)
    assert result["changed"] is True and result["restored"]["written_as"] == 4
    assert len(result["warnings"]) == 1 and "allow_expired: true" in result["warnings"][0]
    assert "expired on" in result["warnings"][0]
    assert DirectoryStore(path).read().identity.cert.not_valid_after_utc < _certs.utcnow()


def test_restoring_a_generation_with_valid_identities_gives_no_warning(victim):
    run("certificate_checks", store_path=victim, certificate_expiry_warning_days=90)
    result = run("generation", store_path=victim, restore="previous")
    assert result["changed"] is True and "warnings" not in result


# ---------------------------------------------------------------------- what read-only modules take


READ_ONLY = ("certificate_verify", "export", "security_info")


def runtime_groups():
    with open(os.path.join(REPO, "meta", "runtime.yml")) as handle:
        return yaml.safe_load(handle)["action_groups"]


def test_read_only_modules_take_no_writer_options_and_writers_take_them():
    for name in sorted(_specs.MODULES):
        spec = _specs.module_kwargs(name)["argument_spec"]
        for option in ("store_path", "platform", "system_name", "system_addresses"):
            assert option in spec, (name, option)  # one module_defaults for group/ipoffice.security.all serves all
        writer_options = set(_specs.WRITER_STORE_OPTIONS) & set(spec)
        if name in READ_ONLY:
            assert writer_options == set() and _specs.read_only(name), name
        else:
            assert writer_options == set(_specs.WRITER_STORE_OPTIONS) and not _specs.read_only(name), name


def test_the_writers_action_group_is_exactly_the_modules_that_take_the_writer_options():
    groups = runtime_groups()
    assert sorted(groups["all"]) == sorted(_specs.MODULES)
    assert sorted(groups["writers"]) == sorted(name for name in _specs.MODULES if not _specs.read_only(name))


@pytest.mark.parametrize("name", READ_ONLY)
def test_read_only_module_documentation_claims_no_writer_option(name):
    with open(os.path.join(REPO, "plugins", "modules", name + ".py")) as handle:
        source = handle.read()
    assert "  - ipoffice.security.store.read_only\n" in source
    assert "keep_generations:\n    description" not in source and "lock_timeout:\n" not in source


def test_security_info_still_reads_without_ever_writing(victim):
    before = sorted(os.listdir(os.path.join(victim, "generations")))
    result = run("security_info", store_path=victim)
    assert result["changed"] is False and result["keep_generations"] == 10
    assert sorted(os.listdir(os.path.join(victim, "generations"))) == before
