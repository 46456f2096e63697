"""The roles and modules with ansible-core 2.16 on the Pythons of RHEL/CentOS 7-era OKD 3.11 nodes.

Lab hosts see pyenv's python2.7 and python3.6 at their usual paths (lab/hosts.py binds them in) and the
tests drive them with .venv-216 (ansible-core 2.16, the last release that manages such targets).
"""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK_216 = os.path.join(ROOT, ".venv-216", "bin", "ansible-playbook")
TARGETS = {"node1": "/root/.pyenv/versions/3.6.15/bin/python3.6",
           "node2": "/root/.pyenv/versions/2.7.18/bin/python2.7"}
CONFIG = "/var/lib/origin/.docker/config.json"


def _run(lab, playbook, host, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    return subprocess.run([PLAYBOOK_216, "-i", lab["inventory"]["ansible"], playbook, "-l", host,
                           "-e", "ansible_python_interpreter=%s" % TARGETS[host]] + list(extra),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def _recap(out, host):
    for line in out.splitlines():
        if line.startswith(host + " ") and "ok=" in line:
            return dict(kv.split("=") for kv in line.split(":", 1)[1].split())
    raise AssertionError("no recap for %s in:\n%s" % (host, out[-3000:]))


@pytest.mark.parametrize("host", sorted(TARGETS))
def test_credentials_and_compliance_on_old_python(lab, lab_exec, host, tmp_path):
    if not os.path.exists(PLAYBOOK_216):
        pytest.fail(".venv-216 is missing: run `make deps`")
    python = TARGETS[host]
    if lab_exec(host, "test -x %s" % python, check=False).returncode != 0:
        pytest.skip("%s is not available on this machine (pyenv)" % python)
    assert lab_exec(host, "%s -c 'import sys; print(sys.version_info[:2])'" % python).stdout.strip() in (
        "(2, 7)", "(3, 6)")
    lab_exec(host, "rm -f %s" % CONFIG)
    first = _run(lab, "playbooks/registry_credentials.yml", host)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert int(_recap(first.stdout, host)["changed"]) >= 1
    again = _run(lab, "playbooks/registry_credentials.yml", host)
    assert again.returncode == 0 and _recap(again.stdout, host)["changed"] == "0", again.stdout[-3000:]
    mode = lab_exec(host, "stat -c %%a %s" % CONFIG).stdout.strip()
    assert mode == "600"
    # an independent client proves the file written by the python2.7/3.6 module works
    redhat = lab["registries"]["redhat"]
    img = "docker://%s/openshift3/ose-pod:v3.11" % redhat["host"]
    out = lab_exec(host, "skopeo inspect --authfile %s %s" % (CONFIG, img), check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Digest"] == redhat["digests"]["openshift3/ose-pod:v3.11"]
    report = tmp_path / "report.json"
    comp = _run(lab, "playbooks/compliance.yml", host, "-e", "registry_compliance_report_path=%s" % report)
    assert comp.returncode == 0, comp.stdout[-4000:]
    hosts = json.loads(report.read_text())["hosts"]
    assert hosts[host]["compliant"] is True
    assert {r["check"] for r in hosts[host]["results"]} >= {"file_mode", "entry_current", "access"}
    # a planted link at the directory is refused on these Pythons too (2.7: no dir_fd, lstat checks)
    lab_exec(host, "mv /var/lib/origin/.docker /var/lib/origin/.docker.old-target; mkdir -p /etc/okd-old-victim; "
                   "chmod 755 /etc/okd-old-victim; echo keep > /etc/okd-old-victim/keep; "
                   "ln -s /etc/okd-old-victim /var/lib/origin/.docker")
    try:
        victim = "stat -c %a /etc/okd-old-victim; ls -A /etc/okd-old-victim; cat /etc/okd-old-victim/keep"
        before = lab_exec(host, victim).stdout
        linked = _run(lab, "playbooks/registry_credentials.yml", host)
        assert linked.returncode != 0
        assert "/var/lib/origin/.docker is a symbolic link (to /etc/okd-old-victim)" in linked.stdout, \
            linked.stdout[-3000:]
        assert lab_exec(host, victim).stdout == before
    finally:
        lab_exec(host, "rm -f /var/lib/origin/.docker; rm -rf /etc/okd-old-victim; "
                       "mv /var/lib/origin/.docker.old-target /var/lib/origin/.docker")
