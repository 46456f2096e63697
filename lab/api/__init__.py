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
    """{"admin": TOKEN, "readonly": TOKEN}, created once (0600) and kept across restarts."""
    path = paths.api / "tokens.json"
    try:
        toks = json.loads(path.read_text())
        if toks.get("admin") and toks.get("readonly"):
            return toks
    except (OSError, ValueError):
        pass
    toks = {"admin": "sha256~" + secrets.token_urlsafe(32), "readonly": "sha256~" + secrets.token_urlsafe(32)}
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


def up(lab, import_interval=None, restart=False, additional_trusted_ca=None):
    """Start the stand-in (or keep the running one when it was started from the same code and
    arguments, so that a repeated `lab up` does not cut off other clients; restart=True forces a
    restart). Returns the "api" status fragment."""
    paths = lab.paths
    paths.api.mkdir(parents=True, exist_ok=True)
    os.chmod(str(paths.api), 0o700)
    toks = tokens(paths)
    ca = pki.ensure_ca(paths)
    port = lab.ports["api"]
    sans = sorted(set([lab.names["api"], "api.lab.test", lab.gateway, "127.0.0.1", "localhost"]))
    cert, key = pki.issue(paths, "api", sans)
    if import_interval is None:
        # 3.11's imagePolicyConfig.scheduledImageImportMinimumIntervalSeconds defaults to 900 (15 minutes);
        # tests shorten it with OKD_LAB_API_IMPORT_INTERVAL
        import_interval = float(os.environ.get("OKD_LAB_API_IMPORT_INTERVAL") or SCHEDULED_IMPORT_INTERVAL)
    argv = [lab.python, "-m", "lab.api", "serve", "--dir", str(paths.api), "--listen", lab.gateway,
            "--port", str(port), "--cert", str(cert), "--key", str(key), "--ca", str(ca),
            "--import-interval", str(import_interval)]
    # 3.11's imagePolicyConfig.additionalTrustedCA (a PEM file): OKD_LAB_API_ADDITIONAL_TRUSTED_CA or the argument
    additional_trusted_ca = additional_trusted_ca or os.environ.get("OKD_LAB_API_ADDITIONAL_TRUSTED_CA")
    if additional_trusted_ca:
        argv += ["--additional-trusted-ca", str(additional_trusted_ca)]
    fp = _fingerprint(argv + [cert.read_text()])
    if restart or not _running(lab, fp):
        proc.stop(paths, PROC_NAME)
        _wait_port_free(lab.gateway, port)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        pid = proc.spawn(paths, PROC_NAME, argv, env=env, cwd=str(REPO))
        proc.wait_port(lab.gateway, port, timeout=30, pid=pid, what="API stand-in")
        state.write_private(paths.api / "server.json", json.dumps({"pid": pid, "fingerprint": fp}))
    frag = fragment(lab)
    ca_pem = ca.read_bytes()
    state.write_private(frag["kubeconfig"], kubeconfig_text(frag["url"], ca_pem, "admin", toks["admin"]))
    state.write_private(frag["readonly_kubeconfig"], kubeconfig_text(frag["url"], ca_pem, "readonly", toks["readonly"]))
    try:   # the notifications endpoint is gone (nothing in OKD 3.11 consumes registry events)
        (paths.api / "notifications.json").unlink()
    except OSError:
        pass
    return frag


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
