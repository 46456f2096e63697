"""`python -m lab.api serve --dir D --listen ADDR --port N --cert C --key K [--ca CA] ...` and
`python -m lab.api restart --lab-dir D` (run by master-restart on the lab's masters)."""
import argparse
import sys

from .server import serve


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lab.api")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the OKD 3.11 API stand-in")
    s.add_argument("--dir", required=True, help="state directory (tokens.json, state.json, logs)")
    s.add_argument("--listen", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--ca", help="CA bundle trusted when importing from registries (the lab CA)")
    s.add_argument("--import-interval", type=float, default=None,
                   help="seconds between scheduled imports (importPolicy.scheduled); default: the master's "
                        "imagePolicyConfig.scheduledImageImportMinimumIntervalSeconds (3.11: 900); 0 disables")
    s.add_argument("--import-timeout", type=float, default=10.0, help="seconds per registry request")
    s.add_argument("--max-images-bulk-imported-per-repository", type=int, default=None, dest="max_bulk_tags",
                   help="tags imported per repository import (imagePolicyConfig; default 50, -1: no limit)")
    s.add_argument("--additional-trusted-ca", default=None,
                   help="PEM file trusted by imports besides --ca (3.11's imagePolicyConfig.additionalTrustedCA)")
    s.add_argument("--master-config", default=None,
                   help="the first master's master-config.yaml (machine path); imagePolicyConfig is read from it "
                        "at start, the options above win over it")
    s.add_argument("--master-host-dir", default=None,
                   help="the master's host directory: paths inside the master (additionalTrustedCA) map into it")
    s.add_argument("--internal-registry", default=None,
                   help="host:port shown as status.dockerImageRepository (default docker-registry.default.svc:5000)")
    r = sub.add_parser("restart", help="restart the running stand-in (what master-restart api does on a lab master)")
    r.add_argument("--lab-dir", required=True, help="the lab's state directory")
    r.add_argument("--component", default="api", choices=["api", "controllers"])
    a = ap.parse_args(argv)
    if a.cmd == "serve":
        serve(a.dir, a.listen, a.port, a.cert, a.key, ca_file=a.ca, import_interval=a.import_interval,
              internal_registry=a.internal_registry, import_timeout=a.import_timeout, max_bulk_tags=a.max_bulk_tags,
              additional_trusted_ca=a.additional_trusted_ca, master_config=a.master_config,
              master_host_dir=a.master_host_dir)
    elif a.cmd == "restart":
        from lab import state
        from . import restart
        try:
            restart(state.Lab(root=a.lab_dir), component=a.component)
        except RuntimeError as e:
            sys.stderr.write("master-restart: %s\n" % e)
            return 1
        return 0


if __name__ == "__main__":
    sys.exit(main())
