"""Fault suite (issue 8 section 5): faults injected into real runs of both credentials front ends
against the lab, and what each did to the hosts' files. Nothing may be lost: after every fault each
file is either untouched (byte for byte) or a valid file holding every entry it held before, no file
is ever partial, no temp/backup debris is left, and no lab secret appears in any output.

The figures (faults injected, files left partial, entries lost, secrets seen in any output) are
printed as the last lines of this module's run by its last test (docs/reliability.md has the table).

Hosts used: node1..node3 (master1 is left to the other modules); every test restores the hosts it
changed (mounts, links, firewall rules, /etc files) and the module ends with the hosts converged on
the inventory's credentials again.
"""
import base64
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from labtools import lab_secrets

REPO = Path(__file__).resolve().parents[2]
PATH = "/var/lib/origin/.docker/config.json"
NODES = ["node1", "node2", "node3"]
PLAYBOOK = "playbooks/registry_credentials.yml"
ROTATE = "playbooks/rotate_registry_credentials.yml"
DEPLOY = "pyinfra_deploys/registry_credentials.py"
FOREIGN = "foreign.fault.test:5999"  # an entry of someone else's that must survive every fault

FIGURES = {"faults": 0, "partial": 0, "lost": 0, "outputs": []}
ROWS = []  # (fault, front end, what happened, partial files, entries lost)


# ----------------------------------------------------------------------------------------- helpers

def _env():
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1", NO_COLOR="1")
    return env


def _vars_file(tmpdir, extra_vars):
    path = os.path.join(tmpdir, "vars.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(extra_vars, f)
    return path


def ansible_cmd(playbook, *args, extra_vars=None, tmpdir=None):
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), playbook] + [str(a) for a in args]
    if extra_vars is not None:
        cmd += ["-e", "@" + _vars_file(tmpdir, extra_vars)]
    return cmd


def run(cmd, label, timeout=600):
    """Run a front end; its output is kept for the secrets scan. The timeout only guards against a
    hang (a FIFO opened for reading): it is not a timing assertion."""
    r = subprocess.run(cmd, cwd=str(REPO), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=timeout)
    FIGURES["outputs"].append((label, r.stdout))
    return r


def ansible(label, playbook, *args, extra_vars=None, timeout=600):
    tmpdir = tempfile.mkdtemp(prefix="faults-vars-")
    try:
        os.chmod(tmpdir, 0o700)
        return run(ansible_cmd(playbook, *args, extra_vars=extra_vars, tmpdir=tmpdir), label, timeout)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def address(lab, name):
    return next(h["address"] for h in lab["hosts"] if h["name"] == name)


def pyinfra_cmd(lab, *args, inventory=None, limit=NODES):
    cmd = [str(REPO / ".venv" / "bin" / "pyinfra"), str(inventory or lab["inventory"]["pyinfra"]), DEPLOY, "-y"]
    for name in limit:
        cmd += ["--limit", address(lab, name)]
    return cmd + [str(a) for a in args]


def pyinfra(lab, label, *args, inventory=None, limit=NODES, timeout=600):
    return run(pyinfra_cmd(lab, *args, inventory=inventory, limit=limit), label, timeout)


def account(lab, reg, username):
    return next(a for a in lab["registries"][reg]["accounts"] if a["username"] == username)


def registries(lab, quay_user="laborg+robot", extra=()):
    """okd_registries with the quay account chosen by name (the inventory uses laborg+robot)."""
    rh = next(a for a in lab["registries"]["redhat"]["accounts"]
              if a["username"] == "11009103|lab-cluster")
    q = account(lab, "quay", quay_user)
    return [
        {"name": "redhat", "host": lab["registries"]["redhat"]["host"], "username": rh["username"],
         "password": rh["password"], "test_image": "openshift3/ose-pod:v3.11"},
        {"name": "quay", "host": lab["registries"]["quay"]["host"], "username": q["username"],
         "password": q["password"], "test_image": "laborg/hello:1.0"},
    ] + list(extra)


def swapped_inventory(lab, tmp_path, quay_user=None, extra=None, name="inventory.py"):
    """A pyinfra inventory that loads the lab's and swaps the quay account (by user name, read from
    the lab status at run time: the file written here holds no lab secret) and/or appends registries."""
    inv = tmp_path / name
    inv.write_text(textwrap.dedent("""
        import json, runpy
        _lab = runpy.run_path(%r)
        _status = json.load(open(%r))
        _user = %r
        _extra = json.loads(%r)
        def _swap(hosts):
            out = []
            for address, data in hosts:
                data = dict(data)
                regs = [dict(r) for r in data["okd_registries"]]
                for r in regs:
                    if _user and r["name"] == "quay":
                        a = [a for a in _status["registries"]["quay"]["accounts"] if a["username"] == _user][0]
                        r["username"], r["password"] = a["username"], a["password"]
                data["okd_registries"] = regs + _extra
                out.append((address, data))
            return out
        for _group, _hosts in list(_lab.items()):
            if not _group.startswith("_") and isinstance(_hosts, list):
                globals()[_group] = _swap(_hosts)
    """ % (lab["inventory"]["pyinfra"], os.path.join(lab["state_dir"], "status.json"), quay_user,
           json.dumps(extra or []))))
    return inv


def read_raw(lab_exec, host, path=PATH):
    """(bytes or None, mode or None): the file as it is on the host (read from inside the host)."""
    r = lab_exec(host, "if [ -f %s ] && [ ! -L %s ]; then stat -c %%a %s; base64 %s; fi"
                 % (path, path, path, path))
    lines = r.stdout.split("\n")
    if not lines[0].strip():
        return None, None
    return base64.b64decode("".join(lines[1:])), lines[0].strip()


def entries(data):
    """{registry key: user} of a file's bytes; raises ValueError on a partial or invalid file."""
    doc = json.loads(data.decode("utf-8-sig"))
    out = {}
    for key, value in doc["auths"].items():
        out[key] = base64.b64decode(value["auth"]).decode().split(":", 1)[0] if "auth" in value else None
    return out


def debris(lab_exec, host, directory=os.path.dirname(PATH)):
    """Files next to the credentials file other than itself (temp files, staging dirs, backups)."""
    r = lab_exec(host, "ls -A %s 2>/dev/null" % directory, check=False)
    return sorted(n for n in r.stdout.split() if n != os.path.basename(PATH))


def snapshot(lab_exec, hosts=NODES):
    return {h: read_raw(lab_exec, h) for h in hosts}


def account_of(lab_exec, host, lab):
    data, _ = read_raw(lab_exec, host)
    return entries(data).get(lab["registries"]["quay"]["host"])


def judge(fault, front, what, before, lab_exec, hosts=NODES, allowed_users=None, lab=None):
    """Record a fault: every file must be unchanged or valid with every entry it had before (the
    quay user may be one of allowed_users); no debris. Returns {host: after}."""
    after = snapshot(lab_exec, hosts)
    partial = lost = 0
    for h in hosts:
        old, new = before[h][0], after[h][0]
        if new == old:
            continue
        try:
            got = entries(new) if new is not None else {}
        except (ValueError, KeyError, TypeError):
            partial += 1
            continue
        if old is not None:
            try:
                lost += len(set(entries(old)) - set(got))
            except (ValueError, KeyError, TypeError):
                pass  # the old file was malformed on purpose: nothing to lose from it
        if allowed_users is not None and lab is not None:
            assert got.get(lab["registries"]["quay"]["host"]) in allowed_users, (h, got)
        assert after[h][1] == "600", (h, after[h][1])
    left = {h: debris(lab_exec, h) for h in hosts}
    FIGURES["faults"] += 1
    FIGURES["partial"] += partial
    FIGURES["lost"] += lost
    ROWS.append((fault, front, what, partial, lost))
    assert partial == 0 and lost == 0, (fault, front, partial, lost)
    assert all(v == [] for v in left.values()), left
    return after


def seed_foreign(lab_exec, hosts=NODES):
    """Add an entry of someone else's to each host's file (kept by every successful run)."""
    for h in hosts:
        data, _ = read_raw(lab_exec, h)
        doc = json.loads(data) if data else {"auths": {}}
        doc["auths"][FOREIGN] = {"auth": base64.b64encode(b"someone:not-a-lab-secret").decode()}
        lab_exec(h, "umask 077; mkdir -p /var/lib/origin/.docker; cat > %s.seed && mv -f %s.seed %s"
                 % (PATH, PATH, PATH), input=json.dumps(doc, indent=4) + "\n")


@pytest.fixture(scope="module")
def hosts(lab, lab_exec):
    r = ansible("converge", PLAYBOOK, "--limit", ",".join(NODES))
    assert r.returncode == 0, r.stdout[-4000:]
    seed_foreign(lab_exec)
    yield NODES
    for h in NODES:
        lab_exec(h, "rm -rf /var/lib/origin/.docker /var/lib/origin/faults /var/lib/origin/fault-kill",
                 check=False)
    ansible("restore", PLAYBOOK, "--limit", ",".join(NODES))


# ------------------------------------------------------------------------- 1. SIGKILL of the writer

KILL_DRIVER = r'''
import json, os, random, signal, sys, time
sys.path.insert(0, %(collections)r)
from ansible_collections.okd.registry_toolkit.plugins.modules import registry_credentials as m
d = "/var/lib/origin/fault-kill/.docker"
if not os.path.isdir(d):
    os.makedirs(d, 0o700)
path = os.path.join(d, "config.json")
pad = "p" * 300000
old = json.dumps({"auths": {"old.test": {"auth": "b2xkOm9sZA=="}}, "pad": pad}).encode()
new = json.dumps({"auths": {"old.test": {"auth": "b2xkOm9sZA=="}, "new.test": {"auth": "bmV3Om5ldw=="}},
                  "pad": pad}).encode()
def write(data, backup):
    dirobj = m._Dir(d)
    try:
        m._atomic_write(None, dirobj, "config.json", data, 0, 0, backup)
    finally:
        dirobj.close()
write(old, None)
rnd = random.Random(%(seed)d)
out = {"runs": 0, "old": 0, "new": 0, "partial": 0, "debris": 0, "killed_before_exit": 0}
current = old
for i in range(%(runs)d):
    target = new if current == old else old
    pid = os.fork()
    if pid == 0:
        try:
            write(target, current if i %% 3 == 0 else None)
        finally:
            os._exit(0)
    time.sleep(rnd.uniform(0, 0.004))
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        out["killed_before_exit"] += 1
    with open(path, "rb") as f:
        got = f.read()
    out["runs"] += 1
    if got == old:
        out["old"] += 1
    elif got == new:
        out["new"] += 1
    else:
        out["partial"] += 1
    current = got if got in (old, new) else current
    for name in os.listdir(d):
        if name != "config.json":
            out["debris"] += 1
            os.unlink(os.path.join(d, name))
print(json.dumps(out))
'''


STUBS = {
    # the module's imports of Ansible, stubbed: only its write routine runs (AnsibleModule unused)
    "ansible/__init__.py": "",
    "ansible/module_utils/__init__.py": "",
    "ansible/module_utils/basic.py": "class AnsibleModule(object):\n    pass\n",
    "ansible/module_utils/common/__init__.py": "",
    "ansible/module_utils/common/text/__init__.py": "",
    "ansible/module_utils/common/text/converters.py":
        "def to_bytes(x):\n    return x if isinstance(x, bytes) else x.encode('utf-8')\n"
        "def to_native(x):\n    return str(x)\n",
    "ansible_collections/__init__.py": "",
    "ansible_collections/okd/__init__.py": "",
    "ansible_collections/okd/registry_toolkit/__init__.py": "",
    "ansible_collections/okd/registry_toolkit/plugins/__init__.py": "",
    "ansible_collections/okd/registry_toolkit/plugins/modules/__init__.py": "",
}


def _ship_module(lab_exec, host, where):
    """Copy the module and the core (plus stubs of Ansible's imports) to `where` on the host."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, text in STUBS.items():
            add(name, text.encode())
        base = "ansible_collections/okd/registry_toolkit/plugins/"
        add(base + "modules/registry_credentials.py",
            (REPO / "plugins" / "modules" / "registry_credentials.py").read_bytes())
        for f in sorted((REPO / "plugins" / "module_utils").glob("*.py")):
            add(base + "module_utils/" + f.name, f.read_bytes())
    lab_exec(host, "rm -rf %s; mkdir -p %s; base64 -d | tar xz -C %s" % (where, where, where),
             input=base64.b64encode(buf.getvalue()).decode())


@pytest.mark.parametrize("python", ["/usr/bin/python3", "/root/.pyenv/versions/2.7.18/bin/python"])
def test_sigkill_of_the_writer_never_leaves_a_partial_file(lab, lab_exec, hosts, python):
    """The module's write routine, run on node1 (with that host's Python: 3, and 2.7 as on RHEL 7, where
    there is no dir_fd), killed with SIGKILL at random points of 120 runs: the file is always the old or
    the new one, never partial."""
    if lab_exec("node1", "test -x %s" % python, check=False).returncode != 0:
        pytest.skip("node1 has no %s" % python)
    runs = 120
    _ship_module(lab_exec, "node1", "/root/okd-fault-kill")
    script = KILL_DRIVER % {"collections": "/root/okd-fault-kill", "seed": 8, "runs": runs}
    try:
        r = lab_exec("node1", "%s -" % python, input=script, timeout=600)
    finally:
        lab_exec("node1", "rm -rf /var/lib/origin/fault-kill /root/okd-fault-kill")
    got = json.loads(r.stdout.strip().splitlines()[-1])
    FIGURES["faults"] += got["runs"]
    FIGURES["partial"] += got["partial"]
    ROWS.append(("SIGKILL of the writer at random points (%d runs, %s)" % (got["runs"], os.path.basename(python)),
                 "module write routine",
                 "file old %d times, new %d times; %d kills before the process ended; temp files left by "
                 "SIGKILL (cannot be cleaned by the killed process): %d, removed by the test"
                 % (got["old"], got["new"], got["killed_before_exit"], got["debris"]), got["partial"], 0))
    assert got["runs"] == runs and got["partial"] == 0, got
    # the kills landed both before and after the rename (so the loop tested something)
    assert got["old"] > 0 and got["new"] > 0 and got["killed_before_exit"] > 0, got


# ----------------------------------------------------------------- 2. planted links, FIFO (both fronts)

VICTIM = "/etc/okd-fault-victim"


def victim_state(lab_exec, host):
    return lab_exec(host, "stat -c '%%a %%U' %s; ls -A %s; cat %s/keep" % (VICTIM, VICTIM, VICTIM)).stdout


@pytest.fixture
def node2_dir(lab_exec, hosts):
    """Moves node2's real .docker aside (restored afterwards) and plants a victim directory."""
    lab_exec("node2", "mv /var/lib/origin/.docker /var/lib/origin/.docker.saved; mkdir -p %s; chmod 755 %s; "
             "echo 'victim: nothing may change here' > %s/keep; chmod 644 %s/keep"
             % (VICTIM, VICTIM, VICTIM, VICTIM))
    yield "node2"
    lab_exec("node2", "rm -rf /var/lib/origin/.docker %s; mv /var/lib/origin/.docker.saved /var/lib/origin/.docker"
             % VICTIM)


@pytest.mark.parametrize("plant", ["directory link", "file link", "FIFO"])
def test_planted_links_and_fifo_are_refused_by_both_front_ends(lab, lab_exec, node2_dir, plant):
    if plant == "directory link":
        lab_exec("node2", "ln -s %s /var/lib/origin/.docker" % VICTIM)
        named = "/var/lib/origin/.docker is a symbolic link"
    elif plant == "file link":
        lab_exec("node2", "mkdir -m 700 /var/lib/origin/.docker; ln -s %s/keep %s" % (VICTIM, PATH))
        named = "%s is a symbolic link" % PATH
    else:
        lab_exec("node2", "mkdir -m 700 /var/lib/origin/.docker; mkfifo -m 600 %s" % PATH)
        named = "not a regular file"
    before = victim_state(lab_exec, "node2")
    for front in ("ansible", "pyinfra"):
        if front == "ansible":
            r = ansible("%s/%s" % (plant, front), PLAYBOOK, "--limit", "node2", timeout=300)
        else:
            r = pyinfra(lab, "%s/%s" % (plant, front), limit=["node2"], timeout=300)
        assert r.returncode != 0, r.stdout[-3000:]
        assert named in r.stdout, r.stdout[-3000:]
        assert "node2" in r.stdout or address(lab, "node2") in r.stdout
        assert victim_state(lab_exec, "node2") == before
        planted = "/var/lib/origin/.docker" if plant == "directory link" else PATH
        kind = lab_exec("node2", "stat -c %%F %s" % planted).stdout.strip()
        assert kind == ("fifo" if plant == "FIFO" else "symbolic link"), kind  # still what was planted
        FIGURES["faults"] += 1
        ROWS.append(("planted %s at %s" % (plant, "/var/lib/origin/.docker" if plant == "directory link" else PATH),
                     front, "refused, naming it; the victim (%s, mode, content) unchanged; nothing opened"
                     % VICTIM, 0, 0))


# ---------------------------------------------------------------------------- 3. malformed files

def _deep():
    return b'{"auths": {}, "x": ' + b"[" * 100000 + b"]" * 100000 + b"}"


MALFORMED = {
    # name: (bytes, is it valid (kept and merged) or an error naming the cause)
    "truncated": (b'{\n    "auths": {\n        "keep.test": {"auth": "a2VlcDprZWVw"', "invalid JSON"),
    "not-utf8": (b'{"auths": {"keep.test": {"auth": "a2VlcDprZWVw"}}, "x": "\xff\xfe"}', "not valid UTF-8"),
    "auths-not-object": (b'{"auths": ["keep.test"]}', '"auths" must be a JSON object'),
    "deep-nesting": (_deep(), "nest"),
    "bom": (b'\xef\xbb\xbf{"auths": {"keep.test": {"auth": "a2VlcDprZWVw"}}}', None),
    "10mb": (b'{"auths": {"keep.test": {"auth": "a2VlcDprZWVw"}}, "x-pad": "' + b"p" * (10 << 20) + b'"}', None),
}


def test_malformed_files_fail_clearly_and_stay_untouched(lab, lab_exec, hosts):
    """Every malformed variant on node3 (one run per front end writes them all as extra paths): an
    invalid file fails naming the host, the file and the cause and is left byte for byte; a valid but
    odd file (a BOM, 10 MB) is merged with every entry and field kept."""
    paths = [PATH] + ["/var/lib/origin/faults/%s/config.json" % n for n in MALFORMED]

    def plant():
        for name, (data, _) in MALFORMED.items():
            d = "/var/lib/origin/faults/%s" % name
            lab_exec("node3", "rm -rf %s; mkdir -p -m 700 %s; base64 -d > %s/config.json; chmod 600 %s/config.json"
                     % (d, d, d, d), input=base64.b64encode(data).decode())

    for front in ("ansible", "pyinfra"):
        plant()
        if front == "ansible":
            r = ansible("malformed/ansible", PLAYBOOK, "--limit", "node3",
                        extra_vars={"registry_credentials_paths": paths}, timeout=900)
            assert r.returncode != 0
        for name, (data, cause) in MALFORMED.items():
            path = "/var/lib/origin/faults/%s/config.json" % name
            if front == "pyinfra":  # pyinfra stops a host at its first error: one run per file
                r = pyinfra(lab, "malformed/pyinfra/%s" % name, "--data",
                            "registry_credentials_paths=%s" % json.dumps([path]),
                            "--data", "registry_credentials_verify_controller=false",
                            "--data", "registry_credentials_verify_hosts=false", limit=["node3"], timeout=900)
                assert (r.returncode == 0) == (cause is None), r.stdout[-3000:]
            got, mode = read_raw(lab_exec, "node3", path)
            left = debris(lab_exec, "node3", os.path.dirname(path))
            if cause is None:
                doc = json.loads(got)
                assert set(doc["auths"]) >= {"keep.test", lab["registries"]["quay"]["host"]}, (front, name)
                if name == "10mb":
                    assert doc["x-pad"] == "p" * (10 << 20)
                what = "valid: merged, every entry and field kept"
            else:
                assert got == data, (front, name)  # untouched, byte for byte
                assert any(path in line and cause in line for line in r.stdout.splitlines()), \
                    (front, name, r.stdout[-4000:])
                what = "error naming the host, the file and the cause; file untouched"
            assert mode == "600" and left == [], (front, name, mode, left)
            FIGURES["faults"] += 1
            ROWS.append(("malformed file: %s" % name, front, what, 0, 0))
            assert "RecursionError" not in r.stdout and "MODULE FAILURE" not in r.stdout, r.stdout[-4000:]
    lab_exec("node3", "rm -rf /var/lib/origin/faults")


# ------------------------------------------------------------- 4. /var/lib/origin full or read-only

@pytest.fixture
def small_origin(lab_exec, hosts):
    """node3's /var/lib/origin replaced (inside node3 only) by a 1 MiB tmpfs holding a copy of its
    credentials file; unmounted afterwards (the real directory was never touched)."""
    lab_exec("node3", "cp -a /var/lib/origin/.docker /run/okd-fault-docker; "
             "mount -t tmpfs -o size=1m,mode=755 okd-fault /var/lib/origin; "
             "cp -a /run/okd-fault-docker /var/lib/origin/.docker; rm -rf /run/okd-fault-docker")
    yield "node3"
    lab_exec("node3", "umount /var/lib/origin || umount -l /var/lib/origin", check=False)


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_full_or_read_only_origin_fails_that_host_only(lab, lab_exec, small_origin, tmp_path, fault):
    if fault == "full":
        lab_exec("node3", "dd if=/dev/zero of=/var/lib/origin/filler bs=4k 2>/dev/null; sync; df -k /var/lib/origin",
                 check=False)
        cause = "No space left on device"
    else:
        lab_exec("node3", "mount -o remount,ro /var/lib/origin")
        cause = "Read-only file system"
    inv = swapped_inventory(lab, tmp_path, quay_user="laborg+pusher")
    for front in ("ansible", "pyinfra"):
        # node1/node2 get the pusher account (then back), node3 cannot be written
        before = snapshot(lab_exec)
        if front == "ansible":
            r = ansible("origin %s/ansible" % fault, PLAYBOOK, "--limit", ",".join(NODES),
                        extra_vars={"okd_registries": registries(lab, "laborg+pusher")})
        else:
            r = pyinfra(lab, "origin %s/pyinfra" % fault, inventory=inv)
        assert r.returncode != 0
        assert cause in r.stdout, r.stdout[-4000:]
        after = judge("/var/lib/origin %s on node3" % fault, front,
                      "node3 fails naming the file and '%s', its file untouched, no temp file; node1/2 updated"
                      % cause, before, lab_exec, allowed_users={"laborg+robot", "laborg+pusher"}, lab=lab)
        assert after["node3"] == before["node3"]
        assert account_of(lab_exec, "node1", lab) == "laborg+pusher"
        # back to the inventory's account on node1/node2 for the next round
        r = ansible("origin %s/restore" % fault, PLAYBOOK, "--limit", "node1,node2")
        assert r.returncode == 0, r.stdout[-3000:]



# ------------------------------------------- 5. the registry or its token realm down, slow, 500

class Misbehaving(object):
    """A tiny HTTPS "registry" on 127.0.0.1 with its own self-signed certificate, misbehaving as told:
    registry-500, registry-slow (answers nothing within the timeout), registry-down (a closed port),
    realm-down / realm-slow / realm-500 (its /v2/ challenge names a token realm that is so)."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.cert = os.path.join(tmpdir, "cert.pem")
        key = os.path.join(tmpdir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", self.cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(self.cert, key)
        self.servers = []
        self.hits = []

    def start(self, behaviour):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.hits.append((behaviour, self.path, bool(self.headers.get("Authorization"))))
                if behaviour.endswith("-slow"):
                    time.sleep(8)  # longer than the runs' registry_credentials_timeout (2 s)
                if behaviour == "registry-500" or (behaviour == "realm-500" and self.path.startswith("/token")):
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"internal error")
                    return
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Bearer realm="%s",service="fault"' % outer.realm)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = self.context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        return server.server_address[1]

    def registry(self, behaviour):
        """host:port of a registry behaving so."""
        self.realm = None
        if behaviour == "registry-down":
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            return "127.0.0.1:%d" % port
        if behaviour.startswith("realm-"):
            if behaviour == "realm-down":
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                realm_port = s.getsockname()[1]
                s.close()
            else:
                realm_port = self.start(behaviour)
            self.realm = "https://127.0.0.1:%d/token" % realm_port
            return "127.0.0.1:%d" % self.start("realm-registry")
        return "127.0.0.1:%d" % self.start(behaviour)

    def stop(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()


BEHAVIOURS = ["registry-down", "registry-slow", "registry-500", "realm-down", "realm-slow", "realm-500"]


def test_registry_or_realm_down_slow_or_500_changes_nothing(lab, lab_exec, hosts, tmp_path):
    """A third registry that misbehaves: the controller's check fails naming it and the cause, before any
    host is touched (both front ends; pyinfra for two of the behaviours)."""
    bad = Misbehaving(str(tmp_path))
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(open(lab["ca_file"]).read() + open(bad.cert).read())
    try:
        for behaviour in BEHAVIOURS:
            host = bad.registry(behaviour)
            extra = [{"name": "faulty", "host": host, "username": "fault-user", "password": "fault-pass-0000",
                      "test_image": "fault/image:1"}]
            fronts = ["ansible"] + (["pyinfra"] if behaviour in ("registry-500", "realm-slow") else [])
            for front in fronts:
                before = snapshot(lab_exec)
                settings = {"registry_credentials_ca_file": str(bundle), "registry_credentials_timeout": 2,
                            "registry_credentials_retries": 1}
                if front == "ansible":
                    r = ansible("%s/ansible" % behaviour, PLAYBOOK, "--limit", ",".join(NODES),
                                extra_vars=dict(settings, okd_registries=registries(lab, extra=extra)))
                else:
                    inv = swapped_inventory(lab, tmp_path, extra=extra, name="inv-%s.py" % behaviour)
                    args = []
                    for k, v in settings.items():
                        args += ["--data", "%s=%s" % (k, v)]
                    r = pyinfra(lab, "%s/pyinfra" % behaviour, *args, inventory=inv)
                assert r.returncode != 0
                assert host in r.stdout, r.stdout[-3000:]
                assert "nothing was changed" in r.stdout or "Verify registry credentials from the controller" in r.stdout
                judge("registry fault: %s" % behaviour, front,
                      "the controller's check fails naming %s and the cause; no host touched" % "the registry",
                      before, lab_exec)
                assert snapshot(lab_exec) == before
    finally:
        bad.stop()
    # the realm never received the fault registry's credentials over anything but https, and did get asked
    assert any(h[0].startswith("realm-") and h[1].startswith("/token") for h in bad.hits), bad.hits


# ------------------------------------------------------------------------- 6. a revoked account

def test_revoked_account_changes_nothing_on_any_host(lab, lab_exec, hosts, tmp_path):
    """`python -m lab account revoke quay laborg+pusher`, then both front ends try to distribute it: the
    controller's check is refused and no host changes; the account is restored afterwards."""
    subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "lab", "account", "revoke", "quay",
                    "laborg+pusher"], cwd=str(REPO), check=True, capture_output=True)
    try:
        inv = swapped_inventory(lab, tmp_path, quay_user="laborg+pusher")
        for front in ("ansible", "pyinfra"):
            before = snapshot(lab_exec)
            if front == "ansible":
                r = ansible("revoked/ansible", ROTATE, "--limit", ",".join(NODES),
                            extra_vars={"okd_registries": registries(lab, "laborg+pusher"),
                                        "registry_credentials_rotate_report_path": str(tmp_path / "r.json")})
                report = json.load(open(str(tmp_path / "r.json")))["hosts"]
                assert all(report[h]["status"] == "skipped" for h in NODES), report
            else:
                r = pyinfra(lab, "revoked/pyinfra", inventory=inv)
            assert r.returncode != 0
            assert "quay.lab.test" in r.stdout and ("UNAUTHORIZED" in r.stdout or "denied" in r.stdout.lower()
                                                    or "401" in r.stdout), r.stdout[-3000:]
            judge("revoked account (laborg+pusher)", front, "refused by the controller's check; no host touched",
                  before, lab_exec)
            assert snapshot(lab_exec) == before
    finally:
        subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "lab", "account", "restore", "quay",
                        "laborg+pusher"], cwd=str(REPO), check=True, capture_output=True)


# --------------------------------------------------------------- 7. two rollouts at once

def test_two_rollouts_at_once_never_corrupt_a_file(lab, lab_exec, hosts, tmp_path):
    """The Ansible role (laborg+robot) and the pyinfra deploy (laborg+pusher) at the same time on the
    same hosts: every file ends valid, 0600, with every entry, holding one of the two accounts (the last
    writer wins); what each run saw is recorded."""
    before = snapshot(lab_exec)
    inv = swapped_inventory(lab, tmp_path, quay_user="laborg+pusher")
    tmpdir = tempfile.mkdtemp(prefix="faults-vars-")
    os.chmod(tmpdir, 0o700)
    try:
        a = subprocess.Popen(ansible_cmd(PLAYBOOK, "--limit", ",".join(NODES)), cwd=str(REPO), env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        b = subprocess.Popen(pyinfra_cmd(lab, inventory=inv), cwd=str(REPO), env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        out_a, _ = a.communicate(timeout=600)
        out_b, _ = b.communicate(timeout=600)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    FIGURES["outputs"] += [("concurrent/ansible", out_a), ("concurrent/pyinfra", out_b)]
    users = {h: account_of(lab_exec, h, lab) for h in NODES}
    judge("two rollouts at once (Ansible robot + pyinfra pusher)", "both",
          "ansible rc %d, pyinfra rc %d; final accounts %s (last writer wins; each run's host check passed "
          "with whichever valid file it found)" % (a.returncode, b.returncode,
                                                  ", ".join("%s=%s" % kv for kv in sorted(users.items()))),
          before, lab_exec, allowed_users={"laborg+robot", "laborg+pusher"}, lab=lab)
    for h in NODES:
        assert FOREIGN in entries(read_raw(lab_exec, h)[0])
    # both runs used valid credentials: neither failed because of the other
    assert a.returncode == 0, out_a[-3000:]
    assert b.returncode == 0, out_b[-3000:]
    r = ansible("concurrent/converge", PLAYBOOK, "--limit", ",".join(NODES))
    assert r.returncode == 0 and all(account_of(lab_exec, h, lab) == "laborg+robot" for h in NODES)


# --------------------------------------------------------- 8. sshd of a host stops mid-rollout

def _ssh_block(host, on):
    rule = ["-p", "tcp", "--dport", "22", "-j", "REJECT", "--reject-with", "tcp-reset"]
    subprocess.run(["ip", "netns", "exec", "okdlab-%s" % host, "iptables", "-I" if on else "-D", "INPUT"] + rule,
                   check=on, capture_output=True)


def test_host_whose_sshd_goes_away_mid_rollout_is_named_and_rerun_converges(lab, lab_exec, hosts, tmp_path):
    """A rotation in batches of one: once node1 holds the new file, node3's ssh is cut (its connections
    reset, new ones refused). node3 is named in the report, node1/node2 finish; ssh back, re-run converges."""
    report = tmp_path / "rotation.json"
    quay = lab["registries"]["quay"]["host"]
    rotated = {"okd_registries": registries(lab, "laborg+pusher"), "registry_credentials_rotate_serial": 1,
               "registry_credentials_rotate_max_fail_percentage": 100,
               "registry_credentials_rotate_report_path": str(report)}
    before = snapshot(lab_exec)
    tmpdir = tempfile.mkdtemp(prefix="faults-vars-")
    os.chmod(tmpdir, 0o700)
    try:
        proc = subprocess.Popen(ansible_cmd(ROTATE, "--limit", ",".join(NODES), extra_vars=rotated, tmpdir=tmpdir),
                                cwd=str(REPO), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True)
        try:
            for _ in range(600):  # wait (bounded) until node1 holds the new file, then cut node3
                data, _ = read_raw(lab_exec, "node1")
                if data and entries(data).get(quay) == "laborg+pusher":
                    break
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
            _ssh_block("node3", True)
            out, _ = proc.communicate(timeout=600)
        finally:
            _ssh_block("node3", False)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    FIGURES["outputs"].append(("sshd mid-rollout", out))
    assert proc.returncode != 0, out[-3000:]
    got = json.load(open(str(report)))["hosts"]
    assert got["node3"]["status"] == "failed" and "unreachable" in got["node3"]["reason"], got
    assert got["node1"]["status"] == "updated" and got["node2"]["status"] == "updated", got
    judge("sshd of node3 gone mid-rollout", "ansible (rotation)",
          "node3 named failed (unreachable) in the report, node1/node2 updated", before, lab_exec,
          allowed_users={"laborg+robot", "laborg+pusher"}, lab=lab)
    assert account_of(lab_exec, "node3", lab) == "laborg+robot"
    r = ansible("sshd mid-rollout/re-run", ROTATE, "--limit", ",".join(NODES), extra_vars=rotated)
    assert r.returncode == 0, r.stdout[-3000:]
    got = json.load(open(str(report)))["hosts"]
    assert got["node3"]["status"] == "updated" and got["node1"]["status"] == "unchanged", got
    r = ansible("sshd mid-rollout/back", PLAYBOOK, "--limit", ",".join(NODES))
    assert r.returncode == 0, r.stdout[-3000:]


# ------------------------------------------------------------------------------------- figures

def test_zz_figures(lab, request, capsys):
    """Last test of the suite: no secret in any captured output; prints the figures as the last lines."""
    secrets = lab_secrets(lab)
    seen = sorted({label for label, out in FIGURES["outputs"] for s in secrets if s in out})
    lines = ["", "fault suite figures (docs/reliability.md):"]
    for fault, front, what, partial, lost in ROWS:
        lines.append("  %-55s %-22s partial=%d lost=%d  %s" % (fault[:55], front, partial, lost, what))
    lines += ["faults injected: %d" % FIGURES["faults"],
              "files left partial: %d" % FIGURES["partial"],
              "entries lost: %d" % FIGURES["lost"],
              "secrets seen in any output: %d (%d outputs scanned)" % (len(seen), len(FIGURES["outputs"]))]
    with capsys.disabled():  # straight to the terminal, also with -q and without -s
        for line in lines:
            print(line)
    with open(str(REPO / ".lab" / "fault-figures.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    assert FIGURES["outputs"], "no fault ran"
    assert not seen, seen
    assert FIGURES["partial"] == 0 and FIGURES["lost"] == 0
