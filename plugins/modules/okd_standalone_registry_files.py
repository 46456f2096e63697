#!/usr/bin/python
# -*- coding: utf-8 -*-
# Host side of the action okd.registry_toolkit.okd_standalone_registry_files (role okd_standalone_registry).
# The core is plugins/module_utils/host_files.py (stdlib only, Python 2.7 and 3.6+).
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: okd_standalone_registry_files
short_description: The stand-alone registry's files on its host in one call (configuration, unit, TLS, htpasswd)
version_added: "0.1.0"
description:
  - Used by the role C(okd_standalone_registry). Its action plugin (on the controller) reads the current
    htpasswd file, certificate and key from the host (O(read)), decides on the controller (htpasswd hashes
    kept while the password matches, the certificate re-issued only when missing, expiring, its SANs
    changed, not from the CA or not matching the key) and then writes every directory and file in one
    call of this module (O(directories), O(files), O(secret_files), O(absent)).
  - Each file is written atomically (temporary file in the same directory, created 0600, owner and mode
    set before the content, renamed over the path). A symbolic link or another non-regular file where a
    file belongs is refused before anything changes, as is an unknown owner or group.
  - One diff per changed path; the content of O(secret_files) (the TLS key, the htpasswd hashes) is
    never in a diff or a result, only its size and attributes.
  - Can be called directly (without the controller's planning) with the same options.
options:
  read:
    description:
      - Paths to read instead of writing anything; their text is returned in RV(contents) (regular files
        only, never through a link). The action plugin keeps it in memory and never returns it.
    type: list
    elements: path
  directories:
    description: Directories to create (with parents) and give an owner, group and mode.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: "Path."
        type: path
        required: true
      owner:
        description: "User name or uid."
        type: str
        required: true
      group:
        description: "Group name or gid."
        type: str
        required: true
      mode:
        description: "Octal mode such as C('0750')."
        type: str
        required: true
  files:
    description: Files with their full content (shown in diffs).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: "Path."
        type: path
        required: true
      content:
        description: "Full content."
        type: str
        required: true
      owner:
        description: "User name or uid."
        type: str
        required: true
      group:
        description: "Group name or gid."
        type: str
        required: true
      mode:
        description: "Octal mode."
        type: str
        required: true
      restart:
        description: "A change of this file needs a restart of the service (RV(restart))."
        type: bool
        default: false
  secret_files:
    description: Files whose content is never shown (a private key, htpasswd hashes).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: "Path."
        type: path
        required: true
      content:
        description: "Full content (never returned or logged)."
        type: str
        required: true
      owner:
        description: "User name or uid."
        type: str
        required: true
      group:
        description: "Group name or gid."
        type: str
        required: true
      mode:
        description: "Octal mode."
        type: str
        required: true
      restart:
        description: "A change of this file needs a restart of the service."
        type: bool
        default: false
  absent:
    description: Files that must not exist (a directory there is an error).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: "Path."
        type: path
        required: true
      restart:
        description: "A removal needs a restart of the service."
        type: bool
        default: false
  service:
    description:
      - After the files, the systemd unit O(service.name) enabled and started (as
        C(ansible.builtin.systemd_service) C(state=started enabled=true)); C(systemctl daemon-reload)
        first when O(service.unit_path) changed. A restart for changed files is left to the caller (RV(restart)).
    type: dict
    suboptions:
      name:
        description: "Unit name without C(.service)."
        type: str
        required: true
      unit_path:
        description: "The unit file among O(files); its change reloads systemd."
        type: path
  health:
    description:
      - After the service, one C(GET) of O(health.url) (200 or 401 is healthy) when nothing needs a restart,
        the service was already active and this is not check mode; RV(healthy) reports it (null when not
        checked). A failure is not an error; the role's own health check with retries follows.
    type: dict
    suboptions:
      url:
        description: "URL to GET."
        type: str
        required: true
      ca_path:
        description: "CA bundle that verifies its TLS certificate."
        type: path
attributes:
  check_mode:
    description: Plans and reports the same changes and diffs, writes nothing.
    support: full
  diff_mode:
    description: One diff per changed path; secret files show size and attributes only.
    support: full
author: okd-registry-toolkit developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Configuration and key of a registry
  okd.registry_toolkit.okd_standalone_registry_files:
    directories:
      - {path: /etc/docker-distribution/registry, owner: root, group: docker-registry, mode: "0750"}
    files:
      - path: /etc/docker-distribution/registry/config.yml
        content: "{{ lookup('ansible.builtin.template', 'config.yml.j2') }}"
        owner: root
        group: docker-registry
        mode: "0640"
        restart: true
    secret_files:
      - path: /etc/docker-distribution/registry/tls/registry.key
        content: "{{ key_pem }}"
        owner: root
        group: docker-registry
        mode: "0640"
        restart: true
"""

RETURN = r"""
contents:
  description: With O(read), the text of each path (null when it does not exist). Secret; the role's
    action plugin never returns it.
  type: dict
  returned: with read
changed_paths:
  description: Paths that changed (or would, in check mode).
  type: list
  elements: str
  returned: without read
restart:
  description: A changed path asked for a restart of the service.
  type: bool
  returned: without read
service_actions:
  description: What was done (or would be, in check mode) to the service, C(enable) and/or C(start).
  type: list
  elements: str
  returned: with service
healthy:
  description: The health GET answered 200 or 401 (null when not checked, see O(health)).
  type: bool
  returned: with health
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
from ansible_collections.okd.registry_toolkit.plugins.module_utils.host_files import (
    apply, ensure_service, health_check, read_files)
from ansible_collections.okd.registry_toolkit.plugins.module_utils.http_transport import make_urllib_transport

_FILE = dict(path=dict(type="path", required=True), content=dict(type="str", required=True),
             owner=dict(type="str", required=True), group=dict(type="str", required=True),
             mode=dict(type="str", required=True), restart=dict(type="bool", default=False))


def main():
    secret = dict(_FILE, content=dict(type="str", required=True, no_log=True))
    module = AnsibleModule(
        argument_spec=dict(
            read=dict(type="list", elements="path"),
            directories=dict(type="list", elements="dict", default=[],
                             options=dict(path=dict(type="path", required=True), owner=dict(type="str", required=True),
                                          group=dict(type="str", required=True), mode=dict(type="str", required=True))),
            files=dict(type="list", elements="dict", default=[], options=_FILE),
            secret_files=dict(type="list", elements="dict", default=[], options=secret, no_log=False),
            absent=dict(type="list", elements="dict", default=[],
                        options=dict(path=dict(type="path", required=True), restart=dict(type="bool", default=False))),
            service=dict(type="dict", options=dict(name=dict(type="str", required=True), unit_path=dict(type="path"))),
            health=dict(type="dict", options=dict(url=dict(type="str", required=True), ca_path=dict(type="path"))),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        if p["read"] is not None:
            module.exit_json(changed=False, contents=read_files(p["read"]))
        files = list(p["files"]) + [dict(f, secret=True) for f in p["secret_files"]]
        result = apply(p["directories"], files, p["absent"], check_mode=module.check_mode)
        was_active = False
        if p["service"]:
            svc = p["service"]
            state = ensure_service(module.run_command, svc["name"],
                                   daemon_reload=bool(svc["unit_path"]) and svc["unit_path"] in result["changed_paths"],
                                   check_mode=module.check_mode)
            result["service_actions"] = state["actions"]
            result["changed"] = result["changed"] or state["changed"]
            was_active = state["was_active"]
        if p["health"]:
            result["healthy"] = None
            if was_active and not result["restart"] and not module.check_mode:
                try:
                    transport = make_urllib_transport(ca_file=p["health"]["ca_path"], timeout=5)
                except ToolkitError:  # e.g. the CA file unreadable: the role's own check reports it
                    transport = None
                result["healthy"] = bool(transport) and health_check(transport, p["health"]["url"])
    except ToolkitError as e:
        module.fail_json(msg=e.msg)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
