"""Results tab: ranked gene tables per term, volcano, per-gene view, fixed effects, covariance D,
offline enrichment and one-click export of everything (tables, GSEA files, plots, run report).

Shows ``project.fit.results_`` whenever ``project.results_changed`` fires. Heavy file writing
runs in a :class:`gui.workers.Worker`; plots are rendered on the GUI thread first (Qt painting is
not thread-safe) into the same folder.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFileDialog,
    QTreeWidgetItem,
    QWidget,
)

from gui.models.results_model import ResultsFilterProxyModel, ResultsTableModel
from gui.plots.export import export_plot, export_svg, render_image, safe_stem
from gui.results_export import export_job, export_volcanoes, volcano_evidence
from gui.results_layout import build
from study.errors import USER_ERRORS

#: Groups of the term tree, in display order: (kind, label)
KIND_GROUPS = (
    ("cell", "Cell-type signatures"),
    ("covariate", "Bulk DE (covariates)"),
    ("interaction", "Cell type-specific DE (interactions)"),
)
TERM_ROLE = Qt.ItemDataRole.UserRole


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
        build(self)

    def _set_enabled(self, on: bool) -> None:
        for w in (self.export_button, self.enrich_button, self.enrichment_view.run_button, self.gene_search,
                  self.table):
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
        self.enrichment_view.set_enrichment(None)
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
        if self.project is not None and hasattr(self.project, "section"):  # the study's (cached) matrix
            from study.assembly import collect_study

            try:
                return collect_study(self.project).expression
            except USER_ERRORS:
                return None
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
        self.enrichment_view.show_term(term)

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
    def run_gsea(self, permutations: int = 1000):
        """GSEA and ORA of every covariate term against the chosen library, in a worker (the
        Enrichment view shows it); returns the Worker."""
        return self.enrichment_view.start(self.results, self.gmt_edit.text().strip(), self.jobs,
                                          permutations=permutations)

    def _on_enrichment_set(self, _name: str, genes: list) -> None:
        """Highlight a set's leading-edge genes in the gene table."""
        self.table_model.set_highlighted(genes)

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
        """Over-representation of :meth:`enrichment_genes` in a library (``go-bp``, ``go-mf``,
        ``go-cc`` bundled, or a ``.gmt`` path); all tested genes are the background."""
        from engine.enrichment import over_representation
        from study.genesets import load_library

        if self.results is None:
            return None
        if not gmt_path:
            self.enrich_status.setText("Choose a library (go-bp, go-mf, go-cc) or a .gmt gene-set file first.")
            return None
        try:
            sets = load_library(gmt_path).sets
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

    def export_plots(self, folder: str | os.PathLike, *, volcanoes: bool = True) -> list[Path]:
        """The plots as PNG: a volcano per term (painted as an image, see :func:`export_volcanoes`),
        and, with SVG too, the covariance heatmap and the selected gene's view (small vector plots)."""
        folder = Path(folder)
        written = export_volcanoes(self.results, folder, fdr=self.fdr_spin.value(), highlight=(
            self.current_term(), self.selected_gene())) if volcanoes else []
        written += export_plot(self.heatmap, folder, "covariance_D")
        if self.gene_view.gene:
            written += export_plot(self.gene_view, folder, f"gene_{safe_stem(self.gene_view.gene)}")
        return written

    def _small_plots(self, folder: Path) -> tuple[list[Path], dict]:
        """SVGs of the heatmap and the gene view written now; their PNGs as painted images for the job."""
        written, images = [], {}
        views = [(self.heatmap, "covariance_D")]
        if self.gene_view.gene:
            views.append((self.gene_view, f"gene_{safe_stem(self.gene_view.gene)}"))
        if self.enrichment_view.frame is not None:
            views += [(self.enrichment_view.dot_plot, "enrichment_dots"),
                      (self.enrichment_view.running_plot, "gsea_running_score")]
        for view, stem in views:
            written.append(export_svg(view, folder / f"{stem}.svg"))
            images[folder / f"{stem}.png"] = render_image(view)
        return written, images

    def export_to(self, folder: str | os.PathLike):
        """Export everything into ``folder``: plots now (GUI thread), files in a Worker. Returns the Worker."""
        if self.results is None:
            return None
        folder = Path(folder)
        plots, images = self._small_plots(folder / "plots")  # painted here; PNGs encoded in the job
        params = dict(getattr(self.results, "parameters", {}) or {})
        params.update({"export_fdr": self.fdr_spin.value(), "export_top_n": self.top_n_spin.value()})
        run = (self.report_inputs(), params, self.fit if self.fit is not None else self.results,
               getattr(self.fit, "timings_", None))
        kwargs = dict(run=run, top_n=self.top_n_spin.value(), fdr=self.fdr_spin.value(),
                      term_csvs=self.term_csvs_check.isChecked(),
                      highlight=(self.current_term(), self.selected_gene()), images=images,
                      enrichment=self.enrichment_view.frame)
        self.export_button.setEnabled(False)

        def done(result) -> None:
            result = dict(result)
            result["plots"] = plots + result.pop("plot_images", []) + result.pop("volcanoes", [])
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
                done(export_job(self.results, folder, **kwargs))
            except Exception as exc:  # noqa: BLE001 - shown to the user
                failed(str(exc))
            return None
        worker = Worker(export_job, self.results, folder, **kwargs)
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
