# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secret-free descriptions of a store's state: what security_info returns and diffs show."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _dependents, _findings
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError, medium_latent

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


def _identities(state):
    return [(where, credential) for where, credential in (("identity", state.identity), ("telephony", state.telephony))
            if credential is not None]


def identity_findings(state, now=None):
    """How a peer would judge this system's identities at high_remote (the strictest level).

    The peer is assumed to trust what this system trusts (its TCS), to receive the offered chain, and to
    connect to the identity's common name (the system name when there is none); purpose server.
    One finding per failing check: where (identity or telephony), sha256, code, severity, message.
    """
    # Imported here: identity_certificate and scep import this module for credential_info only, and a
    # module process pays to compile _checks (~40 KB) from the AnsiballZ zip on every run.
    from ansible_collections.ipoffice.security.plugins.module_utils import _checks

    result = []
    for where, credential in _identities(state):
        report = _checks.evaluate(credential.cert, level="high_remote", purpose="server",
                                  chain=tuple(state.offered_chain(credential)[1:]),
                                  trusted=tuple(state.trusted_certificates()),
                                  peer_name=_certs.common_name(credential.cert) or state.system_name, at=now)
        for code, message in report.findings:
            result.append(_findings.finding(code, message, where=where, sha256=credential.fingerprint))
    return result


# Lifetime limits (docs/audit.md): (days, applies to certificates issued from).
APPLE_LIMIT = (825, datetime.datetime(2019, 7, 1, tzinfo=datetime.timezone.utc))
BROWSER_LIMIT = (398, datetime.datetime(2020, 9, 1, tzinfo=datetime.timezone.utc))
# CA/Browser Forum ballot SC-081: the longest validity a public CA may issue from each date.
PUBLIC_CA_SCHEDULE = ((datetime.date(2026, 3, 15), 200), (datetime.date(2027, 3, 15), 100),
                      (datetime.date(2029, 3, 15), 47))
# A certificate issued under the CA/Browser Forum Baseline Requirements (what publicly trusted CAs issue)
# asserts one of the Forum's reserved policy identifiers and carries Certificate Transparency SCTs.
BR_POLICY_PREFIX = "2.23.140.1."
SCT_LIST_OID = "1.3.6.1.4.1.11129.2.4.2"


def lifetime_days(cert):
    """Days between notBefore and notAfter (fractional)."""
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400.0


def from_public_ca(state, cert):
    """Whether the certificate was issued by a publicly trusted CA.

    Decided: not self-signed, not issued by this system's own CA, and issued under the CA/Browser Forum
    Baseline Requirements: it asserts a Forum-reserved certificate policy (2.23.140.1.*) or carries
    Certificate Transparency SCTs, which public CAs must and private CAs (the system CA, an enterprise CA, a
    SCEP CA) do not.
    """
    if _certs.is_self_signed(cert):
        return False
    if state.ca is not None and cert.issuer == state.ca.cert.subject and \
            _certs.signature_verifies(cert, state.ca.cert.public_key()):
        return False
    from cryptography import x509
    try:
        extensions = list(cert.extensions)
    except Exception:  # pylint: disable=broad-except  # malformed: the engine reports it
        return False
    for ext in extensions:
        if ext.oid.dotted_string == SCT_LIST_OID:
            return True
        if isinstance(ext.value, x509.CertificatePolicies) and any(
                p.policy_identifier.dotted_string.startswith(BR_POLICY_PREFIX) for p in ext.value):
            return True
    return False


def _label(where, cert):
    return "The %s '%s'" % ("telephony identity" if where == "telephony" else "identity",
                            cert.subject.rfc4514_string() or "(empty subject)")


def lifetime_findings(state, now=None):
    """Identity lifetimes against what clients and public CAs allow (lifetime_over_825_days,
    lifetime_over_398_days, public_ca_lifetime), each naming the date its limit applies from."""
    now = now or _certs.utcnow()
    result = []
    for where, credential in _identities(state):
        cert = credential.cert
        days = lifetime_days(cert)
        issued = cert.not_valid_before_utc
        extra = {"where": where, "sha256": credential.fingerprint, "lifetime_days": int(days)}
        limit, since = APPLE_LIMIT
        if days > limit and issued >= since:
            result.append(_findings.finding(
                "lifetime_over_825_days", "%s is valid for %d days (%s to %s), more than %d: Apple devices refuse TLS "
                "server certificates valid that long (from any CA, for certificates issued since %s), and %d days is "
                "the IP500 V2 maximum. Replace it with one valid at most %d days."
                % (_label(where, cert), days, _day(cert.not_valid_before_utc), _day(cert.not_valid_after_utc), limit,
                   since.date().isoformat(), limit, limit), applies_from=since.date().isoformat(), max_days=limit,
                **extra))
        if not from_public_ca(state, cert):
            continue
        limit, since = BROWSER_LIMIT
        if days > limit and issued >= since:
            result.append(_findings.finding(
                "lifetime_over_398_days", "%s from a public CA is valid for %d days, more than %d: browsers refuse "
                "publicly trusted certificates issued since %s that are valid that long."
                % (_label(where, cert), days, limit, since.date().isoformat()),
                applies_from=since.date().isoformat(), max_days=limit, **extra))
        exceeded = [(start, most) for start, most in PUBLIC_CA_SCHEDULE if days > most]
        if exceeded:
            start, most = exceeded[0]
            tense = "since" if start <= now.date() else "from"
            later = "; then %s" % ", ".join("%d days from %s" % (m, d.isoformat()) for d, m in exceeded[1:]) \
                if exceeded[1:] else ""
            result.append(_findings.finding(
                "public_ca_lifetime", "%s from a public CA is valid for %d days; CA/Browser Forum ballot SC-081 lets "
                "public CAs issue at most %d days %s %s%s, so its renewals will be shorter: automate renewal (SCEP "
                "with renew_before_days) before then." % (
                    _label(where, cert), days, most, tense, start.isoformat(), later),
                applies_from=start.isoformat(), max_days=most, **extra))
    return result


def _day(moment):
    return moment.strftime("%Y-%m-%d")


# The IP500 V2's factory identity: self-signed, named after the system's MAC address.
IP500V2_DEFAULT_NAME = re.compile(r"^ipoffice-[0-9a-f]{12}\.avaya\.com$", re.IGNORECASE)
# A Server Edition secondary's ignition identity: self-signed, about two years, no SAN, no key usage.
IGNITION_DAYS = (700, 760)


def vendor_default_findings(state):
    """Vendor default certificates still in use as an identity (ip500v2_default_identity, ignition_identity)."""
    from cryptography import x509

    result = []
    for where, credential in _identities(state):
        cert = credential.cert
        if not _certs.is_self_signed(cert):
            continue
        extra = {"where": where, "sha256": credential.fingerprint}
        name = _certs.common_name(cert) or ""
        if IP500V2_DEFAULT_NAME.match(name):
            result.append(_findings.finding(
                "ip500v2_default_identity", "%s is still the IP500 V2 factory default (self-signed, named after the "
                "MAC address as %s): no peer can check it by the system's name. Replace it with an identity for the "
                "system's real names." % (_label(where, cert), name), **extra))
            continue
        try:
            types = set(type(ext.value) for ext in cert.extensions)
        except Exception:  # pylint: disable=broad-except  # malformed: the engine reports it
            continue
        days = lifetime_days(cert)
        if IGNITION_DAYS[0] <= days <= IGNITION_DAYS[1] and x509.SubjectAlternativeName not in types \
                and x509.KeyUsage not in types:
            result.append(_findings.finding(
                "ignition_identity", "%s looks like the identity a Server Edition secondary or expansion generates at "
                "ignition (self-signed, %d days, no subjectAltName, no key usage), which the vendor calls of limited "
                "value. Replace it with an identity issued by the primary's CA." % (_label(where, cert), days),
                **extra))
    return result


def release_findings(state):
    """medium_checks_latent: a medium level set before the upgrade to R11.1.3 and not re-applied."""
    checks = state.settings["checks"]
    if not medium_latent(checks):
        return []
    from ansible_collections.ipoffice.security.plugins.module_utils import _checks

    latent = ["%s (%s)" % (option, checks[option]) for option in ("management_interfaces", "telephony_endpoints")
              if checks[option] in _checks.LATENT_MEDIUM_LEVELS]
    latent.extend("ip_office_lines line '%s' (%s)" % (line["name"], line["check_level"])
                  for line in checks.get("ip_office_lines") or []
                  if line["check_level"] in _checks.LATENT_MEDIUM_LEVELS)
    if not latent:
        return []
    return [_findings.finding(
        "medium_checks_latent", "%s runs release %s, but its medium level (%s) was set before the upgrade to R11.1.3 "
        "and not re-applied (checks.medium_reapplied is false): it does not yet run the medium checks R11.1.3 added "
        "(key usage, extended key usage, unknown critical extensions), and starts to once the level is set again. "
        "Check its peers at medium first (certificate_verify, the preflight), then re-apply it and set "
        "medium_reapplied: true." % (state.system_name, checks["release"], ", ".join(latent)),
        release=checks["release"], settings=latent)]


def system_findings(state, now=None, own_path=None):
    """Every finding security_info reports about the system itself (before live read-back).

    ``own_path``: the store's own path (an identity issued_by names its issuer's store; _issuer).
    """
    # Imported here: only a store with an identity issued by another store reads that store.
    from ansible_collections.ipoffice.security.plugins.module_utils import _issuer
    return identity_findings(state, now) + lifetime_findings(state, now) + vendor_default_findings(state) + \
        release_findings(state) + _issuer.issuer_findings(state, own_path)


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
        timeout = _live.validate_timeout(params.get("live_timeout"))
        endpoints = _live.validate_endpoints(params["live_endpoints"], timeout=timeout)
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
        result["findings"] = system_findings(state, own_path=store.path)
    result["changed"] = False
    result["live"] = []
    if endpoints and state is not None:
        result["live"] = _live.read_back_all(state, endpoints, probe_ca=probe_ca)
        for endpoint in result["live"]:
            result["findings"].extend(endpoint["findings"])
    if params.get("query"):
        result["query_result"] = apply_query(result, params["query"])
    return result
