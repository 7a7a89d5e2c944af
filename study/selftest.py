"""Headless end-to-end self-test: ``python main.py --self-test`` (also from the bundle).

Generates the demo study into a temporary folder, gates every FCS file with DAFi, runs FastMix
on the gated proportions, exports Excel, CSV and GSEA ``.rnk`` files, then checks the outputs
against the simulated truth, and checks that gene-set enrichment (bundled GO BP, offline) finds
the pathway planted in the demo. Prints one line per stage with its timing and exits 0 only if every
check holds. No Qt is used here (the GUI smoke check lives in :mod:`gui.selftest`), and nothing is
read from or written to the network.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["SelfTest", "main"]

#: gated proportions must lie this close to the simulated truth (absolute fraction)
PROPORTION_TOLERANCE = 0.05
#: of the 100 best-ranked genes of a planted term, at least this share must be true DEGs
#: (5 % of genes carry an effect, so chance gives 0.05)
MIN_TOP100_PRECISION = 0.5
#: the demo's planted pathway must be among this many best GSEA sets of its term (GO sets overlap:
#: its parents and siblings share most of its genes), at FDR <= 0.05 with a positive NES
PATHWAY_MAX_RANK = 10


@dataclass
class SelfTest:
    """Runs the stages in order, recording timings and failed checks."""

    folder: Path
    processes: int = 2
    echo: Callable[[str], None] = print
    timings: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.failures.append(what)
            self.echo(f"  FAILED: {what}")
        return bool(ok)

    def _stage(self, name: str, func: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        detail = func()
        self.timings[name] = time.perf_counter() - t0
        self.echo(f"{name:<10} {self.timings[name]:6.2f} s  {detail}")

    # ------------------------------------------------------------------------------ stages
    def demo(self) -> str:
        from study.demo import ensure_demo_study

        self.project_file = ensure_demo_study(self.folder / "demo")
        self.study = self.project_file.parent
        self.project = json.loads(self.project_file.read_text(encoding="utf-8"))
        n = len(self.project["fcs_files"])
        self.check(n == 24, f"demo study has {n} FCS files, expected 24")
        return f"demo study with {n} FCS files in {self.study}"

    def gate(self) -> str:
        from gating.batch import gate_batch
        from gating.dafi import DafiRefiner
        from gating.strategy import GatingStrategy
        from study.gating_settings import DafiSettings

        strategy = GatingStrategy.from_dict(self.project["strategy"])
        dafi = DafiSettings.from_dict(self.project.get("dafi"))
        refiner = DafiRefiner(n_clusters=dafi.k, random_state=dafi.seed)
        paths = [self.study / rel for rel in self.project["fcs_files"]]
        res = gate_batch(paths, strategy, dafi=refiner, processes=self.processes)
        self.check(not res.errors, f"gating failed for: {'; '.join(res.errors.values())}")
        cells = list(self.project["study"]["populations"])
        props = res.proportions(cells)
        truth = pd.read_csv(self.study / "true_proportions.csv", index_col=0).loc[props.index, cells]
        err = float(np.abs(props.to_numpy() - truth.to_numpy()).max())
        self.check(len(props) == len(paths), f"{len(props)} of {len(paths)} samples gated")
        self.check(err < PROPORTION_TOLERANCE,
                   f"DAFi proportions differ from the simulated truth by up to {err:.3f} "
                   f"(tolerance {PROPORTION_TOLERANCE})")
        self.check(len(res.audits) == len(paths), "a DAFi audit (seed, k, channels) for every file")
        self.proportions = props
        self.facts["max_proportion_error"] = round(err, 4)
        return (f"{len(props)} files with DAFi (k={refiner.n_clusters}); {', '.join(cells)}; "
                f"max |gated - truth| = {err:.3f}")

    def fastmix(self) -> str:
        from study.fastmix_cli import OUTPUT_FILES, run_fastmix

        sheet = pd.read_csv(self.study / "sample_sheet.csv", index_col=0, dtype={"visit": str})
        self.out = self.folder / "fastmix"
        model, report = run_fastmix(
            self.study / "expression.csv", self.proportions, sheet[["subject_id", "age", "response", "visit"]],
            self.out, include_covariate_main=False, subject="subject_id",
            reference={"response": "non-responder", "visit": "V1"}, seed=0, gene_sets="go-bp")
        self.results = model.results_
        missing = [f for f in OUTPUT_FILES if not (self.out / f).is_file()]
        self.check(not missing, f"fastmix output files missing: {missing}")
        deg = pd.read_csv(self.study / "true_deg.csv", index_col=0).astype(bool)
        precisions = {}
        for term in deg.columns:
            if not self.check(term in self.results.terms, f"term {term} missing from the results"):
                continue
            top = self.results.genes_at(self.results.ranking(term)[:100])  # the app's ranking
            precisions[term] = float(deg.loc[top, term].mean())
            self.check(precisions[term] >= MIN_TOP100_PRECISION,
                       f"{term}: only {precisions[term]:.0%} of the top 100 genes are planted DEGs")
        gene_results = pd.read_csv(self.out / "gene_results.csv", dtype={"gene": str}, keep_default_na=False)
        expected_cols = ["gene", "term", "coefficient", "random_effect", "quasi_p", "quasi_fdr", "ols_p",
                         "ols_fdr", "perm_p", "perm_fdr", "attribution", "fdr", "rank"]
        self.check(list(gene_results.columns) == expected_cols,
                   f"gene_results.csv columns {list(gene_results.columns)}")
        self.facts["top100_precision"] = {t: round(p, 2) for t, p in precisions.items()}
        shape = self.results.coef.shape
        return (f"{shape[0]} genes x {len(self.results.terms)} terms, {len(model.study_.samples)} samples; "
                "top-100 precision " + ", ".join(f"{t} {p:.0%}" for t, p in precisions.items()))

    def export(self) -> str:
        from study.export import sheet_names, write_rnk, write_term_csvs

        csvs = write_term_csvs(self.results, self.out / "csv")
        rnks = write_rnk(self.results, self.out / "gsea")
        terms = list(self.results.terms)
        self.check(len(csvs) == len(rnks) == len(terms), "one CSV and one .rnk per term")
        n_genes = self.results.coef.shape[0]
        for path in rnks:
            rnk = pd.read_csv(path, sep="\t", header=None, names=["gene", "score"], dtype={"gene": str},
                              keep_default_na=False)
            self.check(len(rnk) == n_genes and rnk["gene"].is_unique and rnk["score"].is_monotonic_decreasing,
                       f"{path.name}: {len(rnk)} rows, unique genes and scores sorted descending")
        from openpyxl import load_workbook

        wb = load_workbook(self.out / "results.xlsx", read_only=True)
        try:
            names = sheet_names(terms, reserved=("Fixed effects", "Covariance D", "Parameters", "Run report",
                                                 "Columns"))
            self.check(all(names[t] in wb.sheetnames for t in terms), f"a sheet per term in {wb.sheetnames}")
            rows = list(wb[names[terms[0]]].iter_rows(values_only=True))
            genes = [r[0] for r in rows[1:]]
            ranks = [r[rows[0].index("rank")] for r in rows[1:]]
            self.check(ranks == list(range(1, n_genes + 1)), "Excel sheet ranked 1..n")
            self.check(all(isinstance(g, str) for g in genes), "gene symbols stored as text in Excel")
            self.check("SEPT1" in genes or "MARCH1" in genes, "SEPT1/MARCH1 kept as symbols, not dates")
        finally:
            wb.close()
        return f"results.xlsx ({len(terms)} term sheets), {len(csvs)} CSV, {len(rnks)} .rnk in {self.out}"

    def enrichment(self) -> str:
        from study.demo import PATHWAY, PATHWAY_TERM

        table = pd.read_csv(self.out / "enrichment.csv", keep_default_na=False)
        gsea = table[(table["term"] == PATHWAY_TERM) & (table["method"] == "gsea")]
        gsea = gsea.assign(fdr=gsea["fdr"].astype(float)).sort_values(["fdr", "p"], kind="mergesort")
        names = gsea["gene_set"].tolist()
        rank = names.index(PATHWAY) + 1 if PATHWAY in names else None
        if not self.check(rank is not None, f"GSEA of {PATHWAY_TERM} did not test {PATHWAY}"):
            return "planted pathway not tested"
        row = gsea.iloc[rank - 1]
        ok = rank <= PATHWAY_MAX_RANK and row["fdr"] <= 0.05 and float(row["nes"]) > 0
        self.check(ok, f"planted pathway {PATHWAY}: GSEA rank {rank}, FDR {row['fdr']:.3g}, NES {row['nes']} "
                       f"(needs rank <= {PATHWAY_MAX_RANK}, FDR <= 0.05, NES > 0)")
        ora = table[(table["term"] == PATHWAY_TERM) & (table["method"] == "ora") & (table["gene_set"] == PATHWAY)]
        ora_fdr = float(ora["fdr"].iloc[0]) if len(ora) else float("nan")
        self.facts["planted_pathway"] = {"gsea_rank": rank, "gsea_fdr": float(row["fdr"]), "ora_fdr": ora_fdr}
        return (f"{PATHWAY} on {PATHWAY_TERM}: GSEA rank {rank} of {len(gsea)} (FDR {row['fdr']:.2g}, "
                f"NES {float(row['nes']):.2f}); ORA FDR {ora_fdr:.2g}; {len(table)} rows in enrichment.csv")

    def run(self) -> int:
        t0 = time.perf_counter()
        for name, func in (("demo", self.demo), ("gating", self.gate), ("fastmix", self.fastmix),
                           ("enrichment", self.enrichment), ("export", self.export)):
            try:
                self._stage(name, func)
            except Exception as exc:  # any crash is a failed self-test, reported in one line
                self.failures.append(f"{name}: {type(exc).__name__}: {' '.join(str(exc).split())}")
                self.echo(f"{name:<10} FAILED: {self.failures[-1]}")
                break
        self.timings["total"] = time.perf_counter() - t0
        return 0 if not self.failures else 1


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="main.py --self-test", description=__doc__.splitlines()[0])
    ap.add_argument("--keep", metavar="DIR", help="write into DIR and keep it (default: a temporary folder)")
    ap.add_argument("--processes", type=int, default=2, help="gating worker processes (default 2)")
    ap.add_argument("--no-gui", action="store_true", help="skip the Qt window check")
    return ap


def main(argv: list[str] | None = None, window_check: Callable[[Path, Path], str] | None = None) -> int:
    """Run every stage; print a summary; 0 if all checks hold, 1 otherwise, 2 on bad arguments.

    ``window_check(project_file, png_path)`` (given by ``main.py``: the Qt smoke check of
    :mod:`gui.selftest`) runs last unless ``--no-gui``; it returns a one-line detail or raises.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    from study.report import app_version

    print(f"FastMix Studio {app_version()} self-test (Python {sys.version.split()[0]}, {sys.platform})")
    tmp = None
    if args.keep:
        folder = Path(args.keep).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="fastmix-selftest-")
        folder = Path(tmp)
    try:
        test = SelfTest(folder, processes=args.processes)
        rc = test.run()
        if rc == 0 and window_check is not None and not args.no_gui:
            t0 = time.perf_counter()
            try:
                detail = window_check(test.project_file, folder / "window.png")
            except Exception as exc:
                detail = None
                test.failures.append(f"gui: {type(exc).__name__}: {' '.join(str(exc).split())}")
            test.timings["gui"] = time.perf_counter() - t0
            if detail is None:
                print(f"{'gui':<10} FAILED: {test.failures[-1]}")
                rc = 1
            else:
                print(f"{'gui':<10} {test.timings['gui']:6.2f} s  {detail}")
        total = sum(v for k, v in test.timings.items() if k != "total")
        if rc == 0:
            print(f"self-test passed in {total:.1f} s")
        else:
            print(f"self-test FAILED ({len(test.failures)} problem(s)) after {total:.1f} s:")
            for f in test.failures:
                print(f"  - {f}")
        return rc
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
