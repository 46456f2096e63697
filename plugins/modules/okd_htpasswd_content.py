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
from ansible_collections.okd.registry_toolkit.plugins.module_utils import htpasswd
from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError

try:
    import bcrypt
    HAS_BCRYPT = True
except ImportError:  # pragma: no cover
    HAS_BCRYPT = False


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
    try:
        content, changed_users = htpasswd.content(bcrypt, module.params["existing"], module.params["users"],
                                                  module.params["cost"])
    except ToolkitError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, content=content, users_changed=changed_users)


if __name__ == "__main__":
    main()
