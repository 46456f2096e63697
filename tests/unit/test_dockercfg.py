# -*- coding: utf-8 -*-
# Unit tests of plugins/module_utils/dockercfg.py. Python 2.7 and 3.6+ compatible on purpose:
# test_py_compat.py runs these functions under pyenv's python2.7 and 3.6 too.
from __future__ import absolute_import, division, print_function

import base64
import json
import os
import sys
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _compat import ToolkitError, raises, run_all  # noqa: E402

from plugins.module_utils import dockercfg as d  # noqa: E402

SA_USER = "12345678|okd-puller"
SA_PASS = "eyJhbGciOiJSUzUxMiJ9." + "x" * 600 + ":with:colons"


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def sample_text():
    return json.dumps(OrderedDict([
        ("auths", OrderedDict([
            ("https://registry.redhat.io/v1/", OrderedDict([("auth", b64("olduser:oldpass")),
                                                           ("email", "ops@example.test"),
                                                           ("x-custom", "kept")])),
            ("quay.lab.test:8443", OrderedDict([("auth", b64("quay:q"))])),
            ("https://index.docker.io/v1/", OrderedDict()),
        ])),
        ("credsStore", "secretservice"),
        ("credHelpers", {"gcr.io": "gcloud"}),
        ("HttpHeaders", OrderedDict([("User-Agent", "okd"), ("X-Auth-Token", "hdrsecret")])),
        ("unknownTopLevel", [1, 2, 3]),
    ]), indent=2)


# ---------------------------------------------------------------- parse_config

def test_parse_empty_and_whitespace_is_empty_config():
    assert d.parse_config("") == {}
    assert d.parse_config("  \n\t") == {}
    assert d.parse_config(b"") == {}


def test_parse_keeps_order_and_unknown_keys():
    config = d.parse_config(sample_text())
    assert list(config) == ["auths", "credsStore", "credHelpers", "HttpHeaders", "unknownTopLevel"]
    assert list(config["auths"]) == ["https://registry.redhat.io/v1/", "quay.lab.test:8443",
                                     "https://index.docker.io/v1/"]


def test_parse_accepts_bytes_and_bom():
    text = u"\ufeff" + u'{"auths": {}}'
    assert d.parse_config(text.encode("utf-8")) == {"auths": {}}


def test_parse_invalid_json_names_source_line_and_column():
    with raises(ToolkitError, "/etc/x/config.json", "line 3", "column") as info:
        d.parse_config('{\n  "auths": {\n    "a": }\n}', source="/etc/x/config.json")
    assert "invalid JSON" in info.value.msg


def test_parse_rejects_non_object_top_level():
    with raises(ToolkitError, "cfg", "top level must be a JSON object", "an array"):
        d.parse_config("[1, 2]", source="cfg")
    with raises(ToolkitError, "got a string"):
        d.parse_config('"text"')


def test_parse_rejects_bad_auths_and_entries():
    with raises(ToolkitError, '"auths" must be a JSON object', "an array"):
        d.parse_config('{"auths": []}')
    with raises(ToolkitError, 'auths["r.test"]', "must be a JSON object", "a string"):
        d.parse_config('{"auths": {"r.test": "abc"}}')
    with raises(ToolkitError, 'auths["r.test"]', "auth must be a string"):
        d.parse_config('{"auths": {"r.test": {"auth": 5}}}')
    with raises(ToolkitError, "email must be a string"):
        d.parse_config('{"auths": {"r.test": {"email": []}}}')


def test_parse_rejects_auth_that_is_not_base64_user_pass_without_echoing_it():
    cases = {
        "!!!notbase64!!!": "not valid base64",
        "abc": "not valid base64",
        b64("nocolon"): "no ':' separator",
        b64(":pw"): "empty username",
        base64.b64encode(b"\xff\xfe:x").decode("ascii"): "UTF-8",
    }
    for value, fragment in cases.items():
        text = json.dumps({"auths": {"r.test": {"auth": value}}})
        with raises(ToolkitError, fragment, 'auths["r.test"]') as info:
            d.parse_config(text)
        assert value not in info.value.msg


def test_parse_allows_entries_without_credentials():
    config = d.parse_config('{"auths": {"r.test": {}, "s.test": {"auth": ""}, "t.test": {"auth": null}}}')
    assert d.get_credentials(config, "r.test") is None
    assert d.get_credentials(config, "s.test") is None


# ---------------------------------------------------------------- names

def test_normalize_registry():
    cases = {
        "https://registry.redhat.io/v1/": "registry.redhat.io",
        "registry.redhat.io": "registry.redhat.io",
        "http://Registry.Lab.Test:5443/v2/": "registry.lab.test:5443",
        "registry.lab.test:5443": "registry.lab.test:5443",
        " registry.lab.test ": "registry.lab.test",
        "docker.io": "https://index.docker.io/v1/",
        "index.docker.io": "https://index.docker.io/v1/",
        "https://index.docker.io/v1/": "https://index.docker.io/v1/",
        "10.231.0.5:5000": "10.231.0.5:5000",
        "[fd00::1]:5000": "[fd00::1]:5000",
        "localhost:5000": "localhost:5000",
        u"registry.lab.test": "registry.lab.test",
    }
    for given, expected in cases.items():
        assert d.normalize_registry(given) == expected, given


def test_normalize_registry_rejects_bad_names():
    for bad in ("", "   ", "https://", "bad host", "host:99999", "host:port", "-bad.test"):
        with raises(ToolkitError, "registry name"):
            d.normalize_registry(bad)
    with raises(ToolkitError, "must be a string"):
        d.normalize_registry(5)


# ---------------------------------------------------------------- credentials

def test_make_and_decode_auth_roundtrip_special_characters():
    for user, password in [("u", "p"), (SA_USER, SA_PASS), (u"j\u00fcrgen", u"p\u00e4ss w0rd$'\"`\\"),
                           ("user", "")]:
        auth = d.make_auth(user, password)
        assert isinstance(auth, str)
        assert d.decode_auth({"auth": auth}) == (user, password)


def test_make_auth_matches_docker():
    # docker login stores base64("user:pass") with standard padding
    assert d.make_auth("user", "pass") == "dXNlcjpwYXNz"


def test_decode_auth_separate_fields_and_missing():
    assert d.decode_auth({"username": "a", "password": "b"}) == ("a", "b")
    with raises(ToolkitError, "no username/password"):
        d.decode_auth({})
    with raises(ToolkitError, "no username/password"):
        d.decode_auth({"identitytoken": "t"})


def test_get_credentials_matches_normalized_keys():
    config = d.parse_config(sample_text())
    assert d.get_credentials(config, "registry.redhat.io") == ("olduser", "oldpass")
    assert d.get_credentials(config, "https://registry.redhat.io") == ("olduser", "oldpass")
    assert d.get_credentials(config, "QUAY.lab.test:8443") == ("quay", "q")
    assert d.get_credentials(config, "quay.lab.test") is None  # the port is part of the name
    assert d.get_credentials(config, "docker.io") is None  # entry without credentials
    assert d.get_credentials(config, "other.test") is None
    assert d.get_credentials({}, "other.test") is None


def test_get_credentials_prefers_exact_key():
    config = d.parse_config(json.dumps({"auths": {"https://r.test/v1/": {"auth": b64("old:1")},
                                                  "r.test": {"auth": b64("new:2")}}}))
    assert d.get_credentials(config, "r.test") == ("new", "2")


def test_validate_entry_input():
    assert d.validate_entry_input("https://r.test/", SA_USER, SA_PASS) == ("r.test", SA_USER, SA_PASS)
    bad = [
        (("", "u", "p"), "registry must not be empty"),
        (("r.test", "", "p"), "username must not be empty"),
        (("r.test", None, "p"), "username must not be empty"),
        (("r.test", "a:b", "p"), "must not contain ':'"),
        (("r.test", "a\n", "p"), "control character"),
        (("r.test", " a", "p"), "whitespace"),
        (("r.test", "u", ""), "password for u must not be empty"),
        (("r.test", "u", None), "must not be empty"),
        (("r.test", "u", 123), "must be a string"),
        (("r.test", "u", "secret\n"), "control character"),
        (("bad host", "u", "p"), "invalid registry name"),
    ]
    for args, fragment in bad:
        with raises(ToolkitError, fragment) as info:
            d.validate_entry_input(*args)
        if isinstance(args[2], str) and len(args[2]) > 1:
            assert args[2].strip() not in info.value.msg


# ---------------------------------------------------------------- set_auths

def test_set_auths_adds_entry_and_keeps_everything_else():
    config = d.parse_config(sample_text())
    snapshot = d.render_config(config)
    new, changed = d.set_auths(config, [{"registry": "registry.lab.test:5443", "username": SA_USER,
                                         "password": SA_PASS, "email": "a@b.test"}])
    assert changed == ["registry.lab.test:5443"]
    assert d.render_config(config) == snapshot  # input not mutated
    assert new["auths"]["registry.lab.test:5443"] == {"auth": d.make_auth(SA_USER, SA_PASS), "email": "a@b.test"}
    assert list(new["auths"]["registry.lab.test:5443"]) == ["auth", "email"]
    for key in ("credsStore", "credHelpers", "HttpHeaders", "unknownTopLevel"):
        assert new[key] == config[key]
    for key in ("https://registry.redhat.io/v1/", "quay.lab.test:8443", "https://index.docker.io/v1/"):
        assert new["auths"][key] == config["auths"][key]
    assert list(new["auths"])[-1] == "registry.lab.test:5443"


def test_set_auths_unchanged_credentials_are_not_changed():
    config = d.parse_config(sample_text())
    new, changed = d.set_auths(config, [{"registry": "quay.lab.test:8443", "username": "quay", "password": "q"},
                                        {"registry": "https://registry.redhat.io", "username": "olduser",
                                         "password": "oldpass", "email": "ops@example.test"}])
    assert changed == []
    assert new == config
    assert d.render_config(new) == d.render_config(config)


def test_set_auths_updates_differently_spelled_key_in_place():
    config = d.parse_config(sample_text())
    new, changed = d.set_auths(config, [{"registry": "registry.redhat.io", "username": SA_USER,
                                         "password": SA_PASS}])
    assert changed == ["registry.redhat.io"]
    assert "registry.redhat.io" not in new["auths"]
    entry = new["auths"]["https://registry.redhat.io/v1/"]
    assert list(entry) == ["auth", "email", "x-custom"]  # field order and unknown fields kept
    assert entry["x-custom"] == "kept" and entry["email"] == "ops@example.test"
    assert d.get_credentials(new, "registry.redhat.io") == (SA_USER, SA_PASS)
    assert list(new["auths"]) == list(config["auths"])


def test_set_auths_updates_every_spelling_of_the_same_registry():
    config = d.parse_config(json.dumps({"auths": {"https://r.test/v1/": {"auth": b64("a:1")},
                                                  "r.test": {"auth": b64("a:2")}}}))
    new, changed = d.set_auths(config, [{"registry": "r.test", "username": "a", "password": "3"}])
    assert changed == ["r.test"]
    assert [d.decode_auth(e) for e in new["auths"].values()] == [("a", "3"), ("a", "3")]


def test_set_auths_drops_stale_credential_fields_only():
    config = d.parse_config(json.dumps({"auths": {"r.test": {"username": "a", "password": "b",
                                                             "identitytoken": "tok", "keep": True}}}))
    new, changed = d.set_auths(config, [{"registry": "r.test", "username": "a", "password": "b"}])
    assert changed == ["r.test"]
    assert new["auths"]["r.test"] == {"auth": d.make_auth("a", "b"), "keep": True}
    again, changed = d.set_auths(new, [{"registry": "r.test", "username": "a", "password": "b"}])
    assert changed == [] and again == new


def test_set_auths_email_change_is_a_change():
    config = d.parse_config(sample_text())
    new, changed = d.set_auths(config, [{"registry": "quay.lab.test:8443", "username": "quay", "password": "q",
                                         "email": "new@x.test"}])
    assert changed == ["quay.lab.test:8443"]
    assert new["auths"]["quay.lab.test:8443"]["email"] == "new@x.test"


def test_set_auths_on_empty_and_none():
    for start in ({}, None, d.parse_config("")):
        new, changed = d.set_auths(start, [{"registry": "docker.io", "username": "u", "password": "p"}])
        assert changed == ["https://index.docker.io/v1/"]
        assert new == {"auths": {"https://index.docker.io/v1/": {"auth": d.make_auth("u", "p")}}}
    new, changed = d.set_auths({}, [])
    assert new == {} and changed == []


def test_set_auths_rejects_bad_entries_and_conflicts():
    with raises(ToolkitError, "more than once"):
        d.set_auths({}, [{"registry": "r.test", "username": "a", "password": "1"},
                         {"registry": "https://r.test/v1/", "username": "a", "password": "2"}])
    with raises(ToolkitError, "username must not be empty"):
        d.set_auths({}, [{"registry": "r.test", "password": "1"}])
    with raises(ToolkitError, "entry #1"):
        d.set_auths({}, ["r.test"])
    with raises(ToolkitError, '"auths" must be a JSON object'):
        d.set_auths({"auths": []}, [{"registry": "r.test", "username": "a", "password": "1"}])
    # the same entry twice is fine
    new, changed = d.set_auths({}, [{"registry": "r.test", "username": "a", "password": "1"}] * 2)
    assert changed == ["r.test"]


# ---------------------------------------------------------------- remove_auths

def test_remove_auths_removes_only_its_entry():
    config = d.parse_config(sample_text())
    new, removed = d.remove_auths(config, ["registry.redhat.io"])
    assert removed == ["registry.redhat.io"]
    assert list(new["auths"]) == ["quay.lab.test:8443", "https://index.docker.io/v1/"]
    assert new["credsStore"] == "secretservice" and new["HttpHeaders"] == config["HttpHeaders"]
    assert "https://registry.redhat.io/v1/" in config["auths"]  # input not mutated


def test_remove_auths_missing_and_spellings():
    config = d.parse_config(sample_text())
    new, removed = d.remove_auths(config, ["absent.test", "https://quay.lab.test:8443/v1/", "docker.io"])
    assert removed == ["quay.lab.test:8443", "https://index.docker.io/v1/"]
    assert list(new["auths"]) == ["https://registry.redhat.io/v1/"]
    same, removed = d.remove_auths({}, ["r.test"])
    assert same == {} and removed == []
    same, removed = d.remove_auths({"auths": {}}, "r.test")
    assert same == {"auths": {}} and removed == []
    with raises(ToolkitError, "invalid registry name"):
        d.remove_auths(config, ["bad host"])


# ---------------------------------------------------------------- render

def test_render_config_format_is_fixed():
    config = d.parse_config('{"auths":{"r.test":{"auth":"YTpi"}},"credsStore":"x","n":[1,2]}')
    expected = ('{\n    "auths": {\n        "r.test": {\n            "auth": "YTpi"\n        }\n    },\n'
                '    "credsStore": "x",\n    "n": [\n        1,\n        2\n    ]\n}\n')
    assert d.render_config(config) == expected
    assert d.render_config({}) == "{}\n"
    assert d.render_config(None) == "{}\n"


def test_render_config_is_ascii_and_roundtrips():
    config = d.parse_config(sample_text())
    new, _ = d.set_auths(config, [{"registry": "r.test", "username": u"j\u00fcrgen", "password": u"\u00e4",
                                   "email": u"j\u00fc@x.test"}])
    text = d.render_config(new)
    assert isinstance(text, str)
    text.encode("ascii")
    assert "\\u00fc" in text
    assert d.parse_config(text) == new
    assert d.render_config(d.parse_config(text)) == text
    assert " \n" not in text  # no trailing spaces (Python 2 default separators)


# ---------------------------------------------------------------- redact / summarize

def test_redact_config_hides_every_secret_but_shows_usernames():
    config = d.parse_config(json.dumps(OrderedDict([
        ("auths", OrderedDict([
            ("r.test", {"auth": d.make_auth(SA_USER, SA_PASS), "email": "e@x.test"}),
            ("s.test", {"username": "bob", "password": "hunter2", "identitytoken": "idtok",
                        "registrytoken": "regtok"}),
        ])),
        ("HttpHeaders", {"Authorization": "Bearer hdr", "User-Agent": "ua"}),
    ])))
    redacted = d.redact_config(config)
    text = d.render_config(redacted)
    for secret in (SA_PASS, d.make_auth(SA_USER, SA_PASS), "hunter2", "idtok", "regtok", "Bearer hdr"):
        assert secret not in text
    marker = redacted["auths"]["r.test"]["auth"]
    assert marker.startswith("<redacted:sha256:") and marker.endswith(" user=%s>" % SA_USER)
    assert redacted["auths"]["s.test"]["password"].startswith("<redacted:sha256:")
    assert redacted["auths"]["s.test"]["username"] == "bob"
    assert redacted["HttpHeaders"] == {"Authorization": "<redacted>", "User-Agent": "ua"}
    assert d.get_credentials(config, "r.test") == (SA_USER, SA_PASS)  # input untouched


def test_redaction_fingerprint_tracks_changes_and_registry():
    one = d.redact_config({"auths": {"r.test": {"auth": d.make_auth("u", "p1")}}})["auths"]["r.test"]["auth"]
    same = d.redact_config({"auths": {"r.test": {"auth": d.make_auth("u", "p1")}}})["auths"]["r.test"]["auth"]
    two = d.redact_config({"auths": {"r.test": {"auth": d.make_auth("u", "p2")}}})["auths"]["r.test"]["auth"]
    other = d.redact_config({"auths": {"s.test": {"auth": d.make_auth("u", "p1")}}})["auths"]["s.test"]["auth"]
    assert one == same and one != two and one != other
    fp = one.split(":")[2].split(" ")[0]
    assert len(fp) == 8
    # the fingerprint is salted with the registry: not a plain hash of the secret
    import hashlib
    assert fp not in hashlib.sha256(d.make_auth("u", "p1").encode("ascii")).hexdigest()


def test_redaction_by_any_spelling():
    # issue 8 §1: Auth, Password, IdentityToken, RegistryToken in any case are secrets
    entry = OrderedDict([("Auth", d.make_auth("u", "pw-auth-1")), ("PASSWORD", "pw-pass-2"),
                         ("IdentityToken", "pw-id-3"), ("registryTOKEN", "pw-reg-4"), ("Email", "e@x.test")])
    config = OrderedDict([("auths", OrderedDict([("r.test", entry)]))])
    text = d.render_config(d.redact_config(config))
    for secret in ("pw-auth-1", d.make_auth("u", "pw-auth-1"), "pw-pass-2", "pw-id-3", "pw-reg-4"):
        assert secret not in text, text
    assert "user=u" in text and "e@x.test" in text
    plan = d.plan_update(json.dumps(config), entries=[{"registry": "r.test", "username": "u", "password": "new-pw-5"}])
    for secret in ("pw-auth-1", "pw-pass-2", "pw-id-3", "pw-reg-4", "new-pw-5"):
        assert secret not in plan["before"] + plan["after"]
    # setting credentials drops stale credential fields in any spelling
    kept = plan["config"]["auths"]["r.test"]
    assert list(kept) == ["auth", "Email"] and d.decode_auth(kept) == ("u", "new-pw-5")


def test_fingerprints_are_keyed():
    # not a hash anyone can recompute offline from a guessed password: HMAC with a key
    auth = d.make_auth("u", "p1")
    import hashlib
    import hmac
    fp = d.fingerprint("r.test", auth)
    for data in (auth, "r.test\0" + auth, "u:p1", "r.test\0u:p1"):
        assert fp != hashlib.sha256(data.encode("utf-8")).hexdigest()[:8]
    assert fp == hmac.new(d.run_key(), ("r.test\0" + auth).encode("utf-8"), hashlib.sha256).hexdigest()[:8]
    assert d.fingerprint("r.test", auth, key="k1") == d.fingerprint("r.test", auth, key=b"k1")
    assert d.fingerprint("r.test", auth, key="k1") != d.fingerprint("r.test", auth, key="k2")
    assert len(d.run_key()) == 32 and d.run_key() == d.run_key()
    with raises(ToolkitError, "non-empty"):
        d.keyed_fingerprint(b"", "x")
    assert d.keyed_fingerprint("k1", b"raw\xffbytes") == hmac.new(b"k1", b"raw\xffbytes", hashlib.sha256).hexdigest()[:8]
    one = d.redact_config({"auths": {"r.test": {"auth": auth}}}, key="k1")["auths"]["r.test"]["auth"]
    assert d.fingerprint("r.test", auth, key="k1") in one


def test_redact_config_malformed_values():
    redacted = d.redact_config({"auths": {"r.test": {"auth": "###"}, "s.test": {"password": 5}, "t": "x"}})
    assert redacted["auths"]["r.test"]["auth"] == "<redacted:invalid>"
    assert redacted["auths"]["s.test"]["password"] == "<redacted:invalid>"


def test_summarize():
    config = d.parse_config(sample_text())
    assert d.summarize(config) == [
        {"registry": "registry.redhat.io", "key": "https://registry.redhat.io/v1/", "username": "olduser"},
        {"registry": "quay.lab.test:8443", "key": "quay.lab.test:8443", "username": "quay"},
        {"registry": "https://index.docker.io/v1/", "key": "https://index.docker.io/v1/", "username": None},
    ]
    assert d.summarize({}) == [] and d.summarize(None) == []


# ---------------------------------------------------------------- plan_update

ENTRY = {"registry": "registry.lab.test:5443", "username": SA_USER, "password": SA_PASS}


def test_plan_update_missing_file():
    plan = d.plan_update(None, entries=[ENTRY])
    assert plan["write"] and plan["registries_changed"] == ["registry.lab.test:5443"]
    assert plan["before"] == "" and SA_PASS not in plan["after"]
    assert d.parse_config(plan["content"]) == plan["config"]
    nothing = d.plan_update(None, remove=["registry.lab.test:5443"])
    assert not nothing["write"] and nothing["registries_removed"] == []


def test_plan_update_idempotent_and_formatting_of_foreign_file_left_alone():
    first = d.plan_update(sample_text(), entries=[ENTRY])
    assert first["write"]
    second = d.plan_update(first["content"], entries=[ENTRY])
    assert not second["write"] and second["content"] == first["content"]
    # a file written by someone else (other indent) that already holds the entry: no rewrite
    foreign = json.dumps(json.loads(first["content"], object_pairs_hook=OrderedDict), indent="\t"
                         if sys.version_info[0] > 2 else 2)
    assert not d.plan_update(foreign, entries=[ENTRY])["write"]


def test_plan_update_invalid_existing():
    with raises(ToolkitError, "/p/config.json", "invalid JSON", "invalid_existing=replace"):
        d.plan_update("{broken", entries=[ENTRY], source="/p/config.json")
    plan = d.plan_update("{broken", entries=[ENTRY], invalid_existing="replace", source="/p/config.json")
    assert plan["write"] and "/p/config.json" in plan["replaced_invalid"]
    assert plan["config"] == {"auths": {"registry.lab.test:5443": {"auth": d.make_auth(SA_USER, SA_PASS)}}}
    with raises(ToolkitError, "invalid_existing"):
        d.plan_update("{}", invalid_existing="maybe")


def test_plan_update_remove():
    plan = d.plan_update(sample_text(), remove=["quay.lab.test:8443"])
    assert plan["write"] and plan["registries_removed"] == ["quay.lab.test:8443"]
    assert "quay.lab.test:8443" not in plan["config"]["auths"]
    assert "hdrsecret" not in plan["before"] and "hdrsecret" not in plan["after"]


if __name__ == "__main__":
    print("ran %d tests" % len(run_all(globals())))
