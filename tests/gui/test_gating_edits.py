"""Gating tab edits a person makes besides drawing: delete a gate, re-parent it by dropping it on
another population, DAFi mode and re-cluster flag in the tree, the DAFi settings and spillover
dialogs. Counts are checked against ``gating/`` on the same data; every edit undoes."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialogButtonBox

from gating.compensation import Compensation
from gating.dafi import DafiRefiner
from gui.gating_dialogs import DafiSettingsDialog, SpilloverDialog
from gui.models.population_tree import PopulationTreeModel


@pytest.fixture
def tab(gating_tab):
    return gating_tab


MODE_COL, RECLUSTER_COL = 3, 4


def click_row(qtbot, tab, pid):
    idx = tab.tree_model.index_of(pid)
    tab.tree_view.scrollTo(idx)
    qtbot.mouseClick(tab.tree_view.viewport(), Qt.LeftButton, pos=tab.tree_view.visualRect(idx).center())


def truth(tab, strategy, pid, name="donor1"):
    return tab._with_axes_transforms(strategy).evaluate(tab.project.samples[name]).count(pid)


def ok_button(dialog):
    return dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok)


def test_delete_gate_from_toolbar_then_undo(qtbot, tab):
    strategy = tab.project.strategy
    victim = "Monocytes"
    sibling = "Neutrophils"
    assert victim in strategy.gates
    click_row(qtbot, tab, victim)
    assert tab.current_population == victim
    qtbot.mouseClick(tab.toolbar.widgetForAction(tab.delete_action), Qt.LeftButton)
    after = tab.project.strategy
    assert victim not in after.gates and not tab.tree_model.index_of(victim).isValid()
    assert tab.current_population == strategy.gates[victim].parent_id     # back to its parent
    assert tab.count(sibling)[0] == truth(tab, after, sibling) > 0
    assert tab.project.undo_stack.undoText() == f"Delete {victim}"
    tab.project.undo_stack.undo()
    assert victim in tab.project.strategy.gates and tab.tree_model.index_of(victim).isValid()
    assert tab.count(victim)[0] == truth(tab, strategy, victim) > 0


def test_reparent_by_dropping_on_a_population(qtbot, tab):
    model: PopulationTreeModel = tab.tree_model
    strategy = tab.project.strategy
    gid = "NK_cells"
    old_parent = strategy.gates[gid].parent_id
    new_parent = strategy.gates[old_parent].parent_id           # one level up ("Live")
    assert new_parent is not None
    before = tab.count(gid)[0]
    mime = model.mimeData([model.index_of(gid)])               # what the view does on a drag ...
    model.dropMimeData(mime, Qt.MoveAction, -1, -1, model.index_of(new_parent))  # ... and the drop
    moved = tab.project.strategy
    assert moved.gates[gid].parent_id == new_parent
    assert model.parent(model.index_of(gid)) == model.index_of(new_parent)
    n = tab.count(gid)[0]
    assert n == truth(tab, moved, gid) >= before                # a bigger parent: at least as many
    # a population cannot be dropped into its own descendant
    model.dropMimeData(model.mimeData([model.index_of(new_parent)]), Qt.MoveAction, -1, -1, model.index_of(gid))
    assert tab.project.strategy.gates[new_parent].parent_id == strategy.gates[new_parent].parent_id
    tab.project.undo_stack.undo()
    assert tab.project.strategy.gates[gid].parent_id == old_parent
    assert tab.count(gid)[0] == before


def test_dafi_mode_and_recluster_in_the_tree(qtbot, tab):
    model = tab.tree_model
    gid = "Monocytes"
    assert model.setData(model.index_of(gid, MODE_COL), "DAFi cluster")
    assert tab.project.section("dafi")["modes"] == {gid: "cluster"}
    assert model.data(model.index_of(gid, MODE_COL)) == "DAFi cluster"
    assert model.setData(model.index_of(gid, RECLUSTER_COL), Qt.Checked, Qt.CheckStateRole)
    assert tab.project.section("dafi")["recluster"] == [gid]
    assert model.data(model.index_of(gid, RECLUSTER_COL), Qt.CheckStateRole) in (Qt.Checked, Qt.Checked.value)
    assert not model.setData(model.index_of(gid, MODE_COL), "nonsense")
    tab.project.undo_stack.undo()
    assert tab.project.section("dafi").get("recluster") == []
    assert model.data(model.index_of(gid, RECLUSTER_COL), Qt.CheckStateRole) in (Qt.Unchecked, Qt.Unchecked.value)
    tab.project.undo_stack.undo()
    assert tab.project.section("dafi") == {}
    assert model.data(model.index_of(gid, MODE_COL)) == "event"           # the tree follows the undo


def test_dafi_settings_dialog_drives_the_refinement(qtbot, tab):
    strategy = tab.project.strategy
    leaf = "Monocytes"
    tab.set_dafi_mode(leaf, "cluster")
    sample = tab.sample()
    keep = [sample.channels[sample.channel_index(c)] for c in ("V500-A", "FITC-A", "SSC-A")]

    def fill():
        dlg = tab.findChild(DafiSettingsDialog)
        assert dlg is not None and dlg.isVisible()
        dlg.k.setValue(12)
        dlg.seed.setValue(7)
        for i in range(dlg.channels.count()):
            item = dlg.channels.item(i)
            item.setCheckState(Qt.Checked if item.text() in keep else Qt.Unchecked)
        qtbot.mouseClick(ok_button(dlg), Qt.LeftButton)

    QTimer.singleShot(50, fill)
    tab.dafi_settings_button.click()                           # modal: returns after OK
    settings = tab.project.section("dafi")
    assert (settings["k"], settings["seed"], sorted(settings["channels"])) == (12, 7, sorted(keep))
    tab.select_population(strategy.gates[leaf].parent_id)
    with qtbot.waitSignal(tab.dafi_refined, timeout=60000):
        tab.dafi_button.click()
    ref = DafiRefiner(n_clusters=12, channels=keep, random_state=7).fit(
        sample, tab._with_axes_transforms(strategy), modes={leaf: "cluster"})
    np.testing.assert_array_equal(tab.dafi_.membership_[leaf], ref.membership_[leaf])
    tab.project.undo_stack.undo()                              # the settings change undoes
    assert tab.project.section("dafi").get("k", 100) == 100


def test_spillover_dialog_edit_is_used_for_compensation(qtbot, tmp_path):
    from gating.sample import read_fcs
    from gating.simulate import simulate_whole_blood, write_fcs
    from gui.gating_tab import GatingTab
    from gui.project_model import ProjectModel
    from gui.workers import JobRunner
    from tests.gui.studies import wait_read

    sim, _ = simulate_whole_blood(4000, seed=3)
    fl = [c for c in sim.channels if c.endswith("-A") and not c.startswith(("FSC", "SSC"))][:2]
    path = write_fcs(sim, tmp_path / "comp.fcs", metadata={"$SPILLOVER": f"2,{fl[0]},{fl[1]},1,0.05,0.02,1"})
    assert read_fcs(path).spillover is not None
    project = ProjectModel()
    project.add_fcs_files([path])
    jobs = JobRunner()
    tab = GatingTab(project, jobs)
    qtbot.addWidget(tab)
    try:
        wait_read(qtbot, tab)
        sample = tab.sample()
        dets, mat = sample.spillover
        edited = np.array(mat, dtype=float)
        edited[0, 1] = 0.123
        tries = []

        def fill():
            dlg = tab.findChild(SpilloverDialog)
            assert dlg is not None
            if not tries:                                      # first a typo: refused, dialog stays
                dlg.table.item(0, 1).setText("0,12x")
                qtbot.mouseClick(ok_button(dlg), Qt.LeftButton)
                tries.append(dlg.error.text())
                assert dlg.isVisible()
            dlg.table.item(0, 1).setText("0.123")
            qtbot.mouseClick(ok_button(dlg), Qt.LeftButton)

        QTimer.singleShot(50, fill)
        tab.spill_button.click()
        assert "is not a number" in tries[0] and dets[0] in tries[0]
        comp = tab.project.section("compensation")
        np.testing.assert_allclose(comp["matrix"], edited)
        assert tab.compensate.isChecked() and tab.comp_ref() == "user"
        # the plotted values are the events compensated with the edited matrix (gating/ does the maths)
        from gating.gates import Dimension
        ch = list(dets)[1]
        got = tab.values(Dimension(ch, "user", None))
        ref = Compensation(id="user", detectors=tuple(dets), fluorochromes=tuple(dets), matrix=edited)
        want = ref.apply(sample.events, sample.channels)[:, sample.channel_index(ch)]
        np.testing.assert_allclose(got, want, rtol=1e-9)
        raw = sample.events[:, sample.channel_index(ch)]
        assert not np.allclose(got, raw)                        # compensation changed the values
        tab.project.undo_stack.undo()
        assert tab.project.section("compensation") == {}
    finally:
        jobs.shutdown()


def test_axis_change_redraws_without_regating(qtbot, tab, monkeypatch):
    """Gate membership does not depend on the axes: a channel/transform change only redraws
    (what keeps a 1M-event redraw fast); an edit of the gates re-gates."""
    from gating.strategy import GatingStrategy
    from tests.gui.test_gating_tab import set_axes

    calls = []
    real = GatingStrategy.evaluate
    monkeypatch.setattr(GatingStrategy, "evaluate", lambda self, *a, **k: (calls.append(1), real(self, *a, **k))[1])
    strategy = tab.project.strategy
    tab.select_population("Live")
    calls.clear()
    set_axes(tab, "FSC-A", "SSC-A", "linear", "logicle")
    set_axes(tab, "CD3", "CD19", "logicle", "logicle")
    tab.compensate.setChecked(True)
    tab.compensate.setChecked(False)
    assert calls == []
    assert tab.count("Monocytes")[0] == truth(tab, strategy, "Monocytes") > 0
    sample = tab.sample()
    y = sample.events[:, sample.channel_index("CD19")]
    from gating.transforms import make_transform
    assert tab.plot.n_events_ == int(tab.result_.membership["Live"].sum())
    np.testing.assert_allclose(tab.values(tab.current_dimensions()[1]), make_transform("logicle").apply(y))
    tab.delete_gate("Monocytes")
    assert calls                                               # an edit re-gates
    assert tab.count("Neutrophils")[0] == truth(tab, tab.project.strategy, "Neutrophils")
    calls.clear()
    tab.select_sample("donor2")                                # another sample: gated
    assert calls and tab.count("Neutrophils")[0] == truth(tab, tab.project.strategy, "Neutrophils", "donor2")
