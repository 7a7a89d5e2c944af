"""Simulated whole-blood panel: deterministic, controllable proportions, template recovers truth."""
from __future__ import annotations

import numpy as np
import pytest

from gating.sample import read_fcs
from gating.simulate import CHANNELS, POPULATIONS, simulate_whole_blood, to_display, whole_blood_template, write_fcs


@pytest.fixture(scope="module")
def blood():
    return simulate_whole_blood(30_000, seed=3)


def test_deterministic_given_seed():
    a, ta = simulate_whole_blood(2000, seed=7)
    b, tb = simulate_whole_blood(2000, seed=7)
    c, _ = simulate_whole_blood(2000, seed=8)
    np.testing.assert_array_equal(a.events, b.events)
    assert all(np.array_equal(ta[k], tb[k]) for k in ta)
    assert not np.array_equal(a.events, c.events)


def test_channels_and_markers(blood):
    s, _ = blood
    assert s.events.shape == (30_000, 10)
    assert [s.markers[i] or s.channels[i] for i in range(10)] == CHANNELS
    assert s.channel_index("CD66b") == 4 and s.label(4) == "FITC-A (CD66b)"


def test_requested_proportions_are_honoured():
    want = {"Neutrophils": 0.3, "Monocytes": 0.1, "T_cells": 0.4, "B_cells": 0.1, "NK_cells": 0.1,
            "debris": 0.1, "doublets": 0.05, "dead": 0.05}
    s, t = simulate_whole_blood(40_000, seed=11, proportions=want)
    n = s.event_count
    for k in ("debris", "doublets", "dead"):
        assert t[k].mean() == pytest.approx(want[k], abs=4 * np.sqrt(want[k] / n))
    live = t["Live"].sum()
    assert live / n == pytest.approx(0.8, abs=0.01)
    for k in POPULATIONS:
        assert t[k].sum() / live == pytest.approx(want[k], abs=0.012)
    with pytest.raises(ValueError, match="unknown populations"):
        simulate_whole_blood(10, proportions={"Eosinophils": 0.1})


def test_shapes_are_tilted_and_overlapping(blood):
    s, t = blood
    u = np.column_stack([to_display(s.events[:, j], j) for j in range(10)])
    neut = u[t["Neutrophils"]]
    assert np.corrcoef(neut[:, 0], neut[:, 2])[0, 1] > 0.35  # FSC-A vs SSC-A tilted
    assert np.corrcoef(neut[:, 3], neut[:, 4])[0, 1] > 0.35  # CD45 vs CD66b tilted
    dbl = u[t["doublets"]]
    sing = u[t["Singlets"]]
    assert np.median(dbl[:, 1] / dbl[:, 0]) < 0.65 < np.median(sing[:, 1] / sing[:, 0])


def test_template_recovers_truth(blood):
    s, t = blood
    res = whole_blood_template().evaluate(s)
    for pid, m in res.membership.items():
        truth = t[pid]
        tp = np.count_nonzero(m & truth)
        f1 = 2 * tp / (m.sum() + truth.sum())
        assert f1 > 0.98, (pid, f1)
    counts = res.counts()
    assert "Singlets/Leukocytes/Live/Lymphocytes/T_cells" in set(counts["population"])


def test_shift_moves_population():
    base, tb = simulate_whole_blood(5000, seed=2)
    moved, tm = simulate_whole_blood(5000, seed=2, shifts={"Neutrophils": {"CD66b": -0.1}})
    j = base.channel_index("CD66b")
    d = to_display(moved.events[tm["Neutrophils"], j], j).mean() - to_display(base.events[tb["Neutrophils"], j], j).mean()
    assert d == pytest.approx(-0.1, abs=0.01)


def test_write_fcs_roundtrip(tmp_path, blood):
    s, _ = blood
    p = write_fcs(s, tmp_path / "sub" / "tube1.fcs")
    r = read_fcs(p)
    assert r.name == "tube1" and r.channels == s.channels and r.markers == s.markers
    np.testing.assert_allclose(r.events, s.events, rtol=1e-6, atol=1e-3)
    assert not list(tmp_path.glob("sub/*.tmp"))
