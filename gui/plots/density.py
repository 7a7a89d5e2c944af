"""Pseudocolour density plot of events: a 2-D histogram drawn as an ``ImageItem``.

1M events are never drawn as points (that takes seconds); they are binned with
one ``np.bincount`` and shown as a log-scaled image with a colour bar. When the
X and Y channels are the same the widget shows a 1-D histogram instead. A
small drawing layer (rectangle, polygon, ellipse, range, quadrant) turns mouse
gestures on the view box into ``shape_drawn(kind, points)`` signals in data
coordinates; turning those into gates is the tab's job.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor

from gui.plots.binning import data_range, histogram2d, log_density

__all__ = ["TOOLS", "DensityPlotWidget", "GateViewBox", "data_range", "histogram2d", "log_density"]

TOOLS = ("select", "rectangle", "polygon", "ellipse", "range", "quadrant")


class GateViewBox(pg.ViewBox):
    """A ViewBox that turns mouse gestures into shapes when a drawing tool is active."""

    shape_drawn = Signal(str, object)  # kind, ndarray of points in data coordinates

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tool = "select"
        self.one_d = False
        self._points: list[tuple[float, float]] = []
        self._drag_start = None
        self._preview = pg.PlotCurveItem(pen=pg.mkPen("#d62728", width=2, style=Qt.DashLine))
        self._preview.setZValue(50)
        self.addItem(self._preview, ignoreBounds=True)

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown drawing tool {tool!r}")
        self.tool = tool
        self._points = []
        self._preview.setData([], [])

    def _data_point(self, ev) -> tuple[float, float]:
        p = self.mapSceneToView(ev.scenePos())
        return float(p.x()), float(p.y())

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (Qt naming)
        if self.tool in ("rectangle", "ellipse", "range") and ev.button() == Qt.LeftButton:
            ev.accept()
            if ev.isStart() or self._drag_start is None:
                # the press as pyqtgraph recorded it (Qt's buttonDownScenePos can lag behind)
                presses = [c for c in getattr(self.scene(), "clickEvents", []) if c.button() == Qt.LeftButton]
                self._drag_start = presses[0].scenePos() if presses else ev.buttonDownScenePos()
            start = self.mapSceneToView(self._drag_start)
            x0, y0 = float(start.x()), float(start.y())
            x1, y1 = self._data_point(ev)
            if self.tool == "range" or self.one_d:
                ylo, yhi = self.viewRange()[1]
                xs, ys = [x0, x0, x1, x1], [ylo, yhi, yhi, ylo]
            elif self.tool == "ellipse":
                t = np.linspace(0, 2 * np.pi, 60)
                xs = (x0 + x1) / 2 + abs(x1 - x0) / 2 * np.cos(t)
                ys = (y0 + y1) / 2 + abs(y1 - y0) / 2 * np.sin(t)
            else:
                xs, ys = [x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0]
            self._preview.setData(np.asarray(xs, float), np.asarray(ys, float))
            if ev.isFinish():
                self._drag_start = None
                self._preview.setData([], [])
                if x0 != x1 and (y0 != y1 or self.tool == "range" or self.one_d):
                    kind = "range" if self.one_d else self.tool
                    self.shape_drawn.emit(kind, np.array([[x0, y0], [x1, y1]]))
            return
        if self.tool == "select":
            super().mouseDragEvent(ev, axis)
        else:
            ev.ignore()

    def mouseClickEvent(self, ev):  # noqa: N802 (Qt naming)
        if ev.button() != Qt.LeftButton or self.tool not in ("polygon", "quadrant"):
            super().mouseClickEvent(ev)
            return
        ev.accept()
        pt = self._data_point(ev)
        if self.tool == "quadrant":
            self.shape_drawn.emit("quadrant", np.array([pt]))
            return
        if ev.double():
            # the first click of a double-click already added this point
            pts = self._points
            self._points = []
            self._preview.setData([], [])
            if len(pts) >= 3:
                self.shape_drawn.emit("polygon", np.array(pts))
            return
        self._points.append(pt)
        xs = [p[0] for p in self._points]
        ys = [p[1] for p in self._points]
        self._preview.setData(np.asarray(xs), np.asarray(ys))


class DensityPlotWidget(pg.GraphicsLayoutWidget):
    """Events of one population as a log-scaled density image with labelled axes and a colour bar."""

    shape_drawn = Signal(str, object)

    def __init__(self, parent=None, *, bins: int = 256, colormap: str = "viridis") -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.bins = bins
        self.view_box = GateViewBox()
        self.view_box.shape_drawn.connect(self.shape_drawn)
        self.plot_item = self.addPlot(row=0, col=0, viewBox=self.view_box)
        self.plot_item.showGrid(x=False, y=False)
        for name in ("left", "bottom"):
            ax = self.plot_item.getAxis(name)
            ax.setPen("k")
            ax.setTextPen("k")
            # transformed scales run ~0..1: "100 (x0.001)" would read as 100, so plain numbers
            ax.enableAutoSIPrefix(False)
        self.plot_item.getAxis("left").setWidth(78)  # room for 6-digit ticks + the label
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setZValue(-10)
        self.plot_item.addItem(self.image)
        self.overlay = pg.ImageItem(axisOrder="col-major")
        self.overlay.setZValue(-5)
        self.plot_item.addItem(self.overlay)
        self.curve = pg.PlotDataItem(stepMode="center", fillLevel=0,
                                     brush=(31, 119, 180, 120), pen=pg.mkPen("#1f77b4", width=1.5))
        self.plot_item.addItem(self.curve)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(colormap),
                                        label="log10 events / bin", interactive=False, width=15)
        self.colorbar.setImageItem(self.image)
        self.addItem(self.colorbar, row=0, col=1)
        self.counts_: np.ndarray | None = None
        self.x_range_: tuple[float, float] = (0.0, 1.0)
        self.y_range_: tuple[float, float] = (0.0, 1.0)
        self.n_events_ = 0

    # ---- drawing tool -------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.view_box.set_tool(tool)

    # ---- data ---------------------------------------------------------
    def set_ticks(self, x_ticks=None, y_ticks=None) -> None:
        """Fixed ticks per axis (``[[(pos, label)...], [minor...]]``, see :mod:`gui.plots.decades`);
        ``None`` gives pyqtgraph's automatic ticks."""
        self.plot_item.getAxis("bottom").setTicks(x_ticks)
        self.plot_item.getAxis("left").setTicks(y_ticks)

    def set_labels(self, x_label: str, y_label: str) -> None:
        self.plot_item.setLabel("bottom", x_label, color="k")
        self.plot_item.setLabel("left", y_label, color="k")

    def set_data(self, x: np.ndarray, y: np.ndarray | None, *, x_label: str = "",
                 y_label: str = "", x_range: tuple[float, float] | None = None,
                 y_range: tuple[float, float] | None = None) -> None:
        """Show events ``(x, y)``; ``y=None`` draws a 1-D histogram of ``x``."""
        x = np.asarray(x, dtype=np.float64)
        self.n_events_ = int(x.size)
        self.x_range_ = x_range or data_range(x)
        self.overlay.clear()
        self.overlay.setVisible(False)
        self.view_box.one_d = y is None
        if y is None:
            self.image.setVisible(False)
            self.colorbar.setVisible(False)
            edges = np.linspace(*self.x_range_, self.bins + 1)
            counts = np.bincount(
                np.clip(((x - edges[0]) / (edges[-1] - edges[0]) * self.bins).astype(np.intp),
                        0, self.bins - 1)[(x >= edges[0]) & (x <= edges[-1])],
                minlength=self.bins) if x.size else np.zeros(self.bins, int)
            self.counts_ = counts
            self.curve.setData(edges, counts.astype(float))
            self.curve.setVisible(True)
            top = float(counts.max()) if counts.size and counts.max() > 0 else 1.0
            self.y_range_ = (0.0, top * 1.05)
            self.set_labels(x_label, "events / bin")
        else:
            y = np.asarray(y, dtype=np.float64)
            self.y_range_ = y_range or data_range(y)
            self.curve.setVisible(False)
            counts = histogram2d(x, y, bins=self.bins, x_range=self.x_range_, y_range=self.y_range_)
            self.counts_ = counts
            img = log_density(counts)
            top = float(np.nanmax(img)) if np.any(counts) else 1.0
            self.image.setImage(img, autoLevels=False, levels=(0.0, max(top, 1e-6)))
            self.colorbar.setLevels((0.0, max(top, 1e-6)))
            x0, x1 = self.x_range_
            y0, y1 = self.y_range_
            self.image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            self.image.setVisible(True)
            self.colorbar.setVisible(True)
            self.set_labels(x_label, y_label)
        self.view_box.setRange(xRange=self.x_range_, yRange=self.y_range_, padding=0)

    def set_overlay(self, x: np.ndarray, y: np.ndarray, color: str = "#e6007e") -> None:
        """Draw a second population (e.g. DAFi-kept events) in one colour over the density."""
        if self.view_box.one_d:
            return
        counts = histogram2d(x, y, bins=self.bins, x_range=self.x_range_, y_range=self.y_range_)
        c = QColor(color)
        rgba = np.zeros(counts.shape + (4,), dtype=np.ubyte)
        rgba[..., 0], rgba[..., 1], rgba[..., 2] = c.red(), c.green(), c.blue()
        if counts.max() > 0:
            alpha = np.log1p(counts) / np.log1p(counts.max())
            rgba[..., 3] = np.where(counts > 0, 90 + 165 * alpha, 0).astype(np.ubyte)
        self.overlay.setImage(rgba, autoLevels=False)
        x0, x1 = self.x_range_
        y0, y1 = self.y_range_
        self.overlay.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.overlay.setVisible(True)

    def clear_overlay(self) -> None:
        self.overlay.clear()
        self.overlay.setVisible(False)
