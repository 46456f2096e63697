"""pyinfra_deploys/registry_credentials.py against the lab, and the same end state as the Ansible role.

pyinfra's lab inventory names hosts by address; the lab status maps names to addresses.
Tests that change master1's credentials file restore its exact bytes afterwards (fixture
`master_file`); secrets reach the hosts only on stdin, never on a command line.
"""
import base64
import json
import os
import re
import subprocess
import sys
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


def revoked_inventory(lab, tmp_path):
    """An inventory that loads the lab's and swaps in the revoked redhat account, read from the lab
    status at run time (so the file written here holds no secret)."""
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
    return inv


def test_pyinfra_revoked_account_stops_before_any_host_changes(lab, lab_exec, hosts, tmp_path):
    pyinfra(lab, limit=hosts)
    before = {h: file_info(lab_exec, h) for h in hosts}
    inv = revoked_inventory(lab, tmp_path)
    r = pyinfra(lab, inventory=inv, limit=hosts)
    assert r.returncode != 0
    assert "registry credentials for %s rejected, nothing was changed on any host" \
        % lab["registries"]["redhat"]["host"] in r.stdout, r.stdout[-4000:]
    revoked = [a for a in lab["registries"]["redhat"]["accounts"] if a["revoked"]][0]
    assert revoked["password"] not in r.stdout
    assert {h: file_info(lab_exec, h) for h in hosts} == before


# ------------------------------------------------------------------ source master, backup, no leaks

sys.path.insert(0, str(REPO))
from plugins.module_utils import dockercfg  # noqa: E402

NODES = ["node1", "node2", "node3"]
FOREIGN = "other.lab.test:5999"
MASTER_DATA = ["--data", "registry_credentials_source=master"]
BACKUP_RE = re.compile(r"^config\.json\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$")


def secrets_of(lab):
    """Every lab password, its user:password and base64 form (as tests/lab/test_no_leaks.py)."""
    out = set()
    for reg in lab["registries"].values():
        for a in reg["accounts"]:
            pair = "%s:%s" % (a["username"], a["password"])
            out.update([a["password"], pair, base64.b64encode(pair.encode()).decode()])
    return {s for s in out if len(s) >= 8}


def assert_no_secret(lab, output, what):
    leaked = [s[:6] + "..." for s in secrets_of(lab) if s in output]
    assert not leaked, "%s printed secrets starting with %s" % (what, leaked)


def lab_account(lab, registry, username):
    return next(a for a in lab["registries"][registry]["accounts"] if a["username"] == username)


def master_doc(lab, quay_user="laborg+pusher"):
    """A master file that differs from the inventory (another quay account), rendered by the core."""
    rh = lab_account(lab, "redhat", "11009103|lab-cluster")
    q = lab_account(lab, "quay", quay_user)
    config, _ = dockercfg.set_auths(None, [
        {"registry": lab["registries"]["redhat"]["host"], "username": rh["username"],
         "password": rh["password"]},
        {"registry": lab["registries"]["quay"]["host"], "username": q["username"],
         "password": q["password"]},
    ])
    return dockercfg.render_config(config)


def put_file(lab_exec, host, text, path=PATH):
    """Write a credentials file on a host through stdin (never a command line), 0600 in a 0700 dir."""
    lab_exec(host, "umask 077; mkdir -p %s && cat > %s.new && mv -f %s.new %s"
             % (os.path.dirname(path), path, path, path), input=text)


def seed_foreign(lab_exec, host):
    doc = {"auths": {FOREIGN: {"auth": base64.b64encode(b"someone:not-a-lab-secret").decode(),
                               "email": "ops@lab.test"}},
           "credHelpers": {"gcr.io": "gcloud"}}
    lab_exec(host, "rm -rf /var/lib/origin/.docker")
    put_file(lab_exec, host, json.dumps(doc, indent=2) + "\n")


def prestate(lab_exec):
    """node1, node3 without a file, node2 with another registry's entry and a credHelpers section."""
    reset(lab_exec, ["node1", "node3"])
    seed_foreign(lab_exec, "node2")


def backups(lab_exec, host, path=PATH):
    r = lab_exec(host, "ls -A %s" % os.path.dirname(path), check=False)
    return sorted(n for n in r.stdout.split() if n != os.path.basename(path))


@pytest.fixture
def master_file(lab, lab_exec, hosts):
    """master1's credentials file, restored byte for byte (or removed again) after the test."""
    r = lab_exec("master1", "if [ -f %s ]; then echo yes; cat %s; else echo no; fi" % (PATH, PATH))
    exists, _, original = r.stdout.partition("\n")
    yield
    if exists == "yes":
        put_file(lab_exec, "master1", original)
        lab_exec("master1", "chmod 600 %s; chmod 700 %s" % (PATH, os.path.dirname(PATH)))
    else:
        lab_exec("master1", "rm -f %s" % PATH)


def test_pyinfra_master_source_writes_what_the_role_writes(lab, lab_exec, hosts, master_file):
    put_file(lab_exec, "master1", master_doc(lab))
    master_sha = file_info(lab_exec, "master1")[0]
    quay = lab["registries"]["quay"]["host"]

    # the Ansible role with source master, on the nodes (master1 outside --limit: delegated read)
    prestate(lab_exec)
    r = ansible("playbooks/registry_credentials.yml", "--limit", ",".join(NODES),
                "-e", "registry_credentials_source=master")
    assert r.returncode == 0, r.stdout[-4000:]
    by_ansible = {h: file_info(lab_exec, h) for h in NODES}
    assert users(lab_exec, "node1")[quay] == "laborg+pusher"  # the master's account, not the inventory's

    # pyinfra from the same starting point, master1 outside --limit as well
    prestate(lab_exec)
    r = pyinfra(lab, "-vvv", *MASTER_DATA, limit=NODES)
    assert r.returncode == 0, r.stdout[-4000:]
    assert "[%s] Connected (reading the registry credentials)" % address(lab, "master1") in r.stdout
    assert op_counts(r.stdout, WRITE_OP) == (3, 0, 0)
    assert_no_secret(lab, r.stdout, "pyinfra -vvv source master")
    by_pyinfra = {h: file_info(lab_exec, h) for h in NODES}
    assert by_pyinfra == by_ansible                      # byte-identical files, same modes
    assert by_pyinfra["node1"] == (master_sha, "600", "700")   # a copy of the master's file
    got = users(lab_exec, "node2")                       # merged: the other registry's entry stays
    assert got[FOREIGN] == "someone" and got[quay] == "laborg+pusher"
    assert json.loads(lab_exec("node2", "cat %s" % PATH).stdout)["credHelpers"] == {"gcr.io": "gcloud"}
    # the nodes pull with the copied file (the pyinfra run verified it too, with skopeo)
    r2 = lab_exec("node3", "skopeo inspect --authfile %s docker://%s/laborg/hello:1.0" % (PATH, quay))
    assert json.loads(r2.stdout)["Digest"].startswith("sha256:")

    # all hosts, master included: nothing left to change, the master's own file untouched
    r = pyinfra(lab, *MASTER_DATA, limit=HOSTS)
    assert r.returncode == 0, r.stdout[-4000:]
    assert op_counts(r.stdout, WRITE_OP) == (0, 0, 4)
    assert file_info(lab_exec, "master1")[0] == master_sha


@pytest.mark.parametrize("case", ["malformed", "bad_auth", "missing"])
def test_pyinfra_bad_master_file_stops_before_any_host_changes(lab, lab_exec, hosts, master_file,
                                                                case):
    r = pyinfra(lab, limit=NODES)  # every node has a file (the inventory's)
    assert r.returncode == 0, r.stdout[-4000:]
    seed_foreign(lab_exec, "node2")  # and one that the master's entries would change
    robot = lab_account(lab, "quay", "laborg+robot")
    good = base64.b64encode(("laborg+robot:%s" % robot["password"]).encode()).decode()
    quay = lab["registries"]["quay"]["host"]
    if case == "malformed":  # a real secret before the error: it must not show in the message
        put_file(lab_exec, "master1", '{\n  "auths": {\n    "%s": {"auth": "%s"},\n  }\n}\n' % (quay, good))
        expected = ("registry_credentials: %s:%s is not a valid credentials file: invalid JSON at "
                    "line 4 column 3" % (address(lab, "master1"), PATH))
    elif case == "bad_auth":
        put_file(lab_exec, "master1", json.dumps({"auths": {quay: {"auth": "%s!" % good}}}))
        expected = ('registry_credentials: %s:%s is not a valid credentials file: auths["%s"]: auth '
                    "is not valid base64" % (address(lab, "master1"), PATH, quay))
    else:
        lab_exec("master1", "rm -f %s" % PATH)
        expected = ("registry_credentials: source is master but %s has no %s; write it there first "
                    "or use source inventory" % (address(lab, "master1"), PATH))
    before = {h: file_info(lab_exec, h) for h in NODES}
    r = pyinfra(lab, "-vvv", *MASTER_DATA, limit=NODES)
    assert r.returncode != 0
    assert expected in r.stdout, r.stdout[-4000:]
    assert "Beginning operation run" not in r.stdout      # stopped while preparing
    assert_no_secret(lab, r.stdout, "pyinfra -vvv with a %s master file" % case)
    assert {h: file_info(lab_exec, h) for h in NODES} == before


def test_pyinfra_backup_keeps_the_previous_file(lab, lab_exec, hosts, master_file):
    reset(lab_exec, ["node3"])
    r = pyinfra(lab, limit=["node3"])  # the inventory's credentials
    assert r.returncode == 0, r.stdout[-4000:]
    previous = lab_exec("node3", "cat %s" % PATH).stdout
    previous_sha = file_info(lab_exec, "node3")[0]
    assert backups(lab_exec, "node3") == []

    put_file(lab_exec, "master1", master_doc(lab))  # another quay account: node3's file changes
    try:
        r = pyinfra(lab, "-vvv", "--diff", *MASTER_DATA,
                    "--data", "registry_credentials_backup=true", limit=["node3"])
        assert r.returncode == 0, r.stdout[-4000:]
        assert op_counts(r.stdout, WRITE_OP) == (1, 0, 0)
        assert "(backup of the previous file kept)" in r.stdout
        assert_no_secret(lab, r.stdout, "pyinfra -vvv --diff backup")
        names = backups(lab_exec, "node3")
        assert len(names) == 1 and BACKUP_RE.match(names[0]), names
        backup = "%s/%s" % (os.path.dirname(PATH), names[0])
        assert file_info(lab_exec, "node3", backup)[:2] == (previous_sha, "600")
        assert lab_exec("node3", "stat -c %%U:%%G %s" % backup).stdout.strip() == "root:root"
        assert lab_exec("node3", "cat %s" % backup).stdout == previous
        assert users(lab_exec, "node3")[lab["registries"]["quay"]["host"]] == "laborg+pusher"
        assert file_info(lab_exec, "node3")[1:] == ("600", "700")

        # nothing to change: no write, no new backup
        r = pyinfra(lab, *MASTER_DATA, "--data", "registry_credentials_backup=true", limit=["node3"])
        assert r.returncode == 0, r.stdout[-4000:]
        assert op_counts(r.stdout, WRITE_OP) == (0, 0, 1)
        assert backups(lab_exec, "node3") == names

        # without the setting (default false) a change leaves no backup
        lab_exec("node3", "rm -f %s" % backup)
        r = pyinfra(lab, limit=["node3"])  # back to the inventory's account
        assert r.returncode == 0, r.stdout[-4000:]
        assert op_counts(r.stdout, WRITE_OP) == (1, 0, 0)
        assert backups(lab_exec, "node3") == []
    finally:
        # backups hold the secrets: never leave them behind (test_no_leaks may be searching)
        reset(lab_exec, ["node3"])


# ------------------------------------------ master paths, controller verification off, retries, restart

from pyinfra_deploys.okd_registry import operations as okd_operations  # noqa: E402

MASTER_EXTRA = "/etc/origin/master/.docker/config.json"  # like the master data dir's .docker/config.json
MASTER_PATHS_DATA = ["--data", "registry_credentials_master_paths=%s" % json.dumps([MASTER_EXTRA])]


def op_row(output, operation):
    """(hosts, success, error, no_change) of one operation from pyinfra's results table."""
    for line in output.splitlines():
        if line.strip().startswith(operation):
            cells = line.strip()[len(operation):].split()
            return tuple(0 if c == "-" else int(c) for c in cells[:4])
    raise AssertionError("operation %r not in the results:\n%s" % (operation, output[-3000:]))


@pytest.fixture
def master_extra_dir(lab_exec, hosts):
    """master1's /etc/origin/master/.docker: kept as found (it does not exist in the lab)."""
    d = os.path.dirname(MASTER_EXTRA)
    r = lab_exec("master1", "if [ -e %s ]; then echo yes; cat %s; else echo no; fi" % (d, MASTER_EXTRA),
                 check=False)
    existed, _, original = r.stdout.partition("\n")
    yield
    if existed == "yes":
        put_file(lab_exec, "master1", original, MASTER_EXTRA)
    else:
        lab_exec("master1", "rm -rf %s" % d)
    for h in NODES:
        lab_exec(h, "rm -rf /etc/origin/master/.docker", check=False)


def test_pyinfra_master_paths_only_on_masters(lab, lab_exec, hosts, master_extra_dir):
    lab_exec("master1", "rm -rf %s" % os.path.dirname(MASTER_EXTRA))
    r = pyinfra(lab, *MASTER_PATHS_DATA, limit=HOSTS)
    assert r.returncode == 0, r.stdout[-4000:]
    # one host (the master) has the operation, and it wrote the file there
    assert op_row(r.stdout, "Registry credentials %s" % MASTER_EXTRA) == (1, 1, 0, 0)
    node_file = file_info(lab_exec, "master1")
    assert file_info(lab_exec, "master1", MASTER_EXTRA) == node_file  # same bytes, 0600, dir 0700
    assert node_file[0] is not None
    for h in NODES:
        r2 = lab_exec(h, "ls -d /etc/origin/master /etc/origin/master/.docker 2>&1 || true")
        assert "No such file" in r2.stdout and MASTER_EXTRA not in lab_exec(
            h, "find /etc/origin /var/lib/origin -name config.json").stdout, (h, r2.stdout)

    # nothing left to do, and the role with the same setting agrees (byte-identical, changed=0)
    r = pyinfra(lab, *MASTER_PATHS_DATA, limit=HOSTS)
    assert r.returncode == 0, r.stdout[-4000:]
    assert op_row(r.stdout, "Registry credentials %s" % MASTER_EXTRA) == (1, 0, 0, 1)
    r = ansible("playbooks/registry_credentials.yml", "--limit", "master1",
                "-e", json.dumps({"registry_credentials_master_paths": [MASTER_EXTRA]}))
    assert r.returncode == 0 and re.search(r"master1\s+: ok=\d+\s+changed=0", r.stdout), r.stdout[-4000:]

    # without the setting, the master path is not managed at all
    r = pyinfra(lab, limit=["master1"])
    assert r.returncode == 0 and MASTER_EXTRA not in r.stdout, r.stdout[-4000:]


def test_pyinfra_without_controller_verification_the_hosts_still_check(lab, lab_exec, hosts, tmp_path):
    """registry_credentials_verify_controller=false: no check before the write, so a revoked account
    is written; the host's own check (skopeo) then fails, naming the host, image, file and cause."""
    revoked = [a for a in lab["registries"]["redhat"]["accounts"] if a["revoked"]][0]
    redhat = lab["registries"]["redhat"]["host"]
    inv = revoked_inventory(lab, tmp_path)
    try:
        r = pyinfra(lab, "--data", "registry_credentials_verify_controller=false", inventory=inv,
                    limit=["node3"])
        assert r.returncode != 0
        assert "rejected, nothing was changed" not in r.stdout
        assert users(lab_exec, "node3")[redhat] == revoked["username"]  # written: no controller check
        assert ("%s: cannot pull docker://%s/openshift3/ose-pod:v3.11 with %s: "
                % (address(lab, "node3"), redhat, PATH)) in r.stdout, r.stdout[-4000:]
        assert "unauthorized" in r.stdout.lower()
        assert_no_secret(lab, r.stdout, "pyinfra with verify_controller=false")

        # the default (true) stops the same run before node3 is touched
        reset(lab_exec, ["node3"])
        r = pyinfra(lab, inventory=inv, limit=["node3"])
        assert r.returncode != 0
        assert "registry credentials for %s rejected" % redhat in r.stdout, r.stdout[-4000:]
        assert file_info(lab_exec, "node3") == (None, None, None)
    finally:
        r = pyinfra(lab, limit=["node3"])
        assert r.returncode == 0, r.stdout[-4000:]


def test_host_check_gives_the_hosts_skopeo_its_retries(lab, lab_exec, hosts):
    """registry_credentials_retries on the hosts: the lab's real skopeo is run with --retry-times N
    (it has the option) for every registry in one command, and succeeds with the distributed file."""
    r = pyinfra(lab, limit=["node3"])
    assert r.returncode == 0, r.stdout[-4000:]
    skopeo = lab_exec("node3", "command -v skopeo").stdout.strip()
    references = ["docker://%s/openshift3/ose-pod:v3.11" % lab["registries"]["redhat"]["host"],
                  "docker://%s/laborg/hello:1.0" % lab["registries"]["quay"]["host"]]
    command = okd_operations.verify_command(PATH, [(ref, None) for ref in references], retries=2)
    # the host's real skopeo behind a wrapper that logs its arguments (one line per call: the checks
    # run at the same time, so a shell trace of them would interleave)
    wrapper = "/tmp/okd-skopeo-args"
    lab_exec("node3", "rm -rf %s; mkdir -m 700 %s; cat > %s/skopeo; chmod 700 %s/skopeo"
             % (wrapper, wrapper, wrapper, wrapper),
             input='#!/bin/sh\necho "$*" >> %s/calls\nexec %s "$@"\n' % (wrapper, skopeo))
    try:
        r = lab_exec("node3", "PATH=%s:$PATH; export PATH; %s" % (wrapper, command.get_raw_value()), check=False)
        assert r.returncode == 0, r.stderr[-3000:]
        calls = lab_exec("node3", "cat %s/calls" % wrapper).stdout.splitlines()
    finally:
        lab_exec("node3", "rm -rf %s" % wrapper)
    assert sorted(calls) == sorted("inspect --retry-times 2 --raw --authfile %s %s" % (PATH, ref)
                                   for ref in references)
    assert okd_operations.parse_verify_output(r.stdout.splitlines(), 2) == [(True, ""), (True, "")]
    # the whole deploy passes registry_credentials_retries there (and the check succeeds); node3's file
    # is unchanged, so its check runs only with verify_hosts_on always (the default is changed)
    r = pyinfra(lab, "-vv", "--data", "registry_credentials_retries=2",
                "--data", "registry_credentials_verify_hosts_on=always", limit=["node3"])
    assert r.returncode == 0, r.stdout[-4000:]
    assert "okd-registry-verify 2 %s %s " % (PATH, references[0]) in r.stdout, r.stdout[-4000:]
    assert op_row(r.stdout, "Verify pull access to %s, %s with %s"
                  % (lab["registries"]["redhat"]["host"], lab["registries"]["quay"]["host"], PATH)) == (1, 0, 0, 1)


UNIT = "okd-creds-restart-test.service"
UNIT_LOG = "/tmp/okd-creds-restart-test.log"
UNIT_TEXT = """[Unit]
Description=okd-registry-toolkit lab test: records every (re)start
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c "echo started >> %s"
""" % UNIT_LOG
RESTART_DATA = ["--data", "registry_credentials_restart_service=%s" % UNIT[:-len(".service")]]
RESTART_OP = "Restart %s where the registry credentials changed" % UNIT[:-len(".service")]


@pytest.fixture
def test_unit(lab_exec, hosts):
    """A harmless unit on every host (run by the lab's docker-systemctl-replacement), started, its
    start log emptied; removed afterwards with everything systemctl kept about it."""
    r = lab_exec("master1", "systemctl --version", check=False)
    assert "systemctl.py" in r.stdout, "lab hosts need docker-systemctl-replacement (docs/lab.md)"
    for h in HOSTS:
        lab_exec(h, "cat > /etc/systemd/system/%s" % UNIT, input=UNIT_TEXT)
        lab_exec(h, "systemctl start %s && rm -f %s" % (UNIT, UNIT_LOG))
    yield
    for h in HOSTS:
        lab_exec(h, "systemctl stop %s; rm -f /etc/systemd/system/%s %s /run/systemd/%s.lock "
                    "/var/log/journal/%s.log" % (UNIT, UNIT, UNIT_LOG, UNIT, UNIT), check=False)


def starts(lab_exec):
    return {h: len(lab_exec(h, "cat %s 2>/dev/null || true" % UNIT_LOG).stdout.split()) for h in HOSTS}


def test_pyinfra_restarts_the_service_only_where_a_file_changed(lab, lab_exec, hosts, test_unit):
    r = pyinfra(lab, limit=HOSTS)  # every host up to date, no service to restart
    assert r.returncode == 0, r.stdout[-4000:]
    assert starts(lab_exec) == {h: 0 for h in HOSTS}
    seed_foreign(lab_exec, "node2")  # node2's file will change (merged)
    reset(lab_exec, ["node3"])       # node3's file will be created

    r = pyinfra(lab, "-vv", *RESTART_DATA, limit=HOSTS)
    assert r.returncode == 0, r.stdout[-4000:]
    assert op_counts(r.stdout, WRITE_OP) == (2, 0, 2)
    # one host at a time (pyinfra's _serial), only on node2 and node3, and a real restart
    assert "Starting serial operation: %s" % RESTART_OP in r.stdout
    assert op_counts(r.stdout, RESTART_OP) == (2, 0, 2)
    assert starts(lab_exec) == {"master1": 0, "node1": 0, "node2": 1, "node3": 1}
    for h in ("node2", "node3"):
        assert re.search(r"\[%s\]\s+>>> (sh -c ')?systemctl restart %s"
                         % (re.escape(address(lab, h)), re.escape(UNIT)), r.stdout), h
    assert_no_secret(lab, r.stdout, "pyinfra -vv with a restart")

    # a no-op re-run restarts nothing
    r = pyinfra(lab, *RESTART_DATA, limit=HOSTS)
    assert r.returncode == 0, r.stdout[-4000:]
    assert op_counts(r.stdout, WRITE_OP) == (0, 0, 4)
    assert op_counts(r.stdout, RESTART_OP) == (0, 0, 4)
    assert starts(lab_exec) == {"master1": 0, "node1": 0, "node2": 1, "node3": 1}

    # --dry neither writes nor restarts; the real run then restarts node1 only
    reset(lab_exec, ["node1"])
    r = pyinfra(lab, "--dry", *RESTART_DATA, limit=HOSTS)
    assert r.returncode == 0, r.stdout[-4000:]
    assert file_info(lab_exec, "node1") == (None, None, None)
    assert starts(lab_exec) == {"master1": 0, "node1": 0, "node2": 1, "node3": 1}
    r = pyinfra(lab, *RESTART_DATA, limit=HOSTS)
    assert r.returncode == 0, r.stdout[-4000:]
    assert starts(lab_exec) == {"master1": 0, "node1": 1, "node2": 1, "node3": 1}

    # a service the host does not have: that host fails, with the host and the cause
    reset(lab_exec, ["node3"])
    r = pyinfra(lab, "--data", "registry_credentials_restart_service=okd-no-such-unit", limit=["node3"])
    assert r.returncode != 0
    assert re.search(r"\[%s\].*okd-no-such-unit\.service not found" % re.escape(address(lab, "node3")),
                     r.stdout), r.stdout[-4000:]
    assert file_info(lab_exec, "node3")[1:] == ("600", "700")  # the file was written before
