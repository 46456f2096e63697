# -*- coding: utf-8 -*-
# okd-registry-toolkit: the stdlib HTTP transport for v2auth.verify_access.
# Kept apart from the core on purpose: this file does I/O.  Stdlib only, Python 2.7 and 3.6+.
"""``make_urllib_transport(...)`` -> ``transport(method, url, headers, body=None)``.

The returned callable performs one HTTP request and returns
``(status, headers_with_lowercase_keys, body_bytes)`` for every HTTP answer,
including 4xx/5xx.  Connection, timeout and TLS problems raise ``ToolkitError``
(``retryable=True`` except for certificate verification failures).

- Keep-alive (issue 10): a GET or HEAD without a body, on a direct connection (no proxy),
  goes over one kept connection per origin (scheme, host, port) for the life of the
  transport: an access check makes about four requests to a registry and its token realm,
  which now cost one TCP and TLS handshake instead of four.  A kept connection the server
  has closed meanwhile is noticed on the first write or read and the request made once
  more on a fresh connection (GET and HEAD are safe to repeat).  A connection is kept only
  when its answer was read to the end and did not say ``Connection: close``.  Requests
  with a body, and every request through a proxy, go through urllib as before (a fresh
  connection each, never kept).  ``transport.close()`` closes the kept connections (the
  transport stays usable); they are closed too when the transport is garbage collected.
- TLS: an ``ssl`` context with the system trust store, or ``ca_file``; with
  ``validate_certs=False`` verification is off (lab use only).
- Redirects are followed (at most 5); when a redirect leaves the original host the
  ``Authorization`` header is dropped, as docker does.
- Proxy: ``proxy`` (an http(s):// URL) or the environment (``https_proxy``,
  ``http_proxy``, ``no_proxy``); hosts in ``no_proxy`` are always reached directly.
- Bodies are read up to ``max_body`` bytes (manifests and error documents are small).
- Error messages name the URL without its query and never a header's value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import socket
import sys
import threading
import time

from .errors import ToolkitError
from .v2auth import verify_with_retries

try:  # Python 3
    from urllib.parse import urlsplit  # novm (Python 3 branch of a 2/3 import)
except ImportError:  # pragma: no cover - Python 2
    from urlparse import urlsplit  # novm (Python 2 fallback)

_MAX_REDIRECTS = 5
_MAX_REPEATS = 4  # urllib's HTTPRedirectHandler.max_repeats: one URL at most this often in a redirect chain
_REDIRECT_CODES = (301, 302, 303, 307, 308)
_STALE_ERRNOS = (errno.EPIPE, errno.ECONNRESET, errno.ECONNABORTED)
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)
_USER_AGENT = "Python-urllib/%d.%d" % sys.version_info[:2]  # what urllib sends
_DEFAULT_MAX_BODY = 4 * 1024 * 1024


def _headers_dict(message):
    """HTTP message headers -> dict with lower-case keys; repeated headers joined by ', '."""
    result = {}
    if message is None:
        return result
    items = []
    if hasattr(message, "items"):
        items = list(message.items())
    if hasattr(message, "get_all"):  # Python 3: keep repeated headers (WWW-Authenticate)
        seen = set()
        for key, _value in items:
            lower = key.lower()
            if lower in seen:
                continue
            seen.add(lower)
            result[lower] = ", ".join(message.get_all(key) or [])
        return result
    if hasattr(message, "getheaders"):  # Python 2 mimetools.Message
        for key, _value in items:
            lower = key.lower()
            if lower not in result:
                result[lower] = ", ".join(message.getheaders(key) or [])
        return result
    for key, value in items:
        result[key.lower()] = value
    return result


def _host_of(url):
    parts = urlsplit(url)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)


class _Lib(object):
    """ssl and urllib's request machinery, imported on first use (issue 10): about 20 ms of a host's CPU that a
    module which ends up verifying nothing (registry_credentials on an unchanged file) does not pay."""
    _loaded = None

    @classmethod
    def get(cls):
        if cls._loaded is None:
            import ssl
            try:  # Python 3
                from urllib import request as urlrequest  # novm (Python 3 branch of a 2/3 import)
                from urllib.error import HTTPError, URLError  # novm (Python 3 branch of a 2/3 import)
                from urllib.parse import urljoin  # novm (Python 3 branch of a 2/3 import)
                from urllib.request import getproxies, proxy_bypass  # novm (Python 3 branch of a 2/3 import)
                from http import client as http_client  # novm (Python 3 branch of a 2/3 import)
            except ImportError:  # pragma: no cover - Python 2
                import urllib2 as urlrequest  # novm (Python 2 fallback)
                from urllib2 import HTTPError, URLError  # novm (Python 2 fallback)
                from urlparse import urljoin  # novm (Python 2 fallback)
                from urllib import getproxies, proxy_bypass  # novm (Python 2 fallback)
                import httplib as http_client  # novm (Python 2 fallback)
            HTTPException = http_client.HTTPException  # novm (either module)

            class RedirectHandler(urlrequest.HTTPRedirectHandler):
                """Follow redirects, dropping Authorization when the target is another host."""

                max_redirections = _MAX_REDIRECTS

                def redirect_request(self, req, fp, code, msg, headers, newurl):
                    new = urlrequest.HTTPRedirectHandler.redirect_request(self, req, fp, code, msg, headers, newurl)
                    if new is None:
                        return None
                    if _host_of(req.get_full_url()) != _host_of(newurl):
                        for name in list(new.headers):
                            if name.lower() == "authorization":
                                del new.headers[name]
                        for name in list(getattr(new, "unredirected_hdrs", {})):
                            if name.lower() == "authorization":
                                del new.unredirected_hdrs[name]
                    return new

            lib = cls()
            lib.ssl, lib.urlrequest, lib.HTTPError, lib.URLError = ssl, urlrequest, HTTPError, URLError
            lib.HTTPException, lib.RedirectHandler = HTTPException, RedirectHandler
            lib.http_client, lib.urljoin, lib.getproxies, lib.proxy_bypass = http_client, urljoin, getproxies, proxy_bypass
            # a kept connection the server closed: no status line, a reset, a broken pipe, a TLS EOF
            stale = (http_client.BadStatusLine,  # novm (either module)
                     getattr(ssl, "SSLEOFError", None), getattr(ssl, "SSLZeroReturnError", None))
            lib.stale_errors = tuple(e for e in stale if e is not None)
            cls._loaded = lib
        return cls._loaded


def _ssl_context(ca_file, validate_certs):
    ssl = _Lib.get().ssl
    if not validate_certs:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        if ca_file:
            return ssl.create_default_context(cafile=ca_file)
        return ssl.create_default_context()
    except (IOError, OSError, ssl.SSLError) as e:
        raise ToolkitError("cannot load CA file %s: %s" % (ca_file, e))


def _is_cert_error(reason):
    ssl = _Lib.get().ssl
    cert_error = getattr(ssl, "SSLCertVerificationError", None)
    if cert_error is not None and isinstance(reason, cert_error):
        return True
    if isinstance(reason, ssl.CertificateError):
        return True
    text = str(reason)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text or \
        "doesn't match" in text or "hostname mismatch" in text.lower()


def registry_ca_file(host, ca_file=None, certs_dir="/etc/docker/certs.d"):
    """The CA bundle to trust for registry HOST (``host[:port]``): CA_FILE when given, else
    CERTS_DIR/HOST/ca.crt where docker keeps a registry's CA, when that file exists; else None (the system's
    trust store). A HOST with a path separator never names a file there."""
    if ca_file:
        return ca_file
    if not certs_dir or not host or "/" in host:
        return None
    candidate = os.path.join(certs_dir, host, "ca.crt")
    return candidate if os.path.isfile(candidate) else None


def _where(url):
    """URL as error messages name it: without its query (a token realm's query names the account)."""
    return url.split("?", 1)[0]


def _toolkit_error(url, e, lib):
    """The ToolkitError for exception E of a request to URL, or None when E is not a transport error.
    Both paths (urllib and kept connections) raise through this, with the same messages."""
    ssl, where = lib.ssl, _where(url)
    if isinstance(e, lib.URLError):
        reason = getattr(e, "reason", e)
        if _is_cert_error(reason):
            return ToolkitError("TLS certificate verification failed for %s: %s (set ca_file to the "
                                "registry's CA bundle)" % (where, reason))
        return ToolkitError("cannot connect to %s: %s" % (where, reason), retryable=True)
    if isinstance(e, ssl.SSLError):
        if _is_cert_error(e):
            return ToolkitError("TLS certificate verification failed for %s: %s (set ca_file to the "
                                "registry's CA bundle)" % (where, e))
        return ToolkitError("TLS error talking to %s: %s" % (where, e), retryable=True)
    if isinstance(e, ssl.CertificateError):
        return ToolkitError("TLS certificate verification failed for %s: %s" % (where, e))
    if isinstance(e, (socket.timeout, socket.error, lib.HTTPException, IOError, OSError)):
        return ToolkitError("connection to %s failed: %s" % (where, e or type(e).__name__), retryable=True)
    if isinstance(e, ValueError) and str(e).startswith("Invalid header"):
        # http.client's header check quotes the value (maybe a token): never shown
        return ToolkitError("invalid HTTP header in the request to %s (the value is not shown)" % where)
    return None


def _is_stale(e, lib):
    """E, raised by the first write or read of a kept connection, says the server had closed it."""
    if isinstance(e, lib.stale_errors):  # http.client's RemoteDisconnected is a BadStatusLine
        return True
    if isinstance(e, lib.ssl.SSLError) and "eof" in str(e).lower():
        return True  # OpenSSL 3 under Python < 3.10: "unexpected eof while reading", not an SSLEOFError
    return isinstance(e, (socket.error, IOError, OSError)) and getattr(e, "errno", None) in _STALE_ERRNOS


def _tune(conn, connected=False):
    """Socket options of a kept connection (best effort).  CONNECTED (just connected): TCP_NODELAY, as
    Python 3's http.client sets it and Python 2's httplib does not (without it a request written right after
    the TLS handshake waits for the server's delayed ACK, about 40 ms).  After each request: TCP_QUICKACK
    (Linux), so that the answer's first segment is acknowledged at once: a server that writes its headers and
    its body apart with Nagle's algorithm on (Python's http.server, the lab's front door) holds the body back
    until then, and on a kept connection that acknowledgement is otherwise delayed by about 40 ms."""
    options = [(socket.TCP_NODELAY, 1)] if connected else []
    if _QUICKACK is not None:
        options.append((_QUICKACK, 1))
    for option, value in options:
        try:
            conn.sock.setsockopt(socket.IPPROTO_TCP, option, value)
        except (AttributeError, socket.error, OSError, IOError):  # pragma: no cover - best effort
            pass


def _split_url(url):
    """URL -> (scheme, host[:port] without user info, selector) as urllib's Request splits it."""
    scheme, _sep, rest = url.split("#", 1)[0].partition(":")
    match = re.match(r"//([^/?#]*)(.*)", rest, re.DOTALL)
    if not match:
        return scheme.lower(), "", rest
    return scheme.lower(), match.group(1).rpartition("@")[2], match.group(2) or "/"


def _redirect_target(url, location):
    """The URL a redirect from URL to LOCATION goes to (as urllib builds it), or None when urllib refuses
    it (a scheme other than http, https, ftp)."""
    parts = urlsplit(location)
    if parts.scheme.lower() not in ("http", "https", "ftp", ""):
        return None
    if not parts.path and parts.netloc:
        location = parts._replace(path="/").geturl()
    return _Lib.get().urljoin(url, location).replace(" ", "%20")


class _Transport(object):
    """The callable ``make_urllib_transport`` returns: see the module docstring."""

    def __init__(self, context, timeout, proxy, max_body):
        self._lib = _Lib.get()
        self._context, self._timeout, self._proxy, self._max_body = context, timeout, proxy, max_body
        # as urllib's ProxyHandler: the proxies are read once, no_proxy at each request
        self._proxies = {"http": proxy, "https": proxy} if proxy else self._lib.getproxies()
        self._opener = None
        self._idle = {}  # origin -> an idle kept connection
        self._lock = threading.Lock()
        # connections this transport opened, requests made over a kept one, stale kept ones retried
        self.stats = {"opened": 0, "reused": 0, "stale": 0}

    # ------------------------------------------------------------------ public
    def __call__(self, method, url, headers, body=None):
        # body: bytes sent with the request (registry_push's uploads); verify_access sends none
        try:
            if body is None and method in ("GET", "HEAD"):
                return self._direct(method, url, headers)
            return self._via_urllib(method, url, headers, body)
        except ToolkitError:
            raise
        except Exception as e:  # pylint: disable=broad-except
            error = _toolkit_error(url, e, self._lib)
            if error is None:
                raise
            raise error

    def close(self):
        """Close the kept connections (the transport stays usable)."""
        with self._lock:
            idle, self._idle = list(self._idle.values()), {}
        for conn in idle:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown  # pylint: disable=broad-except
            pass

    # ------------------------------------------------------------------ urllib (proxy, bodies)
    def _via_urllib(self, method, url, headers, body, visited=None):
        lib = self._lib
        if self._opener is None:
            handlers = [lib.urlrequest.HTTPSHandler(context=self._context), lib.RedirectHandler()]  # novm (2.7.9+/RHEL 7)
            if self._proxy:
                handlers.append(lib.urlrequest.ProxyHandler(self._proxies))
            else:
                handlers.append(lib.urlrequest.ProxyHandler())  # environment, honours no_proxy
            self._opener = lib.urlrequest.build_opener(*handlers)
        request = lib.urlrequest.Request(url, data=body, headers=dict(headers or {}))
        request.get_method = lambda: method
        if visited:  # a redirect chain begun over kept connections: urllib counts on from there
            request.redirect_dict = dict(visited)
        response = None
        try:
            try:
                response = self._opener.open(request, timeout=self._timeout)
            except lib.HTTPError as e:  # 4xx/5xx (and redirect loops): still an HTTP answer
                response = e
            status = response.getcode() if hasattr(response, "getcode") else response.code
            info = response.info() if hasattr(response, "info") else getattr(response, "headers", None)
            data = response.read(self._max_body) if method != "HEAD" else b""
            return int(status), _headers_dict(info), data or b""
        finally:
            if response is not None:
                try:
                    response.close()
                except Exception:  # pragma: no cover - best effort  # pylint: disable=broad-except
                    pass

    # ------------------------------------------------------------------ kept connections
    def _proxied(self, scheme, hostport):
        """urllib's ProxyHandler decision: a proxy for SCHEME, unless no_proxy names HOSTPORT."""
        if scheme not in self._proxies:
            return False
        return not (hostport and self._lib.proxy_bypass(hostport))

    def _direct(self, method, url, headers):
        """GET or HEAD without a body over kept connections, redirects followed as urllib follows them."""
        headers = dict((str(k).title(), v) for k, v in (headers or {}).items())  # urllib's spelling
        visited = {}
        while True:
            scheme, hostport, selector = _split_url(url)
            if scheme not in ("http", "https") or not hostport or self._proxied(scheme, hostport):
                return self._via_urllib(method, url, headers, None, visited)
            response, data = self._exchange(method, scheme, hostport, selector, headers)
            status = int(response.status)
            location = response.msg.get("location") or response.msg.get("uri")
            if status in _REDIRECT_CODES and location:
                target = _redirect_target(url, location)
                if target is not None and visited.get(target, 0) < _MAX_REPEATS and len(visited) < _MAX_REDIRECTS:
                    visited[target] = visited.get(target, 0) + 1
                    if _host_of(url) != _host_of(target):  # another host: no credentials, as docker
                        headers = dict((k, v) for k, v in headers.items() if k.lower() != "authorization")
                    method, url = ("HEAD" if method == "HEAD" else "GET"), target
                    continue
            return status, _headers_dict(response.msg), (data if method != "HEAD" else b"") or b""

    def _connection(self, scheme, hostport):
        client = self._lib.http_client
        with self._lock:
            self.stats["opened"] += 1
        if scheme == "https":
            return client.HTTPSConnection(hostport, timeout=self._timeout, context=self._context)  # novm (2.7.9+/RHEL 7)
        return client.HTTPConnection(hostport, timeout=self._timeout)

    def _exchange(self, method, scheme, hostport, selector, headers):
        """One request and its answer over the origin's kept connection (or a new one): (response, body)."""
        lib, origin = self._lib, (scheme, hostport.lower())
        wire = dict(headers)
        wire.setdefault("Host", hostport)
        wire.setdefault("User-Agent", _USER_AGENT)
        with self._lock:
            conn = self._idle.pop(origin, None)
            reused = conn is not None and conn.sock is not None
            if reused:
                self.stats["reused"] += 1
        if not reused:
            conn = self._connection(scheme, hostport)
        while True:
            sending = True
            try:
                if conn.sock is None:
                    conn.connect()
                    _tune(conn, connected=True)
                conn.request(method, selector, None, wire)
                sending = False
                _tune(conn)
                if sys.version_info[0] == 2:  # pragma: no cover - Python 2: a buffered socket file, as urllib2
                    response = conn.getresponse(buffering=True)
                else:
                    response = conn.getresponse()
                break
            except Exception as e:  # pylint: disable=broad-except
                conn.close()
                if reused and _is_stale(e, lib):  # closed by the server while kept: once more, on a new one
                    with self._lock:
                        self.stats["stale"] += 1
                    conn, reused = self._connection(scheme, hostport), False
                    continue
                if sending and isinstance(e, socket.error):
                    raise lib.URLError(e)  # as urllib reports a failure to connect or send
                raise
        try:
            length = getattr(response, "length", None)
            data = response.read(self._max_body if length is None else min(length, self._max_body))
        except Exception:
            response.close()
            conn.close()
            raise
        keep = not response.will_close and response.isclosed()  # read to the end, not "Connection: close"
        response.close()
        if keep:
            with self._lock:
                conn, self._idle[origin] = self._idle.get(origin), conn
        if conn is not None:
            conn.close()
        return response, data


def make_urllib_transport(ca_file=None, validate_certs=True, timeout=30, proxy=None, max_body=_DEFAULT_MAX_BODY):
    """Build a transport for ``v2auth.verify_access`` (see the module docstring): a callable
    ``transport(method, url, headers, body=None)`` with ``close()`` and ``stats``."""
    return _Transport(_ssl_context(ca_file, validate_certs), timeout, proxy, max_body)


def verify_options_spec():
    """The Ansible argument spec of the options ``verify_over_https`` reads (modules registry_verify and
    registry_credentials): a fresh dict per call."""
    return dict(
        ca_file=dict(type="path"),
        certs_dir=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        proxy=dict(type="str", no_log=True),
        timeout=dict(type="int", default=30),
        retries=dict(type="int", default=2),
        retry_delay=dict(type="int", default=2),
    )


def verify_over_https(host, registry, username, password, image, options, sleep=None):
    """``v2auth.verify_with_retries`` for REGISTRY (whose host is HOST) over this module's urllib transport,
    with OPTIONS (a mapping of ``verify_options_spec``'s keys): (result, attempts, ca_file used or None)."""
    if sleep is None:
        sleep = time.sleep
    ca_file = registry_ca_file(host, options.get("ca_file"), options.get("certs_dir"))
    transport = make_urllib_transport(ca_file=ca_file, validate_certs=options["validate_certs"],
                                      timeout=options["timeout"], proxy=options.get("proxy") or None)
    try:
        result, attempts = verify_with_retries(transport, registry, username, password, image,
                                               retries=options["retries"], retry_delay=options["retry_delay"],
                                               sleep=sleep)
    finally:
        transport.close()
    return result, attempts, ca_file
