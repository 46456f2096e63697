#!/usr/bin/python
# -*- coding: utf-8 -*-
# okd-registry-toolkit: documentation of the okd_warn action (plugins/action/okd_warn.py does the work).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: okd_warn
short_description: Show messages as Ansible warnings
version_added: "0.1.0"
description:
  - Runs on the controller (action plugin) and shows each message as a C([WARNING]) line; changes nothing.
  - Used by playbooks/installer_vars.yml to name openshift-ansible settings the toolkit cannot honour.
options:
  msg:
    description: A message or a list of messages; empty ones are skipped.
    type: raw
    required: true
attributes:
  check_mode:
    description: Changes nothing, so the same in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
author:
  - okd-registry-toolkit contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Name what cannot be honoured
  okd.registry_toolkit.okd_warn:
    msg: ["openshift_hosted_registry_routecertificates is not honoured"]
"""

RETURN = r"""
msg:
  description: How many warnings were shown.
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six import string_types


def main():
    """The same as the action plugin (which Ansible runs instead on the controller), for the module path."""
    module = AnsibleModule(argument_spec=dict(msg=dict(type="raw", required=True)), supports_check_mode=True)
    msg = module.params["msg"]
    msg = [msg] if isinstance(msg, string_types) else (msg or [])
    if not isinstance(msg, (list, tuple)) or not all(isinstance(m, string_types) for m in msg):
        module.fail_json(msg="okd_warn: msg must be a string or a list of strings")
    shown = [m for m in msg if m]
    for m in shown:
        module.warn(m)
    module.exit_json(changed=False, msg="%d warning(s)" % len(shown))


if __name__ == "__main__":
    main()
