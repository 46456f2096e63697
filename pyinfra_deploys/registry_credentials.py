"""
Deploy: distribute registry credentials to every host, like roles/registry_credentials.

    .venv/bin/pyinfra inventory/lab/pyinfra_inventory.py pyinfra_deploys/registry_credentials.py -y
    .venv/bin/pyinfra INVENTORY pyinfra_deploys/registry_credentials.py --dry      # what would change
    .venv/bin/pyinfra INVENTORY pyinfra_deploys/registry_credentials.py -y --data registry_credentials_source=master

host.data (inventory data; `--data key=value` overrides; names, defaults and meanings are the role's,
roles/registry_credentials/defaults/main.yml):
    registry_credentials_source  inventory (default) | master
    okd_registries          [{name, host, username, password, test_image, email?}]
                            (source inventory: what is written; both sources: the test images)
    registry_credentials_test_images   {registry host: REPO:TAG}, overrides test_image (default {})
    registry_credentials_master_host   source master: the inventory host read (default: first host
                                       of group `masters`; connected for the read if --limit left it out)
    registry_credentials_master_path   source master: the file read there
                                       (default /var/lib/origin/.docker/config.json)
    registry_credentials_ca_file  CA bundle on the controller for the registries' TLS (default
                                  okd_registry_ca_file; empty: system trust)
    registry_credentials_paths   files to write on every host (default [/var/lib/origin/.docker/config.json])
    registry_credentials_master_paths  extra files written on hosts of group `masters` only (default [])
    registry_credentials_remove  registry hosts to remove from the files (default []); with source
                                 master, such an entry of the master's file is not written either
    registry_credentials_owner / registry_credentials_group   (default root / root)
    registry_credentials_invalid_existing   fail (default) | replace
    registry_credentials_backup             keep a timestamped 0600 copy of a file before changing it
                                            (<path>.<pid>.<YYYY-MM-DD@HH:MM:SS>~, default False)
    registry_credentials_verify_controller  verify every registry from the controller first (default True)
    registry_credentials_verify_hosts       verify each host's own file with skopeo (default True)
    registry_credentials_verify_hosts_on    changed (default: hosts whose first file changed; all hosts
                                            when verify_controller is off) | always | never
    registry_credentials_certs_dir          extra CA dir on the hosts for skopeo (--cert-dir <dir>/<registry>);
                                            default empty: skopeo's own /etc/{containers,docker}/certs.d
    registry_credentials_validate_certs / _proxy   controller verification (default True / none)
    registry_credentials_timeout  seconds per request (controller) / per attempt (hosts) (default 30)
    registry_credentials_retries  retries of transient errors, never of a refused login (default 3)
    registry_credentials_restart_service   service restarted where a file changed, one host at a time
                                           (default "": none)

Order: the credentials are collected (source master: the master's file is read once for all hosts,
never printed, and validated by the core; a missing or malformed file stops the run naming the master
and the cause), every registry is verified from the controller while pyinfra prepares (a rejected
credential stops the run before any host is touched), then each host's files are written (merged:
other entries are kept; atomic, 0600, directory 0700, byte-identical to the Ansible role's), then each
host verifies its first file with skopeo, then the service is restarted on the hosts whose files
changed, one host at a time (the role's handler runs at the end of the play too). With source
inventory, no registries to write and none to remove is an error (as in the role).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyinfra_deploys.okd_registry.deploys import registry_credentials  # noqa: E402

# The @deploy function's body (pip-installed: okd_registry_toolkit.deploys.registry_credentials), reading
# host.data. Called unwrapped so that the CLI's operation names stay as they were ("Registry credentials
# PATH", not "Registry credentials | Registry credentials PATH"): scripts and tests read pyinfra's results
# table by them. A user's deploy file calls registry_credentials() and gets the deploy's name prefix.
registry_credentials._inner()
