"""
pyinfra operations: registry credentials files (docker config.json) on OKD 3.11 hosts.

Secrets never leave the controller except inside the file itself:

* the current file is read inside the operation in one round trip (``stat_read_command``): its type,
  mode and owner (what the fact ``RegistryAuthFile`` reports, which never holds the content or a hash
  of it) and its content by the one reader (base64 of the exact bytes), output never printed, even
  with ``-vvv`` (never a fact); the content is merged on the controller by the toolkit's core
  (``plugins.module_utils.dockercfg``);
* the rendered file (``dockercfg.render_config``, the same renderer as the Ansible module, so the bytes
  are identical) is streamed over the SSH channel's stdin (no PTY, so nothing is echoed) by the one
  writer (``write_file_command``) into a private staging directory (``mktemp -d``: unpredictable name,
  0700, in the target directory), chowned/chmodded there and renamed over the file (atomic, ``mv -T``
  replaces the name and never follows it). No secret is in a command line, an operation name, a fact or
  a temp file readable by others;
* a symbolic link at the file or its directory is refused naming it, never followed; a FIFO, directory
  or device at the path is an error and is never opened; every failure removes the staging directory
  and the backup;
* the operation names never include their arguments (pyinfra would print them).

The target needs a POSIX shell and GNU coreutils (RHEL/CentOS 7 have them): dd, head, wc, base64,
mktemp, mv -T, ln -T, chmod, chown, mkdir (and date for backups).
"""
from __future__ import annotations

import difflib
import posixpath

from pyinfra import host, logger
from pyinfra import state as pyinfra_state
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.operations import server

from . import REPO_ROOT  # noqa: F401  (puts the repository root on sys.path)
from .remote_read import (  # noqa: F401  (re-exported: the one reader's names, as before)
    READ_FAILED, READ_LINK, READ_NO_FILE, READ_NOT_REGULAR, READ_SCRIPT, RemoteReadError, decode_read,
    decode_stat_read, read_command, read_remote_bytes, read_remote_state, stat_read_command)
from plugins.module_utils import dockercfg
from plugins.module_utils.errors import ToolkitError
from plugins.module_utils.registry_entry import registry_entry

DEFAULT_PATH = "/var/lib/origin/.docker/config.json"


class RedactedList(list):
    """A list whose printed forms never show its items (pyinfra prints operation arguments)."""

    def __repr__(self):
        return "<%d registry entries, redacted>" % len(self)

    __str__ = __repr__


def _label(item, index):
    """How an entry is named in errors: its name, else its registry/host as given, else its position."""
    return str(item.get("name") or item.get("registry") or item.get("host") or "#%d" % (index + 1))


def normalize_entries(registries):
    """okd_registries-style ({host, username, password, email?}) or core-style ({registry, ...}) dicts
    -> core entries [{registry, username, password, email?}] (a RedactedList). The registry is the
    core's registry_entry() key (host/registry spellings resolved and checked as the modules do)."""
    out = RedactedList()
    for index, item in enumerate(registries or ()):
        if not isinstance(item, dict):
            raise OperationError("registry entry #%d is not a mapping" % (index + 1))
        label = _label(item, index)
        try:
            registry = registry_entry(item, where="registry %s" % label)["registry"]
        except ToolkitError as e:
            raise OperationError(e.msg)
        for key in ("username", "password"):
            if not item.get(key):
                raise OperationError("registry %s has no %s" % (label, key))
        entry = {"registry": registry, "username": item["username"], "password": item["password"]}
        if item.get("email"):
            entry["email"] = item["email"]
        out.append(entry)
    return out


def registry_names(registries):
    """Registry keys from strings or dicts (state=absent); dicts through the core's registry_entry()."""
    names = []
    for index, item in enumerate(registries or ()):
        if isinstance(item, dict):
            try:
                item = registry_entry(item, where="registry to remove %s" % _label(item, index))["registry"]
            except ToolkitError as e:
                raise OperationError(e.msg)
        if not item:
            raise OperationError("a registry to remove has no name")
        names.append(item)
    return names


def _connector_arguments():
    args = dict(host.current_op_global_arguments or {})
    return {key: value for key, value in args.items() if key in CONNECTOR_ARGUMENT_KEYS}


# ------------------------------------------------------------------------------ safe remote I/O
# One reader and one writer for every credentials file the deploys touch (issue 8 section 2):
# * a symbolic link at the file or at its directory is refused, naming it, never followed;
# * a FIFO, directory or device at the path is an error and is never opened (the read uses dd with
#   iflag=nofollow,nonblock after the checks, so a swap in between cannot hang or redirect it);
# * the content travels base64-encoded on the read (exact bytes: a BOM, CRLF or non-UTF-8 reach the
#   core, which reports them; pyinfra would fail decoding them) and on stdin for the write (never on a
#   command line);
# * the write stages the new file (and the backup) in a private directory made by mktemp -d
#   (unpredictable name, 0700, in the target directory, so the rename is atomic), sets owner and mode
#   there, then renames it over the file with mv -T (which replaces a name, never follows it); every
#   failure (short input, disk full, chown error, ...) removes the staging directory and the backup.

# The reader (read_command, decode_read, read_remote_bytes, RemoteReadError, the READ_* markers) is
# remote_read.py, shared with sources and compliance; imported above, so its names stay importable here.


def read_file_state(path):
    """(info, content) of a credentials file on the current host in one round trip: the metadata the
    RegistryAuthFile fact reports and, for a regular file, its exact bytes by the one reader
    (remote_read.read_remote_state; never printed, no PTY, never a fact)."""
    try:
        return read_remote_state(host, path, **_connector_arguments())
    except RemoteReadError as exc:
        raise OperationError(exc.message) from None


WRITE_SCRIPT = (
    "set -e; umask 077; f=$1; d=$2; o=$3; n=$4; k=$5; p=; bk=; done=; "
    'fail() { echo "okd-registry-write: $*" >&2; exit 1; }; '
    'trap \'[ -z "$p" ] || rm -rf "$p"; [ -z "$bk" ] || [ -n "$done" ] || rm -f "$bk"\' EXIT; '
    'if [ -L "$d" ]; then fail "$d is a symbolic link; refusing to follow it"; fi; '
    'if [ -L "$f" ]; then fail "$f is a symbolic link; refusing to follow it"; fi; '
    'if [ -e "$d" ] && [ ! -d "$d" ]; then fail "$d is not a directory"; fi; '
    'if [ -e "$f" ] && [ ! -f "$f" ]; then fail "$f is not a regular file; it was not opened"; fi; '
    # missing directories: each created 0700 (umask), owned by $o, never through a link
    'if [ ! -d "$d" ]; then set --; c=$d; '
    '  while [ ! -e "$c" ] && [ ! -L "$c" ]; do set -- "$c" "$@"; c=$(dirname "$c"); done; '
    '  for c in "$@"; do mkdir "$c"; if [ -n "$o" ]; then chown -h "$o" "$c"; fi; done; fi; '
    'case "$d" in */.docker) chmod 700 "$d";; esac; '
    # the staging directory: unpredictable name, 0700, in the target directory (same filesystem)
    'p=$(mktemp -d "$d/.$(basename "$f").XXXXXXXXXX"); '
    'head -c "$n" > "$p/new"; s=$(wc -c < "$p/new"); '
    '[ "$s" -eq "$n" ] || fail "short input ($s of $n bytes); nothing was changed"; '
    'if [ -n "$o" ]; then chown "$o" "$p/new"; fi; chmod 600 "$p/new"; '
    'sync "$p/new" 2>/dev/null || sync; '
    'if [ "$k" = 1 ] && [ -f "$f" ]; then '
    '  dd if="$f" iflag=nofollow,nonblock of="$p/old" 2>/dev/null || fail "cannot copy $f for the backup"; '
    '  if [ -n "$o" ]; then chown "$o" "$p/old"; fi; chmod 600 "$p/old"; '
    '  b="$f.$$.$(date +%Y-%m-%d@%H:%M:%S)~"; '
    '  ln -T "$p/old" "$b" 2>/dev/null || fail "cannot create the backup $b (exists?)"; bk=$b; '
    '  echo "backup: $b"; fi; '
    'if [ -L "$f" ]; then fail "$f became a symbolic link; refusing to follow it"; fi; '
    'mv -fT "$p/new" "$f"; done=1'
)


def write_file_command(path, content, owner=None, group=None, backup=False):
    """The one write of a credentials file: replaces `path` atomically with `content`, streamed on
    stdin (never on the command line; pyinfra appends a newline, `head -c` takes exactly the content's
    bytes). With backup, an existing file is first copied (0600, owner like the file) to
    ``<path>.<pid>.<YYYY-MM-DD@HH:MM:SS>~`` (a hard link from the staging directory: never over an
    existing file, never through a link), in the same command; a failed write removes it again.
    Missing directories are created 0700 owned by owner/group; an existing ``.docker`` directory is
    tightened to 0700; a symbolic link at the file or the directory fails the command."""
    directory = posixpath.dirname(path) or "/"
    data = content.encode("utf-8")
    return StringCommand(
        "sh", "-c", QuoteString(WRITE_SCRIPT), "okd-registry-write",
        QuoteString(path), QuoteString(directory),
        QuoteString("%s:%s" % (owner or "", group or "") if (owner or group) else ""),
        str(len(data)), "1" if backup else "0",
        _stdin=content,
        _get_pty=False,
    )


FIX_MODE_SCRIPT = (
    'f=$1; d=$2; o=$3; m=$4; '
    'if [ -L "$d" ] || [ -L "$f" ]; then echo "okd-registry-fix-mode: $f or $d is a symbolic link; '
    'refusing to follow it" >&2; exit 1; fi; '
    'if [ ! -f "$f" ]; then echo "okd-registry-fix-mode: $f is not a regular file" >&2; exit 1; fi; '
    'case "$d" in */.docker) chmod 700 "$d";; esac; '
    'if [ -n "$o" ]; then chown -h "$o" "$f"; fi; '
    'if [ "$m" = 1 ]; then chmod 600 "$f"; fi'
)


def fix_mode_command(path, owner=None, group=None, mode=True):
    """Mode 0600 (mode=True) and owner of an existing file whose content is right, its .docker
    directory 0700; refused (exit 1) when the file or its directory is a symbolic link."""
    return StringCommand("sh", "-c", QuoteString(FIX_MODE_SCRIPT), "okd-registry-fix-mode",
                         QuoteString(path), QuoteString(posixpath.dirname(path) or "/"),
                         QuoteString("%s:%s" % (owner or "", group or "") if (owner or group) else ""),
                         "1" if mode else "0")


@operation()
def _registry_credentials(path=DEFAULT_PATH, registries=(), state="present", owner="root",
                          group="root", invalid_existing="fail", backup=False):
    if state not in ("present", "absent"):
        raise OperationError("state must be present or absent, not %r" % (state,))
    if invalid_existing not in ("fail", "replace"):
        raise OperationError("invalid_existing must be fail or replace")
    source = "%s:%s" % (host.name, path)

    # one round trip: the file's metadata (what the RegistryAuthFile fact reports) and its content
    info, current_bytes = read_file_state(path)
    if info.get("dir_type") == "link":
        raise OperationError("%s: %s is a symbolic link; refusing to follow it (remove the link or "
                             "manage the real path)" % (host.name, posixpath.dirname(path) or "/"))
    if info.get("dir_type") == "other":
        raise OperationError("%s: %s is not a directory" % (host.name, posixpath.dirname(path) or "/"))
    if info["type"] == "link":
        raise OperationError("%s is a symbolic link; refusing to follow it (remove the link or manage "
                             "the real path)" % source)
    if info["type"] == "other":
        raise OperationError("%s is not a regular file (a FIFO, directory or device); it was not "
                             "opened" % source)

    current_text = current_bytes if info["exists"] else None
    try:
        if state == "present":
            plan = dockercfg.plan_update(current_text, entries=normalize_entries(registries),
                                         invalid_existing=invalid_existing, source=source)
        else:
            plan = dockercfg.plan_update(current_text, remove=registry_names(registries),
                                         invalid_existing=invalid_existing, source=source)
    except ToolkitError as exc:
        raise OperationError("%s" % exc) from None  # the cause, not a traceback

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
    fix_dir = posixpath.basename(directory) == ".docker" and info["dir_mode"] not in (None, 0o700)
    fix_mode = info["mode"] != 0o600
    fix_owner = (owner and info["user"] != owner) or (group and info["group"] != group)
    if fix_dir or fix_mode or fix_owner:
        # one guarded command (a link planted since the fact was read is refused, never followed)
        yield fix_mode_command(path, owner if fix_owner else None, group if fix_owner else None,
                               mode=fix_mode)
        return
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


#: The host's check of every registry in one command (``sh -c VERIFY_SCRIPT okd-registry-verify N FILE
#: REF1 CERTDIR1 REF2 CERTDIR2 ...``; an empty CERTDIR means skopeo's own certs.d): skopeo is looked up
#: on the host (none: one line ``okd-registry-verify: no skopeo``, exit 0), then ``skopeo inspect --raw
#: --authfile FILE [--cert-dir DIR] REF`` runs for every reference at once (background jobs; --raw
#: fetches the manifest with the token the file's credentials get, the same proof of pull access as the
#: core's v2 flow of the Ansible side, without the tag list and config blob skopeo's default output
#: needs). With N > 0 skopeo's own ``--retry-times N`` is given (transient errors only, never a refused
#: login); a skopeo that does not know the option (RHEL 7's older one) says so naming it, and that
#: reference is run once without it. Each job prints one line ``okd-registry-verify INDEX STATUS
#: MESSAGE`` (skopeo's stderr on one line; one short write, so lines of parallel jobs never mix).
VERIFY_SCRIPT = (
    'n=$1; f=$2; shift 2; '
    's=$(command -v skopeo) || { echo "okd-registry-verify: no skopeo"; exit 0; }; '
    'chk() { i=$1; r=$2; c=$3; x=1; '
    'set -- --raw --authfile "$f"; if [ -n "$c" ]; then set -- "$@" --cert-dir "$c"; fi; '
    'if [ "$n" -gt 0 ]; then o=$("$s" inspect --retry-times "$n" "$@" "$r" 2>&1 >/dev/null) && x=0; '
    'case "$x:$o" in 1:*-retry-times*) x=1; o=$("$s" inspect "$@" "$r" 2>&1 >/dev/null) && x=0;; esac; '
    'else o=$("$s" inspect "$@" "$r" 2>&1 >/dev/null) && x=0; fi; '
    'printf "okd-registry-verify %s %s %s\\n" "$i" "$x" "$(printf %s "$o" | tr "\\n" " " | cut -c 1-2000)"; }; '
    'i=0; while [ $# -ge 2 ]; do chk "$i" "$1" "$2" & i=$((i + 1)); shift 2; done; wait'
)
VERIFY_MARKER = "okd-registry-verify"
NO_SKOPEO = "okd-registry-verify: no skopeo"


def verify_command(authfile, checks, retries=0):
    """The host's one command checking `authfile` against every ``(reference, cert_dir)`` of `checks`
    (``docker://REGISTRY/IMAGE``; cert_dir None for skopeo's own certs.d) at once; no credentials on the
    command line. See VERIFY_SCRIPT."""
    args = []
    for reference, cert_dir in checks:
        args += [QuoteString(reference), QuoteString(cert_dir or "")]
    return StringCommand("sh", "-c", QuoteString(VERIFY_SCRIPT), VERIFY_MARKER, str(int(retries)),
                         QuoteString(authfile), *args)


def parse_verify_output(lines, count):
    """None when the host has no skopeo, else [(ok, message)] for each of the `count` checks, in order
    (a check that printed nothing failed: ``skopeo gave no result``)."""
    results = {}
    for line in lines:
        line = line.strip()
        if line == NO_SKOPEO:
            return None
        bits = line.split(" ", 3)
        if len(bits) >= 3 and bits[0] == VERIFY_MARKER and bits[1].isdigit() and bits[2].isdigit():
            results[int(bits[1])] = (bits[2] == "0", (bits[3] if len(bits) > 3 else "").strip())
    return [results.get(i, (False, "skopeo gave no result")) for i in range(count)]


def verify_time_budget(timeout, retries):
    """Seconds the host's check may take in all: every attempt `timeout` s, plus skopeo's back-off
    between attempts (1, 2, 4, ... s). The checks of one host run at the same time: one budget."""
    retries = int(retries)
    return int(timeout) * (retries + 1) + (2 ** retries - 1)


def _image_list(registry=None, image=None, cert_dir=None, images=None):
    if images is None:
        images = [{"registry": registry, "image": image, "cert_dir": cert_dir}]
    out = []
    for item in images:
        if not item.get("registry") or not item.get("image"):
            raise OperationError("verify_pull_access needs a registry and an image for every check")
        out.append({"registry": item["registry"], "image": item["image"], "cert_dir": item.get("cert_dir")})
    return out


@operation()
def _verify_pull_access(authfile=DEFAULT_PATH, registry=None, image=None, cert_dir=None,
                        timeout=60, retries=0, images=None):
    """See verify_pull_access."""
    checks = _image_list(registry, image, cert_dir, images)
    if not pyinfra_state.is_executing:
        # the file may be written by an earlier operation of this run: check at execution only
        return
    references = ["docker://%s/%s" % (c["registry"], c["image"]) for c in checks]
    kwargs = _connector_arguments()
    kwargs.pop("_stdin", None)
    kwargs["_get_pty"] = False
    budget = verify_time_budget(timeout, retries)
    if not kwargs.get("_timeout"):
        kwargs["_timeout"] = budget
    command = verify_command(authfile, [(r, c["cert_dir"]) for r, c in zip(references, checks)], retries)
    try:
        ok, output = host.run_shell_command(command, print_output=False,
                                            print_input=pyinfra_state.print_input, **kwargs)
    except TimeoutError:
        cause = "skopeo did not finish within %s s (registry_credentials_timeout %s s per attempt, " \
                "%s retries)" % (kwargs["_timeout"], timeout, retries)
        failures = [(r, cause) for r in references]
    else:
        results = parse_verify_output(output.stdout_lines, len(references))
        if results is None:
            host.noop("skopeo is not installed; %s not verified from the host" % ", ".join(references))
            return
        if not ok:
            fallback = output.stderr.strip() or "the check failed without a message"
            results = [(False, fallback) if not good else (good, msg) for good, msg in results]
        failures = [(r, msg or "skopeo failed without a message")
                    for r, (good, msg) in zip(references, results) if not good]
    if not failures:
        host.noop("%s: pull access to %s verified with %s" % (host.name, ", ".join(references), authfile))
        return
    message = "; ".join("%s: cannot pull %s with %s: %s" % (host.name, reference, authfile, cause)
                        for reference, cause in failures)
    # fail the operation with the message (pyinfra shows the command's stderr)
    yield StringCommand("echo", QuoteString(message), ">&2;", "exit", "1")


def verify_pull_access(authfile=DEFAULT_PATH, registry=None, image=None, cert_dir=None, timeout=60,
                       retries=0, images=None, **kwargs):
    """
    Prove from the host that `authfile` alone gives pull access to registry/image, or to every
    ``{"registry", "image", "cert_dir"?}`` of `images`, with ``skopeo inspect --raw --authfile`` (no
    credentials on the command line): one command for all of them, run at the same time on the host
    (VERIFY_SCRIPT). Runs at execution time, changes nothing; a failure fails the operation naming the
    host, each image that cannot be pulled, the file and skopeo's message. Skipped (noop) without skopeo.

    + timeout: seconds per attempt (the whole check may take ``verify_time_budget(timeout, retries)``)
    + retries: skopeo's ``--retry-times`` (transient errors only), when the host's skopeo has it
    """
    checks = _image_list(registry, image, cert_dir, images)
    kwargs.setdefault("name", "Verify pull access to %s with %s" % (
        ", ".join("%s/%s" % (c["registry"], c["image"]) for c in checks), authfile))
    return _verify_pull_access(authfile=authfile, registry=registry, image=image, cert_dir=cert_dir,
                               timeout=timeout, retries=retries, images=images, **kwargs)


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
