"""The namespace-wide re-import's pure parts (okd_image_import reimport_failed, issue 11): which tags of a
stream as the OKD 3.11 controller left it need an import (tag_import_decision), and each stream's outcome
(stream_outcome: fixed, failing with the registry's message, untouched, would_reimport)."""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from plugins.module_utils import k8s_images  # noqa: E402

RH = "registry.redhat.lab.test:5443"
OLD = "registry.access.redhat.lab.test:5451"
MSG = 'you may not have access to the Docker image "%s/rhscl/httpd-24-rhel7:latest"' % RH


def _installed_stream():
    """httpd as 3.11 leaves it after the first import without credentials: the spec tag's generation reset to
    0 then set to the stream's generation (2), the condition at that generation; `latest` an ImageStreamTag."""
    return {"metadata": {"name": "httpd", "generation": 2},
            "spec": {"tags": [{"name": "latest", "from": {"kind": "ImageStreamTag", "name": "2.4"}, "generation": 1},
                              {"name": "2.4", "from": {"kind": "DockerImage", "name": RH + "/rhscl/httpd-24-rhel7"},
                               "generation": 2}]},
            "status": {"tags": [{"tag": "2.4", "items": None, "conditions": [
                {"type": "ImportSuccess", "status": "False", "reason": "Unauthorized", "message": MSG,
                 "generation": 2}]}]}}


def test_a_tag_whose_first_import_failed_needs_an_import_with_the_registry_message():
    need, why = k8s_images.tag_import_decision(_installed_stream(), "2.4")
    assert need is True and why == "the last import failed: " + MSG


def test_a_tag_imported_after_its_failure_needs_nothing():
    s = _installed_stream()
    s["status"]["tags"][0] = {"tag": "2.4", "items": [{"image": "sha256:aa", "generation": 3,
                                                       "dockerImageReference": RH + "/rhscl/httpd-24-rhel7@sha256:aa"}]}
    s["spec"]["tags"][1]["generation"] = 3
    assert k8s_images.tag_import_decision(s, "2.4") == (False, "")


def test_an_old_registry_tag_imported_anonymously_needs_an_import_once_repointed():
    """mongodb:3.4 imported from the old registry; the repoint changes `from` (3.11 bumps the tag's generation)."""
    s = {"spec": {"tags": [{"name": "3.4", "from": {"kind": "DockerImage", "name": RH + "/rhscl/mongodb-34-rhel7:latest"},
                            "generation": 3}]},
         "status": {"tags": [{"tag": "3.4", "items": [{"image": "sha256:old", "generation": 1,
                                                       "dockerImageReference": OLD + "/rhscl/mongodb-34-rhel7@sha256:old"}]}]}}
    need, why = k8s_images.tag_import_decision(s, "3.4")
    assert need is True and why == "the spec tag changed since the last import"


def _tag(tag, imported, requested, message=""):
    return {"tag": tag, "from": "%s/r:%s" % (RH, tag), "imported": imported, "import_requested": requested,
            "message": message}


def test_outcome_fixed_when_every_requested_tag_imported():
    assert k8s_images.stream_outcome([_tag("2.4", True, True), _tag("2.2", True, False)]) == ("fixed", [])


def test_outcome_fixed_for_a_repointed_stream():
    assert k8s_images.stream_outcome([_tag("3.4", True, False)], repointed=["3.4"]) == ("fixed", [])


def test_outcome_failing_lists_each_tag_with_the_registry_message():
    out, failing = k8s_images.stream_outcome([_tag("9.6", False, True, MSG), _tag("10", True, True)])
    assert out == "failing"
    assert failing == [{"tag": "9.6", "from": "%s/r:9.6" % RH, "message": MSG}]


def test_outcome_untouched_when_nothing_was_needed():
    assert k8s_images.stream_outcome([_tag("2.4", True, False)]) == ("untouched", [])
    assert k8s_images.stream_outcome([]) == ("untouched", [])


def test_outcome_in_check_mode_never_claims_a_fix():
    out, failing = k8s_images.stream_outcome([_tag("2.4", False, True, MSG)], check_mode=True)
    assert out == "would_reimport" and failing[0]["message"] == MSG
    assert k8s_images.stream_outcome([_tag("2.4", True, False)], check_mode=True) == ("untouched", [])
    # a tag that is not imported and not to be imported stays failing, in check mode too
    assert k8s_images.stream_outcome([_tag("2.4", False, False, MSG)], check_mode=True)[0] == "failing"
