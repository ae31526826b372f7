# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every decision about the identity certificate and "For Different Machine" certificates.

``identity_certificate`` and ``issued_certificate`` only wire these functions to Ansible:

- ``identity_request(params)`` validates the options (and reads/parses an import) before the store
  is touched; ``apply_identity(state, request)`` is the store mutation: the regenerate policy, the
  renewal window, automatic certificate management, the trusted-store additions of an import.
- ``issued_request(params)``, ``plan_issued(state, request)`` and ``write_issued(plan)`` issue a
  certificate and key for another server, signed by the internal CA, and keep the output files
  idempotent (the existing files are read back to decide).

The regenerate policy (community.crypto's enum, adapted to an identity a system always has):

``exists``
    the current identity came from the requested source (generate, ca, issued_by or import).  The identity a
    new system starts with (source ``initial``), or one from another source, does not count: the
    first request of a source always replaces it.
``partial_idempotence`` matches
    same key type and size (or curve), same subject, same set of subject alternative names, and for
    ``ca`` and ``issued_by`` issued by the issuer's current CA (an identity follows its issuer).
``full_idempotence`` matches
    partial, plus the same signature hash, the same validity length (``valid_days``; for ``issued_by``
    the length it was capped at when the issuer CA had less life left) and the same issuer
    (self-signed for ``generate``; the current internal CA for ``ca``; the current CA of
    ``issuer_store`` for ``issued_by``, see ``_issuer``).
renewal
    a generated or CA-issued identity with fewer than ``renew_before_days`` days left (or expired) is
    renewed by ``partial_idempotence``, ``full_idempotence`` and refused by ``fail``.  Outside that
    window time alone never causes a change: validity is compared as a length, never as dates.
``never`` keeps an existing identity whatever it is (warning when it does not match);
``fail`` refuses (``regeneration_refused``) when ``full_idempotence`` would replace it;
``always`` replaces it on every run.  For ``import`` the request matches when the current identity
is the very certificate given; ``always`` then behaves as ``full_idempotence`` (importing the same
certificate again would write the same store).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _issuer
from ansible_collections.ipoffice.security.plugins.module_utils._info import credential_info
from ansible_collections.ipoffice.security.plugins.module_utils._results import diff, judged_today
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    DEFAULT_REGENERATE,
    DEFAULT_SIGNATURE,
    IDENTITY_PURPOSES,
    IDENTITY_SOURCES,
    REGENERATE_CHOICES,
    SETTINGS_BY_AREA,
    SIGNATURES,
    WEAK_SIGNATURES,
    SecurityError,
    check_choice,
    given,
    validate_value,
)
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - reported by the modules
    pass

PURPOSES = IDENTITY_PURPOSES
SOURCES = IDENTITY_SOURCES
# A generated identity's default validity: the vendor's own self-generated identity on IP500 V2,
# and the longest "For Different Machine" certificate.
DEFAULT_VALID_DAYS = 825
# No identity outlives the ten years the internal CA is created for.
IDENTITY_MAX_DAYS = 3652
IDENTITY_SETTINGS = tuple(SETTINGS_BY_AREA["identity"])
# Options of each group, to refuse the ones that do not apply to the chosen source.
NAMING_OPTIONS = ("subject_name", "subject_alt_names", "signature", "valid_days", "renew_before_days")
IMPORT_OPTIONS = ("certificate_path", "certificate_content", "password", "private_key_path", "private_key_content",
                  "private_key_password", "chain_path", "chain_content")
# The sources that issue a new certificate from the request's naming options (Regenerate and its kin).
ISSUING_SOURCES = ("generate", "ca", "issued_by")
SHA1_WARNING = ("signature sha1_rsa1024 is the legacy SHA1/RSA1024 choice: peers whose received-certificate checks "
                "are at medium or above reject SHA-1 signatures, and high levels also reject 1024-bit keys. "
                "Use sha256_rsa2048 (or stronger) unless an old peer needs it.")


# ------------------------------------------------------------------------------------------- requests


class Naming(object):
    """What a generated or issued certificate should look like (resolved, comparable)."""

    def __init__(self, subject_text, subject, alt_names, signature, valid_days):
        self.subject_text = subject_text
        self.subject = subject
        self.alt_names = alt_names
        self.signature = signature
        self.valid_days = valid_days

    @property
    def hash_name(self):
        return SIGNATURES[self.signature][0]

    def meta(self):
        return {"subject_name": self.subject_text,
                "subject_alt_names": _certs.format_general_names(self.alt_names),
                "signature": self.signature, "valid_days": self.valid_days}


class Imported(object):
    """An identity to Set: the certificate, its key, and the other certificates that came with it."""

    def __init__(self, cert, key, others, warnings):
        self.cert = cert
        self.key = key
        self.others = others
        self.warnings = warnings

    def ca_certificates(self):
        return [c for c in self.others if _certs.is_ca(c)]


class IdentityRequest(object):
    def __init__(self, purpose, source, regenerate, renew_before_days, settings, subject_name=None,
                 subject_alt_names=None, signature=None, valid_days=None, imported=None):
        self.purpose = purpose
        self.source = source
        self.regenerate = regenerate
        self.renew_before_days = renew_before_days
        self.settings = settings
        self.subject_name = subject_name
        self.subject_alt_names = subject_alt_names
        self.signature = signature
        self.valid_days = valid_days
        self.imported = imported
        self.issuer = None  # _issuer.Issuer for source issued_by
        # The certificate checks settings to decide with (renewal window, telephony certificate use):
        # None means the state's; security_settings gives the ones its checks area is about to set.
        self.planned_checks = None

    def checks(self, state):
        return self.planned_checks if self.planned_checks is not None else state.settings["checks"]


def check_days(value, option, minimum, maximum, why=""):
    if isinstance(value, bool) or not isinstance(value, int):
        raise SecurityError("invalid_setting", "%s must be a whole number of days, got %r. Change the '%s' option."
                            % (option, value, option), option=option)
    if value < minimum or value > maximum:
        raise SecurityError("out_of_range", "%s must be from %d to %d days%s, got %d. Change the '%s' option."
                            % (option, minimum, maximum, why, value, option), option=option)
    return value


def _quoted(names):
    """Option names as a message names them: 'a', 'b'."""
    return ", ".join("'%s'" % name for name in names)


def identity_request(params, store_path=None):
    """Validate identity_certificate options; read and parse an import; read the issuer of issued_by.

    Touches no store of its own (the issuer's store is read without a lock and never written).
    ``store_path``: this system's store (an issuer_store naming it is refused); default params' store_path.
    """
    purpose = check_choice(params.get("purpose") or "system", PURPOSES, "purpose")
    source = params.get("source")
    if source is not None:
        check_choice(source, SOURCES, "source")
    regenerate = check_choice(params.get("regenerate") or DEFAULT_REGENERATE, REGENERATE_CHOICES, "regenerate")
    settings = {}
    for name in IDENTITY_SETTINGS:
        if given(params, name):
            settings[name] = validate_value("identity", name, params[name])
    if source != "import":
        stray = [name for name in IMPORT_OPTIONS if given(params, name)]
        if stray:
            several = len(stray) > 1
            raise SecurityError("option_not_applicable", "%s only appl%s to source: import (Set). Remove %s or set "
                                "'source: import'." % (_quoted(stray), "y" if several else "ies",
                                                       "them" if several else "it"), option=stray[0])
    if source not in ISSUING_SOURCES:
        stray = [name for name in NAMING_OPTIONS if given(params, name)]
        if stray:
            several = len(stray) > 1
            raise SecurityError("option_not_applicable", "%s only appl%s to source: generate, ca or issued_by "
                                "(Regenerate). Remove %s or set the 'source' option."
                                % (_quoted(stray), "y" if several else "ies", "them" if several else "it"),
                                option=stray[0])
    if source != "issued_by" and given(params, "issuer_store"):
        raise SecurityError("option_not_applicable", "'issuer_store' only applies to source: issued_by (an identity "
                            "issued by another system's CA). Remove it or set 'source: issued_by'.",
                            option="issuer_store")
    request = IdentityRequest(purpose, source, regenerate, params.get("renew_before_days"), settings)
    if source == "issued_by":
        request.issuer = _issuer.read_issuer(params.get("issuer_store"),
                                             store_path if store_path is not None else params.get("store_path"))
    if source in ISSUING_SOURCES:
        request.signature = params.get("signature") or DEFAULT_SIGNATURE
        _certs.signature_choice(request.signature)
        request.valid_days = check_days(params["valid_days"] if given(params, "valid_days") else DEFAULT_VALID_DAYS,
                                        "valid_days", 1, IDENTITY_MAX_DAYS)
        if given(params, "subject_name"):
            request.subject_name = params["subject_name"]
            _certs.parse_subject(request.subject_name)
        if given(params, "subject_alt_names"):
            request.subject_alt_names = parse_alt_names(params["subject_alt_names"])
        if request.renew_before_days is not None:
            check_days(request.renew_before_days, "renew_before_days", 0, IDENTITY_MAX_DAYS)
    elif source == "import":
        request.imported = load_import(params)
    return request


def parse_alt_names(values, option="subject_alt_names"):
    """Subject alternative names of a certificate we generate: one named system, so no wildcards.

    A wildcard dNSName is not RFC 5280 preferred name syntax (pkilint reports it) and RFC 9525
    discourages it; a wildcard certificate can still be imported.
    """
    names = _certs.parse_subject_alt_names(values, option=option)
    for name in names:
        if isinstance(name, x509.DNSName) and "*" in name.value:
            raise SecurityError("invalid_san", "'%s' is a wildcard DNS name; generated certificates name one system "
                                "exactly. List each name in the '%s' option (a wildcard certificate can be "
                                "imported with source: import)." % (name.value, option), option=option)
    return names


def _input(params, base, required=True):
    """Bytes and the option name of a <base>_path / <base>_content pair (or None)."""
    path_opt, content_opt = base + "_path", base + "_content"
    if given(params, path_opt) and given(params, content_opt):
        raise SecurityError("conflicting_options", "Give either '%s' or '%s', not both." % (path_opt, content_opt),
                            option=content_opt)
    if given(params, path_opt):
        return _certs.read_input(path=params[path_opt], option=path_opt), path_opt
    if given(params, content_opt):
        return _certs.read_input(content=params[content_opt], option=content_opt), content_opt
    if required:
        raise SecurityError("missing_certificate", "source: import needs the identity: set 'certificate_path' or "
                            "'certificate_content' (PKCS#12, PEM or DER).", option="certificate_path")
    return None, None


def load_import(params, now=None):
    """The identity of a Set: PKCS#12 (with password), or PEM/DER certificate + key (+ chain).

    Refuses a CA certificate, an expired certificate and a key that does not match; warns about a
    not-yet-valid certificate, weak keys or signatures, and non-CA certificates in the chain (which
    are not added to the trusted store).
    """
    now = now or _certs.utcnow()
    data, cert_option = _input(params, "certificate")
    password = params.get("password")
    if password is None:
        password = params.get("private_key_password")
    bundle = _certs.load_bundle(data, password=password, option=cert_option, allow_key=True)
    key = bundle.key
    key_from = cert_option  # the option the key came from: the bundle's, or the private_key_* one
    key_data, key_option = _input(params, "private_key", required=False)
    if key_data is not None:
        if key is not None:
            raise SecurityError("conflicting_options", "The %s already holds a private key; remove the '%s' option."
                                % (cert_option, key_option), option=key_option)
        key = _certs.load_private_key(key_data, params.get("private_key_password"), option=key_option)
        key_from = key_option
    if key is None:
        raise SecurityError("missing_private_key", "The %s holds no private key: give the identity's key in "
                            "'private_key_path' or 'private_key_content', or import a PKCS#12 that holds it."
                            % cert_option, option="private_key_path")
    if not bundle.certificates:
        raise SecurityError("invalid_certificate", "The %s holds no certificate. Check the '%s' option."
                            % (cert_option, cert_option), option=cert_option)
    leaf = bundle.key_certificate
    if leaf is None:
        matching = [c for c in bundle.certificates if _certs.key_matches(c, key)]
        leaf = matching[0] if matching else bundle.certificates[0]
    if not _certs.key_matches(leaf, key):
        if key_from == cert_option:
            advice = ("The key is the one in '%s': give a bundle whose key and certificate belong together."
                      % cert_option)
        else:
            advice = ("Give the matching key in 'private_key_path'/'private_key_content', or the matching "
                      "certificate.")
        raise SecurityError("key_mismatch", "The private key does not belong to the certificate '%s' (%s). %s"
                            % (leaf.subject.rfc4514_string(), _certs.fingerprint(leaf), advice), option=key_from)
    if _certs.is_ca(leaf):
        raise SecurityError("ca_certificate_as_identity", "The certificate '%s' is a CA certificate (basicConstraints "
                            "CA:true); an identity must be an end-entity certificate. Import the server certificate "
                            "issued by that CA in '%s' (the CA goes in the chain)."
                            % (leaf.subject.rfc4514_string(), cert_option), option=cert_option)
    if leaf.not_valid_after_utc < now:
        raise SecurityError("certificate_expired", "The certificate '%s' expired on %s; the system would present an "
                            "expired identity that every peer rejects. Import a current certificate in '%s'."
                            % (leaf.subject.rfc4514_string(), leaf.not_valid_after_utc.strftime("%Y-%m-%d"),
                               cert_option), option=cert_option)
    warnings = []
    if leaf.not_valid_before_utc > now:
        warnings.append("The imported certificate '%s' is not valid before %s; peers reject it until then."
                        % (leaf.subject.rfc4514_string(), leaf.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")))
    key_type, bits, _curve = _certs.key_description(leaf.public_key())
    if (key_type in ("RSA", "DSA") and bits < 2048) or _certs.signature_hash_name(leaf) in ("sha1", "md5"):
        warnings.append("The imported certificate '%s' has a weak key or signature (%s %s bits, %s): peers at high "
                        "check levels reject it." % (leaf.subject.rfc4514_string(), key_type, bits,
                                                     _certs.signature_algorithm_name(leaf)))
    others = [c for c in bundle.certificates if _certs.fingerprint(c) != _certs.fingerprint(leaf)]
    chain_data, chain_option = _input(params, "chain", required=False)
    if chain_data is not None:
        others.extend(_certs.load_certificates(chain_data, option=chain_option))
    unique = []
    seen = set()
    for cert in others:
        fp = _certs.fingerprint(cert)
        if fp not in seen:
            seen.add(fp)
            unique.append(cert)
    for cert in unique:
        if not _certs.is_ca(cert):
            warnings.append("Chain certificate '%s' is not a CA certificate; it was not added to the trusted store."
                            % cert.subject.rfc4514_string())
    return Imported(leaf, key, unique, warnings)


# ------------------------------------------------------------------------------------------ decisions


def default_subject_text(state):
    """The system FQDN/host name: a generated identity's subject is never empty."""
    if state.system_name:
        return state.system_name
    from ansible_collections.ipoffice.security.plugins.module_utils._store import default_system_name
    return default_system_name()


def default_alt_names(subject):
    """SAN for a request that names none: the common name as DNS name (or IP address); no common name, none.

    A common name that is neither is refused rather than silently dropped (a certificate without the
    name peers check is useless to them): give subject_alt_names explicitly, or change subject_name.
    """
    values = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        return []
    for prefix in ("IP:", "DNS:"):
        try:
            return _certs.parse_subject_alt_names([prefix + values[0].value])
        except SecurityError:
            continue
    raise SecurityError("invalid_san", "The common name '%s' is not a valid DNS name or IP address, so it cannot be "
                        "the default subject alternative name (peers check the name there). Change the "
                        "'subject_name' option, or give the 'subject_alt_names' option explicitly ([] for none)."
                        % values[0].value, option="subject_name")


def resolve_naming(subject_name, subject_alt_names, signature, valid_days):
    subject = _certs.parse_subject(subject_name)
    alt_names = subject_alt_names if subject_alt_names is not None else default_alt_names(subject)
    return Naming(subject_name, subject, list(alt_names), signature, valid_days)


def validity_days(cert):
    """Validity length in days (our certificates span exactly valid_days; rounding absorbs others')."""
    seconds = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()
    return int(round(seconds / 86400.0))


def _alt_name_set(cert):
    try:
        return set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return set()


def partial_mismatches(cert, naming):
    """Why cert does not match naming for partial_idempotence: key type/size, subject, SAN set."""
    reasons = []
    _hash, key_type, size = SIGNATURES[naming.signature]
    have_type, have_bits, have_curve = _certs.key_description(cert.public_key())
    if key_type == "rsa" and (have_type != "RSA" or have_bits != size):
        reasons.append("key is %s %s, requested RSA %d" % (have_type, have_curve or have_bits, size))
    if key_type == "ec" and (have_type != "EC" or have_curve != size):
        reasons.append("key is %s %s, requested EC %s" % (have_type, have_curve or have_bits, size))
    return reasons + name_mismatches(cert, naming)


def name_mismatches(cert, naming):
    """Why cert's subject or SAN set differs from naming's."""
    reasons = []
    if cert.subject != naming.subject:
        reasons.append("subject is '%s', requested '%s'"
                       % (cert.subject.rfc4514_string(), naming.subject.rfc4514_string()))
    if _alt_name_set(cert) != set(naming.alt_names):
        reasons.append("subject alternative names are %s, requested %s"
                       % (sorted(_certs.subject_alt_names(cert)),
                          sorted(_certs.format_general_names(naming.alt_names))))
    return reasons


def full_mismatches(cert, naming, issuer=None):
    """partial_mismatches plus signature hash, validity length and issuer (None: self-signed)."""
    return partial_mismatches(cert, naming) + issue_mismatches(cert, naming, issuer)


def issue_mismatches(cert, naming, issuer=None, accepted_days=None, issuer_label=None):
    """Why cert's signature hash, validity length or issuer (None: self-signed) differs from the request.

    ``accepted_days``: the validity lengths that match (default: valid_days alone); ``issuer_label``: how
    the issuer is named (default: the current internal CA).
    """
    reasons = []
    have_hash = _certs.signature_hash_name(cert)
    if have_hash != naming.hash_name:
        reasons.append("signature hash is %s, requested %s" % (have_hash, naming.hash_name))
    days = validity_days(cert)
    if days not in (accepted_days or (naming.valid_days,)):
        reasons.append("validity is %d days, requested %d" % (days, naming.valid_days))
    if issuer is None:
        if not _certs.is_self_signed(cert):
            reasons.append("it is issued by '%s', requested self-signed" % cert.issuer.rfc4514_string())
    else:
        reasons.extend(issuer_mismatch(cert, issuer, issuer_label))
    return reasons


def issuer_mismatch(cert, issuer, issuer_label=None):
    """[reason] when cert is not issued by issuer (the issuer's current CA), else []."""
    if _certs.is_issued_by(cert, issuer):
        return []
    label = issuer_label or "the current internal CA '%s'" % issuer.subject.rfc4514_string()
    return ["it is not issued by %s" % label]


def in_renewal_window(cert, renew_before_days, now):
    return _certs.days_left(cert, now) < renew_before_days


def check_renewal_window(renew_before_days, valid_days, explicit):
    if renew_before_days >= valid_days:
        raise SecurityError(
            "renewal_window_too_large",
            "renew_before_days (%d%s) must be smaller than valid_days (%d), or every run would renew the certificate. "
            "Lower 'renew_before_days' or raise 'valid_days'."
            % (renew_before_days, "" if explicit else ", the Certificate Expiry Warning Days", valid_days),
            option="renew_before_days")


class Decision(object):
    """What apply_identity decided: action (kept, created, replaced, renewed, regenerated) and why."""

    def __init__(self, action, reasons=None):
        self.action = action
        self.reasons = list(reasons or [])

    @property
    def replace(self):
        return self.action != "kept"


def decide(current, source, regenerate, mismatch_partial, mismatch_full, renew, label):
    """The regenerate policy (module docstring) as a pure function of the comparisons."""
    exists = current is not None and current.meta.get("source") == source
    if not exists:
        was = current.meta.get("source") if current is not None else None
        return Decision("created", ["there is no %s from source '%s' yet%s"
                                    % (label, source, " (current source: %s)" % was if was else "")])
    if regenerate == "always":
        return Decision("regenerated", ["regenerate is 'always'"])
    renewal = ["it expires within renew_before_days"] if renew else []
    if regenerate == "never":
        return Decision("kept", mismatch_full + renewal)
    if regenerate == "fail":
        reasons = mismatch_full + renewal
        if reasons:
            raise SecurityError("regeneration_refused", "The %s would have to be replaced (%s), but regenerate is "
                                "'fail'. Set the 'regenerate' option to full_idempotence (or partial_idempotence) to "
                                "allow it." % (label, "; ".join(reasons)), option="regenerate", reasons=reasons)
        return Decision("kept")
    reasons = mismatch_partial if regenerate == "partial_idempotence" else mismatch_full
    if reasons:
        return Decision("regenerated", reasons + renewal)
    if renewal:
        return Decision("renewed", renewal)
    return Decision("kept")


class IdentityOutcome(object):
    def __init__(self, decision=None, added=None, warnings=None):
        self.decision = decision
        self.added = list(added or [])
        self.warnings = list(warnings or [])
        # Warnings judged on the store's trusted certificates (the chain warning).
        self.state_warnings = []


def _label(purpose):
    return "telephony identity" if purpose == "telephony" else "system identity"


def apply_identity(state, request, now=None):
    """The identity_certificate mutation: runs on the store's copy; raising changes nothing."""
    now = now or _certs.utcnow()
    outcome = IdentityOutcome()
    for name, value in request.settings.items():
        state.settings["identity"][name] = value
    identity_settings = state.settings["identity"]
    auto = identity_settings["automatic_certificate_management"]
    if not auto:
        for name in ("san_details_origin", "automatic_phone_provisioning"):
            if name in request.settings and request.settings[name] != SETTINGS_BY_AREA["identity"][name].default:
                outcome.warnings.append("%s only has an effect while automatic_certificate_management is on."
                                        % name)
    if request.source is None:
        return outcome
    label = _label(request.purpose)
    if request.purpose == "telephony" and request.checks(state)["sip_telephony_certificate"] == "none":
        outcome.warnings.append("The telephony identity is only used when sip_telephony_certificate (module "
                                "certificate_checks) is not 'none'.")
    current = state.credential(request.purpose)
    if request.source == "import":
        credential, decision = _decide_import(state, request, current, label)
        outcome.warnings.extend(request.imported.warnings)
    else:
        credential, decision = _decide_generated(state, request, current, label, now, outcome.warnings)
    outcome.decision = decision
    if decision.action == "kept" and decision.reasons:
        outcome.warnings.append("The %s was kept because regenerate is 'never', although %s."
                                % (label, "; ".join(decision.reasons)))
    if decision.replace and auto:
        raise SecurityError("automatic_management_on", "automatic_certificate_management is on: an external service "
                            "supplies the %s, so it cannot be %s manually. Set 'automatic_certificate_management: "
                            "false' to manage it yourself." % (label, "set" if request.source == "import"
                                                               else "regenerated"),
                            option="automatic_certificate_management")
    if request.source == "import" and (decision.replace or decision.reasons == []):
        # The imported identity is (or becomes) current: its CA certificates join the trusted store,
        # the 25-entry limit checked before anything is written.
        option = "chain_path" if request.imported.ca_certificates() else "certificate_path"
        outcome.added = state.add_trusted(request.imported.ca_certificates(), option=option)
    if request.source == "issued_by" and (decision.replace or decision.reasons == []):
        # The issuer's CA (and its own issuers) join the trusted store, so the identity's chain is offered
        # and peers of this system can build it.
        outcome.added = state.add_trusted([request.issuer.cert] + request.issuer.chain, option="issuer_store")
    if decision.replace:
        new = credential()
        if request.purpose == "telephony":
            state.telephony = new
        else:
            state.identity = new
        if request.source == "import":
            notice = chain_warning(state, new, label, "Give the issuer chain ('chain_path' or 'chain_content') or "
                                   "trust the issuing CA first (ipoffice.security.trusted_certificate).")
            if notice:
                outcome.warnings.append(notice)
                outcome.state_warnings.append(notice)
    return outcome


def chain_warning(state, credential, label, fix):
    """A warning when peers cannot build an identity's chain from what the system has, else None.

    The system offers its identity with the issuers found in the trusted store (Offer ID Certificate
    Chain).  A peer checking at medium or above must build a chain to a root it trusts: when the issuer
    is neither given nor in the trusted store, it cannot (unless it happens to hold that issuer itself).
    Used for imported and SCEP-enrolled identities.
    """
    if _certs.is_self_signed(credential.cert):
        return None
    chain = state.chain_for(credential)
    last = chain[-1] if chain else credential.cert
    if _certs.is_self_signed(last):
        return None
    subject = credential.cert.subject.rfc4514_string()
    missing = last.issuer.rfc4514_string()
    if not chain:
        return ("The %s '%s' is issued by '%s', which is neither in the chain given nor in the trusted certificate "
                "store: peers that check received certificates at medium and above cannot build its chain. %s"
                % (label, subject, missing, fix))
    return ("The chain of the %s '%s' ends at '%s', whose issuer '%s' is neither given nor in the trusted "
            "certificate store: peers that check received certificates at medium and above can build its chain "
            "only if they hold that issuer themselves. %s" % (label, subject, last.subject.rfc4514_string(), missing,
                                                              fix))


def _decide_import(state, request, current, label):
    imported = request.imported
    fp = _certs.fingerprint(imported.cert)
    same = current is not None and current.fingerprint == fp and \
        _certs.key_pem(current.key) == _certs.key_pem(imported.key)
    mismatch = [] if same else ["the current certificate is not the one given (sha256 %s)" % fp]
    regenerate = "full_idempotence" if request.regenerate == "always" else request.regenerate
    if same and current.meta.get("source") != "import":
        decision = Decision("created", ["the same certificate is recorded as source '%s'" % current.meta.get("source")])
    else:
        decision = decide(current, "import", regenerate, mismatch, mismatch, False, label)
    if decision.action in ("regenerated", "created"):
        decision.action = "imported"
    return (lambda: Credential(imported.cert, imported.key, {"source": "import"})), decision


def _issuer_of(state, request):
    """(issuer certificate, key, how reasons name it) for the request's source; (None, None, None) self-signed."""
    if request.source == "ca":
        return state.ca.cert, state.ca.key, None
    if request.source == "issued_by":
        issuer = request.issuer
        return issuer.cert, issuer.key, "the current %s" % issuer.label()
    return None, None, None


def _accepted_days(current, naming, request):
    """The validity lengths that match: valid_days, and for issued_by the length it was capped at."""
    days = [naming.valid_days]
    meta = current.meta if current is not None else {}
    if request.source == "issued_by" and meta.get("valid_days") == naming.valid_days and meta.get("issued_days"):
        days.append(meta["issued_days"])
    return tuple(days)


def _decide_generated(state, request, current, label, now, warnings):
    if request.source == "ca" and state.ca is None:
        raise SecurityError("no_internal_ca", "This system (platform %s) has no internal CA, so the %s cannot be "
                            "issued by it. Use 'source: generate' (self-signed), 'source: import', or 'source: "
                            "issued_by' with the primary's store." % (state.platform, label), option="source")
    naming = resolve_naming(request.subject_name or default_subject_text(state), request.subject_alt_names,
                            request.signature, request.valid_days)
    explicit = request.renew_before_days is not None
    renew_days = request.renew_before_days if explicit else request.checks(state)["certificate_expiry_warning_days"]
    check_renewal_window(renew_days, naming.valid_days, explicit)
    if naming.signature in WEAK_SIGNATURES:
        warnings.append(SHA1_WARNING)
    issuer, issuer_key, issuer_label = _issuer_of(state, request)
    partial = full = []
    renew = False
    if current is not None:
        partial = partial_mismatches(current.cert, naming)
        full = partial + issue_mismatches(current.cert, naming, issuer, _accepted_days(current, naming, request),
                                          issuer_label)
        if issuer is not None:  # an identity follows its issuer, whatever the policy compares
            partial = partial + issuer_mismatch(current.cert, issuer, issuer_label)
        renew = in_renewal_window(current.cert, renew_days, now)
    decision = decide(current, request.source, request.regenerate, partial, full, renew, label)
    valid_days = naming.valid_days
    if decision.replace and request.source == "ca":
        check_within_ca(state.ca.cert, naming.valid_days, now)
    if decision.replace and request.source == "issued_by":
        valid_days = _issuer.capped_days(issuer, naming.valid_days, now)
        if valid_days <= renew_days:
            raise SecurityError(
                "issuer_ca_expiring", "The %s cannot be issued: the %s expires on %s, %d days from now, which is "
                "within the renewal window (%d days), so every run would reissue it. Regenerate the issuer's CA first "
                "(its security_settings 'ca' area), or lower 'renew_before_days'."
                % (label, request.issuer.label(), issuer.not_valid_after_utc.strftime("%Y-%m-%d"), valid_days,
                   renew_days), option="renew_before_days" if explicit else "issuer_store")
        if valid_days < naming.valid_days:
            warnings.append("The %s is valid %d days, not the %d asked for: a certificate never outlives its issuer, "
                            "the %s, which expires on %s." % (label, valid_days, naming.valid_days,
                                                              request.issuer.label(),
                                                              issuer.not_valid_after_utc.strftime("%Y-%m-%d")))

    def build():
        key = _certs.generate_private_key(naming.signature)
        cert = _certs.build_certificate(naming.subject, key, valid_days, signature=naming.signature,
                                        subject_alt_names=naming.alt_names, issuer_cert=issuer,
                                        issuer_key=issuer_key)
        meta = dict(naming.meta(), source=request.source)
        if explicit:
            # Recorded so that security_settings' state gathered can give the request back exactly.
            meta["renew_before_days"] = renew_days
        if issuer is not None:
            meta["issued_by"] = _certs.fingerprint(issuer)
        if request.source == "issued_by":
            meta.update(issued_meta(request.issuer, valid_days, current, state))
        return Credential(cert, key, meta)

    return build, decision


def issued_meta(issuer, valid_days, current, state):
    """What an issued_by identity records about its issuer: the store, the CA (certificate and fingerprint),
    the validity it got, and the earlier issuers' roots still trusted (retired by security_settings)."""
    previous = []
    if current is not None and current.meta.get("source") == "issued_by":
        previous = [current.meta.get("issued_by")] + list(current.meta.get("previous_issuers") or [])
    previous = [fp for fp in previous if fp and fp != issuer.fingerprint and fp in state.trusted]
    return {"issuer_store": issuer.path, "issuer_subject": issuer.subject,
            "issuer_certificate": _certs.cert_pem(issuer.cert).decode("ascii"),
            "issued_days": valid_days, "previous_issuers": sorted(set(previous))}


def check_within_ca(ca_cert, valid_days, now, option="valid_days"):
    end = now + datetime.timedelta(days=valid_days)
    if end > ca_cert.not_valid_after_utc:
        left = _certs.days_left(ca_cert, now)
        raise SecurityError("validity_exceeds_ca", "A certificate valid %d days would outlive the internal CA '%s', "
                            "which expires in %d days (%s). Lower the '%s' option."
                            % (valid_days, ca_cert.subject.rfc4514_string(), left,
                               ca_cert.not_valid_after_utc.strftime("%Y-%m-%d"), option), option=option)


# --------------------------------------------------------------------------------------------- views


def identity_view(state, purpose, now=None):
    """The parsed, secret-free view of one identity and its settings (results and diffs)."""
    credential = state.credential(purpose)
    info = credential_info(state, credential, now)
    return {
        "certificate": info,
        "settings": dict(state.settings["identity"]),
        "trusted_store": sorted(state.trusted),
    }


def identity_result(store_files, state, purpose, outcome, now=None):
    view = identity_view(state, purpose, now)
    certificate = view["certificate"]
    result = {
        "certificate": certificate,
        "chain": certificate["chain"] if certificate else [],
        "settings": view["settings"],
        "added_to_trusted_store": [_certs.cert_info(c, now) for c in outcome.added],
        "action": outcome.decision.action if outcome.decision else None,
        "reasons": outcome.decision.reasons if outcome.decision else [],
        "files": store_files,
    }
    return result


def identity_files(store_path, purpose):
    root = os.path.join(store_path, "current", "telephony" if purpose == "telephony" else "identity")
    return dict((name, os.path.join(root, name + ".pem")) for name in ("cert", "key", "chain", "fullchain"))


def run(store, params, check_mode=False, want_diff=False, now=None):
    """The identity_certificate module: one identity (system or telephony) converged in one store update."""
    request = identity_request(params)
    now = now or _certs.utcnow()
    update = store.update(lambda state: apply_identity(state, request, now), check_mode=check_mode)
    outcome = update.value
    result = identity_result(identity_files(store.path, request.purpose), update.after, request.purpose, outcome,
                             now)
    result["changed"] = update.changed
    result["warnings"] = judged_today(outcome.warnings, check_mode, outcome.state_warnings)
    if want_diff:
        result["diff"] = diff(identity_view(update.before, request.purpose, now),
                              identity_view(update.after, request.purpose, now))
    return result
