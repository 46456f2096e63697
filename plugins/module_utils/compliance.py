# -*- coding: utf-8 -*-
# Compliance logic for registry credentials on a host: stdlib only, no I/O, Python 2.7 and 3.6+.
#
# The caller gathers facts about each credentials file (stat results and content) and hands them to
# evaluate_file(); every check yields one result dict, so a report says per host and per check what is
# wrong. Results are plain dicts for machine-readable output (JSON).
from __future__ import absolute_import, division, print_function

from . import dockercfg
from .dockercfg import get_credentials, make_auth, normalize_registry, parse_config
from .errors import ToolkitError

PASS = "pass"
FAIL = "fail"
SKIP = "skip"

# check id -> what it proves (documentation for reports and docs/compliance.md)
CHECKS = {
    "file_present": "the credentials file exists",
    "file_mode": "the credentials file is mode 0600 (no group/other access)",
    "file_owner": "the credentials file is owned by root",
    "dir_mode": "the directory holding the credentials file gives no group/other access",
    "file_valid": "the credentials file is valid docker config JSON",
    "entry_present": "the file has an entry for the registry",
    "entry_current": "the entry holds the expected (current) credentials",
    "access": "the file's credentials can log in to the registry and pull the test image",
}


def fingerprint(registry, username, password):
    """A short, non-reversible fingerprint of a credential, safe to show in reports: the same
    ``sha256:XXXXXXXX`` that redacted diffs show for that entry's ``auth``."""
    return "sha256:" + dockercfg.fingerprint(normalize_registry(registry), make_auth(username, password))


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
    stat: None when the file is missing, else a dict {"mode": int, "uid": int, "dir_mode": int}.
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
            want = fingerprint(reg, ex.get("username") or creds[0], ex["password"])
            have = fingerprint(reg, creds[0], creds[1])
            if want != have:
                results.append(result("entry_current", FAIL,
                                      "%s: the entry for %s (user %s, %s) is not the expected credential "
                                      "(%s); stale after a rotation?" % (path, reg, creds[0], have, want),
                                      path, reg))
            else:
                results.append(result("entry_current", PASS, "current credential (%s)" % have, path, reg))
    return results, config


def summarize(results):
    """Counts per status and the failed checks, for a report."""
    counts = {PASS: 0, FAIL: 0, SKIP: 0}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {"counts": counts, "failed": [r for r in results if r["status"] == FAIL],
            "compliant": counts.get(FAIL, 0) == 0}
