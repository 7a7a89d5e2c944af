"""Permutations restricted to the study design (for calibrating covariate terms).

Under the null hypothesis "expression does not depend on the covariates", the
covariate values can be shuffled among the units that are exchangeable:

* a **subject-level** covariate (constant within every subject, e.g. disease group) is
  permuted across subjects, so a subject's samples keep one value together;
* a **within-subject** covariate (varies inside a subject, e.g. visit) is permuted among
  that subject's own samples;
* with **strata** (e.g. site or batch), subjects and samples only trade values inside
  their stratum.

Cell proportions stay with their samples; only covariate values move.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class PermutationScheme:
    """Which samples may exchange covariate values.

    ``subject`` and ``strata`` hold one label per sample (``None``: every sample is its
    own subject / one stratum). Subjects must be nested in strata.
    """

    subject: np.ndarray | None = None
    strata: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.subject is not None and self.strata is not None:
            subj, strat = np.asarray(self.subject), np.asarray(self.strata)
            for s in np.unique(subj):
                if np.unique(strat[subj == s]).size > 1:
                    raise InputError(f"subject '{s}' has samples in more than one stratum; "
                                     "subjects must be nested in strata for permutations")

    def _labels(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        subj = np.arange(n) if self.subject is None else np.unique(np.asarray(self.subject).astype(str),
                                                                    return_inverse=True)[1]
        strat = np.zeros(n, dtype=np.int64) if self.strata is None else np.unique(
            np.asarray(self.strata).astype(str), return_inverse=True)[1]
        return subj.astype(np.int64), strat.astype(np.int64)

    def subject_level(self, Z: np.ndarray) -> np.ndarray:
        """Boolean per column of ``Z`` (n x p): True when the column is constant within
        every subject (a subject-level covariate)."""
        Z = np.asarray(Z, dtype=np.float64)
        if self.subject is None:
            return np.ones(Z.shape[1], dtype=bool)
        subj, _ = self._labels(Z.shape[0])
        out = np.ones(Z.shape[1], dtype=bool)
        for s in np.unique(subj):
            rows = Z[subj == s]
            out &= np.all(np.abs(rows - rows[0]) <= 1e-12 * (1.0 + np.abs(rows[0])), axis=0)
        return out

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """One random permutation as two row-index arrays (length n): sample j takes the
        covariate values of row ``across[j]`` (subject-level columns) and of row
        ``within[j]`` (within-subject columns)."""
        subj, strat = self._labels(n)
        # across subjects, inside strata: subject s takes the values of subject pi(s)
        subjects, first_row, counts = np.unique(subj, return_index=True, return_counts=True)
        subj_stratum = strat[first_row]
        pi = subjects.copy()
        for k in np.unique(subj_stratum):
            members = np.flatnonzero(subj_stratum == k)
            pi[members] = subjects[members[rng.permutation(members.size)]]
        lookup = np.empty(subjects.max() + 1, dtype=np.int64)
        lookup[subjects] = first_row[np.searchsorted(subjects, pi)]
        across = lookup[subj]
        # within each subject of several samples, in subject order (strata hold whole subjects)
        within = np.arange(n)
        grouped = np.argsort(subj, kind="stable")  # rows by subject, ascending within each
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        for g in np.flatnonzero(counts > 1):
            rows = grouped[starts[g]:starts[g] + counts[g]]
            within[rows] = rows[rng.permutation(rows.size)]
        return across, within

    def permute(self, rng: np.random.Generator, Z: np.ndarray, subject_level: np.ndarray | None = None) -> np.ndarray:
        """``Z`` (n x p covariate columns) with rows permuted as the design allows."""
        Z = np.asarray(Z, dtype=np.float64)
        lvl = self.subject_level(Z) if subject_level is None else subject_level
        across, within = self.draw(rng, Z.shape[0])
        out = np.empty_like(Z)
        out[:, lvl] = Z[across][:, lvl]
        out[:, ~lvl] = Z[within][:, ~lvl]
        return out
