"""The array-level FastMix fitter (checked against R 0.2.5): ``Y`` (genes x samples), ``X``.

All genes share one design, so every X-only quantity is computed once and the per-gene
work is a handful of (m x n)(n x L) matrix products: no loop over genes. Stages follow the
spec: per-gene OLS and the pooled variance (§4.1-4.2), moments (§4.3-4.5), an initial GLS
fit, the mixture detector, trimming and the re-estimated D, the final fit and the tests.
:func:`fit_arrays` returns an :class:`ArrayFit`; :class:`engine.fastmix.FastMix` labels it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import special  # not scipy.stats: its import costs more than a whole fit

from .design import check_rank
from .detect import informative_gmm, informative_shapiro
from .errors import DesignError
from .linalg import rhalfinv, rsolve, sym_sqrt
from .moderate import squeeze_var
from .multitest import bh_adjust
from .progress import ProgressCallback, report
from .robust import RobustMean, robust_mean
from .tdist import t_two_sided

_STAGES = ("ols", "moments", "initial fit", "detect", "trim", "final fit", "tests")


@dataclass(frozen=True)
class ArrayFit:
    """Unlabelled results of one fit (m genes, L terms); arrays are genes x terms unless noted."""

    names: tuple[str, ...]
    X: np.ndarray                 # design used (n x L)
    sigma2: float                 # pooled residual variance
    rss: np.ndarray               # per-gene OLS residual sum of squares (m)
    beta_ols: np.ndarray          # grand OLS fit (L)
    ols_deviation: np.ndarray     # per-gene OLS minus the grand fit
    ols_p: np.ndarray
    ols_fdr: np.ndarray
    D_initial: np.ndarray         # moment estimate of D before trimming (L x L)
    eta3_initial: np.ndarray      # standardised initial EBLUPs fed to the detector
    rr0: RobustMean               # robust mean of the OLS deviations
    informative: np.ndarray       # terms the detector marks informative (L, bool)
    trim_df: int                  # number of informative terms
    lambda_: float                # truncation factor (nan without trimming)
    chi: np.ndarray               # per-gene distance used for trimming (m; nan without)
    kept: np.ndarray | None       # genes kept after trimming (m, bool; None = all)
    kept_genes: int
    D_refit: np.ndarray           # D re-estimated on the kept genes (L x L)
    bias_term: np.ndarray         # de-biasing shift of the fixed effects (L)
    v_inflation: np.ndarray       # variance inflation of the fixed effects (L)
    D: np.ndarray                 # D used by the final fit (floored, L x L)
    beta: np.ndarray              # fixed effects (L)
    sigma_beta: np.ndarray        # their covariance (L x L)
    t: np.ndarray                 # fixed-effect t statistics (L)
    df: np.ndarray                # their degrees of freedom (L)
    p_fixed: np.ndarray
    p_fixed_adj: np.ndarray
    blup: np.ndarray              # EBLUPs (random effects)
    coef: np.ndarray              # beta + EBLUP
    var_eblup: np.ndarray         # variance of the EBLUPs (L x L)
    eta: np.ndarray               # overall chi-square statistic per gene (m)
    quasi_p: np.ndarray
    quasi_fdr: np.ndarray
    overall_p: np.ndarray         # (m)
    timings: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    # fit_moderated only: per-gene divisors and the fitted variance prior
    scale: np.ndarray | None = None
    df_prior: float | None = None
    var_prior: float | None = None


def truncation_lambda(d: int, trim: float) -> float:
    """Closed-form truncated chi-square correction: (1-trim) / F_{d+2}(q_{d}(1-trim))."""
    qt = 2.0 * special.gammaincinv(d / 2.0, 1.0 - trim)  # stats.chi2.ppf(1 - trim, d)
    return float((1.0 - trim) / special.chdtr(d + 2, qt))  # / stats.chi2.cdf(qt, d + 2)


def _gls_eblup(Y, YX, X, sigma2, D, keep, bias_term, independent, want=("eta", "eta2", "eta3")):
    """GLS fixed effects over the kept genes + EBLUPs and their variance (spec §5)."""
    m, n = Y.shape
    L = X.shape[1]
    q = L
    if independent:
        dd = np.maximum(np.diag(D), sigma2 / 100.0)
        A = np.diag(np.sqrt(dd))
        D_used = np.diag(dd)
    else:
        A, D_used = sym_sqrt(D, floor=sigma2 / 100.0)
    Z = X
    Zs = Z @ A
    lam = 1.0 / sigma2
    ZZ = Zs.T @ Zs
    C = np.linalg.inv(np.eye(q) + lam * ZZ)
    XZ = X.T @ Zs
    M = X.T @ X - lam * XZ @ C @ XZ.T
    nk = m if keep is None else int(keep.sum())
    ybar = Y.mean(axis=0) if keep is None else (keep.astype(np.float64) @ Y) / nk
    sigma_beta = sigma2 * np.linalg.inv(nk * M)
    rhs = nk * (X.T @ ybar - lam * XZ @ C @ (Zs.T @ ybar))
    beta = lam * sigma_beta @ rhs
    beta = beta + bias_term
    K = lam * A @ (np.eye(q) - lam * ZZ @ C)
    blup = YX @ (A @ K.T)  # residuals times Z*, then the EBLUP map, without forming m x n
    blup -= (X.T @ (X @ beta)) @ A @ K.T
    H = np.linalg.inv(ZZ + sigma2 * np.eye(q))
    V = A @ ZZ @ H @ A - A @ H @ XZ.T @ sigma_beta @ XZ @ H @ A
    V = (V + V.T) / 2.0
    # per-gene statistics, only those the caller uses
    eta = np.einsum("ij,ij->i", blup @ rsolve(V), blup) if "eta" in want else None
    eta2 = blup @ rhalfinv(V) if "eta2" in want else None
    eta3 = blup / np.sqrt(np.diag(V)) if "eta3" in want else None
    return dict(beta=beta, sigma_beta=sigma_beta, blup=blup, var_blup=V, eta=eta, eta2=eta2,
                eta3=eta3, D_used=D_used)


def _validated(Y, X, names, trim: float, detector: str, df_method: str):
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, L = Y.shape[1], X.shape[1]
    names = tuple(names) if names is not None else tuple(f"X{i + 1}" for i in range(L))
    if X.shape[0] != n:
        raise DesignError(f"design has {X.shape[0]} rows but expression has {n} samples")
    if not 0.0 <= trim < 1.0:
        raise ValueError("trim must be in [0, 1)")
    if detector not in ("gmm", "shapiro"):
        raise ValueError("detector must be 'gmm' or 'shapiro'")
    if df_method not in ("r", "satterthwaite"):
        raise ValueError("df_method must be 'r' or 'satterthwaite'")
    check_rank(X, names)
    if n - L < 1:
        raise DesignError(f"{n} samples leave no residual degrees of freedom for {L} terms",
                          columns=list(names))
    return Y, X, names


def _ols(Y: np.ndarray, X: np.ndarray):
    """Per-gene OLS, pooled sigma2 and the OLS deviations from the grand fit (spec §4.1-4.2).
    Returns (YX, deviations B, rss, sigma2, beta_ols, ols_p)."""
    n, L = X.shape
    d_res = n - L
    XtX_inv = np.linalg.inv(X.T @ X)
    YX = Y @ X  # the only full pass over Y needed by the fit (m x L)
    bhat = YX @ XtX_inv  # per-gene OLS (m x L)
    yy = np.einsum("ij,ij->i", Y, Y)
    rss = yy - np.einsum("ij,ij->i", bhat, YX)
    # exact residuals where the shortcut could lose precision (tiny RSS relative to |y|^2)
    risky = rss < 1e-8 * yy
    if risky.any():
        r = Y[risky] - bhat[risky] @ X.T
        rss[risky] = np.einsum("ij,ij->i", r, r)
    rss = np.maximum(rss, 0.0)
    sigma2 = float(np.median(rss) / (d_res * (1.0 - 2.0 / (9.0 * d_res)) ** 3))
    beta_ols = bhat.mean(axis=0)
    ols_t = np.sqrt(np.outer(rss / d_res, np.diag(XtX_inv)))  # standard errors, in place below
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(bhat, ols_t, out=ols_t)  # t statistics
    ols_p = t_two_sided(ols_t, d_res)  # 2 P(T > |t|): stdtr, tabulated once for large arrays
    B = bhat  # OLS deviations from the grand OLS fit, in place
    B -= beta_ols
    return YX, B, rss, sigma2, beta_ols, ols_p


def _trim(B, norm_B, S, sigma2G, informative, trim: float, lambda_override, bias: int):
    """Trim the genes farthest from the centre on the informative terms, re-estimate D on
    the rest and de-bias. Returns (keep, lambda, chi, D_refit, bias_term, v_inflation)."""
    m, L = B.shape
    dtrim = int(informative.sum())
    if not (dtrim > 0 and trim > 0):
        return None, np.nan, np.full(m, np.nan), S - sigma2G, np.zeros(L), np.ones(L)
    chi = np.einsum("ij,ij->i", norm_B[:, informative], norm_B[:, informative])
    nkeep = int(np.floor(m * (1.0 - trim)))
    cut = np.partition(chi, nkeep - 1)[nkeep - 1]
    keep = chi <= cut
    lam_t = float(lambda_override) if lambda_override is not None else truncation_lambda(dtrim, trim)
    coef = np.ones(L)
    coef[informative] = lam_t * norm_B[keep][:, informative].var(axis=0, ddof=1)
    S1 = S.copy()
    S1[np.diag_indices(L)] *= coef
    D_ref = S1 - sigma2G
    rr1 = robust_mean(B, D_ref + sigma2G, trim=0.5, tol=1e-3, max_iter=10)
    if bias == 2:
        bias_term = np.where(informative, rr1.mu_est, 0.0)
        v_infl = np.where(informative, rr1.v_inflation, 1.0)
    elif bias == 1:
        bias_term = rr1.mu_est
        v_infl = np.full(L, rr1.v_inflation)
    else:
        bias_term, v_infl = np.zeros(L), np.ones(L)
    return keep, lam_t, chi, D_ref, bias_term, v_infl


def _fixed_df(df_method: str, m: int, n: int, G, sigma2: float, keep, D_used, notices: list) -> np.ndarray:
    """Degrees of freedom of the fixed-effect t tests: R's ``min(m, n) - L - 1`` or Satterthwaite."""
    L = G.shape[0]
    if df_method == "r":
        df_r = min(m, n) - L - 1
        if df_r < 1:
            notices.append(f"fixed-effect df min(genes, samples) - terms - 1 = {df_r} is below 1; "
                           "using df = 1 (add samples or use fewer terms)")
        return np.full(L, float(max(df_r, 1)))
    nk = m if keep is None else int(keep.sum())
    a1 = np.maximum(np.diag(D_used), 0.0) / nk
    a2 = sigma2 * np.diag(G) / nk
    return (a1 + a2) ** 2 / (a1 ** 2 / max(nk - 1, 1) + a2 ** 2 / (nk * (n - L)))


def fit_arrays(Y: np.ndarray, X: np.ndarray, names=None, *, trim: float = 0.5,
               independent: bool = False, detector: str = "gmm", bias: int = 2,
               lambda_override: float | None = None, df_method: str = "r",
               progress: ProgressCallback | None = None) -> ArrayFit:
    """Fit FastMix on arrays: ``Y`` (m genes x n samples), ``X`` (n x L), all terms random."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name, i):
        nonlocal t0
        now = time.perf_counter()
        timings[name] = now - t0
        t0 = now
        report(progress, i, len(_STAGES), name)

    Y, X, names = _validated(Y, X, names, trim, detector, df_method)
    m, n = Y.shape
    L = X.shape[1]
    report(progress, 0, len(_STAGES), "start")
    YX, B, rss, sigma2, beta_ols, ols_p = _ols(Y, X)
    G = rsolve(X.T @ X)
    lap("ols", 1)
    # 4.3-4.5 moments
    S = np.cov(B, rowvar=False, ddof=1).reshape(L, L)
    D0 = S - sigma2 * G
    V0 = D0 + sigma2 * G
    norm_B = B @ rhalfinv(V0)
    rr0 = robust_mean(B, V0, trim=0.5, tol=1e-3, max_iter=10)
    bias0 = rr0.mu_est if bias in (1, 2) else np.zeros(L)
    lap("moments", 2)
    fit0 = _gls_eblup(Y, YX, X, sigma2, D0, None, bias0, independent,
                      want=("eta3",) if detector == "gmm" else ("eta2", "eta3"))
    lap("initial fit", 3)
    if detector == "gmm":
        informative = informative_gmm(fit0["eta3"], np.diag(D0))
    else:
        informative = informative_shapiro(fit0["eta2"], np.diag(D0))
    eta3_initial = fit0["eta3"]
    del fit0
    lap("detect", 4)
    keep, lam_t, chi, D_ref, bias_term, v_infl = _trim(B, norm_B, S, sigma2 * G, informative, trim,
                                                       lambda_override, bias)
    lap("trim", 5)
    del norm_B
    fit = _gls_eblup(Y, YX, X, sigma2, D_ref, keep, bias_term, independent, want=("eta", "eta2"))
    del YX
    lap("final fit", 6)
    beta, sb = fit["beta"], fit["sigma_beta"]
    tstat = beta / np.sqrt(np.diag(sb)) / np.sqrt(v_infl)
    notices: list[str] = []
    df = _fixed_df(df_method, m, n, G, sigma2, keep, fit["D_used"], notices)
    p_fixed = 2.0 * special.stdtr(df, -np.abs(tstat))  # 2 stats.t.sf(|t|, df)
    quasi_p = np.abs(fit.pop("eta2"))
    special.ndtr(np.negative(quasi_p, out=quasi_p), out=quasi_p)
    quasi_p *= 2.0
    overall_p = special.chdtrc(L, np.maximum(fit["eta"], 0.0))  # stats.chi2.sf (1 below 0)
    lap("tests", 7)
    return ArrayFit(
        names=names, X=X, sigma2=sigma2, rss=rss, beta_ols=beta_ols, ols_deviation=B,
        ols_p=ols_p, ols_fdr=bh_adjust(ols_p), D_initial=D0, eta3_initial=eta3_initial,
        rr0=rr0, informative=informative, trim_df=int(informative.sum()), lambda_=lam_t, chi=chi,
        kept=keep, kept_genes=(m if keep is None else int(keep.sum())), D_refit=D_ref,
        bias_term=bias_term, v_inflation=v_infl, D=fit["D_used"], beta=beta, sigma_beta=sb,
        t=tstat, df=df, p_fixed=p_fixed, p_fixed_adj=bh_adjust(p_fixed), blup=fit["blup"],
        coef=beta + fit["blup"], var_eblup=fit["var_blup"], eta=fit["eta"],
        quasi_p=quasi_p, quasi_fdr=bh_adjust(quasi_p), overall_p=overall_p,
        timings=timings, notices=notices)


def fit_moderated(Y: np.ndarray, X: np.ndarray, names, rss: np.ndarray, *,
                  progress: ProgressCallback | None = None, **options) -> ArrayFit:
    """FastMix on expression scaled gene by gene by the moderated residual SD.

    Each gene is divided by ``sqrt(squeeze_var(rss / d, d))`` (limma-style shrinkage
    toward a fitted prior) and the usual fit runs on the scaled data, so a gene with
    four times the typical noise no longer looks like an outlier. The result also holds
    ``scale`` (the divisors), ``df_prior`` and ``var_prior``.
    """
    d = X.shape[0] - X.shape[1]
    sq = squeeze_var(np.maximum(rss, 0.0) / d, d)
    scale = np.sqrt(sq.var_post)
    out = fit_arrays(Y / scale[:, None], X, names, progress=progress, **options)
    return replace(out, scale=scale, df_prior=sq.df_prior, var_prior=sq.var_prior)
