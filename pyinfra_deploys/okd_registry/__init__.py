"""pyinfra operations of okd-registry-toolkit (registry credentials on OKD 3.11 hosts).

The merge/render logic is the toolkit's core (plugins/module_utils), shared with the Ansible modules, so
both front ends write byte-identical files. The repository root is put on sys.path so that the core is
importable as ``plugins.module_utils.<mod>`` wherever pyinfra is started from.
"""
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
