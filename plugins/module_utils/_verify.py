# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the certificate_verify module decides: load the inputs, choose the trust, run the engine,
build the result.  Read-only: the store is only ever read."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _checks, _tls
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    MAX_NETWORK_TIMEOUT,
    SecurityError,
    check_seconds,
    check_text,
)


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


def presented_certificates(params):
    """(leaf, chain, where) from the 'certificate' + 'chain' options or from the live 'endpoint'."""
    if params.get("endpoint"):
        if params.get("certificate") or params.get("chain"):
            raise SecurityError("conflicting_options", "Give either 'endpoint' or 'certificate' (with 'chain'), not "
                                "both.", option="endpoint")
        endpoint = params["endpoint"]
        for field in ("host", "server_name"):
            check_text(endpoint.get(field), "endpoint." + field)
        if not endpoint.get("host"):
            raise SecurityError("missing_option", "endpoint.host must name the host to connect to. Set the "
                                "'endpoint.host' option.", option="endpoint.host")
        port = endpoint.get("port")
        port = 443 if port is None else port
        try:
            valid = not isinstance(port, bool) and 0 < int(port) < 65536
        except (TypeError, ValueError, OverflowError):  # NaN, an infinity, text
            valid = False
        if not valid:
            raise SecurityError("out_of_range", "endpoint.port must be 1-65535, got %s. Change the "
                                "'endpoint.port' option." % port, option="endpoint.port")
        timeout = endpoint.get("timeout")
        # NaN, infinities, 1e308, zero or less are out_of_range.
        timeout = check_seconds(_tls.DEFAULT_TIMEOUT if timeout is None else timeout, "endpoint.timeout",
                                MAX_NETWORK_TIMEOUT)
        certs = _tls.fetch_chain(endpoint["host"], port, server_name=endpoint.get("server_name"), timeout=timeout)
        return certs[0], certs[1:], "%s:%s" % (endpoint["host"], port)
    if not params.get("certificate"):
        raise SecurityError("missing_option", "Nothing to verify: set 'certificate' (path or content) or "
                            "'endpoint' (host and port).", option="certificate")
    leaf = _load_item(params["certificate"], "certificate", single=True)[0]
    return leaf, load_list(params.get("chain"), "chain"), None


def trust_for(params, store):
    """(trusted certificates, identity certificates) for the evaluation.

    The store's TCS and identities unless 'trusted' is given; with 'trusted' the store is read only
    when it exists, for the 'reflected' check (an uninitialised store has no identity to reflect).
    """
    trusted = params.get("trusted")
    if trusted is not None:
        certs = load_list(trusted, "trusted")
        identities = []
        exists = getattr(store, "exists", None)
        if exists is None or exists():
            identities = _identities(store.read())
        return certs, identities, "trusted"
    state = store.read()
    return state.trusted_certificates(), _identities(state), "store"


def _identities(state):
    return [cred.cert for cred in (state.identity, state.telephony) if cred is not None]


def verify(params, store, at=None):
    """The certificate_verify result for module params (a dict); raises SecurityError on bad input."""
    leaf, chain, endpoint = presented_certificates(params)
    trusted, identities, trust_source = trust_for(params, store)
    level = params.get("level")
    peer_name = params.get("peer_name")
    if peer_name is None and params.get("endpoint"):
        peer_name = params["endpoint"]["host"]
    try:
        report = _checks.evaluate(leaf, level=level, purpose=params.get("purpose") or "server", chain=chain,
                                  trusted=trusted, identity=identities, peer_name=peer_name,
                                  sip_domain=params.get("sip_domain"), at=at)
    except ValueError as exc:
        raise SecurityError("missing_peer_name", "%s Set the 'peer_name' or 'sip_domain' option." % exc,
                            option="peer_name")
    now = _certs.utcnow()
    result = _checks.report_as_dict(report)
    result.update({
        "changed": False,
        "level": level,
        "purpose": report.purpose,
        "peer_name": peer_name,
        "sip_domain": params.get("sip_domain"),
        "trust_source": trust_source,
        "trusted_count": len(trusted),
        "certificate": _certs.cert_info(leaf, now),
        "chain": [_certs.cert_info(c, now) for c in chain],
        "validated_chain": [_certs.fingerprint(c) for c in report.chain],
    })
    if endpoint:
        result["endpoint"] = endpoint
    if params.get("fail_on_reject") and not report.passed:
        raise SecurityError("certificate_rejected", "The certificate '%s'%s fails level %s: %s. (fail_on_reject is "
                            "set; unset the 'fail_on_reject' option to only report.)"
                            % (result["certificate"]["subject"], (" presented by %s" % endpoint) if endpoint else "",
                               level, "; ".join("%s: %s" % (f["code"], f["message"]) for f in result["findings"])),
                            option="fail_on_reject", **dict((k, v) for k, v in result.items() if k != "changed"))
    return result


def run(store, params, check_mode=False, want_diff=False):
    """The certificate_verify module: read only, the same in check mode."""
    return verify(params, store)
