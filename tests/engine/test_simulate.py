"""Simulators: shapes, names, truth bookkeeping, seeding."""
from __future__ import annotations

import numpy as np
import pytest

from engine.design import build_design
from engine.simulate import simulate_sim1, simulate_sim2, simulate_sim3, tnmr_covariance


def test_sim2_structure_and_truth():
    s = simulate_sim2(1000, 40, seed=3, cor=0.5)
    assert s.expression.shape == (1000, 40) and s.proportions.shape == (40, 3)
    assert list(s.covariates.columns) == ["Severity", "Sex"]
    assert s.design_names[5] == "Cell1.Severity" and len(s.design_names) == 11
    assert s.beta["Cell1"] == 1.5 and s.beta["Cell1.Severity"] == 0.75 and s.beta.abs().sum() == 2.25
    assert s.deg.sum().to_dict() == {**{t: 0 for t in s.design_names},
                                     "Cell1": 50, "Severity": 50, "Cell2.Severity": 50, "Cell2.Sex": 50}
    assert s.deg.iloc[:200].any(axis=1).all() and not s.deg.iloc[200:].any().any()
    np.testing.assert_allclose(np.abs(s.shift.loc[s.deg["Cell2.Sex"], "Cell2.Sex"]), 4.2)
    assert s.D.loc["Cell1", "Sex"] == pytest.approx(0.5 * 0.6) and s.D.loc["Sex", "Sex"] == pytest.approx(0.36)
    assert ((s.proportions >= 0.2) & (s.proportions <= 0.3)).all().all()
    assert set(s.covariates["Sex"]) == {0.0, 1.0} and (s.covariates["Sex"].iloc[:20] == 0).all()
    # expression = (beta + shift + gamma) X' + noise with sd 0.25
    X = build_design(s.proportions, s.covariates).X
    noise = s.expression.to_numpy() - (s.beta.to_numpy() + s.shift.to_numpy() + s.random_effects.to_numpy()) @ X.T
    assert noise.std() == pytest.approx(0.25, rel=0.02) and abs(noise.mean()) < 0.005
    # random effects follow D
    re = s.random_effects.iloc[200:]
    np.testing.assert_allclose(np.cov(re.to_numpy(), rowvar=False), s.D.to_numpy(), atol=0.15)


def test_sim3_structure_and_seeding():
    s = simulate_sim3(2000, 50, seed=1)
    assert s.design_names == ("Cell1", "Cell2", "Cell3", "Group", "Cell1.Group", "Cell2.Group", "Cell3.Group")
    assert s.deg["Cell1.Group"].iloc[:100].all() and s.deg["Cell2.Group"].iloc[100:200].all()
    assert s.deg.to_numpy().sum() == 200
    signs = np.sign(s.shift.loc[s.deg["Cell1.Group"], "Cell1.Group"])
    assert 0.3 < (signs > 0).mean() < 0.7
    again = simulate_sim3(2000, 50, seed=1)
    other = simulate_sim3(2000, 50, seed=2)
    assert again.expression.equals(s.expression)
    assert not np.allclose(other.expression, s.expression)
    unb = simulate_sim3(2000, 50, seed=1, balance=False)
    assert (np.sign(unb.shift.loc[unb.deg["Cell1.Group"], "Cell1.Group"]) > 0).mean() > 0.8
    none = simulate_sim3(500, 50, seed=1, outlier=False)
    assert not none.deg.any().any()


def test_sim1_and_weighted_noise():
    s = simulate_sim1(1000, 30, seed=2)
    assert s.design_names == ("Cell1", "Cell2", "Cell3") and s.covariates.shape == (30, 0)
    np.testing.assert_array_equal(s.D.to_numpy(), np.eye(3))
    assert s.deg["Cell1"].sum() == 100 and s.deg.to_numpy().sum() == 100
    sig = tnmr_covariance(40)
    assert np.diag(sig).max() / np.diag(sig).min() <= 5 and np.allclose(sig, np.diag(np.diag(sig)))
    w = simulate_sim2(4000, 40, seed=1, weight=sig)
    X = build_design(w.proportions, w.covariates).X
    noise = w.expression.to_numpy() - (w.beta.to_numpy() + w.shift.to_numpy() + w.random_effects.to_numpy()) @ X.T
    np.testing.assert_allclose(noise.var(axis=0) / 0.0625, np.diag(sig), rtol=0.1)
    assert w.sample_cov is not None
