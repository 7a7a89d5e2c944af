"""Writing FastMix results: Excel workbook, CSV per term, GSEA .rnk, gene lists and .gmt.

Every writer is atomic (temporary file beside the target, then ``os.replace``) and
neutralises text that a spreadsheet would run as a formula (``= + - @``, tab, CR).
Gene symbols are written as text so that SEPT1 or MARCH1 never turn into dates.
``results`` is a ``engine.results.FastMixResults`` (``terms``, ``to_frame``,
``fixed_effects``, ``covariance``, ``parameters``).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

__all__ = [
    "safe_cell", "safe_frame", "atomic_path", "sheet_names", "file_stem", "term_table",
    "write_csv", "write_results_excel", "write_term_csvs", "write_rnk", "rnk_scores",
    "write_gene_lists", "write_gmt",
]

_UMASK = os.umask(0o022)
os.umask(_UMASK)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
_FILE_BAD = re.compile(r"[^A-Za-z0-9._+-]+")
TERM_COLUMNS = ["gene", "coefficient", "random_effect", "quasi_p", "quasi_fdr", "ols_p", "ols_fdr",
                "perm_p", "perm_fdr", "attribution", "fdr", "rank"]


def safe_cell(value: Any) -> Any:
    """Text starting with ``= + - @`` (or tab/CR) gets a leading ``'``; other values unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` with ``safe_cell`` applied to text columns and the index."""
    out = df.copy()
    for c in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[c].dtype) or pd.api.types.is_bool_dtype(out[c].dtype)):
            out[c] = out[c].map(safe_cell).astype(object)
    if not pd.api.types.is_numeric_dtype(out.index.dtype):
        out.index = pd.Index([safe_cell(v) for v in out.index], name=out.index.name, dtype=object)
    out.columns = [safe_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_csv(df: pd.DataFrame, path: str | os.PathLike, *, index: bool = False,
              index_label: str | None = None, sep: str = ",") -> Path:
    """Atomic CSV (UTF-8, full float precision) with formula-like text neutralised."""
    with atomic_path(path) as tmp:
        safe_frame(df).to_csv(tmp, index=index, index_label=index_label, sep=sep,
                              float_format="%.17g", lineterminator="\n")
    return Path(path)


def file_stem(term: str) -> str:
    """File-name-safe version of a term name (``Cell1.Group[b]`` -> ``Cell1.Group_b_``)."""
    stem = _FILE_BAD.sub("_", str(term)).strip("._") or "term"
    return stem[:120]


def _unique_stems(terms) -> dict[str, str]:
    seen: dict[str, int] = {}
    out = {}
    for t in terms:
        stem = file_stem(t)
        key = stem.lower()
        if key in seen:
            seen[key] += 1
            stem = f"{stem}_{seen[key]}"
        else:
            seen[key] = 1
        out[t] = stem
    return out


def sheet_names(names, reserved=()) -> dict[str, str]:
    """Excel-valid, unique (case-insensitive) sheet names of at most 31 characters."""
    used = {r.lower() for r in reserved}
    out = {}
    for name in names:
        base = _SHEET_BAD.sub("_", str(name)).strip("'") or "term"
        cand = base[:31]
        k = 2
        while cand.lower() in used or cand.lower() == "history":
            suffix = f"~{k}"
            cand = base[:31 - len(suffix)] + suffix
            k += 1
        used.add(cand.lower())
        out[name] = cand
    return out


def term_table(results, term: str) -> pd.DataFrame:
    """Results of one term, ranked by the app's ``fdr`` (columns ``TERM_COLUMNS``)."""
    df = results.to_frame(term)
    df = df.loc[df["term"] == term] if "term" in df.columns else df
    return df.sort_values(["rank", "gene"], kind="mergesort")[TERM_COLUMNS].reset_index(drop=True)


def _excel_value(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (int, bool)):
        return v
    if isinstance(v, str):
        return safe_cell(v)
    if isinstance(v, (dict, list, tuple, set)):
        return json.dumps(v, default=str)
    return safe_cell(str(v))


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_STYLES = (
    f'<styleSheet xmlns="{_NS}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _xml_text(text: str) -> str:
    text = _XML_BAD.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _col_letter(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def _cells(values: np.ndarray, letter: str, start_row: int, force_text: bool) -> list[str]:
    """XML of one column's cells (``''`` for empty cells). Text is neutralised and escaped."""
    out = []
    for r, v in enumerate(values, start=start_row):
        if force_text and v is not None and not (isinstance(v, float) and math.isnan(v)):
            v = str(v)
        else:
            v = _excel_value(v)
        if v is None:
            out.append("")
        elif isinstance(v, str):
            style = ' s="2"' if force_text else ""
            out.append(f'<c r="{letter}{r}" t="inlineStr"{style}><is><t xml:space="preserve">'
                       f'{_xml_text(safe_cell(v))}</t></is></c>')
        elif isinstance(v, bool):
            out.append(f'<c r="{letter}{r}" t="b"><v>{int(v)}</v></c>')
        else:
            out.append(f'<c r="{letter}{r}"><v>{v!r}</v></c>')
    return out


def _sheet_xml(df: pd.DataFrame, text_columns=()) -> str:
    """Worksheet XML: bold header row, frozen below it; ``text_columns`` stored as text ('@')."""
    cols = list(df.columns)
    letters = [_col_letter(i) for i in range(len(cols))]
    header = "".join(f'<c r="{L}1" t="inlineStr" s="1"><is><t xml:space="preserve">{_xml_text(safe_cell(str(c)))}'
                     f"</t></is></c>" for L, c in zip(letters, cols))
    columns = []
    for L, c in zip(letters, cols):
        col = df[c]
        if pd.api.types.is_float_dtype(col.dtype) and c not in text_columns:  # fast path: plain numbers
            vals = col.to_numpy(dtype=np.float64)
            ok = np.isfinite(vals)
            cells = [f'<c r="{L}{r}"><v>{v!r}</v></c>' if f else ""
                     for r, v, f in zip(range(2, len(vals) + 2), vals.tolist(), ok.tolist())]
        else:
            cells = _cells(col.to_numpy(dtype=object), L, 2, c in text_columns)
        columns.append(cells)
    rows = [f'<row r="1">{header}</row>']
    rows += [f'<row r="{r}">{"".join(parts)}</row>' for r, parts in enumerate(zip(*columns), start=2)]
    return (f'{_HEAD}<worksheet xmlns="{_NS}"><sheetViews><sheetView workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            f'</sheetView></sheetViews><sheetData>{"".join(rows)}</sheetData></worksheet>')


def _write_xlsx(path: Path, sheets: list[tuple[str, str]]) -> None:
    """Minimal Office Open XML workbook from (sheet name, worksheet XML) pairs."""
    import zipfile

    n = len(sheets)
    types = (f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
             '<Default Extension="xml" ContentType="application/xml"/>'
             '<Override PartName="/xl/workbook.xml" '
             'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
             '<Override PartName="/xl/styles.xml" '
             'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
             + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                       'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                       for i in range(1, n + 1)) + "</Types>")
    rels = (f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    workbook = (f'{_HEAD}<workbook xmlns="{_NS}" xmlns:r="{_REL}"><bookViews><workbookView/></bookViews><sheets>'
                + "".join(f'<sheet name="{_xml_text(name)}" sheetId="{i}" r:id="rId{i}"/>'
                          for i, (name, _) in enumerate(sheets, start=1)) + "</sheets></workbook>")
    wb_rels = (f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
               + "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                         for i in range(1, n + 1))
               + f'<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/></Relationships>')
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.writestr("[Content_Types].xml", types)
        zf.writestr("_rels/.rels", rels)
        zf.writestr("xl/workbook.xml", workbook)
        zf.writestr("xl/_rels/workbook.xml.rels", wb_rels)
        zf.writestr("xl/styles.xml", _HEAD + _STYLES)
        for i, (_, xml) in enumerate(sheets, start=1):
            zf.writestr(f"xl/worksheets/sheet{i}.xml", xml)


def _flatten(prefix: str, value: Any, out: list) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    else:
        out.append((prefix, value))


def write_results_excel(results, path: str | os.PathLike, report: dict | None = None) -> Path:
    """Workbook: a ranked sheet per term, fixed effects, covariance D, parameters, run report.

    Written directly as Office Open XML (about 10x faster than openpyxl for large studies);
    gene symbols are text cells formatted '@', formula-like text is neutralised.
    """
    reserved = ("Fixed effects", "Covariance D", "Parameters", "Columns", "Run report")
    names = sheet_names(list(results.terms), reserved=reserved)
    sheets = [(names[t], _sheet_xml(term_table(results, t), text_columns=("gene",))) for t in results.terms]
    fe = results.fixed_effects
    if "term" not in fe.columns:
        fe = fe.rename_axis("term").reset_index()
    sheets.append(("Fixed effects", _sheet_xml(fe, text_columns=("term",))))
    cov = pd.DataFrame(results.covariance)
    cov = cov.rename_axis("term").reset_index()
    sheets.append(("Covariance D", _sheet_xml(cov, text_columns=("term",))))
    params = [(str(k), _excel_value(v)) for k, v in dict(getattr(results, "parameters", {}) or {}).items()]
    sheets.append(("Parameters", _sheet_xml(pd.DataFrame(params, columns=["parameter", "value"], dtype=object),
                                            text_columns=("parameter",))))
    descriptions = getattr(results, "column_descriptions", None) or {}
    if descriptions:
        sheets.append(("Columns", _sheet_xml(pd.DataFrame(list(descriptions.items()), columns=["column", "meaning"],
                                                          dtype=object), text_columns=("column", "meaning"))))
    if report:
        flat: list = []
        _flatten("", report, flat)
        rows = [(k, _excel_value(v)) for k, v in flat]
        sheets.append(("Run report", _sheet_xml(pd.DataFrame(rows, columns=["item", "value"], dtype=object),
                                                text_columns=("item",))))
    with atomic_path(path) as tmp:
        _write_xlsx(tmp, sheets)
    return Path(path)


def write_term_csvs(results, folder: str | os.PathLike) -> list[Path]:
    """One ranked CSV per term (``<term>.csv``) in ``folder``."""
    folder = Path(folder)
    stems = _unique_stems(results.terms)
    return [write_csv(term_table(results, t), folder / f"{stems[t]}.csv") for t in results.terms]


def rnk_scores(results, term: str) -> pd.Series:
    """GSEA ranking score per gene: sign(coefficient) times the app's ranking statistic
    (the calibrated |T| of a permutation-calibrated term, else -log10 of its p-value;
    -log10(quasi_p) for results without one), sorted descending.

    p is capped at the smallest positive float so scores stay finite; a gene listed twice
    keeps its largest |score|; genes with a missing p-value are left out.
    """
    df = results.to_frame(term)
    df = df.loc[df["term"] == term] if "term" in df.columns else df
    coef = df["coefficient"].to_numpy(dtype=np.float64)
    stat = getattr(results, "score", None)
    if stat is not None:
        mag = stat[term].reindex(df["gene"].to_numpy()).to_numpy(dtype=np.float64)
    else:
        p = df["quasi_p"].to_numpy(dtype=np.float64)
        mag = -np.log10(np.clip(p, np.finfo(np.float64).tiny, 1.0))
    ok = np.isfinite(mag) & np.isfinite(coef)
    score = np.sign(coef[ok]) * mag[ok]
    s = pd.DataFrame({"gene": df["gene"].astype(str).to_numpy()[ok], "score": score + 0.0})
    s = s.assign(absval=np.abs(score)).sort_values("absval", ascending=False, kind="mergesort")
    s = s.drop_duplicates("gene", keep="first")
    s = s.sort_values(["score", "gene"], ascending=[False, True], kind="mergesort")
    return pd.Series(s["score"].to_numpy(), index=pd.Index(s["gene"].to_numpy(), dtype=object), name=term)


def write_rnk(results, folder: str | os.PathLike) -> list[Path]:
    """GSEA preranked files ``<term>.rnk`` (``gene<TAB>score``, no header, sorted descending)."""
    folder = Path(folder)
    stems = _unique_stems(results.terms)
    paths = []
    for t in results.terms:
        s = rnk_scores(results, t)
        path = folder / f"{stems[t]}.rnk"
        lines = "".join(f"{safe_cell(g)}\t{v:.10g}\n" for g, v in zip(s.index, s.to_numpy()))
        _write_text(path, lines)
        paths.append(path)
    return paths


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def _direction(df: pd.DataFrame) -> np.ndarray:
    """+1/-1 per gene: the gene's random effect (deviation from the common effect)."""
    re_ = df["random_effect"].to_numpy(dtype=np.float64)
    coef = df["coefficient"].to_numpy(dtype=np.float64)
    return np.where(np.isfinite(re_), np.sign(re_), np.sign(coef))


def write_gene_lists(results, folder: str | os.PathLike, top_n: int = 100) -> list[Path]:
    """Top-N up and down genes per term (``.txt`` one per line, ``.grp`` with ``#`` header) + background.

    Up/down follow the sign of the gene's random effect (above or below the
    transcriptome-wide effect of that term); genes are ranked as in the app (by ``fdr``).
    """
    folder = Path(folder)
    stems = _unique_stems(results.terms)
    paths = []
    genes_all: list[str] = []
    for t in results.terms:
        df = term_table(results, t)
        genes_all.extend(df["gene"].astype(str).tolist())
        d = _direction(df)
        for label, mask in (("up", d > 0), ("down", d < 0)):
            genes = df.loc[mask, "gene"].astype(str).head(top_n).tolist()
            body = "".join(f"{safe_cell(g)}\n" for g in genes)
            txt = folder / f"{stems[t]}_{label}.txt"
            grp = folder / f"{stems[t]}_{label}.grp"
            _write_text(txt, body)
            _write_text(grp, f"# {t} {label}: top {len(genes)} genes by fdr (random effect "
                             f"{'> 0' if label == 'up' else '< 0'})\n" + body)
            paths += [txt, grp]
    background = folder / "background.txt"
    _write_text(background, "".join(f"{safe_cell(g)}\n" for g in dict.fromkeys(genes_all)))
    paths.append(background)
    return paths


def write_gmt(results, path: str | os.PathLike, fdr: float = 0.05) -> Path:
    """``.gmt`` of every term's significant genes (the app's ``fdr`` < ``fdr``), split up/down.

    Set names are ``<term>_up`` / ``<term>_down``; empty sets are left out.
    """
    lines = []
    for t in results.terms:
        df = term_table(results, t)
        sig = df["fdr"].to_numpy(dtype=np.float64) < fdr
        d = _direction(df)
        for label, mask in (("up", d > 0), ("down", d < 0)):
            genes = df.loc[sig & mask, "gene"].astype(str).tolist()
            if genes:
                desc = f"FastMix {t} {label}, fdr < {fdr:g}"
                lines.append("\t".join([f"{t}_{label}", desc] + [safe_cell(g) for g in genes]) + "\n")
    _write_text(Path(path), "".join(lines))
    return Path(path)
