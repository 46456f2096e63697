"""Image streams against the lab's OKD 3.11 API stand-in and its Quay-/Red Hat-like registries.

Imports fail with OKD 3.11's `you may not have access to the Docker image` while the namespace has no pull
secret (the toolkit adds which registry and which secret),
succeed after okd_registry_secrets creates it (status tags carry the registries' real digests), reruns
make no changing request, streams still naming an old registry are found and repointed, check mode only
reads, and secrets never reach -vvv output. `all: true` imports every tag of a repository (spec.repository,
like `oc import-image --all`) and picks up tags pushed upstream later.
"""
import base64
import json
import urllib.parse
import uuid

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

    # 1. no pull secret for Quay in the namespace: the import fails with 3.11's text, and the toolkit says
    #    which registry and that no secret of the namespace has an entry for it
    p, data = playbook(lab, "image_streams.yml", tmp_path)
    assert p.returncode != 0
    assert 'you may not have access to the Docker image \\"%s/laborg/hello:1.0\\"' % quay["host"] in p.stdout, \
        p.stdout[-3000:]
    assert "registry %s: no pull secret in namespace %s has an entry for it" % (quay["host"], NS) in p.stdout
    assert "lab-apps/hello:1.0 from %s/laborg/hello:1.0" % quay["host"] in p.stdout
    stream = _stream(apis, NS, STREAM)
    assert [t["from"]["name"] for t in stream["spec"]["tags"]] == [
        "%s/laborg/hello:1.0" % quay["host"], "%s/laborg/hello:1.1" % quay["host"]]
    cond = _condition(stream, "1.0")
    assert cond.get("type") == "ImportSuccess" and cond.get("status") == "False"
    assert cond.get("reason") == "Unauthorized"
    assert cond.get("message") == 'you may not have access to the Docker image "%s/laborg/hello:1.0"' % quay["host"]
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


# ---------------------------------------------------------------------------------- every tag (--all)
def _isi_posts(log, ns):
    """spec.import of every ImageStreamImport POST in ns since mark() (the request log records it)."""
    return [r.get("import") for r in log.since()
            if r.get("method") == "POST" and r.get("path", "").endswith("/namespaces/%s/imagestreamimports" % ns)]


def _writes(log, ns, name):
    """Changing requests on the stream's paths, leaving out the read-only previews (ImageStreamImport with
    spec.import false, `oc import-image --dry-run`, which the request log marks "import": false)."""
    return [r for r in log.changing(*_paths(ns, name)) if r.get("import") is not False]


def _robot(lab):
    for a in _quay(lab)["accounts"]:
        if not a.get("revoked") and not a.get("push") and "laborg/*" in (a.get("pull") or []):
            return a
    pytest.fail("no pull-only quay account for laborg/*")


def _fresh_namespace(apis, with_pull_secret, lab):
    """A new namespace (no other test writes there), optionally with a Quay pull secret (robot account)."""
    ns = "t-isall-" + uuid.uuid4().hex[:8]
    apis[0].create_namespace({"metadata": {"name": ns}})
    if with_pull_secret:
        _add_pull_secret(apis, ns, lab)
    return ns


def _add_pull_secret(apis, ns, lab):
    acct = _robot(lab)
    auth = base64.b64encode(("%s:%s" % (acct["username"], acct["password"])).encode()).decode()
    cfg = json.dumps({"auths": {_quay(lab)["host"]: {"auth": auth}}})
    apis[0].create_namespaced_secret(ns, {"metadata": {"name": "quay-pull"}, "type": "kubernetes.io/dockerconfigjson",
                                          "data": {".dockerconfigjson": base64.b64encode(cfg.encode()).decode()}})


def _registry_digest(lab, repo, tag):
    """The manifest digest the lab's Quay serves now (HEAD with a robot token, from the controller)."""
    from lab.images import fetch_token, remote_digest
    from lab.state import GATEWAY
    quay, acct = _quay(lab), _robot(lab)
    realm = urllib.parse.urlsplit(quay["realm"])
    code, tok = fetch_token(GATEWAY, realm.netloc, realm.path, lab["ca_file"], quay["service"],
                            ["repository:%s:pull" % repo], acct["username"], acct["password"])
    assert code == 200, tok
    return remote_digest(GATEWAY, quay["host"], lab["ca_file"], tok.get("token") or tok["access_token"], repo, tag)


def _spec_froms(stream):
    return dict((t["name"], t["from"]["name"]) for t in (stream.get("spec") or {}).get("tags") or [])


def _stream_or_none(apis, ns, name):
    from kubernetes.client.rest import ApiException
    try:
        return _stream(apis, ns, name)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def test_import_all_tags_of_a_repository(lab, apis, tmp_path):
    """`all: true` = `oc import-image hello --from=QUAY/laborg/hello --all --confirm`: unauthorized without the
    pull secret (nothing written), then every tag of the lab's third-party image with the registry's digest;
    check mode and reruns only read (the preview ImageStreamImport with spec.import false)."""
    quay = _quay(lab)
    source = "%s/laborg/hello" % quay["host"]
    tags = sorted(i.split(":", 1)[1] for i in quay["images"] if i.startswith("laborg/hello:"))
    assert len(tags) >= 3
    ns = _fresh_namespace(apis, False, lab)
    try:
        args = {"kubeconfig": lab["api"]["kubeconfig"], "namespace": ns, "name": "hello", "source": source,
                "all": True}
        # 1. no pull secret in the namespace: the registry's `unauthorized`, nothing created, no import sent
        log = RequestLog(lab).mark()
        rc, res, out = run_module("okd_image_import", args, tmp_path)
        assert rc != 0, out[-2000:]
        assert "unauthorized" in res["msg"].lower() and "could not be listed" in res["msg"], res["msg"]
        assert source in res["msg"] and ns in res["msg"]
        assert _isi_posts(log, ns) == [False] and _writes(log, ns, "hello") == []
        assert _stream_or_none(apis, ns, "hello") is None
        rc, res, out = run_module("okd_image_import", args, tmp_path, check=True)   # check mode: a warning
        assert rc == 0 and any("unauthorized" in w.lower() for w in res.get("warnings", [])), out[-2000:]

        # 2. with the pull secret, check mode tells what would be imported and writes nothing
        _add_pull_secret(apis, ns, lab)
        log.mark()
        rc, res, out = run_module("okd_image_import", args, tmp_path, check=True)
        assert rc == 0 and res["changed"] is True, out[-2000:]
        assert sorted(res["imported"]) == ["hello:%s" % t for t in tags]
        assert dict((t["tag"], t["digest"]) for t in res["tags"]) == dict(
            (t, quay["digests"]["laborg/hello:%s" % t]) for t in tags)
        assert _isi_posts(log, ns) == [False] and _writes(log, ns, "hello") == []
        assert _stream_or_none(apis, ns, "hello") is None

        # 3. the import: one spec tag SOURCE:TAG per tag, status digests = what the registry serves
        log.mark()
        rc, res, out = run_module("okd_image_import", args, tmp_path)
        assert rc == 0 and res["changed"] is True, out[-2000:]
        assert _isi_posts(log, ns) == [False, True]
        stream = _stream(apis, ns, "hello")
        assert _spec_froms(stream) == dict((t, "%s:%s" % (source, t)) for t in tags)
        for t in tags:
            want = _registry_digest(lab, "laborg/hello", t)
            assert want == quay["digests"]["laborg/hello:%s" % t]
            assert _status_digest(stream, t) == want and not _condition(stream, t)
        assert dict((t["tag"], (t["digest"], t["imported"], t["changed"])) for t in res["tags"]) == dict(
            (t, (quay["digests"]["laborg/hello:%s" % t], True, True)) for t in tags)

        # 4. rerun and check-mode rerun: unchanged, nothing but the read-only preview
        rv = stream["metadata"]["resourceVersion"]
        log.mark()
        rc, res, out = run_module("okd_image_import", args, tmp_path)
        assert rc == 0 and res["changed"] is False and res["imported"] == [], out[-2000:]
        rc, res, out = run_module("okd_image_import", args, tmp_path, check=True)
        assert rc == 0 and res["changed"] is False and res["imported"] == []
        assert _isi_posts(log, ns) == [False, False] and _writes(log, ns, "hello") == []
        assert _stream(apis, ns, "hello")["metadata"]["resourceVersion"] == rv
        # refresh sends the import; OKD leaves the stream alone when nothing changed
        log.mark()
        rc, res, out = run_module("okd_image_import", dict(args, refresh=True), tmp_path)
        assert rc == 0 and res["changed"] is False and sorted(res["imported"]) == ["hello:%s" % t for t in tags]
        assert _isi_posts(log, ns) == [False, True]
        assert _stream(apis, ns, "hello")["metadata"]["resourceVersion"] == rv
        # tags and all together are refused
        rc, res, out = run_module("okd_image_import", dict(args, tags=["1.0"]), tmp_path)
        assert rc != 0 and "do not list tags" in res["msg"]
    finally:
        delete_quietly(apis[0].delete_namespace, ns)


def test_import_all_picks_up_new_upstream_tags(lab, apis, lab_exec, tmp_path):
    """A fresh Quay repository: tag `a` imported; `b` pushed upstream -> check mode says so, a rerun imports
    only it; `a` moved upstream -> re-imported with history; then unchanged again."""
    from test_api import _push
    quay = _quay(lab)
    repo = "laborg/isall-" + uuid.uuid4().hex[:8]
    source = "%s/%s" % (quay["host"], repo)
    one, two = quay["digests"]["laborg/hello:1.0"], quay["digests"]["laborg/hello:1.1"]
    ns = _fresh_namespace(apis, True, lab)
    try:
        _push(lab, lab_exec, "laborg/hello:1.0", repo + ":a")
        args = {"kubeconfig": lab["api"]["kubeconfig"], "namespace": ns, "name": "fresh", "source": source,
                "all": True}
        rc, res, out = run_module("okd_image_import", args, tmp_path)
        assert rc == 0 and res["changed"] is True, out[-2000:]
        stream = _stream(apis, ns, "fresh")
        assert _spec_froms(stream) == {"a": source + ":a"} and _status_digest(stream, "a") == one
        a_before = [t for t in stream["status"]["tags"] if t["tag"] == "a"][0]

        # a new tag upstream
        _push(lab, lab_exec, "laborg/hello:1.1", repo + ":b")
        assert _registry_digest(lab, repo, "b") == two
        log = RequestLog(lab).mark()
        rc, res, out = run_module("okd_image_import", args, tmp_path, check=True)
        assert rc == 0 and res["changed"] is True and res["imported"] == ["fresh:b"], out[-2000:]
        assert [t["why"] for t in res["tags"] if t["tag"] == "b"] == ["new tag"]
        assert _writes(log, ns, "fresh") == []
        rc, res, out = run_module("okd_image_import", args, tmp_path)
        assert rc == 0 and res["changed"] is True and res["imported"] == ["fresh:b"], out[-2000:]
        assert dict((t["tag"], t["changed"]) for t in res["tags"]) == {"a": False, "b": True}
        stream = _stream(apis, ns, "fresh")
        assert _spec_froms(stream) == {"a": source + ":a", "b": source + ":b"}
        assert _status_digest(stream, "b") == two
        assert [t for t in stream["status"]["tags"] if t["tag"] == "a"][0] == a_before

        # tag `a` moved upstream: re-imported, the old image stays in its history
        _push(lab, lab_exec, "laborg/hello:1.1", repo + ":a")
        assert _registry_digest(lab, repo, "a") == two
        rc, res, out = run_module("okd_image_import", args, tmp_path)
        assert rc == 0 and res["changed"] is True and res["imported"] == ["fresh:a"], out[-2000:]
        a_after = [t for t in _stream(apis, ns, "fresh")["status"]["tags"] if t["tag"] == "a"][0]
        assert [i["image"] for i in a_after["items"]] == [two, one]

        log.mark()
        rc, res, out = run_module("okd_image_import", args, tmp_path)
        assert rc == 0 and res["changed"] is False and res["imported"] == []
        assert _writes(log, ns, "fresh") == [] and _isi_posts(log, ns) == [False]
    finally:
        delete_quietly(apis[0].delete_namespace, ns)


def test_role_imports_all_tags(lab, apis, tmp_path):
    """okd_image_streams_list items with `all: true` (role okd_image_streams); a rerun changes nothing."""
    quay = _quay(lab)
    source = "%s/laborg/hello" % quay["host"]
    tags = sorted(i.split(":", 1)[1] for i in quay["images"] if i.startswith("laborg/hello:"))
    ns = _fresh_namespace(apis, True, lab)
    try:
        extra = {"okd_image_streams_list": [{"namespace": ns, "name": "hello-all", "from": source, "all": True}]}
        p, data = playbook(lab, "image_streams.yml", tmp_path, extra=extra)
        assert p.returncode == 0, p.stdout[-3000:]
        stream = _stream(apis, ns, "hello-all")
        assert _spec_froms(stream) == dict((t, "%s:%s" % (source, t)) for t in tags)
        assert dict((t, _status_digest(stream, t)) for t in tags) == dict(
            (t, quay["digests"]["laborg/hello:%s" % t]) for t in tags)
        log = RequestLog(lab).mark()
        p, data = playbook(lab, "image_streams.yml", tmp_path, extra=extra)
        assert p.returncode == 0, p.stdout[-3000:]
        assert [n for n, r in _task_results(data) if r.get("changed")] == []
        assert _writes(log, ns, "hello-all") == [] and _isi_posts(log, ns) == [False]
        # an item with both tags and all is refused before anything is done
        bad = {"okd_image_streams_list": [dict(extra["okd_image_streams_list"][0], tags=["1.0"])]}
        p, data = playbook(lab, "image_streams.yml", tmp_path, extra=bad)
        assert p.returncode != 0 and "either tags or all" in p.stdout
    finally:
        delete_quietly(apis[0].delete_namespace, ns)


def test_stream_tags_named_unlike_their_source_tags(lab, apis, tmp_path):
    """3.11 answers status.images[].tag with the *source* tag (importer.go). Stream tags whose names are
    other source tags (here swapped: `1.0` imports `:1.1`, `1.1` imports `:1.0`) must still be reported
    with their own images; reading the answer by its tag field gave each the other's digest."""
    quay = _quay(lab)
    ns = _fresh_namespace(apis, True, lab)
    src = "%s/laborg/hello" % quay["host"]
    try:
        apis[1].create_namespaced_custom_object(GROUP, VERSION, ns, "imagestreams", {
            "apiVersion": "image.openshift.io/v1", "kind": "ImageStream", "metadata": {"name": "swap"},
            "spec": {"tags": [{"name": "1.0", "from": {"kind": "DockerImage", "name": src + ":1.1"}},
                              {"name": "1.1", "from": {"kind": "DockerImage", "name": src + ":1.0"}}]}})
        args = {"kubeconfig": lab["api"]["kubeconfig"], "namespace": ns, "name": "swap", "refresh": True,
                "wait_timeout": 5}
        rc, res, out = run_module("okd_image_import", args, tmp_path)
        assert rc == 0, out[-2000:]
        assert dict((t["tag"], t["digest"]) for t in res["tags"]) == {
            "1.0": quay["digests"]["laborg/hello:1.1"], "1.1": quay["digests"]["laborg/hello:1.0"]}
        stream = _stream(apis, ns, "swap")
        assert _status_digest(stream, "1.0") == quay["digests"]["laborg/hello:1.1"]
    finally:
        delete_quietly(apis[0].delete_namespace, ns)


def test_several_pull_secrets_for_one_registry_warn_and_name_the_one_used(lab, apis, tmp_path):
    """3.11 imports with the first matching credential only (importer/credentials.go); a stale secret that
    sorts first breaks imports. The module warns, and its failure names the secret OKD used."""
    quay = _quay(lab)
    ns = _fresh_namespace(apis, True, lab)            # quay-pull: the robot's good credentials
    try:
        bad = json.dumps({"auths": {quay["host"]: {"auth": base64.b64encode(b"laborg+robot:stale").decode()}}})
        apis[0].create_namespaced_secret(ns, {"metadata": {"name": "a-stale-quay"},
                                              "type": "kubernetes.io/dockerconfigjson",
                                              "data": {".dockerconfigjson": base64.b64encode(bad.encode()).decode()}})
        args = {"kubeconfig": lab["api"]["kubeconfig"], "namespace": ns, "name": "two",
                "source": "%s/laborg/hello" % quay["host"], "tags": ["1.0"], "fail_on_import_error": False}
        rc, res, out = run_module("okd_image_import", args, tmp_path)
        assert rc == 0, out[-2000:]
        warn = " ".join(res.get("warnings") or [])
        assert "holds 2 pull secrets for registry %s (a-stale-quay, quay-pull)" % quay["host"] in warn, warn
        stale_auth = base64.b64encode(b"laborg+robot:stale").decode()
        assert stale_auth not in out and "robot:stale" not in out           # no secret value anywhere
    finally:
        delete_quietly(apis[0].delete_namespace, ns)
