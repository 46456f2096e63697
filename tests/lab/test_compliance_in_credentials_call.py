"""site.yml: each host's credentials call also makes registry_compliance's per-host checks, and the compliance play
at the end of the run reports from them (one module call per host for both, issue 10; docs/compliance.md).

The report must still rest on real observations of every host, made after the write: a file the write repairs is
seen repaired, a host that cannot reach a registry with its own file is not compliant (its access is proved from
the host, not taken from the controller's verification), and the node files are compared with the master's. When
a host's inventory gives compliance other settings, compliance makes its own call on every host instead.
"""
import json

from labtools import REPO, lab_secrets, run_playbook

CONFIG = "/var/lib/origin/.docker/config.json"
CHECK_TASK = "TASK [registry_compliance : Check registry credentials files]"


def _results(report, host):
    return {(r["check"], r.get("registry")): r for r in report["hosts"][host]["results"]}


def test_site_compliance_is_made_in_the_credentials_call(lab, lab_exec, tmp_path):
    redhat = lab["registries"]["redhat"]["host"]
    quay = lab["registries"]["quay"]["host"]
    ca = "/etc/docker/certs.d/%s/ca.crt" % redhat
    report_path = tmp_path / "report.json"
    # node2's file loosened (the write repairs it: compliance must see the repaired file); node1 loses the
    # registry's CA (its own access fails: the controller's verification must not stand in for it)
    lab_exec("node2", "chmod 0644 %s" % CONFIG)
    lab_exec("node1", "mv %s %s.aside" % (ca, ca))
    try:
        rc, out = run_playbook("site.yml", "-e", "registry_compliance_report_path=%s" % report_path)
    finally:
        lab_exec("node1", "mv %s.aside %s" % (ca, ca))
    assert rc != 0, "node1 cannot reach %s with its file: the run must fail\n%s" % (redhat, out[-3000:])
    # one module call per host: the compliance play made no check call of its own
    assert "TASK [registry_credentials : Write the registry credentials" in out
    assert CHECK_TASK not in out, out[-3000:]
    report = json.loads(report_path.read_text())
    assert sorted(report["hosts"]) == sorted(["master1", "node1", "node2", "node3"])
    n1, n2 = _results(report, "node1"), _results(report, "node2")
    assert n1[("access", redhat)]["status"] == "fail", n1
    assert n1[("access", quay)]["status"] == "pass"
    assert report["hosts"]["node1"]["compliant"] is False
    assert n2[("file_mode", None)]["status"] == "pass"  # observed after the write repaired it
    for host in ("master1", "node2", "node3"):
        assert report["hosts"][host]["compliant"] is True, report["hosts"][host]
        assert _results(report, host)[("access", redhat)]["status"] == "pass"
    # the node files were compared with the master's from the MACs the credentials calls returned
    cluster = [r for r in report["cluster"]["results"] if r["check"] == "node_matches_master"]
    assert cluster and all(r["status"] == "pass" for r in cluster), cluster
    assert "node1: NOT compliant" in out, out[-3000:]
    text = out + report_path.read_text()
    for secret in lab_secrets(lab):
        assert secret not in text

    # repaired: the same run passes, still without a second call per host
    rc, out = run_playbook("site.yml", "-e", "registry_compliance_report_path=%s" % report_path)
    assert rc == 0, out[-3000:]
    assert CHECK_TASK not in out
    assert all(h["compliant"] for h in json.loads(report_path.read_text())["hosts"].values())


def test_other_compliance_settings_on_a_host_make_compliance_check_itself(lab, tmp_path):
    # node3's inventory asks compliance not to prove access: one set of arguments for every credentials call
    # cannot honour that, so compliance checks every host itself with each host's own settings
    extra = tmp_path / "extra.yml"
    extra.write_text(json.dumps({"all": {"hosts": {"node3": {"registry_compliance_verify_access": False}}}}))
    play = tmp_path / "credentials_then_compliance.yml"
    play.write_text(json.dumps([
        {"import_playbook": str(REPO / "playbooks" / "registry_credentials.yml"),
         "vars": {"okd_compliance_in_credentials_call": True}},
        {"import_playbook": str(REPO / "playbooks" / "compliance.yml")},
    ]))
    report_path = tmp_path / "report.json"
    rc, out = run_playbook(str(play), "-i", lab["inventory"]["ansible"], "-i", str(extra),
                           "-e", "registry_compliance_report_path=%s" % report_path,
                           "-e", "registry_compliance_cluster=false")
    assert rc == 0, out[-3000:]
    assert "node3 see other compliance settings than" in out
    assert CHECK_TASK in out
    report = json.loads(report_path.read_text())
    redhat = lab["registries"]["redhat"]["host"]
    assert ("access", redhat) not in _results(report, "node3")
    assert _results(report, "node1")[("access", redhat)]["status"] == "pass"
    assert all(h["compliant"] for h in report["hosts"].values())
