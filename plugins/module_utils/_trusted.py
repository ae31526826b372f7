# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trusted certificate store (TCS) decisions: what the trusted_certificate module does, as functions.

An entry is its certificate, identified by the SHA-256 fingerprint of the DER encoding (decided,
docs/trusted-store.md): order, file names, PEM/DER form and duplicates in the input never cause a change, so a
certificate-only PKCS#12 truststore compares as the same set on every run (the trap of
community.crypto issue #538).

Flow: ``load_request`` validates and parses the ``certificates`` items into a ``Request`` (every
certificate, deduplicated, plus fingerprint-only items for ``state: absent``); ``apply_request`` changes
a ``State`` (in a store mutation), checking the 25-entry limit on the final set before anything changes,
and returns an ``Outcome`` with added/removed summaries and the warnings to show.

Stable error codes raised here (besides the toolkit's parsing codes such as ``invalid_certificate``,
``private_key_in_bundle``, ``wrong_password``, ``password_required``, ``unreadable_file``):
``missing_option`` / ``conflicting_options`` (an item with none or several of path/content/sha256),
``option_not_applicable`` (sha256 with state present, exclusive with state absent), ``invalid_fingerprint``, the
store's ``trusted_store_full``, and
``trusted_entry_in_use`` (removing an entry something depends on, see ``_dependents``; ``allow_in_use``
lets it through with a warning).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _dependents, _findings
from ansible_collections.ipoffice.security.plugins.module_utils._results import diff
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    TRUSTED_STATES,
    TRUSTED_STORE_LIMIT,
    SecurityError,
    check_choice,
)

STATES = TRUSTED_STATES
ITEM_SOURCES = ("path", "content", "sha256")


class Source(object):
    """One item of the ``certificates`` option as understood: where it came from and what it held."""

    def __init__(self, index, kind, certificates=None, fingerprint=None, source_format=None, had_key=False):
        self.index = index
        self.kind = kind                  # path, content or sha256
        self.certificates = list(certificates or [])
        self.fingerprint = fingerprint    # for sha256 items
        self.format = source_format       # pem, der, pkcs7, pkcs12
        self.had_key = had_key            # a PKCS#12 that also carried a private key (never stored)

    def describe(self):
        """Secret-free description for results: the format and the fingerprints it held."""
        if self.kind == "sha256":
            return {"index": self.index, "source": "sha256", "sha256": [self.fingerprint]}
        return {"index": self.index, "source": self.kind, "format": self.format,
                "sha256": [_certs.fingerprint(c) for c in self.certificates]}


class Request(object):
    """Everything the ``certificates`` option names, deduplicated by fingerprint (first occurrence kept)."""

    def __init__(self, sources):
        self.sources = sources
        self.certificates = []
        self.fingerprints = []
        seen = set()
        for source in sources:
            for cert in source.certificates:
                fp = _certs.fingerprint(cert)
                if fp not in seen:
                    seen.add(fp)
                    self.certificates.append(cert)
                    self.fingerprints.append(fp)
            if source.fingerprint is not None and source.fingerprint not in seen:
                seen.add(source.fingerprint)
                self.fingerprints.append(source.fingerprint)

    def fingerprint_set(self):
        return set(self.fingerprints)


class Outcome(object):
    """What apply_request did to a state: certificates added and removed, warnings to show."""

    def __init__(self, added, removed, warnings, needed_by, in_use=None, findings=None):
        self.added = added
        self.findings = list(findings or [])  # about what was added (weak_key), each also a warning
        self.removed = removed
        self.warnings = warnings
        self.needed_by = needed_by   # fingerprint -> ["identity", "telephony"] for removed chain members
        self.in_use = dict((item["sha256"], item["dependents"]) for item in in_use or [])

    def added_info(self):
        return [summary(c) for c in sorted(self.added, key=_certs.fingerprint)]

    def removed_info(self):
        result = []
        for cert in sorted(self.removed, key=_certs.fingerprint):
            item = summary(cert)
            item["needed_by"] = list(self.needed_by.get(item["sha256"], []))
            item["dependents"] = list(self.in_use.get(item["sha256"], []))
            result.append(item)
        return result


def item_option(index, key=None, option="certificates"):
    name = "%s[%d]" % (option, index)
    return name + "." + key if key else name


def validate_options(state="present", exclusive=False):
    check_choice(state, STATES, "state")
    if exclusive and state == "absent":
        raise SecurityError("option_not_applicable", "exclusive: true makes the store exactly the given "
                            "certificates; it only applies with state: present. Remove the 'exclusive' option or set "
                            "'state: present'.", option="exclusive")


def load_source(item, index, state="present", option="certificates"):
    """Parse one item of ``certificates`` (or of the list option named ``option``) into a Source.

    Raises SecurityError naming <option>[index].
    """
    name = item_option(index, option=option)
    if not isinstance(item, dict):
        raise SecurityError("invalid_setting", "%s must be a dictionary with path, content or sha256. Change the "
                            "'%s' option." % (name, option), option=name)
    given = [key for key in ITEM_SOURCES if item.get(key) not in (None, "")]
    if not given:
        raise SecurityError("missing_option", "%s must set one of path, content or sha256; it sets none of them. "
                            "Change the '%s' option." % (name, option), option=name)
    if len(given) > 1:
        raise SecurityError("conflicting_options", "%s must set exactly one of path, content or sha256; it sets %s. "
                            "Change the '%s' option." % (name, ", ".join(given), option), option=name)
    kind = given[0]
    if kind == "sha256":
        if state != "absent":
            raise SecurityError("option_not_applicable", "%s names a certificate by sha256 alone, which can only "
                                "remove an entry (state: absent). To add it, give its path or content instead."
                                % name, option=item_option(index, "sha256", option))
        if item.get("password") not in (None, ""):
            raise SecurityError("option_not_applicable", "%s sets a password with sha256; a password only opens a "
                                "path or content. Remove the password." % name,
                                option=item_option(index, "password", option))
        fp = _certs.normalize_fingerprint(item["sha256"], option=item_option(index, "sha256", option))
        return Source(index, kind, fingerprint=fp)
    source_option = item_option(index, kind, option)
    data = _certs.read_input(path=item.get("path"), content=item.get("content"), option=source_option)
    try:
        bundle = _certs.load_bundle(data, password=item.get("password"), option=source_option, allow_key=False)
    except SecurityError as exc:
        if exc.option == "password":
            # The toolkit names the plain option; point at the item's own password.
            exc.option = item_option(index, "password", option)
            exc.message = exc.message.replace("'password' option", "'%s' option" % exc.option)
            exc.args = (exc.message,)
        raise
    if not bundle.certificates:
        raise SecurityError("invalid_certificate", "The %s holds no certificate. Check the '%s' option."
                            % (source_option, source_option), option=source_option)
    return Source(index, kind, bundle.certificates, source_format=bundle.format, had_key=bundle.key is not None)


def load_request(items, state="present", option="certificates"):
    """Every item of ``certificates`` parsed; the first bad item fails the whole request (nothing changes)."""
    return Request([load_source(item, index, state, option) for index, item in enumerate(items or [])])


def summary(cert):
    """What added/removed report for a certificate: its fingerprint and subject."""
    return {"sha256": _certs.fingerprint(cert), "subject": cert.subject.rfc4514_string()}


def validity_warning(cert, now=None):
    """A warning for a certificate outside its validity period, or None."""
    now = now or _certs.utcnow()
    name = "%s (sha256 %s)" % (cert.subject.rfc4514_string(), _certs.fingerprint(cert))
    if cert.not_valid_after_utc < now:
        return ("Trusted certificate %s expired on %s; it was added as asked, but peers presenting chains that need "
                "it fail the date check." % (name, cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")))
    if cert.not_valid_before_utc > now:
        return ("Trusted certificate %s is not valid before %s; it was added as asked, but is not usable until then."
                % (name, cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")))
    return None


# Below these a trusted certificate's key no longer protects what chains to it (the audit's default policy).
WEAK_KEY_BITS = {"RSA": 2048, "DSA": 2048, "EC": 256}


def weak_key_finding(cert):
    """The weak_key finding for a trusted certificate with an RSA/DSA key under 2048 bits or an EC key under
    256 bits (a root, an intermediate or a pinned peer certificate), or None."""
    kind, bits, _curve = _certs.key_description(cert.public_key())
    minimum = WEAK_KEY_BITS.get(kind)
    if minimum is None or bits is None or bits >= minimum:
        return None
    if _certs.is_ca(cert):
        role = "root" if _certs.is_self_signed(cert) else "intermediate CA"
    else:
        role = "pinned"
    return _findings.finding(
        "weak_key", "Trusted %s certificate %s (sha256 %s) has a %d-bit %s key, under %d bits: it was added as asked, "
        "but a key that weak no longer protects what is checked against it, and the audit reports it as an error. "
        "Replace it with a certificate with a stronger key." % (
            role, cert.subject.rfc4514_string(), _certs.fingerprint(cert), bits, kind, minimum),
        sha256=_certs.fingerprint(cert), subject=cert.subject.rfc4514_string(), key_type=kind, key_bits=bits,
        where="trusted")


def chain_users(state):
    """fingerprint -> identities ('identity', 'telephony') whose chain to the root uses that TCS entry."""
    users = {}
    for purpose, credential in (("identity", state.identity), ("telephony", state.telephony)):
        for cert in state.chain_for(credential):
            users.setdefault(_certs.fingerprint(cert), []).append(purpose)
    return users


def removal_warning(cert, needed_by, offer_chain):
    names = " and ".join("the %s certificate" % ("telephony identity" if p == "telephony" else "identity")
                         for p in needed_by)
    if offer_chain:
        effect = "the chain the system offers in TLS (Offer ID Certificate Chain) now stops short of it"
    else:
        effect = ("the chain no longer reaches its root in the store (it would be offered once "
                  "offer_id_certificate_chain is on)")
    template = ("Removed trusted certificate %s (sha256 %s), which %s's chain needs: %s. Add it back with state: "
                "present if peers must validate that chain.")
    return template % (cert.subject.rfc4514_string(), _certs.fingerprint(cert), names, effect)


def apply_request(state, request, desired="present", exclusive=False, now=None, option="certificates",
                  allow_in_use=False, check_in_use=True, keep=()):
    """Change state's TCS as asked; return an Outcome.

    The limit and the entries in use (``_dependents.check_removal``) are checked before anything changes.
    With ``check_in_use=False`` the caller checks the removals on the state it plans to produce
    (``_dependents.planned_removal``, then ``judge_removals``).  ``keep``: certificates an exclusive
    request keeps besides the requested ones (security_settings: retired entries still present).
    """
    validate_options(desired, exclusive)
    users = chain_users(state)
    if desired == "present" and exclusive:
        wanted = request.fingerprint_set() | set(_certs.fingerprint(c) for c in keep)
        removing = [state.trusted[fp] for fp in sorted(state.trusted) if fp not in wanted]
        state.check_trusted_limit(wanted, option)
    elif desired == "absent":
        removing = [state.trusted[fp] for fp in request.fingerprints if fp in state.trusted]
    else:
        removing = []
    in_use, in_use_warnings = [], []
    if check_in_use:
        in_use, in_use_warnings = _dependents.check_removal(state, removing, allow_in_use, option, now)
    if desired == "present":
        if exclusive:
            kept = [c for c in keep if _certs.fingerprint(c) not in request.fingerprint_set()]
            added, removed = state.set_trusted(list(request.certificates) + kept, option=option)
        else:
            added = state.add_trusted(request.certificates, option=option)
            removed = []
    else:
        removed = state.remove_trusted([fp for fp in request.fingerprints if fp in state.trusted])
        added = []
    warnings = []
    for source in request.sources:
        if source.had_key and desired == "present":
            warnings.append("%s is a PKCS#12 that also holds a private key; only its certificates are trusted, the key "
                            "is not stored." % item_option(source.index))
    findings = []
    for cert in sorted(added, key=_certs.fingerprint):
        text = validity_warning(cert, now)
        if text:
            warnings.append(text)
        weak = weak_key_finding(cert)
        if weak:
            findings.append(weak)
            warnings.append("%s: %s" % (weak["code"], weak["message"]))
    needed_by = {}
    offer_chain = bool(state.settings["identity"]["offer_id_certificate_chain"])
    for cert in sorted(removed, key=_certs.fingerprint):
        fp = _certs.fingerprint(cert)
        if fp in users:
            needed_by[fp] = users[fp]
            # else the in-use warning names it (the caller's, when it judges the removals on its plan)
            if check_in_use and not any(item["sha256"] == fp for item in in_use):
                warnings.append(removal_warning(cert, users[fp], offer_chain))
    warnings.extend(in_use_warnings)
    return Outcome(added, removed, warnings, needed_by, in_use, findings)


def judge_removals(state, outcome, allow_in_use=False, option="certificates", now=None):
    """The in-use check of an Outcome made with check_in_use=False, on the planned ``state`` (which no
    longer holds the removed entries): refuses (SecurityError) or records the in-use entries and warnings."""
    in_use, warnings = _dependents.planned_removal(state, outcome.removed, allow_in_use, option, now)
    outcome.in_use = dict((item["sha256"], item["dependents"]) for item in in_use)
    outcome.warnings.extend(warnings)
    return outcome


def entries(state, now=None):
    """Parsed info of every TCS entry, ordered by fingerprint (what results and diffs show)."""
    return [_certs.cert_info(c, now) for c in state.trusted_certificates()]


def diff_view(state, now=None):
    """The diff side of a state: the entry list as parsed info (never keys)."""
    return {"trusted_certificates": entries(state, now)}


def result(update, outcome, now=None):
    """The module result from a store update (before/after) and what apply_request returned."""
    return {
        "changed": update.changed,
        "entries": entries(update.after, now),
        "trusted_count": len(update.after.trusted),
        "limit": TRUSTED_STORE_LIMIT,
        "added": outcome.added_info(),
        "removed": outcome.removed_info(),
        "findings": list(outcome.findings),
        "warnings": list(outcome.warnings),
    }


def run(store, params, check_mode=False, want_diff=False):
    """The trusted_certificate module."""
    return converge(store, params["certificates"], desired=params.get("state") or "present",
                    exclusive=bool(params.get("exclusive")), check_mode=check_mode, want_diff=want_diff,
                    allow_in_use=bool(params.get("allow_in_use")))


def converge(store, items, desired="present", exclusive=False, check_mode=False, want_diff=False, now=None,
             allow_in_use=False):
    """The whole trusted_certificate action against a store.

    Inputs are parsed before the store is touched, so a bad input never reaches it.
    """
    validate_options(desired, exclusive)
    request = load_request(items, desired)
    box = {}

    def mutate(state):
        box["outcome"] = apply_request(state, request, desired, exclusive, now, allow_in_use=allow_in_use)

    update = store.update(mutate, check_mode=check_mode)
    outcome = box["outcome"]
    data = result(update, outcome, now)
    if want_diff:
        data["diff"] = diff(diff_view(update.before, now), diff_view(update.after, now))
    return data
