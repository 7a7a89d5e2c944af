"""FlowJo 8.5.3 / 9.2 / 9.3.1 / 10.6.2 XML workspaces against the counts FlowJo stored in them.

Every row of ``flowjo-labkey/expected.csv`` with an empty ``note`` (102) and the 18 counted
A2004 populations must lie within max(2 events, 0.5 %) of FlowJo's count with FlowJo-compatible
counting (events binned on FlowJo's display channels).
"""
from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np
import pytest

from gating.errors import InputError
from gating.flowjo import list_wsp_samples, read_wsp, wsp_stored_counts
from gating.flowjo9 import _parse_spec
from gating.gates import BooleanGate, EllipsoidGate, PolygonGate, RangeGate
from gating.sample import read_fcs
from gating.transforms import FlowJoDisplayTransform

A2004_SAMPLE = "a2004_O1T2pb05i_A2_A02.fcs"


def _tol(expected: int) -> float:
    return max(2.0, 0.005 * expected)


def _rows(shared_dir):
    base = shared_dir / "data/flowjo-labkey"
    with open(base / "expected.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if not r["note"]]
    by = defaultdict(list)
    for r in rows:
        by[(r["workspace"], r["fcs_file"], r["sample_id"])].append(r)
    return base, by


def _labkey_counts(shared_dir, counting):
    base, by = _rows(shared_dir)
    out = []
    for (ws, fcs, sid), rows in by.items():
        sample = read_fcs(base / fcs)
        st = read_wsp(base / ws, sid, counting=counting)
        res = st.evaluate(sample)
        assert res.engine == counting
        df = res.counts()
        got = dict(zip(df["population"], df["count"]))
        out += [(ws, r["sample"], r["population_path"], int(r["expected_count"]), got.get(r["population_path"]))
                for r in rows]
    return out


@pytest.fixture(scope="module")
def labkey_flowjo(shared_dir):
    return _labkey_counts(shared_dir, "flowjo")


@pytest.fixture(scope="module")
def labkey_exact(shared_dir):
    return _labkey_counts(shared_dir, "exact")


def test_every_usable_labkey_row_matches_flowjo_with_flowjo_counting(labkey_flowjo):
    assert len(labkey_flowjo) == 102
    per_ws = defaultdict(lambda: [0, 0])
    misses = []
    for ws, sample, path, expected, got in labkey_flowjo:
        ok = got is not None and abs(got - expected) <= _tol(expected)
        per_ws[ws][0] += ok
        per_ws[ws][1] += 1
        if not ok:
            misses.append((ws, sample, path, expected, got))
    assert misses == []
    assert dict(per_ws) == {"advanced/advanced-v8.5.3.xml": [94, 94],
                            "flowjoquery/Workspaces/duplicate-samples.xml": [8, 8]}


def test_flowjo_counting_is_closer_to_flowjo_than_exact_counting(labkey_flowjo, labkey_exact):
    err_fj = sum(abs(g - e) for *_, e, g in labkey_flowjo)
    err_exact = sum(abs(g - e) for *_, e, g in labkey_exact)
    exact_hits = sum(abs(g - e) <= _tol(e) for *_, e, g in labkey_exact)
    assert err_fj < err_exact / 3
    assert 70 <= exact_hits < 102  # the exact engine misses rows that binning gets right
    # the README's spot checks: E08 Lymphocytes/CD8 T/Naive and D02 "not A and not B"
    got = {(s[7:10], p): g for _, s, p, _, g in labkey_flowjo}
    assert got[("E08", "Lymphocytes/CD8 T/Naive")] == pytest.approx(395, abs=2)
    assert got[("D02", "not A and not B")] == pytest.approx(2993, abs=_tol(2993))


@pytest.fixture(scope="module")
def a2004(shared_dir):
    base = shared_dir / "data/fcs/flowworkspacedata"
    wsp = base / "A2004Analysis.xml"
    st = read_wsp(wsp, A2004_SAMPLE)
    got = dict(zip(*(lambda d: (d["population"], d["count"]))(st.evaluate(read_fcs(base / A2004_SAMPLE)).counts())))
    return st, got, wsp_stored_counts(wsp, A2004_SAMPLE)


MAGNETIC = {"Live/Monocytes", "Live/Monocytes/IL-6+", "Live/Monocytes/IL-12+", "Live/Monocytes/TNFa+"}


def test_a2004_populations_match_flowjo(a2004):
    st, got, stored = a2004
    counted = {p: c for p, c in stored.items() if c >= 0}
    assert len(counted) == 18 and stored["Live/CD14-MHC2-"] == -1 and "Live/CD14-MHC2-" in got
    assert st.counting == "flowjo"
    for path, expected in counted.items():
        if path in MAGNETIC:
            continue
        assert abs(got[path] - expected) <= _tol(expected), (path, got[path], expected)
    assert got["Live/APC/pDC"] == pytest.approx(81, abs=2)  # was 74 with the biex approximation


@pytest.mark.xfail(strict=True, reason="FlowJo moved the 'magnetic' Monocytes gate for this sample and did not "
                                       "store where: the stored polygon holds 1,811 binned events, FlowJo 1,846")
@pytest.mark.parametrize("path", sorted(MAGNETIC))
def test_a2004_magnetic_monocytes(a2004, path):
    st, got, stored = a2004
    assert abs(got[path] - stored[path]) <= _tol(stored[path])


def test_flowjo8_gate_types_and_scales(shared_dir):
    st = read_wsp(shared_dir / "data/flowjo-labkey/advanced/advanced-v8.5.3.xml", "931115-D02- Sample 03.fcs")
    kinds = {type(g) for g in st.gates.values()}
    assert {PolygonGate, RangeGate, EllipsoidGate, BooleanGate} <= kinds
    t = st.transforms["OrthSc [FlowJo display]"]
    assert isinstance(t, FlowJoDisplayTransform) and (t.scale, t.range, t.low, t.decades) == ("log", 512, 0.2, 3.84)
    # $PnE 3.84,0.2 value of channel 256 -> display channel 256 -> its bin centre
    assert t.apply([0.2 * 10 ** (3.84 * 256 / 512)])[0] == pytest.approx(256.5)
    fsc = st.transforms["ForSc [FlowJo display]"]
    assert (fsc.scale, fsc.high) == ("linear", pytest.approx(204.8))  # $PnR / $PnG
    # a Range gate's y (histogram height) is ignored: only x bounds, on display channels
    ranges = [g for g in st.gates.values() if isinstance(g, RangeGate)]
    assert ranges and all(0 <= g.mins[0] < g.maxs[0] for g in ranges)
    # MacRoman byte 0xD1 parsed as declared (ISO-8859-1) and kept exactly
    assert any(st.name_of(p) == "Q1: CD8\u00d1, CD4+" for p in st.population_ids())


def test_boolean_specifications():
    assert _parse_spec("G1 & ! G0") == ("and", [("ref", 1), ("not", ("ref", 0))])
    assert _parse_spec("! G0") == ("not", ("ref", 0))
    assert _parse_spec("(G0 | G1) & ! (G2 & G0)") == (
        "and", [("or", [("ref", 0), ("ref", 1)]), ("not", ("and", [("ref", 2), ("ref", 0)]))])
    with pytest.raises(ValueError, match="unbalanced|unexpected"):
        _parse_spec("(G0 | G1")


def test_nested_boolean_builds_helper_terms_and_evaluates(shared_dir):
    from gating.flowjo9 import Fj9Builder
    from gating.gates import Dimension
    from gating.gates import RangeGate as RG

    b = Fj9Builder({}, None, "x", {})
    b.gates = [RG("A", None, (Dimension("x"),), (0.0,), (5.0,)), RG("B", None, (Dimension("x"),), (3.0,), (8.0,)),
               RG("C", None, (Dimension("x"),), (4.0,), (4.5,))]
    b.path_to_id = {"A": "A", "B": "B", "C": "C"}
    b.pending = [("X", None, "(G0 | G1) & ! G2", ["A", "/B", "C"], "", "X")]
    b.gates.append(BooleanGate("X", None, (), "not", (("", False),)))
    b.resolve_booleans()
    from gating.sample import Sample
    from gating.strategy import GatingStrategy

    st = GatingStrategy(b.gates)
    x = np.array([[1.0], [4.2], [6.0], [9.0]])
    m = st.evaluate(Sample.from_array(x, ["x"])).membership["X"]
    np.testing.assert_array_equal(m, [True, False, True, False])


def test_duplicate_sample_names_are_told_apart_by_event_count(shared_dir):
    ws = shared_dir / "data/flowjo-labkey/flowjoquery/Workspaces/duplicate-samples.xml"
    assert list_wsp_samples(ws) == ["118795.fcs", "118795.fcs"]
    small = wsp_stored_counts(ws, "118795.fcs", event_count=1000)
    big = wsp_stored_counts(ws, "118795.fcs", event_count=10000)
    assert (small["S"], big["S"]) == (958, 9580)
    st = read_wsp(ws, "118795.fcs", event_count=1000)
    comp = st.compensations["miniComp"]  # compensationID="2": the 2nd matrix, not the identity SPILL
    assert comp.matrix.shape == (8, 8) and not np.allclose(comp.matrix, np.eye(8))
    lv = st.gates["Lv"]
    assert lv.dimensions[0].channel == "Pacific Blue-A" and lv.dimensions[0].compensation_ref == "miniComp"
    with pytest.raises(InputError, match="not in workspace"):
        read_wsp(ws, "other.fcs")


def test_flowjo10_notnode_workspace_keeps_names(shared_dir):
    ws = shared_dir / "data/flowjo-labkey/flowjoquery/Workspaces/boolean-sub-populations2.xml"
    st = read_wsp(ws)
    neg = st.gates["trucount beads-"]
    assert isinstance(neg, BooleanGate) and neg.op == "not" and neg.refs == (("trucount beads+", False),)
    assert st.path("Singlets") == "trucount beads-/CD45+, less debris/Singlets"
    assert wsp_stored_counts(ws)["trucount beads-"] == 49984


def test_flowjo_display_scales_refuse_gatingml_export_with_a_clear_error(shared_dir, tmp_path):
    from gating.gatingml import write_gatingml

    st = read_wsp(shared_dir / "data/flowjo-labkey/advanced/advanced-v8.5.3.xml", "931115-D02- Sample 03.fcs")
    with pytest.raises(ValueError, match="FlowJo display channels"):
        write_gatingml(st, tmp_path / "x.xml")


def test_sample_gates_win_over_group_templates(shared_dir):
    """Groups hold several different 'Lymphocytes' polygons; each sample's own polygon is the one used."""
    import xml.etree.ElementTree as ET

    path = shared_dir / "data/flowjo-labkey/advanced/advanced-v8.5.3.xml"
    root = ET.parse(path).getroot()

    def verts(pop):
        shape = pop.find("PolygonGate").find("Polygon")
        return [(float(v.get("x")), float(v.get("y"))) for v in shape.iter("Vertex")]

    group_versions = {tuple(verts(p)) for p in root.find("Groups").iter("Population") if p.get("name") == "Lymphocytes"}
    assert len(group_versions) >= 2
    for fcs in ("931115-C07- Sample 02.fcs", "931115-E02- Sample 04.fcs"):
        sample_el = next(s for s in root.find("SampleList") if s.find("SampleNode").get("name") == fcs)
        own = verts(next(p for p in sample_el.iter("Population") if p.get("name") == "Lymphocytes"))
        st = read_wsp(path, fcs, counting="exact")
        g = st.gates["Lymphocytes"]
        tx, ty = (st.transforms[d.transform_ref] for d in g.dimensions)
        back = np.column_stack([tx.inverse(np.array(g.vertices)[:, 0]), ty.inverse(np.array(g.vertices)[:, 1])])
        np.testing.assert_allclose(back, own, rtol=1e-9, atol=1e-9)
    assert any(tuple(own) != v for v in group_versions)


def test_renaming_an_imported_duplicate_uses_the_new_name(shared_dir):
    st = read_wsp(shared_dir / "data/fcs/flowworkspacedata/A2004Analysis.xml", A2004_SAMPLE)
    st.rename_gate("Live/APC/pDC/IFNa+", "pDC IFNa+")
    assert st.path("pDC IFNa+") == "Live/APC/pDC/pDC IFNa+" and st.gates["pDC IFNa+"].name is None
