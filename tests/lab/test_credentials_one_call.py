"""Issue 10: the credentials role makes ONE module call per host. Everything else (checks, the controller's
verification, the master source's read) runs once for the play, so a host's share of a run is the role's
argument-spec check plus one write that also reports and, where the file changed, verifies the host's own
file from the host (the core's v2 flow). Judged from the json callback of a real run on two lab hosts, and
by real outcomes: the files on the hosts, and skopeo (an independent client) pulling with them.
"""
import json
import os
import subprocess

import pytest

from labtools import REPO, lab_secrets

PATH = "/var/lib/origin/.docker/config.json"
PLAYBOOK = "playbooks/registry_credentials.yml"
HOSTS = ["node2", "node3"]


def run_json(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1", PYTHONUNBUFFERED="1")
    r = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), PLAYBOOK, "--limit", ",".join(HOSTS)]
                       + list(args), cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=600)
    text = r.stdout
    data = json.loads(text[text.index("{"):])
    return r, data


def role_play(data):
    plays = [p for p in data["plays"] if p["play"]["name"] == "Registry credentials on masters and nodes"]
    assert len(plays) == 1, [p["play"]["name"] for p in data["plays"]]
    return plays[0]


def ran_on(play, host):
    """Names of the play's tasks that ran for `host` (not skipped)."""
    return [t["task"]["name"].split(" : ", 1)[-1] for t in play["tasks"]
            if host in t["hosts"] and not t["hosts"][host].get("skipped")]


def write_result(play, host):
    found = [t["hosts"][host] for t in play["tasks"]
             if t["task"]["name"].split(" : ", 1)[-1].startswith("Write the registry credentials")
             and host in t["hosts"]]
    assert len(found) == 1
    return found[0]


@pytest.fixture
def converged(lab, lab_exec):
    r, _ = run_json()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    yield
    r, _ = run_json()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_one_module_call_per_host_writes_reports_and_verifies_where_changed(lab, lab_exec, converged):
    before = lab_exec("node2", "sha256sum %s" % PATH).stdout
    lab_exec("node3", "rm -f %s" % PATH)
    r, data = run_json()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    play = role_play(data)
    # node3 (not the play's first host, so no run_once task is attributed to it): two tasks, one of them a
    # module call on the host; node2 ran the run_once checks and the controller's verification besides
    for host in HOSTS:
        names = ran_on(play, host)
        per_host = [n for n in names if n.startswith("Validating arguments") or n.startswith("Write the registry")]
        assert len(per_host) == 2, (host, names)
    assert len(ran_on(play, "node3")) == 2, ran_on(play, "node3")

    # node3's file was written, reported and verified from node3 for both registries; node2's unchanged
    # file was not verified again (its bytes are the ones the controller verified)
    w3, w2 = write_result(play, "node3"), write_result(play, "node2")
    assert w3["changed"] and w3["changed_paths"] == [PATH], w3
    assert len(w3["verified"]) == 2 and all("pull access to" in v for v in w3["verified"]), w3["verified"]
    assert "verified from node3: " in w3["report"] and "updated " in w3["report"]
    assert not w2["changed"] and w2["verified"] == [] and "already up to date" in w2["report"]
    assert lab_exec("node2", "sha256sum %s" % PATH).stdout == before

    # real outcome: the file on node3 is 0600 and an independent client pulls with it
    assert lab_exec("node3", "stat -c %%a %s" % PATH).stdout.strip() == "600"
    image = "docker://%s/openshift3/ose-pod:v3.11" % lab["registries"]["redhat"]["host"]
    out = lab_exec("node3", "skopeo inspect --authfile %s %s" % (PATH, image)).stdout
    assert json.loads(out)["Digest"].startswith("sha256:")
    assert not [s for s in lab_secrets(lab) if s in r.stdout + r.stderr]


def test_a_host_with_other_registries_stops_the_run_before_any_host_changes(lab, lab_exec, converged, tmp_path):
    """The controller verifies one set of credentials and every host writes that set (computed once, issue 10). A
    host whose inventory gives it another password would write credentials nobody verified: the run stops before
    any host is touched, naming that host and no secret."""
    inv = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-inventory"), "--host", "node3"], cwd=str(REPO),
                         env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")),
                         stdout=subprocess.PIPE, universal_newlines=True, check=True)
    regs = json.loads(inv.stdout)["okd_registries"]
    other = [dict(r, password=r["password"] + "-other") if r.get("name") == "quay" else r for r in regs]
    extra = tmp_path / "other.yml"
    extra.write_text(json.dumps({"all": {"hosts": {"node3": {"okd_registries": other}}}}))
    before = {h: lab_exec(h, "sha256sum %s" % PATH).stdout for h in HOSTS}
    lab_exec("node2", "rm -f %s" % PATH)  # a host that would change
    r, data = run_json("-i", str(REPO / "inventory" / "lab" / "hosts.yml"), "-i", str(extra))
    text = " ".join(r.stdout.split())
    assert r.returncode != 0, r.stdout[-3000:]
    assert "registry_credentials: node3: the inventory gives this host other registries" in text, r.stdout[-3000:]
    assert lab_exec("node2", "test -e %s && echo present || echo absent" % PATH).stdout.strip() == "absent"
    assert lab_exec("node3", "sha256sum %s" % PATH).stdout == before["node3"]
    secrets = set(lab_secrets(lab)) | set(o["password"] for o in other)
    assert not [s for s in secrets if s in r.stdout + r.stderr]
