"""A table's cells formatted as text once, then written as CSV rows and as .xlsx rows.

The results export writes the same ranked table three ways (``gene_results.csv``, a CSV per
term, a sheet per term in ``results.xlsx``). Formatting a float is the costly step (about
0.4 us each, 1.2 million of them for 12.6k genes x 8 terms x 12 columns), so each cell is
formatted once here and every writer only pastes the strings into a row template with one
``%`` operation (``benchmarks/bench_xlsx.py`` prints the time next to pandas and xlsxwriter).

Numbers are written with ``digits`` significant digits (``None``: Python's shortest
round-trip ``repr``, exact). Missing and non-finite numbers are empty cells in the workbook;
in CSV, missing values are empty fields and infinities are written as ``inf``/``-inf`` (as
:func:`engine.csvtext.csv_text` does). Text is neutralised against formula injection
(:func:`engine.cells.safe_cell`), quoted for CSV where it must be, and XML-escaped for .xlsx.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cells import safe_cell
from .csvtext import quote_fields
from .xlsx import header_cells, xml_text

__all__ = ["FormattedTable", "format_numbers"]

_EMPTY_CELL = "<c/>"
_NUMBER_CELL = "<c><v>%s</v></c>"
_BLOCK = 2000  # rows per formatting call


def format_numbers(values: np.ndarray, digits: int | None) -> list[str]:
    """Finite float64 values as text: ``digits`` significant digits, or shortest round-trip."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return []
    if digits is None:
        return list(map(repr, values.tolist()))
    spec = f"%.{int(digits)}g\n"
    out: list[str] = []
    for i in range(0, values.size, _BLOCK * 4):
        part = values[i:i + _BLOCK * 4]
        out += (spec * part.size % tuple(part.tolist())).split("\n")[:-1]
    return out


def _text_cells(value, as_text: bool) -> tuple[str, str]:
    """(CSV field, .xlsx cell) of one text value."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "", _EMPTY_CELL
    text = safe_cell(str(value))
    if not text:
        return "", _EMPTY_CELL
    style = ' s="2"' if as_text else ""
    return quote_fields([text], ",")[0], f'<c t="inlineStr"{style}><is><t xml:space="preserve">{xml_text(text)}</t></is></c>'


@dataclass(frozen=True)
class _Column:
    name: str
    csv: list[str] | None  # field text per row; None when every field is empty
    xlsx: list[str] | None  # whole cell XML per row, or None when the template wraps ``csv``
    wrap: str  # xlsx template for one cell ('%s' placeholder, or a literal for an all-empty column)


class FormattedTable:
    """``df``'s cells as CSV fields and .xlsx cells, formatted once.

    ``text_columns`` are written as text (style '@' in the workbook) whatever their dtype;
    other non-numeric columns are text cells too, without the '@' style."""

    def __init__(self, df: pd.DataFrame, *, digits: int | None = 7, text_columns=(),
                 text_cache: dict | None = None) -> None:
        self.n_rows = len(df)
        self.columns = [str(c) for c in df.columns]
        self._text_cache = {} if text_cache is None else text_cache  # shareable between tables of the same genes
        self._cols = {str(c): self._column(str(c), df[c], digits, str(c) in set(map(str, text_columns)))
                      for c in df.columns}

    def _column(self, name: str, values: pd.Series, digits: int | None, as_text: bool) -> _Column:
        dtype = values.dtype
        numeric = (pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)) \
            and not pd.api.types.is_bool_dtype(dtype) and not as_text
        if numeric and pd.api.types.is_integer_dtype(dtype):
            return _Column(name, [str(v) for v in values.tolist()], None, _NUMBER_CELL)
        if numeric:
            arr = values.to_numpy(dtype=np.float64)
            finite = np.isfinite(arr)
            if not finite.any() and not np.isinf(arr).any():
                return _Column(name, None, None, _EMPTY_CELL)
            text = format_numbers(np.where(finite, arr, 0.0), digits)
            if finite.all():
                return _Column(name, text, None, _NUMBER_CELL)
            csv = [t if f else ("" if a != a else repr(float(a))) for t, f, a in zip(text, finite.tolist(), arr.tolist())]
            xlsx = [_NUMBER_CELL % t if f else _EMPTY_CELL for t, f in zip(text, finite.tolist())]
            return _Column(name, csv, xlsx, "%s")
        return _text_column(name, values, as_text, self._text_cache)

    def _pick(self, columns) -> list[_Column]:
        names = self.columns if columns is None else [str(c) for c in columns]
        return [self._cols[c] for c in names]

    @staticmethod
    def _fill(template: str, parts: list[list[str]], n: int) -> str:
        """``template`` once per row, its ``%s`` taken row-wise from ``parts`` (one ``%``)."""
        if n == 0:
            return ""
        flat = np.empty((n, len(parts)), dtype=object)
        for j, p in enumerate(parts):
            flat[:, j] = p
        # in blocks: one ``%`` holds the GIL, so a worker thread keeps each call to a few ms
        block = template * _BLOCK
        out = []
        for i in range(0, n, _BLOCK):
            rows = flat[i:i + _BLOCK]
            out.append((block if len(rows) == _BLOCK else template * len(rows)) % tuple(rows.ravel().tolist()))
        return "".join(out)

    def csv_header(self, columns=None, sep: str = ",") -> str:
        """The header line (with its line end)."""
        return sep.join(quote_fields([safe_cell(c.name) for c in self._pick(columns)], sep)) + "\n"

    def csv_body(self, columns=None, sep: str = ",") -> str:
        """Every row as CSV lines (``\\n`` ends), ``columns`` in that order (default: all)."""
        cols = self._pick(columns)
        pieces = ["%s" if c.csv is not None else "" for c in cols]
        template = sep.join(pieces) + "\n"
        return self._fill(template, [c.csv for c in cols if c.csv is not None], self.n_rows)

    def xlsx_header(self, columns=None) -> str:
        """The bold header cells of the workbook's first row."""
        return header_cells([c.name for c in self._pick(columns)])

    def xlsx_rows(self, columns=None, first_row: int = 2) -> str:
        """Every row as worksheet ``<row>`` XML, numbered from ``first_row``."""
        cols = self._pick(columns)
        parts = [[str(r) for r in range(first_row, first_row + self.n_rows)]]
        cells = []
        for c in cols:
            if c.xlsx is not None:
                cells.append("%s")
                parts.append(c.xlsx)
            elif c.csv is not None:
                cells.append(c.wrap)
                parts.append(c.csv)
            else:
                cells.append(c.wrap.replace("%", "%%"))
        return self._fill('<row r="%s">' + "".join(cells) + "</row>", parts, self.n_rows)


def _text_column(name: str, values: pd.Series, as_text: bool, cache: dict) -> _Column:
    """A text column: each distinct value formatted once (``cache`` keeps them across tables)."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    cells = []
    for v in uniques.tolist():
        key = (v, as_text)
        if key not in cache:
            cache[key] = _text_cells(v, as_text)
        cells.append(cache[key])
    cells.append(("", _EMPTY_CELL))  # code -1: missing
    csv = np.array([c[0] for c in cells], dtype=object)[codes].tolist()
    xlsx = np.array([c[1] for c in cells], dtype=object)[codes].tolist()
    return _Column(name, csv, xlsx, "%s")
