"""Controller-side verification of registry credentials, before any host is touched.

The deploy file is executed once per host (in parallel greenlets); the verification runs once per
distinct (registry, username, password, image, TLS settings) and its result is shared; the registries
are checked at the same time (one thread each), so the run waits for the slowest, not for their sum. A failure raises
``RegistryVerificationError`` (a PyinfraError) while pyinfra is still preparing, so the run stops before
any operation is executed, with the registry's own message and never the secret.

Transient errors (connection errors, timeouts, HTTP 5xx and 429) are retried ``retries`` times, waiting
``retry_delay`` s (doubling, at most 60 s) in between, as the Ansible module registry_verify does; a
refused login (401/403) never is. ``timeout`` is per HTTP request.

Credentials only go over https (a registry naming a plain-http token realm is refused, naming the
registry and the realm, before anything is sent there); a registry that never asks for the credentials
is reported with a warning ``credentials not tested: anonymous access`` (``credentials_tested`` False).
"""
from __future__ import annotations

import hashlib
import threading
import time

from pyinfra import logger
from pyinfra.api.exceptions import PyinfraError

from . import REPO_ROOT  # noqa: F401  (puts the repository root on sys.path)
from plugins.module_utils import http_transport, v2auth
from plugins.module_utils.registry_entry import registry_entry
from plugins.module_utils.errors import ToolkitError

_lock = threading.Lock()  # gevent-patched under the pyinfra CLI
_results = {}


class RegistryVerificationError(PyinfraError):
    pass


def _key(registry, username, password, image, ca_file, validate_certs, proxy, timeout, retries):
    digest = hashlib.sha256(("%s\0%s" % (username, password)).encode("utf-8")).hexdigest()
    return (registry, digest, image, ca_file, validate_certs, proxy, timeout, retries)


def _settings_error(message):
    return RegistryVerificationError("registry_credentials: " + message)


def verify_with_retries(transport, registry, username, password, image=None, retries=3,
                        retry_delay=2, sleep=time.sleep):
    """The core's v2auth.verify_with_retries (the module registry_verify retries alike)."""
    return v2auth.verify_with_retries(transport, registry, username, password, image=image,
                                      retries=retries, retry_delay=retry_delay, sleep=sleep)


def verify_registries(registries, ca_file=None, validate_certs=True, proxy=None, timeout=30, retries=3,
                      retry_delay=2, sleep=time.sleep):
    """Verify every registry ({host|registry, username, password, test_image?}) from the controller:
    token + pull access to test_image, `timeout` s per request, `retries` retries of transient errors.
    Returns [{registry, image, ok, attempts}]; raises RegistryVerificationError naming the registry with
    its own message."""
    try:
        timeout, retries = int(timeout), int(retries)
    except (TypeError, ValueError):
        raise _settings_error("registry_credentials_timeout and registry_credentials_retries must be "
                              "integers, not %r and %r" % (timeout, retries))
    if timeout <= 0 or retries < 0:
        raise _settings_error("registry_credentials_timeout must be > 0 and registry_credentials_retries "
                              ">= 0, not %d and %d" % (timeout, retries))
    checks = []  # (item, registry key, image, cache key), in the given order
    for item in registries or ():
        try:
            registry = registry_entry(item)["key"]  # the core's entry model (registry or host, path kept)
        except ToolkitError as exc:
            raise _settings_error(exc.msg)
        image = item.get("test_image") or item.get("image") or None
        key = _key(registry, item.get("username"), item.get("password"), image, ca_file,
                   validate_certs, proxy, timeout, retries)
        checks.append((item, registry, image, key))

    def verify_one(item, registry, image, key):
        try:
            transport = http_transport.make_urllib_transport(
                ca_file=ca_file or None, validate_certs=validate_certs,
                timeout=timeout, proxy=proxy or None)
            outcome, attempts = verify_with_retries(
                transport, registry, item.get("username"), item.get("password"), image=image,
                retries=retries, retry_delay=retry_delay, sleep=sleep)
            _results[key] = (None, attempts, outcome)
        except ToolkitError as exc:
            _results[key] = ("%s" % exc, getattr(exc, "attempts", None), None)
        except Exception as exc:  # pragma: no cover - reported like a refused check, never lost
            _results[key] = ("%s" % exc, None, None)

    with _lock:
        todo, seen = [], set()
        for check in checks:
            if check[3] not in _results and check[3] not in seen:
                seen.add(check[3])
                todo.append(check)
        # the registries are checked at the same time (threads; greenlets under the pyinfra CLI, which
        # monkey-patches threading): the run waits for the slowest token realm, not for their sum
        if len(todo) == 1:
            verify_one(*todo[0])
        else:
            threads = [threading.Thread(target=verify_one, args=check) for check in todo]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    report = []
    for item, registry, image, key in checks:
        error, attempts, outcome = _results[key]
        if error is not None:
            raise RegistryVerificationError(
                "registry credentials for %s rejected, nothing was changed on any host: %s"
                % (registry, error))
        tested = bool(outcome and outcome.get("credentials_tested"))
        if item.get("username") and not tested:
            # the registry never asked for the credentials: say so, never call it a login
            logger.warning("registry_credentials: %s", outcome["msg"])
        report.append({"registry": registry, "image": image, "ok": True, "attempts": attempts})
    return report
