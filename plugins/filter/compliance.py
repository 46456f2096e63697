# -*- coding: utf-8 -*-
# Filters used by the registry_compliance role.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Each filter is documented in its own file beside this one (registry_expectation.yml,
# compliance_host_report.yml, compliance_cluster_report.yml, compliance_junit_xml.yml, compliance_table.yml).


try:
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.registry_entry import registry_entry
except ImportError:  # repository root on sys.path (pyinfra, unit tests)
    from plugins.module_utils.errors import ToolkitError
    from plugins.module_utils.registry_entry import registry_entry
try:
    from ansible_collections.okd.registry_toolkit.plugins.module_utils import cluster_compliance as _cc
except ImportError:  # repository root on sys.path (pyinfra, unit tests)
    from plugins.module_utils import cluster_compliance as _cc

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


def compliance_cluster_report(result):
    """The report's ``cluster`` section from the registered okd_cluster_compliance result (no secrets in it)."""
    if not isinstance(result, dict) or result.get("skipped"):
        return {"compliant": False, "error": "no result (cluster checks skipped)", "results": []}
    report = {"compliant": bool(result.get("compliant")), "results": result.get("results", [])}
    if result.get("failed") and "results" not in result:
        report["error"] = result.get("msg", "") or "the cluster checks failed"
    if "summary" in result:
        report["counts"] = result["summary"].get("counts", {})
    return report


def compliance_junit_xml(report):
    """JUnit XML of a compliance report (one testcase per host/check and per cluster check)."""
    return _cc.junit_xml(report)


def compliance_table(report):
    """A readable table of a compliance report, one line per check."""
    return _cc.report_table(report)


class FilterModule(object):
    def filters(self):
        return {
            "registry_expectation": registry_expectation,
            "compliance_host_report": compliance_host_report,
            "compliance_cluster_report": compliance_cluster_report,
            "compliance_junit_xml": compliance_junit_xml,
            "compliance_table": compliance_table,
        }
