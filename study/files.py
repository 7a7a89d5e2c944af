"""The one way FastMix Studio writes a file: atomically, durably, with normal permissions.

A temporary file in the target's folder is written, flushed to disk (fsync), given the mode a
new file gets under the user's umask (0644 under the usual 022; ``mkstemp`` alone gives 0600)
and renamed onto the target; then the folder is synced so the rename survives a power cut. If
anything fails before the rename, the old file is untouched and the temporary file is gone.

The engine and gating libraries write plainly to the path they are given; the application
(command lines, GUI, export bundle, demo) passes them the temporary path from here.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["atomic_path", "write_text", "write_bytes", "write_json", "file_mode"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


def file_mode() -> int:
    """Permission bits a new file gets here (``0o666`` minus the process umask at start-up)."""
    return 0o666 & ~_UMASK


def _fsync(path: Path, *, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # a folder cannot be opened on Windows; its rename is durable there anyway
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); it replaces ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
        _fsync(path.parent, directory=True)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text with ``\\n`` line ends, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path: str | os.PathLike, data: Any, *, default: Callable[[Any], Any] | None = None) -> Path:
    """Write indented UTF-8 JSON (non-ASCII kept as is), atomically."""
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=default) + "\n")
