"""Calibrated calls for FastMix's covariate and cell type x covariate terms.

The R package's competitive quasi-p-values assume one residual variance for every gene;
on real data that makes noisy genes look like cell type-specific DEGs (issue: calibration).
Calibrating each term's own statistic by permutation fixes the null but not attribution:
with blood-count fractions that add up to nearly 1, a Neutrophils x Group effect also
moves the Lymphocytes x Group statistic, so a planted neutrophil gene gets called in
every cell type (measured in ``benchmarks/bench_calibration.py``). The default therefore
separates the two questions:

1. **Does the gene respond to the covariate?** The drop in residual sum of squares when
   the covariate's main and interaction terms enter the model, in units of the gene's
   moderated residual variance (limma-style ``squeeze_var``; ``variance="pooled"`` uses
   one variance), calibrated by design-restricted permutations
   (:class:`~engine.permute.PermutationScheme`): pooled permutation p-values
   ``(1 + #{null >= observed}) / (1 + B m)`` and Benjamini–Hochberg (``perm_p``,
   ``perm_fdr``). Only the covariate columns move; ``Y`` and its row norms are reused.
2. **Through which term?** The likelihood of each single-term model (the covariate acting
   through one cell type, or through the main term alike in all), equal priors:
   ``attribution``. A call's ``fdr = perm_fdr + (1 - attribution)``: the chance the gene
   does not respond plus the chance it responds through another term.

``statistic="eblup"`` keeps the first design tried (FastMix's whitened EBLUP per term,
D held fixed) for the benchmark.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

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


def whitened_statistic(Y: np.ndarray, yy: np.ndarray, X: np.ndarray, D: np.ndarray, variance: str,
                       cols: np.ndarray, kind: str = "symmetric") -> np.ndarray:
    """FastMix's whitened EBLUPs of ``cols`` on moderated-scaled data, centred by the median
    over genes (the ``"eblup"`` calibration statistic)."""
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


def covariate_groups(n_cells: int, n_cov: int, include_covariate_main: bool) -> list[list[int]]:
    """Design columns of each covariate column: its main term (if any), then its
    interactions with every cell type (the layout of :func:`engine.design.assemble`)."""
    out = []
    for j in range(n_cov):
        start = n_cells + (n_cov if include_covariate_main else 0) + j * n_cells
        out.append(([n_cells + j] if include_covariate_main else []) + list(range(start, start + n_cells)))
    return out


def _squared_norms(Y: np.ndarray, Qs: list[np.ndarray]) -> np.ndarray:
    """``|Q'y|^2`` (genes x bases) of every gene for each orthonormal basis: one product with ``Y``
    for all of them (Fortran order: up to 4x faster in OpenBLAS here), one sum per basis's columns."""
    YQ = Y @ np.asfortranarray(np.hstack(Qs))
    np.square(YQ, out=YQ)
    return np.add.reduceat(YQ, np.cumsum([0] + [Q.shape[1] for Q in Qs[:-1]]), axis=1)


def _rss(Y: np.ndarray, yy: np.ndarray, *designs: np.ndarray) -> np.ndarray:
    """Residual sum of squares (genes x designs) of every gene's least-squares fit on each
    design: ``y'y - |Q'y|^2`` with ``X = QR`` (a third of the time of the normal equations, and
    better conditioned); all designs share one pass over the genes x samples matrix."""
    return np.maximum(yy[:, None] - _squared_norms(Y, [np.linalg.qr(X)[0] for X in designs]), 1e-300)


class CellPart:
    """The cell-type columns (the first ``K`` of every design; permutations move only the
    covariates): their orthonormal basis and each gene's RSS on them, computed once. A design's
    fit then needs only its other columns, made orthogonal to these: ``rss = rss_cells -
    |Q_rest' y|^2`` (a third of the product with ``Y`` for one covariate and four cell types)."""

    def __init__(self, Y: np.ndarray, yy: np.ndarray, X: np.ndarray, K: int) -> None:
        self.K = K
        self.Q = np.linalg.qr(X[:, :K])[0]
        YQ = Y @ self.Q
        self.rss = yy - np.einsum("ij,ij->i", YQ, YQ)

    def rss_with(self, Y: np.ndarray, *blocks: np.ndarray) -> np.ndarray:
        """RSS (genes x blocks) of the fits on the cell columns plus each block of columns."""
        filled = [i for i, B in enumerate(blocks) if B.shape[1]]  # an empty block: the cells alone
        out = np.repeat(self.rss[:, None], len(blocks), axis=1)
        if filled:
            Qs = [np.linalg.qr(blocks[i] - self.Q @ (self.Q.T @ blocks[i]))[0] for i in filled]
            out[:, filled] -= _squared_norms(Y, Qs)
        return np.maximum(out, 1e-300)


def _omnibus_rss(Y: np.ndarray, cells: CellPart, designs: list[np.ndarray],
                 groups: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """RSS of the full designs (m x designs) and of each design without each covariate's
    group of columns (m x groups x designs), from one product with ``Y``."""
    K, L = cells.K, designs[0].shape[1]
    keep = [[c for c in range(K, L) if c not in g] for g in groups]
    rss = cells.rss_with(Y, *[block for X in designs for block in [X[:, K:]] + [X[:, cols] for cols in keep]])
    k = 1 + len(groups)
    reduced = np.stack([rss[:, b * k + 1:(b + 1) * k] for b in range(len(designs))], axis=2)
    return rss[:, 0::k], reduced


def _variances(rss: np.ndarray, d: int, variance: str):
    """Per-gene residual variances of RSS (genes, or genes x designs with one fit per design),
    moderated or pooled, and their degrees of freedom (residual plus prior, as limma's)."""
    if variance == "moderated":
        sq = squeeze_var(rss / d, d)
        return sq.var_post, d + np.minimum(sq.df_prior, 1e6)
    return np.broadcast_to(np.median(rss, axis=0) / _wh(d), rss.shape), float(d)


def omnibus(Y: np.ndarray, cells: CellPart, X: np.ndarray, groups: list[list[int]],
            variance: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Per gene and covariate column: the drop in residual sum of squares when the
    covariate's terms enter the model, in units of the gene's (moderated or pooled)
    residual variance (an F-type statistic times its df); those variances; and their
    degrees of freedom (residual plus prior, as limma's moderated F)."""
    full, reduced = _omnibus_rss(Y, cells, [X], groups)
    rss = full[:, 0]
    s2, df = _variances(rss, X.shape[0] - X.shape[1], variance)
    return (reduced[:, :, 0] - rss[:, None]) / s2[:, None], s2, float(df)


def omnibus_null(Y: np.ndarray, cells: CellPart, designs: list[np.ndarray], groups: list[list[int]],
                 variance: str) -> np.ndarray:
    """:func:`omnibus`'s statistic (m x groups x designs) for several designs at once: one
    product of ``Y`` with every design's bases, one variance fit per design."""
    full, reduced = _omnibus_rss(Y, cells, designs, groups)
    s2, _ = _variances(full, designs[0].shape[0] - designs[0].shape[1], variance)
    return (reduced - full[:, None, :]) / s2[:, None, :]


def attribution(Y: np.ndarray, yy: np.ndarray, X: np.ndarray, groups: list[list[int]],
                s2: np.ndarray, responding: np.ndarray | None = None, n_iter: int = 100) -> np.ndarray:
    """Probability (m x L, zero outside the groups) that a gene's association with a
    covariate is carried by each of the covariate's terms alone.

    Each single-term model (that term plus every other covariate's terms) is weighed by its
    Gaussian likelihood times a prior share of the term. The shares are estimated by EM over
    the genes that respond (weights ``responding``, m x groups, e.g. 1 - FDR), starting equal
    with one pseudo-gene per term: with equal shares, a neutrophil gene whose data happen to
    fit the monocyte column better is confidently called monocyte-specific; the shares say
    how often each term carries the covariate's effects in this study.
    """
    L = X.shape[1]
    out = np.zeros((Y.shape[0], L))
    for j, g in enumerate(groups):
        base = [c for c in range(L) if c not in g]
        R = _rss(Y, yy, *[X[:, base + [c]] for c in g])
        lik = np.exp(-(R - R.min(axis=1, keepdims=True)) / (2.0 * s2[:, None]))
        weight = np.ones(Y.shape[0]) if responding is None else responding[:, j]
        share = np.full(len(g), 1.0 / len(g))
        for _ in range(n_iter if responding is not None else 0):
            post = lik * share
            post /= post.sum(axis=1, keepdims=True)
            new = (weight @ post + 1.0) / (weight.sum() + len(g))
            done = np.max(np.abs(new - share)) < 1e-6
            share = new
            if done:
                break
        post = lik * share
        out[:, g] = post / post.sum(axis=1, keepdims=True)
    return out


@dataclass(frozen=True)
class Calibration:
    """Calibrated calls of the covariate terms (genes x terms frames).

    ``perm_p``/``perm_fdr``: permutation p-value and BH FDR of the gene's association with
    the term's covariate (shared by the covariate's main and cell-type terms);
    ``attribution``: probability that this term carries that association; ``fdr``:
    ``perm_fdr + 1 - attribution`` (capped at 1), the FDR of "this gene responds to the
    covariate through this term"; ``statistic``: the ranking score (association x attribution).
    """

    terms: tuple[str, ...]
    statistic: pd.DataFrame
    perm_p: pd.DataFrame
    perm_fdr: pd.DataFrame
    fdr: pd.DataFrame
    attribution: pd.DataFrame
    n_permutations: int
    seed: int
    variance: str
    #: per term: rank k of the covariate's association, its threshold, and the mean number of
    #: genes at or above it under permuted labels
    curves: dict = field(default_factory=dict)
    #: per term: the omnibus statistic (m) and the mean null count at or above each value
    _null: dict = field(default_factory=dict, repr=False)

    def calls(self, fdr: float = 0.05) -> dict:
        """Per term: calls at ``fdr``, the number of genes that pass the weakest call's
        association under permuted labels (null genes expected among them), and the
        expected number of calls attributed to the wrong term."""
        out = {}
        for t in self.terms:
            called = self.fdr[t].to_numpy() <= fdr
            k = int(called.sum())
            F, expected_at = self._null[t]
            exp_null = float(expected_at[called].max()) if k else 0.0
            mis = float((1.0 - self.attribution[t].to_numpy()[called]).sum()) if k else 0.0
            out[t] = {"observed": k, "expected_under_permutation": exp_null, "expected_misattributed": mis}
        return out


def _null_counts(S: np.ndarray, permuted, n_permutations: int, progress, batch: int = 1) -> np.ndarray:
    """For each term and each observed value in decreasing order, the number of permuted
    values at or above it, summed over ``n_permutations`` permutations; ``permuted(b)`` gives
    the statistics (m x terms x b) of the next ``b`` of them."""
    m, g = S.shape
    sorted_obs = -np.sort(-S, axis=0, kind="stable")
    ge = np.zeros_like(S)
    total = max(n_permutations, 1)
    done = 0
    report(progress, 0, total, f"{n_permutations} permutations")
    while done < n_permutations:
        b = min(batch, n_permutations - done)
        Sb = permuted(b)  # m x g x b
        rows = np.ascontiguousarray(Sb.reshape(m, g * b).T)  # one contiguous row per (term, permutation)
        rows.sort(axis=1)  # along contiguous memory: several times faster than down a strided column
        for j in range(g):
            for i in range(b):
                ge[:, j] += m - np.searchsorted(rows[j * b + i], sorted_obs[:, j], side="left")
        done += b
        report(progress, done, total, f"permutation {done} of {n_permutations}")
    report(progress, total, total, "calibrated")
    return ge


def _p_values(S: np.ndarray, ge: np.ndarray, n_permutations: int, k: list[int], df):
    """Pooled permutation p-values (or, with no permutations, moderated F p-values with ``k``
    numerator df), monotone in the statistic, and their BH FDR per term."""
    m = S.shape[0]
    total = max(n_permutations, 1)
    order = np.argsort(-S, axis=0, kind="stable")
    sorted_obs = np.take_along_axis(S, order, axis=0)
    if n_permutations > 0:
        p_sorted = (1.0 + ge) / (1.0 + n_permutations * m)
    else:  # no permutations: the moderated F distribution
        kk = np.asarray(k, dtype=float)
        p_sorted = special.fdtrc(kk, df, sorted_obs / kk)
        ge = m * p_sorted  # expected null genes at or above, for the curves
    p_sorted = np.maximum.accumulate(p_sorted, axis=0)  # monotone in the statistic
    pg = np.empty_like(p_sorted)
    np.put_along_axis(pg, order, p_sorted, axis=0)
    expected = np.empty_like(ge)
    np.put_along_axis(expected, order, ge / total, axis=0)
    return order, sorted_obs, ge, pg, bh_adjust(pg), expected, total


def calibrate(Y: np.ndarray, P: np.ndarray, Z: np.ndarray, D: np.ndarray | None, names, *,
              include_covariate_main: bool, W: np.ndarray | None = None,
              scheme: PermutationScheme | None = None, n_permutations: int = 200, seed: int = 0,
              variance: str = "moderated", genes=None, statistic: str = "attribution",
              progress: ProgressCallback | None = None) -> Calibration:
    """Permutation-calibrated calls of every covariate main and cell x covariate term.

    ``Y`` is genes x samples on the fitting scale (already whitened by ``W`` when given),
    ``P`` proportions (n x K), ``Z`` standardised covariates (n x p) and ``W`` the sample
    whitening applied to every permuted design. ``statistic="attribution"`` (default)
    calibrates each covariate's association and attributes it to one term;
    ``"eblup"`` calibrates FastMix's whitened EBLUP per term with ``D`` held fixed (kept
    for the benchmark: it calls a planted gene in every correlated term).
    """
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}")
    if statistic not in ("attribution", "eblup"):
        raise ValueError("statistic must be 'attribution' or 'eblup'")
    names = tuple(names)
    K, p = P.shape[1], Z.shape[1]
    groups = covariate_groups(K, p, include_covariate_main) if statistic == "attribution" else \
        [[c] for c in range(K, len(names))]
    cols = [c for g in groups for c in g]
    terms = tuple(names[c] for c in cols)
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    m = Y.shape[0]
    yy = np.einsum("ij,ij->i", Y, Y)
    scheme = scheme or PermutationScheme()
    lvl = scheme.subject_level(Z)
    rng = np.random.default_rng(seed)
    if statistic == "eblup":
        D = calibration_d(np.asarray(D, dtype=np.float64), K)

    def design(Zb):
        X = assemble(P, Zb, include_covariate_main)
        return X if W is None else W @ X

    X = design(Z)
    cells = CellPart(Y, yy, X, K)

    def stat(X):
        if statistic == "attribution":
            return omnibus(Y, cells, X, groups, variance)
        T = np.abs(whitened_statistic(Y, yy, X, D, variance, np.asarray(cols)))
        return T, None, None

    def permuted(b: int) -> np.ndarray:  # the next b permutations (the same draws as one at a time)
        designs = [design(scheme.permute(rng, Z, lvl)) for _ in range(b)]
        if statistic == "attribution":
            return omnibus_null(Y, cells, designs, groups, variance)
        return np.stack([stat(Xb)[0] for Xb in designs], axis=2)

    S, s2, df = stat(X)  # m x groups, larger = stronger
    # permutations in batches whose products with Y hold about 4 million numbers
    batch = int(max(1, min(32, 4e6 // (m * X.shape[1] * (1 + len(groups))))))
    null = _null_counts(S, permuted, n_permutations, progress, batch)
    if n_permutations == 0 and statistic == "eblup":
        raise ValueError("the 'eblup' statistic needs permutations")
    order, sorted_obs, ge, pg, qg, expected, total = _p_values(S, null, n_permutations,
                                                               [len(g) for g in groups], df)
    if statistic == "attribution":
        pi_full = attribution(Y, yy, X, groups, s2, responding=1.0 - qg)
        col_group = [j for j, g in enumerate(groups) for _ in g]
        pi = pi_full[:, cols]
        perm_p, perm_fdr = pg[:, col_group], qg[:, col_group]
        fdr = np.minimum(1.0, perm_fdr + (1.0 - pi))
        score = S[:, col_group] * pi
        exp_t, S_t = expected[:, col_group], S[:, col_group]
    else:
        pi = np.ones((m, len(cols)))
        perm_p, perm_fdr, fdr, score, exp_t, S_t = pg, qg, qg, S, expected, S
    ranks = np.array([r for r in CURVE_RANKS if r <= m])
    curves, null = {}, {}
    for j, t in enumerate(terms):
        jj = col_group[j] if statistic == "attribution" else j
        curves[t] = {"rank": ranks.tolist(), "threshold": sorted_obs[ranks - 1, jj].tolist(),
                     "expected_null_at_or_above": (ge[ranks - 1, jj] / total).tolist()}
        null[t] = (S_t[:, j], exp_t[:, j])
    idx = pd.Index(genes if genes is not None else [f"Gene{i + 1}" for i in range(m)])
    frame = lambda a: pd.DataFrame(a, index=idx, columns=list(terms))  # noqa: E731
    return Calibration(terms=terms, statistic=frame(score), perm_p=frame(perm_p), perm_fdr=frame(perm_fdr),
                       fdr=frame(fdr), attribution=frame(pi), n_permutations=n_permutations, seed=seed,
                       variance=variance, curves=curves, _null=null)
