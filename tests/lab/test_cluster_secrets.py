"""imagestreamsecret and pull secrets against the lab's OKD 3.11 API stand-in.

Asserts real API state with the official kubernetes client and the stand-in's request log: created,
idempotent (a rerun makes no changing request), updated when the credentials change, check mode changes
nothing, and bad kubeconfig / unreachable API / 403 / 409 give clear errors. Secrets never reach output.
The helpers below are shared with tests/lab/test_image_streams.py.
"""
import base64
import json
import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def env():
    e = dict(os.environ)
    e["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    e["ANSIBLE_STDOUT_CALLBACK"] = "json"
    e["ANSIBLE_NOCOLOR"] = "1"
    e.pop("ANSIBLE_STDOUT_CALLBACK_RESULT_FORMAT", None)
    return e


def write_private(path, data):
    """A 0600 file (extra vars with passwords never go on a command line)."""
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def playbook(lab, name, tmp_path, extra=None, args=(), json_output=True):
    """Run playbooks/NAME against the lab inventory. Returns (CompletedProcess, parsed json or None)."""
    cmd = [str(ROOT / ".venv/bin/ansible-playbook"), "-i", lab["inventory"]["ansible"], str(ROOT / "playbooks" / name)]
    if extra:
        cmd += ["-e", "@" + write_private(tmp_path / ("extra-%d.json" % len(list(tmp_path.iterdir()))), extra)]
    cmd += list(args)
    e = env()
    if not json_output:
        e["ANSIBLE_STDOUT_CALLBACK"] = "default"
    p = subprocess.run(cmd, cwd=str(ROOT), env=e, capture_output=True, text=True, timeout=600)
    data = None
    if json_output:
        try:
            data = json.loads(p.stdout[p.stdout.index("{"):])
        except ValueError:
            data = None
    return p, data


def run_module(module, args, tmp_path, check=False, diff=False, verbosity=None):
    """Run one okd.registry_toolkit module on localhost; returns (rc, task result dict, raw output)."""
    play = [{"hosts": "localhost", "gather_facts": False,
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
             "tasks": [{"name": "module", "okd.registry_toolkit." + module: args, "register": "r"}]}]
    pb = tmp_path / ("play-%s-%d.yml" % (module, len(list(tmp_path.iterdir()))))
    write_private(pb, yaml.safe_dump(play))
    cmd = [str(ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local", str(pb)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    p = subprocess.run(cmd, cwd=str(ROOT), env=env(), capture_output=True, text=True, timeout=300)
    result = None
    try:
        data = json.loads(p.stdout[p.stdout.index("{"):])
        result = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        pass
    return p.returncode, result, p.stdout + p.stderr


def task_results(data):
    """[(task name, host result)] from the json callback output."""
    out = []
    for play in (data or {}).get("plays", []):
        for t in play.get("tasks", []):
            for _, r in t.get("hosts", {}).items():
                out.append((t["task"]["name"], r))
    return out


def changed_tasks(data):
    return [n for n, r in task_results(data) if r.get("changed")]


class RequestLog(object):
    """The API stand-in's request log (one JSON object per line); mark() then since()."""

    def __init__(self, lab):
        self.path = Path(lab["api"]["request_log"])
        self.pos = 0

    def mark(self):
        self.pos = self.path.stat().st_size if self.path.exists() else 0
        return self

    def since(self):
        with open(str(self.path)) as f:
            f.seek(self.pos)
            return [json.loads(line) for line in f if line.strip()]

    def changing(self, *paths):
        """Changing requests since mark(), optionally only those whose path contains one of ``paths``
        (other tests may be talking to the same API at the same time)."""
        return [r for r in self.since() if r.get("method") in CHANGING
                and (not paths or any(x in r.get("path", "") for x in paths))]


def kube(lab, token=None):
    """(CoreV1Api, CustomObjectsApi) from the lab's admin kubeconfig."""
    from kubernetes import client, config
    api = config.new_client_from_config(config_file=lab["api"]["kubeconfig"])
    if token:
        api.configuration.api_key = {"authorization": "Bearer " + token}
    return client.CoreV1Api(api), client.CustomObjectsApi(api)


def secret_auths(secret):
    """registry -> "user:password" decoded from a dockerconfigjson Secret (kubernetes client object)."""
    cfg = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]))
    return dict((k, base64.b64decode(v["auth"]).decode()) for k, v in cfg["auths"].items())


def kubeconfig_variant(lab, tmp_path, name, server=None, token=None):
    """A copy of the admin kubeconfig with another server URL and/or token (0600)."""
    with open(lab["api"]["kubeconfig"]) as f:
        cfg = yaml.safe_load(f)
    ctx = [c for c in cfg["contexts"] if c["name"] == cfg["current-context"]][0]["context"]
    if server:
        for c in cfg["clusters"]:
            if c["name"] == ctx["cluster"]:
                c["cluster"]["server"] = server
    if token:
        for u in cfg["users"]:
            if u["name"] == ctx["user"]:
                u["user"] = {"token": token}
    return write_private(tmp_path / name, yaml.safe_dump(cfg))


def inventory_registries(lab):
    with open(lab["inventory"]["ansible"]) as f:
        inv = yaml.safe_load(f)
    return inv["all"]["children"]["OSEv3"]["vars"]["okd_registries"]


def delete_quietly(fn, *args):
    from kubernetes.client.rest import ApiException
    try:
        fn(*args)
    except ApiException as e:
        if e.status != 404:
            raise


# ============================================================================================== tests
import pytest  # noqa: E402

ISS = ("openshift", "imagestreamsecret")
QUAY_NS, QUAY_SECRET = "lab-apps", "quay-pull"
OURS = ("/namespaces/openshift/secrets", "/namespaces/lab-apps/secrets", "/namespaces/lab-apps/serviceaccounts",
        "/api/v1/namespaces/lab-apps")


def _accounts(lab, reg):
    return dict((a["username"], a["password"]) for a in lab["registries"][reg]["accounts"] if not a.get("revoked"))


def _redhat_entry(lab, username=None):
    regs = inventory_registries(lab)
    entry = dict([r for r in regs if r["name"] == "redhat"][0])
    if username:
        entry["username"], entry["password"] = username, _accounts(lab, "redhat")[username]
    return entry


def _with_redhat(lab, username):
    return [(_redhat_entry(lab, username) if r["name"] == "redhat" else r) for r in inventory_registries(lab)]


def _all_passwords(lab):
    out = []
    for reg in lab["registries"].values():
        for a in reg["accounts"]:
            out += [a["password"], base64.b64encode(("%s:%s" % (a["username"], a["password"])).encode()).decode()]
    return out


@pytest.fixture(scope="module")
def core(lab):
    return kube(lab)[0]


@pytest.fixture
def clean(lab, core):
    delete_quietly(core.delete_namespaced_secret, ISS[1], ISS[0])
    delete_quietly(core.delete_namespaced_secret, QUAY_SECRET, QUAY_NS)
    yield
    # leave the lab with the inventory's credentials in place (other tests import with them)


def test_create_rerun_update_check_mode(lab, core, clean, tmp_path):
    redhat = _redhat_entry(lab)
    host = redhat["host"]
    log = RequestLog(lab).mark()

    # 1. create
    p, data = playbook(lab, "cluster_registry_secrets.yml", tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    sec = core.read_namespaced_secret(ISS[1], ISS[0])
    assert sec.type == "kubernetes.io/dockerconfigjson"
    assert secret_auths(sec) == {host: "%s:%s" % (redhat["username"], redhat["password"])}
    quay = [r for r in inventory_registries(lab) if r["name"] == "quay"][0]
    qsec = core.read_namespaced_secret(QUAY_SECRET, QUAY_NS)
    assert secret_auths(qsec) == {quay["host"]: "%s:%s" % (quay["username"], quay["password"])}
    sa = core.read_namespaced_service_account("default", QUAY_NS)
    assert QUAY_SECRET in [r.name for r in sa.image_pull_secrets or []]
    created = [(r["method"], r["path"]) for r in log.changing(*OURS)]
    assert ("POST", "/api/v1/namespaces/openshift/secrets") in created
    rv = sec.metadata.resource_version

    # 2. rerun: nothing changes, not a single changing request
    log.mark()
    p, data = playbook(lab, "cluster_registry_secrets.yml", tmp_path)
    assert p.returncode == 0, p.stdout[-3000:]
    assert changed_tasks(data) == []
    assert log.changing(*OURS) == []
    assert core.read_namespaced_secret(ISS[1], ISS[0]).metadata.resource_version == rv

    # 3. credentials change (switch to the username/password account): the secret is UPDATED
    log.mark()
    p, data = playbook(lab, "cluster_registry_secrets.yml", tmp_path, extra={"okd_registries": _with_redhat(lab, "labuser")})
    assert p.returncode == 0, p.stdout[-3000:]
    assert any("imagestreamsecret" in n for n in changed_tasks(data))
    sec2 = core.read_namespaced_secret(ISS[1], ISS[0])
    assert secret_auths(sec2) == {host: "labuser:%s" % _accounts(lab, "redhat")["labuser"]}
    assert sec2.metadata.resource_version != rv
    assert [(r["method"], r["path"]) for r in log.changing(*OURS)] == [
        ("PATCH", "/api/v1/namespaces/openshift/secrets/imagestreamsecret")]

    # 4. check mode back to the inventory credentials: reports changed, changes nothing in the API
    log.mark()
    p, data = playbook(lab, "cluster_registry_secrets.yml", tmp_path, args=["--check", "--diff"])
    assert p.returncode == 0, p.stdout[-3000:]
    assert any("imagestreamsecret" in n for n in changed_tasks(data))
    assert log.changing(*OURS) == []
    assert log.since(), "check mode must still read the API"
    assert secret_auths(core.read_namespaced_secret(ISS[1], ISS[0])) == secret_auths(sec2)
    for secret in _all_passwords(lab):
        assert secret not in p.stdout and secret not in p.stderr

    # 5. back to the inventory credentials for real
    p, data = playbook(lab, "cluster_registry_secrets.yml", tmp_path)
    assert p.returncode == 0
    assert secret_auths(core.read_namespaced_secret(ISS[1], ISS[0])) == {
        host: "%s:%s" % (redhat["username"], redhat["password"])}


def test_secret_written_by_oc_with_same_credentials_is_left_alone(lab, core, clean, tmp_path):
    """An existing secret as `oc create secret docker-registry` writes it (other bytes, same creds)."""
    from kubernetes import client
    redhat = _redhat_entry(lab)
    cfg = {"auths": {redhat["host"]: {"username": redhat["username"], "password": redhat["password"],
                                      "email": "ops@example.com",
                                      "auth": base64.b64encode(("%s:%s" % (redhat["username"], redhat["password"])).encode()).decode()}}}
    core.create_namespaced_secret(ISS[0], client.V1Secret(
        metadata=client.V1ObjectMeta(name=ISS[1]), type="kubernetes.io/dockerconfigjson",
        data={".dockerconfigjson": base64.b64encode(json.dumps(cfg, separators=(",", ":")).encode()).decode()}))
    log = RequestLog(lab).mark()
    rc, res, out = run_module("okd_registry_secret", {
        "kubeconfig": lab["api"]["kubeconfig"], "name": ISS[1], "namespace": ISS[0],
        "registries": [{"registry": redhat["host"], "username": redhat["username"], "password": redhat["password"]}]},
        tmp_path)
    assert rc == 0, out[-2000:]
    assert res["changed"] is False and res["operation"] == "unchanged" and res["registries"] == [redhat["host"]]
    assert log.changing(*OURS) == []


def test_master_source_takes_credentials_from_masters_config(lab, core, clean, tmp_path):
    """source master: the credentials come from master1's config.json, not from the inventory."""
    labuser = _accounts(lab, "redhat")["labuser"]
    host = _redhat_entry(lab)["host"]
    cfg = {"auths": {host: {"auth": base64.b64encode(("labuser:" + labuser).encode()).decode()}}}
    d = Path(lab["state_dir"]) / "hosts" / "master1" / "root"
    assert d.is_dir()
    write_private(d / "okd-test-config.json", json.dumps(cfg))
    try:
        p, data = playbook(lab, "cluster_registry_secrets.yml", tmp_path, extra={
            "okd_registry_secrets_source": "master",
            "okd_registry_secrets_master_config": "/root/okd-test-config.json",
            "okd_registry_secrets_pull_secrets": []})
        assert p.returncode == 0, p.stdout[-3000:]
        assert secret_auths(core.read_namespaced_secret(ISS[1], ISS[0])) == {host: "labuser:" + labuser}
        assert labuser not in p.stdout
    finally:
        os.unlink(str(d / "okd-test-config.json"))


def _iss_args(lab, kubeconfig):
    r = _redhat_entry(lab)
    return {"kubeconfig": kubeconfig, "name": ISS[1], "namespace": ISS[0],
            "registries": [{"registry": r["host"], "username": r["username"], "password": r["password"]}]}


def test_bad_kubeconfig(lab, tmp_path):
    bad = write_private(tmp_path / "bad.kubeconfig", "apiVersion: v1\nkind: Config\nclusters: []\n")
    rc, res, out = run_module("okd_registry_secret", _iss_args(lab, bad), tmp_path)
    assert rc != 0
    assert "kubeconfig: no current-context set" in res["msg"] and bad in res["msg"]
    garbage = write_private(tmp_path / "garbage.kubeconfig", "{{{ not yaml")
    rc, res, out = run_module("okd_registry_secret", _iss_args(lab, garbage), tmp_path)
    assert rc != 0 and "is not valid YAML" in res["msg"]
    rc, res, out = run_module("okd_registry_secret", _iss_args(lab, str(tmp_path / "missing")), tmp_path)
    assert rc != 0 and "cannot read kubeconfig" in res["msg"]


def test_unreachable_api_names_the_url(lab, tmp_path):
    kc = kubeconfig_variant(lab, tmp_path, "unreachable.kubeconfig", server="https://127.0.0.1:1")
    rc, res, out = run_module("okd_registry_secret", _iss_args(lab, kc), tmp_path)
    assert rc != 0
    assert "cannot reach the OKD API at https://127.0.0.1:1" in res["msg"]
    assert "refused" in res["msg"].lower()


def test_forbidden_with_readonly_token(lab, core, clean, tmp_path):
    kc = kubeconfig_variant(lab, tmp_path, "readonly.kubeconfig", token=lab["api"]["tokens"]["readonly"])
    log = RequestLog(lab).mark()
    rc, res, out = run_module("okd_registry_secret", _iss_args(lab, kc), tmp_path)
    assert rc != 0
    assert res["msg"].startswith("secret openshift/imagestreamsecret: 403 Forbidden: ")
    assert "readonly" in res["msg"] and "secrets" in res["msg"]
    assert res["status"] == 403
    assert [r["status"] for r in log.changing(*OURS)] == [403]
    delete_quietly(core.read_namespaced_secret, ISS[1], ISS[0])
    for secret in _all_passwords(lab):
        assert secret not in out


def test_conflict_on_concurrent_modification(lab, core, tmp_path):
    from kubernetes import client
    ns, name = "lab-apps", "okd-conflict-test"
    delete_quietly(core.delete_namespaced_config_map, name, ns)
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    except client.rest.ApiException as e:
        assert e.status == 409
    cm = core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name),
                                                                 data={"a": "1"}))
    stale = cm.metadata.resource_version
    core.patch_namespaced_config_map(name, ns, {"data": {"a": "2"}})  # another writer
    rc, res, out = run_module("okd_resource", {
        "kubeconfig": lab["api"]["kubeconfig"],
        "definition": {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "namespace": ns, "resourceVersion": stale},
                       "data": {"a": "3"}}}, tmp_path)
    assert rc != 0
    assert "409 Conflict" in res["msg"] and "ConfigMap lab-apps/okd-conflict-test" in res["msg"]
    assert core.read_namespaced_config_map(name, ns).data == {"a": "2"}
    # without a stale resourceVersion the same change applies, and a rerun is a no-op
    defn = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": {"a": "3"}}
    rc, res, out = run_module("okd_resource", {"kubeconfig": lab["api"]["kubeconfig"], "definition": defn}, tmp_path)
    assert rc == 0 and res["changed"] and res["method"] == "patch"
    log = RequestLog(lab).mark()
    rc, res, out = run_module("okd_resource", {"kubeconfig": lab["api"]["kubeconfig"], "definition": defn}, tmp_path)
    assert rc == 0 and res["changed"] is False and log.changing(*OURS) == []
    core.delete_namespaced_config_map(name, ns)


def test_okd_resource_check_mode_and_secret_diff(lab, core, tmp_path):
    ns, name = "lab-apps", "okd-diff-test"
    delete_quietly(core.delete_namespaced_secret, name, ns)
    defn = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "type": "Opaque", "stringData": {"password": "s3cr3t-VALUE-xyz"}}
    log = RequestLog(lab).mark()
    rc, res, out = run_module("okd_resource", {"kubeconfig": lab["api"]["kubeconfig"], "definition": defn},
                              tmp_path, check=True, diff=True, verbosity=3)
    assert rc == 0 and res["changed"] and res["method"] == "create"
    assert log.changing(*OURS) == []
    assert "s3cr3t-VALUE-xyz" not in out and base64.b64encode(b"s3cr3t-VALUE-xyz").decode() not in out
    assert "<redacted sha256:" in json.dumps(res["diff"])
    rc, res, out = run_module("okd_resource", {"kubeconfig": lab["api"]["kubeconfig"], "definition": defn},
                              tmp_path, diff=True)
    assert rc == 0 and res["changed"]
    assert base64.b64decode(core.read_namespaced_secret(name, ns).data["password"]) == b"s3cr3t-VALUE-xyz"
    log.mark()
    rc, res, out = run_module("okd_resource", {"kubeconfig": lab["api"]["kubeconfig"], "definition": defn}, tmp_path)
    assert rc == 0 and res["changed"] is False and log.changing(*OURS) == []
    rc, res, out = run_module("okd_resource", {"kubeconfig": lab["api"]["kubeconfig"], "definition": defn,
                                               "state": "absent"}, tmp_path)
    assert rc == 0 and res["changed"] and res["method"] == "delete"


def test_secrets_never_in_verbose_output(lab, core, clean, tmp_path):
    p, _ = playbook(lab, "cluster_registry_secrets.yml", tmp_path, args=["-vvv", "--diff"], json_output=False)
    assert p.returncode == 0, p.stdout[-3000:]
    p2, _ = playbook(lab, "cluster_registry_secrets.yml", tmp_path, args=["-vvv", "--diff"],
                     extra={"okd_registries": _with_redhat(lab, "labuser")}, json_output=False)
    assert p2.returncode == 0, p2.stdout[-3000:]
    text = p.stdout + p.stderr + p2.stdout + p2.stderr
    for secret in _all_passwords(lab) + [lab["api"]["tokens"]["admin"]]:
        assert secret not in text
    playbook(lab, "cluster_registry_secrets.yml", tmp_path)  # restore the inventory credentials


def _quay_args(lab, ns, name, **over):
    quay = [r for r in inventory_registries(lab) if r["name"] == "quay"][0]
    args = {"kubeconfig": lab["api"]["kubeconfig"], "name": name, "namespace": ns,
            "registries": [{"registry": quay["host"], "username": quay["username"], "password": quay["password"]}]}
    args.update(over)
    return args


def test_unparsable_dockerconfigjson_secret_fails_unless_replace_is_asked(lab, core, tmp_path):
    """issue 8 section 4: a dockerconfigjson secret the apiserver accepts (a JSON object) but whose auths do not
    parse is not silently replaced by one holding only the toolkit's registries: the run fails naming the
    secret and the parse error, and changes nothing; invalid_existing=replace replaces it."""
    ns, name = "lab-apps", "okd-unparsable-test"
    ensure_namespace(core, ns)
    delete_quietly(core.delete_namespaced_secret, name, ns)
    other = base64.b64encode(b"someone:else").decode()
    raw = json.dumps({"auths": {"other.example.lab.test": {"auth": other}, "broken.lab.test": {"auth": "!!"}}})
    core.create_namespaced_secret(ns, {"metadata": {"name": name}, "type": "kubernetes.io/dockerconfigjson",
                                       "data": {".dockerconfigjson": base64.b64encode(raw.encode()).decode()}})
    before = core.read_namespaced_secret(name, ns)
    log = RequestLog(lab).mark()
    rc, res, out = run_module("okd_registry_secret", _quay_args(lab, ns, name), tmp_path)
    assert rc != 0
    assert res["msg"].startswith("secret lab-apps/okd-unparsable-test: the existing kubernetes.io/dockerconfigjson "
                                 "secret does not parse (")
    assert 'auths["broken.lab.test"]: auth is not valid base64' in res["msg"]
    assert "invalid_existing=replace" in res["msg"] and other not in out
    assert log.changing("/namespaces/lab-apps/secrets") == []
    assert core.read_namespaced_secret(name, ns).metadata.resource_version == before.metadata.resource_version
    rc, res, out = run_module("okd_registry_secret", _quay_args(lab, ns, name, invalid_existing="replace"), tmp_path)
    assert rc == 0 and res["changed"], out[-3000:]
    quay = [r for r in inventory_registries(lab) if r["name"] == "quay"][0]
    assert set(secret_auths(core.read_namespaced_secret(name, ns))) == {quay["host"]}
    core.delete_namespaced_secret(name, ns)


def test_type_change_replaces_the_secret_guarded(lab, core, tmp_path):
    """An Opaque secret of the name becomes a dockerconfigjson one: delete (after a guarded no-op patch,
    with uid and resourceVersion preconditions) + create."""
    ns, name = "lab-apps", "okd-typechange-test"
    ensure_namespace(core, ns)
    delete_quietly(core.delete_namespaced_secret, name, ns)
    core.create_namespaced_secret(ns, {"metadata": {"name": name}, "type": "Opaque", "stringData": {"a": "b"}})
    log = RequestLog(lab).mark()
    rc, res, out = run_module("okd_registry_secret", _quay_args(lab, ns, name), tmp_path)
    assert rc == 0 and res["operation"] == "updated", out[-3000:]
    assert core.read_namespaced_secret(name, ns).type == "kubernetes.io/dockerconfigjson"
    path = "/api/v1/namespaces/lab-apps/secrets"
    assert [r["method"] for r in log.changing(path)] == ["PATCH", "DELETE", "POST"]
    core.delete_namespaced_secret(name, ns)


def test_link_in_a_namespace_the_module_just_created(lab, core, tmp_path):
    """issue 13 item 3: OKD creates a new namespace's service accounts a moment later and then updates each
    several times (pending-token annotation, token secret, dockercfg secret); the link, guarded by the version
    it read, retries 409 against a fresh read. Both the controller's dockercfg pull secret and ours end up
    linked; neither overwrote the other."""
    import time
    import uuid
    ns = "okd-new-" + uuid.uuid4().hex[:6]
    try:
        rc, res, out = run_module("okd_registry_secret", _quay_args(
            lab, ns, "quay-pull", create_namespace=True,
            link_to=[{"name": "default", "for": ["pull"]}, {"name": "builder", "for": ["pull", "mount"]}]), tmp_path)
        assert rc == 0, out[-4000:]
        # wait for OKD's controllers to finish (poll the outcome, no timing assertion)
        deadline = time.time() + 30
        while True:
            sas = dict((n, core.read_namespaced_service_account(n, ns)) for n in ("default", "builder"))
            pulls = dict((n, [r.name for r in s.image_pull_secrets or []]) for n, s in sas.items())
            if all(any(p.startswith(n + "-dockercfg-") for p in pulls[n]) for n in pulls) or time.time() > deadline:
                break
            time.sleep(0.2)
        for n, p in pulls.items():
            assert "quay-pull" in p, (n, p)
            assert any(x.startswith(n + "-dockercfg-") for x in p), (n, p)
        assert "quay-pull" in [r.name for r in sas["builder"].secrets or []]
        assert any(r.name.startswith("builder-token-") for r in sas["builder"].secrets or [])
    finally:
        delete_quietly(core.delete_namespace, ns)


def ensure_namespace(core, ns):
    from kubernetes import client
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    except client.rest.ApiException as e:
        assert e.status == 409
