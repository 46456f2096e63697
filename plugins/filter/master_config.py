# -*- coding: utf-8 -*-
# okd-registry-toolkit: the masters' trusted CAs (controller side, role okd_master_trust).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: master_ca_bundle.yml and master_config_problem.yml beside this file. The bundle check is
# the core's plugins/module_utils/master_config.py; the YAML check uses the controller's PyYAML
# (ansible-core needs it), because a RHEL 7 master's Python may not have it.

import yaml

from ansible.errors import AnsibleFilterError

try:
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
except ImportError:  # repository root on sys.path (unit tests)
    from plugins.module_utils.errors import ToolkitError


def _core():
    """The core's master_config, imported on first use rather than when this file loads: ansible-core imports
    every filter file of the collection, from source, in each worker process whenever any of its filters is
    used (issue 10)."""
    try:
        from ansible_collections.okd.registry_toolkit.plugins.module_utils import master_config
    except ImportError:  # repository root on sys.path (unit tests)
        from plugins.module_utils import master_config
    return master_config


def master_ca_bundle(sources):
    """[{"name": what, "pem": text}] -> one PEM bundle of their certificates (each once), or an error
    naming the source that is not PEM certificates."""
    if not isinstance(sources, list) or not sources:
        raise AnsibleFilterError("master_ca_bundle expects a non-empty list of {name, pem}")
    try:
        return _core().bundle([(str(s.get("name") or "CA"), s.get("pem")) for s in sources])
    except ToolkitError as e:
        raise AnsibleFilterError(e.msg)
    except AttributeError:
        raise AnsibleFilterError("master_ca_bundle expects a list of {name, pem} mappings")


def master_config_problem(text, path="master-config.yaml"):
    """"" when text is a master-config.yaml the toolkit can edit, else the reason (never the content)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        if mark is not None and getattr(e, "problem", None):
            return "%s does not parse as YAML: %s (line %d, column %d)" % (
                path, e.problem, mark.line + 1, mark.column + 1)
        return "%s does not parse as YAML" % path
    if not isinstance(doc, dict) or doc.get("kind") != "MasterConfig":
        return "%s is not a MasterConfig (kind: MasterConfig)" % path
    section = _core().SECTION
    if not isinstance(doc.get(section) or {}, dict):
        return "%s: %s is not a mapping" % (path, section)
    try:
        _core().get_trusted_ca(text)
    except ToolkitError as e:
        return "%s: %s" % (path, e.msg)
    return ""


class FilterModule(object):
    def filters(self):
        return {"master_ca_bundle": master_ca_bundle, "master_config_problem": master_config_problem}
