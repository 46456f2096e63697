# -*- coding: utf-8 -*-
# okd-registry-toolkit core: plan and write a set of files and directories on a host in one pass.
# Stdlib only, Python 2.7 and 3.6+. Used by the module okd_standalone_registry_files (role
# okd_standalone_registry): directories, files (public or secret) and absent files with their owners
# and modes, checked and written in one module call instead of one module per file.
"""One pass over a host's files.

``apply(directories, files, absent, check_mode)`` returns a dict:

- ``changed``: anything changed (or would, in check mode);
- ``changed_paths``: the paths that changed, in the order given;
- ``diff``: a list of Ansible diff dicts, one per changed path (a secret file's content is never in it:
  only its size and attributes);
- ``restart``: True when a changed path asked for it (``restart: true`` on its entry).

Every file is written atomically (a temporary file in the same directory, created 0600, given its
owner and mode before its content, fsynced, renamed over the path). A symbolic link, directory or
other non-regular file where a file belongs, a file where a directory belongs, or an unknown user or
group is a ``ToolkitError`` naming the path and the cause, raised before anything is changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import stat
import tempfile

from .errors import ToolkitError
from .localfile import kind, lstat_or_none as _lstat, read_regular

SECRET_NOTE = "(secret content not shown)\n"


def _ids(owner, group, path):
    try:
        uid = pwd.getpwnam(owner).pw_uid if not str(owner).isdigit() else int(owner)
    except KeyError:
        raise ToolkitError("%s: owner %r is not a user on this host (is the package that creates it "
                           "installed?)" % (path, owner))
    try:
        gid = grp.getgrnam(group).gr_gid if not str(group).isdigit() else int(group)
    except KeyError:
        raise ToolkitError("%s: group %r is not a group on this host (is the package that creates it "
                           "installed?)" % (path, group))
    return uid, gid


def _mode(value, path):
    try:
        m = int(str(value), 8)
    except ValueError:
        raise ToolkitError("%s: mode %r is not an octal mode such as '0640'" % (path, value))
    if m < 0 or m > 0o7777:
        raise ToolkitError("%s: mode %r is out of range" % (path, value))
    return m


def _attrs(st):
    if st is None:
        return None
    return {"mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def _attr_text(path, state, mode, owner, group):
    return "%s: %s, mode %s, %s:%s\n" % (path, state, mode, owner, group)


def _name_of(uid, gid):
    try:
        u = pwd.getpwuid(uid).pw_name
    except KeyError:
        u = str(uid)
    try:
        g = grp.getgrgid(gid).gr_name
    except KeyError:
        g = str(gid)
    return u, g


def read_files(paths):
    """{path: text or None} of regular files (never through a link); a non-regular file is an error."""
    out = {}
    for path in paths:
        data, _st = read_regular(path, "file")
        out[path] = None if data is None else data.decode("utf-8", "replace")
    return out


def _plan(directories, files, absent):
    """Inspect everything first; returns a list of actions. Raises before anything is changed."""
    actions = []
    for d in directories or []:
        path = d["path"]
        uid, gid = _ids(d["owner"], d["group"], path)
        mode = _mode(d["mode"], path)
        st = _lstat(path)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise ToolkitError("%s is %s where a directory belongs; nothing was changed"
                               % (path, kind(st.st_mode) if not stat.S_ISREG(st.st_mode) else "a file"))
        want = {"mode": "%04o" % mode, "uid": uid, "gid": gid}
        if st is None or _attrs(st) != want:
            actions.append(("dir", path, st, uid, gid, mode, d, None, None))
    for f in files or []:
        path = f["path"]
        uid, gid = _ids(f["owner"], f["group"], path)
        mode = _mode(f["mode"], path)
        content = f["content"]
        data = content.encode("utf-8") if not isinstance(content, bytes) else content
        current, st = read_regular(path, "file") if _lstat(path) is not None else (None, None)
        want = {"mode": "%04o" % mode, "uid": uid, "gid": gid}
        if current != data or _attrs(st) != want:
            actions.append(("file", path, st, uid, gid, mode, f, current, data))
    for a in absent or []:
        path = a["path"]
        st = _lstat(path)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            raise ToolkitError("%s is a directory; it should be absent as a file and was not removed" % path)
        actions.append(("absent", path, st, None, None, None, a, None, None))
    return actions


def _diff(action):
    what, path, st, uid, gid, mode, entry, current, data = action
    secret = bool(entry.get("secret"))
    before_attr = "absent\n" if st is None else _attr_text(path, "present", "%04o" % stat.S_IMODE(st.st_mode),
                                                           *_name_of(st.st_uid, st.st_gid))
    if what == "absent":
        return {"before_header": path, "after_header": path, "before": before_attr, "after": "absent\n"}
    after_attr = _attr_text(path, "present", "%04o" % mode, *_name_of(uid, gid))
    if what == "dir":
        return {"before_header": path, "after_header": path, "before": before_attr, "after": after_attr}
    if secret:
        b = before_attr + ("" if current is None else ("%d bytes, " % len(current)) + SECRET_NOTE)
        a = after_attr + ("%d bytes, " % len(data)) + (
            "content unchanged\n" if current == data else SECRET_NOTE)
        return {"before_header": path, "after_header": path, "before": b, "after": a}
    if current == data:  # attributes only
        return {"before_header": path, "after_header": path, "before": before_attr, "after": after_attr}
    return {"before_header": path, "after_header": path,
            "before": "" if current is None else current.decode("utf-8", "replace"),
            "after": data.decode("utf-8", "replace")}


def _write_atomic(path, data, uid, gid, mode):
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        try:
            os.fchmod(fd, 0o600)
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            done = 0
            while done < len(data):
                done += os.write(fd, data[done:])
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ToolkitError("%s: cannot write: %s" % (path, e.strerror or e))


def _do(action):
    what, path, st, uid, gid, mode, entry, current, data = action
    try:
        if what == "dir":
            if st is None:
                os.makedirs(path, mode)
            os.chown(path, uid, gid)
            os.chmod(path, mode)
        elif what == "absent":
            os.unlink(path)
        elif current != data:
            _write_atomic(path, data, uid, gid, mode)
        else:  # attributes only; never through a link (read_regular refused one)
            os.chown(path, uid, gid)
            os.chmod(path, mode)
    except OSError as e:
        raise ToolkitError("%s: cannot change: %s" % (path, e.strerror or e))


def apply(directories=None, files=None, absent=None, check_mode=False):
    """Plan everything, then (unless check_mode) change what differs. See the module docstring."""
    actions = _plan(directories, files, absent)
    changed_paths, diffs, restart = [], [], False
    for action in actions:
        changed_paths.append(action[1])
        diffs.append(_diff(action))
        restart = restart or bool(action[6].get("restart"))
        if not check_mode:
            _do(action)
    return {"changed": bool(actions), "changed_paths": changed_paths, "diff": diffs, "restart": restart}


# ------------------------------------------------------------------------ service state and health

def ensure_service(run, name, daemon_reload=False, check_mode=False):
    """The systemd unit `name` enabled and active (as ansible.builtin.systemd_service state=started
    enabled=true daemon_reload=...). `run(argv)` returns (rc, stdout, stderr). Returns
    {"changed", "was_active", "actions"}; a failing systemctl is a ToolkitError with its message."""
    actions = []

    def must(argv):
        rc, out, err = run(argv)
        if rc != 0:
            raise ToolkitError("%s failed (rc %s): %s" % (" ".join(argv), rc, (err or out or "").strip()[:500]))

    if daemon_reload and not check_mode:
        must(["systemctl", "daemon-reload"])
    rc, out, _err = run(["systemctl", "is-enabled", name])
    if rc != 0 or out.strip() not in ("enabled", "enabled-runtime", "static", "alias", "indirect"):
        actions.append("enable")
        if not check_mode:
            must(["systemctl", "enable", name])
    rc, out, _err = run(["systemctl", "is-active", name])
    was_active = rc == 0 and out.strip() == "active"
    if not was_active:
        actions.append("start")
        if not check_mode:
            must(["systemctl", "start", name])
    return {"changed": bool(actions), "was_active": was_active, "actions": actions}


def health_check(transport, url):
    """GET url once: True when it answers 200 or 401 (the registry's /v2/), else False (the role's uri
    task then retries, as before). Never raises for a connection error."""
    try:
        status, _headers, _body = transport("GET", url, {})
    except ToolkitError:
        return False
    return status in (200, 401)
