# -*- coding: utf-8 -*-
# okd-registry-toolkit core: the one registry-entry model (registry keys, path scopes, lookup order).
# Stdlib only, no I/O, valid Python 2.7 and 3.6+ (runs on RHEL/CentOS 7 nodes).
"""Registry keys and entries, the way containers/image and the kubelet read them.

A **key** of ``auths`` in a docker config.json is a registry ``HOST[:PORT]`` or a registry with a
**path scope** ``HOST[:PORT]/NAMESPACE[/...]`` (Quay gives each organisation its own robot account:
``quay.io/orgA`` and ``quay.io/orgB`` hold different credentials).  Following containers/image
``pkg/docker/config/config.go``:

- ``authKeysForKey``: a lookup for ``quay.io/repo/ns/image`` tries ``quay.io/repo/ns/image``,
  ``quay.io/repo/ns``, ``quay.io/repo``, ``quay.io``, in that order (longest prefix first):
  ``lookup_keys``.
- ``normalizeAuthFileKey``: a key written as a URL (``https://host/v1/``, how docker and old
  ``docker login`` wrote keys) stands for its host only; a key without a scheme keeps its path.
- ``normalizeRegistry``: ``docker.io`` and ``registry-1.docker.io`` are Docker Hub (as is
  ``index.docker.io``); docker itself keys Docker Hub as ``https://index.docker.io/v1/``, which this
  toolkit writes for a Docker Hub entry without a path; a path-scoped Docker Hub key is written
  ``docker.io/NAMESPACE`` (what ``podman login docker.io/NAMESPACE`` writes).
- ``validateKey``: a key has no ``@`` and no ``:`` after ``HOST[:PORT]/`` (no tag, no digest).

An **entry** (``okd_registries`` items, module ``registries`` items, pyinfra data) is a mapping with
the registry under ``registry`` or ``host`` (the documented spellings, resolved here once; both may
be given only when they agree), the key possibly path-scoped, plus ``username``, ``password``,
``email``, ``test_image`` and ``name``.  ``registry_entry`` turns one into a plain dict with the
canonical ``key``, its ``registry_host`` and ``path``: every front end (the Ansible module and filters, the
pyinfra deploys) uses it instead of resolving the spellings itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import sys

from .errors import ToolkitError

_PY2 = sys.version_info[0] == 2
if _PY2:  # pragma: no cover - exercised by the Python 2.7 run of the unit tests
    _text_type = type(u"")  # unicode on Python 2
    _binary_type = str
    _string_types = (str, _text_type)
else:
    _text_type = str
    _binary_type = bytes
    _string_types = (str,)

#: the key docker uses for Docker Hub in config.json (a Docker Hub entry without a path)
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
#: the host part of a path-scoped Docker Hub key (``docker.io/NAMESPACE``)
DOCKER_HUB_NAME = "docker.io"
DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_HOST_RE = re.compile(
    r"^(?:\[[0-9a-f:.]+\]|" + _LABEL + r"(?:\." + _LABEL + r")*)(?::([0-9]{1,5}))?$"
)
#: one path component of a repository name (docker/distribution reference grammar)
_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_SCHEMES = (u"https://", u"http://")

#: fields an entry may carry besides the registry (anything else is kept as is)
ENTRY_FIELDS = ("name", "username", "password", "email", "test_image")


def _text(value, what):
    if isinstance(value, _text_type):
        return value
    if isinstance(value, _binary_type):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolkitError("%s is not valid UTF-8 text" % what)
    raise ToolkitError("%s must be a string, got %s" % (what, type(value).__name__))


def _native(value):
    if _PY2 and isinstance(value, _text_type):
        try:
            return value.encode("ascii")
        except UnicodeEncodeError:
            return value
    return value


def _split(text):
    """(host_lower, path, had_scheme) of a key or name, without validation."""
    text = text.strip()
    lower = text.lower()
    for scheme in _SCHEMES:
        if lower.startswith(scheme):
            # a URL-style key stands for its host only (containers/image normalizeAuthFileKey)
            return text[len(scheme):].split(u"/", 1)[0].lower(), u"", True
    host, _sep, path = text.partition(u"/")
    return host.lower(), path.rstrip(u"/"), False


def _join(host, path):
    if host in DOCKER_HUB_HOSTS:
        return DOCKER_HUB_NAME + u"/" + path if path else DOCKER_HUB_KEY
    return host + u"/" + path if path else host


def split_key(name):
    """``HOST[:PORT][/PATH]`` (or a URL-style key) -> (canonical host key, path); validated.

    The host key is ``HOST[:PORT]`` lower-cased (Docker Hub spellings -> ``DOCKER_HUB_KEY``); the path
    is ``""`` or ``NAMESPACE[/...]`` of lower-case repository components.  Raises ToolkitError for an
    empty name, a bad host or port, a tag or digest (``:``/``@`` after the host), a bad component.
    """
    text = _text(name, "registry name")
    host, path, _scheme = _split(text)
    if not host:
        raise ToolkitError("registry name must not be empty (expected HOST[:PORT] or HOST[:PORT]/PATH)")
    match = _HOST_RE.match(host)
    if not match:
        raise ToolkitError("invalid registry name %s: expected HOST[:PORT] or HOST[:PORT]/PATH"
                           % json.dumps(text))
    port = match.group(1)
    if port is not None and not 0 < int(port) < 65536:
        raise ToolkitError("invalid registry name %s: port out of range" % json.dumps(text))
    if path:
        if u"@" in path or u":" in path:
            raise ToolkitError("invalid registry key %s: a path scope names a namespace or repository, "
                               "without a tag or digest" % json.dumps(text))
        for component in path.split(u"/"):
            if not _COMPONENT_RE.match(component):
                raise ToolkitError("invalid registry key %s: path component %s must be lower-case "
                                   "letters, digits and separators (. _ __ -)"
                                   % (json.dumps(text), json.dumps(component)))
    host_key = DOCKER_HUB_KEY if host in DOCKER_HUB_HOSTS else host
    return _native(host_key), _native(path)


def normalize_key(name):
    """The canonical config.json key of a registry name: ``HOST[:PORT][/PATH]`` (validated).

    ``https://registry.redhat.io/v1/`` -> ``registry.redhat.io``; ``Quay.io/orgA`` -> ``quay.io/orgA``;
    ``docker.io`` -> ``https://index.docker.io/v1/``; ``docker.io/myorg`` -> ``docker.io/myorg``.
    """
    host_key, path = split_key(name)
    host = DOCKER_HUB_NAME if host_key == DOCKER_HUB_KEY else host_key
    return _native(_join(host, path))


def file_key(key):
    """Lenient canonical form of a key already in a file (never raises; an odd key stays itself)."""
    try:
        text = _text(key, "key")
    except ToolkitError:
        return key
    host, path, _scheme = _split(text)
    return _native(_join(host, path))


def host_of(key):
    """The registry host key of a (canonical or not) key: ``quay.io/orgA`` -> ``quay.io``."""
    return split_key(key)[0]


def pull_host(name):
    """The registry part of an image reference for a key (what ``docker://HOST/REPO`` takes):
    ``quay.io/orgA`` -> ``quay.io``; Docker Hub -> ``docker.io``."""
    host_key = split_key(name)[0]
    return DOCKER_HUB_NAME if host_key == DOCKER_HUB_KEY else host_key


def path_of(key):
    """The path scope of a key (``""`` for a registry-wide key)."""
    return split_key(key)[1]


def lookup_keys(reference):
    """The keys to try for ``reference`` (a key, or ``HOST/REPOSITORY``), best match first, as
    containers/image ``authKeysForKey``: ``quay.io/a/b`` -> [``quay.io/a/b``, ``quay.io/a``, ``quay.io``]."""
    host_key, path = split_key(reference)
    host = DOCKER_HUB_NAME if host_key == DOCKER_HUB_KEY else host_key
    out = []
    parts = path.split("/") if path else []
    while parts:
        out.append(_native(host + "/" + "/".join(parts)))
        parts.pop()
    out.append(host_key)
    return out


def in_scope(key, repository):
    """True when ``repository`` (``NAMESPACE/NAME``) is covered by ``key``'s path scope."""
    path = path_of(key)
    return not path or repository == path or repository.startswith(path + "/")


def registry_entry(item, where="registry entry"):
    """One entry mapping -> a new dict with ``key`` (canonical, maybe path-scoped), ``registry`` (= ``key``),
    ``registry_host`` (the host key), ``path`` and the entry's other fields; the ``host``/``registry``
    spellings are resolved (``host`` is not in the result).

    Raises ToolkitError naming ``where`` (and the registry) for a missing or malformed registry or
    two different registry spellings; never shows a password.
    """
    if not isinstance(item, dict):
        raise ToolkitError("%s must be a mapping with registry (or host), username, password" % where)
    given = [(name, item.get(name)) for name in ("registry", "host")
             if item.get(name) is not None and item.get(name) != ""]
    if not given:
        raise ToolkitError("%s has no registry (or host)" % where)
    keys = []
    for name, value in given:
        if not isinstance(value, _string_types):
            raise ToolkitError("%s: %s must be a string, got %s" % (where, name, type(value).__name__))
        try:
            keys.append(normalize_key(value))
        except ToolkitError as e:
            raise ToolkitError("%s: %s" % (where, e.msg))
    if len(keys) == 2 and keys[0] != keys[1]:
        raise ToolkitError("%s gives registry %s and host %s: give one (host is another spelling of "
                           "registry)" % (where, keys[0], keys[1]))
    key = keys[0]
    host_key, path = split_key(key)
    out = dict((k, v) for k, v in item.items() if k not in ("registry", "host"))
    out.update({"key": key, "registry": key, "registry_host": host_key, "path": path})
    return out


def entry_key(item):
    """The canonical key of an entry mapping or a plain registry name."""
    if isinstance(item, dict):
        return registry_entry(item)["key"]
    return normalize_key(item)


def argument_spec():
    """The Ansible argument spec of one registry entry as modules take it (registry_credentials' and
    registry_verify's ``registries``): a fresh dict per call."""
    return dict(
        registry=dict(type="str", required=True, aliases=["host"]),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        email=dict(type="str"),
        name=dict(type="str"),
        test_image=dict(type="str"),
    )
