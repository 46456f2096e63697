"""
Deploy: compliance checks of the registry credentials files on every host, like playbooks/compliance.yml
(roles/registry_compliance). Changes nothing on any host.

    .venv/bin/pyinfra inventory/lab/pyinfra_inventory.py pyinfra_deploys/compliance.py -y
    .venv/bin/pyinfra INVENTORY pyinfra_deploys/compliance.py --dry      # the report, nothing executed
    .venv/bin/pyinfra INVENTORY pyinfra_deploys/compliance.py -y --data registry_compliance_report_path=/tmp/r.json

host.data (inventory data; `--data key=value` overrides; names, defaults and meanings are the role's,
roles/registry_compliance/defaults/main.yml):
    registry_compliance_registries   [{name, host, username, password, test_image}] (default okd_registries)
    registry_compliance_paths        files checked on every host (default [/var/lib/origin/.docker/config.json])
    registry_compliance_verify_access  pull each test_image from the host with its own file (skopeo;
                                       default True)
    registry_compliance_ca_file      CA bundle on the hosts (default "": skopeo's certs.d lookup,
                                     /etc/docker/certs.d/<registry>/, and the system trust store)
    registry_compliance_report_path  JSON report on the controller (default $PWD/compliance-report.json)
    registry_compliance_fail_on_findings  fail the hosts that are not compliant, after the report is
                                          written (default True: pyinfra exits non-zero)

Every host is checked by the shared core (plugins/module_utils/compliance.py) and reported with the
same check ids, statuses and messages as the role; unreachable hosts are in the report too. Once every
host is read, the report's `cluster` section compares each host's file with the first master's
(node_matches_master, plugins/module_utils/cluster_compliance.py; in memory, no secret in the report). See
pyinfra_deploys/README.md ("Deploy compliance.py").
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyinfra_deploys.okd_registry.deploys import compliance  # noqa: E402

# The @deploy function's body (pip-installed: okd_registry_toolkit.deploys.compliance), reading host.data;
# called unwrapped so the CLI's operation name stays "Registry compliance" (as registry_credentials.py does).
compliance._inner()
