# -*- coding: utf-8 -*-
# okd-registry-toolkit: filters over registry entries (okd_registries items), on the core's entry model.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: registry_entries.yml, registry_entry_problems.yml, registry_keys.yml and
# registry_test_images.yml beside this file (one per filter).

from ansible.errors import AnsibleFilterError

try:  # the core's modules are imported on first use (module_utils/core_loader.py says why)
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.core_loader import ToolkitError, core
except ImportError:  # repository root on sys.path (pyinfra, unit tests)
    from plugins.module_utils.core_loader import ToolkitError, core


def _label(item, index):
    name = item.get("name") if isinstance(item, dict) else None
    return "registry #%d (%s)" % (index + 1, name or (item.get("host") or item.get("registry") or "?"
                                                      if isinstance(item, dict) else "?"))


def _list(registries, what):
    if registries is None:
        return []
    if isinstance(registries, (str, bytes, dict)) or not isinstance(registries, (list, tuple)):
        raise AnsibleFilterError("%s must be a list" % what)
    return list(registries)


def registry_entry_problems(registries):
    """Messages (never a secret) for entries without a registry/host, username or password, or with a
    malformed or doubly given registry; [] when every entry is fine."""
    if isinstance(registries, (str, bytes, dict)) or not isinstance(registries, (list, tuple)):
        return ["registry_credentials_registries must be a list of {name, host, username, password, test_image}"]
    model = core("registry_entry")
    out = []
    for index, item in enumerate(registries):
        label = _label(item, index)
        if not isinstance(item, dict):
            out.append("%s is not a mapping" % label)
            continue
        try:
            model.registry_entry(item, label)
        except ToolkitError as e:
            out.append(e.msg)
        for key in ("username", "password"):
            if not item.get(key):
                out.append("%s has no %s" % (label, key))
    return out


def registry_entries(registries, remove=None):
    """[{registry: canonical key, username, password, email?}] of the entries (registry or host, maybe
    path-scoped), without those whose key is in ``remove`` (any spelling). Holds passwords: no_log."""
    removed = set(registry_keys(remove or []))
    model = core("registry_entry")
    out = []
    for index, item in enumerate(_list(registries, "registries")):
        try:
            entry = model.registry_entry(item, _label(item, index))
        except ToolkitError as e:
            raise AnsibleFilterError(e.msg)
        if entry["key"] in removed:
            continue
        new = {"registry": entry["key"], "username": entry.get("username"), "password": entry.get("password")}
        if entry.get("email"):
            new["email"] = entry["email"]
        out.append(new)
    return out


def registry_keys(names):
    """Canonical config.json keys of registry names (path scope kept; ``https://h/v1/`` -> ``h``)."""
    model = core("registry_entry")
    out = []
    for name in _list(names, "registry names"):
        try:
            key = model.normalize_key((name.get("registry") or name.get("host")) if isinstance(name, dict) else name)
        except ToolkitError as e:
            raise AnsibleFilterError(e.msg)
        if key not in out:
            out.append(key)
    return out


def registry_test_images(registries, overrides=None):
    """{canonical key: REPO:TAG} from the entries' test_image, overridden by ``overrides``
    ({registry name: REPO:TAG}, any spelling)."""
    model = core("registry_entry")
    out = {}
    for index, item in enumerate(_list(registries, "registries")):
        if not isinstance(item, dict) or not item.get("test_image"):
            continue
        try:
            out[model.registry_entry(item, _label(item, index))["key"]] = item["test_image"]
        except ToolkitError as e:
            raise AnsibleFilterError(e.msg)
    for name, image in (overrides or {}).items():
        try:
            out[model.normalize_key(name)] = image
        except ToolkitError as e:
            raise AnsibleFilterError("registry_credentials_test_images: %s" % e.msg)
    return out


class FilterModule(object):
    def filters(self):
        return {
            "registry_entries": registry_entries,
            "registry_entry_problems": registry_entry_problems,
            "registry_keys": registry_keys,
            "registry_test_images": registry_test_images,
        }
