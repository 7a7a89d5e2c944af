"""FastMix speed and memory, and R FastMix 0.2.5 timed on the same inputs in the same run.

Run: ``python benchmarks/bench_fastmix.py [--quick] [--no-r]``. Prints, per case, the fit time of
the R-compatible mode (the same work as R: pooled variance, no permutations) and of the default
(calibrated, B = 200), the ratio to the per-gene OLS the fit runs (normal equations
``(Y X)(X'X)^-1``), peak memory, and R FastMix's time on the very same CSV inputs when the R
package is installed (``benchmarks/peers.sh``); otherwise the line says how to install it.
Targets: fit/OLS <= 10, largest case < 3 s, peak < 3x the expression matrix, >= 100x R.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.fastmix import FastMix  # noqa: E402

CASES = [(5000, 50, 11), (12593, 24, 11), (20000, 200, 11), (50000, 1000, 20)]  # 2nd: GSE20300-sized
R_CASES = {(5000, 50, 11), (12593, 24, 11)}  # R takes 10-60 s each: only the two it is quoted on
R_LIB = Path.home() / ".cache" / "fastmix-r"
R_SCRIPT = r"""
args <- commandArgs(TRUE)
.libPaths(c(args[1], .libPaths())); suppressMessages(library(FastMix))
rd <- function(f) as.matrix(read.csv(f, row.names = 1, check.names = FALSE))
E <- rd(args[2]); P <- rd(args[3]); D <- rd(args[4])
set.seed(1)
t <- system.time(fit <- FastMix(E, P, D, include.demo = as.logical(args[5])))[["elapsed"]]
cat(sprintf("elapsed %.3f\n", t))
"""
REPEATS = 5
OLS_REPEATS = 30
# (K cells, P covariates, include covariate main) giving L terms
LAYOUT = {11: (3, 2, True), 20: (5, 3, False)}


def make_data(m: int, n: int, L: int, seed: int = 0):
    """Random study with L design terms and 5 % outlier genes on one interaction."""
    k, p, main = LAYOUT[L]
    rng = np.random.default_rng(seed)
    samples = [f"S{j + 1}" for j in range(n)]
    frac = rng.uniform(0.1, 0.3, (n, k))
    frac *= np.minimum(1.0, 0.99 / frac.sum(axis=1))[:, None]  # 5 cell types: rows may not pass 1
    props = pd.DataFrame(frac, index=samples, columns=[f"Cell{i + 1}" for i in range(k)])
    cov = pd.DataFrame(rng.normal(size=(n, p)), index=samples, columns=[f"Var{i + 1}" for i in range(p)])
    z = (cov - cov.mean()) / cov.std()
    blocks = [props.to_numpy()] + ([z.to_numpy()] if main else [])
    blocks.append((z.to_numpy()[:, :, None] * props.to_numpy()[:, None, :]).reshape(n, -1))
    X = np.hstack(blocks)
    assert X.shape[1] == L
    coef = rng.normal(size=(m, L))
    coef[: m // 20, -1] += 4.0
    Y = coef @ X.T
    Y += rng.normal(0.0, 0.25, (m, n))
    expr = pd.DataFrame(Y, index=[f"G{i + 1}" for i in range(m)], columns=samples, copy=False)
    return expr, props, cov, X, main


def time_r(expr: pd.DataFrame, props: pd.DataFrame, cov: pd.DataFrame, main: bool) -> float | None:
    """Seconds R FastMix 0.2.5 takes to fit the same inputs (its own timer), None if not installed."""
    if shutil.which("Rscript") is None or not (R_LIB / "FastMix").is_dir():
        return None
    with tempfile.TemporaryDirectory() as d:
        files = [Path(d) / f for f in ("e.csv", "p.csv", "c.csv", "fit.R")]
        expr.to_csv(files[0]), props.to_csv(files[1]), cov.to_csv(files[2])
        files[3].write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(files[3]), str(R_LIB), *map(str, files[:3]), str(main).upper()],
                             capture_output=True, text=True, timeout=1800)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("elapsed ")]
    if out.returncode != 0 or not line:
        raise SystemExit(f"R FastMix failed: {out.stderr.strip()[-500:]}")
    return float(line[0].split()[1])


def _ols(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The per-gene OLS the fit runs: normal equations, genes x terms."""
    return (Y @ X) @ np.linalg.inv(X.T @ X)


def _best(fn, reps: int) -> tuple[float, float, object]:
    """(fastest, median) wall seconds of ``fn()`` over ``reps`` runs and the last return value."""
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), float(np.median(times)), out


def _fit(expr, props, cov, **kw) -> FastMix:
    return FastMix(**kw).fit(expr, props, cov)


def run(m: int, n: int, L: int, with_r: bool = False) -> dict:
    expr, props, cov, X, main = make_data(m, n, L)
    Y = expr.to_numpy()
    _ols(X, Y)
    # the OLS takes about a millisecond: many repeats, or one busy moment on the shared cores decides the ratio
    ols_min, ols_med, _ = _best(lambda: _ols(X, Y), OLS_REPEATS)
    compat_kw = dict(include_covariate_main=main, variance="pooled", permutations=0)  # R's work
    _fit(expr, props, cov, **compat_kw)
    compat_min, compat_med, compat = _best(lambda: _fit(expr, props, cov, **compat_kw), REPEATS)
    c0 = time.process_time()
    fit_min, fit_med, model = _best(lambda: _fit(expr, props, cov, include_covariate_main=main), REPEATS)
    c_fit = (time.process_time() - c0) / REPEATS
    r_s = time_r(expr, props, cov, main) if with_r else None
    # memory is measured in a separate fit: tracemalloc slows every allocation down
    traced = FastMix(include_covariate_main=main)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    traced.fit(expr, props, cov)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    nbytes = expr.to_numpy().nbytes
    ms = lambda t: ", ".join(f"{k} {v * 1000:.1f}" for k, v in t.items() if v >= 5e-5)  # noqa: E731
    return dict(m=m, n=n, L=L, compat_s=compat_min, compat_med=compat_med, fit_s=fit_min, fit_med=fit_med,
                cpu_s=c_fit, ols_s=ols_min, ols_med=ols_med, ratio=compat_min / ols_min, ratio_default=fit_min / ols_min,
                peak_mb=peak / 2 ** 20, peak_x_expr=peak / nbytes, r_s=r_s,
                compat_stages=ms(compat.timings_), stages=ms(model.timings_))


def _ms(best: float, median: float) -> str:
    return f"{best * 1000:.1f} ({median * 1000:.1f})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="only the two smaller cases")
    ap.add_argument("--no-r", action="store_true", help="do not time R FastMix")
    args = ap.parse_args(argv)
    cases = CASES[:2] if args.quick else CASES
    print(f"fit times: fastest of {REPEATS} runs (median in brackets); OLS = normal equations (Y X)(X'X)^-1 on the "
          f"same data, fastest of {OLS_REPEATS}; R-compat = variance pooled, no permutations (R's work); "
          "default = calibrated, B = 200 permutations")
    print(f"{'m':>6} {'n':>5} {'L':>3} {'OLS ms':>12} {'R-compat ms':>15} {'fit/OLS':>7} {'default ms':>15} "
          f"{'fit/OLS':>7} {'peak MB':>8} {'peak/expr':>9} {'R s':>7} {'R/ours':>7}")
    for m, n, L in cases:
        r = run(m, n, L, with_r=not args.no_r and (m, n, L) in R_CASES)
        rs = f"{r['r_s']:>7.1f} {r['r_s'] / r['compat_s']:>6.0f}x" if r["r_s"] is not None else f"{'-':>7} {'-':>7}"
        print(f"{r['m']:>6} {r['n']:>5} {r['L']:>3} {_ms(r['ols_s'], r['ols_med']):>12} "
              f"{_ms(r['compat_s'], r['compat_med']):>15} {r['ratio']:>7.1f} {_ms(r['fit_s'], r['fit_med']):>15} "
              f"{r['ratio_default']:>7.1f} {r['peak_mb']:>8.1f} {r['peak_x_expr']:>9.2f} {rs}")
        print(f"        R-compat fit stages (ms): {r['compat_stages']}")
        print(f"        default fit stages (ms): {r['stages']}")
    if not args.no_r and not (R_LIB / "FastMix").is_dir():
        print("R FastMix not installed: run benchmarks/peers.sh (Debian R packages + R CMD INSTALL of "
              "../shared/peers/FastMix-0.2.5); no R figure is printed without timing it")
    print("targets: fit/OLS <= 10 (R-compat fit), largest case < 3 s, peak < 3x expression matrix, R/ours >= 100x "
          "(both timed here, same inputs)")
    print("fit/OLS, read with the stages: the OLS is two matrix products; the R-compatible fit adds per gene and term "
          "the OLS t-test p-values (engine.tdist), the moment and GLS/EBLUP products, the mixture detector's EM, the "
          "robust means and trimming, quasi-p-values and their BH FDR (a sort per term; not in a stage), and labelled "
          "tables. Those are per-gene work, not fixed overhead: where the OLS itself takes tens of ms (50,000 x 1,000) "
          "the ratio is under 10; on the small cases, where the OLS takes 0.2-4 ms, it stays far above 10. The "
          "default fit adds the moderated refit and 200 permutations on top (its ratio is printed separately).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
