"""The lab registries behave like registry.redhat.io and quay.io for real clients on a lab host.

Every check runs a real client (skopeo, curl) inside a lab host against the real registries
(CNCF distribution) and token realms started by `python -m lab up`. Credentials only ever reach
the clients through 0600 files in the host's /root, never through a command line.
"""
import base64
import json
import os
import shlex
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lab import registries as lab_registries
from lab.state import Lab

HOST = "master1"


# --------------------------------------------------------------------------------------- helpers

REPO = Path(__file__).resolve().parents[2]
_EXEC = {}


def _cli_exec(host, cmd):
    return subprocess.run([sys.executable, "-m", "lab", "exec", host, "--", "sh", "-c", cmd],
                          cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)


@pytest.fixture(scope="module", autouse=True)
def _host_exec(request, lab):
    """How to run a command in a lab host: the session fixture's lab_exec (attribute or fixture),
    else `python -m lab exec`."""
    fn = getattr(lab, "lab_exec", None)
    if fn is None:
        try:
            fixture = request.getfixturevalue("lab_exec")
        except pytest.FixtureLookupError:
            fn = _cli_exec
        else:
            def fn(host, cmd):  # these tests look at failures themselves
                return fixture(host, cmd, check=False)
    _EXEC["fn"] = fn
    yield
    _EXEC.clear()


def _exec(lab, host, cmd):
    """Run a shell command string inside a lab host; returns (rc, stdout, stderr)."""
    r = _EXEC["fn"](host, cmd)
    if isinstance(r, tuple):
        return r
    out, err = r.stdout, r.stderr
    if isinstance(out, bytes):
        out = out.decode("utf-8", "replace")
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    return r.returncode, out or "", err or ""


def _host_root(lab, host):
    """The machine-side directory that lab host `host` sees as /root (docs/lab-design.md)."""
    return Path(lab["state_dir"]) / "hosts" / host / "root"


def _put(lab, host, name, content):
    """Write a 0600 file into the host's /root from the machine side (no secret on any command
    line). Returns its path inside the host; callers check the mode the host sees with _MODE."""
    p = _host_root(lab, host) / name
    fd = os.open(str(p), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    return "/root/" + name


def _mode_prefix(path):
    """Shell prefix printing the file's mode as seen inside the host as the first output line."""
    return "stat -c 'mode=%%a' %s && " % shlex.quote(path)


def _split_mode(out):
    first, _, rest = out.partition("\n")
    assert first == "mode=600", "file not 0600 inside the host: %r" % first
    return rest


def _rm(lab, host, name):
    try:
        (_host_root(lab, host) / name).unlink()
    except OSError:
        pass


def _account(reg, username):
    for a in reg["accounts"]:
        if a["username"] == username:
            return a
    raise AssertionError("no account %s in %s" % (username, [a["username"] for a in reg["accounts"]]))


def _authfile(reg, username, password):
    auth = base64.b64encode(("%s:%s" % (username, password)).encode()).decode()
    return json.dumps({"auths": {reg["host"]: {"auth": auth}}})


def _inspect(lab, reg, username, password, ref, host=HOST):
    """skopeo inspect inside a lab host with a 0600 authfile; returns (rc, stdout, stderr)."""
    name = "auth-%s.json" % uuid.uuid4().hex[:8]
    path = _put(lab, host, name, _authfile(reg, username, password))
    try:
        rc, out, err = _exec(lab, host, _mode_prefix(path) + "skopeo inspect --retry-times 0 "
                             "--authfile %s docker://%s/%s" % (path, reg["host"], ref))
        return rc, _split_mode(out), err
    finally:
        _rm(lab, host, name)


_SEP = "=====split====="


def _token_request(lab, reg, username, password, scope, host=HOST):
    """GET the registry's token realm with curl inside a lab host (credentials in a 0600 curl
    config). Returns (http status, headers text, body text)."""
    tag = uuid.uuid4().hex[:8]
    ca = _put(lab, host, "ca-%s.crt" % tag, Path(reg["ca_file"]).read_text())
    cfg_lines = ['cacert = "%s"' % ca, 'silent', 'show-error',
                 'get', 'url = "%s"' % reg["realm"],
                 'data-urlencode = "service=%s"' % reg["service"],
                 'data-urlencode = "scope=%s"' % scope,
                 'dump-header = "/root/hdr-%s"' % tag,
                 'output = "/root/body-%s"' % tag,
                 'write-out = "%{http_code}"']
    if username is not None:
        cfg_lines.append('user = "%s:%s"' % (username, password))
    cfg = _put(lab, host, "curl-%s.cfg" % tag, "\n".join(cfg_lines) + "\n")
    try:
        rc, out, err = _exec(lab, host, _mode_prefix(cfg) + "curl -K %s && echo %s && cat /root/hdr-%s "
                             "&& echo %s && cat /root/body-%s" % (cfg, _SEP, tag, _SEP, tag))
        assert rc == 0, (out, err)
        code, hdr, body = _split_mode(out).split(_SEP + "\n")
        return int(code.strip()), hdr, body
    finally:
        for n in ("ca-%s.crt", "curl-%s.cfg", "hdr-%s", "body-%s"):
            _rm(lab, host, n % tag)


def _claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _denied(text):
    """skopeo's report of a registry refusing the pull (token without the needed access)."""
    t = text.lower()
    return "requested access to the resource is denied" in t or "authentication required" in t


def _bad_credentials(text):
    """skopeo's report of the token realm refusing the credentials (it quotes the realm's message)."""
    return "invalid username or password" in text.lower()


@pytest.fixture(scope="module")
def redhat(lab):
    return lab["registries"]["redhat"]


@pytest.fixture(scope="module")
def quay(lab):
    return lab["registries"]["quay"]


@pytest.fixture(scope="module")
def lab_obj(lab):
    """A lab.state.Lab for the running lab (for set_revoked)."""
    return Lab(root=lab["state_dir"])


# ----------------------------------------------------------------------------------------- tests

def test_status_describes_both_registries(lab):
    regs = lab["registries"]
    assert sorted(regs) == ["quay", "redhat"]
    for reg in regs.values():
        for key in ("host", "url", "ca_file", "realm", "service", "accounts", "images", "digests"):
            assert key in reg
        assert reg["url"] == "https://" + reg["host"]
        assert sorted(reg["digests"]) == sorted(reg["images"])
        assert all(d.startswith("sha256:") and len(d) == 71 for d in reg["digests"].values())
    assert regs["redhat"]["realm"].endswith("/auth/realms/rhcc/protocol/redhat-docker-v2/auth")
    assert regs["redhat"]["service"] == "docker-registry"
    assert regs["quay"]["realm"].endswith("/v2/auth")
    # quay tags carry different content
    q = regs["quay"]["digests"]
    assert len({q["laborg/hello:1.0"], q["laborg/hello:1.1"], q["laborg/hello:latest"]}) == 3


def test_accounts_files_are_private(lab):
    for name in ("redhat", "quay"):
        p = Path(lab["state_dir"]) / "registries" / name / "accounts.json"
        assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_service_account_token_looks_like_red_hats(redhat):
    sa = _account(redhat, "11009103|lab-cluster")
    user_id, _, name = sa["username"].partition("|")
    assert user_id.isdigit() and len(user_id) == 8 and name == "lab-cluster"
    assert len(sa["password"]) > 500


@pytest.mark.parametrize("username", ["11009103|lab-cluster", "labuser"])
def test_entitled_account_pulls_every_redhat_image(lab, redhat, username):
    acct = _account(redhat, username)
    for ref in redhat["images"]:
        rc, out, err = _inspect(lab, redhat, acct["username"], acct["password"], ref)
        assert rc == 0, (ref, err)
        assert json.loads(out)["Digest"] == redhat["digests"][ref]


def test_bad_password_gets_401_with_red_hat_error_body(lab, redhat):
    status, headers, body = _token_request(lab, redhat, "labuser", "not-the-password",
                                           "repository:rhel7/rhel:pull")
    assert status == 401
    assert json.loads(body) == {"errors": [{"code": "UNAUTHORIZED",
                                            "message": "Invalid username or password"}]}
    assert "www-authenticate:" in headers.lower()


def test_bad_password_fails_skopeo(lab, redhat):
    rc, _, err = _inspect(lab, redhat, "labuser", "not-the-password", "rhel7/rhel:7.9")
    assert rc != 0 and _bad_credentials(err), err


def test_unknown_user_gets_401(lab, redhat):
    sa = _account(redhat, "11009103|lab-cluster")
    status, _, body = _token_request(lab, redhat, "11009103|nobody", sa["password"],
                                     "repository:rhel7/rhel:pull")
    assert status == 401
    assert json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"


def test_good_credentials_get_a_token_scoped_to_the_entitlement(lab, redhat):
    sa = _account(redhat, "11009103|lab-cluster")
    status, _, body = _token_request(lab, redhat, sa["username"], sa["password"],
                                     "repository:rhel7/rhel:pull,push")
    assert status == 200
    doc = json.loads(body)
    assert doc["token"] == doc["access_token"] and doc["expires_in"] > 0 and doc["issued_at"]
    claims = _claims(doc["token"])
    assert claims["sub"] == sa["username"] and claims["aud"] == redhat["service"]
    # pull only: the account has no push entitlement
    assert claims["access"] == [{"type": "repository", "name": "rhel7/rhel", "actions": ["pull"]}]


def test_anonymous_gets_a_token_without_access(lab, redhat):
    status, _, body = _token_request(lab, redhat, None, None, "repository:rhel7/rhel:pull")
    assert status == 200
    assert _claims(json.loads(body)["token"])["access"] == []


def test_revoked_service_account_gets_401(lab, redhat):
    acct = _account(redhat, "11009103|revoked-sa")
    assert acct["revoked"] is True
    status, _, body = _token_request(lab, redhat, acct["username"], acct["password"],
                                     "repository:rhel7/rhel:pull")
    assert status == 401
    assert json.loads(body)["errors"][0]["message"] == "Invalid username or password"
    rc, _, err = _inspect(lab, redhat, acct["username"], acct["password"], "rhel7/rhel:7.9")
    assert rc != 0 and _bad_credentials(err), err


def test_account_without_entitlement_is_denied(lab, redhat):
    acct = _account(redhat, "11009103|no-entitlement")
    # the credentials are valid ...
    status, _, body = _token_request(lab, redhat, acct["username"], acct["password"],
                                     "repository:openshift3/ose-pod:pull")
    assert status == 200 and _claims(json.loads(body)["token"])["access"] == []
    # ... but the registry refuses the pull
    rc, _, err = _inspect(lab, redhat, acct["username"], acct["password"], "openshift3/ose-pod:v3.11")
    assert rc != 0 and _denied(err), err


def test_entitled_account_cannot_reach_other_repositories(lab, redhat):
    sa = _account(redhat, "11009103|lab-cluster")
    status, _, body = _token_request(lab, redhat, sa["username"], sa["password"],
                                     "repository:rhel8/rhel:pull")
    assert status == 200 and _claims(json.loads(body)["token"])["access"] == []


def test_revocation_takes_effect_live_and_restores(lab, lab_obj, redhat):
    acct = _account(redhat, "labuser")
    ref = "rhel7/rhel:7.9"
    rc, _, err = _inspect(lab, redhat, acct["username"], acct["password"], ref)
    assert rc == 0, err
    try:
        lab_registries.set_revoked(lab_obj, "redhat", "labuser", True)
        rc, _, err = _inspect(lab, redhat, acct["username"], acct["password"], ref)
        assert rc != 0 and _bad_credentials(err), err
    finally:
        lab_registries.set_revoked(lab_obj, "redhat", "labuser", False)
    rc, _, err = _inspect(lab, redhat, acct["username"], acct["password"], ref)
    assert rc == 0, err


def test_set_revoked_rejects_unknown_names(lab_obj):
    with pytest.raises(KeyError):
        lab_registries.set_revoked(lab_obj, "redhat", "nobody", True)
    with pytest.raises(KeyError):
        lab_registries.set_revoked(lab_obj, "dockerhub", "labuser", True)


def test_quay_robot_pulls_every_tag(lab, quay):
    robot = _account(quay, "laborg+robot")
    for ref in quay["images"]:
        rc, out, err = _inspect(lab, quay, robot["username"], robot["password"], ref)
        assert rc == 0, (ref, err)
        assert json.loads(out)["Digest"] == quay["digests"][ref]


def test_quay_bad_robot_token_gets_401(lab, quay):
    status, headers, body = _token_request(lab, quay, "laborg+robot", "X" * 64,
                                           "repository:laborg/hello:pull")
    assert status == 401
    assert json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"
    assert "www-authenticate:" in headers.lower()
    rc, _, err = _inspect(lab, quay, "laborg+robot", "X" * 64, "laborg/hello:1.0")
    assert rc != 0 and _bad_credentials(err), err


def test_quay_robot_has_no_access_outside_its_org(lab, quay):
    robot = _account(quay, "laborg+robot")
    status, _, body = _token_request(lab, quay, robot["username"], robot["password"],
                                     "repository:otherorg/hello:pull")
    assert status == 200 and _claims(json.loads(body)["token"])["access"] == []


def test_quay_pull_robot_cannot_push(lab, quay):
    robot = _account(quay, "laborg+robot")
    status, _, body = _token_request(lab, quay, robot["username"], robot["password"],
                                     "repository:laborg/hello:pull,push")
    assert status == 200
    assert _claims(json.loads(body)["token"])["access"] == [
        {"type": "repository", "name": "laborg/hello", "actions": ["pull"]}]
    pusher = _account(quay, "laborg+pusher")
    status, _, body = _token_request(lab, quay, pusher["username"], pusher["password"],
                                     "repository:laborg/hello:pull,push")
    assert status == 200
    assert _claims(json.loads(body)["token"])["access"] == [
        {"type": "repository", "name": "laborg/hello", "actions": ["pull", "push"]}]


def test_quay_revocation_is_live(lab, lab_obj, quay):
    robot = _account(quay, "laborg+robot")
    try:
        lab_registries.set_revoked(lab_obj, "quay", "laborg+robot", True)
        rc, _, err = _inspect(lab, quay, robot["username"], robot["password"], "laborg/hello:1.0")
        assert rc != 0 and _bad_credentials(err), err
    finally:
        lab_registries.set_revoked(lab_obj, "quay", "laborg+robot", False)
    rc, _, err = _inspect(lab, quay, robot["username"], robot["password"], "laborg/hello:1.0")
    assert rc == 0, err
