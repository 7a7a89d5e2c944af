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


def _qclass(x: np.ndarray, k: int) -> np.ndarray:
    """Hard partition at sample quantiles (mclust ``qclass``), labels 0..k-1."""
    q = np.quantile(x, np.linspace(0.0, 1.0, k + 1))
    q[0] -= 1.0
    cl = np.full(x.size, -1)
    for i in range(k):
        cl[(x > q[i]) & (x <= q[i + 1])] = i
    return cl


def _em(x: np.ndarray, w: np.ndarray | None, n: int, cuts: np.ndarray, tol: float,
        max_iter: int) -> float:
    """EM for a 1-D "V" mixture on points ``x`` with counts ``w`` (None = 1 each),
    started from the hard partition at ``cuts``; returns the log-likelihood."""
    k = cuts.size - 1
    cl = np.clip(np.searchsorted(cuts, x, side="left") - 1, 0, k - 1)
    z = np.zeros((x.size, k))
    z[np.arange(x.size), cl] = 1.0
    wx = x if w is None else w * x
    wx2 = x * wx
    eps = np.finfo(float).eps
    scale = max(1.0, float(np.abs(x).max()) ** 2)
    old, loglik = np.inf, np.nan
    for _ in range(max_iter):
        nk = z.sum(axis=0) if w is None else w @ z
        if np.any(nk <= eps):
            return np.nan
        mean = (wx @ z) / nk
        var = (wx2 @ z) / nk - mean ** 2
        if np.any(var <= eps * scale):
            return np.nan
        const = np.log(nk / n) - 0.5 * (_LOG2PI + np.log(var))
        logd = x[:, None] - mean
        logd *= logd
        logd *= -0.5 / var
        logd += const
        mx = logd.max(axis=1, keepdims=True)
        logd -= mx
        np.exp(logd, out=logd)
        s = logd.sum(axis=1, keepdims=True)
        rowll = mx[:, 0] + np.log(s[:, 0])
        loglik = float(rowll.sum() if w is None else w @ rowll)
        logd /= s
        z = logd
        if abs(loglik - old) / (1.0 + abs(loglik)) < tol:
            break
        old = loglik
    return loglik


BIN_ABOVE = 20_000
N_BINS = 4096


def gmm_loglik(x: np.ndarray, k: int, tol: float = 1e-5, max_iter: int = 5_000) -> float:
    """Maximised log-likelihood of a k-component 1-D Gaussian mixture with unequal
    variances (mclust "V"), EM from a quantile partition of the full data; ``nan`` if a
    component collapses. Above ``BIN_ABOVE`` values the EM runs on ``N_BINS`` equal-width
    bins (counts as weights) to stay fast; below it is exact."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    x = x - x.mean()
    if k == 1:
        var = x.var()
        if var <= 0:
            return np.nan
        return float(-0.5 * n * (_LOG2PI + np.log(var) + 1.0))
    cuts = np.quantile(x, np.linspace(0.0, 1.0, k + 1))
    cuts[0] -= 1.0
    cuts[-1] += 1e-12 * max(1.0, abs(cuts[-1]))
    if n <= BIN_ABOVE:
        return _em(x, None, n, cuts, tol, max_iter)
    counts, edges = np.histogram(x, bins=N_BINS)
    centres = (edges[:-1] + edges[1:]) / 2.0
    ok = counts > 0
    return _em(centres[ok], counts[ok].astype(np.float64), n, cuts, tol, max_iter)


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


def informative_gmm(eta3: np.ndarray, d_diag: np.ndarray) -> np.ndarray:
    """Bool per term: positive D_ll and a mixture with >1 component preferred."""
    out = np.zeros(eta3.shape[1], dtype=bool)
    for l in range(eta3.shape[1]):  # loop over terms only
        if d_diag[l] > 0:
            out[l] = gmm_n_components(eta3[:, l]) > 1
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
