"""issue 8 section 1: an http:// API server is refused before any request (the bearer token would travel in
clear text) unless allow_plain_http is set. Judged by a real HTTP listener on loopback: it must receive
nothing when refused, and the request (with its Authorization header) only when explicitly allowed."""
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from plugins.module_utils import k8s_client
from plugins.module_utils.errors import ToolkitError

TOKEN = "sha256~plain-http-token-must-not-leak"


@pytest.fixture
def listener():
    seen = []

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            body = json.dumps({"kind": "Namespace", "metadata": {"name": "x"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1], seen
    srv.shutdown()


def params(url, **over):
    p = dict(kubeconfig=None, context=None, host=url, api_key=TOKEN, validate_certs=None, ca_file=None,
             api_timeout=5, allow_plain_http=False)
    p.update(over)
    return p


def test_plain_http_api_is_refused_before_any_request(listener):
    url, seen = listener
    with pytest.raises(ToolkitError) as e:
        k8s_client.Client.from_params(params(url), environ={})
    assert "is plain http" in e.value.msg and url in e.value.msg and "allow_plain_http=true" in e.value.msg
    assert TOKEN not in e.value.msg
    assert seen == []


def test_plain_http_from_a_kubeconfig_is_refused_too(listener, tmp_path):
    url, seen = listener
    kc = tmp_path / "kc"
    kc.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "c",
                              "clusters": [{"name": "k", "cluster": {"server": url}}],
                              "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                              "users": [{"name": "u", "user": {"token": TOKEN}}]}))
    with pytest.raises(ToolkitError):
        k8s_client.Client.from_params(params(None, kubeconfig=str(kc), api_key=None), environ={})
    assert seen == []


def test_plain_http_only_when_asked(listener):
    url, seen = listener
    with k8s_client.Client.from_params(params(url, allow_plain_http=True), environ={}) as c:
        assert c.get("/api/v1/namespaces/x")["metadata"]["name"] == "x"
    assert seen == [("/api/v1/namespaces/x", "Bearer " + TOKEN)]
