"""The lab hosts (lab/hosts.py): reachability, isolation, names, TLS trust, exec, status contract."""
import concurrent.futures
import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def host(lab, name):
    return [h for h in lab["hosts"] if h["name"] == name][0]


# ------------------------------------------------------------------------------------ status contract

def test_status_json_contract(lab):
    r = subprocess.run([PY, "-m", "lab", "status", "--json"], cwd=str(REPO), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    for key in ("hosts", "ssh_config", "ssh_key", "inventory", "ca_file", "state_dir"):
        assert key in st, key
    assert set(st["inventory"]) >= {"ansible", "pyinfra"}
    for p in (st["ssh_config"], st["ssh_key"], st["ca_file"], st["inventory"]["ansible"],
              st["inventory"]["pyinfra"]):
        assert os.path.isabs(p) and os.path.isfile(p), p
    assert os.path.isdir(st["state_dir"])
    names = [h["name"] for h in st["hosts"]]
    assert names[0] == "master1" and names[1:] == ["node%d" % i for i in range(1, len(names))]
    assert len(set(h["address"] for h in st["hosts"])) == len(names)
    for h in st["hosts"]:
        assert set(h) >= {"name", "address", "groups", "fqdn"}
        assert h["fqdn"] == h["name"] + ".lab.test"
        assert h["address"].startswith("10.231.")
        assert "nodes" in h["groups"]
    assert set(host(st, "master1")["groups"]) == {"masters", "etcd", "nodes"}
    for name, reg in (st.get("registries") or {}).items():
        assert set(reg) >= {"host", "url", "ca_file", "realm", "service", "accounts", "images", "digests"}, name
        assert reg["url"] == "https://" + reg["host"]
        for a in reg["accounts"]:
            assert set(a) >= {"username", "password", "pull", "push", "revoked"}
    if st.get("api"):
        assert set(st["api"]) >= {"url", "kubeconfig", "tokens", "request_log"}
        assert set(st["api"]["tokens"]) >= {"admin", "readonly"}


def test_status_json_is_private(lab):
    mode = stat.S_IMODE(os.stat(os.path.join(lab["state_dir"], "status.json")).st_mode)
    assert mode == 0o600


def test_exec_on_unknown_host_fails(lab):
    r = subprocess.run([PY, "-m", "lab", "exec", "node999", "--", "true"], cwd=str(REPO),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode != 0 and "node999" in r.stderr


# ------------------------------------------------------------------------------------------- ssh

def test_every_host_reachable_by_ssh(lab, ssh):
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(lab["hosts"])) as ex:
        results = dict(zip([h["name"] for h in lab["hosts"]],
                           ex.map(lambda h: ssh(h["name"], "hostname; id -u"), lab["hosts"])))
    for h in lab["hosts"]:
        r = results[h["name"]]
        assert r.returncode == 0, (h["name"], r.stderr)
        assert r.stdout.split() == [h["fqdn"], "0"]


@pytest.mark.parametrize("alias", ["fqdn", "address"])
def test_ssh_by_fqdn_and_address(lab, ssh, alias):
    h = host(lab, "node1")
    r = ssh(h[alias], "hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == h["fqdn"]


def test_sshd_refuses_unknown_keys_and_passwords(lab, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    # a key the host does not know (and no agent, no config IdentityFile): refused
    r = subprocess.run(["ssh", "-o", "UserKnownHostsFile=" + str(Path(lab["ssh_key"]).parent / "known_hosts"),
                        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                        "-o", "KexAlgorithms=curve25519-sha256", "-i", str(other), "-F", "/dev/null",
                        "root@" + host(lab, "node1")["address"], "true"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=60, env=dict(os.environ, SSH_AUTH_SOCK=""))
    assert r.returncode == 255 and "Permission denied (publickey)" in r.stderr, r.stderr
    # passwords are not even offered
    r = subprocess.run(["ssh", "-F", lab["ssh_config"], "-o", "ControlMaster=no", "-o", "ControlPath=none",
                        "-o", "PreferredAuthentications=password", "-o", "BatchMode=no",
                        "-o", "NumberOfPasswordPrompts=0", "node1", "true"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=60)
    assert r.returncode == 255 and "Permission denied (publickey)" in r.stderr, r.stderr


def test_host_key_is_pinned(lab):
    """The controller trusts exactly the host keys in known_hosts: a wrong entry makes ssh refuse."""
    kh = Path(lab["ssh_key"]).parent / "known_hosts"
    lines = kh.read_text().splitlines()
    n1 = [l for l in lines if l.startswith("node1,")][0]
    n2_key = [l for l in lines if l.startswith("node2,")][0].split(None, 1)[1]
    fake = Path(lab["state_dir"]) / ("known_hosts.test-%s" % uuid.uuid4().hex)
    try:
        fake.write_text(n1.split(None, 1)[0] + " " + n2_key + "\n")
        r = subprocess.run(["ssh", "-F", lab["ssh_config"], "-o", "UserKnownHostsFile=" + str(fake),
                            "-o", "ControlMaster=no", "-o", "ControlPath=none", "node1", "true"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
    finally:
        fake.unlink()
    assert r.returncode == 255 and "HOST IDENTIFICATION HAS CHANGED" in r.stderr, r.stderr


# ------------------------------------------------------------------------------- hostnames, names

def test_hostnames(lab, lab_exec):
    for h in lab["hosts"]:
        assert lab_exec(h["name"], "hostname").stdout.strip() == h["fqdn"]


def test_lab_names_resolve_inside_a_host(lab, lab_exec):
    out = lab_exec("node1", "getent ahostsv4 registry.redhat.lab.test sso.redhat.lab.test quay.lab.test "
                            "auth.quay.lab.test api.lab.test | awk '{print $1}' | sort -u").stdout.split()
    assert out == ["10.231.0.1"]
    for h in lab["hosts"]:
        for name in (h["name"], h["fqdn"]):
            r = lab_exec("node1", "getent hosts %s" % name)
            assert r.stdout.split()[0] == h["address"], (name, r.stdout)


def test_hosts_reach_each_other_and_the_gateway_only(lab, lab_exec):
    m = host(lab, "master1")
    code = ("import socket,sys\n"
            "socket.create_connection((sys.argv[1], 22), timeout=5).close()\n"
            "try:\n"
            "    socket.create_connection(('192.0.2.1', 80), timeout=2)\n"
            "except OSError as e:\n"
            "    print('outside unreachable', e.errno)\n")
    r = lab_exec("node2", "python3 -c %s %s" % (_q(code), m["fqdn"]))
    assert "outside unreachable" in r.stdout
    # the machine's lab names block lists every lab name
    etc = Path("/etc/hosts").read_text()
    block = etc.split("# BEGIN okd-lab", 1)[1].split("# END okd-lab", 1)[0]
    for h in lab["hosts"]:
        assert "%s %s %s" % (h["address"], h["fqdn"], h["name"]) in block
    assert "10.231.0.1 " in block and "registry.redhat.lab.test" in block


def _q(s):
    return "'" + s.replace("'", "'\\''") + "'"


# --------------------------------------------------------------------------------------- isolation

@pytest.mark.parametrize("path,state_subdir", [
    ("/var/lib/origin", "var-lib-origin"),
    ("/root", "root"),
    ("/etc/origin", "etc-origin"),
    ("/var/lib", "var-lib-upper"),
    ("/etc", "etc-upper"),
    ("/tmp", "tmp"),
    ("/var/tmp", "var-tmp"),
    ("/var/log", "var-log-upper"),
])
def test_files_are_per_host(lab, lab_exec, path, state_subdir):
    name = "okd-lab-probe-%s" % uuid.uuid4().hex
    f = "%s/%s" % (path, name)
    try:
        lab_exec("node1", "echo node1 > %s && chmod 600 %s" % (f, f))
        assert lab_exec("node1", "cat %s" % f).stdout == "node1\n"
        assert lab_exec("node2", "test -e %s" % f, check=False).returncode == 1
        assert lab_exec("master1", "test -e %s" % f, check=False).returncode == 1
        assert not os.path.exists(f), "a lab host wrote to the machine's %s" % path
        # where the design says it lives on the machine side
        assert (Path(lab["state_dir"]) / "hosts" / "node1" / state_subdir / name).read_text() == "node1\n"
    finally:
        lab_exec("node1", "rm -f %s" % f, check=False)


def test_origin_dirs_exist_on_every_host(lab, lab_exec):
    for h in lab["hosts"]:
        lab_exec(h["name"], "test -d /var/lib/origin && test -d /etc/origin && test -d /etc/systemd/system")


# ------------------------------------------------------------------------------------------ TLS trust

def test_lab_ca_in_certs_d(lab, lab_exec):
    ca = Path(lab["ca_file"]).read_text()
    regs = [r["host"] for r in (lab.get("registries") or {}).values()]
    regs = regs or ["registry.redhat.lab.test:5443", "quay.lab.test:5445"]
    for h in ("master1", "node1"):
        for reg in regs:
            for d in ("/etc/containers/certs.d", "/etc/docker/certs.d"):
                assert lab_exec(h, "cat %s/%s/ca.crt" % (d, reg)).stdout == ca


def test_admin_kubeconfig_on_master1(lab, lab_exec):
    if not lab.get("api"):
        pytest.skip("no API stand-in in this lab")
    want = Path(lab["state_dir"], "api", "admin.kubeconfig").read_text()
    r = lab_exec("master1", "stat -c %a /etc/origin/master/admin.kubeconfig; "
                            "cat /etc/origin/master/admin.kubeconfig")
    mode, body = r.stdout.split("\n", 1)
    assert mode == "600" and body == want
    assert lab_exec("node1", "test -e /etc/origin/master/admin.kubeconfig", check=False).returncode == 1


# ----------------------------------------------------------------------------------------------- exec

@pytest.mark.parametrize("code", [0, 1, 3, 42])
def test_exec_passes_exit_codes_through(lab, code):
    r = subprocess.run([PY, "-m", "lab", "exec", "node1", "--", "sh", "-c", "echo out; echo err >&2; exit %d" % code],
                       cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert (r.returncode, r.stdout, r.stderr) == (code, "out\n", "err\n")


def test_exec_runs_in_the_hosts_network(lab, lab_exec):
    out = lab_exec("node2", "ip -o -4 addr show dev eth0").stdout
    assert " %s/16 " % host(lab, "node2")["address"] in out
    assert lab_exec("node2", "pwd; echo $HOME").stdout.split() == ["/root", "/root"]


def test_lab_exec_check(lab, lab_exec):
    with pytest.raises(AssertionError):
        lab_exec("node1", "exit 5")
    assert lab_exec("node1", "exit 5", check=False).returncode == 5


# -------------------------------------------------------------------------------------- inventories

def test_inventory_files_are_private(lab):
    for p in lab["inventory"].values():
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p


def test_ansible_inventory(lab):
    r = subprocess.run([os.path.join(os.path.dirname(PY), "ansible-inventory"), "-i", lab["inventory"]["ansible"],
                        "--list"], cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    assert r.returncode == 0, r.stderr
    inv = json.loads(r.stdout)
    names = [h["name"] for h in lab["hosts"]]
    assert inv["OSEv3"]["children"] and set(inv["OSEv3"]["children"]) == {"masters", "nodes", "etcd"}
    assert inv["masters"]["hosts"] == ["master1"] and inv["etcd"]["hosts"] == ["master1"]
    assert sorted(inv["nodes"]["hosts"]) == sorted(names)
    hv = inv["_meta"]["hostvars"]
    for h in lab["hosts"]:
        v = hv[h["name"]]
        assert v["ansible_host"] == h["address"] and v["ansible_user"] == "root"
        assert v["ansible_ssh_common_args"] == "-F " + lab["ssh_config"]
        assert v["ansible_ssh_private_key_file"] == lab["ssh_key"]
        assert v["okd_lab"] is True and v["okd_registry_ca_file"] == lab["ca_file"]
        assert v["ansible_control_path_dir"] == str(Path(lab["ssh_key"]).parent / "ansible-cp")
    regs = hv["node1"].get("okd_registries")
    if lab.get("registries"):
        by_name = {e["name"]: e for e in regs}
        rh = by_name["redhat"]
        assert rh["host"] == lab["registries"]["redhat"]["host"] and "|" in rh["username"]
        assert rh["test_image"] == "openshift3/ose-pod:v3.11"
        acct = [a for a in lab["registries"]["redhat"]["accounts"] if a["username"] == rh["username"]][0]
        assert not acct["revoked"] and rh["password"] == acct["password"]
        assert by_name["quay"]["test_image"] == lab["registries"]["quay"]["images"][0]


def test_ansible_reaches_every_host(lab):
    r = subprocess.run([os.path.join(os.path.dirname(PY), "ansible"), "-i", lab["inventory"]["ansible"], "OSEv3",
                        "-m", "command", "-a", "hostname", "-o"], cwd=str(REPO), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    # Ansible's persistent connections are the lab's own (see docs/lab.md)
    assert any(p.is_socket() for p in (Path(lab["ssh_key"]).parent / "ansible-cp").iterdir())
    for h in lab["hosts"]:
        assert any(line.startswith(h["name"] + " | CHANGED") and line.rstrip().endswith(h["fqdn"])
                   for line in r.stdout.splitlines()), (h["name"], r.stdout)


def test_pyinfra_inventory(lab):
    ns = {}
    exec(compile(Path(lab["inventory"]["pyinfra"]).read_text(), "pyinfra_inventory", "exec"), ns)
    groups = {k: v for k, v in ns.items() if not k.startswith("_") and isinstance(v, list)}
    assert set(groups) == {"masters", "nodes", "etcd"}
    assert [a for a, _ in groups["masters"]] == [host(lab, "master1")["address"]]
    assert sorted(a for a, _ in groups["nodes"]) == sorted(h["address"] for h in lab["hosts"])
    _, data = groups["nodes"][0]
    assert data["ssh_user"] == "root" and data["ssh_key"] == lab["ssh_key"]
    assert data["ssh_strict_host_key_checking"] == "yes" and os.path.isfile(data["ssh_known_hosts_file"])
    assert data["okd_lab"] is True


def test_pyinfra_reaches_every_host(lab):
    r = subprocess.run([os.path.join(os.path.dirname(PY), "pyinfra"), "-y", lab["inventory"]["pyinfra"],
                        "exec", "--", "hostname"], cwd=str(REPO), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    assert r.returncode == 0, r.stdout
    for h in lab["hosts"]:
        assert h["fqdn"] in r.stdout, r.stdout


# ------------------------------------------------------------------------------- account revoke CLI

def _cli(*args):
    return subprocess.run([PY, "-m", "lab"] + list(args), cwd=str(REPO), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=300)


def _account(st, registry, username):
    return [a for a in st["registries"][registry]["accounts"] if a["username"] == username][0]


def test_account_revoke_and_restore_refresh_the_status(lab):
    if not lab.get("registries"):
        pytest.skip("no registries in this lab")
    # an account nobody can pull with (so revoking it briefly disturbs no concurrent test), else labuser
    accts = lab["registries"]["redhat"]["accounts"]
    idle = [a["username"] for a in accts if not a["revoked"] and not a["pull"] and not a["push"]]
    user = (idle or ["labuser"])[0]
    assert not _account(lab, "redhat", user)["revoked"]
    inv_before = Path(lab["inventory"]["ansible"]).read_text()
    try:
        r = _cli("account", "revoke", "redhat", user)
        assert r.returncode == 0, r.stderr
        st = json.loads(_cli("status", "--json").stdout)
        assert _account(st, "redhat", user)["revoked"] is True
        assert yaml.safe_load(Path(lab["inventory"]["ansible"]).read_text()) == yaml.safe_load(inv_before)
    finally:
        r = _cli("account", "restore", "redhat", user)
    assert r.returncode == 0, r.stderr
    st = json.loads(_cli("status", "--json").stdout)
    assert _account(st, "redhat", user)["revoked"] is False
    r = _cli("account", "revoke", "redhat", "nobody-such")
    assert r.returncode != 0 and "nobody-such" in r.stderr


# ---------------------------------------------------------------- inventory account selection (pure)

def _reg(accounts, images=("laborg/hello:1.0",)):
    return {"host": "r.lab.test:1", "accounts": accounts, "images": list(images)}


def _acct(username, pull, revoked=False, password="pw"):
    return {"username": username, "password": password, "pull": pull, "push": [], "revoked": revoked}


def test_redhat_entry_takes_first_usable_service_account():
    from lab import inventory
    reg = _reg([_acct("labuser", ["openshift3/*"]),                 # no '|': a portal user
                _acct("1|revoked", ["openshift3/*"], revoked=True),
                _acct("1|nothing", []),
                _acct("1|rhel-only", ["rhel7/*"]),
                _acct("1|good", ["rhel7/*", "openshift3/*"], password="secret"),
                _acct("1|later", ["openshift3/*"])])
    e = inventory.redhat_entry(reg)
    assert e == {"name": "redhat", "host": "r.lab.test:1", "username": "1|good", "password": "secret",
                 "test_image": "openshift3/ose-pod:v3.11"}
    assert inventory.redhat_entry(_reg([_acct("1|revoked", ["openshift3/*"], revoked=True)])) is None


def test_quay_entry_takes_the_robot_that_can_pull_the_first_image():
    from lab import inventory
    reg = _reg([_acct("someone", ["laborg/*"]), _acct("other+robot", ["otherorg/*"]),
                _acct("laborg+robot", ["laborg/*"], password="tok")],
               images=["laborg/hello:1.0", "otherorg/x:1"])
    e = inventory.quay_entry(reg)
    assert (e["username"], e["password"], e["test_image"]) == ("laborg+robot", "tok", "laborg/hello:1.0")
    assert inventory.quay_entry(_reg([_acct("laborg+robot", ["laborg/*"], revoked=True)])) is None


def test_inventory_vars_without_fragments():
    from lab import inventory
    v = inventory.okd_vars({"state_dir": "/x", "ca_file": "/x/pki/ca.crt", "hosts": []})
    assert v == {"okd_lab": True, "okd_lab_status_file": "/x/status.json", "okd_registry_ca_file": "/x/pki/ca.crt"}
