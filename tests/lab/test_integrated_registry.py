"""playbooks/integrated_registry.yml against the lab API stand-in (role okd_integrated_registry).

Every object is read back with the official kubernetes client; the registry certificate is verified
against the CA that was given to the role; a re-run and a check-mode run must send no changing request
to the API (judged from the API's request log).
"""
import base64
import ipaddress
import json
import os
import re
import time
from pathlib import Path

import pytest

import labtools
from labtools import recap
from cryptography import x509
from cryptography.hazmat.primitives import serialization

REPO = Path(__file__).resolve().parents[2]
NS = "default"
CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


# ------------------------------------------------------------------------------------------ helpers

def run_playbook(*args):
    return labtools.run_playbook("playbooks/integrated_registry.yml", *args)




def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def requests_since(path, offset, end=None):
    """(method, path) of the API requests logged after byte `offset` (up to `end`) of the request log."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read() if end is None else f.read(end - offset)
        text = data.decode("utf-8", "replace")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if isinstance(rec, dict):
            method = rec.get("method") or rec.get("verb") or ""
            out.append((str(method).upper(), rec.get("path") or rec.get("url") or rec.get("uri") or ""))
            continue
        m = re.search(r"\b(GET|HEAD|POST|PUT|PATCH|DELETE)\s+(\S+)", line)
        assert m, "unparsable request log line: %r" % line
        out.append((m.group(1), m.group(2)))
    return out


# the objects of this role (other tests may write other objects to the same API concurrently)
OURS = re.compile(r"^/apis?/(?:[^/]+/)?v1/(?:namespaces/default/(?:serviceaccounts/registry|services/docker-registry"
                  r"|secrets/registry-certificates|secrets/registry-http-secret|deploymentconfigs/docker-registry"
                  r"|routes/docker-registry|persistentvolumeclaims/registry-claim)"
                  r"|clusterrolebindings/registry-registry-role|namespaces/default/(?:serviceaccounts|services|secrets"
                  r"|deploymentconfigs|routes|persistentvolumeclaims)|clusterrolebindings"
                  r"|securitycontextconstraints/hostnetwork)/?$")


def ours(reqs):
    return [r for r in reqs if OURS.match(r[1].split("?")[0])]


def changing(reqs):
    return [r for r in ours(reqs) if r[0] in CHANGING]


@pytest.fixture(scope="module")
def api(lab):
    from kubernetes import client, config
    api_client = config.new_client_from_config(config_file=lab["api"]["kubeconfig"])
    return {"core": client.CoreV1Api(api_client), "rbac": client.RbacAuthorizationV1Api(api_client),
            "custom": client.CustomObjectsApi(api_client)}


@pytest.fixture(scope="module")
def redhat_host(lab):
    return lab["registries"]["redhat"]["host"]


@pytest.fixture(scope="module")
def deployed(lab):
    """First run (with -v --diff) and an immediate re-run; returns their outputs and requests."""
    log = lab["api"]["request_log"]
    off1 = log_size(log)
    rc, out1 = run_playbook("-v", "--diff")
    assert rc == 0, out1[-6000:]
    off2 = log_size(log)
    rc, out2 = run_playbook("--diff")
    assert rc == 0, out2[-6000:]
    return {"first": out1, "first_requests": requests_since(log, off1, off2),
            "second": out2, "second_requests": requests_since(log, off2)}


def dc(api):
    return api["custom"].get_namespaced_custom_object("apps.openshift.io", "v1", NS, "deploymentconfigs",
                                                      "docker-registry")


def rolled_out(api, tries=240):
    """The DC once its latest rollout has ended (Progressing no longer ReplicationControllerUpdated): 3.11's
    rollout is asynchronous, and the lab kubelet's pods are Running/Ready only when it reports them. Bounded
    polling, never a fixed wait."""
    for _ in range(tries):
        d = dc(api)
        prog = dict((x["type"], x) for x in (d.get("status") or {}).get("conditions") or []).get("Progressing") or {}
        if prog.get("reason") not in (None, "ReplicationControllerUpdated") and \
                '"docker-registry-%d"' % d["status"]["latestVersion"] in prog.get("message", ""):
            return d
        time.sleep(0.5)
    raise AssertionError("the rollout of docker-registry did not end: %s" % (d.get("status"),))


def route(api):
    return api["custom"].get_namespaced_custom_object("route.openshift.io", "v1", NS, "routes", "docker-registry")


def cert_secret(api):
    s = api["core"].read_namespaced_secret("registry-certificates", NS)
    return (base64.b64decode(s.data["registry.crt"]), base64.b64decode(s.data["registry.key"]))


def load_ca(lab):
    return x509.load_pem_x509_certificate(Path(lab["ca_file"]).read_bytes())


def sans_of(cert):
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(ext.get_values_for_type(x509.DNSName)), set(str(i) for i in ext.get_values_for_type(x509.IPAddress))


# -------------------------------------------------------------------------------------------- tests

def test_first_run_changed_objects_and_hid_the_key(deployed, api):
    assert recap(deployed["first"]).get("failed", 0) == 0
    crt, key = cert_secret(api)
    # the private key never appears in the output, not even a line of its base64 body
    body_lines = [l for l in key.decode().splitlines() if l and not l.startswith("-----")]
    assert body_lines
    for out in (deployed["first"], deployed["second"]):
        assert "PRIVATE KEY" not in out
        assert not any(l in out for l in body_lines)
        assert base64.b64encode(key).decode()[:40] not in out
    hs = api["core"].read_namespaced_secret("registry-http-secret", NS)
    http_secret = base64.b64decode(hs.data["http-secret"]).decode()
    assert len(http_secret) >= 32 and http_secret not in deployed["first"]


def test_service_account_and_cluster_role_binding(deployed, api):
    sa = api["core"].read_namespaced_service_account("registry", NS)
    assert sa.metadata.name == "registry"
    crb = api["rbac"].read_cluster_role_binding("registry-registry-role")
    assert crb.role_ref.kind == "ClusterRole" and crb.role_ref.name == "system:registry"
    assert [(s.kind, s.name, s.namespace) for s in crb.subjects] == [("ServiceAccount", "registry", NS)]


def test_service(deployed, api):
    svc = api["core"].read_namespaced_service("docker-registry", NS)
    assert svc.spec.session_affinity == "ClientIP"
    assert svc.spec.selector == {"docker-registry": "default"}
    assert [(p.port, p.protocol, str(p.target_port)) for p in svc.spec.ports] == [(5000, "TCP", "5000")]


def test_deployment_config(deployed, api, redhat_host):
    d = dc(api)
    spec = d["spec"]
    assert spec["replicas"] == 1
    assert spec["selector"] == {"docker-registry": "default"}
    pod = spec["template"]["spec"]
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/infra": "true"}
    assert pod["serviceAccountName"] == "registry"
    assert spec["template"]["metadata"]["labels"] == {"docker-registry": "default"}
    (c,) = pod["containers"]
    assert c["image"] == redhat_host + "/openshift3/ose-docker-registry:v3.11"
    assert [p["containerPort"] for p in c["ports"]] == [5000]
    env = dict((e["name"], e) for e in c["env"])
    assert env["REGISTRY_HTTP_ADDR"]["value"] == ":5000"
    assert env["REGISTRY_HTTP_NET"]["value"] == "tcp"
    assert env["REGISTRY_OPENSHIFT_SERVER_ADDR"]["value"] == "docker-registry.default.svc:5000"
    assert env["REGISTRY_MIDDLEWARE_REPOSITORY_OPENSHIFT_ENFORCEQUOTA"]["value"] == "false"
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}}
    assert env["REGISTRY_HTTP_TLS_CERTIFICATE"]["value"] == "/etc/secrets/registry.crt"
    assert env["REGISTRY_HTTP_TLS_KEY"]["value"] == "/etc/secrets/registry.key"
    assert "value" not in env["REGISTRY_HTTP_SECRET"]
    assert env["REGISTRY_HTTP_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "registry-http-secret",
                                                                         "key": "http-secret"}
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": 5000, "scheme": "HTTPS"}
    mounts = dict((m["name"], m["mountPath"]) for m in c["volumeMounts"])
    assert mounts == {"registry-storage": "/registry", "registry-certificates": "/etc/secrets"}
    vols = dict((v["name"], v) for v in pod["volumes"])
    assert vols["registry-storage"].get("emptyDir") == {}
    assert "hostPath" not in vols["registry-storage"] and "persistentVolumeClaim" not in vols["registry-storage"]
    assert vols["registry-certificates"]["secret"]["secretName"] == "registry-certificates"


def test_route_passthrough(deployed, api):
    r = route(api)
    assert r["spec"]["to"]["kind"] == "Service" and r["spec"]["to"]["name"] == "docker-registry"
    assert r["spec"]["tls"]["termination"] == "passthrough"
    assert "insecureEdgeTerminationPolicy" not in r["spec"]["tls"]
    assert r["spec"]["host"].startswith("docker-registry-default.")


def scc(api, name):
    return api["custom"].get_cluster_custom_object("security.openshift.io", "v1", "securitycontextconstraints", name)


def test_scc_hostnetwork_granted(deployed, api):
    s = scc(api, "hostnetwork")
    assert s["users"].count("system:serviceaccount:default:registry") == 1, s["users"]
    assert s["allowHostNetwork"] is True and s["allowHostPorts"] is True  # the rest of the SCC untouched


def test_scc_grant_keeps_other_users_and_missing_scc_fails_first(deployed, api, lab):
    """The grant adds the service account to the users already listed and removes none; an SCC that
    does not exist fails the run before any object is changed."""
    other = "system:serviceaccount:lab-test:someone-else"
    s = scc(api, "hostnetwork")
    api["custom"].patch_cluster_custom_object("security.openshift.io", "v1", "securitycontextconstraints",
                                              "hostnetwork", {"users": [other]})
    try:
        rc, out = run_playbook()
        assert rc == 0, out[-6000:]
        users = scc(api, "hostnetwork")["users"]
        assert users == [other, "system:serviceaccount:default:registry"], users
    finally:
        api["custom"].patch_cluster_custom_object("security.openshift.io", "v1", "securitycontextconstraints",
                                                  "hostnetwork", {"users": s["users"]})
    log = lab["api"]["request_log"]
    off = log_size(log)
    rc, out = run_playbook("-e", '{"okd_integrated_registry_scc_grants": ["hostnetwork", "no-such-scc"]}',
                           "-e", "okd_integrated_registry_replicas=2")
    assert rc != 0
    flat = " ".join(out.split())
    assert "SecurityContextConstraints no-such-scc (okd_integrated_registry_scc_grants) not found" in flat, out[-4000:]
    assert changing(requests_since(log, off)) == []
    assert dc(api)["spec"]["replicas"] == 1


def test_ops_settings_applied_exactly_then_reverted(deployed, api):
    """replicas, node selector, resources, --enforce-quota, extra env and the route's insecure edge
    policy reach the API objects; back to the defaults, nothing of them is left behind."""
    custom = {
        "okd_integrated_registry_replicas": 2,
        "okd_integrated_registry_node_selector": {"region": "infra", "lab/registry": "yes"},
        "okd_integrated_registry_resources": {"requests": {"cpu": "200m"}, "limits": {"memory": "1Gi"}},
        "okd_integrated_registry_enforce_quota": True,
        "okd_integrated_registry_env": {"REGISTRY_MIDDLEWARE_REPOSITORY_OPENSHIFT_PULLTHROUGH": True,
                                        "REGISTRY_LOG_LEVEL": "debug"},
        "okd_integrated_registry_route_termination": "reencrypt",
        "okd_integrated_registry_route_insecure_edge_termination_policy": "Allow",
    }
    # nodes the new selector matches (3.11 leaves the pods Pending otherwise; the role then fails): two, one per
    # replica, since the lab's pods share their host's network (lab/api/controllers.py schedule)
    labelled = ["master1.lab.test", "node1.lab.test"]
    for node in labelled:
        api["core"].patch_node(node, {"metadata": {"labels": {"region": "infra", "lab/registry": "yes"}}})
    try:
        rc, out = run_playbook("-e", json.dumps(custom))
    finally:
        for node in labelled:
            api["core"].patch_node(node, {"metadata": {"labels": {"region": None, "lab/registry": None}}})
    assert rc == 0, out[-6000:]
    d = dc(api)
    pod = d["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    env = dict((e["name"], e.get("value")) for e in c["env"])
    assert d["spec"]["replicas"] == 2
    assert pod["nodeSelector"] == {"region": "infra", "lab/registry": "yes"}  # the infra label is gone
    assert c["resources"] == {"requests": {"cpu": "200m"}, "limits": {"memory": "1Gi"}}
    assert env["REGISTRY_MIDDLEWARE_REPOSITORY_OPENSHIFT_ENFORCEQUOTA"] == "true"
    assert env["REGISTRY_MIDDLEWARE_REPOSITORY_OPENSHIFT_PULLTHROUGH"] == "true"
    assert env["REGISTRY_LOG_LEVEL"] == "debug"
    tls = route(api)["spec"]["tls"]
    assert tls["termination"] == "reencrypt" and tls["insecureEdgeTerminationPolicy"] == "Allow"
    # the same again changes nothing (no new rollout, so the labels are not needed)
    rc, out = run_playbook("-e", json.dumps(custom))
    assert rc == 0 and recap(out)["changed"] == 0, out[-4000:]
    # Allow is refused with passthrough, and an env name the role sets itself is refused
    for bad in ({"okd_integrated_registry_route_insecure_edge_termination_policy": "Allow"},
                {"okd_integrated_registry_env": {"REGISTRY_HTTP_ADDR": ":6000"}}):
        rc, out = run_playbook("-e", json.dumps(bad))
        assert rc != 0 and "okd_integrated_registry: invalid settings" in " ".join(out.split()), out[-3000:]
    # defaults again
    rc, out = run_playbook()
    assert rc == 0, out[-6000:]
    d = dc(api)
    pod = d["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    env = dict((e["name"], e.get("value")) for e in c["env"])
    assert d["spec"]["replicas"] == 1
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/infra": "true"}
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}}
    assert env["REGISTRY_MIDDLEWARE_REPOSITORY_OPENSHIFT_ENFORCEQUOTA"] == "false"
    tls = route(api)["spec"]["tls"]
    assert tls["termination"] == "passthrough" and "insecureEdgeTerminationPolicy" not in tls
    # the extra env entries the role set (recorded in the DC's okd-registry-toolkit/managed-env) are gone
    extra = ("REGISTRY_MIDDLEWARE_REPOSITORY_OPENSHIFT_PULLTHROUGH", "REGISTRY_LOG_LEVEL")
    assert not any(n in env for n in extra), env
    assert "REGISTRY_LOG_LEVEL" not in d["metadata"]["annotations"]["okd-registry-toolkit/managed-env"].split(",")


def test_certificate_signed_by_the_ca_with_the_sans(deployed, api, lab):
    crt_pem, key_pem = cert_secret(api)
    crt = x509.load_pem_x509_certificate(crt_pem)
    ca = load_ca(lab)
    crt.verify_directly_issued_by(ca)  # raises when not signed by the given CA
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
        == crt.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    dns, ips = sans_of(crt)
    assert {"docker-registry", "docker-registry.default.svc", "docker-registry.default.svc.cluster.local",
            route(api)["spec"]["host"]} <= dns
    cluster_ip = api["core"].read_namespaced_service("docker-registry", NS).spec.cluster_ip
    if cluster_ip and cluster_ip != "None":
        assert str(ipaddress.ip_address(cluster_ip)) in ips


def test_rerun_sends_no_changing_request(deployed):
    assert recap(deployed["second"])["changed"] == 0, deployed["second"][-4000:]
    assert len(ours(deployed["second_requests"])) >= 7, "the re-run's GETs are not in the request log"
    assert changing(deployed["second_requests"]) == []
    # a run that changes something is seen in the log (so the assertion above can fail)
    if recap(deployed["first"])["changed"]:
        assert changing(deployed["first_requests"])


def test_check_mode_changes_nothing(deployed, api, lab):
    log = lab["api"]["request_log"]
    before = (rolled_out(api), route(api), cert_secret(api))     # the last test's rollout has ended
    off = log_size(log)
    rc, out = run_playbook("--check", "--diff", "-e", "okd_integrated_registry_replicas=3",
                           "-e", "okd_integrated_registry_route_termination=reencrypt",
                           "-e", '{"okd_integrated_registry_cert_extra_sans": ["check.lab.test"]}')
    assert rc == 0, out[-6000:]
    assert recap(out)["changed"] >= 3, out[-4000:]  # would change the DC, the route and the certificate
    assert changing(requests_since(log, off)) == []
    after = (dc(api), route(api), cert_secret(api))
    assert after[0]["spec"]["replicas"] == 1
    assert after[1]["spec"]["tls"]["termination"] == "passthrough"
    assert after[2] == before[2]
    assert after[0]["metadata"]["resourceVersion"] == before[0]["metadata"]["resourceVersion"]


def test_san_change_reissues_then_keeps(deployed, api, lab):
    crt0, key0 = cert_secret(api)
    secret0 = api["core"].read_namespaced_secret("registry-http-secret", NS).data["http-secret"]
    rc, out = run_playbook("-e", '{"okd_integrated_registry_cert_extra_sans": ["registry.extra.lab.test"]}',
                           "-e", "okd_integrated_registry_route_termination=reencrypt")
    assert rc == 0, out[-6000:]
    crt1, key1 = cert_secret(api)
    assert crt1 != crt0 and key1 != key0
    cert = x509.load_pem_x509_certificate(crt1)
    cert.verify_directly_issued_by(load_ca(lab))
    assert "registry.extra.lab.test" in sans_of(cert)[0]
    r = route(api)
    assert r["spec"]["tls"]["termination"] == "reencrypt"
    assert r["spec"]["tls"]["destinationCACertificate"].strip() == Path(lab["ca_file"]).read_text().strip()
    # back to the defaults: a new certificate without the extra SAN, passthrough without the CA
    rc, out = run_playbook()
    assert rc == 0, out[-6000:]
    crt2, _ = cert_secret(api)
    assert "registry.extra.lab.test" not in sans_of(x509.load_pem_x509_certificate(crt2))[0]
    r = route(api)
    assert r["spec"]["tls"]["termination"] == "passthrough" and "destinationCACertificate" not in r["spec"]["tls"]
    # REGISTRY_HTTP_SECRET was generated once and kept through all runs
    assert api["core"].read_namespaced_secret("registry-http-secret", NS).data["http-secret"] == secret0


def _oc_adm_registry_dc(redhat_host):
    """The DeploymentConfig as `oc adm registry` (origin pkg/oc/cli/admin/registry/registry.go
    RunCmdRegistry) and therefore openshift-ansible 3.11 create it: REGISTRY_HTTP_SECRET as a literal
    value, a privileged: false container, an emptyDir registry-storage volume."""
    return {"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
            "metadata": {"name": "docker-registry", "labels": {"docker-registry": "default"}},
            "spec": {"replicas": 1, "selector": {"docker-registry": "default"},
                     "triggers": [{"type": "ConfigChange"}],
                     "template": {"metadata": {"labels": {"docker-registry": "default"}}, "spec": {
                         "serviceAccountName": "registry",
                         "containers": [{
                             "name": "registry", "image": redhat_host + "/openshift3/ose-docker-registry:v3.11",
                             "ports": [{"containerPort": 5000}],
                             "env": [{"name": "REGISTRY_MIDDLEWARE_REPOSITORY_OPENSHIFT_ENFORCEQUOTA", "value": "false"},
                                     {"name": "REGISTRY_HTTP_ADDR", "value": ":5000"},
                                     {"name": "REGISTRY_HTTP_NET", "value": "tcp"},
                                     {"name": "REGISTRY_HTTP_SECRET", "value": "b2MgYWRtIHJlZ2lzdHJ5IGxpdGVyYWw="}],
                             "resources": {"requests": {"cpu": "0.1", "memory": "256Mi"}},
                             "securityContext": {"privileged": False},
                             "volumeMounts": [{"name": "registry-storage", "mountPath": "/registry"}]}],
                         "volumes": [{"name": "registry-storage", "emptyDir": {}}]}}}}


def test_role_takes_over_an_oc_adm_registry_deployment_config(deployed, api, redhat_host):
    """issue 13 item 1: on a cluster installed by openshift-ansible the DC has REGISTRY_HTTP_SECRET as a
    literal `value`; the role writes `valueFrom`. Kubernetes 1.11 rejects an env entry with both (422), so
    the role must replace the value source, not merge it. Also: the API stores `0.1` CPU as `100m`, and
    the re-run compares quantities by value (no change)."""
    custom = api["custom"]
    custom.delete_namespaced_custom_object("apps.openshift.io", "v1", NS, "deploymentconfigs", "docker-registry")
    custom.create_namespaced_custom_object("apps.openshift.io", "v1", NS, "deploymentconfigs",
                                           _oc_adm_registry_dc(redhat_host))
    d = dc(api)
    assert d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "100m"
    rc, out = run_playbook()
    assert rc == 0, out[-6000:]
    (c,) = dc(api)["spec"]["template"]["spec"]["containers"]
    env = dict((e["name"], e) for e in c["env"])
    assert env["REGISTRY_HTTP_SECRET"] == {"name": "REGISTRY_HTTP_SECRET", "valueFrom": {"secretKeyRef": {
        "name": "registry-http-secret", "key": "http-secret"}}}
    assert "b2MgYWRtIHJlZ2lzdHJ5IGxpdGVyYWw=" not in out
    # the defaults' 100m CPU equals the stored value: nothing changes on a re-run
    rc, out = run_playbook("-e", '{"okd_integrated_registry_resources": {"requests": {"cpu": "0.1", "memory": "256Mi"}}}')
    assert rc == 0 and recap(out)["changed"] == 0, out[-4000:]


def test_hostpath_storage_gets_the_privileged_grant_and_is_admitted(deployed, api):
    """issue 13 item 11: hostPath storage needs a privileged container and the privileged SCC (what
    `oc adm registry --mount-host` sets up); with only hostnetwork 3.11's SCC admission refuses the pods.
    The lab admits the DC's pods against the SCCs granted to its service account."""
    sa_user = "system:serviceaccount:default:registry"
    before = scc(api, "privileged")["users"]
    hostpath = {"okd_integrated_registry_storage_kind": "hostpath",
                "okd_integrated_registry_storage_hostpath_node_selector": {"kubernetes.io/hostname": "master1.lab.test"}}
    try:
        rc, out = run_playbook("-e", json.dumps(hostpath))
        assert rc == 0, out[-6000:]
        assert sa_user in scc(api, "privileged")["users"]
        d = dc(api)
        (c,) = d["spec"]["template"]["spec"]["containers"]
        assert c["securityContext"]["privileged"] is True
        d = rolled_out(api)
        conds = dict((x["type"], x) for x in d["status"]["conditions"])
        latest = "docker-registry-%d" % d["status"]["latestVersion"]
        assert conds["Progressing"]["status"] == "True", conds
        assert conds["Progressing"]["message"] == 'replication controller "%s" successfully rolled out' % latest
        rcobj = api["core"].read_namespaced_replication_controller(latest, NS)
        assert not [x for x in (rcobj.status.conditions or []) if x.type == "ReplicaFailure"]
        pods = api["core"].list_namespaced_pod(NS, label_selector="deployment=" + latest).items
        assert pods and all(p.metadata.annotations["openshift.io/scc"] == "privileged" for p in pods)
    finally:
        rc, out = run_playbook()
        assert rc == 0, out[-6000:]
        api["custom"].patch_cluster_custom_object("security.openshift.io", "v1", "securitycontextconstraints",
                                                  "privileged", {"users": before})
    (c,) = dc(api)["spec"]["template"]["spec"]["containers"]
    assert c["securityContext"]["privileged"] is False


def test_refused_rollout_fails_the_role_naming_the_cause(deployed, api):
    """A rollout whose pods no granted SCC admits fails the run with 3.11's refusal (the RC's ReplicaFailure
    condition), instead of reporting success for a registry that never starts."""
    extra = {"okd_integrated_registry_env": {"REGISTRY_LOG_LEVEL": "info"}}
    sccs = "security.openshift.io", "v1", "securitycontextconstraints"
    hostnetwork_volumes = scc(api, "hostnetwork")["volumes"]
    # no SCC the registry's service account may use admits its secret volume (the registry certificate)
    api["custom"].patch_cluster_custom_object(*sccs, "restricted", {"groups": []})
    api["custom"].patch_cluster_custom_object(*sccs, "hostnetwork", {"volumes": ["emptyDir"]})
    try:
        rc, out = run_playbook("-e", json.dumps(extra))
        flat = " ".join(out.split())
        assert rc != 0, out[-4000:]
        assert "cannot create its pods" in flat and "unable to validate against any security context constraint" \
            in flat, out[-4000:]
    finally:
        api["custom"].patch_cluster_custom_object(*sccs, "restricted", {"groups": ["system:authenticated"]})
        api["custom"].patch_cluster_custom_object(*sccs, "hostnetwork", {"volumes": hostnetwork_volumes})
        d = dc(api)
        (c,) = d["spec"]["template"]["spec"]["containers"]
        c["env"] = [e for e in c["env"] if e["name"] != "REGISTRY_LOG_LEVEL"]
        api["custom"].replace_namespaced_custom_object("apps.openshift.io", "v1", NS, "deploymentconfigs",
                                                       "docker-registry", d)


def test_rollout_that_cannot_start_fails_the_role_with_the_process_error_then_recovers(deployed, api):
    """The role waits for its rollout (openshift-ansible's wait_for_pod.yml): a registry whose process cannot
    start (a second storage driver in the environment: distribution refuses its configuration) fails the run
    naming the rollout and the container's own message; the role without it rolls out again and completes."""
    extra = {"okd_integrated_registry_env": {"REGISTRY_STORAGE_NOSUCHDRIVER_ROOT": "x"}}
    try:
        rc, out = run_playbook("-e", json.dumps(extra))
        flat = " ".join(out.split())
        assert rc != 0, out[-4000:]
        version = dc(api)["status"]["latestVersion"]
        assert "rollout docker-registry-%d failed" % version in flat, out[-4000:]
        assert "registry storage (docker-registry) exited with code" in flat, out[-4000:]
    finally:
        rc, out = run_playbook()
    assert rc == 0, out[-4000:]
    d = rolled_out(api)
    conds = dict((x["type"], x) for x in d["status"]["conditions"])
    assert conds["Available"]["status"] == "True" and d["status"]["latestVersion"] == version + 1
    assert all(e["name"] != "REGISTRY_STORAGE_NOSUCHDRIVER_ROOT" for e in d["spec"]["template"]["spec"]["containers"][0]["env"])


def test_pvc_spec_change_is_refused_clearly_or_replaced_when_asked(deployed, api, lab):
    """issue 13 item 9: 3.11 refuses changes of a claim's spec (ValidatePersistentVolumeClaimUpdate). A new
    size fails the run naming the claim and the change, and nothing changes; with
    okd_integrated_registry_storage_pvc_replace the claim is deleted and created again."""
    pvc = {"okd_integrated_registry_storage_kind": "pvc", "okd_integrated_registry_storage_pvc_size": "5Gi"}
    try:
        rc, out = run_playbook("-e", json.dumps(pvc))
        assert rc == 0, out[-6000:]
        first = api["core"].read_namespaced_persistent_volume_claim("registry-claim", NS)
        assert first.spec.resources.requests["storage"] == "5Gi"
        # the same size spelled otherwise is no change (quantities compared by value)
        rc, out = run_playbook("-e", json.dumps(dict(pvc, okd_integrated_registry_storage_pvc_size="5120Mi")))
        assert rc == 0 and recap(out)["changed"] == 0, out[-4000:]
        log = lab["api"]["request_log"]
        off = log_size(log)
        bigger = dict(pvc, okd_integrated_registry_storage_pvc_size="10Gi")
        rc, out = run_playbook("-e", json.dumps(bigger))
        flat = " ".join(out.split())
        assert rc != 0
        assert "PersistentVolumeClaim default/registry-claim: the spec of a PersistentVolumeClaim is immutable" \
            in flat, out[-4000:]
        assert 'spec.resources.requests.storage: \\"5Gi\\" -> \\"10Gi\\"' in flat or \
            'spec.resources.requests.storage: "5Gi" -> "10Gi"' in flat, out[-4000:]
        assert "okd_integrated_registry_storage_pvc_replace: true" in flat
        assert [r for r in changing(requests_since(log, off)) if "persistentvolumeclaims" in r[1]] == []
        same = api["core"].read_namespaced_persistent_volume_claim("registry-claim", NS)
        assert same.metadata.uid == first.metadata.uid and same.spec.resources.requests["storage"] == "5Gi"
        rc, out = run_playbook("-e", json.dumps(dict(bigger, okd_integrated_registry_storage_pvc_replace=True)))
        assert rc == 0, out[-6000:]
        new = api["core"].read_namespaced_persistent_volume_claim("registry-claim", NS)
        assert new.metadata.uid != first.metadata.uid and new.spec.resources.requests["storage"] == "10Gi"
    finally:
        rc, out = run_playbook()
        assert rc == 0, out[-6000:]
        delete_quietly_pvc(api)


def delete_quietly_pvc(api):
    from kubernetes.client.rest import ApiException
    try:
        api["core"].delete_namespaced_persistent_volume_claim("registry-claim", NS, _preload_content=False)
    except ApiException:
        pass


def test_unschedulable_rollout_fails_the_role_naming_the_selector(deployed, api):
    """3.11's scheduler binds a pod only to a Ready node whose labels match its nodeSelector; the lab's nodes
    are its hosts (masters: master and infra roles, others: compute). No match: the pods stay Pending
    (FailedScheduling) and the run fails naming the selector, instead of reporting a registry that never
    starts. The default selector (infra) lands on master1."""
    rc, out = run_playbook("-e", json.dumps({"okd_integrated_registry_node_selector": {"lab/nowhere": "true"}}))
    flat = " ".join(out.split())
    assert rc != 0
    assert "its pods cannot be scheduled: 0/" in flat and "node(s) didn't match node selector" in flat, out[-4000:]
    assert "lab/nowhere" in flat
    rc, out = run_playbook()
    assert rc == 0, out[-6000:]
    d = rolled_out(api)
    latest = "docker-registry-%d" % d["status"]["latestVersion"]
    pods = api["core"].list_namespaced_pod(NS, label_selector="deployment=" + latest).items
    assert [p.spec.node_name for p in pods] == ["master1.lab.test"]
    assert pods[0].status.phase == "Running" and pods[0].status.host_ip == "10.231.1.10"
    node = api["core"].read_node("master1.lab.test")
    assert node.metadata.labels["node-role.kubernetes.io/infra"] == "true"
