# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live read-back: what a real system serves over TLS, compared with its store and judged by the engine.

IP Office publishes no API for its security settings, so the store is the desired state and the
system of record; the one thing that can be read back from a live system is what it presents in a TLS
handshake.  For each listed endpoint this module fetches that (``_tls.fetch_chain``), then says whether
the served identity is the store's (``live_identity_mismatch``), whether the served chain is what Offer
ID Certificate Chain says the system sends (``live_chain_mismatch``), whether the endpoint answered TLS
at all (``live_unreachable``), and how the store's peers would judge the served identity at ``medium``
and ``high_remote`` (``live_fails_medium``, ``live_fails_high_remote``, with the engine's ``codes``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _endpoints, _findings, _tls
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    MAX_NETWORK_TIMEOUT,
    SecurityError,
    check_seconds,
)

OPTION = "live_endpoints"
SERVES = ("management", "telephony", "h323")
LINE_PREFIX = "line:"
# The levels a peer of the system would apply to what it serves: a trust chain to the peer's trusted
# store (medium) and the strictest one, with the system's name (high_remote).
LIVE_LEVELS = ("medium", "high_remote")
# Read-back's findings, and the enforcement probe's (_probe, for endpoints with probe: true): _findings.
FINDING_CODES = _findings.codes_from("live")
# What a peer connecting to the endpoint checks the certificate for.
PURPOSE = {"management": "server", "telephony": "sip_server", "h323": "server", "line": "server"}


def validate_timeout(value, option="live_timeout"):
    """live_timeout in seconds: NaN, infinities, 1e308, zero or less are out_of_range."""
    if value is None:
        return _tls.DEFAULT_TIMEOUT
    return check_seconds(value, option, MAX_NETWORK_TIMEOUT)


def validate_endpoints(endpoints, option=OPTION, timeout=None):
    """The live endpoints in canonical form: the endpoint item (_endpoints.resolve) plus ``serves``.

    ``timeout`` (live_timeout) is the default of each item's own ``timeout``.
    """
    if endpoints is None:
        return []
    if not isinstance(endpoints, list):
        raise SecurityError("invalid_setting", "%s must be a list of {host, port, server_name, serves}. Change the "
                            "'%s' option." % (option, option), option=option)
    result = []
    for index, item in enumerate(endpoints):
        where = "%s[%d]" % (option, index)
        serves = item.get("serves") if isinstance(item, dict) else None
        if isinstance(item, dict) and not (isinstance(serves, str) and (serves in SERVES or (
                serves.startswith(LINE_PREFIX) and serves[len(LINE_PREFIX):].strip()))):
            raise SecurityError("invalid_choice", "%s.serves must be management, telephony, h323 or line:<name of "
                                "an IP Office line>, got %r. Change the '%s.serves' option." % (where, serves, where),
                                option=where + ".serves")
        probe = item.get("probe") if isinstance(item, dict) else None
        if probe is not None and not isinstance(probe, bool):
            raise SecurityError("invalid_setting", "%s.probe must be true or false, got %r. Change the '%s.probe' "
                                "option." % (where, probe, where), option=where + ".probe")
        kind = "line" if serves and serves.startswith(LINE_PREFIX) else serves
        endpoint = _endpoints.resolve(item, where, option, kind=kind, timeout=timeout, extras=("serves", "probe"))
        endpoint["probe"] = bool(probe)
        result.append(endpoint)
    return result


def check_probe(endpoints, probe_ca, option=OPTION):
    """Endpoints with probe: true need the probe CA (``live_probe_ca``)."""
    probing = [index for index, endpoint in enumerate(endpoints) if endpoint.get("probe")]
    if probing and probe_ca is None:
        raise SecurityError("probe_ca_required", "%s[%d] asks for the enforcement probe (probe: true), which presents "
                            "client certificates issued by a probe CA that the system trusts. Set the 'live_probe_ca' "
                            "option ({certificate_path, private_key_path}), or set probe: false."
                            % (option, probing[0]), option="live_probe_ca")


def check_lines(state, endpoints, option=OPTION):
    """Every line:<name> endpoint must name one of the store's IP Office lines."""
    names = set(line["name"] for line in state.settings["checks"].get("ip_office_lines") or [])
    for index, endpoint in enumerate(endpoints):
        if endpoint["serves"].startswith(LINE_PREFIX) and endpoint["serves"][len(LINE_PREFIX):] not in names:
            where = "%s[%d].serves" % (option, index)
            raise SecurityError("unknown_line", "%s names IP Office line '%s', which the store of %s does not have "
                                "(it has: %s). Change the '%s' option or add the line (the 'lines' option of "
                                "certificate_checks)." % (where, endpoint["serves"][len(LINE_PREFIX):],
                                                          state.system_name, ", ".join(sorted(names)) or "none",
                                                          option), option=where)


def expected_credential(state, serves):
    """(label, credential) the store says the endpoint serves.

    Telephony endpoints (5061) serve the separate telephony identity when the store has one and
    Use different certificate for SIP telephony is not none; everything else serves the system identity.
    """
    if serves == "telephony" and state.telephony is not None \
            and state.settings["checks"].get("sip_telephony_certificate", "none") != "none":
        return "telephony", state.telephony
    return "identity", state.identity


def _name(cert):
    return "'%s' (SHA-256 %s)" % (cert.subject.rfc4514_string(), _certs.fingerprint(cert))


def _where(endpoint):
    return _endpoints.label(endpoint)


def read_back(state, endpoint, timeout=None, now=None, probe_ca=None):
    """One endpoint compared with the store: {host, port, server_name, serves, probe, live, findings}.

    ``timeout``, when given, replaces the item's own.  With ``probe: true`` also what it enforces (``_probe``):
    ``live.probe`` and ``enforced``.
    """
    now = now or _certs.utcnow()
    where = _where(endpoint)
    system = state.system_name
    kind = "line" if endpoint["serves"].startswith(LINE_PREFIX) else endpoint["serves"]
    label, credential = expected_credential(state, endpoint["serves"])
    expected_chain = state.offered_chain(credential)
    findings = []

    def finding(code, message, **extra):
        findings.append(_findings.finding(code, message, where="live", endpoint=where, serves=endpoint["serves"],
                                          **extra))

    live = {"reachable": False, "error": None, "expected": label,
            "expected_identity": _certs.cert_info(credential.cert, now),
            "expected_chain": [_certs.fingerprint(c) for c in expected_chain],
            "presented": [], "presented_chain": [], "identity_matches": None, "chain_matches": None,
            "checks": {}}
    result = dict(endpoint, live=live, findings=findings)
    if timeout is not None:  # the caller's bound replaces the item's
        endpoint = dict(endpoint, timeout=timeout)
    if endpoint.get("probe"):
        result["enforced"] = None
        live["probe"] = None
    try:
        presented = _endpoints.fetch(endpoint)
    except SecurityError as exc:
        live["error"] = {"code": exc.code, "message": exc.message}
        finding("live_unreachable", "%s (serves %s of %s) could not be read: %s The store cannot be compared with "
                "what the system serves there." % (where, endpoint["serves"], system, exc.message),
                reason=exc.code)
        return result
    live["reachable"] = True
    leaf = presented[0]
    live["presented"] = [_certs.cert_info(c, now) for c in presented]
    live["presented_chain"] = [_certs.fingerprint(c) for c in presented]
    live["identity_matches"] = _certs.fingerprint(leaf) == _certs.fingerprint(credential.cert)
    live["chain_matches"] = live["presented_chain"] == live["expected_chain"]
    if not live["identity_matches"]:
        finding("live_identity_mismatch", "%s (serves %s of %s) presents %s, but the store's %s is %s: the live "
                "system does not serve the certificate the store holds. Import the store's identity on the system "
                "(see the export module) or update the store to what the system really uses."
                % (where, endpoint["serves"], system, _name(leaf), label, _name(credential.cert)),
                presented_sha256=_certs.fingerprint(leaf), expected_sha256=_certs.fingerprint(credential.cert))
    elif not live["chain_matches"]:
        offer = state.settings["identity"]["offer_id_certificate_chain"]
        finding("live_chain_mismatch", "%s (serves %s of %s) presents %d certificate(s) [%s]; with Offer ID "
                "Certificate Chain %s the store says it sends %d [%s]. Check the system's trusted certificate store "
                "and its Offer ID Certificate Chain setting against the store."
                % (where, endpoint["serves"], system, len(presented),
                   ", ".join(c.subject.rfc4514_string() for c in presented), "on" if offer else "off",
                   len(expected_chain), ", ".join(c.subject.rfc4514_string() for c in expected_chain)),
                presented_chain=live["presented_chain"], expected_chain=live["expected_chain"])
    _judge(state, endpoint, kind, presented, now, live, finding)
    if endpoint.get("probe") and probe_ca is not None:
        from ansible_collections.ipoffice.security.plugins.module_utils import _probe
        live["probe"] = _probe.probe(state, endpoint, probe_ca, endpoint["timeout"], where, finding, now)
        result["enforced"] = live["probe"]["enforced"]
    return result


# The finding of each level a peer would apply.
LEVEL_FINDINGS = {"medium": "live_fails_medium", "high_remote": "live_fails_high_remote"}


def _judge(state, endpoint, kind, presented, now, live, finding):
    # The endpoint's purpose and names follow the one endpoint rule (_endpoints): a peer connects to what the
    # item names (server_name, else host) unless it sets peer_name or sip_domain.
    judged = dict(endpoint)
    if endpoint.get("purpose") is None:
        judged["purpose"] = PURPOSE[kind]
    for level in LIVE_LEVELS:
        _report, checked = _endpoints.evaluate(presented, judged, level, trusted=state.trusted_certificates(),
                                               at=now)
        names = [n for n in (checked["peer_name"], checked["sip_domain"]) if n]
        live["checks"][level] = checked
        if not checked["passed"]:
            finding(LEVEL_FINDINGS[level], "What %s (serves %s of %s) presents fails the %s checks a peer would "
                    "apply%s: %s" % (_where(endpoint), endpoint["serves"], state.system_name, level,
                                     " (as %s)" % ", ".join(names) if names else "",
                                     "; ".join("%s: %s" % (f["code"], f["message"]) for f in checked["findings"])),
                    level=level, codes=checked["codes"])


def read_back_all(state, endpoints, timeout=None, now=None, probe_ca=None):
    """Every endpoint, in the order given (each connection bounded by its own ``timeout``, or ``timeout``)."""
    check_lines(state, endpoints)
    check_probe(endpoints, probe_ca)
    return [read_back(state, endpoint, timeout, now, probe_ca) for endpoint in endpoints]
