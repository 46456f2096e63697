"""pyinfra as a package (issue 9 part 7): the wheel that `pip install .` builds from pyproject.toml, the
import aliases of the installed package, the @deploy functions on pyinfra's @fake hosts, the failure on
empty registries, and the example inventory that reads inventory/example/hosts.yml.

The wheel is built from a copy of exactly the files pyproject.toml names (the checkout is not written to)
with pip's build isolation served by a local package index (OKD_TEST_PIP_INDEX_URL, else the file://
index of the machine's pip configuration): no test contacts an outside host.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PY = ROOT / ".venv" / "bin" / "python"
PYINFRA = ROOT / ".venv" / "bin" / "pyinfra"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pyinfra_fake import INVENTORY_PRELUDE  # noqa: E402

PACKAGE_SOURCES = ["pyproject.toml", "LICENSE", "pyinfra_deploys/README.md",
                   "pyinfra_deploys/okd_registry", "plugins/module_utils", "plugins/filter"]


def local_index():
    """A package index reachable without the network (file://), or None."""
    url = os.environ.get("OKD_TEST_PIP_INDEX_URL")
    if url:
        return url
    out = subprocess.run([str(PY), "-m", "pip", "config", "list"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True).stdout
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith(("index-url", "extra-index-url")):
            for url in value.strip().strip("'\"").split():
                if url.startswith("file://"):
                    return url
    return None


def build_wheel(tmp):
    """Build the wheel from a copy of the package's sources; returns its path."""
    index = local_index()
    if index is None:
        pytest.skip("no local (file://) package index for pip's build isolation; set OKD_TEST_PIP_INDEX_URL")
    src = Path(tmp) / "src"
    for rel in PACKAGE_SOURCES:
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / rel).is_dir():
            shutil.copytree(ROOT / rel, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.yml"))
        else:
            shutil.copy2(ROOT / rel, target)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(PIP_INDEX_URL=index, PIP_DISABLE_PIP_VERSION_CHECK="1")
    r = subprocess.run([str(PY), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(Path(tmp) / "wheels"),
                        str(src)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:]
    wheels = list((Path(tmp) / "wheels").glob("okd_registry_toolkit-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return build_wheel(tmp_path_factory.mktemp("pkg"))


def test_wheel_is_one_top_level_package_with_the_core(wheel):
    names = zipfile.ZipFile(str(wheel)).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"okd_registry_toolkit"}
    for rel in ("__init__.py", "deploys.py", "operations.py", "facts.py", "settings.py", "sources.py",
                "verify.py", "compliance.py", "core/dockercfg.py", "core/errors.py", "core/v2auth.py",
                "filter/compliance.py"):
        assert "okd_registry_toolkit/" + rel in names
    assert not [n for n in names if "/tests/" in n or n.endswith(".yml")]
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in zipfile.ZipFile(str(wheel)).read(meta).decode().splitlines()
                if line.startswith("Requires-Dist:")]
    # runtime: pyinfra only (PyYAML only with the `inventory` extra)
    assert [r for r in requires if "extra ==" not in r] == ["Requires-Dist: pyinfra<4,>=3.0"]
    top = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(str(wheel)).read(top).decode().split() == ["okd_registry_toolkit"]


def test_installed_package_imports_without_the_checkout(wheel, tmp_path):
    """Unpacked alone on sys.path (cwd outside the checkout): the deploys import, the core and the
    names `plugins.module_utils.*` / `plugins.filter.*` that the modules use are the same module
    objects, and nothing of the checkout (`pyinfra_deploys`) is importable."""
    site = tmp_path / "site"
    zipfile.ZipFile(str(wheel)).extractall(str(site))
    code = r'''
import importlib, json, sys
import okd_registry_toolkit as p
from okd_registry_toolkit.deploys import registry_credentials, compliance
from okd_registry_toolkit import operations, sources
from okd_registry_toolkit.core import errors, dockercfg
import plugins.module_utils.errors as e2
import plugins.filter.compliance as f1
from okd_registry_toolkit.filter import compliance as f2
try:
    import pyinfra_deploys
    checkout = True
except ImportError:
    checkout = False
print(json.dumps({"installed": p.INSTALLED, "same_errors": e2 is errors,
                  "same_filter": f1 is f2, "ops_core": operations.dockercfg is dockercfg,
                  "spec": errors.__spec__.name, "checkout": checkout,
                  "deploy_names": [registry_credentials.__name__, compliance.__name__],
                  "core_file": dockercfg.__file__}))
'''
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    r = subprocess.run([str(PY), "-c", code], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out == {"installed": True, "same_errors": True, "same_filter": True, "ops_core": True,
                   "spec": "okd_registry_toolkit.core.errors", "checkout": False,
                   "deploy_names": ["registry_credentials", "compliance"],
                   "core_file": str(site / "okd_registry_toolkit" / "core" / "dockercfg.py")}


# ------------------------------------------------------------- the deploys on pyinfra's @fake hosts

PATH = "/var/lib/origin/.docker/config.json"
SECRET = "FAKE-PACKAGE-SECRET-" + "p" * 20
REGISTRIES = [{"name": "quay", "host": "127.0.0.1:1", "username": "org+robot", "password": SECRET,
               "test_image": "org/img:1"}]
INVENTORY = INVENTORY_PRELUDE + '''
_hosts = {name: _host(name) for name in _spec["responses"]}
masters = [_hosts["master1"]]
nodes = [_hosts[n] for n in _spec["responses"]]
'''


def run_fake(tmp_path, deploy, *args, registries=REGISTRIES):
    responses = {name: [[re.escape("okd-registry-stat-read %s " % PATH), []]] for name in ("master1", "node1")}
    inventory = tmp_path / "inventory.py"
    inventory.write_text(INVENTORY % json.dumps({"registries": registries, "responses": responses}))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(NO_COLOR="1", PYTHONUNBUFFERED="1", PYINFRA_PROGRESS="off")
    return subprocess.run([str(PYINFRA), str(inventory), str(deploy), "-y", "-vv"] + list(args),
                          cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)


EMPTY = ("registry_credentials: no registries to write (set okd_registries or "
         "registry_credentials_registries) and none to remove")


@pytest.mark.parametrize("data", [["--data", "okd_registries=[]"], []])
def test_empty_registries_fail_like_the_role(tmp_path, data):
    """The CLI deploy with okd_registries empty (given as [] or an inventory with none): the role's
    message, a non-zero exit, no command on any host. (Before: exit 0 having done nothing.)"""
    r = run_fake(tmp_path, ROOT / "pyinfra_deploys" / "registry_credentials.py", *data,
                 registries=REGISTRIES if data else [])
    assert r.returncode != 0, r.stdout[-3000:]
    assert EMPTY in r.stdout
    assert "okd-registry-write" not in r.stdout and ">>> " not in r.stdout


def test_empty_registries_with_removals_is_no_error(tmp_path):
    """Nothing to write but something to remove is a valid run (as in the role)."""
    r = run_fake(tmp_path, ROOT / "pyinfra_deploys" / "registry_credentials.py", "--data", "okd_registries=[]",
                 "--data", 'registry_credentials_remove=["old.example.com"]', registries=[])
    assert r.returncode == 0, r.stdout[-3000:]
    assert EMPTY not in r.stdout


def test_user_deploy_calls_the_deploy_function_with_overrides(tmp_path):
    """A user's deploy file outside the checkout calls registry_credentials() with keyword overrides
    (the role's variable names): they win over host.data, the operations carry the deploy's name,
    the write's content goes on stdin and no secret is printed (-vv)."""
    deploy = tmp_path / "my_deploy.py"
    deploy.write_text("import sys\nsys.path.insert(0, %r)\n"
                      "from pyinfra_deploys.okd_registry.deploys import registry_credentials\n"
                      "registry_credentials(registry_credentials_verify_controller=False,\n"
                      "                     registry_credentials_verify_hosts=False,\n"
                      "                     registry_credentials_paths=[%r])\n" % (str(ROOT), PATH))
    r = run_fake(tmp_path, deploy)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "Registry credentials | Registry credentials %s" % PATH in r.stdout
    assert len([line for line in r.stdout.splitlines() if "okd-registry-write %s" % PATH in line]) == 2
    assert "Verify pull access" not in r.stdout  # the override turned host verification off
    assert SECRET not in r.stdout
    # an override that is invalid is named, before anything runs
    deploy.write_text(deploy.read_text().replace("[%r]" % PATH, "['relative/path']"))
    r = run_fake(tmp_path, deploy)
    assert r.returncode != 0 and "registry_credentials_paths" in r.stdout and ">>> " not in r.stdout


# ------------------------------------------------------ the example inventory (inventory/example/)

ANSIBLE_BIN = ROOT / ".venv" / "bin"
VAULT_SECRET = "VAULTED-EXAMPLE-TOKEN-" + "v" * 16


@pytest.fixture
def example_copy(tmp_path):
    """inventory/example copied, with its vault.yml encrypted by ansible-vault (password file) and a
    host_vars file for node1 (connection and an override), as a user would set it up."""
    inv = tmp_path / "inv"
    shutil.copytree(ROOT / "inventory" / "example", inv, ignore=shutil.ignore_patterns("__pycache__"))
    password = tmp_path / "vault-pass"
    password.write_text("example-vault-password\n")
    vault = inv / "group_vars" / "OSEv3" / "vault.yml"
    vault.write_text('vault_okd_registry_redhat_token: "%s"\nvault_okd_registry_quay_token: "QUAY-%s"\n'
                     % (VAULT_SECRET, VAULT_SECRET))
    env = dict(os.environ, ANSIBLE_VAULT_PASSWORD_FILE=str(password), ANSIBLE_CONFIG=str(tmp_path / "none.cfg"),
               PATH="%s:%s" % (ANSIBLE_BIN, os.environ.get("PATH", "")))
    subprocess.run([str(ANSIBLE_BIN / "ansible-vault"), "encrypt", str(vault)], env=env, check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")
    (inv / "host_vars").mkdir()
    (inv / "host_vars" / "node1.example.com.yml").write_text(
        "ansible_host: 192.0.2.11\nansible_user: admin\nansible_become: true\nokd_registry_ca_file: /etc/pki/x.pem\n")
    return inv, env


def _load_pyinfra_inventory(inv, env):
    code = r'''
import json, sys
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory
with ctx_state.use(State()):  # what the CLI provides while it loads an inventory file
    inventory = make_inventory(sys.argv[1])
out = {}
for host in inventory:
    out[host.name] = {"groups": sorted(host.groups), "data": host.data.dict()}
print(json.dumps(out, default=str))
'''
    r = subprocess.run([str(PY), "-c", code, str(inv / "pyinfra_inventory.py")], cwd=str(inv), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    return r


def test_example_inventory_is_what_ansible_sees(example_copy):
    """pyinfra loads inventory/example/pyinfra_inventory.py (nothing connected): the groups and the
    (rendered, vault-decrypted) variables of every host are those Ansible gives for the same hosts.yml."""
    inv, env = example_copy
    r = _load_pyinfra_inventory(inv, env)
    assert r.returncode == 0, r.stderr[-3000:]
    hosts = json.loads(r.stdout)
    # Ansible's view: groups from ansible-inventory, the variables rendered by the debug module
    listed = json.loads(subprocess.run([str(ANSIBLE_BIN / "ansible-inventory"), "-i", str(inv / "hosts.yml"),
                                        "--list"], cwd=str(inv), env=env, check=True,
                                       stdout=subprocess.PIPE, universal_newlines=True).stdout)
    ansible_groups = {}
    for group, body in listed.items():
        for h in (body.get("hosts") or []) if isinstance(body, dict) else []:
            ansible_groups.setdefault(h, set()).add(group)
    # ansible-inventory lists a host under its direct groups; add their ancestors
    parents = {c: g for g, body in listed.items() if isinstance(body, dict) for c in body.get("children", [])}
    for h, gs in ansible_groups.items():
        for g in list(gs):
            while g in parents:
                g = parents[g]
                gs.add(g)
    assert set(hosts) == set(ansible_groups) == {"master1.example.com", "node1.example.com", "node2.example.com"}
    for h in hosts:  # pyinfra adds a group named after the inventory file, holding every host
        assert set(hosts[h]["groups"]) - {"pyinfra_inventory"} == ansible_groups[h] - {"all", "ungrouped"}
    assert hosts["master1.example.com"]["groups"] == ["OSEv3", "etcd", "masters", "nodes", "pyinfra_inventory"]
    assert hosts["node2.example.com"]["groups"] == ["OSEv3", "nodes", "pyinfra_inventory"]
    r = subprocess.run([str(ANSIBLE_BIN / "ansible"), "all", "-i", str(inv / "hosts.yml"), "-m",
                        "ansible.builtin.debug", "-a", "msg={{ {'r': okd_registries, 'ca': okd_registry_ca_file} | to_json }}",
                        "-o"], cwd=str(inv), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    assert r.returncode == 0, r.stdout + r.stderr
    seen = 0
    for line in r.stdout.splitlines():
        host, _, rest = line.partition(" | SUCCESS => ")
        if not rest:
            continue
        expected = json.loads(json.loads(rest)["msg"])
        data = hosts[host]["data"]
        assert data["okd_registries"] == expected["r"]
        assert data["okd_registry_ca_file"] == expected["ca"]
        seen += 1
    assert seen == 3
    node1 = hosts["node1.example.com"]["data"]
    assert node1["okd_registries"][0]["password"] == VAULT_SECRET  # decrypted and rendered
    assert (node1["ssh_hostname"], node1["ssh_user"], node1["_sudo"]) == ("192.0.2.11", "admin", True)
    assert node1["okd_registry_ca_file"] == "/etc/pki/x.pem"  # host_vars win over group_vars
    assert hosts["node2.example.com"]["data"]["okd_registry_ca_file"] == ""


def test_example_inventory_errors_name_the_cause(example_copy):
    inv, env = example_copy
    # no vault password: the encrypted file is named, nothing of it printed
    env_nopass = {k: v for k, v in env.items() if k != "ANSIBLE_VAULT_PASSWORD_FILE"}
    r = _load_pyinfra_inventory(inv, env_nopass)
    assert r.returncode != 0
    assert "group_vars/OSEv3/vault.yml: ansible-vault view failed" in r.stderr
    # no vault file at all (the example as shipped): the host, the variable and the missing reference
    (inv / "group_vars" / "OSEv3" / "vault.yml").unlink()
    r = _load_pyinfra_inventory(inv, env)
    assert r.returncode != 0
    assert ("master1.example.com: variable okd_registries: 'vault_okd_registry_redhat_token' is undefined"
            in r.stderr)


def test_installed_alias_leaves_another_plugins_package_alone(wheel, tmp_path):
    """A user's own `plugins` package on sys.path stays importable after the toolkit is imported, while
    `plugins.module_utils` is still the toolkit's core (the import hook answers only its two prefixes)."""
    site = tmp_path / "site"
    zipfile.ZipFile(str(wheel)).extractall(str(site))
    mine = tmp_path / "mine" / "plugins"
    mine.mkdir(parents=True)
    (mine / "__init__.py").write_text("")
    (mine / "other.py").write_text("VALUE = 42\n")
    code = ("import okd_registry_toolkit, plugins.other, plugins.module_utils.errors as e\n"
            "from okd_registry_toolkit.core import errors\n"
            "print(plugins.other.VALUE, e is errors, plugins.__file__.startswith(%r))" % str(tmp_path / "mine"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = "%s:%s" % (site, tmp_path / "mine")
    r = subprocess.run([str(PY), "-c", code], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["42", "True", "True"]
