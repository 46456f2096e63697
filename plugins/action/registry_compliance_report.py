# -*- coding: utf-8 -*-
# okd-registry-toolkit: write the compliance report (JSON and JUnit XML) on the controller in one task, with no
# module round trip. Documentation: plugins/modules/registry_compliance_report.py.
#
# The report is built by the role (vars/main.yml: hosts, cluster); this adds the opt-in smoke check to the
# cluster section (core: cluster_compliance.smoke_result), writes both files 0600 and atomically (a temp file in
# the same directory, renamed), also in check mode (the report is the run's output, as before), and returns the
# final report, its table, one summary line per host and the run's verdict (`findings`: the failure naming every
# non-compliant host and check, empty when all are compliant), so the role prints and fails once (run_once)
# instead of in a debug and an assert task on every host (issue 10). Nothing in the report is a secret: the role
# passes only check results.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase

try:
    from ansible_collections.okd.registry_toolkit.plugins.module_utils import cluster_compliance as cc
    from ansible_collections.okd.registry_toolkit.plugins.module_utils import localfile
except ImportError:  # repository root on sys.path (unit tests)
    from plugins.module_utils import cluster_compliance as cc
    from plugins.module_utils import localfile


def report_with_smoke(report, smoke):
    """The report with the smoke outcome as the cluster check ``registry_smoke`` (no smoke: unchanged)."""
    out = dict(report)
    if smoke:
        out["cluster"] = cc.with_cluster_results(out.get("cluster") or {}, [cc.smoke_result(smoke)])
    return out


def report_json(report):
    """The JSON text as the role wrote it with to_nice_json (sorted keys, 4 spaces), with a final newline."""
    return json.dumps(report, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


def write_private(path, text):
    """Write ``text`` to ``path`` atomically, mode 0600 (the report names hosts, users and paths)."""
    path = os.path.abspath(os.path.expanduser(path))
    return localfile.write_private(path, to_bytes(text))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("report", "smoke", "report_path", "junit_path"))

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        report = args.get("report")
        smoke = args.get("smoke")
        report_path = args.get("report_path")
        junit_path = args.get("junit_path") or ""
        if not isinstance(report, dict) or not isinstance(report.get("hosts", {}), dict):
            raise AnsibleActionFail("registry_compliance_report: report must be a dict with hosts")
        if smoke is not None and not isinstance(smoke, dict):
            raise AnsibleActionFail("registry_compliance_report: smoke must be a dict (the smoke check's outcome)")
        if not report_path or not isinstance(report_path, string_types) \
                or not isinstance(junit_path, string_types):
            raise AnsibleActionFail("registry_compliance_report: report_path (and junit_path) must be paths")
        report = report_with_smoke(report, smoke)
        try:
            written = [write_private(report_path, report_json(report))]
            if junit_path:
                written.append(write_private(junit_path, cc.junit_xml(report)))
        except (IOError, OSError) as e:
            raise AnsibleActionFail("registry_compliance_report: cannot write the report: %s" % to_text(e))
        result.update(changed=False, report=report, table=cc.report_table(report), written=written,
                      summary=cc.hosts_summary(report), findings=cc.findings_message(report, report_path),
                      msg="wrote %s" % ", ".join(written))
        return result
