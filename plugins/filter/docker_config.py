# -*- coding: utf-8 -*-
# okd-registry-toolkit: filters over docker config.json content (controller side).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: docker_config_auths.yml and docker_config_redact.yml beside this file (one per filter).

import base64
import binascii
import json

from ansible.errors import AnsibleFilterError

try:  # the core's modules are imported on first use (module_utils/core_loader.py says why)
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.core_loader import ToolkitError, core
except ImportError:  # repository root on sys.path (pyinfra, unit tests)
    from plugins.module_utils.core_loader import ToolkitError, core


def _text_of(data):
    """config.json text from text, bytes, base64 text or a slurp result."""
    if isinstance(data, dict) and "content" in data:
        encoding = data.get("encoding", "base64")
        data = data["content"]
        if encoding == "base64":
            return _b64(data)
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    if data is None:
        return ""
    if not isinstance(data, str):
        raise AnsibleFilterError("expected config.json text, base64 text or a slurp result, got %s"
                                 % type(data).__name__)
    stripped = data.strip()
    if not stripped or stripped.startswith("{") or stripped.startswith("["):
        return data
    return _b64(stripped)


def _b64(data):
    try:
        return base64.b64decode(data, validate=False).decode("utf-8")
    except (binascii.Error, ValueError, TypeError):
        raise AnsibleFilterError("input is neither config.json text nor base64 of it")


def _parse(data):
    try:
        return core("dockercfg").parse_config(_text_of(data), source="config.json (filter input)")
    except ToolkitError as e:
        raise AnsibleFilterError(e.msg)


def docker_config_auths(data):
    """[{registry, username, password}] for every auths entry with credentials (the core's rules)."""
    return core("dockercfg").credential_entries(_parse(data))


def docker_config_redact(data):
    """The parsed config with every secret redacted."""
    # plain dicts (json round trip): Ansible's variable storage does not take OrderedDict
    return json.loads(json.dumps(core("dockercfg").redact_config(_parse(data))))


class FilterModule(object):
    def filters(self):
        return {
            "docker_config_auths": docker_config_auths,
            "docker_config_redact": docker_config_redact,
        }
