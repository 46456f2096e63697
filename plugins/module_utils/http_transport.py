# -*- coding: utf-8 -*-
# okd-registry-toolkit: the stdlib HTTP transport for v2auth.verify_access.
# Kept apart from the core on purpose: this file does I/O.  Stdlib only, Python 2.7 and 3.6+.
"""``make_urllib_transport(...)`` -> ``transport(method, url, headers)``.

The returned callable performs one HTTP request with urllib and returns
``(status, headers_with_lowercase_keys, body_bytes)`` for every HTTP answer,
including 4xx/5xx.  Connection, timeout and TLS problems raise ``ToolkitError``
(``retryable=True`` except for certificate verification failures).

- TLS: an ``ssl`` context with the system trust store, or ``ca_file``; with
  ``validate_certs=False`` verification is off (lab use only).
- Redirects are followed (at most 5); when a redirect leaves the original host the
  ``Authorization`` header is dropped, as docker does.
- Proxy: ``proxy`` (an http(s):// URL) or the environment (``https_proxy``,
  ``http_proxy``, ``no_proxy``); hosts in ``no_proxy`` are always reached directly.
- Bodies are read up to ``max_body`` bytes (manifests and error documents are small).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import time

from .errors import ToolkitError
from .v2auth import verify_with_retries

try:  # Python 3
    from urllib.parse import urlsplit  # novm (Python 3 branch of a 2/3 import)
except ImportError:  # pragma: no cover - Python 2
    from urlparse import urlsplit  # novm (Python 2 fallback)

_MAX_REDIRECTS = 5
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
                from http.client import HTTPException  # novm (Python 3 branch of a 2/3 import)
            except ImportError:  # pragma: no cover - Python 2
                import urllib2 as urlrequest  # novm (Python 2 fallback)
                from urllib2 import HTTPError, URLError  # novm (Python 2 fallback)
                from httplib import HTTPException  # novm (Python 2 fallback)

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


def make_urllib_transport(ca_file=None, validate_certs=True, timeout=30, proxy=None, max_body=_DEFAULT_MAX_BODY):
    """Build a transport for ``v2auth.verify_access`` (see the module docstring)."""
    lib = _Lib.get()
    ssl, _urlrequest, HTTPError, URLError, HTTPException = (lib.ssl, lib.urlrequest, lib.HTTPError, lib.URLError,
                                                            lib.HTTPException)
    context = _ssl_context(ca_file, validate_certs)
    handlers = [_urlrequest.HTTPSHandler(context=context), lib.RedirectHandler()]  # novm (2.7.9+/RHEL 7)
    if proxy:
        handlers.append(_urlrequest.ProxyHandler({"http": proxy, "https": proxy}))
    else:
        handlers.append(_urlrequest.ProxyHandler())  # environment, honours no_proxy
    opener = _urlrequest.build_opener(*handlers)

    def transport(method, url, headers, body=None):
        # body: bytes sent with the request (registry_push's uploads); verify_access sends none
        request = _urlrequest.Request(url, data=body, headers=dict(headers or {}))
        request.get_method = lambda: method
        response = None
        try:
            try:
                response = opener.open(request, timeout=timeout)
            except HTTPError as e:  # 4xx/5xx (and redirect loops): still an HTTP answer
                response = e
            status = response.getcode() if hasattr(response, "getcode") else response.code
            info = response.info() if hasattr(response, "info") else getattr(response, "headers", None)
            body = response.read(max_body) if method != "HEAD" else b""
            return int(status), _headers_dict(info), body or b""
        except ToolkitError:
            raise
        except URLError as e:
            reason = getattr(e, "reason", e)
            if _is_cert_error(reason):
                raise ToolkitError("TLS certificate verification failed for %s: %s (set ca_file to the "
                                   "registry's CA bundle)" % (url.split("?", 1)[0], reason))
            raise ToolkitError("cannot connect to %s: %s" % (url.split("?", 1)[0], reason), retryable=True)
        except ssl.SSLError as e:
            if _is_cert_error(e):
                raise ToolkitError("TLS certificate verification failed for %s: %s (set ca_file to the "
                                   "registry's CA bundle)" % (url.split("?", 1)[0], e))
            raise ToolkitError("TLS error talking to %s: %s" % (url.split("?", 1)[0], e), retryable=True)
        except ssl.CertificateError as e:
            raise ToolkitError("TLS certificate verification failed for %s: %s" % (url.split("?", 1)[0], e))
        except (socket.timeout, socket.error, HTTPException, IOError, OSError) as e:
            raise ToolkitError("connection to %s failed: %s" % (url.split("?", 1)[0], e or type(e).__name__),
                               retryable=True)
        finally:
            if response is not None:
                try:
                    response.close()
                except Exception:  # pragma: no cover - best effort
                    pass

    return transport


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
    result, attempts = verify_with_retries(transport, registry, username, password, image,
                                           retries=options["retries"], retry_delay=options["retry_delay"], sleep=sleep)
    return result, attempts, ca_file
