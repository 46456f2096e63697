"""The repository builds as the Ansible collection okd.registry_toolkit, without lab or test files."""
import os
import subprocess
import sys
import tarfile

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
