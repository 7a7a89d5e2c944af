"""Offline gene-set over-representation: hypergeometric test of a gene list against .gmt sets.

No network: gene sets come from a local ``.gmt`` file (e.g. downloaded once from MSigDB).
"""
from __future__ import annotations

import os
from typing import Iterable

import numpy as np
import pandas as pd

from engine.gmt import GeneSets, read_gmt_sets
from engine.hypergeom import hypergeom_sf
from engine.multitest import bh_adjust

__all__ = ["read_gmt", "over_representation", "enrichment_table", "SetIndex", "RESULT_COLUMNS", "ENRICHMENT_COLUMNS"]

ENRICHMENT_COLUMNS = ["term", "gene_set", "method", "set_size", "overlap", "p", "fdr", "nes", "leading_edge"]

RESULT_COLUMNS = ["gene_set", "size", "overlap", "expected", "odds_ratio", "p_value", "p_adj", "genes"]


def read_gmt(path: str | os.PathLike) -> dict[str, set[str]]:
    """Gene sets of a ``.gmt`` file (or ``.gmt.gz``) as ``{name: set of genes}``
    (:func:`engine.gmt.read_gmt_sets` gives them as arrays)."""
    return read_gmt_sets(path).as_dict()


class SetIndex:
    """Gene sets restricted to a background, as positions into it (laid end to end), built once
    for every gene list tested against them: a list's overlaps are then one ``np.add.reduceat``."""

    def __init__(self, background: Iterable[str], gene_sets: "GeneSets | dict[str, Iterable[str]]", *,
                 min_size: int = 1, max_size: int | None = None) -> None:
        self.universe = list(dict.fromkeys(str(g) for g in background))
        table = gene_sets if isinstance(gene_sets, GeneSets) else GeneSets.from_dict(gene_sets)
        self._lookup = pd.Index(self.universe, dtype=object)  # positions by gene, a C hash table
        position = self._lookup.get_indexer(table.genes)  # -1: not in the background
        member = position[table.codes]
        inside = member >= 0
        owner = np.repeat(np.arange(len(table), dtype=np.int64), table.sizes)[inside]
        size = np.bincount(owner, minlength=len(table))
        tested = (size >= max(min_size, 1)) & (size <= (max_size if max_size is not None else size.max(initial=0)))
        keep = tested[owner]  # empty sets are never tested
        self.names = [n for n, t in zip(table.names, tested.tolist()) if t]
        self.sizes = size[tested].astype(np.int64)
        self.members = member[inside][keep]
        self.starts = np.concatenate(([0], np.cumsum(self.sizes)[:-1])).astype(np.int64)

    def test(self, genes: Iterable[str]) -> pd.DataFrame:
        """Over-representation of ``genes`` (those outside the background are ignored): :data:`RESULT_COLUMNS`."""
        if not self.names:
            return pd.DataFrame({c: pd.Series(dtype=object if c in ("gene_set", "genes") else np.float64)
                                 for c in RESULT_COLUMNS})
        position = self._lookup.get_indexer(pd.Index({str(x) for x in genes}, dtype=object))
        hit = np.zeros(len(self.universe), dtype=bool)
        hit[position[position >= 0]] = True
        in_list = hit[self.members]
        k = np.add.reduceat(in_list.astype(np.int64), self.starts) if self.members.size else np.zeros(0, np.int64)
        N, n, K = len(self.universe), int(hit.sum()), self.sizes
        p = hypergeom_sf(k, N, K, n)
        expected = n * K / N if N else np.zeros(len(K))
        num = k * (N - K - n + k).astype(np.float64)
        den = ((K - k) * (n - k)).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, np.nan))
        found = self.members[in_list]  # the overlapping genes, set after set, in background order
        owner = np.repeat(np.arange(len(self.names)), self.sizes)[in_list]
        listed = [""] * len(self.names)
        for s, lo, hi in zip(*_runs(owner)):
            listed[s] = ",".join(sorted(self.universe[i] for i in found[lo:hi]))
        out = pd.DataFrame({"gene_set": pd.Series(self.names, dtype=object), "size": K, "overlap": k,
                            "expected": np.asarray(expected, dtype=np.float64), "odds_ratio": odds,
                            "p_value": p, "p_adj": bh_adjust(p), "genes": pd.Series(listed, dtype=object)})
        return out.sort_values(["p_value", "gene_set"], kind="mergesort").reset_index(drop=True)


def _runs(owner: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value, start, end) of each run of equal values in ``owner``."""
    if owner.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    cut = np.flatnonzero(np.diff(owner)) + 1
    starts = np.concatenate(([0], cut))
    return owner[starts], starts, np.concatenate((cut, [owner.size]))


def over_representation(genes: Iterable[str], background: Iterable[str], gene_sets: dict[str, Iterable[str]],
                        *, min_size: int = 1, max_size: int | None = None) -> pd.DataFrame:
    """Hypergeometric over-representation of ``genes`` in each set, within ``background``.

    With N background genes, n of them in the list, K in the set and k in both:
    ``p = P(X >= k)``, X ~ Hypergeom(N, K, n) (:func:`engine.hypergeom.hypergeom_sf`, equal to
    ``scipy.stats.hypergeom.sf``); ``expected = n K / N``; ``odds_ratio`` is the sample odds ratio
    k(N-K-n+k) / ((K-k)(n-k)) (inf when a cell is 0); ``p_adj`` is Benjamini-Hochberg over the
    tested sets. Genes and sets are restricted to the background; sets with fewer than
    ``min_size`` (or more than ``max_size``) background genes are not tested. Sorted by p-value.
    """
    return SetIndex(background, gene_sets, min_size=min_size, max_size=max_size).test(genes)


def enrichment_table(results, gene_sets: "GeneSets | dict[str, Iterable[str]]", *, fdr: float = 0.05, min_size: int = 10,
                     max_size: int | None = 500) -> pd.DataFrame:
    """Over-representation (``method`` "ora") of each covariate and interaction term's calls at
    ``fdr`` (the results' ``fdr``) among all tested genes, BH across sets within a term; one long
    table with :data:`ENRICHMENT_COLUMNS` (``nes`` is empty for ORA; ``leading_edge`` lists the
    called genes in the set, ``;``-separated). Terms without calls give no rows."""
    index = None  # built at the first term with calls, then shared
    rows = []
    for term in results.terms:
        if results.term_kinds.get(term) == "cell":
            continue
        called = results.fdr[term] if results.fdr is not None else results.quasi_fdr[term]
        genes = [str(g) for g in called.index[called.to_numpy(dtype=float) <= fdr]]
        if not genes:
            continue
        index = index or SetIndex(results.genes, gene_sets, min_size=min_size, max_size=max_size)
        ora = index.test(genes)
        rows.append(pd.DataFrame({"term": term, "gene_set": ora["gene_set"], "method": "ora",
                                  "set_size": ora["size"], "overlap": ora["overlap"], "p": ora["p_value"],
                                  "fdr": ora["p_adj"], "nes": np.nan,
                                  "leading_edge": ora["genes"].str.replace(",", ";")}))
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("term", "gene_set", "method", "leading_edge")
                                          else np.float64) for c in ENRICHMENT_COLUMNS})
    return pd.concat(rows, ignore_index=True)[ENRICHMENT_COLUMNS]
