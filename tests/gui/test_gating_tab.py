"""Gating tab end to end: draw gates with the mouse, undo, transforms, DAFi, batch, save/reopen."""
from __future__ import annotations

import gc

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from gating.gates import PolygonGate, RectangleGate
from gating.sample import read_fcs
from gui.gating_tab import GatingTab
from gui.project_model import ProjectModel
from gui.workers import JobRunner
from tests.gui.studies import N_EVENTS, wait_read


@pytest.fixture
def tab(gating_tab):
    """The Gating tab on 3 simulated donors, a broken file and the whole-blood gates."""
    return gating_tab


def send(widget, kind, pos, buttons=Qt.LeftButton, button=Qt.LeftButton):
    ev = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons, Qt.NoModifier)
    QApplication.sendEvent(widget, ev)


def to_px(tab, x, y):
    vb = tab.plot.view_box
    return tab.plot.mapFromScene(vb.mapViewToScene(QPointF(x, y)))


def drag(qtbot, tab, a, b):
    vp = tab.plot.viewport()
    send(vp, QEvent.MouseButtonPress, to_px(tab, *a))
    for t in np.linspace(0, 1, 6)[1:]:
        qtbot.wait(25)
        p = (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
        send(vp, QEvent.MouseMove, to_px(tab, *p), button=Qt.NoButton)
    send(vp, QEvent.MouseButtonRelease, to_px(tab, *b), buttons=Qt.NoButton)


def double_click(qtbot, vp, pos):
    """What a real double-click delivers: press, release, double-click, release."""
    qtbot.mouseClick(vp, Qt.LeftButton, pos=pos)
    send(vp, QEvent.MouseButtonDblClick, pos)
    send(vp, QEvent.MouseButtonRelease, pos, buttons=Qt.NoButton)


def set_axes(tab, x, y, tx="linear", ty="linear"):
    """Pick axes, then let the plot layout settle (axis widths change with the labels)."""
    sample = tab.sample()
    x, y = (sample.channels[sample.channel_index(c)] for c in (x, y))  # markers allowed
    tab.x_channel.setCurrentIndex(tab.x_channel.findData(x))
    tab.y_channel.setCurrentIndex(tab.y_channel.findData(y))
    tab.x_transform.setCurrentIndex(tab.x_transform.findData(tx))  # by reference: the text is a name
    tab.y_transform.setCurrentIndex(tab.y_transform.findData(ty))
    QApplication.processEvents()
    tab.plot.scene().update()
    QApplication.processEvents()


def truth_count(tab, gate_id, sample_name="donor1"):
    sample = tab.project.samples[sample_name]
    s = tab._with_axes_transforms(tab.project.strategy)
    return s.evaluate(sample).count(gate_id)


def test_samples_listed_with_error_inline(tab):
    m = tab.sample_model
    assert m.names() == ["donor1", "donor2", "donor3", "broken"]
    assert m.ok_names() == ["donor1", "donor2", "donor3"]
    err = m.index(3)
    assert "broken" in m.data(err) and "cannot read" in m.data(err)
    assert m.data(err, Qt.ForegroundRole).name() == "#c00000"
    assert m.data(m.index(0)) == f"donor1  ({N_EVENTS:,} events)"
    assert tab.current_sample == "donor1"


def test_tree_counts_match_gating(tab, qtmodeltester):
    qtmodeltester.check(tab.tree_model)
    sample = tab.project.samples["donor1"]
    res = tab.project.strategy.evaluate(sample)
    for pid in res.membership:
        idx = tab.tree_model.index_of(pid, 1)
        assert idx.isValid(), pid
        assert tab.tree_model.data(idx) == f"{res.count(pid):,}"


def test_draw_rectangle_and_polygon_then_undo(qtbot, tab):
    tab.select_population(None)
    set_axes(tab, "FSC-A", "SSC-A")
    x0, x1 = tab.plot.x_range_
    y0, y1 = tab.plot.y_range_
    n_before = len(tab.project.strategy.gates)
    tab.set_tool("rectangle")
    a = (x0 + 0.2 * (x1 - x0), y0 + 0.1 * (y1 - y0))
    b = (x0 + 0.6 * (x1 - x0), y0 + 0.5 * (y1 - y0))
    drag(qtbot, tab, a, b)
    gate = tab.project.strategy.gates["Rectangle 1"]
    assert isinstance(gate, RectangleGate) and gate.parent_id is None
    assert [d.channel for d in gate.dimensions] == ["FSC-A", "SSC-A"]
    tol = 0.01 * (x1 - x0)
    assert gate.mins[0] == pytest.approx(a[0], abs=tol) and gate.maxs[1] == pytest.approx(b[1], abs=0.01 * (y1 - y0))
    # count against gating/ on the same data, by hand too
    sample = tab.project.samples["donor1"]
    fsc, ssc = sample.events[:, sample.channel_index("FSC-A")], sample.events[:, sample.channel_index("SSC-A")]
    by_hand = int(np.sum((fsc >= gate.mins[0]) & (fsc < gate.maxs[0]) & (ssc >= gate.mins[1]) & (ssc < gate.maxs[1])))
    assert truth_count(tab, "Rectangle 1") == by_hand > 0
    assert tab.count("Rectangle 1")[0] == by_hand
    assert f"{by_hand:,}" in tab.gate_items["Rectangle 1"].label.textItem.toPlainText()

    tab.set_tool("polygon")
    vp = tab.plot.viewport()
    pts = [(0.3, 0.3), (0.8, 0.35), (0.7, 0.8), (0.35, 0.7)]
    pts = [(x0 + u * (x1 - x0), y0 + v * (y1 - y0)) for u, v in pts]
    for p in pts[:-1]:
        qtbot.mouseClick(vp, Qt.LeftButton, pos=to_px(tab, *p))
        qtbot.wait(20)
    double_click(qtbot, vp, to_px(tab, *pts[-1]))
    poly = tab.project.strategy.gates["Polygon 1"]
    assert isinstance(poly, PolygonGate) and len(poly.vertices) == 4
    np.testing.assert_allclose(poly.vertices, pts, atol=0.01 * (x1 - x0))
    assert tab.count("Polygon 1")[0] == truth_count(tab, "Polygon 1") > 0
    assert len(tab.project.strategy.gates) == n_before + 2

    # drag-edit the rectangle ROI programmatically -> new immutable gate, undoable
    item = tab.gate_items["Rectangle 1"]
    item.roi.setPos(QPointF(a[0] + 0.05 * (x1 - x0), a[1]))
    moved = tab.project.strategy.gates["Rectangle 1"]
    assert moved.mins[0] == pytest.approx(a[0] + 0.05 * (x1 - x0), abs=tol)
    stack = tab.project.undo_stack
    stack.undo()
    assert tab.project.strategy.gates["Rectangle 1"].mins[0] == pytest.approx(gate.mins[0])
    stack.undo()
    assert "Polygon 1" not in tab.project.strategy.gates
    stack.undo()
    assert "Rectangle 1" not in tab.project.strategy.gates
    assert "Rectangle 1" not in tab.gate_items


def test_transform_switch_and_tree_edits(qtbot, tab):
    tab.select_population(None)
    set_axes(tab, "CD3", "CD19", "linear", "linear")
    raw_range = tab.plot.x_range_
    tab.x_transform.setCurrentText("logicle")
    assert tab.plot.plot_item.getAxis("bottom").labelText.endswith("[logicle]")
    lo, hi = tab.plot.x_range_
    assert hi - lo < 2.0 < raw_range[1] - raw_range[0]  # logicle scale is ~0..1
    sample = tab.project.samples["donor1"]
    from gating.transforms import make_transform
    ref = make_transform("logicle").apply(sample.events[:, sample.channel_index("CD3")])
    assert tab.plot.counts_.sum() == np.sum((ref >= lo) & (ref <= hi) & np.isfinite(ref) & _in(tab, 1))
    # 1-D histogram when X = Y
    set_axes(tab, "CD3", "CD3", "logicle", "logicle")
    assert tab.plot.curve.isVisible() and not tab.plot.image.isVisible()
    # rename and reparent through the tree model, undoable
    strategy = tab.project.strategy
    leaf = [g for g in strategy.gates if not strategy.children(g)][0]
    assert tab.tree_model.setData(tab.tree_model.index_of(leaf), "Renamed")
    assert "Renamed" in tab.project.strategy.gates and leaf not in tab.project.strategy.gates
    tab.project.undo_stack.undo()
    assert leaf in tab.project.strategy.gates


def _in(tab, axis):
    sample = tab.project.samples["donor1"]
    y = sample.events[:, sample.channel_index("CD19")]
    lo, hi = tab.plot.y_range_
    return (y >= lo) & (y <= hi)


def test_apply_to_all_with_corrupt_file_and_proportions(qtbot, tab, tmp_path):
    with qtbot.waitSignal(tab.batch_finished, timeout=30000):
        tab.apply_to_all()
    counts, errors = tab.batch_
    assert set(errors) == {"broken"}
    assert sorted(counts["sample"].unique()) == ["donor1", "donor2", "donor3"]
    for name in ("donor1", "donor2", "donor3"):
        res = tab.project.strategy.evaluate(read_fcs(tmp_path / f"{name}.fcs")).counts()
        got = counts[counts["sample"] == name].reset_index(drop=True)
        np.testing.assert_array_equal(got["count"].to_numpy(), res["count"].to_numpy())
    dlg = tab.batch_dialog
    assert dlg.findChild(type(dlg.table).__mro__[-3], "batchErrors") is not None or dlg.errors
    pops = [p for p in counts["population"].unique() if p.endswith(("Neutrophils", "Lymphocytes"))]
    assert len(pops) == 2
    dlg.set_checked(pops)
    got = []
    tab.project.proportions_changed.connect(lambda: got.append(1))
    props = dlg.use_as_proportions()
    assert got and tab.project.proportions is props
    np.testing.assert_allclose(props.sum(axis=1), 1.0)
    d1 = counts[counts["sample"] == "donor1"].set_index("population")["count"]
    assert props.loc["donor1"].iloc[0] == pytest.approx(d1[pops[0]] / (d1[pops[0]] + d1[pops[1]]))
    dlg.table.selectAll()
    dlg.copy_selection()
    text = QApplication.clipboard().text()
    assert text.splitlines()[0].startswith("sample\t") and len(text.splitlines()) == 4
    out = dlg.export(tmp_path / "counts.csv")
    import pandas as pd
    back = pd.read_csv(out, index_col=0)
    assert back.shape == dlg.wide.shape
    dlg.export(tmp_path / "counts.xlsx")
    assert (tmp_path / "counts.xlsx").stat().st_size > 0
    dlg.close()


def test_cancel_running_job(qtbot, tab):
    import time

    from gui.workers import Worker

    def slow(*, progress=None):
        for i in range(200):
            progress(i, 200, "waiting")
            time.sleep(0.01)
        return "done"

    worker = tab._start(Worker(slow), "slow")
    qtbot.waitUntil(lambda: worker.state == "running", timeout=5000)
    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        tab.jobs.cancel()
    qtbot.waitUntil(lambda: not tab.jobs.is_running(), timeout=5000)
    assert worker.result is None


def test_save_reopen_and_gatingml_roundtrip(qtbot, tab, tmp_path):
    tab.select_population(None)
    set_axes(tab, "FSC-A", "SSC-A")
    x0, x1 = tab.plot.x_range_
    y0, y1 = tab.plot.y_range_
    tab.set_tool("ellipse")
    drag(qtbot, tab, (x0 + 0.3 * (x1 - x0), y0 + 0.2 * (y1 - y0)), (x0 + 0.7 * (x1 - x0), y0 + 0.6 * (y1 - y0)))
    assert "Ellipse 1" in tab.project.strategy.gates
    before = {p: tab.count(p)[0] for p in tab.project.strategy.population_ids()}
    path = tab.project.save(tmp_path / "study.fmsproj")
    project2 = ProjectModel.load(path)
    jobs2 = JobRunner()
    tab2 = GatingTab(project2, jobs2)
    qtbot.addWidget(tab2)
    wait_read(qtbot, tab2)
    assert set(project2.strategy.gates) == set(tab.project.strategy.gates)
    assert {p: tab2.count(p)[0] for p in project2.strategy.population_ids()} == before
    # Gating-ML export / import keeps the gates and counts
    xml = tmp_path / "gates.xml"
    tab2.export_gatingml(xml)
    tab2.project.strategy = None
    tab2.project.update_section("strategy", {})
    assert not tab2.tree_model.index_of("Ellipse 1").isValid()
    tab2.import_gatingml(xml)
    assert {p: tab2.count(p)[0] for p in tab2.project.strategy.population_ids()} == before
    assert tab2.tree_model.index_of("Ellipse 1").isValid()
    jobs2.shutdown()


def test_dafi_refine_overlay(qtbot, tab):
    strategy = tab.project.strategy
    from gui.plots.gate_items import gate_kind
    leaf = next(g for g in strategy.gates if strategy.children(g) == [] and strategy.gates[g].parent_id
                and gate_kind(strategy.gates[g]) in ("rectangle", "polygon", "ellipse"))
    tab.set_dafi_mode(leaf, "cluster")
    settings = tab.dafi_settings()
    settings["k"] = 20
    tab.project.update_section("dafi", settings)
    tab.select_population(strategy.gates[leaf].parent_id)
    tab.set_axes(strategy.gates[leaf].dimensions)
    tab.refresh(rebuild_tree=False)
    assert leaf in tab.gate_items
    with qtbot.waitSignal(tab.dafi_refined, timeout=60000):
        tab.refine_with_dafi()
    refiner = tab.dafi_
    from gating.dafi import DafiRefiner
    ref = DafiRefiner(n_clusters=20, random_state=0).fit(tab.sample(), tab._with_axes_transforms(strategy),
                                                       modes={leaf: "cluster"})
    np.testing.assert_array_equal(refiner.membership_[leaf], ref.membership_[leaf])
    assert tab.plot.overlay.isVisible()
    # refined count, plain count and ratio: in the tree and in the status line, for the gate in view
    dafi_n, plain_n = int(refiner.membership_[leaf].sum()), int(tab.result_.membership[leaf].sum())
    assert refiner.plain_counts_[leaf] == plain_n
    text = tab.tree_model.index_of(leaf, 5).data()
    assert text == f"{dafi_n:,} / {plain_n:,} ({100.0 * dafi_n / plain_n:.0f} %)"
    assert f"{leaf} {text}" in tab.status.text() and tab.status.text().startswith("DAFi refined / plain")


def test_demo_study_opens_with_gates_and_counts(qtbot, tmp_path):
    from study.demo import ensure_demo_study

    project = ProjectModel.load(ensure_demo_study(tmp_path / "demo"))
    jobs = JobRunner()
    w = GatingTab(project, jobs)
    qtbot.addWidget(w)
    wait_read(qtbot, w)
    names = w.sample_model.ok_names()
    assert len(names) == len(project.fcs_paths()) > 0
    first = project.strategy.children(None)[0]
    assert first in w.gate_items  # axes followed the first gate at start
    res = project.strategy.evaluate(project.samples[names[0]])
    n = res.count(first)
    assert w.count(first) == (n, res.event_count)
    assert f"{n:,}" in w.gate_items[first].label.textItem.toPlainText()
    w.select_sample(names[1])
    res2 = project.strategy.evaluate(project.samples[names[1]])
    assert w.tree_model.data(w.tree_model.index_of(first, 1)) == f"{res2.count(first):,}"
    jobs.shutdown()


def test_autotune_accept_stores_override(qtbot, tab):
    tab.autotune_interactive = False
    strategy = tab.project.strategy
    gid = "Neutrophils"
    with qtbot.waitSignal(tab.autotune_finished, timeout=60000):
        tab.autotune(gid)
    _, results = tab.autotune_
    assert set(results) == {"donor1", "donor2", "donor3", "broken"}
    assert isinstance(results["broken"], str)
    thumbs = tab.autotune_thumbnails(gid, results)
    from gui.gating_dialogs import AutoTuneDialog
    dlg = AutoTuneDialog(gid, thumbs)
    qtbot.addWidget(dlg)
    assert set(dlg.checks) == {"donor1", "donor2", "donor3"}
    tuned = results["donor2"].gate
    tab.accept_autotune(gid, results, ["donor2"])
    over = tab.project.data["dafi"]["gate_overrides"]
    assert set(over) == {"donor2"} and over["donor2"][gid] == tuned.to_dict()
    s2 = tab._strategy_for("donor2")
    assert s2.gates[gid] == tuned and tab._strategy_for("donor1").gates[gid] == strategy.gates[gid]
    expected = s2.evaluate(tab.project.samples["donor2"]).count(gid)
    tab.select_sample("donor2")
    assert tab.count(gid)[0] == expected
    tab.project.undo_stack.undo()  # revert
    assert not (tab.project.data["dafi"] or {}).get("gate_overrides")


def test_range_quadrant_gates_and_spillover(qtbot, tab):
    from gating.gates import QuadrantGate
    tab.select_population(None)
    set_axes(tab, "CD3", "CD3", "logicle", "logicle")
    x0, x1 = tab.plot.x_range_
    tab.set_tool("range")
    drag(qtbot, tab, (x0 + 0.3 * (x1 - x0), 10.0), (x0 + 0.7 * (x1 - x0), 10.0))
    rng = tab.project.strategy.gates["Range 1"]
    assert len(rng.dimensions) == 1 and rng.mins[0] == pytest.approx(x0 + 0.3 * (x1 - x0), abs=0.01 * (x1 - x0))
    assert tab.count("Range 1")[0] == truth_count(tab, "Range 1") > 0
    set_axes(tab, "CD3", "CD19", "logicle", "logicle")
    x0, x1 = tab.plot.x_range_
    y0, y1 = tab.plot.y_range_
    tab.set_tool("quadrant")
    qtbot.mouseClick(tab.plot.viewport(), Qt.LeftButton, pos=to_px(tab, (x0 + x1) / 2, (y0 + y1) / 2))
    quad = tab.project.strategy.gates["Quadrant 1"]
    assert isinstance(quad, QuadrantGate) and len(quad.quadrants) == 4
    counts = [tab.count(q)[0] for q in quad.population_ids()]
    assert sum(counts) == N_EVENTS and counts == [truth_count(tab, q) for q in quad.population_ids()]
    assert tab.tree_model.index_of(quad.population_ids()[0]).isValid()
    # moving the vertical divider keeps the quadrant ids and re-counts
    item = tab.gate_items["Quadrant 1"]
    item.roi[0].setValue(x0 + 0.6 * (x1 - x0))
    item.roi[0].sigPositionChangeFinished.emit(item.roi[0])
    moved = tab.project.strategy.gates["Quadrant 1"]
    assert moved.dividers[0].values[0] == pytest.approx(x0 + 0.6 * (x1 - x0))
    assert moved.population_ids() == quad.population_ids()
    assert sum(tab.count(q)[0] for q in moved.population_ids()) == N_EVENTS
    # an edited spillover matrix is stored in the project and used when compensating
    sample = tab.sample()
    if sample.spillover is not None:
        dets, mat = sample.spillover
        tab.set_spillover(list(dets), np.asarray(mat))
        assert tab.comp_ref() == "user" and tab.compensate.isChecked()
        assert tab.project.data["compensation"]["detectors"] == list(dets)


def test_flowjo9_workspace_in_the_gating_tab(qtbot, tmp_path, shared_dir):
    """A2004 gates imported from the .xml workspace gate the real file in the tab with FlowJo's counts."""
    base = shared_dir / "data" / "fcs" / "flowworkspacedata"
    project = ProjectModel()
    project.add_fcs_files([base / "a2004_O1T2pb05i_A2_A02.fcs"])
    jobs = JobRunner()
    w = GatingTab(project, jobs)
    qtbot.addWidget(w)
    w.resize(1280, 760)
    w.show()
    qtbot.waitExposed(w)
    wait_read(qtbot, w)
    w.import_gatingml(base / "A2004Analysis.xml")  # the tab's import recognises the workspace by content
    st = w.project.strategy
    assert st.counting == "flowjo"
    w.select_population("APC")
    qtbot.waitUntil(lambda: w.result_ is not None, timeout=30000)
    assert w.count("pDC")[0] == pytest.approx(81, abs=2)  # FlowJo stored 81
    assert "FlowJo-compatible" in w.status.text()  # which engine counted is shown
    assert w.count("Live")[0] == pytest.approx(34469, rel=0.005)
    dup = "Live/APC/pDC/IL-12+"  # "IL-12+" occurs three times: the tree shows the name, the tooltip the path
    assert w.tree_model.index_of(dup).data() == "IL-12+"
    assert w.tree_model.index_of(dup).data(Qt.ToolTipRole) == dup
    assert {"pDC", "mDC", "B Cell"} <= set(w.gate_items)
    jobs.shutdown()
    w.close()
    w.project.strategy = None
    gc.collect()  # collect this large tab's Qt/pyqtgraph garbage here, not in a later test


def test_transformed_axes_are_labelled_in_decades(tab, tmp_path):
    """An arcsinh or logicle axis shows 0, 10², 10³ … at the positions of those data values, not the
    transform's 0-1 display units; a linear axis keeps automatic ticks."""
    from gating.transforms import LogicleTransform
    from gui.plots.decades import decade_ticks

    set_axes(tab, "CD45", "CD66b", "arcsinh", "arcsinh")
    axis = tab.plot.plot_item.getAxis("bottom")
    major = dict((label, pos) for pos, label in axis._tickLevels[0])
    ref = tab.current_dimensions()[0].transform_ref
    t = tab._with_axes_transforms(tab.strategy()).transforms[ref]
    assert t.kind == "arcsinh"
    assert {"10³", "10⁴"} <= set(major) and all(lab.startswith(("10", "-10", "0")) for lab in major)
    assert major["10³"] == pytest.approx(float(t.apply([1000.0])[0]))
    set_axes(tab, "FSC-A", "SSC-A")
    assert tab.plot.plot_item.getAxis("bottom")._tickLevels is None
    logicle = LogicleTransform("l", t=262144, w=0.5, m=4.5)
    ticks = decade_ticks(logicle, (0.0, 1.0))
    labels = [label for _, label in ticks[0]]
    assert labels == ["-10²", "0", "10²", "10³", "10⁴", "10⁵"]
    assert ticks[0][1][0] == pytest.approx(float(logicle.apply([0.0])[0]))
    tab.grab().save(str(tmp_path / "gating_decades.png"))
