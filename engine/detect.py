"""Informative-term ("DEG direction") detection, spec §4.7.

``gmm_n_components`` mimics mclust's univariate unequal-variance ("V") mixture with
quantile initialisation on the full data (deterministic); ``informative_gmm`` flags a
term when BIC prefers more than one component. ``informative_shapiro`` is the paper's
Shapiro–Wilk rule.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

_LOG2PI = np.log(2.0 * np.pi)


BIN_ABOVE = 2_000
N_BINS = 1024


def _prepare(x: np.ndarray, k: int):
    """Centred data (p x q), weights (p x q) and quantile cut points ((k+1) x q).

    Columns with more than ``BIN_ABOVE`` values are reduced to ``N_BINS`` equal-width
    bins (bin centres weighted by counts): the EM then costs O(bins) per iteration and
    its log-likelihood differs from the exact one by far less than the BIC penalty.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    m, q = x.shape
    cuts = np.quantile(x, np.linspace(0.0, 1.0, k + 1), axis=0)
    cuts[0] -= 1.0
    if m <= BIN_ABOVE:
        return x, np.ones_like(x), cuts
    lo, hi = x.min(axis=0), x.max(axis=0)
    width = np.where(hi > lo, (hi - lo) / N_BINS, 1.0)
    idx = np.minimum(((x - lo) / width).astype(np.int64), N_BINS - 1)
    counts = np.zeros((N_BINS, q))
    np.add.at(counts, (idx, np.broadcast_to(np.arange(q), idx.shape)), 1.0)
    centres = lo + (np.arange(N_BINS)[:, None] + 0.5) * width
    return centres, counts, cuts


def _em_multi(x: np.ndarray, w: np.ndarray, n: int, cuts: np.ndarray, tol: float,
              max_iter: int, stop_at: np.ndarray | None = None) -> np.ndarray:
    """EM for 1-D "V" mixtures on every column of ``x`` (points p x q, weights w) at once,
    started from the hard partition at ``cuts``; returns the log-likelihood per column
    (``nan`` when a component collapses). A column stops early once its log-likelihood
    exceeds ``stop_at`` (EM never decreases it, so the BIC decision is already known)."""
    p, q = x.shape
    k = cuts.shape[0] - 1
    cl = np.zeros((p, q), dtype=np.int64)
    for i in range(1, k):
        cl += x > cuts[i]
    # responsibilities laid out k x p x q: reductions over the components run across
    # contiguous slabs (fast) instead of along a short trailing axis
    z = (cl[None, :, :] == np.arange(k)[:, None, None]).astype(np.float64)
    result = np.full(q, np.nan)
    active = np.arange(q)
    old = np.full(q, np.inf)
    eps = np.finfo(float).eps
    scale = np.maximum(1.0, np.abs(x).max(axis=0)) ** 2
    wx, wx2 = w * x, w * x * x
    for _ in range(max_iter):
        nk = np.einsum("pq,kpq->kq", w, z)
        mean = np.einsum("pq,kpq->kq", wx, z) / np.maximum(nk, eps)
        var = np.einsum("pq,kpq->kq", wx2, z) / np.maximum(nk, eps) - mean ** 2
        bad = np.any(nk <= eps, axis=0) | np.any(var <= eps * scale, axis=0)
        var = np.where(var > 0, var, 1.0)
        const = np.log(np.maximum(nk, eps) / n) - 0.5 * (_LOG2PI + np.log(var))
        logd = x[None, :, :] - mean[:, None, :]
        logd *= logd
        logd *= (-0.5 / var)[:, None, :]
        logd += const[:, None, :]
        mx = logd.max(axis=0)
        logd -= mx
        np.exp(logd, out=logd)
        s = logd.sum(axis=0)
        loglik = np.einsum("pq,pq->q", w, mx + np.log(s))
        logd /= s
        z = logd
        done = bad | (np.abs(loglik - old) / (1.0 + np.abs(loglik)) < tol)
        if stop_at is not None:
            done |= loglik > stop_at
        result[active[done & ~bad]] = loglik[done & ~bad]
        if done.all():
            break
        keep = ~done
        active, x, w, wx, wx2, z = active[keep], x[:, keep], w[:, keep], wx[:, keep], wx2[:, keep], z[:, :, keep]
        scale, old = scale[keep], loglik[keep]
        if stop_at is not None:
            stop_at = stop_at[keep]
    return result


def _loglik1(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    var = x.var(axis=0)
    with np.errstate(divide="ignore"):
        return np.where(var > 0, -0.5 * n * (_LOG2PI + np.log(var) + 1.0), np.nan)


def gmm_loglik(x: np.ndarray, k: int, tol: float = 1e-5, max_iter: int = 5_000) -> float:
    """Maximised log-likelihood of a k-component 1-D Gaussian mixture with unequal
    variances (mclust "V"), EM from a quantile partition of the full data; ``nan`` if a
    component collapses."""
    x = np.asarray(x, dtype=np.float64).reshape(-1, 1)
    if k == 1:
        return float(_loglik1(x)[0])
    xs, w, cuts = _prepare(x, k)
    return float(_em_multi(xs, w, x.shape[0], cuts, tol, max_iter)[0])


def gmm_n_components(x: np.ndarray, max_components: int = 3) -> int:
    """Number of components (1..max) chosen by BIC = 2 loglik - (3G-1) log n."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    best_g, best_bic = 1, -np.inf
    for g in range(1, max_components + 1):
        ll = gmm_loglik(x, g)
        if not np.isfinite(ll):
            continue
        bic = 2.0 * ll - (3 * g - 1) * np.log(x.size)
        if bic > best_bic:
            best_g, best_bic = g, bic
    return best_g


def informative_gmm(eta3: np.ndarray, d_diag: np.ndarray, max_components: int = 3,
                    tol: float = 1e-5, max_iter: int = 5_000) -> np.ndarray:
    """Bool per term: positive D_ll and BIC prefers a mixture with >1 component.

    All terms are fitted together; a term stops as soon as its BIC beats one component.
    """
    q = eta3.shape[1]
    out = np.zeros(q, dtype=bool)
    cols = np.flatnonzero((np.asarray(d_diag) > 0) & np.all(np.isfinite(eta3), axis=0))
    if cols.size == 0:
        return out
    x = np.asarray(eta3[:, cols], dtype=np.float64)
    n = x.shape[0]
    ll1 = _loglik1(x - x.mean(axis=0))
    bic1 = np.where(np.isfinite(ll1), 2.0 * ll1 - 2.0 * np.log(n), -np.inf)
    for g in range(2, max_components + 1):
        todo = ~out[cols]
        if not todo.any():
            break
        xs, w, cuts = _prepare(x[:, todo], g)
        stop = (bic1[todo] + (3 * g - 1) * np.log(n)) / 2.0
        ll = _em_multi(xs, w, n, cuts, tol, max_iter, stop_at=stop)
        bic = 2.0 * ll - (3 * g - 1) * np.log(n)
        win = np.isfinite(bic) & (bic > bic1[todo])
        idx = cols[todo][win]
        out[idx] = True
    return out


def informative_shapiro(eta2: np.ndarray, d_diag: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Bool per term: positive D_ll and Shapiro–Wilk p < alpha on the whitened EBLUPs."""
    out = np.zeros(eta2.shape[1], dtype=bool)
    for l in range(eta2.shape[1]):
        if d_diag[l] > 0:
            col = eta2[:, l]
            col = col[np.isfinite(col)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = stats.shapiro(col).pvalue
            out[l] = p < alpha
    return out
