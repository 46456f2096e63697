"""Controller-side verification of registry credentials, before any host is touched.

The deploy file is executed once per host (in parallel greenlets); the verification runs once per
distinct (registry, username, password, image, TLS settings) and its result is shared. A failure raises
``RegistryVerificationError`` (a PyinfraError) while pyinfra is still preparing, so the run stops before
any operation is executed, with the registry's own message and never the secret.
"""
from __future__ import annotations

import hashlib
import threading

from pyinfra.api.exceptions import PyinfraError

from . import REPO_ROOT  # noqa: F401  (puts the repository root on sys.path)
from plugins.module_utils import http_transport, v2auth
from plugins.module_utils.errors import ToolkitError

_lock = threading.Lock()  # gevent-patched under the pyinfra CLI
_results = {}


class RegistryVerificationError(PyinfraError):
    pass


def _key(registry, username, password, image, ca_file, validate_certs, proxy, timeout):
    digest = hashlib.sha256(("%s\0%s" % (username, password)).encode("utf-8")).hexdigest()
    return (registry, digest, image, ca_file, validate_certs, proxy, timeout)


def verify_registries(registries, ca_file=None, validate_certs=True, proxy=None, timeout=30):
    """Verify every registry ({host|registry, username, password, test_image?}) from the controller:
    token + pull access to test_image. Returns [{registry, image, ok}]; raises
    RegistryVerificationError naming the registry with its own message."""
    report = []
    for item in registries or ():
        registry = item.get("registry") or item.get("host")
        image = item.get("test_image") or item.get("image") or None
        key = _key(registry, item.get("username"), item.get("password"), image, ca_file,
                   validate_certs, proxy, timeout)
        with _lock:
            if key not in _results:
                try:
                    transport = http_transport.make_urllib_transport(
                        ca_file=ca_file or None, validate_certs=validate_certs,
                        timeout=timeout, proxy=proxy or None)
                    v2auth.verify_access(transport, registry, item.get("username"),
                                         item.get("password"), image=image)
                    _results[key] = None
                except ToolkitError as exc:
                    _results[key] = "%s" % exc
            error = _results[key]
        if error is not None:
            raise RegistryVerificationError(
                "registry credentials for %s rejected, nothing was changed on any host: %s"
                % (registry, error))
        report.append({"registry": registry, "image": image, "ok": True})
    return report
