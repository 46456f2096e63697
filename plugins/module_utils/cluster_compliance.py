# -*- coding: utf-8 -*-
# Cluster-level compliance: the OKD 3.11 document's verifications as pure functions (stdlib only,
# no I/O, Python 2.7 and 3.6+). The caller (module okd_cluster_compliance, on the controller) reads
# the API objects and the hosts' files and hands them here; every check yields result dicts
# {"check", "status", "message", optional "host", "registry", "object"} like compliance.result.
#
# Also: the report's JUnit XML and readable table (junit_xml, report_table), shared by the role's
# filters and pyinfra.
from __future__ import absolute_import, division, print_function

import base64
import datetime
import hmac
import re
from xml.sax.saxutils import escape, quoteattr

from .compliance import FAIL, PASS, SKIP, UNTESTED, credential_mac
from .dockercfg import _utf8, credential_entries, get_credentials, make_auth, normalize_registry, parse_config
from .errors import ToolkitError

#: a finding the policy asks to report without failing (credential_kind: warn)
WARN = "warn"

DOCKERCONFIGJSON = "kubernetes.io/dockerconfigjson"

# check id -> what it proves (docs/compliance.md)
CLUSTER_CHECKS = {
    "imagestreamsecret_present": "the imagestreamsecret exists in its namespace (default openshift)",
    "imagestreamsecret_type": "it is of type kubernetes.io/dockerconfigjson and its content parses",
    "imagestreamsecret_entry": "it holds an entry for the Red Hat registry",
    "imagestreamsecret_access": "that entry's credentials log in to the registry and pull the test image "
                                "(from the controller, the core's v2 flow)",
    "imagestreamsecret_matches_master": "it holds the same credential as the master's node file",
    "node_matches_master": "a node's file holds the same credentials as the master's for each registry",
    "credential_kind": "the Red Hat registry credential is a service-account token (NNNNNNNN|name), not "
                       "a web username/password (policy: fail, warn or off)",
    "image_stream_imports": "no tag of the image stream has a failed last import",
    "image_stream_registry": "the image stream names no old registry",
    "registry_deploymentconfig": "the integrated registry's DeploymentConfig exists with available replicas",
    "registry_service": "its Service exists with the configured port",
    "registry_route": "its Route exists with the configured host and termination",
    "registry_certificate": "its serving certificate is valid for the Service and Route names and does not "
                            "expire within the configured days",
    "pull_secret_present": "a pull secret the inventory declares exists and holds its registries",
    "pull_secret_linked": "the pull secret is linked to its service account",
    "registry_smoke": "opt-in (registry_compliance_cluster_smoke): the integrated registry's smoke check passes (push "
                      "through the Route with a service account's token, image stream tag, triggered rollout, "
                      "pull from a node)",
}

_SA_TOKEN_USER = re.compile(r"^[0-9]{8}\|.+$")


def cresult(check, status, message, host=None, registry=None, obj=None):
    r = {"check": check, "status": status, "message": message}
    if host is not None:
        r["host"] = host
    if registry is not None:
        r["registry"] = registry
    if obj is not None:
        r["object"] = obj
    return r


def _bytes(value):
    if isinstance(value, bytes):
        return value
    return _utf8(u"%s" % value)


def same_credential(a, b):
    """(username, password) equality in constant time (never a fingerprint in a report)."""
    if a is None or b is None:
        return False
    same = True
    for x, y in zip(a, b):
        same = hmac.compare_digest(_bytes(x), _bytes(y)) and same
    return same


def secret_config(secret):
    """(config or None, error or None) of a dockerconfigjson Secret's data (never its content in errors)."""
    raw = ((secret or {}).get("data") or {}).get(".dockerconfigjson")
    if raw is None:
        return None, ".dockerconfigjson: missing"
    try:
        text = base64.b64decode(raw).decode("utf-8")
    except Exception:
        return None, ".dockerconfigjson: not base64 of UTF-8 text"
    try:
        return parse_config(text, ".dockerconfigjson"), None
    except ToolkitError as e:
        return None, e.msg


def file_config(host, content):
    """(config or None, error or None) of a host's node file: its text (None: missing/unreadable) or what the host
    returned instead of the text (compliance.node_file_macs): then the config holds each entry's user with the
    MAC of its credential as the password, so credentials compare equal exactly when the files' do."""
    if isinstance(content, dict):
        if content.get("error"):
            return None, "%s: %s" % (host, content["error"])
        if "entries" not in content:
            content = None
        else:
            return {"auths": dict((e["registry"], {"auth": make_auth(e["username"], e["mac"])})
                                  for e in content["entries"] or [])}, None
    if content is None:
        return None, "%s: the credentials file is missing or unreadable" % host
    try:
        return parse_config(content, "%s:config.json" % host), None
    except ToolkitError as e:
        return None, "%s: %s" % (host, e.msg)


def is_service_account_user(username):
    """True for a Red Hat registry service-account token's user name (NNNNNNNN|name)."""
    return bool(username) and bool(_SA_TOKEN_USER.match(username))


def credential_kind_result(registry, username, policy, where):
    """The credential_kind check: a username/password (not NNNNNNNN|name) is a finding per ``policy``."""
    if policy == "off":
        return None
    if username is None:
        return cresult("credential_kind", SKIP, "%s: no credential for %s to judge" % (where, registry),
                       registry=registry)
    if is_service_account_user(username):
        return cresult("credential_kind", PASS, "%s: %s uses a service-account token (user %s)"
                       % (where, registry, username), registry=registry)
    return cresult("credential_kind", FAIL if policy == "fail" else WARN,
                   "%s: %s uses the username/password of user %s; the Red Hat documentation supports only "
                   "registry service-account tokens (NNNNNNNN|name) for production clusters"
                   % (where, registry, username), registry=registry)


def check_imagestreamsecret(secret, name, namespace, registry, master_host=None, master_content=None,
                            access=None, test_image=None, credential_kind="warn", mac_key=None):
    """Checks of the imagestreamsecret.

    secret: the live Secret or None. registry: the Red Hat registry key. master_content: the master's node
    file text, or what the master returned instead (compliance.node_file_macs, made with ``mac_key``: the
    secret's credential is compared as its MAC under that key). access: None (not verified), else a dict
    {"outcome": verify_access result} or {"error": text} from the controller's verification.
    """
    obj = "secret %s/%s" % (namespace, name)
    out = []
    if secret is None:
        out.append(cresult("imagestreamsecret_present", FAIL, "%s does not exist: image streams in %s cannot "
                           "import from %s" % (obj, namespace, registry), obj=obj))
        return out
    out.append(cresult("imagestreamsecret_present", PASS, "%s exists" % obj, obj=obj))
    stype = secret.get("type")
    if stype != DOCKERCONFIGJSON:
        out.append(cresult("imagestreamsecret_type", FAIL, "%s is of type %s, not %s"
                           % (obj, stype, DOCKERCONFIGJSON), obj=obj))
        return out
    config, err = secret_config(secret)
    if config is None:
        out.append(cresult("imagestreamsecret_type", FAIL, "%s: %s" % (obj, err), obj=obj))
        return out
    out.append(cresult("imagestreamsecret_type", PASS, "%s is %s" % (obj, DOCKERCONFIGJSON), obj=obj))
    creds = get_credentials(config, registry)
    if creds is None:
        out.append(cresult("imagestreamsecret_entry", FAIL, "%s has no entry for %s" % (obj, registry),
                           registry=registry, obj=obj))
        return out
    out.append(cresult("imagestreamsecret_entry", PASS, "%s: entry for %s, user %s" % (obj, registry, creds[0]),
                       registry=registry, obj=obj))
    if access is not None:
        if access.get("error"):
            out.append(cresult("imagestreamsecret_access", FAIL, "%s: %s" % (obj, access["error"]),
                               registry=registry, obj=obj))
        else:
            o = access.get("outcome") or {}
            if not o.get("credentials_tested"):
                out.append(cresult("imagestreamsecret_access", UNTESTED, "%s: %s: credentials not tested: "
                                   "anonymous access (the registry never asked for them)" % (obj, registry),
                                   registry=registry, obj=obj))
            else:
                msg = "%s: logged in to %s as %s" % (obj, registry, creds[0])
                if o.get("digest"):
                    msg += "; pulled manifest of %s (%s)" % (test_image, o["digest"])
                out.append(cresult("imagestreamsecret_access", PASS, msg, registry=registry, obj=obj))
    if master_host is not None:
        mconfig, merr = file_config(master_host, master_content)
        mcreds = get_credentials(mconfig, registry) if mconfig is not None else None
        if mconfig is None:
            out.append(cresult("imagestreamsecret_matches_master", FAIL, "%s cannot be compared with the master's "
                               "file: %s" % (obj, merr), host=master_host, registry=registry, obj=obj))
        elif mcreds is None:
            out.append(cresult("imagestreamsecret_matches_master", FAIL, "%s cannot be compared: %s's file has no "
                               "entry for %s" % (obj, master_host, registry), host=master_host, registry=registry,
                               obj=obj))
        elif same_credential((creds[0], credential_mac(mac_key, creds[0], creds[1])) if mac_key else creds,
                             mcreds):
            out.append(cresult("imagestreamsecret_matches_master", PASS, "%s holds the same credential for %s as "
                               "%s's file (user %s)" % (obj, registry, master_host, creds[0]),
                               host=master_host, registry=registry, obj=obj))
        else:
            what = ("user %s, the master's %s" % (creds[0], mcreds[0]) if creds[0] != mcreds[0]
                    else "user %s, another password or token" % creds[0])
            out.append(cresult("imagestreamsecret_matches_master", FAIL, "%s holds another credential for %s than "
                               "%s's file (%s)" % (obj, registry, master_host, what),
                               host=master_host, registry=registry, obj=obj))
    kind = credential_kind_result(registry, creds[0], credential_kind, obj)
    if kind is not None:
        out.append(kind)
    return out


def check_nodes_against_master(master_host, contents):
    """node_matches_master: every host's file holds the master's credential for each registry in the master's
    file. contents: {host: file text or None}, the master's included (compared in memory, never reported)."""
    out = []
    mconfig, merr = file_config(master_host, contents.get(master_host))
    if mconfig is None:
        out.append(cresult("node_matches_master", FAIL, "cannot compare the nodes with the master: %s" % merr,
                           host=master_host))
        return out
    entries = credential_entries(mconfig)
    for host in sorted(contents):
        if host == master_host:
            continue
        config, err = file_config(host, contents[host])
        if config is None:
            out.append(cresult("node_matches_master", FAIL, err, host=host))
            continue
        for e in entries:
            reg = e["registry"]
            have = get_credentials(config, reg)
            if have is None:
                out.append(cresult("node_matches_master", FAIL, "%s: no entry for %s, which %s's file has"
                                   % (host, reg, master_host), host=host, registry=reg))
            elif same_credential(have, (e["username"], e["password"])):
                out.append(cresult("node_matches_master", PASS, "%s: same credential for %s as %s (user %s)"
                                   % (host, reg, master_host, have[0]), host=host, registry=reg))
            else:
                what = ("user %s, the master's %s" % (have[0], e["username"]) if have[0] != e["username"]
                        else "user %s, another password or token" % have[0])
                out.append(cresult("node_matches_master", FAIL, "%s: the entry for %s differs from %s's (%s)"
                                   % (host, reg, master_host, what), host=host, registry=reg))
    return out


def _registry_of(ref):
    first = (ref or "").split("/", 1)[0]
    if "/" in (ref or "") and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def check_image_streams(namespace, streams, old_registries=()):
    """image_stream_imports / image_stream_registry per stream of ``namespace`` (a list of ImageStreams)."""
    out = []
    old = set(normalize_registry(r) for r in old_registries if r)
    if not streams:
        out.append(cresult("image_stream_imports", SKIP, "namespace %s has no image streams" % namespace,
                           obj="namespace %s" % namespace))
        return out
    for s in sorted(streams, key=lambda s: (s.get("metadata") or {}).get("name") or ""):
        name = (s.get("metadata") or {}).get("name")
        obj = "imagestream %s/%s" % (namespace, name)
        failed = []
        named_old = []
        status_tags = dict((t.get("tag"), t) for t in ((s.get("status") or {}).get("tags") or []))
        for t in ((s.get("spec") or {}).get("tags") or []):
            frm = t.get("from") or {}
            if frm.get("kind") == "DockerImage" and old and normalize_registry(_registry_of(frm.get("name"))) in old:
                named_old.append("%s (%s)" % (t.get("name"), frm.get("name")))
            st = status_tags.get(t.get("name")) or {}
            items = st.get("items") or []
            for cond in st.get("conditions") or []:
                if cond.get("type") == "ImportSuccess" and cond.get("status") == "False":
                    gen_item = items[0].get("generation", 0) if items else -1
                    if not items or cond.get("generation", 0) >= gen_item:
                        failed.append("%s: %s" % (t.get("name"), cond.get("message") or cond.get("reason")
                                                  or "import failed"))
        if failed:
            out.append(cresult("image_stream_imports", FAIL, "%s: last import failed for tag %s"
                               % (obj, "; tag ".join(failed)), obj=obj))
        else:
            out.append(cresult("image_stream_imports", PASS, "%s: no failed import" % obj, obj=obj))
        if old:
            if named_old:
                out.append(cresult("image_stream_registry", FAIL, "%s still names the old registry: %s"
                                   % (obj, ", ".join(named_old)), obj=obj))
            else:
                out.append(cresult("image_stream_registry", PASS, "%s names no old registry" % obj, obj=obj))
    return out


# ---------------------------------------------------------------------------------------------------
# X.509 (DER) reading, just what the certificate check needs: notAfter and the subjectAltNames.
def _der(data, pos):
    """(tag, content start, content end) of the DER element at ``pos``."""
    tag = bytearray(data[pos:pos + 1])[0]
    length = bytearray(data[pos + 1:pos + 2])[0]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = 0
        for b in bytearray(data[pos:pos + n]):
            length = (length << 8) | b
        pos += n
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(data, start, end):
    pos = start
    while pos < end:
        tag, s, e = _der(data, pos)
        yield tag, s, e
        pos = e


def _time(tag, raw):
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    return datetime.datetime.strptime(text[:14], "%Y%m%d%H%M%S")


_SAN_OID = b"\x06\x03\x55\x1d\x11"


def pem_certificates(pem):
    """DER bytes of each certificate in a PEM text."""
    if isinstance(pem, bytes):
        pem = pem.decode("ascii", "replace")
    out = []
    for m in re.finditer(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", pem or "", re.S):
        out.append(base64.b64decode("".join(m.group(1).split())))
    return out


def certificate_info(der):
    """{"not_after": naive UTC datetime, "dns": [..], "ip": [..]} of a DER certificate."""
    _tag, s, e = _der(der, 0)
    _tag, ts, te = _der(der, s)  # tbsCertificate
    fields = list(_children(der, ts, te))
    i = 1 if fields and fields[0][0] == 0xA0 else 0  # [0] version
    validity = fields[i + 3]
    times = list(_children(der, validity[1], validity[2]))
    not_after = _time(times[1][0], der[times[1][1]:times[1][2]])
    dns, ips = [], []
    for tag, fs, fe in fields[i + 6:]:
        if tag != 0xA3:
            continue
        _tag, xs, xe = _der(der, fs)  # Extensions SEQUENCE
        for _etag, es, ee in _children(der, xs, xe):
            parts = list(_children(der, es, ee))
            if der[parts[0][1] - 2:parts[0][2]] != _SAN_OID:
                continue
            octets = parts[-1]
            _tag, gs, ge = _der(der, octets[1])
            for gtag, ns, ne in _children(der, gs, ge):
                if gtag == 0x82:
                    dns.append(der[ns:ne].decode("ascii").lower())
                elif gtag == 0x87:
                    raw = bytearray(der[ns:ne])
                    if len(raw) == 4:
                        ips.append(".".join(str(b) for b in raw))
    return {"not_after": not_after, "dns": dns, "ip": ips}


def _name_covered(name, dns):
    name = name.lower()
    for d in dns:
        if d == name:
            return True
        if d.startswith("*.") and "." in name and name.split(".", 1)[1] == d[2:]:
            return True
    return False


def check_integrated_registry(namespace, name, dc, service, route, cert_secret, now, renew_days=30,
                              port=None, route_enabled=True, route_host=None, route_termination=None,
                              cert_secret_name="registry-certificates", secure=True):
    """registry_deploymentconfig, registry_service, registry_route and registry_certificate.
    now: a naive UTC datetime (the caller's clock; a parameter so tests need no wall clock)."""
    out = []
    dc_obj = "deploymentconfig %s/%s" % (namespace, name)
    if dc is None:
        out.append(cresult("registry_deploymentconfig", FAIL, "%s does not exist" % dc_obj, obj=dc_obj))
    else:
        want = (dc.get("spec") or {}).get("replicas", 1)
        avail = (dc.get("status") or {}).get("availableReplicas") or 0
        if avail < 1 or (want and avail < want):
            out.append(cresult("registry_deploymentconfig", FAIL, "%s has %d available replica(s) of %s"
                               % (dc_obj, avail, want), obj=dc_obj))
        else:
            out.append(cresult("registry_deploymentconfig", PASS, "%s: %d of %d replica(s) available"
                               % (dc_obj, avail, want), obj=dc_obj))
    svc_obj = "service %s/%s" % (namespace, name)
    svc_names = []
    if service is None:
        out.append(cresult("registry_service", FAIL, "%s does not exist" % svc_obj, obj=svc_obj))
    else:
        ports = [p.get("port") for p in ((service.get("spec") or {}).get("ports") or [])]
        if port is not None and int(port) not in ports:
            out.append(cresult("registry_service", FAIL, "%s serves ports %s, not %s" % (svc_obj, ports, port),
                               obj=svc_obj))
        else:
            out.append(cresult("registry_service", PASS, "%s serves port(s) %s" % (svc_obj, ports), obj=svc_obj))
        svc_names = ["%s.%s.svc" % (name, namespace)]
    route_names = []
    rt_obj = "route %s/%s" % (namespace, name)
    if route_enabled:
        if route is None:
            out.append(cresult("registry_route", FAIL, "%s does not exist" % rt_obj, obj=rt_obj))
        else:
            spec = route.get("spec") or {}
            problems = []
            if route_host and spec.get("host") != route_host:
                problems.append("host %s, expected %s" % (spec.get("host"), route_host))
            term = (spec.get("tls") or {}).get("termination")
            if route_termination and term != route_termination:
                problems.append("termination %s, expected %s" % (term, route_termination))
            if problems:
                out.append(cresult("registry_route", FAIL, "%s: %s" % (rt_obj, "; ".join(problems)), obj=rt_obj))
            else:
                out.append(cresult("registry_route", PASS, "%s: host %s, termination %s"
                                   % (rt_obj, spec.get("host"), term), obj=rt_obj))
            if spec.get("host"):
                route_names = [spec["host"]]
    if not secure:
        return out
    c_obj = "secret %s/%s" % (namespace, cert_secret_name)
    if cert_secret is None:
        out.append(cresult("registry_certificate", FAIL, "%s (the serving certificate) does not exist" % c_obj,
                           obj=c_obj))
        return out
    raw = ((cert_secret.get("data") or {}).get("registry.crt"))
    try:
        certs = pem_certificates(base64.b64decode(raw or ""))
        info = certificate_info(certs[0])
    except Exception:
        out.append(cresult("registry_certificate", FAIL, "%s: registry.crt is missing or not a PEM certificate"
                           % c_obj, obj=c_obj))
        return out
    problems = []
    missing = [n for n in svc_names + route_names if not _name_covered(n, info["dns"])]
    if missing:
        problems.append("not valid for %s (names: %s)" % (", ".join(missing), ", ".join(info["dns"]) or "none"))
    left = info["not_after"] - now
    if left < datetime.timedelta(days=int(renew_days)):
        problems.append("expires %s UTC, within %d days" % (info["not_after"].strftime("%Y-%m-%d %H:%M:%S"),
                                                            int(renew_days)))
    if problems:
        out.append(cresult("registry_certificate", FAIL, "%s: the certificate is %s" % (c_obj, "; ".join(problems)),
                           obj=c_obj))
    else:
        out.append(cresult("registry_certificate", PASS, "%s: valid for %s until %s UTC" % (
            c_obj, ", ".join(svc_names + route_names), info["not_after"].strftime("%Y-%m-%d")), obj=c_obj))
    return out


def check_pull_secret(namespace, name, registries, secret, service_accounts):
    """pull_secret_present / pull_secret_linked. registries: keys the secret must hold;
    service_accounts: [(sa name, ["pull", "mount"], live SA or None)]."""
    out = []
    obj = "secret %s/%s" % (namespace, name)
    if secret is None:
        out.append(cresult("pull_secret_present", FAIL, "%s does not exist" % obj, obj=obj))
    else:
        config, err = secret_config(secret) if secret.get("type") == DOCKERCONFIGJSON else (None, None)
        if config is None:
            out.append(cresult("pull_secret_present", FAIL, "%s is not a usable %s secret%s"
                               % (obj, DOCKERCONFIGJSON, (": " + err) if err else " (type %s)" % secret.get("type")),
                               obj=obj))
        else:
            missing = [r for r in registries if get_credentials(config, r) is None]
            if missing:
                out.append(cresult("pull_secret_present", FAIL, "%s has no entry for %s" % (obj, ", ".join(missing)),
                                   obj=obj))
            else:
                out.append(cresult("pull_secret_present", PASS, "%s exists with entries for %s"
                                   % (obj, ", ".join(registries) or "its registries"), obj=obj))
    for sa_name, for_, sa in service_accounts:
        sa_obj = "serviceaccount %s/%s" % (namespace, sa_name)
        if sa is None:
            out.append(cresult("pull_secret_linked", FAIL, "%s does not exist (to link %s)" % (sa_obj, obj), obj=sa_obj))
            continue
        missing = []
        for what, field in (("pull", "imagePullSecrets"), ("mount", "secrets")):
            if what in for_ and not any(isinstance(r, dict) and r.get("name") == name for r in sa.get(field) or []):
                missing.append("%s (%s)" % (what, field))
        if missing:
            out.append(cresult("pull_secret_linked", FAIL, "%s is not linked to %s for %s"
                               % (obj, sa_obj, ", ".join(missing)), obj=sa_obj))
        else:
            out.append(cresult("pull_secret_linked", PASS, "%s is linked to %s for %s"
                               % (obj, sa_obj, ", ".join(for_)), obj=sa_obj))
    return out


# ---------------------------------------------------------------------------------------------------
# the opt-in smoke check (roles/okd_integrated_registry/tasks/smoke.yml run by registry_compliance)
_SMOKE_STEP = re.compile(r"^Smoke (\d+/\d+|cleanup),?\s*(.*)$")


def smoke_result(outcome):
    """The ``registry_smoke`` result from the smoke's outcome as the role records it: ``{"state": "pass" |
    "fail" | "check_mode", "registry": route host, "object": "NS/NAME:TAG", "message": the passing step's
    summary, the failed step's own message (the registry's or the API's) or the plan, "task": the failed
    task's name ("Smoke N/9, what")}``. A failure names its step: ``smoke step N/9 (what) failed: MSG``."""
    if not isinstance(outcome, dict):
        return cresult("registry_smoke", FAIL, "the smoke check gave no outcome")
    state = outcome.get("state")
    message = (outcome.get("message") or "").strip()
    registry, obj = outcome.get("registry") or None, outcome.get("object") or None
    if state == PASS:
        return cresult("registry_smoke", PASS, message or "smoke check passed", registry=registry, obj=obj)
    if state == "check_mode":
        plan = outcome.get("plan") or []
        if not isinstance(plan, list):
            plan = [plan]
        text = "; ".join(" ".join(str(p).split()) for p in plan if p) or "would run the smoke check"
        return cresult("registry_smoke", SKIP, "check mode (the smoke check creates objects): " + text,
                       registry=registry, obj=obj)
    task = " ".join((outcome.get("task") or "").split())
    m = _SMOKE_STEP.match(task)
    if m:
        where = "smoke step %s (%s)" % (m.group(1), m.group(2)) if m.group(2) else "smoke step %s" % m.group(1)
    else:
        where = "smoke task %r" % task if task else "the smoke check"
    r = cresult("registry_smoke", FAIL, "%s failed: %s" % (where, message or "no message"), registry=registry,
                obj=obj)
    if m:
        r["step"] = m.group(1)
    return r


def with_cluster_results(cluster, results):
    """A copy of a report's ``cluster`` section with ``results`` added; counts and ``compliant`` recomputed (an
    ``error`` of the cluster checks keeps it non-compliant)."""
    out = dict(cluster or {})
    all_results = list(out.get("results") or []) + list(results)
    summary = summarize(all_results)
    out["results"] = all_results
    out["counts"] = summary["counts"]
    out["compliant"] = summary["compliant"] and not out.get("error")
    return out


def summarize(results):
    counts = {PASS: 0, FAIL: 0, SKIP: 0, UNTESTED: 0, WARN: 0}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {"counts": counts, "failed": [r for r in results if r["status"] == FAIL],
            "compliant": counts.get(FAIL, 0) == 0}


# ---------------------------------------------------------------------------------------------------
# report output: JUnit XML and a readable table
def _case_name(r):
    parts = [r["check"]]
    for key in ("host", "registry", "object", "path"):
        if r.get(key):
            parts.append(r[key])
    return " ".join(parts)


def _report_rows(report):
    """(suite, result) for every result of a report: hosts then the cluster."""
    rows = []
    for host in sorted((report.get("hosts") or {})):
        h = report["hosts"][host]
        if h.get("unreachable") or (h.get("error") and not h.get("results")):
            rows.append((host, {"check": "host", "status": FAIL, "message": h.get("error") or "unreachable"}))
        for r in h.get("results") or []:
            rows.append((host, r))
    cluster = report.get("cluster")
    if cluster:
        if cluster.get("error"):
            rows.append(("cluster", {"check": "cluster", "status": FAIL, "message": cluster["error"]}))
        for r in cluster.get("results") or []:
            rows.append(("cluster", r))
    return rows


def junit_xml(report):
    """JUnit XML of a report: one testsuite per host and one for the cluster, one testcase per result.
    fail -> <failure>; skip, untested and warn -> <skipped message="STATUS: ..."> (not failures; the
    status is also a property of the testcase)."""
    rows = _report_rows(report)
    suites = []
    order = []
    for suite, r in rows:
        if suite not in suites:
            suites.append(suite)
        order.append((suite, r))
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    total_f = sum(1 for _suite, r in rows if r["status"] == FAIL)
    total_s = sum(1 for _suite, r in rows if r["status"] in (SKIP, UNTESTED, WARN))
    out.append('<testsuites name="okd-registry-toolkit compliance" tests="%d" failures="%d" skipped="%d">'
               % (len(rows), total_f, total_s))
    for suite in suites:
        mine = [r for s, r in order if s == suite]
        out.append('  <testsuite name=%s tests="%d" failures="%d" errors="0" skipped="%d">' % (
            quoteattr(suite), len(mine), sum(1 for r in mine if r["status"] == FAIL),
            sum(1 for r in mine if r["status"] in (SKIP, UNTESTED, WARN))))
        for r in mine:
            out.append('    <testcase classname=%s name=%s>'
                       % (quoteattr("compliance.%s" % suite), quoteattr(_case_name(r))))
            out.append('      <properties><property name="status" value=%s/></properties>'
                       % quoteattr(r["status"]))
            msg = r.get("message") or ""
            if r["status"] == FAIL:
                out.append('      <failure message=%s type="%s">%s</failure>'
                           % (quoteattr(msg), r["check"], escape(msg)))
            elif r["status"] in (SKIP, UNTESTED, WARN):
                out.append('      <skipped message=%s/>' % quoteattr("%s: %s" % (r["status"], msg)))
            out.append('    </testcase>')
        out.append('  </testsuite>')
    out.append('</testsuites>')
    return "\n".join(out) + "\n"


def report_table(report):
    """A readable table of a report: one line per result (status, where, check, message), then the counts."""
    rows = _report_rows(report)
    lines = []
    head = ("STATUS", "WHERE", "CHECK", "MESSAGE")
    w_where = max([len(head[1])] + [len(s) for s, _r in rows])
    w_check = max([len(head[2])] + [len(r["check"]) for _suite, r in rows])
    fmt = "%-8s %-" + str(w_where) + "s %-" + str(w_check) + "s %s"
    lines.append(fmt % head)
    for suite, r in rows:
        lines.append(fmt % (r["status"].upper(), suite, r["check"], r.get("message") or ""))
    counts = summarize([r for _suite, r in rows])["counts"]
    lines.append("%d checks: %d pass, %d fail, %d warn, %d skip, %d untested" % (
        len(rows), counts[PASS], counts[FAIL], counts[WARN], counts[SKIP], counts[UNTESTED]))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# the run's verdict: one line per host, and the one failure naming every non-compliant host and check
# (the role prints and asserts these once, run_once, instead of a debug and an assert task on every host)
def _failed(entry):
    """The failed results of a host's (or the cluster's) report entry."""
    return [r for r in entry.get("results") or [] if r.get("status") == FAIL]


def host_summary(h):
    """``compliant``, ``UNREACHABLE`` or ``NOT compliant: MESSAGE; ...`` for one host's report entry (the failed
    checks' messages, then its error: a module failure, a host with no result, the failed write of a credentials
    call that made the checks)."""
    if h.get("compliant"):
        return "compliant"
    if h.get("unreachable"):
        return "UNREACHABLE"
    failed = [r.get("message") or r.get("check") or "" for r in _failed(h)]
    if h.get("error") and h["error"] not in failed:
        failed.append(h["error"])
    return "NOT compliant: " + "; ".join(failed)


def hosts_summary(report):
    """``HOST: host_summary`` for every host of a report, in its host order (sorted), one per line."""
    hosts = report.get("hosts") or {}
    return "\n".join("%s: %s" % (host, host_summary(hosts[host])) for host in sorted(hosts))


def _plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def findings_message(report, report_path):
    """The play's failure when the cluster or a host is not compliant, else ``""``: ``the cluster is not
    compliant: ERROR / MESSAGES``, then per non-compliant host ``HOST is not compliant (N failed checks: CHECK
    [REGISTRY]: MESSAGE; ...)`` (an unreachable host: ``(unreachable: ERROR)``, a host without results: ``(ERROR)``),
    then ``see REPORT``, one line each."""
    parts = []
    cluster = report.get("cluster")
    if cluster is not None and not cluster.get("compliant"):
        failed = [r.get("message") or r.get("check") for r in _failed(cluster)]
        parts.append("the cluster is not compliant: %s%s" % (cluster.get("error") or "", "; ".join(failed)))
    hosts = report.get("hosts") or {}
    for host in sorted(hosts):
        h = hosts[host]
        if h.get("compliant"):
            continue
        failed = _failed(h)
        if h.get("unreachable"):
            what = "unreachable: %s" % (h.get("error") or "")
        elif not failed:
            what = h.get("error") or "no result"
        else:
            what = "%s: %s" % (_plural(len(failed), "failed check"), "; ".join(
                "%s%s: %s" % (r.get("check"), " " + r["registry"] if r.get("registry") else "", r.get("message") or "")
                for r in failed))
        parts.append("%s is not compliant (%s)" % (host, what))
    if not parts:
        return ""
    return "\n".join(parts + ["see %s" % report_path])
