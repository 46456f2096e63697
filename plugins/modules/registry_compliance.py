#!/usr/bin/python
# -*- coding: utf-8 -*-
# Thin adapter over plugins/module_utils/compliance_host.py (reads the files, proves access) and compliance.py
# (evaluates): reports per check.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: registry_compliance
short_description: Check a host's registry credentials files and report per check
description:
  - Checks each docker config file (by default C(/var/lib/origin/.docker/config.json)) on the host
    for presence, mode 0600, root ownership, a private directory, valid JSON, an entry for every
    expected registry, that the entry holds the expected (current) credential, and optionally that
    the file's own credentials can log in and pull a test image.
  - "Never changes anything. Returns one result per check so that a report can say, per host and per
    check, what is wrong. Secrets are never returned, nor any fingerprint of them: credentials are compared
    on the host."
version_added: "0.1.0"
author: okd-registry-toolkit developers (!UNKNOWN)
options:
  paths:
    description: Credentials files to check.
    type: list
    elements: path
    default: [/var/lib/origin/.docker/config.json]
  expected:
    description:
      - Registries each file must have an entry for. With C(password), the entry must hold exactly
        that credential (detects hosts left behind by a rotation).
      - The module's action plugin (on the controller) also takes items of C(okd_registries) as they are
        (C(host) or C(registry), maybe path-scoped, C(name), C(email), C(realm_hosts) ignored) and turns each into
        the canonical C(registry) key with its C(username), C(password) and C(test_image); a malformed entry fails
        the task naming the entry.
    type: list
    elements: dict
    default: []
    suboptions:
      registry:
        description: Registry host[:port] as used as key in config.json, or a path-scoped key
          C(host[:port]/namespace) (checked by exact key, as the credentials role writes it).
        type: str
        required: true
      username:
        description: Expected user name.
        type: str
      password:
        description: Expected password or token (compared on the host, never returned).
        type: str
      test_image:
        description: REPO:TAG to prove pull access with the file's own credentials when I(verify_access).
        type: str
  verify_access:
    description: Also log in to each expected registry with the credentials found in the first file.
    type: bool
    default: false
  ca_file:
    description:
      - CA bundle on the host to verify registry TLS (for I(verify_access)).
      - When not set, C(/etc/docker/certs.d/<registry>/ca.crt) is used if present (where docker and
        OKD nodes keep registry CAs), else the system trust store.
    type: path
  validate_certs:
    description: Verify registry TLS certificates.
    type: bool
    default: true
  timeout:
    description: Seconds per registry request.
    type: int
    default: 30
  fail_on_findings:
    description: Fail the task when any check fails (the results are returned either way).
    type: bool
    default: false
  node_config:
    description:
      - Also read this file (the node credentials file the cluster check C(node_matches_master) compares with the
        master's) and return, per entry, its user and an HMAC-SHA256 of its credential under O(node_config.key)
        (RV(node_config)), so the controller compares the hosts' files without them leaving the hosts. Saves the
        C(slurp) round trip the registry_compliance role made before.
    type: dict
    suboptions:
      path:
        description: The file.
        type: path
        required: true
      key:
        description:
          - The run's MAC key (made on the controller per run; never returned).
          - Empty, the action plugin leaves O(node_config) out (the registry_compliance role makes a key only when
            the cluster checks run).
        type: str
        required: true
      host:
        description:
          - The host's inventory name, naming the file in a parser's message (C(HOST:config.json)).
          - Left out, the action plugin gives the task's C(inventory_hostname).
        type: str
        required: true
notes:
  - Supports check mode (it never changes anything).
"""

EXAMPLES = r"""
- name: Check node credentials
  okd.registry_toolkit.registry_compliance:
    expected:
      - registry: registry.redhat.io
        username: "12345678|okd-cluster"
        password: "{{ vault_okd_registry_redhat_token }}"
        test_image: openshift3/ose-pod:v3.11
    verify_access: true
  register: compliance
"""

RETURN = r"""
results:
  description:
    - "One entry per check; C(status) is C(pass), C(fail), C(skip) or C(untested) (the C(access) check
      when the registry never asked for the credentials, anonymous access: reported, not a failure)."
  returned: always
  type: list
  elements: dict
  sample: [{"check": "file_mode", "status": "fail", "path": "/var/lib/origin/.docker/config.json",
            "message": "/var/lib/origin/.docker/config.json is mode 0644; must be 0600 (it holds registry credentials)"}]
summary:
  description: Counts per status, the failed checks and whether the host is compliant.
  returned: always
  type: dict
compliant:
  description: True when no check failed.
  returned: always
  type: bool
node_config:
  description:
    - "With O(node_config) - C({\"missing\": true}) (no file, or unreadable), C({\"error\": the parser's message}), or
      C({\"entries\": [{\"registry\", \"username\", \"mac\"}]}) (C(mac) is HMAC-SHA256(key, user NUL password); no
      password or token)."
  returned: when O(node_config) is given
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.okd.registry_toolkit.plugins.module_utils import compliance_host
from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError


def main():
    # the checks' options are shared with registry_credentials' compliance option (module_utils/compliance_host)
    spec = compliance_host.options_spec()
    spec["fail_on_findings"] = dict(type="bool", default=False)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    try:
        out = compliance_host.check(p)
    except ToolkitError as e:
        module.fail_json(msg=str(e))
    out["changed"] = False
    if p["fail_on_findings"] and not out["compliant"]:
        failed = out["summary"]["failed"]
        module.fail_json(msg="%d compliance check(s) failed: %s" % (
            len(failed), "; ".join(r["message"] for r in failed)), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
