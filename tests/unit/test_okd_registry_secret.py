"""okd_registry_secret's API sequences against a fake client: linking retries 409 against a fresh read
(issue 13 item 3), a type change is a guarded delete + create that restores what was read when the create
fails, an unparsable dockerconfigjson secret is named with its parse error (issue 8 section 4)."""
import base64
import copy
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".collections"))
sys.path.insert(0, ROOT)

mod = pytest.importorskip("ansible_collections.okd.registry_toolkit.plugins.modules.okd_registry_secret")
from ansible_collections.okd.registry_toolkit.plugins.module_utils import k8s  # noqa: E402
ToolkitError = mod.ToolkitError    # the collection's error type (what the module catches)
SA_PATH = "/api/v1/namespaces/lab-apps/serviceaccounts/default"
SEC_PATH = "/api/v1/namespaces/lab-apps/secrets/quay-pull"
COLL = "/api/v1/namespaces/lab-apps/secrets"


class FakeClient(object):
    """Records requests; `script` maps (method, path) to a list of answers (an exception or a value)."""

    def __init__(self, objects, script=None):
        self.objects = objects
        self.script = script or {}
        self.calls = []

    def _answer(self, method, path, default):
        answers = self.script.get((method, path))
        if answers:
            a = answers.pop(0)
            if isinstance(a, Exception):
                raise a
            return a
        return default

    def get(self, path):
        self.calls.append(("GET", path, None))
        return self._answer("GET", path, copy.deepcopy(self.objects.get(path)))

    def patch(self, path, patch):
        self.calls.append(("PATCH", path, patch))
        return self._answer("PATCH", path, k8s.apply_patch(self.objects.get(path), patch))

    def post(self, path, body):
        self.calls.append(("POST", path, body))
        return self._answer("POST", path, body)

    def request(self, method, path, body=None, **kw):
        self.calls.append((method, path, body))
        return 200, self._answer(method, path, None)


def conflict():
    return ToolkitError("409 Conflict: the object has been modified", status=409)


def sa(rv, pulls):
    return {"kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "lab-apps", "resourceVersion": rv},
            "imagePullSecrets": [{"name": n} for n in pulls]}


def test_link_retries_409_against_a_fresh_read():
    first = sa("10", [])
    fresh = sa("12", ["default-dockercfg-abcde"])          # the controller's update in between
    c = FakeClient({SA_PATH: fresh}, {("PATCH", SA_PATH): [conflict()]})
    patch = mod.link_service_account(c, SA_PATH, first, "quay-pull", ["pull"], sleep=lambda s: None)
    assert patch == {"imagePullSecrets": [{"name": "default-dockercfg-abcde"}, {"name": "quay-pull"}]}
    patches = [b for m, p, b in c.calls if m == "PATCH"]
    assert [p["metadata"]["resourceVersion"] for p in patches] == ["10", "12"]
    # the retry keeps the controller's pull secret (it was decided again on the fresh read)
    assert patches[1]["imagePullSecrets"] == [{"name": "default-dockercfg-abcde"}, {"name": "quay-pull"}]
    assert [m for m, _, _ in c.calls] == ["PATCH", "GET", "PATCH"]


def test_link_gives_up_with_a_clear_error_and_other_errors_are_not_retried():
    c = FakeClient({SA_PATH: sa("11", [])}, {("PATCH", SA_PATH): [conflict()] * 3})
    with pytest.raises(ToolkitError) as e:
        mod.link_service_account(c, SA_PATH, sa("10", []), "quay-pull", ["pull"], retries=2, sleep=lambda s: None)
    assert e.value.status == 409 and "kept changing while it was linked (409 Conflict 3 times)" in e.value.msg
    c = FakeClient({SA_PATH: sa("11", [])}, {("PATCH", SA_PATH): [ToolkitError("403 Forbidden", status=403)]})
    with pytest.raises(ToolkitError):
        mod.link_service_account(c, SA_PATH, sa("10", []), "quay-pull", ["pull"], sleep=lambda s: None)
    assert [m for m, _, _ in c.calls] == ["PATCH"]
    # already linked after the fresh read: nothing more is sent
    c = FakeClient({SA_PATH: sa("11", ["quay-pull"])}, {("PATCH", SA_PATH): [conflict()]})
    assert mod.link_service_account(c, SA_PATH, sa("10", []), "quay-pull", ["pull"], sleep=lambda s: None) == {}


LIVE_OPAQUE = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": "quay-pull", "namespace": "lab-apps", "uid": "u-1", "resourceVersion": "42",
                            "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"keep": "me"}},
               "data": {"other": base64.b64encode(b"precious").decode()}}
NEW = k8s.dockerconfigjson_secret("quay-pull", "lab-apps", [{"registry": "quay.lab.test:5445", "username": "u",
                                                             "password": "p"}])[0]


def test_type_change_is_a_guarded_delete_then_create():
    c = FakeClient({SEC_PATH: LIVE_OPAQUE})
    out = mod.replace_secret(c, SEC_PATH, COLL, LIVE_OPAQUE, NEW)
    assert out["type"] == "kubernetes.io/dockerconfigjson"
    (m1, p1, b1), (m2, p2, b2), (m3, p3, b3) = c.calls
    assert (m1, p1, b1) == ("PATCH", SEC_PATH, {"metadata": {"resourceVersion": "42"}})
    assert m2 == "DELETE" and b2["preconditions"] == {"uid": "u-1", "resourceVersion": "42"}
    assert (m3, p3) == ("POST", COLL)


def test_type_change_sends_no_delete_when_the_secret_changed_since_it_was_read():
    c = FakeClient({SEC_PATH: LIVE_OPAQUE}, {("PATCH", SEC_PATH): [conflict()]})
    with pytest.raises(ToolkitError) as e:
        mod.replace_secret(c, SEC_PATH, COLL, LIVE_OPAQUE, NEW)
    assert e.value.status == 409
    assert [m for m, _, _ in c.calls] == ["PATCH"]


def test_failed_create_restores_the_secret_that_was_read():
    c = FakeClient({SEC_PATH: LIVE_OPAQUE}, {("POST", COLL): [ToolkitError("500 InternalError: etcd down",
                                                                           status=500)]})
    with pytest.raises(ToolkitError) as e:
        mod.replace_secret(c, SEC_PATH, COLL, LIVE_OPAQUE, NEW)
    assert "the secret that was read was restored" in e.value.msg and "etcd down" in e.value.msg
    restored = c.calls[-1]
    assert restored[0] == "POST" and restored[1] == COLL
    body = restored[2]
    assert body["type"] == "Opaque" and body["data"] == LIVE_OPAQUE["data"]
    assert body["metadata"] == {"name": "quay-pull", "namespace": "lab-apps", "labels": {"keep": "me"}}
    assert "precious" not in e.value.msg and LIVE_OPAQUE["data"]["other"] not in e.value.msg
    # and when the restore fails too, the message says the secret is missing
    c = FakeClient({SEC_PATH: LIVE_OPAQUE}, {("POST", COLL): [ToolkitError("500 a", status=500),
                                                              ToolkitError("500 b", status=500)]})
    with pytest.raises(ToolkitError) as e:
        mod.replace_secret(c, SEC_PATH, COLL, LIVE_OPAQUE, NEW)
    assert "restoring the secret that was read failed too (500 b): it is now missing" in e.value.msg


@pytest.mark.parametrize("raw,expected", [
    (b"nope", ".dockerconfigjson: invalid JSON at line 1 column 1"),
    (b'{"auths": []}', '"auths" must be a JSON object'),
    (b'{"auths": {"quay.lab.test:5445": {"auth": "!!"}}}', "auth is not valid base64"),
])
def test_unparsable_dockerconfigjson_is_named(raw, expected):
    sec = {"kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
           "data": {".dockerconfigjson": base64.b64encode(raw).decode()}}
    err = k8s.dockerconfigjson_error(sec)
    assert err and expected in err
    assert k8s.dockerconfigjson_error({"kind": "Secret", "type": "Opaque", "data": {}}) is None
    good = dict(sec, data={".dockerconfigjson": base64.b64encode(json.dumps({"auths": {}}).encode()).decode()})
    assert k8s.dockerconfigjson_error(good) is None
