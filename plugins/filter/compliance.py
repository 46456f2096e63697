# -*- coding: utf-8 -*-
# Filters used by the registry_compliance role.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Each filter is documented in its own file beside this one (registry_expectation.yml,
# compliance_host_report.yml, compliance_of_credentials.yml, compliance_cluster_report.yml, compliance_junit_xml.yml,
# compliance_table.yml).
#
# Cheap to import (issue 10): ansible-core imports every filter file of the collection in a worker whenever a
# template of that worker uses any of its filters, so the core modules are imported only when a filter that needs
# them runs (module_utils/core_loader.py), not when this file is loaded.

try:
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.core_loader import ToolkitError, core
except ImportError:  # repository root on sys.path (pyinfra, unit tests)
    from plugins.module_utils.core_loader import ToolkitError, core


def _filter_error(msg):
    try:
        from ansible.errors import AnsibleFilterError
    except ImportError:  # pyinfra: the core's own error
        return ToolkitError(msg)
    return AnsibleFilterError(msg)


def registry_expectation(entry):
    """{registry: canonical key (path scope kept), username?, password?, test_image?} of one entry
    (registry or host, resolved by the core's entry model: compliance.expectation)."""
    try:
        return core("compliance").expectation(entry)
    except ToolkitError as e:
        raise _filter_error(e.msg)


def compliance_of_credentials(result):
    """The registry_compliance-shaped result of one host from its registered registry_credentials result whose
    call made the checks (option ``compliance``, site.yml): the checks as they are; an unreachable host as it is;
    a failed write (or checks that could not be made) ``failed`` with ``error`` naming the cause, beside the
    checks that were made."""
    if not isinstance(result, dict) or result.get("unreachable"):
        return result
    checks = result.get("compliance")
    out = dict(checks) if isinstance(checks, dict) else {"failed": True, "msg": "the credentials call made no checks"}
    errors = []
    if out.get("failed"):  # the checks could not be made
        errors.append(out.pop("msg", None))
    if result.get("failed"):  # the write failed
        errors.append(result.get("msg"))
    errors = [str(m) for m in errors if m]
    if errors:
        out.update(failed=True, compliant=False, error="; ".join(errors))
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
    if result.get("error"):
        report["error"] = result["error"]
    elif result.get("failed") and "results" not in result:
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
    return core("cluster_compliance").junit_xml(report)


def compliance_table(report):
    """A readable table of a compliance report, one line per check."""
    return core("cluster_compliance").report_table(report)


class FilterModule(object):
    def filters(self):
        return {
            "registry_expectation": registry_expectation,
            "compliance_host_report": compliance_host_report,
            "compliance_of_credentials": compliance_of_credentials,
            "compliance_cluster_report": compliance_cluster_report,
            "compliance_junit_xml": compliance_junit_xml,
            "compliance_table": compliance_table,
        }
