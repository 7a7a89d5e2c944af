"""Reading study tables (CSV, TSV, XLSX) with errors that name the file, column and row.

Tables are read as text first so that every problem (empty cell, ``NA``, ``abc`` in a
numeric column, duplicate IDs) can be reported at its exact place; numeric columns are
then converted to float64 in one vectorised step.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from engine.errors import InputError

__all__ = [
    "NA_STRINGS", "read_table", "read_expression", "detect_orientation", "looks_like_counts",
    "duplicate_ids", "normalise_proportions", "require_numeric", "constant_columns", "excel_date_ids",
    "restore_date_id",
]

#: Cell texts treated as missing values (as R and Excel write them).
NA_STRINGS = frozenset({"", "na", "nan", "n/a", "#n/a", "null", "none", "-nan", "#value!", "#div/0!", "."})

_EXCEL = {".xlsx", ".xlsm"}
_TAB = {".tsv", ".tab", ".txt"}


def _name(path: str | os.PathLike) -> str:
    return Path(path).name


def _sniff_sep(path: Path) -> str:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline()
    counts = {sep: first.count(sep) for sep in ("\t", ",", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _read_raw(path: Path) -> pd.DataFrame:
    """All cells as Python str (missing cells as '')."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise InputError("old .xls workbooks are not supported", file=path.name,
                         hint="save it as .xlsx or .csv")
    try:
        if suffix in _EXCEL:
            raw = pd.read_excel(path, header=None, dtype=object, keep_default_na=False,
                                na_filter=False, engine="openpyxl")
            raw = raw.map(lambda v: "" if v is None else (repr(v) if isinstance(v, float) else str(v)))
        else:
            sep = "\t" if suffix in _TAB else _sniff_sep(path)
            try:
                raw = pd.read_csv(path, sep=sep, header=None, dtype=str, keep_default_na=False,
                                  na_filter=False, encoding="utf-8-sig", skip_blank_lines=True)
            except UnicodeDecodeError:  # Excel on Windows saves "CSV" as cp1252
                raw = pd.read_csv(path, sep=sep, header=None, dtype=str, keep_default_na=False,
                                  na_filter=False, encoding="cp1252", skip_blank_lines=True)
            raw.attrs["sep"] = sep
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty", file=path.name) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"cannot be read as a table ({str(exc).strip().splitlines()[-1]})",
                         file=path.name) from None
    except UnicodeDecodeError:
        raise InputError("is not a text table (unknown encoding)", file=path.name,
                         hint="save it as CSV (UTF-8) or XLSX") from None
    except (ValueError, OSError, KeyError) as exc:
        raise InputError(f"cannot be read ({exc})", file=path.name) from None
    return raw


def read_table(path: str | os.PathLike, *, numeric: bool = False) -> pd.DataFrame:
    """Read a CSV/TSV/XLSX table whose first column holds row IDs.

    The first header cell may be empty (as R writes it). Columns whose every cell is a
    number (or missing) become float64 with NaN for missing cells; other columns keep
    their text (missing cells as NaN). With ``numeric=True`` every column must be a
    number (``require_numeric``). Duplicate row or column IDs raise ``InputError``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=str(path))
    if path.is_dir():
        raise InputError("is a folder, not a table file", file=str(path))
    df = _read_fast(path)
    if df is None:
        df = _read_checked(path)
    df.attrs["file"] = path.name
    df.attrs["path"] = str(path)
    if numeric:
        require_numeric(df, path.name)
    return df


_NA_VARIANTS = sorted({v for s in NA_STRINGS for v in (s, s.upper(), s.capitalize())} | {"NaN", "N/A", "#N/A"})


def _read_fast(path: Path) -> pd.DataFrame | None:
    """Clean all-numeric CSV/TSV through pandas' C parser; None whenever anything needs a closer look.

    A ``None`` sends the file through ``_read_checked``, which gives the same table or the
    precise error, so both paths have the same meaning.
    """
    if path.suffix.lower() in _EXCEL or path.suffix.lower() == ".xls":
        return None
    try:
        sep = "\t" if path.suffix.lower() in _TAB else _sniff_sep(path)
        if sep == ";":
            return None  # may use decimal commas
        head = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False,
                           na_filter=False, encoding="utf-8-sig")
        names = [str(h).strip() for h in head.iloc[0].tolist()]
        header = names[1:]
        if len(names) < 2 or any(h == "" for h in header) or duplicate_ids(header):
            return None
        dtypes = {0: str, **{j: np.float64 for j in range(1, len(names))}}
        data = pd.read_csv(path, sep=sep, header=None, skiprows=1, names=list(range(len(names))), dtype=dtypes,
                           keep_default_na=False, na_values=_NA_VARIANTS, encoding="utf-8-sig",
                           skip_blank_lines=True)
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if data.shape[0] == 0 or data[0].isna().any():
        return None
    ids = data[0].astype(str).str.strip()
    if (ids == "").any() or ids.duplicated().any():
        return None
    values = data.iloc[:, 1:].to_numpy(dtype=np.float64)
    if np.isnan(values).all(axis=0).any():  # an empty column: let the checked path decide
        return None
    return pd.DataFrame(values, index=pd.Index(ids.tolist(), dtype=object), columns=header)


def _read_checked(path: Path) -> pd.DataFrame:
    """Cell-by-cell reading (text first) that names the file, column and row of any problem."""
    raw = _read_raw(path)
    raw = raw.loc[~(raw == "").all(axis=1)]  # blank lines (e.g. trailing ;;;)
    raw = raw.loc[:, ~(raw == "").all(axis=0)]
    if raw.shape[0] == 0:
        raise InputError("the file is empty", file=path.name)
    if raw.shape[1] < 2:
        raise InputError("needs IDs in the first column and at least one data column", file=path.name)
    if raw.shape[0] < 2:
        raise InputError("has a header but no data rows", file=path.name)
    header = [str(h).strip() for h in raw.iloc[0, 1:]]
    ids = [str(v).strip() for v in raw.iloc[1:, 0]]
    body = raw.iloc[1:, 1:].to_numpy(dtype=object)
    for j, h in enumerate(header):
        if h == "":
            raise InputError("a column has an empty header", file=path.name, column=f"#{j + 2}")
    for i, rid in enumerate(ids):
        if rid == "" or rid.lower() in NA_STRINGS:
            raise InputError("the ID in the first column is empty", file=path.name, row=f"line {i + 2}")
    dup = duplicate_ids(ids)
    if dup:
        raise InputError(f"duplicate ID{'s' if len(dup) > 1 else ''} in the first column: "
                         f"{_short_list(dup)}", file=path.name, row=dup[0])
    dup = duplicate_ids(header)
    if dup:
        raise InputError(f"duplicate column name{'s' if len(dup) > 1 else ''}: {_short_list(dup)}",
                         file=path.name, column=dup[0])
    decimal_comma = raw.attrs.get("sep") == ";"  # European CSV: 1,5 means 1.5
    columns = {}
    for j, h in enumerate(header):
        col = pd.Series(body[:, j], dtype=object).str.strip()
        is_na = col.str.lower().isin(NA_STRINGS)
        num = pd.to_numeric(col.where(~is_na, None), errors="coerce")
        if decimal_comma and not bool((num.notna() | is_na).all()):
            alt = pd.to_numeric(col.where(~is_na, None).str.replace(",", ".", regex=False), errors="coerce")
            if bool((alt.notna() | is_na).all()):
                num = alt
        if bool((num.notna() | is_na).all()):
            columns[h] = num.to_numpy(dtype=np.float64)
        else:
            columns[h] = col.where(~is_na, None).to_numpy(dtype=object)
    return pd.DataFrame(columns, index=pd.Index(ids, dtype=object, name=None))


def _short_list(items: Sequence[str], limit: int = 5) -> str:
    items = [str(i) for i in items]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def duplicate_ids(ids: Iterable) -> list[str]:
    """IDs occurring more than once, in order of first appearance."""
    s = pd.Series([str(i) for i in ids], dtype=object)
    return list(dict.fromkeys(s[s.duplicated(keep=False)].tolist()))


def require_numeric(df: pd.DataFrame, file: str | None = None, *, columns: Sequence[str] | None = None) -> None:
    """Raise ``InputError`` at the first missing or non-numeric cell (by column, then row)."""
    file = file or df.attrs.get("file")
    if columns is None and _all_finite_numbers(df):
        return
    for c in (df.columns if columns is None else columns):
        col = df[c]
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            values = col.to_numpy(dtype=np.float64)
            bad = ~np.isfinite(values)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                what = "is missing (NA)" if np.isnan(values[i]) else f"is not finite ({values[i]})"
                raise InputError(f"value {what}; every cell must be a number", file=file,
                                 column=str(c), row=str(df.index[i]))
            continue
        for i, v in enumerate(col.to_numpy(dtype=object)):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                raise InputError("value is missing (NA); every cell must be a number", file=file,
                                 column=str(c), row=str(df.index[i]))
            try:
                float(v)
            except (TypeError, ValueError):
                raise InputError(f"value '{v}' is not a number", file=file, column=str(c),
                                 row=str(df.index[i])) from None
        raise InputError("column is not numeric", file=file, column=str(c))  # pragma: no cover


def _all_finite_numbers(df: pd.DataFrame) -> bool:
    """True when every column is numeric (not bool) and every cell finite: one pass, no per-column work."""
    numeric = all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in df.dtypes)
    if not numeric:
        return False
    values = df.to_numpy(dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(values.sum()):  # NaN and inf carry into the sum: one pass, no mask
            return True
    return bool(np.isfinite(values).all())  # the sum overflowed, or a cell is not finite


_EXCEL_DATE = re.compile(r"^(\d{1,2}-(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
                         r"|(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)-\d{1,2}"
                         r"|\d{4}-\d{2}-\d{2}( 00:00:00)?)$", re.IGNORECASE)


def excel_date_ids(ids: Iterable) -> list[str]:
    """IDs that look like dates Excel made from gene symbols (``1-Mar`` from MARCH1, ``2-Sep`` from SEPT2)."""
    if isinstance(ids, pd.Index) and pd.api.types.infer_dtype(ids, skipna=False) == "string":
        ids = ids.tolist()  # text already: no per-ID conversion
    else:
        ids = [str(i) for i in ids]
    if "-" not in "".join(ids):  # every pattern has a "-": one scan of the joined IDs settles most lists
        return []
    return [s for s in ids if "-" in s and _EXCEL_DATE.match(s.strip())]


_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                        "nov", "dec"), start=1)}
# month -> (symbol prefix, days that map to exactly one symbol): SEPT1-14; MARCH3-11 (MARCH1/2
# could also be MARC1/2); DEC1
_RESTORABLE = {9: ("SEPT", range(1, 15)), 3: ("MARCH", range(3, 12)), 12: ("DEC", range(1, 2))}


def restore_date_id(value: str) -> str | None:
    """The gene symbol Excel turned into this date (``9-Sep`` or ``2024-09-09`` -> SEPT9), or None
    when the date does not map to exactly one symbol (e.g. ``1-Mar``: MARCH1 or MARC1)."""
    v = str(value).strip().lower()
    m = re.match(r"^(\d{1,2})-([a-z]{3})$", v) or re.match(r"^([a-z]{3})-(\d{1,2})$", v)
    if m:
        day, mon = (m.group(1), m.group(2)) if m.group(1).isdigit() else (m.group(2), m.group(1))
        month = _MONTHS.get(mon)
    else:
        m = re.match(r"^\d{4}-(\d{2})-(\d{2})( 00:00:00)?$", v)
        if not m:
            return None
        month, day = int(m.group(1)), m.group(2)
    prefix, days = _RESTORABLE.get(month, (None, ()))
    return f"{prefix}{int(day)}" if prefix and int(day) in days else None


def constant_columns(df: pd.DataFrame) -> list[str]:
    """Columns holding a single distinct value (no information for a regression)."""
    return [str(c) for c in df.columns if df[c].nunique(dropna=True) <= 1]


def detect_orientation(df: pd.DataFrame, sample_ids: Iterable | None = None) -> str:
    """'genes_x_samples' or 'samples_x_genes'.

    Known sample IDs (from the other inputs) decide when they match the header or the
    first column; otherwise the longer side is taken to be genes (studies have far more
    genes than samples).
    """
    if sample_ids is not None:
        known = {str(s) for s in sample_ids}
        in_cols = sum(str(c) in known for c in df.columns)
        in_rows = sum(str(r) in known for r in df.index)
        if in_cols != in_rows:
            return "genes_x_samples" if in_cols > in_rows else "samples_x_genes"
    return "genes_x_samples" if df.shape[0] >= df.shape[1] else "samples_x_genes"


def read_expression(path: str | os.PathLike, orientation: str = "genes_x_samples", *,
                    sample_ids: Iterable | None = None) -> pd.DataFrame:
    """Expression matrix as float64 genes x samples (gene IDs = index, sample IDs = columns).

    ``orientation="auto"`` transposes a samples x genes file (see ``detect_orientation``).
    """
    if orientation not in ("genes_x_samples", "samples_x_genes", "auto"):
        raise ValueError(f"orientation must be 'genes_x_samples', 'samples_x_genes' or 'auto', not {orientation!r}")
    df = read_table(path, numeric=True)
    if orientation == "auto":
        orientation = detect_orientation(df, sample_ids)
    if orientation == "samples_x_genes":
        attrs = dict(df.attrs)
        df = df.T.copy()
        df.attrs.update(attrs)
    df.attrs["orientation"] = orientation
    return df


def looks_like_counts(df: pd.DataFrame, *, min_max: float = 100.0) -> bool:
    """True for raw counts (non-negative whole numbers with a large maximum).

    FastMix expects log-scale expression; counts should be transformed (e.g. log2(x+1)).
    """
    values = df.to_numpy(dtype=np.float64)
    if values.size == 0:
        return False
    lo = values.min()
    if not np.isfinite(lo):  # a missing or infinite cell: look at the finite ones only
        values = values[np.isfinite(values)]
        if values.size == 0:
            return False
        lo = values.min()
    if not lo >= 0:  # log-scale data usually stop here, after one pass
        return False
    hi = values.max()
    if not np.isfinite(hi):
        values = values[np.isfinite(values)]
        hi = values.max()
    return bool(hi >= min_max and np.all(np.abs(values - np.round(values)) < 1e-9))


_ROUNDING = 0.005  # rows may sum to 100.5 % (per-gate rounding of exported percentages)


def normalise_proportions(df: pd.DataFrame, file: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """Return fractions (rows sum to <= 1) and a notice if percentages were rescaled.

    The one percentages rule of the app (CLI, GUI and ``FastMix.fit``): percentages are
    recognised by row sums near 100 or any value above 1.5. Negative values, or rows summing
    to more than 1 (100 %) beyond rounding (0.5 %: five rounded gates giving 100.2 pass),
    raise ``InputError`` naming the row.
    """
    file = file or df.attrs.get("file")
    require_numeric(df, file)
    values = df.to_numpy(dtype=np.float64)
    neg = np.argwhere(values < 0)
    if neg.size:
        i, j = neg[0]
        raise InputError(f"proportion {values[i, j]:g} is negative", file=file,
                         column=str(df.columns[j]), row=str(df.index[i]))
    sums = values.sum(axis=1)
    notice = None
    out = df.astype(np.float64)
    if values.max() > 1.5 or (sums.size and 50 <= float(np.median(sums)) <= 150):
        out = out / 100.0
        notice = (f"{file or 'proportions'}: values look like percentages (median row sum "
                  f"{float(np.median(sums)):.3g}); divided by 100")
        sums = sums / 100.0
    over = np.flatnonzero(sums > 1.0 + _ROUNDING)
    if not over.size and sums.size and sums.max() > 1.0 + 1e-9:
        i = int(np.argmax(sums))
        scale = 100.0 if notice else 1.0
        rounding = (f"{file or 'proportions'}: rows add up to at most {sums[i] * scale:.4g}"
                    f"{' %' if notice else ''} (row '{df.index[i]}'), within rounding; used as given")
        notice = f"{notice}; {rounding}" if notice else rounding
    if over.size:
        i = int(over[0])
        raise InputError(f"proportions sum to {sums[i]:.4g} (more than 1)", file=file, row=str(df.index[i]),
                         hint="each row must hold fractions (or percentages) of one sample")
    out.attrs.update(df.attrs)
    return out, notice
