"""The okd_* modules reach the lab API with no kubeconfig at all: the connection from K8S_AUTH_* variables
(what AWX's OpenShift/Kubernetes credential sets) or once for all of them through module_defaults and the
action group okd.registry_toolkit.okd (meta/runtime.yml). Objects created are read back with the official
kubernetes client and removed."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from installtools import kube_core

REPO = Path(__file__).resolve().parents[2]
NS = "default"


def _play(tmp_path, name, task_args, module_defaults=None):
    play = {"hosts": "localhost", "gather_facts": False, "connection": "local",
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "tasks": [{"name": "configmap", "okd.registry_toolkit.okd_resource": task_args}]}
    if module_defaults:
        play["module_defaults"] = {"group/okd.registry_toolkit.okd": module_defaults}
    p = tmp_path / (name + ".yml")
    p.write_text(yaml.safe_dump([play]))
    return p


def _run(tmp_path, playbook, env_extra, extra_vars=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_")}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               KUBECONFIG=str(tmp_path / "no-such-kubeconfig"))  # nothing to fall back on
    env.update(env_extra)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(playbook)]
    if extra_vars:
        f = tmp_path / "vars.json"
        fd = os.open(str(f), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(extra_vars, fh)
        cmd += ["-e", "@" + str(f)]
    return subprocess.run(cmd, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)


def _configmap(name):
    return {"definition": {"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": NS}, "data": {"by": "k8s-auth-test"}}}


@pytest.fixture
def configmaps(lab):
    core = kube_core(lab)
    names = ["k8s-auth-env", "k8s-auth-defaults", "k8s-auth-readonly"]

    def clean():
        for n in names:
            try:
                core.delete_namespaced_config_map(n, NS)
            except Exception:  # absent
                pass
    clean()
    yield core
    clean()


def test_connection_from_k8s_auth_environment(lab, configmaps, tmp_path):
    api = lab["api"]
    env = {"K8S_AUTH_HOST": api["url"], "K8S_AUTH_API_KEY": api["tokens"]["admin"],
           "K8S_AUTH_SSL_CA_CERT": lab["ca_file"], "K8S_AUTH_VERIFY_SSL": "true"}
    r = _run(tmp_path, _play(tmp_path, "env", _configmap("k8s-auth-env")), env)
    assert r.returncode == 0, r.stdout[-4000:]
    assert configmaps.read_namespaced_config_map("k8s-auth-env", NS).data == {"by": "k8s-auth-test"}
    assert api["tokens"]["admin"] not in r.stdout
    # the token really comes from the environment: the read-only one is refused, with the API's reason
    env["K8S_AUTH_API_KEY"] = api["tokens"]["readonly"]
    r = _run(tmp_path, _play(tmp_path, "ro", _configmap("k8s-auth-readonly")), env)
    assert r.returncode != 0 and "403 Forbidden" in r.stdout, r.stdout[-4000:]
    assert api["tokens"]["readonly"] not in r.stdout


def test_connection_once_through_module_defaults(lab, configmaps, tmp_path):
    api = lab["api"]
    defaults = {"host": api["url"], "ca_file": lab["ca_file"], "api_key": "{{ okd_api_token }}"}
    pb = _play(tmp_path, "defaults", _configmap("k8s-auth-defaults"), module_defaults=defaults)
    r = _run(tmp_path, pb, {}, extra_vars={"okd_api_token": api["tokens"]["admin"]})
    assert r.returncode == 0, r.stdout[-4000:]
    assert configmaps.read_namespaced_config_map("k8s-auth-defaults", NS).data == {"by": "k8s-auth-test"}
    assert api["tokens"]["admin"] not in r.stdout


def test_no_connection_names_options_and_variables(lab, tmp_path):
    r = _run(tmp_path, _play(tmp_path, "none", _configmap("k8s-auth-none")), {})
    assert r.returncode != 0
    assert "no API connection given" in r.stdout and "K8S_AUTH_HOST" in r.stdout, r.stdout[-4000:]
