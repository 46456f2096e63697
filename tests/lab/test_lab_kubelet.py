"""The lab runs what the DeploymentConfig says (issue 14): the lab kubelet (lab/kubelet.py) runs the
registry the role provisions as the OpenShift registry process (lab/okdregistry.py).

Each test asserts what a real client sees: TLS verified against the lab CA under the service name and the
route host, skopeo pushing and pulling with OKD tokens, the image stream tag in the API, the DC's status
with the process's own error, the process id across a re-run of the role.
"""
import base64
import hashlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import labtools
from labtools import recap

REPO = Path(__file__).resolve().parents[2]
SERVICE = "docker-registry.default.svc"
PORT = 5000
ROUTE_HOST = "docker-registry-default.router.default.svc.cluster.local"
SCRATCH = "lab-kubelet-test"
WAIT = 90        # seconds before a poll gives up (a failure, not a timing assertion)


# ------------------------------------------------------------------------------------------ helpers
class Api(object):
    def __init__(self, lab, token=None):
        self.url = lab["api"]["url"]
        self.token = token or lab["api"]["tokens"]["admin"]
        self.ctx = ssl.create_default_context(cafile=lab["ca_file"])

    def __call__(self, method, path, body=None, token=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + (token or self.token),
                                              "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw or b"{}")
            except ValueError:
                return e.code, {"message": raw.decode("utf-8", "replace")}


def poll(what, fn, timeout=WAIT, interval=0.3):
    """fn() until it returns something truthy; fails naming `what` and the last value otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    pytest.fail("%s: not reached; last: %r" % (what, last))


def https_get(host, port, path, ca, auth=None, server_hostname=None):
    """(status, headers dict, body) of GET https://host:port/path with certificate verification."""
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=20)
    try:
        headers = {}
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(("unused:%s" % auth).encode()).decode()
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        conn.close()


def condition(obj, ctype):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), {})


def pod_pids(lab, ns, name_prefix):
    """{pod name: pid} of the kubelet's live pod processes of pods named name_prefix* in ns."""
    out = {}
    api = Api(lab)
    _, pods = api("GET", "/api/v1/namespaces/%s/pods" % ns)
    uids = dict((p["metadata"]["uid"], p["metadata"]["name"]) for p in pods.get("items") or []
                if p["metadata"]["name"].startswith(name_prefix))
    for f in Path(lab["state_dir"], "hosts").glob("*/pods/*/pid"):
        info = json.loads(f.read_text())
        if info.get("uid") in uids and os.path.exists("/proc/%d" % info["pid"]):
            out[uids[info["uid"]]] = info["pid"]
    return out


def kubelet_ready(api, ns, name_prefix):
    """The pods named name_prefix* whose container the kubelet reported ready (the API's rollout alone
    records pods as running at once; only the kubelet writes containerStatuses)."""
    _, pods = api("GET", "/api/v1/namespaces/%s/pods" % ns)
    out = [p for p in pods.get("items") or [] if p["metadata"]["name"].startswith(name_prefix)
           and [c for c in (p.get("status") or {}).get("containerStatuses") or [] if c.get("ready") is True
                and "running" in (c.get("state") or {})]]
    return out


def cert_dir(lab):
    d = tempfile.mkdtemp(prefix="kubelet-test-certs-")
    shutil.copy(lab["ca_file"], os.path.join(d, "ca.crt"))
    return d


def authfile(directory, user, token):
    """A 0600 auth file (in the test's private 0700 directory) for the registry's service and route names:
    tokens are never put on a command line (house rule: visible in ps)."""
    import base64
    auth = base64.b64encode(("%s:%s" % (user, token)).encode()).decode()
    path = os.path.join(directory, "auth-%s.json" % user)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"auths": {"%s:%d" % (SERVICE, PORT): {"auth": auth}, ROUTE_HOST: {"auth": auth}}}, f)
    return path


def skopeo(*args, timeout=120):
    r = subprocess.run(["skopeo"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def source_image(lab):
    """A small image from the lab's image cache (an OCI layout on the machine)."""
    layout = Path(lab["state_dir"], "images", "oci")
    names = [m.get("annotations", {}).get("org.opencontainers.image.ref.name")
             for m in json.loads((layout / "index.json").read_text())["manifests"]]
    name = next(n for n in names if n and n.startswith("quay_laborg_hello"))
    return "oci:%s:%s" % (layout, name)


def sa_token(api, ns, sa):
    def find():
        _, secs = api("GET", "/api/v1/namespaces/%s/secrets" % ns)
        for s in secs.get("items") or []:
            if s.get("type") == "kubernetes.io/service-account-token" and \
                    (s["metadata"].get("annotations") or {}).get("kubernetes.io/service-account.name") == sa:
                return base64.b64decode(s["data"]["token"]).decode()
        return None
    return poll("token secret of %s/%s" % (ns, sa), find)


def delete_namespace(api, ns):
    api("DELETE", "/api/v1/namespaces/%s" % ns)
    poll("namespace %s gone" % ns, lambda: api("GET", "/api/v1/namespaces/%s" % ns)[0] == 404)


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def api(lab):
    return Api(lab)


@pytest.fixture(scope="module")
def registry(lab, api):
    """The role's registry, running: the playbook applied, the DC Available, the process answering."""
    rc, out = labtools.run_playbook("playbooks/integrated_registry.yml")
    assert rc == 0, out[-4000:]

    def available():
        _, dc = api("GET", "/apis/apps.openshift.io/v1/namespaces/default/deploymentconfigs/docker-registry")
        prefix = "docker-registry-%s-" % (dc.get("status") or {}).get("latestVersion")
        pids = pod_pids(lab, "default", prefix)
        return condition(dc, "Available").get("status") == "True" and pids and \
            kubelet_ready(api, "default", prefix) and (dc, pids)
    dc, pids = poll("docker-registry Available with a running process", available)
    return {"dc": dc, "pids": pids}


@pytest.fixture
def scratch(api):
    """A scratch namespace, removed afterwards (its pods' processes stop with it)."""
    if api("GET", "/api/v1/namespaces/" + SCRATCH)[0] == 200:
        delete_namespace(api, SCRATCH)
    code, body = api("POST", "/api/v1/namespaces", {"metadata": {"name": SCRATCH}})
    assert code == 201, body
    yield SCRATCH
    delete_namespace(api, SCRATCH)


# ------------------------------------------------------------------------------------------ tests
def test_registry_answers_v2_over_tls_under_service_and_route_names(lab, registry, lab_exec):
    ca = lab["ca_file"]
    admin = lab["api"]["tokens"]["admin"]
    # the service name, from the machine (the kubelet's names are in its /etc/hosts block)
    code, headers, _ = https_get(SERVICE, PORT, "/v2/", ca)
    assert code == 401, code
    assert headers["www-authenticate"] == 'Bearer realm="https://%s:%d/openshift/token"' % (SERVICE, PORT)
    assert https_get(SERVICE, PORT, "/v2/", ca, auth=admin)[0] == 200
    assert https_get(SERVICE, PORT, "/healthz", ca)[0] == 200
    # the token endpoint gives back the API token for docker clients (token.go)
    code, _, body = https_get(SERVICE, PORT, "/openshift/token", ca, auth=admin)
    assert code == 200 and json.loads(body.decode())["token"] == admin
    assert https_get(SERVICE, PORT, "/openshift/token", ca, auth="not-a-token")[0] == 401
    # the route host through the lab's router (passthrough: the registry's own certificate)
    code, headers, _ = https_get(ROUTE_HOST, 443, "/v2/", ca, auth=admin)
    assert code == 200, code
    # and from a lab host, with the lab CA, by name
    r = lab_exec("node1", "curl -sS -o /dev/null -w '%%{http_code}' --cacert /etc/docker/certs.d/%s/ca.crt "
                          "https://%s:%d/healthz"
                 % (lab["registries"]["redhat"]["host"], SERVICE, PORT))
    assert r.stdout.strip() == "200", r.stdout + r.stderr
    # the certificate secret is mounted as private files under the pod's root, the env path resolves to it
    pod, _ = next(iter(registry["pids"].items()))
    _, p = Api(lab)("GET", "/api/v1/namespaces/default/pods/" + pod)
    d = Path(lab["state_dir"], "hosts", p["spec"]["nodeName"].split(".")[0], "pods", p["metadata"]["uid"])
    certs = d / "root" / "etc" / "secrets"
    assert oct(os.stat(str(certs.resolve())).st_mode & 0o777) == "0o700"
    assert oct(os.stat(str(certs / "registry.key")).st_mode & 0o777) == "0o400"
    assert (d / "root" / "etc" / "secrets" / "registry.crt").read_bytes().startswith(b"-----BEGIN CERTIFICATE")


def test_service_account_push_reaches_the_image_stream_and_readonly_cannot_push(lab, api, registry, scratch):
    token = sa_token(api, scratch, "builder")
    certs = cert_dir(lab)
    digest_file = os.path.join(certs, "digest")
    dest = "docker://%s:%d/%s/hello:v1" % (SERVICE, PORT, scratch)
    try:
        rc, out, err = skopeo("copy", "--format", "v2s2", "--dest-cert-dir", certs, "--digestfile", digest_file,
                              "--dest-authfile", authfile(certs, "serviceaccount", token), source_image(lab), dest)
        assert rc == 0, err
        digest = open(digest_file).read().strip()
        assert digest.startswith("sha256:")
        # the registry mapped it: the stream was created (the pusher may) and the tag points at the digest
        code, ist = api("GET", "/apis/image.openshift.io/v1/namespaces/%s/imagestreamtags/hello:v1" % scratch)
        assert code == 200, ist
        assert ist["image"]["metadata"]["name"] == digest
        assert ist["image"]["dockerImageReference"] == "%s:%d/%s/hello@%s" % (SERVICE, PORT, scratch, digest)
        # readonly pulls it back through the route ...
        ro = lab["api"]["tokens"]["readonly"]
        rc, out, err = skopeo("inspect", "--raw", "--cert-dir", certs, "--authfile", authfile(certs, "readonly", ro),
                              "docker://%s/%s/hello:v1" % (ROUTE_HOST, scratch))
        assert rc == 0, err
        # ... and cannot push: refused, and no tag appears
        rc, out, err = skopeo("copy", "--format", "v2s2", "--dest-cert-dir", certs, "--dest-authfile", authfile(certs, "readonly", ro),
                              source_image(lab), "docker://%s:%d/%s/other:v1" % (SERVICE, PORT, scratch))
        assert rc != 0
        assert "unauthorized" in err.lower() or "authentication required" in err.lower(), err
        assert api("GET", "/apis/image.openshift.io/v1/namespaces/%s/imagestreams/other" % scratch)[0] == 404
        # a service account of another namespace cannot push here either
        other = sa_token(api, "default", "builder")
        rc, out, err = skopeo("copy", "--format", "v2s2", "--dest-cert-dir", certs, "--dest-authfile", authfile(certs, "x", other),
                              source_image(lab), "docker://%s:%d/%s/other:v1" % (SERVICE, PORT, scratch))
        assert rc != 0 and api("GET", "/apis/image.openshift.io/v1/namespaces/%s/imagestreams/other"
                               % scratch)[0] == 404, err
    finally:
        shutil.rmtree(certs, ignore_errors=True)


def test_push_by_digest_fails_like_3_11_and_changes_no_stream(lab, api, registry, scratch):
    """image-registry 3.11 maps a manifest pushed by digest with tag "" (manifestservice.go Put); 3.11's API
    refuses an untagged ImageStreamMapping (422 `tag: Required value`), which is not the NotFound that makes
    the registry create the stream: skopeo's push to `.../NS/STREAM@sha256:...` fails, no stream appears and
    an existing stream keeps its tags (no `latest`)."""
    token = sa_token(api, scratch, "builder")
    certs = cert_dir(lab)
    digest_file = os.path.join(certs, "digest")
    auth = authfile(certs, "serviceaccount", token)
    base = "%s:%d/%s" % (SERVICE, PORT, scratch)
    try:
        rc, out, err = skopeo("copy", "--format", "v2s2", "--dest-cert-dir", certs, "--digestfile", digest_file,
                              "--dest-authfile", auth, source_image(lab), "docker://%s/hello:v1" % base)
        assert rc == 0, err
        digest = open(digest_file).read().strip()
        # pulled back as pushed (schema 2, the same digest: every Accept line reaches distribution)
        rc, raw, err = skopeo("inspect", "--raw", "--cert-dir", certs, "--authfile", auth, "docker://%s/hello:v1" % base)
        assert rc == 0, err
        assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest, raw[:300]
        _, before = api("GET", "/apis/image.openshift.io/v1/namespaces/%s/imagestreams/hello" % scratch)
        assert [t["tag"] for t in before["status"]["tags"]] == ["v1"]
        for stream in ("bydigest", "hello"):
            # the source is the pushed v2s2 image itself: its manifest's digest is the destination's
            rc, out, err = skopeo("copy", "--src-cert-dir", certs, "--src-authfile", auth, "--dest-cert-dir", certs,
                                  "--dest-authfile", auth, "docker://%s/hello:v1" % base,
                                  "docker://%s/%s@%s" % (base, stream, digest))
            assert rc != 0, "push by digest to %s succeeded: %s" % (stream, out)
            assert "uploading manifest %s" % digest in err and "500 Internal Server Error" in err, err
        assert api("GET", "/apis/image.openshift.io/v1/namespaces/%s/imagestreams/bydigest" % scratch)[0] == 404
        _, after = api("GET", "/apis/image.openshift.io/v1/namespaces/%s/imagestreams/hello" % scratch)
        assert after["status"]["tags"] == before["status"]["tags"]
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        # the registry's answer carries the API's refusal (errcode UNKNOWN with the rerrors detail)
        ctx = ssl.create_default_context(cafile=lab["ca_file"])
        conn = http.client.HTTPSConnection(SERVICE, PORT, context=ctx, timeout=20)
        conn.request("GET", "/v2/%s/hello/manifests/%s" % (scratch, digest), headers={
            "Authorization": "Bearer " + token,
            "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        r = conn.getresponse()
        manifest, mtype = r.read(), r.getheader("Content-Type")
        assert r.status == 200, manifest
        conn.close()
        conn = http.client.HTTPSConnection(SERVICE, PORT, context=ctx, timeout=20)
        conn.request("PUT", "/v2/%s/hello/manifests/%s" % (scratch, digest), body=manifest,
                     headers={"Authorization": "Bearer " + token, "Content-Type": mtype})
        r = conn.getresponse()
        body = json.loads(r.read().decode())
        conn.close()
        assert r.status == 500, body
        (e,) = body["errors"]
        assert (e["code"], e["message"]) == ("UNKNOWN", "unknown error")
        assert e["detail"]["Code"] == "ImageStream:Unknown"
        status = e["detail"]["Err"]["ErrStatus"]
        assert status["code"] == 422 and status["message"].endswith("tag: Required value"), status
    finally:
        shutil.rmtree(certs, ignore_errors=True)


def _scratch_dc(registry_dc, ns, cert_path, port):
    """The role's registry pod template in another namespace, on another port, certificate at cert_path."""
    tmpl = json.loads(json.dumps(registry_dc["spec"]["template"]))
    c = tmpl["spec"]["containers"][0]
    env = [e for e in c["env"] if e["name"] not in ("REGISTRY_HTTP_ADDR", "REGISTRY_HTTP_TLS_CERTIFICATE",
                                                     "REGISTRY_HTTP_SECRET")]
    env += [{"name": "REGISTRY_HTTP_ADDR", "value": ":%d" % port},
            {"name": "REGISTRY_HTTP_TLS_CERTIFICATE", "value": cert_path}]
    c["env"] = env
    c["ports"] = [{"containerPort": port, "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe"):
        c[probe]["httpGet"]["port"] = port
    c.pop("securityContext", None)
    c["volumeMounts"] = [m for m in c["volumeMounts"] if m["name"] == "registry-certificates"] + \
        [{"name": "registry-storage", "mountPath": "/registry"}]
    tmpl["spec"]["volumes"] = [{"name": "registry-storage", "emptyDir": {}},
                               {"name": "registry-certificates", "secret": {"secretName": "registry-certificates"}}]
    tmpl["spec"]["serviceAccountName"] = "default"
    tmpl["metadata"]["labels"] = {"app": "scratch-registry"}
    return {"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
            "metadata": {"name": "scratch-registry", "namespace": ns},
            "spec": {"replicas": 1, "selector": {"app": "scratch-registry"}, "triggers": [{"type": "ConfigChange"}],
                     "template": tmpl}}


def test_wrong_certificate_path_makes_the_dc_unavailable_with_the_process_error(lab, api, registry, scratch):
    # the certificate secret, copied into the scratch namespace
    _, sec = api("GET", "/api/v1/namespaces/default/secrets/registry-certificates")
    code, body = api("POST", "/api/v1/namespaces/%s/secrets" % scratch, {
        "metadata": {"name": "registry-certificates"}, "type": sec.get("type", "Opaque"), "data": sec["data"]})
    assert code == 201, body
    sa_token(api, scratch, "default")
    dc = _scratch_dc(registry["dc"], scratch, "/etc/secrets/wrong.crt", 5099)
    path = "/apis/apps.openshift.io/v1/namespaces/%s/deploymentconfigs" % scratch
    code, body = api("POST", path, dc)
    assert code == 201, body

    def failed():
        _, cur = api("GET", path + "/scratch-registry")
        prog = condition(cur, "Progressing")
        return condition(cur, "Available").get("status") == "False" and prog.get("status") == "False" and \
            "open /etc/secrets/wrong.crt: no such file or directory" in prog.get("message", "") and cur
    cur = poll("scratch-registry unavailable with the process's error", failed)
    assert cur["status"]["availableReplicas"] == 0
    _, pods = api("GET", "/api/v1/namespaces/%s/pods" % scratch)
    cs = pods["items"][0]["status"]["containerStatuses"][0]
    assert cs["ready"] is False
    assert "open /etc/secrets/wrong.crt: no such file or directory" in cs["lastState"]["terminated"]["message"]

    # the right path: a new latestVersion, the new spec runs and the DC becomes available
    cur["spec"]["template"]["spec"]["containers"][0]["env"] = [
        e if e["name"] != "REGISTRY_HTTP_TLS_CERTIFICATE" else dict(e, value="/etc/secrets/registry.crt")
        for e in cur["spec"]["template"]["spec"]["containers"][0]["env"]]
    code, body = api("PUT", path + "/scratch-registry", cur)
    assert code == 200, body
    version = cur["status"]["latestVersion"] + 1

    def available():
        _, d = api("GET", path + "/scratch-registry")
        return d["status"]["latestVersion"] == version and condition(d, "Available").get("status") == "True" and \
            kubelet_ready(api, scratch, "scratch-registry-%d-" % version)
    running = poll("scratch-registry's new pod ready and the DC available after the fix", available)
    host = running[0]["status"]["hostIP"]
    ctx = ssl.create_default_context(cafile=lab["ca_file"])
    ctx.check_hostname = False       # by address: the certificate names the service, not the host
    conn = http.client.HTTPSConnection(host, 5099, context=ctx, timeout=20)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    conn.close()
    # the first rollout's pod is gone, and so is its process
    assert not pod_pids(lab, scratch, "scratch-registry-%d-" % (version - 1))


def test_rerunning_the_role_changes_nothing_and_keeps_the_process(lab, api, registry):
    before = pod_pids(lab, "default", "docker-registry-%d-" % registry["dc"]["status"]["latestVersion"])
    assert before
    rc, out = labtools.run_playbook("playbooks/integrated_registry.yml")
    assert rc == 0, out[-4000:]
    assert recap(out).get("changed") == 0, out[-4000:]
    _, dc = api("GET", "/apis/apps.openshift.io/v1/namespaces/default/deploymentconfigs/docker-registry")
    assert dc["status"]["latestVersion"] == registry["dc"]["status"]["latestVersion"]
    assert pod_pids(lab, "default", "docker-registry-%d-" % dc["status"]["latestVersion"]) == before
    assert condition(dc, "Available").get("status") == "True"


def test_missing_secret_keeps_the_pod_from_starting_with_kubelets_message(lab, api, registry, scratch):
    sa_token(api, scratch, "default")
    dc = _scratch_dc(registry["dc"], scratch, "/etc/secrets/registry.crt", 5098)
    dc["spec"]["template"]["spec"]["volumes"][1]["secret"]["secretName"] = "no-such-secret"
    path = "/apis/apps.openshift.io/v1/namespaces/%s/deploymentconfigs" % scratch
    code, body = api("POST", path, dc)
    assert code == 201, body
    want = 'MountVolume.SetUp failed for volume "registry-certificates" : secrets "no-such-secret" not found'

    def failed():
        _, cur = api("GET", path + "/scratch-registry")
        return condition(cur, "Available").get("status") == "False" and \
            want in condition(cur, "Progressing").get("message", "") and cur
    poll("scratch-registry unavailable naming the missing secret", failed)
    _, pods = api("GET", "/api/v1/namespaces/%s/pods" % scratch)
    cs = pods["items"][0]["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"] == {"reason": "ContainerCreating", "message": want}
    assert pods["items"][0]["status"]["phase"] == "Pending"
    assert not pod_pids(lab, scratch, "scratch-registry-")


def test_role_scales_the_registry_to_zero_and_back_without_a_new_rollout(lab, api, registry):
    """okd_integrated_registry_replicas 0: the DC's latest rollout is scaled (3.11 reconcileDeployments), the
    kubelet stops the process and the service name stops answering; the role's default scales it back: a
    new process of the same rollout answers /v2/ again. No new latestVersion either way."""
    path = "/apis/apps.openshift.io/v1/namespaces/default/deploymentconfigs/docker-registry"
    version = api("GET", path)[1]["status"]["latestVersion"]
    prefix = "docker-registry-%d-" % version
    before = pod_pids(lab, "default", prefix)
    assert before
    try:
        rc, out = labtools.run_playbook("playbooks/integrated_registry.yml", "-e", "okd_integrated_registry_replicas=0")
        assert rc == 0, out[-4000:]
        poll("the registry's process stopped", lambda: not pod_pids(lab, "default", prefix) and
             not any(os.path.exists("/proc/%d" % p) for p in before.values()))
        _, dc = api("GET", path)
        assert dc["status"]["latestVersion"] == version and dc["status"]["availableReplicas"] == 0
        assert condition(dc, "Available").get("status") == "False"

        def refused():
            try:
                https_get(SERVICE, PORT, "/v2/", lab["ca_file"])
            except OSError:
                return True
            return False
        poll("the service name refuses connections", refused)
    finally:
        rc, out = labtools.run_playbook("playbooks/integrated_registry.yml")
    assert rc == 0, out[-4000:]

    def back():
        _, dc = api("GET", path)
        pids = pod_pids(lab, "default", prefix)
        return condition(dc, "Available").get("status") == "True" and pids and \
            kubelet_ready(api, "default", prefix) and (dc, pids)
    dc, pids = poll("docker-registry Available again with a new process", back)
    assert dc["status"]["latestVersion"] == version and set(pids.values()).isdisjoint(before.values())

    def answers():     # the kubelet publishes the service name again once it has seen the pod ready
        try:
            return https_get(SERVICE, PORT, "/v2/", lab["ca_file"])[0]
        except OSError:
            return None
    assert poll("the service name answers again", answers) == 401
