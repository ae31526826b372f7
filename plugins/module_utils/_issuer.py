# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identities issued by another system's store: ``source: issued_by`` (Server Edition secondaries).

A Server Edition secondary or expansion gets its identity "generated from the primary": here, issued by
the internal CA of the primary's store (``issuer_store``).  That store is read the way security_info
reads a store (no lock, nothing written, every file bounded), never changed, and its CA key is only used
in memory to sign the secondary's certificate.

- ``read_issuer(path)``: the issuing CA (certificate, key, its chain in the issuer's trusted store);
  ``issuer_store_missing`` when no store is there, ``issuer_without_ca`` for an IP500 V2 store (it has no
  internal CA), the store's own codes (``corrupt_store``, ``store_unreadable``, ...) naming ``issuer_store``.
- ``capped_days``: the validity asked for, capped at what is left of the issuer CA's life.
- ``issuer_findings(state)``: security_info's findings ``issuer_changed`` (the identity is not issued by
  its issuer's current CA any more: the next run that declares it reissues it) and ``issuer_unavailable``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _findings
from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError

OPTION = "issuer_store"
FINDING_CODES = ("issuer_changed", "issuer_unavailable")  # registered in _findings


class Issuer(object):
    """The CA of another system's store, as read once for a run."""

    def __init__(self, path, cert, key, chain, system_name):
        self.path = path
        self.cert = cert
        self.key = key
        self.chain = list(chain)       # the CA's own issuers from the issuer's trusted store (usually none)
        self.system_name = system_name

    @property
    def fingerprint(self):
        return _certs.fingerprint(self.cert)

    @property
    def subject(self):
        return self.cert.subject.rfc4514_string()

    def label(self):
        return "CA '%s' of the store at %s (%s)" % (self.subject, self.path, self.system_name)


def _same_path(one, other):
    return other is not None and os.path.realpath(one) == os.path.realpath(other)


def read_issuer(path, own_path=None, option=OPTION):
    """The issuing CA of the store at ``path``: read without a lock, never written."""
    # Imported here: _store imports the toolkit this module's callers already hold.
    from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore

    if not path:
        raise SecurityError("missing_option", "source: issued_by needs the store of the system whose CA issues the "
                            "identity: set the '%s' option (the primary's store_path)." % option, option=option)
    path = os.path.abspath(path)
    if _same_path(path, own_path):
        raise SecurityError("conflicting_options", "'%s' is this system's own store; an identity issued by its own CA "
                            "is 'source: ca'. Change the '%s' option or the 'source' option." % (option, option),
                            option=option)
    try:
        state = DirectoryStore(path).read(initial=False)
    except SecurityError as exc:
        message = exc.message.replace("'store_path' option", "'%s' option" % option)
        raise SecurityError(exc.code, "The issuer's store: %s" % message, option=option)
    if state is None:
        raise SecurityError("issuer_store_missing", "There is no ipoffice.security store at %s to issue the identity "
                            "(nothing was read or created there). Set '%s' to the primary system's store_path, and "
                            "apply the primary's settings first." % (path, option), option=option, issuer_store=path)
    if state.ca is None:
        raise SecurityError("issuer_without_ca", "The store at %s (%s) is an %s system, which has no internal CA to "
                            "issue identities. Name a server-platform store (the Server Edition primary) in '%s', or "
                            "use 'source: generate' or 'source: import'."
                            % (path, state.system_name, state.platform, option),
                            option=option, issuer_store=path)
    chain = _certs.build_chain(state.ca.cert, state.trusted_certificates())
    return Issuer(path, state.ca.cert, state.ca.key, chain, state.system_name)


def capped_days(issuer_cert, valid_days, now=None):
    """valid_days, or the whole days left of the issuer CA's life when fewer (a certificate never outlives
    its issuer)."""
    now = now or _certs.utcnow()
    left = int((issuer_cert.not_valid_after_utc - now).total_seconds() // 86400)
    return max(0, min(valid_days, left))


def issuer_findings(state, own_path=None):
    """Findings about identities whose issuer moved on (security_info ``findings``)."""
    findings = []
    for where, credential in (("identity", state.identity), ("telephony", state.telephony)):
        if credential is None:
            continue
        meta = credential.meta
        subject = credential.cert.subject.rfc4514_string()
        if meta.get("source") == "issued_by":
            store = meta.get("issuer_store")
            try:
                issuer = read_issuer(store, own_path)
            except SecurityError as exc:
                findings.append(_findings.finding(
                    "issuer_unavailable", "The %s '%s' was issued by the CA of the store at %s, which cannot be read "
                    "now (%s: %s); whether its issuer changed is unknown." % (
                        where, subject, store, exc.code, exc.message),
                    where=where, issuer_store=store))
                continue
            if issuer.fingerprint != meta.get("issued_by") or not _certs.is_issued_by(credential.cert, issuer.cert):
                findings.append(_findings.finding(
                    "issuer_changed", "The %s '%s' was issued by the CA %s (sha256 %s) of the store at %s, whose CA "
                    "is now %s (sha256 %s): the next run that declares it (source: issued_by) reissues it." % (
                        where, subject, meta.get("issuer_subject"), meta.get("issued_by"), store, issuer.subject,
                        issuer.fingerprint),
                    where=where, issuer_store=store, issued_by=meta.get("issued_by"), issuer_now=issuer.fingerprint))
        elif meta.get("source") == "ca" and state.ca is not None and not _certs.is_issued_by(credential.cert,
                                                                                             state.ca.cert):
            findings.append(_findings.finding(
                "issuer_changed", "The %s '%s' was issued by an earlier internal CA (sha256 %s), not the current one "
                "'%s' (sha256 %s): the next run that declares it (source: ca) reissues it." % (
                    where, subject, meta.get("issued_by"), state.ca.cert.subject.rfc4514_string(),
                    state.ca.fingerprint),
                where=where, issued_by=meta.get("issued_by"), issuer_now=state.ca.fingerprint))
    return findings
