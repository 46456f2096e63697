"""
Deploy: distribute registry credentials to every host, like roles/registry_credentials.

    .venv/bin/pyinfra inventory/lab/pyinfra_inventory.py pyinfra_deploys/registry_credentials.py -y
    .venv/bin/pyinfra INVENTORY pyinfra_deploys/registry_credentials.py --dry      # what would change

host.data (inventory data):
    okd_registries          [{name, host, username, password, test_image, email?}]   (required)
    okd_registry_ca_file    CA bundle on the controller for the registries' TLS (empty: system trust)
    registry_credentials_paths   files to write (default [/var/lib/origin/.docker/config.json])
    registry_credentials_remove  registry hosts to remove from the files (default [])
    registry_credentials_owner / registry_credentials_group   (default root / root)
    registry_credentials_invalid_existing   fail (default) | replace
    registry_credentials_verify_hosts       verify each host's own file with skopeo (default True)
    registry_credentials_certs_dir          extra CA dir on the hosts for skopeo (--cert-dir <dir>/<registry>);
                                            default empty: skopeo's own /etc/{containers,docker}/certs.d

Order: every registry is verified from the controller while pyinfra prepares (a rejected credential
stops the run before any host is touched), then each host's files are written (atomic, 0600, directory
0700, byte-identical to the Ansible role's), then each host verifies its first file with skopeo.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyinfra import host  # noqa: E402

from pyinfra_deploys.okd_registry import operations  # noqa: E402
from pyinfra_deploys.okd_registry.verify import verify_registries  # noqa: E402

registries = host.data.get("okd_registries") or []
paths = host.data.get("registry_credentials_paths") or ["/var/lib/origin/.docker/config.json"]
remove = list(host.data.get("registry_credentials_remove") or [])
owner = host.data.get("registry_credentials_owner", "root")
group = host.data.get("registry_credentials_group", "root")
invalid_existing = host.data.get("registry_credentials_invalid_existing", "fail")
certs_dir = host.data.get("registry_credentials_certs_dir", "")
verify_hosts = host.data.get("registry_credentials_verify_hosts", True)

present = [r for r in registries if (r.get("host") or r.get("registry")) not in remove]

# 1. controller-side verification (once per registry for all hosts), before anything is executed
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
            owner=owner, group=group, invalid_existing=invalid_existing,
        )
    if remove:
        operations.registry_credentials(
            name="Remove registry credentials from %s" % path,
            path=path, registries=remove, state="absent",
            owner=owner, group=group, invalid_existing=invalid_existing,
        )

# 3. each host proves that its own file gives pull access
if verify_hosts and present:
    for r in present:
        if not r.get("test_image"):
            continue
        registry = r.get("host") or r.get("registry")
        cert_dir = None
        if certs_dir:
            cert_dir = "%s/%s" % (certs_dir.rstrip("/"), registry)
        operations.verify_pull_access(
            name="Verify pull access to %s with %s" % (registry, paths[0]),
            authfile=paths[0], registry=registry, image=r["test_image"], cert_dir=cert_dir,
        )
