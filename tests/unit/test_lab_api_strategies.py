"""The lab API stand-in's per-kind logic, in-process on a private store (no lab, no network): REST strategies,
ImageStreamMapping as 3.11's imagestreammapping/rest.go, image change triggers, the simplified RBAC and
access reviews, and how RCs and DCs follow the lab kubelet's pod status reports (docs/lab-api.md)."""
import copy
import json
import time

import pytest

from lab.api import authz, controllers, strategies
from lab.api.api import ApiError
from lab.api.imagestreams import add_tag_event
from lab.api.resources import BY_KEY
from lab.api.server import App

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
REG = "docker-registry.default.svc:5000"
DC = BY_KEY["deploymentconfigs.apps.openshift.io"]
IS = BY_KEY["imagestreams.image.openshift.io"]


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("OKD_LAB_API_SA_DELAY", "0.01")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "tokens.json").write_text(json.dumps({"admin": "ADMIN", "readonly": "READONLY"}))
    return App(tmp_path / "api")


def call(app, method, path, user, body=None):
    ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
    try:
        r = app.handle(method, path, {"Content-Type": ctype},
                       json.dumps(body).encode() if body is not None else b"", user)
        return r.code, r.body
    except ApiError as e:
        return e.code, e.status()


def poll(fn, what, tries=400):
    """Bounded polling for an asynchronous controller's outcome (never a fixed wait)."""
    for _ in range(tries):
        out = fn()
        if out:
            return out
        time.sleep(0.01)
    raise AssertionError("never happened: " + what)


def ism(name, tag, digest, ns="default", managed=False):
    img = {"metadata": {"name": digest}, "dockerImageReference": "%s/%s/%s@%s" % (REG, ns, name, digest)}
    if managed:
        img["metadata"]["annotations"] = {"openshift.io/image.managed": "true"}
    return {"kind": "ImageStreamMapping", "apiVersion": "image.openshift.io/v1", "metadata": {"name": name},
            "tag": tag, "image": img}


ISM_PATH = "/apis/image.openshift.io/v1/namespaces/%s/imagestreammappings"


def stream(app, name, ns="default"):
    return call(app, "GET", "/apis/image.openshift.io/v1/namespaces/%s/imagestreams/%s" % (ns, name), "admin")[1]


def sa_token(app, ns, name):
    """Create service account ns/name and return its token once the token controller made it."""
    assert call(app, "POST", "/api/v1/namespaces/%s/serviceaccounts" % ns, "admin", {"metadata": {"name": name}})[0] \
        == 201

    def token():
        for s in call(app, "GET", "/api/v1/namespaces/%s/secrets" % ns, "admin")[1]["items"]:
            ann = s["metadata"].get("annotations") or {}
            if s["type"] == "kubernetes.io/service-account-token" and ann.get(controllers.SA_NAME) == name:
                import base64
                return base64.b64decode(s["data"]["token"]).decode()
        return None
    return poll(token, "token of %s/%s" % (ns, name))


# ------------------------------------------------------------------------------------ strategies
def test_every_kind_gets_its_strategy_and_the_default_is_neutral():
    assert isinstance(strategies.for_key("deploymentconfigs.apps.openshift.io"), strategies.DeploymentConfigStrategy)
    assert isinstance(strategies.for_key("imagestreams.image.openshift.io"), strategies.ImageStreamStrategy)
    assert isinstance(strategies.for_key("buildconfigs.build.openshift.io"), strategies.BuildConfigStrategy)
    assert strategies.for_key("no-such-kind") is strategies._DEFAULT
    # name rules per kind (1.11 ValidateObjectMeta with the kind's name function)
    assert strategies.for_key("namespaces").name_problem("a.b")            # DNS-1123 label
    assert strategies.for_key("services").name_problem("1abc")             # DNS-1035 label
    assert strategies.for_key("configmaps").name_problem("a.b") is None    # subdomain
    assert strategies.for_key("clusterroles.rbac.authorization.k8s.io").name_problem("system:registry") is None
    assert strategies.for_key("configmaps").name_problem("system:registry")
    # generations: workload kinds bump on a spec change, others carry none
    obj = {"metadata": {"generation": 7}, "spec": {"a": 2}}
    strategies.for_key("replicationcontrollers").generations(None, None, obj, {"metadata": {"generation": 3},
                                                                             "spec": {"a": 1}})
    assert obj["metadata"]["generation"] == 4
    obj = {"metadata": {"generation": 7}}
    strategies.for_key("configmaps").generations(None, None, obj, None)
    assert "generation" not in obj["metadata"]


def test_secret_strategy_validates_and_defaults_like_before(app):
    code, out = call(app, "POST", "/api/v1/namespaces/default/secrets", "admin",
                     {"metadata": {"name": "s1"}, "stringData": {"k": "v"}})
    assert code == 201 and out["type"] == "Opaque" and out["data"] == {"k": "dg=="}
    code, out = call(app, "PUT", "/api/v1/namespaces/default/secrets/s1", "admin",
                     {"metadata": {"name": "s1"}, "type": "kubernetes.io/tls", "data": {}})
    assert code == 422 and {c["field"] for c in out["details"]["causes"]} == {"type", "data[tls.crt]", "data[tls.key]"}


# ------------------------------------------------------------------------------------ ImageStreamMapping
def test_add_tag_event_follows_helper_go():
    s = {"status": {}}
    e1 = {"created": "t1", "dockerImageReference": "r@" + D1, "image": D1, "generation": 1}
    assert add_tag_event(s, "v1", dict(e1))
    assert not add_tag_event(s, "v1", dict(e1, created="t9"))                    # same ref, image, generation
    assert add_tag_event(s, "v1", dict(e1, generation=2))                        # collapsed: generation only
    assert s["status"]["tags"][0]["items"] == [dict(e1, generation=2)]
    s["status"]["tags"][0]["conditions"] = [{"type": "ImportSuccess", "status": "False"}]
    assert add_tag_event(s, "v1", {"created": "t2", "dockerImageReference": "r@" + D2, "image": D2, "generation": 2})
    items = s["status"]["tags"][0]["items"]
    assert [i["image"] for i in items] == [D2, D1] and "conditions" not in s["status"]["tags"][0]
    assert add_tag_event(s, "v1", {"created": "t3", "dockerImageReference": "other@" + D2, "image": D2,
                                   "generation": 3})                              # same image: reference updated
    assert len(s["status"]["tags"][0]["items"]) == 2 and items[0]["dockerImageReference"] == "other@" + D2


def test_untagged_mapping_of_a_push_by_digest_is_refused(app):
    """image-registry 3.11 sends the mapping of a push by digest with tag "" (manifestservice.go Put); 3.11's
    ValidateImageStreamMapping requires the tag, so rest.go's Create refuses it (422) before it looks for the
    stream - not the 404 after which the registry creates the stream - and its `tag = latest` default for an
    empty tag is never reached: no stream, no tag, no image."""
    untagged = ism("app", "", D1)
    code, out = call(app, "POST", ISM_PATH % "default", "admin", untagged)
    assert code == 422 and out["reason"] == "Invalid", out
    assert [c["field"] for c in out["details"]["causes"]] == ["tag"]
    assert out["message"].endswith('"app" is invalid: tag: Required value')
    assert call(app, "GET", "/apis/image.openshift.io/v1/namespaces/default/imagestreams/app", "admin")[0] == 404
    assert call(app, "POST", "/apis/image.openshift.io/v1/namespaces/default/imagestreams", "admin",
                {"metadata": {"name": "app"}})[0] == 201
    before = stream(app, "app")
    assert call(app, "POST", ISM_PATH % "default", "admin", untagged)[0] == 422
    assert stream(app, "app") == before and not (before.get("status") or {}).get("tags")
    assert call(app, "GET", "/apis/image.openshift.io/v1/images/" + D1, "admin")[0] == 404


def test_image_stream_mapping_as_rest_go(app):
    code, out = call(app, "POST", ISM_PATH % "default", "admin", ism("app", "v1", D1))
    assert code == 404 and out["details"] == {"name": "app", "group": "image.openshift.io", "kind": "imagestreams"}
    assert call(app, "GET", "/apis/image.openshift.io/v1/namespaces/default/imagestreams/app", "admin")[0] == 404
    code, out = call(app, "POST", ISM_PATH % "default", "admin", {"metadata": {"name": "app"}, "image": {}})
    assert code == 422 and {c["field"] for c in out["details"]["causes"]} == {
        "tag", "image.metadata.name", "image.dockerImageReference"}
    assert call(app, "POST", "/apis/image.openshift.io/v1/namespaces/default/imagestreams", "admin",
                {"metadata": {"name": "app"}})[0] == 201
    assert call(app, "PATCH", "/apis/image.openshift.io/v1/namespaces/default/imagestreams/app", "admin",
                {"spec": {"lookupPolicy": {"local": True}}})[0] == 200
    gen = stream(app, "app")["metadata"]["generation"]
    assert gen == 2
    assert call(app, "POST", ISM_PATH % "default", "admin", ism("app", "v1", D1)) == \
        (201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
    rv = stream(app, "app")["metadata"]["resourceVersion"]
    assert call(app, "POST", ISM_PATH % "default", "admin", ism("app", "v1", D1))[0] == 201
    assert stream(app, "app")["metadata"]["resourceVersion"] == rv               # nothing changed: no write
    assert call(app, "POST", ISM_PATH % "default", "admin", ism("app", "v1", D2))[0] == 201
    st = stream(app, "app")
    v1 = next(t for t in st["status"]["tags"] if t["tag"] == "v1")
    assert [i["image"] for i in v1["items"]] == [D2, D1]
    assert all(i["generation"] == gen for i in v1["items"]) and st["metadata"]["generation"] == gen
    assert call(app, "GET", "/apis/image.openshift.io/v1/images/" + D2, "admin")[1]["dockerImageReference"] \
        .endswith("/default/app@" + D2)
    # an image that exists and is managed by OpenShift is referenced through this stream's own repository
    assert call(app, "POST", "/apis/image.openshift.io/v1/namespaces/default/imagestreams", "admin",
                {"metadata": {"name": "other"}})[0] == 201
    assert call(app, "POST", ISM_PATH % "default", "admin", ism("app", "latest", D2, managed=True))[0] == 201
    body = ism("other", "latest", D2, managed=True)
    body["image"]["dockerImageReference"] = "elsewhere.example/x/y@" + D2
    assert call(app, "POST", ISM_PATH % "default", "admin", body)[0] == 201
    other = stream(app, "other")["status"]["tags"][0]["items"][0]
    assert other["dockerImageReference"] == "%s/default/other@%s" % (REG, D2)


def test_image_stream_mapping_retries_a_conflict_only_while_the_tag_did_not_move(app):
    api = app.api
    for n in ("a", "b"):
        assert call(app, "POST", "/apis/image.openshift.io/v1/namespaces/default/imagestreams", "admin",
                    {"metadata": {"name": n}})[0] == 201
        assert call(app, "POST", ISM_PATH % "default", "admin", ism(n, "v1", D1))[0] == 201

    def unrelated(ns, name):        # another writer changes the stream, not the tag: retried, succeeds
        api._ism_after_read = None
        assert call(app, "POST", ISM_PATH % "default", "admin", ism(name, "other", D3))[0] == 201
    api._ism_after_read = unrelated
    assert call(app, "POST", ISM_PATH % "default", "admin", ism("a", "v1", D2))[0] == 201
    tags = dict((t["tag"], t) for t in stream(app, "a")["status"]["tags"])
    assert tags["v1"]["items"][0]["image"] == D2 and tags["other"]["items"][0]["image"] == D3

    def moved(ns, name):            # the tag itself moved meanwhile: 409, the other writer's event stays
        api._ism_after_read = None
        assert call(app, "POST", ISM_PATH % "default", "admin", ism(name, "v1", D3))[0] == 201
    api._ism_after_read = moved
    code, out = call(app, "POST", ISM_PATH % "default", "admin", ism("b", "v1", D2))
    assert code == 409 and out["reason"] == "Conflict" and 'imagestreams.image.openshift.io "b"' in out["message"]
    v1 = next(t for t in stream(app, "b")["status"]["tags"] if t["tag"] == "v1")
    assert [i["image"] for i in v1["items"]] == [D3, D1]


# ------------------------------------------------------------------------------------ image change triggers
def _dc(name, automatic=True, last=None, config_change=True):
    p = {"automatic": automatic, "containerNames": ["web"], "from": {"kind": "ImageStreamTag", "name": "app:v1"}}
    image = " "
    if last:
        p["lastTriggeredImage"] = image = last
    triggers = ([{"type": "ConfigChange"}] if config_change else []) + [{"type": "ImageChange", "imageChangeParams": p}]
    return {"metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"app": name}, "triggers": triggers,
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


DC_PATH = "/apis/apps.openshift.io/v1/namespaces/default/deploymentconfigs"


def test_deployment_config_image_change_trigger(app):
    assert call(app, "POST", "/apis/image.openshift.io/v1/namespaces/default/imagestreams", "admin",
                {"metadata": {"name": "app"}})[0] == 201
    # unresolved: no rollout at all (canTrigger: "contains unresolved images"), although ConfigChange is there
    code, waiting = call(app, "POST", DC_PATH, "admin", _dc("waiting"))
    assert code == 201 and waiting["status"]["latestVersion"] == 0
    ref1 = "%s/default/app@%s" % (REG, D1)
    code, manual = call(app, "POST", DC_PATH, "admin", _dc("manual", automatic=False, last=ref1))
    assert code == 201 and manual["status"]["latestVersion"] == 1
    assert call(app, "POST", ISM_PATH % "default", "admin", ism("app", "v1", D1))[0] == 201

    def dc(name):
        return call(app, "GET", DC_PATH + "/" + name, "admin")[1]
    got = poll(lambda: dc("waiting")["status"]["latestVersion"] == 1 and dc("waiting"), "first rollout")
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == ref1
    assert got["spec"]["triggers"][1]["imageChangeParams"]["lastTriggeredImage"] == ref1
    assert got["status"]["details"]["message"] == "image change"
    # a new DC on a resolvable tag is resolved and rolled out at once
    code, now_dc = call(app, "POST", DC_PATH, "admin", _dc("now", config_change=False))
    assert code == 201 and now_dc["status"]["latestVersion"] == 1
    assert now_dc["spec"]["template"]["spec"]["containers"][0]["image"] == ref1
    # the tag moves: automatic triggers roll out N+1 with the new image; the manual one does not move
    assert call(app, "POST", ISM_PATH % "default", "admin", ism("app", "v1", D2))[0] == 201
    ref2 = "%s/default/app@%s" % (REG, D2)
    got = poll(lambda: dc("waiting")["status"]["latestVersion"] == 2 and dc("waiting"), "second rollout")
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == ref2
    assert got["status"]["details"] == {"message": "image change", "causes": [{"type": "ImageChange", "imageTrigger": {
        "from": {"kind": "ImageStreamTag", "name": "app:v1", "namespace": "default"}}}]}
    rc = poll(lambda: call(app, "GET", "/api/v1/namespaces/default/replicationcontrollers/waiting-2", "admin")[1]
              .get("spec"), "RC waiting-2")
    rc = {"spec": rc}
    assert rc["spec"]["template"]["spec"]["containers"][0]["image"] == ref2
    poll(lambda: dc("now")["status"]["latestVersion"] == 2, "rollout of the DC without ConfigChange")
    m = dc("manual")
    assert m["status"]["latestVersion"] == 1 and m["spec"]["template"]["spec"]["containers"][0]["image"] == ref1
    # a later config change is a config change again
    got = dc("waiting")
    got["spec"]["template"]["metadata"]["labels"]["x"] = "1"
    got["spec"]["selector"] = got["spec"]["selector"]
    code, out = call(app, "PUT", DC_PATH + "/waiting", "admin", got)
    assert code == 200 and out["status"]["latestVersion"] == 3
    assert dc("waiting")["status"]["details"]["message"] == "config change"


def test_build_config_image_change_trigger_creates_builds(app):
    assert call(app, "POST", "/apis/image.openshift.io/v1/namespaces/default/imagestreams", "admin",
                {"metadata": {"name": "base"}})[0] == 201
    bc = {"metadata": {"name": "bld"}, "spec": {
        "strategy": {"type": "Source", "sourceStrategy": {"from": {"kind": "ImageStreamTag", "name": "base:v1"}}},
        "triggers": [{"type": "ImageChange", "imageChange": {}}]}}
    code, out = call(app, "POST", "/apis/build.openshift.io/v1/namespaces/default/buildconfigs", "admin", bc)
    assert code == 201 and out["status"] == {"lastVersion": 0} and out["spec"]["runPolicy"] == "Serial"

    def builds():
        return call(app, "GET", "/apis/build.openshift.io/v1/namespaces/default/builds", "admin")[1]["items"]
    assert builds() == []
    paused = copy.deepcopy(bc)
    paused["metadata"]["name"] = "paused"
    paused["spec"]["triggers"][0]["imageChange"]["paused"] = True
    assert call(app, "POST", "/apis/build.openshift.io/v1/namespaces/default/buildconfigs", "admin", paused)[0] == 201
    assert call(app, "POST", ISM_PATH % "default", "admin", ism("base", "v1", D1))[0] == 201
    got = poll(lambda: builds(), "a build")
    assert [b["metadata"]["name"] for b in got] == ["bld-1"]
    b = got[0]
    ref = "%s/default/base@%s" % (REG, D1)
    assert b["status"]["phase"] == "New" and b["spec"]["strategy"]["sourceStrategy"]["from"] == \
        {"kind": "DockerImage", "name": ref}
    assert b["spec"]["triggeredBy"] == [{"message": "Image change", "imageChangeBuild": {
        "imageID": ref, "fromRef": {"kind": "ImageStreamTag", "name": "base:v1"}}}]
    assert b["metadata"]["labels"]["openshift.io/build-config.name"] == "bld"
    cfg = call(app, "GET", "/apis/build.openshift.io/v1/namespaces/default/buildconfigs/bld", "admin")[1]
    assert cfg["status"]["lastVersion"] == 1
    assert cfg["spec"]["triggers"][0]["imageChange"]["lastTriggeredImageID"] == ref
    assert call(app, "POST", ISM_PATH % "default", "admin", ism("base", "v1", D2))[0] == 201
    poll(lambda: len(builds()) == 2, "a second build")
    assert sorted(b["metadata"]["name"] for b in builds()) == ["bld-1", "bld-2"]


# ------------------------------------------------------------------------------------ authorization
def sar(ns, verb, resource="imagestreams", sub="layers", group="image.openshift.io"):
    return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "spec": {"resourceAttributes": {"namespace": ns, "verb": verb, "group": group, "resource": resource,
                                            "subresource": sub, "name": "x"}}}


SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def test_tokens_and_access_reviews(app):
    assert call(app, "POST", "/api/v1/namespaces", "admin", {"metadata": {"name": "team"}})[0] == 201
    token = sa_token(app, "team", "pusher")
    user, err = app.authenticate("Bearer " + token)
    assert err is None and user == "system:serviceaccount:team:pusher"
    assert app.authenticate("Bearer not-a-token")[0] is None
    me = call(app, "GET", "/apis/user.openshift.io/v1/users/~", user)[1]
    assert me["metadata"]["name"] == user and "system:serviceaccounts:team" in me["groups"]
    answers = {}
    for who in ("admin", "readonly", user):
        for ns in ("team", "default"):
            for verb in ("get", "update"):
                code, out = call(app, "POST", SSAR, who, sar(ns, verb))
                assert code == 201 and out["kind"] == "SelfSubjectAccessReview"
                answers[(who, ns, verb)] = out["status"]["allowed"]
    assert answers == {("admin", "team", "get"): True, ("admin", "team", "update"): True,
                       ("admin", "default", "get"): True, ("admin", "default", "update"): True,
                       ("readonly", "team", "get"): True, ("readonly", "team", "update"): False,
                       ("readonly", "default", "get"): True, ("readonly", "default", "update"): False,
                       (user, "team", "get"): True, (user, "team", "update"): True,
                       (user, "default", "get"): False, (user, "default", "update"): False}
    # what the API itself enforces for the service account
    assert call(app, "POST", "/apis/image.openshift.io/v1/namespaces/team/imagestreams", user,
                {"metadata": {"name": "mine"}})[0] == 201
    code, out = call(app, "POST", "/apis/image.openshift.io/v1/namespaces/default/imagestreams", user,
                     {"metadata": {"name": "theirs"}})
    assert code == 403 and 'User "%s" cannot create imagestreams.image.openshift.io in the namespace "default"' \
        % user in out["message"]
    assert call(app, "POST", ISM_PATH % "team", user, ism("mine", "v1", D1, ns="team"))[0] == 403
    # the openshift SubjectAccessReview (legacy path too): the registry role through a binding
    review = {"kind": "SubjectAccessReview", "apiVersion": "v1", "namespace": "default", "verb": "create",
              "resourceAPIGroup": "image.openshift.io", "resource": "imagestreammappings", "user": user,
              "groups": ["system:serviceaccounts", "system:serviceaccounts:team"]}
    code, out = call(app, "POST", "/oapi/v1/subjectaccessreviews", "admin", review)
    assert code == 201 and out["kind"] == "SubjectAccessReviewResponse" and out["allowed"] is False
    assert call(app, "POST", "/oapi/v1/subjectaccessreviews", user, review)[0] == 403    # not about itself
    assert call(app, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "admin", {
        "metadata": {"name": "team-registry"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                           "kind": "ClusterRole", "name": "system:registry"},
        "subjects": [{"kind": "ServiceAccount", "name": "pusher", "namespace": "team"}]})[0] == 201
    out = call(app, "POST", "/apis/authorization.openshift.io/v1/subjectaccessreviews", "admin", review)[1]
    assert out["allowed"] is True and "system:registry" in out["reason"]
    assert call(app, "POST", ISM_PATH % "team", user, ism("mine", "v1", D1, ns="team"))[0] == 201
    assert call(app, "POST", ISM_PATH % "default", user, ism("nostream", "v1", D1))[0] == 404   # allowed, no stream
    # local reviews: the namespace must match
    local = {"kind": "LocalSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
             "spec": {"user": user, "resourceAttributes": {"namespace": "default", "verb": "get",
                                                           "resource": "imagestreams"}}}
    assert call(app, "POST", "/apis/authorization.k8s.io/v1/namespaces/team/localsubjectaccessreviews", "admin",
                local)[0] == 422
    # a deleted account's token is dead
    assert call(app, "DELETE", "/api/v1/namespaces/team/serviceaccounts/pusher", "admin")[0] == 200
    assert app.authenticate("Bearer " + token)[0] is None


def test_rule_matching():
    rule = {"apiGroups": ["", "image.openshift.io"], "resources": ["imagestreams/layers"], "verbs": ["get"]}
    assert authz._rule_allows(rule, "get", "image.openshift.io", "imagestreams", "layers", "x")
    assert not authz._rule_allows(rule, "update", "image.openshift.io", "imagestreams", "layers", "x")
    assert not authz._rule_allows(rule, "get", "image.openshift.io", "imagestreams", "", "x")
    assert not authz._rule_allows(rule, "get", "apps.openshift.io", "imagestreams", "layers", "x")
    assert authz._rule_allows({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, "delete", "a", "b", "c", "")
    assert not authz._rule_allows(dict(rule, resourceNames=["y"]), "get", "", "imagestreams", "layers", "x")


# ------------------------------------------------------------------------------------ the kubelet's report
REGISTRY_IMAGE = "registry.redhat.io/openshift3/ose-docker-registry:v3.11"


@pytest.fixture
def lab_app(tmp_path, monkeypatch):
    """An in-process API that knows the lab's hosts (status.json beside its state: pods are bound to nodes)."""
    monkeypatch.setenv("OKD_LAB_API_SA_DELAY", "0.01")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "tokens.json").write_text(json.dumps({"admin": "ADMIN", "readonly": "READONLY"}))
    (tmp_path / "status.json").write_text(json.dumps({"hosts": [
        {"name": "master1", "fqdn": "master1.lab.test", "address": "10.231.1.10", "groups": ["masters"]},
        {"name": "node1", "fqdn": "node1.lab.test", "address": "10.231.1.11", "groups": ["nodes"]}]}))
    return App(tmp_path / "api")


def _registry_dc(name, image=REGISTRY_IMAGE, replicas=1):
    return {"metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": name}, "triggers": [{"type": "ConfigChange"}],
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "registry", "image": image}]}}}}


def _conds(obj):
    return dict((c["type"], c) for c in (obj.get("status") or {}).get("conditions") or [])


def _report(app, pod, state, ready, last=None):
    """PUT pods/NAME/status as the lab kubelet does (lab/kubelet.py Pod.status)."""
    cs = {"name": "registry", "image": REGISTRY_IMAGE, "ready": ready, "restartCount": 1 if last else 0,
          "state": state}
    if last:
        cs["lastState"] = {"terminated": last}
    r = "True" if ready else "False"
    st = {"phase": "Running" if "running" in state else "Pending", "hostIP": "10.231.1.10", "podIP": "10.231.1.10",
          "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": r},
                         {"type": "ContainersReady", "status": r}, {"type": "PodScheduled", "status": "True"}],
          "containerStatuses": [cs]}
    name = pod["metadata"]["name"]
    code, out = call(app, "PUT", "/api/v1/namespaces/default/pods/%s/status" % name, "kubelet",
                     {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "default"},
                      "status": st})
    assert code == 200, out
    return call(app, "GET", DC_PATH + "/reg", "admin")[1], \
        call(app, "GET", "/api/v1/namespaces/default/replicationcontrollers/reg-1", "admin")[1]


def test_kubelet_pods_are_pending_until_reported_and_the_dc_follows_them(lab_app):
    """Pods of the image the lab kubelet runs are created Pending (scheduled, ContainersNotReady) and the
    rollout is in progress; RC and DC follow the kubelet's reports: starting (running, readiness not yet
    passed) stays in progress - not failed -, ready completes it, a crash-looping container fails it with
    the process's message, and ready again completes it."""
    app = lab_app
    code, dc = call(app, "POST", DC_PATH, "admin", _registry_dc("reg"))
    assert code == 201 and dc["status"]["latestVersion"] == 1
    dc = call(app, "GET", DC_PATH + "/reg", "admin")[1]
    (pod,) = call(app, "GET", "/api/v1/namespaces/default/pods", "admin")[1]["items"]
    assert pod["spec"]["nodeName"] == "master1.lab.test" and pod["status"]["phase"] == "Pending"
    assert _conds(pod)["PodScheduled"]["status"] == "True"
    assert (_conds(pod)["Ready"]["status"], _conds(pod)["Ready"]["reason"]) == ("False", "ContainersNotReady")
    assert dc["status"]["availableReplicas"] == 0 and _conds(dc)["Available"]["status"] == "False"
    assert (_conds(dc)["Progressing"]["status"], _conds(dc)["Progressing"]["reason"]) == \
        ("True", "ReplicationControllerUpdated")
    assert _conds(dc)["Progressing"]["message"] == 'replication controller "reg-1" is progressing'
    rc = call(app, "GET", "/api/v1/namespaces/default/replicationcontrollers/reg-1", "admin")[1]
    assert rc["status"]["readyReplicas"] == 0 and \
        rc["metadata"]["annotations"]["openshift.io/deployment.phase"] == "Running"

    # the process started, its readiness probe has not passed yet: still progressing (the flake's cause)
    dc, rc = _report(app, pod, {"running": {"startedAt": "2026-01-01T00:00:00Z"}}, False)
    assert _conds(dc)["Progressing"]["status"] == "True" and _conds(dc)["Available"]["status"] == "False"
    assert rc["metadata"]["annotations"]["openshift.io/deployment.phase"] == "Running"

    # the service account's token not there yet: still starting; a missing secret volume fails the rollout
    dc, rc = _report(app, pod, {"waiting": {"reason": "ContainerCreating",
                                            "message": "MountVolume.SetUp failed: no token secret of service "
                                                       'account "default" yet'}}, False)
    assert _conds(dc)["Progressing"]["status"] == "True" and _conds(dc)["Available"]["status"] == "False"
    want = 'MountVolume.SetUp failed for volume "certs" : secrets "nope" not found'
    dc, rc = _report(app, pod, {"waiting": {"reason": "ContainerCreating", "message": want}}, False)
    assert _conds(dc)["Progressing"]["status"] == "False" and want in _conds(dc)["Progressing"]["message"]

    crash = {"exitCode": 1, "reason": "Error",
             "message": 'time="x" level=fatal msg="open /etc/secrets/x.crt: no such file or directory"'}
    dc, rc = _report(app, pod, {"waiting": {"reason": "CrashLoopBackOff",
                                            "message": "Back-off restarting failed container"}}, False, crash)
    assert rc["status"]["readyReplicas"] == 0 and dc["status"]["availableReplicas"] == 0
    assert rc["metadata"]["annotations"]["openshift.io/deployment.phase"] == "Failed"
    assert _conds(dc)["Available"]["status"] == "False"
    prog = _conds(dc)["Progressing"]
    assert (prog["status"], prog["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert prog["message"] == ('replication controller "reg-1" has failed progressing: container registry exited '
                               "with code 1: open /etc/secrets/x.crt: no such file or directory")

    # ready after all (within 3.11's deployer timeout): complete
    dc, rc = _report(app, pod, {"running": {"startedAt": "2026-01-01T00:00:01Z"}}, True, crash)
    assert rc["status"]["readyReplicas"] == 1 and rc["status"]["availableReplicas"] == 1
    assert rc["metadata"]["annotations"]["openshift.io/deployment.phase"] == "Complete"
    assert dc["status"]["availableReplicas"] == 1 and dc["status"]["readyReplicas"] == 1
    assert _conds(dc)["Available"]["status"] == "True"
    assert _conds(dc)["Progressing"]["message"] == 'replication controller "reg-1" successfully rolled out'

    # a crash after the rollout completed: unavailable, the rollout stays complete (the deployer has exited)
    dc, rc = _report(app, pod, {"waiting": {"reason": "CrashLoopBackOff",
                                            "message": "Back-off restarting failed container"}}, False, crash)
    assert _conds(dc)["Available"]["status"] == "False" and dc["status"]["availableReplicas"] == 0
    assert _conds(dc)["Progressing"]["reason"] == "NewReplicationControllerAvailable"


def test_scaling_a_complete_rollout_follows_spec_replicas_without_a_new_rollout(lab_app):
    """oc scale dc: spec.replicas changed, latestVersion not: the latest complete RC is scaled
    (reconcileDeployments), its pods deleted or created (the lab kubelet stops or starts them), no new RC."""
    app = lab_app
    assert call(app, "POST", DC_PATH, "admin", _registry_dc("reg"))[0] == 201
    (pod,) = call(app, "GET", "/api/v1/namespaces/default/pods", "admin")[1]["items"]
    dc, rc = _report(app, pod, {"running": {"startedAt": "2026-01-01T00:00:00Z"}}, True)
    assert _conds(dc)["Available"]["status"] == "True"

    dc["spec"]["replicas"] = 0
    code, out = call(app, "PUT", DC_PATH + "/reg", "admin", dc)
    assert code == 200 and out["status"]["latestVersion"] == 1, out
    assert call(app, "GET", "/api/v1/namespaces/default/pods", "admin")[1]["items"] == []
    rcs = call(app, "GET", "/api/v1/namespaces/default/replicationcontrollers", "admin")[1]["items"]
    assert [(o["metadata"]["name"], o["spec"]["replicas"], o["status"]["replicas"]) for o in rcs] == [("reg-1", 0, 0)]
    dc = call(app, "GET", DC_PATH + "/reg", "admin")[1]
    assert dc["status"]["availableReplicas"] == 0 and dc["status"]["replicas"] == 0
    assert _conds(dc)["Available"]["status"] == "False"

    dc["spec"]["replicas"] = 2
    assert call(app, "PUT", DC_PATH + "/reg", "admin", dc)[0] == 200
    pods = call(app, "GET", "/api/v1/namespaces/default/pods", "admin")[1]["items"]
    assert len(pods) == 2 and all(p["status"]["phase"] == "Pending" and p["spec"].get("nodeName") for p in pods)
    assert all(p["metadata"]["labels"]["deployment"] == "reg-1" for p in pods)
    dc, rc = _report(app, pods[0], {"running": {"startedAt": "2026-01-01T00:00:02Z"}}, True)
    assert rc["spec"]["replicas"] == 2 and rc["status"]["readyReplicas"] == 1
    assert rc["metadata"]["annotations"]["openshift.io/deployment.phase"] == "Complete"
    assert dc["status"]["availableReplicas"] == 1 and dc["status"]["latestVersion"] == 1

    # down to 1: the pod that is not ready goes first
    dc["spec"]["replicas"] = 1
    assert call(app, "PUT", DC_PATH + "/reg", "admin", dc)[0] == 200
    (left,) = call(app, "GET", "/api/v1/namespaces/default/pods", "admin")[1]["items"]
    assert left["metadata"]["name"] == pods[0]["metadata"]["name"]
    dc = call(app, "GET", DC_PATH + "/reg", "admin")[1]
    assert _conds(dc)["Available"]["status"] == "True" and dc["status"]["availableReplicas"] == 1


def test_the_kubelets_pods_of_one_rollout_get_a_node_each(lab_app):
    """Lab limit (pods share their host's network): at most one registry-image pod of a rollout per node, as
    for host-network pods (PodFitsHostPorts); the pod no node fits stays Pending with 1.11's message."""
    assert call(lab_app, "POST", DC_PATH, "admin", _registry_dc("reg", replicas=3))[0] == 201
    pods = call(lab_app, "GET", "/api/v1/namespaces/default/pods", "admin")[1]["items"]
    assert sorted(p["spec"].get("nodeName") or "" for p in pods) == ["", "master1.lab.test", "node1.lab.test"]
    (left,) = [p for p in pods if not p["spec"].get("nodeName")]
    assert _conds(left)["PodScheduled"]["message"] == \
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."


def test_pods_of_images_without_a_runtime_are_recorded_running_at_once(lab_app):
    code, dc = call(lab_app, "POST", DC_PATH, "admin", _registry_dc("reg", image="example.org/app:1"))
    assert code == 201
    dc = call(lab_app, "GET", DC_PATH + "/reg", "admin")[1]
    (pod,) = call(lab_app, "GET", "/api/v1/namespaces/default/pods", "admin")[1]["items"]
    assert pod["status"]["phase"] == "Running" and _conds(pod)["Ready"]["status"] == "True"
    assert _conds(dc)["Available"]["status"] == "True" and dc["status"]["availableReplicas"] == 1
    assert _conds(dc)["Progressing"]["reason"] == "NewReplicationControllerAvailable"


def test_a_superseded_rollouts_report_leaves_the_dc_alone(lab_app):
    app = lab_app
    assert call(app, "POST", DC_PATH, "admin", _registry_dc("reg"))[0] == 201
    (old_pod,) = call(app, "GET", "/api/v1/namespaces/default/pods", "admin")[1]["items"]
    dc = call(app, "GET", DC_PATH + "/reg", "admin")[1]
    dc["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    assert call(app, "PUT", DC_PATH + "/reg", "admin", dc)[1]["status"]["latestVersion"] == 2
    # the old pod is gone with its scaled-down RC: a late report of it is refused, the DC stays in progress
    code, _ = call(app, "PUT", "/api/v1/namespaces/default/pods/%s/status" % old_pod["metadata"]["name"],
                   "kubelet", {"metadata": {"name": old_pod["metadata"]["name"]}, "status": {"phase": "Running"}})
    assert code == 404
    dc = call(app, "GET", DC_PATH + "/reg", "admin")[1]
    assert _conds(dc)["Progressing"]["message"] == 'replication controller "reg-2" is progressing'


def test_trigger_follows_a_tag_moved_by_a_stream_write_and_tracking_tags(app):
    """Not only pushes: any image stream event reaches the trigger controller (here `oc tag app:v1 app:prod`,
    resolved in the write, then a push to v1 that prod tracks, UpdateTrackingTags)."""
    assert call(app, "POST", "/apis/image.openshift.io/v1/namespaces/default/imagestreams", "admin",
                {"metadata": {"name": "app"}})[0] == 201
    assert call(app, "POST", ISM_PATH % "default", "admin", ism("app", "v1", D1))[0] == 201
    dc = _dc("prod", config_change=False)
    dc["spec"]["triggers"][0]["imageChangeParams"]["from"]["name"] = "app:prod"
    assert call(app, "POST", DC_PATH, "admin", dc)[1]["status"]["latestVersion"] == 0
    st = stream(app, "app")
    st["spec"]["tags"] = [{"name": "prod", "from": {"kind": "ImageStreamTag", "name": "app:v1"}}]
    assert call(app, "PUT", "/apis/image.openshift.io/v1/namespaces/default/imagestreams/app", "admin", st)[0] == 200

    def dc_at(version):
        d = call(app, "GET", DC_PATH + "/prod", "admin")[1]
        return d["status"]["latestVersion"] == version and d
    got = poll(lambda: dc_at(1), "rollout after oc tag")
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "%s/default/app@%s" % (REG, D1)
    assert call(app, "POST", ISM_PATH % "default", "admin", ism("app", "v1", D2))[0] == 201
    got = poll(lambda: dc_at(2), "rollout after the tracked tag moved")
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "%s/default/app@%s" % (REG, D2)
