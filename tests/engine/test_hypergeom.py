"""engine.hypergeom against scipy.stats.hypergeom.sf, the library it stands in for (on a grid of
populations, draws, set sizes and overlaps from the support's edges to its far tail)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from engine.hypergeom import hypergeom_sf


@pytest.mark.parametrize("N", [1, 10, 57, 1000, 12625, 60000])
def test_upper_tail_equals_scipy(N):
    rng = np.random.default_rng(N)
    for n in sorted(v for v in {0, 1, 2, 3, 7, N // 7, N // 2, N - 1, N} if 0 <= v <= N):
        K = rng.integers(0, N + 1, 300)
        k = np.array([rng.integers(0, min(Ki, n) + 2) for Ki in K])  # 0 up to one past the support
        k[:5] = [0, 1, min(n, N), n + 1, max(n - (N - K[4]), 0)]
        got = hypergeom_sf(k, N, K, n)
        ref = stats.hypergeom.sf(k - 1, N, K, n)
        shown = ref > 1e-290
        np.testing.assert_allclose(got[shown], ref[shown], rtol=1e-8, atol=0)
        assert np.all(got[~shown] < 1e-280) and np.all((got >= 0) & (got <= 1))


def test_go_sized_call_lists_and_enriched_sets():
    rng = np.random.default_rng(7)
    K = rng.integers(10, 500, 6500)
    for n, shift in ((600, 0), (600, 5), (3000, 20)):
        k = np.minimum(rng.binomial(K, n / 12625) + shift, np.minimum(K, n))
        np.testing.assert_allclose(hypergeom_sf(k, 12625, K, n), stats.hypergeom.sf(k - 1, 12625, K, n),
                                   rtol=1e-8, atol=0)


def test_bad_parameters():
    with pytest.raises(ValueError, match="0 <= K <= N"):
        hypergeom_sf([1], 10, [11], 3)
