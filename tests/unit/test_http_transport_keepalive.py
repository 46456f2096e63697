# -*- coding: utf-8 -*-
# http_transport's kept connections (issue 10), for real against the local TLS registry, which counts the TCP
# connections it accepts: one connection per origin for a whole access check instead of one per request; a kept
# connection the server closed is retried once on a new one (GET/HEAD only); "Connection: close" and a body cut
# by max_body end the connection; redirects, certificate errors and error messages as before; a proxy, or a
# request with a body, goes through urllib as before (never kept).  Counts are asserted, never timings.
import gc
import json
import os
import select
import socket
import socketserver
import subprocess
import sys
import threading
import warnings

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local_registry import DIGEST, LocalRegistry  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from plugins.module_utils.errors import ToolkitError  # noqa: E402
from plugins.module_utils.http_transport import make_urllib_transport  # noqa: E402
from plugins.module_utils.v2auth import verify_access  # noqa: E402

USER, PASSWORD = "12345678|okd-puller", "keep-alive-" + "p" * 20
IMAGE = "openshift3/ose-pod:v3.11"
OLD_PYTHONS = {
    "2.7": "/root/.pyenv/versions/2.7.18/bin/python",
    "3.6": "/root/.pyenv/versions/3.6.15/bin/python",
}
PROXY_VARS = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy",
              "NO_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def registry(tmp_path):
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}) as reg:
        yield reg


def _verify(transport, reg):
    result = verify_access(transport, reg.host, USER, PASSWORD, IMAGE)
    assert result["logged_in"] is True and result["digest"] == DIGEST
    return result


def test_an_access_check_makes_its_requests_over_one_connection(registry):
    with make_urllib_transport(ca_file=registry.paths["ca"], timeout=10) as transport:
        _verify(transport, registry)
        # GET /v2/ (401), the token from the realm (same origin), GET /v2/ with it, the manifest
        assert len(registry.requests) == 4
        assert registry.connections == 1
        assert transport.stats == {"opened": 1, "reused": 3, "stale": 0}
        _verify(transport, registry)  # the same transport (one module call) keeps it
        assert len(registry.requests) == 8 and registry.connections == 1
    # a transport per check, as the modules make them: one connection each
    for _ in range(2):
        with make_urllib_transport(ca_file=registry.paths["ca"], timeout=10) as transport:
            _verify(transport, registry)
    assert registry.connections == 3


def test_a_kept_connection_closed_by_the_server_is_retried_once_on_a_new_one(tmp_path):
    # the server answers one request per connection and closes it without saying so (an idle timeout that
    # struck between two requests): every reuse finds a closed connection
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}, max_requests_per_connection=1) as reg:
        with make_urllib_transport(ca_file=reg.paths["ca"], timeout=10) as transport:
            _verify(transport, reg)
            assert transport.stats == {"opened": 4, "reused": 3, "stale": 3}
        assert reg.connections == 4
        assert len(reg.requests) == 4  # each request reached the server once
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}, max_requests_per_connection=2) as reg:
        with make_urllib_transport(ca_file=reg.paths["ca"], timeout=10) as transport:
            _verify(transport, reg)
            assert transport.stats == {"opened": 2, "reused": 3, "stale": 1}
        assert reg.connections == 2 and len(reg.requests) == 4


class _ClosingServer(object):
    """Plain HTTP on 127.0.0.1: the first connection answers one request (kept open, then closed silently);
    every later connection is closed before anything is read. Counts connections."""

    def __init__(self):
        self.connections = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while True:
            try:
                conn, _addr = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                if self.connections == 1:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
                    conn.recv(4096)  # the next request: unanswered, the connection closes

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        except OSError:
            pass
        self.listener.close()
        self.thread.join(5)


def test_the_retry_is_made_once_only():
    with _ClosingServer() as server, make_urllib_transport(timeout=10) as transport:
        url = "http://127.0.0.1:%d/x?account=someone" % server.port
        assert transport("GET", url, {}) == (200, {"content-length": "2", "content-type": "text/plain"}, b"ok")
        with pytest.raises(ToolkitError) as info:
            transport("GET", url, {})
        # the kept connection was stale, its retry on a new connection failed too: reported, not retried again
        assert server.connections == 2
        assert info.value.retryable is True
        assert info.value.msg.startswith("connection to http://127.0.0.1:%d/x failed: " % server.port)
        assert "account" not in info.value.msg


def test_connection_close_is_honoured(tmp_path):
    # the server says "Connection: close" but keeps the connection open: a client that reused it anyway
    # would be served over it and the server would count fewer connections
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}, connection_close="keep-open") as reg:
        with make_urllib_transport(ca_file=reg.paths["ca"], timeout=10) as transport:
            _verify(transport, reg)
            assert transport.stats == {"opened": 4, "reused": 0, "stale": 0}
        assert reg.connections == 4 and len(reg.requests) == 4
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}, connection_close="close") as reg:
        with make_urllib_transport(ca_file=reg.paths["ca"], timeout=10) as transport:
            _verify(transport, reg)
        assert reg.connections == 4


def test_a_body_cut_by_max_body_ends_the_connection(registry):
    base = "https://%s" % registry.host
    with make_urllib_transport(ca_file=registry.paths["ca"], timeout=10, max_body=100) as transport:
        status, headers, body = transport("GET", base + "/bytes?n=100", {})
        assert (status, headers["content-length"], body) == (200, "100", b"x" * 100)
        transport("GET", base + "/bytes?n=10", {})
        assert registry.connections == 1  # read to the end: kept
        status, headers, body = transport("GET", base + "/bytes?n=1000", {})
        assert (status, headers["content-length"], body) == (200, "1000", b"x" * 100)
        status, _headers, body = transport("GET", base + "/bytes?n=10", {})
        assert (status, body) == (200, b"x" * 10)
        assert registry.connections == 2  # 900 bytes left unread: that connection was not kept


def test_head_has_no_body_and_errors_are_answers_over_the_kept_connection(registry):
    base = "https://%s" % registry.host
    with make_urllib_transport(ca_file=registry.paths["ca"], timeout=10) as transport:
        status, headers, body = transport("HEAD", base + "/bytes?n=50", {})
        assert (status, headers["content-length"], body) == (200, "50", b"")
        status, headers, body = transport("GET", base + "/nowhere", {})
        assert (status, body) == (404, b"404 page not found\n")
        status, headers, body = transport("GET", base + "/v2/", {})
        assert status == 401 and headers["www-authenticate"].startswith('Bearer realm="https://%s/token"'
                                                                        % registry.host)
        assert registry.connections == 1 and transport.stats["reused"] == 2


def test_redirects_keep_authorization_on_the_same_host_only(tmp_path, registry):
    with LocalRegistry(str(tmp_path), users={}, paths=registry.paths) as other, \
            make_urllib_transport(ca_file=registry.paths["ca"], timeout=10) as transport:
        auth = {"Authorization": "Basic c2VjcmV0"}
        same = "https://%s/redirect?to=https://%s/echo-auth" % (registry.host, registry.host)
        relative = "https://%s/redirect?to=/echo-auth" % registry.host
        elsewhere = "https://%s/redirect?to=https://%s/echo-auth" % (registry.host, other.host)
        for url, expected in ((same, "Basic c2VjcmV0"), (relative, "Basic c2VjcmV0"), (elsewhere, None)):
            status, _headers, body = transport("GET", url, auth)
            assert (status, json.loads(body.decode("utf-8"))["authorization"]) == (200, expected), url
        assert registry.connections == 1 and other.connections == 1
        assert "Authorization" not in [h for (_m, p, hs) in other.requests for h in hs]


def _chain(reg, hops):
    url = "https://%s/echo-auth" % reg.host
    for _ in range(hops):
        url = "https://%s/redirect?to=%s" % (reg.host, url.replace("%", "%25").replace("?", "%3F")
                                             .replace("=", "%3D").replace("&", "%26"))
    return url


def test_redirects_stop_after_five_as_urllib(registry):
    with make_urllib_transport(ca_file=registry.paths["ca"], timeout=10) as transport:
        for hops in (5, 6):
            url = _chain(registry, hops)
            kept = transport("GET", url, {})
            legacy = transport("GET", url, {}, b"")  # a body: urllib's own path, as before
            assert kept[0] == legacy[0] == (200 if hops == 5 else 302), hops
            assert kept[2] == legacy[2]
        # each chain: the first request and 5 redirects followed; urllib: a connection per request, kept: one
        assert len(registry.requests) == 4 * 6 and registry.connections == 1 + 2 * 6


def test_certificate_and_connection_errors_read_as_before(registry):
    url = "https://%s/v2/?scope=x" % registry.host
    with make_urllib_transport(timeout=10) as transport:  # the system trust store: not the test CA
        with pytest.raises(ToolkitError) as kept:
            transport("GET", url, {})
        with pytest.raises(ToolkitError) as legacy:
            transport("GET", url, {}, b"")  # urllib's path
    assert kept.value.msg == legacy.value.msg
    assert kept.value.msg.startswith("TLS certificate verification failed for https://%s/v2/: " % registry.host)
    assert kept.value.msg.endswith("(set ca_file to the registry's CA bundle)")
    assert "CERTIFICATE_VERIFY_FAILED" in kept.value.msg and not kept.value.retryable
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with make_urllib_transport(timeout=10) as transport:
        with pytest.raises(ToolkitError) as kept:
            transport("GET", "http://127.0.0.1:%d/v2/" % port, {})
        with pytest.raises(ToolkitError) as legacy:
            transport("GET", "http://127.0.0.1:%d/v2/" % port, {}, b"")
    assert kept.value.msg == legacy.value.msg == ("cannot connect to http://127.0.0.1:%d/v2/: [Errno 111] "
                                                  "Connection refused" % port)
    assert kept.value.retryable and legacy.value.retryable


def test_a_bad_header_value_is_never_shown(registry):
    url = "https://%s/v2/" % registry.host
    with make_urllib_transport(ca_file=registry.paths["ca"], timeout=10) as transport:
        for body in (None, b""):
            with pytest.raises(ToolkitError) as info:
                transport("GET", url, {"Authorization": "Bearer tok3n-s3cret\r\nX-Injected: 1"}, body)
            assert "s3cret" not in str(info.value) and "tok3n" not in str(info.value)
            assert info.value.msg == "invalid HTTP header in the request to %s (the value is not shown)" % url


def test_requests_with_a_body_get_their_own_connection(registry):
    base = "https://%s" % registry.host
    with make_urllib_transport(ca_file=registry.paths["ca"], timeout=10) as transport:
        transport("GET", base + "/v2/", {})
        status, _headers, body = transport("POST", base + "/echo-auth", {"Authorization": "Bearer t"}, b"data")
        assert (status, json.loads(body.decode("utf-8"))) == (200, {"authorization": "Bearer t"})
        transport("HEAD", base + "/v2/", {})
        assert registry.connections == 2 and transport.stats == {"opened": 1, "reused": 1, "stale": 0}
        assert registry.requests[1][0] == "POST" and registry.requests[1][2].get("Connection") == "close"


class _ConnectProxy(object):
    """An HTTP CONNECT proxy on 127.0.0.1 that counts its tunnels."""

    def __init__(self):
        proxy = self
        self.tunnels = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                line = self.rfile.readline().decode("latin-1")
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                method, target, _version = line.split()
                proxy.tunnels.append((method, target))
                host, port = target.rsplit(":", 1)
                with socket.create_connection((host, int(port)), timeout=10) as upstream:
                    self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    ends = [self.connection, upstream]
                    while True:
                        readable = select.select(ends, [], [], 10)[0]
                        if not readable:
                            return
                        for end in readable:
                            data = end.recv(65536)
                            if not data:
                                return
                            (upstream if end is self.connection else self.connection).sendall(data)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_proxy_keeps_the_urllib_path(registry, monkeypatch):
    with _ConnectProxy() as proxy:
        with make_urllib_transport(ca_file=registry.paths["ca"], timeout=10, proxy=proxy.url) as transport:
            _verify(transport, registry)
            assert transport.stats["opened"] == 0
        assert proxy.tunnels == [("CONNECT", registry.host)] * 4 and registry.connections == 4
        monkeypatch.setenv("https_proxy", proxy.url)
        with make_urllib_transport(ca_file=registry.paths["ca"], timeout=10) as transport:
            _verify(transport, registry)
        assert len(proxy.tunnels) == 8 and registry.connections == 8
        monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")  # no_proxy: direct, and kept
        with make_urllib_transport(ca_file=registry.paths["ca"], timeout=10) as transport:
            _verify(transport, registry)
            assert transport.stats["opened"] == 1
        assert len(proxy.tunnels) == 8 and registry.connections == 9


def test_close_and_garbage_collection_leave_no_socket_open(registry):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        transport = make_urllib_transport(ca_file=registry.paths["ca"], timeout=10)
        _verify(transport, registry)
        transport.close()
        assert transport._idle == {}
        _verify(transport, registry)  # still usable after close(): a new connection
        assert registry.connections == 2
        del transport  # dropped with a kept connection: closed when collected
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


OLD_SCRIPT = r"""
import json, socket, sys
sys.path.insert(0, sys.argv[1])
from plugins.module_utils.http_transport import make_urllib_transport
from plugins.module_utils.v2auth import verify_access
out = {}
for name, host in zip(("kept", "stale", "close"), sys.argv[3:6]):
    transport = make_urllib_transport(ca_file=sys.argv[2], timeout=20)
    result = verify_access(transport, host, sys.argv[6], sys.argv[7], "openshift3/ose-pod:v3.11")
    out[name] = {"digest": result["digest"], "stats": transport.stats,
                 "nodelay": [c.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in transport._idle.values()]}
    transport.close()
print(json.dumps(out))
"""


@pytest.mark.parametrize("version", sorted(OLD_PYTHONS))
def test_kept_connections_on_old_python(version, tmp_path):
    python = OLD_PYTHONS[version]
    if not os.path.exists(python):
        pytest.skip("python%s not installed (pyenv)" % version)
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}) as kept, \
            LocalRegistry(str(tmp_path), users={USER: PASSWORD}, paths=kept.paths,
                          max_requests_per_connection=1) as stale, \
            LocalRegistry(str(tmp_path), users={USER: PASSWORD}, paths=kept.paths,
                          connection_close="keep-open") as close:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        proc = subprocess.run([python, "-c", OLD_SCRIPT, ROOT, kept.paths["ca"], kept.host, stale.host, close.host,
                               USER, PASSWORD], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = json.loads(proc.stdout)
        assert {name: out[name]["digest"] for name in out} == {"kept": DIGEST, "stale": DIGEST, "close": DIGEST}
        assert out["kept"]["stats"] == {"opened": 1, "reused": 3, "stale": 0} and kept.connections == 1
        # TCP_NODELAY on the kept connection: Python 2's httplib does not set it (a request written right after
        # the TLS handshake would wait for the server's delayed ACK)
        assert len(out["kept"]["nodelay"]) == 1 and out["kept"]["nodelay"][0] != 0
        assert out["stale"]["stats"] == {"opened": 4, "reused": 3, "stale": 3} and stale.connections == 4
        assert out["close"]["stats"] == {"opened": 4, "reused": 0, "stale": 0} and close.connections == 4
        assert len(stale.requests) == 4
