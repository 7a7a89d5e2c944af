"""Benjamini–Hochberg false discovery rate, column-wise and vectorised."""
from __future__ import annotations

import numpy as np


def bh_adjust(p: np.ndarray, axis: int = 0) -> np.ndarray:
    """BH-adjusted p-values along ``axis`` (like R ``p.adjust(p, "BH")``).

    NaNs are kept as NaN and do not count towards the number of tests.
    """
    p = np.asarray(p, dtype=np.float64)
    moved = np.moveaxis(p, axis, 0)
    flat = moved.reshape(moved.shape[0], -1)
    out = np.full_like(flat, np.nan)
    for j in range(flat.shape[1]):  # loop over terms (columns), not genes
        col = flat[:, j]
        ok = ~np.isnan(col)
        v = col[ok]
        k = v.size
        if k == 0:
            continue
        order = np.argsort(v)[::-1]
        ranks = np.arange(k, 0, -1)
        adj = np.minimum.accumulate(v[order] * k / ranks)
        res = np.empty(k)
        res[order] = np.minimum(adj, 1.0)
        out[ok, j] = res
    return np.moveaxis(out.reshape(moved.shape), 0, axis)
