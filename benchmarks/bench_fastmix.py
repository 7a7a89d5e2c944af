"""FastMix speed and memory: fit time, peak memory and ratio to one least-squares solve.

Run: ``python benchmarks/bench_fastmix.py [--quick]``. Targets: ratio <= 10, the
largest case < 3 s, peak memory < 3x the expression matrix.
"""
from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.fastmix import FastMix  # noqa: E402

CASES = [(5000, 50, 11), (20000, 200, 11), (50000, 1000, 20)]
REPEATS = 3
# (K cells, P covariates, include covariate main) giving L terms
LAYOUT = {11: (3, 2, True), 20: (5, 3, False)}


def make_data(m: int, n: int, L: int, seed: int = 0):
    """Random study with L design terms and 5 % outlier genes on one interaction."""
    k, p, main = LAYOUT[L]
    rng = np.random.default_rng(seed)
    samples = [f"S{j + 1}" for j in range(n)]
    props = pd.DataFrame(rng.uniform(0.1, 0.3, (n, k)), index=samples,
                         columns=[f"Cell{i + 1}" for i in range(k)])
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


def run(m: int, n: int, L: int) -> dict:
    expr, props, cov, X, main = make_data(m, n, L)
    Yt = expr.to_numpy().T
    lstsq, fits = [], []
    for _ in range(REPEATS):  # medians: the machine is shared, single timings are noisy
        t = time.perf_counter()
        np.linalg.lstsq(X, Yt, rcond=None)
        lstsq.append(time.perf_counter() - t)
        model = FastMix(include_covariate_main=main)
        t, c = time.perf_counter(), time.process_time()
        model.fit(expr, props, cov)
        fits.append((time.perf_counter() - t, time.process_time() - c, model.timings_))
    t_lstsq = float(np.median(lstsq))
    t_fit, c_fit, timings = sorted(fits, key=lambda f: f[0])[len(fits) // 2]
    # memory is measured in a separate fit: tracemalloc slows every allocation down
    traced = FastMix(include_covariate_main=main)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    traced.fit(expr, props, cov)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    nbytes = expr.to_numpy().nbytes
    return dict(m=m, n=n, L=L, fit_s=t_fit, cpu_s=c_fit, lstsq_s=t_lstsq, ratio=t_fit / t_lstsq,
                peak_mb=peak / 2 ** 20, peak_x_expr=peak / nbytes,
                stages=", ".join(f"{k} {v:.2f}" for k, v in timings.items()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="only the two smaller cases")
    args = ap.parse_args(argv)
    cases = CASES[:2] if args.quick else CASES
    print(f"fit s, cpu s and lstsq s are medians of {REPEATS} runs")
    print(f"{'m':>6} {'n':>5} {'L':>3} {'fit s':>7} {'cpu s':>6} {'lstsq s':>8} {'ratio':>6} {'peak MB':>8} {'peak/expr':>9}")
    first = None
    for m, n, L in cases:
        r = run(m, n, L)
        first = r["fit_s"] if first is None else first
        print(f"{r['m']:>6} {r['n']:>5} {r['L']:>3} {r['fit_s']:>7.3f} {r['cpu_s']:>6.2f} {r['lstsq_s']:>8.3f} "
              f"{r['ratio']:>6.2f} {r['peak_mb']:>8.1f} {r['peak_x_expr']:>9.2f}")
        print(f"        stages (s): {r['stages']}")
    print("targets: ratio <= 10, largest case < 3 s, peak < 3x expression matrix "
          "(fit s = wall clock; cpu s = process CPU over all BLAS threads; peak = tracemalloc peak "
          "during a second, traced fit)")
    print(f"R FastMix 0.2.5 needs about 8 s for the first case on 2 cores: x{8.0 / first:.0f} faster here")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
