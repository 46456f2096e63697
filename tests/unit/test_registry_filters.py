"""The registry-entry filters (plugins/filter/registry_entries.py, compliance.py) on the core's model."""
import pytest
from ansible.errors import AnsibleFilterError

from plugins.filter.compliance import registry_expectation
from plugins.filter.registry_entries import (registry_entries, registry_entry_problems, registry_keys,
                                             registry_test_images)

REGS = [
    {"name": "orga", "host": "Quay.io/orga", "username": "orga+robot", "password": "pw-a", "test_image": "orga/app:1"},
    {"name": "orgb", "registry": "quay.io/orgb", "username": "orgb+robot", "password": "pw-b", "email": "b@x.test"},
    {"name": "hub", "host": "docker.io", "username": "h", "password": "pw-h", "test_image": "busybox"},
]


def test_entries_keys_and_test_images():
    assert registry_entries(REGS, ["https://quay.io/v1/", "QUAY.io/orgb"]) == [
        {"registry": "quay.io/orga", "username": "orga+robot", "password": "pw-a"},
        {"registry": "https://index.docker.io/v1/", "username": "h", "password": "pw-h"}]
    assert registry_entries(REGS)[1] == {"registry": "quay.io/orgb", "username": "orgb+robot", "password": "pw-b",
                                         "email": "b@x.test"}
    assert registry_keys(["https://quay.io/v1/", "quay.io", "docker.io", {"host": "quay.io/orga"}]) == [
        "quay.io", "https://index.docker.io/v1/", "quay.io/orga"]
    assert registry_test_images(REGS, {"https://quay.io/orgb": "x/y:1", "index.docker.io": "library/alpine"}) == {
        "quay.io/orga": "orga/app:1", "https://index.docker.io/v1/": "library/alpine", "quay.io": "x/y:1"}
    assert registry_expectation(REGS[0]) == {"registry": "quay.io/orga", "username": "orga+robot",
                                             "password": "pw-a", "test_image": "orga/app:1"}


def test_problems_name_the_entry_never_the_password():
    bad = [{"name": "a", "host": "quay.io/Org", "username": "u", "password": "SECRET-1"},
           {"name": "b", "registry": "quay.io/x", "host": "quay.io/y", "username": "u", "password": "SECRET-2"},
           {"name": "c", "username": "u", "password": "SECRET-3"},
           {"name": "d", "host": "q.test"}, "not a mapping"]
    problems = registry_entry_problems(bad)
    text = "; ".join(problems)
    assert "registry #1 (a): invalid registry key" in text and "must be lower-case" in text
    assert "registry #2 (b) gives registry quay.io/x and host quay.io/y" in text
    assert "registry #3 (c) has no registry (or host)" in text
    assert "registry #4 (d) has no username" in text and "registry #4 (d) has no password" in text
    assert "registry #5 (?) is not a mapping" in text
    assert "SECRET" not in text
    assert registry_entry_problems(REGS) == []
    assert registry_entry_problems("x") and registry_entry_problems({"a": 1})
    with pytest.raises(AnsibleFilterError, match="invalid registry key"):
        registry_entries(bad[:1])
