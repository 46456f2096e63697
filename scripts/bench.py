#!/usr/bin/env python3
"""Benchmark the toolkit against the running lab and report (never assert) the timings, as seconds,
per-host cost and ratios to references measured in the same run (docs/benchmarks.md).

    .venv/bin/python scripts/bench.py [--repeat N] [--only a,b] [--profile] [--out bench/results/NAME.json]
    make bench NODES=50        # the lab re-ups with 50 nodes (+ master1), benches, then returns to its size

References (the floors, measured first):
  ssh-floor           a fresh `ssh HOST true` to every host in parallel (ControlMaster off)
  ansible-ping-floor  `ansible OSEv3 -m ping` (Ansible's per-host module round trip)
  skopeo-floor        on every host in parallel, over a fresh SSH connection: `skopeo inspect --authfile`
                      with the host's node file for every registry's test image (the per-host pull check)
  installer-apply     bench/installer_baseline.yml after the node files were removed: what
                      openshift-ansible 3.11 does for node credentials (builtin modules, skopeo login test
                      through a shell with retries)
  installer-noop      the same again, files in place
Scenarios:
  creds-apply-ansible   node credentials on every host from scratch (files removed first)
  creds-noop-ansible    the same again: nothing to change (idempotent run)
  creds-apply-pyinfra   the pyinfra deploy from scratch
  creds-noop-pyinfra    the pyinfra deploy again (no-op)
  compliance            the compliance playbook (per-host checks + access from each host)
  site-noop             the whole site.yml when everything is already in place

--profile runs the no-op Ansible scenarios once more with the profile_tasks callback (the slowest
tasks go to the JSON) and the credentials apply and no-op once more with the json callback, counting the
tasks that ran for the last host and its module calls on the host. Only lab addresses are contacted. Results go to bench/results/ (git-ignored) and to
stdout as a table.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
BIN = os.path.dirname(PY)
SSH_CONFIG = os.path.join(REPO, "inventory", "lab", "ssh_config")
NODE_FILE = "/var/lib/origin/.docker/config.json"
# the report of a timed run; findings (the lab's state is shared with other work) do not fail the run
REPORT = '{"registry_compliance_report_path": "/tmp/okd-bench-report.json", "registry_compliance_fail_on_findings": false}'



def lab_status():
    out = subprocess.run([PY, "-m", "lab", "status", "--json"], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("bench: the lab is not up (make lab-up): " + out.stderr.strip())
    return json.loads(out.stdout)


def _env(extra=None):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    env.update(extra or {})
    return env


class BenchFailure(Exception):
    pass


def run(argv, env=None, expect=None):
    """Run one scenario; returns (seconds, output). `expect` is a regex the output must contain: a tool
    that exits 0 having reached nothing (a --limit matching no host) must not look fast."""
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=_env(env), capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise BenchFailure("bench: %s failed (rc %d):\n%s" % (" ".join(argv[:4]), proc.returncode, output[-3000:]))
    if expect and not re.search(expect, output):
        raise BenchFailure("bench: %s did not reach the hosts (no %r in its output):\n%s"
                 % (" ".join(argv[:4]), expect, output[-3000:]))
    return elapsed, output


def parallel(commands):
    """Start every command at once, wait for all; returns the wall-clock seconds. Any failure stops."""
    t0 = time.monotonic()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
             for c in commands]
    failed = []
    for c, p in zip(commands, procs):
        out = p.communicate()[0]
        if p.returncode != 0:
            failed.append("%s: rc %d %s" % (c[-2] if len(c) > 1 else c, p.returncode,
                                             out.decode("utf-8", "replace")[-300:]))
    elapsed = time.monotonic() - t0
    if failed:
        raise BenchFailure("bench: %d of %d parallel commands failed:\n%s" % (len(failed), len(commands),
                                                                               "\n".join(failed[:5])))
    return elapsed


def fresh_ssh(host, *command):
    # a new TCP connection and handshake each time: no multiplexing through a ControlMaster socket
    return ["ssh", "-F", SSH_CONFIG, "-o", "ControlMaster=no", "-o", "ControlPath=none", host] + list(command)


def remove_credentials(status):
    """Start from nothing: remove the node credentials files on every lab host (in parallel)."""
    parallel([fresh_ssh(h["name"], "rm", "-f", NODE_FILE) for h in status["hosts"]])


def test_images(status):
    """(registry host, test image) of every lab registry that has one, from the lab's inventory."""
    out = []
    with open(status["inventory"]["ansible"]) as f:
        text = f.read()
    # the generated inventory lists okd_registries with host and test_image (lab/inventory.py)
    for host, image in re.findall(r"host: (\S+)\n(?:\s+\w+: .*\n)*?\s+test_image: (\S+)", text):
        out.append((host, image))
    if not out:
        sys.exit("bench: no test images found in " + status["inventory"]["ansible"])
    return out


def profile(argv, top=12):
    """The slowest tasks of one run with ansible.posix.profile_tasks."""
    _, output = run(argv, env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
                               "PROFILE_TASKS_TASK_OUTPUT_LIMIT": str(top)})
    rows = re.findall(r"^(.*?) -+ (\d+\.\d+)s\s*$", output, re.M)
    return [{"task": t.strip(), "s": float(s)} for t, s in rows][-top:]


# actions that run on the controller only (no connection to the host)
CONTROLLER_ACTIONS = {"set_fact", "assert", "debug", "fail", "validate_argument_spec", "meta", "include_tasks",
                      "import_tasks", "include_role", "include_vars", "okd_warn", "add_host", "group_by"}


def count_calls(argv, host):
    """Per-host task count of one run (ansible.posix.json callback): the tasks that ran for `host` (not
    skipped) and how many of them were module calls on the host (not controller-only actions, not
    delegated to the controller). `host` should not be the play's first host: run_once tasks are
    attributed to the first host only."""
    _, output = run(argv, env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    data = json.loads(output[output.index("{"):])
    ran, calls = [], []
    for play in data["plays"]:
        for task in play["tasks"]:
            r = task["hosts"].get(host)
            if r is None or r.get("skipped"):
                continue
            name = task["task"]["name"]
            ran.append(name)
            action = str(r.get("action", "")).rsplit(".", 1)[-1]
            delegated = (r.get("_ansible_delegated_vars") or {}).get("ansible_host") in ("localhost", "127.0.0.1")
            if action not in CONTROLLER_ACTIONS and not delegated:
                calls.append(name)
    return {"host": host, "tasks_ran": len(ran), "module_calls": len(calls), "calls": calls}


def versions():
    def first_line(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0].strip()
        except (OSError, IndexError):
            return "?"
    return {"ansible": first_line([os.path.join(BIN, "ansible"), "--version"]),
            "pyinfra": first_line([os.path.join(BIN, "pyinfra"), "--version"]),
            "skopeo": first_line(["skopeo", "--version"]),
            "openssh": subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip(),
            "python": platform.python_version(), "kernel": platform.release(),
            "cpus": os.cpu_count()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated scenario names (references always run)")
    ap.add_argument("--refs", default="", help="comma-separated references to measure (default: all)")
    ap.add_argument("--warmup", choices=["ansible", "pyinfra"], default="ansible",
                    help="what puts the node files in place first (pyinfra: faster on a big lab)")
    ap.add_argument("--profile", action="store_true", help="also profile the Ansible scenarios")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    status = lab_status()
    hosts = [h["name"] for h in status["hosts"]]
    n = len(hosts)
    inv = status["inventory"]["ansible"]
    pinv = status["inventory"]["pyinfra"]
    playbook = [os.path.join(BIN, "ansible-playbook"), "-i", inv]
    pyinfra = [os.path.join(BIN, "pyinfra"), "-y", pinv, "pyinfra_deploys/registry_credentials.py"]
    # every scenario must have reached all hosts: Ansible's recap names each, pyinfra counts them
    recap = r"%s\s+: ok=" % re.escape(hosts[-1])
    reached = r"Registry credentials %s\s+%d\s" % (re.escape(NODE_FILE), n)  # pyinfra's results table
    images = test_images(status)

    def skopeo_floor():
        cmd = " && ".join("skopeo inspect --authfile %s docker://%s/%s >/dev/null" % (NODE_FILE, h, i)
                          for h, i in images)
        return parallel([fresh_ssh(h, "sh", "-c", "'%s'" % cmd) for h in hosts])

    references = [
        ("ssh-floor", None, lambda: parallel([fresh_ssh(h, "true") for h in hosts])),
        ("ansible-ping-floor", None,
         lambda: run([os.path.join(BIN, "ansible"), "-i", inv, "OSEv3", "-m", "ping"],
                     expect=re.escape(hosts[-1]) + r" \| SUCCESS")[0]),
        ("skopeo-floor", None, skopeo_floor),
        ("installer-apply", lambda: remove_credentials(status),
         lambda: run(playbook + ["bench/installer_baseline.yml"], expect=recap)[0]),
        ("installer-noop", None,
         lambda: run(playbook + ["bench/installer_baseline.yml"], expect=recap)[0]),
    ]
    ansible_scenarios = {
        "creds-apply-ansible": playbook + ["playbooks/registry_credentials.yml"],
        "creds-noop-ansible": playbook + ["playbooks/registry_credentials.yml"],
        "compliance": playbook + ["playbooks/compliance.yml", "-e", REPORT],
        "site-noop": playbook + ["site.yml", "-e", REPORT],
    }
    scenarios = [
        ("creds-apply-ansible", lambda: remove_credentials(status), ansible_scenarios["creds-apply-ansible"], recap),
        ("creds-noop-ansible", None, ansible_scenarios["creds-noop-ansible"], recap),
        ("creds-apply-pyinfra", lambda: remove_credentials(status), pyinfra, reached),
        ("creds-noop-pyinfra", None, pyinfra, reached),
        ("compliance", None, ansible_scenarios["compliance"], recap),
        ("site-noop", None, ansible_scenarios["site-noop"], recap),
    ]
    only = set(filter(None, args.only.split(",")))
    # warm up: the node files in place once (the Ansible one also fills the ssh ControlMaster sockets)
    run(playbook + ["playbooks/registry_credentials.yml"] if args.warmup == "ansible" else pyinfra)
    results = {"hosts": n, "repeat": args.repeat, "versions": versions(),
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "scenarios": {}, "profiles": {}}

    def timed(name, prepare, call):
        times = []
        for _ in range(args.repeat):
            if prepare:
                prepare()
            try:
                times.append(call())
            except BenchFailure as exc:  # reported, and the other scenarios still run
                results["scenarios"][name] = {"failed": str(exc)[-2000:]}
                print("bench: %-20s FAILED\n%s" % (name, str(exc)[-1500:]), file=sys.stderr)
                return
        results["scenarios"][name] = {"median_s": round(statistics.median(times), 2),
                                      "min_s": round(min(times), 2), "max_s": round(max(times), 2)}
        print("bench: %-20s %7.2f s" % (name, statistics.median(times)), file=sys.stderr)

    refs = set(filter(None, args.refs.split(",")))
    for name, prepare, call in references:
        if not refs or name in refs:
            timed(name, prepare, call)
    # the baseline wrote its own bytes: the toolkit's apply scenarios start from removed files anyway,
    # the no-op ones from the toolkit's own files (the apply before them)
    for name, prepare, argv, expect in scenarios:
        if only and name not in only:
            continue
        timed(name, prepare, lambda argv=argv, expect=expect: run(argv, expect=expect)[0])
    if args.profile:
        for name in ("creds-noop-ansible", "site-noop"):
            if (not only or name in only) and "failed" not in results["scenarios"].get(name, {}):
                try:
                    results["profiles"][name] = profile(ansible_scenarios[name])
                except BenchFailure as exc:
                    results["profiles"][name] = [{"task": "FAILED: " + str(exc)[-300:], "s": 0.0}]
        # module calls per host (issue 10: one per host for the credentials role), apply and no-op
        results["calls"] = {}
        for name, prepare in (("creds-apply-ansible", lambda: remove_credentials(status)),
                              ("creds-noop-ansible", None)):
            if (not only or name in only) and "failed" not in results["scenarios"].get(name, {}):
                try:
                    if prepare:
                        prepare()
                    results["calls"][name] = count_calls(ansible_scenarios[name], hosts[-1])
                except (BenchFailure, ValueError) as exc:
                    results["calls"][name] = {"failed": str(exc)[-300:]}
    # leave the lab as the toolkit makes it (the baseline's bytes differ from the toolkit's)
    try:
        if "installer-apply" in results["scenarios"] or "installer-noop" in results["scenarios"]:
            run(playbook + ["playbooks/registry_credentials.yml"])
    except BenchFailure as exc:
        print("bench: could not converge the node files after the runs:\n%s" % str(exc)[-1500:], file=sys.stderr)

    sc = {k: v for k, v in results["scenarios"].items() if "failed" not in v}
    ref = {k: sc[k]["median_s"] for k in ("ssh-floor", "ansible-ping-floor", "skopeo-floor",
                                          "installer-apply", "installer-noop") if k in sc}
    ratios = {  # scenario: (label, the reference its issue-10 target is stated against)
        "creds-apply-pyinfra": ("ssh+skopeo", ("ssh-floor", "skopeo-floor")),
        "creds-noop-pyinfra": ("ssh", ("ssh-floor",)),
        "creds-apply-ansible": ("ping", ("ansible-ping-floor",)),
        "creds-noop-ansible": ("ping", ("ansible-ping-floor",)),
        "compliance": ("ping", ("ansible-ping-floor",)),
        "site-noop": ("ping", ("ansible-ping-floor",)),
        "installer-apply": ("ping", ("ansible-ping-floor",)),
        "installer-noop": ("ping", ("ansible-ping-floor",)),
    }
    installer = {"creds-apply-ansible": "installer-apply", "creds-noop-ansible": "installer-noop",
                 "creds-apply-pyinfra": "installer-apply", "creds-noop-pyinfra": "installer-noop"}
    for name, r in sc.items():
        r["per_host_s"] = round(r["median_s"] / n, 4)
        if "ssh-floor" in ref:
            r["x_ssh_floor"] = round(r["median_s"] / ref["ssh-floor"], 2)
        if name in ratios and all(k in ref for k in ratios[name][1]):
            label, keys = ratios[name]
            r["x_" + label] = round(r["median_s"] / sum(ref[k] for k in keys), 2)
        if installer.get(name) in ref:
            r["installer_over_this"] = round(ref[installer[name]] / r["median_s"], 2)
    out = args.out or os.path.join(REPO, "bench", "results", "bench-%dhosts-%s.json"
                                   % (n, time.strftime("%Y%m%dT%H%M%S")))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    print("| scenario | hosts | median s | per host s | x SSH floor | x target reference | installer's way / this |")
    print("|---|---|---|---|---|---|---|")
    for name, r in sc.items():
        target = ["%s %.2f" % (k[2:], v) for k, v in r.items() if k.startswith("x_") and k != "x_ssh_floor"]
        print("| %s | %d | %.2f | %.3f | %s | %s | %s |" % (
            name, n, r["median_s"], r["per_host_s"], r.get("x_ssh_floor", ""), ", ".join(target) or "",
            "%.2f" % r["installer_over_this"] if "installer_over_this" in r else ""))
    for name, r in results["scenarios"].items():
        if "failed" in r:
            print("| %s | %d | FAILED | | | | |" % (name, n))
    for name, c in results.get("calls", {}).items():
        if "failed" in c:
            print("\nper-host tasks, %s: FAILED %s" % (name, c["failed"]))
        else:
            print("\nper-host tasks, %s (%s): %d ran, %d module calls on the host: %s"
                  % (name, c["host"], c["tasks_ran"], c["module_calls"], "; ".join(c["calls"])))
    for name, rows in results["profiles"].items():
        print("\nslowest tasks, %s:" % name)
        for row in rows:
            print("  %6.2f s  %s" % (row["s"], row["task"]))
    print("\nwritten to " + out)


if __name__ == "__main__":
    main()
