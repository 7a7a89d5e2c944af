"""``main.py fastmix`` end to end (a fresh Python each run: imports, reading, fit, enrichment,
every output file) on 12.6k genes x 24 samples x 8 terms, and R FastMix 0.2.5 end to end on
the same CSV files in the same run (``--with-r``; ``Rscript`` reading them, fitting, writing its
p-values and fixed effects). Goal (issue 15): <= 2 s on 2 cores, including ``results.xlsx``.

Inputs: the ALL arrays (12,625 probes; the cache from ``benchmarks/realdata.py``, else simulated)
with 24 samples, four simulated blood fractions and a binary group, without covariate main
terms: 4 cell-type terms + 4 cell x group terms. Prints the median wall time of ``--repeats``
runs per mode and where the time went (``report.json``'s timings; "start-up and the rest" is
the wall time minus those: interpreter, imports, enrichment, the run report).

    python benchmarks/bench_cli.py [--repeats 5] [--with-r]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "fastmix-studio" / "realdata" / "all"
R_LIB = Path.home() / ".cache" / "fastmix-r"
MODES = {
    "default (calibrated, B = 200, GO BP ORA)": [],
    "default + --gsea-permutations 1000 (preranked GSEA of 4 terms)": ["--gsea-permutations", "1000"],
    "default, --gene-sets none": ["--gene-sets", "none"],
    "R-compatible (--variance pooled --permutations 0)": ["--variance", "pooled", "--permutations", "0"],
}
R_SCRIPT = r"""
a <- commandArgs(TRUE)
.libPaths(c(a[1], .libPaths())); suppressMessages(library(FastMix))
rd <- function(f) as.matrix(read.csv(f, row.names = 1, check.names = FALSE))
E <- rd(a[2]); P <- rd(a[3]); C <- read.csv(a[4], row.names = 1)
D <- matrix(as.numeric(C$Group == "case"), ncol = 1, dimnames = list(rownames(C), "Group"))
fit <- FastMix(E, P[colnames(E), ], D[colnames(E), , drop = FALSE], include.demo = FALSE)
write.csv(fit$re.ind.pvalue, file.path(a[5], "re_ind_pvalue.csv"))
write.csv(fit$fixed.results, file.path(a[5], "fixed_results.csv"))
"""


def write_inputs(folder: Path, n: int = 24) -> str:
    rng = np.random.default_rng(1)
    if (CACHE / "expr.npy").is_file():
        X, label = np.load(CACHE / "expr.npy")[:, :n], "ALL arrays (real), 12,625 probes"
    else:
        X, label = rng.normal(8, 1, (12625, n)), "simulated, 12,625 genes"
    # probe IDs replaced by GO BP symbols (seeded), so that enrichment does its real work
    sys.path.insert(0, str(ROOT))
    from study.genesets import load_library

    universe = sorted(set().union(*load_library("go-bp").sets.values()))
    genes = list(rng.choice(universe, X.shape[0], replace=False))
    ids = [f"S{j:02d}" for j in range(n)]
    pd.DataFrame(X, index=pd.Index(genes, name="gene"), columns=ids).to_csv(folder / "expr.csv")
    pd.DataFrame(rng.dirichlet([8, 4, 2, 1], n), index=pd.Index(ids, name="sample"),
                 columns=["Neu", "Lym", "Mono", "Eos"]).to_csv(folder / "props.csv")
    pd.DataFrame({"Group": rng.permutation(["case"] * (n // 2) + ["control"] * (n - n // 2))},
                 index=pd.Index(ids, name="sample")).to_csv(folder / "cov.csv")
    return label


def run_ours(folder: Path, extra: list[str], repeats: int) -> tuple[list[float], dict, int]:
    cmd = [sys.executable, str(ROOT / "main.py"), "fastmix", "-e", str(folder / "expr.csv"),
           "-p", str(folder / "props.csv"), "-c", str(folder / "cov.csv"), "--no-covariate-main",
           "-o", str(folder / "out"), *extra]
    walls, timings = [], []
    for _ in range(repeats):
        shutil.rmtree(folder / "out", ignore_errors=True)
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        walls.append(time.perf_counter() - t0)
        if out.returncode != 0:
            raise SystemExit(f"main.py fastmix failed ({out.returncode}): {out.stderr.strip()[-800:]}")
        timings.append(json.loads((folder / "out" / "report.json").read_text())["timings_s"])
    mid = sorted(range(repeats), key=lambda i: walls[i])[repeats // 2]
    size = sum(f.stat().st_size for f in (folder / "out").rglob("*") if f.is_file())
    return walls, timings[mid], size


def run_r(folder: Path) -> float | None:
    if shutil.which("Rscript") is None or not (R_LIB / "FastMix").is_dir():
        return None
    (folder / "r.R").write_text(R_SCRIPT)
    (folder / "rout").mkdir(exist_ok=True)
    t0 = time.perf_counter()
    out = subprocess.run(["Rscript", str(folder / "r.R"), str(R_LIB), *(str(folder / f) for f in
                          ("expr.csv", "props.csv", "cov.csv")), str(folder / "rout")], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"R FastMix failed: {out.stderr.strip()[-800:]}")
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--with-r", action="store_true", help="also time R FastMix end to end (30-80 s)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        label = write_inputs(folder)
        print(f"main.py fastmix end to end: {label} x 24 samples, 8 terms; median of {args.repeats} runs "
              f"(goal <= 2 s on 2 cores)")
        ours = None
        for name, extra in MODES.items():
            walls, t, size = run_ours(folder, extra, args.repeats)
            med = statistics.median(walls)
            ours = med if ours is None else ours
            parts = {"read": t.get("read_inputs", 0.0), "fit": t.get("fit", 0.0), "enrichment": t.get("enrichment", 0.0),
                     "write": t.get("write_tables", 0.0)}
            rest = med - sum(parts.values())
            print(f"  {name}: {med:.2f} s (range {min(walls):.2f}-{max(walls):.2f}); read {parts['read']:.2f}, "
                  f"fit {parts['fit']:.2f}, enrichment {parts['enrichment']:.2f}, write {parts['write']:.2f}, "
                  f"start-up and the rest {rest:.2f}; "
                  f"{size / 1e6:.1f} MB written")
        if args.with_r:
            r = run_r(folder)
            if r is None:
                print("  R FastMix: not installed (benchmarks/peers.sh installs it)")
            else:
                print(f"  R FastMix 0.2.5 end to end (Rscript: read, fit, write), same files, same run: {r:.1f} s "
                      f"-> ours (default) {r / ours:.0f}x faster")
        else:
            print("  R FastMix: not timed (add --with-r)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
