#!/usr/bin/python
# -*- coding: utf-8 -*-
# Thin adapter over plugins/module_utils/k8s_images.py + k8s_client.py: `oc import-image`, idempotent, plus
# finding and repointing image streams that still name an old registry.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: okd_image_import
short_description: Import images into an OKD 3.11 image stream (like oc import-image) and repoint old registries
description:
  - Does what C(oc import-image STREAM --from=HOST/REPO:TAG --confirm [--scheduled]) does, idempotently -
    ensures the image stream exists with one spec tag per I(tags) item (C(from) kind C(DockerImage)
    C(SOURCE:TAG)), then imports through C(POST imagestreamimports) the tags that need it, and returns a
    per-tag result with the digest or OKD's error message (3.11 says
    C(you may not have access to the Docker image "HOST/REPO:TAG") for any 401 and
    C(dockerimage.image.openshift.io "HOST/REPO:TAG" not found) for a missing tag; the module adds which
    registry and which pull secret of the namespace OKD used, or that none matches).
  - OKD 3.11 imports a created or changed stream on its own, in the background (the image stream
    controller), and its ImageStreamImport handler writes the stream guarded by the resourceVersion it read
    first, without retrying. When the controller's import wrote first, the module's import gets 409; the
    module then reads the stream again and decides again (usually nothing is left to import). Results are
    matched by stream tag (C(spec.images[].to.name)); 3.11 answers with the source tag.
  - Each ImageStreamImport request is allowed I(api_timeout) plus the time 3.11's limiter needs (2 manifests
    per second after a burst of 3, fetched one after another; for I(all), the 50-tag limit).
  - Warns when the namespace holds several pull secrets for one registry (3.11 uses only the first).
    An import that fails with C(x509) names the fix (the masters' C(imagePolicyConfig.additionalTrustedCA),
    or I(insecure)).
  - A tag needs an import when its spec was created or changed, when it has never been imported, or when
    its last import failed. With I(refresh=true) every tag is re-imported (like running
    C(oc import-image) again); the task then reports changed only if a digest changed. When nothing needs
    an import, only GET requests are made.
  - With I(all=true), every tag of I(source) is imported, like
    C(oc import-image STREAM --from=HOST/REPO --all --confirm) - an ImageStreamImport with
    C(spec.repository). The API server lists the repository's tags (with the namespace's pull secrets,
    like any import), imports up to its per-repository limit (3.11's
    C(imagePolicyConfig.maxImagesBulkImportedPerRepository), 50 by default; tags left out are returned in
    C(additional_tags) with a warning) and writes one spec tag C(SOURCE:TAG) and its status per tag. Every
    run first POSTs the same request with C(spec.import=false), the read-only preview of
    C(oc import-image --dry-run), to learn the repository's current tags and digests; the import itself
    (C(spec.import=true)) is sent only when a tag is new, points at another image, was never imported, last
    failed or has another import policy - or with I(refresh=true). So a rerun with nothing new upstream
    sends no request that changes anything, and a tag pushed upstream since the last run is imported.
    Tags of the stream that are no longer in the repository are left alone, as by OKD. When the tags
    cannot be listed (e.g. C(unauthorized) without a pull secret for the registry) nothing is written and
    the task fails with the registry's message (check mode only warns).
  - Repointing (for clusters moving from registry.access.redhat.com to registry.redhat.io) - with
    I(repoint_from)/I(repoint_to), spec tags whose C(from) names the old registry are rewritten to the
    new one and re-imported. Without I(name), every image stream in I(namespace) is checked (and, without
    I(repoint_from) or I(refresh), nothing is imported - a pure registry check).
    I(expected_registry) reports (and with I(fail_on_registry_mismatch) fails on) tags that point
    elsewhere.
  - Re-importing what never imported (the seed's situation after the cluster was installed without registry
    credentials, fixed by creating C(imagestreamsecret)) - with I(reimport_failed) and no I(name), every image
    stream of I(namespace) is checked and each DockerImage tag that was never imported or whose last import failed
    is imported again (one ImageStreamImport per stream, for those tags only; OKD 3.11 itself never retries them
    after a secret appears). With I(repoint_from), streams naming the old registry are repointed first. Each
    stream's C(outcome) says C(fixed), C(failing) (with the registry's message per tag), C(untouched) or, in
    check mode, C(would_reimport); a rerun with nothing left to import sends only GET requests. A tag that still
    fails is tried again on every run (OKD 3.11 does not rewrite its condition when the failure is the same).
  - Check mode is client-side (GETs only; no POST of an import), so it works on OKD 3.11. With I(all=true)
    check mode also sends the read-only preview (C(spec.import=false)), which changes nothing on the
    server, to report which tags would be imported; it never sends C(spec.import=true).
  - "Runs on the controller (C(delegate_to: localhost))."
version_added: "0.1.0"
author: okd-registry-toolkit developers (!UNKNOWN)
extends_documentation_fragment:
  - okd.registry_toolkit.okd_api
options:
  namespace:
    description: Namespace of the image stream(s).
    type: str
    required: true
  name:
    description: Image stream name. Optional only when repointing or checking a whole namespace.
    type: str
  source:
    description: C(HOST[:PORT]/REPO) to import from (C(oc import-image --from) without the tag).
    type: str
    aliases: [from]
  tags:
    description: Tags to import from I(source); each becomes a spec tag of the same name. Not with I(all).
    type: list
    elements: str
    default: []
  all:
    description:
      - Import every tag of I(source) (C(oc import-image --all)) instead of the listed I(tags); tags that appear
        in the repository later are imported by a later run. Needs I(name) and I(source).
      - I(reference_policy) applies to tags the import creates; OKD keeps the reference policy of existing tags.
    type: bool
    default: false
    aliases: [import_all]
  scheduled:
    description: Set C(importPolicy.scheduled) so OKD re-imports the tags periodically (C(--scheduled)).
    type: bool
    default: false
  insecure:
    description: Set C(importPolicy.insecure) (allow HTTP / unverified TLS to the registry).
    type: bool
    default: false
  reference_policy:
    description: C(referencePolicy.type) of the tags (C(Source) or C(Local)).
    type: str
    choices: [Source, Local]
  refresh:
    description: Re-import every tag even when it is already imported (what running C(oc import-image) does).
      With I(all), send the import even when the preview shows nothing new.
    type: bool
    default: false
  fail_on_import_error:
    description: Fail when a tag could not be imported (the results are returned either way).
    type: bool
    default: true
  reimport_failed:
    description:
      - Import again every DockerImage tag never imported or whose last import failed, in the named stream or,
        without I(name), in every image stream of I(namespace) (after repointing with I(repoint_from)). Tags that
        imported are left alone (use I(refresh) to re-import them too).
    type: bool
    default: false
  repoint_from:
    description: Old registry host (e.g. C(registry.access.redhat.com)); spec tags naming it are repointed.
    type: str
  repoint_to:
    description: New registry host (e.g. C(registry.redhat.io)); required with I(repoint_from).
    type: str
  expected_registry:
    description: Registry every checked tag should point at; tags pointing elsewhere are reported in C(mismatches).
    type: str
  fail_on_registry_mismatch:
    description: Fail when C(mismatches) is not empty (after repointing).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for the stream status to show the imported images (one poll loop).
    type: int
    default: 30
notes:
  - Registry credentials for the import come from the dockerconfigjson secrets of the namespace
    (see M(okd.registry_toolkit.okd_registry_secret)), exactly as OKD uses them.
"""

EXAMPLES = r"""
- name: Import hello 1.0 and 1.1 from Quay
  okd.registry_toolkit.okd_image_import:
    kubeconfig: /tmp/admin.kubeconfig
    namespace: lab-apps
    name: hello
    source: quay.example.com/myorg/hello
    tags: ["1.0", "1.1"]
    scheduled: true
  delegate_to: localhost
  run_once: true

- name: Import every tag of the repository (oc import-image hello --from=... --all --confirm)
  okd.registry_toolkit.okd_image_import:
    kubeconfig: /tmp/admin.kubeconfig
    namespace: lab-apps
    name: hello-all
    source: quay.example.com/myorg/hello
    all: true
  delegate_to: localhost
  run_once: true
  register: hello_all

- name: After imagestreamsecret exists - repoint, then re-import what never imported (oc import-image, per stream)
  okd.registry_toolkit.okd_image_import:
    kubeconfig: /tmp/admin.kubeconfig
    namespace: openshift
    reimport_failed: true
    repoint_from: registry.access.redhat.com
    repoint_to: registry.redhat.io
    fail_on_import_error: false
  delegate_to: localhost
  run_once: true
  register: reimport      # reimport.outcomes.fixed / failing / untouched

- name: Move every stream of the openshift namespace to registry.redhat.io
  okd.registry_toolkit.okd_image_import:
    kubeconfig: /tmp/admin.kubeconfig
    namespace: openshift
    repoint_from: registry.access.redhat.com
    repoint_to: registry.redhat.io
    expected_registry: registry.redhat.io
    fail_on_import_error: false
"""

RETURN = r"""
tags:
  description:
    - Per-tag result of the named stream - {tag, from, digest, imported, message, changed, import_requested};
      with I(all) also C(why) (the reason the tag needs an import, empty when it does not).
    - With I(all), one item per tag of the repository that the server imported (or, in check mode, would
      import); C(digest) is the repository's digest; with I(all) in check mode C(imported) tells whether the
      tag resolved in the preview.
  returned: always
  type: list
  elements: dict
streams:
  description:
    - Per-stream results - {namespace, name, operation (created|updated|unchanged), repointed, tags,
      additional_tags, outcome, failing}.
    - C(outcome) is C(fixed) (an import was sent for tags that needed it and they all imported), C(failing) (a tag
      still does not import; C(failing) lists {tag, from, message} with the registry's message), C(untouched)
      (nothing needed an import) or, in check mode, C(would_reimport).
  returned: always
  type: list
  elements: dict
outcomes:
  description: Stream names (NAMESPACE/NAME) by outcome - {fixed, failing, untouched, would_reimport}.
  returned: always
  type: dict
additional_tags:
  description: With I(all), tags of the repository the server did not import because of its per-repository
    limit (C(status.repository.additionalTags)).
  returned: always
  type: list
  elements: str
imported:
  description: Tags an import was requested for (or would be, in check mode), as NAME:TAG.
  returned: always
  type: list
  elements: str
mismatches:
  description: Tags whose source is not on I(expected_registry) - {stream, tag, from}.
  returned: always
  type: list
  elements: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError
from ansible_collections.okd.registry_toolkit.plugins.module_utils.k8s import resource_path
from ansible_collections.okd.registry_toolkit.plugins.module_utils.k8s_images import (
    image_stream_definition, image_stream_import, image_stream_import_repository, import_failure_hint,
    import_request_timeout,
    import_results, registry_secret_names, replace_registry, repository_import_plan, repository_import_results,
    spec_tag_source, split_image, stream_outcome, tag_import_decision, tag_status, wait_until)
from ansible_collections.okd.registry_toolkit.plugins.module_utils.k8s_client import (
    Client, ensure_object, k8s_argument_spec)


def _docker_tags(stream):
    return [t.get("name") for t in ((stream or {}).get("spec") or {}).get("tags") or []
            if (t.get("from") or {}).get("kind") == "DockerImage"]


def _spec_tag(stream, tag):
    for t in ((stream or {}).get("spec") or {}).get("tags") or []:
        if t.get("name") == tag:
            return t
    return {}


CONFLICT_RETRIES = 5
BULK_LIMIT = 50     # 3.11's imagePolicyConfig.maxImagesBulkImportedPerRepository default: sizes the timeout


def _post_import(client, path, body, images):
    """POST an ImageStreamImport with a timeout sized for 3.11's per-request rate limit."""
    saved = client.timeout
    client.timeout = max(saved, import_request_timeout(saved, images))
    try:
        return client.post(path, body)
    finally:
        client.timeout = saved


def _import_tags(module, client, ns, name, stream, managed):
    """Import the managed tags that need it (tag_import_decision), like `oc import-image`. OKD 3.11 imports a
    created or changed stream on its own as well (the image stream controller) and the ImageStreamImport REST
    handler writes the stream guarded by the resourceVersion it read, without retrying: when the controller
    wrote first, the request fails with 409. Then the stream is read again and the decision made again
    (usually nothing is left to import). -> (requested tags, stream, {tag: result})."""
    p = module.params
    path = resource_path(None, "ImageStream", ns, name)
    requested, results = [], {}
    for attempt in range(CONFLICT_RETRIES + 1):
        todo = [t for t in managed if tag_import_decision(stream, t, p["refresh"] and attempt == 0)[0]]
        images = [{"from": spec_tag_source(stream, t), "tag": t, "scheduled": p["scheduled"],
                   "insecure": p["insecure"], "reference_policy": p["reference_policy"]}
                  for t in todo if spec_tag_source(stream, t)]
        if not images:
            return requested, stream, results
        try:
            isi = _post_import(client, resource_path(None, "ImageStreamImport", ns), image_stream_import(
                ns, name, images), len(images))
        except ToolkitError as e:
            if e.status != 409 or attempt == CONFLICT_RETRIES:
                raise
            stream = client.get(path)       # written meanwhile (the controller's import): decide again
            continue
        requested = [i["tag"] for i in images]
        results = dict((r["tag"], r) for r in import_results(isi))
        stream = _wait_for_status(client, ns, name, results, p["wait_timeout"]) or stream
        return requested, stream, results
    return requested, stream, results


def process_stream(module, client, ns, name, live):
    p = module.params
    check = module.check_mode
    res = {"namespace": ns, "name": name, "operation": "unchanged", "repointed": [], "tags": [], "changed": False}
    desired = None
    if p["source"] and p["tags"]:
        desired = image_stream_definition(ns, name, p["source"], p["tags"], scheduled=p["scheduled"],
                                          insecure=p["insecure"], reference_policy=p["reference_policy"])
    if p["repoint_from"]:
        live_tags = ((live or {}).get("spec") or {}).get("tags") or []
        wanted = set(t["name"] for t in ((desired or {}).get("spec") or {}).get("tags") or [])
        extra = []
        for t in live_tags:
            frm = t.get("from") or {}
            if frm.get("kind") != "DockerImage":
                continue
            new = replace_registry(frm.get("name") or "", p["repoint_from"], p["repoint_to"])
            if not new:
                continue
            res["repointed"].append(t["name"])
            if t["name"] not in wanted:
                extra.append({"name": t["name"], "from": {"kind": "DockerImage", "name": new}})
        if extra:
            if desired is None:
                desired = {"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                           "metadata": {"name": name, "namespace": ns}, "spec": {"tags": []}}
            desired["spec"]["tags"].extend(extra)
    if desired is None and live is None:
        raise ToolkitError("image stream %s/%s does not exist; give source and tags to create it" % (ns, name))

    before = live
    spec_changed = set()
    if desired is not None:
        r = ensure_object(client, desired, check_mode=check)
        if r["changed"]:
            res["operation"] = "created" if r["method"] == "create" else "updated"
            res["changed"] = True
            for t in desired["spec"]["tags"]:
                if spec_tag_source(before, t["name"]) != t["from"]["name"]:
                    spec_changed.add(t["name"])
        stream = r["object"]
    else:
        stream = live

    managed = list(p["tags"]) if p["tags"] else _docker_tags(stream)
    for t in res["repointed"]:
        if t not in managed:
            managed.append(t)
    results = {}
    if not p["name"] and not p["repoint_from"] and not p["refresh"] and not p["reimport_failed"]:
        to_import = []  # a namespace-wide registry check only reads
    elif check:
        to_import = [t for t in managed if t in spec_changed or tag_import_decision(before, t, p["refresh"])[0]]
    else:
        to_import, stream, results = _import_tags(module, client, ns, name, stream, managed)
    for t in managed:
        st = tag_status(stream, t)
        if t in results and (not st["imported"] or st["digest"] != results[t]["digest"]):
            # the import response is authoritative for what just happened
            st.update(digest=results[t]["digest"] or st["digest"], imported=results[t]["imported"],
                      message=results[t]["message"])
        old = tag_status(before, t)
        item = {"tag": t, "from": spec_tag_source(stream, t), "digest": st["digest"], "imported": st["imported"],
                "message": st["message"], "import_requested": t in to_import}
        if check:
            item["changed"] = t in to_import and (t in spec_changed or not old["imported"] or p["refresh"])
        else:
            item["changed"] = st["digest"] != old["digest"]
        res["changed"] = res["changed"] or item["changed"]
        res["tags"].append(item)
    res["imported"] = ["%s:%s" % (name, t) for t in to_import]
    res["outcome"], res["failing"] = stream_outcome(res["tags"], res["repointed"], check)
    return res


def _spec_view(stream, tag):
    t = dict(_spec_tag(stream, tag))
    t.pop("generation", None)
    return t


def process_all(module, client, ns, name, live):
    """Every tag of ``source`` (spec.repository): a read-only preview, then the import only when needed."""
    p = module.params
    check = module.check_mode
    source = p["source"]
    res = {"namespace": ns, "name": name, "operation": "unchanged", "repointed": [], "tags": [], "changed": False,
           "additional_tags": [], "failures": []}
    isi_path = resource_path(None, "ImageStreamImport", ns)

    def body(do_import, rv=None):
        return image_stream_import_repository(ns, name, source, do_import, scheduled=p["scheduled"],
                                              insecure=p["insecure"], reference_policy=p["reference_policy"],
                                              resource_version=rv)

    try:
        preview = repository_import_results(_post_import(client, isi_path, body(False), BULK_LIMIT))
    except ToolkitError as e:
        if check and live is None and e.status == 404:
            # the namespace does not exist (yet: in check mode an earlier task would create it)
            module.warn("namespace %s does not exist (yet), so the tags of %s cannot be previewed; reporting "
                        "image stream %s/%s as to be created" % (ns, source, ns, name))
            res.update(operation="created", changed=True, imported=[])
            return res
        raise
    res["additional_tags"] = preview["additional_tags"]
    if not preview["listed"]:
        why = "%s %s; " % (preview["code"], preview["reason"]) if preview["code"] and preview["reason"] else ""
        res["failures"].append("%s/%s: the tags of %s could not be listed: %s (%sthe import uses the pull "
                               "secrets of namespace %s)" % (ns, name, source, preview["message"], why, ns))
        res["imported"] = []
        return res
    plan = repository_import_plan(live, source, preview["tags"], p["scheduled"], p["insecure"])
    needed = [x["tag"] for x in plan if x["needs_import"]]
    why = dict((x["tag"], x["why"]) for x in plan)
    do_import = bool(needed) or p["refresh"]
    results = preview["tags"]
    stream = live
    if do_import and not check:
        isi = None
        for attempt in range(CONFLICT_RETRIES + 1):
            rv = ((live or {}).get("metadata") or {}).get("resourceVersion")
            try:
                isi = _post_import(client, isi_path, body(True, rv), BULK_LIMIT)
                break
            except ToolkitError as e:
                if e.status != 409 or attempt == CONFLICT_RETRIES:
                    raise
                # written meanwhile (3.11's controller, or another client): read it again and decide again
                live = client.get(resource_path(None, "ImageStream", ns, name))
                plan = repository_import_plan(live, source, preview["tags"], p["scheduled"], p["insecure"])
                needed = [x["tag"] for x in plan if x["needs_import"]]
                why = dict((x["tag"], x["why"]) for x in plan)
                if not needed and not p["refresh"]:
                    break
        if isi is None:
            isi = {"status": {"repository": {"status": {"status": "Success"},
                                             "images": [], "additionalTags": preview["additional_tags"]},
                              "import": live}}
            do_import = False
        done = repository_import_results(isi)
        res["additional_tags"] = done["additional_tags"]
        results = done["tags"]
        stream = (isi.get("status") or {}).get("import") or client.get(resource_path(None, "ImageStream", ns, name))
        if live is None:
            res["operation"] = "created"
        elif (stream.get("metadata") or {}).get("resourceVersion") != (live.get("metadata") or {}).get(
                "resourceVersion"):
            res["operation"] = "updated"
        res["changed"] = res["operation"] != "unchanged"
    elif do_import and check:
        res["operation"] = "created" if live is None else ("updated" if needed else "unchanged")
        res["changed"] = bool(needed) or live is None
    requested = [r["tag"] for r in results] if p["refresh"] else needed
    for r in results:
        t = r["tag"]
        item = {"tag": t, "from": "%s:%s" % (source, t), "digest": r["digest"], "imported": r["imported"],
                "message": r["message"], "import_requested": do_import and t in requested, "why": why.get(t, "")}
        if check:
            item["changed"] = t in needed
        else:
            before, after = tag_status(live, t), tag_status(stream, t)
            item["changed"] = (before["digest"] != after["digest"] or before["message"] != after["message"]
                               or _spec_view(live, t) != _spec_view(stream, t))
            if after["imported"] and r["imported"]:
                item["digest"] = after["digest"]
        if not r["imported"]:
            res["failures"].append("%s/%s:%s from %s: %s" % (ns, name, t, item["from"], r["message"]))
        res["tags"].append(item)
    res["imported"] = ["%s:%s" % (name, t) for t in requested] if do_import else []
    if res["additional_tags"]:
        module.warn("%d tags of %s were not imported into %s/%s because of the server's per-repository limit "
                    "(imagePolicyConfig.maxImagesBulkImportedPerRepository): %s"
                    % (len(res["additional_tags"]), source, ns, name, ", ".join(res["additional_tags"])))
    return res


def _wait_for_status(client, ns, name, results, timeout):
    """GET the stream until its status shows, for each stream tag, the digest the import returned (or
    timeout). The results are keyed by stream tag (import_results maps spec.images[i].to.name)."""
    path = resource_path(None, "ImageStream", ns, name)
    return wait_until(lambda: client.get(path),
                      lambda stream: not [t for t, r in results.items()
                                          if r["imported"] and tag_status(stream, t)["digest"] != r["digest"]],
                      timeout, time.sleep, time.time)


def _credential_note(client, cache, ns, registry, message=""):
    """Which pull secret OKD 3.11 used for registry (its message does not say) -> text, or "" when the
    namespace's secrets cannot be read. For an access failure (``message``) it adds that 3.11 sends the
    credential only to a token realm it matches."""
    if not registry:
        return ""
    if ns not in cache:
        try:
            cache[ns] = (client.get(resource_path("v1", "Secret", ns)) or {}).get("items") or []
        except ToolkitError:
            cache[ns] = None
    if cache[ns] is None:
        return ""
    names = registry_secret_names(cache[ns], registry)
    if not names:
        return "registry %s: no pull secret in namespace %s has an entry for it" % (registry, ns)
    # 3.11 looks the credential up by the token realm's URL: the registry's entry serves a realm on the
    # registry's own host (registry.redhat.io, quay.io); a realm elsewhere needs an entry of its own
    realm = ("; OKD 3.11 sends it to the registry's token realm only when the realm is on the registry's own host "
             "- for a realm on another host the secret needs an entry for the realm's host (okd_registry_secret "
             "realm_hosts, realm_check)") if "you may not have access" in (message or "") else ""
    if len(names) == 1:
        return "registry %s: OKD used pull secret %s of namespace %s%s" % (registry, names[0], ns, realm)
    return ("registry %s: namespace %s holds %d pull secrets for it (%s); OKD 3.11 uses only the first, %s%s"
            % (registry, ns, len(names), ", ".join(names), names[0], realm))


def run(module, client):
    p = module.params
    ns = p["namespace"]
    out = dict(changed=False, streams=[], tags=[], imported=[], mismatches=[], additional_tags=[],
               outcomes=dict(fixed=[], failing=[], untouched=[], would_reimport=[]))
    if p["name"]:
        live = client.get(resource_path(None, "ImageStream", ns, p["name"]))
        targets = [(p["name"], live)]
    else:
        lst = client.get(resource_path(None, "ImageStream", ns)) or {}
        targets = [((s.get("metadata") or {}).get("name"), s) for s in lst.get("items") or []]
    failures = []
    secrets_cache = {}
    registries = set()
    for name, live in targets:
        if p["all"]:
            res = process_all(module, client, ns, name, live)
            fails = res.pop("failures")
            reg = split_image(p["source"])[0]
            for f in fails:
                note = import_failure_hint(f, reg) or _credential_note(client, secrets_cache, ns, reg, f)
                failures.append("%s (%s)" % (f, note) if note else f)
            out["additional_tags"] = res["additional_tags"]
        else:
            res = process_stream(module, client, ns, name, live)
        out["streams"].append(res)
        if res.get("outcome"):
            out["outcomes"][res["outcome"]].append("%s/%s" % (ns, name))
        out["imported"].extend(res.pop("imported"))
        out["changed"] = out["changed"] or res["changed"]
        if p["name"]:
            out["tags"] = res["tags"]
        for t in res["tags"]:
            reg = split_image(t["from"])[0] if t["from"] else None
            if reg:
                registries.add(reg)
            # (with all, process_all collects the failures: the preview tells them in check mode too)
            if not p["all"] and t["import_requested"] and not module.check_mode and not t["imported"]:
                note = import_failure_hint(t["message"], reg) or _credential_note(client, secrets_cache, ns, reg,
                                                                                  t["message"])
                failures.append("%s/%s:%s from %s: %s%s" % (ns, name, t["tag"], t["from"], t["message"] or
                                                            "import failed", " (%s)" % note if note else ""))
            if p["expected_registry"] and t["from"]:
                reg = split_image(t["from"])[0]
                if (reg or "").lower() != p["expected_registry"].lower():
                    out["mismatches"].append({"stream": name, "tag": t["tag"], "from": t["from"]})
    if p["all"] and p["source"]:
        registries.add(split_image(p["source"])[0])
    for reg in sorted(r for r in registries if r):
        if secrets_cache.get(ns) is None and ns in secrets_cache:
            break
        _credential_note(client, secrets_cache, ns, reg)
        names = registry_secret_names(secrets_cache.get(ns) or [], reg)
        if len(names) > 1:
            module.warn("namespace %s holds %d pull secrets for registry %s (%s): OKD 3.11 imports with the first "
                        "one only (%s), so a stale secret that sorts first makes imports fail; keep one"
                        % (ns, len(names), reg, ", ".join(names), names[0]))
    if failures and module.check_mode:
        for f in failures:
            module.warn("in a real run the import would fail: " + f)
    if failures and not module.check_mode and p["fail_on_import_error"]:
        out["failed"] = True
        out["msg"] = "image import failed: " + "; ".join(failures)
    elif out["mismatches"] and p["fail_on_registry_mismatch"]:
        out["failed"] = True
        out["msg"] = "image stream tags not on %s: %s" % (
            p["expected_registry"], ", ".join("%s:%s (%s)" % (m["stream"], m["tag"], m["from"]) for m in out["mismatches"]))
    return out


def main():
    spec = k8s_argument_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        name=dict(type="str"),
        source=dict(type="str", aliases=["from"]),
        tags=dict(type="list", elements="str", default=[]),
        all=dict(type="bool", default=False, aliases=["import_all"]),
        scheduled=dict(type="bool", default=False),
        insecure=dict(type="bool", default=False),
        reference_policy=dict(type="str", choices=["Source", "Local"]),
        refresh=dict(type="bool", default=False),
        fail_on_import_error=dict(type="bool", default=True),
        reimport_failed=dict(type="bool", default=False),
        repoint_from=dict(type="str"),
        repoint_to=dict(type="str"),
        expected_registry=dict(type="str"),
        fail_on_registry_mismatch=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=30),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_together=[("repoint_from", "repoint_to")])
    p = module.params
    if not p["name"] and not (p["repoint_from"] or p["expected_registry"] or p["reimport_failed"]):
        module.fail_json(msg="name is required unless repointing, re-importing or checking a whole namespace")
    if p["all"] and p["reimport_failed"]:
        module.fail_json(msg="all imports a whole repository; reimport_failed is for the tags of existing streams")
    if p["all"] and not (p["source"] and p["name"]):
        module.fail_json(msg="all (every tag of a repository) needs name and source")
    if p["all"] and p["tags"]:
        module.fail_json(msg="all imports every tag of source; do not list tags with it")
    if p["all"] and p["repoint_from"]:
        module.fail_json(msg="all and repoint_from are separate tasks; use one at a time")
    if not p["all"] and bool(p["source"]) != bool(p["tags"]):
        module.fail_json(msg="source and tags go together (tags to import from source; or all: true)")
    if not p["name"] and p["source"]:
        module.fail_json(msg="source/tags need a name")
    if p["source"] and (split_image(p["source"])[2] or split_image(p["source"])[3]):
        module.fail_json(msg="source %s must not carry a tag or digest; list tags in 'tags' or use all"
                         % p["source"])
    try:
        with Client.from_params(p) as client:
            out = run(module, client)
    except ToolkitError as e:
        module.fail_json(msg="image stream %s/%s: %s" % (p["namespace"], p["name"] or "*", e.msg), status=e.status)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
