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


def gmm_loglik(x: np.ndarray, k: int, tol: float = 1e-5, max_iter: int = 10_000) -> float:
    """Maximised log-likelihood of a k-component 1-D Gaussian mixture with unequal
    variances (EM from a quantile partition); ``nan`` if a component collapses."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if k == 1:
        var = x.var()
        if var <= 0:
            return np.nan
        return float(-0.5 * n * (_LOG2PI + np.log(var) + 1.0))
    cl = _qclass(x, k)
    z = np.zeros((n, k))
    z[np.arange(n), cl] = 1.0
    old = np.inf
    eps = np.finfo(float).eps
    loglik = np.nan
    for _ in range(max_iter):
        nk = z.sum(axis=0)
        if np.any(nk <= eps):
            return np.nan
        pro = nk / n
        mean = (z * x[:, None]).sum(axis=0) / nk
        var = (z * (x[:, None] - mean) ** 2).sum(axis=0) / nk
        if np.any(var <= eps * max(1.0, float(np.abs(x).max()) ** 2)):
            return np.nan
        logd = np.log(pro) - 0.5 * (_LOG2PI + np.log(var) + (x[:, None] - mean) ** 2 / var)
        mx = logd.max(axis=1, keepdims=True)
        s = np.exp(logd - mx).sum(axis=1, keepdims=True)
        loglik = float(np.sum(mx[:, 0] + np.log(s[:, 0])))
        z = np.exp(logd - mx) / s
        if abs(loglik - old) / (1.0 + abs(loglik)) < tol:
            break
        old = loglik
    return loglik


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
