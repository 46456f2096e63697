"""Unit tests of the compliance core (plugins/module_utils/compliance.py)."""
import json

from plugins.module_utils import compliance, dockercfg

REG = "registry.redhat.io"


def _config(user="12345678|sa", password="tok-1", extra=None):
    cfg, _ = dockercfg.set_auths({}, [{"registry": REG, "username": user, "password": password}])
    if extra:
        cfg.update(extra)
    return dockercfg.render_config(cfg)


def _by_check(results):
    return {(r["check"], r.get("registry")): r for r in results}


GOOD_STAT = {"mode": 0o100600, "uid": 0, "dir_mode": 0o40700}


def test_compliant_file_passes_every_check():
    res, cfg = compliance.evaluate_file("/p", GOOD_STAT, _config(),
                                        [{"registry": REG, "username": "12345678|sa", "password": "tok-1"}])
    assert cfg is not None
    statuses = {r["check"]: r["status"] for r in res}
    assert statuses == {"file_present": "pass", "file_mode": "pass", "file_owner": "pass", "dir_mode": "pass",
                        "file_valid": "pass", "entry_present": "pass", "entry_current": "pass"}
    assert compliance.summarize(res)["compliant"] is True


def test_missing_file():
    res, cfg = compliance.evaluate_file("/p", None, None, [{"registry": REG}])
    assert cfg is None
    by = _by_check(res)
    assert by[("file_present", None)]["status"] == "fail"
    assert by[("entry_present", REG)]["status"] == "skip"
    assert compliance.summarize(res)["compliant"] is False


def test_world_readable_file_and_dir_and_owner_fail():
    stat = {"mode": 0o100644, "uid": 1000, "dir_mode": 0o40755}
    res, _ = compliance.evaluate_file("/p", stat, _config(), [])
    by = _by_check(res)
    assert by[("file_mode", None)]["status"] == "fail" and "0644" in by[("file_mode", None)]["message"]
    assert by[("file_owner", None)]["status"] == "fail" and "1000" in by[("file_owner", None)]["message"]
    assert by[("dir_mode", None)]["status"] == "fail" and "0755" in by[("dir_mode", None)]["message"]


def test_invalid_json_is_reported_with_its_cause():
    res, cfg = compliance.evaluate_file("/p", GOOD_STAT, "{not json", [{"registry": REG}])
    by = _by_check(res)
    assert cfg is None
    assert by[("file_valid", None)]["status"] == "fail"
    assert "/p" in by[("file_valid", None)]["message"]


def test_missing_entry_and_stale_credential():
    res, _ = compliance.evaluate_file("/p", GOOD_STAT, _config(password="old"),
                                      [{"registry": REG, "password": "new"},
                                       {"registry": "quay.io"}])
    by = _by_check(res)
    assert by[("entry_current", REG)]["status"] == "fail"
    assert by[("entry_present", "quay.io")]["status"] == "fail"
    # no secret in any message
    text = json.dumps(res)
    assert "old" not in text.replace("stale", "") and "new" not in text


def test_no_fingerprint_of_a_credential_in_any_result():
    # issue 8 §1: an unsalted hash of user:password in a report allows offline guessing; the
    # comparison happens on the host and only its outcome is reported
    import base64
    import hashlib
    user, password = "12345678|sa", "weak"
    res, _ = compliance.evaluate_file("/p", GOOD_STAT, _config(user=user, password=password),
                                      [{"registry": REG, "username": user, "password": "other"}])
    text = json.dumps(res)
    auth = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    for data in ("%s:%s" % (user, password), auth, REG + "\0" + auth):
        digest = hashlib.sha256(data.encode()).hexdigest()
        assert digest[:8] not in text and "sha256:" not in text
    by = _by_check(res)
    assert by[("entry_current", REG)]["status"] == "fail"
    assert "another password or token" in by[("entry_current", REG)]["message"]
    res, _ = compliance.evaluate_file("/p", GOOD_STAT, _config(user=user, password=password),
                                      [{"registry": REG, "username": "someone-else", "password": password}])
    assert "expected someone-else" in _by_check(res)[("entry_current", REG)]["message"]
    assert compliance.same_credentials(("u", "p"), ("u", "p")) and not compliance.same_credentials(("u", "p"), ("u", "q"))
    assert not compliance.same_credentials(("u", "p\0x"), ("u\0p", "x"))


def test_anonymous_access_has_its_own_status():
    untested = compliance.access_result(REG, {"credentials_tested": False, "digest": "sha256:x"}, "a/b:1")
    assert untested["status"] == compliance.UNTESTED == "untested"
    assert "credentials not tested: anonymous access" in untested["message"]
    ok = compliance.access_result(REG, {"credentials_tested": True, "username": "u", "digest": "sha256:x"}, "a/b:1")
    assert ok["status"] == "pass" and "pulled manifest of a/b:1 (sha256:x)" in ok["message"]
    summary = compliance.summarize([untested])
    assert summary["counts"]["untested"] == 1 and summary["compliant"] is True and summary["failed"] == []
