# -*- coding: utf-8 -*-
# okd-registry-toolkit: openshift-ansible 3.11 inventory variables as the toolkit's (controller side).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: installer_vars.yml beside this file. The mapping itself is the core's
# plugins/module_utils/installer_vars.py (docs/variables.md has the table, docs/openshift-ansible.md the why).

from ansible.errors import AnsibleFilterError

try:
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.installer_vars import map_installer_vars
except ImportError:  # repository root on sys.path (pyinfra, unit tests)
    from plugins.module_utils.errors import ToolkitError
    from plugins.module_utils.installer_vars import map_installer_vars


def installer_vars(values, host="", production=True):
    """{"vars": {toolkit variable: value}, "warnings": [...]} from one host's installer variables."""
    if not isinstance(values, dict):
        raise AnsibleFilterError("installer_vars expects a mapping of installer variables, got %s"
                                 % type(values).__name__)
    try:
        return map_installer_vars(dict(values), host=host, production=bool(production))
    except ToolkitError as e:
        raise AnsibleFilterError(e.msg)


class FilterModule(object):
    def filters(self):
        return {"installer_vars": installer_vars}
