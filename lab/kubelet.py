"""The lab kubelet: runs the pods the API stand-in schedules onto lab hosts (docs/lab-design.md, "the lab
kubelet").

`up(lab)` starts `python -m lab.kubelet run` as a supervised daemon (pid `.lab/pids/kubelet.pid`, log
`.lab/logs/kubelet.log`), restarted by `lab up` only when its code changed; pods keep running across a
restart of the kubelet (they are adopted by their pid files). `down(lab)` stops it and its pods.

A separate process rather than a thread of the API's controllers: on OKD the kubelet is a client of the
API (it reads pods, secrets and service accounts and writes pod status through the API, with credentials),
and a process that starts and stops registry processes in host namespaces should not be able to take the
API down with it. It works like kubernetes 1.11's kubelet, for the parts that matter here:

- pods bound to a lab host (`spec.nodeName`, set by the API's scheduler in lab/api/controllers.py) whose
  container image the lab can run - the OpenShift registry image (`*/openshift3/ose-docker-registry:*`,
  `*/openshift/origin-docker-registry:*`), run as lab/okdregistry.py - are started inside that host's
  network namespace and hostname (`nsenter -t <sshd pid> -n -u`), so they listen on the host's lab
  address. They keep the machine's file system (the host's /root hides the venv's interpreter); their
  files live in the host's directory. Other images are left as the API records them (no container
  runtime in the lab).
- the pod's file system: `.lab/hosts/<host>/pods/<uid>/root` (0700, on the lab's tmpfs), standing for the
  container's `/`. Every volume mount is a symlink at its mountPath in that root: secret (and configMap)
  volumes are files (0400) in a private directory (0700) of the pod, one per key (items and defaultMode
  are not modelled); emptyDir a directory of the pod; hostPath the host's own directory (made inside the
  host; the link points at its place on the machine, lab.hosts.machine_path); a persistentVolumeClaim a
  directory per claim `.lab/kubelet/claims/<ns>/<claim>` shared by all hosts (ReadWriteMany). The service
  account token is mounted at /var/run/secrets/kubernetes.io/serviceaccount (token, ca.crt, namespace),
  with KUBERNETES_SERVICE_HOST/PORT naming the API stand-in.
- the environment: `value`, `valueFrom.secretKeyRef` / `configMapKeyRef` (a missing secret or key keeps
  the container waiting with CreateContainerConfigError, as kubelet's makeEnvironmentVariables does) and
  `fieldRef` (metadata.name, metadata.namespace, spec.nodeName, spec.serviceAccountName, status.podIP,
  status.hostIP); a missing secret volume keeps the pod in ContainerCreating with kubelet's
  `MountVolume.SetUp failed` message.
- probes (pkg/kubelet/prober): httpGet with scheme/host/port(number or name)/path, as kubelet does
  (HTTPS without certificate verification, success 200-399, timeoutSeconds, initialDelaySeconds,
  failureThreshold, successThreshold). The lab probes every second instead of periodSeconds. Readiness
  sets the Ready condition; liveness failures restart the container (restartCount).
- restartPolicy Always: an exited container is restarted after a back-off (1, 2, 4 ... 10 s; kubelet's is
  10 s ... 5 min), its last termination (exit code, the last lines of its output as the message, like
  terminationMessagePolicy FallbackToLogsOnError) kept in lastState, `waiting: CrashLoopBackOff` between.
- pod status is written through the API (`PUT .../pods/NAME/status`), and only pod status: the API's
  replication manager, deployer and DC controller follow the pods (lab/api/controllers.py
  pod_status_written: the RC's and the DC's replica counts, `Available`, `Progressing`). The API creates
  the pods this kubelet runs `Pending`; they are Running/Ready only when reported so here.
- Services and Routes: `<svc>.<ns>.svc` and `<svc>.<ns>.svc.cluster.local` of a Service whose selector
  matches a ready kubelet pod resolve to that pod's host (lines in `.lab/kubelet/etc-hosts`, merged into the
  machine's and every host's /etc/hosts by lab/hosts.py); there is no kube-proxy, so the service port is
  the container's port. A Route's host resolves to the gateway, where the kubelet's "router" listens on
  443 and passes TLS through by SNI to the route's service (passthrough termination; edge/reencrypt are
  not modelled).
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

from lab import apiclient, proc, state
from lab.api.controllers import KUBELET_IMAGE as RUNNABLE_IMAGE, last_message  # noqa: F401 (one rule for both)
from lab.state import REPO

PROC_NAME = "kubelet"
# the registry adapter's code a pod process runs (recorded in its pid file; see Pod.adopt)
CODE = hashlib.sha256((Path(__file__).parent / "okdregistry.py").read_bytes() +
                      (Path(__file__).parent / "apiclient.py").read_bytes()).hexdigest()[:16]
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
ROUTER_PORT = 443
PERIOD = 1.0
MAX_BACKOFF = 10.0


def kdir(paths):
    return paths.root / "kubelet"


def etc_hosts_file(paths):
    """Name lines the kubelet publishes ("ADDRESS NAME ..."), read by lab/hosts.py."""
    return kdir(paths) / "etc-hosts"


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def note(msg):
    sys.stderr.write("%s %s\n" % (now(), msg))
    sys.stderr.flush()


# ------------------------------------------------------------------------------------------ API client
class Api(object):
    def __init__(self, host, port, token, ca):
        self.host, self.port, self.token = host, port, token
        self.ctx = ssl.create_default_context(cafile=ca)

    def call(self, method, path, body=None):
        return apiclient.request(self.host, self.port, self.ctx, method, path, self.token, body)

    def get(self, path):
        code, doc = self.call("GET", path)
        return doc if code == 200 else None

    def items(self, path):
        doc = self.get(path)
        return (doc or {}).get("items") or []


# ------------------------------------------------------------------------------------------ one pod
class Pod(object):
    """A running (or crash-looping) pod on a lab host."""

    def __init__(self, kubelet, pod):
        self.k = kubelet
        self.uid = pod["metadata"]["uid"]
        self.ns = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.pod = pod
        self.host = pod["spec"]["nodeName"].split(".")[0]
        self.dir = kubelet.lab.paths.host_dir(self.host) / "pods" / self.uid
        self.inside = str(self.dir)
        self.address = (pod.get("status") or {}).get("hostIP") or self.k.host_address(self.host)
        self.container = pod["spec"]["containers"][0]
        self.pid = None
        self.started = None
        self.restarts = 0
        self.backoff_until = 0.0
        self.backoff = 1.0
        self.waiting = ("ContainerCreating", None)
        self.last_term = None
        self.ready = False
        self.live_failures = 0
        self.ready_ok = 0
        self.ready_fail = 0

    # -- files
    def _pidfile(self):
        return self.dir / "pid"

    def adopt(self):
        """A pod process left by an earlier kubelet: keep it (True) when alive."""
        try:
            info = json.loads(self._pidfile().read_text())
        except (OSError, ValueError):
            return False
        if proc.alive(info.get("pid") or 0) and info.get("uid") == self.uid:
            if info.get("code") != CODE:
                # started from older lab/okdregistry.py code: restarted with the current code (so that a
                # changed adapter reaches the running registry with `lab up`, not only with a new rollout)
                note("pod %s/%s runs older registry code: restarting it" % (self.ns, self.name))
                proc.kill_pids([info["pid"]], timeout=5, group=True)
                self.restarts = info.get("restarts", 0) + 1
                return False
            self.pid = info["pid"]
            self.started = info.get("started")
            self.restarts = info.get("restarts", 0)
            self.waiting = None
            return True
        return False

    def _volume_dirs(self, secrets_cache):
        """{volume name: path inside the host} after writing the volumes; raises RuntimeError(reason, msg)."""
        out = {}
        vols = self.dir / "volumes"
        for v in self.pod["spec"].get("volumes") or []:
            name = v.get("name")
            if v.get("secret") is not None:
                sname = v["secret"].get("secretName")
                sec = self.k.api.get("/api/v1/namespaces/%s/secrets/%s" % (self.ns, sname))
                if sec is None:
                    raise PodError("ContainerCreating", 'MountVolume.SetUp failed for volume "%s" : secrets "%s" '
                                   "not found" % (name, sname))
                d = vols / name
                write_secret_dir(d, dict((k, base64.b64decode(x)) for k, x in (sec.get("data") or {}).items()))
                out[name] = "%s/volumes/%s" % (self.inside, name)
            elif v.get("emptyDir") is not None:
                d = vols / name
                d.mkdir(parents=True, exist_ok=True)
                out[name] = "%s/volumes/%s" % (self.inside, name)
            elif v.get("hostPath") is not None:
                # the host's own directory (made inside the host), found on the machine side
                path = v["hostPath"].get("path")
                self.k.in_host(self.host, ["mkdir", "-p", path])
                from lab import hosts
                out[name] = hosts.machine_path(self.k.lab.paths.host_dir(self.host), path)
            elif v.get("persistentVolumeClaim") is not None:
                claim = v["persistentVolumeClaim"].get("claimName")
                d = kdir(self.k.lab.paths) / "claims" / self.ns / claim
                d.mkdir(parents=True, exist_ok=True)
                out[name] = str(d)
            elif v.get("configMap") is not None:
                cm = self.k.api.get("/api/v1/namespaces/%s/configmaps/%s" % (self.ns, v["configMap"].get("name")))
                if cm is None:
                    raise PodError("ContainerCreating", 'MountVolume.SetUp failed for volume "%s" : configmaps "%s" '
                                   "not found" % (name, v["configMap"].get("name")))
                d = vols / name
                write_secret_dir(d, dict((k, x.encode()) for k, x in (cm.get("data") or {}).items()))
                out[name] = "%s/volumes/%s" % (self.inside, name)
        sa = self.pod["spec"].get("serviceAccountName") or self.pod["spec"].get("serviceAccount") or "default"
        if self.pod["spec"].get("automountServiceAccountToken") is not False:
            tok = next((s for s in self.k.api.items("/api/v1/namespaces/%s/secrets" % self.ns)
                        if s.get("type") == "kubernetes.io/service-account-token"
                        and (s["metadata"].get("annotations") or {}).get("kubernetes.io/service-account.name") == sa),
                       None)
            if tok is None:
                raise PodError("ContainerCreating", 'MountVolume.SetUp failed: no token secret of service account '
                               '"%s" yet' % sa)
            write_secret_dir(vols / "kube-api-access", dict((k, base64.b64decode(x))
                                                           for k, x in (tok.get("data") or {}).items()))
            out["__sa"] = "%s/volumes/kube-api-access" % self.inside
        return out

    def prepare(self):
        """Volumes, mount symlinks and environment -> env dict. Raises PodError."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(str(self.dir), 0o700)
        vols = self._volume_dirs({})
        root = self.dir / "root"
        if root.exists():
            shutil.rmtree(str(root))
        root.mkdir(mode=0o700)
        mounts = [(m.get("mountPath"), vols.get(m.get("name"))) for m in self.container.get("volumeMounts") or []]
        if "__sa" in vols:
            mounts.append((SA_DIR, vols["__sa"]))
        for mp, target in mounts:
            if not mp or not target:
                continue
            link = root / mp.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                continue
            os.symlink(target, str(link))
        return self._env()

    def _env(self):
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
               "HOSTNAME": self.name,
               "KUBERNETES_SERVICE_HOST": self.k.lab.names["api"],
               "KUBERNETES_SERVICE_PORT": str(self.k.lab.ports["api"])}
        fields = {"metadata.name": self.name, "metadata.namespace": self.ns,
                  "spec.nodeName": self.pod["spec"].get("nodeName"),
                  "spec.serviceAccountName": self.pod["spec"].get("serviceAccountName"),
                  "status.podIP": self.address, "status.hostIP": self.address}
        cache = {}
        for e in self.container.get("env") or []:
            name = e.get("name")
            if "value" in e:
                env[name] = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                                   lambda m: env.get(m.group(1), m.group(0)), str(e.get("value") or ""))
                continue
            vf = e.get("valueFrom") or {}
            for kind, plural in (("secretKeyRef", "secrets"), ("configMapKeyRef", "configmaps")):
                ref = vf.get(kind)
                if ref is None:
                    continue
                key = (plural, ref.get("name"))
                if key not in cache:
                    cache[key] = self.k.api.get("/api/v1/namespaces/%s/%s/%s" % (self.ns, plural, ref.get("name")))
                obj = cache[key]
                what = "secret" if plural == "secrets" else "configmap"
                if obj is None:
                    if ref.get("optional"):
                        break
                    raise PodError("CreateContainerConfigError", '%s "%s" not found' % (what, ref.get("name")))
                data = obj.get("data") or {}
                if ref.get("key") not in data:
                    if ref.get("optional"):
                        break
                    raise PodError("CreateContainerConfigError", "couldn't find key %s in %s %s/%s"
                                   % (ref.get("key"), "Secret" if what == "secret" else "ConfigMap", self.ns,
                                      ref.get("name")))
                val = data[ref["key"]]
                env[name] = base64.b64decode(val).decode("utf-8", "replace") if what == "secret" else val
            if vf.get("fieldRef"):
                env[name] = fields.get(vf["fieldRef"].get("fieldPath")) or ""
        return env

    # -- process
    def start(self):
        try:
            env = self.prepare()
        except PodError as e:
            self.waiting = (e.reason, e.message)
            return
        except (OSError, RuntimeError) as e:
            self.waiting = ("ContainerCreating", str(e))
            return
        env["PYTHONPATH"] = str(REPO)
        argv = self.k.in_host_argv(self.host, [self.k.lab.python, "-m", "lab.okdregistry",
                                               "--root", self.inside + "/root"])
        if argv is None:
            self.waiting = ("ContainerCreating", "host %s is not running" % self.host)
            return
        logf = self.dir / "container.log"
        with open(str(logf), "ab") as log:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                 cwd=str(REPO), start_new_session=True, close_fds=True)
        self.k.children[p.pid] = p
        self.pid = p.pid
        self.started = now()
        self.waiting = None
        self.ready = False
        self.live_failures = self.ready_ok = self.ready_fail = 0
        self.log_offset = logf.stat().st_size if logf.exists() else 0
        state.write_private(self._pidfile(), json.dumps({"pid": p.pid, "uid": self.uid, "started": self.started,
                                                         "restarts": self.restarts, "code": CODE}))
        note("started pod %s/%s on %s: pid %d" % (self.ns, self.name, self.host, p.pid))

    def stop(self):
        if self.pid:
            proc.kill_pids([self.pid], timeout=5, group=True)
            p = self.k.children.pop(self.pid, None)
            if p is not None:
                p.poll()
        self.pid = None

    def exit_code(self):
        p = self.k.children.get(self.pid)
        if p is not None:
            rc = p.poll()
            return rc if rc is not None else None
        return None if proc.alive(self.pid) else 1

    def tail(self, n=5):
        try:
            with open(str(self.dir / "container.log"), "rb") as f:
                f.seek(getattr(self, "log_offset", 0))
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def probe(self, spec):
        hg = (spec or {}).get("httpGet")
        if not hg:
            return True
        port = hg.get("port")
        if not isinstance(port, int):
            port = next((p.get("containerPort") for p in self.container.get("ports") or []
                         if p.get("name") == port), None)
            if port is None:
                return False
        host = hg.get("host") or self.address
        timeout = float(spec.get("timeoutSeconds") or 1)
        try:
            if (hg.get("scheme") or "HTTP").upper() == "HTTPS":
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=timeout)
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            try:
                conn.request("GET", hg.get("path") or "/", headers={"User-Agent": "kube-probe/1.11"})
                code = conn.getresponse().status
            finally:
                conn.close()
        except (OSError, http.client.HTTPException, ssl.SSLError):
            return False
        return 200 <= code < 400

    def tick(self, t):
        """One kubelet sync of this pod."""
        if self.pid is None:
            if t >= self.backoff_until:
                self.start()
            elif self.last_term:
                self.waiting = ("CrashLoopBackOff", "Back-off restarting failed container")
            return
        rc = self.exit_code()
        if rc is not None:
            msg = self.tail()
            self.last_term = {"exitCode": rc, "reason": "Error" if rc else "Completed", "message": msg,
                              "startedAt": self.started, "finishedAt": now()}
            note("pod %s/%s container exited %d: %s" % (self.ns, self.name, rc, msg.replace("\n", " | ")))
            self.k.children.pop(self.pid, None)
            self.pid = None
            self.ready = False
            self.restarts += 1
            self.backoff_until = t + self.backoff
            self.backoff = min(MAX_BACKOFF, self.backoff * 2)
            self.waiting = ("CrashLoopBackOff", "Back-off restarting failed container")
            return
        started = time.monotonic() - getattr(self, "_mono", t)
        live = self.container.get("livenessProbe")
        if live and started >= float(live.get("initialDelaySeconds") or 0):
            if self.probe(live):
                self.live_failures = 0
            else:
                self.live_failures += 1
                if self.live_failures >= int(live.get("failureThreshold") or 3):
                    note("pod %s/%s liveness probe failed %d times: restarting" % (self.ns, self.name,
                                                                                 self.live_failures))
                    self.stop()
                    self.last_term = {"exitCode": 137, "reason": "Error", "message": "Liveness probe failed",
                                      "startedAt": self.started, "finishedAt": now()}
                    self.restarts += 1
                    self.ready = False
                    return
        rp = self.container.get("readinessProbe")
        if rp is None:
            self.ready = True
        elif started >= float(rp.get("initialDelaySeconds") or 0):
            if self.probe(rp):
                self.ready_ok += 1
                self.ready_fail = 0
                if self.ready_ok >= int(rp.get("successThreshold") or 1):
                    self.ready = True
            else:
                self.ready_fail += 1
                self.ready_ok = 0
                if self.ready_fail >= int(rp.get("failureThreshold") or 3) or not self.ready:
                    self.ready = False
        if self.ready and self.backoff > 1.0:
            self.backoff = 1.0

    def status(self):
        """The pod status a kubelet reports."""
        cs = {"name": self.container.get("name"), "image": self.container.get("image"),
              "imageID": "", "ready": bool(self.pid and self.ready), "restartCount": self.restarts}
        if self.pid:
            cs["state"] = {"running": {"startedAt": self.started}}
            cs["containerID"] = "lab://%d" % self.pid
        else:
            reason, msg = self.waiting or ("ContainerCreating", None)
            w = {"reason": reason}
            if msg:
                w["message"] = msg
            cs["state"] = {"waiting": w}
        if self.last_term:
            cs["lastState"] = {"terminated": self.last_term}
        ready = "True" if cs["ready"] else "False"
        st = {"phase": "Running" if self.pid else "Pending", "hostIP": self.address, "podIP": self.address,
              "startTime": (self.pod.get("status") or {}).get("startTime") or self.started,
              "conditions": [{"type": "Initialized", "status": "True"},
                             {"type": "Ready", "status": ready},
                             {"type": "ContainersReady", "status": ready},
                             {"type": "PodScheduled", "status": "True"}],
              "containerStatuses": [cs]}
        return st


class PodError(Exception):
    def __init__(self, reason, message):
        Exception.__init__(self, message)
        self.reason, self.message = reason, message


def write_secret_dir(d, files):
    """A private directory (0700) holding exactly these files (0400), rewritten only when changed."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(str(d), 0o700)
    for f in d.iterdir():
        if f.name not in files:
            f.unlink()
    for name, data in files.items():
        p = d / name
        try:
            if p.read_bytes() == data:
                continue
        except OSError:
            pass
        tmp = d / (".tmp-" + name)
        fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(str(tmp), str(p))


# ------------------------------------------------------------------------------------------ the kubelet
class Kubelet(object):
    def __init__(self, lab):
        self.lab = lab
        toks = json.loads((lab.paths.api / "tokens.json").read_text())
        # its own identity (lab/api/__init__.py tokens): its requests go to requests-kubelet.log
        self.api = Api(lab.gateway, lab.ports["api"], toks.get("kubelet") or toks["admin"], str(lab.paths.ca_cert))
        self.api.host = lab.gateway
        self.api.ctx.check_hostname = False     # the API's certificate names api.lab.test and the gateway
        self.pods = {}
        self.children = {}
        self.reported = {}
        self.routes = {}
        self.names = None

    def host_address(self, host):
        for h in self.lab.load_status().get("hosts") or []:
            if h["name"] == host:
                return h["address"]
        return None

    def in_host_argv(self, host, argv, mounts=False):
        """argv run in the host's network namespace and hostname (with mounts: also its file system; pods
        keep the machine's, where the lab's Python lives - the host's /root hides the venv's interpreter)."""
        from lab import hosts
        pid = hosts.sshd_pid(self.lab, host)
        if pid is None or not proc.alive(pid):
            return None
        return ["nsenter", "-t", str(pid), "-n", "-u"] + (["-m"] if mounts else []) + ["--"] + list(argv)

    def in_host(self, host, argv):
        full = self.in_host_argv(host, argv, mounts=True)
        if full:
            subprocess.run(full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def sync(self):
        t = time.monotonic()
        self._syncs = getattr(self, "_syncs", 0) + 1
        if self._syncs % 30 == 0:
            self.reported.clear()      # report again now and then (an API restarted from an older state)
        listed = self.api.call("GET", "/api/v1/pods")
        if listed[0] != 200:
            return
        want = {}
        for pod in listed[1].get("items") or []:
            spec = pod.get("spec") or {}
            cs = spec.get("containers") or []
            if not spec.get("nodeName") or not cs or not RUNNABLE_IMAGE.search(cs[0].get("image") or ""):
                continue
            if pod["metadata"].get("deletionTimestamp"):
                continue
            want[pod["metadata"]["uid"]] = pod
        for uid in list(self.pods):
            if uid not in want:
                p = self.pods.pop(uid)
                note("pod %s/%s is gone: stopping it" % (p.ns, p.name))
                p.stop()
                shutil.rmtree(str(p.dir), ignore_errors=True)
                self.reported.pop(uid, None)
        for uid, pod in want.items():
            p = self.pods.get(uid)
            if p is None:
                p = self.pods[uid] = Pod(self, pod)
                p._mono = t
                if p.adopt():
                    note("adopted pod %s/%s (pid %d)" % (p.ns, p.name, p.pid))
            p.pod = pod
            if p.pid is None:
                p._mono = time.monotonic()
            p.tick(t)
            st = p.status()
            key = json.dumps(st, sort_keys=True)
            if self.reported.get(uid) != key:
                code, _ = self.api.call("PUT", "/api/v1/namespaces/%s/pods/%s/status" % (p.ns, p.name),
                                        {"kind": "Pod", "apiVersion": "v1",
                                         "metadata": {"name": p.name, "namespace": p.ns}, "status": st})
                if code == 200:
                    self.reported[uid] = key      # the API's controllers follow (pod_status_written)
        # names follow the ready pods at once; services and routes themselves are re-read every 5 s
        ready = sorted((p.uid, p.address) for p in self.pods.values() if p.pid and p.ready)
        self._ticks = getattr(self, "_ticks", 0) + 1
        if ready != getattr(self, "_ready_seen", None) or self._ticks % 5 == 0:
            self._ready_seen = ready
            self._sync_names()

    # ---------------------------------------------------------------- service and route names, router
    def _sync_names(self):
        ready = [p for p in self.pods.values() if p.pid and p.ready]
        lines = {}
        routes = {}
        if ready:
            for svc in self.api.items("/api/v1/services"):
                sel = (svc.get("spec") or {}).get("selector") or {}
                ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
                match = [p for p in ready if p.ns == ns and sel and all(
                    (p.pod["metadata"].get("labels") or {}).get(k) == v for k, v in sel.items())]
                if not match:
                    continue
                p = sorted(match, key=lambda x: x.name)[0]
                lines.setdefault(p.address, set()).update(["%s.%s.svc" % (name, ns),
                                                           "%s.%s.svc.cluster.local" % (name, ns)])
                port = next((pt.get("containerPort") for pt in p.container.get("ports") or []), None)
                for rt in self.api.items("/apis/route.openshift.io/v1/namespaces/%s/routes" % ns):
                    spec = rt.get("spec") or {}
                    if (spec.get("to") or {}).get("name") == name and spec.get("host") and \
                            ((spec.get("tls") or {}).get("termination") == "passthrough"):
                        routes[spec["host"]] = (p.address, port)
                        lines.setdefault(self.lab.gateway, set()).add(spec["host"])
        self.routes = routes
        text = "".join("%s %s\n" % (a, " ".join(sorted(n))) for a, n in sorted(lines.items()))
        if text != self.names:
            path = etc_hosts_file(self.lab.paths)
            cur = path.read_text() if path.exists() else None
            if cur != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                from lab import hosts
                hosts.refresh_etc_hosts(self.lab)
                note("names: %s" % text.replace("\n", "; "))
            self.names = text

    def router(self):
        """Passthrough routes: TLS on gateway:443 forwarded by SNI to the route's pod."""
        try:
            srv = socket.socket()
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind((self.lab.gateway, ROUTER_PORT))
            srv.listen(64)
        except OSError as e:
            note("router: cannot listen on %s:%d: %s" % (self.lab.gateway, ROUTER_PORT, e))
            return
        while True:
            c, _ = srv.accept()
            threading.Thread(target=self._route, args=(c,), daemon=True).start()

    def _route(self, c):
        try:
            c.settimeout(10)
            hello = c.recv(16384)
            sni = parse_sni(hello)
            backend = self.routes.get(sni)
            if backend is None:
                c.close()
                return
            b = socket.create_connection(backend, timeout=10)
            b.sendall(hello)
            c.settimeout(None)
            b.settimeout(None)
            pipe(c, b)
        except OSError:
            try:
                c.close()
            except OSError:
                pass

    def run(self):
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        threading.Thread(target=self.router, daemon=True).start()
        note("kubelet running")
        while True:
            try:
                self.sync()
            except Exception as e:   # one bad sync never stops the kubelet
                note("sync failed: %r" % e)
            time.sleep(PERIOD)


def pipe(a, b):
    socks = [a, b]
    try:
        while True:
            r, _, _ = select.select(socks, [], [], 300)
            if not r:
                return
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    finally:
        a.close()
        b.close()


def parse_sni(data):
    """The server name of a TLS ClientHello (RFC 6066), or None."""
    try:
        if data[0] != 0x16 or data[5] != 0x01:
            return None
        i = 9 + 2 + 32
        i += 1 + data[i]                                    # session id
        i += 2 + int.from_bytes(data[i:i + 2], "big")       # cipher suites
        i += 1 + data[i]                                    # compression
        end = i + 2 + int.from_bytes(data[i:i + 2], "big")
        i += 2
        while i + 4 <= end:
            etype = int.from_bytes(data[i:i + 2], "big")
            elen = int.from_bytes(data[i + 2:i + 4], "big")
            if etype == 0:
                j = i + 4 + 2
                if data[j] == 0:
                    n = int.from_bytes(data[j + 1:j + 3], "big")
                    return data[j + 3:j + 3 + n].decode("ascii").lower()
            i += 4 + elen
    except (IndexError, UnicodeDecodeError):
        return None
    return None


# ------------------------------------------------------------------------------------------ up / down
def _fingerprint(argv):
    h = hashlib.sha256(json.dumps(argv).encode())
    for f in (Path(__file__), Path(__file__).parent / "okdregistry.py", Path(__file__).parent / "apiclient.py",
              Path(__file__).parent / "api" / "controllers.py"):    # KUBELET_IMAGE, last_message
        h.update(f.read_bytes())
    return h.hexdigest()


def up(lab):
    """Start the kubelet (after the hosts and the API), or keep the running one started from this code."""
    if not (lab.paths.api / "tokens.json").exists():
        return None
    argv = [lab.python, "-m", "lab.kubelet", "run"]
    fp = _fingerprint(argv)
    d = kdir(lab.paths)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(str(d), 0o700)
    pid = proc.recorded(lab.paths, PROC_NAME).get(PROC_NAME)
    try:
        info = json.loads((d / "kubelet.json").read_text())
    except (OSError, ValueError):
        info = {}
    if pid and proc.alive(pid) and info.get("pid") == pid and info.get("fingerprint") == fp:
        return None
    proc.stop(lab.paths, PROC_NAME)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OKD_LAB_DIR"] = str(lab.paths.root)
    pid = proc.spawn(lab.paths, PROC_NAME, argv, env=env, cwd=str(REPO))
    state.write_private(d / "kubelet.json", json.dumps({"pid": pid, "fingerprint": fp}))
    return None


def down(lab):
    """Stop the kubelet and every pod it started; forget the published names."""
    proc.stop(lab.paths, PROC_NAME)
    pids = []
    for f in lab.paths.hosts.glob("*/pods/*/pid"):
        try:
            pids.append(json.loads(f.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            pass
    proc.kill_pids(pids, timeout=5, group=True)
    try:
        etc_hosts_file(lab.paths).unlink()
    except OSError:
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lab.kubelet")
    ap.add_argument("command", choices=["run"])
    ap.parse_args(argv)
    Kubelet(state.Lab()).run()


if __name__ == "__main__":
    main()
