"""FastMix moment-based linear mixed model (spec: FastMix R package 0.2.5).

All genes share one design, so every X-only quantity is computed once and the
per-gene work is a handful of (m x n)(n x L) matrix products: no loop over genes.
:func:`fit_arrays` is the array-level fitter (checked against R); :class:`FastMix` is the
estimator that matches samples by ID, builds the design and wraps the results.

Deliberate differences from the R package (spec §14): a single random term (q = 1)
follows the same path as q > 1 (R bug B4); ``independent=True`` works (bug B2);
p-values use survival functions (no underflow to 0 at |z| > 8.3); the truncation
factor lambda uses its closed form instead of a Monte Carlo draw; the mixture
detector is deterministic (quantile start on all values; above 2000 genes the EM runs
on 1024 equal-width bins). All terms carry random effects (R ``random="all"``).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import special, stats

from .design import Design, build_design, check_rank
from .detect import informative_gmm, informative_shapiro
from .errors import DesignError, InputError
from .linalg import rhalfinv, rsolve, sym_sqrt
from .matching import match_samples
from .multitest import bh_adjust
from .progress import ProgressCallback, report
from .results import FastMixResults
from .robust import robust_mean

_STAGES = ("ols", "moments", "initial fit", "detect", "trim", "final fit", "tests")


def truncation_lambda(d: int, trim: float) -> float:
    """Closed-form truncated chi-square correction: (1-trim) / F_{d+2}(q_{d}(1-trim))."""
    qt = stats.chi2.ppf(1.0 - trim, d)
    return float((1.0 - trim) / stats.chi2.cdf(qt, d + 2))


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


def fit_arrays(Y: np.ndarray, X: np.ndarray, names=None, *, trim: float = 0.5,
               independent: bool = False, detector: str = "gmm", bias: int = 2,
               lambda_override: float | None = None, df_method: str = "r",
               progress: ProgressCallback | None = None) -> dict:
    """Fit FastMix on arrays: ``Y`` (m genes x n samples), ``X`` (n x L), all terms random.

    Returns a dict of numpy results (keys documented in :class:`FastMix`).
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name, i):
        nonlocal t0
        now = time.perf_counter()
        timings[name] = now - t0
        t0 = now
        report(progress, i, len(_STAGES), name)

    Y = np.ascontiguousarray(Y, dtype=np.float64)
    X = np.ascontiguousarray(X, dtype=np.float64)
    m, n = Y.shape
    L = X.shape[1]
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
    d_res = n - L
    if d_res < 1:
        raise DesignError(f"{n} samples leave no residual degrees of freedom for {L} terms",
                          columns=list(names))
    report(progress, 0, len(_STAGES), "start")
    # 4.1-4.2 per-gene OLS, pooled sigma2, deviations
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
    G = rsolve(X.T @ X)
    ols_t = np.sqrt(np.outer(rss / d_res, np.diag(XtX_inv)))  # standard errors, in place below
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(bhat, ols_t, out=ols_t)  # t statistics
    np.negative(np.abs(ols_t, out=ols_t), out=ols_t)
    ols_p = special.stdtr(d_res, ols_t, out=ols_t)  # two-sided: 2 P(T > |t|), in place
    ols_p *= 2.0
    del ols_t
    B = bhat  # OLS deviations from the grand OLS fit, in place
    B -= beta_ols
    del bhat
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
    d_diag = np.diag(D0)
    if detector == "gmm":
        informative = informative_gmm(fit0["eta3"], d_diag)
    else:
        informative = informative_shapiro(fit0["eta2"], d_diag)
    eta3_initial = fit0["eta3"]
    del fit0
    lap("detect", 4)
    dtrim = int(informative.sum())
    keep = None
    lam_t = np.nan
    chi = np.full(m, np.nan)
    if dtrim > 0 and trim > 0:
        chi = np.einsum("ij,ij->i", norm_B[:, informative], norm_B[:, informative])
        nkeep = int(np.floor(m * (1.0 - trim)))
        cut = np.partition(chi, nkeep - 1)[nkeep - 1]
        keep = chi <= cut
        lam_t = float(lambda_override) if lambda_override is not None else truncation_lambda(dtrim, trim)
        coef = np.ones(L)
        coef[informative] = lam_t * norm_B[keep][:, informative].var(axis=0, ddof=1)
        S1 = S.copy()
        S1[np.diag_indices(L)] *= coef
        D_ref = S1 - sigma2 * G
        rr1 = robust_mean(B, D_ref + sigma2 * G, trim=0.5, tol=1e-3, max_iter=10)
        if bias == 2:
            bias_term = np.where(informative, rr1.mu_est, 0.0)
            v_infl = np.where(informative, rr1.v_inflation, 1.0)
        elif bias == 1:
            bias_term = rr1.mu_est
            v_infl = np.full(L, rr1.v_inflation)
        else:
            bias_term, v_infl = np.zeros(L), np.ones(L)
    else:
        D_ref = D0
        bias_term, v_infl = np.zeros(L), np.ones(L)
    lap("trim", 5)
    del norm_B
    fit = _gls_eblup(Y, YX, X, sigma2, D_ref, keep, bias_term, independent, want=("eta", "eta2"))
    del YX
    lap("final fit", 6)
    beta = fit["beta"]
    sb = fit["sigma_beta"]
    tstat = beta / np.sqrt(np.diag(sb)) / np.sqrt(v_infl)
    notices: list[str] = []
    if df_method == "r":
        df_r = min(m, n) - L - 1
        if df_r < 1:
            notices.append(f"fixed-effect df min(genes, samples) - terms - 1 = {df_r} is below 1; "
                           "using df = 1 (add samples or use fewer terms)")
        df = np.full(L, float(max(df_r, 1)))
    else:
        nk = m if keep is None else int(keep.sum())
        a1 = np.maximum(np.diag(fit["D_used"]), 0.0) / nk
        a2 = sigma2 * np.diag(G) / nk
        df = (a1 + a2) ** 2 / (a1 ** 2 / max(nk - 1, 1) + a2 ** 2 / (nk * d_res))
    p_fixed = 2.0 * stats.t.sf(np.abs(tstat), df)
    quasi_p = np.abs(fit.pop("eta2"))
    special.ndtr(np.negative(quasi_p, out=quasi_p), out=quasi_p)
    quasi_p *= 2.0
    overall_p = special.chdtrc(L, np.maximum(fit["eta"], 0.0))  # stats.chi2.sf (1 below 0)
    coef_mat = beta + fit["blup"]
    out = dict(
        names=names, sigma2=sigma2, rss=rss, beta_ols=beta_ols, ols_deviation=B,
        ols_p=ols_p, ols_fdr=bh_adjust(ols_p), D_initial=D0, eta3_initial=eta3_initial,
        rr0=rr0, informative=informative, trim_df=dtrim, lambda_=lam_t, chi=chi,
        kept=keep, kept_genes=(m if keep is None else int(keep.sum())), D_refit=D_ref,
        bias_term=bias_term, v_inflation=v_infl, D=fit["D_used"], beta=beta, sigma_beta=sb,
        t=tstat, df=df, p_fixed=p_fixed, p_fixed_adj=bh_adjust(p_fixed), blup=fit["blup"],
        coef=coef_mat, var_eblup=fit["var_blup"], eta=fit["eta"],
        quasi_p=quasi_p, quasi_fdr=bh_adjust(quasi_p), overall_p=overall_p, X=X,
    )
    lap("tests", 7)
    out["timings"] = timings
    out["notices"] = notices
    return out


def fit_moderated(Y: np.ndarray, X: np.ndarray, names, rss: np.ndarray, *,
                  progress: ProgressCallback | None = None, **options) -> dict:
    """FastMix on expression scaled gene by gene by the moderated residual SD.

    Each gene is divided by ``sqrt(squeeze_var(rss / d, d))`` (limma-style shrinkage
    toward a fitted prior) and the usual fit runs on the scaled data, so a gene with
    four times the typical noise no longer looks like an outlier. Returns the fit dict
    of :func:`fit_arrays` plus ``scale`` (the divisors), ``df_prior`` and ``var_prior``.
    """
    from .moderate import squeeze_var

    d = X.shape[0] - X.shape[1]
    sq = squeeze_var(np.maximum(rss, 0.0) / d, d)
    scale = np.sqrt(sq.var_post)
    out = fit_arrays(Y / scale[:, None], X, names, progress=progress, **options)
    out.update(scale=scale, df_prior=sq.df_prior, var_prior=sq.var_prior)
    return out


def _progress_stages(progress: ProgressCallback | None, moderated: bool, permutations: int):
    """Split one progress bar (0..1000) into the fit, the moderated fit and the
    permutations (weighted by their typical cost)."""
    weights = {"fit": 1.0, "moderated fit": 1.0 if moderated else 0.0, "calibration": permutations / 20.0}
    total = sum(weights.values())
    starts, acc = {}, 0.0
    for k, w in weights.items():
        starts[k] = acc
        acc += w

    def stage(name: str) -> ProgressCallback | None:
        if progress is None:
            return None

        def cb(done: int, n: int, msg: str):
            frac = (starts[name] + weights[name] * (done / max(n, 1))) / total
            return progress(int(round(1000 * frac)), 1000, f"{name}: {msg}")
        return cb
    return stage


def _as_percent(props: pd.DataFrame) -> bool:
    """True when proportions look like percentages: values above 1 (impossible for
    fractions), none above 100, and no row summing above ~100."""
    v = props.to_numpy()
    return bool(np.nanmax(v) > 1.0 and np.nanmax(v) <= 100.0 and np.nanmax(v.sum(axis=1)) <= 105.0)


class FastMix:
    """FastMix estimator: cell type-specific DEGs from bulk expression and proportions.

    Parameters follow the R package defaults (trim=0.5, mixture detector, bias=2,
    df rule ``min(m, n) - L - 1``). ``fit`` matches samples by ID and returns ``self``.

    Parameters
    ----------
    trim : fraction of genes trimmed (by distance) before re-estimating D; 0 = no trimming.
    independent : diagonal D (the "_ind" variant), eigenvalues floored at sigma2/100.
    detector : "gmm" (package default, 1-D mixture BIC) or "shapiro" (paper).
    include_covariate_main : include the covariate main effects (disable when the
        proportions of all cell types sum to 1, which makes the design singular).
    bias : 2 = de-bias informative terms only, 1 = all terms, 0 = none.
    lambda_override : truncation factor to use instead of the closed form.
    df_method : "r" (``min(m, n) - L - 1``) or "satterthwaite".
    variance : "moderated" (default: each gene scaled by its empirical-Bayes moderated
        residual SD before the calibrated tests) or "pooled" (one residual variance for
        all genes, as the R package). ``quasi_p``/``quasi_fdr`` are always the R package's.
    permutations : number B of design-restricted permutations that calibrate the
        covariate and cell x covariate terms (0 = none; ``fdr`` then falls back to the
        moderated F distribution of the association, or, with ``variance="pooled"``, to
        the R package's quasi-FDR).
    calibration : "attribution" (default: permutation-calibrated association with each
        covariate, attributed to one term by likelihood) or "eblup" (each term's whitened
        EBLUP calibrated alone; calls correlated terms too, kept for comparison).
    random_state : seed of the permutations (the fit itself is deterministic).

    Fitted attributes
    -----------------
    design_, match_, notices_, sigma2_, D_initial_, D_, fixed_effects_, sigma_beta_,
    coef_, random_effects_, quasi_p_, quasi_fdr_, ols_p_, ols_fdr_, overall_stat_,
    overall_p_, informative_, kept_genes_, lambda_, var_eblup_, rho_ (repeated measures),
    fitted_ (computed on access), timings_, results_ (:class:`FastMixResults`).
    With ``sample_cov``/``weights``/``subject`` everything lives on the whitened scale.
    """

    def __init__(self, *, trim: float = 0.5, independent: bool = False, detector: str = "gmm",
                 include_covariate_main: bool = True, bias: int = 2,
                 lambda_override: float | None = None, df_method: str = "r",
                 variance: str = "moderated", permutations: int = 200,
                 calibration: str = "attribution", random_state: int = 0) -> None:
        self.trim = trim
        self.independent = independent
        self.detector = detector
        self.include_covariate_main = include_covariate_main
        self.bias = bias
        self.lambda_override = lambda_override
        self.df_method = df_method
        self.variance = variance
        self.permutations = permutations
        self.calibration = calibration
        self.random_state = random_state

    def get_params(self) -> dict:
        """Constructor parameters (scikit-learn style)."""
        return {k: getattr(self, k) for k in ("trim", "independent", "detector",
                                              "include_covariate_main", "bias",
                                              "lambda_override", "df_method", "variance",
                                              "permutations", "calibration", "random_state")}

    def __repr__(self) -> str:
        return "FastMix(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

    def fit(self, expression: pd.DataFrame, proportions: pd.DataFrame,
            covariates: pd.DataFrame | None = None, *, reference: dict | None = None,
            sample_cov=None, weights: pd.Series | None = None, subject: pd.Series | None = None,
            strata: pd.Series | None = None, progress: ProgressCallback | None = None) -> "FastMix":
        """Fit on expression (genes x samples), proportions and covariates (samples x ...)."""
        from .weights import get_rho, get_sigma, whitening

        notices: list[str] = []
        expr = expression.set_axis([str(c) for c in expression.columns], axis=1)
        if pd.api.types.infer_dtype(expr.index, skipna=False) != "string":  # gene IDs as text, once
            expr = expr.set_axis([str(i) for i in expr.index], axis=0)
        props = proportions.copy()
        props.index = [str(i) for i in props.index]
        props.columns = [str(c) for c in props.columns]
        ids = dict(proportions=list(props.index), expression=list(expr.columns))
        cov = None
        if covariates is not None and covariates.shape[1] > 0:
            cov = covariates.copy()
            cov.index = [str(i) for i in cov.index]
            ids["covariates"] = list(cov.index)
        extra_inputs = {"weights": weights, "subject": subject}
        for nm, s in extra_inputs.items():
            if s is not None:
                ids[nm] = [str(i) for i in s.index]
        if isinstance(sample_cov, pd.DataFrame):
            ids["sample_cov"] = [str(i) for i in sample_cov.index]
        for nm, lst in ids.items():
            dup = pd.Index(lst)[pd.Index(lst).duplicated()]
            if len(dup):
                raise InputError(f"duplicate sample ID '{dup[0]}'", column=None, file=nm)
        match = match_samples(**ids)
        self.match_ = match
        samples = list(match.common)
        if len(samples) == 0:
            raise InputError("no sample IDs in common between the inputs", hint=match.summary())
        if not match.ok:
            notices.append(match.summary())
        props = props.loc[samples]
        if all(pd.api.types.is_numeric_dtype(t) for t in props.dtypes):
            num = props  # pd.to_numeric would return every column unchanged
        else:
            num = props.apply(pd.to_numeric, errors="coerce")
        bad = num.isna().to_numpy()
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise InputError("proportion is missing or not a number", file="proportions",
                             column=props.columns[c], row=samples[r])
        props = num.astype(np.float64)
        if _as_percent(props):
            props = props / 100.0
            notices.append("proportions look like percentages (values above 1, rows summing to at most 100); divided by 100")
        Ydf = expr if list(expr.columns) == samples else expr[samples]
        Y = Ydf.to_numpy(dtype=np.float64)
        if not np.isfinite(Y).all():
            r, c = np.argwhere(~np.isfinite(Y))[0]
            raise InputError("expression value is missing or not finite", file="expression",
                             column=samples[c], row=Ydf.index[r])
        if cov is not None:
            cov = cov.loc[samples]
        design = build_design(props, cov, include_covariate_main=self.include_covariate_main,
                              reference=reference, check=False)
        notices.extend(design.notices)
        X = design.X
        sigma = None
        if sample_cov is not None:
            sigma = (sample_cov.loc[samples, samples].to_numpy(dtype=np.float64)
                     if isinstance(sample_cov, pd.DataFrame) else np.asarray(sample_cov, dtype=np.float64))
            if sigma.shape != (len(samples), len(samples)):
                raise InputError(f"sample covariance must be {len(samples)} x {len(samples)}")
        if weights is not None:
            w = weights.copy()
            w.index = [str(i) for i in w.index]
            w = w.loc[samples].to_numpy(dtype=np.float64)
            if not np.all(w > 0):
                raise InputError("weights must be positive", file="weights")
            dw = np.diag(1.0 / w)
            sigma = dw if sigma is None else np.sqrt(dw) @ sigma @ np.sqrt(dw)
        if self.variance not in ("moderated", "pooled"):
            raise ValueError("variance must be 'moderated' or 'pooled'")
        if int(self.permutations) < 0:
            raise ValueError("permutations must be 0 or more")
        self.rho_ = None
        sj = st = None
        if strata is not None:
            st = strata.copy()
            st.index = [str(i) for i in st.index]
            st = st.loc[samples].astype(str).to_numpy()
        if subject is not None:
            sj = subject.copy()
            sj.index = [str(i) for i in sj.index]
            sj = sj.loc[samples].astype(str).to_numpy()
            self.rho_ = get_rho(Y.T, X, sj)
            sigma_s = get_sigma(sj, self.rho_)
            notices.append(f"repeated measures: within-subject correlation rho = {self.rho_:.3f}")
            sigma = sigma_s if sigma is None else np.sqrt(sigma) @ sigma_s @ np.sqrt(sigma)
        W = None
        if sigma is not None:
            W = whitening(sigma)
            X = W @ X
            Y = Y @ W
        stages = _progress_stages(progress, self.variance == "moderated",
                                  self.permutations if design.Z.shape[1] else 0)
        opts = dict(trim=self.trim, independent=self.independent, detector=self.detector, bias=self.bias,
                    lambda_override=self.lambda_override, df_method=self.df_method)
        res = fit_arrays(Y, X, design.names, progress=stages("fit"), **opts)
        notices.extend(res["notices"])
        mod = None
        if self.variance == "moderated":
            mod = fit_moderated(Y, X, design.names, res["rss"], progress=stages("moderated fit"), **opts)
        calib = None
        calibrated = self.permutations > 0 or (self.variance == "moderated" and self.calibration == "attribution")
        if calibrated and design.Z.shape[1]:
            from .calibrate import calibrate
            from .permute import PermutationScheme

            calib = calibrate(Y, design.P, design.Z, (mod or res)["D_refit"], design.names,
                              statistic=self.calibration,
                              include_covariate_main=design.include_covariate_main, W=W,
                              scheme=PermutationScheme(sj, st), n_permutations=int(self.permutations),
                              seed=int(self.random_state), variance=self.variance,
                              genes=Ydf.index, progress=stages("calibration"))
        self.whitening_ = W
        self._store(res, design, Ydf.index.tolist(), samples, notices, mod=mod, calib=calib)
        return self

    def _store_calls(self, names: list, gm, res: dict, mod: dict | None, calib) -> None:
        """The default calls: ``fdr_`` (genes x terms) and the ranking ``score_`` (larger =
        stronger), with the method behind each term in ``fdr_methods_``."""
        m, L = res["quasi_p"].shape
        base_p, base_fdr = (mod["quasi_p"], mod["quasi_fdr"]) if mod is not None else (res["quasi_p"], res["quasi_fdr"])
        base_name = "moderated quasi-FDR (BH)" if mod is not None else "quasi-FDR (BH, pooled variance)"
        self.mod_p_ = gm(mod["quasi_p"]) if mod is not None else None
        self.mod_fdr_ = gm(mod["quasi_fdr"]) if mod is not None else None
        self.mod_informative_ = (pd.Series(mod["informative"], index=names, name="informative")
                                 if mod is not None else None)
        self.gene_scale_ = mod["scale"] if mod is not None else None
        perm_p = np.full((m, L), np.nan)
        perm_fdr = np.full((m, L), np.nan)
        attribution = np.full((m, L), np.nan)
        fdr = np.array(base_fdr, copy=True)
        with np.errstate(divide="ignore"):
            score = -np.log10(np.maximum(base_p, 1e-300))
        methods = {t: base_name for t in names}
        if calib is not None:
            cols = [names.index(t) for t in calib.terms]
            if calib.n_permutations:
                perm_p[:, cols] = calib.perm_p.to_numpy()
                perm_fdr[:, cols] = calib.perm_fdr.to_numpy()
            attribution[:, cols] = calib.attribution.to_numpy()
            fdr[:, cols] = calib.fdr.to_numpy()
            score[:, cols] = calib.statistic.to_numpy()  # ranks ties of fdr
            null = (f"{calib.n_permutations} design-restricted permutations" if calib.n_permutations
                    else "moderated F distribution, no permutations")
            how = (f"FDR of the association ({null}, {calib.variance} variance) plus attribution error"
                   if self.calibration == "attribution" else
                   f"permutation FDR of the whitened EBLUP ({calib.n_permutations} permutations, {calib.variance} variance)")
            methods.update({t: how for t in calib.terms})
        self.perm_p_ = gm(perm_p)
        self.perm_fdr_ = gm(perm_fdr)
        self.attribution_ = gm(attribution)
        self.fdr_ = gm(fdr)
        self.score_ = gm(score)
        self.fdr_methods_ = methods
        self.calibration_ = calib

    @property
    def fitted_(self) -> pd.DataFrame:
        """Fitted values (genes x samples) = coef_ X' on the (weighted) fitting scale;
        computed on access so the fit itself does not hold a second m x n matrix."""
        if not hasattr(self, "_X_fit"):
            raise AttributeError("FastMix is not fitted yet")
        return pd.DataFrame(self.coef_.to_numpy() @ self._X_fit.T, index=self.coef_.index,
                            columns=self._samples, copy=False)

    def _store(self, res: dict, design: Design, genes: list, samples: list, notices: list, *,
               mod: dict | None = None, calib=None) -> None:
        names = list(design.names)
        # the labels are converted to indexes once; every frame gets its own view (so
        # renaming one frame's axis leaves the others alone) without converting again
        gene_index, name_index = pd.Index(genes), pd.Index(names)
        gm = lambda a: pd.DataFrame(a, index=gene_index.view(), columns=name_index.view(), copy=False)  # noqa: E731
        tm = lambda a: pd.DataFrame(a, index=name_index.view(), columns=name_index.view())  # noqa: E731
        self.design_ = design
        self.notices_ = notices
        self.sigma2_ = res["sigma2"]
        self.D_initial_ = tm(res["D_initial"])
        self.D_ = tm(res["D"])
        self.sigma_beta_ = tm(res["sigma_beta"])
        fe_cols = {"estimate": res["beta"], "std_error": np.sqrt(np.diag(res["sigma_beta"]) * res["v_inflation"]),
                   "t": res["t"], "df": res["df"], "p_value": res["p_fixed"], "p_adj": res["p_fixed_adj"]}
        fe = pd.DataFrame(fe_cols, index=pd.Index(names, name="term"))
        self.fixed_effects_ = fe
        self.coef_ = gm(res["coef"])
        self.random_effects_ = gm(res["blup"])
        self.quasi_p_ = gm(res["quasi_p"])
        self.quasi_fdr_ = gm(res["quasi_fdr"])
        self.ols_p_ = gm(res["ols_p"])
        self.ols_fdr_ = gm(res["ols_fdr"])
        self._store_calls(names, gm, res, mod, calib)
        self.overall_stat_ = pd.Series(res["eta"], index=gene_index.view(), name="overall_stat")
        self.overall_p_ = pd.Series(res["overall_p"], index=gene_index.view(), name="overall_p")
        self.informative_ = pd.Series(res["informative"], index=names, name="informative")
        self.kept_genes_ = int(res["kept_genes"])
        self.lambda_ = res["lambda_"]
        self.var_eblup_ = tm(res["var_eblup"])
        self._X_fit = res["X"]
        self._samples = list(samples)
        self.timings_ = res["timings"]
        params = self.get_params()
        params.update(n_genes=len(genes), n_samples=len(samples), lambda_=res["lambda_"],
                      sigma2=res["sigma2"])
        self.results_ = FastMixResults(
            terms=tuple(names), term_kinds=dict(zip(names, design.kinds)), coef=self.coef_,
            random_effects=self.random_effects_, quasi_p=self.quasi_p_, quasi_fdr=self.quasi_fdr_,
            ols_p=self.ols_p_, ols_fdr=self.ols_fdr_,
            fixed_effects=pd.DataFrame({"term": fe.index.to_numpy(), **fe_cols}),  # = fe.reset_index()
            covariance=self.D_, parameters=params,
            informative_terms=[t for t, f in zip(names, res["informative"]) if f],
            kept_genes=self.kept_genes_, sigma2=self.sigma2_, overall_stat=self.overall_stat_,
            overall_p=self.overall_p_, notices=tuple(notices), mod_p=self.mod_p_, mod_fdr=self.mod_fdr_,
            perm_p=self.perm_p_, perm_fdr=self.perm_fdr_, fdr=self.fdr_, score=self.score_,
            attribution=self.attribution_,
            fdr_methods=self.fdr_methods_, calibration=self.calibration_)
