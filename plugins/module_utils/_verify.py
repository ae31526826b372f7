# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the certificate_verify module decides: load the inputs, choose the trust, run the engine,
build the result.  Read-only: the store is only ever read."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _endpoints
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError, medium_latent


def _load_item(item, option, single):
    if not isinstance(item, dict):
        raise SecurityError("invalid_setting", "%s must be a dictionary with path or content. Change the '%s' "
                            "option." % (option, option), option=option)
    path, content = item.get("path"), item.get("content")
    if path is None and content is None:
        raise SecurityError("missing_option", "%s must set one of path or content; it sets neither. Change the '%s' "
                            "option." % (option, option), option=option)
    if path is not None and content is not None:
        raise SecurityError("conflicting_options", "%s must set exactly one of path or content; it sets both. Change "
                            "the '%s' option." % (option, option), option=option)
    sub = "%s.%s" % (option, "path" if path is not None else "content")
    data = _certs.read_input(path=path, content=content, option=sub)
    if single:
        return [_certs.load_certificate(data, option=sub)]
    return _certs.load_certificates(data, option=sub)


def load_list(items, option):
    """Certificates of a list of {path|content} items (each may be a bundle), in order."""
    certs = []
    for index, item in enumerate(items or []):
        certs.extend(_load_item(item, "%s[%d]" % (option, index), single=False))
    return certs


# Options that describe an endpoint item as well as a certificate: given at the top level they apply to
# the endpoint too (the same item, the same meaning: _endpoints).
ITEM_OPTIONS = ("purpose", "peer_name", "sip_domain")


def endpoint_item(params):
    """The 'endpoint' option in canonical form (_endpoints.resolve), with the top-level purpose, peer_name and
    sip_domain applied to it when it does not set them itself."""
    raw = params["endpoint"]
    if not isinstance(raw, dict):
        return _endpoints.resolve(raw, "endpoint")
    item = dict(raw)
    for key in ITEM_OPTIONS:
        value = params.get(key)
        if value is None:
            continue
        if item.get(key) is not None and item[key] != value:
            raise SecurityError("conflicting_options", "'%s' is %r but endpoint.%s is %r: give it in one place. Change "
                                "the '%s' or the 'endpoint.%s' option." % (key, value, key, item[key], key, key),
                                option=key)
        item[key] = value
    return _endpoints.resolve(item, "endpoint")


def presented_certificates(params):
    """(leaf, chain, endpoint) from the 'certificate' + 'chain' options or from the live 'endpoint'."""
    if params.get("endpoint"):
        if params.get("certificate") or params.get("chain"):
            raise SecurityError("conflicting_options", "Give either 'endpoint' or 'certificate' (with 'chain'), not "
                                "both.", option="endpoint")
        endpoint = endpoint_item(params)
        certs = _endpoints.fetch(endpoint)
        return certs[0], certs[1:], endpoint
    if not params.get("certificate"):
        raise SecurityError("missing_option", "Nothing to verify: set 'certificate' (path or content) or "
                            "'endpoint' (host and port).", option="certificate")
    leaf = _load_item(params["certificate"], "certificate", single=True)[0]
    return leaf, load_list(params.get("chain"), "chain"), None


def trust_for(params, store):
    """(trusted certificates, identity certificates, trust source, the store's checks settings or None).

    The store's TCS and identities unless 'trusted' is given; with 'trusted' the store is read only
    when it exists, for the 'reflected' check (an uninitialised store has no identity to reflect).
    """
    trusted = params.get("trusted")
    if trusted is not None:
        certs = load_list(trusted, "trusted")
        identities, checks = [], None
        exists = getattr(store, "exists", None)
        if exists is None or exists():
            state = store.read()
            identities, checks = _identities(state), state.settings["checks"]
        return certs, identities, "trusted", checks
    state = store.read()
    return state.trusted_certificates(), _identities(state), "store", state.settings["checks"]


def _identities(state):
    return [cred.cert for cred in (state.identity, state.telephony) if cred is not None]


def latent_warning(result, checks, where):
    """What a latent medium level means for this verdict (the system judges at the older medium today)."""
    latent = result["latent_medium"]
    today = "accepts it" if latent["passed"] else "rejects it too (%s)" % ", ".join(latent["codes"])
    if result["passed"]:
        return None
    codes = ", ".join(latent["added_codes"]) or ", ".join(result["codes"])
    return ("This system runs release %s and its medium level was set before the upgrade to R11.1.3 and not "
            "re-applied (checks.medium_reapplied is false): today it judges at the older medium and %s; once medium "
            "is re-applied it rejects the certificate%s for %s." % (checks.get("release"), today, where, codes))


def verify(params, store, at=None):
    """The certificate_verify result for module params (a dict); raises SecurityError on bad input."""
    leaf, chain, endpoint = presented_certificates(params)
    trusted, identities, trust_source, checks = trust_for(params, store)
    level = params.get("level")
    if endpoint is None:
        # A certificate given as a file: no host, so only the names given are checked at the remote levels.
        endpoint = {"host": None, "purpose": params.get("purpose") or "server", "server_name": None,
                    "peer_name": params.get("peer_name"), "sip_domain": params.get("sip_domain")}
        where = None
    else:
        where = _endpoints.label(endpoint)
    latent = bool(checks) and medium_latent(checks)
    try:
        report, verdict = _endpoints.evaluate([leaf] + list(chain), endpoint, level, trusted=trusted,
                                              identities=identities, at=at, latent_medium=latent)
    except ValueError as exc:  # a remote level without any name to check
        raise SecurityError("missing_peer_name", "%s Set the 'peer_name' or 'sip_domain' option." % exc,
                            option="peer_name")
    now = _certs.utcnow()
    result = dict((k, verdict[k]) for k in ("passed", "findings", "codes"))
    result.update({
        "changed": False,
        "level": level,
        "purpose": report.purpose,
        "peer_name": verdict["peer_name"],
        "sip_domain": verdict["sip_domain"],
        "trust_source": trust_source,
        "trusted_count": len(trusted),
        "certificate": _certs.cert_info(leaf, now),
        "chain": [_certs.cert_info(c, now) for c in chain],
        "validated_chain": [_certs.fingerprint(c) for c in report.chain],
    })
    warnings = []
    if "latent_medium" in verdict:
        result["latent_medium"] = dict(verdict["latent_medium"], release=checks.get("release"))
        text = latent_warning(result, checks, " presented by %s" % where if where else "")
        if text:
            warnings.append(text)
    if warnings:
        result["warnings"] = warnings
    if where:
        result["endpoint"] = where
        result["endpoint_item"] = dict((k, endpoint[k]) for k in _endpoints.FIELDS)
    if params.get("fail_on_reject") and not report.passed:
        raise SecurityError("certificate_rejected", "The certificate '%s'%s fails level %s: %s. (fail_on_reject is "
                            "set; unset the 'fail_on_reject' option to only report.)"
                            % (result["certificate"]["subject"], (" presented by %s" % where) if where else "",
                               level, "; ".join("%s: %s" % (f["code"], f["message"]) for f in result["findings"])),
                            option="fail_on_reject", **dict((k, v) for k, v in result.items() if k != "changed"))
    return result


def run(store, params, check_mode=False, want_diff=False):
    """The certificate_verify module: read only, the same in check mode."""
    return verify(params, store)
