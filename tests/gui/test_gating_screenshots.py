"""Screenshots of the Gating tab (gates with counts, tree) via QWidget.grab().

PNGs go to tmp_path and, if set, to $FASTMIX_SCREENSHOT_DIR for a human to look at.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from gui.plots.gate_items import shape_to_gate


@pytest.fixture
def tab(gating_tab):
    return gating_tab


def test_gating_screenshots(qtbot, tab, tmp_path):

    folders = [tmp_path]
    if os.environ.get("FASTMIX_SCREENSHOT_DIR"):
        folders.append(Path(os.environ["FASTMIX_SCREENSHOT_DIR"]))
    strategy = tab.project.strategy
    first = strategy.children(None)[0]
    tab.select_population(first)
    qtbot.wait(50)
    shots = {"gating_tab_gates": tab}
    # add a rectangle under the first gate so the plot shows gates with counts
    x0, x1 = tab.plot.x_range_
    y0, y1 = tab.plot.y_range_
    s = tab.strategy().copy()
    dims = tab.current_dimensions()
    gate = shape_to_gate("ellipse", np.array([[x0 + 0.55 * (x1 - x0), y0 + 0.05 * (y1 - y0)],
                                              [x0 + 0.9 * (x1 - x0), y0 + 0.35 * (y1 - y0)]]),
                         gate_id="Debris check", parent_id=first, dimensions=dims)
    s.add_gate(gate)
    tab.commit(s, "add")
    qtbot.wait(100)
    written = []
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        for name, widget in shots.items():
            path = folder / f"{name}.png"
            assert widget.grab().save(str(path))
            written.append(path)
        tree = folder / "gating_tree.png"
        assert tab.tree_view.grab().save(str(tree))
        written.append(tree)
        plot = folder / "gating_plot.png"
        assert tab.plot.grab().save(str(plot))
        written.append(plot)
    img = QImage(str(written[0]))
    assert img.width() >= 1000 and img.height() >= 600
    # the density image is drawn: many distinct colours in the plot area
    plot = QImage(str(tmp_path / "gating_plot.png"))
    colours = {plot.pixel(x, y) for x in range(0, plot.width(), 7) for y in range(0, plot.height(), 7)}
    assert len(colours) > 30
    assert "Debris check" in tab.gate_items and "%" in tab.gate_items["Debris check"].label.textItem.toPlainText()
