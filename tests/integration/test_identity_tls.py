"""A real TLS server on 127.0.0.1 presenting the store's identity: Offer ID Certificate Chain decides what a
client sees (`openssl s_client -showcerts`)."""

import os
import re
import subprocess
import sys

import helpers

sys.path.insert(0, os.path.join(helpers.REPO, "tests", "unit", "plugins", "module_utils"))
from test_identity_fixtures import make_ca, make_leaf, openssl_pkcs12  # noqa: E402

from ansible_collections.ipoffice.security.plugins.module_utils import _certs  # noqa: E402


def presented(store_path, tmp_path):
    """Serve current/identity/fullchain.pem + key.pem with s_server; return s_client's certificate subjects."""
    current = os.path.join(store_path, "current", "identity")
    with open(os.path.join(current, "fullchain.pem"), "rb") as handle:
        fullchain = _certs.load_certificates(handle.read(), option="fullchain.pem")
    # s_server sends only the first certificate of -cert; the rest of fullchain.pem goes in -cert_chain,
    # so the server offers exactly what fullchain.pem holds.
    chain_file = None
    if len(fullchain) > 1:
        chain_file = str(tmp_path / "rest-of-fullchain.pem")
        with open(chain_file, "wb") as handle:
            handle.write(_certs.certs_pem(fullchain[1:]))
    with helpers.openssl_server(os.path.join(current, "fullchain.pem"), os.path.join(current, "key.pem"),
                                chain_file=chain_file) as port:
        client = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-showcerts",
                                 "-CAfile", os.path.join(store_path, "current", "tcs", "bundle.pem")],
                                stdin=subprocess.DEVNULL, capture_output=True, check=False, text=True, timeout=30)
    subjects = [s.replace(" = ", "=") for s in re.findall(r"^\s*\d+ s:(.*)$", client.stdout, re.MULTILINE)]
    assert client.stdout.count("BEGIN CERTIFICATE") == len(subjects)
    return subjects, client.stdout


def test_offered_chain_follows_offer_id_certificate_chain(tmp_path):
    helpers.need_tool("openssl")
    store = str(tmp_path / "store")
    root = make_ca("CN=TLS Root CA")
    issuing_key = _certs.generate_private_key()
    issuing = _certs.build_certificate("CN=TLS Issuing CA", issuing_key, 1000, ca=True, issuer_cert=root[0],
                                       issuer_key=root[1])
    leaf, key = make_leaf((issuing, issuing_key), name="ipo1.example.com")
    p12 = openssl_pkcs12(tmp_path, leaf, key, chain=[issuing, root[0]], password="pw")
    base = {"store_path": store, "system_name": "ipo1.example.com", "system_addresses": ["127.0.0.1"]}
    module = "ipoffice.security.identity_certificate"

    helpers.run_tasks([{module: dict(base, source="ca", subject_alt_names=["DNS:ipo1.example.com", "IP:127.0.0.1"],
                                     offer_id_certificate_chain=True)}], tmp_path)
    subjects, out = presented(store, tmp_path)
    assert subjects[0] == "CN=ipo1.example.com" and subjects[1].startswith("CN=IP Office Root CA")
    assert len(subjects) == 2
    assert "Verify return code: 0 (ok)" in out  # the chain reaches the root in the store's own TCS

    helpers.run_tasks([{module: dict(base, offer_id_certificate_chain=False)}], tmp_path)
    subjects, _out = presented(store, tmp_path)
    assert subjects == ["CN=ipo1.example.com"]

    helpers.run_tasks([{module: dict(base, source="import", certificate_path=p12, password="pw",
                                     offer_id_certificate_chain=True)}], tmp_path)
    subjects, out = presented(store, tmp_path)
    assert subjects == ["CN=ipo1.example.com", "CN=TLS Issuing CA", "CN=TLS Root CA"]
    assert "Verify return code: 0 (ok)" in out
