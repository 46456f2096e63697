# -*- coding: utf-8 -*-
# okd-registry-toolkit: the API connection of the cluster roles, obtained once per run.
# Documentation: plugins/modules/okd_admin_kubeconfig.py.
#
# The first master's admin kubeconfig is read (slurp, through the task's connection: delegate_to the
# master) and written 0600 into Ansible's own per-run local temporary directory (C.DEFAULT_LOCAL_TMP:
# ~/.ansible/tmp/ansible-local-<pid>..., mode 0700, which the ansible-playbook process removes when it
# exits, failed run or not). Later calls in the same run with the same master and path find that file
# and make no connection at all. Nothing is read when a kubeconfig is given or, with use_environment,
# when the K8S_AUTH_* variables name the connection. The file's content never enters a result.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os
import stat

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase

DEFAULT_MASTER_PATH = "/etc/origin/master/admin.kubeconfig"


def _regular_file(path):
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("kubeconfig", "master_path", "use_environment"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        given = args.get("kubeconfig") or ""
        master_path = args.get("master_path") or DEFAULT_MASTER_PATH
        if not isinstance(given, string_types) or not isinstance(master_path, string_types):
            raise AnsibleActionFail("okd_admin_kubeconfig: kubeconfig and master_path must be strings")
        try:
            use_environment = boolean(args.get("use_environment", True), strict=True)
        except TypeError:
            raise AnsibleActionFail("okd_admin_kubeconfig: use_environment must be true or false")
        result["changed"] = False
        result["master_path"] = master_path
        if given:
            result.update(kubeconfig=os.path.expanduser(given), source="given")
            return result
        if use_environment:
            # the toolkit's modules and kubernetes.core read these (module_utils/k8s_client.py)
            env_kubeconfig = os.environ.get("K8S_AUTH_KUBECONFIG", "")
            if env_kubeconfig:
                result.update(kubeconfig=os.path.expanduser(env_kubeconfig), source="environment")
                return result
            if os.environ.get("K8S_AUTH_HOST") and os.environ.get("K8S_AUTH_API_KEY"):
                result.update(kubeconfig="", source="environment")
                return result
        if not os.path.isabs(master_path):
            raise AnsibleActionFail("okd_admin_kubeconfig: master_path must be an absolute path, not %r"
                                    % master_path)

        # one file per (master, path) and run, in Ansible's per-run 0700 local temp dir (removed at exit)
        host = self._task.delegate_to or task_vars.get("inventory_hostname", "")
        # the host actually connected to (delegated or not): its address, port and user
        try:
            address = [self._connection.get_option(o) for o in ("host", "port", "remote_user")]
        except KeyError:
            address = [self._play_context.remote_addr, self._play_context.port, self._play_context.remote_user]
        key = hashlib.sha256(to_bytes("%s\0%s" % (address, master_path))).hexdigest()[:16]
        path = os.path.join(C.DEFAULT_LOCAL_TMP, "okd-admin-kubeconfig-%s" % key)
        if _regular_file(path):
            result.update(kubeconfig=path, source="reused")
            return result

        try:
            read = self._execute_module(module_name="ansible.legacy.slurp", module_args={"src": master_path},
                                        task_vars=task_vars)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        if read.get("failed") or "content" not in read:
            # slurp's message names the path and the cause; it never holds the file's content
            raise AnsibleActionFail("okd_admin_kubeconfig: cannot read the admin kubeconfig %s on %s: %s"
                                    % (master_path, host, to_text(read.get("msg") or "no content")))
        try:
            content = base64.b64decode(read["content"])
        except (TypeError, ValueError):
            raise AnsibleActionFail("okd_admin_kubeconfig: %s on %s: unreadable answer" % (master_path, host))
        del read
        partial = "%s.%d.part" % (path, os.getpid())
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            os.rename(partial, path)
        except Exception:
            if os.path.lexists(partial):
                os.unlink(partial)
            raise
        result.update(kubeconfig=path, source="fetched")
        return result
