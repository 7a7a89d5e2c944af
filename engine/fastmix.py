"""FastMix moment-based linear mixed model (spec: FastMix R package 0.2.5).

:class:`FastMix` is the estimator: it matches samples by ID, builds the design, runs the
array-level fitter :func:`engine.arrayfit.fit_arrays` (checked against R) and the calibrated
tests, and labels the results.

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

from .arrayfit import ArrayFit, fit_arrays, fit_moderated
from .design import Design, build_design
from .errors import InputError
from .progress import ProgressCallback
from .results import FastMixResults
from .study_inputs import align_inputs


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


def _sample_covariance(sample_cov, samples: list, weights: pd.Series | None) -> np.ndarray | None:
    """Known sample covariance (samples x samples) combined with inverse weights; None if neither."""
    sigma = None
    if isinstance(sample_cov, pd.DataFrame):
        missing = sorted(set(samples) - {str(i) for i in sample_cov.index})
        if missing:
            raise InputError(f"sample covariance has no row for sample '{missing[0]}'", file="sample covariance")
    if sample_cov is not None:
        sigma = (sample_cov.set_axis([str(i) for i in sample_cov.index], axis=0)
                 .set_axis([str(c) for c in sample_cov.columns], axis=1).loc[samples, samples].to_numpy(np.float64)
                 if isinstance(sample_cov, pd.DataFrame) else np.asarray(sample_cov, dtype=np.float64))
        if sigma.shape != (len(samples), len(samples)):
            raise InputError(f"sample covariance must be {len(samples)} x {len(samples)}")
    if weights is not None:
        dw = np.diag(1.0 / weights.to_numpy(dtype=np.float64))
        sigma = dw if sigma is None else np.sqrt(dw) @ sigma @ np.sqrt(dw)
    return sigma


def _blas_threads_for(flops: float):
    """One BLAS thread for the permutation loop's many small products (m x n x L under 1e8):
    threads cost more to wake than such a product takes (a 12.6k x 24 fit with B = 200 took
    3.0 s with OpenBLAS threads and 0.65 s with one on 2 busy cores); larger ones keep them."""
    from contextlib import nullcontext

    if flops >= 1e8:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


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
    fitted_ (computed on access), timings_ (seconds per stage of ``fit``), results_ (:class:`FastMixResults`).
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

        t_start = time.perf_counter()
        if self.variance not in ("moderated", "pooled"):
            raise ValueError("variance must be 'moderated' or 'pooled'")
        if int(self.permutations) < 0:
            raise ValueError("permutations must be 0 or more")
        study = align_inputs(expression, proportions, covariates, subject=subject, weights=weights,
                             strata=strata, reference=reference)
        self.match_ = study.match
        samples, props, cov, Ydf = study.samples, study.proportions, study.covariates, study.expression
        notices = list(study.notices) + list(study.warnings)
        Y = Ydf.to_numpy(dtype=np.float64)
        design = build_design(props, cov, include_covariate_main=self.include_covariate_main,
                              reference=reference, check=False)
        notices.extend(design.notices)
        X = design.X
        t_inputs = time.perf_counter() - t_start
        sigma = _sample_covariance(sample_cov, samples, study.weights)
        self.rho_ = None
        sj = None if study.subject is None else study.subject.to_numpy()
        st = None if study.strata is None else study.strata.to_numpy()
        if sj is not None:
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
        notices.extend(res.notices)
        mod = None
        t_mod = time.perf_counter()
        if self.variance == "moderated":
            mod = fit_moderated(Y, X, design.names, res.rss, progress=stages("moderated fit"), **opts)
        t_calib = time.perf_counter()
        t_mod = t_calib - t_mod
        calib = None
        calibrated = self.permutations > 0 or (self.variance == "moderated" and self.calibration == "attribution")
        if calibrated and design.Z.shape[1]:
            from .calibrate import calibrate
            from .permute import PermutationScheme

            with _blas_threads_for(Y.size * X.shape[1]):
                calib = calibrate(Y, design.P, design.Z, (mod or res).D_refit, design.names,
                                  statistic=self.calibration,
                                  include_covariate_main=design.include_covariate_main, W=W,
                                  scheme=PermutationScheme(sj, st), n_permutations=int(self.permutations),
                                  seed=int(self.random_state), variance=self.variance,
                                  genes=Ydf.index, progress=stages("calibration"))
        self.whitening_ = W
        t_store = time.perf_counter()
        t_calib = t_store - t_calib
        self._store(res, design, Ydf.index.tolist(), samples, notices, mod=mod, calib=calib)
        self.timings_ = {"inputs": t_inputs, **res.timings, "moderated fit": t_mod, "calibration": t_calib,
                         "labels": time.perf_counter() - t_store}
        return self

    def _store_calls(self, names: list, gm, res: ArrayFit, mod: ArrayFit | None, calib) -> None:
        """The default calls: ``fdr_`` (genes x terms) and the ranking ``score_`` (larger =
        stronger), with the method behind each term in ``fdr_methods_``."""
        m, L = res.quasi_p.shape
        base_p, base_fdr = (mod.quasi_p, mod.quasi_fdr) if mod is not None else (res.quasi_p, res.quasi_fdr)
        base_name = "moderated quasi-FDR (BH)" if mod is not None else "quasi-FDR (BH, pooled variance)"
        self.mod_p_ = gm(mod.quasi_p) if mod is not None else None
        self.mod_fdr_ = gm(mod.quasi_fdr) if mod is not None else None
        self.mod_informative_ = (pd.Series(mod.informative, index=names, name="informative")
                                 if mod is not None else None)
        self.gene_scale_ = mod.scale if mod is not None else None
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

    def _store(self, res: ArrayFit, design: Design, genes: list, samples: list, notices: list, *,
               mod: ArrayFit | None = None, calib=None) -> None:
        names = list(design.names)
        # the labels are converted to indexes once; every frame gets its own view (so
        # renaming one frame's axis leaves the others alone) without converting again
        gene_index, name_index = pd.Index(genes), pd.Index(names)
        gm = lambda a: pd.DataFrame(a, index=gene_index.view(), columns=name_index.view(), copy=False)  # noqa: E731
        tm = lambda a: pd.DataFrame(a, index=name_index.view(), columns=name_index.view())  # noqa: E731
        self.design_ = design
        self.notices_ = notices
        self.sigma2_ = res.sigma2
        self.D_initial_ = tm(res.D_initial)
        self.D_ = tm(res.D)
        self.sigma_beta_ = tm(res.sigma_beta)
        fe_cols = {"estimate": res.beta, "std_error": np.sqrt(np.diag(res.sigma_beta) * res.v_inflation),
                   "t": res.t, "df": res.df, "p_value": res.p_fixed, "p_adj": res.p_fixed_adj}
        fe = pd.DataFrame(fe_cols, index=pd.Index(names, name="term"))
        self.fixed_effects_ = fe
        self.coef_ = gm(res.coef)
        self.random_effects_ = gm(res.blup)
        self.quasi_p_ = gm(res.quasi_p)
        self.quasi_fdr_ = gm(res.quasi_fdr)
        self.ols_p_ = gm(res.ols_p)
        self.ols_fdr_ = gm(res.ols_fdr)
        self._store_calls(names, gm, res, mod, calib)
        self.overall_stat_ = pd.Series(res.eta, index=gene_index.view(), name="overall_stat")
        self.overall_p_ = pd.Series(res.overall_p, index=gene_index.view(), name="overall_p")
        self.informative_ = pd.Series(res.informative, index=names, name="informative")
        self.kept_genes_ = int(res.kept_genes)
        self.lambda_ = res.lambda_
        self.var_eblup_ = tm(res.var_eblup)
        self._X_fit = res.X
        self._samples = list(samples)
        params = self.get_params()
        params.update(n_genes=len(genes), n_samples=len(samples), lambda_=res.lambda_,
                      sigma2=res.sigma2)
        self.results_ = FastMixResults(
            terms=tuple(names), term_kinds=dict(zip(names, design.kinds)), coef=self.coef_,
            random_effects=self.random_effects_, quasi_p=self.quasi_p_, quasi_fdr=self.quasi_fdr_,
            ols_p=self.ols_p_, ols_fdr=self.ols_fdr_,
            fixed_effects=fe,
            covariance=self.D_, parameters=params,
            informative_terms=[t for t, f in zip(names, res.informative) if f],
            kept_genes=self.kept_genes_, sigma2=self.sigma2_, overall_stat=self.overall_stat_,
            overall_p=self.overall_p_, notices=tuple(notices), mod_p=self.mod_p_, mod_fdr=self.mod_fdr_,
            perm_p=self.perm_p_, perm_fdr=self.perm_fdr_, fdr=self.fdr_, score=self.score_,
            attribution=self.attribution_,
            fdr_methods=self.fdr_methods_, calibration=self.calibration_)
