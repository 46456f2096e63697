# -*- coding: utf-8 -*-
# okd-registry-toolkit core: docker config.json handling.
# Stdlib only, no I/O, valid Python 2.7 and 3.6+ (runs on RHEL/CentOS 7 nodes).
"""Pure functions over docker ``config.json`` documents.

The file is the one kubelet/origin-node reads (``/var/lib/origin/.docker/config.json``)
and the one ``docker login`` writes::

    {"auths": {"registry.redhat.io": {"auth": "base64(USER:PASSWORD)", "email": "..."}},
     "credsStore": "...", "credHelpers": {...}, "HttpHeaders": {...}}

Everything here works on parsed documents (``collections.OrderedDict`` so the key
order of an existing file survives a rewrite on every Python) and on text; reading
and writing files is the adapters' job (the Ansible module, the pyinfra deploys).
``render_config`` is the single serialization used by every front end, so files
written by Ansible and by pyinfra are identical byte for byte.

See docs/core.md for the decisions (format, redaction, key normalization).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import copy
import hashlib
import hmac
import json
import os
import re
from collections import OrderedDict

from .errors import ToolkitError
# the key docker uses for Docker Hub in config.json, the registry-key model (path scopes), and the
# Python 2/3 text types (defined once, there)
from .registry_entry import (
    _binary_type, _native, _string_types, _text as _to_text, _text_type,
    DOCKER_HUB_KEY, entry_key, file_key, lookup_keys, normalize_key as _canonical_key, registry_entry, split_key)

#: entry fields that hold credentials; replaced when new credentials are set
_CREDENTIAL_FIELDS = ("auth", "username", "password", "identitytoken", "registrytoken")
#: entry fields redacted by redact_config
_SECRET_FIELDS = ("auth", "password", "identitytoken", "registrytoken")
#: HttpHeaders whose names contain one of these are redacted too
_SECRET_HEADER_WORDS = ("auth", "token", "cookie", "secret", "key", "password")

_BASE64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_CONTROL_RE = re.compile(u"[\x00-\x1f\x7f]")


def _utf8(text):
    """Text -> UTF-8 bytes; a lone surrogate (JSON allows "\\ud800") is kept as is instead of raising."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # Python 3 only: Python 2 encodes lone surrogates without complaint
        return text.encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------- parsing

def _decode_auth_string(value, where):
    """Decode a config.json ``auth`` value to (username, password); errors never echo it."""
    if not isinstance(value, _string_types):
        raise ToolkitError("%s: auth must be a string, got %s" % (where, type(value).__name__))
    value = _to_text(value, "%s: auth" % where).strip().replace("\n", "").replace("\r", "")
    if not _BASE64_RE.match(value) or len(value) % 4 != 0:
        raise ToolkitError("%s: auth is not valid base64 (expected base64 of USERNAME:PASSWORD)" % where)
    try:
        raw = base64.b64decode(value.encode("ascii"))
    except (TypeError, ValueError, binascii.Error):
        raise ToolkitError("%s: auth is not valid base64 (expected base64 of USERNAME:PASSWORD)" % where)
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolkitError("%s: auth does not decode to UTF-8 text (expected base64 of USERNAME:PASSWORD)" % where)
    if u":" not in decoded:
        raise ToolkitError("%s: auth does not decode to USERNAME:PASSWORD (no ':' separator)" % where)
    username, password = decoded.split(u":", 1)
    if not username:
        raise ToolkitError("%s: auth decodes to an empty username" % where)
    return username, password


def _entry_where(source, key):
    return "%s: auths[%s]" % (source, json.dumps(key))


def parse_config(text, source="config.json"):
    """Parse and validate config.json text; return an OrderedDict.

    Empty or whitespace-only text is an empty config ({}).  Every problem raises
    ToolkitError naming ``source`` (and for JSON errors the line and column).
    """
    text = _to_text(text, source)
    if text.startswith(u"\ufeff"):
        text = text[1:]
    if not text.strip():
        return OrderedDict()
    try:
        config = json.loads(text, object_pairs_hook=OrderedDict)
    except RuntimeError:  # RecursionError (Python 3) or "maximum recursion depth" (Python 2)
        raise ToolkitError("%s: invalid docker config: JSON nested more than %d levels deep"
                           % (source, MAX_DEPTH))
    except ValueError as e:
        lineno = getattr(e, "lineno", None)
        if lineno is not None:
            raise ToolkitError("%s: invalid JSON at line %d column %d: %s" % (source, lineno, e.colno, e.msg))
        raise ToolkitError("%s: invalid JSON: %s" % (source, _py2_json_error(text, e)))
    if _too_deep(config, MAX_DEPTH):
        raise ToolkitError("%s: invalid docker config: JSON nested more than %d levels deep"
                           % (source, MAX_DEPTH))
    validate_config(config, source)
    return config


#: a docker config is 4 levels deep (auths -> key -> entry -> value); deeper input is refused before
#: anything recurses over it (copy, render, redact)
MAX_DEPTH = 32


def _too_deep(value, limit):
    """True when ``value`` nests containers more than ``limit`` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _py2_json_error(text, error):
    """Python 2: a JSON error message with line and column.

    The C scanner of Python 2.7 reports nested errors as "No JSON object could be
    decoded" without a position; the pure-Python scanner reports where it failed.
    """
    message = str(error)
    if "line" in message:
        return message
    try:
        from json import scanner
        decoder = json.JSONDecoder(object_pairs_hook=OrderedDict)
        decoder.scan_once = scanner.py_make_scanner(decoder)
        decoder.decode(text)
    except ValueError as e:
        message = str(e)
    if "line" not in message:
        message += ": line 1 column 1 (char 0)"
    return message


def validate_config(config, source="config.json"):
    """Check the structure of a parsed config; raise ToolkitError on the first problem."""
    if not isinstance(config, dict):
        raise ToolkitError("%s: the top level must be a JSON object, got %s" % (source, _json_type(config)))
    auths = config.get("auths")
    if auths is None:
        return
    if not isinstance(auths, dict):
        raise ToolkitError("%s: \"auths\" must be a JSON object, got %s" % (source, _json_type(auths)))
    for key, entry in auths.items():
        where = _entry_where(source, key)
        if not isinstance(entry, dict):
            raise ToolkitError("%s: must be a JSON object, got %s" % (where, _json_type(entry)))
        for field in ("username", "password", "email", "identitytoken", "registrytoken"):
            value = entry.get(field)
            if value is not None and not isinstance(value, _string_types):
                raise ToolkitError("%s: %s must be a string, got %s" % (where, field, _json_type(value)))
        auth = entry.get("auth")
        if auth is not None and auth != u"":
            _decode_auth_string(auth, where)


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, _string_types):
        return "a string"
    return "a number"


# --------------------------------------------------------------------------- names

def _normalize_key(key):
    """Lenient normalization of an existing config.json key (never raises)."""
    return file_key(key)


def normalize_key(key):
    """Canonical form of an existing config.json key; lenient (never raises). A URL-style key
    (``https://host/v1/``) is its host; a key without a scheme keeps its path scope."""
    return file_key(key)


def normalize_registry(name):
    """Registry name -> the key used in config.json, path scope kept (registry_entry.normalize_key).

    ``https://registry.redhat.io/v1/`` -> ``registry.redhat.io``; ``host:5000`` stays;
    ``quay.io/orgA`` stays (a path-scoped key, as containers/image and the kubelet read it);
    Docker Hub spellings (docker.io, index.docker.io, ...) -> ``https://index.docker.io/v1/``
    as docker itself does.  Host names are lower-cased.  Invalid names raise ToolkitError.
    """
    return _canonical_key(name)


def registry_host(name):
    """The registry host key of a name or key (``quay.io/orgA`` -> ``quay.io``; Docker Hub ->
    ``https://index.docker.io/v1/``): where to connect, whatever the path scope."""
    return split_key(name)[0]


# --------------------------------------------------------------------------- credentials

def make_auth(username, password):
    """base64 of "USERNAME:PASSWORD" (UTF-8), as docker stores it in ``auth``."""
    username = _to_text(username, "username")
    password = _to_text(password, "password")
    raw = _utf8(username + u":" + password)
    return _native(base64.b64encode(raw).decode("ascii"))


def decode_auth(entry):
    """One ``auths`` entry -> (username, password).

    Uses ``auth`` when set, else separate ``username``/``password`` fields.
    Raises ToolkitError when the entry holds no usable credentials.
    """
    if not isinstance(entry, dict):
        raise ToolkitError("registry entry must be a JSON object, got %s" % _json_type(entry))
    auth = entry.get("auth")
    if auth:
        return _decode_auth_string(auth, "registry entry")
    username = entry.get("username")
    password = entry.get("password")
    if username and isinstance(username, _string_types) and isinstance(password, _string_types):
        return username, password
    raise ToolkitError("registry entry holds no username/password credentials")


def _matching_keys(auths, norm):
    return [key for key in auths if _normalize_key(key) == norm]


def _auths_for_lookup(config):
    auths = (config or {}).get("auths") or {}
    if not isinstance(auths, dict):
        raise ToolkitError("config.json: \"auths\" must be a JSON object, got %s" % _json_type(auths))
    return auths


def _credentials_of_key(auths, norm, prefer=None):
    keys = _matching_keys(auths, norm)
    prefer = list(prefer or (norm,))
    # preferred spellings first, then the file's order (sort is stable)
    keys.sort(key=lambda k: prefer.index(k) if k in prefer else len(prefer))
    for key in keys:
        try:
            return decode_auth(auths[key])
        except ToolkitError:
            continue
    return None


def get_credentials(config, registry):
    """(username, password) stored under exactly the key of ``registry`` (path scope included), or None.

    Keys are compared normalized, so ``https://host/v1/`` matches ``host``; a path-scoped key
    (``quay.io/orgA``) matches only itself (never ``quay.io`` or ``quay.io/orgB``).  An exact key is
    preferred; entries without credentials are skipped.  For what a client would use for an image,
    see ``lookup_credentials``.
    """
    return _credentials_of_key(_auths_for_lookup(config), normalize_registry(registry))


def lookup_credentials(config, reference):
    """(key, username, password) a client uses for ``reference`` (``HOST/REPOSITORY`` or a key), or None.

    The longest matching ``host/path`` key wins, as containers/image ``authKeysForKey`` does
    (``quay.io/a/b`` tries ``quay.io/a/b``, ``quay.io/a``, ``quay.io``); a registry-wide key also
    matches in its other spellings (``https://quay.io/v1/``), Docker Hub in all of its names: the key
    ``docker.io`` first (containers/image's exact key), then docker's ``https://index.docker.io/v1/``,
    then the others in file order, so which entry answers never depends on the order of keys alone.
    """
    auths = _auths_for_lookup(config)
    for candidate in lookup_keys(reference):
        # Docker Hub: containers/image tries the exact key "docker.io" before its normalized
        # fallback; of the other spellings docker's own key comes first
        prefer = ("docker.io", DOCKER_HUB_KEY) if candidate == DOCKER_HUB_KEY else None
        found = _credentials_of_key(auths, candidate, prefer)
        if found is not None:
            return (candidate,) + tuple(found)
    return None


def credential_entries(config):
    """Every ``auths`` entry with credentials -> [{registry, username, password, email?}].

    Keys are normalized (``https://host/v1/`` -> ``host``; a path scope such as ``quay.io/orgA`` is
    kept); entries without credentials (credsStore users) are skipped; of two spellings of one registry the first, or the exact key, wins. Used by
    the Ansible filter ``docker_config_auths`` and by the pyinfra master source, so both take the
    same entries from a master's file.
    """
    found = {}
    order = []
    for key, entry in ((config or {}).get("auths") or {}).items():
        try:
            username, password = decode_auth(entry)
        except ToolkitError:
            continue
        registry = normalize_key(key)
        if registry in found and key != registry:
            continue
        item = {"registry": registry, "username": username, "password": password}
        if entry.get("email"):
            item["email"] = entry["email"]
        if registry not in found:
            order.append(registry)
        found[registry] = item
    return [found[registry] for registry in order]


def validate_entry_input(registry, username, password):
    """Check one credential entry; return (normalized_registry, username, password) as text.

    Raises ToolkitError for empty values, a username containing ':' (basic auth
    would split it), and control characters (typically a trailing newline read from
    a file).  '|' in usernames (registry.redhat.io service accounts) is fine.
    The password never appears in a message.
    """
    if registry is None or (isinstance(registry, _string_types) and not registry.strip()):
        raise ToolkitError("registry must not be empty")
    norm = normalize_registry(registry)
    if username is None or username == "":
        raise ToolkitError("%s: username must not be empty" % norm)
    if not isinstance(username, _string_types):
        raise ToolkitError("%s: username must be a string, got %s" % (norm, type(username).__name__))
    username = _to_text(username, "%s: username" % norm)
    if u":" in username:
        raise ToolkitError("%s: username must not contain ':' (it separates username and password in "
                           "basic auth)" % norm)
    if _CONTROL_RE.search(username):
        raise ToolkitError("%s: username contains a control character (a trailing newline?)" % norm)
    if username != username.strip():
        raise ToolkitError("%s: username has leading or trailing whitespace" % norm)
    if password is None or password == "":
        raise ToolkitError("%s: password for %s must not be empty" % (norm, username))
    if not isinstance(password, _string_types):
        raise ToolkitError("%s: password for %s must be a string, got %s"
                           % (norm, username, type(password).__name__))
    password = _to_text(password, "%s: password" % norm)
    if _CONTROL_RE.search(password):
        raise ToolkitError("%s: password for %s contains a control character (a trailing newline from a "
                           "file lookup?)" % (norm, username))
    return norm, username, password


def _auths_of(config, create):
    auths = config.get("auths")
    if auths is None:
        if not create:
            return None
        auths = OrderedDict()
        config["auths"] = auths
    elif not isinstance(auths, dict):
        raise ToolkitError("config.json: \"auths\" must be a JSON object, got %s" % _json_type(auths))
    return auths


def _copy_config(config):
    if config is None:
        return OrderedDict()
    if not isinstance(config, dict):
        raise ToolkitError("config.json: the top level must be a JSON object, got %s" % _json_type(config))
    return copy.deepcopy(config)


def set_auths(config, entries):
    """Set credentials; return (new_config, changed_registries).

    ``entries``: list of {"registry", "username", "password", optional "email"}.
    The input is not modified.  Every other key survives (credsStore, credHelpers,
    HttpHeaders, other registries, unknown fields of an entry).  Existing keys that
    are other spellings of the same registry (``https://host/v1/`` for ``host``) are
    updated in place instead of adding a duplicate; a new key is the normalized name.
    Setting credentials drops stale ``username``/``password``/``identitytoken``/
    ``registrytoken`` fields of that entry.  An entry whose stored credentials (and
    email, if given) already match is left byte-identical and not reported.
    ``changed_registries`` lists normalized names in input order.
    """
    new = _copy_config(config)
    wanted = OrderedDict()
    for index, entry in enumerate(entries or []):
        if not isinstance(entry, dict):
            raise ToolkitError("registry entry #%d must be a dict with registry, username, password" % (index + 1))
        entry = registry_entry(entry, "registry entry #%d" % (index + 1))
        norm, username, password = validate_entry_input(
            entry["key"], entry.get("username"), entry.get("password"))
        email = entry.get("email")
        if email is not None and email != "":
            email = _to_text(email, "%s: email" % norm)
        else:
            email = None
        value = (username, password, email)
        if norm in wanted and wanted[norm] != value:
            raise ToolkitError("%s is listed more than once with different credentials" % norm)
        wanted[norm] = value

    changed = []
    if not wanted:
        return new, changed
    auths = _auths_of(new, create=True)
    for norm, (username, password, email) in wanted.items():
        keys = _matching_keys(auths, norm) or [norm]
        registry_changed = False
        for key in keys:
            old = auths.get(key)
            entry = OrderedDict(old) if isinstance(old, dict) else OrderedDict()
            try:
                current = decode_auth(entry)
            except ToolkitError:
                current = None
            keep_auth = current == (username, password) and bool(entry.get("auth"))
            if not keep_auth:
                # in place when the field exists (key order survives), else first
                if "auth" in entry:
                    entry["auth"] = make_auth(username, password)
                else:
                    entry = OrderedDict([("auth", make_auth(username, password))] + list(entry.items()))
            for field in list(entry):
                # stale credential fields in any spelling (Go's JSON decoder reads "Password" too)
                if field != "auth" and _field_is(field, _CREDENTIAL_FIELDS):
                    del entry[field]
            if email is not None:
                entry["email"] = _native(email)
            if old is None or entry != old:
                registry_changed = True
                auths[key] = entry
        if registry_changed:
            changed.append(norm)
    return new, changed


def remove_auths(config, registries):
    """Remove the entries of ``registries`` (any spelling); return (new_config, removed_registries).

    Removal is by exact key: ``quay.io/a/b`` removes that key only, ``quay.io`` removes ``quay.io``
    and its URL spellings but no path-scoped ``quay.io/...`` key. Only the named registries' keys go; the input is not modified.  ``removed_registries``
    lists the normalized names that had an entry.
    """
    new = _copy_config(config)
    if isinstance(registries, _string_types):
        registries = [registries]
    norms = []
    for registry in registries or []:
        norm = entry_key(registry)  # a name or an entry mapping (registry or host), path kept
        if norm not in norms:
            norms.append(norm)
    removed = []
    auths = _auths_of(new, create=False)
    if not auths:
        return new, removed
    for norm in norms:
        keys = _matching_keys(auths, norm)
        for key in keys:
            del auths[key]
        if keys:
            removed.append(norm)
    return new, removed


# --------------------------------------------------------------------------- output

def render_config(config):
    """The one serialization of a config for every front end.

    JSON, 4-space indent, ``separators=(",", ": ")`` (no trailing spaces on Python 2),
    key order preserved (no sorting), ASCII only (non-ASCII escaped as \\uXXXX, so the
    bytes are the same on every Python), one trailing newline.
    """
    if config is None:
        config = OrderedDict()
    text = json.dumps(config, indent=4, separators=(",", ": "), sort_keys=False, ensure_ascii=True)
    return _native(text) + "\n"


_RUN_KEY = []  # the per-process key of fingerprint(), made on first use


def run_key():
    """A random key made once per process (per module run): fingerprints made with it can be
    compared within the run (the before/after of one diff) and mean nothing outside it."""
    if not _RUN_KEY:
        _RUN_KEY.append(os.urandom(32))
    return _RUN_KEY[0]


def keyed_fingerprint(key, *parts):
    """First 8 hex digits of HMAC-SHA256(key, part NUL part ...) (parts text or bytes; bytes as they
    are, e.g. a Secret's value): shows whether a secret changed
    without allowing an offline guess of it (an unsalted hash of ``user:password`` would). ``key``
    (bytes or text) is a per-run key or one kept 0600 on the controller; None means ``run_key()``."""
    if key is None:
        key = run_key()
    if isinstance(key, _text_type):
        key = _utf8(key)
    if not isinstance(key, _binary_type) or not key:
        raise ToolkitError("a fingerprint key must be a non-empty string")
    data = b"\0".join(part if isinstance(part, _binary_type) else _utf8(_to_text(part, "fingerprint input"))
                      for part in parts)
    return hmac.new(key, data, hashlib.sha256).hexdigest()[:8]


def fingerprint(registry, secret, key=None):
    """Short keyed fingerprint of a secret: 8 hex of HMAC-SHA256(key, registry NUL secret)."""
    return keyed_fingerprint(key, registry, secret)


def _marker(registry, secret, username=None, key=None):
    if username is not None:
        return _native(u"<redacted:sha256:%s user=%s>" % (fingerprint(registry, secret, key), username))
    return _native(u"<redacted:sha256:%s>" % fingerprint(registry, secret, key))


def _field_is(name, fields):
    try:
        return _to_text(name, "field").lower() in fields
    except ToolkitError:
        return False


def redact_config(config, key=None):
    """A copy with every secret replaced by ``<redacted:sha256:XXXXXXXX user=NAME>``.

    ``auth`` shows the username (never the password); ``password``, ``identitytoken``
    and ``registrytoken`` get a bare marker.  Field names match in any case (``Auth``,
    ``IdentityToken``: Go's JSON decoder, which docker and the kubelet use, reads them
    so).  HttpHeaders whose names look secret (auth, token, cookie, key, ...) become
    ``<redacted>``.  The fingerprint is keyed (``keyed_fingerprint``; default: a key made
    for this process), so it only tells whether a secret changed between two versions
    rendered with the same key.  Malformed values are redacted too (``<redacted:invalid>``).
    """
    new = _copy_config(config)
    auths = new.get("auths")
    if isinstance(auths, dict):
        for entry_key, entry in list(auths.items()):
            if not isinstance(entry, dict):
                continue
            norm = _normalize_key(entry_key)
            for field in list(entry):
                if not _field_is(field, _SECRET_FIELDS):
                    continue
                value = entry[field]
                if value is None or value == "":
                    continue
                if not isinstance(value, _string_types):
                    entry[field] = "<redacted:invalid>"
                    continue
                username = None
                if _to_text(field, "field").lower() == u"auth":
                    try:
                        username = _decode_auth_string(value, entry_key)[0]
                    except ToolkitError:
                        entry[field] = "<redacted:invalid>"
                        continue
                entry[field] = _marker(norm, value, username, key)
    headers = new.get("HttpHeaders")
    if isinstance(headers, dict):
        for name in list(headers):
            if any(word in _to_text(name, "header").lower() for word in _SECRET_HEADER_WORDS):
                headers[name] = "<redacted>"
    return new


def summarize(config):
    """One {"registry", "key", "username"} per ``auths`` entry (username None without credentials)."""
    result = []
    auths = (config or {}).get("auths") or {}
    if not isinstance(auths, dict):
        return result
    for key, entry in auths.items():
        try:
            username = decode_auth(entry)[0]
        except ToolkitError:
            username = None
        result.append({"registry": _normalize_key(key), "key": key, "username": username})
    return result


# --------------------------------------------------------------------------- planning

def plan_update(existing_text, entries=None, remove=None, invalid_existing="fail", source="config.json",
                fingerprint_key=None):
    """Decide what a front end must write; shared by the Ansible module and pyinfra.

    ``existing_text``: the current file content (text or bytes), or None when the file
    does not exist.  ``entries``: credentials to set (see set_auths); ``remove``:
    registry names to remove.  ``invalid_existing``: "fail" (raise ToolkitError naming
    ``source``) or "replace" (start from an empty config).

    Returns a dict: ``write`` (bool: the file must be (re)written with ``content``),
    ``content`` (render_config of the new config), ``config``, ``registries_changed``,
    ``registries_removed``, ``replaced_invalid`` (the parse error or None),
    ``before``/``after`` (redacted renderings for a diff; ``before`` is "" for a
    missing file).  A file is only rewritten when its parsed content changes, so
    a file whose entries already match is left alone whatever its formatting.
    ``fingerprint_key``: the key of the fingerprints in ``before``/``after`` (see
    ``keyed_fingerprint``; default a per-process key).
    """
    if invalid_existing not in ("fail", "replace"):
        raise ToolkitError("invalid_existing must be 'fail' or 'replace'")
    exists = existing_text is not None
    replaced_invalid = None
    old = OrderedDict()
    if exists:
        try:
            old = parse_config(existing_text, source)
        except ToolkitError as e:
            if invalid_existing != "replace":
                raise ToolkitError("%s (fix or remove the file, or use invalid_existing=replace to "
                                   "overwrite it)" % e.msg)
            replaced_invalid = e.msg
            old = OrderedDict()
    new, changed = set_auths(old, entries or [])
    new, removed = remove_auths(new, remove or [])
    # a missing file with nothing to add stays missing (new == old == {})
    write = new != old or replaced_invalid is not None
    if replaced_invalid is not None:
        before = "# existing file was not a valid docker config and is replaced\n"
    elif exists:
        before = render_config(redact_config(old, fingerprint_key))
    else:
        before = ""
    return {
        "write": write,
        "content": render_config(new),
        "config": new,
        "registries_changed": changed,
        "registries_removed": removed,
        "replaced_invalid": replaced_invalid,
        "before": before,
        "after": render_config(redact_config(new, fingerprint_key)) if (write or exists) else "",
    }
