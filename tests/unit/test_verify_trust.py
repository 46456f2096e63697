# -*- coding: utf-8 -*-
# registry_verify for real (ansible-playbook -c local) against the local HTTPS registry helper, on the
# trust rules of issue 8 §1: a registry that never asks for credentials is not a "successful login",
# a registry whose /v2/ is anonymous but whose image needs a token gets the credentials tested, and a
# token realm that is not https never receives anything.
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local_registry import DIGEST, LocalRegistry  # noqa: E402
from test_modules_local import PLAYBOOK, auth_of, run_play, verify_task  # noqa: E402

USER = "12345678|okd-puller"
PASSWORD = "trust-test-" + "p" * 30
IMAGE = "openshift3/ose-pod:v3.11"

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK), reason="run `make deps` first")


class AnonymousRegistry(LocalRegistry):
    """Serves /v2/ and every manifest without asking for credentials (anonymous_v2_only: only /v2/)."""

    def __init__(self, *args, **kwargs):
        self.anonymous_v2_only = kwargs.pop("anonymous_v2_only", False)
        super(AnonymousRegistry, self).__init__(*args, **kwargs)

    def _authorized(self, handler):
        if handler.path == "/v2/" or not self.anonymous_v2_only:
            return list(self.repos)
        return super(AnonymousRegistry, self)._authorized(handler)


class PlainRealm(object):
    """A plain-http 'token service' on 127.0.0.1 that logs every request's headers."""

    def __enter__(self):
        log = self.log = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                log.append((self.path, dict(self.headers)))
                body = b'{"token": "stolen"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/token" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_verify_anonymous_registry_is_a_warning_not_a_login(tmp_path):
    with AnonymousRegistry(str(tmp_path), users={USER: PASSWORD}) as reg:
        common = dict(registry=reg.host, ca_file=reg.paths["ca"], retries=0, image=IMAGE)
        proc, r = run_play(tmp_path, [
            verify_task("wrong password", username=USER, password="wrong-" + PASSWORD, **common),
            verify_task("no credentials", **common)], callback="default")
        # default callback: the warning is printed; the json callback below gives the fields
        assert "credentials not tested: anonymous access" in proc.stdout + proc.stderr
        proc, r = run_play(tmp_path, [
            verify_task("wrong password", username=USER, password="wrong-" + PASSWORD, **common),
            verify_task("no credentials", **common)])
        wrong = r["wrong password"]
        assert not wrong.get("failed") and wrong["credentials_tested"] is False and wrong["logged_in"] is False
        assert "credentials not tested: anonymous access" in wrong["msg"] and "succeeded" not in wrong["msg"]
        assert any("credentials not tested" in w for w in wrong.get("warnings", [])), wrong
        none = r["no credentials"]
        assert none["credentials_tested"] is False and not none.get("warnings")
        assert "no authentication required" in none["msg"]
        assert all("Authorization" not in h for _, _, h in reg.requests)


def test_verify_anonymous_v2_but_token_for_the_image(tmp_path):
    with AnonymousRegistry(str(tmp_path), users={USER: PASSWORD}, anonymous_v2_only=True) as reg:
        common = dict(registry=reg.host, ca_file=reg.paths["ca"], retries=0, image=IMAGE)
        proc, r = run_play(tmp_path, [
            verify_task("right", username=USER, password=PASSWORD, **common),
            verify_task("wrong", username=USER, password="wrong-" + PASSWORD, **common)])
        assert r["right"]["credentials_tested"] is True and r["right"]["digest"] == DIGEST, r["right"]
        assert r["wrong"]["failed"] and "Invalid username or password" in r["wrong"]["msg"], r["wrong"]
        token_requests = [h for _, path, h in reg.requests if path.startswith("/token")]
        assert len(token_requests) == 2 and all(h.get("Authorization", "").startswith("Basic ")
                                                for h in token_requests)


def test_verify_refuses_a_plain_http_realm(tmp_path):
    with PlainRealm() as realm, LocalRegistry(str(tmp_path), users={USER: PASSWORD}) as reg:
        reg.realm = realm.url  # the registry's challenge now names the plain-http realm
        proc, r = run_play(tmp_path, [verify_task(
            "hostile", registry=reg.host, ca_file=reg.paths["ca"], retries=0, image=IMAGE,
            username=USER, password=PASSWORD)], args=["-vvv"])
        res = r["hostile"]
        assert res["failed"] and reg.host in res["msg"] and realm.url in res["msg"], res
        assert "refusing the token realm" in res["msg"]
        assert realm.log == []  # not one request, let alone an Authorization header
        assert PASSWORD not in proc.stdout + proc.stderr and auth_of(USER, PASSWORD) not in proc.stdout


def test_compliance_reports_anonymous_access_as_untested(tmp_path):
    with AnonymousRegistry(str(tmp_path), users={USER: PASSWORD}) as reg:
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps({"auths": {reg.host: {"auth": auth_of(USER, "wrong-" + PASSWORD)}}}))
        os.chmod(str(cfg), 0o600)
        os.chmod(str(tmp_path), 0o700)
        task = {"name": "compliance", "ignore_errors": True, "okd.registry_toolkit.registry_compliance": {
            "paths": [str(cfg)], "verify_access": True, "ca_file": reg.paths["ca"],
            "expected": [{"registry": reg.host, "test_image": IMAGE}]}}
        proc, r = run_play(tmp_path, [task])
        res = r["compliance"]
        access = [x for x in res["results"] if x["check"] == "access"]
        assert len(access) == 1 and access[0]["status"] == "untested", res
        assert "credentials not tested: anonymous access" in access[0]["message"]
        assert res["summary"]["counts"]["untested"] == 1 and res["compliant"] is True


def test_pyinfra_controller_verification_warns_on_anonymous_access(tmp_path, caplog):
    from pyinfra_deploys.okd_registry import verify
    with AnonymousRegistry(str(tmp_path), users={USER: PASSWORD}) as reg:
        with caplog.at_level("WARNING"):
            report = verify.verify_registries([{"host": reg.host, "username": USER, "password": "wrong-" + PASSWORD,
                                                "test_image": IMAGE}], ca_file=reg.paths["ca"], retries=0)
        assert report[0]["ok"] is True
        assert "credentials not tested: anonymous access" in caplog.text and PASSWORD not in caplog.text


def test_verify_config_path_never_follows_a_link_nor_blocks_on_a_fifo(tmp_path):
    """config_path pointing at a FIFO used to hang the module forever (open() blocks for a writer);
    a symbolic link there was followed. Both are refused naming the path, before any request."""
    fifo = tmp_path / "fifo.json"
    os.mkfifo(str(fifo))
    victim = tmp_path / "victim.json"
    victim.write_text(json.dumps({"auths": {}}))
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    with LocalRegistry(str(tmp_path), users={USER: PASSWORD}) as reg:
        common = dict(registry=reg.host, ca_file=reg.paths["ca"], retries=0, image=IMAGE)
        # the subprocess timeout only guards against the old hang; it is not a timing assertion
        proc, r = run_play(tmp_path, [verify_task("fifo", config_path=str(fifo), **common),
                                      verify_task("link", config_path=str(link), **common)], timeout=120)
        assert r["fifo"]["failed"] and str(fifo) in r["fifo"]["msg"] and "FIFO" in r["fifo"]["msg"], r["fifo"]
        assert r["link"]["failed"] and str(link) in r["link"]["msg"] and "symbolic link" in r["link"]["msg"]
        assert reg.requests == []
