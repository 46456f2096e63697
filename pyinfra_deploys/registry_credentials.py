"""
Deploy: distribute registry credentials to every host, like roles/registry_credentials.

    .venv/bin/pyinfra inventory/lab/pyinfra_inventory.py pyinfra_deploys/registry_credentials.py -y
    .venv/bin/pyinfra INVENTORY pyinfra_deploys/registry_credentials.py --dry      # what would change
    .venv/bin/pyinfra INVENTORY pyinfra_deploys/registry_credentials.py -y --data registry_credentials_source=master

host.data (inventory data; `--data key=value` overrides):
    registry_credentials_source  inventory (default) | master
    okd_registries          [{name, host, username, password, test_image, email?}]
                            (source inventory: what is written; both sources: the test images)
    registry_credentials_test_images   {registry host: REPO:TAG}, overrides test_image (default {})
    registry_credentials_master_host   source master: the inventory host read (default: first host
                                       of group `masters`; connected for the read if --limit left it out)
    registry_credentials_master_path   source master: the file read there
                                       (default /var/lib/origin/.docker/config.json)
    okd_registry_ca_file    CA bundle on the controller for the registries' TLS (empty: system trust)
    registry_credentials_paths   files to write (default [/var/lib/origin/.docker/config.json])
    registry_credentials_remove  registry hosts to remove from the files (default []); with source
                                 master, such an entry of the master's file is not written either
    registry_credentials_owner / registry_credentials_group   (default root / root)
    registry_credentials_invalid_existing   fail (default) | replace
    registry_credentials_backup             keep a timestamped 0600 copy of a file before changing it
                                            (<path>.<pid>.<YYYY-MM-DD@HH:MM:SS>~, default False)
    registry_credentials_verify_hosts       verify each host's own file with skopeo (default True)
    registry_credentials_certs_dir          extra CA dir on the hosts for skopeo (--cert-dir <dir>/<registry>);
                                            default empty: skopeo's own /etc/{containers,docker}/certs.d

Order: the credentials are collected (source master: the master's file is read once for all hosts,
never printed, and validated by the core; a missing or malformed file stops the run naming the master
and the cause), every registry is verified from the controller while pyinfra prepares (a rejected
credential stops the run before any host is touched), then each host's files are written (merged:
other entries are kept; atomic, 0600, directory 0700, byte-identical to the Ansible role's), then each
host verifies its first file with skopeo.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyinfra import host  # noqa: E402

from pyinfra_deploys.okd_registry import operations  # noqa: E402
from pyinfra_deploys.okd_registry.sources import collect  # noqa: E402
from pyinfra_deploys.okd_registry.verify import verify_registries  # noqa: E402



def _flag(value):
    """A yes/no setting from inventory data or `--data` (strings like "false" are no)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


paths = host.data.get("registry_credentials_paths") or ["/var/lib/origin/.docker/config.json"]
owner = host.data.get("registry_credentials_owner", "root")
group = host.data.get("registry_credentials_group", "root")
invalid_existing = host.data.get("registry_credentials_invalid_existing", "fail")
backup = _flag(host.data.get("registry_credentials_backup", False))
certs_dir = host.data.get("registry_credentials_certs_dir", "")
verify_hosts = _flag(host.data.get("registry_credentials_verify_hosts", True))

# 1. collect the entries (source master: the master's file, read once, validated; errors stop the run)
collected = collect(host.data)
present = collected["present"]
remove = collected["remove"]

# controller-side verification (once per registry for all hosts), before anything is executed
verify_registries(
    present,
    ca_file=host.data.get("okd_registry_ca_file") or None,
    validate_certs=host.data.get("registry_credentials_validate_certs", True),
    proxy=host.data.get("registry_credentials_proxy") or None,
    timeout=int(host.data.get("registry_credentials_timeout", 30)),
)

# 2. write (and remove) on every host
for path in paths:
    if present:
        operations.registry_credentials(
            name="Registry credentials %s" % path,
            path=path, registries=present, state="present",
            owner=owner, group=group, invalid_existing=invalid_existing, backup=backup,
        )
    if remove:
        operations.registry_credentials(
            name="Remove registry credentials from %s" % path,
            path=path, registries=remove, state="absent",
            owner=owner, group=group, invalid_existing=invalid_existing, backup=backup,
        )

# 3. each host proves that its own file gives pull access
if verify_hosts and present:
    for r in present:
        if not r.get("test_image"):
            continue
        registry = r.get("registry") or r.get("host")
        cert_dir = None
        if certs_dir:
            cert_dir = "%s/%s" % (certs_dir.rstrip("/"), registry)
        operations.verify_pull_access(
            name="Verify pull access to %s with %s" % (registry, paths[0]),
            authfile=paths[0], registry=registry, image=r["test_image"], cert_dir=cert_dir,
        )
