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


def _reference_gmm_loglik(x, k, tol=1e-5, max_iter=5_000):
    """Plain one-column EM (points x components, log-sum-exp with scipy) with the
    detector's start, binning and stopping rule: the vectorised EM must match it."""
    from scipy.special import logsumexp

    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    n = x.size
    cuts = np.quantile(x, np.linspace(0.0, 1.0, k + 1))
    if n > detect.BIN_ABOVE:
        lo, hi = x.min(), x.max()
        width = (hi - lo) / detect.N_BINS if hi > lo else 1.0
        idx = np.minimum(((x - lo) / width).astype(np.int64), detect.N_BINS - 1)
        w = np.bincount(idx, minlength=detect.N_BINS).astype(np.float64)
        pts = lo + (np.arange(detect.N_BINS) + 0.5) * width
    else:
        pts, w = x, np.ones(n)
    z = np.eye(k)[np.searchsorted(cuts[1:k], pts, side="left")]  # class = interior cuts below
    eps = np.finfo(float).eps
    scale = max(1.0, np.abs(pts).max()) ** 2
    old = np.inf
    for _ in range(max_iter):
        nk = w @ z
        mean = (w * pts) @ z / np.maximum(nk, eps)
        var = (w * pts * pts) @ z / np.maximum(nk, eps) - mean ** 2
        if np.any(nk <= eps) or np.any(var <= eps * scale):
            return np.nan
        logd = (np.log(nk / n) - 0.5 * (np.log(2 * np.pi) + np.log(var))
                - 0.5 * (pts[:, None] - mean) ** 2 / var)
        point_ll = logsumexp(logd, axis=1)
        ll = float(w @ point_ll)
        z = np.exp(logd - point_ll[:, None])
        if abs(ll - old) / (1.0 + abs(ll)) < tol:
            return ll
        old = ll
    return ll


@pytest.mark.parametrize("tiny", [None, 0.0, np.inf])  # default, never / always log-sum-exp shift
def test_vectorised_em_equals_plain_reference(monkeypatch, tiny):
    if tiny is not None:
        monkeypatch.setattr(detect, "_TINY", tiny)
    rng = np.random.default_rng(5)
    data = [rng.standard_normal(1500),  # exact (unbinned) path
            np.r_[rng.standard_normal(1425), rng.normal(5.0, 1.0, 75)],
            np.r_[rng.standard_normal(4750), rng.normal(4.0, 0.5, 250)],  # binned, empty bins dropped
            np.r_[rng.normal(-3, 0.5, 3000), rng.standard_normal(6000), rng.normal(4, 1.5, 3000)],
            rng.standard_t(2, 8000)]  # heavy tails: far, sparsely filled bins
    for x in data:
        for k in (2, 3):
            ours, ref = detect.gmm_loglik(x, k), _reference_gmm_loglik(x, k)
            assert ours == pytest.approx(ref, rel=1e-12), (x.size, k)
    # all columns at once (one batch, columns dropping out at different iterations) equal
    # the columns fitted one by one
    eta = np.column_stack([d[:1500] for d in data])
    batch = detect._em_multi(*detect._points(eta - eta.mean(axis=0)), 1500,
                             detect._cuts(eta - eta.mean(axis=0), [3])[3], 1e-5, 5_000)
    one = [detect.gmm_loglik(eta[:, j], 3) for j in range(eta.shape[1])]
    np.testing.assert_allclose(batch, one, rtol=1e-13)


def test_bh_equals_definition_with_ties_nans_and_axes():
    rng = np.random.default_rng(3)
    p = np.round(rng.random((400, 6)) ** 3, 3)  # many ties
    p[rng.random(p.shape) < 0.05] = np.nan
    p[:, 5] = np.nan
    ref = np.full_like(p, np.nan)
    for j in range(p.shape[1]):  # R p.adjust(p, "BH") on the non-missing values
        ok = ~np.isnan(p[:, j])
        v = p[ok, j]
        if v.size:
            o = np.argsort(v, kind="stable")
            adj = np.minimum.accumulate((v[o] * v.size / np.arange(1, v.size + 1))[::-1])[::-1]
            col = np.empty_like(v)
            col[o] = np.minimum(adj, 1.0)
            ref[ok, j] = col
    np.testing.assert_array_equal(bh_adjust(p), ref)
    np.testing.assert_array_equal(bh_adjust(p.T, axis=1), ref.T)
    np.testing.assert_array_equal(bh_adjust(np.stack([p, p]), axis=1), np.stack([ref, ref]))
    assert bh_adjust(np.zeros((0, 3))).shape == (0, 3)


def test_sfunc_equals_scipy_stats_formula():
    for q in (1, 2, 3, 11):
        for mu in (0.0, 0.4, 2.5):
            x = np.linspace(-2.5, 2.5, 501)
            h = (stats.chi2.cdf(2.5 ** 2 - x ** 2, q - 1) if q > 1 else np.ones_like(x)) * stats.norm.pdf(x - mu)
            b, t, hh = (np.sum(h) * 0.01, np.sum(x * h) * 0.01, np.sum(x * x * h) * 0.01)
            s, ds = sfunc(mu, 2.5, q)
            assert s == pytest.approx(t / b, rel=1e-13) and ds == pytest.approx((hh * b - t * t) / b ** 2, rel=1e-12)
