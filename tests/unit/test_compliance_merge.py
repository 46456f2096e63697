# playbooks/compliance_merge.yml on the controller (no lab): per-slice reports of an AWX sliced job merge
# into one report that keeps every host and the one cluster section (the cluster checks run only in the
# slice holding the first master); two cluster sections or a host in two reports are refused.
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def _report(hosts, cluster=None):
    doc = {"generated_by": "okd-registry-toolkit registry_compliance",
           "hosts": {h: {"compliant": ok, "results": []} for h, ok in hosts.items()}}
    if cluster is not None:
        doc["cluster"] = cluster
    return doc


def _merge(tmp_path, reports, output="merged.json"):
    names = []
    for i, doc in enumerate(reports):
        p = tmp_path / ("slice%d.json" % (i + 1))
        p.write_text(json.dumps(doc))
        names.append(p.name)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PWD=str(tmp_path), ANSIBLE_NOCOLOR="1")
    r = subprocess.run([PLAYBOOK, str(ROOT / "playbooks" / "compliance_merge.yml"), "-i", "localhost,",
                        "-e", "ansible_python_interpreter=%s" % sys.executable, "-e",
                        json.dumps({"registry_compliance_merge_reports": names,
                                    "registry_compliance_merge_output": output})],
                       cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    return r, tmp_path / output


def test_merged_report_keeps_every_host_and_the_cluster_section(tmp_path):
    cluster = {"compliant": False, "counts": {"fail": 1}, "results": [
        {"check": "imagestreamsecret_present", "status": "fail", "message": "missing"}], "error": None}
    r, merged = _merge(tmp_path, [_report({"master1": True, "node3": True}, cluster),
                                  _report({"node1": False}), _report({"node2": True})])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(merged.read_text())
    assert sorted(doc["hosts"]) == ["master1", "node1", "node2", "node3"]
    assert doc["cluster"] == cluster
    assert oct(merged.stat().st_mode & 0o777) == "0o600"


def test_no_cluster_section_when_no_slice_ran_the_cluster_checks(tmp_path):
    r, merged = _merge(tmp_path, [_report({"node1": True}), _report({"node2": True})])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "cluster" not in json.loads(merged.read_text())


def test_two_cluster_sections_are_refused(tmp_path):
    cluster = {"compliant": True, "counts": {}, "results": [], "error": None}
    r, merged = _merge(tmp_path, [_report({"master1": True}, cluster), _report({"node1": True}, cluster)])
    assert r.returncode != 0 and "2 reports hold cluster checks" in " ".join(r.stdout.split())
    assert not merged.exists()
