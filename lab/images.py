"""Small real container images for the lab registries: built with umoci, pushed with skopeo.

Images are single-layer OCI images kept in one OCI layout under ``lab.paths.images`` (a cache: an
image is rebuilt only when its definition changes). ``seed()`` pushes them to a lab registry (with a
token from its realm, or anonymously to the old registry, which has no auth) as
Docker v2 schema 2 manifests (what registry.redhat.io serves to OKD 3.11) and records the pushed
digests; on a later ``up`` an image whose tag already resolves to the recorded digest is skipped.

skopeo runs in a private mount namespace where ``/etc/hosts`` names the lab services (so seeding
needs neither the lab's ``/etc/hosts`` block nor the lab hosts) and ``/var/lib`` is an overlay with
a throw-away tmpfs upper layer (so its blob-info cache never lands in the machine's
``/var/lib/containers``, and parallel copies never share one).
"""
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

# registry -> [(repository, tag, labels)]
IMAGES = {
    "redhat": [
        ("openshift3/ose-pod", "v3.11", {"com.redhat.component": "openshift-enterprise-pod-container"}),
        ("openshift3/ose-docker-registry", "v3.11",
         {"com.redhat.component": "openshift-enterprise-docker-registry-container"}),
        ("rhel7/rhel", "7.9", {"com.redhat.component": "rhel-server-container"}),
        ("rhscl/httpd-24-rhel7", "latest", {"com.redhat.component": "httpd24-container"}),
        # what the `openshift` image streams of a 3.11 install import (lab/openshift_install.py)
        ("openshift3/jenkins-2-rhel7", "v3.11", {"com.redhat.component": "openshift-jenkins-2-container"}),
        ("rhscl/mariadb-102-rhel7", "latest", {"com.redhat.component": "rh-mariadb102-container"}),
        ("rhscl/mysql-57-rhel7", "latest", {"com.redhat.component": "rh-mysql57-container"}),
        ("rhscl/nodejs-8-rhel7", "latest", {"com.redhat.component": "rh-nodejs8-container"}),
        ("rhscl/perl-526-rhel7", "latest", {"com.redhat.component": "rh-perl526-container"}),
        ("rhscl/php-71-rhel7", "latest", {"com.redhat.component": "rh-php71-container"}),
        ("rhscl/postgresql-96-rhel7", "latest", {"com.redhat.component": "rh-postgresql96-container"}),
        ("rhscl/postgresql-10-rhel7", "latest", {"com.redhat.component": "rh-postgresql10-container"}),
        ("rhscl/python-27-rhel7", "latest", {"com.redhat.component": "python27-container"}),
        ("rhscl/python-36-rhel7", "latest", {"com.redhat.component": "rh-python36-container"}),
        ("rhscl/redis-32-rhel7", "latest", {"com.redhat.component": "rh-redis32-container"}),
        ("rhscl/ruby-25-rhel7", "latest", {"com.redhat.component": "rh-ruby25-container"}),
        ("rhscl/mongodb-34-rhel7", "latest", {"com.redhat.component": "rh-mongodb34-container"}),
        ("rhscl/mongodb-36-rhel7", "latest", {"com.redhat.component": "rh-mongodb36-container"}),
        ("rhscl/nginx-112-rhel7", "latest", {"com.redhat.component": "rh-nginx112-container"}),
    ],
    # the old registry (registry.access.redhat.com's stand-in): anonymous pulls, older content only - it
    # lacks rhscl/mongodb-36-rhel7 (lab/openshift_install.py)
    "redhat_access": [
        ("rhscl/mongodb-34-rhel7", "latest", {"com.redhat.component": "rh-mongodb34-container"}),
        ("rhscl/nginx-112-rhel7", "latest", {"com.redhat.component": "rh-nginx112-container"}),
    ],
    "quay": [
        ("laborg/hello", "1.0", {}),
        ("laborg/hello", "1.1", {}),
        ("laborg/hello", "latest", {}),
    ],
}

# bump to force a rebuild of every cached image
_BUILD_VERSION = 1

MANIFEST_ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


def refs(registry):
    return ["%s:%s" % (repo, tag) for repo, tag, _ in IMAGES[registry]]


def _slug(registry, repo, tag):
    return re.sub(r"[^A-Za-z0-9._-]", "_", "%s_%s_%s" % (registry, repo, tag))


def _spec(registry, repo, tag, labels):
    """Everything that defines an image's content; its hash decides whether the cache is valid."""
    lab_labels = {"name": repo, "version": tag, "release": "lab", "vendor": "okd-registry-toolkit lab",
                  "summary": "okd-registry-toolkit lab image %s:%s" % (repo, tag)}
    lab_labels.update(labels)
    files = {
        "usr/share/okd-lab/image.json": json.dumps(
            {"registry": registry, "repository": repo, "tag": tag}, sort_keys=True) + "\n",
        "etc/okd-lab-release": "okd-registry-toolkit lab image %s:%s\n" % (repo, tag),
    }
    return {"version": _BUILD_VERSION, "labels": lab_labels, "files": files,
            "cmd": ["/usr/bin/cat", "/etc/okd-lab-release"]}


def _run(argv, what, env=None):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env)
    if p.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (what, p.returncode,
                                                        p.stdout.decode("utf-8", "replace")[:3000]))
    return p.stdout.decode("utf-8", "replace")


def _layout(lab):
    return lab.paths.images / "oci"


def _index(layout):
    try:
        with open(str(layout / "index.json")) as f:
            idx = json.load(f)
    except (OSError, ValueError):
        return {}
    return {m.get("annotations", {}).get("org.opencontainers.image.ref.name"): m["digest"]
            for m in idx.get("manifests") or []}


_BUILD_LOCK = threading.Lock()


def build(lab, registry):
    """Build (or reuse from cache) the images of one registry. Returns {REPO:TAG: (layout, oci_tag,
    source manifest digest)}."""
    with _BUILD_LOCK:  # umoci on one layout is not concurrency-safe
        return _build(lab, registry)


def _build(lab, registry):
    lab.paths.images.mkdir(parents=True, exist_ok=True)
    layout = _layout(lab)
    built_file = lab.paths.images / "built.json"
    try:
        built = json.loads(built_file.read_text())
    except (OSError, ValueError):
        built = {}
    if not (layout / "index.json").exists():
        if layout.exists():
            shutil.rmtree(str(layout))
        _run(["umoci", "init", "--layout", str(layout)], "umoci init")
        built = {}
    index = _index(layout)
    out = {}
    changed = False
    for repo, tag, labels in IMAGES[registry]:
        slug = _slug(registry, repo, tag)
        spec = _spec(registry, repo, tag, labels)
        h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        if built.get(slug) != h or slug not in index:
            _build_one(layout, slug, spec, lab.paths.images)
            built[slug] = h
            changed = True
            index = _index(layout)
        out["%s:%s" % (repo, tag)] = (layout, slug, index[slug])
    if changed:
        _run(["umoci", "gc", "--layout", str(layout)], "umoci gc")
        tmp = built_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(built, indent=1, sort_keys=True))
        os.replace(str(tmp), str(built_file))
    return out


def _build_one(layout, slug, spec, workdir):
    image = "%s:%s" % (layout, slug)
    src = tempfile.mkdtemp(prefix="rootfs-", dir=str(workdir))
    try:
        for rel, content in spec["files"].items():
            p = os.path.join(src, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(content)
            os.chmod(p, 0o644)
        _run(["umoci", "new", "--image", image], "umoci new " + slug)
        _run(["umoci", "insert", "--image", image, src, "/"], "umoci insert " + slug)
        argv = ["umoci", "config", "--image", image, "--os", "linux", "--architecture", "amd64",
                "--author", "okd-registry-toolkit lab"]
        for c in spec["cmd"]:
            argv += ["--config.cmd", c]
        for k, v in sorted(spec["labels"].items()):
            argv += ["--config.label", "%s=%s" % (k, v)]
        _run(argv, "umoci config " + slug)
    finally:
        shutil.rmtree(src, ignore_errors=True)


# --- talking to a lab registry from the machine (no /etc/hosts needed) -----------------------

class _Conn(http.client.HTTPSConnection):
    """HTTPS to a lab service by name, connecting to the gateway address (SNI/verification by name)."""

    def __init__(self, name, port, address, context, timeout=15):
        http.client.HTTPSConnection.__init__(self, name, port, context=context, timeout=timeout)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def https_request(address, hostport, ca_file, method, path, headers=None, body=None):
    """(status, headers dict (lower-case keys), body bytes) of one request to NAME:PORT at address."""
    name, _, port = hostport.rpartition(":")
    ctx = ssl.create_default_context(cafile=str(ca_file))
    c = _Conn(name, int(port), address, ctx)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def fetch_token(address, realm_host, realm_path, ca_file, service, scopes, username=None, password=None):
    """Ask a token realm for a bearer token; returns (status, json body or None)."""
    q = [("service", service)] + [("scope", s) for s in scopes]
    headers = {}
    if username is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(
            ("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")
    status, _, data = https_request(address, realm_host, ca_file, "GET",
                                    realm_path + "?" + urlencode(q), headers)
    try:
        return status, json.loads(data.decode("utf-8"))
    except ValueError:
        return status, None


def remote_digest(address, registry_host, ca_file, token, repo, tag):
    """The digest a registry serves for REPO:TAG (token None: anonymous), or None."""
    headers = {"Accept": MANIFEST_ACCEPT}
    if token:
        headers["Authorization"] = "Bearer " + token
    status, headers, _ = https_request(address, registry_host, ca_file, "HEAD",
                                       "/v2/%s/manifests/%s" % (repo, tag), headers)
    if status != 200:
        return None
    return headers.get("docker-content-digest")


# --- skopeo -----------------------------------------------------------------------------------

_SANDBOX = r'''set -e
mount --bind "$1" /etc/hosts
mount -t tmpfs -o size=256m,mode=0700 lab-skopeo "$2"
mkdir "$2/upper" "$2/work"
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$2/upper,workdir=$2/work" /var/lib
shift 2
exec "$@"
'''


def skopeo_argv(lab, hosts_file, argv):
    """Wrap a skopeo command so it runs with a private /etc/hosts and a private, throw-away /var/lib
    (an overlay whose upper layer is a tmpfs that exists only in the command's mount namespace:
    parallel runs share nothing and nothing is left behind)."""
    scratch = lab.paths.registries / ".skopeo" / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    return (["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _SANDBOX, "sh",
             str(hosts_file), str(scratch)] + list(argv))


def write_hosts_file(lab):
    """An /etc/hosts for the skopeo sandbox: the lab service names at the gateway address."""
    p = lab.paths.registries / ".skopeo" / "hosts"
    p.parent.mkdir(parents=True, exist_ok=True)
    lines = ["127.0.0.1 localhost", "::1 localhost"]
    names = sorted(set(lab.names.values()))
    lines.append("%s %s" % (lab.gateway, " ".join(names)))
    p.write_text("\n".join(lines) + "\n")
    return p


def write_authfile(path, registry_host, username, password):
    auth = base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")
    fd = os.open(str(path) + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"auths": {registry_host: {"auth": auth}}}, f)
    os.replace(str(path) + ".tmp", str(path))
    return path


def seed(lab, registry, reg):
    """Push the registry's images unless already there with the recorded digest.

    reg: {"host", "realm_host", "realm_path", "service", "ca_file", "cert_dir", "dir",
          "pusher": (username, password)}; without "realm_host"/"pusher" the registry is used anonymously.
    Returns {REPO:TAG: digest}.
    """
    images = build(lab, registry)
    rdir = reg["dir"]
    digests_file = rdir / "digests.json"
    try:
        recorded = json.loads(digests_file.read_text())
    except (OSError, ValueError):
        recorded = {}
    user, pw = reg.get("pusher") or (None, None)
    repos = sorted(set(ref.rsplit(":", 1)[0] for ref in images))
    token = None
    if reg.get("realm_host"):
        status, body = fetch_token(lab.gateway, reg["realm_host"], reg["realm_path"], reg["ca_file"],
                                   reg["service"], ["repository:%s:pull" % r for r in repos], user, pw)
        if status != 200 or not body:
            raise RuntimeError("%s: seeding account %s cannot get a token from %s (HTTP %s)"
                               % (registry, user, reg["realm_host"], status))
        token = body["token"]
    todo = []
    result = {}
    for ref, (layout, slug, source) in sorted(images.items()):
        repo, tag = ref.rsplit(":", 1)
        rec = recorded.get(ref) or {}
        if rec.get("source") == source and rec.get("digest") and \
                remote_digest(lab.gateway, reg["host"], reg["ca_file"], token, repo, tag) == rec["digest"]:
            result[ref] = rec["digest"]
        else:
            todo.append((ref, layout, slug, source))
    if todo:
        hosts_file = write_hosts_file(lab)
        # a registry without auth (the old registry) is pushed to anonymously: an authfile with no entry
        authfile = write_authfile(rdir / "seed-auth.json", reg["host"], user, pw) if user else None
        if authfile is None:
            authfile = rdir / "seed-auth.json"
            authfile.write_text(json.dumps({"auths": {}}))
        policy = rdir / "policy.json"
        policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        regd = lab.paths.registries / ".skopeo" / "registries.d"   # empty: no signature storage
        tmpdir = lab.paths.registries / ".skopeo" / "tmp"
        regd.mkdir(parents=True, exist_ok=True)
        tmpdir.mkdir(parents=True, exist_ok=True)

        def push(item):
            ref, layout, slug, source = item
            digestfile = rdir / (".digest-" + _slug(registry, *ref.rsplit(":", 1)))
            argv = skopeo_argv(lab, hosts_file, [
                "skopeo", "--policy", str(policy), "--registries.d", str(regd), "--tmpdir", str(tmpdir),
                "copy", "--quiet", "--retry-times", "2", "--format", "v2s2",
                "--authfile", str(authfile), "--dest-cert-dir", str(reg["cert_dir"]),
                "--digestfile", str(digestfile),
                "oci:%s:%s" % (layout, slug), "docker://%s/%s" % (reg["host"], ref)])
            _run(argv, "skopeo copy to %s/%s" % (reg["host"], ref))
            digest = digestfile.read_text().strip()
            digestfile.unlink()
            return ref, source, digest

        try:
            with ThreadPoolExecutor(max_workers=4) as pool:
                for ref, source, digest in pool.map(push, todo):
                    recorded[ref] = {"source": source, "digest": digest}
                    result[ref] = digest
        finally:
            try:
                authfile.unlink()
            except OSError:
                pass
            tmp = digests_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(recorded, indent=1, sort_keys=True))
            os.replace(str(tmp), str(digests_file))
    return result
