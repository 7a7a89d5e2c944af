"""Preranked GSEA through gseapy and through blitzgsea on the same input, in the same run.

The input is the app's ranking statistic (:func:`study.export.rnk_scores`: sign of the coefficient
times the calibrated statistic) of one cell type x covariate term from a FastMix fit with 200
permutations, over the bundled GO BP library. The expression comes from the ALL arrays (12,625
probes, Debian's ``r-bioc-all``, via ``realdata.py``) when they are cached or installed, otherwise
from the project's simulator at 12,625 genes. Either way the genes are renamed to GO BP symbols
(a fixed random draw from the library's genes) and the genes of a few chosen GO BP sets get a
planted cell type-specific effect, so that both libraries have something to find.

Prints, side by side: seconds per library, the sets each tested, Spearman correlation of NES over
the common sets, and the sets at FDR <= 0.05 for each and in both.

    python benchmarks/bench_enrichment.py [--permutations 1000] [--processes 2] [--skip-gseapy]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.fastmix import FastMix  # noqa: E402
from engine.simulate import simulate_study  # noqa: E402
from study.export import rnk_scores  # noqa: E402
from study.genesets import load_library  # noqa: E402

N_GENES = 12625
TERM = "Neutrophils.Group"
MIN_SIZE, MAX_SIZE = 15, 500


def _planted_sets(sets: dict, genes: list[str], rng) -> dict[str, int]:
    """Three GO BP sets of 30-120 tested genes, one pushed up, two down (signs)."""
    universe = set(genes)
    sized = sorted(k for k, v in sets.items() if 30 <= len(v & universe) <= 120)
    chosen = [sized[i] for i in rng.choice(len(sized), 3, replace=False)]
    return dict(zip(chosen, (1, -1, -1)))


def ranking(seed: int = 7) -> tuple[pd.Series, dict, str, dict]:
    """(ranking statistic of ``TERM`` over GO BP symbols, GO BP sets, data source, planted sets)."""
    library = load_library("go-bp")
    sets = library.sets
    universe = sorted(set().union(*sets.values()))
    rng = np.random.default_rng(seed)
    genes = [universe[i] for i in np.sort(rng.choice(len(universe), N_GENES, replace=False))]
    planted = _planted_sets(sets, genes, rng)
    effects = np.zeros(N_GENES)
    index = {g: i for i, g in enumerate(genes)}
    for name, sign in planted.items():
        for g in sets[name]:
            if g in index:
                effects[index[g]] = 1.0 * sign
    source = f"simulator (engine.simulate.simulate_study, {N_GENES} genes, 24 samples)"
    sim = simulate_study(N_GENES, 24, seed=3, planted_effects=effects)
    expr = sim.expression.set_axis(genes, axis=0)
    fit = FastMix(permutations=200, random_state=0).fit(expr, sim.proportions, sim.covariates)
    return rnk_scores(fit.results_, TERM), sets, source + f"; GO BP {library.version.split(';')[0]}", planted


def run_blitz(rnk: pd.Series, sets: dict, permutations: int, processes: int) -> pd.DataFrame:
    """Through the app's wrapper (engine.gsea: one process, every anchor seeded)."""
    from engine.gsea import preranked

    res = preranked(rnk, sets, min_size=MIN_SIZE, max_size=MAX_SIZE, permutations=permutations, seed=1)
    return pd.DataFrame({"nes": res["nes"].to_numpy(), "fdr": res["fdr"].to_numpy()},
                        index=res["gene_set"].to_numpy())


def run_gseapy(rnk: pd.Series, sets: dict, permutations: int, processes: int) -> pd.DataFrame:
    import gseapy

    res = gseapy.prerank(rnk=rnk, gene_sets={k: sorted(v) for k, v in sets.items()}, min_size=MIN_SIZE,
                         max_size=MAX_SIZE, permutation_num=permutations, threads=processes, seed=1,
                         outdir=None, no_plot=True, verbose=False).res2d
    return pd.DataFrame({"nes": res["NES"].astype(float).to_numpy(), "fdr": res["FDR q-val"].astype(float).to_numpy()},
                        index=res["Term"].astype(str).to_numpy())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--processes", type=int, default=2, help="gseapy threads (blitzgsea runs in one process)")
    ap.add_argument("--skip-gseapy", action="store_true", help="gseapy takes minutes on GO BP")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    rnk, sets, source, planted = ranking()
    print(f"input: {len(rnk)} genes ranked by the app's statistic for {TERM} ({source}); "
          f"built in {time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPUs visible")
    print("planted sets: " + ", ".join(f"{k} ({'up' if v > 0 else 'down'})" for k, v in planted.items()))
    runs = {}
    for name, func in (("blitzgsea", run_blitz), ("gseapy", run_gseapy)):
        if name == "gseapy" and a.skip_gseapy:
            continue
        t, c = time.perf_counter(), time.process_time()
        res = func(rnk, sets, a.permutations, a.processes)
        runs[name] = (res, time.perf_counter() - t, time.process_time() - c)
    print(f"\n{'library':<10} {'wall s':>7} {'CPU s':>7} {'sets':>6} {'FDR<=0.05':>10} {'planted sets: rank by FDR':>26}")
    for name, (res, sec, cpu) in runs.items():
        order = list(res.sort_values(["fdr"], kind="mergesort").index)
        ranks = ",".join(str(order.index(k) + 1) if k in order else "-" for k in planted)
        print(f"{name:<10} {sec:7.1f} {cpu:7.1f} {len(res):6d} {int((res['fdr'] <= 0.05).sum()):10d} {ranks:>26}")
    if len(runs) == 2:
        (b, *_), (g, *_) = runs["blitzgsea"], runs["gseapy"]
        common = b.index.intersection(g.index)
        rho = pd.Series(b.loc[common, "nes"]).corr(pd.Series(g.loc[common, "nes"]), method="spearman")
        sb, sg = set(b.index[b["fdr"] <= 0.05]), set(g.index[g["fdr"] <= 0.05])
        print(f"\nagreement over {len(common)} common sets: Spearman(NES) = {rho:.3f}; FDR<=0.05: blitzgsea "
              f"{len(sb)}, gseapy {len(sg)}, both {len(sb & sg)}, Jaccard {len(sb & sg) / max(1, len(sb | sg)):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
