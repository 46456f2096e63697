# -*- coding: utf-8 -*-
# okd-registry-toolkit: the stand-alone registry's files in two module calls on its host (issue 10).
# Documentation: plugins/modules/okd_standalone_registry_files.py; role okd_standalone_registry.
#
# 1. one call of the module with `read`: the current htpasswd file, certificate and key (only those this
#    run decides on; kept in this process's memory, never returned);
# 2. on the controller, in this process: the htpasswd content (bcrypt; a hash kept while its password
#    matches), the certificate decision (re-issued when missing, unreadable, expiring, its SANs changed,
#    not from the CA, or not matching the key) and, when needed, a new key and certificate signed by the
#    CA; controller files given by `src` (CA, token signing certificates, provided certificate and key)
#    read here;
# 3. one call of the module that writes every directory and file that differs (atomically, owners and
#    modes), reports one diff per changed path (secret files: size and attributes only) and whether a
#    changed path needs a restart of the service; then (option `service`) the unit enabled and started,
#    and (option `health`) one GET of the registry's /v2/ when no restart is pending.
# Before: about 20 module calls (slurp, copy, file, template, and community.crypto's info modules
# delegated to localhost), about 6 s of a no-op run.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase

from ansible_collections.okd.registry_toolkit.plugins.plugin_utils.standalone_registry import (
    PlanError, cert_reasons, htpasswd_content, issue, load_ca_cert)

MODULE = "okd.registry_toolkit.okd_standalone_registry_files"
_FILE_KEYS = ("path", "owner", "group", "mode", "restart")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("directories", "files", "secret_files", "absent", "htpasswd", "tls", "service", "health"))

    def _fail(self, host, msg):
        raise AnsibleActionFail("okd_standalone_registry_files on %s: %s" % (host, msg))

    def _src_text(self, host, src, what):
        try:
            path = self._find_needle("files", src)
        except AnsibleError as e:
            self._fail(host, "%s %s not found on the controller (%s)" % (what, src, to_text(e)))
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8")
        except (IOError, OSError, UnicodeDecodeError) as e:
            self._fail(host, "%s %s cannot be read on the controller: %s" % (what, path, e))

    def _entries(self, host, entries, name):
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            self._fail(host, "%s must be a list of mappings" % name)
        out = []
        for e in entries:
            f = dict((k, e[k]) for k in _FILE_KEYS if k in e)
            if "content" in e:
                f["content"] = e["content"]
            elif "src" in e:
                f["content"] = self._src_text(host, e["src"], "%s src" % name)
            else:
                self._fail(host, "%s entry %s has neither content nor src" % (name, e.get("path")))
            out.append(f)
        return out

    def _pick(self, host, entries, name, keys):
        """The module's keys of each entry (a role may carry its own, e.g. `want`)."""
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            self._fail(host, "%s must be a list of mappings" % name)
        return [dict((k, e[k]) for k in keys if k in e) for e in entries]

    def _module(self, host, args, task_vars, secret_output=False):
        """One call of the module. secret_output: its stdout holds secrets (the read of the key and the
        htpasswd hashes), so the connection must not print it (ssh prints a command's raw output at -vvv
        unless the play context is no_log; the role's slurp tasks were no_log for the same reason)."""
        contexts = [c for c in (self._play_context, getattr(self._connection, "_play_context", None)) if c is not None]
        saved = [c.no_log for c in contexts]
        if secret_output:
            for c in contexts:
                c.no_log = True
        try:
            res = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        finally:
            for c, value in zip(contexts, saved):
                c.no_log = value
        res.pop("invocation", None)
        if res.get("failed"):
            self._fail(host, res.get("msg") or "the module failed")
        return res

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        host = task_vars.get("inventory_hostname", "?")
        a = self._task.args
        try:
            directories = self._pick(host, a.get("directories") or [], "directories", ("path", "owner", "group", "mode"))
            files = self._entries(host, a.get("files") or [], "files")
            secret_files = self._entries(host, a.get("secret_files") or [], "secret_files")
            absent = self._pick(host, a.get("absent") or [], "absent", ("path", "restart"))
            htpasswd = a.get("htpasswd")
            tls = a.get("tls")
            for name, value in (("htpasswd", htpasswd), ("tls", tls)):
                if value is not None and not isinstance(value, dict):
                    self._fail(host, "%s must be a mapping" % name)

            to_read = []
            if htpasswd:
                to_read.append(htpasswd["path"])
            if tls:
                to_read.extend([tls["cert_path"], tls["key_path"]])
            current = self._module(host, {"read": to_read}, task_vars, secret_output=True)["contents"] if to_read else {}

            users_changed, reasons = [], []
            if htpasswd:
                content, users_changed = htpasswd_content(current.get(htpasswd["path"]) or "",
                                                          htpasswd.get("users") or [], htpasswd.get("cost", 10))
                secret_files.append(dict((k, htpasswd[k]) for k in _FILE_KEYS if k in htpasswd))
                secret_files[-1]["content"] = content
            if tls:
                ca_cert = load_ca_cert(self._src_text(host, tls["ca_cert"], "CA certificate"))
                sans = tls.get("sans") or []
                if not isinstance(sans, list) or not all(isinstance(s, string_types) for s in sans):
                    self._fail(host, "tls.sans must be a list of strings")
                cert_pem, key_pem = current.get(tls["cert_path"]), current.get(tls["key_path"])
                reasons = cert_reasons(cert_pem, key_pem, ca_cert, sans, tls.get("renew_days", 30))
                if reasons:
                    ca_key = self._src_text(host, tls["ca_key"], "CA key").encode("utf-8")
                    key_pem, cert_pem = issue(ca_cert, ca_key, tls.get("ca_key_passphrase") or "",
                                              tls["common_name"], sans, tls.get("valid_days", 730))
                common = dict(owner=tls["owner"], group=tls["group"], restart=True)
                files.append(dict(common, path=tls["cert_path"], content=cert_pem, mode="0644"))
                secret_files.append(dict(common, path=tls["key_path"], content=key_pem, mode="0640"))
        except PlanError as e:
            self._fail(host, str(e))
        except KeyError as e:
            self._fail(host, "missing option %s" % e)

        args = {"directories": directories, "files": files, "secret_files": secret_files, "absent": absent}
        for name in ("service", "health"):
            if a.get(name):
                args[name] = a[name]
        res = self._module(host, args, task_vars)
        self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(changed=res["changed"], changed_paths=res["changed_paths"], restart=res["restart"],
                      diff=res.get("diff", []), cert_reasons=reasons, htpasswd_users_changed=users_changed)
        for name in ("service_actions", "healthy"):
            if name in res:
                result[name] = res[name]
        if reasons:
            result["msg"] = "%s: registry certificate %s issued: %s" % (
                host, "would be" if self._play_context.check_mode else "was", ", ".join(reasons))
        return result
