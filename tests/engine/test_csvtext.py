"""engine.csvtext against pandas' to_csv: the same table read back, the same quoting."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from engine.csvtext import csv_text


def _mixed(n: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    x = rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n)
    x[::13] = np.nan
    x[7], x[8], x[9] = np.inf, -np.inf, -0.0
    genes = np.array([f"G{i}" for i in range(n)], dtype=object)
    genes[:6] = ['a,b', 'say "hi"', "two\nlines", "'=SUM(A1)", "", "µ-globin"]
    return pd.DataFrame({"gene": genes, "value": x, "rank": np.arange(n), "flag": rng.random(n) < 0.5,
                         "count": pd.array([1, None] * (n // 2), dtype="Int64"),
                         "note": [None if i % 5 == 0 else f"n{i}" for i in range(n)]},
                        index=pd.Index([f"S{i}" for i in range(n)], name="sample"))


@pytest.mark.parametrize("index", [False, True])
def test_reads_back_like_pandas(index):
    df = _mixed()
    ours = pd.read_csv(io.StringIO(csv_text(df, index=index, index_label="id" if index else None)),
                       keep_default_na=False, na_values=[""])
    theirs = pd.read_csv(io.StringIO(df.to_csv(index=index, index_label="id" if index else None,
                                               float_format="%.17g", lineterminator="\n")),
                         keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(ours, theirs)
    np.testing.assert_array_equal(ours["value"].to_numpy(), df["value"].to_numpy())  # every float exact


def test_same_text_as_pandas_for_text_and_integers():
    df = _mixed().drop(columns=["value"])
    assert csv_text(df) == df.to_csv(index=False, lineterminator="\n")
    assert csv_text(df, sep="\t") == df.to_csv(index=False, sep="\t", lineterminator="\n")


def test_floats_are_shortest_round_trip():
    df = pd.DataFrame({"x": [0.1, 1 / 3, 1e-300, np.nan, 2.0]})
    assert csv_text(df) == "x\n0.1\n0.3333333333333333\n1e-300\n\n2.0\n"
