"""What the application shows the user as a plain one-line message, and what counts as a cancel.

engine/ and gating/ each define their own errors and cancel signal; this is the one place that
lists both, so that the GUI and the command lines treat them alike.
"""
from __future__ import annotations

import engine.errors
import engine.progress
import gating.errors
import gating.progress

__all__ = ["CANCELLED", "USER_ERRORS", "Cancelled", "is_user_error"]

#: Errors whose message is meant for the user as it stands (file, column, row, hint).
USER_ERRORS: tuple[type[Exception], ...] = (engine.errors.StudioError, gating.errors.GatingError)

#: The cancel signals of both libraries; a worker that stops a run raises :data:`Cancelled`.
CANCELLED: tuple[type[Exception], ...] = (engine.progress.Cancelled, gating.progress.Cancelled)

Cancelled = engine.progress.Cancelled


def is_user_error(exc: BaseException) -> bool:
    """True for an error whose message names what is wrong in the user's terms."""
    return isinstance(exc, USER_ERRORS)
