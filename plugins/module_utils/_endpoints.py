# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One endpoint item, one meaning: what a live TLS endpoint is and which names are checked on it.

``certificate_verify``'s ``endpoint``, the ``certificate_checks`` preflight entries, the audit role's
``audit_endpoints`` (passed to certificate_verify) and live read-back's ``live_endpoints`` all take the
same item: ``host``, ``port``, ``server_name``, ``peer_name``, ``sip_domain``, ``purpose``, ``timeout``
(plus ``setting`` in the preflight and ``serves`` in live read-back, which say what the endpoint is for).
``resolve`` fills the defaults in one place, and ``names`` says which names the remote levels check:

- ``port``: 5061 for a telephony endpoint (SIP over TLS), none for H.323 (it must be given), 443 otherwise;
- ``purpose``: ``sip_server`` for a telephony endpoint, ``server`` otherwise;
- ``server_name``: the SNI name sent (left out: the host, unless it is an IP address);
- ``timeout``: the seconds for the whole exchange (left out: the module's own timeout option);
- the name checked at ``medium_remote`` and ``high_remote``: ``peer_name`` when given; when only
  ``sip_domain`` is given, the SIP domain alone (RFC 5922: on a SIP link the domain is the identity,
  and the host is often an address or an SRV target); with neither, ``server_name``, else ``host``.
  With both, both are checked.

``evaluate`` judges what an endpoint presented at a level with the store's trusted certificates; the
same item gives the same verdict wherever it is used (docs/check-levels.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.ipoffice.security.plugins.module_utils._model import (
    CHECK_PURPOSES,
    MAX_HOST_CHARS,
    MAX_NETWORK_TIMEOUT,
    SecurityError,
    check_length,
    check_seconds,
    check_text,
)

FIELDS = ("host", "port", "server_name", "peer_name", "sip_domain", "purpose", "timeout")
KINDS = ("management", "telephony", "h323", "line")
# An H.323 endpoint has no port everyone uses: it must be given.
DEFAULT_PORT = {"management": 443, "telephony": 5061, "line": 443, None: 443}
DEFAULT_PURPOSE = {"management": "server", "telephony": "sip_server", "h323": "server", "line": "server",
                   None: "server"}
DEFAULT_TIMEOUT = 10.0
_HOST = re.compile(r"^[A-Za-z0-9_.:\-\[\]%]+$")


def _fail(path, option, message, code="invalid_setting"):
    # The message names the exact field to change (endpoint.port, preflight[1].port), which is also the option.
    return SecurityError(code, "%s %s Change the '%s' option." % (path, message, path), option=path)


def _text(item, field, path, option):
    value = item.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail("%s.%s" % (path, field), option, "must be a non-empty string (or be left out), got %r." % (value,))
    check_text(value, "%s.%s" % (path, field))
    check_length(value, MAX_HOST_CHARS, "%s.%s" % (path, field))
    return value.strip()


def resolve(item, path, option=None, kind=None, timeout=None, extras=()):
    """The endpoint item in canonical form: every field of FIELDS present, defaults applied.

    ``path`` names the item in messages and errors ('endpoint', 'preflight[0]'); ``option`` is the module
    option to change (default the part of ``path`` before any '[' or '.').  ``kind`` (management,
    telephony, line or None) chooses the port and purpose defaults; ``timeout`` is the module's own
    timeout, the default of the item's.  ``extras`` are the further keys the caller's item takes
    ('setting', 'serves'), copied as they are for the caller to validate.
    """
    option = option or re.split(r"[\[.]", path, maxsplit=1)[0]
    if not isinstance(item, dict):
        raise _fail(path, option, "must be a dictionary with host (and port, server_name, peer_name, sip_domain, "
                    "purpose, timeout).")
    given = dict((k, v) for k, v in item.items() if v is not None)
    unknown = sorted(set(given) - set(FIELDS) - set(extras), key=str)
    if unknown:
        raise _fail(path, option, "takes %s; unknown key(s): %s."
                    % (", ".join(FIELDS + tuple(extras)), ", ".join(str(k) for k in unknown)), code="unknown_setting")
    host = given.get("host")
    if host is None or (isinstance(host, str) and not host.strip()):
        raise _fail(path + ".host", option, "must name the host to connect to.", code="missing_option")
    if isinstance(host, str):
        check_text(host, path + ".host")
        check_length(host, MAX_HOST_CHARS, path + ".host")
    if not isinstance(host, str) or not _HOST.match(host.strip()):
        raise _fail(path + ".host", option, "must be a host name or IP address, got %r." % (host,))
    if "port" not in given and DEFAULT_PORT.get(kind) is None:
        raise _fail(path + ".port", option, "must be given for an endpoint that serves %s (there is no default "
                    "port)." % kind, code="missing_option")
    port = given.get("port", DEFAULT_PORT.get(kind))
    number = int(port) if isinstance(port, int) and not isinstance(port, bool) else \
        (int(port) if isinstance(port, str) and port.strip().isdigit() else None)
    if number is None:
        raise _fail(path + ".port", option, "must be a port number from 1 to 65535, got %r." % (port,))
    if not 0 < number < 65536:
        raise _fail(path + ".port", option, "must be a port number from 1 to 65535, got %r." % (port,),
                    code="out_of_range")
    purpose = given.get("purpose", DEFAULT_PURPOSE[kind])
    if purpose not in CHECK_PURPOSES:
        raise _fail(path + ".purpose", option, "must be one of %s, got %r." % (", ".join(CHECK_PURPOSES), purpose),
                    code="invalid_choice")
    seconds = check_seconds(given.get("timeout", DEFAULT_TIMEOUT if timeout is None else timeout), path + ".timeout",
                            MAX_NETWORK_TIMEOUT)
    result = {"host": host.strip(), "port": number, "purpose": purpose, "timeout": seconds}
    for field in ("server_name", "peer_name", "sip_domain"):
        result[field] = _text(given, field, path, option)
    for key in extras:
        result[key] = given.get(key)
    return result


def names(endpoint):
    """(peer_name, sip_domain) the remote levels check on this endpoint (the rule in the module docstring)."""
    peer_name, sip_domain = endpoint.get("peer_name"), endpoint.get("sip_domain")
    if peer_name is None and sip_domain is None and endpoint.get("host"):
        peer_name = endpoint.get("server_name") or endpoint["host"].strip("[]")
    return peer_name, sip_domain


def label(endpoint, what=None):
    """host:port (IPv6 in brackets), with what it is for in parentheses when given."""
    host = endpoint["host"]
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    text = "%s:%d" % (host, endpoint["port"])
    return "%s (%s)" % (text, what) if what else text


def fetch(endpoint):
    """What the endpoint presents in its TLS handshake (leaf first); SecurityError when it cannot be read."""
    # Imported here: only what connects pays for ssl.
    from ansible_collections.ipoffice.security.plugins.module_utils import _tls
    return _tls.fetch_chain(endpoint["host"], endpoint["port"], server_name=endpoint["server_name"],
                            timeout=endpoint["timeout"])


def evaluate(presented, endpoint, level, trusted=(), identities=(), at=None, latent_medium=False):
    """The check engine's verdict on what an endpoint presented, at ``level``: (report, verdict dict).

    The dict is {passed, findings, codes, peer_name, sip_domain, level, purpose} and, when ``latent_medium`` (the
    system runs R11.1.3 or later with a medium level not re-applied) and the level is a medium one,
    ``latent_medium``: the verdict of the medium the system runs today, without the checks R11.1.3 added.
    """
    from ansible_collections.ipoffice.security.plugins.module_utils import _checks

    peer_name, sip_domain = names(endpoint)
    remote = level in _checks.REMOTE_LEVELS
    report = _checks.evaluate(presented[0], level=level, purpose=endpoint["purpose"], chain=tuple(presented[1:]),
                              trusted=tuple(trusted), identity=list(identities),
                              peer_name=peer_name if remote else None, sip_domain=sip_domain if remote else None,
                              at=at)
    verdict = _checks.report_as_dict(report)
    verdict.update({"level": level, "purpose": report.purpose, "peer_name": peer_name if remote else None,
                    "sip_domain": sip_domain if remote else None})
    if latent_medium and level in _checks.LATENT_MEDIUM_LEVELS:
        verdict["latent_medium"] = _checks.latent_medium_verdict(report)
    return report, verdict
