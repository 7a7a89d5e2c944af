"""engine.tabletext: cells formatted once, written as CSV (checked against pandas and csv_text)
and as .xlsx rows (read back with openpyxl)."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
from openpyxl import load_workbook

from engine.csvtext import csv_text
from engine.tabletext import FormattedTable, format_numbers, int_texts
from engine.xlsx import worksheet, write_workbook


def _table(n: int = 4500) -> pd.DataFrame:  # more rows than one formatting block
    rng = np.random.default_rng(3)
    x = rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n)
    part = rng.random(n)
    part[::7] = np.nan
    part[5] = np.inf
    genes = [f"G{i}" for i in range(n)]
    genes[:6] = ["SEPT1", "=SUM(A1)", 'a,"b"', "x<y&z", "", "MARCH1"]
    return pd.DataFrame({"gene": genes, "x": x, "part": part, "empty": np.nan,
                         "rank": np.arange(1, n + 1), "label": "T[1]"})


def test_format_numbers_digits_and_exact():
    v = np.array([0.1, 1 / 3, 1e-300, 123456789.0, -2.5e-7])
    assert format_numbers(v, 7) == ["0.1", "0.3333333", "1e-300", "1.234568e+08", "-2.5e-07"]
    assert [float(s) for s in format_numbers(v, None)] == v.tolist()  # shortest round trip
    big = np.random.default_rng(0).normal(size=20000)
    assert format_numbers(big, 7) == [f"{a:.7g}" for a in big]  # block boundaries


def test_csv_exact_mode_equals_csv_text_and_pandas_reads_it():
    df = _table()
    ft = FormattedTable(df, digits=None, text_columns=("gene",))
    text = ft.csv_header() + ft.csv_body()
    safe = df.assign(gene=[("'" + g) if g.startswith("=") else g for g in df["gene"]])
    assert text == csv_text(safe)
    back = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
    np.testing.assert_array_equal(back["x"].to_numpy(), df["x"].to_numpy())
    assert back["gene"].iloc[2] == 'a,"b"' and back["gene"].iloc[1] == "'=SUM(A1)"


def test_csv_seven_digits_and_column_subset():
    df = _table()
    ft = FormattedTable(df, digits=7, text_columns=("gene",))
    back = pd.read_csv(io.StringIO(ft.csv_header(["rank", "x"]) + ft.csv_body(["rank", "x"])))
    assert list(back.columns) == ["rank", "x"] and back["rank"].tolist() == df["rank"].tolist()
    np.testing.assert_array_equal(back["x"].to_numpy(), [float(f"{v:.7g}") for v in df["x"]])
    np.testing.assert_allclose(back["x"].to_numpy(), df["x"].to_numpy(), rtol=5e-7, atol=0)


def test_xlsx_rows_read_back(tmp_path):
    df = _table()
    ft = FormattedTable(df, digits=7, text_columns=("gene",))
    path = tmp_path / "t.xlsx"
    write_workbook(path, [("T", worksheet(ft.xlsx_header(), ft.xlsx_rows()))])
    ws = load_workbook(path)["T"]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == list(df.columns) and len(rows) == len(df) + 1
    body = pd.DataFrame(rows[1:], columns=list(df.columns))
    assert body["gene"].iloc[0] == "SEPT1" and ws["A2"].number_format == "@"  # text, never a date
    assert body["gene"].iloc[1] == "'=SUM(A1)" and body["gene"].iloc[3] == "x<y&z" and pd.isna(body["gene"].iloc[4])
    np.testing.assert_array_equal(body["x"].to_numpy(float), [float(f"{v:.7g}") for v in df["x"]])
    part = body["part"].to_numpy(dtype=float)
    assert np.isnan(part[5]) and np.isnan(part[::7]).all()  # inf and NaN are empty cells
    assert body["empty"].isna().all() and body["rank"].tolist() == df["rank"].tolist()
    assert set(body["label"]) == {"T[1]"}


def test_shared_text_cells_follow_each_tables_order_and_new_values():
    df = _table(300)
    shuffled = df.sample(frac=1.0, random_state=1).reset_index(drop=True)
    shuffled.loc[3, "gene"] = "NEW<1>"  # a value the shared cells have not seen
    shuffled.loc[4, "gene"] = None
    cache: dict = {}
    first = FormattedTable(df, digits=7, text_columns=("gene",), text_cache=cache)
    second = FormattedTable(shuffled, digits=7, text_columns=("gene",), text_cache=cache)
    alone = FormattedTable(shuffled, digits=7, text_columns=("gene",))
    assert second.csv_body() == alone.csv_body() and second.xlsx_rows() == alone.xlsx_rows()
    assert first.csv_body() == FormattedTable(df, digits=7, text_columns=("gene",)).csv_body()
    assert "NEW&lt;1&gt;" in second.xlsx_rows() and second.csv_body().split("\n")[4].startswith(",")


def test_int_texts_equal_str_also_beyond_the_table():
    v = np.array([0, 7, 65535, 65536, 3_000_000, 12], dtype=np.int64)
    assert int_texts(v) == [str(x) for x in v.tolist()]
    assert int_texts(np.array([-3, 4])) == ["-3", "4"] and int_texts(np.array([], dtype=np.int64)) == []
