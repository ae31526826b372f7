# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The findings registry: every finding code the collection reports, in one table.

A *finding* is something judged about a certificate, a setting or an endpoint that does not stop a
module: the check engine's failing checks, what ``security_info`` reports about a system (its identity as
a peer would judge it, lifetime policy, vendor default certificates, a latent medium level, live
read-back), what the preflight and ``certificate_verify`` report about an endpoint, what the trusted store
warns about when a certificate is added, and what the fleet audit concludes.  (A failure that stops a
module is an *error* with its own code: ``_errors``.)

Each entry has its code, the audit check it appears under, its default severity in the audit
(``error``, ``warning`` or ``info``; ``audit_policy.severities`` changes it per code), a one-line meaning,
the remedy, and who reports it.  ``docs/findings.md`` is generated from this table
(``tools/gen_findings_doc.py``, ``make docs``); a test collects every code the plugins report and
compares it with the table, both ways.

No cryptography here: the argument specs and the audit filters import it on the controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections

SEVERITIES = ("error", "warning", "info")

# Who reports findings (the ``sources`` of an entry).
SOURCES = {
    "engine": "the check engine (certificate_verify, the preflight, live read-back, security_info)",
    "security_info": "security_info's findings about the system",
    "live": "live read-back (security_info live_endpoints)",
    "preflight": "the certificate_checks preflight",
    "trusted_store": "trusted_certificate and the trusted area of security_settings (as warnings)",
    "audit": "the fleet audit (the audit role and the audit_report filter)",
}

# The audit's checks (a JUnit test case per system and check), in report order, with what each judges.
# Endpoint checks are added per endpoint as 'endpoint:<name>' and 'live:<host:port>'.
CHECKS = collections.OrderedDict([
    ("security_info", "the system's settings could be read"),
    ("minimum_levels", "check levels and TLS security levels against the policy's minimums"),
    ("release", "what the system's IP Office release means for its check levels"),
    ("expiry", "every stored certificate's expiry"),
    ("signatures", "weak signature hashes of stored certificates"),
    ("keys", "weak keys of stored certificates"),
    ("trusted_store", "the trusted certificate store's size"),
    ("identity", "the system's identities as a peer at high_remote would judge them (trusting its TCS)"),
    ("lifetime", "identity lifetimes against browser, Apple and public CA limits"),
    ("vendor_defaults", "vendor default certificates still in use"),
    ("issuer", "identities whose issuer moved on (a new internal CA, a Server Edition primary's new CA)"),
    ("endpoint", "certificate_verify of each listed endpoint (check 'endpoint:<name>')"),
    ("live", "what each live endpoint serves, compared with the store (check 'live:<host:port>')"),
])
# The checks every readable system has (the endpoint and live checks are one per endpoint).
SYSTEM_CHECKS = tuple(name for name in CHECKS if name not in ("endpoint", "live"))


class Finding(collections.namedtuple("Finding", "code check severity meaning remedy sources")):
    """One registered finding code."""

    __slots__ = ()


def _f(code, check, severity, meaning, remedy, sources):
    if severity not in SEVERITIES or check not in CHECKS or not all(source in SOURCES for source in sources):
        raise ValueError("finding %s: unknown severity, check or source" % code)
    return Finding(code, check, severity, meaning, remedy, tuple(sources))


_ENTRIES = [
    # --- the check engine (docs/check-levels.md): each failing check of a level.  Their check and severity
    # are how security_info's judgement of the system's own identities (at high_remote) reaches the audit.
    _f("expired", "identity", "error",
       "The certificate's validity ended: every level rejects it.",
       "Renew the certificate (or the peer's).", ("engine", "security_info")),
    _f("not_yet_valid", "identity", "error",
       "The certificate is not valid yet: every level rejects it.",
       "Check the clock of the issuer and of the system, or wait.", ("engine", "security_info")),
    _f("key_too_small", "identity", "error",
       "The public key is weaker than the level needs (1024 bits from low, 2048 from high).",
       "Issue a certificate with RSA 2048 or stronger, or EC P-256 or stronger.", ("engine", "security_info")),
    _f("untrusted_chain", "identity", "error",
       "No valid path from the certificate to a self-signed root in the trusted store (medium and up).",
       "Add the issuing root to the trusted store, or send the intermediate certificates with the identity.",
       ("engine", "security_info")),
    _f("no_key_usage", "identity", "error",
       "The certificate has no key usage extension (medium and up; from R11.1.3).",
       "Issue a certificate with keyUsage (digitalSignature, plus keyEncipherment for RSA).",
       ("engine", "security_info")),
    _f("purpose_mismatch", "identity", "error",
       "The extended key usage (of the certificate or a CA on its path) does not allow the purpose.",
       "Issue a certificate with serverAuth/clientAuth (or sipDomain on SIP links), or check 'purpose'.",
       ("engine", "security_info")),
    _f("unknown_critical_extension", "identity", "error",
       "The certificate has a critical extension nobody here understands, or malformed extensions.",
       "Issue a certificate without that extension, or with it not critical.", ("engine", "security_info")),
    _f("weak_signature", "signatures", "error",
       "The certificate is signed with SHA-1 or MD5 (refused from medium up).",
       "Reissue it with SHA-256 or stronger.", ("engine", "security_info", "audit")),
    _f("self_signed", "identity", "warning",
       "The certificate is self-signed; high levels need one issued by a CA.",
       "Use a CA-issued certificate (the system CA's, or your own CA's).", ("engine", "security_info")),
    _f("reflected", "identity", "error",
       "The peer presented this system's own identity certificate or key back to it (high and up).",
       "Give the peer its own certificate and key.", ("engine",)),
    _f("not_pinned", "identity", "info",
       "An exact copy of the certificate is not in the trusted store, which high levels need (pinning); for a "
       "system's own identity this is a note: peers at high must pin it in their stores.",
       "Add the certificate to the trusted store of whoever checks it at high.", ("engine", "security_info")),
    _f("name_mismatch", "identity", "warning",
       "No subjectAltName matches the name the peer connects with (RFC 9525; remote levels).",
       "Connect with a name the certificate holds, or reissue it with that name in its subjectAltName.",
       ("engine", "security_info")),
    _f("sip_domain_mismatch", "identity", "warning",
       "The certificate is not authoritative for the SIP domain (RFC 5922; remote levels).",
       "Reissue it with subjectAltName URI:sip:<domain>, or check 'sip_domain'.", ("engine", "security_info")),

    # --- security_info: the system itself.
    _f("medium_checks_latent", "release", "warning",
       "The system runs R11.1.3 or later with a medium level set before the upgrade and not re-applied: it does "
       "not yet run the medium checks R11.1.3 added (key usage, extended key usage, unknown critical extensions).",
       "Check its peers at medium (certificate_verify, the preflight), re-apply the level on the system (for "
       "example medium, high, medium) and set checks.medium_reapplied: true.", ("security_info",)),
    _f("lifetime_over_825_days", "lifetime", "warning",
       "An identity issued since 2019-07-01 is valid for more than 825 days: Apple devices refuse such TLS server "
       "certificates from any CA, and 825 days is the IP500 V2 maximum.",
       "Replace the identity with one valid at most 825 days (e.g. valid_days: 825), and renew it in time.",
       ("security_info",)),
    _f("lifetime_over_398_days", "lifetime", "warning",
       "An identity from a public CA issued since 2020-09-01 is valid for more than 398 days: browsers refuse "
       "publicly trusted certificates that long.",
       "Have the public CA issue it for at most 398 days (at most 200 since 2026-03-15).", ("security_info",)),
    _f("public_ca_lifetime", "lifetime", "warning",
       "An identity from a public CA is valid longer than CA/Browser Forum ballot SC-081 allows from a date: "
       "200 days from 2026-03-15, 100 from 2027-03-15, 47 from 2029-03-15; its renewals will be shorter.",
       "Automate renewal (SCEP enrollment with renew_before_days) before the date the finding names.",
       ("security_info",)),
    _f("ip500v2_default_identity", "vendor_defaults", "warning",
       "The identity is still the IP500 V2's factory default: self-signed, common name ipoffice-<MAC>.avaya.com, "
       "which no peer can check by name.",
       "Replace it with an identity for the system's real names (identity_certificate source ca, import or "
       "generate with subject_alt_names).", ("security_info",)),
    _f("ignition_identity", "vendor_defaults", "warning",
       "The identity looks like the one a Server Edition secondary or expansion generates at ignition: "
       "self-signed, about two years, no subjectAltName, no key usage; the vendor calls it of limited value.",
       "Replace it with an identity issued by the primary's CA (issued_certificate on the primary, then import).",
       ("security_info",)),

    _f("issuer_changed", "issuer", "warning",
       "An identity was issued by a CA that is no longer its issuer's current CA (the system's internal CA, or "
       "the CA of the store it is issued_by): the next run that declares it reissues it.",
       "Run the baseline (or identity_certificate) that declares the identity, then hand the new identity over.",
       ("security_info",)),
    _f("issuer_unavailable", "issuer", "warning",
       "The store an issued_by identity names as its issuer cannot be read now, so whether its issuer changed is "
       "unknown.",
       "Check the issuer_store path and its permissions on the node that runs security_info.", ("security_info",)),

    # --- live read-back (security_info live_endpoints): each endpoint is a check 'live:<host:port>'.
    _f("live_identity_mismatch", "live", "error",
       "The live endpoint serves another certificate than the store's identity.",
       "Import the store's identity on the system (export module), or update the store to what it really uses.",
       ("live",)),
    _f("live_chain_mismatch", "live", "error",
       "The right identity, but not the chain Offer ID Certificate Chain says the system sends.",
       "Check the system's trusted store and its Offer ID Certificate Chain setting against the store.",
       ("live",)),
    _f("live_unreachable", "live", "error",
       "The live endpoint refused, timed out or did not speak TLS: nothing could be compared.",
       "Check host and port of the live endpoint, and that the system is up (reason names the cause).",
       ("live",)),
    _f("live_fails_medium", "live", "error",
       "Peers at medium, trusting the store's trusted certificates, would refuse what the endpoint serves.",
       "Fix the served identity or chain (the finding lists the check engine's codes).", ("live",)),
    _f("live_fails_high_remote", "live", "warning",
       "Peers at high_remote (with the endpoint's name) would refuse what the endpoint serves.",
       "Pin the identity at such peers, or serve a CA-issued identity with the right names.", ("live",)),
    # --- the enforcement probe (live_endpoints items with probe: true; _probe).
    _f("live_level_mismatch", "live", "error",
       "What the endpoint accepted from the probe's graded client certificates does not fit the check level "
       "the store sets: the live system enforces another level.",
       "Set the level on the system (Manager) to the store's, or update the store to what the system enforces.",
       ("live",)),
    _f("live_cipher_level_mismatch", "live", "error",
       "The endpoint accepted cipher suites the security level the store sets (H.323 or SIP Security Level) "
       "refuses, or refused ones it allows.",
       "Set the security level on the system to the store's, or update the store to what the system enforces.",
       ("live",)),
    _f("live_probe_ca_untrusted", "live", "warning",
       "The store does not trust the probe CA, so the system cannot be expected to accept the probe's client "
       "certificates: the probe's verdict would mean nothing.",
       "Add the probe CA's certificate to the store's trusted store (and the system's), or set probe: false.",
       ("live",)),
    _f("live_probe_inconclusive", "live", "warning",
       "Some of the probe's connections gave no verdict (timed out, reset), so what the endpoint enforces is not "
       "known.",
       "Check the endpoint and the network path, then probe again (raise live_timeout if it answers slowly).",
       ("live",)),

    # --- endpoints: the preflight, certificate_verify results in the audit.
    _f("endpoint_unreachable", "endpoint", "error",
       "The endpoint could not be checked: refused, timed out, not TLS (reason names the cause).",
       "Check the endpoint's host and port, or remove it from the list.", ("preflight", "audit")),
    _f("endpoint_rejected", "endpoint", "error",
       "What the endpoint presents fails the level it is checked at (the finding lists the engine's codes).",
       "Fix the endpoint's certificate or chain, add its root to the trusted store, or check the level.",
       ("audit",)),
    _f("peer_fails_reapplied_medium", "endpoint", "warning",
       "The system accepts this peer at its latent (pre-R11.1.3) medium level today, but rejects it once medium "
       "is re-applied (the finding lists the codes).",
       "Fix the peer's certificate before re-applying medium on the system.", ("audit",)),

    # --- the trusted store (as the certificate is added) and the audit.
    _f("weak_key", "keys", "error",
       "A stored certificate's key is below the policy (RSA/DSA under 2048 bits, EC under 256 bits by default).",
       "Replace the certificate with one with a stronger key; a trusted root that weak no longer protects its "
       "chains.", ("trusted_store", "audit")),

    # --- the fleet audit's own checks.
    _f("info_unavailable", "security_info", "error",
       "security_info gave no snapshot of the system (not readable, skipped, failed).",
       "Fix what the message names (permissions, a corrupt store, a bad live endpoint).", ("audit",)),
    _f("store_not_initialised", "security_info", "error",
       "The system's store does not exist: it has never been set up.",
       "Apply its baseline (ipoffice.security.baseline), or fix ipoffice_security.store.path.", ("audit",)),
    _f("level_below_minimum", "minimum_levels", "error",
       "A check level or TLS security level is below the policy's minimum.",
       "Raise the level (certificate_checks, with a preflight), or change audit_policy.minimum_levels.",
       ("audit",)),
    _f("certificate_expired", "expiry", "error",
       "A stored certificate has expired.",
       "Renew or replace it (identity_certificate, scep enroll), or remove it from the trusted store.", ("audit",)),
    _f("certificate_expiring", "expiry", "warning",
       "A stored certificate expires within the warning days (the system's Certificate Expiry Warning Days).",
       "Renew it before it expires.", ("audit",)),
    _f("trusted_store_size", "trusted_store", "warning",
       "The trusted store holds more certificates than the policy allows (the hard limit is 25).",
       "Remove certificates nothing depends on (trusted_certificate state absent).", ("audit",)),
]

REGISTRY = collections.OrderedDict((entry.code, entry) for entry in _ENTRIES)
CODES = tuple(REGISTRY)


def get(code):
    """The registered finding (KeyError for a code that is not registered: a programming error)."""
    return REGISTRY[code]


def severity(code):
    return REGISTRY[code].severity


def check(code):
    return REGISTRY[code].check


def codes_from(source):
    """The codes a source reports, in registry order."""
    return tuple(code for code, entry in REGISTRY.items() if source in entry.sources)


def finding(code, message, **extra):
    """A finding as module results carry it: {code, severity, message, ...extra} (the code must be registered)."""
    item = {"code": code, "severity": REGISTRY[code].severity, "message": message}
    item.update(extra)
    return item
