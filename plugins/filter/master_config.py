# -*- coding: utf-8 -*-
# okd-registry-toolkit: the masters' trusted CAs (controller side, role okd_master_trust).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: master_ca_bundle.yml and master_config_problem.yml beside this file. The bundle check is
# the core's plugins/module_utils/master_config.py; the YAML check uses the controller's PyYAML
# (ansible-core needs it), because a RHEL 7 master's Python may not have it.

import yaml

from ansible.errors import AnsibleFilterError

try:  # the core's modules are imported on first use (module_utils/core_loader.py says why)
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.core_loader import ToolkitError, core
except ImportError:  # repository root on sys.path (unit tests)
    from plugins.module_utils.core_loader import ToolkitError, core


def master_ca_bundle(sources):
    """[{"name": what, "pem": text}] -> one PEM bundle of their certificates (each once), or an error
    naming the source that is not PEM certificates."""
    if not isinstance(sources, list) or not sources:
        raise AnsibleFilterError("master_ca_bundle expects a non-empty list of {name, pem}")
    try:
        return core("master_config").bundle([(str(s.get("name") or "CA"), s.get("pem")) for s in sources])
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
    master_config = core("master_config")
    if not isinstance(doc.get(master_config.SECTION) or {}, dict):
        return "%s: %s is not a mapping" % (path, master_config.SECTION)
    try:
        master_config.get_trusted_ca(text)
    except ToolkitError as e:
        return "%s: %s" % (path, e.msg)
    return ""


class FilterModule(object):
    def filters(self):
        return {"master_ca_bundle": master_ca_bundle, "master_config_problem": master_config_problem}
