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
