"""Evaluation of a gating strategy on one sample: cached columns, parent-restricted gates, row blocks.

:func:`evaluate_memberships` is what ``GatingStrategy.evaluate`` runs. Large samples are gated in
blocks of consecutive events (:data:`BLOCK` rows): every gate decides each event from that event's
values alone, so a block's memberships are those of the whole sample's rows, event for event,
while a block's events and temporaries stay in the CPU cache (the events matrix is row-major: on
a sample far larger than the cache each strided column read costs a pass over all of it).
Compensated values are computed once for the whole sample and shared by the blocks, because a
BLAS product may round a row differently depending on where the row sits in the matrix.
``benchmarks/bench_gating.py`` measures the gain (the 1M-event panel).

Within a block, :class:`_Evaluator` keeps a population's events as ascending indices and tests a
child gate on its parent's events only (see its docstring).
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .compensation import FCS_REF, UNCOMPENSATED, Compensation
from .errors import InputError, StrategyError
from .gates import BooleanGate, Dimension, Gate, QuadrantGate, RectangleGate
from .monotone import bounds_mask, worth_it
from .progress import ProgressCallback, report
from .transforms import RatioTransform

__all__ = ["BLOCK", "evaluate_memberships", "resolve_channel"]

#: events per block; 65,536 events x 12 channels (6 MB) and the block's temporaries stay in cache
BLOCK = 65_536
#: a gate whose parent holds at least this share of the block's events is tested on all of them
#: and and-ed with the parent: cheaper than gathering the parent's values and scattering back
DENSE = 0.5


def resolve_channel(sample: Any, name: str) -> int:
    """Index of a channel given its ``$PnN`` name or, failing that, its ``$PnS`` marker."""
    chans = list(sample.channels)
    if name in chans:
        return chans.index(name)
    markers = list(getattr(sample, "markers", None) or [])
    if name in markers and name:
        return markers.index(name)
    raise InputError(f"channel '{name}' not found (channels: {', '.join(chans)})",
                     file=str(getattr(sample, "path", None) or getattr(sample, "name", "sample")))


def _dim_key(dim: Dimension) -> tuple:
    return (dim.channel, dim.compensation_ref, dim.transform_ref, dim.ratio)


class _Shared:
    """What the blocks of one sample share: compensations and compensated values of all events."""

    def __init__(self, strategy: Any, sample: Any, events: np.ndarray):
        self.s, self.sample, self.events = strategy, sample, events
        self._comp: dict[str, tuple[Compensation | None, np.ndarray | None]] = {}
        self._compensated: dict[tuple[str, str], np.ndarray | None] = {}

    def _compensation(self, ref: str) -> tuple[Compensation | None, np.ndarray | None]:
        """The compensation for ``ref`` and its detector block (n x detectors, contiguous)."""
        if ref not in self._comp:
            if ref == FCS_REF and ref not in self.s.compensations:
                comp = Compensation.from_spillover(self.sample) if getattr(self.sample, "spillover", None) else None
            else:
                if ref not in self.s.compensations:
                    raise StrategyError(f"unknown compensation '{ref}'")
                comp = self.s.compensations[ref]
            block = None
            if comp is not None:
                idx = comp._detector_indices(self.sample.channels)
                block = np.ascontiguousarray(self.events[:, idx])
            self._comp[ref] = (comp, block)
        return self._comp[ref]

    def compensated(self, channel: str, comp_ref: str) -> np.ndarray | None:
        """Compensated values of ``channel`` for all events; None if ``comp_ref`` leaves it as is."""
        key = (channel, comp_ref)
        if key not in self._compensated:
            col = None
            comp, block = self._compensation(comp_ref)
            if comp is not None:
                j = comp.channel_for(channel)
                if j is not None:
                    col = np.dot(block, np.ascontiguousarray(comp.unmixing[:, j]))
            self._compensated[key] = col
        return self._compensated[key]


class _Evaluator:
    """Per-sample (or per-block) cache of compensated and transformed channel values.

    A gate whose parent holds few of the events (below :data:`DENSE`) is tested on its
    parent's events only: the population's events are kept as ascending event indices
    (``rows``) and as positions among the parent's events (``within``); each column is
    gathered from the parent's (or all events') already transformed values when they exist,
    and otherwise transformed on the parent's events alone, once per (dimension, parent).
    Other gates are tested on all events (values cached per dimension) and and-ed with
    the parent. ``span`` restricts the evaluator to a block of consecutive events.
    """

    def __init__(self, strategy: Any, sample: Any, *, span: slice | None = None, shared: _Shared | None = None):
        self.s = strategy
        self.sample = sample
        if shared is None:
            shared = _Shared(strategy, sample, np.asarray(sample.events, dtype=np.float64))
        self.shared = shared
        self.span = span
        self.events = shared.events if span is None else shared.events[span]
        self.n = self.events.shape[0]
        self._raw: dict[tuple, np.ndarray] = {}
        self._full: dict[tuple, np.ndarray] = {}              # dimension -> values of all events
        self._contiguous: dict[tuple, np.ndarray] = {}        # (channel, compensation) -> contiguous copy
        self._part: dict[tuple[tuple, str], np.ndarray] = {}  # (dimension, population) -> its events' values
        self._rows: dict[str, np.ndarray] = {}
        self._within: dict[str, tuple[str, np.ndarray]] = {}
        self._count: dict[str, int] = {}
        self.membership: dict[str, np.ndarray] = {}
        self._busy: set[str] = set()

    def raw_column(self, channel: str, comp_ref: str | None) -> np.ndarray:
        """Untransformed (but compensated if asked) values of one channel for all events."""
        key = (channel, comp_ref)
        col = self._raw.get(key)
        if col is None:
            col = None
            if comp_ref not in (None, UNCOMPENSATED):
                col = self.shared.compensated(channel, comp_ref)
                if col is not None and self.span is not None:
                    col = col[self.span]
            if col is None:
                col = self.events[:, resolve_channel(self.sample, channel)]
            self._raw[key] = col
        return col

    def contiguous_column(self, channel: str, comp_ref: str | None) -> np.ndarray:
        """:meth:`raw_column` as a contiguous array (a column of the events matrix is strided)."""
        key = (channel, comp_ref)
        col = self._contiguous.get(key)
        if col is None:
            col = self._contiguous[key] = np.ascontiguousarray(self.raw_column(channel, comp_ref))
        return col

    def _transformed(self, dim: Dimension, rows: np.ndarray | None) -> np.ndarray:
        if dim.ratio:
            rt = self.s.transforms.get(dim.channel)
            if not isinstance(rt, RatioTransform):
                raise StrategyError(f"'{dim.channel}' is not a ratio transform")
            cols = [self.raw_column(c, dim.compensation_ref) for c in rt.channels]
            if rows is not None:
                cols = [c[rows] for c in cols]
            v = rt.apply(np.column_stack(cols))
        else:
            v = self.raw_column(dim.channel, dim.compensation_ref)
            if rows is not None:
                v = v[rows]
        if dim.transform_ref is not None:
            if dim.transform_ref not in self.s.transforms:
                raise StrategyError(f"unknown transform '{dim.transform_ref}'")
            v = self.s.transforms[dim.transform_ref].apply(v)
        return v

    def column(self, dim: Dimension, rows: np.ndarray | None = None) -> np.ndarray:
        """Values of a gate dimension for ``rows`` (all events if None); all events' values are cached."""
        if dim.transform_ref is None and not dim.ratio:
            col = self.raw_column(dim.channel, dim.compensation_ref)
            return col if rows is None else col[rows]
        key = _dim_key(dim)
        vals = self._full.get(key)
        if vals is None:
            if rows is not None:
                return self._transformed(dim, rows)
            vals = self._full[key] = self._transformed(dim, None)
        return vals if rows is None else vals[rows]

    def coordinates(self, gate: Gate, rows: np.ndarray | None = None) -> np.ndarray:
        cols = [self.column(d, rows) for d in gate.dimensions]
        if not cols:
            return np.empty((self.n if rows is None else len(rows), 0))
        return np.column_stack(cols)

    def rows(self, pid: str) -> np.ndarray:
        """Ascending indices of the events of population ``pid`` (evaluated already)."""
        r = self._rows.get(pid)
        if r is None:
            r = self._rows[pid] = np.flatnonzero(self.membership[pid])
        return r

    def values(self, dim: Dimension, pid: str | None) -> np.ndarray:
        """Values of a dimension for the events of population ``pid`` (None = all events)."""
        if pid is None:
            if dim.transform_ref is None and not dim.ratio:
                return self.contiguous_column(dim.channel, dim.compensation_ref)
            return self.column(dim)
        key = _dim_key(dim)
        vals = self._part.get((key, pid))
        if vals is not None:
            return vals
        link = self._within.get(pid)
        src = None
        if link is not None:  # the parent's values of this dimension, when already computed
            src = self._part.get((key, link[0])) if link[0] is not None else self._full.get(key)
        if src is not None:
            vals = src[link[1]]
        elif key in self._full or (dim.transform_ref is None and not dim.ratio):
            vals = self.column(dim, self.rows(pid))
        else:
            vals = self._transformed(dim, self.rows(pid))
        self._part[(key, pid)] = vals
        return vals

    def _cached(self, dim: Dimension, pid: str | None) -> bool:
        """Whether the values of ``dim`` for ``pid``'s events are at hand without transforming."""
        key = _dim_key(dim)
        if key in self._full or (key, pid) in self._part:
            return True
        link = self._within.get(pid) if pid is not None else None
        return link is not None and (key, link[0]) in self._part

    def _rectangle(self, gate: RectangleGate, domain: str | None) -> np.ndarray:
        """``gate.contains`` on the events of ``domain`` (None = all); bounds on a monotone scale
        are tested in raw units unless the transformed values are at hand (:mod:`gating.monotone`)."""
        inside: np.ndarray | None = None
        for dim, lo, hi in zip(gate.dimensions, gate.mins, gate.maxs):
            m = None
            if dim.transform_ref is not None and not dim.ratio and not self._cached(dim, domain):
                t = self.s.transforms.get(dim.transform_ref)
                if t is not None and worth_it(t):  # a few comparisons beat the scale, even for several gates
                    raw = self.values(Dimension(dim.channel, dim.compensation_ref), domain)
                    m = bounds_mask(t, raw, lo, hi)
            if m is None:
                m = RectangleGate.bounds(self.values(dim, domain), lo, hi)
            inside = m if inside is None else np.logical_and(inside, m, out=inside)
        assert inside is not None  # a rectangle has at least one dimension
        return inside

    def _dense(self, pid: str) -> bool:
        """Whether population ``pid`` holds at least :data:`DENSE` of the events."""
        c = self._count.get(pid)
        if c is None:
            r = self._rows.get(pid)
            c = self._count[pid] = len(r) if r is not None else int(np.count_nonzero(self.membership[pid]))
        return c >= DENSE * self.n

    def population(self, pid: str) -> np.ndarray:
        if pid in self.membership:
            return self.membership[pid]
        if pid in self._busy:
            raise StrategyError(f"gate '{pid}' depends on itself")
        self._busy.add(pid)
        gate = self.s.gate_of(pid)
        parent = gate.parent_id
        if parent is not None:
            self.population(parent)
        if isinstance(gate, BooleanGate):
            m = gate.combine({r: self.population(r) for r, _ in gate.refs})
            if parent is not None:
                m = m & self.membership[parent]
            self.membership[pid] = m
        else:
            domain = None if parent is None or self._dense(parent) else parent
            res = (self._rectangle(gate, domain) if isinstance(gate, RectangleGate) else
                   gate.contains_columns([self.values(d, domain) for d in gate.dimensions]))
            parts = res if isinstance(gate, QuadrantGate) else {gate.id: res}
            for qid, sub in parts.items():
                sub = np.asarray(sub, dtype=bool)
                if domain is None:
                    self.membership[qid] = sub if parent is None else np.logical_and(sub, self.membership[parent])
                    continue
                within = np.flatnonzero(sub)
                rows = self.rows(parent)[within]
                self._within[qid], self._rows[qid] = (parent, within), rows
                m = np.zeros(self.n, dtype=bool)
                m[rows] = True
                self.membership[qid] = m
        self._busy.discard(pid)
        return self.membership[pid]


def _blocks(n: int) -> list[slice]:
    """Consecutive blocks of about :data:`BLOCK` events (one block up to twice that)."""
    k = max(1, n // BLOCK)
    edges = [n * i // k for i in range(k + 1)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def evaluate_memberships(strategy: Any, sample: Any, wanted: Iterable[str],
                         progress: ProgressCallback | None = None) -> tuple[dict[str, np.ndarray], int]:
    """Membership of the ``wanted`` populations (and those they need) and the event count.

    Each block of events gets its own :class:`_Evaluator`; the blocks' memberships are
    written into whole-sample arrays. ``progress`` hears of every population of every block.
    """
    wanted = list(wanted)
    shared = _Shared(strategy, sample, np.asarray(sample.events, dtype=np.float64))
    n = shared.events.shape[0]
    spans = _blocks(n)
    if len(spans) == 1:
        ev = _Evaluator(strategy, sample, shared=shared)
        for i, pid in enumerate(wanted):
            ev.population(pid)
            report(progress, i + 1, len(wanted), f"gate {pid}")
        return ev.membership, n
    out: dict[str, np.ndarray] = {}
    total = len(wanted) * len(spans)
    for k, span in enumerate(spans):
        ev = _Evaluator(strategy, sample, span=span, shared=shared)
        for i, pid in enumerate(wanted):
            ev.population(pid)
            report(progress, k * len(wanted) + i + 1, total, f"gate {pid}")
        for pid, m in ev.membership.items():
            if pid not in out:
                out[pid] = np.empty(n, dtype=bool)
            out[pid][span] = m
    return out, n
