# Shared by the unit tests that run a whole pyinfra deploy through the real CLI on @fake hosts
# (test_pyinfra_ops.py, test_pyinfra_compliance.py): pyinfra's @fake connector answers commands from
# canned responses (host data `fake_responses`, regex -> output lines).
#
# INVENTORY_PRELUDE is the start of a generated pyinfra inventory file: `%r` takes the JSON of a spec
# {"registries": [...], "responses": {host: [[pattern, answer], ...]}, ...}; `_host(name)` builds one
# @fake host with the registries as okd_registries. Each test appends its own groups.
INVENTORY_PRELUDE = '''
import json, re
_spec = json.loads(%r)
def _host(name):
    responses = {}
    for pattern, answer in _spec["responses"][name]:
        responses[re.compile(pattern)] = answer
    return ("@fake/" + name, {"okd_registries": _spec["registries"], "fake_delay": 0,
                              "fake_delay_jitter": 0, "fake_responses": responses})
'''


class RecordingShell(object):
    """Mixin of the unit tests' fake pyinfra hosts: ``record`` checks that a command is run the way
    every read of the deploys must be (output never printed, even with -vvv; no PTY to mix stderr
    into stdout) and keeps it in ``shell_commands`` / ``shell_kwargs``; returns the raw command."""

    def record(self, command, print_output, kwargs):
        assert print_output is False
        assert kwargs.get("_get_pty") is False
        raw = command.get_raw_value()
        self.shell_commands.append(raw)
        self.shell_kwargs.append(kwargs)
        return raw
