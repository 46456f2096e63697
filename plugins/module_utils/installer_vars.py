# -*- coding: utf-8 -*-
# okd-registry-toolkit core: openshift-ansible 3.11 inventory variables -> the toolkit's variables.
# Stdlib only, no I/O, Python 2.7 and 3.6+.
"""Read an openshift-ansible 3.11 inventory's registry settings as the toolkit's own variables.

``map_installer_vars(values, host='', production=True)`` takes the installer variables of one host
(``oreg_url``, ``oreg_auth_*``, ``oreg_test_login``, ``openshift_additional_registry_credentials``,
``openshift_image_tag``/``openshift_release``, ``openshift_deployment_type``, ``openshift_hosted_*``)
and returns ``{"vars": {toolkit variable: value}, "warnings": [text]}``.  The caller sets only those
variables the inventory does not set itself (the toolkit's own variables win; docs/variables.md has
the table).  Settings that cannot be honoured are named in ``warnings``; values that make no sense
raise ``ToolkitError`` naming the host and the variable, never a secret.

Semantics follow openshift-ansible release-3.11:

- roles/openshift_facts/defaults/main.yml: ``oreg_host`` is ``oreg_url.split('/')[0]``; the default
  ``oreg_url`` is ``registry.redhat.io/openshift3/ose-${component}:${version}`` (openshift-enterprise)
  or ``docker.io/openshift/origin-${component}:${version}`` (origin); ``${version}`` is replaced by
  ``openshift_image_tag``; the pod image is the URL with ``${component}`` = ``pod``
  (``osn_pod_image``); ``openshift_additional_registry_credentials`` defaults to ``[]``.
- roles/container_runtime/tasks/registry_auth.yml: ``docker_creds`` for ``oreg_host`` with
  ``oreg_auth_user``/``oreg_auth_password`` when ``oreg_auth_user`` is defined, ``test_login``
  ``oreg_test_login | default(True)``; for each additional credential ``item.host``,
  ``item.user | default('openshift')``, ``item.password``, ``item.test_login``, ``item.test_image``,
  ``item.tls_verify``.
- roles/lib_utils/action_plugins/sanity_checks.py: ``oreg_auth_credentials_replace`` is a removed
  variable ("Credentials are now always updated").
- roles/openshift_hosted/defaults/main.yml and roles/openshift_facts/defaults/main.yml: the
  ``openshift_hosted_registry_*`` settings (selector ``region=infra`` style, routetermination
  ``passthrough``, cert_expire_days 730, storage volume name ``registry``, size ``5Gi``, access modes,
  hostpath path ``/var/lib/openshift_volumes``).
- roles/openshift_hosted/tasks/storage/object_storage.yml and templates/registry_config.j2: storage kind
  ``object`` with ``openshift_hosted_registry_storage_provider`` ``s3`` writes Secret ``registry-config``
  (config.yml: ``openshift_hosted_registry_storage_s3_{accesskey,secretkey,region,regionendpoint,bucket}``,
  ``rootdirectory`` default ``/registry``, ``chunksize`` default 26214400, ``encrypt: false``); the other
  providers (azure_blob, swift, gcs) have no equivalent in the toolkit.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    from ansible.module_utils.six import string_types, text_type
except ImportError:  # pragma: no cover - outside Ansible (pyinfra, unit tests)
    try:
        string_types = (basestring,)  # noqa: F821  (Python 2)
        text_type = unicode  # noqa: F821
    except NameError:
        string_types = (str,)
        text_type = str

from .errors import ToolkitError  # relative, like the rest of the core: one ToolkitError class

# roles/openshift_facts/defaults/main.yml, l_openshift_images_dict
DEFAULT_OREG_URL = {
    "openshift-enterprise": "registry.redhat.io/openshift3/ose-${component}:${version}",
    "origin": "docker.io/openshift/origin-${component}:${version}",
}
DEFAULT_VERSION = "v3.11"

# "NNNNNNNN|name": a registry service account (seed: "Registry service accounts ... the format of
# <organization ID>|<name>"); anything else on registry.redhat.io is a customer portal login
SERVICE_ACCOUNT_RE = re.compile(r"^[0-9]+\|[^|\s]+$")
PRODUCTION_WARNING = (
    "oreg_auth_user %r is not a registry service account (NNNNNNNN|name) but a web username: "
    "\"While it is possible to use this authentication method with OKD, it is not supported for "
    "production deployments.\" Create a registry service account (https://access.redhat.com/terms-based-registry/) "
    "and use its name and token.")

# openshift_hosted_registry_* with a direct equivalent in role okd_integrated_registry
HOSTED_DIRECT = {
    "openshift_hosted_registry_replicas": "okd_integrated_registry_replicas",
    "openshift_hosted_registry_routehost": "okd_integrated_registry_route_host",
    "openshift_hosted_registry_cert_expire_days": "okd_integrated_registry_cert_valid_days",
    "openshift_hosted_registry_env_vars": "okd_integrated_registry_env",
    "openshift_hosted_registry_namespace": "okd_integrated_registry_namespace",
    "openshift_hosted_registry_name": "okd_integrated_registry_name",
    "openshift_hosted_registry_serviceaccount": "okd_integrated_registry_service_account",
    "openshift_hosted_registry_storage_volume_size": "okd_integrated_registry_storage_pvc_size",
    "openshift_hosted_registry_storage_access_modes": "okd_integrated_registry_storage_pvc_access_modes",
    "openshift_hosted_registry_storage_hostpath_path": "okd_integrated_registry_storage_hostpath",
}
# handled below with a conversion
HOSTED_CONVERTED = (
    "openshift_hosted_registry_selector", "openshift_hosted_registry_routetermination",
    "openshift_hosted_registry_storage_kind", "openshift_hosted_registry_storage_volume_name",
    "openshift_hosted_registry_routecertificates", "openshift_hosted_manage_registry",
)
# openshift_hosted_registry_storage_s3_* (storage kind object, provider s3) -> role okd_integrated_registry
S3_DIRECT = {
    "openshift_hosted_registry_storage_s3_bucket": "okd_integrated_registry_storage_s3_bucket",
    "openshift_hosted_registry_storage_s3_region": "okd_integrated_registry_storage_s3_region",
    "openshift_hosted_registry_storage_s3_regionendpoint": "okd_integrated_registry_storage_s3_regionendpoint",
    "openshift_hosted_registry_storage_s3_accesskey": "okd_integrated_registry_storage_s3_accesskey",
    "openshift_hosted_registry_storage_s3_secretkey": "okd_integrated_registry_storage_s3_secretkey",
    "openshift_hosted_registry_storage_s3_chunksize": "okd_integrated_registry_storage_s3_chunksize",
    "openshift_hosted_registry_storage_s3_rootdirectory": "okd_integrated_registry_storage_s3_rootdirectory",
}
S3_SECRET = ("openshift_hosted_registry_storage_s3_accesskey", "openshift_hosted_registry_storage_s3_secretkey")
# storage kinds whose volume the installer made (or asked a provisioner for) and bound through a claim
# `<volume_name>-claim`; the toolkit creates the claim only
PVC_KINDS = ("nfs", "glusterfs", "openstack", "vsphere", "dynamic", "pvc")

# every toolkit variable this module can produce (the caller checks which are already set)
TOOLKIT_VARS = (
    "okd_registries", "registry_credentials_verify_controller", "okd_integrated_registry_image",
    "okd_integrated_registry_manage", "okd_integrated_registry_node_selector",
    "okd_integrated_registry_route_termination", "okd_integrated_registry_storage_kind",
    "okd_integrated_registry_storage_pvc_name",
) + tuple(sorted(set(HOSTED_DIRECT.values()) | set(S3_DIRECT.values())))


def _err(host, msg):
    return ToolkitError(("%s: " % host if host else "") + msg)


def to_bool(value, name, host=""):
    """An Ansible-style boolean (True/False, yes/no, on/off, 1/0, in any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, string_types):
        v = value.strip().lower()
        if v in ("true", "yes", "on", "1", "y", "t"):
            return True
        if v in ("false", "no", "off", "0", "n", "f", ""):
            return False
    raise _err(host, "%s must be a boolean, got %r" % (name, value))


def version_of(values):
    """What ${version} becomes: openshift_image_tag, else 'v' + openshift_release, else v3.11."""
    tag = values.get("openshift_image_tag")
    if tag not in (None, ""):
        return text_type(tag)
    release = values.get("openshift_release")
    if release not in (None, ""):
        release = text_type(release)
        return release if release.startswith("v") else "v" + release
    return DEFAULT_VERSION


def split_oreg_url(url, host=""):
    """(registry host, repository template with ${component}/${version}) of an oreg_url."""
    if not isinstance(url, string_types) or not url.strip():
        raise _err(host, "oreg_url must be a non-empty string like "
                         "registry.redhat.io/openshift3/ose-${component}:${version}, got %r" % (url,))
    url = url.strip()
    for prefix in ("docker://", "https://", "http://"):
        if url.startswith(prefix):
            url = url[len(prefix):]
    if "/" not in url:
        raise _err(host, "oreg_url %r has no repository after the registry host" % url)
    reg, rest = url.split("/", 1)
    if not reg or not rest:
        raise _err(host, "oreg_url %r has an empty registry host or repository" % url)
    return reg, rest


def image_of(template, component, version):
    return template.replace("${component}", component).replace("${version}", version)


def _name_for(host, taken):
    """A registry entry name from its host: the first DNS label (quay.io -> quay), made unique."""
    base = re.sub(r"[^a-z0-9-]", "-", host.split("/")[0].split(":")[0].split(".")[0].lower()) or "registry"
    name, n = base, 2
    while name in taken:
        name = "%s-%d" % (base, n)
        n += 1
    return name


def _selector(value, host):
    """openshift_hosted_registry_selector 'k=v,k2=v2' (or a dict) as a node selector dict."""
    if isinstance(value, dict):
        return dict((text_type(k), text_type(v)) for k, v in value.items())
    if not isinstance(value, string_types):
        raise _err(host, "openshift_hosted_registry_selector must be 'key=value[,key=value]', got %r" % (value,))
    out = {}
    for part in [p.strip() for p in value.split(",") if p.strip()]:
        if "=" not in part:
            raise _err(host, "openshift_hosted_registry_selector: %r is not key=value" % part)
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _registry_entry(name, reg, user, password, test_image, host, what):
    if password in (None, ""):
        raise _err(host, "%s: a user is set for %s but no password" % (what, reg))
    if not isinstance(password, string_types):
        raise _err(host, "%s: the password for %s must be a string" % (what, reg))
    entry = {"name": name, "host": reg, "username": text_type(user), "password": password}
    if test_image:
        entry["test_image"] = test_image
    return entry


def map_installer_vars(values, host="", production=True):
    """Map one host's installer variables (a dict; missing = not set) to toolkit variables.

    Returns {"vars": {...}, "warnings": [...]}.  Raises ToolkitError on values that cannot be read.
    """
    values = dict((k, v) for k, v in (values or {}).items() if v is not None)
    out, warnings = {}, []
    deployment = values.get("openshift_deployment_type") or "openshift-enterprise"
    if deployment not in DEFAULT_OREG_URL:
        raise _err(host, "openshift_deployment_type must be origin or openshift-enterprise, got %r" % (deployment,))
    version = version_of(values)
    oreg_url = values.get("oreg_url")
    reg, template = split_oreg_url(oreg_url if oreg_url is not None else DEFAULT_OREG_URL[deployment], host)

    registries = []
    user = values.get("oreg_auth_user")
    if user not in (None, ""):
        user = text_type(user)
        # the pod image proves pull access (osn_pod_image), not the installer's bare 'openshift3/ose'
        registries.append(_registry_entry("redhat", reg, user, values.get("oreg_auth_password"),
                                          image_of(template, "pod", version), host, "oreg_auth_user"))
        if production and not SERVICE_ACCOUNT_RE.match(user):
            warnings.append(PRODUCTION_WARNING % user)
    elif values.get("oreg_auth_password") not in (None, ""):
        raise _err(host, "oreg_auth_password is set but oreg_auth_user is not")

    extra = values.get("openshift_additional_registry_credentials")
    if extra in (None, "", []):
        extra = []
    if not isinstance(extra, (list, tuple)):
        raise _err(host, "openshift_additional_registry_credentials must be a list of "
                         "{host, user, password[, test_login, test_image, tls_verify]}")
    taken = set(e["name"] for e in registries)
    for i, item in enumerate(extra):
        what = "openshift_additional_registry_credentials[%d]" % i
        if not isinstance(item, dict) or not item.get("host"):
            raise _err(host, "%s must be a mapping with at least host and password" % what)
        unknown = sorted(set(item) - set(("host", "user", "password", "test_login", "test_image",
                                          "tls_verify", "name", "email")))
        if unknown:
            warnings.append("%s (%s): %s not understood and ignored" % (what, item["host"], ", ".join(unknown)))
        rhost = text_type(item["host"]).strip()
        name = text_type(item.get("name") or _name_for(rhost, taken))
        if name in taken:
            raise _err(host, "%s: name %r is used twice" % (what, name))
        taken.add(name)
        # docker_creds: username item.user | default('openshift'); test_image defaults to the
        # installer's l_docker_creds_test_image (openshift3/ose), which most other registries lack:
        # without a test_image the toolkit verifies the login (a token for /v2/) only
        entry = _registry_entry(name, rhost, item.get("user") or "openshift", item.get("password"),
                                item.get("test_image"), host, what)
        if item.get("email"):
            entry["email"] = text_type(item["email"])
        if any(e["host"] == rhost for e in registries):
            raise _err(host, "%s: registry %s is given twice (oreg_url and the list, or twice in the list)"
                       % (what, rhost))
        registries.append(entry)
        if "test_login" in item and not to_bool(item["test_login"], what + ".test_login", host):
            warnings.append("%s (%s): test_login false is not honoured per registry: the toolkit verifies "
                            "every registry before writing (registry_credentials_verify_controller=false "
                            "turns that off for all of them)" % (what, rhost))
        if "tls_verify" in item and not to_bool(item["tls_verify"], what + ".tls_verify", host):
            warnings.append("%s (%s): tls_verify false is not honoured: TLS is always verified (give the "
                            "registry's CA in okd_registry_ca_file)" % (what, rhost))
    if registries:
        out["okd_registries"] = registries

    if "oreg_test_login" in values:
        out["registry_credentials_verify_controller"] = to_bool(values["oreg_test_login"], "oreg_test_login", host)
    if "oreg_auth_credentials_replace" in values and not to_bool(
            values["oreg_auth_credentials_replace"], "oreg_auth_credentials_replace", host):
        warnings.append("oreg_auth_credentials_replace false is not honoured: credentials that differ are "
                        "always replaced (openshift-ansible 3.11 removed the variable: \"Credentials are now "
                        "always updated\")")

    # the integrated registry's image: ${component} docker-registry (openshift_hosted, oc adm registry
    # --images); only from an oreg_url the inventory sets (else the role's own default stands)
    if oreg_url is not None:
        out["okd_integrated_registry_image"] = reg + "/" + image_of(template, "docker-registry", version)

    # openshift_hosted_*
    if "openshift_hosted_manage_registry" in values:
        out["okd_integrated_registry_manage"] = to_bool(values["openshift_hosted_manage_registry"],
                                                        "openshift_hosted_manage_registry", host)
    for src, dst in sorted(HOSTED_DIRECT.items()):
        if src in values:
            v = values[src]
            if dst in ("okd_integrated_registry_replicas", "okd_integrated_registry_cert_valid_days"):
                try:
                    v = int(v)
                except (TypeError, ValueError):
                    raise _err(host, "%s must be a whole number, got %r" % (src, v))
            elif dst == "okd_integrated_registry_storage_pvc_access_modes":
                v = [text_type(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
            elif dst == "okd_integrated_registry_env":
                if not isinstance(v, dict):
                    raise _err(host, "%s must be a mapping NAME: value" % src)
                v = dict((text_type(k), text_type(x)) for k, x in v.items())
            else:
                v = text_type(v)
            out[dst] = v
    if "openshift_hosted_registry_selector" in values:
        out["okd_integrated_registry_node_selector"] = _selector(values["openshift_hosted_registry_selector"], host)
    if "openshift_hosted_registry_routetermination" in values:
        term = text_type(values["openshift_hosted_registry_routetermination"]).strip().lower()
        if term in ("passthrough", "reencrypt"):
            out["okd_integrated_registry_route_termination"] = term
        else:
            warnings.append("openshift_hosted_registry_routetermination %r is not honoured: the registry "
                            "route is passthrough or reencrypt (the default, passthrough, is used)" % term)
    if values.get("openshift_hosted_registry_routecertificates"):
        warnings.append("openshift_hosted_registry_routecertificates is not honoured: the route carries no "
                        "certificate of its own (passthrough: the registry's certificate, signed by "
                        "okd_integrated_registry_ca_cert; reencrypt: the router's)")
    kind = values.get("openshift_hosted_registry_storage_kind")
    s3_known = ()
    if kind not in (None, ""):
        kind = text_type(kind).strip().lower()
        if kind == "hostpath":
            out["okd_integrated_registry_storage_kind"] = "hostpath"
            if "okd_integrated_registry_storage_hostpath" not in out:
                # roles/openshift_facts/defaults/main.yml
                out["okd_integrated_registry_storage_hostpath"] = "/var/lib/openshift_volumes"
        elif kind in PVC_KINDS:
            out["okd_integrated_registry_storage_kind"] = "pvc"
            out["okd_integrated_registry_storage_pvc_name"] = "%s-claim" % text_type(
                values.get("openshift_hosted_registry_storage_volume_name") or "registry")
            if kind not in ("dynamic", "pvc"):
                warnings.append("openshift_hosted_registry_storage_kind %s: only the claim is created; the %s "
                                "volume itself (export, persistent volume) must exist or be provisioned"
                                % (kind, kind))
        elif kind == "emptydir":
            out["okd_integrated_registry_storage_kind"] = "emptydir"
        elif kind == "object" and text_type(values.get("openshift_hosted_registry_storage_provider") or "").strip().lower() == "s3":
            out["okd_integrated_registry_storage_kind"] = "s3"
            s3_known = _map_s3(values, out, warnings, host)
        elif kind == "object":
            warnings.append("openshift_hosted_registry_storage_kind object with provider %r is not honoured (the "
                            "toolkit's object storage is s3); storage left at the role's setting"
                            % (values.get("openshift_hosted_registry_storage_provider"),))
        else:
            warnings.append("openshift_hosted_registry_storage_kind %s is not honoured (the toolkit has "
                            "emptydir, hostpath and pvc); storage left at the role's setting" % kind)
    known = set(HOSTED_DIRECT) | set(HOSTED_CONVERTED) | set(s3_known)
    ignored = sorted(k for k in values if (k.startswith("openshift_hosted_registry_") or k.startswith(
        "openshift_registry_")) and k not in known)
    if ignored:
        warnings.append("not honoured (no equivalent in the toolkit): %s" % ", ".join(ignored))
    return {"vars": out, "warnings": warnings}


def _map_s3(values, out, warnings, host):
    """openshift_hosted_registry_storage_s3_* of an object/s3 inventory into out; returns the names understood."""
    for src, dst in sorted(S3_DIRECT.items()):
        if src not in values or values[src] in ("",):
            continue
        v = values[src]
        if src == "openshift_hosted_registry_storage_s3_chunksize":
            try:
                v = int(v)
            except (TypeError, ValueError):
                raise _err(host, "%s must be a whole number of bytes, got %r" % (src, v))
            if v < 5 * 1024 * 1024:
                raise _err(host, "%s must be at least 5242880 (S3's smallest multipart part), got %d" % (src, v))
        elif src in S3_SECRET:
            if not isinstance(v, string_types):
                raise _err(host, "%s must be a string" % src)
        else:
            v = text_type(v).strip()
        out[dst] = v
    for src in ("openshift_hosted_registry_storage_s3_bucket", "openshift_hosted_registry_storage_s3_region"):
        if not out.get(S3_DIRECT[src]):
            raise _err(host, "openshift_hosted_registry_storage_kind object with provider s3 needs %s" % src)
    known = list(S3_DIRECT) + ["openshift_hosted_registry_storage_provider"]
    if "openshift_hosted_registry_storage_s3_encrypt" in values:
        known.append("openshift_hosted_registry_storage_s3_encrypt")
        if to_bool(values["openshift_hosted_registry_storage_s3_encrypt"],
                   "openshift_hosted_registry_storage_s3_encrypt", host):
            warnings.append("openshift_hosted_registry_storage_s3_encrypt true is not honoured: config.yml says "
                            "encrypt: false, as openshift-ansible 3.11's registry_config.j2 does")
    return known


def unset_only(mapped, defined):
    """The mapped variables the inventory does not set itself (names in `defined` win)."""
    return dict((k, v) for k, v in mapped.items() if k not in set(defined or ()))


# the installer variables read from a host, and the toolkit variables that, set by the inventory, win
INSTALLER_VAR_RE = re.compile(
    r"^(oreg_url|oreg_auth_user|oreg_auth_password|oreg_auth_credentials_replace|oreg_test_login"
    r"|openshift_additional_registry_credentials|openshift_image_tag|openshift_release"
    r"|openshift_deployment_type|openshift_hosted_manage_registry|openshift_hosted_registry_.+"
    r"|openshift_registry_.+)$")
TOOLKIT_VAR_RE = re.compile(r"^(okd_|registry_credentials_)")
_MISSING = object()


def plan_hosts(hosts, values, defined, production=None):
    """The mapping for every host of a play at once (playbooks/installer_vars.yml runs this once per run, on
    the controller: issue 10, one task instead of three per host, as openshift-ansible 3.11's own
    lib_utils/action_plugins/sanity_checks.py checks every host in one task).

    hosts: names in play order; values: {host: {installer variable: value}}; defined: {host: [toolkit
    variables its inventory sets itself]}; production: {host: okd_production_cluster} (default true).
    Returns {"common": [{"name", "value"}], "per_host": [{"host", "name", "value"}],
    "warnings": ["HOST, HOST: text"], "errors": ["HOST: text"]}: `common` holds what every host gets with the
    same value (and no host sets itself), `per_host` the rest. With errors, nothing is to be set."""
    production = production or {}
    to_set, errors, warned = {}, [], []
    for host in hosts:
        try:
            mapped = map_installer_vars(values.get(host) or {}, host=host,
                                        production=to_bool(production.get(host, True), "okd_production_cluster", host))
        except ToolkitError as e:
            errors.append(e.msg)
            continue
        own = set(defined.get(host) or ())
        won = sorted(set(mapped["vars"]) & own)
        msgs = list(mapped["warnings"])
        if won:
            msgs.append("the inventory sets %s itself; the values derived from the openshift-ansible variables "
                        "are not used" % ", ".join(won))
        for msg in msgs:
            for seen in warned:
                if seen[0] == msg:
                    seen[1].append(host)
                    break
            else:
                warned.append((msg, [host]))
        to_set[host] = unset_only(mapped["vars"], own)
    warnings = ["%s: %s" % (", ".join(names), msg) for msg, names in warned]
    if errors:
        return dict(common=[], per_host=[], warnings=warnings, errors=errors)
    common, per_host = [], []
    for name in sorted(set(n for h in to_set for n in to_set[h])):
        got = [to_set[h].get(name, _MISSING) for h in hosts]
        if hosts and all(v is not _MISSING and v == got[0] for v in got):
            common.append(dict(name=name, value=got[0]))
        else:
            per_host.extend(dict(host=h, name=name, value=to_set[h][name]) for h in hosts if name in to_set[h])
    return dict(common=common, per_host=per_host, warnings=warnings, errors=[])
