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


def simulate_study(m: int = 5000, n: int = 24, *, seed: int = 0, covariate: str = "binary",
                   visits: int = 1, rho: float = 0.5, df_prior: float = 4.0, sd_prior: float = 0.25,
                   planted_fraction: float = 0.0, effect: float = 2.0, planted_cell: int = 0,
                   concentration: float = 30.0, planted_effects: np.ndarray | None = None) -> SimData:
    """A whole-blood-like study with **gene-specific noise** (for calibration checks).

    * Three cell fractions (Neutrophils, Lymphocytes, Monocytes) from a Dirichlet whose
      fourth part ("other") is left out, so rows sum to about 0.97, not exactly 1
      (``concentration`` 30 gives a neutrophil SD of about 0.09, as in blood counts);
    * one covariate ``Group`` (binary, half/half by subject) or ``Score`` (continuous);
    * ``visits`` samples per subject (``n / visits`` subjects), noise correlated ``rho``
      within a subject; the covariates table then holds a ``Subject`` column;
    * residual variances sigma_i^2 ~ scaled inverse chi-square(``df_prior``, ``sd_prior``^2);
    * every gene has its own cell signatures (cell main terms), no covariate effect,
      except the planted genes: a ``planted_fraction`` of genes get
      ``effect`` x sigma_i / SD(fraction x covariate) on one cell x covariate term
      (random sign), i.e. ``effect`` residual SDs per SD of the interaction column;
    * ``planted_effects`` (length ``m``, signed, in the same units) replaces that random choice:
      e.g. the genes of chosen gene sets, all in one direction (pathway recovery tests).
    """
    if n % visits:
        raise ValueError("n must be a multiple of visits")
    rng = np.random.default_rng(seed)
    ns = n // visits
    cells = ["Neutrophils", "Lymphocytes", "Monocytes"]
    subj = np.repeat([f"S{j + 1:02d}" for j in range(ns)], visits)
    samples = [f"{s}_V{v + 1}" for s, v in zip(subj, np.tile(np.arange(visits), ns))]
    P = rng.dirichlet(concentration * np.array([0.6, 0.3, 0.07, 0.03]), n)[:, :3]
    if covariate == "binary":
        zs = np.r_[np.zeros(ns // 2), np.ones(ns - ns // 2)]
        rng.shuffle(zs)
        cname = "Group"
    elif covariate == "continuous":
        zs = rng.standard_normal(ns)
        cname = "Score"
    else:
        raise ValueError("covariate must be 'binary' or 'continuous'")
    z = np.repeat(zs, visits)
    sigma = np.sqrt(df_prior * sd_prior ** 2 / rng.chisquare(df_prior, m))
    mu = rng.normal(7.0, 1.5, (m, 1)) + rng.standard_normal((m, 3))
    Y = mu @ P.T
    noise = rng.standard_normal((m, n))
    if visits > 1:
        u = rng.standard_normal((m, ns))
        noise = np.sqrt(rho) * np.repeat(u, visits, axis=1) + np.sqrt(1.0 - rho) * noise
    Y += sigma[:, None] * noise
    zstd = (z - z.mean()) / z.std(ddof=1)
    col = P[:, planted_cell] * zstd
    k = int(round(planted_fraction * m))
    planted = np.zeros(m, dtype=bool)
    planted[rng.choice(m, k, replace=False)] = True
    delta = np.where(rng.random(m) < 0.5, -1.0, 1.0) * effect * sigma / col.std(ddof=1) * planted
    if planted_effects is not None:
        delta = np.asarray(planted_effects, dtype=np.float64) * sigma / col.std(ddof=1)
    Y += delta[:, None] * col[None, :]
    genes = [f"Gene{i + 1}" for i in range(m)]
    props = pd.DataFrame(P, index=samples, columns=cells)
    covs = pd.DataFrame({cname: z}, index=samples)
    if visits > 1:
        covs["Subject"] = subj
    design = build_design(props, covs[[cname]])
    names = list(design.names)
    shift = np.zeros((m, len(names)))
    shift[:, names.index(f"{cells[planted_cell]}.{cname}")] = delta
    frame = lambda a: pd.DataFrame(a, index=genes, columns=names)  # noqa: E731
    return SimData(expression=pd.DataFrame(Y, index=genes, columns=samples), proportions=props,
                   covariates=covs, beta=pd.Series(np.zeros(len(names)), index=names, name="beta"),
                   random_effects=frame(np.zeros((m, len(names)))), shift=frame(shift),
                   deg=frame(shift != 0), D=pd.DataFrame(np.zeros((len(names), len(names))), index=names,
                                                          columns=names),
                   sample_cov=None)
