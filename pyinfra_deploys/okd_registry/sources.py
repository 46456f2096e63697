"""Where the credentials of the deploy come from, like roles/registry_credentials/tasks/collect.yml.

* ``inventory`` (default): host.data ``okd_registries``.
* ``master``: the first master's ``/var/lib/origin/.docker/config.json`` (as the OKD 3.11 docs say:
  copied from the master). It is read ONCE per run, while pyinfra prepares, over pyinfra's own
  connection to the master host (connected for the read when ``--limit`` left it out), with
  ``print_output=False`` (never printed, even with -vvv), never through a fact (facts are printed by
  -vvv) and never into a file on the controller. It is parsed and validated by the core
  (``plugins.module_utils.dockercfg``); a missing or malformed file raises ``CredentialsSourceError``
  naming the master and the cause (never a secret) before any operation runs on any host.

The entries taken from the master are the same as the Ansible filter
``okd.registry_toolkit.docker_config_auths`` gives (tests/unit/test_pyinfra_ops.py compares them).
"""
from __future__ import annotations

import posixpath
import threading

from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.exceptions import ConnectError, PyinfraError

from . import REPO_ROOT  # noqa: F401  (puts the repository root on sys.path)
from .operations import RedactedList
from .remote_read import RemoteReadError, decode_read
from .remote_read import read_command as _one_reader
from plugins.module_utils import dockercfg, registry_entry
from plugins.module_utils.errors import ToolkitError

DEFAULT_MASTER_PATH = "/var/lib/origin/.docker/config.json"
SOURCES = ("inventory", "master")

_lock = threading.Lock()  # gevent-patched under the pyinfra CLI (the deploy runs in one greenlet per host)
_CACHE_ATTRIBUTE = "_okd_registry_master_entries"  # on the pyinfra State: one read per run


class CredentialsSourceError(PyinfraError):
    """The credentials cannot be collected (bad settings, missing or malformed master file)."""


def _err(message):
    return CredentialsSourceError("registry_credentials: " + message)


# ------------------------------------------------------------------------------- parsing

def config_entries(text, source="config.json"):
    """Entries [{registry, username, password, email?}] of a config.json text, validated by the core.

    Same result as the Ansible filter docker_config_auths: keys normalized (``https://host/v1/`` ->
    ``host``), entries without credentials (credsStore users) skipped, of two spellings of one
    registry the first or the exact key wins. Raises ToolkitError (parse errors name ``source``, line
    and column; entry errors the registry and user, never a secret)."""
    config = dockercfg.parse_config(text, source)
    found = dockercfg.credential_entries(config)
    out = RedactedList()
    for item in found:
        # what the write would reject (empty password, ':' in the user, control characters) is
        # reported now, against the master's file, before any host is touched
        dockercfg.validate_entry_input(item["registry"], item["username"], item["password"])
        out.append(item)
    return out


# ------------------------------------------------------------------------------- the master

def find_master(inventory, name=None):
    """The master host: ``name`` (an inventory host name) or the first host of group ``masters``."""
    if name:
        master = inventory.get_host(name, default=None)
        if master is None:
            raise _err("source is master but registry_credentials_master_host %s is not a host of "
                       "the inventory" % name)
        return master
    masters = inventory.get_group("masters", default=None) or []
    if not masters:
        raise _err("source is master but no master host is known (group masters is empty; set "
                   "registry_credentials_master_host)")
    return masters[0]


def read_command(path):
    """The deploys' one reader (remote_read.read_command): base64 of the file's exact bytes; a missing
    file, a symbolic link or a non-regular file is reported by a marker on stderr (exit 1), never opened."""
    return _one_reader(path)


def _connector_arguments(state, master):
    """The master's own connector arguments (_sudo, _su_user, ... from its data or the CLI)."""
    arguments, _ = pop_global_arguments(state, master, {})
    kwargs = {key: value for key, value in arguments.items() if key in CONNECTOR_ARGUMENT_KEYS}
    kwargs.pop("_stdin", None)
    kwargs["_get_pty"] = False  # a PTY would mix stderr into stdout
    return kwargs


def read_master_file(state, master, path):
    """Text of ``path`` on ``master``, never printed. Connects the master for the read (and
    disconnects it afterwards) when it is not connected (outside --limit)."""
    label = "%s:%s" % (master.name, path)
    connected_here = False
    if not master.connected:
        try:
            master.connect(reason="reading the registry credentials", show_errors=False,
                           raise_exceptions=True)
        except ConnectError as exc:
            raise _err("source is master but %s cannot be reached to read %s: %s"
                       % (master.name, path, exc))
        connected_here = True
    try:
        status, output = master.run_shell_command(
            read_command(path), print_output=False,
            print_input=getattr(state, "print_input", False),
            **_connector_arguments(state, master))
    finally:
        if connected_here:
            try:
                master.disconnect()
            except Exception:  # pragma: no cover - best effort, the run goes on
                pass
    try:
        return decode_read(master.name, path, status, output)
    except RemoteReadError as exc:
        if exc.kind == "missing":
            raise _err("source is master but %s has no %s; write it there first or use source "
                       "inventory" % (master.name, path))
        if exc.kind == "not_regular":
            raise _err("%s is not a valid credentials file: it is not a regular file" % label)
        if exc.kind == "link":
            raise _err("%s is not a valid credentials file: it is a symbolic link (refused, never "
                       "followed)" % label)
        raise _err("source is master but %s cannot be read: %s"
                   % (label, output.stderr.strip() or "the read failed without a message"))


def master_entries(state, inventory, name=None, path=DEFAULT_MASTER_PATH):
    """Entries of the master's file, read and validated once per run (all hosts share the result,
    errors included). Raises CredentialsSourceError naming the master and the cause."""
    master = find_master(inventory, name)
    key = (master.name, path)
    with _lock:
        _cache = state.__dict__.setdefault(_CACHE_ATTRIBUTE, {})
        if key not in _cache:
            label = "%s:%s" % (master.name, path)
            try:
                text = read_master_file(state, master, path)
                try:
                    entries = config_entries(text, source=path)
                except ToolkitError as exc:
                    cause = exc.msg if hasattr(exc, "msg") else "%s" % exc
                    if cause.startswith(path + ": "):
                        cause = cause[len(path) + 2:]
                    raise _err("%s is not a valid credentials file: %s" % (label, cause))
                _cache[key] = (entries, None)
            except CredentialsSourceError as exc:
                _cache[key] = (None, "%s" % exc)
        entries, error = _cache[key]
    if error is not None:
        raise CredentialsSourceError(error)
    return entries


# ------------------------------------------------------------------------------- collect

def registry_of(item):
    """The canonical key of an entry (the core's entry model: ``registry`` or ``host``, path scope
    kept), or None when it has none or a malformed one (reported by the checks of ``collect``)."""
    try:
        return registry_entry.entry_key(item)
    except ToolkitError:
        return None


def _canonical(name):
    try:
        return registry_entry.normalize_key(name)
    except ToolkitError:
        return name


def test_images(registries, overrides=None):
    """{registry key: REPO:TAG} from the registries' test_image, overridden by
    registry_credentials_test_images (like the role's __registry_credentials_test_image); keys are
    canonical (``https://quay.io/v1/`` and ``quay.io`` are one registry, ``quay.io/orgA`` another)."""
    out = {}
    if isinstance(registries, (list, tuple)):
        for item in registries:
            if isinstance(item, dict) and registry_of(item) and item.get("test_image"):
                out[registry_of(item)] = item["test_image"]
    for name, image in (overrides or {}).items():
        out[_canonical(name)] = image
    return out


def collect(data, state=None, inventory=None):
    """What the deploy distributes, from host.data (a mapping with .get):

    {"source", "present": RedactedList of {registry|host, username, password, email?, test_image?},
     "remove": [registry hosts], "test_images": {registry: image}, "master": label or None}

    Source master reads the master's file (once per run); a registry listed in
    registry_credentials_remove is not written (as in the role)."""
    source = data.get("registry_credentials_source", "inventory") or "inventory"
    if source not in SOURCES:
        raise _err("registry_credentials_source must be inventory or master, not %r" % (source,))
    remove = data.get("registry_credentials_remove") or []
    if isinstance(remove, str) or not isinstance(remove, (list, tuple)):
        raise _err("registry_credentials_remove must be a list of registry hosts")
    remove = [_canonical(name) for name in remove]
    # the role's registry_credentials_registries, default okd_registries
    registries = data.get("registry_credentials_registries")
    if registries is None:
        registries = data.get("okd_registries") or []
    images = test_images(registries, data.get("registry_credentials_test_images") or {})
    label = None
    if source == "master":
        if inventory is None or state is None:
            from pyinfra import inventory as pyinfra_inventory, state as pyinfra_state
            inventory = inventory if inventory is not None else pyinfra_inventory
            state = state if state is not None else pyinfra_state
        path = data.get("registry_credentials_master_path") or DEFAULT_MASTER_PATH
        if not posixpath.isabs(path):
            raise _err("registry_credentials_master_path must be an absolute path, not %r" % (path,))
        name = data.get("registry_credentials_master_host") or None
        entries = master_entries(state, inventory, name, path)
        label = "%s:%s" % (find_master(inventory, name).name, path)
        present = RedactedList(dict(e) for e in entries if e["registry"] not in remove)  # canonical keys
        if not present and not remove:
            raise _err("%s holds no registry credentials" % label)
    else:
        if isinstance(registries, (str, dict)) or not isinstance(registries, (list, tuple)):
            raise _err("okd_registries must be a list of {name, host, username, password, test_image}")
        # the core's entry model resolves registry/host once (path scope kept); a malformed entry is
        # reported here, naming it, before anything runs (never its password)
        present = RedactedList()
        for index, r in enumerate(registries):
            if not isinstance(r, dict):
                present.append(r)  # reported by the operation (operations.normalize_entries)
                continue
            try:
                item = registry_entry.registry_entry(r, "okd_registries entry %s" % (r.get("name") or "#%d" % (index + 1)))
            except ToolkitError as exc:
                raise _err(exc.msg)
            for derived in ("key", "registry_host", "path"):
                item.pop(derived, None)
            if item["registry"] not in remove:
                present.append(item)
        if not registries and not remove:
            # the role's check (roles/registry_credentials/tasks/collect.yml), with its words: a run
            # that would do nothing because the inventory lost its registries is an error, not a no-op
            raise _err("no registries to write (set okd_registries or registry_credentials_registries) "
                       "and none to remove")
    for item in present:
        if not isinstance(item, dict):
            continue
        image = images.get(registry_of(item))
        if image:
            item["test_image"] = image
        else:
            item.pop("test_image", None)
    return {"source": source, "present": present, "remove": remove, "test_images": images,
            "master": label}
