"""The audit's per-root view across the fleet (_audit_roots.fleet_roots): for each root, every system that
trusts it, chains to it, pins a peer under it or was issued by it, a Server Edition primary's secondaries
included. Real DirectoryStores and certificates; the snapshots are security_info's own."""

import html.parser

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _info, _settings
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore
from ansible_collections.ipoffice.security.plugins.plugin_utils import _audit_findings, _audit_render

EC = "sha256_ecdsa_p256"
IDENTITY_KEYS = ("source", "subject_name", "subject_alt_names", "signature", "valid_days", "renew_before_days",
                 "certificate_path", "certificate_content", "password", "private_key_path", "private_key_content",
                 "private_key_password", "chain_path", "chain_content", "issuer_store", "offer_id_certificate_chain",
                 "automatic_certificate_management", "san_details_origin", "automatic_phone_provisioning")


def _params(store, **areas):
    result = {"store_path": store.path, "platform": None, "system_name": store.system_name,
              "system_addresses": ["192.0.2.40"], "lock_timeout": 60, "keep_generations": None,
              "dependents_max_age_days": None}
    for area in _settings.AREAS:
        result[area] = areas.get(area)
    return result


def _identity(**options):
    area = dict((key, None) for key in IDENTITY_KEYS)
    area.update(regenerate="full_idempotence", **options)
    return area


def _snapshot(store):
    info = dict(_info.run(store, {"store_path": store.path}))
    return {"info": info}


class _Rows(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-fleet-root" in attrs:
            self.rows.append((attrs["data-fleet-root"], attrs["data-system"], attrs["data-relations"]))


def test_per_root_every_system_that_trusts_chains_pins_or_was_issued_by_it(tmp_path):
    stores = dict((name, DirectoryStore(str(tmp_path / name), system_name=name + ".example.com",
                                        system_addresses=["192.0.2.40"]))
                  for name in ("primary", "sec1", "sec2", "branch"))
    _settings.run(stores["primary"], _params(stores["primary"], identity=_identity(source="ca")))
    for name in ("sec1", "sec2"):
        _settings.run(stores[name], _params(stores[name], identity=_identity(
            source="issued_by", issuer_store=stores["primary"].path, subject_name=name + ".example.com")))
    root_key = _certs.generate_private_key(EC)
    corp = _certs.build_certificate("CN=Corp Root 2015,O=Example", root_key, 3650, EC, ca=True)
    sbc = _certs.build_certificate("sbc.example.com", _certs.generate_private_key(EC), 365, EC,
                                   subject_alt_names=["DNS:sbc.example.com"], issuer_cert=corp, issuer_key=root_key)
    _settings.run(stores["branch"], _params(stores["branch"], trusted={
        "certificates": [{"content": _certs.certs_pem([corp, sbc]).decode()}], "exclusive": False, "absent": [],
        "retire": [], "allow_in_use": False}, checks={"telephony_endpoints": "high_remote", "preflight_mode": "skip"}))
    report = _audit_findings.build_report(dict((name, _snapshot(store)) for name, store in stores.items()))
    roots = dict((r["sha256"], r) for r in report["fleet_roots"])
    primary_ca = stores["primary"].read().ca
    view = dict((s["system"], s["relations"]) for s in roots[primary_ca.fingerprint]["systems"])
    # the primary trusts its CA and its identity chains to it and was issued by it; each secondary trusts it
    # (added with the identity), chains to it and was issued by it
    assert view == {"primary": ["trusts", "chains_to", "issued_by"], "sec1": ["trusts", "chains_to", "issued_by"],
                    "sec2": ["trusts", "chains_to", "issued_by"]}
    sec1 = [s for s in roots[primary_ca.fingerprint]["systems"] if s["system"] == "sec1"][0]
    assert "source issued_by, issuer_store %s" % stores["primary"].path in " ".join(sec1["details"])
    corp_view = dict((s["system"], s["relations"]) for s in roots[_certs.fingerprint(corp)]["systems"])
    assert corp_view == {"branch": ["trusts", "pins"]}
    assert not any(r["subject"].startswith("CN=sbc") for r in report["fleet_roots"])

    # after the primary's CA is regenerated, the secondaries still chain to the old one and say so
    _settings.run(stores["primary"], _params(stores["primary"], ca={
        "subject_name": "CN=Primary Root 2025", "signature": None, "valid_days": None,
        "regenerate": "full_idempotence", "renew_before_days": None, "retire_previous": True,
        "allow_in_use": False}))
    report = _audit_findings.build_report(dict((name, _snapshot(store)) for name, store in stores.items()))
    roots = dict((r["sha256"], r) for r in report["fleet_roots"])
    old_view = dict((s["system"], s["relations"]) for s in roots[primary_ca.fingerprint]["systems"])
    assert old_view == {"sec1": ["trusts", "chains_to", "issued_by"], "sec2": ["trusts", "chains_to", "issued_by"]}
    issuer = [f for f in report["systems"][2]["findings"] if f["check"] == "issuer"]
    assert report["systems"][2]["name"] == "sec1"
    assert [(f["code"], f["severity"]) for f in issuer] == [("issuer_changed", "warning")]
    page = _audit_render.to_html(report)
    rows = _Rows()
    rows.feed(page)
    assert (primary_ca.fingerprint, "sec2", "trusts chains_to issued_by") in rows.rows
    assert "Roots across the fleet" in page
