"""A volcano plot painted straight into a PNG with QImage/QPainter, so that exports can draw it in
a worker thread (QImage painting is thread-safe; widgets and pyqtgraph items are not).

Same content as :class:`gui.plots.volcano.VolcanoWidget`: coefficient against the evidence
behind the calls, genes called at ``fdr`` in red (above the term's transcriptome-wide effect) or
blue (below), others grey, the weakest call as a dashed line, the fixed effect as a vertical line.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from pyqtgraph.functions import arrayToQPolygonF
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

from gui.plots.volcano import DOWN_COLOUR, NS_COLOUR, UP_COLOUR, neg_log10
from study.files import atomic_path

__all__ = ["volcano_png"]

_MARGIN = (80, 50, 30, 60)  # left, top, right, bottom
_BATCH = 1500  # points per drawPoints call (each about 10 ms; a worker then never blocks the GUI thread long)


def _ticks(lo: float, hi: float, n: int = 6) -> np.ndarray:
    """Round tick values covering [lo, hi]."""
    span = hi - lo if hi > lo else 1.0
    step = 10 ** np.floor(np.log10(span / n))
    step *= min((m for m in (1, 2, 5, 10) if span / (m * step) <= n), default=10)
    return np.arange(np.ceil(lo / step) * step, hi + step * 1e-9, step)


def _data(frame: pd.DataFrame, fdr: float, evidence: np.ndarray | None, fixed_effect: float | None):
    x = frame["coefficient"].to_numpy(dtype=float, na_value=np.nan)
    y = (neg_log10(frame["quasi_p"].to_numpy(dtype=float, na_value=np.nan)) if evidence is None
         else np.asarray(evidence, dtype=float))
    q = frame["fdr" if "fdr" in frame.columns else "quasi_fdr"].to_numpy(dtype=float, na_value=np.nan)
    called = np.nan_to_num(q, nan=np.inf) <= fdr
    if "random_effect" in frame.columns:
        up = frame["random_effect"].to_numpy(dtype=float, na_value=np.nan) > 0
    else:
        up = x > (fixed_effect or 0.0)
    return x, y, called, up


def volcano_png(frame: pd.DataFrame, path: str | os.PathLike, *, fdr: float = 0.05, term: str = "",
                evidence: np.ndarray | None = None, evidence_label: str = "-log10 quasi-p",
                fixed_effect: float | None = None, highlight: str | None = None,
                size: tuple[int, int] = (900, 700)) -> Path:
    """Paint the volcano of ``frame`` (one term's rows) into a PNG at ``path`` (atomic write)."""
    x, y, called, up = _data(frame, fdr, evidence, fixed_effect)
    ok = np.isfinite(x) & np.isfinite(y)
    w, h = size
    left, top, right, bottom = _MARGIN
    area = QRectF(left, top, w - left - right, h - top - bottom)
    x0, x1 = (float(x[ok].min()), float(x[ok].max())) if ok.any() else (-1.0, 1.0)
    y0, y1 = 0.0, (float(y[ok].max()) if ok.any() else 1.0) * 1.05 or 1.0
    pad = (x1 - x0) * 0.05 or 1.0
    x0, x1 = x0 - pad, x1 + pad

    def to_px(xv, yv):
        return (area.left() + (np.asarray(xv) - x0) / (x1 - x0) * area.width(),
                area.bottom() - (np.asarray(yv) - y0) / (y1 - y0) * area.height())

    image = QImage(w, h, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    p = QPainter(image)
    try:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setFont(QFont("sans-serif", 10))
        _axes(p, area, (x0, x1), (y0, y1), to_px, evidence_label if evidence is not None else "-log10 quasi-p")
        for mask, colour, alpha in ((ok & ~called, NS_COLOUR, 110), (ok & called & up, UP_COLOUR, 230),
                                    (ok & called & ~up, DOWN_COLOUR, 230)):
            px, py = to_px(x[mask], y[mask])
            p.setPen(QPen(QColor(*colour, alpha), 4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            for i in range(0, len(px), _BATCH):  # Qt holds the GIL while it draws: short calls
                p.drawPoints(arrayToQPolygonF(px[i:i + _BATCH], py[i:i + _BATCH]))  # no Python object per point
        _guides(p, area, to_px, y[ok & called], fixed_effect)
        _label_gene(p, frame, x, y, highlight, to_px)
        p.setFont(QFont("sans-serif", 12, QFont.Weight.Bold))
        p.setPen(QColor("black"))
        p.drawText(QRectF(0, 8, w, 30), Qt.AlignmentFlag.AlignHCenter,
                   f"{term} (FDR ≤ {fdr:g}; {int(called.sum())} calls)" if term else f"{int(called.sum())} calls")
    finally:
        p.end()
    with atomic_path(path) as tmp:
        if not image.save(str(tmp), "PNG"):
            raise OSError(f"could not write {Path(path).name}")
    return Path(path)


def _axes(p: QPainter, area: QRectF, xr, yr, to_px, ylabel: str) -> None:
    p.setPen(QPen(QColor(60, 60, 60), 1))
    p.drawRect(area)
    for v in _ticks(*xr):
        px, _ = to_px(v, yr[0])
        p.drawLine(QPointF(px, area.bottom()), QPointF(px, area.bottom() + 5))
        p.drawText(QRectF(px - 40, area.bottom() + 6, 80, 18), Qt.AlignmentFlag.AlignHCenter, f"{v:g}")
    for v in _ticks(*yr):
        _, py = to_px(xr[0], v)
        p.drawLine(QPointF(area.left() - 5, py), QPointF(area.left(), py))
        p.drawText(QRectF(area.left() - 60, py - 9, 52, 18), Qt.AlignmentFlag.AlignRight, f"{v:g}")
    p.drawText(QRectF(area.left(), area.bottom() + 28, area.width(), 20), Qt.AlignmentFlag.AlignHCenter,
               "coefficient (gene effect in this term)")
    p.save()
    p.translate(18, area.center().y())
    p.rotate(-90)
    p.drawText(QRectF(-area.height() / 2, -10, area.height(), 20), Qt.AlignmentFlag.AlignHCenter, ylabel)
    p.restore()


def _guides(p: QPainter, area: QRectF, to_px, called_y: np.ndarray, fixed_effect: float | None) -> None:
    p.setPen(QPen(QColor(90, 90, 90), 1, Qt.PenStyle.DashLine))
    if called_y.size:
        _, py = to_px(0.0, float(called_y.min()))
        p.drawLine(QPointF(area.left(), py), QPointF(area.right(), py))
    if fixed_effect is not None and np.isfinite(fixed_effect):
        px, _ = to_px(float(fixed_effect), 0.0)
        p.setPen(QPen(QColor(120, 120, 120), 1))
        p.drawLine(QPointF(px, area.top()), QPointF(px, area.bottom()))


def _label_gene(p: QPainter, frame: pd.DataFrame, x, y, gene: str | None, to_px) -> None:
    hits = np.flatnonzero(frame["gene"].astype(str).to_numpy() == gene) if gene else []
    if len(hits) and np.isfinite(x[hits[0]]) and np.isfinite(y[hits[0]]):
        px, py = to_px(x[hits[0]], y[hits[0]])
        p.setPen(QPen(QColor("black"), 2))
        p.drawEllipse(QPointF(px, py), 7, 7)
        p.drawText(QPointF(px + 10, py - 8), str(gene))
