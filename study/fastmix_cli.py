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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.design import collinearity
from engine.errors import InputError, StudioError
from engine.inputs import read_expression, read_table
from engine.progress import ProgressCallback
from engine.study_inputs import StudyInputs, align_inputs, check_design
from study.bundle import ENRICHMENT_FILE, OUTPUT_FILES, write_bundle

__all__ = ["OUTPUT_FILES", "load_inputs", "run_fastmix", "write_outputs", "main"]

#: Files ``run_fastmix`` writes into the output folder (contracts read by other tools).

def _as_table(obj, role: str, *, numeric: bool) -> pd.DataFrame:
    if isinstance(obj, pd.DataFrame):  # checked by align_inputs
        return obj
    return read_table(obj, numeric=numeric)


def load_inputs(expression, proportions, covariates=None, *, subject: str | None = None,
                weights=None, reference: dict | None = None, orientation: str = "genes_x_samples",
                strata: str | None = None, cell_types: list[str] | None = None, date_ids: str = "error",
                near_match: str = "error") -> StudyInputs:
    """Read every input (paths or DataFrames) and check it with ``engine.study_inputs.align_inputs``,
    the validation shared with ``FastMix.fit`` and the app; errors name file/column/row."""
    files = {"expression": expression, "proportions": proportions, "covariates": covariates, "weights": weights}
    props = _as_table(proportions, "proportions", numeric=True)
    if isinstance(expression, pd.DataFrame):
        expr = _as_table(expression, "expression", numeric=True)
    else:
        expr = read_expression(expression, orientation=orientation, sample_ids=props.index)
    cov = _as_table(covariates, "covariates", numeric=False) if covariates is not None else None
    if subject is not None and cov is None:
        raise InputError("--subject needs a covariates file holding that column", column=subject)
    if weights is not None and not isinstance(weights, pd.Series):
        weights = _as_table(weights, "weights", numeric=True)
    return align_inputs(expr, props, cov, subject=subject, weights=weights, strata=strata, reference=reference,
                        files=files, cell_types=cell_types, date_ids=date_ids, near_match=near_match)


def run_fastmix(expression, proportions, covariates=None, out_dir: str | os.PathLike | None = None, *,
                include_covariate_main: bool = True, independent: bool = False, trim: float = 0.5,
                detector: str = "gmm", reference: dict | None = None, subject: str | None = None,
                weights=None, seed: int = 0, orientation: str = "genes_x_samples",
                variance: str = "moderated", permutations: int = 200, strata: str | None = None,
                cell_types: list[str] | None = None, date_ids: str = "error", near_match: str = "error",
                gene_sets: str | None = None, gsea_permutations: int = 1000,
                progress: ProgressCallback | None = None,
                **fastmix_options) -> tuple[Any, dict]:
    """Read, check, fit and (if ``out_dir``) write ``OUTPUT_FILES``; return ``(FastMix, report)``.

    Inputs are file paths (CSV/TSV/XLSX) or DataFrames (expression genes x samples,
    proportions and covariates samples x columns). ``weights`` is a file (sample ID,
    weight) or a Series. Extra keyword arguments go to ``FastMix`` (e.g. ``bias``).
    Date-like gene IDs and sample IDs differing only by case stop the run unless
    ``date_ids``/``near_match`` say otherwise (see ``engine.study_inputs.align_inputs``).
    """
    from engine.fastmix import FastMix
    from study.report import build_run_report

    t0 = time.perf_counter()
    if not 0 <= trim < 1:
        raise InputError(f"--trim must be in [0, 1), got {trim}")
    if permutations < 0:
        raise InputError(f"--permutations must be 0 or more, got {permutations}")
    if gsea_permutations < 0:
        raise InputError(f"--gsea-permutations must be 0 or more, got {gsea_permutations}")
    if variance not in ("moderated", "pooled"):
        raise InputError(f"--variance must be 'moderated' or 'pooled', got '{variance}'")
    study = load_inputs(expression, proportions, covariates, subject=subject, weights=weights,
                        reference=reference, orientation=orientation, strata=strata, cell_types=cell_types,
                        date_ids=date_ids, near_match=near_match)
    t_read = time.perf_counter() - t0
    design = check_design(study, include_covariate_main, reference)
    design_warnings = list(collinearity(design).warnings)
    want_sets = gene_sets is not None and str(gene_sets).lower() != "none"
    if want_sets:  # read the gene sets on another thread while the model fits (numpy frees the GIL often)
        from concurrent.futures import ThreadPoolExecutor

        from study.genesets import load_library

        reader = ThreadPoolExecutor(1, thread_name_prefix="gene-sets")
        library_job = reader.submit(load_library, gene_sets)
        reader.shutdown(wait=False)
    model = FastMix(trim=trim, independent=independent, detector=detector,
                    include_covariate_main=include_covariate_main, variance=variance,
                    permutations=permutations, random_state=seed, **fastmix_options)
    t1 = time.perf_counter()
    model.fit(study.expression, study.proportions, study.covariates, reference=reference,
              weights=study.weights, subject=study.subject, strata=study.strata, progress=progress)
    t_fit = time.perf_counter() - t1
    seen = set(study.notices) | set(study.warnings)
    model.notices_ = list(study.notices) + [n for n in model.notices_ if n not in seen]
    parameters = dict(model.results_.parameters) if getattr(model, "results_", None) is not None else {}
    parameters.update(model.get_params())
    parameters.update({"reference": dict(reference or {}), "subject_column": subject, "strata_column": strata,
                       "orientation": orientation, "seed": seed, "cell_types": list(study.proportions.columns),
                       "date_ids": date_ids, "near_match": near_match})
    timings = {"read_inputs": t_read, "fit": t_fit}
    timings.update({f"fit.{k}": v for k, v in (getattr(model, "timings_", None) or {}).items()})
    report = build_run_report({k: v for k, v in study.files.items() if v is not None}, parameters,
                              results=model, timings=timings)
    report["samples"] = {"matched": len(study.samples), "design_terms": list(design.names),
                         "warnings": list(study.warnings) + design_warnings}
    report["design"] = {"vif": {k: (float(v) if np.isfinite(v) else None) for k, v in collinearity(design).vif.items()},
                        "warnings": design_warnings}
    model.enrichment_ = None
    if want_sets:
        from study.genesets import METHODS_NOTE, enrichment

        library = library_job.result()
        t2 = time.perf_counter()
        model.enrichment_ = enrichment(model.results_, library.table, gsea=gsea_permutations > 0,
                                       permutations=gsea_permutations, seed=seed)
        report.setdefault("timings_s", {})["enrichment"] = time.perf_counter() - t2
        report["gene_sets"] = {"library": library.name, "version": library.version, "sets": len(library.table),
                               "method": METHODS_NOTE if gsea_permutations > 0 else METHODS_NOTE.split("; gsea")[0],
                               "gsea_permutations": gsea_permutations,
                               "rows": {m: int((model.enrichment_["method"] == m).sum()) for m in ("ora", "gsea")}}
    if out_dir is not None:
        write_outputs(model, report, out_dir)
    model.study_ = study
    model.design_warnings_ = design_warnings
    return model, report


def write_outputs(model, report: dict, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``OUTPUT_FILES`` (:func:`study.bundle.write_bundle`) into a temporary folder beside
    ``out_dir``, then move them in: a failed run leaves ``out_dir`` as it was."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("output path exists and is not a folder", file=str(out_dir))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        write_bundle(model.results_, tmp, report, per_term=False, enrichment=getattr(model, "enrichment_", None))
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name in OUTPUT_FILES + ((ENRICHMENT_FILE,) if (tmp / ENRICHMENT_FILE).exists() else ()):
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
    p.add_argument("--gene-sets", default="go-bp", metavar="LIB",
                   help="gene sets for enrichment (ORA of each covariate term's calls and preranked GSEA of its "
                        "ranking): go-bp (default), go-mf, go-cc (bundled GO), a .gmt file, or none; writes "
                        "enrichment.csv and an enrichment sheet in results.xlsx")
    p.add_argument("--gsea-permutations", type=int, default=0, metavar="N",
                   help="add preranked GSEA of each covariate term, its p-values calibrated on N random sets per "
                        "set size (1000 is usual; about 1-7 s per term); default 0: ORA only, the run stays at "
                        "about 2 s")
    p.add_argument("--permutations", type=int, default=200, metavar="B",
                   help="design-restricted permutations calibrating the covariate terms (default 200; 0 = off)")
    p.add_argument("--strata", metavar="COL", help="covariates column of strata (e.g. site); permutations stay inside")
    p.add_argument("--seed", type=int, default=0, help="seed of the permutations (default 0)")
    p.add_argument("--cell-types", metavar="A,B,C",
                   help="proportion columns that enter the model (default: all), chosen before any sum check")
    p.add_argument("--match-ids", choices=("exact", "loose"), default="exact",
                   help="'loose' matches sample IDs that differ only by case or whitespace (default: stop and say so)")
    dates = p.add_mutually_exclusive_group()
    dates.add_argument("--restore-date-ids", action="store_true",
                       help="restore gene symbols Excel turned into dates where unambiguous (9-Sep -> SEPT9)")
    dates.add_argument("--allow-date-ids", action="store_true", help="run with date-like gene IDs as they are")
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
            permutations=args.permutations, strata=args.strata,
            cell_types=[c.strip() for c in args.cell_types.split(",") if c.strip()] if args.cell_types else None,
            date_ids="restore" if args.restore_date_ids else ("warn" if args.allow_date_ids else "error"),
            near_match="fix" if args.match_ids == "loose" else "error", gene_sets=args.gene_sets,
            gsea_permutations=args.gsea_permutations)
    except StudioError as exc:
        print(f"fastmix: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. output folder not writable, disk full
        print(f"fastmix: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    for w in list(model.study_.warnings) + list(model.design_warnings_):
        print(f"fastmix: warning: {_one_line(w)}", file=sys.stderr)
    print(_summary(model, report, Path(args.out)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
