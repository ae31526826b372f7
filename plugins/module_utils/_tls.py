# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fetch exactly what a live TLS endpoint presents (leaf + chain), without judging it.

The handshake verifies nothing (no chain, no host name, any key size or signature): judging is the
check engine's job, and a certificate the system would refuse must still be fetched to say why.

Errors are ``SecurityError`` with codes ``endpoint_refused``, ``endpoint_timeout``,
``endpoint_not_tls`` and ``endpoint_unreachable``; each message names host:port and the option to check.

Bounded: ``timeout`` is the limit of the whole exchange (connect, handshake, close), not of each read, so
a peer that trickles bytes cannot hold a run (``Deadline``); what a handshake may carry is capped by
OpenSSL (a certificate list of at most 100 KiB, records of at most 16 KiB).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import socket
import ssl
import threading
import time

from ansible_collections.ipoffice.security.plugins.module_utils._model import SecurityError

try:
    from cryptography import x509
except ImportError:  # pragma: no cover - reported by the modules
    x509 = None

DEFAULT_TIMEOUT = 10.0


class Deadline(object):
    """An overall time limit on one network exchange.

    At the deadline a watcher thread shuts down the exchange's sockets (``sockets()`` returns those in
    use now), so a read blocked on a peer that trickles bytes, or never stops sending, returns at once;
    ``expired`` then says why the exchange failed.  Use as a context manager around the exchange.
    """

    def __init__(self, seconds, sockets):
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._sockets = sockets
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="ipoffice-deadline")
        self._thread.daemon = True

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._done.set()
        self._thread.join()
        return False

    def remaining(self):
        return max(0.0, self.expires - time.monotonic())

    def _watch(self):
        if self._done.wait(self.remaining()):
            return
        self.expired = True
        while not self._done.is_set():  # a socket can appear later (connect, TLS wrap): keep at it
            for sock in self._sockets():
                if sock is None:
                    continue
                try:
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the fd only; never the SSL object
                except (OSError, ValueError, TypeError):
                    pass
            self._done.wait(0.05)


def _context():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # Old peers (TLS 1.0, SHA-1, RSA-1024) must still answer, so that the engine can report on them.
    try:
        context.minimum_version = ssl.TLSVersion.TLSv1
    except (AttributeError, ValueError):  # pragma: no cover - depends on the OpenSSL build
        pass
    try:
        context.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:  # pragma: no cover - LibreSSL has no security levels
        pass
    return context


def _is_ip(host):
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _presented(tls):
    """DER certificates the peer sent, leaf first."""
    sslobj = getattr(tls, "_sslobj", None)
    getter = getattr(sslobj, "get_unverified_chain", None)
    if getter is not None:
        chain = getter() or []
        return [c.public_bytes(ssl._ssl.ENCODING_DER) if not isinstance(c, bytes) else c for c in chain]
    # Python < 3.10 exposes only the leaf; the chain cannot be judged without its intermediates.
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _presented_or_none(tls):
    try:
        return _presented(tls)
    except (ValueError, AttributeError, ssl.SSLError):
        return None


def fetch_chain(host, port, server_name=None, timeout=DEFAULT_TIMEOUT):
    """The certificates host:port presents in its TLS handshake: a list of x509.Certificate, leaf first.

    ``server_name`` is sent as SNI (default: ``host`` unless it is an IP address).
    """
    where = "%s:%s" % (host, port)
    sni = server_name if server_name else (None if _is_ip(host) else host)
    started = time.monotonic()
    try:
        raw = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    except ConnectionRefusedError:
        raise SecurityError("endpoint_refused", "Connection to %s was refused: nothing listens there. Check the "
                            "'endpoint.host' and 'endpoint.port' options." % where, option="endpoint.port")
    except socket.timeout:
        raise SecurityError("endpoint_timeout", "Connecting to %s timed out after %s seconds. Check the "
                            "'endpoint.host' and 'endpoint.port' options, firewalls, or raise 'endpoint.timeout'."
                            % (where, timeout), option="endpoint.timeout")
    except socket.gaierror as exc:
        raise SecurityError("endpoint_unreachable", "Cannot resolve the host of %s (%s). Check the 'endpoint.host' "
                            "option." % (where, exc.strerror or exc), option="endpoint.host")
    except OSError as exc:
        raise SecurityError("endpoint_unreachable", "Cannot connect to %s: %s. Check the 'endpoint.host' and "
                            "'endpoint.port' options and the network path." % (where, exc.strerror or exc),
                            option="endpoint.host")
    try:
        raw.settimeout(timeout)
        try:
            tls = _context().wrap_socket(raw, server_hostname=sni, do_handshake_on_connect=False)
            with Deadline(max(0.0, timeout - (time.monotonic() - started)), lambda: (tls,)) as deadline:
                try:
                    tls.do_handshake()
                except (ssl.SSLError, OSError) as exc:
                    if deadline.expired:
                        raise SecurityError("endpoint_timeout", "%s did not complete its TLS handshake within %s "
                                            "seconds (the limit for the whole exchange): it answers too slowly, or "
                                            "not in TLS. Check the 'endpoint.port' option, or raise "
                                            "'endpoint.timeout'." % (where, timeout), option="endpoint.timeout")
                    # A TLS 1.2 server that requires a client certificate refuses the handshake after it has
                    # presented its own: what it presented is still what it serves.
                    if not isinstance(exc, ssl.SSLError) or not _presented_or_none(tls):
                        raise
        except socket.timeout:
            raise SecurityError("endpoint_timeout", "%s accepted the connection but did not complete a TLS handshake "
                                "within %s seconds: it may not speak TLS on that port. Check the 'endpoint.port' "
                                "option, or raise 'endpoint.timeout'." % (where, timeout), option="endpoint.timeout")
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
            raise SecurityError("endpoint_not_tls", "%s did not complete a TLS handshake (%s): it does not speak TLS "
                                "on that port, or refuses every protocol we offer. Check the 'endpoint.port' option."
                                % (where, getattr(exc, "reason", None) or exc.__class__.__name__),
                                option="endpoint.port")
        except OSError as exc:
            raise SecurityError("endpoint_unreachable", "The connection to %s failed during the TLS handshake: %s. "
                                "Check the 'endpoint.host' and 'endpoint.port' options."
                                % (where, exc.strerror or exc), option="endpoint.host")
        try:
            presented = _presented(tls)
        finally:
            try:
                tls.close()
            except OSError:  # pragma: no cover
                pass
    finally:
        raw.close()
    if not presented:
        raise SecurityError("endpoint_not_tls", "%s completed a TLS handshake without presenting a certificate. "
                            "Check the 'endpoint.port' option." % where, option="endpoint.port")
    return [x509.load_der_x509_certificate(der) for der in presented]
