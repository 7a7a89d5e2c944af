"""Gating-ML 2.0 transforms against their defining formulas and FlowJo's biex look-up table."""
from __future__ import annotations

import numpy as np
import pytest

from gating.transforms import (
    AsinhTransform,
    FlowJoBiexTransform,
    FlowJoLogTransform,
    HyperlogTransform,
    LinearTransform,
    LogicleTransform,
    LogTransform,
    RatioTransform,
    biex_lut,
    make_transform,
    transform_from_dict,
)

X = np.array([-500.0, -10.0, 0.0, 1.0, 37.5, 1000.0, 9999.0, 10000.0])


def test_flin_formula_and_inverse():
    t = LinearTransform("lin", t=10000, a=500)
    np.testing.assert_allclose(t.apply(X), (X + 500) / 10500)
    assert t.apply([-500.0])[0] == 0.0 and t.apply([10000.0])[0] == 1.0
    np.testing.assert_allclose(t.inverse(t.apply(X)), X)


def test_flog_formula_and_decade_anchors():
    t = LogTransform("log", t=10000, m=5)
    pos = X[X > 0]
    np.testing.assert_allclose(t.apply(pos), np.log10(pos / 10000) / 5 + 1)
    np.testing.assert_allclose(t.apply([10000.0, 0.1]), [1.0, 0.0], atol=1e-15)
    assert t.apply([-1.0, 0.0]).tolist() == [-np.inf, -np.inf]
    np.testing.assert_allclose(t.inverse(t.apply(pos)), pos)


def test_fasinh_formula_anchors_and_inverse():
    t = AsinhTransform("as", t=10000, m=4, a=1)
    ln10 = np.log(10)
    expected = (np.arcsinh(X * np.sinh(4 * ln10) / 10000) + ln10) / (5 * ln10)
    np.testing.assert_allclose(t.apply(X), expected)
    np.testing.assert_allclose(t.apply([0.0, 10000.0]), [1 / 5, 1.0])
    np.testing.assert_allclose(t.inverse(t.apply(X)), X, atol=1e-9)


@pytest.mark.parametrize("cls", [LogicleTransform, HyperlogTransform])
@pytest.mark.parametrize("w,m,a", [(0.5, 4.5, 0.0), (1.0, 4.0, 0.5)])
def test_logicle_hyperlog_anchor_points(cls, w, m, a):
    t = cls("x", t=10000, w=w, m=m, a=a)
    # both scales map T to 1 and 0 to (W + A) / (M + A)
    np.testing.assert_allclose(t.apply([10000.0, 0.0]), [1.0, (w + a) / (m + a)], atol=1e-9)
    y = t.apply(X)
    assert np.all(np.diff(y) > 0), "must be strictly increasing"
    np.testing.assert_allclose(t.inverse(y), X, rtol=1e-6, atol=1e-6)


def test_logicle_far_above_linear_region_is_logarithmic():
    t = LogicleTransform("l", t=262144, w=0.5, m=4.5, a=0)
    # one decade below T the logicle scale is within 1e-3 of the pure log scale (1 - 1/M)
    assert t.apply([26214.4])[0] == pytest.approx(1 - 1 / 4.5, abs=1e-3)


def test_bounds_clamp_after_transform():
    t = LinearTransform("lb", t=10000, a=500, bound_min=0.05, bound_max=0.5)
    y = t.apply([-500.0, 0.0, 1000.0, 5000.0, 10000.0])
    np.testing.assert_allclose(y, [0.05, 0.05, 1500 / 10500, 0.5, 0.5])
    lo_only = LogTransform("l", t=100, m=2, bound_min=0.0)
    assert lo_only.apply([0.5])[0] == 0.0  # log(0.5/100)/2 + 1 < 0 is clamped
    assert lo_only.apply([100.0])[0] == pytest.approx(1.0)


def test_ratio_transform_formula():
    r = RatioTransform("r", channels=("FL2-H", "FL2-A"), a=2.7, b=-100, c=-300)
    pair = np.array([[10.0, 20.0], [0.0, 1.0], [50.0, 49.0]])
    np.testing.assert_allclose(r.apply(pair), 2.7 * (pair[:, 0] + 100) / (pair[:, 1] + 300))
    with pytest.raises(NotImplementedError):
        r.inverse([1.0])


def test_flowjo_biex_matches_flowjo_exported_lut(shared_dir):
    path = shared_dir / "data/fcs/flowkit/tr_biex_l256_w-7.943282_n1.000000_m4.418540_r262144.000029.csv"
    lut = np.loadtxt(path, delimiter=",", skiprows=1)
    data, channels = biex_lut(width=-7.943282, negative=1.0, positive=4.41854, max_value=262144.000029)
    assert lut.shape == (4096, 2)
    np.testing.assert_array_equal(channels[:4096], lut[:, 0])
    # FlowJo prints 6 significant digits; the table spans -866 .. 260651
    np.testing.assert_allclose(data[:4096], lut[:, 1], rtol=5e-6, atol=1e-3)
    t = FlowJoBiexTransform("b", width=-7.943282, negative=1.0, positive=4.41854, max_value=262144.000029)
    np.testing.assert_allclose(t.apply(lut[::97, 1]), lut[::97, 0], atol=0.01)
    np.testing.assert_allclose(t.inverse(t.apply(X)), X, rtol=1e-9, atol=1e-6)


def test_flowjo_log_clamps_below_offset():
    t = FlowJoLogTransform("fl", offset=10, decades=4)
    np.testing.assert_allclose(t.apply([-5.0, 10.0, 1e5]), [0.0, 0.0, 1.0])


def test_make_transform_defaults_and_errors():
    assert make_transform("logicle") == LogicleTransform("logicle", t=262144.0, w=0.5, m=4.5, a=0.0)
    t = make_transform("arcsinh", id="cd3", t=10000)
    assert isinstance(t, AsinhTransform) and t.id == "cd3" and t.t == 10000 and t.m == 4.5
    assert isinstance(make_transform("biex"), FlowJoBiexTransform)
    assert make_transform("linear").apply([262144.0])[0] == 1.0
    assert make_transform("log").apply([262144.0])[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown transform kind"):
        make_transform("banana")


def test_dict_round_trip_for_every_kind():
    items = [LinearTransform("a", 5, 1, bound_min=0.1), LogTransform("b", 100, 2, bound_max=1.0),
             AsinhTransform("c", 1e4, 4, 1), LogicleTransform("d", 1e4, 1, 4, 0.5), HyperlogTransform("e"),
             RatioTransform("f", channels=("x", "y"), a=1, b=0, c=-1), FlowJoBiexTransform("g", width=-100),
             FlowJoLogTransform("h", 1, 5)]
    for t in items:
        assert transform_from_dict(t.to_dict()) == t


@pytest.mark.parametrize("cls,ref,params", [
    (LogicleTransform, "logicle", (10000, 0.5, 4.5, 0)), (LogicleTransform, "logicle", (262144, 1, 4, 0.5)),
    (LogicleTransform, "logicle", (262144, 0, 4.5, 0)), (HyperlogTransform, "hyperlog", (10000, 1, 4.5, 0)),
    (HyperlogTransform, "hyperlog", (262144, 0.5, 4.5, 1))])
def test_vectorised_logicle_hyperlog_agree_with_flowutils(cls, ref, params):
    from flowutils import transforms as fu

    rng = np.random.default_rng(5)
    t = params[0]
    x = np.concatenate([rng.uniform(-0.05 * t, 1.1 * t, 20000), rng.lognormal(3, 3, 5000),
                        -rng.lognormal(3, 2, 2000), [0.0, -1e4 * t, 1e4 * t, 1.0, -1.0]])
    got = cls("x", *params).apply(x)
    exp = getattr(fu, ref)(x.copy(), None, t=t, w=params[1], m=params[2], a=params[3])
    np.testing.assert_allclose(got, exp, rtol=0, atol=1e-14)
    special = cls("x", *params).apply(np.array([np.nan, np.inf, -np.inf]))
    assert np.isnan(special[0]) and special[1] == np.inf and special[2] == -np.inf
