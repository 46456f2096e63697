# -*- coding: utf-8 -*-
# Options shared by every module that talks to the OKD API (see plugins/module_utils/k8s_client.py,
# k8s_argument_spec() and connection()).
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path of a kubeconfig on the controller (e.g. a copy of the master's admin.kubeconfig).
      - When not given, the E(K8S_AUTH_KUBECONFIG) environment variable is used; when neither is set and
        O(host) and O(api_key) are not both known, the first file of E(KUBECONFIG) or C(~/.kube/config).
      - Precedence as in kubernetes.core, for every connection option - the module option, then its
        E(K8S_AUTH_*) variable (what AWX's OpenShift or Kubernetes API Bearer Token credential sets),
        then the kubeconfig.
    type: path
  context:
    description:
      - kubeconfig context to use (default its current-context). Environment E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the API server, e.g. V(https://master.example.com:8443). Environment E(K8S_AUTH_HOST).
      - With O(api_key), no kubeconfig is read; with a kubeconfig, it replaces the kubeconfig's server.
    type: str
  api_key:
    description:
      - Bearer token for the API (e.g. a service account's). Environment E(K8S_AUTH_API_KEY).
      - With a kubeconfig, it replaces the kubeconfig user's credentials. Never logged or returned.
    type: str
  validate_certs:
    description:
      - Verify the API server's TLS certificate. Defaults to V(true).
      - Environment E(K8S_AUTH_VERIFY_SSL) (or E(K8S_AUTH_VALIDATE_CERTS)); V(0), V(false) or V(no) turn it off.
    type: bool
    aliases: [verify_ssl]
  ca_file:
    description:
      - CA bundle to verify the API server with, instead of the kubeconfig's.
      - Environment E(K8S_AUTH_SSL_CA_CERT) (or E(K8S_AUTH_CA_CERT)).
    type: path
    aliases: [ca_cert, ssl_ca_cert]
  api_timeout:
    description: Seconds per API request.
    type: int
    default: 30
  allow_plain_http:
    description:
      - Accept an C(http://) API server URL (kubeconfig server or O(host)). By default such a server is refused
        before any request, because the bearer token or password would travel in clear text.
    type: bool
    default: false
attributes:
  action_group:
    description: Use C(group/okd.registry_toolkit.okd) in C(module_defaults) to set the connection once.
    support: full
    membership:
      - okd.registry_toolkit.okd
"""
