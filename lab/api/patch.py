"""The three PATCH flavours of Kubernetes 1.11: JSON merge patch (RFC 7386), strategic merge patch
(with per-type merge keys and the $patch/$retainKeys/$deleteFromPrimitiveList/$setElementOrder
directives) and JSON patch (RFC 6902)."""
import copy


class PatchError(Exception):
    """A patch that cannot be applied (-> 422 in the API, or 400 for malformed patches)."""

    def __init__(self, message, code=422):
        Exception.__init__(self, message)
        self.code = code


# ---------------------------------------------------------------- JSON merge patch
def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---------------------------------------------------------------- strategic merge patch
def strategic_merge_patch(target, patch, merge_key):
    """merge_key(path) -> field name, '$primitive' or None (replace), for the list at path."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object", 400)
    return _smp_map(target if isinstance(target, dict) else {}, patch, merge_key, ())


def _smp_map(orig, patch, mk, path):
    directive = patch.get("$patch")
    if directive == "replace":
        return _smp_map({}, dict((k, v) for k, v in patch.items() if k != "$patch"), mk, path)
    if directive not in (None, "merge", "delete"):
        raise PatchError("unknown patch type: %s in map: %r" % (directive, patch))
    out = copy.deepcopy(orig) if isinstance(orig, dict) else {}
    # directives first, then ordinary fields
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if not isinstance(v, list):
                raise PatchError("$deleteFromPrimitiveList/%s must be a list" % field)
            if isinstance(out.get(field), list):
                out[field] = [x for x in out[field] if x not in v]
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        sub = path + (k,)
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            if v.get("$patch") == "delete":
                out.pop(k, None)
            else:
                out[k] = _smp_map(out.get(k) if isinstance(out.get(k), dict) else {}, v, mk, sub)
        elif isinstance(v, list):
            out[k] = _smp_list(out.get(k), v, mk, sub)
        else:
            out[k] = copy.deepcopy(v)
    retain = patch.get("$retainKeys")
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("$retainKeys must be a list")
        out = dict((k, v) for k, v in out.items() if k in retain)
    return out


def _fresh(v, mk, path):
    """A patch value used as a new element: directives and nulls stripped."""
    if isinstance(v, dict):
        return _smp_map({}, v, mk, path)
    if isinstance(v, list):
        return _smp_list([], v, mk, path)
    return copy.deepcopy(v)


def _smp_list(orig, patch, mk, path):
    orig = orig if isinstance(orig, list) else []
    key = mk(path)
    replace = [e for e in patch if isinstance(e, dict) and e.get("$patch") == "replace"]
    if key is None or replace:
        return [_fresh(e, mk, path) for e in patch
                if not (isinstance(e, dict) and e.get("$patch") in ("replace", "delete"))]
    out = copy.deepcopy(orig)
    if key == "$primitive":
        for e in patch:
            if isinstance(e, (dict, list)):
                raise PatchError("list at %s holds scalars only" % ".".join(path))
            if e not in out:
                out.append(e)
        return out
    for e in patch:
        if not isinstance(e, dict):
            raise PatchError("%s: list elements must be objects (merge key %s)" % (".".join(path), key))
        if key not in e:
            raise PatchError("map: %r does not contain declared merge key: %s" % (e, key))
        idx = [i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == e[key]]
        if e.get("$patch") == "delete":
            out = [o for i, o in enumerate(out) if i not in idx]
        elif idx:
            out[idx[0]] = _smp_map(out[idx[0]], e, mk, path)
        else:
            out.append(_fresh(e, mk, path))
    return out


# ---------------------------------------------------------------- JSON patch
def _tokens(pointer):
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError("invalid JSON pointer %r" % pointer, 400)
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _parent(doc, tokens, pointer):
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                raise PatchError("doc is missing path: %s" % pointer)
            cur = cur[t]
        elif isinstance(cur, list):
            try:
                cur = cur[int(t)]
            except (ValueError, IndexError):
                raise PatchError("doc is missing path: %s" % pointer)
        else:
            raise PatchError("doc is missing path: %s" % pointer)
    return cur


def _get(doc, pointer):
    tokens = _tokens(pointer)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, pointer)
    last = tokens[-1]
    try:
        if isinstance(parent, dict):
            return parent[last]
        if isinstance(parent, list):
            return parent[int(last)]
    except (KeyError, ValueError, IndexError):
        pass
    raise PatchError("doc is missing path: %s" % pointer)


def _remove(doc, pointer):
    tokens = _tokens(pointer)
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, tokens, pointer)
    last = tokens[-1]
    try:
        if isinstance(parent, dict):
            return parent.pop(last)
        if isinstance(parent, list):
            return parent.pop(int(last))
    except (KeyError, ValueError, IndexError):
        pass
    raise PatchError("Unable to remove nonexistent key: %s: missing value" % last)


def _add(doc, pointer, value, replace=False):
    tokens = _tokens(pointer)
    if not tokens:
        return copy.deepcopy(value)
    parent = _parent(doc, tokens, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError("replace operation does not apply: doc is missing key: %s" % pointer)
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(copy.deepcopy(value))
        else:
            try:
                i = int(last)
            except ValueError:
                raise PatchError("invalid array index %r" % last)
            if replace:
                if not 0 <= i < len(parent):
                    raise PatchError("replace operation does not apply: doc is missing key: %s" % pointer)
                parent[i] = copy.deepcopy(value)
            else:
                if not 0 <= i <= len(parent):
                    raise PatchError("add operation does not apply: index out of range: %s" % pointer)
                parent.insert(i, copy.deepcopy(value))
    else:
        raise PatchError("doc is missing path: %s" % pointer)
    return doc


def json_patch(target, ops):
    if not isinstance(ops, list):
        raise PatchError("json patch must be a JSON array of operations", 400)
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError("invalid JSON patch operation %r" % (op,), 400)
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError("%s operation requires a value" % kind, 400)
        if kind == "add":
            doc = _add(doc, path, op["value"])
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, op["value"], replace=True)
        elif kind == "move":
            value = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, _get(doc, op.get("from", "")))
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchError("testing value %s failed" % path)
        else:
            raise PatchError("Unexpected kind: %s" % kind, 400)
    return doc
