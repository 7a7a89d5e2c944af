"""Design matrix, categorical covariates, singular designs, sample matching by ID."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.design import build_design, encode_covariates
from engine.errors import DesignError, InputError
from engine.fastmix import FastMix
from engine.matching import match_samples
from engine.simulate import simulate_sim2, simulate_sim3


def _props(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.uniform(0.2, 0.3, (n, 3)), index=[f"S{i}" for i in range(n)],
                        columns=["Cell1", "Cell2", "Cell3"])


def test_names_order_and_standardisation():
    p = _props()
    cov = pd.DataFrame({"Severity": np.arange(12.0), "Sex": [0, 1] * 6}, index=p.index)
    d = build_design(p, cov)
    assert d.names == ("Cell1", "Cell2", "Cell3", "Severity", "Sex", "Cell1.Severity",
                       "Cell2.Severity", "Cell3.Severity", "Cell1.Sex", "Cell2.Sex", "Cell3.Sex")
    z = (cov["Sex"] - 0.5) / cov["Sex"].std(ddof=1)
    np.testing.assert_allclose(d.X[:, 4], z)
    np.testing.assert_allclose(d.X[:, 9], p["Cell2"] * z)
    assert d.center["Severity"] == pytest.approx(5.5) and d.scale["Sex"] == pytest.approx(cov["Sex"].std())
    d2 = build_design(p, cov, include_covariate_main=False)
    assert "Sex" not in d2.names and len(d2.names) == 9


def test_categorical_reference_level():
    p = _props()
    cov = pd.DataFrame({"Treatment": ["placebo", "drugA", "drugB"] * 4}, index=p.index)
    enc, notes = encode_covariates(cov)
    assert list(enc.columns) == ["Treatment[drugA]", "Treatment[drugB]"]  # reference: placebo, named like a control
    assert "reference level 'placebo' (named like a control" in notes[0]
    d = build_design(p, cov, reference={"Treatment": "placebo"})
    assert d.covariates == ("Treatment[drugA]", "Treatment[drugB]")
    assert "Cell3.Treatment[drugB]" in d.names
    raw = (cov["Treatment"] == "drugB").astype(float)
    np.testing.assert_allclose(d.X[:, d.names.index("Treatment[drugB]")],
                               (raw - raw.mean()) / raw.std(ddof=1))
    as_text = pd.DataFrame({"Dose": ["1", "2.5", " 3"] * 4}, index=p.index)
    enc, notes = encode_covariates(as_text)
    assert list(enc.columns) == ["Dose"] and enc["Dose"].iloc[1] == 2.5 and notes == []
    with pytest.raises(InputError, match="reference level 'x'"):
        encode_covariates(cov, {"Treatment": "x"})


def test_missing_covariate_names_row():
    p = _props()
    cov = pd.DataFrame({"Age": [1.0] * 5 + [np.nan] + [2.0] * 6}, index=p.index)
    with pytest.raises(InputError) as e:
        build_design(p, cov)
    assert e.value.column == "Age" and e.value.row == "S5"


def test_singular_design_names_columns():
    p = _props()
    cov = pd.DataFrame({"Age": np.arange(12.0), "AgeCopy": np.arange(12.0) * 2 + 1}, index=p.index)
    with pytest.raises(DesignError) as e:
        build_design(p, cov)
    assert "Age" in e.value.columns and "AgeCopy" in e.value.columns
    assert "Cell1" not in e.value.columns and "no-covariate-main" in str(e.value)
    p2 = p.copy()
    p2["Cell4"] = p2["Cell1"] * 3
    with pytest.raises(DesignError) as e:
        build_design(p2, None)
    assert set(e.value.columns) == {"Cell1", "Cell4"}


def test_fewer_samples_than_terms():
    p = _props(n=6)
    cov = pd.DataFrame({"A": np.arange(6.0), "B": [0, 1] * 3}, index=p.index)
    with pytest.raises(DesignError, match="6 samples but 11"):
        build_design(p, cov)


def test_match_samples_report_and_suggestions():
    m = match_samples(expression=["S1", "S2", "S3", "s4 "], proportions=["S3", "S2", "S1", "S4", "S5"])
    assert m.common == ("S1", "S2", "S3")
    assert m.missing["expression"] == ["S4", "S5"] and m.extra["proportions"] == ["S4", "S5"]
    assert m.extra["expression"] == ["s4 "]
    assert ("S4", "s4 ", "differ only by case or whitespace") in m.suggestions
    assert "3 samples matched" in m.summary() and not m.ok


def test_fit_matches_by_id_not_position():
    s = simulate_sim3(400, 30, seed=2)
    a = FastMix().fit(s.expression, s.proportions, s.covariates)
    rng = np.random.default_rng(0)
    cols = list(rng.permutation(s.expression.columns))
    expr = s.expression[cols].copy()
    expr["Extra1"] = 1.0
    b = FastMix().fit(expr, s.proportions.iloc[::-1], s.covariates.sample(frac=1, random_state=1))
    np.testing.assert_allclose(b.fixed_effects_["estimate"], a.fixed_effects_["estimate"], rtol=1e-10)
    np.testing.assert_allclose(b.quasi_p_.to_numpy(), a.quasi_p_.to_numpy(), rtol=1e-8, atol=1e-14)
    assert b.match_.extra["expression"] == ["Extra1"]
    assert any("Extra1" in n for n in b.notices_)
    assert list(b.fitted_.columns) == list(s.proportions.index[::-1])


def test_percentages_rescaled_with_notice():
    s = simulate_sim2(300, 30, seed=4)
    a = FastMix().fit(s.expression, s.proportions, s.covariates)
    b = FastMix().fit(s.expression, s.proportions * 100, s.covariates)
    assert any("percent" in n for n in b.notices_) and not any("percent" in n for n in a.notices_)
    np.testing.assert_allclose(b.coef_.to_numpy(), a.coef_.to_numpy(), rtol=1e-9, atol=1e-9)


def test_proportions_summing_to_one_need_no_covariate_main():
    s = simulate_sim3(200, 30, seed=4)
    closed = s.proportions.div(s.proportions.sum(axis=1), axis=0)
    with pytest.raises(DesignError) as e:
        FastMix().fit(s.expression, closed, s.covariates)
    assert "Group" in e.value.columns and "no-covariate-main" in str(e.value)
    f = FastMix(include_covariate_main=False).fit(s.expression, closed, s.covariates)
    assert "Group" not in f.design_.names and f.coef_.shape == (200, 6)


def test_bad_inputs_name_location():
    s = simulate_sim3(50, 20, seed=1)
    e = s.expression.copy()
    e.iloc[3, 4] = np.nan
    with pytest.raises(InputError) as err:
        FastMix().fit(e, s.proportions, s.covariates)
    assert err.value.row == "Gene4" and err.value.column == "Subj5"
    p = s.proportions.copy()
    p.index = [f"X{i}" for i in range(len(p))]
    with pytest.raises(InputError, match="no sample IDs in common"):
        FastMix().fit(s.expression, p, s.covariates)


def test_default_reference_prefers_a_control_name_then_the_most_frequent_level():
    from engine.design import default_reference

    assert default_reference(["ACR", "Stable", "ACR", "Stable"]) == ("Stable", "named like a control")
    assert default_reference(["case", "Healthy control", "case"]) == ("Healthy control", "named like a control")
    assert default_reference(["V2", "V1", "V3"]) == ("V1", "named like a control")
    assert default_reference(["b", "a", "b", "c"]) == ("b", "most frequent level")
    assert default_reference(["b", "a"]) == ("a", "most frequent level")  # tie: sorted first
    assert default_reference(["control", "placebo", "drug"])[1] == "most frequent level"  # two control-like names


def test_collinearity_names_the_main_term_when_fractions_add_up_to_one():
    from engine.design import collinearity
    from engine.simulate import simulate_study

    sim = simulate_study(200, 24, seed=1)  # fractions add up to ~0.97
    c = collinearity(build_design(sim.proportions, sim.covariates))
    assert c.vif["Group"] > 1000 and 0.9 < c.fraction_sum < 1.0 and c.fraction_sum_cv < 0.05
    assert len(c.warnings) == 1 and "--no-covariate-main" in c.warnings[0] and "Group" in c.warnings[0]
    c = collinearity(build_design(sim.proportions, sim.covariates, include_covariate_main=False))
    assert c.warnings == () and c.vif.max() < 30
    panel = sim.proportions * 0.6  # a panel covering 60 % of the cells in every sample: as collinear
    assert "--no-covariate-main" in collinearity(build_design(panel, sim.covariates)).warnings[0]
    rng = np.random.default_rng(0)  # totals that vary between samples (CV ~ 20 %): the main term is separable
    varied = sim.proportions.mul(rng.uniform(0.4, 1.0, len(sim.proportions)), axis=0)
    assert collinearity(build_design(varied, sim.covariates)).warnings == ()
