"""Qt-free logic behind the Study and Analysis tabs.

Role guessing for sample-sheet columns, turning a role mapping into FastMix inputs, ID
renames, expression summaries and the plain-language design checks shown before a run.
Kept free of Qt so that it can be tested (and reused) without a window.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.design import default_reference
from engine.errors import DesignError, InputError

#: Roles a sample-sheet column can play.
ROLES = ("sample_id", "subject", "visit", "continuous", "categorical", "weight", "ignore")
ROLE_LABELS = {
    "sample_id": "Sample ID",
    "subject": "Subject ID (repeated measures)",
    "visit": "Visit / time",
    "continuous": "Covariate (number)",
    "categorical": "Covariate (groups)",
    "weight": "Weight",
    "ignore": "Ignore",
}
COVARIATE_ROLES = ("continuous", "categorical")

_SUBJECT_RE = re.compile(r"subject|patient|donor|individual|participant", re.I)
_VISIT_RE = re.compile(r"visit|time|day|week|month|timepoint", re.I)
_WEIGHT_RE = re.compile(r"weight", re.I)
_ID_RE = re.compile(r"^(sample|id|sample[ _.-]?id|array|name)$", re.I)

FIRST_COLUMN = "ID"


# --------------------------------------------------------------------------- sample sheet
def first_header(path: str | Path) -> str:
    """The header of a table's first column ('' when empty or unreadable): read_table drops it."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            cols = pd.read_excel(path, nrows=0, engine="openpyxl").columns
        else:
            with open(path, encoding="utf-8-sig", errors="replace") as fh:
                line = fh.readline()
            seps = {sep: line.count(sep) for sep in ("\t", ",", ";")}
            sep = "\t" if path.suffix.lower() in (".tsv", ".tab", ".txt") else max(seps, key=seps.get)
            cols = pd.read_csv(path, sep=sep, nrows=0, encoding="utf-8-sig", dtype=str).columns
    except (OSError, ValueError, ImportError):
        return ""
    name = str(cols[0]).strip() if len(cols) else ""
    return "" if name.startswith("Unnamed:") else name


def sheet_frame(table: pd.DataFrame, first: str | None = None) -> pd.DataFrame:
    """The sheet as read by ``engine.inputs.read_table`` with its ID index turned back into a column.

    ``first`` is the header of the ID column (default ``ID``, also when it clashes with another column).
    """
    name = first or FIRST_COLUMN
    while name in table.columns:
        name = f"{name}_"
    out = table.reset_index(names=name)
    out.attrs.update(table.attrs)
    return out


def _is_numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)


def column_levels(col: pd.Series) -> list[str]:
    """Distinct non-missing values of a column as text, sorted (numbers numerically)."""
    values = col.dropna()
    if _is_numeric(values):
        return [_num_text(v) for v in np.unique(values.to_numpy(dtype=float))]
    return sorted({str(v).strip() for v in values})


def _num_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def guess_roles(sheet: pd.DataFrame) -> dict[str, str]:
    """Guess a role for every column (the user can override each one).

    Unique text column named like an ID (or the first unique one) -> sample ID; subject /
    patient / donor -> subject; visit / time / day -> visit; "weight" -> weight; numbers ->
    continuous covariate; a few text levels -> categorical covariate; anything else -> ignore.
    """
    n = len(sheet)
    roles: dict[str, str] = {}
    have = set()
    for c in sheet.columns:
        col = sheet[c]
        name = str(c)
        nlev = col.dropna().nunique()
        unique_text = (not _is_numeric(col)) and nlev == n and not col.isna().any()
        if "sample_id" not in have and unique_text and (_ID_RE.match(name) or c == sheet.columns[0]):
            role = "sample_id"
        elif "subject" not in have and _SUBJECT_RE.search(name):
            role = "subject"
        elif "visit" not in have and _VISIT_RE.search(name):
            role = "visit"
        elif "weight" not in have and _WEIGHT_RE.search(name) and _is_numeric(col):
            role = "weight"
        elif nlev <= 1:
            role = "ignore"
        elif _is_numeric(col):
            role = "continuous"
        elif nlev <= max(2, min(12, n // 2)):
            role = "categorical"
        else:
            role = "ignore"
        roles[name] = role
        if role in ("sample_id", "subject", "visit", "weight"):
            have.add(role)
    if "sample_id" not in have:  # fall back to any unique column
        for c in sheet.columns:
            if sheet[c].nunique() == n and roles[str(c)] == "ignore":
                roles[str(c)] = "sample_id"
                break
    return roles


def default_references(sheet: pd.DataFrame, roles: dict[str, str]) -> dict[str, str]:
    """Reference level of each categorical covariate by the command line's visible rule
    (:func:`engine.design.default_reference`): a level named like a control, else the most frequent."""
    out = {}
    for c, r in roles.items():
        if r == "categorical" and c in sheet.columns:
            values = [v for v in sheet[c].tolist() if not (v is None or (isinstance(v, float) and np.isnan(v)))]
            if values:
                out[c] = default_reference([_num_text(v) if isinstance(v, (float, np.floating)) else str(v).strip()
                                            for v in values])[0]
    return out


@dataclass(frozen=True)
class SheetInputs:
    """What the sample sheet contributes to a FastMix run (index = sample IDs after renames)."""

    ids: tuple[str, ...]
    covariates: pd.DataFrame          # samples x chosen covariates (categoricals as text)
    reference: dict[str, str]
    weights: pd.Series | None
    subject: pd.Series | None
    visit: pd.Series | None
    notices: tuple[str, ...] = field(default=())


def _sample_ids(sheet: pd.DataFrame, roles: dict[str, str], renames: dict[str, str],
                file: str | None) -> list[str]:
    """The sheet's sample IDs (renamed where asked); no ID column, empty or repeated IDs raise ``InputError``."""
    if sheet.shape[0] == 0:
        raise InputError("the sample sheet has no rows", file=file, hint="load a sheet with one row per sample")
    id_cols = [c for c, r in roles.items() if r == "sample_id"]
    if not id_cols:
        raise InputError("no column has the role 'Sample ID'", file=file,
                         hint="set the role of the column holding sample IDs to 'Sample ID'")
    if len(id_cols) > 1:
        raise InputError(f"several columns have the role 'Sample ID': {', '.join(id_cols)}", file=file,
                         hint="keep exactly one Sample ID column")
    id_col = id_cols[0]
    raw_ids = sheet[id_col]
    ids = []
    for i, v in enumerate(raw_ids.tolist()):
        if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "":
            raise InputError("sample ID is empty", file=file, column=id_col, row=f"line {i + 2}")
        text = _num_text(v) if isinstance(v, (float, np.floating)) else str(v)
        ids.append(renames.get(text, text))
    seen: dict[str, int] = {}
    for i, s in enumerate(ids):
        if s in seen:
            raise InputError(f"sample ID '{s}' occurs twice", file=file, column=id_col, row=f"line {i + 2}",
                             hint="each sample needs its own row")
        seen[s] = i
    return ids


def sheet_inputs(sheet: pd.DataFrame, roles: dict[str, str], *, reference: dict[str, str] | None = None,
                 renames: dict[str, str] | None = None, covariates: list[str] | None = None,
                 file: str | None = None) -> SheetInputs:
    """Apply the role mapping: sample IDs (with renames), covariates, weights, subject and visit.

    ``covariates`` limits which covariate columns are used (default: every covariate role).
    Raises ``InputError`` naming the column/row for a missing ID column, duplicate or empty
    IDs, a non-numeric or missing value in a number covariate or a weight.
    """
    file = file or sheet.attrs.get("file")
    ids = _sample_ids(sheet, roles, renames or {}, file)
    index = pd.Index(ids, dtype=object)
    chosen = [c for c, r in roles.items() if r in COVARIATE_ROLES]
    if covariates is not None:
        chosen = [c for c in chosen if c in covariates]
    cov = {}
    ref_out = {}
    reference = reference or {}
    for c in chosen:
        col = sheet[c]
        if roles[c] == "continuous":
            if not _is_numeric(col):
                bad = next(i for i, v in enumerate(col.tolist()) if not _floatable(v))
                raise InputError(f"value '{col.iloc[bad]}' is not a number", file=file, column=c,
                                 row=str(ids[bad]), hint="fix the cell, or give the column the role 'Covariate (groups)'")
            values = col.to_numpy(dtype=np.float64)
            if np.isnan(values).any():
                bad = int(np.flatnonzero(np.isnan(values))[0])
                raise InputError("value is missing", file=file, column=c, row=str(ids[bad]),
                                 hint="fill in the value or drop the sample from the sheet")
            cov[c] = values
        else:
            if col.isna().any():
                bad = int(np.flatnonzero(col.isna().to_numpy())[0])
                raise InputError("value is missing", file=file, column=c, row=str(ids[bad]),
                                 hint="fill in the group or drop the sample from the sheet")
            text = [(_num_text(v) if isinstance(v, (float, np.floating)) else str(v).strip()) for v in col.tolist()]
            cov[c] = np.asarray(text, dtype=object)
            ref = reference.get(c)
            ref_out[c] = ref if ref in set(text) else default_reference(text)[0]
    covs = pd.DataFrame(cov, index=index)
    for c in covs.columns:
        if roles[c] == "categorical":
            covs[c] = covs[c].astype(object)
    weights = subject = visit = None
    for c, r in roles.items():
        if r == "weight":
            w = pd.to_numeric(sheet[c], errors="coerce").to_numpy(dtype=np.float64)
            if np.isnan(w).any() or (w <= 0).any():
                bad = int(np.flatnonzero(np.isnan(w) | (w <= 0))[0])
                raise InputError(f"weight '{sheet[c].iloc[bad]}' is not a positive number", file=file, column=c,
                                 row=str(ids[bad]), hint="weights must be numbers above 0")
            weights = pd.Series(w, index=index, name=c)
        elif r == "subject":
            subject = pd.Series([str(v) for v in sheet[c].tolist()], index=index, name=c, dtype=object)
        elif r == "visit":
            visit = pd.Series(sheet[c].to_numpy(), index=index, name=c)
    return SheetInputs(tuple(ids), covs, ref_out, weights, subject, visit)


def _floatable(v) -> bool:
    try:
        float(v)
        return v is not None and not (isinstance(v, float) and np.isnan(v))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- matching
def resolvable_renames(suggestions, sheet_ids) -> dict[str, str]:
    """From ``SampleMatch.suggestions`` keep those that rename a sheet ID to the other inputs' ID."""
    sheet_ids = {str(s) for s in sheet_ids}
    out = {}
    for a, b, _reason in suggestions:
        a, b = str(a), str(b)
        if a in sheet_ids and b not in sheet_ids:
            out[a] = b
        elif b in sheet_ids and a not in sheet_ids:
            out[b] = a
    return out


def merge_renames(existing: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    """Add renames keyed by the ORIGINAL sheet ID (a rename of a renamed ID follows the chain back)."""
    out = dict(existing)
    back = {v: k for k, v in existing.items()}
    for old, target in new.items():
        out[back.get(old, old)] = target
    return out


# --------------------------------------------------------------------------- expression
@dataclass(frozen=True)
class ExpressionSummary:
    genes: int
    samples: int
    minimum: float
    maximum: float
    counts_like: bool
    duplicate_genes: tuple[str, ...]

    def text(self) -> str:
        msg = (f"{self.genes:,} genes x {self.samples:,} samples; values {self.minimum:.4g} to "
               f"{self.maximum:.4g}")
        if self.duplicate_genes:
            more = f" (+{len(self.duplicate_genes) - 5} more)" if len(self.duplicate_genes) > 5 else ""
            msg += f"; duplicate gene IDs: {', '.join(self.duplicate_genes[:5])}{more}"
        return msg


def summarise_expression(expr: pd.DataFrame) -> ExpressionSummary:
    from engine.inputs import looks_like_counts

    values = expr.to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    idx = pd.Series([str(g) for g in expr.index])
    dups = tuple(dict.fromkeys(idx[idx.duplicated(keep=False)].tolist()))
    return ExpressionSummary(int(expr.shape[0]), int(expr.shape[1]),
                             float(finite.min()) if finite.size else float("nan"),
                             float(finite.max()) if finite.size else float("nan"),
                             looks_like_counts(expr), dups)


def log2p1(expr: pd.DataFrame) -> pd.DataFrame:
    """log2(x + 1), as usually applied to raw counts before a linear model."""
    out = pd.DataFrame(np.log2(expr.to_numpy(dtype=np.float64) + 1.0), index=expr.index, columns=expr.columns)
    out.attrs.update(expr.attrs)
    return out


# --------------------------------------------------------------------------- design
def term_preview(cells: list[str], covariate_terms: list[str], include_main: bool = True) -> list[str]:
    """Design column names in FastMix order: cells, covariate main terms, then cell.covariate."""
    names = list(cells)
    if include_main:
        names += list(covariate_terms)
    for p in covariate_terms:
        names += [f"{k}.{p}" for k in cells]
    return names


def encoded_covariate_names(covariates: pd.DataFrame, reference: dict[str, str]) -> list[str]:
    """Names the engine gives the (encoded) covariate columns, e.g. ``Sex[M]`` for a categorical."""
    if covariates is None or covariates.shape[1] == 0:
        return []
    try:
        from engine.design import encode_covariates

        enc, _ = encode_covariates(covariates, reference=reference or None)
        return [str(c) for c in enc.columns]
    except ImportError:  # engine not there yet: same convention, computed here
        names = []
        for c in covariates.columns:
            if covariates[c].dtype == object:
                levels = sorted({str(v) for v in covariates[c]})
                ref = (reference or {}).get(c, levels[0])
                names += [f"{c}[{lv}]" for lv in levels if lv != ref]
            else:
                names.append(str(c))
        return names


@dataclass(frozen=True)
class DesignIssue:
    """One problem found before a run: ``level`` 'error' blocks Run, 'warning' does not."""

    level: str
    message: str
    fix: str
    columns: tuple[str, ...] = ()
    action: str | None = None  # a one-click fix the Analysis tab offers: "no_covariate_main"

    def text(self) -> str:
        return f"{self.message} Fix: {self.fix}"


def _encode_for_check(covariates: pd.DataFrame, reference: dict[str, str]) -> pd.DataFrame:
    cols = {}
    for c in covariates.columns:
        col = covariates[c]
        if col.dtype == object:
            levels = sorted({str(v) for v in col})
            ref = reference.get(c, levels[0])
            for lv in levels:
                if lv != ref:
                    cols[f"{c}[{lv}]"] = (col.astype(str) == lv).to_numpy(dtype=np.float64)
        else:
            cols[str(c)] = col.to_numpy(dtype=np.float64)
    return pd.DataFrame(cols, index=covariates.index)


def check_design(proportions: pd.DataFrame, covariates: pd.DataFrame | None, *, reference: dict[str, str] | None = None,
                 include_covariate_main: bool = True) -> list[DesignIssue]:
    """Plain-language checks of the design FastMix would fit (samples already matched, same order).

    Errors: no cell types, too few samples for the number of terms, a covariate with one
    value, a singular design (names the columns involved). Warnings: proportions summing to
    ~1 together with covariate main terms (near-collinear), few residual degrees of freedom.
    """
    issues: list[DesignIssue] = []
    reference = reference or {}
    K = proportions.shape[1]
    n = proportions.shape[0]
    if K == 0:
        return [DesignIssue("error", "No cell type is chosen.", "tick at least one cell type.")]
    cov = covariates if covariates is not None else pd.DataFrame(index=proportions.index)
    for c in cov.columns:
        if cov[c].nunique() <= 1:
            issues.append(DesignIssue("error", f"Covariate '{c}' has the same value for every matched sample.",
                                      f"untick '{c}' (it carries no information).", (str(c),)))
    if issues:
        return issues
    enc = _encode_for_check(cov, reference)
    P = enc.shape[1]
    L = K + (P if include_covariate_main else 0) + K * P
    if n <= L:
        issues.append(DesignIssue(
            "error", f"Too few samples: {n} matched samples for {L} model terms (FastMix needs more samples "
                     f"than terms, ideally several times more).",
            "choose fewer cell types or covariates, or turn off covariate main terms.", ()))
        return issues
    if n - L < 5:
        issues.append(DesignIssue("warning", f"Only {n - L} samples more than model terms: estimates will be noisy.",
                                  "choose fewer cell types or covariates if you can."))
    props = proportions.to_numpy(dtype=np.float64)
    Z = enc.to_numpy(dtype=np.float64)
    if P:
        sd = Z.std(axis=0, ddof=1)
        Z = (Z - Z.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    names = list(proportions.columns) + (list(enc.columns) if include_covariate_main else [])
    blocks = [props] + ([Z] if include_covariate_main else [])
    for p in range(P):
        blocks.append(props * Z[:, [p]])
        names += [f"{k}.{enc.columns[p]}" for k in proportions.columns]
    X = np.hstack(blocks) if blocks else props
    sums = props.sum(axis=1)
    sums_to_one = bool(np.all(np.abs(sums - 1.0) < 0.02))
    s = np.linalg.svd(X / np.maximum(np.linalg.norm(X, axis=0), 1e-300), compute_uv=False)
    cond_small = s[-1] < 1e-7 * max(s[0], 1e-300)
    if cond_small:
        _, _, vt = np.linalg.svd(X / np.maximum(np.linalg.norm(X, axis=0), 1e-300))
        null = np.abs(vt[-1])
        involved = tuple(str(names[j]) for j in np.flatnonzero(null > 0.1 * null.max()))
        if sums_to_one and include_covariate_main and P:
            fix = ("turn off 'covariate main terms' (the cell-type interactions already carry them when the "
                   "proportions add up to 1), or untick one cell type.")
        else:
            fix = "untick one of these terms (or a cell type), or turn off 'covariate main terms'."
        issues.append(DesignIssue("error", "The design is singular: some terms are exact combinations of others "
                                           f"({', '.join(involved[:8])}{'…' if len(involved) > 8 else ''}).",
                                  fix, involved))
        return issues
    return issues + _collinearity_issues(proportions, covariates, reference, include_covariate_main)


def _collinearity_issues(proportions: pd.DataFrame, covariates: pd.DataFrame | None, reference: dict[str, str],
                         include_covariate_main: bool) -> list[DesignIssue]:
    """Near-collinearity warnings of :func:`engine.design.collinearity` (the command line's), each
    naming the terms involved; the main-term one comes with its one-click fix."""
    from engine.design import VIF_MAIN_WARN, VIF_WARN, build_design, collinearity

    try:
        design = build_design(proportions, covariates, include_covariate_main=include_covariate_main,
                              reference=reference or None, check=False)
    except (ValueError, np.linalg.LinAlgError):
        return []
    col = collinearity(design)
    out = []
    for text in col.warnings:
        main_term = "main term" in text
        limit = VIF_MAIN_WARN if main_term else VIF_WARN
        terms = tuple(str(t) for t in col.vif.index[col.vif > limit])
        out.append(DesignIssue(
            "warning", text[0].upper() + text[1:] + ".",
            "turn off 'Covariate main terms' (button below) or untick one cell type." if main_term
            else "untick one of the terms named, or a highly correlated cell type or covariate.",
            terms, "no_covariate_main" if main_term else None))
    return out


def design_error_issue(err: DesignError) -> DesignIssue:
    """A ``DesignError`` from the engine as a blocking issue."""
    return DesignIssue("error", err.message, err.hint or "untick a cell type or covariate.", tuple(err.columns))


def relative_path(path: str | Path, base: str | Path | None) -> str:
    """``path`` relative to the project folder when below it (projects move between PCs), else absolute."""
    p = Path(path).resolve()
    if base:
        try:
            return p.relative_to(Path(base).resolve()).as_posix()
        except ValueError:
            pass
    return str(p)


def resolve_path(path: str, base: str | Path | None) -> Path:
    p = Path(path)
    if not p.is_absolute() and base:
        p = Path(base) / p
    return p
