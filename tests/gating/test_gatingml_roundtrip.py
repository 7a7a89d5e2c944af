"""Gating-ML 2.0 write -> read keeps every gate, transform and matrix, and the same membership."""
from __future__ import annotations

import numpy as np
import pytest

from gating.compensation import Compensation
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
)
from gating.gatingml import read_gatingml, to_gatingml_string, write_gatingml
from gating.sample import Sample, read_fcs
from gating.strategy import GatingStrategy
from gating.transforms import (
    AsinhTransform,
    FlowJoBiexTransform,
    FlowJoLogTransform,
    HyperlogTransform,
    LinearTransform,
    LogicleTransform,
    LogTransform,
    RatioTransform,
)


def _same_membership(a, b):
    assert list(a.membership) == list(b.membership)
    for k in a.membership:
        np.testing.assert_array_equal(a.membership[k], b.membership[k], err_msg=k)


def test_isac_set1_round_trip(shared_dir, tmp_path):
    base = shared_dir / "data/gatingml"
    st = read_gatingml(base / "Gating-MLFiles/gates1.xml")
    out = tmp_path / "isac_copy.xml"
    write_gatingml(st, out)
    back = read_gatingml(out)
    assert back == st
    sample = read_fcs(base / "FCSFiles/data1.fcs")
    a, b = st.evaluate(sample), back.evaluate(sample)
    assert len(a.membership) == len(st.population_ids()) == 61
    _same_membership(a, b)
    # written file is itself checked against ISAC truth for a compensated, transformed child gate
    truth = np.loadtxt(base / "ExpectedResults/set_1/Results_ScalePar1.txt", dtype=np.int64).astype(bool)
    np.testing.assert_array_equal(b.membership["ScalePar1"], truth)


def _every_type_strategy() -> GatingStrategy:
    transforms = [
        LinearTransform("lin", t=1000, a=10, bound_min=0.0), LogTransform("log", t=1000, m=3, bound_max=0.9),
        AsinhTransform("asinh", t=1000, m=3, a=0.5), LogicleTransform("logicle", t=1000, w=0.5, m=3, a=0.2),
        HyperlogTransform("hyper", t=1000, w=0.5, m=3, a=0), RatioTransform("rat", channels=("A", "B"), a=2, b=1, c=-3),
    ]
    comps = [
        Compensation("sq", ("A", "B"), ("fA", "fB"), np.array([[1.0, 0.15], [0.05, 1.0]])),
        Compensation("spec", ("A", "B", "C"), ("f1", "f2"), np.array([[1.0, 0.3, 0.1], [0.2, 1.0, 0.4]])),
        Compensation("inv", ("A", "B"), ("iA", "iB"), np.array([[1.02, -0.1], [-0.03, 1.0]]), inverted=True),
    ]
    gates = [
        RangeGate("root", None, (Dimension("A", None, "lin"),), (0.05,), (None,)),
        RectangleGate("rect", "root", (Dimension("fA", "sq", "logicle"), Dimension("f2", "spec", "asinh"),
                                       Dimension("iB", "inv", "hyper")), (0.2, None, 0.1), (0.95, 0.9, None)),
        PolygonGate("poly", "root", (Dimension("A", "FCS", "log"), Dimension("C")),
                    ((0.2, 10), (0.9, 10), (0.9, 900), (0.5, 300), (0.2, 900))),
        EllipsoidGate("ell", None, (Dimension("A"), Dimension("B"), Dimension("C")), (500, 500, 500),
                      ((40000, 1000, 0), (1000, 30000, 0), (0, 0, 50000)), 2.0),
        QuadrantGate("quad", "root", (Dimension("B", "sq", "lin"), Dimension("rat", None, None, ratio=True)),
                     (Divider("dB", (0.3, 0.6)), Divider("dR", (1.0,))),
                     (Quadrant("lo", (("dB", 0.0), ("dR", 0.0))), Quadrant("mid", (("dB", 0.45),)),
                      Quadrant("hi", (("dB", 0.9), ("dR", 5.0))))),
        RectangleGate("inmid", "mid", (Dimension("C", "FCS", "lin"), Dimension("rat", "sq", "log", ratio=True)),
                      (0.1, None), (0.8, 0.95)),
        BooleanGate("both", None, (), "and", (("poly", False), ("ell", True))),
        BooleanGate("any", "root", (), "or", (("both", False), ("hi", False), ("inmid", True))),
        BooleanGate("none", None, (), "not", (("any", False),)),
    ]
    return GatingStrategy(gates, transforms, comps)


def test_every_gate_type_round_trip(tmp_path):
    rng = np.random.default_rng(11)
    ev = rng.uniform(-50, 1000, size=(20000, 3))
    sample = Sample.from_array(ev, ["A", "B", "C"], name="syn",
                               spillover=(["A", "C"], np.array([[1.0, 0.1], [0.02, 1.0]])))
    st = _every_type_strategy()
    text = to_gatingml_string(st)
    assert 'xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"' in text
    back = read_gatingml(text)
    assert back == st
    a, b = st.evaluate(sample), back.evaluate(sample)
    _same_membership(a, b)
    counts = a.counts().set_index("population")["count"]
    # every population is non-trivial, so the comparison above means something
    assert (counts > 0).all() and (counts < 20000).all(), counts.to_dict()
    path = tmp_path / "all.xml"
    write_gatingml(st, path)
    assert read_gatingml(path) == st and not list(tmp_path.glob("*.tmp"))


def test_flowjo_only_transforms_on_export():
    st = GatingStrategy([RangeGate("g", None, (Dimension("A", None, "fl"),), (0.2,), (None,))],
                        [FlowJoLogTransform("fl", offset=10, decades=3)])
    back = read_gatingml(to_gatingml_string(st))
    x = np.array([-5.0, 5.0, 10.0, 100.0, 5000.0])
    np.testing.assert_allclose(back.transforms["fl"].apply(x), st.transforms["fl"].apply(x), atol=1e-12)
    biex = GatingStrategy([RangeGate("g", None, (Dimension("A", None, "bx"),), (0.2,), (None,))],
                          [FlowJoBiexTransform("bx")])
    with pytest.raises(ValueError, match="no Gating-ML 2.0 equivalent"):
        to_gatingml_string(biex)
