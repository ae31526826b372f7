"""_info.identity_findings: the system's own identities as a peer would judge them at high_remote."""

import datetime

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils._info import identity_findings
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential, initial_state


def test_server_identity_only_lacks_its_pin_until_it_is_in_the_tcs():
    state = initial_state("server", "ipo1.example.com", ["192.0.2.10"])
    findings = identity_findings(state)
    assert [(f["where"], f["code"]) for f in findings] == [("identity", "not_pinned")]
    assert "ipo1.example.com" in findings[0]["message"]
    state.add_trusted([state.identity.cert])
    assert identity_findings(state) == []


def test_ip500v2_self_signed_identity_fails_a_peers_high_remote():
    state = initial_state("ip500v2", "ipo2.example.com", [])
    codes = set(f["code"] for f in identity_findings(state))
    assert {"self_signed", "untrusted_chain", "not_pinned"} <= codes


def test_telephony_identity_is_judged_too_and_expiry_shows():
    state = initial_state("server", "ipo1.example.com", [])
    state.add_trusted([state.identity.cert])
    key = _certs.generate_private_key()
    cert = _certs.build_certificate("CN=sip.ipo1.example.com", key, 30, subject_alt_names=["DNS:other.example.com"],
                                    issuer_cert=state.ca.cert, issuer_key=state.ca.key)
    state.telephony = Credential(cert, key, {"source": "ca"})
    later = _certs.utcnow() + datetime.timedelta(days=60)
    by_where = {}
    for finding in identity_findings(state, now=later):
        by_where.setdefault(finding["where"], set()).add(finding["code"])
    assert {"expired", "name_mismatch", "not_pinned"} <= by_where["telephony"]
    assert "identity" not in by_where  # the pinned system identity is valid for years
