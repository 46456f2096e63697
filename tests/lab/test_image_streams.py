"""Image streams against the lab's OKD 3.11 API stand-in and its Quay-/Red Hat-like registries.

Imports fail with the registry's own `unauthorized` message while the namespace has no pull secret,
succeed after okd_registry_secrets creates it (status tags carry the registries' real digests), reruns
make no changing request, streams still naming an old registry are found and repointed, check mode only
reads, and secrets never reach -vvv output.
"""
import pytest

from test_cluster_secrets import (RequestLog, delete_quietly, inventory_registries, kube, playbook,  # noqa: E501
                                  run_module)

NS = "lab-apps"
STREAM = "hello"
GROUP, VERSION = "image.openshift.io", "v1"


@pytest.fixture(scope="module")
def apis(lab):
    return kube(lab)


def _stream(apis, ns, name):
    return apis[1].get_namespaced_custom_object(GROUP, VERSION, ns, "imagestreams", name)


def _delete_stream(apis, ns, name):
    delete_quietly(apis[1].delete_namespaced_custom_object, GROUP, VERSION, ns, "imagestreams", name)


def _status_digest(stream, tag):
    for t in (stream.get("status") or {}).get("tags") or []:
        if t["tag"] == tag and t.get("items"):
            return t["items"][0]["image"]
    return None


def _condition(stream, tag):
    for t in (stream.get("status") or {}).get("tags") or []:
        if t["tag"] == tag:
            return (t.get("conditions") or [{}])[0]
    return {}


def _paths(ns, name):
    return ("/namespaces/%s/imagestreams/%s" % (ns, name), "/namespaces/%s/imagestreamimports" % ns,
            "/namespaces/%s/imagestreams" % ns, "/namespaces/%s/secrets" % ns)


def _quay(lab):
    return lab["registries"]["quay"]


def test_import_needs_the_pull_secret_then_succeeds_with_real_digests(lab, apis, tmp_path):
    core = apis[0]
    quay = _quay(lab)
    delete_quietly(core.delete_namespaced_secret, "quay-pull", NS)
    _delete_stream(apis, NS, STREAM)

    # 1. no pull secret for Quay in the namespace: the import fails with the registry's message
    p, data = playbook(lab, "image_streams.yml", tmp_path)
    assert p.returncode != 0
    assert "unauthorized" in p.stdout.lower(), p.stdout[-3000:]
    assert "lab-apps/hello:1.0 from %s/laborg/hello:1.0" % quay["host"] in p.stdout
    stream = _stream(apis, NS, STREAM)
    assert [t["from"]["name"] for t in stream["spec"]["tags"]] == [
        "%s/laborg/hello:1.0" % quay["host"], "%s/laborg/hello:1.1" % quay["host"]]
    cond = _condition(stream, "1.0")
    assert cond.get("type") == "ImportSuccess" and cond.get("status") == "False"
    assert "unauthorized" in cond.get("message", "").lower()
    assert _status_digest(stream, "1.0") is None

    # 2. the secrets role creates the pull secret; the same playbook now imports, with real digests
    p, _ = playbook(lab, "cluster_registry_secrets.yml", tmp_path)
    assert p.returncode == 0, p.stdout[-3000:]
    log = RequestLog(lab).mark()
    p, data = playbook(lab, "image_streams.yml", tmp_path)
    assert p.returncode == 0, p.stdout[-3000:]
    stream = _stream(apis, NS, STREAM)
    for tag in ("1.0", "1.1"):
        assert _status_digest(stream, tag) == quay["digests"]["laborg/hello:%s" % tag]
        assert not _condition(stream, tag)
    # the failed tags were re-imported through imagestreamimports (like `oc import-image`)
    assert [r["method"] for r in log.changing("/namespaces/%s/imagestreamimports" % NS)] == ["POST"]
    assert quay["digests"]["laborg/hello:1.0"] in p.stdout  # per-tag report

    # 3. rerun: no changing request, nothing reported changed
    log.mark()
    p, data = playbook(lab, "image_streams.yml", tmp_path)
    assert p.returncode == 0
    assert log.changing(*_paths(NS, STREAM)) == []
    assert [n for n, r in _task_results(data) if r.get("changed")] == []

    # 4. refresh re-imports (a POST) but reports unchanged when the digests are the same
    log.mark()
    p, data = playbook(lab, "image_streams.yml", tmp_path, extra={"okd_image_streams_refresh": True})
    assert p.returncode == 0
    assert [r["method"] for r in log.changing(*_paths(NS, STREAM))] == ["POST"]
    assert [n for n, r in _task_results(data) if r.get("changed")] == []


def _task_results(data):
    from test_cluster_secrets import task_results
    return task_results(data)


def test_module_results_and_check_mode(lab, apis, tmp_path):
    quay = _quay(lab)
    kc = lab["api"]["kubeconfig"]
    name = "hello-check"
    _delete_stream(apis, NS, name)
    args = {"kubeconfig": kc, "namespace": NS, "name": name, "source": "%s/laborg/hello" % quay["host"],
            "tags": ["1.0", "latest"]}
    log = RequestLog(lab).mark()
    rc, res, out = run_module("okd_image_import", args, tmp_path, check=True)
    assert rc == 0 and res["changed"] is True
    assert res["imported"] == ["%s:1.0" % name, "%s:latest" % name]
    assert log.changing(*_paths(NS, name)) == []
    rc, res, out = run_module("okd_image_import", args, tmp_path)
    assert rc == 0 and res["changed"] is True, out[-2000:]
    assert dict((t["tag"], (t["digest"], t["imported"])) for t in res["tags"]) == {
        "1.0": (quay["digests"]["laborg/hello:1.0"], True),
        "latest": (quay["digests"]["laborg/hello:latest"], True)}
    log.mark()
    rc, res, out = run_module("okd_image_import", args, tmp_path, check=True)
    assert rc == 0 and res["changed"] is False and res["imported"] == []
    rc, res, out = run_module("okd_image_import", args, tmp_path)
    assert rc == 0 and res["changed"] is False
    assert log.changing(*_paths(NS, name)) == []
    # a tag that does not exist in the registry: the registry's own error, task fails
    rc, res, out = run_module("okd_image_import", dict(args, tags=["9.9"]), tmp_path)
    assert rc != 0
    assert "%s/%s:9.9" % (NS, name) in res["msg"]
    assert [t for t in res["tags"] if t["tag"] == "9.9"][0]["imported"] is False
    rc, res, out = run_module("okd_image_import", dict(args, tags=["9.9"], fail_on_import_error=False), tmp_path)
    assert rc == 0 and res["tags"][0]["message"]
    _delete_stream(apis, NS, name)


def test_repoint_streams_from_the_old_registry(lab, apis, tmp_path):
    """Streams in `openshift` still naming registry.access.redhat.com: found, repointed, imported with the
    imagestreamsecret."""
    redhat = lab["registries"]["redhat"]
    old = "registry.access.redhat.com"
    image = [i for i in redhat["images"] if i.startswith("openshift3/ose-pod:")][0]
    repo, tag = image.split(":")
    name = "okd-test-ose-pod"
    _delete_stream(apis, "openshift", name)
    p, _ = playbook(lab, "cluster_registry_secrets.yml", tmp_path)  # imagestreamsecret present
    assert p.returncode == 0
    apis[1].create_namespaced_custom_object(GROUP, VERSION, "openshift", "imagestreams", {
        "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": name, "namespace": "openshift"},
        "spec": {"tags": [{"name": tag, "from": {"kind": "DockerImage", "name": "%s/%s:%s" % (old, repo, tag)}}]}})
    kc = lab["api"]["kubeconfig"]
    check = {"kubeconfig": kc, "namespace": "openshift", "expected_registry": redhat["host"],
             "fail_on_import_error": False}
    rc, res, out = run_module("okd_image_import", check, tmp_path)
    assert rc == 0
    assert {"stream": name, "tag": tag, "from": "%s/%s:%s" % (old, repo, tag)} in res["mismatches"]
    rc, res, out = run_module("okd_image_import", dict(check, fail_on_registry_mismatch=True), tmp_path)
    assert rc != 0 and name in res["msg"] and old in res["msg"]

    # check mode: says what would be repointed, changes nothing
    repoint = {"kubeconfig": kc, "namespace": "openshift", "name": name, "repoint_from": old,
               "repoint_to": redhat["host"], "expected_registry": redhat["host"]}
    log = RequestLog(lab).mark()
    rc, res, out = run_module("okd_image_import", repoint, tmp_path, check=True)
    assert rc == 0 and res["changed"] is True and res["streams"][0]["repointed"] == [tag]
    assert log.changing(*_paths("openshift", name)) == []
    assert _stream(apis, "openshift", name)["spec"]["tags"][0]["from"]["name"].startswith(old)

    rc, res, out = run_module("okd_image_import", repoint, tmp_path)
    assert rc == 0 and res["changed"] is True, out[-2000:]
    assert res["mismatches"] == []
    stream = _stream(apis, "openshift", name)
    assert stream["spec"]["tags"][0]["from"]["name"] == "%s/%s:%s" % (redhat["host"], repo, tag)
    assert _status_digest(stream, tag) == redhat["digests"][image]
    log.mark()
    rc, res, out = run_module("okd_image_import", repoint, tmp_path)
    assert rc == 0 and res["changed"] is False and res["streams"][0]["repointed"] == []
    assert log.changing(*_paths("openshift", name)) == []
    _delete_stream(apis, "openshift", name)


def test_secrets_never_in_verbose_output(lab, tmp_path):
    p, _ = playbook(lab, "image_streams.yml", tmp_path, args=["-vvv", "--diff"], json_output=False)
    assert p.returncode == 0, p.stdout[-3000:]
    text = p.stdout + p.stderr
    for reg in lab["registries"].values():
        for a in reg["accounts"]:
            assert a["password"] not in text
    assert lab["api"]["tokens"]["admin"] not in text
    for r in inventory_registries(lab):
        assert r["password"] not in text
