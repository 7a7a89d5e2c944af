"""The one export layout, written by the command line and by the Results tab alike.

``folder/`` gets the tables (``results.xlsx`` with a sheet per term, ``gene_results.csv`` with
every term stacked, ``fixed_effects.csv``, ``covariance.csv``), the run report
(``report.json``, ``report.html``) when one is given, and, with ``per_term``, the files for
downstream tools: ``gsea/<term>.rnk``, ``gsea/significant_sets.gmt`` and
``gene_lists/<term>_{up,down}.{txt,grp}`` with ``background.txt``, plus ``csv/<term>.csv``
with ``term_csvs`` (the same rows as ``gene_results.csv`` and the workbook's sheets: off by
default, it would add a third copy of the largest table). The ranked tables are formatted
once (:class:`study.export.ResultTables`) for every file that holds them. Every file is written
atomically (:mod:`study.files`); progress is reported per step and a cancel stops between steps.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from engine.progress import report as tell
from study import export as ex
from study import report as rp

__all__ = ["ENRICHMENT_FILE", "OUTPUT_FILES", "REPORT_FILES", "TABLE_FILES", "write_bundle"]

TABLE_FILES = ("fixed_effects.csv", "covariance.csv", "gene_results.csv", "results.xlsx")
REPORT_FILES = ("report.json", "report.html")
OUTPUT_FILES = TABLE_FILES + REPORT_FILES
ENRICHMENT_FILE = "enrichment.csv"  # when a gene-set library is given


def _tables(results, folder: Path, report: dict | None, tables: ex.ResultTables,
            enrichment: pd.DataFrame | None = None) -> list[Path]:
    sheets = ex.results_workbook(results, report, tables, enrichment)
    with ex.writing_workbook(sheets, folder / "results.xlsx"):  # the last sheets compress meanwhile
        ex.write_csv(results.fixed_effects.reset_index(), folder / "fixed_effects.csv")
        ex.write_csv(pd.DataFrame(results.covariance), folder / "covariance.csv", index=True, index_label="term")
        ex.write_gene_results(results, folder / "gene_results.csv", tables)
    return [folder / f for f in TABLE_FILES]


def _per_term(results, folder: Path, top_n: int, fdr: float, tables: ex.ResultTables | None) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    if tables is not None:
        (folder / "csv").mkdir(exist_ok=True)
        out["csv"] = ex.write_term_csvs(results, folder / "csv", tables)
    for sub in ("gsea", "gene_lists"):
        (folder / sub).mkdir(exist_ok=True)
    out.update({"rnk": list(ex.write_rnk(results, folder / "gsea")),
                "gmt": [ex.write_gmt(results, folder / "gsea" / "significant_sets.gmt", fdr=fdr)],
                "gene_lists": list(ex.write_gene_lists(results, folder / "gene_lists", top_n=top_n))})
    return out


def write_bundle(results, folder: str | os.PathLike, report: dict | None = None, *, per_term: bool = True,
                 term_csvs: bool = False, top_n: int = 100, fdr: float = 0.05, progress: Callable | None = None,
                 enrichment: pd.DataFrame | None = None) -> dict[str, list[Path]]:
    """Write the export layout into ``folder``; returns the written paths per kind.

    ``enrichment`` (:func:`study.genesets.enrichment`) goes into ``enrichment.csv`` and the
    ``enrichment`` sheet of ``results.xlsx``. ``report`` (a run report from
    :func:`study.report.build_run_report`) gets the time the tables took under
    ``timings_s.write_tables`` before it is written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    steps = 3 if per_term else 2
    tell(progress, 0, steps, "tables (CSV and Excel)")
    t0 = time.perf_counter()
    tables = ex.ResultTables(results)
    out: dict[str, list[Path]] = {"tables": _tables(results, folder, report, tables, enrichment)}
    if enrichment is not None:
        out["enrichment"] = [ex.write_csv(enrichment, folder / ENRICHMENT_FILE)]
    if per_term:
        tell(progress, 1, steps, "files per term (.rnk, .gmt, gene lists" + (", CSV)" if term_csvs else ")"))
        out.update(_per_term(results, folder, top_n, fdr, tables if term_csvs else None))
    tell(progress, steps - 1, steps, "run report")
    if report is not None:
        report.setdefault("timings_s", {})["write_tables"] = time.perf_counter() - t0
        out["report"] = [rp.write_report_json(report, folder / "report.json"),
                         rp.write_report_html(report, folder / "report.html", results=results, fdr=fdr)]
    tell(progress, steps, steps, "done")
    return out
