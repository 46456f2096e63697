"""The lab's S3-compatible object store: moto's server mode (PyPI `moto[server]`), the stand-in for AWS S3
(or any S3-compatible store) behind the integrated registry's object storage (docs/lab.md, "S3").

Debian packages no S3 server; moto's is a faithful enough S3 REST API (buckets, objects, multipart uploads,
path-style requests as distribution's s3 driver makes them when `regionendpoint` is set). It listens with
plain HTTP on the gateway address (lab network only, like every lab service): the registry's config.yml
names it as `regionendpoint: http://10.231.0.1:9000`. Limits of the stand-in: moto does not check the
signature or the access key (any key is accepted; the lab still hands out a key pair, kept 0600 in
.lab/s3/credentials.json, so the toolkit's secret handling is exercised), and its data lives in memory:
a restart (only when this file or moto changed) loses the objects; `up` creates the bucket again.

`up(lab)` starts (or keeps) `moto_server` as the recorded daemon `s3`, creates the lab bucket and returns the
"s3" fragment of `status --json`: {"url", "region", "bucket", "access_key", "secret_key"}; `down(lab)`
stops it.
"""
import hashlib
import json
import os
import secrets
import socket
import sys
import time
from pathlib import Path

from . import proc, state

PROC_NAME = "s3"
PORT = 9000
REGION = "us-east-1"
BUCKET = "okd-registry"


def _dir(lab):
    return lab.paths.root / "s3"


def credentials(lab):
    """{"access_key", "secret_key"} made once (0600) and kept across restarts."""
    path = _dir(lab) / "credentials.json"
    try:
        cred = json.loads(path.read_text())
        if cred.get("access_key") and cred.get("secret_key"):
            return cred
    except (OSError, ValueError):
        pass
    cred = {"access_key": "LAB" + secrets.token_hex(8).upper(), "secret_key": secrets.token_urlsafe(30)}
    state.write_private(path, json.dumps(cred))
    return cred


def _fingerprint():
    """This file and the installed moto: a change restarts the server at the next `up`."""
    import moto
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(getattr(moto, "__version__", "?").encode())
    return h.hexdigest()


def _listening(host, port):
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def url(lab):
    return "http://%s:%d" % (lab.gateway, lab.ports.get("s3", PORT))


def _ensure_bucket(lab, cred):
    """Create the lab bucket (idempotent) with boto3 (moto's own dependency: an independent S3 client)."""
    import boto3
    s3 = boto3.client("s3", endpoint_url=url(lab), region_name=REGION, aws_access_key_id=cred["access_key"],
                      aws_secret_access_key=cred["secret_key"])
    names = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if BUCKET not in names:
        s3.create_bucket(Bucket=BUCKET)


def up(lab):
    port = lab.ports.get("s3", PORT)
    d = _dir(lab)
    d.mkdir(parents=True, exist_ok=True)
    cred = credentials(lab)
    fp_file = d / "running"
    fp = _fingerprint()
    pid = proc.recorded(lab.paths, PROC_NAME).get(PROC_NAME)
    keep = False
    if pid and proc.alive(pid):
        try:
            keep = fp_file.read_text().strip() == fp and _listening(lab.gateway, port)
        except OSError:
            keep = False
    if not keep:
        if pid:
            proc.stop(lab.paths, PROC_NAME)
        if _listening(lab.gateway, port):
            raise RuntimeError("lab s3: %s:%d is already in use by a process the lab did not start"
                               % (lab.gateway, port))
        exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
        env = dict(os.environ)
        env.pop("AWS_PROFILE", None)
        pid = proc.spawn(lab.paths, PROC_NAME, [exe, "-H", lab.gateway, "-p", str(port)], env=env, cwd=str(d))
        try:
            proc.wait_port(lab.gateway, port, timeout=60, pid=pid, what="S3 stand-in (moto_server)")
        except RuntimeError:
            proc.stop(lab.paths, PROC_NAME)
            raise
        fp_file.write_text(fp)
    # moto answers TCP before its app is ready: retry the bucket creation briefly
    deadline = time.time() + 30
    while True:
        try:
            _ensure_bucket(lab, cred)
            break
        except Exception:  # boto3/botocore errors, connection resets while starting
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    return {"url": url(lab), "region": REGION, "bucket": BUCKET,
            "access_key": cred["access_key"], "secret_key": cred["secret_key"]}


def down(lab):
    proc.stop(lab.paths, PROC_NAME)
    try:
        (_dir(lab) / "running").unlink()
    except OSError:
        pass
