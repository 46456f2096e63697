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

from . import controllers, patch as patchlib, quantity, resources, validation
from .resources import BY_KEY

DEFAULT_NAMESPACES = ["default", "kube-public", "kube-system", "openshift", "openshift-infra", "openshift-node"]
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")   # the apiserver's lifecycle admission
DEFAULT_SERVICE_ACCOUNTS = ["builder", "default", "deployer"]
INTERNAL_REGISTRY = "docker-registry.default.svc:5000"
ROUTER_DOMAIN = "apps.lab.test"
MAX_REPOSITORY_TAGS = 50
REPO_CHECK = "openshift.io/image.dockerRepositoryCheck"

GENERATION_TYPES = {"deployments.apps", "daemonsets.apps", "statefulsets.apps", "replicasets.apps",
                    "replicationcontrollers", "deploymentconfigs.apps.openshift.io",
                    "imagestreams.image.openshift.io"}

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
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


def name_problem(key, name):
    if key == "namespaces":
        if len(name) > 63 or not _LABEL.match(name):
            return ("a DNS-1123 label must consist of lower case alphanumeric characters or '-', and must start "
                    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    elif key == "services":
        if len(name) > 63 or not _DNS1035.match(name):
            return ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
    elif key.endswith("rbac.authorization.k8s.io") or key in ("images.image.openshift.io",
                                                              "imagestreams.image.openshift.io",
                                                              "securitycontextconstraints.security.openshift.io"):
        if name in (".", "..") or "/" in name or "%" in name:
            return 'may not be "." or ".." and may not contain "/" or "%"'
    else:
        if len(name) > 253 or not _SUBDOMAIN.match(name):
            return ("a DNS-1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
    return None


def _validate(r, obj, old):
    """Type-specific validation -> list of causes (field, reason, message)."""
    causes = []
    key = r.key
    md = obj.get("metadata") or {}
    for f in ("labels", "annotations"):
        v = md.get(f)
        if v is not None and (not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values())):
            causes.append(("metadata." + f, "FieldValueInvalid", "Invalid value: must be a map of strings"))
    if key == "secrets":
        data = obj.get("data") or {}
        for k in data:
            if not _DATA_KEY.match(k):
                causes.append(("data[%s]" % k, "FieldValueInvalid",
                               'Invalid value: "%s": a valid config key must consist of alphanumeric characters, '
                               "'-', '_' or '.'" % k))
        t = obj.get("type")
        required = {"kubernetes.io/dockerconfigjson": ".dockerconfigjson", "kubernetes.io/dockercfg": ".dockercfg"}
        if t in required:
            k = required[t]
            if k not in data:
                causes.append(("data[%s]" % k, "FieldValueRequired", "Required value"))
            else:
                try:
                    doc = json.loads(base64.b64decode(data[k]).decode("utf-8"))
                    if not isinstance(doc, dict):
                        raise ValueError("not an object")
                except (ValueError, UnicodeDecodeError) as e:
                    causes.append(("data[%s]" % k, "FieldValueInvalid", "Invalid value: \"<secret contents "
                                   "redacted>\": %s" % e))
        if t == "kubernetes.io/tls":
            for k in ("tls.crt", "tls.key"):
                if k not in data:
                    causes.append(("data[%s]" % k, "FieldValueRequired", "Required value"))
        if t == "kubernetes.io/basic-auth" and not ({"username", "password"} & set(data)):
            causes.append(("data[username]", "FieldValueRequired", "Required value"))
        if old is not None and old.get("type") != obj.get("type"):
            causes.append(("type", "FieldValueInvalid", "Invalid value: %s: field is immutable"
                           % json.dumps(obj.get("type"))))
    elif key == "configmaps":
        for f in ("data", "binaryData"):
            for k in obj.get(f) or {}:
                if not _DATA_KEY.match(k):
                    causes.append(("%s[%s]" % (f, k), "FieldValueInvalid", 'Invalid value: "%s": a valid config '
                                   "key must consist of alphanumeric characters, '-', '_' or '.'" % k))
    elif key in ("rolebindings.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io"):
        ref = obj.get("roleRef") or {}
        if not ref.get("name"):
            causes.append(("roleRef.name", "FieldValueRequired", "Required value"))
        if ref.get("kind") not in ("Role", "ClusterRole"):
            causes.append(("roleRef.kind", "FieldValueNotSupported",
                           'Unsupported value: %s: supported values: "Role", "ClusterRole"'
                           % json.dumps(ref.get("kind"))))
        if old is not None and old.get("roleRef") != obj.get("roleRef"):
            causes.append(("roleRef", "FieldValueInvalid", "Invalid value: cannot change roleRef"))
        for i, s in enumerate(obj.get("subjects") or []):
            if not s.get("name"):
                causes.append(("subjects[%d].name" % i, "FieldValueRequired", "Required value"))
            if s.get("kind") not in ("User", "Group", "ServiceAccount", "SystemUser", "SystemGroup"):
                causes.append(("subjects[%d].kind" % i, "FieldValueNotSupported", "Unsupported value: %s"
                               % json.dumps(s.get("kind"))))
    elif key == "services":
        spec = obj.get("spec") or {}
        if not spec.get("ports") and spec.get("type", "ClusterIP") != "ExternalName" \
                and spec.get("clusterIP") != "None":
            causes.append(("spec.ports", "FieldValueRequired", "Required value"))
        for i, p in enumerate(spec.get("ports") or []):
            if not isinstance(p.get("port"), int) or not 0 < p["port"] < 65536:
                causes.append(("spec.ports[%d].port" % i, "FieldValueInvalid",
                               "Invalid value: %s: must be between 1 and 65535, inclusive" % json.dumps(p.get("port"))))
    elif key == "imagestreams.image.openshift.io":
        seen = set()
        for i, t in enumerate((obj.get("spec") or {}).get("tags") or []):
            n = t.get("name")
            if not n or not _TAG.match(n):
                causes.append(("spec.tags[%d].name" % i, "FieldValueInvalid", "Invalid value: %s: must be a valid "
                               "image tag" % json.dumps(n)))
            elif n in seen:
                causes.append(("spec.tags[%d].name" % i, "FieldValueDuplicate", "Duplicate value: %s" % json.dumps(n)))
            seen.add(n)
            frm = t.get("from")
            if frm is not None:
                if frm.get("kind") not in ("DockerImage", "ImageStreamTag", "ImageStreamImage"):
                    causes.append(("spec.tags[%s].from.kind" % n, "FieldValueInvalid",
                                   "Invalid value: %s: valid values are 'DockerImage', 'ImageStreamImage', "
                                   "'ImageStreamTag'" % json.dumps(frm.get("kind"))))
                if not frm.get("name"):
                    causes.append(("spec.tags[%s].from.name" % n, "FieldValueRequired", "Required value"))
    elif key == "routes.route.openshift.io":
        to = (obj.get("spec") or {}).get("to") or {}
        if not to.get("name"):
            causes.append(("spec.to.name", "FieldValueRequired", "Required value"))
    # pod templates (1.11 ValidatePodTemplateSpec) and PVC updates: lab/api/validation.py
    causes.extend(validation.validate(key, obj, old))
    return causes


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
        key = r.key
        md = obj["metadata"]
        for f in ("labels", "annotations"):
            if f in md and not md[f]:
                md.pop(f)
        if key == "secrets":
            data = obj.get("data")
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise bad_request("Secret.data must be an object")
            for k, v in list(data.items()):
                if v is None:
                    v = ""
                try:
                    data[k] = base64.b64encode(base64.b64decode(v, validate=True)).decode("ascii")
                except (ValueError, TypeError):
                    raise bad_request("Secret in version \"v1\" cannot be handled as a Secret: v1.Secret.Data: "
                                      "decode base64: illegal base64 data in key %r" % k)
            sd = obj.pop("stringData", None)
            if sd:
                if not isinstance(sd, dict):
                    raise bad_request("Secret.stringData must be an object")
                for k, v in sd.items():
                    data[k] = base64.b64encode(str("" if v is None else v).encode("utf-8")).decode("ascii")
            if data:
                obj["data"] = data
            else:
                obj.pop("data", None)
            obj["type"] = obj.get("type") or "Opaque"
        elif key == "configmaps":
            for f in ("data", "binaryData"):
                if f in obj and not obj[f]:
                    obj.pop(f)
        elif key == "namespaces":
            spec = obj.get("spec") or {}
            spec.setdefault("finalizers", ["openshift.io/origin", "kubernetes"])
            obj["spec"] = spec
            obj["status"] = (old or {}).get("status") or {"phase": "Active"}
            if old is None:
                ann = md.setdefault("annotations", {})
                ann.setdefault("openshift.io/sa.scc.mcs", "s0:c%d,c%d" % (10 + self.store.rv % 20, 5))
                ann.setdefault("openshift.io/sa.scc.supplemental-groups", "1000%02d0000/10000" % (self.store.rv % 90 + 10))
                ann.setdefault("openshift.io/sa.scc.uid-range", "1000%02d0000/10000" % (self.store.rv % 90 + 10))
        elif key == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if old is not None and not spec.get("clusterIP"):
                spec["clusterIP"] = (old.get("spec") or {}).get("clusterIP")
            if not spec.get("clusterIP") and spec["type"] != "ExternalName":
                spec["clusterIP"] = self._allocate_ip()
            for p in spec.get("ports") or []:
                p.setdefault("protocol", "TCP")
                p.setdefault("targetPort", p.get("port"))
            obj.setdefault("status", {"loadBalancer": {}})
        elif key == "routes.route.openshift.io":
            spec = obj.setdefault("spec", {})
            if not spec.get("host"):
                spec["host"] = "%s-%s.%s" % (md["name"], md.get("namespace"), ROUTER_DOMAIN)
            to = spec.get("to") or {}
            to.setdefault("kind", "Service")
            to.setdefault("weight", 100)
            spec["wildcardPolicy"] = spec.get("wildcardPolicy") or "None"
            if old is None or (old.get("spec") or {}).get("host") != spec["host"]:
                obj["status"] = {"ingress": [{"host": spec["host"], "routerName": "router",
                                              "routerCanonicalHostname": ROUTER_DOMAIN, "wildcardPolicy": "None",
                                              "conditions": [{"type": "Admitted", "status": "True",
                                                              "lastTransitionTime": now()}]}]}
        elif key == "imagestreams.image.openshift.io":
            spec = obj.get("spec") or {}
            obj["spec"] = spec
            spec.setdefault("lookupPolicy", {"local": False})
            for t in spec.get("tags") or []:
                if t.get("importPolicy") is None:
                    t["importPolicy"] = {}
                if not (t.get("referencePolicy") or {}).get("type"):
                    t["referencePolicy"] = {"type": "Source"}
                if "annotations" in t and not t["annotations"]:
                    t.pop("annotations")
            if old is not None and (old.get("spec") or {}).get("dockerImageRepository") != \
                    spec.get("dockerImageRepository"):
                (md.get("annotations") or {}).pop(REPO_CHECK, None)
                if "annotations" in md and not md["annotations"]:
                    md.pop("annotations")
            st = obj.setdefault("status", {})
            st["dockerImageRepository"] = "%s/%s/%s" % (self.internal_registry, md.get("namespace"), md["name"])
        elif key == "persistentvolumeclaims":
            obj.setdefault("status", {"phase": "Pending"})
        elif key == "deploymentconfigs.apps.openshift.io":
            spec = obj.setdefault("spec", {})
            if spec.get("triggers") is None:
                spec["triggers"] = [{"type": "ConfigChange"}]
            spec.setdefault("strategy", {"type": "Rolling"})
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("test", False)
            obj.setdefault("status", {"latestVersion": 0, "observedGeneration": 0, "replicas": 0,
                                      "updatedReplicas": 0, "availableReplicas": 0, "unavailableReplicas": 0})
        # 1.11 pod-spec defaults and canonical quantities (lab/api/validation.py, quantity.py)
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
        """metadata.generation (and image-stream tag generations) of obj relative to old."""
        if r.key not in GENERATION_TYPES:
            obj["metadata"].pop("generation", None)
            return
        if r.key == "imagestreams.image.openshift.io":
            return self.stream_generations(obj, old)    # imagestreams.py: 3.11's strategy.go rules
        old_gen = int(((old or {}).get("metadata") or {}).get("generation") or 0)
        if old is None:
            gen = 1
        elif obj.get("spec") != old.get("spec"):
            gen = old_gen + 1
        else:
            gen = old_gen
        obj["metadata"]["generation"] = gen
        if r.key == "deploymentconfigs.apps.openshift.io":
            st = obj.setdefault("status", {})
            triggers = [t.get("type") for t in (obj.get("spec") or {}).get("triggers") or []]
            tmpl_changed = old is None or (old.get("spec") or {}).get("template") != obj["spec"].get("template")
            if "ConfigChange" in triggers and tmpl_changed:
                st["latestVersion"] = int(st.get("latestVersion") or 0) + 1
            st["observedGeneration"] = gen

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
        md = obj["metadata"]
        if r.key == "namespaces":      # default service accounts, a moment later (controllers.py)
            self.service_accounts.namespace_created(md["name"])
        elif r.key == "serviceaccounts":   # token and dockercfg secrets, asynchronously (controllers.py)
            self.service_accounts.account_created(md["namespace"], md["name"])

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
        if gone is not None and r.key in ("deploymentconfigs.apps.openshift.io", "replicationcontrollers"):
            controllers.delete_owned(self, ns, gone["metadata"]["uid"])   # garbage collection of RCs, pods
        if r.key == "namespaces":
            for key in self.store.keys():
                rr = BY_KEY.get(key)
                if rr is not None and rr.namespaced:
                    for o in self.store.items(key, name):
                        self.store.delete(key, name, o["metadata"]["name"])
            self.store.rv += 1
        elif r.key == "serviceaccounts":
            for s in self.store.items("secrets", ns):
                if (s["metadata"].get("annotations") or {}).get("kubernetes.io/service-account.name") == name:
                    self.store.delete("secrets", ns, s["metadata"]["name"])
            self.store.rv += 1
        else:
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
        """Hooks that must run outside the store lock (they contact registries). Returns the final
        object to answer with."""
        if r.key == "deploymentconfigs.apps.openshift.io":
            controllers.after_dc_write(self, ns, name, old, obj, now())   # RC, SCC admission, DC status
        if r.key == "imagestreams.image.openshift.io":
            final = self.after_stream_write(ns, name)   # imagestreams.py: the import runs in the background
            return final or obj
        return obj

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
