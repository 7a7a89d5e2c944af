"""Study tab driven as a person would: load the sheet, map roles, load expression/proportions, fix IDs."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLabel

from engine.errors import InputError
from engine.simulate import simulate_sim2
from gui.models.role_mapping import COL_REFERENCE, COL_ROLE, RoleMappingModel
from gui.project_model import ProjectModel
from gui.study_tab import StudyTab
from gui.workers import JobRunner
from study.assembly import collect_study
from study.checks import check_design, guess_roles, merge_renames, sheet_frame, sheet_inputs


def make_study(folder: Path, *, m: int = 400, n: int = 30, seed: int = 3, mismatch: bool = True) -> dict:
    """A small study from the FastMix simulator: expression CSV, proportions in %, sample sheet.

    With ``mismatch`` the sheet spells the first sample ID in lower case ('subj1' for 'Subj1').
    """
    folder.mkdir(parents=True, exist_ok=True)
    sim = simulate_sim2(m=m, n=n, seed=seed)
    sim.expression.to_csv(folder / "expression.csv")
    (sim.proportions * 100).to_csv(folder / "proportions.csv")
    sheet = pd.DataFrame({
        "Severity": sim.covariates["Severity"].to_numpy(),
        "Sex": np.where(sim.covariates["Sex"].to_numpy() > 0, "M", "F"),
        "Donor": [f"D{i // 2}" for i in range(n)],
        "Comment": [f"note {i}" for i in range(n)],
    }, index=list(sim.covariates.index))
    truth = sheet.copy()
    if mismatch:
        sheet.index = ["subj1"] + list(sheet.index[1:])
    sheet.to_csv(folder / "sheet.csv", index_label="Sample")
    return {"sim": sim, "sheet": folder / "sheet.csv", "expression": folder / "expression.csv",
            "proportions": folder / "proportions.csv", "truth_sheet": truth}


@pytest.fixture
def app_parts(qtbot):
    project = ProjectModel()
    jobs = JobRunner()
    yield project, jobs
    jobs.shutdown()


@pytest.fixture
def study_tab(qtbot, app_parts):
    project, jobs = app_parts
    tab = StudyTab(project, jobs)
    qtbot.addWidget(tab)
    tab.resize(1200, 800)
    tab.show()
    return tab


def _role_combo(tab: StudyTab, column: str, which: int = COL_ROLE):
    names = list(tab.roles_model.roles())
    combo = tab.roles_view.indexWidget(tab.roles_model.index(names.index(column), which))
    assert combo is not None, f"no editor for {column}"
    return combo


def _load_all(tab: StudyTab, files: dict) -> None:
    assert tab.load_sheet(files["sheet"])
    assert tab.load_expression(files["expression"])
    assert tab.load_proportions(files["proportions"])


# --------------------------------------------------------------------------- pure helpers
def test_guess_roles_from_data():
    sheet = pd.DataFrame({"ID": ["a", "b", "c", "d"], "Patient": ["p1", "p1", "p2", "p2"],
                          "Day": [0, 7, 0, 7], "Age": [30.0, 40.0, 50.0, 60.0], "Group": ["x", "y", "x", "y"],
                          "sample weight": [1.0, 2.0, 1.0, 2.0], "Site": ["s", "s", "s", "s"]})
    assert guess_roles(sheet) == {"ID": "sample_id", "Patient": "subject", "Day": "visit", "Age": "continuous",
                                  "Group": "categorical", "sample weight": "weight", "Site": "ignore"}


def test_sheet_inputs_apply_roles_renames_and_name_bad_cells():
    sheet = pd.DataFrame({"ID": ["a", "b", "c"], "Age": [1.0, 2.0, 3.0], "Group": ["y", "x", "y"]})
    roles = {"ID": "sample_id", "Age": "continuous", "Group": "categorical"}
    out = sheet_inputs(sheet, roles, reference={"Group": "y"}, renames={"b": "B"}, file="s.csv")
    assert out.ids == ("a", "B", "c")
    assert list(out.covariates.columns) == ["Age", "Group"]
    assert out.covariates.loc["B", "Group"] == "x" and out.reference == {"Group": "y"}
    bad = sheet.assign(Age=["1", "two", "3"])
    with pytest.raises(InputError) as err:
        sheet_inputs(bad, roles, file="s.csv")
    assert "s.csv" in str(err.value) and "Age" in str(err.value) and "'b'" in str(err.value)
    with pytest.raises(InputError, match="Sample ID"):
        sheet_inputs(sheet, {"ID": "ignore", "Age": "continuous"})
    assert merge_renames({"a": "A"}, {"A": "AA", "c": "C"}) == {"a": "AA", "c": "C"}


def test_check_design_finds_sum_to_one_and_collinear_columns():
    rng = np.random.default_rng(0)
    props = pd.DataFrame(rng.dirichlet([5, 5, 5], 20), columns=["A", "B", "C"])
    cov = pd.DataFrame({"Age": rng.normal(50, 10, 20)})
    issues = check_design(props, cov, include_covariate_main=True)
    assert issues[0].level == "error" and "singular" in issues[0].message
    assert "covariate main terms" in issues[0].fix
    assert {"Age", "A.Age", "B.Age", "C.Age"} <= set(issues[0].columns)
    assert check_design(props, cov, include_covariate_main=False) == []
    # dropping one cell type leaves a near-collinear (warned, not blocked) design
    issues = check_design(props[["A", "B"]], cov, include_covariate_main=True)
    assert [i.level for i in issues] == []
    too_few = check_design(props.iloc[:5], cov.iloc[:5], include_covariate_main=False)
    assert too_few[0].level == "error" and "Too few samples" in too_few[0].message


def test_role_mapping_model_passes_model_tester(qtmodeltester):
    sheet = sheet_frame(pd.DataFrame({"Age": [1.0, 2.0], "Sex": ["F", "M"]}, index=["s1", "s2"]))
    model = RoleMappingModel()
    model.set_sheet(sheet, guess_roles(sheet), {})
    qtmodeltester.check(model)
    assert model.references() == {"Sex": "F"}
    assert model.setData(model.index(2, COL_REFERENCE), "M")
    assert model.references() == {"Sex": "M"}
    assert not model.setData(model.index(1, COL_REFERENCE), "1")  # numbers have no reference level


# --------------------------------------------------------------------------- the tab
def test_map_sheet_and_resolve_mismatched_id(study_tab, tmp_path, qtbot):
    files = make_study(tmp_path / "study")
    tab = study_tab
    _load_all(tab, files)
    roles = tab.roles_model.roles()
    assert roles == {"Sample": "sample_id", "Severity": "continuous", "Sex": "categorical", "Donor": "subject",
                     "Comment": "ignore"}
    assert "29 samples are in all inputs" in tab.match_label.text()
    assert "'Subj1' and 'subj1'" in tab.match_label.text() or "'subj1' and 'Subj1'" in tab.match_label.text()
    assert tab.suggestion_list.count() == 1 and tab.fix_button.isEnabled()
    assert "percentages" in tab.props_label.text()
    qtbot.mouseClick(tab.fix_button, Qt.MouseButton.LeftButton)
    assert tab.match_label.text().startswith("30 samples are in all inputs")
    assert "'subj1' → 'Subj1'" in tab.match_label.text()
    assert tab.project.section("study")["id_renames"] == [["subj1", "Subj1"]]
    inputs = collect_study(tab.project, strict=True)
    assert inputs.match.ok and len(inputs.match.common) == 30
    np.testing.assert_allclose(inputs.proportions.sum(axis=1).to_numpy(),
                               files["sim"].proportions.sum(axis=1).to_numpy(), rtol=1e-12)
    # the rename is undoable
    tab.project.undo_stack.undo()
    assert "29 samples" in tab.match_label.text()


def test_role_overrides_survive_save_and_reopen(study_tab, tmp_path, qtbot, app_parts):
    files = make_study(tmp_path / "study")
    tab = study_tab
    _load_all(tab, files)
    _role_combo(tab, "Donor").setCurrentIndex(_role_combo(tab, "Donor").findData("ignore"))
    ref = _role_combo(tab, "Sex", COL_REFERENCE)
    ref.setCurrentIndex(ref.findData("M"))
    tab.apply_suggestions()
    assert tab.roles_model.roles()["Donor"] == "ignore"
    assert tab.roles_model.references() == {"Sex": "M"}
    path = tab.project.save(tmp_path / "p.fmsproj")
    study = ProjectModel.load(path).section("study")
    assert not Path(study["sheet_path"]).is_absolute()          # stored relative to the project
    reopened = ProjectModel.load(path)
    tab2 = StudyTab(reopened, app_parts[1])
    qtbot.addWidget(tab2)
    assert tab2.roles_model.roles()["Donor"] == "ignore"
    assert tab2.roles_model.references() == {"Sex": "M"}
    assert tab2.match_label.text().startswith("30 samples")
    assert collect_study(reopened).sheet.reference == {"Sex": "M"}


def test_expression_orientation_counts_and_log2(study_tab, tmp_path):
    rng = np.random.default_rng(1)
    counts = pd.DataFrame(rng.poisson(300, (12, 500)).astype(float),
                          index=[f"S{i}" for i in range(12)], columns=[f"G{j}" for j in range(500)])
    counts.to_csv(tmp_path / "counts.csv")                     # samples in rows
    tab = study_tab
    assert tab.load_expression(tmp_path / "counts.csv")
    assert not tab.genes_in_rows.isChecked()                   # detected, shown for confirmation
    assert "500 genes x 12 samples" in tab.expr_label.text()
    assert "raw counts" in tab.expr_warning.text() and tab.log2_box.isEnabled()
    tab.log2_box.click()
    expr = collect_study(tab.project).expression
    np.testing.assert_allclose(expr.to_numpy(), np.log2(counts.T.to_numpy() + 1), rtol=1e-12)
    tab.genes_in_rows.click()                                  # the user overrides the detection
    assert tab.project.section("study")["genes_in_rows"] is True
    assert "12 genes x 500 samples" in tab.expr_label.text()
    assert "fewer genes than samples" in tab.expr_warning.text()


def test_bad_inputs_show_dialog_and_keep_mapping(study_tab, tmp_path):
    files = make_study(tmp_path / "study")
    tab = study_tab
    _load_all(tab, files)
    _role_combo(tab, "Donor").setCurrentIndex(_role_combo(tab, "Donor").findData("ignore"))
    before = tab.project.section("study")

    (tmp_path / "empty.csv").write_text("")
    assert not tab.load_sheet(tmp_path / "empty.csv")
    assert "empty.csv" in tab.error_dialog.text() and "empty" in tab.error_dialog.text()
    assert tab.project.section("study") == before

    expr = pd.read_csv(files["expression"], index_col=0)
    expr = expr.astype(object)
    expr.iloc[7, 3] = "n.d."
    expr.to_csv(tmp_path / "bad_expr.csv")
    assert not tab.load_expression(tmp_path / "bad_expr.csv")
    text = tab.error_dialog.text()
    assert "bad_expr.csv" in text and "Subj4" in text and "Gene8" in text and "n.d." in text
    assert tab.project.section("study") == before

    dup = pd.read_csv(files["expression"], index_col=0)
    dup.index = ["GeneA", "GeneA"] + list(dup.index[2:])
    dup.to_csv(tmp_path / "dup.csv")
    assert not tab.load_expression(tmp_path / "dup.csv")
    assert "duplicate" in tab.error_dialog.text() and "GeneA" in tab.error_dialog.text()

    other = pd.read_csv(files["proportions"], index_col=0)
    other.index = [f"X{i}" for i in range(len(other))]
    other.to_csv(tmp_path / "other_props.csv")
    tab.error_dialog = None
    assert tab.load_proportions(tmp_path / "other_props.csv")
    assert tab.error_dialog is not None and "No sample IDs match" in tab.error_dialog.windowTitle()
    assert "Sample ID" in tab.error_dialog.informativeText()
    roles_now = {c["name"]: c["role"] for c in tab.project.section("study")["columns"]}
    assert roles_now["Donor"] == "ignore"


def test_background_load_reports_problem_in_dialog(study_tab, tmp_path, qtbot):
    (tmp_path / "bad.csv").write_text("gene,S1,S2\nG1,1,oops\nG2,2,3\n")
    worker = study_tab.load_in_background("expression", tmp_path / "bad.csv")
    qtbot.waitUntil(lambda: study_tab.error_dialog is not None, timeout=10_000)
    assert worker.state == "finished"                   # not a failed job: the tab explains it itself
    text = study_tab.error_dialog.text()
    assert "bad.csv" in text and "'S2'" in text and "'G1'" in text and "oops" in text
    assert "expression_path" not in study_tab.project.section("study")
    qtbot.waitUntil(lambda: not study_tab.jobs.is_running(), timeout=10_000)


def test_screenshot_study_tab(study_tab, tmp_path, qtbot):
    files = make_study(tmp_path / "study")
    tab = study_tab
    _load_all(tab, files)
    qtbot.wait(50)  # let the layouts settle, as they would on screen
    image = tab.grab()
    assert image.width() >= 1000 and image.height() >= 700
    targets = [tmp_path / "study_tab.png"]
    if os.environ.get("FASTMIX_SCREENSHOT_DIR"):
        Path(os.environ["FASTMIX_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        targets.append(Path(os.environ["FASTMIX_SCREENSHOT_DIR"]) / "study_tab.png")
    for t in targets:
        assert image.save(str(t)) and t.stat().st_size > 10_000


def test_excel_sheet_and_tsv_or_excel_expression_load_like_csv(study_tab, tmp_path, qtbot):
    """The Load buttons take Excel and TSV as well as CSV, either orientation; same study either way."""
    files = make_study(tmp_path / "csv", mismatch=False)
    tab = study_tab
    _load_all(tab, files)
    ref = collect_study(tab.project)
    sheet = pd.read_csv(files["sheet"])
    sheet.to_excel(tmp_path / "sheet.xlsx", index=False)
    expr = pd.read_csv(files["expression"], index_col=0)
    expr.to_csv(tmp_path / "expression.tsv", sep="\t")
    expr.T.to_excel(tmp_path / "expression_samples_in_rows.xlsx")
    for kind, path in (("sheet", tmp_path / "sheet.xlsx"), ("expression", tmp_path / "expression.tsv")):
        worker = tab.load_in_background(kind, path)            # what the Load buttons do
        qtbot.waitUntil(lambda: worker.state == "finished" and not tab.jobs.is_running(), timeout=30_000)
    assert tab.error_dialog is None
    assert tab.sheet_label.text().startswith("sheet.xlsx: 30 samples")
    got = collect_study(tab.project)
    pd.testing.assert_frame_equal(got.sheet.covariates, ref.sheet.covariates)
    pd.testing.assert_frame_equal(got.expression, ref.expression)
    assert tab.genes_in_rows.isChecked() and "400 genes x 30 samples" in tab.expr_label.text()
    assert tab.load_expression(tmp_path / "expression_samples_in_rows.xlsx")
    assert not tab.genes_in_rows.isChecked()                  # detected: samples in rows
    np.testing.assert_allclose(collect_study(tab.project).expression.loc[ref.expression.index, ref.expression.columns]
                               .to_numpy(), ref.expression.to_numpy(), rtol=1e-12)
    assert collect_study(tab.project).match.common == ref.match.common


def test_reference_level_follows_the_visible_rule_and_the_user(study_tab, tmp_path, qtbot):
    """A group column 'ACR'/'Stable' gets 'Stable' (named like a control) as reference, not the
    alphabetical 'ACR'; the user's choice in the Reference combo wins and reaches the fit inputs."""
    files = make_study(tmp_path / "study", mismatch=False)
    sheet = pd.read_csv(files["sheet"], index_col=0)
    sheet["Status"] = ["ACR" if i % 3 else "Stable" for i in range(len(sheet))]  # ACR is the more frequent
    sheet.to_csv(files["sheet"], index_label="Sample")
    tab = study_tab
    _load_all(tab, files)
    assert tab.roles_model.roles()["Status"] == "categorical"
    assert tab.roles_model.references()["Status"] == "Stable"
    assert collect_study(tab.project).sheet.reference["Status"] == "Stable"
    ref = _role_combo(tab, "Status", COL_REFERENCE)
    ref.setCurrentIndex(ref.findData("ACR"))
    assert tab.roles_model.references()["Status"] == "ACR"
    assert collect_study(tab.project).sheet.reference["Status"] == "ACR"


def test_blood_count_with_a_total_column_lets_the_user_pick_the_cell_types(study_tab, tmp_path, qtbot):
    """A CBC export with a 'WBC' total beside five cell percentages sums to far more than 100 %: the
    Study tab asks which columns are cell types, and the sum check then applies to those only."""
    files = make_study(tmp_path / "study", mismatch=False)
    ids = list(files["sim"].proportions.index)
    rng = np.random.default_rng(2)
    pct = rng.dirichlet([40, 30, 8, 3, 1], len(ids)) * 100
    cbc = pd.DataFrame(np.round(pct, 1), index=ids, columns=["Neutrophils", "Lymphocytes", "Monocytes",
                                                              "Eosinophils", "Basophils"])
    cbc.insert(0, "WBC", rng.uniform(4.0, 11.0, len(ids)).round(1))
    cbc.to_csv(tmp_path / "cbc.csv")
    tab = study_tab
    assert not tab.load_proportions(tmp_path / "cbc.csv")
    dialog = tab.columns_dialog
    assert dialog is not None and dialog.isVisible() and "sum to" in dialog.findChild(QLabel).text()
    dialog.set_checked("WBC", False)
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    study = tab.project.section("study")
    assert study["proportion_columns"] == ["Neutrophils", "Lymphocytes", "Monocytes", "Eosinophils", "Basophils"]
    props = collect_study(tab.project).proportions
    assert list(props.columns) == study["proportion_columns"]
    np.testing.assert_allclose(props.sum(axis=1), cbc.iloc[:, 1:].sum(axis=1) / 100)  # 100.1 % passes as rounding
