"""Auto-tune: a template gate follows a shifted population, within its bound."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gating.autotune import autotune_gate, translate_gate
from gating.gates import BooleanGate, Dimension, Divider, EllipsoidGate, PolygonGate, Quadrant, QuadrantGate
from gating.simulate import simulate_whole_blood, whole_blood_template


@pytest.fixture(scope="module")
def strategy():
    st = whole_blood_template()  # B cells boxed on both sides: CD3 0-0.35, CD19 0.5-0.8 (mean 0.64)
    st.replace_gate(dataclasses.replace(st.gates["B_cells"], mins=(0.0, 0.5), maxs=(0.35, 0.8)))
    return st


def _recall(strategy, sample, truth, gate):
    st = strategy.copy()
    st.replace_gate(gate)
    m = st.evaluate(sample).membership["B_cells"]
    return np.count_nonzero(m & truth["B_cells"]) / truth["B_cells"].sum()


def _span(strategy, sample, dim):
    parent = strategy.evaluate(sample).membership["Lymphocytes"]
    x = strategy.gate_coordinates(sample, "B_cells")[parent, dim]
    return np.percentile(x, 99.5) - np.percentile(x, 0.5)


def test_autotune_recovers_shift(strategy):
    s, truth = simulate_whole_blood(15_000, seed=3, shifts={"B_cells": {"CD19": 0.08}})
    res = autotune_gate(s, strategy, "B_cells", max_shift=0.1)
    d3, d19 = res.moved
    assert 0.05 <= d19 <= 0.1  # most of the 0.08 shift
    assert abs(d3) < 0.03
    assert res.boundary_after < res.boundary_before / 3
    assert res.gate.mins[1] == pytest.approx(0.5 + d19) and res.gate.maxs[1] == pytest.approx(0.8 + d19)
    before = _recall(strategy, s, truth, strategy.gates["B_cells"])
    after = _recall(strategy, s, truth, res.gate)
    assert before < 0.96 and after > 0.99


def test_autotune_stays_within_bound(strategy):
    s, _ = simulate_whole_blood(15_000, seed=4, shifts={"B_cells": {"CD19": 0.12}})
    res = autotune_gate(s, strategy, "B_cells", max_shift=0.04)
    span = _span(strategy, s, 1)
    assert 0.7 * 0.04 * span < res.moved[1] <= 0.04 * span + 1e-12  # pushed against the bound
    assert res.shift <= 0.04 * np.sqrt(2) + 1e-9


def test_unshifted_sample_barely_moves(strategy):
    s, _ = simulate_whole_blood(15_000, seed=5)
    res = autotune_gate(s, strategy, "B_cells", max_shift=0.1)
    assert abs(res.moved[1]) < 0.025
    b = BooleanGate("notB", "Lymphocytes", op="not", refs=(("B_cells", False),))
    st = strategy.copy()
    st.add_gate(b)
    assert autotune_gate(s, st, "notB").gate == b


def test_translate_gate_shapes():
    dims = (Dimension("a"), Dimension("b"))
    p = translate_gate(PolygonGate("p", None, dims, vertices=((0, 0), (1, 0), (0, 1))), (0.5, -1))
    assert p.vertices == ((0.5, -1.0), (1.5, -1.0), (0.5, 0.0))
    e = translate_gate(EllipsoidGate("e", None, dims, mean=(1, 2), covariance=((1, 0), (0, 1)), distance_square=1), (1, 1))
    assert e.mean == (2.0, 3.0)
    q = QuadrantGate("q", None, dims, dividers=(Divider("da", (0.5,)), Divider("db", (0.2,))),
                     quadrants=(Quadrant("pp", (("da", 1.0), ("db", 1.0))), Quadrant("nn", (("da", 0.0), ("db", 0.0)))))
    q2 = translate_gate(q, (0.1, 0.1))
    pts = np.array([[0.55, 0.25], [0.65, 0.35]])
    assert q.contains(pts)["pp"].tolist() == [True, True]
    assert q2.contains(pts)["pp"].tolist() == [False, True]
