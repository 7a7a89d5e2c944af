"""Discriminant scores for a binary response of new samples (spec §9, ``score_func``).

A FastMix model is trained with the response as the **last** covariate. For test
samples two pseudo designs are built (response set to its low / high standardised
training value); how far each sample's expression moves from the "low" prediction
towards the "high" prediction gives the scores.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .design import encode_covariates
from .errors import DesignError, InputError


@dataclass(frozen=True)
class DiscriminantScores:
    """The four scores: ``single`` / ``single_sparse`` (per sample), ``multi``
    (genes x samples) and ``multi_sparse`` (rows ``fixed`` + selected genes x samples)."""

    single: pd.Series
    single_sparse: pd.Series
    multi: pd.DataFrame
    multi_sparse: pd.DataFrame
    selected_genes: tuple[str, ...]


def _response_levels(design, response: str) -> tuple[float, float]:
    if response not in design.center:
        raise DesignError(f"response '{response}' is not a covariate of the trained model",
                          columns=list(design.covariates))
    # recover the standardised training values of the response from an interaction column
    col = design.names.index(f"{design.cells[0]}.{response}")
    z = design.X[:, col] / design.X[:, 0]
    vals = np.unique(np.round(z, 10))
    if vals.size != 2:
        raise DesignError(f"response '{response}' must have exactly two values in training",
                          columns=[response])
    return float(vals[0]), float(vals[1])


def test_designs(design, proportions: pd.DataFrame, covariates: pd.DataFrame | None,
                 response: str) -> tuple[np.ndarray, np.ndarray]:
    """Designs X0, X1 (n_test x L) of test samples with the response at its two levels;
    other covariates standardised with the training centre/scale."""
    if design.covariates[-1] != response:
        raise DesignError(f"the response '{response}' must be the last covariate of the model",
                          columns=list(design.covariates))
    a0, a1 = _response_levels(design, response)
    P = proportions[list(design.cells)].to_numpy(dtype=np.float64)
    n = P.shape[0]
    others = [c for c in design.covariates if c != response]
    Zo = np.zeros((n, len(others)))
    if others:
        if covariates is None:
            raise InputError("test covariates are needed for: " + ", ".join(others))
        enc, _ = encode_covariates(covariates.drop(columns=[response], errors="ignore"))
        enc = enc.reindex(columns=others, fill_value=0.0)
        Zo = (enc.to_numpy(dtype=np.float64) - np.array([design.center[c] for c in others])) \
            / np.array([design.scale[c] for c in others])
    include_main = any(k == "covariate" for k in design.kinds)
    out = []
    for a in (a0, a1):
        Z = np.column_stack([Zo, np.full(n, a)])
        blocks = [P] + ([Z] if include_main else [])
        blocks.append((Z[:, :, None] * P[:, None, :]).reshape(n, -1))
        out.append(np.hstack(blocks))
    return out[0], out[1]


def discriminant_scores(model, expression: pd.DataFrame, proportions: pd.DataFrame,
                        covariates: pd.DataFrame | None = None, *, response: str,
                        sig_level: float = 0.05) -> DiscriminantScores:
    """Scores for test samples (expression genes x samples, proportions samples x cells)."""
    design = model.design_
    samples = [str(s) for s in proportions.index]
    expr = expression.copy()
    expr.columns = [str(c) for c in expr.columns]
    missing = [s for s in samples if s not in expr.columns]
    if missing:
        raise InputError("test expression lacks samples: " + ", ".join(missing[:5]))
    genes = list(model.coef_.index)
    Y = expr.loc[genes, samples].to_numpy(dtype=np.float64)
    X0, X1 = test_designs(design, proportions, covariates, response)
    Bm = model.coef_.to_numpy()
    beta = model.fixed_effects_["estimate"].to_numpy()
    mu0 = Bm @ X0.T
    res = Y - mu0
    delta = Bm @ (X1 - X0).T
    single = np.einsum("ij,ij->j", res, delta) / np.linalg.norm(delta, axis=0)
    multi = res * delta
    names = list(design.names)
    ri = [names.index(f"{c}.{response}") for c in design.cells]
    ridx = names.index(response) if response in names else None
    qp = model.quasi_p_.to_numpy()
    rand = Bm - beta
    sel = np.zeros(len(genes), dtype=bool)
    order: list[int] = []
    dF = np.zeros_like(Y)
    dR = np.zeros_like(Y)
    dX = X1 - X0
    for t in ri:  # loop over the K response interaction terms
        hit = qp[:, t] < sig_level
        order += np.flatnonzero(hit & ~sel).tolist()  # genes new to the union, in gene order
        sel |= hit
        dF += beta[t] * dX[:, t][None, :]
        dR += np.where(hit, rand[:, t], 0.0)[:, None] * dX[:, t][None, :]
    if ridx is not None:
        dF += beta[ridx] * dX[:, ridx][None, :]
        dR += rand[:, ridx][:, None] * dX[:, ridx][None, :]
    tot = dF + dR
    single_sparse = np.einsum("ij,ij->j", res, tot) / np.linalg.norm(tot, axis=0)
    rows = np.vstack([(res * dF).sum(axis=0)[None, :], (res * dR)[order]])
    sel_genes = tuple(genes[i] for i in order)
    return DiscriminantScores(
        single=pd.Series(single, index=samples, name="single_score"),
        single_sparse=pd.Series(single_sparse, index=samples, name="single_sparse_score"),
        multi=pd.DataFrame(multi, index=genes, columns=samples),
        multi_sparse=pd.DataFrame(rows, index=["fixed", *sel_genes], columns=samples),
        selected_genes=sel_genes)
