"""pyinfra as a package against the lab (issue 9 part 7): the wheel built from pyproject.toml is
installed into a fresh virtual environment, and a user's own deploy file, written outside the checkout,
imports `okd_registry_toolkit` and calls its @deploy function on node2.

Offline: the wheel is built with pip's build isolation served by the machine's local (file://) package
index (OKD_TEST_PIP_INDEX_URL overrides) and installed with --no-index --no-deps; pyinfra itself (not under
test here) comes from the project venv through a .pth file appended after the fresh venv's own
site-packages. The checkout is neither the working directory nor on sys.path, so only the installed
package can be imported.
"""
import base64
import json
import os
import runpy
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labtools import lab_secrets

REPO = Path(__file__).resolve().parents[2]
PY = REPO / ".venv" / "bin" / "python"
PACKAGE_SOURCES = ["pyproject.toml", "LICENSE", "pyinfra_deploys/README.md",
                   "pyinfra_deploys/okd_registry", "plugins/module_utils", "plugins/filter"]
PATH = "/var/lib/okd-pkg-test/.docker/config.json"  # not a path other tests use


def local_index():
    url = os.environ.get("OKD_TEST_PIP_INDEX_URL")
    if url:
        return url
    out = subprocess.run([str(PY), "-m", "pip", "config", "list"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True).stdout
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith("index-url"):
            for url in value.strip().strip("'\"").split():
                if url.startswith("file://"):
                    return url
    return None


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv with the package installed from its wheel; returns its python."""
    tmp = tmp_path_factory.mktemp("pkgvenv")
    index = local_index()
    if index is None:
        pytest.skip("no local (file://) package index for pip's build isolation; set OKD_TEST_PIP_INDEX_URL")
    src = tmp / "src"
    for rel in PACKAGE_SOURCES:
        if (REPO / rel).is_dir():
            shutil.copytree(REPO / rel, src / rel, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.yml"))
        else:
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "PYTHONPATH"}
    env.update(PIP_INDEX_URL=index, PIP_DISABLE_PIP_VERSION_CHECK="1")
    run = dict(env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    r = subprocess.run([str(PY), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "wheels"), str(src)], **run)
    assert r.returncode == 0, r.stdout[-3000:]
    wheel = next((tmp / "wheels").glob("okd_registry_toolkit-*.whl"))
    r = subprocess.run([str(PY), "-m", "venv", str(tmp / "venv")], **run)
    assert r.returncode == 0, r.stdout[-3000:]
    python = tmp / "venv" / "bin" / "python"
    r = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)], **run)
    assert r.returncode == 0, r.stdout[-3000:]
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    project_site = subprocess.run([str(PY), "-c", "import pyinfra, os; print(os.path.dirname(os.path.dirname(pyinfra.__file__)))"],
                                  check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    Path(site, "zz_project_pyinfra.pth").write_text(project_site + "\n")
    return python


def run_deploy(python, lab, workdir, body, *args):
    deploy = Path(workdir) / "my_registry_deploy.py"
    deploy.write_text(textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", PYINFRA_PROGRESS="off")
    node2 = next(h["address"] for h in lab["hosts"] if h["name"] == "node2")
    yes = [] if "--dry" in args else ["-y"]  # with -y, --dry skips the change detection
    return subprocess.run([str(python), "-m", "pyinfra", lab["inventory"]["pyinfra"], str(deploy)] + yes + ["-vv",
                           "--limit", node2] + list(args), cwd=str(workdir), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)


USER_DEPLOY = '''
    import sys
    import okd_registry_toolkit
    from okd_registry_toolkit.deploys import registry_credentials

    # the installed package, not the checkout
    assert okd_registry_toolkit.INSTALLED and okd_registry_toolkit.__file__.startswith(sys.prefix)
    assert "pyinfra_deploys" not in sys.modules

    registry_credentials(registry_credentials_paths=["%s"])
''' % PATH


def expected_bytes(lab):
    """What the Ansible role and the CLI deploy write for the lab inventory's okd_registries (the core)."""
    sys.path.insert(0, str(REPO))
    from plugins.module_utils import dockercfg
    registries = runpy.run_path(lab["inventory"]["pyinfra"])["_common"]["okd_registries"]
    config, _ = dockercfg.set_auths(None, [{"registry": r["host"], "username": r["username"],
                                            "password": r["password"]} for r in registries])
    return dockercfg.render_config(config).encode()


@pytest.fixture
def clean_node2(lab_exec):
    lab_exec("node2", "rm -rf %s" % os.path.dirname(os.path.dirname(PATH)))
    yield
    lab_exec("node2", "rm -rf %s" % os.path.dirname(os.path.dirname(PATH)))


def test_user_deploy_with_the_installed_package(lab, lab_exec, venv, tmp_path, clean_node2):
    r = run_deploy(venv, lab, tmp_path, USER_DEPLOY)
    assert r.returncode == 0, r.stdout[-5000:]
    # the deploy's operations ran on node2 under the deploy's name: write, then skopeo with the new file
    assert "Registry credentials | Registry credentials %s" % PATH in r.stdout
    # one check operation for every registry (one command on the host)
    assert "Registry credentials | Verify pull access to %s with %s" % (
        ", ".join(lab["registries"][n]["host"] for n in ("redhat", "quay")), PATH) in r.stdout
    got = lab_exec("node2", "base64 -w0 %s; echo; stat -c '%%a %%U' %s %s"
                   % (PATH, PATH, os.path.dirname(PATH))).stdout.split("\n")
    assert base64.b64decode(got[0]) == expected_bytes(lab)
    assert got[1:3] == ["600 root", "700 root"]
    leaked = [s for s in lab_secrets(lab) if s in r.stdout]
    assert not leaked, "lab secret in the pyinfra output (-vv)"

    # --dry (what would change): the file is up to date, so the write is no change; nothing is run
    r = run_deploy(venv, lab, tmp_path, USER_DEPLOY, "--dry")
    assert r.returncode == 0, r.stdout[-3000:]
    assert "registry credentials %s are up to date" % PATH in r.stdout
    assert "okd-registry-write" not in r.stdout
    assert not [s for s in lab_secrets(lab) if s in r.stdout]

    # the same deploy with empty okd_registries: the role's error, non-zero, the file untouched
    r = run_deploy(venv, lab, tmp_path, USER_DEPLOY, "--data", "okd_registries=[]")
    assert r.returncode != 0, r.stdout[-3000:]
    assert ("registry_credentials: no registries to write (set okd_registries or "
            "registry_credentials_registries) and none to remove") in r.stdout
    assert base64.b64decode(lab_exec("node2", "base64 -w0 %s" % PATH).stdout) == expected_bytes(lab)

    # compliance() of the installed package (its core and report filters through the package only)
    # on the file just written: compliant, access to both registries passes, the report on the controller
    report = tmp_path / "report.json"
    r = run_deploy(venv, lab, tmp_path, """
        from okd_registry_toolkit.deploys import compliance
        compliance(registry_compliance_paths=["%s"], registry_compliance_report_path="%s")
    """ % (PATH, report))
    assert r.returncode == 0, r.stdout[-5000:]
    assert not [s for s in lab_secrets(lab) if s in r.stdout]
    hosts = json.loads(report.read_text())["hosts"]
    node2 = next(h["address"] for h in lab["hosts"] if h["name"] == "node2")
    assert list(hosts) == [node2] and hosts[node2]["compliant"] is True
    access = sorted(x["registry"] for x in hosts[node2]["results"] if x["check"] == "access" and x["status"] == "pass")
    assert access == ["quay.lab.test:5445", "registry.redhat.lab.test:5443"]
