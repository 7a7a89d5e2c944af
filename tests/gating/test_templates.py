"""Templates are recognised by content (root element + namespace), not by their extension."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from gating.gatingml import write_gatingml
from gating.simulate import whole_blood_template
from gating.templates import FLOWJO9, FLOWJO10, GATINGML, STRATEGY_JSON, TemplateError, detect_template, load_template
from study.gating_cli import main

A2004 = "data/fcs/flowworkspacedata/A2004Analysis.xml"


@pytest.mark.parametrize("rel,kind", [
    (A2004, FLOWJO9),
    ("data/flowjo-labkey/advanced/advanced-v8.5.3.xml", FLOWJO9),
    ("data/flowjo-labkey/flowjoquery/Workspaces/duplicate-samples.xml", FLOWJO9),
    ("data/flowjo-labkey/flowjoquery/Workspaces/boolean-sub-populations2.xml", FLOWJO10),
    ("data/fcs/flowkit/simple_poly_and_rect.wsp", FLOWJO10),
])
def test_real_workspaces_are_recognised(shared_dir, rel, kind):
    assert detect_template(shared_dir / rel) == kind


def test_extension_does_not_matter(tmp_path, shared_dir):
    st = whole_blood_template()
    gml = tmp_path / "gates.wsp"  # Gating-ML under a FlowJo extension
    write_gatingml(st, gml)
    assert detect_template(gml) == GATINGML
    assert set(load_template(gml).gates) == set(st.gates)
    js = tmp_path / "strategy.xml"  # strategy JSON under an XML extension
    js.write_text(json.dumps(st.to_dict()))
    assert detect_template(js) == STRATEGY_JSON
    assert load_template(js) == st
    wsp = tmp_path / "fj9.json"  # a FlowJo 9 workspace whatever its name
    wsp.write_bytes((shared_dir / A2004).read_bytes())
    assert detect_template(wsp) == FLOWJO9


@pytest.mark.parametrize("content,why", [
    (b"<html><body/></html>", "root element <html>"),
    (b'<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v1.5/gating"/>', "not Gating-ML 2.0"),
    (b"\x00\x01FCS3.0 binary", "not XML or JSON"),
    (b'{"rows": [1, 2]}', "not a FastMix gating strategy"),
    (b"<gating:Gating-ML", "not well-formed XML"),
])
def test_unknown_files_get_one_sentence_listing_what_is_supported(tmp_path, content, why):
    p = tmp_path / "thing.xml"
    p.write_bytes(content)
    with pytest.raises(TemplateError) as err:
        load_template(p)
    msg = str(err.value)
    assert why in msg and msg.startswith("thing.xml: ") and "\n" not in msg
    for kind in ("Gating-ML 2.0", "FlowJo 7, 8 or 9", "FlowJo 10", "JSON"):
        assert kind in msg


def test_flowjo9_xml_workspace_gates_through_the_command_line(shared_dir, tmp_path):
    base = shared_dir / "data/fcs/flowworkspacedata"
    out = tmp_path / "out"
    rc = main(["--template", str(base / "A2004Analysis.xml"), "--wsp-sample", "a2004_O1T2pb05i_A2_A02.fcs",
               str(base / "a2004_O1T2pb05i_A2_A02.fcs"), "--out", str(out), "--processes", "1"])
    assert rc == 0
    table = pd.read_csv(out / "counts.csv")
    assert set(table["engine"]) == {"flowjo"}  # FlowJo-compatible counting is the default for FlowJo imports
    counts = table.set_index("population")["count"]
    # FlowJo stored 34,469 (Live) and 2,839 (Live/APC) for this sample
    assert abs(counts["Live"] - 34469) <= max(2, 0.005 * 34469)
    assert abs(counts["Live/APC"] - 2839) <= max(2, 0.005 * 2839)
    assert abs(counts["Live/APC/pDC/IL-12+"] - 5) <= 2  # names kept exactly, duplicates by path
    rc = main(["--template", str(base / "A2004Analysis.xml"), "--wsp-sample", "a2004_O1T2pb05i_A2_A02.fcs",
               "--counting", "exact", str(base / "a2004_O1T2pb05i_A2_A02.fcs"), "--out", str(out), "--processes", "1"])
    assert rc == 0 and set(pd.read_csv(out / "counts.csv")["engine"]) == {"exact"}


def test_command_line_reports_an_unknown_template_in_one_line(tmp_path, capsys, shared_dir):
    bad = tmp_path / "notes.xml"
    bad.write_text("<notes><n>hello</n></notes>")
    fcs = shared_dir / "data/fcs/flowkit/data_set_simple_line_100.fcs"
    rc = main(["--template", str(bad), str(fcs), "--out", str(tmp_path / "o"), "--processes", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: notes.xml: has root element <notes>") and "\n" not in err
    assert "FlowJo 10 workspaces" in err


def test_command_line_gates_a_duplicate_named_workspace_sample(shared_dir, tmp_path):
    """duplicate-samples.xml has two samples named 118795.fcs (1,000 and 10,000 events); the file's $TOT
    picks one (both carry the same gates, so the counts check the compensated gating, not the choice)."""
    from gating.flowjo import wsp_stored_counts
    from study.gating_cli import _event_count

    ws = shared_dir / "data/flowjo-labkey/flowjoquery/Workspaces/duplicate-samples.xml"
    assert _event_count(shared_dir / "data/flowjo-labkey/flowjoquery/microFCS/118795.fcs") == 10000
    assert wsp_stored_counts(ws, "118795.fcs", event_count=10000)["S"] == 9580
    base = shared_dir / "data/flowjo-labkey/flowjoquery"
    out = tmp_path / "out"
    rc = main(["--template", str(base / "Workspaces/duplicate-samples.xml"), "--wsp-sample", "118795.fcs",
               str(base / "miniFCS/118795.fcs"), "--out", str(out), "--processes", "1"])
    assert rc == 0
    counts = pd.read_csv(out / "counts.csv").set_index("population")["count"]
    # FlowJo stored S = 958 and S/Lv/L = 231 for the 1,000-event sample (sampleID 240)
    assert abs(counts["S"] - 958) <= 2 and abs(counts["S/Lv/L"] - 231) <= 2


def test_workspace_sample_matching_the_project_files(shared_dir, tmp_path):
    from gating.templates import workspace_sample_for

    wsp = shared_dir / A2004
    a2 = wsp.parent / "a2004_O1T2pb05i_A2_A02.fcs"
    assert workspace_sample_for(wsp, [a2]) == "a2004_O1T2pb05i_A2_A02.fcs"
    assert workspace_sample_for(wsp, [tmp_path / "other.fcs"]) is None
    gml = tmp_path / "g.xml"
    write_gatingml(whole_blood_template(), gml)
    assert workspace_sample_for(gml, [a2]) is None
