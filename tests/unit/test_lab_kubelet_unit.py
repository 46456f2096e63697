"""The lab kubelet's and the registry container's pure parts (no lab): access records and authorization
like image-registry auth.go, the configuration handed to distribution, the router's SNI parsing, the
process message the DC status shows, secret files' modes."""
import os
import socket
import ssl
import stat
import threading

import pytest

from lab import kubelet, okdregistry


def test_access_records_like_distribution():
    ar = okdregistry.access_records
    assert ar("GET", "/v2/", {}) == []
    assert ar("GET", "/v2/ns/is/manifests/v1", {}) == [("repository", "ns/is", "pull")]
    assert ar("HEAD", "/v2/ns/is/blobs/sha256:aa", {}) == [("repository", "ns/is", "pull")]
    assert ar("PUT", "/v2/ns/is/manifests/v1", {}) == [("repository", "ns/is", "pull"),
                                                      ("repository", "ns/is", "push")]
    assert ar("POST", "/v2/ns/is/blobs/uploads/", {"from": "other/src", "mount": "sha256:aa"})[-1] == \
        ("repository", "other/src", "pull")
    assert ar("DELETE", "/v2/ns/is/manifests/sha256:aa", {}) == [("repository", "ns/is", "*")]
    assert ar("GET", "/v2/_catalog", {}) == [("registry", "catalog", "*")]


def test_repository_needs_a_namespace():
    assert okdregistry.namespace_name("ns/is") == ("ns", "is")
    for bad in ("is", "a/b/c", "/is"):
        with pytest.raises(okdregistry.AuthError):
            okdregistry.namespace_name(bad)


def test_simple_rbac():
    rb = okdregistry.simple_rbac
    assert rb("admin", "any", "update")
    assert rb("readonly", "any", "get") and not rb("readonly", "any", "update")
    assert rb("system:serviceaccount:team:builder", "team", "update")
    assert not rb("system:serviceaccount:team:builder", "other", "update")
    assert not rb("system:serviceaccount:team:builder", "other", "get")
    assert not rb("someone", "team", "get")


class _Api(object):
    """An OkdApi stand-in: users by token, the simplified RBAC."""

    def __init__(self, users):
        self.users = users

    def user(self, token):
        return self.users.get(token)

    def allowed(self, token, user, ns, name, verb, resource="imagestreams/layers"):
        return okdregistry.simple_rbac(user, ns, verb)


def _front(users):
    front = okdregistry.Front.__new__(okdregistry.Front)
    front.api = _Api(users)
    return front


def _basic(token):
    import base64
    return {"Authorization": "Basic " + base64.b64encode(("anyone:" + token).encode()).decode()}


def test_authorize_like_auth_go():
    front = _front({"sa-tok": "system:serviceaccount:team:builder", "ro-tok": "readonly"})
    # no credentials: a token challenge
    with pytest.raises(okdregistry.AuthError) as e:
        front.authorize("GET", "/v2/", {}, {})
    assert e.value.kind == "required"
    # an unknown token: access denied (a basic challenge)
    with pytest.raises(okdregistry.AuthError) as e:
        front.authorize("GET", "/v2/", {}, _basic("nope"))
    assert e.value.kind == "denied"
    # docker login: /v2/ with a valid token
    assert front.authorize("GET", "/v2/", {}, _basic("sa-tok"))[0] == "system:serviceaccount:team:builder"
    # the bearer token the token endpoint handed out works the same
    assert front.authorize("PUT", "/v2/team/app/manifests/v1", {}, {"Authorization": "Bearer sa-tok"})
    with pytest.raises(okdregistry.AuthError):
        front.authorize("PUT", "/v2/other/app/manifests/v1", {}, _basic("sa-tok"))
    assert front.authorize("GET", "/v2/other/app/manifests/v1", {}, _basic("ro-tok"))
    with pytest.raises(okdregistry.AuthError):
        front.authorize("PATCH", "/v2/other/app/blobs/uploads/x", {}, _basic("ro-tok"))
    # a cross-repository mount from a stream the pusher cannot read is tolerated beside the push
    assert front.authorize("POST", "/v2/team/app/blobs/uploads/", {"from": "other/src", "mount": "sha256:aa"},
                           _basic("sa-tok"))


def test_distribution_gets_the_storage_settings_not_the_openshift_ones(tmp_path):
    ct = okdregistry.Container(str(tmp_path), {
        "REGISTRY_HTTP_ADDR": ":5000", "REGISTRY_HTTP_TLS_CERTIFICATE": "/etc/secrets/registry.crt",
        "REGISTRY_HTTP_TLS_KEY": "/etc/secrets/registry.key", "REGISTRY_HTTP_SECRET": "s3cr3t",
        "REGISTRY_OPENSHIFT_SERVER_ADDR": "docker-registry.default.svc:5000",
        "REGISTRY_MIDDLEWARE_REPOSITORY_OPENSHIFT_ENFORCEQUOTA": "false",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/registry", "OTHER": "x"})
    env = okdregistry.distribution_env(ct)
    assert env["REGISTRY_HTTP_SECRET"] == "s3cr3t"
    assert env["REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"] == os.path.join(str(tmp_path), "registry")
    assert not [k for k in env if k.startswith(("REGISTRY_HTTP_TLS", "REGISTRY_OPENSHIFT", "REGISTRY_MIDDLEWARE",
                                                "REGISTRY_HTTP_ADDR"))]
    assert "OTHER" not in env
    cfg = okdregistry.env_override(okdregistry.load_config(ct), ct.env)
    assert cfg["http"]["tls"]["certificate"] == "/etc/secrets/registry.crt"
    dcfg = okdregistry.distribution_config(cfg, ct, 40001)
    assert dcfg["http"]["addr"] == "127.0.0.1:40001" and "tls" not in dcfg["http"]
    assert "auth" not in dcfg and "middleware" not in dcfg and "openshift" not in dcfg
    assert dcfg["storage"]["filesystem"]["rootdirectory"] == os.path.join(str(tmp_path), "registry")


def test_configuration_path_is_read_under_the_pod_root(tmp_path):
    (tmp_path / "etc" / "registry").mkdir(parents=True)
    (tmp_path / "etc" / "registry" / "config.yml").write_text(
        "version: 0.1\nstorage:\n  s3:\n    bucket: b\n    regionendpoint: http://10.231.0.1:9000\n")
    ct = okdregistry.Container(str(tmp_path), {"REGISTRY_CONFIGURATION_PATH": "/etc/registry/config.yml"})
    cfg = okdregistry.load_config(ct)
    assert cfg["storage"]["s3"]["bucket"] == "b"
    assert okdregistry.distribution_config(cfg, ct, 1)["storage"] == cfg["storage"]


def test_last_message_takes_the_logrus_msg():
    text = 'time="x" level=info msg="starting"\ntime="y" level=fatal msg="open /etc/secrets/x.crt: no such file"\n'
    assert kubelet.last_message(text) == "open /etc/secrets/x.crt: no such file"
    assert kubelet.last_message("plain error\n") == "plain error"
    assert kubelet.last_message("") == "(no output)"


def test_secret_files_are_private(tmp_path):
    d = tmp_path / "vol"
    kubelet.write_secret_dir(d, {"registry.key": b"KEY", "registry.crt": b"CRT"})
    assert stat.S_IMODE(os.stat(str(d)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(str(d / "registry.key")).st_mode) == 0o400
    assert (d / "registry.crt").read_bytes() == b"CRT"
    kubelet.write_secret_dir(d, {"registry.crt": b"NEW"})       # a key removed from the secret goes
    assert sorted(os.listdir(str(d))) == ["registry.crt"] and (d / "registry.crt").read_bytes() == b"NEW"


def test_parse_sni_of_a_real_client_hello():
    a, b = socket.socketpair()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def client():
        try:
            ctx.wrap_socket(a, server_hostname="docker-registry-default.router.example").do_handshake()
        except (ssl.SSLError, OSError):
            pass
    t = threading.Thread(target=client, daemon=True)
    t.start()
    hello = b.recv(16384)
    b.close()
    t.join(5)
    a.close()
    assert kubelet.parse_sni(hello) == "docker-registry-default.router.example"
    assert kubelet.parse_sni(b"GET / HTTP/1.1\r\n") is None
