"""okd_resource's `definitions` and okd_resource_info against the lab API (issue 10: one module call per object
list). In a scratch namespace: check mode --diff sends no changing request and shows one diff per object with the
Secret's value hidden; the real run makes every object (read back with the official client); a re-run changes
nothing; a list whose middle object the API refuses fails naming that object, keeps what the objects before it
did and sends nothing for the ones after; okd_resource_info returns one list per query."""
import json
import os
import uuid

import pytest

import labtools

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
VALUE = "batch-test-value-" + uuid.uuid4().hex


def playbook(tmp_path, kubeconfig, ns, tasks):
    path = tmp_path / ("play-%s.yml" % uuid.uuid4().hex[:8])
    path.write_text(json.dumps([{
        "name": "okd_resource lists", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "module_defaults": {"okd.registry_toolkit.okd_resource": {"kubeconfig": kubeconfig},
                            "okd.registry_toolkit.okd_resource_info": {"kubeconfig": kubeconfig, "namespace": ns}},
        "tasks": tasks}]))
    return str(path)


def objects(ns, cm_value="one", secret_type="Opaque"):
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one", "namespace": ns,
                                                              "labels": {"batch": "yes"}}, "data": {"k": cm_value}},
        {"apiVersion": "v1", "kind": "Secret", "type": secret_type, "metadata": {"name": "two", "namespace": ns},
         "stringData": {"v": VALUE}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "three", "namespace": ns}, "data": {"k": "3"}},
    ]


def requests_since(log, offset, ns):
    with open(log) as f:
        f.seek(offset)
        recs = [json.loads(line) for line in f.read().splitlines() if line.strip()]
    return [(r["method"], r["path"]) for r in recs if ns in r["path"]]


@pytest.fixture(scope="module")
def core(lab):
    from kubernetes import client, config
    api = client.CoreV1Api(config.new_client_from_config(config_file=lab["api"]["kubeconfig"]))
    yield api
    for ns in getattr(api, "_scratch", []):
        try:
            api.delete_namespace(ns)
        except Exception:
            pass


def test_object_list_check_apply_rerun_and_failure(lab, core, tmp_path):
    ns = "okd-batch-" + uuid.uuid4().hex[:8]
    core._scratch = [ns]
    kube, log = lab["api"]["kubeconfig"], lab["api"]["request_log"]
    apply = [{"name": "objects", "okd.registry_toolkit.okd_resource": {"definitions": objects(ns)}}]

    off = os.path.getsize(log)
    rc, out = labtools.run_playbook(playbook(tmp_path, kube, ns, apply), "--check", "--diff")
    assert rc == 0 and labtools.recap(out)["changed"] == 1, out[-4000:]
    assert [m for m, _ in requests_since(log, off, ns) if m in CHANGING] == []
    for header in ("Namespace %s" % ns, "ConfigMap %s/one" % ns, "Secret %s/two" % ns, "ConfigMap %s/three" % ns):
        assert header in out, out[-4000:]          # one diff per object
    assert VALUE not in out

    rc, out = labtools.run_playbook(playbook(tmp_path, kube, ns, apply), "-v", "--diff")
    assert rc == 0 and labtools.recap(out)["changed"] == 1, out[-4000:]
    assert VALUE not in out
    assert core.read_namespaced_config_map("one", ns).data == {"k": "one"}
    assert core.read_namespaced_config_map("three", ns).data == {"k": "3"}
    import base64
    assert base64.b64decode(core.read_namespaced_secret("two", ns).data["v"]).decode() == VALUE

    off = os.path.getsize(log)
    rc, out = labtools.run_playbook(playbook(tmp_path, kube, ns, apply))
    assert rc == 0 and labtools.recap(out)["changed"] == 0, out[-4000:]
    reqs = requests_since(log, off, ns)
    assert len(reqs) == 4 and [m for m, _ in reqs if m in CHANGING] == []

    # the Secret's type cannot change (3.11 refuses it): the first ConfigMap changes, the list stops at the Secret
    core.delete_namespaced_config_map("three", ns)
    bad = objects(ns, cm_value="changed", secret_type="kubernetes.io/dockercfg")
    off = os.path.getsize(log)
    rc, out = labtools.run_playbook(playbook(tmp_path, kube, ns, [
        {"name": "objects", "okd.registry_toolkit.okd_resource": {"definitions": bad}}]), "-v")
    flat = " ".join(out.split())
    assert rc != 0 and ("Secret %s/two:" % ns) in flat and "immutable" in flat, out[-4000:]
    assert "ConfigMap %s/one" % ns in flat        # the objects done before it are in the result
    assert core.read_namespaced_config_map("one", ns).data == {"k": "changed"}
    assert ("POST", "/api/v1/namespaces/%s/configmaps" % ns) not in requests_since(log, off, ns)
    assert VALUE not in out


def test_resource_info_one_list_per_query(lab, core, tmp_path):
    ns = "okd-batchinfo-" + uuid.uuid4().hex[:8]
    core._scratch = getattr(core, "_scratch", []) + [ns]
    kube = lab["api"]["kubeconfig"]
    tasks = [
        {"name": "objects", "okd.registry_toolkit.okd_resource": {"definitions": objects(ns)[:2]}},
        {"name": "read", "register": "got", "okd.registry_toolkit.okd_resource_info": {"queries": [
            {"kind": "ConfigMap", "name": "one"},
            {"kind": "ConfigMap", "name": "missing"},
            {"kind": "ConfigMap", "label_selectors": ["batch=yes"]},
            {"kind": "ConfigMap", "label_selectors": ["batch=no"]},
            {"kind": "Namespace", "name": ns}]}},
        {"name": "what was read", "ansible.builtin.copy": {
            "content": "{{ got.resources | map('map', attribute='metadata.name') | map('list') | list | to_json }}",
            "dest": str(tmp_path / "read.json")}},
    ]
    rc, out = labtools.run_playbook(playbook(tmp_path, kube, ns, tasks))
    assert rc == 0, out[-4000:]
    assert json.loads((tmp_path / "read.json").read_text()) == [["one"], [], ["one"], [], [ns]]
