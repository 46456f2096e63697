"""The lab's in-cluster API client, shared by the lab kubelet (lab/kubelet.py) and the registry container
(lab/okdregistry.py): one JSON request to the API stand-in over verified TLS with a bearer token, as a
pod's or a node's client does (a new connection per request; stdlib only, as lab/okdregistry.py runs in a
pod)."""
import http.client
import json


def request(host, port, ctx, method, path, token, body=None, timeout=20):
    """-> (HTTP status, the parsed JSON answer; {"message": text} when the answer is not JSON, {} when empty)."""
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=timeout)
    try:
        headers = {"Accept": "application/json", "Authorization": "Bearer " + token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        doc = json.loads(raw.decode("utf-8")) if raw else {}
    except ValueError:
        doc = {"message": raw.decode("utf-8", "replace")}
    return resp.status, doc
