"""Scale and clean tear-down: down the session lab, up 50 nodes, ssh to all at once, down, prove that
nothing is left, then restore the session lab. Runs last (marker lab_scale, see tests/conftest.py).

Skipped with OKD_LAB_SKIP_SCALE=1, or while another pytest session uses the lab. OKD_LAB_SCALE_NODES
changes the node count (default 50; 200 was measured by hand, see docs/lab.md)."""
import concurrent.futures
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.lab_scale]

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
NODES = int(os.environ.get("OKD_LAB_SCALE_NODES", "50"))


def cli(*args, check=True):
    r = subprocess.run([PY, "-m", "lab"] + list(args), cwd=str(REPO), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=1200)
    assert not check or r.returncode == 0, "lab %s: rc %d\n%s\n%s" % (args, r.returncode, r.stdout, r.stderr)
    return r


def status():
    r = cli("status", "--json")
    return json.loads(r.stdout)


def recorded_pids(state_dir):
    out = {}
    for f in (Path(state_dir) / "pids").glob("*.pid"):
        out[f.name] = int(f.read_text().strip())
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def assert_nothing_left(state_dir, pids, netns_inodes):
    ns = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, universal_newlines=True).stdout
    assert "okdlab-" not in ns, ns
    links = subprocess.run(["ip", "-o", "link", "show"], stdout=subprocess.PIPE, universal_newlines=True).stdout
    names = [l.split(":", 2)[1].strip().split("@")[0] for l in links.splitlines()]
    assert "okdlab0" not in names
    assert not [n for n in names if n.startswith("olv")], names
    assert pids, "no daemons were recorded while the lab was up"
    assert not [name for name, pid in pids.items() if alive(pid)], pids
    assert not list((Path(state_dir) / "pids").glob("*.pid"))
    assert "# BEGIN okd-lab" not in Path("/etc/hosts").read_text()
    mounts = Path("/proc/mounts").read_text()
    assert state_dir not in mounts and "okdlab" not in mounts, mounts
    assert not (Path(state_dir) / "status.json").exists()
    # no process is left in any of the lab's former network namespaces
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ino = os.stat("/proc/%s/ns/net" % d).st_ino
            except OSError:
                continue
            assert ino not in netns_inodes, "pid %s still runs in a lab netns" % d


def lab_netns_inodes():
    d = "/run/netns"
    return {os.stat(os.path.join(d, n)).st_ino for n in os.listdir(d) if n.startswith("okdlab-")}


def ssh_all(st):
    def one(h):
        return subprocess.run(["ssh", "-F", st["ssh_config"], h["name"], "hostname"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=300)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(st["hosts"])) as ex:
        return dict(zip([h["name"] for h in st["hosts"]], ex.map(one, st["hosts"])))


def test_scale_up_ssh_down_and_restore(lab, lab_other_sessions):
    if os.environ.get("OKD_LAB_SKIP_SCALE") == "1":
        pytest.skip("OKD_LAB_SKIP_SCALE=1")
    if lab_other_sessions():
        pytest.skip("another pytest session is using the lab")
    state_dir = lab["state_dir"]
    nodes_before = len(lab["hosts"]) - 1
    known_hosts = Path(lab["ssh_key"]).parent / "known_hosts"
    key_before = [l for l in known_hosts.read_text().splitlines() if l.startswith("master1,")]
    try:
        pids, inodes = recorded_pids(state_dir), lab_netns_inodes()
        cli("down")
        assert_nothing_left(state_dir, pids, inodes)

        cli("up", "--nodes", str(NODES))
        st = status()
        assert [h["name"] for h in st["hosts"]] == ["master1"] + ["node%d" % i for i in range(1, NODES + 1)]
        results = ssh_all(st)
        bad = {n: r.stderr for n, r in results.items() if r.returncode != 0}
        assert not bad, bad
        for h in st["hosts"]:
            assert results[h["name"]].stdout.strip() == h["fqdn"]
        last = st["hosts"][-1]
        assert cli("exec", last["name"], "--", "hostname").stdout.strip() == last["fqdn"]

        # shrinking removes hosts cleanly while the rest keeps running
        cli("up", "--nodes", "2")
        st2 = status()
        assert len(st2["hosts"]) == 3
        ns = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, universal_newlines=True).stdout
        assert "okdlab-node3" not in ns and "okdlab-node%d" % NODES not in ns
        assert ssh_all(st2)["node2"].returncode == 0

        pids, inodes = recorded_pids(state_dir), lab_netns_inodes()
        cli("down")
        assert_nothing_left(state_dir, pids, inodes)
    finally:
        cli("up", "--nodes", str(nodes_before))
        restored = status()
        lab.clear()
        lab.update(restored)     # the session's status dict, shared with every later user
    assert [l for l in known_hosts.read_text().splitlines() if l.startswith("master1,")] == key_before, \
        "host keys must be kept across down/up"
