"""Compliance checks against the lab: per host, per check, machine-readable, and able to find faults."""
import json
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = "/var/lib/origin/.docker/config.json"


def _playbook(lab, name, *extra):
    # host checks only: the cluster checks have their own test (test_cluster_compliance_lab.py)
    if name == "playbooks/compliance.yml":
        extra = ("-e", "registry_compliance_cluster=false") + extra
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    return subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i",
                           lab["inventory"]["ansible"], name] + list(extra),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def _results(report, host):
    return {(r["check"], r.get("registry")): r for r in report["hosts"][host]["results"]}


def test_compliance_finds_faults_per_host_and_check(lab, lab_exec, tmp_path):
    redhat = lab["registries"]["redhat"]["host"]
    quay = lab["registries"]["quay"]["host"]
    # a known-good state first
    ok = _playbook(lab, "playbooks/registry_credentials.yml")
    assert ok.returncode == 0, ok.stdout[-3000:]
    # break three hosts in three different ways
    lab_exec("node1", "chmod 0644 %s" % CONFIG)
    lab_exec("node2", "rm -f %s" % CONFIG)
    stale = {"auths": {redhat: {"auth": "MTIzNDU2Nzh8bGFiLWNsdXN0ZXI6b2xkLXRva2Vu"}}}  # 12345678|lab-cluster:old-token
    lab_exec("node3", "cat > %s && chmod 600 %s" % (CONFIG, CONFIG), input=json.dumps(stale))
    report_path = tmp_path / "report.json"
    run = _playbook(lab, "playbooks/compliance.yml", "-e", "registry_compliance_report_path=%s" % report_path)
    assert run.returncode != 0, "the play must fail when a host is not compliant"
    report = json.loads(report_path.read_text())
    assert report["hosts"]["master1"]["compliant"] is True
    n1, n2, n3 = (_results(report, h) for h in ("node1", "node2", "node3"))
    assert n1[("file_mode", None)]["status"] == "fail" and "0644" in n1[("file_mode", None)]["message"]
    assert n1[("access", redhat)]["status"] == "pass"
    assert n2[("file_present", None)]["status"] == "fail"
    assert n3[("entry_current", redhat)]["status"] == "fail"
    assert n3[("entry_present", quay)]["status"] == "fail"
    assert n3[("access", redhat)]["status"] == "fail"
    assert "Invalid username or password" in n3[("access", redhat)]["message"]
    for h in ("node1", "node2", "node3"):
        assert report["hosts"][h]["compliant"] is False
    # the report is the controller user's only and holds no fingerprint of a credential (issue 8 §1)
    assert os.stat(str(report_path)).st_mode & 0o777 == 0o600
    assert "sha256:" not in re.sub(r"\(sha256:[0-9a-f]{64}\)", "", report_path.read_text())  # digests only
    assert "is not the expected credential" in n3[("entry_current", redhat)]["message"]
    # no secret in the report or the output
    text = report_path.read_text() + run.stdout + run.stderr
    for reg in ("redhat", "quay"):
        for acct in lab["registries"][reg]["accounts"]:
            assert acct["password"] not in text
    # the credentials role repairs every host; compliance passes again
    fix = _playbook(lab, "playbooks/registry_credentials.yml")
    assert fix.returncode == 0, fix.stdout[-3000:]
    again = _playbook(lab, "playbooks/compliance.yml", "-e", "registry_compliance_report_path=%s" % report_path)
    assert again.returncode == 0, again.stdout[-3000:]
    assert all(h["compliant"] for h in json.loads(report_path.read_text())["hosts"].values())
