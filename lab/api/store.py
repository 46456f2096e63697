"""Object storage of the API stand-in: one global resourceVersion counter, objects by type key and
'namespace/name', persisted to a JSON file with an atomic write after every change."""
import copy
import json
import os
import threading


class Store(object):
    def __init__(self, path):
        self.path = str(path)
        self.lock = threading.RLock()
        self.rv = 0
        self.data = {}

    def load(self):
        try:
            with open(self.path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            return False
        self.rv = int(doc.get("resourceVersion", 0))
        self.data = doc.get("objects") or {}
        return True

    def save(self):
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"resourceVersion": self.rv, "objects": self.data}, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    @staticmethod
    def okey(ns, name):
        return "%s/%s" % (ns, name) if ns else name

    def get(self, key, ns, name):
        obj = self.data.get(key, {}).get(self.okey(ns, name))
        return copy.deepcopy(obj) if obj is not None else None

    def exists(self, key, ns, name):
        return self.okey(ns, name) in self.data.get(key, {})

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def put(self, key, obj):
        """Store obj (its metadata.resourceVersion already set by the caller)."""
        md = obj["metadata"]
        self.data.setdefault(key, {})[self.okey(md.get("namespace"), md["name"])] = copy.deepcopy(obj)

    def delete(self, key, ns, name):
        return self.data.get(key, {}).pop(self.okey(ns, name), None)

    def items(self, key, ns=None):
        out = []
        for k in sorted(self.data.get(key, {})):
            obj = self.data[key][k]
            if ns is None or obj["metadata"].get("namespace") == ns:
                out.append(copy.deepcopy(obj))
        return out

    def keys(self):
        return list(self.data)
