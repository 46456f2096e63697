"""Pod-template defaulting and validation as kubernetes 1.11 (vendored in origin release-3.11) does it,
for the objects that carry a pod spec, and the PersistentVolumeClaim update rule.

Sources (kubernetes release-1.11, as vendored under origin's vendor/k8s.io/kubernetes):
- `pkg/apis/core/v1/defaults.go`: SetDefaults_PodSpec, SetDefaults_Container, SetDefaults_Probe,
  SetDefaults_HTTPGetAction, SetDefaults_ContainerPort (protocol TCP), SetDefaults_SecretVolumeSource
  (defaultMode 420), SetDefaults_HostPathVolumeSource (type "").
- `pkg/apis/core/validation/validation.go`: ValidatePodTemplateSpec -> ValidatePodSpec -> validateContainers
  (name: DNS-1123 label, unique; image required), validateContainerPorts, ValidateEnv (IsEnvVarName) and
  validateEnvVarValueFrom (exactly one source; "may not be specified when `value` is not empty"),
  validateSecretKeySelector, ValidateVolumes (name, exactly one volume source), ValidateVolumeMounts
  (volume must exist, mountPath required and unique), validateProbe/validateHandler (exactly one handler),
  ValidateResourceRequirements (limits >= requests), ValidatePersistentVolumeClaimUpdate.
- origin `pkg/apps/apis/apps/validation/validation.go` ValidateDeploymentConfigSpec: the template is
  validated with ValidatePodTemplateSpec (an ImageChange trigger may fill a container's image later).
"""
import copy
import json
import re

from . import quantity

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
ENV_NAME_MSG = ("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
                "and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex "
                "used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')")
LABEL_MSG = ("a DNS-1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
             "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
VOLUME_SOURCES = ("hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
                  "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
                  "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
                  "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos")
ENV_SOURCES = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket")

# resource key -> path of the pod template in the object ("" = the object is a pod: its spec)
POD_TEMPLATES = {
    "deploymentconfigs.apps.openshift.io": ("spec", "template"),
    "replicationcontrollers": ("spec", "template"),
    "deployments.apps": ("spec", "template"),
    "daemonsets.apps": ("spec", "template"),
    "statefulsets.apps": ("spec", "template"),
    "replicasets.apps": ("spec", "template"),
    "podtemplates": ("template",),
    "pods": (),
}


def _q(v):
    return json.dumps(v)


def template_of(key, obj):
    """(pod template dict or None, field path prefix) of an object that carries a pod spec."""
    path = POD_TEMPLATES.get(key)
    if path is None:
        return None, None
    cur = obj
    for p in path:
        cur = (cur or {}).get(p) if isinstance(cur, dict) else None
    return (cur if isinstance(cur, dict) else None), ".".join(path)


# ------------------------------------------------------------------------------------------ defaults
def default_pod_spec(spec):
    """Server defaults of a v1 PodSpec, in place (pkg/apis/core/v1/defaults.go)."""
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("serviceAccountName") and not spec.get("serviceAccount"):
        spec["serviceAccount"] = spec["serviceAccountName"]   # the deprecated field mirrors the new one
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(c, dict):
            continue
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        if not c.get("imagePullPolicy"):
            image = c.get("image") or ""
            tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
            latest = image.endswith(":latest") or not tagged
            c["imagePullPolicy"] = "Always" if latest else "IfNotPresent"
        for p in c.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
        for probe in ("livenessProbe", "readinessProbe"):
            pr = c.get(probe)
            if isinstance(pr, dict):
                pr.setdefault("timeoutSeconds", 1)
                pr.setdefault("periodSeconds", 10)
                pr.setdefault("successThreshold", 1)
                pr.setdefault("failureThreshold", 3)
                if isinstance(pr.get("httpGet"), dict):
                    pr["httpGet"].setdefault("scheme", "HTTP")
                    pr["httpGet"].setdefault("path", "/")
        for e in c.get("env") or []:
            ref = ((e or {}).get("valueFrom") or {}).get("fieldRef") if isinstance(e, dict) else None
            if isinstance(ref, dict):
                ref.setdefault("apiVersion", "v1")
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict):
            continue
        if isinstance(v.get("secret"), dict):
            v["secret"].setdefault("defaultMode", 420)
        if isinstance(v.get("configMap"), dict):
            v["configMap"].setdefault("defaultMode", 420)
        if isinstance(v.get("hostPath"), dict):
            v["hostPath"].setdefault("type", "")


def canonicalize(key, obj):
    """Quantities in canonical form (container resources, PVC requests). Raises quantity.QuantityError."""
    tmpl, _ = template_of(key, obj)
    spec = (tmpl or {}).get("spec") if key != "pods" else obj.get("spec")
    if isinstance(spec, dict):
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            if isinstance(c, dict) and isinstance(c.get("resources"), dict):
                quantity.canonicalize_resources(c["resources"])
    if key == "persistentvolumeclaims":
        quantity.canonicalize_resources(((obj.get("spec") or {}).get("resources")))
    if key in ("limitranges",):
        for item in ((obj.get("spec") or {}).get("limits") or []):
            for f in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
                if isinstance((item or {}).get(f), dict):
                    quantity.canonicalize_resources({"limits": item[f]})
    if key == "resourcequotas":
        hard = (obj.get("spec") or {}).get("hard")
        if isinstance(hard, dict):
            quantity.canonicalize_resources({"limits": hard})


def default(key, obj):
    """Apply the pod-spec defaults of an object carrying a pod template (or a pod)."""
    if key == "pods":
        default_pod_spec(obj.get("spec"))
        return
    tmpl, _ = template_of(key, obj)
    if tmpl is not None:
        default_pod_spec(tmpl.get("spec"))


# ------------------------------------------------------------------------------------------ validation
def _validate_env(env, path, causes):
    for i, e in enumerate(env or []):
        p = "%s[%d]" % (path, i)
        if not isinstance(e, dict):
            causes.append((p, "FieldValueInvalid", "Invalid value: %s: must be an object" % _q(e)))
            continue
        name = e.get("name")
        if not name:
            causes.append((p + ".name", "FieldValueRequired", "Required value"))
        elif not _ENV_NAME.match(name):
            causes.append((p + ".name", "FieldValueInvalid", "Invalid value: %s: %s" % (_q(name), ENV_NAME_MSG)))
        vf = e.get("valueFrom")
        if vf is None:
            continue
        vp = p + ".valueFrom"
        sources = [s for s in ENV_SOURCES if (vf or {}).get(s) is not None] if isinstance(vf, dict) else []
        for s in sources:
            if s in ("secretKeyRef", "configMapKeyRef"):
                sel = vf[s] or {}
                if not sel.get("name") or not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                                                       sel.get("name") or ""):
                    causes.append(("%s.%s.name" % (vp, s), "FieldValueInvalid",
                                   "Invalid value: %s: a DNS-1123 subdomain must consist of lower case alphanumeric "
                                   "characters, '-' or '.', and must start and end with an alphanumeric character"
                                   % _q(sel.get("name") or "")))
                if not sel.get("key"):
                    causes.append(("%s.%s.key" % (vp, s), "FieldValueRequired", "Required value"))
                elif not _CONFIG_KEY.match(sel["key"]):
                    causes.append(("%s.%s.key" % (vp, s), "FieldValueInvalid",
                                   "Invalid value: %s: a valid config key must consist of alphanumeric characters, "
                                   "'-', '_' or '.'" % _q(sel["key"])))
        if not sources:
            causes.append((vp, "FieldValueInvalid", 'Invalid value: "": must specify one of: `fieldRef`, '
                           "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
        elif e.get("value"):
            causes.append((vp, "FieldValueInvalid", 'Invalid value: "": may not be specified when `value` is not empty'))
        elif len(sources) > 1:
            causes.append((vp, "FieldValueInvalid",
                           'Invalid value: "": may not have more than one field specified at a time'))


def _validate_probe(pr, path, causes):
    if not isinstance(pr, dict):
        return
    handlers = [h for h in PROBE_HANDLERS if pr.get(h) is not None]
    if not handlers:
        causes.append((path, "FieldValueRequired", "Required value: must specify a handler type"))
    elif len(handlers) > 1:
        causes.append(("%s.%s" % (path, handlers[1]), "FieldValueForbidden",
                       "Forbidden: may not specify more than 1 handler type"))
    for f in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        v = pr.get(f)
        if isinstance(v, int) and not isinstance(v, bool) and v < 0:
            causes.append(("%s.%s" % (path, f), "FieldValueInvalid",
                           "Invalid value: %d: must be greater than or equal to 0" % v))


def validate_pod_spec(spec, path, causes, image_optional=()):
    """1.11 ValidatePodSpec, the rules the toolkit's objects touch. path: e.g. spec.template.spec."""
    if not isinstance(spec, dict):
        causes.append((path, "FieldValueRequired", "Required value"))
        return
    volumes = {}
    for i, v in enumerate(spec.get("volumes") or []):
        p = "%s.volumes[%d]" % (path, i)
        if not isinstance(v, dict):
            causes.append((p, "FieldValueInvalid", "Invalid value: must be an object"))
            continue
        name = v.get("name")
        if not name:
            causes.append((p + ".name", "FieldValueRequired", "Required value"))
        elif len(name) > 63 or not _LABEL.match(name):
            causes.append((p + ".name", "FieldValueInvalid", "Invalid value: %s: %s" % (_q(name), LABEL_MSG)))
        elif name in volumes:
            causes.append((p + ".name", "FieldValueDuplicate", "Duplicate value: %s" % _q(name)))
        srcs = [s for s in VOLUME_SOURCES if v.get(s) is not None]
        if not srcs:
            causes.append((p, "FieldValueRequired", "Required value: must specify a volume type"))
        elif len(srcs) > 1:
            causes.append(("%s.%s" % (p, srcs[1]), "FieldValueForbidden",
                           "Forbidden: may not specify more than 1 volume type"))
        if v.get("hostPath") is not None and not (v.get("hostPath") or {}).get("path"):
            causes.append((p + ".hostPath.path", "FieldValueRequired", "Required value"))
        if v.get("persistentVolumeClaim") is not None and not (v["persistentVolumeClaim"] or {}).get("claimName"):
            causes.append((p + ".persistentVolumeClaim.claimName", "FieldValueRequired", "Required value"))
        if v.get("secret") is not None and not (v["secret"] or {}).get("secretName"):
            causes.append((p + ".secret.secretName", "FieldValueRequired", "Required value"))
        if name:
            volumes.setdefault(name, v)
    containers = spec.get("containers")
    if not containers:
        causes.append((path + ".containers", "FieldValueRequired", "Required value"))
    names = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            p = "%s.%s[%d]" % (path, group, i)
            if not isinstance(c, dict):
                causes.append((p, "FieldValueInvalid", "Invalid value: must be an object"))
                continue
            name = c.get("name")
            if not name:
                causes.append((p + ".name", "FieldValueRequired", "Required value"))
            elif len(name) > 63 or not _LABEL.match(name):
                causes.append((p + ".name", "FieldValueInvalid", "Invalid value: %s: %s" % (_q(name), LABEL_MSG)))
            elif name in names:
                causes.append((p + ".name", "FieldValueDuplicate", "Duplicate value: %s" % _q(name)))
            names.add(name)
            if not c.get("image") and name not in image_optional:
                causes.append((p + ".image", "FieldValueRequired", "Required value"))
            for j, port in enumerate(c.get("ports") or []):
                pp = "%s.ports[%d]" % (p, j)
                cp = (port or {}).get("containerPort")
                if not cp:
                    causes.append((pp + ".containerPort", "FieldValueRequired", "Required value"))
                elif not isinstance(cp, int) or isinstance(cp, bool) or not 0 < cp < 65536:
                    causes.append((pp + ".containerPort", "FieldValueInvalid",
                                   "Invalid value: %s: must be between 1 and 65535, inclusive" % _q(cp)))
                if (port or {}).get("protocol") not in ("TCP", "UDP", "SCTP"):
                    causes.append((pp + ".protocol", "FieldValueNotSupported", 'Unsupported value: %s: supported '
                                   'values: "SCTP", "TCP", "UDP"' % _q((port or {}).get("protocol"))))
            _validate_env(c.get("env"), p + ".env", causes)
            mounts = set()
            for j, m in enumerate(c.get("volumeMounts") or []):
                mp = "%s.volumeMounts[%d]" % (p, j)
                m = m or {}
                if not m.get("name"):
                    causes.append((mp + ".name", "FieldValueRequired", "Required value"))
                if m.get("name") not in volumes:
                    causes.append((mp + ".name", "FieldValueNotFound", "Not found: %s" % _q(m.get("name") or "")))
                if not m.get("mountPath"):
                    causes.append((mp + ".mountPath", "FieldValueRequired", "Required value"))
                elif m["mountPath"] in mounts:
                    causes.append((mp + ".mountPath", "FieldValueInvalid",
                                   "Invalid value: %s: must be unique" % _q(m["mountPath"])))
                mounts.add(m.get("mountPath"))
            if group == "containers":
                _validate_probe(c.get("livenessProbe"), p + ".livenessProbe", causes)
                _validate_probe(c.get("readinessProbe"), p + ".readinessProbe", causes)
            res = c.get("resources") or {}
            lim, req = res.get("limits") or {}, res.get("requests") or {}
            if isinstance(lim, dict) and isinstance(req, dict):
                for k, v in req.items():
                    if k in lim:
                        try:
                            if quantity.compare(v, lim[k]) > 0:
                                causes.append(("%s.resources.requests" % p, "FieldValueInvalid",
                                               "Invalid value: %s: must be less than or equal to %s limit"
                                               % (_q(v), k)))
                        except quantity.QuantityError:
                            pass
    ns = spec.get("nodeSelector")
    if ns is not None and (not isinstance(ns, dict) or not all(isinstance(v, str) for v in ns.values())):
        causes.append((path + ".nodeSelector", "FieldValueInvalid", "Invalid value: must be a map of strings"))


def validate(key, obj, old):
    """Causes (field, reason, message) for an object carrying a pod template, and PVC updates."""
    causes = []
    if key == "pods":
        validate_pod_spec(obj.get("spec"), "spec", causes)
    elif key in POD_TEMPLATES:
        tmpl, prefix = template_of(key, obj)
        if tmpl is None:
            if key != "deploymentconfigs.apps.openshift.io":
                return causes
            causes.append(("spec.template", "FieldValueRequired", "Required value"))
            return causes
        optional = ()
        if key == "deploymentconfigs.apps.openshift.io":
            # an ImageChange trigger fills in the image of the containers it names
            optional = tuple(n for t in (obj.get("spec") or {}).get("triggers") or []
                             if (t or {}).get("type") == "ImageChange"
                             for n in ((t.get("imageChangeParams") or {}).get("containerNames") or []))
        validate_pod_spec(tmpl.get("spec"), prefix + ".spec", causes, optional)
    elif key == "persistentvolumeclaims" and old is not None:
        causes.extend(pvc_update(obj, old))
    return causes


def pvc_update(new, old):
    """1.11 ValidatePersistentVolumeClaimUpdate with ExpandPersistentVolumes (beta, on by default in 1.11):
    the spec is immutable, except resources.requests.storage of a bound claim, which may only grow;
    volumeName may be set once (by the binder)."""
    causes = []
    ns, os_ = copy.deepcopy(new.get("spec") or {}), copy.deepcopy(old.get("spec") or {})
    if not os_.get("volumeName"):
        os_["volumeName"] = ns.get("volumeName")
        if os_["volumeName"] is None:
            os_.pop("volumeName")
    bound = (new.get("status") or {}).get("phase") == "Bound"
    new_size = ((ns.get("resources") or {}).get("requests") or {}).get("storage")
    old_size = ((os_.get("resources") or {}).get("requests") or {}).get("storage")
    if bound and isinstance((ns.get("resources") or {}).get("requests"), dict):
        if old_size is None:
            ns["resources"]["requests"].pop("storage", None)
        else:
            ns["resources"]["requests"]["storage"] = old_size
    if ns != os_:
        causes.append(("spec", "FieldValueForbidden",
                       "Forbidden: is immutable after creation except resources.requests for bound claims"))
    if new_size is not None and old_size is not None:
        try:
            if quantity.compare(new_size, old_size) < 0:
                causes.append(("spec.resources.requests.storage", "FieldValueForbidden",
                               "Forbidden: field can not be less than previous value"))
        except quantity.QuantityError:
            pass
    return causes
