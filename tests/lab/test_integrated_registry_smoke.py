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


# ------------------------------------------------------------------------------------------------------------------
# The smoke check as an opt-in compliance check (registry_compliance_cluster_smoke): the cluster check `registry_smoke` in
# the same report (JSON and JUnit XML); without the option there is no such check (test_cluster_compliance_lab.py).
def compliance(report, *args):
    return run("playbooks/compliance.yml", "-e", "registry_compliance_report_path=%s" % report,
               "-e", "registry_compliance_cluster_smoke=true", *args)


def smoke_checks(report_path):
    report = json.loads(report_path.read_text())
    return [r for r in report["cluster"]["results"] if r["check"] == "registry_smoke"], report


def junit_case(xml_path, check):
    import xml.etree.ElementTree as ET
    cases = [c for c in ET.parse(str(xml_path)).iter("testcase") if c.get("name").split()[0] == check]
    assert len(cases) == 1, [c.get("name") for c in cases]
    return cases[0]


def test_compliance_smoke_check_mode_then_pass(registry, api, lab, tmp_path):
    """--check: the check is `skip` with the plan and no request touches the scratch namespace. A real run: the
    check passes with the pushed digest (the image stream tag holds it, read back with the kubernetes client), in
    the JSON and the JUnit XML; the scratch service account's token is in neither file nor in the -v output."""
    import lab.api as labapi
    report = tmp_path / "report.json"
    log = registry["api"]["request_log"]
    off = os.path.getsize(log)
    rc, out = compliance(report, "--check")
    assert rc == 0, out[-6000:]
    checks, _ = smoke_checks(report)
    assert [c["status"] for c in checks] == ["skip"], checks
    assert checks[0]["message"].startswith("check mode (the smoke check creates objects): would create namespace "
                                           + SMOKE_NS), checks
    assert checks[0]["object"] == SMOKE_NS + "/smoke:latest"
    assert [r for r in labapi.changing_requests(log, off) if SMOKE_NS in json.dumps(r)] == []
    assert not namespace_live(api, SMOKE_NS)

    rc, out = compliance(report, "-v", "-e", "okd_integrated_registry_smoke_cleanup=false",
                         "-e", "okd_integrated_registry_smoke_node_ca_file=" + node_ca(registry))
    try:
        assert rc == 0, out[-8000:]
        checks, full = smoke_checks(report)
        assert [c["status"] for c in checks] == ["pass"], checks
        m = re.search(r"pushed (sha256:[0-9a-f]{64}) through", checks[0]["message"])
        assert m and "pulled on node" in checks[0]["message"], checks
        ist = api["custom"].get_namespaced_custom_object("image.openshift.io", "v1", SMOKE_NS, "imagestreamtags",
                                                         "smoke:latest")
        assert ist["image"]["metadata"]["name"] == m.group(1)
        assert full["cluster"]["compliant"] is True
        case = junit_case(report.with_suffix(".xml"), "registry_smoke")
        assert case.find("failure") is None and case.find("skipped") is None
        assert case.find("properties/property").get("value") == "pass"
        # the scratch service account's token (and its dockercfg secret) appear nowhere
        import base64
        secrets = api["core"].list_namespaced_secret(SMOKE_NS).items
        leaks = set()
        for s in secrets:
            for k in ("token", ".dockercfg", ".dockerconfigjson"):
                v = (s.data or {}).get(k)
                if v:
                    leaks.update((v, base64.b64decode(v).decode("utf-8", "replace")))
        tokens = [base64.b64decode(s.data["token"]).decode() for s in secrets if s.data and s.data.get("token")]
        assert tokens, [s.metadata.name for s in secrets]
        leaks.update(base64.b64encode(("%s:%s" % (u, t)).encode()).decode() for t in tokens
                     for u in ("okd-smoke", "serviceaccount"))
        text = report.read_text() + report.with_suffix(".xml").read_text() + out
        assert [x for x in leaks | labtools.lab_secrets(lab, api_tokens=True) if len(x) >= 8 and x in text] == []
    finally:
        api["core"].delete_namespace(SMOKE_NS)
        wait_namespace_deleted(api, SMOKE_NS)


ROUTE = "docker-registry"


def _route_host(api, host=None):
    """The registry Route's host; with ``host``, patch it to that first."""
    if host is not None:
        api["custom"].patch_namespaced_custom_object("route.openshift.io", "v1", NS, "routes", ROUTE,
                                                     {"spec": {"host": host}})
    return api["custom"].get_namespaced_custom_object("route.openshift.io", "v1", NS, "routes", ROUTE)["spec"]["host"]


def _route_answers(host, ca_file):
    """True when a TLS handshake with the registry through the lab router (SNI ``host``) succeeds."""
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=ca_file)
    try:
        with socket.create_connection((host, 443), timeout=5) as sock:
            with ctx.wrap_socket(sock, server_hostname=host):
                return True
    except (OSError, ssl.SSLError):
        return False


def _wait_route(host, ca_file, answers, tries=60):
    """Wait (bounded by tries) until the router (it re-reads Routes every 5 s) serves or forgets ``host``."""
    import time
    for _ in range(tries):
        if _route_answers(host, ca_file) == answers:
            return
        time.sleep(0.5)
    raise AssertionError("route host %s: never %s" % (host, "served" if answers else "forgotten"))


def test_compliance_smoke_names_the_broken_step(registry, api, lab, tmp_path):
    """The registry unreachable through its Route (the Route moved to another host): the check fails at step 6/9,
    the push, with the client's own account of the connection; the JUnit testcase is a <failure>; the play fails
    naming it. The Route is restored and served again afterwards."""
    report = tmp_path / "report.json"
    host = _route_host(api)
    _route_host(api, "moved-" + host)
    try:
        _wait_route(host, lab["ca_file"], answers=False)
        rc, out = compliance(report, "-e", "okd_integrated_registry_smoke_retries=2")
        assert rc != 0, out[-6000:]
        checks, full = smoke_checks(report)
        assert [c["status"] for c in checks] == ["fail"], checks
        msg = checks[0]["message"]
        assert checks[0]["step"] == "6/9" and checks[0]["registry"] == host, checks
        # the client's own words: the route host no longer resolves (the lab router forgot it)
        assert msg.startswith("smoke step 6/9 (push through the Route with the token) failed: cannot connect to "
                              "https://%s/v2/%s/smoke/" % (host, SMOKE_NS)), msg
        assert full["cluster"]["compliant"] is False
        # the other checks ran and are reported: the Route check names the other host
        byc = dict((r["check"], r) for r in full["cluster"]["results"])
        assert byc["registry_route"]["status"] == "fail" and "moved-" + host in byc["registry_route"]["message"]
        assert byc["registry_service"]["status"] == "pass"
        case = junit_case(report.with_suffix(".xml"), "registry_smoke")
        assert case.find("failure").get("message") == msg
        flat = " ".join(out.split())
        assert "the cluster is not compliant:" in flat and "smoke step 6/9 (push through the Route" in flat, \
            out[-4000:]
        assert not namespace_live(api, SMOKE_NS)      # the smoke's cleanup ran after the failure
    finally:
        _route_host(api, host)
        _wait_route(host, lab["ca_file"], answers=True)
        wait_namespace_deleted(api, SMOKE_NS)
