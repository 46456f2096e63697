"""ensure_object and a concurrent writer: a 409 Conflict on the guarded PATCH (a controller wrote the object,
e.g. a DeploymentConfig's status, between the read and the patch) is answered like kubectl apply does - read
again, decide again, patch with the new resourceVersion - a bounded number of times; a resourceVersion the
caller gave stays a precondition (its conflict is returned). Judged by a fake API that records requests."""
import copy

import pytest

from plugins.module_utils import k8s_client
from plugins.module_utils.errors import ToolkitError


class RacingAPI(object):
    """One DeploymentConfig; the first `races` PATCHes lose to a controller's status write."""

    def __init__(self, races):
        self.obj = {"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
                    "metadata": {"name": "docker-registry", "namespace": "default", "resourceVersion": "1"},
                    "spec": {"replicas": 1}, "status": {"availableReplicas": 0}}
        self.races, self.requests = races, []

    def _bump(self):
        self.obj["metadata"]["resourceVersion"] = str(int(self.obj["metadata"]["resourceVersion"]) + 1)

    def get(self, path):
        self.requests.append(("GET", None))
        return copy.deepcopy(self.obj)

    def patch(self, path, patch):
        self.requests.append(("PATCH", patch["metadata"].get("resourceVersion")))
        if self.races:
            self.races -= 1
            self.obj["status"]["availableReplicas"] += 1      # the controller's write wins
            self._bump()
        if patch["metadata"].get("resourceVersion") != self.obj["metadata"]["resourceVersion"]:
            raise ToolkitError("Operation cannot be fulfilled: the object has been modified", status=409)
        self.obj["spec"].update(patch.get("spec") or {})
        self._bump()
        return copy.deepcopy(self.obj)


DESIRED = {"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
           "metadata": {"name": "docker-registry", "namespace": "default"}, "spec": {"replicas": 2}}


def test_conflict_is_read_again_and_patched_with_the_new_version():
    api = RacingAPI(races=2)
    res = k8s_client.ensure_object(api, copy.deepcopy(DESIRED))
    assert res["changed"] and api.obj["spec"]["replicas"] == 2
    # each PATCH carried the version of the read just before it; the third one won
    assert api.requests == [("GET", None), ("PATCH", "1"), ("GET", None), ("PATCH", "2"), ("GET", None),
                            ("PATCH", "3")]
    assert api.obj["status"]["availableReplicas"] == 2      # the controller's writes were not overwritten


def test_conflicts_without_end_fail_after_the_bounded_retries():
    api = RacingAPI(races=100)
    with pytest.raises(ToolkitError) as e:
        k8s_client.ensure_object(api, copy.deepcopy(DESIRED))
    assert e.value.status == 409
    assert [m for m, _ in api.requests].count("PATCH") == k8s_client.CONFLICT_RETRIES + 1


def test_a_resource_version_the_caller_gave_is_a_precondition():
    api = RacingAPI(races=1)
    desired = copy.deepcopy(DESIRED)
    desired["metadata"]["resourceVersion"] = "1"
    with pytest.raises(ToolkitError) as e:
        k8s_client.ensure_object(api, desired)
    assert e.value.status == 409 and api.requests == [("GET", None), ("PATCH", "1")]
    assert api.obj["spec"]["replicas"] == 1
