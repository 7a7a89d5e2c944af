"""Qt-free progress reporting and cancellation shared by engine/ and gating/.

Long computations accept ``progress: ProgressCallback | None``. They call
``progress(done, total, message)``; a callback cancels the work by raising
:class:`Cancelled` (or by returning ``False``), and the computation lets it
propagate so that nothing half-finished is returned.
"""
from __future__ import annotations

from typing import Callable, Optional

ProgressCallback = Callable[[int, int, str], Optional[bool]]


class Cancelled(Exception):
    """Raised when the user cancels a running computation."""


def report(progress: ProgressCallback | None, done: int, total: int, message: str = "") -> None:
    """Call ``progress`` if given; a ``False`` return value means cancel."""
    if progress is None:
        return
    if progress(done, total, message) is False:
        raise Cancelled(message or "cancelled")
