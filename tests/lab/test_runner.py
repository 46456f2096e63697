"""site.yml through ansible-runner, the engine AWX/AAP jobs run on (docs/installing.md): a private data dir
with inventory/, env/extravars and env/envvars, the API connection given as K8S_AUTH_* variables (what AWX's
OpenShift/Kubernetes credential injects) and the collection from its installed tarball. The end state is
read back from the lab, and no lab secret (registry passwords, their base64 forms, the API tokens) appears
anywhere in the runner's artifacts: job events, stdout, command, env-derived files.

To show the connection really comes from the variables, the first master's admin.kubeconfig (which the
roles fetch when okd_kubeconfig is unset) holds a token the API refuses while the job runs; it is put back
afterwards.
"""
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from installtools import assert_end_state, installed_collection, undo_end_state
from labtools import lab_secrets

MASTER_KUBECONFIG = "/etc/origin/master/admin.kubeconfig"


@pytest.fixture
def stale_master_kubeconfig(lab_exec):
    """The master's admin.kubeconfig with a refused token for the duration of the test (restored after)."""
    lab_exec("master1", "cp -p {0} {0}.runner-test && sed -i 's/^\\( *token:\\).*/\\1 not-a-valid-token/' {0}"
             .format(MASTER_KUBECONFIG))
    try:
        yield
    finally:
        lab_exec("master1", "mv -f {0}.runner-test {0}".format(MASTER_KUBECONFIG))


def _private_data_dir(tmp_path, lab, collections):
    d = tmp_path / "job"
    for sub in ("inventory", "env", "project"):
        (d / sub).mkdir(parents=True)
    os.chmod(str(d), 0o700)
    shutil.copy(lab["inventory"]["ansible"], str(d / "inventory" / "hosts.yml"))
    (d / "project" / "site.yml").write_text(
        "---\n- name: okd-registry-toolkit\n  ansible.builtin.import_playbook: okd.registry_toolkit.site\n")
    api = lab["api"]
    envvars = {
        # AWX's OpenShift or Kubernetes API Bearer Token credential
        "K8S_AUTH_HOST": api["url"], "K8S_AUTH_API_KEY": api["tokens"]["admin"],
        "K8S_AUTH_VERIFY_SSL": "True", "K8S_AUTH_SSL_CA_CERT": lab["ca_file"],
        # the project's collections (AWX installs collections/requirements.yml there)
        "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
    }
    (d / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    (d / "env" / "extravars").write_text(yaml.safe_dump({"registry_compliance_report_path":
                                                         str(tmp_path / "compliance-report.json")}))
    for f in ("envvars", "extravars"):
        os.chmod(str(d / "env" / f), 0o600)
    return d


def test_site_through_ansible_runner(lab, lab_exec, tmp_path, monkeypatch, stale_master_kubeconfig):
    import ansible_runner
    coll, _, _ = installed_collection()
    # a runner worker's environment: none of this test session's ANSIBLE_* (make test exports the
    # checkout's ANSIBLE_CONFIG)
    for k in list(os.environ):
        if k.startswith(("ANSIBLE_", "K8S_AUTH_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    # runner starts `ansible-playbook` from PATH: this venv's
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    undo_end_state(lab, lab_exec, ["node1"])
    d = _private_data_dir(tmp_path, lab, coll)
    r = ansible_runner.run(private_data_dir=str(d), playbook="site.yml", quiet=True, ident="site")
    stdout = (d / "artifacts" / "site" / "stdout").read_text()
    assert (r.status, r.rc) == ("successful", 0), stdout[-8000:]
    assert r.stats["failures"] == {} and r.stats["dark"] == {}, r.stats
    assert_end_state(lab, lab_exec, ["master1", "node1", "node2", "node3"])
    assert (tmp_path / "compliance-report.json").is_file()

    # No lab secret anywhere in the artifacts (job events, stdout, status, fact cache ...), with one
    # exception by ansible-runner's design: artifacts/<ident>/command records the job's environment
    # (mode 0600, in the 0700 private data dir; AWX removes the dir after the job), so the API token
    # given as K8S_AUTH_API_KEY is there - and only there, and only in its `env`. Registry secrets are
    # nowhere, not even there. Names of leaking files only: a secret must not reach the test log either.
    api_token = lab["api"]["tokens"]["admin"]
    secrets = lab_secrets(lab, api_tokens=True)
    files = [p for p in (d / "artifacts").rglob("*") if p.is_file()]
    assert any(p.parent.name == "job_events" for p in files) and stdout
    command = d / "artifacts" / "site" / "command"
    leaks = []
    for p in files:
        text = p.read_bytes().decode("utf-8", "replace")
        for s in secrets:
            if s in text and not (p == command and s == api_token):
                leaks.append(str(p.relative_to(d)))
    assert not leaks, "lab secrets in runner artifacts: %s" % sorted(set(leaks))
    assert oct(command.stat().st_mode & 0o777) == "0o600"
    recorded = json.loads(command.read_text())
    assert recorded["env"]["K8S_AUTH_API_KEY"] == api_token
    del recorded["env"]["K8S_AUTH_API_KEY"]
    assert api_token not in json.dumps(recorded)
    events = list(r.events)
    assert any(e.get("event") == "playbook_on_stats" for e in events)
    assert not [e.get("event") for e in events if any(s in json.dumps(e) for s in secrets)]
