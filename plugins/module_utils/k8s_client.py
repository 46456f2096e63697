# -*- coding: utf-8 -*-
# okd-registry-toolkit: the HTTP adapter of the okd_* modules (runs on the controller).
"""A small OKD 3.11 API client over ansible's ``open_url``: the kubeconfig's server, CA and bearer
token (or client certificate), JSON in and out, Status errors turned into ToolkitError with clear
messages. Plus ``ensure_object``/``remove_object``: create-or-update with a client-side diff (GET +
compare + JSON merge patch only when needed), because OKD 3.11 has no server-side apply or dry run.

Not part of the no-I/O core: this file reads the kubeconfig and talks HTTP.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket
import tempfile

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six import string_types
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible.module_utils.urls import open_url

from .errors import ToolkitError
from .k8s import (api_error, apply_patch, compare, connection_from_kubeconfig, describe, immutable_change,
                  kind_info, normalize_definition, object_path, redact, resource_path, strip_none, unreachable_error,
                  with_resource_version)

try:
    import ssl
    _SSL_ERRORS = (ssl.SSLError, ssl.CertificateError)
except Exception:  # pragma: no cover
    _SSL_ERRORS = ()

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False


def k8s_argument_spec():
    """Options shared by every okd_* module (documented in doc_fragments/okd_api.py). The connection
    options default to None: unset ones come from K8S_AUTH_* variables (see connection_settings)."""
    return dict(
        kubeconfig=dict(type="path"),
        context=dict(type="str"),
        host=dict(type="str"),
        api_key=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", aliases=["verify_ssl"]),
        ca_file=dict(type="path", aliases=["ca_cert", "ssl_ca_cert"]),
        api_timeout=dict(type="int", default=30),
        allow_plain_http=dict(type="bool", default=False),
    )


# The environment variables of kubernetes.core (plugins/module_utils/k8s/client.py, _create_auth_spec:
# K8S_AUTH_<option> then K8S_AUTH_<kubernetes client name>; the first non-empty one counts), which AWX's
# OpenShift/Kubernetes credential type sets.
_ENV_NAMES = (
    ("kubeconfig", ("K8S_AUTH_KUBECONFIG",)),
    ("context", ("K8S_AUTH_CONTEXT",)),
    ("host", ("K8S_AUTH_HOST",)),
    ("api_key", ("K8S_AUTH_API_KEY",)),
    ("validate_certs", ("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL")),
    ("ca_file", ("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT")),
)


def connection_settings(params, environ=None):
    """{kubeconfig, context, host, api_key, validate_certs, ca_file}: each the module option when given,
    else its K8S_AUTH_* environment variable, else None - kubernetes.core's precedence. A boolean
    variable is false for 0/false/no (any case), like kubernetes.core."""
    env = os.environ if environ is None else environ
    out = {}
    for option, names in _ENV_NAMES:
        value = params.get(option)
        if value is None:
            value = next((env[n] for n in names if env.get(n)), None)
            if value is not None and option == "validate_certs":
                value = value.lower() not in ("0", "false", "no")
            elif value is not None and option in ("kubeconfig", "ca_file"):
                value = os.path.expanduser(value)
        out[option] = value
    return out


def default_kubeconfig(environ=None):
    """The kubeconfig the kubernetes client uses when none is named: the first of $KUBECONFIG, else
    ~/.kube/config."""
    env = os.environ if environ is None else environ
    first = (env.get("KUBECONFIG") or "").split(os.pathsep)[0]
    return os.path.expanduser(first or "~/.kube/config")


def connection(params, environ=None):
    """(connection settings like k8s.connection_from_kubeconfig's, validate_certs, ca_file) of a module's
    parameters, as kubernetes.core resolves them (module_utils/k8s/client.py, _create_configuration):
    host and api_key (options or K8S_AUTH_HOST/K8S_AUTH_API_KEY) are enough by themselves; otherwise the
    kubeconfig (option, K8S_AUTH_KUBECONFIG, else $KUBECONFIG or ~/.kube/config) is read and a given
    host or api_key overrides its server or token."""
    auth = connection_settings(params, environ)
    host = auth["host"]
    if host is not None:
        host = host.strip().rstrip("/")
        if not (host.startswith("https://") or host.startswith("http://")):
            raise ToolkitError("host %r (option host or K8S_AUTH_HOST) is not an http(s) URL" % host)
    if host and auth["api_key"]:
        conn = dict(server=host, context=None, namespace=None, insecure=False, ca_data=None, ca_file=None,
                    token=auth["api_key"], client_cert_data=None, client_key_data=None, client_cert_file=None,
                    client_key_file=None, username=None, password=None)
    else:
        path = auth["kubeconfig"]
        if not path:
            path = default_kubeconfig(environ)
            if not os.path.exists(path):
                raise ToolkitError("no API connection given: set kubeconfig (or K8S_AUTH_KUBECONFIG), or host "
                                   "and api_key (or K8S_AUTH_HOST and K8S_AUTH_API_KEY); %s does not exist"
                                   % path)
        conn = load_kubeconfig(path, auth["context"])
        if host:
            conn["server"] = host
        if auth["api_key"]:
            conn["token"] = auth["api_key"]
    if conn["server"].lower().startswith("http://") and not params.get("allow_plain_http"):
        # issue 8: the bearer token (or password) would travel in clear text
        raise ToolkitError("the API server %s is plain http: its credentials (bearer token or password) would "
                           "travel in clear text. Use its https URL, or set allow_plain_http=true to accept that "
                           "explicitly" % conn["server"])
    validate = True if auth["validate_certs"] is None else bool(auth["validate_certs"])
    return conn, validate, auth["ca_file"]


def load_kubeconfig(path, context=None):
    """Read a kubeconfig file (YAML) -> connection settings (see k8s.connection_from_kubeconfig)."""
    if not HAS_YAML:
        raise ToolkitError("PyYAML is needed on the controller to read the kubeconfig")
    if not path:
        raise ToolkitError("no kubeconfig given")
    try:
        with open(path, "r") as f:
            cfg = yaml.safe_load(f)
    except (IOError, OSError) as e:
        raise ToolkitError("cannot read kubeconfig %s: %s" % (path, e.strerror or e))
    except yaml.YAMLError as e:
        raise ToolkitError("kubeconfig %s is not valid YAML: %s" % (path, str(e).splitlines()[0]))
    try:
        return connection_from_kubeconfig(cfg, context=context, base_dir=os.path.dirname(os.path.abspath(path)))
    except ToolkitError as e:
        raise ToolkitError("%s (%s)" % (e.msg, path))


class Client(object):
    """HTTP client for one API server. Use as a context manager (temp files for inline CA/key data)."""

    def __init__(self, conn, validate_certs=True, ca_file=None, timeout=30):
        self.conn = conn
        self.server = conn["server"]
        self.validate_certs = bool(validate_certs) and not conn.get("insecure")
        self.timeout = timeout
        self._tmp = []
        self.ca_path = ca_file or conn.get("ca_file")
        if not ca_file and conn.get("ca_data"):
            self.ca_path = self._tempfile(conn["ca_data"])
        self.client_cert = conn.get("client_cert_file")
        self.client_key = conn.get("client_key_file")
        if conn.get("client_cert_data"):
            self.client_cert = self._tempfile(conn["client_cert_data"])
        if conn.get("client_key_data"):
            self.client_key = self._tempfile(conn["client_key_data"])
        self.requests = []  # (method, path, status) of every request made, for results and tests

    @classmethod
    def from_params(cls, params, environ=None):
        conn, validate_certs, ca_file = connection(params, environ)
        return cls(conn, validate_certs=validate_certs, ca_file=ca_file, timeout=params.get("api_timeout") or 30)

    def _tempfile(self, text):
        fd, path = tempfile.mkstemp(prefix="okd-k8s-", suffix=".pem")  # mode 0600
        self._tmp.append(path)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def close(self):
        for p in self._tmp:
            try:
                os.unlink(p)
            except OSError:
                pass
        self._tmp = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def changing_requests(self):
        return [r for r in self.requests if r[0] not in ("GET", "HEAD")]

    def request(self, method, path, body=None, content_type="application/json", allow_404=False):
        url = self.server + path
        headers = {"Accept": "application/json"}
        if self.conn.get("token"):
            headers["Authorization"] = "Bearer %s" % self.conn["token"]
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = content_type
        kwargs = dict(method=method, headers=headers, data=data, timeout=self.timeout,
                      validate_certs=self.validate_certs, ca_path=self.ca_path,
                      client_cert=self.client_cert, client_key=self.client_key,
                      follow_redirects="none", use_proxy=True, use_netrc=False)
        if self.conn.get("username") and not self.conn.get("token"):
            kwargs.update(url_username=self.conn["username"], url_password=self.conn.get("password") or "",
                          force_basic_auth=True)
        try:
            resp = open_url(url, **kwargs)
            status = resp.getcode()
            text = resp.read()
        except HTTPError as e:
            try:
                err_body = e.read()
            except Exception:
                err_body = b""
            self.requests.append((method, path, e.code))
            if e.code == 404 and allow_404:
                return 404, None
            raise api_error(e.code, e.reason if isinstance(e.reason, str) else "", err_body, method, url)
        except URLError as e:
            raise unreachable_error(self.server, getattr(e, "reason", e))
        except _SSL_ERRORS as e:
            raise unreachable_error(self.server, "TLS error: %s" % e)
        except (socket.error, socket.timeout, OSError) as e:
            raise unreachable_error(self.server, e)
        self.requests.append((method, path, status))
        if not text:
            return status, None
        try:
            return status, json.loads(text)
        except ValueError:
            raise ToolkitError("%s %s: the API answered with non-JSON content" % (method, url))

    def get(self, path):
        """The object at ``path`` or None when it does not exist."""
        return self.request("GET", path, allow_404=True)[1]

    def post(self, path, body):
        return self.request("POST", path, body)[1]

    def patch(self, path, patch):
        return self.request("PATCH", path, patch, content_type="application/merge-patch+json")[1]

    def delete(self, path):
        return self.request("DELETE", path, allow_404=True)[1]


# like kubectl apply's patcher (k8s.io/kubernetes pkg/kubectl/cmd/apply.go, maxPatchRetry = 5): a 409 Conflict on
# the guarded PATCH means another writer (a controller updating status, e.g. the DeploymentConfig's) came in
# between the read and the patch; the object is read again and the decision made again
CONFLICT_RETRIES = 5


def ensure_object(client, desired, check_mode=False, namespace=None, guard=True, replace_immutable=False,
                  _attempt=0):
    """Create or update one object so that it satisfies ``desired`` (a subset of the live object).

    GET, compare client-side, then POST (missing) or a JSON merge PATCH (only the differing keys) or
    nothing. ``guard``: the patch carries the resourceVersion read (or the one given in
    ``desired.metadata``), so a concurrent modification fails with 409 Conflict instead of being
    overwritten. In check mode nothing is sent after the GET; the result says what would happen.

    Returns {"changed", "method" (create|patch|None), "before", "after", "object", "patch"}; before/after
    are redacted (Secrets show fingerprints only).
    """
    desired = normalize_definition(desired)
    meta = desired.setdefault("metadata", {})
    if namespace and not meta.get("namespace") and desired.get("kind") != "Namespace":
        meta["namespace"] = namespace
    coll_path, obj_path = object_path(desired, namespace)
    live = client.get(obj_path)
    if live is None:
        body = dict(desired)
        body["metadata"] = dict(meta)
        body["metadata"].pop("resourceVersion", None)
        body = strip_none(body)
        result = {"changed": True, "method": "create", "before": None, "after": redact(body), "patch": None}
        if check_mode:
            result["object"] = redact(body)
            return result
        created = client.post(coll_path, body)
        result["object"] = created
        result["after"] = redact(created)
        return result
    needs, patch = compare(desired, live)
    why = immutable_change(desired, live, patch) if needs else None
    if why and not replace_immutable:
        raise ToolkitError("%s; nothing was changed (the API would refuse the change with 422). Delete and "
                           "re-create it to change that (replace_immutable=true does it)" % why, status=422)
    if why:
        return _replace_object(client, desired, live, coll_path, obj_path, check_mode, why)
    result = {"changed": needs, "method": "patch" if needs else None, "before": redact(live),
              "after": redact(apply_patch(live, patch)) if needs else redact(live),
              "patch": redact(dict(patch, kind=desired.get("kind"))) if needs else None}
    if result["patch"]:
        result["patch"].pop("kind", None)
    if not needs:
        result["object"] = live
        return result
    user_rv = meta.get("resourceVersion")
    if guard:
        patch = with_resource_version(patch, {"metadata": {"resourceVersion": user_rv}} if user_rv else live)
    if check_mode:
        result["object"] = apply_patch(live, patch)
        return result
    try:
        updated = client.patch(obj_path, patch)
    except ToolkitError as e:
        # a resourceVersion the caller gave is a precondition: its conflict is the caller's answer
        if e.status != 409 or not guard or user_rv or _attempt >= CONFLICT_RETRIES:
            raise
        return ensure_object(client, desired, check_mode=check_mode, namespace=namespace, guard=guard,
                             replace_immutable=replace_immutable, _attempt=_attempt + 1)
    result["object"] = updated
    result["after"] = redact(updated)
    return result


def _replace_object(client, desired, live, coll_path, obj_path, check_mode, why):
    """Delete + create for a change of an immutable field, asked for explicitly. The delete happens only when
    the object is still the one read (a no-op PATCH guarded by its resourceVersion, then DELETE with uid and
    resourceVersion preconditions - 1.11 honours only uid); when the create fails, the object read is
    created again."""
    body = strip_none(dict(desired, metadata=dict(desired.get("metadata") or {})))
    body["metadata"].pop("resourceVersion", None)
    result = {"changed": True, "method": "replace", "before": redact(live), "after": redact(body), "patch": None,
              "why": why}
    if check_mode:
        result["object"] = redact(body)
        return result
    meta = live.get("metadata") or {}
    client.patch(obj_path, with_resource_version({}, live))
    client.request("DELETE", obj_path, body={"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {
        "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}}, allow_404=True)
    created = _create_after_delete(client, coll_path, obj_path, body, live)
    result["object"] = created
    result["after"] = redact(created)
    return result


_SERVER_METADATA = ("resourceVersion", "uid", "creationTimestamp", "selfLink", "generation", "managedFields",
                    "deletionTimestamp", "deletionGracePeriodSeconds")


def _create_after_delete(client, coll_path, obj_path, body, live, attempts=30):
    """POST ``body`` after a delete; a deletion still in progress (409 AlreadyExists while a finalizer, e.g. a
    claim's kubernetes.io/pvc-protection, holds the old object) is waited for. On failure ``live`` is restored."""
    import time
    last = None
    for _attempt in range(attempts):
        try:
            return client.post(coll_path, body)
        except ToolkitError as e:
            last = e
            if e.status != 409:
                break
            time.sleep(1)
    restore = dict((k, v) for k, v in live.items() if k != "status")
    restore["metadata"] = dict((k, v) for k, v in (live.get("metadata") or {}).items() if k not in _SERVER_METADATA)
    try:
        client.post(coll_path, restore)
    except ToolkitError as e2:
        raise ToolkitError("re-creating it failed (%s), and restoring the object that was read failed too (%s): "
                           "it is now missing" % (last.msg, e2.msg), status=last.status)
    raise ToolkitError("re-creating it failed (%s); the object that was read was restored" % last.msg,
                       status=last.status)


def remove_object(client, desired, check_mode=False, namespace=None):
    """Delete one object when it exists. Returns {"changed", "method", "before", "after"}."""
    obj_path = object_path(desired, namespace)[1]
    live = client.get(obj_path)
    if live is None:
        return {"changed": False, "method": None, "before": None, "after": None, "object": None}
    if not check_mode:
        client.delete(obj_path)
    return {"changed": True, "method": "delete", "before": redact(live), "after": None, "object": None}


class BatchError(ToolkitError):
    """An object of a list failed: ``what`` names it, ``done`` holds the results of the objects before it."""

    def __init__(self, msg, status=None, what=None, done=None):
        super(BatchError, self).__init__(msg, status=status)
        self.what = what
        self.done = done or []


def ensure_objects(client, definitions, check_mode=False, namespace=None, state="present", replace_immutable=False):
    """``ensure_object`` (or ``remove_object`` for state absent) for each definition, in order, over one
    client (one module call for an object list). Stops at the first failure: BatchError names the object and
    carries the results of the objects before it (what was already changed). Returns one result per
    definition, each with ``what`` ('Kind ns/name') besides ensure_object's keys."""
    done = []
    for definition in definitions:
        what = describe(definition if isinstance(definition, dict) else {}, namespace)
        try:
            if not isinstance(definition, dict):
                raise ToolkitError("each definition must be a dict (an API object), not %s" % type(definition).__name__)
            if state == "present":
                res = ensure_object(client, definition, check_mode=check_mode, namespace=namespace,
                                    replace_immutable=replace_immutable)
            else:
                res = remove_object(client, definition, check_mode=check_mode, namespace=namespace)
        except ToolkitError as e:
            raise BatchError(e.msg, status=e.status, what=what, done=done)
        res["what"] = what
        done.append(res)
    return done


def _selector(value, what):
    """A label/field selector given as a list of 'key=value' terms (joined by commas) or a string."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, string_types):
        return value
    raise ToolkitError("%s must be a list of terms or a string" % what)


def read_objects(client, queries, namespace=None):
    """One list of objects per query, in order (one module call reads what a role decides on).

    A query is {api_version, kind, name, namespace, label_selectors, field_selectors}: with a name the object
    ([] when it does not exist, [object] otherwise), without one the collection (of the namespace, or of the
    cluster for cluster-scoped kinds), filtered by the selectors like ``kubectl get -l``. Items of a list get the
    query's kind and apiVersion (the API leaves them out of list items). Secrets are returned as read: a caller
    showing results must hide them (the role's task is no_log)."""
    out = []
    for q in queries:
        if not isinstance(q, dict) or not q.get("kind"):
            raise ToolkitError("each query needs a kind (and optionally api_version, name, namespace, label_selectors)")
        kind = q["kind"]
        api_version = kind_info(kind, q.get("api_version"))[0]
        ns = q.get("namespace") or namespace
        name = q.get("name")
        if name:
            obj = client.get(resource_path(api_version, kind, ns, name))
            out.append([obj] if obj is not None else [])
            continue
        path = resource_path(api_version, kind, ns)
        params = []
        for key, option in (("labelSelector", "label_selectors"), ("fieldSelector", "field_selectors")):
            sel = _selector(q.get(option), option)
            if sel:
                params.append("%s=%s" % (key, quote(sel, safe="")))
        if params:
            path += "?" + "&".join(params)
        listed = client.get(path)
        items = (listed or {}).get("items") or []
        for item in items:
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", api_version)
        out.append(items)
    return out


def run_module(module, fn):
    """Call fn(client) with a client built from the module params; ToolkitError -> fail_json."""
    try:
        with Client.from_params(module.params) as client:
            return fn(client)
    except ToolkitError as e:
        module.fail_json(msg=e.msg, status=e.status)


__all__ = ["BatchError", "Client", "ensure_object", "ensure_objects", "read_objects", "remove_object",
           "k8s_argument_spec", "load_kubeconfig", "run_module", "describe"]
