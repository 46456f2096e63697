#!/usr/bin/python
# -*- coding: utf-8 -*-
# okd-registry-toolkit: manage registry credentials in a docker config.json.
# Thin adapter over plugins/module_utils/dockercfg.py; runs on Python 2.7 and 3.6+ targets.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: registry_credentials
short_description: Manage registry credentials in a docker config.json (node credentials)
description:
  - Adds, updates or removes C(auths) entries of a docker C(config.json), by default the file
    kubelet/origin-node reads on OKD 3.11 masters and nodes, C(/var/lib/origin/.docker/config.json).
  - Every other content of the file survives (other registries, C(credsStore), C(credHelpers),
    C(HttpHeaders), unknown fields). An existing key spelled differently for the same registry
    (for example C(https://host/v1/) for C(host)) is updated instead of adding a duplicate.
  - The file is only written when its parsed content changes, atomically (a temporary file
    created with mode 0600 in the same directory, fsync, rename), so no reader ever sees a
    partial file and the secrets are never readable by others, not even for a moment.
    The final mode 0600 (and owner/group) is enforced even when the content is unchanged.
  - A missing directory is created with mode 0700. An existing directory named C(.docker)
    that holds (or is to hold) the file is tightened to 0700; other existing directories are left alone.
  - An existing file that is not a valid docker config makes the module fail and stays
    untouched, unless O(invalid_existing=replace).
  - Check mode reports exactly what would change; the diff shows redacted content only
    (C(<redacted:sha256:XXXXXXXX user=NAME>)), never a password.
  - If O(path) is a symbolic link, the file it points to is updated and the link kept.
version_added: "0.1.0"
author:
  - okd-registry-toolkit developers
options:
  path:
    description: The docker config.json to manage.
    type: path
    default: /var/lib/origin/.docker/config.json
  registries:
    description:
      - Registry entries to set (O(state=present)) or remove (O(state=absent); only C(registry)
        is needed then).
      - Items of the toolkit-wide C(okd_registries) list can be passed unchanged (C(host) is an
        alias of C(registry); C(name) and C(test_image) are ignored).
      - Mutually exclusive with O(registry).
    type: list
    elements: dict
    suboptions:
      registry:
        description: Registry as C(HOST[:PORT]), exactly as the key in config.json; other spellings
          (C(https://HOST/v1/)) are normalized. C(docker.io) becomes C(https://index.docker.io/v1/).
        type: str
        required: true
        aliases: [host]
      username:
        description: User name; required for O(state=present). Must not contain C(:).
        type: str
      password:
        description: Password or token; required for O(state=present). Never logged or shown.
        type: str
      email:
        description: Optional e-mail stored with the entry (docker's legacy field).
        type: str
      name:
        description: Ignored (accepted so C(okd_registries) items can be passed unchanged).
        type: str
      test_image:
        description: Ignored (accepted so C(okd_registries) items can be passed unchanged).
        type: str
  registry:
    description: Short form for one registry (C(HOST[:PORT])). Mutually exclusive with O(registries).
    type: str
  username:
    description: User name for the short form.
    type: str
  password:
    description: Password or token for the short form. Never logged or shown.
    type: str
  email:
    description: E-mail for the short form.
    type: str
  state:
    description: C(present) sets the given credentials, C(absent) removes the given registries' entries.
    type: str
    choices: [present, absent]
    default: present
  invalid_existing:
    description:
      - What to do when the existing file is not a valid docker config (invalid JSON, wrong types,
        an C(auth) that is not base64 of C(USER:PASSWORD)).
      - C(fail) fails with a message naming the file, line and column and leaves the file
        byte-identical; C(replace) starts from an empty config (combine with O(backup)).
    type: str
    choices: [fail, replace]
    default: fail
  backup:
    description: Keep a copy (mode 0600) of the previous file when it is rewritten.
    type: bool
    default: false
  owner:
    description:
      - Owner of the file (name or uid). Default C(root) when the module runs as root,
        otherwise unchanged.
    type: str
  group:
    description:
      - Group of the file (name or gid). Default C(root) when the module runs as root,
        otherwise unchanged.
    type: str
notes:
  - Supports check mode and diff mode. Stdlib only on the target; Python 2.7 and 3.6+.
  - The file is written in one fixed format (JSON, 4-space indent, key order kept, ASCII),
    identical to what the toolkit's pyinfra deploys write.
seealso:
  - module: okd.registry_toolkit.registry_verify
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Node credentials for the Red Hat registry (service account token)
  okd.registry_toolkit.registry_credentials:
    registry: registry.redhat.io
    username: "12345678|okd-puller"
    password: "{{ vault_redhat_registry_token }}"

- name: All toolkit registries at once, keeping a backup
  okd.registry_toolkit.registry_credentials:
    path: /var/lib/origin/.docker/config.json
    registries: "{{ okd_registries }}"
    backup: true

- name: Root's docker login file too
  okd.registry_toolkit.registry_credentials:
    path: /root/.docker/config.json
    registries: "{{ okd_registries }}"

- name: Remove an old mirror's entry (only that entry)
  okd.registry_toolkit.registry_credentials:
    registry: old-mirror.example.com:5000
    state: absent
"""

RETURN = r"""
path:
  description: The managed file (as given).
  returned: always
  type: str
  sample: /var/lib/origin/.docker/config.json
registries_changed:
  description: Normalized names of the registries whose entries were added or updated.
  returned: always
  type: list
  elements: str
  sample: [registry.redhat.io]
registries_removed:
  description: Normalized names of the registries whose entries were removed.
  returned: always
  type: list
  elements: str
  sample: []
registries:
  description: Every entry of the resulting file, without secrets.
  returned: always
  type: list
  elements: dict
  sample: [{registry: registry.redhat.io, key: registry.redhat.io, username: "12345678|okd-puller"}]
backup_file:
  description: The backup of the previous file, when O(backup=true) and the file was rewritten.
  returned: when a backup was made
  type: str
  sample: /var/lib/origin/.docker/config.json.12345.2019-01-01@10:00:00~
content_changed:
  description: Whether the file content was (or in check mode would be) rewritten.
  returned: always
  type: bool
mode_changed:
  description: Whether the file mode, owner or group was (or would be) corrected.
  returned: always
  type: bool
dir_created:
  description: Whether the directory was (or would be) created.
  returned: always
  type: bool
dir_mode_changed:
  description: Whether an existing C(.docker) directory was (or would be) tightened to 0700.
  returned: always
  type: bool
replaced_invalid:
  description: The parse error of an invalid existing file that was replaced (O(invalid_existing=replace)).
  returned: when an invalid file was replaced
  type: str
msg:
  description: What happened, in one line.
  returned: always
  type: str
  sample: "/var/lib/origin/.docker/config.json: updated registry.redhat.io"
"""

import errno
import os
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
from ansible_collections.okd.registry_toolkit.plugins.module_utils.dockercfg import plan_update, summarize

FILE_MODE = 0o600
DIR_MODE = 0o700


def _lookup_id(module, name, kind):
    """uid (kind "owner") or gid (kind "group") of a name or number; None when not given."""
    if name is None:
        return None
    try:
        return int(name)
    except ValueError:
        pass
    try:
        if kind == "owner":
            import pwd
            return pwd.getpwnam(name).pw_uid
        import grp
        return grp.getgrnam(name).gr_gid
    except KeyError:
        module.fail_json(msg="%s %s does not exist on this host" % (kind, name))


def _entries_from_params(module):
    params = module.params
    state = params["state"]
    items = params["registries"]
    if items is None:
        if not params["registry"]:
            module.fail_json(msg="one of registries or registry is required")
        items = [{"registry": params["registry"], "username": params["username"],
                  "password": params["password"], "email": params["email"]}]
    elif any(params[key] for key in ("username", "password", "email")):
        module.fail_json(msg="username, password and email belong to the short form (registry); "
                             "with registries, put them in each item")
    if state == "absent":
        return None, [item["registry"] for item in items]
    return [dict((k, item.get(k)) for k in ("registry", "username", "password", "email")) for item in items], None


def _read_existing(path):
    """Return (bytes or None, stat or None)."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None, None
        raise ToolkitError("%s: cannot stat: %s" % (path, e))
    if not stat.S_ISREG(st.st_mode):
        raise ToolkitError("%s exists and is not a regular file" % path)
    try:
        with open(path, "rb") as handle:
            return handle.read(), st
    except (IOError, OSError) as e:
        raise ToolkitError("%s: cannot read: %s" % (path, e))


def _make_dirs(directory):
    """Create directory (0700) and missing parents (0755); return True if created."""
    if os.path.isdir(directory):
        return False
    parent = os.path.dirname(directory)
    if parent and parent != directory and not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    try:
        os.mkdir(directory, DIR_MODE)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise
    os.chmod(directory, DIR_MODE)  # the umask may have masked bits; make it exact
    return True


def _write_exclusive(path, data, uid, gid):
    """Create path with O_EXCL and mode 0600 from the first instant, write, fsync."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        if uid is not None or gid is not None:
            os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
        offset = 0
        while offset < len(data):
            offset += os.write(fd, data[offset:])
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(module, target, data, uid, gid):
    directory = os.path.dirname(target) or "."
    base = os.path.basename(target)
    tmp = None
    for attempt in range(100):
        candidate = os.path.join(directory, ".%s.%d.%d.tmp" % (base, os.getpid(), attempt))
        try:
            _write_exclusive(candidate, data, uid, gid)
            tmp = candidate
            break
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
    if tmp is None:
        raise ToolkitError("%s: cannot create a temporary file in %s" % (target, directory))
    try:
        if module.selinux_enabled():
            context = module.selinux_context(target) if os.path.exists(target) else \
                module.selinux_default_context(target)
            module.set_context_if_different(tmp, context, False)
        os.rename(tmp, target)
    except Exception:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _backup(target, data):
    backup = "%s.%d.%s~" % (target, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S"))
    _write_exclusive(backup, data, None, None)
    return backup


def run(module):
    params = module.params
    path = params["path"]
    entries, remove = _entries_from_params(module)
    target = os.path.realpath(path) if os.path.islink(path) else path
    directory = os.path.dirname(target) or "."

    existing, st = _read_existing(target)
    plan = plan_update(existing, entries=entries, remove=remove,
                       invalid_existing=params["invalid_existing"], source=path)

    running_as_root = os.geteuid() == 0
    uid = _lookup_id(module, params["owner"], "owner")
    gid = _lookup_id(module, params["group"], "group")
    if uid is None and running_as_root:
        uid = 0
    if gid is None and running_as_root:
        gid = 0

    dir_exists = os.path.isdir(directory)
    dir_created = not dir_exists and plan["write"]
    dir_mode_changed = False
    if dir_exists and os.path.basename(directory) == ".docker" and (st is not None or plan["write"]):
        dir_mode_changed = stat.S_IMODE(os.stat(directory).st_mode) != DIR_MODE

    content_changed = plan["write"]
    mode_changed = False
    if st is not None and not content_changed:
        mode_changed = (stat.S_IMODE(st.st_mode) != FILE_MODE or
                        (uid is not None and st.st_uid != uid) or
                        (gid is not None and st.st_gid != gid))

    changed = content_changed or mode_changed or dir_created or dir_mode_changed
    backup_file = None
    if changed and not module.check_mode:
        if dir_created:
            _make_dirs(directory)
        if dir_mode_changed:
            os.chmod(directory, DIR_MODE)
        if content_changed:
            if params["backup"] and existing is not None:
                backup_file = _backup(target, existing)
            _atomic_write(module, target, to_bytes(plan["content"]), uid, gid)
        elif mode_changed:
            os.chmod(target, FILE_MODE)
            if uid is not None or gid is not None:
                os.chown(target, -1 if uid is None else uid, -1 if gid is None else gid)

    parts = []
    if plan["registries_changed"]:
        parts.append("updated " + ", ".join(plan["registries_changed"]))
    if plan["registries_removed"]:
        parts.append("removed " + ", ".join(plan["registries_removed"]))
    if plan["replaced_invalid"]:
        parts.append("replaced the invalid existing file")
    if mode_changed:
        parts.append("set mode 0600")
    if dir_created:
        parts.append("created %s (0700)" % directory)
    if dir_mode_changed:
        parts.append("tightened %s to 0700" % directory)
    if not parts:
        parts.append("already up to date")
    msg = "%s: %s%s" % (path, "; ".join(parts), " (check mode)" if module.check_mode and changed else "")

    result = dict(
        changed=changed,
        path=path,
        registries_changed=plan["registries_changed"],
        registries_removed=plan["registries_removed"],
        registries=summarize(plan["config"]),
        content_changed=content_changed,
        mode_changed=mode_changed,
        dir_created=dir_created,
        dir_mode_changed=dir_mode_changed,
        msg=msg,
    )
    if backup_file:
        result["backup_file"] = backup_file
    if plan["replaced_invalid"]:
        result["replaced_invalid"] = plan["replaced_invalid"]
    if module._diff:
        before_mode = "%04o" % stat.S_IMODE(st.st_mode) if st is not None else None
        result["diff"] = [dict(before_header=path, after_header=path,
                               before=plan["before"], after=plan["after"])]
        if mode_changed or (st is not None and content_changed and before_mode != "0600"):
            result["diff"].append(dict(before_header=path + " (mode)", after_header=path + " (mode)",
                                       before="mode: %s\n" % before_mode, after="mode: 0600\n"))
    return result


def main():
    registry_spec = dict(
        registry=dict(type="str", required=True, aliases=["host"]),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        email=dict(type="str"),
        name=dict(type="str"),
        test_image=dict(type="str"),
    )
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/var/lib/origin/.docker/config.json"),
            registries=dict(type="list", elements="dict", options=registry_spec),
            registry=dict(type="str"),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            email=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            invalid_existing=dict(type="str", choices=["fail", "replace"], default="fail"),
            backup=dict(type="bool", default=False),
            owner=dict(type="str"),
            group=dict(type="str"),
        ),
        mutually_exclusive=[["registries", "registry"]],
        required_one_of=[["registries", "registry"]],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except ToolkitError as e:
        msg = e.msg
        if module.params["path"] not in msg:
            msg = "%s: %s" % (module.params["path"], msg)
        module.fail_json(msg=msg, path=module.params["path"], changed=False)
    except (IOError, OSError) as e:
        module.fail_json(msg="%s: %s" % (module.params["path"], to_native(e)), path=module.params["path"],
                         changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
