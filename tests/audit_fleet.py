"""A fleet of real systems for the audit's unit tests (tests/unit/plugins/plugin_utils).

Inputs are real security_info snapshots of real stores (real certificates, keys and signatures), so a
change to what security_info returns that breaks the audit fails the audit's tests.
"""

import datetime

from ansible_collections.ipoffice.security.plugins.module_utils import _certs
from ansible_collections.ipoffice.security.plugins.module_utils import _info
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore
from ansible_collections.ipoffice.security.plugins.plugin_utils import _audit_findings

NOW = _certs.utcnow()


def make_info(path, name, mutate=None, platform="server"):
    """What security_info returns for a real store (its findings included)."""
    store = DirectoryStore(path=str(path), platform=platform, system_name=name, system_addresses=[])
    store.update(mutate or (lambda state: None))
    return _info.run(store, {})


def issued(ca_cert, ca_key, name, days, signature="sha256_rsa2048", not_before=None):
    key = _certs.generate_private_key(signature)
    return _certs.build_certificate("CN=" + name, key, days, signature=signature, subject_alt_names=["DNS:" + name],
                                    issuer_cert=ca_cert, issuer_key=ca_key, not_before=not_before)


def make_fleet(base):
    """Four real systems: a fresh one, a hardened one, one with problems, an IP500 V2."""
    root_key = _certs.generate_private_key("sha256_rsa2048")
    root = _certs.build_certificate("CN=Audit Test Root", root_key, 3650, ca=True)
    sha1_root_key = _certs.generate_private_key("sha1_rsa1024")
    sha1_root = _certs.build_certificate("CN=Legacy SHA1 Root", sha1_root_key, 3650, signature="sha1_rsa1024",
                                         ca=True)
    weak_leaf = issued(root, root_key, "weak.example.com", 400, signature="sha1_rsa1024")
    soon = issued(root, root_key, "soon.example.com", 10)
    expired = issued(root, root_key, "gone.example.com", 30, not_before=NOW - datetime.timedelta(days=100))

    def harden(state):
        state.settings["checks"].update(management_interfaces="high_remote", telephony_endpoints="high",
                                        ip_office_lines=[{"name": "branch", "transport": "websocket_client",
                                                          "check_level": "high"}])
        state.add_trusted([root])

    def trouble(state):
        state.settings["checks"].update(management_interfaces="medium_remote", telephony_endpoints="low",
                                        sip_security_level="medium",
                                        ip_office_lines=[{"name": "hq", "transport": "websocket_server",
                                                          "check_level": "none"}])
        state.add_trusted([root, sha1_root, weak_leaf, soon, expired])

    return {
        "fresh": make_info(base / "fresh", "fresh.example.com"),
        "hardened": make_info(base / "hardened", "hardened.example.com", harden),
        "trouble": make_info(base / "trouble", "trouble.example.com", trouble),
        "small": make_info(base / "small", "small.example.com", platform="ip500v2"),
        "certs": {"weak": weak_leaf, "soon": soon, "expired": expired, "sha1_root": sha1_root},
    }


def endpoint_results():
    return [
        {"item": {"name": "sip-trunk", "host": "127.0.0.1", "port": 5061, "level": "high"}, "passed": True,
         "findings": [], "certificate": {"subject": "CN=ok", "not_after": "2030-01-01T00:00:00Z", "sha256": "aa"}},
        {"item": {"name": "web", "host": "127.0.0.1", "port": 8443, "level": "medium"}, "passed": False,
         "findings": [{"code": "untrusted_chain", "message": "no path to a trusted root"},
                      {"code": "expired", "message": "expired on 2020-01-01"}]},
        {"item": {"host": "db.example.com", "port": 443}, "failed": True, "error": "connection_refused",
         "msg": "Connection refused by db.example.com:443"},
        # The role registers with failed_when: false, so a failure arrives with failed=false and no verdict.
        {"item": {"name": "pbx", "host": "10.0.0.9", "port": 5061}, "failed": False, "changed": False,
         "error": "timeout", "msg": "No answer from 10.0.0.9:5061 within 10 s"},
    ]


def fleet_report(fleet, fail_on=None, policy=None):
    systems = {"fresh": {"info": fleet["fresh"]}, "hardened": {"info": fleet["hardened"],
                                                               "verify": endpoint_results()},
               "trouble": {"info": fleet["trouble"]}, "small": {"info": fleet["small"]},
               "down <&>": {"info": {"failed": True, "msg": "unreachable <script>"}}}
    return _audit_findings.build_report(systems, policy=policy, generated=NOW, fail_on=fail_on)
