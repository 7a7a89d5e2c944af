"""Rectangle bounds on a monotone scale, tested in raw units: only events near a bound are transformed.

A rectangle (or range) gate on a logicle, asinh, biex ... axis asks ``lo <= T(x) < hi``. These
scales are non-decreasing, so far from ``T^-1(lo)`` and ``T^-1(hi)`` the answer follows from the
raw value alone. For each bound ``v`` :func:`raw_window` finds raw values ``xa < T^-1(v) < xb`` with
``T(xa) < v - delta`` and ``T(xb) > v + delta`` as computed, where ``delta = 1e-9 (1 + |v|)`` is
many orders of magnitude above the rounding error of any of these scales. Every event below
``xa`` is then below ``v`` and every event above ``xb`` is at or above it, exactly as the
transformed value would say; events inside a window (and NaN) are transformed and compared as before.
The memberships are therefore those of transform-then-compare, event for event
(``tests/gating/test_monotone.py``); ``benchmarks/bench_gating.py`` and ``bench_workspaces.py``
measure the gain.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .transforms import (
    AsinhTransform,
    FlowJoBiexTransform,
    FlowJoLogTransform,
    HyperlogTransform,
    LinearTransform,
    LogicleTransform,
    LogTransform,
    Transform,
)

__all__ = ["MONOTONE", "raw_window", "bounds_mask", "worth_it"]

#: scales that never decrease (their Gating-ML bounds only clamp, which keeps that)
MONOTONE = (LinearTransform, LogTransform, AsinhTransform, LogicleTransform, HyperlogTransform,
            FlowJoBiexTransform, FlowJoLogTransform)
_REL = 1e-9
_LADDER = 4.0 ** np.arange(48)  # steps away from T^-1(v): 1e-12 .. ~1e17 times its size


def worth_it(t: Transform) -> bool:
    """Whether testing raw values beats transforming them (measured: bench_gating, bench_workspaces).

    The raw test costs about ten boolean passes over contiguous values: it pays for logicle,
    hyperlog and biex (exps, a table, a search per event) and for asinh, not for linear and log.
    """
    return isinstance(t, (LogicleTransform, HyperlogTransform, FlowJoBiexTransform, AsinhTransform))


def _trusted(t: Transform) -> float:
    """Raw magnitude up to which the scale is computed as a non-decreasing function: logicle and
    hyperlog leave their table (and flowutils breaks down on huge values) beyond ``1e3 T``."""
    return 1e3 * t.t if isinstance(t, (LogicleTransform, HyperlogTransform)) else np.inf


def _monotone(t: Transform) -> bool:
    if not isinstance(t, MONOTONE):
        return False
    if isinstance(t, LinearTransform):
        return t.t + t.a > 0
    if isinstance(t, FlowJoBiexTransform):
        return bool(np.all(np.diff(t._lut()[0]) > 0))
    return True


@lru_cache(maxsize=1024)
def raw_window(t: Transform, v: float) -> tuple[float, float] | None:
    """``(xa, xb)``: raw ``x < xa`` has ``T(x) < v``, raw ``x > xb`` has ``T(x) >= v``; None if not found."""
    if not _monotone(t):
        return None
    with np.errstate(all="ignore"):
        x0 = float(np.asarray(t.inverse(np.array([v])), dtype=np.float64).reshape(-1)[0])
    if not np.isfinite(x0):
        return None
    delta = _REL * (1.0 + abs(v))
    steps = 1e-12 * max(abs(x0), 1.0) * _LADDER
    below, above = x0 - steps, x0 + steps
    ys_below, ys_above = t.apply(below), t.apply(above)
    ok_below = np.flatnonzero(ys_below < v - delta)
    ok_above = np.flatnonzero(ys_above > v + delta)
    if not (ok_below.size and ok_above.size):
        return None  # flat near v (a clamped bound, say): every event is tested exactly
    return float(below[ok_below[0]]), float(above[ok_above[0]])


def bounds_mask(t: Transform, x: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray | None:
    """``(T(x) >= lo) & (T(x) < hi)`` (a None bound is open) for raw ``x``; None when not applicable.

    NaN events and events beyond the scale's trusted range are transformed; an infinite event is
    otherwise decided like any other (every scale in :data:`MONOTONE` maps it to its range's end).
    """
    if lo is None and hi is None:
        return None
    windows = [(is_lo, raw_window(t, v)) for is_lo, v in ((True, lo), (False, hi)) if v is not None]
    if any(w is None for _, w in windows):
        return None
    x = np.asarray(x, dtype=np.float64)
    inside: np.ndarray | None = None
    settled: np.ndarray | None = None  # events the raw windows decide
    for is_lo, (xa, xb) in windows:
        below, above = x < xa, x > xb  # surely < v, surely >= v (NaN: neither)
        if is_lo:
            inside = above if inside is None else np.logical_and(inside, above, out=inside)
            decided = np.logical_or(below, above, out=below)
        else:
            inside = below if inside is None else np.logical_and(inside, below, out=inside)
            decided = np.logical_or(above, below, out=above)
        settled = decided if settled is None else np.logical_and(settled, decided, out=settled)
    assert inside is not None and settled is not None
    trusted = _trusted(t)
    if trusted < np.inf:  # raw values beyond the trusted range are transformed
        settled &= np.abs(x) <= trusted
    if settled.all():
        return inside
    # events inside a window, NaN (which a log scale maps to -inf) and beyond the trusted range
    idx = np.flatnonzero(~settled)
    y = t.apply(x[idx])
    ok = y >= lo if lo is not None else np.ones(idx.size, dtype=bool)
    if hi is not None:
        ok &= y < hi
    inside[idx] = ok
    return inside
