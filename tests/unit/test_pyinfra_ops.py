"""pyinfra operations of pyinfra_deploys/okd_registry: facts -> commands, from JSON fixtures.

Each fixture in tests/unit/fixtures/pyinfra/ gives the operation's arguments, the facts the host
reports, the files the operation reads (``cat``), and the commands it must yield (or the error it must
raise). Every fixture also proves that no secret appears in a command line or in the operation's
printed arguments; the file content may only travel on the write command's stdin.
"""
import glob
import json
import os
import sys
from types import SimpleNamespace

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from pyinfra.api import OperationError, StringCommand  # noqa: E402
from pyinfra.connectors.util import CommandOutput, OutputLine  # noqa: E402
from pyinfra.context import ctx_host, ctx_state  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pyinfra_fake import INVENTORY_PRELUDE, RecordingShell  # noqa: E402
from pyinfra_deploys.okd_registry import facts as okd_facts  # noqa: E402
from pyinfra_deploys.okd_registry import operations  # noqa: E402
from pyinfra_deploys.okd_registry import remote_read  # noqa: E402

FIXTURES = sorted(glob.glob(os.path.join(ROOT, "tests", "unit", "fixtures", "pyinfra", "*.json")))


def _is_stat_read(raw):
    return "okd-registry-stat-read" in raw


def _is_read(raw):
    """The credentials operation's stat+read or the plain one reader (sources, compliance)."""
    return "okd-registry-read" in raw or _is_stat_read(raw)


def _meta_lines(info):
    """What the metadata part of remote_read.STAT_READ_SCRIPT prints for a fixture's RegistryAuthFile."""
    import stat
    lines = []
    if info.get("dir_type") == "link":
        lines.append("dirlink")
    elif info.get("dir_type") == "other":
        lines.append("dirother")
    elif info.get("dir_exists"):
        lines.append("dir %s %s %s" % (stat.filemode(stat.S_IFDIR | info["dir_mode"]), info["dir_user"],
                                       info["dir_group"]))
    if info.get("type") in ("link", "other"):
        lines.append(info["type"])
    elif info.get("type") == "file":
        lines.append("file %s %s %s" % (stat.filemode(stat.S_IFREG | info["mode"]), info["user"], info["group"]))
    return lines


def _b64_lines(data):
    """What `base64` prints for data (76 columns)."""
    import base64
    text = base64.b64encode(data).decode("ascii")
    return [text[i:i + 76] for i in range(0, len(text), 76)] or [""]


def _output(stdout=(), stderr=()):
    return CommandOutput([OutputLine("stdout", line) for line in stdout]
                         + [OutputLine("stderr", line) for line in stderr])


class FakeHost(RecordingShell):
    """Just what the operations use: name, facts, a shell and the log helpers."""

    def __init__(self, facts, files, shell):
        self.name = "testhost"
        self.print_prefix = "[testhost] "
        self.current_op_global_arguments = {}
        self._facts = facts
        self._files = files
        self._shell = shell or {"status": True, "stdout": [], "stderr": []}
        self.shell_commands = []
        self.shell_kwargs = []
        self.noops = []
        self.logs = []

    def get_fact(self, cls, *args, **kwargs):
        return self._facts[cls.__name__]

    def run_shell_command(self, command, print_output=False, print_input=False, **kwargs):
        raw = self.record(command, print_output, kwargs)
        if self._shell.get("raise") == "timeout" and not _is_read(raw):
            raise TimeoutError()  # what pyinfra's connectors raise when _timeout runs out
        if _is_stat_read(raw):
            # the operation's one round trip: exactly stat_read_command(path), answered like the host
            # would from the fixture's RegistryAuthFile facts and files
            path = command.bits[-2].obj
            assert raw == operations.stat_read_command(path).get_raw_value()
            info = self._facts["RegistryAuthFile"]
            lines = _meta_lines(info)
            if info.get("type") == "file" and info.get("dir_type") != "link":
                lines += [remote_read.CONTENT_MARKER] + _b64_lines(self._files[path].encode("utf-8"))
            return True, _output(stdout=lines)
        if _is_read(raw):
            # the one reader: exactly operations.read_command(path), answered like the host would
            path = command.bits[-1].obj
            assert raw == operations.read_command(path).get_raw_value()
            if path not in self._files:
                return False, _output(stderr=[operations.READ_NO_FILE])
            return True, _output(stdout=_b64_lines(self._files[path].encode("utf-8")))
        return self._shell["status"], _output(self._shell["stdout"], self._shell["stderr"])

    def noop(self, description):
        self.noops.append(description)

    def log(self, message, log_func=None):
        self.logs.append(message)


class FakeMeta(object):
    """What restart_service reads of an earlier operation's pyinfra OperationMeta."""

    def __init__(self, will_change=None, complete=False, changed=False):
        self.will_change = will_change
        self._complete = complete
        self._changed = changed

    def is_complete(self):
        return self._complete

    def did_change(self):
        if not self._complete:
            raise RuntimeError("Cannot evaluate operation result before execution")
        return self._changed


def _state(executing):
    return SimpleNamespace(is_executing=executing, print_input=False, print_output=True,
                           config=SimpleNamespace(DIFF=True))


def _run(fixture):
    host = FakeHost(fixture.get("facts", {}), fixture.get("files", {}), fixture.get("shell"))
    op = getattr(operations, fixture["operation"])
    kwargs = dict(fixture["kwargs"])
    if fixture["operation"] == "registry_credentials":
        if kwargs.get("state", "present") == "present":
            kwargs["registries"] = operations.normalize_entries(kwargs["registries"])
    if "after" in kwargs:  # the OperationMetas of earlier operations on this host
        kwargs["after"] = [FakeMeta(**m) for m in kwargs["after"]]
    with ctx_state.use(_state(fixture.get("executing", True))), ctx_host.use(host):
        commands = list(op._inner(**kwargs))
    return host, commands


@pytest.mark.parametrize("path", FIXTURES, ids=[os.path.basename(p)[:-5] for p in FIXTURES])
def test_fixture(path):
    with open(path) as f:
        fixture = json.load(f)
    assert FIXTURES, "no fixtures found"

    if "error" in fixture:
        with pytest.raises(OperationError) as info:
            _run(fixture)
        for fragment in fixture["error"]:
            assert fragment in str(info.value)
        for secret in fixture.get("secrets", []):
            assert secret not in str(info.value)
        return

    host, commands = _run(fixture)
    expected = fixture["commands"]
    assert len(commands) == len(expected), [str(c) for c in commands]
    for command, want in zip(commands, expected):
        assert isinstance(command, StringCommand)
        raw = command.get_raw_value()
        if "raw" in want:
            assert raw == want["raw"]
        for fragment in want.get("raw_contains", []):
            assert fragment in raw
        for fragment in want.get("raw_not_contains", []):
            assert fragment not in raw
        if "write" in want:
            content = want["stdin"]
            args = command.bits[-5:]
            assert [getattr(a, "obj", a) for a in args] == [
                want["write"], os.path.dirname(want["write"]), want.get("owner", "root:root"),
                str(len(content.encode("utf-8"))), "1" if want.get("backup") else "0"]
            # the content travels on stdin only, never in a PTY (which would echo it)
            assert command.connector_arguments["_stdin"] == content
            assert command.connector_arguments["_get_pty"] is False
            # and is byte for byte what the core renders (the Ansible module writes the same)
            json.loads(content)
        for secret in fixture.get("secrets", []):
            assert secret not in raw and secret not in str(command) and secret not in repr(command)
    if "noop" in fixture:
        assert any(fixture["noop"] in n for n in host.noops), host.noops
    if "expect_shell" in fixture:
        assert fixture["expect_shell"] in host.shell_commands, host.shell_commands
    for fragment in fixture.get("expect_shell_contains", []):
        assert any(fragment in raw for raw in host.shell_commands), host.shell_commands
    if fixture.get("expect_no_shell"):
        assert host.shell_commands == [], host.shell_commands
    if "expect_timeout" in fixture:
        timeouts = [kw.get("_timeout") for raw, kw in zip(host.shell_commands, host.shell_kwargs)
                    if not _is_read(raw)]
        assert timeouts == [fixture["expect_timeout"]], timeouts
    if "logs_contain" in fixture:
        assert any(fixture["logs_contain"] in line for line in host.logs), host.logs
    # nothing printed by the operation (log lines, noops) carries a secret
    for secret in fixture.get("secrets", []):
        for line in host.logs + host.noops + host.shell_commands:
            assert secret not in line


def test_write_command_runs_in_a_posix_shell(tmp_path):
    """The write script really creates the file 0600 in a 0700 dir, atomically, with exact bytes."""
    import subprocess

    target = tmp_path / "sub" / ".docker" / "config.json"
    content = '{\n    "auths": {}\n}'  # no trailing newline: dd must not take pyinfra's extra one
    command = operations.write_file_command(str(target), content, None, None)
    data = command.connector_arguments["_stdin"] + "\n"  # what pyinfra's write_stdin sends
    proc = subprocess.run(["sh", "-c", command.get_raw_value()], input=data.encode(),
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == content.encode()
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert oct(target.parent.stat().st_mode & 0o777) == "0o700"
    assert oct(target.parent.parent.stat().st_mode & 0o777) == "0o700"  # created parents too, as the module
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]  # no temp file left
    # a short stdin (connection lost) leaves the old file alone and no temp file
    proc = subprocess.run(["sh", "-c", operations.write_file_command(
        str(target), content + "XX", None, None).get_raw_value()], input=b"{", capture_output=True)
    assert proc.returncode != 0
    assert target.read_bytes() == content.encode()
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]


def test_fact_never_reads_content_and_parses_ls():
    fact = okd_facts.RegistryAuthFile()
    command = fact.command("/var/lib/origin/.docker/config.json").get_raw_value()
    assert "cat " not in command
    info = fact.process([
        "dir drwx------ root root",
        "file -rw-------. root wheel",
    ])
    assert info["exists"] and info["type"] == "file"
    assert info["mode"] == 0o600 and info["dir_mode"] == 0o700
    assert info["user"] == "root" and info["group"] == "wheel"
    assert "sha256" not in info  # no hash of the file: -vvv prints facts
    assert fact.process(["dirlink", "link"])["type"] == "link"
    assert fact.process(["dirlink"])["dir_type"] == "link"
    assert fact.process(["dir drwx------ root root", "other"])["type"] == "other"
    assert fact.process([]) == fact.default()
    assert fact.process(["dir drwxr-xr-x root root"])["dir_mode"] == 0o755


def test_fact_command_in_a_posix_shell(tmp_path):
    import subprocess

    f = tmp_path / "d" / "config.json"
    f.parent.mkdir(mode=0o700)
    f.write_text("{}\n")
    f.chmod(0o640)
    fact = okd_facts.RegistryAuthFile()
    out = subprocess.run(["sh", "-c", fact.command(str(f)).get_raw_value()],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    info = fact.process(out)
    assert info["exists"] and info["mode"] == 0o640 and info["dir_mode"] == 0o700
    assert "sha256" not in info and info["type"] == "file" and info["dir_type"] == "dir"
    missing = fact.process(subprocess.run(["sh", "-c", fact.command(str(tmp_path / "x/y")).get_raw_value()],
                                          capture_output=True, text=True).stdout.splitlines())
    assert missing == fact.default()


def _stat_read(path):
    """stat_read_command(path) run for real in a POSIX shell, decoded as the operation decodes it."""
    import subprocess
    from pyinfra.connectors.util import CommandOutput, OutputLine

    # the timeout guards against a hang (a FIFO opened for reading); it is not a timing assertion
    p = subprocess.run(["sh", "-c", operations.stat_read_command(str(path)).get_raw_value()],
                       capture_output=True, timeout=60)
    lines = [OutputLine("stdout", x) for x in p.stdout.decode().splitlines()]
    lines += [OutputLine("stderr", x) for x in p.stderr.decode().splitlines()]
    return remote_read.decode_stat_read("node1", str(path), p.returncode == 0, CommandOutput(lines))


def test_stat_read_is_the_fact_and_the_one_reader_in_one_round_trip(tmp_path):
    """The operation's one command per file: the RegistryAuthFile fact's metadata (same lines, same
    parser) and the exact bytes of a regular file; a link (file or directory), a FIFO or a directory
    at the path is reported and never opened or followed; a missing file or directory is no content."""
    fact = okd_facts.RegistryAuthFile()
    d = tmp_path / ".docker"
    d.mkdir(mode=0o700)
    f = d / "config.json"
    data = b"\xef\xbb\xbf{\"auths\": {}}\r\n\xff\xfe tail" * 2000  # several base64 lines, not UTF-8
    f.write_bytes(data)
    f.chmod(0o640)
    info, content = _stat_read(f)
    assert content == data
    fact_lines = subprocess_lines(fact.command(str(f)).get_raw_value())
    assert info == fact.process(fact_lines)  # what the fact would have reported, and nothing less
    assert info["type"] == "file" and info["mode"] == 0o640 and info["dir_mode"] == 0o700
    missing = _stat_read(d / "missing.json")
    assert missing == (fact.process(subprocess_lines(fact.command(str(d / "missing.json")).get_raw_value())), None)
    assert not missing[0]["exists"] and missing[0]["dir_mode"] == 0o700
    assert _stat_read(tmp_path / "no" / "config.json") == (fact.default(), None)
    os.mkfifo(str(d / "fifo"))
    assert _stat_read(d / "fifo")[0]["type"] == "other" and _stat_read(d / "fifo")[1] is None
    (d / "sub").mkdir()
    assert _stat_read(d / "sub") == (dict(_stat_read(d / "sub")[0], type="other"), None)
    victim = tmp_path / "victim.json"
    victim.write_bytes(b'{"auths": {"victim": {}}}')
    os.symlink(str(victim), str(d / "link.json"))
    assert _stat_read(d / "link.json") == (dict(_stat_read(d / "link.json")[0], type="link"), None)
    os.symlink(str(d), str(tmp_path / "linked"))
    info, content = _stat_read(tmp_path / "linked" / "config.json")  # a real file behind a linked dir
    assert info["dir_type"] == "link" and content is None              # never read through the link


def subprocess_lines(raw):
    import subprocess
    return subprocess.run(["sh", "-c", raw], capture_output=True, text=True, check=True).stdout.splitlines()


def test_operation_names_and_arguments_never_print_secrets():
    entries = operations.normalize_entries(
        [{"host": "r.example", "username": "u", "password": "TOPSECRET"}])
    assert "TOPSECRET" not in str(entries) and "TOPSECRET" not in repr(entries)
    assert "TOPSECRET" not in "%s" % ([entries],)


def test_normalize_entries_reports_names_not_secrets():
    with pytest.raises(OperationError) as info:
        operations.normalize_entries([{"name": "redhat", "host": "r.example", "username": "u"}])
    assert "redhat has no password" in str(info.value)


def test_normalize_entries_and_registry_names_use_the_cores_registry_entry():
    """The registry key is registry_entry()'s (as the modules have it), and its errors name the entry."""
    entries = operations.normalize_entries([{"name": "hub", "host": "docker.io", "username": "u", "password": "p"}])
    assert entries[0]["registry"] == "https://index.docker.io/v1/"
    with pytest.raises(OperationError) as info:
        operations.normalize_entries([{"name": "redhat", "registry": "a.example", "host": "b.example",
                                       "username": "u", "password": "TOPSECRET"}])
    assert "registry redhat gives registry a.example and host b.example" in str(info.value)
    assert "TOPSECRET" not in str(info.value)
    with pytest.raises(OperationError) as info:
        operations.normalize_entries([{"name": "redhat", "username": "u", "password": "p"}])
    assert "registry redhat has no registry (or host)" in str(info.value)
    assert operations.registry_names([{"host": "https://r.example/"}, "s.example"]) == ["r.example", "s.example"]
    with pytest.raises(OperationError) as info:
        operations.registry_names([{"name": "old", "registry": "a.example", "host": "b.example"}])
    assert "registry to remove old gives registry a.example and host b.example" in str(info.value)


# ------------------------------------------------------------------------------------ backup=True

def _run_write(command, cwd=None):
    import subprocess

    data = command.connector_arguments["_stdin"] + "\n"  # what pyinfra's write_stdin sends
    return subprocess.run(["sh", "-c", command.get_raw_value()], input=data.encode(),
                          capture_output=True, cwd=cwd)


def test_backup_in_a_posix_shell(tmp_path):
    """backup=True: the previous file is copied next to it (named like the Ansible module's backups,
    mode 0600 whatever the old mode, exact old bytes) in the same command, then replaced."""
    import re
    import stat

    target = tmp_path / ".docker" / "config.json"
    target.parent.mkdir(mode=0o700)
    old = b'{"auths": {"old.example": {"auth": "b2xkOm9sZA=="}}}'  # formatting of someone else
    target.write_bytes(old)
    target.chmod(0o644)
    new = '{\n    "auths": {}\n}\n'
    proc = _run_write(operations.write_file_command(str(target), new, None, None, backup=True))
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == new.encode()
    backups = [p for p in target.parent.iterdir() if p.name != "config.json"]
    assert len(backups) == 1, backups
    backup = backups[0]
    # <path>.<pid>.<YYYY-MM-DD@HH:MM:SS>~ as plugins/modules/registry_credentials.py names it
    assert re.match(r"^config\.json\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$", backup.name), backup.name
    assert backup.read_bytes() == old
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert ("backup: %s" % backup).encode() in proc.stdout

    # no previous file: nothing to back up, no stray file
    other = tmp_path / "fresh" / ".docker" / "config.json"
    proc = _run_write(operations.write_file_command(str(other), new, None, None, backup=True))
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in other.parent.iterdir()] == ["config.json"]

    # backup=False (the default) leaves no copy
    proc = _run_write(operations.write_file_command(str(target), new + " ", None, None))
    assert proc.returncode == 0, proc.stderr
    assert len([p for p in target.parent.iterdir() if p.name != "config.json"]) == 1


def _fake_date(tmp_path, script):
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    fake = d / "date"
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(0o755)
    return {"PATH": "%s:%s" % (d, os.environ.get("PATH", "/usr/bin:/bin"))}


def test_backup_never_overwrites_and_a_failed_backup_keeps_the_file(tmp_path):
    """The backup is created with noclobber: a file already holding its name (another run, another
    tool) is neither overwritten nor is the credentials file replaced without its backup. A backup
    that cannot be written fails the whole write, the previous file staying as it was."""
    import subprocess

    target = tmp_path / ".docker" / "config.json"
    target.parent.mkdir(mode=0o700)
    target.write_bytes(b"{}\n")
    command = operations.write_file_command(str(target), '{"auths": {}}\n', None, None, backup=True)
    stdin = (command.connector_arguments["_stdin"] + "\n").encode()

    # 1. the name is taken: `date` (faked) creates <path>.<shell pid>.FIXED~ first, as a concurrent
    # writer would (the shell running the script is date's parent, or its grandparent)
    env = _fake_date(tmp_path, (
        'for p in $PPID $(cut -d" " -f4 /proc/$PPID/stat); do echo someone-else > "%s.$p.FIXED~"; done\n'
        'echo FIXED\n') % target)
    proc = subprocess.run(["sh", "-c", command.get_raw_value()], input=stdin, capture_output=True,
                          env=env)
    assert proc.returncode != 0, proc.stdout
    assert target.read_bytes() == b"{}\n"
    taken = [p for p in target.parent.iterdir() if p.name.endswith(".FIXED~")]
    assert taken and all(p.read_bytes() == b"someone-else\n" for p in taken)
    for p in taken:
        p.unlink()
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]  # no temp file left

    # 2. the backup cannot be written (its directory does not exist): no change either
    env = _fake_date(tmp_path, "echo no-such-dir/FIXED\n")
    proc = subprocess.run(["sh", "-c", command.get_raw_value()], input=stdin, capture_output=True,
                          env=env)
    assert proc.returncode != 0, proc.stdout
    assert target.read_bytes() == b"{}\n"
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]

    # 3. control: with the real date the same command works (so the failures above are the backup's)
    proc = subprocess.run(["sh", "-c", command.get_raw_value()], input=stdin, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == b'{"auths": {}}\n'


# ------------------------------------------------------------- credentials source (inventory / master)

from pyinfra.api import Config  # noqa: E402
from pyinfra.api.exceptions import ConnectError  # noqa: E402

from pyinfra_deploys.okd_registry import remote_read, sources  # noqa: E402

SOURCE_FIXTURES = sorted(glob.glob(os.path.join(ROOT, "tests", "unit", "fixtures", "pyinfra_sources",
                                                "*.json")))


class FakeRemote(object):
    """An inventory host whose files live under a local directory; the read command the deploy sends
    is checked to be exactly sources.read_command(path), then really run by sh against that directory."""

    def __init__(self, name, root, files, data, connected=True, connect_error=None):
        self.name = name
        self.data = SimpleNamespace(**(data or {}))
        self.current_deploy_kwargs = None
        self.connected = connected
        self._connect_error = connect_error
        self._root = root
        self.reads = []
        self.connects = 0
        self.disconnects = 0
        for path, content in (files or {}).items():
            local = root / path.lstrip("/")
            if isinstance(content, dict):
                local.mkdir(parents=True)  # not a regular file
                continue
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(content)

    def connect(self, reason=None, show_errors=True, raise_exceptions=False):
        self.connects += 1
        if self._connect_error:
            raise ConnectError(self._connect_error)
        self.connected = True

    def disconnect(self):
        self.disconnects += 1
        self.connected = False

    def run_shell_command(self, command, print_output=False, print_input=False, **kwargs):
        import subprocess

        # the file's content is never printed, even with -vvv, and no PTY mixes stderr in
        assert print_output is False
        assert kwargs.get("_get_pty") is False
        assert "_stdin" not in kwargs
        assert self.connected, "read from a host that is not connected"
        path = command.bits[-1].obj
        assert command.get_raw_value() == sources.read_command(path).get_raw_value()
        self.reads.append((path, kwargs))
        local = sources.read_command(str(self._root) + path)
        proc = subprocess.run(["sh", "-c", local.get_raw_value()], capture_output=True, text=True)
        return proc.returncode == 0, _output(proc.stdout.splitlines(), proc.stderr.splitlines())


class FakeInventory(object):
    def __init__(self, fixture, tmp_path):
        spec = fixture["inventory"]
        files = fixture.get("master_files", {})
        self.hosts = {}
        for name in spec["hosts"]:
            self.hosts[name] = FakeRemote(
                name, tmp_path / name, files.get(name), fixture.get("host_data", {}).get(name),
                connected=name not in fixture.get("not_connected", []),
                connect_error=fixture.get("connect_error", {}).get(name))
        self.groups = {g: [self.hosts[n] for n in names] for g, names in spec["groups"].items()}

    def get_host(self, name, default=None):
        return self.hosts.get(name, default)

    def get_group(self, name, default=None):
        return self.groups.get(name, default)

    @property
    def reads(self):
        return sum(len(h.reads) for h in self.hosts.values())


@pytest.mark.parametrize("path", SOURCE_FIXTURES, ids=[os.path.basename(p)[:-5] for p in SOURCE_FIXTURES])
def test_source_fixture(path, tmp_path):
    with open(path) as f:
        fixture = json.load(f)
    inventory = FakeInventory(fixture, tmp_path)
    state = SimpleNamespace(config=Config(), print_input=False)  # one pyinfra run
    data = fixture["data"]
    secrets = fixture.get("secrets", [])

    if "error" in fixture:
        with pytest.raises(sources.CredentialsSourceError) as info:
            sources.collect(data, state=state, inventory=inventory)
        message = str(info.value)
        for fragment in fixture["error"]:
            assert fragment in message
        for secret in secrets:
            assert secret not in message
        # every other host of the run gets the same error without another read
        reads = inventory.reads
        assert reads <= 1
        with pytest.raises(sources.CredentialsSourceError) as again:
            sources.collect(data, state=state, inventory=inventory)
        assert str(again.value) == message and inventory.reads == reads
        return

    got = sources.collect(data, state=state, inventory=inventory)
    want = fixture["expect"]
    assert got["source"] == want["source"]
    assert got["master"] == want["master"]
    assert got["remove"] == want["remove"]
    assert [dict(e) for e in got["present"]] == want["present"]
    # the entries are a RedactedList: pyinfra may print them (operation arguments), never the secrets
    for secret in secrets:
        assert secret not in str(got) and secret not in repr(got["present"])
    # the second host of the same run: the master's file is not read again
    again = sources.collect(data, state=state, inventory=inventory)
    assert [dict(e) for e in again["present"]] == want["present"]
    assert inventory.reads == fixture.get("reads", 0)
    for name, count in fixture.get("expect_connects", {}).items():
        assert inventory.hosts[name].connects == count
    for name, count in fixture.get("expect_disconnects", {}).items():
        # connected only for the read: left as found
        assert inventory.hosts[name].disconnects == count and not inventory.hosts[name].connected
    for name in fixture["inventory"]["hosts"]:
        if name not in fixture.get("expect_connects", {}):
            assert inventory.hosts[name].connects == 0
    for key, value in fixture.get("expect_connector_args", {}).items():
        assert all(kwargs.get(key) == value for h in inventory.hosts.values() for _, kwargs in h.reads)
    # a new run reads again
    if fixture.get("reads"):
        sources.collect(data, state=SimpleNamespace(config=Config(), print_input=False),
                        inventory=inventory)
        assert inventory.reads == fixture["reads"] + 1


def test_read_command_in_a_posix_shell(tmp_path):
    """The read reports a missing file and a non-file by markers on stderr, never content there."""
    import base64
    import subprocess

    def run(path):
        return subprocess.run(["sh", "-c", sources.read_command(str(path)).get_raw_value()],
                              capture_output=True, text=True)

    f = tmp_path / "config.json"
    f.write_text('{"auths": {}}\n')
    r = run(f)
    # the one reader: base64 of the exact bytes (pyinfra decodes output as UTF-8, the core decides)
    assert r.returncode == 0 and base64.b64decode(r.stdout) == b'{"auths": {}}\n' and r.stderr == ""
    r = run(tmp_path / "missing.json")
    assert r.returncode != 0 and r.stdout == "" and remote_read.READ_NO_FILE in r.stderr
    r = run(tmp_path)
    assert r.returncode != 0 and r.stdout == "" and remote_read.READ_NOT_REGULAR in r.stderr


def test_one_reader_for_operations_and_sources():
    """operations and sources read with remote_read's one command (the compliance deploy can import it
    from there); no copy of its markers or script elsewhere in the deploys but compliance's own."""
    path = "/var/lib/origin/.docker/config.json"
    assert operations.read_command is remote_read.read_command
    assert operations.decode_read is remote_read.decode_read and operations.RemoteReadError is remote_read.RemoteReadError
    assert sources.read_command(path).get_raw_value() == remote_read.read_command(path).get_raw_value()
    here = os.path.join(ROOT, "pyinfra_deploys", "okd_registry")
    for name in ("operations.py", "sources.py"):
        with open(os.path.join(here, name)) as f:
            text = f.read()
        assert "okd-registry-read:" not in text and "dd if=" not in text.split("WRITE_SCRIPT")[0], name


def test_read_remote_bytes_over_a_connection(tmp_path):
    """read_remote_bytes: the command run without a PTY and without printing, exact bytes back; a
    missing file is RemoteReadError kind 'missing' naming host:path."""
    import subprocess
    from pyinfra.connectors.util import CommandOutput, OutputLine

    class Remote(object):
        name = "node9"

        def __init__(self):
            self.calls = []

        def run_shell_command(self, command, print_output, print_input, **kwargs):
            self.calls.append((print_output, kwargs))
            p = subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True)
            lines = [OutputLine("stdout", x) for x in p.stdout.decode().splitlines()]
            lines += [OutputLine("stderr", x) for x in p.stderr.decode().splitlines()]
            return p.returncode == 0, CommandOutput(lines)

    data = b"\xef\xbb\xbf{}\r\n\xff no final newline"
    (tmp_path / "f").write_bytes(data)
    remote = Remote()
    assert remote_read.read_remote_bytes(remote, str(tmp_path / "f"), _get_pty=True, _stdin="x") == data
    assert remote.calls == [(False, {"_get_pty": False})]
    with pytest.raises(remote_read.RemoteReadError) as info:
        remote_read.read_remote_bytes(remote, str(tmp_path / "missing"))
    assert info.value.kind == "missing" and "node9:%s does not exist" % (tmp_path / "missing") in info.value.message


MASTER_FILES = [
    {"auths": {"https://registry.redhat.io/v1/": {"auth": "MTIzNDV8YTpzZWNyZXQ="},
               "registry.redhat.io": {"auth": "dTpw", "email": "a@b.c"},
               "docker.io": {"username": "hub", "password": "pw"},
               "quay.io": {"auth": "cTpx", "email": ""},
               "helper.example": {},
               "tok.example": {"identitytoken": "abc"}},
     "credsStore": "secretservice"},
    {"auths": {"http://r.example:5000/v2/": {"auth": "cjpz"}, "r.example:5000": {"auth": "cjp0"}}},
    {},
]


@pytest.mark.parametrize("doc", MASTER_FILES)
def test_master_entries_are_what_the_ansible_filter_takes(doc):
    """source master: the pyinfra deploy takes exactly the entries the role takes
    (filter okd.registry_toolkit.docker_config_auths on the slurped file)."""
    from plugins.filter.docker_config import docker_config_auths

    text = json.dumps(doc, indent=2)
    assert [dict(e) for e in sources.config_entries(text)] == docker_config_auths(text)


# ------------------------------------------------------------------ settings (the role's variables)

from pyinfra_deploys.okd_registry import settings as okd_settings  # noqa: E402

SETTINGS_FIXTURES = sorted(glob.glob(os.path.join(ROOT, "tests", "unit", "fixtures", "pyinfra_settings",
                                                  "*.json")))


@pytest.mark.parametrize("path", SETTINGS_FIXTURES,
                         ids=[os.path.basename(p)[:-5] for p in SETTINGS_FIXTURES])
def test_settings_fixture(path):
    with open(path) as f:
        fixture = json.load(f)
    if "error" in fixture:
        with pytest.raises(okd_settings.SettingsError) as info:
            okd_settings.deploy_settings(fixture["data"], fixture["groups"])
        for fragment in fixture["error"]:
            assert fragment in str(info.value)
        return
    got = okd_settings.deploy_settings(fixture["data"], fixture["groups"])
    for key, value in fixture["expect"].items():
        assert got[key] == value, (key, got[key])


def test_settings_defaults_are_the_roles():
    """The deploy's defaults are read from the role's defaults/main.yml, not copied by hand."""
    import yaml

    with open(os.path.join(ROOT, "roles", "registry_credentials", "defaults", "main.yml")) as f:
        role = yaml.safe_load(f)
    got = okd_settings.deploy_settings({}, ["masters"])
    assert got["paths"] == role["registry_credentials_paths"] + role["registry_credentials_master_paths"]
    for key in ("owner", "group", "invalid_existing", "backup", "verify_controller", "verify_hosts",
                "verify_hosts_on", "validate_certs", "proxy", "timeout", "retries", "restart_service"):
        assert got[key] == role["registry_credentials_" + key], key


def test_settings_verify_hosts_on_takes_the_roles_three_choices_only():
    """registry_credentials_verify_hosts_on: changed (default) | always | never, anything else refused
    naming the variable (as the role's assert)."""
    assert okd_settings.deploy_settings({})["verify_hosts_on"] == "changed"
    for value in ("changed", "always", "never"):
        got = okd_settings.deploy_settings({"registry_credentials_verify_hosts_on": value})
        assert got["verify_hosts_on"] == value
    with pytest.raises(okd_settings.SettingsError) as exc:
        okd_settings.deploy_settings({"registry_credentials_verify_hosts_on": "sometimes"})
    assert "registry_credentials_verify_hosts_on must be changed, always or never" in str(exc.value)


# ------------------------------------------------------------------ verification retries and timeout

def _fake_skopeo_bin(tmp_path, has_retries=True):
    """A directory with a fake `skopeo` (and the tools the script needs, but no real skopeo): every call
    appends its arguments to `calls` (one line); a reference containing `bad` is refused with a
    two-line message; `first` waits (at most 10 s) until `second` has started, so it only succeeds
    when the checks run at the same time; without has_retries --retry-times is an unknown flag."""
    import shutil

    bindir = tmp_path / ("bin-%s" % has_retries)
    bindir.mkdir()
    for tool in ("sh", "tr", "cut", "sleep", "touch"):
        os.symlink(shutil.which(tool), str(bindir / tool))
    log, marker = tmp_path / "calls", tmp_path / "second-started"
    (bindir / "skopeo").write_text(
        "#!/bin/sh\n"
        'echo "$*" >> %s\n'
        'for a in "$@"; do ref=$a; done\n'
        '%s'
        'case "$ref" in *second*) touch %s;; esac\n'
        'case "$ref" in *first*) i=0; while [ ! -e %s ]; do i=$((i + 1)); '
        '[ $i -lt 100 ] || { echo "ran alone" >&2; exit 3; }; sleep 0.1; done;; esac\n'
        'case "$ref" in *bad*) printf "time=x level=fatal msg=denied\\nsecond line\\n" >&2; exit 1;; esac\n'
        'echo "{\\"manifest\\": 1}"\n'
        % (log, "" if has_retries else
           'case "$*" in *--retry-times*) echo "flag provided but not defined: -retry-times" >&2; exit 1;; esac\n',
           marker, marker))
    (bindir / "skopeo").chmod(0o755)
    return bindir, log


def _run_verify(bindir, checks, retries):
    import subprocess

    command = operations.verify_command("/x/config.json", checks, retries=retries)
    r = subprocess.run(["/bin/sh", "-c", command.get_raw_value()], capture_output=True, text=True,
                       env={"PATH": str(bindir)}, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return operations.parse_verify_output(r.stdout.splitlines(), len(checks)), r.stdout


def test_verify_script_checks_every_registry_at_once_with_skopeos_retries(tmp_path):
    """One command for all registries: `skopeo inspect --raw` with the file (and a cert dir where given)
    for each reference, run at the same time (the first check only passes when the second started while
    it ran), skopeo's --retry-times N when retries > 0, each result on its own line, skopeo's multi-line
    message on one line; no credentials anywhere on the command line."""
    bindir, log = _fake_skopeo_bin(tmp_path)
    first, second = "docker://r.example/first:1", "docker://q.example/second:1"
    results, out = _run_verify(bindir, [(first, None), (second, "/certs/q.example")], retries=3)
    assert results == [(True, ""), (True, "")], out
    calls = sorted(log.read_text().splitlines())
    assert calls == sorted([
        "inspect --retry-times 3 --raw --authfile /x/config.json %s" % first,
        "inspect --retry-times 3 --raw --authfile /x/config.json --cert-dir /certs/q.example %s" % second])
    assert "manifest" not in out  # skopeo's output (the manifest) is never passed on

    log.unlink()
    (tmp_path / "second-started").unlink()
    bad = "docker://r.example/bad:1"
    results, _ = _run_verify(bindir, [(bad, None), (second, None)], retries=0)
    assert results == [(False, "time=x level=fatal msg=denied second line"), (True, "")]
    assert "--retry-times" not in log.read_text()


def test_verify_script_runs_an_older_skopeo_without_retries(tmp_path):
    """A skopeo without --retry-times (RHEL 7's) refuses the flag naming it: that check runs once more
    without it; its other failures are reported as they are."""
    bindir, log = _fake_skopeo_bin(tmp_path, has_retries=False)
    ref = "docker://r.example/a/b:1"
    results, _ = _run_verify(bindir, [(ref, None)], retries=2)
    assert results == [(True, "")]
    assert log.read_text().splitlines() == [
        "inspect --retry-times 2 --raw --authfile /x/config.json %s" % ref,
        "inspect --raw --authfile /x/config.json %s" % ref]
    results, _ = _run_verify(bindir, [("docker://r.example/bad:1", None)], retries=2)
    assert results == [(False, "time=x level=fatal msg=denied second line")]


def test_verify_script_without_skopeo(tmp_path):
    import shutil

    bindir = tmp_path / "empty"
    bindir.mkdir()
    for tool in ("sh", "tr"):
        os.symlink(shutil.which(tool), str(bindir / tool))
    results, out = _run_verify(bindir, [("docker://r.example/a:1", None)], retries=1)
    assert results is None and out.strip() == operations.NO_SKOPEO
    assert operations.parse_verify_output(["okd-registry-verify 0 0 "], 2) == [
        (True, ""), (False, "skopeo gave no result")]


def test_verify_time_budget():
    assert operations.verify_time_budget(30, 0) == 30
    assert operations.verify_time_budget(30, 3) == 30 * 4 + 1 + 2 + 4
    assert operations.verify_time_budget("10", "1") == 21


@pytest.fixture
def no_proxy(monkeypatch):
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")


def test_controller_verification_retries_transient_errors_only(tmp_path, no_proxy):
    """registry_credentials_retries on the controller: 503s are retried (and the message says after
    how many attempts), a refused login never is (one token request)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from local_registry import LocalRegistry
    from pyinfra_deploys.okd_registry import verify

    user, password = "12345678|okd-puller", "RETRY-SECRET-" + "p" * 20
    sleeps = []
    with LocalRegistry(str(tmp_path), users={user: password}, fail_first=2) as reg:
        entry = {"host": reg.host, "username": user, "password": password,
                 "test_image": "openshift3/ose-pod:v3.11"}
        common = dict(ca_file=reg.paths["ca"], timeout=10, retry_delay=0, sleep=sleeps.append)
        report = verify.verify_registries([entry], retries=2, **common)
        assert report == [{"registry": reg.host, "image": "openshift3/ose-pod:v3.11", "ok": True,
                           "attempts": 3}]
        assert len(sleeps) == 2

        reg.fail_first = 5
        with pytest.raises(verify.RegistryVerificationError) as info:
            verify.verify_registries([entry], retries=1, **common)
        message = str(info.value)
        assert "registry credentials for %s rejected, nothing was changed on any host" % reg.host in message
        assert "503" in message and "(after 2 attempts)" in message
        assert password not in message

        reg.fail_first = 0
        before = len(reg.requests)
        bad = dict(entry, password="WRONG-" + password)
        with pytest.raises(verify.RegistryVerificationError) as info:
            verify.verify_registries([bad], retries=3, **common)
        assert "Invalid username or password" in str(info.value)
        assert "attempts" not in str(info.value)
        assert len(reg.requests) - before == 2  # /v2/ and one token request: no retry
        assert bad["password"] not in str(info.value)


def test_controller_verification_doubles_the_delay():
    """Between attempts: retry_delay, doubled each time (at most 60 s), as registry_verify does."""
    from plugins.module_utils.errors import ToolkitError
    from pyinfra_deploys.okd_registry import verify

    calls = []

    def transport(method, url, headers):
        calls.append(url)
        raise ToolkitError("cannot connect to %s: refused" % url, retryable=True)

    sleeps = []
    with pytest.raises(ToolkitError) as info:
        verify.verify_with_retries(transport, "r.example", "u", "p", retries=3, retry_delay=2,
                                   sleep=sleeps.append)
    assert sleeps == [2, 4, 8] and len(calls) == 4
    assert info.value.attempts == 4 and "(after 4 attempts)" in info.value.msg


@pytest.mark.parametrize("timeout,retries,fragment", [
    (0, 3, "registry_credentials_timeout must be > 0"),
    (30, -1, "registry_credentials_retries >= 0"),
    ("x", 3, "must be integers"),
])
def test_controller_verification_settings(timeout, retries, fragment):
    from pyinfra_deploys.okd_registry import verify

    with pytest.raises(verify.RegistryVerificationError) as info:
        verify.verify_registries([{"host": "r.example", "username": "u", "password": "p"}],
                                 timeout=timeout, retries=retries)
    assert fragment in str(info.value)


# ------------------------------------------------------------------ restart only where a file changed

def test_any_changed_reads_the_operations_results():
    assert not operations.any_changed([])
    assert not operations.any_changed([FakeMeta(complete=True), FakeMeta(complete=False)])
    assert operations.any_changed([FakeMeta(complete=True), FakeMeta(complete=True, changed=True)])
    # an operation that did not run (yet) is no change and no error
    assert not operations.any_changed([FakeMeta(complete=False, changed=True)])
    assert operations.any_will_change([FakeMeta(will_change=False), FakeMeta(will_change=True)])
    assert not operations.any_will_change([FakeMeta(will_change=False)])


def test_restart_service_sets_if_and_serial(monkeypatch):
    """restart_service hands pyinfra an _if that reads the writes' results, and _serial=True."""
    seen = {}

    def fake_op(**kwargs):
        seen.update(kwargs)
        return "meta"

    monkeypatch.setattr(operations, "_restart_service", fake_op)
    writes = [FakeMeta(complete=True), FakeMeta(complete=True)]
    extra = []
    assert operations.restart_service("svc", after=writes, _if=lambda: not extra) == "meta"
    assert seen["_serial"] is True and seen["service"] == "svc" and seen["after"] == writes
    assert "svc" in seen["name"]
    conditions = seen["_if"]
    assert len(conditions) == 2
    assert not all(c() for c in conditions)       # nothing changed
    writes[1]._changed = True
    assert all(c() for c in conditions)           # a write changed this host
    extra.append(1)
    assert not all(c() for c in conditions)       # the caller's own _if still counts
    with pytest.raises(OperationError):
        operations.restart_service("", after=writes)


# ------------------------------------------------------------------ the whole deploy on @fake hosts
# pyinfra's @fake connector answers commands from canned responses (host data `fake_responses`), so
# the deploy file runs through the real pyinfra CLI (prepare, _if, _serial, results) without a target.

import re  # noqa: E402
import subprocess  # noqa: E402

from plugins.module_utils import dockercfg  # noqa: E402

PYINFRA = os.path.join(ROOT, ".venv", "bin", "pyinfra")
DEPLOY = os.path.join(ROOT, "pyinfra_deploys", "registry_credentials.py")
NODE_PATH = "/var/lib/origin/.docker/config.json"
MASTER_PATH = "/etc/origin/master/.docker/config.json"
FAKE_SECRET = "FAKE-DEPLOY-SECRET-" + "s" * 20
# loopback, port 1: nothing listens there (the controller verification, when on, fails at once)
FAKE_REGISTRIES = [{"name": "redhat", "host": "127.0.0.1:1", "username": "12345678|okd",
                    "password": FAKE_SECRET, "test_image": "openshift3/ose-pod:v3.11"}]

FAKE_INVENTORY = INVENTORY_PRELUDE + '''
_hosts = {name: _host(name) for name in _spec["responses"]}
masters = [_hosts[n] for n in _spec["masters"]]
nodes = [_hosts[n] for n in _spec["nodes"]]
'''


def _rendered():
    config, _ = dockercfg.set_auths(None, [{"registry": r["host"], "username": r["username"],
                                            "password": r["password"]} for r in FAKE_REGISTRIES])
    return dockercfg.render_config(config)


def _file_state(path, state):
    """Canned answer of the operation's one stat+read command of `path`: missing, same (the rendered
    content, 0600) or mode (the rendered content, 0644: only a chmod)."""
    quoted = re.escape("okd-registry-stat-read %s " % path)
    if state == "missing":
        return [[quoted, []]]
    mode = "-rw-------" if state == "same" else "-rw-r--r--"
    return [[quoted, ["dir drwx------ root root", "file %s root root" % mode, remote_read.CONTENT_MARKER]
             + _b64_lines(_rendered().encode())]]


def _service(running=True):
    return [[r"systemctl show .*okd-test\.service",
             ["Id=okd-test.service", "SubState=%s" % ("running" if running else "dead")]],
            [r"^command -v systemctl", "/usr/bin/systemctl"]]


def run_fake(tmp_path, files, *args, masters=("master1",)):
    """Run the deploy on @fake hosts; files = {host: {path: missing|same|mode}}."""
    responses = {}
    for name, paths in files.items():
        answers = []
        for path, state in paths.items():
            answers += _file_state(path, state)
        # the host's check: every registry in one command, each verified
        verify = [[r"okd-registry-verify \d+ ", ["okd-registry-verify %d 0 " % i for i in range(len(FAKE_REGISTRIES))]]]
        responses[name] = answers + _service() + verify
    spec = {"registries": FAKE_REGISTRIES, "responses": responses, "masters": list(masters),
            "nodes": list(files)}
    inventory = tmp_path / "fake_inventory.py"
    inventory.write_text(FAKE_INVENTORY % json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(NO_COLOR="1", PYTHONUNBUFFERED="1", PYINFRA_PROGRESS="off", no_proxy="127.0.0.1")
    return subprocess.run([PYINFRA, str(inventory), DEPLOY] + list(args), cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)


def commands_of(output, host):
    """The commands pyinfra printed (-vv) for one host, in order."""
    prefix = "[@fake/%s]" % host
    return [line.split(">>> ", 1)[1] for line in output.splitlines()
            if line.strip().startswith(prefix) and ">>> " in line]


MASTER_DATA = ["--data", "registry_credentials_master_paths=%s" % json.dumps([MASTER_PATH])]
RESTART_DATA = ["--data", "registry_credentials_restart_service=okd-test"]
NO_CONTROLLER = ["--data", "registry_credentials_verify_controller=false"]

fake_only = pytest.mark.skipif(not os.path.exists(PYINFRA), reason="run `make deps` first")


@fake_only
def test_deploy_master_paths_and_restart_where_changed(tmp_path):
    files = {"master1": {NODE_PATH: "missing", MASTER_PATH: "missing"},
             "node1": {NODE_PATH: "same"},
             "node2": {NODE_PATH: "mode"}}
    r = run_fake(tmp_path, files, "-y", "-vv", *(NO_CONTROLLER + MASTER_DATA + RESTART_DATA))
    assert r.returncode == 0, r.stdout[-4000:]
    out = r.stdout
    cmds = {h: commands_of(out, h) for h in files}

    # registry_credentials_master_paths: written on the master only, never even looked at on nodes
    writes = {h: [c for c in cmds[h] if "okd-registry-write" in c] for h in files}
    assert [c.split("okd-registry-write ", 1)[1].split()[0] for c in writes["master1"]] == [
        NODE_PATH, MASTER_PATH]
    assert writes["node1"] == [] and writes["node2"] == []
    assert not any(MASTER_PATH in c for h in ("node1", "node2") for c in cmds[h])
    assert any(c.startswith("sh -c ") and ("okd-registry-fix-mode %s" % NODE_PATH) in c for c in cmds["node2"])

    # registry_credentials_restart_service: one host at a time, only where a file changed
    assert "Starting serial operation: Restart okd-test where the registry credentials changed" in out
    restarts = {h: [c for c in cmds[h] if re.match(r"systemctl (re)?start ", c)] for h in files}
    assert restarts == {"master1": ["systemctl restart okd-test.service"], "node1": [],
                        "node2": ["systemctl restart okd-test.service"]}
    # the restart comes after every write and check of the host
    assert cmds["master1"][-1] == "systemctl restart okd-test.service"
    # without the controller's check every host checks its first file: one command for all registries
    for h in files:
        checks = [c for c in cmds[h] if "okd-registry-verify " in c and "--raw --authfile" in c]
        assert len(checks) == 1 and NODE_PATH + " docker://127.0.0.1:1/openshift3/ose-pod:v3.11 " in checks[0], cmds[h]
    assert "verified with %s" % NODE_PATH in out and "cannot pull" not in out
    # registry_credentials_verify_controller=false: no connection to the (unreachable) registry
    assert "rejected" not in out
    assert FAKE_SECRET not in out


@fake_only
def test_deploy_no_restart_on_a_noop_run(tmp_path):
    files = {"master1": {NODE_PATH: "same", MASTER_PATH: "same"}, "node1": {NODE_PATH: "same"}}
    r = run_fake(tmp_path, files, "-y", "-vv", *(NO_CONTROLLER + MASTER_DATA + RESTART_DATA))
    assert r.returncode == 0, r.stdout[-4000:]
    assert not re.search(r">>> systemctl (re)?start", r.stdout), r.stdout[-4000:]
    assert not any("okd-registry-write" in c for h in files for c in commands_of(r.stdout, h))
    # without a service to restart there is no restart operation at all
    r = run_fake(tmp_path, {"node1": {NODE_PATH: "missing"}}, "-y", "-vv", *NO_CONTROLLER, masters=())
    assert r.returncode == 0, r.stdout[-4000:]
    assert "Restart" not in r.stdout and "systemctl" not in r.stdout


@fake_only
def test_deploy_dry_run_shows_the_restart_only_where_a_file_would_change(tmp_path):
    files = {"master1": {NODE_PATH: "same", MASTER_PATH: "missing"}, "node1": {NODE_PATH: "same"},
             "node2": {NODE_PATH: "same"}}
    r = run_fake(tmp_path, files, "--dry", "-vv", *(NO_CONTROLLER + MASTER_DATA + RESTART_DATA))
    assert r.returncode == 0, r.stdout[-4000:]
    row = next(line for line in r.stdout.splitlines()
               if line.strip().startswith("Restart okd-test where the registry credentials changed"))
    assert "1 (@fake/master1)" in row, row
    assert "noop: no credentials file changes here, okd-test is not restarted" in r.stdout
    # nothing executed
    assert not any("okd-registry-write" in c or c.startswith("systemctl restart")
                   for h in files for c in commands_of(r.stdout, h))


@fake_only
def test_deploy_controller_verification_on_by_default_with_retries(tmp_path):
    files = {"master1": {NODE_PATH: "missing"}, "node1": {NODE_PATH: "missing"}}
    r = run_fake(tmp_path, files, "-y", "-vvv", "--data", "registry_credentials_retries=1",
                 *RESTART_DATA)
    assert r.returncode != 0
    assert ("registry credentials for 127.0.0.1:1 rejected, nothing was changed on any host: "
            "cannot connect to https://127.0.0.1:1/v2/") in r.stdout, r.stdout[-4000:]
    assert "(after 2 attempts)" in r.stdout
    assert "Beginning operation run" not in r.stdout
    assert not any("okd-registry-write" in c for h in files for c in commands_of(r.stdout, h))
    assert FAKE_SECRET not in r.stdout


@fake_only
@pytest.mark.parametrize("data,message", [
    ("registry_credentials_retries=-1",
     "registry_credentials: registry_credentials_retries must be an integer >= 0, not -1"),
    ('registry_credentials_master_paths="/etc/origin/master/.docker/config.json"',
     "registry_credentials: registry_credentials_master_paths must be a list of absolute paths"),
])
def test_deploy_bad_settings_stop_before_anything_runs(tmp_path, data, message):
    r = run_fake(tmp_path, {"master1": {NODE_PATH: "missing"}}, "-y", "--data", data)
    assert r.returncode != 0
    assert message in r.stdout, r.stdout[-4000:]
    assert "Beginning operation run" not in r.stdout


# ------------------------------------------------- the one reader and writer: links, FIFOs, failures
# (issue 8 section 2), run for real in a POSIX shell

def _victim(tmp_path):
    victim = tmp_path / "etc"
    victim.mkdir()
    victim.chmod(0o755)
    (victim / "config.json").write_bytes(b'{"auths": {}}')
    (victim / "config.json").chmod(0o644)
    return victim


def _snapshot(directory):
    import stat
    out = {}
    for p in sorted(directory.iterdir()):
        st = os.lstat(str(p))
        out[p.name] = (st.st_mode, p.read_bytes() if stat.S_ISREG(st.st_mode) else None)
    return os.lstat(str(directory)).st_mode, out


def _sh(command, stdin=None, env=None, prefix=""):
    import subprocess
    data = None
    if stdin is not None:
        data = (stdin + "\n").encode()  # what pyinfra's write_stdin sends
    # the timeout guards against a hang (a FIFO opened for reading); it is not a timing assertion
    return subprocess.run(["sh", "-c", prefix + command.get_raw_value()], input=data,
                          capture_output=True, env=env, timeout=60)


def test_writer_and_reader_refuse_planted_links(tmp_path):
    victim = _victim(tmp_path)
    before = _snapshot(victim)
    content = '{\n    "auths": {}\n}\n'
    linked_dir = tmp_path / "origin" / ".docker"
    linked_dir.parent.mkdir()
    os.symlink(str(victim), str(linked_dir))
    real = tmp_path / "node" / ".docker"
    real.mkdir(parents=True)
    os.symlink(str(victim / "config.json"), str(real / "config.json"))
    for path in (linked_dir / "config.json", real / "config.json"):
        for backup in (False, True):
            proc = _sh(operations.write_file_command(str(path), content, "root", "root", backup=backup),
                       stdin=content)
            assert proc.returncode != 0
            assert b"is a symbolic link; refusing to follow it" in proc.stderr, proc.stderr
        proc = _sh(operations.fix_mode_command(str(path), "root", "root"))
        assert proc.returncode != 0 and b"symbolic link" in proc.stderr
        proc = _sh(operations.read_command(str(path)))
        assert proc.returncode != 0 and operations.READ_LINK.encode() in proc.stderr and not proc.stdout
    assert _snapshot(victim) == before
    assert os.listdir(str(real)) == ["config.json"] and os.path.islink(str(real / "config.json"))


def test_reader_never_opens_a_fifo_and_returns_exact_bytes(tmp_path):
    from pyinfra.connectors.util import CommandOutput, OutputLine
    d = tmp_path / ".docker"
    d.mkdir()
    os.mkfifo(str(d / "fifo"))
    proc = _sh(operations.read_command(str(d / "fifo")))
    assert proc.returncode != 0 and operations.READ_NOT_REGULAR.encode() in proc.stderr
    (d / "sub").mkdir()
    proc = _sh(operations.read_command(str(d / "sub")))
    assert operations.READ_NOT_REGULAR.encode() in proc.stderr
    proc = _sh(operations.read_command(str(d / "missing")))
    assert operations.READ_NO_FILE.encode() in proc.stderr
    with pytest.raises(operations.RemoteReadError) as info:
        operations.decode_read("node1", str(d / "fifo"), False, CommandOutput(
            [OutputLine("stderr", operations.READ_NOT_REGULAR)]))
    assert info.value.kind == "not_regular" and "node1:%s is not a regular file" % (d / "fifo") in str(info.value)
    # a BOM, CRLF, no final newline, bytes that are not UTF-8: the reader returns them exactly
    data = b"\xef\xbb\xbf{\"auths\": {}}\r\n\xff\xfe tail"
    (d / "config.json").write_bytes(data)
    proc = _sh(operations.read_command(str(d / "config.json")))
    assert proc.returncode == 0
    lines = proc.stdout.decode("ascii").splitlines()
    got = operations.decode_read("node1", "x", True, CommandOutput([OutputLine("stdout", line) for line in lines]))
    assert got == data


@pytest.mark.parametrize("fault", ["disk full", "chown fails", "rename fails", "short input"])
def test_writer_failures_leave_the_old_file_and_no_debris(tmp_path, fault):
    import stat
    target = tmp_path / ".docker" / "config.json"
    target.parent.mkdir(mode=0o700)
    old = b'{"auths": {"old.example": {"auth": "b2xkOm9sZA=="}}}'
    target.write_bytes(old)
    target.chmod(0o600)
    new = '{\n    "auths": {}\n}\n' + " " * 5000
    owner, env, prefix, stdin = "root", None, "", new
    if fault == "disk full":
        prefix = "ulimit -f 4; "  # 4 blocks: writing the new file fails with EFBIG
    elif fault == "chown fails":
        owner = "no-such-user-okd"
    elif fault == "rename fails":
        bindir = tmp_path / "bin"
        bindir.mkdir()
        (bindir / "mv").write_text("#!/bin/sh\necho 'mv: disk on fire' >&2\nexit 1\n")
        (bindir / "mv").chmod(0o755)
        env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ.get("PATH", "/usr/bin:/bin")))
    elif fault == "short input":
        stdin = new[:10]
    command = operations.write_file_command(str(target), new, owner, "root", backup=True)
    proc = _sh(command, stdin=stdin, env=env, prefix=prefix)
    assert proc.returncode != 0, proc.stdout
    assert target.read_bytes() == old and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]  # no staging dir, no backup
    # control: the same command without the fault works and keeps one backup
    proc = _sh(operations.write_file_command(str(target), new, "root", "root", backup=True), stdin=new)
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == new.encode()
    assert len(list(target.parent.iterdir())) == 2


def test_writer_stages_in_a_private_directory_with_an_unpredictable_name(tmp_path):
    """The new file is created in `mktemp -d` (0700, random name) inside the target directory: a file
    or link planted at any predictable name (the old `.config.json.tmp.$$`) receives nothing."""
    target = tmp_path / ".docker" / "config.json"
    target.parent.mkdir(mode=0o700)
    victim = _victim(tmp_path)
    before = _snapshot(victim)
    for pid in range(1, 200):
        os.symlink(str(victim / "config.json"), str(target.parent / (".config.json.tmp.%d" % pid)))
    command = operations.write_file_command(str(target), "{}\n", "root", "root")
    raw = command.get_raw_value()
    assert 'mktemp -d "$d/.$(basename "$f").XXXXXXXXXX"' in raw and ".tmp.$$" not in raw
    proc = _sh(command, stdin="{}\n")
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == b"{}\n" and _snapshot(victim) == before
    assert len(list(target.parent.iterdir())) == 1 + 199
