"""FastMix design matrix: cell proportions, standardised covariates, interactions.

Column names follow the R package: ``Cell1``, ``Group``, ``Cell1.Group``; interactions
are covariate-major (all cells x covariate 1, then all cells x covariate 2, ...).
Text covariates become indicator columns named ``<column>[<level>]`` for every level
except the reference level (default: :func:`default_reference`, a control-like level name,
else the most frequent level). :func:`collinearity` measures how close the design is to
singular (variance inflation per term) for the checks shown before a fit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DesignError, InputError

SINGULAR_TOL = 1e-7
_HINT = "use --no-covariate-main (include_covariate_main=False) or fewer cell types"


@dataclass(frozen=True)
class Design:
    """The n x L design shared by all genes (float64, no intercept)."""

    X: np.ndarray
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    samples: tuple[str, ...]
    cells: tuple[str, ...]
    covariates: tuple[str, ...]
    center: dict = field(default_factory=dict)
    scale: dict = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    P: np.ndarray | None = None  # proportions (n x K), as in X
    Z: np.ndarray | None = None  # standardised covariates (n x p), permuted by calibration
    include_covariate_main: bool = True

    @property
    def frame(self) -> pd.DataFrame:
        """The design as a DataFrame (samples x names)."""
        return pd.DataFrame(self.X, index=list(self.samples), columns=list(self.names))


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


_CONTROL_LIKE = re.compile(
    r"^(ctrl|ctl|controls?|healthy( controls?)?|hc|normal|baseline|stable|placebo|untreated|unstimulated|"
    r"vehicle|mock|wt|wild[ _-]?type|v0|v1|visit[ _-]?[01]|day[ _-]?0|d0|t0|pre|before|none|neg|negative|no)$",
    re.IGNORECASE)


def default_reference(values) -> tuple[str, str]:
    """Reference level of a text covariate and why: a control-like name (control, healthy,
    stable, baseline, normal, placebo, V1, ...) if exactly one level has one, else the most
    frequent level (ties: first in sorted order)."""
    counts = pd.Series([str(v).strip() for v in values]).value_counts()
    control = sorted(lev for lev in counts.index if _CONTROL_LIKE.match(lev))
    if len(control) == 1:
        return control[0], "named like a control"
    top = counts[counts == counts.max()].index
    return sorted(top)[0], "most frequent level"


def encode_covariates(covariates: pd.DataFrame, reference: dict[str, str] | None = None
                      ) -> tuple[pd.DataFrame, list[str]]:
    """Numeric covariates; text columns -> indicators ``<col>[<level>]``.

    ``reference`` maps a text column to its reference level (default:
    :func:`default_reference`). Columns with a single level are dropped with a notice. Missing values
    raise :class:`InputError` naming the column and row.
    """
    reference = dict(reference or {})
    notices: list[str] = []
    out: dict[str, np.ndarray] = {}
    for col in covariates.columns:
        s = covariates[col]
        name = str(col)
        na = s.isna().to_numpy()
        if na.any():
            row = covariates.index[int(np.argmax(na))]
            raise InputError("missing value in covariate", column=name, row=str(row))
        if _is_numeric(s):
            out[name] = s.to_numpy(dtype=np.float64)
            continue
        as_num = pd.to_numeric(s.astype(str).str.strip(), errors="coerce")
        if not as_num.isna().any():  # numbers stored as text
            out[name] = as_num.to_numpy(dtype=np.float64)
            continue
        vals = s.astype(str).str.strip()
        levels = sorted(vals.unique())
        if len(levels) < 2:
            notices.append(f"covariate '{name}' has a single level '{levels[0]}' and was dropped")
            continue
        if name in reference:
            ref, why = str(reference[name]).strip(), "given"
        else:
            ref, why = default_reference(vals)
        if ref not in levels:
            raise InputError(f"reference level '{ref}' not found (levels: {', '.join(levels)})",
                             column=name)
        notices.append(f"covariate '{name}' is categorical; reference level '{ref}' ({why}; change it with "
                       f"--reference {name}=LEVEL)")
        v = vals.to_numpy()
        for lev in levels:
            if lev != ref:
                out[f"{name}[{lev}]"] = (v == lev).astype(np.float64)
    frame = pd.DataFrame(out, index=covariates.index) if out else pd.DataFrame(index=covariates.index)
    return frame, notices


def check_rank(X: np.ndarray, names: tuple[str, ...] | list[str]) -> None:
    """Raise :class:`DesignError` if X has fewer rows than columns or is (nearly) singular,
    naming the columns involved in the null space."""
    n, L = X.shape
    if n < L:
        raise DesignError(f"{n} samples but {L} design terms: need at least as many samples as terms",
                          columns=list(names), hint=_HINT)
    u, s, vt = np.linalg.svd(X, full_matrices=False)
    if s.min() < SINGULAR_TOL:
        null = vt[s < SINGULAR_TOL]
        involved = np.any(np.abs(null) > 1e-3, axis=0)
        cols = [nm for nm, f in zip(names, involved) if f]
        raise DesignError(f"design matrix is singular (smallest singular value {s.min():.3g})",
                          columns=cols, hint=_HINT)


def assemble(P: np.ndarray, Zs: np.ndarray, include_covariate_main: bool = True) -> np.ndarray:
    """The design ``[P | Zs | interactions]`` from proportions ``P`` (n x K) and
    standardised covariates ``Zs`` (n x p); interactions are covariate-major."""
    blocks = [P]
    if Zs.shape[1]:
        if include_covariate_main:
            blocks.append(Zs)
        blocks.append((Zs[:, :, None] * P[:, None, :]).reshape(P.shape[0], -1))
    return np.ascontiguousarray(np.hstack(blocks), dtype=np.float64)


def build_design(proportions: pd.DataFrame, covariates: pd.DataFrame | None = None, *,
                 include_covariate_main: bool = True, reference: dict[str, str] | None = None,
                 check: bool = True) -> Design:
    """Build the FastMix design; samples are the rows of ``proportions``.

    ``covariates`` rows are aligned to ``proportions`` by ID. Covariates are centred and
    divided by their sample SD (n-1); proportions are used raw.
    """
    props = proportions.astype(np.float64)
    samples = tuple(str(s) for s in props.index)
    cells = tuple(str(c) for c in props.columns)
    P = props.to_numpy(dtype=np.float64)
    notices: list[str] = []
    cov_names: tuple[str, ...] = ()
    center: dict = {}
    scale: dict = {}
    Zs = np.zeros((P.shape[0], 0))
    if covariates is not None and covariates.shape[1] > 0:
        cv = covariates.copy()
        cv.index = [str(i) for i in cv.index]
        missing = [s for s in samples if s not in cv.index]
        if missing:
            raise InputError(f"covariates missing for samples: {', '.join(missing[:5])}")
        cv = cv.loc[list(samples)]
        enc, notices = encode_covariates(cv, reference)
        cov_names = tuple(enc.columns)
        raw = enc.to_numpy(dtype=np.float64)
        mu = raw.mean(axis=0)
        sd = raw.std(axis=0, ddof=1) if raw.shape[0] > 1 else np.zeros(raw.shape[1])
        const = [c for c, v in zip(cov_names, sd) if not v > 0]
        if const:
            raise DesignError("covariate is constant across samples", columns=const,
                              hint="remove the column or check the sample sheet")
        Zs = (raw - mu) / sd
        center = dict(zip(cov_names, mu.tolist()))
        scale = dict(zip(cov_names, sd.tolist()))
    names = list(cells)
    kinds = ["cell"] * len(cells)
    if include_covariate_main and Zs.shape[1]:
        names += list(cov_names)
        kinds += ["covariate"] * len(cov_names)
    if Zs.shape[1]:
        names += [f"{c}.{v}" for v in cov_names for c in cells]
        kinds += ["interaction"] * (len(cells) * len(cov_names))
    X = assemble(P, Zs, include_covariate_main)
    if check:
        check_rank(X, names)
    return Design(X=X, names=tuple(names), kinds=tuple(kinds), samples=samples, cells=cells,
                  covariates=cov_names, center=center, scale=scale, notices=tuple(notices),
                  P=P, Z=Zs, include_covariate_main=include_covariate_main)


VIF_WARN = 1000.0  # uncentred variance inflation of a term above which the design is called nearly singular
VIF_MAIN_WARN = 30.0  # ... of a covariate main term, when the cell fractions add up to nearly the same total
SUM_CV_WARN = 0.05  # row sums of the fractions this constant (coefficient of variation) make that happen


@dataclass(frozen=True)
class Collinearity:
    """How close a design is to singular: uncentred variance inflation per term (1 = orthogonal
    to the others), the condition number of the column-scaled design, and whether the cell
    fractions add up to nearly the same total in every sample (then each covariate main term is
    almost a multiple of the sum of its interactions)."""

    vif: pd.Series
    condition: float
    fraction_sum: float          # median row sum of the proportions
    fraction_sum_cv: float       # coefficient of variation of the row sums
    warnings: tuple[str, ...]


def _listed(v: pd.Series) -> str:
    return ", ".join(f"{n} {x:.3g}" if np.isfinite(x) else f"{n} inf" for n, x in v.head(6).items())


def collinearity(design: Design) -> Collinearity:
    """Variance inflation per term of ``design`` and plain warnings naming the terms involved."""
    X = design.X / np.maximum(np.linalg.norm(design.X, axis=0), 1e-300)
    s = np.linalg.svd(X, compute_uv=False)
    condition = float(s[0] / max(s[-1], 1e-300))
    with np.errstate(divide="ignore", invalid="ignore"):
        vif = np.diag(np.linalg.pinv(X.T @ X))
    vif = pd.Series(np.where(np.isfinite(vif), vif, np.inf), index=list(design.names), name="vif")
    sums = design.P.sum(axis=1) if design.P is not None else np.array([np.nan])
    fsum = float(np.median(sums))
    cv = float(np.std(sums) / np.mean(sums)) if np.mean(sums) > 0 else float("nan")
    warnings = []
    mains = [n for n, k in zip(design.names, design.kinds) if k == "covariate"]
    near_one = design.include_covariate_main and cv < SUM_CV_WARN
    main_high = [n for n in mains if vif[n] > VIF_MAIN_WARN] if near_one else []
    if main_high:
        warnings.append(
            f"the cell fractions add up to nearly the same total in every sample ({fsum:.2f}, CV {cv:.1%}), so each "
            "covariate main term is almost a multiple of the sum of its cell-type interactions "
            f"(variance inflation: {_listed(vif[main_high])}); bulk and cell "
            "type-specific effects cannot be told apart and main-term calls may be artefacts: use "
            "--no-covariate-main (Analysis tab: untick 'Covariate main terms') or leave out one cell type")
    high = vif[(vif > VIF_WARN) & ~vif.index.isin(main_high)].sort_values(ascending=False)
    if len(high):
        warnings.append(f"the design is nearly singular: variance inflation above {VIF_WARN:g} for {_listed(high)}; "
                        "these terms cannot be told apart and their calls may be artefacts")
    return Collinearity(vif=vif, condition=condition, fraction_sum=fsum, fraction_sum_cv=cv, warnings=tuple(warnings))
