# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SCEP settings (docs/scep.md) and enrollment decisions: every decision of the ``scep`` module.

- ``apply_settings``: the SCEP settings and the write-only password (``update_password``).
- ``resolve_request`` / ``enrollment_reason``: whether the identity must be (re)enrolled: no SCEP-issued
  identity, a request that no longer matches the identity, the renewal window, or a pending transaction
  to resume.
- ``converge``: the whole run.  Network I/O happens outside the store lock: the state is read, the
  server is talked to, and only then ``store.update`` installs the result (after re-checking that the
  identity did not change meanwhile).  A FAILURE reply or any error leaves the store exactly as it was.
  A PENDING reply saves the transaction (the new key as a 0600 secret) so that the next run resumes it.

Check mode never sends a certificate request: it predicts ``changed`` from the same decisions, and only
reads GetCACaps/GetCACert when ``ca_fingerprint`` is set, to refuse a wrong CA early.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import time

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _cryptography_dep
from ansible_collections.ipoffice.security.plugins.module_utils._identity import chain_warning
from ansible_collections.ipoffice.security.plugins.module_utils._info import credential_info
from ansible_collections.ipoffice.security.plugins.module_utils._results import diff
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    DEFAULT_SCEP_RENEW_BEFORE_DAYS,
    DEFAULT_SIGNATURE,
    MAX_SECRET_CHARS,
    RENEWAL_MESSAGES,
    SETTINGS_BY_AREA,
    UPDATE_PASSWORD_CHOICES,
    SecurityError,
    check_length,
    check_text,
    scep_port,
    validate_value,
)
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential

AREA = "scep"
SETTING_NAMES = tuple(n for n, s in SETTINGS_BY_AREA[AREA].items() if not s.secret)
PASSWORD_SECRET = "scep_password"
PENDING_DATA = "scep_pending"
PENDING_KEY_SECRET = "scep_pending_key"
# The SCEP messageType values of _scep.PKCS_REQ and _scep.RENEWAL_REQ (RFC 8894 3.2.1.2). _scep, the protocol
# client (asn1crypto, ssl, http.client), is imported only by the functions that talk to a server: a run that
# enrolls nothing does not pay to import it.
DEFAULT_RENEW_BEFORE_DAYS = DEFAULT_SCEP_RENEW_BEFORE_DAYS


def library_features(params):
    """The library features a scep call needs: the PKCS#7 envelope builder only when it may enroll (checking it
    imports pkcs7 and the email package; without enroll nothing talks to a server)."""
    return _cryptography_dep.SCEP_FEATURES if params.get("enroll") else _cryptography_dep.DEFAULT_FEATURES


# ------------------------------------------------------------------------------------------ settings


def apply_settings(state, params):
    """Apply the SCEP options given (None = leave as is) and the password; validate the result."""
    settings = state.settings[AREA]
    for name in SETTING_NAMES:
        value = params.get(name)
        if value is None:
            continue
        check_text(value, name)  # before any stripping: "ca.example.com\n" is not a host name
        if name == "uri":
            value = value.strip()
            if not value.startswith("/"):
                raise SecurityError("invalid_setting", "SCEP URI must be a path starting with '/', got '%s'. Change "
                                    "the 'uri' option." % value, option="uri")
        if name == "server":
            value = value.strip()
            if any(c in value for c in "/?#@ ") or value.count("]") > 1:
                raise SecurityError("invalid_setting", "SCEP Server IP Address/Name must be a host name or IP address "
                                    "only (no scheme, port or path), got '%s'. Change the 'server' option (and "
                                    "'scheme', 'port', 'uri')." % value, option="server")
        settings[name] = validate_value(AREA, name, value)
    if settings["active"] and not settings["server"]:
        raise SecurityError("missing_server", "SCEP cannot be active without a server. Set the 'server' option.",
                            option="server")
    password = params.get("password")
    if password is not None:
        check_length(password, MAX_SECRET_CHARS, "password", "The SCEP password")
        update = params.get("update_password") or UPDATE_PASSWORD_CHOICES[0]
        if update == "always" or not state.secrets.get(PASSWORD_SECRET):
            if password:
                state.secrets[PASSWORD_SECRET] = password.encode("utf-8")
            else:
                state.secrets.pop(PASSWORD_SECRET, None)
    return settings


KEPT_PASSWORD_WARNING = (
    "update_password is on_create and the store already holds a SCEP password that differs from the 'password' "
    "given: the stored one is kept, and it is the challenge an enrollment sends. Set 'update_password: always' to "
    "replace it. (The two are compared as digests; neither is shown.)")


def _digest(secret):
    return hashlib.sha256(secret).digest()


def kept_password_differs(state, params):
    """Whether ``update_password: on_create`` keeps a stored SCEP password that differs from the one given.

    Compared as SHA-256 digests in constant time (hmac.compare_digest): no value is compared, shown or kept.
    """
    given = params.get("password")
    stored = state.secrets.get(PASSWORD_SECRET)
    if given is None or not stored or (params.get("update_password") or UPDATE_PASSWORD_CHOICES[0]) != "on_create":
        return False
    return not hmac.compare_digest(_digest(given.encode("utf-8")), _digest(stored))


def challenge_note(state, params):
    """(what to say about the challenge an enrollment sent, the option to name) after the CA refused it.

    ``state`` is the one the enrollment was planned on (its password is the one sent).
    """
    if kept_password_differs(state, params):
        return ("The challenge sent was the SCEP password already stored, which differs from the 'password' given "
                "(update_password: on_create keeps the stored one): that may be why. Change the 'update_password' "
                "option to always to send the given one.", "update_password")
    if not state.secrets.get(PASSWORD_SECRET):
        return ("No challenge password was sent (none is stored): give the CA's enrollment code in 'password'.",
                "password")
    if params.get("password") is None:
        return ("The challenge sent was the SCEP password stored earlier ('password' was not given in this run): if "
                "the CA's enrollment code changed, give the new one in 'password'.", "password")
    return None


def server_url(settings):
    host = settings["server"]
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    return "%s://%s:%d%s" % (settings["scheme"], host, scep_port(settings["scheme"], settings["port"]),
                             settings["uri"])


def settings_view(state):
    """The SCEP settings as results and diffs show them: the password only as password_set."""
    view = dict(state.settings[AREA])
    view["password_set"] = bool(state.secrets.get(PASSWORD_SECRET))
    view["effective_port"] = scep_port(view["scheme"], view["port"])
    return view


# --------------------------------------------------------------------------------------- enrollment


class Request(object):
    """What the identity should be: subject, SANs, key choice, renewal window."""

    def __init__(self, subject_name, subject_alt_names, signature, renew_before_days):
        self.subject_name = subject_name
        self.subject = _certs.parse_subject(subject_name, option="subject_name")
        self.subject_alt_names = list(subject_alt_names)
        self.general_names = _certs.parse_subject_alt_names(self.subject_alt_names, option="subject_alt_names")
        self.signature = signature
        self.renew_before_days = renew_before_days

    def matches(self, meta):
        return (meta.get("subject") == self.subject.rfc4514_string()
                and sorted(meta.get("subject_alt_names") or []) == sorted(_certs.format_general_names(
                    self.general_names))
                and meta.get("signature") == self.signature)

    def meta(self, transaction_id, issuer):
        return {"source": "scep", "subject_name": self.subject_name, "subject": self.subject.rfc4514_string(),
                "subject_alt_names": _certs.format_general_names(self.general_names), "signature": self.signature,
                "scep_transaction_id": transaction_id, "issued_by": issuer.rfc4514_string()}


def resolve_request(state, params):
    """The request from the options; left-out subject/SANs default to the system name and current SANs."""
    identity = state.identity
    subject_name = params.get("subject_name")
    if not subject_name:
        subject_name = (identity.meta.get("subject_name") if identity is not None else None) or state.system_name
    sans = params.get("subject_alt_names")
    if sans is None:
        if identity is not None and identity.meta.get("subject_alt_names") is not None:
            sans = identity.meta["subject_alt_names"]
        elif identity is not None:
            sans = _certs.subject_alt_names(identity.cert)
        else:
            sans = ["DNS:" + state.system_name]
    signature = params.get("signature") or DEFAULT_SIGNATURE
    _hash, key_type, _size = _certs.signature_choice(signature)
    if key_type != "rsa":
        raise SecurityError("scep_unsupported_key", "SCEP enrollment needs an RSA key (the CA encrypts its reply to "
                            "the requester's key); '%s' is not RSA. Change the 'signature' option." % signature,
                            option="signature")
    days = params.get("renew_before_days")
    days = DEFAULT_RENEW_BEFORE_DAYS if days is None else days
    return Request(subject_name, sans, signature, days)


def enrollment_reason(state, request, now=None):
    """Why the identity must be enrolled now, or None when the SCEP identity is current."""
    pending = state.data.get(PENDING_DATA)
    if pending and _pending_matches(pending, request):
        return "pending"
    identity = state.identity
    if identity is None or identity.meta.get("source") != "scep":
        return "not_scep_issued"
    if not request.matches(identity.meta):
        return "request_changed"
    if _certs.days_left(identity.cert, now) < request.renew_before_days:
        return "renewal_window"
    return None


def _pending_matches(pending, request):
    return (pending.get("subject") == request.subject.rfc4514_string()
            and sorted(pending.get("subject_alt_names") or []) == sorted(_certs.format_general_names(
                request.general_names))
            and pending.get("signature") == request.signature)


def check_pin(ca, ca_fingerprint):
    """Refuse the CA unless one of its CA certificates has the pinned SHA-256 fingerprint."""
    if not ca_fingerprint:
        return
    wanted = _certs.normalize_fingerprint(ca_fingerprint, option="ca_fingerprint")
    got = [_certs.fingerprint(c) for c in ca.ca_certificates]
    if wanted not in got:
        raise SecurityError("ca_fingerprint_mismatch", "The SCEP server's CA certificate (%s, SHA-256 %s) is not the "
                            "one 'ca_fingerprint' pins (%s); nothing was sent or changed. Check the server, or change "
                            "the 'ca_fingerprint' option." % (ca.ca.subject.rfc4514_string(), ", ".join(got), wanted),
                            option="ca_fingerprint")


def make_client(state, params, url=None):
    from ansible_collections.ipoffice.security.plugins.module_utils import _scep  # lazily: see RENEWAL_MESSAGES
    settings = state.settings[AREA]
    url = url or server_url(settings)
    cadata = None
    cafile = None
    if settings["scheme"] == "https":
        if params.get("ca_file"):
            cafile = params["ca_file"]
        else:
            trusted = state.trusted_certificates()
            if not trusted:
                raise SecurityError("scep_no_trust", "HTTPS to the SCEP server needs a trust anchor but the trusted "
                                    "certificate store is empty. Set the 'ca_file' option.", option="ca_file")
            cadata = _certs.certs_pem(trusted).decode("ascii")
    return _scep.Client(url, timeout=params.get("timeout") or _scep.DEFAULT_TIMEOUT,
                        retries=params.get("retries") if params.get("retries") is not None else _scep.DEFAULT_RETRIES,
                        cadata=cadata, cafile=cafile, ca_identifier=params.get("ca_identifier"),
                        proxy=_scep.proxy_for(url, use_proxy=params.get("use_proxy") is not False))


def failure_error(reply, what="request", note=None):
    """scep_failure for a FAILURE reply; ``note``: challenge_note() (what was sent as the challenge)."""
    from ansible_collections.ipoffice.security.plugins.module_utils import _scep  # lazily: see RENEWAL_MESSAGES
    name, text = _scep.fail_info_message(reply)
    outcome = ("The pending transaction was discarded; the next run sends a new request." if what == "poll"
               else "Nothing was changed.")
    option = "password" if name == "badRequest" else "server"
    if note and name == "badRequest":
        option = note[1]
    return SecurityError("scep_failure", "The SCEP server refused the certificate %s: %s. %s Check the 'password' "
                         "option (the challenge) and the CA's policy for this subject.%s"
                         % (what, text, outcome, (" " + note[0]) if note else ""),
                         option=option, fail_info=name, transaction_id=reply.transaction_id)


def issued_certificate(reply, key, ca):
    """The certificate of the reply for our key; it must be issued by the CA GetCACert returned."""
    ours = [c for c in reply.certificates if _certs.key_matches(c, key)]
    if not ours:
        raise SecurityError("scep_bad_reply", "The SCEP server's reply holds no certificate for the requested key; "
                            "nothing was changed.", option="server")
    cert = ours[0]
    candidates = ca.certificates + [c for c in reply.certificates if c is not cert]
    if not any(c.subject == cert.issuer and _certs.is_issued_by(cert, c) for c in ca.certificates):
        raise SecurityError("scep_bad_reply", "The certificate the SCEP server issued (issuer %s) is not signed by the "
                            "CA certificate GetCACert returned; nothing was changed." % cert.issuer.rfc4514_string(),
                            option="server")
    return cert, _certs.build_chain(cert, candidates)


class Outcome(object):
    def __init__(self, status, reason=None, transaction_id=None, ca=None, cert=None, key=None, request=None,
                 pending=None, pending_key=None):
        self.status = status
        self.reason = reason
        self.transaction_id = transaction_id
        self.ca = ca
        self.cert = cert
        self.key = key
        self.request = request
        self.pending = pending
        self.pending_key = pending_key


def _start(state, request, renewal_message):
    """A new transaction: fresh key, CSR with the challenge, the signer (current SCEP identity to renew)."""
    from ansible_collections.ipoffice.security.plugins.module_utils import _scep  # lazily: see RENEWAL_MESSAGES
    key = _certs.generate_private_key(request.signature)
    password = state.secrets.get(PASSWORD_SECRET, b"").decode("utf-8")
    csr = _scep.build_csr(key, request.subject, request.general_names, password or None)
    identity = state.identity
    renewal = (identity is not None and identity.meta.get("source") == "scep"
               and _certs.days_left(identity.cert) >= 0 and isinstance(identity.key, type(key)))
    if renewal:
        signer_cert, signer_key = identity.cert, identity.key
        message_type = RENEWAL_MESSAGES[renewal_message]
    else:
        signer_cert, signer_key = _scep.self_signed_signer(key, request.subject), key
        message_type = _scep.PKCS_REQ
    transaction_id = _scep.transaction_id_for(key)
    # What a poll needs, and nothing secret: the CSR carries the challenge password, so it is not kept
    # (settings.json is not a secret file, and kept generations would retain it).
    pending = {"transaction_id": transaction_id, "subject": request.subject.rfc4514_string(),
               "subject_alt_names": _certs.format_general_names(request.general_names),
               "signature": request.signature, "renewal": renewal,
               "signer_certificate": _certs.cert_pem(signer_cert).decode("ascii")}
    return key, csr, signer_cert, signer_key, message_type, transaction_id, pending


def validate_options(params):
    """The enrollment options' ranges (the settings' own are checked by the model)."""
    for name, minimum, maximum in (("wait_timeout", 0, 86400), ("timeout", 1, 600), ("retries", 0, 10),
                                   ("renew_before_days", 0, 3650)):
        value = params.get(name)
        if value is not None and not minimum <= value <= maximum:
            raise SecurityError("out_of_range", "%s must be an integer from %d to %d, got %s. Change the '%s' option."
                                % (name, minimum, maximum, value, name), option=name)


def plan_enrollment(preview, params, check_mode=False, sleep=time.sleep, now=None):
    """Whether and how the identity is enrolled, decided on ``preview`` (a state with the SCEP settings applied).

    This is the network part of the area: the SCEP server is contacted here, never under the store lock.
    Returns an Outcome for apply_scep; a FAILURE reply to a new request raises (nothing changed).
    """
    if not params.get("enroll"):
        return Outcome("not_requested")
    if not preview.settings[AREA]["active"]:
        raise SecurityError("scep_inactive", "enroll: true needs SCEP to be active. Set the 'active' option to "
                            "true (with 'server').", option="active")
    request = resolve_request(preview, params)
    reason = enrollment_reason(preview, request, now)
    if reason is None:
        return Outcome("current", reason=None, request=request)
    return _enroll(preview, params, request, reason, check_mode, sleep)


def apply_scep(state, params, outcome=None, basis=None):
    """The scep area on a state: the settings and password, then what the enrollment outcome installs.

    ``basis`` is the state the enrollment was planned on: a certificate (or a pending transaction) is only
    installed while the identity and the pending transaction are still the ones it was requested for.
    """
    warnings = [KEPT_PASSWORD_WARNING] if kept_password_differs(state, params) else []
    apply_settings(state, params)
    if outcome is None:
        _drop_pending_request(state)
        return warnings
    if outcome.status in ("issued", "pending", "failed"):
        _check_unchanged(basis, state)
    if outcome.status == "issued":
        state.identity = Credential(outcome.cert, outcome.key,
                                    outcome.request.meta(outcome.transaction_id, outcome.cert.issuer))
        state.data.pop(PENDING_DATA, None)
        state.secrets.pop(PENDING_KEY_SECRET, None)
        if params.get("install_ca_certificate"):
            state.add_trusted(outcome.ca.ca_certificates, option="install_ca_certificate")
        notice = chain_warning(state, state.identity, "system identity enrolled over SCEP",
                               "Set 'install_ca_certificate: true' (with 'ca_fingerprint') or trust the SCEP "
                               "CA's certificates first (ipoffice.security.trusted_certificate).")
        if notice:
            warnings.append(notice)
    elif outcome.status == "pending":
        state.data[PENDING_DATA] = outcome.pending
        state.secrets[PENDING_KEY_SECRET] = _certs.key_pem(outcome.pending_key)
    elif outcome.status == "failed":
        state.data.pop(PENDING_DATA, None)
        state.secrets.pop(PENDING_KEY_SECRET, None)
    _drop_pending_request(state)
    return warnings


def _drop_pending_request(state):
    """A pending transaction saved by an earlier version kept its CSR, with the challenge inside: drop it."""
    pending = state.data.get(PENDING_DATA)
    if isinstance(pending, dict) and "request" in pending:
        state.data[PENDING_DATA] = dict((k, v) for k, v in pending.items() if k != "request")


def area_result(before, after, outcome, params, changed, check_mode=False, warnings=()):
    """The scep result (and its diff) from the states before and after and the enrollment outcome."""
    changed = changed or (check_mode and outcome.status == "enrollment_needed")
    result = {"changed": changed, "status": outcome.status, "reason": outcome.reason,
              "settings": settings_view(after), "server_url": server_url(after.settings[AREA]),
              "warnings": list(warnings)}
    if outcome.transaction_id:
        result["transaction_id"] = outcome.transaction_id
    if outcome.ca is not None:
        result["ca"] = _certs.cert_info(outcome.ca.ca)
    if params.get("enroll"):
        result["identity"] = credential_info(after, after.identity)
    result["diff"] = diff(diff_view(before), diff_view(after))
    if check_mode and outcome.status == "enrollment_needed":
        result["diff"]["after"]["identity"] = "(enrolled over SCEP: %s)" % outcome.reason
    return result


def converge(store, params, check_mode=False, sleep=time.sleep, now=None):
    """The whole scep module run; returns the result dict (without warnings handling)."""
    validate_options(params)
    first = store.read()
    preview = first.copy()
    apply_settings(preview, params)
    outcome = plan_enrollment(preview, params, check_mode, sleep, now)
    warnings = []

    def mutate(state):
        warnings[:] = apply_scep(state, params, outcome, first)  # the store may run it again on a fresher state

    update = store.update(mutate, check_mode=check_mode)
    if outcome.status == "failed":
        raise outcome.pending
    return area_result(update.before, update.after, outcome, params, update.changed, check_mode, warnings)


def diff_view(state):
    identity = state.identity
    view = {"settings": settings_view(state)}
    if identity is not None:
        view["identity"] = dict((k, v) for k, v in _certs.cert_info(identity.cert).items() if k != "days_left")
        view["identity"]["source"] = identity.meta.get("source")
    pending = state.data.get(PENDING_DATA)
    view["pending_transaction"] = pending["transaction_id"] if pending else None
    view["trusted"] = sorted(state.trusted)
    return view


def _check_unchanged(first, state):
    if first.initialised != state.initialised or (
            first.initialised and (first.identity.fingerprint != state.identity.fingerprint
                                   or first.data.get(PENDING_DATA) != state.data.get(PENDING_DATA))):
        raise SecurityError("concurrent_change", "The identity or the pending SCEP transaction changed while the SCEP "
                            "server was contacted; nothing was installed. Run the task again.", option="store_path")


def _enroll(preview, params, request, reason, check_mode, sleep):
    from ansible_collections.ipoffice.security.plugins.module_utils import _scep  # lazily: see RENEWAL_MESSAGES
    client = make_client(preview, params)
    try:
        if check_mode:
            if params.get("ca_fingerprint"):
                ca = client.get_ca_cert()
                check_pin(ca, params["ca_fingerprint"])
                _scep.check_recipient(ca)
                return Outcome("enrollment_needed", reason=reason, ca=ca, request=request)
            return Outcome("enrollment_needed", reason=reason, request=request)
        ca = client.get_ca_cert()
        check_pin(ca, params.get("ca_fingerprint"))
        _scep.check_recipient(ca)
        if reason == "pending":
            pending = preview.data[PENDING_DATA]
            key = _certs.load_private_key(preview.secrets[PENDING_KEY_SECRET], option="store_path")
            signer_cert = _certs.load_certificate(pending["signer_certificate"].encode("ascii"), option="store_path")
            signer_key = preview.identity.key if pending.get("renewal") else key
            if pending.get("renewal") and not _certs.key_matches(signer_cert, signer_key):
                signer_key = key
            transaction_id = pending["transaction_id"]
            reply = client.poll(request.subject, signer_cert, signer_key, transaction_id)
        else:
            key, csr, signer_cert, signer_key, message_type, transaction_id, pending = _start(
                preview, request, params.get("renewal_message") or "pkcsreq")
            reply = client.enroll(csr, signer_cert, signer_key, transaction_id, message_type)
        # Poll every request_interval while the sleeps fit in wait_timeout (request time not counted,
        # so the number of polls does not depend on the server's speed).
        waited = 0
        wait_timeout = params.get("wait_timeout") or 0
        interval = preview.settings[AREA]["request_interval"]
        while reply.status == _scep.PENDING and waited + interval <= wait_timeout:
            sleep(interval)
            waited += interval
            reply = client.poll(request.subject, signer_cert, signer_key, transaction_id)
        if reply.status == _scep.FAILURE:
            if reason == "pending":
                # The CA rejected the transaction we saved: forget it (the next run starts anew), then fail.
                return Outcome("failed", reason=reason, transaction_id=transaction_id, ca=ca, request=request,
                               pending=failure_error(reply, "poll", challenge_note(preview, params)))
            raise failure_error(reply, "request", challenge_note(preview, params))
        if reply.status == _scep.PENDING:
            return Outcome("pending", reason=reason, transaction_id=transaction_id, ca=ca, request=request,
                           pending=pending, pending_key=key)
        cert, _chain = issued_certificate(reply, key, ca)
        return Outcome("issued", reason=reason, transaction_id=transaction_id, ca=ca, cert=cert, key=key,
                       request=request)
    finally:
        client.close()


def run(store, params, check_mode=False, want_diff=False):
    """The scep module: SCEP settings and, with enroll, the identity over SCEP."""
    result = converge(store, params, check_mode=check_mode)
    planned = result.pop("diff")
    if want_diff:
        result["diff"] = planned
    return result
