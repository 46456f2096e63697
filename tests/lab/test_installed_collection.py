"""The collection as users get it (docs/installing.md, "Galaxy tarball"): built, installed offline with its
dependencies into an empty collections path, and `ansible-playbook okd.registry_toolkit.site` run from a
directory outside the checkout - no repository ansible.cfg, no roles_path, no `ansible` package
collections - against the lab. The end state is read back from the lab: a node's config.json written
anew, the imagestreamsecret re-created in the API.
"""
import json
import tarfile

import pytest

from installtools import (DEPENDENCIES, ansible_playbook, assert_end_state, imagestreamsecret_users,
                          installed_collection, node_users, undo_end_state, REPO)
from labtools import recap


def test_install_resolves_the_dependencies_offline(tmp_path):
    coll, tarball, _ = installed_collection()
    root = coll / "ansible_collections"
    with tarfile.open(str(tarball)) as t:
        manifest = json.load(t.extractfile("MANIFEST.json"))
    deps = manifest["collection_info"]["dependencies"]
    assert sorted(deps) == sorted(d.replace("/", ".") for d in DEPENDENCIES), deps
    for d in DEPENDENCIES:
        assert (root / d / "MANIFEST.json").is_file(), d
    installed = root / "okd" / "registry_toolkit"
    assert (installed / "plugins/modules/okd_htpasswd_content.py").is_file()
    assert not list(installed.glob("roles/*/library")), "collection roles cannot use a role library/"
    assert not (installed / "ansible.cfg").exists()


@pytest.fixture
def outside(tmp_path):
    """A directory of the user's own, outside the checkout, with no ansible.cfg."""
    d = tmp_path / "ops"
    d.mkdir()
    assert REPO not in d.parents
    return d


def test_site_from_the_installed_collection(lab, lab_exec, outside):
    coll, _, _ = installed_collection()
    undo_end_state(lab, lab_exec, ["node2"])
    assert node_users(lab_exec, "node2") == (None, None)
    assert imagestreamsecret_users(lab) is None
    rc, out = ansible_playbook(coll, outside, "-i", lab["inventory"]["ansible"], "okd.registry_toolkit.site")
    assert rc == 0, out[-8000:]
    assert recap(out).get("failed", 0) == 0
    assert_end_state(lab, lab_exec, ["master1", "node1", "node2", "node3"])
