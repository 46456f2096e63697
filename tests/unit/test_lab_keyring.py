"""The lab API stand-in's credential lookup for imports, against the rules of origin release-3.11
pkg/image/importer/credentials.go basicCredentialsFromKeyring and the vendored kubernetes 1.11
pkg/credentialprovider/keyring.go (BasicDockerKeyring.Add/Lookup, urlsMatch) - issue 13 item 6.
No lab needed: the keyring and the v2 client's token request are exercised in-process."""
import base64
import json

import pytest

from lab.api import images, v2client


def _auth(user, pw):
    return {"auth": base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()}


def _secret(name, auths, legacy=False):
    if legacy:
        return {"metadata": {"name": name}, "type": "kubernetes.io/dockercfg",
                "data": {".dockercfg": base64.b64encode(json.dumps(auths).encode()).decode()}}
    return {"metadata": {"name": name}, "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps({"auths": auths}).encode()).decode()}}


def _basic(secrets, url):
    return images.SecretKeyring(secrets).basic(url)


@pytest.mark.parametrize("loc,key", [
    ("quay.io", "quay.io"),
    ("https://quay.io/v1/", "quay.io"),
    ("https://quay.io/v2/", "quay.io"),
    ("http://reg.example:5000", "reg.example:5000"),
    ("reg.example:5000/team", "reg.example:5000/team"),
    ("https://reg.example/v2/team", "reg.example/team"),
    ("reg.example/", "reg.example"),
])
def test_keyring_keys_drop_scheme_version_prefix_and_bare_slash(loc, key):
    assert images.keyring_key(loc) == key


def test_realm_url_is_what_is_looked_up_not_the_registry_host():
    s = [_secret("pull", {"quay.lab.test:5445": _auth("robot", "pw")})]
    # realm on the registry's own host and port: the registry's entry matches (path /v2/auth -> /auth)
    assert _basic(s, "https://quay.lab.test:5445/v2/auth") == ("robot", "pw")
    assert _basic(s, "https://registry.redhat.lab.test:5443/auth/realms/rhcc/protocol/redhat-docker-v2/auth") \
        == ("", "")
    # realm on another host: no credentials, although the secret holds the registry's entry
    assert _basic(s, "https://auth.quay.lab.test:5446/v2/auth") == ("", "")
    s.append(_secret("realm", {"auth.quay.lab.test:5446": _auth("robot", "pw2")}))
    assert _basic(s, "https://auth.quay.lab.test:5446/v2/auth") == ("robot", "pw2")


def test_ports_must_match_exactly_and_canonical_443_is_retried_without_it():
    s = [_secret("a", {"reg.example:5000": _auth("u", "p")})]
    assert _basic(s, "https://reg.example:5000/token") == ("u", "p")
    assert _basic(s, "https://reg.example/token") == ("", "")          # no port is not port 5000
    assert _basic(s, "https://reg.example:5001/token") == ("", "")
    s = [_secret("a", {"reg.example": _auth("u", "p")})]
    assert _basic(s, "https://reg.example:443/token") == ("u", "p")     # :443 retried without the port
    assert _basic(s, "https://reg.example:8443/token") == ("", "")
    s = [_secret("a", {"reg.example:443": _auth("u", "p")})]
    assert _basic(s, "https://reg.example/token") == ("", "")           # but not the other way round


def test_http_realms_need_an_explicit_port():
    s = [_secret("a", {"reg.example:80": _auth("u", "p")})]
    assert _basic(s, "http://reg.example/token") == ("u", "p")          # http without port -> :80
    s = [_secret("a", {"reg.example": _auth("u", "p")})]
    assert _basic(s, "http://reg.example/token") == ("", "")
    # the retry without the canonical :80 puts :80 back (http always looks up with a port): still nothing
    assert _basic(s, "http://reg.example:80/token") == ("", "")


def test_paths_are_prefixes_and_longer_keys_sort_first():
    s = [_secret("a", {"reg.example/team": _auth("team", "1"), "reg.example": _auth("host", "2")})]
    assert _basic(s, "https://reg.example/team/token") == ("team", "1")
    assert _basic(s, "https://reg.example/teamwork") == ("team", "1")   # a plain string prefix
    assert _basic(s, "https://reg.example/other") == ("host", "2")
    # a path-scoped key alone never answers a realm outside its path
    s = [_secret("a", {"reg.example/team": _auth("team", "1")})]
    assert _basic(s, "https://reg.example/auth/realms/x") == ("", "")


def test_first_matching_secret_in_name_order_wins_and_globs_match_host_parts():
    stale, good = _secret("a-stale", {"quay.lab.test:5445": _auth("robot", "old")}), \
        _secret("b-good", {"quay.lab.test:5445": _auth("robot", "new")})
    assert _basic([stale, good], "https://quay.lab.test:5445/v2/auth") == ("robot", "old")
    s = [_secret("a", {"*.lab.test:5446": _auth("g", "1")})]
    assert _basic(s, "https://auth.lab.test:5446/v2/auth") == ("g", "1")
    assert _basic(s, "https://auth.quay.lab.test:5446/v2/auth") == ("", "")   # parts count differs


def test_docker_io_legacy_cases_and_legacy_dockercfg_secrets():
    s = [_secret("hub", {"https://index.docker.io/v1/": _auth("me", "pw")}, legacy=True)]
    assert _basic(s, "https://auth.docker.io/token") == ("me", "pw")
    s = [_secret("hub", {"docker.io": {"username": "me", "password": "pw"}})]
    assert _basic(s, "https://index.docker.io") == ("me", "pw")


def test_auth_field_wins_and_empty_entries_match_but_send_nothing():
    s = [_secret("a", {"reg.example": dict(_auth("fromauth", "1"), username="x", password="y")})]
    assert _basic(s, "https://reg.example/t") == ("fromauth", "1")
    s = [_secret("a", {"reg.example": {}}), _secret("b", {"reg.example": _auth("u", "p")})]
    assert _basic(s, "https://reg.example/t") == ("", "")               # configs[0] is the empty one


class _Recorder(v2client.Client):
    """A v2 client whose transport records requests: 401 Bearer from the registry, then a token."""

    def __init__(self, realm, **kw):
        v2client.Client.__init__(self, "reg.lab.test:5000", **kw)
        self.realm, self.sent = realm, []

    def _do(self, method, url, headers):
        self.sent.append((url, dict(headers)))
        if url.startswith(self.realm):
            return 200, None, b'{"token": "t"}'

        class R(object):
            def getheader(_, name, default=None):
                return 'Bearer realm="%s",service="s"' % self.realm if name == "WWW-Authenticate" else default
        return 401, R(), b"{}"


def test_token_request_carries_credentials_only_for_a_matching_realm():
    ring = images.SecretKeyring([_secret("a", {"reg.lab.test:5000": _auth("u", "p")})])
    same = _Recorder("https://reg.lab.test:5000/auth", credentials=ring)
    same.request("GET", "/v2/", scope="repository:r:pull")
    realm_req = [h for u, h in same.sent if u.startswith(same.realm)]
    assert realm_req and realm_req[0]["Authorization"].startswith("Basic ")
    other = _Recorder("https://auth.lab.test:5001/auth", credentials=ring)
    other.request("GET", "/v2/", scope="repository:r:pull")
    realm_req = [(u, h) for u, h in other.sent if u.startswith(other.realm)]
    assert realm_req and "Authorization" not in realm_req[0][1] and "account=" not in realm_req[0][0]
