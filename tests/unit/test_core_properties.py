# -*- coding: utf-8 -*-
# Property-based tests (hypothesis) of the core's parsers and merge (issue 8 §5): any input gives a
# result or the toolkit's own error (ToolkitError), never another exception; render -> parse
# round-trips; redaction never lets a secret through. Deterministic (derandomize, no example database)
# and without any timing assert (deadline=None).
import base64
import json
import string
from collections import OrderedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugins.module_utils import compliance, dockercfg as d, registry_entry as r, v2auth as v
from plugins.module_utils.errors import ToolkitError

SETTINGS = settings(deadline=None, derandomize=True, database=None, max_examples=300,
                    suppress_health_check=[HealthCheck.too_slow])


def toolkit_or_result(fn, *args, **kwargs):
    """Call fn; a ToolkitError is a fine outcome (returned), anything else propagates (a defect)."""
    try:
        return fn(*args, **kwargs)
    except ToolkitError as e:
        assert isinstance(e.msg, str) and e.msg
        return e


# ------------------------------------------------------------------------------------------ strategies

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
hostish = st.sampled_from(["quay.io", "Quay.IO", "registry.redhat.io", "localhost:5000", "docker.io",
                           "index.docker.io", "https://quay.io/v1/", "http://h.test", "10.231.0.1:5443",
                           "quay.io/orga", "quay.io/orgb/team", "docker.io/myorg", "", "bad host", "h:99999",
                           "quay.io/Orga", "quay.io/a:tag", "quay.io/a@sha256:1"]) | st.text(max_size=30)
# passwords carry a "!" that no user name, key or marker has, so "not in the output" means something
secretish = st.text(alphabet=string.ascii_letters + string.digits + "|+-_.!$ ", max_size=20).map(lambda x: "pw!" + x)
userish = st.text(alphabet=string.ascii_letters + string.digits + "|+-_.", min_size=1, max_size=16)
field_names = st.sampled_from(["auth", "Auth", "AUTH", "password", "Password", "identitytoken", "IdentityToken",
                               "registrytoken", "RegistryToken", "username", "email", "x-extra"])
entry_values = st.dictionaries(field_names, st.text(max_size=24) | json_scalars, max_size=5)
configs = st.dictionaries(st.sampled_from(["auths", "credsStore", "HttpHeaders", "other"]),
                          st.dictionaries(hostish, entry_values | json_scalars, max_size=4) | json_scalars,
                          max_size=4)
valid_keys = st.sampled_from(["quay.io", "quay.io/orga", "quay.io/orgb", "quay.io/orga/team", "registry.redhat.io",
                              "localhost:5000", "docker.io", "docker.io/myorg", "https://quay.io/v1/",
                              "10.231.0.1:5443/x"])
valid_entries = st.lists(st.fixed_dictionaries({"registry": valid_keys, "username": userish,
                                                "password": secretish}), max_size=5)


# ------------------------------------------------------------------------------------------ parsers

@SETTINGS
@given(st.text() | st.binary())
def test_parse_config_any_text_or_bytes(data):
    out = toolkit_or_result(d.parse_config, data, "prop.json")
    if not isinstance(out, ToolkitError):
        assert isinstance(out, dict)


@SETTINGS
@given(json_values)
def test_parse_config_any_json_document(value):
    out = toolkit_or_result(d.parse_config, json.dumps(value), "prop.json")
    if not isinstance(out, ToolkitError):
        # what parses renders and parses back to the same document
        assert d.parse_config(d.render_config(out)) == out


@SETTINGS
@given(configs)
def test_parse_render_round_trip_and_redaction(config):
    text = json.dumps(config)
    parsed = toolkit_or_result(d.parse_config, text)
    if isinstance(parsed, ToolkitError):
        return
    assert d.parse_config(d.render_config(parsed)) == parsed
    redacted = d.render_config(d.redact_config(parsed))
    auths = parsed.get("auths") or {}
    for entry in auths.values():
        for field, value in entry.items():
            if field.lower() in ("auth", "password", "identitytoken", "registrytoken") and isinstance(value, str) \
                    and len(value) >= 4:
                assert json.dumps(value)[1:-1] not in redacted, (field, value)
    # the summaries and lookups answer or raise the toolkit's error
    d.summarize(parsed)
    for key in list(auths)[:3]:
        toolkit_or_result(d.get_credentials, parsed, key)
        toolkit_or_result(d.lookup_credentials, parsed, key)
    toolkit_or_result(d.credential_entries, parsed)


@pytest.mark.parametrize("depth", [50, 1000, 100000])
def test_deep_nesting_is_an_error_not_a_crash(depth):
    for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth,
                 '{"auths": {"x": ' + '{"a":' * depth + "1" + "}" * depth + "}}"):
        with pytest.raises(ToolkitError, match="nested|must be|auths"):
            d.parse_config(text, "deep.json")
        with pytest.raises(ToolkitError):
            d.plan_update(text, entries=[{"registry": "q.test", "username": "u", "password": "p"}])


def test_malformed_files_are_the_toolkits_errors():
    cases = {
        b"\xff\xfe{\x00}\x00": "not valid UTF-8",  # UTF-16 with BOM
        b'{"auths": {"q.test": {"auth": "\xff"}}}': "not valid UTF-8",
        b'{"auths": []}': '"auths" must be a JSON object',
        b'{"auths": "x"}': '"auths" must be a JSON object',
        b'{"auths": {"q": {"auth": "' + base64.b64encode(b"\xff\xfe:x") + b'"}}}': "does not decode to UTF-8",
        b'{"auths": {"q": {"password": "\\ud800"}}}': None,  # a lone surrogate: parses (redaction must cope)
    }
    for data, fragment in cases.items():
        if fragment is None:
            config = d.parse_config(data)
            assert "\\ud800" not in d.render_config(d.redact_config(config))
            continue
        with pytest.raises(ToolkitError, match=fragment.replace("(", r"\(")):
            d.parse_config(data, "bad.json")
    assert d.parse_config(b"\xef\xbb\xbf{}") == {}  # a UTF-8 BOM is fine


@SETTINGS
@given(st.text() | st.binary() | st.lists(st.text(max_size=30), max_size=3))
def test_parse_challenge_never_raises(header):
    out = v.parse_challenge(header)
    assert isinstance(out, list)
    for scheme, params in out:
        assert isinstance(scheme, str) and isinstance(params, dict)


@SETTINGS
@given(st.text(max_size=60), st.one_of(st.none(), hostish))
def test_split_image_any_input(image, registry):
    out = toolkit_or_result(v.split_image, image, registry)
    if not isinstance(out, ToolkitError):
        repo, ref = out
        assert repo and ref


@SETTINGS
@given(hostish)
def test_registry_keys_any_input(name):
    key = toolkit_or_result(r.normalize_key, name)
    if not isinstance(key, ToolkitError):
        assert r.normalize_key(key) == key  # canonical keys are fixed points
        assert d.file_key(key) == key
        assert r.lookup_keys(key)[-1] == r.split_key(key)[0]
    assert d.normalize_key(name) is not None  # the lenient form never raises


@SETTINGS
@given(st.dictionaries(st.sampled_from(["registry", "host", "username", "password", "name", "path"]),
                       hostish | json_scalars, max_size=5) | json_scalars)
def test_entry_model_any_input(item):
    out = toolkit_or_result(r.registry_entry, item)
    if not isinstance(out, ToolkitError):
        assert out["key"] == out["registry"] and "host" not in out


@SETTINGS
@given(st.one_of(st.none(), st.integers(min_value=-1, max_value=1000)), st.binary(max_size=200) | st.text(max_size=200))
def test_explain_error_any_answer(status, body):
    text = v.explain_error(status, body, "what")
    assert text and "\n" not in text


challenges = st.sampled_from([
    'Bearer realm="http://evil.test/token",service="s"', 'Bearer realm="https://auth.test/token",service="s"',
    'Bearer realm="https://auth.test/t",scope="repository:orga/app:pull",error="insufficient_scope"',
    'Bearer realm="http://evil.test/t",scope="repository:x:pull",error="insufficient_scope"',
    'Bearer realm="ftp://evil.test/t"', 'Basic realm="r"', 'Bearer realm="https://auth.test/t', "Negotiate"])
answer_headers = st.dictionaries(st.sampled_from(["www-authenticate", "docker-content-digest", "content-type"]),
                                 challenges | st.text(max_size=80), max_size=3)
token_bodies = st.sampled_from([b'{"token": "t1"}', b'{"access_token": "t2"}', b"{}", b"<html>"])


answers_strategy = st.lists(st.tuples(st.sampled_from([200, 401, 403, 404, 500]) | st.integers(min_value=100, max_value=599),
                                      answer_headers, token_bodies | st.binary(max_size=100)), min_size=1, max_size=6)
challenged_first = st.tuples(st.tuples(st.just(401), st.fixed_dictionaries({"www-authenticate": challenges}),
                                       st.just(b"")), answers_strategy).map(lambda t: [t[0]] + t[1])


@SETTINGS
@given(answers_strategy | challenged_first)
def test_verify_access_any_registry_answers(answers):
    """Whatever a registry answers: a result or ToolkitError, and the credentials go nowhere but https."""
    calls = []

    def transport(method, url, headers):
        calls.append((url, dict(headers)))
        return answers[min(len(calls), len(answers)) - 1]
    out = toolkit_or_result(v.verify_access, transport, "quay.io", "user", "s3cret-pass", "orga/app:1")
    for url, headers in calls:
        if "Authorization" in headers:
            assert url.lower().startswith("https://")
    if isinstance(out, ToolkitError):
        assert "s3cret-pass" not in out.msg and base64.b64encode(b"user:s3cret-pass").decode() not in out.msg


# ------------------------------------------------------------------------------------------ merge

@SETTINGS
@given(configs, valid_entries, st.lists(valid_keys, max_size=3))
def test_merge_any_existing_config(config, entries, remove):
    text = json.dumps(config)
    plan = toolkit_or_result(d.plan_update, text, entries=entries, remove=remove)
    if isinstance(plan, ToolkitError):
        return
    new = d.parse_config(plan["content"])
    assert new == plan["config"]
    removed = set(d.normalize_registry(k) for k in remove)
    for e in entries:
        key = d.normalize_registry(e["registry"])
        if key not in removed:
            assert d.get_credentials(new, key) == (e["username"], e["password"])
    for secret in set(e["password"] for e in entries):
        assert secret not in plan["before"] + plan["after"]
    # idempotent: planning the same again writes nothing
    again = d.plan_update(plan["content"], entries=[e for e in entries
                                                    if d.normalize_registry(e["registry"]) not in removed],
                          remove=remove)
    assert again["write"] is False


@SETTINGS
@given(valid_entries)
def test_set_then_render_round_trips_and_keeps_every_key(entries):
    new = toolkit_or_result(d.set_auths, OrderedDict(), entries)
    if isinstance(new, ToolkitError):
        return  # the same key listed twice with different credentials
    config, changed = new
    assert d.parse_config(d.render_config(config)) == config
    keys = set(d.normalize_registry(e["registry"]) for e in entries)
    assert set(config.get("auths", {})) == keys and set(changed) == keys


@SETTINGS
@given(configs, st.lists(st.fixed_dictionaries({"registry": hostish}, optional={
    "username": st.text(max_size=8), "password": st.text(max_size=8)}), max_size=3))
def test_compliance_any_file_and_expectations(config, expected):
    stat = {"mode": 0o100600, "uid": 0, "dir_mode": 0o40700}
    out = toolkit_or_result(compliance.evaluate_file, "/p", stat, json.dumps(config), expected)
    if not isinstance(out, ToolkitError):
        results, _ = out
        assert all(x["status"] in ("pass", "fail", "skip", "untested") for x in results)
