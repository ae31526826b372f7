# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet audit's per-root view: every system across the fleet that relies on each root.

From each system's ``security_info`` result, per root CA (a self-signed CA certificate):

- ``trusts``: the root is in the system's trusted store;
- ``chains_to``: the system's identity (or telephony identity) chains to it;
- ``pins``: a peer certificate pinned there chains to it;
- ``issued_by``: the system's identity was issued by it (``source: ca`` by its own internal CA,
  ``source: issued_by`` by another system's CA, a Server Edition secondary by its primary's);
- ``verified_through``: a preflight endpoint was last verified through it;
- ``issued``: a certificate For Different Machine that the system's CA issued chains to it.

So before a root goes (``trusted.retire``, a new internal CA) the report says which systems will have to move
first, including the ones that never trusted it but were issued by it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

RELATIONS = ("trusts", "chains_to", "pins", "issued_by", "verified_through", "issued")
_FROM_DEPENDENT = {"identity_chain": "chains_to", "pinned_peer": "pins", "preflight_endpoint": "verified_through",
                   "issued_certificate": "issued"}


def _dependent_detail(dependent):
    kind = dependent.get("kind")
    if kind == "identity_chain":
        return "%s identity %s" % (dependent.get("purpose") or "system", dependent.get("subject"))
    if kind == "preflight_endpoint":
        return "endpoint %s" % dependent.get("endpoint")
    return "%s %s" % ("peer" if kind == "pinned_peer" else "certificate", dependent.get("subject"))


def fleet_roots(items):
    """[{sha256, subject, not_after, systems: [{system, relations, details}]}] per root, from
    [{'name', 'info'}] (security_info results); systems without a snapshot are left out."""
    roots = {}

    def relate(fp, subject, not_after, system, relation, detail):
        if not fp:
            return
        root = roots.setdefault(fp, {"sha256": fp, "subject": subject, "not_after": not_after, "systems": {}})
        root["subject"] = root["subject"] or subject
        root["not_after"] = root["not_after"] or not_after
        entry = root["systems"].setdefault(system, {"system": system, "relations": set(), "details": []})
        entry["relations"].add(relation)
        if detail and detail not in entry["details"]:
            entry["details"].append(detail)

    for item in items:
        info = item.get("info") if isinstance(item, dict) else None
        if not isinstance(info, dict) or not info.get("settings"):
            continue
        name = str(item.get("name"))
        for entry in info.get("trusted") or []:
            if not (entry.get("is_ca") and entry.get("self_signed")):
                continue
            fp, subject, not_after = entry.get("sha256"), entry.get("subject"), entry.get("not_after")
            relate(fp, subject, not_after, name, "trusts", None)
            for dependent in entry.get("dependents") or []:
                relation = _FROM_DEPENDENT.get(dependent.get("kind"))
                if relation:
                    relate(fp, subject, not_after, name, relation, _dependent_detail(dependent))
        for where, identity in (("system", info.get("identity")), ("telephony", info.get("telephony_identity"))):
            if not isinstance(identity, dict):
                continue
            chain = identity.get("chain") or []
            if chain and chain[-1].get("self_signed"):
                top = chain[-1]
                relate(top.get("sha256"), top.get("subject"), top.get("not_after"), name, "chains_to",
                       "%s identity %s" % (where, identity.get("subject")))
            request = identity.get("request") or {}
            if request.get("issued_by"):
                issuer_store = request.get("issuer_store")
                detail = "%s identity %s (source %s%s)" % (where, identity.get("subject"), identity.get("source"),
                                                           ", issuer_store %s" % issuer_store if issuer_store else "")
                relate(request["issued_by"], request.get("issuer_subject") or identity.get("issuer"), None, name,
                       "issued_by", detail)
    result = []
    for root in sorted(roots.values(), key=lambda r: (r["subject"] or "", r["sha256"])):
        systems = []
        for system in sorted(root["systems"]):
            entry = root["systems"][system]
            systems.append({"system": system, "relations": [r for r in RELATIONS if r in entry["relations"]],
                            "details": entry["details"]})
        result.append(dict(root, systems=systems))
    return result
