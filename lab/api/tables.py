"""Server-side printing (meta.k8s.io/v1beta1 Table), as a 1.11 apiserver does for `kubectl get`:
kubectl asks with `Accept: application/json;as=Table;v=v1beta1;g=meta.k8s.io,...`. Column sets follow
1.11's printers for the common core types; everything else gets the generic Name / Created At."""
import datetime


def wants_table(accept):
    return "as=Table" in (accept or "") and "g=meta.k8s.io" in (accept or "")


def _age(ts):
    try:
        t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return "<unknown>"
    s = int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm%ds" % (m, s % 60) if s % 60 else "%dm" % m
    if m < 180:
        return "%dm" % m
    h = m // 60
    if h < 48:
        return "%dh" % h
    d = h // 24
    return "%dd" % d if d < 365 * 2 else "%dy" % (d // 365)


def _ports(obj):
    out = []
    for p in (obj.get("spec") or {}).get("ports") or []:
        s = "%s/%s" % (p.get("port"), p.get("protocol") or "TCP")
        if p.get("nodePort"):
            s = "%s:%s/%s" % (p.get("port"), p["nodePort"], p.get("protocol") or "TCP")
        out.append(s)
    return ",".join(out) or "<none>"


def _col(name, typ="string", fmt="", desc="", priority=0):
    return {"name": name, "type": typ, "format": fmt, "description": desc, "priority": priority}


NAME = _col("Name", fmt="name", desc="Name must be unique within a namespace.")
AGE = _col("Age", desc="CreationTimestamp is a timestamp representing the server time when this object was "
                       "created.")
COLUMNS = {
    "namespaces": ([NAME, _col("Status", desc="The status of the namespace"), AGE],
                   lambda o: [(o.get("status") or {}).get("phase", "")]),
    "secrets": ([NAME, _col("Type"), _col("Data", "integer"), AGE],
                lambda o: [o.get("type", ""), len(o.get("data") or {})]),
    "configmaps": ([NAME, _col("Data", "integer"), AGE],
                   lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {})]),
    "serviceaccounts": ([NAME, _col("Secrets", "integer"), AGE], lambda o: [len(o.get("secrets") or [])]),
    "services": ([NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), AGE],
                 lambda o: [(o.get("spec") or {}).get("type", ""), (o.get("spec") or {}).get("clusterIP", ""),
                            ",".join((o.get("spec") or {}).get("externalIPs") or []) or "<none>", _ports(o)]),
    "persistentvolumeclaims": ([NAME, _col("Status"), AGE], lambda o: [(o.get("status") or {}).get("phase", "")]),
}


def table(r, items, rv):
    """items: full objects (list order). The generic table has Name and Created At, like 1.11."""
    cols, cells = COLUMNS.get(r.key, (None, None))
    if cols is None:
        cols = [NAME, _col("Created At", "date", desc="CreationTimestamp is a timestamp representing the server "
                                                       "time when this object was created.")]
        cells = None
    rows = []
    for o in items:
        md = o.get("metadata") or {}
        if cells is None:
            row = [md.get("name"), md.get("creationTimestamp")]
        else:
            row = [md.get("name")] + cells(o) + [_age(md.get("creationTimestamp"))]
        rows.append({"cells": row, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1beta1",
                                              "metadata": md}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1beta1", "metadata": {"resourceVersion": rv},
            "columnDefinitions": cols, "rows": rows}
