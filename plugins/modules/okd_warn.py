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
    support: full
  diff_mode:
    support: none
author:
  - okd-registry-toolkit contributors
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

if __name__ == "__main__":  # pragma: no cover - the action plugin runs instead
    raise SystemExit("okd_warn runs as an action plugin on the controller")
