# -*- coding: utf-8 -*-
"""playbooks/installer_vars.yml (issue 10): every host's openshift-ansible variables are mapped in tasks that
run once for the whole play (no per-host task), values shared by every host are set once, differing ones per
host; the inventory's own toolkit variables win; a wrong value stops the whole run, naming the host and the
variable, before any later play runs. Real ansible-playbook runs, controller only (local connection), with
ansible-core 2.19 and 2.16."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"),
             os.path.join(ROOT, ".venv-216", "bin", "ansible-playbook")]
SECRET = "tok-SECRET-0123456789"
INVENTORY = """
[OSEv3:children]
masters
nodes
[masters]
m1
[nodes]
n1
n2 openshift_hosted_registry_replicas=2
n3 okd_registries='[]'
[OSEv3:vars]
ansible_connection=local
ansible_python_interpreter={python}
oreg_url=registry.redhat.io/openshift3/ose-${{component}}:${{version}}
oreg_auth_user=11009103|cluster
oreg_auth_password={secret}
openshift_image_tag=v3.11.248
{extra}
"""


@pytest.fixture(params=PLAYBOOKS, ids=["2.19", "2.16"])
def ansible_playbook(request):
    if not os.path.exists(request.param):
        pytest.skip("no %s (make deps)" % request.param)
    return request.param


def run(ansible_playbook, tmp_path, extra=""):
    inv = tmp_path / "hosts.ini"
    inv.write_text(INVENTORY.format(python=sys.executable, secret=SECRET, extra=extra))
    out = tmp_path / "seen.json"
    if out.exists():
        out.unlink()
    plays = [{"ansible.builtin.import_playbook": os.path.join(ROOT, "playbooks", "installer_vars.yml")},
             {"hosts": "all", "gather_facts": False, "tasks": [
                 {"ansible.builtin.set_fact": {"seen": {
                     "registries": "{{ okd_registries | map(attribute='host') | list }}",
                     "replicas": "{{ okd_integrated_registry_replicas | default('unset') }}",
                     "image": "{{ okd_integrated_registry_image | default('unset') }}"}}},
                 {"ansible.builtin.copy": {"content": "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all"
                                                      " | map('extract', hostvars, 'seen'))) | to_json }}",
                                           "dest": str(out)},
                  "run_once": True}]}]
    pb = tmp_path / "play.yml"
    pb.write_text(json.dumps(plays))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    r = subprocess.run([ansible_playbook, "-i", str(inv), str(pb)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    return r, (json.loads(out.read_text()) if out.exists() else None)


def test_mapped_once_for_all_hosts_inventory_wins_per_host_values_per_host(ansible_playbook, tmp_path):
    r, seen = run(ansible_playbook, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    assert SECRET not in r.stdout
    assert seen["m1"]["registries"] == seen["n1"]["registries"] == seen["n2"]["registries"] == ["registry.redhat.io"]
    assert seen["n3"]["registries"] == []  # the inventory's own okd_registries wins
    assert [str(seen[h]["replicas"]) for h in ("m1", "n1", "n2", "n3")] == ["unset", "unset", "2", "unset"]
    assert {seen[h]["image"] for h in seen} == {"registry.redhat.io/openshift3/ose-docker-registry:v3.11.248"}
    # every task of the mapping play ran for one host only: no per-host task (the recap counts m1's tasks)
    recap = [l for l in r.stdout.splitlines() if l.startswith(("n1 ", "n2 "))]
    assert recap and all(" ok=1 " in l for l in recap), recap  # their one task is the check play's set_fact
    assert "n3: the inventory sets okd_registries itself" in r.stdout


def test_a_wrong_value_stops_the_run_naming_host_and_variable(ansible_playbook, tmp_path):
    r, seen = run(ansible_playbook, tmp_path, extra="oreg_test_login=maybe")
    assert r.returncode != 0
    assert seen is None  # the later play never ran
    text = " ".join(r.stdout.split())  # the YAML result format folds long messages
    for host in ("m1", "n1", "n2", "n3"):
        assert "%s: oreg_test_login must be a boolean" % host in text, r.stdout[-3000:]
    assert SECRET not in r.stdout
