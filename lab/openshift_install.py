"""What an OKD 3.11 install without registry credentials leaves in the lab (issue 11, docs/lab.md).

- **The old registry** ``registry.access.redhat.lab.test:5447``, standing for registry.access.redhat.com: a
  real CNCF distribution with TLS from the lab CA and *no auth* (registry.access.redhat.com served its
  images anonymously), holding older content only: of the images the install's streams name there, it has
  ``rhscl/mongodb-34-rhel7`` and ``rhscl/nginx-112-rhel7`` but lacks ``rhscl/mongodb-36-rhel7``
  (lab/images.py ``IMAGES["redhat_access"]``; its digests differ from the Red Hat registry's copies).
- **The `openshift` image streams** a 3.11 install ships: a subset of openshift-ansible release-3.11
  ``roles/openshift_examples/files/examples/latest/image-streams/image-streams-rhel7.json`` (names, display
  annotations, a `latest` ImageStreamTag tag pointing at a version tag, version tags ``from`` DockerImage
  ``registry.redhat.io/...``, referencePolicy Local), here pointing at the lab's Red Hat registry; ``mongodb``
  and ``nginx`` still name the old registry (a cluster upgraded from 3.10). They are created through the
  API stand-in like `oc create -f` does at install time, so the stand-in's own image stream controller
  makes the first import (lab/api/imagestreams.py); without an ``imagestreamsecret`` in `openshift` every
  Red Hat tag ends with ``ImportSuccess False``, reason ``Unauthorized``, 3.11's
  ``you may not have access to the Docker image "..."``; ``mongodb:3.6`` with ``NotFound``.

``up(lab, status)`` is idempotent and cheap when warm: the registry is kept when its config is unchanged,
the images are pushed only when missing (lab.images.seed), and only missing streams are created (existing
ones, imported or not, are left as they are). ``reset(lab, status)`` brings back the fresh install state
for tests: no imagestreamsecret, the streams recreated and failing.
"""
import json
import secrets
import sys
import time

from lab import images, pki, registries, state

KEY = "redhat_access_registry"
PROC = "registry-redhat-access"
NAMESPACE = "openshift"
STANDS_FOR = "registry.access.redhat.com"
API_STREAMS = "/apis/image.openshift.io/v1/namespaces/%s/imagestreams" % NAMESPACE
FIRST_IMPORT_TIMEOUT = 60.0

# (stream, display name, icon, sample repository, the version `latest` follows,
#  [(tag, REPO:TAG on the registry, hidden)], registry: "redhat" or "old")
# Modelled on openshift-ansible release-3.11 image-streams-rhel7.json (a subset of its streams and tags).
STREAMS = [
    ("httpd", "Apache HTTP Server (httpd)", "icon-apache", "https://github.com/openshift/httpd-ex.git", "2.4",
     [("2.4", "rhscl/httpd-24-rhel7", False)], "redhat"),
    ("jenkins", "Jenkins", "icon-jenkins", None, "2",
     [("2", "openshift3/jenkins-2-rhel7:v3.11", False)], "redhat"),
    ("mariadb", "MariaDB", "icon-mariadb", None, "10.2",
     [("10.2", "rhscl/mariadb-102-rhel7:latest", False)], "redhat"),
    ("mongodb", "MongoDB", "icon-mongodb", None, "3.6",
     [("3.4", "rhscl/mongodb-34-rhel7:latest", False), ("3.6", "rhscl/mongodb-36-rhel7:latest", False)], "old"),
    ("mysql", "MySQL", "icon-mysql-database", None, "5.7",
     [("5.7", "rhscl/mysql-57-rhel7:latest", False)], "redhat"),
    ("nginx", "Nginx HTTP server and a reverse proxy (nginx)", "icon-nginx", "https://github.com/sclorg/nginx-ex.git",
     "1.12", [("1.12", "rhscl/nginx-112-rhel7:latest", False)], "old"),
    ("nodejs", "Node.js", "icon-nodejs", "https://github.com/openshift/nodejs-ex.git", "8",
     [("8", "rhscl/nodejs-8-rhel7:latest", False)], "redhat"),
    ("perl", "Perl", "icon-perl", "https://github.com/openshift/dancer-ex.git", "5.26",
     [("5.26", "rhscl/perl-526-rhel7:latest", False)], "redhat"),
    ("php", "PHP", "icon-php", "https://github.com/openshift/cakephp-ex.git", "7.1",
     [("7.1", "rhscl/php-71-rhel7:latest", False)], "redhat"),
    ("postgresql", "PostgreSQL", "icon-postgresql", None, "10",
     [("9.6", "rhscl/postgresql-96-rhel7:latest", False), ("10", "rhscl/postgresql-10-rhel7:latest", False)],
     "redhat"),
    ("python", "Python", "icon-python", "https://github.com/openshift/django-ex.git", "3.6",
     [("2.7", "rhscl/python-27-rhel7:latest", False), ("3.6", "rhscl/python-36-rhel7:latest", False)], "redhat"),
    ("redis", "Redis", "icon-redis", None, "3.2",
     [("3.2", "rhscl/redis-32-rhel7:latest", False)], "redhat"),
    ("ruby", "Ruby", "icon-ruby", "https://github.com/openshift/ruby-ex.git", "2.5",
     [("2.5", "rhscl/ruby-25-rhel7:latest", False)], "redhat"),
]


def _tag_annotations(display, icon, sample, kind, version=None, hidden=False):
    short = display.split(" (")[0]
    ann = {"iconClass": icon, "openshift.io/provider-display-name": "Red Hat, Inc.",
           "tags": ",".join((["hidden"] if hidden else []) + (["builder"] if sample else []) + [kind])}
    if version is None:
        ann["openshift.io/display-name"] = "%s (Latest)" % short
        ann["description"] = ("%s on RHEL 7.\n\nWARNING: By selecting this tag, your application will automatically "
                              "update to use the latest version of %s available on OpenShift, including major "
                              "versions updates." % (short, short))
    else:
        ann["openshift.io/display-name"] = "%s %s" % (short, version)
        ann["description"] = "%s %s on RHEL 7." % (short, version)
        ann["version"] = version
    if sample:
        ann["sampleRepo"] = sample
        ann["supports"] = kind if version is None else "%s:%s,%s" % (kind, version, kind)
    return ann


def stream_definitions(redhat_host, old_host):
    """The install's ImageStream objects (v1 like the examples file, namespace `openshift`)."""
    out = []
    for name, display, icon, sample, latest, tags, reg in STREAMS:
        host = redhat_host if reg == "redhat" else old_host
        spec_tags = [{"name": "latest", "annotations": _tag_annotations(display, icon, sample, name),
                      "from": {"kind": "ImageStreamTag", "name": latest}, "referencePolicy": {"type": "Local"}}]
        for tag, ref, hidden in tags:
            spec_tags.append({"name": tag, "annotations": _tag_annotations(display, icon, sample, name, tag, hidden),
                              "from": {"kind": "DockerImage", "name": "%s/%s" % (host, ref)},
                              "referencePolicy": {"type": "Local"}})
        out.append({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                    "metadata": {"name": name, "namespace": NAMESPACE,
                                 "annotations": {"openshift.io/display-name": display}},
                    "spec": {"lookupPolicy": {"local": False}, "tags": spec_tags}})
    return out


# --------------------------------------------------------------------------------------- the old registry

def _old_registry_plan(lab):
    rdir = lab.paths.registries / "redhat-access"
    (rdir / "data").mkdir(parents=True, exist_ok=True)
    ca = pki.ensure_ca(lab.paths)
    name, port = lab.names[KEY], lab.ports[KEY]
    cert, key = pki.issue(lab.paths, PROC, [name, lab.gateway])
    cert_dir = rdir / "certs.d"
    cert_dir.mkdir(exist_ok=True)
    (cert_dir / "ca.crt").write_bytes(ca.read_bytes())
    secret_file = rdir / "http-secret"
    if not secret_file.exists():
        state.write_private(secret_file, secrets.token_hex(32))
    cfg = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(rdir / "data")}, "delete": {"enabled": True},
                    "cache": {"blobdescriptor": "inmemory"}, "maintenance": {"uploadpurging": {"enabled": False}}},
        "http": {"addr": "%s:%d" % (lab.gateway, port), "host": "https://%s:%d" % (name, port),
                 "secret": secret_file.read_text().strip(), "relativeurls": False,
                 "tls": {"certificate": str(cert), "key": str(key)},
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
        # no auth section: anonymous pulls, like registry.access.redhat.com (and anonymous pushes: lab only)
        "health": {"storagedriver": {"enabled": False}},
    }
    return {"dir": rdir, "ca_file": ca, "cert_dir": cert_dir, "host": "%s:%d" % (name, port), "port": port,
            "config": (rdir / "config.yml", json.dumps(cfg, indent=1, sort_keys=True))}


def old_registry_up(lab):
    """Start (or keep) the old registry and seed its images; returns the `old_registry` status fragment."""
    registries.check_gateway(lab)
    plan = _old_registry_plan(lab)
    path, text = plan["config"]
    registries._start(lab, PROC, path, text, ["docker-registry", "serve", str(path)], plan["port"],
                      "old registry (docker-registry, standing for %s)" % STANDS_FOR,
                      env={"SSL_CERT_FILE": str(plan["ca_file"])})
    digests = images.seed(lab, "redhat_access", {"host": plan["host"], "ca_file": plan["ca_file"],
                                                 "cert_dir": plan["cert_dir"], "dir": plan["dir"]})
    refs = images.refs("redhat_access")
    return {"host": plan["host"], "url": "https://" + plan["host"], "ca_file": str(plan["ca_file"]),
            "stands_for": STANDS_FOR, "auth": "anonymous", "images": refs,
            "digests": {r: digests[r] for r in refs}}


# --------------------------------------------------------------------------------------- the image streams

def _api(lab, status, method, path, body=None):
    api = status["api"]
    host = api["url"].split("://", 1)[1]
    headers = {"Authorization": "Bearer " + api["tokens"]["admin"], "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    code, _, out = images.https_request(lab.gateway, host, lab.paths.ca_cert, method, path, headers, data)
    try:
        doc = json.loads(out.decode("utf-8")) if out else {}
    except ValueError:
        doc = {}
    return code, doc


def _first_import_done(stream):
    """Every DockerImage spec tag has a status entry with an image or a condition (the controller ran)."""
    st = dict((t.get("tag"), t) for t in (stream.get("status") or {}).get("tags") or [])
    for t in (stream.get("spec") or {}).get("tags") or []:
        if (t.get("from") or {}).get("kind") != "DockerImage":
            continue
        e = st.get(t["name"]) or {}
        if not e.get("items") and not e.get("conditions"):
            return False
    return True


def _list_streams(lab, status):
    code, doc = _api(lab, status, "GET", API_STREAMS)
    if code != 200:
        raise RuntimeError("openshift image streams: GET %s answered %d: %s"
                           % (API_STREAMS, code, doc.get("message") or doc))
    return dict((s["metadata"]["name"], s) for s in doc.get("items") or [])


def streams_up(lab, status, wait=True):
    """Create the install's streams that are missing; wait (bounded) for the controller's first import.
    Returns the `openshift_image_streams` status fragment."""
    redhat_host = status["registries"]["redhat"]["host"]
    old_host = status["old_registry"]["host"]
    defs = stream_definitions(redhat_host, old_host)
    live = _list_streams(lab, status)
    created = []
    for d in defs:
        name = d["metadata"]["name"]
        if name in live:
            continue
        code, doc = _api(lab, status, "POST", API_STREAMS, d)
        if code not in (201, 409):
            raise RuntimeError("openshift image streams: creating %s answered %d: %s"
                               % (name, code, doc.get("message") or doc))
        created.append(name)
    if created and wait:
        deadline = time.time() + FIRST_IMPORT_TIMEOUT
        while True:
            live = _list_streams(lab, status)
            pending = [n for n in created if n in live and not _first_import_done(live[n])]
            if not pending:
                break
            if time.time() > deadline:
                sys.stderr.write("lab: the first import of image streams %s in %s has not finished after %ds\n"
                                 % (", ".join(pending), NAMESPACE, FIRST_IMPORT_TIMEOUT))
                break
            time.sleep(0.2)
    return {"namespace": NAMESPACE,
            "streams": dict((d["metadata"]["name"],
                             dict((t["name"], t["from"]["name"]) for t in d["spec"]["tags"]
                                  if t["from"]["kind"] == "DockerImage")) for d in defs),
            "old_registry_streams": sorted(s[0] for s in STREAMS if s[-1] == "old")}


def up(lab, status):
    """The old registry, then (when the API and the registries are up) the `openshift` streams. Adds
    `old_registry` and `openshift_image_streams` to status (in place) and returns status."""
    status["old_registry"] = old_registry_up(lab)
    if isinstance(status.get("api"), dict) and isinstance((status.get("registries") or {}).get("redhat"), dict):
        status["openshift_image_streams"] = streams_up(lab, status)
    return status


def reset(lab, status):
    """The fresh install state (tests): no imagestreamsecret in `openshift`, the install's streams deleted and
    created again, so that the controller's first import fails as it does on a new cluster."""
    _api(lab, status, "DELETE", "/api/v1/namespaces/%s/secrets/imagestreamsecret" % NAMESPACE)
    for s in STREAMS:
        _api(lab, status, "DELETE", "%s/%s" % (API_STREAMS, s[0]))
    return streams_up(lab, status)


def down(lab):
    from lab import proc
    proc.stop(lab.paths, PROC)
    try:
        (lab.paths.registries / "redhat-access" / "config.yml.running").unlink()
    except OSError:
        pass
