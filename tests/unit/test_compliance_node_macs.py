# -*- coding: utf-8 -*-
"""Node files compared as HMACs (issue 10: no slurp round trip in compliance): the host check module returns, per
entry, the user and HMAC-SHA256(run key, user NUL password) (compliance.node_file_macs); the controller's
comparisons (cluster_compliance.check_nodes_against_master, check_imagestreamsecret with mac_key) give exactly the
results - statuses and messages - they give on the files' text, and no credential is in what a host returns."""
import base64
import json

import pytest

from plugins.module_utils import cluster_compliance as cc
from plugins.module_utils import compliance
from plugins.module_utils import dockercfg

REG = "registry.redhat.io"
QUAY = "quay.io"
KEY = "k" * 43


def _file(entries, extra=None):
    cfg, _ = dockercfg.set_auths({}, [{"registry": r, "username": u, "password": p} for r, u, p in entries])
    if extra:
        cfg["auths"].update(extra)
    return dockercfg.render_config(cfg)


def _secret(entries):
    return {"type": cc.DOCKERCONFIGJSON, "data": {".dockerconfigjson": base64.b64encode(_file(entries).encode()).decode()}}


MASTER = _file([(REG, "12345678|okd", "tok-1"), (QUAY, "org+robot", "q-1"), ("quay.io/orga", "a+robot", "qa-1")])
NODES = {
    "master1": MASTER,
    "node1": MASTER,
    "node2": _file([(REG, "12345678|other", "tok-2"), ("quay.io/orga", "a+robot", "qa-1")]),  # other SA, no quay.io
    "node3": _file([(REG, "12345678|okd", "tok-OLD"), (QUAY, "org+robot", "q-1"), ("quay.io/orga", "a+robot", "qa-1")]),
    # two spellings of one registry: the exact key wins, as get_credentials looks it up
    "node4": _file([(QUAY, "org+robot", "q-1"), ("quay.io/orga", "a+robot", "qa-1")],
                   extra={"https://registry.redhat.io/v1/": {"auth": base64.b64encode(b"12345678|okd:wrong").decode()},
                          REG: {"auth": base64.b64encode(b"12345678|okd:tok-1").decode()}}),
    "node8": _file([(REG, "12345678|okd", "tok-1")], extra={"broken.example": {"auth": "%%%"}}),  # invalid entry
    "node5": "{\"auths\": {",                      # invalid JSON: the parser's message, named node5:config.json
    "node6": None,                                 # missing / unreadable / unreachable
    "node7": compliance.NOT_TEXT,                  # not UTF-8
}


def _macs(nodes, key=KEY):
    return dict((h, compliance.node_file_macs(c, key, h)) for h, c in nodes.items())


def test_nodes_against_master_same_results_as_on_the_text():
    plain = cc.check_nodes_against_master("master1", NODES)
    macs = cc.check_nodes_against_master("master1", _macs(NODES))
    assert macs == plain
    by = dict(((r["host"], r.get("registry")), r["status"]) for r in plain)
    assert by[("node1", REG)] == "pass" and by[("node2", REG)] == "fail" and by[("node2", QUAY)] == "fail"
    assert by[("node3", REG)] == "fail" and by[("node3", QUAY)] == "pass" and by[("node4", REG)] == "pass"
    assert by[("node5", None)] == by[("node6", None)] == by[("node7", None)] == by[("node8", None)] == "fail"
    # an unreachable host (nothing returned) reads as before: missing or unreadable
    assert cc.check_nodes_against_master("master1", dict(_macs(NODES), node6=None)) == plain


@pytest.mark.parametrize("master", [MASTER, NODES["node2"], NODES["node5"], None,
                                    _file([(QUAY, "org+robot", "q-1")])], ids=["same", "other", "invalid", "missing",
                                                                              "no-entry"])
def test_imagestreamsecret_matches_master_same_results(master):
    secret = _secret([(REG, "12345678|okd", "tok-1")])
    kw = dict(master_host="master1", credential_kind="fail")
    plain = cc.check_imagestreamsecret(secret, "imagestreamsecret", "openshift", REG, master_content=master, **kw)
    macs = cc.check_imagestreamsecret(secret, "imagestreamsecret", "openshift", REG,
                                      master_content=compliance.node_file_macs(master, KEY, "master1"),
                                      mac_key=KEY, **kw)
    assert macs == plain


def test_what_a_host_returns_holds_no_credential_and_depends_on_the_key():
    out = compliance.node_file_macs(MASTER, KEY, "node1")
    text = json.dumps(out)
    for secret in ("tok-1", "q-1", "qa-1", base64.b64encode(b"12345678|okd:tok-1").decode()):
        assert secret not in text
    assert [e["username"] for e in out["entries"]] == ["12345678|okd", "org+robot", "a+robot"]
    other = compliance.node_file_macs(MASTER, "another-key", "node1")
    assert [e["mac"] for e in other["entries"]] != [e["mac"] for e in out["entries"]]
    # a different key on the master's side: nothing compares equal (the run's one key is what makes them equal)
    mixed = dict(_macs(NODES), master1=compliance.node_file_macs(MASTER, "another-key", "master1"))
    assert all(r["status"] == "fail" for r in cc.check_nodes_against_master("master1", mixed))
    assert compliance.node_file_macs(None, KEY, "n") == {"missing": True}
    assert compliance.node_file_macs("{", KEY, "n")["error"].startswith("n:config.json")
    with pytest.raises(Exception):
        compliance.credential_mac("", "u", "p")
