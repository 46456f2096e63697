# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# okd-registry-toolkit core: htpasswd content for a registry's htpasswd auth (CNCF distribution's
# auth.htpasswd accepts bcrypt only). Stdlib only: the bcrypt package is passed in by the caller (the
# module okd_htpasswd_content, the controller's plugin_utils.standalone_registry), which checks it is there.
# A user's hash is kept while its password still matches it, so a re-run changes nothing; users not
# wanted are dropped. Passwords never appear in an error.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from .errors import ToolkitError


def parse(text):
    """{user: hash} of an htpasswd file's text (comments, blank and malformed lines skipped)."""
    out = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        user, h = line.split(":", 1)
        out[user] = h
    return out


def matches(bcrypt, password, hashed):
    """Whether PASSWORD matches the bcrypt HASHED ($2a$, $2b$ or Apache's $2y$); any other scheme: no."""
    if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
        return False
    try:
        # $2y$ (Apache htpasswd -B) is the same algorithm as $2b$
        h = ("$2b$" + hashed[4:]) if hashed.startswith("$2y$") else hashed
        return bcrypt.checkpw(password.encode("utf-8"), h.encode("ascii"))
    except ValueError:
        return False


def content(bcrypt, existing, users, cost=10):
    """(text, users_changed): the wanted USERS' lines ([{username, password}], in order) with bcrypt
    hashes of COST, keeping EXISTING's hash of a user while it matches; dropped users count as changed."""
    current = parse(existing)
    lines, changed, seen = [], [], set()
    for u in users or []:
        if not isinstance(u, dict):
            raise ToolkitError("htpasswd users need a unique username without ':' and a password "
                               "(an entry is not a mapping)")
        name, password = u.get("username"), u.get("password")
        if not name or password is None or ":" in str(name) or name in seen:
            raise ToolkitError("htpasswd users need a unique username without ':' and a password "
                               "(offending entry: %r)" % (name,))
        seen.add(name)
        password = str(password)
        old = current.get(name)
        if old is not None and matches(bcrypt, password, old):
            lines.append("%s:%s" % (name, old))
            continue
        new = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=int(cost)))
        lines.append("%s:%s" % (name, new.decode("ascii")))
        changed.append(name)
    changed.extend(sorted(set(current) - seen))
    return "".join(line + "\n" for line in lines), changed
