"""Hostile or unusual servers: a SCEP CA whose key cannot decrypt a request (EC), and a SCEP password the
store keeps that the CA refuses.  Servers that trickle, never end or announce huge replies are in
test_network_limits.py (see README.md).

The EC CA is a real one (keys and certificates made here) served by a small HTTP server on 127.0.0.1 that
speaks GetCACaps / GetCACert / PKIOperation (the real scepserver only makes RSA CAs); the password cases
run against Debian's real scepserver.
"""

import os
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from conftest import NAME, refused, run

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _scep, _scep_settings
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore, initial_state

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from test_scep import _PublicOnly, reply, serve  # noqa: E402  (the in-process CA helpers of the SCEP tests)

import scep_servers  # noqa: E402


def ec_ca():
    key = _certs.generate_private_key("sha256_ecdsa_p256")
    return _certs.build_certificate("CN=EC Issuing CA", key, 365, signature="sha256_ecdsa_p256", ca=True), key


class FakeScep(object):
    """GetCACaps, GetCACert (a DER CA, or a CA + RA PKCS#7) and PKIOperation answered by an RA key."""

    def __init__(self, ca, ra=None):
        self.ca_cert, self.ca_key = ca
        self.ra = ra
        self.operations = []

    def answer(self, path, data):
        operation = path.split("operation=")[1].split("&")[0]
        self.operations.append(operation)
        if operation == "GetCACaps":
            return b"SHA-256\nAES\nPOSTPKIOperation\nSCEPStandard\n"
        if operation == "GetCACert":
            if self.ra is None:
                return self.ca_cert.public_bytes(serialization.Encoding.DER)
            return _scep.certs_only([self.ca_cert, self.ra[0]])
        request = _scep.parse_message(data)
        ra_cert, ra_key = self.ra
        csr = x509.load_der_x509_csr(_scep.open_envelope(request.content, ra_key, ra_cert))
        cert = _certs.build_certificate(csr.subject, _PublicOnly(csr.public_key()), 30, issuer_cert=self.ca_cert,
                                        issuer_key=self.ca_key, signature="sha256_ecdsa_p256")
        content = _scep.envelope(_scep.certs_only([cert]), request.signer_cert, "aes128_cbc")
        return reply(self.ra, request.sender_nonce, _scep.SUCCESS, content=content, tid=request.transaction_id,
                     digest="sha256")


def scep_params(port, **extra):
    params = {"active": True, "server": "127.0.0.1", "port": port, "uri": "/scep", "enroll": True, "retries": 0,
              "timeout": 10, "subject_name": NAME, "subject_alt_names": ["DNS:" + NAME]}
    params.update(extra)
    return params


def test_enrollment_against_an_ec_ca_is_scep_unsupported_ca_key(victim):
    fake = FakeScep(ec_ca())
    server = serve(fake.answer)
    try:
        port = server.server_address[1]
        err = refused(victim, lambda: run("scep", store_path=victim, **scep_params(port)), "scep_unsupported_ca_key",
                      "server")
        assert "EC" in err.message and "RSA" in err.message and "EC Issuing CA" in err.message
        assert "PKIOperation" not in fake.operations  # refused before any request was sent
        # check mode with the CA pinned reads GetCACert and refuses the same way
        pinned = scep_params(port, ca_fingerprint=_certs.fingerprint(fake.ca_cert))
        refused(victim, lambda: run("scep", check_mode=True, store_path=victim, **pinned), "scep_unsupported_ca_key",
                "server")
    finally:
        server.shutdown()
        server.server_close()


def test_an_ec_ca_with_an_rsa_ra_enrolls(victim):
    ca = ec_ca()
    ra_key = _certs.generate_private_key()
    ra = (_certs.build_certificate("CN=SCEP RA", ra_key, 365, issuer_cert=ca[0], issuer_key=ca[1],
                                   signature="sha256_ecdsa_p256"), ra_key)
    fake = FakeScep(ca, ra)
    server = serve(fake.answer)
    try:
        result = run("scep", store_path=victim, install_ca_certificate=True,
                     **scep_params(server.server_address[1], ca_fingerprint=_certs.fingerprint(ca[0])))
    finally:
        server.shutdown()
        server.server_close()
    assert result["changed"] is True and result["status"] == "issued"
    identity = DirectoryStore(victim).read().identity
    assert identity.meta["source"] == "scep" and identity.cert.issuer == ca[0].subject


def test_ca_info_picks_the_rsa_ra_as_recipient_and_refuses_an_ec_one():
    ca = ec_ca()
    ec_ra_key = _certs.generate_private_key("sha256_ecdsa_p256")
    ec_ra = _certs.build_certificate("CN=EC RA", ec_ra_key, 365, issuer_cert=ca[0], issuer_key=ca[1],
                                     signature="sha256_ecdsa_p256")
    rsa_ra_key = _certs.generate_private_key()
    rsa_ra = _certs.build_certificate("CN=RSA RA", rsa_ra_key, 365, issuer_cert=ca[0], issuer_key=ca[1],
                                      signature="sha256_ecdsa_p256")
    both = _scep.CaInfo([ca[0], ec_ra, rsa_ra])
    assert both.recipient is rsa_ra
    _scep.check_recipient(both)
    with pytest.raises(_scep.SecurityError) as err:
        _scep.check_recipient(_scep.CaInfo([ca[0], ec_ra]))
    assert err.value.code == "scep_unsupported_ca_key" and "RA" in err.value.message


# -------------------------------------------------------------------- the SCEP password the store keeps


@pytest.fixture(scope="module")
def depot(tmp_path_factory):
    return scep_servers.init_depot(str(tmp_path_factory.mktemp("scep-depot") / "depot"))


def test_on_create_keeping_a_different_stored_password_warns_and_the_refusal_says_so(victim, depot, tmp_path):
    wrong = "an-old-enrollment-code"
    with scep_servers.scepserver(scep_servers.copy_depot(depot, str(tmp_path / "depot"))) as server:
        settings = {"active": True, "server": "127.0.0.1", "port": server.port, "uri": "/scep"}
        run("scep", store_path=victim, password=wrong, **settings)  # the store now holds the old code

        # Only settings: nothing changes, and the run says the given password was not used.
        kept = run("scep", store_path=victim, password=scep_servers.CHALLENGE, update_password="on_create",
                   **settings)
        assert kept["changed"] is False
        assert kept["warnings"] == [_scep_settings.KEPT_PASSWORD_WARNING]
        assert wrong not in repr(kept) and scep_servers.CHALLENGE not in repr(kept)
        same = run("scep", store_path=victim, password=wrong, update_password="on_create", **settings)
        assert same["warnings"] == []  # the same password: nothing to say

        # The enrollment sends the stored (old) code: the CA refuses, and the error says why it may have.
        err = refused(victim, lambda: run("scep", store_path=victim, password=scep_servers.CHALLENGE,
                                          update_password="on_create", **scep_params(server.port)),
                      "scep_failure", "update_password")
        assert err.details["fail_info"] == "badRequest" and "differs from the 'password' given" in err.message
        assert wrong not in err.message and scep_servers.CHALLENGE not in err.message

        # Without a password in the run, the refusal says the stored one was sent.
        err = refused(victim, lambda: run("scep", store_path=victim, **scep_params(server.port)), "scep_failure",
                      "password")
        assert "stored earlier ('password' was not given" in err.message

        issued = run("scep", store_path=victim, password=scep_servers.CHALLENGE, update_password="always",
                     **scep_params(server.port))
        assert issued["status"] == "issued"
        assert _scep_settings.KEPT_PASSWORD_WARNING not in issued["warnings"]
    assert DirectoryStore(victim).read().identity.meta["source"] == "scep"


def test_kept_password_comparison():
    bare = initial_state("ip500v2", NAME, [])
    bare.secrets[_scep_settings.PASSWORD_SECRET] = b"stored"
    differs = _scep_settings.kept_password_differs
    assert differs(bare, {"password": "given", "update_password": "on_create"}) is True
    assert differs(bare, {"password": "stored", "update_password": "on_create"}) is False
    assert differs(bare, {"password": "given", "update_password": "always"}) is False  # always replaces it
    assert differs(bare, {"password": None, "update_password": "on_create"}) is False
