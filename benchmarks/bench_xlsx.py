"""Our .xlsx and CSV writers next to xlsxwriter and pandas on the largest export, in the same run.

The export is the app's results workbook for a simulated study of 22,283 genes (the size of
the bladder arrays, the largest real matrix we have) with 7 terms: one ranked sheet per term.
Both writers get the same sheets; xlsxwriter runs in its fastest mode (constant_memory, with
the numeric columns written from float lists). Prints seconds per writer and the ratio.

    python benchmarks/bench_xlsx.py [--genes 22283] [--repeats 3]
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.cells import excel_value, safe_cell  # noqa: E402
from engine.csvtext import csv_text  # noqa: E402
from engine.fastmix import FastMix  # noqa: E402
from engine.simulate import simulate_study  # noqa: E402
from study import export as ex  # noqa: E402


def write_with_xlsxwriter(path: Path, sheets) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                        "strings_to_urls": False, "strings_to_numbers": False})
    bold, text = wb.add_format({"bold": True}), wb.add_format({"num_format": "@"})
    for name, df, text_cols in sheets:
        ws = wb.add_worksheet(name)
        ws.freeze_panes(1, 0)
        cols = list(df.columns)
        ws.write_row(0, 0, [safe_cell(str(c)) for c in cols], bold)
        fast = [pd.api.types.is_float_dtype(df[c].dtype) and c not in text_cols for c in cols]
        floats = [df[c].to_numpy(dtype=np.float64).tolist() if f else None for c, f in zip(cols, fast)]
        objs = [None if f else df[c].to_numpy(dtype=object) for c, f in zip(cols, fast)]
        for i in range(len(df)):
            for j, c in enumerate(cols):
                if fast[j]:
                    x = floats[j][i]
                    if math.isfinite(x):
                        ws.write_number(i + 1, j, x)
                    continue
                v = objs[j][i]
                if c in text_cols:
                    if v is not None:
                        ws.write_string(i + 1, j, safe_cell(str(v)), text)
                    continue
                v = excel_value(v)
                if isinstance(v, str):
                    ws.write_string(i + 1, j, v)
                elif isinstance(v, bool):
                    ws.write_boolean(i + 1, j, v)
                elif v is not None:
                    ws.write_number(i + 1, j, v)
    wb.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genes", type=int, default=22283)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    sim = simulate_study(a.genes, seed=1)
    res = FastMix(permutations=0).fit(sim.expression, sim.proportions, sim.covariates).results_
    names = ex.sheet_names(list(res.terms))
    sheets = [(names[t], ex.term_table(res, t), ("gene",)) for t in res.terms]
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.repeats):
            t = time.perf_counter()
            ex.write_results_excel(res, Path(tmp) / "ours.xlsx")  # the app's whole workbook
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            write_with_xlsxwriter(Path(tmp) / "xlsxwriter.xlsx", sheets)  # only the term sheets
            theirs.append(time.perf_counter() - t)
        size = [(Path(tmp) / f).stat().st_size / 1e6 for f in ("ours.xlsx", "xlsxwriter.xlsx")]
    o, x = float(np.median(ours)), float(np.median(theirs))
    print(f"export: {a.genes} genes x {len(res.terms)} terms ({a.genes * len(res.terms) * 12:,} cells)")
    print(f"engine.xlsx (whole workbook)     median {o:6.2f} s  ({size[0]:.1f} MB)")
    print(f"xlsxwriter (term sheets only)    median {x:6.2f} s  ({size[1]:.1f} MB)")
    print(f"xlsxwriter / engine.xlsx = {x / o:.2f}x  (switch if <= 2x)")
    frame = ex.safe_frame(res.to_frame())  # gene_results.csv: every term stacked
    ours_csv, pandas_csv = [], []
    for _ in range(a.repeats):
        t = time.perf_counter()
        csv_text(frame)
        ours_csv.append(time.perf_counter() - t)
        t = time.perf_counter()
        frame.to_csv(None, index=False, float_format="%.17g", lineterminator="\n")
        pandas_csv.append(time.perf_counter() - t)
    oc, pc = float(np.median(ours_csv)), float(np.median(pandas_csv))
    print(f"gene_results.csv ({len(frame):,} rows): engine.csvtext median {oc:.2f} s, "
          f"pandas to_csv(%.17g) median {pc:.2f} s: {pc / oc:.2f}x")


if __name__ == "__main__":
    main()
