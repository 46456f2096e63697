"""The toolkit's check of which pull-secret entry an OKD 3.11 import sends to a registry's token realm
(plugins/module_utils/k8s_images.py realm_lookup_matches / realm_entry_warning, issue 13 item 6), against
the lab stand-in's model of origin's keyring (lab/api/images.py SecretKeyring): both must agree."""
import base64
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from plugins.module_utils import k8s_images  # noqa: E402
from lab.api import images as standin  # noqa: E402

REALMS = ["https://quay.lab.test:5445/v2/auth", "https://auth.quay.lab.test:5446/v2/auth",
          "https://registry.redhat.io/auth/realms/rhcc/protocol/redhat-docker-v2/auth",
          "https://registry.redhat.io:443/auth/realms/rhcc/protocol/redhat-docker-v2/auth",
          "https://reg.example:5000/token", "http://reg.example/token", "https://reg.example/team/token"]
KEYS = ["quay.lab.test:5445", "https://quay.lab.test:5445/v1/", "auth.quay.lab.test:5446", "registry.redhat.io",
        "registry.redhat.io:443", "reg.example:5000", "reg.example:80", "reg.example/team", "reg.example",
        "*.quay.lab.test:5446", "https://reg.example/v2/"]


def _secret(keys):
    auths = dict((k, {"auth": base64.b64encode(b"u:p").decode()}) for k in keys)
    return {"metadata": {"name": "s"}, "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps({"auths": auths}).encode()).decode()}}


@pytest.mark.parametrize("realm", REALMS)
@pytest.mark.parametrize("key", KEYS)
def test_toolkit_and_standin_agree_on_every_key_and_realm(key, realm):
    sent = standin.SecretKeyring([_secret([key])]).basic(realm) == ("u", "p")
    assert k8s_images.realm_lookup_matches([key], realm) is sent


def test_warning_names_registry_realm_host_and_secret():
    w = k8s_images.realm_entry_warning("split.quay.lab.test:5447", "https://auth.quay.lab.test:5446/v2/auth",
                                       "secret ns/quay-pull", ["split.quay.lab.test:5447"])
    assert "registry split.quay.lab.test:5447 names its token realm on auth.quay.lab.test:5446" in w
    assert "secret ns/quay-pull has no entry for auth.quay.lab.test:5446" in w and "realm_hosts" in w
    assert k8s_images.realm_entry_warning("quay.lab.test:5445", "https://quay.lab.test:5445/v2/auth",
                                          "secret ns/q", ["quay.lab.test:5445"]) == ""
    assert k8s_images.realm_entry_warning("r", None, "secret ns/q", []) == ""
