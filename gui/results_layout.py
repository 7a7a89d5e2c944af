"""Widgets of the Results tab: the term tree, the filter row, the gene table, the plot tabs and the
enrichment panel. Each builder creates its widgets as attributes of the tab and connects them to
the tab's slots; :func:`build` lays them out."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
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
    QVBoxLayout,
    QWidget,
)

from gui.enrichment_view import EnrichmentView
from gui.library_combo import LibraryCombo
from gui.models.results_model import ResultsFilterProxyModel, ResultsTableModel
from gui.models.table_model import DataFrameModel
from gui.plots.calibration import CalibrationWidget
from gui.plots.gene_view import GeneViewWidget
from gui.plots.heatmap import HeatmapWidget
from gui.plots.volcano import VolcanoWidget

__all__ = ["build"]


def build_terms(tab) -> None:
    """The status line and the tree of terms with their hit counts."""
    tab.status = QLabel("No results yet: run FastMix on the Analysis tab.", objectName="resultsStatus")
    tab.term_tree = QTreeWidget(objectName="termTree")
    tab.term_tree.setHeaderLabels(["Term", "Hits"])
    tab.term_tree.headerItem().setToolTip(1, "Genes with FDR ≤ the threshold (calibrated FDR; see the run report)")
    tab.term_tree.setMinimumWidth(200)
    tab.term_tree.header().setStretchLastSection(False)
    tab.term_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    tab.term_tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
    tab.term_tree.currentItemChanged.connect(tab._on_term_item)


def build_filters(tab) -> QHBoxLayout:
    """Gene search, FDR threshold, significant-only, direction, top N and Export."""
    tab.gene_search = QLineEdit(objectName="geneSearch", placeholderText="Search gene…")
    tab.gene_search.setClearButtonEnabled(True)
    tab.fdr_spin = QDoubleSpinBox(objectName="fdrSpin", decimals=3, minimum=0.001, maximum=1.0,
                                   singleStep=0.01, value=0.05)
    tab.fdr_spin.setToolTip("FDR threshold (calibrated FDR): colours the volcano, feeds gene sets and enrichment")
    tab.significant_only = QCheckBox("Only FDR ≤ threshold", objectName="significantOnly")
    tab.direction_combo = QComboBox(objectName="directionCombo")
    for label, value in (("Up and down", "both"), ("Up", "up"), ("Down", "down")):
        tab.direction_combo.addItem(label, value)
    tab.direction_combo.setToolTip("Up/down = gene effect above/below the term's transcriptome-wide effect "
                                    "(sign of the random effect)")
    tab.export_button = QPushButton("Export…", objectName="exportButton")
    tab.export_button.setToolTip("Excel, CSV, GSEA .rnk/.gmt, gene lists, plots (PNG+SVG) and run report")
    tab.top_n_spin = QSpinBox(objectName="topNSpin", minimum=5, maximum=5000, value=100)
    tab.top_n_spin.setToolTip("Genes per up/down list in the export")
    tab.term_csvs_check = QCheckBox("CSV per term", objectName="termCsvsCheck")
    tab.term_csvs_check.setToolTip("Also write csv/<term>.csv (the rows of gene_results.csv and of the workbook's "
                                   "sheets, one file per term)")
    filters = QHBoxLayout()
    filters.addWidget(tab.gene_search, 2)
    filters.addWidget(QLabel("FDR"))
    filters.addWidget(tab.fdr_spin)
    filters.addWidget(tab.significant_only)
    filters.addWidget(tab.direction_combo)
    filters.addStretch(1)
    filters.addWidget(QLabel("Top N"))
    filters.addWidget(tab.top_n_spin)
    filters.addWidget(tab.term_csvs_check)
    filters.addWidget(tab.export_button)
    return filters


def build_table(tab) -> None:
    """The ranked gene table of the current term behind its filter proxy."""
    tab.table_model = ResultsTableModel(parent=tab)
    tab.proxy = ResultsFilterProxyModel(tab)
    tab.proxy.setSourceModel(tab.table_model)
    tab.table = QTableView(objectName="geneTable")
    tab.table.setModel(tab.proxy)
    tab.table.setSortingEnabled(True)
    tab.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    tab.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    tab.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    tab.table.horizontalHeader().setResizeContentsPrecision(60)  # size columns on the first rows only
    tab.table.verticalHeader().setVisible(False)
    tab.table.verticalHeader().setDefaultSectionSize(tab.fontMetrics().height() + 6)
    tab.table.selectionModel().selectionChanged.connect(tab._on_table_selection)
    tab.rows_label = QLabel("", objectName="rowsLabel")


def build_plots(tab) -> None:
    """Volcano, calibration, gene view, fixed effects, covariance, enrichment and summary tabs."""
    tab.volcano = VolcanoWidget()
    tab.volcano.gene_clicked.connect(tab.select_gene)
    tab.gene_view = GeneViewWidget()
    tab.fixed_model = DataFrameModel(parent=tab)
    tab.fixed_table = QTableView(objectName="fixedEffectsTable")
    tab.fixed_table.setModel(tab.fixed_model)
    tab.fixed_table.verticalHeader().setVisible(False)
    tab.heatmap = HeatmapWidget()
    tab.summary_text = QPlainTextEdit(objectName="summaryText", readOnly=True)
    tab.summary_text.setFont(QFont("monospace"))
    tab.plots = QTabWidget(objectName="resultsPlots")
    tab.calibration = CalibrationWidget()
    tab.plots.addTab(tab.volcano, "Volcano")
    tab.plots.addTab(tab.calibration, "Calibration")
    tab.plots.addTab(tab.gene_view, "Gene")
    tab.plots.addTab(tab.fixed_table, "Fixed effects")
    tab.plots.addTab(tab.heatmap, "Covariance D")
    tab.plots.addTab(build_enrichment(tab), "Enrichment")
    tab.plots.addTab(tab.summary_text, "Summary")


def build_enrichment(tab) -> QWidget:
    """The offline enrichment panel: the library (bundled GO or a .gmt), then two views: the
    Enrichment view (GSEA and ORA of every covariate term, in a worker) and the quick ORA of the
    genes selected by the filters."""
    box = QWidget(objectName="enrichmentPanel")
    tab.gmt_edit = LibraryCombo()
    tab.gmt_browse = QPushButton("Browse…", objectName="gmtBrowseButton")
    tab.enrich_button = QPushButton("ORA of filtered genes", objectName="enrichRunButton")
    tab.enrich_button.setToolTip("Hypergeometric over-representation of the current term's genes with "
                                  "quasi-FDR ≤ threshold (and chosen direction) against all tested genes")
    tab.enrich_status = QLabel("", objectName="enrichStatus")
    tab.enrich_status.setWordWrap(True)
    tab.enrich_model = DataFrameModel(parent=tab)
    tab.enrich_table = QTableView(objectName="enrichmentTable")
    tab.enrich_table.setModel(tab.enrich_model)
    tab.enrich_table.setSortingEnabled(True)
    tab.enrich_table.verticalHeader().setVisible(False)
    tab.enrichment_view = EnrichmentView()
    quick = QWidget(objectName="quickOraPanel")
    ql = QVBoxLayout(quick)
    ql.setContentsMargins(0, 0, 0, 0)
    ql.addWidget(tab.enrich_button, 0, Qt.AlignmentFlag.AlignLeft)
    ql.addWidget(tab.enrich_status)
    ql.addWidget(tab.enrich_table, 1)
    tab.enrich_views = QTabWidget(objectName="enrichmentViews")
    tab.enrich_views.addTab(tab.enrichment_view, "GSEA + ORA per term")
    tab.enrich_views.addTab(quick, "ORA of filtered genes")
    row = QHBoxLayout()
    row.addWidget(QLabel("Gene sets"))
    row.addWidget(tab.gmt_edit, 1)
    row.addWidget(tab.gmt_browse)
    lay = QVBoxLayout(box)
    lay.addLayout(row)
    lay.addWidget(tab.enrich_views, 1)
    tab.enrichment_view.run_requested.connect(tab.run_gsea)
    tab.enrichment_view.set_selected.connect(tab._on_enrichment_set)
    tab.gmt_browse.clicked.connect(tab._browse_gmt)
    tab.enrich_button.clicked.connect(lambda: tab.run_enrichment(tab.gmt_edit.text().strip()))
    return box


def build(tab) -> None:
    """Create every widget of the tab, lay them out and connect the filters."""
    build_terms(tab)
    filters = build_filters(tab)
    build_table(tab)
    build_plots(tab)
    table_box = QWidget()
    tl = QVBoxLayout(table_box)
    tl.setContentsMargins(0, 0, 0, 0)
    tl.addWidget(tab.table, 1)
    tl.addWidget(tab.rows_label)
    right = QSplitter(Qt.Orientation.Horizontal, objectName="resultsRightSplitter")
    right.addWidget(table_box)
    right.addWidget(tab.plots)
    right.setSizes([640, 520])
    centre = QWidget()
    cl = QVBoxLayout(centre)
    cl.setContentsMargins(0, 0, 0, 0)
    cl.addLayout(filters)
    cl.addWidget(right, 1)
    main = QSplitter(Qt.Orientation.Horizontal, objectName="resultsSplitter")
    main.addWidget(tab.term_tree)
    main.addWidget(centre)
    main.setSizes([250, 1030])
    lay = QVBoxLayout(tab)
    lay.addWidget(tab.status)
    lay.addWidget(main, 1)
    tab.gene_search.textChanged.connect(tab._apply_filters)
    tab.fdr_spin.valueChanged.connect(tab._on_fdr_changed)
    tab.significant_only.toggled.connect(tab._apply_filters)
    tab.direction_combo.currentIndexChanged.connect(tab._apply_filters)
    tab.export_button.clicked.connect(tab._choose_export_folder)
    tab._set_enabled(False)
