"""The deploys' one reader of a remote file (registry credentials, the master's file, compliance).

``read_command(path)``: a POSIX shell script that prints the base64 of the file's exact bytes (a BOM,
CRLF, a missing final newline or non-UTF-8 reach the caller unchanged), or one marker on stderr and exit
1: no such file, a symbolic link at the file or at its directory (refused, never followed), not a
regular file (a FIFO, directory or device is never opened: the read uses ``dd iflag=nofollow,nonblock``
after the checks, so a swap in between can neither hang nor redirect it), read failed.
``decode_read`` turns its output into bytes or a ``RemoteReadError`` (kind and a message naming the
host and the path); ``read_remote_bytes(host, path, **connector_kwargs)`` runs it over pyinfra's
connection with ``print_output=False`` and no PTY, never through a fact (facts are printed by -vvv).

Used by operations (the credentials write), sources (the first master's file) and meant for compliance
(its own ``cat`` + ``.`` reader can switch to ``read_remote_bytes``).
"""
from __future__ import annotations

import base64
import binascii

import posixpath

from pyinfra import state as pyinfra_state
from pyinfra.api import QuoteString, StringCommand

from .facts import META_SCRIPT, RegistryAuthFile

#: stderr markers of the read (never followed by content)
READ_NO_FILE = "okd-registry-read: no such file"
READ_LINK = "okd-registry-read: symbolic link"
READ_NOT_REGULAR = "okd-registry-read: not a regular file"
READ_FAILED = "okd-registry-read: read failed"

#: the read itself, after the checks: the exact bytes of the regular file $f, base64-encoded
READ_PIPE = '{ dd if="$f" iflag=nofollow,nonblock bs=65536 2>/dev/null || echo "%s" >&2; } | base64' % READ_FAILED

READ_SCRIPT = (
    'f=$1; d=$(dirname "$f"); '
    'if [ -L "$d" ] || [ -L "$f" ]; then echo "%s" >&2; exit 1; fi; '
    'if [ ! -e "$f" ]; then echo "%s" >&2; exit 1; fi; '
    'if [ ! -f "$f" ]; then echo "%s" >&2; exit 1; fi; '
    % (READ_LINK, READ_NO_FILE, READ_NOT_REGULAR)
) + READ_PIPE

#: stdout line of stat_read_command between the metadata and the base64 of the content
CONTENT_MARKER = "okd-registry-content"

# The metadata of the file and its directory (facts.META_SCRIPT: what the RegistryAuthFile fact reports)
# and, for a regular file in a directory that is not a symbolic link, the one read: one round trip.
STAT_READ_SCRIPT = META_SCRIPT % ('if [ ! -L "$d" ]; then echo "%s"; %s; fi; ' % (CONTENT_MARKER, READ_PIPE))


def read_command(path):
    """The one read of a credentials file: base64 of its exact bytes on stdout, or a marker on stderr
    (missing, symbolic link at the file or its directory, not a regular file, read failed)."""
    return StringCommand("sh", "-c", QuoteString(READ_SCRIPT), "okd-registry-read", QuoteString(path))


class RemoteReadError(Exception):
    """kind: "missing", "link", "not_regular" or "failed"; message names the host and the path."""

    def __init__(self, kind, message):
        super(RemoteReadError, self).__init__(message)
        self.kind = kind
        self.message = message


def decode_read(name, path, status, output):
    """bytes of a read_command's output, or RemoteReadError naming `name`:`path` and the cause."""
    stderr = output.stderr.strip()
    label = "%s:%s" % (name, path)
    if READ_LINK in stderr:
        raise RemoteReadError("link", "%s: %s or its directory is a symbolic link; refusing to follow "
                                      "it (remove the link or manage the real path)" % (name, path))
    if READ_NO_FILE in stderr:
        raise RemoteReadError("missing", "%s does not exist" % label)
    if READ_NOT_REGULAR in stderr:
        raise RemoteReadError("not_regular", "%s is not a regular file (a FIFO, directory or device); "
                                             "it was not opened" % label)
    if READ_FAILED in stderr or not status:
        raise RemoteReadError("failed", "%s cannot be read: %s"
                              % (label, stderr or "the read failed without a message"))
    try:
        return base64.b64decode("".join(line.strip() for line in output.stdout_lines))
    except (binascii.Error, ValueError) as exc:
        raise RemoteReadError("failed", "%s: the read returned garbage (%s)" % (label, exc))


def stat_read_command(path):
    """The credentials operation's one round trip: the RegistryAuthFile fact's metadata lines of the
    file and its directory, then (regular file, directory not a symbolic link) CONTENT_MARKER and the
    base64 of the file's exact bytes by the one read (READ_PIPE). Run with print_output=False like
    every read (never a fact: facts are printed by -vvv)."""
    return StringCommand("sh", "-c", QuoteString(STAT_READ_SCRIPT), "okd-registry-stat-read",
                         QuoteString(path), QuoteString(posixpath.dirname(path) or "/"))


def decode_stat_read(name, path, status, output):
    """(info, content) of a stat_read_command's output: info as the RegistryAuthFile fact gives it,
    content the exact bytes of a regular file (None otherwise). A failed read raises RemoteReadError
    naming `name`:`path` (links, FIFOs, directories are reported in info, never read)."""
    label = "%s:%s" % (name, path)
    stderr = output.stderr.strip()
    meta, data, content = [], [], False
    for line in output.stdout_lines:
        if content:
            data.append(line.strip())
        elif line.strip() == CONTENT_MARKER:
            content = True
        else:
            meta.append(line)
    if READ_FAILED in stderr or not status:
        raise RemoteReadError("failed", "%s cannot be read: %s"
                              % (label, stderr or "the read failed without a message"))
    info = RegistryAuthFile().process(meta)
    if not content:
        return info, None
    if info["type"] != "file":  # pragma: no cover - the script reads regular files only
        raise RemoteReadError("failed", "%s: the read returned content for a %s" % (label, info["type"]))
    try:
        return info, base64.b64decode("".join(data))
    except (binascii.Error, ValueError) as exc:
        raise RemoteReadError("failed", "%s: the read returned garbage (%s)" % (label, exc))


def _run_unprinted(remote, command, connector_kwargs):
    """(status, output) of COMMAND on `remote`: never printed (print_output=False), no PTY, nothing on stdin."""
    connector_kwargs.pop("_stdin", None)
    connector_kwargs["_get_pty"] = False
    return remote.run_shell_command(command, print_output=False,
                                    print_input=getattr(pyinfra_state, "print_input", False), **connector_kwargs)


def read_remote_bytes(remote, path, **connector_kwargs):
    """Exact bytes of `path` on `remote` (a pyinfra Host), never printed (print_output=False, no PTY),
    never through a fact. Raises RemoteReadError."""
    status, output = _run_unprinted(remote, read_command(path), connector_kwargs)
    return decode_read(remote.name, path, status, output)


def read_remote_state(remote, path, **connector_kwargs):
    """(info, content) of `path` on `remote` in one round trip (stat_read_command, decode_stat_read), run as
    read_remote_bytes runs the read. Raises RemoteReadError."""
    status, output = _run_unprinted(remote, stat_read_command(path), connector_kwargs)
    return decode_stat_read(remote.name, path, status, output)
