# -*- coding: utf-8 -*-
# okd-registry-toolkit core: Docker Registry HTTP API v2 authentication, sans I/O.
# Stdlib only, no I/O, valid Python 2.7 and 3.6+ (runs on RHEL/CentOS 7 nodes).
"""The Docker Registry v2 login / pull-access check without doing any I/O itself.

All network access goes through an injected *transport*::

    transport(method, url, headers) -> (status_int, headers_dict_lowercase_keys, body_bytes)

which raises ``ToolkitError`` on connection or TLS errors (``retryable=True`` for
the ones worth retrying).  ``http_transport.make_urllib_transport`` is the stdlib
implementation; the unit tests drive ``verify_access`` with fakes.

Flow of ``verify_access`` (the one docker/skopeo/kubelet follow):

1. ``GET /v2/`` without credentials.  200: no auth.  401: parse WWW-Authenticate.
2. Bearer: ``GET realm?service=S[&scope=repository:REPO:pull]&account=USER`` with
   Basic credentials.  401/403 there means bad credentials.  Then ``GET /v2/`` with
   the token proves the registry accepts it.
3. Basic: ``GET /v2/`` with Basic credentials.
4. With an image: ``GET /v2/REPO/manifests/REF`` (Accept: every manifest type) proves
   pull access; the digest comes from Docker-Content-Digest.

Every failure is a ToolkitError whose message names the registry and carries the
registry's own error text, e.g.
``registry.redhat.io: login failed: 401 UNAUTHORIZED: Invalid username or password``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from .errors import ToolkitError
from .dockercfg import (DOCKER_HUB_KEY, get_credentials, lookup_credentials, make_auth, normalize_registry,
                        registry_host, validate_entry_input)
from .registry_entry import in_scope, path_of
# the Python 2/3 text helpers are the docker config module's (one definition for the core)
from .dockercfg import _binary_type, _native, _text_type, _utf8

try:  # Python 3
    from urllib.parse import urlencode  # novm (Python 3 branch of a 2/3 import)
except ImportError:  # pragma: no cover - Python 2
    from urllib import urlencode  # novm (Python 2 fallback)


#: media types accepted when fetching a manifest (docker schema 2, manifest list,
#: OCI manifest and index, and docker schema 1 for old registries), as one header value
MANIFEST_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*\s*(?:,|$)")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO_RE = re.compile(r"^" + _COMPONENT + r"(?:/" + _COMPONENT + r")*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_CONTROL_RE = re.compile(u"[\x00-\x1f\x7f]+")
_MAX_TEXT = 300


def _to_text(value):
    if value is None:
        return u""
    if isinstance(value, _text_type):
        return value
    if isinstance(value, _binary_type):
        return value.decode("utf-8", "replace")
    return _text_type(value)


def _clean(text, limit=_MAX_TEXT):
    """External text made fit for one line of a message."""
    text = _CONTROL_RE.sub(u" ", _to_text(text)).strip()
    if len(text) > limit:
        text = text[:limit - 3] + u"..."
    return text


# --------------------------------------------------------------------------- challenges

def parse_challenge(header):
    """Parse WWW-Authenticate into a list of (scheme_lower, params_dict).

    Handles several challenges in one header (``Basic realm="a", Bearer realm="b"``),
    quoted strings with commas and backslash escapes, unquoted values, any spacing,
    and token68 (stored as params["token68"]).  Parameter names are lower-cased.
    A list of header values is parsed as if joined.  Never raises: an unterminated
    quoted string is taken up to the end of the header, stray characters are skipped.
    """
    if header is None:
        return []
    if isinstance(header, (list, tuple)):
        result = []
        for item in header:
            result.extend(parse_challenge(item))
        return result
    text = _to_text(header)
    n = len(text)
    i = 0
    challenges = []
    current = None
    while i < n:
        while i < n and (text[i].isspace() or text[i] == u","):
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] in _TOKEN_CHARS:
            i += 1
        word = text[start:i]
        if not word:  # stray character: skip it
            i += 1
            continue
        j = i
        while j < n and text[j].isspace():
            j += 1
        if j < n and text[j] == u"=" and current is not None:
            # auth-param: name = token / quoted-string
            i = j + 1
            while i < n and text[i].isspace():
                i += 1
            if i < n and text[i] == u'"':
                i += 1
                chars = []
                while i < n:
                    c = text[i]
                    if c == u"\\" and i + 1 < n:
                        chars.append(text[i + 1])
                        i += 2
                        continue
                    if c == u'"':
                        i += 1
                        break
                    chars.append(c)
                    i += 1
                # an unterminated quoted string runs to the end of the header: keep what was
                # parsed (a malformed header from a registry is not worth an exception)
                value = u"".join(chars)
            else:
                vstart = i
                while i < n and text[i] != u"," and not text[i].isspace():
                    i += 1
                value = text[vstart:i]
            current[1][_native(word.lower())] = _native(value)
            continue
        # a new challenge: scheme, then maybe token68
        current = (_native(word.lower()), {})
        challenges.append(current)
        i = j
        match = _TOKEN68_RE.match(text, i)
        if match and u"=" not in text[i:match.end()].rstrip(u", \t").rstrip(u"="):
            current[1]["token68"] = _native(text[i:match.end()].rstrip(u", \t"))
            i = match.end()
    return challenges


# --------------------------------------------------------------------------- names

def registry_base_url(host):
    """HOST[:PORT] (any spelling, a path scope ignored) -> "https://HOST[:PORT]" (Docker Hub ->
    registry-1.docker.io)."""
    norm = registry_host(host)
    if norm == DOCKER_HUB_KEY:
        return "https://registry-1.docker.io"
    return "https://" + norm


def scope_for(repository, actions=("pull",)):
    """Token scope for a repository: ``repository:REPO:pull``."""
    if isinstance(actions, (str, _text_type)):
        actions = [actions]
    return "repository:%s:%s" % (repository, ",".join(actions))


def _looks_like_host(component):
    return u"." in component or u":" in component or component == u"localhost"


def split_image(image, registry=None):
    """``REPO[:TAG|@DIGEST]`` -> (repository, reference); the tag defaults to "latest".

    A leading registry host (``host:5000/repo:tag``) is accepted and dropped when it
    matches ``registry`` (or when no registry is given); a different host raises
    ToolkitError, as does an invalid repository name, tag or digest.
    """
    text = _to_text(image).strip()
    if not text:
        raise ToolkitError("image must not be empty (expected REPO:TAG)")
    if u"@" in text:
        name, reference = text.split(u"@", 1)
        if not _DIGEST_RE.match(reference):
            raise ToolkitError("invalid image %s: bad digest %s" % (json.dumps(text), json.dumps(reference)))
        slash = name.rfind(u"/")
        if u":" in name[slash + 1:]:  # repo:tag@digest: the digest wins
            name = name[:slash + 1] + name[slash + 1:].split(u":", 1)[0]
    else:
        slash = text.rfind(u"/")
        last = text[slash + 1:]
        if u":" in last:
            tag = last.split(u":", 1)[1]
            name = text[:slash + 1] + last.split(u":", 1)[0]
            reference = tag
            if not _TAG_RE.match(tag):
                raise ToolkitError("invalid image %s: bad tag %s" % (json.dumps(text), json.dumps(tag)))
        else:
            name, reference = text, u"latest"
    parts = name.split(u"/")
    if len(parts) > 1 and _looks_like_host(parts[0]):
        image_host = registry_host(parts[0])
        if registry is not None and registry_host(registry) != image_host:
            raise ToolkitError("image %s names registry %s, not %s"
                               % (json.dumps(text), image_host, registry_host(registry)))
        name = u"/".join(parts[1:])
    if not _REPO_RE.match(name):
        raise ToolkitError("invalid image %s: repository name %s must be lower-case components "
                           "separated by '/'" % (json.dumps(text), json.dumps(name)))
    return _native(name), _native(reference)


def image_lookup_key(registry, image):
    """``HOST/REPOSITORY`` of ``image`` on ``registry``: what a client looks credentials up by
    (dockercfg.lookup_credentials, longest prefix first). Docker Hub: ``docker.io/library/NAME``."""
    host = registry_host(registry)
    repo = split_image(image, host)[0]
    if host == DOCKER_HUB_KEY:
        if "/" not in repo:
            repo = "library/" + repo
        return "docker.io/" + repo
    return "%s/%s" % (host, repo)


def file_credentials(config, registry, image=None):
    """(username, password) a host's parsed config gives for ``registry``, or None: with ``image``
    what a client (kubelet, skopeo) uses for that image (the longest matching ``host/path`` key,
    dockercfg.lookup_credentials), without it the entry of exactly ``registry``. Used by the modules
    registry_verify (config_path) and registry_credentials (verify), so both read a file alike."""
    if image:
        found = lookup_credentials(config, image_lookup_key(registry, image))
        return tuple(found[1:]) if found else None
    return get_credentials(config, registry)


# --------------------------------------------------------------------------- token service

def realm_problem(realm):
    """Why ``realm`` may not receive a token request, or None when it may.

    Credentials (and, for simplicity and safety, every token request) only ever go over
    https: a registry, a man in the middle on its port or a misconfiguration that names
    ``http://elsewhere/token`` must never receive the account in clear text.  A realm on
    another host than the registry is fine over https (registry.redhat.io names
    sso.redhat.com), as docker and containers/image accept it.
    """
    text = _to_text(realm).strip()
    if not text:
        return "the challenge names no realm (token service URL)"
    lower = text.lower()
    if not lower.startswith("https://"):
        if lower.startswith("http://"):
            return "it is plain http; credentials are only ever sent over https"
        return "it is not an https URL"
    rest = text[len("https://"):]
    hostport = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not hostport or "@" in hostport or _CONTROL_RE.search(text) or " " in text:
        return "it is not a valid https URL"
    return None


def token_request(params, username=None, password=None, scopes=(), registry=None):
    """Build the token request for a Bearer challenge: (url, headers).

    ``GET realm?service=S&scope=...&account=USER`` with Basic credentials, or
    anonymous (no account, no Authorization) when no username is given.  A realm
    that is not https is refused (ToolkitError naming ``registry`` and the realm)
    before anything is built: see ``realm_problem``.
    """
    realm = (params or {}).get("realm")
    if not realm:
        raise ToolkitError("%sBearer challenge has no realm (token service URL)"
                           % ("%s: " % registry if registry else ""))
    problem = realm_problem(realm)
    if problem:
        prefix = "%s: " % registry if registry else ""
        raise ToolkitError("%srefusing the token realm %s named by the registry's challenge: %s; no "
                           "request was sent to it" % (prefix, json.dumps(_clean(realm)), problem))
    query = []
    if params.get("service"):
        query.append(("service", _utf8(_to_text(params["service"]))))
    for scope in scopes or ():
        query.append(("scope", _utf8(_to_text(scope))))
    headers = {}
    if username:
        query.append(("account", _utf8(_to_text(username))))
        headers["Authorization"] = "Basic " + make_auth(username, password or u"")
    url = realm
    if query:
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
    return _native(url), headers


def parse_token_response(status, body):
    """Token from the token service's response ("token", else "access_token").

    Non-200 or a body without a token raises ToolkitError carrying the service's message.
    """
    if status != 200:
        raise ToolkitError(explain_error(status, body, "token request failed"),
                           retryable=_retryable(status), status=status)
    try:
        data = json.loads(_to_text(body))
    except ValueError:
        raise ToolkitError("token request failed: the token service answered 200 with a body that is not JSON",
                           status=status)
    token = None
    if isinstance(data, dict):
        token = data.get("token") or data.get("access_token")
    if not token or not isinstance(token, (str, _text_type)):
        raise ToolkitError("token request failed: the token service's answer has no \"token\" or "
                           "\"access_token\"", status=status)
    return _native(token)


def _reason(status):
    if not status:
        return u"no HTTP status"
    try:  # imported here: http.client (with the email package) costs a host ~9 ms that most runs never need
        from http.client import responses  # novm (Python 3 branch of a 2/3 import)
    except ImportError:  # pragma: no cover - Python 2
        from httplib import responses  # novm (Python 2 fallback)
    return u"%d %s" % (status, responses.get(status, u"HTTP error"))


def _detail_text(detail):
    if detail is None or detail == u"" or detail == [] or detail == {}:
        return u""
    if isinstance(detail, (str, _text_type)):
        return _clean(detail)
    try:
        return _clean(json.dumps(detail, sort_keys=True, separators=(",", ":")))
    except (TypeError, ValueError):
        return _clean(repr(detail))


def explain_error(status, body, what):
    """A one-line, never empty description of a registry error response.

    Understands the registry format ``{"errors": [{"code", "message", "detail"}]}``,
    OAuth/Keycloak ``{"error", "error_description"}``, Docker Hub ``{"details"}`` and
    ``{"message"}``; otherwise the status text plus the first line of a short non-HTML
    body.  Result: ``"WHAT: 401 UNAUTHORIZED: Invalid username or password"``.
    """
    text = _to_text(body)
    data = None
    if text.strip():
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    coded = []  # "CODE: message (detail)" pieces from a registry errors list
    plain = []  # messages without a code
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list):
            for item in errors:
                if not isinstance(item, dict):
                    if item:
                        plain.append(_clean(item))
                    continue
                code = _clean(item.get("code") or u"")
                message = _clean(item.get("message") or u"")
                detail = _detail_text(item.get("detail"))
                piece = u": ".join(p for p in (code, message) if p)
                if detail and detail != message:
                    piece = (piece + u" (%s)" % detail) if piece else detail
                if piece:
                    (coded if code else plain).append(piece)
        if not coded and not plain:
            error = data.get("error")
            description = data.get("error_description") or data.get("message") or data.get("details")
            if isinstance(error, dict):
                description = description or error.get("message")
                error = error.get("code") or error.get("type")
            error_text = _detail_text(error)
            description = _detail_text(description)
            if error_text and description:
                coded.append(u"%s: %s" % (error_text, description))
            elif error_text or description:
                plain.append(error_text or description)
    elif text.strip() and not text.lstrip().startswith(u"<"):
        first = text.strip().splitlines()[0]
        plain.append(_clean(first, 200))
    if coded:
        status_text = u"%d %s" % (status, u"; ".join(coded + plain)) if status else u"; ".join(coded + plain)
    elif plain:
        status_text = u"%s: %s" % (_reason(status), u"; ".join(plain))
    else:
        status_text = _reason(status)
    if what:
        return _native(u"%s: %s" % (_to_text(what), status_text))
    return _native(status_text)


def _retryable(status):
    return status == 429 or (status is not None and status >= 500)


# --------------------------------------------------------------------------- verification

def _call(transport, method, url, headers, host):
    try:
        status, resp_headers, body = transport(method, url, headers)
    except ToolkitError as e:
        msg = e.msg
        if host not in _to_text(msg):
            msg = "%s: %s" % (host, msg)
        raise ToolkitError(msg, retryable=e.retryable, status=e.status)
    lowered = {}
    for key, value in (resp_headers or {}).items():
        lowered[_to_text(key).lower()] = value
    return status, lowered, body or b""


def _fail(host, what, status, body, hint=None):
    msg = explain_error(status, body, "%s: %s" % (host, what))
    if hint:
        msg = "%s (%s)" % (msg, hint)
    raise ToolkitError(msg, retryable=_retryable(status), status=status)


def _header(headers, name):
    value = headers.get(name)
    if isinstance(value, (list, tuple)):
        value = ", ".join(_to_text(v) for v in value)
    return value


def verify_access(transport, registry, username=None, password=None, image=None):
    """Prove that ``registry`` accepts the credentials (and, with ``image``, pull access).

    Returns {"registry", "url", "auth_scheme" ("bearer"|"basic"|"none"), "realm",
    "service", "logged_in", "credentials_tested", "image", "digest", "media_type", "msg"}.

    The token flow (or Basic auth) is done whenever a request is challenged, at any
    step: a registry whose ``/v2/`` answers anonymously but whose image needs a token
    still gets these credentials tested against the token service and the image.
    When credentials are given but no step ever asked for them, ``credentials_tested``
    is False and ``msg`` says ``credentials not tested: anonymous access`` (never a
    successful login).  Credentials only go over https (``realm_problem``).

    Raises ToolkitError with a message naming the registry and carrying the
    registry's own error text; ``retryable`` is set for 5xx/429 and connection errors.
    """
    key = normalize_registry(registry)  # maybe path-scoped: quay.io/orgA
    host = registry_host(key)
    path = path_of(key)
    if username or password:
        validate_entry_input(key, username, password)
    base = registry_base_url(host)
    repo = reference = image_ref = None
    if image:
        repo, reference = split_image(image, host)
        if host == DOCKER_HUB_KEY and "/" not in repo:
            repo = "library/" + repo
        image_ref = ("%s@%s" if ":" in reference else "%s:%s") % (repo, reference)
        if not in_scope(key, repo):
            raise ToolkitError("%s: image %s is not under the entry's path scope %s: the credentials of a "
                               "path-scoped entry are tested with an image under that path" % (key, image_ref, path))
    elif path:
        raise ToolkitError("%s: a path-scoped entry is verified by pulling an image under %s: give a test "
                           "image" % (key, path))
    result = {
        "registry": key, "url": base, "auth_scheme": "none", "realm": None, "service": None,
        "logged_in": False, "credentials_tested": False, "image": image_ref, "digest": None,
        "media_type": None,
    }
    session = _Session(transport, key, base, username, password, repo, result)

    status, headers, body = _call(transport, "GET", base + "/v2/", {}, key)
    if status == 401:
        session.answer(headers, where="/v2/")
    elif status != 200:
        hint = "is this a Docker Registry HTTP API v2 endpoint?" if status == 404 else None
        _fail(key, "registry API check GET /v2/ failed", status, body, hint)

    if repo:
        _check_manifest(session, reference, image_ref)

    result["credentials_tested"] = bool(username) and result["logged_in"]
    if username and not result["logged_in"]:
        summary = "%s: credentials not tested: anonymous access (the registry never asked for credentials)" % key
    elif result["auth_scheme"] == "none":
        summary = "%s: no authentication required" % key
    elif result["logged_in"]:
        summary = "%s: login as %s succeeded (%s)" % (key, username, result["auth_scheme"])
    else:
        summary = "%s: anonymous access (%s)" % (key, result["auth_scheme"])
    if image_ref:
        summary += "; pull access to %s confirmed (%s)" % (image_ref, result["digest"])
    result["msg"] = summary
    return result


def verify_with_retries(transport, registry, username=None, password=None, image=None, retries=2,
                        retry_delay=2, sleep=None):
    """verify_access, retried ``retries`` times on transient errors only (ToolkitError.retryable:
    connection errors, timeouts, HTTP 5xx and 429; a refused login never), waiting ``retry_delay``
    seconds, doubling up to 60, through ``sleep`` (the caller's time.sleep: this module does no I/O).

    Returns (result, attempts). The final ToolkitError carries ``attempts`` and its message says
    ``(after N attempts)`` when it was retried. Used by the module registry_verify and the pyinfra
    deploy, so both retry alike.
    """
    attempts = 0
    delay = max(retry_delay, 0)
    while True:
        attempts += 1
        try:
            return verify_access(transport, registry, username, password, image), attempts
        except ToolkitError as e:
            if not getattr(e, "retryable", False) or attempts > retries:
                if attempts > 1:
                    e.msg = "%s (after %d attempts)" % (e.msg, attempts)
                e.attempts = attempts
                raise
            if sleep is not None:
                sleep(delay)
            delay = min(delay * 2, 60) if delay else 0


#: a token scope as the distribution token spec defines it: type[(class)]:name:action[,action]
_SCOPE_RE = re.compile(r"^[a-z0-9]+(?:\([a-z0-9]+\))?:[a-z0-9]+(?:[._/:-]+[a-z0-9]+)*:[a-z*]+(?:,[a-z*]+)*$")


def well_formed_scope(scope):
    """True for one well-formed token scope such as ``repository:a/b:pull``."""
    return isinstance(scope, (str, _text_type)) and bool(_SCOPE_RE.match(_to_text(scope)))


class _Session(object):
    """The state of one verification: the Authorization to send and what was proven."""

    def __init__(self, transport, host, base, username, password, repo, result):
        self.transport = transport
        self.host = host
        self.base = base
        self.username = username
        self.password = password
        self.repo = repo
        self.result = result
        self.auth_header = None
        self.scheme = None
        self.scopes = []

    def _bearer_challenge(self, challenges):
        schemes = dict((scheme, params) for scheme, params in reversed(challenges))
        return schemes.get("bearer"), schemes.get("basic")

    def answer(self, headers, where):
        """Answer the 401 challenge of the first request that got one (``where``: "/v2/" or
        "manifest"); sets ``auth_header``.  On /v2/ the answer is proven by GET /v2/ again."""
        challenges = parse_challenge(_header(headers, "www-authenticate"))
        bearer, basic = self._bearer_challenge(challenges)
        result = self.result
        if bearer is not None:
            result["auth_scheme"] = "bearer"
            result["realm"] = bearer.get("realm")
            result["service"] = bearer.get("service")
            scope = bearer.get("scope")
            if where != "/v2/" and well_formed_scope(scope):
                scopes = [scope]
            else:
                scopes = [scope_for(self.repo)] if self.repo else []
            token = _get_token(self.transport, self.host, bearer, self.username, self.password, scopes)
            self.scheme = "bearer"
            self.scopes = scopes
            self.auth_header = "Bearer " + token
            if self.username:
                if where == "/v2/":
                    status, _h, body = _call(self.transport, "GET", self.base + "/v2/",
                                             {"Authorization": self.auth_header}, self.host)
                    if status != 200:
                        _fail(self.host, "login failed: the registry rejected the token from %s"
                              % _clean(bearer.get("realm")), status, body)
                # the token service accepted these credentials (it answers 401 to bad ones)
                result["logged_in"] = True
            return
        if basic is not None:
            result["auth_scheme"] = "basic"
            result["realm"] = basic.get("realm")
            if not self.username:
                raise ToolkitError("%s: the registry requires a login (Basic auth) but no credentials were given"
                                   % self.host, status=401)
            self.scheme = "basic"
            self.auth_header = "Basic " + make_auth(self.username, self.password)
            if where == "/v2/":
                status, _h, body = _call(self.transport, "GET", self.base + "/v2/",
                                         {"Authorization": self.auth_header}, self.host)
                if status != 200:
                    _fail(self.host, "login failed", status, body)
                result["logged_in"] = True
            return
        offered = ", ".join(challenge[0] for challenge in challenges) or "none"
        raise ToolkitError("%s: %s answered 401 with no usable WWW-Authenticate challenge "
                           "(offered: %s)" % (self.host, "GET /v2/" if where == "/v2/" else "the manifest",
                                              offered), status=401)

    def retry_scope(self, headers):
        """After a 401 to a request that carried a token: a new token for the scope the registry
        names, only for ``error="insufficient_scope"`` with a well-formed scope not asked for yet
        (and only over https, like the first realm).  Returns True when a new token was taken."""
        if self.scheme != "bearer":
            return False
        bearer = self._bearer_challenge(parse_challenge(_header(headers, "www-authenticate")))[0]
        if not bearer or _to_text(bearer.get("error")).lower() != u"insufficient_scope":
            return False
        scope = bearer.get("scope")
        if not well_formed_scope(scope) or scope in self.scopes:
            return False
        token = _get_token(self.transport, self.host, bearer, self.username, self.password, [scope])
        self.scopes = self.scopes + [scope]
        self.auth_header = "Bearer " + token
        return True


def _get_token(transport, host, challenge, username, password, scopes):
    url, headers = token_request(challenge, username, password, scopes, registry=host)
    status, _headers, body = _call(transport, "GET", url, headers, host)
    if status in (401, 403):
        if username:
            _fail(host, "login failed", status, body)
        _fail(host, "anonymous token request refused", status, body, "credentials are required")
    if status != 200:
        _fail(host, "token request to %s failed" % _clean(challenge.get("realm")), status, body)
    try:
        return parse_token_response(status, body)
    except ToolkitError as e:
        raise ToolkitError("%s: %s" % (host, e.msg), retryable=e.retryable, status=e.status)


def _check_manifest(session, reference, image_ref):
    host, repo, result, username = session.host, session.repo, session.result, session.username
    url = "%s/v2/%s/manifests/%s" % (session.base, repo, reference)

    def fetch():
        headers = {"Accept": MANIFEST_ACCEPT}
        if session.auth_header:
            headers["Authorization"] = session.auth_header
        return _call(session.transport, "GET", url, headers, host)

    status, resp_headers, body = fetch()
    if status == 401:
        if session.auth_header is None:
            # /v2/ was anonymous but the image is not: do the token flow (or Basic) now
            session.answer(resp_headers, where="manifest")
            status, resp_headers, body = fetch()
        elif session.retry_scope(resp_headers):
            status, resp_headers, body = fetch()
    if status == 200 and session.auth_header and username and session.scheme == "basic":
        result["logged_in"] = True  # Basic credentials first asked for by the manifest: proven now
    if status in (401, 403):
        if not username:
            hint = "no credentials were given"
        elif result.get("logged_in") and session.scheme == "bearer":
            hint = "the login as %s succeeded but the token grants no pull access to %s" % (username, repo)
        elif session.scheme == "basic" and not result.get("logged_in"):
            hint = "the registry refused the credentials of %s" % username
        else:
            hint = "the login as %s succeeded but has no pull access to %s" % (username, repo)
        _fail(host, "pull access to %s denied" % image_ref, status, body, hint)
    if status == 404:
        _fail(host, "image %s not found" % image_ref, status, body)
    if status != 200:
        _fail(host, "fetching the manifest of %s failed" % image_ref, status, body)
    digest = _header(resp_headers, "docker-content-digest")
    if not digest:
        data = body if isinstance(body, bytes) else _utf8(_to_text(body))
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
    media_type = _header(resp_headers, "content-type")
    if media_type:
        media_type = _to_text(media_type).split(";", 1)[0].strip()
    result["digest"] = _native(_clean(digest))
    result["media_type"] = _native(_clean(media_type)) if media_type else None
