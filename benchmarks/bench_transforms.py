"""Our table + Newton logicle/hyperlog (gating.logicle_table) next to flowutils' C code, same run.

    python benchmarks/bench_transforms.py [--events 1000000]

Prints the median time of each on the same events and the largest difference.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from flowutils import transforms as fu

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gating.logicle_table import fast_scale  # noqa: E402


def _median_time(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    n = ap.parse_args().events
    x = np.random.default_rng(0).lognormal(6, 2, n) * np.where(np.arange(n) % 5 == 0, -0.05, 1.0)
    p = dict(t=262144.0, w=0.5, m=4.5, a=0.0)
    for kind, ref in (("logicle", fu.logicle), ("hyperlog", fu.hyperlog)):
        fast_scale(kind, x[:10], **p)  # build the table once, as the app does per transform
        ours = _median_time(lambda: fast_scale(kind, x, **p))
        theirs = _median_time(lambda: ref(x, None, **p))
        diff = float(np.max(np.abs(fast_scale(kind, x, **p) - ref(x, None, **p))))
        print(f"{kind:9s} {n:,} events: ours {ours * 1e3:7.1f} ms, flowutils {theirs * 1e3:7.1f} ms "
              f"({theirs / ours:.1f}x), max |diff| {diff:.1e}")


if __name__ == "__main__":
    main()
