"""Errors that reach the user: each names what is wrong and where, in lab language."""
from __future__ import annotations


class StudioError(Exception):
    """Base class of errors meant to be shown to the user as one clear line."""


class InputError(StudioError, ValueError):
    """Bad input data. Names the file, the column and the row when known.

    ``str(err)`` gives the one-line message, e.g.
    ``expr.csv: column 'Subj3', row 'Gene17': value 'abc' is not a number``.
    """

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None,
                 row: str | None = None, hint: str | None = None) -> None:
        self.file, self.column, self.row, self.hint = file, column, row, hint
        self.message = message
        where = []
        if file:
            where.append(str(file))
        if column is not None:
            where.append(f"column '{column}'")
        if row is not None:
            where.append(f"row '{row}'")
        text = (": ".join([", ".join(where), message]) if where else message)
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class DesignError(StudioError, ValueError):
    """The design matrix cannot be fitted (singular, collinear, too few samples).

    ``columns`` lists the design columns that cause the problem; ``hint`` says how to fix it.
    """

    def __init__(self, message: str, *, columns: list[str] | tuple[str, ...] = (), hint: str | None = None) -> None:
        self.columns, self.hint, self.message = tuple(columns), hint, message
        text = message
        if self.columns:
            text += f" [columns: {', '.join(self.columns)}]"
        if hint:
            text += f" ({hint})"
        super().__init__(text)
