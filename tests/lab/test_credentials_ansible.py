"""roles/registry_credentials and its playbooks against the lab: real files on real hosts, real
registries, real skopeo pulls.

The tests of this module run in order and share the lab's hosts master1, node1..3 (state is reset
where a test needs fresh hosts). Credentials reach ansible-playbook only through the inventory or a
0600 extra-vars file in a private temp directory that is removed right after the run.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PATH = "/var/lib/origin/.docker/config.json"
HOSTS = ["master1", "node1", "node2", "node3"]
FOREIGN = "other.lab.test:5999"  # an entry the role must never touch
PLAYBOOK = "playbooks/registry_credentials.yml"
ROTATE = "playbooks/rotate_registry_credentials.yml"


# --------------------------------------------------------------------------------------- helpers

def ansible(*args, extra_vars=None, inventories=(), timeout=900):
    """Run ansible-playbook from the repository root; CompletedProcess with stdout+stderr merged.
    extra_vars (may hold secrets) go through a 0600 file in a private dir removed afterwards."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1")
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook")]
    for inv in inventories:
        cmd += ["-i", str(inv)]
    tmpdir = None
    try:
        if extra_vars is not None:
            tmpdir = tempfile.mkdtemp(prefix="rc-vars-")
            os.chmod(tmpdir, 0o700)
            path = os.path.join(tmpdir, "vars.json")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(extra_vars, f)
            cmd += ["-e", "@" + path]
        cmd += [str(a) for a in args]
        return subprocess.run(cmd, cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout)
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


def recap(output):
    """{host: {ok, changed, unreachable, failed, ...}} from the PLAY RECAP."""
    out = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", output, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


def assert_ok(r):
    assert r.returncode == 0, r.stdout[-6000:]


def file_info(lab_exec, host, path=PATH):
    """(sha256 or None, file mode, dir mode) of a file on a lab host."""
    r = lab_exec(host, "if [ -f %s ]; then sha256sum %s | cut -d' ' -f1; stat -c %%a %s %s; fi"
                 % (path, path, path, os.path.dirname(path)))
    lines = r.stdout.split()
    if not lines:
        return (None, None, None)
    return (lines[0], lines[1], lines[2])


def read_config(lab_exec, host, path=PATH):
    return json.loads(lab_exec(host, "cat %s" % path).stdout)


def users(config):
    """{registry: username} of a parsed config (no passwords kept)."""
    out = {}
    for key, entry in config.get("auths", {}).items():
        out[key] = base64.b64decode(entry["auth"]).decode().split(":", 1)[0]
    return out


def reset(lab_exec, hosts=HOSTS):
    for h in hosts:
        lab_exec(h, "rm -rf /var/lib/origin/.docker /root/.docker")


def seed_foreign(lab_exec, host):
    """A pre-existing file with another registry's entry and a credHelpers section."""
    doc = {"auths": {FOREIGN: {"auth": base64.b64encode(b"someone:not-a-lab-secret").decode(),
                               "email": "ops@lab.test"}},
           "credHelpers": {"gcr.io": "gcloud"}}
    lab_exec(host, "umask 077; mkdir -p /var/lib/origin/.docker && cat > %s" % PATH,
             input=json.dumps(doc, indent=2) + "\n")


def registry(lab, name):
    return lab["registries"][name]


def account(lab, name, username=None, revoked=False):
    for a in registry(lab, name)["accounts"]:
        if (username is None or a["username"] == username) and bool(a.get("revoked")) == revoked \
                and (username is not None or a.get("pull")):
            return a
    raise AssertionError("no %s account %s (revoked=%s) in the lab" % (name, username, revoked))


def lab_registries(lab, quay_user="laborg+robot", redhat_user="11009103|lab-cluster", redhat=None):
    """okd_registries as the lab inventory has them, with chosen accounts."""
    rh = redhat or account(lab, "redhat", redhat_user)
    q = account(lab, "quay", quay_user)
    return [
        {"name": "redhat", "host": registry(lab, "redhat")["host"], "username": rh["username"],
         "password": rh["password"], "test_image": "openshift3/ose-pod:v3.11"},
        {"name": "quay", "host": registry(lab, "quay")["host"], "username": q["username"],
         "password": q["password"], "test_image": "laborg/hello:1.0"},
    ]


@pytest.fixture(scope="module")
def hosts(lab, lab_exec):
    names = [h["name"] for h in lab["hosts"]]
    for h in HOSTS:
        assert h in names, "the lab must have %s" % h
    yield HOSTS
    # leave the hosts converged on the inventory's credentials for whoever comes next
    lab_exec("master1", "rm -f %s" % PATH, check=False)
    ansible(PLAYBOOK, "--limit", ",".join(HOSTS))


# ----------------------------------------------------------------------------------------- tests

def test_check_apply_idempotent_check(lab, lab_exec, hosts):
    reset(lab_exec)
    seed_foreign(lab_exec, "node2")
    before = {h: file_info(lab_exec, h) for h in hosts}
    assert before["node1"] == (None, None, None) and before["node2"][0]

    # 1. check mode: reports changes on every host, changes nothing
    r = ansible(PLAYBOOK, "--check", "--diff", "--limit", ",".join(hosts))
    assert_ok(r)
    rc = recap(r.stdout)
    assert all(rc[h]["changed"] >= 1 for h in hosts), rc
    assert {h: file_info(lab_exec, h) for h in hosts} == before
    assert "<redacted:sha256:" in r.stdout  # the diff is shown, redacted

    # 2. apply
    r = ansible(PLAYBOOK, "--limit", ",".join(hosts))
    assert_ok(r)
    rc = recap(r.stdout)
    assert all(rc[h]["changed"] >= 1 and rc[h]["failed"] == 0 for h in hosts), rc
    assert "updated registry.redhat.lab.test:5443, quay.lab.test:5445" in r.stdout  # the report
    after = {h: file_info(lab_exec, h) for h in hosts}
    for h in hosts:
        assert after[h][1:] == ("600", "700"), (h, after[h])
    # same bytes on every host without a pre-existing file
    assert len({after[h][0] for h in ("master1", "node1", "node3")}) == 1
    expected = {registry(lab, "redhat")["host"]: "11009103|lab-cluster",
                registry(lab, "quay")["host"]: "laborg+robot"}
    assert users(read_config(lab_exec, "node1")) == expected
    # the other registry's entry, its email and credHelpers survived on node2
    node2 = read_config(lab_exec, "node2")
    assert users(node2) == dict(expected, **{FOREIGN: "someone"})
    assert node2["auths"][FOREIGN]["email"] == "ops@lab.test"
    assert node2["credHelpers"] == {"gcr.io": "gcloud"}

    # 3. idempotent re-run: changed=0 everywhere
    r = ansible(PLAYBOOK, "--limit", ",".join(hosts))
    assert_ok(r)
    rc = recap(r.stdout)
    assert all(rc[h]["changed"] == 0 for h in hosts), rc
    assert {h: file_info(lab_exec, h) for h in hosts} == after

    # 4. check mode again: nothing to change
    r = ansible(PLAYBOOK, "--check", "--limit", ",".join(hosts))
    assert_ok(r)
    assert all(recap(r.stdout)[h]["changed"] == 0 for h in hosts)


def test_skopeo_pulls_with_only_the_distributed_file(lab, lab_exec, hosts):
    images = [(registry(lab, "redhat")["host"], "openshift3/ose-pod:v3.11"),
              (registry(lab, "quay")["host"], "laborg/hello:1.0")]
    for h in hosts:
        for reg, image in images:
            r = lab_exec(h, "skopeo inspect --authfile %s docker://%s/%s" % (PATH, reg, image))
            assert json.loads(r.stdout)["Digest"].startswith("sha256:")
    # control: without the file's credentials the same request is refused (so the file is what works)
    r = lab_exec("node1", "echo '{}' > /tmp/empty-auth.json; skopeo inspect --authfile /tmp/empty-auth.json "
                 "docker://%s/openshift3/ose-pod:v3.11; rc=$?; rm -f /tmp/empty-auth.json; exit $rc"
                 % registry(lab, "redhat")["host"], check=False)
    assert r.returncode != 0


def test_absent_removes_only_its_entry(lab, lab_exec, hosts):
    quay = registry(lab, "quay")["host"]
    r = ansible(PLAYBOOK, "--limit", ",".join(hosts),
                extra_vars={"registry_credentials_remove": [quay]})
    assert_ok(r)
    assert "removed %s" % quay in r.stdout
    for h in hosts:
        remaining = users(read_config(lab_exec, h))
        assert quay not in remaining
        assert registry(lab, "redhat")["host"] in remaining
    assert FOREIGN in users(read_config(lab_exec, "node2"))
    # removing again changes nothing
    r = ansible(PLAYBOOK, "--limit", ",".join(hosts),
                extra_vars={"registry_credentials_remove": [quay]})
    assert_ok(r)
    assert all(recap(r.stdout)[h]["changed"] == 0 for h in hosts)
    # and the normal run puts it back
    assert_ok(ansible(PLAYBOOK, "--limit", ",".join(hosts)))
    assert quay in users(read_config(lab_exec, "node1"))


def test_revoked_account_stops_before_any_host_changes(lab, lab_exec, hosts):
    revoked = account(lab, "redhat", revoked=True)
    before = {h: file_info(lab_exec, h) for h in hosts}
    r = ansible(PLAYBOOK, "--limit", ",".join(hosts),
                extra_vars={"okd_registries": lab_registries(lab, redhat=revoked)})
    assert r.returncode != 0
    out = r.stdout
    # the registry's own message, naming the registry; no host task ran after it
    assert registry(lab, "redhat")["host"] in out
    assert re.search(r"(?i)unauthori[sz]ed|invalid username or password|revoked|denied", out), out[-3000:]
    assert "Write the registry credentials" not in out
    assert revoked["password"] not in out
    assert {h: file_info(lab_exec, h) for h in hosts} == before


def test_master_source_copies_the_masters_file(lab, lab_exec, hosts):
    # the master holds a different quay account than the inventory
    r = ansible(PLAYBOOK, "--limit", "master1",
                extra_vars={"okd_registries": lab_registries(lab, quay_user="laborg+pusher")})
    assert_ok(r)
    quay = registry(lab, "quay")["host"]
    assert users(read_config(lab_exec, "master1"))[quay] == "laborg+pusher"
    r = ansible(PLAYBOOK, "--limit", ",".join(hosts), "-e", "registry_credentials_source=master")
    assert_ok(r)
    for h in hosts:
        assert users(read_config(lab_exec, h))[quay] == "laborg+pusher", h
    assert FOREIGN in users(read_config(lab_exec, "node2"))  # merged, not replaced
    assert len({file_info(lab_exec, h)[0] for h in ("master1", "node1", "node3")}) == 1
    # back to the inventory's credentials
    assert_ok(ansible(PLAYBOOK, "--limit", ",".join(hosts)))
    assert users(read_config(lab_exec, "node1"))[quay] == "laborg+robot"


def test_malformed_master_file_stops_the_run_naming_master1(lab, lab_exec, hosts):
    lab_exec("master1", "cp %s /root/rc-master-backup.json && printf '{\"auths\": {\"x\": ' > %s"
             % (PATH, PATH))
    try:
        before = {h: file_info(lab_exec, h) for h in hosts if h != "master1"}
        r = ansible(PLAYBOOK, "--limit", ",".join(hosts), "-e", "registry_credentials_source=master")
        assert r.returncode != 0
        assert re.search(r"master1:%s\s+is not a valid credentials file: .*invalid JSON" % re.escape(PATH),
                         r.stdout), r.stdout[-3000:]
        assert {h: file_info(lab_exec, h) for h in hosts if h != "master1"} == before
    finally:
        lab_exec("master1", "mv -f /root/rc-master-backup.json %s" % PATH)


def test_invalid_file_on_a_node_fails_that_node_with_the_cause(lab, lab_exec, hosts):
    lab_exec("node3", "printf 'not json' > %s" % PATH)
    try:
        r = ansible(PLAYBOOK, "--limit", ",".join(hosts))
        assert r.returncode != 0
        rc = recap(r.stdout)
        assert rc["node3"]["failed"] == 1 and rc["node1"]["failed"] == 0
        assert re.search(r"node3.*%s: invalid JSON at line 1 column 1" % re.escape(PATH), r.stdout), \
            r.stdout[-3000:]
        assert lab_exec("node3", "cat %s" % PATH).stdout == "not json"  # left untouched
    finally:
        lab_exec("node3", "rm -f %s" % PATH)
    assert_ok(ansible(PLAYBOOK, "--limit", ",".join(hosts)))


def rotation_report(path):
    """{host: {status, reason, files}} of the rotation report; asserts it is 0600."""
    assert os.stat(str(path)).st_mode & 0o777 == 0o600
    with open(str(path)) as f:
        return json.load(f)["hosts"]


def docker_dir(lab_exec, host):
    return sorted(lab_exec(host, "ls -A /var/lib/origin/.docker").stdout.split())


@pytest.fixture
def broken_quay_on(lab, lab_exec):
    """break(host): the host's docker certs.d CA for the quay registry is replaced by an unrelated CA,
    so the host's own verification fails (TLS) while the controller's does not; restored afterwards."""
    saved = {}
    ca = "/etc/docker/certs.d/%s/ca.crt" % registry(lab, "quay")["host"]

    def brk(host):
        saved[host] = lab_exec(host, "cat %s" % ca).stdout
        lab_exec(host, "cat /etc/ssl/certs/ISRG_Root_X1.pem > %s" % ca)

    def fix(host):
        lab_exec(host, "cat > %s" % ca, input=saved.pop(host))

    brk.fix = fix
    yield brk
    for host in list(saved):
        fix(host)


def test_rotation_rolls_back_a_failing_host_reports_every_host_and_converges(
        lab, lab_exec, hosts, tmp_path, broken_quay_on):
    """Issue 8 section 4: node3 fails its own verification in the second batch -> it is rolled back to
    its previous file, the others are updated, the report (0600) names every host with its status and
    reason, no backup is left anywhere; fixed and re-run, it converges."""
    quay = registry(lab, "quay")["host"]
    report = tmp_path / "rotation.json"
    rotated = {"okd_registries": lab_registries(lab, quay_user="laborg+pusher"),
               "registry_credentials_rotate_serial": 2,
               "registry_credentials_rotate_report_path": str(report)}
    assert_ok(ansible(PLAYBOOK, "--limit", ",".join(hosts)))  # start from the inventory's credentials
    before = {h: file_info(lab_exec, h) for h in hosts}
    broken_quay_on("node3")
    r = ansible(ROTATE, "--limit", ",".join(hosts), extra_vars=rotated)
    assert r.returncode != 0
    got = rotation_report(report)
    assert sorted(got) == sorted(hosts)
    for h in ("master1", "node1", "node2"):
        assert got[h]["status"] == "updated" and got[h]["files"] == [PATH], (h, got[h])
        assert users(read_config(lab_exec, h))[quay] == "laborg+pusher", h
    assert got["node3"]["status"] == "rolled back", got["node3"]
    assert quay in got["node3"]["reason"] and "rolled back %s" % PATH in got["node3"]["reason"]
    assert file_info(lab_exec, "node3") == before["node3"]  # the previous file, byte for byte, 0600
    assert "not updated: node3 (rolled back)" in r.stdout
    for h in hosts:
        assert docker_dir(lab_exec, h) == ["config.json"], h  # backups removed or renamed back

    # fixed and re-run: node3 converges, the others report no change
    broken_quay_on.fix("node3")
    r = ansible(ROTATE, "--limit", ",".join(hosts), extra_vars=rotated)
    assert_ok(r)
    got = rotation_report(report)
    assert got["node3"]["status"] == "updated"
    assert all(got[h]["status"] == "unchanged" for h in ("master1", "node1", "node2")), got
    assert users(read_config(lab_exec, "node3"))[quay] == "laborg+pusher"
    assert all(docker_dir(lab_exec, h) == ["config.json"] for h in hosts)

    # wrong new credentials: nothing is touched, and the report still names every host
    bad = dict(rotated, okd_registries=lab_registries(lab, redhat=account(lab, "redhat", revoked=True)))
    before = {h: file_info(lab_exec, h) for h in hosts}
    r = ansible(ROTATE, "--limit", ",".join(hosts), extra_vars=bad)
    assert r.returncode != 0
    got = rotation_report(report)
    assert all(got[h]["status"] == "skipped" and "not accepted" in got[h]["reason"] for h in hosts), got
    assert {h: file_info(lab_exec, h) for h in hosts} == before

    # back to the inventory's credentials
    assert_ok(ansible(ROTATE, "--limit", ",".join(hosts), extra_vars={
        "registry_credentials_rotate_report_path": str(report)}))
    assert users(read_config(lab_exec, "node3"))[quay] == "laborg+robot"


def test_rotation_reports_unreachable_host_and_rerun_converges(lab, lab_exec, hosts, tmp_path):
    quay = registry(lab, "quay")["host"]
    report = tmp_path / "rotation.json"
    rotated = {"okd_registries": lab_registries(lab, quay_user="laborg+pusher"),
               "registry_credentials_rotate_serial": 2, "registry_credentials_rotate_max_fail_percentage": 50,
               "registry_credentials_rotate_report_path": str(report)}
    # node3 unreachable for this run: its ssh port points nowhere
    override = tmp_path / "unreachable.yml"
    override.write_text("all:\n  hosts:\n    node3:\n      ansible_port: 1\n")
    lab_inv = lab["inventory"]["ansible"]
    before_node3 = file_info(lab_exec, "node3")
    r = ansible(ROTATE, "--limit", ",".join(hosts), inventories=(lab_inv, override), extra_vars=rotated)
    assert r.returncode != 0
    got = rotation_report(report)
    assert got["node3"]["status"] == "failed" and "unreachable" in got["node3"]["reason"], got["node3"]
    assert "fix them and re-run" in r.stdout
    for h in ("master1", "node1", "node2"):
        assert got[h]["status"] == "updated", (h, got[h])
        assert users(read_config(lab_exec, h))[quay] == "laborg+pusher", h
    assert file_info(lab_exec, "node3") == before_node3

    # re-run with node3 reachable again: node3 converges, the others report no change
    r = ansible(ROTATE, "--limit", ",".join(hosts), extra_vars=rotated)
    assert_ok(r)
    rc = recap(r.stdout)
    assert rc["node3"]["changed"] >= 1
    assert all(rc[h]["changed"] == 0 for h in ("master1", "node1", "node2")), rc
    got = rotation_report(report)
    assert got["node3"]["status"] == "updated" and got["master1"]["status"] == "unchanged"
    assert users(read_config(lab_exec, "node3"))[quay] == "laborg+pusher"

    # back to the inventory's credentials
    assert_ok(ansible(ROTATE, "--limit", ",".join(hosts), extra_vars={
        "registry_credentials_rotate_report_path": str(report)}))
    assert users(read_config(lab_exec, "node3"))[quay] == "laborg+robot"


# ------------------------------------------------------------------ the restart handler (registry_credentials_restart_service)

UNIT = "okd-creds-restart-ansible.service"
UNIT_LOG = "/tmp/okd-creds-restart-ansible.log"
UNIT_TEXT = """[Unit]
Description=okd-registry-toolkit lab test: records every (re)start
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c "echo started >> %s"
""" % UNIT_LOG
HANDLER = "Restart the service that reads the registry credentials"


@pytest.fixture
def test_unit(lab_exec, hosts):
    """A harmless unit on every host (run by the lab's docker-systemctl-replacement), started, its start log
    emptied; removed afterwards."""
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


def test_the_service_is_restarted_only_where_a_file_changed(lab, lab_exec, hosts, test_unit):
    """With registry_credentials_restart_service, the hosts whose file changed restart it, one at a time; an
    unchanged run restarts nothing. Without it, the handler is not even notified (no handler task runs)."""
    limit = ["--limit", ",".join(HOSTS)]
    assert_ok(ansible(PLAYBOOK, *limit))  # every host up to date
    seed_foreign(lab_exec, "node2")  # node2's file will change (merged)
    reset(lab_exec, ["node3"])       # node3's file will be created

    service = {"registry_credentials_restart_service": UNIT[:-len(".service")]}
    r = ansible(PLAYBOOK, *limit, extra_vars=service)
    assert_ok(r)
    assert "RUNNING HANDLER [registry_credentials : %s]" % HANDLER in r.stdout
    assert starts(lab_exec) == {"master1": 0, "node1": 0, "node2": 1, "node3": 1}

    r = ansible(PLAYBOOK, *limit, extra_vars=service)  # nothing changed: nothing restarted
    assert_ok(r)
    assert "RUNNING HANDLER" not in r.stdout
    assert starts(lab_exec) == {"master1": 0, "node1": 0, "node2": 1, "node3": 1}

    reset(lab_exec, ["node1"])  # a change without a service to restart: no handler at all
    r = ansible(PLAYBOOK, *limit)
    assert_ok(r)
    assert recap(r.stdout)["node1"]["changed"] >= 1
    assert "RUNNING HANDLER" not in r.stdout
    assert starts(lab_exec) == {"master1": 0, "node1": 0, "node2": 1, "node3": 1}
