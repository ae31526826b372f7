"""Shared builders for the identity and issued-certificate tests (real keys and certificates).

Named test_* so that it lives with the area's tests; it holds a smoke test of its own builders.
"""

import datetime
import subprocess

import helpers  # noqa: F401  (puts the collection on sys.path)

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._identity import apply_identity, identity_request
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

from cryptography.hazmat.primitives import serialization

NAME = "ipo1.example.com"
ADDRESSES = ["192.0.2.10"]


def now():
    return _certs.utcnow()


def make_ca(name="CN=Example Issuing CA", days=3650, not_before=None, signature="sha256_rsa2048"):
    key = _certs.generate_private_key(signature)
    cert = _certs.build_certificate(name, key, days, signature=signature, ca=True, not_before=not_before)
    return cert, key


def make_leaf(ca=None, name="server.example.com", days=365, not_before=None, signature="sha256_rsa2048",
              alt_names=None):
    key = _certs.generate_private_key(signature)
    issuer_cert, issuer_key = ca if ca else (None, None)
    cert = _certs.build_certificate(name, key, days, signature=signature,
                                    subject_alt_names=alt_names or ["DNS:" + name],
                                    issuer_cert=issuer_cert, issuer_key=issuer_key, not_before=not_before)
    return cert, key


def pem(cert):
    return _certs.cert_pem(cert)


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def key_pem(key, password=None):
    encryption = serialization.BestAvailableEncryption(password.encode()) if password else \
        serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def key_der(key):
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write(path, data):
    with open(str(path), "wb") as handle:
        handle.write(data)
    return str(path)


def openssl_pkcs12(tmp_path, cert, key, chain=(), password="secret", legacy=False, name="id"):
    """A PKCS#12 made by the real `openssl pkcs12 -export` (modern AES, or -legacy 3DES/RC2)."""
    helpers.need_tool("openssl")
    cert_file = write(tmp_path / (name + "-cert.pem"), pem(cert))
    key_file = write(tmp_path / (name + "-key.pem"), key_pem(key))
    out = str(tmp_path / (name + (".legacy" if legacy else "") + ".p12"))
    args = ["openssl", "pkcs12", "-export", "-in", cert_file, "-inkey", key_file, "-out", out,
            "-passout", "pass:" + password]
    if chain:
        args += ["-certfile", write(tmp_path / (name + "-chain.pem"), b"".join(pem(c) for c in chain))]
    if legacy:
        args.append("-legacy")
    subprocess.run(args, check=True, capture_output=True)
    return out


def store_at(path, platform=None):
    return DirectoryStore(path=str(path), platform=platform, system_name=NAME, system_addresses=ADDRESSES,
                          lock_timeout=5)


def initialised(path, platform=None):
    store = store_at(path, platform)
    store.update(lambda state: None)
    return store


def run_identity(store, params, check_mode=False, at=None):
    """What identity_certificate does, without Ansible: validate, then mutate the store."""
    request = identity_request(params)
    return store.update(lambda state: apply_identity(state, request, at), check_mode=check_mode)


def test_builders_make_a_verifiable_chain():
    ca = make_ca()
    leaf, key = make_leaf(ca)
    assert _certs.is_issued_by(leaf, ca[0]) and _certs.key_matches(leaf, key)
    past = now() - datetime.timedelta(days=10)
    old, _old_key = make_leaf(ca, days=5, not_before=past)
    assert old.not_valid_after_utc < now()
