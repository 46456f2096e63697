"""No registry password or token leaks from the credentials front ends.

Runs the registry_credentials playbook with -vvv (apply on fresh hosts, so every code path that
handles secrets runs), with --check --diff, with source=master (slurp of the master's file), the
rotation playbook with -vvv, and the pyinfra deploy with -vvv on a fresh host. All output is searched
for every lab password (and its base64 `user:password` form, and the plain `user:password`). Then every
file written during the test under the hosts' trees (.lab/hosts/*/) and under /tmp is searched too; the
only files allowed to hold them are the distributed config.json files themselves.

Files are only searched when modified during this test (other test modules may legitimately keep 0600
credential files of their own in a host's /root); the sandbox's machinery directories and other
concurrently running pytest sessions' tmp dirs are skipped. Run alone (as in CI) it sees every file.
"""
import base64
import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest
from labtools import lab_secrets

REPO = Path(__file__).resolve().parents[2]
HOSTS = ["master1", "node1", "node2", "node3"]
SKIP_TMP_PREFIXES = ("bash_jobs", "bash_tool_")


def secrets_of(lab):
    return lab_secrets(lab)


def run(cmd, env_extra=None, timeout=900):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PYTHONUNBUFFERED="1", **(env_extra or {}))
    return subprocess.run(cmd, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout)


def playbook(*args):
    return run([str(REPO / ".venv" / "bin" / "ansible-playbook")] + list(args))


def address(lab, name):
    return next(h["address"] for h in lab["hosts"] if h["name"] == name)


def files_modified_since(root, since, skip=()):
    root = Path(root)
    if not root.exists():
        return
    for dirpath, dirnames, filenames in os.walk(str(root)):
        if dirpath == str(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(skip)]
        for name in filenames:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if not os.path.isfile(p) or os.path.islink(p) or st.st_mtime < since:
                continue
            if st.st_size > 50 * 1024 * 1024:
                continue
            yield p


def find_secrets(path, secrets):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    return [s for s in secrets if s.encode() in data]


@pytest.fixture(scope="module")
def hosts(lab, lab_exec):
    yield HOSTS
    playbook("playbooks/registry_credentials.yml", "--limit", ",".join(HOSTS))


def test_no_secret_in_output_or_files(lab, lab_exec, hosts, tmp_path_factory):
    secrets = secrets_of(lab)
    assert len(secrets) >= 6
    since = time.time() - 1
    limit = ",".join(hosts)
    outputs = {}

    def fresh(names):
        for h in names:
            lab_exec(h, "rm -rf /var/lib/origin/.docker")

    fresh(hosts)
    outputs["check-diff -vvv"] = playbook("playbooks/registry_credentials.yml", "--check", "--diff", "-vvv",
                                          "--limit", limit)
    outputs["apply -vvv --diff"] = playbook("playbooks/registry_credentials.yml", "-vvv", "--diff",
                                            "--limit", limit)
    outputs["master source -vvv --diff"] = playbook("playbooks/registry_credentials.yml", "-vvv", "--diff",
                                                    "-e", "registry_credentials_source=master",
                                                    "--limit", limit)
    outputs["rotation -vvv"] = playbook("playbooks/rotate_registry_credentials.yml", "-vvv", "--diff",
                                        "--limit", limit)
    fresh(["node3"])
    outputs["pyinfra -vvv --diff"] = run([
        str(REPO / ".venv" / "bin" / "pyinfra"), lab["inventory"]["pyinfra"],
        "pyinfra_deploys/registry_credentials.py", "-y", "-vvv", "--diff",
        "--limit", address(lab, "node3")])
    outputs["pyinfra -vvv idempotent"] = run([
        str(REPO / ".venv" / "bin" / "pyinfra"), lab["inventory"]["pyinfra"],
        "pyinfra_deploys/registry_credentials.py", "-y", "-vvv", "--limit", address(lab, "node3")])

    for name, r in outputs.items():
        assert r.returncode == 0, (name, r.stdout[-4000:])
        # the runs really handled the secrets (so the search below can fail)
        assert "registry.redhat.lab.test:5443" in r.stdout, name
        leaked = [s[:6] + "..." for s in secrets if s in r.stdout]
        assert not leaked, "%s printed secrets starting with %s" % (name, leaked)
    # no unsalted fingerprint either (8 hex of sha256(registry NUL auth), as earlier versions showed in
    # diffs and at -v: it allows offline guessing of a weak password); the diffs do show the keyed one
    unsalted = set()
    for reg in lab["registries"].values():
        for a in reg["accounts"]:
            auth = base64.b64encode(("%s:%s" % (a["username"], a["password"])).encode()).decode()
            for data in (reg["host"] + "\0" + auth, "%s:%s" % (a["username"], a["password"]), auth):
                unsalted.add("sha256:" + hashlib.sha256(data.encode()).hexdigest()[:8])
    for name, r in outputs.items():
        found = [fp for fp in unsalted if fp in r.stdout]
        assert not found, "%s printed unsalted fingerprints %s" % (name, found)
    assert "<redacted:sha256:" in outputs["apply -vvv --diff"].stdout
    # -vvv really was verbose (module invocations shown) and the first apply changed every host
    assert "ESTABLISH SSH CONNECTION" in outputs["apply -vvv --diff"].stdout
    assert "changed=1" in outputs["apply -vvv --diff"].stdout

    # the distributed files do hold the secrets (the search works) ...
    cfg = lab_exec("node1", "cat /var/lib/origin/.docker/config.json").stdout
    assert any(s in cfg for s in secrets)
    # ... and nothing else written during this test does
    # other pytest sessions running concurrently keep their own tmp dirs; this session's is searched
    mine = str(tmp_path_factory.getbasetemp())
    sessions = os.path.dirname(mine)
    hits = []
    for root, skip in ((Path(lab["state_dir"]) / "hosts", ()), ("/tmp", SKIP_TMP_PREFIXES)):
        for path in files_modified_since(root, since, skip):
            if path.endswith("/.docker/config.json"):
                continue
            if path.startswith(sessions + "/") and not path.startswith(mine + "/"):
                continue
            found = find_secrets(path, secrets)
            if found:
                hits.append(path)
    assert not hits, "secrets found in %s" % hits
