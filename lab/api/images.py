"""Image-stream import logic of the API stand-in, modelled on OKD 3.11's importer.

Credentials come from the `kubernetes.io/dockerconfigjson` and legacy `kubernetes.io/dockercfg`
secrets of the stream's namespace whose registry key matches the registry host; the registry is
contacted with the lab's own v2 client (v2client.py)."""
import base64
import functools
import json
import re
import threading
import time
import urllib.parse

from . import v2client

DOCKERCFG_TYPES = ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg")


def _b64(s):
    try:
        return base64.b64decode(s).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def _key_host(key):
    """Normalise a docker config key ('https://quay.lab.test:5445/v1/', 'quay.lab.test:5445') to
    'host[:port]' (lower case)."""
    k = key.strip()
    if "://" in k:
        k = urllib.parse.urlsplit(k).netloc
    else:
        k = k.split("/", 1)[0]
    return k.lower()


def dockercfg_entries(secret):
    """{key: entry} of a dockerconfigjson / dockercfg secret (empty if malformed)."""
    data = secret.get("data") or {}
    if secret.get("type") == "kubernetes.io/dockerconfigjson":
        raw = _b64(data.get(".dockerconfigjson", ""))
        try:
            doc = json.loads(raw) if raw else {}
            auths = doc.get("auths") if isinstance(doc, dict) else None
        except ValueError:
            auths = None
    elif secret.get("type") == "kubernetes.io/dockercfg":
        raw = _b64(data.get(".dockercfg", ""))
        try:
            auths = json.loads(raw) if raw else None
        except ValueError:
            auths = None
    else:
        auths = None
    return auths if isinstance(auths, dict) else {}


def credentials_for(secrets, host):
    """The one credential 3.11's importer would use for host -> [(username, password)] or [].

    origin pkg/image/importer/credentials.go: the secrets (imagestreams/NAME/secrets, in name order) are
    added to one BasicDockerKeyring whose index is sorted in reverse (vendored k8s credentialprovider
    keyring.go); basicCredentialsFromKeyring returns only configs[0] of the first matching key, matching
    the port exactly (a canonical :443 is retried without it). There is no second try with another
    credential and no anonymous retry after a credential failed.
    Deviation: 3.11's token flow asks for the credential of the realm URL (distribution session.go
    Basic(realm)); the stand-in asks for the registry host (see docs/lab-api.md)."""
    creds = {}
    for s in sorted(secrets, key=lambda s: s["metadata"]["name"]):
        for key, entry in sorted(dockercfg_entries(s).items()):
            if not isinstance(entry, dict):
                continue
            user, pw = entry.get("username"), entry.get("password")
            if entry.get("auth"):
                dec = _b64(entry["auth"])
                if dec and ":" in dec:
                    user, pw = dec.split(":", 1)
            if user is not None and pw is not None:
                creds.setdefault(_key_host(key), []).append((user, pw))
    target = host.lower()
    for candidate in (target, target[:-4] if target.endswith(":443") else None):
        if candidate is None:
            continue
        for key in sorted(creds, reverse=True):
            if key == candidate:
                return [creds[key][0]]
    return []


class TokenBucket(object):
    """flowcontrol.NewTokenBucketRateLimiter(qps, burst): what 3.11 gives every ImageStreamImport request
    (origin pkg/image/apiserver/apiserver.go: `flowcontrol.NewTokenBucketRateLimiter(2.0, 3)`); the importer
    calls Accept() before each manifest it fetches (pkg/image/importer/importer.go
    importRepositoryFromDocker)."""

    def __init__(self, qps=2.0, burst=3, clock=time.monotonic, sleep=time.sleep):
        self.qps = float(qps)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.sleep = sleep
        self.last = clock()
        self.lock = threading.Lock()

    def accept(self):
        with self.lock:
            while True:
                t = self.clock()
                self.tokens = min(self.burst, self.tokens + (t - self.last) * self.qps)
                self.last = t
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                self.sleep((1.0 - self.tokens) / self.qps)


def exact(host, repo, tag=None, digest=None):
    """imageapi.DockerImageReference.Exact(): HOST/REPO[:TAG][@DIGEST]."""
    out = "%s/%s" % (host, repo)
    if tag:
        out += ":" + tag
    if digest:
        out += "@" + digest
    return out


def format_error(err, ref_exact):
    """A registry error as 3.11 reports it (origin pkg/image/importer/importer.go formatRepositoryError and
    imageImportStatus): manifest/name unknown -> NotFound `dockerimage.image.openshift.io "REF" not found`;
    an unauthorized answer (registry or token realm) -> Unauthorized `you may not have access to the Docker
    image "REF"`; anything else (TLS, connection, 403 denied, 5xx) -> the error itself as
    kapierrors.NewInternalError: `Internal error occurred: ...`. The registry's own text is not kept."""
    if err.reason == "NotFound":
        return {"ok": False, "reason": "NotFound", "code": 404,
                "message": 'dockerimage.image.openshift.io "%s" not found' % ref_exact}
    if err.reason == "Unauthorized":
        return {"ok": False, "reason": "Unauthorized", "code": 401,
                "message": 'you may not have access to the Docker image "%s"' % ref_exact}
    return {"ok": False, "reason": "InternalError", "code": 500, "message": "Internal error occurred: " + err.message}


def _resolve(ref, secrets, ca_file, timeout, limiter, agent=None, insecure=False):
    """One DockerImage reference -> result dict (see import_images)."""
    try:
        host, repo, tag, digest = v2client.parse_reference(ref)
        v2client.check_lab_host(host)
    except v2client.RegistryError as e:
        return {"ok": False, "reason": "InternalError", "code": 500, "message": "Internal error occurred: " + e.message}
    ref_exact = exact(host, repo, None if digest else tag, digest)
    creds = credentials_for(secrets, host) or [None]
    failure = None
    for cred in creds:
        try:
            if limiter is not None:
                limiter.accept()
            c = v2client.Client(host, ca_file=ca_file, credentials=cred, timeout=timeout, agent=agent,
                                insecure=insecure)
            dg, mt, _ = c.manifest(repo, digest or tag)
            return {"ok": True, "digest": dg, "reference": "%s/%s@%s" % (host, repo, dg), "mediaType": mt,
                    "host": host, "repo": repo, "tag": None if digest else tag}
        except v2client.RegistryError as e:
            if failure is None or (cred is not None and failure.get("anonymous")):
                failure = dict(format_error(e, ref_exact), anonymous=cred is None)
            if e.reason != "Unauthorized":
                break
    failure.pop("anonymous", None)
    return failure


def import_images(refs, secrets, ca_file, timeout=15.0, limiter=None, agent=None, insecure=False, cache=None):
    """Resolve DockerImage references one after another, as 3.11's importer does (importImages /
    importRepositoryFromDocker fetch the manifests sequentially, each after limiter.Accept()); a
    reference named twice is fetched once. -> [result] in the order of refs: {"ok": True, "digest",
    "reference" (HOST/REPO@DIGEST), "mediaType", "host", "repo", "tag" (the source tag, None for a
    digest)} or {"ok": False, "reason", "code", "message"} (3.11's texts, format_error)."""
    cache = {} if cache is None else cache     # one per request (importer.go's per-context image cache)
    out = []
    for ref in refs:
        if (ref, insecure) not in cache:
            cache[(ref, insecure)] = _resolve(ref, secrets, ca_file, timeout, limiter, agent, insecure)
        out.append(dict(cache[(ref, insecure)]))
    return out


def import_reference(ref, secrets, ca_file, timeout=15.0):
    """One reference (no rate limit): import_images([ref])[0]."""
    return import_images([ref], secrets, ca_file, timeout)[0]


def list_tags(ref, secrets, ca_file, timeout=15.0, agent=None, insecure=False):
    """Tags of repository 'HOST/REPO' -> (host, repo, [tags]) or raises RegistryError with 3.11's
    reason and text (format_error of HOST/REPO)."""
    try:
        host, repo, _, _ = v2client.parse_reference(ref)
        v2client.check_lab_host(host)
    except v2client.RegistryError as e:
        raise v2client.RegistryError("InternalError", "Internal error occurred: " + e.message)
    creds = credentials_for(secrets, host) or [None]
    err = None
    for cred in creds:
        try:
            return host, repo, v2client.Client(host, ca_file=ca_file, credentials=cred, timeout=timeout,
                                               agent=agent, insecure=insecure).tags(repo)
        except v2client.RegistryError as e:
            err = err or e
            if e.reason != "Unauthorized":
                break
    f = format_error(err, exact(host, repo))
    raise v2client.RegistryError(f["reason"], f["message"])


def status_generation(entry):
    """The generation the status of one tag was last computed for (items or conditions)."""
    gens = [0]
    for it in (entry.get("items") or [])[:1]:
        gens.append(int(it.get("generation") or 0))
    for c in entry.get("conditions") or []:
        gens.append(int(c.get("generation") or 0))
    return max(gens)


def find_tag(tags, name, field):
    for t in tags or []:
        if t.get(field) == name:
            return t
    return None


def set_tag_status(stream, tag, result, generation, now):
    """Record an import result for one tag in stream['status']['tags']; return True if it changed."""
    status = stream.setdefault("status", {})
    tags = status.get("tags") or []
    status["tags"] = tags
    entry = find_tag(tags, tag, "tag")
    if entry is None:
        entry = {"tag": tag, "items": None}
        tags.append(entry)
        changed = True
    else:
        changed = False
    if result["ok"]:
        items = entry.get("items") or []
        first = items[0] if items else None
        if first and first.get("image") == result["digest"] \
                and first.get("dockerImageReference") == result["reference"]:
            if int(first.get("generation") or 0) != generation:
                first["generation"] = generation
                changed = True
        else:
            items.insert(0, {"created": now, "dockerImageReference": result["reference"],
                             "image": result["digest"], "generation": generation})
            changed = True
        entry["items"] = items
        if entry.get("conditions"):
            entry.pop("conditions")
            changed = True
    else:
        cond = {"type": "ImportSuccess", "status": "False", "reason": result["reason"],
                "message": result["message"], "generation": generation, "lastTransitionTime": now}
        old = (entry.get("conditions") or [None])[0]
        same = old and all(old.get(k) == cond[k] for k in ("type", "status", "reason", "message", "generation"))
        if not same:
            entry["conditions"] = [cond]
            changed = True
    tags.sort(key=lambda t: t.get("tag") or "")
    return changed


def image_object(result, now, uid, rv):
    """A cluster-scoped image.openshift.io Image for an imported/pushed digest."""
    return {"kind": "Image", "apiVersion": "image.openshift.io/v1",
            "metadata": {"name": result["digest"], "uid": uid, "resourceVersion": rv, "creationTimestamp": now,
                         "selfLink": "/apis/image.openshift.io/v1/images/" + result["digest"],
                         "annotations": {"image.openshift.io/dockerLayersOrder": "ascending"}},
            "dockerImageReference": result["reference"],
            "dockerImageManifestMediaType": result.get("mediaType") or v2client.MANIFEST_V2,
            "dockerImageMetadata": {"kind": "DockerImage", "apiVersion": "1.0", "Id": result["digest"],
                                    "Created": now},
            "dockerImageMetadataVersion": "1.0", "dockerImageLayers": []}


# ---------------------------------------------------------------------------------------------------
# Tag order of a repository import (OKD 3.11 imageapi.PrioritizeTags): the first N tags of this order are
# imported, the rest are reported as status.repository.additionalTags.
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                     r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$")
_MINOR = re.compile(r"^\d+\.\d+$")
_MINOR_WITH_PATCH = re.compile(r"^(\d+\.\d+)-\w+$")
_PRIO_LATEST, _PRIO_MINOR, _PRIO_FULL, _PRIO_OTHER = range(4)


def _semver(text):
    """blang/semver Parse: (major, minor, patch, [prerelease ids]) or None."""
    m = _SEMVER.match(text)
    if not m:
        return None
    pre = m.group(4).split(".") if m.group(4) else []
    for p in pre:
        if p.isdigit() and len(p) > 1 and p[0] == "0":
            return None  # numeric pre-release identifiers have no leading zeros
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), pre


def _semver_cmp(a, b):
    if a[:3] != b[:3]:
        return -1 if a[:3] < b[:3] else 1
    pa, pb = a[3], b[3]
    if not pa or not pb:
        return (len(pb) > 0) - (len(pa) > 0)   # a version without pre-release is the greater one
    for x, y in zip(pa, pb):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1     # numeric identifiers sort before alphanumeric ones
        return -1 if x < y else 1
    return (len(pa) > len(pb)) - (len(pa) < len(pb))


def _prioritized(tag):
    """(priority, semver, prefix) of one tag, like 3.11's prioritizeTag."""
    if tag == "latest":
        return _PRIO_LATEST, None, ""
    prefix, short = ("v", tag[1:]) if tag.startswith("v") else ("", tag)
    v = _semver(short)
    if v is not None:
        return _PRIO_FULL, v, prefix
    if _MINOR.match(short):
        v = _semver(short + ".0")
        if v is not None:
            return _PRIO_MINOR, v, prefix
    m = _MINOR_WITH_PATCH.match(short)
    if m:
        v = _semver(short.replace(m.group(1), m.group(1) + ".0", 1))
        if v is not None:
            return _PRIO_MINOR, v, prefix
    return _PRIO_OTHER, None, prefix


def prioritize_tags(tags):
    """OKD 3.11's order: `latest`, then minor versions (5.1, v5.1, 5.1-rc1) newest first, then full
    semantic versions (5.1.3, v5.1.3-x) newest first, then the rest in lexicographic order."""
    def cmp(a, b):
        pa, pb = _prioritized(a), _prioritized(b)
        if pa[0] != pb[0]:
            return -1 if pa[0] < pb[0] else 1
        if pa[0] == _PRIO_OTHER or pa[0] == _PRIO_LATEST:
            return (a > b) - (a < b)
        c = _semver_cmp(pa[1], pb[1])
        if c:
            return -c                            # the newer version first
        return (pa[2] > pb[2]) - (pa[2] < pb[2])
    return sorted(tags, key=functools.cmp_to_key(cmp))
