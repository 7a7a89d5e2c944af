"""The Enrichment view of the Results tab: ORA and preranked GSEA of every covariate term against a
gene-set library, computed in a worker (:func:`enrichment_job`), shown per term as a sortable,
filterable table of sets, a dot plot of the top sets and the GSEA running score of the selected set.

The view computes nothing itself: the table comes from :func:`study.genesets.enrichment`, the
running score from :func:`engine.gsea.running_score`. Selecting a set emits its leading-edge genes
(the Results tab highlights them in the gene table).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gui.models.table_model import DataFrameModel
from gui.plots.export import export_plot, safe_stem

__all__ = ["EnrichmentView", "enrichment_job", "TOP_SETS"]

TOP_SETS = 12
SHOWN_COLUMNS = ["gene_set", "nes", "p", "fdr", "set_size", "overlap", "leading_edge"]


def enrichment_job(results, library: str, *, permutations: int = 1000, seed: int = 0, progress=None) -> dict:
    """Worker body: load ``library`` (go-bp, go-mf, go-cc or a .gmt path), run ORA and GSEA for every
    covariate term. Returns ``{"frame", "rankings", "library", "version"}``."""
    from study.genesets import enrichment, gsea_rankings, load_library

    lib = load_library(library)
    frame = enrichment(results, lib.sets, permutations=permutations, seed=seed, progress=progress)
    return {"frame": frame, "rankings": gsea_rankings(results), "library": lib.name, "version": lib.version,
            "sets": lib.sets}


class EnrichmentView(QWidget):
    """Per-term table of sets, dot plot of the top sets, running score of the selected set."""

    set_selected = Signal(str, list)   # gene set, its leading-edge genes
    run_requested = Signal()
    computed = Signal(object)          # the result of enrichment_job

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("enrichmentView")
        self.frame: pd.DataFrame | None = None
        self.rankings: dict[str, pd.Series] = {}
        self.sets: dict = {}
        self.term: str | None = None
        self.current_set: str | None = None
        self._build()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.run_button = QPushButton("Run GSEA + ORA (all terms)", objectName="gseaRunButton")
        self.run_button.setToolTip("Preranked GSEA of each covariate term's ranking and ORA of its calls, "
                                   "against the library above; runs in the background")
        self.method_combo = QComboBox(objectName="enrichMethodCombo")
        self.method_combo.addItem("GSEA (preranked)", "gsea")
        self.method_combo.addItem("ORA (calls)", "ora")
        self.filter_edit = QLineEdit(objectName="setFilterEdit", placeholderText="Filter sets…")
        self.filter_edit.setClearButtonEnabled(True)
        self.export_button = QPushButton("Save plots…", objectName="enrichExportButton")
        self.export_button.setToolTip("The dot plot and the running-score plot as PNG and SVG")
        self.info = QLabel("", objectName="gseaStatus")
        self.info.setWordWrap(True)
        self.model = DataFrameModel(parent=self)
        self.table = QTableView(objectName="setTable")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.dot_plot = pg.PlotWidget(objectName="dotPlot", background="w")
        self.running_plot = pg.PlotWidget(objectName="runningScorePlot", background="w")
        self.running_plot.setLabel("bottom", "gene rank (the term's ranking statistic, high to low)")
        self.running_plot.setLabel("left", "running enrichment score")
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.method_combo)
        row.addWidget(self.filter_edit, 1)
        row.addWidget(self.export_button)
        split = QSplitter(Qt.Orientation.Vertical, objectName="enrichmentSplitter")
        for w in (self.table, self.dot_plot, self.running_plot):
            w.setMinimumSize(120, 90)
            split.addWidget(w)
        split.setSizes([220, 300, 240])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.info)
        lay.addWidget(split, 1)
        self.run_button.clicked.connect(self.run_requested)
        self.method_combo.currentIndexChanged.connect(self._refresh)
        self.filter_edit.textChanged.connect(self._refresh)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.export_button.clicked.connect(self._choose_export_folder)

    # ------------------------------------------------------------------ computing (in a worker)
    def start(self, results, library: str, jobs=None, *, permutations: int = 1000, seed: int = 0):
        """Run :func:`enrichment_job` in a :class:`gui.workers.Worker` through ``jobs`` (or here and now
        when there is no job runner); the view shows the result when it comes. Returns the Worker."""
        from gui.workers import Worker

        if results is None or not library:
            self.info.setText("Choose a library (go-bp, go-mf, go-cc) or a .gmt gene-set file first.")
            return None
        self.run_button.setEnabled(False)
        self.info.setText(f"Running GSEA and ORA of every covariate term against {Path(library).name}…")
        worker = Worker(enrichment_job, results, library, permutations=permutations, seed=seed)
        worker.call_in_ui(worker.finished, self._finished)
        worker.call_in_ui(worker.failed, lambda message: self._failed(f"Enrichment failed: {message}"))
        worker.call_in_ui(worker.cancelled, lambda: self._failed("Enrichment cancelled."))
        if jobs is None:
            worker.run()
        else:
            jobs.start(worker, "Gene-set enrichment")
        return worker

    def _finished(self, result: dict) -> None:
        self.run_button.setEnabled(True)
        self.set_enrichment(result)
        self.computed.emit(result)

    def _failed(self, message: str) -> None:
        self.run_button.setEnabled(True)
        self.info.setText(message)

    # ------------------------------------------------------------------ data in
    def set_enrichment(self, result: dict | None) -> None:
        """Show the result of :func:`enrichment_job` (``None`` clears the view)."""
        result = result or {}
        self.frame = result.get("frame")
        self.rankings = dict(result.get("rankings") or {})
        self.sets = dict(result.get("sets") or {})
        if self.frame is not None:
            counts = self.frame.groupby("method").size().to_dict()
            self.info.setText(f"{result.get('library', '')}: GSEA {counts.get('gsea', 0)} and ORA "
                              f"{counts.get('ora', 0)} rows over {self.frame['term'].nunique()} terms. "
                              f"{result.get('version', '')}")
        self._refresh()

    def method(self) -> str:
        return str(self.method_combo.currentData())

    def show_term(self, term: str | None) -> None:
        """Show the sets of ``term`` (a covariate or interaction term)."""
        self.term = term
        self._refresh()

    def term_rows(self) -> pd.DataFrame:
        """Rows of the current term and method, filtered by the set-name text, sorted by FDR then p."""
        if self.frame is None or self.term is None:
            return pd.DataFrame(columns=SHOWN_COLUMNS)
        f = self.frame[(self.frame["term"] == self.term) & (self.frame["method"] == self.method())]
        text = self.filter_edit.text().strip().lower()
        if text:
            f = f[f["gene_set"].str.lower().str.contains(text, regex=False)]
        return f.sort_values(["fdr", "p"], kind="mergesort")[SHOWN_COLUMNS].reset_index(drop=True)

    def _refresh(self, *_args) -> None:
        rows = self.term_rows()
        self.model.set_frame(rows)
        self.table.resizeColumnToContents(0)
        self.table.setColumnWidth(0, min(self.table.columnWidth(0), 320))
        self._draw_dots(rows)
        self.select_set(rows["gene_set"].iloc[0] if len(rows) else None)

    # ------------------------------------------------------------------ selection
    def select_set(self, name: str | None) -> None:
        """Select ``name`` in the table (if shown) and draw its running score."""
        frame = self.model.frame()
        hits = np.flatnonzero(frame["gene_set"].to_numpy() == name) if name is not None and len(frame) else []
        if len(hits):
            for view_row in range(self.model.rowCount()):
                if self.model.index(view_row, 0).data(Qt.ItemDataRole.DisplayRole) == name:
                    self.table.selectRow(view_row)
                    return
        self._show_set(None)

    def _on_selection(self, *_args) -> None:
        rows = self.table.selectionModel().selectedRows(0)
        self._show_set(str(rows[0].data(Qt.ItemDataRole.DisplayRole)) if rows else None)

    def leading_edge(self, name: str) -> list[str]:
        rows = self.term_rows()
        row = rows[rows["gene_set"] == name]
        text = str(row["leading_edge"].iloc[0]) if len(row) else ""
        return [g for g in text.split(";") if g]

    def _show_set(self, name: str | None) -> None:
        self.current_set = name
        self._draw_running(name)
        self.set_selected.emit(name or "", self.leading_edge(name) if name else [])

    # ------------------------------------------------------------------ plots
    def _draw_dots(self, rows: pd.DataFrame) -> None:
        plot = self.dot_plot.getPlotItem()
        plot.clear()
        top = rows.head(TOP_SETS).iloc[::-1].reset_index(drop=True)
        if top.empty:
            plot.setTitle("")
            return
        gsea = self.method() == "gsea"
        x = top["nes"].to_numpy(dtype=float) if gsea else (top["overlap"] / top["set_size"]).to_numpy(dtype=float)
        logq = -np.log10(np.clip(top["fdr"].to_numpy(dtype=float), 1e-300, 1.0))
        strength = np.clip(logq / max(2.0, float(logq.max())), 0, 1)
        brushes = [pg.mkBrush(int(60 + 195 * s), 60, int(200 - 160 * s), 220) for s in strength]
        sizes = 6 + 14 * np.sqrt(top["overlap"].to_numpy(dtype=float) / max(1.0, float(top["overlap"].max())))
        plot.addItem(pg.ScatterPlotItem(x=x, y=np.arange(len(top)), size=sizes, brush=brushes,
                                        pen=pg.mkPen("k", width=0.5)))
        labels = [(i, (n if len(n) <= 36 else n[:34] + "…")) for i, n in enumerate(top["gene_set"])]
        plot.getAxis("left").setTicks([labels])
        plot.setLabel("bottom", "NES" if gsea else "overlap / set size")
        plot.setTitle(f"Top {len(top)} {'GSEA' if gsea else 'ORA'} sets of {self.term} by FDR (red: lower FDR; "
                      f"size: {'leading edge' if gsea else 'overlap'})", size="8pt")
        if gsea:
            plot.addItem(pg.InfiniteLine(0, angle=90, pen=pg.mkPen((150, 150, 150), style=Qt.PenStyle.DashLine)))
        plot.enableAutoRange()

    def _draw_running(self, name: str | None) -> None:
        from engine.gsea import running_score

        plot = self.running_plot.getPlotItem()
        plot.clear()
        ranking = self.rankings.get(self.term) if self.term else None
        if name is None or ranking is None or name not in self.sets:
            plot.setTitle("Select a set" if self.frame is not None else "")
            return
        hits, curve = running_score(ranking, self.sets[name])
        plot.plot(np.arange(len(curve)), curve, pen=pg.mkPen((30, 90, 200), width=2))
        plot.addItem(pg.InfiniteLine(0, angle=0, pen=pg.mkPen((150, 150, 150))))
        low = float(min(curve.min(), 0.0)) - 0.05 * max(1e-9, float(np.ptp(curve)))
        edge = set(self.leading_edge(name))
        genes = ranking.sort_values(ascending=False, kind="mergesort").index
        in_edge = np.array([genes[i] in edge for i in hits], dtype=bool) if len(hits) else np.zeros(0, bool)
        for mask, colour in ((~in_edge, (120, 120, 120)), (in_edge, (220, 60, 40))):
            if mask.any():
                plot.addItem(pg.ScatterPlotItem(x=hits[mask], y=np.full(int(mask.sum()), low), symbol="|", size=14,
                                                pen=pg.mkPen(colour, width=1.5), brush=None))
        row = self.term_rows().set_index("gene_set")
        stats = f" NES {row.loc[name, 'nes']:.2f}, FDR {row.loc[name, 'fdr']:.2g}" if name in row.index else ""
        plot.setTitle(f"{name[:60]}:{stats}; red ticks: leading edge", size="8pt")
        plot.enableAutoRange()

    def export_plots(self, folder: str | os.PathLike) -> list[Path]:
        """The dot plot and the running-score plot as PNG and SVG in ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stem = safe_stem(f"{self.term or 'term'}_{self.method()}")
        written = export_plot(self.dot_plot, folder, f"enrichment_dots_{stem}")
        if self.current_set:
            written += export_plot(self.running_plot, folder, f"gsea_running_{stem}_{safe_stem(self.current_set)[:60]}")
        return written

    def _choose_export_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save enrichment plots into folder")
        if folder:
            self.info.setText(f"Saved {len(self.export_plots(folder))} files to {folder}")
