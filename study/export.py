"""Writing FastMix results: Excel workbook, all-terms CSV, CSV per term, GSEA .rnk, gene lists and .gmt.

Every writer is atomic (:mod:`study.files`: temporary file beside the target, fsync, rename) and
neutralises text that a spreadsheet would run as a formula (``= + - @``, tab, CR).
Gene symbols are written as text so that SEPT1 or MARCH1 never turn into dates.
``results`` is a ``engine.results.FastMixResults`` (``terms``, ``to_frame``,
``fixed_effects``, ``covariance``, ``parameters``).

The ranked tables carry ``DIGITS`` significant digits (more than 24 samples support; the
project's results file keeps every float64 exactly): each table is formatted once
(:class:`ResultTables`) and pasted into ``gene_results.csv``, ``csv/<term>.csv`` and the
workbook's sheets.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from engine.cells import excel_value, safe_cell
from engine.csvtext import csv_text
from engine.results import COLUMNS
from engine.tabletext import FormattedTable, format_numbers
from engine.xlsx import WorkbookZip, sheet_xml, worksheet
from study.files import atomic_path, write_text

__all__ = [
    "DIGITS", "ResultTables", "safe_cell", "safe_frame", "sheet_names", "file_stem", "term_table",
    "write_csv", "write_gene_results", "write_results_excel", "results_workbook", "save_workbook", "writing_workbook",
    "write_term_csvs", "write_rnk", "rnk_scores",
    "write_gene_lists", "write_gmt",
]

_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
_FILE_BAD = re.compile(r"[^A-Za-z0-9._+-]+")
TERM_COLUMNS = ["gene", "coefficient", "random_effect", "quasi_p", "quasi_fdr", "ols_p", "ols_fdr",
                "perm_p", "perm_fdr", "attribution", "fdr", "rank"]
DIGITS = 7  # significant digits of the numbers in the exported result tables


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


def write_csv(df: pd.DataFrame, path: str | os.PathLike, *, index: bool = False,
              index_label: str | None = None, sep: str = ",") -> Path:
    """Atomic CSV (UTF-8, floats exact as shortest round-trip text) with formula-like text neutralised."""
    write_text(path, csv_text(safe_frame(df), index=index, index_label=index_label, sep=sep))
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
    """Results of one term, ranked by the app's ``fdr`` (columns ``TERM_COLUMNS``)."""
    df = results.to_frame(term)  # in rank order (1 = strongest), one row per gene
    return df[TERM_COLUMNS].reset_index(drop=True)


class ResultTables:
    """Every term's ranked table formatted once (``digits`` significant digits), for all writers."""

    def __init__(self, results, digits: int | None = DIGITS) -> None:
        self.results, self.digits = results, digits
        self._tables: dict[str, FormattedTable] = {}
        self._text: dict = {}  # gene and term cells, formatted once for every term

    def __getitem__(self, term: str) -> FormattedTable:
        if term not in self._tables:
            self._tables[term] = FormattedTable(self.results.to_frame(term), digits=self.digits,
                                                text_columns=("gene", "term"), text_cache=self._text)
        return self._tables[term]

    def csv(self, term: str | None = None) -> str:
        """CSV text of one term (``TERM_COLUMNS``) or, with ``term=None``, of every term stacked (``COLUMNS``)."""
        if term is not None:
            return self[term].csv_header(TERM_COLUMNS) + self[term].csv_body(TERM_COLUMNS)
        terms = list(self.results.terms)
        head = self[terms[0]].csv_header(COLUMNS) if terms else ",".join(COLUMNS) + "\n"
        return head + "".join(self[t].csv_body(COLUMNS) for t in terms)

    def sheet(self, term: str) -> str:
        """Worksheet XML of one term (``TERM_COLUMNS``; genes as text)."""
        return worksheet(self[term].xlsx_header(TERM_COLUMNS), self[term].xlsx_rows(TERM_COLUMNS))


def write_gene_results(results, path: str | os.PathLike, tables: ResultTables | None = None) -> Path:
    """``gene_results.csv``: every term's ranked table stacked (columns ``engine.results.COLUMNS``)."""
    write_text(path, (tables or ResultTables(results)).csv())
    return Path(path)


def _flatten(prefix: str, value: Any, out: list) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    else:
        out.append((prefix, value))


def write_results_excel(results, path: str | os.PathLike, report: dict | None = None,
                        tables: ResultTables | None = None, enrichment: pd.DataFrame | None = None) -> Path:
    """Workbook: a ranked sheet per term, fixed effects, covariance D, parameters, the gene-set
    ``enrichment`` table when given, run report.

    Written by :mod:`engine.xlsx` (about 5x faster than xlsxwriter on large studies);
    gene symbols are text cells formatted '@', formula-like text is neutralised.
    """
    return save_workbook(results_workbook(results, report, tables, enrichment), path)


Sheet = tuple[str, "str | Callable[[], str]"]  # (name, worksheet XML or a function making it)


@contextmanager
def writing_workbook(sheets: list[Sheet], path: str | os.PathLike) -> Iterator[None]:
    """Write ``(sheet name, XML or function making it)`` pairs into ``path``, atomically: each sheet
    is compressed off the GIL while the next is made, and the ``with`` body runs while the last
    ones compress; leaving it waits for them."""
    with atomic_path(path) as tmp, WorkbookZip(tmp, [name for name, _ in sheets]) as wb:
        for _, xml in sheets:
            wb.add(xml() if callable(xml) else xml)
        yield


def save_workbook(sheets: list[Sheet], path: str | os.PathLike) -> Path:
    """Write ``(sheet name, XML or function making it)`` pairs into ``path``, atomically."""
    with writing_workbook(sheets, path):
        pass
    return Path(path)


def results_workbook(results, report: dict | None = None, tables: ResultTables | None = None,
                     enrichment: pd.DataFrame | None = None) -> list[Sheet]:
    """The sheets of :func:`write_results_excel` as ``(name, worksheet XML)`` pairs; a term's
    sheet is a function making its XML, called when the sheet is written."""
    tables = tables or ResultTables(results)
    reserved = ("Fixed effects", "Covariance D", "Parameters", "Columns", "Run report", "enrichment")
    names = sheet_names(list(results.terms), reserved=reserved)
    sheets: list[Sheet] = [(names[t], partial(tables.sheet, t)) for t in results.terms]
    sheets.append(("Fixed effects", sheet_xml(results.fixed_effects.reset_index(), text_columns=("term",))))
    cov = pd.DataFrame(results.covariance)
    cov = cov.rename_axis("term").reset_index()
    sheets.append(("Covariance D", sheet_xml(cov, text_columns=("term",))))
    params = [(str(k), excel_value(v)) for k, v in dict(getattr(results, "parameters", {}) or {}).items()]
    sheets.append(("Parameters", sheet_xml(pd.DataFrame(params, columns=["parameter", "value"], dtype=object),
                                            text_columns=("parameter",))))
    descriptions = getattr(results, "column_descriptions", None) or {}
    if descriptions:
        sheets.append(("Columns", sheet_xml(pd.DataFrame(list(descriptions.items()), columns=["column", "meaning"],
                                                          dtype=object), text_columns=("column", "meaning"))))
    if enrichment is not None:
        sheets.append(("enrichment", sheet_xml(enrichment, text_columns=("term", "gene_set", "method",
                                                                        "leading_edge"))))
    if report:
        flat: list = []
        _flatten("", report, flat)
        rows = [(k, excel_value(v)) for k, v in flat]
        sheets.append(("Run report", sheet_xml(pd.DataFrame(rows, columns=["item", "value"], dtype=object),
                                                text_columns=("item",))))
    return sheets


def write_term_csvs(results, folder: str | os.PathLike, tables: ResultTables | None = None) -> list[Path]:
    """One ranked CSV per term (``<term>.csv``) in ``folder``."""
    folder = Path(folder)
    tables = tables or ResultTables(results)
    stems = _unique_stems(results.terms)
    paths = [folder / f"{stems[t]}.csv" for t in results.terms]
    for t, path in zip(results.terms, paths):
        write_text(path, tables.csv(t))
    return paths


def rnk_scores(results, term: str) -> pd.Series:
    """GSEA ranking score per gene: sign(coefficient) times the app's ranking statistic
    (the calibrated |T| of a permutation-calibrated term, else -log10 of its p-value;
    -log10(quasi_p) for results without one), sorted descending.

    p is capped at the smallest positive float so scores stay finite; a gene listed twice
    keeps its largest |score|; genes with a missing p-value are left out.
    """
    df = results.to_frame(term)
    df = df.loc[df["term"] == term] if "term" in df.columns else df
    coef = df["coefficient"].to_numpy(dtype=np.float64)
    stat = getattr(results, "score", None)
    if stat is not None:
        mag = stat[term].reindex(df["gene"].to_numpy()).to_numpy(dtype=np.float64)
    else:
        p = df["quasi_p"].to_numpy(dtype=np.float64)
        mag = -np.log10(np.clip(p, np.finfo(np.float64).tiny, 1.0))
    ok = np.isfinite(mag) & np.isfinite(coef)
    score = np.sign(coef[ok]) * mag[ok]
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
        lines = "".join(map("{}\t{}\n".format, map(safe_cell, s.index.tolist()), format_numbers(s.to_numpy(), DIGITS)))
        write_text(path, lines)
        paths.append(path)
    return paths


def _direction(df: pd.DataFrame) -> np.ndarray:
    """+1/-1 per gene: the gene's random effect (deviation from the common effect)."""
    re_ = df["random_effect"].to_numpy(dtype=np.float64)
    coef = df["coefficient"].to_numpy(dtype=np.float64)
    return np.where(np.isfinite(re_), np.sign(re_), np.sign(coef))


def write_gene_lists(results, folder: str | os.PathLike, top_n: int = 100) -> list[Path]:
    """Top-N up and down genes per term (``.txt`` one per line, ``.grp`` with ``#`` header) + background.

    Up/down follow the sign of the gene's random effect (above or below the
    transcriptome-wide effect of that term); genes are ranked as in the app (by ``fdr``).
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
            write_text(txt, body)
            write_text(grp, f"# {t} {label}: top {len(genes)} genes by fdr (random effect "
                             f"{'> 0' if label == 'up' else '< 0'})\n" + body)
            paths += [txt, grp]
    background = folder / "background.txt"
    write_text(background, "".join(f"{safe_cell(g)}\n" for g in dict.fromkeys(genes_all)))
    paths.append(background)
    return paths


def write_gmt(results, path: str | os.PathLike, fdr: float = 0.05) -> Path:
    """``.gmt`` of every term's significant genes (the app's ``fdr`` < ``fdr``), split up/down.

    Set names are ``<term>_up`` / ``<term>_down``; empty sets are left out.
    """
    lines = []
    for t in results.terms:
        df = term_table(results, t)
        sig = df["fdr"].to_numpy(dtype=np.float64) < fdr
        d = _direction(df)
        for label, mask in (("up", d > 0), ("down", d < 0)):
            genes = df.loc[sig & mask, "gene"].astype(str).tolist()
            if genes:
                desc = f"FastMix {t} {label}, fdr < {fdr:g}"
                lines.append("\t".join([f"{t}_{label}", desc] + [safe_cell(g) for g in genes]) + "\n")
    write_text(Path(path), "".join(lines))
    return Path(path)
