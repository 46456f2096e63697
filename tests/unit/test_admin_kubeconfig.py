# -*- coding: utf-8 -*-
"""okd.registry_toolkit.okd_admin_kubeconfig (issue 10): the cluster roles' admin kubeconfig is read once
per run, kept 0600 in Ansible's own per-run local temp dir and gone when ansible-playbook exits (also
after a failed run); nothing is read when a kubeconfig is given or the K8S_AUTH_* variables give the
connection. Real ansible-playbook runs with a local connection: the "master" is this machine and its
"admin kubeconfig" a temp file; both ansible-core 2.19 and 2.16 (the module-path venv) when present."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"),
             os.path.join(ROOT, ".venv-216", "bin", "ansible-playbook")]
CONTENT = "apiVersion: v1\nkind: Config\n# not-a-real-token-but-secret-looking-0123456789\n"


def run(playbook_bin, tmp_path, plays, env_extra=None):
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(plays))
    local_tmp = tmp_path / "local-tmp"
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_")}
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCAL_TEMP=str(local_tmp))
    env.update(env_extra or {})
    r = subprocess.run([playbook_bin, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, str(path)],
                       cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=300)
    return r, local_tmp


def play(name, master_path, extra_tasks=(), **args):
    """A play that calls the action, then writes what it returned (and what the file holds) to a report."""
    args.setdefault("master_path", master_path)
    return {"name": name, "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "kubeconfig", "okd.registry_toolkit.okd_admin_kubeconfig": args, "register": "k"},
        {"name": "record", "ansible.builtin.set_fact": {"seen": "{{ seen | default([]) + [k] }}"}},
    ] + list(extra_tasks)}


def report(path):
    return {"name": "report", "hosts": "all", "gather_facts": False, "tasks": [
        {"name": "write", "ansible.builtin.copy": {"content": "{{ seen | to_json }}", "dest": str(path)}}]}


@pytest.fixture(params=PLAYBOOKS, ids=["2.19", "2.16"])
def ansible_playbook(request):
    if not os.path.exists(request.param):
        pytest.skip("no %s (make deps)" % request.param)
    return request.param


@pytest.fixture
def master_file(tmp_path):
    p = tmp_path / "admin.kubeconfig"
    p.write_text(CONTENT)
    os.chmod(str(p), 0o600)
    return p


def test_read_once_per_run_private_and_removed_at_exit(ansible_playbook, tmp_path, master_file):
    out = tmp_path / "seen.json"
    check = {"name": "the copy is 0600 and holds the master's bytes",
             "ansible.builtin.stat": {"path": "{{ k.kubeconfig }}", "get_checksum": True}, "register": "st"}
    same = {"name": "compare", "ansible.builtin.assert": {"that": [
        "st.stat.mode == '0600'", "st.stat.checksum == lookup('ansible.builtin.file', '%s') | "
        "ansible.builtin.hash('sha1') or st.stat.checksum == '%s'" % (master_file, "")]}}
    r, local_tmp = run(ansible_playbook, tmp_path, [play("first role", str(master_file), [check]),
                                                    play("second role", str(master_file), [check]),
                                                    report(out)])
    assert r.returncode == 0, r.stdout[-4000:]
    seen = json.loads(out.read_text())
    assert [s["source"] for s in seen] == ["fetched", "reused"]
    assert seen[0]["kubeconfig"] == seen[1]["kubeconfig"]
    assert CONTENT not in r.stdout and "not-a-real-token" not in out.read_text()
    # inside Ansible's per-run local temp dir, and removed with it when ansible-playbook exited
    assert seen[0]["kubeconfig"].startswith(str(local_tmp) + os.sep)
    assert not os.path.exists(seen[0]["kubeconfig"])
    assert not [p for p in local_tmp.rglob("*") if "okd-admin-kubeconfig" in p.name]


def test_removed_after_a_failed_run_too(ansible_playbook, tmp_path, master_file):
    out = tmp_path / "seen.json"
    fail = {"name": "a later task fails", "ansible.builtin.fail": {"msg": "boom"}}
    plays = [play("role", str(master_file)), report(out),
             {"name": "fails", "hosts": "all", "gather_facts": False, "tasks": [fail]}]
    r, local_tmp = run(ansible_playbook, tmp_path, plays)
    assert r.returncode != 0 and "boom" in r.stdout
    seen = json.loads(out.read_text())
    assert seen[0]["source"] == "fetched"
    assert not os.path.exists(seen[0]["kubeconfig"])


def test_nothing_read_when_given_or_from_the_environment(ansible_playbook, tmp_path):
    out = tmp_path / "seen.json"
    missing = str(tmp_path / "no-such-admin.kubeconfig")  # reading it would fail the run
    plays = [play("given", missing, kubeconfig="/srv/my.kubeconfig"), report(out)]
    r, _ = run(ansible_playbook, tmp_path, plays)
    assert r.returncode == 0, r.stdout[-4000:]
    assert json.loads(out.read_text())[0] == dict(json.loads(out.read_text())[0], source="given",
                                                  kubeconfig="/srv/my.kubeconfig")
    r, _ = run(ansible_playbook, tmp_path, [play("env", missing), report(out)],
               env_extra={"K8S_AUTH_HOST": "https://api.example.test:8443", "K8S_AUTH_API_KEY": "t" * 20})
    assert r.returncode == 0, r.stdout[-4000:]
    got = json.loads(out.read_text())[0]
    assert (got["source"], got["kubeconfig"]) == ("environment", "")
    r, _ = run(ansible_playbook, tmp_path, [play("env file", missing), report(out)],
               env_extra={"K8S_AUTH_KUBECONFIG": "/srv/env.kubeconfig"})
    got = json.loads(out.read_text())[0]
    assert (got["source"], got["kubeconfig"]) == ("environment", "/srv/env.kubeconfig")
    # use_environment false (a role that needs a file): the master's file is read after all
    r, _ = run(ansible_playbook, tmp_path, [play("no env", missing, use_environment=False), report(out)],
               env_extra={"K8S_AUTH_KUBECONFIG": "/srv/env.kubeconfig"})
    assert r.returncode != 0
    assert "cannot read the admin kubeconfig %s on localhost" % missing in " ".join(r.stdout.split()), r.stdout[-3000:]


def test_unreadable_master_file_fails_naming_host_and_path(ansible_playbook, tmp_path):
    missing = str(tmp_path / "absent.kubeconfig")
    r, local_tmp = run(ansible_playbook, tmp_path, [play("role", missing)])
    assert r.returncode != 0
    # slurp's own cause after the path and host ("file not found" in 2.16, "File not found" in 2.19)
    assert ("okd_admin_kubeconfig: cannot read the admin kubeconfig %s on localhost: file not found: %s"
            % (missing, missing)).lower() in " ".join(r.stdout.split()).lower(), r.stdout[-3000:]
