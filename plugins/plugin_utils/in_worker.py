# -*- coding: utf-8 -*-
# okd-registry-toolkit: run a controller-local module in Ansible's worker process, not as a new Python.
#
# The cluster roles' API calls (okd_resource, okd_image_import, okd_registry_secret, ...) run on the
# controller (`delegate_to: localhost`). Shipped the usual way, each call starts a new Python that imports
# ansible.module_utils.basic and the module's utilities again (AnsiballZ over the local connection): 0.3 to
# 0.5 s a call, a dozen calls in a `site.yml` run (issue 10). Here, when the task's connection is local and
# the module would run as this process runs (`why_shipped` below), the worker forks and the child runs the
# module exactly as the AnsiballZ wrapper does: its arguments, with Ansible's internal ones
# (_update_module_args), encoded as the controller encodes them for a module, in
# `ansible.module_utils.basic._ANSIBLE_ARGS`, module_utils switched back to a target's behaviour
# (_as_on_a_target), the module run as `__main__` (runpy), its stdout and stderr
# and exit code returned to the worker, which parses them as it parses a shipped module's
# (_parse_returned_data). So argument validation, check mode, diff, no_log masking and warnings are the
# module's own, and a play sees the same result either way.
#
# Why a fork and not the module's main() in the worker itself (as ansible.netcommon's "import_modules"
# does): a module may chdir, set environment variables or locale, register atexit handlers, keep global
# warnings (a loop's items would see each other's), exit with os._exit or crash the interpreter. The child
# takes all of that with it. The fork costs a few milliseconds; the modules it runs are stdlib HTTP clients.
#
# The module is shipped as before when the task targets another host, and on a local connection when it
# would not run as this process would: with become to another user, with async, or with a Python
# interpreter set for the host that is not the controller's own (a test of an old Python target through a
# local connection keeps testing that Python).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect
import io
import json
import os
import pwd
import runpy
import selectors
import shutil
import signal
import sys
import tempfile
import threading
import traceback

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils import basic
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash
from ansible.vars.clean import remove_internal_keys

from ansible.module_utils.common.json import AnsibleJSONEncoder

try:  # ansible-core 2.19+: serialization profiles
    from ansible.module_utils.common.json import Direction, get_module_encoder
except ImportError:  # ansible-core 2.16 to 2.18
    Direction = get_module_encoder = None

display = Display()

_DISCOVERY = ("", "auto", "auto_legacy", "auto_silent", "auto_legacy_silent")
_PROFILE = "legacy"  # the serialization profile of a module that declares none (all of this collection's)


def _same_python(interpreter):
    """True when INTERPRETER (a path or a command name) is the Python this process runs on."""
    path = interpreter if os.path.isabs(interpreter) else shutil.which(interpreter)
    if not path or not os.path.exists(path) or not sys.executable:
        return False
    return os.path.realpath(path) == os.path.realpath(sys.executable)


def why_shipped(action, task_vars):
    """None when ACTION's module can run in this process as it would run as a shipped module; else the reason
    it is shipped."""
    connection = action._connection
    if getattr(connection, "transport", None) not in ("local", "ansible.builtin.local"):
        return "connection %s" % getattr(connection, "transport", "?")
    if action._task.async_val:
        return "async"
    become = getattr(connection, "become", None)
    if become is not None:
        try:
            user = become.get_option("become_user")
        except (KeyError, AnsibleError):
            user = getattr(action._play_context, "become_user", None)
        user = user or "root"
        if user != pwd.getpwuid(os.geteuid()).pw_name:
            return "become %s" % user
    if action._task.delegate_to:
        use_vars = (task_vars.get("ansible_delegated_vars") or {}).get(action._task.delegate_to, task_vars)
    else:
        use_vars = task_vars
    try:
        interpreter = C.config.get_config_value("INTERPRETER_PYTHON", variables=use_vars)
        interpreter = action._templar.template(interpreter) if interpreter else ""
    except Exception as e:  # an interpreter setting that does not template: let the module path report it
        return "interpreter setting: %s" % e
    if not isinstance(interpreter, str):
        return "interpreter setting %r" % (interpreter,)
    interpreter = interpreter.strip()
    # not pinned (discovery picks a system Python for the stdlib-only modules): this process will do
    if interpreter in _DISCOVERY or _same_python(interpreter):
        return None
    return "interpreter %s is not the controller's Python %s" % (interpreter, sys.executable)


def ship(action, task_vars, why):
    """ACTION's module shipped and run the usual way (AnsiballZ), after saying WHY at -vvv: its result."""
    display.vvv(why, host=action._play_context.remote_addr)
    wrap_async = action._task.async_val and not action._connection.has_native_async
    result = action._execute_module(module_name=action._task.action, task_vars=task_vars, wrap_async=wrap_async)
    if not wrap_async:
        action._remove_tmp_path(action._connection._shell.tmpdir)
    return result


def task_environment(action):
    """The task's `environment` (a proxy, for example) as a dict of strings, as a module would see it."""
    environment = {}
    action._compute_environment_string(environment)
    return dict((str(k), str(v)) for k, v in environment.items())


class TaskEnviron(object):
    """The task's environment in os.environ while a check runs in this process; restored after."""

    def __init__(self, action):
        self.environment = task_environment(action)
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


def _encode_args(module_args):
    params = dict(ANSIBLE_MODULE_ARGS=module_args)
    if get_module_encoder is not None:
        return json.dumps(params, cls=get_module_encoder(_PROFILE, Direction.CONTROLLER_TO_MODULE)).encode("utf-8")
    return json.dumps(params, cls=AnsibleJSONEncoder, vault_to_text=True).encode("utf-8")


def _as_on_a_target():  # pragma: no cover - runs in the fork
    """ansible's module_utils as on a target host. Importing the controller (ansible-core 2.19+) switches a few of
    them to controller behaviour (ansible/_internal/__init__.py, utils/display.py): module.warn() and deprecate()
    would go to the controller's display instead of the module's result, JSON would use the controller's
    encoders, tracebacks the controller's settings. The child puts back what a target has."""
    try:
        from ansible.module_utils import _internal
    except ImportError:  # ansible-core 2.16 to 2.18: module_utils do not know where they run
        return
    if not getattr(_internal, "is_controller", False):
        return
    _internal.is_controller = False
    _internal.import_controller_module = lambda _name: None
    _internal.get_controller_serialize_map = dict
    try:
        from ansible.module_utils._internal import _traceback
        _traceback._is_traceback_enabled = _traceback._is_module_traceback_enabled
    except (ImportError, AttributeError):
        pass


def _child(module_fqn, json_params, environment, out_w, err_w):  # pragma: no cover - runs in the fork
    """The forked child: the module as the AnsiballZ wrapper runs it; never returns."""
    code = 1
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        for fd in (null, out_w, err_w):
            os.close(fd)
        sys.stdin = io.open(0, "r", closefd=False)
        sys.stdout = io.open(1, "w", encoding="utf-8", errors="surrogateescape", closefd=False)
        sys.stderr = io.open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
        os.environ.update(environment)
        _as_on_a_target()
        basic._ANSIBLE_ARGS = json_params
        if hasattr(basic, "_ANSIBLE_PROFILE"):
            basic._ANSIBLE_PROFILE = _PROFILE
        try:
            runpy.run_module(mod_name=module_fqn, init_globals=dict(_module_fqn=module_fqn, _modlib_path=None),
                             run_name="__main__", alter_sys=True)
            sys.stderr.write("New-style module did not handle its own exit.\n")
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                sys.stderr.write("%s\n" % (e.code,))
        except BaseException:  # the module crashed: its traceback on stderr, as the wrapper leaves it
            traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _collect(pid, out_r, err_r):
    """Both pipes read to their end (no deadlock on a full pipe), then the child's exit code."""
    chunks = {out_r: [], err_r: []}
    sel = selectors.DefaultSelector()
    for fd in (out_r, err_r):
        sel.register(fd, selectors.EVENT_READ)
    open_fds = 2
    while open_fds:
        for key, _events in sel.select():
            data = os.read(key.fd, 65536)
            if data:
                chunks[key.fd].append(data)
            else:
                sel.unregister(key.fd)
                open_fds -= 1
    sel.close()
    _pid, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status):
        rc = os.WEXITSTATUS(status)
    else:
        rc = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else 1
    return rc, b"".join(chunks[out_r]), b"".join(chunks[err_r])


class InWorkerModuleAction(ActionBase):
    """The action of a module that, on the controller, runs in a fork of the worker (see the file's head)."""

    TRANSFERS_FILES = False
    _supports_check_mode = True  # the module decides, as when shipped
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(InWorkerModuleAction, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        module_fqn = self._module_fqn()
        if not module_fqn:
            why = "module %s not found in a collection" % (self._task.action,)
        elif threading.active_count() > 1:  # Ansible's workers have one; a fork would copy other threads' locks
            why = "this worker process runs %d threads" % threading.active_count()
        else:
            why = why_shipped(self, task_vars)
        host = self._play_context.remote_addr
        if why is None:
            display.vvv("%s: runs in a fork of this worker process (local connection, the controller's Python); "
                        "the module is not shipped" % self._task.action, host=host)
            return merge_hash(result, self._run_in_fork(module_fqn, task_vars))
        return merge_hash(result, ship(self, task_vars, "%s: the module is shipped (%s)" % (self._task.action, why)))

    def _module_fqn(self):
        """The Python name of the task's module (ansible_collections.NS.COLL.plugins.modules.NAME), or None."""
        context = self._shared_loader_obj.module_loader.find_plugin_with_context(
            self._task.action, collection_list=self._task.collections)
        if not context.resolved or not context.plugin_resolved_collection:
            return None
        name = context.plugin_resolved_name.rsplit(".", 1)[-1]
        return "ansible_collections.%s.plugins.modules.%s" % (context.plugin_resolved_collection, name)

    def _run_in_fork(self, module_fqn, task_vars):
        module_args = dict(self._task.args)
        self._update_module_args(self._task.action, module_args, task_vars)
        # the module's scratch space (AnsibleModule.tmpdir), in the run's own local directory (0700); removed
        # below: the child never runs atexit handlers, so the module's own clean-up would not
        tmpdir = tempfile.mkdtemp(prefix="ansible-in-worker-", dir=C.DEFAULT_LOCAL_TMP)
        module_args["_ansible_tmpdir"] = tmpdir
        json_params = _encode_args(module_args)
        environment = task_environment(self)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = None
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                os.close(out_r)
                os.close(err_r)
                _child(module_fqn, json_params, environment, out_w, err_w)
            os.close(out_w)
            os.close(err_w)
            out_w = err_w = None
            rc, stdout, stderr = _collect(pid, out_r, err_r)
            pid = None
        finally:
            for fd in (out_r, err_r, out_w, err_w):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            if pid is not None:  # interrupted (the task's timeout, ^C): the child does not outlive the task
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except OSError:
                    pass
            shutil.rmtree(tmpdir, ignore_errors=True)
        res = dict(rc=rc, stdout=stdout.decode("utf-8", "surrogateescape"),
                   stderr=stderr.decode("utf-8", "backslashreplace"))
        return self._as_shipped(res)

    def _as_shipped(self, res):
        """RES (rc, stdout, stderr) made into the task result as _execute_module makes a shipped module's."""
        if len(inspect.signature(self._parse_returned_data).parameters) >= 2:
            data = self._parse_returned_data(res, _PROFILE)
        else:
            data = self._parse_returned_data(res)
        data.pop("_ansible_suppress_tmpdir_delete", None)
        remove_internal_keys(data)
        for key in ("stdout", "stderr"):
            if key in data and key + "_lines" not in data:
                data[key + "_lines"] = (data.get(key) or u"").splitlines()
        return data
