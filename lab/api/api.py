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
from concurrent.futures import ThreadPoolExecutor

from . import images, patch as patchlib, resources
from .resources import BY_KEY

DEFAULT_NAMESPACES = ["default", "kube-public", "kube-system", "openshift", "openshift-infra", "openshift-node"]
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")   # the apiserver's lifecycle admission
DEFAULT_SERVICE_ACCOUNTS = ["builder", "default", "deployer"]
INTERNAL_REGISTRY = "docker-registry.default.svc:5000"
ROUTER_DOMAIN = "apps.lab.test"
MAX_REPOSITORY_TAGS = 50
REPO_CHECK = "openshift.io/image.dockerRepositoryCheck"
INSECURE_ANNOTATION = "openshift.io/image.insecureRepository"
IMPORT_WORKERS = 8

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


def _import_policy(policy):
    """A TagImportPolicy as stored: only the true flags (insecure, scheduled)."""
    return dict((k, v) for k, v in (policy or {}).items() if v not in (None, False))


def _names_tag_or_id(ref):
    """True when an image reference names a tag or a digest (not just HOST/REPO)."""
    return "@" in ref or ":" in ref.rsplit("/", 1)[-1]


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
    elif key == "deploymentconfigs.apps.openshift.io":
        tmpl = (obj.get("spec") or {}).get("template") or {}
        if not ((tmpl.get("spec") or {}).get("containers")):
            causes.append(("spec.template.spec.containers", "FieldValueRequired", "Required value"))
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
class Api(object):
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

    # ---------------------------------------------------------------- bootstrap
    def bootstrap(self):
        with self.lock:
            if not self.store.load():
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
        old_gen = int(((old or {}).get("metadata") or {}).get("generation") or 0)
        if old is None:
            gen = 1
        elif obj.get("spec") != old.get("spec") or r.key == "imagestreams.image.openshift.io":
            gen = old_gen
            if r.key == "imagestreams.image.openshift.io":
                old_tags = dict((t.get("name"), t) for t in (old.get("spec") or {}).get("tags") or [])
                for t in (obj.get("spec") or {}).get("tags") or []:
                    o = old_tags.get(t.get("name"))
                    strip = lambda x: dict((k, v) for k, v in x.items() if k != "generation")  # noqa: E731
                    if o is not None and strip(o) == strip(t):
                        t["generation"] = o.get("generation")
                    else:
                        t["generation"] = None  # set below
            if obj.get("spec") != old.get("spec"):
                gen = old_gen + 1
        else:
            gen = old_gen
        obj["metadata"]["generation"] = gen
        if r.key == "imagestreams.image.openshift.io":
            for t in (obj.get("spec") or {}).get("tags") or []:
                if t.get("generation") is None or old is None:
                    t["generation"] = gen
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
        if r.key == "namespaces":
            for sa in DEFAULT_SERVICE_ACCOUNTS:
                if not self.store.exists("serviceaccounts", md["name"], sa):
                    self._create(BY_KEY["serviceaccounts"], md["name"], {"metadata": {"name": sa}}, "system:admin")
        elif r.key == "serviceaccounts" and not obj.get("secrets"):
            self._service_account_secrets(obj)

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
            if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"].get("resourceVersion"):
                raise conflict(r, name)
            self._delete(r, ns, name)
            self.store.save()
        if r.key == "namespaces":
            old["status"] = {"phase": "Terminating"}
            old["metadata"]["deletionTimestamp"] = now()
            return old
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": dict(_details(r, name), uid=old["metadata"].get("uid"))}

    def _delete(self, r, ns, name):
        self.store.delete(r.key, ns if r.namespaced else None, name)
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
        if r.key == "imagestreams.image.openshift.io":
            final = self.import_stream(ns, name)
            return final or obj
        return obj

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
