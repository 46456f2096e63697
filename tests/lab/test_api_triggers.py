"""The lab API stand-in's ImageStreamMapping, image change triggers and access reviews, through the official
`kubernetes` Python client (dynamic and typed) with real tokens: admin, readonly and service accounts'.

What the integrated registry does after a push (image-registry 3.11 CreateImageStreamMapping as its
`registry` service account, system:registry through a ClusterRoleBinding) and what OKD 3.11 does next
(imagestreammapping/rest.go, the image trigger controller, DC rollouts, builds), checked on the running lab
API. Digests are made up: the API does not fetch mappings' images (the real push path is the registry's
test)."""
import base64
import copy
import json
import time
import uuid

import pytest

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client as k8s_client  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402
from kubernetes.dynamic import DynamicClient  # noqa: E402

REG = "docker-registry.default.svc:5000"
D1 = "sha256:" + uuid.uuid4().hex * 2
D2 = "sha256:" + uuid.uuid4().hex * 2


def poll(fn, what, tries=600):
    """Bounded polling for an asynchronous controller's outcome (never a fixed wait)."""
    for _ in range(tries):
        out = fn()
        if out:
            return out
        time.sleep(0.05)
    raise AssertionError("never happened: " + what)


def _client(kubeconfig, token=None):
    cfg = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    if token is not None:     # the kubeconfig's refresh hook would put the admin token back
        cfg.refresh_api_key_hook = None
        cfg.api_key = {"BearerToken": "Bearer " + token}
    return k8s_client.ApiClient(cfg)


@pytest.fixture(scope="module")
def env(request):
    status = request.getfixturevalue("lab")
    api = status["api"]
    admin = _client(api["kubeconfig"])
    core = k8s_client.CoreV1Api(admin)
    rbac = k8s_client.RbacAuthorizationV1Api(admin)
    ns = "t-trig-" + uuid.uuid4().hex[:8]
    binding = ns + "-registry"
    core.create_namespace({"metadata": {"name": ns}})
    for sa in ("registry", "pusher"):
        core.create_namespaced_service_account(ns, {"metadata": {"name": sa}})
    # what the toolkit's okd_integrated_registry binds (oc adm registry): system:registry to the registry SA
    rbac.create_cluster_role_binding({
        "metadata": {"name": binding},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:registry"},
        "subjects": [{"kind": "ServiceAccount", "name": "registry", "namespace": ns}]})

    def token(sa):
        for s in core.list_namespaced_secret(ns).items:
            if s.type == "kubernetes.io/service-account-token" and \
                    (s.metadata.annotations or {}).get("kubernetes.io/service-account.name") == sa:
                return base64.b64decode(s.data["token"]).decode()
        return None
    tokens = dict((sa, poll(lambda: token(sa), "token of " + sa)) for sa in ("registry", "pusher"))
    clients = {"admin": admin, "readonly": _client(api["readonly_kubeconfig"])}
    for sa, tok in tokens.items():
        clients[sa] = _client(api["kubeconfig"], tok)
    yield {"ns": ns, "core": core, "dyn": DynamicClient(admin), "clients": clients,
           "users": {"registry": "system:serviceaccount:%s:registry" % ns,
                     "pusher": "system:serviceaccount:%s:pusher" % ns}}
    try:
        rbac.delete_cluster_role_binding(binding)
    except ApiException:
        pass
    try:
        core.delete_namespace(ns)
    except ApiException:
        pass
    for c in clients.values():
        c.close()


def _ism(ns, name, tag, digest):
    return {"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamMapping",
            "metadata": {"name": name, "namespace": ns}, "tag": tag,
            "image": {"metadata": {"name": digest, "annotations": {"openshift.io/image.managed": "true"}},
                      "dockerImageReference": "%s/%s/%s@%s" % (REG, ns, name, digest),
                      "dockerImageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json"}}


def _map(env, who, name, tag, digest):
    dyn = DynamicClient(env["clients"][who])
    res = dyn.resources.get(api_version="image.openshift.io/v1", kind="ImageStreamMapping")
    return res.create(body=_ism(env["ns"], name, tag, digest), namespace=env["ns"])


def _dc(name, automatic, last=None):
    p = {"automatic": automatic, "containerNames": ["web"], "from": {"kind": "ImageStreamTag", "name": "app:v1"}}
    image = " "
    if last:
        p["lastTriggeredImage"] = image = last
    return {"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"app": name},
                     "triggers": [{"type": "ConfigChange"}, {"type": "ImageChange", "imageChangeParams": p}],
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def test_push_mapping_moves_the_tag_rolls_out_and_builds(env):
    ns, dyn = env["ns"], env["dyn"]
    streams = dyn.resources.get(api_version="image.openshift.io/v1", kind="ImageStream")
    dcs = dyn.resources.get(api_version="apps.openshift.io/v1", kind="DeploymentConfig")
    bcs = dyn.resources.get(api_version="build.openshift.io/v1", kind="BuildConfig")
    builds = dyn.resources.get(api_version="build.openshift.io/v1", kind="Build")
    # rest.go: no stream, no mapping (the registry creates the stream and retries)
    with pytest.raises(ApiException) as e:
        _map(env, "registry", "app", "v1", D1)
    assert e.value.status == 404 and json.loads(e.value.body)["message"] == \
        'imagestreams.image.openshift.io "app" not found'
    # only who may create imagestreammappings: not the namespace's own pusher
    with pytest.raises(ApiException) as e:
        _map(env, "pusher", "app", "v1", D1)
    assert e.value.status == 403 and "cannot create imagestreammappings.image.openshift.io" in \
        json.loads(e.value.body)["message"]
    streams.create(body={"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                         "metadata": {"name": "app"}}, namespace=ns)
    ref1 = "%s/%s/app@%s" % (REG, ns, D1)
    dcs.create(body=_dc("auto", True), namespace=ns)
    dcs.create(body=_dc("manual", False, last=ref1), namespace=ns)
    bcs.create(body={"apiVersion": "build.openshift.io/v1", "kind": "BuildConfig", "metadata": {"name": "bld"},
                     "spec": {"strategy": {"type": "Docker", "dockerStrategy": {
                         "from": {"kind": "ImageStreamTag", "name": "app:v1"}}},
                         "triggers": [{"type": "ImageChange", "imageChange": {}}]}}, namespace=ns)
    assert dcs.get(name="auto", namespace=ns).status.latestVersion == 0     # unresolved image: no rollout
    assert dcs.get(name="manual", namespace=ns).status.latestVersion == 1
    gen = streams.get(name="app", namespace=ns).metadata.generation

    # push 1
    out = _map(env, "registry", "app", "v1", D1)
    assert out.status == "Success"
    auto = poll(lambda: (lambda d: d.status.latestVersion == 1 and d)(dcs.get(name="auto", namespace=ns)), "rollout 1")
    assert auto.spec.template.spec.containers[0].image == ref1
    assert auto.spec.triggers[1].imageChangeParams.lastTriggeredImage == ref1
    poll(lambda: [b.metadata.name for b in builds.get(namespace=ns).items] == ["bld-1"], "build 1")

    # push 2: the tag moves
    _map(env, "registry", "app", "v1", D2)
    ref2 = "%s/%s/app@%s" % (REG, ns, D2)
    st = streams.get(name="app", namespace=ns)
    v1 = [t for t in st.status.tags if t.tag == "v1"][0]
    assert [i.image for i in v1["items"]] == [D2, D1] and [i.dockerImageReference for i in v1["items"]] == [ref2, ref1]
    assert all(i.generation == gen for i in v1["items"]) and st.metadata.generation == gen
    istag = dyn.resources.get(api_version="image.openshift.io/v1", kind="ImageStreamTag").get(
        name="app:v1", namespace=ns)
    assert istag.image.metadata.name == D2
    auto = poll(lambda: (lambda d: d.status.latestVersion == 2 and d)(dcs.get(name="auto", namespace=ns)), "rollout 2")
    assert auto.spec.template.spec.containers[0].image == ref2
    assert auto.status.details.message == "image change"
    rc = poll(lambda: [r for r in env["core"].list_namespaced_replication_controller(ns).items
                       if r.metadata.name == "auto-2"], "RC auto-2")[0]
    assert rc.spec.template.spec.containers[0].image == ref2
    manual = dcs.get(name="manual", namespace=ns)
    assert manual.status.latestVersion == 1 and manual.spec.template.spec.containers[0].image == ref1
    got = poll(lambda: (lambda items: len(items) == 2 and items)(builds.get(namespace=ns).items), "build 2")
    b2 = [b for b in got if b.metadata.name == "bld-2"][0]
    assert b2.status.phase == "New" and b2.spec.strategy.dockerStrategy["from"].name == ref2
    assert b2.spec.triggeredBy[0].imageChangeBuild.imageID == ref2
    assert bcs.get(name="bld", namespace=ns).status.lastVersion == 2


def test_access_reviews_per_token(env):
    ns = env["ns"]
    answers = {}
    for who in ("admin", "readonly", "pusher"):
        authz = k8s_client.AuthorizationV1Api(env["clients"][who])
        for where in (ns, "default"):
            for verb in ("get", "update"):
                r = authz.create_self_subject_access_review({
                    "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": {"namespace": where, "verb": verb, "group": "image.openshift.io",
                                                    "resource": "imagestreams", "subresource": "layers",
                                                    "name": "app"}}})
                answers[(who, where == ns, verb)] = r.status.allowed
    assert answers == {("admin", True, "get"): True, ("admin", True, "update"): True,
                       ("admin", False, "get"): True, ("admin", False, "update"): True,
                       ("readonly", True, "get"): True, ("readonly", True, "update"): False,
                       ("readonly", False, "get"): True, ("readonly", False, "update"): False,
                       ("pusher", True, "get"): True, ("pusher", True, "update"): True,
                       ("pusher", False, "get"): False, ("pusher", False, "update"): False}
    # users/~ names the token's user (what the registry's verifyOpenShiftUser reads)
    for who in ("pusher", "registry"):
        me = DynamicClient(env["clients"][who]).resources.get(api_version="user.openshift.io/v1", kind="User") \
            .get(name="~")
        assert me.metadata.name == env["users"][who]
    # the openshift SubjectAccessReview: the registry account may create mappings anywhere (its binding)
    dyn = env["dyn"]
    sar = dyn.resources.get(api_version="authorization.openshift.io/v1", kind="SubjectAccessReview")
    review = {"apiVersion": "authorization.openshift.io/v1", "kind": "SubjectAccessReview", "namespace": "openshift",
              "verb": "create", "resourceAPIGroup": "image.openshift.io", "resource": "imagestreammappings",
              "user": env["users"]["registry"], "groups": ["system:serviceaccounts"]}
    assert sar.create(body=review).allowed is True
    other = copy.deepcopy(review)
    other["user"] = env["users"]["pusher"]
    assert sar.create(body=other).allowed is False
