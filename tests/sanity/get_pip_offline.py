# -*- coding: utf-8 -*-
"""Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads from its CI file host
(ansible_test/_util/target/setup/requirements.py, bootstrap()) into ~/.ansible/test/cache/get_pip_<ver>.py.

ansible-test runs it (through quiet_pip.py) inside each new sanity virtual environment, which is created
without pip, with the arguments `--disable-pip-version-check pip==<ver> [--no-setuptools] [--no-wheel]`.
This stand-in puts pip in from the interpreter's own bundled wheel (ensurepip) instead: no network. The
sanity requirements ansible-test then installs with that pip come from the package index as usual (or
from a local wheel directory: PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR). `make sanity-deps` copies this file to
the cache paths ansible-core 2.19's and 2.16's ansible-test look for. Runs on Python 2.7 and 3.6+.
"""
import subprocess
import sys


def main():
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])


if __name__ == "__main__":
    main()
