"""Helpers shared by the lab tests (tests/lab is on pytest's pythonpath)."""
import base64
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_playbook(playbook, *args, ansible_playbook=None, timeout=900):
    """Run an ansible-playbook from the repo root with the repo's ansible.cfg; (returncode, output)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1")
    exe = ansible_playbook or str(Path(sys.executable).parent / "ansible-playbook")
    r = subprocess.run([exe, playbook] + list(args), cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout)
    return r.returncode, r.stdout


def recap(output):
    """{'ok': n, 'changed': n, 'failed': n, ...} summed over the PLAY RECAP lines."""
    total = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap:
            for k, v in re.findall(r"(\w+)=(\d+)", line):
                total[k] = total.get(k, 0) + int(v)
    assert total, "no PLAY RECAP in output:\n" + output[-3000:]
    return total


def lab_secrets(lab, api_tokens=False):
    """Every lab account's password, `user:password` and its base64 form (what a config.json holds),
    plus the API tokens with api_tokens=True: the strings a leak check searches for."""
    out = set()
    for reg in lab["registries"].values():
        for a in reg["accounts"]:
            user, password = a["username"], a["password"]
            out.add(password)
            out.add("%s:%s" % (user, password))
            out.add(base64.b64encode(("%s:%s" % (user, password)).encode()).decode())
    if api_tokens:
        out.update(v for v in lab.get("api", {}).get("tokens", {}).values() if isinstance(v, str))
    return {s for s in out if len(s) >= 8}
