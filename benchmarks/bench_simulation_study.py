"""Simulation study in the style of the FastMix paper's Table 1.

For each scenario, repeats simulate -> fit and prints type-I error and power of
quasi-p < 0.05 (truth = the simulator's DEG indicator, i.e. "effect is an outlier from
the main distribution"), the MSE of D against the true D (mean over all L x L entries; the
"_ind" variant estimates a diagonal D, so its full-matrix MSE includes the true
off-diagonal covariances it cannot fit), the MSE of the diagonal alone, and fit time. Detector: gmm
(package default) unless ``--detector shapiro``.

Run: ``python benchmarks/bench_simulation_study.py --reps 200`` (default 200).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.fastmix import FastMix  # noqa: E402
from engine.simulate import simulate_sim2, simulate_sim3  # noqa: E402

SCENARIOS = {
    "SimII cor=0   DEG": lambda m, n, s: simulate_sim2(m, n, seed=s, cor=0.0),
    "SimII cor=0.5 DEG": lambda m, n, s: simulate_sim2(m, n, seed=s, cor=0.5),
    "SimII cor=0.5 none": lambda m, n, s: simulate_sim2(m, n, seed=s, cor=0.5, outlier=False),
    "SimIII cor=0.5 DEG": lambda m, n, s: simulate_sim3(m, n, seed=s, cor=0.5),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--m", type=int, default=5000)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--detector", default="gmm", choices=["gmm", "shapiro"])
    args = ap.parse_args(argv)
    print(f"reps={args.reps} m={args.m} n={args.n} detector={args.detector} trim=0.5; "
          "truth = simulator DEG indicator")
    print(f"{'scenario':<20} {'method':<12} {'type-I':>7} {'power':>7} {'MSE(D)':>8} {'MSE(diag)':>9} {'fit s':>6}")
    for name, make in SCENARIOS.items():
        for label, kw in (("FastMix", {}), ("FastMix_ind", {"independent": True})):
            t1, pw, mse, mse_diag, tt = [], [], [], [], []
            for rep in range(args.reps):
                sim = make(args.m, args.n, 1000 + rep)
                t = time.perf_counter()
                fit = FastMix(detector=args.detector, **kw).fit(sim.expression, sim.proportions, sim.covariates)
                tt.append(time.perf_counter() - t)
                hit = (fit.quasi_p_ < 0.05).to_numpy()
                deg = sim.deg.to_numpy()
                t1.append(hit[~deg].mean())
                if deg.any():
                    pw.append(hit[deg].mean())
                truth = sim.D.to_numpy()  # full true D for both variants
                err = (fit.D_.to_numpy() - truth) ** 2
                mse.append(float(err.mean()))
                mse_diag.append(float(np.diag(err).mean()))
            power = f"{np.mean(pw):7.3f}" if pw else f"{'-':>7}"
            print(f"{name:<20} {label:<12} {np.mean(t1):7.3f} {power} {np.mean(mse):8.4f} "
                  f"{np.mean(mse_diag):9.4f} {np.mean(tt):6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
