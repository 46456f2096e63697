"""Image-stream import logic of the API stand-in, modelled on OKD 3.11's importer.

Credentials come from the `kubernetes.io/dockerconfigjson` and legacy `kubernetes.io/dockercfg`
secrets of the stream's namespace, looked up as 3.11 does (SecretKeyring: by the token realm's URL, first
match only); the registry is contacted with the lab's own v2 client (v2client.py)."""
import base64
import fnmatch
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


def _entry_credentials(entry):
    """(username, password) of one config entry as the vendored kubernetes 1.11 credentialprovider
    decodes it (config.go DockerConfigEntry.UnmarshalJSON: ``auth`` wins over username/password); empty
    strings when absent. None when ``auth`` does not decode (see SecretKeyring)."""
    user, pw = entry.get("username") or "", entry.get("password") or ""
    if entry.get("auth"):
        dec = _b64(entry["auth"])
        if not dec or ":" not in dec:
            return None
        user, pw = dec.split(":", 1)
    return str(user), str(pw)


def _split_host_port(host):
    """Go net.SplitHostPort as keyring.go splitUrl uses it: ('host', 'port'), or (host, '') without a port."""
    if host.startswith("["):
        h, _, rest = host[1:].partition("]")
        return h, rest[1:] if rest.startswith(":") else ""
    if host.count(":") == 1:
        h, port = host.split(":")
        return h, port
    return host, ""


def urls_match(glob, target):
    """vendored kubernetes 1.11 pkg/credentialprovider/keyring.go urlsMatchStr/urlsMatch: both are schemeless
    'host[:port][/path]'; the ports must be equal (no port matches only no port), the host names have the same
    number of dot-separated parts, each matching the glob's part (filepath.Match: '*.lab.test'), and the
    target's path starts with the glob's path (a plain string prefix)."""
    g, t = urllib.parse.urlsplit("https://" + glob), urllib.parse.urlsplit("https://" + target)
    (ghost, gport), (thost, tport) = _split_host_port(g.netloc), _split_host_port(t.netloc)
    if gport != tport:
        return False
    gparts, tparts = ghost.split("."), thost.split(".")
    if len(gparts) != len(tparts):
        return False
    if not t.path.startswith(g.path):
        return False
    return all(fnmatch.fnmatchcase(tp, gp) for gp, tp in zip(gparts, tparts))


def keyring_key(loc):
    """The index key keyring.go BasicDockerKeyring.Add makes of a config key: 'https://' is put in front of a
    key without scheme, the scheme is dropped, a path starting /v1/ or /v2/ loses that prefix, and a path
    of '' or '/' is no path: 'https://quay.io/v1/' -> 'quay.io', 'reg:5000/team' -> 'reg:5000/team'."""
    value = loc if loc.startswith(("https://", "http://")) else "https://" + loc
    u = urllib.parse.urlsplit(value)
    path = u.path
    if path.startswith("/v2/") or path.startswith("/v1/"):
        path = path[3:]
    return u.netloc + path if path and path != "/" else u.netloc


class SecretKeyring(object):
    """What OKD 3.11's import uses to find credentials: origin pkg/image/importer/credentials.go
    SecretCredentialStore over credentialprovider.MakeDockerKeyring(secrets) (vendored kubernetes 1.11
    keyring.go). The secrets come in the order imagestreams/NAME/secrets lists them (name order); every
    config key is indexed (keyring_key), each key's credentials in the order of the secrets, and the index is
    sorted in reverse (longer, more specific keys first). Lookup(target) collects the credentials of every
    matching key in index order; the importer takes only the first of them (configs[0]).

    Deviation: in 3.11 a secret whose JSON or ``auth`` field does not decode makes MakeDockerKeyring fail,
    and then no secret is used at all (rest.go then prefixes access errors with "Unable to load secrets");
    here such an entry or secret is skipped on its own."""

    def __init__(self, secrets):
        self.creds = {}
        for s in secrets:
            for loc, entry in sorted(dockercfg_entries(s).items()):
                if not isinstance(entry, dict):
                    continue
                cred = _entry_credentials(entry)
                if cred is None:
                    continue
                self.creds.setdefault(keyring_key(loc), []).append(cred)
        self.index = sorted(self.creds, reverse=True)

    def lookup(self, image):
        """keyring.go BasicDockerKeyring.Lookup -> [(username, password)] (possibly empty strings)."""
        out = []
        for k in self.index:
            if urls_match(k, image):
                out.extend(self.creds[k])
        if not out and _is_default_registry_match(image) and "index.docker.io" in self.creds:
            out = list(self.creds["index.docker.io"])
        return out

    def basic(self, url):
        """credentials.go basicCredentialsFromKeyring(keyring, target) -> (username, password), ("", "") when
        nothing matches. ``url`` is what distribution's auth asks for: the token realm URL (session.go
        tokenHandler.fetchTokenWithBasicAuth: creds.Basic(realm)) or, for a Basic challenge, the request URL."""
        u = urllib.parse.urlsplit(url)
        return _basic_from_keyring(self, u.scheme, u.netloc, u.path)


def _is_default_registry_match(image):
    """keyring.go isDefaultRegistryMatch (Docker Hub images)."""
    parts = image.split("/", 1)
    if not parts[0]:
        return False
    if len(parts) == 1:
        return True
    if parts[0] in ("docker.io", "index.docker.io"):
        return True
    return not any(c in parts[0] for c in ".:")


def _basic_from_keyring(keyring, scheme, host, path):
    """origin release-3.11 pkg/image/importer/credentials.go basicCredentialsFromKeyring."""
    if not scheme or scheme == "https":
        value = host + path
    else:
        # always require an explicit port to look up HTTP credentials
        value = host + path if ":" in host else host + ":80" + path
    # the keyring strips /v1/ and /v2/ version prefixes, so this does too
    if (path + "/").startswith("/v1/") or (path + "/").startswith("/v2/"):
        value = host + path[3:]
    configs = keyring.lookup(value)
    if not configs:
        # the docker.io legacy special cases
        if value == "auth.docker.io/token":
            return _basic_from_keyring(keyring, "", "index.docker.io", "/v1")
        if value == "index.docker.io":
            return _basic_from_keyring(keyring, "", "docker.io", "")
        # try without the canonical port
        if (host.endswith(":443") and scheme == "https") or (host.endswith(":80") and scheme == "http"):
            return _basic_from_keyring(keyring, scheme, host.split(":", 1)[0], path)
        return "", ""
    return configs[0]


def credentials_for(secrets, host):
    """[(username, password)] the first-match rule picks for a Basic lookup of ``https://HOST/v2/`` (the
    registry itself), or []. Kept for callers that ask about a registry host; imports ask SecretKeyring.basic
    with the realm URL."""
    user, pw = SecretKeyring(secrets).basic("https://%s/v2/" % host)
    return [(user, pw)] if user and pw else []


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
    # one attempt with the namespace's keyring: the credential is chosen per URL the registry's auth asks
    # about (the realm's), first match only; no second credential and no anonymous retry after a failure
    try:
        if limiter is not None:
            limiter.accept()
        c = v2client.Client(host, ca_file=ca_file, credentials=SecretKeyring(secrets), timeout=timeout,
                            agent=agent, insecure=insecure)
        dg, mt, _ = c.manifest(repo, digest or tag)
        return {"ok": True, "digest": dg, "reference": "%s/%s@%s" % (host, repo, dg), "mediaType": mt,
                "host": host, "repo": repo, "tag": None if digest else tag}
    except v2client.RegistryError as e:
        return format_error(e, ref_exact)


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
    try:
        return host, repo, v2client.Client(host, ca_file=ca_file, credentials=SecretKeyring(secrets),
                                           timeout=timeout, agent=agent, insecure=insecure).tags(repo)
    except v2client.RegistryError as e:
        f = format_error(e, exact(host, repo))
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
