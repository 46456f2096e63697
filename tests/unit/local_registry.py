# -*- coding: utf-8 -*-
# A tiny HTTPS Docker Registry v2 + token service on 127.0.0.1 for the module tests (Python 3).
# It speaks just enough of the protocol to exercise registry_verify and http_transport for real:
# TLS with its own CA, WWW-Authenticate Bearer/Basic challenges, a token endpoint that checks Basic
# credentials, manifests by tag, forced 503s (retries) and a cross-host redirect (Authorization drop).
# It speaks HTTP/1.1 with keep-alive like a real registry and counts the TCP connections it accepted
# (``connections``); ``max_requests_per_connection`` makes it close a kept connection silently (a stale
# keep-alive for the client), ``connection_close`` sends ``Connection: close`` on every answer (and with
# ``"keep-open"`` keeps the connection open anyway, so that a client ignoring the header is seen reusing it).
import base64
import datetime
import hashlib
import json
import os
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import ipaddress

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {}, "layers": []}).encode("ascii")
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def make_ca_and_cert(directory):
    """Write ca.pem, cert.pem, key.pem (SAN localhost and 127.0.0.1) into directory."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "toolkit unit-test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {name: os.path.join(directory, name + ".pem") for name in ("ca", "cert", "key")}
    with open(paths["ca"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["key"], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


class LocalRegistry(object):
    """Start with ``with LocalRegistry(tmpdir, users={...}) as reg:``; ``reg.host`` is 'localhost:PORT'."""

    def __init__(self, directory, users, repos=None, scheme="bearer", fail_first=0, paths=None,
                 max_requests_per_connection=None, connection_close=None):
        self.paths = paths or make_ca_and_cert(directory)
        self.max_requests_per_connection = max_requests_per_connection
        self.connection_close = connection_close  # None, "close" or "keep-open"
        self.connections = 0  # TCP connections accepted
        self.users = users
        self.repos = repos if repos is not None else {"openshift3/ose-pod": {"v3.11": MANIFEST}}
        self.scheme = scheme
        self.fail_first = fail_first
        self.requests = []  # (method, path, headers dict)
        self.tokens = {}
        self.lock = threading.Lock()
        self.server = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self):
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real registry
            timeout = 30  # an idle kept connection ends its thread at last
            # Nagle's algorithm left on (http.server's default, as the lab's front door): the body, written after
            # the headers, waits for the client's ACK, which a kept connection must not delay (http_transport)
            served = 0

            def log_message(self, *args):
                pass

            def do_GET(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length) if length else b""
                self.served += 1
                registry.handle(self)
                limit = registry.max_requests_per_connection
                if limit is not None and self.served >= limit:
                    self.close_connection = True  # closed without saying so: stale for a keeping client

            do_HEAD = do_POST = do_PUT = do_GET

        class Server(ThreadingHTTPServer):
            def get_request(self):
                pair = ThreadingHTTPServer.get_request(self)
                with registry.lock:
                    registry.connections += 1
                return pair

        self.server = Server(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.paths["cert"], self.paths["key"])
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.host = "localhost:%d" % self.port
        self.realm = "https://localhost:%d/token" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ protocol
    def _send(self, handler, status, body=b"", headers=None):
        handler.send_response(status)
        for key, value in (headers or {}).items():
            if isinstance(value, list):
                for item in value:
                    handler.send_header(key, item)
            else:
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        if self.connection_close:
            handler.send_header("Connection", "close")
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)
        if self.connection_close == "keep-open":
            handler.close_connection = False  # said close, keeps serving: a client that reuses it is seen

    def _error(self, handler, status, code, message, headers=None, detail=None):
        item = {"code": code, "message": message}
        if detail is not None:
            item["detail"] = detail
        body = json.dumps({"errors": [item]}).encode("utf-8")
        headers = dict(headers or {}, **{"Content-Type": "application/json"})
        self._send(handler, status, body, headers)

    def _basic_user(self, handler):
        value = handler.headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode("utf-8").partition(":")
        return user if user in self.users and self.users[user] == password else False

    def _challenge(self, scope=None):
        if self.scheme == "basic":
            return 'Basic realm="local registry"'
        extra = ',scope="%s"' % scope if scope else ""
        # two challenges in one header field plus a second field: the transport must keep both
        return ['Bearer realm="%s",service="local-registry"%s' % (self.realm, extra)]

    def handle(self, handler):
        parts = urlsplit(handler.path)
        with self.lock:
            self.requests.append((handler.command, handler.path, dict(handler.headers)))
            if self.fail_first > 0:
                self.fail_first -= 1
                return self._send(handler, 503, b"busy, try later", {"Content-Type": "text/plain"})
        if parts.path == "/token":
            return self.token(handler, parse_qs(parts.query))
        if parts.path == "/redirect":
            target = parse_qs(parts.query)["to"][0]
            return self._send(handler, 302, b"", {"Location": target})
        if parts.path == "/bytes":  # N bytes, no authentication (a body longer than a client's max_body)
            return self._send(handler, 200, b"x" * int(parse_qs(parts.query)["n"][0]),
                              {"Content-Type": "application/octet-stream"})
        if parts.path == "/echo-auth":
            body = json.dumps({"authorization": handler.headers.get("Authorization")}).encode("utf-8")
            return self._send(handler, 200, body, {"Content-Type": "application/json"})
        if parts.path == "/v2/":
            if self._authorized(handler) is not None:
                return self._send(handler, 200, b"{}", {"Content-Type": "application/json"})
            return self._error(handler, 401, "UNAUTHORIZED", "authentication required",
                               {"WWW-Authenticate": self._challenge()})
        if "/manifests/" in parts.path:
            repo, ref = parts.path[len("/v2/"):].split("/manifests/", 1)
            access = self._authorized(handler)
            if access is None or (self.scheme == "bearer" and repo not in access):
                return self._error(handler, 401, "UNAUTHORIZED", "authentication required",
                                   {"WWW-Authenticate": self._challenge("repository:%s:pull" % repo)},
                                   [{"Type": "repository", "Name": repo, "Action": "pull"}])
            manifest = self.repos.get(repo, {}).get(ref)
            if manifest is None:
                code = "MANIFEST_UNKNOWN" if repo in self.repos else "NAME_UNKNOWN"
                return self._error(handler, 404, code, "manifest unknown" if repo in self.repos else
                                   "repository name not known to registry")
            return self._send(handler, 200, manifest, {
                "Content-Type": "application/vnd.docker.distribution.manifest.v2+json",
                "Docker-Content-Digest": "sha256:" + hashlib.sha256(manifest).hexdigest()})
        return self._send(handler, 404, b"404 page not found\n", {"Content-Type": "text/plain"})

    def _authorized(self, handler):
        """None: not authorized; else the list of repositories the request may pull."""
        value = handler.headers.get("Authorization", "")
        if self.scheme == "basic":
            return list(self.repos) if self._basic_user(handler) else None
        if value.startswith("Bearer "):
            return self.tokens.get(value[7:])
        return None

    def token(self, handler, query):
        user = self._basic_user(handler)
        if user is False or (user is None and self.users):
            return self._error(handler, 401, "UNAUTHORIZED", "Invalid username or password")
        access = []
        for scope in query.get("scope", []):
            kind, repo, actions = scope.split(":")
            access.append(repo)
        with self.lock:
            token = "tok-%d" % (len(self.tokens) + 1)
            self.tokens[token] = access
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode("ascii")
        return self._send(handler, 200, body, {"Content-Type": "application/json"})
