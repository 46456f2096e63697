"""Helpers for the tests that run the toolkit the way users get it (docs/installing.md): the collection
built into a tarball and installed with its dependencies into an empty collections path, run from
outside the checkout (no repository ansible.cfg, no roles_path); plus the end state those runs must
reach (a node's config.json, the imagestreamsecret in the API), read back from the lab.

Used by tests/lab/test_installed_collection.py, test_runner.py and test_slicing.py.
"""
import atexit
import base64
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONFIG_JSON = "/var/lib/origin/.docker/config.json"
ISS_NAMESPACE, ISS_NAME = "openshift", "imagestreamsecret"
DEPENDENCIES = ("kubernetes/core", "community/crypto", "community/general")


def bundled_collection(name):
    """Directory of a collection bundled by the `ansible` PyPI package (e.g. 'kubernetes/core'), found the
    way docs/installing.md says: os.path.dirname(list(ansible_collections.__path__)[0])."""
    import ansible_collections
    # a namespace package: other tests of the session may have put the checkout's .collections first
    for entry in list(ansible_collections.__path__):
        d = Path(os.path.dirname(entry)) / "ansible_collections" / name
        if (d / "MANIFEST.json").is_file():
            return d
    raise AssertionError("collection %s not found in the ansible package (pip install ansible)" % name)


def user_env(collections_path, **extra):
    """The environment of a user's shell: no ANSIBLE_* of the test session (ANSIBLE_CONFIG points at the
    checkout's ansible.cfg under `make test`), only the installed collections path - not the `ansible`
    package's bundled collections, so the dependencies the install put there are what gets used."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K8S_AUTH_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections_path), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run(cmd, cwd, env, timeout=900):
    env = dict(env, PWD=str(cwd))  # as a shell started there has it (lookup('env', 'PWD') reads it)
    return subprocess.run([str(c) for c in cmd], cwd=str(cwd), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout)


@functools.lru_cache(maxsize=None)
def installed_collection():
    """Build the tarball and install it (offline) with its dependencies into an empty collections path,
    once per test session. Returns (collections_path, tarball, install output); removed at exit."""
    root = Path(tempfile.mkdtemp(prefix="okd-installed-"))
    atexit.register(shutil.rmtree, str(root), True)
    build = run([BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", root / "dist"],
                REPO, user_env(root / "none"))
    assert build.returncode == 0, build.stdout
    (tarball,) = list((root / "dist").glob("okd-registry_toolkit-*.tar.gz"))
    coll = root / "collections"
    # the documented offline install (docs/installing.md): the tarball plus the dependencies from a
    # local directory (here the `ansible` package's bundled copies); Galaxy is never contacted
    inst = run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", coll, tarball]
               + [bundled_collection(d) for d in DEPENDENCIES], root, user_env(coll))
    assert inst.returncode == 0, inst.stdout
    return coll, tarball, inst.stdout


def ansible_playbook(collections_path, cwd, *args, env_extra=None, timeout=900):
    """ansible-playbook as a user runs it from their own directory: (returncode, output)."""
    r = run([BIN / "ansible-playbook"] + list(args), cwd, user_env(collections_path, **(env_extra or {})),
            timeout=timeout)
    return r.returncode, r.stdout


# ------------------------------------------------------------------------------------ end state

def kube_core(lab):
    from kubernetes import client, config
    return client.CoreV1Api(config.new_client_from_config(config_file=lab["api"]["kubeconfig"]))


def inventory_users(lab):
    """{registry name: (host, username)} of okd_registries in the lab inventory (no passwords kept)."""
    import yaml
    with open(lab["inventory"]["ansible"]) as f:
        inv = yaml.safe_load(f)
    regs = inv["all"]["children"]["OSEv3"]["vars"]["okd_registries"]
    return {r["name"]: (r["host"], r["username"]) for r in regs}


def undo_end_state(lab, lab_exec, hosts):
    """Remove what site.yml creates and the tests check: config.json on `hosts`, the imagestreamsecret."""
    from kubernetes.client.rest import ApiException
    for h in hosts:
        lab_exec(h, "rm -f %s" % CONFIG_JSON)
    try:
        kube_core(lab).delete_namespaced_secret(ISS_NAME, ISS_NAMESPACE)
    except ApiException as e:
        if e.status != 404:
            raise


def node_users(lab_exec, host):
    """({registry: username} of the host's config.json, its mode) or (None, None) when absent."""
    r = lab_exec(host, "test -f {0} && stat -c %a {0} && cat {0} || true".format(CONFIG_JSON))
    if not r.stdout.strip():
        return None, None
    mode, _, text = r.stdout.partition("\n")
    auths = json.loads(text)["auths"]
    return {k: base64.b64decode(v["auth"]).decode().split(":", 1)[0] for k, v in auths.items()}, mode


def imagestreamsecret_users(lab):
    """{registry: username} of the imagestreamsecret, or None when it does not exist."""
    from kubernetes.client.rest import ApiException
    try:
        s = kube_core(lab).read_namespaced_secret(ISS_NAME, ISS_NAMESPACE)
    except ApiException as e:
        if e.status == 404:
            return None
        raise
    cfg = json.loads(base64.b64decode(s.data[".dockerconfigjson"]))
    return {k: base64.b64decode(v["auth"]).decode().split(":", 1)[0] for k, v in cfg["auths"].items()}


def assert_end_state(lab, lab_exec, hosts):
    """Every host in `hosts` has the inventory's registries in a 0600 config.json; the imagestreamsecret
    holds the Red Hat registry's inventory account."""
    want = inventory_users(lab)
    for h in hosts:
        users, mode = node_users(lab_exec, h)
        assert users is not None, "%s: no %s" % (h, CONFIG_JSON)
        assert mode == "600", (h, mode)
        for host, user in want.values():
            assert users.get(host) == user, (h, host, users)
    iss = imagestreamsecret_users(lab)
    assert iss is not None, "no secret %s/%s in the API" % (ISS_NAMESPACE, ISS_NAME)
    host, user = want["redhat"]
    assert iss.get(host) == user, iss
