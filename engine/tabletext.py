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

from .cells import FORMULA_START, safe_cell
from .csvtext import quote_fields
from .xlsx import header_cells, xml_texts

__all__ = ["FormattedTable", "format_numbers", "int_texts"]

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


_INTS = np.array([str(i) for i in range(1 << 16)], dtype=object)


def int_texts(values: np.ndarray) -> list[str]:
    """``str(v)`` of integers; ranks and row numbers come from a table of the texts of 0, 1, ..."""
    global _INTS
    v = np.asarray(values)
    if v.size == 0:
        return []
    lo, hi = int(v.min()), int(v.max())
    if lo < 0 or hi >= 1 << 24:
        return [str(x) for x in v.tolist()]
    if hi >= _INTS.size:  # grow (a new array: a reader on another thread keeps the old one)
        _INTS = np.concatenate([_INTS, np.array([str(i) for i in range(_INTS.size, 2 * hi + 1)], dtype=object)])
    return _INTS[v].tolist()


def _text_cells(texts: list[str], as_text: bool) -> tuple[list[str], list[str]]:
    """CSV fields and .xlsx cells of text values (``""`` = an empty cell), in bulk: one scan of
    all of them decides whether any needs neutralising, quoting or escaping (rarely)."""
    if any(t.startswith(FORMULA_START) for t in texts):
        texts = [safe_cell(t) for t in texts]
    csv = quote_fields(texts, ",")
    style = ' s="2"' if as_text else ""
    head, tail = f'<c t="inlineStr"{style}><is><t xml:space="preserve">', "</t></is></c>"
    xlsx = [head + t + tail if t else _EMPTY_CELL for t in xml_texts(texts)]
    return csv, xlsx


class _TextCells:
    """Cells of every distinct text seen so far, found by a pandas Index (its C hash table):
    a table of genes in another order costs one lookup per row, not one formatting."""

    def __init__(self, as_text: bool) -> None:
        self.as_text = as_text
        self.index = pd.Index([], dtype=object)
        self.csv = np.empty(0, dtype=object)
        self.xlsx = np.empty(0, dtype=object)

    def take(self, values: pd.Series) -> tuple[list[str], list[str]]:
        texts = values.astype(object).to_numpy()
        missing = pd.isna(texts)
        if missing.any():
            texts = texts.copy()
            texts[missing] = ""
        pos = self.index.get_indexer(texts)
        if (pos < 0).any():
            new = pd.unique(texts[pos < 0])
            csv, xlsx = _text_cells([str(t) for t in new], self.as_text)
            self.index = self.index.append(pd.Index(new, dtype=object))
            self.csv = np.concatenate([self.csv, np.array(csv, dtype=object)])
            self.xlsx = np.concatenate([self.xlsx, np.array(xlsx, dtype=object)])
            pos = self.index.get_indexer(texts)
        return self.csv[pos].tolist(), self.xlsx[pos].tolist()


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
            return _Column(name, int_texts(values.to_numpy()), None, _NUMBER_CELL)
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
        parts = [int_texts(np.arange(first_row, first_row + self.n_rows))]
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
    cells = cache.setdefault(("cells", as_text), _TextCells(as_text))
    csv, xlsx = cells.take(values)
    return _Column(name, csv, xlsx, "%s")
