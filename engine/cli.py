"""Headless FastMix: ``python main.py fastmix --expression E --proportions P --out DIR``.

``run_fastmix`` is the whole pipeline (read, check, match, fit, write) and is shared by
the command line, the GUI and the self-test so that all give identical files. Bad input
stops with one line naming the file, column and row (exit code 2) and leaves the output
folder untouched: files are written into a temporary folder beside it and moved in only
when everything succeeded.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import DesignError, InputError, StudioError
from engine.inputs import constant_columns, excel_date_ids, looks_like_counts, normalise_proportions, read_expression, read_table, require_numeric
from engine.progress import ProgressCallback

__all__ = ["OUTPUT_FILES", "StudyInputs", "load_inputs", "run_fastmix", "write_outputs", "main"]

#: Files ``run_fastmix`` writes into the output folder (contracts read by other tools).
OUTPUT_FILES = ("fixed_effects.csv", "covariance.csv", "gene_results.csv", "results.xlsx",
                "report.json", "report.html")


@dataclass(frozen=True)
class StudyInputs:
    """Checked, sample-matched inputs ready for ``FastMix.fit``."""

    expression: pd.DataFrame          # genes x matched samples
    proportions: pd.DataFrame         # matched samples x cell types, fractions
    covariates: pd.DataFrame | None   # matched samples x covariates (text kept)
    subject: pd.Series | None         # subject ID per sample (repeated measures)
    weights: pd.Series | None
    samples: list
    match: Any                        # engine.matching.SampleMatch
    notices: list
    warnings: list
    files: dict
    strata: pd.Series | None = None   # stratum per sample (permutations stay inside it)


def _as_table(obj, role: str, *, numeric: bool) -> pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        df = obj.copy()
        df.attrs.setdefault("file", role)
        df.index = pd.Index([str(i) for i in df.index], dtype=object)
        df.columns = [str(c) for c in df.columns]
        if numeric:
            require_numeric(df, df.attrs["file"])
        return df
    return read_table(obj, numeric=numeric)


def load_inputs(expression, proportions, covariates=None, *, subject: str | None = None,
                weights=None, reference: dict | None = None, orientation: str = "genes_x_samples",
                strata: str | None = None) -> StudyInputs:
    """Read and check every input, match samples by ID; raise ``InputError`` naming file/column/row."""
    files = {"expression": expression, "proportions": proportions, "covariates": covariates, "weights": weights}
    notices: list[str] = []
    warnings: list[str] = []
    props = _as_table(proportions, "proportions", numeric=True)
    pfile = props.attrs["file"]
    if isinstance(expression, pd.DataFrame):
        expr = _as_table(expression, "expression", numeric=True)
    else:
        expr = read_expression(expression, orientation=orientation, sample_ids=props.index)
    efile = expr.attrs["file"]
    cov = None
    cfile = None
    subj = None
    if covariates is not None:
        cov = _as_table(covariates, "covariates", numeric=False)
        cfile = cov.attrs["file"]
        if subject is not None:
            if subject not in cov.columns:
                raise InputError(f"subject column '{subject}' not found (columns: {', '.join(cov.columns)})",
                                 file=cfile, column=subject)
            subj = cov[subject].astype(object)
            cov = cov.drop(columns=[subject])
    elif subject is not None:
        raise InputError("--subject needs a covariates file holding that column", column=subject)
    strat = None
    if strata is not None:
        if cov is None or strata not in cov.columns:
            raise InputError(f"strata column '{strata}' not found in the covariates"
                             + (f" (columns: {', '.join(cov.columns)})" if cov is not None else ""),
                             file=cfile or "covariates", column=strata)
        strat = cov[strata].astype(object)
        cov = cov.drop(columns=[strata])
    for col, level in (reference or {}).items():
        if cov is None or col not in cov.columns:
            raise InputError(f"reference given for unknown covariate column '{col}'", file=cfile or "covariates",
                             column=col)
        levels = sorted({str(v).strip() for v in cov[col].dropna()})
        if str(level) not in levels:
            raise InputError(f"reference level '{level}' not found (levels: {', '.join(levels)})",
                             file=cfile, column=col)
    w = None
    wfile = None
    if weights is not None:
        if isinstance(weights, pd.Series):
            w = weights.astype(np.float64)
            w.index = [str(i) for i in w.index]
            wfile = str(weights.attrs.get("file", "weights"))
        else:
            wt = _as_table(weights, "weights", numeric=True)
            wfile = wt.attrs["file"]
            w = wt.iloc[:, 0].astype(np.float64)
        bad = np.flatnonzero(~(w.to_numpy() > 0))
        if bad.size:
            raise InputError(f"weight {w.iloc[bad[0]]:g} is not positive", file=wfile, row=str(w.index[bad[0]]))
    dates = excel_date_ids(expr.index)
    if dates:
        warnings.append(f"{efile}: {len(dates)} gene ID(s) look like dates made by Excel ({', '.join(dates[:5])}); "
                        "e.g. MARCH1 becomes 1-Mar; re-export the gene IDs as text")
    if looks_like_counts(expr):
        warnings.append(f"{efile}: values look like raw counts (non-negative whole numbers up to "
                        f"{np.nanmax(expr.to_numpy()):.0f}); FastMix expects log-scale expression, e.g. log2(x+1)")

    from engine.matching import match_samples

    ids = {efile + " (columns)": list(expr.columns), pfile + " (rows)": list(props.index)}
    if cov is not None:
        ids[cfile + " (rows)"] = list(cov.index)
    if w is not None:
        ids[wfile + " (rows)"] = list(w.index)
    match = match_samples(**ids)
    samples = list(match.common)
    if not samples:
        hint = "; ".join(f"'{a}' vs '{b}' {why}" for a, b, why in match.suggestions[:3])
        raise InputError("no sample IDs in common between " + " and ".join(ids) + " (e.g. "
                         + ", ".join(f"{k.split(' ')[0]}: {', '.join(v[:3])}" for k, v in ids.items()) + ")",
                         hint=hint or None)
    if not match.ok:
        left = sorted(set().union(*(set(v) for v in ids.values())) - set(samples))
        text = f"{len(left)} sample ID(s) are not in every input and were left out: " + ", ".join(left[:20])
        if len(left) > 20:
            text += f" ... (+{len(left) - 20} more)"
        if match.suggestions:
            text += "; " + "; ".join(f"'{a}' vs '{b}' {why}" for a, b, why in match.suggestions[:3])
        warnings.append(text)
    props = props.loc[samples]
    props, notice = normalise_proportions(props, file=pfile)
    if notice:
        notices.append(notice)
    const_cells = constant_columns(props)
    if const_cells:
        raise InputError(f"cell type '{const_cells[0]}' has the same proportion in all {len(samples)} matched samples",
                         file=pfile, column=const_cells[0], hint="remove that column")
    expr = expr[samples]
    if cov is not None:
        cov = cov.loc[samples]
        for c in cov.columns:  # NA anywhere is an error; text columns become indicators
            na = cov[c].isna().to_numpy()
            if na.any():
                raise InputError("value is missing (NA)", file=cfile, column=str(c),
                                 row=str(cov.index[int(np.argmax(na))]))
        const = constant_columns(cov)
        if const:
            raise InputError(f"covariate is constant across the {len(samples)} matched samples",
                             file=cfile, column=const[0], hint="remove the column")
        cov.attrs["file"] = cfile
    if subj is not None:
        subj = subj.loc[samples]
        na = subj.isna().to_numpy()
        if na.any():
            raise InputError("subject ID is missing", file=cfile, column=subject, row=str(subj.index[int(np.argmax(na))]))
        subj = subj.astype(str)
    if w is not None:
        w = w.loc[samples]
    if strat is not None:
        strat = strat.loc[samples]
        na = strat.isna().to_numpy()
        if na.any():
            raise InputError("stratum is missing", file=cfile, column=strata, row=str(strat.index[int(np.argmax(na))]))
        strat = strat.astype(str)
    return StudyInputs(expr, props, cov, subj, w, samples, match, notices, warnings, files, strat)


def _check_design(study: StudyInputs, include_covariate_main: bool, reference: dict | None):
    from engine.design import build_design

    design = build_design(study.proportions, study.covariates, include_covariate_main=include_covariate_main,
                          reference=reference, check=False)
    n, L = design.X.shape
    if n <= L:
        raise DesignError(f"{n} matched samples but the model has {L} terms; FastMix needs more samples "
                          "than terms", hint="use --no-covariate-main, fewer covariates or fewer cell types")
    from engine.design import check_rank

    check_rank(design.X, design.names)
    return design


def run_fastmix(expression, proportions, covariates=None, out_dir: str | os.PathLike | None = None, *,
                include_covariate_main: bool = True, independent: bool = False, trim: float = 0.5,
                detector: str = "gmm", reference: dict | None = None, subject: str | None = None,
                weights=None, seed: int = 0, orientation: str = "genes_x_samples",
                variance: str = "moderated", permutations: int = 200, strata: str | None = None,
                progress: ProgressCallback | None = None, **fastmix_options) -> tuple[Any, dict]:
    """Read, check, fit and (if ``out_dir``) write ``OUTPUT_FILES``; return ``(FastMix, report)``.

    Inputs are file paths (CSV/TSV/XLSX) or DataFrames (expression genes x samples,
    proportions and covariates samples x columns). ``weights`` is a file (sample ID,
    weight) or a Series. Extra keyword arguments go to ``FastMix`` (e.g. ``bias``).
    """
    from engine.fastmix import FastMix
    from engine.report import build_run_report

    t0 = time.perf_counter()
    if not 0 <= trim < 1:
        raise InputError(f"--trim must be in [0, 1), got {trim}")
    if permutations < 0:
        raise InputError(f"--permutations must be 0 or more, got {permutations}")
    if variance not in ("moderated", "pooled"):
        raise InputError(f"--variance must be 'moderated' or 'pooled', got '{variance}'")
    study = load_inputs(expression, proportions, covariates, subject=subject, weights=weights,
                        reference=reference, orientation=orientation, strata=strata)
    t_read = time.perf_counter() - t0
    design = _check_design(study, include_covariate_main, reference)
    model = FastMix(trim=trim, independent=independent, detector=detector,
                    include_covariate_main=include_covariate_main, variance=variance,
                    permutations=permutations, random_state=seed, **fastmix_options)
    t1 = time.perf_counter()
    model.fit(study.expression, study.proportions, study.covariates, reference=reference,
              weights=study.weights, subject=study.subject, strata=study.strata, progress=progress)
    t_fit = time.perf_counter() - t1
    model.notices_ = list(study.notices) + [n for n in model.notices_ if "matched by ID" not in n]
    parameters = dict(model.results_.parameters) if getattr(model, "results_", None) is not None else {}
    parameters.update(model.get_params())
    parameters.update({"reference": dict(reference or {}), "subject_column": subject, "strata_column": strata,
                       "orientation": orientation, "seed": seed})
    timings = {"read_inputs": t_read, "fit": t_fit}
    timings.update({f"fit.{k}": v for k, v in (getattr(model, "timings_", None) or {}).items()})
    report = build_run_report({k: v for k, v in study.files.items() if v is not None}, parameters,
                              results=model, timings=timings)
    report["samples"] = {"matched": len(study.samples), "design_terms": list(design.names),
                         "warnings": list(study.warnings)}
    if out_dir is not None:
        write_outputs(model, report, out_dir)
    model.study_ = study
    return model, report


def write_outputs(model, report: dict, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``OUTPUT_FILES`` into a temporary folder beside ``out_dir``, then move them in."""
    from engine.export import write_csv, write_results_excel
    from engine.report import write_report_html, write_report_json

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("output path exists and is not a folder", file=str(out_dir))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    t0 = time.perf_counter()
    try:
        res = model.results_
        write_csv(res.fixed_effects.reset_index(), tmp / "fixed_effects.csv")
        write_csv(pd.DataFrame(res.covariance), tmp / "covariance.csv", index=True, index_label="term")
        write_csv(res.to_frame(), tmp / "gene_results.csv")
        write_results_excel(res, tmp / "results.xlsx", report=report)
        report.setdefault("timings_s", {})["write_tables"] = time.perf_counter() - t0
        write_report_json(report, tmp / "report.json")
        write_report_html(report, tmp / "report.html")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name in OUTPUT_FILES:
            os.replace(tmp / name, out_dir / name)
            written.append(out_dir / name)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _parse_reference(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--reference must look like COLUMN=LEVEL, got '{item}'")
        col, level = item.split("=", 1)
        out[col.strip()] = level.strip()
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fastmix", description="FastMix: cell type-specific differential expression from bulk expression, "
        "cell proportions and covariates (samples matched by ID).")
    p.add_argument("--expression", "-e", required=True, help="genes x samples table (CSV/TSV/XLSX), gene IDs in the first column")
    p.add_argument("--proportions", "-p", required=True, help="samples x cell types (fractions or percentages)")
    p.add_argument("--covariates", "-c", help="samples x covariates (numeric or text columns)")
    p.add_argument("--out", "-o", required=True, help="output folder")
    p.add_argument("--no-covariate-main", action="store_true", help="leave covariate main effects out of the design")
    p.add_argument("--independent", action="store_true", help="independent (diagonal) random effects")
    p.add_argument("--trim", type=float, default=0.5, help="trimming fraction for informative terms (default 0.5)")
    p.add_argument("--detector", choices=("gmm", "shapiro"), default="gmm", help="informative-term detector")
    p.add_argument("--reference", action="append", default=[], metavar="COL=LEVEL",
                   help="reference level of a text covariate (repeatable)")
    p.add_argument("--subject", metavar="COL", help="covariates column with subject IDs (repeated measures)")
    p.add_argument("--weights", metavar="FILE", help="table of sample ID, weight")
    p.add_argument("--variance", choices=("moderated", "pooled"), default="moderated",
                   help="gene variances: 'moderated' (default; empirical-Bayes, calibrated on real data) or "
                        "'pooled' (one variance for all genes, as the R package)")
    p.add_argument("--permutations", type=int, default=200, metavar="B",
                   help="design-restricted permutations calibrating the covariate terms (default 200; 0 = off)")
    p.add_argument("--strata", metavar="COL", help="covariates column of strata (e.g. site); permutations stay inside")
    p.add_argument("--seed", type=int, default=0, help="seed of the permutations (default 0)")
    p.add_argument("--orientation", choices=("genes_x_samples", "samples_x_genes", "auto"),
                   default="genes_x_samples", help=argparse.SUPPRESS)
    return p


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _summary(model, report: dict, out_dir: Path, top: int = 5) -> str:
    res = model.results_
    study = model.study_
    lines = [f"FastMix: {len(study.samples)} samples matched, {res.coef.shape[0]} genes, {len(res.terms)} terms"]
    lines += [f"notice: {_one_line(n)}" for n in model.notices_]
    lines.append("informative terms: " + (", ".join(res.informative_terms) or "none")
                 + f" (kept genes {res.kept_genes}, sigma2 {res.sigma2:.4g})")
    fe = res.fixed_effects
    lines.append("fixed effects:")
    lines.append(fe.to_string(float_format=lambda v: f"{v:.4g}"))
    calls = report.get("results", {}).get("calls_at_fdr_0.05", {})
    if calls:
        lines.append("calls at fdr <= 0.05 (expected under permuted labels):")
        for t, c in calls.items():
            exp = c.get("expected_under_permutation")
            lines.append(f"  {t}: {c['observed']}" + (f" ({exp:.1f})" if exp is not None else "") + f"  [{c['method']}]")
    inter = [t for t in res.terms if res.term_kinds.get(t) == "interaction"]
    if inter:
        lines.append(f"top {top} genes per interaction term (fdr):")
        for t in inter:
            df = res.to_frame(t).head(top)
            lines.append(f"  {t}: " + ", ".join(f"{g} ({p:.2g})" for g, p in zip(df["gene"], df["fdr"])))
    lines.append(f"results written to {out_dir}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns 0 on success, 2 on bad input."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        model, report = run_fastmix(
            args.expression, args.proportions, args.covariates, args.out,
            include_covariate_main=not args.no_covariate_main, independent=args.independent, trim=args.trim,
            detector=args.detector, reference=_parse_reference(args.reference), subject=args.subject,
            weights=args.weights, seed=args.seed, orientation=args.orientation, variance=args.variance,
            permutations=args.permutations, strata=args.strata)
    except StudioError as exc:
        print(f"fastmix: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. output folder not writable, disk full
        print(f"fastmix: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    for w in model.study_.warnings:
        print(f"fastmix: warning: {_one_line(w)}", file=sys.stderr)
    print(_summary(model, report, Path(args.out)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
