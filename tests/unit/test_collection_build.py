"""The repository builds as the Ansible collection okd.registry_toolkit, without lab or test files."""
import os
import subprocess
import sys
import json
import tarfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_collection_builds_with_plugins_and_roles_only(tmp_path):
    galaxy = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    r = subprocess.run([galaxy, "collection", "build", "--force", "--output-path", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (archive,) = list(tmp_path.glob("okd-registry_toolkit-*.tar.gz"))
    names = set(tarfile.open(str(archive)).getnames())
    for must in ("MANIFEST.json", "meta/runtime.yml", "plugins/modules/registry_credentials.py",
                 "plugins/modules/registry_verify.py", "plugins/modules/okd_registry_secret.py",
                 "plugins/modules/registry_compliance.py", "plugins/module_utils/dockercfg.py",
                 "plugins/doc_fragments/okd_api.py", "roles/registry_credentials/tasks/main.yml",
                 "roles/okd_registry_secrets/meta/argument_specs.yml", "site.yml"):
        assert must in names, must
    for name in names:
        top = name.split("/")[0]
        assert top not in ("lab", "tests", ".lab", ".venv", ".venv-216", ".collections", "scripts", ".ci"), name
        assert not name.startswith("inventory/lab/"), name


def _build(tmp_path):
    galaxy = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    r = subprocess.run([galaxy, "collection", "build", "--force", "--output-path", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (archive,) = list(tmp_path.glob("okd-registry_toolkit-*.tar.gz"))
    return tarfile.open(str(archive))


# what a Galaxy / Automation Hub user needs in the tarball
SHIPPED = ("LICENSE", "README.md", "CHANGELOG.rst", "changelogs/changelog.yaml", "changelogs/config.yaml",
           "requirements.yml", "bindep.txt", "meta/execution-environment.yml", "meta/ee-requirements.txt",
           "meta/runtime.yml", "playbooks/site.yml", "site.yml", "docs/installing.md",
           "plugins/modules/okd_htpasswd_content.py", "inventory/example/hosts.yml")
# development- and lab-only files that must stay out (issue 9)
NOT_SHIPPED_FILES = ("ansible.cfg", "requirements.txt", "requirements-ansible216.txt", "pytest.ini", "Makefile",
                     ".ansible-lint", ".gitignore", "execution-environment.yml", "docs/lab.md",
                     "docs/lab-api.md", "docs/lab-design.md", "docs/lab-registries.md", "docs/benchmarks.md",
                     "docs/requirements.md", "docs/conventions.md", "pyproject.toml")
NOT_SHIPPED_DIRS = ("lab", "tests", "scripts", ".ci", ".lab", ".venv", ".venv-216", ".collections", ".git",
                    ".pytest_cache", ".ansible", "bench", "build", "pyinfra_deploys", "inventory/lab")


def test_tarball_file_list(tmp_path):
    names = set(_build(tmp_path).getnames())
    for must in SHIPPED:
        assert must in names, must
    for name in names:
        assert name not in NOT_SHIPPED_FILES, name
        for d in NOT_SHIPPED_DIRS:
            assert name != d and not name.startswith(d + "/"), name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
        # every role's molecule scenario is lab-only (links into the checkout): none ships
        assert not (name.startswith("roles/") and "/molecule" in name), name
        # collection roles cannot use a role-level library/ (Ansible does not load it): plugins/ only
        assert not (name.startswith("roles/") and "/library/" in name + "/"), name


def test_manifest_metadata(tmp_path):
    info = json.load(_build(tmp_path).extractfile("MANIFEST.json"))["collection_info"]
    # the dependencies the roles use, with minimum versions; the same in requirements.yml
    assert info["dependencies"] == {"kubernetes.core": ">=2.4.0", "community.crypto": ">=2.10.0",
                                    "community.general": ">=1.3.0"}
    with open(os.path.join(ROOT, "requirements.yml")) as f:
        reqs = {c["name"]: c["version"] for c in yaml.safe_load(f)["collections"]}
    assert reqs == info["dependencies"]
    # no invented URLs: real values or none
    for key in ("repository", "documentation", "issues", "homepage"):
        assert not info.get(key) or "example" not in info[key], (key, info[key])
    assert info["license"] == ["Apache-2.0"]


def test_roles_use_only_declared_collections():
    """Every collection named in roles and playbooks is this one, ansible.builtin or a declared dependency."""
    import re
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        declared = set(yaml.safe_load(f)["dependencies"]) | {"ansible.builtin", "okd.registry_toolkit"}
    used = set()
    for top in ("roles", "playbooks"):
        for dirpath, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d != "molecule"]
            for fn in files:
                if fn.endswith((".yml", ".yaml", ".j2")):
                    with open(os.path.join(dirpath, fn)) as f:
                        text = f.read()
                    used.update(m.group(1) for m in re.finditer(
                        r"\b((?:ansible|kubernetes|community|okd|ansible_collections)\.[a-z_]+)\.[a-z_0-9]+", text))
    used.discard("ansible_collections.okd")
    assert used <= declared, used - declared


def test_changelog_fragments_lint():
    """Each change comes with a changelog fragment (changelogs/fragments/, antsibull-changelog)."""
    tool = os.path.join(os.path.dirname(sys.executable), "antsibull-changelog")
    r = subprocess.run([tool, "lint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr
    r = subprocess.run([tool, "lint-changelog-yaml", "changelogs/changelog.yaml"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr
    with open(os.path.join(ROOT, "changelogs", "changelog.yaml")) as f:
        releases = yaml.safe_load(f)["releases"]
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        version = yaml.safe_load(f)["version"]
    # galaxy.yml's version is released in the changelog or about to be (fragments waiting)
    fragments = [n for n in os.listdir(os.path.join(ROOT, "changelogs", "fragments")) if n.endswith(".yml")]
    assert version in releases or fragments, version
