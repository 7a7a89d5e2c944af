"""One pyqtgraph ROI per gate, in the gate's own transformed coordinates.

``shape_to_gate`` turns a drawn gesture (two corners, polygon vertices...) into
a new frozen gate; ``GateItem`` shows a gate as an editable ROI plus a label
(name, count, % parent) and, when the user finishes a drag, emits
``edited(new_gate)`` built with ``dataclasses.replace`` — the tab pushes it
onto the undo stack. Redraws from the model happen with signals blocked.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Signal

PEN = pg.mkPen("#d62728", width=2)
HOVER_PEN = pg.mkPen("#ff7f0e", width=3)
SELECTED_PEN = pg.mkPen("#000000", width=2.5)


def _gates():
    import gating.gates as g
    return g


# ---------------------------------------------------------------------------
# geometry <-> gate values (pure functions, unit-tested)
# ---------------------------------------------------------------------------
def ellipse_to_covariance(center, half_axes, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (distance_square = 1) of an ellipse with semi-axes and rotation."""
    a, b = half_axes
    t = math.radians(angle_deg)
    r = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    cov = r @ np.diag([a * a, b * b]) @ r.T
    return np.asarray(center, dtype=np.float64), cov


def covariance_to_ellipse(mean, covariance, distance_square: float):
    """Inverse of :func:`ellipse_to_covariance`: (center, (a, b), angle in degrees)."""
    vals, vecs = np.linalg.eigh(np.asarray(covariance, dtype=np.float64) * distance_square)
    vals = np.clip(vals, 0.0, None)
    a, b = math.sqrt(vals[1]), math.sqrt(vals[0])
    v = vecs[:, 1]
    angle = math.degrees(math.atan2(v[1], v[0]))
    return np.asarray(mean, dtype=np.float64), (a, b), angle


def shape_to_gate(kind: str, points: np.ndarray, *, gate_id: str, parent_id: str | None,
                  dimensions: tuple):
    """A new gate from a drawn shape; ``points`` are in the dimensions' transformed coordinates."""
    g = _gates()
    pts = np.asarray(points, dtype=np.float64)
    if kind == "rectangle":
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return g.RectangleGate(id=gate_id, parent_id=parent_id, dimensions=tuple(dimensions),
                               mins=tuple(float(v) for v in lo), maxs=tuple(float(v) for v in hi))
    if kind == "range":
        lo, hi = float(pts[:, 0].min()), float(pts[:, 0].max())
        return g.RectangleGate(id=gate_id, parent_id=parent_id, dimensions=tuple(dimensions[:1]),
                               mins=(lo,), maxs=(hi,))
    if kind == "polygon":
        return g.PolygonGate(id=gate_id, parent_id=parent_id, dimensions=tuple(dimensions),
                             vertices=tuple((float(x), float(y)) for x, y in pts))
    if kind == "ellipse":
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        mean, cov = ellipse_to_covariance((lo + hi) / 2, (hi - lo) / 2, 0.0)
        return g.EllipsoidGate(id=gate_id, parent_id=parent_id, dimensions=tuple(dimensions),
                               mean=tuple(float(v) for v in mean),
                               covariance=tuple(tuple(float(v) for v in row) for row in cov),
                               distance_square=1.0)
    if kind == "quadrant":
        return make_quadrant_gate(gate_id, parent_id, tuple(dimensions), pts[0])
    raise ValueError(f"unknown shape {kind!r}")


def make_quadrant_gate(gate_id: str, parent_id: str | None, dimensions: tuple, center):
    """A 4-quadrant gate split at ``center``; quadrant ids ``<gate>: X+ Y+`` etc."""
    g = _gates()
    cx, cy = (float(c) for c in center)
    dx, dy = f"{gate_id}.x", f"{gate_id}.y"
    divs = (g.Divider(id=dx, values=(cx,)), g.Divider(id=dy, values=(cy,)))
    names = [d.channel for d in dimensions]
    quads = []
    for sy in (1, -1):
        for sx in (-1, 1):
            label = f"{gate_id}: {names[0]}{'+' if sx > 0 else '-'} {names[1]}{'+' if sy > 0 else '-'}"
            quads.append(g.Quadrant(id=label, positions=((dx, cx + sx * 0.5), (dy, cy + sy * 0.5))))
    return g.QuadrantGate(id=gate_id, parent_id=parent_id, dimensions=tuple(dimensions),
                          dividers=divs, quadrants=tuple(quads))


def gate_kind(gate) -> str:
    """'rectangle', 'range', 'polygon', 'ellipse', 'quadrant', 'boolean' or 'other'."""
    name = type(gate).__name__
    if name in ("RectangleGate", "RangeGate"):
        return "range" if len(gate.dimensions) == 1 else "rectangle"
    return {"PolygonGate": "polygon", "EllipsoidGate": "ellipse", "QuadrantGate": "quadrant",
            "BooleanGate": "boolean"}.get(name, "other")


def _finite(v, default):
    return default if v is None or not np.isfinite(v) else float(v)


# ---------------------------------------------------------------------------
# the editable item
# ---------------------------------------------------------------------------
class GateItem(QObject):
    """An editable ROI for one gate on a ``pg.PlotItem`` plus its name/count label."""

    edited = Signal(object)     # the new gate after a finished drag

    def __init__(self, gate, plot_item: pg.PlotItem, *, view_range=None) -> None:
        super().__init__()
        self.gate = gate
        self.plot_item = plot_item
        self.kind = gate_kind(gate)
        (self._x0, self._x1), (self._y0, self._y1) = view_range or plot_item.getViewBox().viewRange()
        self.roi = self._make_roi(gate)
        self.label = pg.TextItem(gate.id, color="#000000", anchor=(0, 1),
                                 fill=pg.mkBrush(255, 255, 255, 200), border=pg.mkPen("#d62728"))
        self.label.setZValue(100)
        for it in self._items():
            plot_item.addItem(it, ignoreBounds=True)
        self.plot_item.addItem(self.label, ignoreBounds=True)
        self._connect()
        self._place_label()

    # ---- construction --------------------------------------------------
    def _items(self):
        return self.roi if isinstance(self.roi, list) else [self.roi]

    def _make_roi(self, gate):
        k = self.kind
        if k == "rectangle":
            x0 = _finite(gate.mins[0], self._x0)
            y0 = _finite(gate.mins[1], self._y0)
            x1 = _finite(gate.maxs[0], self._x1)
            y1 = _finite(gate.maxs[1], self._y1)
            roi = pg.RectROI([x0, y0], [x1 - x0, y1 - y0], pen=PEN, hoverPen=HOVER_PEN,
                             removable=True)
            roi.addScaleHandle([0, 0], [1, 1])
            roi.addScaleHandle([1, 0], [0, 1])
            roi.addScaleHandle([0, 1], [1, 0])
            return roi
        if k == "range":
            lo = _finite(gate.mins[0], self._x0)
            hi = _finite(gate.maxs[0], self._x1)
            return pg.LinearRegionItem([lo, hi], brush=pg.mkBrush(214, 39, 40, 40),
                                       pen=PEN, hoverPen=HOVER_PEN)
        if k == "polygon":
            return pg.PolyLineROI([list(v) for v in gate.vertices], closed=True, pen=PEN,
                                  hoverPen=HOVER_PEN, removable=True)
        if k == "ellipse":
            c, (a, b), ang = covariance_to_ellipse(gate.mean, gate.covariance, gate.distance_square)
            t = math.radians(ang)
            # pos is the rotated lower-left corner of the (2a x 2b) box centred on c
            off = np.array([math.cos(t) * -a - math.sin(t) * -b, math.sin(t) * -a + math.cos(t) * -b])
            return pg.EllipseROI(list(c + off), [2 * a, 2 * b], angle=ang, pen=PEN,
                                 hoverPen=HOVER_PEN, removable=True)
        if k == "quadrant":
            cx, cy = quadrant_center(gate)
            return [pg.InfiniteLine(cx, angle=90, movable=True, pen=PEN, hoverPen=HOVER_PEN),
                    pg.InfiniteLine(cy, angle=0, movable=True, pen=PEN, hoverPen=HOVER_PEN)]
        raise ValueError(f"cannot draw a {type(gate).__name__}")

    def _connect(self) -> None:
        if self.kind == "quadrant":
            for line in self.roi:
                line.sigPositionChangeFinished.connect(self._finished)
        else:
            self.roi.sigRegionChangeFinished.connect(self._finished)
            self.roi.sigRegionChanged.connect(self._place_label)

    # ---- reading the ROI back ------------------------------------------
    def current_gate(self):
        """The gate as the ROI now shows it (``dataclasses.replace`` of the original)."""
        g, k = self.gate, self.kind
        if k == "rectangle":
            pos, size = self.roi.pos(), self.roi.size()
            x0, y0 = float(pos.x()), float(pos.y())
            x1, y1 = x0 + float(size.x()), y0 + float(size.y())
            mins = tuple(None if (old is None and abs(new - edge) < 1e-12) else new
                         for old, new, edge in zip(g.mins, (min(x0, x1), min(y0, y1)), (self._x0, self._y0)))
            maxs = tuple(None if (old is None and abs(new - edge) < 1e-12) else new
                         for old, new, edge in zip(g.maxs, (max(x0, x1), max(y0, y1)), (self._x1, self._y1)))
            return dataclasses.replace(g, mins=mins, maxs=maxs)
        if k == "range":
            lo, hi = self.roi.getRegion()
            return dataclasses.replace(g, mins=(float(lo),), maxs=(float(hi),))
        if k == "polygon":
            verts = []
            for h in self.roi.getHandles():
                p = self.roi.mapToParent(h.pos())
                verts.append((float(p.x()), float(p.y())))
            return dataclasses.replace(g, vertices=tuple(verts))
        if k == "ellipse":
            size = self.roi.size()
            a, b = float(size.x()) / 2, float(size.y()) / 2
            c = self.roi.mapToParent(QPointF(a, b))
            mean, cov = ellipse_to_covariance((c.x(), c.y()), (a, b), float(self.roi.angle()))
            return dataclasses.replace(g, mean=tuple(float(v) for v in mean),
                                       covariance=tuple(tuple(float(v) for v in r) for r in cov),
                                       distance_square=1.0)
        if k == "quadrant":
            return move_quadrant(g, (float(self.roi[0].value()), float(self.roi[1].value())))
        return g

    def _finished(self, *_) -> None:
        new = self.current_gate()
        if new != self.gate:
            self.edited.emit(new)

    # ---- label ---------------------------------------------------------
    def anchor_point(self) -> tuple[float, float]:
        g, k = self.gate, self.kind
        if k == "rectangle":
            return (_finite(g.mins[0], self._x0), _finite(g.maxs[1], self._y1))
        if k == "range":
            return (_finite(g.mins[0], self._x0), self._y1)
        if k == "polygon":
            v = np.asarray(g.vertices)
            return float(v[:, 0].min()), float(v[:, 1].max())
        if k == "ellipse":
            c, (a, b), _ = covariance_to_ellipse(g.mean, g.covariance, g.distance_square)
            return float(c[0] - a * 0.7), float(c[1] + max(a, b) * 0.7)
        if k == "quadrant":
            return quadrant_center(g)
        return (self._x0, self._y1)

    def _place_label(self, *_) -> None:
        if self.kind in ("rectangle", "polygon", "ellipse") and self.roi is not None:
            br = self.roi.mapRectToParent(self.roi.boundingRect())
            x, y = br.left(), max(br.top(), br.bottom())
        else:
            x, y = self.anchor_point()
        # keep the label inside the visible plot even when the gate extends beyond it
        (vx0, vx1), (vy0, vy1) = self.plot_item.getViewBox().viewRange()
        x = min(max(x, vx0), vx0 + 0.75 * (vx1 - vx0))
        y = min(max(y, vy0 + 0.1 * (vy1 - vy0)), vy1 - 0.08 * (vy1 - vy0))
        self.label.setPos(x, y)

    def set_text(self, text: str) -> None:
        self.label.setText(text)

    def set_interactive(self, on: bool) -> None:
        """Disabled while a drawing tool is active, so clicks reach the view box."""
        for it in self._items():
            it.setEnabled(on)

    def set_selected(self, on: bool) -> None:
        for it in self._items():
            if hasattr(it, "setPen"):
                it.setPen(SELECTED_PEN if on else PEN)

    def remove(self) -> None:
        for it in self._items() + [self.label]:
            self.plot_item.removeItem(it)


# ---- quadrant helpers -------------------------------------------------------
def quadrant_center(gate) -> tuple[float, float]:
    """Where the first two dividers cut (first value of each)."""
    return float(gate.dividers[0].values[0]), float(gate.dividers[1].values[0])


def move_quadrant(gate, center):
    """Move single-cut dividers to ``center``; quadrant locations move along with them."""
    old = {d.id: d.values[0] for d in gate.dividers}
    new = {d.id: float(c) for d, c in zip(gate.dividers, center)}
    divs = tuple(dataclasses.replace(d, values=(new[d.id],)) if len(d.values) == 1 else d
                 for d in gate.dividers)
    quads = tuple(dataclasses.replace(q, positions=tuple(
        (did, new[did] + (loc - old[did])) if did in new and len(dict((x.id, x) for x in gate.dividers)[did].values) == 1
        else (did, loc) for did, loc in q.positions)) for q in gate.quadrants)
    return dataclasses.replace(gate, dividers=divs, quadrants=quads)


def outline(gate, n: int = 80):
    """(xs, ys) polyline of a gate's boundary for thumbnails (None if not drawable)."""
    k = gate_kind(gate)
    big = 1e12
    if k == "rectangle":
        x0, y0 = (-big if v is None else v for v in gate.mins)
        x1, y1 = (big if v is None else v for v in gate.maxs)
        return np.array([x0, x1, x1, x0, x0]), np.array([y0, y0, y1, y1, y0])
    if k == "range":
        lo, hi = gate.mins[0], gate.maxs[0]
        return np.array([lo, lo, np.nan, hi, hi]), np.array([-big, big, np.nan, -big, big])
    if k == "polygon":
        v = np.asarray(gate.vertices + gate.vertices[:1], dtype=np.float64)
        return v[:, 0], v[:, 1]
    if k == "ellipse":
        vals, vecs = np.linalg.eigh(np.asarray(gate.covariance) * gate.distance_square)
        t = np.linspace(0, 2 * np.pi, n)
        pts = (vecs @ (np.sqrt(np.clip(vals, 0, None))[:, None] * np.vstack([np.cos(t), np.sin(t)])))
        return gate.mean[0] + pts[0], gate.mean[1] + pts[1]
    if k == "quadrant":
        cx, cy = quadrant_center(gate)
        return np.array([cx, cx, np.nan, -big, big]), np.array([-big, big, np.nan, cy, cy])
    return None
