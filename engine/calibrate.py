"""Permutation calibration of FastMix's covariate terms.

The competitive quasi-p-values assume one residual variance for every gene; on real
data that makes noisy genes look like cell type-specific DEGs. Here the statistic and
its calibration are designed together:

* **statistic** ``T`` (genes x terms): the whitened EBLUP of FastMix (spec §5.4), computed
  with the random-effect covariance ``D`` of the observed fit held fixed (cell block as
  fitted, covariate terms uncorrelated with it and with each other: :func:`calibration_d`), on expression
  scaled by each gene's moderated residual SD (``variance="moderated"``, limma-style
  ``squeeze_var``) or unscaled (``"pooled"``), and centred by its median over genes;
* **null**: the same statistic with the covariates permuted as the design allows
  (:class:`~engine.permute.PermutationScheme`). ``D`` is not re-estimated per permutation:
  a re-estimated ``D`` shrinks under permuted labels and inflates the null statistics,
  which costs most of the power (measured in ``benchmarks/bench_calibration.py``).
  Everything that depends on the covariates (OLS, residual variances, the moderated
  scale, the EBLUP map) is recomputed per permutation; ``Y`` and its row norms are not.
* **p and FDR**: per-gene p-values from the null statistics pooled over all genes and
  permutations, ``p = (1 + #{null >= |T|}) / (1 + B m)``, and Benjamini–Hochberg over
  the genes of each term (equal to SAM's FDR with pi0 = 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .design import assemble
from .linalg import rhalfinv, sym_sqrt
from .moderate import squeeze_var
from .multitest import bh_adjust
from .permute import PermutationScheme
from .progress import ProgressCallback, report

VARIANCES = ("moderated", "pooled")
#: ranks at which the calibration curve compares observed with permuted-label calls
CURVE_RANKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)


def _wh(d: int) -> float:
    return d * (1.0 - 2.0 / (9.0 * d)) ** 3  # median of chi-square_d (Wilson-Hilferty)


def gene_scale(rss: np.ndarray, d: int, variance: str) -> np.ndarray:
    """Per-gene divisor of the expression: the moderated residual SD, or 1 (pooled)."""
    if variance == "pooled":
        return np.ones_like(rss)
    return np.sqrt(squeeze_var(np.maximum(rss, 0.0) / d, d).var_post)


def whitened_eblup(YX: np.ndarray, X: np.ndarray, sigma2: float, D: np.ndarray,
                   whiten: str = "symmetric") -> np.ndarray:
    """FastMix's whitened EBLUPs ``Var(gamma)^{-1/2} gamma_i`` (m x L) with GLS fixed
    effects over all genes and no de-biasing, from ``YX = Y X`` (spec §5.1-5.4)."""
    m = YX.shape[0]
    L = X.shape[1]
    A, _ = sym_sqrt(D, floor=sigma2 / 100.0)
    Zs = X @ A
    lam = 1.0 / sigma2
    ZZ = Zs.T @ Zs
    eye = np.eye(L)
    C = np.linalg.inv(eye + lam * ZZ)
    XZ = X.T @ Zs
    XtX = X.T @ X
    M = XtX - lam * XZ @ C @ XZ.T
    xy = YX.mean(axis=0)  # X' ybar
    sigma_beta = sigma2 * np.linalg.inv(m * M)
    beta = lam * sigma_beta @ (m * (xy - lam * XZ @ C @ (A @ xy)))
    K = lam * A @ (eye - lam * ZZ @ C)
    H = np.linalg.inv(ZZ + sigma2 * eye)
    V = A @ ZZ @ H @ A - A @ H @ XZ.T @ sigma_beta @ XZ @ H @ A
    V = (V + V.T) / 2.0
    W = (A @ K.T) @ (rhalfinv(V) if whiten == "symmetric" else np.diag(1.0 / np.sqrt(np.diag(V))))
    return (YX - XtX @ beta) @ W


def calibration_d(D: np.ndarray, n_cells: int) -> np.ndarray:
    """The random-effect covariance used by the statistic: the fitted cell block, no
    covariance between cell and covariate terms, and the covariate terms' own variances
    (clipped at 0). The observed fit's cross-covariances come partly from the observed
    label alignment; kept fixed across permutations they would lend the large cell
    signatures to a covariate term in the observed arrangement only (measured: hundreds
    of false calls under the null with repeated subjects)."""
    out = np.zeros_like(D)
    k = n_cells
    out[:k, :k] = D[:k, :k]
    idx = np.arange(k, D.shape[0])
    out[idx, idx] = np.maximum(np.diag(D)[k:], 0.0)
    return out


def statistic(Y: np.ndarray, yy: np.ndarray, X: np.ndarray, D: np.ndarray, variance: str,
              cols: np.ndarray, kind: str = "symmetric") -> np.ndarray:
    """Calibration statistic ``T`` (m x len(cols)) for design ``X`` (see module doc)."""
    n, L = X.shape
    d = n - L
    YX = Y @ X
    bhat = YX @ np.linalg.inv(X.T @ X)
    rss = np.maximum(yy - np.einsum("ij,ij->i", bhat, YX), 0.0)
    s = gene_scale(rss, d, variance)
    YX /= s[:, None]
    sigma2 = float(np.median(rss / s ** 2) / _wh(d))
    if kind == "t":
        T = (YX @ np.linalg.inv(X.T @ X))[:, cols] / np.sqrt(np.diag(np.linalg.inv(X.T @ X))[cols])
    else:
        T = whitened_eblup(YX, X, sigma2, D, kind)[:, cols]
    T -= np.median(T, axis=0)
    return T


@dataclass(frozen=True)
class Calibration:
    """Permutation-calibrated p-values and FDR of the covariate terms (genes x terms)."""

    terms: tuple[str, ...]
    statistic: pd.DataFrame
    perm_p: pd.DataFrame
    perm_fdr: pd.DataFrame
    n_permutations: int
    seed: int
    variance: str
    #: per term: rank k, threshold |T| of the k-th gene, observed calls (k) and the mean
    #: number of genes at or above it under permuted labels
    curves: dict = field(default_factory=dict)
    #: (m x terms) mean number of null statistics at or above the k-th largest observed |T|
    expected_by_rank: np.ndarray | None = None

    def calls(self, fdr: float = 0.05) -> dict:
        """Per term: observed calls at ``perm_fdr <= fdr`` and the mean number of genes
        that pass the same threshold of ``|T|`` under permuted labels."""
        out = {}
        for t in self.terms:
            k = int((self.perm_fdr[t].to_numpy() <= fdr).sum())  # the k largest |T| (fdr is monotone)
            j = self.terms.index(t)
            expected = 0.0 if k == 0 else float(self.expected_by_rank[k - 1, j])
            out[t] = {"observed": k, "expected_under_permutation": expected}
        return out


def calibrate(Y: np.ndarray, P: np.ndarray, Z: np.ndarray, D: np.ndarray, names, *,
              include_covariate_main: bool, W: np.ndarray | None = None,
              scheme: PermutationScheme | None = None, n_permutations: int = 200, seed: int = 0,
              variance: str = "moderated", genes=None, kind: str = "symmetric",
              progress: ProgressCallback | None = None) -> Calibration:
    """Permutation calibration of every covariate main and cell x covariate term.

    ``Y`` is genes x samples on the fitting scale (already whitened by ``W`` when given),
    ``P`` proportions (n x K), ``Z`` standardised covariates (n x p), ``D`` the observed
    fit's random-effect covariance (L x L) on the same scale as the statistic, and
    ``W`` the sample whitening applied to every permuted design.
    """
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}")
    names = tuple(names)
    K = P.shape[1]
    cols = np.arange(K, len(names))  # covariate main terms and interactions
    terms = tuple(names[i] for i in cols)
    D = calibration_d(np.asarray(D, dtype=np.float64), K)
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    m = Y.shape[0]
    yy = np.einsum("ij,ij->i", Y, Y)
    scheme = scheme or PermutationScheme()
    lvl = scheme.subject_level(Z)
    rng = np.random.default_rng(seed)

    def design(Zb):
        X = assemble(P, Zb, include_covariate_main)
        return X if W is None else W @ X

    T = statistic(Y, yy, design(Z), D, variance, cols, kind)
    absT = np.abs(T)
    order = np.argsort(-absT, axis=0, kind="stable")
    sorted_obs = np.take_along_axis(absT, order, axis=0)  # descending per term
    ge = np.zeros_like(absT)  # sum over permutations of #{null >= sorted observed}
    ranks = np.array([r for r in CURVE_RANKS if r <= m])
    total = max(n_permutations, 1)
    for b in range(n_permutations):
        report(progress, b, total, f"permutation {b + 1} of {n_permutations}")
        Tb = np.abs(statistic(Y, yy, design(scheme.permute(rng, Z, lvl)), D, variance, cols, kind))
        Tb.sort(axis=0)
        for j in range(cols.size):
            ge[:, j] += m - np.searchsorted(Tb[:, j], sorted_obs[:, j], side="left")
    report(progress, total, total, "calibrated")
    p_sorted = (1.0 + ge) / (1.0 + n_permutations * m)
    p_sorted = np.minimum.accumulate(p_sorted[::-1], axis=0)[::-1]  # ties/numerics: monotone in |T|
    p = np.empty_like(p_sorted)
    np.put_along_axis(p, order, p_sorted, axis=0)
    fdr = bh_adjust(p)
    curves = {}
    for j, t in enumerate(terms):
        curves[t] = {"rank": ranks.tolist(), "threshold": sorted_obs[ranks - 1, j].tolist(),
                     "expected_null_at_or_above": (ge[ranks - 1, j] / max(n_permutations, 1)).tolist()}
    idx = pd.Index(genes if genes is not None else [f"Gene{i + 1}" for i in range(m)])
    frame = lambda a: pd.DataFrame(a, index=idx, columns=list(terms))  # noqa: E731
    return Calibration(terms=terms, statistic=frame(T), perm_p=frame(p), perm_fdr=frame(fdr),
                       n_permutations=n_permutations, seed=seed, variance=variance, curves=curves,
                       expected_by_rank=ge / max(n_permutations, 1))
