"""Controllers and admission of the OKD 3.11 master that the toolkit meets, outside the image code.

- SCC admission (origin release-3.11 `pkg/security/apiserver/admission/sccadmission/admission.go`
  constraint.Admit / computeSecurityContext, with `pkg/security/securitycontextconstraints/provider.go`
  ValidatePodSecurityContext / ValidateContainerSecurityContext and the ordering of
  `pkg/security/securitycontextconstraints/util/sort` ByPriority / ByRestrictions): a pod is admitted by the
  first SCC, by priority then restrictiveness, that the pod's service account (or the requesting user, the
  replication-controller manager: its groups system:serviceaccounts and system:authenticated) may use and
  whose rules the pod meets; otherwise it is refused with `unable to validate against any security context
  constraint: [...]`.
- DeploymentConfig rollouts (origin `pkg/apps/controller/deploymentconfig/deploymentconfig_controller.go`
  Handle / calculateStatus / updateConditions, the deployer of `pkg/apps/strategy/rolling`, and the
  replication manager of kubernetes 1.11 `pkg/controller/replication`, which reports a refused pod as the
  RC's `ReplicaFailure` condition, reason `FailedCreate`): when `status.latestVersion` moves to N the RC
  `<dc>-N` is created from the template and its pods are admitted. Pods of an image the lab kubelet runs
  (KUBELET_IMAGE, lab/kubelet.py) are created Pending and the rollout is in progress (`Progressing` True,
  ReplicationControllerUpdated) until the kubelet reports their status (pod_status_written); pods of other
  images (no container runtime) are recorded as running at once and the rollout completes (`Progressing`
  True, NewReplicationControllerAvailable); a refused rollout fails as it does on 3.11 after the deployer's
  timeout (`Progressing` False, ProgressDeadlineExceeded, `Available` False), with the refusal in the RC's
  ReplicaFailure condition and a FailedCreate event.
- After a pod status write (the kubelet's report): the replication manager's status of the pod's RC
  (kubernetes 1.11 `pkg/controller/replicaset/replica_set_utils.go` calculateStatus, which 1.11's
  replication manager `pkg/controller/replication` runs for RCs), the deployer's phase of that rollout
  (origin `pkg/apps/strategy/rolling`, `pkg/apps/controller/deployer`) and the DC's status
  (calculateStatus / updateConditions): see pod_status_written.
- Service-account secrets, asynchronously (origin `pkg/serviceaccounts/controllers/create_dockercfg_secrets.go`
  and kubernetes 1.11 `pkg/controller/serviceaccount/tokens_controller.go`): see ServiceAccounts below.
- Namespace deletion (kubernetes 1.11 `pkg/controller/namespace`, NamespaceLifecycle admission): the
  namespace stays `Terminating` while its content is removed, then disappears.
"""
import base64
import copy
import heapq
import itertools
import json
import os
import re
import secrets as _random
import threading
import time

from .resources import BY_KEY

RC_MANAGER = "system:serviceaccount:kube-system:replication-controller"
DC_CONTROLLER = "system:serviceaccount:openshift-infra:deploymentconfig-controller"
SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
# the images the lab kubelet (lab/kubelet.py) runs: the OpenShift registry's, run as lab/okdregistry.py
KUBELET_IMAGE = re.compile(r"(^|/)(openshift3/ose|openshift/origin)-docker-registry([:@]|$)")
PHASE = "openshift.io/deployment.phase"
STATUS_REASON = "openshift.io/deployment.status-reason"


def kubelet_runs(pod_spec):
    """True when the lab kubelet runs this pod spec (its first container's image is KUBELET_IMAGE)."""
    cs = (pod_spec or {}).get("containers") or []
    return bool(cs) and bool(KUBELET_IMAGE.search((cs[0] or {}).get("image") or ""))


def last_message(text):
    """The last line of a container's output; of a logrus line (time=... level=... msg="..."), its msg."""
    lines = (text or "").strip().splitlines()
    if not lines:
        return "(no output)"
    m = re.search(r'msg=("(?:[^"\\]|\\.)*")', lines[-1])
    if m:
        try:
            return json.loads(m.group(1))
        except ValueError:
            pass
    return lines[-1]


def _suffix(n=5):
    return "".join(_random.choice(SUFFIX_CHARS) for _ in range(n))


# ------------------------------------------------------------------------------------------ background work
class Later(object):
    """One daemon thread running delayed callables in time order (the lab's stand-in for the controllers'
    work queues). Tests never wait on wall-clock time: they poll for the outcome."""

    def __init__(self, log=None):
        self.log = log or (lambda m: None)
        self._heap = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._thread = None

    def call(self, delay, fn, *args):
        with self._cv:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._seq), fn, args))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lab-controllers", daemon=True)
                self._thread.start()
            self._cv.notify()

    def _run(self):
        while True:
            with self._cv:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cv.wait(None if not self._heap else max(0.0, self._heap[0][0] - time.monotonic()))
                _, _, fn, args = heapq.heappop(self._heap)
            try:
                fn(*args)
            except Exception as e:  # a controller error never stops the others
                self.log("controller %s failed: %r" % (getattr(fn, "__name__", fn), e))


# ------------------------------------------------------------------------------------------ SCC admission
_POINTS = {"privileged": 1000000, "hostPorts": 400000, "hostNetwork": 200000, "hostVolume": 100000,
           "nonTrivialVolume": 50000, "RunAsAny": 40000, "MustRunAsNonRoot": 30000, "MustRunAsRange": 20000,
           "MustRunAs": 10000}
_TRIVIAL_VOLUMES = {"configMap", "downwardAPI", "emptyDir", "persistentVolumeClaim", "projected", "secret"}


def _restriction_points(scc):
    """byrestrictions.go pointValue (the parts the lab's SCCs differ in): lower is more restrictive."""
    pts = 0
    if scc.get("allowPrivilegedContainer"):
        pts += _POINTS["privileged"]
    if scc.get("allowHostPorts"):
        pts += _POINTS["hostPorts"]
    if scc.get("allowHostNetwork"):
        pts += _POINTS["hostNetwork"]
    vols = set(scc.get("volumes") or [])
    if "*" in vols or "hostPath" in vols:
        pts += _POINTS["hostVolume"]
    elif vols - _TRIVIAL_VOLUMES:
        pts += _POINTS["nonTrivialVolume"]
    pts += _POINTS.get(((scc.get("runAsUser") or {}).get("type")), 0)
    return pts


def usable_sccs(store, ns, service_account, requester=RC_MANAGER):
    """SCCs the pod's service account or the requesting service account may use (users / groups),
    ordered like 3.11: priority (higher first), then restrictiveness, then name."""
    subjects = {"system:serviceaccount:%s:%s" % (ns, service_account), requester}
    groups = {"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated",
              "system:serviceaccounts:" + requester.split(":")[2]}
    out = []
    for scc in store.items("securitycontextconstraints.security.openshift.io"):
        if subjects & set(scc.get("users") or []) or groups & set(scc.get("groups") or []):
            out.append(scc)
    out.sort(key=lambda s: (-(s.get("priority") or 0), _restriction_points(s), s["metadata"]["name"]))
    return out


def _uid_range(ns_obj):
    """[first, last] of the namespace's openshift.io/sa.scc.uid-range annotation (N/size)."""
    ann = ((ns_obj or {}).get("metadata") or {}).get("annotations") or {}
    try:
        start, size = ann.get("openshift.io/sa.scc.uid-range", "").split("/")
        return int(start), int(start) + int(size) - 1
    except ValueError:
        return None


def scc_problems(scc, pod_spec, ns_obj):
    """Field errors of a pod spec against one SCC (provider.go ValidatePodSecurityContext +
    ValidateContainerSecurityContext), in 3.11's wording."""
    errs = []
    allowed = set(scc.get("volumes") or [])
    if not scc.get("allowHostDirVolumePlugin"):
        allowed.discard("hostPath")
    for i, v in enumerate(pod_spec.get("volumes") or []):
        kinds = [k for k in v if k != "name" and v.get(k) is not None]
        for k in kinds:
            if "*" in allowed and (k != "hostPath" or scc.get("allowHostDirVolumePlugin")):
                continue
            if k not in allowed:
                errs.append('spec.volumes[%d]: Invalid value: "%s": %s volumes are not allowed to be used' % (i, k, k))
    psc = pod_spec.get("securityContext") or {}
    for field, flag, what in (("hostNetwork", "allowHostNetwork", "Host network"),
                              ("hostPID", "allowHostPID", "Host PID"), ("hostIPC", "allowHostIPC", "Host IPC")):
        if pod_spec.get(field) and not scc.get(flag):
            errs.append("spec.securityContext.%s: Invalid value: true: %s is not allowed to be used" % (field, what))
    rng = _uid_range(ns_obj)
    run_as = (scc.get("runAsUser") or {}).get("type")
    caps_allowed = set(scc.get("allowedCapabilities") or [])
    for i, c in enumerate(pod_spec.get("containers") or []):
        sc = c.get("securityContext") or {}
        if sc.get("privileged") and not scc.get("allowPrivilegedContainer"):
            errs.append("spec.containers[%d].securityContext.privileged: Invalid value: true: Privileged containers "
                        "are not allowed" % i)
        for p in c.get("ports") or []:
            if p.get("hostPort") and not scc.get("allowHostPorts"):
                errs.append("spec.containers[%d].securityContext.containers[%d].hostPort: Invalid value: %d: Host "
                            "ports are not allowed to be used" % (i, i, p["hostPort"]))
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if uid is not None:
            if run_as == "MustRunAsRange" and rng and not rng[0] <= uid <= rng[1]:
                errs.append("spec.containers[%d].securityContext.securityContext.runAsUser: Invalid value: %d: must "
                            "be in the ranges: [%d, %d]" % (i, uid, rng[0], rng[1]))
            if run_as == "MustRunAsNonRoot" and uid == 0:
                errs.append("spec.containers[%d].securityContext.securityContext.runAsUser: Invalid value: 0: "
                            "running with the root UID is forbidden" % i)
        for cap in ((sc.get("capabilities") or {}).get("add") or []):
            if "*" not in caps_allowed and cap not in caps_allowed:
                errs.append('spec.containers[%d].securityContext.capabilities.add: Invalid value: "%s": capability '
                            "may not be added" % (i, cap))
    return errs


def admit_pod(store, ns, pod_spec, requester=RC_MANAGER):
    """(scc name, None) when admitted, (None, 3.11's refusal message) otherwise."""
    sa = pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount") or "default"
    ns_obj = store.get("namespaces", None, ns)
    errs = []
    for scc in usable_sccs(store, ns, sa, requester):
        problems = scc_problems(scc, pod_spec, ns_obj)
        if not problems:
            return scc["metadata"]["name"], None
        errs.extend(problems)
    return None, "unable to validate against any security context constraint: [%s]" % " ".join(errs)


# ------------------------------------------------------------------------------------------ nodes, scheduling
def sync_nodes(api):
    """Node objects for the lab's hosts (the lab's status.json beside the API's state directory), labelled
    like openshift-ansible 3.11's node groups: masters `node-config-master-infra` (master and infra roles),
    other hosts `node-config-compute`; plus `kubernetes.io/hostname`. Labels added by users are kept.
    Returns the Node objects, or None when the lab's hosts are unknown (a private API instance): then pods
    are not bound to nodes. Call with api.lock held."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(api.store.path))), "status.json")
    try:
        with open(path) as f:
            hosts = json.load(f)["hosts"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    store = api.store
    out = []
    for h in hosts:
        fqdn = h.get("fqdn") or h.get("name")
        labels = {"kubernetes.io/hostname": fqdn, "beta.kubernetes.io/os": "linux",
                  "beta.kubernetes.io/arch": "amd64"}
        if "masters" in (h.get("groups") or []):
            labels.update({"node-role.kubernetes.io/master": "true", "node-role.kubernetes.io/infra": "true"})
        else:
            labels["node-role.kubernetes.io/compute"] = "true"
        node = store.get("nodes", None, fqdn)
        status = {"addresses": [{"type": "InternalIP", "address": h.get("address")},
                                {"type": "Hostname", "address": fqdn}],
                  "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                  "message": "kubelet is posting ready status"}]}
        if node is None:
            node = api._create(BY_KEY["nodes"], None, {"metadata": {"name": fqdn, "labels": labels},
                                                       "spec": {}}, "system:node:" + fqdn)
        merged = dict(node["metadata"].get("labels") or {})
        merged.update(labels)
        if merged != node["metadata"].get("labels") or node.get("status") != status:
            node["metadata"]["labels"] = merged
            node["status"] = status
            node["metadata"]["resourceVersion"] = store.next_rv()
            store.put("nodes", node)
        out.append(node)
    return out


def _node_ready(node):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def schedule(nodes, pod_spec, placed):
    """The node for a pod (kubernetes 1.11 scheduler, the predicates that matter here: the node is Ready and
    schedulable, and its labels match spec.nodeSelector), spreading the pods of one RC (`placed`: node name
    -> count). -> (node or None, the scheduler's FailedScheduling message)."""
    selector = pod_spec.get("nodeSelector") or {}
    fits = [n for n in nodes if _node_ready(n) and not (n.get("spec") or {}).get("unschedulable")
            and all((n["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())]
    misfits = len([n for n in nodes if not all((n["metadata"].get("labels") or {}).get(k) == v
                                               for k, v in selector.items())])
    taken = 0
    if kubelet_runs(pod_spec):
        # lab limit: the lab kubelet runs pods in their host's network namespace (no pod IPs), so two pods
        # of one rollout on a node would bind the same port; they are scheduled as host-network pods are
        # (the 1.11 predicate PodFitsHostPorts): at most one per node. 3.11 itself would place both there.
        taken = len([n for n in fits if placed.get(n["metadata"]["name"], 0)])
        fits = [n for n in fits if not placed.get(n["metadata"]["name"], 0)]
    if fits:
        return min(fits, key=lambda n: (placed.get(n["metadata"]["name"], 0), n["metadata"]["name"])), None
    reasons = ["%d node(s) didn't have free ports for the requested pod ports" % taken] if taken else []
    reasons += ["%d node(s) didn't match node selector" % misfits] if misfits or not taken else []
    return None, "0/%d nodes are available: %s." % (len(nodes), ", ".join(reasons))


def _address(node):
    return next((a.get("address") for a in (node.get("status") or {}).get("addresses") or []
                 if a.get("type") == "InternalIP"), None)


# ------------------------------------------------------------------------------------------ DC rollouts
def _condition(ctype, status, reason, message, t_now):
    c = {"type": ctype, "status": status, "lastUpdateTime": t_now, "lastTransitionTime": t_now,
         "message": message}
    if reason:
        c["reason"] = reason
    return c


def _set_condition(conds, cond):
    """deployutil.SetDeploymentCondition: replace the condition of that type, keep the transition time when
    the status did not change."""
    for i, c in enumerate(conds):
        if c.get("type") == cond["type"]:
            if c.get("status") == cond["status"]:
                cond["lastTransitionTime"] = c.get("lastTransitionTime") or cond["lastTransitionTime"]
            conds[i] = cond
            return
    conds.append(cond)


def _create_pods(api, ns, rc, labels, ann, scc, pod_spec, count, placed, t_now):
    """The replication manager creates COUNT pods of RC (admitted under SCC), the scheduler binds each
    (PLACED: {node name: pods of this RC there} for the spread); call with api.lock held. Returns (recorded
    running, Pending for the lab kubelet, the first unschedulable message or None)."""
    store = api.store
    rc_name = rc["metadata"]["name"]
    rc_owner = {"apiVersion": "v1", "kind": "ReplicationController", "name": rc_name,
                "uid": rc["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    nodes = sync_nodes(api)
    running = waiting = 0
    unschedulable_any = None
    for _ in range(count):
        pod_ann = dict(ann)
        pod_ann["openshift.io/scc"] = scc
        pod = api._create(BY_KEY["pods"], ns, {
            "metadata": {"name": "%s-%s" % (rc_name, _suffix()), "labels": labels, "annotations": pod_ann,
                         "ownerReferences": [rc_owner]},
            "spec": copy.deepcopy(pod_spec)}, RC_MANAGER)
        node, unschedulable = (None, None) if nodes is None else schedule(nodes, pod_spec, placed)
        if unschedulable:
            pod["status"] = {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": unschedulable, "lastTransitionTime": t_now}]}
            store.put("pods", pod)
            api._create(BY_KEY["events"], ns, {
                "metadata": {"name": "%s.%s" % (pod["metadata"]["name"], _suffix(16))},
                "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"],
                                   "uid": pod["metadata"]["uid"], "apiVersion": "v1"},
                "reason": "FailedScheduling", "message": unschedulable, "type": "Warning", "count": 1,
                "source": {"component": "default-scheduler"}, "firstTimestamp": t_now,
                "lastTimestamp": t_now}, "system:kube-scheduler")
            unschedulable_any = unschedulable_any or unschedulable
            continue
        if node is not None:
            placed[node["metadata"]["name"]] = placed.get(node["metadata"]["name"], 0) + 1
            pod["spec"]["nodeName"] = node["metadata"]["name"]
        if node is not None and kubelet_runs(pod_spec):
            # the lab kubelet runs it: scheduled, Pending until the kubelet reports (pod_status_written)
            names = ",".join(c.get("name") or "" for c in pod_spec.get("containers") or [])
            pod["status"] = {"phase": "Pending", "hostIP": _address(node), "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": t_now},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                 "message": "containers with unready status: [%s]" % names, "lastTransitionTime": t_now}]}
            store.put("pods", pod)
            waiting += 1
            continue
        # no container runtime for this image in the lab: an admitted, scheduled pod is recorded as running
        pod["status"] = {"phase": "Running", "startTime": t_now, "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": t_now},
            {"type": "Ready", "status": "True", "lastTransitionTime": t_now}]}
        if node is not None:
            pod["status"]["hostIP"] = pod["status"]["podIP"] = _address(node)
        store.put("pods", pod)
        running += 1
    return running, waiting, unschedulable_any


def rollout(api, ns, name, t_now):
    """Roll out status.latestVersion of DeploymentConfig ns/name (call with api.lock held): the RC, its pods
    (admitted or refused), the older RCs scaled to 0, the DC status. Returns True when something changed."""
    store = api.store
    dc = store.get("deploymentconfigs.apps.openshift.io", ns, name)
    if dc is None:
        return False
    st = dc.get("status") or {}
    version = int(st.get("latestVersion") or 0)
    if version < 1:
        return False
    rc_name = "%s-%d" % (name, version)
    uid = dc["metadata"]["uid"]
    existing = store.get("replicationcontrollers", ns, rc_name)
    if existing is not None:
        owners = [o.get("uid") for o in existing["metadata"].get("ownerReferences") or []]
        if uid in owners:
            return False
        delete_owned(api, ns, existing["metadata"]["uid"])          # left over from a deleted DC of that name
        store.delete("replicationcontrollers", ns, rc_name)
    spec = dc.get("spec") or {}
    tmpl = copy.deepcopy(spec.get("template") or {})
    labels = dict((tmpl.get("metadata") or {}).get("labels") or {})
    labels.update({"deployment": rc_name, "deploymentconfig": name})
    tmpl.setdefault("metadata", {})["labels"] = labels
    ann = dict((tmpl["metadata"].get("annotations") or {}))
    ann.update({"openshift.io/deployment-config.latest-version": str(version),
                "openshift.io/deployment-config.name": name, "openshift.io/deployment.name": rc_name})
    tmpl["metadata"]["annotations"] = ann
    replicas = int(spec.get("replicas") or 0) if not spec.get("test") else 0
    selector = dict(spec.get("selector") or {})
    selector.update({"deployment": rc_name, "deploymentconfig": name})
    pod_spec = tmpl.get("spec") or {}
    scc, refusal = admit_pod(store, ns, pod_spec)
    owner = {"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig", "name": name, "uid": uid,
             "controller": True, "blockOwnerDeletion": True}
    rc = api._create(BY_KEY["replicationcontrollers"], ns, {
        "metadata": {"name": rc_name, "labels": {"openshift.io/deployment-config.name": name},
                     "annotations": {"openshift.io/deployment-config.latest-version": str(version),
                                     "openshift.io/deployment-config.name": name,
                                     "openshift.io/deployment.phase": "Failed" if refusal else "Complete",
                                     "openshift.io/deployer-pod.name": rc_name + "-deploy",
                                     "openshift.io/deployment.replicas": str(replicas)},
                     "ownerReferences": [owner]},
        "spec": {"replicas": replicas, "selector": selector, "template": tmpl}}, DC_CONTROLLER)
    running = waiting = 0
    if refusal:
        message = 'pods "%s-" is forbidden: %s' % (rc_name, refusal)
        rc["status"] = {"replicas": 0, "observedGeneration": 1, "conditions": [
            _condition("ReplicaFailure", "True", "FailedCreate", message, t_now)]}
        del rc["status"]["conditions"][0]["lastUpdateTime"]
        api._create(BY_KEY["events"], ns, {
            "metadata": {"name": "%s.%s" % (rc_name, _suffix(16))},
            "involvedObject": {"kind": "ReplicationController", "namespace": ns, "name": rc_name,
                               "uid": rc["metadata"]["uid"], "apiVersion": "v1"},
            "reason": "FailedCreate", "message": "Error creating: " + message, "type": "Warning", "count": 1,
            "source": {"component": "replication-controller"}, "firstTimestamp": t_now, "lastTimestamp": t_now},
            RC_MANAGER)
    else:
        running, waiting, unschedulable = _create_pods(api, ns, rc, labels, ann, scc, pod_spec, replicas, {}, t_now)
        refusal = refusal or unschedulable
        rc["status"] = {"replicas": replicas, "readyReplicas": running, "availableReplicas": running,
                        "fullyLabeledReplicas": replicas, "observedGeneration": 1}
        if refusal:      # unschedulable: the deployer gives up after its timeout (collapsed here)
            rc["metadata"]["annotations"][PHASE] = "Failed"
        elif waiting:    # the deployer waits for the kubelet's pods to be ready
            rc["metadata"]["annotations"][PHASE] = "Running"
    store.put("replicationcontrollers", rc)
    # older rollouts of this DC are scaled to 0 (their pods go) once the new one is complete
    if not refusal:
        for old in store.items("replicationcontrollers", ns):
            if old["metadata"]["name"] == rc_name or uid not in [o.get("uid") for o in
                                                                 old["metadata"].get("ownerReferences") or []]:
                continue
            if (old.get("spec") or {}).get("replicas"):
                old["spec"]["replicas"] = 0
                old["status"] = dict(old.get("status") or {}, replicas=0, readyReplicas=0, availableReplicas=0)
                old["metadata"]["resourceVersion"] = store.next_rv()
                store.put("replicationcontrollers", old)
            delete_owned(api, ns, old["metadata"]["uid"], kinds=("pods",))
        # cleanupOldDeployments: at most spec.revisionHistoryLimit older RCs (scaled to 0) are kept
        limit = spec.get("revisionHistoryLimit")
        if isinstance(limit, int) and limit >= 0:
            def version_of(o):
                try:
                    return int((o["metadata"].get("annotations") or {}).get(
                        "openshift.io/deployment-config.latest-version") or 0)
                except ValueError:
                    return 0
            older = sorted((o for o in store.items("replicationcontrollers", ns)
                            if o["metadata"]["name"] != rc_name and not (o.get("spec") or {}).get("replicas")
                            and uid in [x.get("uid") for x in o["metadata"].get("ownerReferences") or []]),
                           key=version_of)
            for o in older[:max(0, len(older) - limit)]:
                store.delete("replicationcontrollers", ns, o["metadata"]["name"])
                delete_owned(api, ns, o["metadata"]["uid"])
    # calculateStatus / updateConditions
    cur = store.get("deploymentconfigs.apps.openshift.io", ns, name)
    st = copy.deepcopy(cur.get("status") or {})
    conds = list(st.get("conditions") or [])
    st.update({"observedGeneration": int(cur["metadata"].get("generation") or 0), "replicas": running,
               "updatedReplicas": running, "availableReplicas": running, "readyReplicas": running,
               "unavailableReplicas": max(0, replicas - running)})
    if not st.get("details"):     # an image change trigger's write sets its own (strategies.py)
        st["details"] = {"message": "config change", "causes": [{"type": "ConfigChange"}]}
    max_unavailable = 0 if replicas < 4 else replicas // 4     # rolling default maxUnavailable 25%, floor
    if running > 0 and running >= replicas - max_unavailable:
        _set_condition(conds, _condition("Available", "True", "", "Deployment config has minimum availability.",
                                         t_now))
    else:
        _set_condition(conds, _condition("Available", "False", "",
                                         "Deployment config does not have minimum availability.", t_now))
    if refusal:
        _set_condition(conds, _condition("Progressing", "False", "ProgressDeadlineExceeded",
                                         'replication controller "%s" has failed progressing' % rc_name, t_now))
    elif waiting:
        _set_condition(conds, _condition("Progressing", "True", "ReplicationControllerUpdated",
                                         'replication controller "%s" is progressing' % rc_name, t_now))
    else:
        _set_condition(conds, _condition("Progressing", "True", "NewReplicationControllerAvailable",
                                         'replication controller "%s" successfully rolled out' % rc_name, t_now))
    st["conditions"] = conds
    cur["status"] = st
    cur["metadata"]["resourceVersion"] = store.next_rv()
    store.put("deploymentconfigs.apps.openshift.io", cur)
    return True


def _pod_ready(pod):
    """podutil.IsPodReady: the pod's Ready condition is True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def pod_trouble(pod):
    """What keeps a pod's container from ever becoming ready, as its kubelet reports it, in one line - or None
    while it is merely starting (waiting ContainerCreating without a message, running but not ready yet).
    This is what the lab's deployer fails a rollout for, collapsing the deployer's timeout (below)."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        name = cs.get("name")
        waiting = (cs.get("state") or {}).get("waiting")
        if not waiting:
            continue
        reason, msg = waiting.get("reason") or "", waiting.get("message") or ""
        term = (cs.get("lastState") or {}).get("terminated")
        if reason == "CrashLoopBackOff" and term:
            return "container %s exited with code %s: %s" % (name, term.get("exitCode"),
                                                            last_message(term.get("message")))
        if reason == "CreateContainerConfigError" or \
                (reason == "ContainerCreating" and msg.startswith('MountVolume.SetUp failed for volume "')):
            return "container %s: %s%s" % (name, reason, ": " + msg if msg else "")
    return None


def _owner_uid(obj, kind):
    return next((o.get("uid") for o in obj["metadata"].get("ownerReferences") or []
                 if o.get("kind") == kind and o.get("controller")), None)


def pod_status_written(api, ns, pod, t_now=None):
    """After a pod's status was written (the lab kubelet's report; takes api.lock, call it without):

    1. the replication manager of kubernetes 1.11 (`pkg/controller/replication`, which runs the ReplicaSet
       controller's code: `pkg/controller/replicaset/replica_set_utils.go` calculateStatus) writes the status
       of the pod's RC from its pods: `replicas`, `fullyLabeledReplicas`, `readyReplicas` (podutil.IsPodReady)
       and `availableReplicas` (ready for minReadySeconds, 0 here);
    2. the deployer of that rollout (origin release-3.11 `pkg/apps/strategy/rolling` / `recreate`, whose end
       the deployer controller `pkg/apps/controller/deployer/deployer_controller.go` records in the RC's
       `openshift.io/deployment.phase`), for the DC's latest RC only: `Complete` once its ready pods reach
       minimum availability (replicas minus maxUnavailable 25%, at least one); `Failed` when a pod reports a
       container that cannot run (pod_trouble; its text in `openshift.io/deployment.status-reason`). Lab
       collapse: 3.11's deployer waits `timeoutSeconds` (600 s) before it fails a rollout; the lab fails it at
       the kubelet's first report of the trouble, and a Failed rollout whose pods become ready later is
       Complete (as one that recovers within the 600 s). Complete stays Complete (the deployer has exited):
       a container that fails later lowers the counts and `Available` only;
    3. the DC controller's calculateStatus / updateConditions (origin `pkg/apps/controller/deploymentconfig/
       deploymentconfig_controller.go`): replica counts summed over the DC's RCs, `Available` True "Deployment
       config has minimum availability." or False, `Progressing` by the latest RC's phase: Running -> True,
       ReplicationControllerUpdated "replication controller "<rc>" is progressing"; Complete -> True,
       NewReplicationControllerAvailable "... successfully rolled out"; Failed -> False,
       ProgressDeadlineExceeded "... has failed progressing" (lab addition: ": <the container's trouble>").

    Pods the lab records as running at rollout (images without a runtime) never come here."""
    from .api import now
    t_now = t_now or now()
    with api.lock:
        store = api.store
        rc_uid = _owner_uid(pod, "ReplicationController")
        if rc_uid is None:
            return None
        rc = next((o for o in store.items("replicationcontrollers", ns) if o["metadata"]["uid"] == rc_uid), None)
        if rc is None:
            return None
        out = _rc_followed(api, ns, rc, t_now)
        store.save()
        return out


def _rc_pods(store, ns, rc_uid):
    return [p for p in store.items("pods", ns) if _owner_uid(p, "ReplicationController") == rc_uid
            and not p["metadata"].get("deletionTimestamp")]


def _rc_followed(api, ns, rc, t_now):
    """Steps 1-3 of pod_status_written for RC (call with api.lock held): its status from its pods, the
    rollout's phase when it is its DC's latest, and that DC's status. Returns the DC as written, or None."""
    store = api.store
    rc_uid = rc["metadata"]["uid"]
    pods = _rc_pods(store, ns, rc_uid)
    ready = len([p for p in pods if _pod_ready(p)])
    rst = dict(rc.get("status") or {})
    rst.update({"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                "availableReplicas": ready, "observedGeneration": int(rc["metadata"].get("generation") or 1)})
    ann = rc["metadata"].setdefault("annotations", {})
    before = (copy.deepcopy(rc.get("status")), dict(ann))
    dc_name = ann.get("openshift.io/deployment-config.name")
    dc = store.get(DC_KEY, ns, dc_name) if dc_name else None
    latest = dc is not None and _owner_uid(rc, "DeploymentConfig") == dc["metadata"]["uid"] and \
        "%s-%s" % (dc_name, (dc.get("status") or {}).get("latestVersion")) == rc["metadata"]["name"]
    if latest and ann.get(PHASE) in ("Running", "Complete", "Failed") and not \
            any(c.get("type") == "ReplicaFailure" for c in rst.get("conditions") or []):
        want = int((rc.get("spec") or {}).get("replicas") or 0)
        troubles = [t for t in (pod_trouble(p) for p in pods) if t]
        if ann.get(PHASE) == "Complete":
            pass    # the deployer has finished: a later crash shows in the counts and Available only
        elif ready > 0 and ready >= want - (0 if want < 4 else want // 4):
            ann[PHASE] = "Complete"
            ann.pop(STATUS_REASON, None)
        elif troubles:
            ann[PHASE] = "Failed"
            ann[STATUS_REASON] = "; ".join(sorted(set(troubles)))
        else:
            ann[PHASE] = "Running"
            ann.pop(STATUS_REASON, None)
    rc["status"] = rst
    if (rc["status"], ann) != before:
        rc["metadata"]["resourceVersion"] = store.next_rv()
        store.put("replicationcontrollers", rc)
    return _dc_status(api, dc, t_now) if latest else None


def _dc_status(api, dc, t_now):
    """calculateStatus / updateConditions of DeploymentConfig dc from its RCs (call with api.lock held)."""
    store = api.store
    ns, name = dc["metadata"]["namespace"], dc["metadata"]["name"]
    rcs = [o for o in store.items("replicationcontrollers", ns) if _owner_uid(o, "DeploymentConfig") ==
           dc["metadata"]["uid"]]
    st = copy.deepcopy(dc.get("status") or {})
    rc_name = "%s-%s" % (name, st.get("latestVersion"))
    latest = next((o for o in rcs if o["metadata"]["name"] == rc_name), None)
    available = sum(int((o.get("status") or {}).get("availableReplicas") or 0) for o in rcs)
    total = sum(int((o.get("spec") or {}).get("replicas") or 0) for o in rcs)
    st.update({"replicas": sum(int((o.get("status") or {}).get("replicas") or 0) for o in rcs),
               "updatedReplicas": int(((latest or {}).get("status") or {}).get("replicas") or 0),
               "availableReplicas": available,
               "readyReplicas": sum(int((o.get("status") or {}).get("readyReplicas") or 0) for o in rcs),
               "unavailableReplicas": max(0, total - available)})
    conds = list(st.get("conditions") or [])
    replicas = int((dc.get("spec") or {}).get("replicas") or 0)
    if available > 0 and available >= replicas - (0 if replicas < 4 else replicas // 4):
        _set_condition(conds, _condition("Available", "True", "", "Deployment config has minimum availability.",
                                         t_now))
    else:
        _set_condition(conds, _condition("Available", "False", "",
                                         "Deployment config does not have minimum availability.", t_now))
    ann = ((latest or {}).get("metadata") or {}).get("annotations") or {}
    phase = ann.get(PHASE)
    if phase == "Running":
        _set_condition(conds, _condition("Progressing", "True", "ReplicationControllerUpdated",
                                         'replication controller "%s" is progressing' % rc_name, t_now))
    elif phase == "Complete":
        _set_condition(conds, _condition("Progressing", "True", "NewReplicationControllerAvailable",
                                         'replication controller "%s" successfully rolled out' % rc_name, t_now))
    elif phase == "Failed":
        msg = 'replication controller "%s" has failed progressing' % rc_name
        if ann.get(STATUS_REASON):
            msg += ": " + ann[STATUS_REASON]
        _set_condition(conds, _condition("Progressing", "False", "ProgressDeadlineExceeded", msg, t_now))
    # an unchanged condition keeps its times (SetDeploymentCondition only replaces a changed one)
    old = dict((c.get("type"), c) for c in (dc.get("status") or {}).get("conditions") or [])
    conds = [old[c["type"]] if c["type"] in old and all(old[c["type"]].get(k) == c.get(k) for k in
                                                         ("status", "reason", "message")) else c for c in conds]
    st["conditions"] = conds
    if st == dc.get("status"):
        return copy.deepcopy(dc)
    dc["status"] = st
    dc["metadata"]["resourceVersion"] = store.next_rv()
    store.put(DC_KEY, dc)
    return copy.deepcopy(dc)


def delete_owned(api, ns, owner_uid, kinds=None):
    """Garbage collection (background propagation) of the objects in ns whose ownerReferences name
    owner_uid, recursively (call with api.lock held)."""
    store = api.store
    for key in list(kinds or store.keys()):
        r = BY_KEY.get(key)
        if r is None or not r.namespaced:
            continue
        for o in list(store.items(key, ns)):
            if owner_uid in [x.get("uid") for x in o["metadata"].get("ownerReferences") or []]:
                store.delete(key, ns, o["metadata"]["name"])
                delete_owned(api, ns, o["metadata"]["uid"], kinds)


def _pod_rank(pod):
    """kubernetes 1.11 controller.ActivePods order (pkg/controller/controller_utils.go): the pods a scale
    down deletes first come first - unscheduled before scheduled, Pending before Running, not ready before
    ready, then the newest first."""
    st = pod.get("status") or {}
    return (bool((pod.get("spec") or {}).get("nodeName")), st.get("phase") == "Running", _pod_ready(pod))


def scale(api, ns, name, t_now):
    """A DeploymentConfig's spec.replicas changed without a new rollout (`oc scale dc/NAME`): origin
    release-3.11 `pkg/apps/controller/deploymentconfig/deploymentconfig_controller.go` Handle ->
    reconcileDeployments sets the active (latest, complete) RC's spec.replicas to the DC's (0 for a test
    DC), and only when no rollout is in progress; the replication manager (kubernetes 1.11
    `pkg/controller/replication` / replicaset manageReplicas) then creates the missing pods or deletes the
    surplus in ActivePods order (_pod_rank); the DC status follows (_rc_followed). Call with api.lock held;
    returns True when something changed."""
    store = api.store
    dc = store.get(DC_KEY, ns, name)
    if dc is None:
        return False
    spec = dc.get("spec") or {}
    rc_name = "%s-%s" % (name, (dc.get("status") or {}).get("latestVersion"))
    rc = store.get("replicationcontrollers", ns, rc_name)
    if rc is None or _owner_uid(rc, "DeploymentConfig") != dc["metadata"]["uid"] or \
            (rc["metadata"].get("annotations") or {}).get(PHASE) != "Complete":
        return False
    want = 0 if spec.get("test") else int(spec.get("replicas") or 0)
    if int((rc.get("spec") or {}).get("replicas") or 0) == want:
        return False
    rc["spec"]["replicas"] = want
    pods = _rc_pods(store, ns, rc["metadata"]["uid"])
    if len(pods) > want:
        newest_first = sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
        for pod in sorted(newest_first, key=_pod_rank)[:len(pods) - want]:
            store.delete("pods", ns, pod["metadata"]["name"])
    elif len(pods) < want:
        tmpl = rc["spec"].get("template") or {}
        meta = tmpl.get("metadata") or {}
        pod_spec = tmpl.get("spec") or {}
        placed = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                placed[node] = placed.get(node, 0) + 1
        scc, refusal = admit_pod(store, ns, pod_spec)
        if not refusal:      # a refused pod stays uncreated (a FailedCreate of the RC; the DC stays short)
            _create_pods(api, ns, rc, dict(meta.get("labels") or {}), dict(meta.get("annotations") or {}), scc,
                         pod_spec, want - len(pods), placed, t_now)
    rc["metadata"]["resourceVersion"] = store.next_rv()
    store.put("replicationcontrollers", rc)
    _rc_followed(api, ns, rc, t_now)
    return True


def after_dc_write(api, ns, name, old, obj, t_now):
    """Hook after a DeploymentConfig write (spec or status): roll out a new latestVersion, or scale the
    complete latest rollout to a changed spec.replicas (scale)."""
    before = int(((old or {}).get("status") or {}).get("latestVersion") or 0)
    after = int((obj.get("status") or {}).get("latestVersion") or 0)
    if after == before and old is not None:
        if ((old.get("spec") or {}).get("replicas"), (old.get("spec") or {}).get("test")) != \
                ((obj.get("spec") or {}).get("replicas"), (obj.get("spec") or {}).get("test")):
            with api.lock:
                if scale(api, ns, name, t_now):
                    api.store.save()
        return
    with api.lock:
        if rollout(api, ns, name, t_now):
            api.store.save()


# ------------------------------------------------------------------------------------------ image change triggers
IMAGE_TRIGGER_CONTROLLER = "system:serviceaccount:openshift-infra:image-trigger-controller"
DC_KEY = "deploymentconfigs.apps.openshift.io"
BC_KEY = "buildconfigs.build.openshift.io"
IS_KEY = "imagestreams.image.openshift.io"


def split_istag(name):
    """imageutil.SplitImageStreamTag: "stream:tag" -> (stream, tag); no tag means "latest"."""
    stream, sep, tag = (name or "").rpartition(":")
    if not sep:
        return name or "", "latest"
    return stream, tag or "latest"


def latest_tagged_image(stream, tag):
    """imageapi.ResolveLatestTaggedImage (origin release-3.11 pkg/image/apis/image/helper.go): the newest
    event of status tag `tag`; with the spec tag's referencePolicy Local the stream's own repository
    (status.dockerImageRepository@image), else the event's dockerImageReference. None when not tagged."""
    entry = next((t for t in (stream.get("status") or {}).get("tags") or [] if t.get("tag") == tag), None)
    items = (entry or {}).get("items") or []
    if not items:
        return None
    latest = items[0]
    spec_tag = next((t for t in (stream.get("spec") or {}).get("tags") or [] if t.get("name") == tag), None)
    local = (stream.get("status") or {}).get("dockerImageRepository")
    if ((spec_tag or {}).get("referencePolicy") or {}).get("type") == "Local" and local and latest.get("image"):
        return "%s@%s" % (local, latest["image"])
    return latest.get("dockerImageReference")


def _tag_ref(store, ns, istag):
    name, tag = split_istag(istag)
    stream = store.get(IS_KEY, ns, name)
    return latest_tagged_image(stream, tag) if stream is not None else None


def dc_image_triggers(dc):
    """The ImageChange triggers of a DC that name an ImageStreamTag: [(trigger params, namespace, istag)]
    (pkg/image/trigger/deploymentconfigs calculateDeploymentConfigTrigger)."""
    out = []
    for t in (dc.get("spec") or {}).get("triggers") or []:
        p = (t or {}).get("imageChangeParams") if (t or {}).get("type") == "ImageChange" else None
        frm = (p or {}).get("from") or {}
        if p is None or frm.get("kind") != "ImageStreamTag" or not frm.get("name"):
            continue
        out.append((p, frm.get("namespace") or dc["metadata"].get("namespace"), frm["name"]))
    return out


def resolve_dc_image_triggers(store, dc):
    """UpdateDeploymentConfigImages (origin release-3.11 pkg/image/trigger/deploymentconfigs/
    deploymentconfigs.go) and the instantiate REST's processTriggers (pkg/apps/apiserver/registry/
    instantiate/rest.go): every *automatic* ImageChange trigger whose tag resolves to a reference other than
    its lastTriggeredImage puts that reference into the containers it names (containerNames, init
    containers too) and records it as lastTriggeredImage. Non-automatic triggers and a paused DC are left
    alone. Changes dc in place; returns True when it changed (call with the store lock held)."""
    if (dc.get("spec") or {}).get("paused"):
        return False
    changed = False
    pod = (((dc.get("spec") or {}).get("template") or {}).get("spec") or {})
    for p, ns, istag in dc_image_triggers(dc):
        if not p.get("automatic"):
            continue
        ref = _tag_ref(store, ns, istag)
        if not ref or ref == p.get("lastTriggeredImage"):
            continue
        names = set(p.get("containerNames") or [])
        for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            if isinstance(c, dict) and c.get("name") in names:
                c["image"] = ref
        p["lastTriggeredImage"] = ref
        changed = True
    return changed


def _bc_input_reference(bc):
    """buildapihelpers.GetInputReference: the strategy's `from` (source, docker or custom strategy)."""
    st = (bc.get("spec") or {}).get("strategy") or {}
    for k in ("sourceStrategy", "dockerStrategy", "customStrategy"):
        if isinstance(st.get(k), dict) and st[k].get("from"):
            return st[k]["from"]
    return None


def bc_fired_triggers(store, bc):
    """buildConfigReactor.ImageChanged (origin pkg/image/trigger/buildconfigs/buildconfigs.go): the
    ImageChange triggers (not paused) whose ImageStreamTag (`from`, or the strategy's) resolves to a
    reference other than lastTriggeredImageID -> [(trigger's imageChange dict, from, reference)]."""
    fired = []
    for t in (bc.get("spec") or {}).get("triggers") or []:
        p = (t or {}).get("imageChange") if (t or {}).get("type") == "ImageChange" else None
        if p is None or p.get("paused"):
            continue
        frm = p.get("from") or _bc_input_reference(bc)
        if not frm or frm.get("kind") != "ImageStreamTag" or not frm.get("name"):
            continue
        ref = _tag_ref(store, frm.get("namespace") or bc["metadata"]["namespace"], frm["name"])
        if not ref or ref == p.get("lastTriggeredImageID"):
            continue
        fired.append((p, frm, ref))
    return fired


def instantiate_build(api, bc, fired, user, t_now):
    """The BuildRequest a fired image trigger sends (origin release-3.11 pkg/build/generator/generator.go
    Instantiate, simplified; call with api.lock held): the BuildConfig's trigger gets lastTriggeredImageID,
    status.lastVersion moves to N, and Build `<bc>-N` is created from the BuildConfig's spec (the strategy's
    ImageStreamTag `from` resolved to the DockerImage reference), `triggeredBy` [{message: "Image change",
    imageChangeBuild: {imageID, fromRef}}], phase New. Builds do not run in the lab. Returns the Build."""
    store = api.store
    ns, name = bc["metadata"]["namespace"], bc["metadata"]["name"]
    for p, _, ref in fired:
        p["lastTriggeredImageID"] = ref
    st = bc.setdefault("status", {})
    st["lastVersion"] = int(st.get("lastVersion") or 0) + 1
    n = st["lastVersion"]
    bc["metadata"]["resourceVersion"] = store.next_rv()
    store.put(BC_KEY, bc)
    spec = copy.deepcopy(bc.get("spec") or {})
    for k in ("triggers", "runPolicy", "successfulBuildsHistoryLimit", "failedBuildsHistoryLimit"):
        spec.pop(k, None)
    frm = _bc_input_reference({"spec": spec})
    if frm is not None and frm.get("kind") == "ImageStreamTag":
        ref = next((r for p, f, r in fired if f.get("name") == frm.get("name")), None) or \
            _tag_ref(store, frm.get("namespace") or ns, frm["name"])
        if ref:
            frm.clear()
            frm.update({"kind": "DockerImage", "name": ref})
    seen, causes = set(), []
    for _, f, ref in fired:
        key = (f.get("namespace"), f.get("name"))
        if key not in seen:
            seen.add(key)
            causes.append({"message": "Image change", "imageChangeBuild": {"imageID": ref, "fromRef": copy.deepcopy(f)}})
    spec["triggeredBy"] = causes
    policy = (bc.get("spec") or {}).get("runPolicy") or "Serial"
    return api._create(BY_KEY["builds.build.openshift.io"], ns, {
        "metadata": {"name": "%s-%d" % (name, n),
                     "labels": {"buildconfig": name, "openshift.io/build-config.name": name,
                                "openshift.io/build.start-policy": policy},
                     "annotations": {"openshift.io/build-config.name": name, "openshift.io/build.number": str(n)},
                     "ownerReferences": [{"apiVersion": "build.openshift.io/v1", "kind": "BuildConfig", "name": name,
                                          "uid": bc["metadata"]["uid"], "controller": True}]},
        "spec": spec,
        "status": {"phase": "New", "config": {"kind": "BuildConfig", "namespace": ns, "name": name}}}, user)


def build_triggers(api, ns, name, user=IMAGE_TRIGGER_CONTROLLER):
    """Fire the image triggers of BuildConfig ns/name (call with api.lock held). Returns the new Build or None."""
    bc = api.store.get(BC_KEY, ns, name)
    if bc is None:
        return None
    fired = bc_fired_triggers(api.store, bc)
    if not fired:
        return None
    return instantiate_build(api, bc, fired, user, None)


def image_stream_changed(api, ns, stream_name):
    """The image trigger controller (origin release-3.11 pkg/image/controller/trigger/
    image_trigger_controller.go with the deploymentconfigs and buildconfigs reactors): after image stream
    ns/name changed, every DeploymentConfig and BuildConfig with an ImageChange trigger on one of its tags
    is brought up to date - a DC gets the new image and a new latestVersion (rolled out), a BC a new Build.
    Runs on the lab's controller thread (api.later), a moment after the write, like the informer-driven
    controller."""
    from .api import ApiError
    r = BY_KEY[DC_KEY]
    written = []
    with api.lock:
        for dc in api.store.items(DC_KEY):
            if not any(tns == ns and split_istag(istag)[0] == stream_name and p.get("automatic")
                       for p, tns, istag in dc_image_triggers(dc)):
                continue
            new = copy.deepcopy(dc)
            if not resolve_dc_image_triggers(api.store, new):
                continue
            dns, dname = dc["metadata"]["namespace"], dc["metadata"]["name"]
            try:
                obj, changed = api._update(r, dns, dname, dc, new, IMAGE_TRIGGER_CONTROLLER, None)
            except ApiError as e:
                api.log("image trigger controller: deploymentconfig %s/%s: %s" % (dns, dname, e.message))
                continue
            if changed:
                written.append((dns, dname, dc, obj))
        if BC_KEY in api.store.keys():
            for bc in api.store.items(BC_KEY):
                if any((f.get("namespace") or bc["metadata"]["namespace"]) == ns and
                       split_istag(f.get("name"))[0] == stream_name for _, f, _ in bc_fired_triggers(api.store, bc)):
                    build_triggers(api, bc["metadata"]["namespace"], bc["metadata"]["name"])
        api.store.save()
    for dns, dname, old, obj in written:
        api._after_write(r, dns, dname, old, obj)     # the DC controller rolls the new latestVersion out


# ------------------------------------------------------------------------------------------ service accounts
DEFAULT_SERVICE_ACCOUNTS = ("builder", "default", "deployer")
PENDING_TOKEN = "openshift.io/create-dockercfg-secrets.pending-token"
SA_NAME = "kubernetes.io/service-account.name"
SA_UID = "kubernetes.io/service-account.uid"


def _b64(b):
    return base64.b64encode(b if isinstance(b, bytes) else b.encode("utf-8")).decode("ascii")


class ServiceAccounts(object):
    """OKD 3.11's service-account controllers, asynchronous as on a real master:

    - kubernetes 1.11 `pkg/controller/serviceaccount/serviceaccounts_controller.go` (+ origin's list of
      default accounts): a new namespace gets `builder`, `default` and `deployer` a moment later;
    - origin `pkg/serviceaccounts/controllers/create_dockercfg_secrets.go` (DockercfgController): a service
      account without a dockercfg secret first gets the annotation
      `openshift.io/create-dockercfg-secrets.pending-token` and a token secret for it (update 1), and later
      the `<sa>-dockercfg-xxxxx` secret in `secrets` and `imagePullSecrets`, the annotation removed (update 3);
    - kubernetes 1.11 `pkg/controller/serviceaccount/tokens_controller.go` (ensureReferencedToken): an account
      whose `secrets` reference no token secret gets `<sa>-token-xxxxx` added (update 2).

    Each step re-reads the account under the store lock (the real controllers update with the version they
    read and retry on a conflict, with the same outcome), so a client's concurrent change is never lost; but a
    client that updates with a version it read before a step gets 409 Conflict. The steps run `delay` seconds
    apart (`OKD_LAB_API_SA_DELAY`, default 0.3) - also for accounts created with `secrets` already set."""

    def __init__(self, api, later, delay=None):
        self.api = api
        self.later = later
        self.delay = float(os.environ.get("OKD_LAB_API_SA_DELAY", "0.3") if delay is None else delay)
        self.sync = False       # bootstrap: the cluster's own namespaces are complete at once

    # -- triggers (called with api.lock held)
    def namespace_created(self, ns):
        if self.sync:
            self._default_accounts(ns, locked=True)
        else:
            self.later.call(self.delay, self._default_accounts, ns)

    def account_created(self, ns, name):
        if self.sync:
            for step in (self._step_pending, self._step_token, self._step_dockercfg):
                step(ns, name, locked=True)
            return
        self.later.call(self.delay, self._step_pending, ns, name)
        self.later.call(2 * self.delay, self._step_token, ns, name)
        self.later.call(3 * self.delay, self._step_dockercfg, ns, name)

    def resume(self):
        """After a restart: finish what was pending (called with api.lock held)."""
        store = self.api.store
        for nso in store.items("namespaces"):
            if (nso.get("status") or {}).get("phase") == "Terminating":
                continue
            ns = nso["metadata"]["name"]
            if any(not store.exists("serviceaccounts", ns, n) for n in DEFAULT_SERVICE_ACCOUNTS):
                self.later.call(self.delay, self._default_accounts, ns)
            for sa in store.items("serviceaccounts", ns):
                if self._dockercfg_of(sa) is None or self._token_of(sa) is None:
                    self.account_created(ns, sa["metadata"]["name"])

    # -- steps
    def _locked(self, locked, fn, *args):
        if locked:
            return fn(*args)
        with self.api.lock:
            out = fn(*args)
            self.api.store.save()
            return out

    def _default_accounts(self, ns, locked=False):
        def run():
            from .api import ApiError
            for name in DEFAULT_SERVICE_ACCOUNTS:
                if self.api.store.exists("namespaces", None, ns) and \
                        not self.api.store.exists("serviceaccounts", ns, name):
                    try:
                        self.api._create(BY_KEY["serviceaccounts"], ns, {"metadata": {"name": name}},
                                         "system:serviceaccount:kube-system:serviceaccount-controller")
                    except ApiError:
                        pass    # e.g. the namespace is being terminated
        self._locked(locked, run)

    def _current(self, ns, name):
        nso = self.api.store.get("namespaces", None, ns)
        if nso is None or (nso.get("status") or {}).get("phase") == "Terminating":
            return None
        return self.api.store.get("serviceaccounts", ns, name)

    def _secret_refs(self, sa):
        store = self.api.store
        ns = sa["metadata"]["namespace"]
        for ref in (sa.get("secrets") or []) + (sa.get("imagePullSecrets") or []):
            s = store.get("secrets", ns, (ref or {}).get("name") or "")
            if s is not None and (s["metadata"].get("annotations") or {}).get(SA_NAME) == sa["metadata"]["name"]:
                yield s

    def _dockercfg_of(self, sa):
        return next((s for s in self._secret_refs(sa) if s.get("type") == "kubernetes.io/dockercfg"), None)

    def _token_of(self, sa):
        refs = set(r.get("name") for r in sa.get("secrets") or [] if isinstance(r, dict))
        return next((s for s in self._secret_refs(sa) if s.get("type") == "kubernetes.io/service-account-token"
                     and s["metadata"]["name"] in refs), None)

    def _bump(self, sa):
        sa["metadata"]["resourceVersion"] = self.api.store.next_rv()
        self.api.store.put("serviceaccounts", sa)

    def _new_token_secret(self, sa):
        ns, name = sa["metadata"]["namespace"], sa["metadata"]["name"]
        ca = b""
        if self.api.ca_file:
            try:
                with open(self.api.ca_file, "rb") as f:
                    ca = f.read()
            except OSError:
                pass
        token = base64.urlsafe_b64encode(_random.token_bytes(48)).decode("ascii").rstrip("=")
        sec = self.api._create(BY_KEY["secrets"], ns, {
            "metadata": {"name": "%s-token-%s" % (name, _suffix()),
                         "annotations": {SA_NAME: name, SA_UID: sa["metadata"]["uid"]}},
            "type": "kubernetes.io/service-account-token",
            "data": {"ca.crt": _b64(ca), "namespace": _b64(ns), "token": _b64(token)}},
            "system:serviceaccount:kube-system:tokens-controller")
        return sec, token

    def _step_pending(self, ns, name, locked=False):
        def run():
            sa = self._current(ns, name)
            if sa is None or self._dockercfg_of(sa) is not None:
                return
            ann = sa["metadata"].setdefault("annotations", {})
            if ann.get(PENDING_TOKEN):
                return
            sec, _ = self._new_token_secret(sa)
            ann[PENDING_TOKEN] = sec["metadata"]["name"]
            self._bump(sa)
        self._locked(locked, run)

    def _step_token(self, ns, name, locked=False):
        def run():
            sa = self._current(ns, name)
            if sa is None or self._token_of(sa) is not None:
                return
            sec, _ = self._new_token_secret(sa)
            sa["secrets"] = (sa.get("secrets") or []) + [{"name": sec["metadata"]["name"]}]
            self._bump(sa)
        self._locked(locked, run)

    def _step_dockercfg(self, ns, name, locked=False):
        def run():
            store = self.api.store
            sa = self._current(ns, name)
            if sa is None or self._dockercfg_of(sa) is not None:
                return
            ann = sa["metadata"].get("annotations") or {}
            tok = store.get("secrets", ns, ann.get(PENDING_TOKEN) or "")
            if tok is None:
                tok, _ = self._new_token_secret(sa)
            token = base64.b64decode(tok["data"]["token"]).decode("ascii")
            auth = {"username": "serviceaccount", "password": token, "email": "serviceaccount@example.org",
                    "auth": _b64("serviceaccount:" + token)}
            dcfg = {self.api.internal_registry: auth, "172.30.1.1:5000": auth}
            cfg = self.api._create(BY_KEY["secrets"], ns, {
                "metadata": {"name": "%s-dockercfg-%s" % (name, _suffix()), "annotations": {
                    SA_NAME: name, SA_UID: sa["metadata"]["uid"],
                    "openshift.io/token-secret.name": tok["metadata"]["name"],
                    "openshift.io/token-secret.value": token}},
                "type": "kubernetes.io/dockercfg", "data": {".dockercfg": _b64(json.dumps(dcfg))}},
                "system:serviceaccount:openshift-infra:serviceaccount-pull-secrets-controller")
            sa = store.get("serviceaccounts", ns, name)
            cname = cfg["metadata"]["name"]
            sa["secrets"] = (sa.get("secrets") or []) + [{"name": cname}]
            sa["imagePullSecrets"] = (sa.get("imagePullSecrets") or []) + [{"name": cname}]
            ann = sa["metadata"].get("annotations") or {}
            ann.pop(PENDING_TOKEN, None)
            if ann:
                sa["metadata"]["annotations"] = ann
            else:
                sa["metadata"].pop("annotations", None)
            self._bump(sa)
        self._locked(locked, run)


# ------------------------------------------------------------------------------------------ namespaces
class Namespaces(object):
    """Namespace deletion as in kubernetes 1.11: `pkg/registry/core/namespace/storage/storage.go` Delete sets
    deletionTimestamp and phase Terminating (a second delete gets 409 Conflict); the NamespaceLifecycle
    admission plugin (`plugin/pkg/admission/namespace/lifecycle/admission.go`) refuses new objects in a
    terminating namespace with 403 Forbidden; the namespace controller (`pkg/controller/namespace`) deletes
    the content, then the namespace. Here that happens `OKD_LAB_API_NS_TERMINATE` seconds (default 1.0) after
    the delete."""

    def __init__(self, api, later, delay=None):
        self.api = api
        self.later = later
        self.delay = float(os.environ.get("OKD_LAB_API_NS_TERMINATE", "1.0") if delay is None else delay)

    @staticmethod
    def terminating(ns_obj):
        return (ns_obj or {}).get("status", {}).get("phase") == "Terminating"

    def check_create(self, r, ns, name):
        """NamespaceLifecycle admission for a create in ns (call with api.lock held)."""
        from .api import ApiError
        nso = self.api.store.get("namespaces", None, ns)
        if self.terminating(nso):
            d = {"name": name or "", "kind": r.plural}
            if r.group:
                d["group"] = r.group
            raise ApiError(403, "Forbidden", '%s%s "%s" is forbidden: unable to create new content in namespace %s '
                           "because it is being terminated" % (r.plural, "." + r.group if r.group else "", name or "",
                                                               ns), d)

    def delete(self, name, t_now):
        """Mark the namespace Terminating and schedule its removal (call with api.lock held). Returns it."""
        from .api import ApiError
        store = self.api.store
        nso = store.get("namespaces", None, name)
        if self.terminating(nso):
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on namespaces "%s": The system is '
                           "ensuring all content is removed from this namespace.  Upon completion, this namespace "
                           "will automatically be purged by the system." % name, {"name": name, "kind": "namespaces"})
        nso["metadata"]["deletionTimestamp"] = t_now
        nso["metadata"]["deletionGracePeriodSeconds"] = 0
        nso["status"] = {"phase": "Terminating"}
        nso["metadata"]["resourceVersion"] = store.next_rv()
        store.put("namespaces", nso)
        self.later.call(self.delay, self._finalize, name, nso["metadata"]["uid"])
        return copy.deepcopy(nso)

    def resume(self):
        for nso in self.api.store.items("namespaces"):
            if self.terminating(nso):
                self.later.call(self.delay, self._finalize, nso["metadata"]["name"], nso["metadata"]["uid"])

    def _finalize(self, name, uid):
        with self.api.lock:
            nso = self.api.store.get("namespaces", None, name)
            if nso is None or nso["metadata"]["uid"] != uid:
                return
            self.api._delete(BY_KEY["namespaces"], None, name)
            self.api.store.save()


class NodeSync(object):
    """Keeps the Node objects in step with the lab's hosts (sync_nodes) every `interval` seconds, so that
    `oc get nodes` and `oc label node` work before the first rollout (the kubelets register themselves)."""

    def __init__(self, api, later, interval=5.0):
        self.api = api
        self.later = later
        self.interval = interval

    def start(self):
        self.later.call(0.2, self._tick)

    def _tick(self):
        try:
            with self.api.lock:
                before = self.api.store.rv
                sync_nodes(self.api)
                if self.api.store.rv != before:
                    self.api.store.save()
        finally:
            self.later.call(self.interval, self._tick)
