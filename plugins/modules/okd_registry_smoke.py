#!/usr/bin/python
# -*- coding: utf-8 -*-
# okd-registry-toolkit: log in to a registry with a token, push a tiny generated image, pull an image back.
# Thin adapter over plugins/module_utils/registry_push.py + http_transport.py; Python 2.7 and 3.6+ targets.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: okd_registry_smoke
short_description: Log in to the integrated registry, push a tiny generated image, or pull one back
description:
  - One step of the integrated registry's smoke check (playbooks/integrated_registry_smoke.yml), speaking
    the Docker Registry HTTP API v2 directly; no docker, podman or skopeo is needed where it runs.
  - C(login) is C(GET /v2/) with the credentials (C(docker login -u ANY -p TOKEN) against OKD 3.11's
    registry, which takes an OKD API token as the password). C(push) uploads a one-layer image generated in
    memory from O(label) (blobs, then the Docker schema 2 manifest by O(reference)), which makes the
    OpenShift registry create the ImageStreamMapping. C(pull) reads the manifest O(reference) and every blob
    it names, each checked against its digest.
  - Failures carry the registry's own error text; the password (token) is never logged or shown.
  - In check mode nothing is sent; the result says what would be done.
version_added: "0.2.0"
author:
  - okd-registry-toolkit developers (!UNKNOWN)
options:
  action:
    description: What to do.
    type: str
    choices: [login, push, pull]
    default: login
  registry:
    description: Registry as C(HOST[:PORT]), e.g. the Route host of the integrated registry.
    type: str
    required: true
  repository:
    description: C(NAMESPACE/NAME) (the image stream); required for push and pull.
    type: str
  reference:
    description: Tag to push; tag or C(sha256:...) digest to pull.
    type: str
    default: latest
  username:
    description: User name (the OpenShift registry ignores it; a token is the password).
    type: str
    default: okd-smoke
  password:
    description: Password, for the OpenShift registry an OKD API token. Never logged or shown.
    type: str
  label:
    description: Text of the pushed image's single file (makes its digest); same label, same image.
    type: str
    default: okd-registry-toolkit smoke check
  ca_file:
    description: CA bundle to verify the registry's TLS certificate; default the system trust.
    type: path
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
  timeout:
    description: Seconds per request.
    type: int
    default: 30
notes:
  - Supports check mode (nothing is sent).
"""

EXAMPLES = r"""
- name: Push a tiny image through the registry's Route with a service account's token
  okd.registry_toolkit.okd_registry_smoke:
    action: push
    registry: docker-registry-default.apps.example.com
    repository: okd-registry-smoke/smoke
    reference: latest
    password: "{{ smoke_token }}"
    ca_file: /etc/origin/master/ca.crt
  delegate_to: localhost
"""

RETURN = r"""
digest:
  description: Digest of the pushed or pulled manifest (in check mode of the image that would be pushed).
  returned: push and pull
  type: str
  sample: sha256:0f3c...
api_version:
  description: The registry's Docker-Distribution-API-Version (login).
  returned: login, when not in check mode
  type: str
layers:
  description: Number of layers pulled.
  returned: pull, when not in check mode
  type: int
msg:
  description: What was done (or would be done).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
from ansible_collections.okd.registry_toolkit.plugins.module_utils.http_transport import make_urllib_transport
from ansible_collections.okd.registry_toolkit.plugins.module_utils.registry_push import Client, tiny_image


def main():
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", choices=["login", "push", "pull"], default="login"),
            registry=dict(type="str", required=True),
            repository=dict(type="str"),
            reference=dict(type="str", default="latest"),
            username=dict(type="str", default="okd-smoke"),
            password=dict(type="str", no_log=True),
            label=dict(type="str", default="okd-registry-toolkit smoke check"),
            ca_file=dict(type="path"),
            validate_certs=dict(type="bool", default=True),
            timeout=dict(type="int", default=30),
        ),
        required_if=[("action", "push", ["repository"]), ("action", "pull", ["repository"])],
        supports_check_mode=True,
    )
    p = module.params
    where = "%s/%s:%s" % (p["registry"], p["repository"], p["reference"]) if p["repository"] else p["registry"]
    image = tiny_image(p["label"]) if p["action"] == "push" else None
    if module.check_mode:
        out = dict(changed=p["action"] == "push", msg="would %s %s" % (p["action"], where))
        if image:
            out["digest"] = image["digest"]
        module.exit_json(**out)
    transport = make_urllib_transport(ca_file=p["ca_file"], validate_certs=p["validate_certs"], timeout=p["timeout"])
    client = Client(transport, p["registry"], p["username"], p["password"])
    try:
        if p["action"] == "login":
            version = client.login()
            module.exit_json(changed=False, api_version=version, msg="logged in to %s" % p["registry"])
        if p["action"] == "push":
            digest = client.push_image(p["repository"], p["reference"], image)
            module.exit_json(changed=True, digest=digest, msg="pushed %s (%s)" % (where, digest))
        got = client.pull_image(p["repository"], p["reference"])
        module.exit_json(changed=False, digest=got["digest"], layers=got["layers"],
                         msg="pulled %s (%s, %d bytes of blobs)" % (where, got["digest"], got["bytes"]))
    except ToolkitError as e:
        module.fail_json(msg=e.msg, status=e.status)


if __name__ == "__main__":
    main()
