# -*- coding: utf-8 -*-
# registry_credentials as the role calls it since issue 10: ONE module call per host that writes every file
# (paths), removes listed entries in the same call (remove), reports, and verifies the host's own file
# (verify: never | changed | always) with the core's v2 flow against a real local HTTPS registry + token
# service (local_registry.py). Run for real through ansible-playbook -c local, the action plugin included.
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local_registry import LocalRegistry  # noqa: E402
from test_modules_local import (  # noqa: E402
    OTHER_AUTH, PASSWORD, PLAYBOOK, USER, auth_of, mode_of, run_play, sha1,
)

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK), reason="run `make deps` first")

IMAGE = "openshift3/ose-pod:v3.11"


def task(name, check=False, **params):
    t = {"name": name, "okd.registry_toolkit.registry_credentials": params, "ignore_errors": True}
    if check:
        t["check_mode"] = True
    return t


def seeded(path, extra_key):
    """An existing file with an entry of another registry (kept) and one to remove."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": {"quay.lab.test:8443": {"auth": OTHER_AUTH},
                                          extra_key: {"auth": auth_of("old", "gone")}}}))
    os.chmod(str(path), 0o600)


def test_one_call_writes_every_file_removes_and_verifies_only_when_changed(tmp_path):
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}) as reg:
        node = tmp_path / "origin" / ".docker" / "config.json"
        root = tmp_path / "root" / ".docker" / "config.json"
        seeded(root, "old-mirror.test:5000")
        entry = {"registry": reg.host, "username": USER, "password": PASSWORD}
        common = dict(paths=[str(node), str(root)], registries=[entry], remove=["old-mirror.test:5000"],
                      verify="changed", verify_images={reg.host: IMAGE}, ca_file=reg.paths["ca"], retries=0)
        tasks = [
            task("check", check=True, **common),
            {"name": "stat after check", "ansible.builtin.stat": {"path": str(node)}},
            task("apply", **common),
            task("again", **common),
            task("always", **dict(common, verify="always")),
            task("never", **dict(common, verify="never", registries=[dict(entry, username="other")])),
        ]
        before_requests = len(reg.requests)
        proc, r = run_play(tmp_path, tasks, args=["--diff"])
        for name in ("check", "apply", "again", "always", "never"):
            assert not r[name].get("failed"), (name, r[name])

        # check mode: both files would change, nothing written, nothing verified
        assert r["check"]["changed"] and r["check"]["changed_paths"] == [str(node), str(root)]
        assert r["check"]["verified"] == [] and r["stat after check"]["stat"]["exists"] is False
        assert "<redacted:sha256:" in json.dumps(r["check"]["diff"])

        # apply: both files written 0600, the removed entry gone, the other registry kept, the node file
        # (the first) verified from the host against the registry
        assert r["apply"]["changed"] and r["apply"]["changed_paths"] == [str(node), str(root)]
        assert [f["path"] for f in r["apply"]["files"]] == [str(node), str(root)]
        assert r["apply"]["files"][1]["registries_removed"] == ["old-mirror.test:5000"]
        assert len(r["apply"]["verified"]) == 1 and "pull access to %s" % IMAGE in r["apply"]["verified"][0]
        assert "verified from localhost: " in r["apply"]["report"] and r["apply"]["report"].endswith("\n")
        assert "updated %s" % reg.host in r["apply"]["report"]
        for p in (node, root):
            assert mode_of(p) == 0o600
        root_auths = json.loads(root.read_text())["auths"]
        assert sorted(root_auths) == sorted(["quay.lab.test:8443", reg.host])
        # (the last task, "never", wrote user "other": changed, and never verified)
        assert json.loads(node.read_text())["auths"][reg.host]["auth"] == auth_of("other", PASSWORD)
        # unchanged: no verification; always: verified again
        assert r["again"]["changed"] is False and r["again"]["verified"] == []
        assert r["always"]["changed"] is False and len(r["always"]["verified"]) == 1
        # the registry itself saw exactly two verifications (apply and always: each starts with one
        # anonymous GET /v2/, the challenge)
        api_checks = [p for m, p, h in reg.requests[before_requests:]
                      if m == "GET" and p == "/v2/" and "Authorization" not in h]
        assert len(api_checks) == 2, reg.requests[before_requests:]
        # never: a changed file, still no verification
        assert r["never"]["changed"] and r["never"]["verified"] == []
        assert PASSWORD not in proc.stdout + proc.stderr
        assert auth_of(USER, PASSWORD) not in proc.stdout + proc.stderr


def test_verification_failure_fails_naming_the_host_file_and_registry_and_keeps_the_write(tmp_path):
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}) as reg:
        node = tmp_path / "n" / ".docker" / "config.json"
        entry = {"registry": reg.host, "username": USER, "password": "wrong-" + PASSWORD}
        proc, r = run_play(tmp_path, [
            task("bad password", paths=[str(node)], registries=[entry], verify="changed",
                 verify_images={reg.host: IMAGE}, ca_file=reg.paths["ca"], retries=0),
            task("no trust", paths=[str(node)], registries=[dict(entry, password=PASSWORD)], verify="changed",
                 retries=0),
        ])
        bad = r["bad password"]
        assert bad["failed"] and bad["changed"] and bad["changed_paths"] == [str(node)]
        assert bad["msg"] == ("registry_credentials: localhost: %s: the host's own verification failed: "
                              "%s: login failed: 401 UNAUTHORIZED: Invalid username or password" % (node, reg.host))
        assert bad["report"] == bad["msg"] + "\n"
        no_trust = r["no trust"]
        assert no_trust["failed"] and "TLS certificate verification failed" in no_trust["msg"]
        assert mode_of(node) == 0o600  # written, then refused: the write stays (the rotation rolls back)
        assert PASSWORD not in proc.stdout + proc.stderr


def test_one_bad_file_fails_the_call_naming_it_and_the_others_are_still_written(tmp_path):
    good = tmp_path / "good" / ".docker" / "config.json"
    bad = tmp_path / "bad" / ".docker" / "config.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("not json")
    entry = {"registry": "registry.lab.test:5443", "username": USER, "password": PASSWORD}
    proc, r = run_play(tmp_path, [
        task("mixed", paths=[str(bad), str(good)], registries=[entry], verify="always"),
        task("clash", paths=[str(good)], registries=[entry], remove=["registry.lab.test:5443"]),
        task("remove with absent", paths=[str(good)], registries=[entry], remove=["x.test"], state="absent"),
    ])
    mixed = r["mixed"]
    assert mixed["failed"] and "%s: invalid JSON at line 1 column 1" % bad in mixed["msg"]
    assert mixed["msg"].startswith("registry_credentials: localhost: ")
    assert mixed["changed_paths"] == [str(good)] and mixed["verified"] == []  # no verification of a failed host
    assert bad.read_text() == "not json"  # untouched
    assert json.loads(good.read_text())["auths"]["registry.lab.test:5443"]["auth"] == auth_of(USER, PASSWORD)
    assert r["clash"]["failed"] and "registry.lab.test:5443 both written and removed" in r["clash"]["msg"]
    assert r["remove with absent"]["failed"] and "remove is for state present" in r["remove with absent"]["msg"]
    assert sha1(good)  # still there
    assert PASSWORD not in proc.stdout + proc.stderr


def test_controller_verification_checks_every_registry_in_one_call(tmp_path):
    """registry_verify `registries` (the role's controller check, one call for all registries): each
    registry is checked, a refused one fails the call naming it with the registry's own message."""
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}) as reg:
        good = {"host": reg.host, "username": USER, "password": PASSWORD, "name": "lab", "test_image": "x:y"}
        common = dict(images={reg.host: IMAGE}, ca_file=reg.paths["ca"], retries=0)
        proc, r = run_play(tmp_path, [
            {"name": "all good", "okd.registry_toolkit.registry_verify": dict(registries=[good], **common),
             "ignore_errors": True},
            {"name": "one refused", "ignore_errors": True, "okd.registry_toolkit.registry_verify": dict(
                registries=[good, dict(good, password="wrong-" + PASSWORD)], **common)},
        ])
        ok, bad = r["all good"], r["one refused"]
        assert not ok.get("failed") and ok["changed"] is False, ok
        assert len(ok["results"]) == 1 and ok["results"][0]["digest"] and ok["results"][0]["logged_in"]
        assert bad["failed"] and [x.get("failed", False) for x in bad["results"]] == [False, True]
        assert bad["msg"] == "%s: login failed: 401 UNAUTHORIZED: Invalid username or password" % reg.host
        assert PASSWORD not in proc.stdout + proc.stderr
