"""okd_resource's object list and okd_resource_info's queries (issue 10: one module call per object list):
ensure_objects applies each definition in order over one client, one result per object, and stops at the first
failure naming the object and returning what was done before it; an unchanged list sends no changing request;
read_objects returns one list per query (by name, or a selected collection). Judged by a fake API that records
every request."""
import copy

import pytest

from plugins.module_utils import k8s_client
from plugins.module_utils.errors import ToolkitError


class FakeAPI(object):
    """Objects by path; records (method, path) of every request; GET of a collection lists (label selector
    'k=v' terms only); a POST to a path in `refuse` fails with 422."""

    def __init__(self, objects=(), refuse=()):
        self.store, self.requests, self.refuse, self.rv = {}, [], set(refuse), 100
        for path, obj in objects:
            self.store[path] = copy.deepcopy(obj)

    def get(self, path):
        self.requests.append(("GET", path))
        base, _, query = path.partition("?")
        if base in self.store:
            return copy.deepcopy(self.store[base])
        items = [copy.deepcopy(o) for p, o in sorted(self.store.items()) if p.rsplit("/", 1)[0] == base]
        if not items and not query and base.count("/") % 2 == 0 and not base.endswith("s"):
            return None
        if query.startswith("labelSelector="):
            from urllib.parse import unquote
            terms = [t.split("=", 1) for t in unquote(query.split("=", 1)[1]).split(",")]
            items = [o for o in items if all((o["metadata"].get("labels") or {}).get(k) == v for k, v in terms)]
        for o in items:
            o.pop("kind", None)
            o.pop("apiVersion", None)
        return {"kind": "List", "items": items}

    def post(self, coll, body):
        self.requests.append(("POST", coll))
        if coll in self.refuse:
            raise ToolkitError("422 Unprocessable Entity: refused", status=422)
        self.rv += 1
        obj = copy.deepcopy(body)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.store[coll + "/" + obj["metadata"]["name"]] = obj
        return copy.deepcopy(obj)

    def patch(self, path, patch):
        self.requests.append(("PATCH", path))
        obj = self.store[path]
        for k, v in patch.items():
            if isinstance(v, dict) and isinstance(obj.get(k), dict):
                obj[k].update(v)
            else:
                obj[k] = v
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(obj)

    def delete(self, path):
        self.requests.append(("DELETE", path))
        return self.store.pop(path, None)

    @property
    def changing(self):
        return [r for r in self.requests if r[0] != "GET"]


SA = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "registry", "namespace": "default"}}
SA_NOTED = {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "registry", "namespace": "default", "annotations": {"a": "b"}}}
SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "docker-registry", "namespace": "default"},
       "spec": {"sessionAffinity": "ClientIP"}}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "registry-http-secret", "namespace": "default"},
          "data": {"http-secret": "c2VjcmV0LXZhbHVl"}}


def test_objects_applied_in_order_one_result_each_then_nothing_to_change():
    api = FakeAPI()
    done = k8s_client.ensure_objects(api, [SA, SVC, SECRET, SA_NOTED])
    assert [(r["what"], r["method"]) for r in done] == [
        ("ServiceAccount default/registry", "create"), ("Service default/docker-registry", "create"),
        ("Secret default/registry-http-secret", "create"), ("ServiceAccount default/registry", "patch")]
    # the later entry for the same object was decided on what the earlier one made
    assert api.changing == [("POST", "/api/v1/namespaces/default/serviceaccounts"),
                            ("POST", "/api/v1/namespaces/default/services"),
                            ("POST", "/api/v1/namespaces/default/secrets"),
                            ("PATCH", "/api/v1/namespaces/default/serviceaccounts/registry")]
    assert api.store["/api/v1/namespaces/default/serviceaccounts/registry"]["metadata"]["annotations"] == {"a": "b"}
    # the Secret's value is never in a result's before/after (fingerprints only)
    assert "c2VjcmV0LXZhbHVl" not in repr([(r["before"], r["after"]) for r in done])
    api.requests[:] = []
    again = k8s_client.ensure_objects(api, [SA, SVC, SECRET, SA_NOTED])
    assert [r["changed"] for r in again] == [False] * 4
    assert api.changing == [] and len(api.requests) == 4


def test_check_mode_list_sends_only_gets():
    api = FakeAPI()
    done = k8s_client.ensure_objects(api, [SA, SVC], check_mode=True)
    assert [r["method"] for r in done] == ["create", "create"] and api.changing == []


def test_first_failure_stops_the_list_naming_the_object_and_keeping_what_was_done():
    api = FakeAPI(refuse={"/api/v1/namespaces/default/services"})
    with pytest.raises(k8s_client.BatchError) as e:
        k8s_client.ensure_objects(api, [SA, SVC, SECRET])
    assert e.value.what == "Service default/docker-registry" and e.value.status == 422
    assert "refused" in e.value.msg
    assert [r["what"] for r in e.value.done] == ["ServiceAccount default/registry"]
    # nothing after the failing object was sent
    assert ("POST", "/api/v1/namespaces/default/secrets") not in api.requests
    with pytest.raises(k8s_client.BatchError) as e:
        k8s_client.ensure_objects(api, [SA, "not an object"])
    assert "must be a dict" in e.value.msg


def test_absent_list_deletes_what_exists():
    api = FakeAPI()
    k8s_client.ensure_objects(api, [SA])
    done = k8s_client.ensure_objects(api, [SA, SVC], state="absent")
    assert [r["method"] for r in done] == ["delete", None]
    assert api.changing[-1] == ("DELETE", "/api/v1/namespaces/default/serviceaccounts/registry")


def test_read_objects_one_list_per_query():
    scc = {"metadata": {"name": "hostnetwork"}, "users": []}
    pod = {"metadata": {"name": "docker-registry-2-abcde", "namespace": "default",
                        "labels": {"deployment": "docker-registry-2"}}}
    old = {"metadata": {"name": "docker-registry-1-xyz", "namespace": "default",
                        "labels": {"deployment": "docker-registry-1"}}}
    api = FakeAPI(objects=[
        ("/apis/security.openshift.io/v1/securitycontextconstraints/hostnetwork", scc),
        ("/api/v1/namespaces/default/pods/docker-registry-2-abcde", pod),
        ("/api/v1/namespaces/default/pods/docker-registry-1-xyz", old),
    ])
    out = k8s_client.read_objects(api, [
        {"kind": "SecurityContextConstraints"},
        {"kind": "ServiceAccount", "name": "registry"},
        {"kind": "Pod", "label_selectors": ["deployment=docker-registry-2"]},
        {"kind": "SecurityContextConstraints", "name": "hostnetwork"},
    ], namespace="default")
    assert [len(x) for x in out] == [1, 0, 1, 1]
    assert out[0][0]["kind"] == "SecurityContextConstraints" and out[0][0]["apiVersion"] == "security.openshift.io/v1"
    assert out[2][0]["metadata"]["name"] == "docker-registry-2-abcde"
    assert api.requests == [
        ("GET", "/apis/security.openshift.io/v1/securitycontextconstraints"),
        ("GET", "/api/v1/namespaces/default/serviceaccounts/registry"),
        ("GET", "/api/v1/namespaces/default/pods?labelSelector=deployment%3Ddocker-registry-2"),
        ("GET", "/apis/security.openshift.io/v1/securitycontextconstraints/hostnetwork")]
    with pytest.raises(ToolkitError) as e:
        k8s_client.read_objects(api, [{"kind": "Pod"}])
    assert "needs a namespace" in e.value.msg
    with pytest.raises(ToolkitError):
        k8s_client.read_objects(api, [{"name": "x"}])
