"""A lab registry's front door: a small TLS reverse proxy on the registry's public name and port.

Run as its own process (``python -m lab.frontproxy CONFIG.json``, started by lab.registries). It terminates
TLS with the registry's certificate and routes every HTTP request on its own (keep-alive connections may mix
token and registry requests, as Go's pooled clients do):

- a request whose path is one of ``routes[].path`` (exact match) goes to that route's upstream: the
  registry's token realm, so the realm is served on the registry's own host and port, like
  ``https://registry.redhat.io/auth/realms/rhcc/protocol/redhat-docker-v2/auth`` or
  ``https://quay.io/v2/auth``;
- everything else goes to ``upstream`` (CNCF distribution, plain HTTP on 127.0.0.1).

``rewrite_realm`` {"from", "to"} replaces the realm URL in ``WWW-Authenticate`` answers: the same
distribution then appears behind this door with its token realm on another host (the other layout).

CONFIG.json: {"name", "bind", "port", "cert", "key", "ca_file", "upstream", "routes": [{"path", "upstream"}],
              "rewrite_realm": {"from", "to"} | null}
Bodies are read whole (lab images are small); chunked request bodies are accepted. Nothing of a request
is logged but its request line, status and route (no headers, so no credentials).
"""
import http.client
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from lab import tlsserve

_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-authorization", "proxy-authenticate", "content-length"}


def _read_chunked(rfile):
    out = []
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ValueError("truncated chunked body")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:   # trailers up to the empty line
                t = rfile.readline(65537)
                if t in (b"\r\n", b"\n", b""):
                    break
            return b"".join(out)
        out.append(rfile.read(size))
        rfile.readline(3)


class Handler(BaseHTTPRequestHandler):
    server_version = "lab-front/1"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY on every connection, as Go's net package sets it (the real registry and OKD API are Go
    # servers): with Nagle on, a kept-alive client waits ~40 ms for each answer's body (delayed ACK)
    disable_nagle_algorithm = True
    timeout = 60

    def log_message(self, fmt, *args):  # request line and status only: no header is ever logged
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def _upstream_for(self, path):
        cfg = self.server.cfg
        for r in cfg.get("routes") or []:
            if path == r["path"]:
                return r["upstream"]
        return cfg["upstream"]

    def _error(self, code, text):
        data = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": text}]}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _proxy(self):
        cfg = self.server.cfg
        try:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                body = _read_chunked(self.rfile)
            else:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
        except ValueError as e:
            self.close_connection = True
            return self._error(400, "bad request body: %s" % e)
        up = urlsplit(self._upstream_for(urlsplit(self.path).path))
        if up.scheme == "https":
            conn = http.client.HTTPSConnection(up.hostname, up.port or 443, timeout=60,
                                               context=self.server.client_ctx)
        else:
            conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=60)
        headers = {}
        for k, v in self.headers.items():
            if k.lower() in _HOP:
                continue
            # a header sent several times (Go clients send one Accept per media type) is combined into one
            # comma-separated value, which means the same in HTTP; keeping only the last would change the answer
            headers[k] = headers[k] + ", " + v if k in headers else v
        headers["X-Forwarded-Proto"] = "https"
        headers["X-Forwarded-For"] = self.client_address[0]
        if body is not None or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body or b""))
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            return self._error(502, "upstream %s: %s" % (up.netloc, e))
        finally:
            conn.close()
        self.send_response(resp.status, resp.reason)
        rewrite = cfg.get("rewrite_realm") or {}
        for k, v in resp.getheaders():
            if k.lower() in _HOP or k.lower() in ("date", "server"):
                continue
            if rewrite and k.lower() == "www-authenticate":
                v = v.replace('realm="%s"' % rewrite["from"], 'realm="%s"' % rewrite["to"])
            self.send_header(k, v)
        if self.command == "HEAD":
            length = resp.getheader("Content-Length")
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            return
        if resp.status not in (204, 304) and not 100 <= resp.status < 200:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and resp.status not in (204, 304):
            self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _proxy


def serve(cfg):
    tlsserve.serve(cfg, Handler, "front door", cfg=cfg, client_ctx=ssl.create_default_context(cafile=cfg["ca_file"]))


def main(argv):
    return tlsserve.main(argv, "frontproxy", serve)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
