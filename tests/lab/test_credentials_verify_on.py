"""registry_credentials_verify_hosts_on (issue 10): an unchanged run does not make the hosts verify a
file whose bytes the controller has just verified; a changed file is verified from its host; `always`
verifies every host; `never` none. Ansible role and pyinfra deploy alike.

To prove a host really ran (or skipped) its own check, node3 is given a host-side trust that cannot
verify the lab registries (the system trust store for Ansible's registry_verify, an empty --cert-dir for
pyinfra's skopeo): a check that runs fails naming node3, a skipped one cannot. The controller's
verification keeps the lab CA, so it passes. node3 is converged again at the end.
"""
import os
import re
import subprocess

import pytest

from labtools import REPO, lab_secrets, run_playbook

PATH = "/var/lib/origin/.docker/config.json"
PLAYBOOK = "playbooks/registry_credentials.yml"
# host-side trust without the lab CA (the controller's registry_credentials_ca_file is untouched)
BAD_TRUST_ANSIBLE = ["-e", "registry_credentials_host_ca_file=/etc/ssl/certs/ca-certificates.crt"]
BAD_TRUST_PYINFRA = ["--data", "registry_credentials_certs_dir=/nonexistent-okd-certs"]


def ansible(*args):
    return run_playbook(PLAYBOOK, "--limit", "node3", *args)


def pyinfra(lab, *args):
    address = next(h["address"] for h in lab["hosts"] if h["name"] == "node3")
    cmd = [str(REPO / ".venv" / "bin" / "pyinfra"), lab["inventory"]["pyinfra"],
           "pyinfra_deploys/registry_credentials.py", "-y", "--limit", address] + list(args)
    r = subprocess.run(cmd, cwd=str(REPO), env=dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1"),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    # pyinfra exits 0 on a --limit matching nothing: the write must have been reached on node3
    assert "Registry credentials %s" % PATH in r.stdout, r.stdout[-3000:]
    return r.returncode, r.stdout


def host_check_failed(out):
    """node3's own check ran and failed on its TLS trust (a loop item's failure or the task's)."""
    return re.search(r"(failed|fatal): \[node3\]", out) and "certificate verify failed" in out.lower()


def sha(lab_exec):
    return lab_exec("node3", "sha256sum %s 2>/dev/null | cut -d' ' -f1" % PATH, check=False).stdout.strip()


@pytest.fixture
def node3(lab, lab_exec):
    rc, out = ansible()
    assert rc == 0, out[-4000:]
    yield
    rc, out = ansible()  # converged again for whoever comes next
    assert rc == 0, out[-4000:]


def test_ansible_verifies_changed_files_only_by_default(lab, lab_exec, node3):
    before = sha(lab_exec)
    assert before
    # unchanged file: no host check (one that ran would fail with this trust)
    rc, out = ansible(*BAD_TRUST_ANSIBLE)
    assert rc == 0, out[-4000:]
    assert sha(lab_exec) == before
    # always: node3 checks its file and fails on its own TLS trust (so the skip above was a skip)
    rc, out = ansible(*(BAD_TRUST_ANSIBLE + ["-e", "registry_credentials_verify_hosts_on=always"]))
    assert rc != 0
    assert host_check_failed(out), out[-4000:]
    # a changed file is verified from its host by default
    lab_exec("node3", "rm -f %s" % PATH)
    rc, out = ansible(*BAD_TRUST_ANSIBLE)
    assert rc != 0
    assert host_check_failed(out), out[-4000:]
    assert sha(lab_exec) == before  # written (the same bytes), then failed its own check
    # never: no host check even for a changed file
    lab_exec("node3", "rm -f %s" % PATH)
    rc, out = ansible(*(BAD_TRUST_ANSIBLE + ["-e", "registry_credentials_verify_hosts_on=never"]))
    assert rc == 0, out[-4000:]
    assert sha(lab_exec) == before
    assert not [s for s in lab_secrets(lab) if s in out]


def test_ansible_without_controller_verification_every_host_verifies(lab, lab_exec, node3):
    """`changed` relies on the controller's check: without it an unchanged file is verified too."""
    rc, out = ansible(*(BAD_TRUST_ANSIBLE + ["-e", "registry_credentials_verify_controller=false"]))
    assert rc != 0
    assert host_check_failed(out), out[-4000:]


def test_ansible_refuses_an_unknown_choice(node3):
    rc, out = ansible("-e", "registry_credentials_verify_hosts_on=sometimes")
    assert rc != 0
    # the role's argument spec refuses it before anything runs (the role's own assert words it alike)
    assert ("registry_credentials_verify_hosts_on must be one of: changed, always, never, got: sometimes"
            in " ".join(out.split())), out[-4000:]


def test_pyinfra_verifies_changed_files_only_by_default(lab, lab_exec, node3):
    before = sha(lab_exec)
    rc, out = pyinfra(lab, *BAD_TRUST_PYINFRA)
    assert rc == 0, out[-4000:]
    assert sha(lab_exec) == before
    rc, out = pyinfra(lab, *(BAD_TRUST_PYINFRA + ["--data", "registry_credentials_verify_hosts_on=always"]))
    assert rc != 0
    assert "cannot pull docker://" in out and "with %s" % PATH in out, out[-4000:]
    lab_exec("node3", "rm -f %s" % PATH)
    rc, out = pyinfra(lab, *BAD_TRUST_PYINFRA)
    assert rc != 0
    assert "cannot pull docker://" in out, out[-4000:]
    assert sha(lab_exec) == before
    lab_exec("node3", "rm -f %s" % PATH)
    rc, out = pyinfra(lab, *(BAD_TRUST_PYINFRA + ["--data", "registry_credentials_verify_hosts_on=never"]))
    assert rc == 0, out[-4000:]
    assert sha(lab_exec) == before
    assert not [s for s in lab_secrets(lab) if s in out]
