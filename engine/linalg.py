"""Regularised linear algebra shared by the FastMix fitter (spec §11).

``rsolve`` and ``rhalfinv`` floor small singular values / eigenvalues relative to the
largest one, as the R package does, so nearly singular q x q matrices stay usable.
"""
from __future__ import annotations

import numpy as np


def rsolve(a: np.ndarray, min_cond: float = 1e-6) -> np.ndarray:
    """Inverse via SVD with singular values floored at ``min_cond * max``."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    u, s, vt = np.linalg.svd(a)
    s = np.maximum(s, min_cond * s.max()) if s.size else s
    return (vt.T / s) @ u.T


def rhalfinv(a: np.ndarray, min_cond: float = 1e-6) -> np.ndarray:
    """Symmetric inverse square root, eigenvalues floored at ``min_cond * max``.

    A 1 x 1 input gives ``1/sqrt(max(a, 0))`` (``inf`` when a <= 0), like R.
    """
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    if a.shape == (1, 1):
        v = a[0, 0]
        with np.errstate(divide="ignore"):
            return np.array([[1.0 / np.sqrt(max(v, 0.0))]])
    a = (a + a.T) / 2.0
    e, u = np.linalg.eigh(a)
    e = np.maximum(e, min_cond * e.max())
    return (u / np.sqrt(e)) @ u.T


def sym_sqrt(a: np.ndarray, floor: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric square root with eigenvalues floored at ``floor``.

    Returns ``(root, floored_matrix)``.
    """
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    a = (a + a.T) / 2.0
    e, u = np.linalg.eigh(a)
    e = np.maximum(e, floor)
    return (u * np.sqrt(e)) @ u.T, (u * e) @ u.T


def inv_sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric inverse square root of a positive-definite matrix (no flooring)."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    a = (a + a.T) / 2.0
    e, u = np.linalg.eigh(a)
    if e.min() <= 0:
        raise np.linalg.LinAlgError("matrix is not positive definite")
    return (u / np.sqrt(e)) @ u.T
