"""The deploy's settings from host.data, with the Ansible role's names, defaults and meanings
(roles/registry_credentials/defaults/main.yml). Validated here, before anything runs: a bad value
raises ``SettingsError`` (``registry_credentials: <variable> must be ..., not <value>``). No setting
read here holds a registry secret; ``proxy`` may carry a proxy user and password (as the module's
``no_log`` proxy option): it is passed to the controller's HTTP transport only, never printed and never
put in an error message (a bad value is not echoed).

Values may come from an inventory (Python types) or from ``--data key=value`` (pyinfra turns
true/false into booleans, digits into ints, JSON into lists; strings like "no" are accepted too).
"""
from __future__ import annotations

import posixpath

from pyinfra.api.exceptions import PyinfraError

DEFAULT_PATHS = ["/var/lib/origin/.docker/config.json"]
MASTERS_GROUP = "masters"

_TRUE = ("1", "true", "yes", "on", "y")
_FALSE = ("0", "false", "no", "off", "n", "")


class SettingsError(PyinfraError):
    """A setting of the deploy has an invalid value."""


def _err(name, what, value, role="registry_credentials", error=SettingsError):
    return error("%s: %s must be %s, not %r" % (role, name, what, value))


# Each reader takes the deploy's name (``role``, the prefix of its messages) and error class, so the
# credentials and the compliance deploys check their settings alike.

def flag(data, name, default, role="registry_credentials", error=SettingsError):
    """A yes/no setting (strings like "false" are no, as Ansible's `| bool`)."""
    value = data.get(name, default)
    if value is None:
        return bool(default)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _err(name, "true or false", value, role, error)


def integer(data, name, default, minimum, role="registry_credentials", error=SettingsError):
    value = data.get(name, default)
    if value is None or value == "":
        value = default
    try:
        if isinstance(value, bool) or isinstance(value, float):
            raise ValueError(value)
        number = int(value)
    except (TypeError, ValueError):
        raise _err(name, "an integer >= %d" % minimum, value, role, error)
    if number < minimum:
        raise _err(name, "an integer >= %d" % minimum, value, role, error)
    return number


def path_list(data, name, default, allow_empty, role="registry_credentials", error=SettingsError):
    value = data.get(name)
    if value is None:
        value = list(default)
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise _err(name, "a list of absolute paths", value, role, error)
    for item in value:
        if not isinstance(item, str) or not posixpath.isabs(item) or item.endswith("/"):
            raise _err(name, "a list of absolute file paths", value, role, error)
    if not value and not allow_empty:
        raise _err(name, "a non-empty list of absolute paths", value, role, error)
    return list(value)


def text(data, name, default="", role="registry_credentials", error=SettingsError):
    value = data.get(name, default)
    if value is None or value is False:
        return ""
    if not isinstance(value, str):
        raise _err(name, "a string", value, role, error)
    return value.strip()


def unique(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _proxy(data, name="registry_credentials_proxy"):
    """The proxy URL ("" for none); an invalid value is named, never shown (it may hold a password)."""
    value = data.get(name, "")
    if value is None or value is False or value == "":
        return ""
    if not isinstance(value, str) or not value.strip().lower().startswith(("http://", "https://")):
        raise SettingsError("registry_credentials: %s must be an http:// or https:// proxy URL (value not "
                            "shown: it may hold a password)" % name)
    return value.strip()


def deploy_settings(data, groups=()):
    """The settings for one host: `data` is host.data (anything with .get), `groups` the names of the
    host's inventory groups.

    ``paths``: the files written on this host, as the role's ``__registry_credentials_all_paths``:
    ``registry_credentials_paths`` + (on hosts of group ``masters``) ``registry_credentials_master_paths``,
    duplicates dropped, order kept; the first is the one each host verifies."""
    paths = path_list(data, "registry_credentials_paths", DEFAULT_PATHS, allow_empty=False)
    master_paths = path_list(data, "registry_credentials_master_paths", [], allow_empty=True)
    is_master = MASTERS_GROUP in (groups or ())
    invalid_existing = text(data, "registry_credentials_invalid_existing", "fail") or "fail"
    if invalid_existing not in ("fail", "replace"):
        raise _err("registry_credentials_invalid_existing", "fail or replace", invalid_existing)
    verify_hosts_on = text(data, "registry_credentials_verify_hosts_on", "changed") or "changed"
    if verify_hosts_on not in ("changed", "always", "never"):
        raise _err("registry_credentials_verify_hosts_on", "changed, always or never", verify_hosts_on)
    restart = text(data, "registry_credentials_restart_service", "")
    if restart and (restart.startswith("-") or any(c.isspace() for c in restart)):
        raise _err("registry_credentials_restart_service", "a service name", restart)
    return {
        "paths": unique(paths + (master_paths if is_master else [])),
        "is_master": is_master,
        "owner": text(data, "registry_credentials_owner", "root"),
        "group": text(data, "registry_credentials_group", "root"),
        "invalid_existing": invalid_existing,
        "backup": flag(data, "registry_credentials_backup", False),
        "verify_controller": flag(data, "registry_credentials_verify_controller", True),
        "verify_hosts": flag(data, "registry_credentials_verify_hosts", True),
        # which hosts verify their first file: changed (default) | always | never (the role's meaning)
        "verify_hosts_on": verify_hosts_on,
        "certs_dir": text(data, "registry_credentials_certs_dir", ""),
        # the role's registry_credentials_ca_file, default okd_registry_ca_file ("": system trust)
        "ca_file": (text(data, "registry_credentials_ca_file")
                    if data.get("registry_credentials_ca_file") is not None
                    else text(data, "okd_registry_ca_file", "")),
        "validate_certs": flag(data, "registry_credentials_validate_certs", True),
        "proxy": _proxy(data),
        "timeout": integer(data, "registry_credentials_timeout", 30, 1),
        "retries": integer(data, "registry_credentials_retries", 3, 0),
        "restart_service": restart,
    }
