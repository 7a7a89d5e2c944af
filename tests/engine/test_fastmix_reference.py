"""FastMix against R FastMix 0.2.5 on the public Simulation III reference set."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.arrayfit import fit_arrays
from engine.design import build_design
from engine.fastmix import FastMix

TOL = 1e-6


def close(a, b, tol=TOL, floor=1e-3):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    assert a.shape == b.shape
    err = np.max(np.abs(a - b) / np.maximum(np.abs(b), floor))
    assert err <= tol, err


@pytest.fixture(scope="module")
def ref(shared_dir):
    folder = shared_dir / "data/reference/sim3"
    return lambda name, **kw: pd.read_csv(folder / name, **({"index_col": 0} | kw))


@pytest.fixture(scope="module")
def model(ref):
    return FastMix(variance="pooled", permutations=0).fit(ref("expr.csv"), ref("cellprop.csv"), ref("covariates.csv"))


@pytest.fixture(scope="module")
def raw(ref):
    X = ref("design_X.csv")
    return fit_arrays(ref("expr.csv").to_numpy(), X.to_numpy(), X.columns)


def test_design_equals_r(ref):
    d = build_design(ref("cellprop.csv"), ref("covariates.csv"))
    X = ref("design_X.csv")
    assert d.names == tuple(X.columns)
    assert d.kinds == ("cell",) * 3 + ("covariate",) + ("interaction",) * 3
    assert d.samples == tuple(X.index)
    close(d.X, X.to_numpy(), 1e-12)


def test_internal_quantities(raw, ref):
    sc = ref("R_internal_scalars.csv")["value"]
    assert raw.sigma2 == pytest.approx(sc["var.epsilon"], rel=1e-10)
    close(raw.rss, ref("R_internal_per_gene.csv")["rss"], 1e-9)
    close(raw.ols_deviation, ref("R_internal_ols_deviation.csv"), 1e-8)
    close(raw.D_initial, ref("R_internal_D_initial.csv"), 1e-10)
    close(raw.eta3_initial, ref("R_internal_initial_eta_stat3.csv"))
    per_term = ref("R_internal_per_term.csv")
    close(raw.rr0.mu_est, per_term["rr_ols_mu_est"], 1e-8)
    assert raw.rr0.n_iter == sc["rr_ols_niter"]
    assert raw.rr0.v_inflation == pytest.approx(sc["rr_ols_V.inflation"], rel=1e-8)
    assert raw.rr0.radius == pytest.approx(sc["rr_ols_R"], rel=1e-10)
    assert not raw.informative.any() and raw.trim_df == sc["trimdf"] == 0
    close(raw.D_refit, ref("R_internal_D_refit.csv"), 1e-10)


def test_fixed_effects(model, ref):
    fx = ref("R_fastmix_fixed_results.csv", index_col=None).set_index("term")
    fe = model.fixed_effects_
    assert list(fe.index) == list(fx.index)
    close(fe["estimate"], fx["betahat"])
    close(fe["t"], fx["tstat"])
    close(fe["p_value"], fx["p.value"])
    close(fe["p_adj"], fx["p.adj"])
    assert (fe["df"] == fx["df"]).all() and fe["df"].iloc[0] == 42
    assert fe.loc["Cell1", "estimate"] == pytest.approx(1.4590, abs=1e-4)
    close(model.sigma_beta_, ref("R_fastmix_sigma_beta.csv"), floor=1e-9)


def test_per_gene_outputs(model, ref):
    close(model.coef_, ref("R_fastmix_beta_mat.csv"))
    close(model.random_effects_, ref("R_fastmix_random_effects_eblup.csv"))
    p = ref("R_fastmix_re_ind_pvalue.csv").to_numpy()
    ok = p > 1e-12
    close(model.quasi_p_.to_numpy()[ok], p[ok])
    close(model.quasi_fdr_, ref("R_fastmix_re_ind_padj_BH_posthoc.csv"))
    ov = ref("R_fastmix_re_overall.csv", index_col=None)
    close(model.overall_stat_, ov["eta"])
    ok = ov["re.pvalue"].to_numpy() > 1e-12
    close(model.overall_p_.to_numpy()[ok], ov["re.pvalue"].to_numpy()[ok])
    assert list(model.coef_.index) == list(ov["gene"])


def test_covariances(model, ref):
    close(model.D_, ref("R_fastmix_cov_D.csv"))
    close(model.var_eblup_, ref("R_fastmix_var_eblup_mean.csv"))
    vc = ref("R_fastmix_VC.csv")
    close(np.sqrt(np.maximum(np.diag(model.D_), 0)), vc["sigma.gamma"])
    assert np.sqrt(model.sigma2_) == pytest.approx(vc["sigma.e"].iloc[0], rel=1e-10)
    assert not model.informative_.any() and model.kept_genes_ == 5000


def test_power_and_type1_on_reference(model, ref):
    truth = ref("truth_deg.csv").astype(bool)
    hit = model.quasi_p_ < 0.05
    assert hit["Cell1.Group"][truth["Cell1.Group"]].mean() == pytest.approx(0.608, abs=1e-9)
    assert hit["Cell2.Group"][truth["Cell2.Group"]].mean() == pytest.approx(0.560, abs=1e-9)


def test_results_object(model):
    res = model.results_
    tidy = res.to_frame()
    assert list(tidy.columns) == ["gene", "term", "coefficient", "random_effect", "quasi_p",
                                  "quasi_fdr", "ols_p", "ols_fdr", "perm_p", "perm_fdr", "attribution", "fdr", "rank"]
    assert len(tidy) == 5000 * 7
    one = res.to_frame("Cell1.Group")
    assert one["rank"].tolist() == list(range(1, 5001))
    assert np.all(np.diff(one["quasi_p"].to_numpy()) >= 0)
    assert one.iloc[0]["gene"] == model.quasi_p_["Cell1.Group"].idxmin()
    assert res.term_kinds["Cell2.Group"] == "interaction" and res.term_kinds["Group"] == "covariate"
    assert list(res.fixed_effects.reset_index().columns) == ["term", "estimate", "std_error", "t", "df", "p_value",
                                                             "p_adj"]
    assert res.informative_terms == [] and res.kept_genes == 5000
    assert "Cell1.Group" in res.summary() and "quasi_p" in res.column_descriptions
    X = model.design_.X
    fitted = model.fitted_
    assert fitted.shape == (5000, 50) and list(fitted.columns) == list(model.design_.samples)
    np.testing.assert_allclose(fitted.iloc[7].to_numpy(), model.coef_.iloc[7].to_numpy() @ X.T, rtol=1e-12)
    assert set(res.parameters) >= {"trim", "detector", "bias", "independent"}
