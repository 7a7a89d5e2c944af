"""Point-in-polygon test: flowutils' winding count, run only on events near an edge.

``flowutils.gating.points_in_polygon`` (the C test FlowKit uses too) walks every edge for
every event inside the polygon's bounding box, 15-40 ns an event for a 5-vertex gate. Here
the bounding box is cut into a ``GRID x GRID`` table once per polygon (cached): a cell that
no edge comes near (within a margin far above rounding error) is wholly inside or wholly
outside, and the answer for its centre, asked of flowutils, holds for every event in it.
Events are binned into cells with a few vectorised passes; only events in cells an edge
crosses go to flowutils. Every event therefore gets flowutils' answer (boundary events
included; ``tests/gating/test_polygon.py`` compares the two event for event), and
``benchmarks/bench_gating.py`` measures the gain.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from flowutils.gating import points_in_polygon as _flowutils_pip

__all__ = ["points_in_polygon", "GRID"]

GRID = 128
_OUT, _IN, _EDGE = 0, 1, 2


def _exact(verts: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    pts = np.empty((x.shape[0], 2))
    pts[:, 0], pts[:, 1] = x, y
    return np.asarray(_flowutils_pip(verts, pts), dtype=bool)


def _mark_edges(verts: np.ndarray, x0: float, y0: float, cw: float, ch: float) -> np.ndarray:
    """Cells (GRID x GRID, [row, column]) that some edge comes within the margin of."""
    scale = float(np.abs(verts).max()) + GRID * max(cw, ch)
    mx, my = 1e-6 * cw + 1e-9 * scale, 1e-6 * ch + 1e-9 * scale
    edge = np.zeros((GRID, GRID), dtype=bool)
    k = verts.shape[0]
    for i in range(k):
        (ax, ay), (bx, by) = verts[i], verts[(i + 1) % k]
        lo_x, hi_x = min(ax, bx), max(ax, bx)
        c0 = max(int(np.floor((lo_x - mx - x0) / cw)), 0)
        c1 = min(int(np.floor((hi_x + mx - x0) / cw)), GRID - 1)
        for c in range(c0, c1 + 1):
            # the part of the edge over this column, widened by the margin
            u0, u1 = max(x0 + c * cw - mx, lo_x), min(x0 + (c + 1) * cw + mx, hi_x)
            if ax == bx or u0 >= u1:
                ys = (ay, by)
            else:
                ys = tuple(ay + (u - ax) * (by - ay) / (bx - ax) for u in (u0, u1))
            r0 = max(int(np.floor((min(ys) - my - y0) / ch)), 0)
            r1 = min(int(np.floor((max(ys) + my - y0) / ch)), GRID - 1)
            edge[r0:r1 + 1, c] = True
    return edge


@lru_cache(maxsize=256)
def _grid(vertices: tuple[tuple[float, float], ...]) -> tuple[float, float, float, float, np.ndarray] | None:
    """(x, y of the table's origin, cells per x unit, cells per y unit, cell codes) of a polygon.

    The table covers the bounding box widened by half a cell on each side, plus a ring of
    outside cells that takes every event farther out (and NaN); None for a flat polygon.
    """
    verts = np.array(vertices, dtype=np.float64)
    (x0, y0), (x1, y1) = verts.min(axis=0), verts.max(axis=0)
    if not (np.isfinite(verts).all() and x1 > x0 and y1 > y0):
        return None
    cw, ch = (x1 - x0) / (GRID - 1), (y1 - y0) / (GRID - 1)
    gx, gy = x0 - cw / 2, y0 - ch / 2  # the GRID x GRID cells start here
    edge = _mark_edges(verts, gx, gy, cw, ch)
    rows, cols = np.divmod(np.arange(GRID * GRID), GRID)
    inside = _exact(verts, gx + (cols + 0.5) * cw, gy + (rows + 0.5) * ch)
    codes = np.full((GRID + 2, GRID + 2), _OUT, dtype=np.uint8)
    codes[1:-1, 1:-1] = np.where(edge.ravel(), _EDGE, np.where(inside, _IN, _OUT)).reshape(GRID, GRID)
    return float(gx - cw), float(gy - ch), 1.0 / cw, 1.0 / ch, codes.ravel()


def points_in_polygon(vertices, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Events (``x[i]``, ``y[i]``) inside the polygon, exactly as flowutils decides them.

    flowutils: an event outside the vertices' bounding box (or NaN) is outside; inside it,
    the event is in when its winding count is odd (even-odd rule for self-crossing polygons).
    """
    verts_t = tuple((float(a), float(b)) for a, b in vertices)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    grid = _grid(verts_t)
    verts = np.array(verts_t, dtype=np.float64)
    if grid is None or x.shape[0] < 4 * GRID:
        return _exact(verts, x, y)
    ox, oy, sx, sy, codes = grid
    # table cell of every event; truncation toward zero and clipping only move events that lie
    # outside the bounding box by half a cell or more (and NaN, inf) into the outer ring
    with np.errstate(invalid="ignore"):
        buf = np.subtract(x, ox)
        buf *= sx
        cell = buf.astype(np.intp)
        np.subtract(y, oy, out=buf)
        buf *= sy
        row = buf.astype(np.intp)
    np.clip(cell, 0, GRID + 1, out=cell)
    np.clip(row, 0, GRID + 1, out=row)
    row *= GRID + 2
    cell += row
    code = codes.take(cell)
    out = code == _IN
    near = np.flatnonzero(code == _EDGE)
    if near.size:
        out[near] = _exact(verts, x[near], y[near])
    return out
