"""The toolkit's pyinfra ``@deploy`` functions, for a user's own deploy file:

    from okd_registry_toolkit.deploys import registry_credentials, compliance

    registry_credentials()                                   # settings from host.data (the inventory)
    registry_credentials(registry_credentials_backup=True)   # a variable given here wins over host.data
    compliance(registry_compliance_report_path="/srv/reports/compliance.json")

The keyword arguments are the Ansible roles' variable names (roles/registry_credentials/defaults,
roles/registry_compliance/defaults); pyinfra's global arguments (``_sudo=True``, ...) apply to every
operation of the deploy. The CLI files pyinfra_deploys/registry_credentials.py and compliance.py are
calls of these. Every setting is checked, and (source master) the master's file read and every
registry verified from the controller, while pyinfra prepares: an error stops the run before any
host is touched (pyinfra exits non-zero).
"""
from pyinfra import host
from pyinfra.api import deploy

from . import operations
from .settings import deploy_settings
from .sources import collect
from .verify import verify_registries
from plugins.module_utils.registry_entry import pull_host


class _Variables(object):
    """host.data with the deploy call's keyword arguments on top (``.get`` is all the readers use)."""

    def __init__(self, data, overrides):
        self._data = data
        self._overrides = dict(overrides)

    def get(self, name, default=None):
        if name in self._overrides:
            return self._overrides[name]
        return self._data.get(name, default)


@deploy("Registry credentials")
def registry_credentials(**variables):
    """Distribute registry credentials to this host's files, like roles/registry_credentials
    (pyinfra_deploys/README.md, "Deploy registry_credentials.py"). Returns the OperationMeta of the
    writes (for your own ``_if=`` conditions)."""
    data = _Variables(host.data, variables)
    settings = deploy_settings(data, host.groups)
    paths = settings["paths"]  # registry_credentials_paths (+ registry_credentials_master_paths on masters)

    # 1. the entries (source master: the master's file, read once, validated; errors stop the run;
    # source inventory with nothing to write and nothing to remove fails as the role does)
    collected = collect(data)
    present = collected["present"]
    remove = collected["remove"]

    # controller-side verification (once per registry for all hosts), before anything is executed
    if settings["verify_controller"]:
        verify_registries(
            present,
            ca_file=settings["ca_file"] or None,
            validate_certs=settings["validate_certs"],
            proxy=settings["proxy"] or None,
            timeout=settings["timeout"],
            retries=settings["retries"],
        )

    # 2. write (and remove) on this host; the results decide where the service is restarted
    writes = []
    first_file = []  # the operations that may change the file each host verifies (paths[0])
    for path in host.loop(paths):
        if present:
            writes.append(operations.registry_credentials(
                name="Registry credentials %s" % path,
                path=path, registries=present, state="present",
                owner=settings["owner"], group=settings["group"],
                invalid_existing=settings["invalid_existing"], backup=settings["backup"],
            ))
        if remove:
            writes.append(operations.registry_credentials(
                name="Remove registry credentials from %s" % path,
                path=path, registries=remove, state="absent",
                owner=settings["owner"], group=settings["group"],
                invalid_existing=settings["invalid_existing"], backup=settings["backup"],
            ))
        if path == paths[0]:
            first_file = list(writes)

    # 3. the host proves that its own (first) file gives pull access: with verify_hosts_on `changed`
    # only where that file changed (pyinfra's _if, evaluated after the writes ran; an unchanged file
    # holds the bytes the controller has just verified), everywhere when the controller did not verify
    verify_if = {}
    if settings["verify_hosts_on"] == "changed" and settings["verify_controller"]:
        verify_if["_if"] = [lambda: operations.any_changed(first_file)]
    if settings["verify_hosts"] and settings["verify_hosts_on"] != "never" and present:
        images = []
        for r in present:
            if not r.get("test_image"):
                continue
            registry = r.get("registry") or r.get("host")  # the canonical key (sources.collect)
            # the image reference names the registry host, never a key's path scope (quay.io/orgA),
            # and docker.io for Docker Hub (core: registry_entry.pull_host)
            image_host = pull_host(registry)
            cert_dir = None
            if settings["certs_dir"]:
                cert_dir = "%s/%s" % (settings["certs_dir"].rstrip("/"), image_host)
            images.append({"registry": image_host, "image": r["test_image"], "cert_dir": cert_dir,
                           "name": registry})
        if images:
            # one operation and one command for all registries (checked at the same time on the host)
            operations.verify_pull_access(
                name="Verify pull access to %s with %s" % (", ".join(i["name"] for i in images), paths[0]),
                authfile=paths[0], images=images,
                timeout=settings["timeout"], retries=settings["retries"], **verify_if
            )

    # 4. the role's handler: restart the service where a file changed (pyinfra's _if, evaluated after
    # the writes ran), one host at a time (_serial)
    if settings["restart_service"] and writes:
        operations.restart_service(
            name="Restart %s where the registry credentials changed" % settings["restart_service"],
            service=settings["restart_service"], after=writes, _serial=True,
        )
    return writes


@deploy("Registry compliance")
def compliance(**variables):
    """Check this host's credentials files, like playbooks/compliance.yml (roles/registry_compliance);
    changes nothing on the host; the JSON report is written on the controller
    (pyinfra_deploys/README.md, "Deploy compliance.py")."""
    # imported here: the compliance operation module is only needed (and loaded) by this deploy
    from .compliance import compliance_settings, registry_compliance

    settings = compliance_settings(_Variables(host.data, variables))  # checked before anything runs
    return registry_compliance(
        name="Registry compliance",
        paths=settings["paths"],
        registries=settings["registries"],
        verify_access=settings["verify_access"],
        ca_file=settings["ca_file"],
        report_path=settings["report_path"],
        fail_on_findings=settings["fail_on_findings"],
    )
