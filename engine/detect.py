"""Informative-term ("DEG direction") detection, spec §4.7.

``gmm_n_components`` mimics mclust's univariate unequal-variance ("V") mixture with
quantile initialisation on the full data (deterministic); ``informative_gmm`` flags a
term when BIC prefers more than one component. ``informative_shapiro`` is the paper's
Shapiro–Wilk rule.
"""
from __future__ import annotations

import warnings

import numpy as np

_LOG2PI = np.log(2.0 * np.pi)


_TINY = 1e-280  # smallest total density normalised without a log-sum-exp shift

BIN_ABOVE = 2_000
N_BINS = 1024


def _points(xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EM points and weights, both laid out columns x points (q x p), from centred data
    ``xc`` (m x q).

    Columns with more than ``BIN_ABOVE`` values are reduced to ``N_BINS`` equal-width
    bins (bin centres weighted by counts): the EM then costs O(bins) per iteration and
    its log-likelihood differs from the exact one by far less than the BIC penalty.
    Empty bins carry no weight and are dropped (each column keeps its non-empty bins
    first; shorter columns are padded with empty bins of weight 0, which change no sum).
    """
    m, q = xc.shape
    if m <= BIN_ABOVE:
        pts = np.ascontiguousarray(xc.T)
        return pts, np.ones_like(pts)
    lo, hi = xc.min(axis=0), xc.max(axis=0)
    width = np.where(hi > lo, (hi - lo) / N_BINS, 1.0)
    idx = np.minimum(((xc - lo) / width).astype(np.int64), N_BINS - 1)
    idx += np.arange(q) * N_BINS
    counts = np.bincount(idx.ravel(), minlength=q * N_BINS).astype(np.float64).reshape(q, N_BINS)
    centres = lo[:, None] + (np.arange(N_BINS)[None, :] + 0.5) * width[:, None]
    filled = counts > 0
    p = int(filled.sum(axis=1).max())
    order = np.argsort(~filled, axis=1, kind="stable")[:, :p]  # non-empty bins first
    return np.take_along_axis(centres, order, axis=1), np.take_along_axis(counts, order, axis=1)


def _cuts(xc: np.ndarray, ks) -> dict[int, np.ndarray]:
    """Quantile cut points ((k+1) x q) of the centred data for each number of
    components k in ``ks`` (one quantile pass): the EM's hard start."""
    probs = [np.linspace(0.0, 1.0, k + 1) for k in ks]
    qs = np.quantile(xc, np.concatenate(probs), axis=0)
    out, i = {}, 0
    for k in ks:
        cuts = qs[i:i + k + 1].copy()
        cuts[0] -= 1.0
        out[k] = cuts
        i += k + 1
    return out


def _em_multi(x: np.ndarray, w: np.ndarray, n: int, cuts: np.ndarray, tol: float,
              max_iter: int, stop_at: np.ndarray | None = None) -> np.ndarray:
    """EM for 1-D "V" mixtures on every column at once: points ``x`` and weights ``w``
    are q x p (one row per column), started from the hard partition at ``cuts``
    ((k+1) x q); returns the log-likelihood per column (``nan`` when a component
    collapses). A column stops early once its log-likelihood exceeds ``stop_at`` (EM
    never decreases it, so the BIC decision is already known).

    Per iteration the work is two batched matrix products and one exp: responsibilities
    are laid out q x k x p, the M step multiplies them by the stacked (w, w x, w x^2)
    and the E step's log-densities are the quadratic ``a x^2 + b x + c`` of each
    component times the stacked (x^2, x, 1). The densities are normalised directly; only
    when some point's total density underflows is the log-sum-exp shifted by its maximum.
    """
    q, p = x.shape
    k = cuts.shape[0] - 1
    cl = np.zeros((q, p), dtype=np.int64)
    for i in range(1, k):
        cl += x > cuts[i][:, None]
    z = (cl[:, None, :] == np.arange(k)[None, :, None]).astype(np.float64)
    buf = np.empty_like(z)
    wx = w * x
    mom = np.stack([w, wx, wx * x], axis=2)  # q x p x 3: weighted count, sum, sum of squares
    powers = np.stack([x * x, x, np.ones_like(x)], axis=1)  # q x 3 x p
    result = np.full(q, np.nan)
    active = np.arange(q)
    old = np.full(q, np.inf)
    eps = np.finfo(float).eps
    eps_scale = eps * np.maximum(1.0, np.abs(x).max(axis=1)) ** 2
    for _ in range(max_iter):
        s = np.matmul(z, mom)  # q x k x 3
        nk = s[:, :, 0]
        nkc = np.maximum(nk, eps)
        mean = s[:, :, 1] / nkc
        var = s[:, :, 2] / nkc - mean * mean
        bad = ((nk <= eps) | (var <= eps_scale[:, None])).any(axis=1)
        var = np.where(var > 0, var, 1.0)
        iv = 1.0 / var
        quad = np.empty(s.shape)  # log(pi_j N(x; mean_j, var_j)) = quad_j . (x^2, x, 1)
        np.multiply(iv, -0.5, out=quad[:, :, 0])
        np.multiply(mean, iv, out=quad[:, :, 1])
        np.subtract(np.log(nkc / n) - 0.5 * (_LOG2PI + np.log(var)), 0.5 * mean * quad[:, :, 1],
                    out=quad[:, :, 2])
        logd = np.matmul(quad, powers, out=buf)  # q x k x p
        dens = np.exp(logd, out=z)  # the old responsibilities are no longer needed
        tot = dens.sum(axis=1)
        if tot.min() > _TINY:
            np.log(tot, out=logd[:, 0, :])
        else:  # a point far from every component: shift by its largest log-density
            mx = logd.max(axis=1)
            logd -= mx[:, None, :]
            np.exp(logd, out=dens)
            tot = dens.sum(axis=1)
            np.log(tot, out=logd[:, 0, :])
            logd[:, 0, :] += mx
        loglik = np.einsum("qp,qp->q", w, logd[:, 0, :])
        dens *= np.reciprocal(tot, out=tot)[:, None, :]
        z, buf = dens, logd
        done = bad | (np.abs(loglik - old) / (1.0 + np.abs(loglik)) < tol)
        if stop_at is not None:
            done |= loglik > stop_at
        ok = done & ~bad
        result[active[ok]] = loglik[ok]
        if done.all():
            break
        if done.any():
            keep = ~done
            active, w, mom, powers, z = active[keep], w[keep], mom[keep], powers[keep], z[keep]
            buf = np.empty_like(z)
            eps_scale, loglik = eps_scale[keep], loglik[keep]
            if stop_at is not None:
                stop_at = stop_at[keep]
        old = loglik
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
    xc = x - x.mean(axis=0)
    pts, w = _points(xc)
    return float(_em_multi(pts, w, x.shape[0], _cuts(xc, [k])[k], tol, max_iter)[0])


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
    xc = x - x.mean(axis=0)
    ll1 = _loglik1(xc)
    bic1 = np.where(np.isfinite(ll1), 2.0 * ll1 - 2.0 * np.log(n), -np.inf)
    pts, w = _points(xc)  # binned once, shared by every number of components
    cuts = _cuts(xc, range(2, max_components + 1))
    for g in range(2, max_components + 1):
        todo = ~out[cols]
        if not todo.any():
            break
        stop = (bic1[todo] + (3 * g - 1) * np.log(n)) / 2.0
        ll = _em_multi(pts[todo], w[todo], n, cuts[g][:, todo], tol, max_iter, stop_at=stop)
        bic = 2.0 * ll - (3 * g - 1) * np.log(n)
        win = np.isfinite(bic) & (bic > bic1[todo])
        idx = cols[todo][win]
        out[idx] = True
    return out


def informative_shapiro(eta2: np.ndarray, d_diag: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Bool per term: positive D_ll and Shapiro–Wilk p < alpha on the whitened EBLUPs."""
    from scipy import stats  # here: importing scipy.stats costs more than a whole fit

    out = np.zeros(eta2.shape[1], dtype=bool)
    for k in range(eta2.shape[1]):
        if d_diag[k] > 0:
            col = eta2[:, k]
            col = col[np.isfinite(col)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = stats.shapiro(col).pvalue
            out[k] = p < alpha
    return out
