"""The lab's OKD 3.11 Kubernetes API stand-in (docs/lab-api.md).

`up(lab)` starts `python -m lab.api serve` (HTTPS on lab.gateway:lab.ports["api"], certificate from the
lab CA), writes the admin and readonly kubeconfigs, and returns the "api"
fragment of `status --json`; `down(lab)` stops it. State persists in .lab/api/state.json.
"""
import base64
import hashlib
import json
import os
import secrets
import socket
import time
from pathlib import Path

from .. import pki, proc, state
from ..state import REPO

PROC_NAME = "api"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SCHEDULED_IMPORT_INTERVAL = 900



def tokens(paths):
    """{"admin": TOKEN, "readonly": TOKEN, "kubelet": TOKEN}, created once (0600) and kept across restarts.
    `kubelet` is the lab kubelet's own identity (a real kubelet is system:node:NAME): its requests are
    logged apart from the clients' (requests-kubelet.log), so "the toolkit sent no changing request" is
    judged on what the toolkit sent."""
    path = paths.api / "tokens.json"
    toks = {}
    try:
        toks = json.loads(path.read_text())
        if toks.get("admin") and toks.get("readonly") and toks.get("kubelet"):
            return toks
    except (OSError, ValueError):
        toks = {}
    for user in ("admin", "readonly", "kubelet"):
        if not toks.get(user):
            toks[user] = "sha256~" + secrets.token_urlsafe(32)
    state.write_private(path, json.dumps(toks))
    return toks


def kubeconfig_text(url, ca_pem, user, token, namespace="default"):
    cluster = url.split("://", 1)[-1].replace(".", "-")
    uname = "%s/%s" % (user, cluster)
    return "\n".join([
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: %s" % cluster,
        "  cluster:",
        "    server: %s" % url,
        "    certificate-authority-data: %s" % base64.b64encode(ca_pem).decode("ascii"),
        "users:",
        "- name: %s" % uname,
        "  user:",
        "    token: %s" % token,
        "contexts:",
        "- name: %s" % user,
        "  context:",
        "    cluster: %s" % cluster,
        "    namespace: %s" % namespace,
        "    user: %s" % uname,
        "current-context: %s" % user,
        "preferences: {}",
        ""])


def fragment(lab):
    paths = lab.paths
    toks = tokens(paths)
    url = "https://%s:%d" % (lab.names["api"], lab.ports["api"])
    return {"url": url,
            "kubeconfig": str(paths.api / "admin.kubeconfig"),
            "readonly_kubeconfig": str(paths.api / "readonly.kubeconfig"),
            "tokens": {"admin": toks["admin"], "readonly": toks["readonly"]},
            "request_log": str(paths.api / "requests.log"),
            "state_file": str(paths.api / "state.json")}


def _fingerprint(argv):
    """What the running server was started from: its command line and the stand-in's source."""
    h = hashlib.sha256(json.dumps(argv).encode())
    for f in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _running(lab, fingerprint):
    """True when the recorded server is alive, listening and was started from the same fingerprint."""
    pid = proc.recorded(lab.paths, PROC_NAME).get(PROC_NAME)
    try:
        info = json.loads((lab.paths.api / "server.json").read_text())
    except (OSError, ValueError):
        return False
    if pid is None or info.get("pid") != pid or info.get("fingerprint") != fingerprint or not proc.alive(pid):
        return False
    try:
        socket.create_connection((lab.gateway, lab.ports["api"]), timeout=1).close()
    except OSError:
        return False
    return True


def _wait_port_free(host, port, timeout=15.0):
    """Wait until nothing accepts on host:port. A stopped server's listening socket can outlive the
    process for a moment (seen under gVisor): without this wait, wait_port would see the old socket."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.05)
    raise RuntimeError("%s:%d still accepts connections after the API stand-in was stopped" % (host, port))


MASTER = "master1"     # the first master: the stand-in reads its master-config.yaml


def master_config_path(lab):
    """Machine path of the first master's /etc/origin/master/master-config.yaml (lab/hosts.py writes it)."""
    return lab.paths.host_dir(MASTER) / "etc-origin" / "master" / "master-config.yaml"


def _start(lab, argv, fp):
    """Stop the recorded server, start argv, wait until it listens; record pid, argv and fingerprint."""
    paths = lab.paths
    port = lab.ports["api"]
    proc.stop(paths, PROC_NAME)
    _wait_port_free(lab.gateway, port)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    pid = proc.spawn(paths, PROC_NAME, argv, env=env, cwd=str(REPO))
    try:
        proc.wait_port(lab.gateway, port, timeout=30, pid=pid, what="API stand-in")
    except RuntimeError as e:
        raise RuntimeError("%s: %s" % (e, _log_tail(lab)))
    state.write_private(paths.api / "server.json", json.dumps({"pid": pid, "fingerprint": fp, "argv": argv}))
    return pid


def _log_tail(lab, n=3):
    try:
        lines = (lab.paths.logs / (PROC_NAME + ".log")).read_text().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-n:])


def up(lab, import_interval=None, restart=False, additional_trusted_ca=None):
    """Start the stand-in (or keep the running one when it was started from the same code and
    arguments, so that a repeated `lab up` does not cut off other clients; restart=True forces a
    restart). Returns the "api" status fragment.

    imagePolicyConfig comes from the first master's master-config.yaml (read by the server at start, like
    3.11's API; `master-restart api` on the master restarts it: restart()); import_interval /
    OKD_LAB_API_IMPORT_INTERVAL and additional_trusted_ca / OKD_LAB_API_ADDITIONAL_TRUSTED_CA override it."""
    paths = lab.paths
    paths.api.mkdir(parents=True, exist_ok=True)
    os.chmod(str(paths.api), 0o700)
    tokens(paths)
    ca = pki.ensure_ca(paths)
    port = lab.ports["api"]
    sans = sorted(set([lab.names["api"], "api.lab.test", lab.gateway, "127.0.0.1", "localhost"]))
    cert, key = pki.issue(paths, "api", sans)
    argv = [lab.python, "-m", "lab.api", "serve", "--dir", str(paths.api), "--listen", lab.gateway,
            "--port", str(port), "--cert", str(cert), "--key", str(key), "--ca", str(ca),
            "--master-config", str(master_config_path(lab)),
            "--master-host-dir", str(lab.paths.host_dir(MASTER))]
    if import_interval is None and os.environ.get("OKD_LAB_API_IMPORT_INTERVAL"):
        # 3.11's imagePolicyConfig.scheduledImageImportMinimumIntervalSeconds defaults to 900 (15 minutes,
        # the master-config.yaml's value); tests shorten it with OKD_LAB_API_IMPORT_INTERVAL
        import_interval = float(os.environ["OKD_LAB_API_IMPORT_INTERVAL"])
    if import_interval is not None:
        argv += ["--import-interval", str(import_interval)]
    # 3.11's imagePolicyConfig.additionalTrustedCA (a PEM file) is the master's; OKD_LAB_API_ADDITIONAL_TRUSTED_CA
    # or the argument override it
    additional_trusted_ca = additional_trusted_ca or os.environ.get("OKD_LAB_API_ADDITIONAL_TRUSTED_CA")
    if additional_trusted_ca:
        argv += ["--additional-trusted-ca", str(additional_trusted_ca)]
    fp = _fingerprint(argv + [cert.read_text()])
    if restart or not _running(lab, fp):
        _start(lab, argv, fp)
    return _write_kubeconfigs(lab, ca)


def _write_kubeconfigs(lab, ca):
    toks = tokens(lab.paths)
    frag = fragment(lab)
    ca_pem = ca.read_bytes()
    state.write_private(frag["kubeconfig"], kubeconfig_text(frag["url"], ca_pem, "admin", toks["admin"]))
    state.write_private(frag["readonly_kubeconfig"], kubeconfig_text(frag["url"], ca_pem, "readonly", toks["readonly"]))
    try:   # the notifications endpoint is gone (nothing in OKD 3.11 consumes registry events)
        (lab.paths.api / "notifications.json").unlink()
    except OSError:
        pass
    return frag


def _healthy(lab, ca):
    """True when GET /healthz answers 200 (TLS verified with the lab CA)."""
    import http.client
    import ssl
    try:
        ctx = ssl.create_default_context(cafile=str(ca))
        conn = http.client.HTTPSConnection(lab.gateway, lab.ports["api"], timeout=2, context=ctx)
        ctx.check_hostname = False
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


def restart(lab, component="api", timeout=60.0):
    """What `master-restart api` does on a lab master (lab/hosts.py writes the command): check that the
    first master's master-config.yaml still parses (else RuntimeError naming the file and the cause, and
    the running API is left alone), stop the recorded server, start a new process with the arguments it
    was started with (it re-reads master-config.yaml), then wait until /healthz answers 200 - like 3.11,
    whose restart is followed by a wait for the API (openshift-ansible release-3.11
    roles/openshift_control_plane/tasks/restart.yml, check_master_api_is_ready.yml). State is in
    state.json, written after every change, and reloaded by the new process (store.py)."""
    import fcntl
    from .server import MASTER_CONFIG_INSIDE, MasterConfigError, read_master_config, trusted_ca_file
    paths = lab.paths
    try:
        info = json.loads((paths.api / "server.json").read_text())
        argv = info["argv"]
    except (OSError, ValueError, KeyError):
        raise RuntimeError("the API stand-in was not started by this lab version's `lab up` (no argv in %s)"
                           % (paths.api / "server.json"))
    cfg = argv[argv.index("--master-config") + 1] if "--master-config" in argv else None
    host_dir = argv[argv.index("--master-host-dir") + 1] if "--master-host-dir" in argv else None
    if cfg:
        try:
            policy = read_master_config(cfg, MASTER_CONFIG_INSIDE if host_dir else cfg)
            if policy["additionalTrustedCA"] and "--additional-trusted-ca" not in argv:
                trusted_ca_file(policy["additionalTrustedCA"], host_dir)
        except MasterConfigError as e:
            msg = str(e).replace(cfg, MASTER_CONFIG_INSIDE) if host_dir else str(e)
            raise RuntimeError("%s: not restarting the %s (the running one keeps its configuration)" % (msg, component))
    ca = pki.ensure_ca(paths)
    cert = Path(argv[argv.index("--cert") + 1])
    fd = os.open(str(paths.root / ".lock"), os.O_CREAT | os.O_RDWR, 0o600)    # the lock `lab up`/`down` take
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _start(lab, argv, _fingerprint(argv + [cert.read_text()]))
    finally:
        os.close(fd)
    deadline = time.time() + timeout
    while not _healthy(lab, ca):
        if time.time() > deadline:
            raise RuntimeError("the API did not answer /healthz within %.0fs after the restart" % timeout)
        time.sleep(0.1)
    return True


def down(lab):
    proc.stop(lab.paths, PROC_NAME)
    try:
        (lab.paths.api / "server.json").unlink()
    except OSError:
        pass


def read_requests(log_path, offset=0):
    """([records], new_offset) of the request log from byte offset on."""
    try:
        with open(str(log_path), "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    recs = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
    return recs, offset + end


def changing_requests(log_path, offset=0):
    """Requests since offset that could change something (POST/PUT/PATCH/DELETE)."""
    recs, _ = read_requests(log_path, offset)
    return [r for r in recs if r.get("method") in WRITE_METHODS]
