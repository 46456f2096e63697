"""pyinfra inventory for a real OKD 3.11 cluster, read from the SAME files Ansible reads:
hosts.yml next to this file (groups masters, etcd, nodes under OSEv3) and its group_vars/ and host_vars/
(files or directories of files, *.yml/*.yaml/*.json).

    pyinfra inventory/example/pyinfra_inventory.py pyinfra_deploys/registry_credentials.py --dry
    pyinfra inventory/example/pyinfra_inventory.py my_deploy.py -y     # a deploy importing okd_registry_toolkit

Another Ansible inventory file: OKD_ANSIBLE_INVENTORY=/path/to/hosts.yml (its group_vars/host_vars are
taken from its directory). Needs PyYAML (``pip install 'okd-registry-toolkit[inventory]'``).

What it does as Ansible does:
- groups and children: a host of a child group is in every ancestor group (``nodes`` -> ``OSEv3``);
  every group with a host becomes a pyinfra group of that name (``all`` and ``ungrouped`` excepted);
- variables, lowest first: group ``all``, then the other groups by depth (parents before children) and
  name, each with its inventory ``vars`` then its group_vars files (a directory's files in name order),
  then the host's own inventory variables, then its host_vars files. Dictionaries are replaced, not
  merged (Ansible's default ``hash_behaviour``);
- ``{{ name }}`` references in strings are rendered with Jinja2 (a pyinfra dependency) against the host's
  variables, e.g. ``password: "{{ vault_okd_registry_redhat_token }}"``; a reference to an unknown
  variable is an error naming it, the host and the variable that refers to it (as the example ships,
  without group_vars/OSEv3/vault.yml, ``vault_okd_registry_redhat_token`` is undefined);
- ansible-vault: a vars file that is vault-encrypted (``group_vars/OSEv3/vault.yml``) is decrypted by
  ``ansible-vault view`` (ANSIBLE_VAULT_PASSWORD_FILE or your ansible.cfg's vault settings), its output read
  into memory only; no ``ansible-vault`` on PATH is an error naming the file. Inline ``!vault`` values are
  not supported (an error naming the file). ``*.example`` files are not read.
- connection variables: ``ansible_host`` -> ``ssh_hostname``, ``ansible_port`` -> ``ssh_port``,
  ``ansible_user`` -> ``ssh_user``, ``ansible_ssh_private_key_file`` -> ``ssh_key``, ``ansible_become``
  -> ``_sudo``, ``ansible_become_user`` -> ``_sudo_user`` (when not set already).
Not done: other Jinja filters/lookups than plain expressions Jinja2 itself evaluates, ``group_vars`` next
to a playbook, dynamic inventory plugins.
"""
import json
import os
import shutil
import subprocess

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("inventory/example/pyinfra_inventory.py reads Ansible's YAML inventory and needs PyYAML: "
                      "pip install 'okd-registry-toolkit[inventory]' (or pip install PyYAML)")

import jinja2

_CONNECTION_VARS = (("ansible_host", "ssh_hostname"), ("ansible_port", "ssh_port"), ("ansible_user", "ssh_user"),
                   ("ansible_ssh_private_key_file", "ssh_key"), ("ansible_become", "_sudo"),
                   ("ansible_become_user", "_sudo_user"))
_VARS_EXTENSIONS = (".yml", ".yaml", ".json")


class InventoryError(Exception):
    pass


class _Loader(yaml.SafeLoader):
    pass


def _vault_tag(loader, node):
    raise InventoryError("inline !vault values are not supported (%s); put them in a vault-encrypted file"
                         % getattr(loader, "name", "?"))


_Loader.add_constructor("!vault", _vault_tag)
_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _decrypt(path):
    tool = shutil.which("ansible-vault")
    if not tool:
        raise InventoryError("%s is encrypted with ansible-vault and ansible-vault is not on PATH" % path)
    r = subprocess.run([tool, "view", path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if r.returncode != 0:
        # ansible-vault's message names the cause (no password, wrong password); it holds no content
        raise InventoryError("%s: ansible-vault view failed: %s" % (path, r.stderr.strip()[-500:]))
    return r.stdout


def load_vars_file(path):
    with open(path) as f:
        text = f.read()
    if text.startswith("$ANSIBLE_VAULT;"):
        text = _decrypt(path)
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.load(text, Loader=_Loader)
    except (ValueError, yaml.YAMLError) as exc:
        raise InventoryError("%s is not valid %s: %s" % (path, "JSON" if path.endswith(".json") else "YAML", exc))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InventoryError("%s must hold a mapping of variables" % path)
    return data


def vars_files(directory, name):
    """Ansible's lookup of group_vars/NAME or host_vars/NAME: the file with or without a known extension,
    or every such file of the directory NAME (recursively, in name order)."""
    out = []
    base = os.path.join(directory, name)
    for candidate in [base] + [base + ext for ext in _VARS_EXTENSIONS]:
        if os.path.isfile(candidate):
            out.append(candidate)
    if os.path.isdir(base):
        for root, dirs, files in os.walk(base):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(_VARS_EXTENSIONS) and not f.startswith("."):
                    out.append(os.path.join(root, f))
    return out


def read_inventory(path):
    """{"groups": {name: {"hosts": {host: vars}, "vars": {}, "children": [..]}}} of an Ansible YAML
    inventory."""
    with open(path) as f:
        doc = yaml.load(f, Loader=_Loader) or {}
    groups = {}

    def walk(name, body):
        if body is not None and not isinstance(body, dict):
            raise InventoryError("%s: group %s must be a mapping (hosts, vars, children)" % (path, name))
        body = body or {}
        group = groups.setdefault(name, {"hosts": {}, "vars": {}, "children": []})
        for host, hvars in (body.get("hosts") or {}).items():
            group["hosts"].setdefault(str(host), {}).update(hvars or {})
        group["vars"].update(body.get("vars") or {})
        for child, child_body in (body.get("children") or {}).items():
            if child not in group["children"]:
                group["children"].append(child)
            walk(child, child_body)

    for name, body in doc.items():
        walk(name, body)
    groups.setdefault("all", {"hosts": {}, "vars": {}, "children": []})
    for name in list(groups):
        if name != "all" and not any(name in g["children"] for g in groups.values()):
            groups["all"]["children"].append(name)
    return {"groups": groups}


def _ancestry(groups):
    """{group: set of groups it belongs to, itself included} and each group's depth below all."""
    parents = {}
    for name, g in groups.items():
        for child in g["children"]:
            parents.setdefault(child, set()).add(name)
    up, depth = {}, {}

    def ancestors(name, seen=()):
        if name in up:
            return up[name]
        out = {name}
        d = 0
        for p in parents.get(name, ()):
            if p in seen:
                continue
            out |= ancestors(p, seen + (name,))
            d = max(d, depth.get(p, 0) + 1)
        up[name], depth[name] = out, d
        return out

    for name in groups:
        ancestors(name)
    return up, depth


def _render(value, variables, host, name, depth=0):
    if isinstance(value, str) and "{{" in value:
        if depth > 10:
            raise InventoryError("%s: %s: variables refer to each other in a loop" % (host, name))
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        try:
            out = env.from_string(value).render(**variables)
        except jinja2.UndefinedError as exc:
            raise InventoryError("%s: variable %s: %s (is its vars file, e.g. group_vars/OSEv3/vault.yml, "
                                 "missing?)" % (host, name, exc.message))
        except jinja2.TemplateError as exc:
            raise InventoryError("%s: variable %s: %s" % (host, name, exc))
        return _render(out, variables, host, name, depth + 1)
    if isinstance(value, list):
        return [_render(v, variables, host, name, depth) for v in value]
    if isinstance(value, dict):
        return {k: _render(v, variables, host, name, depth) for k, v in value.items()}
    return value


def hosts_and_groups(path):
    """{group: [(host, data), ...]} as pyinfra's inventory wants it."""
    directory = os.path.dirname(os.path.abspath(path))
    groups = read_inventory(path)["groups"]
    up, depth = _ancestry(groups)
    member = {}
    for name, g in groups.items():
        for host in g["hosts"]:
            member.setdefault(host, set()).update(up[name])
    group_vars = {}
    for name, g in groups.items():
        merged = dict(g["vars"])
        for f in vars_files(os.path.join(directory, "group_vars"), name):
            merged.update(load_vars_file(f))
        group_vars[name] = merged
    out = {}
    for host in sorted(member):
        variables = {}
        for name in sorted(member[host] | {"all"}, key=lambda n: (n != "all", depth.get(n, 0), n)):
            variables.update(group_vars.get(name, {}))
        for name in member[host]:
            variables.update(groups[name]["hosts"].get(host, {}))
        for f in vars_files(os.path.join(directory, "host_vars"), host):
            variables.update(load_vars_file(f))
        variables.setdefault("inventory_hostname", host)
        data = {k: _render(v, variables, host, k) for k, v in variables.items()}
        for ansible_name, pyinfra_name in _CONNECTION_VARS:
            if ansible_name in data and pyinfra_name not in data:
                data[pyinfra_name] = data[ansible_name]
        data["ansible_groups"] = sorted(member[host] - {"all"})
        for name in member[host] - {"all", "ungrouped"}:
            out.setdefault(name, []).append((host, data))
    return out


_INVENTORY = os.environ.get("OKD_ANSIBLE_INVENTORY") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "hosts.yml")
for _name, _hosts in hosts_and_groups(_INVENTORY).items():
    globals()[_name] = _hosts
