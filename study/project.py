"""The project file: a versioned JSON document of named sections, with no Qt in it.

A project (``*.fmsproj``) is ``{"format": FORMAT, "version": N, <section>: ...}`` with one entry
per :data:`SECTIONS`. Older versions are brought up to date by :data:`MIGRATIONS`, one step per
version, when the file is read; a newer version than this program knows is refused with a clear
message. ``tests/data/projects/`` keeps files as earlier versions wrote them.

Paths. File paths are stored RELATIVE to the project file (POSIX separators) once it is saved,
absolute before that. Path fields are the entries of ``fcs_files`` and any string value whose key
is ``path`` or ends with ``_path``, ``_dir``, ``_file`` or ``_folder`` (any section, any depth);
Save As rebases them to the new folder. Saves go through :mod:`study.files` (atomic).

The GUI's ``gui.project_model.ProjectModel`` wraps a :class:`ProjectDocument` and adds signals,
undo and autosave timing; the document works on its own (tests, scripts, headless checks).
"""
from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from engine.errors import InputError
from study.files import write_json

__all__ = [
    "FORMAT", "VERSION", "SUFFIX", "RECOVERY_SUFFIX", "SECTIONS", "MIGRATIONS", "ProjectDocument",
    "empty_project", "migrate", "read_project_file", "write_project_file", "recovery_path_for",
    "pending_recovery",
]

FORMAT = "fastmix-studio-project"
VERSION = 1
SUFFIX = ".fmsproj"
RECOVERY_SUFFIX = ".recovery"
SECTIONS: tuple[str, ...] = (
    "fcs_files", "compensation", "transforms", "strategy", "dafi", "study", "analysis", "results",
)
_PATH_KEY_ENDINGS = ("_path", "_dir", "_file", "_folder")


def empty_project() -> dict:
    """A new, empty project (current format)."""
    data: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    for name in SECTIONS:
        data[name] = [] if name == "fcs_files" else {}
    return data


def _from_v0(data: dict) -> dict:
    """Version 0 (early files without ``version``) lacked some sections: add them empty."""
    out = empty_project()
    out.update({k: v for k, v in data.items() if k not in ("format", "version")})
    out["version"] = 1
    return out


#: ``MIGRATIONS[n]`` turns a version-n project into version n + 1.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {0: _from_v0}


def migrate(data: Any, *, file: str | None = None) -> dict:
    """Check a loaded project's header, bring it to :data:`VERSION` and check its sections."""
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
    out = copy.deepcopy(data)
    while version < VERSION:
        out = MIGRATIONS[version](out)
        version = out["version"]
    for name in SECTIONS:
        out.setdefault(name, [] if name == "fcs_files" else {})
    if not isinstance(out["fcs_files"], list):
        raise InputError("section 'fcs_files' must be a list of file paths", file=file)
    for name in SECTIONS[1:]:
        if not isinstance(out[name], dict):
            raise InputError(f"section '{name}' must be a JSON object", file=file)
    return out


def json_default(obj: Any) -> Any:
    """Make numpy scalars/arrays, paths and sets JSON-safe (never pickle)."""
    import numpy as np

    if isinstance(obj, Path):
        return obj.as_posix()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} in the project file")


def write_project_file(data: Any, path: str | os.PathLike) -> Path:
    """Write project JSON atomically (:func:`study.files.write_json`); the old file survives a failure."""
    return write_json(path, data, default=json_default)


def read_project_file(path: Path) -> Any:
    """The JSON of a project or recovery file; problems raise ``InputError`` naming the file."""
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


def map_paths(data: dict, fn: Callable[[str], str]) -> dict:
    """Copy of ``data`` with ``fn`` applied to every path field (see the module docstring)."""

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


class ProjectDocument:
    """The saved part of a project: sections in ``data`` and the file they live in (``path``)."""

    def __init__(self, data: dict | None = None, path: str | os.PathLike | None = None) -> None:
        self.data: dict = migrate(data) if data is not None else empty_project()
        self.path: Path | None = Path(path).resolve() if path is not None else None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ProjectDocument":
        """Open a project file; a bad or newer file raises ``InputError`` naming it."""
        path = Path(path).resolve()
        return cls(migrate(read_project_file(path), file=path.name), path)

    # -- sections -----------------------------------------------------------------------------
    @staticmethod
    def check_name(name: str) -> None:
        if name not in SECTIONS:
            raise KeyError(f"unknown project section {name!r}; sections are {', '.join(SECTIONS)}")

    def section(self, name: str) -> Any:
        """A deep copy of one section (a dict; ``fcs_files`` is a list)."""
        self.check_name(name)
        return copy.deepcopy(self.data[name])

    def set_section(self, name: str, value: Any) -> None:
        """Replace a section; refuses, now rather than at save time, what JSON cannot hold."""
        self.check_name(name)
        json.dumps(value, default=json_default)
        self.data[name] = copy.deepcopy(value)

    # -- paths --------------------------------------------------------------------------------
    @property
    def project_dir(self) -> Path | None:
        """Folder that relative paths in ``data`` are relative to (None while unsaved)."""
        return self.path.parent if self.path is not None else None

    @property
    def name(self) -> str:
        return self.path.stem if self.path is not None else "Untitled"

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
            p = base / p
        try:
            return Path(os.path.relpath(p.resolve(), base)).as_posix()
        except ValueError:  # other drive on Windows
            return p.resolve().as_posix()

    def fcs_paths(self) -> list[Path]:
        """Absolute paths of the project's FCS files, in order."""
        return [self.resolve(p) for p in self.data["fcs_files"]]

    def new_fcs_entries(self, paths) -> list[str]:
        """Stored forms of ``paths`` not yet listed in ``fcs_files`` (first occurrence kept)."""
        have = {self.resolve(p) for p in self.data["fcs_files"]}
        added = []
        for p in paths:
            if Path(p).resolve() not in have:
                have.add(Path(p).resolve())
                added.append(self.relative(p))
        return added

    # -- save / recovery ----------------------------------------------------------------------
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

        return map_paths(data, rebase)

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write atomically to ``path`` (Save As, rebasing paths) or to the current file."""
        target = Path(path).resolve() if path is not None else self.path
        if target is None:
            raise ValueError("the project has no file yet; give a path (Save As)")
        data = self.to_json_dict(target)
        write_project_file(data, target)
        self.data, self.path = data, target
        return target

    def recovery_path(self) -> Path:
        return recovery_path_for(self.path)

    def write_recovery(self) -> Path:
        """Write the autosave file (paths stay relative to the project: same folder)."""
        data = copy.deepcopy(self.data)
        data["recovery"] = {"project": self.path.as_posix() if self.path is not None else None,
                            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        return write_project_file(data, self.recovery_path())

    @staticmethod
    def read_recovery(recovery_file: Path) -> tuple[dict, Path | None]:
        """The content of an autosave file and the project file it belongs to (if saved)."""
        raw = read_project_file(recovery_file)
        info = raw.pop("recovery", {}) if isinstance(raw, dict) else {}
        data = migrate(raw, file=recovery_file.name)
        project = info.get("project") if isinstance(info, dict) else None
        return data, (Path(project) if project else None)
