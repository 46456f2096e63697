#!/usr/bin/python
# -*- coding: utf-8 -*-
# okd-registry-toolkit: documentation of the okd_admin_kubeconfig action (plugins/action/okd_admin_kubeconfig.py
# does the work, on the controller).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: okd_admin_kubeconfig
short_description: The cluster roles' API connection, the first master's admin kubeconfig read once per run
version_added: "0.1.0"
description:
  - Runs on the controller (action plugin), through the task's connection (C(delegate_to) the first master).
  - Returns O(kubeconfig) when it is given, and with O(use_environment) the E(K8S_AUTH_KUBECONFIG) file
    (or an empty path when E(K8S_AUTH_HOST) and E(K8S_AUTH_API_KEY) are set); in those cases nothing is read.
  - Otherwise reads O(master_path) on the host and writes it, mode 0600, into Ansible's own per-run local
    temporary directory (C(~/.ansible/tmp/ansible-local-*), mode 0700), which C(ansible-playbook) removes when
    it exits, whether the run failed or not. Later calls in the same run for the same host and path reuse that
    file without connecting.
  - The kubeconfig's content is never part of the result.
options:
  kubeconfig:
    description: A kubeconfig on the controller to use as it is (nothing is read); empty to read the master's.
    type: str
    default: ""
  master_path:
    description: The admin kubeconfig on the host.
    type: str
    default: /etc/origin/master/admin.kubeconfig
  use_environment:
    description: Read nothing when the E(K8S_AUTH_*) variables give the API connection.
    type: bool
    default: true
attributes:
  check_mode:
    description: Reads only; the controller-side copy lives in Ansible's temporary directory. The same in check mode.
    support: full
  diff_mode:
    description: Nothing on a managed host changes, so there is no diff.
    support: none
author:
  - okd-registry-toolkit contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Admin kubeconfig (read once per run)
  okd.registry_toolkit.okd_admin_kubeconfig:
    kubeconfig: "{{ okd_kubeconfig | default('') }}"
  delegate_to: "{{ groups['masters'] | first }}"
  run_once: true
  register: admin_kubeconfig
"""

RETURN = r"""
kubeconfig:
  description: The kubeconfig path on the controller to give the API modules; empty when the environment's
    K8S_AUTH_HOST and K8S_AUTH_API_KEY give the connection.
  type: str
  returned: always
source:
  description: C(given), C(environment), C(fetched) (read from the host in this call) or C(reused) (read earlier
    in the same run).
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    """The work needs the controller: run as a module on a host, it only says so."""
    module = AnsibleModule(argument_spec=dict(kubeconfig=dict(type="str", default=""),
                                              master_path=dict(type="str", default="/etc/origin/master/admin.kubeconfig"),
                                              use_environment=dict(type="bool", default=True)),
                           supports_check_mode=True)
    module.fail_json(msg="okd_admin_kubeconfig runs on the controller as an action plugin "
                         "(use it as okd.registry_toolkit.okd_admin_kubeconfig in a play)")


if __name__ == "__main__":
    main()
