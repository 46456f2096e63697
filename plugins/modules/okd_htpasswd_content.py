#!/usr/bin/python
# -*- coding: utf-8 -*-
# Used by the role okd_standalone_registry on the controller (delegate_to: localhost).
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: okd_htpasswd_content
short_description: Compute htpasswd (bcrypt) content, keeping hashes that still match
version_added: "0.1.0"
description:
  - Given the current htpasswd text and the wanted users, returns the new text. A user's existing
    bcrypt hash is kept when the password still matches it, so re-runs change nothing; otherwise a
    new bcrypt hash is made. Users not wanted are dropped.
  - Passwords never leave the module process (no command line, no temp file). Needs the Python
    C(bcrypt) package where it runs (the controller; paramiko already depends on it).
options:
  existing:
    description: Current htpasswd content (empty when there is none).
    type: str
    default: ""
  users:
    description: Wanted users.
    type: list
    elements: dict
    required: true
    suboptions:
      username:
        description: User name.
        type: str
        required: true
      password:
        description: Password (never returned or logged).
        type: str
        required: true
  cost:
    description: bcrypt cost of new hashes.
    type: int
    default: 10
attributes:
  check_mode:
    description: Computes the same content in check mode (it changes nothing itself).
    support: full
  diff_mode:
    description: Returns no diff (the content is secret-adjacent; the task writing it decides).
    support: none
author: okd-registry-toolkit developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Compute the htpasswd content on the controller
  okd.registry_toolkit.okd_htpasswd_content:
    existing: "{{ current_htpasswd | default('') }}"
    users:
      - username: pusher
        password: "{{ vault_pusher_password }}"
  delegate_to: localhost
  register: htpasswd
  no_log: true

- name: Write it
  ansible.builtin.copy:
    content: "{{ htpasswd.content }}"
    dest: /etc/docker-distribution/registry/htpasswd
    mode: "0640"
  no_log: true
"""

RETURN = r"""
content:
  description: The htpasswd text (bcrypt hashes only, never passwords). Hide it (no_log) all the same.
  type: str
  returned: always
users_changed:
  description: Users whose entry was added, re-hashed or removed.
  type: list
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import bcrypt
    HAS_BCRYPT = True
except ImportError:  # pragma: no cover
    HAS_BCRYPT = False


def parse(text):
    out = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        user, h = line.split(":", 1)
        out[user] = h
    return out


def matches(password, hashed):
    if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
        return False
    try:
        # $2y$ (Apache htpasswd -B) is the same algorithm as $2b$
        h = ("$2b$" + hashed[4:]) if hashed.startswith("$2y$") else hashed
        return bcrypt.checkpw(password.encode("utf-8"), h.encode("ascii"))
    except ValueError:
        return False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            # hashes only; not no_log, or the unchanged content would come back masked (run the task no_log)
            existing=dict(type="str", default=""),
            users=dict(type="list", elements="dict", required=True,
                       options=dict(username=dict(type="str", required=True),
                                    password=dict(type="str", required=True, no_log=True))),
            cost=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    if not HAS_BCRYPT:
        module.fail_json(msg=missing_required_lib("bcrypt"))
    current = parse(module.params["existing"])
    lines, changed_users, seen = [], [], set()
    for u in module.params["users"]:
        name, password = u.get("username"), u.get("password")
        if not name or password is None or ":" in name or name in seen:
            module.fail_json(msg="htpasswd users need a unique username without ':' and a password "
                                 "(offending entry: %r)" % (name,))
        seen.add(name)
        old = current.get(name)
        if old is not None and matches(password, old):
            lines.append("%s:%s" % (name, old))
            continue
        new = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=module.params["cost"]))
        lines.append("%s:%s" % (name, new.decode("ascii")))
        changed_users.append(name)
    changed_users.extend(sorted(set(current) - seen))
    content = "".join(line + "\n" for line in lines)
    module.exit_json(changed=False, content=content, users_changed=changed_users)


if __name__ == "__main__":
    main()
