# -*- coding: utf-8 -*-
# okd-registry-toolkit core: OKD 3.11 image streams and imports. Stdlib only, no I/O, Python 2.7 and 3.6+.
"""Image-stream logic of the okd_image_import module, by OKD 3.11's rules (origin release-3.11
``pkg/image/importer/importer.go``, ``pkg/image/apiserver/registry/imagestreamimport/rest.go``).

- ``image_stream_definition`` / ``image_stream_import`` / ``image_stream_import_repository``: request bodies.
- ``tag_status``, ``import_results``, ``repository_import_results``: what the API answered, per tag.
- ``tag_import_decision`` / ``repository_import_plan``: which tags need an import (pure, unit-tested).
- ``registry_secret_names``, ``import_request_timeout``, ``wait_until``: what the module tells, waits and allows.
- ``stream_outcome``: fixed, failing or untouched, per stream (the namespace-wide re-import).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json

try:  # Python 3
    text_type = str
except NameError:  # pragma: no cover
    pass
try:  # Python 2
    text_type = unicode  # noqa: F821  # pylint: disable=undefined-variable
except NameError:
    pass


# ---------------------------------------------------------------------------------------------------
# image streams
def split_image(ref):
    """'HOST[:PORT]/REPO[:TAG|@DIGEST]' -> (registry, repo, tag, digest); registry None without a host."""
    ref = ref.strip()
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    first, _sep, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = None, ref
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
    return registry, path, tag, digest


def replace_registry(ref, old, new):
    """``ref`` with registry ``old`` replaced by ``new``, or None when ``ref`` names another registry."""
    registry = split_image(ref)[0]
    if registry is None or registry.lower() != old.lower():
        return None
    return new + ref[len(registry):]


def image_stream_definition(namespace, name, source, tags, scheduled=False, insecure=False,
                            reference_policy=None):
    """ImageStream with one spec tag per ``tags`` item importing ``source:TAG`` (kind DockerImage)."""
    spec_tags = []
    for tag in tags:
        t = {"name": text_type(tag),
             "from": {"kind": "DockerImage", "name": "%s:%s" % (source, tag)},
             "importPolicy": {"scheduled": bool(scheduled)}}
        if insecure:
            t["importPolicy"]["insecure"] = True
        if reference_policy:
            t["referencePolicy"] = {"type": reference_policy}
        spec_tags.append(t)
    return {"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"tags": spec_tags}}


def tag_status(stream, tag):
    """{"tag", "digest", "imported", "message", "reference"} from a live stream's status for one tag."""
    res = {"tag": tag, "digest": None, "imported": False, "message": "", "reference": None}
    for st in ((stream or {}).get("status") or {}).get("tags") or []:
        if st.get("tag") != tag:
            continue
        items = st.get("items") or []
        if items:
            res["digest"] = items[0].get("image")
            res["reference"] = items[0].get("dockerImageReference")
            res["imported"] = True
        for cond in st.get("conditions") or []:
            if cond.get("type") == "ImportSuccess" and cond.get("status") == "False":
                gen_item = items[0].get("generation", 0) if items else -1
                gen_cond = cond.get("generation", 0)
                if not items or gen_cond >= gen_item:
                    res["imported"] = False
                    res["message"] = cond.get("message") or cond.get("reason") or "import failed"
    return res


def spec_tag_source(stream, tag):
    for t in ((stream or {}).get("spec") or {}).get("tags") or []:
        if t.get("name") == tag:
            return (t.get("from") or {}).get("name") if (t.get("from") or {}).get("kind") == "DockerImage" else None
    return None


def image_stream_import(namespace, name, images, resource_version=None):
    """ImageStreamImport body (like `oc import-image`); images: [{"from": REF, "tag", "scheduled", "insecure"}]."""
    meta = {"name": name, "namespace": namespace}
    if resource_version:
        meta["resourceVersion"] = resource_version
    spec_images = []
    for img in images:
        spec_images.append({
            "from": {"kind": "DockerImage", "name": img["from"]},
            "to": {"name": text_type(img["tag"])},
            "importPolicy": {"scheduled": bool(img.get("scheduled")), "insecure": bool(img.get("insecure"))},
            "referencePolicy": {"type": img.get("reference_policy") or "Source"},
        })
    return {"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamImport", "metadata": meta,
            "spec": {"import": True, "images": spec_images}, "status": {}}


def import_results(isi):
    """Per-tag results from an ImageStreamImport response: [{"tag", "source_tag", "digest", "imported",
    "message"}], one per ``spec.images`` item in its order. ``tag`` is the stream tag the item was sent for
    (``spec.images[i].to.name``): OKD 3.11's ``status.images[i].tag`` is the *source* tag (importer.go
    importImages), which differs when a stream tag imports another tag (``jenkins:2`` from ``...:v3.11``);
    it is kept as ``source_tag``."""
    out = []
    spec_images = ((isi or {}).get("spec") or {}).get("images") or []
    for i, img in enumerate(((isi or {}).get("status") or {}).get("images") or []):
        st = img.get("status") or {}
        tag = (spec_images[i].get("to") or {}).get("name") if i < len(spec_images) else None
        ok = st.get("status") == "Success"
        image = img.get("image") or {}
        out.append({"tag": tag or img.get("tag"), "source_tag": img.get("tag"),
                    "digest": (image.get("metadata") or {}).get("name") if ok else None,
                    "imported": ok,
                    "message": "" if ok else (st.get("message") or st.get("reason") or "import failed")})
    return out


def tag_import_decision(stream, tag, refresh=False):
    """Whether stream tag ``tag`` of the live ``stream`` needs an import, by OKD 3.11's bookkeeping ->
    (needs_import, why). Needed when: ``refresh``; the tag was never imported; its last import failed
    (an ImportSuccess=False condition at least as new as the latest image); the spec tag's generation is
    newer than the latest image's (3.11 bumps a tag's generation only when its ``from`` changes, not for
    import or reference policy edits: strategy.go tagRefChanged); or the latest image came from another
    registry than the spec names (a repoint whose import has not happened yet)."""
    if refresh:
        return True, "refresh"
    st = tag_status(stream, tag)
    if not st["imported"]:
        return True, ("the last import failed: %s" % st["message"]) if st["message"] else "not imported yet"
    spec = {}
    for t in ((stream or {}).get("spec") or {}).get("tags") or []:
        if t.get("name") == tag:
            spec = t
    items = []
    for t in ((stream or {}).get("status") or {}).get("tags") or []:
        if t.get("tag") == tag:
            items = t.get("items") or []
    spec_gen, item_gen = spec.get("generation"), (items[0] if items else {}).get("generation")
    if spec_gen is not None and item_gen is not None and int(item_gen) < int(spec_gen):
        return True, "the spec tag changed since the last import"
    src, ref = spec_tag_source(stream, tag), st.get("reference")
    if src and ref and (split_image(src)[0] or "").lower() != (split_image(ref)[0] or "").lower():
        return True, "the latest image came from another registry than the spec names"
    return False, ""


def _dockercfg_keys(secret):
    """Registry keys of a kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg secret (no values)."""
    data = (secret or {}).get("data") or {}
    kind = (secret or {}).get("type")
    raw = data.get(".dockerconfigjson" if kind == "kubernetes.io/dockerconfigjson" else ".dockercfg")
    if kind not in ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg") or not raw:
        return []
    try:
        doc = json.loads(base64.b64decode(raw).decode("utf-8"))
    except (ValueError, TypeError, UnicodeDecodeError):
        return []
    if kind == "kubernetes.io/dockerconfigjson":
        doc = doc.get("auths") if isinstance(doc, dict) else None
    return list(doc) if isinstance(doc, dict) else []


def _key_host(key):
    k = key.strip()
    if "://" in k:
        k = k.split("://", 1)[1]
    return k.split("/", 1)[0].lower()


def registry_secret_names(secrets, registry):
    """Names (sorted, as OKD 3.11 lists a namespace's secrets) of the pull secrets in ``secrets`` that hold
    an entry for ``registry`` (HOST[:PORT]; a key's scheme and path are ignored, :443 is the default port).
    OKD 3.11's importer uses only the first matching entry (importer/credentials.go returns configs[0];
    keys written the same way keep the secrets' name order), so with several names a stale secret that
    sorts first wins. Secrets annotated ``openshift.io/image.excludeSecret: "true"`` are not used by imports
    (imagesecret/rest.go) and are not counted."""
    want = (registry or "").lower()

    def strip(host):
        return host[:-4] if host.endswith(":443") else host

    out = []
    for sec in secrets or []:
        anns = (sec.get("metadata") or {}).get("annotations") or {}
        if anns.get("openshift.io/image.excludeSecret") == "true":
            continue      # imagestreams/NAME/secrets leaves it out, so imports never see it
        if any(strip(_key_host(k)) == strip(want) for k in _dockercfg_keys(sec)):
            out.append((sec.get("metadata") or {}).get("name"))
    return sorted(n for n in out if n)


# ---------------------------------------------------------------------------------------------------
# Which entry of a pull secret an OKD 3.11 import sends to a registry's token realm. The importer asks its
# keyring for the credential of the REALM URL (vendored docker/distribution registry/client/auth/session.go
# fetchTokenWithBasicAuth: creds.Basic(realm)); origin release-3.11 pkg/image/importer/credentials.go
# basicCredentialsFromKeyring turns the URL into host[:port]/path and the vendored kubernetes 1.11
# credentialprovider/keyring.go matches it (urlsMatch: same port, same number of host parts, globs per
# part, the key's path a prefix). A realm on another host than the registry gets no credentials unless a
# secret has an entry for the realm's host.

def _urlsplit(url):
    try:
        from urllib.parse import urlsplit  # Python 3
    except ImportError:  # pragma: no cover - Python 2
        from urlparse import urlsplit  # pylint: disable=import-error
    return urlsplit(url)


def keyring_key(key):
    """The index key OKD 3.11's keyring makes of a config key (keyring.go BasicDockerKeyring.Add):
    'https://quay.io/v1/' -> 'quay.io', 'reg:5000/team' -> 'reg:5000/team'."""
    value = key if key.startswith(("https://", "http://")) else "https://" + key
    u = _urlsplit(value)
    path = u.path
    if path.startswith("/v2/") or path.startswith("/v1/"):
        path = path[3:]
    return u.netloc + path if path and path != "/" else u.netloc


def _host_port(netloc):
    if netloc.startswith("["):
        host, rest = netloc[1:].partition("]")[::2]
        return host, rest[1:] if rest.startswith(":") else ""
    if netloc.count(":") == 1:
        host, port = netloc.split(":")
        return host, port
    return netloc, ""


def keyring_key_matches(key, target):
    """keyring.go urlsMatchStr(key, target) for schemeless 'host[:port][/path]' strings."""
    import fnmatch
    k, t = _urlsplit("https://" + key), _urlsplit("https://" + target)
    (khost, kport), (thost, tport) = _host_port(k.netloc), _host_port(t.netloc)
    if kport != tport or len(khost.split(".")) != len(thost.split(".")) or not t.path.startswith(k.path):
        return False
    return all(fnmatch.fnmatchcase(tp, kp) for kp, tp in zip(khost.split("."), thost.split(".")))


def realm_lookup_matches(keys, url):
    """True when OKD 3.11's import would find a credential among the config ``keys`` for ``url`` (the token
    realm's URL): credentials.go basicCredentialsFromKeyring, including its retry without a canonical port."""
    u = _urlsplit(url)
    scheme, host, path = u.scheme, u.netloc, u.path
    while True:
        if not scheme or scheme == "https" or ":" in host:
            value = host + path
        else:
            value = host + ":80" + path
        if (path + "/").startswith("/v1/") or (path + "/").startswith("/v2/"):
            value = host + path[3:]
        if any(keyring_key_matches(keyring_key(k), value) for k in keys):
            return True
        if (host.endswith(":443") and scheme == "https") or (host.endswith(":80") and scheme == "http"):
            host = host.split(":", 1)[0]
            continue
        return False


def realm_host(url):
    """'HOST[:PORT]' of a realm URL (the key a secret needs for it)."""
    return _urlsplit(url).netloc


def realm_entry_warning(registry, realm, secret, keys):
    """Text of the warning when OKD 3.11 imports from ``registry`` would send no credential from ``secret``
    (its config ``keys``) to the registry's token ``realm``, or "" when an entry matches."""
    if not realm or realm_lookup_matches(keys, realm):
        return ""
    return ("registry %s names its token realm on %s (%s): OKD 3.11 imports look the credential up by the realm's "
            "URL, and secret %s has no entry for %s, so imports from %s send no credentials there (and fail with "
            "'you may not have access'); add %s to the registry's realm_hosts"
            % (registry, realm_host(realm), realm, secret, realm_host(realm), registry, realm_host(realm)))


def import_failure_hint(message, registry):
    """What to do about an import failure OKD 3.11 words as a TLS error -> text or "". The masters' imports
    trust the system pool plus ``imagePolicyConfig.additionalTrustedCA`` only (a registry with a private CA,
    such as a stand-alone registry, fails with ``x509: certificate signed by unknown authority``)."""
    if "x509:" not in (message or ""):
        return ""
    return ("the OKD masters do not trust the certificate of %s: put its CA into the PEM file named by "
            "imagePolicyConfig.additionalTrustedCA in /etc/origin/master/master-config.yaml on every master and "
            "restart the API (master-restart api), or import it with insecure: true" % (registry or "the registry"))


def import_request_timeout(api_timeout, images):
    """Seconds to allow an ImageStreamImport of ``images`` manifests: OKD 3.11 gives each request a token
    bucket of 2/s with a burst of 3 and fetches the manifests one after another
    (pkg/image/apiserver/apiserver.go, importer.go), so 50 tags take about 24 s before any registry time."""
    return int(api_timeout) + int(max(0, int(images) - 3) + 1) // 2 + int(images)


def wait_until(fetch, done, timeout, sleep, clock, interval=0.5):
    """The toolkit's one poll loop: ``fetch()`` until ``done(value)`` or ``timeout`` seconds passed on
    ``clock()``; returns the last value. ``sleep``/``clock`` are passed in (time.sleep / time.time) so the
    core does no I/O of its own."""
    deadline = clock() + max(timeout, 0)
    value = fetch()
    while not done(value) and clock() < deadline:
        sleep(interval)
        value = fetch()
    return value


# ---------------------------------------------------------------------------------------------------
# image streams: every tag of a repository (`oc import-image NAME --from=HOST/REPO --all`)
def image_stream_import_repository(namespace, name, source, do_import=True, scheduled=False, insecure=False,
                                   reference_policy=None, resource_version=None):
    """ImageStreamImport body with ``spec.repository`` (every tag of ``source`` = HOST[:PORT]/REPO, no tag),
    what `oc import-image NAME --from=SOURCE --all` sends. With ``do_import`` False it is the read-only
    preview of `--dry-run`: the server lists and resolves the tags and changes nothing."""
    meta = {"name": name, "namespace": namespace}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return {"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamImport", "metadata": meta,
            "spec": {"import": bool(do_import), "repository": {
                "from": {"kind": "DockerImage", "name": source},
                "importPolicy": {"scheduled": bool(scheduled), "insecure": bool(insecure)},
                "referencePolicy": {"type": reference_policy or "Source"},
                "includeManifest": False}},
            "status": {}}


def repository_import_results(isi):
    """``status.repository`` of an ImageStreamImport response (RepositoryImportStatus) as
    {"listed": bool (False: the tags could not be listed at all), "reason", "code", "message",
    "tags": [{"tag", "digest", "reference", "imported", "message"}], "additional_tags": [...]}.
    ``additional_tags`` are tags the server left out (its per-repository limit)."""
    repo = ((isi or {}).get("status") or {}).get("repository")
    if not isinstance(repo, dict):
        return {"listed": False, "reason": "", "code": None, "tags": [], "additional_tags": [],
                "message": "the API answered without status.repository (does it support repository imports?)"}
    st = repo.get("status") or {}
    tags = []
    for img in repo.get("images") or []:
        ist = img.get("status") or {}
        ok = ist.get("status") == "Success" and bool(img.get("image"))
        image = img.get("image") or {}
        tags.append({"tag": img.get("tag"),
                     "digest": (image.get("metadata") or {}).get("name") if ok else None,
                     "reference": image.get("dockerImageReference") if ok else None,
                     "imported": ok,
                     "message": "" if ok else (ist.get("message") or ist.get("reason") or "import failed")})
    listed = st.get("status") == "Success" or bool(repo.get("images")) or st.get("reason") == "ImportFailed"
    message = ""
    if not listed:
        message = st.get("message") or st.get("reason") or "the repository could not be imported"
    return {"listed": listed, "reason": st.get("reason") or "", "code": st.get("code"), "message": message,
            "tags": tags, "additional_tags": list(repo.get("additionalTags") or [])}


def _policy_flags(policy):
    return dict((k, True) for k in ("scheduled", "insecure") if (policy or {}).get(k))


def repository_import_plan(stream, source, tags, scheduled=False, insecure=False):
    """What importing the repository ``source`` would change in the live ``stream`` (None: missing), by
    OKD 3.11's rules, from the per-tag results of a preview (``repository_import_results(...)["tags"]``).

    A resolved tag needs the import when the stream has no spec tag for it, its latest status event is
    another image or reference, its spec is newer than that event, its last import failed, or its import
    policy differs (3.11 resets it). A tag that cannot be resolved needs it only while the stream does not
    record that failure yet. Returns [{"tag", "needs_import", "why"}] in the order of ``tags``."""
    spec_tags = dict((t.get("name"), t) for t in ((stream or {}).get("spec") or {}).get("tags") or [])
    status_tags = dict((t.get("tag"), t) for t in ((stream or {}).get("status") or {}).get("tags") or [])
    want_policy = _policy_flags({"scheduled": scheduled, "insecure": insecure})
    out = []
    for r in tags:
        tag = r["tag"]
        spec = spec_tags.get(tag)
        items = (status_tags.get(tag) or {}).get("items") or []
        first = items[0] if items else {}
        st = tag_status(stream, tag)
        why = None
        if not r["imported"]:
            if not (st["message"] and not st["imported"]):
                why = "cannot be imported: %s" % r["message"]
        elif spec is None:
            why = "new tag"
        elif not first:
            why = "not imported yet"
        elif first.get("image") != r["digest"]:
            why = "the image changed (%s -> %s)" % (first.get("image"), r["digest"])
        elif first.get("dockerImageReference") != r["reference"]:
            why = "the image reference changed"
        elif spec.get("generation") is not None and int(spec["generation"]) > int(first.get("generation") or 0):
            why = "the spec tag changed since the last import"
        elif not st["imported"]:
            why = "the last import failed"
        elif _policy_flags(spec.get("importPolicy")) != want_policy:
            why = "the import policy differs"
        out.append({"tag": tag, "needs_import": why is not None, "why": why or ""})
    return out


# ---------------------------------------------------------------------------------------------------
# re-importing what never imported (okd_image_import reimport_failed)
def stream_outcome(tags, repointed=(), check_mode=False):
    """What happened to one stream, from okd_image_import's per-tag results ({tag, from, imported, message,
    import_requested}) -> (outcome, failing). ``failing`` lists {tag, from, message} of the tags that are not
    imported now (the registry's message as OKD 3.11 recorded or answered it). ``outcome``: ``failing`` when
    any tag is not imported; ``fixed`` when an import was sent (or the stream repointed) and every tag
    imported; ``untouched`` when nothing was needed. In check mode nothing is sent: ``would_reimport`` when an
    import would be sent or the stream repointed, else as above."""
    requested = [t for t in tags if t.get("import_requested")]
    failing = [{"tag": t.get("tag"), "from": t.get("from"), "message": t.get("message") or "not imported"}
               for t in tags if not t.get("imported")]
    if check_mode and (requested or repointed):
        return "would_reimport", failing
    if failing:
        return "failing", failing
    if requested or repointed:
        return "fixed", []
    return "untouched", []
