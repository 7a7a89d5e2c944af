"""The main window: tabs in pipeline order (Gating, Study, Analysis, Results), menus, status bar.

The window owns one :class:`~gui.project_model.ProjectModel` (kept for the whole session: New and
Open replace its content, so tabs keep their connections) and one :class:`~gui.workers.JobRunner`
whose progress widget sits in the status bar. Heavy work (reading FCS files...) runs in workers.

File dialogs and questions go through small ``_ask_*`` methods, so tests (and scripts) can
replace them; with ``interactive=False`` no blocking question is ever asked.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QTabWidget, QWidget

from gui import dialogs
from gui import settings as st
from gui.project_model import SUFFIX, ProjectModel, pending_recovery
from gui.samples import fcs_files_to_add, read_missing_samples
from gui.workers import JobRunner, Worker, one_line_error

TAB_NAMES = ("Gating", "Study", "Analysis", "Results")
_TAB_CLASSES = (
    ("Gating", "gui.gating_tab", "GatingTab"),
    ("Study", "gui.study_tab", "StudyTab"),
    ("Analysis", "gui.analysis_tab", "AnalysisTab"),
    ("Results", "gui.results_tab", "ResultsTab"),
)
PROJECT_FILTER = f"FastMix Studio project (*{SUFFIX})"
GATES_FILTER = ("Gating templates (*.xml *.wsp *.json);;Gating-ML or FlowJo 7-9 XML (*.xml);;FlowJo workspace (*.wsp);;"
                "Strategy JSON (*.json);;All files (*)")


FCS_FILTER = "Cytometry files (*.fcs *.FCS *.lmd *.LMD);;All files (*)"


class MainWindow(QMainWindow):
    """Top-level window; each tab lives in its own module under ``gui/``."""

    first_shown = Signal()
    tabs_ready = Signal()

    def __init__(self, project: ProjectModel | None = None, settings=None, *, interactive: bool = True,
                 lazy_tabs: bool = False) -> None:
        """``lazy_tabs``: paint the window first and build the workspaces right after (fast start)."""
        super().__init__()
        self.interactive = interactive
        self.settings = settings if settings is not None else st.make_settings()
        self.project = project if project is not None else ProjectModel()
        self.project.setParent(self)
        self.jobs = JobRunner(self)
        self.error_box: QMessageBox | None = None
        self.last_error: str | None = None
        self.tab_errors: dict[str, str] = {}
        self._shown_once = False

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._make_tabs(lazy_tabs)
        self.setCentralWidget(self.tabs)
        self.setAcceptDrops(True)  # FCS/LMD files or folders dropped on the window are added
        self._make_actions()
        self._make_menus()
        self.statusBar().addPermanentWidget(self.jobs.widget)

        self.jobs.job_failed.connect(self._on_job_failed)
        self.project.samples_loaded.connect(self._report_unreadable)
        self.project.dirty_changed.connect(self._update_title)
        self.project.path_changed.connect(self._update_title)
        self.project.path_changed.connect(self._update_recent_menu)
        self.project.undo_stack.cleanChanged.connect(self._update_title)

        self.resize(1280, 800)
        st.restore_geometry(self.settings, self)
        self.project.start_autosave(st.autosave_interval_ms(self.settings))
        self._update_title()
        self._update_recent_menu()

    # -- construction -------------------------------------------------------------------------
    def _make_tabs(self, lazy: bool) -> None:
        self.tab_widgets: dict[str, QWidget] = {}
        self._tabs_loaded = False
        if not lazy:
            self.load_tabs()
            return
        for name, _module, _cls in _TAB_CLASSES:  # painted at once; the real tabs follow
            widget = self._placeholder(f"Loading the {name} workspace…")
            self.tab_widgets[name] = widget
            self.tabs.addTab(widget, name)

    @staticmethod
    def _placeholder(text: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setMargin(24)
        label.setAlignment(Qt.AlignCenter)
        return label

    def load_tabs(self) -> None:
        """Build the four workspaces (imports their modules); emits ``tabs_ready`` once."""
        import importlib

        if self._tabs_loaded:
            return
        current = self.tabs.currentIndex()
        for i, (name, module, cls_name) in enumerate(_TAB_CLASSES):
            try:
                cls = getattr(importlib.import_module(module), cls_name)
            except (ImportError, AttributeError):
                widget: QWidget = self._placeholder(f"{name} workspace (not available in this build yet)")
            else:
                try:
                    widget = cls(self.project, self.jobs)
                except Exception as exc:  # a broken tab must not take the whole app down
                    self.tab_errors[name] = one_line_error(exc)
                    widget = self._placeholder(f"{name} workspace could not start: {self.tab_errors[name]}")
            old = self.tab_widgets.get(name)
            self.tab_widgets[name] = widget
            if old is None:
                self.tabs.addTab(widget, name)
            else:
                self.tabs.removeTab(i)
                self.tabs.insertTab(i, widget, name)
                old.deleteLater()
        if current >= 0:
            self.tabs.setCurrentIndex(current)
        self._tabs_loaded = True
        self.tabs_ready.emit()

    def _action(self, text: str, slot, shortcut=None, tip: str | None = None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
        act.triggered.connect(lambda checked=False: slot())
        return act

    def _make_actions(self) -> None:
        self.act_new = self._action("&New project", self.new_project, QKeySequence.New)
        self.act_open = self._action("&Open project…", self.open_project, QKeySequence.Open)
        self.act_save = self._action("&Save", self.save_project, QKeySequence.Save)
        self.act_save_as = self._action("Save &As…", self.save_project_as, QKeySequence.SaveAs)
        self.act_import_fcs = self._action("Import FCS &folder…", self.import_fcs_folder,
                                           tip="Add every .fcs and .lmd file of a folder to the project")
        self.act_add_fcs = self._action("&Add FCS files…", self.add_fcs_files,
                                        tip="Add chosen .fcs or .lmd files (or drop them on the window)")
        self.act_import_gates = self._action("Import &Gating-ML / FlowJo workspace…", self.import_gates,
                                             tip="Replace the gating strategy by one read from a file")
        self.act_export_gates = self._action("&Export Gating-ML…", self.export_gates,
                                             tip="Write the gating strategy as Gating-ML 2.0")
        self.act_quit = self._action("&Quit", self.close, QKeySequence.Quit)
        self.act_undo = self.project.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence.Undo)
        self.act_redo = self.project.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcut(QKeySequence.Redo)
        self.act_about = self._action("&About FastMix Studio", self.show_about)
        self.act_demo = self._action("Open &demo study", self.open_demo,
                                     tip="Simulated 24-sample study (generated on first use)")

    def _make_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.file_menu.addActions([self.act_new, self.act_open])
        self.recent_menu = self.file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._update_recent_menu)
        self.file_menu.addActions([self.act_save, self.act_save_as])
        self.file_menu.addSeparator()
        self.file_menu.addActions([self.act_add_fcs, self.act_import_fcs, self.act_import_gates, self.act_export_gates])
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.act_quit)
        self.edit_menu = bar.addMenu("&Edit")
        self.edit_menu.addActions([self.act_undo, self.act_redo])
        self.help_menu = bar.addMenu("&Help")
        self.help_menu.addActions([self.act_demo, self.act_about])

    # -- hooks (replaced in tests) ------------------------------------------------------------
    def _start_dir(self) -> str:
        d = self.project.project_dir
        return str(d) if d is not None else str(Path.home())

    def _ask_open_path(self, title: str, filter_: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, title, self._start_dir(), filter_)
        return path or None

    def _ask_save_path(self, title: str, filter_: str, suggested: str = "") -> str | None:
        start = str(Path(self._start_dir()) / suggested) if suggested else self._start_dir()
        path, _ = QFileDialog.getSaveFileName(self, title, start, filter_)
        return path or None

    def _ask_directory(self, title: str) -> str | None:
        path = QFileDialog.getExistingDirectory(self, title, self._start_dir())
        return path or None

    def _confirm_discard(self) -> bool:
        """True when it is fine to drop the current project (saved, or the user said so)."""
        if not self.project.dirty or not self.interactive:
            return True
        answer = dialogs.ask_discard(self, self.project.name)
        if answer == QMessageBox.Save:
            return self.save_project()
        return answer == QMessageBox.Discard

    # -- messages -----------------------------------------------------------------------------
    def show_error(self, message: str, details: str | None = None) -> QMessageBox:
        """Non-blocking error box with a one-line message; the user's work is kept."""
        self.last_error = message
        self.statusBar().showMessage(message, 10000)
        self.error_box = dialogs.show_error(self, message, details=details)
        return self.error_box

    def _on_job_failed(self, label: str, message: str) -> None:
        self.show_error(f"{label} failed: {message}")

    def show_about(self) -> dialogs.AboutDialog:
        self.about_dialog = dialogs.AboutDialog(self)
        self.about_dialog.open()
        return self.about_dialog

    def _update_title(self, *_args) -> None:
        star = "*" if self.project.dirty else ""
        self.setWindowTitle(f"{self.project.name}{star} — FastMix Studio")

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = st.recent_files(self.settings)
        for path in files:
            act = self.recent_menu.addAction(path)
            act.setData(path)
            act.triggered.connect(lambda checked=False, p=path: self.open_project(p))
        self.recent_menu.setEnabled(bool(files))

    # -- file actions -------------------------------------------------------------------------
    def new_project(self) -> bool:
        if not self._confirm_discard():
            return False
        self.jobs.cancel()
        self.project.discard_recovery()
        self.project.new()
        return True

    def open_project(self, path: str | os.PathLike | None = None) -> bool:
        """Open a project file (asks for one when ``path`` is None); errors open a dialog."""
        if not self._confirm_discard():
            return False
        if path is None:
            path = self._ask_open_path("Open project", PROJECT_FILTER)
            if path is None:
                return False
        try:
            # read first: a bad file leaves the current project untouched
            ProjectModel.load(path)
        except Exception as exc:
            self.show_error(one_line_error(exc))
            st.remove_recent_file(self.settings, path) if not Path(path).exists() else None
            self._update_recent_menu()
            return False
        self.jobs.cancel()
        self.project.discard_recovery()
        self.project.load_into(path)
        st.add_recent_file(self.settings, self.project.path)
        self._update_recent_menu()
        if getattr(self.project, "results_error", None):
            self.show_error(f"The saved results were not opened: {self.project.results_error}")
        self.offer_recovery()
        self.load_samples()
        return True

    def save_project(self) -> bool:
        if self.project.path is None:
            return self.save_project_as()
        return self._save(None)

    def save_project_as(self, path: str | os.PathLike | None = None) -> bool:
        if path is None:
            path = self._ask_save_path("Save project as", PROJECT_FILTER, f"{self.project.name}{SUFFIX}")
            if path is None:
                return False
        path = Path(path)
        if path.suffix.lower() != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        return self._save(path)

    def _save(self, path: Path | None) -> bool:
        try:
            saved = self.project.save(path)
        except Exception as exc:  # the previous file stays intact (atomic save)
            self.show_error(f"Could not save the project: {one_line_error(exc)}")
            return False
        st.add_recent_file(self.settings, saved)
        self._update_recent_menu()
        self.statusBar().showMessage(f"Saved {saved}", 5000)
        return True

    def open_demo(self, folder: str | os.PathLike | None = None) -> Worker:
        """Generate the demo study if needed (in a worker: ~2 s the first time), then open it."""
        from study.demo import ensure_demo_study

        worker = Worker(ensure_demo_study, folder)
        worker.finished.connect(self.open_project)
        return self.jobs.start(worker, "Preparing the demo study")

    # -- recovery -----------------------------------------------------------------------------
    def pending_recovery(self) -> Path | None:
        """Recovery file of the open project (or of an unsaved one) newer than its file, if any."""
        return pending_recovery(self.project.path)

    def offer_recovery(self, accept: bool | None = None) -> bool:
        """Offer autosaved work. ``accept`` answers without asking (tests/scripts).

        Interactive windows ask; non-interactive ones without an answer leave the file alone.
        Returns True when the autosaved content was restored.
        """
        rec = self.pending_recovery()
        if rec is None:
            return False
        if accept is None:
            if not self.interactive:
                return False
            accept = dialogs.ask_recovery(self, rec, self.project.path)
        if not accept:
            try:
                rec.unlink()
            except OSError:
                pass
            return False
        try:
            self.project.recover(rec)
        except Exception as exc:
            self.show_error(f"Could not restore the autosaved work: {one_line_error(exc)}")
            return False
        self.statusBar().showMessage("Restored autosaved changes (not saved yet)", 10000)
        self.load_samples()
        return True

    # -- FCS files ----------------------------------------------------------------------------
    def import_fcs_folder(self, folder: str | os.PathLike | None = None) -> list[str]:
        """Add the FCS/LMD files of a folder to the project and read them in a worker."""
        if folder is None:
            folder = self._ask_directory("Import FCS folder")
            if folder is None:
                return []
        return self.add_fcs_files([folder])

    def add_fcs_files(self, paths=None) -> list[str]:
        """Add FCS/LMD files (folders stand for their files); every file left out is listed with
        its reason. Files are read in a worker."""
        if paths is None:
            paths, _ = QFileDialog.getOpenFileNames(self, "Add FCS files", self._start_dir(), FCS_FILTER)
            if not paths:
                return []
        files, skipped = fcs_files_to_add(self.project, paths)  # also: already listed, sample name taken
        if skipped:
            listed = "\n".join(f"{name}: {why}" for name, why in skipped.items())
            self.show_error(f"{len(skipped)} file(s) left out: {next(iter(skipped))}: {next(iter(skipped.values()))}"
                            + (f" (and {len(skipped) - 1} more, see details)" if len(skipped) > 1 else ""), listed)
        elif not files:
            self.show_error("no FCS or LMD file among the files given")
        if not files:
            return []
        added = self.project.add_fcs_files(files)
        self.load_samples()
        return added

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Dropped FCS/LMD files or folders are added like "Add FCS files…"."""
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_fcs_files(paths)

    def load_samples(self) -> Worker | None:
        """Read the project's FCS files not loaded yet in a worker, once, whoever (this window or the
        Gating tab) asked first (see :mod:`gui.samples`)."""
        return read_missing_samples(self.project, self.jobs)

    def _report_unreadable(self, samples: dict) -> None:
        bad = {k: v for k, v in samples.items() if isinstance(v, str)}
        if bad:
            first = next(iter(bad.values()))
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            self.show_error(f"{len(bad)} FCS file(s) could not be read: {first}{more}")

    # -- gates --------------------------------------------------------------------------------
    def import_gates(self, path: str | os.PathLike | None = None) -> bool:
        """Replace the strategy by one read from any gating template (recognised by content, see gating.templates)."""
        if path is None:
            path = self._ask_open_path("Import gates", GATES_FILTER)
            if path is None:
                return False
        path = Path(path)
        try:
            from gating.templates import load_template, workspace_sample_for

            # a FlowJo workspace: take the gates of the sample whose FCS file is in the project
            strategy = load_template(path, workspace_sample_for(path, self.project.fcs_paths()))
            data = strategy.to_dict()
        except Exception as exc:
            self.show_error(one_line_error(exc) if path.name in str(exc) else f"{path.name}: {one_line_error(exc)}")
            return False
        self.project.strategy = strategy
        self.project.update_section("strategy", data, undoable=True, text=f"Import gates from {path.name}")
        self.statusBar().showMessage(f"Imported {len(strategy.gates)} gates from {path.name}", 5000)
        return True

    def export_gates(self, path: str | os.PathLike | None = None) -> bool:
        strategy = self.project.strategy
        if strategy is None or not getattr(strategy, "gates", None):
            self.show_error("There are no gates to export yet: draw or import a gating strategy first")
            return False
        if path is None:
            path = self._ask_save_path("Export Gating-ML", "Gating-ML (*.xml)", f"{self.project.name}-gates.xml")
            if path is None:
                return False
        try:
            from gating.gatingml import to_gatingml_string
            from study.files import write_text

            write_text(path, to_gatingml_string(strategy))
        except Exception as exc:
            self.show_error(f"Could not export the gates: {one_line_error(exc)}")
            return False
        self.statusBar().showMessage(f"Gates written to {path}", 5000)
        return True

    # -- Qt events ----------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            QTimer.singleShot(0, self.first_shown.emit)
            if not self._tabs_loaded:
                QTimer.singleShot(0, self.load_tabs)

    def closeEvent(self, event) -> None:
        if not self._confirm_discard():
            event.ignore()
            return
        st.save_geometry(self.settings, self)
        self.project.stop_autosave()
        self.jobs.shutdown()
        self.project.discard_recovery()  # clean shutdown: nothing to recover
        super().closeEvent(event)
