"""Which credentials an OKD 3.11 import sends, with both token-realm layouts (issue 13 item 6).

3.11's importer answers a registry's Bearer challenge by asking its keyring for the credential of the
REALM URL (distribution session.go Basic(realm); origin importer/credentials.go basicCredentialsFromKeyring),
first match only. The lab has both layouts: the realm on the registry's own host and port (redhat and quay,
like registry.redhat.io and quay.io) and on another host (quay's `split` door, whose challenge names
auth.quay.lab.test). The imports are previews (`spec.import: false`, `oc import-image --dry-run`): the
API stand-in contacts the registry exactly as for an import and writes nothing. The realms' request logs
(`authorization=basic|none`, never a value) show what was sent.
"""
import base64
import json
import os
import ssl
import urllib.error
import urllib.request
import uuid

import pytest


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class Api(object):
    def __init__(self, lab):
        self.url = lab["api"]["url"]
        self.token = lab["api"]["tokens"]["admin"]
        self.ctx = ssl.create_default_context(cafile=lab["ca_file"])

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=120) as r:
                return r.status, json.loads(r.read().decode() or "{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode() or "{}")


@pytest.fixture(scope="module")
def api(lab):
    return Api(lab)


@pytest.fixture
def ns(api):
    name = "lab-creds-" + uuid.uuid4().hex[:8]
    code, _ = api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": name}})
    assert code == 201, code
    yield name
    api.call("DELETE", "/api/v1/namespaces/" + name)


def _account(lab, registry, name):
    for a in lab["registries"][registry]["accounts"]:
        if a["username"] == name:
            return a
    pytest.fail("no %s account %s" % (registry, name))


def put_secret(api, ns, name, entries):
    """A dockerconfigjson secret: entries = {KEY: (username, password)}."""
    cfg = {"auths": {k: {"auth": _b64("%s:%s" % up)} for k, up in entries.items()}}
    code, body = api.call("POST", "/api/v1/namespaces/%s/secrets" % ns, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": _b64(json.dumps(cfg))}})
    assert code == 201, body


def preview(api, ns, ref):
    """`oc import-image probe --from=REF --dry-run`: the ImageStreamImport status of the one image."""
    code, body = api.call("POST", "/apis/image.openshift.io/v1/namespaces/%s/imagestreamimports" % ns, {
        "apiVersion": "image.openshift.io/v1", "kind": "ImageStreamImport", "metadata": {"name": "probe"},
        "spec": {"import": False, "images": [{"from": {"kind": "DockerImage", "name": ref}, "to": {"name": "t"}}]}})
    assert code == 201, body
    return body["status"]["images"][0]


class RealmLog(object):
    """New lines of a realm's request log since construction."""

    def __init__(self, lab, registry):
        self.path = os.path.join(lab["state_dir"], "logs", "realm-%s.log" % registry)
        self.start = os.path.getsize(self.path)

    def token_requests(self, repo):
        with open(self.path, "rb") as f:
            f.seek(self.start)
            lines = f.read().decode("utf-8", "replace").splitlines()
        return [ln for ln in lines if "scope=repository%3A" + repo.replace("/", "%2F") in ln
                or "scope=repository:" + repo in ln]


def test_realm_on_the_registry_host_gets_the_registry_entry(lab, api, ns):
    rh = lab["registries"]["redhat"]
    assert rh["realm"].startswith("https://%s/" % rh["host"]) and rh["realm_host"] == rh["host"]
    acct = _account(lab, "redhat", "11009103|lab-cluster")
    put_secret(api, ns, "imagestreamsecret", {rh["host"]: (acct["username"], acct["password"])})
    log = RealmLog(lab, "redhat")
    st = preview(api, ns, "%s/rhel7/rhel:7.9" % rh["host"])
    assert st["status"]["status"] == "Success", st
    assert st["image"]["metadata"]["name"] == rh["digests"]["rhel7/rhel:7.9"]
    reqs = log.token_requests("rhel7/rhel")
    assert reqs and all(r.endswith("authorization=basic") for r in reqs), reqs


def test_realm_on_another_host_needs_an_entry_for_the_realm_host(lab, api, ns):
    split = lab["registries"]["quay"]["split"]
    assert split["realm_host"] != split["host"] and split["realm"].startswith("https://%s/" % split["realm_host"])
    robot = _account(lab, "quay", "laborg+robot")
    creds = (robot["username"], robot["password"])
    ref = "%s/laborg/hello:1.0" % split["host"]
    # only the registry's entry: 3.11 asks for the realm's credential, finds none, and asks anonymously
    put_secret(api, ns, "quay-pull", {split["host"]: creds})
    log = RealmLog(lab, "quay")
    st = preview(api, ns, ref)
    assert (st["status"]["status"], st["status"]["reason"]) == ("Failure", "Unauthorized"), st
    assert st["status"]["message"] == 'you may not have access to the Docker image "%s"' % ref
    reqs = log.token_requests("laborg/hello")
    assert reqs and all(r.endswith("authorization=none") for r in reqs), reqs
    # an entry for the realm's host (what okd_registry_secret adds with realm_hosts) makes it work
    put_secret(api, ns, "quay-realm", {split["realm_host"]: creds})
    log = RealmLog(lab, "quay")
    st = preview(api, ns, ref)
    assert st["status"]["status"] == "Success", st
    assert st["image"]["metadata"]["name"] == lab["registries"]["quay"]["digests"]["laborg/hello:1.0"]
    reqs = log.token_requests("laborg/hello")
    assert reqs and all(r.endswith("authorization=basic") for r in reqs), reqs


def test_first_matching_secret_wins_even_when_a_later_one_is_right(lab, api, ns):
    quay = lab["registries"]["quay"]
    robot = _account(lab, "quay", "laborg+robot")
    ref = "%s/laborg/hello:1.1" % quay["host"]
    put_secret(api, ns, "b-good", {quay["host"]: (robot["username"], robot["password"])})
    put_secret(api, ns, "a-stale", {quay["host"]: (robot["username"], "stale-" + uuid.uuid4().hex)})
    st = preview(api, ns, ref)       # a-stale sorts first: its wrong password, no second try, no anonymous
    assert (st["status"]["status"], st["status"]["reason"]) == ("Failure", "Unauthorized"), st
    assert st["status"]["message"] == 'you may not have access to the Docker image "%s"' % ref
    put_secret(api, ns, "0-good", {quay["host"]: (robot["username"], robot["password"])})
    st = preview(api, ns, ref)       # now a good one sorts first
    assert st["status"]["status"] == "Success", st


def test_okd_registry_secret_warns_about_the_realm_host_and_adds_it_when_asked(lab, api, ns, tmp_path):
    from test_cluster_secrets import run_module
    split = lab["registries"]["quay"]["split"]
    robot = _account(lab, "quay", "laborg+robot")
    ref = "%s/laborg/hello:1.0" % split["host"]
    entry = {"registry": split["host"], "username": robot["username"], "password": robot["password"]}
    args = {"kubeconfig": lab["api"]["kubeconfig"], "name": "quay-pull", "namespace": ns, "registries": [entry],
            "realm_check": True, "registry_ca_file": lab["ca_file"]}
    rc, res, out = run_module("okd_registry_secret", args, tmp_path)
    assert rc == 0 and res, out
    assert res["realms"] == [{"registry": split["host"], "realm": split["realm"], "realm_host": split["realm_host"],
                              "credentials_sent": False, "error": None}]
    warning = " ".join(res.get("warnings") or [])
    assert ("registry %s names its token realm on %s" % (split["host"], split["realm_host"])) in warning, warning
    assert "secret %s/quay-pull has no entry for %s" % (ns, split["realm_host"]) in warning, warning
    assert robot["password"] not in out
    assert preview(api, ns, ref)["status"]["reason"] == "Unauthorized"
    # okd_image_import's failure says that 3.11 sends the secret to a realm on the registry's own host only
    rc, res, out = run_module("okd_image_import", {
        "kubeconfig": lab["api"]["kubeconfig"], "namespace": ns, "name": "hello",
        "source": "%s/laborg/hello" % split["host"], "tags": ["1.0"]}, tmp_path)
    assert rc != 0 and res and res.get("failed"), out
    assert 'you may not have access to the Docker image \\"%s\\"' % ref in out or \
        'you may not have access to the Docker image "%s"' % ref in res["msg"], out
    assert "OKD used pull secret quay-pull of namespace %s" % ns in res["msg"], res["msg"]
    assert "the secret needs an entry for the realm's host (okd_registry_secret realm_hosts" in res["msg"], res["msg"]
    # realm_hosts: the secret gets the realm's entry too, the check is satisfied, and the import works
    args["registries"] = [dict(entry, realm_hosts=[split["realm_host"]])]
    rc, res, out = run_module("okd_registry_secret", args, tmp_path)
    assert rc == 0 and res and res["changed"], out
    assert sorted(res["registries"]) == sorted([split["host"], split["realm_host"]])
    assert res["realms"][0]["credentials_sent"] is True and not res.get("warnings"), res
    assert robot["password"] not in out
    st = preview(api, ns, ref)
    assert st["status"]["status"] == "Success", st
