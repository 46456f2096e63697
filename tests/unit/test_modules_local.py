# -*- coding: utf-8 -*-
# The collection's modules and filters run for real through ansible-playbook -c local against temp
# paths (and, for registry_verify, a local HTTPS registry + token service, see local_registry.py).
import base64
import errno as errno_mod
import json
import os
import stat
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local_registry import DIGEST, LocalRegistry  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

USER = "12345678|okd-puller"
PASSWORD = "S3cr3t-'quote\"-$(touch /tmp/pwned)-:colon-" + "t" * 40
OTHER_AUTH = base64.b64encode(b"quayuser:quaypass-unrelated").decode("ascii")
REG = "registry.lab.test:5443"

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK), reason="run `make deps` first")


def auth_of(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode("utf-8")).decode("ascii")


def run_play(tmp_path, tasks, args=(), callback="ansible.posix.json", check=False, timeout=600):
    """Run one play on localhost; return (completed_process, {task_name: result})."""
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    path = tmp_path / ("play%d.yml" % len(list(tmp_path.glob("play*.yml"))))
    path.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK=callback,
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               no_proxy="localhost,127.0.0.1", NO_PROXY="localhost,127.0.0.1")
    cmd = [PLAYBOOK, str(path), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % PYTHON] + list(args)
    proc = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=timeout)
    results = {}
    if callback == "ansible.posix.json":
        text = proc.stdout
        start = 0 if text.startswith("{") else text.find("\n{\n") + 1  # -vvv prints a preamble
        assert start >= 0 and text[start:].startswith("{"), proc.stdout + proc.stderr
        data = json.loads(text[start:])
        for task in data["plays"][0]["tasks"]:
            results[task["task"]["name"]] = task["hosts"]["localhost"]
    return proc, results


def cred_task(name, path, check=False, **params):
    params.setdefault("path", str(path))
    task = {"name": name, "okd.registry_toolkit.registry_credentials": params, "ignore_errors": True}
    if check:
        task["check_mode"] = True
    return task


def existing_config(path, mode=0o644, dir_mode=0o755):
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(str(path.parent), dir_mode)
    config = {
        "auths": {
            "quay.lab.test:8443": {"auth": OTHER_AUTH, "email": "ops@lab.test"},
            "https://%s/v1/" % REG: {"auth": auth_of("olduser", "oldpass"), "x-extra": "kept"},
        },
        "credsStore": "secretservice",
        "HttpHeaders": {"User-Agent": "okd-toolkit-test"},
    }
    path.write_text(json.dumps(config, indent="\t"))
    os.chmod(str(path), mode)
    return config


def sha1(path):
    import hashlib
    return hashlib.sha1(path.read_bytes()).hexdigest()


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


ENTRY = {"registry": REG, "username": USER, "password": PASSWORD}


# ---------------------------------------------------------------- registry_credentials

def test_credentials_check_apply_idempotent_check(tmp_path):
    path = tmp_path / "origin" / ".docker" / "config.json"
    existing_config(path)
    original = sha1(path)
    tasks = [
        cred_task("check", path, check=True, registries=[ENTRY]),
        {"name": "stat after check", "ansible.builtin.stat": {"path": str(path), "checksum_algorithm": "sha1"}},
        cred_task("apply", path, registries=[ENTRY]),
        cred_task("again", path, registries=[ENTRY]),
        cred_task("check again", path, check=True, registries=[ENTRY]),
    ]
    proc, r = run_play(tmp_path, tasks)
    for name in ("check", "apply", "again", "check again"):
        assert not r[name].get("failed"), (name, r[name])
    assert r["check"]["changed"] is True
    assert r["check"]["registries_changed"] == [REG] and r["check"]["content_changed"]
    assert r["check"]["dir_mode_changed"] is True
    assert "(check mode)" in r["check"]["msg"]
    assert r["stat after check"]["stat"]["checksum"] == original  # check mode wrote nothing
    assert r["apply"]["changed"] is True and r["apply"]["registries_changed"] == [REG]
    assert r["again"]["changed"] is False and r["again"]["registries_changed"] == []
    assert r["again"]["msg"].endswith("already up to date")
    assert r["check again"]["changed"] is False

    config = json.loads(path.read_text())
    # updated in place under the existing (differently spelled) key, unknown field kept
    assert config["auths"]["https://%s/v1/" % REG] == {"auth": auth_of(USER, PASSWORD), "x-extra": "kept"}
    assert REG not in config["auths"]
    assert config["auths"]["quay.lab.test:8443"] == {"auth": OTHER_AUTH, "email": "ops@lab.test"}
    assert config["credsStore"] == "secretservice"
    assert config["HttpHeaders"] == {"User-Agent": "okd-toolkit-test"}
    assert mode_of(path) == 0o600 and mode_of(path.parent) == 0o700
    assert os.stat(str(path)).st_uid == os.geteuid()
    # no temp files left behind
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.json"]
    assert PASSWORD not in proc.stdout


def test_credentials_call_makes_the_compliance_checks(tmp_path):
    """site.yml: the write's call also makes registry_compliance's checks (option compliance), of the files as the
    write left them; in check mode of the files as they are; a stale expected credential is a failed check, not a
    failed write; okd_registries items are taken as the compliance action takes them; no secret, no fingerprint of
    one, in the output (the MAC key and the expected password are no_log)."""
    path = tmp_path / "origin" / ".docker" / "config.json"
    existing_config(path)  # 0644, a stale credential for REG
    key = "run-key-" + "k" * 30

    def checks(**over):
        c = {"paths": [str(path)], "expected": [{"name": "redhat", "host": REG, "username": USER,
                                                  "password": PASSWORD}],
             "ca_file": "", "node_config": {"path": str(path), "key": key}}
        c.update(over)
        return c

    tasks = [
        cred_task("check", path, check=True, registries=[ENTRY], compliance=checks()),
        cred_task("apply", path, registries=[ENTRY], compliance=checks()),
        cred_task("stale expectation", path, registries=[ENTRY],
                  compliance=checks(expected=[{"registry": REG, "username": USER, "password": "not-the-one"}])),
        cred_task("bad entry", path, registries=[ENTRY], compliance=checks(expected=[{"name": "x"}])),
        cred_task("no checks", path, registries=[ENTRY]),
    ]
    proc, r = run_play(tmp_path, tasks)

    def by_check(result):
        return {(c["check"], c.get("registry")): c["status"] for c in result["compliance"]["results"]}

    # check mode: nothing written, the checks see the file as it is (0644, the old credential)
    assert r["check"]["changed"] is True and not r["check"].get("failed")
    seen = by_check(r["check"])
    assert seen[("file_mode", None)] == "fail" and seen[("entry_current", REG)] == "fail"
    assert r["check"]["compliance"]["compliant"] is False
    # applied: the checks see the file the write left (0600, the current credential), the node file's entries as MACs
    assert r["apply"]["changed"] is True and not r["apply"].get("failed")
    seen = by_check(r["apply"])
    for check in (("file_present", None), ("file_mode", None), ("dir_mode", None), ("file_valid", None),
                  ("entry_present", REG), ("entry_current", REG)):
        assert seen[check] == "pass", (check, r["apply"]["compliance"])
    macs = {e["registry"]: e for e in r["apply"]["compliance"]["node_config"]["entries"]}
    assert macs[REG]["username"] == USER and len(macs[REG]["mac"]) == 64
    # a stale expectation is a failed check; the write itself is fine and changed nothing
    assert not r["stale expectation"].get("failed") and r["stale expectation"]["changed"] is False
    assert by_check(r["stale expectation"])[("entry_current", REG)] == "fail"
    # a malformed entry fails the task on the controller, naming the host, nothing written
    assert r["bad entry"]["failed"] is True and "registry_credentials: localhost: compliance:" in r["bad entry"]["msg"]
    assert "compliance" not in r["no checks"]
    for secret in (PASSWORD, key):
        assert secret not in proc.stdout + proc.stderr


def test_compliance_never_follows_a_link_nor_opens_a_fifo(tmp_path):
    """A planted link or FIFO at the checked path (or at the node file) fails file_present naming it; nothing is
    followed or opened (a FIFO would block the read: the run would hang), in both modules that make the checks."""
    good = tmp_path / "elsewhere" / "config.json"
    good.parent.mkdir()
    good.write_text(json.dumps({"auths": {REG: {"auth": auth_of(USER, PASSWORD)}}}))
    os.chmod(str(good), 0o600)
    link = tmp_path / "l" / "config.json"
    link.parent.mkdir(mode=0o700)
    os.symlink(str(good), str(link))
    fifo = tmp_path / "f" / "config.json"
    fifo.parent.mkdir(mode=0o700)
    os.mkfifo(str(fifo), 0o600)
    key = "k" * 32

    def check(path):
        return {"paths": [str(path)], "expected": [{"registry": REG, "username": USER, "password": PASSWORD}],
                "node_config": {"path": str(path), "key": key, "host": "h"}}

    tasks = [{"name": "link", "okd.registry_toolkit.registry_compliance": check(link)},
             {"name": "fifo", "okd.registry_toolkit.registry_compliance": check(fifo)},
             cred_task("fifo in the credentials call", tmp_path / "other" / "config.json",
                       registries=[ENTRY], compliance=check(fifo))]
    proc, r = run_play(tmp_path, tasks, timeout=120)
    for name, what in (("link", "is a symbolic link (to %s)" % good), ("fifo", "is a FIFO (named pipe)")):
        res = r[name]
        assert not res.get("failed") and res["compliant"] is False, res
        present = [c for c in res["results"] if c["check"] == "file_present"][0]
        assert present["status"] == "fail" and what in present["message"], present
        assert [c["status"] for c in res["results"] if c["check"] == "entry_present"] == ["skip"]
        assert res["node_config"] == {"missing": True}
    inner = r["fifo in the credentials call"]["compliance"]
    assert inner["compliant"] is False and "is a FIFO" in inner["results"][0]["message"]
    assert PASSWORD not in proc.stdout


def test_credentials_new_file_and_directory_with_backup_and_short_form(tmp_path):
    path = tmp_path / "root" / ".docker" / "config.json"
    tasks = [
        cred_task("create", path, registry="https://%s/" % REG, username=USER, password=PASSWORD, backup=True),
        cred_task("add second", path, registry="docker.io", username="hub", password="hubpw", backup=True),
    ]
    proc, r = run_play(tmp_path, tasks)
    assert r["create"]["changed"] and r["create"]["dir_created"] and "backup_file" not in r["create"]
    assert mode_of(path) == 0o600 and mode_of(path.parent) == 0o700
    backup = r["add second"]["backup_file"]
    assert os.path.dirname(backup) == str(path.parent) and mode_of(backup) == 0o600
    with open(backup) as handle:
        assert json.load(handle) == {"auths": {REG: {"auth": auth_of(USER, PASSWORD)}}}
    config = json.loads(path.read_text())
    assert list(config["auths"]) == [REG, "https://index.docker.io/v1/"]
    # the exact bytes are the core's renderer (shared with pyinfra)
    sys.path.insert(0, ROOT)
    from plugins.module_utils import dockercfg
    assert path.read_text() == dockercfg.render_config(dockercfg.parse_config(path.read_text()))


def test_credentials_mode_only_fix_is_a_change(tmp_path):
    path = tmp_path / "x" / ".docker" / "config.json"
    path.parent.mkdir(parents=True)
    os.chmod(str(path.parent), 0o700)
    sys.path.insert(0, ROOT)
    from plugins.module_utils import dockercfg
    config, _ = dockercfg.set_auths({}, [ENTRY])
    path.write_text(dockercfg.render_config(config))
    os.chmod(str(path), 0o644)
    before = path.read_bytes()
    proc, r = run_play(tmp_path, [cred_task("check", path, check=True, registries=[ENTRY]),
                                  cred_task("fix", path, registries=[ENTRY]),
                                  cred_task("again", path, registries=[ENTRY])], args=["--diff"])
    assert r["check"]["changed"] and r["check"]["mode_changed"] and not r["check"]["content_changed"]
    assert r["fix"]["changed"] and r["fix"]["mode_changed"] and "set mode 0600" in r["fix"]["msg"]
    assert r["again"]["changed"] is False
    assert mode_of(path) == 0o600 and path.read_bytes() == before


def test_credentials_absent_removes_only_its_entry(tmp_path):
    path = tmp_path / "o" / ".docker" / "config.json"
    existing_config(path, mode=0o600, dir_mode=0o700)
    tasks = [
        cred_task("check remove", path, check=True, state="absent", registry=REG),
        cred_task("remove", path, state="absent", registries=[{"registry": REG}]),
        cred_task("remove again", path, state="absent", registry=REG),
        cred_task("remove from missing file", tmp_path / "missing" / "config.json", state="absent", registry=REG),
    ]
    proc, r = run_play(tmp_path, tasks)
    assert r["check remove"]["changed"] and r["check remove"]["registries_removed"] == [REG]
    assert r["remove"]["changed"] and r["remove"]["registries_removed"] == [REG]
    assert r["remove again"]["changed"] is False and r["remove again"]["registries_removed"] == []
    assert r["remove from missing file"]["changed"] is False
    assert not (tmp_path / "missing").exists()
    config = json.loads(path.read_text())
    assert config["auths"] == {"quay.lab.test:8443": {"auth": OTHER_AUTH, "email": "ops@lab.test"}}
    assert config["credsStore"] == "secretservice"


def test_credentials_invalid_existing_fails_untouched_or_is_replaced(tmp_path):
    path = tmp_path / "bad" / ".docker" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text('{\n  "auths": {\n    "r.test": {"auth": "abc"\n}\n')
    os.chmod(str(path), 0o644)
    original = path.read_bytes()
    proc, r = run_play(tmp_path, [
        cred_task("fail", path, registries=[ENTRY]),
        cred_task("fail in check mode", path, check=True, registries=[ENTRY]),
        cred_task("bad auth", tmp_path / "badauth.json", registries=[ENTRY]),
    ])
    for name in ("fail", "fail in check mode"):
        assert r[name]["failed"] is True
        msg = r[name]["msg"]
        assert str(path) in msg and "invalid JSON" in msg and "line" in msg and "invalid_existing=replace" in msg
    assert path.read_bytes() == original and mode_of(path) == 0o644
    assert "backup" not in " ".join(p.name for p in path.parent.iterdir())

    (tmp_path / "badauth.json").write_text('{"auths": {"r.test": {"auth": "bm9jb2xvbg=="}}}')
    proc, r = run_play(tmp_path, [cred_task("bad auth", tmp_path / "badauth.json", registries=[ENTRY])])
    assert r["bad auth"]["failed"] and 'auths["r.test"]' in r["bad auth"]["msg"]
    assert "USERNAME:PASSWORD" in r["bad auth"]["msg"]

    proc, r = run_play(tmp_path, [cred_task("replace", path, registries=[ENTRY], invalid_existing="replace",
                                            backup=True)])
    assert r["replace"]["changed"] and "replaced" in r["replace"]["msg"]
    assert "invalid JSON" in r["replace"]["replaced_invalid"]
    with open(r["replace"]["backup_file"], "rb") as handle:
        assert handle.read() == original
    assert mode_of(r["replace"]["backup_file"]) == 0o600
    assert json.loads(path.read_text()) == {"auths": {REG: {"auth": auth_of(USER, PASSWORD)}}}


def test_credentials_bad_input_fails_clearly(tmp_path):
    path = tmp_path / "in" / "config.json"
    proc, r = run_play(tmp_path, [
        cred_task("colon user", path, registry=REG, username="a:b", password=PASSWORD),
        cred_task("newline password", path, registry=REG, username=USER, password=PASSWORD + "\n"),
        cred_task("no password", path, registry=REG, username=USER),
    ])
    assert "must not contain ':'" in r["colon user"]["msg"] and str(path) in r["colon user"]["msg"]
    assert "control character" in r["newline password"]["msg"]
    assert "must not be empty" in r["no password"]["msg"]
    assert not path.exists()
    assert PASSWORD not in proc.stdout


def test_credentials_secrets_never_in_verbose_or_diff_output(tmp_path):
    path = tmp_path / "v" / ".docker" / "config.json"
    existing_config(path)
    tasks = [
        cred_task("check", path, check=True, registries=[ENTRY]),
        cred_task("apply", path, registries=[ENTRY]),
        cred_task("rotate", path, registries=[dict(ENTRY, password=PASSWORD + "-rotated")]),
        cred_task("short", path, registry="other.lab.test", username="u2", password=PASSWORD + "-short"),
        cred_task("invalid", tmp_path / "badjson", registries=[ENTRY]),
    ]
    (tmp_path / "badjson").write_text("{")
    proc, _ = run_play(tmp_path, tasks, args=["-vvv", "--diff"], callback="default")
    out = proc.stdout + proc.stderr
    assert "TASK [rotate]" in out and "<redacted:sha256:" in out  # the diff ran, redacted
    assert "user=%s" % USER in out
    for secret in (PASSWORD, auth_of(USER, PASSWORD), auth_of(USER, PASSWORD + "-rotated"), "-rotated",
                   auth_of("olduser", "oldpass"), "oldpass", OTHER_AUTH, "quaypass", "-short"):
        assert secret not in out, secret


# ---------------------------------------------------------------- filters

def test_filters_on_text_and_slurp(tmp_path):
    path = tmp_path / "f" / "config.json"
    existing_config(path)
    tasks = [
        {"name": "slurp", "ansible.builtin.slurp": {"src": str(path)}, "register": "s", "no_log": True},
        {"name": "facts", "ansible.builtin.set_fact": {
            "from_b64": "{{ s.content | okd.registry_toolkit.docker_config_auths }}",
            "from_text": "{{ s.content | b64decode | okd.registry_toolkit.docker_config_auths }}",
            "from_slurp": "{{ s | okd.registry_toolkit.docker_config_auths }}",
            "redacted": "{{ s.content | b64decode | okd.registry_toolkit.docker_config_redact }}"}},
        {"name": "bad", "ansible.builtin.debug": {"msg": "{{ '{\"auths\": 1}' | okd.registry_toolkit.docker_config_auths }}"},
         "ignore_errors": True},
    ]
    proc, r = run_play(tmp_path, tasks)
    facts = r["facts"]["ansible_facts"]
    expected = [{"registry": "quay.lab.test:8443", "username": "quayuser", "password": "quaypass-unrelated",
                 "email": "ops@lab.test"},
                {"registry": REG, "username": "olduser", "password": "oldpass"}]
    assert facts["from_b64"] == expected and facts["from_text"] == expected and facts["from_slurp"] == expected
    assert facts["redacted"]["auths"]["quay.lab.test:8443"]["auth"].endswith(" user=quayuser>")
    assert "quaypass" not in json.dumps(facts["redacted"])
    assert r["bad"]["failed"] and '"auths" must be a JSON object' in r["bad"]["msg"]


# ---------------------------------------------------------------- registry_verify

def verify_task(name, check=False, **params):
    task = {"name": name, "okd.registry_toolkit.registry_verify": params, "ignore_errors": True}
    if check:
        task["check_mode"] = True
    return task


def test_verify_against_local_token_registry(tmp_path):
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}) as reg:
        cfg = tmp_path / "node" / ".docker" / "config.json"
        cfg.parent.mkdir(parents=True)
        cfg.write_text(json.dumps({"auths": {reg.host: {"auth": auth_of(USER, PASSWORD)}}}))
        # docker's certs.d layout: <dir>/<registry>/ca.crt
        certs_d = tmp_path / "certs.d"
        (certs_d / reg.host).mkdir(parents=True)
        (certs_d / reg.host / "ca.crt").write_bytes(open(reg.paths["ca"], "rb").read())
        common = dict(registry=reg.host, ca_file=reg.paths["ca"], retries=0)
        tasks = [
            verify_task("login+pull", username=USER, password=PASSWORD, image="openshift3/ose-pod:v3.11", **common),
            verify_task("check mode runs", check=True, username=USER, password=PASSWORD, **common),
            verify_task("from file", config_path=str(cfg), image="openshift3/ose-pod:v3.11", **common),
            verify_task("bad password", username=USER, password="wrong-" + PASSWORD, **common),
            verify_task("missing image", username=USER, password=PASSWORD, image="openshift3/ose-pod:v9", **common),
            verify_task("no ca", registry=reg.host, username=USER, password=PASSWORD, retries=0),
            verify_task("file without entry", registry="other.test", config_path=str(cfg)),
            verify_task("certs.d", registry=reg.host, username=USER, password=PASSWORD, retries=0,
                        certs_dir=str(certs_d)),
            verify_task("empty certs.d", registry=reg.host, username=USER, password=PASSWORD, retries=0,
                        certs_dir=str(tmp_path / "empty.d")),
        ]
        proc, r = run_play(tmp_path, tasks, args=["-vvv"], callback="ansible.posix.json")
        ok = r["login+pull"]
        assert not ok.get("failed") and ok["changed"] is False, ok
        assert ok["auth_scheme"] == "bearer" and ok["logged_in"] and ok["digest"] == DIGEST
        assert ok["realm"] == reg.realm and ok["credentials_source"] == "parameters"
        assert r["check mode runs"]["logged_in"] is True and r["check mode runs"]["changed"] is False
        assert r["from file"]["digest"] == DIGEST and r["from file"]["credentials_source"] == str(cfg)
        assert r["bad password"]["failed"]
        assert r["bad password"]["msg"] == \
            "%s: login failed: 401 UNAUTHORIZED: Invalid username or password" % reg.host
        assert r["bad password"]["attempts"] == 1
        assert r["missing image"]["msg"].startswith(
            "%s: image openshift3/ose-pod:v9 not found: 404 MANIFEST_UNKNOWN" % reg.host)
        assert "TLS certificate verification failed" in r["no ca"]["msg"] and "ca_file" in r["no ca"]["msg"]
        assert r["file without entry"]["msg"] == "%s has no credentials for other.test" % cfg
        assert not r["certs.d"].get("failed"), r["certs.d"]
        assert r["certs.d"]["ca_file"] == str(certs_d / reg.host / "ca.crt") and r["certs.d"]["logged_in"]
        assert "TLS certificate verification failed" in r["empty certs.d"]["msg"]
        assert ok["ca_file"] == reg.paths["ca"]
        assert PASSWORD not in proc.stdout + proc.stderr
        assert auth_of(USER, PASSWORD) not in proc.stdout + proc.stderr
        # the password travelled only in Authorization headers, never in a URL
        assert all(PASSWORD not in path for _, path, _ in reg.requests)


def test_verify_retries_server_errors_but_not_bad_credentials(tmp_path):
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}, fail_first=2) as reg:
        common = dict(registry=reg.host, ca_file=reg.paths["ca"], retry_delay=0)
        proc, r = run_play(tmp_path, [verify_task("retried", username=USER, password=PASSWORD, retries=2,
                                                  **common)])
        assert not r["retried"].get("failed"), r["retried"]
        assert r["retried"]["attempts"] == 3 and r["retried"]["logged_in"]
        reg.fail_first = 5
        proc, r = run_play(tmp_path, [verify_task("gives up", username=USER, password=PASSWORD, retries=1,
                                                  **common)])
        assert r["gives up"]["failed"] and "503" in r["gives up"]["msg"] and "after 2 attempts" in r["gives up"]["msg"]
        reg.fail_first = 0
        before = len(reg.requests)
        proc, r = run_play(tmp_path, [verify_task("no retry on 401", username=USER, password="nope", retries=3,
                                                  **common)])
        assert r["no retry on 401"]["failed"] and r["no retry on 401"]["attempts"] == 1
        assert len(reg.requests) - before == 2  # ping + token, once


def test_verify_basic_auth_registry(tmp_path):
    with LocalRegistry(str(tmp_path), users={"basicuser": PASSWORD}, scheme="basic") as reg:
        proc, r = run_play(tmp_path, [
            verify_task("basic", registry=reg.host, username="basicuser", password=PASSWORD,
                        image="openshift3/ose-pod:v3.11", ca_file=reg.paths["ca"]),
            verify_task("anonymous", registry=reg.host, ca_file=reg.paths["ca"])])
        assert r["basic"]["auth_scheme"] == "basic" and r["basic"]["digest"] == DIGEST
        assert "requires a login (Basic auth)" in r["anonymous"]["msg"]


# ---------------------------------------------------------------- old Python targets (RHEL/CentOS 7)

ANSIBLE_216 = os.environ.get("OKDTK_ANSIBLE216_PLAYBOOK", os.path.join(ROOT, ".venv-216", "bin", "ansible-playbook"))
OLD_PYTHONS = {"2.7": "/root/.pyenv/versions/2.7.18/bin/python", "3.6": "/root/.pyenv/versions/3.6.15/bin/python"}


@pytest.mark.parametrize("version", sorted(OLD_PYTHONS))
def test_modules_on_old_python_targets_with_ansible_216(version, tmp_path):
    """The modules run by ansible-core 2.16 (the last that manages 2.7/3.6 targets) on python2.7 / 3.6."""
    python = OLD_PYTHONS[version]
    if not os.path.exists(ANSIBLE_216) or not os.path.exists(python):
        pytest.skip("needs .venv-216 (ansible-core 2.16) and pyenv's python%s" % version)
    path = str(tmp_path / "n" / ".docker" / "config.json")
    out = str(tmp_path / "results.json")
    victim = _victim(tmp_path)
    victim_before = _tree(victim)
    linked = str(tmp_path / "linked")
    os.symlink(str(victim), linked)
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}) as reg:
        entry = {"registry": reg.host, "username": USER, "password": PASSWORD, "email": u"j\u00fc@lab.test"}
        tasks = [
            {"name": "apply", "okd.registry_toolkit.registry_credentials": {"path": path, "registries": [entry]},
             "register": "r_apply"},
            {"name": "again", "okd.registry_toolkit.registry_credentials": {"path": path, "registries": [entry]},
             "register": "r_again"},
            # site.yml's one call: compliance's checks, access proved with the file's own credentials, node MACs
            {"name": "checks", "okd.registry_toolkit.registry_credentials": {
                "path": path, "registries": [entry], "compliance": {
                    "paths": [path], "expected": [dict(entry, test_image="openshift3/ose-pod:v3.11")],
                    "verify_access": True, "ca_file": reg.paths["ca"],
                    "node_config": {"path": path, "key": "k" * 32}}},
             "register": "r_checks"},
            {"name": "verify", "okd.registry_toolkit.registry_verify": {
                "registry": reg.host, "config_path": path, "image": "openshift3/ose-pod:v3.11",
                "ca_file": reg.paths["ca"]}, "register": "r_verify"},
            {"name": "verify bad", "okd.registry_toolkit.registry_verify": {
                "registry": reg.host, "username": USER, "password": "bad", "ca_file": reg.paths["ca"], "retries": 0},
             "register": "r_bad", "ignore_errors": True},
            {"name": "absent", "okd.registry_toolkit.registry_credentials": {
                "path": path, "registry": reg.host, "state": "absent"}, "register": "r_absent"},
            {"name": "link", "okd.registry_toolkit.registry_credentials": {
                "path": linked + "/config.json", "registries": [entry]}, "register": "r_link",
             "ignore_errors": True},
            {"name": "save", "delegate_to": "localhost", "ansible.builtin.copy": {
                "dest": out, "content": "{{ {'apply': r_apply, 'again': r_again, 'checks': r_checks, 'verify': r_verify, "
                                        "'bad': r_bad, 'absent': r_absent, 'link': r_link} | to_json }}"}},
        ]
        play = tmp_path / "play.json"
        play.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), no_proxy="localhost,127.0.0.1")
        proc = subprocess.run([ANSIBLE_216, str(play), "-i", "localhost,", "-c", "local", "-vvv",
                               "-e", "ansible_python_interpreter=%s" % python],
                              cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert PASSWORD not in proc.stdout + proc.stderr
    with open(out) as handle:
        r = json.load(handle)
    assert r["apply"]["changed"] and not r["again"]["changed"]
    checks = {(c["check"], c.get("registry")): c["status"] for c in r["checks"]["compliance"]["results"]}
    assert checks[("entry_current", reg.host)] == "pass" and checks[("access", reg.host)] == "pass", checks
    assert checks[("file_mode", None)] == "pass" and not r["checks"]["changed"]
    assert [e["username"] for e in r["checks"]["compliance"]["node_config"]["entries"]] == [USER]
    assert r["verify"]["digest"] == DIGEST and r["verify"]["logged_in"]
    assert r["bad"]["failed"] and r["bad"]["msg"].endswith("login failed: 401 UNAUTHORIZED: Invalid username or password")
    assert r["absent"]["registries_removed"] == [reg.host]
    assert mode_of(path) == 0o600 and json.loads(open(path).read()) == {"auths": {}}
    # a planted directory link is refused on these Pythons too (no dir_fd on 2.7: lstat checks)
    assert r["link"]["failed"] and "%s is a symbolic link" % linked in r["link"]["msg"]
    assert _tree(victim) == victim_before


# ---------------------------------------------------------------- registry_credentials: planted links,
# non-regular files, failure paths (issue 8 section 2)

def _tree(directory):
    """{name: (mode, content)} of a directory, to prove a victim unchanged."""
    out = {}
    for name in sorted(os.listdir(str(directory))):
        p = os.path.join(str(directory), name)
        st = os.lstat(p)
        out[name] = (st.st_mode, open(p, "rb").read() if stat.S_ISREG(st.st_mode) else None)
    return os.lstat(str(directory)).st_mode, out


def _victim(tmp_path):
    victim = tmp_path / "etc"
    victim.mkdir()
    os.chmod(str(victim), 0o755)
    (victim / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (victim / "config.json").write_text('{"auths": {"victim.test": {"auth": "%s"}}}' % OTHER_AUTH)
    os.chmod(str(victim / "config.json"), 0o644)
    return victim


def test_credentials_planted_links_are_refused_and_never_followed(tmp_path):
    victim = _victim(tmp_path)
    before = _tree(victim)
    # the directory is a link to the victim (the module used to chmod it 0700 and write into it)
    linked_dir = tmp_path / "origin" / ".docker"
    linked_dir.parent.mkdir()
    os.symlink(str(victim), str(linked_dir))
    # the file is a link to the victim's file (the module used to merge into it and rename over it)
    real_dir = tmp_path / "node" / ".docker"
    real_dir.mkdir(parents=True)
    os.chmod(str(real_dir), 0o700)
    os.symlink(str(victim / "config.json"), str(real_dir / "config.json"))
    proc, r = run_play(tmp_path, [
        cred_task("dir link", linked_dir / "config.json", registries=[ENTRY]),
        cred_task("dir link, check mode", linked_dir / "config.json", check=True, registries=[ENTRY]),
        cred_task("file link", real_dir / "config.json", registries=[ENTRY]),
        cred_task("file link, replace", real_dir / "config.json", registries=[ENTRY],
                  invalid_existing="replace", backup=True),
        cred_task("file link, absent", real_dir / "config.json", state="absent", registry="victim.test"),
    ])
    for name in ("dir link", "dir link, check mode"):
        assert r[name]["failed"] and not r[name]["changed"], r[name]
        assert "%s is a symbolic link (to %s)" % (linked_dir, victim) in r[name]["msg"]
    for name in ("file link", "file link, replace", "file link, absent"):
        assert r[name]["failed"] and not r[name]["changed"], r[name]
        assert "%s is a symbolic link" % (real_dir / "config.json") in r[name]["msg"]
    assert _tree(victim) == before
    assert os.path.islink(str(linked_dir)) and os.path.islink(str(real_dir / "config.json"))
    assert os.listdir(str(real_dir)) == ["config.json"]  # no temp file, no backup
    assert PASSWORD not in proc.stdout


def test_credentials_non_regular_file_is_an_error_and_never_read(tmp_path):
    base = tmp_path / "fifo" / ".docker"
    base.mkdir(parents=True)
    os.mkfifo(str(base / "config.json"), 0o600)
    dirpath = tmp_path / "dir" / ".docker"
    (dirpath / "config.json").mkdir(parents=True)
    # a FIFO used to hang the module (open() for reading waits for a writer): the timeout of the
    # subprocess is the hang guard, not a timing assertion
    proc, r = run_play(tmp_path, [
        cred_task("fifo", base / "config.json", registries=[ENTRY]),
        cred_task("fifo, replace", base / "config.json", registries=[ENTRY], invalid_existing="replace"),
        cred_task("fifo, absent", base / "config.json", state="absent", registry=REG),
        cred_task("directory", dirpath / "config.json", registries=[ENTRY]),
    ], timeout=120)
    for name in ("fifo", "fifo, replace", "fifo, absent"):
        assert r[name]["failed"] and not r[name]["changed"], r[name]
        assert "%s is a FIFO (named pipe), not a regular file" % (base / "config.json") in r[name]["msg"]
    assert "is a directory, not a regular file" in r["directory"]["msg"]
    assert stat.S_ISFIFO(os.lstat(str(base / "config.json")).st_mode)
    assert os.listdir(str(base)) == ["config.json"]


def test_credentials_created_directories_are_0700_and_owned(tmp_path):
    path = tmp_path / "new" / "lib" / "origin" / ".docker" / "config.json"
    old_umask = os.umask(0o022)
    try:
        proc, r = run_play(tmp_path, [cred_task("create", path, registries=[ENTRY])])
    finally:
        os.umask(old_umask)
    assert r["create"]["changed"] and r["create"]["dir_created"], r["create"]
    for d in (tmp_path / "new", tmp_path / "new" / "lib", tmp_path / "new" / "lib" / "origin", path.parent):
        assert mode_of(d) == 0o700, d
        assert os.stat(str(d)).st_uid == os.geteuid()
    assert mode_of(path) == 0o600


def _module():
    sys.path.insert(0, os.path.join(ROOT, ".collections"))
    import importlib
    return importlib.import_module("ansible_collections.okd.registry_toolkit.plugins.modules.registry_credentials")


@pytest.mark.parametrize("fault", ["ENOSPC on write", "EIO on fsync", "EPERM on fchown",
                                   "EIO on rename", "EEXIST on backup"])
@pytest.mark.parametrize("backup", [False, True])
def test_writer_failure_paths_leave_no_debris(tmp_path, monkeypatch, fault, backup):
    """Every failure of the write leaves the directory as it was: the old file, byte for byte, and
    neither the temp file nor the backup."""
    m = _module()
    d = tmp_path / ".docker"
    d.mkdir()
    os.chmod(str(d), 0o700)
    old = b'{"auths": {}}\n'
    (d / "config.json").write_bytes(old)
    os.chmod(str(d / "config.json"), 0o600)
    name = {"ENOSPC on write": "write", "EIO on fsync": "fsync", "EPERM on fchown": "fchown",
            "EIO on rename": "rename", "EEXIST on backup": "open"}[fault]
    code = getattr(errno_mod, fault.split()[0])
    real = getattr(os, name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        if name == "open" and not str(args[0]).endswith("~"):
            return real(*args, **kwargs)
        if name == "fsync" and len(calls) > 1:  # the directory's fsync is best effort
            return real(*args, **kwargs)
        raise OSError(code, os.strerror(code))

    dirobj = m._Dir(str(d))
    monkeypatch.setattr(os, name, failing)
    try:
        with pytest.raises(m.ToolkitError) as info:
            m._atomic_write(None, dirobj, "config.json", b'{"auths": {"new": {}}}\n', 0, 0,
                            old if backup or name == "open" else None)
    finally:
        monkeypatch.undo()
        dirobj.close()
    assert calls, "the fault was not injected"
    assert "nothing was changed" in info.value.msg and str(d / "config.json") in info.value.msg
    assert os.listdir(str(d)) == ["config.json"]
    assert (d / "config.json").read_bytes() == old


def test_writer_temp_file_exclusive_unpredictable_0600(tmp_path, monkeypatch):
    m = _module()
    d = tmp_path / ".docker"
    d.mkdir()
    seen = []
    real_open = os.open

    def recording(path, flags, mode=0o777, **kwargs):
        seen.append((path, flags, mode))
        return real_open(path, flags, mode, **kwargs)

    names = set()
    for _ in range(2):
        dirobj = m._Dir(str(d))
        monkeypatch.setattr(os, "open", recording)
        try:
            m._atomic_write(None, dirobj, "config.json", b"{}\n", None, None)
        finally:
            monkeypatch.undo()
            dirobj.close()
        created = [s for s in seen if s[1] & os.O_CREAT]
        assert len(created) == 1
        path, flags, mode = created[0]
        assert flags & os.O_EXCL and flags & os.O_NOFOLLOW and mode == 0o600
        names.add(os.path.basename(path))
        seen[:] = []
    assert len(names) == 2 and all(len(n) > len(".config.json..tmp") + 12 for n in names)
    assert os.listdir(str(d)) == ["config.json"] and mode_of(d / "config.json") == 0o600


def test_writer_refuses_a_directory_swapped_for_a_link_on_python2_path(tmp_path, monkeypatch):
    """Without dir_fd (Python 2.7) the directory is lstat-ed before and after: a directory replaced
    by a link while the module runs is detected and nothing is written through the link."""
    m = _module()
    victim = _victim(tmp_path)
    before = _tree(victim)
    d = tmp_path / ".docker"
    d.mkdir()
    monkeypatch.setattr(m, "_HAVE_DIR_FD", False)
    dirobj = m._Dir(str(d))
    try:
        os.rename(str(d), str(tmp_path / "moved"))
        os.symlink(str(victim), str(d))
        with pytest.raises(m.ToolkitError) as info:
            m._atomic_write(None, dirobj, "config.json", b"{}\n", None, None)
    finally:
        dirobj.close()
    assert "was replaced" in info.value.msg
    assert _tree(victim) == before and os.listdir(str(tmp_path / "moved")) == []
