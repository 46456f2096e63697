#!/usr/bin/python
# -*- coding: utf-8 -*-
# Used by the role okd_master_trust on each master.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: okd_master_trusted_ca
short_description: Set imagePolicyConfig.additionalTrustedCA in an OKD 3.11 master-config.yaml
version_added: "0.1.0"
description:
  - Sets (or removes) C(imagePolicyConfig.additionalTrustedCA), the CA bundle OKD 3.11's API server trusts
    besides the system pool when it imports images, in the master's C(master-config.yaml).
  - Only that line changes; every other line of the file stays as it was (keys, order, comments, quoting).
    The file is written atomically (temporary file in the same directory, renamed over it) keeping its
    mode, owner and SELinux context, with an optional backup.
  - Runs on the master with the standard library only (RHEL 7's Python 2.7 may have no PyYAML). Where
    PyYAML is available the file must parse before the edit and the result must equal the file with
    just that key changed; the role okd_master_trust also checks the file parses, on the controller.
  - The API reads the file only at start; restart it afterwards (C(master-restart api) on 3.11).
options:
  path:
    description: The master's configuration file.
    type: path
    default: /etc/origin/master/master-config.yaml
  additional_trusted_ca:
    description:
      - Path of the PEM CA bundle on the master (absolute, or relative to the file's directory as 3.11
        resolves it). Required with O(state=present).
    type: str
  state:
    description: C(present) sets the key, C(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  backup:
    description: Keep a timestamped copy of the file before changing it.
    type: bool
    default: true
attributes:
  check_mode:
    description: Reports what would change and writes nothing.
    support: full
  diff_mode:
    description: The diff shows the C(imagePolicyConfig.additionalTrustedCA) line only (the file may hold
      other secrets, e.g. identity provider settings, which never appear).
    support: full
author: okd-registry-toolkit developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: The API trusts /etc/origin/master/okd-additional-trusted-ca.crt for image imports
  okd.registry_toolkit.okd_master_trusted_ca:
    additional_trusted_ca: /etc/origin/master/okd-additional-trusted-ca.crt
  register: master_config

- name: Restart the API so that it reads the file again
  ansible.builtin.command: master-restart api
  when: master_config is changed
  changed_when: true
"""

RETURN = r"""
before:
  description: The value before (null when the key was not set).
  returned: always
  type: str
after:
  description: The value after (null when removed).
  returned: always
  type: str
backup_file:
  description: The backup copy, when one was made.
  returned: changed and backup
  type: str
validated_with_pyyaml:
  description: Whether the master's Python had PyYAML to check the file before and after.
  returned: always
  type: bool
"""

import os
import platform
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
from ansible_collections.okd.registry_toolkit.plugins.module_utils.master_config import (
    KEY, SECTION, get_trusted_ca, set_trusted_ca)

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False


def _parse(text, path):
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ToolkitError("%s on %s does not parse as YAML: %s" % (path, platform.node(), " ".join(to_native(e).split())))
    if not isinstance(doc, dict):
        raise ToolkitError("%s on %s is not a YAML mapping (a MasterConfig)" % (path, platform.node()))
    return doc


def _norm(doc):
    """An empty section and a missing or null one are the same configuration."""
    doc = dict(doc)
    doc[SECTION] = doc.get(SECTION) or {}
    return doc


def run(module):
    p = module.params
    path = p["path"]
    value = p["additional_trusted_ca"] if p["state"] == "present" else None
    if p["state"] == "present" and not value:
        raise ToolkitError("additional_trusted_ca is required with state=present")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except (IOError, OSError) as e:
        raise ToolkitError("cannot read %s on %s: %s" % (path, platform.node(), to_native(e)))
    try:
        text = to_text(raw, errors="strict")
    except UnicodeError:
        raise ToolkitError("%s on %s is not UTF-8 text" % (path, platform.node()))
    before_doc = _parse(text, path) if HAS_YAML else None
    try:
        before = get_trusted_ca(text)
        new = set_trusted_ca(text, value)
    except ToolkitError as e:
        raise ToolkitError("%s on %s: %s" % (path, platform.node(), e.msg))
    if HAS_YAML:
        after_doc = _parse(new, path)
        want = dict(before_doc)
        ipc = dict(want.get(SECTION) or {})
        if value is None:
            ipc.pop(KEY, None)
        else:
            ipc[KEY] = value
        want[SECTION] = ipc
        if _norm(after_doc) != _norm(want):
            raise ToolkitError("editing %s on %s would change more than %s.%s; nothing written"
                               % (path, platform.node(), SECTION, KEY))
    result = {"changed": new != text, "before": before, "after": value, "validated_with_pyyaml": HAS_YAML}
    if module._diff:
        line = "%s.%s: %s\n"
        result["diff"] = {"before_header": path, "after_header": path,
                          "before": line % (SECTION, KEY, before) if before is not None else "",
                          "after": line % (SECTION, KEY, value) if value is not None else ""}
    if result["changed"] and not module.check_mode:
        if p["backup"]:
            result["backup_file"] = module.backup_local(path)
        fd, tmp = tempfile.mkstemp(prefix=".master-config.", dir=os.path.dirname(os.path.abspath(path)))
        try:
            os.write(fd, to_bytes(new))
            os.fsync(fd)
        finally:
            os.close(fd)
        module.atomic_move(tmp, path)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/origin/master/master-config.yaml"),
            additional_trusted_ca=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            backup=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except ToolkitError as e:
        module.fail_json(msg=e.msg)


if __name__ == "__main__":
    main()
