# Unit tests of the "$patch: delete" item of merge-keyed lists in plugins/module_utils/k8s.py (how
# okd_integrated_registry removes an env entry it set earlier and no longer wants, leaving the others).
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from plugins.module_utils import k8s  # noqa: E402


def dc(env):
    return {"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
            "metadata": {"name": "docker-registry", "namespace": "default", "resourceVersion": "7"},
            "spec": {"template": {"spec": {"containers": [{"name": "registry", "image": "r", "env": env}]}}}}


LIVE = dc([{"name": "A", "value": "1"}, {"name": "OTHER", "value": "x"}, {"name": "OLD", "value": "2"}])


def test_delete_item_removes_only_that_entry():
    desired = dc([{"name": "A", "value": "1"}, {"name": "OLD", "$patch": "delete"}])
    needs, patch = k8s.compare(desired, LIVE)
    assert needs
    env = patch["spec"]["template"]["spec"]["containers"][0]["env"]
    # the other writer's OTHER stays, OLD goes, the directive itself is never sent
    assert env == [{"name": "A", "value": "1"}, {"name": "OTHER", "value": "x"}]
    after = k8s.apply_patch(LIVE, patch)
    assert k8s.compare(desired, after) == (False, {})


def test_delete_item_of_an_absent_entry_is_no_change():
    desired = dc([{"name": "A", "value": "1"}, {"name": "GONE", "$patch": "delete"}])
    assert k8s.compare(desired, LIVE) == (False, {})


def test_delete_items_only_against_no_list_is_no_change_and_create_drops_them():
    live = dc(None)
    live["spec"]["template"]["spec"]["containers"][0].pop("env")
    desired = dc([{"name": "GONE", "$patch": "delete"}])
    assert k8s.compare(desired, live) == (False, {})
    body = k8s.strip_none(dc([{"name": "A", "value": "1"}, {"name": "GONE", "$patch": "delete"}]))
    assert body["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
