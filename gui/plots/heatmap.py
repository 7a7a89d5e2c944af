"""Heatmap of a labelled square matrix (the FastMix covariance D) with a colour bar and term labels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyqtgraph as pg


def symmetric_limits(values: np.ndarray) -> tuple[float, float]:
    """Colour limits centred on 0 (diverging map), at least a tiny width so a zero matrix still draws."""
    v = np.asarray(values, dtype=float)
    vmax = float(np.nanmax(np.abs(v))) if v.size and np.isfinite(v).any() else 1.0
    vmax = vmax if vmax > 0 else 1.0
    return -vmax, vmax


class HeatmapWidget(pg.GraphicsLayoutWidget):
    """Matrix as an ``ImageItem``: row i at the top, term names on both axes, diverging colour bar."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("covarianceHeatmap")
        self.setBackground("w")
        self.plot = self.addPlot(row=0, col=0)
        self.plot.invertY(True)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.colour_bar = pg.ColorBarItem(values=(-1, 1), colorMap=pg.colormap.get("CET-D1"),
                                          interactive=False, label="covariance", pen="k")
        self.addItem(self.colour_bar, row=0, col=1)
        self.colour_bar.setImageItem(self.image)
        self.labels: list[str] = []
        self.matrix = np.zeros((0, 0))
        self._texts: list[pg.TextItem] = []

    def set_matrix(self, matrix: pd.DataFrame | None, *, title: str = "Covariance D", annotate: bool = True) -> None:
        """Show ``matrix`` (labels from its index/columns); values written in the cells when small enough."""
        for t in self._texts:
            self.plot.removeItem(t)
        self._texts = []
        if matrix is None or matrix.empty:
            self.image.clear()
            self.labels, self.matrix = [], np.zeros((0, 0))
            return
        self.matrix = matrix.to_numpy(dtype=float, na_value=np.nan)
        self.labels = [str(c) for c in matrix.columns]
        rows = [str(r) for r in matrix.index]
        lo, hi = symmetric_limits(self.matrix)
        self.image.setImage(self.matrix, autoLevels=False)
        self.image.setRect(0, 0, self.matrix.shape[1], self.matrix.shape[0])
        self.colour_bar.setLevels((lo, hi))
        self.plot.setTitle(title, color="k")
        bottom, left = self.plot.getAxis("bottom"), self.plot.getAxis("left")
        # long term names would overlap under the columns: number the columns, name the rows
        short = max(len(n) for n in self.labels) * len(self.labels) <= 40
        bottom.setTicks([[(j + 0.5, name if short else str(j + 1)) for j, name in enumerate(self.labels)]])
        left.setTicks([[(i + 0.5, name if short else f"{name} ({i + 1})") for i, name in enumerate(rows)]])
        left.setWidth(max(40, 8 * max(len(r) for r in rows) + (0 if short else 40)))
        for axis in (bottom, left):
            axis.setTextPen("k")
            axis.setPen("k")
        if annotate and self.matrix.size <= 400:
            for i in range(self.matrix.shape[0]):
                for j in range(self.matrix.shape[1]):
                    v = self.matrix[i, j]
                    text = pg.TextItem("" if np.isnan(v) else f"{v:.2g}", color="k", anchor=(0.5, 0.5))
                    text.setPos(j + 0.5, i + 0.5)
                    self.plot.addItem(text)
                    self._texts.append(text)
        self.plot.autoRange()

    def export_item(self):
        """What the PNG/SVG exporters should render (the whole scene, colour bar included)."""
        return self.scene()
