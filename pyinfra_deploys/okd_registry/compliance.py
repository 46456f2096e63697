"""Compliance checks of the registry credentials files, the pyinfra front end of
roles/registry_compliance (playbooks/compliance.yml).

The decisions are the shared core's (``plugins.module_utils.compliance.evaluate_file`` /
``summarize``); the expectations and the per-host report are made by the very functions the role's
filters use (``plugins.filter.compliance.registry_expectation`` / ``compliance_host_report``), so
both front ends write the same report: same check ids, statuses and messages for the same inputs.

What the host is asked, and how nothing secret is printed (pyinfra prints facts with -vvv):

* ``RegistryComplianceStat`` (a fact: mode, numeric owner, directory mode; never the content);
* the file's content, read with ``host.run_shell_command(..., print_output=False)`` (not a fact) and
  kept in the deploy's memory; it is parsed by the core on the controller;
* ``skopeo inspect --authfile FILE docker://REGISTRY/IMAGE`` (output not printed) for the ``access``
  check: the file's own credentials, from the host, as the module's login + manifest pull from the
  host. The host needs no Python.

Nothing is changed on any host. The checks run inside the operation, so they see the files as they
are when it runs: while pyinfra prepares when it detects changes (``--dry``, or without ``-y``), and
again when it executes. Each host's result goes into the report on the controller as soon as it is
known (the whole file is rewritten atomically, so it is complete once the last host is checked);
with ``--dry`` the report is written too (like the role's report task in check mode).
"""
from __future__ import annotations

import json
import os
import re

from gevent.lock import Semaphore
from pyinfra import host, logger
from pyinfra import state as pyinfra_state
from pyinfra.api import FunctionCommand, OperationError, QuoteString, StringCommand, operation
from pyinfra.api.exceptions import PyinfraError  # noqa: F401  (what a failed connect raises; tests use it)
from pyinfra.facts.server import Which

from . import REPO_ROOT  # noqa: F401  (puts the repository root on sys.path)
from . import settings
from .facts import RegistryComplianceStat
from .operations import RedactedList, _connector_arguments
from plugins.filter.compliance import compliance_host_report, registry_expectation
from plugins.module_utils import cluster_compliance
from plugins.module_utils import compliance as core
from plugins.module_utils.dockercfg import get_credentials
from plugins.module_utils.localfile import write_private
from plugins.module_utils.registry_entry import pull_host, registry_entry
from plugins.module_utils.errors import ToolkitError

DEFAULT_PATHS = ["/var/lib/origin/.docker/config.json"]
REPORT_NAME = "compliance-report.json"
GENERATED_BY = "okd-registry-toolkit registry_compliance"

#: seconds one ``skopeo inspect`` may take (skopeo has no per-request timeout; the module gives each
#: of its HTTP requests 30 s, and a pull check is about four requests: /v2/, token, manifest, config)
ACCESS_TIMEOUT = 120


# stderr marker of the read command (never followed by content)
_NO_FILE = "okd-registry-read: not a regular file"


class ComplianceSettingsError(settings.SettingsError):
    """A setting of the compliance deploy has an invalid value."""


class HostCheckError(Exception):
    """The host could not be checked (a file that cannot be read, ...): reported as the host's
    ``error`` and fails the host, as a failed module run does in the role."""


# ----------------------------------------------------------------------------------- settings

def _flag(data, name, default):
    return settings.flag(data, name, default, role="registry_compliance", error=ComplianceSettingsError)


def _text(data, name, default=""):
    return settings.text(data, name, default, role="registry_compliance", error=ComplianceSettingsError)


def default_report_path(environ=None, cwd=None):
    """The role's default, ``{{ lookup('env', 'PWD') }}/compliance-report.json``: the directory
    pyinfra was started from."""
    environ = os.environ if environ is None else environ
    return os.path.join(environ.get("PWD") or cwd or os.getcwd(), REPORT_NAME)


def compliance_settings(data, environ=None, cwd=None):
    """The deploy's settings from host.data (anything with .get), with the role's names, defaults and
    meanings (roles/registry_compliance/defaults/main.yml). Raises ComplianceSettingsError naming the
    variable (never a secret: a bad registries entry is named by its name or host)."""
    registries = data.get("registry_compliance_registries")
    if registries is None:
        registries = data.get("okd_registries") or []
    if isinstance(registries, (str, dict)) or not isinstance(registries, (list, tuple)):
        raise ComplianceSettingsError("registry_compliance: registry_compliance_registries must be a "
                                      "list of {name, host, username, password, test_image}")
    expected = RedactedList()
    for index, entry in enumerate(registries):
        if not isinstance(entry, dict):
            raise ComplianceSettingsError("registry_compliance: registry_compliance_registries entry "
                                          "#%d is not a mapping" % (index + 1))
        label = entry.get("name") or "#%d" % (index + 1)
        if not entry.get("host") and not entry.get("registry"):
            raise ComplianceSettingsError("registry_compliance: registry_compliance_registries entry %s "
                                          "has no host" % label)
        try:
            # the core's entry model: registry or host, maybe path-scoped (quay.io/orgA)
            expected.append(registry_expectation(registry_entry(entry, "entry %s" % label)))
        except ToolkitError as exc:
            raise ComplianceSettingsError("registry_compliance: registry_compliance_registries %s"
                                          % exc.msg)

    paths = settings.path_list(data, "registry_compliance_paths", DEFAULT_PATHS, allow_empty=False,
                               role="registry_compliance", error=ComplianceSettingsError)

    report_path = _text(data, "registry_compliance_report_path", "")
    if not report_path:
        report_path = default_report_path(environ, cwd)
    report_path = os.path.abspath(os.path.join(cwd or os.getcwd(), os.path.expanduser(report_path)))
    report_dir = os.path.dirname(report_path)
    if not os.path.isdir(report_dir) or os.path.isdir(report_path):
        raise ComplianceSettingsError("registry_compliance: registry_compliance_report_path %s: %s"
                                      % (report_path, "is a directory" if os.path.isdir(report_path)
                                         else "directory %s does not exist" % report_dir))
    return {
        "registries": expected,
        "paths": list(paths),
        "verify_access": _flag(data, "registry_compliance_verify_access", True),
        "ca_file": _text(data, "registry_compliance_ca_file", ""),
        "report_path": report_path,
        "fail_on_findings": _flag(data, "registry_compliance_fail_on_findings", True),
    }


# ----------------------------------------------------------------------------------- the host

def read_command(path):
    """``cat`` the file and a final ``.`` (so the exact content, trailing newline or not, is known);
    a missing or non-regular file is a marker on stderr, never content."""
    script = ('f=$1; if [ -f "$f" ]; then cat "$f" && echo .; exit; fi; echo "%s" >&2; exit 1'
              % _NO_FILE)
    return StringCommand("sh", "-c", QuoteString(script), "okd-registry-read", QuoteString(path))


def content_of(stdout_lines):
    """The file's text from the read command's stdout lines (None when the output is cut short)."""
    text = "\n".join(stdout_lines)
    if not text.endswith("."):
        return None
    return text[:-1]


def read_file(path):
    """The file's text, never printed (print_output=False), never in a fact."""
    kwargs = _connector_arguments()
    kwargs["_get_pty"] = False  # a PTY would mix stderr into stdout
    status, output = host.run_shell_command(read_command(path), print_output=False,
                                            print_input=pyinfra_state.print_input, **kwargs)
    text = content_of(output.stdout_lines) if status else None
    if text is None:
        cause = output.stderr.strip() or "the read ended early"
        if _NO_FILE in cause:
            cause = "it is gone or no longer a regular file"
        raise HostCheckError("%s: cannot read %s: %s" % (host.name, path, cause))
    return text


def gather(path):
    """(stat for core.evaluate_file or None when missing, content): what the module's gather()
    takes from os.stat and the file."""
    info = host.get_fact(RegistryComplianceStat, path=path)
    if not info["exists"]:
        return None, None
    if info["type"] != "file":
        raise HostCheckError("%s: %s exists but is not a regular file" % (host.name, path))
    stat = {"mode": info["mode"], "uid": info["uid"], "dir_mode": info["dir_mode"]}
    return stat, read_file(path)


def image_reference(registry, image):
    """``docker://HOST/IMAGE`` (a leading ``HOST/`` of the image is not repeated; a path scope of the
    registry key is not part of the host: ``quay.io/orgA`` + ``orgA/app:1`` -> ``docker://quay.io/orgA/app:1``)."""
    host = pull_host(registry)
    if image.startswith(host + "/"):
        image = image[len(host) + 1:]
    return "docker://%s/%s" % (host, image)


def access_command(skopeo, authfile, reference, ca_file=None):
    """``skopeo inspect --authfile FILE REFERENCE``: the file's own credentials, none on the command
    line. With a CA bundle (registry_compliance_ca_file): ``SSL_CERT_FILE`` for skopeo, which Go
    takes instead of the system trust store (as the module's ca_file replaces it); skopeo also reads
    /etc/{containers,docker}/certs.d/<registry>/*.crt, where the module looks for ca.crt."""
    parts = []
    if ca_file:
        parts += ["env", QuoteString("SSL_CERT_FILE=%s" % ca_file)]
    if authfile is None:  # the anonymous probe: does the registry ask for credentials at all?
        parts += [skopeo, "inspect", "--no-creds", QuoteString(reference)]
    else:
        parts += [skopeo, "inspect", "--authfile", QuoteString(authfile), QuoteString(reference)]
    return StringCommand(*parts)


_SKOPEO_MSG = re.compile(r'level=(?:fatal|error) msg="((?:[^"\\]|\\.)*)"')
_SKOPEO_PREFIX = re.compile(r'^Error parsing image name "[^"]*": ')
_CONTROL = re.compile(u"[\x00-\x1f\x7f]+")


def skopeo_cause(stderr_lines, limit=400):
    """skopeo's message, on one line: its ``msg="..."`` unquoted, the ``Error parsing image name``
    prefix that skopeo puts before every registry error dropped."""
    messages = []
    for line in stderr_lines:
        match = _SKOPEO_MSG.search(line)
        if match:
            raw = match.group(1)
            try:
                text = json.loads('"%s"' % raw)
            except ValueError:
                text = raw.replace('\\"', '"').replace("\\n", "\n")
        else:
            text = line
        text = _SKOPEO_PREFIX.sub("", text.strip())
        text = "; ".join(part.strip() for part in text.split("\n") if part.strip())
        if text:
            messages.append(text)
    cause = _CONTROL.sub(" ", "; ".join(messages)).strip() or "skopeo failed without a message"
    if len(cause) > limit:
        cause = cause[:limit - 3] + "..."
    return cause


def access_results(expected, first, ca_file=None, timeout=ACCESS_TIMEOUT):
    """The module's ``access`` results, from the host with skopeo.

    first: {"path", "config"} of the first file that parsed, or None. Per expected registry:
    skip "no credentials to try" (the module's words) when that file has no entry; skip when the
    registry has no test_image (skopeo has no login-only check) or the host has no skopeo; else pass
    ("logged in as USER; pulled manifest of IMAGE (DIGEST)", the module's words), untested when the
    image can be pulled without credentials too (``skopeo inspect --no-creds``: the registry never asked
    for them), or fail with skopeo's message."""
    out = []
    skopeo = False  # not looked up yet
    for ex in expected:
        registry = ex["registry"]
        creds = get_credentials(first["config"], registry) if first is not None else None
        if creds is None:
            out.append(core.result("access", core.SKIP, "no credentials to try", registry=registry))
            continue
        image = ex.get("test_image")
        if not image:
            out.append(core.result("access", core.SKIP, "no test_image to pull; skopeo has no "
                                   "login-only check, access not checked from the host",
                                   registry=registry))
            continue
        if skopeo is False:
            skopeo = host.get_fact(Which, command="skopeo")
        if not skopeo:
            out.append(core.result("access", core.SKIP, "skopeo is not installed on %s; access not "
                                   "checked from the host" % host.name, registry=registry))
            continue
        kwargs = _connector_arguments()
        kwargs["_get_pty"] = False
        if not kwargs.get("_timeout"):
            kwargs["_timeout"] = timeout
        reference = image_reference(registry, image)
        try:
            ok, output = host.run_shell_command(
                access_command(skopeo, first["path"], reference, ca_file), print_output=False,
                print_input=pyinfra_state.print_input, **kwargs)
        except TimeoutError:
            out.append(core.result("access", core.FAIL, "%s: skopeo did not finish within %s s pulling "
                                   "%s with %s" % (registry, kwargs["_timeout"], image, first["path"]),
                                   registry=registry))
            continue
        if not ok:
            out.append(core.result("access", core.FAIL, "%s: skopeo cannot pull %s with %s: %s" % (
                registry, image, first["path"], skopeo_cause(output.stderr_lines)), registry=registry))
            continue
        digest = None
        try:
            digest = json.loads("\n".join(output.stdout_lines)).get("Digest")
        except (ValueError, AttributeError):
            pass
        # skopeo cannot tell whether the registry asked for the credentials: pull once more without
        # any; when that works too the credentials were not tested (the module's "untested")
        try:
            anonymous, _ = host.run_shell_command(
                access_command(skopeo, None, reference, ca_file), print_output=False,
                print_input=pyinfra_state.print_input, **kwargs)
        except TimeoutError:
            anonymous = False
        out.append(core.access_result(registry, {"credentials_tested": not anonymous, "username": creds[0],
                                                 "digest": digest}, image))
    return out


def check_host(paths, expected, verify_access=True, ca_file=None, timeout=ACCESS_TIMEOUT):
    """What the module returns for this host: {"changed": False, "results", "summary", "compliant"}.
    Raises HostCheckError when a file cannot be read."""
    results = []
    first = None
    node_content = None
    for index, path in enumerate(paths):
        stat, content = gather(path)
        if index == 0:
            node_content = content
        res, config = core.evaluate_file(path, stat, content, expected)
        results.extend(res)
        if first is None and config is not None:
            first = {"path": path, "config": config}
    if verify_access:
        results.extend(access_results(expected, first, ca_file=ca_file or None, timeout=timeout))
    summary = core.summarize(results)
    # _node_content: the first file's text for the node-vs-master comparison (popped before any report)
    return {"changed": False, "results": results, "summary": summary,
            "compliant": summary["compliant"], "_node_content": node_content}


# ----------------------------------------------------------------------------------- the report

_lock = Semaphore()  # hosts run in greenlets (also in API mode, where threading is not patched)
_RUNS = "_okd_registry_compliance_reports"       # on the pyinfra State: {(path, executing): hosts}
_UNREACHABLE = "_okd_registry_compliance_unreachable"  # on the pyinfra State: {host name: error}
_CONTENTS = "_okd_registry_compliance_contents"  # on the pyinfra State: {(path, executing): {host: text}}
MASTERS_GROUP = "masters"


def _run_store(state, attribute):
    """A dict kept on the pyinfra State of this run (through pyinfra's context proxy, which forwards
    attributes to the State of the current run)."""
    store = getattr(state, attribute, None)
    if store is None:
        store = {}
        setattr(state, attribute, store)
    return store


def render_report(hosts, cluster=None):
    """The role's report: ``{generated_by, hosts, cluster?}`` as its ``to_nice_json`` (4 spaces, sorted keys)."""
    doc = {"generated_by": GENERATED_BY, "hosts": hosts}
    if cluster is not None:
        doc["cluster"] = cluster
    return json.dumps(doc, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


def write_report(path, hosts, cluster=None):
    """Atomically (temp file in the same directory, renamed), mode 0600 like the role's copy (the
    report names hosts, users and paths: readable by the controller user only)."""
    write_private(path, render_report(hosts, cluster).encode("utf-8"))


def unreachable_error(state, other):
    """Why pyinfra could not connect to `other` at the start of the run. pyinfra keeps only the log
    line, so the connection is tried once more (per run) for the message, as Ansible's report has it."""
    cache = _run_store(state, _UNREACHABLE)
    if other.name not in cache:
        message = "pyinfra could not connect to %s when the run started" % other.name
        try:
            other.connect(reason="reading the connection error", show_errors=False,
                          raise_exceptions=True)
        except Exception as exc:  # ConnectError, or whatever the connector raises
            message = "%s (%s)" % (message, ("%s" % exc) or type(exc).__name__)
        else:
            message += " (a second attempt worked: a transient failure; run again)"
            try:
                other.disconnect()
            except Exception:  # pragma: no cover - best effort
                pass
        cache[other.name] = message
    return cache[other.name]


def _report_path_of(other, default):
    try:
        return compliance_settings(other.data)["report_path"]
    except Exception:
        return default


def new_run(state, report_path):
    """Every host of this run that reports to `report_path` (those outside --limit are not in it, as
    Ansible's play hosts): unreachable ones (pyinfra could not connect) as the role reports them, the
    others "no result (host skipped)" until their check is done (a host that pyinfra drops before the
    check, e.g. after an earlier operation failed, stays so, as in the role)."""
    hosts = {}
    activated = getattr(state, "activated_hosts", set())
    for other in state.inventory:
        if not state.is_host_in_limit(other):
            continue
        if _report_path_of(other, report_path) != report_path:
            continue
        if other in activated:
            hosts[other.name] = compliance_host_report(None)
        else:
            hosts[other.name] = compliance_host_report(
                {"unreachable": True, "msg": unreachable_error(state, other)})
    return hosts


def master_of(state):
    """The first host of the inventory group ``masters`` (the reference file), or None."""
    try:
        group = state.inventory.get_group(MASTERS_GROUP)
    except Exception:  # no such group
        return None
    for other in group:
        return other.name
    return None


def node_comparison(state, key, report_hosts, name, content):
    """The report's ``cluster`` section with node_matches_master (the role's check id and messages),
    once every host of the run has been read, else None. Contents stay in memory on the controller."""
    contents = _run_store(state, _CONTENTS).setdefault(key, {})
    if name is not None:
        contents[name] = content
    master = master_of(state)
    if master is None or master not in report_hosts:
        return None
    pending = [h for h, r in report_hosts.items()
               if h not in contents and not r.get("unreachable")]
    if pending:
        return None
    known = dict((h, contents.get(h)) for h in report_hosts)
    results = cluster_compliance.check_nodes_against_master(master, known)
    summary = cluster_compliance.summarize(results)
    return {"compliant": summary["compliant"], "counts": summary["counts"], "results": results}


def record(state, name, report_path, host_report, executing, content=None):
    """Put one host's report into the run's report and rewrite the file. The prepare phase and the
    execution phase each start from a fresh report (execution results replace prepare results).
    Returns (hosts, cluster section or None until every host is read)."""
    with _lock:
        runs = _run_store(state, _RUNS)
        key = (report_path, bool(executing))
        if key not in runs:
            runs[key] = new_run(state, report_path)
            logger.info("registry compliance: report %s" % report_path)
        runs[key][name] = host_report
        cluster = node_comparison(state, key, runs[key], name, content)
        try:
            write_report(report_path, runs[key], cluster)
        except OSError as exc:
            raise OperationError("registry_compliance: cannot write the report %s: %s"
                                 % (report_path, exc))
        return runs[key], cluster


# ----------------------------------------------------------------------------------- operation

def _fail_host(state, host, message):
    """Fails the operation on this host without running anything there."""
    host.log_styled(message, fg="red", log_func=logger.error)
    return False


def _failed_messages(result):
    return "; ".join(r["message"] for r in result["summary"]["failed"])


@operation()
def _registry_compliance(paths=tuple(DEFAULT_PATHS), registries=(), verify_access=True, ca_file="",
                         report_path=None, fail_on_findings=True, timeout=ACCESS_TIMEOUT):
    """See registry_compliance."""
    state = pyinfra_state
    executing = bool(state.is_executing)
    try:
        result = check_host(list(paths), registries, verify_access=verify_access, ca_file=ca_file,
                            timeout=timeout)
    except (HostCheckError, ToolkitError) as exc:  # the module's fail_json(msg=str(e))
        result = {"failed": True, "msg": "%s" % exc}
    node_content = result.pop("_node_content", None)
    report = compliance_host_report(result)
    cluster = None
    if report_path:
        _, cluster = record(state, host.name, report_path, report, executing, node_content)
    if cluster is not None and not cluster["compliant"]:
        # the last host read completes the comparison; it carries the cluster's failure (pyinfra exits non-zero)
        failed = "; ".join(r["message"] for r in cluster["results"] if r["status"] == core.FAIL)
        if executing and fail_on_findings:
            yield FunctionCommand(_fail_host, ("the nodes' files differ from the master's; see %s: %s"
                                               % (report_path, failed),), {})
        else:
            logger.warning("registry compliance: node files differ from the master's: %s", failed)

    # the role's "Summarize findings" and "Fail when a host is not compliant" (after the report is
    # written; a host that could not be checked fails whatever fail_on_findings says, as a failed
    # module run does). The failure runs nothing on the host.
    if result.get("failed"):
        if executing:
            yield FunctionCommand(_fail_host, (result["msg"],), {})
        else:
            logger.warning("%sregistry compliance: %s", host.print_prefix, result["msg"])
        return
    counts = result["summary"]["counts"]
    if result["compliant"]:
        host.noop("compliant (%d checks passed, %d skipped)" % (counts.get(core.PASS, 0),
                                                               counts.get(core.SKIP, 0)))
        return
    if executing and fail_on_findings:
        yield FunctionCommand(_fail_host, ("%s is not compliant (%d failed checks); see %s: %s" % (
            host.name, counts.get(core.FAIL, 0), report_path or "the results",
            _failed_messages(result)),), {})
        return
    logger.warning("%sregistry compliance: NOT compliant: %s", host.print_prefix, _failed_messages(result))
    if not fail_on_findings:
        host.noop("NOT compliant (%d failed checks); registry_compliance_fail_on_findings is off"
                  % counts.get(core.FAIL, 0))


def registry_compliance(paths=tuple(DEFAULT_PATHS), registries=(), verify_access=True, ca_file="",
                        report_path=None, fail_on_findings=True, timeout=ACCESS_TIMEOUT, **kwargs):
    """
    Check the registry credentials files of the host, like the module
    okd.registry_toolkit.registry_compliance, and put the host's results into the report.

    + paths: credentials files (presence, mode 0600, owner root, directory 0700, valid JSON, an entry
      per registry, the expected credential)
    + registries: expectations ({registry, username?, password?, test_image?}, as the role's filter
      registry_expectation makes them; compared by fingerprint, never printed)
    + verify_access: also pull each registry's test_image from the host with the first valid file
      (skopeo inspect --authfile)
    + ca_file: CA bundle on the host for the registries' TLS (default: skopeo's certs.d lookup)
    + report_path: the JSON report on the controller (None: no report)
    + fail_on_findings: fail the host when a check failed (the report is written first)

    Changes nothing on the host. The operation is always named without its arguments.
    """
    kwargs.setdefault("name", "Registry compliance")
    registries = RedactedList(registries)
    return _registry_compliance(paths=tuple(paths), registries=registries, verify_access=verify_access,
                                ca_file=ca_file, report_path=report_path,
                                fail_on_findings=fail_on_findings, timeout=timeout, **kwargs)


registry_compliance._inner = _registry_compliance._inner  # type: ignore[attr-defined]
