"""Semantics of the OKD 3.11 API stand-in, independent of HTTP: CRUD with resourceVersion/generation,
validation, patching, selectors, the small "controllers" OKD runs synchronously enough to matter
(service-account secrets, namespace service accounts, image imports, config-change deployments)."""
import base64
import copy
import datetime
import json
import re
import secrets as _random
import threading
import uuid

from . import authz, controllers, patch as patchlib, quantity, resources, strategies, validation
from .resources import BY_KEY

DEFAULT_NAMESPACES = ["default", "kube-public", "kube-system", "openshift", "openshift-infra", "openshift-node"]
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")   # the apiserver's lifecycle admission
DEFAULT_SERVICE_ACCOUNTS = ["builder", "default", "deployer"]
INTERNAL_REGISTRY = "docker-registry.default.svc:5000"
ROUTER_DOMAIN = strategies.ROUTER_DOMAIN
MAX_REPOSITORY_TAGS = 50
REPO_CHECK = strategies.REPO_CHECK


PATCH_TYPES = {"application/json-patch+json": "json", "application/merge-patch+json": "merge",
               "application/strategic-merge-patch+json": "strategic"}


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------ errors
class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        Exception.__init__(self, message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            st["details"] = self.details
        return st


def _details(r, name=None):
    d = {}
    if name is not None:
        d["name"] = name
    if r.group:
        d["group"] = r.group
    d["kind"] = r.plural
    return d


def not_found(r, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (r.key, name), _details(r, name))


def already_exists(r, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (r.key, name), _details(r, name))


def conflict(r, name, why="the object has been modified; please apply your changes to the latest version "
                          "and try again"):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s' % (r.key, name, why),
                    _details(r, name))


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def invalid(r, name, causes):
    """causes: [(field, reason, message)] -> 422 Invalid like the apiserver's field.ErrorList."""
    msg = "; ".join("%s: %s" % (f, m) for f, _, m in causes)
    if len(causes) > 1:
        msg = "[" + ", ".join("%s: %s" % (f, m) for f, _, m in causes) + "]"
    d = {"name": name or "", "kind": r.kind, "causes": [{"reason": rs, "message": m, "field": f}
                                                         for f, rs, m in causes]}
    if r.group:
        d["group"] = r.group
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (r.kind, name or "", msg), d)


def not_found_ns(ns):
    return not_found(BY_KEY["namespaces"], ns)


# ------------------------------------------------------------------------------------------ validation
# per kind: lab/api/strategies.py (one REST strategy per kind, like the apiserver's strategy.go files)
def name_problem(key, name):
    return strategies.for_key(key).name_problem(name)


def _validate(r, obj, old):
    """All validation causes (field, reason, message) of a write (strategies.validate)."""
    return strategies.validate(r, obj, old)


# ------------------------------------------------------------------------------------------ selectors
def parse_label_selector(s):
    reqs = []
    for part in re.findall(r"(?:[^,(]|\([^)]*\))+", s or ""):
        p = part.strip()
        if not p:
            continue
        m = re.match(r"^(\S+?)\s+(in|notin)\s*\((.*)\)$", p)
        if m:
            vals = set(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append((m.group(1), m.group(2), vals))
        elif p.startswith("!"):
            reqs.append((p[1:].strip(), "!", None))
        elif "!=" in p:
            k, v = p.split("!=", 1)
            reqs.append((k.strip(), "!=", v.strip()))
        elif "==" in p:
            k, v = p.split("==", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif "=" in p:
            k, v = p.split("=", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif re.match(r"^[A-Za-z0-9./_-]+$", p):
            reqs.append((p, "exists", None))
        else:
            raise bad_request("unable to parse requirement: invalid label selector %r" % s)
    return reqs


def match_labels(reqs, labels):
    labels = labels or {}
    for k, op, v in reqs:
        have = k in labels
        if op == "=" and labels.get(k) != v:
            return False
        if op == "!=" and have and labels[k] == v:
            return False
        if op == "in" and (not have or labels[k] not in v):
            return False
        if op == "notin" and have and labels[k] in v:
            return False
        if op == "exists" and not have:
            return False
        if op == "!" and have:
            return False
    return True


def _dig(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def parse_field_selector(r, s):
    reqs = []
    for part in (s or "").split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^!=]+)(==|!=|=)(.*)$", part)
        if not m:
            raise bad_request("invalid field selector: %r" % s)
        field, op, val = m.group(1).strip(), m.group(2), m.group(3).strip()
        ok = field in ("metadata.name", "metadata.namespace") \
            or (r.key == "secrets" and field == "type") \
            or field.startswith("spec.") or field.startswith("status.") \
            or (r.key == "events" and field.split(".")[0] in ("involvedObject", "reason", "source", "type"))
        if not ok:
            raise bad_request('"%s" is not a known field selector: only "metadata.name", "metadata.namespace"'
                              % field)
        reqs.append((field, op != "!=", val))
    return reqs


def match_fields(reqs, obj):
    for field, eq, val in reqs:
        have = _dig(obj, field)
        have = "" if have is None else (have if isinstance(have, str) else json.dumps(have))
        if (have == val) != eq:
            return False
    return True


# ------------------------------------------------------------------------------------------ the API
from .imagestreams import ImageStreams  # noqa: E402  (image streams and imports; it uses the helpers above)


class Api(ImageStreams):
    def __init__(self, store, ca_file=None, internal_registry=INTERNAL_REGISTRY, log=None,
                 import_timeout=15.0, max_bulk_tags=MAX_REPOSITORY_TAGS):
        self.store = store
        # imagePolicyConfig.maxImagesBulkImportedPerRepository (3.11 default 50; -1: no limit)
        self.max_bulk_tags = int(max_bulk_tags)
        self.lock = store.lock
        self.ca_file = ca_file
        self.internal_registry = internal_registry
        self.import_timeout = import_timeout
        self.log = log or (lambda msg: None)
        self.ip_lock = threading.Lock()
        # asynchronous controllers (lab/api/controllers.py): service-account secrets, namespace termination
        self.later = controllers.Later(self.log)
        self.service_accounts = controllers.ServiceAccounts(self, self.later)
        self.namespaces = controllers.Namespaces(self, self.later)
        controllers.NodeSync(self, self.later).start()

    # ---------------------------------------------------------------- bootstrap
    def bootstrap(self):
        with self.lock:
            if not self.store.load():
                self.service_accounts.sync = True      # a running cluster's own namespaces are complete
                for ns in DEFAULT_NAMESPACES:
                    self._create(BY_KEY["namespaces"], None, {"metadata": {"name": ns}}, "system:admin")
                self._create(BY_KEY["services"], "default", {
                    "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                    "spec": {"clusterIP": "172.30.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 8443}],
                             "sessionAffinity": "None", "type": "ClusterIP"}}, "system:admin")
                for cr, rules in _CLUSTER_ROLES:
                    self._create(BY_KEY["clusterroles.rbac.authorization.k8s.io"], None,
                                 {"metadata": {"name": cr}, "rules": rules}, "system:admin")
                for scc in _SCCS:
                    self._create(BY_KEY["securitycontextconstraints.security.openshift.io"], None,
                                 copy.deepcopy(scc), "system:admin")
                self.store.save()
            self.service_accounts.sync = False
            self.service_accounts.resume()
            self.namespaces.resume()

    # ---------------------------------------------------------------- helpers
    def _self_link(self, r, ns, name):
        base = "/apis/%s/%s" % (r.group, r.version) if r.group else "/api/" + r.version
        if r.namespaced and ns:
            base += "/namespaces/" + ns
        return base + "/" + r.plural + ("/" + name if name else "")

    def _ns_exists(self, ns):
        return self.store.exists("namespaces", None, ns)

    def get(self, r, ns, name):
        with self.lock:
            obj = self.store.get(r.key, ns if r.namespaced else None, name)
            if obj is None:
                raise not_found(r, name)
            return obj

    def list(self, r, ns, label_selector=None, field_selector=None):
        lreqs = parse_label_selector(label_selector)
        freqs = parse_field_selector(r, field_selector)
        with self.lock:
            items = [o for o in self.store.items(r.key, ns if r.namespaced else None)
                     if match_labels(lreqs, o["metadata"].get("labels")) and match_fields(freqs, o)]
            return self._list_doc(r, ns, items)

    def _list_doc(self, r, ns, items, kind=None, api_version=None):
        for o in items:
            o.pop("kind", None)
            o.pop("apiVersion", None)
        return {"kind": kind or r.kind + "List", "apiVersion": api_version or r.api_version,
                "metadata": {"selfLink": self._self_link(r, ns, None), "resourceVersion": str(self.store.rv)},
                "items": items}

    def _check_body(self, r, body, kinds=None):
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        kind = body.get("kind")
        if kind and kind not in (kinds or (r.kind,)):
            raise bad_request("the kind %r of the provided object does not match the expected kind %r"
                              % (kind, r.kind))
        if body.get("metadata") is None:
            body["metadata"] = {}
        if not isinstance(body["metadata"], dict):
            raise bad_request("metadata must be an object")

    # ---------------------------------------------------------------- normalisation (defaults)
    def _normalize(self, r, obj, old, user):
        """PrepareForCreate/PrepareForUpdate and defaults: common metadata, the kind's strategy, then the
        1.11 pod-spec defaults and canonical quantities (lab/api/validation.py, quantity.py)."""
        key = r.key
        md = obj["metadata"]
        for f in ("labels", "annotations"):
            if f in md and not md[f]:
                md.pop(f)
        strategies.for_key(key).prepare(self, r, obj, old, user)
        validation.default(key, obj)
        try:
            validation.canonicalize(key, obj)
        except quantity.QuantityError as e:
            raise bad_request("%s in version \"%s\" cannot be handled as a %s: %s" % (r.kind, r.version or "v1",
                                                                                      r.kind, e))

    def _allocate_ip(self):
        used = set((s.get("spec") or {}).get("clusterIP") for s in self.store.items("services"))
        for i in range(2, 65000):
            ip = "172.30.%d.%d" % (i // 250, i % 250 + 1)
            if ip not in used:
                return ip
        raise ApiError(500, "InternalError", "no cluster IPs left")

    def _generations(self, r, obj, old):
        """metadata.generation (and image-stream tag generations) of obj relative to old (the strategy)."""
        return strategies.for_key(r.key).generations(self, r, obj, old)

    # ---------------------------------------------------------------- create
    def create(self, r, ns, body, user):
        self._check_body(r, body)
        with self.lock:
            obj = self._create(r, ns, body, user)
            self.store.save()
        return self._after_write(r, ns, obj["metadata"]["name"], None, obj)

    def _create(self, r, ns, body, user, save=False):
        obj = copy.deepcopy(body)
        md = obj["metadata"]
        if r.namespaced:
            if md.get("namespace") and ns and md["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on "
                                  "the request")
            if not ns:
                raise bad_request("a namespace is required to create %s" % r.key)
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + "".join(_random.choice("bcdfghjklmnpqrstvwxz2456789")
                                                      for _ in range(5))
        name = md.get("name")
        if not name:
            raise invalid(r, "", [("metadata.name", "FieldValueRequired",
                                   "Required value: name or generateName is required")])
        if not isinstance(name, str):
            raise bad_request("metadata.name must be a string")
        problem = name_problem(r.key, name)
        if problem:
            raise invalid(r, name, [("metadata.name", "FieldValueInvalid",
                                     "Invalid value: %s: %s" % (json.dumps(name), problem))])
        if r.namespaced and not self._ns_exists(ns):
            raise not_found_ns(ns)
        if r.namespaced:
            self.namespaces.check_create(r, ns, name)   # NamespaceLifecycle: not in a terminating namespace
        if self.store.exists(r.key, ns if r.namespaced else None, name):
            raise already_exists(r, name)
        for f in ("resourceVersion", "uid", "creationTimestamp", "selfLink", "generation", "managedFields",
                  "deletionTimestamp"):
            md.pop(f, None)
        obj["kind"] = r.kind
        obj["apiVersion"] = r.api_version
        if r.status:
            obj.pop("status", None)
        self._normalize(r, obj, None, user)
        causes = _validate(r, obj, None)
        if causes:
            raise invalid(r, name, causes)
        self._generations(r, obj, None)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now()
        md["selfLink"] = self._self_link(r, ns, name)
        md["resourceVersion"] = self.store.next_rv()
        self.store.put(r.key, obj)
        self._controllers_on_create(r, obj)
        if save:
            self.store.save()
        return obj

    def _controllers_on_create(self, r, obj):
        strategies.for_key(r.key).on_create(self, obj)   # e.g. service accounts' secrets (controllers.py)

    def _service_account_secrets(self, sa):
        """OKD's service-account token + dockercfg secrets, referenced from the service account."""
        ns, name = sa["metadata"]["namespace"], sa["metadata"]["name"]
        suffix = lambda: "".join(_random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))  # noqa: E731
        token = base64.urlsafe_b64encode(_random.token_bytes(48)).decode("ascii").rstrip("=")
        tok_name = "%s-token-%s" % (name, suffix())
        ca = b""
        if self.ca_file:
            try:
                with open(self.ca_file, "rb") as f:
                    ca = f.read()
            except OSError:
                pass
        b64 = lambda b: base64.b64encode(b if isinstance(b, bytes) else b.encode("utf-8")).decode("ascii")  # noqa
        self._create(BY_KEY["secrets"], ns, {
            "metadata": {"name": tok_name, "annotations": {"kubernetes.io/service-account.name": name,
                                                          "kubernetes.io/service-account.uid": sa["metadata"]["uid"]}},
            "type": "kubernetes.io/service-account-token",
            "data": {"ca.crt": b64(ca), "namespace": b64(ns), "token": b64(token)}}, "system:admin")
        auth = {"username": "serviceaccount", "password": token, "email": "serviceaccount@example.org",
                "auth": b64("serviceaccount:" + token)}
        dcfg = {self.internal_registry: auth, "172.30.1.1:5000": auth}
        cfg_name = "%s-dockercfg-%s" % (name, suffix())
        self._create(BY_KEY["secrets"], ns, {
            "metadata": {"name": cfg_name, "annotations": {
                "kubernetes.io/service-account.name": name, "kubernetes.io/service-account.uid": sa["metadata"]["uid"],
                "openshift.io/token-secret.name": tok_name, "openshift.io/token-secret.value": token}},
            "type": "kubernetes.io/dockercfg", "data": {".dockercfg": b64(json.dumps(dcfg))}}, "system:admin")
        cur = self.store.get("serviceaccounts", ns, name)
        cur["secrets"] = (cur.get("secrets") or []) + [{"name": tok_name}, {"name": cfg_name}]
        cur["imagePullSecrets"] = (cur.get("imagePullSecrets") or []) + [{"name": cfg_name}]
        cur["metadata"]["resourceVersion"] = self.store.next_rv()
        self.store.put("serviceaccounts", cur)

    # ---------------------------------------------------------------- update / patch
    def update(self, r, ns, name, body, user, subresource=None):
        self._check_body(r, body)
        with self.lock:
            old = self.store.get(r.key, ns if r.namespaced else None, name)
            if old is None:
                raise not_found(r, name)
            obj, changed = self._update(r, ns, name, old, body, user, subresource)
        return self._after_write(r, ns, name, old, obj) if changed else obj

    def patch(self, r, ns, name, ctype, body_bytes, user, subresource=None):
        kind = PATCH_TYPES.get(ctype)
        if kind is None:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, "
                           "application/strategic-merge-patch+json")
        try:
            p = json.loads(body_bytes.decode("utf-8") or "null")
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request("error decoding patch: %s" % e)
        with self.lock:
            old = self.store.get(r.key, ns if r.namespaced else None, name)
            if old is None:
                raise not_found(r, name)
            try:
                if kind == "json":
                    new = patchlib.json_patch(old, p)
                elif kind == "merge":
                    if not isinstance(p, dict):
                        raise patchlib.PatchError("merge patch must be a JSON object", 400)
                    new = patchlib.merge_patch(old, p)
                else:
                    new = patchlib.strategic_merge_patch(old, p, lambda path: resources.merge_key(r.key, path))
            except patchlib.PatchError as e:
                if e.code == 400:
                    raise bad_request(str(e))
                raise ApiError(422, "Invalid", str(e))
            if not isinstance(new, dict):
                raise bad_request("patched object is not a JSON object")
            new.setdefault("metadata", {})
            # a patch that carries resourceVersion is a precondition (like the apiserver)
            prv = None
            if isinstance(p, dict) and isinstance(p.get("metadata"), dict):
                prv = p["metadata"].get("resourceVersion")
            if prv is None and kind == "json":
                prv = new["metadata"].get("resourceVersion")
                prv = prv if prv != old["metadata"].get("resourceVersion") else None
            if prv is not None and str(prv) != old["metadata"].get("resourceVersion"):
                raise conflict(r, name)
            new["metadata"]["resourceVersion"] = old["metadata"].get("resourceVersion")
            if new["metadata"].get("name") != name:
                raise invalid(r, name, [("metadata.name", "FieldValueInvalid",
                                         "Invalid value: %s: field is immutable" % json.dumps(new["metadata"].get("name")))])
            if r.namespaced and new["metadata"].get("namespace") != ns:
                raise invalid(r, name, [("metadata.namespace", "FieldValueInvalid",
                                         "Invalid value: %s: field is immutable"
                                         % json.dumps(new["metadata"].get("namespace")))])
            obj, changed = self._update(r, ns, name, old, new, user, subresource)
        return self._after_write(r, ns, name, old, obj) if changed else obj

    def _update(self, r, ns, name, old, body, user, subresource):
        md = body["metadata"]
        if md.get("name") not in (None, name):
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (md.get("name"), name))
        if r.namespaced and md.get("namespace") not in (None, ns):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                              "request")
        rv = md.get("resourceVersion")
        if rv not in (None, "") and str(rv) != old["metadata"]["resourceVersion"]:
            raise conflict(r, name)
        if subresource == "status":
            new = copy.deepcopy(old)
            if "status" in body:
                new["status"] = copy.deepcopy(body["status"])
        elif subresource == "finalize" and r.key == "namespaces":
            new = copy.deepcopy(old)
            new["spec"] = copy.deepcopy(body.get("spec") or {})
        elif subresource:
            raise not_found(r, name + "/" + subresource)
        else:
            new = copy.deepcopy(body)
            if r.status:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
        nmd = new["metadata"]
        for f in ("uid", "creationTimestamp", "selfLink", "generation", "deletionTimestamp"):
            if f in old["metadata"]:
                nmd[f] = old["metadata"][f]
            else:
                nmd.pop(f, None)
        nmd.pop("managedFields", None)
        nmd["name"] = name
        if r.namespaced:
            nmd["namespace"] = ns
        else:
            nmd.pop("namespace", None)
        new["kind"] = r.kind
        new["apiVersion"] = r.api_version
        self._normalize(r, new, old, user)
        causes = _validate(r, new, old)
        if causes:
            raise invalid(r, name, causes)
        self._generations(r, new, old)
        nmd["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return old, False
        nmd["resourceVersion"] = self.store.next_rv()
        self.store.put(r.key, new)
        self.store.save()
        return new, True

    # ---------------------------------------------------------------- delete
    def delete(self, r, ns, name, options, user):
        if r.key == "namespaces" and name in IMMORTAL_NAMESPACES:
            raise ApiError(403, "Forbidden", 'namespaces "%s" is forbidden: this namespace may not be deleted' % name,
                           {"name": name, "kind": "namespaces"})
        with self.lock:
            old = self.store.get(r.key, ns if r.namespaced else None, name)
            if old is None:
                raise not_found(r, name)
            pre = (options or {}).get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != old["metadata"].get("uid"):
                raise conflict(r, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                               % (pre["uid"], old["metadata"].get("uid")))
            # a resourceVersion precondition is ignored: 1.11's metav1.Preconditions has only UID (ResourceVersion
            # came with kubernetes 1.14, PR #74040); the unknown field is dropped when DeleteOptions is decoded
            if r.key == "namespaces":   # Terminating first, removed by the namespace controller (controllers.py)
                out = self.namespaces.delete(name, now())
                self.store.save()
                return out
            self._delete(r, ns, name)
            self.store.save()
        if r.key == "namespaces":
            old["status"] = {"phase": "Terminating"}
            old["metadata"]["deletionTimestamp"] = now()
            return old
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": dict(_details(r, name), uid=old["metadata"].get("uid"))}

    def _delete(self, r, ns, name):
        gone = self.store.get(r.key, ns if r.namespaced else None, name)
        self.store.delete(r.key, ns if r.namespaced else None, name)
        if gone is not None:
            strategies.for_key(r.key).on_delete(self, ns, gone)   # garbage collection, namespace content
        self.store.rv += 1

    def delete_collection(self, r, ns, label_selector, field_selector, user):
        lst = self.list(r, ns, label_selector, field_selector)
        with self.lock:
            for o in lst["items"]:
                self._delete(r, ns, o["metadata"]["name"])
            self.store.save()
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}

    # ---------------------------------------------------------------- after-write hooks
    def _after_write(self, r, ns, name, old, obj):
        """The strategy's hook that must run outside the store lock (it may contact registries). Returns the
        final object to answer with."""
        return strategies.for_key(r.key).after_write(self, ns, name, old, obj)

    # ---------------------------------------------------------------- access reviews (lab/api/authz.py)
    def access_review(self, r, ns, body, user, legacy=False):
        """POST of a (Self|Local)SubjectAccessReview: kubernetes 1.11 `pkg/registry/authorization/
        {selfsubjectaccessreview,subjectaccessreview,localsubjectaccessreview}/rest.go` for
        authorization.k8s.io/v1 (what image-registry 3.11 `pkg/dockerregistry/server/auth.go` verifyWithSAR
        sends), origin `pkg/authorization/apiserver/registry/{subjectaccessreview,localsubjectaccessreview}/
        rest.go` for authorization.openshift.io/v1 (answered with a SubjectAccessReviewResponse). A review
        naming no user and no groups is personal (the caller's own rights; everyone may ask, like the
        selfsubjectaccessreviews grant of basic-user); a review of someone else needs `create` on
        localsubjectaccessreviews (openshift, isAllowed) / the resource itself (kubernetes, checked by the
        front end). Decisions: authz.allowed."""
        self._check_body(r, body)
        if r.group == "authorization.k8s.io":
            spec = body.get("spec") or {}
            ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
            if bool(ra) == bool(nra):
                raise invalid(r, "", [("spec.resourceAttributes", "FieldValueInvalid", 'Invalid value: "null": '
                                       "exactly one of nonResourceAttributes or resourceAttributes must be specified")])
            if r.plural == "selfsubjectaccessreviews":
                subject, groups = user, authz.groups_of(user)
            else:
                subject, groups = spec.get("user") or "", list(spec.get("groups") or [])
                if not subject and not groups:
                    raise invalid(r, "", [("spec.user", "FieldValueInvalid",
                                           'Invalid value: "": at least one of user or group must be specified')])
            if r.plural == "localsubjectaccessreviews" and (ra or {}).get("namespace") != ns:
                raise invalid(r, "", [("spec.resourceAttributes.namespace", "FieldValueInvalid", "Invalid value: "
                                       "%s: must match metadata.namespace" % json.dumps((ra or {}).get("namespace")))])
            if nra:
                ok, reason = (subject == "admin" or (subject == "readonly" and nra.get("verb") == "get")), ""
            else:
                res, _, sub = (ra.get("resource") or "").partition("/")
                sub = ra.get("subresource") or sub
                with self.lock:
                    ok, reason = authz.allowed(self.store, subject, ra.get("verb") or "", ra.get("group") or "",
                                               res, sub, ra.get("namespace") or "", ra.get("name") or "", groups)
            out = copy.deepcopy(body)
            out["kind"], out["apiVersion"] = r.kind, r.api_version
            out["metadata"] = dict(out.get("metadata") or {}, creationTimestamp=None)
            out["status"] = {"allowed": bool(ok)}
            if reason:
                out["status"]["reason"] = reason
            return out
        # authorization.openshift.io/v1: the action's fields at the top level
        personal = not body.get("user") and not body.get("groups")
        namespace = ns if r.plural == "localsubjectaccessreviews" else (body.get("namespace") or "")
        if not body.get("verb"):
            raise invalid(r, "", [("verb", "FieldValueRequired", "Required value")])
        if not personal and user != "admin":
            res = "localsubjectaccessreviews"
            with self.lock:
                ok, _ = authz.allowed(self.store, user, "create", "authorization.openshift.io", res, "", namespace)
            if not ok:
                raise ApiError(403, "Forbidden", '%s.authorization.openshift.io is forbidden: User "%s" cannot '
                               'create %s.authorization.openshift.io %s' % (res, user, res, 'in the namespace "%s"'
                                                                            % namespace if namespace else
                                                                            "at the cluster scope"),
                               {"group": "authorization.openshift.io", "kind": res})
        subject = user if personal else (body.get("user") or "")
        groups = authz.groups_of(user) if personal else list(body.get("groups") or [])
        res, _, sub = (body.get("resource") or "").partition("/")
        with self.lock:
            ok, reason = authz.allowed(self.store, subject, body["verb"], body.get("resourceAPIGroup") or "", res,
                                       sub, namespace, body.get("resourceName") or "", groups)
        return {"kind": "SubjectAccessReviewResponse", "apiVersion": "v1" if legacy else r.api_version,
                "namespace": namespace, "allowed": bool(ok), "reason": reason}

    # ---------------------------------------------------------------- projects
    @staticmethod
    def as_project(ns_obj, legacy=False):
        p = copy.deepcopy(ns_obj)
        p["kind"] = "Project"
        p["apiVersion"] = "v1" if legacy else "project.openshift.io/v1"
        p["metadata"]["selfLink"] = "/apis/project.openshift.io/v1/projects/" + p["metadata"]["name"]
        return p

    def project_request(self, body, user, legacy=False):
        r = BY_KEY["projectrequests.project.openshift.io"]
        self._check_body(r, body, kinds=("ProjectRequest",))
        name = body["metadata"].get("name")
        if not name:
            raise invalid(r, "", [("metadata.name", "FieldValueRequired", "Required value")])
        ann = {"openshift.io/requester": user}
        if body.get("displayName"):
            ann["openshift.io/display-name"] = body["displayName"]
        if body.get("description"):
            ann["openshift.io/description"] = body["description"]
        with self.lock:
            if self._ns_exists(name):
                raise ApiError(409, "AlreadyExists", 'project.project.openshift.io "%s" already exists' % name,
                               {"name": name, "group": "project.openshift.io", "kind": "project"})
            obj = self._create(BY_KEY["namespaces"], None, {"metadata": {"name": name, "annotations": ann}}, user)
            self.store.save()
        return self.as_project(obj, legacy)


_CLUSTER_ROLES = [
    ("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                       {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
    ("admin", [{"apiGroups": ["", "image.openshift.io", "apps.openshift.io", "route.openshift.io"],
                "resources": ["*"], "verbs": ["*"]}]),
    ("edit", [{"apiGroups": ["", "image.openshift.io", "apps.openshift.io", "route.openshift.io"],
               "resources": ["*"], "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]),
    ("view", [{"apiGroups": ["", "image.openshift.io", "apps.openshift.io", "route.openshift.io"],
               "resources": ["*"], "verbs": ["get", "list", "watch"]}]),
    ("system:image-puller", [{"apiGroups": ["", "image.openshift.io"], "resources": ["imagestreams/layers"],
                              "verbs": ["get"]}]),
    ("system:image-pusher", [{"apiGroups": ["", "image.openshift.io"], "resources": ["imagestreams/layers"],
                              "verbs": ["get", "update"]}]),
    ("system:image-builder", [{"apiGroups": ["", "image.openshift.io"], "resources": ["imagestreams/layers"],
                               "verbs": ["get", "update"]}]),
    ("system:registry", [{"apiGroups": ["", "image.openshift.io"],
                          "resources": ["imagestreamimages", "imagestreammappings", "imagestreams",
                                        "imagestreams/secrets", "imagestreamtags"], "verbs": ["get", "list"]},
                         {"apiGroups": ["", "image.openshift.io"], "resources": ["imagestreammappings"],
                          "verbs": ["create"]}]),
    ("registry-viewer", [{"apiGroups": ["", "image.openshift.io"],
                          "resources": ["imagestreamimages", "imagestreammappings", "imagestreams",
                                        "imagestreamtags"], "verbs": ["get", "list", "watch"]}]),
]

_SCC_BASE = {"allowHostDirVolumePlugin": False, "allowHostIPC": False, "allowHostNetwork": False,
             "allowHostPID": False, "allowHostPorts": False, "allowPrivilegeEscalation": True,
             "allowPrivilegedContainer": False, "allowedCapabilities": None, "defaultAddCapabilities": None,
             "fsGroup": {"type": "MustRunAs"}, "groups": [], "priority": None, "readOnlyRootFilesystem": False,
             "requiredDropCapabilities": ["KILL", "MKNOD", "SETUID", "SETGID"],
             "runAsUser": {"type": "MustRunAsRange"}, "seLinuxContext": {"type": "MustRunAs"},
             "supplementalGroups": {"type": "RunAsAny"}, "users": [],
             "volumes": ["configMap", "downwardAPI", "emptyDir", "persistentVolumeClaim", "projected", "secret"]}


def _scc(name, **kw):
    d = copy.deepcopy(_SCC_BASE)
    d.update(kw)
    d["metadata"] = {"name": name}
    return d


_SCCS = [
    _scc("anyuid", groups=["system:cluster-admins"], priority=10, runAsUser={"type": "RunAsAny"},
         requiredDropCapabilities=["MKNOD"]),
    _scc("hostaccess", allowHostDirVolumePlugin=True, allowHostIPC=True, allowHostNetwork=True, allowHostPID=True,
         allowHostPorts=True, volumes=["configMap", "downwardAPI", "emptyDir", "hostPath", "persistentVolumeClaim",
                                       "projected", "secret"]),
    _scc("hostmount-anyuid", allowHostDirVolumePlugin=True, runAsUser={"type": "RunAsAny"},
         users=["system:serviceaccount:openshift-infra:pv-recycler-controller"],
         volumes=["configMap", "downwardAPI", "emptyDir", "hostPath", "nfs", "persistentVolumeClaim", "projected",
                  "secret"]),
    _scc("hostnetwork", allowHostNetwork=True, allowHostPorts=True),
    _scc("nonroot", runAsUser={"type": "MustRunAsNonRoot"}),
    _scc("privileged", allowHostDirVolumePlugin=True, allowHostIPC=True, allowHostNetwork=True, allowHostPID=True,
         allowHostPorts=True, allowPrivilegedContainer=True, allowedCapabilities=["*"],
         fsGroup={"type": "RunAsAny"}, groups=["system:cluster-admins", "system:nodes", "system:masters"],
         requiredDropCapabilities=None, runAsUser={"type": "RunAsAny"}, seLinuxContext={"type": "RunAsAny"},
         users=["system:admin", "system:serviceaccount:openshift-infra:build-controller"], volumes=["*"]),
    _scc("restricted", groups=["system:authenticated"]),
]
