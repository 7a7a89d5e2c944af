"""Which of the files a user picks or drops are cytometry data, and why the others are left out."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

__all__ = ["CYTOMETRY_SUFFIXES", "collect_fcs_files"]

CYTOMETRY_SUFFIXES = (".fcs", ".lmd")  # LMD: Beckman Coulter list mode, an FCS 2.0 + 3.0 file


def collect_fcs_files(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], dict[str, str]]:
    """FCS/LMD files among ``paths`` (a folder stands for the files directly in it), sorted by name
    within each folder, and a reason for every file left out (``{name: reason}``)."""
    found: list[Path] = []
    skipped: dict[str, str] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            try:
                members = sorted((q for q in p.iterdir() if q.is_file()), key=lambda q: q.name.lower())
            except OSError as exc:
                skipped[p.name] = f"cannot list the folder ({exc.strerror or exc})"
                continue
        elif p.is_file():
            members = [p]
        else:
            skipped[p.name] = "not found"
            continue
        for q in members:
            if q.suffix.lower() in CYTOMETRY_SUFFIXES:
                found.append(q)
            elif not q.name.startswith("."):
                skipped[q.name] = f"not an FCS or LMD file ({q.suffix or 'no extension'})"
    return list(dict.fromkeys(found)), skipped
