"""Density plot: binning matches numpy, log colour scale, 1-D mode, drawing gestures."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from gui.plots.density import DensityPlotWidget, data_range, histogram2d, log_density


def test_histogram2d_matches_numpy():
    rng = np.random.default_rng(3)
    x = rng.normal(size=20_000)
    y = rng.normal(size=20_000) * 2 + 1
    xr, yr = (-3.0, 3.0), (-5.0, 7.0)
    ours = histogram2d(x, y, bins=64, x_range=xr, y_range=yr)
    ref, _, _ = np.histogram2d(x, y, bins=64, range=[xr, yr])
    np.testing.assert_array_equal(ours, ref.astype(int))
    assert ours.sum() == np.sum((x >= -3) & (x <= 3) & (y >= -5) & (y <= 7))


def test_log_density_and_range():
    c = np.array([[0, 1], [10, 100]])
    out = log_density(c)
    assert np.isnan(out[0, 0])
    np.testing.assert_allclose(out[1], [1.0, 2.0])
    lo, hi = data_range(np.linspace(0, 100, 100_001))
    assert lo == pytest.approx(0.1 - 0.05 * 99.8, abs=1e-6)
    assert hi == pytest.approx(99.9 + 0.05 * 99.8, abs=1e-6)


def test_widget_image_and_1d(qtbot):
    w = DensityPlotWidget(bins=100)
    qtbot.addWidget(w)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 10, 5000), rng.uniform(0, 1, 5000)
    w.set_data(x, y, x_label="FSC-A", y_label="SSC-A", x_range=(0, 10), y_range=(0, 1))
    assert w.counts_.sum() == 5000
    assert w.plot_item.getAxis("bottom").labelText == "FSC-A"
    assert w.plot_item.getAxis("left").labelText == "SSC-A"
    assert w.image.isVisible() and w.colorbar.isVisible()
    assert w.colorbar.levels()[1] == pytest.approx(np.log10(w.counts_.max()))
    w.set_data(x, None, x_label="FSC-A", x_range=(0, 10))
    assert not w.image.isVisible() and w.curve.isVisible()
    assert w.counts_.shape == (100,) and w.counts_.sum() == 5000
    assert w.plot_item.getAxis("left").labelText == "events / bin"


def _send(widget, kind, pos, buttons=Qt.LeftButton, button=Qt.LeftButton):
    ev = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons,
                     Qt.NoModifier)
    QApplication.sendEvent(widget, ev)


def test_rectangle_gesture_emits_data_coordinates(qtbot):
    w = DensityPlotWidget(bins=50)
    qtbot.addWidget(w)
    w.resize(600, 500)
    w.show()
    qtbot.waitExposed(w)
    rng = np.random.default_rng(1)
    w.set_data(rng.uniform(0, 100, 1000), rng.uniform(0, 100, 1000), x_range=(0, 100),
               y_range=(0, 100))
    w.set_tool("rectangle")
    vb = w.view_box
    got = []
    w.shape_drawn.connect(lambda k, p: got.append((k, p)))
    to_px = lambda x, y: w.mapFromScene(vb.mapViewToScene(QPointF(x, y)))  # noqa: E731
    vp = w.viewport()
    _send(vp, QEvent.MouseButtonPress, to_px(20, 30))
    for t in np.linspace(0, 1, 5)[1:]:
        qtbot.wait(30)
        _send(vp, QEvent.MouseMove, to_px(20 + 40 * t, 30 + 40 * t), button=Qt.NoButton)
    _send(vp, QEvent.MouseButtonRelease, to_px(60, 70), buttons=Qt.NoButton)
    assert len(got) == 1 and got[0][0] == "rectangle"
    np.testing.assert_allclose(got[0][1], [[20, 30], [60, 70]], atol=1.0)
