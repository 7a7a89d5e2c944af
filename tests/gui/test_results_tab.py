"""Results tab: term tree, ranked table (sort/filter), volcano <-> table selection, gene view,
fixed effects, covariance heatmap, enrichment, screenshots. Uses a real FastMix fit on sim3."""
from __future__ import annotations

import functools
import os

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from engine.fastmix import FastMix
from engine.simulate import simulate_sim3
from gui.models.results_model import ResultsFilterProxyModel, ResultsTableModel, direction_sign
from gui.results_tab import KIND_GROUPS, ResultsTab, save_screenshot


@functools.lru_cache(maxsize=1)
def _fit():
    sim = simulate_sim3(m=1000, n=40, seed=1)
    fit = FastMix().fit(sim.expression, sim.proportions, sim.covariates)
    return sim, fit


@pytest.fixture
def fitted():
    return _fit()


@pytest.fixture
def tab(qtbot, fitted):
    sim, fit = fitted
    w = ResultsTab(None, None)
    qtbot.addWidget(w)
    w.resize(1400, 850)
    w.show()
    w.set_results(fit.results_, fit)
    w.set_expression(sim.expression)
    return w


def _column(tab, name):
    return list(tab.table_model.source_frame().columns).index(name)


def _shown(tab, name):
    col = _column(tab, name)
    return [tab.proxy.index(r, col).data(Qt.ItemDataRole.UserRole) for r in range(tab.proxy.rowCount())]


def test_models_pass_qt_model_tester(qtmodeltester, fitted):
    _, fit = fitted
    model = ResultsTableModel(fit.results_.to_frame("Cell1.Group"), descriptions=fit.results_.column_descriptions)
    qtmodeltester.check(model)
    proxy = ResultsFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.set_fdr_threshold(0.5)
    qtmodeltester.check(proxy)


def test_term_tree_groups_terms_by_kind_with_hit_counts(tab, fitted):
    _, fit = fitted
    res = fit.results_
    tree = tab.term_tree
    groups = {tree.topLevelItem(i).text(0): tree.topLevelItem(i) for i in range(tree.topLevelItemCount())}
    for kind, label in KIND_GROUPS:
        expected = [t for t in res.terms if res.term_kinds[t] == kind]
        item = groups[label]
        assert [item.child(j).text(0) for j in range(item.childCount())] == expected
        for j, t in enumerate(expected):
            assert int(item.child(j).text(1)) == int((res.fdr[t] <= 0.05).sum())
    assert [g for g in groups] == [label for _, label in KIND_GROUPS]
    assert tab.current_term() == "Cell1"


def test_table_ranked_with_p_value_tooltips(tab, fitted):
    _, fit = fitted
    res = fit.results_
    tab.select_term("Cell2.Group")
    assert tab.proxy.rowCount() == 1000
    genes = _shown(tab, "gene")
    assert genes[0] == res.genes_at(res.ranking("Cell2.Group")[:1])[0]  # the app's ranking
    assert _shown(tab, "rank") == list(range(1, 1001))
    for name in ("quasi_p", "ols_p", "quasi_fdr"):
        tip = tab.table_model.headerData(_column(tab, name), Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
        assert tip == res.column_descriptions[name]
    # coefficient column = the gene's coefficient for that term
    coef = dict(zip(genes, _shown(tab, "coefficient")))
    g = genes[10]
    assert coef[g] == pytest.approx(res.coef.loc[g, "Cell2.Group"])


def test_sort_by_clicking_header(qtbot, tab, fitted):
    _, fit = fitted
    tab.select_term("Group")
    header = tab.table.horizontalHeader()
    col = _column(tab, "coefficient")
    x = header.sectionPosition(col) + header.sectionSize(col) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    values = np.array(_shown(tab, "coefficient"))
    assert len(values) == 1000
    assert np.all(np.diff(values) >= 0) or np.all(np.diff(values) <= 0)
    first = values[0]
    assert first in (fit.results_.coef["Group"].min(), fit.results_.coef["Group"].max())


def test_filters_gene_text_fdr_and_direction(qtbot, tab, fitted):
    _, fit = fitted
    res = fit.results_
    term = "Cell1.Group"
    tab.select_term(term)
    qtbot.keyClicks(tab.gene_search, "gene1")
    # Gene1, Gene10-19, Gene100-199, Gene1000: 1 + 10 + 100 + 1
    assert tab.proxy.rowCount() == 112
    assert all("gene1" in g.lower() for g in _shown(tab, "gene"))
    tab.gene_search.clear()
    tab.fdr_spin.setValue(0.3)
    tab.significant_only.setChecked(True)
    assert tab.proxy.rowCount() == int((res.fdr[term] <= 0.3).sum())
    tab.significant_only.setChecked(False)
    tab.direction_combo.setCurrentIndex(tab.direction_combo.findData("down"))
    assert tab.proxy.rowCount() == int((res.random_effects[term] < 0).sum())
    assert all(v < 0 for v in direction_sign(tab.table_model.source_frame().iloc[
        [tab.proxy.mapToSource(tab.proxy.index(r, 0)).row() for r in range(tab.proxy.rowCount())]]))
    assert tab.rows_label.text().startswith(f"{tab.proxy.rowCount()} of 1000")


def _click_volcano_point(qtbot, tab, gene):
    plot = tab.volcano
    tab.plots.setCurrentWidget(plot)
    qtbot.waitUntil(lambda: plot.isVisible())
    x, y = plot.point_position(gene)
    vb = plot.plotItem.vb
    scene_pos = vb.mapViewToScene(pg_point(x, y))
    view_pos = plot.mapFromScene(scene_pos)
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=view_pos)


def pg_point(x, y):
    from PySide6.QtCore import QPointF
    return QPointF(x, y)


def test_volcano_click_selects_table_row_and_row_highlights_point(qtbot, tab, fitted):
    term = "Cell3.Group"
    tab.select_term(term)
    # a gene with the largest -log10 p is isolated at the top of the plot: click it
    gene = str(tab.volcano.genes[np.nanargmax(tab.volcano.y)])
    tab.gene_search.setText("Gene99")  # hide it first: clicking must clear filters that hide it
    with qtbot.waitSignal(tab.volcano.gene_clicked, timeout=2000) as blocker:
        _click_volcano_point(qtbot, tab, gene)
    assert blocker.args == [gene]
    assert tab.selected_gene() == gene
    assert tab.gene_search.text() == ""
    # selecting another row in the table rings that point in the volcano
    row_gene = _shown(tab, "gene")[5]
    tab.table.selectRow(5)
    assert tab.selected_gene() == row_gene
    assert tab.volcano.highlighted_gene() == row_gene
    assert tab.gene_view.gene == row_gene


def test_volcano_colours_follow_fdr_threshold(tab, fitted):
    _, fit = fitted
    res = fit.results_
    tab.select_term("Cell1.Group")
    tab.fdr_spin.setValue(0.4)
    called = res.fdr["Cell1.Group"] <= 0.4
    assert tab.volcano.significant.sum() == int(called.sum()) > 0
    # the y axis is the app's evidence; the dashed line sits at the weakest call
    np.testing.assert_allclose(tab.volcano.point_position(res.genes[0])[1], res.score.loc[res.genes[0], "Cell1.Group"])
    assert tab.volcano.fdr_line.value() == pytest.approx(res.score.loc[called, "Cell1.Group"].min())


def test_gene_view_fitted_lines_match_model(tab, fitted):
    sim, fit = fitted
    gene = "Gene7"
    view = tab.gene_view
    view.cell_combo.setCurrentText("Cell2")
    assert view.colour_combo.currentText() == "Group"  # first covariate by default
    tab.select_gene(gene)
    assert view.gene == gene
    assert len(view.curves) == 2  # Group = 0 / 1
    X = fit.design_.X
    names = list(fit.design_.names)
    group = sim.covariates.loc[list(fit.design_.samples), "Group"].to_numpy()
    for (label, (grid, line)), level in zip(sorted(view.curves.items()), (0.0, 1.0)):
        assert label.endswith(f"= {level:.3g}")
        rows = group == level
        # linear model: the line at the group's mean proportion = mean fitted value of the group
        assert np.allclose(view.points[label][1], sim.expression.loc[gene, list(fit.design_.samples)].to_numpy()[rows])
        at = np.interp(X[rows, names.index("Cell2")].mean(), grid, line)
        assert at == pytest.approx(fit.fitted_.loc[gene].to_numpy()[rows].mean(), rel=1e-8)
        slope = (line[-1] - line[0]) / (grid[-1] - grid[0])
        zmean = X[rows, names.index("Group")].mean()
        expect = fit.coef_.loc[gene, "Cell2"] + zmean * fit.coef_.loc[gene, "Cell2.Group"]
        assert slope == pytest.approx(expect, rel=1e-8)


def test_fixed_effects_and_covariance_heatmap(tab, fitted):
    _, fit = fitted
    res = fit.results_
    assert tab.fixed_model.rowCount() == len(res.terms)
    cols = list(tab.fixed_model.source_frame().columns)
    assert cols[:3] == ["term", "estimate", "std_error"]
    np.testing.assert_allclose(tab.heatmap.matrix, res.covariance.to_numpy())
    assert tab.heatmap.labels == list(res.covariance.columns)
    lo, hi = tab.heatmap.colour_bar.levels()
    assert hi == pytest.approx(np.abs(res.covariance.to_numpy()).max()) and lo == -hi


def test_enrichment_of_term_hits_against_gmt(tmp_path, tab, fitted):
    from scipy.stats import hypergeom
    _, fit = fitted
    res = fit.results_
    term = "Cell1.Group"
    tab.select_term(term)
    tab.fdr_spin.setValue(0.5)
    hits = sorted(res.fdr.index[res.fdr[term] <= 0.5])
    assert sorted(tab.enrichment_genes()) == hits
    assert hits, "sim3 must give some hits at FDR 0.5"
    others = [g for g in res.genes if g not in hits]
    set_a = hits[:3] + others[:7]
    set_b = others[10:60]
    gmt = tmp_path / "sets.gmt"
    gmt.write_text(f"SET_A\tdesc\t{chr(9).join(set_a)}\nSET_B\tdesc\t{chr(9).join(set_b)}\n")
    tab.gmt_edit.setText(str(gmt))
    tab.enrich_button.click()
    frame = tab.enrichment_frame
    assert set(frame["gene_set"]) == {"SET_A", "SET_B"}
    a = frame.set_index("gene_set").loc["SET_A"]
    assert a["overlap"] == 3
    assert a["p_value"] == pytest.approx(hypergeom.sf(2, 1000, 10, len(hits)))
    assert tab.enrich_model.rowCount() == 2
    assert f"{len(hits)} genes" in tab.enrich_status.text()


def test_enrichment_bad_gmt_reports_file(tmp_path, tab):
    bad = tmp_path / "missing.gmt"
    assert tab.run_enrichment(str(bad)) is None
    assert "missing.gmt" in tab.enrich_status.text()


def test_user_gmt_is_listed_beside_the_bundled_libraries(tmp_path, tab, qtbot, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    combo = tab.gmt_edit
    assert [combo.itemData(i) for i in range(combo.count())] == ["go-bp", "go-mf", "go-cc"]
    gmt = tmp_path / "my_sets.gmt"
    gmt.write_text("SET_A\tdesc\tG1\tG2\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(gmt), ""))
    qtbot.mouseClick(tab.gmt_browse, Qt.MouseButton.LeftButton)
    assert combo.text() == str(gmt) and combo.count() == 4 and "my_sets.gmt" in combo.currentText()
    combo.setCurrentIndex(1)  # back to a bundled library; the file stays in the list
    assert combo.text() == "go-mf" and combo.user_files() == [str(gmt)]
    combo.setText(str(gmt))  # chosen again: not listed twice
    assert combo.count() == 4 and combo.text() == str(gmt)


def test_clear_results_and_project_signal(qtbot, fitted):
    from gui.project_model import ProjectModel
    _, fit = fitted
    project = ProjectModel()
    w = ResultsTab(project, None)
    qtbot.addWidget(w)
    assert not w.export_button.isEnabled()
    project.fit = fit
    assert w.results is fit.results_
    assert w.export_button.isEnabled()
    assert w.table_model.rowCount() == 1000
    project.fit = None
    assert w.results is None and w.table_model.rowCount() == 0


def test_screenshot_of_results_tab(qtbot, tmp_path, tab):
    tab.select_term("Cell1.Group")
    tab.table.selectRow(0)
    path = save_screenshot(tab, tmp_path / "results_tab.png")
    img = QImage(str(path))
    assert img.width() >= 1000 and img.height() >= 600
    # not a blank grab: many distinct colours (table text, coloured volcano points)
    colours = {img.pixel(x, y) for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}
    assert len(colours) > 20
    tab.plots.setCurrentWidget(tab.gene_view)
    save_screenshot(tab, tmp_path / "results_gene_view.png")
    tab.plots.setCurrentWidget(tab.heatmap)
    save_screenshot(tab, tmp_path / "results_covariance.png")
    if os.environ.get("FASTMIX_SCREENSHOT_DIR"):
        assert (os.path.isfile(os.path.join(os.environ["FASTMIX_SCREENSHOT_DIR"], "results_tab.png")))


def test_repaints_do_not_exhaust_none_refcount(qtbot):
    """PySide6 drops a reference to None per void-virtual override call (paintEvent): must not abort."""
    import sys

    from PySide6.QtWidgets import QWidget

    from gui.compat import keep_none_alive

    class Painted(QWidget):
        def paintEvent(self, event):  # noqa: N802 - returns None: the bug's trigger
            pass

    w = Painted()
    qtbot.addWidget(w)
    w.show()
    before = sys.getrefcount(None)
    for _ in range(200):
        w.repaint()
    after = sys.getrefcount(None)
    if keep_none_alive():
        assert after > 1 << 59  # far from zero whatever the drift
        assert sys.getrefcount(True) > 1 << 59 and sys.getrefcount(False) > 1 << 59
    else:
        assert after == before  # immortal None (CPython >= 3.12)


def test_gui_takes_the_gil_back_within_a_millisecond():
    """Importing gui shortens the GIL switch interval (benchmarks/bench_export_ui.py: with Python's
    5 ms, an export in a worker froze the window 93-117 ms; with 1 ms, 65-97 ms)."""
    import sys

    import gui  # noqa: F401
    from gui.compat import GIL_SWITCH_S

    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_S) and GIL_SWITCH_S <= 0.001


def test_calibration_view_compares_calls_with_permuted_labels(tab, fitted):
    """The Calibration tab shows, for the selected term, the observed curve (k calls) against the
    permuted-label curve, and a sentence with the same numbers as the run report."""
    from study.report import calibration_sentence, calibration_summary

    _, fit = fitted
    res = fit.results_
    tab.plots.setCurrentWidget(tab.calibration)
    for term in ("Cell1.Group", "Group"):
        tab.select_term(term)
        curve = res.calibration.curves[term]
        x, y = tab.calibration.observed.getOriginalDataset()  # data units (the axes are log)
        np.testing.assert_array_equal(x, curve["rank"])
        _, e = tab.calibration.expected.getOriginalDataset()
        np.testing.assert_allclose(e, np.maximum(curve["expected_null_at_or_above"], 0.01))
        entry = calibration_summary(res, 0.05)["calls_at_fdr_0.05"][term]
        assert tab.calibration.sentence.text() == calibration_sentence(term, entry, 0.05)
        assert str(entry["observed"]) in tab.calibration.sentence.text() or entry["observed"] == 0
    tab.select_term("Cell1")  # a cell-type term is not permuted: no curve, a plain sentence
    x, _ = tab.calibration.observed.getOriginalDataset()
    assert x is None or len(x) == 0
    assert "moderated quasi-FDR" in tab.calibration.sentence.text()


def test_gene_view_reads_in_the_users_terms(qtbot):
    """A text covariate's groups are named by level (not 'Group[treated] = 0/1'), and the
    proportion axis shows fractions, not '(x0.001)' with ticks at 200-800."""
    from engine.fastmix import FastMix
    from engine.simulate import simulate_study
    from gui.plots.gene_view import GeneViewWidget

    s = simulate_study(200, 24, seed=8)
    cov = pd.DataFrame({"Group": np.where(s.covariates.iloc[:, 0].to_numpy() > 0, "treated", "control")},
                       index=s.covariates.index)
    fit = FastMix(permutations=0).fit(s.expression, s.proportions, cov, reference={"Group": "control"})
    view = GeneViewWidget()
    qtbot.addWidget(view)
    view.set_model(fit.design_, fit.coef_, fit.fitted_, s.expression)
    view.show_gene(str(s.expression.index[3]))
    assert sorted(view.curves) == ["Group: reference level", "Group: treated"]
    axis = view.plot.plotItem.getAxis("bottom")
    assert not axis.autoSIPrefix and "(fraction of cells)" in axis.labelText
    assert "not loaded" not in view.info.text()  # the observed expression was given


def test_bundled_go_library_is_the_default_enrichment(qtbot):
    """With no file at hand the enrichment panel runs the bundled GO BP library: genes named after
    a set's members and changing with the group in one cell type put that set first."""
    from engine.fastmix import FastMix
    from engine.simulate import simulate_study
    from study.genesets import load_library

    sets = load_library("go-bp").sets
    target = next(n for n in sorted(sets) if n.startswith("GO:0050852 "))  # T cell receptor signaling
    others = sorted(set().union(*(sets[n] for n in sorted(sets)[:400])) - sets[target])[:1500]
    genes = sorted(sets[target]) + others
    s = simulate_study(len(genes), 40, seed=4)
    expr = s.expression.set_axis(genes, axis=0)
    z = s.covariates["Group"].to_numpy() - s.covariates["Group"].mean()
    signal = s.proportions["Neutrophils"].to_numpy() * z
    rows = np.arange(len(sets[target]))
    expr.iloc[rows] += 3.0 * expr.iloc[rows].std(axis=1).to_numpy()[:, None] * signal / signal.std()
    fit = FastMix(permutations=30, include_covariate_main=False).fit(expr, s.proportions, s.covariates)
    tab = ResultsTab()
    qtbot.addWidget(tab)
    tab.set_results(fit.results_, fit)
    tab.select_term("Neutrophils.Group")
    assert tab.gmt_edit.text() == "go-bp"
    qtbot.mouseClick(tab.enrich_button, Qt.MouseButton.LeftButton)
    frame = tab.enrichment_frame
    assert frame.iloc[0]["gene_set"] == target and frame.iloc[0]["p_adj"] <= 0.05
    assert "sets of go-bp" in tab.enrich_status.text()
