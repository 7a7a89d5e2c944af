"""Exports of a real FastMix fit: Excel (text genes, neutralised formulas), CSV, .rnk, gene lists, .gmt."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from engine.enrichment import read_gmt
from engine.fastmix import FastMix
from engine.inputs import read_table
from study.export import (
    DIGITS,
    TERM_COLUMNS,
    rnk_scores,
    safe_cell,
    sheet_names,
    term_table,
    write_gene_lists,
    write_gmt,
    write_results_excel,
    write_rnk,
    write_term_csvs,
)

TRICKY = ["SEPT1", "MARCH1", '=HYPERLINK("x")', "+41-555", "@SUM(A1)", "-DASH", 'A<B>&"C\x01']


@pytest.fixture(scope="module")
def results(shared_dir):
    ref = shared_dir / "data" / "reference" / "sim3"
    expr = read_table(ref / "expr.csv", numeric=True).iloc[:300]
    expr.index = TRICKY + list(expr.index[len(TRICKY):])
    props = read_table(ref / "cellprop.csv", numeric=True)
    cov = read_table(ref / "covariates.csv", numeric=True)
    return FastMix().fit(expr, props, cov).results_


def _rounded(values) -> np.ndarray:
    return np.array([float(f"{v:.{DIGITS}g}") for v in np.asarray(values, dtype=float)])


def test_safe_cell():
    assert safe_cell("=1+2") == "'=1+2"
    for s in ("+x", "-x", "@x", "\tx", "\rx"):
        assert safe_cell(s) == "'" + s
    assert safe_cell("SEPT1") == "SEPT1"
    assert safe_cell(-1.5) == -1.5 and safe_cell(3) == 3 and safe_cell(None) is None


def test_sheet_names_valid_unique():
    names = sheet_names(["a[1]:b*?/\\", "x" * 40, "x" * 40, "Fixed effects"], reserved=["Fixed effects"])
    assert names["a[1]:b*?/\\"] == "a_1__b____"
    assert len(names["x" * 40]) == 31
    vals = list(names.values())
    assert len({v.lower() for v in vals}) == len(vals) and all(len(v) <= 31 for v in vals)
    assert names["Fixed effects"] != "Fixed effects"


def test_excel_workbook(results, tmp_path):
    path = write_results_excel(results, tmp_path / "r.xlsx", report={"app": {"version": "0.1.0"}, "x": "=bad"})
    wb = load_workbook(path)
    assert wb.sheetnames == list(results.terms) + ["Fixed effects", "Covariance D", "Parameters",
                                                   "Columns", "Run report"]
    for term in results.terms:
        ws = wb[term]
        rows = list(ws.iter_rows(values_only=True))
        assert list(rows[0]) == TERM_COLUMNS
        body = pd.DataFrame(rows[1:], columns=TERM_COLUMNS)
        assert body["rank"].tolist() == list(range(1, 301))
        assert np.all(np.diff(body["fdr"].to_numpy(dtype=float)) >= 0)  # ranked by the app's fdr
        expected = term_table(results, term)
        for col in ("coefficient", "quasi_p"):  # DIGITS significant digits, rounded once
            np.testing.assert_array_equal(body[col].to_numpy(dtype=float), _rounded(expected[col]))
    ws = wb[results.terms[-1]]
    cells = {c.value: c for c in ws["A"][1:]}
    for sym in ("SEPT1", "MARCH1"):
        assert cells[sym].data_type == "s" and cells[sym].number_format == "@"
    bad = cells["'" + '=HYPERLINK("x")']
    assert bad.data_type == "s"
    assert "'+41-555" in cells and "'@SUM(A1)" in cells and "'-DASH" in cells
    assert 'A<B>&"C' in cells  # XML-escaped, control character dropped
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)
    fe = pd.DataFrame(list(wb["Fixed effects"].iter_rows(values_only=True))[1:],
                      columns=[c.value for c in wb["Fixed effects"][1]])
    assert list(fe.columns) == ["term", "estimate", "std_error", "t", "df", "p_value", "p_adj"]
    np.testing.assert_allclose(fe["estimate"].to_numpy(float), results.fixed_effects["estimate"].to_numpy(float))
    d = list(wb["Covariance D"].iter_rows(values_only=True))
    assert list(d[0][1:]) == list(results.terms) and d[1][0] == results.terms[0]
    report = dict(list(wb["Run report"].iter_rows(values_only=True))[1:])
    assert report["x"] == "'=bad" and report["app.version"] == "0.1.0"


def test_term_csvs_roundtrip(results, tmp_path):
    paths = write_term_csvs(results, tmp_path)
    assert [p.name for p in paths] == [f"{t}.csv" for t in results.terms]
    back = pd.read_csv(paths[0], keep_default_na=False)
    exp = term_table(results, results.terms[0])
    assert list(back.columns) == TERM_COLUMNS
    np.testing.assert_array_equal(back["quasi_p"].to_numpy(), _rounded(exp["quasi_p"]))
    np.testing.assert_allclose(back["quasi_p"].to_numpy(), exp["quasi_p"].to_numpy(), rtol=5e-7, atol=0)
    assert back["rank"].tolist() == exp["rank"].tolist()
    assert set(back["gene"]) >= {"SEPT1", "'=HYPERLINK(\"x\")", "'+41-555"}


def test_rnk_sorted_unique_finite(results, tmp_path):
    term = "Cell1.Group"
    qp = results.quasi_p.copy()
    qp.loc["SEPT1", term] = 0.0  # p of exactly 0 must still give a finite score
    res = dataclasses.replace(results, quasi_p=qp, score=None, fdr=None)  # results without a calibrated score
    paths = write_rnk(res, tmp_path)
    path = tmp_path / f"{term}.rnk"
    assert path in paths
    rnk = pd.read_csv(path, sep="\t", header=None, names=["gene", "score"], keep_default_na=False)
    assert len(rnk) == 300 and rnk["gene"].is_unique
    assert np.all(np.isfinite(rnk["score"])) and np.all(np.diff(rnk["score"].to_numpy()) <= 0)
    s = rnk.set_index("gene")["score"]
    sign = np.sign(res.coef.loc["SEPT1", term])
    assert s["SEPT1"] == pytest.approx(sign * -np.log10(np.finfo(float).tiny), rel=5e-7)
    g = "Gene100"
    expected = np.sign(res.coef.loc[g, term]) * -np.log10(res.quasi_p.loc[g, term])
    assert s[g] == pytest.approx(expected, rel=5e-7)
    assert rnk_scores(res, term).index[0] == ("SEPT1" if sign > 0 else rnk["gene"].iloc[0])
    # with the calibrated statistic: sign(coefficient) x |T|, in the app's ranking order
    cal = rnk_scores(results, term)
    exp = (np.sign(results.coef[term]) * results.score[term]).sort_values(ascending=False, kind="mergesort")
    np.testing.assert_allclose(cal.loc[exp.index].to_numpy(), exp.to_numpy())


def test_gene_lists(results, tmp_path):
    write_gene_lists(results, tmp_path, top_n=10)
    term = "Cell2.Group"
    table = term_table(results, term)
    up_exp = table.loc[table["random_effect"] > 0, "gene"].head(10).map(safe_cell).tolist()
    down_exp = table.loc[table["random_effect"] < 0, "gene"].head(10).map(safe_cell).tolist()
    assert (tmp_path / f"{term}_up.txt").read_text().split("\n")[:-1] == up_exp
    assert (tmp_path / f"{term}_down.txt").read_text().split("\n")[:-1] == down_exp
    grp = (tmp_path / f"{term}_down.grp").read_text().split("\n")
    assert grp[0].startswith("#") and grp[1:-1] == down_exp
    bg = (tmp_path / "background.txt").read_text().split("\n")[:-1]
    assert len(bg) == 300 and "SEPT1" in bg


def test_gmt_significant_sets(results, tmp_path):
    term = "Cell1.Group"
    levels = np.unique(results.fdr[term].to_numpy())
    fdr = float(np.nextafter(levels[min(2, levels.size - 1)], 2.0))  # selects the genes of 3 smallest FDRs
    path = write_gmt(results, tmp_path / "sets.gmt", fdr=fdr)
    sets = read_gmt(path)
    sig = results.fdr[term] < fdr
    up = {safe_cell(g) for g in results.coef.index[sig & (results.random_effects[term] > 0)]}
    down = {safe_cell(g) for g in results.coef.index[sig & (results.random_effects[term] < 0)]}
    assert up or down
    assert sets.get(f"{term}_up", set()) == up and sets.get(f"{term}_down", set()) == down
    for name, genes in sets.items():
        assert genes, name


def test_export_of_a_whole_transcriptome_stays_small(tmp_path):
    """Issue 13: a 12.6k-gene, 8-term export (tables, .rnk, gene lists; the GUI adds < 1.5 MB of
    plots) stays under 20 MB. Full-precision floats (46 MB) or CSVs per term by default would not."""
    from study.bundle import write_bundle

    rng = np.random.default_rng(1)
    n, ids = 24, [f"S{j:02d}" for j in range(24)]
    expr = pd.DataFrame(rng.normal(8, 1, (12625, n)), index=[f"{i}_at" for i in range(12625)], columns=ids)
    props = pd.DataFrame(rng.dirichlet([8, 4, 2, 1], n), index=ids, columns=["Neu", "Lym", "Mono", "Eos"])
    cov = pd.DataFrame({"Group": rng.permutation(["case"] * 12 + ["control"] * 12)}, index=ids)
    res = FastMix(include_covariate_main=False).fit(expr, props, cov).results_
    assert len(res.terms) == 8
    write_bundle(res, tmp_path / "e")
    size = sum(f.stat().st_size for f in (tmp_path / "e").rglob("*") if f.is_file())
    assert size < 18.5e6, size
    assert not (tmp_path / "e" / "csv").exists()
