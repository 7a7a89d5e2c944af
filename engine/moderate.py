"""Empirical-Bayes moderated residual variances (limma's ``squeezeVar``).

Real expression data have gene-specific noise: a gene whose residual variance is four
times the median produces OLS deviations twice as wide, and FastMix's pooled-variance
quasi-p-values call it an outlier. Shrinking each gene's variance toward a fitted
scaled inverse chi-square prior (Smyth 2004, limma ``fitFDist``/``squeezeVar``) gives a
stable per-gene scale to divide by before the competitive tests.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special


def trigamma_inverse(x: np.ndarray | float) -> np.ndarray:
    """Solve ``trigamma(y) = x`` for y > 0 (Newton's method, as limma ``trigammaInverse``)."""
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.empty_like(x)
    big, small = x > 1e7, x < 1e-6
    y[big] = 1.0 / np.sqrt(x[big])
    y[small] = 1.0 / x[small]
    mid = ~(big | small)
    if mid.any():
        xm = x[mid]
        ym = 0.5 + 1.0 / xm
        for _ in range(50):
            tri = special.polygamma(1, ym)
            dif = tri * (1.0 - tri / xm) / special.polygamma(2, ym)
            ym = ym + dif
            if np.max(-dif / ym) < 1e-8:
                break
        y[mid] = ym
    return y


@dataclass(frozen=True)
class SqueezedVariance:
    """Posterior variances and the fitted prior: ``var_post = (d s^2 + d0 s0^2) / (d + d0)``."""

    var_post: np.ndarray
    df_prior: float | np.ndarray  # arrays (one per column) for a 2-D input
    var_prior: float | np.ndarray


def squeeze_var(var: np.ndarray, df: float) -> SqueezedVariance:
    """Moderated variances of ``var`` (sample variances with ``df`` degrees of freedom each).

    The prior (``df_prior``, ``var_prior``) is fitted by the method of moments on
    ``log(var)`` (limma ``fitFDist`` without covariate, not robust). ``df_prior`` is
    ``inf`` when the spread of ``log(var)`` is no larger than sampling alone explains;
    then every gene gets ``var_prior``. A 2-D ``var`` (genes x sets) gets a prior per
    column (``df_prior``, ``var_prior`` are then arrays), as if each column were given alone.
    """
    v = np.asarray(var, dtype=np.float64)
    if v.ndim == 2:
        if v.shape[0] > 1 and np.isfinite(v).all():
            return _squeeze_columns(v, df)
        parts = [squeeze_var(v[:, j], df) for j in range(v.shape[1])]
        return SqueezedVariance(var_post=np.column_stack([q.var_post for q in parts]).reshape(v.shape),
                                df_prior=np.array([q.df_prior for q in parts]),
                                var_prior=np.array([q.var_prior for q in parts]))
    ok = np.isfinite(v)
    med = np.median(v[ok]) if ok.any() else 0.0
    if not med > 0:
        raise ValueError("residual variances are all zero")
    x = np.maximum(np.where(ok, v, med), 1e-5 * med)  # limma: guard against log(0)
    d2 = df / 2.0
    e = np.log(x) - special.digamma(d2) + np.log(d2)
    emean = float(e[ok].mean())
    evar = float(e[ok].var(ddof=1)) - float(special.polygamma(1, d2)) if ok.sum() > 1 else 0.0
    if evar > 0:
        d0 = float(2.0 * trigamma_inverse(evar)[0])
        s0 = float(np.exp(emean + special.digamma(d0 / 2.0) - np.log(d0 / 2.0)))
        post = (df * x + d0 * s0) / (df + d0)
    else:
        d0, s0 = float("inf"), float(np.exp(emean))
        post = np.full_like(x, s0)
    return SqueezedVariance(var_post=post, df_prior=d0, var_prior=s0)


def _squeeze_columns(v: np.ndarray, df: float) -> SqueezedVariance:
    """:func:`squeeze_var` of every column of a finite genes x sets matrix at once."""
    med = np.median(v, axis=0)
    if not (med > 0).all():
        raise ValueError("residual variances are all zero")
    x = np.maximum(v, 1e-5 * med)
    d2 = df / 2.0
    e = np.log(x)
    e += np.log(d2) - special.digamma(d2)
    emean = e.mean(axis=0)
    evar = e.var(axis=0, ddof=1) - special.polygamma(1, d2)
    d0 = np.full(v.shape[1], np.inf)
    s0 = np.exp(emean)
    pos = evar > 0
    if pos.any():
        d0[pos] = 2.0 * trigamma_inverse(evar[pos])
        s0[pos] = np.exp(emean[pos] + special.digamma(d0[pos] / 2.0) - np.log(d0[pos] / 2.0))
    post = np.empty_like(x)
    post[:, pos] = (df * x[:, pos] + d0[pos] * s0[pos]) / (df + d0[pos])
    post[:, ~pos] = s0[~pos]
    return SqueezedVariance(var_post=post, df_prior=d0, var_prior=s0)
