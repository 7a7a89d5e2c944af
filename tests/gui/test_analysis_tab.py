"""Analysis tab driven as a person would: choose terms, check the design, run FastMix in a worker."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest

from gui.analysis_tab import AnalysisTab
from gui.project_model import ProjectModel
from gui.study_tab import StudyTab
from gui.workers import JobRunner
from tests.gui.test_study_tab import make_study


@pytest.fixture
def tabs(qtbot):
    project = ProjectModel()
    jobs = JobRunner()
    study = StudyTab(project, jobs)
    analysis = AnalysisTab(project, jobs)
    for w in (study, analysis):
        qtbot.addWidget(w)
        w.resize(1200, 800)
    analysis.show()
    yield study, analysis
    jobs.shutdown()


def _prepare(study: StudyTab, files: dict) -> None:
    assert study.load_sheet(files["sheet"])
    assert study.load_expression(files["expression"])
    assert study.load_proportions(files["proportions"])
    study.apply_suggestions()
    assert study.inputs.match.ok


def _item(widget, text):
    items = widget.findItems(text, Qt.MatchFlag.MatchExactly)
    assert items, f"{text} not in list"
    return items[0]


def _run_and_wait(qtbot, analysis: AnalysisTab, timeout: int = 60_000):
    with qtbot.waitSignal(analysis.project.results_changed, timeout=timeout):
        qtbot.mouseClick(analysis.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: analysis.worker is None and not analysis.jobs.is_running(), timeout=timeout)
    return analysis.project.fit


def test_term_choice_updates_preview_and_is_stored(tabs, tmp_path):
    study, analysis = tabs
    _prepare(study, make_study(tmp_path / "s"))
    assert [analysis.cells_list.item(i).text() for i in range(analysis.cells_list.count())] == ["Cell1", "Cell2", "Cell3"]
    assert [analysis.covariates_list.item(i).text() for i in range(analysis.covariates_list.count())] == ["Severity", "Sex"]
    terms = analysis.preview_terms()
    assert terms == ["Cell1", "Cell2", "Cell3", "Severity", "Sex[M]", "Cell1.Severity", "Cell2.Severity",
                     "Cell3.Severity", "Cell1.Sex[M]", "Cell2.Sex[M]", "Cell3.Sex[M]"]
    assert "Model terms (11)" in analysis.preview_label.text()
    _item(analysis.covariates_list, "Sex").setCheckState(Qt.CheckState.Unchecked)
    _item(analysis.cells_list, "Cell3").setCheckState(Qt.CheckState.Unchecked)
    analysis.main_box.click()
    assert analysis.preview_terms() == ["Cell1", "Cell2", "Cell1.Severity", "Cell2.Severity"]
    _item(analysis.terms_list, "Cell2.Severity").setCheckState(Qt.CheckState.Unchecked)
    stored = analysis.project.section("analysis")
    assert stored["cells"] == ["Cell1", "Cell2"] and stored["covariates"] == ["Severity"]
    assert stored["terms"] == ["Cell1.Severity"] and stored["options"]["include_covariate_main"] is False
    # changing the reference level on the Study tab renames the preview terms
    _item(analysis.covariates_list, "Sex").setCheckState(Qt.CheckState.Checked)
    study.set_reference("Sex", "M")
    assert "Cell1.Sex[F]" in analysis.preview_terms()
    assert analysis.project.section("analysis")["cells"] == ["Cell1", "Cell2"]   # choices kept on reload


@pytest.mark.parametrize("weighting", ["none", "subject", "weights"])
def test_run_equals_command_line(tabs, tmp_path, qtbot, weighting):
    from study.fastmix_cli import run_fastmix

    files = make_study(tmp_path / "s", m=400, n=30)
    weights = pd.Series(np.linspace(0.5, 2.0, 30), index=files["truth_sheet"].index, name="weight")
    if weighting == "weights":
        sheet = pd.read_csv(files["sheet"], index_col=0)
        sheet["Sample weight"] = weights.to_numpy()
        sheet.to_csv(files["sheet"])
    study, analysis = tabs
    _prepare(study, files)
    if weighting == "weights":
        assert study.roles_model.roles()["Sample weight"] == "weight"
    analysis.weight_combo.setCurrentIndex(analysis.weight_combo.findData(weighting))
    analysis.trim_spin.setValue(0.4)
    assert analysis.run_button.isEnabled(), [i.text() for i in analysis.issues]
    fit = _run_and_wait(qtbot, analysis)
    assert "Done: 400 genes" in analysis.status_label.text()
    assert analysis.progress_bar.value() == analysis.progress_bar.maximum()

    cov = files["truth_sheet"][["Severity", "Sex", "Donor"] if weighting == "subject" else ["Severity", "Sex"]]
    cov.to_csv(tmp_path / "covariates.csv", index_label="Sample")
    cli, _ = run_fastmix(files["expression"], files["proportions"], tmp_path / "covariates.csv",
                         trim=0.4, reference={"Sex": "F"}, seed=0,
                         subject="Donor" if weighting == "subject" else None,
                         weights=weights if weighting == "weights" else None)
    gui_frame = fit.results_.to_frame().sort_values(["term", "gene"]).reset_index(drop=True)
    cli_frame = cli.results_.to_frame().sort_values(["term", "gene"]).reset_index(drop=True)
    assert list(gui_frame.columns) == list(cli_frame.columns)
    assert gui_frame["gene"].tolist() == cli_frame["gene"].tolist()
    assert gui_frame["term"].tolist() == cli_frame["term"].tolist()
    for col in ("coefficient", "random_effect", "quasi_p", "quasi_fdr", "ols_p", "ols_fdr"):
        np.testing.assert_allclose(gui_frame[col].to_numpy(), cli_frame[col].to_numpy(), rtol=0, atol=1e-10,
                                   err_msg=col)
    assert (gui_frame["rank"].to_numpy() == cli_frame["rank"].to_numpy()).all()
    if weighting != "none":   # the weighting really reached the fit
        files["truth_sheet"][["Severity", "Sex"]].to_csv(tmp_path / "plain.csv", index_label="Sample")
        plain, _ = run_fastmix(files["expression"], files["proportions"], tmp_path / "plain.csv",
                               trim=0.4, reference={"Sex": "F"}, seed=0)
        plain_frame = plain.results_.to_frame().sort_values(["term", "gene"]).reset_index(drop=True)
        assert np.abs(plain_frame["coefficient"].to_numpy() - gui_frame["coefficient"].to_numpy()).max() > 1e-3
    # and the fit finds the simulated truth: the planted Cell1 DEGs (5 % of genes) fill the top of the list
    frame = fit.results_.to_frame(term="Cell1").set_index("gene")
    deg = files["sim"].deg["Cell1"]
    top = frame.sort_values("quasi_p").index[: int(deg.sum())]
    assert deg.loc[top].mean() > 0.3          # 6x the 5 % expected by chance


def test_singular_design_blocks_run_and_explains_fix(tabs, tmp_path, qtbot):
    files = make_study(tmp_path / "s", mismatch=False)
    sheet = pd.read_csv(files["sheet"], index_col=0)
    sheet["Dose"] = sheet["Severity"] * 2.0 + 1.0          # collinear with Severity
    sheet.to_csv(files["sheet"])
    study, analysis = tabs
    _prepare(study, files)
    errors = [i for i in analysis.issues if i.level == "error"]
    assert errors and "singular" in errors[0].message and "Dose" in errors[0].message
    assert not analysis.run_button.isEnabled()
    before = analysis.project.section("study")
    QTest.keyClick(analysis, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)     # Run shortcut
    assert analysis.error_dialog is not None
    assert "singular" in analysis.error_dialog.text()
    assert "untick" in analysis.error_dialog.informativeText()
    assert analysis.project.fit is None
    assert analysis.project.section("study") == before                              # mapping kept
    _item(analysis.covariates_list, "Dose").setCheckState(Qt.CheckState.Unchecked)  # the fix works
    assert analysis.run_button.isEnabled()


def test_proportions_adding_to_one_need_main_terms_off(tabs, tmp_path, qtbot):
    files = make_study(tmp_path / "s", mismatch=False)
    props = pd.read_csv(files["proportions"], index_col=0)
    props["Other"] = 100.0 - props.sum(axis=1)
    props.to_csv(files["proportions"])
    study, analysis = tabs
    _prepare(study, files)
    errors = [i for i in analysis.issues if i.level == "error"]
    assert errors and "covariate main terms" in errors[0].fix
    analysis.main_box.click()
    assert not [i for i in analysis.issues if i.level == "error"]
    assert analysis.run_button.isEnabled()


def test_no_matching_ids_shows_dialog(tabs, tmp_path, qtbot):
    files = make_study(tmp_path / "s", mismatch=False)
    study, analysis = tabs
    _prepare(study, files)
    props = pd.read_csv(files["proportions"], index_col=0)
    props.index = [f"P{i}" for i in range(len(props))]
    props.to_csv(tmp_path / "other.csv")
    assert study.load_proportions(tmp_path / "other.csv")
    assert study.error_dialog is not None and "No sample IDs match" in study.error_dialog.windowTitle()
    assert not analysis.run_button.isEnabled()
    assert analysis.run() is False
    assert "no sample ID is shared" in analysis.error_dialog.text()
    assert "Study tab" in analysis.error_dialog.informativeText()


def test_ui_stays_responsive_and_cancel_works_on_20000_genes(tabs, tmp_path, qtbot):
    files = make_study(tmp_path / "big", m=20_000, n=40, mismatch=False)
    study, analysis = tabs
    assert study.load_sheet(files["sheet"]) and study.load_proportions(files["proportions"])
    worker = study.load_in_background("expression", files["expression"])   # what the Load button does
    assert worker is not None
    qtbot.waitUntil(lambda: "20,000 genes x 40 samples" in study.expr_label.text(), timeout=60_000)
    qtbot.waitUntil(lambda: not analysis.jobs.is_running(), timeout=10_000)
    assert analysis.run_button.isEnabled()

    # Cancel: nothing is kept
    analysis.run()
    analysis.cancel_button.click()
    qtbot.waitUntil(lambda: analysis.worker is None, timeout=60_000)
    assert analysis.project.fit is None and "Cancelled" in analysis.status_label.text()

    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    stages = []
    t0 = time.perf_counter()
    analysis.run()
    analysis.worker.progress.connect(lambda d, t, msg: stages.append(msg))
    qtbot.waitUntil(lambda: analysis.worker is None, timeout=120_000)
    elapsed = time.perf_counter() - t0
    timer.stop()
    fit = analysis.project.fit
    assert fit is not None and fit.coef_.shape[0] == 20_000
    during = [t for t in ticks if t0 <= t]
    assert len(during) >= 5, f"event loop ticked {len(during)} times in {elapsed:.2f} s"
    gaps = np.diff([t0, *during])
    assert gaps.max() < 1.0, f"the window froze for {gaps.max():.2f} s"
    assert len(set(stages)) >= 3        # progress by stage reached the UI


def test_screenshot_analysis_tab(tabs, tmp_path, qtbot):
    study, analysis = tabs
    _prepare(study, make_study(tmp_path / "s"))
    fit = _run_and_wait(qtbot, analysis)
    assert fit is not None
    qtbot.wait(50)
    image = analysis.grab()
    assert image.width() >= 1000 and image.height() >= 700
    targets = [tmp_path / "analysis_tab.png"]
    if os.environ.get("FASTMIX_SCREENSHOT_DIR"):
        Path(os.environ["FASTMIX_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        targets.append(Path(os.environ["FASTMIX_SCREENSHOT_DIR"]) / "analysis_tab.png")
    for t in targets:
        assert image.save(str(t)) and t.stat().st_size > 10_000


def test_project_with_gating_proportions_and_partial_roles(qtbot, tmp_path):
    """A saved project (as the demo writes it): roles for some columns only, proportions from gating."""
    import json

    files = make_study(tmp_path / "s", mismatch=False)
    project_file = tmp_path / "s" / "study.fmsproj"
    data = ProjectModel().data
    data["study"] = {"sheet_path": "sheet.csv", "expression_path": "expression.csv", "genes_in_rows": True,
                     "proportions_source": "gating", "populations": ["Cell1", "Cell2"],
                     "columns": [{"name": "Severity", "role": "continuous", "reference": None},
                                 {"name": "Sex", "role": "categorical", "reference": "M"}]}
    project_file.write_text(json.dumps(data))
    project = ProjectModel.load(project_file)
    jobs = JobRunner()
    try:
        study, analysis = StudyTab(project, jobs), AnalysisTab(project, jobs)
        qtbot.addWidget(study)
        qtbot.addWidget(analysis)
        roles = study.roles_model.roles()
        assert roles["Sample"] == "sample_id" and roles["Donor"] == "subject"   # guessed: not stored
        assert roles["Sex"] == "categorical" and study.roles_model.references() == {"Sex": "M"}
        assert "No proportions from the Gating tab" in study.props_label.text()
        assert analysis.cells_list.count() == 0 and not analysis.run_button.isEnabled()
        gated = files["sim"].proportions.copy()
        gated.columns = [f"Singlets/Live/{c}" for c in gated.columns]
        project.proportions = gated                                    # what the Gating tab delivers
        assert "Gating tab: 30 samples x 3 cell types" in study.props_label.text()
        assert study.match_label.text().startswith("30 samples are in all inputs")
        cells = {analysis.cells_list.item(i).text(): analysis.cells_list.item(i).checkState()
                 for i in range(analysis.cells_list.count())}
        assert cells == {"Singlets/Live/Cell1": Qt.CheckState.Checked, "Singlets/Live/Cell2": Qt.CheckState.Checked,
                         "Singlets/Live/Cell3": Qt.CheckState.Unchecked}
        assert "Singlets/Live/Cell1.Sex[F]" in analysis.preview_terms()
        with qtbot.waitSignal(project.results_changed, timeout=60_000):
            analysis.run_button.click()
        qtbot.waitUntil(lambda: analysis.worker is None and not jobs.is_running(), timeout=60_000)
        assert list(project.fit.coef_.columns)[:2] == ["Singlets/Live/Cell1", "Singlets/Live/Cell2"]
        assert len(project.fit.coef_.columns) == 2 + 2 + 2 * 2
    finally:
        jobs.shutdown()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from study.demo import ensure_demo_study

    return ensure_demo_study(tmp_path_factory.mktemp("demo") / "demo").parent


def test_demo_study_end_to_end(qtbot, demo_dir):
    """The demo project: fix a lower-cased sheet ID, run with repeated measures, equal to the CLI, finds truth."""
    from study.fastmix_cli import run_fastmix

    sheet_path = demo_dir / "sample_sheet.csv"
    original = sheet_path.read_text()
    sheet_path.write_text(original.replace("S03_V2,", "s03_v2,", 1))
    project = ProjectModel.load(demo_dir / "demo.fmsproj")
    jobs = JobRunner()
    try:
        study, analysis = StudyTab(project, jobs), AnalysisTab(project, jobs)
        for w in (study, analysis):
            qtbot.addWidget(w)
        truth_props = pd.read_csv(demo_dir / "true_proportions.csv", index_col=0)
        project.proportions = truth_props                            # as the Gating tab would deliver
        assert study.roles_model.roles()["sample_id"] == "sample_id"
        assert study.match_label.text().startswith("23 samples are in all inputs")
        qtbot.mouseClick(study.fix_button, Qt.MouseButton.LeftButton)
        assert study.match_label.text().startswith("24 samples are in all inputs")
        assert not analysis.main_box.isChecked()                     # proportions add up to 1
        analysis.weight_combo.setCurrentIndex(analysis.weight_combo.findData("subject"))
        assert analysis.run_button.isEnabled(), [i.text() for i in analysis.issues]
        fit = _run_and_wait(qtbot, analysis)
    finally:
        jobs.shutdown()
        sheet_path.write_text(original)
    assert any("rho" in n for n in fit.notices_)
    cli, _ = run_fastmix(demo_dir / "expression.csv", demo_dir / "true_proportions.csv", sheet_path,
                         include_covariate_main=False, subject="subject_id",
                         reference={"visit": "V1", "response": "non-responder"})
    a = fit.results_.to_frame().sort_values(["term", "gene"]).reset_index(drop=True)
    b = cli.results_.to_frame().sort_values(["term", "gene"]).reset_index(drop=True)
    assert a[["gene", "term"]].equals(b[["gene", "term"]])
    for col in ("coefficient", "random_effect", "quasi_p", "quasi_fdr", "ols_p", "ols_fdr"):
        np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), rtol=0, atol=1e-10, err_msg=col)
    deg = pd.read_csv(demo_dir / "true_deg.csv", index_col=0).astype(bool)
    term = "Neutrophils.response[responder]"
    ranked = fit.results_.to_frame(term=term).sort_values("quasi_p")["gene"].to_numpy()
    n_true = int(deg[term].sum())
    assert deg[term].loc[ranked[:n_true]].mean() > 0.5          # base rate is 5 %


def test_variance_and_permutation_choices_reach_the_fit(qtbot, tabs, tmp_path):
    """The user picks R-compatible variances and 30 permutations with seed 5: the fit gets them,
    the project stores them, and permutations 0 turns calibration off."""
    study, analysis = tabs
    _prepare(study, make_study(tmp_path / "s"))
    assert analysis.variance_combo.currentData() == "moderated" and analysis.perm_spin.value() == 200
    analysis.variance_combo.setCurrentIndex(analysis.variance_combo.findData("pooled"))
    analysis.perm_spin.setValue(30)
    analysis.seed_spin.setValue(5)
    fit = _run_and_wait(qtbot, analysis)
    assert (fit.variance, fit.permutations, fit.random_state) == ("pooled", 30, 5)
    assert analysis.project.section("analysis")["options"]["permutations"] == 30
    term = next(t for t in fit.results_.terms if "." in t)
    assert fit.results_.perm_p[term].notna().all() and fit.results_.calibration.n_permutations == 30
    analysis.perm_spin.setValue(0)
    fit = _run_and_wait(qtbot, analysis)
    assert fit.results_.perm_p[term].isna().all()
    np.testing.assert_array_equal(fit.results_.fdr[term], fit.results_.quasi_fdr[term])  # pooled, no perms


def test_near_collinear_blood_counts_warn_and_offer_the_one_click_fix(tabs, tmp_path, qtbot):
    """Fractions that add up to ~0.98 in every sample (a blood count) with covariate main terms on:
    the check names the main terms and their variance inflation (not '✓ fine'), and one click on
    the offered button turns the main terms off, after which the warning is gone."""
    study, analysis = tabs
    files = make_study(tmp_path / "s", mismatch=False)
    ids = list(files["sim"].proportions.index)
    rng = np.random.default_rng(7)
    counts = rng.dirichlet([8, 4, 2], len(ids)) * rng.uniform(0.975, 0.985, (len(ids), 1))
    pd.DataFrame(counts * 100, index=ids, columns=["Cell1", "Cell2", "Cell3"]).to_csv(files["proportions"])
    _prepare(study, files)
    analysis.main_box.setChecked(True)
    texts = [analysis.issues_list.item(i).text() for i in range(analysis.issues_list.count())]
    warned = [t for t in texts if "almost a multiple of the sum of its cell-type interactions" in t]
    assert warned and "variance inflation" in warned[0] and "Severity" in warned[0], texts
    assert analysis.no_main_button.isVisible() and analysis.run_button.isEnabled()  # a warning, not a block
    qtbot.mouseClick(analysis.no_main_button, Qt.MouseButton.LeftButton)
    assert not analysis.main_box.isChecked()
    texts = [analysis.issues_list.item(i).text() for i in range(analysis.issues_list.count())]
    assert not any("almost a multiple" in t for t in texts) and not analysis.no_main_button.isVisible()


def test_date_like_gene_ids_block_the_run_until_the_user_chooses(tabs, tmp_path, qtbot):
    """Gene IDs Excel turned into dates open a dialog on loading; until a fix is chosen the Analysis
    tab shows a blocking error naming them; 'Restore symbols' brings SEPT9 and MARCH5 back."""
    from study.assembly import collect_study

    study, analysis = tabs
    files = make_study(tmp_path / "s", mismatch=False)
    expr = pd.read_csv(files["expression"], index_col=0)
    expr.index = ["9-Sep", "2024-03-05", "1-Mar"] + list(expr.index[3:])  # 1-Mar: MARCH1 or MARC1
    expr.to_csv(files["expression"])
    _prepare(study, files)
    box = study.date_dialog
    assert box is not None and box.isVisible() and "9-Sep" in box.text() and "3 gene ID(s)" in box.text()
    texts = [analysis.issues_list.item(i).text() for i in range(analysis.issues_list.count())]
    assert any(t.startswith("⛔") and "look like dates Excel made" in t for t in texts), texts
    assert not analysis.run_button.isEnabled()
    restore = next(b for b in box.buttons() if b.text() == "Restore symbols")
    qtbot.mouseClick(restore, Qt.MouseButton.LeftButton)
    genes = list(collect_study(study.project, strict=True).expression.index)
    assert genes[:3] == ["SEPT9", "MARCH5", "1-Mar"]  # the ambiguous one is kept as it is
    assert analysis.run_button.isEnabled()
    assert study.project.section("study")["date_ids"] == "restore"
