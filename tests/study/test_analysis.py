"""Options -> FitInputs -> fit, headless: the study layer alone assembles and runs what the Analysis
tab runs (no PySide6 imported here)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.errors import InputError
from engine.simulate import simulate_study
from study.analysis import fit_inputs, run_fit
from study.assembly import collect_study
from study.project import ProjectDocument


class _Project(ProjectDocument):
    proportions = None  # no gated proportions: the study reads its proportions file


@pytest.fixture
def project(tmp_path):
    sim = simulate_study(300, 30, seed=4)
    ids = list(sim.proportions.index)
    sheet = sim.covariates.copy()
    sheet.insert(0, "Sample", ids)
    sheet["Donor"] = [f"D{i // 2}" for i in range(len(ids))]
    sheet.to_csv(tmp_path / "sheet.csv", index=False)
    expr = sim.expression[list(reversed(sim.expression.columns))]  # any column order: matched by ID
    expr.to_csv(tmp_path / "expr.csv")
    (sim.proportions.drop(index=ids[-2:]) * 100).to_csv(tmp_path / "props.csv")  # percent, 2 samples missing
    doc = _Project()
    doc.set_section("study", {"sheet_path": str(tmp_path / "sheet.csv"), "expression_path": str(tmp_path / "expr.csv"),
                              "genes_in_rows": True, "proportions_source": "file",
                              "proportions_path": str(tmp_path / "props.csv")})
    return doc, sim


def test_fit_inputs_are_the_matched_samples_and_the_fit_runs(project):
    doc, sim = project
    study = collect_study(doc, strict=True)
    cells = list(sim.proportions.columns)
    inputs = fit_inputs(study, cells, list(sim.covariates.columns), {"permutations": 0})
    assert len(inputs.proportions) == 28 and list(inputs.expression.columns) == list(inputs.proportions.index)
    np.testing.assert_allclose(inputs.proportions.to_numpy(), sim.proportions.loc[inputs.proportions.index].to_numpy())
    np.testing.assert_allclose(inputs.expression.to_numpy(), sim.expression.loc[:, inputs.proportions.index].to_numpy())
    fit = run_fit(inputs)
    assert fit.coef_.shape[0] == 300 and inputs.options["trim"] == 0.5  # defaults filled in


def test_bad_value_and_missing_roles_name_the_problem(project, tmp_path):
    doc, sim = project
    expr = pd.read_csv(tmp_path / "expr.csv", index_col=0)
    expr.iloc[5, 2] = np.nan
    expr.to_csv(tmp_path / "expr.csv")
    bad = rf"expr.csv, column '{expr.columns[2]}', row '{expr.index[5]}': value is missing"
    with pytest.raises(InputError, match=bad):  # caught where the file is read, as in the CLI
        collect_study(doc, strict=True)
    expr.iloc[5, 2] = 1.0
    expr.to_csv(tmp_path / "expr.csv")
    study = collect_study(doc, strict=True)
    with pytest.raises(InputError, match="no sheet column has the role 'Weight'"):
        fit_inputs(study, list(sim.proportions.columns), [], {"weighting": "weights"})
    inputs = fit_inputs(study, list(sim.proportions.columns), [], {"weighting": "subject"})  # 'Donor' guessed
    assert list(inputs.subject.index) == list(inputs.proportions.index) and inputs.subject.nunique() == 14
