"""Benjamini–Hochberg false discovery rate, column-wise and vectorised."""
from __future__ import annotations

import numpy as np


def bh_adjust(p: np.ndarray, axis: int = 0) -> np.ndarray:
    """BH-adjusted p-values along ``axis`` (like R ``p.adjust(p, "BH")``).

    NaNs are kept as NaN and do not count towards the number of tests.

    The tests are sorted along contiguous rows with the (unstable) default sort: tied
    p-values get the same adjusted value whatever their order (the running minimum from
    the top reaches the last of the ties first), so stability is not needed.
    """
    p = np.asarray(p, dtype=np.float64)
    moved = np.moveaxis(p, axis, -1)
    m = moved.shape[-1]
    flat = np.ascontiguousarray(moved.reshape(int(np.prod(moved.shape[:-1])), m))  # one row per set of tests
    k = np.sum(~np.isnan(flat), axis=1)  # tests per row
    order = np.argsort(flat, axis=1)  # NaNs sort last
    order += (np.arange(flat.shape[0]) * m)[:, None]  # flat positions: one gather/scatter each
    adj = flat.reshape(-1)[order]
    ranks = np.arange(1, m + 1)
    with np.errstate(invalid="ignore"):
        adj *= k[:, None]
        adj /= ranks
    rev = adj[:, ::-1]
    np.fmin.accumulate(rev, axis=1, out=rev)
    np.minimum(adj, 1.0, out=adj)
    if (k < m).any():
        adj[ranks > k[:, None]] = np.nan
    out = np.empty_like(flat)
    out.reshape(-1)[order] = adj
    return np.moveaxis(out.reshape(moved.shape), -1, axis)
