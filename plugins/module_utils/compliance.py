# -*- coding: utf-8 -*-
# Compliance logic for registry credentials on a host: stdlib only, no I/O, Python 2.7 and 3.6+.
#
# The caller gathers facts about each credentials file (stat results and content) and hands them to
# evaluate_file(); every check yields one result dict, so a report says per host and per check what is
# wrong. Results are plain dicts for machine-readable output (JSON).
from __future__ import absolute_import, division, print_function

import hashlib
import hmac

from .dockercfg import _utf8, credential_entries, get_credentials, parse_config
from .errors import ToolkitError
from .registry_entry import registry_entry

PASS = "pass"
FAIL = "fail"
SKIP = "skip"
#: the registry never asked for the credentials (anonymous access): they were not tested; reported, not a failure
UNTESTED = "untested"

# check id -> what it proves (documentation for reports and docs/compliance.md)
CHECKS = {
    "file_present": "the credentials file exists as a regular file (a link, FIFO or directory is never followed or "
                    "opened)",
    "file_mode": "the credentials file is mode 0600 (no group/other access)",
    "file_owner": "the credentials file is owned by root",
    "dir_mode": "the directory holding the credentials file gives no group/other access",
    "file_valid": "the credentials file is valid docker config JSON",
    "entry_present": "the file has an entry for the registry",
    "entry_current": "the entry holds the expected (current) credentials",
    "access": "the file's credentials can log in to the registry and pull the test image "
              "(status untested: the registry never asked for them, anonymous access)",
}


def expectation(entry):
    """What a host's files must hold for one registry entry (an ``okd_registries`` item: registry or host, maybe
    path-scoped, username, password, test_image, other fields ignored): ``{registry: canonical key, username?,
    password?, test_image?}`` (empty values left out). Raises ToolkitError naming the entry (never a password)."""
    where = "okd_registries entry %s" % (
        entry.get("name") if isinstance(entry, dict) and entry.get("name") else "?")
    item = registry_entry(entry, where)
    out = {"registry": item["key"]}
    for key in ("username", "password", "test_image"):
        if item.get(key):
            out[key] = item[key]
    return out


def check_args(args, host):
    """The per-host checks' arguments (module registry_compliance, registry_credentials' ``compliance``) from a
    task's, as the controller shapes them: ``expected`` items may be ``okd_registries`` entries as they are (each
    becomes its ``expectation``), an empty ``ca_file`` and a ``node_config`` without ``key`` are left out (no key:
    no cluster checks this run), ``node_config.host`` defaults to HOST (the task's inventory_hostname). Raises
    ToolkitError naming a bad entry, never a password."""
    out = dict(args)
    expected = out.get("expected")
    if expected is not None:
        if not isinstance(expected, (list, tuple)):
            raise ToolkitError("expected must be a list of registry entries")
        out["expected"] = [expectation(entry) for entry in expected]
    if "ca_file" in out and not out["ca_file"]:
        del out["ca_file"]
    node_config = out.get("node_config")
    if "node_config" in out and (not node_config or isinstance(node_config, dict) and not node_config.get("key")):
        del out["node_config"]
    elif isinstance(node_config, dict) and not node_config.get("host"):
        out["node_config"] = dict(node_config, host=host)
    return out


def same_credentials(have, want):
    """True when (username, password) ``have`` equals ``want``, compared in constant time.

    Reports never carry a fingerprint of a credential (an unsalted hash of ``user:password``
    would allow offline guessing): the comparison happens here, on the host, and only its
    outcome is reported."""
    same = True
    for mine, theirs in zip(have, want):
        same = hmac.compare_digest(_bytes(mine), _bytes(theirs)) and same
    return same


def _bytes(value):
    if isinstance(value, bytes):
        return value
    return _utf8(u"%s" % value)


def access_result(registry, outcome, image=None):
    """The ``access`` result from v2auth.verify_access's ``outcome`` (a dict)."""
    if not outcome.get("credentials_tested"):
        return result("access", UNTESTED, "%s: credentials not tested: anonymous access (the registry never "
                      "asked for them)" % registry, registry=registry)
    msg = "logged in as %s" % outcome.get("username", "")
    if outcome.get("digest"):
        msg += "; pulled manifest of %s (%s)" % (image, outcome["digest"])
    return result("access", PASS, msg, registry=registry)


def result(check, status, message, path=None, registry=None):
    r = {"check": check, "status": status, "message": message}
    if path is not None:
        r["path"] = path
    if registry is not None:
        r["registry"] = registry
    return r


def evaluate_file(path, stat, content, expected):
    """Evaluate one credentials file.

    path: the file's path (for messages).
    stat: None when the file is missing, {"error": why} when it is not a regular file that could be read (a
      symbolic link, a FIFO, a directory: the gatherer never follows or opens those), else a dict
      {"mode": int, "uid": int, "dir_mode": int}.
    content: the file's text (ignored when stat is None).
    expected: list of {"registry", optional "username", "password"}; entries with a password get the
      entry_current check (is the file holding the current credentials, e.g. after a rotation?).
    Returns (results, config) where config is the parsed file or None.
    """
    results = []
    if stat is None:
        results.append(result("file_present", FAIL, "%s is missing" % path, path))
        for e in expected:
            results.append(result("entry_present", SKIP, "file missing", path, e["registry"]))
        return results, None
    if stat.get("error"):
        results.append(result("file_present", FAIL, stat["error"], path))
        for e in expected:
            results.append(result("entry_present", SKIP, "not a regular file", path, e["registry"]))
        return results, None
    results.append(result("file_present", PASS, "%s exists" % path, path))
    mode = stat["mode"] & 0o7777
    if mode & 0o077:
        results.append(result("file_mode", FAIL, "%s is mode %04o; must be 0600 (it holds registry "
                                                 "credentials)" % (path, mode), path))
    else:
        results.append(result("file_mode", PASS, "mode %04o" % mode, path))
    if stat.get("uid", 0) != 0:
        results.append(result("file_owner", FAIL, "%s is owned by uid %d, not root" % (path, stat["uid"]), path))
    else:
        results.append(result("file_owner", PASS, "owned by root", path))
    dir_mode = stat.get("dir_mode")
    if dir_mode is not None:
        dir_mode &= 0o7777
        if dir_mode & 0o077:
            results.append(result("dir_mode", FAIL, "directory of %s is mode %04o; 0700 expected"
                                  % (path, dir_mode), path))
        else:
            results.append(result("dir_mode", PASS, "directory mode %04o" % dir_mode, path))
    try:
        config = parse_config(content, source=path)
    except ToolkitError as e:
        results.append(result("file_valid", FAIL, str(e), path))
        for ex in expected:
            results.append(result("entry_present", SKIP, "file invalid", path, ex["registry"]))
        return results, None
    results.append(result("file_valid", PASS, "valid docker config", path))
    for ex in expected:
        reg = ex["registry"]
        creds = get_credentials(config, reg)
        if creds is None:
            results.append(result("entry_present", FAIL, "%s has no entry for %s" % (path, reg), path, reg))
            continue
        results.append(result("entry_present", PASS, "entry for user %s" % creds[0], path, reg))
        if ex.get("password"):
            want = (ex.get("username") or creds[0], ex["password"])
            if not same_credentials(creds, want):
                if want[0] != creds[0]:
                    what = "user %s, expected %s" % (creds[0], want[0])
                else:
                    what = "user %s, another password or token" % creds[0]
                results.append(result("entry_current", FAIL,
                                      "%s: the entry for %s (%s) is not the expected credential; stale "
                                      "after a rotation?" % (path, reg, what), path, reg))
            else:
                results.append(result("entry_current", PASS, "current credential (user %s)" % creds[0],
                                      path, reg))
    return results, config


def summarize(results):
    """Counts per status and the failed checks, for a report."""
    counts = {PASS: 0, FAIL: 0, SKIP: 0, UNTESTED: 0}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {"counts": counts, "failed": [r for r in results if r["status"] == FAIL],
            "compliant": counts.get(FAIL, 0) == 0}


# ---------------------------------------------------------------------------------------------------
# node file vs the master's, compared on the controller without the files leaving the hosts
#: what a file that is not UTF-8 text is parsed as (fails to parse; the same message as before, when the
#: controller decoded the slurped base64 itself)
NOT_TEXT = "\x00not base64 of UTF-8 text"


def credential_mac(key, username, password):
    """HMAC-SHA256(key, username NUL password), hex: equal for equal credentials under the same key. The key is
    made per run on the controller and given to the hosts as a no_log option, so a MAC says nothing outside the
    run (no offline guessing, unlike an unsalted hash) and is never reported."""
    if not key:
        raise ToolkitError("the credential MAC key must be a non-empty string")
    return hmac.new(_utf8(u"%s" % key), _utf8(u"%s" % username) + b"\0" + _utf8(u"%s" % password),
                    hashlib.sha256).hexdigest()


def node_file_macs(content, key, host):
    """What a host returns about its node credentials file for the comparison with the master's
    (cluster_compliance.check_nodes_against_master): ``{"missing": True}`` (None: no file, unreadable),
    ``{"error": the parser's message, named HOST:config.json}``, or ``{"entries": [{"registry", "username",
    "mac"}]}``, one per entry with credentials (credential_entries: normalized keys, the exact key or the first
    spelling wins, as get_credentials looks them up). No password or token leaves the host."""
    if content is None:
        return {"missing": True}
    try:
        config = parse_config(content, "%s:config.json" % host)
    except ToolkitError as e:
        return {"error": e.msg}
    return {"entries": [{"registry": e["registry"], "username": e["username"],
                         "mac": credential_mac(key, e["username"], e["password"])}
                        for e in credential_entries(config)]}
