"""A small Docker Registry HTTP API v2 client for the API stand-in's image imports.

This is the lab's own, independent implementation (the toolkit's core is separate): Bearer token
flow (WWW-Authenticate realm/service/scope, Basic credentials at the realm) and Basic auth, manifest
HEAD/GET with the schema 2 / OCI / list media types, tag listing. Only lab registries are contacted.
"""
import base64
import hashlib
import http.client
import ipaddress
import json
import re
import socket
import ssl
import urllib.parse

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
MANIFEST_TYPES = (MANIFEST_V2, MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX, MANIFEST_V1,
                  "application/vnd.docker.distribution.manifest.v1+json")
LIST_TYPES = (MANIFEST_LIST, OCI_INDEX)
# What OKD 3.11's importer accepts (the vendored distribution client registers schema 1, schema 2 and the
# manifest list, no OCI types): a registry then answers an OCI-only image with 404 MANIFEST_UNKNOWN
# ("OCI manifest found, but accept header does not support OCI manifests"), so 3.11 cannot import it.
IMPORT_ACCEPT = (MANIFEST_V2, MANIFEST_LIST, MANIFEST_V1, "application/vnd.docker.distribution.manifest.v1+json")

LAB_NETS = [ipaddress.ip_network("10.231.0.0/16"), ipaddress.ip_network("127.0.0.0/8")]
LAB_SUFFIX = ".lab.test"


class RegistryError(Exception):
    """reason: Unauthorized | NotFound | InternalError | Forbidden (OKD's import condition reasons)."""

    def __init__(self, reason, message):
        Exception.__init__(self, message)
        self.reason = reason
        self.message = message


def is_lab_host(host):
    """True for NAME.lab.test[:port], localhost, 10.231.x.x and 127.x.x.x (with or without port)."""
    h = host
    if h.startswith("["):
        h = h[1:].split("]", 1)[0]
    elif h.count(":") == 1:
        h = h.split(":", 1)[0]
    h = h.lower().rstrip(".")
    if h == "localhost" or h.endswith(LAB_SUFFIX):
        return True
    try:
        addr = ipaddress.ip_address(h)
    except ValueError:
        return False
    return any(addr in n for n in LAB_NETS)


def check_lab_host(host):
    if not is_lab_host(host):
        raise RegistryError("InternalError",
                            "registry %s is not a lab registry: the lab API stand-in only imports from "
                            "*.lab.test, 10.231.0.0/16 and 127.0.0.0/8" % host)


def parse_reference(ref):
    """'HOST/REPO:TAG' or 'HOST/REPO@sha256:...' -> (host, repo, tag, digest).

    Without a registry host (first component with no '.' or ':' and not 'localhost') the host is
    docker.io, as in the Docker reference grammar."""
    if not ref or not isinstance(ref, str) or ref != ref.strip():
        raise RegistryError("InternalError", "invalid image reference %r" % (ref,))
    digest = None
    name = ref
    if "@" in name:
        name, digest = name.split("@", 1)
        if not re.match(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$", digest):
            raise RegistryError("InternalError", "invalid digest in image reference %r" % ref)
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    parts = name.split("/", 1)
    if len(parts) == 2 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        host, repo = parts
    else:
        host, repo = "docker.io", name
        if "/" not in repo:
            repo = "library/" + repo
    if not repo or not re.match(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$",
                                repo):
        raise RegistryError("InternalError", "invalid repository name in image reference %r" % ref)
    if tag is None and digest is None:
        tag = "latest"
    return host, repo, tag, digest


def _parse_challenge(header):
    """'Bearer realm="x",service="y",scope="z"' -> ('bearer', {realm, service, scope})."""
    if not header:
        return None, {}
    scheme, _, rest = header.strip().partition(" ")
    params = dict((m.group(1).lower(), m.group(2) if m.group(2) is not None else m.group(3))
                  for m in re.finditer(r'([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))', rest))
    return scheme.lower(), params


def error_message(body, default):
    """The registry's own error text: 'unauthorized: authentication required' (distribution's
    errcode format, code lower-cased with spaces), else the body's 'details'/'message', else default."""
    try:
        doc = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return text[:300] if text else default
    if isinstance(doc, dict):
        errs = doc.get("errors")
        if isinstance(errs, list) and errs and isinstance(errs[0], dict):
            code = str(errs[0].get("code") or "").lower().replace("_", " ")
            msg = errs[0].get("message") or ""
            return ("%s: %s" % (code, msg)) if code else (msg or default)
        for k in ("details", "detail", "message", "error"):
            if isinstance(doc.get(k), str) and doc[k]:
                return doc[k]
    return default


class Client(object):
    """One registry; credentials = (username, password), None for anonymous, or a credential store with
    ``basic(url) -> (username, password)`` (images.SecretKeyring), asked - like distribution's
    registry/client/auth/session.go - with the token realm's URL for a Bearer challenge and with the
    request's URL for a Basic one; credentials go out only when both are non-empty."""

    def __init__(self, host, ca_file=None, credentials=None, timeout=15.0, agent=None, insecure=False):
        check_lab_host(host)
        self.host = host
        # the importing user in the User-Agent (lab only: lets a test registry tell the image stream
        # controller's requests from a client's ImageStreamImport)
        self.user_agent = "lab-okd-api/3.11 (image import%s)" % ("; " + agent if agent else "")
        self.credentials = credentials
        self.timeout = timeout
        # what a 3.11 master trusts when it imports (origin pkg/cmd/server/origin/master_config.go / apiserver.go:
        # the system pool plus imagePolicyConfig.additionalTrustedCA): ca_file is one file or a list of files.
        # importPolicy.insecure uses the insecure transport: no certificate check.
        files = [ca_file] if isinstance(ca_file, str) else [f for f in (ca_file or []) if f]
        self.ctx = ssl.create_default_context(cafile=files[0]) if files else ssl.create_default_context()
        for f in files[1:]:
            self.ctx.load_verify_locations(cafile=f)
        if insecure:
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE
        self.auth_header = None   # "Bearer ..." or "Basic ..."

    # -- transport
    def _do(self, method, url, headers):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "https":
            raise RegistryError("InternalError", "refusing non-HTTPS URL %s" % url)
        check_lab_host(u.netloc)
        conn = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=self.timeout, context=self.ctx)
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        try:
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, resp, body
        except ssl.SSLCertVerificationError as e:
            # Go's crypto/x509 wording, as 3.11 reports it
            why = "certificate signed by unknown authority" if e.verify_code in (19, 20, 21) else \
                (e.verify_message or str(e))
            raise RegistryError("InternalError", "Get %s: x509: %s" % (url, why))
        except ssl.SSLError as e:
            raise RegistryError("InternalError", "Get %s: %s" % (url, e))
        except (OSError, http.client.HTTPException, socket.timeout) as e:
            raise RegistryError("InternalError", "Get %s: %s" % (url, e))
        finally:
            conn.close()

    def _creds_for(self, url):
        """(username, password) to send for url, or None (session.go: only when both are non-empty)."""
        c = self.credentials
        if c is None:
            return None
        user, pw = c.basic(url) if hasattr(c, "basic") else c
        return (user, pw) if user and pw else None

    @staticmethod
    def _basic(creds):
        user, pw = creds
        return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode("utf-8")).decode("ascii")

    def _token(self, params, scope):
        realm = params.get("realm")
        if not realm:
            raise RegistryError("InternalError", "registry %s sent a Bearer challenge without realm" % self.host)
        q = {}
        if params.get("service"):
            q["service"] = params["service"]
        q["scope"] = params.get("scope") or scope
        creds = self._creds_for(realm)     # session.go fetchTokenWithBasicAuth: th.creds.Basic(realm)
        if creds:
            q["account"] = creds[0]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(q)
        headers = {"User-Agent": self.user_agent}
        if creds:
            headers["Authorization"] = self._basic(creds)
        status, _, body = self._do("GET", url, headers)
        if status in (401, 403):
            raise RegistryError("Unauthorized", error_message(body, "unauthorized: authentication required"))
        if status != 200:
            raise RegistryError("InternalError", "token realm %s answered %d: %s"
                                % (realm, status, error_message(body, "")))
        try:
            doc = json.loads(body.decode("utf-8"))
            return doc.get("token") or doc["access_token"]
        except (ValueError, KeyError, TypeError):
            raise RegistryError("InternalError", "token realm %s sent no token" % realm)

    def request(self, method, path, accept=None, scope=None):
        url = "https://%s%s" % (self.host, path)
        headers = {"User-Agent": self.user_agent}
        if accept:
            headers["Accept"] = accept
        for attempt in range(2):
            if self.auth_header:
                headers["Authorization"] = self.auth_header
            status, resp, body = self._do(method, url, headers)
            if status != 401 or attempt == 1:
                break
            scheme, params = _parse_challenge(resp.getheader("WWW-Authenticate"))
            if scheme == "bearer":
                self.auth_header = "Bearer " + self._token(params, scope)
            elif scheme == "basic" and self._creds_for(url):
                # session.go basicHandler: creds.Basic(req.URL)
                self.auth_header = self._basic(self._creds_for(url))
            else:
                break
        return status, resp, body

    # -- API
    def manifest(self, repo, ref, _depth=0):
        """-> (digest, media_type, manifest_bytes); manifest lists resolve to linux/amd64 like OKD 3.11."""
        scope = "repository:%s:pull" % repo
        status, resp, body = self.request("GET", "/v2/%s/manifests/%s" % (repo, ref),
                                          accept=", ".join(IMPORT_ACCEPT), scope=scope)
        if status == 200:
            mt = (resp.getheader("Content-Type") or "").split(";")[0].strip()
            if mt not in IMPORT_ACCEPT:
                # 3.11's vendored distribution client knows no OCI types (UnmarshalManifest)
                raise RegistryError("InternalError", "unsupported manifest media type and no default available: "
                                    + mt)
            digest = resp.getheader("Docker-Content-Digest") or ("sha256:" + hashlib.sha256(body).hexdigest())
            if mt in LIST_TYPES and _depth == 0:
                try:
                    doc = json.loads(body.decode("utf-8"))
                    entries = doc.get("manifests") or []
                except ValueError:
                    entries = []
                pick = [m for m in entries if (m.get("platform") or {}).get("os") == "linux"
                        and (m.get("platform") or {}).get("architecture") == "amd64"] or entries
                if not pick:
                    raise RegistryError("NotFound", "manifest list %s@%s has no manifests" % (repo, digest))
                return self.manifest(repo, pick[0]["digest"], _depth=1)
            return digest, mt, body
        self._raise(status, body, "%s/%s:%s" % (self.host, repo, ref))

    def tags(self, repo):
        status, _, body = self.request("GET", "/v2/%s/tags/list" % repo, accept="application/json",
                                       scope="repository:%s:pull" % repo)
        if status == 200:
            try:
                return list(json.loads(body.decode("utf-8")).get("tags") or [])
            except ValueError:
                raise RegistryError("InternalError", "bad tag list from %s" % self.host)
        self._raise(status, body, "%s/%s" % (self.host, repo))

    def blob(self, repo, digest):
        status, _, body = self.request("GET", "/v2/%s/blobs/%s" % (repo, digest),
                                       scope="repository:%s:pull" % repo)
        if status == 200:
            return body
        self._raise(status, body, "%s/%s@%s" % (self.host, repo, digest))

    def _raise(self, status, body, what):
        if status == 401:
            raise RegistryError("Unauthorized", error_message(body, "unauthorized: authentication required"))
        if status == 403:
            raise RegistryError("Unauthorized", error_message(body, "denied: requested access to the resource is denied"))
        if status == 404:
            raise RegistryError("NotFound", error_message(body, "manifest unknown: %s not found" % what))
        raise RegistryError("InternalError", "registry %s answered %d for %s: %s"
                            % (self.host, status, what, error_message(body, "")))
