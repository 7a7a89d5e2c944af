"""Table model mapping each sample-sheet column to a role (and a reference level), with a combo delegate."""
from __future__ import annotations

import pandas as pd
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import QComboBox, QStyledItemDelegate

from study.checks import COVARIATE_ROLES, ROLE_LABELS, ROLES, column_levels

_Index = QModelIndex | QPersistentModelIndex

#: item-data role holding the list of (value, label) choices of an editable cell
ChoicesRole = Qt.ItemDataRole.UserRole + 1

COL_NAME, COL_ROLE, COL_REFERENCE, COL_VALUES = range(4)
HEADERS = ("Column", "Role", "Reference level", "Values")


class RoleMappingModel(QAbstractTableModel):
    """One row per sheet column: name, role (editable), reference level (editable for groups), sample values.

    ``mapping_changed()`` is emitted after any edit; ``roles()`` / ``references()`` give plain dicts.
    """

    mapping_changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._columns: list[str] = []
        self._levels: dict[str, list[str]] = {}
        self._examples: dict[str, str] = {}
        self._roles: dict[str, str] = {}
        self._refs: dict[str, str] = {}

    def set_sheet(self, sheet: pd.DataFrame | None, roles: dict[str, str], references: dict[str, str]) -> None:
        self.beginResetModel()
        if sheet is None:
            self._columns, self._levels, self._examples, self._roles, self._refs = [], {}, {}, {}, {}
        else:
            self._columns = [str(c) for c in sheet.columns]
            self._levels = {str(c): column_levels(sheet[c]) for c in sheet.columns}
            self._examples = {}
            for c in self._columns:
                lv = self._levels[c]
                more = f", … ({len(lv)} distinct)" if len(lv) > 4 else ""
                self._examples[c] = ", ".join(lv[:4]) + more
            self._roles = {c: roles.get(c, "ignore") for c in self._columns}
            self._refs = {c: references[c] for c in self._columns if c in references}
        self.endResetModel()

    def roles(self) -> dict[str, str]:
        return dict(self._roles)

    def references(self) -> dict[str, str]:
        """Reference level of every categorical covariate (default: first level)."""
        out = {}
        for c, r in self._roles.items():
            if r == "categorical" and self._levels.get(c):
                ref = self._refs.get(c)
                out[c] = ref if ref in self._levels[c] else self._levels[c][0]
        return out

    def levels(self, column: str) -> list[str]:
        return list(self._levels.get(column, []))

    def set_role(self, column: str, role: str) -> None:
        row = self._columns.index(column)
        self.setData(self.index(row, COL_ROLE), role)

    def set_reference(self, column: str, level: str) -> None:
        row = self._columns.index(column)
        self.setData(self.index(row, COL_REFERENCE), level)

    # --- Qt interface ---------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal and 0 <= section < len(HEADERS):
            return HEADERS[section]
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Vertical and 0 <= section < len(self._columns):
            return str(section + 1)
        return None

    def _choices(self, row: int, column: int) -> list[tuple[str, str]]:
        name = self._columns[row]
        if column == COL_ROLE:
            return [(r, ROLE_LABELS[r]) for r in ROLES]
        if column == COL_REFERENCE and self._roles[name] == "categorical":
            return [(lv, lv) for lv in self._levels[name]]
        return []

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._columns)):
            return None
        name = self._columns[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if col == COL_NAME:
                return name
            if col == COL_ROLE:
                return ROLE_LABELS[self._roles[name]] if role == Qt.ItemDataRole.DisplayRole else self._roles[name]
            if col == COL_REFERENCE:
                return self.references().get(name, "")
            if col == COL_VALUES:
                return self._examples[name]
        if role == ChoicesRole:
            return self._choices(index.row(), col)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_ROLE:
                return ("What this column is: the sample ID (must match the expression columns), the subject "
                        "for repeated measures, a covariate to test (number or groups), weights, or ignore.")
            if col == COL_REFERENCE:
                return ("The group the other groups are compared with (e.g. 'healthy'); only for "
                        "covariates with groups.")
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        f = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        name = self._columns[index.row()]
        if index.column() == COL_ROLE or (index.column() == COL_REFERENCE and self._roles[name] == "categorical"):
            f |= Qt.ItemFlag.ItemIsEditable
        return f

    def setData(self, index: _Index, value, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        name = self._columns[index.row()]
        if index.column() == COL_ROLE and value in ROLES:
            if self._roles[name] == value:
                return True
            self._roles[name] = value
            self.dataChanged.emit(self.index(index.row(), COL_ROLE), self.index(index.row(), COL_REFERENCE))
            self.mapping_changed.emit()
            return True
        if index.column() == COL_REFERENCE and self._roles[name] == "categorical" and value in self._levels[name]:
            if self._refs.get(name) == value:
                return True
            self._refs[name] = value
            self.dataChanged.emit(index, index)
            self.mapping_changed.emit()
            return True
        return False


def is_covariate(role: str) -> bool:
    return role in COVARIATE_ROLES


class ChoiceDelegate(QStyledItemDelegate):
    """Combo-box editor for cells that offer choices through ``ChoicesRole``; commits on every change."""

    def createEditor(self, parent, option, index):
        choices = index.data(ChoicesRole) or []
        if not choices:
            return None
        combo = QComboBox(parent)
        for value, label in choices:
            combo.addItem(label, value)
        combo.currentIndexChanged.connect(lambda _i, c=combo: self.commitData.emit(c))
        return combo

    def setEditorData(self, editor, index):
        value = index.data(Qt.ItemDataRole.EditRole)
        i = editor.findData(value)
        if i >= 0 and i != editor.currentIndex():
            editor.blockSignals(True)
            editor.setCurrentIndex(i)
            editor.blockSignals(False)

    def setModelData(self, editor, model, index):
        model.setData(index, editor.currentData(), Qt.ItemDataRole.EditRole)
