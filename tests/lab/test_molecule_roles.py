"""Molecule scenarios of the cluster roles (issue 12), in the sequence of community.docker's integration
targets: with the role's object removed from the lab API first, `molecule check` reports a change and the
object is still absent afterwards; `molecule converge` changes; `molecule idempotence` passes; `molecule
check` again reports nothing; `molecule verify` asserts the real state (objects in the API, and for the
imagestreamsecret a real client, skopeo, pulling with its content). No lab password or token appears in
any output. Scenarios: roles/okd_registry_secrets, roles/okd_image_streams and
roles/okd_integrated_registry (its Route removed first) (molecule/default: driver
`default`, `managed: false`, the lab inventory, the repository's ansible.cfg; like registry_credentials',
which tests/lab/test_molecule.py runs).
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

from labtools import lab_secrets

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


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


def changed(out):
    """changed=N summed over the PLAY RECAP host lines."""
    return sum(int(n) for n in re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", out, re.M))


def api_client(lab):
    from kubernetes import config
    return config.new_client_from_config(config_file=lab["api"]["kubeconfig"])


def secret_exists(lab):
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    try:
        client.CoreV1Api(api_client(lab)).read_namespaced_secret("imagestreamsecret", "openshift")
        return True
    except ApiException as e:
        if e.status == 404:
            return False
        raise


def remove_secret(lab):
    from kubernetes import client
    client.CoreV1Api(api_client(lab)).delete_namespaced_secret("imagestreamsecret", "openshift")


def stream_exists(lab):
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    try:
        client.CustomObjectsApi(api_client(lab)).get_namespaced_custom_object(
            "image.openshift.io", "v1", "lab-apps", "imagestreams", "hello")
        return True
    except ApiException as e:
        if e.status == 404:
            return False
        raise


def remove_stream(lab):
    from kubernetes import client
    client.CustomObjectsApi(api_client(lab)).delete_namespaced_custom_object(
        "image.openshift.io", "v1", "lab-apps", "imagestreams", "hello")


def route_exists(lab):
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    try:
        client.CustomObjectsApi(api_client(lab)).get_namespaced_custom_object(
            "route.openshift.io", "v1", "default", "routes", "docker-registry")
        return True
    except ApiException as e:
        if e.status == 404:
            return False
        raise


def remove_route(lab):
    from kubernetes import client
    client.CustomObjectsApi(api_client(lab)).delete_namespaced_custom_object(
        "route.openshift.io", "v1", "default", "routes", "docker-registry")


SCENARIOS = {
    "okd_integrated_registry": (route_exists, remove_route),
    "okd_registry_secrets": (secret_exists, remove_secret),
    "okd_image_streams": (stream_exists, remove_stream),
}


@pytest.mark.parametrize("role", sorted(SCENARIOS))
def test_molecule_check_converge_idempotent_check_verify(lab, role, tmp_path):
    exists, remove = SCENARIOS[role]
    secrets = lab_secrets(lab, api_tokens=True)
    if exists(lab):
        remove(lab)
    assert not exists(lab)
    outputs = []
    try:
        r = molecule(role, tmp_path, "check")
        outputs.append(r.stdout)
        assert r.returncode == 0, r.stdout[-4000:]
        assert changed(r.stdout) > 0, "check mode reported no change:\n" + r.stdout[-3000:]
        assert not exists(lab), "check mode changed the API"
        for step in ("converge", "idempotence"):
            r = molecule(role, tmp_path, step)
            outputs.append(r.stdout)
            assert r.returncode == 0, "%s failed:\n%s" % (step, r.stdout[-4000:])
        assert changed(outputs[1]) > 0 and exists(lab)
        # molecule's idempotence step itself fails (rc != 0) when the second converge changes anything
        r = molecule(role, tmp_path, "check")
        outputs.append(r.stdout)
        assert r.returncode == 0 and changed(r.stdout) == 0, r.stdout[-4000:]
        r = molecule(role, tmp_path, "verify")
        outputs.append(r.stdout)
        assert r.returncode == 0, r.stdout[-4000:]
        assert re.search(r"^\S+\s+:\s+ok=[1-9]", r.stdout, re.M), "verify ran no task:\n" + r.stdout[-2000:]
    finally:
        if not exists(lab):  # leave the lab as site.yml makes it
            molecule(role, tmp_path, "converge")
    for out in outputs:
        for s in secrets:
            assert s not in out, "a lab secret appears in molecule's output"
