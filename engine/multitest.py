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
    m = flat.shape[0]
    k = np.sum(~np.isnan(flat), axis=0)  # tests per column
    order = np.argsort(flat, axis=0, kind="stable")  # NaNs sort last
    adj = np.take_along_axis(flat, order, axis=0)
    ranks = np.arange(1, m + 1)[:, None]
    with np.errstate(invalid="ignore"):
        adj *= k[None, :]
        adj /= ranks
    rev = adj[::-1]
    np.fmin.accumulate(rev, axis=0, out=rev)
    np.minimum(adj, 1.0, out=adj)
    adj[ranks > k[None, :]] = np.nan
    out = np.empty_like(flat)
    np.put_along_axis(out, order, adj, axis=0)
    return np.moveaxis(out.reshape(moved.shape), 0, axis)
