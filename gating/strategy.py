"""Gating strategy: a tree of gates plus the transforms and compensations they refer to.

``GatingStrategy.evaluate(sample)`` returns a ``GatingResult`` whose memberships are
already intersected with the parents. Each population is tested only on its parent's
events, and compensated/transformed channels are computed once per evaluation.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .compensation import FCS_REF, UNCOMPENSATED, Compensation
from .errors import GatingError, InputError
from .gates import BooleanGate, Dimension, Gate, QuadrantGate, RectangleGate, gate_from_dict
from .monotone import bounds_mask, worth_it
from .progress import ProgressCallback, report
from .transforms import RatioTransform, Transform, transform_from_dict

__all__ = ["GatingStrategy", "GatingResult", "StrategyError", "resolve_channel"]

FORMAT_VERSION = 1


class StrategyError(GatingError, ValueError):
    """An edit or evaluation that would break the gate tree (unknown id, cycle, duplicate)."""


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


@dataclass
class GatingResult:
    """Membership of every population for one sample (already intersected with parents)."""

    sample_name: str
    membership: dict[str, np.ndarray]
    paths: dict[str, str]
    parents: dict[str, str | None]
    event_count: int
    engine: str = "exact"  # which counting engine gave the memberships (see GatingStrategy.counting)

    def count(self, population_id: str) -> int:
        return int(np.count_nonzero(self.membership[population_id]))

    def counts(self) -> pd.DataFrame:
        """Tidy table: ``sample, population, count, parent_count, pct_parent, pct_total``."""
        rows = []
        total = self.event_count
        for pid, mask in self.membership.items():
            n = int(np.count_nonzero(mask))
            par = self.parents.get(pid)
            pn = total if par is None else int(np.count_nonzero(self.membership[par]))
            rows.append((self.sample_name, self.paths[pid], n, pn,
                         100.0 * n / pn if pn else np.nan, 100.0 * n / total if total else np.nan))
        df = pd.DataFrame(rows, columns=["sample", "population", "count", "parent_count", "pct_parent", "pct_total"])
        return df.astype({"count": "int64", "parent_count": "int64", "pct_parent": "float64", "pct_total": "float64"})


class _Evaluator:
    """Per-sample cache of compensated and transformed channel values.

    A population's events are kept as ascending event indices (``rows``) and, for a gate
    with a parent, as positions among the parent's events (``within``). A child gate is
    tested on its parent's events only: each of its columns is gathered from the parent's
    (or the whole sample's) already transformed values when they exist, and otherwise
    transformed on the parent's events alone, once per (dimension, parent).
    """

    def __init__(self, strategy: "GatingStrategy", sample: Any):
        self.s = strategy
        self.sample = sample
        self.events = np.asarray(sample.events, dtype=np.float64)
        self.n = self.events.shape[0]
        self._comp: dict[str, tuple[Compensation | None, np.ndarray | None]] = {}
        self._raw: dict[tuple, np.ndarray] = {}
        self._full: dict[tuple, np.ndarray] = {}              # dimension -> values of all events
        self._part: dict[tuple[tuple, str], np.ndarray] = {}  # (dimension, population) -> its events' values
        self._rows: dict[str, np.ndarray] = {}
        self._within: dict[str, tuple[str, np.ndarray]] = {}
        self.membership: dict[str, np.ndarray] = {}
        self._busy: set[str] = set()
        self._user_count: dict[tuple, int] | None = None

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

    def raw_column(self, channel: str, comp_ref: str | None) -> np.ndarray:
        """Untransformed (but compensated if asked) values of one channel for all events."""
        key = (channel, comp_ref)
        col = self._raw.get(key)
        if col is None:
            col = None
            if comp_ref not in (None, UNCOMPENSATED):
                comp, block = self._compensation(comp_ref)
                if comp is not None:
                    j = comp.channel_for(channel)
                    if j is not None:
                        col = np.dot(block, np.ascontiguousarray(comp.unmixing[:, j]))
            if col is None:
                col = self.events[:, resolve_channel(self.sample, channel)]
            self._raw[key] = col
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

    def _users(self) -> dict[tuple, int]:
        """How many gates test each (dimension, parent)."""
        if self._user_count is None:
            self._user_count = {}
            for g in self.s.gates.values():
                for d in g.dimensions:
                    k = (_dim_key(d), g.parent_id)
                    self._user_count[k] = self._user_count.get(k, 0) + 1
        return self._user_count

    def _cached(self, dim: Dimension, pid: str | None) -> bool:
        """Whether the values of ``dim`` for ``pid``'s events are at hand without transforming."""
        key = _dim_key(dim)
        if key in self._full or (key, pid) in self._part:
            return True
        link = self._within.get(pid) if pid is not None else None
        return link is not None and (key, link[0]) in self._part

    def _rectangle(self, gate: RectangleGate, parent: str | None) -> np.ndarray:
        """``gate.contains`` on the parent's events; bounds on a monotone scale are tested in raw
        units unless the transformed values are at hand (:mod:`gating.monotone`)."""
        inside: np.ndarray | None = None
        for dim, lo, hi in zip(gate.dimensions, gate.mins, gate.maxs):
            m = None
            if (dim.transform_ref is not None and not dim.ratio and not self._cached(dim, parent)
                    and self._users().get((_dim_key(dim), parent), 0) == 1):  # shared: transform once
                t = self.s.transforms.get(dim.transform_ref)
                if t is not None and worth_it(t):  # a column of the events matrix is strided: copy it
                    raw = np.ascontiguousarray(self.values(Dimension(dim.channel, dim.compensation_ref), parent))
                    m = bounds_mask(t, raw, lo, hi)
            if m is None:
                m = RectangleGate.bounds(self.values(dim, parent), lo, hi)
            inside = m if inside is None else np.logical_and(inside, m, out=inside)
        assert inside is not None  # a rectangle has at least one dimension
        return inside

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
            res = (self._rectangle(gate, parent) if isinstance(gate, RectangleGate) else
                   gate.contains_columns([self.values(d, parent) for d in gate.dimensions]))
            parts = res if isinstance(gate, QuadrantGate) else {gate.id: res}
            for qid, sub in parts.items():
                sub = np.asarray(sub, dtype=bool)
                if parent is None:
                    self.membership[qid] = sub
                    continue
                within = np.flatnonzero(sub)
                rows = self.rows(parent)[within]
                self._within[qid], self._rows[qid] = (parent, within), rows
                m = np.zeros(self.n, dtype=bool)
                m[rows] = True
                self.membership[qid] = m
        self._busy.discard(pid)
        return self.membership[pid]


def _dim_key(dim: Dimension) -> tuple:
    return (dim.channel, dim.compensation_ref, dim.transform_ref, dim.ratio)


class GatingStrategy:
    """Gate hierarchy with its transforms and compensations (edit with the methods below)."""

    def __init__(self, gates: Iterable[Gate] = (), transforms: Iterable[Transform] = (),
                 compensations: Iterable[Compensation] = (), *, counting: str = "exact"):
        #: "exact" (every event tested exactly) or "flowjo" (FlowJo-compatible: events binned on
        #: FlowJo's display channels by the transforms of an imported workspace)
        self.counting = counting
        self.gates: dict[str, Gate] = {}
        self.transforms: dict[str, Transform] = {t.id: t for t in transforms}
        self.compensations: dict[str, Compensation] = {c.id: c for c in compensations}
        for g in gates:
            self.add_gate(g, check_parent=False)
        self.validate()

    # --- lookup -----------------------------------------------------------------------------------
    def population_ids(self) -> list[str]:
        """Gate ids, with a quadrant gate replaced by its quadrant ids."""
        return [p for g in self.gates.values() for p in g.population_ids()]

    def gate_of(self, population_id: str) -> Gate:
        """The gate that defines a population (a quadrant id maps to its quadrant gate)."""
        g = self.gates.get(population_id)
        if g is not None and not isinstance(g, QuadrantGate):
            return g
        for g in self.gates.values():
            if isinstance(g, QuadrantGate) and population_id in g.population_ids():
                return g
        raise StrategyError(f"unknown population '{population_id}'")

    def parent_of(self, population_id: str) -> str | None:
        return self.gate_of(population_id).parent_id

    def children(self, population_id: str | None = None) -> list[str]:
        """Population ids whose parent is ``population_id`` (None = top level)."""
        return [p for g in self.gates.values() if g.parent_id == population_id for p in g.population_ids()]

    def descendants(self, population_id: str) -> list[str]:
        out, todo = [], [population_id]
        while todo:
            for c in self.children(todo.pop()):
                out.append(c)
                todo.append(c)
        return out

    def name_of(self, population_id: str) -> str:
        """The population's display name (its id unless the gate carries another ``name``)."""
        g = self.gates.get(population_id)
        return g.name if g is not None and g.name else population_id

    def path(self, population_id: str) -> str:
        """Full path of display names such as ``"Leukocytes/Live/Neutrophils"``."""
        parts, seen, pid = [], set(), population_id
        while pid is not None:
            if pid in seen:
                raise StrategyError(f"gate '{population_id}' has a cyclic parent chain")
            seen.add(pid)
            parts.append(self.name_of(pid))
            pid = self.parent_of(pid)
        return "/".join(reversed(parts))

    # --- edits ------------------------------------------------------------------------------------
    def _check_new_ids(self, gate: Gate, ignore: Gate | None = None) -> None:
        taken = set(self.gates) | set(self.population_ids())
        if ignore is not None:
            taken -= {ignore.id, *ignore.population_ids()}
        new = {gate.id, *gate.population_ids()}
        clash = sorted(new & taken)
        if clash:
            raise StrategyError(f"gate id(s) already used: {', '.join(clash)}")

    def _check_parent(self, gate: Gate) -> None:
        if gate.parent_id is None:
            return
        try:
            parent_gate = self.gate_of(gate.parent_id)
        except StrategyError:
            raise StrategyError(f"gate '{gate.id}': parent '{gate.parent_id}' does not exist") from None
        if isinstance(parent_gate, QuadrantGate) and gate.parent_id == parent_gate.id:
            raise StrategyError(f"gate '{gate.id}': parent must be one quadrant of '{parent_gate.id}', not the gate")

    def add_gate(self, gate: Gate, *, check_parent: bool = True) -> None:
        self._check_new_ids(gate)
        if check_parent:
            self._check_parent(gate)
        self.gates[gate.id] = gate

    def replace_gate(self, gate: Gate) -> None:
        """Replace the gate with the same id (keeps its position in the tree)."""
        old = self.gates.get(gate.id)
        if old is None:
            raise StrategyError(f"no gate '{gate.id}' to replace")
        self._check_new_ids(gate, ignore=old)
        self._check_parent(gate)
        self.gates[gate.id] = gate
        if gate.parent_id is not None and gate.parent_id in {gate.id, *self.descendants(gate.id)}:
            self.gates[gate.id] = old
            raise StrategyError(f"gate '{gate.id}' cannot be its own ancestor")

    def remove_gate(self, gate_id: str) -> list[str]:
        """Remove a gate, its descendants and Boolean gates that refer to them; returns removed gate ids."""
        if gate_id not in self.gates:
            raise StrategyError(f"no gate '{gate_id}'")
        doomed_pops = set(self.gates[gate_id].population_ids()) | {gate_id}
        changed = True
        while changed:
            changed = False
            for g in self.gates.values():
                if g.id in doomed_pops:
                    continue
                refs = {r for r, _ in g.refs} if isinstance(g, BooleanGate) else set()
                if g.parent_id in doomed_pops or refs & doomed_pops:
                    doomed_pops |= {g.id, *g.population_ids()}
                    changed = True
        removed = [gid for gid in self.gates if gid in doomed_pops]
        for gid in removed:
            del self.gates[gid]
        return removed

    def rename_gate(self, old: str, new: str) -> None:
        """Rename a gate or quadrant id, updating parents and Boolean references."""
        if old == new:
            return
        if new in self.gates or new in self.population_ids():
            raise StrategyError(f"gate id '{new}' is already used")
        owner = self.gates.get(old)
        if owner is None:
            owner = self.gate_of(old)
            quads = tuple(dataclasses.replace(q, id=new) if q.id == old else q for q in owner.quadrants)
            self.gates[owner.id] = dataclasses.replace(owner, quadrants=quads)
        else:
            # the new id is the name people gave it: an imported display name no longer applies
            self.gates = {(new if k == old else k): (dataclasses.replace(g, id=new, name=None) if k == old else g)
                          for k, g in self.gates.items()}
        for k, g in list(self.gates.items()):
            upd: dict[str, Any] = {}
            if g.parent_id == old:
                upd["parent_id"] = new
            if isinstance(g, BooleanGate) and any(r == old for r, _ in g.refs):
                upd["refs"] = tuple((new if r == old else r, c) for r, c in g.refs)
            if upd:
                self.gates[k] = dataclasses.replace(g, **upd)

    def reparent(self, gate_id: str, new_parent: str | None) -> None:
        g = self.gates.get(gate_id)
        if g is None:
            raise StrategyError(f"no gate '{gate_id}'")
        if new_parent is not None and new_parent in {gate_id, *g.population_ids(), *self.descendants(gate_id),
                                                     *[d for p in g.population_ids() for d in self.descendants(p)]}:
            raise StrategyError(f"cannot move '{gate_id}' under its own descendant '{new_parent}'")
        self.replace_gate(dataclasses.replace(g, parent_id=new_parent))

    def add_transform(self, transform: Transform) -> None:
        self.transforms[transform.id] = transform

    def add_compensation(self, comp: Compensation) -> None:
        self.compensations[comp.id] = comp

    def validate(self) -> None:
        """Check parents exist, no cycles, and Boolean references exist."""
        pops = set(self.population_ids())
        for g in self.gates.values():
            self._check_parent(g)
            self.path(g.population_ids()[0])
            if isinstance(g, BooleanGate):
                missing = [r for r, _ in g.refs if r not in pops]
                if missing:
                    raise StrategyError(f"boolean gate '{g.id}' refers to unknown gate(s) {', '.join(missing)}")

    # --- evaluation -------------------------------------------------------------------------------
    def gate_coordinates(self, sample: Any, gate_id: str) -> np.ndarray:
        """Compensated + transformed values of a gate's dimensions for all events (n x d)."""
        return _Evaluator(self, sample).coordinates(self.gate_of(gate_id))

    def dimension_values(self, sample: Any, dimension: Dimension) -> np.ndarray:
        """Values of one (possibly ratio) dimension for all events, as a gate would see them."""
        return _Evaluator(self, sample).column(dimension)

    def evaluate(self, sample: Any, populations: Iterable[str] | None = None,
                 progress: ProgressCallback | None = None) -> GatingResult:
        """Membership of every population (or of ``populations`` and what they need)."""
        ev = _Evaluator(self, sample)
        wanted = list(populations) if populations is not None else self.population_ids()
        total = len(wanted)
        for i, pid in enumerate(wanted):
            ev.population(pid)
            if progress is not None:
                report(progress, i + 1, total, f"gate {pid}")
        ordered = [p for p in self.population_ids() if p in ev.membership]
        return GatingResult(
            sample_name=str(getattr(sample, "name", "sample")),
            membership={p: ev.membership[p] for p in ordered},
            paths={p: self.path(p) for p in ordered},
            parents={p: self.parent_of(p) for p in ordered},
            event_count=ev.n,
            engine=self.counting,
        )

    # --- serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-safe description used in project files."""
        return {
            "format": "fastmix-gating-strategy", "version": FORMAT_VERSION,
            "transforms": [t.to_dict() for t in self.transforms.values()],
            "compensations": [c.to_dict() for c in self.compensations.values()],
            "gates": [g.to_dict() for g in self.gates.values()],
            **({} if self.counting == "exact" else {"counting": self.counting}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "GatingStrategy":
        if int(d.get("version", 1)) > FORMAT_VERSION:
            raise InputError(f"gating strategy format version {d.get('version')} is newer than this program")
        return cls(gates=[gate_from_dict(g) for g in d.get("gates", [])],
                   transforms=[transform_from_dict(t) for t in d.get("transforms", [])],
                   compensations=[Compensation.from_dict(c) for c in d.get("compensations", [])],
                   counting=str(d.get("counting", "exact")))

    def copy(self) -> "GatingStrategy":
        return copy.copy(self)

    def __copy__(self) -> "GatingStrategy":
        new = GatingStrategy.__new__(GatingStrategy)
        new.gates, new.transforms, new.compensations = dict(self.gates), dict(self.transforms), dict(self.compensations)
        new.counting = self.counting
        return new

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, GatingStrategy) and self.gates == other.gates and self.counting == other.counting
                and self.transforms == other.transforms and self.compensations == other.compensations)

    def __repr__(self) -> str:
        return (f"GatingStrategy({len(self.gates)} gates, {len(self.transforms)} transforms, "
                f"{len(self.compensations)} compensations)")
