"""Reading study tables: formats, R-style headers, and errors naming file, column and row."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.errors import InputError
from engine.inputs import (
    constant_columns,
    detect_orientation,
    duplicate_ids,
    looks_like_counts,
    normalise_proportions,
    read_expression,
    read_table,
    require_numeric,
)


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_r_style_csv_with_empty_first_header(tmp_path):
    p = _write(tmp_path, "expr.csv", '"","S1","S2"\n"SEPT1",1.5,2\n"MARCH1",-3e-2,4\n')
    df = read_table(p, numeric=True)
    assert list(df.columns) == ["S1", "S2"]
    assert list(df.index) == ["SEPT1", "MARCH1"]
    assert df.dtypes.tolist() == [np.float64, np.float64]
    assert df.loc["MARCH1", "S1"] == -0.03


def test_tsv_semicolon_and_xlsx_give_same_table(tmp_path):
    tsv = _write(tmp_path, "t.tsv", "id\ta\tb\nx\t1\tlow\ny\t2\thigh\n")
    semi = _write(tmp_path, "t.csv", "id;a;b\nx;1;low\ny;2;high\n")
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    for row in (["id", "a", "b"], ["x", 1, "low"], ["y", 2, "high"]):
        ws.append(row)
    xlsx = tmp_path / "t.xlsx"
    wb.save(xlsx)
    for p in (tsv, semi, xlsx):
        df = read_table(p)
        assert list(df.index) == ["x", "y"], p
        assert df["a"].tolist() == [1.0, 2.0]
        assert df["b"].tolist() == ["low", "high"]


@pytest.mark.parametrize("text, pattern", [
    ('"",S1,S2\nG1,1,abc\nG2,2,3\n', r"^expr.csv, column 'S2', row 'G1': value 'abc' is not a number$"),
    ('"",S1,S2\nG1,1,2\nG2,NA,3\n', r"^expr.csv, column 'S1', row 'G2': value is missing \(NA\)"),
    ('"",S1,S2\nG1,1,2\nG2,,3\n', r"^expr.csv, column 'S1', row 'G2': value is missing"),
    ('"",S1,S2\nG1,1,2\nG1,2,3\n', r"^expr.csv, row 'G1': duplicate ID in the first column: G1$"),
    ('"",S1,S1\nG1,1,2\nG2,2,3\n', r"^expr.csv, column 'S1': duplicate column name"),
    ('', r"^expr.csv: the file is empty$"),
    ('"",S1,S2\n', r"^expr.csv: has a header but no data rows$"),
])
def test_errors_name_file_column_row(tmp_path, text, pattern):
    p = _write(tmp_path, "expr.csv", text)
    with pytest.raises(InputError, match=pattern):
        read_expression(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_orientation_detection(tmp_path):
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(3, 20)), index=["S1", "S2", "S3"],
                        columns=[f"G{i}" for i in range(20)])
    assert detect_orientation(wide) == "samples_x_genes"
    assert detect_orientation(wide.T) == "genes_x_samples"
    # sample IDs from the other inputs win over the shape
    square = pd.DataFrame(rng.normal(size=(3, 3)), index=["A", "B", "C"], columns=["S1", "S2", "S3"])
    assert detect_orientation(square.T, sample_ids=["S1", "S2", "S3"]) == "samples_x_genes"
    assert detect_orientation(square, sample_ids=["S1", "S2", "S3"]) == "genes_x_samples"
    p = tmp_path / "wide.csv"
    wide.to_csv(p)
    df = read_expression(p, orientation="auto")
    assert df.shape == (20, 3) and list(df.columns) == ["S1", "S2", "S3"]
    np.testing.assert_array_equal(df.to_numpy(), wide.T.to_numpy())


def test_looks_like_counts():
    counts = pd.DataFrame([[0, 15, 2400], [3, 0, 180]], dtype=float)
    assert looks_like_counts(counts)
    assert not looks_like_counts(np.log2(counts + 1))
    assert not looks_like_counts(pd.DataFrame([[0, 1, 5], [2, 3, 4]], dtype=float))  # small max
    assert not looks_like_counts(pd.DataFrame([[-1, 500]], dtype=float))


def test_duplicate_ids_in_order():
    assert duplicate_ids(["a", "b", "a", "c", "b", "a"]) == ["a", "b"]
    assert duplicate_ids(["a", "b"]) == []


def test_normalise_proportions_percent_and_fraction():
    pct = pd.DataFrame({"T": [40.0, 55.0], "B": [60.0, 45.0]}, index=["S1", "S2"])
    out, notice = normalise_proportions(pct, file="p.csv")
    np.testing.assert_allclose(out.to_numpy(), pct.to_numpy() / 100)
    assert notice and "percentages" in notice and "p.csv" in notice
    frac = pct / 100
    out, notice = normalise_proportions(frac)
    assert notice is None
    np.testing.assert_array_equal(out.to_numpy(), frac.to_numpy())
    with pytest.raises(InputError, match=r"p.csv, column 'B', row 'S2': proportion -0.1 is negative"):
        normalise_proportions(pd.DataFrame({"T": [0.5, 0.5], "B": [0.2, -0.1]}, index=["S1", "S2"]), file="p.csv")
    with pytest.raises(InputError, match=r"row 'S1': proportions sum to 1.3"):
        normalise_proportions(pd.DataFrame({"T": [0.9, 0.5], "B": [0.4, 0.1]}, index=["S1", "S2"]))


def test_text_columns_kept_and_constant_detected(tmp_path):
    p = _write(tmp_path, "cov.csv", "sample,Group,Age,Site\nS1,case,30,A\nS2,control,41,A\nS3,case,NA,A\n")
    df = read_table(p)
    assert df["Group"].tolist() == ["case", "control", "case"]
    assert np.isnan(df.loc["S3", "Age"])
    assert constant_columns(df) == ["Site"]
    with pytest.raises(InputError, match=r"cov.csv, column 'Age', row 'S3': value is missing"):
        require_numeric(df, columns=["Age"])
    with pytest.raises(InputError, match=r"cov.csv, column 'Group', row 'S1': value 'case' is not a number"):
        require_numeric(df)


def test_european_csv_and_windows_encoding(tmp_path):
    p = tmp_path / "eu.csv"
    p.write_bytes("Probe;S1;S2\nCD3\xb5;1,5;-2,25\nX;3;4\n".encode("cp1252"))
    df = read_table(p, numeric=True)
    assert list(df.index) == ["CD3\u00b5", "X"]
    assert df.loc["CD3\u00b5"].tolist() == [1.5, -2.25]


def test_excel_date_ids():
    from engine.inputs import excel_date_ids

    ids = ["1-Mar", "2-SEP", "Sep-2", "2026-09-01 00:00:00", "SEPT1", "MARCH1", "Gene1-Mar", "10-Dec"]
    assert excel_date_ids(ids) == ["1-Mar", "2-SEP", "Sep-2", "2026-09-01 00:00:00", "10-Dec"]


@pytest.mark.parametrize("text", [
    '"",S1,S2\nG1,1.5e-3,NA\nG2,-inf,  7\n',
    'id\tS1\tS2\nG1\t0.1\t\nNA_gene\t3\t4\n',
    '"",S1,S2\nG1,1,x\nG2,2,3\n',
])
def test_fast_reader_agrees_with_checked_reader(tmp_path, text):
    """The C-parser fast path is an optimisation only: same table as the cell-by-cell reader."""
    from engine.inputs import _read_checked, _read_fast

    p = _write(tmp_path, "t.tsv" if "\t" in text else "t.csv", text)
    slow = _read_checked(p)
    fast = _read_fast(p)
    if fast is not None:
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    pd.testing.assert_frame_equal(read_table(p), slow, check_like=False, check_flags=False)
    if "x" in text:
        assert fast is None  # text cells take the checked path


def test_one_percentages_rule_for_reader_and_estimator():
    """The table ``engine.inputs`` accepts as percentages is what FastMix.fit accepts (divided by
    100, rounding to 100.2 % allowed), and a row at 150 % is refused by both, naming the row."""
    from engine.fastmix import FastMix
    from engine.simulate import simulate_study

    sim = simulate_study(400, 24, seed=3)
    pct = (sim.proportions * 100).round(1)
    pct.iloc[0] = pct.iloc[0] * (100.2 / pct.iloc[0].sum())  # rounded gates summing to 100.2
    frac, notice = normalise_proportions(pct, file="p.csv")
    assert notice and "divided by 100" in notice
    assert f"rows add up to at most 100.2 % (row '{pct.index[0]}'), within rounding" in notice
    a = FastMix(permutations=0).fit(sim.expression, pct, sim.covariates)
    b = FastMix(permutations=0).fit(sim.expression, frac, sim.covariates)
    pd.testing.assert_frame_equal(a.coef_, b.coef_)
    assert any("percentages" in n for n in a.notices_)
    bad = pct.copy()
    bad.iloc[5] = bad.iloc[5] * (150 / bad.iloc[5].sum())
    row = str(bad.index[5])
    with pytest.raises(InputError, match=rf"row '{row}': proportions sum to 1.5"):
        normalise_proportions(bad)
    with pytest.raises(InputError, match=rf"row '{row}': proportions sum to 1.5"):
        FastMix(permutations=0).fit(sim.expression, bad, sim.covariates)
