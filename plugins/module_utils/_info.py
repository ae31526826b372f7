# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secret-free descriptions of a store's state: what security_info returns and diffs show."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _dependents
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError

# Metadata keys a credential may carry that are safe to show.
PUBLIC_META = ("source", "subject_name", "subject_alt_names", "signature", "valid_days", "issued_by",
               "scep_transaction_id", "imported_from", "issuer_store", "issuer_subject", "issued_days",
               "previous_issuers", "previous")


def credential_info(state, credential, now=None):
    if credential is None:
        return None
    info = _certs.cert_info(credential.cert, now)
    info["source"] = credential.meta.get("source")
    info["request"] = dict((k, v) for k, v in credential.meta.items() if k in PUBLIC_META and k != "source")
    info["chain"] = [_certs.cert_info(c, now) for c in state.chain_for(credential)]
    info["offered_chain"] = [_certs.fingerprint(c) for c in state.offered_chain(credential)]
    return info


def settings_info(state):
    """Settings by area; the SCEP password only as 'password_set'."""
    result = dict((area, dict(values)) for area, values in state.settings.items())
    result["scep"]["password_set"] = bool(state.secrets.get("scep_password"))
    return result


def expiring(state, now=None):
    """Every stored certificate expiring within Certificate Expiry Warning Days (or already expired)."""
    now = now or _certs.utcnow()
    days = state.settings["checks"]["certificate_expiry_warning_days"]
    result = []
    seen = set()
    for where, cert in state.all_certificates():
        fp = _certs.fingerprint(cert)
        if (where, fp) in seen:
            continue
        seen.add((where, fp))
        left = _certs.days_left(cert, now)
        if left < days:
            result.append({"where": where, "subject": cert.subject.rfc4514_string(), "sha256": fp,
                           "not_after": _certs.cert_info(cert, now)["not_after"], "days_left": left,
                           "expired": cert.not_valid_after_utc < now})
    return sorted(result, key=lambda item: (item["days_left"], item["where"], item["sha256"]))


def files_info(store):
    """Paths of the TLS-service files of the current generation (stable through the 'current' link)."""
    root = store.current_link
    result = {"current": root,
              "identity_cert": os.path.join(root, "identity", "cert.pem"),
              "identity_key": os.path.join(root, "identity", "key.pem"),
              "identity_chain": os.path.join(root, "identity", "chain.pem"),
              "identity_fullchain": os.path.join(root, "identity", "fullchain.pem"),
              "trusted_dir": os.path.join(root, "tcs"),
              "trusted_bundle": os.path.join(root, "tcs", "bundle.pem")}
    return result


def snapshot(store, state, now=None):
    """The whole read-only picture security_info returns."""
    identity = credential_info(state, state.identity, now)
    found = _dependents.dependents(state, now)
    return {
        "store_path": store.path,
        "platform": state.platform,
        "system_name": state.system_name,
        "generation": state.generation,
        "offer_certificate": True,
        "issued_to": identity["common_name"] if identity else None,
        "settings": settings_info(state),
        "identity": identity,
        "telephony_identity": credential_info(state, state.telephony, now),
        "ca": ca_info(state, now),
        "trusted": [_dependents.with_dependents(_certs.cert_info(c, now), found) for c in state.trusted_certificates()],
        "trusted_count": len(state.trusted),
        "expiring": expiring(state, now),
        "generations": [dict((k, v) for k, v in g.items()) for g in store.generations()],
        "keep_generations": state.keep_generations,
        "dependents_max_age_days": state.dependents_max_age_days,
        "preflight_records": _dependents.records_view(state, now),
        "files": files_info(store),
    }


def ca_info(state, now=None):
    """The internal CA as parsed fields, with how it was made (``previous``: the CAs it replaced)."""
    if state.ca is None:
        return None
    info = _certs.cert_info(state.ca.cert, now)
    info["request"] = dict((k, v) for k, v in state.ca.meta.items() if k in PUBLIC_META)
    return info


def identity_findings(state, now=None):
    """How a peer would judge this system's identities at high_remote (the strictest level).

    The peer is assumed to trust what this system trusts (its TCS), to receive the offered chain, and to
    connect to the identity's common name (the system name when there is none); purpose server.
    One dict per failing check: where (identity or telephony), code, message.
    """
    # Imported here: identity_certificate and scep import this module for credential_info only, and a
    # module process pays to compile _checks (~40 KB) from the AnsiballZ zip on every run.
    from ansible_collections.ipoffice.security.plugins.module_utils import _checks

    result = []
    for where, credential in (("identity", state.identity), ("telephony", state.telephony)):
        if credential is None:
            continue
        report = _checks.evaluate(credential.cert, level="high_remote", purpose="server",
                                  chain=tuple(state.offered_chain(credential)[1:]),
                                  trusted=tuple(state.trusted_certificates()),
                                  peer_name=_certs.common_name(credential.cert) or state.system_name, at=now)
        for code, message in report.findings:
            result.append({"where": where, "code": code, "message": message})
    return result


def apply_query(data, expression, option="query"):
    """A JMESPath expression over data (raises SecurityError on a bad expression or missing jmespath)."""
    try:
        import jmespath
    except ImportError:
        raise SecurityError("missing_library", "The 'query' option needs the Python library jmespath on the managed "
                            "node (pip install jmespath).", option=option)
    try:
        return jmespath.search(expression, data)
    except jmespath.exceptions.JMESPathError as exc:
        raise SecurityError("invalid_query", "The JMESPath expression %r is invalid: %s. Change the '%s' option."
                            % (expression, str(exc).splitlines()[0], option), option=option)


def uninitialised(store):
    """What security_info returns for a store that does not exist yet: nothing but its path."""
    return {"store_path": store.path, "initialised": False, "platform": None, "system_name": None, "generation": 0,
            "offer_certificate": None, "issued_to": None, "settings": None, "identity": None,
            "telephony_identity": None, "ca": None, "trusted": [], "trusted_count": 0, "expiring": [],
            "generations": [], "keep_generations": None, "dependents_max_age_days": None, "preflight_records": [],
            "files": None, "findings": [], "live": []}


def run(store, params, check_mode=False, want_diff=False):
    """The security_info module: a read-only snapshot of one store.

    Reads one generation without the writer lock and never writes: a store that does not exist is
    reported as ``initialised: false`` and left absent (check mode or not).
    With ``live_endpoints``, also what the live system serves there, compared with the store (_live), and
    for the endpoints with ``probe: true`` what it enforces, judged with the ``live_probe_ca`` (_probe).
    """
    endpoints = None
    probe_ca = None
    if params.get("live_endpoints"):
        from ansible_collections.ipoffice.security.plugins.module_utils import _live
        endpoints = _live.validate_endpoints(params["live_endpoints"])
        timeout = _live.validate_timeout(params.get("live_timeout"))
    if params.get("live_probe_ca"):
        # Read (never copied) before anything is contacted: a bad probe CA fails the run at once.
        from ansible_collections.ipoffice.security.plugins.module_utils import _probe
        probe_ca = _probe.load_probe_ca(params["live_probe_ca"])
    if endpoints:
        _live.check_probe(endpoints, probe_ca)
    state = store.read(initial=False)
    if state is None:
        if endpoints:  # a missing store has no lines either (its initial state, generated, never written)
            _live.check_lines(store.read(), endpoints)
        result = uninitialised(store)
    else:
        if endpoints:
            _live.check_lines(state, endpoints)
        result = snapshot(store, state)
        result["initialised"] = True
        result["findings"] = identity_findings(state)
        # Imported here: only a store with an identity issued by another store reads that store.
        from ansible_collections.ipoffice.security.plugins.module_utils import _issuer
        result["findings"].extend(_issuer.issuer_findings(state, store.path))
    result["changed"] = False
    result["live"] = []
    if endpoints and state is not None:
        result["live"] = _live.read_back_all(state, endpoints, timeout, probe_ca=probe_ca)
        for endpoint in result["live"]:
            result["findings"].extend(endpoint["findings"])
    if params.get("query"):
        result["query_result"] = apply_query(result, params["query"])
    return result
