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


# ---------------------------------------------------------------- one files task: restart only when needed

CONF_DIR = "/etc/docker-distribution/registry"


def host_sh(cmd):
    from test_standalone_registry import host_exec
    rc, out, err = host_exec("node3", cmd)
    assert rc == 0, (cmd, out, err)
    return out.strip()


def main_pid():
    return host_sh("systemctl show -p MainPID docker-distribution | cut -d= -f2")


def changed_of(out):
    m = re.search(r"^node3\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", out, re.M)
    assert m, out[-3000:]
    return int(m.group(1))


def test_files_task_restarts_only_for_what_needs_it(lab):
    """The role's one files task (action okd_standalone_registry_files) repairs what differs on the registry
    host; the service is restarted only when a changed path needs it: a client-side CA copy whose mode was
    changed is repaired without a restart, a changed config.yml is restored and restarts the registry, and
    an unchanged run restarts nothing."""
    rc, out = run_playbook(PLAYBOOK)  # converge (another test may have left its own htpasswd user)
    assert rc == 0, out[-4000:]
    pid = main_pid()
    assert int(pid) > 1
    rc, out = run_playbook(PLAYBOOK)
    assert rc == 0 and changed_of(out) == 0, out[-4000:]
    assert main_pid() == pid, "an unchanged run restarts nothing"

    config = host_sh("cat %s/config.yml" % CONF_DIR)
    host_sh("chmod 0666 %s/tls/ca.crt" % CONF_DIR)
    rc, out = run_playbook(PLAYBOOK, "--diff")
    assert rc == 0, out[-4000:]
    assert changed_of(out) == 1, out[-4000:]
    assert "0666" in out and host_sh("stat -c %%a %s/tls/ca.crt" % CONF_DIR) == "644"
    assert main_pid() == pid, "a CA copy's mode needs no restart"

    host_sh("echo '# local edit' >> %s/config.yml" % CONF_DIR)
    rc, out = run_playbook(PLAYBOOK, "--diff")
    assert rc == 0, out[-4000:]
    assert "-# local edit" in out  # the diff of a public file shows its content
    assert "PRIVATE KEY" not in out and "$2b$" not in out
    assert host_sh("cat %s/config.yml" % CONF_DIR) == config
    new_pid = main_pid()
    assert new_pid != pid and int(new_pid) > 1, "a changed config.yml restarts the registry"
    assert host_sh("systemctl is-active docker-distribution") == "active"

    rc, out = run_playbook(PLAYBOOK)
    assert rc == 0 and changed_of(out) == 0, out[-4000:]
    assert main_pid() == new_pid


def test_no_secret_at_high_verbosity(lab):
    """The files task reads the key and the htpasswd hashes from the host: even at -vvv (where the ssh
    connection prints a command's raw output unless the task is no_log) neither they nor the push
    user's password reach the output."""
    from pathlib import Path
    password = (Path(lab["state_dir"]) / "standalone-registry-password").read_text().strip()
    key = host_sh("cat %s/tls/registry.key" % CONF_DIR)
    hashes = host_sh("cat %s/htpasswd" % CONF_DIR)
    rc, out = run_playbook(PLAYBOOK, "-vvv", "--diff")
    assert rc == 0, out[-4000:]
    assert "stdout and stderr censored due to no log" in out  # the read call ran, censored
    key_body = "".join(l for l in key.splitlines() if not l.startswith("-----"))
    assert password and password not in out
    assert key_body[:40] not in out and "PRIVATE KEY" not in out
    for line in hashes.splitlines():
        assert line.split(":", 1)[1] not in out
