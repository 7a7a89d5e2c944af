"""engine.tdist against scipy.special.stdtr (the library it tabulates) and the closed forms of
df = 1 and 2, on t spread over nine orders of magnitude, with the infinities and NaN."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from engine.tdist import t_two_sided


def _t(n: int = 200_000) -> np.ndarray:
    rng = np.random.default_rng(11)
    t = rng.normal(size=n) * 10.0 ** rng.uniform(-3, 6.5, n)
    t[:10] = [0.0, -0.0, 8.0, np.nextafter(8.0, 0), 1e6, np.nextafter(1e6, 0), np.inf, -np.inf, np.nan, 1 / 512]
    return t


@pytest.mark.parametrize("df", [1.0, 2.0, 3.5, 13.0, 30.0, 100.0, 977.0, 1e5])
def test_equals_stdtr(df):
    t = _t()
    got = t_two_sided(t, df)
    ref = 2.0 * special.stdtr(df, -np.abs(t))
    shown = ref > 1e-290
    rtol = 1e-8 if df <= 2 else (5e-9 if df > 1000 else 1e-10)  # stdtr is off by 2e-9 near 0 at df 1
    np.testing.assert_allclose(got[shown], ref[shown], rtol=rtol, atol=0)
    assert np.isnan(got[8]) and got[6] == got[7] == 0.0 and got[0] == got[1] == 1.0
    finite = ~np.isnan(got)
    assert np.all((got[finite] >= 0) & (got[finite] <= 1)) and np.all(got[~shown & finite] <= 1e-280)


def test_closed_forms_of_one_and_two_degrees_of_freedom():
    a = np.abs(_t())[10:]
    keep = a < 1e6
    a = a[keep]
    r = np.sqrt(2.0 + a * a)  # the forms without cancellation in the tail
    np.testing.assert_allclose(t_two_sided(a, 1.0), 2.0 / np.pi * np.arctan2(1.0, a), rtol=1e-11)
    np.testing.assert_allclose(t_two_sided(a, 2.0), 2.0 / (r * (r + a)), rtol=1e-11)


def test_small_arrays_are_stdtr_itself():
    t = np.linspace(-50, 50, 1001)
    assert np.array_equal(t_two_sided(t, 13.0), 2.0 * special.stdtr(13.0, -np.abs(t)))
