#!/usr/bin/python
# -*- coding: utf-8 -*-
# okd-registry-toolkit: documentation of the registry_compliance_report action (plugins/action/
# registry_compliance_report.py does the work, on the controller, with no module round trip).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: registry_compliance_report
short_description: Write the compliance report (JSON and JUnit XML) on the controller
version_added: "0.2.0"
description:
  - Runs on the controller (action plugin), in one task and without a module round trip. Used by the
    registry_compliance role after the host and cluster checks.
  - Adds the outcome of the opt-in smoke check of the integrated registry (O(smoke)) to the report's C(cluster)
    section as the check C(registry_smoke), then writes O(report_path) (JSON, sorted keys, 4 spaces) and
    O(junit_path) (JUnit XML), each mode 0600 and atomically (a temp file in the same directory, renamed).
  - Writes in check mode too (the report is the run's output; nothing on any host changes).
  - The report holds check results only; no credential, token or fingerprint of one is passed to it.
options:
  report:
    description: The report as the role builds it, C({generated_by, hosts, cluster?}) (docs/compliance.md).
    type: dict
    required: true
  smoke:
    description:
      - The smoke check's outcome, C({state, registry, object, message, task, plan}); C(state) is C(pass), C(fail)
        (C(task) is the failed task's name, C(Smoke N/9, what), C(message) the registry's or the API's own
        message) or C(check_mode) (C(plan) says what would be done; the check is C(skip)).
      - Omitted, the report has no C(registry_smoke) check.
    type: dict
  report_path:
    description: Path of the JSON report on the controller.
    type: path
    required: true
  junit_path:
    description: Path of the JUnit XML report on the controller; empty, not written.
    type: path
    default: ""
attributes:
  check_mode:
    description: Writes the report files in check mode too; changes nothing on any host.
    support: full
  diff_mode:
    description: No diff.
    support: none
author:
  - okd-registry-toolkit contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Write the compliance reports
  okd.registry_toolkit.registry_compliance_report:
    report: "{{ report }}"
    report_path: /tmp/compliance-report.json
    junit_path: /tmp/compliance-report.xml
  run_once: true
  register: written
"""

RETURN = r"""
report:
  description: The report as written (with the C(registry_smoke) check when O(smoke) was given).
  type: dict
  returned: always
table:
  description: The report as a readable table, one line per check, then the counts.
  type: str
  returned: always
summary:
  description:
    - "One line per host, C(HOST: compliant), C(HOST: UNREACHABLE) or C(HOST: NOT compliant: MESSAGE; ...) (the
      failed checks' messages, or the host's error)."
  type: str
  returned: always
findings:
  description:
    - "Empty when the cluster (when checked) and every host are compliant; else the failure the role fails the play
      with, one line each: C(the cluster is not compliant: MESSAGES), C(HOST is not compliant (N failed checks:
      CHECK [REGISTRY]: MESSAGE; ...)) (an unreachable host: C(unreachable: ERROR)), then C(see REPORT_PATH)."
  type: str
  returned: always
written:
  description: The paths written.
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    """Only the action plugin writes the report; run as a module (no action plugin) this says so."""
    module = AnsibleModule(argument_spec=dict(report=dict(type="dict", required=True), smoke=dict(type="dict"),
                                              report_path=dict(type="path", required=True),
                                              junit_path=dict(type="path", default="")),
                           supports_check_mode=True)
    module.fail_json(msg="registry_compliance_report runs on the controller as an action plugin")


if __name__ == "__main__":
    main()
