# -*- coding: utf-8 -*-
# okd-registry-toolkit core: the masters' imagePolicyConfig.additionalTrustedCA. Stdlib only, no I/O,
# Python 2.7 and 3.6+.
"""Edit ``imagePolicyConfig.additionalTrustedCA`` in an OKD 3.11 ``master-config.yaml`` and check
CA bundles.

The edit is textual, so every other line of the file stays byte for byte as it was (comments, order,
quoting): the file is written by openshift-ansible (block style, two-space indentation) and edited by
admins. It runs on the master, whose Python (RHEL 7's 2.7) may have no PyYAML; the role checks that
the file parses with PyYAML on the controller before, and the module re-checks the result with PyYAML
where the master has it (docs/cluster.md, "The masters' trusted CAs").

- ``pem_certificates(text, what)`` -> normalised bundle text (certificates only) or ToolkitError.
- ``get_trusted_ca(text)`` -> the current value or None.
- ``set_trusted_ca(text, value)`` -> new text (value None removes the key).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import re

from .errors import ToolkitError

KEY = "additionalTrustedCA"
SECTION = "imagePolicyConfig"
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)
_PLAIN = re.compile(r"^[A-Za-z0-9_./@+-]+$")

try:  # Python 2: module parameters and decoded files are unicode or str
    _STRINGS = (str, unicode)  # noqa: F821 pylint: disable=undefined-variable
except NameError:
    _STRINGS = (str,)


def pem_certificates(text, what="CA bundle"):
    """The certificates of a PEM text, one after another, each ending with a newline. Refuses text
    without certificates, with a private key or other PEM blocks, or with damaged base64/DER."""
    if not isinstance(text, _STRINGS) or not text.strip():
        raise ToolkitError("%s is empty: expected PEM certificates" % what)
    blocks = _PEM.findall(text)
    if not blocks:
        raise ToolkitError("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)" % what)
    leftover = _PEM.sub("", text).strip()
    if "-----BEGIN" in leftover or "-----END" in leftover:
        raise ToolkitError("%s has an unterminated or damaged PEM block" % what)
    out = []
    for kind, body in blocks:
        if "PRIVATE KEY" in kind:
            raise ToolkitError("%s contains a private key (%s): give only certificates" % (what, kind))
        if kind not in ("CERTIFICATE", "TRUSTED CERTIFICATE"):
            raise ToolkitError("%s contains a %s block: give only certificates" % (what, kind))
        b64 = "".join(body.split())
        try:
            der = base64.b64decode(b64.encode("ascii"))
            if base64.b64encode(der).decode("ascii") != b64:
                raise ValueError("not canonical base64")
        except (ValueError, TypeError, binascii.Error, UnicodeError):
            raise ToolkitError("%s: a certificate's base64 is damaged" % what)
        if len(der) < 64 or der[:1] != b"\x30":
            raise ToolkitError("%s: a certificate is not DER (ASN.1 SEQUENCE)" % what)
        lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
        out.append("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (kind, "\n".join(lines), kind))
    return "".join(out)


def bundle(texts):
    """[(what, PEM text)] -> one bundle, every certificate once, in the order given."""
    seen = set()
    out = []
    for what, text in texts:
        for cert in _PEM.finditer(pem_certificates(text, what)):
            c = cert.group(0) + "\n"
            if c not in seen:
                seen.add(c)
                out.append(c)
    if not out:
        raise ToolkitError("no CA certificates given")
    return "".join(out)


def _lines(text):
    return text.splitlines(True)


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _content(line):
    s = line.strip()
    return s and not s.startswith("#")


def _top_key(line):
    m = re.match(r"^([A-Za-z0-9_]+)\s*:(\s|$)", line)
    return m.group(1) if m else None


def _section(lines):
    """(index of the `imagePolicyConfig:` line, index after its block, child indentation or None,
    inline value) or None when there is no such top-level key."""
    for i, line in enumerate(lines):
        if _top_key(line) == SECTION:
            inline = line.split(":", 1)[1].split(" #", 1)[0].strip()
            end = i + 1
            child = None
            while end < len(lines):
                ln = lines[end]
                if _content(ln):
                    ind = _indent(ln)
                    if ind == 0:
                        break
                    if child is None:
                        child = ind
                end += 1
            # trailing blank/comment lines belong to what follows
            while end > i + 1 and not _content(lines[end - 1]):
                end -= 1
            return i, end, child, inline
    return None


def _scalar(value):
    if _PLAIN.match(value) and value.lower() not in ("null", "true", "false", "yes", "no", "on", "off", "~"):
        return value
    return "'%s'" % value.replace("'", "''")


def _unscalar(raw):
    raw = raw.split(" #", 1)[0].strip()
    if raw in ("", "~", "null", "Null", "NULL"):
        return None
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1].replace("''", "'")
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return raw


def _key_line(lines, start, end, child):
    pat = re.compile(r"^ {%d}%s\s*:(\s|$)" % (child, KEY))
    for j in range(start, end):
        if pat.match(lines[j]):
            return j
    return None


def _check_section(sec):
    if sec is None:
        return
    child, inline = sec[2], sec[3]
    if inline and inline not in ("{}",):
        raise ToolkitError("%s is written in flow style (%s ...): the toolkit edits block style only, as "
                           "openshift-ansible writes it; rewrite it as a block" % (SECTION, inline[:20]))
    if inline == "{}" and child is not None:
        raise ToolkitError("%s: {} followed by an indented block does not parse" % SECTION)


def get_trusted_ca(text):
    """The current imagePolicyConfig.additionalTrustedCA (a string) or None."""
    lines = _lines(text)
    sec = _section(lines)
    _check_section(sec)
    if sec is None or sec[2] is None:
        return None
    i, end, child = sec[0], sec[1], sec[2]
    j = _key_line(lines, i + 1, end, child)
    if j is None:
        return None
    return _unscalar(lines[j].split(":", 1)[1])


def set_trusted_ca(text, value):
    """text with imagePolicyConfig.additionalTrustedCA set to value (None: removed); every other line
    unchanged. The key goes in alphabetical place among the section's keys (openshift-ansible sorts
    them); a missing section is appended at the end of the file."""
    if value is not None and (not isinstance(value, _STRINGS) or not value or "\n" in value):
        raise ToolkitError("additionalTrustedCA must be a non-empty one-line path")
    lines = _lines(text)
    sec = _section(lines)
    _check_section(sec)
    nl = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if sec is None:
        if value is None:
            return text
        tail = "" if not text or text.endswith("\n") else nl
        return text + tail + "%s:%s  %s: %s%s" % (SECTION, nl, KEY, _scalar(value), nl)
    i, end, child = sec[0], sec[1], sec[2]
    if child is None:       # `imagePolicyConfig:` or `imagePolicyConfig: {}` with nothing below
        if value is None:
            return text
        lines[i] = "%s:%s" % (SECTION, nl)
        lines.insert(i + 1, "  %s: %s%s" % (KEY, _scalar(value), nl))
        return "".join(lines)
    j = _key_line(lines, i + 1, end, child)
    if j is not None:
        # the value must be a scalar on the key's line (a block below it is not a path)
        if j + 1 < end and _content(lines[j + 1]) and _indent(lines[j + 1]) > child:
            raise ToolkitError("%s.%s is not a one-line value" % (SECTION, KEY))
        if value is None:
            del lines[j]
        else:
            ending = nl if lines[j].endswith("\n") else ""
            new = "%s%s: %s%s" % (" " * child, KEY, _scalar(value), ending)
            if _unscalar(lines[j].split(":", 1)[1]) == value:
                return text
            lines[j] = new
        return "".join(lines)
    if value is None:
        return text
    at = end
    for k in range(i + 1, end):
        ln = lines[k]
        if _content(ln) and _indent(ln) == child:
            name = ln.strip().split(":", 1)[0]
            if name > KEY:
                at = k
                break
    if at == end and not lines[end - 1].endswith("\n"):
        lines[end - 1] += nl
    lines.insert(at, "%s%s: %s%s" % (" " * child, KEY, _scalar(value), nl))
    return "".join(lines)
