# -*- coding: utf-8 -*-
# okd-registry-toolkit: controller side of the module registry_verify (documentation:
# plugins/modules/registry_verify.py).
#
# On the controller itself (the task's connection is `local`: `delegate_to: localhost` with the implicit
# localhost, or `connection: local`) the module's own code runs here, in Ansible's worker process for the
# task, instead of being shipped to a new Python on the same machine (AnsiballZ: ~0.5 s of the ~0.7 s the
# role's controller verification took, issue 10). Nothing is copied from the module: its argument spec and
# rules are validated with ArgumentSpecValidator as AnsibleModule does (the same messages), its `verify`
# function does the work, and the result is masked as AnsibleModule masks it (every no_log option's value
# and every password read from a config file), so a play sees the same result either way.
#
# The module is shipped as before (_execute_module) when the task targets another host, and on a local
# connection when it would not run as this process would: with become to another user, with async, or with
# a Python interpreter set for the host that is not the controller's own (a test of an old Python target
# through a local connection keeps testing that Python): plugin_utils/in_worker.why_shipped, which the okd_*
# modules' actions share.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.okd.registry_toolkit.plugins.modules import registry_verify as module_code
from ansible_collections.okd.registry_toolkit.plugins.plugin_utils import in_worker

display = Display()


class _Output(object):
    """What AnsibleModule does with warnings and no_log values, for the module's ``verify`` run here."""

    def __init__(self, no_log_values):
        self.warnings = []
        self.no_log_values = set(no_log_values)

    def warn(self, msg):
        self.warnings.append(msg)

    def hide(self, value):
        self.no_log_values.add(value)

    def result(self, values, params):
        """VALUES as AnsibleModule's exit_json/fail_json return them: with ``invocation`` and ``warnings``,
        every no_log value masked (booleans and None kept)."""
        values = dict(values)
        values.setdefault("invocation", {"module_args": params})
        if self.warnings:
            values["warnings"] = list(self.warnings)
        preserved = dict((k, v) for k, v in values.items() if v is None or isinstance(v, bool))
        values = remove_values(values, self.no_log_values)
        values.update(preserved)
        return values


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # the check is read-only and runs in check mode too (as the module)
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        why_shipped = in_worker.why_shipped(self, task_vars)
        if why_shipped is None:
            display.vvv("registry_verify: runs in this worker process (local connection, the controller's "
                        "Python); the module is not shipped", host=self._play_context.remote_addr)
            with in_worker.TaskEnviron(self):
                return merge_hash(result, self._run_here())
        return merge_hash(result, in_worker.ship(self, task_vars, "registry_verify: the module is shipped (%s)"
                                                 % why_shipped))

    # ------------------------------------------------------------------ the module's code, here

    def _run_here(self):
        args = dict(self._task.args)
        validator = ArgumentSpecValidator(module_code.argument_spec(), **module_code.argument_rules())
        validation = validator.validate(args)
        params = dict(args)
        params.update(validation.validated_parameters)
        output = _Output(validation._no_log_values)
        for w in validation._warnings:  # as ModuleArgumentSpecValidator warns
            output.warn("Both option {option} and its alias {alias} are set.".format(option=w["option"],
                                                                                     alias=w["alias"]))
        try:
            error = validation.errors[0]  # as AnsibleModule (the error list has no length)
        except IndexError:
            error = None
        if error is not None:
            msg = validation.errors.msg
            if isinstance(error, UnsupportedError):
                msg = "Unsupported parameters for ({name}) {kind}: {msg}".format(name=self._task.action,
                                                                                 kind="module", msg=msg)
            return output.result(dict(failed=True, msg=msg), params)
        try:
            values = module_code.verify(params, output.warn, output.hide)
        except Exception as e:  # a bug: the module would fail with its traceback; never show a secret
            values = dict(failed=True, changed=False,
                          msg="registry_verify failed unexpectedly: %s: %s" % (type(e).__name__, e))
        return output.result(values, params)
