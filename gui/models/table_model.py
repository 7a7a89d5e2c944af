"""A read-only, sortable Qt table model over a pandas DataFrame (shared by the Study and Results tabs)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

_Index = QModelIndex | QPersistentModelIndex


def format_value(value: object, digits: int = 4) -> str:
    """Text shown for one cell: floats to ``digits`` significant digits, missing values blank."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return ""
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
            return f"{v:.{digits - 1}e}"
        return f"{v:.{digits}g}"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


class DataFrameModel(QAbstractTableModel):
    """Shows a DataFrame; the index becomes the vertical header (hidden if ``show_index`` is False).

    Sorting (``sort``) reorders a view of the frame, never the caller's frame. ``frame()`` returns
    the rows in the current display order. ``max_rows`` caps what is shown for very large frames.
    """

    def __init__(self, frame: pd.DataFrame | None = None, *, digits: int = 4, max_rows: int | None = None,
                 parent=None) -> None:
        super().__init__(parent)
        self._digits = digits
        self._max_rows = max_rows
        self._df = pd.DataFrame()
        self._order = np.arange(0)
        if frame is not None:
            self.set_frame(frame)

    # --- data -----------------------------------------------------------------
    def set_frame(self, frame: pd.DataFrame | None) -> None:
        """Replace the whole table."""
        self.beginResetModel()
        self._df = pd.DataFrame() if frame is None else frame
        n = len(self._df) if self._max_rows is None else min(len(self._df), self._max_rows)
        self._order = np.arange(n)
        self.endResetModel()

    def frame(self) -> pd.DataFrame:
        """The displayed rows, in display order."""
        return self._df.iloc[self._order]

    def source_frame(self) -> pd.DataFrame:
        """The frame as given to :meth:`set_frame`."""
        return self._df

    def row_label(self, row: int) -> str:
        return str(self._df.index[self._order[row]])

    # --- Qt model interface ---------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._df.shape[1]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._order) or index.column() >= self._df.shape[1]:
            return None
        value = self._df.iat[int(self._order[index.row()]), index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return format_value(value, self._digits)
        if role == Qt.ItemDataRole.ToolTipRole:
            return "" if value is None else str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return value.item() if isinstance(value, np.generic) else value
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if orientation == Qt.Orientation.Horizontal:
            if 0 <= section < self._df.shape[1]:
                return str(self._df.columns[section])
            return None
        if 0 <= section < len(self._order):
            return str(self._df.index[self._order[section]])
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Stable sort by one column; missing values last; numbers numerically, text case-insensitively."""
        if not 0 <= column < self._df.shape[1]:
            return
        self.layoutAboutToBeChanged.emit()
        old_rows = self._order.copy()
        persistent = self.persistentIndexList()
        col = self._df.iloc[:, column]
        n = len(old_rows)
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            keys = pd.Series(col.to_numpy(dtype=float, na_value=np.nan))
        else:
            keys = col.astype("string").str.lower().reset_index(drop=True)
        order = keys.sort_values(ascending=order == Qt.SortOrder.AscendingOrder, kind="stable",
                                 na_position="last").index.to_numpy()
        # keys has a default RangeIndex, so ``order`` holds positions in the frame
        self._order = order[:n] if self._max_rows is not None else order
        pos_of = {int(r): i for i, r in enumerate(self._order)}
        for p in persistent:
            src = int(old_rows[p.row()])
            new_row = pos_of.get(src)
            self.changePersistentIndex(p, QModelIndex() if new_row is None else self.index(new_row, p.column()))
        self.layoutChanged.emit()
