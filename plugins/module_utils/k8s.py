# -*- coding: utf-8 -*-
# okd-registry-toolkit core: Kubernetes / OKD 3.11 API logic. Stdlib only, no I/O, Python 2.7 and 3.6+.
"""API logic shared by the okd_* modules, computed client-side because OKD 3.11 (Kubernetes 1.11) has
no server-side apply (415) and no server-side dry run (400).

- ``connection_from_kubeconfig(cfg)``: a kubeconfig already loaded as a dict -> connection settings.
- ``resource_path(api_version, kind, namespace, name)``: REST paths for the kinds the toolkit uses.
- ``compare(desired, live)`` -> ``(needs_change, merge_patch)``: ``desired`` is a subset; only keys
  it sets are compared. Lists are compared whole, except lists with merge semantics (``MERGE_KEYS``:
  image stream tags by name, service account secrets by name, containers by name, ...), where desired
  items are matched to live items by key and the patch carries the whole merged list.
- ``redact(obj)``: a copy safe to show (Secret data -> key + sha256 fingerprint, never values).
- ``dockerconfigjson_secret(...)``: a kubernetes.io/dockerconfigjson Secret from registry entries.
- ``status_message(...)``: Kubernetes ``Status`` error bodies -> "403 Forbidden: secrets is forbidden: ...".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import json
import posixpath
import re

from .dockercfg import decode_auth, keyed_fingerprint, parse_config, render_config, set_auths
from .errors import ToolkitError

try:  # Python 3
    string_types = (str,)
    text_type = str
except NameError:  # pragma: no cover
    pass
try:  # Python 2
    string_types = (basestring,)  # noqa: F821  # pylint: disable=undefined-variable
    text_type = unicode  # noqa: F821  # pylint: disable=undefined-variable
except NameError:
    pass


# ---------------------------------------------------------------------------------------------------
# Resource paths
# kind -> (preferred apiVersion, plural, namespaced)
KINDS = {
    "Namespace": ("v1", "namespaces", False),
    "Secret": ("v1", "secrets", True),
    "ServiceAccount": ("v1", "serviceaccounts", True),
    "ConfigMap": ("v1", "configmaps", True),
    "Service": ("v1", "services", True),
    "Endpoints": ("v1", "endpoints", True),
    "Pod": ("v1", "pods", True),
    "ReplicationController": ("v1", "replicationcontrollers", True),
    "PersistentVolumeClaim": ("v1", "persistentvolumeclaims", True),
    "PersistentVolume": ("v1", "persistentvolumes", False),
    "Node": ("v1", "nodes", False),
    "Role": ("rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "ImageStream": ("image.openshift.io/v1", "imagestreams", True),
    "ImageStreamTag": ("image.openshift.io/v1", "imagestreamtags", True),
    "ImageStreamImport": ("image.openshift.io/v1", "imagestreamimports", True),
    "ImageStreamMapping": ("image.openshift.io/v1", "imagestreammappings", True),
    "Image": ("image.openshift.io/v1", "images", False),
    "DeploymentConfig": ("apps.openshift.io/v1", "deploymentconfigs", True),
    "Route": ("route.openshift.io/v1", "routes", True),
    "Project": ("project.openshift.io/v1", "projects", False),
    "SecurityContextConstraints": ("security.openshift.io/v1", "securitycontextconstraints", False),
}

# OpenShift kinds written with the legacy "apiVersion: v1" (3.x templates) live in these groups.
_LEGACY_OPENSHIFT = dict((k, v[0]) for k, v in KINDS.items() if v[0].endswith(".openshift.io/v1"))


def kind_info(kind, api_version=None):
    """(apiVersion, plural, namespaced) for a kind; a legacy ``v1`` OpenShift kind maps to its group."""
    if kind not in KINDS:
        raise ToolkitError("unsupported kind %r (supported: %s)" % (kind, ", ".join(sorted(KINDS))))
    preferred, plural, namespaced = KINDS[kind]
    if not api_version or (api_version == "v1" and kind in _LEGACY_OPENSHIFT):
        api_version = preferred
    return api_version, plural, namespaced


def resource_path(api_version, kind, namespace=None, name=None, subresource=None):
    """REST path of a collection (``name`` None) or an object, e.g. /api/v1/namespaces/ns/secrets/x."""
    api_version, plural, namespaced = kind_info(kind, api_version)
    base = "/api/v1" if api_version == "v1" else "/apis/" + api_version
    if namespaced:
        if not namespace:
            raise ToolkitError("%s %s needs a namespace" % (kind, name or ""))
        base += "/namespaces/" + _quote(namespace)
    path = base + "/" + plural
    if name:
        path += "/" + _quote(name)
        if subresource:
            path += "/" + subresource
    return path


def object_path(obj, namespace=None):
    """(collection_path, object_path) for a definition dict."""
    kind = obj.get("kind")
    if not kind:
        raise ToolkitError("the definition has no kind")
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise ToolkitError("the %s definition has no metadata.name" % kind)
    ns = meta.get("namespace") or namespace
    av = obj.get("apiVersion")
    return resource_path(av, kind, ns, None), resource_path(av, kind, ns, name)


def _quote(part):
    part = text_type(part)
    for ch in part:
        if not (ch.isalnum() or ch in "-._:"):
            raise ToolkitError("invalid name %r" % part)
    return part


def describe(obj, namespace=None):
    """'Secret openshift/imagestreamsecret' for messages."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or namespace
    name = meta.get("name", "?")
    return "%s %s" % (obj.get("kind", "?"), "%s/%s" % (ns, name) if ns else name)


# ---------------------------------------------------------------------------------------------------
# kubeconfig
def _named(items, name, what):
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            body = item.get(what)
            if not isinstance(body, dict):
                raise ToolkitError("kubeconfig: %s %r has no %s section" % (what, name, what))
            return body
    raise ToolkitError("kubeconfig: %s %r not found" % (what, name))


_B64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def _b64text(value, what):
    try:
        compact = "".join(value.split())
        if not compact or len(compact) % 4 or not _B64_RE.match(compact):
            raise ValueError(what)
        return base64.b64decode(compact).decode("utf-8")
    except Exception:
        raise ToolkitError("kubeconfig: %s is not valid base64" % what)


def connection_from_kubeconfig(cfg, context=None, base_dir=None):
    """Connection settings from a kubeconfig dict (already parsed from YAML).

    Returns {"server", "context", "namespace", "insecure", "ca_data" (PEM text or None), "ca_file",
    "token", "client_cert_data", "client_key_data", "client_cert_file", "client_key_file",
    "username", "password"}. Relative file paths are resolved against ``base_dir``.
    """
    if not isinstance(cfg, dict):
        raise ToolkitError("kubeconfig: not a YAML mapping (is this a kubeconfig file?)")
    if cfg.get("kind") not in (None, "Config"):
        raise ToolkitError("kubeconfig: kind is %r, expected Config" % cfg.get("kind"))
    ctx_name = context or cfg.get("current-context")
    if not ctx_name:
        raise ToolkitError("kubeconfig: no current-context set and no context given")
    ctx = _named(cfg.get("contexts"), ctx_name, "context")
    cluster_name = ctx.get("cluster")
    if not cluster_name:
        raise ToolkitError("kubeconfig: context %r names no cluster" % ctx_name)
    cluster = _named(cfg.get("clusters"), cluster_name, "cluster")
    server = cluster.get("server")
    if not server or not isinstance(server, string_types):
        raise ToolkitError("kubeconfig: cluster %r has no server URL" % cluster_name)
    if not (server.startswith("https://") or server.startswith("http://")):
        raise ToolkitError("kubeconfig: cluster %r server %r is not an http(s) URL" % (cluster_name, server))

    def path(p):
        if p and base_dir and not posixpath.isabs(p):
            return posixpath.join(base_dir, p)
        return p

    conn = {
        "server": server.rstrip("/"),
        "context": ctx_name,
        "namespace": ctx.get("namespace"),
        "insecure": bool(cluster.get("insecure-skip-tls-verify", False)),
        "ca_data": None,
        "ca_file": path(cluster.get("certificate-authority")),
        "token": None,
        "client_cert_data": None,
        "client_key_data": None,
        "client_cert_file": None,
        "client_key_file": None,
        "username": None,
        "password": None,
    }
    if cluster.get("certificate-authority-data"):
        conn["ca_data"] = _b64text(cluster["certificate-authority-data"], "certificate-authority-data")
    user_name = ctx.get("user")
    user = _named(cfg.get("users"), user_name, "user") if user_name else {}
    if user.get("token"):
        conn["token"] = user["token"]
    elif user.get("tokenFile"):
        raise ToolkitError("kubeconfig: user %r uses tokenFile, which is not supported; put the token inline"
                           % user_name)
    if user.get("client-certificate-data"):
        conn["client_cert_data"] = _b64text(user["client-certificate-data"], "client-certificate-data")
    if user.get("client-key-data"):
        conn["client_key_data"] = _b64text(user["client-key-data"], "client-key-data")
    conn["client_cert_file"] = path(user.get("client-certificate"))
    conn["client_key_file"] = path(user.get("client-key"))
    if user.get("username"):
        conn["username"] = user.get("username")
        conn["password"] = user.get("password")
    has_cert = conn["client_cert_data"] or conn["client_cert_file"]
    has_key = conn["client_key_data"] or conn["client_key_file"]
    if bool(has_cert) != bool(has_key):
        raise ToolkitError("kubeconfig: user %r has a client certificate without a key (or the reverse)"
                           % user_name)
    if not (conn["token"] or has_cert or conn["username"]):
        raise ToolkitError("kubeconfig: user %r has no credentials (token, client certificate or "
                           "username/password)" % (user_name or ""))
    return conn


# ---------------------------------------------------------------------------------------------------
# desired vs live
# list path (keys from the object root, list indices dropped) -> merge key
MERGE_KEYS = {
    ("spec", "tags"): "name",                       # ImageStream spec.tags
    ("secrets",): "name",                            # ServiceAccount secrets
    ("imagePullSecrets",): "name",                   # ServiceAccount imagePullSecrets
    ("spec", "template", "spec", "containers"): "name",
    ("spec", "template", "spec", "initContainers"): "name",
    ("spec", "template", "spec", "volumes"): "name",
    ("spec", "template", "spec", "containers", "env"): "name",
    ("spec", "template", "spec", "containers", "volumeMounts"): "mountPath",
    ("spec", "template", "spec", "containers", "ports"): "containerPort",
    ("spec", "ports"): "port",                      # Service ports
}

# never compared, never patched from the desired definition
_IGNORED_META = ("resourceVersion", "uid", "creationTimestamp", "selfLink", "generation",
                 "managedFields", "deletionTimestamp")

# Unions: fields of an object that are alternatives of each other (Kubernetes validation allows only one,
# e.g. 1.11 validateEnvVarValueFrom: "may not be specified when `value` is not empty"). When the desired
# definition sets one member, the live object's other members are removed, never merged with it.
_POD = ("spec", "template", "spec")
_CONTAINER = _POD + ("containers",)
_VOLUME_SOURCES = ("hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
                   "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
                   "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
                   "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos")
_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket")
ONE_OF = {
    _CONTAINER + ("env",): (("value", "valueFrom"),),
    _CONTAINER + ("env", "valueFrom"): (("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"),),
    _POD + ("volumes",): (_VOLUME_SOURCES,),
    _CONTAINER + ("livenessProbe",): (_PROBE_HANDLERS,),
    _CONTAINER + ("readinessProbe",): (_PROBE_HANDLERS,),
}


def _union_rivals(desired, live, path):
    """Keys of ``live`` (a dict) that are union rivals of a member set in ``desired``: to be removed."""
    drop = []
    for group in ONE_OF.get(tuple(path), ()):
        chosen = [k for k in group if desired.get(k) is not None]
        if chosen:
            drop.extend(k for k in group if k not in desired and live.get(k) is not None)
    return drop


def _union_missing(desired, live, path):
    """True when ``desired`` sets a union member (even to an empty value such as emptyDir: {}) that
    ``live`` does not have: the empty value then means "this member", not "absent"."""
    for group in ONE_OF.get(tuple(path), ()):
        for k in group:
            if desired.get(k) is not None and live.get(k) is None:
                return True
    return False


# Resource quantities are compared by value (the apiserver stores them canonicalised: 0.1 -> 100m)
_QUANTITY_PARENTS = (_CONTAINER + ("resources", "requests"), _CONTAINER + ("resources", "limits"),
                     _POD + ("initContainers", "resources", "requests"),
                     _POD + ("initContainers", "resources", "limits"),
                     ("spec", "resources", "requests"), ("spec", "resources", "limits"),   # PVC
                     ("spec", "hard"), ("spec", "capacity"))


def _merge_key(path):
    return MERGE_KEYS.get(tuple(path))


# In a list with merge semantics (MERGE_KEYS), an item {KEY: value, "$patch": "delete"} means "no item with
# this key" (the strategic-merge-patch directive of Kubernetes): e.g. an env entry a role set earlier and no
# longer wants. It is never sent: the item is dropped from the list the patch (or a create) carries.
DELETE_DIRECTIVE = ("$patch", "delete")


def _is_delete(item):
    return isinstance(item, dict) and item.get(DELETE_DIRECTIVE[0]) == DELETE_DIRECTIVE[1]


_QUANTITY_RE = re.compile(r"^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(.*)$")
_BINARY_SUFFIX = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def quantity_value(text):
    """A Kubernetes resource quantity ("100m", "0.1", "1Gi", "1e3") -> its exact value (a Fraction),
    rounded up to 1n like apimachinery's ParseQuantity. Raises ToolkitError when it is not a quantity."""
    from fractions import Fraction
    if isinstance(text, bool) or not isinstance(text, string_types + (int, float)):
        raise ToolkitError("%r is not a resource quantity" % (text,))
    if isinstance(text, float):
        text = repr(text)
    text = text_type(text)
    m = _QUANTITY_RE.match(text)
    if not m:
        raise ToolkitError("%r is not a resource quantity" % (text,))
    sign, num, suffix = m.groups()
    value = Fraction(num[:-1] if num.endswith(".") else num)
    if suffix in _BINARY_SUFFIX:
        value *= 2 ** _BINARY_SUFFIX[suffix]
    elif suffix in _DECIMAL_SUFFIX:
        value *= Fraction(10) ** _DECIMAL_SUFFIX[suffix]
    elif re.match(r"^[eE][+-]?[0-9]+$", suffix):
        value *= Fraction(10) ** int(suffix[1:])
    else:
        raise ToolkitError("%r is not a resource quantity (unknown suffix %r)" % (text, suffix))
    nano = value * 10 ** 9
    if nano.denominator != 1:
        whole = nano.numerator // nano.denominator
        value = Fraction(whole + 1 if value > 0 else whole, 10 ** 9)
    return -value if sign == "-" else value


def same_quantity(a, b):
    """True when two quantities have the same value ("0.1" and "100m"); False when either is not one."""
    try:
        return quantity_value(a) == quantity_value(b)
    except ToolkitError:
        return False


def is_zero(value):
    """Kubernetes omits empty fields (omitempty): false, "", 0, [] and {} (recursively) equal absent."""
    if isinstance(value, dict):
        return all(is_zero(v) for v in value.values())
    if isinstance(value, bool):
        return value is False
    return value in ("", 0, [], None)


def _equal(desired, live, path):
    """Is ``desired`` (a subset) satisfied by ``live``? Absent live keys equal zero values."""
    if live is None:
        if isinstance(desired, list) and desired and all(_is_delete(i) for i in desired):
            return True
        return desired is None or is_zero(desired)
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        if _union_rivals(desired, live, path) or _union_missing(desired, live, path):
            return False
        for k, v in desired.items():
            if v is None:
                if live.get(k) is not None:
                    return False
                continue
            if not _equal(v, live.get(k), path + [k]):
                return False
        return True
    if isinstance(desired, list):
        if not isinstance(live, list):
            return False
        key = _merge_key(path)
        if key and all(isinstance(i, dict) and key in i for i in desired):
            index = dict((i.get(key), i) for i in live if isinstance(i, dict))
            return all((d[key] not in index) if _is_delete(d) else (d[key] in index and _equal(d, index[d[key]], path))
                       for d in desired)
        if len(desired) != len(live):
            return False
        return all(_equal(d, l, path) for d, l in zip(desired, live))
    if isinstance(desired, bool) or isinstance(live, bool):
        return isinstance(desired, bool) and isinstance(live, bool) and desired == live
    if len(path) > 1 and tuple(path[:-1]) in _QUANTITY_PARENTS and same_quantity(desired, live):
        return True
    if isinstance(desired, (int, float)) and isinstance(live, (int, float)):
        return desired == live
    if isinstance(desired, string_types) and isinstance(live, string_types):
        return text_type(desired) == text_type(live)
    return desired == live


def _merged(desired, live, path):
    """The value to send so that the live value ends up satisfying ``desired``."""
    if isinstance(desired, dict) and isinstance(live, dict):
        out = copy.deepcopy(live)
        for k in _union_rivals(desired, live, path):
            out.pop(k, None)
        for k, v in desired.items():
            if v is None:
                out.pop(k, None)
            elif k in live:
                out[k] = _merged(v, live[k], path + [k])
            else:
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(desired, list) and isinstance(live, list):
        key = _merge_key(path)
        if key and all(isinstance(i, dict) and key in i for i in desired):
            out = []
            wanted = dict((d[key], d) for d in desired if not _is_delete(d))
            deleted = set(d[key] for d in desired if _is_delete(d))
            seen = set(deleted)
            for item in live:
                k = item.get(key) if isinstance(item, dict) else None
                if k in deleted:
                    continue
                if k in wanted:
                    out.append(_merged(wanted[k], item, path))
                    seen.add(k)
                else:
                    out.append(copy.deepcopy(item))
            out.extend(copy.deepcopy(d) for d in desired if d[key] not in seen)
            return out
    return strip_none(copy.deepcopy(desired))


def strip_none(value):
    if isinstance(value, dict):
        return dict((k, strip_none(v)) for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return [strip_none(v) for v in value if not _is_delete(v)]
    return value


def _patch(desired, live, path):
    """JSON merge patch (RFC 7386) for the dict ``desired`` against ``live``; only changed keys."""
    patch = {}
    for k, v in desired.items():
        if path == [] and k in ("apiVersion", "kind", "status"):
            continue
        if path == ["metadata"] and k in _IGNORED_META + ("name", "namespace"):
            continue
        lv = live.get(k) if isinstance(live, dict) else None
        if v is None:
            if lv is not None:
                patch[k] = None
            continue
        if lv is None and any(k in g for g in ONE_OF.get(tuple(path), ())):
            patch[k] = strip_none(copy.deepcopy(v))     # a union member, even empty (emptyDir: {})
            continue
        if _equal(v, lv, path + [k]):
            continue
        if isinstance(v, dict) and isinstance(lv, dict):
            sub = _patch(v, lv, path + [k])
            for rival in _union_rivals(v, lv, path + [k]):
                sub[rival] = None
            if sub:
                patch[k] = sub
        else:
            patch[k] = _merged(v, lv, path + [k])
    return patch


def normalize_definition(desired):
    """A copy of a definition ready to compare: Secret stringData folded into base64 data."""
    desired = copy.deepcopy(desired)
    if desired.get("kind") == "Secret" and desired.get("stringData"):
        data = desired.setdefault("data", {}) or {}
        for k, v in desired.pop("stringData").items():
            data[k] = b64encode_text(v)
        desired["data"] = data
    return desired


def compare(desired, live):
    """(needs_change, merge_patch) of a desired definition against the live object.

    Only keys set in ``desired`` are compared (server defaults and other writers' keys are left
    alone); ``null`` in desired means "must be absent". ``status`` and server-managed metadata are
    ignored. The patch is empty when nothing needs to change.
    """
    desired = normalize_definition(desired)
    patch = _patch(desired, live or {}, [])
    return bool(patch), patch


def _changes(patch, live, prefix=""):
    """'a.b: OLD -> NEW' lines for the leaves a merge patch changes (no values of Secrets are ever passed)."""
    out = []
    for k, v in sorted(patch.items()):
        lv = live.get(k) if isinstance(live, dict) else None
        if isinstance(v, dict) and isinstance(lv, dict):
            out.extend(_changes(v, lv, prefix + k + "."))
        else:
            out.append("%s%s: %s -> %s" % (prefix, k, json.dumps(lv, sort_keys=True), json.dumps(v, sort_keys=True)))
    return out


def immutable_change(desired, live, patch):
    """Why ``patch`` (from compare) changes a field the 1.11 apiserver refuses to change, or None:

    - PersistentVolumeClaim ``spec`` (ValidatePersistentVolumeClaimUpdate: immutable after creation, except a
      bound claim's resources.requests.storage, which may grow when its storage class allows expansion);
    - Secret ``type`` (ValidateSecretUpdate); RoleBinding/ClusterRoleBinding ``roleRef`` (ValidateRoleBindingUpdate).
    """
    kind = (desired or {}).get("kind")
    if not patch or not live:
        return None
    if kind == "PersistentVolumeClaim" and "spec" in patch:
        spec = patch["spec"]
        bound = (live.get("status") or {}).get("phase") == "Bound"
        grow_only = (bound and list(spec) == ["resources"] and list(spec["resources"]) == ["requests"]
                     and list(spec["resources"]["requests"]) == ["storage"])
        if grow_only:
            try:
                old = ((live.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
                if quantity_value(spec["resources"]["requests"]["storage"]) >= quantity_value(old):
                    return None
            except (ToolkitError, AttributeError):
                pass
        return ("the spec of a PersistentVolumeClaim is immutable after creation (only a bound claim's storage "
                "request may grow): %s" % "; ".join(_changes(spec, live.get("spec") or {}, "spec.")))
    if kind == "Secret" and "type" in patch:
        return "the type of a Secret is immutable: %s -> %s" % (live.get("type"), patch["type"])
    if kind in ("RoleBinding", "ClusterRoleBinding") and "roleRef" in patch:
        changes = _changes(patch["roleRef"], live.get("roleRef") or {}, "roleRef.")
        return "the roleRef of a %s is immutable: %s" % (kind, "; ".join(changes))
    return None


def with_resource_version(patch, live):
    """The patch guarded by the live object's resourceVersion: a concurrent writer gets 409 Conflict."""
    patch = copy.deepcopy(patch)
    rv = (live.get("metadata") or {}).get("resourceVersion")
    if rv:
        patch.setdefault("metadata", {})["resourceVersion"] = rv
    return patch


def apply_patch(live, patch):
    """The object after a JSON merge patch (RFC 7386); used to show the 'after' of a diff."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(live) if isinstance(live, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = apply_patch(out.get(k), v)
    return out


# ---------------------------------------------------------------------------------------------------
# redaction
SECRET_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def fingerprint_bytes(data):
    """Keyed (HMAC, a key per module run) so a diff shows whether a value changed without allowing an
    offline guess of it (an unsalted hash of a short password would)."""
    return "sha256:" + keyed_fingerprint(None, data)


def redact_value(b64value):
    """'<redacted sha256:... N bytes>' for a base64 Secret value; never the value itself."""
    try:
        raw = base64.b64decode(b64value or "")
    except Exception:
        raw = (b64value or "").encode("utf-8")
    return "<redacted %s, %d bytes>" % (fingerprint_bytes(raw), len(raw))


def redact(obj):
    """A copy of an object (or None) safe to show: Secret values become fingerprints."""
    if not isinstance(obj, dict):
        return obj
    obj = copy.deepcopy(obj)
    if obj.get("kind") == "Secret" or "data" in obj and obj.get("type", "").startswith("kubernetes.io/"):
        if isinstance(obj.get("data"), dict):
            obj["data"] = dict((k, redact_value(v)) for k, v in obj["data"].items())
        if isinstance(obj.get("stringData"), dict):
            obj["stringData"] = dict((k, redact_value(b64encode_text(v))) for k, v in obj["stringData"].items())
        ann = (obj.get("metadata") or {}).get("annotations") or {}
        for a in SECRET_ANNOTATIONS:
            if a in ann:
                ann[a] = "<redacted>"
    return obj


# ---------------------------------------------------------------------------------------------------
# dockerconfigjson secrets
DOCKERCONFIGJSON = "kubernetes.io/dockerconfigjson"
DOCKERCFG = "kubernetes.io/dockercfg"


def b64encode_text(value):
    if isinstance(value, text_type):
        value = value.encode("utf-8")
    return base64.b64encode(value).decode("ascii")


def decode_dockerconfigjson(secret):
    """The parsed docker config held by a dockerconfigjson (or legacy dockercfg) Secret, or None."""
    return _decode_secret_config(secret)[0]


def dockerconfigjson_error(secret):
    """Why a registry Secret's docker config cannot be used, or None: a dockerconfigjson/dockercfg Secret whose
    key is missing or does not parse ('.dockerconfigjson: invalid JSON at line 1 column 1: ...'). The text
    never contains the secret's content. A Secret of another type is not judged here (None)."""
    if not secret or secret.get("type") not in (DOCKERCONFIGJSON, DOCKERCFG):
        return None
    return _decode_secret_config(secret)[1]


def _decode_secret_config(secret):
    """(config or None, error text or None)."""
    if not secret:
        return None, None
    data = secret.get("data") or {}
    key = ".dockerconfigjson"
    raw = data.get(key)
    legacy = False
    if raw is None and data.get(".dockercfg") is not None:
        key, raw, legacy = ".dockercfg", data.get(".dockercfg"), True
    if raw is None:
        return None, "%s: missing" % (".dockercfg" if secret.get("type") == DOCKERCFG else key)
    try:
        text = base64.b64decode(raw).decode("utf-8")
    except Exception:
        return None, "%s: not base64 of UTF-8 text" % key
    if legacy:
        try:
            doc = json.loads(text)
        except ValueError as e:
            return None, "%s: invalid JSON (%s)" % (key, text_type(e).split(":")[0])
        except RuntimeError:  # RecursionError (Python 3.5+) on deeply nested JSON
            return None, "%s: invalid JSON (nested too deeply)" % key
        text = json.dumps({"auths": doc})
    try:
        return parse_config(text, key), None
    except ToolkitError as e:
        return None, e.msg


def _auths_view(config):
    """Registry -> decoded (username, password, email) for comparison of configs (not bytes)."""
    view = {}
    for key, entry in (((config or {}).get("auths")) or {}).items():
        try:
            cred = decode_auth(entry)
        except ToolkitError:
            cred = None
        view[key] = (cred, (entry or {}).get("email") or None if isinstance(entry, dict) else None)
    return view


def dockerconfigjson_secret(name, namespace, entries, live=None, exclusive=False, labels=None):
    """(definition, needs_change) of a kubernetes.io/dockerconfigjson Secret holding ``entries``.

    entries: [{"registry", "username", "password", optional "email"}]. With ``exclusive`` the secret
    holds exactly these registries; otherwise other registries already in the live secret are kept.
    The decision compares decoded auths, not bytes, so a secret written by `oc create secret` with the
    same credentials is left alone.
    """
    if not entries:
        raise ToolkitError("secret %s/%s: no registry entries given" % (namespace, name))
    live_config = decode_dockerconfigjson(live)
    base = {} if (exclusive or live_config is None) else live_config
    new = set_auths({} if exclusive else copy.deepcopy(base), entries)[0]
    needs = (live is None or live.get("type") != DOCKERCONFIGJSON or live_config is None
             or _auths_view(new) != _auths_view(live_config))
    if not needs and live is not None and set(((live.get("data") or {}).keys())) != set([".dockerconfigjson"]):
        needs = True
    meta = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    definition = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": DOCKERCONFIGJSON,
        "data": {".dockerconfigjson": b64encode_text(render_config(new))},
    }
    return definition, needs


# ---------------------------------------------------------------------------------------------------
# service account links (oc secrets link --for=pull,mount)
def sa_link_patch(sa, secret_name, for_=("pull",)):
    """Merge patch that links ``secret_name`` to a ServiceAccount, or {} when already linked."""
    patch = {}
    for what, field in (("pull", "imagePullSecrets"), ("mount", "secrets")):
        if what not in for_:
            continue
        current = sa.get(field) or []
        if not any(isinstance(r, dict) and r.get("name") == secret_name for r in current):
            patch[field] = [copy.deepcopy(r) for r in current] + [{"name": secret_name}]
    return patch


# ---------------------------------------------------------------------------------------------------
# errors
def status_message(code, reason, body, method=None, url=None):
    """A clear one-line message from an API error: '403 Forbidden: secrets is forbidden: User ...'."""
    msg = None
    details = ""
    try:
        status = json.loads(body) if body else None
    except (ValueError, TypeError):
        status = None
    if isinstance(status, dict):
        msg = status.get("message")
        causes = ((status.get("details") or {}).get("causes")) or []
        parts = []
        for c in causes:
            if isinstance(c, dict) and c.get("message"):
                field = c.get("field")
                parts.append("%s: %s" % (field, c["message"]) if field else c["message"])
        if parts and not all(p in (msg or "") for p in parts):
            details = " (" + "; ".join(parts) + ")"
        if not reason and status.get("reason"):
            reason = status.get("reason")
    if not msg:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        msg = text.strip()[:300] or "no message from the server"
    head = "%s %s" % (code, reason) if reason else "%s" % code
    where = " (%s %s)" % (method, url) if method and url else ""
    return "%s: %s%s%s" % (head, msg, details, where)


def api_error(code, reason, body, method=None, url=None):
    return ToolkitError(status_message(code, reason, body, method, url),
                        retryable=code >= 500 or code == 429, status=code)


def unreachable_error(url, cause):
    return ToolkitError("cannot reach the OKD API at %s: %s" % (url, cause), retryable=True)
