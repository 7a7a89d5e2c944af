"""Auto-tune as a person uses it: pick a gate in the tree, click "Auto-tune gate", read the review
(the move in the axis' data units, built in the worker), and cancelling "Apply to all samples"."""
from __future__ import annotations

import re
import threading
import time

import numpy as np
from PySide6.QtCore import Qt

import gui.gating.jobs as jobs_mod
from gui.gating_dialogs import AutoTuneDialog


def _click_population(qtbot, tab, pid):
    idx = tab.tree_model.index_of(pid)
    rect = tab.tree_view.visualRect(idx)
    qtbot.mouseClick(tab.tree_view.viewport(), Qt.LeftButton, pos=rect.center())
    assert tab.current_population == pid


def test_autotune_review_built_in_worker_with_shift_in_data_units(qtbot, gating_tab, monkeypatch):
    tab = gating_tab
    built_on, opened = [], []
    real = jobs_mod.review_thumbnails

    def spy(*a, **k):
        built_on.append(threading.current_thread() is threading.main_thread())
        return real(*a, **k)

    monkeypatch.setattr(jobs_mod, "review_thumbnails", spy)
    monkeypatch.setattr(AutoTuneDialog, "exec", lambda dlg: opened.append(dlg) or 0)  # the person presses Cancel
    gid = "Neutrophils"
    _click_population(qtbot, tab, gid)
    with qtbot.waitSignal(tab.autotune_finished, timeout=60000):
        qtbot.mouseClick(tab.autotune_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: bool(opened), timeout=10000)
    assert built_on == [False]  # the review's content (coordinates, binned images) came from the worker
    dlg = opened[0]
    qtbot.addWidget(dlg)
    _, results = tab.autotune_
    strategy = tab._with_axes_transforms(tab.strategy())
    gate = strategy.gates[gid]
    moved = [n for n, r in results.items() if not isinstance(r, str) and any(r.moved)]
    assert moved, "auto-tune moved no gate on the simulated donors"
    for name in moved:
        text = dlg.shift_labels[name].text()
        r = results[name]
        assert text.startswith("moved ") and "0.0" not in text.split(":")[0]
        for dim, d, lo, hi in zip(gate.dimensions, r.moved, gate.mins, gate.maxs):
            if not d:
                continue
            t = strategy.transforms[dim.transform_ref]
            anchor = np.mean([v for v in (lo, hi) if v is not None])
            before, after = t.inverse(np.array([anchor, anchor + d]))
            m = re.search(re.escape(dim.channel) + r" ([-\d,.e+]+) → ([-\d,.e+]+)", text)
            assert m, text
            got = [float(v.replace(",", "")) for v in m.groups()]
            np.testing.assert_allclose(got, [before, after], rtol=0.01, atol=0.01)
    # thumbnails: decades in data units, and the open-sided gate drawn (clipped near the view, not at 1e12)
    import pyqtgraph as pg

    from gui.gating_dialogs import _Thumb
    thumbs = [t for t in tab.autotune_review_ if "image" in t]
    assert all(any("10³" in label for _, label in (t["y_ticks"] or [[]])[0]) for t in thumbs)
    plots = dlg.findChildren(_Thumb)
    assert len(plots) == len(thumbs)
    curves = [c for c in plots[0].getPlotItem().items if isinstance(c, pg.PlotDataItem)]
    assert len(curves) == 2
    for c in curves:
        xs, ys = c.getData()
        assert np.nanmax(np.abs(np.concatenate([xs, ys]))) < 1e3
    assert re.search(r"Auto-tune Neutrophils: \d of 4 sample\(s\) moved; donor\d: moved ", tab.status.text())
    assert not tab.project.data.get("dafi", {}).get("gate_overrides")  # cancelled review: nothing stored


def test_cancelling_apply_to_all_says_cancelled(qtbot, gating_tab, monkeypatch):
    tab = gating_tab
    old = tab.status.text()
    assert old and "Cancelled" not in old

    def slow(items, *, progress=None):
        for i in range(300):
            progress(i, 300, "gating")
            time.sleep(0.01)

    monkeypatch.setattr(jobs_mod, "gate_samples", slow)
    qtbot.mouseClick(tab.apply_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: tab.jobs.is_running() and tab.jobs.cancel_button.isEnabled(), timeout=5000)
    qtbot.mouseClick(tab.jobs.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not tab.jobs.is_running(), timeout=5000)
    qtbot.waitUntil(lambda: tab.status.text() == "Cancelled: apply gates to all samples", timeout=5000)
    assert tab.batch_ is None and tab.batch_dialog is None
