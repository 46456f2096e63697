"""One REST strategy per kind, the way the Kubernetes apiserver registers them (kubernetes 1.11
`staging/src/k8s.io/apiserver/pkg/registry/rest/create.go` RESTCreateStrategy / `update.go`
RESTUpdateStrategy, implemented per kind in `pkg/registry/<group>/<kind>/strategy.go` and origin's
`pkg/<group>/apiserver/registry/<kind>/strategy.go`): what differs between kinds lives here, not in
branches of lab/api/api.py's create/update/delete, which only call the strategy of the kind.

A strategy has (all optional; `Strategy` is the default for a kind without one):

- `name_problem(name)`: the name rule of the kind (1.11 `ValidateObjectMeta` with the kind's
  ValidateNameFunc: DNS-1123 subdomain by default);
- `prepare(api, r, obj, old, user)`: PrepareForCreate (`old` None) / PrepareForUpdate plus the defaulting
  of the kind's v1 `defaults.go` (runs before validation; may raise ApiError for a body that cannot be
  decoded);
- `validate(r, obj, old)`: Validate / ValidateUpdate -> causes `[(field, reason, message)]`;
- `generations(api, r, obj, old)`: metadata.generation (kinds with `generation = True` bump it on a spec
  change, like their PrepareForUpdate);
- `on_create(api, obj)` / `on_delete(api, ns, gone)`: what the kind's controllers and garbage collector
  start, with the store lock held;
- `after_write(api, ns, name, old, obj)`: after a write that changed something, without the store lock
  (it may contact registries); returns the object to answer with.

Adding a kind: docs/lab-api.md "Adding a kind".
"""
import base64
import json
import re

from . import controllers, validation
from .resources import BY_KEY

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")

REPO_CHECK = "openshift.io/image.dockerRepositoryCheck"
ROUTER_DOMAIN = "apps.lab.test"

STRATEGIES = {}


def register(key):
    def deco(cls):
        STRATEGIES[key] = cls()
        return cls
    return deco


def for_key(key):
    return STRATEGIES.get(key) or _DEFAULT


def _apierrors():
    from . import api   # lab/api/api.py imports this module: resolved at call time
    return api


# ------------------------------------------------------------------------------------------ the default
class Strategy(object):
    generation = False      # metadata.generation is kept and bumped on a spec change

    def name_problem(self, name):
        if len(name) > 253 or not _SUBDOMAIN.match(name):
            return ("a DNS-1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
        return None

    def prepare(self, api, r, obj, old, user):
        pass

    def validate(self, r, obj, old):
        return []

    def generations(self, api, r, obj, old):
        if not self.generation:
            obj["metadata"].pop("generation", None)
            return
        old_gen = int(((old or {}).get("metadata") or {}).get("generation") or 0)
        if old is None:
            gen = 1
        elif obj.get("spec") != old.get("spec"):
            gen = old_gen + 1
        else:
            gen = old_gen
        obj["metadata"]["generation"] = gen

    def on_create(self, api, obj):
        pass

    def on_delete(self, api, ns, gone):
        pass

    def after_write(self, api, ns, name, old, obj):
        return obj


_DEFAULT = Strategy()


class PathSegmentName(Strategy):
    """Kinds whose names only have to be a path segment (1.11 `path.ValidatePathSegmentName`: RBAC objects,
    origin's images, image streams and SCCs)."""

    def name_problem(self, name):
        if name in (".", "..") or "/" in name or "%" in name:
            return 'may not be "." or ".." and may not contain "/" or "%"'
        return None


class GenerationStrategy(Strategy):
    """Workload kinds whose PrepareForUpdate bumps metadata.generation on a spec change (1.11
    `pkg/registry/apps/*/strategy.go`, `pkg/registry/core/replicationcontroller/strategy.go`)."""
    generation = True


for _k in ("deployments.apps", "daemonsets.apps", "statefulsets.apps", "replicasets.apps",
           "replicationcontrollers"):
    STRATEGIES[_k] = GenerationStrategy()
for _k in ("clusterrolebindings.rbac.authorization.k8s.io", "clusterroles.rbac.authorization.k8s.io",
           "roles.rbac.authorization.k8s.io", "images.image.openshift.io",
           "securitycontextconstraints.security.openshift.io"):
    STRATEGIES[_k] = PathSegmentName()


# ------------------------------------------------------------------------------------------ core/v1
@register("namespaces")
class NamespaceStrategy(Strategy):
    """1.11 `pkg/registry/core/namespace/strategy.go` (finalizers, phase Active) and origin's project
    admission (the `openshift.io/sa.scc.*` annotations the namespace SCC allocation controller sets)."""

    def name_problem(self, name):
        if len(name) > 63 or not _LABEL.match(name):
            return ("a DNS-1123 label must consist of lower case alphanumeric characters or '-', and must start "
                    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
        return None

    def prepare(self, api, r, obj, old, user):
        md = obj["metadata"]
        spec = obj.get("spec") or {}
        spec.setdefault("finalizers", ["openshift.io/origin", "kubernetes"])
        obj["spec"] = spec
        obj["status"] = (old or {}).get("status") or {"phase": "Active"}
        if old is None:
            ann = md.setdefault("annotations", {})
            ann.setdefault("openshift.io/sa.scc.mcs", "s0:c%d,c%d" % (10 + api.store.rv % 20, 5))
            ann.setdefault("openshift.io/sa.scc.supplemental-groups", "1000%02d0000/10000" % (api.store.rv % 90 + 10))
            ann.setdefault("openshift.io/sa.scc.uid-range", "1000%02d0000/10000" % (api.store.rv % 90 + 10))

    def on_create(self, api, obj):   # default service accounts, a moment later (controllers.py)
        api.service_accounts.namespace_created(obj["metadata"]["name"])

    def on_delete(self, api, ns, gone):
        name = gone["metadata"]["name"]
        for key in api.store.keys():
            rr = BY_KEY.get(key)
            if rr is not None and rr.namespaced:
                for o in api.store.items(key, name):
                    api.store.delete(key, name, o["metadata"]["name"])


@register("services")
class ServiceStrategy(Strategy):
    """1.11 `pkg/registry/core/service/rest.go` (cluster IP allocation, kept on update) and
    `pkg/apis/core/v1/defaults.go` SetDefaults_Service; ValidateService (ports)."""

    def name_problem(self, name):
        if len(name) > 63 or not _DNS1035.match(name):
            return ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
        return None

    def prepare(self, api, r, obj, old, user):
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if old is not None and not spec.get("clusterIP"):
            spec["clusterIP"] = (old.get("spec") or {}).get("clusterIP")
        if not spec.get("clusterIP") and spec["type"] != "ExternalName":
            spec["clusterIP"] = api._allocate_ip()
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})

    def validate(self, r, obj, old):
        causes = []
        spec = obj.get("spec") or {}
        if not spec.get("ports") and spec.get("type", "ClusterIP") != "ExternalName" \
                and spec.get("clusterIP") != "None":
            causes.append(("spec.ports", "FieldValueRequired", "Required value"))
        for i, p in enumerate(spec.get("ports") or []):
            if not isinstance(p.get("port"), int) or not 0 < p["port"] < 65536:
                causes.append(("spec.ports[%d].port" % i, "FieldValueInvalid",
                               "Invalid value: %s: must be between 1 and 65535, inclusive" % json.dumps(p.get("port"))))
        return causes


@register("secrets")
class SecretStrategy(Strategy):
    """1.11 `pkg/registry/core/secret/strategy.go` and `pkg/apis/core/validation` ValidateSecret /
    ValidateSecretUpdate (type immutable); v1 decoding of `data` (base64) and `stringData`."""

    def prepare(self, api, r, obj, old, user):
        bad_request = _apierrors().bad_request
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

    def validate(self, r, obj, old):
        causes = []
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
        return causes


@register("configmaps")
class ConfigMapStrategy(Strategy):
    """1.11 `pkg/apis/core/validation` ValidateConfigMap (keys); empty data maps are dropped like nil."""

    def prepare(self, api, r, obj, old, user):
        for f in ("data", "binaryData"):
            if f in obj and not obj[f]:
                obj.pop(f)

    def validate(self, r, obj, old):
        causes = []
        for f in ("data", "binaryData"):
            for k in obj.get(f) or {}:
                if not _DATA_KEY.match(k):
                    causes.append(("%s[%s]" % (f, k), "FieldValueInvalid", 'Invalid value: "%s": a valid config '
                                   "key must consist of alphanumeric characters, '-', '_' or '.'" % k))
        return causes


@register("serviceaccounts")
class ServiceAccountStrategy(Strategy):
    """The token and dockercfg controllers start on a new account (controllers.ServiceAccounts); deleting
    an account deletes its secrets (1.11 tokens_controller.go deleteTokens, origin
    `pkg/serviceaccounts/controllers/deleted_dockercfg_secrets.go`)."""

    def on_create(self, api, obj):
        api.service_accounts.account_created(obj["metadata"]["namespace"], obj["metadata"]["name"])

    def on_delete(self, api, ns, gone):
        name = gone["metadata"]["name"]
        for s in api.store.items("secrets", ns):
            if (s["metadata"].get("annotations") or {}).get("kubernetes.io/service-account.name") == name:
                api.store.delete("secrets", ns, s["metadata"]["name"])


@register("persistentvolumeclaims")
class PersistentVolumeClaimStrategy(Strategy):
    """1.11 `pkg/registry/core/persistentvolumeclaim/strategy.go` (status Pending on create; the update
    rule ValidatePersistentVolumeClaimUpdate is in validation.py)."""

    def prepare(self, api, r, obj, old, user):
        obj.setdefault("status", {"phase": "Pending"})


@register("pods")
class PodStrategy(Strategy):
    """1.11 `pkg/registry/core/pod/strategy.go` (status kept on update, `/status` writes it); after a
    write - the lab kubelet's status report - the replication manager, the deployer and the DC controller
    follow the pod (controllers.pod_status_written)."""

    def after_write(self, api, ns, name, old, obj):
        if (old or {}).get("status") != obj.get("status"):
            controllers.pod_status_written(api, ns, obj)
        return obj


@register("replicationcontrollers")
class ReplicationControllerStrategy(GenerationStrategy):
    def on_delete(self, api, ns, gone):
        controllers.delete_owned(api, ns, gone["metadata"]["uid"])   # garbage collection of its pods


# ------------------------------------------------------------------------------------------ rbac
class BindingStrategy(PathSegmentName):
    """1.11 `pkg/apis/rbac/validation` ValidateRoleBinding(Update): roleRef required and immutable."""

    def validate(self, r, obj, old):
        causes = []
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
        return causes


STRATEGIES["rolebindings.rbac.authorization.k8s.io"] = BindingStrategy()
STRATEGIES["clusterrolebindings.rbac.authorization.k8s.io"] = BindingStrategy()


# ------------------------------------------------------------------------------------------ OpenShift kinds
@register("routes.route.openshift.io")
class RouteStrategy(Strategy):
    """origin `pkg/route/apiserver/registry/route/strategy.go` (host allocated as NAME-NS.<router domain>)
    and the router's admission status; ValidateRoute (spec.to.name)."""

    def prepare(self, api, r, obj, old, user):
        md = obj["metadata"]
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
                                                          "lastTransitionTime": _apierrors().now()}]}]}

    def validate(self, r, obj, old):
        to = (obj.get("spec") or {}).get("to") or {}
        if not to.get("name"):
            return [("spec.to.name", "FieldValueRequired", "Required value")]
        return []


@register("imagestreams.image.openshift.io")
class ImageStreamStrategy(PathSegmentName):
    """origin `pkg/image/apiserver/registry/imagestream/strategy.go`: defaults of the v1 tags, the
    repository-check annotation dropped when spec.dockerImageRepository changes, status.dockerImageRepository
    from the internal registry (PrepareForCreate/PrepareForUpdate), tag generations (imagestreams.py
    stream_generations), ValidateImageStream (tag names, `from`); after a write the image stream controller
    queues an import (imagestreams.py after_stream_write)."""
    generation = True

    def prepare(self, api, r, obj, old, user):
        md = obj["metadata"]
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
        st["dockerImageRepository"] = "%s/%s/%s" % (api.internal_registry, md.get("namespace"), md["name"])

    def validate(self, r, obj, old):
        causes = []
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
        return causes

    def generations(self, api, r, obj, old):
        return api.stream_generations(obj, old)    # imagestreams.py: 3.11's strategy.go rules

    def after_write(self, api, ns, name, old, obj):
        final = api.after_stream_write(ns, name)   # imagestreams.py: the import runs in the background
        return final or obj


@register("deploymentconfigs.apps.openshift.io")
class DeploymentConfigStrategy(Strategy):
    """origin `pkg/apps/apis/apps/v1/defaults.go` SetDefaults_DeploymentConfigSpec (ConfigChange trigger,
    Rolling, replicas 1, revisionHistoryLimit 10, test false), `pkg/apps/apiserver/registry/deployconfig/
    strategy.go` (generation bumped on a spec change, status kept), a template change with a ConfigChange
    trigger moves status.latestVersion (the instantiate REST's canTrigger, collapsed into the write); after
    a write a new latestVersion is rolled out (controllers.after_dc_write); deleting the DC deletes its RCs
    and pods (garbage collector)."""
    generation = True

    def prepare(self, api, r, obj, old, user):
        spec = obj.setdefault("spec", {})
        if spec.get("triggers") is None:
            spec["triggers"] = [{"type": "ConfigChange"}]
        spec.setdefault("strategy", {"type": "Rolling"})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("test", False)
        obj.setdefault("status", {"latestVersion": 0, "observedGeneration": 0, "replicas": 0,
                                  "updatedReplicas": 0, "availableReplicas": 0, "unavailableReplicas": 0})
        # the image trigger controller's reaction to a new or changed DC (its informer's Added/Updated
        # event), collapsed into the write: automatic ImageChange triggers whose tag resolves fill in the
        # image and lastTriggeredImage (controllers.resolve_dc_image_triggers)
        controllers.resolve_dc_image_triggers(api.store, obj)

    def generations(self, api, r, obj, old):
        """generation, then whether the write starts a rollout - the instantiate REST's canTrigger (origin
        release-3.11 pkg/apps/apiserver/registry/instantiate/rest.go), collapsed into the write: an
        ImageChange trigger without lastTriggeredImage blocks every rollout ("contains unresolved images");
        an automatic trigger whose lastTriggeredImage changed (or is set on a new DC) is an `ImageChange`
        cause (details "image change"); otherwise a template change with a ConfigChange trigger is a
        `ConfigChange` cause."""
        Strategy.generations(self, api, r, obj, old)
        gen = obj["metadata"]["generation"]
        st = obj.setdefault("status", {})
        old_version = int(((old or {}).get("status") or {}).get("latestVersion") or 0)
        triggers = [t.get("type") for t in (obj.get("spec") or {}).get("triggers") or []]
        tmpl_changed = old is None or (old.get("spec") or {}).get("template") != obj["spec"].get("template")
        image_triggers = controllers.dc_image_triggers(obj)
        old_last = dict((t[2], t[0].get("lastTriggeredImage")) for t in controllers.dc_image_triggers(old or {}))
        unresolved = any(not p.get("lastTriggeredImage") for p, _, _ in image_triggers)
        image_causes = [{"type": "ImageChange", "imageTrigger": {"from": {
            "kind": "ImageStreamTag", "name": istag, "namespace": tns}}}
            for p, tns, istag in image_triggers
            if p.get("automatic") and p.get("lastTriggeredImage") and p["lastTriggeredImage"] != old_last.get(istag)]
        if unresolved or (obj.get("spec") or {}).get("paused"):
            pass
        elif image_causes:
            st["latestVersion"] = int(st.get("latestVersion") or 0) + 1
            st["details"] = {"message": "image change", "causes": image_causes}
        elif "ConfigChange" in triggers and tmpl_changed:
            st["latestVersion"] = int(st.get("latestVersion") or 0) + 1
        if int(st.get("latestVersion") or 0) != old_version and not image_causes:
            st.pop("details", None)      # the rollout records "config change"
        st["observedGeneration"] = gen

    def on_delete(self, api, ns, gone):
        controllers.delete_owned(api, ns, gone["metadata"]["uid"])   # garbage collection of RCs, pods

    def after_write(self, api, ns, name, old, obj):
        controllers.after_dc_write(api, ns, name, old, obj, _apierrors().now())   # RC, SCC admission, status
        return obj


@register("buildconfigs.build.openshift.io")
class BuildConfigStrategy(Strategy):
    """origin release-3.11 `pkg/build/apis/build/v1/defaults.go` (runPolicy Serial; the build.openshift.io
    group's history limits 5 and 5), `pkg/build/apiserver/registry/buildconfig/strategy.go` (status kept on
    update), ValidateBuildConfig (strategy type). After a write its image change triggers fire (the image
    trigger controller's Added/Updated event; controllers.build_triggers): a tag that resolves to a
    reference other than lastTriggeredImageID starts a Build."""
    generation = True

    def prepare(self, api, r, obj, old, user):
        spec = obj.setdefault("spec", {})
        spec.setdefault("runPolicy", "Serial")
        spec.setdefault("successfulBuildsHistoryLimit", 5)
        spec.setdefault("failedBuildsHistoryLimit", 5)
        spec.setdefault("triggers", [])
        if old is not None:
            obj["status"] = (old.get("status") or {"lastVersion": 0})
        else:
            obj["status"] = {"lastVersion": 0}

    def validate(self, r, obj, old):
        t = ((obj.get("spec") or {}).get("strategy") or {}).get("type")
        if t not in ("Source", "Docker", "Custom", "JenkinsPipeline"):
            return [("spec.strategy.type", "FieldValueNotSupported", 'Unsupported value: %s: supported values: '
                     '"Custom", "Docker", "JenkinsPipeline", "Source"' % json.dumps(t))]
        return []

    def after_write(self, api, ns, name, old, obj):
        with api.lock:
            if controllers.build_triggers(api, ns, name) is not None:
                api.store.save()
            return api.store.get("buildconfigs.build.openshift.io", ns, name) or obj


@register("builds.build.openshift.io")
class BuildStrategy(Strategy):
    """origin release-3.11 `pkg/build/apiserver/registry/build/strategy.go`: a new Build is phase New.
    Builds do not run in the lab."""

    def prepare(self, api, r, obj, old, user):
        st = obj.get("status") or {}
        st.setdefault("phase", "New")
        obj["status"] = st


def validate(r, obj, old):
    """All causes (field, reason, message) of a write: metadata, the kind's strategy, pod templates and PVC
    updates (validation.py)."""
    causes = []
    md = obj.get("metadata") or {}
    for f in ("labels", "annotations"):
        v = md.get(f)
        if v is not None and (not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values())):
            causes.append(("metadata." + f, "FieldValueInvalid", "Invalid value: must be a map of strings"))
    causes.extend(for_key(r.key).validate(r, obj, old))
    # pod templates (1.11 ValidatePodTemplateSpec) and PVC updates: lab/api/validation.py
    causes.extend(validation.validate(r.key, obj, old))
    return causes
