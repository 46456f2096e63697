# -*- coding: utf-8 -*-
# okd-registry-toolkit: reading a local file without following a planted link or blocking on a FIFO.
# Stdlib only, Python 2.7 and 3.6+. Used by the modules that read credentials files on a host
# (registry_credentials, registry_verify, registry_compliance).
"""Safe reads of credentials files (issue 8 §2).

``read_regular(path, what)`` returns ``(bytes, stat)`` or ``(None, None)`` when nothing is there. A
symbolic link, a FIFO, a directory or a device at ``path`` is a ``ToolkitError`` naming it and is never
opened for reading: ``lstat`` first, then ``O_NOFOLLOW|O_NONBLOCK`` and ``fstat`` catch a swap in between.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat
import tempfile

from .errors import ToolkitError

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def kind(mode):
    """What a non-regular file is, in words."""
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def lstat_or_none(path):
    """``os.lstat(path)``, None when nothing is there; other errors are ToolkitErrors naming the path."""
    try:
        return os.lstat(path)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise ToolkitError("%s: cannot stat: %s" % (path, e.strerror or e))


def link_error(path, what):
    try:
        dest = os.readlink(path)
    except OSError:
        dest = "?"
    return ToolkitError("%s is a symbolic link (to %s); refusing to follow it for the %s: remove the "
                        "link or manage the real path" % (path, dest, what))


def same_file(a, b):
    return a is not None and b is not None and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def read_regular(path, what="credentials file"):
    """Return (bytes or None, stat or None) of the regular file at ``path``, never through a link and
    never opening a FIFO, directory or device (each a ToolkitError naming the path)."""
    st = lstat_or_none(path)
    if st is None:
        return None, None
    if stat.S_ISLNK(st.st_mode):
        raise link_error(path, what)
    if not stat.S_ISREG(st.st_mode):
        raise ToolkitError("%s is %s, not a regular file; it was not opened and nothing was changed"
                           % (path, kind(st.st_mode)))
    try:
        fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise link_error(path, what)
        raise ToolkitError("%s: cannot read: %s" % (path, e.strerror or e))
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode) or not same_file(st, fst):
            raise ToolkitError("%s was replaced while it was being read; nothing was changed" % path)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks), fst
    except OSError as e:
        raise ToolkitError("%s: cannot read: %s" % (path, e.strerror or e))
    finally:
        os.close(fd)


def write_private(path, data):
    """Write bytes DATA to PATH atomically: a temp file in the same directory (mode 0600 from creation,
    mkstemp), renamed over PATH; on any failure the temp file is removed and the error raised. For files
    only the controller user may read (the compliance reports name hosts, users and paths). Returns PATH."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), 0o600)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
