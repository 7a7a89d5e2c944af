"""How time and peak memory grow: FastMix with genes and samples, gating with events per file,
and batch gating of many files with local processes and with a 2-worker Dask LocalCluster.

Each figure is measured in this run (peak memory = the peak resident size of a fresh
subprocess, so nothing earlier in the run counts). Targets: linear growth; a 10M-event file
gated in < 3 GB peak.

    python benchmarks/bench_scale.py [--quick] [--skip fastmix,gating,batch]

``--quick`` stops at 20k genes x 500 samples, 1M events and 100 files (the full run goes to
100k genes, 5,000 samples, 10M events and 1,000 files and takes about an hour on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_FASTMIX = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np, pandas as pd
from engine.fastmix import FastMix
m, n = {m}, {n}
rng = np.random.default_rng(0)
ids = [f"S{{j}}" for j in range(n)]
props = pd.DataFrame(rng.dirichlet([6, 3, 1], n), index=ids, columns=["A", "B", "C"])
cov = pd.DataFrame({{"Group": rng.permutation(np.arange(n) % 2).astype(float)}}, index=ids)
X = np.column_stack([props.to_numpy(), props.to_numpy() * cov.to_numpy()])
expr = pd.DataFrame(rng.normal(size=(m, X.shape[1])) @ X.T + rng.normal(0, 0.5, (m, n)),
                    index=[f"G{{i}}" for i in range(m)], columns=ids)
t = time.perf_counter()
FastMix(include_covariate_main=False, permutations={b}).fit(expr, props, cov)
print(json.dumps({{"s": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

_GATING = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from gating.simulate import simulate_whole_blood, whole_blood_template
sample, _ = simulate_whole_blood({n}, seed=1)
st = whole_blood_template()
t = time.perf_counter()
res = st.evaluate(sample)
print(json.dumps({{"s": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _measure(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=7200)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def fastmix(quick: bool) -> None:
    print("FastMix (3 cell types, 1 binary covariate, no main term; default calibration B = 200)")
    print(f"{'genes':>8} {'samples':>8} {'fit s':>8} {'peak MB':>8} {'s per 1k genes':>15}")
    genes = [1_000, 5_000, 20_000] + ([] if quick else [100_000])
    samples = [24, 100, 500] + ([] if quick else [2_000, 5_000])
    for m in genes:
        r = _measure(_FASTMIX.format(root=str(ROOT), m=m, n=24, b=200))
        print(f"{m:>8} {24:>8} {r['s']:>8.2f} {r['peak_mb']:>8.0f} {r['s'] / m * 1000:>15.3f}")
    for n in samples[1:]:
        r = _measure(_FASTMIX.format(root=str(ROOT), m=5_000, n=n, b=200))
        print(f"{5_000:>8} {n:>8} {r['s']:>8.2f} {r['peak_mb']:>8.0f} {r['s'] / 5:>15.3f}")


def gating(quick: bool) -> None:
    print("Gating (simulated whole blood, 9 channels, 9 gates of the template)")
    print(f"{'events':>10} {'evaluate s':>10} {'peak MB':>8} {'ns per event':>13}")
    for n in [100_000, 1_000_000] + ([] if quick else [10_000_000]):
        r = _measure(_GATING.format(root=str(ROOT), n=n))
        print(f"{n:>10} {r['s']:>10.3f} {r['peak_mb']:>8.0f} {r['s'] / n * 1e9:>13.1f}")


def batch(quick: bool) -> None:
    sys.path.insert(0, str(ROOT))
    from gating.batch import gate_batch
    from gating.simulate import simulate_whole_blood, whole_blood_template, write_fcs

    files = 100 if quick else 1_000
    st = whole_blood_template()
    with tempfile.TemporaryDirectory() as d:
        paths = [write_fcs(simulate_whole_blood(100_000, seed=i)[0], Path(d) / f"f{i:04d}.fcs")
                 for i in range(files)]
        print(f"Batch gating of {files} simulated files x 100,000 events")
        t = time.perf_counter()
        local = gate_batch(paths, st, processes=2)
        t_local = time.perf_counter() - t
        print(f"  local processes (2): {t_local:7.1f} s  ({t_local / files * 1000:.0f} ms per file)")
        try:
            from study.cluster import dask_executor
        except ImportError:
            print("  Dask: not installed (pip install -e '.[cluster]')")
            return
        with dask_executor("local", workers=2) as ex:
            t = time.perf_counter()
            remote = gate_batch(paths, st, executor=ex)
            t_dask = time.perf_counter() - t
        same = local.counts.equals(remote.counts)
        print(f"  Dask LocalCluster (2 workers): {t_dask:7.1f} s  ({t_dask / files * 1000:.0f} ms per file); "
              f"counts identical: {same}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: fastmix, gating, batch")
    args = ap.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    for name, part in (("fastmix", fastmix), ("gating", gating), ("batch", batch)):
        if name not in skip:
            part(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
