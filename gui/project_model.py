"""The open project as one QObject: every widget talks to it and listens to it.

The saved part is a :class:`study.project.ProjectDocument` (``project.doc``; its sections are
``project.data``). Widgets read a section with :meth:`ProjectModel.section` (a copy) and write it
back with :meth:`ProjectModel.update_section`, which emits ``changed(section)``, marks the project
dirty and, when asked, pushes an undoable command onto ``project.undo_stack``. File format,
versions, paths, atomic saves and recovery files are the document's (see :mod:`study.project`);
this class adds the signals, undo and the autosave timer.

Runtime state is not saved: ``strategy`` (GatingStrategy), ``samples`` (name -> Sample or the
error string of a file that could not be read; :meth:`set_samples` emits ``samples_changed`` and
``samples_loaded(dict)``; :mod:`gui.samples` reads the files in a worker), ``proportions``
(DataFrame samples x populations; assigning emits ``proportions_changed``) and ``fit`` (fitted
FastMix; assigning emits ``results_changed``).
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from study.project import (
    SECTIONS,
    SUFFIX,
    ProjectDocument,
    empty_project,
    json_default,
    pending_recovery,
    recovery_path_for,
)

DEFAULT_AUTOSAVE_MS = 3 * 60 * 1000

__all__ = ["ProjectModel", "SECTIONS", "SUFFIX", "pending_recovery"]


class _SectionCommand(QUndoCommand):
    """Undoable replacement of one section."""

    def __init__(self, model: "ProjectModel", name: str, old: Any, new: Any, text: str) -> None:
        super().__init__(text)
        self.model, self.name, self.old, self.new = model, name, old, new
        self._first = True

    def redo(self) -> None:
        self.model._set_section(self.name, self.new, rebuild=not self._first)
        self._first = False

    def undo(self) -> None:
        self.model._set_section(self.name, self.old, rebuild=True)


class _Announced:
    """A runtime attribute whose every assignment emits the named signal of its owner."""

    def __init__(self, signal: str) -> None:
        self.signal = signal

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else getattr(obj, self.slot)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj, self.slot, value)
        getattr(obj, self.signal).emit()


class ProjectModel(QObject):
    """The open project: saved sections in ``data`` plus runtime state (see module docstring)."""

    changed = Signal(str)
    proportions_changed = Signal()
    results_changed = Signal()
    path_changed = Signal()
    samples_changed = Signal()
    samples_loaded = Signal(object)  # dict name -> Sample | error text, just read
    dirty_changed = Signal(bool)
    saved = Signal(str)

    def __init__(self, parent: QObject | None = None, *, data: dict | None = None,
                 path: str | os.PathLike | None = None) -> None:
        super().__init__(parent)
        self.doc = ProjectDocument(data, path)
        self._dirty = False
        self.undo_stack = QUndoStack(self)
        self.strategy = None
        self.samples: dict[str, Any] = {}
        self._proportions = None
        self._fit = None
        self._restore_results()  # results saved with the project reopen with it
        self.recovered_from: Path | None = None
        # FCS reading (gui.samples): the running reader, names being read, replaced-project guard
        self.sample_reader = None
        self.reading: set[str] = set()
        self.read_again = False
        self.generation = 0
        self._autosave_timer = QTimer(self)
        self._autosave_timer.timeout.connect(self.autosave)
        self._build_strategy()

    @property
    def data(self) -> dict:
        """The saved sections (the document's ``data``)."""
        return self.doc.data

    # -- runtime state ------------------------------------------------------------------------
    #: Cell proportions (DataFrame samples x populations) or None.
    proportions = _Announced("proportions_changed")
    #: The last fitted FastMix or None.
    fit = _Announced("results_changed")

    def set_samples(self, samples: dict) -> None:
        """Merge loaded samples (name -> Sample or error text); emits ``samples_changed``."""
        self.samples.update(samples)
        self.samples_changed.emit()
        self.samples_loaded.emit(dict(samples))

    def _build_strategy(self) -> None:
        """Rebuild the runtime GatingStrategy from the ``strategy`` section (None if empty)."""
        d = self.data.get("strategy") or {}
        if not d:
            self.strategy = None
            return
        try:
            from gating.strategy import GatingStrategy
        except ImportError:
            self.strategy = None
            return
        self.strategy = GatingStrategy.from_dict(copy.deepcopy(d))

    # -- sections -----------------------------------------------------------------------------
    def section(self, name: str) -> Any:
        """A deep copy of one section (a dict; ``fcs_files`` is a list)."""
        return self.doc.section(name)

    def update_section(self, name: str, value: Any, *, undoable: bool = False, text: str | None = None) -> None:
        """Replace a section; emits ``changed(name)`` and marks the project dirty.

        With ``undoable=True`` the change goes onto ``undo_stack`` (``text`` is the Edit-menu
        label, e.g. "Move gate Lymphocytes"). Undoing the ``strategy`` section also rebuilds
        ``project.strategy``.
        """
        self.doc.check_name(name)
        value = copy.deepcopy(value)
        json.dumps(value, default=json_default)  # refuse what cannot be saved, now, not at save time
        if undoable:
            old = self.doc.section(name)
            self.undo_stack.push(_SectionCommand(self, name, old, value, text or f"Change {name}"))
        else:
            self._set_section(name, value, rebuild=False)

    def _set_section(self, name: str, value: Any, *, rebuild: bool) -> None:
        self.doc.set_section(name, value)
        if rebuild and name == "strategy":
            self._build_strategy()
        self.set_dirty(True)
        self.changed.emit(name)

    # -- paths (see study.project) ------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        """The project file, or None while unsaved."""
        return self.doc.path

    @property
    def project_dir(self) -> Path | None:
        return self.doc.project_dir

    @property
    def name(self) -> str:
        return self.doc.name

    def resolve(self, stored: str | os.PathLike) -> Path:
        return self.doc.resolve(stored)

    def relative(self, path: str | os.PathLike) -> str:
        return self.doc.relative(path)

    def fcs_paths(self) -> list[Path]:
        return self.doc.fcs_paths()

    def add_fcs_files(self, paths) -> list[str]:
        """Append FCS files (skipping ones already listed); returns the stored forms added."""
        added = self.doc.new_fcs_entries(paths)
        if added:
            self.update_section("fcs_files", self.data["fcs_files"] + added)
        return added

    # -- dirty state --------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        """True when there are unsaved changes."""
        return self._dirty

    def set_dirty(self, dirty: bool) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirty_changed.emit(dirty)

    # -- save / load --------------------------------------------------------------------------
    def to_json_dict(self, target: Path | None = None) -> dict:
        return self.doc.to_json_dict(target)

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the project atomically to ``path`` (Save As) or to its current file."""
        old_path = self.doc.path
        self._store_results(Path(path).resolve() if path is not None else self.doc.path)
        target = self.doc.save(path)
        self.set_dirty(False)
        self.undo_stack.setClean()
        for rec in {recovery_path_for(old_path), recovery_path_for(target)}:
            try:
                rec.unlink()
            except OSError:
                pass
        if target != old_path:
            self.path_changed.emit()
        self.saved.emit(str(target))
        return target

    def _store_results(self, target: Path | None) -> None:
        """Write the last fit's results beside ``target`` and record the file and its hash in the
        ``results`` section (the section keeps other keys; no results, no file)."""
        results = getattr(self._fit, "results_", None)
        if target is None or results is None:
            return
        from study.results_store import results_path_for, write_results

        file = results_path_for(target)
        section = {**self.doc.section("results"), "file": file.name, "sha256": write_results(results, file)}
        self.doc.set_section("results", section)

    def _restore_results(self) -> None:
        """Show the results saved with the project, if any (a problem is kept in ``results_error``)."""
        self.results_error = None
        saved = self.doc.section("results")
        if not saved.get("file") or self.doc.project_dir is None:
            return
        from study.errors import USER_ERRORS
        from study.results_store import SavedFit, read_results

        try:
            self._fit = SavedFit(read_results(self.doc.project_dir / saved["file"], saved.get("sha256")))
        except USER_ERRORS as exc:
            self.results_error = str(exc)

    @classmethod
    def load(cls, path: str | os.PathLike, parent: QObject | None = None) -> "ProjectModel":
        """Open a project file; a bad or newer file raises ``InputError`` naming it."""
        doc = ProjectDocument.load(path)
        return cls(parent, data=doc.data, path=doc.path)

    def load_into(self, path: str | os.PathLike) -> None:
        """Replace this model's content with a project file (keeps signal connections)."""
        doc = ProjectDocument.load(path)
        self._replace(doc.data, doc.path)

    def new(self) -> None:
        """Reset to an empty, unsaved project (keeps signal connections)."""
        self._replace(empty_project(), None)

    def _replace(self, data: dict, path: Path | None, *, dirty: bool = False) -> None:
        self.doc = ProjectDocument(data, path)
        self.samples = {}
        self.generation += 1  # results of readers started for the old content are dropped
        self.sample_reader = None
        self.reading = set()
        self.read_again = False
        self._proportions = None
        self._fit = None
        self._restore_results()
        self.recovered_from = None
        self._build_strategy()
        self.undo_stack.clear()
        self.set_dirty(dirty)
        self.path_changed.emit()
        for name in SECTIONS:
            self.changed.emit(name)
        self.proportions_changed.emit()
        self.results_changed.emit()

    # -- autosave / recovery ------------------------------------------------------------------
    def recovery_path(self) -> Path:
        return self.doc.recovery_path()

    def start_autosave(self, interval_ms: int = DEFAULT_AUTOSAVE_MS) -> None:
        """Autosave every ``interval_ms`` while there are unsaved changes."""
        self._autosave_timer.start(int(interval_ms))

    def stop_autosave(self) -> None:
        self._autosave_timer.stop()

    def autosave(self) -> Path | None:
        """Write the recovery file if there are unsaved changes; returns its path (or None)."""
        if not self._dirty:
            return None
        try:
            return self.doc.write_recovery()
        except OSError:
            return None  # autosave must never disturb the user; the next tick retries

    def discard_recovery(self) -> None:
        """Delete this project's recovery file (clean shutdown, or recovery declined)."""
        try:
            self.recovery_path().unlink()
        except OSError:
            pass

    def pending_recovery(self) -> Path | None:
        """A recovery file for this project that is newer than the saved file, if any."""
        return pending_recovery(self.doc.path)

    def recover(self, recovery_file: str | os.PathLike | None = None) -> None:
        """Load the autosaved content (unsaved, dirty) in place of the current content."""
        rec = Path(recovery_file) if recovery_file is not None else self.recovery_path()
        data, project = ProjectDocument.read_recovery(rec)
        self._replace(data, project or self.doc.path, dirty=True)
        self.recovered_from = rec

