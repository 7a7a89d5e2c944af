"""The run report as one self-contained HTML page (inline CSS, SVG and base64 PNG; no network).

Sections: summary; calls per term with the permuted-label expectation and calibration curves;
volcano plots per covariate term; what each p-value column tests; design checks; inputs (SHA-256,
size), software and parameters; notices and timings. Every recorded value is HTML-escaped.
"""
from __future__ import annotations

import html
from typing import Any

import numpy as np

from study.report import APP_NAME, _curve_svg, _html_value, calibration_sentence
from study.report_plots import volcano_svg

__all__ = ["render_report", "P_VALUE_NOTES"]

P_VALUE_NOTES = (
    ("quasi_p / quasi_fdr", "The R package's quasi-p-values (R-compatible). They assume one residual "
     "variance for all genes, so on real arrays they call noisy genes."),
    ("perm_p / perm_fdr", "Does the gene respond to the covariate? The gain in fit when the covariate's "
     "terms enter the model, in units of the gene's own (moderated) residual variance, compared with the "
     "same statistic under permutations of the covariate labels that respect the design."),
    ("attribution", "Through which cell type? Each single-term model (the covariate acting through one "
     "cell type, or through the main term alike in all) weighed by its likelihood."),
    ("fdr", "The app's call: fdr = perm_fdr + (1 - attribution), the chance that the gene does not respond "
     "plus the chance that it responds through another term. It drives every call, ranking, Excel sheet, "
     ".rnk, .gmt and top-N list. Cell-type terms are not permuted; their fdr is the moderated quasi-FDR."),
    ("ols_p / ols_fdr", "Ordinary least squares p-values per gene, without the mixed model; for comparison."),
)

_CSS = ("body{font-family:sans-serif;margin:2em;max-width:78em;color:#222}"
        "table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #bbb;padding:.2em .5em;"
        "text-align:left;vertical-align:top}th{background:#f0f0f0}td.n{text-align:right}"
        "code{font-size:.9em}.warn{color:#a04000}.plots{display:flex;flex-wrap:wrap;gap:1em}"
        ".term{margin:.5em 0;flex:0 0 21em}details{margin-top:2em}")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, fmt: str = "{:g}") -> str:
    if value is None:
        return "n/a"
    return _e(fmt.format(value)) if isinstance(value, (int, float)) else _e(value)


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """Table from already-escaped cells; columns in ``numeric`` are right-aligned."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summary(report: dict) -> str:
    res = report.get("results") or {}
    app = report.get("app") or {}
    items = [("Created (UTC)", report.get("created_utc")), ("Application", f"{app.get('name')} {app.get('version')}"),
             ("Genes", res.get("genes")), ("Genes kept for the variance fit", res.get("kept_genes")),
             ("Samples", res.get("samples")), ("Terms", ", ".join(map(str, res.get("terms") or []))),
             ("Informative terms", ", ".join(map(str, res.get("informative_terms") or [])) or "none")]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_num(v)}</td></tr>" for k, v in items if v is not None)
    return f"<table>{rows}</table>"


def _inputs(report: dict) -> str:
    rows = [[_e(f.get("role")), _e(f.get("file") or ""), _num(f.get("bytes"), "{:,}"),
             f"<code>{_e(f.get('sha256') or 'n/a')}</code>", _e(f.get("note") or f.get("path") or "")]
            for f in report.get("inputs") or []]
    if not rows:
        return "<h2>Inputs</h2><p><em>No input files recorded.</em></p>"
    return "<h2>Inputs</h2>" + _table(["role", "file", "bytes", "SHA-256", "path / note"], rows, {2})


def _software(report: dict) -> str:
    app = report.get("app") or {}
    rows = [[_e(app.get("name", APP_NAME)), _e(app.get("version", ""))]]
    rows += [[_e(k), _e(v)] for k, v in (report.get("libraries") or {}).items()]
    rows.append(["platform", _e(report.get("platform", ""))])
    return "<h2>Software</h2>" + _table(["software", "version"], rows)


def _parameters(report: dict) -> str:
    params = report.get("parameters") or {}
    rows = [[f"<code>{_e(k)}</code>", _html_value(v)] for k, v in params.items()]
    return "<h2>Parameters</h2>" + (_table(["parameter", "value"], rows) if rows else "<p><em>none</em></p>")


def _design(report: dict) -> str:
    design = report.get("design") or {}
    samples = report.get("samples") or {}
    out = "<h2>Design checks</h2>"
    vif = design.get("vif") or {}
    if vif:
        rows = [[_e(t), _num(v, "{:.2f}") if v is not None else "infinite (aliased)"] for t, v in vif.items()]
        out += ("<p>Variance inflation per term (1 = independent of the other terms; above about 10 the "
                "term is hard to separate from the others).</p>" + _table(["term", "VIF"], rows, {1}))
    warnings = list(dict.fromkeys(list(design.get("warnings") or []) + list(samples.get("warnings") or [])))
    if warnings:
        out += "<ul>" + "".join(f'<li class="warn">{_e(w)}</li>' for w in warnings) + "</ul>"
    elif vif:
        out += "<p>No design warnings.</p>"
    else:
        out += "<p><em>No design checks recorded.</em></p>"
    return out


def _calls_key(results: dict) -> str | None:
    return next((k for k in results if str(k).startswith("calls_at_fdr_")), None)


def _calls(report: dict) -> str:
    results = report.get("results") or {}
    key = _calls_key(results)
    if key is None:
        return ""
    fdr = float(key.rsplit("_", 1)[-1])
    rows = []
    for term, entry in results[key].items():
        e = entry.get("expected_under_permutation")
        rows.append([_e(term), _e(entry.get("kind") or ""), _num(entry.get("observed")),
                     _num(e, "{:.1f}") if e is not None else "not permuted", _e(entry.get("method") or "")])
    out = (f"<h2>Calls per term at FDR &le; {_e(f'{fdr:g}')}</h2>"
           + _table(["term", "kind", "calls", "expected under permuted labels", "method behind fdr"],
                    rows, {2, 3}))
    curves = (results.get("calibration") or {}).get("curves") or {}
    plain = [f"<li>{_e(calibration_sentence(t, e, fdr))}</li>" for t, e in results[key].items() if t not in curves]
    cards = [f'<div class="term"><p>{_e(calibration_sentence(t, e, fdr))}</p>{_curve_svg(curves[t])}</div>'
             for t, e in results[key].items() if t in curves]
    if plain:
        out += "<ul>" + "".join(plain) + "</ul>"
    if cards:
        out += ("<h3>Calibration</h3><p>Observed calls (red) against the calls expected under permuted labels "
                "(grey, dashed) for the k strongest genes: the farther apart, the more the calls stand above "
                'noise.</p><div class="plots">' + "".join(cards) + "</div>")
    return out


def _p_for_volcano(results, term: str) -> tuple[np.ndarray, str]:
    for name in ("perm_p", "mod_p", "quasi_p"):
        frame = getattr(results, name, None)
        if frame is not None and term in frame and np.isfinite(frame[term].to_numpy(dtype=float)).any():
            return frame[term].to_numpy(dtype=float), name
    return np.full(len(results.coef), np.nan), "p"


def _volcanoes(results, fdr: float) -> str:
    """One volcano plot per covariate or interaction term of a ``FastMixResults``."""
    if results is None:
        return ""
    results = getattr(results, "results_", results)
    kinds = getattr(results, "term_kinds", {}) or {}
    terms = [t for t in results.terms if kinds.get(t, "cell") != "cell"]
    if not terms:
        return ""
    call_frame = results.fdr if results.fdr is not None else results.quasi_fdr
    plots = []
    for t in terms:
        p, label = _p_for_volcano(results, t)
        called = call_frame[t].to_numpy(dtype=float) <= fdr
        plots.append(volcano_svg(t, results.coef[t].to_numpy(dtype=float), p, called, p_label=label))
    return (f"<h2>Volcano plots</h2><p>Coefficient against -log10 of the p-value per gene for each covariate "
            f"term; red genes are called at fdr &le; {_e(f'{fdr:g}')}. Grey shading shows how many genes "
            "overlap. The y axis is the p-value behind the call (perm_p when permutations ran); a row of points "
            "on the top edge are genes beyond every permuted statistic (the smallest permutation p-value).</p>"
            '<div class="plots">' + "".join(plots) + "</div>")


def _p_notes() -> str:
    rows = "".join(f"<dt><code>{_e(k)}</code></dt><dd>{_e(v)}</dd>" for k, v in P_VALUE_NOTES)
    return ("<h2>What the p-value columns test</h2><p>For every covariate and cell type x covariate term the "
            "app calls genes in two steps: does the gene respond to the covariate, and through which cell "
            f"type?</p><dl>{rows}</dl>")


def _notes(report: dict) -> str:
    res = report.get("results") or {}
    out = ""
    if res.get("notices"):
        out += "<h2>Notices</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in res["notices"]) + "</ul>"
    timings = report.get("timings_s") or {}
    if timings:
        rows = [[_e(k), _num(v, "{:.2f}")] for k, v in timings.items()]
        out += "<h2>Timings</h2>" + _table(["step", "seconds"], rows, {1})
    return out


def render_report(report: dict, results=None, fdr: float = 0.05) -> str:
    """The whole page; ``report`` must already be JSON-able (see ``study.report.jsonable``)."""
    title = f"{APP_NAME} run report"
    body = (_summary(report) + _calls(report) + _volcanoes(results, fdr) + _p_notes() + _design(report)
            + _inputs(report) + _software(report) + _parameters(report) + _notes(report)
            + "<details><summary>Everything recorded in report.json</summary>"
            + "".join(f"<h3>{_e(str(k).replace('_', ' ').capitalize())}</h3>{_html_value(v)}"
                      for k, v in report.items()) + "</details>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1>{body}</body></html>\n")
