"""List model of the project's FCS samples: name, event count, the read error in red, or "reading…"."""
from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt
from PySide6.QtGui import QColor


class SampleListModel(QAbstractListModel):
    """Rows are sample names; a file that could not be read carries its error string, one not read
    yet ``None`` (shown as "reading…" while its reader runs, else "not read")."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._names: list[str] = []
        self._items: dict[str, object] = {}
        self._reading: set[str] = set()

    def set_samples(self, samples: dict[str, object], reading=()) -> None:
        """``samples`` maps name -> Sample (has ``event_count``), an error message (str) or None (not read);
        ``reading``: names whose file is being read now."""
        self.beginResetModel()
        self._names = list(samples)
        self._items = dict(samples)
        self._reading = set(reading)
        self.endResetModel()

    def names(self) -> list[str]:
        return list(self._names)

    def ok_names(self) -> list[str]:
        return [n for n in self._names if self._items[n] is not None and not isinstance(self._items[n], str)]

    def error(self, name: str) -> str | None:
        v = self._items.get(name)
        return v if isinstance(v, str) else None

    def name_at(self, row: int) -> str | None:
        return self._names[row] if 0 <= row < len(self._names) else None

    def row_of(self, name: str) -> int:
        return self._names.index(name) if name in self._names else -1

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._names)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._names):
            return None
        name = self._names[index.row()]
        item = self._items[name]
        err = item if isinstance(item, str) else None
        if item is None:  # not read (yet)
            state = "reading…" if name in self._reading else "not read"
            if role == Qt.DisplayRole:
                return f"{name}  ({state})"
            if role == Qt.ForegroundRole:
                return QColor("#808080")
            if role == Qt.ToolTipRole:
                return f"{name}: {state}"
            return name if role == Qt.UserRole else None
        if role == Qt.DisplayRole:
            if err:
                return f"{name} — cannot read: {err.splitlines()[0] if err else ''}"
            return f"{name}  ({int(item.event_count):,} events)"
        if role == Qt.ForegroundRole and err:
            return QColor("#c00000")
        if role == Qt.ToolTipRole:
            return err if err else f"{name}: {int(item.event_count):,} events"
        if role == Qt.UserRole:
            return name
        return None

    def flags(self, index: QModelIndex):
        if not index.isValid():
            return Qt.NoItemFlags
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable
