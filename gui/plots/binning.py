"""Binning events for density plots (Qt-free numpy): plotting ranges, a fast 2-D histogram, log scale.

``histogram2d`` is kept by measurement: one ``np.bincount`` is about 4x faster than
``np.histogram2d`` on 1M events (``benchmarks/bench_density.py``), with the same counts
(``tests/gui/test_density.py::test_histogram2d_matches_numpy``).
"""
from __future__ import annotations

import numpy as np


def data_range(values: np.ndarray, *, lo: float = 0.1, hi: float = 99.9,
               sample: int = 50_000) -> tuple[float, float]:
    """Robust plotting range of ``values`` (percentiles of a strided subsample, padded 5%)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size > sample:
        v = v[:: max(1, v.size // sample)]
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    a, b = np.percentile(v, [lo, hi])
    if not b > a:
        a, b = float(v.min()), float(v.max())
    if not b > a:
        a, b = a - 0.5, a + 0.5
    pad = 0.05 * (b - a)
    return float(a - pad), float(b + pad)


def histogram2d(x: np.ndarray, y: np.ndarray, *, bins: int = 256,
                x_range: tuple[float, float], y_range: tuple[float, float]) -> np.ndarray:
    """Counts on a ``bins x bins`` grid, indexed ``[ix, iy]`` (events outside are dropped).

    Same counts as ``np.histogram2d`` with equal-width bins (right edge included),
    but a single ``bincount`` is about 4x faster on 1M events.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x0, x1 = x_range
    y0, y1 = y_range
    fx = (x - x0) * (bins / (x1 - x0))
    fy = (y - y0) * (bins / (y1 - y0))
    ok = (fx >= 0) & (fx <= bins) & (fy >= 0) & (fy <= bins)
    ix = np.minimum(fx[ok].astype(np.intp), bins - 1)
    iy = np.minimum(fy[ok].astype(np.intp), bins - 1)
    return np.bincount(ix * bins + iy, minlength=bins * bins).reshape(bins, bins)


def log_density(counts: np.ndarray) -> np.ndarray:
    """log10 of counts with empty bins as NaN (drawn transparent)."""
    out = np.full(counts.shape, np.nan)
    nz = counts > 0
    out[nz] = np.log10(counts[nz])
    return out
