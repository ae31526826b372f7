"""Generations of a store: records of what made each, keep_generations, restore (_generation.py).

A real DirectoryStore on disk; real certificates.
"""

import json
import os

import pytest

import helpers

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _generation, _info, _trusted
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

EC = "sha256_ecdsa_p256"
NAME = "ipo1.example.com"


@pytest.fixture(scope="module")
def root():
    key = _certs.generate_private_key(EC)
    return _certs.build_certificate("CN=Partner Root,O=Example", key, 3650, EC, ca=True)


def make_store(path, **kwargs):
    store = DirectoryStore(str(path), system_name=NAME, system_addresses=["192.0.2.10"], **kwargs)
    store.made_by = {"module": "ipoffice.security.test", "note": kwargs.pop("note", None)}
    return store


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "store")


def params(restore=None):
    return {"restore": restore}


def changed_store(store, root):
    """A store initialised (generation 1), then changed by adding a trusted root (generation 2)."""
    store.update(lambda state: None)
    store.made_by = {"module": "ipoffice.security.trusted_certificate", "note": "add partner root"}
    _trusted.converge(store, [{"content": _certs.cert_pem(root).decode()}])
    return store


# -------------------------------------------------------------------------------------------- records


def test_every_generation_records_what_made_it(store, root):
    changed_store(store, root)
    first, second = sorted(store.generations(), key=lambda g: g["generation"])
    assert first["made_by"]["module"] == "ipoffice.security.test"
    assert first["made_by"]["summary"].startswith("initialised the store (server platform)")
    assert second["made_by"] == {"module": "ipoffice.security.trusted_certificate",
                                 "summary": "trusted +Partner Root", "time": second["made_by"]["time"],
                                 "note": "add partner root"}
    assert second["made_by"]["time"].endswith("Z")
    assert store.read().made_by == second["made_by"]


def test_summary_names_settings_identities_and_secrets(store):
    store.update(lambda state: None)

    def mutate(state):
        state.settings["checks"]["telephony_endpoints"] = "high_remote"
        state.secrets["scep_password"] = b"hunter2"
    store.update(mutate)
    summary = store.read().made_by["summary"]
    assert summary == "checks.telephony_endpoints none -> high_remote; secret scep_password set"
    assert "hunter2" not in json.dumps(store.generations())


def test_generation_records_are_in_security_info(store, root):
    changed_store(store, root)
    snapshot = _info.snapshot(store, store.read())
    assert [g["made_by"]["summary"] for g in snapshot["generations"]][0] == "trusted +Partner Root"
    assert snapshot["keep_generations"] == 10


def test_a_store_written_before_records_existed_still_loads(store, root):
    changed_store(store, root)
    settings = os.path.join(store._current_dir(), "settings.json")
    with open(settings) as handle:
        document = json.load(handle)
    for key in ("keep_generations", "verified_endpoints", "issued_certificates", "made_by"):
        del document[key]
    os.chmod(settings, 0o644)
    os.unlink(settings)
    with open(settings, "w") as handle:
        json.dump(document, handle)
    state = store.read()
    assert (state.keep_generations, state.verified_endpoints, state.made_by) == (10, [], None)
    listed = _generation.run(store, params())
    assert listed["generations"][0]["made_by"] is None and listed["keep_generations"] == 10


# ---------------------------------------------------------------------------------- keep_generations


def test_keep_generations_is_a_store_setting(tmp_path, root):
    store = make_store(tmp_path / "store", keep=3)
    for index in range(5):
        store.update(lambda state, i=index: state.data.update(counter=i))
    assert [g["generation"] for g in store.generations()] == [5, 4, 3]
    # a later writer that does not name it keeps the store's setting
    plain = make_store(tmp_path / "store")
    plain.update(lambda state: state.data.update(counter=99))
    assert [g["generation"] for g in plain.generations()] == [6, 5, 4]
    assert plain.read().keep_generations == 3
    # changing it is a change of the store, recorded
    result = _generation.run(make_store(tmp_path / "store", keep=4), params())
    assert result["changed"] and result["keep_generations"] == 4
    assert result["generations"][0]["made_by"]["summary"] == "keep_generations 3 -> 4"
    assert not _generation.run(make_store(tmp_path / "store", keep=4), params())["changed"]


@pytest.mark.parametrize("value", [1, 0, -3, True])
def test_keep_generations_below_two_is_refused(tmp_path, value):
    with pytest.raises(SecurityError) as info:
        make_store(tmp_path / "store", keep=value)
    assert info.value.code == "out_of_range" and info.value.option == "keep_generations"
    assert "at least 2" in info.value.message
    assert not os.path.exists(str(tmp_path / "store"))


# ------------------------------------------------------------------------------------------- restore


def test_restore_previous_in_check_mode_predicts_the_exact_diff_and_writes_nothing(store, root):
    changed_store(store, root)
    current, previous = store.read(), store.load_generation(1)
    digest = helpers.tree_digest(store.path)
    result = _generation.run(store, params("previous"), check_mode=True, want_diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == _generation.state_view(current)
    assert result["diff"]["after"] == _generation.state_view(previous)
    before_fps = [t["sha256"] for t in result["diff"]["before"]["trusted"]]
    after_fps = [t["sha256"] for t in result["diff"]["after"]["trusted"]]
    assert set(before_fps) - set(after_fps) == {_certs.fingerprint(root)}
    assert result["restored"] == {"generation": 1, "made_by": previous.made_by, "written_as": None}
    assert result["current"] == 2
    assert helpers.tree_digest(store.path) == digest


def test_restore_previous_writes_a_new_generation_equal_to_it(store, root):
    changed_store(store, root)
    store.made_by = {"module": "ipoffice.security.generation", "note": None}
    result = _generation.run(store, params("previous"), want_diff=True)
    assert result["changed"] and result["current"] == 3
    assert result["restored"]["generation"] == 1 and result["restored"]["written_as"] == 3
    restored, chosen = store.read(), store.load_generation(1)
    assert restored.generation == 3 and restored.snapshot() == chosen.snapshot()
    assert restored.made_by["module"] == "ipoffice.security.generation"
    assert restored.made_by["summary"] == "restored generation 1; trusted -Partner Root"
    assert [g["generation"] for g in result["generations"]] == [3, 2, 1]
    # the TLS-service files follow the restored content
    with open(os.path.join(store.current_link, "tcs", "bundle.pem"), "rb") as handle:
        assert len(_certs.load_certificates(handle.read())) == 1


def test_a_restore_can_be_undone(store, root):
    changed_store(store, root)
    changed = store.read()
    _generation.run(store, params("previous"))
    undo = _generation.run(store, params("previous"))
    assert undo["restored"]["generation"] == 2 and undo["current"] == 4
    assert store.read().snapshot() == changed.snapshot()
    assert store.read().made_by["summary"] == "restored generation 2; trusted +Partner Root"


def test_restore_by_number_and_of_the_current_generation(store, root):
    changed_store(store, root)
    same = _generation.run(store, params("2"), want_diff=True)
    assert not same["changed"] and same["current"] == 2 and same["diff"]["before"] == same["diff"]["after"]
    back = _generation.run(store, params("1"))
    assert back["changed"] and back["restored"]["written_as"] == 3


@pytest.mark.parametrize("target, code", [("7", "unknown_generation"), ("latest", "invalid_setting"),
                                          ("-1", "invalid_setting"), ("", "invalid_setting")])
def test_a_bad_restore_target_fails_clearly_and_writes_nothing(store, root, target, code):
    changed_store(store, root)
    digest = helpers.tree_digest(store.path)
    for check_mode in (True, False):
        with pytest.raises(SecurityError) as info:
            _generation.run(store, params(target), check_mode=check_mode)
        assert info.value.code == code and info.value.option == "restore"
        assert "'restore' option" in info.value.message
        assert helpers.tree_digest(store.path) == digest
    if code == "unknown_generation":
        assert "1, 2" in info.value.message and info.value.details["kept"] == [1, 2]


def test_restore_previous_on_a_new_store_fails_and_creates_nothing(tmp_path):
    store = make_store(tmp_path / "store")
    with pytest.raises(SecurityError) as info:
        _generation.run(store, params("previous"))
    assert info.value.code == "no_previous_generation" and info.value.option == "restore"
    assert not os.path.exists(str(tmp_path / "store"))
    with pytest.raises(SecurityError) as info:
        _generation.run(store, params("3"))
    assert info.value.code == "unknown_generation" and "none" in info.value.message
    assert not os.path.exists(str(tmp_path / "store"))
    listed = _generation.run(make_store(tmp_path / "other"), params())
    assert listed == {"changed": False, "current": None, "initialised": False, "keep_generations": 10,
                      "generations": [], "restored": None}
    assert not os.path.exists(str(tmp_path / "other"))
