"""The okd_* modules' API connection: module option > K8S_AUTH_* environment variable > kubeconfig, as
kubernetes.core resolves it (plugins/module_utils/k8s/client.py: _create_auth_spec, _create_configuration),
so AWX's OpenShift/Kubernetes credential (K8S_AUTH_HOST, K8S_AUTH_API_KEY, K8S_AUTH_VERIFY_SSL,
K8S_AUTH_SSL_CA_CERT) and K8S_AUTH_KUBECONFIG / K8S_AUTH_CONTEXT work without a kubeconfig option."""
import pytest
import yaml

from plugins.module_utils import k8s_client
from plugins.module_utils.errors import ToolkitError

TOKEN_A, TOKEN_B, TOKEN_ENV = "sha256~kubeconfig-token-a", "sha256~kubeconfig-token-b", "sha256~env-token-123"
NONE = dict(kubeconfig=None, context=None, host=None, api_key=None, validate_certs=None, ca_file=None,
            api_timeout=30)


@pytest.fixture
def kubeconfig(tmp_path):
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "a",
           "clusters": [{"name": "ca", "cluster": {"server": "https://a.example:8443"}},
                        {"name": "cb", "cluster": {"server": "https://b.example:8443"}}],
           "contexts": [{"name": "a", "context": {"cluster": "ca", "user": "ua"}},
                        {"name": "b", "context": {"cluster": "cb", "user": "ub"}}],
           "users": [{"name": "ua", "user": {"token": TOKEN_A}}, {"name": "ub", "user": {"token": TOKEN_B}}]}
    p = tmp_path / "kc.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def conn(params=None, env=None):
    p = dict(NONE)
    p.update(params or {})
    return k8s_client.connection(p, env or {})


def test_option_beats_environment_beats_kubeconfig(kubeconfig):
    env = {"K8S_AUTH_KUBECONFIG": kubeconfig, "K8S_AUTH_HOST": "https://env.example:8443"}
    c, _, _ = conn({}, env)
    assert (c["server"], c["token"]) == ("https://env.example:8443", TOKEN_A)  # env host over kubeconfig's
    c, _, _ = conn({"host": "https://opt.example:8443/"}, env)
    assert c["server"] == "https://opt.example:8443"                           # option over env
    c, _, _ = conn({}, {"K8S_AUTH_KUBECONFIG": kubeconfig})
    assert (c["server"], c["token"]) == ("https://a.example:8443", TOKEN_A)    # kubeconfig alone


def test_host_and_api_key_need_no_kubeconfig(tmp_path, kubeconfig):
    env = {"K8S_AUTH_HOST": "https://api.example:8443", "K8S_AUTH_API_KEY": TOKEN_ENV,
           "KUBECONFIG": str(tmp_path / "absent")}
    c, validate, ca = conn({}, env)
    assert (c["server"], c["token"], validate, ca) == ("https://api.example:8443", TOKEN_ENV, True, None)
    # kubernetes.core does not read a kubeconfig at all then, even a named one
    env["K8S_AUTH_KUBECONFIG"] = kubeconfig
    assert conn({}, env)[0]["token"] == TOKEN_ENV


def test_context_and_api_key_from_environment(kubeconfig):
    c, _, _ = conn({"kubeconfig": kubeconfig}, {"K8S_AUTH_CONTEXT": "b"})
    assert (c["server"], c["token"]) == ("https://b.example:8443", TOKEN_B)
    c, _, _ = conn({"kubeconfig": kubeconfig, "context": "a"}, {"K8S_AUTH_CONTEXT": "b"})
    assert c["token"] == TOKEN_A
    c, _, _ = conn({"kubeconfig": kubeconfig}, {"K8S_AUTH_API_KEY": TOKEN_ENV})
    assert (c["server"], c["token"]) == ("https://a.example:8443", TOKEN_ENV)


@pytest.mark.parametrize("value,expected", [("false", False), ("False", False), ("no", False), ("0", False),
                                            ("true", True), ("yes", True), ("1", True), ("", True)])
def test_verify_ssl_from_environment(kubeconfig, value, expected):
    assert conn({"kubeconfig": kubeconfig}, {"K8S_AUTH_VERIFY_SSL": value})[1] is expected


def test_verify_ssl_option_and_alias_win(kubeconfig):
    env = {"K8S_AUTH_VERIFY_SSL": "no", "K8S_AUTH_VALIDATE_CERTS": "yes"}
    assert conn({"kubeconfig": kubeconfig}, env)[1] is True          # K8S_AUTH_VALIDATE_CERTS is read first
    assert conn({"kubeconfig": kubeconfig, "validate_certs": False}, {"K8S_AUTH_VERIFY_SSL": "yes"})[1] is False


def test_ca_file_from_environment(kubeconfig):
    assert conn({"kubeconfig": kubeconfig}, {"K8S_AUTH_SSL_CA_CERT": "/ca/a.crt"})[2] == "/ca/a.crt"
    env = {"K8S_AUTH_SSL_CA_CERT": "/ca/a.crt", "K8S_AUTH_CA_CERT": "/ca/b.crt"}
    assert conn({"kubeconfig": kubeconfig}, env)[2] == "/ca/b.crt"
    assert conn({"kubeconfig": kubeconfig, "ca_file": "/opt/c.crt"}, env)[2] == "/opt/c.crt"


def test_default_kubeconfig_from_KUBECONFIG(kubeconfig, tmp_path):
    c, _, _ = conn({}, {"KUBECONFIG": kubeconfig + ":" + str(tmp_path / "other")})
    assert c["token"] == TOKEN_A


def test_nothing_given_names_the_options_and_variables(tmp_path):
    with pytest.raises(ToolkitError) as e:
        conn({"api_key": TOKEN_ENV}, {"KUBECONFIG": str(tmp_path / "absent")})
    msg = str(e.value.msg)
    for word in ("kubeconfig", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY", "absent"):
        assert word in msg
    assert TOKEN_ENV not in msg


def test_host_must_be_a_url():
    with pytest.raises(ToolkitError) as e:
        conn({}, {"K8S_AUTH_HOST": "master.example:8443", "K8S_AUTH_API_KEY": TOKEN_ENV})
    assert "K8S_AUTH_HOST" in e.value.msg and "master.example:8443" in e.value.msg
    assert TOKEN_ENV not in e.value.msg


def test_argument_spec_hides_the_api_key_and_requires_nothing():
    spec = k8s_client.k8s_argument_spec()
    assert spec["api_key"]["no_log"] is True
    assert not any(v.get("required") for v in spec.values())
    # no defaults for the connection options: an unset option must fall through to K8S_AUTH_*
    for k in ("kubeconfig", "context", "host", "api_key", "validate_certs", "ca_file"):
        assert spec[k].get("default") is None, k
