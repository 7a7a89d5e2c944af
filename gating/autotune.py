"""Per-sample gate adaptation: translate a template gate, within a bound, into the density valley.

A well-placed gate has its boundary where few events are (between populations).  For one
sample, :func:`autotune_gate` searches translations of the gate (in the gate's own compensated +
transformed coordinates, each axis bounded by ``max_shift`` x the axis span of the parent's
events) that minimise the number of parent events lying on the gate boundary, with a small
penalty on the size of the move so that ties keep the gate where it was.  Works for rectangles
(open bounds move only their finite side), ranges, polygons, ellipsoids and quadrant dividers;
Boolean gates are never moved.  The result says how far the gate moved, for the user to approve.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from .gates import BooleanGate, EllipsoidGate, Gate, PolygonGate, QuadrantGate, RectangleGate
from .strategy import GatingStrategy

__all__ = ["TuneResult", "autotune_gate", "translate_gate"]


@dataclass(frozen=True)
class TuneResult:
    """Tuned gate, the move (``moved``: per-dimension shift in gate coordinates; ``shift``: its
    size as a fraction of the axis span), and the boundary event counts before/after."""

    gate: Gate
    shift: float
    moved: tuple[float, ...]
    boundary_before: int = 0
    boundary_after: int = 0


def translate_gate(gate: Gate, d: np.ndarray | tuple[float, ...]) -> Gate:
    """The gate moved by ``d`` (one offset per dimension, gate coordinates)."""
    d = tuple(float(x) for x in d)
    if isinstance(gate, BooleanGate) or not any(d):
        return gate
    if isinstance(gate, RectangleGate):
        return dataclasses.replace(
            gate, mins=tuple(None if v is None else v + s for v, s in zip(gate.mins, d)),
            maxs=tuple(None if v is None else v + s for v, s in zip(gate.maxs, d)))
    if isinstance(gate, PolygonGate):
        return dataclasses.replace(gate, vertices=tuple((x + d[0], y + d[1]) for x, y in gate.vertices))
    if isinstance(gate, EllipsoidGate):
        return dataclasses.replace(gate, mean=tuple(m + s for m, s in zip(gate.mean, d)))
    if isinstance(gate, QuadrantGate):
        divs = tuple(dataclasses.replace(dv, values=tuple(v + s for v in dv.values)) for dv, s in zip(gate.dividers, d))
        quads = tuple(dataclasses.replace(q, positions=tuple((did, p + d[[dv.id for dv in gate.dividers].index(did)])
                                                             for did, p in q.positions)) for q in gate.quadrants)
        return dataclasses.replace(gate, dividers=divs, quadrants=quads)
    raise TypeError(f"cannot move a {type(gate).__name__}")


def _labels(gate: Gate, pts: np.ndarray) -> np.ndarray:
    res = gate.contains(pts)
    if isinstance(res, dict):
        lab = np.full(pts.shape[0], -1, dtype=np.int64)
        for i, m in enumerate(res.values()):
            lab[np.asarray(m, dtype=bool)] = i
        return lab
    return np.asarray(res, dtype=np.int64)


def _boundary_count(gate: Gate, pts: np.ndarray, d: np.ndarray, band: np.ndarray) -> int:
    """Events within ``band`` of the boundary of the gate moved by ``d`` (axis-wise probe)."""
    x = pts - d
    hits = np.zeros(x.shape[0], dtype=bool)
    for j in range(x.shape[1]):
        if band[j] <= 0:
            continue
        lo, hi = x.copy(), x.copy()
        lo[:, j] -= band[j]
        hi[:, j] += band[j]
        hits |= _labels(gate, lo) != _labels(gate, hi)
    return int(np.count_nonzero(hits))


def autotune_gate(sample: Any, strategy: GatingStrategy, gate_id: str, *, max_shift: float = 0.1,
                  parent_mask: np.ndarray | None = None, band: float = 0.02, penalty: float = 0.05,
                  max_events: int = 20_000, random_state: int = 0) -> TuneResult:
    """Move ``gate_id`` toward the density valley of this sample (bounded translation).

    ``max_shift`` and ``band`` are fractions of each axis span (0.5-99.5 percentile range of
    the parent's events); ``parent_mask`` (bool per event) saves re-gating the parent.  At most
    ``max_events`` parent events (seeded subsample) enter the search.
    """
    gate = strategy.gates.get(gate_id) or strategy.gate_of(gate_id)
    if isinstance(gate, BooleanGate) or not gate.dimensions:
        return TuneResult(gate, 0.0, tuple(0.0 for _ in gate.dimensions))
    coords = strategy.gate_coordinates(sample, gate.population_ids()[0])
    if parent_mask is None:
        if gate.parent_id is None:
            parent_mask = np.ones(coords.shape[0], dtype=bool)
        else:
            parent_mask = strategy.evaluate(sample, populations=[gate.parent_id]).membership[gate.parent_id]
    pts = coords[np.asarray(parent_mask, dtype=bool)]
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    dim = pts.shape[1]
    if pts.shape[0] < 10:
        return TuneResult(gate, 0.0, (0.0,) * dim)
    if pts.shape[0] > max_events:
        rng = np.random.default_rng(random_state)
        pts = pts[np.sort(rng.choice(pts.shape[0], max_events, replace=False))]
    span = np.percentile(pts, 99.5, axis=0) - np.percentile(pts, 0.5, axis=0)
    span = np.where(span > 0, span, 1.0)
    bound = max_shift * span
    width = band * span

    def cost(d: np.ndarray) -> float:
        # narrow band = density on the boundary; wider bands see the tails and centre the gate
        shift = float(np.sqrt(np.sum((d / span) ** 2)) / max(max_shift, 1e-12))
        return sum(_boundary_count(gate, pts, d, width * f) / f for f in (1, 2.5, 5)) + penalty * base * shift

    zero = np.zeros(dim)
    b0 = _boundary_count(gate, pts, zero, width)
    base = max(sum(_boundary_count(gate, pts, zero, width * f) / f for f in (1, 2.5, 5)), 1.0)
    best, best_cost = zero, cost(zero)
    if max_shift > 0:
        steps = 8 if dim <= 2 else 3
        axes = [np.linspace(-bound[j], bound[j], 2 * steps + 1) for j in range(dim)]
        for cand in np.array(np.meshgrid(*axes, indexing="ij")).reshape(dim, -1).T:
            c = cost(cand)
            if c < best_cost:
                best, best_cost = cand, c
        step = bound / steps
        for _ in range(2):  # refine around the best grid point
            step = step / 4
            fine = [best[j] + np.arange(-4, 5) * step[j] for j in range(dim)]
            for cand in np.array(np.meshgrid(*fine, indexing="ij")).reshape(dim, -1).T:
                cand = np.clip(cand, -bound, bound)
                c = cost(cand)
                if c < best_cost:
                    best, best_cost = cand, c
    moved = tuple(float(v) for v in best)
    tuned = translate_gate(gate, best)
    return TuneResult(tuned, float(np.sqrt(np.sum((best / span) ** 2))), moved, b0,
                      _boundary_count(gate, pts, best, width))
