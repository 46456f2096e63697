#!/usr/bin/python
# -*- coding: utf-8 -*-
# okd-registry-toolkit: prove registry login and pull access over the Docker Registry v2 API.
# Thin adapter over plugins/module_utils/v2auth.py + http_transport.py; Python 2.7 and 3.6+ targets.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: registry_verify
short_description: Prove that a container registry accepts credentials and allows pulling an image
description:
  - "Speaks the Docker Registry HTTP API v2 directly (no docker, skopeo or podman needed, nothing on
    any command line), the way docker and kubelet do: C(GET /v2/), then the Bearer token service
    or Basic auth, then (with O(image)) the image manifest."
  - "Runs wherever the task runs: on the controller (C(delegate_to: localhost)) to check the
    credentials themselves, or on every node to prove that node's network path, CA trust and its
    own C(config.json) (O(config_path)) work."
  - "On the controller itself (the task's connection is C(local): C(delegate_to: localhost) with the implicit
    localhost, or C(connection: local)) the module's action runs this same code in Ansible's worker process
    instead of shipping the module to a new Python there; same options, results, warnings and masking. The
    module is shipped as before to any other host, and locally with C(become) to another user, with
    C(async), or when the host's C(ansible_python_interpreter) is not the controller's own Python."
  - Read-only; never reports changed; runs in check mode too.
  - "Failures carry the registry's own error text, for example
    C(registry.redhat.io: login failed: 401 UNAUTHORIZED: Invalid username or password)."
  - Connection errors, timeouts, HTTP 5xx and 429 are retried (O(retries)); a refused login
    (401/403) never is.
  - "Credentials are only ever sent over https: a registry whose challenge names a token realm that is
    not https (for example C(Bearer realm=\"http://elsewhere/token\")) fails with an error naming the
    registry and the realm, and nothing is sent to that realm. A realm on another host is fine over
    https (registry.redhat.io names sso.redhat.com)."
  - "The token flow (or Basic auth) is done whenever any request is challenged, so the check proves that
    these credentials pull O(image). A registry that never asks for credentials is reported with a
    warning, C(credentials not tested: anonymous access), and RV(credentials_tested=false); it is never
    reported as a successful login."
version_added: "0.1.0"
author:
  - okd-registry-toolkit developers (!UNKNOWN)
options:
  registry:
    description:
      - Registry as C(HOST[:PORT]) (other spellings such as C(https://HOST/v1/) are accepted), or a
        path-scoped key C(HOST[:PORT]/NAMESPACE) such as C(quay.io/orgA) (an organisation's robot
        account). A path-scoped entry is verified with an O(image) under that path.
      - One of O(registry) and O(registries) is required.
    type: str
  registries:
    description:
      - Several registries checked in one call, each with its own credentials (what the role
        C(registry_credentials) verifies from the controller before any host is touched). Items of the
        toolkit-wide C(okd_registries) list can be passed unchanged (C(host) is an alias of C(registry);
        C(name), C(email) and C(test_image) are ignored, the images come from O(images)).
      - Every registry is checked; the module fails when any fails, naming each with its own error.
      - Mutually exclusive with O(registry), O(username), O(password), O(config_path) and O(image).
    type: list
    elements: dict
    suboptions:
      registry:
        description: Registry as O(registry).
        type: str
        required: true
        aliases: [host]
      username:
        description: User name.
        type: str
      password:
        description: Password or token. Never logged or shown.
        type: str
      email:
        description: Ignored.
        type: str
      name:
        description: Ignored.
        type: str
      test_image:
        description: Ignored (see O(images)).
        type: str
  images:
    description: Image (C(REPO:TAG)) per registry key of O(registries); a registry without one is checked by login only.
    type: dict
    default: {}
  username:
    description: User name. Without O(username) and O(config_path) the check is anonymous.
    type: str
  password:
    description: Password or token. Never logged or shown.
    type: str
  config_path:
    description:
      - Take the credentials for O(registry) from this docker config.json on the target, to prove
        that the host's own file works. Mutually exclusive with O(username)/O(password).
      - With O(image), the entry a client uses for that image is taken (the longest matching
        C(host/path) key, as containers/image and the kubelet choose); without, the entry of exactly
        O(registry).
    type: path
  image:
    description:
      - C(REPO:TAG) or C(REPO@DIGEST) (a leading C(HOST[:PORT]/) matching O(registry) is accepted);
        when given, pull access is proven by fetching the image manifest.
    type: str
  ca_file:
    description: CA bundle (on the target) to verify the registry's and token service's TLS certificates.
      Default is the system trust store (or O(certs_dir)).
    type: path
  certs_dir:
    description:
      - Directory in docker's C(certs.d) layout. When O(ca_file) is not given and
        C(<certs_dir>/<registry>/ca.crt) exists on the target, that CA bundle is used (as docker and
        skopeo do); otherwise the system trust store.
    type: path
  validate_certs:
    description: Verify TLS certificates. Only turn off for throw-away test setups.
    type: bool
    default: true
  proxy:
    description:
      - HTTP(S) proxy URL. Default is the environment (C(https_proxy), C(no_proxy)).
      - Treated as a secret (a proxy URL may carry a user and password) and never logged.
    type: str
  timeout:
    description: Timeout in seconds of each HTTP request.
    type: int
    default: 30
  retries:
    description: How many times to retry after a connection error, timeout, HTTP 5xx or 429 (for slow links).
    type: int
    default: 2
  retry_delay:
    description: Seconds to wait before the first retry; doubles on each further retry.
    type: int
    default: 2
notes:
  - Supports check mode (the check is read-only and runs in check mode).
  - Stdlib only on the target; Python 2.7 (2.7.9 or RHEL 7's backport) and 3.6+.
seealso:
  - module: okd.registry_toolkit.registry_credentials
attributes:
  check_mode:
    description: Read-only; runs the same check in check mode.
    support: full
  diff_mode:
    description: Writes nothing, so there is nothing to show as a diff.
    support: none
"""

EXAMPLES = r"""
- name: Check the credentials once, from the controller
  okd.registry_toolkit.registry_verify:
    registry: registry.redhat.io
    username: "12345678|okd-puller"
    password: "{{ vault_redhat_registry_token }}"
    image: openshift3/ose-pod:v3.11
  delegate_to: localhost
  run_once: true

- name: Every registry of the inventory, in one call, from the controller
  okd.registry_toolkit.registry_verify:
    registries: "{{ okd_registries }}"
    images: "{{ dict(okd_registries | map(attribute='host') | zip(okd_registries | map(attribute='test_image'))) }}"
  delegate_to: localhost
  run_once: true

- name: Prove each node's own config.json works from that node
  okd.registry_toolkit.registry_verify:
    registry: registry.redhat.io
    config_path: /var/lib/origin/.docker/config.json
    image: openshift3/ose-pod:v3.11
    ca_file: /etc/pki/ca-trust/source/anchors/registry-ca.crt
    timeout: 60
    retries: 3
"""

RETURN = r"""
results:
  description: With O(registries), the result of each registry (the keys of the single-registry result below).
  returned: with O(registries)
  type: list
  elements: dict
registry:
  description: The normalized registry name.
  returned: with O(registry)
  type: str
  sample: registry.redhat.io
url:
  description: The registry's API base URL.
  returned: success
  type: str
  sample: https://registry.redhat.io
auth_scheme:
  description: C(bearer) (token service), C(basic) or C(none) (no authentication required).
  returned: success
  type: str
  sample: bearer
realm:
  description: The token service URL (Bearer) or the Basic realm.
  returned: success
  type: str
  sample: https://registry.redhat.io/auth/realms/rhcc/protocol/redhat-docker-v2/auth
service:
  description: The token service's C(service) parameter.
  returned: success
  type: str
logged_in:
  description: True when credentials were given and accepted.
  returned: success
  type: bool
credentials_tested:
  description: "True when the registry asked for the credentials and accepted them; false when the
    registry never asked (anonymous access: a warning is shown) or no credentials were given."
  returned: success
  type: bool
image:
  description: The checked image as C(REPO:TAG) or C(REPO@DIGEST).
  returned: success
  type: str
  sample: openshift3/ose-pod:v3.11
digest:
  description: The manifest digest of O(image).
  returned: when O(image) is given
  type: str
  sample: sha256:0123...
media_type:
  description: The manifest media type of O(image).
  returned: when O(image) is given
  type: str
credentials_source:
  description: Where the credentials came from (C(parameters), the O(config_path) file, or C(none)).
  returned: with O(registry)
  type: str
ca_file:
  description: The CA bundle used to verify TLS (O(ca_file), the one found under O(certs_dir)), or
    empty for the system trust store.
  returned: with O(registry)
  type: str
attempts:
  description: Number of attempts made.
  returned: with O(registry)
  type: int
msg:
  description: What was proven, or why it failed.
  returned: always
  type: str
  sample: "registry.redhat.io: login as 12345678|okd-puller succeeded (bearer); pull access to openshift3/ose-pod:v3.11 confirmed (sha256:...)"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
from ansible_collections.okd.registry_toolkit.plugins.module_utils.dockercfg import (
    normalize_registry,
    parse_config,
    registry_host,
)
from ansible_collections.okd.registry_toolkit.plugins.module_utils.v2auth import file_credentials
from ansible_collections.okd.registry_toolkit.plugins.module_utils.http_transport import verify_options_spec, verify_over_https
from ansible_collections.okd.registry_toolkit.plugins.module_utils import registry_entry
from ansible_collections.okd.registry_toolkit.plugins.module_utils.localfile import read_regular


def argument_spec():
    """The module's argument spec (a fresh dict per call): AnsibleModule in main() and the controller-side
    action plugins/action/registry_verify.py validate the same options with it."""
    return dict(
        registry=dict(type="str"),
        registries=dict(type="list", elements="dict", options=registry_entry.argument_spec()),
        images=dict(type="dict", default={}),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        config_path=dict(type="path"),
        image=dict(type="str"),
        **verify_options_spec()
    )


def argument_rules():
    """The rules between options (AnsibleModule / ArgumentSpecValidator keyword arguments): a fresh dict."""
    return dict(
        mutually_exclusive=[["config_path", "username"], ["config_path", "password"],
                            ["registries", "registry"], ["registries", "username"], ["registries", "password"],
                            ["registries", "config_path"], ["registries", "image"]],
        required_one_of=[["registry", "registries"]],
        required_together=[["username", "password"]],
    )


def _credentials_from_file(hide, path, registry, image=None):
    # never through a planted link, never blocking on a FIFO (a link, FIFO or device is an error)
    data, _st = read_regular(path, "credentials file")
    if data is None:
        raise ToolkitError("%s: cannot take credentials for %s: the file does not exist" % (path, registry))
    config = parse_config(data, source=path)
    # with an image: what a client (kubelet, skopeo) uses for it, the longest matching host/path key
    credentials = file_credentials(config, registry, image)
    if credentials is None:
        raise ToolkitError("%s has no credentials for %s" % (path, normalize_registry(registry)))
    hide(credentials[1])  # mask the file's password in any output
    return credentials


def run_many(params, warn, hide):
    """Every item of ``registries`` checked (one call for all, as the role's controller verification
    does it); raises ToolkitError naming every registry that failed, with its own message."""
    results, failures = [], []
    for item in params["registries"]:
        one = dict(params, registries=None, registry=item["registry"], username=item["username"],
                   password=item["password"], config_path=None,
                   image=(params["images"] or {}).get(item["registry"]) or None)
        try:
            result = run(one, hide)
        except ToolkitError as e:
            failures.append(e.msg)
            results.append(dict(registry=item["registry"], failed=True, msg=e.msg))
            continue
        if result.get("credentials_source") != "none" and not result.get("credentials_tested"):
            warn(result["msg"])
        results.append(result)
    if failures:
        error = ToolkitError("; ".join(failures))
        error.results = results
        raise error
    return dict(results=results, msg="; ".join(r["msg"] for r in results))


def run(params, hide):
    """One registry (``registry``, its credentials or ``config_path``) checked; HIDE(value) masks a
    password read from a file in every output."""
    registry = params["registry"]
    username, password = params["username"], params["password"]
    source = "none"
    if params["config_path"]:
        username, password = _credentials_from_file(hide, params["config_path"], registry, params["image"])
        source = params["config_path"]
    elif username or password:
        if not (username and password):
            raise ToolkitError("%s: username and password must be given together" % registry)
        source = "parameters"
    if params["retries"] < 0 or params["timeout"] <= 0:
        raise ToolkitError("retries must be >= 0 and timeout > 0")

    result, attempts, ca_file = verify_over_https(registry_host(registry), registry, username, password,
                                                  params["image"], params)
    result["credentials_source"] = source
    result["ca_file"] = ca_file or ""
    result["attempts"] = attempts
    return result


def verify(params, warn, hide):
    """The module's whole work on validated PARAMS, shared by main() and the controller-side action (which
    runs it in Ansible's worker process when the task's connection is local): the result as the module
    returns it (``changed`` false; ``failed`` true and ``msg`` on failure). WARN(msg) shows a warning;
    HIDE(value) masks a secret (a password read from a config file) in every output."""
    if params["registries"] is not None:
        try:
            result = run_many(params, warn, hide)
        except ToolkitError as e:
            return dict(failed=True, msg=e.msg, changed=False, results=getattr(e, "results", []))
        return dict(changed=False, **result)
    try:
        result = run(params, hide)
    except ToolkitError as e:
        return dict(failed=True, msg=e.msg, registry=params["registry"], changed=False,
                    attempts=getattr(e, "attempts", 0),
                    credentials_source=params["config_path"] or ("parameters" if params["username"] else "none"))
    if result.get("credentials_source") != "none" and not result.get("credentials_tested"):
        warn(result["msg"])
    return dict(changed=False, **result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **argument_rules())
    result = verify(module.params, module.warn, module.no_log_values.add)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
