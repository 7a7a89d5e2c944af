"""Errors of the gating library that reach the user: one line naming the file and the problem.

gating/ shares nothing with engine/; the application layer (``study.errors``) lists both
libraries' base classes so that the GUI and the command line show either in the same way.
"""
from __future__ import annotations

__all__ = ["GatingError", "InputError", "StrategyError"]


class GatingError(Exception):
    """Base class of gating errors meant for the user as one clear line."""


class InputError(GatingError, ValueError):
    """A bad FCS file, workspace, template or gate definition.

    ``str(err)`` is ``"<file>: <message> (<hint>)"``, leaving out the parts that are not known.
    """

    def __init__(self, message: str, *, file: str | None = None, hint: str | None = None) -> None:
        self.message, self.file, self.hint = message, file, hint
        text = f"{file}: {message}" if file else message
        super().__init__(f"{text} ({hint})" if hint else text)


class StrategyError(GatingError, ValueError):
    """An edit or evaluation that would break the gate tree (unknown id, cycle, duplicate)."""
