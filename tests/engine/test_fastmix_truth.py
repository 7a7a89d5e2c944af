"""FastMix against simulation truth: D with trimming, type-I error and power, options."""
from __future__ import annotations

import numpy as np
import pytest

from engine.arrayfit import fit_arrays, truncation_lambda
from engine.design import build_design
from engine.fastmix import FastMix
from engine.progress import Cancelled
from engine.simulate import simulate_sim1, simulate_sim2, simulate_sim3

SIM2_OUT = ["Cell1", "Severity", "Cell2.Severity", "Cell2.Sex"]


def _mse(fit, sim):
    return float(((fit.D_ - sim.D) ** 2).to_numpy().mean())


@pytest.fixture(scope="module")
def sim2():
    return [simulate_sim2(2000, 50, seed=s) for s in (11, 12)]


def test_trimming_improves_D(sim2):
    for s in sim2:
        trimmed = FastMix(trim=0.5).fit(s.expression, s.proportions, s.covariates)
        plain = FastMix(trim=0.0).fit(s.expression, s.proportions, s.covariates)
        assert list(trimmed.informative_[trimmed.informative_].index) == SIM2_OUT
        assert trimmed.kept_genes_ == 1000 and plain.kept_genes_ == 2000
        assert _mse(trimmed, s) < 0.75 * _mse(plain, s)
        # trimming pulls the inflated outlier-term variances towards the truth
        for t in SIM2_OUT:
            assert abs(trimmed.D_.loc[t, t] - s.D.loc[t, t]) < abs(plain.D_.loc[t, t] - s.D.loc[t, t])
        np.testing.assert_allclose(np.diag(trimmed.D_), np.diag(s.D), rtol=0.5)


def test_sim3_type1_and_power():
    """Simulation III repeated 20 times (m=1000 to keep the suite fast; the >= 200-repetition
    study at m=5000 is benchmarks/bench_simulation_study.py)."""
    t1, pw = [], []
    for seed in range(21, 41):
        s = simulate_sim3(1000, 50, seed=seed)
        f = FastMix().fit(s.expression, s.proportions, s.covariates)
        hit = (f.quasi_p_ < 0.05).to_numpy()
        deg = s.deg.to_numpy()
        assert deg.sum() == 100  # 2 x 5 % DEGs on Cell1.Group / Cell2.Group
        t1.append(hit[~deg].mean())
        pw.append(hit[deg].mean())
        est = f.fixed_effects_["estimate"]
        assert abs(est["Cell1"] - 1.5) < 5 * f.fixed_effects_["std_error"]["Cell1"]
    assert len(t1) == 20
    assert np.mean(t1) <= 0.07 and np.mean(pw) >= 0.55


def test_independent_variant(sim2):
    s = sim2[0]
    f = FastMix(independent=True).fit(s.expression, s.proportions, s.covariates)
    D = f.D_.to_numpy()
    assert np.count_nonzero(D - np.diag(np.diag(D))) == 0
    assert np.all(np.diag(D) >= f.sigma2_ / 100)
    np.testing.assert_allclose(np.diag(D), np.diag(s.D), rtol=0.35)
    fe = f.fixed_effects_
    assert np.all(np.abs(fe["estimate"] - s.beta) < 5 * fe["std_error"])
    hit = (f.quasi_p_["Cell2.Sex"] < 0.05)
    assert hit[s.deg["Cell2.Sex"]].mean() > 0.5 and hit[~s.deg["Cell2.Sex"]].mean() < 0.1


def test_shapiro_detector_and_satterthwaite(sim2):
    s = sim2[1]
    f = FastMix(detector="shapiro", df_method="satterthwaite").fit(s.expression, s.proportions, s.covariates)
    flagged = set(f.informative_[f.informative_].index)
    assert set(SIM2_OUT) <= flagged
    assert f.kept_genes_ == 1000
    df = f.fixed_effects_["df"].to_numpy()
    assert np.all(df >= 999 - 1e-9) and np.all(df <= 999 + 1000 * 39 + 1e-6)
    assert f.results_.parameters["detector"] == "shapiro"


def test_sim1_cells_only():
    s = simulate_sim1(2000, 30, seed=3)
    f = FastMix().fit(s.expression, s.proportions, None)
    assert f.design_.names == ("Cell1", "Cell2", "Cell3")
    assert bool(f.informative_["Cell1"]) and not f.informative_[["Cell2", "Cell3"]].any()
    hit = f.quasi_p_["Cell1"] < 0.05
    assert hit[s.deg["Cell1"]].mean() > 0.6 and hit[~s.deg["Cell1"]].mean() < 0.07
    # classical per-gene OLS t-test (effect != 0), checked against a direct fit
    from scipy import stats
    X = f.design_.X
    for g in (0, 500, 1999):
        y = s.expression.iloc[g].to_numpy()
        b, rss, *_ = np.linalg.lstsq(X, y, rcond=None)
        se = np.sqrt(rss[0] / (30 - 3) * np.diag(np.linalg.inv(X.T @ X)))
        np.testing.assert_allclose(f.ols_p_.iloc[g], 2 * stats.t.sf(np.abs(b / se), 27), rtol=1e-8)


def test_lambda_and_progress():
    assert truncation_lambda(2, 0.5) == pytest.approx(3.2589, abs=1e-4)
    s = simulate_sim3(300, 30, seed=5)
    seen = []
    FastMix().fit(s.expression, s.proportions, s.covariates, progress=lambda d, t, m: seen.append((d, t, m)))
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] and any("final fit" in m for _, _, m in seen)
    assert any("permutation 200 of 200" in m for _, _, m in seen)

    def cancel(d, t, m):
        return d < 2

    with pytest.raises(Cancelled):
        FastMix().fit(s.expression, s.proportions, s.covariates, progress=cancel)


def test_lambda_override_scales_only_the_informative_variances(sim2):
    """The truncation factor multiplies the raw variances of the informative terms (spec 4.8):
    overriding it (to copy R's Monte Carlo value) changes exactly those diagonal entries."""
    s = sim2[0]
    design = build_design(s.proportions, s.covariates)
    Y = s.expression.to_numpy()
    a = fit_arrays(Y, design.X, design.names)
    lam = truncation_lambda(4, 0.5)
    assert a.trim_df == 4 and a.lambda_ == pytest.approx(lam, rel=1e-12)
    b = fit_arrays(Y, design.X, design.names, lambda_override=1.5 * lam)
    assert b.lambda_ == 1.5 * lam
    np.testing.assert_array_equal(a.informative, b.informative)
    np.testing.assert_array_equal(a.kept, b.kept)  # detection and trimming come before lambda
    G = np.linalg.inv(design.X.T @ design.X)
    raw_a = np.diag(a.D_refit + a.sigma2 * G)  # = c_l * S_ll
    raw_b = np.diag(b.D_refit + b.sigma2 * G)
    inf = a.informative
    np.testing.assert_allclose(raw_b[inf] / raw_a[inf], 1.5, rtol=1e-9)
    np.testing.assert_allclose(raw_b[~inf], raw_a[~inf], rtol=1e-12)
    off = ~np.eye(len(inf), dtype=bool)
    np.testing.assert_allclose(b.D_refit[off], a.D_refit[off], rtol=1e-12)
    assert not np.allclose(b.beta, a.beta)  # the refitted D feeds the GLS
    est = FastMix(lambda_override=1.5 * lam).fit(s.expression, s.proportions, s.covariates)
    assert est.lambda_ == 1.5 * lam and est.results_.parameters["lambda_override"] == 1.5 * lam
    np.testing.assert_allclose(est.fixed_effects_["estimate"].to_numpy(), b.beta, rtol=1e-10)


def test_results_fixed_effects_table_equals_the_attribute():
    sim = simulate_sim3(1500, 40, seed=4)
    f = FastMix().fit(sim.expression, sim.proportions, sim.covariates)

    assert f.results_.fixed_effects is f.fixed_effects_  # one shape: indexed by term
    assert f.fixed_effects_.index.name == "term"
    assert list(f.fixed_effects_.columns) == ["estimate", "std_error", "t", "df", "p_value", "p_adj"]
    # each result frame has its own index object: renaming one axis leaves the others alone
    f.quasi_p_.index.name = "gene"
    assert f.coef_.index.name is None and f.overall_p_.index.name is None
