"""_cryptography_dep: which library requirements are unmet, and the failure a module reports for them."""

from ansible_collections.ipoffice.security.plugins.module_utils import _cryptography_dep


def test_this_python_meets_every_requirement():
    assert _cryptography_dep.problems(_cryptography_dep.SCEP_FEATURES) == []


def test_an_old_cryptography_is_named_with_its_version():
    found = _cryptography_dep.problems(cryptography_version="44.0.3")
    assert [(p.requirement, p.found) for p in found] == [("cryptography >= 45.0", "cryptography 44.0.3")]


def test_an_old_asn1crypto_is_named_too():
    found = _cryptography_dep.problems(cryptography_version="44.0.3", asn1crypto_version="1.4.0")
    assert [p.requirement for p in found] == ["cryptography >= 45.0", "asn1crypto >= 1.5.0"]


def test_the_floor_itself_is_accepted():
    assert _cryptography_dep.problems(cryptography_version="45.0.0", asn1crypto_version="1.5.0") == []


def test_a_missing_feature_is_named(monkeypatch):
    monkeypatch.setitem(_cryptography_dep.FEATURES, "path_validation",
                        ("cryptography.x509.verification", ("PolicyBuilder", "NoSuchThing")))
    found = _cryptography_dep.problems()
    assert len(found) == 1 and "cryptography.x509.verification.NoSuchThing" in found[0].found


def test_failure_is_the_standard_message_with_a_stable_code():
    result = _cryptography_dep.failure(_cryptography_dep.problems(cryptography_version="44.0.3"))
    assert result["error"] == "missing_library"
    assert result["msg"].startswith("Failed to import the required Python library (cryptography >= 45.0) on ")
    assert "this Python has cryptography 44.0.3" in result["msg"]
    assert "ansible_python_interpreter" in result["msg"]
    assert result["requirements"] == ["cryptography >= 45.0"]
