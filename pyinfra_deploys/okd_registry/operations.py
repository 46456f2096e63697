"""
pyinfra operations: registry credentials files (docker config.json) on OKD 3.11 hosts.

Secrets never leave the controller except inside the file itself:

* the current file is described by a fact WITHOUT its content (``RegistryAuthFile``: mode, owner,
  sha256); its content is read inside the operation with ``cat`` whose output is not printed, even with
  ``-vvv``, and merged on the controller by the toolkit's core (``plugins.module_utils.dockercfg``);
* the rendered file (``dockercfg.render_config``, the same renderer as the Ansible module, so the bytes
  are identical) is streamed over the SSH channel's stdin (no PTY, so nothing is echoed) into a temp file
  created with umask 077 in the target directory (0700), then chowned/chmodded and renamed over the file
  (atomic). No secret is in a command line, an operation name, a fact or a temp file readable by others;
* the operation names never include their arguments (pyinfra would print them).

The target needs only a POSIX shell with cat, dd, ls, chmod, chown, mkdir and mv (and date for backups).
"""
from __future__ import annotations

import difflib
import posixpath

from pyinfra import host, logger
from pyinfra import state as pyinfra_state
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.facts.server import Which
from pyinfra.operations import server

from . import REPO_ROOT  # noqa: F401  (puts the repository root on sys.path)
from .facts import RegistryAuthFile
from plugins.module_utils import dockercfg
from plugins.module_utils.errors import ToolkitError

DEFAULT_PATH = "/var/lib/origin/.docker/config.json"


class RedactedList(list):
    """A list whose printed forms never show its items (pyinfra prints operation arguments)."""

    def __repr__(self):
        return "<%d registry entries, redacted>" % len(self)

    __str__ = __repr__


def normalize_entries(registries):
    """okd_registries-style ({host, username, password, email?}) or core-style ({registry, ...}) dicts
    -> core entries [{registry, username, password, email?}] (a RedactedList)."""
    out = RedactedList()
    for index, item in enumerate(registries or ()):
        if not isinstance(item, dict):
            raise OperationError("registry entry #%d is not a mapping" % (index + 1))
        registry = item.get("registry") or item.get("host")
        label = item.get("name") or registry or "#%d" % (index + 1)
        for key, value in (("host", registry), ("username", item.get("username")),
                           ("password", item.get("password"))):
            if not value:
                raise OperationError("registry %s has no %s" % (label, key))
        entry = {"registry": registry, "username": item["username"], "password": item["password"]}
        if item.get("email"):
            entry["email"] = item["email"]
        out.append(entry)
    return out


def registry_names(registries):
    """Registry hosts from strings or dicts (state=absent)."""
    names = []
    for item in registries or ():
        if isinstance(item, dict):
            item = item.get("registry") or item.get("host")
        if not item:
            raise OperationError("a registry to remove has no name")
        names.append(item)
    return names


def _connector_arguments():
    args = dict(host.current_op_global_arguments or {})
    return {key: value for key, value in args.items() if key in CONNECTOR_ARGUMENT_KEYS}


def read_remote_file(path):
    """Content of a remote file as text. Its output is never printed (print_output=False), so the
    secrets stay out of the logs even with -vvv. Overridden in the unit tests."""
    kwargs = _connector_arguments()
    kwargs["_get_pty"] = False
    status, output = host.run_shell_command(
        StringCommand("cat", QuoteString(path)),
        print_output=False,
        print_input=pyinfra_state.print_input,
        **kwargs,
    )
    if not status:
        raise OperationError("%s: cannot read %s: %s" % (host.name, path, output.stderr.strip()))
    return "\n".join(output.stdout_lines) + "\n"


#: the backup's name, as the Ansible module's (``<path>.<pid>.<%Y-%m-%d@%H:%M:%S>~``): the pid is the
#: target shell's. It is created with umask 077 and noclobber (never over an existing file), 0600.
BACKUP_SCRIPT = (
    'if [ -f "$f" ]; then b="$f.$$.$(date +%Y-%m-%d@%H:%M:%S)~"; '
    '(set -C; cat "$f" > "$b"); chmod 600 "$b"; echo "backup: $b"; fi; '
)


def write_file_command(path, content, owner=None, group=None, backup=False):
    """The command that replaces `path` atomically with `content`, streamed on stdin (never on the
    command line). dd reads exactly the content's bytes (pyinfra appends a newline to stdin data).
    With backup, an existing file is first copied (0600) next to it, in the same command, right
    before the rename (a failed copy leaves the file alone)."""
    directory = posixpath.dirname(path) or "/"
    data = content.encode("utf-8")
    chown = 'chown "$o" "$t"; ' if (owner or group) else ""
    keep = BACKUP_SCRIPT if backup else ""
    # like the Ansible module: a missing directory is created 0700 (missing parents 0755), an
    # existing ".docker" directory is tightened to 0700, other existing directories are left alone
    script = (
        "set -e; umask 077; f=$1; d=$2; o=$3; n=$4; t=\"$d/.$(basename \"$f\").tmp.$$\"; "
        'if [ ! -d "$d" ]; then (umask 022; mkdir -p "$(dirname "$d")"); mkdir "$d"; chmod 700 "$d"; fi; '
        'case "$d" in */.docker) chmod 700 "$d";; esac; '
        'trap \'rm -f "$t"\' EXIT; '
        'dd of="$t" bs=1 count="$n" 2>/dev/null; '
        's=$(wc -c < "$t"); [ $s -eq "$n" ]; '
        + chown +
        'chmod 600 "$t"; '
        + keep +
        'mv -f "$t" "$f"; trap - EXIT'
    )
    return StringCommand(
        "sh", "-c", QuoteString(script), "okd-registry-write",
        QuoteString(path), QuoteString(directory),
        QuoteString("%s:%s" % (owner or "", group or "") if (owner or group) else ""),
        str(len(data)),
        _stdin=content,
        _get_pty=False,
    )


@operation()
def _registry_credentials(path=DEFAULT_PATH, registries=(), state="present", owner="root",
                          group="root", invalid_existing="fail", backup=False):
    if state not in ("present", "absent"):
        raise OperationError("state must be present or absent, not %r" % (state,))
    if invalid_existing not in ("fail", "replace"):
        raise OperationError("invalid_existing must be fail or replace")
    source = "%s:%s" % (host.name, path)

    info = host.get_fact(RegistryAuthFile, path=path)
    if info["type"] == "other":
        raise OperationError("%s exists but is not a regular file" % source)

    current_text = read_remote_file(path) if info["exists"] else None
    try:
        if state == "present":
            plan = dockercfg.plan_update(current_text, entries=normalize_entries(registries),
                                         invalid_existing=invalid_existing, source=source)
        else:
            plan = dockercfg.plan_update(current_text, remove=registry_names(registries),
                                         invalid_existing=invalid_existing, source=source)
    except ToolkitError as exc:
        raise OperationError("%s" % exc)

    if plan["write"]:
        if plan["replaced_invalid"]:
            logger.warning("%s%s was not a valid credentials file and is replaced: %s",
                           host.print_prefix, path, plan["replaced_invalid"])
        touched = plan["registries_changed"] if state == "present" else plan["registries_removed"]
        host.log("registry credentials %s: %s %s%s" % (
            path, "removed" if state == "absent" else "set", ", ".join(touched) or "(rewrite)",
            " (backup of the previous file kept)" if backup and info["exists"] else ""))
        if _diff_enabled():
            for line in difflib.unified_diff(plan["before"].splitlines(True),
                                             plan["after"].splitlines(True),
                                             path + " (before, redacted)",
                                             path + " (after, redacted)"):
                logger.info("  %s", line.rstrip("\n"))
        yield write_file_command(path, plan["content"], owner, group,
                                 backup=bool(backup) and bool(info["exists"]))
        return

    if not info["exists"]:
        host.noop("%s: no file, nothing to remove" % path)
        return

    # content is right: fix permissions/ownership only where needed (as the Ansible module does)
    directory = posixpath.dirname(path) or "/"
    if posixpath.basename(directory) == ".docker" and info["dir_mode"] not in (None, 0o700):
        yield StringCommand("chmod", "700", QuoteString(directory))
    if info["mode"] != 0o600:
        yield StringCommand("chmod", "600", QuoteString(path))
    if (owner and info["user"] != owner) or (group and info["group"] != group):
        yield StringCommand("chown", QuoteString("%s:%s" % (owner or "", group or "")),
                            QuoteString(path))
    host.noop("registry credentials %s are up to date" % path)


def _diff_enabled():
    try:
        return bool(pyinfra_state.config.DIFF)
    except Exception:  # pragma: no cover - no state (unit tests)
        return False


def registry_credentials(path=DEFAULT_PATH, registries=(), state="present", owner="root",
                         group="root", invalid_existing="fail", backup=False, **kwargs):
    """
    Manage registry credentials in a docker-style config.json (default the OKD 3.11 node's
    /var/lib/origin/.docker/config.json).

    + path: the file (mode 0600; its directory 0700)
    + registries: present: [{host|registry, username, password, email?}] (okd_registries items work);
      absent: registry hosts (strings) or such dicts
    + state: present (add/update these entries, keep all others) or absent (remove these entries only)
    + owner/group: of the file and its directory
    + invalid_existing: fail (default) or replace an existing file that is not a valid docker config
    + backup: when the content changes, keep a copy of the previous file (mode 0600) named like the
      Ansible module's, ``<path>.<pid>.<YYYY-MM-DD@HH:MM:SS>~``, made on the target inside the write
      command (umask 077, never over an existing file)

    The operation is always named without its arguments, so the secrets are never printed.
    """
    kwargs.setdefault("name", "Registry credentials %s (%s)" % (path, state))
    if state == "present":
        registries = normalize_entries(registries)
    else:
        registries = registry_names(registries)
    return _registry_credentials(path=path, registries=registries, state=state, owner=owner,
                                 group=group, invalid_existing=invalid_existing, backup=bool(backup),
                                 **kwargs)


registry_credentials._inner = _registry_credentials._inner  # type: ignore[attr-defined]


#: skopeo's own retries (``--retry-times``: transient errors only, never a refused login), used only
#: when the host's skopeo has the option (RHEL 7's older skopeo does not: one attempt there)
VERIFY_SCRIPT = (
    's=$1; n=$2; shift 2; '
    'if [ "$n" -gt 0 ] && "$s" inspect --help 2>&1 | grep -q -e --retry-times; then '
    'set -- --retry-times "$n" "$@"; fi; '
    'exec "$s" inspect "$@" >/dev/null'
)


def verify_command(skopeo, authfile, reference, cert_dir=None, retries=0):
    """``skopeo inspect --authfile FILE [--cert-dir DIR] REFERENCE`` (no credentials on the command
    line); with retries, skopeo's ``--retry-times N`` when the host's skopeo knows it."""
    options = ["--authfile", QuoteString(authfile)]
    if cert_dir:
        options += ["--cert-dir", QuoteString(cert_dir)]
    if not retries:
        return StringCommand(skopeo, "inspect", *(options + [QuoteString(reference), ">/dev/null"]))
    return StringCommand("sh", "-c", QuoteString(VERIFY_SCRIPT), "okd-registry-verify",
                         QuoteString(skopeo), str(int(retries)),
                         *(options + [QuoteString(reference)]))


def verify_time_budget(timeout, retries):
    """Seconds the host's check may take in all: every attempt `timeout` s, plus skopeo's back-off
    between attempts (1, 2, 4, ... s)."""
    retries = int(retries)
    return int(timeout) * (retries + 1) + (2 ** retries - 1)


@operation()
def _verify_pull_access(authfile=DEFAULT_PATH, registry=None, image=None, cert_dir=None,
                        timeout=60, retries=0):
    """See verify_pull_access."""
    if not pyinfra_state.is_executing:
        # the file may be written by an earlier operation of this run: check at execution only
        return
    reference = "docker://%s/%s" % (registry, image)
    skopeo = host.get_fact(Which, command="skopeo")
    if not skopeo:
        host.noop("skopeo is not installed; %s not verified from the host" % reference)
        return
    kwargs = _connector_arguments()
    kwargs["_get_pty"] = False
    budget = verify_time_budget(timeout, retries)
    if not kwargs.get("_timeout"):
        kwargs["_timeout"] = budget
    try:
        ok, output = host.run_shell_command(
            verify_command(skopeo, authfile, reference, cert_dir, retries), print_output=False,
            print_input=pyinfra_state.print_input, **kwargs)
    except TimeoutError:
        ok = False
        cause = "skopeo did not finish within %s s (registry_credentials_timeout %s s per attempt, " \
                "%s retries)" % (kwargs["_timeout"], timeout, retries)
    else:
        cause = output.stderr.strip() or "skopeo failed without a message"
    if ok:
        host.noop("%s: pull access to %s verified with %s" % (host.name, reference, authfile))
        return
    message = "%s: cannot pull %s with %s: %s" % (host.name, reference, authfile, cause)
    # fail the operation with the message (pyinfra shows the command's stderr)
    yield StringCommand("echo", QuoteString(message), ">&2;", "exit", "1")


def verify_pull_access(authfile=DEFAULT_PATH, registry=None, image=None, cert_dir=None, timeout=60,
                       retries=0, **kwargs):
    """
    Prove from the host that `authfile` alone gives pull access to registry/image, with
    ``skopeo inspect --authfile`` (no credentials on the command line). Runs at execution time, changes
    nothing; a failure fails the operation with skopeo's message. Skipped (noop) without skopeo.

    + timeout: seconds per attempt (the whole check may take ``verify_time_budget(timeout, retries)``)
    + retries: skopeo's ``--retry-times`` (transient errors only), when the host's skopeo has it
    """
    kwargs.setdefault("name", "Verify pull access to %s/%s with %s" % (registry, image, authfile))
    return _verify_pull_access(authfile=authfile, registry=registry, image=image, cert_dir=cert_dir,
                               timeout=timeout, retries=retries, **kwargs)


verify_pull_access._inner = _verify_pull_access._inner  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ restart

def any_changed(operations):
    """At execution: did any of these operations (their OperationMeta, on this host) change it?
    Operations not executed (yet) count as unchanged."""
    return any(meta.is_complete() and meta.did_change() for meta in operations)


def any_will_change(operations):
    """While pyinfra prepares with change detection (--dry, or without -y): would any change?"""
    return any(meta.will_change for meta in operations)


@operation()
def _restart_service(service=None, after=()):
    """See restart_service."""
    if not pyinfra_state.is_executing and after and not any_will_change(after):
        # --dry: only the hosts whose credentials files are about to change would restart it
        host.noop("no credentials file changes here, %s is not restarted" % service)
        return
    try:
        # the host's init system (systemctl, ...), as Ansible's service module: a stopped service
        # is started, a running one restarted
        commands = list(server.service._inner(service=service, running=True, restarted=True))
    except OperationError as exc:
        raise OperationError("%s: cannot restart %s: %s" % (host.name, service, exc))
    for command in commands:
        yield command


def restart_service(service, after=(), **kwargs):
    """
    Restart `service` on the hosts where one of the operations `after` (the OperationMetas returned by
    the credentials writes on this host) changed something, one host at a time, like the role's
    handler (``throttle: 1``).

    Uses pyinfra's ``_if`` (evaluated at execution, after the writes ran: ``OperationMeta.did_change``)
    and ``_serial=True``. With --dry the restart is shown only where a write would change something.
    """
    if not service or not isinstance(service, str):
        raise OperationError("restart_service needs a service name")
    after = list(after)
    conditions = kwargs.pop("_if", None) or []
    if callable(conditions):
        conditions = [conditions]
    kwargs["_if"] = [lambda: any_changed(after)] + list(conditions)
    kwargs.setdefault("_serial", True)
    kwargs.setdefault("name", "Restart %s where the registry credentials changed" % service)
    return _restart_service(service=service, after=after, **kwargs)


restart_service._inner = _restart_service._inner  # type: ignore[attr-defined]
