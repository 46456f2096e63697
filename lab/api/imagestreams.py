"""Image streams of the OKD 3.11 API stand-in: imports (the image stream controller, ImageStreamImport,
scheduled imports), ImageStreamMappings, imagestreamtags / imagestreamimages and imagestreams/secrets.

A mixin of `api.Api` (it uses its store, lock and CRUD helpers). The origin release-3.11 code each
behaviour follows is cited where it is modelled and listed in docs/lab-api.md. Import `lab.api.api`,
not this module on its own: api.py imports it after defining the helpers used here.
"""
import copy
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

from . import images
from .api import (REPO_CHECK, ApiError, _details, already_exists, bad_request, conflict, invalid, match_labels,
                  not_found, not_found_ns, now, parse_label_selector)
from .resources import BY_KEY

INSECURE_ANNOTATION = "openshift.io/image.insecureRepository"
IMPORT_WORKERS = 8


def _import_policy(policy):
    """A TagImportPolicy as stored: only the true flags (insecure, scheduled)."""
    return dict((k, v) for k, v in (policy or {}).items() if v not in (None, False))


def _names_tag_or_id(ref):
    """True when an image reference names a tag or a digest (not just HOST/REPO)."""
    return "@" in ref or ":" in ref.rsplit("/", 1)[-1]


class ImageStreams(object):
    """Image-stream methods of Api (mixin)."""

    # ---------------------------------------------------------------- image imports
    def _dockercfg_secrets(self, ns):
        return [s for s in self.store.items("secrets", ns) if s.get("type") in images.DOCKERCFG_TYPES]

    def import_stream(self, ns, name, force=False, scheduled_only=False):
        """Import what a stream needs, like OKD's controller: DockerImage spec tags whose generation is
        newer than their status (all of them / the scheduled ones when forced), and the tags of
        spec.dockerImageRepository when the stream has no `openshift.io/image.dockerRepositoryCheck`
        annotation yet. Registries are contacted without holding the lock."""
        with self.lock:
            stream = self.store.get("imagestreams.image.openshift.io", ns, name)
            if stream is None:
                return None
            spec = stream.get("spec") or {}
            work = []
            for t in spec.get("tags") or []:
                frm = t.get("from") or {}
                if frm.get("kind") != "DockerImage" or not frm.get("name"):
                    continue
                if scheduled_only and not (t.get("importPolicy") or {}).get("scheduled"):
                    continue
                entry = images.find_tag((stream.get("status") or {}).get("tags"), t["name"], "tag") or {}
                if force or images.status_generation(entry) < int(t.get("generation") or 0):
                    work.append((t["name"], frm["name"]))
            repo = spec.get("dockerImageRepository")
            checked = REPO_CHECK in (stream["metadata"].get("annotations") or {})
            if not repo or scheduled_only or (checked and not force):
                repo = None
            secrets = self._dockercfg_secrets(ns)
            has_refs = any(((t.get("from") or {}).get("kind") == "ImageStreamTag") for t in spec.get("tags") or [])
        if not work and not has_refs and not repo:
            return stream
        results = {}
        for (tag, ref), res in zip(work, self._import_many([ref for _, ref in work], secrets)):
            results[tag] = (ref, res)
            self.log("import %s/%s:%s from %s: %s" % (ns, name, tag, ref, "ok " + res["digest"] if res["ok"]
                                                        else res["message"]))
        repo_result = self._import_repository(repo, secrets) if repo else None
        with self.lock:
            stream = self.store.get("imagestreams.image.openshift.io", ns, name)
            if stream is None:
                return None
            old = copy.deepcopy(stream)
            t_now = now()
            for t in (stream.get("spec") or {}).get("tags") or []:
                if t["name"] in results and (t.get("from") or {}).get("name") == results[t["name"]][0]:
                    res = results[t["name"]][1]
                    images.set_tag_status(stream, t["name"], res, int(t.get("generation") or 0), t_now)
                    if res["ok"]:
                        self._ensure_image(res, t_now)
            self._resolve_tag_references(stream, t_now)
            if stream != old:
                stream["metadata"]["resourceVersion"] = self.store.next_rv()
                self.store.put("imagestreams.image.openshift.io", stream)
                self.store.save()
        if repo_result is None:
            return stream
        if repo_result["error"] is not None:
            # not marked as checked: the next change of the stream tries again
            self.log("repository import of %s/%s from %s failed: %s" % (ns, name, repo,
                                                                       repo_result["error"]["message"]))
            return stream
        # what 3.11's image import controller sends for spec.dockerImageRepository: an ImageStreamImport
        # with spec.repository (import policy insecure as annotated); DockerImage spec tags that name
        # another source keep their own import (in 3.11 the same request's spec.images win)
        insecure = (stream["metadata"].get("annotations") or {}).get(INSECURE_ANNOTATION) == "true"
        return self._apply_import(ns, name, [], {"from": repo, "importPolicy": {"insecure": insecure},
                                                 "referencePolicy": None, "result": repo_result},
                                  "system:serviceaccount:openshift-infra:image-import-controller", now(),
                                  create=False, expect_repository=repo)

    def _import_many(self, refs, secrets):
        """import_reference for each ref, up to IMPORT_WORKERS at a time (OKD imports in parallel too)."""
        one = lambda ref: images.import_reference(ref, secrets, self.ca_file, self.import_timeout)  # noqa: E731
        if len(refs) <= 1:
            return [one(ref) for ref in refs]
        with ThreadPoolExecutor(min(IMPORT_WORKERS, len(refs))) as ex:
            return list(ex.map(one, refs))

    def _import_repository(self, repo, secrets):
        """3.11's importFromRepository: list the tags of HOST/REPO (GET /v2/REPO/tags/list, with the
        namespace's credentials like any import), order them like PrioritizeTags and import the first
        max_bulk_tags. -> {"error": None or a failed result, "tags": [(tag, result)], "additional":
        [tags left out by the limit]}."""
        if self.max_bulk_tags == 0:
            return {"error": None, "tags": [], "additional": []}
        try:
            host, rp, tags = images.list_tags(repo, secrets, self.ca_file, self.import_timeout)
        except Exception as e:
            return {"error": {"ok": False, "reason": getattr(e, "reason", "InternalError"),
                              "message": getattr(e, "message", str(e))}, "tags": [], "additional": []}
        # some registries list an empty tag: it is "latest"
        tags = images.prioritize_tags(set("latest" if tg == "" else tg for tg in tags))
        limit = self.max_bulk_tags
        take, additional = (tags, []) if limit < 0 else (tags[:limit], tags[limit:])
        out = list(zip(take, self._import_many(["%s/%s:%s" % (host, rp, tg) for tg in take], secrets)))
        self.log("import repository %s: %d tags (%d failed), %d left out by the limit of %d"
                 % (repo, len(out), len([1 for _, res in out if not res["ok"]]), len(additional), limit))
        return {"error": None, "tags": out, "additional": additional}

    def _repository_status(self, result, t_now):
        """status.repository of an ImageStreamImport (RepositoryImportStatus)."""
        if result["error"] is not None:
            return {"status": self._failure(result["error"]["reason"], result["error"]["message"])}
        failures = len([1 for _, res in result["tags"] if not res["ok"]])
        st = {"metadata": {}, "status": "Success"}
        if failures:
            st = {"metadata": {}, "status": "Failure", "reason": "ImportFailed",
                  "message": "one of the images from this repository failed to import" if failures == 1
                  else "%d of the images from this repository failed to import" % failures}
        out = {"status": st, "images": [self._isi_image(tg, res, t_now) for tg, res in result["tags"]]}
        if result["additional"]:
            out["additionalTags"] = list(result["additional"])
        return out

    @staticmethod
    def _repository_into_spec(stream, from_name, result, import_policy, reference_policy, skip=()):
        """Spec side of 3.11's importSuccessful for the tags of a repository import: a tag whose latest
        image (digest or reference) differs, whose spec generation is newer than its last event, or which
        has no spec tag, gets its spec tag reset to `from: DockerImage FROM:TAG` (reference policy only
        when the tag has none) and a new event; the import policy of every imported tag is reset to the
        request's. -> [(tag, result, new_event)] for the status side (after generations are set)."""
        tags = stream.setdefault("spec", {}).get("tags") or []
        stream["spec"]["tags"] = tags
        status_tags = (stream.get("status") or {}).get("tags")
        updates = []
        added = []
        for tag, res in result["tags"]:
            if tag in skip:
                continue
            if not res["ok"]:
                updates.append((tag, res, True))
                continue
            t = images.find_tag(tags, tag, "name")
            items = (images.find_tag(status_tags, tag, "tag") or {}).get("items") or []
            first = items[0] if items else {}
            new_event = (t is None or not first or first.get("image") != res["digest"]
                         or first.get("dockerImageReference") != res["reference"]
                         or t.get("generation") is None
                         or int(t.get("generation") or 0) > int(first.get("generation") or 0))
            if new_event:
                if t is None:
                    t = {"name": tag}
                    added.append(t)
                t["from"] = {"kind": "DockerImage", "name": "%s:%s" % (from_name, tag)}
                t.pop("generation", None)
                if not (t.get("referencePolicy") or {}).get("type"):
                    t["referencePolicy"] = {"type": (reference_policy or {}).get("type") or "Source"}
            t["importPolicy"] = _import_policy(import_policy)
            updates.append((tag, res, new_event))
        tags.extend(sorted(added, key=lambda t: t["name"]))   # v1 lists spec tags by name
        if not tags:
            stream["spec"].pop("tags")
        return updates

    def _ensure_image(self, res, t_now):
        if not self.store.exists("images.image.openshift.io", None, res["digest"]):
            img = images.image_object(res, t_now, str(uuid.uuid4()), self.store.next_rv())
            self.store.put("images.image.openshift.io", img)

    def _resolve_tag_references(self, stream, t_now):
        """Spec tags `from: {kind: ImageStreamTag, name: [stream:]tag}` in the same namespace follow
        the referenced tag's latest image."""
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

    def scheduled_imports(self):
        with self.lock:
            todo = [(s["metadata"]["namespace"], s["metadata"]["name"])
                    for s in self.store.items("imagestreams.image.openshift.io")
                    if any((t.get("importPolicy") or {}).get("scheduled")
                           for t in (s.get("spec") or {}).get("tags") or [])]
        for ns, name in todo:
            try:
                self.import_stream(ns, name, force=True, scheduled_only=True)
            except Exception as e:  # never kill the scheduler
                self.log("scheduled import of %s/%s failed: %r" % (ns, name, e))

    def image_stream_import(self, ns, body, user):
        """POST imagestreamimports (`oc import-image`): import spec.images (-> spec tag `to.name`) and/or
        spec.repository (-> status tags, spec.dockerImageRepository); with spec.import the stream is
        created/updated, otherwise this is a dry look-up."""
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
        with self.lock:
            if not self._ns_exists(ns):
                raise not_found_ns(ns)
            cur = self.store.get(sr.key, ns, name)
            rv = body["metadata"].get("resourceVersion")
            if spec.get("import") and cur is not None and rv and rv != cur["metadata"]["resourceVersion"]:
                raise conflict(sr, name, "the image stream was updated from %s to %s" % (rv, cur["metadata"]
                                                                                          ["resourceVersion"]))
            secrets = self._dockercfg_secrets(ns)
        t_now = now()
        status = {}
        wanted = []     # (tag, ref, importPolicy, referencePolicy, result) -> spec tags
        if imgs:
            status["images"] = []
            for im, res in zip(imgs, self._import_many([im["from"]["name"] for im in imgs], secrets)):
                ref = im["from"]["name"]
                tag = (im.get("to") or {}).get("name")
                status["images"].append(self._isi_image(tag, res, t_now))
                if tag:
                    wanted.append((tag, ref, im.get("importPolicy"), im.get("referencePolicy"), res))
        repo_import = None
        if repo:
            result = self._import_repository(repo["from"]["name"], secrets)
            status["repository"] = self._repository_status(result, t_now)
            repo_import = {"from": repo["from"]["name"], "importPolicy": repo.get("importPolicy"),
                           "referencePolicy": repo.get("referencePolicy"), "result": result}
        if spec.get("import"):
            status["import"] = self._apply_import(ns, name, wanted, repo_import, user, t_now)
        out = copy.deepcopy(body)
        out["kind"] = "ImageStreamImport"
        out["apiVersion"] = r.api_version
        out["metadata"].update({"namespace": ns, "creationTimestamp": now()})
        out["status"] = status
        return out

    def _apply_import(self, ns, name, wanted, repo, user, t_now, create=True, expect_repository=None):
        """The stream side of an ImageStreamImport with spec.import (3.11's REST Create): the repository's
        tags first, then spec.images (whose spec tag `to.name` gets that `from`). The stream is created when
        missing (unless create=False); it is written only when it changed or has no
        `openshift.io/image.dockerRepositoryCheck` annotation yet, which every write sets."""
        r = BY_KEY["imagestreams.image.openshift.io"]
        with self.lock:
            old = self.store.get(r.key, ns, name)
            created = old is None
            if created:
                if not create:
                    return None
                self._create(r, ns, {"metadata": {"name": name}, "spec": {}}, user)
                old = self.store.get(r.key, ns, name)
            if expect_repository is not None and (old.get("spec") or {}).get("dockerImageRepository") \
                    != expect_repository:
                return old   # the stream was changed while its repository was imported
            new = copy.deepcopy(old)
            new.setdefault("spec", {})
            repo_updates = []
            if repo is not None:
                skip = set()
                if expect_repository is not None:
                    skip = set(t["name"] for t in new["spec"].get("tags") or []
                               if (t.get("from") or {}).get("name") != "%s:%s" % (expect_repository, t["name"]))
                repo_updates = self._repository_into_spec(new, repo["from"], repo["result"], repo.get("importPolicy"),
                                                          repo.get("referencePolicy"), skip)
            tags = new["spec"].get("tags") or []
            new["spec"]["tags"] = tags
            for tag, ref, ipol, rpol, _ in wanted:
                t = images.find_tag(tags, tag, "name")
                if t is None:
                    t = {"name": tag}
                    tags.append(t)
                t["from"] = {"kind": "DockerImage", "name": ref}
                if ipol:
                    t["importPolicy"] = _import_policy(ipol)
                if rpol and rpol.get("type"):
                    t["referencePolicy"] = rpol
                t.pop("generation", None)
            if not tags:
                new["spec"].pop("tags")
            self._normalize(r, new, old, user)
            self._generations(r, new, None if created else old)   # a stream the import creates is at 1
            gen = int(new["metadata"].get("generation") or 1)
            gens = dict((t["name"], int(t.get("generation") or 0)) for t in new["spec"].get("tags") or [])
            for tag, res, new_event in repo_updates:
                if new_event or not res["ok"]:
                    images.set_tag_status(new, tag, res, gens.get(tag, gen), t_now)
                else:   # same image: conditions cleared, the event follows the tag's generation
                    entry = images.find_tag((new.get("status") or {}).get("tags"), tag, "tag") or {}
                    entry.pop("conditions", None)
                    first = (entry.get("items") or [{}])[0]
                    if first and gens.get(tag, gen) > int(first.get("generation") or 0):
                        first["generation"] = gens.get(tag, gen)
                if res["ok"]:
                    self._ensure_image(res, t_now)
            for tag, ref, _, _, res in wanted:
                images.set_tag_status(new, tag, res, gens.get(tag, gen), t_now)
                if res["ok"]:
                    self._ensure_image(res, t_now)
            self._resolve_tag_references(new, t_now)
            anns = new["metadata"].get("annotations") or {}
            if new != old or REPO_CHECK not in anns:
                anns[REPO_CHECK] = t_now
                new["metadata"]["annotations"] = anns
            return self._commit_stream(r, old, new, t_now)

    @staticmethod
    def _failure(reason, message):
        code = {"Unauthorized": 401, "NotFound": 404, "Forbidden": 403}.get(reason, 500)
        return {"metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}

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
            out["status"] = self._failure(res["reason"], res["message"])
        return out

    # ---------------------------------------------------------------- image stream mappings (pushes)
    def map_image(self, ns, name, tag, digest, reference, media_type, user, create_namespace=False):
        """What the integrated registry's ImageStreamMapping does: stream NAME in NS gets status tag
        TAG -> digest (stream and, if asked, namespace created when missing)."""
        r = BY_KEY["imagestreams.image.openshift.io"]
        t_now = now()
        with self.lock:
            if not self._ns_exists(ns):
                if not create_namespace:
                    raise not_found_ns(ns)
                self._create(BY_KEY["namespaces"], None, {"metadata": {"name": ns}}, user)
            old = self.store.get(r.key, ns, name)
            if old is None:
                self._create(r, ns, {"metadata": {"name": name}, "spec": {}}, user)
                old = self.store.get(r.key, ns, name)
            new = copy.deepcopy(old)
            spec_tag = images.find_tag((new.get("spec") or {}).get("tags"), tag, "name")
            gen = int((spec_tag or {}).get("generation") or new["metadata"].get("generation") or 1)
            res = {"ok": True, "digest": digest, "reference": reference, "mediaType": media_type}
            images.set_tag_status(new, tag, res, gen, t_now)
            self._ensure_image(res, t_now)
            return self._commit_stream(r, old, new, t_now)

    def _commit_stream(self, r, old, new, t_now):
        """Store an image stream changed by an import: a new resourceVersion only if it really changed."""
        self._resolve_tag_references(new, t_now)
        if new != old:
            new["metadata"]["resourceVersion"] = self.store.next_rv()
            self.store.put(r.key, new)
        self.store.save()
        return new

    def image_stream_mapping(self, ns, body, user):
        r = BY_KEY["imagestreammappings.image.openshift.io"]
        self._check_body(r, body)
        name = body["metadata"].get("name")
        image = body.get("image") or {}
        digest = (image.get("metadata") or {}).get("name")
        tag = body.get("tag")
        causes = []
        if not name:
            causes.append(("metadata.name", "FieldValueRequired", "Required value"))
        if not digest:
            causes.append(("image.metadata.name", "FieldValueRequired", "Required value"))
        if not image.get("dockerImageReference"):
            causes.append(("image.dockerImageReference", "FieldValueRequired", "Required value"))
        if not tag:
            causes.append(("tag", "FieldValueRequired", "Required value"))
        if causes:
            raise invalid(r, name, causes)
        self.map_image(ns, name, tag, digest, image["dockerImageReference"],
                       image.get("dockerImageManifestMediaType"), user)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

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
        self.import_stream(ns, s)
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
