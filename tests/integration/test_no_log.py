"""A private key pasted into the wrong option never reaches -vvv output (real ansible-playbook runs).

The content options of certificate_verify (certificate, chain, trusted), identity_certificate
(chain_content) and issued_certificate (csr_content) are given PEM bundles that carry a private key by
mistake; the whole verbose output, and the registered results, must not contain any line of the key.
"""

import json

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils import _certs


def test_keys_pasted_into_content_options_stay_out_of_verbose_output(tmp_path):
    root_key = _certs.generate_private_key("sha256_ecdsa_p256")
    root = _certs.build_certificate("CN=No Log Root", root_key, 365, ca=True)
    key = _certs.generate_private_key("sha256_rsa2048")
    leaf = _certs.build_certificate("ipo1.example.com", key, 365, subject_alt_names=["DNS:ipo1.example.com"],
                                    issuer_cert=root, issuer_key=root_key)
    key_text = _certs.key_pem(key).decode()
    root_key_text = _certs.key_pem(root_key).decode()
    leaf_text, root_text = _certs.cert_pem(leaf).decode(), _certs.cert_pem(root).decode()
    store = {"store_path": str(tmp_path / "store"), "system_name": "ipo1.example.com",
             "system_addresses": ["192.0.2.10"]}
    verify = dict(store, level="medium", peer_name="ipo1.example.com")
    tasks = [
        {"ipoffice.security.certificate_checks": store},
        {"ipoffice.security.certificate_verify": dict(verify, certificate={"content": leaf_text + key_text})},
        {"ipoffice.security.certificate_verify": dict(verify, certificate={"content": leaf_text},
                                                      chain=[{"content": root_key_text + root_text}])},
        {"ipoffice.security.certificate_verify": dict(verify, certificate={"content": leaf_text},
                                                      trusted=[{"content": root_text + root_key_text}])},
        {"ipoffice.security.identity_certificate": dict(
            store, source="import", certificate_content=leaf_text + key_text,
            chain_content=root_text + root_key_text)},
        {"ipoffice.security.issued_certificate": dict(
            store, csr_content=key_text, path=str(tmp_path / "out.crt"))},
    ]
    run = helpers.run_tasks(tasks, tmp_path, env={"ANSIBLE_VERBOSITY": "3"}, diff=True)
    # each option was really read (the keys are refused or ignored, never echoed)
    for result, option in zip(run.results[1:4], ("certificate.content", "chain[0].content", "trusted[0].content")):
        assert result.get("failed") and result["error"] == "private_key_in_bundle", result
        assert result["option"].replace("[0]", "") == option.replace("[0]", ""), result
    # the key pasted into chain_content is found there and refused, naming that option
    assert run.results[4].get("failed") and run.results[4]["error"] == "private_key_in_bundle", run.results[4]
    assert run.results[4]["option"] == "chain_content", run.results[4]
    assert run.results[5].get("failed"), run.results[5]
    everything = run.stdout + run.stderr + json.dumps(run.results)
    assert "ipoffice.security.certificate_verify" in everything  # -vvv really printed the invocations
    for text in (key_text, root_key_text):
        body = [line for line in text.splitlines() if line and not line.startswith("-----")]
        leaked = [line for line in body if line in everything]
        assert body and not leaked, "a private key line reached the output: %r" % leaked[:1]
