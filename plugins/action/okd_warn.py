# -*- coding: utf-8 -*-
# okd-registry-toolkit: show messages as Ansible warnings ([WARNING]), on the controller, changing nothing.
# Documentation: plugins/modules/okd_warn.py.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("msg",))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        msg = self._task.args.get("msg")
        if msg is None:
            msg = []
        if isinstance(msg, string_types):
            msg = [msg]
        if not isinstance(msg, (list, tuple)) or not all(isinstance(m, string_types) for m in msg):
            raise AnsibleActionFail("okd_warn: msg must be a string or a list of strings")
        result.update(changed=False, warnings=[m for m in msg if m], msg="%d warning(s)" % len([m for m in msg if m]))
        return result
