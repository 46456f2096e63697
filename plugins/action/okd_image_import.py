# -*- coding: utf-8 -*-
# okd-registry-toolkit: controller side of the module okd_image_import (documentation: plugins/modules/okd_image_import.py).
# On the controller (a local connection) the module runs in a fork of Ansible's worker process instead of a
# new Python; anywhere else it is shipped as usual (plugins/plugin_utils/in_worker.py, issue 10).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.okd.registry_toolkit.plugins.plugin_utils.in_worker import InWorkerModuleAction


class ActionModule(InWorkerModuleAction):
    """okd_image_import: in a fork of the worker on the controller, shipped elsewhere."""
