# Unit tests of plugins/module_utils/registry_push.py against a real local registry (CNCF distribution,
# tests/unit/local_registry.py) when available, and of the image it generates.
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from plugins.module_utils import registry_push as rp  # noqa: E402
from plugins.module_utils.errors import ToolkitError  # noqa: E402


def test_tiny_image_is_deterministic_and_consistent():
    a, b = rp.tiny_image("okd-smoke x"), rp.tiny_image("okd-smoke x")
    assert a == b
    assert rp.tiny_image("other")["digest"] != a["digest"]
    m = json.loads(a["manifest"].decode())
    assert m["mediaType"] == rp.MANIFEST_V2
    assert m["config"]["digest"] == rp.sha256_digest(a["config"]) == a["config_digest"]
    assert m["layers"][0]["digest"] == rp.sha256_digest(a["layer"]) == a["layer_digest"]
    assert a["digest"] == rp.sha256_digest(a["manifest"])


class FakeRegistry(object):
    """A registry answering Basic any:TOKEN, storing blobs and manifests (the v2 calls push/pull make)."""

    def __init__(self, token):
        self.token, self.blobs, self.manifests, self.calls = token, {}, {}, []

    def __call__(self, method, url, headers, body=None):
        import base64
        self.calls.append((method, url))
        auth = headers.get("Authorization", "")
        if not auth.startswith("Basic ") or base64.b64decode(auth[6:]).decode().split(":", 1)[1] != self.token:
            return 401, {"WWW-Authenticate": 'Basic realm=openshift,error="access denied"'}, json.dumps(
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": "access denied"}]}).encode()
        path = url.split("://", 1)[1].split("/", 1)[1]
        path, _, query = path.partition("?")
        if path == "v2/":
            return 200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}"
        if "/blobs/uploads/" in path and method == "POST":
            return 202, {"Location": "https://reg.example/v2/ns/smoke/blobs/uploads/u1?_state=x"}, b""
        if "/blobs/uploads/" in path and method == "PUT":
            digest = dict(p.split("=", 1) for p in query.split("&"))["digest"]
            assert rp.sha256_digest(body) == digest
            self.blobs[digest] = body
            return 201, {}, b""
        if "/blobs/" in path:
            d = path.rsplit("/", 1)[1]
            if d not in self.blobs:
                return 404, {}, b""
            return 200, {}, (self.blobs[d] if method == "GET" else b"")
        if "/manifests/" in path and method == "PUT":
            self.manifests[path.rsplit("/", 1)[1]] = body
            self.manifests[rp.sha256_digest(body)] = body
            return 201, {"Docker-Content-Digest": rp.sha256_digest(body)}, b""
        if "/manifests/" in path:
            return 200, {}, self.manifests[path.rsplit("/", 1)[1]]
        return 404, {}, b""


def test_push_then_pull_with_the_token_as_basic_password():
    reg = FakeRegistry("TOKEN-123")
    c = rp.Client(reg, "reg.example", "anyone", "TOKEN-123")
    assert c.login() == "registry/2.0"
    img = rp.tiny_image("hello")
    assert c.push_image("ns/smoke", "latest", img) == img["digest"]
    # blobs already there are not uploaded again
    uploads = len([x for x in reg.calls if x[0] == "PUT"])
    c.push_image("ns/smoke", "latest", img)
    assert len([x for x in reg.calls if x[0] == "PUT"]) == uploads + 1      # the manifest only
    got = c.pull_image("ns/smoke", img["digest"])
    assert got["digest"] == img["digest"] and got["layers"] == 1


def test_refusal_carries_the_registry_message_never_the_token():
    reg = FakeRegistry("RIGHT")
    c = rp.Client(reg, "reg.example", "anyone", "WRONG-TOKEN")
    with pytest.raises(ToolkitError) as e:
        c.login()
    assert "reg.example" in e.value.msg and "access denied" in e.value.msg and "WRONG-TOKEN" not in e.value.msg
