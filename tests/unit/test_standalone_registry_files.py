# -*- coding: utf-8 -*-
"""The stand-alone registry's files (issue 10: one planning and one writing module call instead of about
20): the host core plugins/module_utils/host_files.py (real files in a temp directory; also on Python 2.7
and 3.6 when pyenv has them), the controller's decisions in plugins/plugin_utils/standalone_registry.py
(htpasswd hashes kept, the certificate re-issued for each reason and only then, a certificate issued
as the role's community.crypto tasks issued it), and the action end to end through ansible-playbook -c
local (check mode writes nothing, a second run changes nothing, no secret in the output)."""
import datetime
import grp
import json
import os
import pwd
import stat
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from plugins.module_utils.errors import ToolkitError  # noqa: E402
from plugins.module_utils import host_files  # noqa: E402

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
OLD_PYTHONS = {"2.7": "/root/.pyenv/versions/2.7.18/bin/python", "3.6": "/root/.pyenv/versions/3.6.15/bin/python"}


def mode_of(path):
    return "%04o" % stat.S_IMODE(os.lstat(str(path)).st_mode)


def entries(tmp):
    return dict(
        directories=[{"path": str(tmp / "etc"), "owner": USER, "group": GROUP, "mode": "0750"},
                     {"path": str(tmp / "etc" / "tls"), "owner": USER, "group": GROUP, "mode": "0750"}],
        files=[{"path": str(tmp / "etc" / "config.yml"), "content": "version: 0.1\n", "owner": USER,
                "group": GROUP, "mode": "0640", "restart": True},
               {"path": str(tmp / "etc" / "tls" / "ca.crt"), "content": "CA\n", "owner": USER, "group": GROUP,
                "mode": "0644"},
               {"path": str(tmp / "etc" / "tls" / "registry.key"), "content": "KEY-SECRET-BYTES\n", "owner": USER,
                "group": GROUP, "mode": "0640", "secret": True, "restart": True}],
        absent=[{"path": str(tmp / "etc" / "notifications-ca.crt"), "restart": True}],
    )


# ------------------------------------------------------------------------------------- host core

def test_check_mode_plans_and_writes_nothing(tmp_path):
    r = host_files.apply(check_mode=True, **entries(tmp_path))
    assert r["changed"] and r["restart"]
    assert r["changed_paths"] == [str(tmp_path / "etc"), str(tmp_path / "etc" / "tls"),
                                  str(tmp_path / "etc" / "config.yml"), str(tmp_path / "etc" / "tls" / "ca.crt"),
                                  str(tmp_path / "etc" / "tls" / "registry.key")]
    assert not (tmp_path / "etc").exists()


def test_apply_writes_modes_then_nothing_to_do(tmp_path):
    r = host_files.apply(**entries(tmp_path))
    assert r["changed"] and r["restart"]
    etc = tmp_path / "etc"
    assert mode_of(etc) == "0750" and mode_of(etc / "tls") == "0750"
    assert (etc / "config.yml").read_text() == "version: 0.1\n" and mode_of(etc / "config.yml") == "0640"
    assert mode_of(etc / "tls" / "ca.crt") == "0644" and mode_of(etc / "tls" / "registry.key") == "0640"
    assert (etc / "tls" / "registry.key").read_text() == "KEY-SECRET-BYTES\n"
    assert sorted(p.name for p in (etc / "tls").iterdir()) == ["ca.crt", "registry.key"]  # no temp file left
    again = host_files.apply(**entries(tmp_path))
    assert again == {"changed": False, "changed_paths": [], "diff": [], "restart": False}


def test_secret_content_never_in_a_diff(tmp_path):
    host_files.apply(**entries(tmp_path))
    e = entries(tmp_path)
    e["files"][2]["content"] = "OTHER-SECRET-KEY\n"
    e["files"][0]["content"] = "version: 0.2\n"
    r = host_files.apply(check_mode=True, **e)
    text = json.dumps(r["diff"])
    assert "SECRET" not in text and host_files.SECRET_NOTE.strip() in text
    assert "version: 0.1" in text and "version: 0.2" in text  # a public file's diff shows its content
    assert (tmp_path / "etc" / "tls" / "registry.key").read_text() == "KEY-SECRET-BYTES\n"  # check mode


def test_only_ca_change_needs_no_restart(tmp_path):
    host_files.apply(**entries(tmp_path))
    e = entries(tmp_path)
    e["files"][1]["content"] = "NEW CA\n"
    r = host_files.apply(**e)
    assert r["changed_paths"] == [str(tmp_path / "etc" / "tls" / "ca.crt")] and r["restart"] is False


def test_mode_only_change_and_absent(tmp_path):
    host_files.apply(**entries(tmp_path))
    cfg = tmp_path / "etc" / "config.yml"
    os.chmod(str(cfg), 0o666)
    ino = os.lstat(str(cfg)).st_ino
    (tmp_path / "etc" / "notifications-ca.crt").write_text("old")
    r = host_files.apply(**entries(tmp_path))
    assert r["changed_paths"] == [str(cfg), str(tmp_path / "etc" / "notifications-ca.crt")]
    assert mode_of(cfg) == "0640" and os.lstat(str(cfg)).st_ino == ino  # attributes changed in place
    assert not (tmp_path / "etc" / "notifications-ca.crt").exists()
    assert "0666" in r["diff"][0]["before"] and "0640" in r["diff"][0]["after"]


def test_symlink_refused_before_anything_changes(tmp_path):
    host_files.apply(**entries(tmp_path))
    target = tmp_path / "elsewhere"
    target.write_text("do not touch\n")
    key = tmp_path / "etc" / "tls" / "registry.key"
    key.unlink()
    key.symlink_to(target)
    e = entries(tmp_path)
    e["files"][0]["content"] = "version: 9\n"  # planned before the link: must not be written either
    with pytest.raises(ToolkitError) as err:
        host_files.apply(**e)
    assert str(key) in err.value.msg and "symbolic link" in err.value.msg
    assert target.read_text() == "do not touch\n"
    assert (tmp_path / "etc" / "config.yml").read_text() == "version: 0.1\n"


def test_unknown_owner_and_file_where_a_directory_belongs(tmp_path):
    e = entries(tmp_path)
    e["directories"][0]["group"] = "no-such-group-okd"
    with pytest.raises(ToolkitError) as err:
        host_files.apply(**e)
    assert "no-such-group-okd" in err.value.msg and str(tmp_path / "etc") in err.value.msg
    assert not (tmp_path / "etc").exists()
    (tmp_path / "etc").write_text("x")
    with pytest.raises(ToolkitError) as err:
        host_files.apply(**entries(tmp_path))
    assert "where a directory belongs" in err.value.msg


def test_read_files(tmp_path):
    (tmp_path / "a").write_text("A\n")
    assert host_files.read_files([str(tmp_path / "a"), str(tmp_path / "missing")]) == {
        str(tmp_path / "a"): "A\n", str(tmp_path / "missing"): None}


class FakeSystemctl(object):
    """systemctl as a dict of unit states; records what was run."""

    def __init__(self, enabled, active, fail=None):
        self.enabled, self.active, self.fail, self.calls = enabled, active, fail, []

    def __call__(self, argv):
        self.calls.append(argv[1:])
        verb = argv[1]
        if verb == self.fail:
            return 1, "", "Failed to %s unit: Unit file reg.service does not exist." % verb
        if verb == "is-enabled":
            return (0, "enabled\n", "") if self.enabled else (1, "disabled\n", "")
        if verb == "is-active":
            return (0, "active\n", "") if self.active else (3, "inactive\n", "")
        if verb == "enable":
            self.enabled = True
        if verb == "start":
            self.active = True
        return 0, "", ""


def test_service_enabled_and_started_only_when_not():
    run = FakeSystemctl(enabled=True, active=True)
    assert host_files.ensure_service(run, "reg") == {"changed": False, "was_active": True, "actions": []}
    assert run.calls == [["is-enabled", "reg"], ["is-active", "reg"]]
    run = FakeSystemctl(enabled=False, active=False)
    r = host_files.ensure_service(run, "reg", daemon_reload=True)
    assert r == {"changed": True, "was_active": False, "actions": ["enable", "start"]}
    assert run.calls[0] == ["daemon-reload"] and ["enable", "reg"] in run.calls and ["start", "reg"] in run.calls
    run = FakeSystemctl(enabled=False, active=False)
    r = host_files.ensure_service(run, "reg", daemon_reload=True, check_mode=True)
    assert r["actions"] == ["enable", "start"] and run.calls == [["is-enabled", "reg"], ["is-active", "reg"]]
    with pytest.raises(ToolkitError) as e:
        host_files.ensure_service(FakeSystemctl(enabled=True, active=False, fail="start"), "reg")
    assert "systemctl start reg failed" in e.value.msg and "does not exist" in e.value.msg


def test_health_check_answers():
    assert host_files.health_check(lambda m, u, h: (401, {}, b""), "https://r/v2/") is True
    assert host_files.health_check(lambda m, u, h: (200, {}, b""), "https://r/v2/") is True
    assert host_files.health_check(lambda m, u, h: (503, {}, b""), "https://r/v2/") is False

    def down(m, u, h):
        raise ToolkitError("cannot connect", retryable=True)
    assert host_files.health_check(down, "https://r/v2/") is False


OLD_SCRIPT = r"""
import os, sys, tempfile, json, pwd, grp
sys.path.insert(0, sys.argv[1])
from plugins.module_utils import host_files
d = tempfile.mkdtemp()
u, g = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
args = dict(directories=[{"path": d + "/etc", "owner": u, "group": g, "mode": "0750"}],
            files=[{"path": d + "/etc/c", "content": u"caf\u00e9\n", "owner": u, "group": g, "mode": "0640"},
                   {"path": d + "/etc/k", "content": u"SECRET\n", "owner": u, "group": g, "mode": "0600",
                    "secret": True}])
r1 = host_files.apply(**args)
r2 = host_files.apply(**args)
print(json.dumps([r1["changed_paths"], r2["changed"], "SECRET" in json.dumps(r1["diff"]),
                  oct(os.stat(d + "/etc/c").st_mode & 0o7777), open(d + "/etc/c", "rb").read().decode("utf-8")]))
"""


@pytest.mark.parametrize("version", sorted(OLD_PYTHONS))
def test_host_core_on_old_python(version):
    python = OLD_PYTHONS[version]
    if not os.path.exists(python):
        pytest.skip("python%s not installed (pyenv)" % version)
    proc = subprocess.run([python, "-c", OLD_SCRIPT, ROOT], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    paths, again, leaked, mode, text = json.loads(proc.stdout)
    assert [os.path.basename(p) for p in paths] == ["etc", "c", "k"] and again is False and leaked is False
    assert mode in ("0640", "0o640") and text == u"caf\u00e9\n"


# ------------------------------------------------------------------------------ controller decisions

# the controller side imports the core by the collection's name (as the installed action does): .collections
sys.path.insert(0, os.path.join(ROOT, ".collections"))
from ansible_collections.okd.registry_toolkit.plugins.plugin_utils import standalone_registry as sr  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

SANS = ["DNS:node3", "DNS:node3.lab.test", "IP:10.231.0.13"]


def make_ca(name="Test CA", passphrase=None):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    enc = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    return cert, key_pem


@pytest.fixture(scope="module")
def ca():
    return make_ca(passphrase="ca pass 'x'")


@pytest.fixture(scope="module")
def issued(ca):
    return sr.issue(ca[0], ca[1], "ca pass 'x'", "node3.lab.test", SANS, 730)


def test_issue_makes_the_role_certificate(ca, issued):
    key_pem, cert_pem = issued
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    ca_cert = ca[0]
    ca_cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    assert cert.issuer == ca_cert.subject
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "node3.lab.test"
    assert sorted(sr.san_strings(cert)) == sorted(SANS)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert bc.critical and bc.value.ca is False and ku.critical and ku.value.digital_signature
    assert ku.value.key_encipherment
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [o.dotted_string for o in eku] == ["1.3.6.1.5.5.7.3.1"]
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    assert days == 730  # 730 days and 5 minutes
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert sr.cert_reasons(cert_pem, key_pem, ca_cert, SANS, 30) == []


def test_reasons_each(ca, issued):
    key_pem, cert_pem = issued
    ca_cert = ca[0]
    assert sr.cert_reasons("", key_pem, ca_cert, SANS, 30) == ["certificate or key missing"]
    assert sr.cert_reasons(cert_pem, None, ca_cert, SANS, 30) == ["certificate or key missing"]
    assert sr.cert_reasons("garbage", key_pem, ca_cert, SANS, 30) == ["certificate unreadable"]
    assert sr.cert_reasons(cert_pem, key_pem, ca_cert, SANS + ["DNS:extra"], 30) == ["SANs differ"]
    assert sr.cert_reasons(cert_pem, key_pem, ca_cert, SANS, 800) == ["expires within 800 days"]
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=720)
    assert sr.cert_reasons(cert_pem, key_pem, ca_cert, SANS, 30, now=later) == ["expires within 30 days"]
    other_ca = make_ca("Other CA")[0]
    assert sr.cert_reasons(cert_pem, key_pem, other_ca, SANS, 30) == ["not issued by the CA"]
    other_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()).decode()
    assert sr.cert_reasons(cert_pem, other_key, ca_cert, SANS, 30) == ["key does not match"]
    assert sr.cert_reasons(cert_pem, "not a key", ca_cert, SANS, 30) == ["key does not match"]


def test_issue_refuses_a_wrong_passphrase_or_foreign_key(ca):
    with pytest.raises(sr.PlanError) as e:
        sr.issue(ca[0], ca[1], "wrong", "x", SANS, 1)
    assert "CA key cannot be loaded" in str(e.value)
    other_cert, other_key = make_ca("Other")
    with pytest.raises(sr.PlanError) as e:
        sr.issue(ca[0], other_key, "", "x", SANS, 1)
    assert "does not belong to the CA certificate" in str(e.value)


def test_htpasswd_keeps_matching_hashes():
    pytest.importorskip("bcrypt")
    users = [{"username": "a", "password": "pw-a"}, {"username": "b", "password": "pw 'b\" :x"}]
    first, changed = sr.htpasswd_content("", users, cost=4)
    assert changed == ["a", "b"] and "pw-a" not in first
    again, changed = sr.htpasswd_content(first + "gone:$2y$04$abc\n", users, cost=4)
    assert again == first and changed == ["gone"]
    new, changed = sr.htpasswd_content(first, [users[0], {"username": "b", "password": "new"}], cost=4)
    assert changed == ["b"] and new.splitlines()[0] == first.splitlines()[0] and new != first
    # Apache's $2y$ hashes are accepted as they are
    y = first.splitlines()[0].replace("$2b$", "$2y$", 1) + "\n"
    assert sr.htpasswd_content(y, [users[0]], cost=4) == (y, [])
    for bad in ([{"username": "a:b", "password": "x"}], [{"username": "a", "password": "x"}] * 2,
                [{"username": "", "password": "x"}]):
        with pytest.raises(sr.PlanError):
            sr.htpasswd_content("", bad, cost=4)


# --------------------------------------------------------------------- the action, end to end (local)

def run_play(tmp_path, task, venv, args=()):
    """One task on localhost with the venv's ansible-playbook (2.19: .venv, 2.16: .venv-216), default
    callback (what a user sees, diffs included); its registered result is written to a file by a second task."""
    playbook = os.path.join(ROOT, venv, "bin", "ansible-playbook")
    if not os.path.exists(playbook):
        pytest.fail("%s is missing: run `make deps`" % playbook)
    out = tmp_path / "result.json"
    if out.exists():
        out.unlink()
    tasks = [dict(task, register="r"),
             {"name": "save", "ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": str(out)},
              "check_mode": False, "diff": False}]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="default",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    python = os.path.join(ROOT, venv, "bin", "python")
    proc = subprocess.run([playbook, str(path), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % python] + list(args),
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    return proc, (json.loads(out.read_text()) if out.exists() else None)


def venv_has(venv, module):
    python = os.path.join(ROOT, venv, "bin", "python")
    return subprocess.run([python, "-c", "import " + module], capture_output=True).returncode == 0


@pytest.mark.parametrize("venv", [".venv", ".venv-216"])
def test_action_check_apply_rerun_and_no_secret_in_output(tmp_path, ca, venv):
    with_htpasswd = venv_has(venv, "bcrypt")  # .venv-216 has no bcrypt: its run covers everything else
    ca_file, ca_key = tmp_path / "ca.crt", tmp_path / "ca.key"
    ca_file.write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
    ca_key.write_bytes(ca[1])
    etc = tmp_path / "etc"
    password = "pw-'\"$ :x-" + "z" * 20
    task_args = {
        "directories": [{"path": str(etc), "owner": "root", "group": "root", "mode": "0750"},
                        {"path": str(etc / "tls"), "owner": "root", "group": "root", "mode": "0750"}],
        "files": [{"path": str(etc / "config.yml"), "content": "version: 0.1\n", "owner": "root",
                   "group": "root", "mode": "0640", "restart": True, "want": True},
                  {"path": str(etc / "tls" / "ca.crt"), "src": str(ca_file), "owner": "root", "group": "root",
                   "mode": "0644"}],
        "absent": [{"path": str(etc / "notifications-ca.crt"), "restart": True, "want": True}],
        "htpasswd": {"path": str(etc / "htpasswd"), "users": [{"username": "pusher", "password": password}],
                     "cost": 4, "owner": "root", "group": "root", "mode": "0640", "restart": True},
        "tls": {"cert_path": str(etc / "tls" / "registry.crt"), "key_path": str(etc / "tls" / "registry.key"),
                "owner": "root", "group": "root", "ca_cert": str(ca_file), "ca_key": str(ca_key),
                "ca_key_passphrase": "ca pass 'x'", "common_name": "node3.lab.test", "sans": SANS,
                "valid_days": 730, "renew_days": 30},
    }

    if not with_htpasswd:
        del task_args["htpasswd"]

    def run(name, check=False):
        task = {"name": name, "okd.registry_toolkit.okd_standalone_registry_files": task_args}
        if check:
            task["check_mode"] = True
        proc, res = run_play(tmp_path, task, venv, args=["--diff"])
        assert proc.returncode == 0 and res, proc.stdout[-3000:] + proc.stderr[-3000:]
        out = proc.stdout + proc.stderr + json.dumps(res)
        assert password not in out and "PRIVATE KEY" not in out and "$2b$" not in out, out
        return res

    r = run("check", check=True)
    assert r["changed"] and r["restart"] and r["cert_reasons"] == ["certificate or key missing"]
    assert not etc.exists()
    assert any("secret content not shown" in d["after"] for d in r["diff"])
    r = run("apply")
    assert r["changed"] and str(etc / "tls" / "registry.key") in r["changed_paths"]
    assert r["htpasswd_users_changed"] == (["pusher"] if with_htpasswd else [])
    assert mode_of(etc / "tls" / "registry.key") == "0640"
    assert mode_of(etc / "htpasswd") == "0640" if with_htpasswd else not (etc / "htpasswd").exists()
    assert mode_of(etc / "tls" / "registry.crt") == "0644"
    assert (etc / "tls" / "ca.crt").read_bytes() == ca_file.read_bytes()
    cert_pem = (etc / "tls" / "registry.crt").read_text()
    assert sr.cert_reasons(cert_pem, (etc / "tls" / "registry.key").read_text(), ca[0], SANS, 30) == []
    r = run("again")
    assert r["changed"] is False and r["changed_paths"] == [] and r["cert_reasons"] == []
    assert (etc / "tls" / "registry.crt").read_text() == cert_pem
    # a changed SAN list re-issues (and says why); the htpasswd hash is kept
    hashes_before = (etc / "htpasswd").read_text() if with_htpasswd else None
    task_args["tls"]["sans"] = SANS + ["DNS:registry.example.com"]
    r = run("new SAN")
    assert r["cert_reasons"] == ["SANs differ"] and r["restart"]
    assert "SANs differ" in r["msg"]
    assert ((etc / "htpasswd").read_text() if with_htpasswd else None) == hashes_before
