"""playbooks/standalone_registry.yml on a lab host (role okd_standalone_registry).

The registry must really run on the lab host (started by the role through systemctl); a real client
(skopeo, inside another lab host, credentials only in a 0600 authfile in that host's /root) pushes an
image over TLS verified with the CA, pulls it back, and the push must arrive in the API as an image
stream tag through the registry's notifications. A re-run changes nothing.
"""
import base64
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import labtools
from labtools import recap

REPO = Path(__file__).resolve().parents[2]
REGISTRY_HOST = "node3"     # the playbook's lab default (last node)
CLIENT_HOST = "node1"
PORT = 5000
NAMESPACE = "standalone-push"


# ------------------------------------------------------------------------------------------ helpers

def run_playbook(*args):
    return labtools.run_playbook("playbooks/standalone_registry.yml", *args)




def host_exec(host, cmd, timeout=300):
    """Run a shell command string inside a lab host (`python -m lab exec`); (rc, stdout, stderr)."""
    r = subprocess.run([sys.executable, "-m", "lab", "exec", host, "--", "sh", "-c", cmd], cwd=str(REPO),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def host_root(lab, host):
    return Path(lab["state_dir"]) / "hosts" / host / "root"


def put_0600(lab, host, name, content):
    """A 0600 file in the host's /root, written from the machine side (no secret on a command line)."""
    p = host_root(lab, host) / name
    fd = os.open(str(p), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    rc, out, err = host_exec(host, "stat -c %a /root/" + shlex.quote(name))
    assert rc == 0 and out.strip() == "600", (rc, out, err)
    return "/root/" + name


@pytest.fixture(scope="module")
def fqdn(lab):
    return [h for h in lab["hosts"] if h["name"] == REGISTRY_HOST][0]["fqdn"]


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    return {"username": "pusher-%s" % uuid.uuid4().hex[:6], "password": secrets.token_urlsafe(24) + "'\"$ :x"}


@pytest.fixture(scope="module")
def deployed(lab, user, tmp_path_factory):
    rc, out, err = host_exec(REGISTRY_HOST, "systemctl --version")
    if "systemctl.py" not in out:
        pytest.fail("lab host %s has no docker-systemctl-replacement on /usr/bin/systemctl: the lab must bind-mount "
                    "docker-systemctl-replacement there (got %r)" % (REGISTRY_HOST, (out + err)[:200]))
    d = tmp_path_factory.mktemp("standalone")
    os.chmod(str(d), 0o700)
    varsfile = d / "vars.json"
    fd = os.open(str(varsfile), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"okd_standalone_registry_htpasswd_users": [user]}, f)
    rc, out1 = run_playbook("-e", "@" + str(varsfile), "--diff")
    assert rc == 0, out1[-6000:]
    rc, out2 = run_playbook("-e", "@" + str(varsfile), "--diff")
    assert rc == 0, out2[-6000:]
    return {"first": out1, "second": out2, "vars": str(varsfile)}


@pytest.fixture(scope="module")
def client_files(lab, user, fqdn):
    """authfile (0600) and a cert dir with the lab CA in the client host's /root."""
    reg = "%s:%d" % (fqdn, PORT)
    auth = base64.b64encode(("%s:%s" % (user["username"], user["password"])).encode()).decode()
    authfile = put_0600(lab, CLIENT_HOST, "standalone-auth.json", json.dumps({"auths": {reg: {"auth": auth}}}))
    certdir = host_root(lab, CLIENT_HOST) / "standalone-certs"
    certdir.mkdir(mode=0o700, exist_ok=True)
    (certdir / "ca.crt").write_text(Path(lab["ca_file"]).read_text())
    return {"registry": reg, "authfile": authfile, "certdir": "/root/standalone-certs"}


@pytest.fixture(scope="module")
def api(lab):
    from kubernetes import client, config
    api_client = config.new_client_from_config(config_file=lab["api"]["kubeconfig"])
    core = client.CoreV1Api(api_client)
    try:
        core.read_namespace(NAMESPACE)
    except client.exceptions.ApiException as e:
        if e.status != 404:
            raise
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    return {"core": core, "custom": client.CustomObjectsApi(api_client), "client": client}


# -------------------------------------------------------------------------------------------- tests

def test_registry_runs_under_systemctl(deployed, lab):
    rc, out, err = host_exec(REGISTRY_HOST, "systemctl is-active docker-distribution; "
                                            "systemctl is-enabled docker-distribution")
    assert out.split() == ["active", "enabled"], (rc, out, err)
    # a real registry process started by the role's unit: the unit's main PID runs `docker-registry serve`
    # with our config, as the package's user, in this host's network namespace
    rc, out, err = host_exec(REGISTRY_HOST, "pid=$(systemctl show -p MainPID docker-distribution | cut -d= -f2); "
                                            "echo $pid; tr '\\0' ' ' < /proc/$pid/cmdline; echo; "
                                            "stat -c %U /proc/$pid; readlink /proc/$pid/ns/net; readlink /proc/self/ns/net")
    lines = out.splitlines()
    assert rc == 0 and len(lines) == 5 and int(lines[0]) > 1, (out, err)
    assert lines[1].split() == ["/usr/bin/docker-registry", "serve", "/etc/docker-distribution/registry/config.yml"]
    assert lines[2] == "docker-registry"
    assert lines[3] == lines[4]
    # listening on the host's own address (inside its network namespace)
    address = [h for h in lab["hosts"] if h["name"] == REGISTRY_HOST][0]["address"]
    rc, out, err = host_exec(REGISTRY_HOST, "ss -ltnH")
    assert "%s:%d" % (address, PORT) in out, out


def test_files_and_modes(deployed, user):
    rc, out, err = host_exec(REGISTRY_HOST, "stat -c '%n %a %U:%G' /etc/docker-distribution/registry/config.yml "
                                            "/etc/docker-distribution/registry/htpasswd "
                                            "/etc/docker-distribution/registry/tls/registry.key")
    assert rc == 0, err
    modes = dict((l.split()[0], l.split()[1:]) for l in out.splitlines())
    for f, (mode, owner) in modes.items():
        assert mode == "640" and owner == "root:docker-registry", (f, mode, owner)
    rc, out, err = host_exec(REGISTRY_HOST, "cat /etc/docker-distribution/registry/htpasswd")
    line = [l for l in out.splitlines() if l.startswith(user["username"] + ":")]
    assert len(line) == 1 and re.match(r"^[^:]+:\$2[aby]\$10\$", line[0])
    assert user["password"] not in out
    for o in (deployed["first"], deployed["second"]):
        assert user["password"] not in o and "PRIVATE KEY" not in o
    rc, out, err = host_exec(REGISTRY_HOST, "cat /etc/docker-distribution/registry/config.yml")
    assert "notifications" in out and "htpasswd" in out and "registry.crt" in out


def test_health_and_auth_required(deployed, client_files):
    reg = client_files["registry"]
    rc, out, err = host_exec(CLIENT_HOST, "curl -s -o /dev/null -w '%%{http_code}' --cacert %s/ca.crt https://%s/v2/"
                             % (client_files["certdir"], reg))
    assert out.strip() == "401", (rc, out, err)
    # a wrong password is refused
    rc, out, err = host_exec(CLIENT_HOST, "skopeo inspect --retry-times 0 --cert-dir %s "
                                          "--creds nobody:wrong docker://%s/x/y:z" % (client_files["certdir"], reg))
    assert rc != 0 and ("unauthorized" in err.lower() or "401" in err), err


def test_push_pull_and_image_stream_tag(deployed, client_files, api):
    reg = client_files["registry"]
    name, tag = "app-%s" % uuid.uuid4().hex[:6], "v1"
    ref = "docker://%s/%s/%s:%s" % (reg, NAMESPACE, name, tag)
    layout = "/root/sa-img-%s" % name
    build = ("set -e; rm -rf {l}; umoci init --layout {l}; umoci new --image {l}:{t}; "
             "mkdir -p /root/sa-rootfs-{n}; echo {n} > /root/sa-rootfs-{n}/hello; "
             "tar -C /root/sa-rootfs-{n} -cf /root/sa-{n}.tar hello; "
             "umoci raw add-layer --image {l}:{t} /root/sa-{n}.tar").format(l=layout, t=tag, n=name)
    rc, out, err = host_exec(CLIENT_HOST, build)
    assert rc == 0, (out, err)
    rc, out, err = host_exec(CLIENT_HOST, "skopeo copy --retry-times 0 --authfile %s --dest-cert-dir %s "
                                          "--digestfile /root/sa-digest-%s oci:%s:%s %s"
                             % (client_files["authfile"], client_files["certdir"], name, layout, tag, ref))
    assert rc == 0, (out, err)
    digest = (host_root_read(CLIENT_HOST, "sa-digest-" + name)).strip()
    assert digest.startswith("sha256:")
    # pull it back: inspect and copy the image to a new layout
    rc, out, err = host_exec(CLIENT_HOST, "skopeo inspect --retry-times 0 --authfile %s --cert-dir %s %s"
                             % (client_files["authfile"], client_files["certdir"], ref))
    assert rc == 0, err
    assert json.loads(out)["Digest"] == digest
    rc, out, err = host_exec(CLIENT_HOST, "rm -rf /root/sa-pulled-{n} && skopeo copy -q --retry-times 0 --authfile {a} "
                                          "--src-cert-dir {c} {r} oci:/root/sa-pulled-{n}:{t} && "
                                          "ls /root/sa-pulled-{n}/blobs/sha256 | wc -l"
                             .format(n=name, a=client_files["authfile"], c=client_files["certdir"], r=ref, t=tag))
    assert rc == 0 and int(out.strip()) >= 3, (out, err)
    # anonymous pulls are refused
    rc, out, err = host_exec(CLIENT_HOST, "skopeo inspect --retry-times 0 --cert-dir %s %s"
                             % (client_files["certdir"], ref))
    assert rc != 0
    # the push reached the API through the notifications endpoint as an image stream tag
    stream, found = None, None
    for _ in range(60):  # bounded: 60 polls
        try:
            stream = api["custom"].get_namespaced_custom_object("image.openshift.io", "v1", NAMESPACE,
                                                                "imagestreams", name)
        except api["client"].exceptions.ApiException as e:
            if e.status != 404:
                raise
            stream = None
        tags = ((stream or {}).get("status") or {}).get("tags") or []
        found = [t for t in tags if t.get("tag") == tag]
        if found:
            break
        time.sleep(0.5)
    assert found, "no image stream tag %s/%s:%s in the API: %r" % (NAMESPACE, name, tag, stream)
    items = found[0].get("items") or []
    assert items and items[0].get("image") == digest, found


def host_root_read(host, name):
    return (Path(_STATE["dir"]) / "hosts" / host / "root" / name).read_text()


_STATE = {}


@pytest.fixture(scope="module", autouse=True)
def _state_dir(lab):
    _STATE["dir"] = lab["state_dir"]


def test_rerun_changes_nothing(deployed):
    assert recap(deployed["second"])["changed"] == 0, deployed["second"][-4000:]


def test_check_mode_reports_and_keeps(deployed, lab):
    rc, before, _ = host_exec(REGISTRY_HOST, "md5sum /etc/docker-distribution/registry/config.yml")
    rc, out = run_playbook("-e", "@" + deployed["vars"], "--check", "-e", "okd_standalone_registry_delete_enabled=false")
    assert rc == 0, out[-6000:]
    assert recap(out)["changed"] >= 1
    rc, after, _ = host_exec(REGISTRY_HOST, "md5sum /etc/docker-distribution/registry/config.yml")
    assert before == after
