#!/usr/bin/python
# -*- coding: utf-8 -*-
# Thin adapter over plugins/module_utils/k8s.py + k8s_client.py: create-or-update API objects (one, or a list in order).
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: okd_resource
short_description: Create, update or delete OKD 3.11 API objects with a client-side diff
description:
  - Makes one object (O(definition)), or each object of a list in order in one module call (O(definitions)),
    satisfy a definition; any kind in the toolkit's kind table - core v1, rbac v1, image.openshift.io/v1,
    apps.openshift.io/v1, route.openshift.io/v1, security.openshift.io/v1.
  - The definition is a subset - only the keys it sets are compared; server defaults and keys set by
    other writers are left alone. Lists are compared whole, except lists with merge semantics (image
    stream tags, service account secrets/imagePullSecrets, containers, env, volumes, service ports),
    whose items are matched by name (or port/mountPath). C(null) means "must be absent".
  - "It GETs the object, compares client-side and sends a JSON merge patch with only the differing keys,
    or nothing. OKD 3.11 (Kubernetes 1.11) has no server-side apply (415) and rejects dryRun (400), so
    unlike kubernetes.core.k8s 6.x this module's check mode works there: it makes only GET requests."
  - Updates carry the resourceVersion that was read (or the one given in the definition), so a
    concurrent modification fails with 409 Conflict instead of being overwritten silently.
  - "Runs on the controller (C(delegate_to: localhost))."
version_added: "0.1.0"
author: okd-registry-toolkit developers (!UNKNOWN)
extends_documentation_fragment:
  - okd.registry_toolkit.okd_api
options:
  definition:
    description:
      - The object (apiVersion, kind, metadata.name, and the keys to manage).
      - Exactly one of O(definition) and O(definitions) is given.
    type: dict
  definitions:
    description:
      - Objects to make, each like O(definition), applied in this order over one API connection (one module
        call instead of one task per object). The same object may appear more than once (e.g. a service account
        created first and annotated after other objects); each entry is read and decided when its turn comes.
      - The first failure stops the list; the error names that object, and RV(objects) holds what was done
        before it (those changes are not undone).
      - O(state), O(namespace) and O(replace_immutable) apply to every entry.
    type: list
    elements: dict
  namespace:
    description: Namespace for namespaced kinds when the definition has no metadata.namespace.
    type: str
  replace_immutable:
    description:
      - What to do when the definition changes a field the OKD 3.11 API refuses to change (a
        PersistentVolumeClaim's C(spec), a Secret's C(type), a binding's C(roleRef)).
      - C(false) (default) fails naming the object and the fields, and changes nothing.
      - C(true) deletes the object and creates it from the definition (for a claim, the data on its volume
        may be lost). The delete happens only when the object is still the one read (guarded no-op patch,
        then C(uid)/C(resourceVersion) preconditions); when the create fails, the object read is restored.
    type: bool
    default: false
  state:
    description: C(present) creates or updates; C(absent) deletes the object when it exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode and diff mode (with O(definitions), one diff per object). Diffs of Secrets show each
    key with a sha256 fingerprint and size, never the values; the values of Secrets in the definitions are
    hidden from the module's result.
  - In check mode each entry of O(definitions) is judged against the live object, as separate tasks would be
    (an object an earlier entry would create is still reported as to be created by a later entry naming it).
"""

EXAMPLES = r"""
- name: Service account for the registry
  okd.registry_toolkit.okd_resource:
    kubeconfig: "{{ okd_kubeconfig }}"
    definition:
      apiVersion: v1
      kind: ServiceAccount
      metadata: {name: registry, namespace: default}
  delegate_to: localhost
  run_once: true

- name: Several objects in one call, in order (one diff and one result per object)
  okd.registry_toolkit.okd_resource:
    kubeconfig: "{{ okd_kubeconfig }}"
    definitions:
      - {apiVersion: v1, kind: ServiceAccount, metadata: {name: registry, namespace: default}}
      - apiVersion: v1
        kind: Service
        metadata: {name: docker-registry, namespace: default}
        spec:
          selector: {docker-registry: default}
          ports: [{name: 5000-tcp, port: 5000, targetPort: 5000}]
  delegate_to: localhost
  run_once: true
  register: registry_objects

- name: Remove a stale secret
  okd.registry_toolkit.okd_resource:
    kubeconfig: /tmp/admin.kubeconfig
    state: absent
    definition: {apiVersion: v1, kind: Secret, metadata: {name: old, namespace: openshift}}
"""

RETURN = r"""
method:
  description: The changing request made (or that would be made in check mode) - create, patch, replace, delete - or null.
  returned: with O(definition)
  type: str
result:
  description: The object after the task (redacted for Secrets; the would-be object in check mode).
  returned: with O(definition)
  type: dict
patch:
  description: The JSON merge patch sent (or that would be sent), redacted for Secrets.
  returned: with O(definition), when an update is needed
  type: dict
objects:
  description:
    - With O(definitions), one entry per object in the order given (on a failure, the objects done before
      it), each with C(what) (V(Kind namespace/name)), C(changed), C(method), C(result) and, when an update
      is needed, C(patch) - the keys of the single-object result.
  returned: with O(definitions)
  type: list
  elements: dict
"""

import base64

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
from ansible_collections.okd.registry_toolkit.plugins.module_utils.k8s import SECRET_ANNOTATIONS, describe, redact
from ansible_collections.okd.registry_toolkit.plugins.module_utils.k8s_client import (
    BatchError, Client, ensure_object, ensure_objects, k8s_argument_spec, remove_object)


def _hide_secret_values(module, definition):
    """Secret values in the definition never appear in the result (invocation, messages)."""
    if not isinstance(definition, dict) or definition.get("kind") != "Secret":
        return
    for field in ("data", "stringData"):
        for value in (definition.get(field) or {}).values():
            if not isinstance(value, str) or not value:
                continue
            module.no_log_values.add(value)
            if field == "data":
                try:
                    module.no_log_values.add(base64.b64decode(value).decode("utf-8"))
                except Exception:
                    pass
            else:
                module.no_log_values.add(base64.b64encode(value.encode("utf-8")).decode("ascii"))
    ann = (definition.get("metadata") or {}).get("annotations") or {}
    for key in SECRET_ANNOTATIONS:
        if ann.get(key):
            module.no_log_values.add(ann[key])


def _object_out(res):
    out = dict(changed=res["changed"], method=res["method"], result=redact(res["object"]))
    if res.get("patch"):
        out["patch"] = res["patch"]
    return out


def _diff(res, what):
    return dict(before=res["before"] or {}, after=res["after"] or {}, before_header=what, after_header=what)


def _run_list(module, p):
    definitions = p["definitions"]
    for definition in definitions:
        _hide_secret_values(module, definition)
    try:
        with Client.from_params(p) as client:
            done = ensure_objects(client, definitions, check_mode=module.check_mode, namespace=p["namespace"],
                                  state=p["state"], replace_immutable=p["replace_immutable"])
    except BatchError as e:
        # what was done before the failing object stays done: say so
        objects = [dict(_object_out(r), what=r["what"]) for r in e.done]
        module.fail_json(msg="%s: %s" % (e.what, e.msg), status=e.status, objects=objects,
                         changed=any(r["changed"] for r in e.done))
    except ToolkitError as e:
        module.fail_json(msg=e.msg, status=e.status)
    out = dict(changed=any(r["changed"] for r in done), objects=[dict(_object_out(r), what=r["what"]) for r in done])
    if module._diff:
        # one diff per object (Ansible's callbacks show a list of diffs one after the other)
        out["diff"] = [_diff(r, r["what"]) for r in done]
    module.exit_json(**out)


def main():
    spec = k8s_argument_spec()
    spec.update(
        definition=dict(type="dict"),
        definitions=dict(type="list", elements="dict"),
        namespace=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        replace_immutable=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_one_of=[("definition", "definitions")],
                           mutually_exclusive=[("definition", "definitions")])
    p = module.params
    if p["definitions"] is not None:
        _run_list(module, p)
        return
    definition = p["definition"]
    _hide_secret_values(module, definition)
    what = describe(definition, p["namespace"])
    try:
        with Client.from_params(p) as client:
            if p["state"] == "present":
                res = ensure_object(client, definition, check_mode=module.check_mode, namespace=p["namespace"],
                                    replace_immutable=p["replace_immutable"])
            else:
                res = remove_object(client, definition, check_mode=module.check_mode, namespace=p["namespace"])
    except ToolkitError as e:
        module.fail_json(msg="%s: %s" % (what, e.msg), status=e.status)
    out = _object_out(res)
    if module._diff:
        out["diff"] = _diff(res, what)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
