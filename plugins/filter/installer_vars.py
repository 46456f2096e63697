# -*- coding: utf-8 -*-
# okd-registry-toolkit: openshift-ansible 3.11 inventory variables as the toolkit's (controller side).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documentation: installer_vars.yml beside this file. The mapping itself is the core's
# plugins/module_utils/installer_vars.py (docs/variables.md has the table, docs/openshift-ansible.md the why).

from ansible.errors import AnsibleFilterError

try:  # the core's modules are imported on first use (module_utils/core_loader.py says why)
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.core_loader import ToolkitError, core
except ImportError:  # repository root on sys.path (pyinfra, unit tests)
    from plugins.module_utils.core_loader import ToolkitError, core


def installer_vars(values, host="", production=True):
    """{"vars": {toolkit variable: value}, "warnings": [...]} from one host's installer variables."""
    if not isinstance(values, dict):
        raise AnsibleFilterError("installer_vars expects a mapping of installer variables, got %s"
                                 % type(values).__name__)
    try:
        return core("installer_vars").map_installer_vars(dict(values), host=host, production=bool(production))
    except ToolkitError as e:
        raise AnsibleFilterError(e.msg)


def installer_vars_hosts(hostvars, hosts):
    """The mapping of every host in HOSTS at once, from HOSTVARS (core's plan_hosts: common, per_host,
    warnings, errors). Reads each host's installer variables and the names of the toolkit variables its
    inventory sets; only the installer variables' values are templated."""
    if isinstance(hosts, (str, bytes)) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("installer_vars_hosts expects a list of host names, got %s" % type(hosts).__name__)
    mapping = core("installer_vars")
    values, defined, production = {}, {}, {}
    hosts = [str(h) for h in hosts]
    for host in hosts:
        hv = hostvars[host]
        names = [str(k) for k in hv]
        values[host] = dict((k, hv[k]) for k in names if mapping.INSTALLER_VAR_RE.match(k))
        defined[host] = [k for k in names if mapping.TOOLKIT_VAR_RE.match(k)]
        if "okd_production_cluster" in names:
            production[host] = hv["okd_production_cluster"]
    return mapping.plan_hosts(hosts, values, defined, production)


class FilterModule(object):
    def filters(self):
        return {"installer_vars": installer_vars, "installer_vars_hosts": installer_vars_hosts}
