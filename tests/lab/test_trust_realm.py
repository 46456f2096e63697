"""Credentials only go where the user chose (issue 8 §1): a hostile registry on the lab's gateway address,
with a lab-CA certificate, whose challenge names a plain-http token realm on a lab address. The realm
logs every request. registry_verify (ansible, on the controller) and the pyinfra controller verification
must both fail naming the registry and the realm, and the realm must see no Authorization header (in
fact no request at all).

Two hostile variants: the challenge comes from GET /v2/, or /v2/ answers 200 anonymously and the
challenge comes later, from the image's manifest (the realm of a later 401 is held to the same rule).
A third registry never asks for credentials (the lab's own registries always do): registry_verify
reports "credentials not tested: anonymous access" as a warning, never a successful login.
"""
import json
import ssl
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from labtools import REPO, run_playbook

GATEWAY = "10.231.0.1"
USER = "hostile-test|user"
PASSWORD = "never-leaves-the-controller-" + "x" * 24
IMAGE = "openshift3/ose-pod:v3.11"


class _Server(object):
    def __init__(self, handler, context=None):
        self.server = ThreadingHTTPServer((GATEWAY, 0), handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hostile(lab, tmp_path_factory):
    from lab import pki
    from lab.state import LabPaths
    real = LabPaths()
    tmp = tmp_path_factory.mktemp("hostile")
    # a lab-CA certificate for the gateway address, kept in the test's own directory
    paths = types.SimpleNamespace(pki=tmp, ca_cert=real.ca_cert, ca_key=real.ca_key)
    cert, key = pki.issue(paths, "hostile-registry", [GATEWAY])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))

    realm_log = []

    class Realm(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            realm_log.append({"path": self.path, "headers": dict(self.headers)})
            body = b'{"token": "t", "access_token": "t"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    realm = _Server(Realm)
    realm_url = "http://%s:%d/token" % (GATEWAY, realm.port)

    registry_log = []

    def registry_handler(anonymous_ping, anonymous_all=False):
        class Registry(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                registry_log.append({"path": self.path, "headers": dict(self.headers)})
                if anonymous_all:  # a registry that never asks for credentials
                    body = b'{"schemaVersion": 2}'
                    self.send_response(200)
                    self.send_header("Docker-Content-Digest", "sha256:" + "0" * 64)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.path == "/v2/" and anonymous_ping:
                    status, headers = 200, {}
                else:
                    headers = {"WWW-Authenticate": 'Bearer realm="%s",service="hostile",scope="repository:%s:pull"'
                               % (realm_url, IMAGE.split(":")[0])}
                    status = 401
                body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        return Registry

    at_ping = _Server(registry_handler(False), context)
    later = _Server(registry_handler(True), context)
    anonymous = _Server(registry_handler(True, anonymous_all=True), context)
    yield {"realm": realm_url, "realm_log": realm_log, "registry_log": registry_log, "ca": lab["ca_file"],
           "at_ping": "%s:%d" % (GATEWAY, at_ping.port), "later": "%s:%d" % (GATEWAY, later.port),
           "anonymous": "%s:%d" % (GATEWAY, anonymous.port)}
    for server in (at_ping, later, anonymous, realm):
        server.close()


def _check(hostile, registry, message):
    assert registry in message and hostile["realm"] in message, message
    assert "refusing the token realm" in message and "plain http" in message, message
    assert PASSWORD not in message


def test_registry_verify_refuses_a_plain_http_realm(hostile, tmp_path):
    tasks = [{"name": name, "okd.registry_toolkit.registry_verify": {
        "registry": hostile[name], "username": USER, "password": PASSWORD, "image": IMAGE,
        "ca_file": hostile["ca"], "retries": 0}, "ignore_errors": True, "register": "r_" + name}
        for name in ("at_ping", "later", "anonymous")]
    tasks.append({"name": "results", "copy": {"dest": str(tmp_path / "results.json"), "mode": "0600",
                                              "content": "{{ {'at_ping': r_at_ping, 'later': r_later, "
                                                         "'anonymous': r_anonymous} | to_json }}"}})
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "connection": "local",
                                 "tasks": tasks}]))
    rc, out = run_playbook(str(play), "-i", "localhost,", "-e",
                           "ansible_python_interpreter=%s" % (REPO / ".venv" / "bin" / "python"), "-v")
    assert rc == 0, out[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    for name in ("at_ping", "later"):
        assert results[name]["failed"], results[name]
        _check(hostile, hostile[name], results[name]["msg"])
    # a registry that never asks: a warning and credentials_tested false, never a successful login
    anonymous = results["anonymous"]
    assert not anonymous.get("failed") and anonymous["credentials_tested"] is False, anonymous
    assert anonymous["logged_in"] is False and "succeeded" not in anonymous["msg"]
    assert "credentials not tested: anonymous access" in anonymous["msg"]
    assert "[WARNING]: %s: credentials not tested: anonymous access" % hostile["anonymous"] in out
    assert PASSWORD not in out
    assert not any("authorization" in {k.lower() for k in r["headers"]}
                   for r in hostile["realm_log"] + hostile["registry_log"])
    assert hostile["realm_log"] == []  # not even an anonymous request reached the plain-http realm


def test_pyinfra_verification_refuses_a_plain_http_realm(hostile):
    from pyinfra_deploys.okd_registry import verify
    for name in ("at_ping", "later"):
        with pytest.raises(verify.RegistryVerificationError) as info:
            verify.verify_registries([{"host": hostile[name], "username": USER, "password": PASSWORD,
                                       "test_image": IMAGE}], ca_file=hostile["ca"], retries=0)
        _check(hostile, hostile[name], str(info.value))
        assert "nothing was changed on any host" in str(info.value)
    assert hostile["realm_log"] == []
