# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whom a certificate names: RFC 9525 host names and IP addresses, RFC 5922 SIP domains.

The path validator matches DNS and IP subjectAltNames only inside a server verifier, never SIP URIs, and
never says which name failed; the remote check levels need both, so the matching is ours:

* ``matches_peer_name(cert, peer_name)`` (RFC 9525): the peer name is a host name or an IP literal; only
  the subjectAltName counts (no common-name fallback); '*' matches exactly one whole left-most label.
* ``matches_sip_domain(cert, sip_domain)`` (RFC 5922 section 7.1): the SIP domain identities are the
  ``sip:`` URIs of the subjectAltName (without a user part), else its DNS names, else - only without a
  subjectAltName - the common names; exact, case-insensitive, wildcards never match.

The check engine (``_checks``) remembers ``name_tables`` and ``sip_identities`` per certificate.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import ipaddress
import re

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - reported at module start (_cryptography_dep)
    pass

# The same few peer names and SIP domains recur in every evaluation: their reference identities are
# remembered, bounded (a table is emptied when it reaches this size).
_PARSED_NAMES_LIMIT = 1024
_PEER_NAMES_PARSED = {}
_SIP_DOMAINS_PARSED = {}

_HOST_NAME_ONLY = re.compile(r"^[^:]*[g-zG-Z_\-][^:]*$")
# RFC 5280 4.2.1.6 preferred name syntax (lowercased), with '*' allowed as the whole left-most label.
_PRESENTED_DNS = re.compile(r"^(\*|[a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")

NameTables = collections.namedtuple("NameTables", "exact wildcard ips")


def subject_alt_name(cert):
    """The certificate's subjectAltName extension, or None."""
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None


def _common_names(cert):
    return [attr.value for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if isinstance(attr.value, str)]


def _dns_reference(name):
    """A DNS reference identity in comparable form (lowercase A-labels, no trailing dot), or None."""
    text = name.strip().rstrip(".")
    if not text or "*" in text:
        return None
    try:
        text = text.encode("idna").decode("ascii") if any(ord(c) > 127 for c in text) else text
    except UnicodeError:
        return None
    return text.lower()


def _ip_reference(name):
    text = name.strip()
    if _HOST_NAME_ONLY.match(text):  # a letter beyond hex digits and no colon: not an IP literal
        return None
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _remember(table, name, value):
    if isinstance(name, str):
        if len(table) >= _PARSED_NAMES_LIMIT:
            table.clear()
        table[name] = value


def peer_reference(peer_name):
    """(IP address, None) for an IP literal, else (None, DNS reference identity or None)."""
    try:
        return _PEER_NAMES_PARSED[peer_name]
    except (KeyError, TypeError):
        pass
    address = _ip_reference(peer_name)
    reference = (address, _dns_reference(peer_name) if address is None else None)
    _remember(_PEER_NAMES_PARSED, peer_name, reference)
    return reference


def sip_reference(sip_domain):
    """The DNS reference identity of a SIP domain, or None."""
    try:
        return _SIP_DOMAINS_PARSED[sip_domain]
    except (KeyError, TypeError):
        pass
    reference = _dns_reference(sip_domain)
    _remember(_SIP_DOMAINS_PARSED, sip_domain, reference)
    return reference


def name_tables(san):
    """A subjectAltName extension's names ready for RFC 9525 matching, or None without one: ``exact`` the
    valid presented DNS names in comparable form, ``wildcard`` the parent domains of the valid '*.'
    wildcards (at least two labels, no other '*'), ``ips`` the IP addresses.  A presented name that is not a
    host name (an underscore, say) never matches."""
    if san is None:
        return None
    exact, wildcard = set(), set()
    for presented in san.value.get_values_for_type(x509.DNSName):
        pattern = presented.strip().rstrip(".").lower()
        if not pattern or not _PRESENTED_DNS.match(pattern):
            continue
        exact.add(pattern)
        if pattern.startswith("*."):
            suffix = pattern[2:]
            if "*" not in suffix and "." in suffix:
                wildcard.add(suffix)
    return NameTables(frozenset(exact), frozenset(wildcard), tuple(san.value.get_values_for_type(x509.IPAddress)))


def names_match(tables, peer_name):
    """Whether name tables (see name_tables) hold the host name or IP literal peer_name (RFC 9525 6.3)."""
    address, reference = peer_reference(peer_name)
    if address is not None:
        return tables is not None and address in tables.ips
    if reference is None or tables is None:
        # RFC 9525 drops the common name as an identifier: without a SAN nothing can match.
        return False
    if reference in tables.exact:
        return True
    label, dot, rest = reference.partition(".")
    return bool(dot) and bool(label) and rest in tables.wildcard


def matches_peer_name(cert, peer_name):
    """Whether cert is valid for the host name or IP literal peer_name (RFC 9525)."""
    return names_match(name_tables(subject_alt_name(cert)), peer_name)


def _sip_uri_domain(uri):
    """The domain of a 'sip:' URI without a user part, or None (not a SIP domain identity)."""
    if uri[:4].lower() != "sip:":
        return None
    rest = uri[4:]
    if "@" in rest:
        return None
    host = re.split(r"[;?]", rest, maxsplit=1)[0]
    if host.startswith("["):
        host = host[:host.find("]") + 1] if "]" in host else host
    elif ":" in host:
        host = host.split(":", 1)[0]
    host = host.strip().rstrip(".").lower()
    return host or None


def sip_identities(cert, san=False):
    """The SIP domain identities of a certificate per RFC 5922 section 7.1 (lowercase).  ``san``: its
    subjectAltName extension (or None) when the caller has it already."""
    san = subject_alt_name(cert) if san is False else san
    if san is None:
        return [cn.strip().rstrip(".").lower() for cn in _common_names(cert)]
    uris = [d for d in (_sip_uri_domain(u) for u in san.value.get_values_for_type(x509.UniformResourceIdentifier))
            if d]
    if uris:
        return uris
    return [d.strip().rstrip(".").lower() for d in san.value.get_values_for_type(x509.DNSName)]


def matches_sip_domain(cert, sip_domain):
    """Exact, case-insensitive match of the SIP domain against the identities; wildcards never match."""
    reference = sip_reference(sip_domain)
    # a reference never holds '*', so a wildcard identity never equals it
    return reference is not None and reference in sip_identities(cert)
