"""The molecule scenario of roles/registry_credentials runs against the lab (docs/credentials.md, "Molecule").

`molecule test` is run from roles/registry_credentials with the repository's .venv on PATH and
ANSIBLE_CONFIG pointing at the repository's ansible.cfg, after the credentials file of one node has been
removed. The scenario (molecule/default) uses the `default` driver with `managed: false` and the lab
inventory (inventory/lab/hosts.yml), and runs syntax -> converge -> idempotence -> verify: no instance is
created or destroyed, no dependency step, no prerun.

Asserted: rc 0; the converge changed the node whose file was removed (so the run really did something);
molecule ran the idempotence step and it passed; verify ran and passed; the node's file is back (mode
0600, owner root, an entry per lab registry, checked inside the host with `python -m lab exec`); no lab
password or token (nor its `user:password` / base64 forms) appears in molecule's output or in the files
of its ephemeral directory. Then verify is shown to fail on a real defect: with another node's file made
0644, `molecule verify` exits non-zero naming that host (the mode is restored afterwards).
"""
import json
import os
import re
import subprocess
from pathlib import Path
from labtools import lab_secrets

REPO = Path(__file__).resolve().parents[2]
ROLE_DIR = REPO / "roles" / "registry_credentials"
CONFIG = "/var/lib/origin/.docker/config.json"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def secrets_of(lab):
    return lab_secrets(lab, api_tokens=True)


def molecule(tmp_path, *args):
    """Run `molecule ARGS` from the role directory; CompletedProcess, stdout+stderr, ANSI codes removed."""
    venv_bin = str(REPO / ".venv" / "bin")
    env = dict(os.environ,
               PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               # this run's own state directory: nothing shared with an operator's molecule runs
               MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / "molecule-ephemeral"),
               NO_COLOR="1", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0",
               PYTHONUNBUFFERED="1")
    r = subprocess.run([os.path.join(venv_bin, "molecule")] + list(args), cwd=str(ROLE_DIR), env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=1800)
    r.stdout = ANSI.sub("", r.stdout)
    return r


def step_output(out, step):
    """The part of molecule's output between `[default > STEP] Executing` and the next step's start."""
    m = re.search(r"\[default > %s\] Executing(.*?)(?=\[default > \w+\] Executing|\Z)" % step, out, re.S)
    assert m, "molecule did not run the %s step:\n%s" % (step, out[-4000:])
    return m.group(1)


def recap_changed(text, host):
    """changed=N of HOST in the PLAY RECAP of TEXT (None when the host is not in it)."""
    m = re.search(r"^%s\s+:\s+ok=\d+\s+changed=(\d+)" % re.escape(host), text, re.M)
    return int(m.group(1)) if m else None


def file_state(lab_exec, host):
    """(mode, owner, sorted registry names with an auth entry) of HOST's config.json, read inside the host;
    only names are printed, never the file's content."""
    py = ("import json,os,pwd,sys; p=sys.argv[1]; st=os.stat(p); "
          "a=json.load(open(p)).get('auths', {}); "
          "print(json.dumps([oct(st.st_mode & 0o777)[2:], pwd.getpwuid(st.st_uid).pw_name, "
          "sorted(k for k, v in a.items() if v.get('auth'))]))")
    r = lab_exec(host, "python3 -c \"%s\" %s" % (py, CONFIG))
    return tuple(json.loads(r.stdout.strip().splitlines()[-1]))


def test_molecule_scenario_converges_idempotent_and_verifies(lab, lab_exec, tmp_path):
    assert "registries" in lab, "the lab has no registries component"
    nodes = [h["name"] for h in lab["hosts"] if h["groups"] == ["nodes"]]
    assert nodes, "the lab has no nodes"
    node = nodes[0]
    expected = sorted(r["host"] for r in lab["registries"].values())
    secrets = secrets_of(lab)
    assert len(secrets) >= 6

    lab_exec(node, "rm -f %s" % CONFIG)
    assert lab_exec(node, "test -e %s" % CONFIG, check=False).returncode != 0

    r = molecule(tmp_path, "test")
    out = r.stdout
    assert r.returncode == 0, "molecule test failed (rc %d):\n%s" % (r.returncode, out[-6000:])

    # the sequence ran without create/destroy/dependency, against the lab's hosts
    assert "scenario test matrix: syntax, converge, idempotence, verify" in out, out[:2000]
    for step in ("create", "destroy", "dependency", "prepare"):
        assert "[default > %s] Executing" % step not in out, step
    converge = step_output(out, "converge")
    assert recap_changed(converge, node) >= 1, "converge did not restore %s's file:\n%s" % (node, converge[-3000:])
    for h in lab["hosts"]:
        assert recap_changed(converge, h["name"]) is not None, "%s not in the converge recap" % h["name"]
    # idempotence ran (a second converge, every host changed=0) and molecule reported it passed
    idem = step_output(out, "idempotence")
    assert "PLAY RECAP" in idem
    assert recap_changed(idem, node) == 0, idem[-3000:]
    assert "[default > idempotence] Executed: Successful" in out
    assert "Idempotence test failed" not in out
    verify = step_output(out, "verify")
    assert "Verify registry_credentials on the lab hosts" in verify
    assert re.search(r"^%s\s+:\s+ok=\d+\s+changed=0\s+unreachable=0\s+failed=0" % re.escape(node), verify, re.M)
    assert "[default > verify] Executed: Successful" in out

    # the node's file is back, as the role writes it
    assert file_state(lab_exec, node) == ("600", "root", expected)

    # the secrets searched for below are the ones distributed (so the search can fail) ...
    assert any(s in lab_exec(node, "cat %s" % CONFIG).stdout for s in secrets), "no lab secret in the file"
    # ... and none is in molecule's output nor in its ephemeral directory (symlinks, e.g. to the lab inventory,
    # are not followed)
    leaked = [s[:4] + "..." for s in secrets if s in out]
    assert not leaked, "molecule output shows secrets starting with %s" % leaked
    hits = []
    for root, _dirs, files in os.walk(str(tmp_path)):
        for name in files:
            p = os.path.join(root, name)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            data = Path(p).read_bytes()
            if any(s.encode() in data for s in secrets):
                hits.append(p)
    assert not hits, "secrets in %s" % hits


def test_molecule_verify_fails_on_a_wrong_mode(lab, lab_exec, tmp_path):
    """verify.yml asserts real outcomes: a file with mode 0644 on one node makes `molecule verify` fail."""
    nodes = [h["name"] for h in lab["hosts"] if h["groups"] == ["nodes"]]
    assert len(nodes) >= 2, "the test needs two nodes, the lab has %s" % nodes
    other = nodes[1]
    r = molecule(tmp_path, "converge")
    assert r.returncode == 0, r.stdout[-6000:]
    lab_exec(other, "chmod 0644 %s" % CONFIG)
    try:
        r = molecule(tmp_path, "verify")
    finally:
        lab_exec(other, "chmod 0600 %s" % CONFIG)
    assert r.returncode != 0, "verify passed with a 0644 file on %s:\n%s" % (other, r.stdout[-4000:])
    assert re.search(r"%s:%s exists=True\s+mode=0644" % (re.escape(other), re.escape(CONFIG)), r.stdout), \
        r.stdout[-4000:]
    assert re.search(r"^%s\s+:.*failed=1" % re.escape(other), r.stdout, re.M), r.stdout[-4000:]
    assert not [s for s in secrets_of(lab) if s in r.stdout]
