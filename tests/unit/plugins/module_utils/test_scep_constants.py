"""_scep_settings avoids importing the protocol client on no-op runs, so it repeats two message types."""

from ansible_collections.ipoffice.security.plugins.module_utils import _scep, _scep_settings


def test_renewal_message_numbers_are_the_protocol_clients():
    assert _scep_settings.RENEWAL_MESSAGES == {"pkcsreq": _scep.PKCS_REQ, "renewalreq": _scep.RENEWAL_REQ}
    assert (_scep.PKCS_REQ, _scep.RENEWAL_REQ) == (19, 17)  # RFC 8894 section 3.2.1.2
