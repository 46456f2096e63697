"""Shared fixtures. Lab tests get the running lab from the session fixture `lab` (docs/lab.md):

- `lab`: runs `python -m lab up` once per session and yields the parsed `status --json` (a dict; the
  contract in docs/lab.md). With OKD_LAB_KEEP=1 an already running lab is reused and left up at the end;
  otherwise the lab is taken down when the session ends - by the last of several concurrent pytest
  sessions (they register in <state dir>/sessions/, so one session never pulls the lab from another).
- `lab_exec(host, cmd_string, check=True)`: run a shell command inside a lab host (`python -m lab exec`);
  returns a CompletedProcess (text stdout/stderr); with check=True a non-zero exit fails the test.
- `ssh(host, cmd_string)`: the same through real ssh with the lab's ssh_config; returns a CompletedProcess.

Tests that use `lab` are marked `lab` automatically (select with `-m lab`, skip with `-m "not lab"`).
Tests marked `lab_scale` (tests/lab/test_zz_scale.py) run after every other test of the session.
"""
import contextlib
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
KEEP = os.environ.get("OKD_LAB_KEEP") == "1"


def lab_cli(*args, check=True, timeout=900):
    """Run `python -m lab ARGS...` from the repository root; CompletedProcess with text output."""
    r = subprocess.run([PY, "-m", "lab"] + [str(a) for a in args], cwd=str(REPO), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("python -m lab %s failed (rc %d)\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(map(str, args)), r.returncode, r.stdout[-4000:], r.stderr[-4000:]))
    return r


def lab_status():
    """Parsed `python -m lab status --json` (None when the lab is down)."""
    r = lab_cli("status", "--json", check=False)
    if r.returncode != 0 or not r.stdout.strip():
        return None
    return json.loads(r.stdout)


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)
    # scale tests take the session lab down and up again: run them last
    items.sort(key=lambda it: 1 if it.get_closest_marker("lab_scale") else 0)


def _state_root():
    from lab.state import LabPaths
    return LabPaths().root


@contextlib.contextmanager
def _sessions_lock():
    """Serialise session start/end between concurrent pytest sessions sharing the lab."""
    d = _state_root() / "sessions"
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(d / ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield d
    finally:
        os.close(fd)


def _live_sessions(d):
    """Pids of pytest sessions registered as lab users that are still running (stale entries removed)."""
    out = []
    for f in d.glob("*.session"):
        try:
            pid = int(f.stem)
            with open("/proc/%d/cmdline" % pid, "rb") as c:
                alive = b"pytest" in c.read()
        except (ValueError, OSError):
            alive = False
        if alive:
            out.append(pid)
        else:
            f.unlink()
    return out


def other_lab_sessions():
    """Other pytest sessions currently using the lab (the scale test must not pull the lab from under them)."""
    with _sessions_lock() as d:
        return [p for p in _live_sessions(d) if p != os.getpid()]


@pytest.fixture(scope="session")
def lab():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces, mounts)")
    with _sessions_lock() as d:
        others = [p for p in _live_sessions(d) if p != os.getpid()]
        status = lab_status() if (KEEP or others) else None
        if status is None:
            lab_cli("up")
            r = lab_cli("status", "--json", check=False)
            assert r.returncode == 0 and r.stdout.strip(), \
                "python -m lab up succeeded but status reports a problem:\n" + r.stderr
            status = json.loads(r.stdout)
        (d / ("%d.session" % os.getpid())).write_text("")
    yield status
    with _sessions_lock() as d:
        try:
            (d / ("%d.session" % os.getpid())).unlink()
        except OSError:
            pass
        # the last session out takes the lab down (unless OKD_LAB_KEEP=1)
        if not KEEP and not _live_sessions(d):
            lab_cli("down", check=False)


def _exec(host, cmd, check=True, timeout=600, input=None):
    r = subprocess.run([PY, "-m", "lab", "exec", host, "--", "sh", "-c", cmd], cwd=str(REPO), input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("on %s: %r exited %d\nstdout:\n%s\nstderr:\n%s"
                             % (host, cmd, r.returncode, r.stdout[-4000:], r.stderr[-4000:]))
    return r


@pytest.fixture(scope="session")
def lab_exec(lab):
    """lab_exec(host, cmd_string, check=True) -> CompletedProcess, run inside the host via nsenter."""
    return _exec


@pytest.fixture(scope="session")
def ssh(lab):
    """ssh(host, cmd_string, timeout=120) -> CompletedProcess, through the lab ssh_config (never raises
    on a non-zero exit; ssh itself exits 255 when it cannot connect)."""
    def run(host, cmd, timeout=120):
        return subprocess.run(["ssh", "-F", lab["ssh_config"], host, cmd], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=timeout)
    return run


@pytest.fixture(scope="session")
def lab_other_sessions():
    """() -> pids of other pytest sessions currently registered as users of the lab."""
    return other_lab_sessions
