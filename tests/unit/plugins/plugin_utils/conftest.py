import pytest

from audit_fleet import make_fleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Four real systems: a fresh one, a hardened one, one with problems, an IP500 V2."""
    return make_fleet(tmp_path_factory.mktemp("fleet"))
