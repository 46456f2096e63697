# -*- coding: utf-8 -*-
# Unit tests of plugins/module_utils/master_config.py (the masters' imagePolicyConfig.additionalTrustedCA
# edit and the CA bundle check). Python 2.7 and 3.6+ (no pytest needed: run directly, they run all).
# Where PyYAML is importable every edit is also checked semantically: the result parses and equals the
# original with only that key changed.
from __future__ import absolute_import, division, print_function

import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _compat import ToolkitError, raises, run_all  # noqa: E402

from plugins.module_utils import master_config as m  # noqa: E402

try:
    import yaml
except ImportError:  # an old Python without PyYAML: the textual checks still run
    yaml = None

# openshift-ansible 3.11's layout (master.yaml.v1.j2), with a comment and a key after the section
CONFIG = """admissionConfig:
  pluginConfig: {}
apiVersion: v1
imagePolicyConfig:
  disableScheduledImport: false
  internalRegistryHostname: docker-registry.default.svc:5000
  maxImagesBulkImportedPerRepository: 50
kind: MasterConfig
# the identity providers hold secrets in real files
oauthConfig:
  identityProviders:
  - name: ldap
    provider:
      bindPassword: s3cret
servingInfo:
  bindAddress: 0.0.0.0:8443
"""

PATH = "/etc/origin/master/okd-additional-trusted-ca.crt"


def _cert(seed):
    """A PEM block shaped like a certificate (DER SEQUENCE header, 200 bytes)."""
    der = b"\x30\x81\xc5" + (seed * 197)[:197]
    b64 = base64.b64encode(der).decode("ascii")
    return "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % "\n".join(
        b64[i:i + 64] for i in range(0, len(b64), 64))


def _same_but(old, new, value):
    """new parses and equals old with imagePolicyConfig.additionalTrustedCA = value (None: absent)."""
    if yaml is None:
        return
    a, b = yaml.safe_load(old), yaml.safe_load(new)
    ipc = dict(a.get("imagePolicyConfig") or {})
    ipc.pop("additionalTrustedCA", None)
    if value is not None:
        ipc["additionalTrustedCA"] = value
    a["imagePolicyConfig"] = ipc
    b["imagePolicyConfig"] = b.get("imagePolicyConfig") or {}
    assert a == b, (a, b)


def _changed_lines(old, new):
    o, n = old.splitlines(), new.splitlines()
    return [line for line in n if line not in o], [line for line in o if line not in n]


def test_set_inserts_one_line_in_alphabetical_place():
    new = m.set_trusted_ca(CONFIG, PATH)
    assert _changed_lines(CONFIG, new) == (["  additionalTrustedCA: " + PATH], [])
    lines = new.splitlines()
    assert lines[lines.index("imagePolicyConfig:") + 1] == "  additionalTrustedCA: " + PATH
    assert m.get_trusted_ca(new) == PATH
    _same_but(CONFIG, new, PATH)


def test_set_is_idempotent_and_replaces_a_value():
    new = m.set_trusted_ca(CONFIG, PATH)
    assert m.set_trusted_ca(new, PATH) == new
    other = m.set_trusted_ca(new, "/etc/origin/master/other.crt")
    assert _changed_lines(new, other) == (["  additionalTrustedCA: /etc/origin/master/other.crt"],
                                          ["  additionalTrustedCA: " + PATH])
    _same_but(CONFIG, other, "/etc/origin/master/other.crt")


def test_quoted_existing_value_is_read_and_kept():
    text = CONFIG.replace("  disableScheduledImport", "  additionalTrustedCA: '%s'\n  disableScheduledImport" % PATH)
    assert m.get_trusted_ca(text) == PATH
    assert m.set_trusted_ca(text, PATH) == text      # same value: nothing rewritten


def test_remove_deletes_only_that_line():
    new = m.set_trusted_ca(CONFIG, PATH)
    assert m.set_trusted_ca(new, None) == CONFIG
    assert m.set_trusted_ca(CONFIG, None) == CONFIG
    assert m.get_trusted_ca(CONFIG) is None


def test_missing_or_empty_section():
    no_section = "".join(l + "\n" for l in CONFIG.splitlines() if not l.startswith(("imagePolicyConfig", "  disable",
                                                                                       "  internalReg", "  maxImages")))
    new = m.set_trusted_ca(no_section, PATH)
    assert new.startswith(no_section) and new.endswith("imagePolicyConfig:\n  additionalTrustedCA: %s\n" % PATH)
    _same_but(no_section, new, PATH)
    for empty in ("imagePolicyConfig: {}\n", "imagePolicyConfig:\n"):
        text = "apiVersion: v1\n" + empty + "kind: MasterConfig\n"
        new = m.set_trusted_ca(text, PATH)
        assert new == "apiVersion: v1\nimagePolicyConfig:\n  additionalTrustedCA: %s\nkind: MasterConfig\n" % PATH
        _same_but(text, new, PATH)


def test_last_key_of_the_file_and_no_final_newline():
    text = "apiVersion: v1\nkind: MasterConfig\nimagePolicyConfig:\n  maxImagesBulkImportedPerRepository: 5"
    new = m.set_trusted_ca(text, PATH)
    assert new == text.replace("imagePolicyConfig:\n", "imagePolicyConfig:\n  additionalTrustedCA: %s\n" % PATH)
    _same_but(text, new, PATH)
    text = "apiVersion: v1\nimagePolicyConfig:\n  zzz: 1\n\n# end\n"
    new = m.set_trusted_ca(text, PATH)
    assert new == "apiVersion: v1\nimagePolicyConfig:\n  additionalTrustedCA: %s\n  zzz: 1\n\n# end\n" % PATH


def test_four_space_indentation_and_crlf():
    text = "apiVersion: v1\r\nimagePolicyConfig:\r\n    internalRegistryHostname: r:5000\r\nkind: MasterConfig\r\n"
    new = m.set_trusted_ca(text, PATH)
    assert "\r\n    additionalTrustedCA: %s\r\n" % PATH in new
    _same_but(text, new, PATH)


def test_odd_paths_are_quoted():
    for value in ("/etc/origin/master/my ca.crt", "/x/it's.crt", "true", "/x/#a"):
        new = m.set_trusted_ca(CONFIG, value)
        assert m.get_trusted_ca(new) == value
        _same_but(CONFIG, new, value)


def test_refusals():
    with raises(ToolkitError, "flow style"):
        m.set_trusted_ca("imagePolicyConfig: {maxImagesBulkImportedPerRepository: 3}\n", PATH)
    with raises(ToolkitError, "one-line"):
        m.set_trusted_ca(CONFIG, "a\nb")
    with raises(ToolkitError, "one-line"):
        m.set_trusted_ca(CONFIG, "")
    with raises(ToolkitError, "not a one-line value"):
        m.set_trusted_ca("imagePolicyConfig:\n  additionalTrustedCA:\n    - a\n", PATH)


def test_pem_certificates_and_bundle():
    a, b = _cert(b"a"), _cert(b"b")
    assert m.pem_certificates("junk before\n" + a + "\n" + b) == a + b
    assert m.bundle([("one", a + b), ("two", b)]) == a + b     # each certificate once, in order
    with raises(ToolkitError, "my CA", "no PEM certificate"):
        m.pem_certificates("hello", "my CA")
    with raises(ToolkitError, "empty"):
        m.pem_certificates("  ", "my CA")
    with raises(ToolkitError, "private key"):
        m.pem_certificates(a + "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    with raises(ToolkitError, "damaged"):
        m.pem_certificates(a.replace("MIH", "M!H"))
    with raises(ToolkitError, "not DER"):
        m.pem_certificates("-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n"
                           % base64.b64encode(b"x" * 100).decode("ascii"))
    with raises(ToolkitError, "unterminated"):
        m.pem_certificates(a + "-----BEGIN CERTIFICATE-----\nMIIB\n")


if __name__ == "__main__":
    print("ran %d tests" % len(run_all(dict(globals()))))
