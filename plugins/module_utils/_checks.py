# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The received-certificate check engine (docs/check-levels.md).

``evaluate(certificate, level, purpose, ...)`` runs every check of a level on a certificate and reports
each failing check with a stable code and a message a person can act on.

Each check is a small named function ``check_<name>(ctx)`` that reports each failure with
``ctx.fail(code, message)``; which checks a level runs is data (``LEVEL_CHECKS``).  Path validation
is done by ``cryptography.x509.verification``; everything the levels need beyond it (leaf key size, keyUsage
present, EKU purposes incl. id-kp-sipDomain and anyExtendedKeyUsage, weak signatures, self-signed,
reflected, pinned, "the chain ends at a self-signed root that is in the TCS", RFC 9525 host names and
RFC 5922 SIP domains, matched by ``_names``) is ours.  Our precise checks run first, so the important
codes are exact; when the path validator still rejects a path, the engine tells why from the certificates
on it (validity, signature algorithm, critical extensions, where the chain stops) and quotes the verifier
only for what it alone knows.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import datetime

try:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509 import verification
except ImportError:  # pragma: no cover - reported at module start (_cryptography_dep)
    pass

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _findings, _names
from ansible_collections.ipoffice.security.plugins.module_utils._model import CHECK_LEVELS, CHECK_PURPOSES

LEVELS = CHECK_LEVELS
REMOTE_LEVELS = ("medium_remote", "high_remote")
PURPOSES = CHECK_PURPOSES
# The engine's finding codes, one per check (registered in _findings with their meaning and remedy).
CODES = _findings.codes_from("engine")

# Levels are data: each includes every check of the one before (docs/check-levels.md).
_NONE = ("validity",)
_LOW = _NONE + ("key_size",)
_MEDIUM = _LOW + ("key_usage", "purpose", "critical_extensions", "signature", "trust_chain")
_HIGH = _MEDIUM + ("self_signed", "reflected", "pinned")
_REMOTE = ("peer_name", "sip_domain")
LEVEL_CHECKS = {
    "none": _NONE,
    "low": _LOW,
    "medium": _MEDIUM,
    "high": _HIGH,
    "medium_remote": _MEDIUM + _REMOTE,
    "high_remote": _HIGH + _REMOTE,
}
# From R11.1.3 medium also checks key usage, EKU fit and unknown critical extensions; a system upgraded to
# R11.1.3 runs them only once its medium level is set again (docs/check-levels.md).  Until then its medium
# levels are "latent": they judge like the older medium, without these checks and their codes.
LATENT_MEDIUM_LEVELS = ("medium", "medium_remote")
LATENT_MEDIUM_CHECKS = ("key_usage", "purpose", "critical_extensions")
LATENT_MEDIUM_CODES = ("no_key_usage", "purpose_mismatch", "unknown_critical_extension")
# Minimum public key strength (RSA-equivalent bits) of the certificate per level.
MINIMUM_KEY_BITS = {"none": 0, "low": 1024, "medium": 1024, "high": 2048, "medium_remote": 1024,
                    "high_remote": 2048}

SIP_DOMAIN_EKU = "1.3.6.1.5.5.7.3.20"   # id-kp-sipDomain (RFC 5924)
ANY_EKU = "2.5.29.37.0"                 # anyExtendedKeyUsage
SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
# The EKU values that make a certificate fit for a purpose; anyExtendedKeyUsage fits every purpose.
PURPOSE_EKUS = {
    "server": (SERVER_AUTH,),
    "client": (CLIENT_AUTH,),
    "sip_server": (SERVER_AUTH, SIP_DOMAIN_EKU),
    "sip_client": (CLIENT_AUTH, SIP_DOMAIN_EKU),
}
EKU_NAMES = {SERVER_AUTH: "serverAuth", CLIENT_AUTH: "clientAuth", SIP_DOMAIN_EKU: "sipDomain",
             ANY_EKU: "anyExtendedKeyUsage", "1.3.6.1.5.5.7.3.3": "codeSigning",
             "1.3.6.1.5.5.7.3.4": "emailProtection", "1.3.6.1.5.5.7.3.8": "timeStamping",
             "1.3.6.1.5.5.7.3.9": "OCSPSigning"}

# Extensions the engine (with the path validator) processes; any other critical one is unknown.
KNOWN_EXTENSIONS = frozenset([
    "2.5.29.19",  # basicConstraints
    "2.5.29.15",  # keyUsage
    "2.5.29.37",  # extKeyUsage
    "2.5.29.17",  # subjectAltName
    "2.5.29.30",  # nameConstraints
    "2.5.29.35",  # authorityKeyIdentifier
    "2.5.29.14",  # subjectKeyIdentifier
])
WEAK_HASHES = ("sha1", "md5", "md4", "md2")
WEAK_SIGNATURE_OIDS = {
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption", "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.3": "md4WithRSAEncryption", "1.2.840.113549.1.1.2": "md2WithRSAEncryption",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1", "1.2.840.10040.4.3": "dsa-with-sha1",
    "1.3.14.3.2.29": "sha1WithRSASignature",
}


class Finding(collections.namedtuple("Finding", "code message")):
    """One failing check: a stable code and what to do about it."""

    __slots__ = ()


class Report(object):
    """The verdict of one evaluation.  ``chain`` is the validated path, leaf first (when one was built)."""

    def __init__(self, level, purpose, findings, checks, chain):
        self.level = level
        self.purpose = purpose
        self.findings = findings
        self.codes = set([f.code for f in findings]) if findings else set()
        self.passed = not findings
        self.checks = checks
        self.chain = chain

    def __repr__(self):
        return "Report(level=%r, purpose=%r, passed=%r, codes=%r)" % (
            self.level, self.purpose, self.passed, sorted(self.codes))


def latent_medium_verdict(report):
    """How a latent (pre-R11.1.3) medium judges what ``report`` judged at the full medium level.

    {passed, codes: what the latent level still fails on, added_codes: what only the full level fails on}.
    """
    added = sorted(code for code in report.codes if code in LATENT_MEDIUM_CODES)
    remaining = [f for f in report.findings if f.code not in LATENT_MEDIUM_CODES]
    return {"passed": not remaining, "codes": sorted(set(f.code for f in remaining)), "added_codes": added}


def report_as_dict(report):
    """A report as plain data for module results and reports."""
    return {
        "passed": bool(report.passed),
        "findings": [{"code": f[0], "message": f[1]} for f in report.findings],
        "codes": sorted(report.codes),
    }


# ------------------------------------------------------------------------------ per-certificate facts
#
# Certificates are immutable, and the same objects recur: the TCS roots and issuing CAs in every
# evaluation, a leaf at several levels.  What the checks derive from a certificate alone (its extension
# map, key strength, self-signed status, EKU fit, SAN name tables, SIP identities) is remembered per
# certificate object: without it the engine runs at 0.43-0.54x the bare verifier in benchmarks/checks.py,
# with it at ~0.8x (docs/performance.md).  Keyed by id() with the object itself held in the entry, so an
# id is never reused while its entry exists (the Rust certificate objects take no weak references);
# bounded: the map is emptied when it reaches _FACTS_LIMIT entries.  Not by certificate value: that only
# helped re-parsed copies (the informative "parse per call" rows), not the target.
_FACTS = {}           # id(certificate) -> (certificate, facts)
_FACTS_LIMIT = 1024
_UNSET = object()


class _Facts(object):
    """Facts about one certificate object, each derived on first use (a failure is not remembered)."""

    __slots__ = ("cert", "extensions", "ext_error", "malformed", "_validity", "_strength", "_self_signed",
                 "_weak", "_unknown", "_eku", "_purpose_ok", "_cert_sign_not_ca", "_static_defect", "_names",
                 "_sip")

    def __init__(self, cert):
        self.cert = cert
        self.extensions = {}
        self.ext_error = self.malformed = None
        try:
            for ext in cert.extensions:
                self.extensions.setdefault(type(ext.value), ext)
        except Exception as exc:  # ValueError, DuplicateExtension, ...: the DER is not acceptable
            self.ext_error = exc
            self.malformed = str(exc) or exc.__class__.__name__
        self._validity = self._strength = self._self_signed = self._weak = self._unknown = None
        self._cert_sign_not_ca = self._static_defect = None
        self._eku = self._names = self._sip = _UNSET
        self._purpose_ok = {}

    def validity(self):
        """(not_valid_before_utc, not_valid_after_utc)."""
        if self._validity is None:
            self._validity = (self.cert.not_valid_before_utc, self.cert.not_valid_after_utc)
        return self._validity

    def strength(self):
        if self._strength is None:
            self._strength = key_strength(self.cert.public_key())
        return self._strength

    def self_signed(self):
        if self._self_signed is None:
            self._self_signed = _certs.is_self_signed(self.cert)
        return self._self_signed

    def weak(self):
        """The weak signature algorithm's name, or ''."""
        if self._weak is None:
            self._weak = _weak_signature(self.cert) or ""
        return self._weak

    def unknown_critical(self):
        """Dotted OIDs of the critical extensions nobody here understands ([] when malformed)."""
        if self._unknown is None:
            exts = self.cert.extensions if not self.malformed else []
            self._unknown = [ext.oid.dotted_string for ext in exts
                             if ext.critical and ext.oid.dotted_string not in KNOWN_EXTENSIONS]
        return self._unknown

    def eku_oids(self):
        """The extended key usage OIDs (dotted), or None without the extension; raises when malformed."""
        if self._eku is _UNSET:
            if self.ext_error is not None:
                raise self.ext_error.with_traceback(None)
            eku = self.extensions.get(x509.ExtendedKeyUsage)
            self._eku = [oid.dotted_string for oid in eku.value] if eku is not None else None
        return self._eku

    def purpose_ok(self, purpose):
        """No extended key usage, or one that fits the purpose; raises when malformed."""
        try:
            return self._purpose_ok[purpose]
        except KeyError:
            pass
        oids = self.eku_oids()
        result = self._purpose_ok[purpose] = oids is None or _eku_fits(oids, purpose)
        return result

    def cert_sign_not_ca(self):
        """keyUsage asserts keyCertSign, but basicConstraints does not say CA."""
        if self._cert_sign_not_ca is None:
            usage = self.extensions.get(x509.KeyUsage)
            bc = self.extensions.get(x509.BasicConstraints)
            self._cert_sign_not_ca = bool(usage is not None and usage.value.key_cert_sign
                                          and not (bc is not None and bc.value.ca))
        return self._cert_sign_not_ca

    def static_defect(self):
        """A defect of the certificate itself (at any time) that makes the path validator reject it as leaf."""
        if self._static_defect is None:
            self._static_defect = bool(self.weak() or self.unknown_critical() or self.cert_sign_not_ca())
        return self._static_defect

    def names(self):
        """The SAN's RFC 9525 name tables (_names.name_tables), or None without a SAN."""
        if self._names is _UNSET:
            self._names = _names.name_tables(self.extensions.get(x509.SubjectAlternativeName))
        return self._names

    def sip(self):
        """The RFC 5922 SIP domain identities (_names.sip_identities)."""
        if self._sip is _UNSET:
            self._sip = _names.sip_identities(self.cert, self.extensions.get(x509.SubjectAlternativeName))
        return self._sip


def _facts(cert):
    entry = _FACTS.get(id(cert))
    if entry is not None and entry[0] is cert:
        return entry[1]
    facts = _Facts(cert)
    if len(_FACTS) >= _FACTS_LIMIT:
        _FACTS.clear()
    _FACTS[id(cert)] = (cert, facts)
    return facts


def is_self_signed(cert):
    """Subject equals issuer and its own key verifies its signature (remembered per certificate object)."""
    return _facts(cert).self_signed()


def _subject(cert):
    text = cert.subject.rfc4514_string()
    return text or "(empty subject)"


def _issuer(cert):
    return cert.issuer.rfc4514_string() or "(empty issuer)"


def _when(moment):
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def key_strength(public_key):
    """RSA-equivalent strength of a public key in bits (NIST SP 800-57 Part 1, table 2)."""
    if isinstance(public_key, (rsa.RSAPublicKey, dsa.DSAPublicKey)):
        return public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        size = public_key.curve.key_size
        for curve_bits, rsa_bits in ((512, 15360), (384, 7680), (256, 3072), (224, 2048), (160, 1024)):
            if size >= curve_bits:
                return rsa_bits
        return 0
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return 3072
    if isinstance(public_key, ed448.Ed448PublicKey):
        return 7680
    return 0


def _key_text(public_key):
    kind, bits, curve = _certs.key_description(public_key)
    if curve:
        return "an EC %s key" % curve
    if bits:
        return "a %d-bit %s key" % (bits, kind)
    return "a %s key" % kind


def _eku_text(oids):
    return ", ".join(EKU_NAMES.get(oid, oid) for oid in oids) or "(empty)"


def _purpose_text(purpose):
    return " or ".join(EKU_NAMES[oid] for oid in PURPOSE_EKUS[purpose])


def _eku_fits(oids, purpose):
    return ANY_EKU in oids or any(oid in oids for oid in PURPOSE_EKUS[purpose])


def _utc(moment):
    # Certificate validity has one-second granularity: compare at whole seconds.
    if moment is None:
        return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc, microsecond=0)
    return moment.astimezone(datetime.timezone.utc).replace(microsecond=0)


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [c for c in value if c is not None]
    if isinstance(value, x509.Certificate):
        return [value]
    return [c for c in value if c is not None]


# Path-validation policies: webpki's, relaxed where the levels are more permissive.  Leaves need no
# AKI, and a SAN only when a host name is validated (remote levels with a peer name); EKU is judged
# by our purpose check (sipDomain, anyEKU), for leaves and CAs alike.  Built once: they are immutable.
_POLICIES = {}


def _policies():
    """{'ee': relaxed EE policy, 'ee_named': EE policy requiring a SAN, 'ca': CA policy}."""
    if not _POLICIES:
        agnostic = verification.Criticality.AGNOSTIC
        named = (verification.ExtensionPolicy.webpki_defaults_ee()
                 .may_be_present(x509.AuthorityKeyIdentifier, agnostic, None)
                 .may_be_present(x509.ExtendedKeyUsage, agnostic, None))
        _POLICIES["ee_named"] = named
        _POLICIES["ee"] = named.may_be_present(x509.SubjectAlternativeName, agnostic, None)
        _POLICIES["ca"] = (verification.ExtensionPolicy.webpki_defaults_ca()
                           .may_be_present(x509.ExtendedKeyUsage, agnostic, None))
    return _POLICIES


# --------------------------------------------------------------------------------------------- context


class _Context(object):
    """One evaluation's inputs, and the leaf's facts (``facts``, remembered per certificate object)."""

    __slots__ = ("certificate", "level", "purpose", "chain", "trusted", "identities", "peer_name", "sip_domain",
                 "at", "path", "names_checked", "facts", "malformed", "found")

    def __init__(self, certificate, level, purpose, chain, trusted, identities, peer_name, sip_domain, at):
        self.certificate = certificate
        self.level = level
        self.purpose = purpose
        self.chain = [c for c in chain if c != certificate]
        self.trusted = trusted
        self.identities = identities
        self.peer_name = peer_name
        self.sip_domain = sip_domain
        self.at = at
        self.path = []
        self.found = []
        self.names_checked = level in REMOTE_LEVELS and peer_name is not None
        self.facts = _facts(certificate)
        self.malformed = self.facts.malformed

    def fail(self, code, message):
        """Report a failing check."""
        self.found.append(Finding(code, message))

    def ext(self, cls):
        """The leaf's extension of that class, or None."""
        return self.facts.extensions.get(cls)

    def has_defects(self):
        """Whether the leaf itself has defects that make the path validator reject it (each has its own code):
        outside its validity, a weak signature, an unknown critical extension, keyCertSign without CA, or
        no SAN when the peer name is validated."""
        facts = self.facts
        not_before, not_after = facts.validity()
        return bool(not (not_before <= self.at <= not_after) or facts.static_defect()
                    or (self.names_checked and x509.SubjectAlternativeName not in facts.extensions))


# ----------------------------------------------------------------------------------------------- checks


def check_validity(ctx):
    cert = ctx.certificate
    not_before, not_after = ctx.facts.validity()
    if ctx.at < not_before:
        ctx.fail("not_yet_valid", "The certificate '%s' is not valid before %s (checked at %s). Check the peer's clock "
                 "and certificate, or wait until it becomes valid." % (_subject(cert), _when(not_before),
                                                                       _when(ctx.at)))
    elif ctx.at > not_after:
        ctx.fail("expired", "The certificate '%s' expired on %s (checked at %s). Renew it on the peer."
                 % (_subject(cert), _when(not_after), _when(ctx.at)))


def check_key_size(ctx):
    minimum = MINIMUM_KEY_BITS[ctx.level]
    if ctx.facts.strength() < minimum:
        public_key = ctx.certificate.public_key()
        ctx.fail("key_too_small", "The certificate has %s; level %s needs at least %d-bit RSA or DSA, or EC P-256 or "
                 "larger, or Ed25519/Ed448. Issue the peer a certificate with a stronger key, or lower the level."
                 % (_key_text(public_key), ctx.level, minimum))


def check_key_usage(ctx):
    if ctx.malformed:
        return
    if x509.KeyUsage not in ctx.facts.extensions:
        ctx.fail("no_key_usage", "The certificate '%s' has no key usage extension; level %s requires one. Issue the "
                 "peer a certificate with keyUsage (digitalSignature, plus keyEncipherment for RSA)."
                 % (_subject(ctx.certificate), ctx.level))


def check_purpose(ctx):
    if ctx.malformed:
        return
    facts = ctx.facts
    if not facts.purpose_ok(ctx.purpose):
        oids = facts.eku_oids()
        ctx.fail("purpose_mismatch", "The certificate's extended key usage (%s) does not allow purpose %s, which needs "
                 "%s (or anyExtendedKeyUsage). Issue the peer a certificate with that usage, or check the 'purpose' "
                 "option." % (_eku_text(oids), ctx.purpose, _purpose_text(ctx.purpose)))
    if facts.cert_sign_not_ca():
        ctx.fail("purpose_mismatch", "The certificate's key usage asserts keyCertSign, which an end-entity certificate "
                 "must not. Issue the peer a certificate without keyCertSign.")


def check_critical_extensions(ctx):
    if ctx.malformed:
        ctx.fail("unknown_critical_extension", "The certificate's extensions cannot be parsed (%s), so none of them "
                 "can be understood and it must be rejected. Issue the peer a well-formed certificate."
                 % ctx.malformed[:160])
        return
    unknown = ctx.facts.unknown_critical()
    if unknown:
        ctx.fail("unknown_critical_extension", "The certificate has extension(s) %s marked critical that are not "
                 "understood, so it must be rejected. Issue the peer a certificate without them (or not critical)."
                 % ", ".join(unknown))


def _weak_signature(cert):
    oid = cert.signature_algorithm_oid.dotted_string
    if oid in WEAK_SIGNATURE_OIDS:
        return WEAK_SIGNATURE_OIDS[oid]
    name = _certs.signature_hash_name(cert)
    if name in WEAK_HASHES:
        return _certs.signature_algorithm_name(cert)
    return None


def check_signature(ctx):
    weak = ctx.facts.weak()
    if weak:
        ctx.fail("weak_signature", "The certificate is signed with %s, a weak algorithm (SHA-1 and MD5 are refused "
                 "from level medium up). Reissue it with SHA-256 or stronger." % weak)


def check_trust_chain(ctx):
    if ctx.malformed:
        return
    cert = ctx.certificate
    if ctx.facts.self_signed():
        if cert in ctx.trusted:
            ctx.path = [cert]
            return
        ctx.fail("untrusted_chain", "The certificate '%s' is self-signed and not in the trusted certificate store. Add "
                 "it to the store (ipoffice.security.trusted_certificate) or give the peer a certificate issued by a "
                 "CA whose root is in the store." % _subject(cert))
        return
    if ctx.has_defects():
        # The validator would stop at the leaf's own defects, which their checks report with exact codes;
        # judge the rest of the path from the leaf's issuer so an untrusted chain is still reported.
        _check_path_from_issuer(ctx)
        return
    try:
        ctx.path = _validate_path(ctx, cert)
    except verification.VerificationError as exc:
        ctx.fail("untrusted_chain", _explain_failure(ctx, exc))
        return
    _check_ca_purposes(ctx, ctx.path[1:])


def _validate_path(ctx, cert, ee_policy=None):
    """The validated path (leaf first), which always ends at a self-signed root in the TCS."""
    policies = _policies()
    ee = policies["ee_named" if ctx.names_checked else "ee"]
    ca = policies["ca"]
    anchors = [c for c in ctx.trusted if c != cert]
    if not anchors:
        raise verification.VerificationError("the trusted certificate store is empty")
    intermediates = ctx.chain
    path = _verify(ctx, cert, anchors, intermediates, ee_policy or ee, ca)
    if is_self_signed(path[-1]):
        return path
    # Every store certificate is an anchor to the validator, so the path may stop at an intermediate
    # that is in the TCS; a trust chain must reach a self-signed root, so retry with only the roots
    # as anchors and the other TCS entries as (untrusted) intermediates.
    roots = [c for c in anchors if is_self_signed(c)]
    if not roots:
        raise verification.VerificationError("candidates exhausted: the trusted certificate store holds no "
                                             "self-signed root")
    others = [c for c in anchors if not is_self_signed(c)]
    return _verify(ctx, cert, roots, list(intermediates) + others, ee_policy or ee, ca)


def _verify(ctx, cert, anchors, intermediates, ee_policy, ca_policy):
    verifier = (verification.PolicyBuilder()
                .store(verification.Store(anchors))
                .time(ctx.at)
                .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
                .build_client_verifier())
    try:
        return verifier.verify(cert, intermediates).chain
    except (ValueError, x509.DuplicateExtension) as exc:  # a malformed certificate on the way
        raise verification.VerificationError("a certificate in the chain is malformed: %s" % str(exc)[:160])


def _check_ca_purposes(ctx, cas):
    purpose = ctx.purpose
    for ca in cas:
        facts = _facts(ca)
        if facts.ext_error is not None:  # extensions the validator skipped but that do not parse
            ctx.fail("untrusted_chain", "The CA certificate '%s' in the chain has malformed extensions (%s). Fix the "
                     "peer's certificate chain." % (_subject(ca), str(facts.ext_error)[:160]))
            continue
        if facts.purpose_ok(purpose):
            continue
        ctx.fail("purpose_mismatch", "The CA certificate '%s' in the chain restricts extended key usage to %s, so "
                 "it cannot vouch for purpose %s (needs %s). Use a certificate from a CA allowed to issue for that "
                 "purpose, or check the 'purpose' option." % (_subject(ca), _eku_text(facts.eku_oids()), purpose,
                                                              _purpose_text(purpose)))


def _issuers_of(ctx, cert):
    candidates = []
    for candidate in list(ctx.chain) + list(ctx.trusted):
        if candidate.subject == cert.issuer and candidate not in candidates and candidate != cert:
            candidates.append(candidate)
    return candidates


def _check_path_from_issuer(ctx):
    cert = ctx.certificate
    named = _issuers_of(ctx, cert)
    issuers = [c for c in named if _certs.signature_verifies(cert, c.public_key())]
    if not issuers:
        ctx.fail("untrusted_chain", _missing_issuer_message(cert, named))
        return
    issuer_policy = _policies()["ca"]
    errors = []
    for issuer in issuers:
        if is_self_signed(issuer):
            if issuer in ctx.trusted:
                ctx.path = [cert, issuer]
                return
            errors.append("its issuer '%s' is a root CA that is not in the trusted certificate store"
                          % _subject(issuer))
            continue
        try:
            path = _validate_path(ctx, issuer, ee_policy=issuer_policy)
        except verification.VerificationError as exc:
            errors.append(_diagnosis(ctx, issuer, exc))
            continue
        ctx.path = [cert] + path
        _check_ca_purposes(ctx, path)
        return
    ctx.fail("untrusted_chain", "No trusted path from '%s' to a root CA in the trusted certificate store: %s. Add the "
             "issuing root CA with ipoffice.security.trusted_certificate, or make the peer send its intermediate "
             "certificates." % (_subject(cert), "; ".join(errors)))


def _missing_issuer_message(cert, named):
    if named:
        return ("The certificate '%s' names issuer '%s', but no certificate with that name in the presented chain or "
                "the trusted certificate store signed it. Make the peer send its real intermediate certificates, or "
                "add the issuing CA to the store." % (_subject(cert), _issuer(cert)))
    return ("The issuer '%s' of the certificate '%s' is neither in the presented chain nor in the trusted "
            "certificate store. Make the peer send its intermediate CA certificates, or add the issuing CA's root "
            "with ipoffice.security.trusted_certificate." % (_issuer(cert), _subject(cert)))


def _defect(ctx, cert):
    """Why the path validator rejects this certificate on a path, as the engine itself sees it, or None."""
    facts = _facts(cert)
    not_before, not_after = facts.validity()
    if ctx.at > not_after:
        return "the certificate '%s' on the path expired on %s" % (_subject(cert), _when(not_after))
    if ctx.at < not_before:
        return "the certificate '%s' on the path is not valid before %s" % (_subject(cert), _when(not_before))
    if facts.malformed:
        return ("the certificate '%s' on the path has malformed extensions (%s)"
                % (_subject(cert), facts.malformed[:160]))
    # The validator never checks an anchor's own signature, so a weak one only matters below the root.
    if facts.weak() and not facts.self_signed():
        return ("the certificate '%s' on the path is signed with %s, a forbidden signature algorithm (SHA-1 or "
                "weaker)" % (_subject(cert), facts.weak()))
    unknown = facts.unknown_critical()
    if unknown:
        return ("the certificate '%s' on the path has unknown critical extension(s) %s"
                % (_subject(cert), ", ".join(unknown)))
    return None


def _diagnosis(ctx, start, exc):
    """Why no valid path leads from ``start`` to a root in the TCS: the first defect of a certificate on the
    path the engine walks by name and signature, else where that path stops, else the verifier's own words
    (for what only it checks: basicConstraints, keyUsage of a CA, name constraints, path length)."""
    try:
        path = [start] + _certs.build_chain(start, list(ctx.chain) + list(ctx.trusted))
    except Exception:  # a malformed key on the way: judge what was presented as it is
        path = [start]
    for cert in path:
        defect = _defect(ctx, cert)
        if defect:
            return defect
    last = path[-1]
    if not is_self_signed(last):
        return ("the path stops at '%s', whose issuer '%s' is neither presented nor trusted"
                % (_subject(last), _issuer(last)))
    if last not in ctx.trusted:
        return "the path ends at the root CA '%s', which is not in the trusted certificate store" % _subject(last)
    text = str(exc)
    if text.startswith("validation failed: "):
        text = text[len("validation failed: "):]
    return text.split(" (encountered processing", 1)[0]


def _explain_failure(ctx, exc):
    """An actionable message for a failed path validation."""
    cert = ctx.certificate
    if not ctx.trusted:
        return ("The trusted certificate store is empty, so no chain can reach a trusted root CA. Add the root CA "
                "that issued the peer's chain with ipoffice.security.trusted_certificate (or give 'trusted').")
    # Walk the issuers by name and signature to tell the common cases apart.
    try:
        walked = _certs.build_chain(cert, list(ctx.chain) + list(ctx.trusted))
    except Exception:  # a malformed key on the way: the diagnosis below judges what was presented
        walked = None
    if walked == []:
        return _missing_issuer_message(cert, _issuers_of(ctx, cert))
    if walked:
        last = walked[-1]
        if not is_self_signed(last):
            return ("The chain of '%s' stops at '%s': its issuer '%s' is neither in the presented chain nor in the "
                    "trusted certificate store. Make the peer send its intermediate certificates, or add the issuing "
                    "root CA with ipoffice.security.trusted_certificate."
                    % (_subject(cert), _subject(last), _issuer(last)))
        if last not in ctx.trusted:
            return ("The chain of '%s' ends at the root CA '%s', which is not in the trusted certificate store. Add "
                    "that root with ipoffice.security.trusted_certificate if you trust it."
                    % (_subject(cert), _subject(last)))
    return ("No valid trust chain from '%s' to a root CA in the trusted certificate store: %s. Fix the peer's "
            "certificate chain, or add the right root CA with ipoffice.security.trusted_certificate."
            % (_subject(cert), _diagnosis(ctx, cert, exc)))


def check_self_signed(ctx):
    if ctx.facts.self_signed():
        ctx.fail("self_signed", "The certificate '%s' is self-signed; level %s needs one issued by a CA. Give the peer "
                 "a CA-issued certificate, or lower the level." % (_subject(ctx.certificate), ctx.level))


def check_reflected(ctx):
    cert = ctx.certificate
    if not ctx.identities:
        return
    key = None
    for identity in ctx.identities:
        if identity == cert:
            ctx.fail("reflected", "The certificate '%s' is this system's own identity certificate, presented back to "
                     "it (a reflection). The peer must use its own certificate." % _subject(cert))
            return
        if key is None:
            key = cert.public_key()
        if identity.public_key() == key:
            ctx.fail("reflected", "The certificate '%s' carries this system's own identity key, presented back to it "
                     "(a reflection). The peer must use its own key and certificate." % _subject(cert))
            return


def check_pinned(ctx):
    if ctx.certificate not in ctx.trusted:
        ctx.fail("not_pinned", "Level %s needs an exact copy of the certificate '%s' (SHA-256 %s) in the trusted "
                 "certificate store. Add it with ipoffice.security.trusted_certificate, or lower the level."
                 % (ctx.level, _subject(ctx.certificate), _certs.fingerprint(ctx.certificate)))


def check_peer_name(ctx):
    if ctx.malformed:
        return
    if ctx.peer_name is None:
        return
    if not _names.names_match(ctx.facts.names(), ctx.peer_name):
        presented = _certs.subject_alt_names(ctx.certificate)
        if ctx.ext(x509.SubjectAlternativeName) is None:
            presented = ["no subjectAltName (a common name alone is not used, RFC 9525)"]
        ctx.fail("name_mismatch", "The certificate does not match the peer name '%s' (RFC 9525); it names %s. Connect "
                 "with a name the certificate holds (the 'peer_name' option), or reissue the certificate with that "
                 "name in its subjectAltName." % (ctx.peer_name, ", ".join(presented) or "nothing usable"))


def check_sip_domain(ctx):
    if ctx.malformed:
        return
    if ctx.sip_domain is None:
        return
    identities = ctx.facts.sip()
    reference = _names.sip_reference(ctx.sip_domain)
    if reference is None or reference not in identities:
        ctx.fail("sip_domain_mismatch", "The certificate is not authoritative for SIP domain '%s' (RFC 5922); its SIP "
                 "domain identities are %s. Check the 'sip_domain' option, or reissue the certificate with "
                 "subjectAltName URI:sip:%s." % (ctx.sip_domain, ", ".join(identities) or "none", ctx.sip_domain))


CHECKS = {
    "validity": check_validity,
    "key_size": check_key_size,
    "key_usage": check_key_usage,
    "purpose": check_purpose,
    "critical_extensions": check_critical_extensions,
    "signature": check_signature,
    "trust_chain": check_trust_chain,
    "self_signed": check_self_signed,
    "reflected": check_reflected,
    "pinned": check_pinned,
    "peer_name": check_peer_name,
    "sip_domain": check_sip_domain,
}
# The check functions of each level, in LEVEL_CHECKS order (looked up once, not per evaluation).
_LEVEL_FUNCTIONS = dict((level, tuple(CHECKS[name] for name in names)) for level, names in LEVEL_CHECKS.items())


# ------------------------------------------------------------------------------------------ evaluate


def evaluate(certificate, level="high_remote", purpose="sip_server", chain=(), trusted=(), identity=None,
             peer_name=None, sip_domain=None, at=None):
    """Run every check of ``level`` on ``certificate``; return a Report with every failing check.

    ``chain``: certificates the peer presented after the leaf; ``trusted``: the TCS; ``identity``: this
    system's identity certificate (or several: identity and telephony identity) for 'reflected';
    ``peer_name``: the host name or IP the connection was made to; ``sip_domain``: the SIP domain the
    peer must be authoritative for; ``at``: the validation time (default now).
    """
    if level not in LEVEL_CHECKS:
        raise ValueError("Unknown check level '%s'; use one of %s." % (level, ", ".join(LEVELS)))
    if purpose not in PURPOSE_EKUS:
        raise ValueError("Unknown purpose '%s'; use one of %s." % (purpose, ", ".join(PURPOSES)))
    if not isinstance(certificate, x509.Certificate):
        raise TypeError("certificate must be a cryptography x509.Certificate, got %s" % type(certificate).__name__)
    if level in REMOTE_LEVELS and not peer_name and not sip_domain:
        raise ValueError("Level %s validates the peer's name: give peer_name (the host name or IP address the "
                         "connection is made to) or sip_domain (the SIP domain the peer must serve), or use a level "
                         "without remote checks." % level)
    ctx = _Context(certificate, level, purpose, _as_list(chain), _as_list(trusted), _as_list(identity),
                   peer_name or None, sip_domain or None, _utc(at))
    for check in _LEVEL_FUNCTIONS[level]:
        check(ctx)
    return Report(level, purpose, ctx.found, LEVEL_CHECKS[level], ctx.path)
