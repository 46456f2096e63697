# -*- coding: utf-8 -*-
"""The compliance report's writer and the opt-in smoke check (issue 14 in compliance, issue 10 speed):

- core (plugins/module_utils/cluster_compliance.py): smoke_result turns the smoke's outcome into the cluster check
  registry_smoke (pass; fail naming the step and the step's own message; check mode -> skip with the plan);
  with_cluster_results recomputes counts and compliance;
- action plugin okd.registry_toolkit.registry_compliance_report (one controller-side task instead of two copy
  tasks): for the same report it writes byte for byte what the role's copy tasks wrote (to_nice_json + newline,
  compliance_junit_xml), both 0600, also in check mode; with a smoke outcome the cluster section gets the check.
  Real ansible-playbook runs (local connection), ansible-core 2.19 and 2.16.
"""
import json
import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from plugins.module_utils import cluster_compliance as cc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"),
             os.path.join(ROOT, ".venv-216", "bin", "ansible-playbook")]

REPORT = {
    "generated_by": "okd-registry-toolkit registry_compliance",
    "hosts": {
        "node1": {"compliant": False, "unreachable": False, "counts": {"pass": 1, "fail": 1, "skip": 0, "untested": 0},
                  "results": [{"check": "file_mode", "status": "fail", "path": "/p", "message": "mode 0644 <&> \u00e9"},
                              {"check": "file_present", "status": "pass", "path": "/p", "message": "ok"}]},
        "node9": {"compliant": False, "unreachable": True, "error": "ssh: connect", "results": []}},
    "cluster": {"compliant": True, "counts": {"pass": 1, "fail": 0, "skip": 0, "untested": 0, "warn": 0},
                "results": [{"check": "registry_service", "status": "pass", "object": "service default/docker-registry",
                             "message": "ok"}]},
}
ROUTE = "docker-registry-default.apps.example.com"
OBJ = "okd-registry-smoke/smoke:latest"


# ------------------------------------------------------------------------------------------------------- core
def test_smoke_pass():
    r = cc.smoke_result({"state": "pass", "registry": ROUTE, "object": OBJ,
                         "message": "integrated registry smoke check passed: pushed sha256:ab through " + ROUTE})
    assert r == {"check": "registry_smoke", "status": "pass", "registry": ROUTE, "object": OBJ,
                 "message": "integrated registry smoke check passed: pushed sha256:ab through " + ROUTE}


def test_smoke_failure_names_the_step_and_its_own_message():
    r = cc.smoke_result({"state": "fail", "registry": ROUTE, "object": OBJ,
                         "task": "Smoke 6/9, push through the Route with the token",
                         "message": ROUTE + ": manifest okd-registry-smoke/smoke:latest: 401 Unauthorized: "
                                            "authentication required"})
    assert r["status"] == "fail" and r["step"] == "6/9" and r["registry"] == ROUTE and r["object"] == OBJ
    assert r["message"] == ("smoke step 6/9 (push through the Route with the token) failed: " + ROUTE
                            + ": manifest okd-registry-smoke/smoke:latest: 401 Unauthorized: authentication required")
    # a task outside the numbered steps (the cleanup, or an unknown one) is named as it is
    assert cc.smoke_result({"state": "fail", "task": "Smoke cleanup, remove namespace x", "message": "m"})["message"] \
        == "smoke step cleanup (remove namespace x) failed: m"
    assert cc.smoke_result({"state": "fail", "task": "Other", "message": ""})["message"] \
        == "smoke task 'Other' failed: no message"
    assert cc.smoke_result({"state": "fail", "message": "the smoke check did not run on master1"})["message"] \
        == "the smoke check failed: the smoke check did not run on master1"
    assert cc.smoke_result(None)["status"] == "fail"


def test_smoke_check_mode_is_skip_with_the_plan():
    r = cc.smoke_result({"state": "check_mode", "registry": ROUTE, "object": OBJ,
                         "plan": ["would create namespace okd-registry-smoke\n  and service account smoke-pusher",
                                  "would log in to %s with the service account's token" % ROUTE]})
    assert r["status"] == "skip"
    assert r["message"] == ("check mode (the smoke check creates objects): would create namespace okd-registry-smoke "
                            "and service account smoke-pusher; would log in to %s with the service account's token"
                            % ROUTE)


def test_with_cluster_results_recounts():
    fail = cc.smoke_result({"state": "fail", "task": "Smoke 1/9, x", "message": "m"})
    out = cc.with_cluster_results(REPORT["cluster"], [fail])
    assert out["compliant"] is False and out["counts"]["fail"] == 1 and out["counts"]["pass"] == 1
    assert out["results"][-1] is fail and len(REPORT["cluster"]["results"]) == 1     # the input is not changed
    ok = cc.with_cluster_results(REPORT["cluster"], [cc.smoke_result({"state": "pass", "message": "ok"})])
    assert ok["compliant"] is True and ok["counts"]["pass"] == 2
    broken = cc.with_cluster_results({"compliant": False, "error": "API unreachable", "results": []},
                                     [cc.smoke_result({"state": "pass", "message": "ok"})])
    assert broken["compliant"] is False and broken["error"] == "API unreachable"
    assert "registry_smoke" in cc.CLUSTER_CHECKS


# ------------------------------------------------------------------------------------------------ action plugin
@pytest.fixture(params=PLAYBOOKS, ids=["2.19", "2.16"])
def ansible_playbook(request):
    if not os.path.exists(request.param):
        pytest.skip("no %s (make deps)" % request.param)
    return request.param


def _run(playbook_bin, tmp_path, tasks, *args):
    path = tmp_path / "play.yml"
    path.write_text(json.dumps([{"name": "report", "hosts": "all", "gather_facts": False,
                                 "vars": {"report": REPORT}, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([playbook_bin, "-i", "localhost,", "-c", "local", "-e",
                           "ansible_python_interpreter=" + sys.executable, str(path)] + list(args),
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)


def _mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
def test_writes_what_the_copy_tasks_wrote(ansible_playbook, tmp_path, check):
    """Same bytes as the role's former tasks (copy of to_nice_json / compliance_junit_xml), 0600, in check mode too."""
    old_json, old_xml = tmp_path / "old.json", tmp_path / "old.xml"
    new_json, new_xml = tmp_path / "sub" / "new.json", tmp_path / "sub" / "new.xml"
    new_json.parent.mkdir()
    new_json.write_text("stale")
    os.chmod(str(new_json), 0o644)
    tasks = [
        {"name": "old json", "ansible.builtin.copy": {"dest": str(old_json), "mode": "0600",
                                                       "content": "{{ report | to_nice_json }}\n"},
         "check_mode": False},
        {"name": "old xml", "ansible.builtin.copy": {"dest": str(old_xml), "mode": "0600",
                                                      "content": "{{ report | okd.registry_toolkit.compliance_junit_xml }}"},
         "check_mode": False},
        {"name": "new", "okd.registry_toolkit.registry_compliance_report": {
            "report": "{{ report }}", "report_path": str(new_json), "junit_path": str(new_xml)}, "register": "w"},
        {"name": "table", "ansible.builtin.assert": {
            "that": ["w.table == (report | okd.registry_toolkit.compliance_table)", "w.report == report",
                     "not w.changed"]}},
    ]
    r = _run(ansible_playbook, tmp_path, tasks, *(["--check"] if check else []))
    assert r.returncode == 0, r.stdout[-4000:]
    assert new_json.read_bytes() == old_json.read_bytes()
    assert new_xml.read_bytes() == old_xml.read_bytes()
    assert json.loads(new_json.read_text()) == REPORT
    assert _mode(new_json) == 0o600 and _mode(new_xml) == 0o600
    assert sorted(os.listdir(str(new_json.parent))) == ["new.json", "new.xml"]      # no temp file left


def test_smoke_outcome_becomes_a_cluster_check(ansible_playbook, tmp_path):
    out_json, out_xml = tmp_path / "r.json", tmp_path / "r.xml"
    smoke = {"state": "fail", "registry": ROUTE, "object": OBJ, "task": "Smoke 8/9, the DeploymentConfig rolled out",
             "message": "DeploymentConfig okd-registry-smoke/smoke not found"}
    tasks = [{"name": "new", "okd.registry_toolkit.registry_compliance_report": {
        "report": "{{ report }}", "smoke": smoke, "report_path": str(out_json), "junit_path": ""}, "register": "w"},
        {"name": "show", "ansible.builtin.debug": {"msg": "{{ w.table }}"}}]
    r = _run(ansible_playbook, tmp_path, tasks)
    assert r.returncode == 0, r.stdout[-4000:]
    assert not os.path.exists(str(out_xml))          # junit_path empty: not written
    report = json.loads(out_json.read_text())
    assert report["hosts"] == REPORT["hosts"]
    cluster = report["cluster"]
    assert cluster["compliant"] is False and cluster["counts"]["fail"] == 1
    assert cluster["results"][-1] == {
        "check": "registry_smoke", "status": "fail", "step": "8/9", "registry": ROUTE, "object": OBJ,
        "message": "smoke step 8/9 (the DeploymentConfig rolled out) failed: "
                   "DeploymentConfig okd-registry-smoke/smoke not found"}
    assert "registry_smoke" in r.stdout and "smoke step 8/9" in r.stdout
    case = [c for c in ET.fromstring(cc.junit_xml(report)).iter("testcase")
            if c.get("name") == "registry_smoke %s %s" % (ROUTE, OBJ)]
    assert case and case[0].find("failure") is not None


def test_bad_arguments_fail_clearly(ansible_playbook, tmp_path):
    tasks = [{"name": "new", "okd.registry_toolkit.registry_compliance_report": {
        "report": "{{ report }}", "smoke": "yes", "report_path": str(tmp_path / "r.json")}}]
    r = _run(ansible_playbook, tmp_path, tasks)
    assert r.returncode != 0 and "smoke must be a dict" in r.stdout, r.stdout[-3000:]
    tasks = [{"name": "new", "okd.registry_toolkit.registry_compliance_report": {
        "report": "{{ report }}", "report_path": str(tmp_path / "no" / "such" / "r.json")}}]
    r = _run(ansible_playbook, tmp_path, tasks)
    assert r.returncode != 0 and "cannot write the report" in r.stdout, r.stdout[-3000:]
