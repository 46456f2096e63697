# -*- coding: utf-8 -*-
# Unit tests of pyinfra_deploys/installer_inventory.py: an openshift-ansible INI inventory read for pyinfra
# (groups, children, vars precedence, values as Ansible reads them, the core mapping, the file's own keys win).
import os

import pytest

# The module loads the INI at import unless told not to. The switch is set for the import only: left in
# os.environ it would reach every later subprocess of the test session (a lab test's pyinfra run then
# saw an empty inventory, ran on no host and exited 0).
os.environ["OKD_INSTALLER_INVENTORY_NO_LOAD"] = "1"
try:
    from pyinfra_deploys import installer_inventory as ii
finally:
    del os.environ["OKD_INSTALLER_INVENTORY_NO_LOAD"]

TRAP = u'q\'uo"te $HOME | `id` sp ace \u00fc\u20ac'
INI = u"""
# comment
[OSEv3:children]
masters
nodes
etcd

[masters]
m1 ansible_host=10.0.0.1

[nodes]
m1 ansible_host=10.0.0.1
n1 ansible_host=10.0.0.2 ansible_user=cloud openshift_node_group_name='node-config-compute'

[etcd]
m1

[OSEv3:vars]
ansible_user=root
ansible_ssh_private_key_file=/k/id
oreg_url=reg.example.test/openshift3/ose-${component}:${version}
oreg_auth_user=11009103|sa
oreg_auth_password=%s
openshift_release=3.11
openshift_additional_registry_credentials=[{'host': 'quay.example.test', 'user': 'o+r', 'password': 'pw2'}]
oreg_test_login=false

[nodes:vars]
openshift_hosted_registry_replicas=2
""" % repr(TRAP)


def test_groups_vars_and_mapping(tmp_path):
    p = tmp_path / "hosts"
    p.write_text(INI, encoding="utf-8")
    groups, warnings = ii.pyinfra_groups(str(p))
    assert warnings == []
    assert sorted(groups) == ["etcd", "masters", "nodes"]
    assert [a for a, _ in groups["nodes"]] == ["10.0.0.1", "10.0.0.2"]
    m1 = dict(groups["masters"])["10.0.0.1"]
    n1 = dict(groups["nodes"])["10.0.0.2"]
    assert (m1["ssh_user"], m1["ssh_key"], n1["ssh_user"]) == ("root", "/k/id", "cloud")
    assert m1["installer_name"] == "m1" and "masters" in m1["installer_groups"]
    regs = m1["okd_registries"]
    assert [(r["name"], r["host"], r["username"]) for r in regs] == [
        ("redhat", "reg.example.test", "11009103|sa"), ("quay", "quay.example.test", "o+r")]
    assert regs[0]["password"] == TRAP and regs[0]["test_image"] == "openshift3/ose-pod:v3.11"
    assert m1["registry_credentials_verify_controller"] is False
    assert n1["okd_integrated_registry_replicas"] == 2  # [nodes:vars]
    assert n1["openshift_node_group_name"] == "node-config-compute"


def test_the_files_own_toolkit_keys_win_and_warnings(tmp_path):
    p = tmp_path / "hosts"
    p.write_text(INI.replace("oreg_test_login=false", "oreg_test_login=false\nregistry_credentials_verify_controller=True\n"
                             "oreg_auth_credentials_replace=False").replace("11009103|sa", "jdoe"), encoding="utf-8")
    groups, warnings = ii.pyinfra_groups(str(p))
    m1 = dict(groups["masters"])["10.0.0.1"]
    assert m1["registry_credentials_verify_controller"] is True
    text = "\n".join(warnings)
    assert "m1, n1: oreg_auth_user 'jdoe'" in text and "not supported for production deployments" in text
    assert "always updated" in text and TRAP not in text


def test_bad_values_stop_naming_host_and_variable(tmp_path):
    p = tmp_path / "hosts"
    p.write_text(INI.replace("oreg_test_login=false", "oreg_test_login=perhaps"), encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        ii.pyinfra_groups(str(p))
    assert "m1: oreg_test_login must be a boolean" in str(e.value)
    with pytest.raises(ValueError, match="line 2: unknown section type"):
        ii.read_ini("\n[x:bogus]\n")
