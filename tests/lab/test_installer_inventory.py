"""openshift-ansible 3.11 inventories, unchanged (issue 12; docs/openshift-ansible.md, docs/variables.md).

The lab writes inventory/lab/openshift-ansible.ini at `up`: the installer's INI layout ([OSEv3:children],
[masters], [nodes], [etcd], [OSEv3:vars]) with only the installer's registry variables (oreg_url,
oreg_auth_user/_password, oreg_test_login, openshift_additional_registry_credentials, openshift_release,
openshift_hosted_*) and Ansible's connection variables, every registry a lab host. The lab's own settings
(okd_lab, okd_lab_status_file, okd_registry_ca_file) are not in it but in group_vars/OSEv3.yml beside it,
which Ansible reads with the INI file (as a user's group_vars would add okd_registry_ca_file). Proven here:

- the INI's [OSEv3:vars] are only installer (oreg_*, openshift_*) and ansible_* variables, no okd_* name is
  in the file, and group_vars/OSEv3.yml beside it (0600) holds the lab settings (and the lab's old registry, which
  stands for the default registry.access.redhat.com);

- the mapping play (playbooks/installer_vars.yml) turns them into exactly the toolkit inventory's
  okd_registries (hosts, users, passwords, test images) and the integrated registry's image, with no
  warning for the lab's service account; a web user (labuser) gets the seed's "not supported for
  production deployments" warning, without any password in the output;
- site.yml run with the INI file and the toolkit's own playbooks run afterwards with the toolkit's
  inventory change nothing: the same config.json bytes on every host, the same secrets in the API
  (imagestreamsecret, lab-apps/quay-pull); a node whose file was removed first gets it back;
- a password with quotes, $, |, a backtick, spaces and non-ASCII characters (the installer's shell-based
  login test broke on these) is written and verified: a lab account with such a password is added to the
  Quay realm's accounts file for the test (the realm re-reads it on every request) and removed after it;
  skopeo on the node pulls with the file the play wrote; the node is restored afterwards (the user's copy
  of the INI gets the lab's group_vars/ beside it, as the lab's INI has);
- pyinfra reads the INI (its reader reads that file only: the lab CA is given with `--data`).
"""
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path

import pytest
import yaml

from labtools import lab_secrets, recap, run_playbook

REPO = Path(__file__).resolve().parents[2]
CONFIG = "/var/lib/origin/.docker/config.json"
SECRETS = (("openshift", "imagestreamsecret"), ("lab-apps", "quay-pull"))


@pytest.fixture(scope="module")
def ini(lab):
    path = Path((lab.get("inventory") or {}).get("openshift_ansible")
                or REPO / "inventory" / "lab" / "openshift-ansible.ini")
    assert path.is_file(), "%s missing: run `python -m lab up` (lab/inventory.py writes it)" % path
    return path


def toolkit_vars(lab):
    with open(lab["inventory"]["ansible"]) as f:
        return yaml.safe_load(f)["all"]["children"]["OSEv3"]["vars"]


def private_json(path, data):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    return "@%s" % path


def no_secret_in(out, lab, extra=()):
    for s in set(lab_secrets(lab)) | set(extra):
        assert s not in out, "a lab secret appears in the output"


def host_sha256(lab_exec, hosts):
    """{host: sha256 of its config.json bytes} (None when absent), computed inside each host."""
    out = {}
    for h in hosts:
        r = lab_exec(h, "sha256sum %s 2>/dev/null || true" % CONFIG)
        out[h] = r.stdout.split()[0] if r.stdout.strip() else None
    return out


def api_secrets(lab):
    """{namespace/name: sha256 of its decoded .dockerconfigjson} (None when absent)."""
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException
    core = client.CoreV1Api(config.new_client_from_config(config_file=lab["api"]["kubeconfig"]))
    out = {}
    for ns, name in SECRETS:
        try:
            s = core.read_namespaced_secret(name, ns)
            out[ns + "/" + name] = hashlib.sha256(base64.b64decode(s.data[".dockerconfigjson"])).hexdigest()
        except ApiException as e:
            if e.status != 404:
                raise
            out[ns + "/" + name] = None
    return out


def test_the_ini_holds_installer_variables_only(lab, ini):
    text = ini.read_text()
    keys = [line.split("=", 1)[0] for line in text.split("[OSEv3:vars]", 1)[1].splitlines()
            if "=" in line and not line.startswith("#")]
    assert "oreg_url" in keys and "ansible_user" in keys, keys
    others = [k for k in keys if not k.startswith(("oreg_", "openshift_", "ansible_"))]
    assert not others, "not installer or connection variables in the INI: %s" % others
    assert not [line for line in text.splitlines() if "okd_" in line and not line.startswith("#")]
    gv = ini.parent / "group_vars" / "OSEv3.yml"
    assert oct(gv.stat().st_mode & 0o777) == "0o600"
    assert yaml.safe_load(gv.read_text()) == {
        "okd_lab": True, "okd_lab_status_file": os.path.join(lab["state_dir"], "status.json"),
        "okd_registry_ca_file": lab["ca_file"], "okd_old_registries": [lab["old_registry"]["host"]]}


def test_the_ini_maps_to_the_toolkit_inventorys_variables(lab, ini, tmp_path):
    text = ini.read_text()
    assert oct(ini.stat().st_mode & 0o777) == "0o600"
    for section in ("[OSEv3:children]", "[masters]", "[nodes]", "[etcd]", "[OSEv3:vars]"):
        assert section in text
    assert "okd_registries" not in text and "oreg_url=" in text
    tv = toolkit_vars(lab)
    redhat = [r for r in tv["okd_registries"] if r["name"] == "redhat"][0]
    expect = private_json(tmp_path / "expect.json", {
        "__expected_registries": tv["okd_registries"],
        "__expected_image": redhat["host"] + "/openshift3/ose-docker-registry:v3.11"})
    pb = tmp_path / "check.yml"
    pb.write_text("""
- ansible.builtin.import_playbook: %s/playbooks/installer_vars.yml
- hosts: OSEv3
  gather_facts: false
  tasks:
    - ansible.builtin.assert:
        that:
          - okd_registries == __expected_registries
          - okd_integrated_registry_image == __expected_image
          - "okd_integrated_registry_node_selector == {'node-role.kubernetes.io/infra': 'true'}"
          - okd_integrated_registry_route_termination == 'passthrough'
          - okd_integrated_registry_replicas == 1
          - okd_integrated_registry_manage
          - registry_credentials_verify_controller
        quiet: true
      no_log: true
""" % REPO)
    rc, out = run_playbook(str(pb), "-i", str(ini), "-e", expect)
    assert rc == 0, out[-3000:]
    assert recap(out)["failed"] == 0
    assert "[WARNING]" not in out, out[-3000:]
    no_secret_in(out, lab)

    # a web user on a production cluster: the seed's wording, named, no password shown
    rc, out = run_playbook(str(REPO / "playbooks" / "installer_vars.yml"), "-i", str(ini),
                           "-e", "oreg_auth_user=labuser")
    assert rc == 0, out[-3000:]
    assert "oreg_auth_user 'labuser' is not a registry service account" in out
    assert "not supported for production deployments" in out
    no_secret_in(out, lab)


def test_site_yml_with_the_ini_gives_the_same_end_state(lab, lab_exec, ini, tmp_path):
    hosts = [h["name"] for h in lab["hosts"]]
    node = [h["name"] for h in lab["hosts"] if h["groups"] == ["nodes"]][0]
    lab_exec(node, "rm -f %s" % CONFIG)
    assert host_sha256(lab_exec, [node])[node] is None

    rc, out = run_playbook("site.yml", "-i", str(ini),
                           "-e", "registry_compliance_report_path=%s" % (tmp_path / "report.json"))
    (tmp_path / "site.log").write_text(out)
    assert rc == 0, out[-4000:]
    no_secret_in(out, lab)
    files, api = host_sha256(lab_exec, hosts), api_secrets(lab)
    assert files[node] is not None, "site.yml with the INI inventory did not write %s on %s" % (CONFIG, node)
    assert None not in files.values() and None not in api.values(), (files, api)

    # the toolkit's own inventory finds nothing to change, byte for byte
    pb = tmp_path / "toolkit.yml"
    pb.write_text("- ansible.builtin.import_playbook: %s/playbooks/registry_credentials.yml\n"
                  "- ansible.builtin.import_playbook: %s/playbooks/cluster_registry_secrets.yml\n" % (REPO, REPO))
    rc, out = run_playbook(str(pb), "--diff")
    assert rc == 0, out[-4000:]
    changed_tasks = re.findall(r"^TASK \[([^\]]*)\][^\n]*\n(?:[^\n]*\n)*?changed: \[([^\]]*)\]", out, re.M)
    assert recap(out)["changed"] == 0, "changed with the toolkit inventory: %s\n%s" % (changed_tasks, out[-6000:])
    assert host_sha256(lab_exec, hosts) == files
    assert api_secrets(lab) == api


def test_a_password_that_broke_the_installers_shell_works(lab, lab_exec, ini, tmp_path):
    """Quotes, $, |, a backtick, spaces and non-ASCII in a Quay robot password, from the INI inventory."""
    trap = "q'uo\"te $HOME | `id` sp ace \u00fc\u20ac " + secrets.token_hex(8)
    node = [h["name"] for h in lab["hosts"] if h["groups"] == ["nodes"]][0]
    accounts_file = Path(lab["state_dir"]) / "registries" / "quay" / "accounts.json"
    original = accounts_file.read_bytes()
    doc = json.loads(original)
    robot = [a for a in doc["accounts"] if a["username"] == "laborg+robot"][0]
    doc["accounts"].append(dict(robot, username="laborg+trap", password=trap, kind="trap"))
    # the INI as a user writes it: the additional registry's password is the trap
    text = ini.read_text().splitlines()
    extra = [i for i, line in enumerate(text) if line.startswith("openshift_additional_registry_credentials=")][0]
    q = [r for r in toolkit_vars(lab)["okd_registries"] if r["name"] == "quay"][0]
    text[extra] = "openshift_additional_registry_credentials=" + repr(
        [{"host": q["host"], "user": "laborg+trap", "password": trap, "test_image": q["test_image"]}])
    trap_ini = tmp_path / "trap.ini"
    shutil.copytree(str(ini.parent / "group_vars"), str(tmp_path / "group_vars"))
    fd = os.open(str(trap_ini), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(text) + "\n")
    want = base64.b64encode(("laborg+trap:" + trap).encode("utf-8")).decode()
    try:
        fd = os.open(str(accounts_file), os.O_WRONLY | os.O_TRUNC)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        rc, out = run_playbook("playbooks/registry_credentials.yml", "-i", str(trap_ini), "--limit", node)
        assert rc == 0, out[-4000:]
        no_secret_in(out, lab, extra=(trap, want))
        # the file holds exactly that credential (compared inside the host, nothing printed)
        check = ("python3 -c \"import json,sys; a=json.load(open(sys.argv[1]))['auths'][sys.argv[2]]['auth'];"
                 " print('same' if a == sys.stdin.read().strip() else 'different')\" %s %s" % (CONFIG, q["host"]))
        assert lab_exec(node, check, input=want).stdout.strip() == "same"
        # a real client on the node pulls with that file
        r = lab_exec(node, "skopeo inspect --authfile %s docker://%s/%s" % (CONFIG, q["host"], q["test_image"]),
                     check=False)
        assert r.returncode == 0, r.stderr[-2000:]
        assert json.loads(r.stdout)["Digest"] == lab["registries"]["quay"]["digests"][q["test_image"]]
    finally:
        accounts_file.write_bytes(original)
        # the node back to the lab's robot account
        rc, out = run_playbook("playbooks/registry_credentials.yml", "--limit", node)
        assert rc == 0, out[-4000:]


def test_updates_registry_auth_runs_the_toolkits_rotation(lab, lab_exec, ini, tmp_path):
    """The installer's rotation entry point, with the installer's inventory: the toolkit's rotation (every
    host named in the 0600 report, the removed file of a node restored) and the cluster secrets, which end
    as the toolkit inventory has them."""
    hosts = [h["name"] for h in lab["hosts"]]
    node = [h["name"] for h in lab["hosts"] if h["groups"] == ["nodes"]][-1]
    lab_exec(node, "rm -f %s" % CONFIG)
    report = tmp_path / "rotation.json"
    rc, out = run_playbook("playbooks/updates/registry_auth.yml", "-i", str(ini),
                           "-e", "registry_credentials_rotate_report_path=%s" % report)
    assert rc == 0, out[-4000:]
    no_secret_in(out, lab)
    assert oct(report.stat().st_mode & 0o777) == "0o600"
    doc = json.loads(report.read_text())
    status = {h: doc["hosts"][h]["status"] for h in hosts} if isinstance(doc.get("hosts"), dict) else \
        {e["host"]: e["status"] for e in doc["hosts"]}
    assert status[node] == "updated", status
    assert set(status.values()) <= {"updated", "unchanged"}, status
    assert sorted(status) == sorted(hosts)
    assert "PLAY [Cluster registry secrets]" in out
    files, api = host_sha256(lab_exec, hosts), api_secrets(lab)
    assert None not in files.values() and None not in api.values()
    # the toolkit's own inventory agrees with what the installer inventory left
    rc, out = run_playbook("playbooks/cluster_registry_secrets.yml", "--check")
    assert rc == 0 and recap(out)["changed"] == 0, out[-4000:]


def test_pyinfra_reads_the_same_ini(lab, lab_exec, ini):
    """pyinfra_deploys/installer_inventory.py: the deploy run with the INI file rewrites a node's removed
    file byte for byte as the toolkit's inventory had it. The reader reads the INI only (no group_vars/):
    the lab CA, which the controller's verification needs, is given as pyinfra data on the command line."""
    import subprocess
    node = [h for h in lab["hosts"] if h["groups"] == ["nodes"]][1]
    before = host_sha256(lab_exec, [node["name"]])[node["name"]]
    assert before is not None
    lab_exec(node["name"], "rm -f %s" % CONFIG)
    env = dict(os.environ, OKD_INSTALLER_INVENTORY=str(ini), PYTHONUNBUFFERED="1", NO_COLOR="1")
    r = subprocess.run([str(REPO / ".venv" / "bin" / "pyinfra"), "pyinfra_deploys/installer_inventory.py",
                        "pyinfra_deploys/registry_credentials.py", "-y", "--limit", node["address"],
                        "--data", "okd_registry_ca_file=%s" % lab["ca_file"]],
                       cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:]
    # pyinfra exits 0 when --limit matches no host of the inventory: the run must have reached the node
    assert "[%s] Connected" % node["address"] in r.stdout, r.stdout[-4000:]
    no_secret_in(r.stdout, lab)
    assert host_sha256(lab_exec, [node["name"]])[node["name"]] == before, r.stdout[-4000:]
