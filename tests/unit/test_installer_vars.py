# -*- coding: utf-8 -*-
# Unit tests of the openshift-ansible 3.11 inventory mapping (issue 12): plugins/module_utils/installer_vars.py
# and the filter okd.registry_toolkit.installer_vars. The table they pin down is docs/variables.md.
from __future__ import absolute_import, division, print_function

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _compat import ToolkitError, raises  # noqa: E402

from plugins.module_utils import installer_vars as iv  # noqa: E402

TRAP = u'a \'q\' "dq" $HOME `x` | y ü €'
BASE = {
    "oreg_url": "registry.redhat.io/openshift3/ose-${component}:${version}",
    "oreg_auth_user": "11009103|cluster",
    "oreg_auth_password": "tok",
    "openshift_image_tag": "v3.11.248",
}


def m(**kw):
    values = dict(BASE)
    values.update(kw)
    return iv.map_installer_vars(dict((k, v) for k, v in values.items() if v is not iv), host="master1")


def test_oreg_url_gives_the_redhat_entry_with_the_pod_image():
    r = m()
    assert r["warnings"] == []
    assert r["vars"]["okd_registries"] == [{
        "name": "redhat", "host": "registry.redhat.io", "username": "11009103|cluster", "password": "tok",
        "test_image": "openshift3/ose-pod:v3.11.248"}]
    assert r["vars"]["okd_integrated_registry_image"] == "registry.redhat.io/openshift3/ose-docker-registry:v3.11.248"


def test_version_from_tag_then_release_then_3_11():
    assert m(openshift_image_tag=iv)["vars"]["okd_registries"][0]["test_image"] == "openshift3/ose-pod:v3.11"
    r = m(openshift_image_tag=iv, openshift_release="3.11")
    assert r["vars"]["okd_registries"][0]["test_image"] == "openshift3/ose-pod:v3.11"
    r = m(openshift_image_tag=iv, openshift_release="v3.10")
    assert r["vars"]["okd_registries"][0]["test_image"] == "openshift3/ose-pod:v3.10"
    # openshift_image_tag wins over openshift_release
    r = m(openshift_release="v3.10")
    assert r["vars"]["okd_registries"][0]["test_image"] == "openshift3/ose-pod:v3.11.248"


def test_mirror_with_port_and_default_oreg_url():
    r = m(oreg_url="mirror.example.com:5000/ocp/ose-${component}:${version}")
    e = r["vars"]["okd_registries"][0]
    assert (e["host"], e["test_image"]) == ("mirror.example.com:5000", "ocp/ose-pod:v3.11.248")
    # no oreg_url: openshift_facts' default for the deployment type; the image is left to the role
    r = m(oreg_url=iv)
    assert r["vars"]["okd_registries"][0]["host"] == "registry.redhat.io"
    assert "okd_integrated_registry_image" not in r["vars"]
    r = m(oreg_url=iv, openshift_deployment_type="origin")
    assert r["vars"]["okd_registries"][0]["host"] == "docker.io"
    assert r["vars"]["okd_registries"][0]["test_image"] == "openshift/origin-pod:v3.11.248"


def test_no_credentials_no_entry():
    r = m(oreg_auth_user=iv, oreg_auth_password=iv)
    assert "okd_registries" not in r["vars"]
    assert iv.map_installer_vars({})["vars"] == {}


def test_trap_password_kept_exactly():
    r = m(oreg_auth_password=TRAP)
    assert r["vars"]["okd_registries"][0]["password"] == TRAP
    assert not any(TRAP in w for w in r["warnings"])


def test_additional_registry_credentials():
    extra = [{"host": "quay.io", "user": "org+robot", "password": "p1", "test_image": "org/app:1"},
             {"host": "registry.connect.redhat.com", "password": "p2"},
             {"host": "quay.example.com:8443", "user": "u", "password": "p3", "name": "myquay"}]
    r = m(openshift_additional_registry_credentials=extra)
    regs = r["vars"]["okd_registries"]
    assert [e["name"] for e in regs] == ["redhat", "quay", "registry", "myquay"]
    assert regs[1] == {"name": "quay", "host": "quay.io", "username": "org+robot", "password": "p1",
                       "test_image": "org/app:1"}
    # docker_creds: item.user | default('openshift'); no test image: login-only verification
    assert regs[2]["username"] == "openshift" and "test_image" not in regs[2]
    # two hosts with the same first label get distinct names
    r = m(openshift_additional_registry_credentials=[{"host": "quay.io", "password": "a"},
                                                       {"host": "quay.example.com", "password": "b"}])
    assert [e["name"] for e in r["vars"]["okd_registries"]] == ["redhat", "quay", "quay-2"]


def test_additional_without_oreg_auth():
    r = m(oreg_auth_user=iv, oreg_auth_password=iv,
          openshift_additional_registry_credentials=[{"host": "quay.io", "user": "r", "password": "p"}])
    assert [e["host"] for e in r["vars"]["okd_registries"]] == ["quay.io"]


def test_test_login_and_tls_verify_warnings():
    r = m(oreg_test_login="false",
          openshift_additional_registry_credentials=[{"host": "q.io", "password": "SECRETPW", "test_login": False,
                                                      "tls_verify": "no", "bogus": 1}])
    assert r["vars"]["registry_credentials_verify_controller"] is False
    text = "\n".join(r["warnings"])
    assert "test_login false is not honoured per registry" in text
    assert "tls_verify false is not honoured" in text
    assert "bogus not understood" in text
    assert "SECRETPW" not in text
    assert m(oreg_test_login=True)["vars"]["registry_credentials_verify_controller"] is True


def test_credentials_replace():
    assert m(oreg_auth_credentials_replace="true")["warnings"] == []
    w = m(oreg_auth_credentials_replace=False)["warnings"]
    assert len(w) == 1 and "always updated" in w[0]


def test_web_user_on_production_is_reported_with_the_seed_wording():
    r = m(oreg_auth_user="jdoe@example.com", oreg_auth_password="SECRETPW")
    assert len(r["warnings"]) == 1
    assert "not supported for production deployments" in r["warnings"][0]
    assert "jdoe@example.com" in r["warnings"][0] and "SECRETPW" not in r["warnings"][0]
    assert iv.map_installer_vars(dict(BASE, oreg_auth_user="jdoe"), production=False)["warnings"] == []
    for sa in ("11009103|cluster", "6340056|my-sa"):
        assert m(oreg_auth_user=sa)["warnings"] == []
    for not_sa in ("cluster", "|x", "123|", "12ab|x", "123|a b"):
        assert m(oreg_auth_user=not_sa)["warnings"], not_sa


def test_hosted_registry_settings():
    r = m(openshift_hosted_manage_registry="False", openshift_hosted_registry_replicas="3",
          openshift_hosted_registry_selector="region=infra, zone=a",
          openshift_hosted_registry_routehost="registry.apps.example.com",
          openshift_hosted_registry_routetermination="reencrypt",
          openshift_hosted_registry_cert_expire_days="365",
          openshift_hosted_registry_env_vars={"A": 1},
          openshift_hosted_registry_storage_kind="nfs",
          openshift_hosted_registry_storage_volume_name="reg",
          openshift_hosted_registry_storage_volume_size="20Gi",
          openshift_hosted_registry_storage_access_modes=["ReadWriteMany"])
    v = r["vars"]
    assert v["okd_integrated_registry_manage"] is False
    assert v["okd_integrated_registry_replicas"] == 3
    assert v["okd_integrated_registry_node_selector"] == {"region": "infra", "zone": "a"}
    assert v["okd_integrated_registry_route_host"] == "registry.apps.example.com"
    assert v["okd_integrated_registry_route_termination"] == "reencrypt"
    assert v["okd_integrated_registry_cert_valid_days"] == 365
    assert v["okd_integrated_registry_env"] == {"A": "1"}
    assert (v["okd_integrated_registry_storage_kind"], v["okd_integrated_registry_storage_pvc_name"],
            v["okd_integrated_registry_storage_pvc_size"]) == ("pvc", "reg-claim", "20Gi")
    assert v["okd_integrated_registry_storage_pvc_access_modes"] == ["ReadWriteMany"]
    assert any("nfs volume itself" in w for w in r["warnings"])


def test_hostpath_storage_and_what_is_not_honoured():
    r = m(openshift_hosted_registry_storage_kind="hostpath")
    assert r["vars"]["okd_integrated_registry_storage_kind"] == "hostpath"
    assert r["vars"]["okd_integrated_registry_storage_hostpath"] == "/var/lib/openshift_volumes"
    r = m(openshift_hosted_registry_storage_kind="object", openshift_hosted_registry_routetermination="edge",
          openshift_hosted_registry_routecertificates={"certfile": "/c"},
          openshift_hosted_registry_storage_s3_bucket="b", openshift_hosted_registry_force=["true"])
    text = "\n".join(r["warnings"])
    assert "okd_integrated_registry_storage_kind" not in r["vars"]
    assert "okd_integrated_registry_route_termination" not in r["vars"]
    for name in ("storage_kind object", "routetermination 'edge'", "routecertificates",
                 "openshift_hosted_registry_force", "openshift_hosted_registry_storage_s3_bucket"):
        assert name in text, name


def test_bad_values_name_host_and_variable_never_the_password():
    cases = [
        (dict(oreg_auth_password=iv), "master1: oreg_auth_user: a user is set for registry.redhat.io but no password"),
        (dict(oreg_auth_user=iv), "oreg_auth_password is set but oreg_auth_user is not"),
        (dict(oreg_url="registry.redhat.io"), "oreg_url 'registry.redhat.io' has no repository"),
        (dict(openshift_additional_registry_credentials="quay.io"), "must be a list"),
        (dict(openshift_additional_registry_credentials=[{"user": "x", "password": "SECRETPW"}]),
         "openshift_additional_registry_credentials[0] must be a mapping"),
        (dict(openshift_additional_registry_credentials=[{"host": "registry.redhat.io", "password": "SECRETPW"}]),
         "registry registry.redhat.io is given twice"),
        (dict(oreg_test_login="maybe"), "oreg_test_login must be a boolean"),
        (dict(openshift_hosted_registry_replicas="two"), "openshift_hosted_registry_replicas must be a whole number"),
        (dict(openshift_hosted_registry_selector="infra"), "'infra' is not key=value"),
        (dict(openshift_deployment_type="okd"), "openshift_deployment_type must be origin or openshift-enterprise"),
    ]
    for kw, fragment in cases:
        with raises(ToolkitError, "master1: ", fragment) as info:
            m(**kw)
        assert "SECRETPW" not in str(info.value)


def test_unset_only_keeps_the_toolkits_own_variables():
    mapped = m()["vars"]
    assert sorted(iv.unset_only(mapped, ["okd_registries"])) == ["okd_integrated_registry_image"]
    assert set(mapped) <= set(iv.TOOLKIT_VARS)


def test_filter_adapter():
    from ansible.errors import AnsibleFilterError
    from plugins.filter.installer_vars import FilterModule
    f = FilterModule().filters()["installer_vars"]
    assert f(dict(BASE), "h")["vars"]["okd_registries"][0]["host"] == "registry.redhat.io"
    with raises(AnsibleFilterError, "h: oreg_test_login must be a boolean"):
        f(dict(BASE, oreg_test_login="maybe"), "h")
    with raises(AnsibleFilterError, "expects a mapping"):
        f("x")


def test_object_storage_s3_maps_to_the_role_secrets_kept_verbatim():
    """issue 14: openshift_hosted_registry_storage_kind=object, provider s3 (openshift-ansible 3.11
    object_storage.yml / registry_config.j2) -> storage kind s3 and the role's s3 variables."""
    r = m(openshift_hosted_registry_storage_kind="object", openshift_hosted_registry_storage_provider="s3",
          openshift_hosted_registry_storage_s3_bucket="okd-reg", openshift_hosted_registry_storage_s3_region="eu-west-1",
          openshift_hosted_registry_storage_s3_regionendpoint="https://s3.eu-west-1.amazonaws.com",
          openshift_hosted_registry_storage_s3_accesskey="AKIAEXAMPLE", openshift_hosted_registry_storage_s3_secretkey=TRAP,
          openshift_hosted_registry_storage_s3_chunksize="26214400",
          openshift_hosted_registry_storage_s3_rootdirectory="/registry", openshift_hosted_registry_storage_s3_encrypt=False)
    v = r["vars"]
    assert v["okd_integrated_registry_storage_kind"] == "s3"
    assert (v["okd_integrated_registry_storage_s3_bucket"], v["okd_integrated_registry_storage_s3_region"],
            v["okd_integrated_registry_storage_s3_regionendpoint"]) == ("okd-reg", "eu-west-1",
                                                                        "https://s3.eu-west-1.amazonaws.com")
    assert v["okd_integrated_registry_storage_s3_accesskey"] == "AKIAEXAMPLE"
    assert v["okd_integrated_registry_storage_s3_secretkey"] == TRAP
    assert v["okd_integrated_registry_storage_s3_chunksize"] == 26214400
    assert v["okd_integrated_registry_storage_s3_rootdirectory"] == "/registry"
    assert not [w for w in r["warnings"] if "s3" in w], r["warnings"]
    assert set(v) <= set(iv.TOOLKIT_VARS)


def test_object_storage_s3_bad_values_and_unhonoured_settings():
    base = dict(openshift_hosted_registry_storage_kind="object", openshift_hosted_registry_storage_provider="s3",
                openshift_hosted_registry_storage_s3_bucket="b", openshift_hosted_registry_storage_s3_region="r",
                openshift_hosted_registry_storage_s3_secretkey="SECRETKEY")
    for over, msg in ((dict(openshift_hosted_registry_storage_s3_region=iv),
                       "master1: openshift_hosted_registry_storage_kind object with provider s3 needs "
                       "openshift_hosted_registry_storage_s3_region"),
                      (dict(openshift_hosted_registry_storage_s3_chunksize="25M"),
                       "openshift_hosted_registry_storage_s3_chunksize must be a whole number"),
                      (dict(openshift_hosted_registry_storage_s3_chunksize=1024), "at least 5242880")):
        kw = dict(base)
        kw.update(over)
        with raises(ToolkitError, msg) as info:
            m(**kw)
        assert "SECRETKEY" not in str(info.value)
    kw = dict(base, openshift_hosted_registry_storage_s3_encrypt=True, openshift_hosted_registry_storage_s3_kmskeyid="k")
    text = "\n".join(m(**kw)["warnings"])
    assert "s3_encrypt true is not honoured" in text and "openshift_hosted_registry_storage_s3_kmskeyid" in text
    # another provider: not honoured, storage left alone
    r = m(openshift_hosted_registry_storage_kind="object", openshift_hosted_registry_storage_provider="swift")
    assert "okd_integrated_registry_storage_kind" not in r["vars"]
    assert any("provider 'swift' is not honoured" in w for w in r["warnings"])


def test_plan_hosts_sets_common_values_once_and_the_rest_per_host():
    hosts = ["master1", "node1", "node2"]
    base = dict(BASE)
    values = {h: dict(base) for h in hosts}
    values["node2"]["openshift_hosted_registry_replicas"] = 2
    plan = iv.plan_hosts(hosts, values, {"node1": ["okd_registries", "okd_other"]})
    assert plan["errors"] == []
    common = dict((c["name"], c["value"]) for c in plan["common"])
    # node1 sets okd_registries itself: the mapped value goes to the two others, per host, and node1 is named
    assert "okd_registries" not in common
    assert sorted(p["host"] for p in plan["per_host"] if p["name"] == "okd_registries") == ["master1", "node2"]
    assert [p["host"] for p in plan["per_host"] if p["name"] == "okd_integrated_registry_replicas"] == ["node2"]
    assert common["okd_integrated_registry_image"] == m()["vars"]["okd_integrated_registry_image"]
    assert any(w.startswith("node1: the inventory sets okd_registries itself") for w in plan["warnings"])
    # a warning shared by hosts is one line naming them all, in play order
    solo = iv.plan_hosts(hosts, dict((h, dict(base, oreg_auth_user="webuser")) for h in hosts), {})
    assert any(w.startswith("master1, node1, node2: ") for w in solo["warnings"]), solo["warnings"]


def test_plan_hosts_names_every_bad_host_and_sets_nothing():
    hosts = ["master1", "node1", "node2"]
    values = {"master1": dict(BASE), "node1": dict(BASE, oreg_test_login="maybe"),
              "node2": dict(BASE, openshift_deployment_type="okd")}
    plan = iv.plan_hosts(hosts, values, {})
    assert plan["common"] == [] and plan["per_host"] == []
    assert len(plan["errors"]) == 2
    assert plan["errors"][0].startswith("node1: oreg_test_login must be a boolean")
    assert plan["errors"][1].startswith("node2: openshift_deployment_type")
    assert all("SECRETPW" not in e for e in plan["errors"])
    bad = iv.plan_hosts(["h"], {"h": dict(BASE)}, {}, {"h": "perhaps"})
    assert bad["errors"] == ["h: okd_production_cluster must be a boolean, got 'perhaps'"]


def test_plan_hosts_without_installer_variables_sets_nothing():
    plan = iv.plan_hosts(["a", "b"], {}, {"a": ["okd_registries"]})
    assert plan == dict(common=[], per_host=[], warnings=[], errors=[])


def test_filter_reads_hostvars_names_and_templates_only_installer_values():
    from plugins.filter.installer_vars import FilterModule
    f = FilterModule().filters()["installer_vars_hosts"]

    class Vars(dict):
        read = []

        def __getitem__(self, k):
            Vars.read.append(k)
            return dict.__getitem__(self, k)

    hostvars = {"n1": Vars(BASE, okd_registries=[], ansible_host="10.0.0.1", okd_production_cluster="no"),
                "n2": Vars(BASE, other_var="x")}
    plan = f(hostvars, ["n1", "n2"])
    assert plan["errors"] == []
    assert sorted(set(Vars.read)) == sorted(set(BASE) | {"okd_production_cluster"})
    assert [p["host"] for p in plan["per_host"] if p["name"] == "okd_registries"] == ["n2"]
