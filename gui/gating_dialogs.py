"""Dialogs of the Gating tab: spillover editor, DAFi settings, auto-tune review, batch results."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.plots.density import histogram2d, log_density
from study.export import safe_frame, write_csv
from study.files import atomic_path
from study.gating_settings import DafiSettings


# ---------------------------------------------------------------------------
class SpilloverDialog(QDialog):
    """Edit a spillover matrix (rows = spilling detector, columns = receiving detector)."""

    def __init__(self, detectors: list[str], matrix: np.ndarray, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Spillover matrix")
        self.detectors = list(detectors)
        m = np.asarray(matrix, dtype=np.float64)
        self.table = QTableWidget(len(detectors), len(detectors))
        self.table.setHorizontalHeaderLabels(self.detectors)
        self.table.setVerticalHeaderLabels(self.detectors)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                self.table.setItem(i, j, QTableWidgetItem(f"{m[i, j]:.6g}"))
        self.error = QLabel()
        self.error.setStyleSheet("color: #c00000")
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Fraction of each row detector's signal seen in each column detector."))
        lay.addWidget(self.table)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self.resize(120 + 90 * len(detectors), 160 + 32 * len(detectors))

    def matrix(self) -> np.ndarray:
        """The edited matrix; raises ValueError naming the bad cell."""
        n = len(self.detectors)
        out = np.empty((n, n))
        for i in range(n):
            for j in range(n):
                text = self.table.item(i, j).text().strip()
                try:
                    out[i, j] = float(text)
                except ValueError:
                    raise ValueError(f"cell {self.detectors[i]} / {self.detectors[j]} is not a number: {text!r}") from None
        if np.linalg.matrix_rank(out) < n:
            raise ValueError("the matrix is singular (cannot be inverted for compensation)")
        return out

    def _accept(self) -> None:
        try:
            self.matrix()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


# ---------------------------------------------------------------------------
class DafiSettingsDialog(QDialog):
    """Global DAFi settings: number of clusters, seed and clustering channels (no channel chosen: all)."""

    def __init__(self, channels: list[str], settings: DafiSettings | Mapping, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("DAFi settings")
        if not isinstance(settings, DafiSettings):
            settings = DafiSettings.from_dict(settings)
        self._base = settings
        self.k = QSpinBox()
        self.k.setRange(2, 1000)
        self.k.setValue(settings.k)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(settings.seed)
        self.channels = QListWidget()
        chosen = set(settings.channels)
        for ch in channels:
            it = QListWidgetItem(ch)
            it.setFlags(it.flags() | Qt.ItemIsUserCheckable)
            it.setCheckState(Qt.Checked if (not chosen or ch in chosen) else Qt.Unchecked)
            self.channels.addItem(it)
        form = QFormLayout(self)
        form.addRow("Clusters (k)", self.k)
        form.addRow("Random seed", self.seed)
        form.addRow("Channels", self.channels)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> DafiSettings:
        """The settings given, with the k, seed and channels chosen here."""
        chans = [self.channels.item(i).text() for i in range(self.channels.count())
                 if self.channels.item(i).checkState() == Qt.Checked]
        return dataclasses.replace(self._base, k=self.k.value(), seed=self.seed.value(), channels=tuple(chans))


# ---------------------------------------------------------------------------
class _Thumb(pg.PlotWidget):
    def __init__(self, x, y, old_xy, new_xy, title: str, image=None, x_range=None, y_range=None,
                 x_ticks=None, y_ticks=None) -> None:
        super().__init__(background="w")
        self.setFixedSize(220, 200)
        pi = self.getPlotItem()
        pi.setTitle(title, color="k", size="9pt")
        pi.hideButtons()
        self.setMouseEnabled(False, False)
        from gui.plots.density import data_range
        xr = x_range if x_range is not None else data_range(x)
        yr = y_range if y_range is not None else data_range(y)
        if image is None:  # binned here only when the caller did not (the auto-tune job bins in its worker)
            image = log_density(histogram2d(x, y, bins=96, x_range=xr, y_range=yr))
        img = pg.ImageItem(image, axisOrder="col-major")
        img.setColorMap(pg.colormap.get("viridis"))
        from PySide6.QtCore import QRectF
        img.setRect(QRectF(xr[0], yr[0], xr[1] - xr[0], yr[1] - yr[0]))
        pi.addItem(img)
        pi.getAxis("bottom").setTicks(x_ticks)  # decades in data units on transformed axes
        pi.getAxis("left").setTicks(y_ticks)

        def clipped(xy):  # open sides run to +-1e12: clip them just outside the view, or Qt draws nothing
            xs, ys = (np.asarray(v, dtype=float) for v in xy)
            dx, dy = xr[1] - xr[0], yr[1] - yr[0]
            return np.clip(xs, xr[0] - dx, xr[1] + dx), np.clip(ys, yr[0] - dy, yr[1] + dy)

        if old_xy is not None:
            pi.plot(*clipped(old_xy), pen=pg.mkPen("#7f7f7f", width=1.5, style=Qt.DashLine), connect="finite")
        if new_xy is not None:
            pi.plot(*clipped(new_xy), pen=pg.mkPen("#d62728", width=2), connect="finite")
        pi.setRange(xRange=xr, yRange=yr, padding=0)


class AutoTuneDialog(QDialog):
    """Grid of per-sample thumbnails: the adapted gate (red) over the template (grey dashed).

    ``thumbs`` is a list of dicts with keys ``sample``, ``x``, ``y``, ``old``, ``new`` (outline
    arrays or None), ``shift`` (float) and ``error`` (str or None). Checked samples are accepted.
    """

    def __init__(self, gate_id: str, thumbs: list[dict], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Auto-tune: {gate_id}")
        self.checks: dict[str, QCheckBox] = {}
        self.shift_labels: dict[str, QLabel] = {}
        grid = QGridLayout()
        for i, t in enumerate(thumbs):
            cell = QVBoxLayout()
            if t.get("error"):
                lab = QLabel(f"{t['sample']}\n{t['error']}")
                lab.setStyleSheet("color: #c00000")
                lab.setWordWrap(True)
                lab.setFixedWidth(220)
                cell.addWidget(lab)
            else:
                cell.addWidget(_Thumb(t.get("x"), t.get("y"), t.get("old"), t.get("new"), t["sample"],
                                      t.get("image"), t.get("x_range"), t.get("y_range"), t.get("x_ticks"),
                                      t.get("y_ticks")))
                moved = QLabel(t.get("shift_text") or f"moved {t['shift']:.3g} of the axis span")
                moved.setWordWrap(True)
                moved.setFixedWidth(220)
                self.shift_labels[t["sample"]] = moved
                cell.addWidget(moved)
                box = QCheckBox("accept adapted gate")
                box.setChecked(bool(t.get("accepted", t["shift"] > 0)))
                self.checks[t["sample"]] = box
                cell.addWidget(box)
            w = QWidget()
            w.setLayout(cell)
            grid.addWidget(w, i // 4, i % 4)
        inner = QWidget()
        inner.setLayout(grid)
        scroll = QScrollArea()
        scroll.setWidget(inner)
        scroll.setWidgetResizable(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Grey dashed: template gate. Red: gate adapted to the sample. "
                             "Unchecked samples keep the template."))
        lay.addWidget(scroll)
        lay.addWidget(buttons)
        self.resize(960, 560)

    def accepted_samples(self) -> list[str]:
        return [s for s, b in self.checks.items() if b.isChecked()]


# ---------------------------------------------------------------------------
def _short(population: str) -> str:
    """Last part of a population path: "Singlets/Live/Neutrophils" -> "Neutrophils"."""
    return str(population).rsplit("/", 1)[-1]


def counts_wide(counts: pd.DataFrame) -> pd.DataFrame:
    """Tidy counts -> sample x population table with ``<pop> count`` and ``<pop> %parent``."""
    if counts.empty:
        return pd.DataFrame()
    c = counts.pivot_table(index="sample", columns="population", values="count", aggfunc="first", sort=False)
    p = counts.pivot_table(index="sample", columns="population", values="pct_parent", aggfunc="first", sort=False)
    cols = {}
    for pop in c.columns:
        cols[f"{pop} count"] = c[pop].astype("int64")
        cols[f"{pop} %parent"] = p[pop].round(2)
    out = pd.DataFrame(cols)
    out.index.name = "sample"
    return out


def proportions_from_counts(counts: pd.DataFrame, populations: list[str]) -> pd.DataFrame:
    """Fractions of the chosen populations per sample (rows sum to 1): FastMix cell proportions."""
    sub = counts[counts["population"].isin(populations)]
    wide = sub.pivot_table(index="sample", columns="population", values="count", aggfunc="first", sort=False)
    wide = wide.reindex(columns=populations).astype(np.float64)
    total = wide.sum(axis=1).replace(0.0, np.nan)
    out = wide.div(total, axis=0)
    out.columns = [str(p).rsplit("/", 1)[-1] for p in out.columns]
    out.index.name = "sample"
    return out


class BatchResultsDialog(QDialog):
    """Sample x population table (count and % parent) after "Apply to all".

    Ctrl+C copies the selection (tab-separated). Checked populations become the project's
    cell proportions (``project.proportions``) with "Use as cell proportions".
    """

    def __init__(self, counts: pd.DataFrame, errors: dict[str, str], project=None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Gating results: all samples")
        self.counts = counts
        self.errors = dict(errors)
        self.project = project
        self.wide = counts_wide(counts)
        self.table = QTableWidget(len(self.wide), len(self.wide.columns))
        # full paths ("Singlets/Leukocytes/Live/Neutrophils count") do not fit a column: the header
        # shows the population's own name over "count" / "% parent", the tooltip the whole path
        for j, col in enumerate(self.wide.columns):
            path, _, what = str(col).rpartition(" ")
            head = QTableWidgetItem(f"{_short(path)}\n{'count' if what == 'count' else '% parent'}")
            head.setToolTip(str(col))
            self.table.setHorizontalHeaderItem(j, head)
        self.table.setVerticalHeaderLabels([str(i) for i in self.wide.index])
        vals = self.wide.to_numpy()
        for i in range(vals.shape[0]):
            for j in range(vals.shape[1]):
                v = vals[i, j]
                item = QTableWidgetItem("" if pd.isna(v) else (f"{int(v):,}" if j % 2 == 0 else f"{v:.2f}"))
                item.setData(Qt.UserRole, None if pd.isna(v) else float(v))
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(i, j, item)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.resizeColumnsToContents()
        QShortcut(QKeySequence.Copy, self.table, activated=self.copy_selection)
        self.populations = QListWidget()
        pops = list(dict.fromkeys(counts["population"])) if not counts.empty else []
        for pop in pops:
            it = QListWidgetItem("   " * str(pop).count("/") + _short(pop))
            it.setData(Qt.UserRole, pop)
            it.setToolTip(pop)
            it.setFlags(it.flags() | Qt.ItemIsUserCheckable)
            it.setCheckState(Qt.Unchecked)
            self.populations.addItem(it)
        self.use_button = QPushButton("Use as cell proportions")
        self.use_button.clicked.connect(self.use_as_proportions)
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.clicked.connect(lambda: self._export_dialog("csv"))
        self.xlsx_button = QPushButton("Export Excel…")
        self.xlsx_button.clicked.connect(lambda: self._export_dialog("xlsx"))
        side = QVBoxLayout()
        side.addWidget(QLabel("Cell types for FastMix:"))
        side.addWidget(self.populations)
        side.addWidget(self.use_button)
        side.addWidget(self.csv_button)
        side.addWidget(self.xlsx_button)
        top = QHBoxLayout()
        top.addWidget(self.table, 3)
        top.addLayout(side, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        if self.errors:
            err = QLabel("Not gated:\n" + "\n".join(f"{Path(k).name}: {v}" for k, v in self.errors.items()))
            err.setStyleSheet("color: #c00000")
            err.setWordWrap(True)
            err.setObjectName("batchErrors")
            lay.addWidget(err)
        close = QDialogButtonBox(QDialogButtonBox.Close)
        close.rejected.connect(self.reject)
        lay.addWidget(close)
        self.resize(1000, 500)

    def set_checked(self, populations: list[str]) -> None:
        for i in range(self.populations.count()):
            it = self.populations.item(i)
            it.setCheckState(Qt.Checked if it.data(Qt.UserRole) in populations else Qt.Unchecked)

    def checked_populations(self) -> list[str]:
        """Full population paths of the checked rows."""
        return [self.populations.item(i).data(Qt.UserRole) for i in range(self.populations.count())
                if self.populations.item(i).checkState() == Qt.Checked]

    def selection_text(self) -> str:
        """Selected cells as TSV with headers (whole table if nothing is selected)."""
        idx = self.table.selectedIndexes()
        rows = sorted({i.row() for i in idx}) or list(range(self.table.rowCount()))
        cols = sorted({i.column() for i in idx}) or list(range(self.table.columnCount()))
        lines = ["sample\t" + "\t".join(str(self.wide.columns[c]) for c in cols)]
        for r in rows:
            cells = []
            for c in cols:
                v = self.table.item(r, c).data(Qt.UserRole)
                cells.append("" if v is None else (str(int(v)) if c % 2 == 0 else f"{v:.2f}"))
            lines.append(self.table.verticalHeaderItem(r).text() + "\t" + "\t".join(cells))
        return "\n".join(lines) + "\n"

    def copy_selection(self) -> None:
        QApplication.clipboard().setText(self.selection_text())

    def export(self, path: str | os.PathLike) -> Path:
        """Write the table to CSV or Excel (by suffix), atomically."""
        path = Path(path)
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            with atomic_path(path) as tmp:
                safe_frame(self.wide).to_excel(tmp, sheet_name="gating")
        else:
            write_csv(self.wide, path, index=True)
        return path

    def _export_dialog(self, kind: str) -> None:
        flt = "Excel workbook (*.xlsx)" if kind == "xlsx" else "CSV (*.csv)"
        path, _ = QFileDialog.getSaveFileName(self, "Export gating results", f"gating_counts.{kind}", flt)
        if path:
            try:
                self.export(path)
            except OSError as exc:
                QMessageBox.warning(self, "Export failed", f"{path}: {exc}")

    def use_as_proportions(self) -> pd.DataFrame | None:
        pops = self.checked_populations()
        if not pops:
            QMessageBox.information(self, "Cell proportions", "Check at least one population first.")
            return None
        props = proportions_from_counts(self.counts, pops)
        if self.project is not None:
            self.project.proportions = props
        return props
