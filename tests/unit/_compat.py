# -*- coding: utf-8 -*-
# Helpers shared by the core unit tests. Python 2.7 and 3.6+ (the tests also run on
# pyenv's old interpreters without pytest, see test_py_compat.py), so no pytest here.
from __future__ import absolute_import, division, print_function

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from plugins.module_utils.errors import ToolkitError  # noqa: E402


class raises(object):
    """``with raises(ToolkitError, "part of message") as info:`` without pytest."""

    def __init__(self, exc_type=ToolkitError, *fragments):
        self.exc_type = exc_type
        self.fragments = fragments
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            raise AssertionError("%s was not raised" % self.exc_type.__name__)
        if not issubclass(exc_type, self.exc_type):
            return False
        self.value = exc
        text = str(exc)
        for fragment in self.fragments:
            if fragment not in text:
                raise AssertionError("%r not in error message %r" % (fragment, text))
        return True


def run_all(namespace):
    """Run every test_* function of a module namespace (for the old-Python runs)."""
    names = sorted(name for name in namespace if name.startswith("test_") and callable(namespace[name]))
    for name in names:
        namespace[name]()
    return names
