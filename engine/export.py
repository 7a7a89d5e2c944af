"""Writing FastMix results: Excel workbook, CSV per term, GSEA .rnk, gene lists and .gmt.

Every writer is atomic (temporary file beside the target, then ``os.replace``) and
neutralises text that a spreadsheet would run as a formula (``= + - @``, tab, CR).
Gene symbols are written as text so that SEPT1 or MARCH1 never turn into dates.
``results`` is a ``engine.results.FastMixResults`` (``terms``, ``to_frame``,
``fixed_effects``, ``covariance``, ``parameters``).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

__all__ = [
    "safe_cell", "safe_frame", "atomic_path", "sheet_names", "file_stem", "term_table",
    "write_csv", "write_results_excel", "write_term_csvs", "write_rnk", "rnk_scores",
    "write_gene_lists", "write_gmt",
]

_UMASK = os.umask(0o022)
os.umask(_UMASK)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
_FILE_BAD = re.compile(r"[^A-Za-z0-9._+-]+")
TERM_COLUMNS = ["gene", "coefficient", "random_effect", "quasi_p", "quasi_fdr", "ols_p", "ols_fdr", "rank"]


def safe_cell(value: Any) -> Any:
    """Text starting with ``= + - @`` (or tab/CR) gets a leading ``'``; other values unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` with ``safe_cell`` applied to text columns and the index."""
    out = df.copy()
    for c in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[c].dtype) or pd.api.types.is_bool_dtype(out[c].dtype)):
            out[c] = out[c].map(safe_cell).astype(object)
    if not pd.api.types.is_numeric_dtype(out.index.dtype):
        out.index = pd.Index([safe_cell(v) for v in out.index], name=out.index.name, dtype=object)
    out.columns = [safe_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_csv(df: pd.DataFrame, path: str | os.PathLike, *, index: bool = False,
              index_label: str | None = None, sep: str = ",") -> Path:
    """Atomic CSV (UTF-8, full float precision) with formula-like text neutralised."""
    with atomic_path(path) as tmp:
        safe_frame(df).to_csv(tmp, index=index, index_label=index_label, sep=sep,
                              float_format="%.17g", lineterminator="\n")
    return Path(path)


def file_stem(term: str) -> str:
    """File-name-safe version of a term name (``Cell1.Group[b]`` -> ``Cell1.Group_b_``)."""
    stem = _FILE_BAD.sub("_", str(term)).strip("._") or "term"
    return stem[:120]


def _unique_stems(terms) -> dict[str, str]:
    seen: dict[str, int] = {}
    out = {}
    for t in terms:
        stem = file_stem(t)
        key = stem.lower()
        if key in seen:
            seen[key] += 1
            stem = f"{stem}_{seen[key]}"
        else:
            seen[key] = 1
        out[t] = stem
    return out


def sheet_names(names, reserved=()) -> dict[str, str]:
    """Excel-valid, unique (case-insensitive) sheet names of at most 31 characters."""
    used = {r.lower() for r in reserved}
    out = {}
    for name in names:
        base = _SHEET_BAD.sub("_", str(name)).strip("'") or "term"
        cand = base[:31]
        k = 2
        while cand.lower() in used or cand.lower() == "history":
            suffix = f"~{k}"
            cand = base[:31 - len(suffix)] + suffix
            k += 1
        used.add(cand.lower())
        out[name] = cand
    return out


def term_table(results, term: str) -> pd.DataFrame:
    """Results of one term, ranked by quasi-p (columns ``TERM_COLUMNS``)."""
    df = results.to_frame(term)
    df = df.loc[df["term"] == term] if "term" in df.columns else df
    return df.sort_values(["rank", "gene"], kind="mergesort")[TERM_COLUMNS].reset_index(drop=True)


def _excel_value(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (int, bool)):
        return v
    if isinstance(v, str):
        return safe_cell(v)
    if isinstance(v, (dict, list, tuple, set)):
        return json.dumps(v, default=str)
    return safe_cell(str(v))


def _write_frame(wb, title: str, df: pd.DataFrame, *, text_columns=(), index_label: str | None = None) -> None:
    """Append a sheet (write-only mode); ``text_columns`` are forced to Excel text ('@')."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    ws = wb.create_sheet(title)
    bold = Font(bold=True)
    cols = list(df.columns)
    if index_label is not None:
        df = df.reset_index()
        df.columns = [index_label] + cols
        text_columns = (index_label, *text_columns)
        cols = list(df.columns)
    header = []
    for c in cols:
        cell = WriteOnlyCell(ws, value=_excel_value(str(c)))
        cell.font = bold
        header.append(cell)
    ws.append(header)
    text_idx = {i for i, c in enumerate(cols) if c in text_columns}
    arrays = [df[c].to_numpy(dtype=object) for c in cols]
    for r in range(len(df)):
        row = []
        for i, arr in enumerate(arrays):
            v = arr[r]
            if i in text_idx:
                cell = WriteOnlyCell(ws, value=None if v is None else safe_cell(str(v)))
                cell.number_format = "@"
                row.append(cell)
            else:
                row.append(_excel_value(v))
        ws.append(row)
    ws.freeze_panes = "A2"


def _flatten(prefix: str, value: Any, out: list) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    else:
        out.append((prefix, value))


def write_results_excel(results, path: str | os.PathLike, report: dict | None = None) -> Path:
    """Workbook: a ranked sheet per term, fixed effects, covariance D, parameters, run report."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    reserved = ("Fixed effects", "Covariance D", "Parameters", "Run report", "Columns")
    names = sheet_names(list(results.terms), reserved=reserved)
    for term in results.terms:
        _write_frame(wb, names[term], term_table(results, term), text_columns=("gene",))
    fe = results.fixed_effects
    if "term" not in fe.columns:
        fe = fe.rename_axis("term").reset_index()
    _write_frame(wb, "Fixed effects", fe, text_columns=("term",))
    cov = pd.DataFrame(results.covariance)
    _write_frame(wb, "Covariance D", cov, index_label="term")
    params = [(k, _excel_value(v)) for k, v in dict(getattr(results, "parameters", {}) or {}).items()]
    _write_frame(wb, "Parameters", pd.DataFrame(params, columns=["parameter", "value"]),
                 text_columns=("parameter",))
    descriptions = getattr(results, "column_descriptions", None) or {}
    if descriptions:
        _write_frame(wb, "Columns", pd.DataFrame(list(descriptions.items()), columns=["column", "meaning"]),
                     text_columns=("column", "meaning"))
    if report:
        flat: list = []
        _flatten("", report, flat)
        rows = [(k, _excel_value(v)) for k, v in flat]
        _write_frame(wb, "Run report", pd.DataFrame(rows, columns=["item", "value"]), text_columns=("item",))
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return Path(path)


def write_term_csvs(results, folder: str | os.PathLike) -> list[Path]:
    """One ranked CSV per term (``<term>.csv``) in ``folder``."""
    folder = Path(folder)
    stems = _unique_stems(results.terms)
    return [write_csv(term_table(results, t), folder / f"{stems[t]}.csv") for t in results.terms]


def rnk_scores(results, term: str) -> pd.Series:
    """GSEA ranking score per gene: sign(coefficient) * -log10(quasi_p), sorted descending.

    p is capped at the smallest positive float so scores stay finite; a gene listed twice
    keeps its largest |score|; genes with a missing p-value are left out.
    """
    df = results.to_frame(term)
    df = df.loc[df["term"] == term] if "term" in df.columns else df
    p = df["quasi_p"].to_numpy(dtype=np.float64)
    coef = df["coefficient"].to_numpy(dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(coef)
    score = np.sign(coef[ok]) * -np.log10(np.clip(p[ok], np.finfo(np.float64).tiny, 1.0))
    s = pd.DataFrame({"gene": df["gene"].astype(str).to_numpy()[ok], "score": score + 0.0})
    s = s.assign(absval=np.abs(score)).sort_values("absval", ascending=False, kind="mergesort")
    s = s.drop_duplicates("gene", keep="first")
    s = s.sort_values(["score", "gene"], ascending=[False, True], kind="mergesort")
    return pd.Series(s["score"].to_numpy(), index=pd.Index(s["gene"].to_numpy(), dtype=object), name=term)


def write_rnk(results, folder: str | os.PathLike) -> list[Path]:
    """GSEA preranked files ``<term>.rnk`` (``gene<TAB>score``, no header, sorted descending)."""
    folder = Path(folder)
    stems = _unique_stems(results.terms)
    paths = []
    for t in results.terms:
        s = rnk_scores(results, t)
        path = folder / f"{stems[t]}.rnk"
        lines = "".join(f"{safe_cell(g)}\t{v:.10g}\n" for g, v in zip(s.index, s.to_numpy()))
        _write_text(path, lines)
        paths.append(path)
    return paths


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def _direction(df: pd.DataFrame) -> np.ndarray:
    """+1/-1 per gene: the gene's random effect (deviation from the common effect)."""
    re_ = df["random_effect"].to_numpy(dtype=np.float64)
    coef = df["coefficient"].to_numpy(dtype=np.float64)
    return np.where(np.isfinite(re_), np.sign(re_), np.sign(coef))


def write_gene_lists(results, folder: str | os.PathLike, top_n: int = 100) -> list[Path]:
    """Top-N up and down genes per term (``.txt`` one per line, ``.grp`` with ``#`` header) + background.

    Up/down follow the sign of the gene's random effect (above or below the
    transcriptome-wide effect of that term); genes are ranked by quasi-p.
    """
    folder = Path(folder)
    stems = _unique_stems(results.terms)
    paths = []
    genes_all: list[str] = []
    for t in results.terms:
        df = term_table(results, t)
        genes_all.extend(df["gene"].astype(str).tolist())
        d = _direction(df)
        for label, mask in (("up", d > 0), ("down", d < 0)):
            genes = df.loc[mask, "gene"].astype(str).head(top_n).tolist()
            body = "".join(f"{safe_cell(g)}\n" for g in genes)
            txt = folder / f"{stems[t]}_{label}.txt"
            grp = folder / f"{stems[t]}_{label}.grp"
            _write_text(txt, body)
            _write_text(grp, f"# {t} {label}: top {len(genes)} genes by quasi-p (random effect "
                             f"{'> 0' if label == 'up' else '< 0'})\n" + body)
            paths += [txt, grp]
    background = folder / "background.txt"
    _write_text(background, "".join(f"{safe_cell(g)}\n" for g in dict.fromkeys(genes_all)))
    paths.append(background)
    return paths


def write_gmt(results, path: str | os.PathLike, fdr: float = 0.05) -> Path:
    """``.gmt`` of every term's significant genes (quasi_fdr < ``fdr``), split up/down.

    Set names are ``<term>_up`` / ``<term>_down``; empty sets are left out.
    """
    lines = []
    for t in results.terms:
        df = term_table(results, t)
        sig = df["quasi_fdr"].to_numpy(dtype=np.float64) < fdr
        d = _direction(df)
        for label, mask in (("up", d > 0), ("down", d < 0)):
            genes = df.loc[sig & mask, "gene"].astype(str).tolist()
            if genes:
                desc = f"FastMix {t} {label}, quasi_fdr < {fdr:g}"
                lines.append("\t".join([f"{t}_{label}", desc] + [safe_cell(g) for g in genes]) + "\n")
    _write_text(Path(path), "".join(lines))
    return Path(path)
