"""Long gating jobs on samples already in memory (what the Gating tab runs in a worker).

``gating.batch.gate_batch`` gates files in worker processes; the open study has its samples read
already, so these functions gate the ``Sample`` objects with ``GatingStrategy.evaluate`` (per sample
strategies carry the accepted auto-tune overrides) and return the same :class:`BatchResult`. A
sample that could not be read (given as its error text) or gated is reported, the rest go on.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from gating.batch import COUNT_COLUMNS, BatchResult
from gating.progress import ProgressCallback, report
from gating.strategy import GatingStrategy
from study.gating_settings import DafiSettings

if TYPE_CHECKING:
    from gating.dafi import DafiRefiner

__all__ = ["autotune_samples", "first_line", "gate_samples", "parent_coordinates", "refine_sample", "sample_counts",
           "shift_text"]


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type name when it has none)."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def sample_counts(sample: Any, strategy: GatingStrategy) -> tuple[pd.DataFrame, int]:
    """Tidy counts of one sample (the columns of ``gate_batch``) and its number of events."""
    result = strategy.evaluate(sample)
    counts = result.counts()
    counts.insert(6, "engine", result.engine)
    return counts, int(result.event_count)


def gate_samples(items: Sequence[tuple[str, Any, GatingStrategy]], *,
                 progress: ProgressCallback | None = None) -> BatchResult:
    """Gate (name, sample or its read error, strategy) triples; one failing sample never stops the others."""
    frames, errors, events = [], {}, {}
    total = len(items)
    for i, (name, sample, strategy) in enumerate(items):
        report(progress, i, total, f"gating {name}")
        if isinstance(sample, str):
            errors[name] = sample
            continue
        try:
            counts, events[name] = sample_counts(sample, strategy)
            frames.append(counts)
        except Exception as exc:  # noqa: BLE001 - reported per sample
            errors[name] = first_line(exc)
    report(progress, total, total, "done")
    counts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COUNT_COLUMNS)
    return BatchResult(counts=counts, errors=errors, samples={n: n for n, _, _ in items if n in events},
                       event_counts=events)


def autotune_samples(items: Sequence[tuple[str, Any]], strategy: GatingStrategy, gate_id: str, *,
                     progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Auto-tune ``gate_id`` on each (name, sample or read error): {name: TuneResult or error text}."""
    from gating.autotune import autotune_gate
    out: dict[str, Any] = {}
    for i, (name, sample) in enumerate(items):
        report(progress, i, len(items), f"auto-tune {name}")
        if isinstance(sample, str):
            out[name] = sample
            continue
        try:
            out[name] = autotune_gate(sample, strategy, gate_id)
        except Exception as exc:  # noqa: BLE001 - reported per sample
            out[name] = first_line(exc)
    report(progress, len(items), len(items), "done")
    return out


def refine_sample(sample: Any, strategy: GatingStrategy, settings: DafiSettings, *,
                  progress: ProgressCallback | None = None) -> DafiRefiner:
    """DAFi refinement of one sample with the project's settings; returns the fitted ``DafiRefiner``."""
    from gating.dafi import DafiRefiner  # scikit-learn: loaded when DAFi first runs
    refiner = DafiRefiner(**settings.refiner_args())
    return refiner.fit(sample, strategy, progress=progress, **settings.fit_args())


def parent_coordinates(sample: Any, strategy: GatingStrategy, gate_id: str) -> np.ndarray:
    """Coordinates (n x 2) of the parent's events in a gate's dimensions (a 1-D gate's twice)."""
    gate = strategy.gates[gate_id]
    coords = strategy.gate_coordinates(sample, gate_id)
    if gate.parent_id is not None:
        coords = coords[strategy.evaluate(sample, populations=[gate.parent_id]).membership[gate.parent_id]]
    if coords.shape[1] == 1:
        coords = np.column_stack([coords[:, 0], coords[:, 0]])
    return coords


def _anchors(gate: Any) -> list[float | None]:
    """A point of the gate per dimension (gate coordinates): where its move is read in data units."""
    from gating.gates import EllipsoidGate, PolygonGate, QuadrantGate, RectangleGate
    n = len(gate.dimensions)
    if isinstance(gate, RectangleGate):
        out = []
        for lo, hi in zip(gate.mins, gate.maxs):
            finite = [v for v in (lo, hi) if v is not None and np.isfinite(v)]
            out.append(float(np.mean(finite)) if finite else None)
        return out
    if isinstance(gate, PolygonGate):
        return [float(v) for v in np.mean(np.asarray(gate.vertices, dtype=float), axis=0)]
    if isinstance(gate, EllipsoidGate):
        return [float(v) for v in gate.mean]
    if isinstance(gate, QuadrantGate):
        out = [None] * n
        for i, d in enumerate(gate.dividers[:n]):
            finite = [v for v in d.values if v is not None and np.isfinite(v)]
            out[i] = float(np.median(finite)) if finite else None
        return out
    return [None] * n


def _number(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def shift_text(strategy: GatingStrategy, gate: Any, moved: Sequence[float]) -> str:
    """How far auto-tune moved a gate, per axis in that axis' data units ("FITC-A 1,020 → 1,310").

    On a transformed axis equal display moves are unequal data moves, so the gate's position on the
    axis before and after is given; on a linear axis the move itself."""
    parts = []
    for dim, d, a in zip(gate.dimensions, moved, _anchors(gate)):
        if not d:
            continue
        transform = strategy.transforms.get(dim.transform_ref) if dim.transform_ref else None
        if transform is None:
            parts.append(f"{dim.channel} {d:+,.4g}")
        elif a is None:
            parts.append(f"{dim.channel} {d:+.3g} display units")
        else:
            before, after = (float(v) for v in transform.inverse(np.array([a, a + d])))
            parts.append(f"{dim.channel} {_number(before)} → {_number(after)}")
    return "moved " + "; ".join(parts) if parts else "not moved"
