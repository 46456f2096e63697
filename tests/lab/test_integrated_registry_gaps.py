"""Issue 14, the toolkit side of okd_integrated_registry (playbooks/integrated_registry.yml against the lab):

- what the role set and no longer wants goes: an env entry removed from okd_integrated_registry_env, an SCC
  removed from okd_integrated_registry_scc_grants (only what the role recorded; others' entries stay);
- a certificate about to expire is re-issued and the DeploymentConfig rolls out to serve it;
- S3 object storage like openshift-ansible 3.11 (Secret registry-config with config.yml, mounted at
  /etc/registry, REGISTRY_CONFIGURATION_PATH), against the lab's S3 stand-in (lab/s3.py, moto), listed with
  an independent S3 client (boto3).

Every object is read back with the official kubernetes client.
"""
import base64
import hashlib
import json
import time

import pytest
import yaml

import labtools
from labtools import recap

NS = "default"
SA_USER = "system:serviceaccount:default:registry"


def run_playbook(*args):
    return labtools.run_playbook("playbooks/integrated_registry.yml", *args)


@pytest.fixture(scope="module")
def api(lab):
    from kubernetes import client, config
    api_client = config.new_client_from_config(config_file=lab["api"]["kubeconfig"])
    return {"core": client.CoreV1Api(api_client), "custom": client.CustomObjectsApi(api_client)}


@pytest.fixture(scope="module")
def baseline(lab, api):
    """The role with its defaults (records what it owns); the defaults again at the end of the module."""
    rc, out = run_playbook()
    assert rc == 0, out[-6000:]
    yield
    rc, out = run_playbook()
    assert rc == 0, out[-6000:]


def dc(api):
    return api["custom"].get_namespaced_custom_object("apps.openshift.io", "v1", NS, "deploymentconfigs",
                                                      "docker-registry")


def rolled_out(api, tries=240):
    """The DC once its latest rollout has ended (the lab kubelet reported its pods; the API's controllers then
    write the DC's status asynchronously, as on 3.11). Bounded polling, never a fixed wait."""
    for _ in range(tries):
        d = dc(api)
        prog = dict((x["type"], x) for x in (d.get("status") or {}).get("conditions") or []).get("Progressing") or {}
        if prog.get("reason") not in (None, "ReplicationControllerUpdated") and \
                '"docker-registry-%d"' % d["status"]["latestVersion"] in prog.get("message", ""):
            return d
        time.sleep(0.5)
    raise AssertionError("the rollout of docker-registry did not end: %s" % (d.get("status"),))


def scc(api, name):
    return api["custom"].get_cluster_custom_object("security.openshift.io", "v1", "securitycontextconstraints", name)


def set_scc_users(api, name, users):
    api["custom"].patch_cluster_custom_object("security.openshift.io", "v1", "securitycontextconstraints", name,
                                              {"users": users})


def env_of(d):
    (c,) = d["spec"]["template"]["spec"]["containers"]
    return dict((e["name"], e) for e in c.get("env") or [])


def test_env_entry_removed_from_the_list_is_removed_others_stay(baseline, api):
    """An entry the role set goes when it leaves okd_integrated_registry_env; an entry set by someone else
    (oc set env) stays."""
    rc, out = run_playbook("-e", json.dumps({"okd_integrated_registry_env": {"REGISTRY_LOG_LEVEL": "info",
                                                                              "REGISTRY_STORAGE_DELETE_ENABLED": "true"}}))
    assert rc == 0, out[-6000:]
    d = dc(api)
    assert env_of(d)["REGISTRY_LOG_LEVEL"]["value"] == "info"
    managed = d["metadata"]["annotations"]["okd-registry-toolkit/managed-env"].split(",")
    assert "REGISTRY_LOG_LEVEL" in managed and "REGISTRY_STORAGE_DELETE_ENABLED" in managed
    # someone else's entry
    (c,) = d["spec"]["template"]["spec"]["containers"]
    c["env"].append({"name": "OPS_NOTE", "value": "by hand"})
    api["custom"].replace_namespaced_custom_object("apps.openshift.io", "v1", NS, "deploymentconfigs",
                                                   "docker-registry", d)
    try:
        rc, out = run_playbook("-e", json.dumps({"okd_integrated_registry_env": {"REGISTRY_LOG_LEVEL": "info"}}))
        assert rc == 0, out[-6000:]
        env = env_of(dc(api))
        assert "REGISTRY_STORAGE_DELETE_ENABLED" not in env, env
        assert env["REGISTRY_LOG_LEVEL"]["value"] == "info"
        assert env["OPS_NOTE"]["value"] == "by hand"
        assert env["REGISTRY_HTTP_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "registry-http-secret"
    finally:
        d = dc(api)
        (c,) = d["spec"]["template"]["spec"]["containers"]
        c["env"] = [e for e in c["env"] if e["name"] != "OPS_NOTE"]
        api["custom"].replace_namespaced_custom_object("apps.openshift.io", "v1", NS, "deploymentconfigs",
                                                       "docker-registry", d)


def test_scc_removed_from_the_list_is_revoked_others_grants_stay(baseline, api):
    """anyuid granted by the role, then removed from the list: revoked, its other users kept; a grant made
    by hand (never recorded by the role) is left alone."""
    before = list(scc(api, "anyuid").get("users") or [])
    set_scc_users(api, "anyuid", before + ["system:serviceaccount:other:someone"])
    try:
        rc, out = run_playbook("-e", json.dumps({"okd_integrated_registry_scc_grants": ["hostnetwork", "anyuid"]}))
        assert rc == 0, out[-6000:]
        assert SA_USER in scc(api, "anyuid")["users"]
        sa = api["core"].read_namespaced_service_account("registry", NS)
        assert sa.metadata.annotations["okd-registry-toolkit/scc-grants"] == "hostnetwork,anyuid"
        rc, out = run_playbook()
        assert rc == 0, out[-6000:]
        users = scc(api, "anyuid")["users"]
        assert SA_USER not in users and "system:serviceaccount:other:someone" in users, users
        assert SA_USER in scc(api, "hostnetwork")["users"]
        sa = api["core"].read_namespaced_service_account("registry", NS)
        assert sa.metadata.annotations["okd-registry-toolkit/scc-grants"] == "hostnetwork"
        # granted by hand: not the role's to revoke
        set_scc_users(api, "anyuid", users + [SA_USER])
        rc, out = run_playbook()
        assert rc == 0 and recap(out)["changed"] == 0, out[-4000:]
        assert SA_USER in scc(api, "anyuid")["users"]
    finally:
        set_scc_users(api, "anyuid", before)


def test_certificate_about_to_expire_is_reissued_and_rolled_out(baseline, api):
    """With renew days beyond the certificate's validity it 'expires soon': a new certificate, and a new
    latestVersion whose pod template names it (sha256); the defaults again change nothing."""
    d0 = dc(api)
    v0 = d0["status"]["latestVersion"]
    crt0 = api["core"].read_namespaced_secret("registry-certificates", NS).data["registry.crt"]
    rc, out = run_playbook("-e", "okd_integrated_registry_cert_renew_days=1000")
    assert rc == 0, out[-6000:]
    assert "expires within 1000 days" in out
    crt1 = api["core"].read_namespaced_secret("registry-certificates", NS).data["registry.crt"]
    assert crt1 != crt0
    d1 = dc(api)
    assert d1["status"]["latestVersion"] == v0 + 1
    ann = d1["spec"]["template"]["metadata"]["annotations"]["okd-registry-toolkit/certificate-sha256"]
    assert ann == hashlib.sha256(base64.b64decode(crt1)).hexdigest()
    # the rollout's RC exists (the DC controller made it)
    api["core"].read_namespaced_replication_controller("docker-registry-%d" % (v0 + 1), NS)
    rc, out = run_playbook()
    assert rc == 0 and recap(out)["changed"] == 0, out[-4000:]
    assert dc(api)["status"]["latestVersion"] == v0 + 1


@pytest.fixture(scope="module")
def s3_lab(lab):
    if not lab.get("s3"):
        pytest.fail("the lab has no S3 stand-in (status.json has no 's3'): run python -m lab up")
    return lab["s3"]


def s3_vars(s3, **over):
    v = {"okd_integrated_registry_storage_kind": "s3",
         "okd_integrated_registry_storage_s3_bucket": s3["bucket"],
         "okd_integrated_registry_storage_s3_region": s3["region"],
         "okd_integrated_registry_storage_s3_regionendpoint": s3["url"],
         "okd_integrated_registry_storage_s3_accesskey": s3["access_key"],
         "okd_integrated_registry_storage_s3_secretkey": s3["secret_key"],
         "okd_integrated_registry_storage_s3_chunksize": 5242880,
         "okd_integrated_registry_storage_s3_rootdirectory": "/okd-lab-registry"}
    v.update(over)
    return v


def test_s3_storage_config_secret_mount_and_rollout(baseline, api, s3_lab):
    """storage kind s3: Secret registry-config's config.yml (3.11's registry_config.j2, s3 provider) with the
    vaulted keys, never in the output; mounted at /etc/registry with REGISTRY_CONFIGURATION_PATH; listed by the
    service account; a changed config rolls out; back to emptydir, the mount, volume and env are gone."""
    v0 = dc(api)["status"]["latestVersion"]
    rc, out = run_playbook("-v", "--diff", "-e", json.dumps(s3_vars(s3_lab)))
    assert rc == 0, out[-6000:]
    assert s3_lab["secret_key"] not in out and s3_lab["access_key"] not in out
    sec = api["core"].read_namespaced_secret("registry-config", NS)
    cfg = yaml.safe_load(base64.b64decode(sec.data["config.yml"]))
    assert cfg["storage"]["s3"] == {
        "accesskey": s3_lab["access_key"], "secretkey": s3_lab["secret_key"], "region": s3_lab["region"],
        "regionendpoint": s3_lab["url"], "bucket": s3_lab["bucket"], "encrypt": False, "secure": True,
        "v4auth": True, "rootdirectory": "/okd-lab-registry", "chunksize": "5242880"}
    assert cfg["auth"] == {"openshift": {"realm": "openshift"}}
    d = dc(api)
    pod = d["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert env_of(d)["REGISTRY_CONFIGURATION_PATH"]["value"] == "/etc/registry/config.yml"
    assert {"name": "docker-config", "mountPath": "/etc/registry", "readOnly": True} in c["volumeMounts"]
    vols = dict((x["name"], x) for x in pod["volumes"])
    assert vols["docker-config"]["secret"]["secretName"] == "registry-config"
    assert "emptyDir" in vols["registry-storage"]
    sa = api["core"].read_namespaced_service_account("registry", NS)
    assert "registry-config" in [s.name for s in sa.secrets or []]
    assert d["spec"]["template"]["metadata"]["annotations"]["okd-registry-toolkit/registry-config-version"] \
        == sec.metadata.resource_version
    v1 = d["status"]["latestVersion"]
    assert v1 == v0 + 1
    # the same again: nothing changes, no rollout
    rc, out = run_playbook("-e", json.dumps(s3_vars(s3_lab)))
    assert rc == 0 and recap(out)["changed"] == 0, out[-4000:]
    # a new secret key (rotated in the vault): the config changes, the registry rolls out
    rc, out = run_playbook("-e", json.dumps(s3_vars(s3_lab, okd_integrated_registry_storage_s3_secretkey="rotated-" + s3_lab["secret_key"])))
    assert rc == 0, out[-6000:]
    assert "rotated-" not in out
    assert dc(api)["status"]["latestVersion"] == v1 + 1
    # back to emptydir
    rc, out = run_playbook()
    assert rc == 0, out[-6000:]
    d = dc(api)
    pod = d["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert "REGISTRY_CONFIGURATION_PATH" not in env_of(d)
    assert "docker-config" not in [x["name"] for x in pod["volumes"]]
    assert "/etc/registry" not in [m["mountPath"] for m in c["volumeMounts"]]
    assert "okd-registry-toolkit/registry-config-version" not in d["spec"]["template"]["metadata"].get("annotations", {})


def test_s3_settings_are_checked_before_anything_changes(baseline, api, s3_lab):
    rv = rolled_out(api)["metadata"]["resourceVersion"]     # the last test's rollout has ended
    rc, out = run_playbook("-e", json.dumps(s3_vars(s3_lab, okd_integrated_registry_storage_s3_bucket="")))
    assert rc != 0 and "s3 needs okd_integrated_registry_storage_s3_bucket" in " ".join(out.split()), out[-3000:]
    assert dc(api)["metadata"]["resourceVersion"] == rv


def test_lab_s3_stand_in_answers_an_independent_client(s3_lab):
    """The lab's S3 (moto) is reachable on the lab address with boto3: the bucket the registry uses exists."""
    import boto3
    s3 = boto3.client("s3", endpoint_url=s3_lab["url"], region_name=s3_lab["region"],
                      aws_access_key_id=s3_lab["access_key"], aws_secret_access_key=s3_lab["secret_key"])
    assert s3_lab["bucket"] in [b["Name"] for b in s3.list_buckets()["Buckets"]]
