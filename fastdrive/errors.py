"""One error hierarchy the service maps to HTTP status codes.

* :class:`InputError` (4xx): the caller asked for something invalid (an
  unknown pruning method, a ratio outside [0, 1), a frame of the wrong shape,
  an oracle without ground truth). Retrying the same request cannot help.
* :class:`ModelError` (5xx): the server side failed (a checkpoint that does
  not load or fit, a model answer that does not parse). The request was fine.

Both derive from :class:`FastDriveError`; the concrete errors also keep their
historical builtin base (``ValueError`` / ``RuntimeError``) so existing
``except ValueError`` code keeps working. This module imports nothing.
"""

from __future__ import annotations


class FastDriveError(Exception):
    """Base of FastDrive's errors; ``http_status`` is the status a service answers with."""

    http_status: int = 500


class InputError(FastDriveError):
    """The caller's input is invalid (HTTP 422)."""

    http_status = 422


class ModelError(FastDriveError):
    """The model side failed: loading, fitting or parsing (HTTP 500)."""

    http_status = 500
