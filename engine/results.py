"""FastMix results with labels: tidy per-gene table, fixed effects, covariance, summary."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

COLUMNS = ("gene", "term", "coefficient", "random_effect", "quasi_p", "quasi_fdr",
           "ols_p", "ols_fdr", "perm_p", "perm_fdr", "attribution", "fdr", "rank")

COLUMN_DESCRIPTIONS = {
    "gene": "gene identifier (row of the expression matrix)",
    "term": "design term: cell type, covariate, or cell type x covariate interaction",
    "coefficient": "gene-specific coefficient = fixed effect + random effect (EBLUP)",
    "random_effect": "EBLUP: how far this gene's effect is from the transcriptome-wide effect",
    "quasi_p": "Is this gene's effect unusual compared with most genes? (competitive "
               "outlier test on the whitened EBLUP; ranks candidate cell type-specific DEGs)",
    "quasi_fdr": "Benjamini-Hochberg adjustment of quasi_p within the term",
    "ols_p": "Is this gene's effect different from zero? (classical per-gene OLS t-test, "
             "df = samples - terms)",
    "ols_fdr": "Benjamini-Hochberg adjustment of ols_p within the term",
    "perm_p": "Does the gene respond to this term's covariate at all? Permutation p-value: how often "
              "permuted labels (subjects kept together) give an association at least this strong, pooled "
              "over genes; the same for the covariate's main and cell type terms",
    "perm_fdr": "Benjamini-Hochberg adjustment of perm_p (SAM-style FDR of the association)",
    "attribution": "probability that the gene's association with the covariate acts through this term "
                   "(one cell type, or all alike for the main term)",
    "fdr": "the FDR behind the app's calls and rankings: perm_fdr + (1 - attribution) for covariate "
           "terms; the moderated quasi-FDR for cell type terms (the run report names the method)",
    "rank": "rank of the gene within the term by fdr, ties broken by the calibrated statistic "
            "(1 = strongest evidence)",
}


@dataclass(frozen=True)
class FastMixResults:
    """Labelled results of a FastMix fit (all arrays float64; genes x terms frames)."""

    terms: tuple[str, ...]
    term_kinds: dict
    coef: pd.DataFrame
    random_effects: pd.DataFrame
    quasi_p: pd.DataFrame
    quasi_fdr: pd.DataFrame
    ols_p: pd.DataFrame
    ols_fdr: pd.DataFrame
    fixed_effects: pd.DataFrame  # indexed by term: estimate, std_error, t, df, p_value, p_adj
    covariance: pd.DataFrame
    parameters: dict
    informative_terms: list
    kept_genes: int
    sigma2: float
    overall_stat: pd.Series
    overall_p: pd.Series
    notices: tuple[str, ...] = ()
    mod_p: pd.DataFrame | None = None
    mod_fdr: pd.DataFrame | None = None
    perm_p: pd.DataFrame | None = None
    perm_fdr: pd.DataFrame | None = None
    fdr: pd.DataFrame | None = None
    score: pd.DataFrame | None = None
    attribution: pd.DataFrame | None = None
    fdr_methods: dict = field(default_factory=dict)
    calibration: object = None
    column_descriptions: dict = field(default_factory=lambda: dict(COLUMN_DESCRIPTIONS))

    @property
    def genes(self) -> tuple[str, ...]:
        """Gene identifiers in input order."""
        return tuple(self.coef.index)

    def ranking(self, term: str) -> np.ndarray:
        """Gene positions of ``term`` from strongest to weakest: by ``fdr``, ties broken
        by the larger ranking score (the calibrated statistic or -log10 p)."""
        if self.fdr is None:
            return np.argsort(self.quasi_p[term].to_numpy(), kind="stable")
        return np.lexsort((-self.score[term].to_numpy(), self.fdr[term].to_numpy()))

    def genes_at(self, positions) -> pd.Index:
        """Gene identifiers at the given row positions."""
        return self.coef.index[np.asarray(positions)]

    def calls(self, term: str, fdr: float = 0.05) -> int:
        """Number of genes of ``term`` called at the app's ``fdr`` threshold."""
        col = self.fdr if self.fdr is not None else self.quasi_fdr
        return int((col[term].to_numpy() <= fdr).sum())

    def to_frame(self, term: str | None = None) -> pd.DataFrame:
        """Long tidy table (columns ``COLUMNS``), sorted by term then rank (1 = strongest)."""
        terms = list(self.terms) if term is None else [term]
        for t in terms:
            if t not in self.terms:
                raise KeyError(f"unknown term '{t}' (terms: {', '.join(self.terms)})")
        genes = np.asarray(self.coef.index, dtype=object)
        m = genes.size
        nan = np.full(m, np.nan)
        parts = []
        for t in terms:  # loop over terms, vectorised over genes
            order = self.ranking(t)
            rank = np.empty(m, dtype=np.int64)
            rank[order] = np.arange(1, m + 1)
            col = lambda f: (f[t].to_numpy() if f is not None else nan)[order]  # noqa: E731
            parts.append(pd.DataFrame({
                "gene": genes[order], "term": t,
                "coefficient": col(self.coef), "random_effect": col(self.random_effects),
                "quasi_p": col(self.quasi_p), "quasi_fdr": col(self.quasi_fdr),
                "ols_p": col(self.ols_p), "ols_fdr": col(self.ols_fdr),
                "perm_p": col(self.perm_p), "perm_fdr": col(self.perm_fdr),
                "attribution": col(self.attribution),
                "fdr": col(self.fdr if self.fdr is not None else self.quasi_fdr),
                "rank": rank[order]}))
        out = pd.concat(parts, ignore_index=True)
        return out[list(COLUMNS)]

    def summary(self) -> str:
        """Plain-text overview: fixed effects, informative terms, sigma², hits per term."""
        lines = ["FastMix results", "=" * 60,
                 f"genes: {len(self.coef)}   terms: {len(self.terms)}   kept genes: {self.kept_genes}",
                 f"residual variance sigma2: {self.sigma2:.6g}",
                 "informative terms (trimmed): " + (", ".join(self.informative_terms) or "none"),
                 f"detector: {self.parameters.get('detector')}   trim: {self.parameters.get('trim')}",
                 "", "Fixed effects (transcriptome-wide):",
                 self.fixed_effects.to_string(float_format=lambda v: f"{v:.4g}"),
                 "", "Genes called at FDR <= 0.05 per term (method):"]
        for t in self.terms:
            how = self.fdr_methods.get(t, "quasi-FDR (BH, pooled variance)")
            lines.append(f"  {t}: {self.calls(t)}   ({how})")
        if self.notices:
            lines += ["", "Notices:"] + [f"  - {n}" for n in self.notices]
        return "\n".join(lines)
