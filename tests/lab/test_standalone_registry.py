"""playbooks/standalone_registry.yml on a lab host (role okd_standalone_registry).

The registry must really run on the lab host (started by the role through systemctl); a real client
(skopeo, inside another lab host, credentials only in a 0600 authfile in that host's /root) pushes an
image over TLS verified with the CA, pulls it back. The push does not reach OKD by itself (OKD 3.11 has no
consumer of registry notifications; the role configures none): an image stream imports it (okd_image_import,
scheduled) with a pull secret for the registry, as on a real cluster. A re-run changes nothing.

Token auth (a second instance on the same host: port 5001, its own unit, configuration directory and
storage, so the htpasswd instance on 5000 is never touched and test order does not matter) trusts the
lab's redhat-like token realm (lab/tokenrealm.py): an account the realm grants push pushes and pulls;
a pull-only account pulls what it is entitled to and nothing else, and cannot push; wrong
credentials, a revoked account and an account without entitlement are refused; a token not signed
by the realm's key is refused by the registry. Missing token settings fail before the host is touched.
"""
import base64
import fnmatch
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

import labtools
from labtools import recap

REPO = Path(__file__).resolve().parents[2]
REGISTRY_HOST = "node3"     # the playbook's lab default (last node)
CLIENT_HOST = "node1"
PORT = 5000
NAMESPACE = "standalone-push"
# the token-auth instance
TOKEN_PORT = 5001
TOKEN_NAMESPACE = "standalone-token"
TOKEN_CONFIG_DIR = "/etc/docker-distribution/registry-token"
TOKEN_INSTANCE = {
    "okd_standalone_registry_port": TOKEN_PORT,
    "okd_standalone_registry_service": "docker-distribution-token",
    "okd_standalone_registry_config_dir": TOKEN_CONFIG_DIR,
    "okd_standalone_registry_storage_path": "/var/lib/docker-registry-token",
}


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


def write_vars(directory, data):
    """A 0600 JSON vars file for -e @FILE (secrets never on a command line)."""
    path = Path(directory) / ("vars-%s.json" % uuid.uuid4().hex[:8])
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    return str(path)


def write_authfile(lab, name, registry, username, password):
    auth = base64.b64encode(("%s:%s" % (username, password)).encode()).decode()
    return put_0600(lab, CLIENT_HOST, name, json.dumps({"auths": {registry: {"auth": auth}}}))


def build_image(name, tag):
    """A one-layer OCI image (content unique to `name`) in an OCI layout in the client host's /root."""
    layout = "/root/sa-img-%s" % name
    build = ("set -e; rm -rf {l}; umoci init --layout {l}; umoci new --image {l}:{t}; "
             "mkdir -p /root/sa-rootfs-{n}; echo {n} > /root/sa-rootfs-{n}/hello; "
             "tar -C /root/sa-rootfs-{n} -cf /root/sa-{n}.tar hello; "
             "umoci raw add-layer --image {l}:{t} /root/sa-{n}.tar").format(l=layout, t=tag, n=name)
    rc, out, err = host_exec(CLIENT_HOST, build)
    assert rc == 0, (out, err)
    return "oci:%s:%s" % (layout, tag)


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
def client_files(lab, user, fqdn, tmp_path_factory):
    """authfile (0600) and a cert dir with the lab CA in the client host's /root."""
    reg = "%s:%d" % (fqdn, PORT)
    auth = base64.b64encode(("%s:%s" % (user["username"], user["password"])).encode()).decode()
    authfile = put_0600(lab, CLIENT_HOST, "standalone-auth.json", json.dumps({"auths": {reg: {"auth": auth}}}))
    certdir = host_root(lab, CLIENT_HOST) / "standalone-certs"
    certdir.mkdir(mode=0o700, exist_ok=True)
    (certdir / "ca.crt").write_text(Path(lab["ca_file"]).read_text())
    tmp = tmp_path_factory.mktemp("standalone-client")
    yield {"registry": reg, "authfile": authfile, "certdir": "/root/standalone-certs", "user": user, "tmp": str(tmp)}
    (host_root(lab, CLIENT_HOST) / "standalone-auth.json").unlink()  # credentials do not outlive the tests


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
    return {"core": core, "custom": client.CustomObjectsApi(api_client), "client": client,
            "kubeconfig": lab["api"]["kubeconfig"]}


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
    assert "notifications" not in out and "htpasswd" in out and "registry.crt" in out


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
    src = build_image(name, tag)
    # pushed as Docker schema 2: OKD 3.11 cannot import an OCI manifest (its importer does not accept one)
    rc, out, err = host_exec(CLIENT_HOST, "skopeo copy --retry-times 0 --format v2s2 --authfile %s --dest-cert-dir %s "
                                          "--digestfile /root/sa-digest-%s %s %s"
                             % (client_files["authfile"], client_files["certdir"], name, src, ref))
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
    # the push alone does not reach OKD (3.11 consumes no registry notifications) ...
    with pytest.raises(api["client"].exceptions.ApiException) as e:
        api["custom"].get_namespaced_custom_object("image.openshift.io", "v1", NAMESPACE, "imagestreams", name)
    assert e.value.status == 404
    # ... an image stream importing from the registry does: scheduled, with a pull secret for it
    from test_cluster_secrets import run_module
    auth = base64.b64encode(("%s:%s" % (user_creds(client_files))).encode()).decode()
    cfg = base64.b64encode(json.dumps({"auths": {reg: {"auth": auth}}}).encode()).decode()
    api["core"].create_namespaced_secret(NAMESPACE, {"metadata": {"name": "standalone-pull-" + name},
                                                     "type": "kubernetes.io/dockerconfigjson",
                                                     "data": {".dockerconfigjson": cfg}})
    try:
        rc, res, out = run_module("okd_image_import", {
            "kubeconfig": api["kubeconfig"], "namespace": NAMESPACE, "name": name,
            "source": "%s/%s/%s" % (reg, NAMESPACE, name), "tags": [tag], "scheduled": True}, Path(client_files["tmp"]))
        assert rc == 0, out[-3000:]
        assert [(t["tag"], t["digest"], t["imported"]) for t in res["tags"]] == [(tag, digest, True)]
        stream = api["custom"].get_namespaced_custom_object("image.openshift.io", "v1", NAMESPACE, "imagestreams", name)
        assert stream["spec"]["tags"][0]["importPolicy"] == {"scheduled": True}
        assert stream["status"]["tags"][0]["items"][0]["dockerImageReference"] == "%s/%s/%s@%s" % (
            reg, NAMESPACE, name, digest)
    finally:
        api["core"].delete_namespaced_secret("standalone-pull-" + name, NAMESPACE)
        api["custom"].delete_namespaced_custom_object("image.openshift.io", "v1", NAMESPACE, "imagestreams", name)


def user_creds(client_files):
    return client_files["user"]["username"], client_files["user"]["password"]


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


# ------------------------------------------------------------------------------ token auth (port 5001)

@pytest.fixture(scope="module")
def realm(lab):
    """The lab's redhat-like token realm: URL, service, issuer, signing certificate and the accounts
    this test needs, chosen by what the realm grants them (lab-registries.md)."""
    r = lab["registries"]["redhat"]
    issuer, bundle = r.get("issuer"), r.get("rootcertbundle")
    if not issuer or not bundle:  # a lab started before status had these keys: the documented files
        d = Path(lab["state_dir"]) / "registries" / "redhat"
        issuer = issuer or json.loads((d / "realm.json").read_text())["issuer"]
        bundle = bundle or str(d / "token-signing.crt")
    repo = TOKEN_NAMESPACE + "/x"

    def pick(what, pred):
        found = [a for a in r["accounts"] if pred(a)]
        assert found, "the lab's redhat realm has no %s account: %r" % (what, [a["username"] for a in r["accounts"]])
        return found[0]

    def may(a, action, name):
        return any(fnmatch.fnmatchcase(name, p) for p in a.get(action) or [])

    pusher = pick("pusher", lambda a: not a["revoked"] and may(a, "push", repo))
    puller = pick("pull-only", lambda a: not a["revoked"] and a.get("pull") and not a.get("push")
                  and not may(a, "pull", repo) and "*" in a["pull"][0])
    return {
        "realm": r["realm"], "service": r["service"], "issuer": issuer, "rootcertbundle": bundle,
        "pusher": pusher, "puller": puller,
        # a repository the pull-only account is entitled to (its first pattern), three levels deep: the
        # OKD API maps only NAMESPACE/NAME pushes to image streams, so nothing lands in its namespace
        "puller_repo": puller["pull"][0].replace("*", "standalone-token-check/app"),
        "no_entitlement": pick("valid but unentitled", lambda a: not a["revoked"] and not a.get("pull")
                               and not a.get("push")),
        "revoked": pick("revoked", lambda a: a["revoked"]),
    }


@pytest.fixture(scope="module")
def token_deployed(lab, realm, tmp_path_factory):
    d = tmp_path_factory.mktemp("standalone-token")
    os.chmod(str(d), 0o700)
    data = dict(TOKEN_INSTANCE, okd_standalone_registry_auth="token",
                okd_standalone_registry_token_realm=realm["realm"],
                okd_standalone_registry_token_service=realm["service"],
                okd_standalone_registry_token_issuer=realm["issuer"],
                okd_standalone_registry_token_rootcertbundle_src=realm["rootcertbundle"])
    varsfile = write_vars(d, data)
    rc, out1 = run_playbook("-e", "@" + varsfile, "--diff")
    assert rc == 0, out1[-6000:]
    rc, out2 = run_playbook("-e", "@" + varsfile, "--diff")
    assert rc == 0, out2[-6000:]
    return {"first": out1, "second": out2, "vars": varsfile, "dir": d}


@pytest.fixture(scope="module")
def token_client(lab, fqdn, realm, token_deployed):
    """0600 authfiles in the client host's /root, one per account (and one with a wrong password)."""
    reg = "%s:%d" % (fqdn, TOKEN_PORT)
    files = {}
    for key in ("pusher", "puller", "no_entitlement", "revoked"):
        a = realm[key]
        files[key] = write_authfile(lab, "token-auth-%s.json" % key, reg, a["username"], a["password"])
    files["wrong"] = write_authfile(lab, "token-auth-wrong.json", reg, realm["pusher"]["username"],
                                    realm["pusher"]["password"] + "-wrong")
    certdir = host_root(lab, CLIENT_HOST) / "standalone-certs"
    certdir.mkdir(mode=0o700, exist_ok=True)
    (certdir / "ca.crt").write_text(Path(lab["ca_file"]).read_text())
    yield {"registry": reg, "auth": files, "certdir": "/root/standalone-certs"}
    for path in files.values():  # credentials do not outlive the tests
        (host_root(lab, CLIENT_HOST) / Path(path).name).unlink()


def token_skopeo(client, who, verb, *args):
    """skopeo VERB as account `who` (or anonymous when None) in the client host; (rc, stdout, stderr)."""
    auth = "--authfile %s " % client["auth"][who] if who else ""
    certs = {"copy": "--src-cert-dir {c} --dest-cert-dir {c}", "inspect": "--cert-dir {c}"}[verb]
    return host_exec(CLIENT_HOST, "skopeo %s --retry-times 0 %s%s %s"
                     % (verb, auth, certs.format(c=client["certdir"]), " ".join(args)))


@pytest.fixture(scope="module")
def token_pushed(token_client, realm):
    """One image pushed by the account the realm grants push (and a second one into a repository
    the pull-only account is entitled to)."""
    reg = token_client["registry"]
    name, tag = "app-%s" % uuid.uuid4().hex[:6], "v1"
    out = {"name": name, "tag": tag, "ref": "docker://%s/%s/%s:%s" % (reg, TOKEN_NAMESPACE, name, tag),
           "puller_ref": "docker://%s/%s-%s:%s" % (reg, realm["puller_repo"], name, tag)}
    src = build_image("t" + name, tag)
    for ref, digestfile in ((out["ref"], "sa-tdigest-" + name), (out["puller_ref"], "sa-tdigest2-" + name)):
        rc, o, err = token_skopeo(token_client, "pusher", "copy", "--digestfile /root/" + digestfile, src, ref)
        assert rc == 0, (o, err)
    out["digest"] = host_root_read(CLIENT_HOST, "sa-tdigest-" + name).strip()
    out["puller_digest"] = host_root_read(CLIENT_HOST, "sa-tdigest2-" + name).strip()
    assert out["digest"].startswith("sha256:") and out["puller_digest"] == out["digest"]
    out["src"] = src
    return out


def test_token_config_and_challenge(token_deployed, token_client, realm, lab):
    rc, out, err = host_exec(REGISTRY_HOST, "cat %s/config.yml" % TOKEN_CONFIG_DIR)
    assert rc == 0, err
    conf = yaml.safe_load(out)
    # exactly distribution's documented auth.token options (2.8: realm, service, issuer, rootcertbundle)
    assert conf["auth"] == {"token": {"realm": realm["realm"], "service": realm["service"],
                                      "issuer": realm["issuer"],
                                      "rootcertbundle": TOKEN_CONFIG_DIR + "/token-rootcerts.pem"}}, conf["auth"]
    assert conf["http"]["addr"].endswith(":%d" % TOKEN_PORT)
    rc, out, err = host_exec(REGISTRY_HOST, "cat %s/token-rootcerts.pem; ls %s" % (TOKEN_CONFIG_DIR, TOKEN_CONFIG_DIR))
    assert out.startswith(Path(realm["rootcertbundle"]).read_text()), out
    assert "htpasswd" not in out.split()
    rc, out, err = host_exec(REGISTRY_HOST, "systemctl is-active docker-distribution-token; "
                                            "systemctl is-enabled docker-distribution-token; ss -ltnH")
    assert out.split()[:2] == ["active", "enabled"], (out, err)
    address = [h for h in lab["hosts"] if h["name"] == REGISTRY_HOST][0]["address"]
    assert "%s:%d" % (address, TOKEN_PORT) in out, out
    # the registry sends clients to the realm, for its service
    rc, out, err = host_exec(CLIENT_HOST, "curl -s -D - -o /dev/null --cacert %s/ca.crt https://%s/v2/"
                             % (token_client["certdir"], token_client["registry"]))
    assert rc == 0 and out.split()[1] == "401", (out, err)
    challenge = [l.split(":", 1)[1].strip() for l in out.splitlines() if l.lower().startswith("www-authenticate:")]
    assert challenge == ['Bearer realm="%s",service="%s"' % (realm["realm"], realm["service"])], out
    assert recap(token_deployed["second"])["changed"] == 0, token_deployed["second"][-4000:]


def test_token_push_pull_by_entitled_account(token_client, token_pushed, api):
    ref, digest = token_pushed["ref"], token_pushed["digest"]
    rc, out, err = token_skopeo(token_client, "pusher", "inspect", ref)
    assert rc == 0, err
    assert json.loads(out)["Digest"] == digest
    name = token_pushed["name"]
    rc, out, err = token_skopeo(token_client, "pusher", "copy", "-q", ref, "oci:/root/sa-tpulled-%s:v1" % name)
    assert rc == 0, (out, err)
    rc, out, err = host_exec(CLIENT_HOST, "ls /root/sa-tpulled-%s/blobs/sha256 | wc -l" % name)
    assert int(out.strip()) >= 3, (out, err)
    # nothing announces the push to OKD (3.11 consumes no registry notifications): no image stream appears
    with pytest.raises(api["client"].exceptions.ApiException) as e:
        api["custom"].get_namespaced_custom_object("image.openshift.io", "v1", TOKEN_NAMESPACE, "imagestreams", name)
    assert e.value.status in (403, 404)


def test_token_pull_only_account(token_client, token_pushed):
    # pulls what it is entitled to ...
    rc, out, err = token_skopeo(token_client, "puller", "inspect", token_pushed["puller_ref"])
    assert rc == 0, err
    assert json.loads(out)["Digest"] == token_pushed["puller_digest"]
    # ... and nothing else
    rc, out, err = token_skopeo(token_client, "puller", "inspect", token_pushed["ref"])
    assert rc != 0 and "denied" in err and "unauthorized" in err, err
    # it cannot push, not even into a repository it may pull
    rc, out, err = token_skopeo(token_client, "puller", "copy", token_pushed["src"],
                                token_pushed["puller_ref"].rsplit(":", 1)[0] + ":pushed")
    assert rc != 0 and "denied" in err, err
    rc, out, err = token_skopeo(token_client, "pusher", "inspect", token_pushed["puller_ref"].rsplit(":", 1)[0] + ":pushed")
    assert rc != 0 and "manifest unknown" in err, err


def test_token_refused(token_client, token_pushed):
    ref = token_pushed["ref"]
    # wrong password and revoked account: the realm answers 401, skopeo gets no token
    for who in ("wrong", "revoked"):
        rc, out, err = token_skopeo(token_client, who, "inspect", ref)
        assert rc != 0 and "Invalid username or password" in err and "unable to retrieve auth token" in err, (who, err)
    # valid account without entitlement: a token without access, which the registry refuses
    rc, out, err = token_skopeo(token_client, "no_entitlement", "inspect", ref)
    assert rc != 0 and "denied" in err and "unauthorized" in err, err
    rc, out, err = token_skopeo(token_client, "no_entitlement", "copy", token_pushed["src"],
                                ref.rsplit(":", 1)[0] + ":noent")
    assert rc != 0 and "denied" in err, err
    # anonymous
    rc, out, err = token_skopeo(token_client, None, "inspect", ref)
    assert rc != 0 and "unauthorized" in err, err


def test_token_signature_checked(token_client, token_pushed, realm, lab):
    """A genuine realm token opens the repository; the same token re-signed by another key does not."""
    import ssl
    import urllib.error
    import urllib.parse
    import urllib.request
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    ctx = ssl.create_default_context(cafile=lab["ca_file"])
    repo = "%s/%s" % (TOKEN_NAMESPACE, token_pushed["name"])
    q = urllib.parse.urlencode({"service": realm["service"], "scope": "repository:%s:pull" % repo})
    basic = base64.b64encode(("%s:%s" % (realm["pusher"]["username"], realm["pusher"]["password"])).encode()).decode()
    req = urllib.request.Request(realm["realm"] + "?" + q, headers={"Authorization": "Basic " + basic})
    token = json.loads(urllib.request.urlopen(req, context=ctx, timeout=30).read())["token"]

    def get_tags(tok):
        r = urllib.request.Request("https://%s/v2/%s/tags/list" % (token_client["registry"], repo),
                                   headers={"Authorization": "Bearer " + tok})
        try:
            with urllib.request.urlopen(r, context=ctx, timeout=30) as resp:
                return resp.status, json.loads(resp.read()), ""
        except urllib.error.HTTPError as e:
            return e.code, None, e.headers.get("WWW-Authenticate", "")

    code, body, _ = get_tags(token)
    assert code == 200 and body["tags"] == [token_pushed["tag"]], (code, body)
    head, payload, _sig = token.split(".")
    forged_key = ec.generate_private_key(ec.SECP256R1())
    r, s = decode_dss_signature(forged_key.sign(("%s.%s" % (head, payload)).encode(), ec.ECDSA(hashes.SHA256())))
    sig = base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).rstrip(b"=").decode()
    code, body, challenge = get_tags("%s.%s.%s" % (head, payload, sig))
    assert code == 401 and 'error="invalid_token"' in challenge, (code, body, challenge)


def test_token_settings_checked_before_the_host_is_touched(token_deployed, tmp_path):
    """Missing or wrong token settings fail in the first task, naming the host and each variable."""
    bad_dir = "/etc/docker-distribution/registry-invalid"
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    good = json.loads(Path(token_deployed["vars"]).read_text())
    # the realm's signing key as a bare public key (what e.g. Keycloak shows): not accepted
    cert = x509.load_pem_x509_certificate(Path(good["okd_standalone_registry_token_rootcertbundle_src"]).read_bytes())
    pubkey = tmp_path / "signing-key.pub.pem"
    pubkey.write_bytes(cert.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    cases = [
        ({"okd_standalone_registry_token_issuer": "", "okd_standalone_registry_token_service": ""},
         ["okd_standalone_registry_token_issuer is empty (needed with okd_standalone_registry_auth: token)",
          "okd_standalone_registry_token_service is empty (needed with okd_standalone_registry_auth: token)"]),
        ({"okd_standalone_registry_token_realm": "sso.example.com/auth",
          "okd_standalone_registry_token_rootcertbundle_src": str(pubkey)},
         ["okd_standalone_registry_token_realm is not an http(s) URL: sso.example.com/auth",
          "okd_standalone_registry_token_rootcertbundle_src (%s) holds no PEM certificate" % pubkey]),
        ({"okd_standalone_registry_token_rootcertbundle_src": str(tmp_path / "missing.pem")},
         ["okd_standalone_registry_token_rootcertbundle_src is not a file on the controller: %s"
          % (tmp_path / "missing.pem")]),
    ]
    for override, messages in cases:
        data = dict(good)
        data.update(override, okd_standalone_registry_config_dir=bad_dir,
                    okd_standalone_registry_service="docker-distribution-invalid")
        rc, out = run_playbook("-e", "@" + write_vars(tmp_path, data))
        flat = " ".join(out.split())
        assert rc != 0, out[-4000:]
        for m in messages:
            assert "okd_standalone_registry on %s: " % REGISTRY_HOST in flat and m in flat, (m, out[-4000:])
        totals = recap(out)
        assert totals["failed"] == 1 and totals["changed"] == 0, out[-4000:]
    rc, out, err = host_exec(REGISTRY_HOST, "test -e %s || test -e /etc/systemd/system/docker-distribution-invalid.service"
                             % bad_dir)
    assert rc == 1, "a failed settings check still created files on %s" % REGISTRY_HOST
