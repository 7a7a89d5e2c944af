"""Item model of the gating hierarchy: population, count, % parent, DAFi mode, re-cluster, DAFi refined.

The model adapts plain data (parent links, names, counts); it never edits the
strategy itself. Edits (rename, re-parent by drag-drop, DAFi mode, re-cluster
flag) are emitted as ``*_requested`` signals so that the tab can turn them into
undoable commands and then call :meth:`PopulationTreeModel.set_populations`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QAbstractItemModel, QMimeData, QModelIndex, Qt, Signal

MIME = "application/x-fastmix-population"
COLUMNS = ("Population", "Count", "% parent", "Mode", "Re-cluster", "DAFi / plain")
HEADER_TIPS = ("Gate name (double-click to rename; drag onto another population to re-parent)",
               "Events in the population", "Percent of the parent population",
               "DAFi mode of the gate: event (as drawn), cluster (DAFi-refined) or off",
               "Re-cluster the events inside this gate before refining its children",
               "DAFi-refined count / plain count (after 'Refine with DAFi')")
MODES = ("event", "cluster", "slope")
MODE_LABELS = {"event": "event", "cluster": "DAFi cluster", "slope": "slope"}


@dataclass(eq=False)
class _Node:
    id: str | None
    parent: "_Node | None" = None
    children: list["_Node"] = field(default_factory=list)

    def row(self) -> int:
        return self.parent.children.index(self) if self.parent else 0


class PopulationTreeModel(QAbstractItemModel):
    """Tree of populations for the current sample (root row = all events)."""

    rename_requested = Signal(str, str)          # old id, new id
    reparent_requested = Signal(str, object)     # id, new parent id (None = root)
    mode_requested = Signal(str, str)            # id, 'event'|'cluster'|'slope'
    recluster_requested = Signal(str, bool)

    ROOT_LABEL = "All events"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._root = _Node(None)            # invisible
        self._all = _Node(None, self._root)  # "All events" row
        self._root.children.append(self._all)
        self._nodes: dict[str, _Node] = {}
        self._counts: dict[str, tuple[int, int]] = {}
        self._total = 0
        self._modes: dict[str, str] = {}
        self._recluster: set[str] = set()
        self._editable: set[str] = set()
        self._dafi: dict[str, tuple[int, int]] = {}

    # ---- feeding ------------------------------------------------------
    def set_populations(self, parents: dict[str, str | None], *,
                        counts: dict[str, tuple[int, int]] | None = None, total: int = 0,
                        modes: dict[str, str] | None = None, recluster: set[str] | None = None,
                        editable: set[str] | None = None) -> None:
        """Replace the hierarchy. ``parents`` maps id -> parent id (insertion order kept)."""
        self.beginResetModel()
        self._all.children = []
        self._nodes = {pid: _Node(pid) for pid in parents}
        for pid, par in parents.items():
            node = self._nodes[pid]
            up = self._nodes.get(par) if par is not None else None
            node.parent = up if up is not None else self._all
            node.parent.children.append(node)
        self._counts = dict(counts or {})
        self._total = int(total)
        self._modes = dict(modes or {})
        self._recluster = set(recluster or ())
        self._editable = set(parents) if editable is None else set(editable)
        self.endResetModel()

    def set_dafi(self, counts: dict[str, tuple[int, int]]) -> None:
        """Show DAFi-refined next to plain counts (``{id: (dafi, plain)}``; empty = clear)."""
        self._dafi = dict(counts)
        for node in self._nodes.values():
            self.dataChanged.emit(self._index_of(node, 5), self._index_of(node, 5))

    def dafi_text(self, pop_id: str) -> str | None:
        """``"70 / 82 (85 %)"``: refined count, plain count and their ratio."""
        c = self._dafi.get(pop_id)
        if c is None:
            return None
        ratio = f"{100.0 * c[0] / c[1]:.0f} %" if c[1] else "-"
        return f"{c[0]:,} / {c[1]:,} ({ratio})"

    def set_counts(self, counts: dict[str, tuple[int, int]], total: int) -> None:
        """Update counts only (same hierarchy)."""
        self._counts = dict(counts)
        self._total = int(total)
        if self._all.children or True:
            self.dataChanged.emit(self.index(0, 1), self.index(0, 2))
            for node in self._nodes.values():
                self.dataChanged.emit(self._index_of(node, 1), self._index_of(node, 2))

    # ---- lookup -------------------------------------------------------
    def population_id(self, index: QModelIndex) -> str | None:
        if not index.isValid():
            return None
        return index.internalPointer().id

    def index_of(self, pop_id: str | None, column: int = 0) -> QModelIndex:
        node = self._all if pop_id is None else self._nodes.get(pop_id)
        return QModelIndex() if node is None else self._index_of(node, column)

    def _index_of(self, node: _Node, column: int) -> QModelIndex:
        return self.createIndex(node.row(), column, node)

    def _node(self, index: QModelIndex) -> _Node:
        return index.internalPointer() if index.isValid() else self._root

    # ---- QAbstractItemModel ------------------------------------------
    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:
        if column < 0 or column >= len(COLUMNS) or row < 0:
            return QModelIndex()
        if parent.isValid() and parent.column() != 0:
            return QModelIndex()
        node = self._node(parent)
        if row >= len(node.children):
            return QModelIndex()
        return self.createIndex(row, column, node.children[row])

    def parent(self, index: QModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        node: _Node = index.internalPointer()
        up = node.parent
        if up is None or up is self._root:
            return QModelIndex()
        return self.createIndex(up.row(), 0, up)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._node(parent).children)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if orientation == Qt.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ToolTipRole:
                return HEADER_TIPS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        node: _Node = index.internalPointer()
        col = index.column()
        pid = node.id
        if role in (Qt.DisplayRole, Qt.EditRole):
            if col == 0:
                return self.ROOT_LABEL if pid is None else pid.rsplit("/", 1)[-1] if role == Qt.DisplayRole else pid
            if col == 1:
                if pid is None:
                    return f"{self._total:,}"
                c = self._counts.get(pid)
                return None if c is None else f"{c[0]:,}"
            if col == 2:
                if pid is None:
                    return "100.0" if self._total else None
                c = self._counts.get(pid)
                if c is None:
                    return None
                return f"{100.0 * c[0] / c[1]:.1f}" if c[1] else "0.0"
            if col == 3 and pid is not None and pid in self._editable:
                mode = self._modes.get(pid, "event")
                return MODE_LABELS[mode] if role == Qt.DisplayRole else mode
            if col == 5 and pid is not None:
                return self.dafi_text(pid)
            return None
        if role == Qt.ForegroundRole and col == 5 and pid is not None:
            c = self._dafi.get(pid)
            if c is not None and c[1] and c[0] < 0.5 * c[1]:
                from PySide6.QtGui import QColor
                return QColor("#c0392b")  # shrunk below half of the plain count
        if role == Qt.CheckStateRole and col == 4 and pid is not None and pid in self._editable:
            return Qt.Checked if pid in self._recluster else Qt.Unchecked
        if role == Qt.TextAlignmentRole and col in (1, 2, 5):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ToolTipRole and pid is not None:
            return pid
        return None

    def flags(self, index: QModelIndex):
        if not index.isValid():
            return Qt.ItemIsDropEnabled
        node: _Node = index.internalPointer()
        f = Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDropEnabled
        if node.id is not None and node.id in self._editable:
            if index.column() == 0:
                f |= Qt.ItemIsEditable | Qt.ItemIsDragEnabled
            elif index.column() == 3:
                f |= Qt.ItemIsEditable
            elif index.column() == 4:
                f |= Qt.ItemIsUserCheckable
        return f

    def setData(self, index: QModelIndex, value, role: int = Qt.EditRole) -> bool:  # noqa: N802
        if not index.isValid():
            return False
        pid = index.internalPointer().id
        if pid is None or pid not in self._editable:
            return False
        col = index.column()
        if col == 0 and role == Qt.EditRole:
            new = str(value).strip()
            if not new or new == pid or new in self._nodes or "/" in new:
                return False
            self.rename_requested.emit(pid, new)
            return True
        if col == 3 and role == Qt.EditRole:
            mode = {v: k for k, v in MODE_LABELS.items()}.get(str(value), str(value))
            if mode not in MODES:
                return False
            self._modes[pid] = mode
            self.dataChanged.emit(index, index)
            self.mode_requested.emit(pid, mode)
            return True
        if col == 4 and role == Qt.CheckStateRole:
            on = value in (Qt.Checked, Qt.Checked.value, 2, True)
            (self._recluster.add if on else self._recluster.discard)(pid)
            self.dataChanged.emit(index, index)
            self.recluster_requested.emit(pid, on)
            return True
        return False

    # ---- drag and drop (re-parent) -----------------------------------
    def supportedDropActions(self):  # noqa: N802
        return Qt.MoveAction

    def supportedDragActions(self):  # noqa: N802
        return Qt.MoveAction

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [MIME]

    def mimeData(self, indexes) -> QMimeData:  # noqa: N802
        mime = QMimeData()
        ids = [self.population_id(i) for i in indexes if i.isValid() and i.column() == 0]
        mime.setData(MIME, "\n".join(i for i in ids if i).encode())
        return mime

    def canDropMimeData(self, data, action, row, column, parent) -> bool:  # noqa: N802
        return data.hasFormat(MIME)

    def dropMimeData(self, data, action, row, column, parent) -> bool:  # noqa: N802
        if not data.hasFormat(MIME):
            return False
        new_parent = self.population_id(parent)
        for pid in bytes(data.data(MIME)).decode().split("\n"):
            if pid and pid != new_parent and not self.is_descendant(new_parent, pid):
                self.reparent_requested.emit(pid, new_parent)
        return False  # the tab rebuilds the model; no row removal by the view

    def is_descendant(self, pid: str | None, ancestor: str) -> bool:
        """True if ``pid`` lies below ``ancestor`` (or is it)."""
        node = self._nodes.get(pid) if pid is not None else None
        while node is not None and node is not self._all:
            if node.id == ancestor:
                return True
            node = node.parent
        return False
