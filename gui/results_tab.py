"""Results tab: ranked gene tables per term, volcano, per-gene view, fixed effects, covariance D,
offline enrichment and one-click export of everything (tables, GSEA files, plots, run report).

Shows ``project.fit.results_`` whenever ``project.results_changed`` fires. Heavy file writing
runs in a :class:`gui.workers.Worker`; plots are rendered on the GUI thread first (Qt painting is
not thread-safe) into the same folder.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.progress import report
from gui.models.results_model import ResultsFilterProxyModel, ResultsTableModel
from gui.models.table_model import DataFrameModel
from gui.plots.export import export_plot, safe_stem
from gui.plots.gene_view import GeneViewWidget
from gui.plots.heatmap import HeatmapWidget
from gui.plots.volcano import VolcanoWidget
from study.errors import USER_ERRORS


def keep_none_alive() -> bool:
    """Work around a PySide6 6.12 / CPython 3.11 reference-count bug; returns True if applied.

    Each time a Python override of a void C++ virtual returns (``paintEvent``, pyqtgraph's
    ``paint``...), PySide drops one reference to ``None`` (and some bool-returning overrides
    drop one to ``True``). After a few thousand repaints the count reaches zero and Python
    aborts ("Fatal Python error: none_dealloc" / "bool_dealloc"). CPython >= 3.12 makes these
    singletons immortal; on older versions we give them a huge count once per process.
    """
    if sys.version_info >= (3, 12):
        return False
    if not getattr(sys, "_fastmix_none_guard", False):
        import ctypes

        for singleton in (None, True, False):
            ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 60
        sys._fastmix_none_guard = True
    return True


keep_none_alive()

#: Groups of the term tree, in display order: (kind, label)
KIND_GROUPS = (
    ("cell", "Cell-type signatures"),
    ("covariate", "Bulk DE (covariates)"),
    ("interaction", "Cell type-specific DE (interactions)"),
)
TERM_ROLE = Qt.ItemDataRole.UserRole


def export_results(results, folder: str | os.PathLike, *, report_dict: dict | None = None, top_n: int = 100,
                   fdr: float = 0.05, progress=None) -> dict[str, list[Path]]:
    """Write every results file into ``folder`` (Qt-free; runs in a worker thread).

    Layout: ``fastmix_results.xlsx``, ``csv/<term>.csv``, ``gsea/<term>.rnk``,
    ``gsea/significant_sets.gmt``, ``gene_lists/<term>_{up,down}.{txt,grp}`` + ``background.txt``,
    ``run_report.{json,html}``. Returns the written paths per kind.
    """
    from study import export as ex
    from study import report as rp

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    steps = 6
    out: dict[str, list[Path]] = {}
    report(progress, 0, steps, "Excel workbook")
    out["excel"] = [ex.write_results_excel(results, folder / "fastmix_results.xlsx", report=report_dict)]
    report(progress, 1, steps, "CSV per term")
    (folder / "csv").mkdir(exist_ok=True)
    out["csv"] = list(ex.write_term_csvs(results, folder / "csv"))
    report(progress, 2, steps, "GSEA .rnk files")
    (folder / "gsea").mkdir(exist_ok=True)
    out["rnk"] = list(ex.write_rnk(results, folder / "gsea"))
    report(progress, 3, steps, "gene lists")
    (folder / "gene_lists").mkdir(exist_ok=True)
    out["gene_lists"] = list(ex.write_gene_lists(results, folder / "gene_lists", top_n=top_n))
    report(progress, 4, steps, "significant gene sets (.gmt)")
    out["gmt"] = [ex.write_gmt(results, folder / "gsea" / "significant_sets.gmt", fdr=fdr)]
    report(progress, 5, steps, "run report")
    if report_dict is not None:
        out["report"] = [rp.write_report_json(report_dict, folder / "run_report.json"),
                         rp.write_report_html(report_dict, folder / "run_report.html", results=results)]
    report(progress, steps, steps, "done")
    return out


def save_screenshot(widget: QWidget, path: str | os.PathLike) -> Path:
    """``widget.grab()`` as PNG at ``path``; also into ``$FASTMIX_SCREENSHOT_DIR`` when that is set."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixmap = widget.grab()
    if not pixmap.save(str(path), "PNG"):
        raise OSError(f"could not write screenshot {path}")
    extra = os.environ.get("FASTMIX_SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        pixmap.save(str(Path(extra) / path.name), "PNG")
    return path


def volcano_evidence(results, term: str, frame: pd.DataFrame) -> dict:
    """The y values behind the app's calls for ``frame``'s rows, and their axis label."""
    score = getattr(results, "score", None)
    if score is None:
        return {}
    perm = getattr(results, "perm_p", None)
    calibrated = perm is not None and bool(np.isfinite(perm[term].to_numpy(dtype=float)).any())
    label = "association x attribution (calibrated)" if calibrated else "-log10 p"
    return {"evidence": score[term].reindex(frame["gene"].to_numpy()).to_numpy(dtype=float),
            "evidence_label": label}


class ResultsTab(QWidget):
    """The Results workspace. Public hooks for the shell and tests: :meth:`set_results`,
    :meth:`select_term`, :meth:`select_gene`, :meth:`export_to`, :meth:`run_enrichment`."""

    gene_selected = Signal(str)
    export_finished = Signal(object)   # dict kind -> list[Path]
    export_failed = Signal(str)

    def __init__(self, project=None, jobs=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultsTab")
        self.project, self.jobs = project, jobs
        self.results = None
        self.fit = None
        self._frames: dict[str, pd.DataFrame] = {}
        self._syncing = False
        self.last_export: dict[str, list[Path]] | None = None
        self.last_export_folder: Path | None = None
        self.enrichment_frame: pd.DataFrame | None = None
        self._expression_override: pd.DataFrame | None = None
        self._build()
        if project is not None and hasattr(project, "results_changed"):
            project.results_changed.connect(self.refresh_from_project)
            self.refresh_from_project()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.status = QLabel("No results yet: run FastMix on the Analysis tab.", objectName="resultsStatus")
        self.term_tree = QTreeWidget(objectName="termTree")
        self.term_tree.setHeaderLabels(["Term", "Hits"])
        self.term_tree.headerItem().setToolTip(1, "Genes with FDR ≤ the threshold (calibrated FDR; see the run report)")
        self.term_tree.setMinimumWidth(200)
        self.term_tree.header().setStretchLastSection(False)
        self.term_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.term_tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.term_tree.currentItemChanged.connect(self._on_term_item)

        self.gene_search = QLineEdit(objectName="geneSearch", placeholderText="Search gene…")
        self.gene_search.setClearButtonEnabled(True)
        self.fdr_spin = QDoubleSpinBox(objectName="fdrSpin", decimals=3, minimum=0.001, maximum=1.0,
                                       singleStep=0.01, value=0.05)
        self.fdr_spin.setToolTip("FDR threshold (calibrated FDR): colours the volcano, feeds gene sets and enrichment")
        self.significant_only = QCheckBox("Only FDR ≤ threshold", objectName="significantOnly")
        self.direction_combo = QComboBox(objectName="directionCombo")
        for label, value in (("Up and down", "both"), ("Up", "up"), ("Down", "down")):
            self.direction_combo.addItem(label, value)
        self.direction_combo.setToolTip("Up/down = gene effect above/below the term's transcriptome-wide effect "
                                        "(sign of the random effect)")
        self.export_button = QPushButton("Export…", objectName="exportButton")
        self.export_button.setToolTip("Excel, CSV, GSEA .rnk/.gmt, gene lists, plots (PNG+SVG) and run report")
        self.top_n_spin = QSpinBox(objectName="topNSpin", minimum=5, maximum=5000, value=100)
        self.top_n_spin.setToolTip("Genes per up/down list in the export")
        filters = QHBoxLayout()
        filters.addWidget(self.gene_search, 2)
        filters.addWidget(QLabel("FDR"))
        filters.addWidget(self.fdr_spin)
        filters.addWidget(self.significant_only)
        filters.addWidget(self.direction_combo)
        filters.addStretch(1)
        filters.addWidget(QLabel("Top N"))
        filters.addWidget(self.top_n_spin)
        filters.addWidget(self.export_button)

        self.table_model = ResultsTableModel(parent=self)
        self.proxy = ResultsFilterProxyModel(self)
        self.proxy.setSourceModel(self.table_model)
        self.table = QTableView(objectName="geneTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setResizeContentsPrecision(60)  # size columns on the first rows only
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection)
        self.rows_label = QLabel("", objectName="rowsLabel")

        self.volcano = VolcanoWidget()
        self.volcano.gene_clicked.connect(self.select_gene)
        self.gene_view = GeneViewWidget()
        self.fixed_model = DataFrameModel(parent=self)
        self.fixed_table = QTableView(objectName="fixedEffectsTable")
        self.fixed_table.setModel(self.fixed_model)
        self.fixed_table.verticalHeader().setVisible(False)
        self.heatmap = HeatmapWidget()
        self.summary_text = QPlainTextEdit(objectName="summaryText", readOnly=True)
        self.summary_text.setFont(QFont("monospace"))
        self.plots = QTabWidget(objectName="resultsPlots")
        from gui.plots.calibration import CalibrationWidget

        self.calibration = CalibrationWidget()
        self.plots.addTab(self.volcano, "Volcano")
        self.plots.addTab(self.calibration, "Calibration")
        self.plots.addTab(self.gene_view, "Gene")
        self.plots.addTab(self.fixed_table, "Fixed effects")
        self.plots.addTab(self.heatmap, "Covariance D")
        self.plots.addTab(self._build_enrichment(), "Enrichment")
        self.plots.addTab(self.summary_text, "Summary")

        table_box = QWidget()
        tl = QVBoxLayout(table_box)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.table, 1)
        tl.addWidget(self.rows_label)
        right = QSplitter(Qt.Orientation.Horizontal)
        right.addWidget(table_box)
        right.addWidget(self.plots)
        right.setSizes([640, 520])
        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addLayout(filters)
        cl.addWidget(right, 1)
        main = QSplitter(Qt.Orientation.Horizontal, objectName="resultsSplitter")
        main.addWidget(self.term_tree)
        main.addWidget(centre)
        main.setSizes([250, 1030])
        lay = QVBoxLayout(self)
        lay.addWidget(self.status)
        lay.addWidget(main, 1)

        self.gene_search.textChanged.connect(self._apply_filters)
        self.fdr_spin.valueChanged.connect(self._on_fdr_changed)
        self.significant_only.toggled.connect(self._apply_filters)
        self.direction_combo.currentIndexChanged.connect(self._apply_filters)
        self.export_button.clicked.connect(self._choose_export_folder)
        self._set_enabled(False)

    def _build_enrichment(self) -> QWidget:
        box = QWidget(objectName="enrichmentPanel")
        self.gmt_edit = QLineEdit(objectName="gmtPathEdit", placeholderText="Gene-set library (.gmt) on this computer")
        self.gmt_browse = QPushButton("Browse…", objectName="gmtBrowseButton")
        self.enrich_button = QPushButton("Run enrichment", objectName="enrichRunButton")
        self.enrich_button.setToolTip("Hypergeometric over-representation of the current term's genes with "
                                      "quasi-FDR ≤ threshold (and chosen direction) against all tested genes")
        self.enrich_status = QLabel("", objectName="enrichStatus")
        self.enrich_status.setWordWrap(True)
        self.enrich_model = DataFrameModel(parent=self)
        self.enrich_table = QTableView(objectName="enrichmentTable")
        self.enrich_table.setModel(self.enrich_model)
        self.enrich_table.setSortingEnabled(True)
        self.enrich_table.verticalHeader().setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.gmt_edit, 1)
        row.addWidget(self.gmt_browse)
        row.addWidget(self.enrich_button)
        lay = QVBoxLayout(box)
        lay.addLayout(row)
        lay.addWidget(self.enrich_status)
        lay.addWidget(self.enrich_table, 1)
        self.gmt_browse.clicked.connect(self._browse_gmt)
        self.enrich_button.clicked.connect(lambda: self.run_enrichment(self.gmt_edit.text().strip()))
        return box

    def _set_enabled(self, on: bool) -> None:
        for w in (self.export_button, self.enrich_button, self.gene_search, self.table):
            w.setEnabled(on)

    # ------------------------------------------------------------------ data in
    def refresh_from_project(self) -> None:
        """Show the project's last fit (or clear the tab when there is none)."""
        fit = getattr(self.project, "fit", None)
        results = getattr(fit, "results_", None) if fit is not None else None
        self.set_results(results, fit)

    def set_results(self, results, fit=None) -> None:
        """Show a :class:`engine.results.FastMixResults` (``fit`` adds the per-gene view)."""
        self.results, self.fit = results, fit
        self._frames = {}
        self.term_tree.blockSignals(True)
        self.term_tree.clear()
        self.term_tree.blockSignals(False)
        if results is None:
            self.table_model.set_term_frame(None)
            self.volcano.set_data(None)
            self.fixed_model.set_frame(None)
            self.heatmap.set_matrix(None)
            self.summary_text.setPlainText("")
            self.status.setText("No results yet: run FastMix on the Analysis tab.")
            self._set_enabled(False)
            return
        self._set_enabled(True)
        informative = set(getattr(results, "informative_terms", []) or [])
        kinds = dict(getattr(results, "term_kinds", {}) or {})
        fdr = self.fdr_spin.value()
        first = None
        bold = QFont()
        bold.setBold(True)
        for kind, label in KIND_GROUPS:
            terms = [t for t in results.terms if kinds.get(t, "cell") == kind]
            if not terms:
                continue
            group = QTreeWidgetItem(self.term_tree, [label, ""])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            group.setExpanded(True)
            for t in terms:
                hits = results.calls(t, fdr) if hasattr(results, "calls") else 0
                item = QTreeWidgetItem(group, [t, str(hits)])
                item.setData(0, TERM_ROLE, t)
                if t in informative:
                    item.setFont(0, bold)
                    item.setToolTip(0, f"{t}: informative (random effect detected; its quasi-p-values are meaningful)")
                else:
                    item.setToolTip(0, f"{t}: not informative (no gene-specific variation detected)")
                first = first or item
        fe = results.fixed_effects
        self.fixed_model.set_frame(fe.reset_index())
        self.fixed_table.resizeColumnsToContents()
        self.heatmap.set_matrix(pd.DataFrame(results.covariance))
        if fit is not None and getattr(fit, "design_", None) is not None:
            self.gene_view.set_model(fit.design_, getattr(fit, "coef_", results.coef),
                                     getattr(fit, "fitted_", None), self._expression())
        text = results.summary() if hasattr(results, "summary") else ""
        self.summary_text.setPlainText(text)
        n_genes = len(getattr(results, "genes", ()) or ())
        self.status.setText(f"{n_genes} genes, {len(results.terms)} terms; informative: "
                            f"{', '.join(sorted(informative)) or 'none'}. Bold terms are informative.")
        if first is not None:
            self.term_tree.setCurrentItem(first)

    def set_expression(self, expression: pd.DataFrame | None) -> None:
        """Observed expression (genes x samples) for the per-gene view; otherwise fitted values are shown."""
        self._expression_override = expression
        if self.fit is not None and getattr(self.fit, "design_", None) is not None:
            self.gene_view.set_model(self.fit.design_, getattr(self.fit, "coef_", self.results.coef),
                                     getattr(self.fit, "fitted_", None), self._expression())

    def _expression(self) -> pd.DataFrame | None:
        """Observed expression for the gene view: given, or kept by the fit or the project."""
        if isinstance(self._expression_override, pd.DataFrame):
            return self._expression_override
        for owner, name in ((self.fit, "expression_"), (self.project, "expression")):
            value = getattr(owner, name, None) if owner is not None else None
            if isinstance(value, pd.DataFrame):
                return value
        return None

    # ------------------------------------------------------------------ terms and genes
    def terms(self) -> list[str]:
        return list(self.results.terms) if self.results is not None else []

    def current_term(self) -> str | None:
        item = self.term_tree.currentItem()
        return item.data(0, TERM_ROLE) if item is not None else None

    def term_frame(self, term: str) -> pd.DataFrame:
        """Ranked tidy rows of ``term`` (cached)."""
        if term not in self._frames:
            self._frames[term] = self.results.to_frame(term)
        return self._frames[term]

    def select_term(self, term: str) -> None:
        it = self.term_tree.findItems(term, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive, 0)
        items = [i for i in it if i.data(0, TERM_ROLE) == term]
        if not items:
            raise KeyError(f"unknown term '{term}'")
        self.term_tree.setCurrentItem(items[0])

    def _on_term_item(self, item, _previous=None) -> None:
        term = item.data(0, TERM_ROLE) if item is not None else None
        if term is None or self.results is None:
            return
        frame = self.term_frame(term)
        self.table_model.set_term_frame(frame, getattr(self.results, "column_descriptions", None))
        self.table.sortByColumn(list(frame.columns.drop("term", errors="ignore")).index("rank")
                                if "rank" in frame.columns else 0, Qt.SortOrder.AscendingOrder)
        self.table.resizeColumnsToContents()
        self._update_volcano()
        self._update_calibration()
        self._update_rows_label()

    def _update_calibration(self) -> None:
        from study.report import calibration_sentence, calibration_summary

        term = self.current_term()
        if term is None or self.results is None:
            return
        fdr = self.fdr_spin.value()
        summary = calibration_summary(self.results, fdr)
        entry = summary.get(f"calls_at_fdr_{fdr:g}", {}).get(term)
        calib = getattr(self.results, "calibration", None)
        curve = calib.curves.get(term) if calib is not None else None
        self.calibration.set_curve(curve, calibration_sentence(term, entry, fdr) if entry else "")

    def _fixed_effect(self, term: str) -> float | None:
        try:
            return float(self.results.fixed_effects.loc[term, "estimate"])
        except (KeyError, TypeError, ValueError):
            return None

    def _update_volcano(self) -> None:
        term = self.current_term()
        if term is None:
            return
        frame = self.term_frame(term)
        self.volcano.set_data(frame, fdr=self.fdr_spin.value(), term=term, fixed_effect=self._fixed_effect(term),
                              **volcano_evidence(self.results, term, frame))
        self.volcano.highlight(self.selected_gene())

    def _on_fdr_changed(self, _value: float) -> None:
        self._update_volcano()
        self._update_calibration()
        if self.results is not None:
            fdr = self.fdr_spin.value()
            for i in range(self.term_tree.topLevelItemCount()):
                group = self.term_tree.topLevelItem(i)
                for j in range(group.childCount()):
                    it = group.child(j)
                    t = it.data(0, TERM_ROLE)
                    it.setText(1, str(self.results.calls(t, fdr)))
        self._apply_filters()

    def _apply_filters(self, *_args) -> None:
        gene = self.selected_gene()
        self.proxy.set_gene_filter(self.gene_search.text())
        self.proxy.set_fdr_threshold(self.fdr_spin.value() if self.significant_only.isChecked() else None)
        self.proxy.set_direction(self.direction_combo.currentData())
        self._update_rows_label()
        if gene:
            self._select_visible(gene)

    def _update_rows_label(self) -> None:
        self.rows_label.setText(f"{self.proxy.rowCount()} of {self.table_model.rowCount()} genes shown")

    def selected_gene(self) -> str | None:
        rows = self.table.selectionModel().selectedRows(self._gene_column())
        return str(rows[0].data(Qt.ItemDataRole.DisplayRole)) if rows else None

    def _gene_column(self) -> int:
        cols = list(self.table_model.source_frame().columns)
        return cols.index("gene") if "gene" in cols else 0

    def _select_visible(self, gene: str) -> bool:
        src_row = self.table_model.gene_row(gene)
        if src_row < 0:
            return False
        index = self.proxy.mapFromSource(self.table_model.index(src_row, 0))
        if not index.isValid():
            return False
        self.table.selectionModel().select(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)
        return True

    def select_gene(self, gene: str) -> None:
        """Select ``gene`` in the table (clearing filters that hide it), ring it on the volcano."""
        if self.table_model.gene_row(gene) < 0:
            return
        if not self._select_visible(gene):
            for w, reset in ((self.gene_search, lambda: self.gene_search.clear()),
                             (self.significant_only, lambda: self.significant_only.setChecked(False)),
                             (self.direction_combo, lambda: self.direction_combo.setCurrentIndex(0))):
                w.blockSignals(True)
                reset()
                w.blockSignals(False)
            self._apply_filters()
            self._select_visible(gene)

    def _on_table_selection(self, *_args) -> None:
        gene = self.selected_gene()
        self.volcano.highlight(gene)
        self.gene_view.show_gene(gene)
        if gene:
            self.gene_selected.emit(gene)

    # ------------------------------------------------------------------ enrichment
    def _browse_gmt(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Gene-set library", "", "Gene sets (*.gmt);;All files (*)")
        if path:
            self.gmt_edit.setText(path)

    def enrichment_genes(self) -> list[str]:
        """Genes of the current term passing the FDR threshold and the chosen direction."""
        term = self.current_term()
        if term is None:
            return []
        proxy = ResultsFilterProxyModel()
        model = ResultsTableModel(self.term_frame(term))
        proxy.setSourceModel(model)
        proxy.set_fdr_threshold(self.fdr_spin.value())
        proxy.set_direction(self.direction_combo.currentData())
        return list(model.frame()["gene"].astype(str).to_numpy()[proxy.compute_mask()])

    def run_enrichment(self, gmt_path: str) -> pd.DataFrame | None:
        """Over-representation of :meth:`enrichment_genes` in the sets of ``gmt_path`` (all genes = background)."""
        from engine.enrichment import over_representation, read_gmt

        if self.results is None:
            return None
        if not gmt_path:
            self.enrich_status.setText("Choose a .gmt gene-set file first.")
            return None
        try:
            sets = read_gmt(gmt_path)
        except (*USER_ERRORS, OSError) as exc:
            self.enrich_status.setText(f"Could not read gene sets: {exc}")
            return None
        genes = self.enrichment_genes()
        background = [str(g) for g in self.results.genes]
        frame = over_representation(genes, background, sets)
        self.enrichment_frame = frame
        self.enrich_model.set_frame(frame)
        self.enrich_table.resizeColumnsToContents()
        self.enrich_status.setText(
            f"{self.current_term()}: {len(genes)} genes with FDR ≤ {self.fdr_spin.value():g} "
            f"({self.direction_combo.currentText().lower()}) tested against {len(frame)} sets of "
            f"{Path(gmt_path).name}; background = {len(background)} genes.")
        return frame

    # ------------------------------------------------------------------ export
    def _choose_export_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export results into folder")
        if folder:
            self.export_to(folder)

    def report_inputs(self) -> dict[str, str]:
        """Input files named in the project's study section (for the run report's checksums)."""
        if self.project is None or not hasattr(self.project, "section"):
            return {}
        found: dict[str, str] = {}

        def walk(value, key: str) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(v, str(k))
            elif isinstance(value, str) and value and (key == "path" or key.endswith(("_path", "_file"))):
                resolve = getattr(self.project, "resolve", None)
                found[key] = str(resolve(value)) if resolve else value

        try:
            walk(self.project.section("study") or {}, "study")
        except (KeyError, TypeError):
            pass
        return found

    def export_plots(self, folder: str | os.PathLike) -> list[Path]:
        """Every plot as PNG and SVG: a volcano per term, the covariance heatmap, the selected gene's view."""
        folder = Path(folder)
        written: list[Path] = []
        current = self.current_term()
        volcano = VolcanoWidget()
        volcano.resize(900, 700)
        try:
            for term in self.terms():
                volcano.set_data(self.term_frame(term), fdr=self.fdr_spin.value(), term=term,
                                 **volcano_evidence(self.results, term, self.term_frame(term)),
                                 fixed_effect=self._fixed_effect(term))
                if term == current:
                    volcano.highlight(self.selected_gene())
                written += export_plot(volcano, folder, f"volcano_{safe_stem(term)}")
        finally:
            volcano.deleteLater()
        written += export_plot(self.heatmap, folder, "covariance_D")
        if self.gene_view.gene:
            written += export_plot(self.gene_view, folder, f"gene_{safe_stem(self.gene_view.gene)}")
        return written

    def export_to(self, folder: str | os.PathLike):
        """Export everything into ``folder``: plots now (GUI thread), files in a Worker. Returns the Worker."""
        from study.report import build_run_report

        if self.results is None:
            return None
        folder = Path(folder)
        plots = self.export_plots(folder / "plots")
        params = dict(getattr(self.results, "parameters", {}) or {})
        params.update({"export_fdr": self.fdr_spin.value(), "export_top_n": self.top_n_spin.value()})
        report_dict = build_run_report(self.report_inputs(), params,
                                       self.fit if self.fit is not None else self.results,
                                       getattr(self.fit, "timings_", None))
        kwargs = dict(report_dict=report_dict, top_n=self.top_n_spin.value(), fdr=self.fdr_spin.value())
        self.export_button.setEnabled(False)

        def done(result) -> None:
            result = dict(result)
            result["plots"] = plots
            self.last_export, self.last_export_folder = result, folder
            self.export_button.setEnabled(True)
            self.status.setText(f"Exported {sum(len(v) for v in result.values())} files to {folder}")
            self._remember_folder(folder)
            self.export_finished.emit(result)

        def failed(message: str) -> None:
            self.export_button.setEnabled(True)
            self.status.setText(f"Export failed: {message}")
            self.export_failed.emit(message)

        try:
            from gui.workers import Worker
        except ImportError:  # pragma: no cover - shell not present
            Worker = None
        if Worker is None or self.jobs is None:
            try:
                done(export_results(self.results, folder, **kwargs))
            except Exception as exc:  # noqa: BLE001 - shown to the user
                failed(str(exc))
            return None
        worker = Worker(export_results, self.results, folder, **kwargs)
        worker.call_in_ui(worker.finished, done)  # closures run in the worker thread otherwise
        worker.call_in_ui(worker.failed, failed)
        worker.call_in_ui(worker.cancelled, lambda: failed("cancelled"))
        self.jobs.start(worker, "Exporting results")
        return worker

    def _remember_folder(self, folder: Path) -> None:
        if self.project is None or not hasattr(self.project, "update_section"):
            return
        section = dict(self.project.section("results") or {})
        relative = getattr(self.project, "relative", None)
        section["export_dir"] = str(relative(folder)) if relative else str(folder)
        self.project.update_section("results", section)
