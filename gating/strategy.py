"""Gating strategy: a tree of gates plus the transforms and compensations they refer to.

``GatingStrategy.evaluate(sample)`` returns a ``GatingResult`` whose memberships are
already intersected with the parents. The evaluation itself (blocks of events, gates
tested on their parent's events or on all events, cached columns) is in :mod:`gating.evaluator`.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .compensation import Compensation
from .errors import InputError, StrategyError
from .evaluator import _Evaluator, evaluate_memberships, resolve_channel
from .gates import BooleanGate, Dimension, Gate, QuadrantGate, gate_from_dict
from .progress import ProgressCallback
from .transforms import Transform, transform_from_dict

__all__ = ["GatingStrategy", "GatingResult", "StrategyError", "resolve_channel"]

FORMAT_VERSION = 1


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
        wanted = list(populations) if populations is not None else self.population_ids()
        membership, n = evaluate_memberships(self, sample, wanted, progress)
        ordered = [p for p in self.population_ids() if p in membership]
        return GatingResult(
            sample_name=str(getattr(sample, "name", "sample")),
            membership={p: membership[p] for p in ordered},
            paths={p: self.path(p) for p in ordered},
            parents={p: self.parent_of(p) for p in ordered},
            event_count=n,
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
