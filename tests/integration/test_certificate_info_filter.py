"""The ipoffice.security.certificate_info filter: direct calls for breadth, one real ansible-playbook run
for the plugin contract (loading by FQCN, slurp input, errors), and ansible-doc for its documentation."""

import base64
import json
import os
import subprocess

import pytest

import helpers

from ansible.errors import AnsibleFilterError
from ansible_collections.ipoffice.security.plugins.filter.certificate_info import certificate_info
from ansible_collections.ipoffice.security.plugins.module_utils import _certs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7


@pytest.fixture(scope="module")
def pki():
    root_key = _certs.generate_private_key("sha256_ecdsa_p256")
    root = _certs.build_certificate("CN=Filter Root,O=Example", root_key, 3650, "sha256_ecdsa_p256", ca=True)
    leaf_key = _certs.generate_private_key("sha256_ecdsa_p256")
    leaf = _certs.build_certificate("sbc.example.com", leaf_key, 90, "sha256_ecdsa_p256",
                                    subject_alt_names=["DNS:sbc.example.com", "IP:192.0.2.5"],
                                    issuer_cert=root, issuer_key=root_key)
    return {"root": root, "root_key": root_key, "leaf": leaf}


def test_pem_der_base64_and_slurp_forms_give_the_same_fields(pki):
    leaf = pki["leaf"]
    pem = _certs.cert_pem(leaf)
    der = leaf.public_bytes(serialization.Encoding.DER)
    expected = _certs.cert_info(leaf)
    forms = [pem.decode(), pem, der, base64.b64encode(der).decode(), base64.b64encode(pem).decode()]
    for form in forms:
        info = certificate_info(form)
        assert info == expected
    assert expected["subject_alt_names"] == ["DNS:sbc.example.com", "IP:192.0.2.5"]
    assert expected["is_ca"] is False and expected["key_type"] == "EC" and expected["key_curve"] == "secp256r1"
    assert 88 <= expected["days_left"] <= 90 and expected["sha256"] == _certs.fingerprint(leaf)


def test_all_returns_every_certificate_in_order(pki):
    bundle = _certs.certs_pem([pki["leaf"], pki["root"]]).decode()
    infos = certificate_info(bundle, all=True)
    assert [i["sha256"] for i in infos] == [_certs.fingerprint(pki["leaf"]), _certs.fingerprint(pki["root"])]
    p7 = pkcs7.serialize_certificates([pki["root"], pki["leaf"]], serialization.Encoding.PEM)
    assert len(certificate_info(p7, all=True)) == 2
    with pytest.raises(AnsibleFilterError) as info:
        certificate_info(bundle)
    assert "2 certificates" in str(info.value) and "all=true" in str(info.value)


@pytest.mark.parametrize("bad, code", [
    ("not a certificate", "invalid_certificate"),
    ("", "empty_input"),
    ("KEY", "private_key_in_bundle"),
    ("TRUNCATED", "invalid_certificate"),
])
def test_bad_input_is_a_clear_filter_error(pki, bad, code):
    if bad == "KEY":
        bad = (_certs.cert_pem(pki["root"]) + _certs.key_pem(pki["root_key"])).decode()
    elif bad == "TRUNCATED":
        bad = base64.b64encode(pki["root"].public_bytes(serialization.Encoding.DER)[:120]).decode()
    with pytest.raises(AnsibleFilterError) as info:
        certificate_info(bad)
    assert "[error: %s]" % code in str(info.value)
    assert "BEGIN" not in str(info.value)


def test_non_text_input_is_refused():
    with pytest.raises(AnsibleFilterError) as info:
        certificate_info({"content": "x"})
    assert "expects certificate text" in str(info.value)


def test_filter_through_ansible_playbook_with_slurp(pki, tmp_path):
    pem_file = tmp_path / "leaf.pem"
    pem_file.write_bytes(_certs.cert_pem(pki["leaf"]))
    bundle = _certs.certs_pem([pki["leaf"], pki["root"]]).decode()
    run = helpers.run_tasks([
        {"ansible.builtin.slurp": {"src": str(pem_file)}},
        {"ansible.builtin.set_fact": {
            "from_slurp": "{{ r0.content | ipoffice.security.certificate_info }}",
            "from_lookup": "{{ lookup('ansible.builtin.file', '%s') | ipoffice.security.certificate_info }}" % pem_file,
            "chain_fps": "{{ bundle | ipoffice.security.certificate_info(all=true) | map(attribute='sha256') | list }}",
        }},
        {"ansible.builtin.debug": {"msg": "{{ 'garbage' | ipoffice.security.certificate_info }}"}},
    ], tmp_path, extra_vars={"bundle": bundle})
    facts = run.results[1]["ansible_facts"]
    expected = json.loads(json.dumps(_certs.cert_info(pki["leaf"])))
    assert facts["from_slurp"] == expected and facts["from_lookup"] == expected
    assert facts["chain_fps"] == [_certs.fingerprint(pki["leaf"]), _certs.fingerprint(pki["root"])]
    failed = run.results[2]
    assert failed.get("failed") is True and "[error: invalid_certificate]" in failed["msg"]


def test_ansible_doc_renders_the_filter_documentation():
    env = helpers.ansible_env()
    out = subprocess.run([os.path.join(helpers.VENV_BIN, "ansible-doc"), "-t", "filter", "--json",
                          "ipoffice.security.certificate_info"], capture_output=True, text=True, env=env, check=True)
    doc = json.loads(out.stdout)["ipoffice.security.certificate_info"]
    assert set(doc["doc"]["options"]) == {"_input", "all"}
    assert "sha256" in doc["return"]["_value"]["contains"]
    assert "certificate_info(all=true)" in doc["examples"]
