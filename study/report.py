"""Run report: what went in (SHA-256 of every input), with which settings and software, what came out.

The report makes a run reproducible and auditable; it is written as JSON (machine
readable) and as a self-contained, escaped HTML page.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import html
import math
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from study.files import write_json, write_text

__all__ = ["app_version", "library_versions", "sha256_file", "jsonable", "build_run_report",
           "write_report_json", "write_report_html"]

APP_NAME = "FastMix Studio"
_DISTRIBUTIONS = {"numpy": "numpy", "scipy": "scipy", "pandas": "pandas", "sklearn": "scikit-learn",
                  "flowio": "flowio", "flowutils": "flowutils", "openpyxl": "openpyxl",
                  "blitzgsea": "blitzgsea", "statsmodels": "statsmodels"}  # the last two: GSEA p-values


def app_version() -> str:
    """Version of the installed ``fastmix-studio`` distribution (``0.1.0`` when run from source)."""
    try:
        return metadata.version("fastmix-studio")
    except metadata.PackageNotFoundError:
        return "0.1.0"


def library_versions() -> dict[str, str]:
    """Versions of the numerical libraries and of Python."""
    out = {}
    for key, dist in _DISTRIBUTIONS.items():
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            module = sys.modules.get(key)
            out[key] = getattr(module, "__version__", "not installed") if module else "not installed"
    out["python"] = platform.python_version()
    return out


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def jsonable(value: Any) -> Any:
    """Convert numpy/pandas/Path/set values to plain JSON types (non-finite floats -> None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, pd.Series):
        return jsonable(value.to_dict())
    if isinstance(value, pd.DataFrame):
        return {str(i): jsonable(row) for i, row in value.to_dict(orient="index").items()}
    if isinstance(value, os.PathLike):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _get(obj, *names, default=None):
    for name in names:
        if obj is not None and hasattr(obj, name):
            try:
                v = getattr(obj, name)
            except Exception:  # noqa: BLE001 - a missing lazy attribute must not break the report
                continue
            if v is not None:
                return v
    return default


def build_run_report(inputs: dict[str, "str | os.PathLike | pd.DataFrame | None"], parameters: dict,
                     results=None, timings: dict | None = None) -> dict:
    """Report dict: inputs (name, file, SHA-256, size), parameters, versions, UTC date, results summary.

    ``results`` may be a fitted ``FastMix`` or its ``FastMixResults``; informative terms,
    kept-gene count, lambda and sigma^2 are taken from whichever attributes exist.
    """
    files = []
    for role, path in inputs.items():
        if path is None:
            continue
        if isinstance(path, (pd.DataFrame, pd.Series)):  # in-memory table (e.g. gated proportions)
            text = path.to_csv(float_format="%.17g", lineterminator="\n").encode("utf-8")
            files.append({"role": role, "file": path.attrs.get("file"), "path": None,
                          "sha256": hashlib.sha256(text).hexdigest(), "bytes": len(text),
                          "note": "in-memory table, hashed as CSV"})
            continue
        p = Path(path)
        entry = {"role": role, "file": p.name, "path": str(p)}
        if p.is_file():
            entry["sha256"] = sha256_file(p)
            entry["bytes"] = p.stat().st_size
        else:
            entry["sha256"] = None
            entry["note"] = "not a file"
        files.append(entry)
    report: dict[str, Any] = {
        "app": {"name": APP_NAME, "version": app_version()},
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "platform": platform.platform(),
        "libraries": library_versions(),
        "inputs": files,
        "parameters": jsonable(dict(parameters)),
    }
    if results is not None:
        model_results = _get(results, "results_", default=results)
        summary: dict[str, Any] = {
            "terms": jsonable(list(_get(model_results, "terms", default=[]))),
            "informative_terms": jsonable(list(_get(model_results, "informative_terms", default=[]))),
            "kept_genes": jsonable(_get(results, "kept_genes_", "kept_genes")),
            "sigma2": jsonable(_get(results, "sigma2_", "sigma2")),
        }
        if not summary["informative_terms"]:
            informative = _get(results, "informative_")
            if isinstance(informative, pd.Series):
                summary["informative_terms"] = [str(k) for k, v in informative.items() if bool(v)]
        lam = _get(results, "lambda_")
        if lam is not None:
            summary["lambda"] = jsonable(lam)
        genes = _get(results, "coef_")
        if isinstance(genes, pd.DataFrame):
            summary["genes"] = int(genes.shape[0])
        design = _get(results, "design_")
        if design is not None and hasattr(design, "samples"):
            summary["samples"] = len(design.samples)
        summary.update(calibration_summary(model_results))
        notices = _get(results, "notices_")
        if notices:
            summary["notices"] = jsonable(list(notices))
        report["results"] = summary
        if timings is None:
            timings = _get(results, "timings_")
    if timings:
        report["timings_s"] = jsonable(dict(timings))
    return report


def calibration_summary(results, fdr: float = 0.05) -> dict:
    """Per term: the method behind ``fdr``, the calls at ``fdr`` and, for calibrated terms,
    the calls expected under permuted labels at the same threshold, plus the curves."""
    methods = getattr(results, "fdr_methods", None)
    if not methods:
        return {}
    calib = getattr(results, "calibration", None)
    expected = calib.calls(fdr) if calib is not None else {}
    calls = {}
    for t in results.terms:
        entry = {"kind": (getattr(results, "term_kinds", None) or {}).get(t), "method": methods.get(t),
                 "observed": results.calls(t, fdr)}
        if t in expected:
            entry.update({k: v for k, v in expected[t].items() if k != "observed"})
        calls[t] = entry
    out: dict[str, Any] = {f"calls_at_fdr_{fdr:g}": calls}
    if calib is not None:
        out["calibration"] = {"variance": calib.variance, "permutations": calib.n_permutations,
                              "seed": calib.seed, "curves": calib.curves}
    return out


def calibration_sentence(term: str, entry: dict, fdr: float = 0.05) -> str:
    """One plain sentence on whether a term's calls stand above noise."""
    k = int(entry.get("observed", 0))
    e = entry.get("expected_under_permutation")
    if e is None:
        return f"{term}: {k} genes at FDR ≤ {fdr:g} ({entry.get('method') or 'not calibrated by permutations'})."
    if k == 0:
        return (f"{term}: no gene reaches FDR ≤ {fdr:g}; nothing stands above what permuted labels give.")
    mis = float(entry.get("expected_misattributed", 0.0))
    verdict = ("the calls stand well above noise" if e <= 0.1 * k else
               "the calls stand above noise, but expect some false ones" if e <= 0.3 * k else
               "the calls barely stand above noise: treat them with caution")
    text = (f"{term}: {k} genes at FDR ≤ {fdr:g}; permuted labels give {e:.1f} genes as strongly associated "
            f"on average: {verdict}.")
    if mis >= 0.5:
        text += f" About {mis:.0f} of the calls may act through another cell type."
    return text


def write_report_json(report: dict, path: str | os.PathLike) -> Path:
    """Atomic, pretty-printed UTF-8 JSON."""
    return write_json(path, jsonable(report))


def _html_value(value: Any) -> str:
    if isinstance(value, dict):
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_html_value(v)}</td></tr>"
                       for k, v in value.items())
        return f"<table>{rows}</table>"
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            keys = list(dict.fromkeys(k for v in value for k in v))
            head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
            body = "".join("<tr>" + "".join(f"<td>{_html_value(v.get(k, ''))}</td>" for k in keys) + "</tr>"
                           for v in value)
            return f"<table><tr>{head}</tr>{body}</table>"
        return html.escape(", ".join(str(v) for v in value)) if value else "<em>none</em>"
    if value is None:
        return "<em>n/a</em>"
    if isinstance(value, float):
        return html.escape(f"{value:.6g}")
    return html.escape(str(value))


def _curve_svg(curve: dict, width: int = 260, height: int = 180) -> str:
    """Inline SVG of a calibration curve on log-log axes: observed k (red) and permuted-label
    expectation (grey, dashed); an expectation of 0 is drawn at 0.01."""
    import math

    k = [float(v) for v in curve.get("rank", [])]
    e = [max(float(v), 0.01) for v in curve.get("expected_null_at_or_above", [])]
    if not k:
        return ""
    lo, hi = math.log10(0.01), math.log10(max(max(k), max(e)) * 1.2)
    sx = lambda v: 30 + (math.log10(v) - 0) / max(math.log10(max(k) * 1.2), 1e-9) * (width - 40)  # noqa: E731
    sy = lambda v: height - 20 - (math.log10(v) - lo) / (hi - lo) * (height - 30)  # noqa: E731
    line = lambda xs, ys: " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys))  # noqa: E731
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
            f'<rect width="100%" height="100%" fill="white" stroke="#bbb"/>'
            f'<polyline fill="none" stroke="#c82828" stroke-width="2" points="{line(k, k)}"/>'
            f'<polyline fill="none" stroke="#444" stroke-width="2" stroke-dasharray="5,3" points="{line(k, e)}"/>'
            f'<text x="32" y="14" font-size="11" fill="#c82828">observed calls</text>'
            f'<text x="32" y="28" font-size="11" fill="#444">permuted labels (noise)</text>'
            f'<text x="{width // 2}" y="{height - 4}" font-size="10" text-anchor="middle">k strongest genes (log)</text>'
            "</svg>")


def _calls_section(report: dict) -> str:
    results = report.get("results") or {}
    key = next((k for k in results if str(k).startswith("calls_at_fdr_")), None)
    if key is None:
        return ""
    fdr = float(key.rsplit("_", 1)[-1])
    curves = (results.get("calibration") or {}).get("curves", {})
    items = []
    for term, entry in results[key].items():
        svg = _curve_svg(curves[term]) if term in curves else ""
        items.append(f"<div class=\"term\"><p>{html.escape(calibration_sentence(term, entry, fdr))}</p>{svg}</div>")
    return "<h2>Calls per term</h2>" + "".join(items)


def write_report_html(report: dict, path: str | os.PathLike, results=None, fdr: float = 0.05) -> Path:
    """Self-contained HTML report (inline CSS, SVG and base64 PNG; every value escaped).

    With ``results`` (a fitted ``FastMix`` or its ``FastMixResults``) the page also draws a
    volcano plot per covariate term, calling genes at ``fdr``.
    """
    from study.report_html import render_report

    return write_text(path, render_report(jsonable(report), results=results, fdr=fdr))
