"""Gate shapes: boundaries, open bounds, even-odd polygons, ellipsoids, quadrants, Boolean logic."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from gating.gates import (
    BooleanGate,
    Dimension,
    Divider,
    EllipsoidGate,
    PolygonGate,
    Quadrant,
    QuadrantGate,
    RangeGate,
    RectangleGate,
    gate_from_dict,
)


def test_rectangle_is_min_inclusive_max_exclusive_with_open_bounds():
    g = RectangleGate("r", None, ("A", "B"), (1.0, None), (2.0, 5.0))
    pts = np.array([[1.0, -1e9], [2.0, 0.0], [1.5, 5.0], [1.5, 4.999], [np.nan, 1.0], [0.999, 1.0]])
    np.testing.assert_array_equal(g.contains(pts), [True, False, False, True, False, False])
    r = RangeGate("rg", None, ("A",), (None,), (None,))
    np.testing.assert_array_equal(r.contains(np.array([[1.0], [np.nan]])), [True, False])
    with pytest.raises(ValueError):
        RangeGate("bad", None, ("A", "B"), (0, 0), (1, 1))


def test_polygon_even_odd_self_intersecting():
    # a bow-tie crossing itself at (1, 1): both lobes are inside
    bow = PolygonGate("bow", None, ("x", "y"), ((0, 0), (2, 2), (2, 0), (0, 2)))
    np.testing.assert_array_equal(bow.contains(np.array([[0.2, 1.0], [1.8, 1.0], [1.0, 0.2], [3.0, 1.0]])),
                                  [True, True, False, False])
    # a pentagram: the centre pentagon is covered twice -> outside under even-odd
    ang = np.pi / 2 + np.arange(5) * 4 * np.pi / 5
    star = PolygonGate("star", None, ("x", "y"), tuple(zip(np.cos(ang), np.sin(ang))))
    np.testing.assert_array_equal(star.contains(np.array([[0.0, 0.0], [0.0, 0.8], [0.0, -2.0]])),
                                  [False, True, False])


def test_ellipse_matches_axis_definition():
    # half-axes 10 and 5 rotated 45 degrees: covariance 62.5/37.5 (as in ISAC Ellipse1)
    g = EllipsoidGate("e", None, ("x", "y"), (0.0, 0.0), ((62.5, 37.5), (37.5, 62.5)), 1.0)
    u = np.array([1.0, 1.0]) / np.sqrt(2)
    v = np.array([-1.0, 1.0]) / np.sqrt(2)
    pts = np.array([9.99 * u, 10.01 * u, 4.99 * v, 5.01 * v, 7 * u + 3 * v])
    inside = (7 / 10) ** 2 + (3 / 5) ** 2 <= 1
    np.testing.assert_array_equal(g.contains(pts), [True, False, True, False, inside])


def test_quadrant_multi_divider_membership():
    g = QuadrantGate(
        "q", None, ("A", "B"),
        (Divider("dA", (10.0, 20.0)), Divider("dB", (5.0,))),
        (Quadrant("lowA-lowB", (("dA", 0.0), ("dB", 0.0))),
         Quadrant("midA", (("dA", 15.0),)),
         Quadrant("highA-highB", (("dA", 99.0), ("dB", 9.0)))))
    pts = np.array([[9.9, 4.9], [10.0, 100.0], [19.99, -5.0], [20.0, 5.0], [20.0, 4.9], [-1.0, 5.0]])
    res = g.contains(pts)
    np.testing.assert_array_equal(res["lowA-lowB"], [True, False, False, False, False, False])
    np.testing.assert_array_equal(res["midA"], [False, True, True, False, False, False])
    np.testing.assert_array_equal(res["highA-highB"], [False, False, False, True, False, False])
    assert g.population_ids() == ("lowA-lowB", "midA", "highA-highB")
    assert g.quadrant_bounds("midA") == [(10.0, 20.0), (None, None)]


def test_boolean_combine_with_complement():
    m = {"a": np.array([1, 1, 0, 0], bool), "b": np.array([1, 0, 1, 0], bool)}
    assert BooleanGate("x", None, (), "and", (("a", False), ("b", True))).combine(m).tolist() == [False, True, False, False]
    assert BooleanGate("x", None, (), "or", (("a", False), ("b", False))).combine(m).tolist() == [True, True, True, False]
    assert BooleanGate("x", None, (), "not", (("a", False),)).combine(m).tolist() == [False, False, True, True]
    with pytest.raises(ValueError):
        BooleanGate("x", None, (), "not", (("a", False), ("b", False)))
    with pytest.raises(ValueError):
        BooleanGate("x", None, (), "xor", (("a", False),))


def test_gates_are_frozen_and_edited_with_replace():
    g = RectangleGate("r", None, (Dimension("A", "FCS", "logicle"),), (0.1,), (0.9,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.mins = (0.0,)
    g2 = dataclasses.replace(g, maxs=(0.5,))
    assert g2.maxs == (0.5,) and g.maxs == (0.9,) and g2.dimensions[0].compensation_ref == "FCS"


def test_every_gate_type_dict_round_trip_through_json():
    gates = [
        RectangleGate("r", "p", (Dimension("A", None, "t"), Dimension("R", "FCS", None, ratio=True)), (None, 1), (2, None)),
        RangeGate("g", None, ("A",), (0,), (1,)),
        PolygonGate("poly", None, ("A", "B"), ((0, 0), (1, 0), (0, 1))),
        EllipsoidGate("e", None, ("A", "B", "C"), (1, 2, 3), ((1, 0, 0), (0, 2, 0), (0, 0, 3)), 2.5),
        QuadrantGate("q", None, ("A", "B"), (Divider("d1", (1, 2)), Divider("d2", (3,))),
                     (Quadrant("q1", (("d1", 0), ("d2", 0))), Quadrant("q2", (("d1", 5),)))),
        BooleanGate("b", None, (), "and", (("r", True), ("q1", False))),
    ]
    for g in gates:
        back = gate_from_dict(json.loads(json.dumps(g.to_dict())))
        assert back == g and type(back) is type(g)
