"""Simulated studies with known truth (spec §13), seeded with ``numpy.random.default_rng``.

* :func:`simulate_sim2` — Simulation II of the FastMix paper/package (3 cells,
  Severity + Sex, 11 terms, 20 % DEGs on Cell1, Severity, Cell2.Severity, Cell2.Sex).
* :func:`simulate_sim3` — Simulation III (3 cells, binary Group, 7 terms, 10 % DEGs on
  Cell1.Group and Cell2.Group), the csSAM comparison design.
* :func:`simulate_sim1` — our basic variant: cell proportions only (3 terms, no
  covariates, no interactions), identity D, 10 % DEGs shifted by 3.5 SD on Cell1.

The R generator's random streams are not reproduced; the distributions are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .design import build_design
from .linalg import sym_sqrt


@dataclass(frozen=True)
class SimData:
    """A simulated study and its truth (genes x terms frames use design names)."""

    expression: pd.DataFrame
    proportions: pd.DataFrame
    covariates: pd.DataFrame
    beta: pd.Series
    random_effects: pd.DataFrame
    shift: pd.DataFrame
    deg: pd.DataFrame
    D: pd.DataFrame
    sample_cov: np.ndarray | None = None

    @property
    def design_names(self) -> tuple[str, ...]:
        """Design term names in order."""
        return tuple(self.beta.index)


def _generate(rng, m, n, props, covs, beta, sd, out_terms, shift_sd, balance, cor, outlier,
              weight, noise_sd=0.25):
    design = build_design(props, covs if covs.shape[1] else None)
    names = list(design.names)
    L = len(names)
    genes = [f"Gene{i + 1}" for i in range(m)]
    shift = np.zeros((m, L))
    if outlier:
        block = int(round(0.05 * m))
        p_plus = 0.5 if balance else 0.9
        signs = np.where(rng.random((m, len(out_terms))) < p_plus, 1.0, -1.0)
        for b, t in enumerate(out_terms):
            rows = slice(b * block, (b + 1) * block)
            shift[rows, t] = shift_sd * sd[t] * signs[rows, b]
    R = np.full((L, L), cor)
    np.fill_diagonal(R, 1.0)
    Dtrue = np.outer(sd, sd) * R
    E = rng.standard_normal((m, L))
    gmat = E * sd if cor == 0 else E @ np.linalg.cholesky(Dtrue).T
    err = rng.normal(0.0, noise_sd, (m, n))
    sigma = None
    if weight is not None:
        sigma = np.asarray(weight, dtype=np.float64)
        err = err @ sym_sqrt(sigma)[0]
    Y = (beta + shift + gmat) @ design.X.T + err
    frame = lambda a: pd.DataFrame(a, index=genes, columns=names)  # noqa: E731
    return SimData(
        expression=pd.DataFrame(Y, index=genes, columns=list(props.index)),
        proportions=props, covariates=covs, beta=pd.Series(beta, index=names, name="beta"),
        random_effects=frame(gmat), shift=frame(shift), deg=frame(shift != 0),
        D=pd.DataFrame(Dtrue, index=names, columns=names), sample_cov=sigma)


def _props(rng, n, k=3):
    subj = [f"Subj{j + 1}" for j in range(n)]
    return pd.DataFrame(rng.uniform(0.2, 0.3, (n, k)), index=subj,
                        columns=[f"Cell{i + 1}" for i in range(k)])


def tnmr_covariance(n: int, seed: int = 1234) -> np.ndarray:
    """The vignette's weighted-design Σ = diag(max(TNMR)/TNMR), TNMR ~ U(1, 5)."""
    t = np.random.default_rng(seed).uniform(1.0, 5.0, n)
    return np.diag(t.max() / t)


def simulate_sim2(m: int = 5000, n: int = 50, *, seed: int = 1, outlier: bool = True,
                  cor: float = 0.0, balance: bool = True, weight=None) -> SimData:
    """Simulation II: Cell1..3, Severity ~ round(U(0,10),1), Sex (halves), 11 terms.

    ``weight`` is an n x n noise covariance Σ (noise becomes ``Err Σ^{1/2}``), or
    ``"tnmr"`` for :func:`tnmr_covariance`.
    """
    if n % 2:
        raise ValueError("n must be even")
    rng = np.random.default_rng(seed)
    props = _props(rng, n)
    covs = pd.DataFrame({"Severity": np.round(rng.uniform(0, 10, n), 1),
                         "Sex": np.r_[np.zeros(n // 2), np.ones(n // 2)]}, index=props.index)
    if isinstance(weight, str) and weight == "tnmr":
        weight = tnmr_covariance(n)
    beta = np.zeros(11)
    beta[0], beta[5] = 1.5, 0.75
    sd = np.r_[1, 1, 1, 0.6, 0.6, np.full(6, 1.2)]
    return _generate(rng, m, n, props, covs, beta, sd, (0, 3, 6, 9), 3.5, balance, cor,
                     outlier, weight)


def simulate_sim3(m: int = 5000, n: int = 50, *, seed: int = 1, outlier: bool = True,
                  cor: float = 0.5, balance: bool = True) -> SimData:
    """Simulation III: Cell1..3 and a binary Group (halves); DEGs on Cell1/Cell2.Group."""
    if n % 2:
        raise ValueError("n must be even")
    rng = np.random.default_rng(seed)
    props = _props(rng, n)
    covs = pd.DataFrame({"Group": np.r_[np.zeros(n // 2), np.ones(n // 2)]}, index=props.index)
    beta = np.r_[1.5, 0.5, 0.5, 0, 0, 0, 0]
    sd = np.r_[1, 1, 1, np.full(4, 1.2)]
    return _generate(rng, m, n, props, covs, beta, sd, (4, 5), 3.5, balance, cor, outlier, None)


def simulate_sim1(m: int = 5000, n: int = 50, *, seed: int = 1, outlier: bool = True,
                  balance: bool = True) -> SimData:
    """Simulation I (ours): cell proportions only, beta = (1.5, 0.5, 0.5), D = I_3,
    first 10 % of genes shifted by ±3.5 on Cell1."""
    rng = np.random.default_rng(seed)
    props = _props(rng, n)
    covs = pd.DataFrame(index=props.index)
    beta = np.r_[1.5, 0.5, 0.5]
    sd = np.ones(3)
    data = _generate(rng, m, n, props, covs, beta, sd, (), 3.5, balance, 0.0, False, None)
    if not outlier:
        return data
    shift = np.zeros((m, 3))
    k = int(round(0.10 * m))
    signs = np.where(rng.random(k) < (0.5 if balance else 0.9), 1.0, -1.0)
    shift[:k, 0] = 3.5 * signs
    expr = data.expression + shift @ props.to_numpy().T
    names = list(data.beta.index)
    sf = pd.DataFrame(shift, index=data.expression.index, columns=names)
    return SimData(expression=expr, proportions=props, covariates=covs, beta=data.beta,
                   random_effects=data.random_effects, shift=sf, deg=sf != 0, D=data.D)
