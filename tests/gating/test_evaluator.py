"""gating.evaluator: gating in blocks of events gives the whole sample's memberships, event for event."""
from __future__ import annotations

import numpy as np
import pytest

import gating.evaluator as evaluator
from gating.gatingml import read_gatingml
from gating.progress import Cancelled
from gating.sample import read_fcs


@pytest.fixture(scope="module")
def isac(shared_dir):
    base = shared_dir / "data" / "gatingml"
    return read_gatingml(base / "Gating-MLFiles" / "gates1.xml"), read_fcs(base / "FCSFiles" / "data1.fcs")


def _same(a, b) -> None:
    assert list(a.membership) == list(b.membership)
    for pid in a.membership:
        np.testing.assert_array_equal(a.membership[pid], b.membership[pid], err_msg=pid)


def test_blocks_cover_every_event_once():
    for n in (0, 1, evaluator.BLOCK, 2 * evaluator.BLOCK - 1, 2 * evaluator.BLOCK, 1_000_003):
        spans = evaluator._blocks(n)
        assert spans[0].start == 0 and spans[-1].stop == n
        assert all(a.stop == b.start for a, b in zip(spans[:-1], spans[1:]))
        assert all(s.stop - s.start < 2 * evaluator.BLOCK for s in spans)


@pytest.mark.parametrize("block", [997, 4096])
def test_isac_gates_in_blocks_equal_one_block(isac, monkeypatch, block):
    """Every ISAC set-1 gate (compensation, ratio, logicle/hyperlog, quadrants, Booleans, parents)."""
    st, sample = isac
    whole = st.evaluate(sample)
    monkeypatch.setattr(evaluator, "BLOCK", block)
    assert len(evaluator._blocks(sample.event_count)) > 1
    _same(st.evaluate(sample), whole)


def test_blood_template_in_blocks_equal_one_block(monkeypatch):
    from gating.simulate import simulate_whole_blood, whole_blood_template

    st = whole_blood_template()
    blood, _ = simulate_whole_blood(30_000, seed=5)
    whole = st.evaluate(blood)
    monkeypatch.setattr(evaluator, "BLOCK", 2_500)
    _same(st.evaluate(blood), whole)
    sub = st.evaluate(blood, populations=["T_cells"])
    assert list(sub.membership) == ["Singlets", "Leukocytes", "Live", "Lymphocytes", "T_cells"]


def test_progress_counts_every_block_and_cancels(isac, monkeypatch):
    st, sample = isac
    monkeypatch.setattr(evaluator, "BLOCK", 5_000)
    k = len(evaluator._blocks(sample.event_count))
    calls = []
    st.evaluate(sample, progress=lambda d, t, m: calls.append((d, t)))
    n = len(st.population_ids())
    assert calls == [(i, n * k) for i in range(1, n * k + 1)]
    with pytest.raises(Cancelled):
        st.evaluate(sample, progress=lambda d, t, m: d < n + 2)


@pytest.mark.parametrize("dense", [0.0, 2.0])
def test_children_on_all_events_or_on_parent_events_agree(isac, monkeypatch, dense):
    """DENSE 0: every gate on all events and-ed with its parent; 2: every child on its parent's events."""
    from gating.simulate import simulate_whole_blood, whole_blood_template

    st, sample = isac
    blood_st = whole_blood_template()
    blood, _ = simulate_whole_blood(20_000, seed=7)
    want = st.evaluate(sample), blood_st.evaluate(blood)
    monkeypatch.setattr(evaluator, "DENSE", dense)
    _same(st.evaluate(sample), want[0])
    _same(blood_st.evaluate(blood), want[1])
