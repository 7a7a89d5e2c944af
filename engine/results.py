"""FastMix results with labels: tidy per-gene table, fixed effects, covariance, summary."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

COLUMNS = ("gene", "term", "coefficient", "random_effect", "quasi_p", "quasi_fdr",
           "ols_p", "ols_fdr", "rank")

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
    "rank": "rank of the gene within the term by quasi_p (1 = most unusual)",
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
    fixed_effects: pd.DataFrame
    covariance: pd.DataFrame
    parameters: dict
    informative_terms: list
    kept_genes: int
    sigma2: float
    overall_stat: pd.Series
    overall_p: pd.Series
    notices: tuple[str, ...] = ()
    column_descriptions: dict = field(default_factory=lambda: dict(COLUMN_DESCRIPTIONS))

    @property
    def genes(self) -> tuple[str, ...]:
        """Gene identifiers in input order."""
        return tuple(self.coef.index)

    def to_frame(self, term: str | None = None) -> pd.DataFrame:
        """Long tidy table ``gene, term, coefficient, random_effect, quasi_p, quasi_fdr,
        ols_p, ols_fdr, rank``; sorted by term then rank (1 = smallest quasi_p)."""
        terms = list(self.terms) if term is None else [term]
        for t in terms:
            if t not in self.terms:
                raise KeyError(f"unknown term '{t}' (terms: {', '.join(self.terms)})")
        genes = np.asarray(self.coef.index, dtype=object)
        parts = []
        for t in terms:  # loop over terms, vectorised over genes
            qp = self.quasi_p[t].to_numpy()
            order = np.argsort(qp, kind="stable")
            rank = np.empty(qp.size, dtype=np.int64)
            rank[order] = np.arange(1, qp.size + 1)
            parts.append(pd.DataFrame({
                "gene": genes[order], "term": t,
                "coefficient": self.coef[t].to_numpy()[order],
                "random_effect": self.random_effects[t].to_numpy()[order],
                "quasi_p": qp[order], "quasi_fdr": self.quasi_fdr[t].to_numpy()[order],
                "ols_p": self.ols_p[t].to_numpy()[order],
                "ols_fdr": self.ols_fdr[t].to_numpy()[order], "rank": rank[order]}))
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
                 self.fixed_effects.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
                 "", "Genes with quasi_fdr < 0.05 per term:"]
        for t in self.terms:
            lines.append(f"  {t}: {int((self.quasi_fdr[t] < 0.05).sum())}")
        if self.notices:
            lines += ["", "Notices:"] + [f"  - {n}" for n in self.notices]
        return "\n".join(lines)
