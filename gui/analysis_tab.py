"""Analysis tab: choose cell types, covariates and terms of interest, set FastMix options, check, run.

The fit runs in a :class:`gui.workers.Worker` (progress by stage, Cancel); the fitted
estimator goes to ``project.fit`` (which emits ``results_changed`` for the Results tab).
Choices live in the project's ``analysis`` section.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.errors import DesignError, InputError
from gui.dialogs import show_fix
from study.analysis import DEFAULT_OPTIONS, FitInputs, fit_inputs, run_fit
from study.assembly import CollectedStudy, collect_study
from study.checks import DesignIssue, check_design, design_error_issue, encoded_covariate_names, term_preview
from study.errors import USER_ERRORS

VARIANCES = (("moderated", "Gene-specific, moderated (default)"), ("pooled", "One for all genes (R-compatible)"))
WEIGHTINGS = (("none", "None (all samples alike)"), ("weights", "Known weights (sheet column)"),
              ("subject", "Repeated measures by subject"))
DETECTORS = (("gmm", "Mixture model (R package default)"), ("shapiro", "Shapiro–Wilk (paper)"))


def _issue_from_error(exc: BaseException) -> DesignIssue:
    """A user-facing error as a blocking issue: the message (with file/column/row) and its fix."""
    text, hint = str(exc), getattr(exc, "hint", None)
    if hint and text.endswith(f" ({hint})"):
        text = text[: -len(hint) - 3]
    return DesignIssue("error", text, hint or "see the Study tab.", tuple(getattr(exc, "columns", ())))


def _choice_combo(choices: tuple[tuple[object, str], ...], tooltip: str) -> QComboBox:
    """A combo box of (value, label) choices with its tooltip."""
    w = QComboBox()
    for value, label in choices:
        w.addItem(label, value)
    w.setToolTip(tooltip)
    return w


def _check_list(tooltip: str) -> QListWidget:
    w = QListWidget()
    w.setToolTip(tooltip)
    w.setMinimumHeight(80)
    return w


def _fill(widget: QListWidget, names: list[str], checked: set[str] | None, default: bool = True) -> None:
    widget.blockSignals(True)
    widget.clear()
    for name in names:
        item = QListWidgetItem(name, widget)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        on = (name in checked) if checked is not None else default
        item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
    widget.blockSignals(False)


def _checked(widget: QListWidget) -> list[str]:
    return [widget.item(i).text() for i in range(widget.count())
            if widget.item(i).checkState() == Qt.CheckState.Checked]


class AnalysisTab(QWidget):
    """Term choice, FastMix options, design checks and the Run button."""

    fit_finished = Signal(object)

    def __init__(self, project, jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project, self.jobs = project, jobs
        self.error_dialog: QMessageBox | None = None
        self.issues: list[DesignIssue] = []
        self.worker = None
        self.last_error: str | None = None
        self._study: CollectedStudy | None = None
        self._building = False

        terms_box, opt_box, check_box = self._build_terms(), self._build_options(), self._build_checks()
        main = QVBoxLayout(self)
        main.addWidget(terms_box, 1)
        lower = QHBoxLayout()
        lower.addWidget(opt_box, 1)
        lower.addWidget(check_box, 2)
        main.addLayout(lower, 2)

        project.changed.connect(self._on_project_changed)
        project.proportions_changed.connect(self.reload)
        self.reload()

    def _build_terms(self) -> QGroupBox:
        """Cell types, covariates and interactions of interest, with the term preview."""
        self.cells_list = _check_list("Cell types whose own expression changes you want to find. "
                                      "Leaving one out is how to avoid proportions that add up to 100 %.")
        self.covariates_list = _check_list("Clinical variables (age, group, …) to relate to each cell type's expression.")
        self.terms_list = _check_list("Questions of interest: 'Cell.Age' asks 'does this gene's expression in "
                                      "this cell type change with age?'. FastMix always fits every cell type × "
                                      "covariate pair; ticked ones are listed first in Results and exports.")
        for w in (self.cells_list, self.covariates_list, self.terms_list):
            w.itemChanged.connect(self._on_choice_changed)
        self.preview_label = QLabel()
        self.preview_label.setWordWrap(True)
        self.preview_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        terms_box = QGroupBox("1. Model terms")
        lay = QVBoxLayout(terms_box)
        row = QHBoxLayout()
        for title, w in (("Cell types", self.cells_list), ("Covariates", self.covariates_list),
                         ("Interactions of interest", self.terms_list)):
            col = QVBoxLayout()
            col.addWidget(QLabel(title))
            col.addWidget(w)
            row.addLayout(col)
        lay.addLayout(row)
        lay.addWidget(self.preview_label)
        return terms_box

    def _build_options(self) -> QGroupBox:
        """The FastMix options, each with a one-line explanation."""
        self.trim_spin = QDoubleSpinBox()
        self.trim_spin.setRange(0.05, 0.9)
        self.trim_spin.setSingleStep(0.05)
        self.trim_spin.setDecimals(2)
        self.trim_spin.setToolTip("Share of genes set aside as possible outliers when estimating how much genes "
                                  "normally vary (0.5 = the 50 % most unusual genes; the package default).")
        self.random_combo = QComboBox()
        self.random_combo.addItem("Correlated (default)", False)
        self.random_combo.addItem("Independent", True)
        self.random_combo.setToolTip("Correlated: a gene's changes in different cell types may go together. "
                                     "Independent: treat each cell type's gene effects separately (more stable "
                                     "with few samples).")
        self.detector_combo = _choice_combo(DETECTORS, (
            "How FastMix decides which terms contain differentially expressed genes: a mixture model (as the "
            "R package) or a Shapiro–Wilk normality test (as the paper)."))
        self.main_box = QCheckBox("Covariate main terms")
        self.main_box.setToolTip("Also fit each covariate on its own (e.g. 'Age'), besides its cell-type "
                                 "interactions. Turn off when the chosen cell proportions add up to 100 %.")
        self.weight_combo = _choice_combo(WEIGHTINGS, (
            "Known weights: give some samples more say (column with role 'Weight'). Repeated measures: "
            "samples of the same subject (role 'Subject ID') are treated as correlated."))
        self.variance_combo = _choice_combo(VARIANCES, (
            "Moderated: each gene's own noise level (shrunk toward the typical one) is taken into account, so "
            "noisy genes are not called; calibrated on real data. One for all genes: the R package's numbers."))
        self.perm_spin = QSpinBox()
        self.perm_spin.setRange(0, 10000)
        self.perm_spin.setSingleStep(50)
        self.perm_spin.setToolTip("Permutations of the covariate labels (subjects kept together) that measure how "
                                  "many calls noise alone makes; 200 takes a few seconds. 0 = off.")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Seed of the permutations: the same seed gives the same results.")
        for w in (self.trim_spin, self.seed_spin, self.perm_spin):
            w.valueChanged.connect(self._on_choice_changed)
        for w in (self.random_combo, self.detector_combo, self.weight_combo, self.variance_combo):
            w.currentIndexChanged.connect(self._on_choice_changed)
        self.main_box.toggled.connect(self._on_choice_changed)
        opt_box = QGroupBox("2. Options")
        form = QFormLayout(opt_box)
        form.addRow("Trim level", self.trim_spin)
        form.addRow("Random effects", self.random_combo)
        form.addRow("Informative-term detector", self.detector_combo)
        form.addRow("", self.main_box)
        form.addRow("Sample weighting", self.weight_combo)
        form.addRow("Gene variances", self.variance_combo)
        form.addRow("", QLabel("Moderated: a gene's noise level is its own, so noisy genes are not called."))
        form.addRow("Permutations", self.perm_spin)
        form.addRow("", QLabel("200 permuted-label fits measure how many calls noise makes (0 = off)."))
        form.addRow("Seed", self.seed_spin)
        return opt_box

    def _build_checks(self) -> QGroupBox:
        """The design checks, Run/Cancel, progress and status."""
        self.issues_list = QListWidget()
        self.issues_list.setWordWrap(True)
        self.issues_list.setToolTip("Problems found in the design; red ones must be fixed before running.")
        self.no_main_button = QPushButton("Turn off covariate main terms")
        self.no_main_button.setToolTip("The cell fractions add up to nearly the same total in every sample: fit "
                                       "the covariates through the cell types only (as --no-covariate-main).")
        self.no_main_button.clicked.connect(lambda: self.main_box.setChecked(False))
        self.no_main_button.setVisible(False)
        self.run_button = QPushButton("Run FastMix")
        self.run_button.setToolTip("Fit the model (Ctrl+R). Results appear on the Results tab.")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        QShortcut(QKeySequence("Ctrl+R"), self, activated=self.run)
        check_box = QGroupBox("3. Checks and run")
        lay = QVBoxLayout(check_box)
        lay.addWidget(self.issues_list, 1)
        lay.addWidget(self.no_main_button, 0, Qt.AlignmentFlag.AlignLeft)
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress_bar, 1)
        lay.addLayout(row)
        lay.addWidget(self.status_label)
        return check_box

    # ------------------------------------------------------------------ state <-> project
    def options(self) -> dict:
        return {"trim": round(float(self.trim_spin.value()), 4), "independent": bool(self.random_combo.currentData()),
                "detector": self.detector_combo.currentData(), "include_covariate_main": self.main_box.isChecked(),
                "weighting": self.weight_combo.currentData(), "seed": int(self.seed_spin.value()),
                "variance": self.variance_combo.currentData(), "permutations": int(self.perm_spin.value())}

    def _covariate_columns(self) -> list[str]:
        if self._study is None or self._study.sheet is None:
            return []
        return [str(c) for c in self._study.sheet.covariates.columns]

    def _default_cells(self, cells: list[str]) -> set[str] | None:
        """Cell types ticked before the user chooses: the study's ``populations`` if it names some, else all."""
        wanted = {str(p) for p in self.project.section("study").get("populations", [])}
        chosen = {c for c in cells if c in wanted or c.rsplit("/", 1)[-1] in wanted}
        return chosen or None

    def reload(self) -> None:
        """Re-read the study and the stored choices; refresh lists, preview and checks."""
        try:
            self._study = collect_study(self.project)
            self._study_error = None
        except USER_ERRORS as exc:
            self._study, self._study_error = None, exc
        analysis = self.project.section("analysis")
        opts = {**DEFAULT_OPTIONS, **analysis.get("options", {})}
        cells = [str(c) for c in self._study.proportions.columns] if self._study and self._study.proportions is not None else []
        self._building = True
        try:
            _fill(self.cells_list, cells, set(analysis["cells"]) if "cells" in analysis else self._default_cells(cells))
            _fill(self.covariates_list, self._covariate_columns(),
                  set(analysis["covariates"]) if "covariates" in analysis else None)
            self.trim_spin.setValue(float(opts["trim"]))
            self.random_combo.setCurrentIndex(1 if opts["independent"] else 0)
            self.detector_combo.setCurrentIndex(max(0, self.detector_combo.findData(opts["detector"])))
            self.main_box.setChecked(bool(opts["include_covariate_main"]))
            self.weight_combo.setCurrentIndex(max(0, self.weight_combo.findData(opts["weighting"])))
            self.seed_spin.setValue(int(opts["seed"]))
            self.variance_combo.setCurrentIndex(max(0, self.variance_combo.findData(opts["variance"])))
            self.perm_spin.setValue(int(opts["permutations"]))
            self._fill_terms(analysis.get("terms"))
        finally:
            self._building = False
        self.update_checks()

    def _fill_terms(self, stored: list[str] | None) -> None:
        inter = [t for t in self.preview_terms() if "." in t and t.split(".")[0] in _checked(self.cells_list)]
        _fill(self.terms_list, inter, set(stored) if stored is not None else None)

    def _save(self) -> None:
        analysis = {"cells": _checked(self.cells_list), "covariates": _checked(self.covariates_list),
                    "terms": _checked(self.terms_list), "options": self.options()}
        if analysis != self.project.section("analysis"):
            self._saving = True
            try:
                self.project.update_section("analysis", analysis)
            finally:
                self._saving = False

    def _on_project_changed(self, section: str) -> None:
        if section == "study" or (section == "analysis" and not getattr(self, "_saving", False)):
            self.reload()

    def _on_choice_changed(self, *args) -> None:
        if self._building:
            return
        if self.sender() in (self.cells_list, self.covariates_list, self.main_box):
            stored = set(_checked(self.terms_list))
            known = {self.terms_list.item(i).text() for i in range(self.terms_list.count())}
            self._building = True
            try:
                inter = [t for t in self.preview_terms() if "." in t]
                _fill(self.terms_list, inter, {t for t in inter if t in stored or t not in known})
            finally:
                self._building = False
        self._save()
        self.update_checks()

    # ------------------------------------------------------------------ inputs + checks
    def preview_terms(self) -> list[str]:
        """Design term names for the current choice (R style: Cell1, Age, Cell1.Age)."""
        cells = _checked(self.cells_list)
        sheet = self._study.sheet if self._study else None
        chosen = _checked(self.covariates_list)
        names: list[str] = []
        if sheet is not None and chosen:
            cov = sheet.covariates[[c for c in chosen if c in sheet.covariates.columns]]
            try:
                names = encoded_covariate_names(cov, sheet.reference)
            except USER_ERRORS:
                names = list(cov.columns)
        else:
            names = chosen
        return term_preview(cells, names, self.main_box.isChecked())

    def fit_inputs(self) -> FitInputs:
        """The inputs of a run, restricted to matched samples; raises ``InputError`` if incomplete."""
        if self._study_error is not None:
            raise self._study_error
        study = collect_study(self.project, strict=True)
        return fit_inputs(study, _checked(self.cells_list), _checked(self.covariates_list), self.options())

    def check(self) -> list[DesignIssue]:
        """All problems of the current choice (plain language, each with a fix)."""
        try:
            inputs = self.fit_inputs()
        except USER_ERRORS as exc:
            return [_issue_from_error(exc)]
        issues = check_design(inputs.proportions, inputs.covariates, reference=inputs.reference,
                              include_covariate_main=inputs.options["include_covariate_main"])
        if not any(i.level == "error" for i in issues):
            try:
                from engine.design import build_design

                build_design(inputs.proportions, inputs.covariates,
                             include_covariate_main=inputs.options["include_covariate_main"],
                             reference=inputs.reference or None, check=True)
            except DesignError as exc:
                issues.append(design_error_issue(exc))
            except InputError as exc:
                issues.append(_issue_from_error(exc))
        n = len(inputs.proportions)
        if inputs.expression.shape[0] < 200:
            issues.append(DesignIssue("warning", f"Only {inputs.expression.shape[0]} genes: FastMix pools "
                                      "information across genes and works best with thousands.",
                                      "load the full expression matrix rather than a short gene list."))
        if self._study and self._study.match is not None and not self._study.match.ok:
            dropped = len(set().union(*map(set, self._study.match.missing.values())))
            issues.append(DesignIssue("warning", f"{dropped} sample(s) are not in all inputs and will be left "
                                      f"out ({n} used).", "see the match report on the Study tab."))
        return issues

    def update_checks(self) -> None:
        self.issues = self.check()
        self.issues_list.clear()
        terms = self.preview_terms()
        self.preview_label.setText(f"Model terms ({len(terms)}): " + (", ".join(terms) if terms else "none yet"))
        for issue in self.issues:
            item = QListWidgetItem(("⛔ " if issue.level == "error" else "⚠ ") + issue.text(), self.issues_list)
            item.setForeground(Qt.GlobalColor.darkRed if issue.level == "error" else Qt.GlobalColor.darkYellow)
        if not self.issues:
            QListWidgetItem("✓ The design looks fine.", self.issues_list)
        self.no_main_button.setVisible(any(i.action == "no_covariate_main" for i in self.issues))
        running = self.worker is not None
        self.run_button.setEnabled(not running and not any(i.level == "error" for i in self.issues))

    # ------------------------------------------------------------------ run
    def run(self) -> bool:
        """Check and start the fit in a worker; a problem opens a dialog saying how to fix it."""
        if self.worker is not None:
            return False
        self.update_checks()
        blocking = [i for i in self.issues if i.level == "error"]
        if blocking:
            first = blocking[0]
            self.show_error("FastMix cannot run yet", first.message, first.fix)
            return False
        try:
            inputs = self.fit_inputs()
        except USER_ERRORS as exc:
            self.show_error("FastMix cannot run yet", exc)
            return False
        from gui.workers import Worker

        worker = Worker(run_fit, inputs)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self.worker = worker
        self.last_error = None
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress_bar.setRange(0, 0)
        n_genes, n_samples = inputs.expression.shape
        self.status_label.setText(f"Fitting {n_genes:,} genes x {n_samples} samples…")
        self.jobs.start(worker, "FastMix")
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.status_label.setText("Cancelling…")

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(done, total))
        self.status_label.setText(f"FastMix: {message} ({done}/{total})")

    def _end(self) -> None:
        self.worker = None
        self.cancel_button.setEnabled(False)
        self.progress_bar.setRange(0, 1)
        self.update_checks()

    def _on_finished(self, fit) -> None:
        self._end()
        self.progress_bar.setValue(1)
        kept = getattr(fit, "kept_genes_", None)
        informative = getattr(fit, "informative_", None)
        inf = ", ".join(str(k) for k, v in informative.items() if v) if informative is not None else ""
        self.status_label.setText(f"Done: {len(fit.coef_):,} genes fitted" + (f", informative terms: {inf}" if inf else "")
                                  + (f", {kept:,} genes kept for the variance estimate" if kept is not None else "")
                                  + ". See the Results tab.")
        self.project.fit = fit
        self.fit_finished.emit(fit)

    def _on_failed(self, message: str) -> None:
        self._end()
        self.last_error = message
        self.status_label.setText(f"FastMix failed: {message}")

    def _on_cancelled(self) -> None:
        self._end()
        self.status_label.setText("Cancelled; nothing was changed.")

    def show_error(self, title: str, exc: BaseException | str, fix: str | None = None) -> QMessageBox:
        """A non-blocking dialog naming the problem and how to fix it (kept in ``error_dialog``)."""
        self.error_dialog = show_fix(self, title, exc, fix)
        return self.error_dialog
