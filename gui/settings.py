"""QSettings helpers: recent files, window geometry, autosave interval.

Everything goes through an injectable ``QSettings`` so tests never touch the user's home:
``make_settings(path)`` gives an INI file at ``path``; without a path, ``$FASTMIX_STUDIO_SETTINGS``
(an INI file) is used if set, else the platform's native store for organisation "FastMixStudio".
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION = "FastMixStudio"
APPLICATION = "FastMix Studio"
MAX_RECENT = 10

__all__ = ["make_settings", "recent_files", "add_recent_file", "remove_recent_file",
           "save_geometry", "restore_geometry", "autosave_interval_ms", "ORGANISATION", "APPLICATION"]


def make_settings(path: str | os.PathLike | None = None) -> QSettings:
    """The settings store: an INI file when ``path`` (or ``$FASTMIX_STUDIO_SETTINGS``) is given."""
    path = path or os.environ.get("FASTMIX_STUDIO_SETTINGS")
    if path:
        return QSettings(str(path), QSettings.IniFormat)
    return QSettings(QSettings.IniFormat, QSettings.UserScope, ORGANISATION, APPLICATION)


def _as_list(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def recent_files(settings: QSettings) -> list[str]:
    """Recently opened/saved projects, newest first, only those that still exist."""
    return [p for p in _as_list(settings.value("recent_files")) if Path(p).is_file()]


def add_recent_file(settings: QSettings, path: str | os.PathLike) -> list[str]:
    """Put ``path`` first in the recent list (no duplicates, at most ``MAX_RECENT``)."""
    p = str(Path(path).resolve())
    items = [p] + [q for q in _as_list(settings.value("recent_files")) if q != p]
    items = items[:MAX_RECENT]
    settings.setValue("recent_files", items)
    settings.sync()
    return items


def remove_recent_file(settings: QSettings, path: str | os.PathLike) -> None:
    p = str(Path(path).resolve())
    settings.setValue("recent_files", [q for q in _as_list(settings.value("recent_files")) if q != p])
    settings.sync()


def save_geometry(settings: QSettings, window) -> None:
    settings.setValue("window/geometry", window.saveGeometry())
    settings.setValue("window/state", window.saveState())
    settings.sync()


def restore_geometry(settings: QSettings, window) -> bool:
    """Restore size/position saved by :func:`save_geometry`; False when none was saved."""
    geom = settings.value("window/geometry")
    if not isinstance(geom, (QByteArray, bytes)) or not geom:
        return False
    ok = window.restoreGeometry(QByteArray(geom))
    state = settings.value("window/state")
    if isinstance(state, (QByteArray, bytes)) and state:
        window.restoreState(QByteArray(state))
    return bool(ok)


def autosave_interval_ms(settings: QSettings, default: int = 3 * 60 * 1000) -> int:
    try:
        return max(1000, int(settings.value("autosave_ms", default)))
    except (TypeError, ValueError):
        return default
