"""Export from the Results tab: Excel, CSV, GSEA .rnk/.gmt, gene lists, plots (PNG + SVG), run report."""
from __future__ import annotations

import functools
import hashlib
import json
import stat
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from engine.fastmix import FastMix
from engine.simulate import simulate_sim3
from gui.plots.export import export_plot, safe_stem
from gui.plots.volcano import VolcanoWidget
from gui.results_tab import ResultsTab
from study.bundle import write_bundle
from study.files import file_mode

RENAMED = {"Gene1": "SEPT7", "Gene2": "MARCH1", "Gene3": "=SUM(A1:A9)", "Gene4": "-DEL"}


@functools.lru_cache(maxsize=1)
def _fit():
    sim = simulate_sim3(m=600, n=40, seed=3)
    expr = sim.expression.rename(index=RENAMED)
    fit = FastMix().fit(expr, sim.proportions, sim.covariates)
    return expr, fit


def _read_rnk(path):
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    assert all(len(r) == 2 for r in rows)
    return pd.Series([float(v) for _, v in rows], index=[g for g, _ in rows])


def test_export_plot_writes_png_and_svg(qtbot, tmp_path):
    w = VolcanoWidget()
    qtbot.addWidget(w)
    frame = pd.DataFrame({"gene": ["A", "B", "C"], "coefficient": [1.0, -2.0, 0.5],
                          "random_effect": [0.5, -1.0, 0.0], "quasi_p": [1e-6, 0.01, 0.5],
                          "quasi_fdr": [3e-6, 0.015, 0.5]})
    w.set_data(frame, fdr=0.05, term="T")
    png, svg = export_plot(w, tmp_path / "sub", "volcano_T")
    img = QImage(str(png))
    assert img.width() == 1600 and img.height() > 100
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert not list(tmp_path.glob("sub/.*"))  # no temp files left behind
    assert stat.S_IMODE(png.stat().st_mode) == stat.S_IMODE(svg.stat().st_mode) == file_mode()
    assert safe_stem("Cell1.Group") == "Cell1.Group" and safe_stem("Age (yrs)/x") == "Age__yrs__x"


def test_export_results_in_worker_writes_every_file(qtbot, tmp_path):
    from gui.project_model import ProjectModel
    from gui.workers import JobRunner

    expr, fit = _fit()
    res = fit.results_
    expr_file = tmp_path / "expression.csv"
    expr.to_csv(expr_file)
    project = ProjectModel()
    project.update_section("study", {"expression_path": str(expr_file)})
    jobs = JobRunner()
    tab = ResultsTab(project, jobs)
    qtbot.addWidget(tab)
    project.fit = fit
    tab.select_term("Cell2.Group")
    tab.table.selectRow(0)
    out = tmp_path / "export"
    tab.show()
    qtbot.waitExposed(tab)
    assert not tab.term_csvs_check.isChecked()  # off by default: a third copy of the largest table
    qtbot.mouseClick(tab.term_csvs_check, Qt.MouseButton.LeftButton)
    assert tab.term_csvs_check.isChecked()
    with qtbot.waitSignal(tab.export_finished, timeout=30000) as blocker:
        worker = tab.export_to(out)
    assert worker is not None  # really ran in a Worker
    written = blocker.args[0]
    assert all(p.is_file() for paths in written.values() for p in paths)

    # Excel: a ranked sheet per term + fixed effects, D, parameters, report
    from openpyxl import load_workbook
    wb = load_workbook(out / "results.xlsx", read_only=True)
    for name in ("Fixed effects", "Covariance D", "Parameters", "Run report"):
        assert name in wb.sheetnames
    assert all(t in wb.sheetnames for t in res.terms)
    rows = list(wb["Cell2.Group"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert header[0] == "gene" and "rank" in header
    ranks = [r[header.index("rank")] for r in body]
    assert ranks == list(range(1, len(res.genes) + 1))
    genes = [r[0] for r in body]
    assert body[0][0] == res.genes_at(res.ranking("Cell2.Group")[:1])[0]  # ranked as in the app
    assert "SEPT7" in genes and "MARCH1" in genes            # symbols stay text, not dates
    assert "=SUM(A1:A9)" not in genes and "'=SUM(A1:A9)" in genes  # formula neutralised
    wb.close()

    # CSV per term, GSEA rnk sorted descending with the agreed score, gmt, gene lists
    read = functools.partial(pd.read_csv, dtype={"gene": str}, keep_default_na=False, na_values=[""])
    stacked = read(out / "gene_results.csv")
    for t in res.terms:
        csv = read(out / "csv" / f"{t}.csv")
        assert len(csv) == len(res.genes)
        same = stacked.loc[stacked["term"] == t].drop(columns="term").reset_index(drop=True)
        pd.testing.assert_frame_equal(csv, same)  # the same rows as gene_results.csv
        rnk = _read_rnk(out / "gsea" / f"{t}.rnk")
        assert rnk.index.is_unique and len(rnk) == len(res.genes)
        assert np.all(np.diff(rnk.to_numpy()) <= 0)
        g = "SEPT7"
        expect = np.sign(res.coef.loc[g, t]) * res.score.loc[g, t]  # the app's ranking statistic
        assert rnk[g] == pytest.approx(expect, rel=5e-7)  # 7 significant digits
    assert (out / "gsea" / "significant_sets.gmt").is_file()
    up = (out / "gene_lists" / "Cell2.Group_up.txt").read_text().split()
    assert len(up) == 100
    assert (out / "gene_lists" / "background.txt").read_text().split().__len__() == len(res.genes)

    # a volcano PNG per term, painted in the worker (no SVG: 10 MB each for 12k genes); small plots also SVG
    from PySide6.QtGui import QImage

    for t in res.terms:
        image = QImage(str(out / "plots" / f"volcano_{t}.png"))
        assert (image.width(), image.height()) == (900, 700) and not (out / "plots" / f"volcano_{t}.svg").exists()
        colours = {image.pixelColor(x, y).name() for x in range(80, 870, 7) for y in range(50, 640, 7)}
        assert len(colours) > 3  # points drawn, not a blank canvas
    assert (out / "plots" / "covariance_D.png").is_file() and (out / "plots" / "covariance_D.svg").is_file()
    gene = tab.selected_gene()
    assert (out / "plots" / f"gene_{safe_stem(gene)}.svg").is_file()

    # run report beside the export: checksums of the inputs, parameters, results summary
    report = json.loads((out / "report.json").read_text())
    entry = next(e for e in report["inputs"] if e["role"] == "expression_path")
    assert entry["sha256"] == hashlib.sha256(expr_file.read_bytes()).hexdigest()
    assert report["parameters"]["trim"] == 0.5 and report["parameters"]["export_top_n"] == 100
    assert report["results"]["kept_genes"] == fit.kept_genes_
    assert "<html" in (out / "report.html").read_text().lower()
    assert project.section("results")["export_dir"]
    jobs.shutdown()


def test_export_results_function_reports_progress_and_cancels(tmp_path):
    from engine.progress import Cancelled
    _, fit = _fit()
    seen = []
    write_bundle(fit.results_, tmp_path / "a", progress=lambda d, t, m: seen.append((d, t, m)))
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1]
    assert not (tmp_path / "a" / "report.json").exists()  # no report asked for
    assert (tmp_path / "a" / "gsea").is_dir() and not (tmp_path / "a" / "csv").exists()  # CSV per term: opt-in

    def cancel(done, total, message):
        if done >= 1:  # after the tables, before the files per term
            raise Cancelled(message)
    with pytest.raises(Cancelled):
        write_bundle(fit.results_, tmp_path / "b", progress=cancel)
    assert (tmp_path / "b" / "results.xlsx").is_file() and (tmp_path / "b" / "gene_results.csv").is_file()
    assert not (tmp_path / "b" / "gsea").exists() and not (tmp_path / "b" / "csv").exists()
