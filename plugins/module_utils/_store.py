# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The security settings store of one system, and its embedded implementation, DirectoryStore.

A store holds a ``State``: the settings (by area), the identity (and optional telephony identity)
with their keys, the internal CA, the trusted certificate store (TCS), secrets (the SCEP password)
and module-owned metadata.  Modules change a store only through ``Store.update(mutate, check_mode)``:
the mutation runs on a copy, ``changed`` is whether the copy differs, and only a real run with a change
writes.  A failing mutation (``SecurityError``) writes nothing.

DirectoryStore layout (see docs/store-format.md)::

    <store>/.lock                       exclusive writer lock (flock)
    <store>/current -> generations/N    atomically switched symlink
    <store>/generations/N/settings.json schema version, settings, metadata (no secrets)
                         identity/{cert,key,chain,fullchain}.pem
                         telephony/{cert,key,chain,fullchain}.pem   (when a telephony identity exists)
                         ca/{cert,key}.pem                          (internal CA, server platform)
                         tcs/<sha256>.pem + <subject hash>.N links + bundle.pem   (OpenSSL CApath)
                         secrets/<name>                             (0600)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import errno
import hashlib
import json
import math
import os
import re
import shutil
import socket
import stat
import time

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _record
from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    DEFAULT_DEPENDENTS_MAX_AGE_DAYS,
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_PLATFORM,
    DEPENDENTS_MAX_AGE_RANGE,
    MAX_HOST_CHARS,
    MAX_LOCK_TIMEOUT,
    MAX_SYSTEM_ADDRESSES,
    PLATFORMS,
    TRUSTED_STORE_LIMIT,
    SecurityError,
    check_choice,
    check_count,
    check_length,
    check_path,
    check_text,
    default_settings,
    too_large,
    validate_settings,
)

SCHEMA_VERSION = 1
KEEP_GENERATIONS = 10          # default of the store setting keep_generations
MIN_KEEP_GENERATIONS = 2       # the current generation and one to go back to
MAX_KEEP_GENERATIONS = 100     # what a module may set (a store written with more stays readable)

# What a new system starts with (docs/store-format.md, "What a new system starts with").
INITIAL_CA_DAYS = 3652          # ~10 years
INITIAL_IDENTITY_DAYS = 2557    # ~7 years
IP500V2_IDENTITY_DAYS = 825

CREDENTIAL_SLOTS = ("identity", "telephony", "ca")
SECRET_NAME = re.compile(r"^[a-z0-9_]+$")
# A generation's directory name: its number, zero-padded to at least 6 digits (000042, ..., 999999, 1000000).
# Numbers never run out: past 999999 the names simply grow, and 6-digit stores read as they always did.
GENERATION_NAME = re.compile(r"^[0-9]{6,18}$")
CURRENT_TARGET = re.compile(r"^generations/([0-9]{6,18})$")

# Limits of what a reader accepts (docs/store-format.md, "Limits"): anything larger is corrupt_store.
MAX_FILE_BYTES = 1024 * 1024      # any one file of a generation (settings.json, a PEM file, a secret)
MAX_JSON_DEPTH = 32               # nesting of settings.json (its own shape needs 6)
# Errors of a full file system (EDQUOT: a quota): store_full, with the advice that frees space.
_FULL_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if e is not None)
# What a directory at store_path may hold and still be taken for a store (or a new one).
STORE_ENTRIES = frozenset([".lock", "current", "generations", ".current.new"])

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class Credential(object):
    """A certificate, its private key and how it came to be (``meta``: source, request parameters)."""

    def __init__(self, cert, key, meta=None):
        self.cert = cert
        self.key = key
        self.meta = dict(meta or {})

    @property
    def fingerprint(self):
        return _certs.fingerprint(self.cert)

    def copy(self):
        return Credential(self.cert, self.key, copy.deepcopy(self.meta))


class State(object):
    """Everything one system's security settings store holds."""

    def __init__(self, platform, system_name, settings, identity, telephony=None, ca=None, trusted=None,
                 secrets=None, data=None, generation=0, initialised=True, keep_generations=KEEP_GENERATIONS,
                 verified_endpoints=None, issued_certificates=None, made_by=None,
                 dependents_max_age_days=DEFAULT_DEPENDENTS_MAX_AGE_DAYS):
        self.platform = platform
        self.system_name = system_name
        self.settings = settings
        self.identity = identity
        self.telephony = telephony
        self.ca = ca
        self.trusted = dict()
        for cert in trusted or []:
            self.trusted[_certs.fingerprint(cert)] = cert
        self.secrets = dict(secrets or {})
        self.data = dict(data or {})
        self.generation = generation
        self.initialised = initialised
        # Store setting: how many generations are kept (pruning after each write).
        self.keep_generations = keep_generations
        # Store setting: a preflight record older than this no longer holds a trusted entry (_dependents).
        self.dependents_max_age_days = dependents_max_age_days
        # What passed a preflight through this store, and what the system CA issued (_dependents).
        self.verified_endpoints = list(verified_endpoints or [])
        self.issued_certificates = list(issued_certificates or [])
        # The record of the generation this state was loaded from (not compared, not copied).
        self.made_by = made_by
        # Set by a mutation to describe its change in the new generation's record (e.g. a restore).
        self.change_note = None

    # -- copies and comparison

    def copy(self):
        other = State(self.platform, self.system_name, copy.deepcopy(self.settings),
                      self.identity.copy() if self.identity else None,
                      self.telephony.copy() if self.telephony else None,
                      self.ca.copy() if self.ca else None,
                      secrets=dict(self.secrets), data=copy.deepcopy(self.data),
                      generation=self.generation, initialised=self.initialised,
                      keep_generations=self.keep_generations,
                      verified_endpoints=copy.deepcopy(self.verified_endpoints),
                      issued_certificates=copy.deepcopy(self.issued_certificates),
                      dependents_max_age_days=self.dependents_max_age_days)
        other.trusted = dict(self.trusted)
        return other

    def assign(self, other):
        """Make this state hold what ``other`` holds (a state planned on a copy becomes the mutation)."""
        self.__dict__.update(other.copy().__dict__)

    def snapshot(self):
        """A comparable description of everything persisted: equal snapshots mean nothing to write."""
        credentials = {}
        for slot in CREDENTIAL_SLOTS:
            cred = getattr(self, slot)
            if cred is not None:
                credentials[slot] = {"cert": cred.fingerprint,
                                     "key": hashlib.sha256(_certs.key_pem(cred.key)).hexdigest(),
                                     "meta": cred.meta}
        return json.dumps({
            "platform": self.platform,
            "system_name": self.system_name,
            "settings": self.settings,
            "credentials": credentials,
            "trusted": sorted(self.trusted),
            "secrets": dict((k, hashlib.sha256(v).hexdigest()) for k, v in self.secrets.items()),
            "data": self.data,
            "keep_generations": self.keep_generations,
            "dependents_max_age_days": self.dependents_max_age_days,
            "verified_endpoints": self.verified_endpoints,
            "issued_certificates": self.issued_certificates,
        }, sort_keys=True)

    # -- trusted certificate store

    def trusted_certificates(self):
        """The TCS entries, in a stable order (by fingerprint)."""
        return [self.trusted[fp] for fp in sorted(self.trusted)]

    def check_trusted_limit(self, fingerprints, option="certificates"):
        count = len(set(fingerprints))
        if count > TRUSTED_STORE_LIMIT:
            raise SecurityError(
                "trusted_store_full",
                "The trusted certificate store would hold %d certificates; the limit is %d. Nothing was changed. "
                "Remove entries (state: absent, or exclusive: true) or give fewer in the '%s' option."
                % (count, TRUSTED_STORE_LIMIT, option), option=option, count=count, limit=TRUSTED_STORE_LIMIT)

    def add_trusted(self, certs, option="certificates"):
        """Add certificates (limit checked first); return the ones that were new."""
        new = []
        seen = set(self.trusted)
        for cert in certs:
            fp = _certs.fingerprint(cert)
            if fp not in seen:
                seen.add(fp)
                new.append(cert)
        self.check_trusted_limit(seen, option)
        for cert in new:
            self.trusted[_certs.fingerprint(cert)] = cert
        return new

    def remove_trusted(self, fingerprints):
        """Remove entries by fingerprint; return the certificates removed."""
        removed = []
        for fp in fingerprints:
            cert = self.trusted.pop(fp, None)
            if cert is not None:
                removed.append(cert)
        return removed

    def set_trusted(self, certs, option="certificates"):
        """Make the TCS exactly certs; return (added, removed)."""
        wanted = dict((_certs.fingerprint(c), c) for c in certs)
        self.check_trusted_limit(list(wanted), option)
        removed = [self.trusted[fp] for fp in sorted(self.trusted) if fp not in wanted]
        added = [c for fp, c in wanted.items() if fp not in self.trusted]
        self.trusted = wanted
        return added, removed

    # -- identities

    def credential(self, purpose="system"):
        return self.telephony if purpose == "telephony" else self.identity

    def chain_for(self, credential):
        """The identity's issuers found in the TCS, nearest first, up to the root."""
        if credential is None:
            return []
        return _certs.build_chain(credential.cert, self.trusted_certificates())

    def offered_chain(self, credential):
        """What the system sends in TLS: the identity and, with Offer ID Certificate Chain on, its chain."""
        if credential is None:
            return []
        if self.settings["identity"]["offer_id_certificate_chain"]:
            return [credential.cert] + self.chain_for(credential)
        return [credential.cert]

    def all_certificates(self):
        """(where, certificate) for every stored certificate, for expiry reporting."""
        result = []
        for slot in CREDENTIAL_SLOTS:
            cred = getattr(self, slot)
            if cred is not None:
                result.append((slot, cred.cert))
        for cert in self.trusted_certificates():
            result.append(("trusted", cert))
        return result


def check_keep_generations(value, option="keep_generations"):
    """The keep_generations store setting, validated (None: not given)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not \
            MIN_KEEP_GENERATIONS <= value <= MAX_KEEP_GENERATIONS:
        raise SecurityError("out_of_range", "keep_generations must be an integer of at least %d (the current "
                            "generation and one to restore) and at most %d, got %r. Change the '%s' option."
                            % (MIN_KEEP_GENERATIONS, MAX_KEEP_GENERATIONS, value, option), option=option)
    return value


def check_dependents_max_age(value, option="dependents_max_age_days"):
    """The dependents_max_age_days store setting, validated (None: not given)."""
    if value is None:
        return None
    low, high = DEPENDENTS_MAX_AGE_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SecurityError("out_of_range", "dependents_max_age_days must be a whole number of days from %d to %d (how "
                            "long a preflight record keeps holding the trusted entries its endpoint was verified "
                            "through), got %r. Change the '%s' option." % (low, high, value, option), option=option)
    return value


def check_lock_timeout(value, option="lock_timeout"):
    """Seconds a writer waits for the lock: an integer from 0 (do not wait) to MAX_LOCK_TIMEOUT."""
    if value is None:
        return DEFAULT_LOCK_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or \
            not 0 <= value <= MAX_LOCK_TIMEOUT:
        raise SecurityError("out_of_range", "lock_timeout must be a number of seconds from 0 (do not wait) to %d, "
                            "got %r. Change the '%s' option." % (MAX_LOCK_TIMEOUT, value, option), option=option)
    return value


def check_store_path(path, option="store_path"):
    """store_path as given: a non-empty path without NUL (which no file system path can hold)."""
    if not path or not isinstance(path, str):
        raise SecurityError("missing_option", "store_path must not be empty. Set the '%s' option." % option,
                            option=option)
    return check_path(path, option)


def check_system_identity_options(system_name, system_addresses):
    """system_name and system_addresses (what a new store's identity is made for), held to the write limits."""
    if system_name is not None:
        check_length(system_name, MAX_HOST_CHARS, "system_name")
        check_text(system_name, "system_name")
    if system_addresses is not None:
        check_count(system_addresses, MAX_SYSTEM_ADDRESSES, "system_addresses")
        for address in system_addresses:
            check_length(address, MAX_HOST_CHARS, "system_addresses", "An address of system_addresses")
            check_text(address, "system_addresses")


def generation_name(number):
    """The directory name of generation ``number`` (000001 ... 999999, 1000000, ...)."""
    return "%06d" % number


def generation_number(name):
    """The number a generation directory name stands for, or None when the name is not one the store writes."""
    if not GENERATION_NAME.match(name) or generation_name(int(name)) != name:
        return None
    return int(name)


def default_system_name():
    name = socket.getfqdn() or socket.gethostname() or "ipoffice"
    return name if name != "localhost.localdomain" else socket.gethostname() or "ipoffice"


def default_system_addresses():
    """Non-loopback addresses the host name resolves to (best effort, no network beyond the resolver)."""
    found = []
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            address = info[4][0].split("%")[0]
            if address not in found and not address.startswith("127.") and address != "::1":
                found.append(address)
    except (socket.gaierror, OSError):
        pass
    return found


def initial_state(platform=DEFAULT_PLATFORM, system_name=None, system_addresses=None):
    """A new system exactly as the vendor documents one starts (docs/store-format.md, "What a new system
    starts with")."""
    check_choice(platform, PLATFORMS, "platform")
    name = system_name or default_system_name()
    addresses = default_system_addresses() if system_addresses is None else list(system_addresses)
    sans = ["DNS:" + name] + ["IP:" + a for a in addresses]
    settings = default_settings(platform)
    meta = {"source": "initial", "subject_name": name, "subject_alt_names": sans, "signature": "sha256_rsa2048"}
    if platform == "ip500v2":
        key = _certs.generate_private_key("sha256_rsa2048")
        cert = _certs.build_certificate(name, key, IP500V2_IDENTITY_DAYS, subject_alt_names=sans)
        meta["valid_days"] = IP500V2_IDENTITY_DAYS
        return State(platform, name, settings, Credential(cert, key, meta), initialised=False)
    ca_key = _certs.generate_private_key("sha256_rsa2048")
    ca_cert = _certs.build_certificate("CN=IP Office Root CA %s" % name[:40], ca_key, INITIAL_CA_DAYS, ca=True)
    key = _certs.generate_private_key("sha256_rsa2048")
    cert = _certs.build_certificate(name, key, INITIAL_IDENTITY_DAYS, subject_alt_names=sans,
                                    issuer_cert=ca_cert, issuer_key=ca_key)
    meta["valid_days"] = INITIAL_IDENTITY_DAYS
    return State(platform, name, settings, Credential(cert, key, meta),
                 ca=Credential(ca_cert, ca_key, {"source": "initial", "valid_days": INITIAL_CA_DAYS}),
                 trusted=[ca_cert], initialised=False)


class UpdateResult(object):
    """What Store.update did: the state before and after, whether it differs, whether it was written."""

    def __init__(self, before, after, changed, written, value):
        self.before = before
        self.after = after
        self.changed = changed
        self.written = written
        self.value = value


class Store(object):
    """The store interface modules use.  A backend implements read(), update(), generations()."""

    def read(self):
        raise NotImplementedError

    def update(self, mutate, check_mode=False, start=None):
        raise NotImplementedError

    def generations(self):
        raise NotImplementedError


class DirectoryStore(Store):
    """The embedded store: a directory on the managed node, written as whole atomic generations."""

    def __init__(self, path, platform=None, system_name=None, system_addresses=None,
                 lock_timeout=DEFAULT_LOCK_TIMEOUT, keep=None, dependents_max_age=None):
        self.path = os.path.abspath(check_store_path(path))
        check_system_identity_options(system_name, system_addresses)
        self.platform = platform
        self.system_name = system_name
        self.system_addresses = system_addresses
        self.lock_timeout = check_lock_timeout(lock_timeout)
        # keep_generations as asked (None: the store's own setting, KEEP_GENERATIONS on a new store).
        self.keep_option = check_keep_generations(keep)
        self.keep = KEEP_GENERATIONS if keep is None else self.keep_option
        # dependents_max_age_days as asked (None: the store's own setting).
        self.max_age_option = check_dependents_max_age(dependents_max_age)
        # Who is writing: recorded in every generation this store object writes (run_module sets it).
        self.made_by = {"module": None, "note": None}

    # -- paths

    @property
    def current_link(self):
        return os.path.join(self.path, "current")

    @property
    def generations_dir(self):
        return os.path.join(self.path, "generations")

    def exists(self):
        return os.path.lexists(self.current_link)

    # -- reading

    def read(self, initial=True):
        """The current state; a new system's initial state (not written) when the store is empty.

        With ``initial=False`` an empty store reads as None (nothing generated, nothing written).  Reading
        takes no lock and writes nothing: it follows ``current`` once and reads that one generation, every
        file and directory opened without following symlinks and bounded in size.
        """
        if not self.exists():
            self._check_uninitialised_path()
            return self._initial() if initial else None
        state = self._load(self._current_dir())
        self._check_platform(state)
        return state

    def _initial(self):
        return initial_state(self.platform or DEFAULT_PLATFORM, self.system_name, self.system_addresses)

    def _check_platform(self, state):
        if self.platform and self.platform != state.platform:
            raise SecurityError("platform_mismatch", "The store at %s was initialised for platform '%s', not '%s'. "
                                "Change the 'platform' option (it only applies to new stores)."
                                % (self.path, state.platform, self.platform), option="platform")

    def _check_uninitialised_path(self):
        """A store_path without 'current' must be absent, empty, or hold only what a store holds."""
        if not os.path.lexists(self.path):
            return
        if not os.path.isdir(self.path):
            raise SecurityError("corrupt_store", "store_path %s exists and is not a directory. Change the "
                                "'store_path' option." % self.path, option="store_path")
        try:
            entries = os.listdir(self.path)
        except OSError as exc:
            raise _unreadable(self.path, "store_path", exc)
        foreign = sorted(set(entries) - STORE_ENTRIES)
        if foreign:
            shown = ", ".join(repr(name) for name in foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise SecurityError("not_a_store", "store_path %s is a directory that is not an ipoffice.security store: "
                                "it has no 'current' link and holds other files (%s). It was left as it is (not "
                                "initialised, its mode not changed). Change the 'store_path' option to an empty or "
                                "new directory, or to an existing store." % (self.path, shown), option="store_path")

    def _current_dir(self):
        link = self.current_link
        if not os.path.islink(link):
            raise SecurityError("corrupt_store", "The store at %s is corrupt: 'current' is not a symlink. It was left "
                                "as it is; restore it from a backup or point 'store_path' elsewhere." % self.path,
                                option="store_path")
        if os.path.islink(self.generations_dir):
            raise SecurityError("corrupt_store", "The store at %s is corrupt: 'generations' is a symlink, and the "
                                "store never follows symlinks. It was left as it is." % self.path, option="store_path")
        target = os.readlink(link)
        parts = target.split("/")
        if len(parts) != 2 or parts[0] != "generations" or generation_number(parts[1]) is None:
            raise SecurityError("corrupt_store", "The store at %s is corrupt: 'current' points to '%s', outside its "
                                "generations. It was left as it is." % (self.path, target), option="store_path")
        directory = os.path.join(self.path, target)
        if os.path.islink(directory) or not os.path.isdir(directory):
            raise SecurityError("corrupt_store", "The store at %s is corrupt: generation '%s' is missing. It was left "
                                "as it is." % (self.path, parts[1]), option="store_path")
        return directory

    def _load(self, directory):
        try:
            generation_fd = _open_generation(self.path, directory)
        except (OSError, ValueError) as exc:
            raise self._read_failure(exc)
        try:
            return self._load_from(generation_fd)
        finally:
            os.close(generation_fd)

    def _load_from(self, directory):
        try:
            document = _parse_json(_read_file(directory, "settings.json"))
        except (OSError, IOError, ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise self._read_failure(exc, "settings.json cannot be read (%s)")
        if not isinstance(document, dict):
            raise _corrupt(self.path, "settings.json is not an object")
        version = document.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SecurityError("unsupported_store_version", "The store at %s has schema version %r; this collection "
                                "reads version %d. Upgrade the ipoffice.security collection, or point 'store_path' at "
                                "another store. Nothing was changed." % (self.path, version, SCHEMA_VERSION),
                                option="store_path")
        try:
            settings = validate_settings(document["settings"])
            platform = document["platform"]
            if platform not in PLATFORMS:
                raise ValueError("unknown platform %r" % platform)
            credentials = {}
            for slot in CREDENTIAL_SLOTS:
                meta = document["credentials"].get(slot)
                if meta is None:
                    credentials[slot] = None
                    continue
                cert = _certs.load_certificate(_read_file(directory, slot, "cert.pem"), option=slot + "/cert.pem")
                key = _load_stored_key(_read_file(directory, slot, "key.pem"), option=slot + "/key.pem")
                if not _certs.key_matches(cert, key):
                    raise ValueError("%s/key.pem does not match %s/cert.pem" % (slot, slot))
                if _certs.fingerprint(cert) != meta.get("sha256"):
                    raise ValueError("%s/cert.pem is not the certificate settings.json names" % slot)
                credentials[slot] = Credential(cert, key, meta.get("meta"))
            if credentials["identity"] is None:
                raise ValueError("there is no identity certificate")
            trusted = []
            for fp in document["trusted"]:
                cert = _certs.load_certificate(_read_file(directory, "tcs", _tcs_file_name(fp)),
                                               option="tcs/" + _tcs_file_name(fp))
                if _certs.fingerprint(cert) != fp:
                    raise ValueError("tcs/%s does not hold the certificate its name says" % _tcs_file_name(fp))
                trusted.append(cert)
            secrets = {}
            for name in document["secrets"]:
                if not SECRET_NAME.match(name):
                    raise ValueError("bad secret name %r" % name)
                secrets[name] = _read_file(directory, "secrets", name)
            data = document["data"]
            if not isinstance(data, dict):
                raise ValueError("data is not an object")
            generation = int(document["generation"])
            # Optional keys (absent in stores written before they existed): defaults keep such stores valid.
            keep = document.get("keep_generations", KEEP_GENERATIONS)
            if isinstance(keep, bool) or not isinstance(keep, int) or keep < MIN_KEEP_GENERATIONS:
                raise ValueError("keep_generations is %r" % (keep,))
            max_age = document.get("dependents_max_age_days", DEFAULT_DEPENDENTS_MAX_AGE_DAYS)
            try:
                check_dependents_max_age(max_age)
            except SecurityError:
                raise ValueError("dependents_max_age_days is %r" % (max_age,))
            verified = document.get("verified_endpoints", [])
            issued = document.get("issued_certificates", [])
            made_by = document.get("made_by")
            if not isinstance(verified, list) or not all(isinstance(v, dict) for v in verified):
                raise ValueError("verified_endpoints is not a list of objects")
            if not isinstance(issued, list) or not all(isinstance(v, dict) for v in issued):
                raise ValueError("issued_certificates is not a list of objects")
            if made_by is not None and not isinstance(made_by, dict):
                raise ValueError("made_by is not an object")
        except SecurityError as exc:
            if exc.option == "store_path" and exc.code in ("corrupt_store", "store_unreadable"):
                raise
            if exc.code == "corrupt_store":
                raise _corrupt(self.path, exc.message)
            raise _corrupt(self.path, "%s: %s" % (exc.code, exc.message))
        except (KeyError, TypeError, ValueError, AttributeError, OSError, IOError, RecursionError) as exc:
            raise self._read_failure(exc)
        return State(platform, document.get("system_name"), settings, credentials["identity"],
                     telephony=credentials["telephony"], ca=credentials["ca"], trusted=trusted, secrets=secrets,
                     data=data, generation=generation, initialised=True, keep_generations=keep,
                     verified_endpoints=verified, issued_certificates=issued, made_by=made_by,
                     dependents_max_age_days=max_age)

    def _read_failure(self, exc, template="%s"):
        """corrupt_store for what a store never holds; store_unreadable when permissions stop the reader."""
        if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
            return _unreadable(self.path, exc.filename or "store_path", exc)
        return _corrupt(self.path, template % _read_error(exc))

    # -- writing

    def update(self, mutate, check_mode=False, start=None):
        """Apply mutate(state) to a copy of the current state; write a new generation if it changed.

        ``mutate`` may return a value (kept in the result).  Check mode runs the same comparison and
        writes nothing; it does not take the lock, so it never waits for a writer.  ``start`` is a state
        the caller read earlier (read()): while the store has not been written since (the same current
        generation, or still no store), the mutation starts from it instead of reading the store again,
        so what was planned on it outside the lock holds, and a new store's initial keys are made once.

        Before anything is written (and in check mode too) the new generation is rendered in memory and
        held to the limits its readers enforce (``value_too_large``).
        """
        if check_mode:
            before = self._since(start)
            after = before.copy()
            self._apply_store_settings(after)
            value = mutate(after)
            changed = (not before.initialised) or after.snapshot() != before.snapshot()
            if changed:  # the limits a real run checks before writing: check mode fails where the run would
                self._render(after, before.generation + 1, self._record(before, after))
            return UpdateResult(before, after, changed, False, value)
        self._check_uninitialised_path()
        planned = None
        if not self.exists():
            # A new store: make the change before creating anything (directory, lock file), so that a change
            # that fails leaves no trace of the store at all.  Under the lock it is used while the store is
            # still new; if another writer initialised it meanwhile, the change is made again on that.
            before = self._since(start)
            after = before.copy()
            self._apply_store_settings(after)
            planned = (before, after, mutate(after))
            self._render(after, 1, self._record(before, after))
        made = self._unborn_parts()
        try:
            try:
                self._prepare_root()
            except OSError as exc:
                raise _write_failure(self.path, exc)
            with _Lock(os.path.join(self.path, ".lock"), self.lock_timeout):
                try:
                    if planned is not None and not self.exists():
                        before, after, value = planned
                    else:
                        before = self._since(start)
                        after = before.copy()
                        self._apply_store_settings(after)
                        value = mutate(after)
                    changed = (not before.initialised) or after.snapshot() != before.snapshot()
                    if changed:
                        after.made_by = self._record(before, after)
                        after.generation = self._write(before, after)
                        after.initialised = True
                    return UpdateResult(before, after, changed, changed, value)
                except BaseException:
                    # the lock is held: its file may go too (a waiter that gets an unlinked lock opens it again)
                    self._remove_unborn(made, holding_lock=True)
                    raise
        except BaseException:
            self._remove_unborn(made)
            raise

    def _unborn_parts(self):
        """What a first write would create and did not exist yet: (the generations directory and the lock
        file, the directories -- store_path and its missing parents, deepest first). None for a store that
        has a current generation."""
        if self.exists():
            return None
        lock = os.path.join(self.path, ".lock")
        files = [p for p in (self.generations_dir, lock) if not os.path.lexists(p)]
        directories = []
        path = os.path.abspath(self.path)
        while not os.path.lexists(path):
            directories.append(path)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
        return files, directories

    def _remove_unborn(self, made, holding_lock=False):
        """After a first write failed (a full file system, ...): remove what it made -- the empty generations
        directory and the empty lock file (only while holding the lock), the directories it created -- so
        that the path is as it was.  Nothing is removed once a generation is current, nor anything that is
        not empty."""
        if made is None or self.exists():
            return
        files, directories = made
        for leftover in files if holding_lock else ():
            try:
                if os.path.islink(leftover):
                    continue
                if os.path.isdir(leftover):
                    os.rmdir(leftover)
                elif os.path.isfile(leftover) and os.path.getsize(leftover) == 0:
                    os.unlink(leftover)
            except OSError:
                pass
        for directory in directories:
            try:
                os.rmdir(directory)
            except OSError:
                return

    def _since(self, start):
        """``start`` if the store was not written since it was read, else the store read anew."""
        if start is not None:
            if not start.initialised and not self.exists():
                return start
            if start.initialised and self._current_number() == start.generation:
                return start
        return self.read()

    def apply_store_settings(self, state):
        """The store settings given as options (keep_generations, dependents_max_age_days) applied to a state."""
        if self.keep_option is not None:
            state.keep_generations = self.keep_option
        if self.max_age_option is not None:
            state.dependents_max_age_days = self.max_age_option

    _apply_store_settings = apply_store_settings

    def has_store_settings(self):
        """Whether any store setting was given as an option (so that a run may change the store's own)."""
        return self.keep_option is not None or self.max_age_option is not None

    def _record(self, before, after):
        """What made a generation: module, a short summary of the change, time, the note Ansible passed."""
        return _record.make_record(before, after, self.made_by)

    def load_generation(self, number):
        """The state of a kept generation (a SecurityError naming what is kept when it is not)."""
        kept = self._existing_numbers(self.generations_dir) if os.path.isdir(self.generations_dir) else []
        if number not in kept:
            raise SecurityError("unknown_generation", "Generation %s is not kept in the store at %s; the kept "
                                "generations are %s. Change the 'restore' option." % (number, self.path, ", ".join(
                                    str(n) for n in kept) or "none"), option="restore", kept=kept)
        return self._load(os.path.join(self.generations_dir, generation_name(number)))

    def _prepare_root(self):
        self._check_uninitialised_path()
        if not os.path.isdir(self.path):
            try:
                os.makedirs(self.path, 0o700)
            except OSError as exc:
                if exc.errno in _FULL_ERRNOS:
                    raise _write_failure(self.path, exc)
                if exc.errno != errno.EEXIST:
                    raise SecurityError("store_unwritable", "Cannot create the store at %s: %s. Change the "
                                        "'store_path' option or run with privileges." % (self.path, exc.strerror),
                                        option="store_path")
        # through the directory itself (store_path may be a symlink to the store, followed once)
        fd = os.open(self.path, os.O_RDONLY | _O_DIRECTORY | _O_NONBLOCK | _O_CLOEXEC)
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
                os.fchmod(fd, 0o700)
        finally:
            os.close(fd)

    def _write(self, before, after):
        """Write ``after`` as the next generation and make it current; prune; return its number.

        Lowering keep_generations removes the generations it drops before writing, and a write that finds
        the file system full first removes the generations this write would prune anyway, then tries once
        more: either way a full store can be recovered through the modules.  What fails leaves ``current``
        and its generation as they were (store_full, store_unwritable).
        """
        gen_dir = self.generations_dir
        try:
            if not os.path.isdir(gen_dir) or os.path.islink(gen_dir):
                if os.path.islink(gen_dir):
                    os.unlink(gen_dir)
                os.mkdir(gen_dir, 0o700)
            self._clean_stale(gen_dir)
            number = self._next_number(gen_dir)
        except OSError as exc:
            raise _write_failure(self.path, exc)
        rendered = self._render(after, number, after.made_by)
        current = before.generation if before.initialised else 0
        keep = after.keep_generations
        removed = 0
        try:
            if before.initialised and keep < before.keep_generations:
                removed = self._prune(gen_dir, current, keep - 1)
            try:
                self._write_generation(gen_dir, number, rendered)
            except OSError as exc:
                if exc.errno not in _FULL_ERRNOS:
                    raise
                freed = self._prune(gen_dir, current, keep - 1)
                if not freed:
                    raise
                removed += freed
                self._write_generation(gen_dir, number, rendered)
        except OSError as exc:
            raise _write_failure(self.path, exc, keep=keep, kept=len(self._existing_numbers(gen_dir)),
                                 removed=removed)
        try:
            self._prune(gen_dir, number, max(MIN_KEEP_GENERATIONS, keep))
        except OSError:
            pass  # housekeeping only: the new generation is current; the next writer prunes again
        return number

    def _render(self, state, number, made_by):
        """Every file of generation ``number`` in memory, held to what readers accept (value_too_large)."""
        document = {
            "schema_version": SCHEMA_VERSION,
            "generation": number,
            "written": _certs.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "platform": state.platform,
            "system_name": state.system_name,
            "settings": state.settings,
            "credentials": {},
            "trusted": sorted(state.trusted),
            "secrets": sorted(state.secrets),
            "data": state.data,
            "keep_generations": state.keep_generations,
            "dependents_max_age_days": state.dependents_max_age_days,
            "verified_endpoints": state.verified_endpoints,
            "issued_certificates": state.issued_certificates,
            "made_by": made_by,
        }
        rendered = _Rendered()
        for slot in CREDENTIAL_SLOTS:
            cred = getattr(state, slot)
            if cred is None:
                document["credentials"][slot] = None
                continue
            document["credentials"][slot] = {"sha256": cred.fingerprint, "meta": cred.meta}
            rendered.directory(slot)
            rendered.file(slot + "/cert.pem", _certs.cert_pem(cred.cert), 0o644)
            rendered.file(slot + "/key.pem", _certs.key_pem(cred.key), 0o600)
            if slot != "ca":
                rendered.file(slot + "/chain.pem", _certs.certs_pem(state.chain_for(cred)), 0o644)
                rendered.file(slot + "/fullchain.pem", _certs.certs_pem(state.offered_chain(cred)), 0o644)
        rendered.directory("tcs")
        used = {}
        for fp in sorted(state.trusted):
            cert = state.trusted[fp]
            file_name = _tcs_file_name(fp)
            rendered.file("tcs/" + file_name, _certs.cert_pem(cert), 0o644)
            link_base = _certs.subject_hash(cert)
            index = used.get(link_base, 0)
            used[link_base] = index + 1
            rendered.link("tcs/%s.%d" % (link_base, index), file_name)
        rendered.file("tcs/bundle.pem", _certs.certs_pem(state.trusted_certificates()), 0o644)
        if state.secrets:
            rendered.directory("secrets")
            for name, value in sorted(state.secrets.items()):
                if not SECRET_NAME.match(name):
                    raise ValueError("bad secret name %r" % name)
                rendered.file("secrets/" + name, value, 0o600)
        if _json_depth(document) > MAX_JSON_DEPTH:
            raise _settings_too_large(document, "is nested %d levels deep; readers accept %d"
                                      % (_json_depth(document), MAX_JSON_DEPTH))
        # settings.json comes last: a generation directory with it is complete.
        rendered.file("settings.json", json.dumps(document, indent=2, sort_keys=True).encode("utf-8") + b"\n", 0o644)
        for rel, data, _mode in rendered.files:
            if len(data) > MAX_FILE_BYTES:
                if rel == "settings.json":
                    raise _settings_too_large(document, "would hold %d bytes; readers accept at most %d (1 MiB)"
                                              % (len(data), MAX_FILE_BYTES))
                raise _file_too_large(rel, len(data))
        return rendered

    def _write_generation(self, gen_dir, number, rendered):
        """Write a rendered generation beside the others, then switch ``current`` to it (atomically)."""
        name = generation_name(number)
        tmp = os.path.join(gen_dir, ".tmp-%s-%d" % (name, os.getpid()))
        final = os.path.join(gen_dir, name)
        if os.path.lexists(tmp):
            _remove(tmp)
        try:
            os.mkdir(tmp, 0o700)
            rendered.write(tmp)
            if os.path.lexists(final):
                _remove(final)  # a leftover or planted entry: removed, never followed
            os.rename(tmp, final)
            _fsync_dir(gen_dir)
        except BaseException:
            if os.path.lexists(tmp):
                _remove(tmp)
            raise
        link_tmp = os.path.join(self.path, ".current.new")
        try:
            if os.path.lexists(link_tmp):
                _remove(link_tmp)
            os.symlink("generations/" + name, link_tmp)
            os.replace(link_tmp, self.current_link)
        except BaseException:
            # 'current' still names the generation before: the new one never became current, so it goes.
            for path in (link_tmp, final):
                if os.path.lexists(path):
                    _remove(path)
            raise
        _fsync_dir(self.path)

    def _existing_numbers(self, gen_dir):
        numbers = []
        for entry in os.listdir(gen_dir):
            # Only real directories are generations: anything else (a planted symlink) is never followed,
            # never counted, and replaced when its name comes up.
            full = os.path.join(gen_dir, entry)
            number = generation_number(entry)
            if number is not None and not os.path.islink(full) and os.path.isdir(full):
                numbers.append(number)
        return sorted(numbers)

    def _current_number(self):
        """The number 'current' points to (0 when there is none, or it points elsewhere)."""
        try:
            match = CURRENT_TARGET.match(os.readlink(self.current_link))
        except OSError:
            return 0
        number = generation_number(match.group(1)) if match else None
        return number or 0

    def _next_number(self, gen_dir):
        return max(self._existing_numbers(gen_dir) + [self._current_number()]) + 1

    def _clean_stale(self, gen_dir):
        # Left behind by a writer that was killed: never current, safe to remove under the lock.
        for entry in os.listdir(gen_dir):
            if entry.startswith(".tmp-"):
                _remove(os.path.join(gen_dir, entry))

    def _prune(self, gen_dir, current, keep):
        """Keep the ``keep`` newest generations up to ``current`` (at least that one); return how many went.

        Each goes by an atomic rename to a ``.tmp-`` name first (then removed): a removal that stops halfway
        never leaves a half-empty generation under a generation's name.
        """
        numbers = [n for n in self._existing_numbers(gen_dir) if n <= current]
        doomed = numbers[:-max(1, keep)] if len(numbers) > max(1, keep) else []
        # Generations newer than current are leftovers of an interrupted switch: not valid history.
        doomed += [n for n in self._existing_numbers(gen_dir) if n > current]
        for number in doomed:
            name = generation_name(number)
            gone = os.path.join(gen_dir, ".tmp-pruned-%s-%d" % (name, os.getpid()))
            if os.path.lexists(gone):
                _remove(gone)
            os.rename(os.path.join(gen_dir, name), gone)
            _remove(gone)
        return len(doomed)

    # -- history

    def generations(self):
        """The kept generations, newest first: number, written time, whether current, what made it."""
        if not self.exists():
            return []
        current = os.path.basename(self._current_dir())
        result = []
        for number in reversed(self._existing_numbers(self.generations_dir)):
            name = generation_name(number)
            written = made_by = None
            try:
                generation_fd = _open_generation(self.path, os.path.join(self.generations_dir, name))
                try:
                    document = _parse_json(_read_file(generation_fd, "settings.json"))
                finally:
                    os.close(generation_fd)
                if isinstance(document, dict):
                    written = document.get("written")
                    made_by = document.get("made_by") if isinstance(document.get("made_by"), dict) else None
            except (OSError, IOError, ValueError, RecursionError, SecurityError):
                pass
            result.append({"generation": number, "written": written, "current": name == current,
                           "path": os.path.join(self.generations_dir, name), "made_by": made_by})
        return result

    def current_path(self):
        """The directory of the current generation (what TLS services use)."""
        return self._current_dir() if self.exists() else None


# ------------------------------------------------------------------------------------------- helpers


def _corrupt(path, detail):
    return SecurityError("corrupt_store", "The store at %s is corrupt (%s). It was left exactly as it is; restore a "
                         "previous generation or point 'store_path' elsewhere." % (path, detail), option="store_path")


def _load_stored_key(data, option):
    """A key the store wrote itself (unencrypted PKCS#8 PEM, 0600, checked against its certificate).

    OpenSSL's RSA consistency check costs ~0.1 s per key and dominated every store read; the key is
    ours and key_matches() proves it belongs to its certificate, so skip it.  Anything unexpected goes
    through the toolkit's loader for its error message.
    """
    try:
        from cryptography.hazmat.primitives import serialization
        return serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
    except (TypeError, ValueError):  # encrypted, malformed: let the toolkit explain
        return _certs.load_private_key(data, option=option)
    except Exception:  # an older cryptography without the keyword
        return _certs.load_private_key(data, option=option)


def _tcs_file_name(fp):
    return fp.replace(":", "") + ".pem"


def _unwritable(path, exc):
    where = getattr(exc, "filename", None) or path
    return SecurityError("store_unwritable", "Cannot write the store at %s: %s (%s). Nothing was changed. Give the "
                         "user running the task write access to the store, or change the 'store_path' option."
                         % (path, exc.strerror or exc, where), option="store_path")


def _write_failure(path, exc, keep=None, kept=None, removed=0):
    """store_full when the file system (or a quota) is full, with the advice that frees space; else
    store_unwritable."""
    if getattr(exc, "errno", None) not in _FULL_ERRNOS:
        return _unwritable(path, exc)
    if keep is None:
        advice = "Free space on that file system, or change the 'store_path' option."
    else:
        advice = ("The store keeps %d generation(s) (keep_generations %d)%s. Free space on that file system, or "
                  "lower the 'keep_generations' option: a run that lowers it removes the generations it drops "
                  "before it writes." % (kept or 0, keep, "; %d older generation(s) beyond keep_generations were "
                                         "removed to make room, which was not enough" % removed if removed else ""))
    return SecurityError("store_full", "The file system of the store at %s is full (%s): the new generation could "
                         "not be written; 'current' and its generation are unchanged. %s"
                         % (path, exc.strerror or exc, advice), option="keep_generations" if keep else "store_path")


# The option behind each part of settings.json, named when the part makes the file too large.
_PART_OPTIONS = {"system_name": "system_name", "trusted": "certificates", "credentials": "subject_alt_names",
                 "verified_endpoints": "preflight", "data": "store_path", "issued_certificates": "store_path",
                 "made_by": "store_path"}
# The option behind a file of a generation other than settings.json.
_FILE_OPTIONS = {"identity": "certificate_content", "telephony": "certificate_content", "ca": "store_path",
                 "tcs": "certificates", "secrets/scep_password": "password"}


def _json_size(value):
    return len(json.dumps(value, indent=2, sort_keys=True))


def _json_depth(value):
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            pending.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            pending.extend((v, depth + 1) for v in item)
    return deepest


def _settings_too_large(document, problem):
    """value_too_large for settings.json, naming its largest parts and the option behind the largest."""
    parts = []
    for key, value in document.items():
        if key == "settings" and isinstance(value, dict):
            for area, values in sorted(value.items()):
                for name, item in sorted(values.items()):
                    parts.append((_json_size(item), "settings.%s.%s" % (area, name), name))
        else:
            parts.append((_json_size(value), key, _PART_OPTIONS.get(key, "store_path")))
    parts.sort(key=lambda part: -part[0])
    largest = ", ".join("%s (%d bytes)" % (where, size) for size, where, _option in parts[:3])
    return SecurityError("value_too_large", "The new generation's settings.json %s, so it is not written and nothing "
                         "was changed. Its largest parts: %s. Change the '%s' option."
                         % (problem, largest, parts[0][2]), option=parts[0][2], limit=MAX_FILE_BYTES)


def _file_too_large(rel, size):
    option = _FILE_OPTIONS.get(rel) or _FILE_OPTIONS.get(rel.split("/")[0], "store_path")
    return too_large(option, "The new generation's file %s" % rel, size, MAX_FILE_BYTES, unit="bytes")


class _Rendered(object):
    """A generation in memory: directories, files (relative path, bytes, mode) and links, written in order."""

    def __init__(self):
        self.directories = []
        self.files = []
        self.links = []

    def directory(self, rel):
        self.directories.append(rel)

    def file(self, rel, data, mode):
        self.files.append((rel, data, mode))

    def link(self, rel, target):
        self.links.append((rel, target))

    def write(self, root):
        """Create everything under root (a new directory): files O_EXCL|O_NOFOLLOW, fsynced; settings.json last."""
        for rel in self.directories:
            os.mkdir(os.path.join(root, rel), 0o700)
        last = [entry for entry in self.files if entry[0] == "settings.json"]
        for rel, data, mode in [entry for entry in self.files if entry[0] != "settings.json"]:
            directory, name = os.path.split(os.path.join(root, rel))
            _write_file(directory, name, data, mode)
        for rel, target in self.links:
            os.symlink(target, os.path.join(root, rel))
        for rel in self.directories:
            _fsync_dir(os.path.join(root, rel))
        for rel, data, mode in last:
            _write_file(root, rel, data, mode)
        _fsync_dir(root)


def _unreadable(path, what, exc):
    return SecurityError("store_unreadable", "Cannot read the store at %s: %s (%s). It was left as it is. Give the "
                         "user running the task read access to the store, or change the 'store_path' option."
                         % (path, exc.strerror or exc, what), option="store_path")


class _NotRegular(ValueError):
    pass


def _read_error(exc):
    """A short reason for a failed read, naming the entry."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, OSError) and exc.errno is not None:
        name = exc.filename or "an entry"
        if exc.errno == errno.ELOOP:
            return "%s is a symlink; the store never follows symlinks" % name
        if exc.errno == errno.ENOENT:
            return "%s is missing" % name
        if exc.errno == errno.ENOTDIR:
            return "%s is not a directory" % name
        return "%s: %s" % (name, exc.strerror)
    return str(exc) or exc.__class__.__name__


def _open_dir_at(parent_fd, name):
    """A real directory (never a symlink, FIFO or device) under parent_fd: its fd."""
    try:
        fd = os.open(name, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno == errno.ENOTDIR and stat.S_ISLNK(os.lstat(name, dir_fd=parent_fd).st_mode):
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name)
        exc.filename = name
        raise
    if not stat.S_ISDIR(os.fstat(fd).st_mode):  # pragma: no cover - O_DIRECTORY already refused it
        os.close(fd)
        raise _NotRegular("%s is not a directory" % name)
    return fd


def _open_generation(store_path, directory):
    """An fd on a generation directory: store_path itself may be a symlink, nothing below it may be."""
    rel = os.path.relpath(directory, store_path).split(os.sep)
    try:
        fd = os.open(store_path, os.O_RDONLY | _O_DIRECTORY | _O_NONBLOCK | _O_CLOEXEC)
    except OSError as exc:
        exc.filename = "store_path"
        raise
    try:
        for part in rel:
            child = _open_dir_at(fd, part)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_file(directory, *parts, **kwargs):
    """The bytes of a regular file of a generation (``directory``: an fd or a path), at most MAX_FILE_BYTES.

    Every component is opened relative to the one before with O_NOFOLLOW; a symlink, FIFO, device,
    directory or oversized file raises (never blocks, never reads more than the limit).
    """
    limit = kwargs.get("limit", MAX_FILE_BYTES)
    owned = []
    if isinstance(directory, int):
        parent = directory
    else:
        parent = os.open(directory, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC)
        owned.append(parent)
    name = "/".join(parts)
    try:
        for index, part in enumerate(parts[:-1]):
            try:
                parent = _open_dir_at(parent, part)
            except OSError as exc:
                exc.filename = name if exc.errno == errno.ENOENT else "/".join(parts[:index + 1])
                raise
            owned.append(parent)
        try:
            fd = os.open(parts[-1], os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, dir_fd=parent)
        except OSError as exc:
            exc.filename = name
            raise
        owned.append(fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular("%s is not a regular file" % name)
        if info.st_size > limit:
            raise _NotRegular("%s holds %d bytes, more than the limit of %d" % (name, info.st_size, limit))
        chunks = []
        size = 0
        while True:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise _NotRegular("%s holds more than the limit of %d bytes" % (name, limit))
        return b"".join(chunks)
    finally:
        for fd in reversed(owned):
            os.close(fd)


def _parse_json(data):
    """settings.json's document; nesting deeper than MAX_JSON_DEPTH is refused (never a RecursionError)."""
    document = json.loads(data.decode("utf-8"))
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError("settings.json is nested more than %d levels deep" % MAX_JSON_DEPTH)
        if isinstance(value, dict):
            pending.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            pending.extend((v, depth + 1) for v in value)
    return document


def _mkdir(root, name):
    path = os.path.join(root, name)
    os.mkdir(path, 0o700)
    return path


def _write_file(directory, name, data, mode):
    """Create a new file: never follows a symlink, never reuses an existing path, fsynced."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(path, data, mode):
    """Replace path atomically: a new file beside it (never through a symlink, mode set on the descriptor,
    fsynced), renamed over path, the directory fsynced.  A failure leaves path as it was."""
    directory, name = os.path.split(os.path.abspath(path))
    tmp = ".%s.tmp-%d" % (name, os.getpid())
    tmp_path = os.path.join(directory, tmp)
    if os.path.lexists(tmp_path):
        os.unlink(tmp_path)  # left by a process of the same id that died
    try:
        _write_file(directory, tmp, data, mode)
        os.rename(tmp_path, path)
    except BaseException:
        if os.path.lexists(tmp_path):
            os.unlink(tmp_path)
        raise
    _fsync_dir(directory)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path):
    """Remove a file, symlink or directory tree without following symlinks."""
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
    else:
        shutil.rmtree(path)


class _Lock(object):
    """An exclusive flock on the store's lock file, waiting at most ``timeout`` seconds.

    A lock is held only on the file that is at the path when it is taken: a waiter that gets the lock of a
    file removed meanwhile (a first write that failed removes its lock file) opens the path again."""

    def __init__(self, path, timeout):
        self.path = path
        self.timeout = timeout
        self.fd = None

    def _open(self):
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno in _FULL_ERRNOS:
                raise _write_failure(os.path.dirname(self.path), exc)
            raise SecurityError("store_unwritable", "Cannot open the store lock %s: %s. Check the 'store_path' option."
                                % (self.path, exc.strerror), option="store_path")

    def _still_linked(self):
        try:
            return os.path.samestat(os.fstat(self.fd), os.stat(self.path, follow_symlinks=False))
        except OSError:
            return False

    def __enter__(self):
        import fcntl
        self.fd = self._open()
        deadline = time.monotonic() + max(0, self.timeout)
        delay = 0.01
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if self._still_linked():
                    return self
                os.close(self.fd)  # the lock of a removed file guards nothing: take the one at the path
                self.fd = None
                self.fd = self._open()
                continue
            except (OSError, IOError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            if time.monotonic() >= deadline:
                os.close(self.fd)
                self.fd = None
                raise SecurityError("store_locked", "Another writer has held the store lock %s for more than %s "
                                    "seconds; nothing was changed. Try again, or raise the 'lock_timeout' option."
                                    % (self.path, self.timeout), option="lock_timeout")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def __exit__(self, *exc_info):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None
        return False


def utc_datetime(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
