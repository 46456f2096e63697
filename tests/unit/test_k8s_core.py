# Unit tests of plugins/module_utils/k8s.py: kubeconfig parsing, desired-vs-live diff and merge patch,
# Secret redaction, dockerconfigjson secrets, Status error messages, image stream helpers.
import base64
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from plugins.module_utils import k8s  # noqa: E402
from plugins.module_utils import k8s_images  # noqa: E402
from plugins.module_utils.errors import ToolkitError  # noqa: E402


def b64(s):
    return base64.b64encode(s.encode()).decode()


CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def kubeconfig(**over):
    cfg = {
        "apiVersion": "v1", "kind": "Config", "current-context": "admin",
        "clusters": [{"name": "lab", "cluster": {"server": "https://api.lab.test:8443/",
                                                  "certificate-authority-data": b64(CA_PEM)}}],
        "contexts": [{"name": "admin", "context": {"cluster": "lab", "user": "admin", "namespace": "default"}}],
        "users": [{"name": "admin", "user": {"token": "tok-123"}}],
    }
    cfg.update(over)
    return cfg


# ------------------------------------------------------------------------------------------ kubeconfig
def test_kubeconfig_token_and_ca_data():
    c = k8s.connection_from_kubeconfig(kubeconfig())
    assert c["server"] == "https://api.lab.test:8443"
    assert c["ca_data"] == CA_PEM
    assert c["token"] == "tok-123"
    assert c["namespace"] == "default"
    assert c["insecure"] is False


def test_kubeconfig_client_cert_relative_paths_and_insecure():
    cfg = kubeconfig(
        clusters=[{"name": "lab", "cluster": {"server": "https://m:8443", "insecure-skip-tls-verify": True}}],
        users=[{"name": "admin", "user": {"client-certificate": "admin.crt", "client-key": "admin.key"}}])
    c = k8s.connection_from_kubeconfig(cfg, base_dir="/etc/origin/master")
    assert c["insecure"] is True
    assert c["client_cert_file"] == "/etc/origin/master/admin.crt"
    assert c["client_key_file"] == "/etc/origin/master/admin.key"
    assert c["token"] is None


def test_kubeconfig_explicit_context():
    cfg = kubeconfig()
    cfg["contexts"].append({"name": "ro", "context": {"cluster": "lab", "user": "ro"}})
    cfg["users"].append({"name": "ro", "user": {"token": "ro-tok"}})
    assert k8s.connection_from_kubeconfig(cfg, context="ro")["token"] == "ro-tok"


@pytest.mark.parametrize("cfg, expected", [
    ("just a string", "not a YAML mapping"),
    (kubeconfig(**{"current-context": None}), "no current-context"),
    (kubeconfig(**{"current-context": "nope"}), "context 'nope' not found"),
    (kubeconfig(clusters=[]), "cluster 'lab' not found"),
    (kubeconfig(clusters=[{"name": "lab", "cluster": {}}]), "has no server URL"),
    (kubeconfig(clusters=[{"name": "lab", "cluster": {"server": "api.lab.test:8443"}}]), "not an http(s) URL"),
    (kubeconfig(users=[{"name": "admin", "user": {}}]), "has no credentials"),
    (kubeconfig(users=[{"name": "admin", "user": {"client-certificate-data": b64("x")}}]), "without a key"),
    (kubeconfig(clusters=[{"name": "lab", "cluster": {"server": "https://x", "certificate-authority-data": "%%%"}}]),
     "not valid base64"),
    (kubeconfig(kind="Pod"), "expected Config"),
])
def test_kubeconfig_errors(cfg, expected):
    with pytest.raises(ToolkitError) as e:
        k8s.connection_from_kubeconfig(cfg)
    assert expected in e.value.msg
    assert "tok-123" not in e.value.msg


# ------------------------------------------------------------------------------------------ paths
def test_resource_paths():
    assert k8s.resource_path("v1", "Secret", "openshift", "imagestreamsecret") == \
        "/api/v1/namespaces/openshift/secrets/imagestreamsecret"
    assert k8s.resource_path(None, "ImageStream", "lab-apps") == \
        "/apis/image.openshift.io/v1/namespaces/lab-apps/imagestreams"
    # legacy v1 OpenShift kinds map to their group
    assert k8s.resource_path("v1", "DeploymentConfig", "default", "docker-registry") == \
        "/apis/apps.openshift.io/v1/namespaces/default/deploymentconfigs/docker-registry"
    assert k8s.resource_path("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", None, "x") == \
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/x"
    assert k8s.resource_path(None, "Route", "default", "r") == "/apis/route.openshift.io/v1/namespaces/default/routes/r"
    assert k8s.resource_path(None, "Namespace", None, "lab-apps") == "/api/v1/namespaces/lab-apps"
    with pytest.raises(ToolkitError, match="needs a namespace"):
        k8s.resource_path("v1", "Secret", None, "x")
    with pytest.raises(ToolkitError, match="unsupported kind"):
        k8s.resource_path("v1", "Frobnicator", "ns", "x")
    with pytest.raises(ToolkitError, match="invalid name"):
        k8s.resource_path("v1", "Secret", "ns", "../x")


# ------------------------------------------------------------------------------------------ compare
LIVE_SA = {
    "apiVersion": "v1", "kind": "ServiceAccount",
    "metadata": {"name": "default", "namespace": "lab-apps", "resourceVersion": "7", "uid": "u1",
                 "labels": {"a": "1"}},
    "secrets": [{"name": "default-token-x"}, {"name": "default-dockercfg-y"}],
    "imagePullSecrets": [{"name": "default-dockercfg-y"}],
}


def test_subset_equal_makes_no_patch():
    desired = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "default", "namespace": "lab-apps", "labels": {"a": "1"}},
               "imagePullSecrets": [{"name": "default-dockercfg-y"}]}
    assert k8s.compare(desired, LIVE_SA) == (False, {})


def test_changed_label_patches_only_that_key():
    desired = {"kind": "ServiceAccount", "metadata": {"name": "default", "labels": {"a": "2", "b": "x"}}}
    needs, patch = k8s.compare(desired, LIVE_SA)
    assert needs
    assert patch == {"metadata": {"labels": {"a": "2", "b": "x"}}}


def test_merge_list_appends_and_keeps_others():
    desired = {"kind": "ServiceAccount", "metadata": {"name": "default"},
               "imagePullSecrets": [{"name": "quay-pull"}]}
    needs, patch = k8s.compare(desired, LIVE_SA)
    assert needs
    assert patch == {"imagePullSecrets": [{"name": "default-dockercfg-y"}, {"name": "quay-pull"}]}
    after = k8s.apply_patch(LIVE_SA, patch)
    assert k8s.compare(desired, after) == (False, {})


def test_plain_list_compared_whole():
    live = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "1"},
            "spec": {"args": ["a", "b"]}}
    assert k8s.compare({"kind": "ConfigMap", "metadata": {"name": "c"}, "spec": {"args": ["a", "b"]}}, live)[0] is False
    needs, patch = k8s.compare({"kind": "ConfigMap", "metadata": {"name": "c"}, "spec": {"args": ["a"]}}, live)
    assert needs and patch == {"spec": {"args": ["a"]}}


def test_image_stream_tags_merge_by_name_with_server_defaults():
    live = {"kind": "ImageStream", "metadata": {"name": "hello", "namespace": "lab-apps", "resourceVersion": "3"},
            "spec": {"lookupPolicy": {"local": False}, "tags": [
                {"name": "1.0", "from": {"kind": "DockerImage", "name": "quay.lab.test:5445/laborg/hello:1.0"},
                 "generation": 2, "importPolicy": {"scheduled": False}, "referencePolicy": {"type": "Source"}},
                {"name": "old", "from": {"kind": "DockerImage", "name": "x/y:old"}, "generation": 1}]}}
    desired = k8s_images.image_stream_definition("lab-apps", "hello", "quay.lab.test:5445/laborg/hello", ["1.0"])
    assert k8s.compare(desired, live) == (False, {})
    desired = k8s_images.image_stream_definition("lab-apps", "hello", "quay.lab.test:5445/laborg/hello", ["1.0", "1.1"])
    needs, patch = k8s.compare(desired, live)
    assert needs
    names = [t["name"] for t in patch["spec"]["tags"]]
    assert names == ["1.0", "old", "1.1"]  # other tags kept, new appended
    assert patch["spec"]["tags"][0]["generation"] == 2  # live item carried whole
    assert "lookupPolicy" not in patch["spec"]


def test_zero_values_equal_absent_fields():
    # OKD omits empty fields: importPolicy {scheduled: false} is stored as {} (or not at all)
    live = {"kind": "ImageStream", "metadata": {"name": "h"}, "spec": {"tags": [
        {"name": "1.0", "from": {"kind": "DockerImage", "name": "q/l/h:1.0"}, "importPolicy": {}}]}}
    desired = k8s_images.image_stream_definition("ns", "h", "q/l/h", ["1.0"])
    assert k8s.compare(desired, live) == (False, {})
    del live["spec"]["tags"][0]["importPolicy"]
    assert k8s.compare(desired, live) == (False, {})
    desired = k8s_images.image_stream_definition("ns", "h", "q/l/h", ["1.0"], scheduled=True)
    needs, patch = k8s.compare(desired, live)
    assert needs and patch["spec"]["tags"][0]["importPolicy"] == {"scheduled": True}


def test_null_means_absent_and_type_mismatch():
    live = {"kind": "Secret", "metadata": {"name": "s", "annotations": {"x": "1"}}, "type": "Opaque"}
    needs, patch = k8s.compare({"kind": "Secret", "metadata": {"name": "s", "annotations": {"x": None}}}, live)
    assert needs and patch == {"metadata": {"annotations": {"x": None}}}
    assert k8s.compare({"kind": "Secret", "metadata": {"name": "s", "annotations": {"y": None}}}, live) == (False, {})
    assert k8s.compare({"kind": "X", "metadata": {"name": "s"}, "spec": {"replicas": True}},
                       {"spec": {"replicas": 1}})[0] is True


def test_server_managed_metadata_ignored_and_guard():
    desired = {"kind": "ServiceAccount", "metadata": {"name": "default", "resourceVersion": "1", "uid": "zzz"}}
    assert k8s.compare(desired, LIVE_SA) == (False, {})
    guarded = k8s.with_resource_version({"metadata": {"labels": {"a": "2"}}}, LIVE_SA)
    assert guarded == {"metadata": {"labels": {"a": "2"}, "resourceVersion": "7"}}


def _dc(container, volumes=None):
    spec = {"containers": [container]}
    if volumes is not None:
        spec["volumes"] = volumes
    return {"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
            "metadata": {"name": "docker-registry", "namespace": "default"},
            "spec": {"template": {"spec": spec}}}


def test_env_value_source_is_replaced_not_merged():
    """issue 13 item 1: a live literal `value` (oc adm registry) and a desired `valueFrom` must not end up
    together in one env entry (1.11 validateEnvVarValueFrom rejects that); and back again."""
    ref = {"secretKeyRef": {"name": "registry-http-secret", "key": "http-secret"}}
    live = _dc({"name": "registry", "image": "r", "terminationMessagePath": "/dev/termination-log",
                "env": [{"name": "A", "value": "1"}, {"name": "REGISTRY_HTTP_SECRET", "value": "literal"}]})
    desired = _dc({"name": "registry", "env": [{"name": "REGISTRY_HTTP_SECRET", "valueFrom": ref}]})
    needs, patch = k8s.compare(desired, live)
    assert needs
    (c,) = patch["spec"]["template"]["spec"]["containers"]
    assert c["env"] == [{"name": "A", "value": "1"}, {"name": "REGISTRY_HTTP_SECRET", "valueFrom": ref}]
    assert c["terminationMessagePath"] == "/dev/termination-log"      # the rest of the live container kept
    after = k8s.apply_patch(live, patch)
    assert k8s.compare(desired, after) == (False, {})
    # and from valueFrom back to a literal value
    back = _dc({"name": "registry", "env": [{"name": "REGISTRY_HTTP_SECRET", "value": "v2"}]})
    needs, patch = k8s.compare(back, after)
    env = patch["spec"]["template"]["spec"]["containers"][0]["env"]
    assert needs and env[1] == {"name": "REGISTRY_HTTP_SECRET", "value": "v2"}


def test_volume_source_and_probe_handler_are_unions():
    live = _dc({"name": "registry", "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 10}},
               [{"name": "registry-storage", "hostPath": {"path": "/var/lib/registry", "type": ""}}])
    desired = _dc({"name": "registry", "livenessProbe": {"httpGet": {"path": "/healthz", "port": 5000}}},
                  [{"name": "registry-storage", "emptyDir": {}}])
    needs, patch = k8s.compare(desired, live)
    assert needs
    spec = patch["spec"]["template"]["spec"]
    assert spec["volumes"] == [{"name": "registry-storage", "emptyDir": {}}]
    probe = spec["containers"][0]["livenessProbe"]
    assert probe["httpGet"] == {"path": "/healthz", "port": 5000} and "exec" not in probe
    after = k8s.apply_patch(live, patch)
    assert "exec" not in after["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    assert k8s.compare(desired, after) == (False, {})


@pytest.mark.parametrize("a,b,same", [("0.1", "100m", True), ("1024Mi", "1Gi", True), ("1000", "1k", True),
                                      (1, "1000m", True), ("1.5Gi", "1536Mi", True), ("256Mi", "256M", False),
                                      ("0.0000000001", "1n", True), ("100m", "0.2", False), ("x", "x1", False)])
def test_quantities_compare_by_value(a, b, same):
    assert k8s.same_quantity(a, b) is same
    live = _dc({"name": "registry", "resources": {"requests": {"cpu": b}}})
    desired = _dc({"name": "registry", "resources": {"requests": {"cpu": a}}})
    assert k8s.compare(desired, live)[0] is (not same)


def test_quantity_value_rejects_garbage():
    for bad in ("", "1.2.3", "1Qi", True, None, "--1"):
        with pytest.raises(ToolkitError):
            k8s.quantity_value(bad)


def test_secret_string_data_compared_as_data():
    live = {"kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque", "data": {"k": b64("v")}}
    assert k8s.compare({"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}, live) == (False, {})
    needs, patch = k8s.compare({"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "w"}}, live)
    assert needs and patch == {"data": {"k": b64("w")}}


# ------------------------------------------------------------------------------------------ redaction
def test_redact_secret_never_shows_values():
    secret = {"kind": "Secret", "metadata": {"name": "s", "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"aHVudGVyMg=="}}'}},
        "data": {"password": b64("hunter2")}, "stringData": {"token": "tok-abc"}}
    red = k8s.redact(secret)
    text = json.dumps(red)
    assert "hunter2" not in text and b64("hunter2") not in text and "tok-abc" not in text
    assert "aHVudGVyMg" not in text
    assert red["data"]["password"].startswith("<redacted sha256:")
    assert "7 bytes" in red["data"]["password"]
    assert set(red["stringData"]) == {"token"}
    assert secret["data"]["password"] == b64("hunter2")  # input untouched
    # same value -> same fingerprint, different -> different
    assert k8s.redact_value(b64("a")) == k8s.redact_value(b64("a")) != k8s.redact_value(b64("b"))
    cm = {"kind": "ConfigMap", "data": {"k": "visible"}}
    assert k8s.redact(cm) == cm


# ------------------------------------------------------------------------------------------ dockerconfigjson
ENTRY = {"registry": "registry.redhat.lab.test:5443", "username": "11009103|lab-cluster", "password": "tok-1"}


def _config_of(secret):
    return json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))


def test_dockerconfigjson_new_secret():
    d, needs = k8s.dockerconfigjson_secret("imagestreamsecret", "openshift", [ENTRY])
    assert needs
    assert d["type"] == "kubernetes.io/dockerconfigjson"
    auth = _config_of(d)["auths"]["registry.redhat.lab.test:5443"]["auth"]
    assert base64.b64decode(auth).decode() == "11009103|lab-cluster:tok-1"


def test_dockerconfigjson_same_credentials_other_bytes_is_unchanged():
    # as `oc create secret docker-registry` writes it: username/password/email fields, compact JSON
    cfg = {"auths": {"registry.redhat.lab.test:5443": {
        "username": ENTRY["username"], "password": "tok-1", "email": "x@example.com",
        "auth": b64(ENTRY["username"] + ":tok-1")}}}
    live = {"kind": "Secret", "type": "kubernetes.io/dockerconfigjson", "metadata": {"name": "s"},
            "data": {".dockerconfigjson": b64(json.dumps(cfg, separators=(",", ":")))}}
    _, needs = k8s.dockerconfigjson_secret("s", "openshift", [ENTRY], live=live)
    assert needs is False
    _, needs = k8s.dockerconfigjson_secret("s", "openshift", [dict(ENTRY, password="tok-2")], live=live)
    assert needs is True


def test_dockerconfigjson_keeps_or_drops_other_registries():
    d, _ = k8s.dockerconfigjson_secret("s", "ns", [ENTRY])
    live = dict(d, metadata={"name": "s"})
    quay = {"registry": "quay.lab.test:5445", "username": "laborg+robot", "password": "r"}
    merged, needs = k8s.dockerconfigjson_secret("s", "ns", [quay], live=live)
    assert needs and set(_config_of(merged)["auths"]) == {"registry.redhat.lab.test:5443", "quay.lab.test:5445"}
    live2 = dict(merged, metadata={"name": "s"})
    only, needs = k8s.dockerconfigjson_secret("s", "ns", [quay], live=live2, exclusive=True)
    assert needs and set(_config_of(only)["auths"]) == {"quay.lab.test:5445"}
    _, needs = k8s.dockerconfigjson_secret("s", "ns", [quay], live=dict(only, metadata={"name": "s"}), exclusive=True)
    assert needs is False


def test_dockerconfigjson_wrong_type_or_garbage_needs_update():
    live = {"kind": "Secret", "type": "Opaque", "metadata": {"name": "s"}, "data": {"x": b64("y")}}
    assert k8s.dockerconfigjson_secret("s", "ns", [ENTRY], live=live)[1] is True
    live = {"kind": "Secret", "type": "kubernetes.io/dockerconfigjson", "metadata": {"name": "s"},
            "data": {".dockerconfigjson": b64("not json")}}
    assert k8s.dockerconfigjson_secret("s", "ns", [ENTRY], live=live)[1] is True
    with pytest.raises(ToolkitError, match="no registry entries"):
        k8s.dockerconfigjson_secret("s", "ns", [])


def test_sa_link_patch():
    assert k8s.sa_link_patch(LIVE_SA, "default-dockercfg-y", ("pull",)) == {}
    p = k8s.sa_link_patch(LIVE_SA, "quay-pull", ("pull", "mount"))
    assert p["imagePullSecrets"][-1] == {"name": "quay-pull"} and len(p["imagePullSecrets"]) == 2
    assert p["secrets"][-1] == {"name": "quay-pull"} and len(p["secrets"]) == 3


# ------------------------------------------------------------------------------------------ errors
def test_status_messages():
    body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
                       "message": 'secrets is forbidden: User "readonly" cannot create secrets in the namespace '
                                  '"openshift": no RBAC policy matched'})
    msg = k8s.status_message(403, "Forbidden", body)
    assert msg.startswith('403 Forbidden: secrets is forbidden: User "readonly" cannot create secrets')
    body = json.dumps({"kind": "Status", "reason": "Conflict", "code": 409,
                       "message": 'Operation cannot be fulfilled on secrets "s": the object has been modified'})
    assert k8s.status_message(409, "", body, "PATCH", "https://a/x").startswith(
        '409 Conflict: Operation cannot be fulfilled on secrets "s"')
    body = json.dumps({"kind": "Status", "reason": "Invalid", "code": 422, "message": "Secret \"s\" is invalid",
                       "details": {"causes": [{"field": "data[.dockerconfigjson]", "message": "invalid JSON"}]}})
    m = k8s.status_message(422, "Unprocessable Entity", body)
    assert "data[.dockerconfigjson]: invalid JSON" in m
    assert k8s.status_message(502, "Bad Gateway", b"<html>proxy</html>") == "502 Bad Gateway: <html>proxy</html>"
    e = k8s.api_error(503, "Service Unavailable", "")
    assert e.retryable and e.status == 503 and "no message" in e.msg
    e = k8s.unreachable_error("https://127.0.0.1:1", "[Errno 111] Connection refused")
    assert "https://127.0.0.1:1" in e.msg and "Connection refused" in e.msg


# ------------------------------------------------------------------------------------------ image streams
def test_split_and_replace_registry():
    assert k8s_images.split_image("registry.access.redhat.com/rhscl/python-36-rhel7:latest") == \
        ("registry.access.redhat.com", "rhscl/python-36-rhel7", "latest", None)
    assert k8s_images.split_image("quay.lab.test:5445/laborg/hello@sha256:ab") == ("quay.lab.test:5445", "laborg/hello", None, "sha256:ab")
    assert k8s_images.split_image("laborg/hello:1.0") == (None, "laborg/hello", "1.0", None)
    assert k8s_images.replace_registry("registry.access.redhat.com/a/b:1", "registry.access.redhat.com",
                                "registry.redhat.io") == "registry.redhat.io/a/b:1"
    assert k8s_images.replace_registry("quay.io/a/b:1", "registry.access.redhat.com", "registry.redhat.io") is None


def test_tag_status_and_import_results():
    stream = {"status": {"tags": [
        {"tag": "1.0", "items": [{"image": "sha256:aa", "dockerImageReference": "q/l/h@sha256:aa", "generation": 2}]},
        {"tag": "1.1", "items": [{"image": "sha256:bb", "generation": 1}],
         "conditions": [{"type": "ImportSuccess", "status": "False", "generation": 3,
                         "message": "unauthorized: authentication required"}]},
    ]}}
    assert k8s_images.tag_status(stream, "1.0")["digest"] == "sha256:aa" and k8s_images.tag_status(stream, "1.0")["imported"]
    s11 = k8s_images.tag_status(stream, "1.1")
    assert s11["imported"] is False and "unauthorized" in s11["message"]
    assert k8s_images.tag_status(stream, "2.0")["imported"] is False
    isi = {"spec": {"images": [{"to": {"name": "1.0"}}, {"to": {"name": "1.1"}}]},
           "status": {"images": [
               {"tag": "1.0", "status": {"status": "Success"}, "image": {"metadata": {"name": "sha256:aa"}}},
               {"status": {"status": "Failure", "reason": "Unauthorized", "message": "unauthorized: x"}}]}}
    assert k8s_images.import_results(isi) == [
        {"tag": "1.0", "source_tag": "1.0", "digest": "sha256:aa", "imported": True, "message": ""},
        {"tag": "1.1", "source_tag": None, "digest": None, "imported": False, "message": "unauthorized: x"}]
    body = k8s_images.image_stream_import("ns", "hello", [{"from": "q/l/h:1.0", "tag": "1.0"}])
    assert body["spec"]["import"] is True and body["spec"]["images"][0]["to"] == {"name": "1.0"}


def test_import_results_keyed_by_stream_tag_not_source_tag():
    # OKD 3.11 (importer.go importImages) answers status.images[i].tag with the *source* tag: a stream tag
    # `2` importing `...:v3.11` comes back as `v3.11`; the result must still be the stream tag's
    isi = {"spec": {"images": [{"from": {"name": "r.test/o/jenkins:v3.11"}, "to": {"name": "2"}},
                               {"from": {"name": "r.test/o/jenkins@sha256:bb"}, "to": {"name": "pinned"}}]},
           "status": {"images": [
               {"tag": "v3.11", "status": {"status": "Success"}, "image": {"metadata": {"name": "sha256:aa"}}},
               {"status": {"status": "Success"}, "image": {"metadata": {"name": "sha256:bb"}}}]}}
    got = k8s_images.import_results(isi)
    assert [(r["tag"], r["source_tag"], r["digest"]) for r in got] == [("2", "v3.11", "sha256:aa"),
                                                                        ("pinned", None, "sha256:bb")]


def _decision_stream(spec_gen=1, item_gen=1, failed_gen=None, ref="q.test/o/h@sha256:aa", src="q.test/o/h:1"):
    st = {"tag": "1", "items": [{"image": "sha256:aa", "dockerImageReference": ref, "generation": item_gen}]}
    if failed_gen is not None:
        st["conditions"] = [{"type": "ImportSuccess", "status": "False", "reason": "Unauthorized",
                             "message": 'you may not have access to the Docker image "q.test/o/h:1"',
                             "generation": failed_gen}]
    return {"spec": {"tags": [{"name": "1", "from": {"kind": "DockerImage", "name": src}, "generation": spec_gen,
                               "importPolicy": {"scheduled": True}}]},
            "status": {"tags": [st]}}


def test_tag_import_decision_follows_311_bookkeeping():
    d = k8s_images.tag_import_decision
    assert d(_decision_stream(), "1") == (False, "")
    assert d(_decision_stream(), "1", refresh=True) == (True, "refresh")
    assert d(None, "1") == (True, "not imported yet")
    assert d(_decision_stream(), "2") == (True, "not imported yet")
    # a spec change (new `from`) gets the stream's generation: newer than the image -> import
    assert d(_decision_stream(spec_gen=3, item_gen=2), "1") == (True, "the spec tag changed since the last import")
    # 3.11 keeps a tag's generation on import/reference policy edits: an imported tag stays imported
    assert d(_decision_stream(spec_gen=2, item_gen=2), "1") == (False, "")
    # a failure condition at the stream's next generation (checkImportFailure) wins over an older image
    needs, why = d(_decision_stream(spec_gen=3, item_gen=2, failed_gen=3), "1")
    assert needs and why.startswith("the last import failed: you may not have access")
    # an older failure (the condition was not rewritten: same reason) behind a newer image: imported
    assert d(_decision_stream(spec_gen=3, item_gen=3, failed_gen=2), "1") == (False, "")
    # repointed spec whose image still comes from the old registry
    needs, why = d(_decision_stream(src="new.test/o/h:1"), "1")
    assert needs and "another registry" in why


def _pull_secret(name, keys, legacy=False):
    entries = dict((k, {"auth": b64("u:p")}) for k in keys)
    if legacy:
        return {"metadata": {"name": name}, "type": "kubernetes.io/dockercfg",
                "data": {".dockercfg": b64(json.dumps(entries))}}
    return {"metadata": {"name": name}, "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": b64(json.dumps({"auths": entries}))}}


def test_registry_secret_names():
    secrets = [_pull_secret("zz-new", ["reg.test:5000"]), _pull_secret("aa-stale", ["https://reg.test:5000/v1/"],
                                                                          legacy=True),
               _pull_secret("other", ["quay.test"]), {"metadata": {"name": "opaque"}, "type": "Opaque", "data": {}},
               _pull_secret("broken", [])]
    assert k8s_images.registry_secret_names(secrets, "reg.test:5000") == ["aa-stale", "zz-new"]
    assert k8s_images.registry_secret_names(secrets, "quay.test:443") == ["other"]
    assert k8s_images.registry_secret_names(secrets, "reg.test") == []      # another port: no match
    excluded = _pull_secret("bb-excluded", ["reg.test:5000"])
    excluded["metadata"]["annotations"] = {"openshift.io/image.excludeSecret": "true"}
    assert k8s_images.registry_secret_names(secrets + [excluded], "reg.test:5000") == ["aa-stale", "zz-new"]


def test_import_failure_hint_for_untrusted_registry_certificates():
    msg = "Internal error occurred: Get https://sa.test:5000/v2/: x509: certificate signed by unknown authority"
    hint = k8s_images.import_failure_hint(msg, "sa.test:5000")
    assert "sa.test:5000" in hint and "imagePolicyConfig.additionalTrustedCA" in hint and "insecure: true" in hint
    assert k8s_images.import_failure_hint('you may not have access to the Docker image "a/b:c"', "a") == ""


def test_import_request_timeout_and_wait_until():
    # 3.11: 2/s after a burst of 3, manifests one after another: 50 tags need well over 30 s
    assert k8s_images.import_request_timeout(30, 1) == 31
    assert k8s_images.import_request_timeout(30, 50) >= 30 + 24 + 50 // 2
    clock = [0.0]
    calls = []

    def fetch():
        calls.append(clock[0])
        return len(calls)

    def sleep(s):
        clock[0] += s
    assert k8s_images.wait_until(fetch, lambda v: v >= 3, 10, sleep, lambda: clock[0]) == 3
    calls[:] = []
    assert k8s_images.wait_until(fetch, lambda v: False, 2, sleep, lambda: clock[0], interval=0.5) == 5


def _repo_isi(images, status="Success", reason=None, message=None, additional=()):
    return {"status": {"repository": {
        "status": dict({"status": status}, **({"reason": reason, "message": message} if reason else {})),
        "images": images, "additionalTags": list(additional)}}}


def _repo_image(tag, digest=None, message=None):
    if digest:
        return {"tag": tag, "status": {"status": "Success"},
                "image": {"metadata": {"name": digest}, "dockerImageReference": "q.test/o/hello@" + digest}}
    return {"tag": tag, "status": {"status": "Failure", "reason": "Unauthorized", "message": message}}


def test_repository_import_body_and_results():
    body = k8s_images.image_stream_import_repository("ns", "hello", "q.test/o/hello", do_import=False,
                                              scheduled=True, resource_version="7")
    assert body["kind"] == "ImageStreamImport" and body["metadata"]["resourceVersion"] == "7"
    assert body["spec"]["import"] is False and "images" not in body["spec"]
    assert body["spec"]["repository"]["from"] == {"kind": "DockerImage", "name": "q.test/o/hello"}
    assert body["spec"]["repository"]["importPolicy"] == {"scheduled": True, "insecure": False}

    ok = k8s_images.repository_import_results(_repo_isi([_repo_image("v1", "sha256:aa"),
                                                  _repo_image("v2", message="manifest unknown")],
                                                 additional=["v0"]))
    assert ok["listed"] and ok["additional_tags"] == ["v0"]
    assert ok["tags"][0] == {"tag": "v1", "digest": "sha256:aa", "reference": "q.test/o/hello@sha256:aa",
                             "imported": True, "message": ""}
    assert ok["tags"][1]["imported"] is False and ok["tags"][1]["message"] == "manifest unknown"

    denied = k8s_images.repository_import_results(_repo_isi([], status="Failure", reason="Unauthorized",
                                                     message="unauthorized: authentication required"))
    assert not denied["listed"] and denied["message"] == "unauthorized: authentication required"
    # an API without repository imports: said plainly, not a KeyError
    assert "status.repository" in k8s_images.repository_import_results({"status": {}})["message"]


def test_repository_import_plan():
    def stream(tags):
        spec, status = [], []
        for name, digest, gen, failed in tags:
            spec.append({"name": name, "from": {"kind": "DockerImage", "name": "q.test/o/hello:" + name},
                         "generation": gen})
            st = {"tag": name, "items": [{"image": digest, "generation": 1,
                                          "dockerImageReference": "q.test/o/hello@" + digest}]}
            if failed:
                st["conditions"] = [{"type": "ImportSuccess", "status": "False", "generation": 2,
                                     "message": "unauthorized"}]
            status.append(st)
        return {"spec": {"tags": spec}, "status": {"tags": status}}

    live = stream([("v1", "sha256:aa", 1, False), ("v2", "sha256:bb", 1, False),
                   ("v3", "sha256:cc", 2, False), ("v4", "sha256:dd", 1, True)])
    upstream = [{"tag": "v1", "digest": "sha256:aa", "reference": "q.test/o/hello@sha256:aa", "imported": True},
                {"tag": "v2", "digest": "sha256:b2", "reference": "q.test/o/hello@sha256:b2", "imported": True},
                {"tag": "v3", "digest": "sha256:cc", "reference": "q.test/o/hello@sha256:cc", "imported": True},
                {"tag": "v4", "digest": "sha256:dd", "reference": "q.test/o/hello@sha256:dd", "imported": True},
                {"tag": "v5", "digest": "sha256:ee", "reference": "q.test/o/hello@sha256:ee", "imported": True},
                {"tag": "v6", "digest": None, "reference": None, "imported": False, "message": "denied"}]
    plan = dict((x["tag"], x) for x in k8s_images.repository_import_plan(live, "q.test/o/hello", upstream))
    assert not plan["v1"]["needs_import"]                      # unchanged
    assert plan["v2"]["why"].startswith("the image changed")   # moved upstream
    assert plan["v3"]["why"] == "the spec tag changed since the last import"
    assert plan["v4"]["why"] == "the last import failed"
    assert plan["v5"]["why"] == "new tag"
    assert plan["v6"]["why"] == "cannot be imported: denied"
    # the same policy asked: nothing; another policy: every imported tag needs the import
    assert all(x["needs_import"] for x in k8s_images.repository_import_plan(
        stream([("v1", "sha256:aa", 1, False)]), "q.test/o/hello", upstream[:1], scheduled=True))
    # a missing stream: everything is new
    assert [x["why"] for x in k8s_images.repository_import_plan(None, "q.test/o/hello", upstream[:2])] == \
        ["new tag", "new tag"]


def test_core_is_python27_compatible():
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    if not os.path.exists(vermin):
        pytest.skip("vermin not installed")
    out = subprocess.run([vermin, "-t=2.7-", "-t=3.6-", "--no-tips", "--violations",
                          os.path.join(ROOT, "plugins/module_utils/k8s.py")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_immutable_changes_are_named():
    live = {"kind": "PersistentVolumeClaim", "metadata": {"name": "registry-claim"}, "status": {"phase": "Pending"},
            "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "5Gi"}}}}
    desired = {"kind": "PersistentVolumeClaim", "metadata": {"name": "registry-claim"},
               "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "10Gi"}}}}
    needs, patch = k8s.compare(desired, live)
    why = k8s.immutable_change(desired, live, patch)
    assert needs and why.startswith("the spec of a PersistentVolumeClaim is immutable")
    assert 'spec.resources.requests.storage: "5Gi" -> "10Gi"' in why
    # a bound claim may grow (expansion), not shrink; the same size in another spelling is no change at all
    bound = dict(live, status={"phase": "Bound"})
    assert k8s.immutable_change(desired, bound, k8s.compare(desired, bound)[1]) is None
    shrink = dict(desired, spec={"resources": {"requests": {"storage": "1Gi"}}})
    assert k8s.immutable_change(shrink, bound, k8s.compare(shrink, bound)[1])
    same = dict(desired, spec={"resources": {"requests": {"storage": "5120Mi"}}})
    assert k8s.compare(same, live) == (False, {})
    # secret type, roleRef
    s_live = {"kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque"}
    s_des = {"kind": "Secret", "metadata": {"name": "s"}, "type": "kubernetes.io/dockerconfigjson"}
    assert "type of a Secret is immutable" in k8s.immutable_change(s_des, s_live, k8s.compare(s_des, s_live)[1])
    rb = {"kind": "RoleBinding", "metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "view"}}
    rb2 = {"kind": "RoleBinding", "metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "edit"}}
    assert "roleRef.name" in k8s.immutable_change(rb2, rb, k8s.compare(rb2, rb)[1])
    assert k8s.immutable_change(desired, live, {}) is None


def test_secret_fingerprints_are_keyed_and_deep_legacy_json_is_an_error():
    # an unsalted sha256 of a short Secret value in a diff allows an offline guess of it
    import base64 as _b64
    import hashlib as _hashlib
    red = k8s.redact({"kind": "Secret", "data": {"password": _b64.b64encode(b"hunter2").decode()}})
    shown = red["data"]["password"]
    assert shown.startswith("<redacted sha256:") and "7 bytes" in shown
    assert _hashlib.sha256(b"hunter2").hexdigest()[:8] not in shown
    # the same value in the same run gets the same marker (a diff can still tell changed from unchanged)
    again = k8s.redact({"kind": "Secret", "data": {"password": _b64.b64encode(b"hunter2").decode()}})
    assert again["data"]["password"] == shown
    deep = "[" * 100000 + "]" * 100000
    secret = {"kind": "Secret", "type": "kubernetes.io/dockercfg",
              "data": {".dockercfg": _b64.b64encode(deep.encode()).decode()}}
    config, problem = k8s._decode_secret_config(secret)
    assert config is None and "nested too deeply" in problem
