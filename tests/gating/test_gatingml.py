"""ISAC Gating-ML 2.0 compliance set 1: every expected-result file, event for event."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gating.gatingml import read_gatingml
from gating.sample import read_fcs

SET1 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gatingml"
RESULT_IDS = sorted(p.stem[len("Results_"):] for p in (SET1 / "ExpectedResults" / "set_1").glob("Results_*.txt"))


@pytest.fixture(scope="module")
def isac(shared_dir):
    base = shared_dir / "data" / "gatingml"
    strategy = read_gatingml(base / "Gating-MLFiles" / "gates1.xml")
    sample = read_fcs(base / "FCSFiles" / "data1.fcs")
    return base, strategy, strategy.evaluate(sample)


def test_all_sixty_result_files_are_collected():
    assert len(RESULT_IDS) == 60


@pytest.mark.parametrize("gate_id", RESULT_IDS)
def test_isac_set1_gate_matches_expected_events(isac, gate_id):
    base, _, result = isac
    truth = np.loadtxt(base / "ExpectedResults" / "set_1" / f"Results_{gate_id}.txt", dtype=np.int64).astype(bool)
    got = result.membership[gate_id]
    assert got.shape == truth.shape == (13367,)
    mismatched = np.flatnonzero(got != truth)
    assert mismatched.size == 0, f"{gate_id}: {mismatched.size} events differ (first rows {mismatched[:5]})"


def test_isac_strategy_structure(isac):
    _, strategy, result = isac
    assert strategy.path("ScalePar1") == "ScaleRect1/ScalePar1"
    assert strategy.parent_of("FL2P-FL4P") is None
    assert strategy.compensations["MySpill"].fluorochromes == ("FITC", "PE", "PerCP")
    # ratio dimensions reference the fratio transform by id
    dim = strategy.gates["RatRange1"].dimensions[0]
    assert dim.ratio and dim.channel == "FL2Rat1"
    # a child population is a subset of its parent, and counts agree with masks
    child, parent = result.membership["ScalePar1"], result.membership["ScaleRect1"]
    assert not np.any(child & ~parent)
    counts = result.counts().set_index("population")
    row = counts.loc["ScaleRect1/ScalePar1"]
    assert row["count"] == child.sum() and row["parent_count"] == parent.sum()
    assert row["pct_total"] == pytest.approx(100 * child.sum() / 13367)


def test_read_gatingml_rejects_non_gatingml(tmp_path):
    from gating.errors import InputError

    bad = tmp_path / "x.xml"
    bad.write_text("<root/>")
    with pytest.raises(InputError, match="x.xml"):
        read_gatingml(bad)
