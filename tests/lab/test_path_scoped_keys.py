"""Path-scoped registry keys survive and are used (issue 8 §3), against the lab.

The credentials role writes, to node1, two entries scoped to two namespaces of the redhat lab registry
with two different accounts (openshift3 -> 11009103|lab-cluster, rhel7 -> labuser) and a registry-wide
entry holding an account entitled to nothing (11009103|no-entitlement). All three keys must be in the
file, beside what was there, and skopeo on node1, with node1's own file, must pull from both paths
(which only works when it picks the path-scoped entry: the registry-wide account may pull nothing),
while a repository outside both paths falls back to the registry-wide account and is refused. The
role's own verification (controller and host) passes on the way. node1's file is restored byte for
byte afterwards. The pyinfra deploy does the same on node2.
"""
import base64
import json
import os
import shlex
import subprocess
import textwrap

from labtools import REPO, recap, run_playbook

HOST = "node1"
PATH = "/var/lib/origin/.docker/config.json"


def _account(lab, username):
    return next(a for a in lab["registries"]["redhat"]["accounts"] if a["username"] == username)


ACCOUNTS = (("openshift3", "11009103|lab-cluster", "openshift3/ose-pod:v3.11"),
            ("rhel7", "labuser", "rhel7/rhel:7.9"))
WIDE = "11009103|no-entitlement"


def scoped_entries(lab):
    redhat = lab["registries"]["redhat"]["host"]
    entries = [{"name": "redhat-" + path, "host": "%s/%s" % (redhat, path), "username": user,
                "password": _account(lab, user)["password"], "test_image": image}
               for path, user, image in ACCOUNTS]
    entries.append({"name": "redhat-wide", "host": redhat, "username": WIDE,
                    "password": _account(lab, WIDE)["password"]})
    return entries


def check_host(lab, lab_exec, host, original):
    """All keys on `host` (earlier ones kept), each scoped key with its account, skopeo pulls by path."""
    redhat = lab["registries"]["redhat"]["host"]
    auths = json.loads(lab_exec(host, "cat %s" % PATH).stdout)["auths"]
    before = json.loads(original)["auths"]
    assert set(auths) == set(before) | {"%s/%s" % (redhat, p) for p, _, _ in ACCOUNTS}, sorted(auths)
    for key, user in [("%s/%s" % (redhat, p), u) for p, u, _ in ACCOUNTS] + [(redhat, WIDE)]:
        assert base64.b64decode(auths[key]["auth"]).decode().split(":", 1)[0] == user, key

    def pull(image):
        return lab_exec(host, "skopeo inspect --authfile %s %s" % (
            PATH, shlex.quote("docker://%s/%s" % (redhat, image))), check=False)

    for _, _, image in ACCOUNTS:
        r = pull(image)
        assert r.returncode == 0, (image, r.stderr[-2000:])
        assert json.loads(r.stdout)["Digest"] == lab["registries"]["redhat"]["digests"][image]
    # outside both paths: the registry-wide account (entitled to nothing) answers, and is refused
    r = pull("rhscl/httpd-24-rhel7:latest")
    assert r.returncode != 0 and ("unauthorized" in r.stderr or "denied" in r.stderr), r.stderr[-2000:]


def restore(lab_exec, host, original, mode):
    lab_exec(host, "cat > %s && chmod %s %s" % (PATH, mode, PATH), input=original)
    assert lab_exec(host, "cat %s" % PATH).stdout == original


def test_two_path_scoped_entries_are_written_kept_and_used(lab, lab_exec, tmp_path):
    original = lab_exec(HOST, "cat %s" % PATH).stdout
    mode = lab_exec(HOST, "stat -c %%a %s" % PATH).stdout.strip()
    entries = scoped_entries(lab)
    vars_file = tmp_path / "vars.json"
    fd = os.open(str(vars_file), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"okd_registries": entries}, f)
    try:
        rc, out = run_playbook("playbooks/registry_credentials.yml", "-e", "@%s" % vars_file, "--limit", HOST)
        assert rc == 0, out[-5000:]
        assert recap(out).get("failed", 0) == 0
        for e in entries:
            assert e["password"] not in out
        check_host(lab, lab_exec, HOST, original)
    finally:
        restore(lab_exec, HOST, original, mode)


def test_pyinfra_writes_and_keeps_path_scoped_entries(lab, lab_exec, tmp_path):
    """The pyinfra deploy, same entries (read from the lab status by the inventory at run time, so no
    file written here holds a secret), on node2."""
    host = "node2"
    address = next(h["address"] for h in lab["hosts"] if h["name"] == host)
    original = lab_exec(host, "cat %s" % PATH).stdout
    mode = lab_exec(host, "stat -c %%a %s" % PATH).stdout.strip()
    inventory = tmp_path / "scoped_inventory.py"
    inventory.write_text(textwrap.dedent("""
        import json, runpy, sys
        sys.path.insert(0, %r)
        from test_path_scoped_keys import scoped_entries
        _lab = runpy.run_path(%r)
        _entries = scoped_entries(json.load(open(%r)))
        for _group, _hosts in list(_lab.items()):
            if not _group.startswith("_") and isinstance(_hosts, list):
                globals()[_group] = [(a, dict(d, okd_registries=_entries)) for a, d in _hosts]
    """ % (os.path.dirname(os.path.abspath(__file__)), lab["inventory"]["pyinfra"],
           os.path.join(lab["state_dir"], "status.json"))))
    try:
        r = subprocess.run([str(REPO / ".venv" / "bin" / "pyinfra"), str(inventory),
                            "pyinfra_deploys/registry_credentials.py", "-y", "--limit", address],
                           cwd=str(REPO), env=dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1"),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
        assert r.returncode == 0, r.stdout[-5000:]
        for e in scoped_entries(lab):
            assert e["password"] not in r.stdout
        check_host(lab, lab_exec, host, original)
    finally:
        restore(lab_exec, host, original, mode)
