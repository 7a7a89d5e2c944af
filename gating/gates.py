"""Gate shapes as immutable values (Gating-ML 2.0 semantics).

Each gate has an ``id``, a ``parent_id`` and ``dimensions``; ``contains(coords)``
tests events whose coordinates are already compensated and transformed in the
gate's dimension order. Rectangles include ``min`` and exclude ``max``; polygons use
the even-odd rule (self-crossing polygons have holes); ellipsoids include the boundary.
Edit a gate with ``dataclasses.replace``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .polygon import points_in_polygon

__all__ = [
    "Dimension", "Gate", "RectangleGate", "RangeGate", "PolygonGate", "EllipsoidGate",
    "Divider", "Quadrant", "QuadrantGate", "BooleanGate", "gate_from_dict",
]


@dataclass(frozen=True)
class Dimension:
    """One gate axis: a channel (or ratio-transform id when ``ratio``) with its compensation and scale.

    ``compensation_ref``: None = uncompensated, ``"FCS"`` = the sample's spillover, else a
    Compensation id. ``transform_ref``: id of a scale transform or None (linear data).
    """

    channel: str
    compensation_ref: str | None = None
    transform_ref: str | None = None
    ratio: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _dims(dims: Sequence[Any]) -> tuple[Dimension, ...]:
    out = []
    for d in dims:
        if isinstance(d, Dimension):
            out.append(d)
        elif isinstance(d, str):
            out.append(Dimension(d))
        else:
            out.append(Dimension(**d))
    return tuple(out)


def _opt_floats(values: Sequence[Any]) -> tuple[float | None, ...]:
    return tuple(None if v is None else float(v) for v in values)


@dataclass(frozen=True)
class Gate:
    """Base of all gates."""

    id: str
    parent_id: str | None = None
    dimensions: tuple[Dimension, ...] = ()
    #: population name shown to people when it differs from the (unique) id, e.g. an imported
    #: FlowJo name used twice in the tree; None = the id is the name
    name: str | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self):
        object.__setattr__(self, "dimensions", _dims(self.dimensions))

    @property
    def kind(self) -> str:
        return _KIND_OF[type(self)]

    def population_ids(self) -> tuple[str, ...]:
        """Populations this gate defines (its own id; quadrant gates: one per quadrant)."""
        return (self.id,)

    def contains_columns(self, columns: Sequence[np.ndarray]) -> Any:
        """``contains`` given one 1-D array per dimension (saves stacking them)."""
        return self.contains(np.column_stack(columns) if columns else np.empty((0, 0)))

    def _columns(self, coords: np.ndarray) -> list[np.ndarray]:
        coords = np.asarray(coords, dtype=np.float64).reshape(-1, len(self.dimensions))
        return [coords[:, j] for j in range(coords.shape[1])]

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            if f.name == "name" and self.name is None:
                continue
            d[f.name] = _jsonable(getattr(self, f.name))
        return d


def _jsonable(v: Any) -> Any:
    if dataclasses.is_dataclass(v):
        return {f.name: _jsonable(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass(frozen=True)
class RectangleGate(Gate):
    """Hyper-rectangle: ``min <= x < max`` per dimension; ``None`` is an open bound."""

    mins: tuple[float | None, ...] = ()
    maxs: tuple[float | None, ...] = ()

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "mins", _opt_floats(self.mins))
        object.__setattr__(self, "maxs", _opt_floats(self.maxs))
        n = len(self.dimensions)
        if len(self.mins) != n or len(self.maxs) != n:
            raise ValueError(f"gate {self.id!r}: need one min and one max per dimension")

    def contains(self, coords: np.ndarray) -> np.ndarray:
        return self.contains_columns(self._columns(coords))

    def contains_columns(self, columns: Sequence[np.ndarray]) -> np.ndarray:
        inside = np.ones(len(columns[0]), dtype=bool)
        for col, lo, hi in zip(columns, self.mins, self.maxs):
            self.bounds(col, lo, hi, out=inside)
        return inside

    @staticmethod
    def bounds(col: np.ndarray, lo: float | None, hi: float | None, out: np.ndarray | None = None) -> np.ndarray:
        """``lo <= col < hi`` (None = open; both open = not NaN), and-ed into ``out`` when given."""
        inside = np.ones(len(col), dtype=bool) if out is None else out
        if lo is not None:
            inside &= col >= lo
        if hi is not None:
            inside &= col < hi
        if lo is None and hi is None:
            inside &= ~np.isnan(col)
        return inside


@dataclass(frozen=True)
class RangeGate(RectangleGate):
    """One-dimensional range (a 1-D rectangle)."""

    def __post_init__(self):
        super().__post_init__()
        if len(self.dimensions) != 1:
            raise ValueError(f"range gate {self.id!r} must have exactly one dimension")


@dataclass(frozen=True)
class PolygonGate(Gate):
    """2-D polygon with even-odd inclusion (Gating-ML semantics for self-crossing polygons)."""

    vertices: tuple[tuple[float, float], ...] = ()

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "vertices", tuple((float(x), float(y)) for x, y in self.vertices))
        if len(self.dimensions) != 2 or len(self.vertices) < 3:
            raise ValueError(f"polygon gate {self.id!r} needs 2 dimensions and at least 3 vertices")

    def contains(self, coords: np.ndarray) -> np.ndarray:
        pts = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        return points_in_polygon(self.vertices, pts[:, 0], pts[:, 1])

    def contains_columns(self, columns: Sequence[np.ndarray]) -> np.ndarray:
        return points_in_polygon(self.vertices, columns[0], columns[1])


@dataclass(frozen=True)
class EllipsoidGate(Gate):
    """n-D ellipsoid ``(x - mean)^T C^-1 (x - mean) <= distance_square`` (boundary included)."""

    mean: tuple[float, ...] = ()
    covariance: tuple[tuple[float, ...], ...] = ()
    distance_square: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "covariance", tuple(tuple(float(v) for v in row) for row in self.covariance))
        object.__setattr__(self, "distance_square", float(self.distance_square))
        n = len(self.dimensions)
        if len(self.mean) != n or np.shape(self.covariance) != (n, n):
            raise ValueError(f"ellipsoid gate {self.id!r}: mean and covariance must match {n} dimensions")

    def contains(self, coords: np.ndarray) -> np.ndarray:
        return self.contains_columns(self._columns(coords))

    def contains_columns(self, columns: Sequence[np.ndarray]) -> np.ndarray:
        inv = np.linalg.inv(np.array(self.covariance))
        k = len(self.mean)
        d = [columns[j] - self.mean[j] for j in range(k)]
        q = np.zeros(len(columns[0]))
        term = np.empty_like(q)
        for i in range(k):  # quadratic form over the (few) dimensions, vectorised over events
            for j in range(k):
                np.multiply(d[i], inv[i, j], out=term)  # q += inv[i, j] * d[i] * d[j], in place
                term *= d[j]
                q += term
        return q <= self.distance_square


@dataclass(frozen=True)
class Divider:
    """Quadrant divider along one gate dimension, cutting at one or more ``values``."""

    id: str
    values: tuple[float, ...]

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(sorted(float(v) for v in self.values)))


@dataclass(frozen=True)
class Quadrant:
    """One quadrant: ``positions`` = ((divider_id, a location inside the quadrant), ...).

    Dividers not named are unconstrained for this quadrant.
    """

    id: str
    positions: tuple[tuple[str, float], ...]

    def __post_init__(self):
        object.__setattr__(self, "positions", tuple((str(d), float(v)) for d, v in self.positions))


@dataclass(frozen=True)
class QuadrantGate(Gate):
    """Quadrant gate: ``dividers[i]`` cuts ``dimensions[i]``; every quadrant is its own population."""

    dividers: tuple[Divider, ...] = ()
    quadrants: tuple[Quadrant, ...] = ()

    def __post_init__(self):
        super().__post_init__()
        divs = tuple(d if isinstance(d, Divider) else Divider(**d) for d in self.dividers)
        quads = tuple(q if isinstance(q, Quadrant) else Quadrant(id=q["id"], positions=tuple(map(tuple, q["positions"])))
                      for q in self.quadrants)
        object.__setattr__(self, "dividers", divs)
        object.__setattr__(self, "quadrants", quads)
        if len(divs) != len(self.dimensions):
            raise ValueError(f"quadrant gate {self.id!r}: one divider per dimension needed")
        ids = {d.id for d in divs}
        for q in quads:
            bad = [d for d, _ in q.positions if d not in ids]
            if bad:
                raise ValueError(f"quadrant {q.id!r} refers to unknown divider(s) {bad}")

    def population_ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.quadrants)

    def quadrant(self, quadrant_id: str) -> Quadrant:
        for q in self.quadrants:
            if q.id == quadrant_id:
                return q
        raise KeyError(quadrant_id)

    def quadrant_bounds(self, quadrant_id: str) -> list[tuple[float | None, float | None]]:
        """Per dimension ``(min, max)`` of a quadrant (None = open / unconstrained)."""
        q = self.quadrant(quadrant_id)
        loc = dict(q.positions)
        out: list[tuple[float | None, float | None]] = []
        for div in self.dividers:
            if div.id not in loc:
                out.append((None, None))
                continue
            v = np.asarray(div.values)
            k = int(np.searchsorted(v, loc[div.id], side="right"))
            out.append((None if k == 0 else float(v[k - 1]), None if k == len(v) else float(v[k])))
        return out

    def contains_quadrant(self, coords: np.ndarray, quadrant_id: str) -> np.ndarray:
        return self._quadrant_columns(self._columns(coords), quadrant_id, {})

    def _quadrant_columns(self, columns: Sequence[np.ndarray], quadrant_id: str, memo: dict) -> np.ndarray:
        inside = np.ones(len(columns[0]), dtype=bool)
        for j, (lo, hi) in enumerate(self.quadrant_bounds(quadrant_id)):
            if lo is not None:
                if (j, lo, "ge") not in memo:
                    memo[(j, lo, "ge")] = columns[j] >= lo
                inside &= memo[(j, lo, "ge")]
            if hi is not None:
                if (j, hi, "lt") not in memo:  # below hi and not NaN
                    memo[(j, hi, "lt")] = columns[j] < hi
                inside &= memo[(j, hi, "lt")]
        return inside

    def contains(self, coords: np.ndarray) -> dict[str, np.ndarray]:
        """Membership per quadrant id (a dict, unlike the other gates)."""
        return self.contains_columns(self._columns(coords))

    def contains_columns(self, columns: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        memo: dict = {}
        return {q.id: self._quadrant_columns(columns, q.id, memo) for q in self.quadrants}


@dataclass(frozen=True)
class BooleanGate(Gate):
    """``op`` ('and'|'or'|'not') over other populations; ``refs`` = ((population_id, complement), ...)."""

    op: str = "and"
    refs: tuple[tuple[str, bool], ...] = ()

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "op", self.op.lower())
        refs = tuple((str(r[0]), bool(r[1])) if not isinstance(r, str) else (r, False) for r in self.refs)
        object.__setattr__(self, "refs", refs)
        if self.op not in ("and", "or", "not"):
            raise ValueError(f"boolean gate {self.id!r}: op must be and/or/not, not {self.op!r}")
        if self.op == "not" and len(refs) != 1:
            raise ValueError(f"boolean gate {self.id!r}: 'not' takes exactly one reference")
        if self.op != "not" and len(refs) < 1:
            raise ValueError(f"boolean gate {self.id!r}: needs at least one reference")

    def combine(self, membership: Mapping[str, np.ndarray]) -> np.ndarray:
        """Combine full memberships of the referenced populations."""
        arrays = [~membership[r] if comp else membership[r] for r, comp in self.refs]
        if self.op == "not":
            return ~arrays[0]
        if self.op == "and":
            return np.logical_and.reduce(arrays)
        return np.logical_or.reduce(arrays)

    def contains(self, coords: np.ndarray) -> np.ndarray:
        raise TypeError("a Boolean gate has no coordinates; use GatingStrategy.evaluate or combine()")


_KIND_OF = {
    RectangleGate: "rectangle", RangeGate: "range", PolygonGate: "polygon", EllipsoidGate: "ellipsoid",
    QuadrantGate: "quadrant", BooleanGate: "boolean",
}
_CLASS_OF = {v: k for k, v in _KIND_OF.items()}


def gate_from_dict(d: Mapping[str, Any]) -> Gate:
    """Inverse of ``Gate.to_dict``."""
    d = dict(d)
    cls = _CLASS_OF[d.pop("kind")]
    d["dimensions"] = _dims(d.get("dimensions", ()))
    if cls is PolygonGate:
        d["vertices"] = tuple(tuple(v) for v in d["vertices"])
    elif cls is EllipsoidGate:
        d["covariance"] = tuple(tuple(r) for r in d["covariance"])
    elif cls is QuadrantGate:
        d["dividers"] = tuple(Divider(id=x["id"], values=tuple(x["values"])) for x in d["dividers"])
        d["quadrants"] = tuple(Quadrant(id=x["id"], positions=tuple(tuple(p) for p in x["positions"]))
                               for x in d["quadrants"])
    elif cls is BooleanGate:
        d["refs"] = tuple((r[0], bool(r[1])) for r in d["refs"])
    return cls(**d)
