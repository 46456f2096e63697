#!/usr/bin/python
# -*- coding: utf-8 -*-
# Thin adapter over plugins/module_utils/cluster_compliance.py: reads the API objects (GET only), runs the
# controller's registry verification, evaluates, reports.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: okd_cluster_compliance
short_description: Check an OKD 3.11 cluster's registry setup and report per check
description:
  - "The OKD 3.11 document's verifications at cluster level, one result per check (id, status, message):
    the C(imagestreamsecret) in C(openshift) (present, C(kubernetes.io/dockerconfigjson), an entry for the
    Red Hat registry whose credentials log in and pull, the same credential as the master's node file), every
    node's file against the master's for each registry, the C(credential_kind) policy, image streams that
    fail to import or still name an old registry, the integrated registry (DeploymentConfig, Service, Route,
    serving certificate) and declared pull secrets with their service account links."
  - Never changes anything (only GET requests; the registry verification pulls a manifest).
  - "Credentials are compared here, in memory, in constant time; results never carry a secret or a
    fingerprint of one. Runs on the controller (C(delegate_to: localhost))."
version_added: "0.2.0"
author: okd-registry-toolkit developers (!UNKNOWN)
extends_documentation_fragment:
  - okd.registry_toolkit.okd_api
options:
  imagestreamsecret:
    description: The imagestreamsecret to check; omit to skip those checks.
    type: dict
    suboptions:
      name:
        description: Secret name.
        type: str
        default: imagestreamsecret
      namespace:
        description: Its namespace.
        type: str
        default: openshift
      registry:
        description: The Red Hat registry key (host[:port]) the secret must hold.
        type: str
        required: true
      test_image:
        description: REPO:TAG pulled with the secret's credentials when I(verify_access).
        type: str
  master:
    description: Inventory name of the master whose node file is the reference (a key of I(node_configs)).
    type: str
  node_configs:
    description:
      - "Host -> content of its node credentials file (null when missing or unreadable), the master's
        included. Compared in memory; never returned."
    type: dict
  node_configs_base64:
    description: The values of I(node_configs) are base64 (as C(ansible.builtin.slurp) returns them).
    type: bool
    default: false
  node_macs:
    description:
      - "Instead of I(node_configs) - host -> what module registry_compliance returned about its node file
        (its C(node_config) result; null when the host gave nothing, e.g. unreachable) - each
        entry's user and the HMAC of its credential under I(node_macs_key). The files never leave the hosts; the
        imagestreamsecret's credential is compared as its HMAC under the same key. Same checks and messages."
    type: dict
  node_macs_key:
    description: The run's MAC key the hosts used for I(node_macs). Never returned.
    type: str
  credential_kind:
    description:
      - What a username/password credential (not a C(NNNNNNNN|name) service-account token) for the Red Hat
        registry is - C(fail), C(warn) (reported, not failing) or C(off) (not checked).
    type: str
    choices: [fail, warn, "off"]
    default: warn
  image_stream_namespaces:
    description: Namespaces whose image streams must import and name no old registry.
    type: list
    elements: str
    default: [openshift]
  old_registries:
    description: Registry hosts no image stream may still name (C([]) turns the check off).
    type: list
    elements: str
    default: [registry.access.redhat.com]
  integrated_registry:
    description: The integrated registry to check; omit to skip.
    type: dict
    suboptions:
      namespace:
        description: Its namespace.
        type: str
        default: default
      name:
        description: DeploymentConfig, Service and Route name.
        type: str
        default: docker-registry
      port:
        description: Service port.
        type: int
        default: 5000
      route_enabled:
        description: Whether a Route must exist.
        type: bool
        default: true
      route_host:
        description: Expected Route host (any when not set).
        type: str
      route_termination:
        description: Expected Route TLS termination (any when not set).
        type: str
      secure:
        description: Whether the registry serves TLS (checks the serving certificate).
        type: bool
        default: true
      cert_secret_name:
        description: Secret holding C(registry.crt).
        type: str
        default: registry-certificates
      cert_renew_days:
        description: The certificate must not expire within this many days.
        type: int
        default: 30
  pull_secrets:
    description: Pull secrets the inventory declares.
    type: list
    elements: dict
    default: []
    suboptions:
      namespace:
        description: Namespace.
        type: str
        required: true
      name:
        description: Secret name.
        type: str
        required: true
      registries:
        description: Registry keys the secret must hold.
        type: list
        elements: str
        default: []
      link_to:
        description: "Service accounts as C({name, for: [pull, mount]}) (default C(for: [pull]))."
        type: list
        elements: dict
        default: []
  verify_access:
    description: Log in to the Red Hat registry with the imagestreamsecret's credentials from the controller.
    type: bool
    default: true
  registry_ca_file:
    description: CA bundle on the controller for the registry's TLS (I(verify_access)).
    type: path
  registry_validate_certs:
    description: Verify the registry's TLS certificate.
    type: bool
    default: true
notes:
  - Supports check mode (it never changes anything).
"""

EXAMPLES = r"""
- name: Cluster compliance
  okd.registry_toolkit.okd_cluster_compliance:
    kubeconfig: /root/.kube/config
    imagestreamsecret: {registry: registry.redhat.io, test_image: openshift3/ose-pod:v3.11}
    master: master1
    node_configs: "{{ node_files }}"
    credential_kind: fail
    integrated_registry: {route_host: docker-registry-default.apps.example.com}
    pull_secrets:
      - {namespace: apps, name: quay-pull, registries: [quay.io], link_to: [{name: default}]}
  delegate_to: localhost
  run_once: true
  register: cluster
"""

RETURN = r"""
results:
  description:
    - "One entry per check: C(check), C(status) (C(pass), C(fail), C(warn), C(skip), C(untested)), C(message),
      and where it applies C(host), C(registry), C(object)."
  returned: always
  type: list
  elements: dict
  sample: [{"check": "node_matches_master", "status": "fail", "host": "node2", "registry": "registry.redhat.io",
            "message": "node2: the entry for registry.redhat.io differs from master1's (user 1|a, another password or token)"}]
summary:
  description: Counts per status, the failed checks and whether the cluster is compliant.
  returned: always
  type: dict
compliant:
  description: True when no check failed (warnings do not fail).
  returned: always
  type: bool
"""

import base64
import datetime

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.okd.registry_toolkit.plugins.module_utils import cluster_compliance as cc
from ansible_collections.okd.registry_toolkit.plugins.module_utils.dockercfg import get_credentials
from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
from ansible_collections.okd.registry_toolkit.plugins.module_utils.http_transport import make_urllib_transport
from ansible_collections.okd.registry_toolkit.plugins.module_utils.k8s import resource_path
from ansible_collections.okd.registry_toolkit.plugins.module_utils.k8s_client import Client, k8s_argument_spec
from ansible_collections.okd.registry_toolkit.plugins.module_utils.v2auth import verify_access


def _b64text(value):
    if value is None:
        return None
    try:
        return base64.b64decode(value).decode("utf-8")
    except Exception:
        return "\x00not base64 of UTF-8 text"  # fails to parse: reported as an invalid file, never shown


def _get(client, kind, namespace, name):
    return client.get(resource_path(None, kind, namespace, name))


def _items(client, kind, namespace):
    out = client.get(resource_path(None, kind, namespace))
    return (out or {}).get("items") or []


def run(module, client, nodes):
    p = module.params
    results = []
    iss = p["imagestreamsecret"]
    if iss:
        secret = _get(client, "Secret", iss["namespace"], iss["name"])
        access = None
        if p["verify_access"] and secret is not None:
            config = cc.secret_config(secret)[0]
            creds = get_credentials(config, iss["registry"]) if config is not None else None
            if creds is not None:
                transport = make_urllib_transport(ca_file=p["registry_ca_file"],
                                                  validate_certs=p["registry_validate_certs"],
                                                  timeout=p["api_timeout"])
                try:
                    access = {"outcome": verify_access(transport, iss["registry"], creds[0], creds[1],
                                                       image=iss.get("test_image"))}
                except ToolkitError as e:
                    access = {"error": e.msg}
        master = p["master"] if (p["master"] and nodes is not None) else None
        results.extend(cc.check_imagestreamsecret(
            secret, iss["name"], iss["namespace"], iss["registry"], master_host=master,
            master_content=(nodes or {}).get(master) if master else None, access=access,
            test_image=iss.get("test_image"), credential_kind=p["credential_kind"],
            mac_key=p["node_macs_key"] if p["node_macs"] is not None else None))
    if nodes is not None and p["master"]:
        results.extend(cc.check_nodes_against_master(p["master"], nodes))
    for ns in p["image_stream_namespaces"]:
        results.extend(cc.check_image_streams(ns, _items(client, "ImageStream", ns), p["old_registries"]))
    reg = p["integrated_registry"]
    if reg:
        ns, name = reg["namespace"], reg["name"]
        results.extend(cc.check_integrated_registry(
            ns, name, _get(client, "DeploymentConfig", ns, name), _get(client, "Service", ns, name),
            _get(client, "Route", ns, name) if reg["route_enabled"] else None,
            _get(client, "Secret", ns, reg["cert_secret_name"]) if reg["secure"] else None,
            datetime.datetime.utcnow(), renew_days=reg["cert_renew_days"], port=reg["port"],
            route_enabled=reg["route_enabled"], route_host=reg["route_host"],
            route_termination=reg["route_termination"], cert_secret_name=reg["cert_secret_name"],
            secure=reg["secure"]))
    for ps in p["pull_secrets"]:
        sas = []
        for link in ps["link_to"] or []:
            sa_name = link.get("name") or "default"
            sas.append((sa_name, link.get("for") or ["pull"],
                        _get(client, "ServiceAccount", ps["namespace"], sa_name)))
        results.extend(cc.check_pull_secret(ps["namespace"], ps["name"], ps["registries"] or [],
                                            _get(client, "Secret", ps["namespace"], ps["name"]), sas))
    return results


def main():
    spec = k8s_argument_spec()
    spec.update(
        imagestreamsecret=dict(type="dict", no_log=False, options=dict(
            name=dict(type="str", default="imagestreamsecret"),
            namespace=dict(type="str", default="openshift"),
            registry=dict(type="str", required=True),
            test_image=dict(type="str"),
        )),
        master=dict(type="str"),
        node_configs=dict(type="dict", no_log=True),
        node_configs_base64=dict(type="bool", default=False),
        node_macs=dict(type="dict", no_log=False),
        node_macs_key=dict(type="str", no_log=True),
        credential_kind=dict(type="str", choices=["fail", "warn", "off"], default="warn"),
        image_stream_namespaces=dict(type="list", elements="str", default=["openshift"]),
        old_registries=dict(type="list", elements="str", default=["registry.access.redhat.com"]),
        integrated_registry=dict(type="dict", options=dict(
            namespace=dict(type="str", default="default"),
            name=dict(type="str", default="docker-registry"),
            port=dict(type="int", default=5000),
            route_enabled=dict(type="bool", default=True),
            route_host=dict(type="str"),
            route_termination=dict(type="str"),
            secure=dict(type="bool", default=True),
            cert_secret_name=dict(type="str", default="registry-certificates"),
            cert_renew_days=dict(type="int", default=30),
        )),
        pull_secrets=dict(type="list", elements="dict", default=[], no_log=False, options=dict(
            namespace=dict(type="str", required=True),
            name=dict(type="str", required=True),
            registries=dict(type="list", elements="str", default=[]),
            link_to=dict(type="list", elements="dict", default=[]),
        )),
        verify_access=dict(type="bool", default=True),
        registry_ca_file=dict(type="path"),
        registry_validate_certs=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("node_configs", "node_macs")],
                           required_by={"node_macs": "node_macs_key"})
    given = "node_macs" if module.params["node_macs"] is not None else "node_configs"
    if module.params["master"] and module.params[given] is not None \
            and module.params["master"] not in module.params[given]:
        module.fail_json(msg="master %s is not a key of %s (hosts: %s)" % (
            module.params["master"], given, ", ".join(sorted(module.params[given]))))
    nodes = module.params["node_configs"]
    if module.params["node_macs"] is not None:
        nodes = module.params["node_macs"]
    if module.params["node_configs"] and module.params["node_configs_base64"]:
        # decoded into a copy: module.params is what Ansible returns as `invocation`, masked by the values
        # it was given (the base64); the decoded files are masked in any output too
        nodes = dict((h, _b64text(v)) for h, v in nodes.items())
        module.no_log_values.update(text for text in nodes.values() if text)
    try:
        with Client.from_params(module.params) as client:
            results = run(module, client, nodes)
    except ToolkitError as e:
        module.fail_json(msg=e.msg)
    summary = cc.summarize(results)
    module.exit_json(changed=False, results=results, summary=summary, compliant=summary["compliant"])


if __name__ == "__main__":
    main()
