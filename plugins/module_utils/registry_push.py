# -*- coding: utf-8 -*-
# okd-registry-toolkit core: a tiny generated image, pushed and pulled with the Docker Registry HTTP API v2.
# Stdlib only, Python 2.7 and 3.6+; all I/O goes through the caller's transport.
"""Push a tiny generated image to a registry and pull it back (the integrated registry's smoke check).

No docker or skopeo is needed on the machine running it: the image is made in memory (one gzip'd tar layer
with one file, a config, a Docker schema 2 manifest: what OKD 3.11 stores and imports) and sent with the v2
API's monolithic blob upload (``POST /v2/<name>/blobs/uploads/`` then ``PUT <location>&digest=...``) and a
manifest ``PUT`` by tag, which is what makes the OpenShift registry create the ImageStreamMapping
(openshift/image-registry release-3.11 pkg/dockerregistry/server/manifestservice.go Put).

Authentication: the OpenShift registry takes an OKD API token as the password of Basic auth on every
request (release-3.11 pkg/dockerregistry/server/auth.go getOpenShiftAPIToken), like ``docker login -u ANY -p
TOKEN``; a registry that answers only to a Bearer token gets one from its realm (``/openshift/token`` on
3.11) with the same credentials.

``transport(method, url, headers, body=None) -> (status, headers, body)`` is
``http_transport.make_urllib_transport`` (or a fake in tests). Errors raise ToolkitError with the registry's
own message (v2auth.explain_error), never a credential.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import hashlib
import io
import json
import tarfile

# relative, like the rest of the core: one ToolkitError class whichever package path imported the core
from .errors import ToolkitError
from . import v2auth

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tiny_image(label):
    """A one-layer image whose single file /okd-smoke.txt holds ``label`` (text): the same label gives the
    same bytes (fixed times, owner and mode). Returns {"config", "layer", "manifest" (bytes), "digest" (of the
    manifest), "config_digest", "layer_digest"}."""
    if not isinstance(label, bytes):
        label = label.encode("utf-8")
    tar_buf = io.BytesIO()
    tar = tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.USTAR_FORMAT)
    info = tarfile.TarInfo("okd-smoke.txt")
    info.size, info.mtime, info.mode, info.uid, info.gid = len(label), 0, 0o644, 0, 0
    tar.addfile(info, io.BytesIO(label))
    tar.close()
    tar_bytes = tar_buf.getvalue()
    gz_buf = io.BytesIO()
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=gz_buf, mtime=0)
    gz.write(tar_bytes)
    gz.close()
    layer = gz_buf.getvalue()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Cmd": ["/okd-smoke.txt"], "Labels": {"io.okd-registry-toolkit.smoke": "true"}},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar_bytes)]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "okd-registry-toolkit smoke check"}],
    }, sort_keys=True, separators=(",", ":")).encode("utf-8")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_V2,
        "config": {"mediaType": CONFIG_V1, "size": len(config), "digest": sha256_digest(config)},
        "layers": [{"mediaType": LAYER_GZIP, "size": len(layer), "digest": sha256_digest(layer)}],
    }, sort_keys=True, indent=3).encode("utf-8")
    return {"config": config, "layer": layer, "manifest": manifest, "digest": sha256_digest(manifest),
            "config_digest": sha256_digest(config), "layer_digest": sha256_digest(layer)}


class Client(object):
    """v2 requests to one registry as one user (Basic with the token as password; Bearer when asked)."""

    def __init__(self, transport, registry, username=None, password=None):
        self.transport = transport
        self.registry = registry
        self.base = v2auth.registry_base_url(registry)
        self.username = username or "okd-smoke"
        self.password = password
        self.auth = None
        if password:
            self.auth = "Basic " + v2auth.make_auth(self.username, password)

    def _url(self, path_or_url):
        if path_or_url.startswith("http://") or path_or_url.startswith("https://"):
            return path_or_url
        return self.base.rstrip("/") + "/" + path_or_url.lstrip("/")

    def request(self, method, path, headers=None, body=None, what=None, ok=(200,)):
        """One request; a Bearer challenge is answered once from its realm. Returns (status, headers, body)
        for a status in ``ok``, else raises ToolkitError with the registry's message."""
        hdrs = dict(headers or {})
        for attempt in (0, 1):
            if self.auth:
                hdrs["Authorization"] = self.auth
            try:
                status, rh, rbody = self.transport(method, self._url(path), hdrs, body)
            except ToolkitError as e:
                msg = e.msg if self.registry in e.msg else "%s: %s" % (self.registry, e.msg)
                raise ToolkitError(msg, retryable=e.retryable, status=e.status)
            rh = dict((str(k).lower(), v) for k, v in (rh or {}).items())
            if status in ok:
                return status, rh, rbody or b""
            challenge = rh.get("www-authenticate") or ""
            if status == 401 and attempt == 0 and challenge.lower().startswith("bearer") and self.password:
                params = dict(([p for s, p in v2auth.parse_challenge(challenge) if s == "bearer"] or [{}])[0])
                url, th = v2auth.token_request(params, self.username, self.password, registry=self.registry)
                answer = self.transport("GET", url, th, None)
                self.auth = "Bearer " + v2auth.parse_token_response(answer[0], answer[2])
                continue
            what = what or "%s %s" % (method, path)
            raise ToolkitError(v2auth.explain_error(status, rbody, "%s: %s" % (self.registry, what)), status=status)
        raise ToolkitError("%s: %s: still refused after the token exchange" % (self.registry, what))  # pragma: no cover

    def login(self):
        """GET /v2/ with the credentials (docker login). Returns the registry's API version header."""
        rh = self.request("GET", "/v2/", what="login (GET /v2/)")[1]
        return rh.get("docker-distribution-api-version")

    def push_blob(self, repository, data, digest):
        """Upload one blob unless the registry has it (HEAD 200). Returns True when uploaded."""
        status = self.request("HEAD", "/v2/%s/blobs/%s" % (repository, digest), ok=(200, 404),
                              what="blob %s" % digest)[0]
        if status == 200:
            return False
        rh = self.request("POST", "/v2/%s/blobs/uploads/" % repository, body=b"", ok=(202,),
                          headers={"Content-Length": "0"}, what="start of the upload of %s" % digest)[1]
        location = rh.get("location")
        if not location:
            raise ToolkitError("%s: the upload of %s got no Location" % (self.registry, digest))
        location = location + ("&" if "?" in location else "?") + "digest=" + digest
        self.request("PUT", location, body=data, ok=(201,), what="upload of %s" % digest,
                     headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        return True

    def push_image(self, repository, tag, image):
        """Blobs, then the manifest by tag. Returns the digest the registry reports (Docker-Content-Digest)."""
        self.push_blob(repository, image["layer"], image["layer_digest"])
        self.push_blob(repository, image["config"], image["config_digest"])
        rh = self.request("PUT", "/v2/%s/manifests/%s" % (repository, tag), body=image["manifest"], ok=(201,),
                          headers={"Content-Type": MANIFEST_V2, "Content-Length": str(len(image["manifest"]))},
                          what="manifest %s:%s" % (repository, tag))[1]
        digest = rh.get("docker-content-digest") or image["digest"]
        if digest != image["digest"]:
            raise ToolkitError("%s: the registry stored the manifest of %s:%s as %s, not %s"
                               % (self.registry, repository, tag, digest, image["digest"]))
        return digest

    def pull_image(self, repository, reference):
        """GET the manifest (schema 2) and every blob it names, each checked against its digest (what a pull
        does). Returns {"digest", "layers", "bytes"}."""
        body = self.request("GET", "/v2/%s/manifests/%s" % (repository, reference),
                            headers={"Accept": MANIFEST_V2}, what="manifest %s@%s" % (repository, reference))[2]
        digest = sha256_digest(body)
        if reference.startswith("sha256:") and digest != reference:
            raise ToolkitError("%s: manifest %s@%s has digest %s" % (self.registry, repository, reference, digest))
        try:
            manifest = json.loads(body.decode("utf-8"))
        except ValueError:
            raise ToolkitError("%s: manifest %s@%s is not JSON" % (self.registry, repository, reference))
        blobs = [manifest.get("config") or {}] + list(manifest.get("layers") or [])
        total = 0
        for blob in blobs:
            want = blob.get("digest") or ""
            data = self.request("GET", "/v2/%s/blobs/%s" % (repository, want), what="blob %s" % want)[2]
            if sha256_digest(data) != want:
                raise ToolkitError("%s: blob %s of %s does not match its digest" % (self.registry, want, repository))
            total += len(data)
        return {"digest": digest, "layers": len(blobs) - 1, "bytes": total}
