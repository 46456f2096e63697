"""okd_standalone_registry's package check (issue 10): an installed package is found by a read-only query
of the package database and the package manager's module (apt: its whole cache, the no-op run's largest
task) is not run; a package the database does not know goes to the package manager. Both runs in check
mode: nothing on the registry host changes."""
import re

from labtools import run_playbook

PLAYBOOK = "playbooks/standalone_registry.yml"


def task_lines(output, name):
    """The result lines of one task ('ok: [node3]', 'skipping: [node3]', 'fatal: ...')."""
    m = re.search(r"^TASK \[okd_standalone_registry : %s\] \*+\n(.*?)(?=^TASK |^PLAY RECAP)" % re.escape(name),
                  output, re.M | re.S)
    assert m, "task %r not run:\n%s" % (name, output[-3000:])
    return m.group(1)


def test_installed_package_skips_the_package_manager(lab):
    rc, out = run_playbook(PLAYBOOK, "--check")
    assert rc == 0, out[-4000:]
    assert re.search(r"^skipping: \[\S+\]", task_lines(out, "Package docker-registry"), re.M), out[-4000:]
    assert re.search(r"^ok: \[\S+\]", task_lines(out, "Query the package database for docker-registry"), re.M)
    assert re.search(r"^\S+\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", out, re.M), out[-3000:]


def test_unknown_package_goes_to_the_package_manager(lab):
    name = "okd-issue10-no-such-package"
    rc, out = run_playbook(PLAYBOOK, "--check", "-e", "okd_standalone_registry_package=" + name)
    assert rc != 0
    # apt itself answered (it knows no such package): the query sent it there
    assert re.search(r"^fatal: \[\S+\]", task_lines(out, "Package " + name), re.M), out[-4000:]
    assert name in task_lines(out, "Package " + name)
