"""Volcano plot of one term: coefficient against the evidence behind the app's calls (or
-log10 quasi-p), FDR threshold line, clickable points."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import Signal

UP_COLOUR = (200, 40, 40)
DOWN_COLOUR = (40, 90, 200)
NS_COLOUR = (150, 150, 150)


def p_threshold(pvalues: np.ndarray, fdr: np.ndarray, level: float) -> float | None:
    """Largest raw p among genes with FDR <= ``level`` (where the FDR line sits), or None if none pass."""
    p = np.asarray(pvalues, dtype=float)
    q = np.asarray(fdr, dtype=float)
    ok = np.isfinite(p) & np.isfinite(q) & (q <= level)
    return float(p[ok].max()) if ok.any() else None


def neg_log10(p: np.ndarray) -> np.ndarray:
    """-log10 p, with p = 0 capped at the smallest positive double (so points stay on the plot)."""
    p = np.asarray(p, dtype=float)
    return -np.log10(np.clip(p, np.finfo(float).tiny, None))


class VolcanoWidget(pg.PlotWidget):
    """Volcano of one term. Emits ``gene_clicked(gene)`` when a point is clicked; ``highlight(gene)`` rings one."""

    gene_clicked = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent, background="w")
        self.setObjectName("volcanoPlot")
        self.plotItem.showGrid(x=True, y=True, alpha=0.2)
        self.plotItem.setLabel("bottom", "coefficient")
        self.plotItem.setLabel("left", "-log10 quasi-p")
        self.scatter = pg.ScatterPlotItem(size=6, pen=None, hoverable=True, tip=self._tip)
        self.scatter.sigClicked.connect(self._on_clicked)
        self.plotItem.addItem(self.scatter)
        self.marker = pg.ScatterPlotItem(size=16, pen=pg.mkPen((0, 0, 0), width=2), brush=None, symbol="o")
        self.plotItem.addItem(self.marker)
        self.fdr_line = pg.InfiniteLine(angle=0, pen=pg.mkPen((90, 90, 90), style=pg.QtCore.Qt.PenStyle.DashLine))
        self.zero_line = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen((160, 160, 160)))
        self.plotItem.addItem(self.fdr_line)
        self.plotItem.addItem(self.zero_line)
        self.genes: np.ndarray = np.array([], dtype=object)
        self.x = np.array([])
        self.y = np.array([])
        self.significant = np.array([], dtype=bool)
        self.up = np.array([], dtype=bool)
        self.term = ""
        self.fdr_level = 0.05

    def _tip(self, x: float, y: float, data: object) -> str:
        return f"{data}\ncoefficient {x:.4g}\nevidence {y:.3g}"

    def set_data(self, frame: pd.DataFrame | None, *, fdr: float = 0.05, term: str = "",
                 fixed_effect: float | None = None, evidence: np.ndarray | None = None,
                 evidence_label: str = "-log10 quasi-p") -> None:
        """Plot ``frame`` (columns gene, coefficient, quasi_p, quasi_fdr[, fdr, random_effect]).

        The y axis is ``evidence`` (one value per row, e.g. the app's ranking score) or
        -log10 quasi-p. Genes with FDR (``fdr`` column, else quasi-FDR) <= ``fdr`` are
        coloured red (above the transcriptome-wide effect, i.e. random effect > 0) or blue
        (below); the dashed line marks the weakest call; the vertical line ``fixed_effect``.
        """
        self.plotItem.setLabel("left", evidence_label if evidence is not None else "-log10 quasi-p")
        self.term, self.fdr_level = term, float(fdr)
        self.plotItem.setTitle(f"{term} (FDR ≤ {fdr:g})" if term else None, color="k")
        if frame is None or not len(frame):
            self.genes, self.x, self.y = np.array([], dtype=object), np.array([]), np.array([])
            self.significant = np.array([], dtype=bool)
            self.scatter.setData([])
            self.marker.setData([])
            self.fdr_line.hide()
            return
        self.genes = frame["gene"].astype("string").to_numpy(dtype=object, na_value="")
        self.x = frame["coefficient"].to_numpy(dtype=float, na_value=np.nan)
        p = frame["quasi_p"].to_numpy(dtype=float, na_value=np.nan)
        q = frame["quasi_fdr"].to_numpy(dtype=float, na_value=np.nan)
        if "fdr" in frame.columns:  # the app's calls
            q = frame["fdr"].to_numpy(dtype=float, na_value=np.nan)
        self.y = neg_log10(p) if evidence is None else np.asarray(evidence, dtype=float)
        self.significant = np.nan_to_num(q, nan=np.inf) <= self.fdr_level
        finite = np.isfinite(self.x) & np.isfinite(self.y)
        brushes = np.empty(len(self.x), dtype=object)
        colours = {"up": pg.mkBrush(*UP_COLOUR, 220), "down": pg.mkBrush(*DOWN_COLOUR, 220),
                   "ns": pg.mkBrush(*NS_COLOUR, 120)}
        brushes[:] = colours["ns"]
        if "random_effect" in frame.columns:
            up = frame["random_effect"].to_numpy(dtype=float, na_value=np.nan) > 0
        else:
            up = self.x > (fixed_effect or 0.0)
        self.up = up
        brushes[self.significant & up] = colours["up"]
        brushes[self.significant & ~up] = colours["down"]
        self.zero_line.setValue(0.0 if fixed_effect is None or not np.isfinite(fixed_effect) else float(fixed_effect))
        self.scatter.setData(x=self.x[finite], y=self.y[finite], data=self.genes[finite],
                             brush=list(brushes[finite]))
        sig_y = self.y[self.significant & np.isfinite(self.y)]
        if sig_y.size == 0:
            self.fdr_line.hide()
        else:
            self.fdr_line.setValue(float(sig_y.min()))
            self.fdr_line.show()
        self.marker.setData([])
        self.plotItem.autoRange()

    def highlight(self, gene: str | None) -> None:
        """Ring the point of ``gene`` (None or unknown gene clears the ring)."""
        hits = np.flatnonzero(self.genes == gene) if gene else np.array([], dtype=int)
        if hits.size and np.isfinite(self.x[hits[0]]) and np.isfinite(self.y[hits[0]]):
            i = hits[0]
            self.marker.setData(x=[self.x[i]], y=[self.y[i]], data=[gene])
        else:
            self.marker.setData([])

    def highlighted_gene(self) -> str | None:
        data = self.marker.data["data"] if len(self.marker.data) else []
        return str(data[0]) if len(data) else None

    def point_position(self, gene: str) -> tuple[float, float]:
        """Data coordinates of ``gene``'s point (for tests and tooltips)."""
        i = int(np.flatnonzero(self.genes == gene)[0])
        return float(self.x[i]), float(self.y[i])

    def _on_clicked(self, _item, points, _event=None) -> None:
        if len(points):
            self.gene_clicked.emit(str(points[0].data()))
