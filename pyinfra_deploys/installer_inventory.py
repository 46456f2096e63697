"""pyinfra inventory from an openshift-ansible 3.11 INI inventory, unchanged (docs/openshift-ansible.md).

    OKD_INSTALLER_INVENTORY=/path/to/hosts .venv/bin/pyinfra pyinfra_deploys/installer_inventory.py \
        pyinfra_deploys/registry_credentials.py --dry
    (default: inventory/lab/openshift-ansible.ini, written by `python -m lab up`)

A small reader of Ansible's INI inventory format (no Ansible needed): `[group]` host lines
(`name key=value ...`, shell-quoted), `[group:children]`, `[group:vars]` `key=value` lines whose values
are read as Ansible reads them (ast.literal_eval, else the string). Variables: [all:vars], then the
groups' vars (parents before children), then the host line's. Each host becomes `(address, data)` in
the groups `masters`, `nodes`, `etcd` (and any other group), named by its `ansible_host` like the lab's
pyinfra inventory; connection from `ansible_user`, `ansible_port`, `ansible_ssh_private_key_file` and an
ssh config given as `-F FILE` in `ansible_ssh_common_args` (its UserKnownHostsFile is used with strict
host key checking). The installer's registry variables are mapped by the toolkit core
(plugins/module_utils/installer_vars.py, the same mapping as playbooks/installer_vars.py) into the keys
the deploys read (`okd_registries`, `registry_credentials_verify_controller`, ...), only where the file
does not set the toolkit key itself; the mapping's warnings are printed once to stderr. Bad values stop
with the host and the variable named, never a password.
"""
import ast
import os
import shlex
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from plugins.module_utils.errors import ToolkitError  # noqa: E402
from plugins.module_utils.installer_vars import map_installer_vars  # noqa: E402

_DEFAULT = os.path.join(_ROOT, "inventory", "lab", "openshift-ansible.ini")
_INSTALLER_PREFIXES = ("oreg_", "openshift_")


def parse_value(text):
    """An INI [group:vars] value as Ansible reads it (literal_eval, else the string as written)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def read_ini(text):
    """{"hosts": {name: {vars}}, "groups": {group: [hosts]}, "children": {group: [groups]},
    "group_vars": {group: {vars}}} of an Ansible INI inventory."""
    hosts, groups, children, group_vars = {}, {}, {}, {}
    section, kind = "ungrouped", "hosts"
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip()
            section, _, kind = name.partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise ValueError("line %d: unknown section type [%s]" % (lineno, name))
            groups.setdefault(section, [])
            continue
        if kind == "vars":
            if "=" not in line:
                raise ValueError("line %d: [%s:vars] expects key=value" % (lineno, section))
            k, v = [x.strip() for x in line.split("=", 1)]
            group_vars.setdefault(section, {})[k] = parse_value(v)
        elif kind == "children":
            children.setdefault(section, []).append(line)
            groups.setdefault(line, [])
        else:
            tokens = shlex.split(line, comments=True)
            name, hv = tokens[0], {}
            for t in tokens[1:]:
                if "=" not in t:
                    raise ValueError("line %d: host variable %r is not key=value" % (lineno, t))
                k, v = t.split("=", 1)
                hv[k] = parse_value(v)
            hosts.setdefault(name, {}).update(hv)
            if name not in groups.setdefault(section, []):
                groups[section].append(name)
    return {"hosts": hosts, "groups": groups, "children": children, "group_vars": group_vars}


def _ancestry(inv, host):
    """The groups of `host`, parents before children ('all' first)."""
    parents = {}
    for parent, kids in inv["children"].items():
        for kid in kids:
            parents.setdefault(kid, []).append(parent)
    direct = [g for g, members in inv["groups"].items() if host in members]
    order = []

    def visit(g, seen=()):
        for p in parents.get(g, []):
            if p not in seen:
                visit(p, seen + (g,))
        if g not in order:
            order.append(g)
    for g in direct:
        visit(g)
    return ["all"] + [g for g in order if g != "all"]


def _known_hosts(ssh_config):
    try:
        with open(ssh_config) as f:
            for line in f:
                parts = line.split(None, 1)
                if len(parts) == 2 and parts[0].lower() == "userknownhostsfile":
                    return parts[1].strip()
    except OSError:
        pass
    return None


def host_data(inv, name, production_default=True):
    """(address, data, groups, warnings) of one host."""
    groups = _ancestry(inv, name)
    v = {}
    for g in groups:
        v.update(inv["group_vars"].get(g, {}))
    v.update(inv["hosts"].get(name, {}))
    data = dict((k, val) for k, val in v.items() if not k.startswith("ansible_"))
    data["installer_name"] = name
    data["installer_groups"] = [g for g in groups if g != "all"]
    if v.get("ansible_user"):
        data["ssh_user"] = v["ansible_user"]
    if v.get("ansible_port"):
        data["ssh_port"] = int(v["ansible_port"])
    if v.get("ansible_ssh_private_key_file"):
        data["ssh_key"] = v["ansible_ssh_private_key_file"]
    args = shlex.split(str(v.get("ansible_ssh_common_args") or ""))
    if "-F" in args[:-1]:
        cfg = args[args.index("-F") + 1]
        kh = _known_hosts(cfg)
        if kh:
            data["ssh_known_hosts_file"] = kh
            data["ssh_strict_host_key_checking"] = "yes"
    installer = dict((k, val) for k, val in v.items() if k.startswith(_INSTALLER_PREFIXES))
    try:
        mapped = map_installer_vars(installer, host=name,
                                    production=str(v.get("okd_production_cluster", production_default)).lower()
                                    not in ("false", "no", "0", "off"))
    except ToolkitError as e:
        raise SystemExit("installer inventory: %s" % e.msg)
    for k, val in mapped["vars"].items():
        data.setdefault(k, val)  # the file's own toolkit keys win
    return str(v.get("ansible_host") or name), data, groups, mapped["warnings"]


def pyinfra_groups(path=None):
    """{group: [(address, data), ...]} for pyinfra, and the warnings (each once, with its hosts)."""
    path = path or os.environ.get("OKD_INSTALLER_INVENTORY") or _DEFAULT
    with open(path, encoding="utf-8") as f:
        inv = read_ini(f.read())
    out, warned = {}, {}
    names = sorted(set(h for members in inv["groups"].values() for h in members))
    built = {}
    for name in names:
        addr, data, groups, warnings = host_data(inv, name)
        built[name] = (addr, data)
        for w in warnings:
            warned.setdefault(w, []).append(name)
    for g, members in inv["groups"].items():
        if g in ("all", "ungrouped") or g in inv["children"]:
            continue
        out[g] = [built[h] for h in members]
    return out, ["%s: %s" % (", ".join(hs), w) for w, hs in warned.items()]


if __name__ != "__main__" and not os.environ.get("OKD_INSTALLER_INVENTORY_NO_LOAD"):
    _groups, _warnings = pyinfra_groups()
    for _w in _warnings:
        sys.stderr.write("WARNING: %s\n" % _w)
    globals().update(_groups)
