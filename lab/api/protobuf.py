"""Just enough Kubernetes protobuf to read what kubectl 1.32+ sends for `kubectl create
namespace|secret|serviceaccount|configmap` (those subcommands POST `application/vnd.kubernetes.protobuf`).

The body is the magic b"k8s\\x00" + runtime.Unknown{typeMeta{apiVersion, kind}, raw}, where raw is
the protobuf of the object (field numbers from k8s.io/api/core/v1/generated.proto). Responses stay
JSON: kubectl accepts them."""
import base64
import struct

MAGIC = b"k8s\x00"


class ProtobufError(Exception):
    pass


def _varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(buf):
    """[(field number, wire type, value)] of one message (value: int or bytes)."""
    out = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v = struct.unpack("<Q", buf[i:i + 8])[0]
            i += 8
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ProtobufError("truncated field %d" % num)
            v = bytes(buf[i:i + n])
            i += n
        elif wt == 5:
            v = struct.unpack("<I", buf[i:i + 4])[0]
            i += 4
        else:
            raise ProtobufError("unsupported wire type %d" % wt)
        out.append((num, wt, v))
    return out


# schema: {field number: (json name, type, repeated)}; type: "str", "bytes" (-> base64), "int", "bool",
# a dict (nested message) or ("map", value type)
_TIME = {1: ("seconds", "int", False), 2: ("nanos", "int", False)}
_OWNER = {1: ("kind", "str", False), 3: ("name", "str", False), 4: ("uid", "str", False),
          5: ("apiVersion", "str", False), 6: ("controller", "bool", False),
          7: ("blockOwnerDeletion", "bool", False)}
_META = {1: ("name", "str", False), 2: ("generateName", "str", False), 3: ("namespace", "str", False),
         4: ("selfLink", "str", False), 5: ("uid", "str", False), 6: ("resourceVersion", "str", False),
         7: ("generation", "int", False), 8: ("creationTimestamp", _TIME, False),
         11: ("labels", ("map", "str"), False), 12: ("annotations", ("map", "str"), False),
         13: ("ownerReferences", _OWNER, True), 14: ("finalizers", "str", True)}
_OBJREF = {1: ("kind", "str", False), 2: ("namespace", "str", False), 3: ("name", "str", False),
           4: ("uid", "str", False), 5: ("apiVersion", "str", False), 6: ("resourceVersion", "str", False),
           7: ("fieldPath", "str", False)}
_LOCALREF = {1: ("name", "str", False)}
SCHEMAS = {
    ("v1", "ConfigMap"): {1: ("metadata", _META, False), 2: ("data", ("map", "str"), False),
                          3: ("binaryData", ("map", "bytes"), False), 4: ("immutable", "bool", False)},
    ("v1", "Secret"): {1: ("metadata", _META, False), 2: ("data", ("map", "bytes"), False),
                       3: ("type", "str", False), 4: ("stringData", ("map", "str"), False),
                       5: ("immutable", "bool", False)},
    ("v1", "ServiceAccount"): {1: ("metadata", _META, False), 2: ("secrets", _OBJREF, True),
                               3: ("imagePullSecrets", _LOCALREF, True),
                               4: ("automountServiceAccountToken", "bool", False)},
    ("v1", "Namespace"): {1: ("metadata", _META, False), 2: ("spec", {1: ("finalizers", "str", True)}, False),
                          3: ("status", {1: ("phase", "str", False)}, False)},
}


def _scalar(typ, wt, v):
    if typ == "str":
        if wt != 2:
            raise ProtobufError("expected a string")
        return v.decode("utf-8")
    if typ == "bytes":
        return base64.b64encode(v).decode("ascii")
    if typ == "int":
        return v - (1 << 64) if v >= 1 << 63 else v
    if typ == "bool":
        return bool(v)
    raise ProtobufError("unknown type %r" % (typ,))


def decode_message(buf, schema):
    out = {}
    for num, wt, v in fields(buf):
        if num not in schema:
            continue        # a field this lab does not know: dropped
        name, typ, repeated = schema[num]
        if isinstance(typ, dict):
            val = decode_message(v, typ)
        elif isinstance(typ, tuple) and typ[0] == "map":
            key = value = None
            for n2, w2, v2 in fields(v):
                if n2 == 1:
                    key = _scalar("str", w2, v2)
                elif n2 == 2:
                    value = _scalar(typ[1], w2, v2)
            out.setdefault(name, {})[key or ""] = value if value is not None else ""
            continue
        else:
            val = _scalar(typ, wt, v)
        if repeated:
            out.setdefault(name, []).append(val)
        else:
            out[name] = val
    # Go's `json:",omitempty"`: zero-valued struct fields are absent (map entries are kept as they are)
    return dict((k, v) for k, v in out.items() if not _empty(v))


def _empty(v):
    if v is None or v is False or v == "":
        return True
    if isinstance(v, int) and not isinstance(v, bool):
        return v == 0
    return isinstance(v, (dict, list)) and not v


def decode(body):
    """A Kubernetes protobuf request body -> the object as JSON-style dict. Raises ProtobufError for
    anything but the kinds kubectl's create subcommands send."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic")
    api_version = kind = None
    raw = b""
    for num, wt, v in fields(body[len(MAGIC):]):
        if num == 1 and wt == 2:
            for n2, w2, v2 in fields(v):
                if n2 == 1:
                    api_version = v2.decode("utf-8")
                elif n2 == 2:
                    kind = v2.decode("utf-8")
        elif num == 2 and wt == 2:
            raw = v
        elif num == 3 and wt == 2 and v:
            raise ProtobufError("content encoding %r is not supported" % v.decode("utf-8", "replace"))
    schema = SCHEMAS.get((api_version, kind))
    if schema is None:
        raise ProtobufError("protobuf bodies of %s/%s are not supported by the lab API (use JSON)"
                            % (api_version, kind))
    obj = decode_message(raw, schema)
    md = obj.get("metadata") or {}
    ts = md.get("creationTimestamp")
    if isinstance(ts, dict):
        md.pop("creationTimestamp")     # server-set anyway
    obj["apiVersion"] = api_version
    obj["kind"] = kind
    obj.setdefault("metadata", md)
    return obj
