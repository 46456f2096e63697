"""lab/tlsserve.py: the TLS serving the front door (lab/frontproxy.py) and the token realm (lab/tokenrealm.py)
share, run in-process on loopback with a certificate from a private lab CA: each answers over verified TLS,
with its own server attributes, and a client that never finishes its handshake does not hold up the others."""
import http.client
import json
import socket
import ssl
import threading
import time

import pytest

from lab import frontproxy, pki, state, tokenrealm


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def certs(tmp_path):
    paths = state.LabPaths(tmp_path)
    cert, key = pki.issue(paths, "serve", ["127.0.0.1", "localhost"])
    return {"cert": str(cert), "key": str(key), "ca": str(paths.ca_cert)}


def _start(target, cfg):
    threading.Thread(target=target, args=(cfg,), daemon=True).start()


def _get(port, ca, path):
    """GET over TLS verified against the lab CA; retried (bounded) while the daemon thread starts."""
    ctx = ssl.create_default_context(cafile=ca)
    last = None
    for _ in range(100):
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
        except ConnectionRefusedError as e:
            last = e
            time.sleep(0.05)
        finally:
            conn.close()
    raise AssertionError("nothing listens on %d: %r" % (port, last))


def test_front_door_and_token_realm_serve_tls_through_the_shared_helper(certs, tmp_path):
    # a token realm (its own attribute: the Realm): an anonymous token (no access granted)
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps({"accounts": []}))
    signing = pki.signing_key(state.LabPaths(tmp_path), "realm")
    realm_port = _free_port()
    realm_cfg = {"name": "unit", "bind": "127.0.0.1", "port": realm_port, "cert": certs["cert"],
                 "key": certs["key"], "signing_key": str(signing),
                 "path": "/auth", "issuer": "unit", "service": "unit", "accounts": str(accounts), "lifetime": 60}
    _start(tokenrealm.serve, realm_cfg)
    status, _, body = _get(realm_port, certs["ca"], "/auth?service=unit&scope=repository:a/b:pull")
    assert status == 200 and json.loads(body.decode())["token"], body

    # a front door (its own attributes: cfg and the upstream client context) routing /auth to that realm;
    # a client that connects and never sends its TLS hello must not block it (handshake in its own thread)
    stuck = socket.create_connection(("127.0.0.1", realm_port))
    door_port = _free_port()
    door_cfg = {"name": "unit", "bind": "127.0.0.1", "port": door_port, "cert": certs["cert"], "key": certs["key"],
                "ca_file": certs["ca"], "upstream": "http://127.0.0.1:%d" % _free_port(),
                "routes": [{"path": "/auth", "upstream": "https://127.0.0.1:%d" % realm_port}],
                "rewrite_realm": None}
    _start(frontproxy.serve, door_cfg)
    try:
        status, _, body = _get(door_port, certs["ca"], "/auth?service=unit&scope=repository:a/b:pull")
        assert status == 200 and json.loads(body.decode())["token"], body
        status, _, _ = _get(door_port, certs["ca"], "/v2/")      # the registry upstream is down: the door says so
        assert status == 502
    finally:
        stuck.close()


def test_usage_without_a_config(capsys):
    assert frontproxy.main([]) == 2 and tokenrealm.main(["a", "b"]) == 2
    err = capsys.readouterr().err
    assert "usage: python -m lab.frontproxy CONFIG.json" in err and "usage: python -m lab.tokenrealm CONFIG.json" in err
