#!/usr/bin/env python3
"""Benchmark the toolkit against the running lab and report (never assert) the timings.

    .venv/bin/python scripts/bench.py [--repeat N] [--out bench/results/NAME.json]

Scenarios (each timed over --repeat runs; the median is reported):
  creds-apply-ansible   node credentials on every host from scratch (files removed first)
  creds-noop-ansible    the same again: nothing to change (idempotent run)
  creds-apply-pyinfra   the pyinfra deploy from scratch
  creds-noop-pyinfra    the pyinfra deploy again (no-op)
  compliance            the compliance playbook (per-host checks + access from each host)
  site-noop             the whole site.yml when everything is already in place

Only lab addresses are contacted. Results go to bench/results/ (git-ignored) and to stdout as a table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
BIN = os.path.dirname(PY)


def lab_status():
    out = subprocess.run([PY, "-m", "lab", "status", "--json"], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("bench: the lab is not up (make lab-up): " + out.stderr.strip())
    return json.loads(out.stdout)


def run(argv):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit("bench: %s failed (rc %d):\n%s" % (" ".join(argv[:3]), proc.returncode,
                                                    (proc.stdout + proc.stderr)[-3000:]))
    return elapsed


def remove_credentials(status):
    """Start from nothing: remove the node credentials files on every lab host."""
    for h in status["hosts"]:
        subprocess.run([PY, "-m", "lab", "exec", h["name"], "--", "rm", "-f",
                        "/var/lib/origin/.docker/config.json"], cwd=REPO, check=True, capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    status = lab_status()
    inv = status["inventory"]["ansible"]
    pinv = status["inventory"]["pyinfra"]
    playbook = [os.path.join(BIN, "ansible-playbook"), "-i", inv]
    pyinfra = [os.path.join(BIN, "pyinfra"), "-y", pinv, "pyinfra_deploys/registry_credentials.py"]
    scenarios = [
        ("creds-apply-ansible", lambda: remove_credentials(status),
         playbook + ["playbooks/registry_credentials.yml"]),
        ("creds-noop-ansible", None, playbook + ["playbooks/registry_credentials.yml"]),
        ("creds-apply-pyinfra", lambda: remove_credentials(status), pyinfra),
        ("creds-noop-pyinfra", None, pyinfra),
        ("compliance", None, playbook + ["playbooks/compliance.yml",
                                         "-e", "registry_compliance_report_path=/tmp/okd-bench-report.json"]),
        ("site-noop", None, playbook + ["site.yml",
                                        "-e", "registry_compliance_report_path=/tmp/okd-bench-report.json"]),
    ]
    # warm up: everything in place once (also fills ssh ControlMaster sockets)
    run(playbook + ["site.yml", "-e", "registry_compliance_report_path=/tmp/okd-bench-report.json"])
    results = {"hosts": len(status["hosts"]), "repeat": args.repeat, "cpus": os.cpu_count(),
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "scenarios": {}}
    for name, prepare, argv in scenarios:
        times = []
        for _ in range(args.repeat):
            if prepare:
                prepare()
            times.append(run(argv))
        results["scenarios"][name] = {"median_s": round(statistics.median(times), 2),
                                      "min_s": round(min(times), 2), "max_s": round(max(times), 2)}
    out = args.out or os.path.join(REPO, "bench", "results", "bench-%dhosts-%s.json"
                                   % (results["hosts"], time.strftime("%Y%m%dT%H%M%S")))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    print("| scenario | hosts | median s | min s | max s |")
    print("|---|---|---|---|---|")
    for name, r in results["scenarios"].items():
        print("| %s | %d | %.2f | %.2f | %.2f |" % (name, results["hosts"], r["median_s"], r["min_s"], r["max_s"]))
    print("\nwritten to " + out)


if __name__ == "__main__":
    main()
