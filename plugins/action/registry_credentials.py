# -*- coding: utf-8 -*-
# okd-registry-toolkit: controller side of the module registry_credentials (documentation:
# plugins/modules/registry_credentials.py). One module call per host, as before; the action only shapes
# what Ansible shows of its result, so the role needs no report or failure task of its own (issue 10):
#   - a failure names the host: "registry_credentials: HOST: FILE: cause" (every cause);
#   - `report`: one line per file (and per registry the host verified), or the failure, ending in a
#     newline so the YAML result format shows it as a block, unwrapped;
#   - the result is shown at every verbosity (changed files, registries, the host's verification), like
#     debug's output, never a secret: the module masks its secret options and every password it reads;
#   - the module's `invocation` (its arguments, masked) is dropped from the result: it would only repeat
#     every registry and user name for every host;
#   - `compliance` (site.yml: the call also makes registry_compliance's checks) is shaped as that module's
#     action shapes its arguments (compliance.check_args); with it, the result is shown only with -v or on
#     failure (each host's checks would be dozens of lines): the role prints one run_once report instead.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


def compliance_args(args, host):
    """``args`` of the compliance option shaped as registry_compliance's action shapes its own (the core's
    compliance.check_args; imported here, on first use: each forked worker imports an action's modules again).
    Raises AnsibleActionFail naming a bad entry, never a password."""
    try:
        from ansible_collections.okd.registry_toolkit.plugins.module_utils import compliance
        from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
    except ImportError:  # repository root on sys.path (unit tests)
        from plugins.module_utils import compliance
        from plugins.module_utils.errors import ToolkitError
    try:
        return compliance.check_args(args, host)
    except ToolkitError as e:
        raise AnsibleActionFail("registry_credentials: %s: compliance: %s" % (host, e.msg))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        host = (task_vars or {}).get("inventory_hostname") or self._play_context.remote_addr
        args = self._task.args
        if args.get("compliance"):
            args = dict(args, compliance=compliance_args(args["compliance"], host))
        module_result = self._execute_module(module_name="okd.registry_toolkit.registry_credentials",
                                             module_args=args, task_vars=task_vars)
        result.update(module_result)
        result.pop("invocation", None)
        if result.get("unreachable") or result.get("skipped"):
            return result
        if result.get("failed"):
            msg = str(result.get("msg") or "failed without a message")
            if not msg.startswith("registry_credentials: "):
                result["msg"] = msg = "registry_credentials: %s: %s" % (host, msg)
            lines = [msg]
        else:
            lines = [str(f.get("msg", "")) for f in result.get("files") or []] or [str(result.get("msg", ""))]
            lines += ["verified from %s: %s" % (host, v) for v in result.get("verified") or []]
            if not args.get("compliance"):
                result["_ansible_verbose_always"] = True
        # one line per file and registry, ending in a newline: shown as a YAML block, never wrapped
        result["report"] = "\n".join(lines) + "\n"
        return result
