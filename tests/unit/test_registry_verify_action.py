# -*- coding: utf-8 -*-
"""okd.registry_toolkit.registry_verify on the controller (issue 10): with a local connection (the role's
`delegate_to: localhost` with the implicit localhost) the action runs the module's own code in Ansible's
worker process, no module shipped, and a play sees the same results as from the module, secrets masked
the same way. Real ansible-playbook runs, controller only (a local HTTPS registry and a closed port on
127.0.0.1, nothing else), with ansible-core 2.19 and 2.16 (the module-path venv) when present.

Each play runs twice: as the role does it (the implicit localhost, whose Python is the controller's), and
with another Python named for localhost (ansible_python_interpreter), which ships the module as before;
the second run is the reference for the results and the control for the "not shipped" observable."""
import base64
import json
import os
import socket
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local_registry import DIGEST, LocalRegistry  # noqa: E402
from test_verify_trust import AnonymousRegistry  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"),
             os.path.join(ROOT, ".venv-216", "bin", "ansible-playbook")]
OTHER_PYTHON = "/usr/bin/python3"
USER = "12345678|okd-puller"
PASSWORD = "Verify-Action-S3cret-'q\"-$(id)-" + "x" * 24
# a config file's password equal to its user name: every place the name would show is masked, as the
# module masks a password it reads from a file (module.no_log_values)
FILE_USER = "rotated-robot-7f3a"
IMAGE = "openshift3/ose-pod:v3.11"


@pytest.fixture(params=PLAYBOOKS, ids=["2.19", "2.16"])
def ansible_playbook(request):
    if not os.path.exists(request.param):
        pytest.skip("no %s (make deps)" % request.param)
    controller = os.path.realpath(os.path.join(os.path.dirname(request.param), "python"))
    if not os.path.exists(OTHER_PYTHON) or os.path.realpath(OTHER_PYTHON) == controller:
        pytest.skip("needs a Python other than the controller's (%s) to ship the module for comparison" % OTHER_PYTHON)
    return request.param


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    return port


def auth_of(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode("utf-8")).decode("ascii")


def run(playbook_bin, tmp_path, tasks, label, interpreter=None):
    """One play on an inventory whose only host is never contacted: every task is delegated to the implicit
    localhost and run once, as the role's controller verification. Returns (process, {task name: result})."""
    work = tmp_path / label
    work.mkdir()
    out = work / "results.json"
    names = [t["name"] for t in tasks]
    tasks = [dict(t, delegate_to="localhost", run_once=True, ignore_errors=True, register="r%d" % i)
             for i, t in enumerate(tasks)]
    results = "{{ {%s} | to_json }}" % ", ".join("%s: r%d" % (json.dumps(n), i) for i, n in enumerate(names))
    tasks.append({"name": "save", "delegate_to": "localhost", "run_once": True,
                  "ansible.builtin.copy": {"content": results, "dest": str(out), "mode": "0600"}})
    (work / "hosts.yml").write_text(json.dumps({"all": {"hosts": {"faraway": {
        "ansible_host": "192.0.2.10", "ansible_connection": "ssh"}}}}))
    (work / "play.yml").write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCAL_TEMP=str(work / "local-tmp"), ANSIBLE_REMOTE_TMP=str(work / "remote-tmp"),
               ANSIBLE_KEEP_REMOTE_FILES="1", no_proxy="localhost,127.0.0.1")
    cmd = [playbook_bin, "-i", str(work / "hosts.yml"), str(work / "play.yml"), "-vvv"]
    if interpreter:
        cmd += ["-e", "ansible_python_interpreter=" + interpreter]
    proc = subprocess.run(cmd, cwd=str(work), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc, json.loads(out.read_text()), work


def comparable(result):
    # 2.19 attaches its own captured-error summary to a module's failed result (`exception`); the
    # result's own keys are what a play registers and the role reads
    return {k: v for k, v in result.items() if k != "exception"}


def test_in_process_on_the_controller_same_results_as_the_module(ansible_playbook, tmp_path):
    port = closed_port()
    closed = "127.0.0.1:%d" % port
    (tmp_path / "anonymous").mkdir()
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD, FILE_USER: FILE_USER}) as reg, \
            AnonymousRegistry(str(tmp_path / "anonymous"), users={}) as anonymous:
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"auths": {reg.host: {"auth": auth_of(FILE_USER, FILE_USER)}}}))
        common = dict(ca_file=reg.paths["ca"], retries=0)
        tasks = [
            {"name": "closed port", "okd.registry_toolkit.registry_verify": {
                "registries": [{"registry": closed, "username": USER, "password": PASSWORD}], "retries": 0}},
            {"name": "username without password", "okd.registry_toolkit.registry_verify": {
                "registry": closed, "username": USER}},
            {"name": "unknown option", "okd.registry_toolkit.registry_verify": {
                "registry": closed, "color": "blue"}},
            {"name": "registry and registries", "okd.registry_toolkit.registry_verify": {
                "registry": closed, "registries": [{"host": closed}]}},
            {"name": "check mode still checks", "check_mode": True, "okd.registry_toolkit.registry_verify": {
                "registry": closed, "username": USER, "password": PASSWORD, "retries": 0}},
            {"name": "login and pull", "okd.registry_toolkit.registry_verify": dict(
                registries=[{"host": reg.host, "username": USER, "password": PASSWORD, "name": "local"}],
                images={reg.host: IMAGE}, **common)},
            {"name": "refused login", "okd.registry_toolkit.registry_verify": dict(
                registry=reg.host, username=USER, password="wrong-" + PASSWORD, **common)},
            {"name": "from a config file", "okd.registry_toolkit.registry_verify": dict(
                registry=reg.host, config_path=str(config), image=IMAGE, **common)},
            # a registry that never asks for the credentials: a warning (one call for all, and one registry)
            {"name": "anonymous, all", "okd.registry_toolkit.registry_verify": dict(
                registries=[{"registry": anonymous.host, "username": USER, "password": PASSWORD}],
                ca_file=anonymous.paths["ca"], retries=0)},
            {"name": "anonymous, one", "okd.registry_toolkit.registry_verify": dict(
                registry=anonymous.host, username=USER, password=PASSWORD, ca_file=anonymous.paths["ca"],
                retries=0)},
            # the task's environment reaches the check: a proxy that refuses (no_proxy emptied)
            {"name": "task environment", "environment": {"https_proxy": "http://127.0.0.1:%d" % port,
                                                         "no_proxy": "", "NO_PROXY": ""},
             "okd.registry_toolkit.registry_verify": dict(registry=reg.host, username=USER, password=PASSWORD,
                                                          **common)},
        ]
        here, got, here_dir = run(ansible_playbook, tmp_path, tasks, "here")
        shipped, want, shipped_dir = run(ansible_playbook, tmp_path, tasks, "shipped", interpreter=OTHER_PYTHON)

    # on the controller the module is not shipped: no AnsiballZ file, no module file used; the control run
    # (another Python named for localhost) shows both, so the observable can fail
    assert "AnsiballZ_registry_verify" not in here.stdout and "registry_verify.py" not in here.stdout
    assert here.stdout.count("registry_verify: runs in this worker process") == len(tasks)
    assert not list((here_dir / "remote-tmp").rglob("AnsiballZ_registry_verify.py"))
    assert shipped.stdout.count("AnsiballZ_registry_verify") >= len(tasks)
    assert [p for p in (shipped_dir / "remote-tmp").rglob("AnsiballZ_registry_verify.py")]
    assert "runs in this worker process" not in shipped.stdout

    # the same results, key for key, as the module's
    assert sorted(got) == sorted(want)
    for name in want:
        assert comparable(got[name]) == comparable(want[name]), name

    r = got
    assert r["closed port"]["failed"] and r["closed port"]["changed"] is False
    assert r["closed port"]["msg"].startswith("cannot connect to https://%s/v2/" % closed), r["closed port"]
    assert r["closed port"]["results"] == [{"registry": closed, "failed": True, "msg": r["closed port"]["msg"]}]
    assert r["username without password"]["msg"] == "parameters are required together: username, password"
    assert r["unknown option"]["msg"].startswith(
        "Unsupported parameters for (okd.registry_toolkit.registry_verify) module: color. Supported parameters "
        "include: ca_file, certs_dir, config_path, image, images, password, proxy, registries, registry")
    assert r["registry and registries"]["msg"] == "parameters are mutually exclusive: registries|registry"
    check = r["check mode still checks"]
    assert check["failed"] and check["attempts"] == 1 and check["credentials_source"] == "parameters"
    assert "Connection refused" in check["msg"]
    ok = r["login and pull"]
    assert not ok.get("failed") and ok["changed"] is False
    assert [(x["registry"], x["logged_in"], x["digest"]) for x in ok["results"]] == [(reg.host, True, DIGEST)]
    assert r["refused login"]["msg"] == "%s: login failed: 401 UNAUTHORIZED: Invalid username or password" % reg.host
    from_file = r["from a config file"]
    assert from_file["digest"] == DIGEST and from_file["credentials_source"] == str(config)
    assert "login as ******** succeeded" in from_file["msg"] and FILE_USER not in json.dumps(from_file)
    # through the refusing proxy of the task's environment (without it, the same check passes: "login and pull")
    assert r["task environment"]["failed"] and "Connection refused" in r["task environment"]["msg"], \
        r["task environment"]

    for name in ("anonymous, all", "anonymous, one"):
        assert not r[name].get("failed"), r[name]
        warnings = [str(w) for w in r[name].get("warnings") or []]
        assert len(warnings) == 1 and "credentials not tested: anonymous access" in warnings[0], r[name]
    assert here.stdout.count("credentials not tested: anonymous access") >= 2

    # no secret in the output, even at -vvv, either way (the arguments shown are masked)
    for proc in (here, shipped):
        assert "password: VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in proc.stdout
        for secret in (PASSWORD, auth_of(USER, PASSWORD), FILE_USER, auth_of(FILE_USER, FILE_USER)):
            assert secret not in proc.stdout


def test_other_hosts_get_the_module(ansible_playbook, tmp_path):
    """Not on the controller (here: a connection that is not local), the module is shipped as before."""
    work = tmp_path / "ssh"
    work.mkdir()
    (work / "hosts.yml").write_text(json.dumps({"all": {"hosts": {"faraway": {
        "ansible_host": "127.0.0.1", "ansible_port": closed_port(), "ansible_connection": "ssh",
        "ansible_ssh_common_args": "-o ConnectTimeout=5 -o StrictHostKeyChecking=no"}}}}))
    (work / "play.yml").write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "on the host", "okd.registry_toolkit.registry_verify": {"registry": "127.0.0.1:1"}}]}]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_LOCAL_TEMP=str(work / "local-tmp"))
    proc = subprocess.run([ansible_playbook, "-i", str(work / "hosts.yml"), str(work / "play.yml"), "-vvv"],
                          cwd=str(work), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    # the module was on its way to the host: the host is unreachable, nothing ran in the worker
    assert proc.returncode != 0
    assert "UNREACHABLE" in proc.stdout, proc.stdout[-3000:]
    assert "registry_verify: the module is shipped (connection ssh)" in proc.stdout, proc.stdout[-3000:]
    assert "runs in this worker process" not in proc.stdout
