"""Informative-term detector (1-D Gaussian mixture BIC), trimmed mean, BH."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from engine import detect
from engine.multitest import bh_adjust
from engine.robust import robust_mean, sfunc, sigma_r2


def test_gmm_components_and_binning_agree():
    rng = np.random.default_rng(0)
    normal = rng.standard_normal(1500)
    mixed = np.r_[rng.standard_normal(1425), rng.normal(5.0, 1.0, 75)]
    assert detect.gmm_n_components(normal) == 1
    assert detect.gmm_n_components(mixed) == 2
    # 2-component log-likelihood of a clear mixture: close to the true-parameter value
    true_ll = np.log(0.95 * stats.norm.pdf(mixed) + 0.05 * stats.norm.pdf(mixed, 5.0)).sum()
    assert detect.gmm_loglik(mixed, 2) >= true_ll - 1e-6
    big = np.r_[rng.standard_normal(19000), rng.normal(4.0, 1.0, 1000)]
    exact_n = detect.BIN_ABOVE
    try:
        ll_binned = detect.gmm_loglik(big, 2)
        detect.BIN_ABOVE = 10 ** 9
        ll_exact = detect.gmm_loglik(big, 2)
    finally:
        detect.BIN_ABOVE = exact_n
    assert ll_binned == pytest.approx(ll_exact, abs=2.0)  # BIC penalty step is 3 log m ~ 30
    eta = np.column_stack([normal, mixed, -mixed])
    np.testing.assert_array_equal(detect.informative_gmm(eta, np.array([1.0, 1.0, -1.0])), [False, True, False])


def test_shapiro_flags_skewed_terms():
    rng = np.random.default_rng(1)
    eta = np.column_stack([rng.standard_normal(2000), rng.exponential(size=2000)])
    np.testing.assert_array_equal(detect.informative_shapiro(eta, np.ones(2)), [False, True])


def test_trimmed_mean_recovers_centre_under_asymmetric_outliers():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4000, 3)) + np.array([0.3, -0.2, 0.0])
    x[:400, 0] += 6.0
    r = robust_mean(x, np.eye(3), max_iter=30, tol=1e-6)
    assert np.abs(r.mu_est - [0.3, -0.2, 0.0]).max() < 0.1
    assert abs(x.mean(axis=0)[0] - 0.3) > 0.5
    s, ds = sfunc(0.0, 10.0, 3)
    assert s == pytest.approx(0.0, abs=1e-12) and ds == pytest.approx(1.0, abs=1e-6)
    # per-coordinate variance inside the median ball: check by Monte Carlo
    z = rng.standard_normal((200_000, 2))
    inside = (z ** 2).sum(axis=1) <= stats.chi2.ppf(0.5, 2)
    assert sigma_r2(0.5, 2) == pytest.approx(z[inside, 0].var(), rel=0.02)


def test_bh_matches_definition():
    p = np.array([0.01, 0.04, 0.03, 0.2, np.nan])
    adj = bh_adjust(p)
    np.testing.assert_allclose(adj[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert np.isnan(adj[4])


def test_gmm_loglik_reaches_the_maximum_found_by_scikit_learn():
    """The vectorised EM (tol 1e-5, as mclust) stops within a small fraction of a BIC step of the
    maximum log-likelihood scikit-learn's EM finds with a tight tolerance and several starts."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    two = np.r_[rng.standard_normal(1425), rng.normal(5.0, 1.0, 75)]
    three = np.r_[rng.normal(-3, 0.5, 300), rng.standard_normal(900), rng.normal(4, 1.5, 300)]
    for x, k in ((two, 2), (three, 2), (three, 3)):
        gm = GaussianMixture(k, tol=1e-12, max_iter=10_000, n_init=5, random_state=0, reg_covar=0.0).fit(x[:, None])
        best = gm.score(x[:, None]) * x.size
        ours = detect.gmm_loglik(x, k)
        assert best - 0.5 <= ours <= best + 1e-6, (k, ours, best)
