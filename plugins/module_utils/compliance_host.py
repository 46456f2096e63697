# -*- coding: utf-8 -*-
# okd-registry-toolkit: the host side of the per-host compliance checks, shared by the module registry_compliance
# and the `compliance` option of the module registry_credentials (site.yml: the credentials call of a run also
# makes compliance's checks, one module call per host instead of two; docs/compliance.md). Stdlib only, Python
# 2.7 and 3.6+. It reads the files (stat and bytes) and proves access from the host; the core (compliance.py)
# evaluates what was read. Nothing returned holds a secret or a fingerprint of one (the node file's entries are
# HMACs under the run's key, compared on the controller).
"""``check(params)``: the checks of the module registry_compliance for ``params`` (a mapping of
``options_spec()``'s keys), as the dict that module returns: ``results``, ``summary``, ``compliant`` and, with
``node_config``, ``node_config``. Raises ToolkitError."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from . import compliance
from .dockercfg import get_credentials, registry_host
from .errors import ToolkitError
from .http_transport import make_urllib_transport, registry_ca_file
from .localfile import read_regular
from .v2auth import verify_access

DEFAULT_PATH = "/var/lib/origin/.docker/config.json"


def options_spec():
    """The Ansible argument spec of the checks' options (a fresh dict per call): the module registry_compliance's
    options but fail_on_findings, and the suboptions of registry_credentials' ``compliance``."""
    return dict(
        paths=dict(type="list", elements="path", default=[DEFAULT_PATH]),
        expected=dict(type="list", elements="dict", default=[], options=dict(
            registry=dict(type="str", required=True),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            test_image=dict(type="str"),
        )),
        verify_access=dict(type="bool", default=False),
        ca_file=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        timeout=dict(type="int", default=30),
        node_config=dict(type="dict", options=dict(
            path=dict(type="path", required=True),
            key=dict(type="str", required=True, no_log=True),
            host=dict(type="str", required=True),
        )),
    )


def _text(data):
    """The file's bytes as text, as Ansible's to_text(errors="surrogate_or_strict") decodes them on Python 3
    (undecodable bytes kept as surrogates: the parser names the file); replaced on Python 2."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "surrogateescape" if str is not bytes else "replace")


def read(path):
    """(bytes, stat, None) of the regular file at PATH; (None, None, None) when nothing is there; (None, None, why)
    for a symbolic link, a FIFO, a directory or a device (never followed, never opened: a planted FIFO would block a
    read) or a file that cannot be read."""
    try:
        data, st = read_regular(path, "compliance check")
    except ToolkitError as e:
        return None, None, e.msg
    return data, st, None


def gather(path, done):
    """(stat facts for compliance.evaluate_file, text) of the file at PATH from its read DONE: (None, None) when
    nothing is there, ({"error": why}, None) when it is not a regular file that could be read (the check fails
    naming it instead of the module failing)."""
    data, st, error = done
    if error:
        return {"error": error}, None
    if data is None:
        return None, None
    try:
        dir_mode = os.stat(os.path.dirname(path) or ".").st_mode
    except OSError:
        dir_mode = None
    return {"mode": st.st_mode, "uid": st.st_uid, "dir_mode": dir_mode}, _text(data)


def node_file_text(done):
    """The node file's text from its read DONE: None when it could not be read (missing, unreadable, a link, a
    FIFO or a directory), compliance.NOT_TEXT when it is not UTF-8."""
    data, _st, error = done
    if error or data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return compliance.NOT_TEXT


def check(params):
    """Every check of every file in ``params["paths"]`` against ``params["expected"]``; with ``verify_access``,
    each expected registry logged in to (and its test image pulled) with the first readable file's credentials,
    from this host; with ``node_config``, that file's entries as user + HMAC. Raises ToolkitError."""
    results = []
    first_config = None
    reads = {}  # each file read once: the node file is usually one of the checked paths

    def read_once(path):
        if path not in reads:
            reads[path] = read(path)
        return reads[path]

    for path in params["paths"]:
        stat, content = gather(path, read_once(path))
        res, config = compliance.evaluate_file(path, stat, content, params["expected"])
        results.extend(res)
        if first_config is None and config is not None:
            first_config = config
    if params["verify_access"]:
        for ex in params["expected"]:
            reg = ex["registry"]
            creds = get_credentials(first_config, reg) if first_config is not None else None
            if creds is None:
                results.append(compliance.result("access", compliance.SKIP, "no credentials to try", registry=reg))
                continue
            transport = make_urllib_transport(ca_file=registry_ca_file(registry_host(reg), params["ca_file"]),
                                              validate_certs=params["validate_certs"], timeout=params["timeout"])
            try:
                out = verify_access(transport, reg, creds[0], creds[1], image=ex.get("test_image"))
                out["username"] = creds[0]
                # pass, or untested when the registry never asked for the credentials
                results.append(compliance.access_result(reg, out, ex.get("test_image")))
            except ToolkitError as e:
                results.append(compliance.result("access", compliance.FAIL, str(e), registry=reg))
    summary = compliance.summarize(results)
    out = dict(results=results, summary=summary, compliant=summary["compliant"])
    node_config = params.get("node_config")
    if node_config:
        out["node_config"] = compliance.node_file_macs(node_file_text(read_once(node_config["path"])),
                                                       node_config["key"], node_config["host"])
    return out
