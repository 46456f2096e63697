"""A lab token realm: the Docker registry v2 bearer-token service of registry.redhat.io / quay.io.

Run as its own process (``python -m lab.tokenrealm CONFIG.json``, started by lab.registries). It
checks Basic credentials against an accounts JSON file that is re-read on every request (so
revoking an account takes effect at once), grants access only to repositories that match the
account's pull/push patterns (fnmatch), and issues short-lived ES256 JWTs that CNCF distribution
accepts through ``auth.token`` (``kid`` = libtrust key id of the signing key).

CONFIG.json: {"bind", "port", "cert", "key", "signing_key", "path", "issuer", "service",
              "accounts", "lifetime", "error_message", "name"}
accounts file: {"accounts": [{"username", "password", "pull": [...], "push": [...], "revoked"}]}
"""
import base64
import fnmatch
import hashlib
import hmac
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from lab import tlsserve

# actions a token can carry; anything else requested ("delete", "*") is never granted
_ACTIONS = ("pull", "push")


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key):
    """The libtrust key id distribution matches a JWT ``kid`` against: base32 of the first 30 bytes
    of SHA-256 over the SPKI DER, in groups of 4 joined by ':'."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


def load_signing_key(path):
    with open(str(path), "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def make_jwt(key, claims):
    header = {"typ": "JWT", "alg": "ES256", "kid": libtrust_key_id(key.public_key())}
    signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode())
                     + "." + _b64url(json.dumps(claims, separators=(",", ":")).encode()))
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def load_accounts(path):
    with open(str(path)) as f:
        return json.load(f).get("accounts", [])


def authenticate(accounts, username, password):
    """The account dict for valid, non-revoked credentials, else None."""
    for acct in accounts:
        if acct.get("username") == username:
            ok = hmac.compare_digest(str(acct.get("password", "")).encode("utf-8"),
                                     password.encode("utf-8"))
            if ok and not acct.get("revoked"):
                return acct
            return None
    return None


def parse_scope(scope):
    """'repository:ns/repo:pull,push' -> ('repository', 'ns/repo', ['pull', 'push']) or None."""
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    rtype, actions = parts[0], parts[-1]
    name = ":".join(parts[1:-1])
    return rtype, name, [a for a in actions.split(",") if a]


def _match(name, patterns):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns or [])


def grant(acct, scopes):
    """The JWT ``access`` list for an account (None = anonymous) and requested scopes."""
    access = []
    for scope in scopes:
        parsed = parse_scope(scope)
        if parsed is None:
            continue
        rtype, name, wanted = parsed
        if not rtype.startswith("repository") or acct is None:
            continue
        allowed = set()
        if _match(name, acct.get("push")):
            allowed.update(("pull", "push"))
        if _match(name, acct.get("pull")):
            allowed.add("pull")
        actions = [a for a in _ACTIONS if a in wanted and a in allowed]
        if actions:
            access.append({"type": rtype, "name": name, "actions": actions})
    return access


class Realm(object):
    def __init__(self, cfg):
        self.cfg = cfg
        self.key = load_signing_key(cfg["signing_key"])
        self.lifetime = int(cfg.get("lifetime", 60))

    def token(self, acct, scopes, service):
        now = int(time.time())
        claims = {
            "iss": self.cfg["issuer"],
            "sub": acct["username"] if acct else "",
            "aud": service,
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": grant(acct, scopes),
        }
        tok = make_jwt(self.key, claims)
        return {"token": tok, "access_token": tok, "expires_in": self.lifetime,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}


def _basic(header):
    """(username, password) from an Authorization header, None when absent, False when malformed."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    if ":" not in raw:
        return False
    user, _, pw = raw.partition(":")
    return user, pw


class Handler(BaseHTTPRequestHandler):
    server_version = "lab-token-realm/1"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY on every connection, as Go's net package sets it (the real registry and OKD API are Go
    # servers): with Nagle on, a kept-alive client waits ~40 ms for each answer's body (delayed ACK)
    disable_nagle_algorithm = True
    timeout = 30

    def log_message(self, fmt, *args):
        """The request line and whether credentials came with it (``authorization=basic|none``: the scheme
        only, never a value), so a test can tell which token requests carried credentials (issue 13 item 6)."""
        headers = getattr(self, "headers", None)
        scheme = ((headers.get("Authorization") or "").split(" ", 1)[0].lower() if headers is not None else "")
        sys.stderr.write("%s %s authorization=%s\n" % (self.address_string(), fmt % args, scheme or "none"))

    def _send(self, code, body, extra=None):
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _unauthorized(self):
        realm = self.server.realm
        cfg = realm.cfg
        url = "https://%s:%d%s" % (cfg["public_host"], cfg["port"], cfg["path"])
        self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": cfg["error_message"]}]},
                   {"WWW-Authenticate": 'Basic realm="%s"' % url})

    def _issue(self, creds, query):
        realm = self.server.realm
        cfg = realm.cfg
        service = (query.get("service") or [cfg["service"]])[0]
        scopes = []
        for s in query.get("scope", []):
            scopes.extend(s.split(" "))  # several scopes may be space-separated in one parameter
        if creds is False:
            return self._unauthorized()
        acct = None
        if creds is not None:
            try:
                acct = authenticate(load_accounts(cfg["accounts"]), creds[0], creds[1])
            except (OSError, ValueError) as e:
                sys.stderr.write("cannot read accounts: %s\n" % e)
                return self._send(500, {"errors": [{"code": "UNKNOWN", "message": "internal error"}]})
            if acct is None:
                return self._unauthorized()
        if service != cfg["service"]:
            return self._send(400, {"errors": [{"code": "DENIED",
                                                "message": "unknown service %r" % service}]})
        return self._send(200, realm.token(acct, scopes, service))

    def do_GET(self):
        u = urlsplit(self.path)
        if u.path != self.server.realm.cfg["path"]:
            return self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
        return self._issue(_basic(self.headers.get("Authorization")), parse_qs(u.query))

    def do_POST(self):
        """OAuth2 form (grant_type=password), as used by some clients instead of GET + Basic."""
        u = urlsplit(self.path)
        if u.path != self.server.realm.cfg["path"]:
            return self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
        n = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(n).decode("utf-8", "replace")) if n else {}
        creds = _basic(self.headers.get("Authorization"))
        if (form.get("grant_type") or [""])[0] == "password":
            creds = ((form.get("username") or [""])[0], (form.get("password") or [""])[0])
        elif (form.get("grant_type") or [""])[0] == "refresh_token":
            return self._unauthorized()  # no refresh tokens are issued
        form.update({k: v for k, v in parse_qs(u.query).items() if k not in form})
        return self._issue(creds, form)


def serve(cfg):
    tlsserve.serve(cfg, Handler, "token realm", realm=Realm(cfg))


def main(argv):
    return tlsserve.main(argv, "tokenrealm", serve)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
