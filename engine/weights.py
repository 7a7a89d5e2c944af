"""Weighted / correlated samples (spec §10): whitening and PBtest's getRho/getSigma.

A known sample covariance Σ (up to scale) is handled by premultiplying the design and
every gene vector by W = Σ^{-1/2}. For repeated measures, :func:`get_rho` estimates
the within-subject correlation and :func:`get_sigma` builds the matching Σ.
"""
from __future__ import annotations

import numpy as np

from .errors import InputError
from .linalg import inv_sqrt_psd


def whitening(sample_cov: np.ndarray) -> np.ndarray:
    """W = Σ^{-1/2} (symmetric); raises :class:`InputError` if Σ is not positive definite."""
    s = np.asarray(sample_cov, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise InputError(f"sample covariance must be square, got shape {s.shape}")
    if not np.allclose(s, s.T, atol=1e-8 * max(1.0, np.abs(s).max())):
        raise InputError("sample covariance is not symmetric")
    try:
        return inv_sqrt_psd(s)
    except np.linalg.LinAlgError:
        raise InputError("sample covariance is not positive definite") from None


def get_rho(YY: np.ndarray, xx: np.ndarray | None, subject, weights=None,
            correction: bool = True) -> float:
    """Mean within-subject residual correlation (PBtest ``getRho``).

    ``YY`` is samples x genes, ``xx`` samples x covariates (an intercept is added),
    ``subject`` one label per sample, ``weights`` a-priori sample weights (default 1).
    """
    YY = np.asarray(YY, dtype=np.float64)
    n = YY.shape[0]
    subject = np.asarray(subject).astype(str)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    X1 = np.ones((n, 1)) if xx is None else np.column_stack([np.ones(n), np.asarray(xx, dtype=np.float64)])
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(X1 * sw[:, None], YY * sw[:, None], rcond=None)
    r = (YY - X1 @ coef) * sw[:, None]
    labels, inv, counts = np.unique(subject, return_inverse=True, return_counts=True)
    rep = counts[inv] >= 2
    if not rep.any():
        raise InputError("no subject has two or more samples; cannot estimate the correlation")
    r = r[rep]
    grp = inv[rep]
    ns = counts[counts >= 2]
    S = ns.size
    ss1 = np.einsum("ij,ij->j", r, r)
    sums = np.zeros((labels.size, r.shape[1]))
    np.add.at(sums, grp, r)
    ss2 = np.einsum("ij,ij->j", sums, sums)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (ss2 - ss1) / (np.sum(ns * (ns - 1)) / np.sum(ns)) / ss1
        if correction and S > 3:
            rho = rho * (1.0 + (1.0 - rho ** 2) / (2.0 * (S - 3)))
    return float(np.nanmean(rho))


def get_sigma(subject, rho: float, weights=None) -> np.ndarray:
    """Σ = diag(1/√w) R diag(1/√w) with R_jk = rho within a subject (PBtest ``getSigma``)."""
    subject = np.asarray(subject).astype(str)
    n = subject.size
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    R = np.where(subject[:, None] == subject[None, :], rho, 0.0)
    np.fill_diagonal(R, 1.0)
    s = 1.0 / np.sqrt(w)
    return R * np.outer(s, s)
