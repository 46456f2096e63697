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
# through a local connection keeps testing that Python).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import pwd
import shutil
import sys

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.okd.registry_toolkit.plugins.modules import registry_verify as module_code

display = Display()

_DISCOVERY = ("", "auto", "auto_legacy", "auto_silent", "auto_legacy_silent")


def _same_python(interpreter):
    """True when INTERPRETER (a path or a command name) is the Python this process runs on."""
    path = interpreter if os.path.isabs(interpreter) else shutil.which(interpreter)
    if not path or not os.path.exists(path) or not sys.executable:
        return False
    return os.path.realpath(path) == os.path.realpath(sys.executable)


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
        why_shipped = self._why_shipped(task_vars)
        if why_shipped is None:
            display.vvv("registry_verify: runs in this worker process (local connection, the controller's "
                        "Python); the module is not shipped", host=self._play_context.remote_addr)
            with self._task_environment():
                return merge_hash(result, self._run_here())
        display.vvv("registry_verify: the module is shipped (%s)" % why_shipped, host=self._play_context.remote_addr)
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(module_name=self._task.action, task_vars=task_vars,
                                                         wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    # ------------------------------------------------------------------ where the module's code runs

    def _why_shipped(self, task_vars):
        """None when the module's code can run in this process as it would run as a module; else the reason
        it is shipped."""
        if getattr(self._connection, "transport", None) not in ("local", "ansible.builtin.local"):
            return "connection %s" % getattr(self._connection, "transport", "?")
        if self._task.async_val:
            return "async"
        become = getattr(self._connection, "become", None)
        if become is not None:
            try:
                user = become.get_option("become_user")
            except (KeyError, AnsibleError):
                user = getattr(self._play_context, "become_user", None)
            user = user or "root"
            if user != pwd.getpwuid(os.geteuid()).pw_name:
                return "become %s" % user
        if self._task.delegate_to:
            use_vars = (task_vars.get("ansible_delegated_vars") or {}).get(self._task.delegate_to, task_vars)
        else:
            use_vars = task_vars
        try:
            interpreter = C.config.get_config_value("INTERPRETER_PYTHON", variables=use_vars)
            interpreter = self._templar.template(interpreter) if interpreter else ""
        except Exception as e:  # an interpreter setting that does not template: let the module path report it
            return "interpreter setting: %s" % e
        if not isinstance(interpreter, str):
            return "interpreter setting %r" % (interpreter,)
        interpreter = interpreter.strip()
        # not pinned (discovery picks a system Python for the stdlib-only module): this process will do
        if interpreter in _DISCOVERY or _same_python(interpreter):
            return None
        return "interpreter %s is not the controller's Python %s" % (interpreter, sys.executable)

    def _task_environment(self):
        """The task's `environment` (a proxy, for example) in os.environ while the check runs here, as the
        module would see it; restored after."""
        environment = {}
        self._compute_environment_string(environment)
        return _Environ(environment)

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


class _Environ(object):
    def __init__(self, environment):
        self.environment = dict((str(k), str(v)) for k, v in environment.items())
        self.saved = {}

    def __enter__(self):
        for key, value in self.environment.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value
        return self

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        return False
