"""The Enrichment view, driven as a person would: run GSEA + ORA in the worker, read the per-term
table, filter and sort it, pick a set, see its running score and its leading edge highlighted in
the gene table, save the plots, grab a screenshot."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QSplitter

from engine.fastmix import FastMix
from engine.simulate import simulate_study
from gui.results_tab import ResultsTab, save_screenshot

ROOT = Path(__file__).resolve().parents[2]
TERM = "Neutrophils.Group"


@functools.lru_cache(maxsize=1)
def _study():
    """600 genes; sets PATHWAY_UP (40 genes pushed up in neutrophils with the group), PATHWAY_DOWN
    (30 pushed down) and 60 random decoys."""
    rng = np.random.default_rng(11)
    m = 600
    genes = [f"Gene{i + 1}" for i in range(m)]
    order = rng.permutation(m)
    effects = np.zeros(m)
    effects[order[:40]], effects[order[40:70]] = 1.5, -1.5
    sets = {"PATHWAY_UP": [genes[i] for i in order[:40]], "PATHWAY_DOWN": [genes[i] for i in order[40:70]]}
    sets.update({f"DECOY_{j:02d}": [genes[i] for i in rng.choice(m, 25, replace=False)] for j in range(60)})
    sim = simulate_study(m, 24, seed=2, planted_effects=effects)
    fit = FastMix(permutations=30, random_state=0).fit(sim.expression, sim.proportions, sim.covariates)
    return fit, sets


@pytest.fixture
def tab(qtbot, tmp_path):
    from gui.workers import JobRunner

    fit, sets = _study()
    gmt = tmp_path / "pathways.gmt"
    gmt.write_text("".join(f"{k}\tsimulated\t{chr(9).join(v)}\n" for k, v in sets.items()), encoding="utf-8")
    jobs = JobRunner()
    w = ResultsTab(None, jobs)
    qtbot.addWidget(w)
    w.resize(1500, 900)
    w.show()
    w.set_results(fit.results_, fit)
    w.gmt_edit.setText(str(gmt))
    yield w, sets
    jobs.shutdown()


def _shown_sets(view):
    return [view.model.index(r, 0).data(Qt.ItemDataRole.DisplayRole) for r in range(view.model.rowCount())]


def test_enrichment_view_runs_in_worker_and_shows_the_planted_sets(qtbot, tab, tmp_path):
    w, sets = tab
    view = w.enrichment_view
    w.plots.setCurrentIndex([w.plots.tabText(i) for i in range(w.plots.count())].index("Enrichment"))
    w.select_term(TERM)
    assert view.model.rowCount() == 0 and view.run_button.isEnabled()
    with qtbot.waitSignal(view.computed, timeout=60000):
        qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
        assert not view.run_button.isEnabled()  # running in the background
    assert view.run_button.isEnabled()
    frame = view.frame
    assert set(frame["method"]) == {"ora", "gsea"}
    assert set(frame.loc[frame.method == "gsea", "term"]) == {t for t in w.results.terms
                                                              if w.results.term_kinds[t] != "cell"}
    # the term's GSEA table, ranked by FDR: the two planted pathways first
    assert view.method() == "gsea" and w.current_term() == TERM
    assert set(_shown_sets(view)[:2]) == {"PATHWAY_UP", "PATHWAY_DOWN"}
    assert view.model.rowCount() == 62
    # sortable: by set name, the decoys come first
    view.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert _shown_sets(view)[0] == "DECOY_00"
    # filterable
    qtbot.keyClicks(view.filter_edit, "pathway")
    assert sorted(_shown_sets(view)) == ["PATHWAY_DOWN", "PATHWAY_UP"]
    # picking a set draws its running score and highlights its leading edge in the gene table
    row = _shown_sets(view).index("PATHWAY_UP")
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.table.visualRect(view.model.index(row, 0)).center())
    assert view.current_set == "PATHWAY_UP"
    edge = view.leading_edge("PATHWAY_UP")
    assert edge and set(edge) <= set(sets["PATHWAY_UP"])
    marked = set(w.table_model.source_frame()["gene"].iloc[w.table_model.highlighted_rows()])
    assert marked == set(edge)
    gene_row = w.proxy.mapFromSource(w.table_model.index(w.table_model.gene_row(edge[0]), 0))
    assert gene_row.data(Qt.ItemDataRole.FontRole).bold()
    curve = view.running_plot.getPlotItem().listDataItems()[0].getData()[1]
    assert len(curve) == len(w.results.genes) and np.abs(curve).max() > 0.3
    # ORA rows of the same term
    view.method_combo.setCurrentIndex(1)
    assert view.method() == "ora"
    # plots as PNG and SVG
    view.method_combo.setCurrentIndex(0)
    view.select_set("PATHWAY_UP")
    written = view.export_plots(tmp_path / "plots")
    assert sorted(p.suffix for p in written) == [".png", ".png", ".svg", ".svg"]
    assert all(p.stat().st_size > 1000 for p in written)
    # the window as it looks
    view.filter_edit.clear()
    view.select_set("PATHWAY_UP")
    w.enrich_views.setCurrentWidget(view)
    w.findChild(QSplitter, "resultsRightSplitter").setSizes([560, 700])
    qtbot.wait(50)
    shot = save_screenshot(w, tmp_path / "enrichment.png")
    image = QImage(str(shot))
    assert image.width() >= 1400
    if os.environ.get("FASTMIX_WRITE_SCREENSHOTS"):
        save_screenshot(w, ROOT / "resources" / "screenshots" / "enrichment.png")


def test_enrichment_export_holds_sheet_and_csv(qtbot, tab, tmp_path):
    w, _ = tab
    w.select_term(TERM)
    with qtbot.waitSignal(w.enrichment_view.computed, timeout=60000):
        w.run_gsea(permutations=200)
    with qtbot.waitSignal(w.export_finished, timeout=60000):
        w.export_to(tmp_path / "out")
    import pandas as pd
    from openpyxl import load_workbook

    csv = pd.read_csv(tmp_path / "out" / "enrichment.csv")
    assert len(csv) == len(w.enrichment_view.frame)
    wb = load_workbook(tmp_path / "out" / "results.xlsx", read_only=True)
    assert "enrichment" in wb.sheetnames
    wb.close()
    assert (tmp_path / "out" / "plots" / "enrichment_dots.svg").is_file()
