"""Execution environment for AWX/AAP (docs/installing.md): `ansible-builder create` on the repository's
execution-environment.yml (schema 3) makes a complete build context offline, and ansible-builder's
introspection of the installed collection yields the runtime requirements, never the development pins.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# development-only pins of requirements.txt that must never reach an execution environment
DEV_ONLY = ("pytest", "molecule", "docker-systemctl-replacement", "vermin", "pyinfra", "ansible-lint",
            "ansible-builder", "antsibull-changelog")


def _run(cmd, cwd):
    r = subprocess.run([str(c) for c in cmd], cwd=str(cwd), capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")})
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _galaxy():
    with open(ROOT / "galaxy.yml") as f:
        return yaml.safe_load(f)


def _tarball(tmp_path):
    out = tmp_path / "dist"
    _run([BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", out], ROOT)
    (t,) = list(out.glob("*.tar.gz"))
    return t


def test_builder_create_makes_the_build_context(tmp_path):
    galaxy = _galaxy()
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert ee["version"] == 3
    # the project as a user has it: the EE definition beside build/<tarball> (make collection)
    proj = tmp_path / "proj"
    (proj / "build").mkdir(parents=True)
    shutil.copy(str(ROOT / "execution-environment.yml"), str(proj))
    shutil.copy(str(_tarball(tmp_path)), str(proj / "build"))
    _run([BIN / "ansible-builder", "create", "-f", proj / "execution-environment.yml", "-c", proj / "context",
          "--output-filename", "Containerfile"], proj)
    ctx = proj / "context"
    cf = (ctx / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="%s"' % ee["images"]["base_image"]["name"] in cf
    # ansible-core 2.16: the last that manages the Python 2.7/3.6 hosts of OKD 3.11
    assert re.search(r'ANSIBLE_INSTALL_REFS="ansible-core>=2\.16,<2\.17 ansible-runner', cf), cf
    assert "ansible-galaxy collection install" in cf and "introspect" in cf
    # the collection tarball of galaxy.yml's version is in the context, where requirements.yml names it
    name = "okd-registry_toolkit-%s.tar.gz" % galaxy["version"]
    assert (ctx / "_build" / "collections" / name).is_file()
    reqs = yaml.safe_load((ctx / "_build" / "requirements.yml").read_text())["collections"]
    assert {"name": "collections/" + name, "type": "file"} in reqs
    assert {r["name"] for r in reqs if r.get("type") != "file"} == set(galaxy["dependencies"])


def test_introspection_gives_runtime_requirements_only(tmp_path):
    coll = tmp_path / "collections"
    _run([BIN / "ansible-galaxy", "collection", "install", "--offline", "--no-deps", "-p", coll,
          _tarball(tmp_path)], tmp_path)
    out = yaml.safe_load(_run([BIN / "ansible-builder", "introspect", "--sanitize", coll], tmp_path))
    python = [re.split(r"[<>=!~ ]", line, 1)[0].lower() for line in out["python"]]
    # meta/ee-requirements.txt (PyYAML comes with ansible-core: introspection drops it)
    assert sorted(python) == ["bcrypt", "cryptography", "kubernetes"], out
    for dev in DEV_ONLY:
        assert dev not in python
    assert any(line.startswith("openssh-clients [platform:rpm]") for line in out["system"]), out
