"""The seed's own scenario end to end (issue 11): an OKD 3.11 cluster installed without registry credentials.

The lab's `openshift` namespace holds the image streams a 3.11 install ships (lab/openshift_install.py), their
first import made by the API stand-in's own controller: without `imagestreamsecret` every Red Hat tag has
`ImportSuccess False` with 3.11's `you may not have access to the Docker image "..."`; mongodb and nginx still
name the old registry (registry.access.redhat.com's stand-in, anonymous), which serves mongodb 3.4 and nginx
1.12 but lacks mongodb 3.6. The compliance check for image streams fails on exactly that. Check mode of the
toolkit's cluster playbooks (imagestreamsecret, then image streams) reports what it would re-import and
sends no changing request; the real run creates the secret, repoints mongodb and nginx and re-imports every
failed tag: each stream is listed fixed, every tag carries the digest the lab registry serves. A second run
changes nothing and sends no changing API request; the compliance check passes.
"""
import json

import pytest

import labtools
from test_cluster_secrets import RequestLog, playbook, task_results

NS = "openshift"
REIMPORT_TASK = "Image streams that never imported or last failed, re-imported (old registry repointed first)"


@pytest.fixture(scope="module")
def fresh(lab, tmp_path_factory):
    """The fresh install state: no imagestreamsecret, the install's streams recreated and failing. Afterwards
    (a failed test included) the lab is left repaired: secret present, streams imported."""
    from lab import openshift_install, state
    yield openshift_install.reset(state.Lab(), lab)
    code, _ = openshift_install._api(state.Lab(), lab, "GET", "/api/v1/namespaces/%s/secrets/imagestreamsecret" % NS)
    if code != 200 or any(not _tag(s, t).get("items") for s in _streams(lab).values()
                          for t in [x["name"] for x in s["spec"]["tags"]]):
        _toolkit(lab, tmp_path_factory.mktemp("repair"))


def _streams(lab):
    from lab import openshift_install, state
    code, doc = openshift_install._api(state.Lab(), lab, "GET", openshift_install.API_STREAMS)
    assert code == 200, doc
    return dict((s["metadata"]["name"], s) for s in doc["items"])


def _tag(stream, tag):
    for t in (stream.get("status") or {}).get("tags") or []:
        if t["tag"] == tag:
            return t
    return {}


def _spec_from(stream, tag):
    return [t["from"]["name"] for t in stream["spec"]["tags"] if t["name"] == tag][0]


def _toolkit(lab, tmp_path, *args):
    """The toolkit's cluster part in site.yml's order: imagestreamsecret, then image streams (re-import)."""
    pb = tmp_path / "cluster.yml"
    pb.write_text("- ansible.builtin.import_playbook: %s/playbooks/cluster_registry_secrets.yml\n"
                  "- ansible.builtin.import_playbook: %s/playbooks/image_streams.yml\n"
                  % (labtools.REPO, labtools.REPO))
    p, data = playbook(lab, str(pb), tmp_path, args=args)
    assert data is not None, p.stdout[-3000:] + p.stderr[-3000:]
    res = [r for n, r in task_results(data) if n.endswith(REIMPORT_TASK)]
    assert res, "the re-import task did not run:\n" + p.stdout[-3000:]
    return p, data, res[0]["results"][0]


def _image_stream_checks(lab, tmp_path, name):
    """{(check, object): status} of the cluster compliance's image-stream checks for the openshift streams."""
    report = tmp_path / name
    rc, out = labtools.run_playbook("playbooks/compliance.yml", "-i", lab["inventory"]["ansible"], "--limit",
                                    "master1", "-e", "registry_compliance_report_path=%s" % report)
    assert report.exists(), out[-3000:]
    doc = json.loads(report.read_text())
    return dict(((r["check"], r.get("object")), (r["status"], r["message"])) for r in doc["cluster"]["results"]
                if r["check"] in ("image_stream_imports", "image_stream_registry")
                and (r.get("object") or "").startswith("imagestream %s/" % NS))


def test_install_streams_fail_then_the_toolkit_fixes_them(lab, fresh, tmp_path):
    redhat, old = lab["registries"]["redhat"], lab["old_registry"]
    installed = fresh["streams"]
    assert {"httpd", "jenkins", "mariadb", "mysql", "nodejs", "perl", "php", "postgresql", "python", "redis",
            "ruby", "mongodb", "nginx"} <= set(installed)
    assert fresh["old_registry_streams"] == ["mongodb", "nginx"]

    # ---- the fresh install: the controller's first import failed, with 3.11's messages
    live = _streams(lab)
    for name, tags in installed.items():
        for tag, frm in tags.items():
            st = _tag(live[name], tag)
            if frm.startswith(redhat["host"] + "/"):
                cond = st["conditions"][0]
                assert (cond["type"], cond["status"], cond["reason"]) == ("ImportSuccess", "False", "Unauthorized")
                ref = frm if ":" in frm.rsplit("/", 1)[1] else frm + ":latest"
                assert cond["message"] == 'you may not have access to the Docker image "%s"' % ref
                assert not st.get("items")
    assert _tag(live["mongodb"], "3.6")["conditions"][0]["reason"] == "NotFound"
    # the old registry serves what it has anonymously: its own digests
    assert _tag(live["mongodb"], "3.4")["items"][0]["image"] == old["digests"]["rhscl/mongodb-34-rhel7:latest"]
    assert _tag(live["nginx"], "1.12")["items"][0]["image"] == old["digests"]["rhscl/nginx-112-rhel7:latest"]

    before = _image_stream_checks(lab, tmp_path, "before.json")
    for name in installed:      # nginx imported from the old registry: only its registry is wrong
        want = "pass" if name == "nginx" else "fail"
        assert before[("image_stream_imports", "imagestream %s/%s" % (NS, name))][0] == want, (name, before)
    for name in ("mongodb", "nginx"):
        status, msg = before[("image_stream_registry", "imagestream %s/%s" % (NS, name))]
        assert status == "fail" and old["host"] in msg
    assert before[("image_stream_registry", "imagestream %s/httpd" % NS)][0] == "pass"

    # ---- check mode: what would be re-imported, no changing request
    log = RequestLog(lab).mark()
    p, _, res = _toolkit(lab, tmp_path, "--check")
    assert p.returncode == 0, p.stdout[-3000:]
    assert log.changing() == []
    assert sorted(res["outcomes"]["would_reimport"]) == sorted("%s/%s" % (NS, n) for n in installed)
    assert res["outcomes"]["fixed"] == []
    assert _tag(_streams(lab)["httpd"], "2.4")["conditions"][0]["reason"] == "Unauthorized"

    # ---- the real run: secret, repoint, re-import; every stream fixed with the lab registry's digests
    p, data, res = _toolkit(lab, tmp_path)
    assert p.returncode == 0, p.stdout[-3000:]
    assert sorted(res["outcomes"]["fixed"]) == sorted("%s/%s" % (NS, n) for n in installed), res["outcomes"]
    assert res["outcomes"]["failing"] == [] and res["changed"] is True
    by_name = dict((s["name"], s) for s in res["streams"])
    assert sorted(by_name["mongodb"]["repointed"]) == ["3.4", "3.6"] and by_name["nginx"]["repointed"] == ["1.12"]
    live = _streams(lab)
    for name, tags in installed.items():
        for tag, frm in tags.items():
            now = _spec_from(live[name], tag)
            assert now.startswith(redhat["host"] + "/"), (name, tag, now)
            repo_tag = now.split("/", 1)[1]
            repo_tag = repo_tag if ":" in repo_tag.rsplit("/", 1)[1] else repo_tag + ":latest"
            st = _tag(live[name], tag)
            assert st["items"][0]["image"] == redhat["digests"][repo_tag], (name, tag)
            assert not st.get("conditions"), (name, tag, st)
        # `latest` follows its version tag (an ImageStreamTag reference)
        assert _tag(live[name], "latest").get("items"), name

    # ---- the second run changes nothing and sends no changing request
    log.mark()
    p, data, res = _toolkit(lab, tmp_path)
    assert p.returncode == 0, p.stdout[-3000:]
    assert log.changing() == [], log.changing()
    assert [n for n, r in task_results(data) if r.get("changed")] == []
    assert sorted(res["outcomes"]["untouched"]) == sorted("%s/%s" % (NS, n) for n in installed)

    after = _image_stream_checks(lab, tmp_path, "after.json")
    for name in installed:
        assert after[("image_stream_imports", "imagestream %s/%s" % (NS, name))][0] == "pass", (name, after)
        assert after[("image_stream_registry", "imagestream %s/%s" % (NS, name))][0] == "pass", (name, after)
