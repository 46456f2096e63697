"""site.yml as an AWX sliced job (docs/installing.md, "Job slicing"): the lab inventory split into 3 slices
the way AWX splits it (awx/main/models/inventory.py, Inventory.get_script_data: hosts ordered by name,
slice k of N gets hosts[k-1::N]; each slice's inventory holds only its hosts, groups keep their variables
and only their members of the slice), one ansible-playbook run per slice. The lab ends in the same state
as after one run (a following single run changes nothing), the cluster-side work (OKD API) runs in one
slice only, and the per-slice compliance reports merge into one with
playbooks/compliance_merge.yml.
"""
import copy
import json
import os

import yaml

from installtools import ansible_playbook, assert_end_state, installed_collection, undo_end_state
from labtools import recap, run_playbook

SLICES = 3


def host_names(node, out):
    """Every host name of a YAML inventory tree, in first-seen order."""
    if isinstance(node, dict):
        for h in (node.get("hosts") or {}):
            if h not in out:
                out.append(h)
        for child in (node.get("children") or {}).values():
            host_names(child, out)
    return out


def restrict(node, keep):
    """A copy of an inventory group tree with only the hosts in `keep` (variables kept)."""
    node = copy.deepcopy(node) if node else {}
    if isinstance(node.get("hosts"), dict):
        node["hosts"] = {h: v for h, v in node["hosts"].items() if h in keep}
    for name, child in (node.get("children") or {}).items():
        node["children"][name] = restrict(child, keep)
    return node


def awx_slices(inventory, count):
    """[(slice number, hosts, inventory dict)] as AWX makes them for job_slice_count=count."""
    hosts = sorted(host_names(inventory["all"], []))
    out = []
    for number in range(1, count + 1):
        keep = hosts[number - 1::count]
        out.append((number, keep, {"all": restrict(inventory["all"], set(keep))}))
    return out


def write_private(path, text):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return str(path)


def api_requests_since(lab, offset):
    with open(lab["api"]["request_log"]) as f:
        f.seek(offset)
        return [json.loads(line) for line in f.read().splitlines() if line.strip()]


def test_partition_matches_awx():
    inv = {"all": {"children": {"g": {"hosts": {"n3": None, "n1": {"v": 1}, "n2": None, "n4": None}},
                                "m": {"hosts": {"n1": None}}}, "vars": {"x": 1}}}
    slices = awx_slices(inv, 3)
    assert [s[1] for s in slices] == [["n1", "n4"], ["n2"], ["n3"]]
    assert slices[0][2]["all"]["children"]["g"]["hosts"] == {"n1": {"v": 1}, "n4": None}
    assert slices[1][2]["all"]["children"]["m"]["hosts"] == {}
    assert slices[2][2]["all"]["vars"] == {"x": 1}


def test_site_as_three_slices(lab, lab_exec, tmp_path):
    with open(lab["inventory"]["ansible"]) as f:
        inventory = yaml.safe_load(f)
    all_hosts = sorted(host_names(inventory["all"], []))
    slices = awx_slices(inventory, SLICES)
    assert sorted(h for _, hosts, _ in slices for h in hosts) == all_hosts

    undo_end_state(lab, lab_exec, all_hosts)
    api_by_slice, reports = {}, []
    for number, hosts, inv in slices:
        path = write_private(tmp_path / ("slice%d.yml" % number), yaml.safe_dump(inv))
        report = str(tmp_path / ("compliance-slice%d.json" % number))
        offset = os.path.getsize(lab["api"]["request_log"])
        rc, out = run_playbook("site.yml", "-i", path, "-e", "registry_compliance_report_path=" + report)
        assert rc == 0, "slice %d (%s):\n%s" % (number, hosts, out[-6000:])
        api_by_slice[number] = api_requests_since(lab, offset)
        reports.append(report)

    # the cluster-side work ran once: only the slice holding the first master talked to the OKD API
    talked = sorted(n for n, reqs in api_by_slice.items() if reqs)
    master_slice = [n for n, hosts, _ in slices if "master1" in hosts]
    assert talked == master_slice, {n: len(r) for n, r in api_by_slice.items()}
    assert any(r["method"] in ("POST", "PUT", "PATCH") and r["path"].endswith("/secrets")
               or "imagestreamsecret" in r["path"] for r in api_by_slice[master_slice[0]])

    assert_end_state(lab, lab_exec, all_hosts)

    # the per-slice reports merge into one report covering every host
    # (as docs/installing.md has it: the installed collection, file names relative to the current directory)
    merged = tmp_path / "compliance-report.json"
    coll, _, _ = installed_collection()
    rc, out = ansible_playbook(coll, tmp_path, "okd.registry_toolkit.compliance_merge", "-e",
                               json.dumps({"registry_compliance_merge_reports": [os.path.basename(r) for r in reports],
                                           "registry_compliance_merge_output": merged.name}))
    assert rc == 0, out[-4000:]
    doc = json.loads(merged.read_text())
    assert sorted(doc["hosts"]) == all_hosts
    assert all(h["compliant"] for h in doc["hosts"].values()), doc
    assert oct(merged.stat().st_mode & 0o777) == "0o600"
    # the same host twice is refused (e.g. a report given twice), naming the host
    rc, out = run_playbook("okd.registry_toolkit.compliance_merge", "-e",
                           json.dumps({"registry_compliance_merge_reports": reports + reports[:1],
                                       "registry_compliance_merge_output": str(tmp_path / "dup.json")}))
    assert rc != 0 and "hosts found in more than one report" in out and slices[0][1][0] in out

    # the same end state as one run: a single run over the whole inventory finds nothing to change
    rc, out = run_playbook("site.yml", "-e", "registry_compliance_report_path=" + str(tmp_path / "one.json"))
    assert rc == 0, out[-6000:]
    assert recap(out).get("changed", 0) == 0, out[-6000:]
