"""One validation path for a study: tables in memory -> checked, sample-matched inputs.

``align_inputs`` is called by ``FastMix.fit``, by the headless CLI (after reading the
files) and by the app's study assembly, so all three accept and refuse the same tables
with the same message naming the file, column and row. A table's file name is taken
from ``df.attrs["file"]`` (set by :func:`engine.inputs.read_table`) or its role.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DesignError, InputError
from .inputs import constant_columns, excel_date_ids, looks_like_counts, normalise_proportions, require_numeric, restore_date_id
from .matching import SampleMatch, match_samples

__all__ = ["StudyInputs", "align_inputs", "check_design"]


@dataclass(frozen=True)
class StudyInputs:
    """Checked, sample-matched inputs ready for ``FastMix.fit``."""

    expression: pd.DataFrame          # genes x matched samples
    proportions: pd.DataFrame         # matched samples x cell types, fractions
    covariates: pd.DataFrame | None   # matched samples x covariates (text kept)
    subject: pd.Series | None         # subject ID per sample (repeated measures)
    weights: pd.Series | None
    samples: list
    match: SampleMatch
    notices: list                     # what was changed (e.g. percentages divided by 100)
    warnings: list                    # what the user should look at (left-out samples, Excel dates)
    files: dict = field(default_factory=dict)
    strata: pd.Series | None = None   # stratum per sample (permutations stay inside it)


def _frame(obj: pd.DataFrame, role: str, *, numeric: bool) -> pd.DataFrame:
    df = obj.copy()
    df.attrs.setdefault("file", role)
    df.index = pd.Index([str(i) for i in df.index], dtype=object)
    df.columns = [str(c) for c in df.columns]
    dup = df.index[df.index.duplicated()]
    if len(dup):
        raise InputError(f"duplicate ID '{dup[0]}'", file=df.attrs["file"], row=str(dup[0]))
    if numeric:
        require_numeric(df, df.attrs["file"])
    return df


def _column_or_series(value, cov: pd.DataFrame | None, what: str, cfile: str | None):
    """``value`` is a covariate column name (removed from ``cov``) or a Series by sample."""
    if value is None:
        return None, cov
    if isinstance(value, pd.Series):
        s = value.copy()
        s.index = [str(i) for i in s.index]
        return s.astype(object), cov
    if cov is None or value not in cov.columns:
        cols = f" (columns: {', '.join(cov.columns)})" if cov is not None else ""
        raise InputError(f"{what} column '{value}' not found in the covariates{cols}",
                         file=cfile or "covariates", column=str(value))
    return cov[value].astype(object), cov.drop(columns=[value])


def _weights(weights) -> tuple[pd.Series | None, str | None]:
    if weights is None:
        return None, None
    if isinstance(weights, pd.DataFrame):
        wfile = str(weights.attrs.get("file", "weights"))
        weights = _frame(weights, "weights", numeric=True).iloc[:, 0]
    else:
        wfile = str(weights.attrs.get("file", "weights"))
    w = weights.astype(np.float64)
    w.index = [str(i) for i in w.index]
    bad = np.flatnonzero(~(w.to_numpy() > 0))
    if bad.size:
        raise InputError(f"weight {w.iloc[bad[0]]:g} is not positive", file=wfile, row=str(w.index[bad[0]]))
    return w, wfile


def _check_references(reference: dict | None, cov: pd.DataFrame | None, cfile: str | None) -> None:
    for col, level in (reference or {}).items():
        if cov is None or col not in cov.columns:
            raise InputError(f"reference given for unknown covariate column '{col}'", file=cfile or "covariates",
                             column=col)
        levels = sorted({str(v).strip() for v in cov[col].dropna()})
        if str(level) not in levels:
            raise InputError(f"reference level '{level}' not found (levels: {', '.join(levels)})",
                             file=cfile, column=col)


def _match(ids: dict[str, list]) -> tuple[SampleMatch, list[str]]:
    match = match_samples(**ids)
    samples = list(match.common)
    if not samples:
        hint = "; ".join(f"'{a}' vs '{b}' {why}" for a, b, why in match.suggestions[:3])
        raise InputError("no sample IDs in common between " + " and ".join(ids) + " (e.g. "
                         + ", ".join(f"{k.split(' ')[0]}: {', '.join(v[:3])}" for k, v in ids.items()) + ")",
                         hint=hint or None)
    warnings = []
    if not match.ok:
        left = sorted(set().union(*(set(v) for v in ids.values())) - set(samples))
        text = f"{len(left)} sample ID(s) are not in every input and were left out: " + ", ".join(left[:20])
        if len(left) > 20:
            text += f" ... (+{len(left) - 20} more)"
        if match.suggestions:
            text += "; " + "; ".join(f"'{a}' vs '{b}' {why}" for a, b, why in match.suggestions[:3])
        warnings.append(text)
    return match, warnings


def _near_matches(ids: dict[str, list], mode: str) -> dict[str, str]:
    """Renames (other input's ID -> proportions' ID) for IDs equal up to case and whitespace."""
    if mode not in ("warn", "error", "fix"):
        raise ValueError("near_match must be 'warn', 'error' or 'fix'")
    key = lambda v: "".join(str(v).split()).casefold()  # noqa: E731
    first = list(ids.values())[0]
    by_key: dict[str, list] = {}
    for i in first:
        by_key.setdefault(key(i), []).append(i)
    known = set(first)
    renames = {}
    for lst in list(ids.values())[1:]:
        for i in lst:
            target = by_key.get(key(i), [])
            if i not in known and len(target) == 1:
                renames[i] = target[0]
    if renames and mode == "error":
        pairs = ", ".join(f"'{a}' vs '{b}'" for a, b in list(renames.items())[:5])
        raise InputError(f"{len(renames)} sample ID(s) differ from the proportions' IDs only by case or "
                         f"whitespace ({pairs}) and would be left out",
                         hint="fix the IDs, or run with --match-ids loose to match them")
    return renames if mode == "fix" else {}


def _date_ids(expr: pd.DataFrame, efile: str, mode: str) -> tuple[pd.DataFrame, list[str]]:
    """Gene IDs that Excel made into dates: leave (the warning comes later), refuse or restore."""
    if mode not in ("warn", "error", "restore"):
        raise ValueError("date_ids must be 'warn', 'error' or 'restore'")
    dates = excel_date_ids(expr.index)
    if not dates or mode == "warn":
        return expr, []
    fixes = {d: restore_date_id(d) for d in dates}
    if mode == "error":
        shown = ", ".join(f"{d} (-> {f})" if f else d for d, f in list(fixes.items())[:8])
        raise InputError(f"{len(dates)} gene ID(s) look like dates made by Excel: {shown}", file=efile,
                         hint="re-export the gene IDs as text, or run with --restore-date-ids (restores the "
                              "unambiguous ones) or --allow-date-ids")
    restore = {d: f for d, f in fixes.items() if f}
    clash = sorted(set(restore.values()) & set(expr.index))
    if clash:
        raise InputError(f"restoring date-like gene IDs would duplicate '{clash[0]}'", file=efile, row=clash[0])
    expr = expr.rename(index=restore)
    return expr, [f"{efile}: {len(restore)} date-like gene ID(s) restored: "
                  + ", ".join(f"{a} -> {b}" for a, b in list(restore.items())[:10])] if restore else []


def _where(file: str, role: str, axis: str) -> str:
    """Name of an ID list in messages: the role for in-memory tables, else 'file (axis)'."""
    return role if file == role else f"{file} ({axis})"


def _no_missing(s: pd.Series, what: str, cfile: str | None, column) -> pd.Series:
    na = s.isna().to_numpy()
    if na.any():
        raise InputError(f"{what} is missing", file=cfile, column=str(column), row=str(s.index[int(np.argmax(na))]))
    return s.astype(str)


def _expression_warnings(expr: pd.DataFrame, efile: str) -> list[str]:
    out = []
    dates = excel_date_ids(expr.index)
    if dates:
        out.append(f"{efile}: {len(dates)} gene ID(s) look like dates made by Excel ({', '.join(dates[:5])}); "
                   "e.g. MARCH1 becomes 1-Mar; re-export the gene IDs as text")
    if looks_like_counts(expr):
        out.append(f"{efile}: values look like raw counts (non-negative whole numbers up to "
                   f"{np.nanmax(expr.to_numpy()):.0f}); FastMix expects log-scale expression, e.g. log2(x+1)")
    return out


def _pick_cells(props: pd.DataFrame, cell_types: list[str] | None) -> pd.DataFrame:
    """The proportion columns named in ``cell_types`` (all when None), before any check."""
    if not cell_types:
        return props
    unknown = [c for c in cell_types if c not in props.columns]
    if unknown:
        raise InputError(f"cell type '{unknown[0]}' is not a column (columns: {', '.join(props.columns)})",
                         file=props.attrs["file"], column=unknown[0])
    return props[list(cell_types)]


def _matched_covariates(cov: pd.DataFrame, samples: list[str], cfile: str | None) -> pd.DataFrame:
    """Covariates of the matched samples; a missing value or a constant column is an error."""
    cov = cov.loc[samples]
    for c in cov.columns:  # NA anywhere is an error; text columns become indicators
        _no_missing(cov[c], "value", cfile, c)
    const = constant_columns(cov)
    if const:
        raise InputError(f"covariate is constant across the {len(samples)} matched samples",
                         file=cfile, column=const[0], hint="remove the column")
    cov.attrs["file"] = cfile
    return cov


def align_inputs(expression: pd.DataFrame, proportions: pd.DataFrame, covariates: pd.DataFrame | None = None, *,
                 subject: str | pd.Series | None = None, weights: pd.Series | pd.DataFrame | None = None,
                 strata: str | pd.Series | None = None, reference: dict | None = None,
                 files: dict | None = None, cell_types: list[str] | None = None,
                 date_ids: str = "warn", near_match: str = "warn") -> StudyInputs:
    """Check every input and match samples by ID; raise ``InputError`` naming file/column/row.

    ``subject`` and ``strata`` are covariate column names (taken out of the covariates) or
    Series by sample. ``cell_types`` picks proportion columns before any check. Percentages
    are divided by 100 (one rule: ``normalise_proportions``). Gene IDs that Excel turned into
    dates: ``date_ids`` "warn", "error" (listing them and the fixes) or "restore" (SEPT9 back
    from 9-Sep where unambiguous). Sample IDs that differ only by case or whitespace:
    ``near_match`` "warn" (left out), "error" or "fix" (renamed to the proportions' IDs).
    """
    props = _pick_cells(_frame(proportions, "proportions", numeric=True), cell_types)
    expr = expression.set_axis(pd.Index([str(c) for c in expression.columns], dtype=object), axis=1)
    if isinstance(expr.index.dtype, pd.StringDtype) and not expr.index.hasnans:
        expr = expr.set_axis(expr.index.astype(object), axis=0)  # text IDs already: no per-ID loop
    elif not (expr.index.dtype == object and pd.api.types.infer_dtype(expr.index, skipna=False) == "string"):
        expr = expr.set_axis(pd.Index([str(i) for i in expr.index], dtype=object), axis=0)
    efile, pfile = str(expression.attrs.get("file", "expression")), props.attrs["file"]
    require_numeric(expr, efile)  # names the first cell that is missing, infinite or not a number
    cov = _frame(covariates, "covariates", numeric=False) if covariates is not None and covariates.shape[1] else None
    cfile = cov.attrs["file"] if cov is not None else None
    if subject is not None and not isinstance(subject, pd.Series) and cov is None:
        raise InputError("a subject column needs a covariates table holding it", column=str(subject))
    subj, cov = _column_or_series(subject, cov, "subject", cfile)
    strat, cov = _column_or_series(strata, cov, "strata", cfile)
    _check_references(reference, cov, cfile)
    w, wfile = _weights(weights)
    ids = {_where(pfile, "proportions", "rows"): list(props.index),  # samples in the proportions' order
           _where(efile, "expression", "columns"): list(expr.columns)}
    if cov is not None:
        ids[_where(cfile, "covariates", "rows")] = list(cov.index)
    if w is not None:
        ids[_where(wfile, "weights", "rows")] = list(w.index)
    for name, lst in ids.items():
        dup = pd.Index(lst)[pd.Index(lst).duplicated()]
        if len(dup):
            raise InputError(f"duplicate sample ID '{dup[0]}'", file=name.split(" (")[0])
    notices: list[str] = []
    renames = _near_matches(ids, near_match)
    if renames:
        expr = expr.rename(columns=renames)
        cov = cov.rename(index=renames) if cov is not None else None
        w = w.rename(index=renames) if w is not None else None
        for k in list(ids)[1:]:
            ids[k] = [renames.get(i, i) for i in ids[k]]
        notices.append("sample IDs matched ignoring case and whitespace: "
                       + ", ".join(f"'{a}' -> '{b}'" for a, b in list(renames.items())[:10]))
    match, warnings = _match(ids)
    samples = list(match.common)
    expr, date_notes = _date_ids(expr, efile, date_ids)
    notices += date_notes
    warnings = _expression_warnings(expr, efile) + warnings
    props, notice = normalise_proportions(props.loc[samples], file=pfile)
    if notice:
        notices.append(notice)
    const_cells = constant_columns(props)
    if const_cells:
        raise InputError(f"cell type '{const_cells[0]}' has the same proportion in all {len(samples)} matched samples",
                         file=pfile, column=const_cells[0], hint="remove that column")
    expr = expr if list(expr.columns) == samples else expr[samples]
    cov = _matched_covariates(cov, samples, cfile) if cov is not None else None
    subj = _no_missing(subj.loc[samples], "subject ID", cfile, subject if isinstance(subject, str) else "subject") \
        if subj is not None else None
    strat = _no_missing(strat.loc[samples], "stratum", cfile, strata if isinstance(strata, str) else "strata") \
        if strat is not None else None
    return StudyInputs(expr, props, cov, subj, None if w is None else w.loc[samples], samples, match,
                       notices, warnings, dict(files or {}), strat)


def check_design(study: StudyInputs, include_covariate_main: bool, reference: dict | None):
    """The design of ``study``; ``DesignError`` when there are not more samples than terms or
    the design is singular (naming the columns)."""
    from .design import build_design, check_rank

    design = build_design(study.proportions, study.covariates, include_covariate_main=include_covariate_main,
                          reference=reference, check=False)
    n, L = design.X.shape
    if n <= L:
        raise DesignError(f"{n} matched samples but the model has {L} terms; FastMix needs more samples "
                          "than terms", hint="use --no-covariate-main, fewer covariates or fewer cell types")
    check_rank(design.X, design.names)
    return design
