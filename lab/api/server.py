"""HTTPS front end of the API stand-in: routing, bearer-token auth, discovery and the request log.
Standard library only (http.server + ssl + threads)."""
import hmac
import json
import os
import ssl
import struct
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import authz, protobuf, resources, tables
from .api import PATCH_TYPES, Api, ApiError, BY_KEY, bad_request, not_found, now
from .store import Store

PUBLIC_PATHS = ("/healthz", "/healthz/ready", "/healthz/ping", "/version", "/version/", "/version/openshift")
OPENAPI_PROTO = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
WRITE_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
REVIEW_KEYS = ("selfsubjectaccessreviews.authorization.k8s.io", "subjectaccessreviews.authorization.k8s.io",
               "localsubjectaccessreviews.authorization.k8s.io", "subjectaccessreviews.authorization.openshift.io",
               "localsubjectaccessreviews.authorization.openshift.io")


class Response(object):
    def __init__(self, code, body, ctype="application/json"):
        self.code = code
        self.body = body
        self.ctype = ctype
        self.log = None     # extra fields for the request log


def _json(code, obj):
    return Response(code, obj)


class App(object):
    """Everything the handler needs: the Api, tokens, logs."""

    def __init__(self, state_dir, ca_file=None, internal_registry=None, import_timeout=15.0, max_bulk_tags=None):
        self.dir = str(state_dir)
        with open(os.path.join(self.dir, "tokens.json")) as f:
            toks = json.load(f)
        self.tokens = dict((v, k) for k, v in toks.items())     # token -> user (admin | readonly)
        self.log_lock = threading.Lock()
        self.request_log = os.path.join(self.dir, "requests.log")
        # the lab kubelet's own requests (pod, RC and DC status; its polling): kept apart from the clients'
        self.kubelet_log = os.path.join(self.dir, "requests-kubelet.log")
        kw = {}
        if internal_registry:
            kw["internal_registry"] = internal_registry
        if max_bulk_tags is not None:
            kw["max_bulk_tags"] = max_bulk_tags
        self.api = Api(Store(os.path.join(self.dir, "state.json")), ca_file=ca_file, log=self.note,
                       import_timeout=import_timeout, **kw)
        self.api.bootstrap()

    # ---------------------------------------------------------------- logs
    def note(self, msg):
        sys.stderr.write("%s %s\n" % (now(), msg))
        sys.stderr.flush()

    def _append(self, path, rec):
        line = json.dumps(rec, sort_keys=True) + "\n"
        with self.log_lock:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)

    def log_request(self, user, method, path, query, status, extra=None):
        rec = {"time": now(), "user": user, "method": method, "path": path, "query": query, "status": status}
        rec.update(extra or {})
        self._append(self.kubelet_log if user == "kubelet" else self.request_log, rec)

    # ---------------------------------------------------------------- auth
    def authenticate(self, header):
        """-> (user or None, error Response or None)."""
        if not header:
            return None, None
        scheme, _, tok = header.partition(" ")
        if scheme.lower() == "bearer":
            tok = tok.strip()
            for known, user in self.tokens.items():
                if hmac.compare_digest(known.encode(), tok.encode()):
                    return user, None
            with self.api.lock:     # a service account's token (lab/api/authz.py)
                sa = authz.service_account_user(self.api.store, tok)
            if sa is not None:
                return sa.name, None
        return None, _json(401, ApiError(401, "Unauthorized", "Unauthorized").status())

    # ---------------------------------------------------------------- routing
    def handle(self, method, raw_path, headers, body, user):
        u = urllib.parse.urlsplit(raw_path)
        path = u.path
        query = dict((k, v[-1]) for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items())
        if path != "/" and path.endswith("/"):
            path = path.rstrip("/")
        if "dryRun" in query and method in WRITE_VERBS:
            # 3.11 refuses dryRun on the mutating verbs (create, update, patch, delete) only; a read ignores it
            raise bad_request("dryRun is not supported")
        if path in ("/healthz", "/healthz/ready", "/healthz/ping", "/healthz/log"):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if path in ("/version", "/version/"):
            return _json(200, resources.VERSION)
        if path == "/version/openshift":
            return _json(200, resources.OPENSHIFT_VERSION)
        if user is None:
            return _json(401, ApiError(401, "Unauthorized", "Unauthorized").status())
        if path == "/openapi/v2" or path == "/swagger.json":
            if OPENAPI_PROTO in (headers.get("Accept") or "") and "json" not in (headers.get("Accept") or ""):
                return Response(200, b"", "application/octet-stream")
            return _json(200, {"swagger": "2.0", "info": {"title": "OpenShift API (with Kubernetes)",
                                                         "version": "v3.11.0+0cbc58b"},
                               "paths": {}, "definitions": {}})
        if path == "/api":
            return _json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": headers.get("Host") or ""}]})
        if path == "/oapi":
            return _json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": None})
        if path == "/apis":
            return _json(200, resources.api_group_list())
        parts = [urllib.parse.unquote(p) for p in path.split("/")[1:]]
        if parts[0] == "apis" and len(parts) == 2:
            if parts[1] not in resources.groups():
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            g = resources.api_group(parts[1])
            g.update({"kind": "APIGroup", "apiVersion": "v1"})
            return _json(200, g)
        if parts[0] == "api" and len(parts) == 2 and parts[1] == "v1":
            return _json(200, resources.resource_list("", "v1"))
        if parts[0] == "oapi" and len(parts) == 2 and parts[1] == "v1":
            return _json(200, resources.resource_list(None, None, legacy=True))
        if parts[0] == "apis" and len(parts) == 3:
            rl = resources.resource_list(parts[1], parts[2])
            if rl is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return _json(200, rl)
        if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
            return self.resource(method, "", "v1", parts[2:], False, query, headers, body, user)
        if parts[0] == "oapi" and len(parts) >= 3 and parts[1] == "v1":
            return self.resource(method, None, None, parts[2:], True, query, headers, body, user)
        if parts[0] == "apis" and len(parts) >= 4:
            return self.resource(method, parts[1], parts[2], parts[3:], False, query, headers, body, user)
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _require_write(self, user, method, r, ns, path, name=None, sub=None):
        """Authorization (lab/api/authz.py): admin may everything, readonly reads; a service account's
        request is decided by authz.allowed. Access reviews decide themselves (Api.access_review) and
        `users/~` answers every authenticated user. The lab kubelet (standing for the kubelet and the
        controllers whose status it writes) may what admin may."""
        if user in ("admin", "kubelet"):
            return
        if r is not None and method == "POST" and r.key in REVIEW_KEYS:
            return
        if r is not None and r.key == "users.user.openshift.io" and method == "GET" and name == "~":
            return
        if r is not None and user.startswith(authz.SA_PREFIX):
            verb = WRITE_VERBS.get(method, method.lower())
            if method in ("GET", "HEAD"):
                verb = "get" if name else "list"
            elif method == "DELETE" and not name:
                verb = "deletecollection"
            with self.api.lock:
                ok, _ = authz.allowed(self.api.store, user, verb, r.group, r.plural, sub or "", ns or "", name or "")
            if ok:
                return
            raise _forbidden(r, user, verb, r.plural + ("/" + sub if sub else ""), ns, name)
        if method in ("GET", "HEAD"):
            return
        verb = WRITE_VERBS.get(method, method.lower())
        if r is None:
            raise ApiError(403, "Forbidden", 'forbidden: User "%s" cannot %s path "%s"'
                           % (user, method.lower(), path), {})
        raise _forbidden(r, user, verb, r.plural, ns, name)

    def _read_body(self, headers, body):
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not body or not body.strip():
            raise bad_request("the request body is empty")
        if ctype in ("", "application/json", "*/*", "text/plain", "application/octet-stream"):
            try:
                return json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise bad_request("the body of the request is not valid JSON: %s" % e)
        if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
            try:
                import yaml
                return yaml.safe_load(body.decode("utf-8"))
            except Exception as e:
                raise bad_request("the body of the request is not valid YAML: %s" % e)
        if ctype == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(body)
            except (protobuf.ProtobufError, UnicodeDecodeError, struct.error) as e:
                raise ApiError(415, "UnsupportedMediaType", str(e))
        raise ApiError(415, "UnsupportedMediaType",
                       'the body of the request was in an unknown format - accepted media types include: '
                       'application/json, application/yaml')

    def resource(self, method, group, version, rest, legacy, query, headers, body, user):
        if rest and rest[0] == "watch" or query.get("watch") in ("1", "true", "True"):
            raise ApiError(405, "MethodNotAllowed", "watch is not supported by the lab API stand-in")
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            r2 = resources.lookup(group, version, rest[2], legacy)
            if r2 is not None and r2.namespaced:
                ns = rest[1]
                rest = rest[2:]
        r = resources.lookup(group, version, rest[0], legacy)
        if r is None or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        self._require_write(user, method, r, ns, None, name, sub)
        if r.namespaced and ns is None and (name or method != "GET"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resp = self._resource(method, r, ns, name, sub, legacy, query, headers, body, user)
        if legacy and isinstance(resp.body, dict) and resp.body.get("apiVersion") not in (None, "v1") \
                and resp.body.get("kind") != "Status":
            resp.body["apiVersion"] = "v1"
        return resp

    def _resource(self, method, r, ns, name, sub, legacy, query, headers, body, user):
        api = self.api
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        ls, fs = query.get("labelSelector"), query.get("fieldSelector")
        key = r.key
        if key == "projects.project.openshift.io":
            nsr = BY_KEY["namespaces"]
            if name is None and method == "GET":
                lst = api.list(nsr, None, ls, fs)
                lst["kind"] = "ProjectList"
                lst["apiVersion"] = "v1" if legacy else "project.openshift.io/v1"
                return _json(200, lst)
            if name is None and method == "POST":
                return _json(201, api.project_request(self._read_body(headers, body), user, legacy))
            if name and not sub:
                try:
                    if method == "GET":
                        return _json(200, api.as_project(api.get(nsr, None, name), legacy))
                    if method == "DELETE":
                        api.delete(nsr, None, name, None, user)
                        return _json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                           "status": "Success"})
                    if method == "PUT":
                        b = self._read_body(headers, body)
                        b["kind"] = "Namespace"
                        return _json(200, api.as_project(api.update(nsr, None, name, b, user), legacy))
                    if method == "PATCH":
                        return _json(200, api.as_project(api.patch(nsr, None, name, ctype, body, user), legacy))
                except ApiError as e:
                    if e.code == 404:
                        raise not_found(r, name)
                    raise
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if key == "projectrequests.project.openshift.io":
            if method == "POST" and name is None:
                return _json(201, api.project_request(self._read_body(headers, body), user, legacy))
            if method == "GET" and name is None:
                return _json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if key == "users.user.openshift.io":
            if method == "GET" and name in ("~", user):
                return _json(200, {"kind": "User", "apiVersion": "v1" if legacy else r.api_version,
                                   "metadata": {"name": user, "selfLink": "/apis/user.openshift.io/v1/users/" + user,
                                                "uid": "00000000-0000-0000-0000-%012d" % len(user),
                                                "resourceVersion": "1", "creationTimestamp": None},
                                   "identities": None, "groups": authz.groups_of(user)})
            if method == "GET" and name is None:
                items = [{"metadata": {"name": u}, "identities": None, "groups": None}
                         for u in sorted(self.tokens.values())]
                return _json(200, {"kind": "UserList", "apiVersion": r.api_version, "metadata": {}, "items": items})
            raise not_found(r, name or "")
        if key in REVIEW_KEYS:
            if method == "POST" and name is None:
                return _json(201, api.access_review(r, ns, self._read_body(headers, body), user, legacy))
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if key == "imagestreamtags.image.openshift.io":
            if method == "GET" and name is None:
                return _json(200, api.list_istags(ns, ls, legacy))
            if name is None and method != "POST":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
            if method == "GET":
                return _json(200, api.get_istag(ns, name, legacy))
            if method == "POST":
                b = self._read_body(headers, body)
                return _json(201, api.put_istag(ns, (b.get("metadata") or {}).get("name") or "", b, user, True))
            if method == "PUT":
                return _json(200, api.put_istag(ns, name, self._read_body(headers, body), user, False))
            if method == "PATCH":
                from . import patch as patchlib
                cur = api.get_istag(ns, name)
                kind = PATCH_TYPES.get(ctype)
                if kind is None:
                    raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
                p = json.loads(body.decode("utf-8"))
                new = patchlib.json_patch(cur, p) if kind == "json" else patchlib.merge_patch(cur, p)
                return _json(200, api.put_istag(ns, name, new, user, False))
            if method == "DELETE":
                return _json(200, api.delete_istag(ns, name, user))
        if key == "imagestreamimages.image.openshift.io":
            if method == "GET" and name:
                return _json(200, api.get_isimage(ns, name, legacy))
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
        if key == "imagestreamimports.image.openshift.io":
            if method == "POST" and name is None:
                resp = _json(201, api.image_stream_import(ns, self._read_body(headers, body), user))
                # the request log tells a preview (spec.import false: reads only) from an import
                resp.log = {"import": bool((resp.body.get("spec") or {}).get("import"))}
                return resp
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
        if key == "imagestreammappings.image.openshift.io":
            if method == "POST" and name is None:
                return _json(201, api.image_stream_mapping(ns, self._read_body(headers, body), user))
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
        if key == "imagestreams.image.openshift.io" and sub == "secrets" and method == "GET":
            return _json(200, api.stream_secrets(ns, name))
        if key == "deploymentconfigs.apps.openshift.io" and sub == "instantiate" and method == "POST":
            dc = api.get(r, ns, name)
            st = dict(dc.get("status") or {})
            st["latestVersion"] = int(st.get("latestVersion") or 0) + 1
            return _json(201, api.update(r, ns, name, {"metadata": {}, "status": st}, user, "status"))
        # generic
        if sub not in (None, "status", "finalize"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if sub == "finalize" and key != "namespaces":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if sub == "status" and ("status", r.kind, resources.STATUS_VERBS) not in r.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        table = tables.wants_table(headers.get("Accept")) and sub is None and not legacy
        if name is None:
            if method == "GET":
                lst = api.list(r, ns, ls, fs)
                if table:
                    return _json(200, tables.table(r, lst["items"], lst["metadata"]["resourceVersion"]))
                return _json(200, lst)
            if method == "POST":
                return _json(201, api.create(r, ns, self._read_body(headers, body), user))
            if method == "DELETE" and "deletecollection" in r.verbs:
                return _json(200, api.delete_collection(r, ns, ls, fs, user))
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if method == "GET":
            obj = api.get(r, ns, name)
            if table:
                return _json(200, tables.table(r, [obj], obj["metadata"].get("resourceVersion")))
            return _json(200, obj)
        if method == "PUT":
            return _json(200, api.update(r, ns, name, self._read_body(headers, body), user, sub))
        if method == "PATCH":
            return _json(200, api.patch(r, ns, name, ctype, body, user, sub))
        if method == "DELETE" and sub is None:
            opts = None
            if body and body.strip():
                try:
                    opts = json.loads(body.decode("utf-8"))
                except ValueError:
                    raise bad_request("invalid DeleteOptions")
            return _json(200, api.delete(r, ns, name, opts, user))
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY on every connection, as Go's net package sets it (the real registry and OKD API are Go
    # servers): with Nagle on, a kept-alive client waits ~40 ms for each answer's body (delayed ACK)
    disable_nagle_algorithm = True
    server_version = "lab-okd-api/3.11"
    timeout = 120

    def log_message(self, fmt, *args):  # the request log is written by _handle
        pass

    def _read(self):
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self):
        app = self.server.app
        method = self.command
        body = self._read()
        u = urllib.parse.urlsplit(self.path)
        user, err = app.authenticate(self.headers.get("Authorization"))
        try:
            if err is not None:
                resp = err
            else:
                accept = self.headers.get("Accept") or ""
                if accept and "json" not in accept and "*/*" not in accept and "protobuf" in accept \
                        and not u.path.startswith("/openapi"):
                    raise ApiError(406, "NotAcceptable", "only the following media types are accepted: "
                                   "application/json, application/yaml")
                resp = app.handle(method, self.path, self.headers, body, user)
        except ApiError as e:
            resp = _json(e.code, e.status())
        except Exception as e:  # a bug: answer 500 and keep serving
            traceback.print_exc()
            resp = _json(500, ApiError(500, "InternalError", "Internal error occurred: %r" % (e,)).status())
        data = resp.body if isinstance(resp.body, bytes) else json.dumps(resp.body).encode("utf-8")
        # logged before the client can see the answer, so a client that reads the log after its request
        # returned always finds it there
        app.log_request(user, method, u.path, u.query, resp.code, resp.log)
        self.send_response(resp.code)
        self.send_header("Content-Type", resp.ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, app, ctx):
        self.app = app
        self.ctx = ctx
        ThreadingHTTPServer.__init__(self, addr, Handler)

    def finish_request(self, request, client_address):
        # TLS handshake in the worker thread, so a slow client never blocks accept()
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        traceback.print_exc()


# ------------------------------------------------------------------ the master's configuration
# 3.11's API reads /etc/origin/master/master-config.yaml at start (origin release-3.11
# pkg/cmd/server/apis/config/latest ReadAndResolveMasterConfig: relative file references, among them
# imagePolicyConfig.additionalTrustedCA (helpers.go GetMasterFileReferences), are resolved against the
# file's directory) and applies the defaults of pkg/cmd/server/apis/config/v1/defaults.go
# (SetDefaults_ImagePolicyConfig). The stand-in reads the first master's file (a path inside the master,
# mapped to the lab's host directory by lab.hosts.machine_path) and uses imagePolicyConfig from it.
IMAGE_POLICY_DEFAULTS = {"maxImagesBulkImportedPerRepository": 50,
                         "scheduledImageImportMinimumIntervalSeconds": 15 * 60,
                         "maxScheduledImageImportsPerMinute": 60,
                         "disableScheduledImport": False,
                         "internalRegistryHostname": None,
                         "additionalTrustedCA": ""}


class MasterConfigError(Exception):
    pass


MASTER_CONFIG_INSIDE = "/etc/origin/master/master-config.yaml"


def read_master_config(path, inside_path=MASTER_CONFIG_INSIDE):
    """imagePolicyConfig of a master-config.yaml with 3.11's defaults (a dict, keys as in the file);
    additionalTrustedCA made absolute against the file's directory (inside the master: inside_path). A
    missing file gives the defaults (the lab's API starts before its hosts); a file that does not parse or is not a v1 MasterConfig
    raises MasterConfigError with the reason."""
    import yaml       # the lab's venv has PyYAML; the stand-in only needs it here
    policy = dict(IMAGE_POLICY_DEFAULTS)
    try:
        with open(path) as f:
            text = f.read()
    except (OSError, IOError):
        return policy
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        why = "%s (line %d, column %d)" % (e.problem, mark.line + 1, mark.column + 1) \
            if mark is not None and getattr(e, "problem", None) else " ".join(str(e).split())
        raise MasterConfigError("%s does not parse as YAML: %s" % (path, why))
    if not isinstance(doc, dict) or doc.get("kind") != "MasterConfig" or doc.get("apiVersion") != "v1":
        raise MasterConfigError("%s is not an apiVersion v1, kind MasterConfig document" % path)
    ipc = doc.get("imagePolicyConfig") or {}
    if not isinstance(ipc, dict):
        raise MasterConfigError("%s: imagePolicyConfig is not a mapping" % path)
    for k, v in ipc.items():
        if v is not None and k in policy:
            policy[k] = v
    ca = policy.get("additionalTrustedCA") or ""
    if not isinstance(ca, str):
        raise MasterConfigError("%s: imagePolicyConfig.additionalTrustedCA is not a string" % path)
    if ca and not ca.startswith("/"):
        ca = os.path.join(os.path.dirname(inside_path or path), ca)
    policy["additionalTrustedCA"] = ca
    for k in ("maxImagesBulkImportedPerRepository", "scheduledImageImportMinimumIntervalSeconds"):
        if isinstance(policy[k], bool) or not isinstance(policy[k], int):
            raise MasterConfigError("%s: imagePolicyConfig.%s is not an integer" % (path, k))
    return policy


def trusted_ca_file(inside_path, host_dir):
    """The machine path of the master's additionalTrustedCA, read like 3.11's NewOpenshiftAPIConfig
    (origin release-3.11 pkg/cmd/openshift-apiserver/openshiftapiserver/config.go): an unreadable file stops
    the server with 3.11's text."""
    path = inside_path
    if host_dir:
        from lab.hosts import machine_path
        path = machine_path(host_dir, inside_path)
    try:
        with open(path, "rb") as f:
            f.read()
    except (OSError, IOError) as e:
        raise MasterConfigError("failed to read CA bundle %s for image importing: open %s: %s"
                                % (inside_path, inside_path, (e.strerror or str(e)).lower()))
    try:   # Go's AppendCertsFromPEM ignores a bundle without certificates; so do we (no extra trust)
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, ValueError):
        return None
    return path


def serve(state_dir, listen, port, cert, key, ca_file=None, import_interval=None, internal_registry=None,
          import_timeout=15.0, max_bulk_tags=None, additional_trusted_ca=None, master_config=None,
          master_host_dir=None):
    """Serve until killed. Settings given as arguments win over the master's master-config.yaml
    (lab overrides for tests: OKD_LAB_API_IMPORT_INTERVAL, OKD_LAB_API_ADDITIONAL_TRUSTED_CA)."""
    policy = dict(IMAGE_POLICY_DEFAULTS)
    trusted = additional_trusted_ca
    try:
        if master_config:
            policy = read_master_config(master_config, MASTER_CONFIG_INSIDE if master_host_dir else master_config)
        if not trusted and policy["additionalTrustedCA"]:
            trusted = trusted_ca_file(policy["additionalTrustedCA"], master_host_dir)
    except MasterConfigError as e:
        sys.stderr.write("%s error: %s\n" % (now(), e))
        raise SystemExit(2)
    if import_interval is None:
        import_interval = 0 if policy["disableScheduledImport"] else \
            float(policy["scheduledImageImportMinimumIntervalSeconds"])
    if max_bulk_tags is None:
        max_bulk_tags = policy["maxImagesBulkImportedPerRepository"]
    internal_registry = internal_registry or policy["internalRegistryHostname"]
    app = App(state_dir, ca_file=ca_file, internal_registry=internal_registry, import_timeout=import_timeout,
              max_bulk_tags=max_bulk_tags)
    # imagePolicyConfig.additionalTrustedCA: trusted by imports besides the system pool (here: the lab CA)
    app.api.additional_trusted_ca = trusted
    app.note("imagePolicyConfig (%s): additionalTrustedCA=%s scheduled interval=%ss maxImagesBulkImportedPerRepository=%s"
             % (master_config or "no master-config.yaml", trusted or "-", import_interval, max_bulk_tags))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    srv = Server((listen, port), app, ctx)

    def scheduler():
        while True:
            time.sleep(import_interval)
            try:
                app.api.scheduled_imports()
            except Exception:
                traceback.print_exc()

    if import_interval and import_interval > 0:
        threading.Thread(target=scheduler, name="scheduled-imports", daemon=True).start()
    app.note("lab API stand-in listening on https://%s:%d (state %s)" % (listen, port, state_dir))
    srv.serve_forever()


def _forbidden(r, user, verb, res, ns, name):
    """kubernetes 1.11's 403 for an RBAC refusal (`res`: the resource, with its subresource where asked)."""
    what = '%s%s "%s"' % (r.plural, "." + r.group if r.group else "", name) if name else \
        "%s%s" % (r.plural, "." + r.group if r.group else "")
    scope = 'in the namespace "%s"' % ns if ns else "at the cluster scope"
    d = {"kind": r.plural}
    if name:
        d["name"] = name
    if r.group:
        d["group"] = r.group
    return ApiError(403, "Forbidden", '%s is forbidden: User "%s" cannot %s %s%s %s: no RBAC policy matched'
                    % (what, user, verb, res, "." + r.group if r.group else "", scope), d)
