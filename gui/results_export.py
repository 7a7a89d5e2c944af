"""The Results tab's export job, run in a worker: the export bundle, the plots painted on the GUI
thread (encoded here), and a volcano PNG per term painted into QImages (no widget)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from engine.progress import report
from gui.plots.export import safe_stem, save_png
from study.bundle import write_bundle


def volcano_evidence(results, term: str, frame: pd.DataFrame) -> dict:
    """The y values behind the app's calls for ``frame``'s rows, and their axis label."""
    score = getattr(results, "score", None)
    if score is None:
        return {}
    perm = getattr(results, "perm_p", None)
    calibrated = perm is not None and bool(np.isfinite(perm[term].to_numpy(dtype=float)).any())
    label = "association x attribution (calibrated)" if calibrated else "-log10 p"
    return {"evidence": score[term].reindex(frame["gene"].to_numpy()).to_numpy(dtype=float),
            "evidence_label": label}



def export_volcanoes(results, folder: str | os.PathLike, *, fdr: float = 0.05,
                     highlight: tuple[str | None, str | None] = (None, None), progress=None) -> list[Path]:
    """A volcano PNG per term in ``folder`` (runs in a worker: painted into QImages, no widget)."""
    from gui.plots.volcano_image import volcano_png

    folder = Path(folder)
    written = []
    for i, term in enumerate(results.terms):
        report(progress, i, len(results.terms), f"volcano {term}")
        frame = results.to_frame(term)
        try:
            fixed = float(results.fixed_effects.loc[term, "estimate"])
        except (KeyError, TypeError, ValueError):
            fixed = None
        written.append(volcano_png(frame, folder / f"volcano_{safe_stem(term)}.png", fdr=fdr, term=term,
                                   fixed_effect=fixed, highlight=highlight[1] if highlight[0] == term else None,
                                   **volcano_evidence(results, term, frame)))
    return written


def export_job(results, folder: str | os.PathLike, *, highlight=(None, None), images=None, progress=None,
               run: tuple | None = None, **bundle) -> dict[str, list[Path]]:
    """The Results tab's export, all of it in the worker: the run report (from ``run``, the
    arguments of :func:`study.report.build_run_report`), the export bundle, the PNGs of the plots
    painted on the GUI thread (``{path: QImage}``), then the volcanoes."""
    if run is not None:
        from study.report import build_run_report

        bundle["report"] = build_run_report(*run)
    out = write_bundle(results, folder, progress=progress, **bundle)
    out["plot_images"] = [save_png(image, path) for path, image in (images or {}).items()]
    out["volcanoes"] = export_volcanoes(results, Path(folder) / "plots", fdr=bundle.get("fdr", 0.05),
                                        highlight=highlight, progress=progress)
    return out
