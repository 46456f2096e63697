# -*- coding: utf-8 -*-
"""registry_compliance at one task per host (issue 10):

- core (plugins/module_utils/cluster_compliance.py): hosts_summary (the summary once for every host) and
  findings_message (the one failure naming the cluster's and every non-compliant host's failed checks);
- action okd.registry_toolkit.registry_compliance (plugins/action/registry_compliance.py): okd_registries items
  become the module's expectations exactly as the filter registry_expectation makes them, empty options are left
  out, the node file is named by the host;
- the role itself, ansible-core 2.19 and 2.16, local connection, three hosts with their own files: on every host
  but the first only the argument-spec check and the check module run; the report, the summary and the failure
  name each non-compliant host and check; fail_on_findings false and check mode.
"""
import json
import os
import re
import stat
import subprocess
import sys

import pytest

from plugins.action.registry_compliance import module_args
from plugins.filter.compliance import compliance_host_report, compliance_of_credentials, registry_expectation
from plugins.module_utils import cluster_compliance as cc
from plugins.module_utils.errors import ToolkitError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"),
             os.path.join(ROOT, ".venv-216", "bin", "ansible-playbook")]

REPORT = {
    "hosts": {
        "node1": {"compliant": False, "unreachable": False,
                  "results": [{"check": "file_mode", "status": "fail", "path": "/p", "message": "/p is mode 0644"},
                              {"check": "entry_present", "status": "fail", "path": "/p", "registry": "quay.test",
                               "message": "/p has no entry for quay.test"},
                              {"check": "file_present", "status": "pass", "path": "/p", "message": "/p exists"}]},
        "master1": {"compliant": True, "unreachable": False,
                    "results": [{"check": "file_present", "status": "pass", "message": "ok"}]},
        "node9": {"compliant": False, "unreachable": True, "error": "ssh: connect to host node9", "results": []},
        "node5": {"compliant": False, "unreachable": False, "error": "no result (host skipped)", "results": []}},
}


def test_summary_names_every_host_once():
    assert cc.hosts_summary(REPORT).split("\n") == [
        "master1: compliant",
        "node1: NOT compliant: /p is mode 0644; /p has no entry for quay.test",
        "node5: NOT compliant: no result (host skipped)",
        "node9: UNREACHABLE"]


def test_findings_name_each_host_and_check():
    msg = cc.findings_message(REPORT, "/r.json")
    assert msg.split("\n") == [
        "node1 is not compliant (2 failed checks: file_mode: /p is mode 0644; "
        "entry_present quay.test: /p has no entry for quay.test)",
        "node5 is not compliant (no result (host skipped))",
        "node9 is not compliant (unreachable: ssh: connect to host node9)",
        "see /r.json"]
    compliant = {"hosts": {"master1": REPORT["hosts"]["master1"]},
                 "cluster": {"compliant": True, "results": [{"check": "x", "status": "warn", "message": "w"}]}}
    assert cc.findings_message(compliant, "/r.json") == ""
    # the cluster first, with its error and failed checks (the wording the smoke lab test looks for)
    report = dict(compliant, cluster={"compliant": False, "error": "",
                                      "results": [{"check": "registry_route", "status": "fail", "message": "moved"},
                                                  {"check": "registry_service", "status": "pass", "message": "ok"}]})
    assert cc.findings_message(report, "/r.json") == "the cluster is not compliant: moved\nsee /r.json"
    report["cluster"] = {"compliant": False, "error": "API unreachable", "results": []}
    assert cc.findings_message(report, "r") == "the cluster is not compliant: API unreachable\nsee r"


REGS = [
    {"name": "orga", "host": "Quay.io/orga", "username": "orga+robot", "password": "pw-a", "test_image": "orga/app:1",
     "realm_hosts": ["auth.quay.io"], "email": "a@x.test"},
    {"name": "hub", "registry": "docker.io", "username": "h", "password": "pw-h"},
    {"name": "anon", "host": "registry.test:5000"},
]


def test_action_arguments_are_the_filters_expectations():
    args = {"paths": ["/a"], "expected": REGS, "verify_access": True, "ca_file": "",
            "node_config": {"path": "/n", "key": "k"}}
    out = module_args(args, "node1")
    assert out["expected"] == [registry_expectation(r) for r in REGS]
    assert out["expected"][0] == {"registry": "quay.io/orga", "username": "orga+robot", "password": "pw-a",
                                  "test_image": "orga/app:1"}
    assert out["expected"][2] == {"registry": "registry.test:5000"}
    assert "ca_file" not in out and out["node_config"] == {"path": "/n", "key": "k", "host": "node1"}
    assert args["node_config"] == {"path": "/n", "key": "k"} and args["expected"] is REGS    # not changed
    # no key (no cluster checks): no node_config; a given host and ca_file are kept
    assert "node_config" not in module_args({"node_config": {"path": "/n", "key": ""}}, "h")
    assert "node_config" not in module_args({"node_config": None, "ca_file": None}, "h")
    kept = module_args({"node_config": {"path": "/n", "key": "k", "host": "x"}, "ca_file": "/ca"}, "h")
    assert kept == {"node_config": {"path": "/n", "key": "k", "host": "x"}, "ca_file": "/ca"}


def test_checks_of_the_credentials_call_report_like_the_check_module():
    """site.yml: a host's registered registry_credentials result with `compliance` reports as the check module's."""
    checks = {"results": [{"check": "file_mode", "status": "pass", "path": "/p", "message": "mode 0600"}],
              "summary": {"counts": {"pass": 1, "fail": 0}, "failed": [], "compliant": True}, "compliant": True,
              "node_config": {"entries": []}}
    ok = compliance_of_credentials({"changed": False, "files": [], "compliance": checks})
    assert ok == checks
    assert compliance_host_report(ok) == {"compliant": True, "unreachable": False, "results": checks["results"],
                                          "counts": {"pass": 1, "fail": 0}}
    # the write failed after the checks: the checks are kept, the host is not compliant, the cause is named
    failed = compliance_of_credentials({"failed": True, "msg": "registry_credentials: node1: /p: disk full",
                                        "compliance": checks})
    report = compliance_host_report(failed)
    assert report["compliant"] is False and report["results"] == checks["results"]
    assert report["error"] == "registry_credentials: node1: /p: disk full"
    # the checks could not be made; the call failed before making them
    assert compliance_host_report(compliance_of_credentials(
        {"changed": False, "compliance": {"failed": True, "msg": "cannot read"}}))["error"] == "cannot read"
    assert compliance_host_report(compliance_of_credentials({"failed": True, "msg": "bad args"}))["error"] == \
        "the credentials call made no checks; bad args"
    # unreachable, or no result at all (a host that failed earlier in the run)
    assert compliance_host_report(compliance_of_credentials({"unreachable": True, "msg": "ssh: timeout"})) == {
        "compliant": False, "unreachable": True, "error": "ssh: timeout", "results": []}
    assert compliance_host_report(compliance_of_credentials(None))["error"] == "no result (host skipped)"


def test_action_refuses_bad_entries_naming_them_never_the_password():
    with pytest.raises(ToolkitError) as e:
        module_args({"expected": [{"name": "b", "registry": "quay.io/x", "host": "quay.io/y", "password": "SECRET"}]},
                    "h")
    assert "okd_registries entry b gives registry quay.io/x and host quay.io/y" in e.value.msg
    assert "SECRET" not in e.value.msg
    for bad in ("quay.io", {"host": "quay.io"}):
        with pytest.raises(ToolkitError, match="expected must be a list"):
            module_args({"expected": bad}, "h")


@pytest.mark.parametrize("name", ["compliance", "docker_config", "installer_vars", "master_config", "registry_entries"])
def test_filter_files_import_no_core_module(name):
    """Loading a filter file (every worker that uses any collection filter loads all of them) imports none of the
    core modules but the small loader and its error class; the filters import them when they run
    (plugins/module_utils/core_loader.py)."""
    code = ("import sys; import plugins.filter.%s as f; "
            "print(sorted(m for m in sys.modules if m.startswith('plugins.module_utils.')))" % name)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    assert out.strip() == "['plugins.module_utils.core_loader', 'plugins.module_utils.errors']", out


# ------------------------------------------------------------------------------------------------ the role
@pytest.fixture(params=PLAYBOOKS, ids=["2.19", "2.16"])
def ansible_playbook(request):
    if not os.path.exists(request.param):
        pytest.skip("no %s (make deps)" % request.param)
    return request.param


def _files(tmp_path):
    """h1 compliant, h2 world-readable and without the second registry's entry, h3 missing."""
    auth = "dXNlcjpzM2NyZXQtcHc="  # user:s3cret-pw
    for host, cfg, mode in (("h1", {"a.test": {"auth": auth}, "b.test": {"auth": auth}}, 0o600),
                            ("h2", {"a.test": {"auth": auth}}, 0o644)):
        d = tmp_path / host
        d.mkdir(mode=0o700)
        os.chmod(str(d), 0o700)
        (d / "config.json").write_text(json.dumps({"auths": cfg}))
        os.chmod(str(d / "config.json"), mode)
    (tmp_path / "h3").mkdir()
    os.chmod(str(tmp_path / "h3"), 0o700)


def _role(playbook_bin, tmp_path, *args):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {
        "hosts": dict((h, {"registry_compliance_paths": [str(tmp_path / h / "config.json")]}) for h in ("h1", "h2", "h3")),
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "okd_registries": [{"name": "a", "host": "a.test", "username": "user", "password": "s3cret-pw"},
                                    {"name": "b", "registry": "B.test", "username": "user", "password": "s3cret-pw",
                                     "realm_hosts": ["auth.b.test"]}],
                 "registry_compliance_verify_access": False, "registry_compliance_cluster": False,
                 "registry_compliance_report_path": str(tmp_path / "report.json")}}}))
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{"name": "compliance", "hosts": "all", "gather_facts": False,
                                 "roles": [{"role": "registry_compliance"}]}]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([playbook_bin, "-i", str(inventory), str(play)] + list(args), cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)


def _recap(out):
    """{host: {ok, failed, skipped}} from the PLAY RECAP."""
    return dict((m.group(1), {"ok": int(m.group(2)), "failed": int(m.group(3)), "skipped": int(m.group(4))})
                for m in re.finditer(r"^(\S+)\s+: ok=(\d+)\s+changed=\d+\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)",
                                     out, re.M))


@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
def test_role_one_check_per_host_one_verdict(ansible_playbook, tmp_path, check):
    _files(tmp_path)
    r = _role(ansible_playbook, tmp_path, *(["--check"] if check else []))
    out = r.stdout
    assert r.returncode != 0, out[-4000:]
    recap = _recap(out)
    # every host but the first: the argument-spec check and the check module, nothing skipped
    assert recap["h2"] == {"ok": 2, "failed": 0, "skipped": 0}, out[-4000:]
    assert recap["h3"] == {"ok": 2, "failed": 0, "skipped": 0}, out[-4000:]
    assert recap["h1"]["failed"] == 1      # the one run_once failure, after the report was written
    report = json.loads((tmp_path / "report.json").read_text())
    assert stat.S_IMODE(os.stat(str(tmp_path / "report.json")).st_mode) == 0o600
    checks = dict((h, dict(((x["check"], x.get("registry")), x["status"]) for x in report["hosts"][h]["results"]))
                  for h in ("h1", "h2", "h3"))
    uid_ok = os.geteuid() == 0
    assert report["hosts"]["h1"]["compliant"] is uid_ok
    assert checks["h1"][("entry_current", "b.test")] == "pass"     # B.test canonical, as the filter made it
    assert checks["h2"][("file_mode", None)] == "fail" and checks["h2"][("entry_present", "b.test")] == "fail"
    assert checks["h3"][("file_present", None)] == "fail"
    flat = " ".join(out.split())
    h2 = str(tmp_path / "h2" / "config.json")
    assert ("h2 is not compliant (%d failed checks: file_mode: %s is mode 0644; must be 0600 (it holds registry "
            "credentials); entry_present b.test: %s has no entry for b.test" % (2 if uid_ok else 3, h2, h2)) in flat
    assert "h3 is not compliant (1 failed check: file_present: %s is missing)" % (tmp_path / "h3" / "config.json") \
        in flat
    assert "see %s" % (tmp_path / "report.json") in flat
    assert "h2: NOT compliant: %s is mode 0644" % h2 in flat                     # the summary, once
    assert "dXNlcjpzM2NyZXQtcHc=" not in out and "s3cret-pw" not in out


def test_role_fail_on_findings_off(ansible_playbook, tmp_path):
    _files(tmp_path)
    r = _role(ansible_playbook, tmp_path, "-e", "registry_compliance_fail_on_findings=false")
    assert r.returncode == 0, r.stdout[-4000:]
    assert "h2 is not compliant" not in r.stdout and "skipping: [h1]" in r.stdout.split("or a host is not compliant]")[1]
    recap = _recap(r.stdout)
    assert recap["h2"] == {"ok": 2, "failed": 0, "skipped": 0} and recap["h1"]["failed"] == 0
