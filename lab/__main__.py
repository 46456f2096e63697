"""`.venv/bin/python -m lab up|down|status|exec|account|demo` (see docs/lab.md)."""
import argparse
import contextlib
import fcntl
import importlib
import json
import os
import subprocess
import sys
import time

from lab import hosts, proc, state

DEFAULT_NODES = 3
# exit codes of `status`
ST_UP, ST_DEGRADED, ST_DOWN = 0, 1, 3


def warn(msg):
    sys.stderr.write("lab: %s\n" % msg)


def _component(name):
    """Import lab.<name> lazily; None (with a warning) if it does not exist yet."""
    try:
        mod = importlib.import_module("lab." + name)
    except ModuleNotFoundError as e:
        if e.name in ("lab." + name, "lab"):
            warn("component lab.%s not available yet; skipping it" % name)
            return None
        raise
    if not (callable(getattr(mod, "up", None)) and callable(getattr(mod, "down", None))):
        warn("component lab.%s has no up()/down() yet; skipping it" % name)
        return None
    return mod


def _unwrap(frag, key, marker):
    """Components return their status fragment; accept it wrapped as {key: fragment} too."""
    if isinstance(frag, dict) and set(frag) == {key} and marker not in frag:
        return frag[key]
    return frag


def _nodes_of(status):
    return len([h for h in status.get("hosts") or [] if h.get("name", "").startswith("node")])


def _finish_status(lab, status):
    from lab import inventory
    status["state_dir"] = str(lab.paths.root)
    status["ca_file"] = str(lab.paths.ca_cert)
    if status.get("hosts"):
        status["inventory"] = inventory.write(lab, status)
    lab.save_status(status)
    return status


def cmd_up(args):
    prev = state.Lab().load_status()
    nodes = args.nodes if args.nodes is not None else (_nodes_of(prev) if prev.get("hosts") else DEFAULT_NODES)
    if nodes < 0:
        sys.exit("lab: --nodes must be >= 0")
    lab = state.Lab(nodes=nodes)
    t0 = time.time()
    timings = {}
    lab.paths.mkdirs()
    from lab import pki
    pki.ensure_ca(lab.paths)
    status = dict(prev)
    status.update({"state_dir": str(lab.paths.root), "ca_file": str(lab.paths.ca_cert)})
    t = time.time()
    hosts.network_up(lab)
    timings["network"] = time.time() - t
    lab.save_status(status)
    for name, key, marker in (("api", "api", "url"), ("registries", "registries", "redhat"), ("s3", "s3", "bucket")):
        mod = _component(name)
        if mod is None:
            status.pop(key, None)
            continue
        t = time.time()
        frag = _unwrap(mod.up(lab), key, marker)
        timings[name] = time.time() - t
        if frag is not None:
            status[key] = frag
        lab.save_status(status)      # hosts read the registries fragment (certs.d) from status.json
    # the old registry and the `openshift` image streams of a 3.11 install (lab/openshift_install.py)
    mod = _component("openshift_install")
    if mod is not None and status.get("registries"):
        t = time.time()
        mod.up(lab, status)
        timings["openshift"] = time.time() - t
        lab.save_status(status)
    t = time.time()
    status.update(hosts.up(lab))
    timings["hosts"] = time.time() - t
    # the lab kubelet (lab/kubelet.py) runs the pods the API schedules onto the hosts: after hosts and API
    mod = _component("kubelet") if status.get("api") else None
    if mod is not None:
        mod.up(lab)
    _finish_status(lab, status)
    total = time.time() - t0
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
        return 0
    print("lab is up: %d hosts (master1 + %d nodes) in %.1fs (%s)"
          % (len(status["hosts"]), nodes, total,
             ", ".join("%s %.1fs" % kv for kv in timings.items())))
    print("  ssh:       ssh -F %s master1" % status["ssh_config"])
    print("  exec:      %s -m lab exec node1 -- hostname" % os.path.relpath(sys.executable))
    print("  inventory: %s" % status["inventory"]["ansible"])
    for rname, r in sorted((status.get("registries") or {}).items()):
        if isinstance(r, dict):
            print("  registry:  %-7s %s" % (rname, r.get("url")))
    if status.get("api"):
        print("  api:       %s" % status["api"].get("url"))
    print("  status:    %s -m lab status --json;  down: %s -m lab down"
          % (os.path.relpath(sys.executable), os.path.relpath(sys.executable)))
    return 0


def cmd_down(args):
    lab = state.Lab()
    errors = []
    for name in ("openshift_install", "s3", "registries", "api"):
        mod = _component(name)
        if mod is None:
            continue
        try:
            mod.down(lab)
        except Exception as e:  # keep tearing down the rest
            errors.append("lab.%s.down: %s" % (name, e))
    kubelet = _component("kubelet")
    if kubelet is not None:
        try:
            kubelet.down(lab)
        except Exception as e:
            errors.append("lab.kubelet.down: %s" % e)
    try:
        hosts.down(lab)
    except Exception as e:
        errors.append("hosts.down: %s" % e)
    # anything else recorded by a component that did not clean up after itself
    left = proc.recorded(lab.paths)
    hosts.forget_foreign_pids(lab.paths, set(left), str(lab.paths.root))
    left = proc.recorded(lab.paths)
    if left:
        warn("stopping leftover recorded daemons: %s" % ", ".join(sorted(left)))
        proc.stop_many(lab.paths, list(left))
    hosts.network_down(lab)
    from lab import inventory
    inventory.remove(lab)
    try:
        lab.paths.status.unlink()
    except OSError:
        pass
    for e in errors:
        warn(e)
    if not args.quiet:
        print("lab is down" + (" (with errors, see above)" if errors else ""))
    return 1 if errors else 0


def lab_health(lab, status):
    """(code, problems) for a loaded status."""
    if not status.get("hosts"):
        return ST_DOWN, ["no lab status (run: python -m lab up)"]
    problems = []
    for pname, pid in sorted(proc.recorded(lab.paths).items()):
        if not proc.alive(pid):
            problems.append("daemon %s (pid %d) is not running" % (pname, pid))
    running = set(hosts.running_hosts(lab))
    for h in status["hosts"]:
        if h["name"] not in running:
            problems.append("host %s is not running" % h["name"])
    if problems and not running and not any(proc.alive(p) for p in proc.recorded(lab.paths).values()):
        return ST_DOWN, problems
    return (ST_DEGRADED if problems else ST_UP), problems


def cmd_status(args):
    lab = state.Lab()
    status = lab.load_status()
    code, problems = lab_health(lab, status)
    if args.json:
        if status and code != ST_DOWN:
            print(json.dumps(status, indent=2, sort_keys=True))
    else:
        if code == ST_DOWN and not status.get("hosts"):
            print("lab is down")
        else:
            print("lab is %s: %d hosts, state dir %s"
                  % ({ST_UP: "up", ST_DEGRADED: "DEGRADED", ST_DOWN: "down"}[code],
                     len(status["hosts"]), status["state_dir"]))
            for h in status["hosts"]:
                print("  %-10s %-14s %s" % (h["name"], h["address"], ",".join(h["groups"])))
            for rname, r in sorted((status.get("registries") or {}).items()):
                if isinstance(r, dict):
                    print("  registry %-7s %s (%d accounts, %d images)"
                          % (rname, r.get("url"), len(r.get("accounts") or []), len(r.get("images") or [])))
            if status.get("api"):
                print("  api      %s" % status["api"].get("url"))
            print("  ssh_config %s" % status.get("ssh_config"))
    for p in problems if code != ST_DOWN or status.get("hosts") else []:
        warn(p)
    return code


def cmd_exec(args):
    argv = list(args.cmd)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        sys.exit("lab: exec needs a command: python -m lab exec HOST -- CMD ...")
    lab = state.Lab()
    try:
        full = hosts.exec_argv(lab, args.host, argv)
    except RuntimeError as e:
        warn(str(e))
        return 125
    env = dict(os.environ)
    env["HOME"] = "/root"
    sys.stdout.flush()
    return subprocess.call(full, env=env)


def cmd_account(args):
    lab = state.Lab()
    status = lab.load_status()
    if not status.get("hosts"):
        sys.exit("lab: the lab is not up")
    mod = _component("registries")
    if mod is None or not hasattr(mod, "set_revoked"):
        sys.exit("lab: lab.registries.set_revoked is not available")
    revoked = args.action == "revoke"
    regs = (status.get("registries") or {})
    if args.registry not in regs:
        sys.exit("lab: unknown registry %r (have: %s)" % (args.registry, ", ".join(sorted(regs)) or "none"))
    if not any(a.get("username") == args.username for a in regs[args.registry].get("accounts") or []):
        sys.exit("lab: registry %s has no account %r" % (args.registry, args.username))
    result = mod.set_revoked(lab, args.registry, args.username, revoked)
    result = _unwrap(result, "registries", "redhat")
    if isinstance(result, dict) and ("redhat" in result or "quay" in result):
        status["registries"] = result
    elif isinstance(result, dict) and "accounts" in result:
        status["registries"][args.registry] = result
    else:
        for a in status["registries"][args.registry].get("accounts") or []:
            if a.get("username") == args.username:
                a["revoked"] = revoked
    _finish_status(lab, status)
    print("%s %s account %s; status and inventories refreshed"
          % ("revoked" if revoked else "restored", args.registry, args.username))
    return 0


def cmd_demo(args):
    lab = state.Lab()
    status = lab.load_status()
    if not status.get("hosts"):
        sys.exit("lab: the lab is not up (run: make lab-up, or python -m lab up)")
    site = state.REPO / "site.yml"
    if not site.exists():
        warn("site.yml does not exist yet in %s; nothing to demonstrate" % state.REPO)
        return 1
    pb = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.path.exists(pb):
        pb = "ansible-playbook"
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(state.REPO / "ansible.cfg"))
    report = str(lab.paths.root / "compliance-report.json")
    argv = [pb, "-i", status["inventory"]["ansible"], str(site),
            "-e", "registry_compliance_report_path=" + report] + list(args.extra)
    print("+ " + " ".join(argv), flush=True)
    if os.path.exists(report):
        os.unlink(report)
    rc = subprocess.call(argv, cwd=str(state.REPO), env=env)
    from lab import summary
    summary.print_summary(lab.load_status(), report)
    py = os.path.relpath(sys.executable)
    print()
    print("site.yml %s (exit code %d)." % ("succeeded" if rc == 0 else "FAILED", rc))
    print("Look at:")
    print("  node credentials:  %s -m lab exec node1 -- stat -c '%%a %%U %%n' /var/lib/origin/.docker/config.json"
          % py)
    print("  an independent client pulling with them:")
    print("                     %s -m lab exec node1 -- skopeo inspect --authfile "
          "/var/lib/origin/.docker/config.json docker://%s/openshift3/ose-pod:v3.11"
          % (py, status.get("registries", {}).get("redhat", {}).get("host", "REGISTRY")))
    print("  compliance report: %s" % report)
    print("  on a host by ssh:  ssh -F %s node1" % status["ssh_config"])
    if status.get("api"):
        print("  the API:           kubeconfig %s (%s)" % (status["api"].get("kubeconfig"),
                                                          status["api"].get("url")))
    print("  everything else:   %s -m lab status" % py)
    print("Take the lab down:   make lab-down  (or %s -m lab down)" % py)
    return rc


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lab", description="The okd-registry-toolkit lab (docs/lab.md).")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="start (or resize) the lab; idempotent")
    p.add_argument("--nodes", type=int, default=None,
                   help="number of nodes besides master1 (default: as running, else %d)" % DEFAULT_NODES)
    p.add_argument("--json", action="store_true", help="print the status JSON instead of a summary")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop everything and remove the lab's network/mounts; idempotent")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", help="show the lab; exit 0 up, 1 degraded, 3 down")
    p.add_argument("--json", action="store_true", help="the status contract (docs/lab.md)")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("exec", help="run a command inside a lab host: exec HOST -- CMD ...")
    p.add_argument("host")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_exec)
    p = sub.add_parser("account", help="revoke or restore a lab registry account")
    p.add_argument("action", choices=["revoke", "restore"])
    p.add_argument("registry")
    p.add_argument("username")
    p.set_defaults(func=cmd_account)
    p = sub.add_parser("demo", help="run site.yml against the lab and show what to look at")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="extra ansible-playbook arguments")
    p.set_defaults(func=cmd_demo)
    args = ap.parse_args(argv)
    if os.geteuid() != 0 and args.command in ("up", "down", "exec", "account"):
        sys.exit("lab: %s needs root (network namespaces, mounts)" % args.command)
    if args.command in ("up", "down", "account"):
        with _exclusive(state.LabPaths()):
            return args.func(args)
    return args.func(args)


@contextlib.contextmanager
def _exclusive(paths):
    """One lab-changing command at a time (e.g. two test sessions starting together)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(paths.root / ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            warn("waiting for another `python -m lab` command to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:          # e.g. `status --json | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
