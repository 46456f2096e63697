"""Paths, addresses and ports of the lab, and the Lab context object passed to components."""
import ipaddress
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOMAIN = "lab.test"
BRIDGE = "okdlab0"
NETWORK = ipaddress.ip_network("10.231.0.0/16")
GATEWAY = "10.231.0.1"
NS_PREFIX = "okdlab-"
HOSTS_MARK_BEGIN = "# BEGIN okd-lab"
HOSTS_MARK_END = "# END okd-lab"

# One port per lab service, all bound to GATEWAY.
PORTS = {
    "redhat_registry": 5443,   # registry.redhat.lab.test
    "redhat_realm": 5444,      # sso.redhat.lab.test (token realm like registry.redhat.io's)
    "quay_registry": 5445,     # quay.lab.test
    "quay_realm": 5446,        # auth.quay.lab.test
    "quay_split_registry": 5447,  # split.quay.lab.test (quay's distribution; its challenge names auth.quay)
    "api": 8443,               # api.lab.test (OKD 3.11 API stand-in)
    "redhat_access_registry": 5451,  # registry.access.redhat.lab.test (the old registry, lab/openshift_install.py)
}

SERVICE_NAMES = {
    "redhat_registry": "registry.redhat." + DOMAIN,
    "redhat_realm": "sso.redhat." + DOMAIN,
    "quay_registry": "quay." + DOMAIN,
    "quay_realm": "auth.quay." + DOMAIN,
    "quay_split_registry": "split.quay." + DOMAIN,
    "api": "api." + DOMAIN,
    "redhat_access_registry": "registry.access.redhat." + DOMAIN,
}


def host_address(k):
    """Address of lab host number k (0 = master1). Room for ~65000 hosts in the /16."""
    base = int(NETWORK.network_address) + 256  # 10.231.1.0
    addr = ipaddress.ip_address(base + 10 + k)
    assert addr in NETWORK
    return str(addr)


def host_names(nodes):
    return ["master1"] + ["node%d" % i for i in range(1, nodes + 1)]


def host_groups(name):
    if name.startswith("master"):
        return ["masters", "etcd", "nodes"]
    return ["nodes"]


def write_private(path, data):
    """Write text or bytes atomically to a file that is 0600 from its creation (lab secrets)."""
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class LabPaths(object):
    def __init__(self, root=None):
        self.root = Path(root or os.environ.get("OKD_LAB_DIR") or (REPO / ".lab")).resolve()
        self.status = self.root / "status.json"
        self.pids = self.root / "pids"
        self.logs = self.root / "logs"
        self.pki = self.root / "pki"
        self.ca_cert = self.pki / "ca.crt"
        self.ca_key = self.pki / "ca.key"
        self.hosts = self.root / "hosts"          # per-host trees: hosts/<name>/...
        self.ssh = self.root / "ssh"              # client key, known_hosts, host keys
        self.ssh_config = REPO / "inventory" / "lab" / "ssh_config"
        self.ansible_inventory = REPO / "inventory" / "lab" / "hosts.yml"
        self.pyinfra_inventory = REPO / "inventory" / "lab" / "pyinfra_inventory.py"
        self.registries = self.root / "registries"
        self.images = self.root / "images"        # OCI layouts built with umoci (cache)
        self.api = self.root / "api"

    def host_dir(self, name):
        return self.hosts / name

    def mkdirs(self):
        for p in (self.root, self.pids, self.logs, self.pki, self.hosts, self.ssh,
                  self.registries, self.images, self.api):
            p.mkdir(parents=True, exist_ok=True)
        os.chmod(str(self.root), 0o700)


class Lab(object):
    """Context handed to every component's up()/down()."""

    def __init__(self, root=None, nodes=3):
        self.paths = LabPaths(root)
        self.nodes = nodes
        self.gateway = GATEWAY
        self.ports = dict(PORTS)
        self.names = dict(SERVICE_NAMES)
        self.python = sys.executable

    def service_host(self, key):
        """'NAME:PORT' of a lab service."""
        return "%s:%d" % (self.names[key], self.ports[key])

    def service_url(self, key):
        return "https://" + self.service_host(key)

    def load_status(self):
        try:
            return json.loads(self.paths.status.read_text())
        except (OSError, ValueError):
            return {}

    def save_status(self, status):
        write_private(self.paths.status, json.dumps(status, indent=2, sort_keys=True))
