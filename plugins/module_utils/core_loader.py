# -*- coding: utf-8 -*-
# okd-registry-toolkit core: the core's modules for the controller-side filter plugins, imported on first use.
# Stdlib only, no I/O, Python 2.7 and 3.6+.
"""``core(name)``: the core's module NAME (this package's NAME.py), imported when a filter first needs it.

ansible-core imports every filter file of the collection, compiling it from source, in each worker process
whenever a template uses any of the collection's filters (issue 10: about 80 ms per worker when the filter
files imported the core at their top). The filter files import only this module (and ``ToolkitError``) when
they load. The import is relative to this package, so it works as the collection's module_utils, from the
repository root (``plugins.module_utils``) and in the pyinfra package (``okd_registry_toolkit.core``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib

from .errors import ToolkitError

__all__ = ["ToolkitError", "core"]


def core(name):
    """The core's module NAME, imported on first use."""
    return importlib.import_module("." + name, __name__.rsplit(".", 1)[0])
