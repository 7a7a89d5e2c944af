"""Headless ``gate`` command: outputs, per-file failures, exit codes."""
from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gating.gates import Dimension, RectangleGate
from gating.gatingml import write_gatingml
from gating.sample import read_fcs
from gating.simulate import simulate_whole_blood, whole_blood_template, write_fcs
from study.files import file_mode
from study.gating_cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    fcs = [write_fcs(simulate_whole_blood(3000, seed=40 + i)[0], d / f"donor{i}.fcs") for i in range(2)]
    tpl = d / "template.xml"
    write_gatingml(whole_blood_template(), tpl)
    return d, fcs, tpl


def test_gate_writes_counts_proportions_and_events(study, tmp_path):
    d, fcs, tpl = study
    out = tmp_path / "out"
    rc = main(["--template", str(tpl), *map(str, fcs), "--out", str(out), "--events", "--processes", "1"])
    assert rc == 0
    counts = pd.read_csv(out / "counts.csv")
    assert list(counts.columns) == ["sample", "population", "count", "parent_count", "pct_parent", "pct_total",
                                    "engine"]
    assert set(counts["engine"]) == {"exact"}  # Gating-ML: exact event engine
    st = whole_blood_template()
    for p in fcs:
        res = st.evaluate(read_fcs(p))
        got = counts[counts["sample"] == p.stem].set_index("population")["count"]
        for pid, m in res.membership.items():
            assert got[st.path(pid)] == m.sum()
        ev = pd.read_csv(out / f"{p.stem}_events.csv")
        assert list(ev.columns) == st.population_ids() and len(ev) == 3000
        for pid, m in res.membership.items():
            np.testing.assert_array_equal(ev[pid].to_numpy(), m.astype(int))
    props = pd.read_csv(out / "proportions.csv", index_col=0)
    assert list(props.columns) == ["Neutrophils", "Monocytes", "T_cells", "B_cells", "NK_cells"]  # leaves
    np.testing.assert_allclose(props.sum(axis=1), 1.0)
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {file_mode()}  # not mkstemp's 0600
    assert sorted(p.name for p in out.iterdir()) == sorted(["counts.csv", "proportions.csv"]
                                                           + [f"{p.stem}_events.csv" for p in fcs])


def test_bad_file_and_unknown_channel_are_reported(study, tmp_path, capsys):
    d, fcs, tpl = study
    bad = tmp_path / "truncated.fcs"
    bad.write_bytes(fcs[0].read_bytes()[:2000])
    out = tmp_path / "out"
    rc = main(["--template", str(tpl), str(fcs[0]), str(bad), str(fcs[1]), "--out", str(out), "--processes", "2",
               "--populations", "Neutrophils,Lymphocytes"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "truncated.fcs" in err and "DATA segment truncated" in err and "1 file(s) failed" in err
    props = pd.read_csv(out / "proportions.csv", index_col=0)
    assert list(props.index) == ["donor0", "donor1"] and list(props.columns) == ["Neutrophils", "Lymphocytes"]
    # a template gate on a channel the files do not have
    st = whole_blood_template()
    st.add_gate(RectangleGate("CD99pos", "Live", (Dimension("CD99", None, "asinh"),), mins=(0.5,), maxs=(None,)))
    tpl2 = tmp_path / "cd99.xml"
    write_gatingml(st, tpl2)
    rc = main(["--template", str(tpl2), str(fcs[0]), "--out", str(tmp_path / "o2"), "--processes", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "donor0.fcs" in err and "'CD99' not found" in err


def test_malformed_template_and_unknown_population(study, tmp_path, capsys):
    d, fcs, tpl = study
    broken = tmp_path / "broken.xml"
    broken.write_text("<gating:Gating-ML><unclosed>", encoding="utf-8")
    rc = main(["--template", str(broken), str(fcs[0]), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "broken.xml" in err
    assert not (tmp_path / "o" / "counts.csv").exists()
    rc = main(["--template", str(tmp_path / "missing.wsp"), str(fcs[0]), "--out", str(tmp_path / "o")])
    assert rc == 2 and "missing.wsp" in capsys.readouterr().err
    rc = main(["--template", str(tpl), str(fcs[0]), "--out", str(tmp_path / "o3"), "--populations", "Basophils",
               "--processes", "1"])
    assert rc == 2 and "'Basophils' is not in the gating results" in capsys.readouterr().err


def test_dafi_option_via_main_py(study, tmp_path):
    d, fcs, tpl = study
    out = tmp_path / "dafi"
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "gate", "--template", str(tpl), str(fcs[0]),
                           "--out", str(out), "--dafi", "--seed", "7", "--k", "40"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    audit = json.loads((out / "dafi_audit.json").read_text())
    assert audit["donor0"]["seed"] == 7 and audit["donor0"]["k"] == 40
    counts = pd.read_csv(out / "counts.csv")
    live = counts.set_index("population").loc["Singlets/Leukocytes/Live", "count"]
    plain = whole_blood_template().evaluate(read_fcs(fcs[0])).count("Live")
    assert abs(live - plain) < 0.03 * plain  # DAFi agrees with plain gating on a well-drawn gate


@pytest.mark.parametrize("wsp, expected", [
    ("simple_diamond_example_quad_gate.wsp", {"Q1: channel_A- , channel_B+": 49671, "Q2: channel_A+ , channel_B+": 50596,
                                              "Q3: channel_A+ , channel_B-": 50330, "Q4: channel_A- , channel_B-": 49403}),
    ("test_data_diamond_asinh_rect.wsp", {"upper_right": 50559}),
])
def test_flowjo_template_counts_and_quadrant_events(shared_dir, tmp_path, wsp, expected):
    d = shared_dir / "data" / "fcs" / "flowkit"
    out = tmp_path / "wsp"
    rc = main(["--template", str(d / wsp), str(d / "test_data_diamond_01.fcs"), "--out", str(out), "--events",
               "--processes", "1"])
    assert rc == 0
    counts = pd.read_csv(out / "counts.csv").set_index("population")["count"]
    assert {k: counts[k] for k in expected} == expected  # FlowJo's stored counts
    ev = pd.read_csv(out / "test_data_diamond_01_events.csv")
    assert len(ev) == 200_000
    assert {c: int(ev[c].sum()) for c in expected} == expected  # quadrant regions by their own ids


GML_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<gating:Gating-ML '
            'xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" '
            'xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations" '
            'xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">\n')
FSC = '<data-type:fcs-dimension data-type:name="FSC-A"/>'
MALFORMED = {
    "non-numeric bound": (f'<gating:RectangleGate gating:id="R1"><gating:dimension gating:min="abc">{FSC}'
                          '</gating:dimension></gating:RectangleGate>', "gate 'R1': attribute 'min' = 'abc' is not a number"),
    "polygon too small": (f'<gating:PolygonGate gating:id="P1"><gating:dimension>{FSC}</gating:dimension>'
                          '</gating:PolygonGate>', "PolygonGate 'P1': malformed element (polygon gate 'P1' needs 2 dimensions"),
    "unknown gate type": ('<gating:FooGate gating:id="F1"/>', "gate 'F1': unsupported Gating-ML element 'FooGate'"),
    "ellipsoid without matrix": (f'<gating:EllipsoidGate gating:id="E1"><gating:dimension>{FSC}</gating:dimension>'
                                 '</gating:EllipsoidGate>',
                                 "gate 'E1': ellipsoid gate without mean, covarianceMatrix, distanceSquare"),
    "bad transform": ('<transforms:transformation transforms:id="T1"><transforms:flog transforms:T="x" '
                      'transforms:M="4.5"/></transforms:transformation>',
                      "transformation 'T1': attribute 'T' = 'x' is not a number"),
    "dimension without channel": ('<gating:RectangleGate gating:id="R2"><gating:dimension gating:min="1"/>'
                                  '</gating:RectangleGate>', "gate 'R2': dimension without fcs-dimension"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_template_element_names_file_and_element(case, study, tmp_path, capsys):
    d, fcs, tpl = study
    body, expected = MALFORMED[case]
    bad = tmp_path / "bad_template.xml"
    bad.write_text(GML_HEAD + body + "\n</gating:Gating-ML>\n", encoding="utf-8")
    rc = main(["--template", str(bad), str(fcs[0]), "--out", str(tmp_path / "o"), "--processes", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: bad_template.xml: ") and err.count("\n") == 1, err
    assert expected in err, err
    assert not (tmp_path / "o").exists()  # nothing written
