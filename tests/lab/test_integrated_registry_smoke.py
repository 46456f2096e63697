"""Issue 14: the integrated registry the role provisions runs (the lab kubelet, lab/kubelet.py) and the smoke
check (playbooks/integrated_registry_smoke.yml, module okd_registry_smoke) proves it end to end: push through
the Route with a service account's token, the image stream tag gets the digest, a DeploymentConfig with an
ImageChange trigger rolls out, a node pulls the image with the namespace's pull secret, cleanup. Also: check
mode changes nothing; a token without push rights is refused with the registry's message; with S3 storage
(lab/s3.py, moto) the pushed blobs land in the bucket, listed with boto3.
"""
import json
import os
import re

import pytest

import labtools
from labtools import recap

NS = "default"
SMOKE_NS = "okd-registry-smoke"


def run(playbook, *args):
    return labtools.run_playbook(playbook, *args)


@pytest.fixture(scope="module")
def api(lab):
    from kubernetes import client, config
    api_client = config.new_client_from_config(config_file=lab["api"]["kubeconfig"])
    return {"core": client.CoreV1Api(api_client), "custom": client.CustomObjectsApi(api_client)}


@pytest.fixture(scope="module")
def registry(lab, api):
    """The role with its defaults; the registry DeploymentConfig available (run by the lab kubelet)."""
    rc, out = run("playbooks/integrated_registry.yml")
    assert rc == 0, out[-6000:]
    return lab


def node_ca(lab):
    return lab["ca_file"]


def namespace_live(api, name):
    """True when the namespace exists and is not being deleted (a deleted one is Terminating until its
    content is gone)."""
    from kubernetes.client.rest import ApiException
    try:
        ns = api["core"].read_namespace(name)
    except ApiException as e:
        assert e.status == 404, e
        return False
    return not ns.metadata.deletion_timestamp and (ns.status.phase if ns.status else None) != "Terminating"


def wait_namespace_deleted(api, name):
    """Wait (bounded by tries, not time) until the namespace is gone, so the next test starts clean."""
    import time
    from kubernetes.client.rest import ApiException
    for _ in range(120):
        try:
            api["core"].read_namespace(name)
        except ApiException as e:
            if e.status == 404:
                return
            raise
        time.sleep(0.5)


def test_smoke_check_passes_and_leaves_real_outcomes(registry, api):
    """Without cleanup: the image stream tag holds the pushed digest and the DC rolled out to it (read
    independently with the kubernetes client); then the namespace is removed."""
    rc, out = run("playbooks/integrated_registry_smoke.yml", "-e", "okd_integrated_registry_smoke_cleanup=false",
                  "-e", "okd_integrated_registry_smoke_node_ca_file=" + node_ca(registry))
    try:
        assert rc == 0, out[-8000:]
        for n in range(1, 10):
            assert "Smoke %d/9" % n in out
        m = re.search(r"pushed (sha256:[0-9a-f]{64})\s+through", out)
        assert m, out[-4000:]
        digest = m.group(1)
        ist = api["custom"].get_namespaced_custom_object("image.openshift.io", "v1", SMOKE_NS, "imagestreamtags",
                                                         "smoke:latest")
        assert ist["image"]["metadata"]["name"] == digest
        d = api["custom"].get_namespaced_custom_object("apps.openshift.io", "v1", SMOKE_NS, "deploymentconfigs", "smoke")
        assert d["status"]["latestVersion"] >= 1
        assert d["spec"]["template"]["spec"]["containers"][0]["image"].endswith("/%s/smoke@%s" % (SMOKE_NS, digest))
    finally:
        api["core"].delete_namespace(SMOKE_NS)
        wait_namespace_deleted(api, SMOKE_NS)
    # the scratch service account's token never appears (it is gone with the namespace: search for its form)
    assert not re.search(r'"password": "[^"*]{20,}"', out)


def test_smoke_check_cleans_up_and_check_mode_does_nothing(registry, api):
    import lab.api as labapi
    log = registry["api"]["request_log"]
    off = os.path.getsize(log)
    rc, out = run("playbooks/integrated_registry_smoke.yml", "--check")
    assert rc == 0, out[-6000:]
    assert "would log in to" in " ".join(out.split()) and "would remove namespace" in out
    assert recap(out)["changed"] == 0
    records = labapi.changing_requests(log, off)
    assert [r for r in records if SMOKE_NS in json.dumps(r)] == [], records
    assert not namespace_live(api, SMOKE_NS)
    rc, out = run("playbooks/integrated_registry_smoke.yml", "-e",
                  "okd_integrated_registry_smoke_node_ca_file=" + node_ca(registry))
    assert rc == 0, out[-8000:]
    assert "integrated registry smoke check passed" in out
    assert not namespace_live(api, SMOKE_NS)      # deleted by the cleanup step (gone or Terminating)
    wait_namespace_deleted(api, SMOKE_NS)


def test_token_without_push_rights_is_refused_with_the_registry_message(registry, lab):
    """The lab's read-only API token may pull but not push: the module fails with the registry's error."""
    toks = json.loads(open(os.path.join(lab["state_dir"], "api", "tokens.json")).read())
    route_host = None
    rc, out = run("playbooks/integrated_registry_smoke.yml", "--check")
    m = re.search(r"log in to (\S+)\s+with", out)
    assert m, out[-3000:]
    route_host = m.group(1)
    import subprocess
    import sys
    env = dict(os.environ, ANSIBLE_CONFIG=str(labtools.REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    args = json.dumps({"action": "push", "registry": route_host, "repository": "openshift/okd-smoke-refused",
                       "password": toks["readonly"], "ca_file": lab["ca_file"]})
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-m",
                        "okd.registry_toolkit.okd_registry_smoke", "-a", args],
                       cwd=str(labtools.REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=300)
    assert r.returncode != 0, r.stdout[-3000:]
    assert route_host in r.stdout and ("401" in r.stdout or "403" in r.stdout), r.stdout[-3000:]
    assert toks["readonly"] not in r.stdout


def test_s3_storage_pushes_land_in_the_bucket(registry, api, lab):
    """Storage kind s3 against the lab's S3 (moto): the registry rolls out with config.yml from Secret
    registry-config, the smoke push succeeds, and the bucket holds the registry's blobs under the root
    directory (listed with boto3, an independent S3 client)."""
    import boto3
    s3 = lab.get("s3") or pytest.fail("the lab has no S3 stand-in (run python -m lab up)")
    root = "okd-smoke-s3"
    vars_ = {"okd_integrated_registry_storage_kind": "s3",
             "okd_integrated_registry_storage_s3_bucket": s3["bucket"],
             "okd_integrated_registry_storage_s3_region": s3["region"],
             "okd_integrated_registry_storage_s3_regionendpoint": s3["url"],
             "okd_integrated_registry_storage_s3_accesskey": s3["access_key"],
             "okd_integrated_registry_storage_s3_secretkey": s3["secret_key"],
             "okd_integrated_registry_storage_s3_chunksize": 5242880,
             "okd_integrated_registry_storage_s3_rootdirectory": "/" + root}
    client = boto3.client("s3", endpoint_url=s3["url"], region_name=s3["region"],
                          aws_access_key_id=s3["access_key"], aws_secret_access_key=s3["secret_key"])

    def keys():
        resp = client.list_objects_v2(Bucket=s3["bucket"], Prefix=root + "/")
        return [o["Key"] for o in resp.get("Contents", [])]
    for k in keys():
        client.delete_object(Bucket=s3["bucket"], Key=k)
    try:
        rc, out = run("playbooks/integrated_registry.yml", "-e", json.dumps(vars_))
        assert rc == 0, out[-6000:]
        rc, out = run("playbooks/integrated_registry_smoke.yml", "-e", json.dumps(vars_),
                      "-e", "okd_integrated_registry_smoke_node_ca_file=" + node_ca(lab))
        assert rc == 0, out[-8000:]
        digest = re.search(r"pushed (sha256:[0-9a-f]{64})\s+through", out).group(1)
        stored = keys()
        assert any(k.startswith(root + "/docker/registry/v2/blobs/sha256/") for k in stored), stored
        assert any(("/_manifests/revisions/sha256/%s/" % digest.split(":", 1)[1]) in k for k in stored), stored
        assert s3["secret_key"] not in out
    finally:
        rc, out = run("playbooks/integrated_registry.yml")
        assert rc == 0, out[-6000:]
