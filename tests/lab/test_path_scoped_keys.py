"""Path-scoped registry keys survive and are used (issue 8 §3), against the lab.

The credentials role writes, to node1, two entries scoped to two namespaces of the redhat lab registry
with two different accounts (openshift3 -> 11009103|lab-cluster, rhel7 -> labuser) and a registry-wide
entry holding an account entitled to nothing (11009103|no-entitlement). All three keys must be in the
file, beside what was there, and skopeo on node1, with node1's own file, must pull from both paths
(which only works when it picks the path-scoped entry: the registry-wide account may pull nothing),
while a repository outside both paths falls back to the registry-wide account and is refused. The
role's own verification (controller and host) passes on the way. node1's file is restored byte for
byte afterwards.
"""
import json
import os
import shlex

from labtools import recap, run_playbook

HOST = "node1"
PATH = "/var/lib/origin/.docker/config.json"


def _account(lab, username):
    return next(a for a in lab["registries"]["redhat"]["accounts"] if a["username"] == username)


def test_two_path_scoped_entries_are_written_kept_and_used(lab, lab_exec, tmp_path):
    redhat = lab["registries"]["redhat"]["host"]
    original = lab_exec(HOST, "cat %s" % PATH).stdout
    mode = lab_exec(HOST, "stat -c %%a %s" % PATH).stdout.strip()
    entries = [
        {"name": "redhat-openshift3", "host": "%s/openshift3" % redhat, "username": "11009103|lab-cluster",
         "password": _account(lab, "11009103|lab-cluster")["password"], "test_image": "openshift3/ose-pod:v3.11"},
        {"name": "redhat-rhel7", "host": "%s/rhel7" % redhat, "username": "labuser",
         "password": _account(lab, "labuser")["password"], "test_image": "rhel7/rhel:7.9"},
        {"name": "redhat-wide", "host": redhat, "username": "11009103|no-entitlement",
         "password": _account(lab, "11009103|no-entitlement")["password"]},
    ]
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

        config = json.loads(lab_exec(HOST, "cat %s" % PATH).stdout)
        auths = config["auths"]
        before = json.loads(original)["auths"]
        # every earlier key kept (the registry-wide one updated in place), both scoped keys added
        assert set(auths) == set(before) | {"%s/openshift3" % redhat, "%s/rhel7" % redhat}, sorted(auths)
        for key, user in (("%s/openshift3" % redhat, "11009103|lab-cluster"), ("%s/rhel7" % redhat, "labuser"),
                          (redhat, "11009103|no-entitlement")):
            assert auths[key]["auth"], key
            assert __import__("base64").b64decode(auths[key]["auth"]).decode().split(":", 1)[0] == user

        def pull(image):
            return lab_exec(HOST, "skopeo inspect --authfile %s %s" % (
                PATH, shlex.quote("docker://%s/%s" % (redhat, image))), check=False)

        for image in ("openshift3/ose-pod:v3.11", "rhel7/rhel:7.9"):
            r = pull(image)
            assert r.returncode == 0, (image, r.stderr[-2000:])
            digest = json.loads(r.stdout)["Digest"]
            assert digest == lab["registries"]["redhat"]["digests"][image]
        # outside both paths: the registry-wide account (entitled to nothing) answers, and is refused
        r = pull("rhscl/httpd-24-rhel7:latest")
        assert r.returncode != 0 and ("unauthorized" in r.stderr or "denied" in r.stderr), r.stderr[-2000:]
    finally:
        lab_exec(HOST, "cat > %s && chmod %s %s" % (PATH, mode, PATH), input=original)
    assert lab_exec(HOST, "cat %s" % PATH).stdout == original
