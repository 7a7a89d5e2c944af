"""DAFi keeps rare populations on the real 23-parameter a2004 file with its FlowJo 9 gates."""
from __future__ import annotations

import pandas as pd
import pytest

from gating.dafi import DafiRefiner
from gating.flowjo import read_wsp, wsp_stored_counts
from gating.sample import read_fcs
from study.gating_cli import main

SAMPLE = "a2004_O1T2pb05i_A2_A02.fcs"


@pytest.fixture(scope="module")
def a2004(shared_dir):
    base = shared_dir / "data/fcs/flowworkspacedata"
    return base, read_fcs(base / SAMPLE), read_wsp(base / "A2004Analysis.xml", SAMPLE)


def test_gate_dafi_keeps_every_population_of_50_or_more_events(a2004, tmp_path, capsys):
    base, _, _ = a2004
    out = tmp_path / "out"
    rc = main(["--template", str(base / "A2004Analysis.xml"), "--wsp-sample", SAMPLE, str(base / SAMPLE),
               "--out", str(out), "--dafi", "--processes", "1"])
    assert rc == 0
    df = pd.read_csv(out / "counts.csv").set_index("population")
    assert {"dafi", "plain", "dafi_ratio", "engine"} <= set(df.columns) and set(df["engine"]) == {"dafi"}
    assert (df["count"] == df["dafi"]).all()
    big = df[df["plain"] >= 50]
    assert len(big) == 8 and {"Live/APC/pDC", "Live/APC/B Cell", "Live/APC/mDC", "Live/Monocytes"} <= set(big.index)
    assert (big["dafi"] >= 0.5 * big["plain"]).all(), big[["dafi", "plain"]]
    # the plain column is the FlowJo-compatible count (pDC: FlowJo stored 81)
    stored = wsp_stored_counts(base / "A2004Analysis.xml", SAMPLE)
    assert abs(df.loc["Live/APC/pDC", "plain"] - stored["Live/APC/pDC"]) <= 2
    # a warning names exactly the populations (of >= 10 plain events) DAFi shrank below half
    err = capsys.readouterr().err
    shrunk = df[(df["plain"] >= 10) & (df["dafi"] < 0.5 * df["plain"])].index
    warned = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warned) == len(shrunk) and all(any(f" {p} below half" in w for w in warned) for p in shrunk)


def test_a_shrunk_population_is_named_in_a_warning(a2004):
    _, sample, st = a2004
    # classic DAFi (one whole-sample clustering on all 22 channels) halves mDC: the warning names it
    d = DafiRefiner(per_parent=False, random_state=0).fit(sample, st)
    assert "mDC" in d.shrunk_
    assert any("Live/APC/mDC" in w and "below half" in w for w in d.warnings_)
    assert d.audit_["shrunk_below_half"] == [st.path(p) for p in d.shrunk_]
    cmp = d.comparison().set_index("population")
    assert cmp.loc["Live/APC/mDC", "dafi"] < 0.5 * cmp.loc["Live/APC/mDC", "plain"]
