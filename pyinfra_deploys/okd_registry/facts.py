"""Facts that describe a credentials file WITHOUT its content.

Fact output is printed by ``pyinfra -vvv`` (print_fact_output), so a fact must never return secrets:
this one returns only existence, type, permissions and owner/group (no hash of the file).
"""
from __future__ import annotations

import posixpath

from pyinfra.api import FactBase, StringCommand, QuoteString

_PERM_BITS = {"r": 4, "w": 2, "x": 1, "s": 1, "t": 1}


def symbolic_to_octal(perms):
    """'-rw-------' -> 0o600 (setuid/setgid/sticky bits are not needed here and ignored)."""
    perms = perms[1:10]
    value = 0
    for i, ch in enumerate(perms):
        bit = {0: 4, 1: 2, 2: 1}[i % 3] if ch in _PERM_BITS else 0
        value |= bit << (3 * (2 - i // 3))
    return value


#: The metadata lines of a credentials file and its directory ($1 the file, $2 its directory), never
#: the content: ``dir MODE USER GROUP`` | ``dirlink`` | ``dirother``, then ``file MODE USER GROUP`` |
#: ``link`` | ``other``. ``%s`` is what runs after the ``file`` line of a regular file (empty for the
#: fact; the credentials operation's one round trip appends the one reader there, see
#: remote_read.stat_read_command). Parsed by ``RegistryAuthFile.process``.
META_SCRIPT = (
    'set -f; f=$1; d=$2; '
    'if [ -L "$d" ]; then echo "dirlink"; '
    'elif [ -d "$d" ]; then set -- $(ls -ld "$d"); echo "dir $1 $3 $4"; '
    'elif [ -e "$d" ]; then echo "dirother"; fi; '
    'if [ -L "$f" ]; then echo "link"; '
    'elif [ -f "$f" ]; then set -- $(ls -ld "$f"); echo "file $1 $3 $4"; %s'
    'elif [ -e "$f" ]; then echo "other"; fi'
)


class RegistryAuthFile(FactBase):
    """
    Metadata of a docker-style credentials file and of its directory, never the content, and no
    hash of it either (``pyinfra -vvv`` prints facts; a full hash of the file would let anyone with
    the log guess weak passwords offline)::

        {"exists": bool, "type": "file"|"link"|"other"|None, "mode": 0o600, "user": "root",
         "group": "root", "dir_exists": bool, "dir_type": "dir"|"link"|"other"|None,
         "dir_mode": 0o700, "dir_user": ..., "dir_group": ...}

    A symbolic link (at the file or the directory) is reported as such and never followed (the
    operations refuse it); a FIFO, directory or device at the path is "other" and never opened.
    Needs only a POSIX shell and ``ls``.
    """

    def command(self, path):
        directory = posixpath.dirname(path) or "/"
        return StringCommand("sh", "-c", QuoteString(META_SCRIPT % ""), "okd-registry-fact",
                             QuoteString(path), QuoteString(directory))

    @staticmethod
    def default():
        return {"exists": False, "type": None, "mode": None, "user": None, "group": None,
                "dir_exists": False, "dir_type": None, "dir_mode": None, "dir_user": None,
                "dir_group": None}

    def process(self, output):
        info = self.default()
        for line in output:
            bits = line.split()
            if not bits:
                continue
            if bits[0] == "dir" and len(bits) >= 4:
                info.update(dir_exists=True, dir_type="dir", dir_mode=symbolic_to_octal(bits[1]),
                            dir_user=bits[2], dir_group=bits[3])
            elif bits[0] in ("dirlink", "dirother"):
                info.update(dir_exists=True, dir_type="link" if bits[0] == "dirlink" else "other")
            elif bits[0] == "file" and len(bits) >= 4:
                info.update(exists=True, type="file", mode=symbolic_to_octal(bits[1]),
                            user=bits[2], group=bits[3])
            elif bits[0] in ("link", "other"):
                info.update(exists=True, type=bits[0])
        return info


def symbolic_to_mode(perms):
    """'-rwxr-sr-t' -> 0o3755: the permission bits with setuid, setgid and sticky (s/S, s/S, t/T), as
    ``stat().st_mode & 0o7777`` gives them (the compliance checks print the mode as the module does)."""
    perms = (perms + "-" * 10)[1:10]
    value = 0
    special = {2: 0o4000, 5: 0o2000, 8: 0o1000}
    for i, ch in enumerate(perms):
        bit = 1 << (8 - i)
        if i in special and ch in "sStT":
            value |= special[i]
            if ch in "st":
                value |= bit
        elif ch not in "-":
            value |= bit
    return value


class RegistryComplianceStat(FactBase):
    """
    What the compliance checks need to know about a credentials file, as ``os.stat`` tells the Ansible
    module (symlinks followed, numeric owner), never the content::

        {"exists": bool, "type": "file"|"other"|None, "mode": 0o600, "uid": 0, "gid": 0,
         "dir_exists": bool, "dir_mode": 0o700, "dir_uid": 0}

    ``mode``/``dir_mode`` hold the setuid/setgid/sticky bits too. Needs only a POSIX shell and ``ls``
    (``-n`` numeric owner, ``-L`` follow symlinks).
    """

    def command(self, path):
        directory = posixpath.dirname(path) or "/"
        script = (
            'set -f; f=$1; d=$2; '
            'if [ -d "$d" ]; then set -- $(ls -ldnL "$d"); echo "dir $1 $3 $4"; fi; '
            'if [ -f "$f" ]; then set -- $(ls -ldnL "$f"); echo "file $1 $3 $4"; '
            'elif [ -e "$f" ]; then set -- $(ls -ldnL "$f"); echo "other $1 $3 $4"; fi'
        )
        return StringCommand("sh", "-c", QuoteString(script), "okd-registry-compliance-fact",
                             QuoteString(path), QuoteString(directory))

    @staticmethod
    def default():
        return {"exists": False, "type": None, "mode": None, "uid": None, "gid": None,
                "dir_exists": False, "dir_mode": None, "dir_uid": None}

    def process(self, output):
        info = self.default()
        for line in output:
            bits = line.split()
            if len(bits) < 4 or not bits[2].isdigit() or not bits[3].isdigit():
                continue
            if bits[0] == "dir":
                info.update(dir_exists=True, dir_mode=symbolic_to_mode(bits[1]), dir_uid=int(bits[2]))
            elif bits[0] in ("file", "other"):
                info.update(exists=True, type="file" if bits[0] == "file" else "other",
                            mode=symbolic_to_mode(bits[1]), uid=int(bits[2]), gid=int(bits[3]))
        return info
