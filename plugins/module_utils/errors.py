# -*- coding: utf-8 -*-
# okd-registry-toolkit core: the one error type. Stdlib only, no I/O, Python 2.7 and 3.6+.
"""The toolkit's single exception type.

``ToolkitError(msg)`` carries a complete, human readable message in ``msg``
(``str(e) == e.msg``).  Two optional attributes help the adapters:

- ``retryable``: True for failures that may go away by retrying (connection
  errors, timeouts, HTTP 5xx and 429); never True for bad credentials.
- ``status``: the HTTP status code that caused the error, if any.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys

_PY2 = sys.version_info[0] == 2


class ToolkitError(Exception):
    """An error with a message fit to show to the user as is."""

    def __init__(self, msg, retryable=False, status=None):
        super(ToolkitError, self).__init__(msg)
        self.msg = msg
        self.retryable = bool(retryable)
        self.status = status

    def __str__(self):
        msg = self.msg
        if _PY2 and not isinstance(msg, str):
            # Python 2 with a unicode message: str() must return bytes there
            msg = msg.encode("utf-8")
        return msg
