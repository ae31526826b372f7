# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The system's own internal CA: security_settings' ``ca`` area (regenerate it under a new key).

A server system starts with an internal root CA (``_store.initial_state``) that issues its identity, the
identities of ``source: ca``, certificates For Different Machine and, through ``source: issued_by``, the
identities of Server Edition secondaries.  The ``ca`` area declares what that CA should be, the way an
identity is declared: ``subject_name`` (default: the current CA's subject), ``signature`` and
``valid_days`` (defaults: what a new system starts with), and the same ``regenerate`` policy:

- partial: key type and size, subject; full: partial plus signature hash and validity length;
  ``renew_before_days`` (default: none, a CA is never renewed by time alone) renews by days left;
- ``never`` keeps it (warning when it differs), ``fail`` refuses to replace it
  (``regeneration_refused``), ``always`` replaces it on every run (never in a variable applied repeatedly).

A new CA is a new key and a new self-signed certificate, placed in the trusted store (so the offered
chain reaches it).  Its preflight, before anything is written: what the current CA issued and cannot be
reissued with it — certificates For Different Machine (issued_certificate outputs, until they expire) and
pinned peers that chain to it — is refused with ``ca_in_use`` unless ``allow_in_use`` (then warned).
The identities the current CA issued (``source: ca`` and the initial identity) are reissued by the new
CA in the same run, from what they record (the identity areas of the same call decide theirs).
The previous CA's certificate stays in the trusted store and, with ``retire_previous`` (default), is
retired: security_settings removes it once nothing depends on it (``retiring`` says what still does).
Server Edition secondaries whose identity the CA issued see ``issuer_changed`` and are reissued by their
next run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _dependents
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    DEFAULT_REGENERATE,
    DEFAULT_SIGNATURE,
    REGENERATE_CHOICES,
    SIGNATURES,
    TRUSTED_STORE_LIMIT,
    SecurityError,
    check_choice,
    given,
)
from ansible_collections.ipoffice.security.plugins.module_utils._store import INITIAL_CA_DAYS, Credential

CA_MAX_DAYS = 7305   # 20 years
CA_MIN_DAYS = 365


class CaRequest(object):
    def __init__(self, subject_name, signature, valid_days, regenerate, renew_before_days, retire_previous,
                 allow_in_use):
        self.subject_name = subject_name
        self.signature = signature
        self.valid_days = valid_days
        self.regenerate = regenerate
        self.renew_before_days = renew_before_days
        self.retire_previous = retire_previous
        self.allow_in_use = allow_in_use


def _days(value, option, minimum, maximum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise SecurityError("invalid_setting", "%s must be a whole number of days, got %r. Change the '%s' option."
                            % (option, value, option), option=option)
    if not minimum <= value <= maximum:
        raise SecurityError("out_of_range", "%s must be from %d to %d days, got %d. Change the '%s' option."
                            % (option, minimum, maximum, value, option), option=option)
    return value


def ca_request(params):
    """Validate the ``ca`` area's options (no store touched)."""
    signature = params.get("signature") or DEFAULT_SIGNATURE
    check_choice(signature, tuple(SIGNATURES), "signature")
    _certs.signature_choice(signature)
    valid_days = _days(params["valid_days"] if given(params, "valid_days") else INITIAL_CA_DAYS, "valid_days",
                       CA_MIN_DAYS, CA_MAX_DAYS)
    renew = params.get("renew_before_days")
    if renew is not None:
        _days(renew, "renew_before_days", 0, valid_days - 1)
    subject = params.get("subject_name")
    if given(params, "subject_name"):
        _certs.parse_subject(subject)
    regenerate = check_choice(params.get("regenerate") or DEFAULT_REGENERATE, REGENERATE_CHOICES, "regenerate")
    retire = params.get("retire_previous")
    return CaRequest(subject, signature, valid_days, regenerate, renew,
                     True if retire is None else bool(retire), bool(params.get("allow_in_use")))


class CaOutcome(object):
    def __init__(self):
        self.action = "kept"
        self.reasons = []
        self.reissued = []      # the identities (system, telephony) the new CA reissued
        self.warnings = []
        self.in_use = []        # what the previous CA left behind (allow_in_use)

    def as_result(self, state, now=None):
        return {"action": self.action, "reasons": list(self.reasons), "reissued": list(self.reissued),
                "certificate": _certs.cert_info(state.ca.cert, now) if state.ca else None,
                "previous": previous_cas(state), "in_use": list(self.in_use)}


def previous_cas(state):
    """The earlier internal CAs (fingerprints) still in the trusted store: what retire_previous retires."""
    if state.ca is None:
        return []
    return [fp for fp in state.ca.meta.get("previous") or [] if fp in state.trusted]


def _mismatches(cert, request, subject):
    _hash, key_type, size = SIGNATURES[request.signature]
    have_type, have_bits, have_curve = _certs.key_description(cert.public_key())
    partial = []
    if key_type == "rsa" and (have_type != "RSA" or have_bits != size):
        partial.append("key is %s %s, requested RSA %d" % (have_type, have_curve or have_bits, size))
    if key_type == "ec" and (have_type != "EC" or have_curve != size):
        partial.append("key is %s %s, requested EC %s" % (have_type, have_curve or have_bits, size))
    if cert.subject != subject:
        partial.append("subject is '%s', requested '%s'" % (cert.subject.rfc4514_string(), subject.rfc4514_string()))
    full = list(partial)
    if _certs.signature_hash_name(cert) != _hash:
        full.append("signature hash is %s, requested %s" % (_certs.signature_hash_name(cert), _hash))
    days = int(round((cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400.0))
    if days != request.valid_days:
        full.append("validity is %d days, requested %d" % (days, request.valid_days))
    return partial, full


def decide(state, request, now):
    """(regenerate?, reasons) under the regenerate policy."""
    current = state.ca.cert
    subject = _certs.parse_subject(request.subject_name) if request.subject_name else current.subject
    partial, full = _mismatches(current, request, subject)
    renew = []
    if request.renew_before_days is not None and _certs.days_left(current, now) < request.renew_before_days:
        renew = ["it expires within renew_before_days (%d)" % request.renew_before_days]
    policy = request.regenerate
    if policy == "always":
        return True, ["regenerate is 'always'"], subject
    if policy == "never":
        return False, full + renew, subject
    if policy == "fail":
        if full + renew:
            raise SecurityError("regeneration_refused", "The internal CA would have to be replaced (%s), but "
                                "regenerate is 'fail'. Set the 'regenerate' option to full_idempotence (or "
                                "partial_idempotence) to allow it." % "; ".join(full + renew), option="regenerate")
        return False, [], subject
    reasons = (partial if policy == "partial_idempotence" else full) + renew
    return bool(reasons), reasons, subject


def apply_ca(state, request, now=None, declared=()):
    """The ``ca`` area on a planned state.  ``declared``: the identity purposes ('system', 'telephony') whose
    area in the same call gives a source (they decide their own reissue after this step)."""
    now = now or _certs.utcnow()
    outcome = CaOutcome()
    if state.ca is None:
        raise SecurityError("no_internal_ca", "This system (platform %s) has no internal CA to regenerate. Remove "
                            "the 'ca' area for it." % state.platform, option=None)
    replace, reasons, subject = decide(state, request, now)
    outcome.reasons = reasons
    if not replace:
        if reasons:
            outcome.warnings.append("The internal CA was kept because regenerate is 'never', although %s."
                                    % "; ".join(reasons))
        return outcome
    old = state.ca
    left = _dependents.ca_dependents(state, old.cert, now)
    if left and not request.allow_in_use:
        raise SecurityError(
            "ca_in_use", "%s: a new internal CA would leave behind what the current one '%s' (sha256 %s) issued and "
            "cannot be reissued with it, so nothing was changed: %s. Reissue or replace those first (the pinned "
            "peer's new certificate, issued_certificate outputs from the new CA after the change), or set "
            "'allow_in_use: true' to regenerate it anyway." % (
                state.system_name, old.cert.subject.rfc4514_string(), old.fingerprint,
                "; ".join(d["description"] for d in left)), option="allow_in_use", in_use=left)
    if left:
        outcome.in_use = left
        outcome.warnings.append("regenerated the internal CA although the previous one '%s' (sha256 %s) is in use "
                                "(allow_in_use: true); these still chain to it: %s." % (
                                    old.cert.subject.rfc4514_string(), old.fingerprint,
                                    "; ".join(d["description"] for d in left)))
    key = _certs.generate_private_key(request.signature)
    cert = _certs.build_certificate(subject, key, request.valid_days, signature=request.signature, ca=True)
    previous = [fp for fp in [old.fingerprint] + list(old.meta.get("previous") or []) if fp in state.trusted]
    meta = {"source": "generate", "subject_name": subject.rfc4514_string(), "signature": request.signature,
            "valid_days": request.valid_days, "previous": sorted(set(previous))}
    state.ca = Credential(cert, key, meta)
    if len(state.trusted) >= TRUSTED_STORE_LIMIT:
        raise SecurityError("trusted_store_full", "The new internal CA must join the trusted store (so the offered "
                            "chain reaches it), which already holds %d certificates, the limit. Nothing was changed. "
                            "Remove or retire entries first (trusted.absent, trusted.retire)." % len(state.trusted),
                            option=None, count=len(state.trusted) + 1, limit=TRUSTED_STORE_LIMIT)
    state.add_trusted([cert])
    outcome.action = "regenerated"
    _reissue(state, old.cert, outcome, now, declared)
    return outcome


def _reissue(state, old_ca, outcome, now, declared):
    """The identities the previous CA issued, issued again by the new one from what they record."""
    for purpose in ("system", "telephony"):
        credential = state.credential(purpose)
        if credential is None or purpose in declared or not _certs.is_issued_by(credential.cert, old_ca):
            continue
        meta = credential.meta
        label = "telephony identity" if purpose == "telephony" else "system identity"
        if not all(meta.get(k) for k in ("subject_name", "signature", "valid_days")):
            outcome.warnings.append("The %s was issued by the previous internal CA but records no request to reissue "
                                    "it from (source %s); it keeps chaining to the previous CA, whose trusted entry "
                                    "stays while it does. Declare it in the identity area." % (label,
                                                                                               meta.get("source")))
            continue
        valid_days = int(meta["valid_days"])
        left = int((state.ca.cert.not_valid_after_utc - now).total_seconds() // 86400)
        if valid_days > left:  # a certificate never outlives its issuer
            outcome.warnings.append("The %s was reissued valid %d days, not its %d: the new internal CA expires "
                                    "first." % (label, left, valid_days))
            valid_days = left
        key = _certs.generate_private_key(meta["signature"])
        cert = _certs.build_certificate(meta["subject_name"], key, valid_days, signature=meta["signature"],
                                        subject_alt_names=list(meta.get("subject_alt_names") or []),
                                        issuer_cert=state.ca.cert, issuer_key=state.ca.key)
        new_meta = dict(meta, issued_by=state.ca.fingerprint)
        replacement = Credential(cert, key, new_meta)
        if purpose == "telephony":
            state.telephony = replacement
        else:
            state.identity = replacement
        outcome.reissued.append(purpose)
