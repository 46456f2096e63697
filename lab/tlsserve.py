"""TLS serving for the lab's small HTTP daemons (lab/frontproxy.py, lab/tokenrealm.py): one process per
config file (``python -m lab.<daemon> CONFIG.json``), a threading HTTP server whose listening socket is
wrapped with the config's certificate and key. The TLS handshake happens in the connection's own thread
(on its first read), not in the accept loop, so one slow or broken client never holds up the others.
"""
import json
import ssl
import sys
from http.server import ThreadingHTTPServer


def serve(config, handler, what, **attrs):
    """Serve `handler` over TLS on config["bind"]:config["port"] with config["cert"]/config["key"] until
    killed. `attrs` become attributes of the server (handlers read them as self.server.<name>)."""
    httpd = ThreadingHTTPServer((config["bind"], int(config["port"])), handler)
    httpd.daemon_threads = True
    for k, v in attrs.items():
        setattr(httpd, k, v)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(config["cert"], config["key"])
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    sys.stderr.write("%s %s listening on %s:%s\n" % (what, config.get("name", ""), config["bind"], config["port"]))
    sys.stderr.flush()
    httpd.serve_forever()


def main(argv, prog, serve_config):
    """`python -m lab.<prog> CONFIG.json`: read the JSON config and call serve_config(cfg)."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m lab.%s CONFIG.json\n" % prog)
        return 2
    with open(argv[0]) as f:
        cfg = json.load(f)
    serve_config(cfg)
    return 0
