"""Progress and cancellation for long gating runs (batches, DAFi, whole strategies).

A callback ``progress(done, total, message)`` is called as work proceeds. It cancels the run by
raising any exception (the GUI's worker raises its own) or by returning ``False``, which raises
:class:`Cancelled` here. Nothing half-finished is returned either way.
"""
from __future__ import annotations

from typing import Callable, Optional

__all__ = ["Cancelled", "ProgressCallback", "report"]

ProgressCallback = Callable[[int, int, str], Optional[bool]]


class Cancelled(Exception):
    """The gating run was cancelled through its progress callback."""


def report(progress: ProgressCallback | None, done: int, total: int, message: str = "") -> None:
    """Tell ``progress`` (if any) how far the run is; stop the run when it answers ``False``."""
    if progress is not None and progress(done, total, message) is False:
        raise Cancelled(message or "cancelled")
