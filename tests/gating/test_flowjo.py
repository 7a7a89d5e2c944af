"""FlowJo 10 workspace import reproduces FlowJo's counts on FlowKit's example workspaces."""
from __future__ import annotations

import numpy as np
import pytest

import gating.flowjo as flowjo
from gating.errors import InputError
from gating.flowjo import list_wsp_samples, read_wsp, wsp_stored_counts
from gating.gates import EllipsoidGate, PolygonGate, RectangleGate
from gating.sample import read_fcs
from gating.transforms import AsinhTransform, FlowJoBiexTransform


@pytest.fixture(scope="module")
def fk(shared_dir):
    return shared_dir / "data/fcs/flowkit"


@pytest.fixture(scope="module")
def diamond(fk):
    return read_fcs(fk / "test_data_diamond_01.fcs")


@pytest.fixture(scope="module")
def line(fk):
    return read_fcs(fk / "data_set_simple_line_100.fcs")


def _counts(strategy, sample):
    df = strategy.evaluate(sample).counts()
    return dict(zip(df["population"], df["count"]))


def test_quadrant_workspace(fk, diamond):
    st = read_wsp(fk / "simple_diamond_example_quad_gate.wsp")
    expected = {"Q1: channel_A- , channel_B+": 49671, "Q2: channel_A+ , channel_B+": 50596,
                "Q3: channel_A+ , channel_B-": 50330, "Q4: channel_A- , channel_B-": 49403}
    assert _counts(st, diamond) == expected
    assert wsp_stored_counts(fk / "simple_diamond_example_quad_gate.wsp") == expected
    assert sum(expected.values()) == diamond.event_count == 200_000


def test_biex_rectangle(fk, diamond):
    st = read_wsp(fk / "test_data_diamond_biex_rect.wsp")
    t = st.transforms["channel_A"]
    assert isinstance(t, FlowJoBiexTransform) and t.width == -10 and t.positive == pytest.approx(4.418539922)
    g = st.gates["upper_right"]
    assert isinstance(g, RectangleGate) and g.dimensions[0].transform_ref == "channel_A"
    # gate bounds were moved onto the biex channel scale (0..4096)
    assert 0 < g.mins[0] < g.maxs[0] < 4096
    assert _counts(st, diamond) == {"upper_right": 50605}


@pytest.mark.parametrize("wsp,count,m_b", [("test_data_diamond_asinh_rect.wsp", 50559, 1.0),
                                           ("test_data_diamond_asinh_rect2.wsp", 50699, 1.3)])
def test_asinh_rectangles(fk, diamond, wsp, count, m_b):
    st = read_wsp(fk / wsp)
    tb = st.transforms["channel_B"]
    assert isinstance(tb, AsinhTransform) and tb.t == 262144 and tb.m == m_b
    assert _counts(st, diamond) == {"upper_right": count}


def test_ellipse_51_events(fk, line):
    st = read_wsp(fk / "single_ellipse_51_events.wsp")
    assert isinstance(st.gates["ellipse1"], EllipsoidGate)
    assert _counts(st, line) == {"ellipse1": 51}


def test_poly50_exact_count_differs_from_flowjo_binned_count(fk, line):
    path = fk / "simple_poly_and_rect_v2_poly50.wsp"
    st = read_wsp(path)
    assert isinstance(st.gates["poly1"], PolygonGate)
    # exact per-event polygon test: 50 of the 100 events on the line
    assert _counts(st, line) == {"poly1": 50, "rect1": 0}
    # FlowJo evaluated the polygon on binned data and stored 0
    assert wsp_stored_counts(path) == {"poly1": 0, "rect1": 0}
    assert "binned" in flowjo.__doc__


def test_sample_listing_and_selection(fk):
    path = fk / "single_ellipse_51_events.wsp"
    assert list_wsp_samples(path) == ["data_set_simple_line_100.fcs"]
    assert read_wsp(path, sample_name="data_set_simple_line_100") == read_wsp(path)
    with pytest.raises(InputError, match="not in workspace"):
        read_wsp(path, sample_name="other.fcs")


def test_not_a_workspace(tmp_path):
    p = tmp_path / "x.wsp"
    p.write_text("<Gating/>")
    with pytest.raises(InputError, match="x.wsp"):
        read_wsp(p)


WSP_COMP = """<?xml version="1.0" encoding="UTF-8"?>
<Workspace version="20.0" xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
 xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
 xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
 <SampleList><Sample>
  <DataSet uri="file:s.fcs" sampleID="1"/>
  <transforms:spilloverMatrix prefix="Comp-" suffix="" name="Acquisition-defined" id="x" spectral="0">
   <data-type:parameters><data-type:parameter data-type:name="FL1"/><data-type:parameter data-type:name="FL2"/></data-type:parameters>
   <transforms:spillover data-type:parameter="FL1">
    <transforms:coefficient data-type:parameter="FL1" transforms:value="1"/>
    <transforms:coefficient data-type:parameter="FL2" transforms:value="0.5"/></transforms:spillover>
   <transforms:spillover data-type:parameter="FL2">
    <transforms:coefficient data-type:parameter="FL1" transforms:value="0"/>
    <transforms:coefficient data-type:parameter="FL2" transforms:value="1"/></transforms:spillover>
  </transforms:spilloverMatrix>
  <Transformations/>
  <SampleNode name="s.fcs" count="4" sampleID="1"><Subpopulations>
   <Population name="FL2 high" count="2"><Gate gating:id="g1">
    <gating:RectangleGate gating:id="g1"><gating:dimension gating:min="40">
     <data-type:fcs-dimension data-type:name="Comp-FL2"/></gating:dimension></gating:RectangleGate></Gate>
    <Subpopulations>
     <Population name="not FL1" count="1"><Gate gating:id="g2">
      <gating:RectangleGate gating:id="g2" eventsInside="0"><gating:dimension gating:min="50">
       <data-type:fcs-dimension data-type:name="FL1"/></gating:dimension></gating:RectangleGate></Gate></Population>
    </Subpopulations></Population>
   <OrNode name="either" count="3"><Dependents><Dependent name="FL2 high"/><Dependent name="FL2 high/not FL1"/></Dependents></OrNode>
  </Subpopulations></SampleNode>
 </Sample></SampleList></Workspace>
"""


def test_compensation_complement_and_boolean_nodes(tmp_path):
    from gating.sample import Sample

    p = tmp_path / "comp.wsp"
    p.write_text(WSP_COMP)
    st = read_wsp(p)
    comp = st.compensations["Acquisition-defined"]
    np.testing.assert_array_equal(comp.matrix, [[1.0, 0.5], [0.0, 1.0]])
    dim = st.gates["FL2 high"].dimensions[0]
    assert (dim.channel, dim.compensation_ref) == ("FL2", "Acquisition-defined")
    # raw FL2 = FL2_true + 0.5 * FL1  ->  compensated FL2 = FL2 - 0.5 * FL1
    ev = np.array([[100.0, 60.0], [10.0, 60.0], [100.0, 40.0], [0.0, 45.0], [60.0, 100.0]])
    s = Sample.from_array(ev, ["FL1", "FL2"], name="s")
    res = st.evaluate(s)
    np.testing.assert_array_equal(res.membership["FL2 high"], [False, True, False, True, True])
    np.testing.assert_array_equal(res.membership["not FL1"], [False, True, False, True, False])
    np.testing.assert_array_equal(res.membership["either"], [False, True, False, True, True])
    assert st.path("not FL1") == "FL2 high/not FL1"


def test_duplicate_names_keep_the_name_and_get_the_path_as_id_and_json_round_trip(shared_dir, fk):
    import json

    from gating.strategy import GatingStrategy

    st = read_wsp(shared_dir / "data/fcs/flowworkspacedata/A2004Analysis.xml", sample_name="a2004_O1T2pb05i_A2_A02")
    # "IFNa+" occurs under mDC, pDC and Monocytes: the name is kept, the id is the path
    assert st.gates["Live/APC/pDC/IFNa+"].name == "IFNa+"
    assert st.path("Live/APC/pDC/IFNa+") == "Live/APC/pDC/IFNa+"
    assert st.path("Live/Monocytes/TNFa+") == "Live/Monocytes/TNFa+"
    assert st.gates["pDC"].name is None and st.path("pDC") == "Live/APC/pDC"  # unique names stay ids
    assert sorted(p.rsplit("/", 1)[-1] for p in map(st.path, st.population_ids()) if p.endswith("IFNa+")) == ["IFNa+"] * 3
    for s in (st, read_wsp(fk / "single_ellipse_51_events.wsp"), read_wsp(fk / "test_data_diamond_biex_rect.wsp")):
        assert GatingStrategy.from_dict(json.loads(json.dumps(s.to_dict()))) == s


WSP_97 = """<?xml version="1.0" encoding="UTF-8"?>
<Workspace version="1.61" flowJoVersion="9.7.6" xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
 xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
 <SampleList><Sample sampleID="7">
  <Keywords><Keyword name="$FIL" value="s.fcs"/><Keyword name="$P1R" value="10000"/><Keyword name="$P2R" value="1024"/></Keywords>
  <Parameter name="FL1" range="4096" log="1" lowValue="1" highValue="10000" decades="4" gain="1"/>
  <Parameter name="FSC" range="1024" log="0" lowValue="0" highValue="1024" decades="0" gain="1"/>
  <SampleNode name="s.fcs" count="6" sampleID="7"><Subpopulations>
   <Population name="mid" count="3"><Gate gating:id="g1">
    <gating:RectangleGate gating:id="g1"><gating:dimension gating:min="10" gating:max="1000">
     <data-type:fcs-dimension data-type:name="FL1"/></gating:dimension></gating:RectangleGate></Gate></Population>
  </Subpopulations></SampleNode>
 </Sample></SampleList></Workspace>
"""


def test_flowjo97_layout_uses_flowjo9_scales(tmp_path):
    """FlowJo 9.7+: Gating-ML gates in <Subpopulations>, scales from <Parameter> (not "FlowJo 8 and older")."""
    from gating.sample import Sample
    from gating.templates import FLOWJO9, detect_template
    from gating.transforms import FlowJoDisplayTransform

    p = tmp_path / "ws97.xml"
    p.write_text(WSP_97)
    assert detect_template(p) == FLOWJO9
    ev = np.array([[5.0, 1], [9.99, 1], [10.0, 1], [500.0, 1], [999.0, 1], [1001.0, 1]])
    s = Sample.from_array(ev, ["FL1", "FSC"], name="s")
    for counting, expected in (("exact", [False, False, True, True, True, False]),
                               ("flowjo", [False, False, True, True, True, False])):
        st = read_wsp(p, counting=counting)
        g = st.gates["mid"]
        t = st.transforms[g.dimensions[0].transform_ref]
        assert isinstance(t, FlowJoDisplayTransform) and t.binned == (counting == "flowjo")
        assert g.mins[0] == pytest.approx(1024.0) and g.maxs[0] == pytest.approx(3072.0)  # 4096 * log10(v)/4
        res = st.evaluate(s)
        assert res.engine == counting
        np.testing.assert_array_equal(res.membership["mid"], expected)
