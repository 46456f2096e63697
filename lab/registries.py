"""The lab's two container registries: "redhat" (like registry.redhat.io) and "quay" (like quay.io).

Each is a real CNCF distribution (``docker-registry serve CONFIG``, plain HTTP on 127.0.0.1) behind its
front door (lab/frontproxy.py: TLS from the lab CA on the registry's name and port, on ``lab.gateway``),
with bearer-token auth through its own token realm (lab/tokenrealm.py, a separate process on its own
name and port). The front door serves the realm's path on the registry's own host and port, as
registry.redhat.io and quay.io do; quay also has a second door (``split``) whose challenge names the realm
on its own host, the other layout OKD 3.11's importer treats differently (docs/lab-registries.md). Accounts live in ``.lab/registries/<reg>/accounts.json`` (0600, passwords
generated once); the realm re-reads that file on every request, so ``set_revoked`` acts at once.
Storage (``.lab/registries/<reg>/data``) persists across down/up; images are seeded by lab.images.
See docs/lab-registries.md.
"""
import base64
import datetime
import hashlib
import json
import os
import secrets
import socket
import string
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from lab import frontproxy, images, pki, proc, state, tlsserve, tokenrealm

REGISTRY_NAMES = ("redhat", "quay")

# account kinds decide the shape of the generated password
_SA, _PASSWORD, _ROBOT = "service-account", "password", "robot"
_RH_PULLS = ["openshift3/*", "rhel7/*", "rhscl/*"]

DEFS = {
    "redhat": {
        # realm on the registry's own host and port, like registry.redhat.io
        "registry_key": "redhat_registry",
        "realm_key": "redhat_realm",
        "realm_path": "/auth/realms/rhcc/protocol/redhat-docker-v2/auth",
        "service": lambda lab: "docker-registry",
        "issuer": lambda lab: lab.service_url("redhat_realm") + "/auth/realms/rhcc",
        "error_message": "Invalid username or password",
        "pusher": "lab-pusher",
        "accounts": [
            # username, kind, pull, push, revoked
            ("11009103|lab-cluster", _SA, _RH_PULLS, [], False),
            ("labuser", _PASSWORD, _RH_PULLS, [], False),
            ("11009103|no-entitlement", _SA, [], [], False),
            ("11009103|revoked-sa", _SA, _RH_PULLS, [], True),
            ("lab-pusher", _PASSWORD, ["*"], ["*"], False),
        ],
    },
    "quay": {
        "registry_key": "quay_registry",
        "realm_key": "quay_realm",
        "realm_path": "/v2/auth",
        # realm on the registry's own host and port, like quay.io (https://quay.io/v2/auth); the split door
        # (another name and port, same distribution) names the realm on its own host auth.quay.lab.test
        "split_key": "quay_split_registry",
        # quay.io uses its SERVER_HOSTNAME (with the port when it is not 443) as the service
        "service": lambda lab: lab.service_host("quay_registry"),
        "issuer": lambda lab: "quay",
        "error_message": "Invalid Username or Password",
        "pusher": "laborg+pusher",
        "accounts": [
            ("laborg+robot", _ROBOT, ["laborg/*"], [], False),
            ("laborg+pusher", _ROBOT, ["laborg/*"], ["laborg/*"], False),
        ],
    },
}

TOKEN_LIFETIME = 60  # seconds, short like the real services


# distribution listens on 127.0.0.1:<public port + BACKEND_OFFSET> (plain HTTP, only the front doors use it)
BACKEND_OFFSET = 10000


def _proc_names(name):
    """Daemons of one registry, in start order."""
    out = ["realm-" + name, "registry-" + name, "front-" + name]
    if DEFS[name].get("split_key"):
        out.append("front-%s-split" % name)
    return tuple(out)


def _dir(lab, name):
    return lab.paths.registries / name



def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _new_password(kind, username):
    if kind == _SA:
        # Red Hat registry service-account tokens are long signed JWTs (~1 KB)
        head = _b64url(b'{"alg":"RS512"}')
        body = _b64url(json.dumps({"sub": secrets.token_hex(16), "lab": username}).encode())
        return "%s.%s.%s" % (head, body, _b64url(secrets.token_bytes(512)))
    if kind == _ROBOT:
        # quay robot tokens: 64 upper-case letters and digits
        alphabet = string.ascii_uppercase + string.digits
        return "".join(secrets.choice(alphabet) for _ in range(64))
    return secrets.token_urlsafe(18)


def accounts_file(lab, name):
    return _dir(lab, name) / "accounts.json"


def _read_accounts(lab, name):
    try:
        return json.loads(accounts_file(lab, name).read_text()).get("accounts", [])
    except (OSError, ValueError):
        return []


def _write_accounts(lab, name, accounts):
    state.write_private(accounts_file(lab, name), json.dumps({"accounts": accounts}, indent=1))


def ensure_accounts(lab, name):
    """(Re)write the accounts file: passwords kept from earlier runs, everything else as defined
    (so `up` restores the defined revoked flags)."""
    old = {a.get("username"): a for a in _read_accounts(lab, name)}
    accounts = []
    for username, kind, pull, push, revoked in DEFS[name]["accounts"]:
        prev = old.get(username) or {}
        pw = prev.get("password") if prev.get("kind") == kind and prev.get("password") else None
        accounts.append({"username": username, "password": pw or _new_password(kind, username),
                         "kind": kind, "pull": list(pull), "push": list(push), "revoked": revoked})
    _write_accounts(lab, name, accounts)
    return accounts


def _public(accounts):
    return [{k: a[k] for k in ("username", "password", "pull", "push", "revoked")} for a in accounts]


def set_revoked(lab, registry, username, revoked):
    """Revoke (or restore) one account; takes effect at the next token request. Also updates the
    account in status.json when present. Returns the account (public fields)."""
    if registry not in DEFS:
        raise KeyError("unknown registry %r (known: %s)" % (registry, ", ".join(REGISTRY_NAMES)))
    accounts = _read_accounts(lab, registry)
    if not accounts:
        raise RuntimeError("registry %s has no accounts yet (is the lab up?)" % registry)
    for a in accounts:
        if a.get("username") == username:
            a["revoked"] = bool(revoked)
            found = a
            break
    else:
        raise KeyError("registry %s has no account %r (known: %s)"
                       % (registry, username, ", ".join(a["username"] for a in accounts)))
    _write_accounts(lab, registry, accounts)
    status = lab.load_status()
    try:
        for a in status["registries"][registry]["accounts"]:
            if a.get("username") == username:
                a["revoked"] = bool(revoked)
        lab.save_status(status)
    except (KeyError, TypeError):
        pass
    return _public([found])[0]


def _signing_cert(lab, name):
    """Self-signed certificate of the realm's token-signing key: the registry's rootcertbundle."""
    key_path = pki.signing_key(lab.paths, "token-" + name)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    cert_path = _dir(lab, name) / "token-signing.crt"
    pub = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    if cert_path.exists():
        try:
            cur = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if cur.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == pub:
                return key_path, cert_path
        except ValueError:
            pass
    now = datetime.datetime.now(datetime.timezone.utc)
    subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u"lab token signer " + name)])
    cert = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def _plan(lab, name):
    """Write certificates, accounts and configs of one registry; return its description."""
    d = DEFS[name]
    rdir = _dir(lab, name)
    (rdir / "data").mkdir(parents=True, exist_ok=True)
    os.chmod(str(rdir), 0o700)
    ca = pki.ensure_ca(lab.paths)
    reg_name, realm_name = lab.names[d["registry_key"]], lab.names[d["realm_key"]]
    reg_port, realm_port = lab.ports[d["registry_key"]], lab.ports[d["realm_key"]]
    reg_cert, reg_key = pki.issue(lab.paths, "registry-" + name, [reg_name, lab.gateway])
    realm_cert, realm_key = pki.issue(lab.paths, "realm-" + name, [realm_name, lab.gateway])
    sign_key, sign_cert = _signing_cert(lab, name)
    accounts = ensure_accounts(lab, name)
    service, issuer = d["service"](lab), d["issuer"](lab)
    # the realm as the registry's challenge names it: on the registry's own host and port (front door)
    realm_url = "https://%s:%d%s" % (reg_name, reg_port, d["realm_path"])
    # the realm process itself, on its own name and port (the upstream of the front door's realm route)
    own_realm_url = "https://%s:%d%s" % (realm_name, realm_port, d["realm_path"])
    backend_port = reg_port + BACKEND_OFFSET

    # the CA as a containers-style cert dir (for skopeo --dest-cert-dir)
    cert_dir = rdir / "certs.d"
    cert_dir.mkdir(exist_ok=True)
    (cert_dir / "ca.crt").write_bytes(ca.read_bytes())

    realm_cfg = {"name": name, "bind": lab.gateway, "port": realm_port, "public_host": realm_name,
                 "cert": str(realm_cert), "key": str(realm_key), "signing_key": str(sign_key),
                 "path": d["realm_path"], "issuer": issuer, "service": service,
                 "accounts": str(accounts_file(lab, name)), "lifetime": TOKEN_LIFETIME,
                 "error_message": d["error_message"]}
    secret_file = rdir / "http-secret"
    if not secret_file.exists():
        state.write_private(secret_file, secrets.token_hex(32))
    reg_cfg = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(rdir / "data")},
                    "delete": {"enabled": True},
                    "cache": {"blobdescriptor": "inmemory"},
                    "maintenance": {"uploadpurging": {"enabled": False}}},
        # plain HTTP on loopback: TLS and the public name are the front door's (lab/frontproxy.py)
        "http": {"addr": "127.0.0.1:%d" % backend_port,
                 "host": "https://%s:%d" % (reg_name, reg_port),
                 "secret": secret_file.read_text().strip(),
                 "relativeurls": False,
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
        "auth": {"token": {"realm": realm_url, "service": service, "issuer": issuer,
                           "rootcertbundle": str(sign_cert)}},
        "health": {"storagedriver": {"enabled": False}},
    }
    # what the registry itself trusts as a TLS client: the lab CA, handed to docker-registry as SSL_CERT_FILE.
    # (No notifications.endpoints: nothing in OKD 3.11 consumes distribution's events - issue 13 item 12.)
    trust = rdir / "client-trust.pem"
    bundle = ca.read_text()
    if not trust.exists() or trust.read_text() != bundle:
        trust.write_text(bundle)
    backend = "http://127.0.0.1:%d" % backend_port
    fronts = [("front-" + name, {
        "name": name, "bind": lab.gateway, "port": reg_port, "cert": str(reg_cert), "key": str(reg_key),
        "ca_file": str(ca), "upstream": backend,
        "routes": [{"path": d["realm_path"], "upstream": own_realm_url}], "rewrite_realm": None})]
    split = None
    if d.get("split_key"):
        split_name, split_port = lab.names[d["split_key"]], lab.ports[d["split_key"]]
        split_cert, split_key = pki.issue(lab.paths, "registry-%s-split" % name, [split_name, lab.gateway])
        fronts.append(("front-%s-split" % name, {
            "name": name + "-split", "bind": lab.gateway, "port": split_port, "cert": str(split_cert),
            "key": str(split_key), "ca_file": str(ca), "upstream": backend, "routes": [],
            "rewrite_realm": {"from": realm_url, "to": own_realm_url}}))
        split = {"host": "%s:%d" % (split_name, split_port), "url": "https://%s:%d" % (split_name, split_port),
                 "realm": own_realm_url, "realm_host": "%s:%d" % (realm_name, realm_port), "port": split_port}
    return {
        "name": name, "dir": rdir, "ca_file": ca, "cert_dir": cert_dir, "trust": trust,
        "host": "%s:%d" % (reg_name, reg_port), "port": reg_port, "backend_port": backend_port,
        # where the realm is reached (the front door routes its path to the realm process)
        "realm_host": "%s:%d" % (reg_name, reg_port), "realm_port": realm_port,
        "realm_path": d["realm_path"], "realm": realm_url, "service": service, "split": split,
        "fronts": [(pname, rdir / (pname + ".json"), json.dumps(cfg, indent=1, sort_keys=True))
                   for pname, cfg in fronts],
        "issuer": issuer, "rootcertbundle": sign_cert,
        "accounts": accounts, "pusher": next((a["username"], a["password"]) for a in accounts
                                            if a["username"] == d["pusher"]),
        "configs": {"realm": (rdir / "realm.json", json.dumps(realm_cfg, indent=1, sort_keys=True)),
                    # JSON is YAML: distribution reads it as its config.yml
                    "registry": (rdir / "config.yml", json.dumps(reg_cfg, indent=1, sort_keys=True))},
    }


def _log_tail(lab, pname, n=30):
    try:
        lines = (lab.paths.logs / (pname + ".log")).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def _listening(address, port):
    try:
        socket.create_connection((address, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _port_free(address, port):
    """True when address:port can be bound here (a connect test is not enough: off-machine
    addresses may be answered by something else)."""
    s = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def check_gateway(lab):
    """Fail clearly when lab.gateway is not an address of this machine (bridge not up)."""
    s = socket.socket(socket.AF_INET6 if ":" in lab.gateway else socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((lab.gateway, 0))
    except OSError as e:
        raise RuntimeError("lab registries: cannot bind the gateway address %s (%s); the bridge %s must "
                           "be up first" % (lab.gateway, e.strerror, state.BRIDGE))
    finally:
        s.close()


def _start(lab, pname, cfg_path, cfg_text, argv, port, what, env=None, fingerprint_extra="", address=None):
    """Start (or keep, when running with the same config and environment) one daemon and wait for
    its port (on ``address``, default the gateway)."""
    address = address or lab.gateway
    fingerprint = hashlib.sha256((cfg_text + json.dumps(env or {}, sort_keys=True)
                                  + fingerprint_extra).encode()).hexdigest()
    fp_file = cfg_path.with_name(cfg_path.name + ".running")
    pid = proc.recorded(lab.paths, pname).get(pname)
    if pid and proc.alive(pid):
        try:
            same = fp_file.read_text().strip() == fingerprint
        except OSError:
            same = False
        if same and _listening(address, port):
            return pid
        proc.stop(lab.paths, pname)
    elif pid:
        proc.stop(lab.paths, pname)
    if not _port_free(address, port):
        raise RuntimeError("%s: %s:%d is already in use by a process the lab did not start"
                           % (what, address, port))
    state.write_private(cfg_path, cfg_text)
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    pid = proc.spawn(lab.paths, pname, argv, env=full_env)
    try:
        proc.wait_port(address, port, timeout=30, pid=pid, what=what)
    except RuntimeError as e:
        proc.stop(lab.paths, pname)
        raise RuntimeError("%s\n--- last lines of %s ---\n%s" % (e, lab.paths.logs / (pname + ".log"),
                                                                 _log_tail(lab, pname)))
    fp_file.write_text(fingerprint)
    return pid


def _code_hash(daemon_file):
    """A daemon's code (its module and the TLS serving it shares, lab/tlsserve.py) for its fingerprint."""
    h = hashlib.sha256(open(daemon_file, "rb").read())
    h.update(open(tlsserve.__file__, "rb").read())
    return h.hexdigest()


def _up_one(lab, name):
    plan = _plan(lab, name)
    realm_p, reg_p = _proc_names(name)[:2]
    path, text = plan["configs"]["realm"]
    # the realm's own code is part of its fingerprint: an edited realm is restarted by the next up
    code = _code_hash(tokenrealm.__file__)
    _start(lab, realm_p, path, text, [lab.python, "-m", "lab.tokenrealm", str(path)],
           plan["realm_port"], "token realm of registry %s" % name, fingerprint_extra=code)
    path, text = plan["configs"]["registry"]
    _start(lab, reg_p, path, text, ["docker-registry", "serve", str(path)],
           plan["backend_port"], "registry %s (docker-registry)" % name,
           env={"SSL_CERT_FILE": str(plan["trust"])}, address="127.0.0.1")
    code = _code_hash(frontproxy.__file__)
    for pname, path, text in plan["fronts"]:
        port = json.loads(text)["port"]
        _start(lab, pname, path, text, [lab.python, "-m", "lab.frontproxy", str(path)],
               port, "front door %s of registry %s" % (pname, name), fingerprint_extra=code)
    digests = images.seed(lab, name, plan)
    out = {
        "host": plan["host"],
        "url": "https://" + plan["host"],
        "ca_file": str(plan["ca_file"]),
        # the token realm the registry's challenge names, and its HOST:PORT (here the registry's own)
        "realm": plan["realm"],
        "realm_host": plan["realm_host"],
        "service": plan["service"],
        # what a registry trusting this realm needs (distribution auth.token issuer/rootcertbundle)
        "issuer": plan["issuer"],
        "rootcertbundle": str(plan["rootcertbundle"]),
        "accounts": _public(plan["accounts"]),
        "images": images.refs(name),
        "digests": {ref: digests[ref] for ref in images.refs(name)},
    }
    if plan["split"]:
        # the same registry behind a door whose challenge names the realm on its own host
        out["split"] = {k: plan["split"][k] for k in ("host", "url", "realm", "realm_host")}
    return out


def up(lab):
    """Start both registries and their token realms, seed the images. Returns {"redhat": R, "quay": R}."""
    check_gateway(lab)
    lab.paths.registries.mkdir(parents=True, exist_ok=True)
    pki.ensure_ca(lab.paths)
    # build the images first (umoci on one layout is not concurrency-safe), then bring both up at once
    for name in REGISTRY_NAMES:
        images.build(lab, name)
    out, errors = {}, {}

    def run(name):
        try:
            out[name] = _up_one(lab, name)
        except Exception as e:  # reported below with the registry's name
            errors[name] = e

    threads = [threading.Thread(target=run, args=(n,)) for n in REGISTRY_NAMES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("lab registries failed to start:\n" + "\n".join(
            "[%s] %s" % (n, e) for n, e in sorted(errors.items())))
    return {n: out[n] for n in REGISTRY_NAMES}


def down(lab):
    """Stop registries and realms (storage, accounts and image cache stay). Idempotent."""
    for name in REGISTRY_NAMES:
        for pname in _proc_names(name)[::-1]:
            proc.stop(lab.paths, pname)
            cfg = _dir(lab, name) / ("config.yml" if pname.startswith("registry") else
                                     "realm.json" if pname.startswith("realm") else pname + ".json")
            try:
                os.unlink(str(cfg) + ".running")
            except OSError:
                pass
