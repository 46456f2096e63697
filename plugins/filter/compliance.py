# -*- coding: utf-8 -*-
# Filters used by the registry_compliance role.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: registry_expectation
short_description: Turn an okd_registries entry into a registry_compliance expectation
description:
  - Maps C({name, host, username, password, test_image}) to C({registry, username, password, test_image}).
positional: _input
options:
  _input:
    description: One entry of okd_registries.
    type: dict
    required: true
"""


def registry_expectation(entry):
    out = {"registry": entry["host"]}
    for key in ("username", "password", "test_image"):
        if entry.get(key):
            out[key] = entry[key]
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
