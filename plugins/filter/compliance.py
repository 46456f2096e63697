# -*- coding: utf-8 -*-
# Filters used by the registry_compliance role.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: registry_expectation
short_description: Turn an okd_registries entry into a registry_compliance expectation
description:
  - Maps C({name, host, username, password, test_image}) to C({registry, username, password, test_image}).
  - C(host) and C(registry) are the same field (give one); the registry may carry a path scope
    (C(quay.io/orgA)), kept in the result as the canonical key.
positional: _input
options:
  _input:
    description: One entry of okd_registries.
    type: dict
    required: true
"""


try:
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.registry_entry import registry_entry
except ImportError:  # repository root on sys.path (pyinfra, unit tests)
    from plugins.module_utils.errors import ToolkitError
    from plugins.module_utils.registry_entry import registry_entry

try:
    from ansible.errors import AnsibleFilterError as _FilterError
except ImportError:  # pyinfra: the core's own error
    _FilterError = ToolkitError


def registry_expectation(entry):
    """{registry: canonical key (path scope kept), username?, password?, test_image?} of one entry
    (registry or host, resolved by the core's entry model)."""
    try:
        item = registry_entry(entry, "okd_registries entry %s" % (
            entry.get("name") if isinstance(entry, dict) and entry.get("name") else "?"))
    except ToolkitError as e:
        raise _FilterError(e.msg)
    out = {"registry": item["key"]}
    for key in ("username", "password", "test_image"):
        if item.get(key):
            out[key] = item[key]
    return out


def compliance_host_report(result):
    """The report for one host from its registered registry_compliance result (no secrets in it)."""
    if not isinstance(result, dict):
        return {"compliant": False, "unreachable": False, "error": "no result (host skipped)", "results": []}
    if result.get("unreachable"):
        return {"compliant": False, "unreachable": True, "error": result.get("msg", "unreachable"),
                "results": []}
    report = {"compliant": bool(result.get("compliant")), "unreachable": False,
              "results": result.get("results", [])}
    if result.get("failed") and "results" not in result:
        report["error"] = result.get("msg", "")
    if "summary" in result:
        report["counts"] = result["summary"].get("counts", {})
    return report


class FilterModule(object):
    def filters(self):
        return {
            "registry_expectation": registry_expectation,
            "compliance_host_report": compliance_host_report,
        }
