# -*- coding: utf-8 -*-
# Code that runs on the targets (plugins/module_utils, plugins/modules) must work on RHEL/CentOS 7
# (Python 2.7) and Python 3.6+: vermin checks it statically (mandatory); the core's unit tests and
# a real TLS login through http_transport also run on pyenv's python2.7 and 3.6 when present.
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "tests", "unit")
VERMIN = os.path.join(ROOT, ".venv", "bin", "vermin")
OLD_PYTHONS = {
    "2.7": "/root/.pyenv/versions/2.7.18/bin/python",
    "3.6": "/root/.pyenv/versions/3.6.15/bin/python",
}
TARGET_DIRS = [os.path.join(ROOT, "plugins", "module_utils"), os.path.join(ROOT, "plugins", "modules")]
CORE_FILES = ["errors.py", "dockercfg.py", "v2auth.py", "http_transport.py", "registry_entry.py", "localfile.py",
              "master_config.py", "core_loader.py"]


def _vermin(paths):
    if not os.path.exists(VERMIN):
        pytest.fail("vermin is missing: run `make deps` (the Python 2.7/3.6 check is mandatory)")
    return subprocess.run([VERMIN, "--target=2.7-", "--target=3.6-", "--no-tips", "--violations"] + paths,
                          capture_output=True, text=True)


def test_vermin_target_code_runs_on_python_27_and_36():
    proc = _vermin(TARGET_DIRS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Target versions not met" not in proc.stdout


def test_vermin_catches_a_violation():
    # the check must be able to fail: an f-string is not Python 2.7/3.5
    bad = os.path.join(UNIT, "__vermin_probe.py")
    with open(bad, "w") as handle:
        handle.write("name = 'x'\nprint(f'{name}')\n")
    try:
        proc = _vermin([bad])
    finally:
        os.unlink(bad)
    assert proc.returncode != 0 and "f-strings" in proc.stdout


def test_core_imports_no_ansible():
    # pyinfra imports the core from the repository root: it must not need ansible
    for name in CORE_FILES:
        with open(os.path.join(ROOT, "plugins", "module_utils", name)) as handle:
            source = handle.read()
        assert "import ansible" not in source and "from ansible" not in source, name


@pytest.mark.parametrize("version", sorted(OLD_PYTHONS))
def test_core_unit_tests_on_old_python(version):
    python = OLD_PYTHONS[version]
    if not os.path.exists(python):
        pytest.skip("python%s not installed (pyenv)" % version)
    # each script runs its own tests when executed directly; the minimum guards against a silent no-op
    for script, minimum in (("test_dockercfg.py", 20), ("test_v2auth.py", 20), ("test_registry_entry.py", 10),
                            ("test_master_config.py", 8)):
        proc = subprocess.run([python, os.path.join(UNIT, script)], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, "%s on python%s:\n%s%s" % (script, version, proc.stdout, proc.stderr)
        assert proc.stdout.startswith("ran ") and int(proc.stdout.split()[1]) >= minimum, proc.stdout


@pytest.mark.parametrize("version", sorted(OLD_PYTHONS))
def test_target_files_compile_on_old_python(version):
    python = OLD_PYTHONS[version]
    if not os.path.exists(python):
        pytest.skip("python%s not installed (pyenv)" % version)
    # every file that runs on a target: all of module_utils and all modules
    files = sorted(os.path.join(d, name) for d in TARGET_DIRS for name in os.listdir(d) if name.endswith(".py"))
    code = "import sys\nfor f in sys.argv[1:]:\n    compile(open(f, 'rb').read(), f, 'exec')\n"
    proc = subprocess.run([python, "-c", code] + files, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


SMOKE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from plugins.module_utils.http_transport import make_urllib_transport
from plugins.module_utils.v2auth import verify_access
from plugins.module_utils.errors import ToolkitError
host, ca, user, password = sys.argv[2:6]
transport = make_urllib_transport(ca_file=ca, timeout=20)
result = verify_access(transport, host, user, password, "openshift3/ose-pod:v3.11")
try:
    verify_access(transport, host, user, "wrong")
    failure = None
except ToolkitError as e:
    failure = str(e)
try:
    verify_access(make_urllib_transport(timeout=20), host, user, password)
    tls = None
except ToolkitError as e:
    tls = str(e)
redirects = {}
for name, url in (("same", sys.argv[6]), ("other", sys.argv[7])):
    status, headers, body = transport("GET", url, {"Authorization": "Basic c2VjcmV0"})
    redirects[name] = [status, json.loads(body.decode("utf-8"))["authorization"]]
print(json.dumps({"digest": result["digest"], "logged_in": result["logged_in"], "failure": failure, "tls": tls,
                  "redirects": redirects}))
"""


@pytest.mark.parametrize("version", sorted(OLD_PYTHONS) + ["current"])
def test_http_transport_real_tls_login_on_old_python(version, tmp_path):
    from local_registry import DIGEST, LocalRegistry
    python = OLD_PYTHONS.get(version, sys.executable)
    if not os.path.exists(python):
        pytest.skip("python%s not installed (pyenv)" % version)
    user, password = "12345678|okd-puller", "pa:ss w0rd"
    with LocalRegistry(str(tmp_path), users={user: password}) as reg, \
            LocalRegistry(str(tmp_path), users={}, paths=reg.paths) as other:
        env = dict(os.environ, no_proxy="localhost,127.0.0.1", NO_PROXY="localhost,127.0.0.1")
        same = "https://%s/redirect?to=https://%s/echo-auth" % (reg.host, reg.host)
        elsewhere = "https://%s/redirect?to=https://%s/echo-auth" % (reg.host, other.host)
        proc = subprocess.run([python, "-c", SMOKE, ROOT, reg.host, reg.paths["ca"], user, password, same,
                               elsewhere], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["digest"] == DIGEST and out["logged_in"] is True
    assert out["failure"] == "%s: login failed: 401 UNAUTHORIZED: Invalid username or password" % reg.host
    assert "TLS certificate verification failed" in out["tls"]
    # a redirect keeps Authorization on the same host and drops it for another one (as docker does)
    assert out["redirects"] == {"same": [200, "Basic c2VjcmV0"], "other": [200, None]}
