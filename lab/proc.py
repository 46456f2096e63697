"""Start lab daemons, record their PIDs, and stop them by recorded PID only."""
import os
import signal
import socket
import subprocess
import time


def spawn(paths, name, argv, env=None, cwd=None):
    """Start argv detached (own session/process group), log to logs/<name>.log, record pid."""
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.pids.mkdir(parents=True, exist_ok=True)
    log = open(str(paths.logs / (name + ".log")), "ab")
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             env=env, cwd=cwd, start_new_session=True, close_fds=True)
    finally:
        log.close()
    (paths.pids / (name + ".pid")).write_text(str(p.pid))
    return p.pid


def recorded(paths, prefix=""):
    """{name: pid} of recorded daemons whose name starts with prefix."""
    out = {}
    if not paths.pids.is_dir():
        return out
    for f in paths.pids.glob(prefix + "*.pid"):
        try:
            out[f.name[:-4]] = int(f.read_text().strip())
        except ValueError:
            pass
    return out


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as dead
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop(paths, name, timeout=5.0):
    """Stop one recorded daemon (its whole process group) and forget it. Idempotent."""
    pidfile = paths.pids / (name + ".pid")
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for target in (lambda s: os.killpg(pid, s), lambda s: os.kill(pid, s)):
            try:
                target(sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.time() + timeout
        while time.time() < deadline and alive(pid):
            time.sleep(0.05)
        if not alive(pid):
            break
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    pidfile.unlink()


def stop_all(paths, prefix=""):
    for name in recorded(paths, prefix):
        stop(paths, name)


def wait_port(host, port, timeout=30.0, pid=None, what=None):
    """Wait until host:port accepts TCP connections; fail clearly if the process died."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            if pid is not None and not alive(pid):
                raise RuntimeError("%s (pid %d) exited before listening on %s:%d"
                                   % (what or "daemon", pid, host, port))
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on %s:%d within %.0fs" % (what or "daemon", host, port, timeout))


def stop_many(paths, names, timeout=5.0):
    """Stop several recorded daemons at once (TERM all, wait, KILL survivors). Idempotent."""
    pids = {}
    for name in names:
        try:
            pids[name] = int((paths.pids / (name + ".pid")).read_text().strip())
        except (OSError, ValueError):
            continue
    kill_pids(pids.values(), timeout=timeout, group=True)
    for name, pid in pids.items():
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        try:
            (paths.pids / (name + ".pid")).unlink()
        except OSError:
            pass


def kill_pids(pids, timeout=5.0, group=False):
    """TERM the given pids (and their process groups if group), wait up to timeout, then KILL."""
    pids = [p for p in set(pids) if p and p > 1]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            targets = [os.kill]
            if group:
                targets.insert(0, os.killpg)
            for target in targets:
                try:
                    target(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.time() + timeout
        while time.time() < deadline and any(alive(p) for p in pids):
            time.sleep(0.05)
        pids = [p for p in pids if alive(p)]
        if not pids:
            break
    return not pids
