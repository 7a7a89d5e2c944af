"""What the Gating workspace is looking at, without Qt: the current sample and population, the plot
axes, the gating result of the current sample (re-gated only when the gates or the sample change),
the per-sample strategies (template gates plus accepted auto-tune overrides) and the values the
density plot shows.

The session reads the project through three attributes (``strategy``, ``data`` — the JSON-safe
sections — and ``samples`` — name -> ``Sample`` or read error), so the GUI's project model and a
plain namespace in a test serve alike. It never writes the project: edits go through the GUI's
undo stack.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol

import numpy as np

from gating.compensation import FCS_REF
from gating.gates import Dimension, EllipsoidGate, Gate, PolygonGate, QuadrantGate, RectangleGate
from gating.strategy import GatingResult, GatingStrategy
from gating.transforms import TRANSFORM_KINDS, make_transform
from study.gating_settings import DafiSettings, compensation_from_section, strategy_with_overrides

__all__ = ["Axes", "GatingSession", "ProjectLike", "TRANSFORM_KINDS", "next_gate_id", "population_parents"]

UNCOMPENSATED = (None, "uncompensated")  # compensation refs that leave the events as recorded
GATE_NAMES = {"rectangle": "Rectangle", "polygon": "Polygon", "ellipse": "Ellipse", "range": "Range",
              "quadrant": "Quadrant"}


class ProjectLike(Protocol):
    strategy: GatingStrategy | None
    data: Mapping[str, Any]
    samples: Mapping[str, Any]


@dataclass(frozen=True)
class Axes:
    """The plot axes: channel ($PnN) and transform kind per axis, whether to compensate, and the
    compensation of the gates last shown (a workspace matrix for FlowJo imports)."""

    x_channel: str | None = None
    y_channel: str | None = None
    x_kind: str = "linear"
    y_kind: str = "linear"
    compensate: bool = False
    gate_comp: str | None = None


def drawable(gate: Gate) -> bool:
    """Whether a gate can be shown on a plot (Boolean gates cannot)."""
    return isinstance(gate, (RectangleGate, PolygonGate, EllipsoidGate, QuadrantGate))


def next_gate_id(strategy: GatingStrategy, kind: str) -> str:
    """The first free "<Kind> <n>" id for a newly drawn gate."""
    base = GATE_NAMES[kind]
    taken = set(strategy.population_ids()) | set(strategy.gates)
    i = 1
    while f"{base} {i}" in taken:
        i += 1
    return f"{base} {i}"


def population_parents(strategy: GatingStrategy) -> dict[str, str | None]:
    """Population id -> parent id for the tree (the quadrants of a quadrant gate hang under it)."""
    parents: dict[str, str | None] = {}
    for g in strategy.gates.values():
        parents[g.id] = g.parent_id
        if isinstance(g, QuadrantGate):
            for q in g.population_ids():
                parents[q] = g.id
    return parents


def kind_of(transform_ref: str | None) -> str:
    """The axis transform kind of a dimension's transform reference."""
    return "linear" if transform_ref is None else str(transform_ref)


def transform_ref(kind: str) -> str | None:
    """The transform reference of an axis transform kind (``None`` for linear)."""
    return None if kind == "linear" else kind


def transform_name(transform) -> str:
    """Name of a display transform as the axis pickers show it."""
    if transform is None:
        return "linear"
    kind = transform.kind
    if kind == "flowjo_display":
        return {"table": "biex"}.get(transform.scale, transform.scale)
    return {"arcsinh": "asinh", "flowjo_log": "log"}.get(kind, kind)


class GatingSession:
    """State of the Gating workspace for one project (see the module docstring)."""

    def __init__(self, project: ProjectLike) -> None:
        self.project = project
        self.current_sample: str | None = None
        self.current_population: str | None = None
        self.axes = Axes()
        self.result: GatingResult | None = None      # gating result of the current sample
        self._evaluated: tuple | None = None         # (sample, id(Sample), id(strategy)) result is for
        self.refiner = None                          # last DafiRefiner of the current sample
        self._values: dict[tuple, np.ndarray] = {}

    # ------------------------------------------------------------------ project
    def strategy(self) -> GatingStrategy:
        """The project's strategy (an empty one before any gate exists)."""
        return self.project.strategy if self.project.strategy is not None else GatingStrategy()

    def dafi_settings(self) -> DafiSettings:
        return DafiSettings.from_dict(self.project.data.get("dafi"))

    def compensation_section(self) -> dict:
        return dict(self.project.data.get("compensation") or {})

    def strategy_for(self, name: str | None) -> GatingStrategy:
        """The strategy with this sample's accepted auto-tune overrides."""
        over = self.dafi_settings().gate_overrides.get(name) if name else None
        return strategy_with_overrides(self.strategy(), over)

    def sample(self, name: str | None = None) -> Any | None:
        """The loaded sample (the current one by default); ``None`` if not read or unreadable."""
        name = self.current_sample if name is None else name
        s = self.project.samples.get(name) if name else None
        return None if isinstance(s, str) else s

    def sample_or_error(self, name: str) -> Any:
        """The loaded Sample, its read error, or a note that the file has not been read yet."""
        s = self.project.samples.get(name)
        return "the file has not been read yet" if s is None else s

    def listed_samples(self, names: Iterable[str]) -> dict[str, Any]:
        """Name -> Sample, error text or ``None`` (not read yet): the project's files, then any
        sample read from elsewhere."""
        samples = {n: self.project.samples.get(n) for n in names}
        for name, s in self.project.samples.items():
            samples.setdefault(name, s)
        return samples

    def batch_items(self, names: Iterable[str]) -> list[tuple[str, Any, GatingStrategy]]:
        """(name, sample or error, its strategy with overrides and the axes' transforms) to gate."""
        return [(n, self.sample_or_error(n), self.with_axes_transforms(self.strategy_for(n))) for n in names]

    # ------------------------------------------------------------------ axes
    def comp_ref(self) -> str | None:
        """The compensation the axes use: ``None`` (off), the gates' workspace matrix, the edited
        matrix or the file's own ``$SPILLOVER`` (``FCS``)."""
        if not self.axes.compensate:
            return None
        gate_ref = self.axes.gate_comp
        if gate_ref and gate_ref in self.strategy().compensations:
            return gate_ref
        comp = self.compensation_section()
        return comp.get("id", "user") if comp.get("matrix") else FCS_REF

    def dimensions(self) -> tuple[Dimension, Dimension]:
        """The X and Y dimensions of the plot."""
        comp = self.comp_ref()
        a = self.axes
        return (Dimension(a.x_channel, comp, transform_ref(a.x_kind)),
                Dimension(a.y_channel, comp, transform_ref(a.y_kind)))

    def with_axes_transforms(self, strategy: GatingStrategy) -> GatingStrategy:
        """Copy of ``strategy`` that knows the transforms and compensation the axes use."""
        need = [k for k in dict.fromkeys((self.axes.x_kind, self.axes.y_kind))
                if k != "linear" and k not in strategy.transforms]
        ref = self.comp_ref()
        comp = None
        if ref is not None and ref != FCS_REF and ref not in strategy.compensations:
            comp = compensation_from_section({**self.compensation_section(), "id": ref})
        if not need and comp is None:
            return strategy
        s = strategy.copy()
        for k in need:
            s.add_transform(make_transform(k, id=k))
        if comp is not None:
            s.add_compensation(comp)
        return s

    def axes_for(self, dims: tuple[Dimension, ...]) -> Axes:
        """The axes that show a gate's dimensions (channel, transform, compensation); an axis keeps
        its channel when the current sample lacks the gate's."""
        if len(dims) == 1:
            dims = (dims[0], dims[0])
        sample = self.sample()
        channels = []
        for d, keep in zip(dims[:2], (self.axes.x_channel, self.axes.y_channel)):
            row = self.channel_row(d.channel)
            channels.append(sample.channels[row] if row >= 0 else keep)
        ref = dims[0].compensation_ref
        return Axes(channels[0], channels[1], kind_of(dims[0].transform_ref), kind_of(dims[1].transform_ref),
                    compensate=ref not in UNCOMPENSATED, gate_comp=ref)

    def channel_row(self, channel: str) -> int:
        """Row of a channel given by ``$PnN`` or marker in the current sample (-1: not there)."""
        s = self.sample()
        if s is None:
            return -1
        try:
            return s.channel_index(channel)
        except Exception:  # noqa: BLE001 - a gate on a channel this file lacks
            return -1

    def same_dimension(self, a: Dimension, b: Dimension) -> bool:
        """Whether two dimensions show the same values (channel by name or marker)."""
        return (self.channel_row(a.channel) == self.channel_row(b.channel) >= 0
                and a.transform_ref == b.transform_ref and a.ratio == b.ratio
                and (a.compensation_ref == b.compensation_ref
                     or (a.compensation_ref in UNCOMPENSATED and b.compensation_ref in UNCOMPENSATED)))

    def axes_match(self, gate: Gate) -> bool:
        """Whether ``gate`` can be drawn on the current axes (a range gate on a 1-D histogram)."""
        dims = self.dimensions()
        if isinstance(gate, RectangleGate) and len(gate.dimensions) == 1:
            return dims[0] == dims[1] and self.same_dimension(gate.dimensions[0], dims[0])
        if dims[0] == dims[1] or len(gate.dimensions) != 2:
            return False
        return self.same_dimension(gate.dimensions[0], dims[0]) and self.same_dimension(gate.dimensions[1], dims[1])

    def axis_transform(self, kind: str):
        """The display transform of an axis kind (a built-in kind or a transform of the strategy, e.g. a
        FlowJo import's); ``None`` for linear or an unknown reference."""
        if kind == "linear":
            return None
        t = self.strategy_for(self.current_sample).transforms.get(kind)
        if t is not None:
            return t
        try:
            return make_transform(kind, id=kind)
        except ValueError:
            return None

    def transform_name(self, kind: str) -> str:
        """What the transform picker shows for an axis kind: the transform's name ("logicle", "biex",
        "asinh", "log", "linear"), not the reference a workspace gave it (often a channel name)."""
        return transform_name(self.axis_transform(kind))

    def values(self, dim: Dimension) -> np.ndarray:
        """Values of ``dim`` for all events of the current sample (cached per sample and dimension)."""
        key = (self.current_sample, dim)
        if key not in self._values:
            s = self.with_axes_transforms(self.strategy_for(self.current_sample))
            self._values[key] = s.dimension_values(self.sample(), dim)
        return self._values[key]

    def clear_cache(self) -> None:
        """Forget the plotted values (the gates, compensation or samples changed)."""
        self._values.clear()

    # ------------------------------------------------------------------ gating the current sample
    def evaluate(self, keep: bool = False) -> tuple[bool, str | None]:
        """Gate the current sample with its strategy unless ``keep`` and the result is still for
        this sample and strategy. Returns (kept the old result, error message or ``None``)."""
        s = self.sample()
        kept = (keep and self.result is not None and s is not None
                and self._evaluated == (self.current_sample, id(s), id(self.project.strategy)))
        if kept:
            return True, None
        self.result, self._evaluated = None, None
        strategy = self.strategy_for(self.current_sample)
        if s is None or not strategy.gates:
            return False, None
        try:
            self.result = self.with_axes_transforms(strategy).evaluate(s)
        except Exception as exc:  # noqa: BLE001 - shown in the status line
            return False, f"Cannot evaluate the gates on {self.current_sample}: {exc}"
        self._evaluated = (self.current_sample, id(s), id(self.project.strategy))
        return False, None

    def count(self, pid: str) -> tuple[int, int]:
        """(count, parent count) of a population in the current sample."""
        if self.result is None or pid not in self.result.membership:
            return 0, 0
        n = int(np.count_nonzero(self.result.membership[pid]))
        par = self.result.parents.get(pid)
        pn = self.result.event_count if par is None else int(np.count_nonzero(self.result.membership[par]))
        return n, pn

    def counts(self, pids: Iterable[str]) -> dict[str, tuple[int, int]]:
        """(count, parent count) of those populations the current result has."""
        if self.result is None:
            return {}
        return {p: self.count(p) for p in pids if p in self.result.membership}

    def population_mask(self, pid: str | None) -> np.ndarray | None:
        """Events of ``pid`` in the current sample (``None``: all events, or not gated)."""
        if pid is None or self.result is None:
            return None
        return self.result.membership.get(pid)

    def gate_label(self, gate: Gate) -> str:
        """Name, count and % of parent of a gate (each quadrant on its own line)."""
        lines = []
        for pid in gate.population_ids():
            n, parent_n = self.count(pid)
            pct = 100.0 * n / parent_n if parent_n else 0.0
            lines.append(f"{pid.rsplit(': ', 1)[-1] if pid != gate.id else pid}: {n:,} ({pct:.1f}%)")
        return "\n".join(lines)

    # ------------------------------------------------------------------ populations
    def select_population(self, pid: str | None) -> Gate | None:
        """Make ``pid`` current (``None`` if it is not a population); returns its first drawable
        child gate, whose dimensions the axes should follow."""
        strategy = self.strategy()
        self.current_population = pid if pid in strategy.population_ids() else None
        kids = {strategy.gate_of(c).id: strategy.gate_of(c) for c in strategy.children(self.current_population)}
        return next((g for g in kids.values() if drawable(g)), None)

    def keep_valid_population(self, strategy: GatingStrategy) -> None:
        """Forget the current population when the strategy no longer has it."""
        if self.current_population is not None and self.current_population not in strategy.population_ids():
            self.current_population = None

    def gates_in_view(self, strategy: GatingStrategy) -> list[Gate]:
        """Child gates of the current population that can be drawn on the current axes."""
        out: dict[str, Gate] = {}
        for pid in strategy.children(self.current_population):
            gate = strategy.gate_of(pid)  # a quadrant id gives its quadrant gate
            if gate.id not in out and drawable(gate) and self.axes_match(gate):
                out[gate.id] = gate
        return list(out.values())

    def gate_events(self, name: str, gate_id: str) -> np.ndarray:
        """Coordinates (n x 2) of the parent's events in a gate's dimensions on sample ``name``
        (what the auto-tune review thumbnails plot)."""
        strategy = self.with_axes_transforms(self.strategy())
        gate = strategy.gates[gate_id]
        sample = self.project.samples[name]
        coords = strategy.gate_coordinates(sample, gate_id)
        if gate.parent_id is not None:
            coords = coords[strategy.evaluate(sample).membership[gate.parent_id]]
        if coords.shape[1] == 1:
            coords = np.column_stack([coords[:, 0], coords[:, 0]])
        return coords

    def dafi_counts(self) -> dict[str, tuple[int, int]]:
        """{population: (DAFi-refined count, plain count)} of the last refinement ({} if none)."""
        if self.refiner is None:
            return {}
        plain = getattr(self.refiner, "plain_counts_", {}) or {}
        return {p: (int(m.sum()), plain.get(p, 0)) for p, m in self.refiner.membership_.items()}

    def dafi_mask(self, gates: Iterable[Gate]) -> np.ndarray | None:
        """Events DAFi put in any population of ``gates`` within the current population."""
        if self.refiner is None:
            return None
        mem = self.refiner.membership_
        keep = None
        for gate in gates:
            for pid in gate.population_ids():
                if pid in mem:
                    keep = mem[pid].copy() if keep is None else keep | mem[pid]
        parent = self.population_mask(self.current_population)
        if keep is not None and parent is not None:
            keep &= parent
        return keep
