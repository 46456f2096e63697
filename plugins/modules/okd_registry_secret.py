#!/usr/bin/python
# -*- coding: utf-8 -*-
# Thin adapter over plugins/module_utils/k8s.py + dockercfg.py: a dockerconfigjson pull secret kept current.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: okd_registry_secret
short_description: Keep a kubernetes.io/dockerconfigjson registry secret current and linked to service accounts
description:
  - Ensures a C(kubernetes.io/dockerconfigjson) Secret in a namespace holds credentials for a list of
    registries - for example C(imagestreamsecret) in C(openshift), which image streams of that namespace
    use to import from registry.redhat.io, or a Quay robot's pull secret in an application namespace.
  - Created when missing, B(updated when the credentials change) (openshift-ansible 3.11 never updates it,
    so a rotated token never reaches imports), left alone otherwise. The decision compares the decoded
    credentials, not bytes, so a secret made by C(oc create secret docker-registry) with the same
    credentials is not rewritten.
  - Optionally links the secret to service accounts like C(oc secrets link SA SECRET --for=pull,mount)
    (C(imagePullSecrets) for pull, C(secrets) for mount).
  - Client-side check mode and diff (only GET requests in check mode; works on OKD 3.11, which has no
    server-side dry run). Updates are guarded by the resourceVersion read, so a concurrent modification
    fails with 409 Conflict. Passwords never appear in results, diffs or logs.
  - "Runs on the controller (C(delegate_to: localhost))."
version_added: "0.1.0"
author: okd-registry-toolkit developers (!UNKNOWN)
extends_documentation_fragment:
  - okd.registry_toolkit.okd_api
options:
  name:
    description: Secret name.
    type: str
    default: imagestreamsecret
  namespace:
    description: Namespace of the secret (created when missing, unless I(create_namespace=false)).
    type: str
    default: openshift
  create_namespace:
    description: Create the namespace when it does not exist.
    type: bool
    default: false
  registries:
    description: Registries the secret holds credentials for (required with I(state=present)).
    type: list
    elements: dict
    default: []
    suboptions:
      registry:
        description: Registry host[:port], as used as key in config.json.
        type: str
        required: true
      username:
        description:
          - User name (e.g. a registry.redhat.io service account C(12345678|name) or a Quay robot).
          - Without I(username)/I(password) the credentials are taken from I(docker_config).
        type: str
      password:
        description: Password or token (never logged).
        type: str
      email:
        description: Optional e-mail stored with the entry.
        type: str
      realm_hosts:
        description:
          - C(HOST[:PORT]) of the registry's token realm when it is on another host than the registry (the
            C(realm) of its C(WWW-Authenticate Bearer) challenge). Each becomes one more entry with the same
            credentials.
          - OKD 3.11 imports look the credential up by the B(realm's URL), not the registry's host (origin
            C(pkg/image/importer/credentials.go), distribution C(session.go)); without an entry for the
            realm's host they send no credentials and fail with C(you may not have access). Not needed for
            registry.redhat.io or quay.io, whose realms are on their own host. See I(realm_check).
        type: list
        elements: str
        default: []
  realm_check:
    description:
      - Ask each registry in I(registries) for its token realm (one anonymous C(GET https://REGISTRY/v2/),
        no credentials sent) and warn, naming the registry, the realm's host and the secret, when OKD 3.11
        imports would find no entry of the secret for the realm (see I(realm_hosts)). Results in C(realms).
      - When the registry cannot be reached from the controller, a warning says so and nothing fails.
    type: bool
    default: false
  registry_ca_file:
    description: CA bundle to verify the registries with for I(realm_check) (default the system's).
    type: path
  docker_config:
    description:
      - Text of a docker config.json (e.g. the master's C(/var/lib/origin/.docker/config.json), read with
        slurp) to take credentials from, for I(registries) entries without username/password.
    type: str
  invalid_existing:
    description:
      - What to do when the secret exists as a C(kubernetes.io/dockerconfigjson) or C(kubernetes.io/dockercfg)
        secret whose content does not parse (bad base64, bad JSON, C(auths) not an object, ...).
      - C(fail) (default) fails naming the secret and the parse error, and changes nothing (the registries it
        held for others are not lost silently). C(replace) replaces it with a secret holding only I(registries).
    type: str
    choices: [fail, replace]
    default: fail
  exclusive:
    description:
      - With C(true) the secret holds exactly I(registries); otherwise entries for other registries that
        are already in the secret are kept.
    type: bool
    default: false
  link_to:
    description: Service accounts (in I(namespace)) to link the secret to, like C(oc secrets link).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Service account name.
        type: str
        required: true
      for:
        description: C(pull) adds the secret to C(imagePullSecrets), C(mount) to C(secrets).
        type: list
        elements: str
        choices: [pull, mount]
        default: [pull]
  link_retries:
    description:
      - How often a link is tried again after 409 Conflict. OKD's service-account controllers update a new
        account several times (a pending-token annotation, then C(secrets) and C(imagePullSecrets)), so a link
        guarded by the version read can meet a concurrent update; each retry reads the account again and
        decides again.
    type: int
    default: 5
  sa_wait_timeout:
    description:
      - Seconds to wait for a I(link_to) service account that does not exist yet (OKD creates
        C(default), C(builder) and C(deployer) shortly after a namespace); then it is created with the link.
    type: int
    default: 5
  state:
    description:
      - C(present) or C(absent) (deletes the secret; service account links are left as they are).
      - When an existing secret of the name has another type (the type of a Secret is immutable), C(present)
        replaces it - delete, then create. The delete is guarded by the version read (a guarded no-op patch,
        then a delete with C(uid) and C(resourceVersion) preconditions - Kubernetes 1.11 honours only C(uid));
        when the create then fails, the secret that was read is restored.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode and diff mode; diffs show registry names and a fingerprint of the secret data only.
"""

EXAMPLES = r"""
- name: imagestreamsecret for registry.redhat.io
  okd.registry_toolkit.okd_registry_secret:
    kubeconfig: /tmp/admin.kubeconfig
    name: imagestreamsecret
    namespace: openshift
    registries:
      - registry: registry.redhat.io
        username: "12345678|okd-cluster"
        password: "{{ vault_redhat_token }}"
  delegate_to: localhost
  run_once: true

- name: Quay robot pull secret for an application namespace
  okd.registry_toolkit.okd_registry_secret:
    kubeconfig: /tmp/admin.kubeconfig
    name: quay-pull
    namespace: lab-apps
    create_namespace: true
    registries:
      - {registry: quay.example.com, username: "myorg+robot", password: "{{ vault_quay_robot }}"}
    link_to:
      - {name: default, for: [pull]}
      - {name: builder, for: [pull, mount]}
"""

RETURN = r"""
registries:
  description: Registry names the secret holds (never credentials).
  returned: always
  type: list
  elements: str
secret_changed:
  description: Whether the secret itself was (or would be) created or updated.
  returned: always
  type: bool
operation:
  description: What happened to the secret - created, updated, unchanged, deleted, absent.
  returned: always
  type: str
linked:
  description: One entry per I(link_to) item - {name, for, changed}.
  returned: always
  type: list
  elements: dict
realms:
  description:
    - With I(realm_check), one entry per registry - {registry, realm (URL or null), realm_host, credentials_sent
      (whether an OKD 3.11 import would send a credential of this secret to the realm), error (when the
      registry could not be asked)}.
  returned: always
  type: list
  elements: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.okd.registry_toolkit.plugins.module_utils.dockercfg import (
    get_credentials, normalize_registry, parse_config)
from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
from ansible_collections.okd.registry_toolkit.plugins.module_utils.http_transport import make_urllib_transport
from ansible_collections.okd.registry_toolkit.plugins.module_utils.k8s_images import (
    realm_entry_warning, realm_host, realm_lookup_matches)
from ansible_collections.okd.registry_toolkit.plugins.module_utils.v2auth import parse_challenge, registry_base_url
from ansible_collections.okd.registry_toolkit.plugins.module_utils.k8s import (
    apply_patch, decode_dockerconfigjson, dockerconfigjson_error, dockerconfigjson_secret, redact, resource_path,
    sa_link_patch, with_resource_version)
from ansible_collections.okd.registry_toolkit.plugins.module_utils.k8s_client import (
    Client, ensure_object, k8s_argument_spec, remove_object)


def _registries_of(secret):
    cfg = decode_dockerconfigjson(secret) or {}
    return sorted((cfg.get("auths") or {}).keys())


def _wait_for_sa(client, path, timeout):
    deadline = time.time() + timeout
    while True:
        sa = client.get(path)
        if sa is not None or time.time() >= deadline:
            return sa
        time.sleep(0.5)


# metadata a restored object must not carry (the server sets it)
_SERVER_METADATA = ("resourceVersion", "uid", "creationTimestamp", "selfLink", "generation", "managedFields",
                    "deletionTimestamp", "deletionGracePeriodSeconds")


def replace_secret(client, sec_path, coll_path, live, definition):
    """Replace ``live`` by ``definition`` (a type change: the type of a Secret is immutable) without losing it:
    the delete only happens when the secret is still the one read (a no-op PATCH guarded by its
    resourceVersion, then DELETE with uid and resourceVersion preconditions; 1.11 honours only the uid one),
    and when the create fails the object that was read is created again. Returns the new secret."""
    meta = live.get("metadata") or {}
    client.patch(sec_path, with_resource_version({}, live))      # 409 Conflict: changed since it was read
    client.request("DELETE", sec_path, body={"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {
        "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}})
    try:
        return client.post(coll_path, definition)
    except ToolkitError as e:
        restore = dict((k, v) for k, v in live.items() if k != "status")
        restore["metadata"] = dict((k, v) for k, v in meta.items() if k not in _SERVER_METADATA)
        try:
            client.post(coll_path, restore)
        except ToolkitError as e2:
            raise ToolkitError("replacing it (type %s -> %s) failed: the new secret could not be created (%s), "
                               "and restoring the secret that was read failed too (%s): it is now missing"
                               % (live.get("type"), definition.get("type"), e.msg, e2.msg), status=e.status)
        raise ToolkitError("replacing it (type %s -> %s) failed: the new secret could not be created (%s); the "
                           "secret that was read was restored" % (live.get("type"), definition.get("type"), e.msg),
                           status=e.status)


def link_service_account(client, sa_path, sa, secret, for_, check=False, retries=5, sleep=time.sleep):
    """Link ``secret`` to the service account (read as ``sa``) like `oc secrets link`; the patch carries the
    version read. On 409 Conflict (OKD's controllers update new accounts several times) the account is read
    again and the decision made again, up to ``retries`` times. Returns the patch sent ({} when linked)."""
    for attempt in range(retries + 1):
        patch = sa_link_patch(sa, secret, for_)
        if not patch or check:
            return patch
        try:
            client.patch(sa_path, with_resource_version(patch, sa))
            return patch
        except ToolkitError as e:
            if e.status != 409:
                raise
            if attempt == retries:
                raise ToolkitError("service account %s kept changing while it was linked (409 Conflict %d times): %s"
                                   % (sa_path.rsplit("/", 1)[-1], retries + 1, e.msg), status=409)
        sleep(0.2 * (attempt + 1))
        sa = client.get(sa_path)
        if sa is None:
            raise ToolkitError("service account %s was deleted while it was linked" % sa_path.rsplit("/", 1)[-1],
                               status=404)
    return patch


def check_realms(module, registries, keys, where, transport):
    """realm_check: the token realm of each registry (anonymous GET /v2/) against the secret's keys as OKD
    3.11 looks them up; warns when an import would send no credentials. -> [{registry, realm, ...}]."""
    out = []
    for reg in registries:
        item = {"registry": reg, "realm": None, "realm_host": None, "credentials_sent": None, "error": None}
        try:
            headers = transport("GET", registry_base_url(reg) + "/v2/", {})[1]
            value = dict((k.lower(), v) for k, v in (headers or {}).items()).get("www-authenticate")
            bearer = [c for c in parse_challenge(value) if c[0] == "bearer" and c[1].get("realm")]
            if bearer:
                realm = bearer[0][1]["realm"]
                item.update(realm=realm, realm_host=realm_host(realm),
                            credentials_sent=realm_lookup_matches(keys, realm))
                warning = realm_entry_warning(reg, realm, where, keys)
                if warning:
                    module.warn(warning)
        except ToolkitError as e:
            item["error"] = e.msg
            module.warn("registry %s: could not ask for its token realm (%s); not checked whether OKD 3.11 imports "
                        "send a credential of %s to it" % (reg, e.msg, where))
        out.append(item)
    return out


def run(module, client):
    p = module.params
    ns, name, check = p["namespace"], p["name"], module.check_mode
    where = "secret %s/%s" % (ns, name)
    out = dict(changed=False, secret_changed=False, linked=[], registries=[], operation="unchanged", realms=[])
    diff_before, diff_after = {}, {}
    sec_path = resource_path("v1", "Secret", ns, name)

    if p["state"] == "absent":
        res = remove_object(client, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}},
                            check_mode=check, namespace=ns)
        out.update(changed=res["changed"], secret_changed=res["changed"],
                   operation="deleted" if res["changed"] else "absent")
        if module._diff:
            out["diff"] = dict(before=res["before"] or {}, after={})
        return out

    if not p["registries"]:
        raise ToolkitError("registries must not be empty with state=present")
    namespace_missing = False
    if p["create_namespace"]:
        res = ensure_object(client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                            check_mode=check)
        namespace_missing = res["method"] == "create"
        out["changed"] = out["changed"] or res["changed"]
    live = None if namespace_missing else client.get(sec_path)
    problem = dockerconfigjson_error(live)
    if problem and p["invalid_existing"] != "replace":
        raise ToolkitError("the existing %s secret does not parse (%s); nothing was changed. Repair or delete it, "
                           "or set invalid_existing=replace to replace it with a secret holding only the given "
                           "registries (what else it held is lost)" % (live.get("type"), problem))
    entries = [dict((k, e.get(k)) for k in ("registry", "username", "password", "email")) for e in p["registries"]]
    definition, needs = dockerconfigjson_secret(name, ns, entries, live=live, exclusive=p["exclusive"])
    if live is None:
        out["operation"] = "created"
        if not check:
            live = client.post(resource_path("v1", "Secret", ns), definition)
        else:
            live = definition
    elif needs:
        out["operation"] = "updated"
        patch = {"data": definition["data"], "type": definition["type"]}
        if live.get("type") != definition["type"]:
            # the type of a Secret is immutable: replace it (guarded delete + create, restored on failure)
            diff_before = redact(live)
            if not check:
                live = replace_secret(client, sec_path, resource_path("v1", "Secret", ns), live, definition)
            else:
                live = definition
        else:
            extra = [k for k in (live.get("data") or {}) if k != ".dockerconfigjson"]
            for k in extra:
                patch["data"][k] = None
            patch = with_resource_version(patch, live)
            before = live
            live = apply_patch(live, patch) if check else client.patch(sec_path, patch)
            diff_before = redact(before)
    if out["operation"] in ("created", "updated"):
        out["changed"] = out["secret_changed"] = True
        diff_after = redact(live)
        if out["operation"] == "created":
            diff_before = {}
    elif module._diff:
        diff_before = diff_after = redact(live)
    out["registries"] = _registries_of(live) if live else []
    if p["realm_check"]:
        primary = [e["registry"] for e in p["registries"] if not e.get("_realm_entry")]
        out["realms"] = check_realms(module, primary, out["registries"], where,
                                     make_urllib_transport(ca_file=p["registry_ca_file"], timeout=15))

    for link in p["link_to"]:
        for_ = link.get("for") or ["pull"]
        sa_path = resource_path("v1", "ServiceAccount", ns, link["name"])
        # OKD's service account controller creates default/builder/deployer shortly after a namespace
        # (also one this module has just created): wait for it, except in check mode
        sa_wait = 0 if check else p["sa_wait_timeout"]
        sa = None if (namespace_missing and check) else _wait_for_sa(client, sa_path, sa_wait)
        if sa is None and not check:
            # still missing: create it with the link; if the controller created it meanwhile
            # (409 AlreadyExists), link the one it created below
            new_sa = {"apiVersion": "v1", "kind": "ServiceAccount",
                      "metadata": {"name": link["name"], "namespace": ns}}
            new_sa.update(sa_link_patch(new_sa, name, for_))
            try:
                client.post(resource_path("v1", "ServiceAccount", ns), new_sa)
            except ToolkitError as e:
                if e.status != 409:
                    raise
                sa = client.get(sa_path)
                if sa is None:
                    raise
        if sa is None:  # created with the link just now, or it would be (check mode)
            patch = True
        else:
            patch = link_service_account(client, sa_path, sa, name, for_, check=check, retries=p["link_retries"])
        out["linked"].append({"name": link["name"], "for": list(for_), "changed": bool(patch)})
        out["changed"] = out["changed"] or bool(patch)
    if module._diff:
        out["diff"] = dict(before=diff_before, after=diff_after, before_header=where, after_header=where)
    return out


def main():
    spec = k8s_argument_spec()
    spec.update(
        name=dict(type="str", default="imagestreamsecret"),
        namespace=dict(type="str", default="openshift"),
        create_namespace=dict(type="bool", default=False),
        registries=dict(type="list", elements="dict", default=[], options=dict(
            registry=dict(type="str", required=True),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            email=dict(type="str"),
            realm_hosts=dict(type="list", elements="str", default=[]),
        )),
        realm_check=dict(type="bool", default=False),
        registry_ca_file=dict(type="path"),
        docker_config=dict(type="str", no_log=True),
        exclusive=dict(type="bool", default=False),
        link_to=dict(type="list", elements="dict", default=[], options={
            "name": dict(type="str", required=True),
            "for": dict(type="list", elements="str", choices=["pull", "mount"], default=["pull"]),
        }),
        sa_wait_timeout=dict(type="int", default=5),
        link_retries=dict(type="int", default=5),
        invalid_existing=dict(type="str", choices=["fail", "replace"], default="fail"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    try:
        config = parse_config(p["docker_config"], "docker_config") if p["docker_config"] else None
        for e in p["registries"]:
            e["registry"] = normalize_registry(e["registry"])
            if not e.get("username") and not e.get("password"):
                if config is None:
                    raise ToolkitError("%s: no username/password given and no docker_config to take them from"
                                       % e["registry"])
                cred = get_credentials(config, e["registry"])
                if not cred:
                    raise ToolkitError("%s: docker_config has no credentials for this registry" % e["registry"])
                e["username"], e["password"] = cred
                module.no_log_values.add(e["password"])
            elif not (e.get("username") and e.get("password")):
                raise ToolkitError("%s: give both username and password" % e["registry"])
        # each realm host of a registry: one more entry with the registry's credentials (OKD 3.11 imports
        # look the credential up by the token realm's URL)
        known = set(e["registry"] for e in p["registries"])
        for e in list(p["registries"]):
            for host in e.get("realm_hosts") or []:
                key = normalize_registry(host)
                if key in known:
                    continue
                known.add(key)
                p["registries"].append({"registry": key, "username": e["username"], "password": e["password"],
                                        "email": e.get("email"), "realm_hosts": [], "_realm_entry": True})
        with Client.from_params(p) as client:
            out = run(module, client)
    except ToolkitError as e:
        module.fail_json(msg="secret %s/%s: %s" % (p["namespace"], p["name"], e.msg), status=e.status)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
