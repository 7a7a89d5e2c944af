"""gating.polygon against flowutils' C winding count, event for event (boundary events included)."""
from __future__ import annotations

import numpy as np
import pytest
from flowutils.gating import points_in_polygon as flowutils_pip

from gating.polygon import GRID, _grid, points_in_polygon


def _reference(verts, pts: np.ndarray) -> np.ndarray:
    return np.asarray(flowutils_pip(np.asarray(verts, dtype=np.float64), np.ascontiguousarray(pts)), dtype=bool)


def _check(verts, pts: np.ndarray) -> None:
    got = points_in_polygon(verts, pts[:, 0], pts[:, 1])
    want = _reference(verts, pts)
    assert got.dtype == bool and got.shape == want.shape
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"{bad.size} events differ, e.g. {pts[bad[:5]].tolist()}"


def _boundary_events(verts: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Vertices, points on the edges, and points a few ulps off the edges."""
    a, b = verts, np.roll(verts, -1, axis=0)
    t = rng.random((n, 1))
    k = rng.integers(0, len(verts), n)
    on = a[k] + t * (b[k] - a[k])
    off = np.nextafter(on, on + rng.choice([-1.0, 1.0], on.shape))
    return np.vstack([verts, on, off, (a + b) / 2])


SHAPES = {
    "triangle": [(0.0, 0.0), (1.0, 0.0), (0.5, 1.0)],
    "whole-blood leukocytes": [(0.14, 0.0), (1.0, 0.0), (1.0, 0.8), (0.25, 0.8), (0.14, 0.12)],
    "self-crossing bow tie": [(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0)],
    "star (even-odd holes)": [(np.cos(a) * 1e4, np.sin(a) * 1e4) for a in np.linspace(0, 4 * np.pi, 5, endpoint=False)],
    "concave comb": [(0, 0), (10, 0), (10, 10), (8, 10), (8, 2), (6, 2), (6, 10), (4, 10), (4, 2), (2, 2), (2, 10),
                     (0, 10)],
    "50-vertex circle, logicle units": [(0.5 + 0.3 * np.cos(a), 0.4 + 0.2 * np.sin(a))
                                        for a in np.linspace(0, 2 * np.pi, 50, endpoint=False)],
    "raw units, repeated vertex": [(-5000.0, 200.0), (262143.0, 200.0), (262143.0, 200.0), (100000.0, 250000.0)],
    "thin sliver": [(0.0, 0.0), (1.0, 1e-9), (1.0, 2e-9)],
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_equals_flowutils_on_random_and_boundary_events(name):
    verts = np.array(SHAPES[name], dtype=np.float64)
    rng = np.random.default_rng(len(name))
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    pts = np.vstack([lo - 0.2 * span + rng.random((20_000, 2)) * 1.4 * span,
                     _boundary_events(verts, rng, 5_000)])
    _check(SHAPES[name], pts)


def test_grid_vertices_and_lattice_events():
    """Integer polygons and integer events: many events on edges, vertices and vertex rows."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        verts = rng.integers(0, 8, (int(rng.integers(3, 12)), 2)).astype(float)
        pts = rng.integers(-1, 9, (3000, 2)).astype(float) + rng.choice([0.0, 0.5], (3000, 2))
        _check(verts, pts)


def test_nan_inf_and_far_events_are_outside_as_in_flowutils():
    verts = SHAPES["whole-blood leukocytes"]
    rng = np.random.default_rng(3)
    pts = rng.random((4 * GRID * 4, 2))
    pts[::7, 0] = np.nan
    pts[1::11, 1] = np.nan
    pts[2::13] = [np.inf, 0.5]
    pts[3::17] = [0.5, -np.inf]
    pts[4::19] = [1e300, -1e300]
    _check(verts, pts)


def test_small_inputs_and_flat_polygons_go_straight_to_flowutils():
    _check(SHAPES["triangle"], np.array([[0.5, 0.5], [2.0, 2.0]]))
    _check(SHAPES["triangle"], np.empty((0, 2)))
    flat = [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)]
    assert _grid(tuple(flat)) is None
    _check(flat, np.random.default_rng(1).random((5000, 2)))


@pytest.mark.parametrize("name", ["star (even-odd holes)", "concave comb", "50-vertex circle, logicle units"])
def test_agrees_with_matplotlib_away_from_the_boundary(name):
    """An independent even-odd test (matplotlib's path) on events farther than 1e-6 of the span from any edge."""
    mpath = pytest.importorskip("matplotlib.path")
    verts = np.array(SHAPES[name], dtype=np.float64)
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    rng = np.random.default_rng(5)
    pts = lo - 0.1 * (hi - lo) + rng.random((20_000, 2)) * 1.2 * (hi - lo)
    a, d = verts, np.roll(verts, -1, axis=0) - verts
    t = np.clip(((pts[:, None, :] - a) * d).sum(-1) / (d * d).sum(-1), 0, 1)
    dist = np.linalg.norm(pts[:, None, :] - (a + t[..., None] * d), axis=-1).min(axis=1)
    far = pts[dist > 1e-6 * (hi - lo).max()]
    want = mpath.Path(np.vstack([verts, verts[:1]]), closed=True).contains_points(far)
    assert np.array_equal(points_in_polygon(verts, far[:, 0], far[:, 1]), want)
