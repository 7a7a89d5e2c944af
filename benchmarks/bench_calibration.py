"""Error rates of FastMix's calls on real noise and simulations (issue: calibrated FDR).

Every call counted here is checked against a known truth:

* **global null**: the covariate is random (permuted labels), nothing is planted, so every
  call on a covariate or cell x covariate term is false;
* **planted**: cell type-specific effects of a given size are added to a fraction of the
  genes on the Neutrophils x covariate term; a call is true only for a planted gene on
  that term (a planted gene called on another term is a false call).

Data: the heteroscedastic whole-blood simulator (``engine.simulate.simulate_study``,
with and without repeated subjects) and two real expression matrices (ALL, bladderbatch;
``benchmarks/realdata.py``) whose arrays supply the noise; fractions and labels are drawn
per run. Methods, all from one FastMix fit per run unless noted:

* ``R-compatible``: quasi-FDR with pooled variance (the R package's numbers);
* ``moderated``: quasi-FDR of the fit on moderated-variance-scaled data (parametric);
* ``default``: ``fdr`` of ``main.py fastmix``: permutation-calibrated association with the
  covariate (moderated variances) plus the attribution error of the term;
* ``default B=0``: the default with ``--permutations 0`` (moderated F instead of permutations);
* ``perm-EBLUP``: each term's whitened EBLUP calibrated alone by permutation, D fixed
  (the first design tried; separate fit);
* ``pooled+perm``: the default with one pooled variance (separate fit);
* ``OLS``: per-gene OLS t-test, BH (TOAST-style);
* ``limma-t``: per-gene OLS t with moderated variance (df d + d0), BH.

Run: ``python benchmarks/bench_calibration.py [--runs 10] [--permutations 200] [--quick]``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine.design import build_design  # noqa: E402
from engine.fastmix import FastMix  # noqa: E402
from engine.moderate import squeeze_var  # noqa: E402
from engine.multitest import bh_adjust  # noqa: E402
from engine.simulate import simulate_study  # noqa: E402

ALPHA = 0.05
PLANTED_TERM = "Neutrophils"


def real_study(expr: np.ndarray, rng, n: int, covariate: str, planted_fraction: float, effect: float):
    """A study on real arrays: n random columns of ``expr``, Dirichlet blood fractions,
    a random binary/continuous covariate, planted Neutrophils x covariate effects."""
    sim = simulate_study(m=10, n=n, seed=int(rng.integers(2**31)), covariate=covariate)
    cols = rng.choice(expr.shape[1], n, replace=False)
    Y = expr[:, cols].copy()
    props, covs = sim.proportions, sim.covariates
    cname = covs.columns[0]
    design = build_design(props, covs[[cname]])
    X = design.X
    bhat = np.linalg.lstsq(X, Y.T, rcond=None)[0].T
    sigma = np.sqrt(((Y - bhat @ X.T) ** 2).sum(axis=1) / (n - X.shape[1]))
    m = Y.shape[0]
    z = covs[cname].to_numpy(dtype=float)
    col = props[f"{PLANTED_TERM}"].to_numpy() * (z - z.mean()) / z.std(ddof=1)
    planted = np.zeros(m, dtype=bool)
    planted[rng.choice(m, int(round(planted_fraction * m)), replace=False)] = True
    delta = np.where(rng.random(m) < 0.5, -1.0, 1.0) * effect * sigma / col.std(ddof=1) * planted
    Y += delta[:, None] * col[None, :]
    genes = [f"g{i}" for i in range(m)]
    truth = pd.DataFrame(False, index=genes, columns=list(design.names))
    truth[f"{PLANTED_TERM}.{cname}"] = planted
    return pd.DataFrame(Y, index=genes, columns=props.index), props, covs, truth


def limma_t(model: FastMix, expr: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-gene OLS t with moderated variances (limma eBayes), BH per term."""
    X = model._X_fit
    Y = expr[model._samples].to_numpy()
    if model.whitening_ is not None:
        Y = Y @ model.whitening_
    n, L = X.shape
    d = n - L
    xtx = np.linalg.inv(X.T @ X)
    b = Y @ X @ xtx
    rss = np.einsum("ij,ij->i", Y, Y) - np.einsum("ij,ij->i", b, Y @ X)
    sq = squeeze_var(np.maximum(rss, 0) / d, d)
    t = b / np.sqrt(np.outer(sq.var_post, np.diag(xtx)))
    df = d + (sq.df_prior if np.isfinite(sq.df_prior) else 1e6)
    p = 2.0 * special.stdtr(df, -np.abs(t))
    idx, cols = model.coef_.index, model.coef_.columns
    return pd.DataFrame(bh_adjust(p), index=idx, columns=cols), pd.DataFrame(-p, index=idx, columns=cols)


def run_methods(expr, props, covs, *, permutations: int, seed: int, subject: bool, main: bool):
    """(fdr frame, ranking score frame, seconds) per method, and the detector's decisions."""
    cov = covs.drop(columns=["Subject"]) if "Subject" in covs else covs
    subj = covs["Subject"] if (subject and "Subject" in covs) else None
    out = {}
    t0 = time.perf_counter()
    fm = FastMix(variance="moderated", permutations=permutations, random_state=seed,
                 include_covariate_main=main).fit(expr, props, cov, subject=subj)
    dt = time.perf_counter() - t0
    r = fm.results_
    out["R-compatible"] = (r.quasi_fdr, -r.quasi_p, dt)
    out["moderated"] = (r.mod_fdr, -r.mod_p, dt)
    out["default"] = (r.fdr, r.score - 10.0 * r.fdr, dt)
    out["OLS"] = (r.ols_fdr, -r.ols_p, dt)
    out["limma-t"] = (*limma_t(fm, expr), dt)
    for name, kw in (("default B=0", dict(permutations=0)), ("perm-EBLUP", dict(calibration="eblup")),
                     ("pooled+perm", dict(variance="pooled"))):
        t0 = time.perf_counter()
        fp = FastMix(**{"permutations": permutations, **kw}, random_state=seed, include_covariate_main=main,
                     ).fit(expr, props, cov, subject=subj)
        out[name] = (fp.results_.fdr, fp.results_.score - 10.0 * fp.results_.fdr, time.perf_counter() - t0)
    return out, fm.informative_, fm.mod_informative_


def oracle_power(score: np.ndarray, truth: np.ndarray, q: float = ALPHA) -> float:
    """Power at the largest list (ranked by ``score``) whose realised FDR is <= q."""
    order = np.argsort(-score, kind="stable")
    tp = np.cumsum(truth[order])
    k = np.arange(1, score.size + 1)
    ok = (k - tp) / k <= q
    return float(tp[ok].max() / max(truth.sum(), 1)) if ok.any() else 0.0


def evaluate(outs, truth: pd.DataFrame, cov_terms: list[str]):
    row = {}
    planted = truth[cov_terms].to_numpy().any()
    for name, (fdr, score, dt) in outs.items():
        calls = (fdr[cov_terms].to_numpy() <= ALPHA)
        tr = truth.loc[fdr.index, cov_terms].to_numpy()
        false = (calls & ~tr).sum(axis=0)
        res = {"false_per_term": false, "time": dt}
        if planted:
            j = int(np.flatnonzero(tr.any(axis=0))[0])
            c = calls[:, j]
            res["fdp_term"] = (c & ~tr[:, j]).sum() / max(c.sum(), 1)
            res["fdp_all"] = false.sum() / max(calls.sum(), 1)
            res["power"] = (c & tr[:, j]).sum() / tr[:, j].sum()
            res["oracle"] = oracle_power(score[cov_terms[j]].to_numpy(), tr[:, j])
        row[name] = res
    return row


def scenarios(quick: bool):
    base = [
        ("sim", "binary", 1, 0.0, 0.0), ("sim", "binary", 1, 0.05, 2.0), ("sim", "binary", 1, 0.01, 3.0),
        ("sim", "binary", 1, 0.10, 1.5), ("sim", "continuous", 1, 0.0, 0.0), ("sim", "continuous", 1, 0.05, 2.0),
        ("sim-repeated", "binary", 2, 0.0, 0.0), ("sim-repeated", "binary", 2, 0.05, 2.0),
        ("all", "binary", 1, 0.0, 0.0), ("all", "binary", 1, 0.05, 2.0), ("all", "binary", 1, 0.01, 3.0),
        ("all", "binary", 1, 0.10, 1.5), ("all", "continuous", 1, 0.0, 0.0), ("all", "continuous", 1, 0.05, 2.0),
        ("bladder", "binary", 1, 0.0, 0.0), ("bladder", "binary", 1, 0.05, 2.0),
    ]
    if quick:
        base = [s for s in base if s[1] == "binary" and s[3] in (0.0, 0.05) and s[0] in ("sim", "all")]
    return base


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--permutations", type=int, default=200)
    ap.add_argument("--genes", type=int, default=10000, help="genes in the simulated studies")
    ap.add_argument("--n", type=int, default=24, help="samples per study")
    ap.add_argument("--no-covariate-main", action="store_true")
    ap.add_argument("--quick", action="store_true", help="binary covariate, null and 5 %% planted, sim + ALL")
    args = ap.parse_args(argv)
    import realdata

    real = {}
    for name in ("all", "bladder"):
        try:
            real[name] = realdata.load(name)[0].to_numpy()
        except realdata.MissingData as exc:
            print(f"[{name}] real data missing, skipped: {exc} (then run this benchmark again)")
    main_term = not args.no_covariate_main
    lines = []
    header = (f"{'data':13s} {'cov':10s} {'planted':>11s} {'method':13s} {'null: mean false':>16s} "
              f"{'runs w/ call':>12s} {'FDR term':>8s} {'FDR all':>8s} {'power':>6s} {'pow@FDR.05':>10s} {'s/run':>6s}")
    print(f"n = {args.n} samples, {args.runs} runs per scenario, B = {args.permutations} permutations, "
          f"alpha = {ALPHA}, covariate main term {'in' if main_term else 'out'}; null columns: worst term "
          "(covariate main or interaction); FDR term: on the planted term; FDR all: over every covariate term")
    print(header)
    for data, cov, visits, frac, eff in scenarios(args.quick):
        if data in ("all", "bladder") and data not in real:
            continue
        acc: dict = {}
        det = []
        for run in range(args.runs):
            rng = np.random.default_rng(1000 * run + 7)
            if data.startswith("sim"):
                s = simulate_study(args.genes, args.n, seed=run, covariate=cov, visits=visits,
                                   planted_fraction=frac, effect=eff)
                expr, props, covs, truth = s.expression, s.proportions, s.covariates, s.deg
            else:
                expr, props, covs, truth = real_study(real[data], rng, args.n, cov, frac, eff)
            outs, inf_r, inf_m = run_methods(expr, props, covs, permutations=args.permutations, seed=run,
                                             subject=visits > 1, main=main_term)
            cov_terms = [t for t in inf_r.index if "." in t or t in ("Group", "Score")]
            det.append((inf_r[cov_terms].mean(), inf_m[cov_terms].mean()))
            for k, v in evaluate(outs, truth, cov_terms).items():
                acc.setdefault(k, []).append(v)
        label = "null" if frac == 0 else f"{frac:.0%} x {eff:g}SD"
        for meth, rows in acc.items():
            fpt = np.array([r["false_per_term"] for r in rows])
            if frac == 0:
                mean_false = fpt.mean(axis=0)
                anyc = (fpt > 0).mean(axis=0)
                w = int(np.argmax(mean_false + anyc))
                nullc = f"{mean_false[w]:16.2f} {anyc[w]:12.0%}"
                rest = f"{'':>8s} {'':>8s} {'':>6s} {'':>10s}"
            else:
                nullc = f"{'':>16s} {'':>12s}"
                rest = (f"{np.mean([r['fdp_term'] for r in rows]):8.3f} {np.mean([r['fdp_all'] for r in rows]):8.3f} "
                        f"{np.mean([r['power'] for r in rows]):6.2f} {np.mean([r['oracle'] for r in rows]):10.2f}")
            line = (f"{data:13s} {cov:10s} {label:>11s} {meth:13s} {nullc} {rest} "
                    f"{np.mean([r['time'] for r in rows]):6.2f}")
            print(line, flush=True)
            lines.append(line)
        if frac == 0:
            d = np.array(det)
            print(f"{'':13s} {'':10s} {'':>11s} detector fired on null terms: R-compatible {d[:, 0].mean():.0%}, "
                  f"moderated {d[:, 1].mean():.0%} of term-runs", flush=True)
    speed(real.get("all"), args.permutations, args.n)
    return 0


def speed(expr: np.ndarray | None, permutations: int, n: int) -> None:
    """Wall time of the default fit (moderated, B permutations) on 12,625 genes x n samples."""
    rng = np.random.default_rng(0)
    if expr is None:
        expr = simulate_study(12625, n, seed=0).expression.to_numpy()
        what = "simulated"
    else:
        what = "ALL arrays"
    e, props, covs, _ = real_study(expr, rng, n, "binary", 0.0, 0.0)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        FastMix(permutations=permutations).fit(e, props, covs)
        times.append(time.perf_counter() - t0)
    print(f"speed: default fit with B = {permutations} on {e.shape[0]:,} genes x {n} samples ({what}): "
          f"median {np.median(times):.2f} s over 3 runs (target <= 30 s on 2 cores)")


if __name__ == "__main__":
    sys.exit(main())
