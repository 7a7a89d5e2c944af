"""The study's inputs as the project's ``study`` section points at them: the sample sheet with its
column roles, the expression matrix and the cell proportions, read through a small cache, and the
three-way sample match. The Study tab shows them and the Analysis tab fits them
(:func:`collect_study`); neither reads a file itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from engine.errors import InputError
from study.checks import (
    SheetInputs,
    default_references,
    first_header,
    guess_roles,
    log2p1,
    sheet_frame,
    sheet_inputs,
)

__all__ = ["CollectedStudy", "INPUT_LABELS", "collect_study", "complete_roles", "date_ids_as_chosen",
           "match_report", "project_proportions", "proportion_columns", "read_expression_file", "read_into_cache",
           "read_proportions_file", "read_sheet", "study_renames", "study_roles"]

# ----------------------------------------------------------------------------- file cache
_CACHE: dict[tuple, object] = {}


def _cached(kind: str, path: Path, extra, loader):
    """Read a file once per (path, size, mtime, options); tables are treated as read-only."""
    st = path.stat()
    key = (kind, str(path.resolve()), st.st_size, st.st_mtime_ns, extra)
    if key not in _CACHE:
        if len(_CACHE) > 12:
            _CACHE.clear()
        _CACHE[key] = loader()
    return _CACHE[key]


def _require_file(path: Path, what: str) -> Path:
    if not path.exists():
        raise InputError(f"{what} file not found", file=str(path), hint="load it again from its new place")
    return path


def read_sheet(path: Path) -> pd.DataFrame:
    from engine.inputs import read_table

    _require_file(path, "sample sheet")
    return _cached("sheet", path, None, lambda: sheet_frame(read_table(path), first_header(path)))


def read_expression_file(path: Path, genes_in_rows: bool | None) -> pd.DataFrame:
    """Genes x samples. ``genes_in_rows=None`` -> auto-detected (``attrs['orientation']`` says which)."""
    from engine.inputs import read_expression

    _require_file(path, "expression")
    orient = "auto" if genes_in_rows is None else ("genes_x_samples" if genes_in_rows else "samples_x_genes")
    expr = _cached("expr", path, orient, lambda: read_expression(path, orientation=orient))
    if orient == "auto":  # the detected orientation is what will be asked for next: read once
        _cached("expr", path, expr.attrs.get("orientation", "genes_x_samples"), lambda: expr)
    return expr


def read_proportions_file(path: Path, columns: list[str] | None = None) -> tuple[pd.DataFrame, str | None]:
    """Cell fractions of a proportions file; ``columns`` picks the cell types first (a blood count
    with a total or an absolute count column sums to more than 100 % until they are left out)."""
    from engine.inputs import normalise_proportions, read_table

    _require_file(path, "proportions")

    def load():
        table = read_table(path, numeric=True)
        if columns:
            missing = [c for c in columns if c not in table.columns]
            if missing:
                raise InputError(f"cell type '{missing[0]}' is not a column", file=path.name, column=missing[0],
                                 hint="choose the cell-type columns again")
            table = table[list(columns)]
        return normalise_proportions(table, path.name)

    return _cached("props", path, tuple(columns or ()), load)


def proportion_columns(path: Path) -> list[str]:
    """The numeric columns of a proportions file (to choose the cell types from)."""
    from engine.inputs import read_table

    return [str(c) for c in read_table(_require_file(path, "proportions"), numeric=True).columns]


# ----------------------------------------------------------------------------- study section
def study_roles(study: dict) -> tuple[dict[str, str], dict[str, str]]:
    """Roles and reference levels stored in the ``study`` section."""
    roles, refs = {}, {}
    for entry in study.get("columns", []):
        roles[entry["name"]] = entry["role"]
        if entry.get("reference") is not None:
            refs[entry["name"]] = entry["reference"]
    return roles, refs


def complete_roles(sheet: pd.DataFrame, study: dict) -> tuple[dict[str, str], dict[str, str]]:
    """Stored roles for the sheet's columns; columns without a stored role get the guessed one."""
    stored, refs = study_roles(study)
    roles = guess_roles(sheet)
    roles.update({c: r for c, r in stored.items() if c in roles})
    if list(roles.values()).count("sample_id") > 1:  # a guess must not add a second ID column
        for c in roles:
            if roles[c] == "sample_id" and stored.get(c) != "sample_id":
                roles[c] = "ignore"
    defaults = default_references(sheet, roles)
    defaults.update({c: v for c, v in refs.items() if c in defaults})
    return roles, defaults


def study_renames(study: dict) -> dict[str, str]:
    return {str(a): str(b) for a, b in study.get("id_renames", [])}


@dataclass(frozen=True)
class CollectedStudy:
    """The study as FastMix will see it (not yet restricted to the matched samples)."""

    sheet: SheetInputs | None
    expression: pd.DataFrame | None
    proportions: pd.DataFrame | None
    match: object | None                   # engine.matching.SampleMatch
    notices: tuple[str, ...] = field(default=())
    files: dict = field(default_factory=dict)  # input name -> path (for the run report)
    date_ids: tuple[str, ...] = ()  # gene IDs that look like Excel dates, not yet decided on


def project_proportions(project, study: dict) -> tuple[pd.DataFrame | None, str | None]:
    """Proportions from the chosen source: the Gating tab (``project.proportions``) or an imported file."""
    source = study.get("proportions_source", "gating")
    if source == "file" and study.get("proportions_path"):
        return read_proportions_file(project.resolve(study["proportions_path"]), study.get("proportion_columns"))
    props = project.proportions
    if props is None:
        return None, None
    from engine.inputs import normalise_proportions

    return normalise_proportions(props, "Gating tab proportions")


def collect_study(project, *, strict: bool = False) -> CollectedStudy:
    """Read what the ``study`` section points at. With ``strict`` a missing piece raises ``InputError``."""
    study = project.section("study")
    notices: list[str] = []
    files: dict[str, str] = {}
    sheet_in = expr = props = match = None
    dates: tuple[str, ...] = ()
    if study.get("sheet_path"):
        path = project.resolve(study["sheet_path"])
        files["sample sheet"] = str(path)
        sheet = read_sheet(path)
        roles, refs = complete_roles(sheet, study)
        sheet_in = sheet_inputs(sheet, roles, reference=refs, renames=study_renames(study), file=path.name)
    elif strict:
        raise InputError("no sample sheet is loaded", hint="load it on the Study tab")
    if study.get("expression_path"):
        path = project.resolve(study["expression_path"])
        files["expression"] = str(path)
        expr = read_expression_file(path, study.get("genes_in_rows", True))
        expr, dates, note = date_ids_as_chosen(expr, study.get("date_ids"))
        if note:
            notices.append(note)
        if study.get("log2"):
            expr = log2p1(expr)
            notices.append("expression transformed with log2(x+1)")
    elif strict:
        raise InputError("no expression matrix is loaded", hint="load it on the Study tab")
    props, notice = project_proportions(project, study)
    if notice:
        notices.append(notice)
    if study.get("proportions_source") == "file" and study.get("proportions_path"):
        files["proportions"] = str(project.resolve(study["proportions_path"]))
    if props is None and strict:
        raise InputError("no cell proportions", hint="gate the FCS files on the Gating tab or import a proportions table")
    lists = {}  # expression first: matched samples keep the expression's column order (as the CLI does)
    if expr is not None:
        lists["expression"] = [str(c) for c in expr.columns]
    if props is not None:
        lists["proportions"] = [str(i) for i in props.index]
    if sheet_in is not None:
        lists["sheet"] = list(sheet_in.ids)
    if len(lists) >= 2:
        from engine.matching import match_samples

        match = match_samples(**lists)
    return CollectedStudy(sheet_in, expr, props, match, tuple(notices), files, dates)


def date_ids_as_chosen(expr: pd.DataFrame, choice: str | None) -> tuple[pd.DataFrame, tuple[str, ...], str]:
    """Gene IDs Excel turned into dates (``9-Sep`` from SEPT9), handled as the user chose in the
    ``study`` section's ``date_ids``: "restore" (symbols back where the date maps to one), "allow"
    (kept as they are) or not yet chosen. Returns the expression, the IDs still undecided (they
    block a run) and a notice."""
    from engine.inputs import excel_date_ids, restore_date_id

    dates = excel_date_ids(expr.index)
    if not dates:
        return expr, (), ""
    if choice == "restore":
        fixes = {d: restore_date_id(d) for d in dates}
        fixes = {d: s for d, s in fixes.items() if s is not None and s not in set(map(str, expr.index))}
        out = expr.rename(index=fixes)
        out.attrs.update(expr.attrs)
        left = len(dates) - len(fixes)
        return out, (), (f"{len(fixes)} gene symbol(s) restored from Excel dates"
                         + (f"; {left} left as they are (no single symbol)" if left else ""))
    if choice == "allow":
        return expr, (), f"{len(dates)} date-like gene ID(s) used as they are"
    return expr, tuple(dates), ""


INPUT_LABELS = {"sheet": "sample sheet", "expression": "expression matrix", "proportions": "cell proportions"}


def match_report(match, renames: dict[str, str] | None = None) -> str:
    """Plain-language three-way match report."""
    if match is None:
        return "Load at least two of: sample sheet, expression matrix, cell proportions."
    lines = [f"{len(match.common)} samples are in all inputs."]
    for name, ids in match.missing.items():
        if ids:
            shown = ", ".join(ids[:8]) + (f" … (+{len(ids) - 8})" if len(ids) > 8 else "")
            lines.append(f"Missing from the {INPUT_LABELS.get(name, name)}: {shown}")
    for a, b, why in match.suggestions:
        lines.append(f"'{a}' and '{b}' look like the same sample ({why}).")
    if renames:
        lines.append("Sheet IDs renamed: " + ", ".join(f"'{a}' → '{b}'" for a, b in renames.items()))
    return "\n".join(lines)


def read_into_cache(kind: str, path: Path, *, progress=None) -> str | None:
    """Read one input into the cache (a worker's job); a user-facing problem is returned, not raised."""
    from engine.progress import report
    from study.errors import USER_ERRORS

    report(progress, 0, 1, f"reading {path.name}")
    try:
        if kind == "sheet":
            read_sheet(path)
        elif kind == "expression":
            read_expression_file(path, None)
        else:
            read_proportions_file(path)
    except USER_ERRORS as exc:
        return str(exc)
    report(progress, 1, 1, f"read {path.name}")
    return None
