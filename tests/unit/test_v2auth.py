# -*- coding: utf-8 -*-
# Unit tests of plugins/module_utils/v2auth.py, driving verify_access with fake transports.
# Python 2.7 and 3.6+ compatible on purpose (test_py_compat.py runs them on old Pythons).
from __future__ import absolute_import, division, print_function

import base64
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _compat import ToolkitError, raises, run_all  # noqa: E402

from plugins.module_utils import v2auth as v  # noqa: E402
from plugins.module_utils.dockercfg import make_auth  # noqa: E402

try:
    from urllib.parse import parse_qs, urlsplit  # novm (Python 3 branch of a 2/3 import)
except ImportError:  # Python 2
    from urlparse import parse_qs, urlsplit  # novm (Python 2 fallback)

HOST = "registry.redhat.lab.test:5443"
REALM = "https://auth.lab.test:5001/auth/realms/rhcc/protocol/redhat-docker-v2/auth"
SERVICE = "docker-registry"
USER = "12345678|okd-puller"
PASSWORD = "s3cr3t:with:colons and spaces"
IMAGE = "openshift3/ose-pod:v3.11"
DIGEST = "sha256:" + "ab" * 32
MANIFEST = b'{"schemaVersion": 2}'


def err_body(code, message, detail=None):
    item = {"code": code, "message": message}
    if detail is not None:
        item["detail"] = detail
    return json.dumps({"errors": [item]}).encode("utf-8")


class FakeRegistry(object):
    """A Docker Registry v2 + token service over the injected transport interface."""

    def __init__(self, scheme="bearer", users=None, repos=None, token_key="token", anonymous_pull=False,
                 ping_status=None, token_status=None, manifest_status=None):
        self.scheme = scheme
        self.users = users if users is not None else {USER: PASSWORD}
        self.repos = repos if repos is not None else {"openshift3/ose-pod": {"v3.11": MANIFEST}}
        self.token_key = token_key
        self.anonymous_pull = anonymous_pull
        self.ping_status = ping_status
        self.token_status = token_status
        self.manifest_status = manifest_status
        self.calls = []
        self.tokens = {}

    def _basic_user(self, headers):
        value = headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode("utf-8").partition(":")
        return user if self.users.get(user) == password else False

    def _bearer_access(self, headers):
        value = headers.get("Authorization", "")
        if value.startswith("Bearer "):
            return self.tokens.get(value[7:])
        return None

    def challenge(self, scope=None):
        if self.scheme == "basic":
            return 'Basic realm="Registry Realm"'
        extra = ',scope="%s",error="insufficient_scope"' % scope if scope else ""
        return 'Bearer realm="%s",service="%s"%s' % (REALM, SERVICE, extra)

    def __call__(self, method, url, headers):
        self.calls.append((method, url, dict(headers)))
        parts = urlsplit(url)
        if url.startswith(REALM):
            return self.token(parts, headers)
        assert parts.netloc == HOST, url
        if self.ping_status and parts.path == "/v2/":
            return self.ping_status, {}, b"upstream broke"
        if parts.path == "/v2/":
            if self.scheme == "none":
                return 200, {}, b"{}"
            if self.scheme == "basic" and self._basic_user(headers):
                return 200, {}, b"{}"
            if self.scheme == "bearer" and self._bearer_access(headers) is not None:
                return 200, {}, b"{}"
            return 401, {"www-authenticate": self.challenge()}, err_body("UNAUTHORIZED", "authentication required")
        if "/manifests/" in parts.path:
            return self.manifest(parts.path, headers)
        return 404, {}, b"404 page not found\n"

    def token(self, parts, headers):
        if self.token_status:
            return self.token_status, {}, b"<html><body>Bad Gateway</body></html>"
        query = parse_qs(parts.query)
        assert query.get("service") == [SERVICE]
        user = self._basic_user(headers)
        if user is False:
            return 401, {}, err_body("UNAUTHORIZED", "Invalid username or password")
        if user is not None:
            assert query.get("account") == [user]
        access = []
        for scope in query.get("scope", []):
            _, repo, actions = scope.split(":")
            if user or self.anonymous_pull:
                access.append(repo)
        token = "tok%d" % (len(self.tokens) + 1)
        self.tokens[token] = access
        return 200, {"content-type": "application/json"}, json.dumps({self.token_key: token}).encode("ascii")

    def manifest(self, path, headers):
        if self.manifest_status:
            return self.manifest_status, {}, err_body("UNAVAILABLE", "storage backend down")
        repo, ref = path[len("/v2/"):].split("/manifests/")
        assert headers.get("Accept") == v.MANIFEST_ACCEPT
        if self.scheme == "bearer":
            access = self._bearer_access(headers) or []
            if repo not in access:
                return (401, {"www-authenticate": self.challenge(v.scope_for(repo))},
                        err_body("UNAUTHORIZED", "authentication required",
                                 [{"Type": "repository", "Name": repo, "Action": "pull"}]))
        elif self.scheme == "basic" and not self._basic_user(headers):
            return 401, {"www-authenticate": self.challenge()}, err_body("UNAUTHORIZED", "authentication required")
        if repo not in self.repos:
            return 404, {}, err_body("NAME_UNKNOWN", "repository name not known to registry", {"name": repo})
        if ref not in self.repos[repo]:
            return 404, {}, err_body("MANIFEST_UNKNOWN", "manifest unknown", {"Tag": ref})
        return 200, {"docker-content-digest": DIGEST,
                     "content-type": "application/vnd.docker.distribution.manifest.v2+json"}, self.repos[repo][ref]


# ---------------------------------------------------------------- parse_challenge

def test_parse_challenge_bearer():
    header = 'Bearer realm="https://registry.redhat.io/auth/realms/rhcc/protocol/redhat-docker-v2/auth",' \
             'service="docker-registry"'
    assert v.parse_challenge(header) == [("bearer", {
        "realm": "https://registry.redhat.io/auth/realms/rhcc/protocol/redhat-docker-v2/auth",
        "service": "docker-registry"})]


def test_parse_challenge_quoted_commas_escapes_and_spacing():
    header = 'Bearer realm="https://a.test/token?x=1,2", service = "svc \\"q\\" s",' \
             'scope="repository:a/b:pull,push" ,  error=insufficient_scope'
    assert v.parse_challenge(header) == [("bearer", {
        "realm": "https://a.test/token?x=1,2", "service": 'svc "q" s',
        "scope": "repository:a/b:pull,push", "error": "insufficient_scope"})]


def test_parse_challenge_multiple_and_case():
    header = 'Negotiate, BASIC Realm="Registry, Inc", Bearer realm="https://t.test/",service="s"'
    assert v.parse_challenge(header) == [
        ("negotiate", {}), ("basic", {"realm": "Registry, Inc"}),
        ("bearer", {"realm": "https://t.test/", "service": "s"})]


def test_parse_challenge_token68_lists_and_empty():
    assert v.parse_challenge("Negotiate abc+/9==, Basic realm=r") == [
        ("negotiate", {"token68": "abc+/9=="}), ("basic", {"realm": "r"})]
    assert v.parse_challenge(["Basic realm=\"a\"", "Bearer realm=\"b\""]) == [
        ("basic", {"realm": "a"}), ("bearer", {"realm": "b"})]
    assert v.parse_challenge(None) == [] and v.parse_challenge("") == []
    assert v.parse_challenge(b'Basic realm="x"') == [("basic", {"realm": "x"})]
    # an unterminated quote keeps what was parsed (issue 8 §3): never an exception
    assert v.parse_challenge('Bearer realm="https://x') == [("bearer", {"realm": "https://x"})]
    assert v.parse_challenge('Bearer realm="https://t.test/",service="s,x') == [
        ("bearer", {"realm": "https://t.test/", "service": "s,x"})]


# ---------------------------------------------------------------- names

def test_registry_base_url_and_scope():
    assert v.registry_base_url("https://registry.redhat.io/v1/") == "https://registry.redhat.io"
    assert v.registry_base_url(HOST) == "https://" + HOST
    assert v.registry_base_url("docker.io") == "https://registry-1.docker.io"
    assert v.scope_for("openshift3/ose-pod") == "repository:openshift3/ose-pod:pull"
    assert v.scope_for("a/b", ("pull", "push")) == "repository:a/b:pull,push"


def test_split_image():
    digest = "sha256:" + "0123456789abcdef" * 4
    cases = {
        "openshift3/ose-pod:v3.11": ("openshift3/ose-pod", "v3.11"),
        "openshift3/ose-pod": ("openshift3/ose-pod", "latest"),
        "repo@" + digest: ("repo", digest),
        "a/b:tag@" + digest: ("a/b", digest),
        HOST + "/openshift3/ose-pod:v3.11": ("openshift3/ose-pod", "v3.11"),
        "localhost:5000/x/y": ("x/y", "latest"),
        "ab-c/d__e/f.g:1.0_x-y": ("ab-c/d__e/f.g", "1.0_x-y"),
        "mirror.test/a/b:1": ("a/b", "1"),  # a first component with a dot is a host, as in docker
    }
    for image, expected in cases.items():
        assert v.split_image(image) == expected, image
    assert v.split_image(HOST + "/a/b:1", HOST) == ("a/b", "1")


def test_split_image_errors():
    bad = {
        "": "must not be empty",
        "Upper/Case:1": "lower-case",
        "repo:bad tag": "bad tag",
        "repo@sha256:xyz": "bad digest",
        "a//b": "lower-case",
    }
    for image, fragment in bad.items():
        with raises(ToolkitError, fragment):
            v.split_image(image)
    with raises(ToolkitError, "names registry other.test:5000, not " + HOST):
        v.split_image("other.test:5000/a/b:1", HOST)


# ---------------------------------------------------------------- token service

def test_token_request_with_credentials():
    url, headers = v.token_request({"realm": REALM, "service": SERVICE}, USER, PASSWORD,
                                   [v.scope_for("openshift3/ose-pod")])
    parts = urlsplit(url)
    assert url.startswith(REALM + "?")
    assert parse_qs(parts.query) == {"service": [SERVICE], "scope": ["repository:openshift3/ose-pod:pull"],
                                     "account": [USER]}
    assert headers == {"Authorization": "Basic " + make_auth(USER, PASSWORD)}
    assert PASSWORD not in url


def test_token_request_anonymous_and_existing_query():
    url, headers = v.token_request({"realm": "https://t.test/token?client=x"}, None, None, [])
    assert url == "https://t.test/token?client=x" and headers == {}
    url, headers = v.token_request({"realm": "https://t.test/token?client=x", "service": "s"}, None, None,
                                   ["repository:a:pull"])
    assert url == "https://t.test/token?client=x&service=s&scope=repository%3Aa%3Apull"
    with raises(ToolkitError, "no realm"):
        v.token_request({"service": "s"}, "u", "p", [])
    with raises(ToolkitError, "not an https URL", "no request was sent"):
        v.token_request({"realm": "file:///etc/passwd"}, "u", "p", [])


def test_token_request_refuses_every_non_https_realm():
    # credentials only ever travel over https: plain http is refused, anonymous or not (issue 8 §1)
    for realm in ("http://elsewhere.test/token", "HTTP://x.test/t", "ftp://x.test/", "https://", "https:///t",
                  "https://user:pw@x.test/t", "https://x.test/a b", "//x.test/t"):
        for user in ("u", None):
            with raises(ToolkitError, "reg.test:5000: refusing the token realm", "no request was sent") as info:
                v.token_request({"realm": realm}, user, "secret-pw" if user else None, [], registry="reg.test:5000")
            assert "secret-pw" not in info.value.msg
    assert v.realm_problem("http://x.test/t") == "it is plain http; credentials are only ever sent over https"
    # another host over https is fine (registry.redhat.io -> sso.redhat.com)
    url, headers = v.token_request({"realm": "https://sso.other.test/auth"}, "u", "p", [], registry="reg.test")
    assert url.startswith("https://sso.other.test/auth?") and headers["Authorization"].startswith("Basic ")


def test_parse_token_response():
    assert v.parse_token_response(200, b'{"token": "t1", "access_token": "t2"}') == "t1"
    assert v.parse_token_response(200, b'{"access_token": "t2", "expires_in": 300}') == "t2"
    assert v.parse_token_response(200, u'{"token": "t3"}') == "t3"
    with raises(ToolkitError, "401 UNAUTHORIZED: Invalid username or password") as info:
        v.parse_token_response(401, err_body("UNAUTHORIZED", "Invalid username or password"))
    assert info.value.status == 401 and not info.value.retryable
    with raises(ToolkitError, "no \"token\""):
        v.parse_token_response(200, b'{"expires_in": 300}')
    with raises(ToolkitError, "not JSON"):
        v.parse_token_response(200, b"<html>")
    with raises(ToolkitError, "503") as info:
        v.parse_token_response(503, b"")
    assert info.value.retryable


# ---------------------------------------------------------------- explain_error

def test_explain_error_formats():
    cases = [
        ((401, err_body("UNAUTHORIZED", "Invalid username or password"), "r: login failed"),
         "r: login failed: 401 UNAUTHORIZED: Invalid username or password"),
        ((401, err_body("UNAUTHORIZED", "authentication required",
                        [{"Type": "repository", "Name": "a", "Action": "pull"}]), ""),
         '401 UNAUTHORIZED: authentication required ([{"Action":"pull","Name":"a","Type":"repository"}])'),
        ((404, json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"},
                                      {"code": "NAME_UNKNOWN", "message": "no repo"}]}), "x"),
         "x: 404 MANIFEST_UNKNOWN: manifest unknown; NAME_UNKNOWN: no repo"),
        ((401, b'{"error": "invalid_grant", "error_description": "Invalid user credentials"}', "t"),
         "t: 401 invalid_grant: Invalid user credentials"),
        ((401, b'{"details": "incorrect username or password"}', "hub"),
         "hub: 401 Unauthorized: incorrect username or password"),
        ((403, b'{"message": "forbidden by policy"}', ""), "403 Forbidden: forbidden by policy"),
        ((502, b"<html><h1>Bad Gateway</h1></html>", "w"), "w: 502 Bad Gateway"),
        ((500, b"plain failure\nsecond line", "w"), "w: 500 Internal Server Error: plain failure"),
        ((418, b"", ""), "418 I'm a Teapot" if sys.version_info[:2] >= (3, 9) else "418"),
        ((599, b"", ""), "599 HTTP error"),
        ((401, b'{"errors": []}', ""), "401 Unauthorized"),
        ((401, b'{"errors": [{"code": "DENIED"}]}', ""), "401 DENIED"),
        ((None, b"", "x"), "x: no HTTP status"),
    ]
    for (status, body, what), expected in cases:
        text = v.explain_error(status, body, what)
        assert text, (status, body)
        assert text.startswith(expected), (text, expected)


def test_explain_error_cleans_and_truncates():
    body = json.dumps({"errors": [{"code": "X", "message": "a\nb\x00c" + "z" * 1000}]})
    text = v.explain_error(400, body, "")
    assert "\n" not in text and "\x00" not in text and len(text) < 400


# ---------------------------------------------------------------- verify_access

def test_verify_access_bearer_login_and_pull():
    registry = FakeRegistry()
    result = v.verify_access(registry, HOST, USER, PASSWORD, IMAGE)
    assert result["registry"] == HOST and result["auth_scheme"] == "bearer" and result["logged_in"]
    assert result["realm"] == REALM and result["service"] == SERVICE
    assert result["image"] == IMAGE and result["digest"] == DIGEST
    assert result["media_type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert "login as %s succeeded" % USER in result["msg"] and DIGEST in result["msg"]
    urls = [(m, u.split("?")[0]) for m, u, _ in registry.calls]
    assert urls == [("GET", "https://%s/v2/" % HOST), ("GET", REALM), ("GET", "https://%s/v2/" % HOST),
                    ("GET", "https://%s/v2/openshift3/ose-pod/manifests/v3.11" % HOST)]
    token_query = parse_qs(urlsplit(registry.calls[1][1]).query)
    assert token_query["scope"] == ["repository:openshift3/ose-pod:pull"]
    assert registry.calls[3][2]["Authorization"] == "Bearer tok1"
    assert "Authorization" not in registry.calls[0][2]
    for _, url, _ in registry.calls:
        assert PASSWORD not in url


def test_verify_access_bearer_login_only_uses_no_scope():
    registry = FakeRegistry(token_key="access_token")
    result = v.verify_access(registry, "https://%s/v1/" % HOST, USER, PASSWORD)
    assert result["logged_in"] and result["image"] is None and result["digest"] is None
    assert "scope" not in parse_qs(urlsplit(registry.calls[1][1]).query)
    assert len(registry.calls) == 3


def test_verify_access_bearer_bad_credentials():
    registry = FakeRegistry()
    with raises(ToolkitError) as info:
        v.verify_access(registry, HOST, USER, "wrong", IMAGE)
    assert info.value.msg == HOST + ": login failed: 401 UNAUTHORIZED: Invalid username or password"
    assert info.value.status == 401 and not info.value.retryable
    with raises(ToolkitError, HOST + ": login failed: 401 UNAUTHORIZED: Invalid username or password"):
        v.verify_access(registry, HOST, "nobody", "x")


def test_verify_access_bearer_denied_pull():
    registry = FakeRegistry(users={USER: PASSWORD, "limited": "pw"})
    registry.tokens = {}

    def token_without_access(parts, headers, original=registry.token):
        status, hdrs, body = original(parts, headers)
        for key in registry.tokens:
            registry.tokens[key] = []
        return status, hdrs, body
    registry.token = token_without_access
    with raises(ToolkitError) as info:
        v.verify_access(registry, HOST, "limited", "pw", IMAGE)
    assert info.value.msg.startswith(
        HOST + ": pull access to openshift3/ose-pod:v3.11 denied: 401 UNAUTHORIZED: authentication required")
    assert info.value.msg.endswith("(the login as limited succeeded but the token grants no pull access to "
                                   "openshift3/ose-pod)")
    assert info.value.status == 401


def test_verify_access_image_not_found():
    registry = FakeRegistry()
    with raises(ToolkitError, HOST + ": image openshift3/ose-pod:v9 not found: 404 MANIFEST_UNKNOWN: manifest unknown"):
        v.verify_access(registry, HOST, USER, PASSWORD, "openshift3/ose-pod:v9")
    with raises(ToolkitError, "image openshift3/nothing:latest not found: 404 NAME_UNKNOWN"):
        v.verify_access(registry, HOST, USER, PASSWORD, "openshift3/nothing")


def test_verify_access_follows_scope_from_manifest_challenge():
    # a registry that wants a differently spelled scope than the one requested first
    registry = FakeRegistry(repos={"openshift3/ose-pod": {"v3.11": MANIFEST}})
    original = registry.manifest

    def manifest(path, headers):
        access = registry._bearer_access(headers) or []
        if "special" not in access:
            return 401, {"www-authenticate": registry.challenge("repository:special:pull")}, b""
        return original(path, dict(headers, Authorization="Bearer " + next(
            t for t, a in registry.tokens.items() if "openshift3/ose-pod" in a)))
    registry.manifest = manifest
    result = v.verify_access(registry, HOST, USER, PASSWORD, IMAGE)
    assert result["digest"] == DIGEST
    scopes = [parse_qs(urlsplit(u).query).get("scope") for _, u, _ in registry.calls if u.startswith(REALM)]
    assert scopes == [["repository:openshift3/ose-pod:pull"], ["repository:special:pull"]]


def test_verify_access_anonymous_bearer_pull():
    registry = FakeRegistry(anonymous_pull=True)
    result = v.verify_access(registry, HOST, image=IMAGE)
    assert not result["logged_in"] and result["digest"] == DIGEST and "anonymous" in result["msg"]
    assert "Authorization" not in registry.calls[1][2]
    denied = FakeRegistry()
    with raises(ToolkitError, "pull access to openshift3/ose-pod:v3.11 denied", "no credentials were given"):
        v.verify_access(denied, HOST, image=IMAGE)


def test_verify_access_basic_flow():
    registry = FakeRegistry(scheme="basic")
    result = v.verify_access(registry, HOST, USER, PASSWORD, IMAGE)
    assert result["auth_scheme"] == "basic" and result["logged_in"] and result["digest"] == DIGEST
    assert result["realm"] == "Registry Realm"
    assert registry.calls[1][2]["Authorization"] == "Basic " + make_auth(USER, PASSWORD)
    assert registry.calls[2][2]["Authorization"] == "Basic " + make_auth(USER, PASSWORD)
    with raises(ToolkitError, HOST + ": login failed: 401 UNAUTHORIZED: authentication required"):
        v.verify_access(registry, HOST, USER, "wrong")
    with raises(ToolkitError, "requires a login (Basic auth) but no credentials were given"):
        v.verify_access(registry, HOST)


def test_verify_access_no_auth_registry():
    registry = FakeRegistry(scheme="none")
    result = v.verify_access(registry, HOST, image=IMAGE)
    assert result["auth_scheme"] == "none" and not result["logged_in"] and result["digest"] == DIGEST
    assert "no authentication required" in result["msg"]


def test_verify_access_digest_fallback_and_media_type_params():
    def transport(method, url, headers):
        if url.endswith("/v2/"):
            return 200, {}, b""
        return 200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json; charset=utf-8"}, MANIFEST
    result = v.verify_access(transport, HOST, image="a/b:1")
    assert result["digest"] == "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
    assert result["media_type"] == "application/vnd.oci.image.manifest.v1+json"


def test_verify_access_server_errors_are_retryable():
    with raises(ToolkitError, HOST + ": registry API check GET /v2/ failed: 503 Service Unavailable") as info:
        v.verify_access(FakeRegistry(ping_status=503), HOST, USER, PASSWORD)
    assert info.value.retryable
    with raises(ToolkitError, HOST + ": token request to " + REALM + " failed: 502 Bad Gateway") as info:
        v.verify_access(FakeRegistry(token_status=502), HOST, USER, PASSWORD)
    assert info.value.retryable
    with raises(ToolkitError, "fetching the manifest of openshift3/ose-pod:v3.11 failed: 503 UNAVAILABLE") as info:
        v.verify_access(FakeRegistry(manifest_status=503), HOST, USER, PASSWORD, IMAGE)
    assert info.value.retryable


def test_verify_access_not_a_registry_and_odd_challenges():
    with raises(ToolkitError, "404 Not Found: 404 page not found", "Registry HTTP API v2"):
        v.verify_access(lambda m, u, h: (404, {}, b"404 page not found\n"), HOST)
    with raises(ToolkitError, "no usable WWW-Authenticate challenge", "offered: negotiate"):
        v.verify_access(lambda m, u, h: (401, {"WWW-Authenticate": "Negotiate"}, b""), HOST, USER, PASSWORD)
    with raises(ToolkitError, "offered: none"):
        v.verify_access(lambda m, u, h: (401, {}, b""), HOST, USER, PASSWORD)


def test_verify_access_transport_errors_name_the_registry():
    def transport(method, url, headers):
        raise ToolkitError("connection refused", retryable=True)
    with raises(ToolkitError, HOST + ": connection refused") as info:
        v.verify_access(transport, HOST, USER, PASSWORD)
    assert info.value.retryable


def test_verify_access_rejects_bad_input_before_any_request():
    calls = []

    def transport(method, url, headers):
        calls.append(url)
        return 200, {}, b""
    with raises(ToolkitError, "password for u contains a control character"):
        v.verify_access(transport, HOST, "u", "pw\n")
    with raises(ToolkitError, "invalid image"):
        v.verify_access(transport, HOST, "u", "pw", "Bad:Image:x")
    with raises(ToolkitError, "invalid registry name"):
        v.verify_access(transport, "bad host", "u", "pw")
    assert calls == []


def test_verify_access_docker_hub_library_prefix():
    seen = []

    def transport(method, url, headers):
        seen.append(url)
        return 200, {"docker-content-digest": DIGEST}, MANIFEST
    result = v.verify_access(transport, "docker.io", image="busybox")
    assert seen[-1] == "https://registry-1.docker.io/v2/library/busybox/manifests/latest"
    assert result["image"] == "library/busybox:latest" and result["registry"] == "https://index.docker.io/v1/"


# ---------------------------------------------------------------- trust (issue 8 §1, §3)

HTTP_REALM = "http://10.231.0.1:8099/token"


def _recording(routes):
    """A transport answering from ``routes`` (a function (method, url, headers) -> answer), recording calls."""
    calls = []

    def transport(method, url, headers):
        calls.append((method, url, dict(headers)))
        return routes(method, url, headers)
    return transport, calls


def test_verify_access_refuses_http_realm_at_v2_and_sends_nothing_there():
    def routes(method, url, headers):
        assert not url.startswith("http://"), "a request went to the plain-http realm: " + url
        return 401, {"www-authenticate": 'Bearer realm="%s",service="s"' % HTTP_REALM}, b""
    transport, calls = _recording(routes)
    with raises(ToolkitError, HOST + ": refusing the token realm", HTTP_REALM, "plain http") as info:
        v.verify_access(transport, HOST, USER, PASSWORD, IMAGE)
    assert PASSWORD not in info.value.msg and make_auth(USER, PASSWORD) not in info.value.msg
    assert [u for _, u, _ in calls] == ["https://%s/v2/" % HOST]
    assert all("Authorization" not in h for _, _, h in calls)


def test_verify_access_refuses_http_realm_from_a_later_401():
    # /v2/ anonymous, the manifest's challenge names a plain-http realm: refused as well
    def routes(method, url, headers):
        if url.endswith("/v2/"):
            return 200, {}, b"{}"
        return 401, {"www-authenticate": 'Bearer realm="%s",scope="repository:openshift3/ose-pod:pull"'
                     % HTTP_REALM}, b""
    transport, calls = _recording(routes)
    with raises(ToolkitError, HOST + ": refusing the token realm", HTTP_REALM):
        v.verify_access(transport, HOST, USER, PASSWORD, IMAGE)
    assert not any(u.startswith("http://") for _, u, _ in calls)
    assert all("Authorization" not in h for _, _, h in calls)
    # and from an insufficient_scope retry after a good https token
    registry = FakeRegistry()
    original = registry.manifest

    def manifest(path, headers):
        return 401, {"www-authenticate": 'Bearer realm="%s",scope="repository:x:pull",error="insufficient_scope"'
                     % HTTP_REALM}, b""
    registry.manifest = manifest
    with raises(ToolkitError, "refusing the token realm", HTTP_REALM):
        v.verify_access(registry, HOST, USER, PASSWORD, IMAGE)
    assert not any(u.startswith("http://") for _, u, _ in registry.calls)
    registry.manifest = original


def test_verify_access_anonymous_v2_but_token_for_the_image_tests_the_credentials():
    # /v2/ answers 200 without credentials; the image needs a token: the credentials must be tested
    registry = FakeRegistry()
    original_call = registry.__call__

    def transport(method, url, headers):
        if url == "https://%s/v2/" % HOST:
            registry.calls.append((method, url, dict(headers)))
            return 200, {}, b"{}"
        return original_call(method, url, headers)
    result = v.verify_access(transport, HOST, USER, PASSWORD, IMAGE)
    assert result["logged_in"] and result["credentials_tested"] and result["digest"] == DIGEST
    token_calls = [h for _, u, h in registry.calls if u.startswith(REALM)]
    assert token_calls and token_calls[0]["Authorization"] == "Basic " + make_auth(USER, PASSWORD)
    with raises(ToolkitError, HOST + ": login failed: 401 UNAUTHORIZED: Invalid username or password"):
        v.verify_access(transport, HOST, USER, "wrong-password", IMAGE)


def test_verify_access_never_challenged_is_not_a_login():
    registry = FakeRegistry(scheme="none")
    result = v.verify_access(registry, HOST, USER, "wrong-password", IMAGE)
    assert not result["logged_in"] and not result["credentials_tested"]
    assert "credentials not tested: anonymous access" in result["msg"] and "succeeded" not in result["msg"]
    assert all("Authorization" not in h for _, _, h in registry.calls)
    result = v.verify_access(FakeRegistry(scheme="none"), HOST, USER, PASSWORD)
    assert "credentials not tested: anonymous access" in result["msg"]
    result = v.verify_access(FakeRegistry(), HOST, USER, PASSWORD)
    assert result["credentials_tested"] and "login as" in result["msg"]


def test_verify_access_basic_asked_only_by_the_manifest():
    registry = FakeRegistry(scheme="basic")
    original_call = registry.__call__

    def transport(method, url, headers):
        if url == "https://%s/v2/" % HOST:
            return 200, {}, b"{}"
        return original_call(method, url, headers)
    result = v.verify_access(transport, HOST, USER, PASSWORD, IMAGE)
    assert result["logged_in"] and result["credentials_tested"] and result["auth_scheme"] == "basic"
    with raises(ToolkitError, "pull access to openshift3/ose-pod:v3.11 denied", "refused the credentials"):
        v.verify_access(transport, HOST, USER, "wrong", IMAGE)


def test_verify_access_retries_only_for_insufficient_scope_with_a_well_formed_scope():
    for extra, retried in ((',scope="repository:special:pull",error="insufficient_scope"', True),
                           (',scope="repository:special:pull"', False),
                           (',scope="repository:special:pull",error="invalid_token"', False),
                           (',scope="garbage scope",error="insufficient_scope"', False),
                           (',scope="repository:openshift3/ose-pod:pull",error="insufficient_scope"', False),
                           (',scope="repository:x:pull,error="insufficient_scope', False)):
        registry = FakeRegistry()

        def manifest(path, headers, extra=extra, registry=registry):
            access = registry._bearer_access(headers) or []
            if "special" in access:
                return 200, {"docker-content-digest": DIGEST}, MANIFEST
            return 401, {"www-authenticate": 'Bearer realm="%s",service="%s"%s' % (REALM, SERVICE, extra)}, b""
        registry.manifest = manifest
        if retried:
            assert v.verify_access(registry, HOST, USER, PASSWORD, IMAGE)["digest"] == DIGEST
        else:
            with raises(ToolkitError, "pull access to openshift3/ose-pod:v3.11 denied"):
                v.verify_access(registry, HOST, USER, PASSWORD, IMAGE)
        assert len([u for _, u, _ in registry.calls if u.startswith(REALM)]) == (2 if retried else 1), extra


def test_verify_access_errors_never_echo_request_headers():
    # whatever a registry answers, no error message carries the Authorization we sent
    basic = make_auth(USER, PASSWORD)
    answers = [(401, {}, b""), (500, {}, b"boom"), (401, {"www-authenticate": "Negotiate"}, b""),
               (403, {}, b'{"errors":[{"code":"DENIED","message":"no"}]}')]
    for answer in answers:
        registry = FakeRegistry()
        original = registry.manifest
        registry.manifest = lambda path, headers, answer=answer: answer
        with raises(ToolkitError) as info:
            v.verify_access(registry, HOST, USER, PASSWORD, IMAGE)
        for token in list(registry.tokens) + [PASSWORD, basic]:
            assert token not in info.value.msg, (answer, info.value.msg)
        registry.manifest = original


if __name__ == "__main__":
    print("ran %d tests" % len(run_all(globals())))
