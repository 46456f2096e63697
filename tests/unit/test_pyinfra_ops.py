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

from pyinfra_deploys.okd_registry import facts as okd_facts  # noqa: E402
from pyinfra_deploys.okd_registry import operations  # noqa: E402

FIXTURES = sorted(glob.glob(os.path.join(ROOT, "tests", "unit", "fixtures", "pyinfra", "*.json")))


def _output(stdout=(), stderr=()):
    return CommandOutput([OutputLine("stdout", line) for line in stdout]
                         + [OutputLine("stderr", line) for line in stderr])


class FakeHost(object):
    """Just what the operations use: name, facts, a shell and the log helpers."""

    def __init__(self, facts, files, shell):
        self.name = "testhost"
        self.print_prefix = "[testhost] "
        self.current_op_global_arguments = {}
        self._facts = facts
        self._files = files
        self._shell = shell or {"status": True, "stdout": [], "stderr": []}
        self.shell_commands = []
        self.noops = []
        self.logs = []

    def get_fact(self, cls, *args, **kwargs):
        return self._facts[cls.__name__]

    def run_shell_command(self, command, print_output=False, print_input=False, **kwargs):
        # nothing read by the operations may be printed, even with -vvv
        assert print_output is False
        assert kwargs.get("_get_pty") is False
        raw = command.get_raw_value()
        self.shell_commands.append(raw)
        if raw.startswith("cat "):
            path = raw.split(" ", 1)[1].strip("'")
            if path not in self._files:
                return False, _output(stderr=["cat: %s: No such file or directory" % path])
            return True, _output(stdout=self._files[path].split("\n")[:-1] or [""])
        return self._shell["status"], _output(self._shell["stdout"], self._shell["stderr"])

    def noop(self, description):
        self.noops.append(description)

    def log(self, message, log_func=None):
        self.logs.append(message)


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
        if "write" in want:
            content = want["stdin"]
            args = command.bits[-4:]
            assert [getattr(a, "obj", a) for a in args] == [
                want["write"], os.path.dirname(want["write"]), want.get("owner", "root:root"),
                str(len(content.encode("utf-8")))]
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
        assert fixture["expect_shell"] in host.shell_commands
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
    assert oct(target.parent.parent.stat().st_mode & 0o777) == "0o755"  # parents as the module does
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
        "sha256 " + "A" * 64,
    ])
    assert info["exists"] and info["type"] == "file"
    assert info["mode"] == 0o600 and info["dir_mode"] == 0o700
    assert info["user"] == "root" and info["group"] == "wheel"
    assert info["sha256"] == "a" * 64
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
    assert info["sha256"] == "ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356"
    missing = fact.process(subprocess.run(["sh", "-c", fact.command(str(tmp_path / "x/y")).get_raw_value()],
                                          capture_output=True, text=True).stdout.splitlines())
    assert missing == fact.default()


def test_operation_names_and_arguments_never_print_secrets():
    entries = operations.normalize_entries(
        [{"host": "r.example", "username": "u", "password": "TOPSECRET"}])
    assert "TOPSECRET" not in str(entries) and "TOPSECRET" not in repr(entries)
    assert "TOPSECRET" not in "%s" % ([entries],)


def test_normalize_entries_reports_names_not_secrets():
    with pytest.raises(OperationError) as info:
        operations.normalize_entries([{"name": "redhat", "host": "r.example", "username": "u"}])
    assert "redhat has no password" in str(info.value)
