"""Demo study: complete, deterministic, self-healing, and carrying the signal it was built with."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from study import demo


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "study"
    return demo.ensure_demo_study(folder)


def test_all_files_and_project_mapping(study):
    folder = study.parent
    assert study.name == "demo.fmsproj" and demo.demo_is_complete(folder)
    fcs = sorted(p.name for p in (folder / "fcs").iterdir())
    assert len(fcs) == 24 and fcs[:2] == ["S01_V1.fcs", "S01_V2.fcs"]
    sheet = pd.read_csv(folder / "sample_sheet.csv", dtype={"visit": str})
    assert list(sheet.columns) == ["sample_id", "subject_id", "visit", "age", "response"]
    assert sheet["subject_id"].nunique() == 12 and sorted(sheet["visit"].unique()) == ["V1", "V2"]
    assert sorted(sheet["response"].unique()) == ["non-responder", "responder"]
    expr = pd.read_csv(folder / "expression.csv", index_col=0)
    assert expr.shape == (2000, 24) and list(expr.columns) == list(sheet["sample_id"])
    assert expr.index.is_unique and {"SEPT1", "MARCH1"} <= set(expr.index)
    project = json.loads(study.read_text())
    assert project["format"] == "fastmix-studio-project" and project["version"] == 1
    for rel in project["fcs_files"] + [project["study"]["sheet_path"], project["study"]["expression_path"]]:
        assert not rel.startswith("/") and (folder / rel).is_file()
    # the template in the project gates the simulated files close to the simulated truth
    from gating.gatingml import read_gatingml
    from gating.sample import read_fcs
    from gating.strategy import GatingStrategy

    strategy = GatingStrategy.from_dict(project["strategy"])
    assert set(read_gatingml(folder / "template.xml").gates) == set(strategy.gates)
    truth = pd.read_csv(folder / "true_proportions.csv", index_col=0)
    counts = strategy.evaluate(read_fcs(folder / "fcs" / "S03_V2.fcs")).counts().set_index("population")
    neut = counts.loc["Singlets/Leukocytes/Live/Neutrophils", "pct_parent"] / 100
    assert abs(neut - truth.loc["S03_V2", "Neutrophils"]) < 0.03


def test_proportions_vary_by_subject_and_visit(study):
    folder = study.parent
    truth = pd.read_csv(folder / "true_proportions.csv", index_col=0)
    sheet = pd.read_csv(folder / "sample_sheet.csv", index_col=0)
    np.testing.assert_allclose(truth.sum(axis=1), 1.0, atol=1e-5)
    assert truth["Neutrophils"].std() > 0.03
    change = truth.loc[sheet.index[sheet.visit == "V2"], "Neutrophils"].to_numpy() - \
        truth.loc[sheet.index[sheet.visit == "V1"], "Neutrophils"].to_numpy()
    responders = sheet.loc[sheet.visit == "V1", "response"].eq("responder").to_numpy()
    assert change[responders].mean() < change[~responders].mean() - 0.05  # responders lose neutrophils


def test_fastmix_finds_the_planted_effects(study):
    from engine.fastmix import FastMix

    folder = study.parent
    expr = pd.read_csv(folder / "expression.csv", index_col=0)
    props = pd.read_csv(folder / "true_proportions.csv", index_col=0)
    sheet = pd.read_csv(folder / "sample_sheet.csv", index_col=0)
    deg = pd.read_csv(folder / "true_deg.csv", index_col=0).astype(bool)
    fit = FastMix(include_covariate_main=False).fit(expr, props, sheet[["age", "response", "visit"]])
    for term in demo.DEG_TERMS:
        top = fit.quasi_p_[term].nsmallest(100).index
        assert deg.loc[top, term].mean() > 0.6, term  # 5 % of genes are true: chance would give 0.05


def test_deterministic_and_regenerated_when_incomplete(study, tmp_path):
    first = study.parent
    other = demo.ensure_demo_study(tmp_path / "again")
    assert _sha(other.parent / "expression.csv") == _sha(first / "expression.csv")
    assert _sha(other.parent / "sample_sheet.csv") == _sha(first / "sample_sheet.csv")
    assert _sha(other.parent / "fcs" / "S07_V1.fcs") == _sha(first / "fcs" / "S07_V1.fcs")
    # complete: nothing is rewritten
    mtime = (other.parent / "expression.csv").stat().st_mtime_ns
    assert demo.ensure_demo_study(tmp_path / "again") == other
    assert (other.parent / "expression.csv").stat().st_mtime_ns == mtime
    # a missing file makes it regenerate the whole study
    (other.parent / "fcs" / "S05_V2.fcs").unlink()
    assert not demo.demo_is_complete(other.parent)
    demo.ensure_demo_study(tmp_path / "again")
    assert demo.demo_is_complete(other.parent)
    assert _sha(other.parent / "fcs" / "S05_V2.fcs") == _sha(first / "fcs" / "S05_V2.fcs")
    assert [p.name for p in tmp_path.iterdir()] == ["again"]  # no temp folders left behind


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    from engine.progress import Cancelled

    def cancel(done, total, msg):
        if done >= 3:
            raise Cancelled(msg)

    with pytest.raises(Cancelled):
        demo.ensure_demo_study(tmp_path / "demo", progress=cancel)
    assert list(tmp_path.iterdir()) == []


def test_default_dir_and_refusing_foreign_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMIX_STUDIO_DATA", str(tmp_path / "data"))
    assert demo.default_demo_dir() == tmp_path / "data" / "demo"
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    from engine.errors import InputError

    with pytest.raises(InputError, match="does not hold a demo study"):
        demo.ensure_demo_study(foreign)
    assert (foreign / "thesis.docx").read_text() == "precious"
