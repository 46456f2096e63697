"""pyinfra_deploys/registry_credentials.py against the lab, and the same end state as the Ansible role.

pyinfra's lab inventory names hosts by address; the lab status maps names to addresses.
"""
import base64
import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PATH = "/var/lib/origin/.docker/config.json"
HOSTS = ["master1", "node1", "node2", "node3"]
DEPLOY = "pyinfra_deploys/registry_credentials.py"


def address(lab, name):
    return next(h["address"] for h in lab["hosts"] if h["name"] == name)


def pyinfra(lab, *args, inventory=None, deploy=DEPLOY, limit=(), timeout=900):
    cmd = [str(REPO / ".venv" / "bin" / "pyinfra"), str(inventory or lab["inventory"]["pyinfra"]),
           str(deploy), "-y"]
    for name in limit:
        cmd += ["--limit", address(lab, name)]
    cmd += list(args)
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1")
    return subprocess.run(cmd, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout)


def ansible(*args, timeout=900):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook")] + list(args), cwd=str(REPO),
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout)


def file_info(lab_exec, host, path=PATH):
    r = lab_exec(host, "if [ -f %s ]; then sha256sum %s | cut -d' ' -f1; stat -c %%a %s %s; fi"
                 % (path, path, path, os.path.dirname(path)))
    lines = r.stdout.split()
    return tuple(lines) if lines else (None, None, None)


def users(lab_exec, host, path=PATH):
    config = json.loads(lab_exec(host, "cat %s" % path).stdout)
    return {k: base64.b64decode(v["auth"]).decode().split(":", 1)[0] for k, v in config["auths"].items()}


def reset(lab_exec, hosts=HOSTS):
    for h in hosts:
        lab_exec(h, "rm -rf /var/lib/origin/.docker")


def op_counts(output, operation):
    """(success, error, no_change) of one operation from pyinfra's results table."""
    for line in output.splitlines():
        if line.strip().startswith(operation):
            cells = line.strip()[len(operation):].split()
            nums = [0 if c == "-" else int(c) for c in cells]
            return tuple(nums[1:4])
    raise AssertionError("operation %r not in the results:\n%s" % (operation, output[-3000:]))


WRITE_OP = "Registry credentials %s" % PATH


@pytest.fixture(scope="module")
def hosts(lab, lab_exec):
    yield HOSTS
    ansible("playbooks/registry_credentials.yml", "--limit", ",".join(HOSTS))


def test_ansible_and_pyinfra_write_identical_files(lab, lab_exec, hosts):
    reset(lab_exec)
    r = ansible("playbooks/registry_credentials.yml", "--limit", "master1,node1,node2")
    assert r.returncode == 0, r.stdout[-4000:]
    assert file_info(lab_exec, "node3") == (None, None, None)

    # --dry changes nothing
    r = pyinfra(lab, "--dry", limit=["node3"])
    assert r.returncode == 0, r.stdout[-4000:]
    assert file_info(lab_exec, "node3") == (None, None, None)

    r = pyinfra(lab, limit=["node3"])
    assert r.returncode == 0, r.stdout[-4000:]
    assert op_counts(r.stdout, WRITE_OP) == (1, 0, 0)
    infos = {h: file_info(lab_exec, h) for h in hosts}
    assert len(set(infos.values())) == 1, infos          # same sha256, 0600, dir 0700 everywhere
    assert infos["node3"][1:] == ("600", "700")

    # pyinfra on the Ansible-written hosts: nothing to change (same bytes, same modes)
    r = pyinfra(lab, limit=hosts)
    assert r.returncode == 0, r.stdout[-4000:]
    assert op_counts(r.stdout, WRITE_OP) == (0, 0, 4)
    # and Ansible on the pyinfra-written host: changed=0
    r = ansible("playbooks/registry_credentials.yml", "--limit", "node3")
    assert r.returncode == 0 and re.search(r"node3\s+: ok=\d+\s+changed=0", r.stdout), r.stdout[-4000:]

    # skopeo inside the host with only the pyinfra-written file
    r = lab_exec("node3", "skopeo inspect --authfile %s docker://%s/openshift3/ose-pod:v3.11"
                 % (PATH, lab["registries"]["redhat"]["host"]))
    assert json.loads(r.stdout)["Digest"].startswith("sha256:")


def test_pyinfra_merges_keeps_others_fixes_modes_and_removes(lab, lab_exec, hosts, tmp_path):
    foreign = {"auths": {"other.lab.test:5999": {"auth": base64.b64encode(b"someone:x").decode()}},
               "credHelpers": {"gcr.io": "gcloud"}}
    lab_exec("node3", "rm -rf /var/lib/origin/.docker; mkdir -p -m 755 /var/lib/origin/.docker; "
             "cat > %s; chmod 644 %s" % (PATH, PATH), input=json.dumps(foreign))
    r = pyinfra(lab, limit=["node3"])
    assert r.returncode == 0, r.stdout[-4000:]
    got = users(lab_exec, "node3")
    assert got["other.lab.test:5999"] == "someone"
    assert got[lab["registries"]["quay"]["host"]] == "laborg+robot"
    assert file_info(lab_exec, "node3")[1:] == ("600", "700")
    r = pyinfra(lab, limit=["node3"])
    assert op_counts(r.stdout, WRITE_OP) == (0, 0, 1)

    # absent through the operation: only that entry goes
    deploy = tmp_path / "remove_quay.py"
    deploy.write_text(textwrap.dedent("""
        import sys
        sys.path.insert(0, %r)
        from pyinfra_deploys.okd_registry import operations
        operations.registry_credentials(path=%r, registries=[%r], state="absent")
    """ % (str(REPO), PATH, lab["registries"]["quay"]["host"])))
    r = pyinfra(lab, deploy=deploy, limit=["node3"])
    assert r.returncode == 0, r.stdout[-4000:]
    got = users(lab_exec, "node3")
    assert lab["registries"]["quay"]["host"] not in got
    assert "other.lab.test:5999" in got and lab["registries"]["redhat"]["host"] in got
    reset(lab_exec, ["node3"])


def test_pyinfra_revoked_account_stops_before_any_host_changes(lab, lab_exec, hosts, tmp_path):
    pyinfra(lab, limit=hosts)
    before = {h: file_info(lab_exec, h) for h in hosts}
    # an inventory that loads the lab's and swaps in the revoked account, read from the lab status at
    # run time (so this file holds no secret)
    inv = tmp_path / "revoked_inventory.py"
    inv.write_text(textwrap.dedent("""
        import json, runpy
        _lab = runpy.run_path(%r)
        _status = json.load(open(%r))
        _revoked = [a for a in _status["registries"]["redhat"]["accounts"] if a["revoked"]][0]
        def _swap(hosts):
            out = []
            for address, data in hosts:
                data = dict(data)
                regs = [dict(r) for r in data["okd_registries"]]
                for r in regs:
                    if r["name"] == "redhat":
                        r["username"], r["password"] = _revoked["username"], _revoked["password"]
                data["okd_registries"] = regs
                out.append((address, data))
            return out
        for _group, _hosts in list(_lab.items()):
            if not _group.startswith("_") and isinstance(_hosts, list):
                globals()[_group] = _swap(_hosts)
    """ % (lab["inventory"]["pyinfra"], os.path.join(lab["state_dir"], "status.json"))))
    r = pyinfra(lab, inventory=inv, limit=hosts)
    assert r.returncode != 0
    assert "registry credentials for %s rejected, nothing was changed on any host" \
        % lab["registries"]["redhat"]["host"] in r.stdout, r.stdout[-4000:]
    revoked = [a for a in lab["registries"]["redhat"]["accounts"] if a["revoked"]][0]
    assert revoked["password"] not in r.stdout
    assert {h: file_info(lab_exec, h) for h in hosts} == before
