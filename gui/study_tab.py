"""Study tab: sample sheet with column roles, expression matrix, cell proportions and the sample match.

Everything the user chooses is kept in the project's ``study`` section (so it survives
save/reopen); the loaded tables are read again from their files through a small cache.
:func:`collect_study` gives the Analysis tab the same inputs this tab shows.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gui.dialogs import ColumnChoiceDialog, ask_date_ids, show_fix
from gui.layouts import titled_box
from gui.models.role_mapping import COL_REFERENCE, COL_ROLE, ChoiceDelegate, RoleMappingModel
from gui.models.table_model import DataFrameModel
from study.assembly import (
    INPUT_LABELS,
    CollectedStudy,
    collect_study,
    complete_roles,
    date_ids_as_chosen,
    match_report,
    proportion_columns,
    read_expression_file,
    read_into_cache,
    read_proportions_file,
    read_sheet,
    study_renames,
)
from study.checks import (
    merge_renames,
    resolvable_renames,
    summarise_expression,
)
from study.errors import USER_ERRORS

TABLE_FILTER = "Tables (*.csv *.tsv *.txt *.xlsx);;All files (*)"

# ----------------------------------------------------------------------------- widget
class StudyTab(QWidget):
    """Sample sheet + roles, expression matrix, proportions source and sample match report."""

    study_changed = Signal()

    def __init__(self, project, jobs=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project, self.jobs = project, jobs
        self.error_dialog: QMessageBox | None = None
        self.date_dialog: QMessageBox | None = None
        self.columns_dialog = None
        self.inputs: CollectedStudy | None = None
        self._sheet: pd.DataFrame | None = None
        self._building = False

        sheet_box, expr_box = self._build_sheet(), self._build_expression()
        props_box, match_box = self._build_proportions(), self._build_match()
        main = QVBoxLayout(self)
        main.addWidget(sheet_box, 3)
        lower = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(expr_box)
        left.addWidget(props_box)
        lower.addLayout(left, 1)
        lower.addWidget(match_box, 1)
        main.addLayout(lower, 2)

        project.changed.connect(self._on_project_changed)
        project.proportions_changed.connect(self.refresh)
        if hasattr(project, "path_changed"):
            project.path_changed.connect(lambda: self.reload_from_project(show_errors=False))
        self.reload_from_project(show_errors=False)

    def _build_sheet(self) -> QGroupBox:
        """The sample sheet and its column roles."""
        self.load_sheet_button = QPushButton("Load sample sheet…")
        self.load_sheet_button.setToolTip("A CSV or Excel table with one row per sample (ID, age, group, …)")
        self.load_sheet_button.clicked.connect(self._browse_sheet)
        self.sheet_label = QLabel("No sample sheet")
        self.sheet_model = DataFrameModel(max_rows=5000)
        self.sheet_view = QTableView()
        self.sheet_view.setModel(self.sheet_model)
        self.sheet_view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.sheet_view.setSortingEnabled(True)
        self.sheet_view.verticalHeader().setVisible(False)
        self.sheet_view.verticalHeader().setDefaultSectionSize(22)
        self.roles_model = RoleMappingModel(self)
        self.roles_view = QTableView()
        self.roles_view.setModel(self.roles_model)
        self.roles_view.setItemDelegate(ChoiceDelegate(self.roles_view))
        self.roles_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.roles_view.horizontalHeader().setStretchLastSection(True)
        self.roles_view.horizontalHeader().setSectionResizeMode(COL_ROLE, QHeaderView.ResizeMode.Fixed)
        self.roles_view.setColumnWidth(COL_ROLE, 240)
        self.roles_view.verticalHeader().setVisible(False)
        self.roles_model.mapping_changed.connect(self._on_roles_edited)
        sheet_box = QGroupBox("1. Sample sheet and column roles")
        top = QHBoxLayout()
        top.addWidget(self.load_sheet_button)
        top.addWidget(self.sheet_label, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.sheet_view)
        split.addWidget(self.roles_view)
        split.setSizes([500, 500])
        lay = QVBoxLayout(sheet_box)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        return sheet_box

    def _build_expression(self) -> QGroupBox:
        """The expression matrix, its orientation and log2 option."""
        self.load_expr_button = QPushButton("Load expression matrix…")
        self.load_expr_button.setToolTip("Genes x samples (or samples x genes) table of log-scale expression")
        self.load_expr_button.clicked.connect(self._browse_expression)
        self.genes_in_rows = QCheckBox("Genes in rows")
        self.genes_in_rows.setChecked(True)
        self.genes_in_rows.setToolTip("Ticked: one row per gene, one column per sample. Untick if the file has "
                                      "one row per sample.")
        self.genes_in_rows.toggled.connect(self._on_orientation)
        self.expr_label = QLabel("No expression matrix")
        self.expr_label.setWordWrap(True)
        self.log2_box = QCheckBox("Use log2(x+1)")
        self.log2_box.setToolTip("FastMix expects log-scale values; raw read counts should be transformed.")
        self.log2_box.toggled.connect(self._on_log2)
        self.expr_warning = QLabel()
        self.expr_warning.setWordWrap(True)
        self.expr_warning.setStyleSheet("color: #a05a00")
        return titled_box("2. Expression matrix", [self.load_expr_button, self.genes_in_rows, self.log2_box],
                    [self.expr_label, self.expr_warning])

    def _build_proportions(self) -> QGroupBox:
        """Where the cell proportions come from."""
        self.props_from_gating = QRadioButton("From the Gating tab")
        self.props_from_file = QRadioButton("From a file")
        self.props_group = QButtonGroup(self)
        self.props_group.addButton(self.props_from_gating)
        self.props_group.addButton(self.props_from_file)
        self.props_from_gating.setChecked(True)
        self.props_from_gating.toggled.connect(self._on_props_source)
        self.load_props_button = QPushButton("Import proportions…")
        self.load_props_button.setToolTip("Samples x cell types as percentages or fractions (FlowJo / CBC export)")
        self.load_props_button.clicked.connect(self._browse_proportions)
        self.props_label = QLabel("No cell proportions")
        self.props_label.setWordWrap(True)
        return titled_box("3. Cell proportions", [self.props_from_gating, self.props_from_file, self.load_props_button],
                    [self.props_label])

    def _build_match(self) -> QGroupBox:
        """The three-way sample match and the one-click ID fix."""
        self.match_label = QLabel()
        self.match_label.setWordWrap(True)
        self.match_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.suggestion_list = QListWidget()
        self.suggestion_list.setMaximumHeight(90)
        self.fix_button = QPushButton("Use the suggested IDs in the sheet")
        self.fix_button.setToolTip("Rename the sample IDs of the sheet to the IDs used by the other inputs "
                                   "(the file itself is not changed)")
        self.fix_button.clicked.connect(self.apply_suggestions)
        self.undo_renames_button = QPushButton("Forget renames")
        self.undo_renames_button.clicked.connect(self.clear_renames)
        match_box = QGroupBox("4. Sample match")
        lay = QVBoxLayout(match_box)
        lay.addWidget(self.match_label)
        lay.addWidget(self.suggestion_list)
        lay.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.fix_button)
        row.addWidget(self.undo_renames_button)
        row.addStretch(1)
        lay.addLayout(row)
        return match_box

    # ------------------------------------------------------------------ public actions
    def load_sheet(self, path: str | os.PathLike) -> bool:
        """Read a sample sheet, guess column roles (keeping the stored ones for known columns)."""
        path = Path(path)
        try:
            sheet = read_sheet(path)
        except USER_ERRORS as exc:
            self.show_error("Cannot use this sample sheet", exc)
            return False
        study = self.project.section("study")
        roles, refs = complete_roles(sheet, study)
        study["sheet_path"] = self.project.relative(path)
        study["columns"] = [{"name": c, "role": r, "reference": refs.get(c)} for c, r in roles.items()]
        self.project.update_section("study", study)
        return True

    def load_expression(self, path: str | os.PathLike) -> bool:
        """Read an expression matrix; orientation is detected and shown for the user to confirm."""
        path = Path(path)
        try:
            expr = read_expression_file(path, None)
        except USER_ERRORS as exc:
            self.show_error("Cannot use this expression matrix", exc)
            return False
        study = self.project.section("study")
        study["expression_path"] = self.project.relative(path)
        study["genes_in_rows"] = expr.attrs.get("orientation", "genes_x_samples") == "genes_x_samples"
        study["log2"] = False
        study.pop("date_ids", None)  # a new file: its date-like IDs are decided on afresh
        self.project.update_section("study", study)
        dates = date_ids_as_chosen(expr, None)[1]
        if dates:
            self.ask_date_ids(dates)
        return True

    def ask_date_ids(self, dates: tuple[str, ...]) -> QMessageBox:
        """Offer the fixes for gene IDs Excel turned into dates; the run is blocked until one is chosen."""
        self.date_dialog = ask_date_ids(self, dates, self.set_date_ids)
        return self.date_dialog

    def set_date_ids(self, choice: str | None) -> None:
        """Store how date-like gene IDs are used: "restore", "allow" or None (undecided)."""
        if choice is None:
            return
        study = self.project.section("study")
        study["date_ids"] = choice
        self.project.update_section("study", study, undoable=True, text="Date-like gene IDs")

    def load_proportions(self, path: str | os.PathLike, columns: list[str] | None = None) -> bool:
        """Use a proportions file; when its rows add up to more than 100 % (a total or a count column
        beside the cell types), the user picks the cell-type columns and the check runs on those."""
        path = Path(path)
        try:
            read_proportions_file(path, columns)
        except USER_ERRORS as exc:
            if columns is None and "sum to" in str(exc):
                return self.choose_proportion_columns(path, exc)
            self.show_error("Cannot use these cell proportions", exc)
            return False
        study = self.project.section("study")
        study["proportions_path"] = self.project.relative(path)
        study["proportions_source"] = "file"
        study["proportion_columns"] = list(columns) if columns else None
        self.project.update_section("study", study)
        return True

    def choose_proportion_columns(self, path: Path, problem: BaseException) -> bool:
        """Open the cell-type picker (non-blocking); returns False (nothing loaded yet)."""
        self.columns_dialog = ColumnChoiceDialog(
            self, proportion_columns(path), f"{problem}. Tick the cell-type columns; the sum check then "
            "applies to them only.", lambda chosen: self.load_proportions(path, chosen))
        self.columns_dialog.open()
        return False

    def set_role(self, column: str, role: str) -> None:
        self.roles_model.set_role(column, role)

    def set_reference(self, column: str, level: str) -> None:
        self.roles_model.set_reference(column, level)

    def apply_suggestions(self) -> None:
        """Rename sheet IDs that differ from the other inputs only by case, whitespace or a suffix."""
        if self.inputs is None or self.inputs.match is None or self.inputs.sheet is None:
            return
        new = resolvable_renames(self.inputs.match.suggestions, self.inputs.sheet.ids)
        if not new:
            return
        study = self.project.section("study")
        merged = merge_renames(study_renames(study), new)
        study["id_renames"] = [[a, b] for a, b in merged.items() if a != b]
        self.project.update_section("study", study, undoable=True, text="Rename sample IDs")

    def clear_renames(self) -> None:
        study = self.project.section("study")
        if study.get("id_renames"):
            study["id_renames"] = []
            self.project.update_section("study", study, undoable=True, text="Forget sample ID renames")

    def show_error(self, title: str, exc: BaseException | str, fix: str | None = None) -> QMessageBox:
        """A non-blocking dialog naming the problem and how to fix it (kept in ``error_dialog``)."""
        self.error_dialog = show_fix(self, title, exc, fix)
        return self.error_dialog

    # ------------------------------------------------------------------ refresh
    def reload_from_project(self, show_errors: bool = True) -> None:
        study = self.project.section("study")
        self._sheet = None
        if study.get("sheet_path"):
            try:
                self._sheet = read_sheet(self.project.resolve(study["sheet_path"]))
            except USER_ERRORS as exc:
                if show_errors:
                    self.show_error("Cannot read the sample sheet", exc)
        roles, refs = complete_roles(self._sheet, study) if self._sheet is not None else ({}, {})
        self._building = True
        try:
            self.sheet_model.set_frame(self._sheet)
            self.roles_model.set_sheet(self._sheet, roles, refs)
            self._open_editors()
            self.genes_in_rows.setChecked(bool(study.get("genes_in_rows", True)))
            self.log2_box.setChecked(bool(study.get("log2", False)))
            (self.props_from_file if study.get("proportions_source") == "file" else self.props_from_gating).setChecked(True)
        finally:
            self._building = False
        self.sheet_label.setText(self._describe_sheet(study))
        self.refresh(show_errors=show_errors)

    def _describe_sheet(self, study: dict) -> str:
        if self._sheet is None:
            return "No sample sheet" if not study.get("sheet_path") else f"{study['sheet_path']} (cannot be read)"
        return f"{Path(study['sheet_path']).name}: {len(self._sheet)} samples, {self._sheet.shape[1]} columns"

    def _open_editors(self) -> None:
        for r in range(self.roles_model.rowCount()):
            self.roles_view.openPersistentEditor(self.roles_model.index(r, COL_ROLE))
            idx = self.roles_model.index(r, COL_REFERENCE)
            self.roles_view.closePersistentEditor(idx)
            if self.roles_model.flags(idx) & Qt.ItemFlag.ItemIsEditable:
                self.roles_view.openPersistentEditor(idx)

    def refresh(self, show_errors: bool = False) -> None:
        """Recompute the expression summary, proportions summary and match report."""
        study = self.project.section("study")
        try:
            self.inputs = collect_study(self.project)
            error = None
        except USER_ERRORS as exc:
            self.inputs = None
            error = exc
        self._show_expression(study)
        self._show_proportions(study)
        if error is not None:
            self.match_label.setText(f"Problem: {error}")
            self.suggestion_list.clear()
            self.fix_button.setEnabled(False)
            if show_errors:
                self.show_error("Problem with the study inputs", error)
        else:
            self._show_match(study, show_errors)
        self.study_changed.emit()

    def _show_expression(self, study: dict) -> None:
        self.expr_warning.clear()
        if not study.get("expression_path"):
            self.expr_label.setText("No expression matrix")
            self.log2_box.setEnabled(False)
            return
        try:
            raw = read_expression_file(self.project.resolve(study["expression_path"]), study.get("genes_in_rows", True))
        except USER_ERRORS as exc:
            self.expr_label.setText(f"{study['expression_path']}: {exc}")
            return
        s = summarise_expression(raw)
        self.expr_label.setText(f"{Path(study['expression_path']).name}: {s.text()}")
        warn = []
        if s.counts_like:
            warn.append("These values look like raw counts (whole numbers up to "
                        f"{s.maximum:,.0f}); FastMix expects log-scale expression: tick 'Use log2(x+1)'.")
        if s.duplicate_genes:
            warn.append(f"{len(s.duplicate_genes)} gene IDs occur more than once; each is fitted as its own row "
                        "and exports may be ambiguous. Consider merging them before loading.")
        if raw.shape[0] < raw.shape[1]:
            warn.append("There are fewer genes than samples: check 'Genes in rows'.")
        self.expr_warning.setText("\n".join(warn))
        self.log2_box.setEnabled(s.counts_like or bool(study.get("log2")))

    def _show_proportions(self, study: dict) -> None:
        self.load_props_button.setEnabled(True)
        props = self.inputs.proportions if self.inputs is not None else None
        if props is None:
            if study.get("proportions_source") == "file":
                self.props_label.setText("Import a proportions table (samples x cell types).")
            else:
                self.props_label.setText("No proportions from the Gating tab yet: gate the FCS files, "
                                         "or import a table.")
            return
        src = (Path(study["proportions_path"]).name if study.get("proportions_source") == "file"
               and study.get("proportions_path") else "Gating tab")
        text = f"{src}: {props.shape[0]} samples x {props.shape[1]} cell types ({', '.join(map(str, props.columns[:6]))})"
        notes = [n for n in (self.inputs.notices if self.inputs else ()) if "percent" in n]
        if notes:
            text += "\n" + "\n".join(notes)
        self.props_label.setText(text)

    def _show_match(self, study: dict, show_errors: bool) -> None:
        match = self.inputs.match
        renames = study_renames(study)
        self.match_label.setText(match_report(match, renames))
        self.suggestion_list.clear()
        fixable = {}
        if match is not None and self.inputs.sheet is not None:
            fixable = resolvable_renames(match.suggestions, self.inputs.sheet.ids)
            for a, b in fixable.items():
                QListWidgetItem(f"Sheet ID '{a}' → '{b}'", self.suggestion_list)
        self.fix_button.setEnabled(bool(fixable))
        self.undo_renames_button.setEnabled(bool(renames))
        if match is not None and not match.common and show_errors and len(self._loaded_inputs()) >= 2:
            self.show_error("No sample IDs match",
                            "No sample ID is shared by "
                            + " and ".join(INPUT_LABELS[k] for k in self._loaded_inputs()) + ".",
                            fix="the sheet's 'Sample ID' column must hold the same IDs as the expression "
                                "matrix's column headers and the proportions' row names; check the role "
                                "mapping and the files.")

    def _loaded_inputs(self) -> list[str]:
        if self.inputs is None:
            return []
        out = []
        if self.inputs.sheet is not None:
            out.append("sheet")
        if self.inputs.expression is not None:
            out.append("expression")
        if self.inputs.proportions is not None:
            out.append("proportions")
        return out

    # ------------------------------------------------------------------ slots
    def _on_project_changed(self, section: str) -> None:
        if section == "study":
            self.reload_from_project(show_errors=True)

    def _on_roles_edited(self) -> None:
        if self._building:
            return
        study = self.project.section("study")
        roles = self.roles_model.roles()
        refs = self.roles_model.references()
        study["columns"] = [{"name": c, "role": r, "reference": refs.get(c)} for c, r in roles.items()]
        self.project.update_section("study", study, undoable=True, text="Change column roles")

    def _on_orientation(self, checked: bool) -> None:
        if self._building:
            return
        study = self.project.section("study")
        if study.get("genes_in_rows", True) != checked:
            study["genes_in_rows"] = bool(checked)
            self.project.update_section("study", study)

    def _on_log2(self, checked: bool) -> None:
        if self._building:
            return
        study = self.project.section("study")
        study["log2"] = bool(checked)
        self.project.update_section("study", study)

    def _on_props_source(self) -> None:
        if self._building:
            return
        study = self.project.section("study")
        study["proportions_source"] = "file" if self.props_from_file.isChecked() else "gating"
        self.project.update_section("study", study)

    def load_in_background(self, kind: str, path: str | os.PathLike):
        """Read a big table in a worker (the window stays usable), then load it as ``load_<kind>`` does.

        ``kind`` is 'sheet', 'expression' or 'proportions'. Returns the worker (None without a job runner,
        in which case the file is loaded at once).
        """
        loader = {"sheet": self.load_sheet, "expression": self.load_expression,
                  "proportions": self.load_proportions}[kind]
        if self.jobs is None:
            loader(path)
            return None
        from gui.workers import Worker

        worker = Worker(read_into_cache, kind, Path(path))
        # problems are shown by ``loader`` (with the fix), not as a failed job
        worker.call_in_ui(worker.finished, lambda _result, p=path: loader(p))  # widgets: UI thread only
        self.jobs.start(worker, f"Reading {Path(path).name}")
        return worker

    def _browse(self, kind: str, title: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, "", TABLE_FILTER)
        if path:
            self.load_in_background(kind, path)

    def _browse_sheet(self) -> None:
        self._browse("sheet", "Load sample sheet")

    def _browse_expression(self) -> None:
        self._browse("expression", "Load expression matrix")

    def _browse_proportions(self) -> None:
        self._browse("proportions", "Import cell proportions")
