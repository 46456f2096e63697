# -*- coding: utf-8 -*-
# okd-registry-toolkit: controller side of the module registry_compliance (documentation:
# plugins/modules/registry_compliance.py). One module call per host, as before; the action only shapes the
# arguments in Python, so the role's per-host task is cheap to template (issue 10: each template string of a
# per-host task is compiled again in every forked worker, and a collection filter in it makes the worker import
# every filter file of the collection):
#   - `expected` may hold okd_registries items as they are ({name, host or registry, username, password,
#     test_image, ...}): each becomes {registry: canonical key, username?, password?, test_image?} by the core's
#     entry model (compliance.expectation, the same function as the filter registry_expectation); a bad entry
#     fails the task naming the entry, never showing a password;
#   - an empty `ca_file` is left out (the module's default), and so is a `node_config` without `key` (the role
#     makes the run's key only when the cluster checks run); `node_config` without `host` names the file by the
#     task's inventory_hostname.
# Nothing is printed or logged here; the module's password and key options are no_log.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

try:
    from ansible_collections.okd.registry_toolkit.plugins.module_utils import compliance
    from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
except ImportError:  # repository root on sys.path (unit tests)
    from plugins.module_utils import compliance
    from plugins.module_utils.errors import ToolkitError

MODULE = "okd.registry_toolkit.registry_compliance"


def module_args(args, inventory_hostname):
    """The module's arguments from the task's (compliance.check_args). Raises ToolkitError."""
    return compliance.check_args(args, inventory_hostname)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        host = (task_vars or {}).get("inventory_hostname") or self._play_context.remote_addr
        try:
            args = module_args(self._task.args, host)
        except ToolkitError as e:
            raise AnsibleActionFail("registry_compliance: %s" % e.msg)
        result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
