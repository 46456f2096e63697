"""The masters' imagePolicyConfig.additionalTrustedCA (issue 13 items 7 and 12): role okd_master_trust
(playbooks/master_trust.yml) against the lab's master1 and its API stand-in, which reads master1's
/etc/origin/master/master-config.yaml at start and is restarted by master1's `master-restart api`.

A stand-alone registry deployed by the toolkit (playbooks/standalone_registry.yml, a second instance on
node3:5002 whose certificate comes from a private CA, not the lab CA the masters trust as their system
pool) holds an image. Before: the import fails with 3.11's x509 text. The role (check mode, then
apply, then again) installs the CA bundle, sets the key (only that line of the file changes) and restarts
the API (a new process that kept every object). After: the import works, and a scheduled tag picks up a
new push (the test sets the master's scheduledImageImportMinimumIntervalSeconds to 1 s, as an admin
would, and restores the file afterwards). A master-config.yaml that does not parse is refused by the role
(naming the host) and by master-restart, and nothing changes.
"""
import base64
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

import labtools
from labtools import recap

REPO = Path(__file__).resolve().parents[2]
REGISTRY_HOST = "node3"
CLIENT_HOST = "node1"
PORT = 5002
NAMESPACE = "master-trust"
CONFIG_INSIDE = "/etc/origin/master/master-config.yaml"
BUNDLE_INSIDE = "/etc/origin/master/okd-additional-trusted-ca.crt"
INSTANCE = {
    "okd_standalone_registry_port": PORT,
    "okd_standalone_registry_service": "docker-distribution-private",
    "okd_standalone_registry_config_dir": "/etc/docker-distribution/registry-private",
    "okd_standalone_registry_storage_path": "/var/lib/docker-registry-private",
}


def host_exec(host, cmd, timeout=300):
    r = subprocess.run([sys.executable, "-m", "lab", "exec", host, "--", "sh", "-c", cmd], cwd=str(REPO),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def write_0600(path, text):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return str(path)


def api_pid(lab):
    return int((Path(lab["state_dir"]) / "pids" / "api.pid").read_text())


def wait_for(fn, what, timeout=120):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            pytest.fail("timed out waiting for " + what)
        time.sleep(0.5)


@pytest.fixture()
def master_files(lab):
    """master1's master-config.yaml (machine side); restored with the API restarted at the end."""
    d = Path(lab["state_dir"]) / "hosts" / "master1" / "etc-origin" / "master"
    cfg, bundle = d / "master-config.yaml", d / "okd-additional-trusted-ca.crt"
    saved = cfg.read_bytes()
    had_bundle = bundle.read_bytes() if bundle.exists() else None
    yield {"config": cfg, "bundle": bundle, "dir": d}
    changed = cfg.read_bytes() != saved or (bundle.read_bytes() if bundle.exists() else None) != had_bundle
    cfg.write_bytes(saved)
    os.chmod(str(cfg), 0o600)
    if had_bundle is None:
        if bundle.exists():
            bundle.unlink()
    else:
        bundle.write_bytes(had_bundle)
    for f in d.glob("*~"):          # the role's backups
        f.unlink()
    if changed:
        rc, out, err = host_exec("master1", "master-restart api")
        assert rc == 0, (out, err)


@pytest.fixture(scope="module")
def private_registry(lab, tmp_path_factory):
    """The toolkit's stand-alone registry with a certificate from a private CA; an image pushed."""
    from lab import pki
    from lab.state import Lab
    d = tmp_path_factory.mktemp("private-ca")
    os.chmod(str(d), 0o700)
    ca = pki.ensure_ca(Lab(root=str(d / "lab")).paths)
    ca_key = ca.parent / "ca.key"
    user = {"username": "pusher-" + uuid.uuid4().hex[:6], "password": secrets.token_urlsafe(24)}
    varsfile = write_0600(d / "vars.json", json.dumps(dict(INSTANCE, **{
        "okd_standalone_registry_htpasswd_users": [user],
        "okd_standalone_registry_ca_cert": str(ca), "okd_standalone_registry_ca_key": str(ca_key)})))
    rc, out = labtools.run_playbook("playbooks/standalone_registry.yml", "-e", "@" + varsfile)
    assert rc == 0, out[-6000:]
    fqdn = [h for h in lab["hosts"] if h["name"] == REGISTRY_HOST][0]["fqdn"]
    reg = "%s:%d" % (fqdn, PORT)
    # the client trusts the private CA (a cert dir) and has the credentials in a 0600 authfile
    root = Path(lab["state_dir"]) / "hosts" / CLIENT_HOST / "root"
    (root / "mt-certs").mkdir(mode=0o700, exist_ok=True)
    (root / "mt-certs" / "ca.crt").write_text(ca.read_text())
    auth = base64.b64encode(("%s:%s" % (user["username"], user["password"])).encode()).decode()
    write_0600(root / "mt-auth.json", json.dumps({"auths": {reg: {"auth": auth}}}))
    yield {"ca": str(ca), "registry": reg, "user": user, "tmp": d, "repo": "%s/%s/app" % (reg, NAMESPACE)}
    (root / "mt-auth.json").unlink()
    host_exec(REGISTRY_HOST, "systemctl stop docker-distribution-private; systemctl disable docker-distribution-private")


def push(private_registry, content, tag="latest"):
    """A one-layer image whose file holds `content`, pushed as Docker schema 2; returns its digest."""
    n = uuid.uuid4().hex[:8]
    cmd = ("set -e; rm -rf /root/mt-img-{n} /root/mt-rootfs-{n}; umoci init --layout /root/mt-img-{n}; "
           "umoci new --image /root/mt-img-{n}:{t}; mkdir -p /root/mt-rootfs-{n}; echo {c} > /root/mt-rootfs-{n}/f; "
           "tar -C /root/mt-rootfs-{n} -cf /root/mt-{n}.tar f; umoci raw add-layer --image /root/mt-img-{n}:{t} /root/mt-{n}.tar; "
           "skopeo copy -q --retry-times 0 --format v2s2 --authfile /root/mt-auth.json --dest-cert-dir /root/mt-certs "
           "--digestfile /root/mt-digest-{n} oci:/root/mt-img-{n}:{t} docker://{r}:{t}; cat /root/mt-digest-{n}; "
           "rm -rf /root/mt-img-{n} /root/mt-rootfs-{n} /root/mt-{n}.tar /root/mt-digest-{n}"
           ).format(n=n, t=tag, c=content, r=private_registry["repo"])
    rc, out, err = host_exec(CLIENT_HOST, cmd)
    assert rc == 0 and out.strip().startswith("sha256:"), (out, err)
    return out.strip()


@pytest.fixture(scope="module")
def api(lab):
    from kubernetes import client, config
    api_client = config.new_client_from_config(config_file=lab["api"]["kubeconfig"])
    core = client.CoreV1Api(api_client)
    try:
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    except client.exceptions.ApiException as e:
        if e.status != 409:
            raise
    yield {"core": core, "custom": client.CustomObjectsApi(api_client), "client": client,
           "kubeconfig": lab["api"]["kubeconfig"]}
    try:
        core.delete_namespace(NAMESPACE)
    except client.exceptions.ApiException:
        pass


def stream(api, name):
    return api["custom"].get_namespaced_custom_object("image.openshift.io", "v1", NAMESPACE, "imagestreams", name)


def run_trust(*args):
    return labtools.run_playbook("playbooks/master_trust.yml", "--diff", *args)


def test_import_needs_the_masters_trust_then_scheduled_tags_follow(lab, master_files, private_registry, api, tmp_path):
    from test_cluster_secrets import run_module
    reg = private_registry["registry"]
    first = push(private_registry, "one")
    user = private_registry["user"]
    cfg = base64.b64encode(json.dumps({"auths": {reg: {"auth": base64.b64encode(
        ("%s:%s" % (user["username"], user["password"])).encode()).decode()}}}).encode()).decode()
    api["core"].create_namespaced_secret(NAMESPACE, {"metadata": {"name": "private-pull"},
                                                     "type": "kubernetes.io/dockerconfigjson",
                                                     "data": {".dockerconfigjson": cfg}})
    args = {"kubeconfig": api["kubeconfig"], "namespace": NAMESPACE, "name": "app", "source": private_registry["repo"],
            "tags": ["latest"], "scheduled": True, "wait_timeout": 60}

    # before: the masters do not trust the private CA - 3.11's x509 text, and the toolkit's hint
    rc, res, out = run_module("okd_image_import", args, tmp_path)
    assert rc != 0 and res and res.get("failed"), out[-3000:]
    assert "x509: certificate signed by unknown authority" in res["msg"], res["msg"]
    assert "additionalTrustedCA" in res["msg"] and reg in res["msg"], res["msg"]

    # an admin shortens the scheduled-import interval in the same file (3.11's
    # imagePolicyConfig.scheduledImageImportMinimumIntervalSeconds); the role's restart applies it too
    before = master_files["config"].read_text()
    assert "additionalTrustedCA" not in before
    tuned = before.replace("scheduledImageImportMinimumIntervalSeconds: 900", "scheduledImageImportMinimumIntervalSeconds: 1")
    assert tuned != before
    master_files["config"].write_text(tuned)
    trust = write_0600(private_registry["tmp"] / "trust.json",
                       json.dumps({"okd_master_trust_ca_files": [private_registry["ca"]]}))
    pid0 = api_pid(lab)

    # check mode: reports the change, shows only that line, writes nothing, restarts nothing
    rc, out = run_trust("-e", "@" + trust, "--check")
    assert rc == 0, out[-6000:]
    assert recap(out)["changed"] >= 2, out[-4000:]
    assert "+imagePolicyConfig.additionalTrustedCA: %s" % BUNDLE_INSIDE in out, out[-4000:]
    assert "bindPassword" not in out and "servingInfo" not in out
    assert master_files["config"].read_text() == tuned and not master_files["bundle"].exists()
    assert api_pid(lab) == pid0

    # apply: bundle installed, the one line added, the API restarted as a new process
    rc, out = run_trust("-e", "@" + trust)
    assert rc == 0, out[-6000:]
    assert "master-restart" in out or "Restart the API" in out
    after = master_files["config"].read_text()
    added = [l for l in after.splitlines() if l not in tuned.splitlines()]
    assert added == ["  additionalTrustedCA: %s" % BUNDLE_INSIDE], added
    assert [l for l in tuned.splitlines() if l not in after.splitlines()] == []
    assert master_files["bundle"].read_text().strip() == Path(private_registry["ca"]).read_text().strip()
    rc, o, e = host_exec("master1", "stat -c '%a %U' " + CONFIG_INSIDE + " " + BUNDLE_INSIDE)
    assert o.split() == ["600", "root", "644", "root"], (o, e)
    assert list(master_files["dir"].glob("master-config.yaml.*~")), "no backup of master-config.yaml"
    pid1 = api_pid(lab)
    assert pid1 != pid0
    # the restart lost nothing: the namespace's secret is still there
    assert api["core"].read_namespaced_secret("private-pull", NAMESPACE).type == "kubernetes.io/dockerconfigjson"

    # again: nothing changes, no restart
    rc, out = run_trust("-e", "@" + trust)
    assert rc == 0 and recap(out)["changed"] == 0, out[-4000:]
    assert api_pid(lab) == pid1
    rc, out = run_trust("-e", "@" + trust, "--check")
    assert rc == 0 and recap(out)["changed"] == 0, out[-4000:]

    # after: the import works
    rc, res, out = run_module("okd_image_import", args, tmp_path)
    assert rc == 0, out[-3000:]
    assert [(t["tag"], t["digest"], t["imported"]) for t in res["tags"]] == [("latest", first, True)]

    # a new push reaches the stream through the scheduled import (no client request)
    second = push(private_registry, "two")
    assert second != first
    got = wait_for(lambda: [i["image"] for i in (stream(api, "app")["status"].get("tags") or [{}])[0].get("items") or []
                            ][:1] == [second], "the scheduled import of the new push")
    assert got
    items = stream(api, "app")["status"]["tags"][0]["items"]
    assert [i["image"] for i in items[:2]] == [second, first]


def test_unparsable_master_config_is_refused(lab, master_files, tmp_path):
    """The role names the host and changes nothing; master-restart exits non-zero and keeps the API."""
    good = master_files["config"].read_text()
    broken = good + "imagePolicyConfig: [\n"
    master_files["config"].write_text(broken)
    trust = write_0600(tmp_path / "trust.json", json.dumps({"okd_master_trust_ca_pem": Path(lab["ca_file"]).read_text(),
                                                            "okd_master_trust_bundle_name": "mt-broken.crt"}))
    pid0 = api_pid(lab)
    try:
        rc, out = run_trust("-e", "@" + trust)
        assert rc != 0, out[-4000:]
        assert "master1: %s does not parse as YAML" % CONFIG_INSIDE in out, out[-4000:]
        assert master_files["config"].read_text() == broken
        assert not (master_files["dir"] / "mt-broken.crt").exists()
        rc, o, e = host_exec("master1", "master-restart api")
        assert rc != 0 and "does not parse" in e and "not restarting" in e, (rc, o, e)
        assert api_pid(lab) == pid0
        rc, o, e = host_exec("master1", "master-restart")
        assert rc == 1 and "must be specified" in e
    finally:
        master_files["config"].write_text(good)


def test_molecule_scenario(lab, master_files, tmp_path):
    """roles/okd_master_trust/molecule/default: check, converge, idempotence, check, verify, cleanup (the
    lab CA, which master1 trusts already); master1's file ends as it began, the API was restarted."""
    from test_molecule_roles import molecule
    before = master_files["config"].read_bytes()
    pid0 = api_pid(lab)
    r = molecule("okd_master_trust", tmp_path, "test")
    assert r.returncode == 0, r.stdout[-6000:]
    for step in ("check", "converge", "idempotence", "verify", "cleanup"):
        assert "Running default > %s" % step in r.stdout or "default > %s" % step in r.stdout, step
    assert "Idempotence completed successfully" in r.stdout or "idempotence" in r.stdout.lower()
    assert master_files["config"].read_bytes() == before
    assert not (master_files["dir"] / "okd-molecule-trusted-ca.crt").exists()
    assert api_pid(lab) != pid0


def test_another_trusted_ca_file_is_not_replaced(lab, master_files, tmp_path):
    """An additionalTrustedCA an admin already set (another file) is kept: the role refuses, naming the
    host and that file, and changes nothing, unless okd_master_trust_take_over is true."""
    good = master_files["config"].read_text()
    theirs = good.replace("imagePolicyConfig:\n", "imagePolicyConfig:\n  additionalTrustedCA: admins-ca.crt\n")
    assert theirs != good
    master_files["config"].write_text(theirs)
    trust = write_0600(tmp_path / "trust.json", json.dumps({"okd_master_trust_ca_pem": Path(lab["ca_file"]).read_text()}))
    pid0 = api_pid(lab)
    rc, out = run_trust("-e", "@" + trust)
    assert rc != 0, out[-4000:]
    assert "master1: %s already has imagePolicyConfig.additionalTrustedCA /etc/origin/master/admins-ca.crt" % CONFIG_INSIDE \
        in " ".join(out.split()), out[-4000:]
    assert master_files["config"].read_text() == theirs and not master_files["bundle"].exists()
    assert api_pid(lab) == pid0
