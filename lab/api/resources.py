"""The resource catalogue of the OKD 3.11 API stand-in and its discovery documents.

Every resource is stored generically by its type key ("secrets", "imagestreams.image.openshift.io");
the few virtual resources (imagestreamtags, imagestreamimports, projects, ...) are handled in api.py.
"""

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
NS_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
STATUS_VERBS = ["get", "patch", "update"]

# OKD 3.11 = Kubernetes 1.11 (origin v3.11.0+d4cacc0-*)
VERSION = {
    "major": "1", "minor": "11+", "gitVersion": "v1.11.0+d4cacc0", "gitCommit": "d4cacc0",
    "gitTreeState": "clean", "buildDate": "2018-10-10T16:38:01Z", "goVersion": "go1.10.3",
    "compiler": "gc", "platform": "linux/amd64",
}
OPENSHIFT_VERSION = {
    "major": "3", "minor": "11+", "gitVersion": "v3.11.0+0cbc58b", "gitCommit": "0cbc58b",
    "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z", "goVersion": "go1.10.3",
    "compiler": "gc", "platform": "linux/amd64",
}


class Resource(object):
    def __init__(self, group, version, plural, kind, namespaced=True, short=(), verbs=ALL_VERBS,
                 subresources=(), virtual=False, legacy=False, status=False, categories=()):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.short = list(short)
        self.verbs = list(verbs)
        self.subresources = list(subresources)   # [(name, kind, verbs)]
        self.virtual = virtual                   # not stored generically
        self.legacy = legacy                     # also served under /oapi/v1
        self.status = status                     # has a status subresource (main PUT keeps status)
        self.categories = list(categories)
        self.key = plural + ("." + group if group else "")

    @property
    def api_version(self):
        return self.group + "/" + self.version if self.group else self.version

    def discovery(self):
        out = [{"name": self.plural, "singularName": "", "namespaced": self.namespaced,
                "kind": self.kind, "verbs": self.verbs}]
        if self.short:
            out[0]["shortNames"] = self.short
        if self.categories:
            out[0]["categories"] = self.categories
        for name, kind, verbs in self.subresources:
            out.append({"name": self.plural + "/" + name, "singularName": "",
                        "namespaced": self.namespaced, "kind": kind, "verbs": verbs})
        return out


def _status(kind):
    return [("status", kind, STATUS_VERBS)]


R = Resource
RESOURCES = [
    # core/v1
    R("", "v1", "configmaps", "ConfigMap", short=["cm"]),
    R("", "v1", "endpoints", "Endpoints", short=["ep"]),
    R("", "v1", "events", "Event", short=["ev"]),
    R("", "v1", "limitranges", "LimitRange", short=["limits"]),
    R("", "v1", "namespaces", "Namespace", namespaced=False, short=["ns"], verbs=NS_VERBS, status=True,
      subresources=[("finalize", "Namespace", ["update"])] + _status("Namespace")),
    R("", "v1", "nodes", "Node", namespaced=False, short=["no"], status=True, subresources=_status("Node")),
    R("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=["pvc"], status=True,
      subresources=_status("PersistentVolumeClaim")),
    R("", "v1", "persistentvolumes", "PersistentVolume", namespaced=False, short=["pv"], status=True,
      subresources=_status("PersistentVolume")),
    R("", "v1", "pods", "Pod", short=["po"], status=True, subresources=_status("Pod"), categories=["all"]),
    R("", "v1", "podtemplates", "PodTemplate"),
    R("", "v1", "replicationcontrollers", "ReplicationController", short=["rc"], status=True,
      subresources=_status("ReplicationController"), categories=["all"]),
    R("", "v1", "resourcequotas", "ResourceQuota", short=["quota"], status=True,
      subresources=_status("ResourceQuota")),
    R("", "v1", "secrets", "Secret"),
    R("", "v1", "serviceaccounts", "ServiceAccount", short=["sa"]),
    R("", "v1", "services", "Service", short=["svc"], status=True, subresources=_status("Service"),
      categories=["all"]),
    # apps/v1
    R("apps", "v1", "controllerrevisions", "ControllerRevision"),
    R("apps", "v1", "daemonsets", "DaemonSet", short=["ds"], status=True, subresources=_status("DaemonSet"),
      categories=["all"]),
    R("apps", "v1", "deployments", "Deployment", short=["deploy"], status=True,
      subresources=_status("Deployment"), categories=["all"]),
    R("apps", "v1", "replicasets", "ReplicaSet", short=["rs"], status=True,
      subresources=_status("ReplicaSet"), categories=["all"]),
    R("apps", "v1", "statefulsets", "StatefulSet", short=["sts"], status=True,
      subresources=_status("StatefulSet"), categories=["all"]),
    # rbac
    R("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    R("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    R("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    R("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    # authorization (access reviews: virtual, create only; lab/api/authz.py)
    R("authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", verbs=["create"],
      virtual=True),
    R("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", namespaced=False,
      verbs=["create"], virtual=True),
    R("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", namespaced=False,
      verbs=["create"], virtual=True),
    # OpenShift groups (also served under the legacy /oapi/v1)
    R("apps.openshift.io", "v1", "deploymentconfigs", "DeploymentConfig", short=["dc"], status=True,
      legacy=True, categories=["all"],
      subresources=[("instantiate", "DeploymentRequest", ["create"]),
                    ("scale", "Scale", ["get", "patch", "update"])] + _status("DeploymentConfig")),
    R("authorization.openshift.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview",
      verbs=["create"], virtual=True, legacy=True),
    R("authorization.openshift.io", "v1", "subjectaccessreviews", "SubjectAccessReview", namespaced=False,
      verbs=["create"], virtual=True, legacy=True),
    R("build.openshift.io", "v1", "buildconfigs", "BuildConfig", short=["bc"], legacy=True, categories=["all"],
      subresources=[("instantiate", "BuildRequest", ["create"])]),
    R("build.openshift.io", "v1", "builds", "Build", legacy=True, categories=["all"]),
    R("image.openshift.io", "v1", "images", "Image", namespaced=False,
      verbs=["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"], legacy=True),
    R("image.openshift.io", "v1", "imagestreamimages", "ImageStreamImage", short=["isimage"], verbs=["get"],
      virtual=True, legacy=True),
    R("image.openshift.io", "v1", "imagestreamimports", "ImageStreamImport", verbs=["create"], virtual=True,
      legacy=True),
    R("image.openshift.io", "v1", "imagestreammappings", "ImageStreamMapping", verbs=["create"], virtual=True,
      legacy=True),
    R("image.openshift.io", "v1", "imagestreams", "ImageStream", short=["is"], status=True, legacy=True,
      categories=["all"],
      subresources=[("secrets", "SecretList", ["get"])] + _status("ImageStream")),
    R("image.openshift.io", "v1", "imagestreamtags", "ImageStreamTag", short=["istag"], virtual=True,
      verbs=["create", "delete", "get", "list", "patch", "update"], legacy=True),
    R("project.openshift.io", "v1", "projectrequests", "ProjectRequest", namespaced=False,
      verbs=["create", "list"], virtual=True, legacy=True),
    R("project.openshift.io", "v1", "projects", "Project", namespaced=False,
      verbs=["create", "delete", "get", "list", "patch", "update", "watch"], virtual=True, legacy=True),
    R("route.openshift.io", "v1", "routes", "Route", status=True, legacy=True, categories=["all"],
      subresources=_status("Route")),
    R("security.openshift.io", "v1", "securitycontextconstraints", "SecurityContextConstraints",
      namespaced=False, short=["scc"], legacy=True),
    R("user.openshift.io", "v1", "users", "User", namespaced=False, virtual=True, legacy=True,
      verbs=["get", "list"]),
]

GROUP_ORDER = ["", "apps", "authorization.k8s.io", "rbac.authorization.k8s.io", "apps.openshift.io",
               "authorization.openshift.io", "build.openshift.io", "image.openshift.io", "project.openshift.io",
               "route.openshift.io", "security.openshift.io", "user.openshift.io"]

BY_KEY = dict((r.key, r) for r in RESOURCES)


def lookup(group, version, plural, legacy=False):
    """The Resource for a URL (/api/v1, /apis/G/V or, with legacy=True, /oapi/v1); None if unknown."""
    for r in RESOURCES:
        if r.plural != plural:
            continue
        if legacy:
            if r.legacy:
                return r
        elif r.group == group and r.version == version:
            return r
    return None


def groups():
    return [g for g in GROUP_ORDER if g]


def api_group(name):
    gv = {"groupVersion": name + "/v1", "version": "v1"}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def api_group_list():
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [api_group(g) for g in groups()]}


def resource_list(group, version, legacy=False):
    """APIResourceList for /api/v1, /apis/G/V or /oapi/v1; None if the group/version is unknown."""
    if legacy:
        rs = [r for r in RESOURCES if r.legacy]
        gv = "v1"
    else:
        rs = [r for r in RESOURCES if r.group == group and r.version == version]
        gv = group + "/" + version if group else version
        if not rs:
            return None
    out = []
    for r in rs:
        out.extend(r.discovery())
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


# Strategic-merge-patch merge keys (patchMergeKey / patchStrategy "merge"), per type, as paths of field
# names from the object root. Lists not named here are replaced by a strategic merge patch, like the
# Kubernetes structs without patch tags.
_POD_SPEC = {
    ("containers",): "name", ("initContainers",): "name", ("volumes",): "name",
    ("imagePullSecrets",): "name", ("hostAliases",): "ip",
}
for _c in ("containers", "initContainers"):
    _POD_SPEC.update({(_c, "env"): "name", (_c, "ports"): "containerPort", (_c, "volumeMounts"): "mountPath",
                      (_c, "volumeDevices"): "devicePath"})
_POD_SPEC_AT = {
    "pods": ("spec",), "podtemplates": ("template", "spec"),
    "replicationcontrollers": ("spec", "template", "spec"),
    "deployments.apps": ("spec", "template", "spec"), "replicasets.apps": ("spec", "template", "spec"),
    "daemonsets.apps": ("spec", "template", "spec"), "statefulsets.apps": ("spec", "template", "spec"),
    "deploymentconfigs.apps.openshift.io": ("spec", "template", "spec"),
}
_COMMON = {("metadata", "ownerReferences"): "uid", ("metadata", "finalizers"): "$primitive"}
_TYPE_KEYS = {
    "services": {("spec", "ports"): "port"},
    "serviceaccounts": {("secrets",): "name", ("imagePullSecrets",): "name"},
    "imagestreams.image.openshift.io": {("spec", "tags"): "name", ("status", "tags"): "tag"},
    "endpoints": {},
    "nodes": {("status", "addresses"): "type", ("status", "conditions"): "type"},
    "pods": {("status", "conditions"): "type"},
}


def merge_key(key, path):
    """The merge key for the list at `path` in an object of type `key`: a field name, '$primitive'
    (merge a list of scalars as a set), or None (replace the list)."""
    path = tuple(path)
    if path in _COMMON:
        return _COMMON[path]
    keys = _TYPE_KEYS.get(key, {})
    if path in keys:
        return keys[path]
    at = _POD_SPEC_AT.get(key)
    if at and path[:len(at)] == at:
        return _POD_SPEC.get(path[len(at):])
    return None
