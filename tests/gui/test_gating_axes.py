"""Density plot axes in data units: decade ticks on logicle/biex/asinh/log axes, plain numbers on
linear ones, and transform names (not channel names) in the transform pickers after a FlowJo import."""
from __future__ import annotations

import gc

import numpy as np
import pytest
from PySide6.QtCore import Qt

from gui.gating_tab import GatingTab
from gui.project_model import ProjectModel
from gui.workers import JobRunner
from tests.gui.studies import wait_read
from tests.gui.test_gating_tab import set_axes


def _painted_ticks(tab, name):
    """The labelled ticks {label: position} the axis draws."""
    tab.plot.grab()
    levels = tab.plot.plot_item.getAxis(name)._tickLevels
    return {} if not levels else {label: pos for pos, label in levels[0] if label}


def _value(label: str) -> float:
    """Data value of a decade label ("0", "10³", "-10²")."""
    if label == "0":
        return 0.0
    sign = -1.0 if label[0] in "-−" else 1.0
    exp = label.lstrip("-−")[2:].translate(str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789"))
    return sign * 10.0 ** int(exp)


@pytest.mark.parametrize("kind", ["logicle", "biex", "arcsinh", "log"])
def test_transformed_axes_show_decades_in_data_units(qtbot, gating_tab, kind):
    tab = gating_tab
    set_axes(tab, "FITC-A", "PE-A", kind, "linear")
    ticks = _painted_ticks(tab, "bottom")
    assert {"10³", "10⁴"} <= set(ticks), ticks
    if kind in ("logicle", "biex"):
        assert "0" in ticks
    transform = tab.session.axis_transform(kind)
    for label, pos in ticks.items():  # each label sits where its data value is drawn
        assert pos == pytest.approx(float(transform.apply(np.array([_value(label)]))[0]), abs=1e-9)
    # no 0..1 display units are labelled any more
    assert not any(label in ("0.2", "0.4", "0.6", "0.8") for label in ticks)
    # the linear Y axis keeps pyqtgraph's automatic ticks
    assert tab.plot.plot_item.getAxis("left")._tickLevels is None
    # the axis title names the transform
    assert tab.plot.plot_item.getAxis("bottom").labelText.endswith(f"[{tab.x_transform.currentText()}]")


def test_transform_picker_shows_transform_names_after_flowjo_import(qtbot, shared_dir):
    base = shared_dir / "data" / "fcs" / "flowkit"
    project = ProjectModel()
    project.add_fcs_files([base / "test_data_diamond_01.fcs"])
    jobs = JobRunner()
    w = GatingTab(project, jobs)
    qtbot.addWidget(w)
    w.resize(1280, 760)
    w.show()
    qtbot.waitExposed(w)
    wait_read(qtbot, w)
    w.import_gatingml(base / "test_data_diamond_biex_rect.wsp")
    w.select_population(None)  # the root: the axes follow the first gate (biex on channel_A/channel_B)
    assert w.x_transform.currentData() == "channel_A" and w.y_transform.currentData() == "channel_B"
    assert w.x_transform.currentText() == "biex" and w.y_transform.currentText() == "biex"
    texts = {w.x_transform.itemText(i) for i in range(w.x_transform.count())}
    assert "channel_A" not in texts and "channel_B" not in texts
    assert "channel_A" in w.x_transform.itemData(w.x_transform.currentIndex(), Qt.ToolTipRole)
    ticks = _painted_ticks(w, "bottom")
    assert {"10²", "10³", "10⁴"} <= set(ticks)  # the workspace's own biex (channels 0..4096), in data units
    # picking the built-in linear transform and back works through the data, not the text
    w.x_transform.setCurrentIndex(w.x_transform.findData("linear"))
    assert w.session.axes.x_kind == "linear"
    assert w.plot.plot_item.getAxis("bottom")._tickLevels is None
    jobs.shutdown()
    w.close()
    w.project.strategy = None
    gc.collect()


def test_population_headers_and_toolbar_fit_at_1280_px(qtbot, tmp_path):
    """In a 1280 px window every population column header shows whole, the tree needs no horizontal
    scrolling and no toolbar action is pushed into the overflow menu."""
    from PySide6.QtWidgets import QToolButton

    from gui import settings as st
    from gui.main_window import MainWindow
    from tests.gui.studies import make_study

    paths = make_study(tmp_path, n=2, corrupt=False)
    win = MainWindow(settings=st.make_settings(tmp_path / "s.ini"), interactive=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    from gating.simulate import whole_blood_template

    tab = win.tab_widgets["Gating"]
    strategy = whole_blood_template()
    win.project.strategy = strategy
    win.project.update_section("strategy", strategy.to_dict())
    win.add_fcs_files(paths)
    wait_read(qtbot, tab)
    qtbot.wait(50)
    header = tab.tree_view.header()
    for c in range(header.count()):
        assert header.sectionSize(c) >= header.sectionSizeHint(c), tab.tree_model.headerData(c, Qt.Horizontal)
    assert not tab.tree_view.horizontalScrollBar().isVisible()
    ext = tab.toolbar.findChild(QToolButton, "qt_toolbar_ext_button")
    assert ext is None or not ext.isVisible()
    assert tab.toolbar.width() >= tab.toolbar.sizeHint().width()
    assert win.grab().save(str(tmp_path / "gating_1280.png"))
    win.jobs.shutdown()
