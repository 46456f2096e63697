# -*- coding: utf-8 -*-
# Unit tests of path-scoped registry keys (issue 8 §3): plugins/module_utils/registry_entry.py and the
# lookups and merges of dockercfg.py that use it. Python 2.7 and 3.6+ (no pytest needed: run_all).
from __future__ import absolute_import, division, print_function

import json
import os
import sys
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _compat import ToolkitError, raises, run_all  # noqa: E402

from plugins.module_utils import dockercfg as d  # noqa: E402
from plugins.module_utils import registry_entry as r  # noqa: E402
from plugins.module_utils import v2auth as v  # noqa: E402

HUB = "https://index.docker.io/v1/"


def cfg(*pairs):
    """A config with auths KEY -> credentials USER:PASSWORD, in this order."""
    return OrderedDict([("auths", OrderedDict((key, {"auth": d.make_auth(user, pw)}) for key, user, pw in pairs))])


def test_keys_and_spellings():
    cases = {
        "quay.io": "quay.io",
        "quay.io/orga": "quay.io/orga",
        "quay.io/orga/": "quay.io/orga",
        "QUAY.io/orga/team": "quay.io/orga/team",
        "https://quay.io/v1/": "quay.io",  # a URL-style key is its host (normalizeAuthFileKey)
        "http://quay.io/orga": "quay.io",
        "localhost:5000/foo": "localhost:5000/foo",
        "docker.io": HUB,
        "index.docker.io": HUB,
        "registry-1.docker.io": HUB,
        "docker.io/myorg": "docker.io/myorg",
        "registry-1.docker.io/myorg": "docker.io/myorg",
    }
    for name, key in cases.items():
        assert r.normalize_key(name) == key, (name, r.normalize_key(name))
        assert d.normalize_registry(name) == key
    assert r.split_key("quay.io/orga/team") == ("quay.io", "orga/team")
    assert r.split_key("docker.io/x") == (HUB, "x")
    assert d.registry_host("quay.io:8443/orga") == "quay.io:8443"
    assert r.lookup_keys("quay.io/a/b/c") == ["quay.io/a/b/c", "quay.io/a/b", "quay.io/a", "quay.io"]
    assert r.lookup_keys("docker.io/library/busybox") == ["docker.io/library/busybox", "docker.io/library", HUB]
    assert r.lookup_keys("quay.io") == ["quay.io"]
    assert r.in_scope("quay.io/orga", "orga/app") and r.in_scope("quay.io/orga", "orga")
    assert not r.in_scope("quay.io/orga", "orgab/app") and r.in_scope("quay.io", "anything/x")


def test_bad_keys_name_the_problem():
    bad = {
        "": "must not be empty",
        "quay.io/Orga": "must be lower-case",
        "quay.io/orga:latest": "without a tag or digest",  # validateKey: no ':' after host/
        "quay.io/orga@sha256:abc": "without a tag or digest",
        "quay.io//x": "path component",
        "bad host/x": "invalid registry name",
        "quay.io:99999/x": "port out of range",
    }
    for name, fragment in bad.items():
        with raises(ToolkitError, fragment):
            r.normalize_key(name)


def test_entry_model_resolves_registry_or_host_once():
    e = r.registry_entry({"host": "Quay.io/orga", "username": "u", "password": "p", "name": "a"})
    assert e["key"] == e["registry"] == "quay.io/orga" and e["registry_host"] == "quay.io" and e["path"] == "orga"
    assert "host" not in e and e["username"] == "u" and e["name"] == "a"
    assert r.registry_entry({"registry": "quay.io", "host": "https://quay.io/v1/"})["key"] == "quay.io"
    with raises(ToolkitError, "gives registry quay.io/a and host quay.io/b: give one"):
        r.registry_entry({"registry": "quay.io/a", "host": "quay.io/b"})
    with raises(ToolkitError, "entry #3 has no registry (or host)"):
        r.registry_entry({"username": "u", "password": "secret-pw"}, "entry #3")
    with raises(ToolkitError, "entry x: host must be a string") as info:
        r.registry_entry({"host": 5, "password": "secret-pw"}, "entry x")
    assert "secret-pw" not in info.value.msg
    assert r.entry_key("docker.io/myorg") == "docker.io/myorg" and r.entry_key({"host": "docker.io"}) == HUB


def test_login_to_one_org_keeps_the_registry_and_other_orgs():
    start = cfg(("quay.io", "quay-user", "q"), ("quay.io/orgb", "orgb+robot", "b"))
    new, changed = d.set_auths(start, [{"registry": "quay.io/orga", "username": "orga+robot", "password": "a"}])
    assert changed == ["quay.io/orga"]
    assert list(new["auths"]) == ["quay.io", "quay.io/orgb", "quay.io/orga"]
    assert d.get_credentials(new, "quay.io") == ("quay-user", "q")
    assert d.get_credentials(new, "quay.io/orgb") == ("orgb+robot", "b")
    assert d.get_credentials(new, "quay.io/orga") == ("orga+robot", "a")
    # the host entry given as host: updates quay.io only (and its URL spelling), no org key
    new2, changed = d.set_auths(new, [{"host": "https://quay.io/v1/", "username": "quay-user", "password": "q2"}])
    assert changed == ["quay.io"] and d.get_credentials(new2, "quay.io/orga") == ("orga+robot", "a")
    assert d.get_credentials(new2, "quay.io") == ("quay-user", "q2")


def test_remove_is_by_exact_key():
    start = cfg(("quay.io", "h", "1"), ("quay.io/a", "a", "2"), ("quay.io/a/b", "ab", "3"),
                ("https://quay.io/v1/", "h", "1"), ("quayx.io", "x", "4"))
    new, removed = d.remove_auths(start, ["quay.io/a/b"])
    assert removed == ["quay.io/a/b"] and list(new["auths"]) == ["quay.io", "quay.io/a", "https://quay.io/v1/", "quayx.io"]
    new, removed = d.remove_auths(start, [{"host": "quay.io"}])
    assert removed == ["quay.io"] and list(new["auths"]) == ["quay.io/a", "quay.io/a/b", "quayx.io"]


def test_lookup_by_longest_prefix():
    config = cfg(("quay.io/foo", "foo", "1"), ("quay.io/foo/bar", "foobar", "2"), ("quay.io", "host", "3"))
    assert d.lookup_credentials(config, "quay.io/foo/bar/img") == ("quay.io/foo/bar", "foobar", "2")
    assert d.lookup_credentials(config, "quay.io/foo/other") == ("quay.io/foo", "foo", "1")
    assert d.lookup_credentials(config, "quay.io/bar/img") == ("quay.io", "host", "3")
    # never another org's credentials: without a host entry, quay.io/bar has none
    only_foo = cfg(("quay.io/foo", "foo", "1"))
    assert d.lookup_credentials(only_foo, "quay.io/bar/img") is None
    assert d.get_credentials(only_foo, "quay.io") is None and d.get_credentials(only_foo, "quay.io/bar") is None
    # a URL-style key answers for its host
    assert d.lookup_credentials(cfg(("https://quay.io/v1/", "u", "p")), "quay.io/x/y") == ("quay.io", "u", "p")


def test_docker_hub_lookup_does_not_depend_on_key_order():
    entries = [("index.docker.io", "idx", "1"), (HUB, "hub", "2"), ("docker.io", "dio", "3")]
    for order in (entries, list(reversed(entries)), entries[1:] + entries[:1]):
        # containers/image: the exact key docker.io first, then the normalized fallback
        assert d.lookup_credentials(cfg(*order), "docker.io/library/busybox")[1] == "dio"
    for order in (entries[:2], list(reversed(entries[:2]))):
        assert d.lookup_credentials(cfg(*order), "docker.io/library/busybox")[1] == "hub"
    scoped = cfg((HUB, "hub", "2"), ("docker.io/myorg", "org", "4"))
    assert d.lookup_credentials(scoped, "docker.io/myorg/app")[1] == "org"
    assert d.lookup_credentials(scoped, "docker.io/library/busybox")[1] == "hub"
    assert v.image_lookup_key("docker.io", "busybox") == "docker.io/library/busybox"
    assert v.image_lookup_key("quay.io/orga", "orga/app:1") == "quay.io/orga/app"


def test_credential_entries_and_compliance_keep_path_keys():
    config = cfg(("quay.io/orga", "a", "1"), ("quay.io/orgb", "b", "2"), ("https://quay.io/v1/", "h", "3"))
    got = [(e["registry"], e["username"]) for e in d.credential_entries(config)]
    assert got == [("quay.io/orga", "a"), ("quay.io/orgb", "b"), ("quay.io", "h")]
    assert [s["registry"] for s in d.summarize(config)] == ["quay.io/orga", "quay.io/orgb", "quay.io"]
    from plugins.module_utils import compliance
    res, _ = compliance.evaluate_file("/p", {"mode": 0o100600, "uid": 0, "dir_mode": 0o40700},
                                      d.render_config(config),
                                      [{"registry": "quay.io/orga", "username": "a", "password": "1"},
                                       {"registry": "quay.io/orgc", "username": "c", "password": "9"}])
    by = dict(((x["check"], x.get("registry")), x["status"]) for x in res)
    assert by[("entry_present", "quay.io/orga")] == "pass" and by[("entry_current", "quay.io/orga")] == "pass"
    assert by[("entry_present", "quay.io/orgc")] == "fail"  # quay.io does not stand in for an org key


def test_verify_path_scoped_entry_tests_an_image_under_its_path():
    seen = []

    def transport(method, url, headers):
        seen.append(url)
        return 200, {"docker-content-digest": "sha256:" + "a" * 64}, b"{}"
    with raises(ToolkitError, "quay.io/orga: image orgb/app:1 is not under the entry's path scope orga"):
        v.verify_access(transport, "quay.io/orga", "u", "p", "orgb/app:1")
    with raises(ToolkitError, "quay.io/orga: a path-scoped entry is verified by pulling an image under orga"):
        v.verify_access(transport, "quay.io/orga", "u", "p")
    assert seen == []
    result = v.verify_access(transport, "quay.io/orga", image="quay.io/orga/app:1")
    assert result["registry"] == "quay.io/orga" and seen == ["https://quay.io/v2/", "https://quay.io/v2/orga/app/manifests/1"]


def test_plan_update_round_trip_keeps_scoped_keys():
    plan = d.plan_update(None, entries=[{"registry": "quay.io/orga", "username": "a", "password": "1"},
                                        {"registry": "quay.io/orgb", "username": "b", "password": "2"}])
    again = d.parse_config(plan["content"])
    assert list(again["auths"]) == ["quay.io/orga", "quay.io/orgb"]
    assert d.plan_update(plan["content"], entries=[{"host": "quay.io/orga", "username": "a", "password": "1"}])["write"] is False
    assert json.loads(plan["content"])["auths"]["quay.io/orgb"]["auth"] == d.make_auth("b", "2")


def test_cluster_pull_secrets_keep_path_scoped_keys():
    # dockerconfigjson Secrets are built by the core's set_auths: two orgs and the registry stay apart
    import base64
    from plugins.module_utils import k8s
    live, _ = k8s.dockerconfigjson_secret("pull", "ns", [
        {"registry": "quay.io/orga", "username": "a", "password": "1"},
        {"registry": "quay.io", "username": "h", "password": "3"}])
    definition, needs = k8s.dockerconfigjson_secret("pull", "ns", [
        {"registry": "quay.io/orgb", "username": "b", "password": "2"}], live=live)
    assert needs
    config = json.loads(base64.b64decode(definition["data"][".dockerconfigjson"]).decode("utf-8"))
    assert sorted(config["auths"]) == ["quay.io", "quay.io/orga", "quay.io/orgb"]
    assert d.lookup_credentials(config, "quay.io/orgb/app") == ("quay.io/orgb", "b", "2")


if __name__ == "__main__":
    print("ran %d tests" % len(run_all(globals())))
