"""The pyinfra compliance deploy (pyinfra_deploys/compliance.py, okd_registry/compliance.py).

- Fixtures in tests/unit/fixtures/pyinfra_compliance/: the facts a host reports, its files (read by
  the read command), skopeo's answers -> the host's results in the written report, and what the
  operation yields (nothing, or a failure that runs nothing on the host). Every fixture also proves
  that no secret reaches the report, a command line, a log line or a failure message.
- Parity with the Ansible module: the module (ansible-playbook -c local) and the pyinfra checks (the
  real fact and read commands in a local shell) on the same files give the same results.
- The fact and read commands in a POSIX shell; skopeo's messages; settings = the role's defaults.
- The whole deploy through the pyinfra CLI on @fake hosts (+ one unreachable host on loopback):
  report of every host, exit status, --dry, fail_on_findings, -vvv output without secrets.
"""
import base64
import glob
import json
import os
import re
import stat as statmod
import subprocess
import sys
from types import SimpleNamespace

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from pyinfra.api import FunctionCommand  # noqa: E402
from pyinfra.api.exceptions import PyinfraError  # noqa: E402
from pyinfra.connectors.util import CommandOutput, OutputLine  # noqa: E402
from pyinfra.context import ctx_host, ctx_state  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pyinfra_fake import INVENTORY_PRELUDE, RecordingShell  # noqa: E402
from pyinfra_deploys.okd_registry import compliance as pc  # noqa: E402
from pyinfra_deploys.okd_registry import facts as okd_facts  # noqa: E402
from plugins.filter.compliance import compliance_host_report  # noqa: E402
from plugins.module_utils import compliance as core  # noqa: E402

FIXTURES = sorted(glob.glob(os.path.join(ROOT, "tests", "unit", "fixtures", "pyinfra_compliance", "*.json")))
PYINFRA = os.path.join(ROOT, ".venv", "bin", "pyinfra")
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
DEPLOY = os.path.join(ROOT, "pyinfra_deploys", "compliance.py")


def _output(stdout=(), stderr=()):
    return CommandOutput([OutputLine("stdout", line) for line in stdout]
                         + [OutputLine("stderr", line) for line in stderr])


class FakeHost(RecordingShell):
    """What the compliance operation uses of a pyinfra Host: facts, a shell and the log helpers.
    Read and skopeo commands are answered from the fixture."""

    def __init__(self, fixture, name="testhost"):
        self.name = name
        self.print_prefix = "[%s] " % name
        self.current_op_global_arguments = {}
        self._fixture = fixture
        self.shell_commands = []
        self.shell_kwargs = []
        self.noops = []
        self.logs = []

    def get_fact(self, cls, *args, **kwargs):
        facts = self._fixture.get("facts", {})
        if cls is okd_facts.RegistryComplianceStat:
            found = facts.get(cls.__name__, {}).get(kwargs["path"])
            return dict(found) if found else okd_facts.RegistryComplianceStat.default()
        assert cls.__name__ in facts, "unexpected fact %s" % cls.__name__
        return facts[cls.__name__]

    def run_shell_command(self, command, print_output=False, print_input=False, **kwargs):
        raw = self.record(command, print_output, kwargs)
        if "okd-registry-read" in raw:
            path = command.bits[-1].obj
            assert raw == pc.read_command(path).get_raw_value()
            if self._fixture.get("read_error"):
                return False, _output(stderr=self._fixture["read_error"])
            files = self._fixture.get("files", {})
            if path not in files:
                return False, _output(stderr=[pc._NO_FILE])
            return True, _output(stdout=(files[path] + ".").split("\n"))
        if " inspect --no-creds " in raw:
            # the anonymous probe: refused unless the fixture says the registry serves anonymously
            reference = command.bits[-1].obj
            if reference in self._fixture.get("anonymous", []):
                return True, _output(stdout=["{}"])
            return False, _output(stderr=['time="x" level=fatal msg="unauthorized: authentication required"'])
        if " inspect --authfile " in raw:
            reference = command.bits[-1].obj
            answer = self._fixture.get("skopeo", {}).get(reference)
            assert answer is not None, "unexpected skopeo call %s" % raw
            if answer == "timeout":
                raise TimeoutError()
            return answer["status"], _output(answer["stdout"], answer["stderr"])
        raise AssertionError("unexpected command %s" % raw)

    def noop(self, description):
        self.noops.append(description)

    def log(self, message, log_func=None):
        self.logs.append(message)

    def log_styled(self, message, log_func=None, **kwargs):
        self.logs.append(message)


class InventoryHost(object):
    def __init__(self, name, data):
        self.name = name
        self.data = data


def _state(executing, hosts, activated=None):
    return SimpleNamespace(is_executing=executing, print_input=False, inventory=list(hosts),
                           activated_hosts=set(hosts if activated is None else activated),
                           is_host_in_limit=lambda h: True)


def _data(kwargs, report_path):
    return {"registry_compliance_registries": kwargs["registries"],
            "registry_compliance_paths": kwargs["paths"],
            "registry_compliance_verify_access": kwargs["verify_access"],
            "registry_compliance_ca_file": kwargs["ca_file"],
            "registry_compliance_fail_on_findings": kwargs["fail_on_findings"],
            "registry_compliance_report_path": str(report_path)}


def run_fixture(fixture, tmp_path, caplog=None):
    report_path = tmp_path / "report.json"
    data = _data(fixture["kwargs"], report_path)
    settings = pc.compliance_settings(data)
    host = FakeHost(fixture)
    state = _state(fixture["executing"], [InventoryHost("testhost", data)])
    with ctx_state.use(state), ctx_host.use(host):
        commands = list(pc.registry_compliance._inner(
            paths=settings["paths"], registries=settings["registries"],
            verify_access=settings["verify_access"], ca_file=settings["ca_file"],
            report_path=settings["report_path"], fail_on_findings=settings["fail_on_findings"]))
    return host, commands, report_path


def _match(result, want):
    for key in ("check", "status", "registry", "path", "message"):
        if key in want and result.get(key) != want[key]:
            return False
    return all(fragment in result["message"] for fragment in want.get("message_contains", []))


@pytest.mark.parametrize("path", FIXTURES, ids=[os.path.basename(p)[:-5] for p in FIXTURES])
def test_fixture(path, tmp_path, caplog):
    assert FIXTURES, "no fixtures found"
    with open(path) as f:
        fixture = json.load(f)
    caplog.set_level("DEBUG")
    host, commands, report_path = run_fixture(fixture, tmp_path)

    report = json.loads(report_path.read_text())
    assert report["generated_by"] == "okd-registry-toolkit registry_compliance"
    assert list(report["hosts"]) == ["testhost"]
    got = report["hosts"]["testhost"]
    want = fixture["expect"]
    assert got["unreachable"] is False
    if "error" in want:
        assert got == {"compliant": False, "unreachable": False, "error": want["error"], "results": []}
    else:
        assert got["compliant"] is want["compliant"]
        assert "error" not in got
        if "results" in want:
            assert got["results"] == want["results"]
        for item in want.get("results_contain", []):
            assert any(_match(r, item) for r in got["results"]), (item, got["results"])
        if "counts" in want:
            assert got["counts"] == want["counts"]
        # the counts are the core's summary of the results
        assert got["counts"] == core.summarize(got["results"])["counts"]
    assert statmod.S_IMODE(report_path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left

    if fixture["commands"] == "fail":
        # the failure runs nothing on the host: a Python callback that fails the operation
        assert len(commands) == 1 and isinstance(commands[0], FunctionCommand), commands
        message = commands[0].args[0]
        for fragment in fixture.get("fail_contains", []):
            assert fragment in message
        assert commands[0].function(None, host, *commands[0].args) is False
        assert message in host.logs
    else:
        assert commands == fixture["commands"]
    if "noop" in fixture:
        assert any(fixture["noop"] in n for n in host.noops), host.noops
    for raw in fixture.get("expect_shell", []):
        assert raw in host.shell_commands, host.shell_commands
    for fragment in fixture.get("expect_no_shell", []):
        assert not any(fragment in raw for raw in host.shell_commands), host.shell_commands
    if "expect_timeout" in fixture:
        timeouts = [kw.get("_timeout") for raw, kw in zip(host.shell_commands, host.shell_kwargs)
                    if " inspect " in raw]
        assert timeouts and all(t == fixture["expect_timeout"] for t in timeouts), timeouts
    # no secret in the report, a command line, a log line, a noop or a failure
    printed = (report_path.read_text() + "\n".join(host.shell_commands + host.logs + host.noops)
               + caplog.text + "".join(repr(c) for c in commands))
    for secret in fixture["secrets"]:
        assert secret not in printed


# ------------------------------------------------------------------------------ the report

def test_report_keeps_every_host_and_writes_after_each(tmp_path):
    """The report names every host of the run: an unreachable one with pyinfra's connection error,
    one not checked (yet) as the role reports a host without a result; the execution phase starts a
    fresh report (prepare results do not linger)."""
    report_path = str(tmp_path / "r.json")
    data = {"registry_compliance_report_path": report_path}

    class Unreachable(InventoryHost):
        connects = 0

        def connect(self, reason=None, show_errors=True, raise_exceptions=False):
            Unreachable.connects += 1
            raise pc.PyinfraError("Could not connect (Unable to connect to port 1 on 127.0.0.1)")

    a, b, c = InventoryHost("a", data), InventoryHost("b", data), Unreachable("c", data)
    elsewhere = InventoryHost("d", {"registry_compliance_report_path": str(tmp_path / "other.json")})
    state = _state(False, [a, b, c, elsewhere], activated=[a, b, elsewhere])
    ok = compliance_host_report({"compliant": True, "results": [], "summary": {"counts": {"pass": 0}}})
    pc.record(state, "a", report_path, ok, executing=False)
    hosts = json.loads(open(report_path).read())["hosts"]
    assert sorted(hosts) == ["a", "b", "c"]  # d reports elsewhere
    assert hosts["a"] == ok
    assert hosts["b"] == {"compliant": False, "unreachable": False, "error": "no result (host skipped)",
                          "results": []}
    assert hosts["c"]["unreachable"] is True and hosts["c"]["compliant"] is False
    assert "Unable to connect to port 1 on 127.0.0.1" in hosts["c"]["error"]
    pc.record(state, "b", report_path, ok, executing=False)
    assert json.loads(open(report_path).read())["hosts"]["b"] == ok
    # execution: a fresh report; the unreachable host is not connected again
    state.is_executing = True
    pc.record(state, "b", report_path, ok, executing=True)
    hosts = json.loads(open(report_path).read())["hosts"]
    assert hosts["b"] == ok and hosts["a"]["error"] == "no result (host skipped)"
    assert Unreachable.connects == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_report_is_the_roles_json():
    """to_nice_json of the role: 4 spaces, sorted keys, ', '/': ' separators, a final newline."""
    text = pc.render_report({"n": {"results": [], "compliant": True}})
    assert text == ('{\n    "generated_by": "okd-registry-toolkit registry_compliance",\n    "hosts": {\n'
                    '        "n": {\n            "compliant": true,\n            "results": []\n'
                    '        }\n    }\n}\n')


# ------------------------------------------------------------------------------ parity with the module

REG = "registry.lab.test:5443"
OTHER = "quay.lab.test:5445"
USER, PASSWORD = "12345678|okd-puller", "PARITY-S3cr3t-'q\"-" + "p" * 30


def _auth(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def _scenarios(base):
    """name -> (paths, setup(root)). Each scenario is a directory tree under base."""
    good = json.dumps({"auths": {REG: {"auth": _auth(USER, PASSWORD)}}}, indent=4) + "\n"

    def tree(name, files, dir_mode=0o700):
        d = base / name / ".docker"
        d.mkdir(parents=True)
        paths = []
        for fname, (content, mode, owner) in files.items():
            p = d / fname
            paths.append(str(p))
            if content is None:
                continue
            if isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_text(content)
            os.chmod(str(p), mode)
            if owner is not None:
                os.chown(str(p), owner, -1)
        os.chmod(str(d), dir_mode)
        return paths

    return {
        "compliant": tree("compliant", {"config.json": (good, 0o600, None)}),
        "world_readable": tree("world_readable", {"config.json": (good, 0o644, None)}, dir_mode=0o755),
        "setgid_dir_sticky": tree("setgid", {"config.json": (good, 0o1600, None)}, dir_mode=0o2700),
        "missing": tree("missing", {"config.json": (None, 0, None)}),
        "invalid_no_newline": tree("invalid", {"config.json": ('{"auths": {"%s": {"auth": "x' % REG,
                                                               0o600, None)}),
        "invalid_trailing_lines": tree("invalid2", {"config.json": ('{"auths": {}\n\n\n', 0o600, None)}),
        "crlf_bom": tree("crlf", {"config.json": (b"\xef\xbb\xbf" + good.replace("\n", "\r\n").encode(),
                                                  0o600, None)}),
        "empty": tree("empty", {"config.json": ("", 0o600, None)}),
        "stale": tree("stale", {"config.json": (json.dumps(
            {"auths": {"https://%s/v1/" % REG: {"auth": _auth(USER, "old")}}}), 0o600, None)}),
        "owner_nobody": tree("owner", {"config.json": (good, 0o600, 65534)}),
        "two_paths": tree("two", {"a.json": (None, 0, None), "b.json": (good, 0o640, None)}),
        "unrelated_only": tree("unrelated", {"config.json": (json.dumps(
            {"auths": {"other.example": {"auth": _auth("x", "y")}}}), 0o600, None)}),
    }


# with verify_access: only files without credentials for the registries (no network in unit tests)
ACCESS_SCENARIOS = ("missing", "unrelated_only")


class LocalShellHost(FakeHost):
    """A host whose shell is the local one: the real fact and read commands run through sh."""

    def __init__(self):
        super().__init__({}, name="localhost")

    def get_fact(self, cls, *args, **kwargs):
        fact = cls()
        proc = subprocess.run(["sh", "-c", fact.command(**kwargs).get_raw_value()], capture_output=True,
                              text=True)
        if cls is okd_facts.RegistryComplianceStat:
            return fact.process(proc.stdout.splitlines())
        return proc.stdout.strip() or None

    def run_shell_command(self, command, print_output=False, print_input=False, **kwargs):
        assert print_output is False and kwargs.get("_get_pty") is False
        raw = command.get_raw_value()
        assert "okd-registry-read" in raw, raw  # no skopeo in these scenarios
        proc = subprocess.run(["sh", "-c", raw], capture_output=True)
        # what pyinfra's connectors do with the output: UTF-8 lines, "\n" removed
        out = proc.stdout.decode("utf-8").split("\n")
        if out and out[-1] == "":
            out.pop()
        return proc.returncode == 0, _output(out, proc.stderr.decode().splitlines())


@pytest.mark.skipif(not os.path.exists(PLAYBOOK), reason="run `make deps` first")
@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_same_results_as_the_ansible_module(tmp_path):
    """The module (run by ansible-playbook on localhost) and the pyinfra checks (the real fact and
    read commands in a local shell) give identical results on the same files, including messages
    with modes, owners, JSON error positions and fingerprints. The access check takes the module's
    "no credentials to try" path (no network here; the lab test compares real pulls)."""
    scenarios = _scenarios(tmp_path / "files")
    expected = [{"registry": REG, "username": USER, "password": PASSWORD},
                {"registry": OTHER, "test_image": "laborg/hello:1.0"}]
    tasks = [{"name": name, "okd.registry_toolkit.registry_compliance": {
        "paths": paths, "expected": expected, "verify_access": name in ACCESS_SCENARIOS},
        "register": "r_%s" % name} for name, paths in scenarios.items()]
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    proc = subprocess.run([PLAYBOOK, str(playbook), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % python], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    module = {t["task"]["name"]: t["hosts"]["localhost"]
              for t in json.loads(proc.stdout)["plays"][0]["tasks"]}
    assert PASSWORD not in proc.stdout

    host = LocalShellHost()
    with ctx_state.use(SimpleNamespace(print_input=False)), ctx_host.use(host):
        for name, paths in scenarios.items():
            mine = pc.check_host(paths, expected, verify_access=name in ACCESS_SCENARIOS)
            theirs = module[name]
            assert mine["results"] == theirs["results"], name
            assert mine["summary"] == theirs["summary"], name
            assert mine["compliant"] is theirs["compliant"], name
    # the scenarios cover what they claim (a parity test of identical passes would prove little)
    by = {n: {(r["check"], r.get("registry")): r for r in module[n]["results"]} for n in module}
    assert "0644" in by["world_readable"][("file_mode", None)]["message"]
    assert "2700" in by["setgid_dir_sticky"][("dir_mode", None)]["message"]
    assert "1600" in by["setgid_dir_sticky"][("file_mode", None)]["message"]
    assert "uid 65534" in by["owner_nobody"][("file_owner", None)]["message"]
    assert "line 1 column" in by["invalid_no_newline"][("file_valid", None)]["message"]
    assert "line 4 column" in by["invalid_trailing_lines"][("file_valid", None)]["message"]
    assert by["crlf_bom"][("entry_current", REG)]["status"] == "pass"
    assert by["stale"][("entry_current", REG)]["status"] == "fail"
    assert by["missing"][("access", REG)]["message"] == "no credentials to try"
    assert by["unrelated_only"][("access", OTHER)]["status"] == "skip"
    assert by["two_paths"][("file_mode", None)]["path"].endswith("b.json")


# ------------------------------------------------------------------------------ commands in a shell

def test_fact_command_in_a_posix_shell(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    os.chmod(str(d), 0o2750)
    target = tmp_path / "target.json"
    target.write_text("{}\n")
    os.chmod(str(target), 0o4640)
    link = d / "config.json"
    link.symlink_to(target)  # followed, as os.stat does
    fact = okd_facts.RegistryComplianceStat()
    command = fact.command(str(link)).get_raw_value()
    assert "cat " not in command and "okd-registry-read" not in command
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    info = fact.process(out.stdout.splitlines())
    assert info == {"exists": True, "type": "file", "mode": 0o4640, "uid": os.getuid(), "gid": os.getgid(),
                    "dir_exists": True, "dir_mode": 0o2750, "dir_uid": os.getuid()}
    assert "{}" not in out.stdout  # no content
    link.unlink()
    link.symlink_to(tmp_path / "nowhere")  # dangling: missing, as os.stat says
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    assert fact.process(out.stdout.splitlines())["exists"] is False
    out = subprocess.run(["sh", "-c", fact.command(str(d)).get_raw_value()], capture_output=True, text=True)
    assert fact.process(out.stdout.splitlines())["type"] == "other"
    assert fact.process([]) == fact.default()


@pytest.mark.parametrize("perms,mode", [
    ("-rw-------", 0o600), ("-rw-r--r--.", 0o644), ("drwxr-sr-x", 0o2755), ("drwxrwxrwt", 0o1777),
    ("-rwSr-S--T", 0o7640), ("-rwsr-xr-x+", 0o4755), ("----------", 0),
])
def test_symbolic_to_mode(perms, mode):
    assert okd_facts.symbolic_to_mode(perms) == mode


@pytest.mark.parametrize("content", [b"", b"{}", b"{}\n", b"{}\n\n", b"a\r\nb\r\n", b" .\n."])
def test_read_command_gives_the_exact_content(tmp_path, content):
    f = tmp_path / "config.json"
    f.write_bytes(content)
    proc = subprocess.run(["sh", "-c", pc.read_command(str(f)).get_raw_value()], capture_output=True)
    assert proc.returncode == 0 and proc.stderr == b""
    lines = proc.stdout.decode().split("\n")
    assert lines[-1] == ""
    assert pc.content_of(lines[:-1]) == content.decode()
    missing = subprocess.run(["sh", "-c", pc.read_command(str(tmp_path / "x")).get_raw_value()],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and missing.stdout == "" and pc._NO_FILE in missing.stderr
    # output cut short (no final ".") is not taken for content
    assert pc.content_of(["{", "  "]) is None


def test_skopeo_cause():
    line = ('time="2026-11-27T08:16:39Z" level=fatal msg="Error parsing image name \\"docker://q:5445/a/b:1\\": '
            'reading manifest 1 in q:5445/a/b: errors:\\ndenied: requested access to the resource is denied\\n'
            'unauthorized: authentication required\\n"')
    assert pc.skopeo_cause([line]) == ("reading manifest 1 in q:5445/a/b: errors:; denied: requested access to "
                                       "the resource is denied; unauthorized: authentication required")
    assert pc.skopeo_cause(["some\x1b[31m plain error"]) == "some [31m plain error"
    assert pc.skopeo_cause([]) == "skopeo failed without a message"
    assert len(pc.skopeo_cause(["x" * 1000])) == 400


def test_access_command_runs_skopeo_with_the_file_and_ca(tmp_path):
    """The command as a shell runs it: skopeo gets --authfile and the reference, and SSL_CERT_FILE
    when a CA bundle is set; stdout (image metadata) is what the check parses."""
    fake = tmp_path / "skopeo"
    log = tmp_path / "log"
    fake.write_text('#!/bin/sh\nprintf "%%s\\n" "$@" > %s\necho "CA=$SSL_CERT_FILE" >> %s\n'
                    'echo \'{"Digest": "sha256:abc"}\'\n' % (log, log))
    fake.chmod(0o755)
    command = pc.access_command(str(fake), "/x/config.json", "docker://r.example/a/b:1", "/etc/my ca.pem")
    proc = subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True, text=True)
    assert proc.returncode == 0 and json.loads(proc.stdout)["Digest"] == "sha256:abc"
    assert log.read_text().split("\n")[:-1] == ["inspect", "--authfile", "/x/config.json",
                                                 "docker://r.example/a/b:1", "CA=/etc/my ca.pem"]
    assert pc.access_command("skopeo", "/f", "docker://r/i").get_raw_value() == \
        "skopeo inspect --authfile /f docker://r/i"


# ------------------------------------------------------------------------------ settings

def test_settings_defaults_are_the_roles(tmp_path):
    import yaml

    role = os.path.join(ROOT, "roles", "registry_compliance")
    with open(os.path.join(role, "defaults", "main.yml")) as f:
        defaults = yaml.safe_load(f)
    with open(os.path.join(role, "meta", "argument_specs.yml")) as f:
        options = yaml.safe_load(f)["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    names = {"registry_compliance_registries": "registries", "registry_compliance_paths": "paths",
             "registry_compliance_verify_access": "verify_access",
             "registry_compliance_ca_file": "ca_file", "registry_compliance_report_path": "report_path",
             "registry_compliance_fail_on_findings": "fail_on_findings"}
    # the cluster checks (okd_cluster_compliance, API) and the XML/table output are the playbook's only;
    # pyinfra reports node_matches_master (the hosts' part) in the JSON report
    playbook_only = {v for v in defaults if v.startswith(("registry_compliance_cluster", "registry_compliance_kubeconfig",
                                                          "registry_compliance_master_", "registry_compliance_node_config",
                                                          "registry_compliance_imagestreamsecret",
                                                          "registry_compliance_redhat_registry",
                                                          "registry_compliance_credential_kind",
                                                          "registry_compliance_image_stream_namespaces",
                                                          "registry_compliance_old_registries",
                                                          "registry_compliance_integrated_registry",
                                                          "registry_compliance_registry_",
                                                          "registry_compliance_pull_secrets",
                                                          "registry_compliance_junit_path",
                                                          "registry_compliance_print_table"))}
    assert set(names) | playbook_only == set(defaults)  # every host-check variable has its pyinfra setting
    assert not set(names) & playbook_only
    regs = [{"name": "r", "host": "r.example", "username": "u", "password": "SETTINGS-SECRET",
             "test_image": "a/b:1"}]
    got = pc.compliance_settings({"okd_registries": regs}, environ={"PWD": str(tmp_path)})
    assert set(got) == set(names.values())
    assert got["paths"] == defaults["registry_compliance_paths"]
    assert got["verify_access"] is defaults["registry_compliance_verify_access"]
    assert got["fail_on_findings"] is defaults["registry_compliance_fail_on_findings"]
    assert got["ca_file"] == defaults["registry_compliance_ca_file"]
    # "{{ lookup('ansible.builtin.env', 'PWD') }}/compliance-report.json"
    assert "lookup('ansible.builtin.env', 'PWD')" in defaults["registry_compliance_report_path"]
    assert got["report_path"] == str(tmp_path / "compliance-report.json")
    # the role's default okd_registries, through its own filter registry_expectation
    assert [dict(e) for e in got["registries"]] == [
        {"registry": "r.example", "username": "u", "password": "SETTINGS-SECRET", "test_image": "a/b:1"}]
    assert "SETTINGS-SECRET" not in repr(got) and "SETTINGS-SECRET" not in str(got)
    # registry_compliance_registries wins over okd_registries; strings from --data are understood
    got = pc.compliance_settings({"okd_registries": regs, "registry_compliance_registries": [],
                                  "registry_compliance_fail_on_findings": "false",
                                  "registry_compliance_verify_access": "no",
                                  "registry_compliance_report_path": str(tmp_path / "x.json")})
    assert list(got["registries"]) == [] and got["fail_on_findings"] is False
    assert got["verify_access"] is False and got["report_path"] == str(tmp_path / "x.json")


@pytest.mark.parametrize("data,message", [
    ({"registry_compliance_paths": "/etc/x.json"}, "registry_compliance_paths must be a list of absolute paths"),
    ({"registry_compliance_paths": []}, "registry_compliance_paths must be a non-empty list"),
    ({"registry_compliance_paths": ["rel/x.json"]}, "registry_compliance_paths must be a list of absolute"),
    ({"registry_compliance_fail_on_findings": "maybe"},
     "registry_compliance_fail_on_findings must be true or false, not 'maybe'"),
    ({"registry_compliance_registries": [{"name": "quay", "password": "BAD-SETTING-SECRET"}]},
     "registry_compliance_registries entry quay has no host"),
    ({"registry_compliance_registries": "quay"}, "registry_compliance_registries must be a list"),
    ({"registry_compliance_registries": [{"name": "quay", "host": "bad host", "password": "BAD-SETTING-SECRET"}]},
     'registry_compliance_registries entry quay: invalid registry name "bad host"'),
    ({"registry_compliance_report_path": "/nonexistent-dir-okd/r.json"},
     "directory /nonexistent-dir-okd does not exist"),
    ({"registry_compliance_report_path": "/"}, "is a directory"),
])
def test_bad_settings_are_named(data, message):
    with pytest.raises(pc.ComplianceSettingsError) as info:
        pc.compliance_settings(data)
    assert message in str(info.value)
    assert str(info.value).startswith("registry_compliance: ")
    assert "BAD-SETTING-SECRET" not in str(info.value)
    assert isinstance(info.value, PyinfraError)  # the CLI shows it and stops before anything runs


# ------------------------------------------------------------------ the whole deploy on @fake hosts
# pyinfra's @fake connector answers commands from canned responses (host data `fake_responses`):
# the deploy runs through the real pyinfra CLI (connect, prepare, execute, results, exit status).

FAKE_SECRET = "FAKE-COMPLIANCE-SECRET-" + "s" * 20
FAKE_REGISTRIES = [{"name": "redhat", "host": REG, "username": USER, "password": FAKE_SECRET,
                    "test_image": "openshift3/ose-pod:v3.11"},
                   {"name": "quay", "host": OTHER, "username": "laborg+robot", "password": FAKE_SECRET + "-q",
                    "test_image": "laborg/hello:1.0"}]
NODE_PATH = "/var/lib/origin/.docker/config.json"

FAKE_INVENTORY = INVENTORY_PRELUDE + '''
nodes = [_host(name) for name in _spec["responses"]]
nodes += [(name, {"ssh_port": 1, "ssh_connect_retries": 0, "okd_registries": _spec["registries"]})
          for name in _spec["unreachable"]]
'''


def _fake_file(entries, mode="-rw-------"):
    regs = {r["host"]: r for r in FAKE_REGISTRIES}
    text = json.dumps({"auths": {h: {"auth": _auth(regs[h]["username"], regs[h]["password"])}
                                 for h in entries}}, indent=4) + "\n"
    return [[re.escape("okd-registry-compliance-fact %s " % NODE_PATH),
             ["dir drwx------ 0 0", "file %s 0 0" % mode]],
            [re.escape("okd-registry-read %s" % NODE_PATH) + "$", (text + ".").split("\n")],
            [r"^command -v skopeo", "/usr/bin/skopeo"],
            # the anonymous probe is refused: the registries ask for credentials
            [r"skopeo inspect --no-creds ", {"success": False, "stderr": "unauthorized: authentication required"}],
            [r"skopeo inspect --authfile .* docker://" + re.escape(REG),
             ['{', '    "Digest": "sha256:%s"' % ("1" * 64), '}']],
            [r"skopeo inspect --authfile .* docker://" + re.escape(OTHER),
             ['{', '    "Digest": "sha256:%s"' % ("2" * 64), '}']]]


def run_fake(tmp_path, hosts, *args, unreachable=()):
    """hosts = {name: canned responses}; the report goes to tmp_path/report.json."""
    spec = {"registries": FAKE_REGISTRIES, "responses": hosts, "unreachable": list(unreachable)}
    inventory = tmp_path / "fake_inventory.py"
    inventory.write_text(FAKE_INVENTORY % json.dumps(spec))
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(NO_COLOR="1", PYTHONUNBUFFERED="1", PYINFRA_PROGRESS="off")
    proc = subprocess.run([PYINFRA, str(inventory), DEPLOY, "--data",
                           "registry_compliance_report_path=%s" % report] + list(args), cwd=ROOT,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    return proc, report


def commands_of(output, host):
    prefix = "[@fake/%s]" % host
    return [line.split(">>> ", 1)[1] for line in output.splitlines()
            if line.strip().startswith(prefix) and ">>> " in line]


def _statuses(report, name):
    return [(r["check"], r.get("registry"), r["status"]) for r in report["hosts"][name]["results"]]


fake_only = pytest.mark.skipif(not os.path.exists(PYINFRA), reason="run `make deps` first")


@fake_only
def test_deploy_reports_every_host_and_fails_the_non_compliant(tmp_path):
    hosts = {"node1": _fake_file([REG, OTHER]), "node2": _fake_file([REG], mode="-rw-r--r--")}
    proc, report_path = run_fake(tmp_path, hosts, "-y", "-vvv", unreachable=["127.0.0.1"])
    out = proc.stdout
    assert proc.returncode != 0, out[-4000:]
    report = json.loads(report_path.read_text())
    assert sorted(report["hosts"]) == ["127.0.0.1", "@fake/node1", "@fake/node2"]
    assert report["hosts"]["@fake/node1"]["compliant"] is True
    assert report["hosts"]["@fake/node1"]["counts"] == {"pass": 11, "fail": 0, "skip": 0, "untested": 0}
    node2 = report["hosts"]["@fake/node2"]
    assert node2["compliant"] is False and node2["counts"] == {"pass": 7, "fail": 2, "skip": 1, "untested": 0}
    failed = {(r["check"], r.get("registry")): r["message"] for r in node2["results"] if r["status"] == "fail"}
    assert failed == {("file_mode", None): "%s is mode 0644; must be 0600 (it holds registry credentials)"
                      % NODE_PATH,
                      ("entry_present", OTHER): "%s has no entry for %s" % (NODE_PATH, OTHER)}
    gone = report["hosts"]["127.0.0.1"]
    assert gone["unreachable"] is True and gone["compliant"] is False and gone["results"] == []
    assert "127.0.0.1" in gone["error"] and "port 1" in gone["error"], gone
    # the role's assert, after the report: node2 fails, node1 does not
    assert "@fake/node2 is not compliant (2 failed checks); see %s" % report_path in out
    assert "@fake/node1 is not compliant" not in out
    # nothing but the fact, the read, `command -v` and skopeo ran on the hosts
    for name in hosts:
        for command in commands_of(out, name):
            assert re.search(r"okd-registry-compliance-fact|okd-registry-read|command -v skopeo|"
                             r"skopeo inspect --(?:authfile|no-creds)", command), command
    # -vvv prints facts and commands: no secret in there, nor in the report
    assert "okd-registry-compliance-fact" in out and "file -rw-r--r-- 0 0" in out
    text = out + report_path.read_text()
    for r in FAKE_REGISTRIES:
        assert r["password"] not in text
        assert _auth(r["username"], r["password"]) not in text


@fake_only
def test_deploy_dry_run_reports_and_executes_nothing(tmp_path):
    hosts = {"node1": _fake_file([REG, OTHER]), "node2": _fake_file([REG], mode="-rw-r--r--")}
    dry, report_path = run_fake(tmp_path, hosts, "--dry", "-vv")
    assert dry.returncode == 0, dry.stdout[-4000:]  # nothing executed: no host failed
    assert "Beginning operation run" not in dry.stdout
    dry_report = json.loads(report_path.read_text())
    assert "NOT compliant: %s is mode 0644" % NODE_PATH in dry.stdout
    report_path.unlink()
    run, _ = run_fake(tmp_path, hosts, "-y")
    assert run.returncode != 0
    assert json.loads(report_path.read_text()) == dry_report


@fake_only
def test_deploy_fail_on_findings_off(tmp_path):
    hosts = {"node2": _fake_file([], mode="-rw-r-----")}
    proc, report_path = run_fake(tmp_path, hosts, "-y", "--data", "registry_compliance_fail_on_findings=false",
                                 "--data", "registry_compliance_verify_access=false")
    assert proc.returncode == 0, proc.stdout[-4000:]
    report = json.loads(report_path.read_text())
    assert _statuses(report, "@fake/node2") == [
        ("file_present", None, "pass"), ("file_mode", None, "fail"), ("file_owner", None, "pass"),
        ("dir_mode", None, "pass"), ("file_valid", None, "pass"), ("entry_present", REG, "fail"),
        ("entry_present", OTHER, "fail")]
    assert "NOT compliant" in proc.stdout
    assert "skopeo" not in " ".join(commands_of(proc.stdout, "node2"))


@fake_only
def test_deploy_bad_settings_stop_before_anything_runs(tmp_path):
    proc, report_path = run_fake(tmp_path, {"node1": _fake_file([REG])}, "-y", "--data",
                                 "registry_compliance_paths=relative/config.json")
    assert proc.returncode != 0
    assert "registry_compliance: registry_compliance_paths must be a list of absolute paths" \
        in proc.stdout, proc.stdout[-3000:]
    assert "Beginning operation run" not in proc.stdout
    assert not report_path.exists()


def test_report_compares_the_nodes_with_the_master_once_every_host_is_read(tmp_path):
    """node_matches_master in the pyinfra report: the playbook's check id and messages, written when the
    last host is read, no credential in the file."""
    from plugins.module_utils import dockercfg

    def text(password):
        cfg, _ = dockercfg.set_auths({}, [{"registry": "r.example", "username": "12345678|sa", "password": password}])
        return dockercfg.render_config(cfg)

    report_path = str(tmp_path / "r.json")
    data = {"registry_compliance_report_path": report_path}
    m, n1, n2 = InventoryHost("m", data), InventoryHost("n1", data), InventoryHost("n2", data)

    class Inventory(list):
        def get_group(self, name):
            assert name == "masters"
            return [m]

    state = _state(True, [m, n1, n2])
    state.inventory = Inventory([m, n1, n2])
    ok = compliance_host_report({"compliant": True, "results": [], "summary": {"counts": {"pass": 0}}})
    _, cluster = pc.record(state, "m", report_path, ok, True, text("NODE-SECRET-1"))
    assert cluster is None and "cluster" not in json.loads(open(report_path).read())
    _, cluster = pc.record(state, "n1", report_path, ok, True, text("NODE-SECRET-1"))
    assert cluster is None
    _, cluster = pc.record(state, "n2", report_path, ok, True, text("NODE-SECRET-OLD"))
    doc = json.loads(open(report_path).read())
    assert doc["cluster"] == cluster and cluster["compliant"] is False
    by_host = {r["host"]: r for r in cluster["results"]}
    assert by_host["n1"]["status"] == "pass" and by_host["n1"]["check"] == "node_matches_master"
    assert by_host["n2"]["status"] == "fail"
    assert by_host["n2"]["message"] == ("n2: the entry for r.example differs from m's (user 12345678|sa, another "
                                        "password or token)")
    assert "NODE-SECRET" not in open(report_path).read()
