"""What the toolkit did to the lab, read back from the lab itself (for `python -m lab demo`).

Everything shown is read from the real places (files on the hosts, objects in the API, the compliance
report) and never shows a secret: credentials files are summarised as registry + user + mode.
"""
import json
import os
import ssl
import subprocess
import sys
import urllib.request

from lab import state

CONFIG = "/var/lib/origin/.docker/config.json"

# runs inside a lab host with its /usr/bin/python3: mode, owner and (registry, user) of each entry
_PROBE = r"""
import base64, json, os, sys
p = sys.argv[1]
try:
    st = os.stat(p)
except OSError:
    print(json.dumps(None)); sys.exit(0)
try:
    auths = json.load(open(p)).get("auths", {})
    entries = [[k, base64.b64decode(v.get("auth", "")).decode().split(":", 1)[0]] for k, v in auths.items()]
except Exception as e:
    entries = "invalid: %s" % e.__class__.__name__
print(json.dumps({"mode": "%04o" % (st.st_mode & 0o7777), "uid": st.st_uid, "entries": entries}))
"""


def _host_file(host):
    r = subprocess.run([sys.executable, "-m", "lab", "exec", host, "--", "/usr/bin/python3", "-c", _PROBE, CONFIG],
                       cwd=str(state.REPO), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return "unreadable (%s)" % r.stderr.strip()[-200:]
    return json.loads(r.stdout)


def _standalone_registry(host, port=5000, service="docker-distribution"):
    """(active?, HTTP status of GET /v2/) of the stand-alone registry on ``host``, probed from inside
    the host (its systemctl and its loopback view of the registry's TLS address)."""
    probe = ("systemctl is-active %s >/dev/null 2>&1 && echo active || echo inactive; "
             "curl -s -o /dev/null -w '%%{http_code}' --cacert /etc/docker-distribution/registry/tls/ca.crt "
             "https://$(hostname):%d/v2/ 2>/dev/null || true" % (service, port))
    r = subprocess.run([sys.executable, "-m", "lab", "exec", host, "--", "sh", "-c", probe],
                       cwd=str(state.REPO), capture_output=True, text=True, timeout=60)
    lines = r.stdout.split()
    return (lines[0] if lines else "unknown"), (lines[1] if len(lines) > 1 else "no answer")


def _api_get(status, path):
    api = status["api"]
    ctx = ssl.create_default_context(cafile=status["ca_file"])
    req = urllib.request.Request(api["url"] + path, headers={"Authorization": "Bearer " + api["tokens"]["readonly"]})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=15) as resp:
            return json.loads(resp.read())
    except Exception as e:  # the summary reports, it does not fail
        return {"error": str(e)}


def print_summary(status, report_path=None):
    out = sys.stdout.write
    out("\n=== What the toolkit did to the lab (read back from the lab) ===\n")
    out("\nNode credentials (%s):\n" % CONFIG)
    for h in status.get("hosts", []):
        f = _host_file(h["name"])
        if not isinstance(f, dict):
            out("  %-10s %s\n" % (h["name"], f or "missing"))
            continue
        regs = f["entries"] if isinstance(f["entries"], str) else ", ".join(
            "%s (user %s)" % (k, u) for k, u in f["entries"])
        out("  %-10s mode %s uid %d: %s\n" % (h["name"], f["mode"], f["uid"], regs))
    if status.get("api"):
        sec = _api_get(status, "/api/v1/namespaces/openshift/secrets/imagestreamsecret")
        if "error" in sec or sec.get("kind") == "Status":
            out("\nimagestreamsecret in openshift: missing (%s)\n" % sec.get("error", sec.get("message")))
        else:
            out("\nimagestreamsecret in openshift: type %s, resourceVersion %s\n"
                % (sec.get("type"), sec["metadata"].get("resourceVersion")))
        streams = _api_get(status, "/apis/image.openshift.io/v1/imagestreams")
        out("\nImage streams with imported tags:\n")
        for s in streams.get("items", []):
            md = s["metadata"]
            tags = []
            for t in s.get("status", {}).get("tags", []) or []:
                items = t.get("items") or []
                if items:
                    tags.append("%s@%s" % (t["tag"], items[0].get("image", "")[:19]))
                else:
                    conds = t.get("conditions") or [{}]
                    tags.append("%s: %s" % (t["tag"], conds[0].get("message", "not imported")[:60]))
            if tags and md["namespace"] not in ("openshift3", "rhel7", "rhscl", "laborg"):
                out("  %s/%s: %s\n" % (md["namespace"], md["name"], "; ".join(tags)))
        dcs = _api_get(status, "/apis/apps.openshift.io/v1/namespaces/default/deploymentconfigs/docker-registry")
        if dcs.get("kind") == "DeploymentConfig":
            img = dcs["spec"]["template"]["spec"]["containers"][0]["image"]
            out("\nIntegrated registry: DeploymentConfig default/docker-registry, image %s\n" % img)
    nodes = [h["name"] for h in status.get("hosts", []) if "nodes" in h.get("groups", [])
             and "masters" not in h.get("groups", [])]
    if nodes:
        active, code = _standalone_registry(nodes[-1])
        out("\nStand-alone registry on %s:5000: docker-distribution %s, GET /v2/ -> %s%s\n"
            % (nodes[-1], active, code, " (authentication required)" if code == "401" else ""))
    if report_path and os.path.exists(report_path):
        rep = json.load(open(report_path))
        out("\nCompliance report %s:\n" % report_path)
        for name, h in sorted(rep.get("hosts", {}).items()):
            failed = [r["check"] for r in h.get("results", []) if r["status"] == "fail"]
            out("  %-10s %s\n" % (name, "compliant" if h.get("compliant") else "NOT compliant: " + ", ".join(failed)))
