# -*- coding: utf-8 -*-
"""The controller-local okd_* modules run in a fork of Ansible's worker process (plugins/plugin_utils/in_worker.py,
issue 10): with a local connection (the roles' `delegate_to: localhost`, the implicit localhost) no module is
shipped, and a play sees the same results as from the shipped module: changes, check mode, diff, loops, the
task's environment, argument errors, connection errors, no_log masking. A task's timeout kills the child.

Real ansible-playbook runs, controller only, with ansible-core 2.19 and 2.16 (the module-path venv) when
present, against a small API on 127.0.0.1 (plain HTTP, allow_plain_http) that keeps objects in memory. Each
play runs twice, each time against a fresh API: as the roles run it, and with another Python named for
localhost (ansible_python_interpreter), which ships the module; the second run is the reference."""
import copy
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

try:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
except ImportError:  # pragma: no cover
    pytest.skip("Python 3.7+", allow_module_level=True)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"),
             os.path.join(ROOT, ".venv-216", "bin", "ansible-playbook")]
OTHER_PYTHON = "/usr/bin/python3"
TOKEN = "in-worker-api-T0ken-" + "z" * 24
SECRET = "In-Worker-S3cret-'q\"-$(id)-" + "s" * 16
MODULES = ("okd_resource", "okd_resource_info", "okd_registry_secret")


@pytest.fixture(params=PLAYBOOKS, ids=["2.19", "2.16"])
def ansible_playbook(request):
    if not os.path.exists(request.param):
        pytest.skip("no %s (make deps)" % request.param)
    controller = os.path.realpath(os.path.join(os.path.dirname(request.param), "python"))
    if not os.path.exists(OTHER_PYTHON) or os.path.realpath(OTHER_PYTHON) == controller:
        pytest.skip("needs a Python other than the controller's (%s) to ship the module for comparison" % OTHER_PYTHON)
    return request.param


class FakeAPI(object):
    """ConfigMaps and Secrets of any namespace, in memory: GET (object or list), POST, merge PATCH; every request
    recorded as (method, path); a wrong bearer token gets 401."""

    def __init__(self):
        self.objects, self.requests, self.rv = {"/api/v1/namespaces/lab": {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab", "resourceVersion": "0"}}}, [], 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code, reason, message):
                self._send(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                                  "reason": reason, "code": code})

            def _body(self):
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"{}")

            def _handle(self):
                path = self.path.split("?", 1)[0]
                api.requests.append((self.command, path))
                if self.headers.get("Authorization") != "Bearer " + TOKEN:
                    return self._status(401, "Unauthorized", "Unauthorized")
                if self.command == "GET":
                    if path in api.objects:
                        return self._send(200, api.objects[path])
                    items = [o for p, o in sorted(api.objects.items()) if p.rsplit("/", 1)[0] == path]
                    if path.endswith(("/configmaps", "/secrets")):
                        return self._send(200, {"kind": "List", "apiVersion": "v1", "items": items,
                                                "metadata": {"resourceVersion": str(api.rv)}})
                    return self._status(404, "NotFound", "%s not found" % path.rsplit("/", 1)[-1])
                if self.command == "POST":
                    obj = self._body()
                    name = obj["metadata"]["name"]
                    if path + "/" + name in api.objects:
                        return self._status(409, "AlreadyExists", "%s already exists" % name)
                    api.rv += 1
                    obj["metadata"].update(resourceVersion=str(api.rv), uid="uid-%d" % api.rv,
                                           namespace=path.split("/")[4])
                    if obj.get("kind") == "Secret" and "stringData" in obj:
                        import base64
                        obj.setdefault("data", {}).update(
                            (k, base64.b64encode(v.encode()).decode()) for k, v in obj.pop("stringData").items())
                    api.objects[path + "/" + name] = obj
                    return self._send(201, obj)
                if self.command == "PATCH":
                    if path not in api.objects:
                        return self._status(404, "NotFound", "not found")
                    obj = api.objects[path]
                    merge(obj, self._body())
                    api.rv += 1
                    obj["metadata"]["resourceVersion"] = str(api.rv)
                    return self._send(200, obj)
                return self._status(405, "MethodNotAllowed", "no")

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def merge(obj, patch):
    for key, value in patch.items():
        if value is None:
            obj.pop(key, None)
        elif isinstance(value, dict) and isinstance(obj.get(key), dict):
            merge(obj[key], value)
        else:
            obj[key] = copy.deepcopy(value)


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cm(name, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "lab"}, "data": data}


def tasks_for(api_url, silent_port):
    conn = dict(host=api_url, api_key=TOKEN, allow_plain_http=True)
    return [
        {"name": "create", "diff": True, "okd.registry_toolkit.okd_resource": dict(definition=cm("one", a="1"), **conn)},
        {"name": "again", "diff": True, "okd.registry_toolkit.okd_resource": dict(definition=cm("one", a="1"), **conn)},
        {"name": "update", "diff": True, "okd.registry_toolkit.okd_resource": dict(definition=cm("one", a="2"), **conn)},
        {"name": "check mode create", "check_mode": True, "diff": True,
         "okd.registry_toolkit.okd_resource": dict(definition=cm("never", a="1"), **conn)},
        {"name": "secret", "okd.registry_toolkit.okd_resource": dict(definition={
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "s", "namespace": "lab"},
            "stringData": {"password": SECRET}}, **conn)},
        {"name": "a list", "okd.registry_toolkit.okd_resource": dict(definitions=[cm("two"), cm("three", b="x")],
                                                                      **conn)},
        {"name": "read", "okd.registry_toolkit.okd_resource_info": dict(
            queries=[{"kind": "ConfigMap", "namespace": "lab"}, {"kind": "ConfigMap", "name": "never",
                                                                 "namespace": "lab"}], **conn)},
        # the connection from the task's environment (K8S_AUTH_*), as kubernetes.core reads it
        {"name": "task environment", "environment": {"K8S_AUTH_HOST": api_url, "K8S_AUTH_API_KEY": TOKEN},
         "okd.registry_toolkit.okd_resource_info": dict(queries=[{"kind": "ConfigMap", "name": "one",
                                                                  "namespace": "lab"}], allow_plain_http=True)},
        {"name": "wrong token", "okd.registry_toolkit.okd_resource": dict(
            definition=cm("one"), host=api_url, api_key="wrong", allow_plain_http=True)},
        {"name": "closed port", "okd.registry_toolkit.okd_resource": dict(
            definition=cm("one"), host="http://127.0.0.1:%d" % closed_port(), api_key=TOKEN, allow_plain_http=True,
            api_timeout=5)},
        {"name": "unknown option", "okd.registry_toolkit.okd_resource": dict(definition=cm("one"), color="red",
                                                                              **conn)},
        {"name": "both", "okd.registry_toolkit.okd_resource": dict(definition=cm("one"), definitions=[], **conn)},
        {"name": "loop", "loop": ["four", "five"],
         "okd.registry_toolkit.okd_resource": dict(definition=cm("{{ item }}", c="{{ item }}"), **conn)},
        # a module's warning (module.warn): in the result and shown once, as from the shipped module
        {"name": "a warning", "check_mode": True, "okd.registry_toolkit.okd_registry_secret": dict(
            name="pull", namespace="lab", realm_check=True, **dict(conn, registries=[
                {"registry": "127.0.0.1:%d" % closed_port(), "username": "robot", "password": SECRET}]))},
        # an API that accepts and never answers; the task's timeout ends the call (and its child)
        {"name": "timeout", "timeout": 3, "okd.registry_toolkit.okd_resource_info": dict(
            queries=[{"kind": "ConfigMap", "name": "one", "namespace": "lab"}],
            host="http://127.0.0.1:%d" % silent_port, api_key=TOKEN, allow_plain_http=True, api_timeout=300)},
    ]


def run(playbook_bin, tmp_path, label, interpreter=None):
    """The play against a fresh API and a fresh silent port: (process, {task name: result}, API, silent server)."""
    work = tmp_path / label
    work.mkdir()
    out = work / "results.json"
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    with FakeAPI() as api:
        tasks = tasks_for(api.url, silent.getsockname()[1])
        names = [t["name"] for t in tasks]
        tasks = [dict(t, delegate_to="localhost", run_once=True, ignore_errors=True, register="r%d" % i)
                 for i, t in enumerate(tasks)]
        results = "{{ {%s} | to_json }}" % ", ".join("%s: r%d" % (json.dumps(n), i) for i, n in enumerate(names))
        tasks.append({"name": "save", "delegate_to": "localhost", "run_once": True,
                      "ansible.builtin.copy": {"content": results, "dest": str(out), "mode": "0600"}})
        (work / "hosts.yml").write_text(json.dumps({"all": {"hosts": {"faraway": {
            "ansible_host": "192.0.2.10", "ansible_connection": "ssh"}}}}))
        (work / "play.yml").write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("K8S_")}
        env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_LOCAL_TEMP=str(work / "local-tmp"), ANSIBLE_REMOTE_TMP=str(work / "remote-tmp"),
                   ANSIBLE_KEEP_REMOTE_FILES="1")
        cmd = [playbook_bin, "-i", str(work / "hosts.yml"), str(work / "play.yml"), "-vvv"]
        if interpreter:
            cmd += ["-e", "ansible_python_interpreter=" + interpreter]
        proc = subprocess.run(cmd, cwd=str(work), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc, json.loads(out.read_text()), api, silent, work


def comparable(result):
    """A result without what differs between two runs by nature: 2.19's captured-error summary (`exception`)
    the redacted Secret values' fingerprints (keyed with a per-process random key, k8s.redact), and the
    ports of each run's own API."""
    out = {k: v for k, v in result.items() if k not in ("exception", "_ansible_no_log")}
    if "results" in out and isinstance(out["results"], list):
        out["results"] = [comparable(r) for r in out["results"]]
    text = re.sub(r"sha256:[0-9a-f]+", "sha256:*", json.dumps(out))
    return json.loads(re.sub(r"127\.0\.0\.1:[0-9]+", "127.0.0.1:PORT", text))  # each run its own API


def connection_closed(silent):
    """The first connection the silent server accepted is closed by the client (EOF) within 20 s."""
    silent.settimeout(20)
    conn, _addr = silent.accept()
    conn.settimeout(20)
    try:
        return conn.recv(65536) is not None and conn.recv(1) == b""
    except socket.timeout:
        return False
    finally:
        conn.close()
        silent.close()


def test_in_a_fork_of_the_worker_same_results_as_the_shipped_module(ansible_playbook, tmp_path):
    here, got, api_here, silent_here, here_dir = run(ansible_playbook, tmp_path, "here")
    shipped, want, api_shipped, silent_shipped, shipped_dir = run(ansible_playbook, tmp_path, "shipped",
                                                                   interpreter=OTHER_PYTHON)

    # not shipped on the controller; shipped with another Python (the control, so the observable can fail)
    for module in MODULES:
        assert "AnsiballZ_%s" % module not in here.stdout
        assert not list((here_dir / "remote-tmp").rglob("AnsiballZ_%s.py" % module))
        assert "AnsiballZ_%s" % module in shipped.stdout
    assert here.stdout.count("runs in a fork of this worker process") == len(want) + 1  # the loop: 2 calls
    assert "runs in a fork of this worker process" not in shipped.stdout

    # the same results, key for key, and the same requests to the API
    assert sorted(got) == sorted(want)
    for name in want:
        if name == "timeout":
            continue
        assert comparable(got[name]) == comparable(want[name]), name
    assert api_here.requests == api_shipped.requests
    assert api_here.objects == api_shipped.objects

    r = got
    assert r["create"]["changed"] and r["create"]["method"] == "create" and "diff" in r["create"]
    assert r["again"]["changed"] is False
    assert r["update"]["changed"] and r["update"]["result"]["data"] == {"a": "2"}
    assert r["check mode create"]["changed"] and "/api/v1/namespaces/lab/configmaps/never" not in api_here.objects
    assert r["secret"]["changed"] and SECRET not in json.dumps(r["secret"])
    assert [o["method"] for o in r["a list"]["objects"]] == ["create", "create"]
    assert [len(x) for x in r["read"]["resources"]] == [3, 0]
    assert r["task environment"]["resources"][0][0]["data"] == {"a": "2"}
    assert r["wrong token"]["failed"] and "401" in r["wrong token"]["msg"]
    assert r["closed port"]["failed"] and "Connection refused" in r["closed port"]["msg"]
    assert r["unknown option"]["msg"].startswith("Unsupported parameters for (okd.registry_toolkit.okd_resource) "
                                                 "module: color.")
    assert r["both"]["msg"] == "parameters are mutually exclusive: definition|definitions"
    assert [x["changed"] for x in r["loop"]["results"]] == [True, True]
    assert api_here.objects["/api/v1/namespaces/lab/configmaps/five"]["data"] == {"c": "five"}
    warnings = [str(w) for w in r["a warning"].get("warnings") or []]
    assert len(warnings) == 1 and "could not ask for its token realm" in warnings[0], r["a warning"]
    for proc in (here, shipped):
        assert proc.stdout.count("could not ask for its token realm") == 1

    # the task's timeout: a failed task, and the call's child killed with it (its connection closed long
    # before the call's own 300 s API timeout)
    assert r["timeout"]["failed"] and ("timed out" in r["timeout"]["msg"].lower()
                                      or "expected time frame (3)" in r["timeout"]["msg"]), r["timeout"]
    assert connection_closed(silent_here)
    silent_shipped.close()

    # no secret in the output, even at -vvv, either way. One exception, Ansible's own: a shipped module's task
    # `environment` is put on its command line, which -vvv shows (the K8S_AUTH_API_KEY of "task environment");
    # in the worker's fork the environment is set in the child, on no command line
    for proc in (here, shipped):
        assert "api_key: VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in proc.stdout or \
            "'api_key': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'" in proc.stdout
        assert SECRET not in proc.stdout
    assert TOKEN not in here.stdout
    assert "K8S_AUTH_API_KEY=" + TOKEN in shipped.stdout  # the control: the observable can fail


def test_other_hosts_get_the_module(ansible_playbook, tmp_path):
    """Not on the controller (here: a connection that is not local), the module is shipped as before."""
    work = tmp_path / "ssh"
    work.mkdir()
    (work / "hosts.yml").write_text(json.dumps({"all": {"hosts": {"faraway": {
        "ansible_host": "127.0.0.1", "ansible_port": closed_port(), "ansible_connection": "ssh",
        "ansible_ssh_common_args": "-o ConnectTimeout=5 -o StrictHostKeyChecking=no"}}}}))
    (work / "play.yml").write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "on the host", "okd.registry_toolkit.okd_resource": {"definition": cm("x")}}]}]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_LOCAL_TEMP=str(work / "local-tmp"))
    started = time.time()
    proc = subprocess.run([ansible_playbook, "-i", str(work / "hosts.yml"), str(work / "play.yml"), "-vvv"],
                          cwd=str(work), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    del started
    assert proc.returncode != 0
    assert "the module is shipped (connection ssh)" in proc.stdout
    assert "UNREACHABLE" in proc.stdout and "runs in a fork" not in proc.stdout
