"""gating.monotone: bounds tested in raw units equal transform-then-compare, event for event."""
from __future__ import annotations

import numpy as np
import pytest

from gating.gates import RectangleGate
from gating.monotone import bounds_mask, raw_window
from gating.transforms import (
    AsinhTransform,
    FlowJoBiexTransform,
    FlowJoDisplayTransform,
    FlowJoLogTransform,
    HyperlogTransform,
    LinearTransform,
    LogicleTransform,
    LogTransform,
    RatioTransform,
)

SCALES = [
    LinearTransform("lin", t=262144.0, a=0.0),
    LinearTransform("lin_a", t=1024.0, a=50.0, bound_min=0.0, bound_max=1.0),
    LogTransform("log", t=262144.0, m=4.5),
    AsinhTransform("asinh", t=262144.0, m=4.5, a=0.0),
    AsinhTransform("asinh_fj", t=262144.0, m=1.0, a=0.0),
    LogicleTransform("logicle", t=262144.0, w=0.5, m=4.5, a=0.0),
    LogicleTransform("logicle_10k", t=10000.0, w=0.5, m=4.5, a=0.0, bound_min=0.0),
    HyperlogTransform("hyperlog", t=10000.0, w=1.0, m=4.5, a=0.0),
    FlowJoBiexTransform("biex", width=-10.0, negative=0.0, positive=4.418539922, max_value=262144.0),
    FlowJoLogTransform("fjlog", offset=1.0, decades=4.5),
]


def _events(rng: np.random.Generator, t, n: int = 60_000) -> np.ndarray:
    x = rng.normal(0.0, 1.0, n) * 10.0 ** rng.uniform(-2, 5.5, n)
    x[:50] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, 262144.0, 1e-300, -1e-300] * 5
    return x


def _bounds(t, x: np.ndarray, rng: np.random.Generator) -> list[tuple[float | None, float | None]]:
    y = t.apply(x)
    ys = np.sort(y[np.isfinite(y)])
    on = [float(v) for v in rng.choice(ys, 4)]  # bounds equal to some events' transformed values
    mid = [float(ys[len(ys) // 3]), float(ys[2 * len(ys) // 3])]
    return [(on[0], None), (None, on[1]), (min(on[2:]), max(on[2:])), (mid[0], mid[1]), (mid[1], mid[0])]


@pytest.mark.parametrize("t", SCALES, ids=lambda t: t.id)
def test_raw_bounds_equal_transform_then_compare(t):
    rng = np.random.default_rng(len(t.id))
    x = _events(rng, t)
    for lo, hi in _bounds(t, x, rng):
        for v in (lo, hi):  # events a few ulps either side of the raw bound
            if v is not None and raw_window(t, v) is not None:
                x0 = float(t.inverse(np.array([v]))[0])
                x = np.concatenate([x, x0 + np.arange(-20, 21) * np.spacing(x0), [x0]])
        want = RectangleGate.bounds(t.apply(x), lo, hi)
        got = bounds_mask(t, x, lo, hi)
        if got is None:  # only where a bound sits on a flat (clamped) stretch of the scale
            assert any(v is not None and raw_window(t, v) is None for v in (lo, hi))
            continue
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"{t.id} [{lo}, {hi}): {bad.size} events differ, e.g. x = {x[bad[:3]]}"


def test_flat_stretches_and_other_scales_are_tested_exactly():
    clamped = LogicleTransform("c", t=10000.0, w=0.5, m=4.5, a=0.0, bound_min=0.2)
    assert raw_window(clamped, 0.2) is None  # every x below the clamp maps to 0.2
    assert bounds_mask(clamped, np.array([1.0, -5.0]), 0.2, None) is None
    assert raw_window(LinearTransform("dec", t=-10.0, a=0.0), 0.5) is None  # decreasing
    assert raw_window(RatioTransform("r", channels=("A", "B")), 1.0) is None
    assert raw_window(FlowJoDisplayTransform("d", scale="table", table=(0.0, 5.0, 3.0)), 1.0) is None
    assert bounds_mask(SCALES[0], np.array([1.0]), None, None) is None


def test_window_is_narrow():
    t = SCALES[5]
    for v in (0.1, 0.3, 0.7):
        xa, xb = raw_window(t, v)
        x0 = float(t.inverse(np.array([v]))[0])
        assert xa < x0 < xb and (xb - xa) < 1e-3 * max(abs(x0), 1.0)
