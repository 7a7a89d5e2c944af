"""Per-gene view: bulk expression against one cell proportion, coloured by a covariate, with fitted lines.

The fitted line for a covariate group is the model's prediction along the chosen proportion with
every other design column held at the group's mean: on the design columns it moves the cell's
own column (slope 1) and that cell's interaction columns (slope = covariate value), so the line's
slope is ``beta_cell + sum_p z_p * beta_cell.p`` exactly as the FastMix model implies.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127)]
MAX_GROUPS = 6


def covariate_groups(values: np.ndarray, max_groups: int = MAX_GROUPS) -> tuple[np.ndarray, list[float]]:
    """Group codes (0..G-1) of a covariate with few distinct values; one group if it is continuous."""
    v = np.asarray(values, dtype=float)
    levels = np.unique(np.round(v[np.isfinite(v)], 10))
    if 1 < levels.size <= max_groups:
        codes = np.searchsorted(levels, np.round(v, 10))
        return codes, [float(x) for x in levels]
    return np.zeros(v.size, dtype=int), []


def fitted_line(X: np.ndarray, names: list[str], kinds: list[str], coef: np.ndarray, cell: str,
                rows: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Model prediction along ``grid`` (values of ``cell``'s proportion) at the mean design row of ``rows``."""
    base = X[rows].mean(axis=0)
    k = names.index(cell)
    slope_dir = np.zeros(X.shape[1])
    slope_dir[k] = 1.0
    prefix = f"{cell}."
    for j, (name, kind) in enumerate(zip(names, kinds)):
        if kind == "interaction" and name.startswith(prefix):
            cov_name = name[len(prefix):]
            if cov_name in names:
                slope_dir[j] = base[names.index(cov_name)]
    rows_grid = base[None, :] + (grid - base[k])[:, None] * slope_dir[None, :]
    return rows_grid @ coef


class GeneViewWidget(QWidget):
    """Scatter of one gene's expression vs a chosen cell proportion, coloured by a covariate."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("geneView")
        self.cell_combo = QComboBox(objectName="geneViewCell")
        self.colour_combo = QComboBox(objectName="geneViewColour")
        self.info = QLabel("", objectName="geneViewInfo")
        self.info.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Proportion:"))
        top.addWidget(self.cell_combo)
        top.addWidget(QLabel("Colour by:"))
        top.addWidget(self.colour_combo)
        top.addStretch(1)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("geneViewPlot")
        self.plot.plotItem.showGrid(x=True, y=True, alpha=0.2)
        self.legend = self.plot.plotItem.addLegend(offset=(10, 10), labelTextColor="k")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.info)
        self.cell_combo.currentTextChanged.connect(lambda _t: self.redraw())
        self.colour_combo.currentTextChanged.connect(lambda _t: self.redraw())
        self.gene: str | None = None
        self._X = np.zeros((0, 0))
        self._names: list[str] = []
        self._kinds: list[str] = []
        self._samples: list[str] = []
        self._coef: pd.DataFrame | None = None
        self._fitted: pd.DataFrame | None = None
        self._expression: pd.DataFrame | None = None
        self.curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.points: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._center: dict = {}
        self._scale: dict = {}

    def set_model(self, design, coef: pd.DataFrame | None, fitted: pd.DataFrame | None,
                  expression: pd.DataFrame | None = None) -> None:
        """Take the fitted design (``design_``), ``coef_``, ``fitted_`` and, if known, the observed expression."""
        self._X = np.asarray(design.X, dtype=float)
        self._names = [str(n) for n in design.names]
        self._kinds = [str(k) for k in design.kinds]
        self._samples = [str(s) for s in design.samples]
        self._coef, self._fitted = coef, fitted
        self._center = dict(getattr(design, "center", None) or {})
        self._scale = dict(getattr(design, "scale", None) or {})
        self._expression = expression
        cells = [n for n, k in zip(self._names, self._kinds) if k == "cell"]
        covs = [n for n, k in zip(self._names, self._kinds) if k == "covariate"]
        for combo, items in ((self.cell_combo, cells), (self.colour_combo, ["(none)", *covs])):
            old = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(items)
            if old in items:
                combo.setCurrentText(old)
            elif combo is self.colour_combo and covs:
                combo.setCurrentText(covs[0])
            combo.blockSignals(False)
        self.redraw()

    def _original(self, name: str, value: float) -> float:
        """Undo the design's standardisation of a covariate (so groups read as 0/1, not +-0.98)."""
        try:
            v = float(value) * float(self._scale.get(name, 1.0)) + float(self._center.get(name, 0.0))
            return round(v, 9) + 0.0  # 0/1 codes read back exactly (no -1e-16)
        except (TypeError, ValueError, AttributeError):
            return float(value)

    def _group_label(self, name: str, value: float) -> str:
        """Legend text of a colour group: ``Group: treated`` / ``Group: reference level`` for a
        text covariate's indicator ``Group[treated]``, ``Age = 45`` for a number."""
        v = self._original(name, value)
        m = re.fullmatch(r"(.+)\[(.+)\]", name)
        if m and v in (0.0, 1.0):
            return f"{m.group(1)}: {m.group(2)}" if v == 1.0 else f"{m.group(1)}: reference level"
        return f"{name} = {v:.3g}"

    def show_gene(self, gene: str | None) -> None:
        self.gene = gene
        self.redraw()

    def _values(self, gene: str) -> tuple[np.ndarray, str]:
        """Observed expression of ``gene`` across the design samples, else the fitted values."""
        if self._expression is not None and gene in self._expression.index:
            row = self._expression.loc[gene]
            cols = [s for s in self._samples if s in row.index]
            if len(cols) == len(self._samples):
                return row[cols].to_numpy(dtype=float, na_value=np.nan), "expression"
        if self._fitted is not None and gene in self._fitted.index:
            return self._fitted.loc[gene, list(self._samples)].to_numpy(dtype=float, na_value=np.nan), "fitted value"
        return np.full(len(self._samples), np.nan), "expression"

    def redraw(self) -> None:
        item = self.plot.plotItem
        item.clear()
        self.legend.clear()
        self.curves = {}
        self.points = {}
        cell = self.cell_combo.currentText()
        if not self.gene or not cell or cell not in self._names or self._coef is None \
                or self.gene not in self._coef.index:
            item.setTitle("Select a gene in the table" if self._names else None, color="k")
            self.info.setText("")
            return
        y, ylabel = self._values(self.gene)
        x = self._X[:, self._names.index(cell)]
        colour_by = self.colour_combo.currentText()
        if colour_by in self._names:
            codes, levels = covariate_groups(self._X[:, self._names.index(colour_by)])
        else:
            codes, levels = np.zeros(len(x), dtype=int), []
        coef = self._coef.loc[self.gene, self._names].to_numpy(dtype=float, na_value=0.0)
        grid = np.linspace(np.nanmin(x), np.nanmax(x), 50) if np.isfinite(x).any() else np.zeros(0)
        n_groups = max(1, len(levels))
        for g in range(n_groups):
            rows = np.flatnonzero(codes == g)
            if not rows.size:
                continue
            colour = PALETTE[g % len(PALETTE)]
            label = self._group_label(colour_by, levels[g]) if levels else "all samples"
            item.addItem(pg.ScatterPlotItem(x[rows], y[rows], size=8, pen=pg.mkPen("k", width=0.5),
                                            brush=pg.mkBrush(*colour, 200), name=label))
            line = fitted_line(self._X, self._names, self._kinds, coef, cell, rows, grid)
            self.curves[label] = (grid, line)
            self.points[label] = (x[rows], y[rows])
            item.addItem(pg.PlotDataItem(grid, line, pen=pg.mkPen(colour, width=2)))
        for side in ("bottom", "left"):  # fractions read as 0.2-0.8, not "(x0.001)" with ticks 200-800
            item.getAxis(side).enableAutoSIPrefix(False)
        item.setLabel("bottom", f"{cell} (fraction of cells)")
        item.setLabel("left", f"{self.gene} {ylabel}")
        item.setTitle(self.gene, color="k")
        self.info.setText(
            "Lines: fitted model along the proportion, other design columns at the group mean"
            + ("" if ylabel == "expression" else "; observed expression not loaded, points are fitted values"))

    def export_item(self):
        return self.plot.getPlotItem()
