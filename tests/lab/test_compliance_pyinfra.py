"""pyinfra_deploys/compliance.py against the lab, and the same report as playbooks/compliance.yml.

node2 is made non-compliant in two ways (its file world-readable, and without the quay entry); both
front ends must find exactly that, agree on every host's results, and print no secret (pyinfra with
-vvv, which prints facts and commands). node2's file is restored byte for byte afterwards.
pyinfra's lab inventory names hosts by address; the lab status maps them to names.
"""
import base64
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PATH = "/var/lib/origin/.docker/config.json"
DEPLOY = "pyinfra_deploys/compliance.py"


def names_by_address(lab):
    return {h["address"]: h["name"] for h in lab["hosts"]}


def pyinfra(lab, *args, deploy=DEPLOY, limit=(), timeout=900):
    cmd = [str(REPO / ".venv" / "bin" / "pyinfra"), lab["inventory"]["pyinfra"], deploy]
    addresses = {h["name"]: h["address"] for h in lab["hosts"]}
    for name in limit:
        cmd += ["--limit", addresses[name]]
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1")
    return subprocess.run(cmd + list(args), cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout)


def ansible(lab, playbook, *args, timeout=900):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", lab["inventory"]["ansible"],
                           playbook] + list(args), cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout)


def file_state(lab_exec, host):
    """(sha256, file mode, dir mode) of the credentials file, or None when it is missing."""
    r = lab_exec(host, "if [ -f %s ]; then sha256sum %s | cut -d' ' -f1; stat -c %%a %s %s; fi"
                 % (PATH, PATH, PATH, os.path.dirname(PATH)))
    return tuple(r.stdout.split()) or None


def secrets(lab):
    """Every lab registry password, and the `auth` value a config.json holds for it."""
    out = []
    for registry in lab["registries"].values():
        for account in registry["accounts"]:
            out.append(account["password"])
            out.append(base64.b64encode(("%s:%s" % (account["username"], account["password"])).encode())
                       .decode())
    assert out
    return out


def rows(host_report):
    """What must agree between the two reports: per result, check id, registry, path and status."""
    return [(r["check"], r.get("registry"), r.get("path"), r["status"]) for r in host_report["results"]]


def failed(host_report):
    return {(r["check"], r.get("registry")): r["message"] for r in host_report["results"]
            if r["status"] == "fail"}


@pytest.fixture
def node2_broken(lab, lab_exec):
    """node2's file world-readable (0644) and without the quay entry; restored byte for byte."""
    quay = lab["registries"]["quay"]["host"]
    redhat = lab["registries"]["redhat"]["host"]
    before = lab_exec("node2", "cat %s" % PATH, check=False)
    config = json.loads(before.stdout) if before.returncode == 0 else {}
    if not {quay, redhat} <= set(config.get("auths", {})):
        # not in the state the test starts from (another test left it so): the credentials deploy
        # writes it first
        r = ansible(lab, "playbooks/registry_credentials.yml", "--limit", "node2")
        assert r.returncode == 0, r.stdout[-3000:]
        before = lab_exec("node2", "cat %s" % PATH)
        config = json.loads(before.stdout)
    original = before.stdout
    original_state = file_state(lab_exec, "node2")
    assert original_state[1:] == ("600", "700"), original_state
    del config["auths"][quay]
    lab_exec("node2", "cat > %s && chmod 644 %s" % (PATH, PATH), input=json.dumps(config, indent=4) + "\n")
    assert file_state(lab_exec, "node2")[1] == "644"
    try:
        yield {"quay": quay, "redhat": redhat, "original_state": original_state}
    finally:
        lab_exec("node2", "cat > %s && chmod 600 %s" % (PATH, PATH), input=original)
        assert file_state(lab_exec, "node2") == original_state


def test_pyinfra_and_ansible_reports_agree(lab, lab_exec, node2_broken, tmp_path):
    quay, redhat = node2_broken["quay"], node2_broken["redhat"]
    hosts = [h["name"] for h in lab["hosts"]]
    by_address = names_by_address(lab)
    node2 = next(a for a, n in by_address.items() if n == "node2")
    states = {h: file_state(lab_exec, h) for h in hosts}

    # the playbook: the report, then the play fails for node2 (registry_compliance_fail_on_findings)
    ansible_report = tmp_path / "ansible.json"
    a = ansible(lab, "playbooks/compliance.yml", "-e", "registry_compliance_report_path=%s" % ansible_report)
    assert a.returncode != 0, a.stdout[-3000:]
    a_hosts = json.loads(ansible_report.read_text())["hosts"]

    # the deploy, with -vvv (facts and commands printed)
    pyinfra_report = tmp_path / "pyinfra.json"
    p = pyinfra(lab, "-y", "-vvv", "--data", "registry_compliance_report_path=%s" % pyinfra_report)
    assert p.returncode != 0, p.stdout[-4000:]
    p_doc = json.loads(pyinfra_report.read_text())
    assert p_doc["generated_by"] == json.loads(ansible_report.read_text())["generated_by"]
    p_hosts = {by_address[address]: report for address, report in p_doc["hosts"].items()}

    # both reports: every host, the same checks with the same statuses (and the same messages, except
    # where the tools differ: a refused pull is worded by skopeo on one side, by the core on the other)
    assert sorted(p_hosts) == sorted(a_hosts) == sorted(hosts)
    for name in hosts:
        assert rows(p_hosts[name]) == rows(a_hosts[name]), name
        assert rows(p_hosts[name]), name
        for mine, theirs in zip(p_hosts[name]["results"], a_hosts[name]["results"]):
            if not (mine["check"] == "access" and mine["status"] == "fail"):
                assert mine["message"] == theirs["message"], (name, mine, theirs)
        for key in ("compliant", "unreachable", "counts"):
            assert p_hosts[name].get(key) == a_hosts[name].get(key), (name, key)
    # the access checks really ran from the hosts (pulled manifests, with their digests)
    digest = lab["registries"]["redhat"]["digests"]["openshift3/ose-pod:v3.11"]
    assert any(r["check"] == "access" and r["status"] == "pass" and digest in r["message"]
               for r in p_hosts["node2"]["results"])

    # node2's two problems are named, in both reports, and nothing else on it failed
    for report in (p_hosts["node2"], a_hosts["node2"]):
        assert report["compliant"] is False
        assert failed(report) == {
            ("file_mode", None): "%s is mode 0644; must be 0600 (it holds registry credentials)" % PATH,
            ("entry_present", quay): "%s has no entry for %s" % (PATH, quay)}
    assert "%s is not compliant (2 failed checks); see %s" % (node2, pyinfra_report) in p.stdout
    assert "is mode 0644" in p.stdout and "has no entry for %s" % quay in p.stdout

    # the node-vs-master comparison: the same results in both reports (pyinfra names hosts by address)
    def node_rows(doc, name_of):
        return sorted((name_of(r["host"]), r.get("registry"), r["status"]) for r in doc["cluster"]["results"]
                      if r["check"] == "node_matches_master")
    a_doc = json.loads(ansible_report.read_text())
    p_rows = node_rows(p_doc, lambda h: by_address.get(h, h))
    assert p_rows == node_rows(a_doc, lambda h: h), (p_rows, a_doc["cluster"])
    assert [row for row in p_rows if row[2] == "fail"] == [("node2", quay, "fail")]
    assert p_doc["cluster"]["compliant"] is False

    # -vvv really printed facts (node2's metadata), yet no secret, neither there nor in a report
    assert "file -rw-r--r-- 0 0" in p.stdout, p.stdout[-3000:]
    for secret in secrets(lab):
        assert secret not in p.stdout
        assert secret not in pyinfra_report.read_text()
        assert secret not in ansible_report.read_text()

    # both reports are readable by the controller user only, and carry no fingerprint of a credential
    # (an unsalted hash of user:password would allow offline guessing; issue 8 §1)
    for report_file in (pyinfra_report, ansible_report):
        assert os.stat(str(report_file)).st_mode & 0o777 == 0o600, report_file
        assert "sha256:" not in re.sub(r"\(sha256:[0-9a-f]{64}\)", "", report_file.read_text())

    # nothing changed on any host
    assert {h: file_state(lab_exec, h) for h in hosts} == states

    # --dry: the same report, nothing executed, nothing changed
    dry_report = tmp_path / "dry.json"
    d = pyinfra(lab, "--dry", "--data", "registry_compliance_report_path=%s" % dry_report)
    assert d.returncode == 0, d.stdout[-4000:]
    assert "Beginning operation run" not in d.stdout
    d_hosts = {by_address[a]: r for a, r in json.loads(dry_report.read_text())["hosts"].items()}
    assert {n: rows(r) for n, r in d_hosts.items()} == {n: rows(r) for n, r in p_hosts.items()}
    assert {h: file_state(lab_exec, h) for h in hosts} == states

    # registry_compliance_fail_on_findings=false: reported, exit 0; --limit: only that host reported
    off_report = tmp_path / "off.json"
    o = pyinfra(lab, "-y", "--data", "registry_compliance_report_path=%s" % off_report,
                "--data", "registry_compliance_fail_on_findings=false", limit=["node2"])
    assert o.returncode == 0, o.stdout[-4000:]
    off = json.loads(off_report.read_text())["hosts"]
    assert list(off) == [node2] and off[node2]["compliant"] is False
    assert set(failed(off[node2])) == {("file_mode", None), ("entry_present", quay)}


def test_pyinfra_compliant_again_once_repaired(lab, lab_exec, node2_broken, tmp_path):
    """The control: the same check passes on node2 once the credentials deploy has repaired it."""
    report = tmp_path / "r.json"
    r = pyinfra(lab, "-y", "--data", "registry_compliance_report_path=%s" % report, limit=["node2"])
    assert r.returncode != 0, r.stdout[-4000:]
    (host,) = json.loads(report.read_text())["hosts"].values()
    assert set(failed(host)) == {("file_mode", None), ("entry_present", node2_broken["quay"])}

    fix = pyinfra(lab, "-y", deploy="pyinfra_deploys/registry_credentials.py", limit=["node2"])
    assert fix.returncode == 0, fix.stdout[-4000:]
    r = pyinfra(lab, "-y", "--data", "registry_compliance_report_path=%s" % report, limit=["node2"])
    assert r.returncode == 0, r.stdout[-4000:]
    (host,) = json.loads(report.read_text())["hosts"].values()
    assert host["compliant"] is True and failed(host) == {}
    assert host["counts"] == {"pass": 11, "fail": 0, "skip": 0, "untested": 0}
