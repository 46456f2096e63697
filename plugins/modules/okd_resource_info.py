#!/usr/bin/python
# -*- coding: utf-8 -*-
# Thin adapter over plugins/module_utils/k8s_client.py (read_objects): read several OKD 3.11 API objects or
# lists in one module call.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: okd_resource_info
short_description: Read several OKD 3.11 API objects and lists in one call
description:
  - Reads each query in order over one API connection and returns one list of objects per query - what a role
    decides on (e.g. the SecurityContextConstraints, the service account, the Secrets and the DeploymentConfig
    of the integrated registry) in one module call instead of one C(kubernetes.core.k8s_info) task each.
  - Makes only GET requests, so it runs the same in check mode.
  - Kinds are those of the toolkit's kind table (core v1, rbac v1, image.openshift.io/v1, apps.openshift.io/v1,
    route.openshift.io/v1, security.openshift.io/v1, project.openshift.io/v1).
  - "Runs on the controller (C(delegate_to: localhost))."
version_added: "0.1.0"
author: okd-registry-toolkit developers (!UNKNOWN)
extends_documentation_fragment:
  - okd.registry_toolkit.okd_api
options:
  queries:
    description: What to read, in order.
    type: list
    elements: dict
    required: true
    suboptions:
      kind:
        description: The kind, e.g. V(Secret), V(DeploymentConfig), V(SecurityContextConstraints).
        type: str
        required: true
      api_version:
        description: Its apiVersion (default the kind's own; a legacy V(v1) OpenShift kind maps to its group).
        type: str
      name:
        description: One object by name (the query's list is empty when it does not exist). Without a name, the list.
        type: str
      namespace:
        description: Namespace of a namespaced kind (default O(namespace)).
        type: str
      label_selectors:
        description: For a list, label selector terms (V(key=value), V(key!=value), V(key)), all of which must match.
        type: list
        elements: str
      field_selectors:
        description: For a list, field selector terms (V(status.phase=Running)).
        type: list
        elements: str
  namespace:
    description: Namespace of queries that name none.
    type: str
notes:
  - Secrets are returned with their data, as read; a task reading Secrets should be C(no_log) (its error message
    can still be shown by a following task from the registered result's C(msg), which never holds object data).
"""

EXAMPLES = r"""
- name: What the integrated registry role decides on, in one call
  okd.registry_toolkit.okd_resource_info:
    kubeconfig: "{{ okd_kubeconfig }}"
    namespace: default
    queries:
      - {kind: SecurityContextConstraints}
      - {kind: ServiceAccount, name: registry}
      - {kind: DeploymentConfig, name: docker-registry}
      - {kind: Pod, label_selectors: ["deploymentconfig=docker-registry"]}
  delegate_to: localhost
  run_once: true
  register: registry_live

- name: The live DeploymentConfig, or none
  ansible.builtin.debug:
    msg: "{{ registry_live.resources[2] | first | default('not there') }}"
"""

RETURN = r"""
resources:
  description:
    - One list per query, in the order of O(queries) - the object ([] when it does not exist) for a query with a
      name, the matching objects for one without. List items carry the query's kind and apiVersion.
  returned: success
  type: list
  elements: list
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
from ansible_collections.okd.registry_toolkit.plugins.module_utils.k8s_client import (
    Client, k8s_argument_spec, read_objects)


def main():
    spec = k8s_argument_spec()
    spec.update(
        queries=dict(type="list", elements="dict", required=True, options=dict(
            kind=dict(type="str", required=True),
            api_version=dict(type="str"),
            name=dict(type="str"),
            namespace=dict(type="str"),
            label_selectors=dict(type="list", elements="str"),
            field_selectors=dict(type="list", elements="str"),
        )),
        namespace=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    try:
        with Client.from_params(p) as client:
            resources = read_objects(client, p["queries"], namespace=p["namespace"])
    except ToolkitError as e:
        module.fail_json(msg=e.msg, status=e.status)
    module.exit_json(changed=False, resources=resources)


if __name__ == "__main__":
    main()
