"""Gene-set libraries for enrichment: the bundled GO libraries (``resources/genesets``, built by
``resources/genesets/build.py`` from Debian's Bioconductor annotation packages) or a user's
``.gmt`` file, with the name and version that go into the run report."""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from engine.enrichment import ENRICHMENT_COLUMNS, enrichment_table
from engine.errors import InputError
from engine.gmt import GeneSets, read_gmt_sets
from engine.progress import ProgressCallback

__all__ = ["BUNDLED", "GeneSetLibrary", "load_library", "resource_dir", "gsea_rankings", "enrichment",
           "METHODS_NOTE"]

#: what the enrichment table holds, for the run report
METHODS_NOTE = ("ora: calls at fdr <= 0.05 among all tested genes (hypergeometric), BH across sets; "
                "gsea: preranked GSEA of the app's ranking statistic (blitzgsea, sets of 15-500 ranked genes), "
                "BH across sets; both per covariate and interaction term")

BUNDLED = {"go-bp": "go_bp.gmt.gz", "go-mf": "go_mf.gmt.gz", "go-cc": "go_cc.gmt.gz"}


def resource_dir() -> Path:
    """``resources/genesets`` beside the packages (also inside the standalone bundle)."""
    return Path(__file__).resolve().parents[1] / "resources" / "genesets"


@dataclass(frozen=True)
class GeneSetLibrary:
    """Named gene sets plus where they come from (``version``: the file's ``#`` header lines).

    ``table`` holds them as arrays (:class:`engine.gmt.GeneSets`), as enrichment uses them;
    ``sets`` as ``{name: set of genes}``, made on first use."""

    name: str
    version: str
    table: GeneSets

    @cached_property
    def sets(self) -> dict[str, set[str]]:
        return self.table.as_dict()


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
        return GeneSetLibrary(key, _header(path), read_gmt_sets(path))
    path = Path(spec)
    return GeneSetLibrary(path.name, _header(path) if path.is_file() else "", read_gmt_sets(path))


def gsea_rankings(results) -> dict:
    """The app's ranking statistic (:func:`study.export.rnk_scores`) per covariate and interaction term."""
    from study.export import rnk_scores

    return {t: rnk_scores(results, t) for t in results.terms if results.term_kinds.get(t) != "cell"}


def enrichment(results, sets: "GeneSets | dict", *, gsea: bool = True, permutations: int = 1000, seed: int = 0,
               progress: ProgressCallback | None = None) -> pd.DataFrame:
    """ORA of each covariate term's calls and (``gsea``) preranked GSEA of its ranking, in one table
    (:data:`engine.enrichment.ENRICHMENT_COLUMNS`; ``leading_edge`` ``;``-separated), ordered by
    term, method (ora, gsea) and p. ``progress`` is told per term; a cancel stops between terms."""
    from engine.gsea import gsea_table

    ora = enrichment_table(results, sets)
    parts = [ora]
    if gsea and permutations > 0:
        as_dict = sets.as_dict() if isinstance(sets, GeneSets) else sets
        g = gsea_table(gsea_rankings(results), as_dict, permutations=permutations, seed=seed, progress=progress)
        g["leading_edge"] = [";".join(e) for e in g["leading_edge"]]
        parts.append(g)
    out = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else ora
    order = {t: i for i, t in enumerate(results.terms)}
    out = out.assign(_t=out["term"].map(order), _m=(out["method"] == "gsea").astype(int))
    out = out.sort_values(["_t", "_m", "p", "gene_set"], kind="mergesort").drop(columns=["_t", "_m"])
    return out.reset_index(drop=True)[ENRICHMENT_COLUMNS]
