"""Who the API stand-in's callers are and what they may do: a simplified 3.11 RBAC (docs/lab-api.md
"Authentication and authorization").

Users:
- the lab's two tokens (`.lab/api/tokens.json`): `admin` and `readonly`;
- service accounts: the token of a `kubernetes.io/service-account-token` secret whose account still exists
  with the uid the secret names (kubernetes 1.11 `pkg/serviceaccount/legacy.go` / jwt.go validation,
  simplified: the lab's tokens are opaque random strings, not JWTs) is the user
  `system:serviceaccount:NS:NAME`, groups `system:serviceaccounts`, `system:serviceaccounts:NS`,
  `system:authenticated`.

Rights (`allowed`), the simplification of 3.11's RBAC authorizer (kubernetes 1.11
`plugin/pkg/auth/authorizer/rbac/rbac.go` RuleAllows / appliesTo, with origin's bootstrap roles):
- `admin` may everything (cluster-admin);
- `readonly` may get, list and watch everything (cluster-reader);
- a service account may get, list and watch everything in its own namespace, and create, update, patch,
  get imagestreams, imagestreams/layers and imagestreamtags there (push: `update` on
  `imagestreams/layers`, which 3.11 grants through system:image-builder / edit in the project);
- besides, every ClusterRoleBinding and RoleBinding (in the namespace of the request) that names the user,
  its service account or one of its groups grants the rules of its ClusterRole/Role, matched like RuleAllows
  (verbs, apiGroups, resources with `resource/subresource` and `*`, resourceNames). That is how the
  `registry` service account gets `system:registry` (create imagestreammappings anywhere) from the
  toolkit's binding, as `oc adm registry` makes it.
"""
import hmac

SA_PREFIX = "system:serviceaccount:"
READ_VERBS = ("get", "list", "watch")
PUSH_RESOURCES = ("imagestreams", "imagestreams/layers", "imagestreamtags")


class User(object):
    def __init__(self, name, groups=(), uid=None):
        self.name = name
        self.groups = list(groups)
        self.uid = uid

    @property
    def service_account(self):
        """(namespace, name) of a service account user, else None."""
        if not self.name.startswith(SA_PREFIX):
            return None
        ns, _, name = self.name[len(SA_PREFIX):].partition(":")
        return (ns, name) if ns and name and ":" not in name else None


def service_account_user(store, token):
    """The User of a service-account token, or None (call with the store lock held or accept a racy read)."""
    import base64
    if not token:
        return None
    want = token.encode("utf-8")
    for s in list((store.data.get("secrets") or {}).values()):
        if s.get("type") != "kubernetes.io/service-account-token":
            continue
        raw = (s.get("data") or {}).get("token")
        if not raw:
            continue
        try:
            have = base64.b64decode(raw)
        except (ValueError, TypeError):
            continue
        if not hmac.compare_digest(have, want):
            continue
        md = s["metadata"]
        ann = md.get("annotations") or {}
        ns, name = md.get("namespace"), ann.get("kubernetes.io/service-account.name")
        sa = store.get("serviceaccounts", ns, name or "")
        if sa is None or (ann.get("kubernetes.io/service-account.uid") not in (None, sa["metadata"].get("uid"))):
            return None     # the account was deleted (and maybe re-created): the token is dead
        return User(SA_PREFIX + "%s:%s" % (ns, name),
                    ["system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"],
                    sa["metadata"].get("uid"))
    return None


def groups_of(user):
    if user == "kubelet":
        return ["system:nodes", "system:authenticated"]
    if user in ("admin", "readonly"):
        return ["system:authenticated", "system:authenticated:oauth"]
    if user.startswith(SA_PREFIX):
        ns = user[len(SA_PREFIX):].split(":")[0]
        return ["system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"]
    return ["system:authenticated"]


def _subject_matches(subj, user, groups, binding_ns):
    kind, name = subj.get("kind"), subj.get("name")
    if kind in ("User", "SystemUser"):
        return name == user
    if kind in ("Group", "SystemGroup"):
        return name in groups
    if kind == "ServiceAccount":
        return user == "%s%s:%s" % (SA_PREFIX, subj.get("namespace") or binding_ns, name)
    return False


def _rule_allows(rule, verb, group, resource, subresource, name):
    """kubernetes 1.11 `pkg/apis/rbac/helpers.go` VerbMatches, APIGroupMatches, ResourceMatches,
    ResourceNameMatches."""
    verbs = rule.get("verbs") or []
    if "*" not in verbs and verb not in verbs:
        return False
    groups = rule.get("apiGroups") or [""]
    if "*" not in groups and group not in groups:
        return False
    combined = resource + ("/" + subresource if subresource else "")
    resources = rule.get("resources") or []
    ok = "*" in resources or combined in resources or (subresource and resource + "/*" in resources) \
        or (not subresource and resource in resources)
    if not ok:
        return False
    names = rule.get("resourceNames") or []
    return not names or name in names


def allowed(store, user, verb, group, resource, subresource="", namespace="", name="", groups=None):
    """(allowed, reason) for the simplified RBAC above (`groups`: the subject's groups, default those the
    lab gives the user)."""
    group = group or ""
    if user in ("admin", "kubelet"):
        return True, "%s may everything (lab)" % user
    if user == "readonly":
        return (verb in READ_VERBS), "readonly may get, list and watch (lab)"
    groups = groups_of(user) if groups is None else list(groups)
    combined = resource + ("/" + subresource if subresource else "")
    if user.startswith(SA_PREFIX):
        sa_ns = user[len(SA_PREFIX):].split(":")[0]
        if namespace and namespace == sa_ns:
            if verb in READ_VERBS:
                return True, "a service account may read its own namespace (lab)"
            if group in ("", "image.openshift.io") and combined in PUSH_RESOURCES \
                    and verb in ("create", "update", "patch", "get"):
                return True, "a service account may push to its own namespace (lab)"
    bindings = [(b, None) for b in store.items("clusterrolebindings.rbac.authorization.k8s.io")]
    if namespace:
        bindings += [(b, namespace) for b in store.items("rolebindings.rbac.authorization.k8s.io", namespace)]
    for b, bns in bindings:
        if not any(_subject_matches(s or {}, user, groups, bns) for s in b.get("subjects") or []):
            continue
        ref = b.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole":
            role = store.get("clusterroles.rbac.authorization.k8s.io", None, ref.get("name") or "")
        else:
            role = store.get("roles.rbac.authorization.k8s.io", bns, ref.get("name") or "") if bns else None
        for rule in (role or {}).get("rules") or []:
            if _rule_allows(rule, verb, group, resource, subresource, name):
                kind = "ClusterRoleBinding" if bns is None else "RoleBinding"
                return True, 'allowed by %s "%s" of %s "%s"' % (kind, b["metadata"]["name"],
                                                               ref.get("kind"), ref.get("name"))
    return False, ""
