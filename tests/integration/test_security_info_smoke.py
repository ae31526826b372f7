import helpers


def test_security_info_initialises_then_is_idempotent(tmp_path):
    store = str(tmp_path / "store")
    args = {"store_path": store, "system_name": "ipo1.example.com", "system_addresses": ["192.0.2.10"]}
    check = helpers.run_module("security_info", args, tmp_path, check=True)
    assert check["changed"] is True and check["generation"] == 0
    assert not (tmp_path / "store").exists()
    first = helpers.run_module("security_info", args, tmp_path)
    assert first["changed"] is True and first["issued_to"] == "ipo1.example.com"
    second = helpers.run_module("security_info", dict(args, query="identity.subject_alt_names"), tmp_path)
    assert second["changed"] is False
    assert second["query_result"] == ["DNS:ipo1.example.com", "IP:192.0.2.10"]
    assert second["identity"]["sha256"] == first["identity"]["sha256"]
