"""Cluster compliance against the lab (playbooks/compliance.yml, module okd_cluster_compliance).

One pass breaks independent things at once - the imagestreamsecret holds a web user's password, node2's
file a service account other than the master's, the pull secret is unlinked, the registry's DeploymentConfig
has no replicas, its Service is gone, its Route names another host, its certificate expires in 10 days, one
image stream fails to import and one names the old registry - and the report names exactly these cluster
findings (each asserted with its own message), in the JSON, the JUnit XML and the table. Then the parts of
site.yml that own them (registry_credentials, cluster_registry_secrets, integrated_registry) repair them,
the test removes its image streams, and compliance passes.
"""
import base64
import datetime
import json
import os
import time
import xml.etree.ElementTree as ET

import pytest

import labtools

CONFIG = "/var/lib/origin/.docker/config.json"
NS = "compliance-lab"
OLD = "old-registry.lab.test"
# the integrated registry role's default route host for the lab (no openshift_master_default_subdomain)
ROUTE_HOST = "docker-registry-default.router.default.svc.cluster.local"
# the parts of site.yml that own what the test breaks
REPAIR = ("playbooks/registry_credentials.yml", "playbooks/cluster_registry_secrets.yml",
          "playbooks/integrated_registry.yml")


@pytest.fixture(scope="module")
def api(lab):
    from kubernetes import client, config
    api_client = config.new_client_from_config(config_file=lab["api"]["kubeconfig"])
    return {"core": client.CoreV1Api(api_client), "custom": client.CustomObjectsApi(api_client)}


def _account(lab, reg, user):
    return next(a for a in lab["registries"][reg]["accounts"] if a["username"] == user)


def _dockerconfig(host, user, password):
    auth = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return json.dumps({"auths": {host: {"auth": auth}}})


def _short_lived_cert(lab, names):
    """registry.crt signed by the lab CA, valid for ``names``, expiring in 10 days (the role renews within 30)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    pki = os.path.join(lab["state_dir"], "pki")
    with open(os.path.join(pki, "ca.crt"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(pki, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=10))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())


def _wait(fetch, done, what, tries=120):
    for _ in range(tries):
        value = fetch()
        if done(value):
            return value
        time.sleep(0.5)
    raise AssertionError("%s: not reached; last %r" % (what, value))


def _stream(name, source):
    return {"apiVersion": "image.openshift.io/v1", "kind": "ImageStream", "metadata": {"name": name, "namespace": NS},
            "spec": {"tags": [{"name": "1.0", "from": {"kind": "DockerImage", "name": source}}]}}


def _delete_stream(custom, name):
    try:
        custom.delete_namespaced_custom_object("image.openshift.io", "v1", NS, "imagestreams", name)
    except Exception as e:
        assert getattr(e, "status", None) == 404, e


def _compliance(report, *extra):
    return labtools.run_playbook("playbooks/compliance.yml", "-e", "registry_compliance_report_path=%s" % report,
                                 "-e", json.dumps({"registry_compliance_image_stream_namespaces": [NS],
                                                   "registry_compliance_old_registries": [OLD]}), *extra)


def _failed(report):
    return {(r["check"], r.get("host"), r.get("registry"), r.get("object")): r["message"]
            for r in report["cluster"]["results"] if r["status"] == "fail"}


def test_cluster_checks_find_each_break_and_site_parts_repair(lab, lab_exec, api, tmp_path):
    redhat = lab["registries"]["redhat"]["host"]
    core, custom = api["core"], api["custom"]
    web = _account(lab, "redhat", "labuser")
    other_sa = _account(lab, "redhat", "11009103|no-entitlement")
    # a known-good baseline (other tests may leave a host with another credential, the registry's Route
    # with another termination or none): the same playbooks that repair at the end
    for pb in REPAIR:
        rc, out = labtools.run_playbook(pb)
        assert rc == 0, out[-3000:]
    node2_before = lab_exec("node2", "cat %s" % CONFIG).stdout
    report_path = tmp_path / "report.json"
    repaired = False
    try:
        # ---- break
        iss = core.read_namespaced_secret("imagestreamsecret", "openshift")
        iss.data = {".dockerconfigjson": base64.b64encode(
            _dockerconfig(redhat, web["username"], web["password"]).encode()).decode()}
        core.replace_namespaced_secret("imagestreamsecret", "openshift", iss)
        lab_exec("node2", "cat > %s && chmod 600 %s" % (CONFIG, CONFIG),
                 input=_dockerconfig(redhat, other_sa["username"], other_sa["password"]))
        sa = core.read_namespaced_service_account("default", "lab-apps")
        sa.image_pull_secrets = [r for r in (sa.image_pull_secrets or []) if r.name != "quay-pull"]
        core.replace_namespaced_service_account("default", "lab-apps", sa)
        custom.delete_namespaced_custom_object("apps.openshift.io", "v1", "default", "deploymentconfigs",
                                               "docker-registry")
        core.delete_namespaced_service("docker-registry", "default", _preload_content=False)
        route_host = ROUTE_HOST
        custom.patch_namespaced_custom_object("route.openshift.io", "v1", "default", "routes", "docker-registry",
                                              {"spec": {"host": "elsewhere.lab.test"}})
        crt, key = _short_lived_cert(lab, ["docker-registry.default.svc", route_host])
        cs = core.read_namespaced_secret("registry-certificates", "default")
        cs.data["registry.crt"] = base64.b64encode(crt).decode()
        cs.data["registry.key"] = base64.b64encode(key).decode()
        core.replace_namespaced_secret("registry-certificates", "default", cs)
        try:
            core.create_namespace({"metadata": {"name": NS}})
        except Exception as e:  # left by an earlier run
            assert getattr(e, "status", None) == 409, e
        for name, src in (("broken", "%s/openshift3/ose-pod:no-such-tag" % redhat),
                          ("old", "%s/rhscl/httpd-24-rhel7:latest" % OLD)):
            _delete_stream(custom, name)  # left by an interrupted run
            custom.create_namespaced_custom_object("image.openshift.io", "v1", NS, "imagestreams", _stream(name, src))
        _wait(lambda: custom.get_namespaced_custom_object("image.openshift.io", "v1", NS, "imagestreams", "broken"),
              lambda s: any(c.get("type") == "ImportSuccess" for t in (s.get("status") or {}).get("tags") or []
                            for c in t.get("conditions") or []), "the failed import of %s/broken" % NS)

        # ---- compliance sees exactly these findings
        rc, out = _compliance(report_path, "-e", "registry_compliance_credential_kind=fail")
        assert rc != 0, out[-3000:]
        report = json.loads(report_path.read_text())
        failed = _failed(report)
        iss_obj = "secret openshift/imagestreamsecret"
        expected = {
            ("imagestreamsecret_matches_master", "master1", redhat, iss_obj): "holds another credential for %s than "
            "master1's file (user labuser, the master's 11009103|lab-cluster)" % redhat,
            ("credential_kind", None, redhat, None): "uses the username/password of user labuser",
            ("node_matches_master", "node2", redhat, None): "node2: the entry for %s differs from master1's (user "
            "11009103|no-entitlement, the master's 11009103|lab-cluster)" % redhat,
            ("node_matches_master", "node2", "quay.lab.test:5445", None): "node2: no entry for quay.lab.test:5445",
            ("pull_secret_linked", None, None, "serviceaccount lab-apps/default"): "is not linked to serviceaccount "
            "lab-apps/default for pull (imagePullSecrets)",
            ("registry_deploymentconfig", None, None, "deploymentconfig default/docker-registry"): "does not exist",
            ("registry_service", None, None, "service default/docker-registry"): "does not exist",
            ("registry_route", None, None, "route default/docker-registry"): "host elsewhere.lab.test, expected %s"
            % route_host,
            ("registry_certificate", None, None, "secret default/registry-certificates"): "within 30 days",
            ("image_stream_imports", None, None, "imagestream %s/broken" % NS): "no-such-tag",
            ("image_stream_imports", None, None, "imagestream %s/old" % NS): OLD,
            ("image_stream_registry", None, None, "imagestream %s/old" % NS): "still names the old registry: 1.0 "
            "(%s/rhscl/httpd-24-rhel7:latest)" % OLD,
        }
        # the credential_kind result carries no object; the key above matches how it is reported
        failed = {(k[0], k[1], k[2], None if k[0] == "credential_kind" else k[3]): v for k, v in failed.items()}
        assert set(failed) == set(expected), json.dumps(sorted(map(str, failed)), indent=1)
        for k, text in expected.items():
            assert text in failed[k], (k, failed[k])
        statuses = {r["check"]: r["status"] for r in report["cluster"]["results"]}
        assert statuses["imagestreamsecret_access"] == "pass"  # the web user can pull: not a finding
        # only node2 of the hosts is non-compliant (its file is not the inventory's credential)
        assert [h for h, v in report["hosts"].items() if not v["compliant"]] == ["node2"]
        # JUnit XML beside the report: the same findings as <failure>, the table in the output
        xml = ET.parse(str(report_path)[:-len(".json")] + ".xml").getroot()
        suite = [s for s in xml.findall("testsuite") if s.get("name") == "cluster"][0]
        assert int(suite.get("failures")) == len(expected)
        names = {c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None}
        assert "registry_service service default/docker-registry" in names
        assert "node_matches_master node2 %s" % redhat in names
        assert os.stat(str(report_path)[:-len(".json")] + ".xml").st_mode & 0o777 == 0o600
        assert "FAIL     cluster registry_route" in out
        # no secret anywhere
        text = report_path.read_text() + open(str(report_path)[:-5] + ".xml").read() + out
        for s in labtools.lab_secrets(lab):
            assert s not in text

        # ---- the parts of site.yml that own them repair them
        for pb in REPAIR:
            rc, fix = labtools.run_playbook(pb)
            assert rc == 0, fix[-3000:]
        repaired = True
        _delete_stream(custom, "broken")
        _delete_stream(custom, "old")
        _wait(lambda: custom.get_namespaced_custom_object("apps.openshift.io", "v1", "default", "deploymentconfigs",
                                                          "docker-registry"),
              lambda d: (d.get("status") or {}).get("availableReplicas"), "docker-registry available again")
        rc, out = _compliance(report_path, "-e", "registry_compliance_credential_kind=fail")
        assert rc == 0, out[-4000:]
        report = json.loads(report_path.read_text())
        assert report["cluster"]["compliant"] and not _failed(report)
        assert all(h["compliant"] for h in report["hosts"].values())
        # the smoke check is opt-in (registry_compliance_cluster_smoke, tests/lab/test_integrated_registry_smoke.py): off here
        assert [r for r in report["cluster"]["results"] if r["check"] == "registry_smoke"] == []
    finally:
        if not repaired:
            lab_exec("node2", "cat > %s && chmod 600 %s" % (CONFIG, CONFIG), input=node2_before)
            for pb in ("playbooks/cluster_registry_secrets.yml", "playbooks/integrated_registry.yml"):
                labtools.run_playbook(pb)
        for name in ("broken", "old"):
            _delete_stream(custom, name)
        try:
            core.delete_namespace(NS)
        except Exception:
            pass
