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
  - The file is only written when its parsed content changes, atomically (a temporary file with
    an unpredictable name, created exclusively with mode 0600 in the same directory, owner set on
    the open file, fsync, rename), so no reader ever sees a partial file and the secrets are never
    readable by others, not even for a moment. The final mode 0600 (and owner/group) is enforced
    even when the content is unchanged, on the open file, never by path.
  - On every failure (disk full, fsync or chown error, ...) the temporary file and the backup are
    removed and the file is left as it was.
  - A missing directory (and any missing parent) is created with mode 0700, owned by O(owner) and
    O(group). An existing directory named C(.docker) that holds (or is to hold) the file is
    tightened to 0700; other existing directories are left alone.
  - A symbolic link at O(path) or at its directory is refused with an error naming it (it is never
    followed, and no option changes that). A FIFO, directory, socket or device at O(path) is an
    error too and is never opened for reading.
  - An existing file that is not a valid docker config makes the module fail and stays
    untouched, unless O(invalid_existing=replace).
  - Check mode reports exactly what would change; the diff shows redacted content only
    (C(<redacted:sha256:XXXXXXXX user=NAME>)), never a password.
version_added: "0.1.0"
author:
  - okd-registry-toolkit developers (!UNKNOWN)
options:
  path:
    description: The docker config.json to manage.
    type: path
    default: /var/lib/origin/.docker/config.json
  paths:
    description:
      - Several files managed in one call (for example the node's file and root's), each planned,
        written and reported like O(path); the first is the one O(verify) checks. A file that fails
        does not stop the others; the module then fails naming every file and cause.
      - Mutually exclusive with O(path).
    type: list
    elements: path
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
          A path-scoped key C(HOST[:PORT]/NAMESPACE) (e.g. C(quay.io/orgA), an organisation's robot
          account) is written, merged and removed by that exact key, never touching C(HOST) or another
          namespace; clients look keys up by the longest C(host/path) prefix.
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
  remove:
    description:
      - Registries (C(HOST[:PORT]) or a path-scoped key) whose entries are removed in the same call
        that sets O(registries) (O(state=present) only); nothing else in the file is touched. A
        registry must not be both set and removed.
    type: list
    elements: str
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
    description:
      - Keep a copy (mode 0600, owner like the file, created exclusively) of the previous file when
        it is rewritten. A write that fails removes the copy again (the file is unchanged then).
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
  verify:
    description:
      - After writing, prove from this host that its own file (the first of O(paths), or O(path))
        logs in to every registry of O(registries) and pulls its test image (O(verify_images)), with
        the Docker Registry v2 flow of M(okd.registry_toolkit.registry_verify) (no client needed, nothing
        on a command line).
      - C(never) (default) verifies nothing; C(changed) only when this call changed that file (an
        unchanged file holds bytes verified before); C(always) every time. Never in check mode.
      - A failed verification fails the module naming the file, each registry and the registry's own
        error; what was written stays written and is reported (RV(changed_paths), RV(files)).
    type: str
    choices: [never, changed, always]
    default: never
  verify_images:
    description: Test image (C(REPO:TAG)) per registry key for O(verify); a registry without one is verified by login only.
    type: dict
    default: {}
  ca_file:
    description:
      - CA bundle on this host for O(verify). Without it C(<certs_dir>/<registry>/ca.crt) when that
        file exists, else the system trust store.
    type: path
  certs_dir:
    description: Docker-style per-registry CA directory on this host, for O(verify) (see O(ca_file)).
    type: path
  validate_certs:
    description: Validate the registries' TLS certificates during O(verify).
    type: bool
    default: true
  proxy:
    description: HTTPS proxy for O(verify); default the environment's (honouring C(no_proxy)).
    type: str
  timeout:
    description: Per-request timeout (seconds) of O(verify).
    type: int
    default: 30
  retries:
    description: Retries of O(verify) on transient network errors (never on rejected credentials).
    type: int
    default: 2
  retry_delay:
    description: Seconds before the first retry of O(verify) (doubling, up to 60).
    type: int
    default: 2
  compliance:
    description:
      - After writing (and O(verify)), also make the checks of M(okd.registry_toolkit.registry_compliance) in this
        call, with these options (that module's, but C(fail_on_findings)), and return them (RV(compliance)).
        C(site.yml) gives them, so that the run's compliance report needs no second module call per host
        (docs/compliance.md).
      - The files are read again after the write, as they are then; the checks never fail this module (a failed
        check is a result). In check mode they see the files as they are (nothing was written).
      - The collection's action for this module also takes C(expected) items as C(okd_registries) entries, leaves
        out an empty C(ca_file) and a C(node_config) without C(key), and names the node file by the task's
        C(inventory_hostname), as for M(okd.registry_toolkit.registry_compliance).
    type: dict
    suboptions:
      paths:
        description: Credentials files to check.
        type: list
        elements: path
        default: [/var/lib/origin/.docker/config.json]
      expected:
        description: Registries each file must have an entry for (C(password) given, with exactly that credential).
        type: list
        elements: dict
        default: []
        suboptions:
          registry:
            description: Registry key as in config.json (C(host[:port]), or path-scoped C(host[:port]/namespace)).
            type: str
            required: true
          username:
            description: Expected user name.
            type: str
          password:
            description: Expected password or token (compared on the host, never returned).
            type: str
          test_image:
            description: REPO:TAG to prove pull access with the file's own credentials when C(verify_access).
            type: str
      verify_access:
        description: Also log in to each expected registry with the credentials found in the first file.
        type: bool
        default: false
      ca_file:
        description: CA bundle on the host for C(verify_access); not set, C(/etc/docker/certs.d/<registry>/ca.crt) if present.
        type: path
      validate_certs:
        description: Verify registry TLS certificates (C(verify_access)).
        type: bool
        default: true
      timeout:
        description: Seconds per registry request (C(verify_access)).
        type: int
        default: 30
      node_config:
        description: The node credentials file whose entries are returned as user and HMAC under C(key).
        type: dict
        suboptions:
          path:
            description: The file.
            type: path
            required: true
          key:
            description: The run's MAC key (never returned).
            type: str
            required: true
          host:
            description: The host's inventory name, naming the file in a parser's message.
            type: str
            required: true
notes:
  - Supports check mode and diff mode. Stdlib only on the target; Python 2.7 and 3.6+.
  - The file is written in one fixed format (JSON, 4-space indent, key order kept, ASCII),
    identical to what the toolkit's pyinfra deploys write.
seealso:
  - module: okd.registry_toolkit.registry_verify
attributes:
  check_mode:
    description: Reports what would change and changes nothing.
    support: full
  diff_mode:
    description: Shows the file before and after, every secret redacted.
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

- name: Node's and root's files in one call, an old mirror removed, verified from the host when changed
  okd.registry_toolkit.registry_credentials:
    paths: [/var/lib/origin/.docker/config.json, /root/.docker/config.json]
    registries: "{{ okd_registries }}"
    remove: [old-mirror.example.com:5000]
    verify: changed
    verify_images:
      registry.redhat.io: openshift3/ose-pod:v3.11

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
files:
  description: The result of every managed file (O(path) or each of O(paths)), without the diff.
  returned: always
  type: list
  elements: dict
changed_paths:
  description: The files this call changed (or, in check mode, would change).
  returned: always
  type: list
  elements: str
verified:
  description: One line per registry verified from this host (O(verify)); empty when nothing was verified.
  returned: always
  type: list
  elements: str
report:
  description:
    - The lines a reader wants, ending in a newline (shown as an unwrapped block by the YAML result
      format) - each file's RV(msg), each registry verified from the host, or the failure naming the
      host. Added on the controller by the collection's action for this module.
  returned: always
  type: str
  sample: "/var/lib/origin/.docker/config.json: updated registry.redhat.io\n"
compliance:
  description:
    - With O(compliance), the checks' outcome as M(okd.registry_toolkit.registry_compliance) returns it - C(results),
      C(summary), C(compliant) and, with O(compliance.node_config), C(node_config) - or C(failed) and C(msg) when
      the checks could not be made. No secret, no fingerprint of one.
  returned: when O(compliance) is given
  type: dict
msg:
  description: What happened, in one line.
  returned: always
  type: str
  sample: "/var/lib/origin/.docker/config.json: updated registry.redhat.io"
"""

import binascii
import errno
import os
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
from ansible_collections.okd.registry_toolkit.plugins.module_utils.localfile import (
    O_CLOEXEC as _O_CLOEXEC,
    O_NOFOLLOW as _O_NOFOLLOW,
    O_NONBLOCK as _O_NONBLOCK,
    kind as _kind,
    link_error as _link_error,
    lstat_or_none as _lstat,
    read_regular,
    same_file as _same,
)
from ansible_collections.okd.registry_toolkit.plugins.module_utils.dockercfg import (
    normalize_registry,
    parse_config,
    plan_update,
    registry_host,
    summarize,
)
from ansible_collections.okd.registry_toolkit.plugins.module_utils.http_transport import verify_options_spec, verify_over_https
from ansible_collections.okd.registry_toolkit.plugins.module_utils import compliance_host, registry_entry
from ansible_collections.okd.registry_toolkit.plugins.module_utils.v2auth import file_credentials

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


# --------------------------------------------------------------------------------------- safe I/O
# Nothing here follows a symbolic link planted at the file or at a directory the module creates or
# chmods (issue 8 §2): links there are refused with an error naming them, files are opened with
# O_NOFOLLOW (and O_NONBLOCK, so a FIFO never blocks) and checked with fstat before use, modes and
# owners are set on open descriptors, never by path. Python 3 anchors every name at the directory's
# descriptor (dir_fd); Python 2.7 has no dir_fd, so the directory is lstat-ed before and after and
# must still be the one that was opened.

_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_SUPPORTS_DIR_FD = getattr(os, "supports_dir_fd", None) or ()  # Python 3.3+ only
_HAVE_DIR_FD = os.open in _SUPPORTS_DIR_FD and os.rename in _SUPPORTS_DIR_FD and os.unlink in _SUPPORTS_DIR_FD


def _read_existing(path):
    """Return (bytes or None, stat or None); a link, FIFO, directory or device is refused unopened."""
    return read_regular(path, "credentials file")


def _open_dir(directory):
    """Descriptor of an existing directory, never through a symbolic link."""
    st = _lstat(directory)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise _link_error(directory, "directory of the credentials file")
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise ToolkitError("%s is %s, not a directory" % (directory, _kind(st.st_mode)))
    try:
        fd = os.open(directory, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _link_error(directory, "directory of the credentials file")
        raise ToolkitError("%s: cannot open the directory: %s" % (directory, e.strerror or e))
    return fd


def _set_mode_owner(fd, mode, uid, gid):
    os.fchmod(fd, mode)
    if uid is not None or gid is not None:
        os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)


def _check_dir_links(directory):
    """Refuse a symbolic link at the directory (what the module writes in and may chmod)."""
    st = _lstat(directory)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise _link_error(directory, "directory of the credentials file")
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise ToolkitError("%s is %s, not a directory" % (directory, _kind(st.st_mode)))
    return st


def _make_dirs(directory, uid, gid):
    """Create `directory` and its missing parents, each owned by uid/gid with mode 0700, set on the
    open directory (never by path, never through a link). Returns the created paths."""
    missing = []
    current = directory
    while _lstat(current) is None:  # an existing component (even a link above) is not ours
        missing.append(current)
        parent = os.path.dirname(current)
        if not parent or parent == current:
            break
        current = parent
    created = []
    for path in reversed(missing):
        try:
            os.mkdir(path, DIR_MODE)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise ToolkitError("%s: cannot create the directory: %s" % (path, e.strerror or e))
            _check_dir_links(path)
            continue  # created by someone else meanwhile: left as it is
        fd = _open_dir(path)
        try:
            _set_mode_owner(fd, DIR_MODE, uid, gid)  # the umask may have masked bits; make it exact
        finally:
            os.close(fd)
        created.append(path)
    return created


class _Dir(object):
    """The target directory, opened once; names inside it are resolved against the descriptor
    (Python 3) or checked to still be in it (Python 2.7: lstat of the directory before and after)."""

    def __init__(self, directory):
        self.path = directory
        self.fd = _open_dir(directory)
        self.st = os.fstat(self.fd)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def check(self):
        if not _same(_lstat(self.path), self.st):
            raise ToolkitError("%s was replaced (by a link or another directory) while the module "
                               "was writing; nothing was changed" % self.path)

    def join(self, name):
        return os.path.join(self.path, name)

    def open_excl(self, name, mode):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
        if _HAVE_DIR_FD:
            return os.open(name, flags, mode, dir_fd=self.fd)  # novermin (only where supported)
        self.check()
        fd = os.open(self.join(name), flags, mode)
        try:
            self.check()
            if os.fstat(fd).st_dev != self.st.st_dev:
                raise ToolkitError("%s: the new file is not in the opened directory" % self.join(name))
        except Exception:
            os.close(fd)
            self.unlink(name)
            raise
        return fd

    def unlink(self, name):
        try:
            if _HAVE_DIR_FD:
                os.unlink(name, dir_fd=self.fd)  # novermin
            else:
                os.unlink(self.join(name))
        except OSError:
            pass

    def rename(self, src, dst):
        if _HAVE_DIR_FD:
            os.rename(src, dst, src_dir_fd=self.fd, dst_dir_fd=self.fd)  # novermin
        else:
            self.check()
            os.rename(self.join(src), self.join(dst))

    def fsync(self):
        try:
            os.fsync(self.fd)
        except OSError:
            pass


def _random_name(base, suffix):
    return ".%s.%s%s" % (base, binascii.hexlify(os.urandom(8)).decode("ascii"), suffix)


def _create_file(dirobj, name, data, uid, gid):
    """Create dirobj/name exclusively (O_EXCL|O_NOFOLLOW), 0600 from creation, owner set on the
    descriptor, write everything, fsync. On any failure the new file is removed and the error raised."""
    fd = dirobj.open_excl(name, FILE_MODE)
    try:
        try:
            _set_mode_owner(fd, FILE_MODE, uid, gid)
            view = memoryview(data)
            offset = 0
            while offset < len(data):
                offset += os.write(fd, view[offset:])
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        dirobj.unlink(name)
        raise


def _atomic_write(module, dirobj, base, data, uid, gid, backup_data=None):
    """Replace dirobj/base by `data` atomically: a temp file with an unpredictable name, created
    exclusively and 0600 (owner set on its descriptor), fsync, rename over the file, fsync of the
    directory. With backup_data, a 0600 copy of the previous content is kept next to it. Returns the
    backup's path or None. On every failure path (disk full, fsync or chown error, ...) the temp file
    and the backup are removed and the file is left as it was."""
    tmp = None
    backup = None
    try:
        if backup_data is not None:
            backup = "%s.%d.%s~" % (base, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S"))
            _create_file(dirobj, backup, backup_data, uid, gid)
        for attempt in range(10):
            candidate = _random_name(base, ".tmp")
            try:
                _create_file(dirobj, candidate, data, uid, gid)
                tmp = candidate
                break
            except OSError as e:
                if e.errno != errno.EEXIST:
                    raise
        if tmp is None:
            raise ToolkitError("cannot create a temporary file in %s" % dirobj.path)
        target = dirobj.join(base)
        if module is not None and module.selinux_enabled():
            st = _lstat(target)
            context = module.selinux_context(target) if st is not None else \
                module.selinux_default_context(target)
            module.set_context_if_different(dirobj.join(tmp), context, False)
        dirobj.rename(tmp, base)
        tmp = None
    except BaseException as e:
        if tmp is not None:
            dirobj.unlink(tmp)
        if backup is not None:
            dirobj.unlink(backup)
        if isinstance(e, (IOError, OSError)):
            raise ToolkitError("%s: cannot write: %s; nothing was changed (the temporary file%s "
                               "removed)" % (dirobj.join(base), e.strerror or e,
                                             " and the backup were" if backup else " was"))
        raise
    dirobj.fsync()
    return dirobj.join(backup) if backup else None


def _fix_mode(path, st, uid, gid):
    """mode 0600 and owner on the open file (O_NOFOLLOW|O_NONBLOCK; must still be the file read)."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _link_error(path, "credentials file")
        raise ToolkitError("%s: cannot open to set its mode: %s" % (path, e.strerror or e))
    try:
        if not _same(os.fstat(fd), st):
            raise ToolkitError("%s was replaced while the module ran; nothing was changed" % path)
        _set_mode_owner(fd, FILE_MODE, uid, gid)
    finally:
        os.close(fd)


def _apply_file(module, path, entries, remove, uid, gid):
    """Plan, write (unless check mode) and report one file; the result of the single-file module."""
    params = module.params
    # a link at the file or at its directory is refused, never followed (issue 8 section 2)
    target = path
    directory = os.path.dirname(target) or "."
    dir_st = _check_dir_links(directory)

    existing, st = _read_existing(target) if dir_st is not None else (None, None)
    plan = plan_update(existing, entries=entries, remove=remove,
                       invalid_existing=params["invalid_existing"], source=path)

    dir_exists = dir_st is not None
    dir_created = not dir_exists and plan["write"]
    dir_mode_changed = False
    if dir_exists and os.path.basename(directory) == ".docker" and (st is not None or plan["write"]):
        dir_mode_changed = stat.S_IMODE(dir_st.st_mode) != DIR_MODE

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
            _make_dirs(directory, uid, gid)
        dirobj = _Dir(directory)
        try:
            if dir_mode_changed:
                os.fchmod(dirobj.fd, DIR_MODE)  # on the opened directory, never through a link
            if content_changed:
                backup_data = existing if params["backup"] and existing is not None else None
                backup_file = _atomic_write(module, dirobj, os.path.basename(target),
                                            to_bytes(plan["content"]), uid, gid, backup_data)
            elif mode_changed:
                _fix_mode(target, st, uid, gid)
        finally:
            dirobj.close()

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


def _ids(module):
    params = module.params
    running_as_root = os.geteuid() == 0
    uid = _lookup_id(module, params["owner"], "owner")
    gid = _lookup_id(module, params["group"], "group")
    if uid is None and running_as_root:
        uid = 0
    if gid is None and running_as_root:
        gid = 0
    return uid, gid


def _verify_file(module, path, entries):
    """The host proves that its own file (``path``, as written) logs in and pulls each registry's test
    image: the core's v2 flow (v2auth, as the module registry_verify does it), no client needed on the
    host, nothing on any command line. Returns the per-registry messages; raises ToolkitError naming
    the file and every registry that failed."""
    params = module.params
    data, _st = read_regular(path, "credentials file")
    if data is None:
        raise ToolkitError("%s: cannot verify: the file does not exist" % path)
    config = parse_config(data, source=path)
    images = params["verify_images"] or {}
    messages, failures = [], []
    for entry in entries:
        registry = entry["registry"]
        image = images.get(registry) or None
        try:
            credentials = file_credentials(config, registry, image)
            if credentials is None:
                raise ToolkitError("%s has no credentials for %s" % (path, normalize_registry(registry)))
            module.no_log_values.add(credentials[1])  # mask the file's password in any output
            result, _attempts, _ca = verify_over_https(registry_host(registry), registry, credentials[0],
                                                       credentials[1], image, params)
            if not result.get("credentials_tested"):
                module.warn(result["msg"])
            messages.append(result["msg"])
        except ToolkitError as e:
            failures.append(e.msg)
    if failures:
        raise ToolkitError("%s: the host's own verification failed: %s" % (path, "; ".join(failures)))
    return messages


def run(module):
    """One call per host: every file (``path`` or ``paths``) planned, written and reported; with
    ``verify`` the first file is then verified from this host. Returns (result, error or None)."""
    params = module.params
    if params["retries"] < 0 or params["timeout"] <= 0:
        raise ToolkitError("retries must be >= 0 and timeout > 0")
    entries, remove = _entries_from_params(module)
    if params["remove"]:
        if entries is None:
            raise ToolkitError("remove is for state present (with state absent, list the registries to remove)")
        remove = list(params["remove"])
        removed = set(normalize_registry(r) for r in remove)
        clash = [e["registry"] for e in entries if normalize_registry(e["registry"]) in removed]
        if clash:
            raise ToolkitError("%s both written and removed: a registry listed in remove is not written"
                               % ", ".join(clash))
    uid, gid = _ids(module)
    paths = params["paths"] if params["paths"] is not None else [params["path"]]
    if not paths:
        raise ToolkitError("paths must name at least one file")
    files, errors = [], []
    for path in paths:
        try:
            files.append(_apply_file(module, path, entries, remove, uid, gid))
        except ToolkitError as e:
            errors.append(e.msg if path in e.msg else "%s: %s" % (path, e.msg))
        except (IOError, OSError) as e:
            errors.append("%s: %s" % (path, to_native(e)))
    changed_paths = [f["path"] for f in files if f["changed"]]
    verified = []
    first = files[0] if files and files[0]["path"] == paths[0] else None
    if (not errors and entries and params["verify"] != "never" and not module.check_mode and first is not None
            and (params["verify"] == "always" or first["changed"])):
        try:
            verified = _verify_file(module, paths[0], entries)
        except ToolkitError as e:
            errors.append(e.msg)
    if params["paths"] is None and files:
        result = dict(files[0])  # the single-file result, as before paths existed
    else:
        result = dict(changed=bool(changed_paths), msg="; ".join(f["msg"] for f in files))
        if params["paths"] is None:
            result["path"] = params["path"]
        if module._diff:
            result["diff"] = [d for f in files for d in f.get("diff", [])]
    result["files"] = [dict((k, v) for k, v in f.items() if k != "diff") for f in files]
    result["changed_paths"] = changed_paths
    result["verified"] = verified
    if verified:
        result["msg"] = "%s; verified from this host: %s" % (result.get("msg", ""), "; ".join(verified))
    if params["compliance"]:
        # registry_compliance's checks of the files as they are now, in this call (site.yml: one call per host)
        try:
            result["compliance"] = compliance_host.check(params["compliance"])
        except ToolkitError as e:
            result["compliance"] = dict(failed=True, msg=e.msg)
    return result, ("; ".join(errors) if errors else None)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/var/lib/origin/.docker/config.json"),
            paths=dict(type="list", elements="path"),
            registries=dict(type="list", elements="dict", options=registry_entry.argument_spec()),
            remove=dict(type="list", elements="str"),
            registry=dict(type="str"),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            email=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            invalid_existing=dict(type="str", choices=["fail", "replace"], default="fail"),
            backup=dict(type="bool", default=False),
            owner=dict(type="str"),
            group=dict(type="str"),
            verify=dict(type="str", choices=["never", "changed", "always"], default="never"),
            verify_images=dict(type="dict", default={}),
            compliance=dict(type="dict", options=compliance_host.options_spec()),
            **verify_options_spec()
        ),
        mutually_exclusive=[["registries", "registry"], ["path", "paths"]],
        required_one_of=[["registries", "registry"]],
        supports_check_mode=True,
    )
    where = module.params["path"] if module.params["paths"] is None else ", ".join(module.params["paths"])
    try:
        result, error = run(module)
    except ToolkitError as e:
        msg = e.msg
        if module.params["paths"] is None and where not in msg:
            msg = "%s: %s" % (where, msg)
        module.fail_json(msg=msg, path=where, changed=False)
    if error is not None:
        # what was written stays reported (changed, changed_paths, backup_file), with every cause
        result["msg"] = error
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
