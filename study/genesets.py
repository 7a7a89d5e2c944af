"""Gene-set libraries for enrichment: the bundled GO libraries (``resources/genesets``, built by
``resources/genesets/build.py`` from Debian's Bioconductor annotation packages) or a user's
``.gmt`` file, with the name and version that go into the run report."""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

from engine.enrichment import read_gmt
from engine.errors import InputError

__all__ = ["BUNDLED", "GeneSetLibrary", "load_library", "resource_dir"]

BUNDLED = {"go-bp": "go_bp.gmt.gz", "go-mf": "go_mf.gmt.gz", "go-cc": "go_cc.gmt.gz"}


def resource_dir() -> Path:
    """``resources/genesets`` beside the packages (also inside the standalone bundle)."""
    return Path(__file__).resolve().parents[1] / "resources" / "genesets"


@dataclass(frozen=True)
class GeneSetLibrary:
    """Named gene sets plus where they come from (``version``: the file's ``#`` header lines)."""

    name: str
    version: str
    sets: dict


def _header(path: Path) -> str:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    lines = []
    with opener(path, "rt", encoding="utf-8-sig") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            lines.append(line[1:].strip())
    return "; ".join(lines)


def load_library(spec: str | os.PathLike) -> GeneSetLibrary:
    """``go-bp``, ``go-mf``, ``go-cc`` (bundled) or the path of a ``.gmt``/``.gmt.gz`` file."""
    key = str(spec).strip().lower()
    if key in BUNDLED:
        path = resource_dir() / BUNDLED[key]
        if not path.is_file():
            raise InputError("the bundled gene-set library is missing", file=str(path),
                             hint="reinstall FastMix Studio, or give a .gmt file")
        return GeneSetLibrary(key, _header(path), read_gmt(path))
    path = Path(spec)
    return GeneSetLibrary(path.name, _header(path) if path.is_file() else "", read_gmt(path))
