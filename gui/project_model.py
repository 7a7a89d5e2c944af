"""One QObject over the versioned JSON project file; every widget talks to it and listens to it.

The saved part is ``project.data``: a JSON-safe dict with one entry per section
(:data:`SECTIONS`). Widgets read a section with :meth:`ProjectModel.section` (a copy) and write
it back with :meth:`ProjectModel.update_section`, which emits ``changed(section)``, marks the
project dirty and, when asked, pushes an undoable command onto ``project.undo_stack``.

Runtime state is not saved: ``strategy`` (GatingStrategy), ``samples`` (name -> Sample or the
error string of a file that could not be read; :meth:`set_samples` emits ``samples_changed`` and
``samples_loaded(dict)``; :mod:`gui.samples` reads the files in a worker),
``proportions`` (DataFrame samples x populations;
assigning it emits ``proportions_changed``) and ``fit`` (fitted FastMix; assigning emits
``results_changed``).

Paths. Inside ``data`` file paths are stored RELATIVE to the project file (POSIX separators)
when the project has been saved, absolute before that. Use :meth:`resolve` to get a usable
``Path`` and :meth:`relative` to store one. Path fields are the entries of ``fcs_files`` and any
string value whose key is ``path`` or ends with ``_path``, ``_dir``, ``_file`` or ``_folder``
(in any section, at any depth); Save As rebases them to the new location.

Saves are atomic (temp file in the same folder, fsync, ``os.replace``). Autosave writes a
recovery file beside the project (``<name>.fmsproj.recovery``) or, for an unsaved project, in
the per-user data folder; :func:`pending_recovery` finds one that is newer than its project.
"""
from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from engine.errors import InputError
from study.files import write_json

FORMAT = "fastmix-studio-project"
VERSION = 1
SUFFIX = ".fmsproj"
RECOVERY_SUFFIX = ".recovery"
SECTIONS: tuple[str, ...] = (
    "fcs_files", "compensation", "transforms", "strategy", "dafi", "study", "analysis", "results",
)
_PATH_KEY_ENDINGS = ("_path", "_dir", "_file", "_folder")
DEFAULT_AUTOSAVE_MS = 3 * 60 * 1000

__all__ = [
    "ProjectModel", "FORMAT", "VERSION", "SECTIONS", "SUFFIX", "empty_project", "migrate",
    "write_json_atomic", "recovery_path_for", "pending_recovery",
]


def empty_project() -> dict:
    """A new, empty project (current format)."""
    data: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    for name in SECTIONS:
        data[name] = [] if name == "fcs_files" else {}
    return data


def migrate(data: Any, *, file: str | None = None) -> dict:
    """Check the header of a loaded project and bring older versions up to date.

    Version 0 (early files without a ``version``) only lacked some sections. A newer version
    than this program knows is refused with a clear message rather than half-read.
    """
    if not isinstance(data, dict):
        raise InputError("not a FastMix Studio project (the file is not a JSON object)", file=file)
    fmt = data.get("format")
    if fmt != FORMAT:
        raise InputError(f"not a FastMix Studio project (format is {fmt!r}, expected {FORMAT!r})", file=file)
    version = data.get("version", 0)
    if not isinstance(version, int) or version < 0:
        raise InputError(f"invalid project version {version!r}", file=file)
    if version > VERSION:
        raise InputError(
            f"project version {version} was written by a newer FastMix Studio (this one reads up to {VERSION})",
            file=file, hint="update FastMix Studio to open it",
        )
    out = empty_project()
    for key, value in data.items():
        if key in ("format", "version"):
            continue
        out[key] = value
    if not isinstance(out["fcs_files"], list):
        raise InputError("section 'fcs_files' must be a list of file paths", file=file)
    for name in SECTIONS[1:]:
        if not isinstance(out[name], dict):
            raise InputError(f"section '{name}' must be a JSON object", file=file)
    out["version"] = VERSION
    return out


def _json_default(obj: Any) -> Any:
    """Make numpy scalars/arrays and paths JSON-safe (never pickle)."""
    if isinstance(obj, Path):
        return obj.as_posix()
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is always there
        np = None
    if np is not None:
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return sorted(obj) if isinstance(obj, (set, frozenset)) else list(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} in the project file")


def write_json_atomic(data: Any, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented JSON through :func:`study.files.write_json` (temp file, fsync,
    rename, normal permissions): if anything fails, the previous file is untouched."""
    return write_json(path, data, default=_json_default)


def _unsaved_recovery_path() -> Path:
    from study.demo import user_data_dir

    return user_data_dir() / "recovery" / f"untitled{SUFFIX}{RECOVERY_SUFFIX}"


def recovery_path_for(project_path: str | os.PathLike | None) -> Path:
    """The autosave file of a project (beside it), or of an unsaved project (per-user data dir)."""
    if project_path is None:
        return _unsaved_recovery_path()
    p = Path(project_path)
    return p.with_name(p.name + RECOVERY_SUFFIX)


def pending_recovery(project_path: str | os.PathLike | None = None) -> Path | None:
    """The recovery file to offer, if one exists and is newer than the project file."""
    rec = recovery_path_for(project_path)
    if not rec.is_file():
        return None
    if project_path is not None:
        proj = Path(project_path)
        if proj.is_file() and proj.stat().st_mtime_ns >= rec.stat().st_mtime_ns:
            return None
    return rec


def _is_path_key(key: str) -> bool:
    return key == "path" or key.endswith(_PATH_KEY_ENDINGS)


def _map_paths(data: dict, fn) -> dict:
    """Copy of ``data`` with ``fn`` applied to every path field (see module docstring)."""

    def walk(value: Any, key: str | None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        if isinstance(value, str) and key is not None and _is_path_key(key) and value:
            return fn(value)
        return value

    out = {}
    for name, value in data.items():
        if name == "fcs_files" and isinstance(value, list):
            out[name] = [fn(v) if isinstance(v, str) and v else v for v in value]
        elif name in ("format", "version"):
            out[name] = value
        else:
            out[name] = walk(value, None)
    return out


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
        self.data: dict = migrate(data) if data is not None else empty_project()
        self._path: Path | None = Path(path).resolve() if path is not None else None
        self._dirty = False
        self.undo_stack = QUndoStack(self)
        self.strategy = None
        self.samples: dict[str, Any] = {}
        self._proportions = None
        self._fit = None
        self.recovered_from: Path | None = None
        # FCS reading (gui.samples): the running reader, names being read, replaced-project guard
        self.sample_reader = None
        self.reading: set[str] = set()
        self.read_again = False
        self.generation = 0
        self._autosave_timer = QTimer(self)
        self._autosave_timer.timeout.connect(self.autosave)
        self._build_strategy()

    # -- runtime state ------------------------------------------------------------------------
    @property
    def proportions(self):
        """Cell proportions (DataFrame samples x populations) or None; setting emits ``proportions_changed``."""
        return self._proportions

    @proportions.setter
    def proportions(self, value) -> None:
        self._proportions = value
        self.proportions_changed.emit()

    @property
    def fit(self):
        """The last fitted FastMix or None; setting emits ``results_changed``."""
        return self._fit

    @fit.setter
    def fit(self, value) -> None:
        self._fit = value
        self.results_changed.emit()

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
        self._check_name(name)
        return copy.deepcopy(self.data[name])

    def update_section(self, name: str, value: Any, *, undoable: bool = False, text: str | None = None) -> None:
        """Replace a section; emits ``changed(name)`` and marks the project dirty.

        With ``undoable=True`` the change goes onto ``undo_stack`` (``text`` is the Edit-menu
        label, e.g. "Move gate Lymphocytes"). Undoing the ``strategy`` section also rebuilds
        ``project.strategy``.
        """
        self._check_name(name)
        value = copy.deepcopy(value)
        json.dumps(value, default=_json_default)  # refuse what cannot be saved, now, not at save time
        if undoable:
            old = copy.deepcopy(self.data[name])
            self.undo_stack.push(_SectionCommand(self, name, old, value, text or f"Change {name}"))
        else:
            self._set_section(name, value, rebuild=False)

    def _set_section(self, name: str, value: Any, *, rebuild: bool) -> None:
        self.data[name] = copy.deepcopy(value)
        if rebuild and name == "strategy":
            self._build_strategy()
        self.set_dirty(True)
        self.changed.emit(name)

    @staticmethod
    def _check_name(name: str) -> None:
        if name not in SECTIONS:
            raise KeyError(f"unknown project section {name!r}; sections are {', '.join(SECTIONS)}")

    # -- paths --------------------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        """The project file, or None while unsaved."""
        return self._path

    @property
    def project_dir(self) -> Path | None:
        """Folder that relative paths in ``data`` are relative to (None while unsaved)."""
        return self._path.parent if self._path is not None else None

    @property
    def name(self) -> str:
        return self._path.stem if self._path is not None else "Untitled"

    def resolve(self, stored: str | os.PathLike) -> Path:
        """A stored (relative or absolute) path as an absolute ``Path``."""
        p = Path(stored)
        if p.is_absolute() or self.project_dir is None:
            return p
        return (self.project_dir / p).resolve()

    def relative(self, path: str | os.PathLike) -> str:
        """The form to store: relative to the project folder when possible, POSIX separators."""
        p = Path(path)
        base = self.project_dir
        if base is None:
            return p.resolve().as_posix() if not p.is_absolute() else p.as_posix()
        if not p.is_absolute():
            p = (base / p)
        try:
            return Path(os.path.relpath(p.resolve(), base)).as_posix()
        except ValueError:  # other drive on Windows
            return p.resolve().as_posix()

    def fcs_paths(self) -> list[Path]:
        """Absolute paths of the project's FCS files, in order."""
        return [self.resolve(p) for p in self.data["fcs_files"]]

    def add_fcs_files(self, paths) -> list[str]:
        """Append FCS files (skipping ones already listed); returns the stored forms added."""
        have = {self.resolve(p) for p in self.data["fcs_files"]}
        added = []
        for p in paths:
            if Path(p).resolve() in have:
                continue
            have.add(Path(p).resolve())
            added.append(self.relative(p))
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
        """``data`` with paths made relative to ``target``'s folder (default: the current file)."""
        data = copy.deepcopy(self.data)
        if target is None:
            return data
        new_dir = target.resolve().parent

        def rebase(stored: str) -> str:
            p = self.resolve(stored)
            if not p.is_absolute():
                p = p.resolve()
            try:
                return Path(os.path.relpath(p, new_dir)).as_posix()
            except ValueError:
                return p.as_posix()

        return _map_paths(data, rebase)

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the project atomically to ``path`` (Save As) or to its current file."""
        target = Path(path).resolve() if path is not None else self._path
        if target is None:
            raise ValueError("the project has no file yet; give a path (Save As)")
        data = self.to_json_dict(target)
        write_json_atomic(data, target)
        old_path = self._path
        moved = target != old_path
        self.data = data
        self._path = target
        self.set_dirty(False)
        self.undo_stack.setClean()
        for rec in {recovery_path_for(old_path), recovery_path_for(target)}:
            try:
                rec.unlink()
            except OSError:
                pass
        if moved:
            self.path_changed.emit()
        self.saved.emit(str(target))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike, parent: QObject | None = None) -> "ProjectModel":
        """Open a project file; a bad or newer file raises ``InputError`` naming it."""
        path = Path(path).resolve()
        data = _read_json(path)
        return cls(parent, data=migrate(data, file=path.name), path=path)

    def load_into(self, path: str | os.PathLike) -> None:
        """Replace this model's content with a project file (keeps signal connections)."""
        path = Path(path).resolve()
        data = migrate(_read_json(path), file=path.name)
        self._replace(data, path)

    def new(self) -> None:
        """Reset to an empty, unsaved project (keeps signal connections)."""
        self._replace(empty_project(), None)

    def _replace(self, data: dict, path: Path | None, *, dirty: bool = False) -> None:
        self.data = data
        self._path = path
        self.samples = {}
        self.generation += 1  # results of readers started for the old content are dropped
        self.sample_reader = None
        self.reading = set()
        self.read_again = False
        self._proportions = None
        self._fit = None
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
        return recovery_path_for(self._path)

    def start_autosave(self, interval_ms: int = DEFAULT_AUTOSAVE_MS) -> None:
        """Autosave every ``interval_ms`` while there are unsaved changes."""
        self._autosave_timer.start(int(interval_ms))

    def stop_autosave(self) -> None:
        self._autosave_timer.stop()

    def autosave(self) -> Path | None:
        """Write the recovery file if there are unsaved changes; returns its path (or None)."""
        if not self._dirty:
            return None
        rec = self.recovery_path()
        data = copy.deepcopy(self.data)  # paths stay relative to the project (same folder)
        data["recovery"] = {
            "project": self._path.as_posix() if self._path is not None else None,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        try:
            write_json_atomic(data, rec)
        except OSError:
            return None  # autosave must never disturb the user; the next tick retries
        return rec

    def discard_recovery(self) -> None:
        """Delete this project's recovery file (clean shutdown, or recovery declined)."""
        try:
            self.recovery_path().unlink()
        except OSError:
            pass

    def pending_recovery(self) -> Path | None:
        """A recovery file for this project that is newer than the saved file, if any."""
        return pending_recovery(self._path)

    def recover(self, recovery_file: str | os.PathLike | None = None) -> None:
        """Load the autosaved content (unsaved, dirty) in place of the current content."""
        rec = Path(recovery_file) if recovery_file is not None else self.recovery_path()
        raw = _read_json(rec)
        info = raw.pop("recovery", {}) if isinstance(raw, dict) else {}
        data = migrate(raw, file=rec.name)
        project = info.get("project") if isinstance(info, dict) else None
        path = Path(project) if project else self._path
        self._replace(data, path, dirty=True)
        self.recovered_from = rec


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", file=str(path)) from None
    if not text.strip():
        raise InputError("the project file is empty", file=path.name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", file=path.name) from None
