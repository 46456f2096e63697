"""Image streams of the OKD 3.11 API stand-in: imports (the image stream controller, ImageStreamImport,
scheduled imports), ImageStreamMappings, imagestreamtags / imagestreamimages and imagestreams/secrets.

A mixin of `api.Api` (it uses its store, lock and CRUD helpers). The origin release-3.11 code each
behaviour follows is cited where it is modelled and listed in docs/lab-api.md. Import `lab.api.api`,
not this module on its own: api.py imports it after defining the helpers used here.
"""
import copy
import json
import threading
import time
import uuid

from . import controllers, images
from .api import (REPO_CHECK, ApiError, _details, already_exists, bad_request, conflict, invalid, match_labels,
                  not_found, not_found_ns, now, parse_label_selector)
from .resources import BY_KEY

INSECURE_ANNOTATION = "openshift.io/image.insecureRepository"
CONTROLLER_USER = "system:serviceaccount:openshift-infra:image-import-controller"
CONTROLLER_RETRIES = 15
# pkg/image/apiserver/apiserver.go: every ImageStreamImport request gets its own
# flowcontrol.NewTokenBucketRateLimiter(2.0, 3)
IMPORT_QPS = 2.0
IMPORT_BURST = 3
_CODES = {"Unauthorized": 401, "NotFound": 404, "Forbidden": 403, "InternalError": 500}


def _import_policy(policy):
    """A TagImportPolicy as stored: only the true flags (insecure, scheduled)."""
    return dict((k, v) for k, v in (policy or {}).items() if v not in (None, False))


def _names_tag_or_id(ref):
    """True when an image reference names a tag or a digest (not just HOST/REPO)."""
    return "@" in ref or ":" in ref.rsplit("/", 1)[-1]


def _failure(res):
    """metav1.Status of a failed import (imageImportStatus)."""
    reason = res.get("reason") or "InternalError"
    return {"metadata": {}, "status": "Failure", "message": res.get("message") or "", "reason": reason,
            "code": res.get("code") or _CODES.get(reason, 500)}


def _tag_importable(t):
    """imagestream_controller.go tagImportable: from kind DockerImage and not a reference tag."""
    return (t.get("from") or {}).get("kind") == "DockerImage" and not t.get("reference")


def _tag_needs_import(stream, t, when_generation_nil):
    """imagestream_controller.go tagNeedsImport: the spec tag's generation is newer than the last one
    observed in its status (LatestObservedTagGeneration: first event or ImportSuccess condition)."""
    if not _tag_importable(t):
        return False
    if t.get("generation") is None:
        return when_generation_nil
    entry = images.find_tag((stream.get("status") or {}).get("tags"), t.get("name"), "tag") or {}
    return int(t["generation"]) > images.status_generation(entry)


def controller_isi(stream):
    """The ImageStreamImport the image stream controller posts for a stream (imagestream_controller.go
    needsImport + handleImageStream), or None when it needs none. Without the dockerRepositoryCheck
    annotation a stream with spec.dockerImageRepository gets a full import (the repository and the tags
    that need it); otherwise, when any tag needs an import, every importable tag is sent ("partial")."""
    md = stream["metadata"]
    spec = stream.get("spec") or {}
    tags = spec.get("tags") or []
    checked = bool((md.get("annotations") or {}).get(REPO_CHECK))
    ok, partial = False, False
    if not checked:
        if spec.get("dockerImageRepository"):
            ok, partial = True, False
        elif any(_tag_importable(t) for t in tags):
            ok, partial = True, True
    if not ok and any(_tag_needs_import(stream, t, False) for t in tags):
        ok, partial = True, True
    if not ok:
        return None
    isi = {"kind": "ImageStreamImport", "apiVersion": "image.openshift.io/v1",
           "metadata": {"name": md["name"], "namespace": md["namespace"], "resourceVersion": md["resourceVersion"],
                        "uid": md.get("uid")},
           "spec": {"import": True, "images": []}}
    for t in tags:
        if not (partial and _tag_importable(t)) and not _tag_needs_import(stream, t, True):
            continue
        isi["spec"]["images"].append({"from": {"kind": "DockerImage", "name": t["from"]["name"]},
                                      "to": {"name": t["name"]}, "importPolicy": t.get("importPolicy") or {},
                                      "referencePolicy": t.get("referencePolicy") or {}})
    if spec.get("dockerImageRepository") and not partial:
        insecure = (md.get("annotations") or {}).get(INSECURE_ANNOTATION) == "true"
        isi["spec"]["repository"] = {"from": {"kind": "DockerImage", "name": spec["dockerImageRepository"]},
                                     "importPolicy": {"insecure": insecure}}
    if not isi["spec"]["images"]:
        del isi["spec"]["images"]
        if "repository" not in isi["spec"]:
            return None
    return isi


def tag_ref_changed(old, new, namespace):
    """strategy.go tagRefChanged: `from` namespace or name changed, or the generation was set to 0
    (tagRefGenerationChanged). Kind, import and reference policy do not count."""
    frm = new.get("from")
    if not frm or (not frm.get("kind") and not frm.get("name")):
        return False
    ofrm = old.get("from") or {}
    if (ofrm.get("namespace") or namespace) != (frm.get("namespace") or namespace):
        return True
    if ofrm.get("name") != frm.get("name"):
        return True
    og, ng = old.get("generation"), new.get("generation")
    return og is not None and ng is not None and int(og) != int(ng) and int(ng) == 0


def _status_entry(stream, tag):
    st = stream.setdefault("status", {})
    tags = st.get("tags") or []
    st["tags"] = tags
    entry = images.find_tag(tags, tag, "tag")
    if entry is None:
        entry = {"tag": tag, "items": None}
        tags.append(entry)
        tags.sort(key=lambda t: t.get("tag") or "")
    return entry


def check_import_failure(res, stream, tag, next_gen, t_now):
    """rest.go checkImportFailure: False for a success. A failure writes an ImportSuccess=False condition
    at the stream's next generation - only when the tag has no condition of that type, status and reason
    yet (imageapi.HasTagCondition), and then the spec tag's generation is reset to 0 (it becomes the
    stream's new generation on the write)."""
    if res.get("ok"):
        return False
    cond = {"type": "ImportSuccess", "status": "False", "reason": res.get("reason") or "",
            "message": res.get("message") or "unknown error prevented import", "generation": next_gen,
            "lastTransitionTime": t_now}
    entry = images.find_tag((stream.get("status") or {}).get("tags"), tag, "tag") or {}
    has = any(c.get("type") == cond["type"] and c.get("status") == cond["status"] and
              c.get("reason") == cond["reason"] for c in entry.get("conditions") or [])
    if not has:
        _status_entry(stream, tag)["conditions"] = [cond]
        t = images.find_tag((stream.get("spec") or {}).get("tags"), tag, "name")
        if t is not None:
            t["generation"] = 0
    return True


def ensure_spec_tag(stream, tag, frm, import_policy, reference_policy, reset):
    """rest.go ensureSpecTag: an existing spec tag is kept unless reset; otherwise `from` DockerImage FRM,
    generation 0, the request's import policy, and its reference policy only when the tag has none."""
    spec = stream.setdefault("spec", {})
    tags = spec.get("tags") or []
    spec["tags"] = tags
    t = images.find_tag(tags, tag, "name")
    if t is not None and not reset:
        return t
    if t is None:
        t = {"name": tag}
        tags.append(t)
        tags.sort(key=lambda x: x.get("name") or "")     # v1 lists spec tags by name
    t["from"] = {"kind": "DockerImage", "name": frm}
    t["generation"] = 0
    t["importPolicy"] = _import_policy(import_policy)
    if not (t.get("referencePolicy") or {}).get("type"):
        t["referencePolicy"] = {"type": (reference_policy or {}).get("type") or "Source"}
    return t


def import_successful(stream, tag, res, frm, next_gen, t_now, import_policy, reference_policy):
    """rest.go importSuccessful: a new event (at the next generation) and the spec tag reset to FRM when
    the image or reference differs from the latest event (DifferentTagEvent), the spec tag is newer than
    it (DifferentTagGeneration) or there is no spec tag; the import policy is always reset; conditions
    are cleared (SetTagConditions)."""
    t = images.find_tag((stream.get("spec") or {}).get("tags"), tag, "name")
    entry = images.find_tag((stream.get("status") or {}).get("tags"), tag, "tag") or {}
    items = entry.get("items") or []
    first = items[0] if items else None
    different_event = first is None or first.get("image") != res["digest"] or \
        first.get("dockerImageReference") != res["reference"]
    different_gen = t is None or t.get("generation") is None or first is None or \
        int(t["generation"]) > int(first.get("generation") or 0)
    if different_event or different_gen or t is None:
        t = ensure_spec_tag(stream, tag, frm, import_policy, reference_policy, True)
        images.set_tag_status(stream, tag, res, next_gen, t_now)
    t["importPolicy"] = _import_policy(import_policy)
    e = _status_entry(stream, tag)
    e.pop("conditions", None)


ISM_RETRIES = 10     # imagestreammapping/rest.go maxRetriesOnConflict


def _status_success():
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}


def _latest_event(stream, tag):
    """internalimageutil.LatestTaggedImage: the newest event of status tag `tag` or None."""
    entry = images.find_tag((stream.get("status") or {}).get("tags"), tag, "tag")
    items = (entry or {}).get("items") or []
    return copy.deepcopy(items[0]) if items else None


def add_tag_event(stream, tag, event):
    """AddTagEventToImageStream (origin release-3.11 pkg/image/apis/image/helper.go). Returns True when the
    stream changed."""
    status = stream.setdefault("status", {})
    tags = status.get("tags") or []
    status["tags"] = tags
    entry = images.find_tag(tags, tag, "tag")
    if entry is None or not entry.get("items"):
        if entry is None:
            tags.append({"tag": tag, "items": [event]})
        else:
            entry["items"] = [event]
        return True
    prev = entry["items"][0]
    same_ref = prev.get("dockerImageReference") == event["dockerImageReference"]
    same_image = prev.get("image") == event["image"]
    same_gen = int(prev.get("generation") or 0) == event["generation"]
    if same_ref and same_image and same_gen:
        return False
    if same_ref and same_image:
        pass                                  # collapse the tag
    elif same_ref:
        prev["image"] = event["image"]
    elif same_image:
        prev["dockerImageReference"] = event["dockerImageReference"]
    else:
        entry.pop("conditions", None)
        entry["items"] = [event] + entry["items"]
        return True
    prev["generation"] = event["generation"]
    entry.pop("conditions", None)
    return True


class ImageStreams(object):
    """Image-stream methods of Api (mixin)."""

    # ---------------------------------------------------------------- image imports
    # ---------------------------------------------------------------- the image stream controller
    # origin release-3.11 pkg/image/controller/imagestream_controller.go: an informer queues every stream
    # that is created or updated; a worker posts an ImageStreamImport for it (handleImageStream) carrying the
    # stream's resourceVersion and uid, and requeues it rate-limited when that fails (processNextWorkItem ->
    # queue.AddRateLimited), e.g. with 409 when the stream changed meanwhile. It runs after the write that
    # triggered it has been answered: clients see the import later, as on a real master.
    def _controller_state(self):
        st = getattr(self, "_ctl", None)
        if st is None:
            with self.ip_lock:
                st = getattr(self, "_ctl", None)
                if st is None:
                    st = {"cv": threading.Condition(), "due": {}, "tries": {}, "thread": None}
                    self._ctl = st
        return st

    def enqueue_import(self, ns, name, delay=0.0):
        """Queue stream ns/name for the image stream controller (informer add/update event)."""
        if not delay:   # the same informer event reaches the image trigger controller (controllers.py)
            self.later.call(0.0, controllers.image_stream_changed, self, ns, name)
        st = self._controller_state()
        with st["cv"]:
            key = (ns, name)
            due = time.monotonic() + delay
            if key not in st["due"] or st["due"][key] > due:
                st["due"][key] = due
            if st["thread"] is None:
                st["thread"] = threading.Thread(target=self._controller_loop, name="imagestream-controller",
                                                daemon=True)
                st["thread"].start()
            st["cv"].notify()

    def _controller_loop(self):
        st = self._controller_state()
        while True:
            with st["cv"]:
                while True:
                    t = time.monotonic()
                    ready = [k for k, d in st["due"].items() if d <= t]
                    if ready:
                        key = min(ready, key=lambda k: st["due"][k])
                        del st["due"][key]
                        break
                    st["cv"].wait(min([d - t for d in st["due"].values()] or [60.0]))
            try:
                self.controller_sync(*key)
                st["tries"].pop(key, None)
            except ApiError as e:
                if e.code == 404:
                    st["tries"].pop(key, None)
                    continue
                n = st["tries"].get(key, 0) + 1
                st["tries"][key] = n
                # workqueue.DefaultControllerRateLimiter: exponential per item (5 ms doubling)
                if n <= CONTROLLER_RETRIES:
                    self.enqueue_import(key[0], key[1], delay=min(0.005 * 2 ** n, 5.0))
                self.log("image stream controller: %s/%s: %s (try %d)" % (key[0], key[1], e.message, n))
            except Exception as e:  # never kill the controller
                self.log("image stream controller: %s/%s failed: %r" % (key[0], key[1], e))

    def controller_sync(self, ns, name, scheduled=False):
        """handleImageStream for one stream (scheduled: the scheduled import controller's
        resetScheduledTags first, pkg/image/controller/scheduled/scheduled_image_controller.go).
        Returns the ImageStreamImport result or None when nothing needs an import."""
        with self.lock:
            stream = self.store.get("imagestreams.image.openshift.io", ns, name)
            if stream is None:
                return None
            stream = copy.deepcopy(stream)
        if scheduled:
            nxt = int(stream["metadata"].get("generation") or 0) + 1
            for t in (stream.get("spec") or {}).get("tags") or []:
                if _tag_importable(t) and (t.get("importPolicy") or {}).get("scheduled"):
                    t["generation"] = nxt
        body = controller_isi(stream)
        if body is None:
            return None
        return self.image_stream_import(ns, body, CONTROLLER_USER, internal=True)

    def scheduled_imports(self):
        """One round of the scheduled import controller: every stream with a scheduled importable tag."""
        with self.lock:
            todo = [(s["metadata"]["namespace"], s["metadata"]["name"])
                    for s in self.store.items("imagestreams.image.openshift.io")
                    if any(_tag_importable(t) and (t.get("importPolicy") or {}).get("scheduled")
                           for t in (s.get("spec") or {}).get("tags") or [])]
        for ns, name in todo:
            try:
                self.controller_sync(ns, name, scheduled=True)
            except Exception as e:  # never kill the scheduler
                self.log("scheduled import of %s/%s failed: %r" % (ns, name, e))

    def after_stream_write(self, ns, name):
        """What follows a client's write of an image stream: ImageStreamTag references are resolved in the
        write itself (3.11's strategy tagsChanged) and the controller is told (informer event)."""
        with self.lock:
            stream = self.store.get("imagestreams.image.openshift.io", ns, name)
            if stream is None:
                return None
            new = copy.deepcopy(stream)
            self._resolve_tag_references(new, now())
            if new != stream:
                new["metadata"]["resourceVersion"] = self.store.next_rv()
                self.store.put("imagestreams.image.openshift.io", new)
                self.store.save()
                stream = new
        self.enqueue_import(ns, name)
        return stream

    # ---------------------------------------------------------------- ImageStreamImport (REST Create)
    def _dockercfg_secrets(self, ns):
        # origin pkg/image/apiserver/registry/imagesecret/rest.go REST.Get: dockercfg/dockerconfigjson
        # secrets, except those annotated openshift.io/image.excludeSecret=true (imports use the same list)
        return [s for s in self.store.items("secrets", ns) if s.get("type") in images.DOCKERCFG_TYPES
                and (s["metadata"].get("annotations") or {}).get("openshift.io/image.excludeSecret") != "true"]

    def _trust(self):
        """The CA files an import trusts: the lab CA (standing for the system pool that signs the public
        registries) plus imagePolicyConfig.additionalTrustedCA (`serve --additional-trusted-ca`)."""
        return [f for f in (self.ca_file, getattr(self, "additional_trusted_ca", None)) if f]

    def _import_repository(self, repo, secrets, limiter, agent=None, insecure=False):
        """3.11's importFromRepository: list the tags of HOST/REPO, order them like PrioritizeTags and
        import the first max_bulk_tags one after another. -> {"error": None or a failed result, "tags":
        [(tag, result)], "additional": [tags left out by the limit]}."""
        if self.max_bulk_tags == 0:
            return {"error": None, "tags": [], "additional": []}
        try:
            host, rp, tags = images.list_tags(repo, secrets, self._trust(), self.import_timeout, agent, insecure)
        except Exception as e:
            reason = getattr(e, "reason", "InternalError")
            return {"error": {"ok": False, "reason": reason, "code": _CODES.get(reason, 500),
                              "message": getattr(e, "message", str(e))}, "tags": [], "additional": []}
        # some registries list an empty tag: it is "latest"
        tags = images.prioritize_tags(set("latest" if tg == "" else tg for tg in tags))
        limit = self.max_bulk_tags
        take, additional = (tags, []) if limit < 0 else (tags[:limit], tags[limit:])
        res = images.import_images(["%s/%s:%s" % (host, rp, tg) for tg in take], secrets, self._trust(),
                                   self.import_timeout, limiter, agent, insecure)
        out = list(zip(take, res))
        self.log("import repository %s: %d tags (%d failed), %d left out by the limit of %d"
                 % (repo, len(out), len([1 for _, r in out if not r["ok"]]), len(additional), limit))
        return {"error": None, "tags": out, "additional": additional}

    def _repository_status(self, result, t_now):
        """status.repository of an ImageStreamImport (RepositoryImportStatus)."""
        if result["error"] is not None:
            return {"status": _failure(result["error"])}
        failures = len([1 for _, res in result["tags"] if not res["ok"]])
        st = {"metadata": {}, "status": "Success"}
        if failures:
            st = {"metadata": {}, "status": "Failure", "reason": "ImportFailed",
                  "message": "one of the images from this repository failed to import" if failures == 1
                  else "%d of the images from this repository failed to import" % failures}
        out = {"status": st, "images": [self._isi_image(tg if res["ok"] else None, res, t_now)
                                        for tg, res in result["tags"]]}
        if result["additional"]:
            out["additionalTags"] = list(result["additional"])
        return out

    def image_stream_import(self, ns, body, user, internal=False):
        """POST imagestreamimports, as origin release-3.11 pkg/image/apiserver/registry/imagestreamimport/
        rest.go Create: the stream is read first (409 when the request's resourceVersion is not the stream's,
        404 when its uid is not), the images are imported without any lock (sequentially, one token bucket
        per request), and with spec.import the stream is written from what was read - an update guarded by
        the resourceVersion read at the start, with no retry, so a stream changed meanwhile gets 409."""
        r = BY_KEY["imagestreamimports.image.openshift.io"]
        self._check_body(r, body)
        name = body["metadata"].get("name")
        if not name:
            raise invalid(r, "", [("metadata.name", "FieldValueRequired", "Required value")])
        spec = body.get("spec") or {}
        imgs = spec.get("images") or []
        repo = spec.get("repository")
        if not imgs and not repo:
            raise invalid(r, name, [("spec", "FieldValueRequired",
                                     "Required value: you must specify at least one image or a repository import")])
        causes = []
        for i, im in enumerate(imgs):
            frm = im.get("from") or {}
            if frm.get("kind") != "DockerImage" or not frm.get("name"):
                causes.append(("spec.images[%d].from.kind" % i, "FieldValueInvalid",
                               "Invalid value: %s: only DockerImage is supported" % json.dumps(frm.get("kind"))))
        if repo:
            frm = repo.get("from") or {}
            if frm.get("kind") != "DockerImage" or not frm.get("name"):
                causes.append(("spec.repository.from.kind", "FieldValueInvalid",
                               "Invalid value: %s: only DockerImage is supported" % json.dumps(frm.get("kind"))))
            elif _names_tag_or_id(frm["name"]):
                causes.append(("spec.repository.from.name", "FieldValueInvalid",
                               "Invalid value: %s: you must specify an image repository, not a tag or ID"
                               % json.dumps(frm["name"])))
        if causes:
            raise invalid(r, name, causes)
        sr = BY_KEY["imagestreams.image.openshift.io"]
        md = body["metadata"]
        with self.lock:
            if not self._ns_exists(ns):
                raise not_found_ns(ns)
            read = copy.deepcopy(self.store.get(sr.key, ns, name))
            if read is None:
                # rest.go: "consistency check, stream must exist"
                if md.get("resourceVersion") or md.get("uid"):
                    raise not_found(sr, name)
            else:
                rv = md.get("resourceVersion")
                if rv and rv != read["metadata"]["resourceVersion"]:
                    raise conflict(sr, name, 'the image stream was updated from "%s" to "%s"'
                                   % (rv, read["metadata"]["resourceVersion"]))
                if md.get("uid") and md["uid"] != read["metadata"].get("uid"):
                    raise not_found(sr, name)
            secrets = self._dockercfg_secrets(ns)
        limiter = images.TokenBucket(IMPORT_QPS, IMPORT_BURST)
        t_now = now()
        status = {}
        if imgs:
            results, cache = [], {}
            for im in imgs:     # importPolicy.insecure per image (3.11's insecure transport)
                results.extend(images.import_images([im["from"]["name"]], secrets, self._trust(), self.import_timeout,
                                                    limiter, user,
                                                    bool((im.get("importPolicy") or {}).get("insecure")), cache))
            # importer.go importImages: status.images[i].tag is the source tag (not spec.images[i].to.name)
            status["images"] = [self._isi_image(res.get("tag") if res["ok"] else None, res, t_now)
                                for res in results]
            for im, res in zip(imgs, results):
                self.log("import %s/%s from %s: %s" % (ns, name, im["from"]["name"],
                                                       "ok " + res["digest"] if res["ok"] else res["message"]))
        repo_result = None
        if repo:
            repo_result = self._import_repository(repo["from"]["name"], secrets, limiter, user,
                                                  bool((repo.get("importPolicy") or {}).get("insecure")))
            status["repository"] = self._repository_status(repo_result, t_now)
        if spec.get("import"):
            status["import"] = self._apply_import(ns, name, read, spec, status, repo_result, user, t_now)
        for im in (status.get("images") or []) + ((status.get("repository") or {}).get("images") or []):
            im.pop("_result", None)
        out = copy.deepcopy(body)
        out["kind"] = "ImageStreamImport"
        out["apiVersion"] = r.api_version
        out["metadata"].update({"namespace": ns, "creationTimestamp": now()})
        out["status"] = status
        return out

    def _apply_import(self, ns, name, read, spec, status, repo_result, user, t_now):
        """The stream side of rest.go Create (spec.import true): checkImportFailure / importSuccessful for
        the repository's tags, then for spec.images (whose spec tag is `to.name`), applied to the stream as it
        was read; written only when it changed or lacks the dockerRepositoryCheck annotation."""
        r = BY_KEY["imagestreams.image.openshift.io"]
        created = read is None
        stream = copy.deepcopy(read) if read else {"kind": r.kind, "apiVersion": r.api_version,
                                                   "metadata": {"name": name, "namespace": ns}, "spec": {}}
        original = copy.deepcopy(stream)
        has_annotation = REPO_CHECK in (stream["metadata"].get("annotations") or {})
        next_gen = int(stream["metadata"].get("generation") or 0) + 1
        new_images = []
        if spec.get("repository") and repo_result is not None and repo_result["error"] is None:
            rspec = spec["repository"]
            frm = rspec["from"]["name"]
            for tag, res in repo_result["tags"]:
                if check_import_failure(res, stream, tag, next_gen, t_now):
                    continue
                import_successful(stream, tag, res, "%s:%s" % (frm, tag), next_gen, t_now,
                                  rspec.get("importPolicy"), rspec.get("referencePolicy"))
                new_images.append(res)
        for im, st in zip(spec.get("images") or [], status.get("images") or []):
            tag = (im.get("to") or {}).get("name")
            if not tag:
                continue
            res = st.get("_result")
            if check_import_failure(res, stream, tag, next_gen, t_now):
                # a failed import leaves an existing spec tag alone (ensureSpecTag, reset false)
                ensure_spec_tag(stream, tag, im["from"]["name"], im.get("importPolicy"), im.get("referencePolicy"),
                                False)
                continue
            import_successful(stream, tag, res, im["from"]["name"], next_gen, t_now, im.get("importPolicy"),
                              im.get("referencePolicy"))
            new_images.append(res)
        with self.lock:
            self._normalize(r, stream, read, user)     # the defaulting round trip of rest.go
            for res in new_images:
                self._ensure_image(res, t_now)
            if created:
                if self.store.exists(r.key, ns, name):
                    raise already_exists(r, name)
                stream["metadata"].setdefault("annotations", {})[REPO_CHECK] = t_now
                st = stream.pop("status", None)
                obj = self._create(r, ns, stream, user)
                obj["status"] = st or {}
                self._normalize(r, obj, obj, user)
                self._resolve_tag_references(obj, t_now)
                obj["metadata"]["resourceVersion"] = self.store.next_rv()
                self.store.put(r.key, obj)
                self.store.save()
                result = obj
            else:
                self._normalize(r, original, read, user)
                if has_annotation and stream == original:
                    return read
                cur = self.store.get(r.key, ns, name)
                if cur is None:
                    raise not_found(r, name)
                if cur["metadata"]["resourceVersion"] != read["metadata"]["resourceVersion"]:
                    # the update carries the resourceVersion read before importing; rest.go does not retry
                    raise conflict(r, name)
                stream["metadata"].setdefault("annotations", {})[REPO_CHECK] = t_now
                self._generations(r, stream, cur)
                self._resolve_tag_references(stream, t_now)
                stream["metadata"]["resourceVersion"] = self.store.next_rv()
                self.store.put(r.key, stream)
                self.store.save()
                result = stream
        self.enqueue_import(ns, name)      # the informer sees the update too
        return copy.deepcopy(result)

    def _isi_image(self, tag, res, t_now):
        out = {}
        if tag:
            out["tag"] = tag
        if res["ok"]:
            out["status"] = {"metadata": {}, "status": "Success"}
            img = images.image_object(res, t_now, "", "")
            for f in ("uid", "resourceVersion", "selfLink"):
                img["metadata"].pop(f, None)
            img.pop("kind", None)
            img.pop("apiVersion", None)
            out["image"] = img
        else:
            out["status"] = _failure(res)
        out["_result"] = res      # removed before answering (image_stream_import)
        return out

    def _ensure_image(self, res, t_now):
        if not self.store.exists("images.image.openshift.io", None, res["digest"]):
            img = images.image_object(res, t_now, str(uuid.uuid4()), self.store.next_rv())
            self.store.put("images.image.openshift.io", img)

    def _resolve_tag_references(self, stream, t_now):
        """Spec tags `from: {kind: ImageStreamTag, name: [stream:]tag}` in the same namespace follow
        the referenced tag's latest image (3.11 strategy.go tagsChanged)."""
        ns = stream["metadata"]["namespace"]
        for t in (stream.get("spec") or {}).get("tags") or []:
            frm = t.get("from") or {}
            if frm.get("kind") != "ImageStreamTag" or not frm.get("name"):
                continue
            if frm.get("namespace") not in (None, "", ns):
                continue
            src_name, _, src_tag = frm["name"].rpartition(":")
            src = stream if src_name in ("", stream["metadata"]["name"]) else \
                self.store.get("imagestreams.image.openshift.io", ns, src_name)
            if src is None or not src_tag:
                continue
            entry = images.find_tag((src.get("status") or {}).get("tags"), src_tag, "tag")
            items = (entry or {}).get("items") or []
            if items:
                res = {"ok": True, "digest": items[0]["image"], "reference": items[0]["dockerImageReference"]}
                images.set_tag_status(stream, t["name"], res, int(t.get("generation") or 0), t_now)

    def stream_generations(self, obj, old):
        """metadata.generation and spec tag generations of an image stream write, as origin release-3.11
        pkg/image/apiserver/registry/imagestream/strategy.go does: PrepareForCreate (generation 1, every tag
        at 1); prepareForUpdate: a client cannot change a tag's generation except by setting it to 0
        (updateSpecTagGenerationsForUpdate), any spec change bumps the stream's generation, and only a tag
        that is new, whose `from` name/namespace changed (tagRefChanged) or whose generation is 0 gets the
        stream's generation (ensureSpecTagGenerationsAreSet). Import and reference policy edits keep it."""
        tags = (obj.get("spec") or {}).get("tags") or []
        if old is None:
            obj["metadata"]["generation"] = 1
            for t in tags:
                t["generation"] = 1
            return
        ns = obj["metadata"].get("namespace")
        old_tags = dict((t.get("name"), t) for t in (old.get("spec") or {}).get("tags") or [])
        for t in tags:
            g = t.get("generation")
            if g is not None and int(g) == 0:
                continue
            o = old_tags.get(t.get("name"))
            if o is not None:
                t["generation"] = o.get("generation")
        old_gen = int(old["metadata"].get("generation") or 0)
        gen = old_gen
        if obj.get("spec") != old.get("spec") or gen == 0:
            gen = old_gen + 1
        for t in tags:
            o = old_tags.get(t.get("name"))
            if o is None or tag_ref_changed(o, t, ns):
                t["generation"] = None
            g = t.get("generation")
            if g is not None and int(g) != 0:
                continue
            t["generation"] = gen
        obj["metadata"]["generation"] = gen


    # ---------------------------------------------------------------- image stream mappings (pushes)
    def _commit_stream(self, r, old, new, t_now):
        """Store an image stream changed by an import: a new resourceVersion only if it really changed."""
        self._resolve_tag_references(new, t_now)
        if new != old:
            new["metadata"]["resourceVersion"] = self.store.next_rv()
            self.store.put(r.key, new)
        self.store.save()
        return new

    def image_stream_mapping(self, ns, body, user):
        """POST .../imagestreammappings as origin release-3.11 pkg/image/apiserver/registry/imagestreammapping/
        rest.go Create (what the integrated registry sends after a push, image-registry
        pkg/imagestream/imagestream.go CreateImageStreamMapping; the caller needs `create` on
        imagestreammappings, which system:registry grants):

        - validation (pkg/image/apis/image/validation ValidateImageStreamMapping): metadata.name (or
          dockerImageRepository), tag, image.metadata.name and image.dockerImageReference required. It runs
          first (rest.BeforeCreate), so the untagged mapping image-registry 3.11 sends for a push by digest
          (manifestservice.go Put: tag "") is refused with 422 `tag: Required value` - not the 404 after
          which the registry creates the stream - and rest.go's `tag = latest` default for an empty tag is
          never reached;
        - findStreamForMapping: the stream by name, 404 `imagestreams.image.openshift.io "NAME" not found`
          when it does not exist (nothing is created: the registry creates the stream and retries);
        - the Image is created, AlreadyExists tolerated; when it existed and the mapping's image is
          annotated `openshift.io/image.managed: "true"`, the tag event's reference is the stream's own
          repository (status.dockerImageRepository@digest);
        - the tag event {created, dockerImageReference, image, generation: the stream's metadata.generation}
          is added like AddTagEventToImageStream (pkg/image/apis/image/helper.go: nothing when the newest
          event has the same reference, image and generation; the same reference or image updates the
          newest event in place; otherwise a new event goes first; conditions are cleared), tags tracking
          it (from ImageStreamTag) follow (UpdateTrackingTags), and the stream's status is written (no
          generation bump);
        - that status write is retried on a conflict (up to 10 times) when the tag's newest event did not
          change meanwhile (generation and creation time ignored), and fails with 409 Conflict when it did.
        Answer: Status Success."""
        r = BY_KEY["imagestreammappings.image.openshift.io"]
        sr = BY_KEY["imagestreams.image.openshift.io"]
        self._check_body(r, body)
        name = body["metadata"].get("name")
        image = body.get("image") if isinstance(body.get("image"), dict) else {}
        imd = image.get("metadata") if isinstance(image.get("metadata"), dict) else {}
        digest = imd.get("name")
        tag = body.get("tag")
        causes = []
        if not name and not body.get("dockerImageRepository"):
            causes.append(("name", "FieldValueRequired", "Required value"))
        if not tag:
            causes.append(("tag", "FieldValueRequired", "Required value"))
        if not digest:
            causes.append(("image.metadata.name", "FieldValueRequired", "Required value"))
        if not image.get("dockerImageReference"):
            causes.append(("image.dockerImageReference", "FieldValueRequired", "Required value"))
        if causes:
            raise invalid(r, name or "", causes)
        t_now = now()
        # findStreamForMapping
        with self.lock:
            if name:
                stream = self.store.get(sr.key, ns, name)
                if stream is None:
                    raise not_found(sr, name)
            else:
                stream = next((s for s in self.store.items(sr.key, ns) if (s.get("spec") or {}).get(
                    "dockerImageRepository") == body["dockerImageRepository"]), None)
                if stream is None:
                    raise invalid(r, "", [("dockerImageStream", "FieldValueNotFound", "Not found: %s"
                                           % json.dumps(body["dockerImageRepository"]))])
                name = stream["metadata"]["name"]
            # imageRegistry.CreateImage (AlreadyExists tolerated)
            existed = self.store.exists("images.image.openshift.io", None, digest)
            if not existed:
                img = images.image_object({"digest": digest, "reference": image["dockerImageReference"],
                                           "mediaType": image.get("dockerImageManifestMediaType")},
                                          t_now, str(uuid.uuid4()), self.store.next_rv())
                if imd.get("annotations"):
                    img["metadata"]["annotations"] = dict(img["metadata"].get("annotations") or {},
                                                          **imd["annotations"])
                for f in ("dockerImageManifest", "dockerImageMetadata", "dockerImageLayers"):
                    if image.get(f):
                        img[f] = copy.deepcopy(image[f])
                self.store.put("images.image.openshift.io", img)
        ref = image["dockerImageReference"]
        if existed and (imd.get("annotations") or {}).get("openshift.io/image.managed") == "true":
            local = (stream.get("status") or {}).get("dockerImageRepository") or \
                (stream.get("spec") or {}).get("dockerImageRepository")
            if local:
                ref = "%s@%s" % (local.split("@")[0], digest)
        hook = getattr(self, "_ism_after_read", None)     # tests: a write between the read and the update
        if hook is not None:
            hook(ns, name)
        for _ in range(ISM_RETRIES):
            with self.lock:
                last = _latest_event(stream, tag)
                new = copy.deepcopy(stream)
                event = {"created": t_now, "dockerImageReference": ref, "image": digest,
                         "generation": int(new["metadata"].get("generation") or 0)}
                if not add_tag_event(new, tag, event):
                    return _status_success()
                cur = self.store.get(sr.key, ns, name)
                if cur is None:
                    raise not_found(sr, name)
                if cur["metadata"].get("resourceVersion") == stream["metadata"].get("resourceVersion"):
                    self._commit_stream(sr, stream, new, t_now)     # UpdateImageStreamStatus
                    break
                # conflict: retry with the newer stream if the tag did not move meanwhile
                newer = _latest_event(cur, tag)
                if last is not None:
                    a, b = dict(last), dict(newer or {})
                    for f in ("generation", "created"):
                        a.pop(f, None)
                        b.pop(f, None)
                    if a != b:
                        raise conflict(sr, name)
                stream = cur
        else:
            raise conflict(sr, name)
        self.enqueue_import(ns, name)     # informer event: the image trigger controller reacts
        return _status_success()

    # ---------------------------------------------------------------- image stream tags / images
    def _istag(self, stream, tag, legacy=False):
        entry = images.find_tag((stream.get("status") or {}).get("tags"), tag, "tag")
        items = (entry or {}).get("items") or []
        if not items:
            return None
        item = items[0]
        ns, name = stream["metadata"]["namespace"], stream["metadata"]["name"]
        img = self.store.get("images.image.openshift.io", None, item["image"]) or images.image_object(
            {"digest": item["image"], "reference": item["dockerImageReference"]}, item["created"], "", "")
        img["dockerImageReference"] = item["dockerImageReference"]
        img.pop("kind", None)
        img.pop("apiVersion", None)
        spec_tag = images.find_tag((stream.get("spec") or {}).get("tags"), tag, "name")
        out = {"kind": "ImageStreamTag", "apiVersion": "v1" if legacy else "image.openshift.io/v1",
               "metadata": {"name": "%s:%s" % (name, tag), "namespace": ns,
                            "selfLink": "/apis/image.openshift.io/v1/namespaces/%s/imagestreamtags/%s:%s"
                                        % (ns, name, tag),
                            "uid": stream["metadata"]["uid"],
                            "resourceVersion": stream["metadata"]["resourceVersion"],
                            "creationTimestamp": item["created"]},
               "tag": spec_tag, "generation": int(item.get("generation") or 0),
               "lookupPolicy": (stream.get("spec") or {}).get("lookupPolicy") or {"local": False},
               "image": img}
        if entry.get("conditions"):
            out["conditions"] = entry["conditions"]
        return out

    def _split_istag(self, r, name):
        stream, sep, tag = name.rpartition(":")
        if not sep or not stream or not tag:
            raise bad_request('"%s" is an invalid imagestreamtag name: must be of the form <stream_name>:<tag>'
                              % name)
        return stream, tag

    def get_istag(self, ns, name, legacy=False):
        r = BY_KEY["imagestreamtags.image.openshift.io"]
        s, t = self._split_istag(r, name)
        with self.lock:
            stream = self.store.get("imagestreams.image.openshift.io", ns, s)
            out = self._istag(stream, t, legacy) if stream else None
        if out is None:
            raise not_found(r, name)
        return out

    def list_istags(self, ns, label_selector=None, legacy=False):
        r = BY_KEY["imagestreamtags.image.openshift.io"]
        lreqs = parse_label_selector(label_selector)
        with self.lock:
            items = []
            for s in self.store.items("imagestreams.image.openshift.io", ns):
                if not match_labels(lreqs, s["metadata"].get("labels")):
                    continue
                for entry in (s.get("status") or {}).get("tags") or []:
                    it = self._istag(s, entry["tag"], legacy)
                    if it:
                        items.append(it)
            return self._list_doc(r, ns, items, api_version="v1" if legacy else None)

    def put_istag(self, ns, name, body, user, create):
        r = BY_KEY["imagestreamtags.image.openshift.io"]
        self._check_body(r, body)
        s, t = self._split_istag(r, name)
        if body["metadata"].get("name") not in (None, name):
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (body["metadata"].get("name"), name))
        tagref = body.get("tag")
        if not isinstance(tagref, dict):
            raise invalid(r, name, [("tag", "FieldValueRequired", "Required value: tag is required")])
        sr = BY_KEY["imagestreams.image.openshift.io"]
        with self.lock:
            if not self._ns_exists(ns):
                raise not_found_ns(ns)
            old = self.store.get(sr.key, ns, s)
            if old is None:
                self._create(sr, ns, {"metadata": {"name": s}, "spec": {}}, user)
                old = self.store.get(sr.key, ns, s)
            elif create and images.find_tag((old.get("status") or {}).get("tags"), t, "tag") is not None \
                    and (old.get("status") or {}).get("tags"):
                entry = images.find_tag(old["status"]["tags"], t, "tag")
                if entry.get("items"):
                    raise already_exists(r, name)
            new = copy.deepcopy(old)
            tags = new.setdefault("spec", {}).get("tags") or []
            tags = [x for x in tags if x.get("name") != t]
            ref = copy.deepcopy(tagref)
            ref["name"] = t
            ref.pop("generation", None)
            prev = images.find_tag((old.get("spec") or {}).get("tags"), t, "name")
            if prev is not None and dict((k, v) for k, v in prev.items() if k != "generation") == \
                    dict((k, v) for k, v in ref.items() if k != "generation"):
                ref["generation"] = prev.get("generation")
            tags.append(ref)
            new["spec"]["tags"] = tags
            self._update(sr, ns, s, old, new, user, None)
        self.after_stream_write(ns, s)
        try:
            return self.get_istag(ns, name)
        except ApiError:
            stream = self.get(sr, ns, s)
            return {"kind": "ImageStreamTag", "apiVersion": r.api_version,
                    "metadata": {"name": name, "namespace": ns, "uid": stream["metadata"]["uid"],
                                 "resourceVersion": stream["metadata"]["resourceVersion"],
                                 "creationTimestamp": stream["metadata"]["creationTimestamp"]},
                    "tag": images.find_tag(stream["spec"].get("tags"), t, "name"), "generation": 0,
                    "lookupPolicy": stream["spec"].get("lookupPolicy"), "image": {"metadata": {}}}

    def delete_istag(self, ns, name, user):
        r = BY_KEY["imagestreamtags.image.openshift.io"]
        sr = BY_KEY["imagestreams.image.openshift.io"]
        s, t = self._split_istag(r, name)
        with self.lock:
            old = self.store.get(sr.key, ns, s)
            if old is None or (images.find_tag((old.get("spec") or {}).get("tags"), t, "name") is None and
                               images.find_tag((old.get("status") or {}).get("tags"), t, "tag") is None):
                raise not_found(r, name)
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["tags"] = [x for x in new["spec"].get("tags") or [] if x.get("name") != t]
            self._update(sr, ns, s, old, new, user, None)
            cur = self.store.get(sr.key, ns, s)
            st = cur.get("status") or {}
            if images.find_tag(st.get("tags"), t, "tag") is not None:
                st["tags"] = [x for x in st["tags"] if x.get("tag") != t]
                cur["metadata"]["resourceVersion"] = self.store.next_rv()
                self.store.put(sr.key, cur)
                self.store.save()
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": dict(_details(r, name))}

    def get_isimage(self, ns, name, legacy=False):
        r = BY_KEY["imagestreamimages.image.openshift.io"]
        s, sep, digest = name.partition("@")
        if not sep:
            raise bad_request('"%s" is an invalid imagestreamimage name: must be of the form <stream>@<digest>' % name)
        with self.lock:
            stream = self.store.get("imagestreams.image.openshift.io", ns, s)
            for entry in ((stream or {}).get("status") or {}).get("tags") or []:
                for it in entry.get("items") or []:
                    if it.get("image") == digest:
                        img = self.store.get("images.image.openshift.io", None, digest) or images.image_object(
                            {"digest": digest, "reference": it["dockerImageReference"]}, it["created"], "", "")
                        img["dockerImageReference"] = it["dockerImageReference"]
                        img.pop("kind", None)
                        img.pop("apiVersion", None)
                        return {"kind": "ImageStreamImage", "apiVersion": "v1" if legacy else r.api_version,
                                "metadata": {"name": name, "namespace": ns, "uid": stream["metadata"]["uid"],
                                             "resourceVersion": stream["metadata"]["resourceVersion"],
                                             "creationTimestamp": it["created"]},
                                "image": img}
        raise not_found(r, name)

    def stream_secrets(self, ns, name):
        with self.lock:
            if not self.store.exists("imagestreams.image.openshift.io", ns, name):
                raise not_found(BY_KEY["imagestreams.image.openshift.io"], name)
            items = self._dockercfg_secrets(ns)
            return self._list_doc(BY_KEY["secrets"], ns, items)
