"""Unit tests of the cluster compliance core (plugins/module_utils/cluster_compliance.py): no lab, no clock."""
import base64
import datetime
import json
import xml.etree.ElementTree as ET

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plugins.module_utils import cluster_compliance as cc
from plugins.module_utils import dockercfg

REG = "registry.redhat.io"
QUAY = "quay.io"
NOW = datetime.datetime(2026, 1, 1, 12, 0, 0)
SA_USER = "12345678|okd"


def _file(entries):
    cfg, _ = dockercfg.set_auths({}, [{"registry": r, "username": u, "password": p} for r, u, p in entries])
    return dockercfg.render_config(cfg)


def _secret(entries, stype=cc.DOCKERCONFIGJSON):
    return {"type": stype, "data": {".dockerconfigjson": base64.b64encode(_file(entries).encode()).decode()}}


def _by(results):
    return {(r["check"], r.get("host"), r.get("registry"), r.get("object")): r for r in results}


def _statuses(results):
    return {r["check"]: r["status"] for r in results}


# ---------------------------------------------------------------------------------------------- imagestreamsecret
MASTER_FILE = _file([(REG, SA_USER, "tok-1"), (QUAY, "org+robot", "q-1")])


def test_imagestreamsecret_compliant():
    res = cc.check_imagestreamsecret(_secret([(REG, SA_USER, "tok-1")]), "imagestreamsecret", "openshift", REG,
                                     master_host="m", master_content=MASTER_FILE,
                                     access={"outcome": {"credentials_tested": True, "digest": "sha256:ab"}},
                                     test_image="a/b:1", credential_kind="fail")
    assert _statuses(res) == {"imagestreamsecret_present": "pass", "imagestreamsecret_type": "pass",
                              "imagestreamsecret_entry": "pass", "imagestreamsecret_access": "pass",
                              "imagestreamsecret_matches_master": "pass", "credential_kind": "pass"}
    assert cc.summarize(res)["compliant"]


def test_imagestreamsecret_missing_wrong_type_no_entry():
    res = cc.check_imagestreamsecret(None, "imagestreamsecret", "openshift", REG)
    assert _statuses(res) == {"imagestreamsecret_present": "fail"}
    assert "secret openshift/imagestreamsecret does not exist" in res[0]["message"]
    res = cc.check_imagestreamsecret(_secret([(REG, SA_USER, "t")], stype="Opaque"), "imagestreamsecret",
                                     "openshift", REG)
    assert _statuses(res)["imagestreamsecret_type"] == "fail"
    assert "Opaque" in res[-1]["message"]
    res = cc.check_imagestreamsecret(_secret([(QUAY, "x", "y")]), "imagestreamsecret", "openshift", REG)
    assert _statuses(res)["imagestreamsecret_entry"] == "fail"
    bad = {"type": cc.DOCKERCONFIGJSON, "data": {".dockerconfigjson": base64.b64encode(b"{nope").decode()}}
    res = cc.check_imagestreamsecret(bad, "imagestreamsecret", "openshift", REG)
    assert _statuses(res)["imagestreamsecret_type"] == "fail"


def test_imagestreamsecret_differs_from_master_without_secret_in_report():
    res = cc.check_imagestreamsecret(_secret([(REG, SA_USER, "tok-OLD")]), "imagestreamsecret", "openshift", REG,
                                     master_host="m", master_content=MASTER_FILE,
                                     access={"error": "registry.redhat.io: login failed: 401 Unauthorized"})
    st = _statuses(res)
    assert st["imagestreamsecret_matches_master"] == "fail"
    assert st["imagestreamsecret_access"] == "fail"
    text = json.dumps(res)
    assert "tok-OLD" not in text and "tok-1" not in text and "sha256" not in text
    assert "another password or token" in text


def test_access_untested_when_anonymous():
    res = cc.check_imagestreamsecret(_secret([(REG, SA_USER, "t")]), "iss", "openshift", REG,
                                     access={"outcome": {"credentials_tested": False}})
    assert _statuses(res)["imagestreamsecret_access"] == "untested"


@pytest.mark.parametrize("policy,status", [("fail", "fail"), ("warn", "warn"), ("off", None)])
def test_credential_kind_policy(policy, status):
    res = cc.check_imagestreamsecret(_secret([(REG, "jdoe@example.com", "pw")]), "iss", "openshift", REG,
                                     credential_kind=policy)
    assert _statuses(res).get("credential_kind") == status
    assert cc.summarize(res)["compliant"] is (status != "fail")


def test_service_account_user_shape():
    assert cc.is_service_account_user("12345678|okd-cluster")
    assert not cc.is_service_account_user("1234567|short")
    assert not cc.is_service_account_user("jdoe")
    assert not cc.is_service_account_user("12345678|")


# ---------------------------------------------------------------------------------------------- nodes vs master
def test_nodes_against_master_names_each_difference_per_host():
    contents = {
        "m": MASTER_FILE,
        "n1": MASTER_FILE,
        "n2": _file([(REG, SA_USER, "tok-OLD"), (QUAY, "org+robot", "q-1")]),
        "n3": _file([(REG, SA_USER, "tok-1")]),
        "n4": None,
        "n5": "{not json",
    }
    res = cc.check_nodes_against_master("m", contents)
    by = _by(res)
    assert by[("node_matches_master", "n1", REG, None)]["status"] == "pass"
    assert by[("node_matches_master", "n1", QUAY, None)]["status"] == "pass"
    assert by[("node_matches_master", "n2", REG, None)]["status"] == "fail"
    assert by[("node_matches_master", "n2", QUAY, None)]["status"] == "pass"
    assert by[("node_matches_master", "n3", QUAY, None)]["status"] == "fail"
    assert "no entry for quay.io" in by[("node_matches_master", "n3", QUAY, None)]["message"]
    assert by[("node_matches_master", "n4", None, None)]["status"] == "fail"
    assert "missing" in by[("node_matches_master", "n4", None, None)]["message"]
    assert by[("node_matches_master", "n5", None, None)]["status"] == "fail"
    assert not any(r.get("host") == "m" for r in res)
    text = json.dumps(res)
    assert "tok-" not in text and "q-1" not in text


def test_nodes_against_unreadable_master():
    res = cc.check_nodes_against_master("m", {"m": None, "n1": MASTER_FILE})
    assert [(r["check"], r["status"], r["host"]) for r in res] == [("node_matches_master", "fail", "m")]


# ---------------------------------------------------------------------------------------------- image streams
def _stream(name, tags, failed=(), old=None):
    spec = []
    status = []
    for t in tags:
        src = "%s/rhscl/%s:%s" % (old or REG, name, t)
        spec.append({"name": t, "from": {"kind": "DockerImage", "name": src}})
        st = {"tag": t, "items": [] if t in failed else [{"image": "sha256:x", "generation": 2}]}
        if t in failed:
            st["conditions"] = [{"type": "ImportSuccess", "status": "False", "generation": 2,
                                 "message": "you may not have access to the container image"}]
        status.append(st)
    return {"metadata": {"name": name}, "spec": {"tags": spec}, "status": {"tags": status}}


def test_image_streams_failed_imports_and_old_registry():
    streams = [_stream("httpd", ["2.4"]), _stream("mysql", ["5.7", "8.0"], failed=["8.0"]),
               _stream("perl", ["5.26"], old="registry.access.redhat.com")]
    res = cc.check_image_streams("openshift", streams, ["registry.access.redhat.com"])
    by = _by(res)
    assert by[("image_stream_imports", None, None, "imagestream openshift/httpd")]["status"] == "pass"
    mysql = by[("image_stream_imports", None, None, "imagestream openshift/mysql")]
    assert mysql["status"] == "fail" and "8.0: you may not have access" in mysql["message"]
    assert "5.7" not in mysql["message"]
    assert by[("image_stream_registry", None, None, "imagestream openshift/perl")]["status"] == "fail"
    assert by[("image_stream_registry", None, None, "imagestream openshift/httpd")]["status"] == "pass"


def test_image_stream_recovered_after_failure_passes():
    s = _stream("ruby", ["2.5"])
    s["status"]["tags"][0]["conditions"] = [{"type": "ImportSuccess", "status": "False", "generation": 1}]
    res = cc.check_image_streams("openshift", [s], [])
    assert _statuses(res) == {"image_stream_imports": "pass"}


def test_no_streams_is_skip():
    assert _statuses(cc.check_image_streams("openshift", [], [])) == {"image_stream_imports": "skip"}


# ---------------------------------------------------------------------------------------------- integrated registry
def _cert(names, not_after, ip=None):
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in names]
    if ip:
        import ipaddress
        sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u"reg")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime.datetime(2020, 1, 1)).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_certificate_info_reads_sans_and_not_after():
    pem = _cert(["a.example", "*.apps.example"], datetime.datetime(2049, 5, 6, 7, 8, 9), ip="172.30.1.1")
    pem_late = _cert(["b"], datetime.datetime(2051, 1, 1))  # GeneralizedTime after 2049
    info = cc.certificate_info(cc.pem_certificates(pem)[0])
    assert info == {"not_after": datetime.datetime(2049, 5, 6, 7, 8, 9), "dns": ["a.example", "*.apps.example"],
                    "ip": ["172.30.1.1"]}
    assert cc.certificate_info(cc.pem_certificates(pem_late)[0])["not_after"] == datetime.datetime(2051, 1, 1)


ROUTE_HOST = "docker-registry-default.apps.example"
SVC = "docker-registry.default.svc"


def _registry(cert_names=(SVC, ROUTE_HOST), not_after=datetime.datetime(2027, 1, 1), avail=1, route_host=ROUTE_HOST,
              dc=True, svc=True, route=True, cert=True):
    return dict(
        dc={"spec": {"replicas": 1}, "status": {"availableReplicas": avail}} if dc else None,
        service={"spec": {"ports": [{"port": 5000}]}} if svc else None,
        route={"spec": {"host": route_host, "tls": {"termination": "passthrough"}}} if route else None,
        cert_secret={"data": {"registry.crt": base64.b64encode(_cert(list(cert_names), not_after)).decode()}}
        if cert else None)


def _check_registry(**kw):
    objs = _registry(**kw)
    return cc.check_integrated_registry("default", "docker-registry", objs["dc"], objs["service"], objs["route"],
                                        objs["cert_secret"], NOW, renew_days=30, port=5000, route_host=ROUTE_HOST,
                                        route_termination="passthrough")


def test_integrated_registry_compliant():
    assert set(_statuses(_check_registry()).values()) == {"pass"}


def test_integrated_registry_findings():
    assert _statuses(_check_registry(avail=0))["registry_deploymentconfig"] == "fail"
    assert _statuses(_check_registry(dc=False))["registry_deploymentconfig"] == "fail"
    assert _statuses(_check_registry(svc=False))["registry_service"] == "fail"
    assert _statuses(_check_registry(route=False))["registry_route"] == "fail"
    res = _check_registry(route_host="other.example")
    assert _statuses(res)["registry_route"] == "fail"
    assert _statuses(res)["registry_certificate"] == "fail"  # the cert does not cover the route's host
    res = _check_registry(cert_names=[ROUTE_HOST])
    cert = [r for r in res if r["check"] == "registry_certificate"][0]
    assert cert["status"] == "fail" and SVC in cert["message"]
    res = _check_registry(not_after=NOW + datetime.timedelta(days=29))
    cert = [r for r in res if r["check"] == "registry_certificate"][0]
    assert cert["status"] == "fail" and "within 30 days" in cert["message"]
    assert _statuses(_check_registry(not_after=NOW + datetime.timedelta(days=31)))["registry_certificate"] == "pass"
    assert _statuses(_check_registry(cert=False))["registry_certificate"] == "fail"


def test_wildcard_route_name():
    res = _check_registry(cert_names=[SVC, "*.apps.example"])
    assert _statuses(res)["registry_certificate"] == "pass"


# ---------------------------------------------------------------------------------------------- pull secrets
def test_pull_secret_checks():
    sec = _secret([(QUAY, "org+robot", "q")])
    sa_ok = {"imagePullSecrets": [{"name": "quay-pull"}]}
    res = cc.check_pull_secret("apps", "quay-pull", [QUAY], sec, [("default", ["pull"], sa_ok)])
    assert _statuses(res) == {"pull_secret_present": "pass", "pull_secret_linked": "pass"}
    res = cc.check_pull_secret("apps", "quay-pull", [QUAY], None, [("default", ["pull"], {"imagePullSecrets": []})])
    assert _statuses(res) == {"pull_secret_present": "fail", "pull_secret_linked": "fail"}
    res = cc.check_pull_secret("apps", "quay-pull", [QUAY], sec, [("builder", ["pull", "mount"], sa_ok)])
    linked = [r for r in res if r["check"] == "pull_secret_linked"][0]
    assert linked["status"] == "fail" and "mount (secrets)" in linked["message"]
    res = cc.check_pull_secret("apps", "quay-pull", [REG], sec, [])
    assert _statuses(res) == {"pull_secret_present": "fail"}
    res = cc.check_pull_secret("apps", "quay-pull", [QUAY], sec, [("default", ["pull"], None)])
    assert _statuses(res)["pull_secret_linked"] == "fail"


# ---------------------------------------------------------------------------------------------- output
REPORT = {
    "hosts": {
        "node1": {"compliant": False, "unreachable": False, "results": [
            {"check": "file_mode", "status": "fail", "path": "/p", "message": "mode 0644 <&>"},
            {"check": "access", "status": "untested", "registry": REG, "message": "anonymous"}]},
        "node9": {"compliant": False, "unreachable": True, "error": "ssh: no route", "results": []},
    },
    "cluster": {"compliant": False, "results": [
        {"check": "credential_kind", "status": "warn", "registry": REG, "message": "web user"},
        {"check": "registry_service", "status": "pass", "object": "service default/docker-registry",
         "message": "ok"},
        {"check": "imagestreamsecret_present", "status": "fail", "message": "missing"}]},
}


def test_junit_xml():
    root = ET.fromstring(cc.junit_xml(REPORT))
    assert root.tag == "testsuites" and root.get("tests") == "6" and root.get("failures") == "3"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"node1", "node9", "cluster"}
    cases = {(s, c.get("name")): c for s, suite in suites.items() for c in suite.findall("testcase")}
    fm = cases[("node1", "file_mode /p")]
    assert fm.find("failure").get("message") == "mode 0644 <&>"
    assert cases[("node1", "access %s" % REG)].find("skipped").get("message") == "untested: anonymous"
    assert cases[("node9", "host")].find("failure") is not None
    assert cases[("cluster", "credential_kind %s" % REG)].find("skipped").get("message") == "warn: web user"
    ok = cases[("cluster", "registry_service service default/docker-registry")]
    assert ok.find("failure") is None and ok.find("skipped") is None
    assert ok.find("properties/property").get("value") == "pass"
    assert suites["cluster"].get("failures") == "1" and suites["cluster"].get("skipped") == "1"


def test_table():
    text = cc.report_table(REPORT)
    lines = text.splitlines()
    assert lines[0].split() == ["STATUS", "WHERE", "CHECK", "MESSAGE"]
    assert any(line.startswith("FAIL") and "cluster" in line and "imagestreamsecret_present" in line
               for line in lines)
    assert any(line.startswith("WARN") and "credential_kind" in line for line in lines)
    assert lines[-1] == "6 checks: 1 pass, 3 fail, 1 warn, 0 skip, 1 untested"
