"""GatingStrategy: hierarchy, evaluation and counts, edits, serialisation."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gating.compensation import Compensation
from gating.errors import InputError
from gating.gates import BooleanGate, Dimension, Divider, PolygonGate, Quadrant, QuadrantGate, RangeGate, RectangleGate
from gating.progress import Cancelled
from gating.sample import Sample
from gating.strategy import GatingStrategy, StrategyError
from gating.transforms import LinearTransform, RatioTransform


@pytest.fixture()
def sample():
    rng = np.random.default_rng(7)
    ev = rng.uniform(0, 100, size=(5000, 3))
    return Sample.from_array(ev, ["A", "B", "C"], markers=["CD3", "", "CD19"], name="s1",
                             spillover=(["A", "B"], np.array([[1.0, 0.2], [0.0, 1.0]])))


def _tree() -> GatingStrategy:
    return GatingStrategy(
        gates=[
            RangeGate("Cells", None, ("A",), (10.0,), (None,)),
            RectangleGate("Live", "Cells", (Dimension("B", "FCS"), "CD19"), (20.0, None), (90.0, 80.0)),
            QuadrantGate("Q", "Live", ("A", "C"), (Divider("dA", (50.0,)), Divider("dC", (50.0,))),
                         (Quadrant("A+C+", (("dA", 60), ("dC", 60))), Quadrant("A-C+", (("dA", 0), ("dC", 60))),
                          Quadrant("A+C-", (("dA", 60), ("dC", 0))), Quadrant("A-C-", (("dA", 0), ("dC", 0))))),
            PolygonGate("Tri", "A+C+", ("A", "C"), ((50, 50), (100, 50), (100, 100))),
            BooleanGate("NotTri", "A+C+", (), "not", (("Tri", False),)),
        ],
        transforms=[LinearTransform("lin", t=100, a=0)],
    )


def test_membership_is_intersected_with_parents_and_counts_agree(sample):
    st = _tree()
    res = st.evaluate(sample)
    ev = sample.events
    cells = ev[:, 0] >= 10
    comp_b = ev[:, 1] - 0.2 * ev[:, 0]  # compensated with the sample's spillover
    live = cells & (comp_b >= 20) & (comp_b < 90) & (ev[:, 2] < 80)
    qpp = live & (ev[:, 0] >= 50) & (ev[:, 2] >= 50)
    tri = qpp & (ev[:, 2] < ev[:, 0])  # strictly below the diagonal
    np.testing.assert_array_equal(res.membership["Cells"], cells)
    np.testing.assert_array_equal(res.membership["Live"], live)
    np.testing.assert_array_equal(res.membership["A+C+"], qpp)
    assert abs(int(res.membership["Tri"].sum()) - int(tri.sum())) <= 2  # events on the diagonal edge
    np.testing.assert_array_equal(res.membership["NotTri"], qpp & ~res.membership["Tri"])
    quads = sum(res.membership[q] for q in ("A+C+", "A-C+", "A+C-", "A-C-"))
    np.testing.assert_array_equal(quads, live.astype(int))

    df = res.counts().set_index("population")
    assert list(res.counts().columns) == ["sample", "population", "count", "parent_count", "pct_parent", "pct_total"]
    row = df.loc["Cells/Live/A+C+/NotTri"]
    assert row["count"] == (qpp & ~res.membership["Tri"]).sum() and row["parent_count"] == qpp.sum()
    assert row["pct_parent"] == pytest.approx(100 * row["count"] / qpp.sum())
    assert df.loc["Cells", "parent_count"] == 5000 and df.loc["Cells", "pct_total"] == pytest.approx(100 * cells.mean())
    assert set(df["sample"]) == {"s1"}


def test_paths_children_and_population_ids():
    st = _tree()
    assert st.path("Tri") == "Cells/Live/A+C+/Tri"
    assert st.children(None) == ["Cells"]
    assert st.children("Live") == ["A+C+", "A-C+", "A+C-", "A-C-"]
    assert "Q" not in st.population_ids() and "A-C-" in st.population_ids()
    assert st.gate_of("A-C-").id == "Q"


def test_gate_coordinates_are_compensated_and_by_marker(sample):
    st = _tree()
    xy = st.gate_coordinates(sample, "Live")
    np.testing.assert_allclose(xy[:, 0], sample.events[:, 1] - 0.2 * sample.events[:, 0])
    np.testing.assert_array_equal(xy[:, 1], sample.events[:, 2])  # 'CD19' is the marker of channel C


def test_ratio_dimension_and_uncompensated_fallback():
    ev = np.array([[10.0, 5.0], [10.0, 20.0], [3.0, 1.0]])
    s = Sample.from_array(ev, ["X", "Y"], name="r")
    st = GatingStrategy([RangeGate("hi", None, (Dimension("rat", ratio=True),), (1.5,), (None,))],
                        transforms=[RatioTransform("rat", channels=("X", "Y"), a=1, b=0, c=0)])
    np.testing.assert_array_equal(st.evaluate(s).membership["hi"], [True, False, True])
    # 'FCS' compensation on a file without spillover = uncompensated (ISAC Rectangle2 semantics)
    st2 = GatingStrategy([RangeGate("x", None, (Dimension("X", "FCS"),), (5,), (None,))])
    np.testing.assert_array_equal(st2.evaluate(s).membership["x"], [True, True, False])


def test_edits_rename_reparent_remove():
    st = _tree()
    st.rename_gate("Live", "Viable")
    assert st.path("Tri") == "Cells/Viable/A+C+/Tri" and st.gates["Q"].parent_id == "Viable"
    st.rename_gate("A+C+", "DP")
    assert st.gates["Tri"].parent_id == "DP" and st.gates["NotTri"].refs == (("Tri", False),)
    st.rename_gate("Tri", "Triangle")
    assert st.gates["NotTri"].refs == (("Triangle", False),)
    with pytest.raises(StrategyError):
        st.reparent("Cells", "DP")  # would create a cycle
    with pytest.raises(StrategyError):
        st.rename_gate("Cells", "DP")  # id taken
    st.reparent("Triangle", "Cells")
    assert st.path("Triangle") == "Cells/Triangle"
    removed = st.remove_gate("Triangle")
    assert removed == ["Triangle", "NotTri"]  # the Boolean gate depended on it
    removed = st.remove_gate("Viable")
    assert removed == ["Viable", "Q"] and list(st.gates) == ["Cells"]
    with pytest.raises(StrategyError):
        st.add_gate(RangeGate("Cells", None, ("A",), (0,), (1,)))
    with pytest.raises(StrategyError, match="does not exist"):
        st.add_gate(RangeGate("X", "nope", ("A",), (0,), (1,)))


def test_replace_gate_changes_result(sample):
    import dataclasses

    st = _tree()
    before = st.evaluate(sample).count("Cells")
    st.replace_gate(dataclasses.replace(st.gates["Cells"], mins=(50.0,)))
    after = st.evaluate(sample)
    assert after.count("Cells") == int((sample.events[:, 0] >= 50).sum()) < before
    with pytest.raises(StrategyError):
        st.replace_gate(RangeGate("unknown", None, ("A",), (0,), (1,)))


def test_to_dict_json_round_trip_is_equal_and_evaluates_identically(sample):
    st = _tree()
    st.add_compensation(Compensation("M", ("A", "B"), ("F1", "F2"), np.array([[1.0, 0.1], [0.05, 1.0]])))
    st.add_gate(RangeGate("F2pos", "Cells", (Dimension("F2", "M", "lin"),), (0.3,), (None,)))
    d = json.loads(json.dumps(st.to_dict()))
    back = GatingStrategy.from_dict(d)
    assert back == st
    a, b = st.evaluate(sample), back.evaluate(sample)
    assert a.membership.keys() == b.membership.keys()
    for k in a.membership:
        np.testing.assert_array_equal(a.membership[k], b.membership[k])


def test_unknown_channel_and_progress_cancel(sample):
    st = GatingStrategy([RangeGate("x", None, ("Nope",), (0,), (1,))])
    with pytest.raises(InputError, match="channel 'Nope' not found"):
        st.evaluate(sample)
    calls = []
    with pytest.raises(Cancelled):
        _tree().evaluate(sample, progress=lambda d, t, m: calls.append((d, t)) or False)
    assert calls == [(1, 8)]


def test_evaluate_subset_of_populations(sample):
    res = _tree().evaluate(sample, populations=["Live"])
    assert list(res.membership) == ["Cells", "Live"]


def _every_gate_on_all_events(st: GatingStrategy, sample) -> dict[str, np.ndarray]:
    """Reference: each gate tested on all events with fresh columns, parents intersected after."""
    out: dict[str, np.ndarray] = {}

    def pop(pid: str) -> np.ndarray:
        if pid not in out:
            g = st.gate_of(pid)
            if isinstance(g, BooleanGate):
                m = g.combine({r: pop(r) for r, _ in g.refs})
            else:
                res = g.contains(st.gate_coordinates(sample, pid))
                m = res[pid] if isinstance(g, QuadrantGate) else res
            out[pid] = m if g.parent_id is None else m & pop(g.parent_id)
        return out[pid]

    for p in st.population_ids():
        pop(p)
    return out


def _deep_tree() -> GatingStrategy:
    """Transformed dimensions reused at several depths, a polygon under a quadrant, an empty branch."""
    lin = Dimension("A", None, "lin")
    gates = [
        PolygonGate("P", None, (lin, Dimension("C", None, "lin")),
                    ((0.05, 0.05), (0.95, 0.1), (0.9, 0.95), (0.5, 0.6), (0.1, 0.9))),
        RectangleGate("R", "P", (lin, Dimension("B", "FCS", "lin")), (0.2, 0.1), (None, 0.9)),
        QuadrantGate("Q", "R", (lin, Dimension("C", None, "lin")),
                     (Divider("dA", (0.5,)), Divider("dC", (0.5,))),
                     (Quadrant("hi", (("dA", 0.7), ("dC", 0.7))), Quadrant("lo", (("dA", 0.2), ("dC", 0.2))))),
        PolygonGate("T", "hi", (Dimension("C", None, "lin"), lin), ((0.5, 0.5), (1.0, 0.5), (1.0, 1.0))),
        RangeGate("Tb", "T", (Dimension("B", "FCS", "lin"),), (0.3,), (None,)),
        RangeGate("Empty", "lo", (lin,), (5.0,), (None,)),
        RangeGate("UnderEmpty", "Empty", (Dimension("C", None, "lin"),), (0.0,), (None,)),
        BooleanGate("NotT", "hi", (), "not", (("T", False),)),
        RangeGate("UnderBool", "NotT", (lin,), (0.6,), (None,)),
    ]
    return GatingStrategy(gates, transforms=[LinearTransform("lin", t=100, a=0)])


def test_parent_restricted_evaluation_equals_every_gate_on_all_events(sample):
    st = _deep_tree()
    res = st.evaluate(sample)
    ref = _every_gate_on_all_events(st, sample)
    assert set(res.membership) == set(ref)
    for pid, m in ref.items():
        np.testing.assert_array_equal(res.membership[pid], m, err_msg=pid)
    assert res.count("Empty") == 0 and res.count("UnderEmpty") == 0 and res.count("Tb") > 0


def test_parent_restricted_evaluation_equals_reference_on_the_blood_template():
    from gating.simulate import simulate_whole_blood, whole_blood_template

    st = whole_blood_template()
    blood, _ = simulate_whole_blood(20_000, seed=3)
    res = st.evaluate(blood)
    for pid, m in _every_gate_on_all_events(st, blood).items():
        np.testing.assert_array_equal(res.membership[pid], m, err_msg=pid)
