"""Long gating jobs on samples already in memory (what the Gating tab runs in a worker).

``gating.batch.gate_batch`` gates files in worker processes; the open study has its samples read
already, so these functions gate the ``Sample`` objects with ``GatingStrategy.evaluate`` (per sample
strategies carry the accepted auto-tune overrides) and return the same :class:`BatchResult`. A
sample that could not be read (given as its error text) or gated is reported, the rest go on.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from gating.batch import COUNT_COLUMNS, BatchResult
from gating.progress import ProgressCallback, report
from gating.strategy import GatingStrategy
from study.gating_settings import DafiSettings

if TYPE_CHECKING:
    from gating.dafi import DafiRefiner

__all__ = ["autotune_samples", "first_line", "gate_samples", "refine_sample", "sample_counts"]


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
