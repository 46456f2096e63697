"""OKD 3.11 imports asynchronously, and the toolkit meets the resulting race (issue 13, item 2).

On 3.11 the image stream controller posts its own ImageStreamImport after a stream is created; the
ImageStreamImport REST handler writes the stream guarded by the resourceVersion it read before importing
and does not retry, so whichever import writes second gets 409. Here the order is forced, not hoped for:
a private API stand-in (127.0.0.1, its own CA and state) imports from a registry run by this test, which
holds the controller's manifest request until okd_image_import's own request has arrived, lets the
controller's import finish first, and only then answers the module's request. The module must take the
409, read the stream again, see the controller's import and finish without another import.
"""
import hashlib
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import lab.api as lab_api
from lab import pki
from lab.state import Lab

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
CONTROLLER = "image-import-controller"
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                                  "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest()},
                       "layers": []}).encode()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class GatedRegistry(object):
    """An anonymous HTTPS v2 registry on 127.0.0.1 whose manifest answers wait for the test: requests
    from the stand-in's image stream controller (User-Agent) wait on `controller_go`, others on
    `client_go`; `arrived` records who asked."""

    def __init__(self, cert, key):
        self.controller_go = threading.Event()
        self.client_go = threading.Event()
        self.arrived = []
        self.cond = threading.Condition()
        reg = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if "/manifests/" in self.path:
                    who = "controller" if CONTROLLER in (self.headers.get("User-Agent") or "") else "client"
                    with reg.cond:
                        reg.arrived.append(who)
                        reg.cond.notify_all()
                    (reg.controller_go if who == "controller" else reg.client_go).wait(120)
                    body, ctype = MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"
                    self.send_response(200)
                    self.send_header("Docker-Content-Digest", DIGEST)
                else:
                    body, ctype = b"{}", "application/json"
                    self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.host = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_arrived(self, who, timeout=60):
        with self.cond:
            return self.cond.wait_for(lambda: who in self.arrived, timeout)

    def close(self):
        self.controller_go.set()
        self.client_go.set()
        self.server.shutdown()


@pytest.fixture
def private_api(tmp_path):
    lab = Lab(root=str(tmp_path / "lab"))
    lab.gateway = "127.0.0.1"
    lab.names["api"] = "127.0.0.1"
    lab.ports["api"] = _free_port()
    frag = lab_api.up(lab, import_interval=0)
    yield lab, frag
    lab_api.down(lab)


def _get_stream(lab, frag, ns, name):
    import urllib.request
    ctx = ssl.create_default_context(cafile=str(pki.ensure_ca(lab.paths)))
    req = urllib.request.Request("%s/apis/image.openshift.io/v1/namespaces/%s/imagestreams/%s"
                                 % (frag["url"], ns, name),
                                 headers={"Authorization": "Bearer " + frag["tokens"]["admin"]})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return json.loads(r.read().decode())
    except Exception:
        return None


def test_module_takes_the_409_from_the_controllers_import_and_decides_again(private_api, tmp_path):
    lab, frag = private_api
    cert, key = pki.issue(lab.paths, "gated-registry", ["127.0.0.1"])
    reg = GatedRegistry(cert, key)
    name = "race-" + uuid.uuid4().hex[:6]
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "import", "register": "out", "ignore_errors": True,
        "okd.registry_toolkit.okd_image_import": {
            "kubeconfig": frag["kubeconfig"], "namespace": "default", "name": name,
            "source": "%s/lab/race" % reg.host, "tags": ["1.0"], "wait_timeout": 60}}]}]
    path = tmp_path / "race.yml"
    path.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), no_proxy="127.0.0.1", NO_PROXY="127.0.0.1")
    proc = subprocess.Popen([str(PLAYBOOK), str(path), "-i", "localhost,", "-c", "local",
                             "-e", "ansible_python_interpreter=%s" % (REPO / ".venv" / "bin" / "python")],
                            cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # both imports are under way: the controller's (after the module's create) and the module's own
        assert reg.wait_arrived("controller"), "the stand-in's controller never imported"
        assert reg.wait_arrived("client"), "okd_image_import never posted its own ImageStreamImport"
        reg.controller_go.set()
        # the controller's import writes the stream first...
        deadline = time.time() + 60
        while True:
            s = _get_stream(lab, frag, "default", name) or {}
            if any(t.get("items") for t in (s.get("status") or {}).get("tags") or []):
                break
            assert time.time() < deadline, "the controller's import never reached the stream"
            time.sleep(0.1)
        # ...then the module's request finishes: its write is based on the stream it read before -> 409
        reg.client_go.set()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        reg.close()
    res = json.loads(out[out.index("{"):])["plays"][0]["tasks"][0]["hosts"]["localhost"]
    recs, _ = lab_api.read_requests(frag["request_log"])
    isi = [(r["method"], r["status"]) for r in recs if r["path"].endswith("/imagestreamimports")]
    assert ("POST", 409) in isi, isi                 # the race really happened
    assert not res.get("failed"), res.get("msg")
    tag = res["tags"][0]
    assert (tag["tag"], tag["digest"], tag["imported"]) == ("1.0", DIGEST, True)
    stream = _get_stream(lab, frag, "default", name)
    assert stream["status"]["tags"][0]["items"][0]["image"] == DIGEST


def _run_import(frag, tmp_path, name, source, **extra):
    args = dict({"kubeconfig": frag["kubeconfig"], "namespace": "default", "name": name, "source": source,
                 "tags": ["1.0"], "wait_timeout": 30}, **extra)
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "import", "ignore_errors": True, "okd.registry_toolkit.okd_image_import": args}]}]
    path = tmp_path / ("%s.yml" % name)
    path.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), no_proxy="127.0.0.1", NO_PROXY="127.0.0.1")
    p = subprocess.run([str(PLAYBOOK), str(path), "-i", "localhost,", "-c", "local",
                        "-e", "ansible_python_interpreter=%s" % (REPO / ".venv" / "bin" / "python")],
                       cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    return json.loads(p.stdout[p.stdout.index("{"):])["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_registry_with_a_private_ca_needs_the_masters_trust(private_api, tmp_path):
    """3.11's imports trust the system pool plus imagePolicyConfig.additionalTrustedCA only; the stand-in
    trusts the lab CA (standing for the system pool) plus `--additional-trusted-ca`, and honours
    importPolicy.insecure. A registry whose CA is private (like a stand-alone registry's) fails with 3.11's
    x509 text and the toolkit says how to fix it; insecure: true, or the CA added to the masters, imports."""
    lab, frag = private_api
    other = Lab(root=str(tmp_path / "private-ca"))
    cert, key = pki.issue(other.paths, "private-registry", ["127.0.0.1"])
    private_ca = pki.ensure_ca(other.paths)
    reg = GatedRegistry(cert, key)
    reg.controller_go.set()
    reg.client_go.set()
    source = "%s/lab/private" % reg.host
    try:
        res = _run_import(frag, tmp_path, "untrusted", source)
        assert res.get("failed")
        assert "x509: certificate signed by unknown authority" in res["msg"], res["msg"]
        assert "imagePolicyConfig.additionalTrustedCA" in res["msg"] and reg.host in res["msg"], res["msg"]
        res = _run_import(frag, tmp_path, "insecure", source, insecure=True)
        assert not res.get("failed"), res.get("msg")
        assert res["tags"][0]["digest"] == DIGEST
        # the masters trust the private CA (imagePolicyConfig.additionalTrustedCA): a normal import works
        lab_api.up(lab, import_interval=0, additional_trusted_ca=str(private_ca))
        res = _run_import(frag, tmp_path, "trusted", source)
        assert not res.get("failed"), res.get("msg")
        assert res["tags"][0]["digest"] == DIGEST
    finally:
        reg.close()
