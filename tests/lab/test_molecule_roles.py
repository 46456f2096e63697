"""Molecule scenarios of the roles (issue 12), in the sequence of community.docker's integration targets.

Every scenario roles/<role>/molecule/default is discovered (a new role's scenario is picked up without an
edit here), except those in OWN_TEST, run by a test of their own (registry_credentials: test_molecule.py;
okd_master_trust, whose cleanup restarts the master API: test_master_trust.py). Each discovered scenario
follows one contract (docs/installing.md, "Molecule"): driver `default` with `managed: false` on the lab
inventory; test_sequence syntax, check, converge, idempotence, check, verify (then optionally cleanup);
and a side_effect.yml that resets what the role makes (removes it from the lab API or host, or, for the
read-only registry_compliance, the report it publishes). Per scenario, proven with the scenario's own files:

- `molecule side-effect` (the reset), then `molecule check` reports a change (changed > 0 in the recap);
- `molecule verify` then FAILS (a failed task on a host): the check changed nothing, and verify
  detects the missing state (so verify is not a test that cannot fail);
- `molecule test` passes: its matrix is the contract's sequence; its first check reports a change, converge
  changes, molecule's idempotence step passes (it fails itself on any change of the second converge), the
  second check reports no change, verify passes and ran tasks;
- no lab password, `user:password`, base64 auth or API token appears in any of molecule's output.

registry_compliance also detects a broken host: with a node's credentials file made 0644, converge publishes
a changed report, and verify fails naming that host and the file_mode check; with the mode restored,
converge publishes a changed report again and verify passes.
A failed run converges the scenario again at the end, so the lab is left as site.yml makes it.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from labtools import lab_secrets

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SEQUENCE = ["syntax", "check", "converge", "idempotence", "check", "verify"]
# scenarios run by a test of their own (which imports molecule() from here); every other scenario is run below
OWN_TEST = {"registry_credentials": "tests/lab/test_molecule.py",
            "okd_master_trust": "tests/lab/test_master_trust.py"}
CONFIG = "/var/lib/origin/.docker/config.json"


def scenario_roles():
    return sorted(p.parents[2].name for p in REPO.glob("roles/*/molecule/default/molecule.yml"))


ROLES = [r for r in scenario_roles() if r not in OWN_TEST]


def molecule(role, tmp_path, *args):
    venv_bin = str(REPO / ".venv" / "bin")
    env = dict(os.environ, PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / ("molecule-" + role)),
               NO_COLOR="1", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0", PYTHONUNBUFFERED="1")
    r = subprocess.run([os.path.join(venv_bin, "molecule")] + list(args), cwd=str(REPO / "roles" / role), env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=900)
    r.stdout = ANSI.sub("", r.stdout)
    return r


def recap(out):
    """{host: (changed, failed)} from the PLAY RECAP lines of OUT, summed over plays."""
    hosts = {}
    for host, ch, failed in re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)",
                                       out, re.M):
        c, f = hosts.get(host, (0, 0))
        hosts[host] = (c + int(ch), f + int(failed))
    return hosts


def changed(out):
    return sum(c for c, _f in recap(out).values())


def failed(out):
    return sum(f for _c, f in recap(out).values())


def steps(out):
    """[(step, its output)] of a `molecule test` run, in order."""
    parts = re.split(r"^INFO\s+\[default > (\w+)\] Executing\s*$", out, flags=re.M)
    return list(zip(parts[1::2], parts[2::2]))


def leak_free(lab, outputs):
    secrets = set(lab_secrets(lab, api_tokens=True))
    pusher = Path(lab["state_dir"]) / "standalone-registry-password"
    if pusher.is_file():
        secrets.add(pusher.read_text().strip())
    for out in outputs:
        for s in secrets:
            assert s not in out, "a lab secret (%s...) appears in molecule's output" % s[:4]


def test_every_role_has_a_scenario_of_the_contract():
    """No lab needed: each role has molecule/default; each discovered scenario has the contract's sequence,
    driver and side_effect.yml (so the parametrised test below can run it)."""
    roles = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "tasks").is_dir())
    assert roles, "no roles found"
    missing = [r for r in roles if r not in scenario_roles()]
    assert not missing, "roles without a molecule/default scenario: %s" % missing
    for role, test in OWN_TEST.items():
        text = (REPO / test).read_text() if (REPO / test).is_file() else ""
        assert "molecule" in text and role in text, "%s's scenario is not run by %s" % (role, test)
    for role in ROLES:
        d = REPO / "roles" / role / "molecule" / "default"
        cfg = yaml.safe_load((d / "molecule.yml").read_text())
        assert cfg["scenario"]["test_sequence"] in (SEQUENCE, SEQUENCE + ["cleanup"]), role
        assert cfg["driver"] == {"name": "default", "options": {"managed": False}}, role
        for f in ("converge.yml", "verify.yml", "side_effect.yml"):
            assert (d / f).is_file(), "%s: %s missing" % (role, f)


@pytest.mark.parametrize("role", ROLES)
def test_molecule_reset_check_verify_fails_then_test(lab, role, tmp_path):
    outputs = []
    done = False
    try:
        r = molecule(role, tmp_path, "side-effect")
        outputs.append(r.stdout)
        assert r.returncode == 0, "side-effect failed:\n" + r.stdout[-4000:]
        assert "[default > side_effect] Executed: Successful" in r.stdout, r.stdout[-3000:]

        r = molecule(role, tmp_path, "check")
        outputs.append(r.stdout)
        assert r.returncode == 0, r.stdout[-4000:]
        assert changed(r.stdout) > 0, "check mode reported no change after the reset:\n" + r.stdout[-3000:]

        r = molecule(role, tmp_path, "verify")
        outputs.append(r.stdout)
        assert r.returncode != 0, "verify passed after the reset and a check run:\n" + r.stdout[-4000:]
        assert failed(r.stdout) >= 1, "verify did not fail on a host (no failed task):\n" + r.stdout[-4000:]

        r = molecule(role, tmp_path, "test")
        outputs.append(r.stdout)
        assert r.returncode == 0, "molecule test failed:\n" + r.stdout[-6000:]
        assert "scenario test matrix: %s" % ", ".join(SEQUENCE) in r.stdout, r.stdout[:2000]
        ran = steps(r.stdout)
        assert [s for s, _o in ran][:len(SEQUENCE)] == SEQUENCE, [s for s, _o in ran]
        (_, check1), (_, converge), (_, idem), (_, check2), (_, verify) = ran[1:len(SEQUENCE)]
        assert changed(check1) > 0, "the first check reported no change:\n" + check1[-3000:]
        assert changed(converge) > 0, "converge changed nothing:\n" + converge[-3000:]
        assert "[default > idempotence] Executed: Successful" in r.stdout
        assert "PLAY RECAP" in idem and changed(idem) == 0, idem[-3000:]
        assert "PLAY RECAP" in check2 and changed(check2) == 0, "check after converge reports changes:\n" + check2[-3000:]
        assert re.search(r"^\S+\s+:\s+ok=[1-9]", verify, re.M) and failed(verify) == 0, verify[-3000:]
        assert "[default > verify] Executed: Successful" in r.stdout
        done = True
    finally:
        if not done:  # leave the lab as site.yml makes it
            molecule(role, tmp_path, "converge")
    leak_free(lab, outputs)


@pytest.mark.skipif("registry_compliance" not in ROLES, reason="no registry_compliance scenario")
def test_compliance_scenario_detects_a_broken_host(lab, lab_exec, tmp_path):
    role = "registry_compliance"
    node = [h["name"] for h in lab["hosts"] if h["groups"] == ["nodes"]][1]
    r = molecule(role, tmp_path, "converge")
    assert r.returncode == 0 and changed(r.stdout) > 0, r.stdout[-4000:]
    outputs = [r.stdout]
    lab_exec(node, "chmod 0644 %s" % CONFIG)
    try:
        r = molecule(role, tmp_path, "converge")
        outputs.append(r.stdout)
        assert r.returncode == 0, r.stdout[-4000:]
        assert changed(r.stdout) > 0, "the broken host did not change the published report:\n" + r.stdout[-3000:]
        r = molecule(role, tmp_path, "verify")
        outputs.append(r.stdout)
        assert r.returncode != 0, "verify passed with %s's file 0644:\n%s" % (node, r.stdout[-4000:])
        assert re.search(r"%s: file_mode failed \([^)]*0644" % node, r.stdout), r.stdout[-4000:]
        other = [h["name"] for h in lab["hosts"] if h["name"] != node]
        assert not [h for h in other if re.search(r"%s: \w+ failed" % h, r.stdout)], r.stdout[-4000:]
    finally:
        lab_exec(node, "chmod 0600 %s" % CONFIG)
    r = molecule(role, tmp_path, "converge")
    outputs.append(r.stdout)
    assert r.returncode == 0 and changed(r.stdout) > 0, "the repaired host did not change the report:\n" + r.stdout[-3000:]
    r = molecule(role, tmp_path, "verify")
    outputs.append(r.stdout)
    assert r.returncode == 0, r.stdout[-4000:]
    leak_free(lab, outputs)
