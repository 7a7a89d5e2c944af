"""Item models of the Results tab: one term's ranked genes, and a filter proxy (gene, FDR, direction).

The filter is computed as one vectorised mask per change (not per row in Python), so typing
in the search box stays fast with tens of thousands of genes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from gui.models.table_model import DataFrameModel

_Index = QModelIndex | QPersistentModelIndex

#: Columns shown for one term, in order (``term`` is implied by the selected term).
RESULT_COLUMNS = ("gene", "coefficient", "random_effect", "fdr", "perm_p", "quasi_p", "quasi_fdr", "ols_p",
                  "ols_fdr", "rank")

#: Header texts shown to the user.
HEADERS = {
    "gene": "Gene", "coefficient": "Coefficient", "random_effect": "Random effect",
    "fdr": "FDR", "perm_p": "Perm. p", "quasi_p": "Quasi-p", "quasi_fdr": "Quasi-FDR",
    "ols_p": "OLS p", "ols_fdr": "OLS FDR", "rank": "Rank",
}

DIRECTIONS = ("both", "up", "down")


def direction_sign(df: pd.DataFrame) -> np.ndarray:
    """+1/-1 per gene: sign of the random effect (above/below the term's transcriptome-wide effect),
    the coefficient's sign where the random effect is missing; same rule as the exported up/down lists."""
    n = len(df)
    coef = df["coefficient"].to_numpy(dtype=float, na_value=np.nan) if "coefficient" in df else np.full(n, np.nan)
    re_ = df["random_effect"].to_numpy(dtype=float, na_value=np.nan) if "random_effect" in df else np.full(n, np.nan)
    return np.where(np.isfinite(re_), np.sign(re_), np.sign(np.nan_to_num(coef)))


class ResultsTableModel(DataFrameModel):
    """Ranked genes of one term (columns :data:`RESULT_COLUMNS`); header tooltips explain each p-value."""

    def __init__(self, frame: pd.DataFrame | None = None, *, descriptions: dict[str, str] | None = None,
                 parent=None) -> None:
        self._descriptions: dict[str, str] = dict(descriptions or {})
        self._highlighted: set[str] = set()
        self._marked = np.zeros(0, dtype=bool)
        super().__init__(frame, digits=4, parent=parent)

    def set_highlighted(self, genes) -> None:
        """Genes drawn bold on a tinted background (e.g. a gene set's leading edge)."""
        self._highlighted = {str(g) for g in genes or ()}
        self._update_marks()
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, self.columnCount() - 1),
                                  [Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.FontRole])

    def highlighted_rows(self) -> np.ndarray:
        """Source rows of the highlighted genes."""
        return np.flatnonzero(self._marked)

    def _update_marks(self) -> None:
        df = self.source_frame()
        genes = df["gene"].astype(str).to_numpy() if "gene" in df.columns else np.zeros(0, dtype=object)
        self._marked = np.isin(genes, list(self._highlighted)) if self._highlighted else np.zeros(len(genes), bool)

    def set_frame(self, frame) -> None:  # keeps the marks in step with the rows
        super().set_frame(frame)
        if hasattr(self, "_highlighted"):
            self._update_marks()

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole):
        if role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.FontRole) and index.isValid():
            row = int(self._order[index.row()]) if index.row() < len(self._order) else -1
            if 0 <= row < len(self._marked) and self._marked[row]:
                if role == Qt.ItemDataRole.BackgroundRole:
                    return QBrush(QColor(255, 228, 200))
                font = QFont()
                font.setBold(True)
                return font
            return None
        return super().data(index, role)

    def set_term_frame(self, frame: pd.DataFrame | None, descriptions: dict[str, str] | None = None) -> None:
        """Show one term's rows of ``FastMixResults.to_frame(term)`` (other columns are dropped)."""
        if descriptions is not None:
            self._descriptions = dict(descriptions)
        if frame is None:
            self.set_frame(None)
            return
        cols = [c for c in RESULT_COLUMNS if c in frame.columns]
        self.set_frame(frame.loc[:, cols].reset_index(drop=True))

    def column_name(self, section: int) -> str:
        return str(self.source_frame().columns[section])

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < self.columnCount():
            name = self.column_name(section)
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADERS.get(name, name)
            if role == Qt.ItemDataRole.ToolTipRole:
                return self._descriptions.get(name, HEADERS.get(name, name))
        return super().headerData(section, orientation, role)

    def gene_row(self, gene: str) -> int:
        """Row of ``gene`` in this model, or -1."""
        df = self.frame()
        if "gene" not in df.columns:
            return -1
        hits = np.flatnonzero(df["gene"].astype("string").to_numpy(dtype=object, na_value="") == gene)
        return int(hits[0]) if hits.size else -1


class ResultsFilterProxyModel(QSortFilterProxyModel):
    """Filters a :class:`ResultsTableModel` by gene text, FDR threshold (the app's ``fdr``) and
    direction; sorts numerically."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._text = ""
        self._fdr: float | None = None
        self._direction = "both"
        self._mask = np.ones(0, dtype=bool)
        self.setSortRole(Qt.ItemDataRole.UserRole)

    # --- filter settings --------------------------------------------------------------
    def set_gene_filter(self, text: str) -> None:
        """Case-insensitive substring match on the gene symbol ('' = all)."""
        self._text = text.strip().lower()
        self.refilter()

    def set_fdr_threshold(self, fdr: float | None) -> None:
        """Keep genes with FDR <= ``fdr`` (None = no threshold)."""
        self._fdr = None if fdr is None else float(fdr)
        self.refilter()

    def set_direction(self, direction: str) -> None:
        """'up' (gene effect above the transcriptome-wide effect), 'down' (below) or 'both'."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
        self._direction = direction
        self.refilter()

    def filters(self) -> dict:
        return {"text": self._text, "fdr": self._fdr, "direction": self._direction}

    # --- mask ---------------------------------------------------------------------------
    def compute_mask(self) -> np.ndarray:
        """Boolean mask over the source rows (source display order) for the current filters."""
        src = self.sourceModel()
        df = src.frame() if isinstance(src, DataFrameModel) else pd.DataFrame()
        mask = np.ones(len(df), dtype=bool)
        if not len(df):
            return mask
        if self._text and "gene" in df.columns:
            genes = df["gene"].astype("string").str.lower()
            mask &= genes.str.contains(self._text, regex=False).fillna(False).to_numpy(dtype=bool)
        col = "fdr" if "fdr" in df.columns else "quasi_fdr"
        if self._fdr is not None and col in df.columns:
            fdr = df[col].to_numpy(dtype=float, na_value=np.nan)
            mask &= np.nan_to_num(fdr, nan=np.inf) <= self._fdr
        if self._direction != "both":
            d = direction_sign(df)
            mask &= (d > 0) if self._direction == "up" else (d < 0)
        return mask

    def refilter(self) -> None:
        """Recompute the mask and re-apply it (call after the source data changes)."""
        self.beginFilterChange()
        self._mask = self.compute_mask()
        self.endFilterChange()

    def setSourceModel(self, model) -> None:  # noqa: N802 - Qt API
        super().setSourceModel(model)
        model.modelReset.connect(self.refilter)
        model.layoutChanged.connect(self.refilter)  # the mask follows the source's display order
        self.refilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:  # noqa: N802 - Qt API
        if source_row >= self._mask.size:
            return True
        return bool(self._mask[source_row])

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort in the source model (one vectorised pandas sort, NaN last) instead of
        ``lessThan`` calls per comparison; the proxy keeps the source order."""
        src = self.sourceModel()
        if isinstance(src, DataFrameModel):
            src.sort(column, order)
        else:  # pragma: no cover - other sources
            super().sort(column, order)

    def visible_genes(self) -> list[str]:
        """Genes in the current (filtered, sorted) display order."""
        src = self.sourceModel()
        col = src.source_frame().columns.get_loc("gene") if "gene" in src.source_frame().columns else None
        if col is None:
            return []
        return [str(self.index(r, col).data(Qt.ItemDataRole.DisplayRole)) for r in range(self.rowCount())]
