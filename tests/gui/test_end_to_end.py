"""End to end, driven as a person would: open the demo study in the real main window, map the sheet
and resolve a mismatched sample ID (Study), choose terms and run FastMix (Analysis), sort and filter
a ranked table and click a volcano point (Results), export everything and check the files."""
from __future__ import annotations

import numpy as np
import pandas as pd
from PySide6.QtCore import QPoint, QPointF, Qt

from gui import settings as st
from gui.main_window import MainWindow
from gui.plots.export import safe_stem
from gui.results_tab import save_screenshot
from study.demo import ensure_demo_study
from study.export import file_stem, sheet_names

FORMULA_GENE = "=2+3"


def _tamper(folder):
    """A sheet ID that differs only by case, and a formula-like gene symbol."""
    sheet = folder / "sample_sheet.csv"
    text = sheet.read_text()
    assert "\nS05_V2," in text
    sheet.write_text(text.replace("\nS05_V2,", "\ns05_v2,"))
    expr = folder / "expression.csv"
    lines = expr.read_text().splitlines(keepends=True)
    gene, rest = lines[1].split(",", 1)
    lines[1] = f"{FORMULA_GENE},{rest}"
    expr.write_text("".join(lines))
    return gene


def _wait_jobs(qtbot, win, timeout=60000):
    qtbot.waitUntil(lambda: not win.jobs.is_running(), timeout=timeout)


def _shown(tab, name):
    col = list(tab.table_model.source_frame().columns).index(name)
    return [tab.proxy.index(r, col).data(Qt.ItemDataRole.UserRole) for r in range(tab.proxy.rowCount())]


def test_demo_study_to_exported_results(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMIX_STUDIO_DATA", str(tmp_path / "userdata"))
    project_file = ensure_demo_study(tmp_path / "demo")
    folder = project_file.parent
    _tamper(folder)

    win = MainWindow(settings=st.make_settings(tmp_path / "settings.ini"), interactive=False)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    assert win.open_project(project_file)
    _wait_jobs(qtbot, win)
    study, analysis, results = (win.tab_widgets[n] for n in ("Study", "Analysis", "Results"))

    # --- Study: the sheet is mapped from the project; proportions from the file; fix the mismatched ID
    win.tabs.setCurrentWidget(study)
    assert study.load_proportions(folder / "true_proportions.csv")
    _wait_jobs(qtbot, win)
    items = [study.suggestion_list.item(i).text() for i in range(study.suggestion_list.count())]
    assert any("s05_v2" in t and "S05_V2" in t for t in items), items
    qtbot.mouseClick(study.fix_button, Qt.MouseButton.LeftButton)
    assert ["s05_v2", "S05_V2"] in win.project.section("study")["id_renames"]

    # --- Analysis: choose terms, run FastMix
    win.tabs.setCurrentWidget(analysis)
    analysis.reload()
    cells = [analysis.cells_list.item(i).text() for i in range(analysis.cells_list.count())]
    assert set(cells) == {"Neutrophils", "Lymphocytes", "Monocytes"}
    terms = [analysis.terms_list.item(i).text() for i in range(analysis.terms_list.count())]
    assert any(t.startswith("Neutrophils.") for t in terms), terms
    for i in range(analysis.terms_list.count()):  # keep the neutrophil questions only
        item = analysis.terms_list.item(i)
        item.setCheckState(Qt.CheckState.Checked if item.text().startswith("Neutrophils.")
                           else Qt.CheckState.Unchecked)
    assert analysis.run_button.isEnabled(), [i.message for i in analysis.issues]
    with qtbot.waitSignal(analysis.fit_finished, timeout=60000):
        qtbot.mouseClick(analysis.run_button, Qt.MouseButton.LeftButton)
    fit = win.project.fit
    assert fit is not None and len(fit.design_.samples) == 24  # the renamed sample is back in

    # --- Results: sort, filter, click a volcano point
    win.tabs.setCurrentWidget(results)
    assert results.results is fit.results_
    term = next(t for t in fit.results_.terms if t.startswith("Neutrophils."))
    results.select_term(term)
    n_genes = len(fit.results_.genes)
    assert results.proxy.rowCount() == n_genes
    header = results.table.horizontalHeader()
    col = list(results.table_model.source_frame().columns).index("quasi_p")
    x = header.sectionPosition(col) + header.sectionSize(col) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    p = np.array(_shown(results, "quasi_p"))
    assert np.all(np.diff(p) >= 0) or np.all(np.diff(p) <= 0)
    qtbot.keyClicks(results.gene_search, "sept")
    septs = [g for g in fit.results_.genes if "sept" in g.lower()]
    assert len(septs) >= 1 and sorted(_shown(results, "gene")) == sorted(septs)
    results.gene_search.clear()

    gene = fit.results_.quasi_p[term].idxmin()
    volcano = results.volcano
    results.plots.setCurrentWidget(volcano)
    qtbot.waitUntil(volcano.isVisible)
    gx, gy = volcano.point_position(gene)
    pos = volcano.mapFromScene(volcano.plotItem.vb.mapViewToScene(QPointF(gx, gy)))
    with qtbot.waitSignal(volcano.gene_clicked, timeout=3000):
        qtbot.mouseClick(volcano.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert results.selected_gene() == gene
    assert volcano.highlighted_gene() == gene
    results.plots.setCurrentWidget(results.gene_view)  # observed expression of the loaded study
    assert "not loaded" not in results.gene_view.info.text()
    observed = results.gene_view.points
    assert observed and all(np.isfinite(ys).all() for _, ys in observed.values())
    save_screenshot(win, tmp_path / "end_to_end_results.png")

    # --- Export everything, reopen and check
    out = tmp_path / "export"
    with qtbot.waitSignal(results.export_finished, timeout=60000):
        results.export_to(out)
    from openpyxl import load_workbook
    wb = load_workbook(out / "results.xlsx", read_only=True)
    assert {"Fixed effects", "Covariance D", "Parameters", "Run report"} <= set(wb.sheetnames)
    sheets = sheet_names(list(fit.results_.terms), reserved=("Fixed effects", "Covariance D", "Parameters",
                                                               "Run report", "Columns"))
    assert all(sheets[t] in wb.sheetnames for t in fit.results_.terms)
    rows = list(wb[sheets[term]].iter_rows(values_only=True))
    header_row, body = rows[0], rows[1:]
    assert [r[header_row.index("rank")] for r in body] == list(range(1, n_genes + 1))
    genes = [r[0] for r in body]
    sept = septs[0]
    assert sept in genes and isinstance(genes[genes.index(sept)], str)
    assert "'" + FORMULA_GENE in genes and FORMULA_GENE not in genes
    wb.close()
    rnk = pd.read_csv(out / "gsea" / f"{file_stem(term)}.rnk", sep="\t", header=None, names=["gene", "score"],
                      dtype={"gene": str}, keep_default_na=False)
    assert len(rnk) == n_genes and rnk["gene"].is_unique
    assert rnk["score"].is_monotonic_decreasing
    assert (out / "report.html").is_file() and (out / "report.json").is_file()
    assert (out / "plots" / f"volcano_{safe_stem(term)}.png").stat().st_size > 5000
    assert sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) < 20e6  # no 10 MB SVGs
    win.jobs.shutdown()
