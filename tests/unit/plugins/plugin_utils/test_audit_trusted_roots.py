"""The audit report's per-root table: which systems trust each root and what relies on it there.

The data is security_info's ``trusted[].dependents`` (real DirectoryStores, real certificates), the
table is built by _audit_findings.trusted_roots and rendered in the HTML page.
"""

import html.parser

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _info, _trusted
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore
from ansible_collections.ipoffice.security.plugins.plugin_utils import _audit_findings, _audit_render

EC = "sha256_ecdsa_p256"


def _systems(tmp_path):
    """ipo-a trusts the corporate root with nothing on it; ipo-b pins an SBC leaf under it at high_remote."""
    root_key = _certs.generate_private_key(EC)
    root = _certs.build_certificate("CN=Corp Root 2015,O=Example", root_key, 3650, EC, ca=True)
    sbc_key = _certs.generate_private_key(EC)
    sbc = _certs.build_certificate("sbc.example.com", sbc_key, 365, EC, subject_alt_names=["DNS:sbc.example.com"],
                                   issuer_cert=root, issuer_key=root_key)
    infos = {}
    for name, certs in (("ipo-a", [root]), ("ipo-b", [root, sbc])):
        store = DirectoryStore(str(tmp_path / name), system_name=name + ".example.com",
                               system_addresses=["192.0.2.30"])
        _trusted.converge(store, [{"content": _certs.certs_pem(certs).decode()}])
        if name == "ipo-b":
            store.update(lambda state: state.settings["checks"].update(telephony_endpoints="high_remote"))
        infos[name] = {"info": dict(_info.snapshot(store, store.read()), initialised=True)}
    return infos, _certs.fingerprint(root)


class _Rows(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-root" in attrs:
            self.rows.append((attrs["data-root"], attrs["data-system"], int(attrs["data-dependents"])))


def test_each_root_lists_the_systems_trusting_it_and_what_relies_on_it(tmp_path):
    systems, root_fp = _systems(tmp_path)
    report = _audit_findings.build_report(systems)
    roots = dict((r["sha256"], r) for r in report["trusted_roots"])
    corp = roots[root_fp]
    assert corp["subject"] == "CN=Corp Root 2015,O=Example"
    assert [s["system"] for s in corp["systems"]] == ["ipo-a", "ipo-b"]
    assert corp["relied_on_by"] == ["ipo-b"]
    [dependent] = corp["systems"][1]["dependents"]
    assert dependent["kind"] == "pinned_peer" and "sbc.example.com" in dependent["description"]
    assert corp["systems"][0]["dependents"] == []
    # each system's own internal CA is a root its identity relies on; the SBC leaf is no root
    own = [r for r in report["trusted_roots"] if r["subject"].startswith("CN=IP Office Root CA")]
    assert sorted(r["relied_on_by"][0] for r in own) == ["ipo-a", "ipo-b"] and len(own) == 2
    assert all(not r["subject"].startswith("CN=sbc") for r in report["trusted_roots"])

    page = _audit_render.to_html(report)
    rows = _Rows()
    rows.feed(page)
    assert (root_fp, "ipo-a", 0) in rows.rows and (root_fp, "ipo-b", 1) in rows.rows
    assert "pinned_peer: the pinned peer certificate CN=sbc.example.com" in page
    assert "nothing recorded relies on it" in page
    # the JSON report carries the same table
    assert _audit_render.to_json(report).count(root_fp) >= 2
