"""DataFrameModel: shows a frame, sorts without touching it, and passes Qt's model tester."""
from __future__ import annotations

import numpy as np
import pandas as pd
from PySide6.QtCore import QModelIndex, Qt

from gui.models.table_model import DataFrameModel, format_value


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"gene": ["B", "a", "C", "d"], "p": [0.5, np.nan, 1e-8, 0.01], "n": [3, 1, 2, 4]},
        index=["r1", "r2", "r3", "r4"],
    )


def test_model_tester_passes(qtmodeltester):
    model = DataFrameModel(_frame())
    qtmodeltester.check(model)
    model.sort(1, Qt.SortOrder.DescendingOrder)
    qtmodeltester.check(model)


def test_shows_values_and_headers():
    model = DataFrameModel(_frame())
    assert (model.rowCount(), model.columnCount()) == (4, 3)
    assert model.headerData(0, Qt.Orientation.Horizontal) == "gene"
    assert model.headerData(2, Qt.Orientation.Vertical) == "r3"
    assert model.data(model.index(2, 1)) == "1.000e-08"
    assert model.data(model.index(1, 1)) == ""          # NaN shown blank
    assert model.data(model.index(3, 2)) == "4"
    assert model.data(model.index(3, 2), Qt.ItemDataRole.UserRole) == 4
    assert model.data(model.index(5, 0)) is None
    assert model.rowCount(model.index(0, 0)) == 0       # flat table


def test_sort_numeric_text_and_missing_last():
    df = _frame()
    model = DataFrameModel(df)
    model.sort(1, Qt.SortOrder.AscendingOrder)
    assert list(model.frame().index) == ["r3", "r4", "r1", "r2"]   # NaN last
    model.sort(2, Qt.SortOrder.DescendingOrder)
    assert list(model.frame()["n"]) == [4, 3, 2, 1]
    model.sort(0, Qt.SortOrder.AscendingOrder)                     # case-insensitive text
    assert list(model.frame()["gene"]) == ["a", "B", "C", "d"]
    assert model.data(model.index(0, 0)) == "a"
    assert list(df.index) == ["r1", "r2", "r3", "r4"]              # caller's frame untouched


def test_persistent_index_follows_row_on_sort():
    model = DataFrameModel(_frame())
    from PySide6.QtCore import QPersistentModelIndex

    p = QPersistentModelIndex(model.index(0, 0))          # row "r1", gene B
    model.sort(0, Qt.SortOrder.AscendingOrder)
    assert p.row() == 1 and model.data(model.index(p.row(), 0)) == "B"


def test_max_rows_and_reset(qtbot):
    model = DataFrameModel(pd.DataFrame({"x": np.arange(100.0)}), max_rows=10)
    assert model.rowCount() == 10
    model.sort(0, Qt.SortOrder.DescendingOrder)
    assert model.data(model.index(0, 0)) == "99"
    with qtbot.waitSignal(model.modelReset):
        model.set_frame(None)
    assert (model.rowCount(), model.columnCount()) == (0, 0)
    assert model.rowCount(QModelIndex()) == 0


def test_format_value():
    assert format_value(True) == "yes"
    assert format_value(None) == ""
    assert format_value(pd.NA) == ""
    assert format_value(123456789.0) == "1.235e+08"
    assert format_value(0.0) == "0"
    assert format_value("=cmd") == "=cmd"
