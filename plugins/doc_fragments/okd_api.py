# -*- coding: utf-8 -*-
# Options shared by every module that talks to the OKD API (see plugins/module_utils/k8s_client.py,
# k8s_argument_spec()).
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description: Path of a kubeconfig on the controller (e.g. a copy of the master's admin.kubeconfig).
    type: path
    required: true
  context:
    description: kubeconfig context to use (default its current-context).
    type: str
  validate_certs:
    description: Verify the API server's TLS certificate.
    type: bool
    default: true
  ca_file:
    description: CA bundle to verify the API server with, instead of the kubeconfig's.
    type: path
  api_timeout:
    description: Seconds per API request.
    type: int
    default: 30
"""
