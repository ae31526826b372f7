# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""issued_certificate: a certificate and key For Different Machine, signed by the system's internal CA.

The files are written outside the store; the store records what it issued (subject, fingerprint,
validity, output path: ``_dependents.record_issued``) when a run issues a new certificate, so that the
system CA's trusted entry is known to be in use.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _dependents
from ansible_collections.ipoffice.security.plugins.module_utils._identity import (
    SHA1_WARNING,
    check_days,
    check_renewal_window,
    check_within_ca,
    full_mismatches,
    in_renewal_window,
    issue_mismatches,
    name_mismatches,
    parse_alt_names,
    resolve_naming,
)
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    DEFAULT_SIGNATURE,
    ISSUED_CERTIFICATE_MAX_DAYS,
    ISSUED_FORMATS,
    WEAK_SIGNATURES,
    SecurityError,
    check_choice,
    given,
)
from ansible_collections.ipoffice.security.plugins.module_utils._results import diff
from ansible_collections.ipoffice.security.plugins.module_utils._store import replace_file

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
except ImportError:  # pragma: no cover - reported by the modules
    pass

OUTPUT_MODE = 0o600


# The CSR route: the weakest public keys a CSR may carry (RSA modulus bits, EC curve bits).
CSR_MINIMUM_RSA_BITS = 2048
CSR_MINIMUM_EC_BITS = 256
CSR_HASH_SIGNATURE = "sha256_rsa2048"  # the CA signs CSRs with SHA-256 (only the hash of this choice is used)


class IssuedRequest(object):
    def __init__(self, naming, output_format, path, private_key_path, chain_path, password, renew_before_days,
                 csr=None):
        self.naming = naming
        self.format = output_format
        self.path = path
        self.private_key_path = private_key_path
        self.chain_path = chain_path
        self.password = password
        self.renew_before_days = renew_before_days
        self.csr = csr  # with a CSR: only its public key is certified; no key is made or written

    def paths(self):
        return [p for p in (self.path, self.private_key_path, self.chain_path) if p]


def load_signing_request(params):
    """The CSR of csr_path / csr_content, its signature verified and its key strong enough; None without."""
    path, content = params.get("csr_path"), params.get("csr_content")
    if path is None and content is None:
        return None
    option = "csr_path" if path is not None else "csr_content"
    if path is not None and content is not None:
        raise SecurityError("conflicting_options", "Give either 'csr_path' or 'csr_content', not both.",
                            option="csr_content")
    csr = _certs.load_csr(_certs.read_input(path=path, content=content, option=option), option=option)
    try:
        valid = csr.is_signature_valid
    except Exception:  # an algorithm cryptography cannot check is as good as a bad signature here
        valid = False
    if not valid:
        raise SecurityError("csr_signature_invalid", "The signature of the certificate signing request in '%s' does "
                            "not verify with the public key it carries: it was altered or is damaged. Generate the "
                            "CSR again on the system and change the '%s' option." % (option, option), option=option)
    key_type, bits, _curve = _certs.key_description(csr.public_key())
    weak = (key_type == "RSA" and bits < CSR_MINIMUM_RSA_BITS) or (key_type == "EC" and bits < CSR_MINIMUM_EC_BITS) \
        or key_type == "DSA"
    if weak:
        raise SecurityError("csr_weak_key", "The certificate signing request in '%s' carries a %s %s-bit key; the "
                            "system CA signs only RSA keys of at least %d bits or EC keys of at least %d bits (peers "
                            "at High refuse weaker ones). Generate a stronger key and CSR on the system and change the "
                            "'%s' option." % (option, key_type, bits, CSR_MINIMUM_RSA_BITS, CSR_MINIMUM_EC_BITS,
                                              option), option=option)
    return csr


def _csr_request(params, csr):
    """The issued_certificate request for a CSR: subject and SANs from it unless given, PEM output only."""
    option = "csr_path" if params.get("csr_path") is not None else "csr_content"
    if params.get("format") not in (None, "pem"):
        raise SecurityError("option_not_applicable", "With a CSR the private key stays on the system that made it, so "
                            "there is nothing to put in a PKCS#12: remove 'format' or set 'format: pem'.",
                            option="format")
    for name in ("private_key_path", "password", "signature"):
        if given(params, name):
            raise SecurityError("option_not_applicable", "With a CSR ('%s') the key is the CSR's and never leaves the "
                                "system that made it: remove the '%s' option." % (option, name), option=name)
    valid_days = params["valid_days"] if given(params, "valid_days") else ISSUED_CERTIFICATE_MAX_DAYS
    check_days(valid_days, "valid_days", 1, ISSUED_CERTIFICATE_MAX_DAYS,
               " (a certificate For Different Machine is valid at most %d days)" % ISSUED_CERTIFICATE_MAX_DAYS)
    if given(params, "subject_name") and str(params["subject_name"]).strip():
        subject_text = params["subject_name"]
        subject = _certs.parse_subject(subject_text)
    elif list(csr.subject):
        subject, subject_text = csr.subject, csr.subject.rfc4514_string()
    else:
        raise SecurityError("invalid_name", "The CSR in '%s' has an empty subject: set the 'subject_name' option."
                            % option, option="subject_name")
    if given(params, "subject_alt_names"):
        alt_names = parse_alt_names(params["subject_alt_names"])
    else:
        try:
            alt_names = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            alt_names = None
        except ValueError as exc:
            raise SecurityError("invalid_csr", "The CSR in '%s' has malformed extensions (%s). Generate it again or "
                                "change the '%s' option." % (option, exc, option), option=option)
    naming = resolve_naming(subject_text, alt_names, CSR_HASH_SIGNATURE, valid_days)
    naming.subject = subject
    path = params.get("path")
    if not path:
        raise SecurityError("missing_option", "Set the 'path' option: where to write the certificate.",
                            option="path")
    chain_path = params.get("chain_path")
    if chain_path and os.path.abspath(chain_path) == os.path.abspath(path):
        raise SecurityError("conflicting_options", "'path' and 'chain_path' must be different files.",
                            option="chain_path")
    renew = params.get("renew_before_days")
    if renew is not None:
        check_days(renew, "renew_before_days", 0, ISSUED_CERTIFICATE_MAX_DAYS)
    return IssuedRequest(naming, "pem", path, None, chain_path, None, renew, csr=csr)


def csr_mismatches(cert, request, issuer):
    """Why an existing certificate does not answer the CSR request (key, names, hash, validity, issuer)."""
    naming = request.naming
    reasons = []
    if _certs.public_key_der(cert) != _certs.public_key_der(request.csr):
        reasons.append("it certifies another key than the CSR's")
    reasons.extend(name_mismatches(cert, naming))
    reasons.extend(issue_mismatches(cert, naming, issuer))
    return reasons


def issued_request(params):
    """Validate issued_certificate options (no store, no files touched)."""
    csr = load_signing_request(params)
    if csr is not None:
        return _csr_request(params, csr)
    output_format = check_choice(params.get("format") or "pkcs12", ISSUED_FORMATS, "format")
    signature = params.get("signature") or DEFAULT_SIGNATURE
    _certs.signature_choice(signature)
    valid_days = params["valid_days"] if given(params, "valid_days") else ISSUED_CERTIFICATE_MAX_DAYS
    check_days(valid_days, "valid_days", 1, ISSUED_CERTIFICATE_MAX_DAYS,
               " (a certificate For Different Machine is valid at most %d days)" % ISSUED_CERTIFICATE_MAX_DAYS)
    if not given(params, "subject_name") or not str(params["subject_name"]).strip():
        raise SecurityError("invalid_name", "Name the other server's certificate: set the 'subject_name' option.",
                            option="subject_name")
    alt_names = None
    if given(params, "subject_alt_names"):
        alt_names = parse_alt_names(params["subject_alt_names"])
    naming = resolve_naming(params["subject_name"], alt_names, signature, valid_days)
    path = params.get("path")
    if not path:
        raise SecurityError("missing_option", "Set the 'path' option: where to write the certificate.",
                            option="path")
    key_path = params.get("private_key_path")
    chain_path = params.get("chain_path")
    password = params.get("password")
    if output_format == "pkcs12":
        if key_path or chain_path:
            raise SecurityError("option_not_applicable", "With format: pkcs12 the key and chain are inside the file at "
                                "'path'; remove 'private_key_path'/'chain_path' or set 'format: pem'.",
                                option="private_key_path" if key_path else "chain_path")
        if not password:
            raise SecurityError("password_required", "A PKCS#12 holds the private key: set the 'password' option to "
                                "protect it (or use 'format: pem').", option="password")
    elif not key_path:
        raise SecurityError("missing_option", "With format: pem the private key is a separate file: set the "
                            "'private_key_path' option.", option="private_key_path")
    paths = [os.path.abspath(p) for p in (path, key_path, chain_path) if p]
    if len(set(paths)) != len(paths):
        raise SecurityError("conflicting_options", "'path', 'private_key_path' and 'chain_path' must be different "
                            "files.", option="private_key_path")
    renew = params.get("renew_before_days")
    if renew is not None:
        check_days(renew, "renew_before_days", 0, ISSUED_CERTIFICATE_MAX_DAYS)
    return IssuedRequest(naming, output_format, path, key_path, chain_path, password, renew)


class IssuedPlan(object):
    """What plan_issued found: the existing certificate (if readable), why it is replaced, files to write."""

    def __init__(self, request, existing, reasons, files, modes):
        self.request = request
        self.existing = existing
        self.reasons = reasons
        self.files = files          # {path: bytes} to write (empty: content kept)
        self.modes = modes          # paths whose mode must become 0600
        self.cert = None
        self.chain = []

    @property
    def changed(self):
        return bool(self.files or self.modes)


def issuer_chain(state):
    """The internal CA and its issuers from the trusted store (the CA is normally its own root)."""
    return [state.ca.cert] + _certs.build_chain(state.ca.cert, state.trusted_certificates())


def _read_output(path, option):
    """Bytes of an existing output file, None when absent; refuses what is not a regular file."""
    if not os.path.lexists(path):
        return None
    if os.path.islink(path) or not os.path.isfile(path):
        raise SecurityError("invalid_output_path", "%s exists and is not a regular file; it is never replaced. "
                            "Change the '%s' option." % (path, option), option=option)
    return _certs.read_input(path=path, option=option)


def read_issued(request):
    """(cert, key, chain) from the existing output files, or raise SecurityError / return None if absent."""
    data = _read_output(request.path, "path")
    if request.format == "pkcs12":
        if data is None:
            return None
        bundle = _certs.load_bundle(data, password=request.password, option="path")
        if bundle.format != "pkcs12":
            raise SecurityError("invalid_pkcs12", "%s is not a PKCS#12 file." % request.path, option="path")
        cert = bundle.key_certificate
        chain = [c for c in bundle.certificates if cert is None or _certs.fingerprint(c) != _certs.fingerprint(cert)]
        return cert, bundle.key, chain
    key_data = _read_output(request.private_key_path, "private_key_path") if request.csr is None else b""
    chain_data = _read_output(request.chain_path, "chain_path") if request.chain_path else b""
    if data is None or key_data is None or chain_data is None:
        return None
    cert = _certs.load_certificate(data, option="path")
    if request.csr is not None:
        return cert, request.csr, (_certs.load_certificates(chain_data, option="chain_path")
                                   if request.chain_path else None)
    key = _certs.load_private_key(key_data, request.password, option="private_key_path")
    chain = _certs.load_certificates(chain_data, option="chain_path") if request.chain_path else None
    return cert, key, chain


def plan_issued(state, request, now=None):
    """Decide whether the output files hold a certificate that still satisfies the request."""
    now = now or _certs.utcnow()
    if state.ca is None:
        raise SecurityError("no_internal_ca", "This system (platform %s) has no internal CA, so it cannot issue "
                            "certificates For Different Machine. Run this against a server-platform store (the "
                            "'store_path' option)." % state.platform, option="platform")
    naming = request.naming
    explicit = request.renew_before_days is not None
    renew_days = request.renew_before_days if explicit else \
        state.settings["checks"]["certificate_expiry_warning_days"]
    check_renewal_window(renew_days, naming.valid_days, explicit)
    chain = issuer_chain(state)
    reasons = []
    existing = None
    try:
        found = read_issued(request)
    except SecurityError as exc:
        if exc.code == "invalid_output_path":
            raise
        found = None
        reasons.append("the existing output cannot be used (%s)" % exc.message)
    if found is None and not reasons:
        reasons.append("the output files do not all exist yet")
    if found is not None:
        cert, key, have_chain = found
        if cert is None or key is None:
            reasons.append("the existing output lacks the certificate or its key")
        else:
            existing = cert
            if request.csr is not None:
                reasons.extend(csr_mismatches(cert, request, state.ca.cert))
            elif not _certs.key_matches(cert, key):
                reasons.append("the existing key does not match the existing certificate")
            if request.csr is None:
                reasons.extend(full_mismatches(cert, naming, state.ca.cert))
            if in_renewal_window(cert, renew_days, now):
                reasons.append("it expires within renew_before_days (%d)" % renew_days)
            if have_chain is not None and \
                    [_certs.fingerprint(c) for c in have_chain] != [_certs.fingerprint(c) for c in chain]:
                reasons.append("the chain is not the internal CA's")
    files = {}
    modes = []
    plan = IssuedPlan(request, existing, reasons, files, modes)
    plan.chain = chain
    if reasons:
        check_within_ca(state.ca.cert, naming.valid_days, now)
        for option, path in (("path", request.path), ("private_key_path", request.private_key_path),
                             ("chain_path", request.chain_path)):
            if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                raise SecurityError("invalid_output_path", "The directory of %s does not exist. Create it first or "
                                    "change the '%s' option." % (path, option), option=option)
        # With a CSR only its public key is certified (the private key stays where the CSR was made).
        key = request.csr if request.csr is not None \
            else _certs.generate_private_key(naming.signature)
        cert = _certs.build_certificate(naming.subject, key, naming.valid_days, signature=naming.signature,
                                        subject_alt_names=naming.alt_names, issuer_cert=state.ca.cert,
                                        issuer_key=state.ca.key)
        plan.cert = cert
        if request.format == "pkcs12":
            files[request.path] = _certs.export_pkcs12(naming.subject_text[:64], key, cert, chain, request.password)
        else:
            files[request.path] = _certs.cert_pem(cert)
            if request.private_key_path:
                files[request.private_key_path] = _key_file(key, request.password)
            if request.chain_path:
                files[request.chain_path] = _certs.certs_pem(chain)
    else:
        plan.cert = existing
        for path in request.paths():
            if stat.S_IMODE(os.lstat(path).st_mode) != OUTPUT_MODE:
                modes.append(path)
    return plan


def _key_file(key, password):
    if password:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.BestAvailableEncryption(password.encode("utf-8")))
    return _certs.key_pem(key)


def write_issued(plan):
    """Write the planned files atomically (temp file + rename in the same directory), mode 0600."""
    for path, data in sorted(plan.files.items()):
        _write_atomic(path, data)
    request = plan.request
    options = {request.path: "path", request.private_key_path: "private_key_path", request.chain_path: "chain_path"}
    for path in plan.modes:
        _fix_mode(path, options.get(path, "path"))


def _fix_mode(path, option):
    """Make an existing output 0600 through the file itself (an O_NOFOLLOW fd), never by path.

    A symlink swapped in since planning is refused, so it cannot redirect the change to another file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SecurityError("invalid_output_path", "%s changed while the task ran (%s): it is no longer a regular file "
                            "and is never followed or replaced. Nothing was changed there; check who else writes "
                            "it, or change the '%s' option." % (path, exc.strerror, option), option=option)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SecurityError("invalid_output_path", "%s changed while the task ran: it is no longer a regular file "
                                "and is never changed. Check who else writes it, or change the '%s' option."
                                % (path, option), option=option)
        os.fchmod(fd, OUTPUT_MODE)
    finally:
        os.close(fd)


def _write_atomic(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise SecurityError("invalid_output_path", "The directory %s does not exist. Create it first or change the "
                            "output path options." % directory, option="path")
    replace_file(path, data, OUTPUT_MODE)


def _csr_alt_names(csr):
    try:
        return _certs.format_general_names(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except (x509.ExtensionNotFound, ValueError):
        return []


def issued_view(cert, chain, now=None):
    if cert is None:
        return None
    info = _certs.cert_info(cert, now)
    info["chain"] = [_certs.cert_info(c, now) for c in chain]
    return info


def run(store, params, check_mode=False, want_diff=False, now=None):
    """The issued_certificate module: plan against the store's CA, record what is issued, write the files."""
    request = issued_request(params)
    now = now or _certs.utcnow()

    def mutate(state):
        plan = plan_issued(state, request, now)
        if plan.reasons:  # a new certificate: recorded, so removing its CA from the TCS is refused
            _dependents.record_issued(state, plan.cert, plan.chain, request.path, now)
        return plan

    update = store.update(mutate, check_mode=check_mode)
    plan = update.value
    if plan.changed and not check_mode:
        write_issued(plan)
    result = {
        "changed": update.changed or plan.changed,
        "certificate": issued_view(plan.cert, plan.chain, now),
        "reasons": plan.reasons,
        "files": {"path": request.path, "private_key_path": request.private_key_path,
                  "chain_path": request.chain_path},
        "warnings": [SHA1_WARNING] if request.naming.signature in WEAK_SIGNATURES else [],
    }
    if request.csr is not None:
        key_type, bits, curve = _certs.key_description(request.csr.public_key())
        result["csr"] = {"subject": request.csr.subject.rfc4514_string(),
                         "subject_alt_names": _csr_alt_names(request.csr),
                         "key_type": key_type, "key_bits": bits, "key_curve": curve}
    if want_diff:
        result["diff"] = diff(issued_view(plan.existing, plan.chain, now) or {},
                              issued_view(plan.cert, plan.chain, now) or {})
    return result
