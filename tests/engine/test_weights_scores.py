"""Weighted / repeated-measures fits and discriminant scores."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.errors import DesignError
from engine.fastmix import FastMix
from engine.scores import discriminant_scores
from engine.simulate import simulate_sim2, simulate_sim3, tnmr_covariance
from engine.weights import get_rho, get_sigma, whitening


def test_whitening_inverts_covariance():
    sig = get_sigma(["a", "a", "b", "b", "b", "c"], 0.4, weights=np.arange(1.0, 7.0))
    W = whitening(sig)
    np.testing.assert_allclose(W @ sig @ W, np.eye(6), atol=1e-12)
    assert sig[0, 1] == pytest.approx(0.4 / np.sqrt(2)) and sig[0, 2] == 0


def test_weighted_fit_recovers_fixed_effects():
    sig = tnmr_covariance(50)
    s = simulate_sim2(2000, 50, seed=7, cor=0.5, weight=sig)
    w = pd.Series(1.0 / np.diag(sig), index=s.proportions.index)
    a = FastMix().fit(s.expression, s.proportions, s.covariates, weights=w)
    b = FastMix().fit(s.expression, s.proportions, s.covariates, sample_cov=sig)
    fe = a.fixed_effects_
    assert np.all(np.abs(fe["estimate"] - s.beta) < 4 * fe["std_error"])
    np.testing.assert_allclose(a.coef_.to_numpy(), b.coef_.to_numpy(), rtol=1e-7, atol=1e-9)
    # whitened noise is homoscedastic with variance 0.0625 (times the Σ scale 1)
    assert a.sigma2_ == pytest.approx(0.0625, rel=0.1)
    plain = FastMix().fit(s.expression, s.proportions, s.covariates)
    assert plain.sigma2_ > 1.5 * a.sigma2_


def _repeated(rho, seed, subjects=30, per=3, m=1500):
    rng = np.random.default_rng(seed)
    n = subjects * per
    subj = np.repeat([f"P{i}" for i in range(subjects)], per)
    x = rng.normal(size=(n, 2))
    u = rng.normal(size=(subjects, m))[np.repeat(np.arange(subjects), per)]
    e = np.sqrt(rho) * u + np.sqrt(1 - rho) * rng.normal(size=(n, m))
    return x @ rng.normal(size=(2, m)) + 0.5 + e, x, subj


def test_get_rho_recovers_correlation():
    for rho in (0.2, 0.6):
        Y, x, subj = _repeated(rho, seed=int(rho * 10))
        assert get_rho(Y, x, subj) == pytest.approx(rho, abs=0.05)


def test_fit_with_subject():
    s = simulate_sim3(1000, 48, seed=9)
    subj = pd.Series(np.repeat(np.arange(24), 2).astype(str), index=s.proportions.index)
    rng = np.random.default_rng(1)
    u = rng.normal(0, 0.25 * np.sqrt(0.5 / 0.5), size=(1000, 24))[:, np.repeat(np.arange(24), 2)]
    expr = s.expression + u
    f = FastMix().fit(expr, s.proportions, s.covariates, subject=subj)
    assert 0.3 < f.rho_ < 0.7
    assert any("rho" in n for n in f.notices_)
    assert abs(f.fixed_effects_.loc["Cell1", "estimate"] - 1.5) < 5 * f.fixed_effects_.loc["Cell1", "std_error"]


def test_discriminant_scores_separate_groups():
    s = simulate_sim2(1000, 100, seed=5)
    cols = list(s.expression.columns)
    tr, te = cols[0::2], cols[1::2]
    f = FastMix().fit(s.expression[tr], s.proportions.loc[tr], s.covariates.loc[tr])
    sc = discriminant_scores(f, s.expression[te], s.proportions.loc[te], s.covariates.loc[te], response="Sex")
    sex = s.covariates.loc[te, "Sex"].to_numpy()
    assert sc.single.shape == (50,) and sc.multi.shape == (1000, 50)
    assert sc.multi_sparse.shape == (1 + len(sc.selected_genes), 50)
    assert sc.multi_sparse.index[0] == "fixed"
    for v in (sc.single, sc.single_sparse):
        mid = (v[sex == 0].mean() + v[sex == 1].mean()) / 2
        assert ((v > mid) == (sex == 1)).all()
        assert v[sex == 1].mean() > 0
    delta_norm = np.sqrt(((sc.multi.to_numpy() != 0).sum(axis=0)) * 0 + 1)
    assert np.all(np.isfinite(sc.multi.to_numpy())) and delta_norm.shape == (50,)
    with pytest.raises(DesignError, match="last covariate"):
        discriminant_scores(f, s.expression[te], s.proportions.loc[te], s.covariates.loc[te], response="Severity")
