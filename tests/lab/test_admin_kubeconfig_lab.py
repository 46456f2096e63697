"""The cluster roles share one admin kubeconfig per run (issue 10, okd.registry_toolkit.okd_admin_kubeconfig):
read from master1 once, reused by the next role without a connection, gone when ansible-playbook exits;
not read at all when the K8S_AUTH_* variables give the API connection (master1's file is moved away for
that run and put back). The roles' real outcome is checked by their own run (recap) against the lab API."""
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MASTER_KUBECONFIG = "/etc/origin/master/admin.kubeconfig"


def run(tmp_path, playbooks, env_extra=None):
    wrapper = tmp_path / "cluster.yml"
    wrapper.write_text("---\n" + "".join(
        "- name: %s\n  ansible.builtin.import_playbook: %s\n" % (p, REPO / "playbooks" / p) for p in playbooks))
    local_tmp = tmp_path / "local-tmp"
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_")}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCAL_TEMP=str(local_tmp), PYTHONUNBUFFERED="1")
    env.update(env_extra or {})
    r = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-v", str(wrapper)],
                       cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=900)
    return r, local_tmp


def sources(output):
    return re.findall(r"^\s*source: (fetched|reused|environment|given)\s*$", output, re.M)


def test_read_once_per_run_and_removed(lab, tmp_path):
    r, local_tmp = run(tmp_path, ["cluster_registry_secrets.yml", "image_streams.yml"])
    assert r.returncode == 0, r.stdout[-5000:]
    assert re.search(r"master1\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", r.stdout)
    assert sources(r.stdout) == ["fetched", "reused"], r.stdout[-5000:]
    # the copy lived in Ansible's per-run temp dir, which ansible-playbook removed when it exited
    assert not [p for p in local_tmp.rglob("*") if "okd-admin-kubeconfig" in p.name]
    assert lab["api"]["tokens"]["admin"] not in r.stdout


def test_nothing_read_with_k8s_auth_variables(lab, lab_exec, tmp_path):
    api = lab["api"]
    env = {"K8S_AUTH_HOST": api["url"], "K8S_AUTH_API_KEY": api["tokens"]["admin"],
           "K8S_AUTH_SSL_CA_CERT": lab["ca_file"]}
    lab_exec("master1", "mv {0} {0}.issue10-test".format(MASTER_KUBECONFIG))
    try:
        r, _ = run(tmp_path, ["cluster_registry_secrets.yml"], env_extra=env)
    finally:
        lab_exec("master1", "mv -f {0}.issue10-test {0}".format(MASTER_KUBECONFIG))
    assert r.returncode == 0, r.stdout[-5000:]
    assert sources(r.stdout) == ["environment"], r.stdout[-5000:]
    assert api["tokens"]["admin"] not in r.stdout
