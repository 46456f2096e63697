"""The lab's OpenShift registry "container": what the OKD 3.11 registry image runs, on a lab host.

Started by the lab kubelet (lab/kubelet.py) inside the network namespace of the host the pod is scheduled
on, with the container's environment, as

    python -m lab.okdregistry --root POD_ROOT

POD_ROOT stands for the container's file system: every absolute path the container would see (the
`REGISTRY_*` paths, the mounted secrets, the storage directory, the service-account token) is looked up
under it. It stands for the image `openshift3/ose-docker-registry:v3.11` = CNCF distribution + the
OpenShift middleware (openshift/image-registry release-3.11):

- configuration like the image: `REGISTRY_CONFIGURATION_PATH` (a config.yml, e.g. openshift-ansible's
  `registry-config` secret) or the image's own `/config.yml` (DEFAULT_CONFIG), with the `REGISTRY_*`
  environment overriding it, as distribution does;
- the container port (`REGISTRY_HTTP_ADDR`) is served by this process, with TLS from
  `REGISTRY_HTTP_TLS_CERTIFICATE` / `REGISTRY_HTTP_TLS_KEY` (a missing or wrong file ends the process with
  the error, as the registry's ListenAndServeTLS does); `/healthz` answered here (what the 3.11 image
  serves; Debian's distribution 2.8 answers 404 there);
- Debian's `docker-registry` (distribution 2.8) stores the images: it runs with the same configuration and
  environment on a private loopback port, without TLS, auth and the openshift middleware, and everything
  else is proxied to it;
- authentication and authorization like `pkg/dockerregistry/server/auth.go` (AccessController.Authorized,
  getOpenShiftAPIToken, verifyOpenShiftUser, verifyImageStreamAccess) and the token endpoint of
  `pkg/dockerregistry/server/token.go` (`/openshift/token`): `docker login -u ANY -p TOKEN` with an OKD API
  token; the token's user is `GET /apis/user.openshift.io/v1/users/~`; pull ("get") and push ("update") on
  `imagestreams/layers` in the repository's namespace are SelfSubjectAccessReviews made with the user's
  token (`POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`). While the lab API does not answer
  those reviews (404), the simplified RBAC of issue 14 decides: `admin` everything, `readonly` pulls,
  `system:serviceaccount:NS:*` pulls and pushes in NS;
- after every manifest PUT, an ImageStreamMapping is created as the registry's service account (its
  token mounted at /var/run/secrets/kubernetes.io/serviceaccount/token, as for every pod), like
  `pkg/dockerregistry/server/manifestservice.go` Put and `pkg/imagestream/imagestream.go`
  CreateImageStreamMapping (release-3.11): its `tag` is the tag pushed by, and "" for a push by digest
  (`.../ns/stream@sha256:...`: no distribution.WithTagOption); on NotFound of the image stream, the stream
  is created with the pusher's token (so only when the pusher may) and the mapping created again. A
  mapping that fails fails the push, as on 3.11: a stream the pusher may not create gives 403 DENIED,
  anything else 500 UNKNOWN "unknown error" with the API's Status in the detail. So a push by digest fails:
  3.11's API refuses the untagged mapping (422, `tag: Required value`, origin ValidateImageStreamMapping)
  and the registry does not create a stream for it; the manifest and blobs stay in storage (the
  storage Put came first) but no image stream or tag refers to them. (image-registry learnt to push by
  digest in 2023, commit 92cb1356, creating only an Image: not 3.11.)

Not modelled: pull-through, quota enforcement, signatures, metrics, the registry's blob/repository caches,
pruning.
"""
import argparse
import base64
import copy
import hashlib
import http.client
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from lab import apiclient  # the pod runs with PYTHONPATH = the checkout (lab/kubelet.py)

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
IMAGE_GROUP = "image.openshift.io"

# The 3.11 image's /config.yml (openshift/image-registry release-3.11 images/dockerregistry/config.yml).
DEFAULT_CONFIG = {
    "version": 0.1,
    "log": {"level": "info"},
    "http": {"addr": ":5000"},
    "storage": {"cache": {"blobdescriptor": "inmemory"}, "filesystem": {"rootdirectory": "/registry"},
                "delete": {"enabled": True}},
    "auth": {"openshift": {"realm": "openshift"}},
    "middleware": {"registry": [{"name": "openshift"}],
                   "repository": [{"name": "openshift", "options": {"acceptschema2": True, "pullthrough": True,
                                                                   "mirrorpullthrough": True,
                                                                   "enforcequota": False,
                                                                   "projectcachettl": "1m",
                                                                   "blobrepositorycachettl": "10m"}}],
                   "storage": [{"name": "openshift"}]},
    "openshift": {"version": 1.0, "metrics": {"enabled": False, "secret": "<secret>"}},
}
# environment this process consumes itself (or the openshift middleware would): not handed to distribution
FRONT_ENV = re.compile(r"^REGISTRY_(HTTP_ADDR|HTTP_TLS_.*|HTTP_HOST|OPENSHIFT_.*|MIDDLEWARE_.*|AUTH_.*|"
                       r"CONFIGURATION_PATH)$")
REPO_PATH = re.compile(r"^/v2/(.+)/(manifests|blobs|tags)(/.*)?$")
DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


def log(level, msg, **fields):
    """Log lines like the registry's logrus text format (time=... level=... msg=...)."""
    extra = "".join(" %s=%s" % (k, json.dumps(str(v))) for k, v in sorted(fields.items()))
    sys.stderr.write('time="%s" level=%s msg=%s%s\n' % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                                       level, json.dumps(msg), extra))
    sys.stderr.flush()


def fatal(msg):
    log("fatal", msg)
    sys.exit(1)


class Container(object):
    """The container's view: its root directory and environment."""

    def __init__(self, root, env):
        self.root = os.path.abspath(root)
        self.env = env

    def path(self, p):
        """The machine path of container path p (absolute container paths live under the pod root)."""
        if not p or not p.startswith("/"):
            return p
        return os.path.join(self.root, p.lstrip("/"))


def env_override(cfg, env):
    """Apply REGISTRY_A_B_C=value over cfg like distribution's configuration parser (keys lower-cased;
    a value is YAML-parsed, so "true" is a boolean). Used for the front's own view of the settings."""
    import yaml
    for k, v in sorted(env.items()):
        if not k.startswith("REGISTRY_") or k == "REGISTRY_CONFIGURATION_PATH":
            continue
        parts = [p.lower() for p in k[len("REGISTRY_"):].split("_")]
        node = cfg
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        try:
            node[parts[-1]] = yaml.safe_load(v) if v != "" else ""
        except yaml.YAMLError:
            node[parts[-1]] = v
    return cfg


def load_config(ct):
    import yaml
    path = ct.env.get("REGISTRY_CONFIGURATION_PATH")
    if path:
        try:
            with open(ct.path(path)) as f:
                cfg = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as e:
            fatal("configuration error: %s" % str(e).replace(ct.root, ""))
        if not isinstance(cfg, dict):
            fatal("configuration error: %s is not a YAML mapping" % path)
    else:
        cfg = copy.deepcopy(DEFAULT_CONFIG)
    return cfg


def distribution_config(cfg, ct, port):
    """distribution's own config: the container's, on 127.0.0.1:port, without TLS, auth, openshift
    middleware, with the storage paths inside the pod root."""
    out = copy.deepcopy(cfg)
    for k in ("auth", "middleware", "openshift", "notifications"):
        out.pop(k, None)
    http_cfg = dict(out.get("http") or {})
    http_cfg.pop("tls", None)
    http_cfg.pop("host", None)
    http_cfg["addr"] = "127.0.0.1:%d" % port
    http_cfg["relativeurls"] = False
    out["http"] = http_cfg
    fs = (out.get("storage") or {}).get("filesystem")
    if isinstance(fs, dict) and fs.get("rootdirectory"):
        fs["rootdirectory"] = ct.path(fs["rootdirectory"])
    out.setdefault("health", {}).setdefault("storagedriver", {"enabled": False})
    out["version"] = "0.1"
    return out


def distribution_env(ct):
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    for k, v in ct.env.items():
        if not k.startswith("REGISTRY_"):
            if k in ("SSL_CERT_FILE", "AWS_CA_BUNDLE", "HOME") or k.startswith("AWS_"):
                env[k] = v
            continue
        if FRONT_ENV.match(k):
            continue
        if v.startswith("/") and not k.endswith("_PREFIX"):
            v = ct.path(v)
        env[k] = v
    return env


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------------------------------------ the OKD API
class OkdApi(object):
    def __init__(self, ct):
        self.ct = ct
        host = ct.env.get("KUBERNETES_SERVICE_HOST") or "kubernetes.default.svc"
        port = ct.env.get("KUBERNETES_SERVICE_PORT") or "443"
        self.host, self.port = host, int(port)
        self.ctx = ssl.create_default_context(cafile=ct.path(SA_DIR + "/ca.crt"))
        self._sar_missing = False

    def sa_token(self):
        with open(self.ct.path(SA_DIR + "/token")) as f:
            return f.read().strip()

    def request(self, method, path, token, body=None):
        """-> (status, parsed JSON or {})."""
        return apiclient.request(self.host, self.port, self.ctx, method, path, token, body)

    def user(self, token):
        """verifyOpenShiftUser: the user's name, or None when the API refuses the token (401/403)."""
        code, doc = self.request("GET", "/apis/user.openshift.io/v1/users/~", token)
        if code in (401, 403):
            return None
        if code != 200:
            raise RuntimeError("unable to validate token: %s" % (doc.get("reason") or code))
        return (doc.get("metadata") or {}).get("name")

    def allowed(self, token, user, ns, name, verb, resource="imagestreams/layers"):
        """verifyWithSAR: a SelfSubjectAccessReview made with the user's token."""
        res, _, sub = resource.partition("/")
        attrs = {"namespace": ns, "verb": verb, "group": IMAGE_GROUP, "resource": res, "name": name}
        if sub:
            attrs["subresource"] = sub
        if not self._sar_missing:
            code, doc = self.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", token,
                                     {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                                      "spec": {"resourceAttributes": attrs}})
            if code in (200, 201):
                return bool((doc.get("status") or {}).get("allowed"))
            if code in (401, 403):
                return False
            if code != 404:
                raise RuntimeError("OpenShift client error: %s" % (doc.get("message") or code))
            self._sar_missing = True
            log("warning", "the API has no selfsubjectaccessreviews; using the lab's simplified RBAC")
        return simple_rbac(user, ns, verb)


def simple_rbac(user, ns, verb):
    """Issue 14's simplified RBAC: admin everything, readonly reads, a service account its namespace."""
    if user == "admin":
        return True
    if user == "readonly":
        return verb in ("get", "list")
    m = re.match(r"^system:serviceaccount:([^:]+):[^:]+$", user or "")
    return bool(m) and m.group(1) == ns


# ------------------------------------------------------------------------------------------ HTTP front
class AuthError(Exception):
    def __init__(self, kind, message):
        Exception.__init__(self, message)
        self.kind = kind        # "required" (token challenge) | "denied" (basic challenge) | "other"


def access_records(method, path, query):
    """distribution registry/handlers/app.go appendAccessRecords: [(type, name, action)]."""
    m = REPO_PATH.match(path)
    if path in ("/v2", "/v2/"):
        return []
    if path == "/v2/_catalog":
        return [("registry", "catalog", "*")]
    if not m:
        return []
    repo = m.group(1)
    if method in ("GET", "HEAD"):
        return [("repository", repo, "pull")]
    if method in ("POST", "PUT", "PATCH"):
        recs = [("repository", repo, "pull"), ("repository", repo, "push")]
        if method == "POST" and query.get("from"):
            recs.append(("repository", query["from"], "pull"))
        return recs
    if method == "DELETE":
        return [("repository", repo, "*")]
    return []


def namespace_name(repo):
    """getNamespaceName: NS/NAME."""
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        raise AuthError("other", "repository namespace required")
    return parts[0], parts[1]


class Front(object):
    def __init__(self, ct, cfg, backend_port):
        self.ct = ct
        self.cfg = cfg
        self.backend_port = backend_port
        self.api = OkdApi(ct)
        self.server_addr = ct.env.get("REGISTRY_OPENSHIFT_SERVER_ADDR") or \
            ((cfg.get("openshift") or {}).get("server") or {}).get("addr") or "docker-registry.default.svc:5000"
        self.realm = ((cfg.get("auth") or {}).get("openshift") or {}).get("realm") or "openshift"

    # auth.go getOpenShiftAPIToken
    @staticmethod
    def api_token(headers):
        h = headers.get("Authorization") or ""
        scheme, _, rest = h.partition(" ")
        if not rest:
            raise AuthError("required", "authorization header required")
        if scheme.lower() == "bearer":
            tok = rest.strip()
            return "" if tok == "anonymous" else tok
        if scheme.lower() == "basic":
            try:
                _, _, password = base64.b64decode(rest.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                password = ""
            if not password:
                raise AuthError("denied", "failed to decode credentials")
            return password
        raise AuthError("required", "authorization header required")

    def authorize(self, method, path, query, headers):
        """AccessController.Authorized: -> (user, token)."""
        token = self.api_token(headers)
        user = "anonymous"
        if token:
            user = self.api.user(token)
            if user is None:
                raise AuthError("denied", "access denied")
        recs = access_records(method, path, query)
        pushes = set()
        deferred = {}
        for typ, name, action in recs:
            if typ == "registry":
                if not token or not self.api.allowed(token, user, "", "", "list", "imagestreams"):
                    raise AuthError("denied", "access denied")
                continue
            ns, isname = namespace_name(name)
            verb = {"push": "update", "pull": "get", "*": "prune"}[action]
            if action == "push":
                pushes.add(name)
            if verb == "prune":
                ok = bool(token) and self.api.allowed(token, user, "", "", "delete", "images")
            else:
                ok = bool(token) and self.api.allowed(token, user, ns, isname, verb)
            if not ok:
                if not token:
                    raise AuthError("required", "authorization header required")
                if action != "pull":
                    raise AuthError("denied", "access denied")
                deferred[name] = AuthError("denied", "access denied")
        for name, err in deferred.items():       # cross-mount pulls are tolerated only beside a push
            if not pushes or name in pushes:
                raise err
        return user, token

    # image-registry release-3.11 pkg/imagestream/imagestream.go CreateImageStreamMapping
    def map_image(self, user_token, ns, isname, tag, digest, manifest, media_type):
        """The ImageStreamMapping of a pushed manifest, created as the registry's service account; `tag` is
        the tag the manifest was pushed by, "" for a push by digest (manifestservice.go Put: only a
        distribution.WithTagOption sets it). None when it was created, else an rerrors.Error-like
        (code, message, API Status): ImageStream:Forbidden when the stream could not be auto-provisioned
        for the pusher (forbidden, unauthorized, quota), ImageStream:Unknown otherwise - e.g. 3.11's 422
        `tag: Required value` for an untagged mapping (pkg/image/apis/image/validation
        ValidateImageStreamMapping), which is not the 404 that makes the registry create the stream."""
        sa = self.api.sa_token()
        ref = "%s/%s" % (ns, isname)
        ism = {"kind": "ImageStreamMapping", "apiVersion": "image.openshift.io/v1",
               "metadata": {"name": isname, "namespace": ns},
               "image": {"metadata": {"name": digest,
                                      "annotations": {"openshift.io/image.managed": "true"}},
                         "dockerImageReference": "%s/%s/%s@%s" % (self.server_addr, ns, isname, digest),
                         "dockerImageManifest": manifest.decode("utf-8"),
                         "dockerImageManifestMediaType": media_type},
               "tag": tag}
        path = "/apis/image.openshift.io/v1/namespaces/%s/imagestreammappings" % ns
        code, doc = self.api.request("POST", path, sa, ism)
        if code in (200, 201):
            return None
        det = doc.get("details") or {}
        if code == 403 and doc.get("reason") == "Forbidden" and "exceeded quota" in (doc.get("message") or ""):
            return ("ImageStream:Forbidden", "CreateImageStreamMapping: quota exceeded during creation of %s "
                    "ImageStreamMapping" % ref, doc)
        if not (code == 404 and (det.get("kind") or "").lower() in ("imagestream", "imagestreams",
                                                                    "imagestreammappings")
                and det.get("name") == isname):
            return ("ImageStream:Unknown", "CreateImageStreamMapping: error creation of %s ImageStreamMapping"
                    % ref, doc)
        # the stream is auto-provisioned with the pusher's own client
        c2, d2 = self.api.request("POST", "/apis/image.openshift.io/v1/namespaces/%s/imagestreams" % ns,
                                  user_token, {"kind": "ImageStream", "apiVersion": "image.openshift.io/v1",
                                               "metadata": {"name": isname}})
        if c2 in (401, 403):
            return ("ImageStream:Forbidden", "CreateImageStreamMapping: denied creating ImageStream %s" % ref, d2)
        if c2 not in (200, 201, 409):
            return ("ImageStream:Unknown", "CreateImageStreamMapping: error auto provisioning ImageStream %s"
                    % ref, d2)
        code, doc = self.api.request("POST", path, sa, ism)
        if code in (200, 201):
            return None
        return ("ImageStream:Unknown", "CreateImageStreamMapping: error creation of %s ImageStreamMapping"
                % ref, doc)


def make_handler(front):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY on every connection, as Go's net package sets it (the real registry and OKD API are Go
        # servers): with Nagle on, a kept-alive client waits ~40 ms for each answer's body (delayed ACK)
        disable_nagle_algorithm = True
        server_version = "okd-lab-registry"

        def log_message(self, fmt, *args):
            log("info", "response completed", remote=self.client_address[0], request=self.requestline,
                status=args[1] if len(args) > 1 else "")

        def _send(self, code, body=b"", ctype="application/json; charset=utf-8", headers=None):
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _errors(self, code, ecode, message, detail=None, headers=None):
            e = {"code": ecode, "message": message}
            if detail is not None:
                e["detail"] = detail
            self._send(code, json.dumps({"errors": [e]}).encode(), headers=headers)

        def _body(self):
            if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _token_endpoint(self):
            """token.go tokenHandler.ServeHTTP."""
            if not self.headers.get("Authorization"):
                return self._send(200, json.dumps({"token": "anonymous", "access_token": "anonymous"}).encode())
            scheme, _, rest = self.headers["Authorization"].partition(" ")
            token = ""
            if scheme.lower() == "basic":
                try:
                    _, _, token = base64.b64decode(rest.strip()).decode("utf-8").partition(":")
                except (ValueError, UnicodeDecodeError):
                    token = ""
            if scheme.lower() != "basic":
                return self._send(401, b"")
            try:
                user = front.api.user(token) if token else None
            except RuntimeError as e:
                return self._send(401, json.dumps({"details": str(e)}).encode())
            if user is None:
                return self._send(401, b"")
            self._send(200, json.dumps({"token": token, "access_token": token}).encode())

        def _handle(self):
            u = urllib.parse.urlsplit(self.path)
            path = u.path
            query = dict(urllib.parse.parse_qsl(u.query))
            body = self._body() if self.command in ("POST", "PUT", "PATCH") else b""
            if path == "/healthz":
                return self._send(200, b"", "text/plain; charset=utf-8")
            if path == "/openshift/token":
                return self._token_endpoint()
            if not path.startswith("/v2"):
                return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
            try:
                user, token = front.authorize(self.command, path, query, self.headers)
            except AuthError as e:
                if e.kind == "required":
                    host = self.headers.get("Host") or front.server_addr
                    challenge = 'Bearer realm="https://%s/openshift/token"' % host
                elif e.kind == "denied":
                    challenge = 'Basic realm=%s,error="%s"' % (front.realm, e)
                else:
                    return self._errors(400, "UNKNOWN", "unknown error", str(e))
                log("error", "OpenShift access denied: %s" % e, path=path)
                return self._errors(401, "UNAUTHORIZED", "authentication required", str(e),
                                    {"WWW-Authenticate": challenge})
            except (RuntimeError, OSError) as e:
                return self._errors(500, "UNKNOWN", "unknown error", str(e))
            status, headers, rbody = self._proxy(body)
            m = REPO_PATH.match(path)
            if self.command == "PUT" and m and m.group(2) == "manifests" and status == 201:
                ref = (m.group(3) or "/").lstrip("/")
                ns, isname = m.group(1).split("/")
                digest = dict((k.lower(), v) for k, v in headers).get("docker-content-digest") or \
                    "sha256:" + hashlib.sha256(body).hexdigest()
                # manifestservice.go Put: the tag only when pushed by tag (WithTagOption); by digest ""
                tag = "" if DIGEST.match(ref) else ref
                try:
                    err = front.map_image(token, ns, isname, tag, digest, body,
                                          (self.headers.get("Content-Type") or "").split(";")[0])
                except (RuntimeError, OSError, ValueError) as e:
                    err = ("ImageStream:Unknown", "CreateImageStreamMapping: error creating %s/%s "
                           "ImageStreamMapping" % (ns, isname), {"message": str(e)})
                if err:
                    ecode, emsg, status = err
                    log("error", "manifestService.Put: imagestreammapping failed for image %s/%s@%s: %s: %s: %s"
                        % (ns, isname, digest, ecode, emsg, status.get("message") or ""), repo=m.group(1))
                    if ecode == "ImageStream:Forbidden":     # distribution.ErrAccessDenied
                        return self._errors(403, "DENIED", "requested access to the resource is denied")
                    # any other error: distribution's PutManifest answers errcode.ErrorCodeUnknown.WithDetail(err)
                    return self._errors(500, "UNKNOWN", "unknown error",
                                        {"Code": ecode, "Message": emsg, "Err": {"ErrStatus": status}})
                log("info", "ImageStreamMapping created", repo=m.group(1), tag=tag, digest=digest, user=user)
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(rbody)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(rbody)

        def _proxy(self, body):
            conn = http.client.HTTPConnection("127.0.0.1", front.backend_port, timeout=300)
            try:
                hdrs = {}
                for k, v in self.headers.items():
                    if k.lower() in ("authorization", "connection", "transfer-encoding", "content-length",
                                     "keep-alive"):
                        continue
                    # a repeated header (docker clients send one Accept line per manifest type) is passed on
                    # whole, as one comma-joined field (RFC 7230 3.2.2): keeping only one Accept made
                    # distribution answer a converted schema 1 manifest to schema 2 clients
                    hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
                hdrs["X-Forwarded-Proto"] = "https"
                if self.command in ("POST", "PUT", "PATCH"):
                    hdrs["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body if self.command in ("POST", "PUT", "PATCH")
                             else None, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, resp.getheaders(), data
            finally:
                conn.close()

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


class TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, ctx):
        self.ctx = ctx
        http.server.HTTPServer.__init__(self, addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ctx is not None:
            sock.settimeout(30)
            try:
                sock = self.ctx.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                sock.close()
                raise
            sock.settimeout(None)
        return sock, addr

    def handle_error(self, request, client_address):
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lab.okdregistry")
    ap.add_argument("--root", required=True, help="the pod's root directory (the container's file system)")
    args = ap.parse_args(argv)
    ct = Container(args.root, dict(os.environ))
    cfg = env_override(load_config(ct), {k: v for k, v in ct.env.items() if k.startswith("REGISTRY_")})
    http_cfg = cfg.get("http") or {}
    addr = str(http_cfg.get("addr") or ":5000")
    host, _, port = addr.rpartition(":")
    try:
        port = int(port)
    except ValueError:
        fatal("listen tcp: address %s: missing port in address" % addr)
    tls = http_cfg.get("tls") or {}
    ctx = None
    if tls.get("certificate"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(ct.path(str(tls["certificate"])), ct.path(str(tls.get("key") or "")))
        except FileNotFoundError:
            fatal("open %s: no such file or directory" % (tls["certificate"] if not os.path.exists(
                ct.path(str(tls["certificate"]))) else tls.get("key")))
        except (ssl.SSLError, OSError) as e:
            fatal("tls: failed to load the certificate %s / key %s: %s" % (tls["certificate"], tls.get("key"), e))
    # distribution, on a private loopback port
    bport = free_port()
    dcfg = distribution_config(cfg, ct, bport)
    fs = (dcfg.get("storage") or {}).get("filesystem")
    if isinstance(fs, dict) and fs.get("rootdirectory"):
        os.makedirs(fs["rootdirectory"], exist_ok=True)
    fd, cfg_path = tempfile.mkstemp(prefix="distribution-", suffix=".yml", dir=ct.root)
    with os.fdopen(fd, "w") as f:
        json.dump(dcfg, f)
    child = subprocess.Popen(["docker-registry", "serve", cfg_path], env=distribution_env(ct),
                             stdin=subprocess.DEVNULL)

    def stop(*_):
        try:
            child.terminate()
            child.wait(5)
        except Exception:
            child.kill()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.time() + 30
    while True:
        if child.poll() is not None:
            fatal("registry storage (docker-registry) exited with code %d" % child.returncode)
        try:
            socket.create_connection(("127.0.0.1", bport), timeout=0.5).close()
            break
        except OSError:
            if time.time() > deadline:
                child.kill()
                fatal("registry storage (docker-registry) did not listen on 127.0.0.1:%d" % bport)
            time.sleep(0.05)
    try:
        server = TLSServer((host or "0.0.0.0", port), make_handler(Front(ct, cfg, bport)), ctx)
    except OSError as e:
        child.kill()
        fatal("listen tcp %s: bind: %s" % (addr, (e.strerror or str(e)).lower()))   # Go's net.Listen wording
    log("info", "listening on %s, tls" % addr if ctx else "listening on %s" % addr)

    def watch():
        child.wait()
        log("fatal", "registry storage (docker-registry) exited with code %d" % child.returncode)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
